// SPDX-License-Identifier: MIT
//
// rate_limiter: options and validation, the token interval, lazy refill on manual_clock, burst,
// reservations with max_wait, deadlines, stop tokens (with the token given back), the policy in a
// resilient_call, events, allocation counts, and the snippets of docs/rate_limiter.md.
#include "support/allocations.hpp"
#include "support/catch.hpp"
#include "support/policy_helpers.hpp"

#include <resilience/circuit_breaker.hpp>
#include <resilience/rate_limiter.hpp>
#include <resilience/retry.hpp>
#include <resilience/resilient_call.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <type_traits>
#include <vector>

namespace rs = resilience;
using namespace std::chrono_literals;

namespace {

using resilience_test::invalid_argument_text;
using resilience_test::recorder;

// Virtual time whose sleeps do not move it: it records the requested wake-up times instead, so that one
// thread can stack several reservations at the same instant and read when each was due.
class frozen_clock {
public:
    frozen_clock() = default;
    frozen_clock(const frozen_clock&) = delete;
    frozen_clock& operator=(const frozen_clock&) = delete;

    [[nodiscard]] rs::time_point now() const noexcept { return now_; }
    bool sleep_until(rs::time_point t, std::stop_token stop = {}) {
        if (stop.stop_requested()) return false;
        if (during_next_sleep) {
            // Runs "while this caller sleeps", then reports the sleep as cancelled.
            auto hook = std::move(during_next_sleep);
            during_next_sleep = nullptr;
            hook();
            return false;
        }
        wakeups.push_back(t);
        return true;
    }
    template <class Pred>
    bool wait_until(std::unique_lock<std::mutex>&, std::condition_variable&, rs::time_point, Pred pred) {
        return pred();
    }
    [[nodiscard]] std::chrono::system_clock::time_point to_sys(rs::time_point) const noexcept { return {}; }
    void advance(rs::duration d) { now_ += d; }

    std::vector<rs::time_point> wakeups;
    std::function<void()> during_next_sleep;

private:
    rs::time_point now_ = rs::time_point{} + 1h;
};
static_assert(rs::clock<frozen_clock>);

using manual_limiter = rs::rate_limiter<rs::manual_clock>;
using manual_ctx = rs::call_context<rs::manual_clock, rs::null_listener>;

// Takes tokens until refused; returns how many were taken.
template <class L>
int drain(L& l) {
    int n = 0;
    while (l.try_acquire()) ++n;
    return n;
}

}  // namespace

// --- construction -----------------------------------------------------------------------------------------

TEST_CASE("rate_limiter: options defaults are valid and documented", "[rate_limiter]") {
    rs::rate_limiter_options o;
    CHECK(o.permits == 10);
    CHECK(o.per == 1s);
    CHECK(o.burst == 10);
    CHECK(o.max_wait == rs::duration::zero());
    CHECK(o.name.empty());
    CHECK_FALSE(o.validate().has_value());
    CHECK(o.interval() == 100ms);
}

TEST_CASE("rate_limiter: invalid options name the field and the range", "[rate_limiter][config]") {
    struct bad_case {
        rs::rate_limiter_options o;
        std::string_view field;
        std::string_view range;
    };
    const bad_case cases[] = {
        {{.permits = 0}, "rate_limiter_options.permits", "between 1 and 1000000"},
        {{.permits = 1'000'001}, "rate_limiter_options.permits", "between 1 and 1000000"},
        {{.per = 0s}, "rate_limiter_options.per", "between 1ms and 1h"},
        {{.per = -1s}, "rate_limiter_options.per", "between 1ms and 1h"},
        {{.per = 999us}, "rate_limiter_options.per", "between 1ms and 1h"},
        {{.per = 1h + 1ns}, "rate_limiter_options.per", "between 1ms and 1h"},
        {{.burst = 0}, "rate_limiter_options.burst", "between 1 and 1000000"},
        {{.burst = 1'000'001}, "rate_limiter_options.burst", "between 1 and 1000000"},
        {{.max_wait = -1ns}, "rate_limiter_options.max_wait", "between 0 and 1h"},
        {{.max_wait = 1h + 1ns}, "rate_limiter_options.max_wait", "between 0 and 1h"},
    };
    for (const auto& c : cases) {
        INFO("expected field " << std::string(c.field));
        auto e = c.o.validate();
        REQUIRE(e.has_value());
        CHECK(e->field == c.field);
        CHECK(e->message.find(c.field) != std::string_view::npos);
        CHECK(e->message.find(c.range) != std::string_view::npos);

        rs::manual_clock clk;
        const std::string text = invalid_argument_text([&] { manual_limiter l{c.o, clk}; });
        CHECK(text.find(std::string(c.field)) != std::string::npos);
        CHECK(text.find(std::string(c.range)) != std::string::npos);
        CHECK_THROWS_AS(rs::rate_limiter{c.o}, std::invalid_argument);
    }
}

