// SPDX-License-Identifier: MIT
#pragma once

/// \file file_sink.hpp
/// `file_sink`: dead-letter records appended to a JSON Lines file, durably. POSIX only.
///
/// \code
///   static rs::file_sink dlq{"/tmp/dead-letters.jsonl"};                          // fsync per record
///   static rs::file_sink fast{"/tmp/dl.jsonl", {.records_per_fsync = 16,         // group commit
///                                                .max_commit_delay = 2ms}};
/// \endcode
///
/// Guarantees:
/// - one record = one line = one write(2) of the whole line, on a descriptor opened with
///   O_APPEND | O_CLOEXEC; a new file is created with mode 0600 (`file_mode`);
/// - `publish` returns success only once the line is durable as `sync` says (fsync by default). A write
///   that fails half-way (ENOSPC, EIO) is cut back with ftruncate(2) and reported: the record does not
///   count as published, and the file keeps only whole lines;
/// - a file whose last line was torn by a crash is never glued to a new record: the next line starts
///   with a '\n', which closes the fragment off as a line of its own. The reader then reports it as a
///   malformed line -- unless the cut fell exactly before the newline, in which case the line is a
///   whole record that was never acknowledged: at worst a duplicate, which a replay skips by id. (Before
///   the sink reopens the file, `dlq_reader` reports any such fragment as a torn tail, never a record.)
/// - size-based rotation: when a record would take the file past `max_file_bytes`, the file is renamed
///   to `<path>.<n>` (n = 1, 2, ... increasing, so older files have smaller numbers) and a new one is
///   started; `max_rotated_files`, when not 0, deletes the oldest rotated files beyond that many;
/// - a file deleted or renamed by someone else (an external log rotation) is noticed at the next
///   publish, which recreates the path instead of writing into a file nobody will read.
///
/// One process writes a given file (the truncation of a failed write assumes it): in Lambda, each
/// execution environment has its own /tmp.

#include "../clock.hpp"
#include "../dead_letter.hpp"
#include "../detail/config.hpp"
#include "../detail/json_lines.hpp"
#include "../detail/validate.hpp"
#include "../result.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace resilience {

/// The longest line `file_sink` writes and `dlq_reader` reads by default (16 MiB): a record with a
/// payload of up to about 12 MiB (base64 makes binary payloads a third bigger).
inline constexpr std::size_t default_max_record_bytes = std::size_t{16} << 20;

/// Configuration of `file_sink`.
struct file_sink_options {
    /// How a record is made durable before `publish` returns (see `file_sync`). Default: fsync.
    file_sync sync = file_sync::full;
    /// Group commit: how many records one sync should cover before its leader stops waiting (see
    /// `max_commit_delay`). 1 to 65536. With 1 (the default) a publisher never waits for others.
    std::uint32_t records_per_fsync = 1;
    /// Group commit: how long the publisher that leads a sync waits for `records_per_fsync` records to
    /// gather before syncing them together. 0 to 1 s. Every record of the group waits for the sync:
    /// latency goes up by at most this much, syncs (and so disk time) go down by up to
    /// `records_per_fsync` times -- worth it only when many threads publish at once. Ignored when
    /// `records_per_fsync` is 1.
    duration max_commit_delay = duration::zero();
    /// Rotate before a record would take the file beyond this size; 0 (the default) never rotates.
    /// 0, or 4096 to 2^40 bytes.
    std::uint64_t max_file_bytes = 0;
    /// How many rotated files to keep; 0 (the default) keeps all of them. Deleting old files deletes
    /// dead letters: set it only if the files are shipped elsewhere first. 0 to 100000.
    std::uint32_t max_rotated_files = 0;
    /// Permission bits of a file the sink creates (umask does not apply). 0600 by default: dead letters
    /// carry payloads. 0200 to 0777 (the owner must be able to write).
    std::uint32_t file_mode = 0600;
    /// A record whose line is longer fails with `errc::message_size` instead of being written (a reader
    /// would refuse it). 256 bytes to 1 GiB; default 16 MiB (`default_max_record_bytes`).
    std::size_t max_record_bytes = default_max_record_bytes;
    /// Replaces each payload before it is written (masking card numbers, say); empty by default.
    payload_redactor redact{};

