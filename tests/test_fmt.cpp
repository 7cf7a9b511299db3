// SPDX-License-Identifier: MIT
// resilience: requires fmt
#include "support/catch.hpp"

#include <resilience/fmt.hpp>
#include <resilience/http.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <system_error>

namespace rs = resilience;
using namespace std::chrono_literals;

TEST_CASE("failure_kind and transience format as their names", "[fmt]") {
    for (std::size_t i = 0; i < rs::failure_kind_count; ++i) {
        auto k = static_cast<rs::failure_kind>(i);
        CHECK(fmt::format("{}", k) == rs::to_string(k));
    }
    CHECK(fmt::format("[{:>14}]", rs::failure_kind::timeout) == "[       timeout]");
    CHECK(fmt::format("[{:<8}]", rs::failure_kind::error) == "[error   ]");
    CHECK(fmt::format("{}", rs::transience::transient) == "transient");
    CHECK(fmt::format("{}", rs::transience::permanent) == "permanent");
    CHECK(fmt::format("{:^11}", rs::transience::unknown) == "  unknown  ");
}

TEST_CASE("a failure formats with everything known", "[fmt]") {
    SECTION("minimal") {
        CHECK(fmt::format("{}", rs::failure{}) == "error after 0 attempts in 0ns: the call failed");
        CHECK(fmt::format("{:s}", rs::failure{}) == "error: the call failed");
    }
    SECTION("relabelled, with a hint, an error code and a retry-after") {
        rs::failure f = *rs::http_status_failure(503, 2s);
        f = f.relabelled(rs::failure_kind::deadline_exceeded);
        f.attempts = 3;
        f.elapsed = 1250ms;
        CHECK(fmt::format("{}", f) ==
              "deadline_exceeded (cause error, transient) after 3 attempts in 1.25s: the dependency answered with a "
              "transient HTTP error [error http:503 HTTP 503 Service Unavailable] [retry after 2s]");
        CHECK(fmt::format("{:s}", f) == "deadline_exceeded: the dependency answered with a transient HTTP error");
    }
    SECTION("one attempt, durations in readable units") {
        rs::failure f = rs::failure::of(rs::failure_kind::timeout, "slow");
        f.attempts = 1;
        f.elapsed = 850us;
        CHECK(fmt::format("{}", f) == "timeout after 1 attempt in 850us: slow");
        f.elapsed = 120ms;
        CHECK(fmt::format("{}", f) == "timeout after 1 attempt in 120ms: slow");
        f.elapsed = 90s;
        CHECK(fmt::format("{}", f) == "timeout after 1 attempt in 90s: slow");
    }
    SECTION("a sink error") {
        rs::failure f = rs::failure::of(rs::failure_kind::error, "boom").relabelled(rs::failure_kind::dead_letter_failed);
        f.sink_error = std::make_error_code(std::errc::no_space_on_device);
        auto s = fmt::format("{}", f);
        CHECK(s.find("dead_letter_failed (cause error)") == 0);
        CHECK(s.find("[sink error generic:28 ") != std::string::npos);
    }
    SECTION("an exception") {
        auto f = rs::failure::from_exception(std::make_exception_ptr(std::runtime_error("socket closed")), "threw");
        CHECK(fmt::format("{}", f) == "error after 0 attempts in 0ns: threw [exception: socket closed]");
        auto odd = rs::failure::from_exception(std::make_exception_ptr(7));
        CHECK(fmt::format("{}", odd).find("[exception: not a std::exception]") != std::string::npos);
    }
    SECTION("composes with other fmt features") {
        rs::failure f = rs::failure::of(rs::failure_kind::circuit_open, "open");
        CHECK(fmt::format("call failed: {:s} / {}", f, f.kind) == "call failed: circuit_open: open / circuit_open");
    }
}

TEST_CASE("a bad format spec is refused", "[fmt]") {
    // The compile-time check refuses "{:x}" for a failure; at run time it is a format_error.
    CHECK_THROWS_AS(fmt::format(fmt::runtime("{:x}"), rs::failure{}), fmt::format_error);
    CHECK_THROWS_AS(fmt::format(fmt::runtime("{:s5}"), rs::failure{}), fmt::format_error);
}