TEST_CASE("rate_limiter: boundary values are accepted", "[rate_limiter][config]") {
    CHECK_FALSE(rs::rate_limiter_options{.permits = 1, .per = 1h, .burst = 1'000'000, .max_wait = 1h}.validate());
    CHECK_FALSE(rs::rate_limiter_options{.permits = 1'000'000, .per = 1ms, .burst = 1}.validate());
}

TEST_CASE("rate_limiter: the token interval is per / permits, rounded to the nearest nanosecond", "[rate_limiter]") {
    CHECK(rs::rate_limiter_options{.permits = 3, .per = 1s}.interval() == 333'333'333ns);
    CHECK(rs::rate_limiter_options{.permits = 3, .per = 2s}.interval() == 666'666'667ns);
    CHECK(rs::rate_limiter_options{.permits = 100, .per = 1min}.interval() == 600ms);
    CHECK(rs::rate_limiter_options{.permits = 1'000'000, .per = 1ms}.interval() == 1ns);
    rs::manual_clock clk;
    rs::rate_limiter l{{.permits = 4, .per = 1s}, clk};
    CHECK(l.interval() == 250ms);
}

TEST_CASE("rate_limiter: deduction, clock and identity", "[rate_limiter]") {
    static rs::rate_limiter limiter{{.permits = 100, .per = 1s, .burst = 20}};
    static_assert(std::is_same_v<decltype(limiter), rs::rate_limiter<rs::steady_clock>>);
    CHECK(limiter.options().burst == 20);

    rs::rate_limiter defaulted;
    CHECK(defaulted.options().permits == 10);

    rs::manual_clock clk;
    rs::rate_limiter l{{.name = "api"}, clk};
    static_assert(std::is_same_v<decltype(l), manual_limiter>);
    CHECK(&l.clock() == &clk);
    CHECK(l.options().name == "api");
    static_assert(!std::is_copy_constructible_v<manual_limiter>);
    static_assert(!std::is_move_constructible_v<manual_limiter>);
    static_assert(rs::policy<rs::rate_limiter<>>);
}

// --- the bucket -----------------------------------------------------------------------------------------

TEST_CASE("rate_limiter: the bucket starts full and refills lazily, one token per interval", "[rate_limiter][bucket]") {
    rs::manual_clock clk;
    rs::rate_limiter l{{.permits = 10, .per = 1s, .burst = 5}, clk};
    CHECK(l.available() == 5);
    CHECK(l.time_until_available() == rs::duration::zero());
    CHECK(drain(l) == 5);
    CHECK(l.available() == 0);
    CHECK(l.time_until_available() == 100ms);

    clk.advance(99ms);
    CHECK_FALSE(l.try_acquire());
    CHECK(l.time_until_available() == 1ms);
    clk.advance(1ms);
    CHECK(l.available() == 1);
    CHECK(l.try_acquire());
    CHECK_FALSE(l.try_acquire());

    clk.advance(250ms);  // two and a half intervals: two tokens, half of the next
    CHECK(l.available() == 2);
    CHECK(drain(l) == 2);
    CHECK(l.time_until_available() == 50ms);
    CHECK(clk.sleep_count() == 0);  // try_acquire never waits
}