    [[nodiscard]] std::optional<config_error> validate() const noexcept {
        if (sync != file_sync::none && sync != file_sync::data && sync != file_sync::full) {
            return config_error{"file_sink_options.sync", "file_sink_options.sync must be none, data or full"};
        }
        if (records_per_fsync < 1 || records_per_fsync > 65536) {
            return config_error{"file_sink_options.records_per_fsync",
                                "file_sink_options.records_per_fsync must be between 1 and 65536"};
        }
        if (max_commit_delay < duration::zero() || max_commit_delay > std::chrono::seconds(1)) {
            return config_error{"file_sink_options.max_commit_delay",
                                "file_sink_options.max_commit_delay must be between 0 and 1s"};
        }
        if (max_file_bytes != 0 && (max_file_bytes < 4096 || max_file_bytes > (std::uint64_t{1} << 40))) {
            return config_error{"file_sink_options.max_file_bytes",
                                "file_sink_options.max_file_bytes must be 0 (no rotation) or between 4096 and 2^40"};
        }
        if (max_rotated_files > 100000) {
            return config_error{"file_sink_options.max_rotated_files",
                                "file_sink_options.max_rotated_files must be between 0 (keep all) and 100000"};
        }
        if (file_mode > 0777 || (file_mode & 0200) == 0) {
            return config_error{"file_sink_options.file_mode",
                                "file_sink_options.file_mode must be between 0200 and 0777 and include owner write (0200)"};
        }
        if (max_record_bytes < 256 || max_record_bytes > (std::size_t{1} << 30)) {
            return config_error{"file_sink_options.max_record_bytes",
                                "file_sink_options.max_record_bytes must be between 256 and 2^30"};
        }
        return std::nullopt;
    }
};

/// Counters of a `file_sink`, for monitoring and benchmarks (records per second, records per sync).
struct file_sink_stats {
    std::uint64_t records = 0;    ///< records published (durable as configured)
    std::uint64_t bytes = 0;      ///< bytes of published records
    std::uint64_t syncs = 0;      ///< fsync/fdatasync calls made (successful or not)
    std::uint64_t rotations = 0;  ///< files rotated
    std::uint64_t failures = 0;   ///< publishes that failed (write, sync, size, open)
    std::uint64_t reopens = 0;    ///< times the file was found deleted or renamed by someone else, and recreated
};

namespace detail {
inline steady_clock& file_sink_steady_clock() noexcept {
    static steady_clock c;
    return c;
}
}  // namespace detail

/// Appends dead-letter records to a JSON Lines file. See the file comment for the guarantees.
///
/// The file is opened lazily by the first `publish` (or by `open()`), so a sink can be a static in a
/// Lambda handler without touching the disk at start-up; if opening fails, each publish tries again.
///
/// Group commit, without a background thread: each publisher writes its line under the sink's mutex,
/// then waits until a sync covers it. The first waiter becomes the leader: it syncs (outside the
/// mutex) everything written so far, then wakes every publisher it covered; publishers that wrote while
/// it synced are covered by the next leader. Concurrent publishers therefore share syncs whatever the
/// options; `records_per_fsync` and `max_commit_delay` let a leader wait a little for a fuller group.
/// A record whose sync fails is reported as failed (it may still be in the file: readers and replays
/// are at-least-once and key on the record id).
///
/// `Clock` times only `max_commit_delay` (on `manual_clock`, a leader waits until the test advances the
/// clock or the group fills).
///
/// Thread safety: `publish`, `flush`, `open` and `stats` are thread-safe. Destroying the sink while a
/// call runs is undefined. Non-copyable: held by reference.
template <clock Clock = steady_clock>
class file_sink {
public:
    using clock_type = Clock;

    /// A sink writing to `path`, on the process's steady clock. Precondition: `opts.validate()` holds
    /// (throws std::invalid_argument otherwise; aborts without exceptions).
    explicit file_sink(std::string path, file_sink_options opts = {})
        requires std::same_as<Clock, steady_clock>
        : file_sink(std::move(path), std::move(opts), detail::file_sink_steady_clock()) {}

    /// A sink writing to `path`, timing group commits on `clock` (which must outlive it).
    file_sink(std::string path, file_sink_options opts, Clock& clock)
        : path_(std::move(path)), opts_(std::move(opts)), clock_(&clock) {
        detail::enforce(opts_.validate());
    }

    file_sink(const file_sink&) = delete;
    file_sink& operator=(const file_sink&) = delete;

    /// Closes the file (without syncing: every record reported as published already is).
    ~file_sink() {
        if (fd_ >= 0) ::close(fd_);
    }

