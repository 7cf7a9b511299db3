// SPDX-License-Identifier: MIT
//
// The dead-letter policy outermost in compositions of the library's real policies (retry, timeout,
// circuit breaker, bulkhead, rate limiter), on virtual time: exactly one record per failed call, with
// the kind and attempts the caller sees, and none for successes -- for every way a call can fail.
#include "support/catch.hpp"

#include <resilience/backoff.hpp>
#include <resilience/bulkhead.hpp>
#include <resilience/circuit_breaker.hpp>
#include <resilience/clock.hpp>
#include <resilience/dead_letter.hpp>
#include <resilience/rate_limiter.hpp>
#include <resilience/resilient_call.hpp>
#include <resilience/retry.hpp>
#include <resilience/sinks/memory_sink.hpp>
#include <resilience/timeout.hpp>

#include <string>
#include <system_error>

namespace rs = resilience;
using namespace std::chrono_literals;

namespace {

rs::failure transient_error() {
    return rs::failure::from_error(std::make_error_code(std::errc::connection_reset), rs::transience::transient, "reset");
}

// The record the sink got for the last call must describe the failure the caller got.
void check_record_matches(const rs::memory_sink& sink, std::size_t expected_count, const rs::failure& f,
                          const std::string& id) {
    auto recs = sink.records();
    REQUIRE(recs.size() == expected_count);
    const auto& rec = recs.back();
    CHECK(rec.id == id);
    CHECK(rec.kind == f.kind);
    CHECK(rec.cause == f.cause);
    CHECK(rec.attempts == f.attempts);
    CHECK(rec.elapsed == f.elapsed);
}

}  // namespace

TEST_CASE("integration: error after retries") {
    rs::manual_clock clk;
    rs::memory_sink sink;
    rs::resilient_call call{rs::dead_letter{sink}, rs::retry{{.max_attempts = 4, .backoff = rs::constant_backoff{10ms}}}, clk};
    int calls = 0;
    auto r = call([&]() -> rs::result<int> { ++calls; clk.advance(5ms); return transient_error(); }, {.id = "e"});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == rs::failure_kind::error);
    CHECK(r.error().attempts == 4);
    CHECK(calls == 4);
    check_record_matches(sink, 1, r.error(), "e");
    CHECK(sink.records()[0].elapsed == 4 * 5ms + 3 * 10ms);

    auto ok = call([&] { return 1; }, {.id = "fine"});
    CHECK(ok.has_value());
    CHECK(sink.size() == 1);
}

TEST_CASE("integration: timeout (overall budget around the retry)") {
    rs::manual_clock clk;
    rs::memory_sink sink;
    rs::resilient_call call{rs::dead_letter{sink}, rs::timeout{100ms},
                            rs::retry{{.max_attempts = 5, .backoff = rs::constant_backoff{10ms}}}, clk};
    int calls = 0;
    auto r = call([&]() -> rs::result<int> { ++calls; clk.advance(60ms); return transient_error(); }, {.id = "t"});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == rs::failure_kind::timeout);
    CHECK(r.error().attempts == static_cast<std::uint32_t>(calls));
    check_record_matches(sink, 1, r.error(), "t");
}

TEST_CASE("integration: deadline_exceeded (the caller's deadline)") {
    rs::manual_clock clk;
    rs::memory_sink sink;
    rs::resilient_call call{rs::dead_letter{sink}, rs::timeout{1s}, rs::retry{{.max_attempts = 3}}, clk};
    int calls = 0;
    auto r = call([&] { return ++calls; }, {.deadline = clk.now() - 1ms, .id = "d"});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == rs::failure_kind::deadline_exceeded);
    CHECK(calls == 0);
    check_record_matches(sink, 1, r.error(), "d");
    CHECK(sink.records()[0].attempts == 0);
}

