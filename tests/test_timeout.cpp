// SPDX-License-Identifier: MIT
#include "support/allocations.hpp"
#include "support/catch.hpp"

#include <resilience/resilient_call.hpp>
#include <resilience/testing.hpp>
#include <resilience/timeout.hpp>
#if __has_include(<resilience/retry.hpp>)
#include <resilience/retry.hpp>
#define RESILIENCE_TEST_HAVE_RETRY 1
#endif

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

namespace rs = resilience;
namespace rt = resilience::testing;
using namespace std::chrono_literals;

// Counts every thread's allocations, so that tests can assert that a path allocates nothing. Under
// ThreadSanitizer nothing is counted and the allocation tests say they were skipped.
using resilience_test::all_allocations;

static_assert(rs::policy<rs::timeout>);
static_assert(std::is_copy_constructible_v<rs::timeout>);

TEST_CASE("timeout_options validation names the field and the range", "[timeout][config]") {
    SECTION("valid") {
        CHECK_FALSE(rs::timeout_options{}.validate());
        CHECK_FALSE((rs::timeout_options{.duration = 1ns}.validate()));
        CHECK_FALSE((rs::timeout_options{.duration = 2s, .min_remaining = 1999ms}.validate()));
    }
    SECTION("duration must be positive") {
        for (auto d : {std::chrono::nanoseconds{0}, std::chrono::nanoseconds{-1}, std::chrono::nanoseconds(-5s)}) {
            auto e = rs::timeout_options{.duration = d}.validate();
            REQUIRE(e);
            CHECK(std::string(e->field) == "timeout_options.duration");
            CHECK(std::string(e->message) == "timeout_options.duration must be greater than zero");
            CHECK_THROWS_AS(rs::timeout{d}, std::invalid_argument);
        }
    }
    SECTION("min_remaining must be in [0, duration)") {
        for (auto m : {std::chrono::nanoseconds(-1), std::chrono::nanoseconds(1s), std::chrono::nanoseconds(2s)}) {
            auto e = rs::timeout_options{.duration = 1s, .min_remaining = m}.validate();
            REQUIRE(e);
            CHECK(std::string(e->field) == "timeout_options.min_remaining");
            CHECK(std::string(e->message).find("at least zero and less than timeout_options.duration") !=
                  std::string::npos);
        }
    }
    SECTION("the exception text names the field") {
        try {
            rs::timeout t{{.duration = 1s, .min_remaining = 1s}};
            FAIL("no exception");
        } catch (const std::invalid_argument& e) {
            CHECK(std::string(e.what()).find("timeout_options.min_remaining") != std::string::npos);
        }
    }
    SECTION("make_timeout returns the error instead of throwing") {
        auto bad = rs::make_timeout({.duration = 0s});
        REQUIRE_FALSE(bad);
        CHECK(bad.error().kind == rs::failure_kind::error);
        CHECK(bad.error().error == std::make_error_code(std::errc::invalid_argument));
        CHECK(bad.error().hint == rs::transience::permanent);
        CHECK(std::string(bad.error().message) == "timeout_options.duration must be greater than zero");

        auto good = rs::make_timeout({.duration = 3s, .min_remaining = 1s});
        REQUIRE(good);
        CHECK(good->options().duration == 3s);
        CHECK(good->options().min_remaining == 1s);
    }
}

TEST_CASE("timeout narrows the deadline seen by the callable", "[timeout]") {
    rt::harness h;
    rt::script<int> s{h.clock(), {rt::returns(7, 10ms)}};
    const auto t0 = h.clock().now();

    auto r = h.compose(rs::timeout{500ms})(s);

    REQUIRE(r);
    CHECK(*r == 7);
    REQUIRE(s.calls() == 1);
    CHECK(s.deadlines_seen() == std::vector<rs::time_point>{t0 + 500ms});
    CHECK(s.remaining_seen() == std::vector<rs::duration>{500ms});
    CHECK(h.events().count(rs::event_type::timeout) == 0);
}

