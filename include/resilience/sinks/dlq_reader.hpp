// SPDX-License-Identifier: MIT
#pragma once

/// \file dlq_reader.hpp
/// `dlq_reader`: reads dead-letter records back from a JSON Lines file (or from bytes in memory), line
/// by line, reporting instead of failing on what is not a record:
/// - a torn final line (bytes after the last '\n': a write cut short by a crash) -- never a record,
///   even when its bytes happen to be valid JSON, because its publisher was never told it succeeded;
/// - a malformed line, with its line number, byte offset and what is wrong (field and position);
/// - a line longer than `max_line_bytes` (skipped without being held in memory).
/// Blank lines are skipped. Reading never throws (except std::bad_alloc) and uses memory bounded by
/// `max_line_bytes` plus one record.
///
/// \code
///   auto reader = rs::dlq_reader::open("/tmp/dead-letters.jsonl");
///   if (!reader) return report(reader.error());
///   for (rs::dlq_entry e; reader->next(e);) {
///       if (e.kind == rs::dlq_entry_kind::record) use(e.record);
///       else std::cerr << e.describe() << '\n';
///   }
/// \endcode

#include "../dead_letter.hpp"
#include "../detail/json.hpp"
#include "../detail/validate.hpp"
#include "../result.hpp"
#include "file_sink.hpp"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace resilience {

/// What one entry of a dead-letter file is.
enum class dlq_entry_kind : std::uint8_t {
    record,     ///< a valid record (`dlq_entry::record`)
    malformed,  ///< a complete line that is not a valid record (`dlq_entry::error` says why)
    too_long,   ///< a line longer than `max_line_bytes`, skipped
    torn_tail,  ///< bytes after the last newline at the end of the file: a write cut short
    io_error,   ///< reading failed (`dlq_entry::io_error`); the reader stops
};

[[nodiscard]] constexpr std::string_view to_string(dlq_entry_kind k) noexcept {
    switch (k) {
        case dlq_entry_kind::record: return "record";
        case dlq_entry_kind::malformed: return "malformed";
        case dlq_entry_kind::too_long: return "too_long";
        case dlq_entry_kind::torn_tail: return "torn_tail";
        case dlq_entry_kind::io_error: return "io_error";
    }
    return "unknown";
}

/// One line of a dead-letter file.
struct dlq_entry {
    dlq_entry_kind kind = dlq_entry_kind::record;
    /// 1-based line number.
    std::uint64_t line = 0;
    /// Byte offset of the line's first byte in the file.
    std::uint64_t offset = 0;
    /// Length of the line in bytes (without its '\n').
    std::uint64_t length = 0;
    /// The record (kind `record`).
    dead_letter_record record{};
    /// Why the line is not a record (kind `malformed`; `position` is relative to the line).
    record_error error{};
    /// The read error (kind `io_error`).
    std::error_code io_error{};
    /// The first bytes of a line that is not a record (at most 200), for display.
    std::string excerpt{};

    /// One human-readable line: "line 7 (byte 1234): malformed: requestContext.requestId: expected a
    /// string (at byte 57)".
    [[nodiscard]] std::string describe() const {
        std::string s = "line ";
        detail::json::append_uint(s, line);
        s += " (byte ";
        detail::json::append_uint(s, offset);
        s += "): ";
        switch (kind) {
            case dlq_entry_kind::record: s += "record "; s += record.id; break;
            case dlq_entry_kind::malformed: s += "malformed: "; s += error.to_string(); break;
            case dlq_entry_kind::too_long: s += "line too long, skipped ("; detail::json::append_uint(s, length); s += " bytes)"; break;
            case dlq_entry_kind::torn_tail: s += "torn final line (a write cut short; never published), skipped ("; detail::json::append_uint(s, length); s += " bytes)"; break;
            case dlq_entry_kind::io_error: s += "read error: "; s += io_error.message(); break;
        }
        return s;
    }
};

/// Configuration of `dlq_reader`.
struct dlq_reader_options {
    /// Longer lines are reported as `too_long` and skipped. 64 bytes to 1 GiB; default 16 MiB, the
    /// longest line `file_sink` writes by default.
    std::size_t max_line_bytes = default_max_record_bytes;

    [[nodiscard]] std::optional<config_error> validate() const noexcept {
        if (max_line_bytes < 64 || max_line_bytes > (std::size_t{1} << 30)) {
            return config_error{"dlq_reader_options.max_line_bytes", "dlq_reader_options.max_line_bytes must be between 64 and 2^30"};
        }
        return std::nullopt;
    }
};

/// Iterates over the lines of a dead-letter file. Move-only; not thread-safe (one reader per thread).
/// Reading a file that a `file_sink` is appending to is safe: the reader sees a prefix, whose last line
/// may be reported as torn while its write is in progress.
class dlq_reader {
public:
    /// Opens `path` for reading. Fails with the open's errno (ENOENT, EACCES...).
    [[nodiscard]] static result<dlq_reader> open(const std::string& path, dlq_reader_options opts = {}) {
        if (auto e = opts.validate()) return detail::config_failure(*e);
        std::FILE* f = std::fopen(path.c_str(), "rbe");  // 'e': O_CLOEXEC (glibc, musl, BSDs; ignored elsewhere)
        if (f == nullptr) {
            return failure::from_error({errno, std::system_category()}, transience::unknown, "dlq_reader: cannot open the file");
        }
        return dlq_reader(f, opts);
    }