TEST_CASE("integration: circuit_open") {
    rs::manual_clock clk;
    rs::memory_sink sink;
    rs::circuit_breaker<rs::manual_clock> breaker{{.failure_threshold = 2, .open_duration = 30s}, clk};
    rs::resilient_call call{rs::dead_letter{sink}, breaker};
    for (int i = 0; i < 2; ++i) {
        auto r = call([]() -> rs::result<int> { return transient_error(); }, {.id = "trip"});
        CHECK(r.error().kind == rs::failure_kind::error);
    }
    CHECK(sink.size() == 2);
    int calls = 0;
    auto r = call([&] { return ++calls; }, {.id = "o"});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == rs::failure_kind::circuit_open);
    CHECK(calls == 0);
    check_record_matches(sink, 3, r.error(), "o");
    CHECK(sink.records().back().attempts == 0);
}

TEST_CASE("integration: bulkhead_full") {
    rs::manual_clock clk;
    rs::memory_sink sink;
    rs::bulkhead<rs::manual_clock> pool{{.max_concurrent = 1}, clk};
    rs::resilient_call call{rs::dead_letter{sink}, pool};
    rs::result<int> inner = 0;
    // The outer call holds the only slot while a second call tries to get in.
    auto outer = call([&] {
        inner = call([] { return 2; }, {.id = "b"});
        return 1;
    }, {.id = "holder"});
    CHECK(outer.has_value());
    REQUIRE_FALSE(inner.has_value());
    CHECK(inner.error().kind == rs::failure_kind::bulkhead_full);
    check_record_matches(sink, 1, inner.error(), "b");
}

TEST_CASE("integration: rate_limited") {
    rs::manual_clock clk;
    rs::memory_sink sink;
    rs::rate_limiter<rs::manual_clock> limiter{{.permits = 1, .per = 1s, .burst = 1}, clk};
    rs::resilient_call call{rs::dead_letter{sink}, limiter};
    CHECK(call([] { return 1; }, {.id = "first"}).has_value());
    auto r = call([] { return 1; }, {.id = "l"});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == rs::failure_kind::rate_limited);
    check_record_matches(sink, 1, r.error(), "l");
    clk.advance(1s);
    CHECK(call([] { return 1; }, {.id = "later"}).has_value());
    CHECK(sink.size() == 1);
}

TEST_CASE("integration: the full stack -- one record per failed call, none per success") {
    rs::manual_clock clk;
    rs::memory_sink sink;
    rs::circuit_breaker<rs::manual_clock> breaker{{.failure_threshold = 3, .open_duration = 10s}, clk};
    rs::bulkhead<rs::manual_clock> pool{{.max_concurrent = 4}, clk};
    rs::rate_limiter<rs::manual_clock> limiter{{.permits = 1000, .per = 1s, .burst = 1000}, clk};
    int failed_calls = 0;
    for (int i = 0; i < 40; ++i) {
        rs::resilient_call call{
            rs::dead_letter{sink},
            rs::timeout{500ms},
            rs::retry{{.max_attempts = 2, .backoff = rs::constant_backoff{5ms}, .max_retry_after = 1s}},
            breaker,
            pool,
            limiter,
            rs::timeout{50ms},
        };
        const bool dependency_down = i >= 10 && i < 20;
        std::string id = "call-" + std::to_string(i);
        auto r = call([&]() -> rs::result<int> {
            clk.advance(2ms);
            if (dependency_down) return transient_error();
            return i;
        }, {.id = id});
        if (!r) {
            ++failed_calls;
            CHECK(sink.records().back().id == id);
            CHECK(sink.records().back().kind == r.error().kind);
            CHECK(sink.records().back().attempts == r.error().attempts);
        }
        CHECK(sink.size() == static_cast<std::size_t>(failed_calls));
        clk.advance(1s);
    }
    CHECK(failed_calls >= 10);
    bool saw_open = false;
    for (const auto& rec : sink.records()) saw_open = saw_open || rec.kind == rs::failure_kind::circuit_open;
    CHECK(saw_open);
}
