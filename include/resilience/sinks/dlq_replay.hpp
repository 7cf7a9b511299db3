// SPDX-License-Identifier: MIT
#pragma once

/// \file dlq_replay.hpp
/// Replaying dead letters: re-drive the records of a dead-letter file through a function of the
/// user's, remembering which succeeded so that a replay interrupted by a crash resumes where it was.
///
/// \code
///   rs::replay_report rep = rs::replay_dead_letters("/tmp/dead-letters.jsonl",
///       [&](const rs::dead_letter_record& r) -> rs::result<void> { return process(r.payload); });
///   std::printf("%llu replayed, %llu failed\n", rep.replayed, rep.failed);
/// \endcode
///
/// Semantics: at-least-once, keyed on the record id. Each success is appended (and synced) to a
/// progress file (`<file>.progress` by default) before the next record is tried; a record whose id is
/// in the progress file is skipped. A crash between a success and its progress entry re-drives that
/// one record on the next run, so the function must be idempotent per id. Failed records stay: the
/// dead-letter file is never modified, and the next run retries them. A record id that appears more
/// than once (a publish retried after a failure it could not see) is driven once.
/// POSIX only.

#include "../dead_letter.hpp"
#include "../detail/config.hpp"
#include "../detail/json.hpp"
#include "../detail/json_lines.hpp"
#include "../result.hpp"
#include "dlq_reader.hpp"

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace resilience {

/// The set of record ids already replayed, kept in an append-only JSON Lines file:
/// `{"id":"order-42","replayedAt":"2026-01-01T00:00:00.000Z"}` per line. A torn final line (a crash
/// while appending) and malformed lines are ignored -- their ids count as not done, so they are
/// replayed again (at-least-once). Move-only; not thread-safe.
class replay_progress {
public:
    /// Opens (creating with mode 0600 if needed) and loads the progress file. `sync` says how each
    /// `mark_done` is made durable.
    [[nodiscard]] static result<replay_progress> open(std::string path, file_sync sync = file_sync::full) {
        bool created = true;
        int fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno == EEXIST) {
            created = false;
            fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
        }
        if (fd < 0) return detail::sink_failure(detail::last_errno(), "replay_progress: cannot open the progress file");
        replay_progress p(std::move(path), fd, sync);
        if (created) {
            (void)::fchmod(fd, 0600);
            if (sync != file_sync::none) {
                if (auto ec = detail::sync_directory_of(p.path_)) return detail::sink_failure(ec, "replay_progress: cannot sync the directory");
            }
        }
        if (auto ec = p.load()) return detail::sink_failure(ec, "replay_progress: cannot read the progress file");
        return p;
    }

    replay_progress(replay_progress&& o) noexcept
        : path_(std::move(o.path_)), fd_(std::exchange(o.fd_, -1)), sync_(o.sync_), seal_(o.seal_),
          done_(std::move(o.done_)), unreadable_(o.unreadable_) {}
    replay_progress& operator=(replay_progress&&) = delete;
    replay_progress(const replay_progress&) = delete;
    replay_progress& operator=(const replay_progress&) = delete;
    ~replay_progress() {
        if (fd_ >= 0) ::close(fd_);
    }

    /// True when `id` was marked done (in this run or an earlier one).
    [[nodiscard]] bool contains(std::string_view id) const { return done_.find(id) != done_.end(); }

    /// Appends `id` to the file and syncs it; only then is it done. On failure nothing is recorded
    /// (a partial line is cut off) and the id will be replayed again.
    result<void> mark_done(std::string_view id) {
        std::string line;
        if (seal_) line += '\n';
        line += R"({"id":)";
        detail::json::append_string(line, id);
        line += R"(,"replayedAt":")";
        append_timestamp(line, std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now()));
        line += "\"}\n";
        struct stat st {};
        const bool sized = ::fstat(fd_, &st) == 0;
        std::error_code ec;
        std::size_t n = detail::write_all(fd_, line, ec);
        if (ec) {
            if (n > 0 && (!sized || ::ftruncate(fd_, st.st_size) != 0)) seal_ = true;
            return detail::sink_failure(ec, "replay_progress: write failed");
        }
        seal_ = false;
        if (auto sec = detail::sync_fd(fd_, sync_)) return detail::sink_failure(sec, "replay_progress: sync failed");
        done_.emplace(id);
        return {};
    }

    /// Number of ids done.
    [[nodiscard]] std::size_t size() const noexcept { return done_.size(); }
    /// Lines of the file that could not be read (malformed or torn); their ids are not done.
    [[nodiscard]] std::uint64_t unreadable_lines() const noexcept { return unreadable_; }
    [[nodiscard]] const std::string& path() const noexcept { return path_; }

