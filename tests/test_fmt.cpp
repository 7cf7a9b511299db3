// SPDX-License-Identifier: MIT
// resilience: requires fmt
#include "support/catch.hpp"

#include <resilience/fmt.hpp>
#include <resilience/http.hpp>
#include <resilience/circuit_breaker.hpp>
#include <resilience/dead_letter.hpp>

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

TEST_CASE("circuit_state formats as its name", "[fmt]") {
    CHECK(fmt::format("{}", rs::circuit_state::closed) == "closed");
    CHECK(fmt::format("{}", rs::circuit_state::open) == "open");
    CHECK(fmt::format("{}", rs::circuit_state::half_open) == "half_open");
    CHECK(fmt::format("{}", rs::circuit_state::isolated) == "isolated");
    CHECK(fmt::format("[{:>9}]", rs::circuit_state::open) == "[     open]");
}

TEST_CASE("a dead_letter_record formats as a summary or as its JSON form", "[fmt]") {
    using namespace std::chrono;
    rs::dead_letter_record r;
    r.id = "msg-42";
    r.source = "orders-api";
    r.payload = R"({"order":42})";
    r.kind = rs::failure_kind::timeout;
    r.cause = rs::failure_kind::error;
    r.hint = rs::transience::transient;
    r.message = "the attempt ran out of time";
    r.attempts = 3;
    r.elapsed = 2500ms;
    r.first_attempt = sys_days{year{2026} / 1 / 1} + 12h;
    r.last_attempt = r.first_attempt + 2500ms;
    CHECK(fmt::format("{}", r) ==
          "dead letter msg-42 from orders-api: timeout (cause error, transient) after 3 attempts in 2.5s at "
          "2026-01-01T12:00:02.500Z: the attempt ran out of time (payload 12 bytes)");
    CHECK(fmt::format("{:j}", r) == r.to_json());

    r.id_generated = true;
    r.cause = r.kind;
    r.hint = rs::transience::unknown;
    r.attempts = 1;
    r.error_category = "http";
    r.error_value = 503;
    r.error_message = "HTTP 503 Service Unavailable";
    r.exception_message = "boom";
    r.message.clear();
    CHECK(fmt::format("{}", r) ==
          "dead letter msg-42 (generated) from orders-api: timeout after 1 attempt in 2.5s at 2026-01-01T12:00:02.500Z: "
          "the call failed [error http:503 HTTP 503 Service Unavailable] [exception: boom] (payload 12 bytes)");
}

TEST_CASE("a bad format spec is refused", "[fmt]") {
    CHECK_THROWS_AS(fmt::format(fmt::runtime("{:s}"), rs::dead_letter_record{}), fmt::format_error);
    // The compile-time check refuses "{:x}" for a failure; at run time it is a format_error.
    CHECK_THROWS_AS(fmt::format(fmt::runtime("{:x}"), rs::failure{}), fmt::format_error);
    CHECK_THROWS_AS(fmt::format(fmt::runtime("{:s5}"), rs::failure{}), fmt::format_error);
}