TEST_CASE("rate_limiter: a long pause (a frozen Lambda) refills to burst, never beyond", "[rate_limiter][bucket]") {
    rs::manual_clock clk;
    rs::rate_limiter l{{.permits = 1000, .per = 1s, .burst = 3}, clk};
    CHECK(drain(l) == 3);
    clk.advance(15min);
    CHECK(l.available() == 3);
    CHECK(drain(l) == 3);
}

TEST_CASE("rate_limiter: the sustained rate over a long run is permits / per", "[rate_limiter][bucket]") {
    rs::manual_clock clk;
    rs::rate_limiter l{{.permits = 3, .per = 1s, .burst = 1}, clk};
    int taken = 0;
    for (int step = 0; step < 10'000; ++step) {  // 10 s in 1 ms steps, trying every step
        if (l.try_acquire()) ++taken;
        clk.advance(1ms);
    }
    // 1 at t = 0, then one every 333'333'333 ns: t = 0 .. 9.999 s holds 30 tokens.
    CHECK(taken == 30);
}

TEST_CASE("rate_limiter: try_acquire(n) takes n tokens at once", "[rate_limiter][bucket]") {
    rs::manual_clock clk;
    rs::rate_limiter l{{.permits = 10, .per = 1s, .burst = 4}, clk};
    CHECK(l.try_acquire(0));
    CHECK(l.available() == 4);
    CHECK_FALSE(l.try_acquire(5));  // more than the bucket can ever hold
    CHECK(l.available() == 4);
    CHECK(l.try_acquire(3));
    CHECK_FALSE(l.try_acquire(2));
    CHECK(l.available() == 1);  // the refused request took nothing
    CHECK(l.try_acquire(1));
    clk.advance(400ms);
    CHECK(l.try_acquire(4));
    CHECK(l.available() == 0);
}

// --- as a policy ----------------------------------------------------------------------------------------

TEST_CASE("rate_limiter: in a resilient_call, an empty bucket rejects with rate_limited and retry_after", "[rate_limiter][policy]") {
    rs::manual_clock clk;
    rs::rate_limiter l{{.name = "orders", .permits = 2, .per = 1s, .burst = 2}, clk};
    recorder rec;
    rs::resilient_call call{l, rec};
    static_assert(std::is_same_v<decltype(call)::clock_type, rs::manual_clock>);
    CHECK(&call.clock() == &clk);

    int runs = 0;
    auto body = [&] { return ++runs; };
    CHECK(call(body).has_value());
    CHECK(call(body).has_value());
    const auto events_before = rec.events.size();
    clk.advance(200ms);
    auto r = call(body);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == rs::failure_kind::rate_limited);
    CHECK(r.error().retry_after == 300ms);
    CHECK(r.error().attempts == 0);
    CHECK(r.error().elapsed == rs::duration::zero());
    CHECK(runs == 2);
    CHECK(l.rejected() == 1);

    REQUIRE(rec.events.size() == events_before + 2);  // the rejection, then the call's end
    CHECK(rec.events.back().type == rs::event_type::call_finished);
    const rs::event& e = rec.events[rec.events.size() - 2];
    CHECK(e.type == rs::event_type::rejected);
    CHECK(e.policy == "rate_limiter");
    CHECK(e.name == "orders");
    CHECK(e.kind == rs::failure_kind::rate_limited);
    CHECK(e.delay == 300ms);

    clk.advance(300ms);
    CHECK(call(body).has_value());
}