TEST_CASE("timeout never extends a tighter deadline", "[timeout]") {
    rt::harness h;
    const auto t0 = h.clock().now();

    SECTION("the caller's deadline wins, and running out of it is deadline_exceeded") {
        rt::script<int> s{h.clock(), {rt::returns(1, 200ms)}};
        auto r = h.compose(rs::timeout{1s})(s, h.deadline_in(100ms));
        CHECK(s.deadlines_seen() == std::vector<rs::time_point>{t0 + 100ms});
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == rs::failure_kind::deadline_exceeded);
        REQUIRE(r.last_value());
        CHECK(*r.last_value() == 1);
    }
    SECTION("a tighter enclosing timeout wins, and running out of it is timeout") {
        rt::script<int> s{h.clock(), {rt::returns(1, 150ms)}};
        auto r = h.compose(rs::timeout{100ms}, rs::timeout{1s})(s, h.deadline_in(10s));
        CHECK(s.deadlines_seen() == std::vector<rs::time_point>{t0 + 100ms});
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == rs::failure_kind::timeout);
        // Both timeouts see the late return; the inner one does not own the deadline, yet reports it.
        CHECK(h.events().count(rs::event_type::timeout, "timeout") == 2);
    }
    SECTION("a tighter inner timeout narrows further") {
        rt::script<int> s{h.clock(), {rt::returns(1, 1ms)}};
        auto r = h.compose(rs::timeout{1s}, rs::timeout{100ms})(s, h.deadline_in(10s));
        REQUIRE(r);
        CHECK(s.deadlines_seen() == std::vector<rs::time_point>{t0 + 100ms});
    }
    SECTION("a huge duration saturates instead of overflowing") {
        rt::script<int> s{h.clock(), {rt::returns(1, 1ms)}};
        auto r = h.compose(rs::timeout{std::chrono::nanoseconds::max()})(s);
        REQUIRE(r);
        CHECK(s.deadlines_seen() == std::vector<rs::time_point>{rs::no_deadline});

        rt::script<int> s2{h.clock(), {rt::returns(1, 1ms)}};
        auto call_opts = h.deadline_in(3s);
        auto r2 = h.compose(rs::timeout{std::chrono::nanoseconds::max()})(s2, call_opts);
        REQUIRE(r2);
        CHECK(s2.deadlines_seen() == std::vector<rs::time_point>{call_opts.deadline});
    }
}

TEST_CASE("timeout refuses to start work that cannot finish", "[timeout]") {
    rt::harness h;
    rt::script<int> s{h.clock(), {rt::returns(1)}};

    SECTION("less than min_remaining left of the caller's deadline") {
        auto r = h.compose(rs::timeout{{.duration = 1s, .min_remaining = 100ms}})(s, h.deadline_in(99ms));
        CHECK(s.calls() == 0);
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == rs::failure_kind::deadline_exceeded);
        CHECK(r.error().hint == rs::transience::permanent);
        CHECK(r.error().attempts == 0);
        auto ev = h.events().of_type(rs::event_type::timeout);
        REQUIRE(ev.size() == 1);
        CHECK(ev[0].policy == "timeout");
        CHECK(ev[0].kind == rs::failure_kind::deadline_exceeded);
        REQUIRE(ev[0].error);
        CHECK(ev[0].error->kind == rs::failure_kind::deadline_exceeded);
        CHECK(h.events().count(rs::event_type::attempt_started) == 0);
    }
    SECTION("exactly min_remaining left is enough") {
        auto r = h.compose(rs::timeout{{.duration = 1s, .min_remaining = 100ms}})(s, h.deadline_in(100ms));
        CHECK(s.calls() == 1);
        CHECK(r);
    }
    SECTION("an enclosing timeout's budget is reported as timeout") {
        auto r = h.compose(rs::timeout{50ms}, rs::timeout{{.duration = 1s, .min_remaining = 60ms}})(s);
        CHECK(s.calls() == 0);
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == rs::failure_kind::timeout);
    }
    SECTION("a deadline already passed refuses even with min_remaining 0") {
        auto opts = h.deadline_in(10ms);
        h.clock().advance(10ms);
        auto r = h.compose(rs::timeout{1s})(s, opts);
        CHECK(s.calls() == 0);
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == rs::failure_kind::deadline_exceeded);
    }
}

