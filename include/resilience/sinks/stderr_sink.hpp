// SPDX-License-Identifier: MIT
#pragma once

/// \file stderr_sink.hpp
/// `stderr_sink`: writes each dead-letter record as one JSON line to standard error. A last resort
/// behind a `file_sink` in a `fallback_sink`: in AWS Lambda, CloudWatch Logs captures stderr, and each
/// line becomes one log event that `resilience-dlq` can read back once exported. POSIX only.

#include "../dead_letter.hpp"
#include "../detail/config.hpp"
#include "../detail/json_lines.hpp"
#include "../result.hpp"

#include <mutex>
#include <new>
#include <string>
#include <system_error>

#include <unistd.h>

namespace resilience {

/// Writes records as JSON Lines to a file descriptor: standard error by default.
///
/// Each record is one write(2) of its whole line (retried on short writes), under a mutex, so that
/// lines from concurrent publishers never interleave. "Published" means the kernel accepted the bytes;
/// nothing is synced (a pipe or a terminal has nothing to sync). Fails with the write's errno (EPIPE,
/// EBADF...) -- SIGPIPE is the process's business: Lambda runtimes ignore it.
///
/// Thread safety: thread-safe. Non-copyable: held by reference.
class stderr_sink {
public:
    /// Writes to `fd` (default: STDERR_FILENO). The descriptor is not owned: it is never closed.
    /// `redact`, if set, replaces each payload before it is written (see `payload_redactor`).
    explicit stderr_sink(int fd = STDERR_FILENO, payload_redactor redact = {}) : fd_(fd), redact_(std::move(redact)) {}
    stderr_sink(const stderr_sink&) = delete;
    stderr_sink& operator=(const stderr_sink&) = delete;

    result<void> publish(const dead_letter_record& r) {
#if RESILIENCE_HAS_EXCEPTIONS
        try {
            return publish_unguarded(r);
        } catch (const std::bad_alloc&) {
            return detail::sink_failure(std::make_error_code(std::errc::not_enough_memory), "stderr_sink: out of memory");
        } catch (...) {
            return detail::sink_failure(std::make_error_code(std::errc::io_error), "stderr_sink: the redaction hook threw");
        }
#else
        return publish_unguarded(r);
#endif
    }

    [[nodiscard]] int fd() const noexcept { return fd_; }

private:
    result<void> publish_unguarded(const dead_letter_record& r) {
        if (auto bad = detail::unwritable(r)) return *bad;
        std::string line = detail::encode_line(r, redact_);
        std::lock_guard g(m_);
        // After a short write, start the next line on a fresh line so it is not glued to the fragment.
        if (torn_) line.insert(line.begin(), '\n');
        std::error_code ec;
        std::size_t n = detail::write_all(fd_, line, ec);
        if (ec) {
            torn_ = torn_ || n > 0;
            return detail::sink_failure(ec, "stderr_sink: write failed");
        }
        torn_ = false;
        return {};
    }

    int fd_;
    payload_redactor redact_;
    std::mutex m_;
    bool torn_ = false;
};

static_assert(dead_letter_sink<stderr_sink>);

}  // namespace resilience