TEST_CASE("rate_limiter: with max_wait a caller waits on the clock for its token", "[rate_limiter][wait]") {
    rs::manual_clock clk;
    rs::rate_limiter l{{.permits = 10, .per = 1s, .burst = 1, .max_wait = 150ms}, clk};
    rs::resilient_call call{l};
    const rs::time_point t0 = clk.now();
    rs::time_point ran_at{};
    auto body = [&] {
        ran_at = clk.now();
        return 1;
    };
    CHECK(call(body).has_value());  // the burst token
    CHECK(clk.sleep_count() == 0);
    CHECK(call(body).has_value());  // reserved the next token, 100 ms away, and slept until it
    CHECK(ran_at - t0 == 100ms);
    CHECK(clk.sleep_count() == 1);
    CHECK(clk.total_slept() == 100ms);
    CHECK(l.waited() == 1);
    CHECK(l.rejected() == 0);
}

TEST_CASE("rate_limiter: reservations queue one interval apart; past max_wait is refused at once", "[rate_limiter][wait]") {
    frozen_clock clk;
    rs::rate_limiter l{{.permits = 10, .per = 1s, .burst = 1, .max_wait = 250ms}, clk};
    const rs::time_point t0 = clk.now();
    CHECK(l.acquire().has_value());  // burst
    CHECK(l.acquire().has_value());  // due at +100ms
    CHECK(l.acquire().has_value());  // due at +200ms
    auto r = l.acquire();            // would be due at +300ms: beyond max_wait
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == rs::failure_kind::rate_limited);
    CHECK(r.error().retry_after == 300ms);
    REQUIRE(clk.wakeups.size() == 2);
    CHECK(clk.wakeups[0] - t0 == 100ms);
    CHECK(clk.wakeups[1] - t0 == 200ms);
    CHECK(l.available() == 0);
    CHECK(l.time_until_available() == 300ms);  // the refusal reserved nothing
    CHECK(l.rejected() == 1);
    CHECK(l.waited() == 2);
}

TEST_CASE("rate_limiter: a token due at or after the deadline is refused without waiting", "[rate_limiter][wait][deadline]") {
    rs::manual_clock clk;
    rs::rate_limiter l{{.permits = 10, .per = 1s, .burst = 1, .max_wait = 1s}, clk};
    rs::resilient_call call{l};
    REQUIRE(call([] { return 1; }).has_value());

    rs::call_options opts;
    opts.deadline = clk.now() + 100ms;  // the next token is due exactly at the deadline: useless
    auto r = call([] { return 1; }, opts);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == rs::failure_kind::rate_limited);
    CHECK(r.error().retry_after == 100ms);
    CHECK(clk.sleep_count() == 0);
    CHECK(l.time_until_available() == 100ms);  // nothing reserved

    opts.deadline = clk.now() + 100ms + 1ns;  // due just before the deadline: wait for it
    auto ok = call([] { return 2; }, opts);
    REQUIRE(ok.has_value());
    CHECK(clk.total_slept() == 100ms);
}

TEST_CASE("rate_limiter: a call whose deadline has passed takes no token", "[rate_limiter][deadline]") {
    rs::manual_clock clk;
    rs::rate_limiter l{{.permits = 10, .per = 1s, .burst = 2}, clk};
    rs::resilient_call call{l};
    rs::call_options opts;
    opts.deadline = clk.now();
    auto r = call([] { return 1; }, opts);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == rs::failure_kind::deadline_exceeded);
    CHECK(l.available() == 2);
    CHECK(l.rejected() == 0);

    auto a = l.acquire(1, clk.now());
    REQUIRE_FALSE(a.has_value());
    CHECK(a.error().kind == rs::failure_kind::deadline_exceeded);
    CHECK(l.available() == 2);
}

TEST_CASE("rate_limiter: under a timeout, expiry is reported as `timeout`", "[rate_limiter][deadline]") {
    rs::manual_clock clk;
    rs::rate_limiter l{{.permits = 10, .per = 1s, .burst = 1}, clk};
    rs::call_options opts;
    rs::call_state state;
    rs::null_listener nl;
    manual_ctx ctx{&clk, &nl, &opts, &state, clk.now(), rs::deadline_source::timeout, 1};
    bool ran = false;
    auto r = l.execute(ctx, [&](manual_ctx&) {
        ran = true;
        return rs::result<int>(1);
    });
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == rs::failure_kind::timeout);
    CHECK_FALSE(ran);
    CHECK(state.start == clk.now());  // the limiter's clock read fixed the call's start
}