private:
    replay_progress(std::string path, int fd, file_sync sync) : path_(std::move(path)), fd_(fd), sync_(sync) {}

    std::error_code load() {
        struct stat st {};
        if (::fstat(fd_, &st) != 0) return detail::last_errno();
        if (!S_ISREG(st.st_mode)) return {};  // a device (/dev/null, /dev/full) has no history to load
        std::string all;
        char buf[65536];
        for (;;) {
            ssize_t n = ::pread(fd_, buf, sizeof buf, static_cast<off_t>(all.size()));
            if (n < 0) {
                if (errno == EINTR) continue;
                return detail::last_errno();
            }
            if (n == 0) break;
            all.append(buf, static_cast<std::size_t>(n));
        }
        seal_ = parse_lines(all, done_, unreadable_);
        return {};
    }

public:
    /// The ids recorded in progress-file contents `text` go into `done`; returns true when the text ends
    /// with a torn line. `unreadable` counts lines that are not progress entries.
    static bool parse_lines(std::string_view text, std::set<std::string, std::less<>>& done, std::uint64_t& unreadable) {
        std::size_t start = 0;
        while (start < text.size()) {
            std::size_t nl = text.find('\n', start);
            if (nl == std::string_view::npos) {  // torn tail: not done; the next line must not be glued to it
                ++unreadable;
                return true;
            }
            std::string_view line = text.substr(start, nl - start);
            start = nl + 1;
            if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
            detail::json::value v;
            detail::json::error err;
            const detail::json::value* id = nullptr;
            if (detail::json::parse(line, v, err) && v.kind == detail::json::type::object) id = v.find("id");
            if (id == nullptr || id->kind != detail::json::type::string || id->text.empty()) {
                ++unreadable;
                continue;
            }
            done.insert(id->text);
        }
        return false;
    }

private:

    std::string path_{};
    int fd_ = -1;
    file_sync sync_;
    bool seal_ = false;
    std::set<std::string, std::less<>> done_;
    std::uint64_t unreadable_ = 0;
};

/// The ids recorded in the progress file at `path`, read without creating or changing it (for tools
/// that only look: `resilience-dlq list`). A missing file means none.
[[nodiscard]] inline result<std::set<std::string, std::less<>>> read_replayed_ids(const std::string& path) {
    std::set<std::string, std::less<>> done;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return done;
        return detail::sink_failure(detail::last_errno(), "replay_progress: cannot open the progress file");
    }
    std::string all{};
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            auto ec = detail::last_errno();
            ::close(fd);
            return detail::sink_failure(ec, "replay_progress: cannot read the progress file");
        }
        if (n == 0) break;
        all.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    std::uint64_t unreadable = 0;
    (void)replay_progress::parse_lines(all, done, unreadable);
    return done;
}

/// Configuration of a replay.
struct replay_options {
    /// Where progress is kept; empty (the default) means `<dead-letter file>.progress`.
    std::string progress_path{};
    /// Stop trying records after the first failure (the rest count as `not_attempted`).
    bool stop_on_failure = false;
    /// How each progress entry is made durable before the next record is tried.
    file_sync sync = file_sync::full;
    /// How the dead-letter file is read.
    dlq_reader_options reader{};
};