    /// Appends `r` and returns once it is durable (see the class comment). Failures:
    /// `errc::invalid_argument` (a record that would not read back: see `dead_letter_record::problem`),
    /// `errc::message_size` (line longer than `max_record_bytes`), the errno of open/write/fsync (ENOSPC,
    /// EIO, EACCES, EROFS...), `errc::not_enough_memory`, `errc::io_error` when the redaction hook throws.
    /// Never throws.
    result<void> publish(const dead_letter_record& r) {
        if (auto bad = detail::unwritable(r)) {
            std::lock_guard g(m_);
            ++stats_.failures;
            return *bad;
        }
        std::string line;
#if RESILIENCE_HAS_EXCEPTIONS
        try {
            line = detail::encode_line(r, opts_.redact);
        } catch (const std::bad_alloc&) {
            return fail(std::make_error_code(std::errc::not_enough_memory), "file_sink: out of memory");
        } catch (...) {
            return fail(std::make_error_code(std::errc::io_error), "file_sink: the redaction hook threw");
        }
#else
        line = detail::encode_line(r, opts_.redact);
#endif
        if (line.size() > opts_.max_record_bytes) {
            return fail(std::make_error_code(std::errc::message_size), "file_sink: record longer than max_record_bytes");
        }

        std::unique_lock lk(m_);
        reopen_if_replaced_locked(lk);
        if (auto ec = open_locked()) return fail_locked(ec, "file_sink: cannot open the file");
        if (opts_.max_file_bytes != 0 && size_ > 0 && size_ + line.size() > opts_.max_file_bytes) {
            rotate_locked(lk, line.size());
            if (fd_ < 0) {
                if (auto ec = open_locked()) return fail_locked(ec, "file_sink: cannot open the file after rotation");
            }
        }
        if (auto ec = write_locked(line)) return fail_locked(ec, "file_sink: write failed");
        const std::uint64_t seq = ++written_;
        if (opts_.sync == file_sync::none) {
            count_published(line.size());
            return {};
        }
        waiter w{seq};
        enqueue(w);
        cv_.notify_all();  // a leader gathering a group counts us
        wait_durable(lk, w, true);
        if (w.ec) return fail_locked(w.ec, "file_sink: sync failed");
        count_published(line.size());
        return {};
    }

    /// Makes every record written so far durable with a full fsync, whatever `sync` says (with
    /// `file_sync::none`, call it at the end of each invocation, say, to bound what a kernel crash can
    /// lose). Thread-safe.
    result<void> flush() {
        std::unique_lock lk(m_);
        if (fd_ < 0 || written_ == 0) return {};
        waiter w{written_};
        enqueue(w);
        force_full_ = true;
        cv_.notify_all();  // a leader gathering a group stops waiting
        wait_durable(lk, w, false);
        if (w.ec) return fail_locked(w.ec, "file_sink: sync failed");
        return {};
    }

    /// Opens (creating if needed) the file now, to find configuration errors at start-up; `publish`
    /// does it anyway. Thread-safe.
    result<void> open() {
        std::lock_guard g(m_);
        if (auto ec = open_locked()) return detail::sink_failure(ec, "file_sink: cannot open the file");
        return {};
    }

    /// The file records are appended to.
    [[nodiscard]] const std::string& path() const noexcept { return path_; }
    [[nodiscard]] const file_sink_options& options() const noexcept { return opts_; }
    [[nodiscard]] Clock& clock() const noexcept { return *clock_; }

    /// A snapshot of the counters.
    [[nodiscard]] file_sink_stats stats() const {
        std::lock_guard g(m_);
        return stats_;
    }

private:
    struct waiter {
        std::uint64_t seq;
        bool done = false;
        std::error_code ec{};
        waiter* next = nullptr;
    };

    result<void> fail(std::error_code ec, std::string_view msg) {
        std::lock_guard g(m_);
        return fail_locked(ec, msg);
    }
    result<void> fail_locked(std::error_code ec, std::string_view msg) {
        ++stats_.failures;
        return detail::sink_failure(ec, msg);
    }
    void count_published(std::size_t bytes) {
        ++stats_.records;
        stats_.bytes += bytes;
    }

    void enqueue(waiter& w) {
        w.next = waiters_;
        waiters_ = &w;
    }