    /// Reads from `contents` in memory (which must outlive the reader). Precondition:
    /// `opts.validate()` holds (throws std::invalid_argument otherwise; aborts without exceptions).
    explicit dlq_reader(std::string_view contents, dlq_reader_options opts = {})
        : opts_(opts), source_(contents), end_(contents.size()) {
        detail::enforce(opts_.validate());
    }

    dlq_reader(dlq_reader&& o) noexcept
        : opts_(o.opts_), file_(std::exchange(o.file_, nullptr)), source_(o.source_), buffer_(std::move(o.buffer_)),
          pos_(o.pos_), end_(o.end_), line_(std::move(o.line_)), overflow_(o.overflow_), done_(o.done_),
          io_ec_(o.io_ec_), line_no_(o.line_no_), offset_(o.offset_), line_start_(o.line_start_), counts_(o.counts_) {
        o.pos_ = o.end_ = 0;
        o.done_ = true;
    }
    dlq_reader& operator=(dlq_reader&&) = delete;
    dlq_reader(const dlq_reader&) = delete;
    dlq_reader& operator=(const dlq_reader&) = delete;
    ~dlq_reader() {
        if (file_ != nullptr) std::fclose(file_);
    }

    /// Reads the next entry into `e`; returns false at the end (after a torn tail or an I/O error
    /// entry, if any).
    bool next(dlq_entry& e) {
        while (!done_) {
            if (pos_ == end_ && !refill()) {
                done_ = true;
                if (io_ec_) {
                    start_entry(e, dlq_entry_kind::io_error);
                    e.io_error = io_ec_;
                    ++counts_.io_errors;
                    return true;
                }
                if (!line_.empty() || overflow_) {
                    start_entry(e, dlq_entry_kind::torn_tail);
                    e.length = offset_ - line_start_;
                    e.excerpt = line_.substr(0, 200);
                    ++counts_.torn;
                    return true;
                }
                return false;
            }
            const std::string_view chunk(data() + pos_, end_ - pos_);
            const std::size_t nl = chunk.find('\n');
            take(chunk.substr(0, nl));
            if (nl == std::string_view::npos) {
                pos_ = end_;
                continue;
            }
            pos_ += nl + 1;
            const std::uint64_t length = offset_ - line_start_;
            offset_ += 1;  // the '\n'
            ++line_no_;
            if (finish_line(e, length)) return true;
        }
        return false;
    }

    /// Counters over the entries returned so far.
    struct counters {
        std::uint64_t records = 0;
        std::uint64_t malformed = 0;
        std::uint64_t too_long = 0;
        std::uint64_t torn = 0;
        std::uint64_t blank = 0;
        std::uint64_t io_errors = 0;
    };
    [[nodiscard]] const counters& counts() const noexcept { return counts_; }

private:
    dlq_reader(std::FILE* f, dlq_reader_options opts) : opts_(opts), file_(f) {}

    void take(std::string_view piece) {
        offset_ += piece.size();
        if (overflow_) return;
        if (line_.size() + piece.size() > opts_.max_line_bytes) {
            overflow_ = true;
            line_.resize(std::min<std::size_t>(line_.size(), 200));  // keep an excerpt only
            return;
        }
        line_.append(piece);
    }

    void start_entry(dlq_entry& e, dlq_entry_kind k) {
        e.kind = k;
        e.line = line_no_ + (k == dlq_entry_kind::torn_tail ? 1 : 0);
        e.offset = line_start_;
        e.length = 0;
        e.error = {};
        e.io_error = {};
        e.excerpt.clear();
    }

    // A complete line is in line_ (unless it overflowed). Fills `e` and returns true, or returns false
    // for a blank line.
    bool finish_line(dlq_entry& e, std::uint64_t length) {
        bool produced = true;
        if (overflow_) {
            start_entry(e, dlq_entry_kind::too_long);
            e.excerpt = line_.substr(0, 200);
            ++counts_.too_long;
        } else if (line_.find_first_not_of(" \t\r") == std::string::npos) {
            ++counts_.blank;
            produced = false;
        } else {
            record_parse_result r = parse_dead_letter_record(line_);
            if (r) {
                start_entry(e, dlq_entry_kind::record);
                e.record = std::move(r).value();
                ++counts_.records;
            } else {
                start_entry(e, dlq_entry_kind::malformed);
                e.error = r.error();
                e.excerpt = line_.substr(0, 200);
                ++counts_.malformed;
            }
        }
        e.length = length;
        line_.clear();
        overflow_ = false;
        line_start_ = offset_;
        return produced;
    }

    [[nodiscard]] const char* data() const noexcept { return file_ != nullptr ? buffer_.data() : source_.data(); }

    bool refill() {
        if (file_ == nullptr) return false;  // memory: the whole input was the one chunk
        buffer_.resize(64 * 1024);
        std::size_t n = std::fread(buffer_.data(), 1, buffer_.size(), file_);
        if (n == 0) {
            if (std::ferror(file_)) io_ec_ = std::error_code(errno != 0 ? errno : EIO, std::system_category());
            return false;
        }
        pos_ = 0;
        end_ = n;
        return true;
    }

    dlq_reader_options opts_;
    std::FILE* file_ = nullptr;
    std::string_view source_;  // memory mode
    std::string buffer_;       // file mode
    std::size_t pos_ = 0;      // unread bytes: [pos_, end_) of data()
    std::size_t end_ = 0;
    std::string line_{};
    bool overflow_ = false;
    bool done_ = false;
    std::error_code io_ec_{};
    std::uint64_t line_no_ = 0;
    std::uint64_t offset_ = 0;
    std::uint64_t line_start_ = 0;
    counters counts_{};
};

}  // namespace resilience