TEST_CASE("a late return is a timeout failure that keeps the value", "[timeout]") {
    rt::harness h;

    SECTION("late success") {
        rt::script<std::string> s{h.clock(), {rt::returns(std::string("late answer"), 600ms)}};
        auto r = h.compose(rs::timeout{500ms})(s);
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == rs::failure_kind::timeout);
        CHECK(r.error().cause == rs::failure_kind::timeout);
        CHECK(r.error().attempts == 1);
        CHECK(r.error().elapsed == 600ms);
        REQUIRE(r.last_value());
        CHECK(*r.last_value() == "late answer");
        auto ev = h.events().of_type(rs::event_type::timeout);
        REQUIRE(ev.size() == 1);
        CHECK(ev[0].delay == 100ms);  // how late
        CHECK(ev[0].kind == rs::failure_kind::timeout);
    }
    SECTION("a return exactly at the deadline is on time") {
        rt::script<int> s{h.clock(), {rt::returns(5, 500ms)}};
        auto r = h.compose(rs::timeout{500ms})(s);
        REQUIRE(r);
        CHECK(*r == 5);
    }
    SECTION("one nanosecond late is late") {
        rt::script<int> s{h.clock(), {rt::returns(5, 500ms + 1ns)}};
        auto r = h.compose(rs::timeout{500ms})(s);
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == rs::failure_kind::timeout);
    }
    SECTION("a late failure is relabelled, its cause and details kept") {
        rt::script<int> s{h.clock(), {rt::fails(std::errc::connection_reset, 700ms)}};
        auto r = h.compose(rs::timeout{500ms})(s);
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == rs::failure_kind::timeout);
        CHECK(r.error().cause == rs::failure_kind::error);
        CHECK(r.error().error == std::make_error_code(std::errc::connection_reset));
        CHECK(r.last_value() == nullptr);
    }
    SECTION("an on-time failure is left alone") {
        rt::script<int> s{h.clock(), {rt::fails(std::errc::connection_reset, 100ms)}};
        auto r = h.compose(rs::timeout{500ms})(s);
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == rs::failure_kind::error);
        CHECK(h.events().count(rs::event_type::timeout) == 0);
    }
    SECTION("late void call") {
        rt::script<void> s{h.clock(), {rt::succeeds(2s)}};
        rs::result<void> r = h.compose(rs::timeout{1s})(s);
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == rs::failure_kind::timeout);
    }
    SECTION("a late return under the caller's deadline is deadline_exceeded") {
        rt::script<int> s{h.clock(), {rt::returns(3, 2s)}};
        auto r = h.compose(rs::timeout{5s})(s, h.deadline_in(1s));
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == rs::failure_kind::deadline_exceeded);
        REQUIRE(r.last_value());
        CHECK(*r.last_value() == 3);
    }
}

TEST_CASE("the attempt's stop_requested turns true at the narrowed deadline", "[timeout]") {
    rs::manual_clock clock;
    rs::resilient_call call{rs::timeout{100ms}, clock};
    std::vector<bool> seen;
    auto r = call([&](const rs::attempt& a) {
        seen.push_back(a.stop_requested());
        clock.advance(99ms);
        seen.push_back(a.stop_requested());
        clock.advance(1ms);
        seen.push_back(a.stop_requested());  // at the deadline: expired
        CHECK(a.remaining() == 0ns);
        CHECK_FALSE(a.stop_token().stop_requested());  // the caller's token is untouched
        return 1;
    });
    CHECK(seen == std::vector<bool>{false, false, true});
    CHECK(r);  // returned exactly at the deadline: on time
}

TEST_CASE("a cooperative callable that honours remaining() fails in time", "[timeout]") {
    rt::harness h;
    rt::script<int> s{h.clock(), {rt::returns(1, 10s)}, rt::script_options{.honour_deadline = true}};
    const auto t0 = h.clock().now();
    auto r = h.compose(rs::timeout{250ms})(s);
    REQUIRE_FALSE(r);
    // The client gave up at the deadline (not late): the failure is its own timed_out error.
    CHECK(r.error().kind == rs::failure_kind::error);
    CHECK(r.error().error == std::make_error_code(std::errc::timed_out));
    CHECK(h.clock().now() == t0 + 250ms);
}

TEST_CASE("timeout works on the steady clock without a listener", "[timeout]") {
    rs::resilient_call call{rs::timeout{10s}};
    auto r = call([](const rs::attempt& a) {
        CHECK(a.has_deadline());
        CHECK(a.remaining() <= 10s);
        CHECK(a.remaining() > 0s);
        return 3;
    });
    REQUIRE(r);
    CHECK(*r == 3);
}

TEST_CASE("timeout allocates nothing", "[timeout][alloc]") {
    if (!RESILIENCE_TEST_COUNTS_ALLOCATIONS) {
        WARN("allocation counting is off under ThreadSanitizer: skipped");
        return;
    }
    rs::manual_clock clock;
    rs::resilient_call call{rs::timeout{500ms}, rs::timeout{{.duration = 1s, .min_remaining = 10ms}}, clock};
    rs::call_options opts;
    opts.deadline = clock.now() + 2s;

    auto before = all_allocations.load();
    auto ok = call([](const rs::attempt&) { return 1; }, opts);
    auto late = call([&](const rs::attempt&) { clock.advance(600ms); return 2; }, opts);
    auto refused = call([](const rs::attempt&) { return 3; }, rs::call_options{.deadline = clock.now() + 1ms});
    auto after = all_allocations.load();

    CHECK(after == before);
    // The counter does count: a deliberate allocation shows up.
    resilience_test::allocate_once();
    CHECK(all_allocations.load() == after + 1);
    CHECK(ok);
    CHECK_FALSE(late);
    CHECK_FALSE(refused);
}