TEST_CASE("rate_limiter: a stopped caller does not wait and gets its token back", "[rate_limiter][wait][cancel]") {
    rs::manual_clock clk;
    rs::rate_limiter l{{.permits = 10, .per = 1s, .burst = 1, .max_wait = 1s}, clk};
    rs::resilient_call call{l};
    REQUIRE(call([] { return 1; }).has_value());
    std::stop_source stop;
    stop.request_stop();
    rs::call_options opts;
    opts.stop = stop.get_token();
    auto r = call([] { return 1; }, opts);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == rs::failure_kind::cancelled);
    CHECK(clk.total_slept() == rs::duration::zero());
    CHECK(l.time_until_available() == 100ms);  // the reservation was given back
    clk.advance(100ms);
    CHECK(l.try_acquire());
    CHECK_FALSE(l.try_acquire());
}

TEST_CASE("rate_limiter: the last reservation, when cancelled, is given back exactly", "[rate_limiter][wait][cancel]") {
    frozen_clock clk;
    rs::rate_limiter l{{.permits = 10, .per = 1s, .burst = 1, .max_wait = 1s}, clk};
    REQUIRE(l.acquire().has_value());  // burst
    REQUIRE(l.acquire().has_value());  // reserved +100ms (frozen clock: no time passes)
    std::stop_source stop;
    stop.request_stop();
    auto r = l.acquire(1, rs::no_deadline, stop.get_token());  // reserved +200ms, then cancelled
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == rs::failure_kind::cancelled);
    CHECK(l.time_until_available() == 200ms);  // the +200ms slot is free again
    REQUIRE(l.acquire().has_value());          // and the next caller gets it
    REQUIRE(clk.wakeups.size() == 2);
    CHECK(clk.wakeups[1] - clk.now() == 200ms);
}

TEST_CASE("rate_limiter: a cancelled reservation with a later one behind it is not given back", "[rate_limiter][wait][cancel]") {
    frozen_clock clk;
    rs::rate_limiter l{{.permits = 10, .per = 1s, .burst = 1, .max_wait = 1s}, clk};
    REQUIRE(l.acquire().has_value());  // burst
    std::optional<rs::result<void>> later;
    // While the first waiter sleeps for its +100ms token, a second caller reserves +200ms; then the
    // first is cancelled. Giving the first token back would hand +200ms out twice.
    clk.during_next_sleep = [&] { later.emplace(l.acquire()); };
    auto first = l.acquire();
    REQUIRE_FALSE(first.has_value());
    CHECK(first.error().kind == rs::failure_kind::cancelled);
    REQUIRE(later.has_value());
    REQUIRE(later->has_value());
    REQUIRE(clk.wakeups.size() == 1);
    CHECK(clk.wakeups[0] - clk.now() == 200ms);
    CHECK(l.time_until_available() == 300ms);  // the +100ms token is lost, not double-booked
}

TEST_CASE("rate_limiter: acquire(n) beyond burst is a permanent refusal", "[rate_limiter]") {
    rs::manual_clock clk;
    rs::rate_limiter l{{.permits = 10, .per = 1s, .burst = 2, .max_wait = 1s}, clk};
    auto r = l.acquire(3);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == rs::failure_kind::rate_limited);
    CHECK(r.error().hint == rs::transience::permanent);
    CHECK(l.available() == 2);
    CHECK(l.acquire(0).has_value());
    CHECK(l.acquire(2).has_value());
    CHECK(l.acquire(2).has_value());  // waited 200 ms for both
    CHECK(clk.total_slept() == 200ms);
}

