// SPDX-License-Identifier: MIT
#pragma once

// What the JSON Lines sinks (file_sink, stderr_sink) and the replay progress file share: turning a
// record into one line (with an optional payload redaction), and writing a line to a POSIX file
// descriptor with a single write() where the kernel allows, retrying short writes and EINTR.
//
// POSIX only; included by the opt-in headers in resilience/sinks/, never by the core.

#include "../dead_letter.hpp"
#include "../result.hpp"

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace resilience {

/// A payload redaction hook: receives the payload a record carries and returns what to store instead
/// (e.g. with card numbers masked). Runs on the publishing thread, outside the sink's lock; must be
/// thread-safe. An empty function stores the payload as it is. If it throws, the publish fails (the
/// record is not stored) and the call reports `dead_letter_failed`.
using payload_redactor = std::function<std::string(std::string_view payload)>;

/// How a file is made durable after a write.
/// - `none`: no sync; a record survives the process being killed (it is in the kernel's page cache once
///   write() returns) but not a kernel crash or power loss;
/// - `data`: fdatasync(2) (the data and the size needed to read it back; cheaper on most file systems);
/// - `full`: fsync(2) (data and all metadata; on macOS, F_FULLFSYNC, which also flushes the drive cache).
enum class file_sync : std::uint8_t { none, data, full };

namespace detail {

[[nodiscard]] inline std::error_code last_errno() noexcept { return {errno, std::system_category()}; }

/// A record the sinks refuse to write (see `dead_letter_record::problem`), as a failure; nullopt if fine.
[[nodiscard]] inline std::optional<failure> unwritable(const dead_letter_record& rec) noexcept {
    std::string_view why = rec.problem();
    if (why.empty()) return std::nullopt;
    return failure::from_error(std::make_error_code(std::errc::invalid_argument), transience::permanent, why);
}

/// The line for `rec` (with its trailing '\n'), the payload replaced by `redact(payload)` when given.
[[nodiscard]] inline std::string encode_line(const dead_letter_record& rec, const payload_redactor& redact) {
    std::string line;
    if (redact) {
        dead_letter_record copy = rec;
        copy.payload = redact(rec.payload);
        line.reserve(copy.payload.size() + 512);
        copy.append_json(line);
    } else {
        line.reserve(rec.payload.size() + 512);
        rec.append_json(line);
    }
    line += '\n';
    return line;
}

/// Writes all of `data`, retrying EINTR and short writes. Returns the number of bytes written (which is
/// `data.size()` on success) and sets `ec` on failure.
inline std::size_t write_all(int fd, std::string_view data, std::error_code& ec) noexcept {
    std::size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            ec = last_errno();
            return done;
        }
        if (n == 0) {
            ec = std::make_error_code(std::errc::io_error);
            return done;
        }
        done += static_cast<std::size_t>(n);
    }
    ec.clear();
    return done;
}

/// Makes what was written to `fd` durable as `mode` says. Retries EINTR.
[[nodiscard]] inline std::error_code sync_fd(int fd, file_sync mode) noexcept {
    if (mode == file_sync::none) return {};
    int rc = 0;
    do {
#if defined(__APPLE__)
        rc = mode == file_sync::full ? ::fcntl(fd, F_FULLFSYNC) : ::fsync(fd);
#elif defined(_POSIX_SYNCHRONIZED_IO) && _POSIX_SYNCHRONIZED_IO > 0
        rc = mode == file_sync::full ? ::fsync(fd) : ::fdatasync(fd);
#else
        rc = ::fsync(fd);
#endif
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        // Character devices and pipes cannot be synced; there is nothing to make durable there.
        if (errno == EINVAL || errno == ENOTSUP || errno == EROFS) {
            struct stat st {};
            if (::fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) return {};
        }
        return last_errno();
    }
    return {};
}

/// The directory part of `path` ("." when there is none).
[[nodiscard]] inline std::string parent_directory(const std::string& path) {
    auto slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

/// The file-name part of `path`.
[[nodiscard]] inline std::string file_name(const std::string& path) {
    auto slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

/// fsyncs the directory containing `path`, so that a newly created or renamed entry survives a crash.
[[nodiscard]] inline std::error_code sync_directory_of(const std::string& path) noexcept {
#if defined(O_DIRECTORY)
    int dfd = ::open(parent_directory(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
#else
    int dfd = ::open(parent_directory(path).c_str(), O_RDONLY | O_CLOEXEC);
#endif
    if (dfd < 0) return last_errno();
    std::error_code ec = sync_fd(dfd, file_sync::full);
    ::close(dfd);
    // Some file systems refuse fsync on directories; the entry is then as durable as they make it.
    if (ec == std::errc::invalid_argument || ec == std::errc::operation_not_supported) ec.clear();
    return ec;
}

/// True when the regular file open as `fd` has `size` bytes and its last one is not '\n' (a line torn
/// by a crash): the next line must then start with a '\n' so that it is not glued to the fragment.
[[nodiscard]] inline bool ends_without_newline(int fd, std::uint64_t size) noexcept {
    if (size == 0) return false;
    char c = '\n';
    ssize_t n = ::pread(fd, &c, 1, static_cast<off_t>(size - 1));
    return n == 1 && c != '\n';
}

/// A failed `result<void>` carrying `ec`, for sinks.
[[nodiscard]] inline failure sink_failure(std::error_code ec, std::string_view msg) noexcept {
    return failure::from_error(ec, transience::transient, msg);
}

}  // namespace detail
}  // namespace resilience