    // Completes every waiter whose record is at or before `upto`.
    void complete(std::uint64_t upto, std::error_code ec) {
        for (waiter** p = &waiters_; *p;) {
            if ((*p)->seq <= upto) {
                waiter* w = *p;
                *p = w->next;
                w->ec = ec;
                w->done = true;
            } else {
                p = &(*p)->next;
            }
        }
        if (!ec && upto > synced_) synced_ = upto;
    }

    // Until `w` is covered by a sync: lead one if nobody is syncing, else wait for the leader.
    void wait_durable(std::unique_lock<std::mutex>& lk, waiter& w, bool may_gather) {
        while (!w.done) {
            if (syncing_) {
                cv_.wait(lk);
                continue;
            }
            syncing_ = true;
            if (may_gather && !force_full_ && opts_.records_per_fsync > 1 && opts_.max_commit_delay > duration::zero()) {
                auto gathered = [&] {
                    return written_ - attempted_ >= opts_.records_per_fsync || rotating_ || force_full_;
                };
                if (!gathered()) clock_->wait_until(lk, cv_, clock_->now() + opts_.max_commit_delay, gathered);
            }
            const std::uint64_t target = written_;
            const int fd = fd_;
            const file_sync mode = force_full_ ? file_sync::full : opts_.sync;
            force_full_ = false;
            attempted_ = target;
            lk.unlock();
            std::error_code ec = detail::sync_fd(fd, mode == file_sync::none ? file_sync::full : mode);
            lk.lock();
            ++stats_.syncs;
            syncing_ = false;
            complete(target, ec);
            cv_.notify_all();
        }
    }

    std::error_code open_locked() {
        if (fd_ >= 0) return {};
        const auto mode = static_cast<mode_t>(opts_.file_mode);
        bool created = true;
        int fd = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (fd < 0 && errno == EEXIST) {
            created = false;
            fd = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
            if (fd < 0 && (errno == EACCES || errno == EISDIR || errno == EINVAL)) {
                // Write-only targets (a FIFO, a device we may not read): fine, we only append.
                fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
            }
        }
        if (fd < 0) return detail::last_errno();
        struct stat st {};
        if (::fstat(fd, &st) != 0) {
            auto ec = detail::last_errno();
            ::close(fd);
            return ec;
        }
        if (created) {
            // O_CREAT's mode is filtered by the umask; the promise is the exact mode.
            (void)::fchmod(fd, mode);
            if (opts_.sync != file_sync::none) {
                // Without this a crash could lose the new directory entry, and every record in it.
                if (auto ec = detail::sync_directory_of(path_)) {
                    ::close(fd);
                    ::unlink(path_.c_str());
                    return ec;
                }
            }
        }
        regular_ = S_ISREG(st.st_mode);
        size_ = regular_ ? static_cast<std::uint64_t>(st.st_size) : 0;
        seal_ = regular_ && detail::ends_without_newline(fd, size_);
        fd_ = fd;
        return {};
    }

    std::error_code write_locked(std::string& line) {
        if (seal_) line.insert(line.begin(), '\n');
        std::error_code ec;
        std::size_t n = detail::write_all(fd_, line, ec);
        if (!ec) {
            size_ += line.size();
            seal_ = false;
            return {};
        }
        if (n > 0) {
            // Cut the fragment off so the file keeps whole lines. If that fails too, the next line
            // starts with a '\n' instead (the fragment then reads as one malformed line).
            if (!regular_ || ::ftruncate(fd_, static_cast<off_t>(size_)) != 0) seal_ = true;
        }
        return ec;
    }

    // Waits until no leader is syncing (leaders gathering a group stop waiting), so that the descriptor
    // may be closed.
    void wait_idle_locked(std::unique_lock<std::mutex>& lk) {
        rotating_ = true;
        cv_.notify_all();
        while (syncing_) cv_.wait(lk);
        rotating_ = false;
    }

    // Makes every record written so far durable and wakes its publishers with the result. Precondition:
    // no leader is syncing.
    void sync_pending_locked() {
        if (waiters_ == nullptr && !(opts_.sync == file_sync::none && written_ > synced_)) return;
        std::error_code ec = detail::sync_fd(fd_, opts_.sync == file_sync::none ? file_sync::full : opts_.sync);
        ++stats_.syncs;
        attempted_ = written_;
        complete(written_, ec);
        cv_.notify_all();
    }

    void close_locked() {
        ::close(fd_);
        fd_ = -1;
        size_ = 0;
        seal_ = false;
    }

