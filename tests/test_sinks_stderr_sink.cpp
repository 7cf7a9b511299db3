// SPDX-License-Identifier: MIT
#include "support/catch.hpp"

#include <resilience/dead_letter.hpp>
#include <resilience/sinks/dlq_reader.hpp>
#include <resilience/sinks/stderr_sink.hpp>

#include <atomic>
#include <csignal>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace rs = resilience;

namespace {
rs::dead_letter_record rec(std::string id, std::string payload) {
    rs::dead_letter_record r;
    r.id = std::move(id);
    r.payload = std::move(payload);
    r.source = "stderr-test";
    return r;
}
std::string drain(int fd) {
    std::string out;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}
}  // namespace

TEST_CASE("stderr_sink: one JSON line per record on the descriptor, lines never interleaved (stress)") {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    std::string captured;
    std::thread collector([&] { captured = drain(fds[0]); });
    {
        rs::stderr_sink sink{fds[1], [](std::string_view p) { return std::string(p.size(), '#'); }};
        std::vector<std::thread> ts;
        std::atomic<int> failures{0};  // Catch2 assertions are not thread-safe: count, check after join
        for (int t = 0; t < 6; ++t) {
            ts.emplace_back([&, t] {
                // Lines longer than PIPE_BUF (4096), which the kernel may split: the mutex keeps them whole.
                for (int i = 0; i < 50; ++i) {
                    if (!sink.publish(rec(std::to_string(t) + "-" + std::to_string(i), std::string(10000, 's')))) ++failures;
                }
            });
        }
        for (auto& t : ts) t.join();
        CHECK(failures == 0);
    }
    ::close(fds[1]);
    collector.join();
    ::close(fds[0]);
    rs::dlq_reader reader(captured);
    int records = 0;
    for (rs::dlq_entry e; reader.next(e);) {
        REQUIRE(e.kind == rs::dlq_entry_kind::record);
        CHECK(e.record.payload == std::string(10000, '#'));  // redacted
        ++records;
    }
    CHECK(records == 300);
}

TEST_CASE("stderr_sink: a closed descriptor fails the publish with the write's error") {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    ::close(fds[0]);
    auto old = std::signal(SIGPIPE, SIG_IGN);
    rs::stderr_sink sink{fds[1]};
    auto r = sink.publish(rec("x", "p"));
    std::signal(SIGPIPE, old);
    ::close(fds[1]);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().error == std::errc::broken_pipe);

    rs::stderr_sink bad{-1};
    CHECK(bad.publish(rec("x", "p")).error().error == std::errc::bad_file_descriptor);
}

TEST_CASE("stderr_sink: writes to standard error by default") {
    rs::stderr_sink sink;
    CHECK(sink.fd() == STDERR_FILENO);
}