/// What a replay did.
struct replay_report {
    std::uint64_t records = 0;        ///< valid records in the file
    std::uint64_t replayed = 0;       ///< driven successfully in this run (now in the progress file)
    std::uint64_t failed = 0;         ///< driven and failed in this run (they stay; the next run retries)
    std::uint64_t already_done = 0;   ///< skipped: replayed by an earlier run
    std::uint64_t duplicates = 0;     ///< skipped: their id appeared earlier in the file (driven once at most)
    std::uint64_t not_attempted = 0;  ///< skipped after a failure with `stop_on_failure`
    std::vector<std::string> failed_ids;  ///< ids that failed in this run, in file order
    std::vector<dlq_entry> problems;      ///< lines that are not records (malformed, too long, torn)
    /// Set when the replay could not run or stopped early: the file or the progress file could not be
    /// opened or read, or a success could not be recorded (the replay stops there, so that a rerun
    /// re-drives as little as possible). `error_message` says which.
    std::error_code error{};
    std::string_view error_message{};

    /// True when everything in the file is replayed (now or before) and nothing went wrong.
    [[nodiscard]] bool complete() const noexcept { return !error && failed == 0 && not_attempted == 0; }
};

/// The progress file used by default for `dlq_path`.
[[nodiscard]] inline std::string default_progress_path(const std::string& dlq_path) { return dlq_path + ".progress"; }

/// Re-drives every record of `dlq_path` not yet replayed through `handler(const dead_letter_record&)`,
/// which returns `result<void>` or `bool` (success = true). A handler that throws counts as a failure.
/// See the file comment for the semantics. Runs on the calling thread, one record at a time, in file
/// order.
template <class F>
replay_report replay_dead_letters(const std::string& dlq_path, F&& handler, const replay_options& opts = {}) {
    using ret = std::invoke_result_t<F&, const dead_letter_record&>;
    static_assert(std::is_same_v<ret, result<void>> || std::is_same_v<ret, bool>,
                  "resilience::replay_dead_letters: the handler must return result<void> or bool");
    replay_report rep;
    auto progress = replay_progress::open(opts.progress_path.empty() ? default_progress_path(dlq_path) : opts.progress_path,
                                          opts.sync);
    if (!progress) {
        rep.error = progress.error().error;
        rep.error_message = "cannot open the progress file";
        return rep;
    }
    auto reader = dlq_reader::open(dlq_path, opts.reader);
    if (!reader) {
        rep.error = reader.error().error;
        rep.error_message = "cannot open the dead-letter file";
        return rep;
    }
    auto drive = [&](const dead_letter_record& r) -> bool {
#if RESILIENCE_HAS_EXCEPTIONS
        try {
#endif
            if constexpr (std::is_same_v<ret, bool>) {
                return handler(r);
            } else {
                return handler(r).has_value();
            }
#if RESILIENCE_HAS_EXCEPTIONS
        } catch (...) {
            return false;
        }
#endif
    };
    std::set<std::string, std::less<>> seen;
    bool stopped = false;
    for (dlq_entry e; reader->next(e);) {
        if (e.kind == dlq_entry_kind::io_error) {
            rep.error = e.io_error;
            rep.error_message = "cannot read the dead-letter file";
            rep.problems.push_back(std::move(e));
            break;
        }
        if (e.kind != dlq_entry_kind::record) {
            rep.problems.push_back(std::move(e));
            continue;
        }
        ++rep.records;
        const std::string& id = e.record.id;
        if (!seen.insert(id).second) {
            ++rep.duplicates;
            continue;
        }
        if (progress->contains(id)) {
            ++rep.already_done;
            continue;
        }
        if (stopped) {
            ++rep.not_attempted;
            continue;
        }
        if (drive(e.record)) {
            result<void> m = progress->mark_done(id);
            if (!m) {
                rep.error = m.error().error;
                rep.error_message = "cannot record progress (the record succeeded; a rerun will drive it again)";
                ++rep.replayed;
                break;
            }
            ++rep.replayed;
        } else {
            ++rep.failed;
            rep.failed_ids.push_back(id);
            if (opts.stop_on_failure) stopped = true;
        }
    }
    return rep;
}

}  // namespace resilience