    // If the file was deleted or renamed behind the sink's back (an external log rotation, a cleanup),
    // records written to the open descriptor would go to a file nobody will read: close it, so that the
    // path is opened (created) again. Costs one stat(2) and one fstat(2) per publish.
    void reopen_if_replaced_locked(std::unique_lock<std::mutex>& lk) {
        auto replaced = [&] {
            if (fd_ < 0 || !regular_) return false;
            struct stat fs {};
            struct stat ps {};
            if (::fstat(fd_, &fs) != 0) return false;
            if (::stat(path_.c_str(), &ps) == 0 && ps.st_ino == fs.st_ino && ps.st_dev == fs.st_dev) return false;
            return true;
        };
        if (!replaced()) return;
        wait_idle_locked(lk);
        if (!replaced()) return;  // another publisher reopened it meanwhile
        sync_pending_locked();
        close_locked();
        ++stats_.reopens;
    }

    // Renames the current file to <path>.<n> and closes it; the caller opens a new one. Pending records
    // are synced first (their publishers are woken with the result). On failure the sink keeps writing to
    // the current file: losing the rotation is better than losing records.
    void rotate_locked(std::unique_lock<std::mutex>& lk, std::size_t incoming) {
        wait_idle_locked(lk);
        if (fd_ < 0 || !regular_ || size_ == 0 || size_ + incoming <= opts_.max_file_bytes) return;  // someone rotated
        sync_pending_locked();
        std::vector<std::uint64_t> existing = rotated_numbers();
        const std::uint64_t next = existing.empty() ? 1 : existing.back() + 1;
        const std::string target = rotated_path(next);
        if (::rename(path_.c_str(), target.c_str()) != 0) return;
        close_locked();
        ++stats_.rotations;
        existing.push_back(next);
        if (opts_.max_rotated_files != 0 && existing.size() > opts_.max_rotated_files) {
            std::size_t excess = existing.size() - opts_.max_rotated_files;
            for (std::size_t i = 0; i < excess; ++i) (void)::unlink(rotated_path(existing[i]).c_str());
        }
        if (opts_.sync != file_sync::none) (void)detail::sync_directory_of(path_);
    }

    [[nodiscard]] std::string rotated_path(std::uint64_t n) const {
        std::string p = path_;
        p += '.';
        detail::json::append_uint(p, n);
        return p;
    }

    // The numbers n of the existing files <path>.<n>, sorted.
    [[nodiscard]] std::vector<std::uint64_t> rotated_numbers() const {
        std::vector<std::uint64_t> out;
        const std::string dir = detail::parent_directory(path_);
        const std::string prefix = detail::file_name(path_) + '.';
        DIR* d = ::opendir(dir.c_str());
        if (d == nullptr) return out;
        while (const dirent* e = ::readdir(d)) {
            std::string_view name(e->d_name);
            if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) continue;
            std::uint64_t n = 0;
            std::string_view digits = name.substr(prefix.size());
            if (digits.front() == '0' || !detail::json::to_uint64(digits, n)) continue;
            out.push_back(n);
        }
        ::closedir(d);
        std::sort(out.begin(), out.end());
        return out;
    }

    std::string path_;
    file_sink_options opts_;
    Clock* clock_;

    mutable std::mutex m_;
    std::condition_variable cv_;
    int fd_ = -1;
    bool regular_ = true;
    bool seal_ = false;        // the next line must start with '\n' (a torn line precedes it)
    bool syncing_ = false;     // a leader is gathering or syncing
    bool rotating_ = false;    // a publisher waits to rotate or reopen: leaders stop gathering
    bool force_full_ = false;  // flush() asked for a full sync now
    std::uint64_t size_ = 0;   // bytes in the current file
    std::uint64_t written_ = 0;    // records written (sequence numbers)
    std::uint64_t attempted_ = 0;  // records covered by the last sync attempt
    std::uint64_t synced_ = 0;     // records known durable
    waiter* waiters_ = nullptr;
    file_sink_stats stats_{};
};

file_sink(std::string) -> file_sink<steady_clock>;
file_sink(const char*) -> file_sink<steady_clock>;
file_sink(std::string, file_sink_options) -> file_sink<steady_clock>;
file_sink(const char*, file_sink_options) -> file_sink<steady_clock>;
template <clock C>
file_sink(std::string, file_sink_options, C&) -> file_sink<C>;
template <clock C>
file_sink(const char*, file_sink_options, C&) -> file_sink<C>;

static_assert(dead_letter_sink<file_sink<>>);

}  // namespace resilience