TEST_CASE("rate_limiter: the happy path, the rejection and the wait allocate nothing", "[rate_limiter][alloc]") {
    rs::manual_clock clk;
    rs::rate_limiter l{{.permits = 1000, .per = 1s, .burst = 100, .max_wait = 10ms}, clk};
    rs::rate_limiter strict{{.permits = 1, .per = 1s, .burst = 1}, clk};
    rs::resilient_call call{l};
    rs::resilient_call strict_call{strict};
    int ok = 0;
    int limited = 0;
    // Allocations by any thread count (under TSan nothing is counted: n stays 0).
    const std::uint64_t before = resilience_test::all_allocations.load();
    for (int i = 0; i < 200; ++i) ok += call([&] { return i; }).has_value() ? 1 : 0;  // 100 waited
    for (int i = 0; i < 3; ++i) limited += strict_call([&] { return i; }).has_value() ? 0 : 1;
    const std::uint64_t n = resilience_test::all_allocations.load() - before;
    CHECK(n == 0);
    CHECK(ok == 200);
    CHECK(limited == 2);
    CHECK(l.waited() == 100);
}

// --- docs/rate_limiter.md snippets (the page quotes the code between the markers verbatim) -----------

TEST_CASE("docs/rate_limiter.md: testing on virtual time", "[rate_limiter][docs]") {
    // docs/rate_limiter.md: testing
    rs::manual_clock clock;
    rs::rate_limiter limiter{{.permits = 2, .per = 1s, .burst = 1, .max_wait = 1s}, clock};
    rs::resilient_call call{limiter};
    auto first = call([] { return 1; });   // the burst token: no wait
    auto second = call([] { return 2; });  // sleeps 500 ms of virtual time for the next token
    CHECK(first.has_value());
    CHECK(second.has_value());
    CHECK(clock.total_slept() == 500ms);

    rs::rate_limiter strict{{.permits = 1, .per = 1s, .burst = 1}, clock};  // max_wait 0: never waits
    CHECK(strict.try_acquire());
    auto refused = strict.acquire();
    CHECK(refused.error().kind == rs::failure_kind::rate_limited);
    CHECK(refused.error().retry_after == 1s);  // the next token is a second away
    // docs/rate_limiter.md: end
}

// --- composition ----------------------------------------------------------------------------------------

TEST_CASE("rate_limiter inside a circuit breaker: rate_limited is not a failure of the dependency", "[rate_limiter][composition]") {
    rs::manual_clock clk;
    rs::circuit_breaker breaker{{.failure_threshold = 1, .open_duration = 10s}, clk};
    rs::rate_limiter limiter{{.permits = 1, .per = 1s, .burst = 1}, clk};
    rs::resilient_call call{breaker, limiter};
    REQUIRE(call([] { return 1; }).has_value());
    for (int i = 0; i < 5; ++i) {
        auto r = call([] { return 1; });
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::rate_limited);
    }
    CHECK(breaker.state() == rs::circuit_state::closed);
    clk.advance(1s);
    auto bad = call([]() -> rs::result<int> { return rs::failure::of(rs::failure_kind::error, "down"); });
    CHECK_FALSE(bad.has_value());
    CHECK(breaker.state() == rs::circuit_state::open);  // the breaker does count real failures
}

TEST_CASE("rate_limiter inside a retry: the retry waits for the limiter's retry_after", "[rate_limiter][composition]") {
    rs::manual_clock clk;
    rs::rate_limiter limiter{{.permits = 10, .per = 1s, .burst = 1}, clk};
    rs::resilient_call call{rs::retry{{.max_attempts = 3}}, limiter};
    REQUIRE(call([] { return 1; }).has_value());  // takes the only token
    const rs::time_point t0 = clk.now();
    rs::time_point ran_at{};
    auto r = call([&] {
        ran_at = clk.now();
        return 2;
    });
    REQUIRE(r.has_value());
    CHECK(ran_at - t0 >= 100ms);  // not before the token was due
    CHECK(limiter.rejected() == 1);
}