TEST_CASE("one timeout composition used from many threads", "[timeout][concurrency]") {
    rs::manual_clock clock;
    rs::resilient_call call{rs::timeout{1s}, clock};
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 2000; ++i) {
                auto r = call([](const rs::attempt& a) { return a.remaining() > 0ns ? 1 : 0; });
                if (r && *r == 1) ok.fetch_add(1, std::memory_order_relaxed);
            }
        });
    }
    for (auto& t : threads) t.join();
    CHECK(ok.load() == 8 * 2000);
}

#if defined(RESILIENCE_TEST_HAVE_RETRY)
TEST_CASE("timeout outside retry is the overall budget", "[timeout][retry]") {
    rt::harness h;
    const auto t0 = h.clock().now();
    rt::script<int> s{h.clock(), {rt::fails(std::errc::connection_reset, 300ms)}};
    auto call = h.compose(rs::timeout{1s}, rs::retry{{.max_attempts = 10, .backoff = rs::constant_backoff{100ms}}});

    auto r = call(s);

    // Attempts at 0, 400 and 800 ms share one deadline; the third returns at 1100 ms, too late for
    // another retry.
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == rs::failure_kind::timeout);
    CHECK(r.error().cause == rs::failure_kind::error);
    CHECK(r.error().attempts == 3);
    CHECK(s.deadlines_seen() == std::vector<rs::time_point>{t0 + 1s, t0 + 1s, t0 + 1s});
    CHECK(s.remaining_seen() == std::vector<rs::duration>{1s, 600ms, 200ms});
    CHECK(s.attempts_seen() == std::vector<std::uint32_t>{1, 2, 3});
    CHECK(h.events().count(rs::event_type::retry_scheduled) == 2);
}

TEST_CASE("timeout inside retry is per attempt", "[timeout][retry]") {
    rt::harness h;
    const auto t0 = h.clock().now();
    rt::script<int> s{h.clock(), {rt::returns(1, 300ms), rt::returns(2, 300ms), rt::returns(3, 50ms)}};
    auto call = h.compose(rs::retry{{.max_attempts = 3, .backoff = rs::constant_backoff{100ms}}}, rs::timeout{200ms});

    auto r = call(s);

    // Each attempt gets a fresh 200 ms; the two late answers are timeouts, which retry retries.
    REQUIRE(r);
    CHECK(*r == 3);
    CHECK(s.deadlines_seen() == std::vector<rs::time_point>{t0 + 200ms, t0 + 600ms, t0 + 1000ms});
    CHECK(s.remaining_seen() == std::vector<rs::duration>{200ms, 200ms, 200ms});
    CHECK(h.events().count(rs::event_type::timeout, "timeout") == 2);
    CHECK(h.events().count(rs::event_type::retry_scheduled) == 2);
    auto retries = h.events().of_type(rs::event_type::retry_scheduled);
    REQUIRE(retries[0].error);
    CHECK(retries[0].error->kind == rs::failure_kind::timeout);
}

TEST_CASE("per-attempt timeouts never extend the caller's deadline", "[timeout][retry]") {
    rt::harness h;
    const auto t0 = h.clock().now();
    rt::script<int> s{h.clock(), {rt::fails(std::errc::connection_reset, 100ms)}};
    auto call = h.compose(rs::timeout{1s}, rs::retry{{.max_attempts = 10, .backoff = rs::constant_backoff{100ms}}},
                          rs::timeout{400ms});

    auto r = call(s, h.deadline_in(700ms));

    // Attempts start at 0, 200, 400 and 600 ms: their own 400 ms is cut to the caller's 700 ms once it
    // would reach past it.
    CHECK(s.deadlines_seen() == std::vector<rs::time_point>{t0 + 400ms, t0 + 600ms, t0 + 700ms, t0 + 700ms});
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == rs::failure_kind::deadline_exceeded);
    CHECK(r.error().cause == rs::failure_kind::error);
    CHECK(r.error().attempts == 4);
}

TEST_CASE("a per-attempt timeout's refusal ends the retries", "[timeout][retry]") {
    rt::harness h;
    rt::script<int> s{h.clock(), {rt::fails(std::errc::connection_reset, 100ms)}};
    auto call = h.compose(rs::retry{{.max_attempts = 10, .backoff = rs::constant_backoff{100ms}}},
                          rs::timeout{{.duration = 300ms, .min_remaining = 150ms}});

    auto r = call(s, h.deadline_in(500ms));

    // Attempt 3 would start at 400 ms with 100 ms left: refused, and not retried (nothing else fits).
    CHECK(s.calls() == 2);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == rs::failure_kind::deadline_exceeded);
    CHECK(r.error().hint == rs::transience::permanent);
    CHECK(r.error().attempts == 2);
    CHECK(h.clock().now() == h.clock().start() + 400ms);
}
#endif
