// SPDX-License-Identifier: MIT
//
// context.hpp: call_options, attempt (what the callable sees) and call_context (what policies see).
#include "support/catch.hpp"

#include <resilience/context.hpp>

#include <atomic>
#include <chrono>
#include <stop_token>
#include <string>
#include <type_traits>
#include <vector>

namespace rs = resilience;
using namespace std::chrono_literals;

namespace Catch {
template <>
struct StringMaker<rs::time_point> {
    static std::string convert(rs::time_point t) {
        if (t == rs::no_deadline) return "no_deadline";
        if (t == rs::time_point::min()) return "time_point::min()";
        return std::to_string(t.time_since_epoch().count()) + "ns";
    }
};
template <>
struct StringMaker<rs::failure_kind> {
    static std::string convert(rs::failure_kind k) { return std::string(rs::to_string(k)); }
};
}  // namespace Catch

namespace {

rs::time_point manual_now(const void* c) { return static_cast<const rs::manual_clock*>(c)->now(); }

// A copyable clock that counts its reads, to prove what does and does not read the clock.
struct counting_clock {
    rs::manual_clock* inner;
    std::atomic<int>* reads;
    [[nodiscard]] rs::time_point now() const noexcept {
        reads->fetch_add(1);
        return inner->now();
    }
    bool sleep_until(rs::time_point t, std::stop_token st = {}) { return inner->sleep_until(t, st); }
    template <class P>
    bool wait_until(std::unique_lock<std::mutex>& lk, std::condition_variable& cv, rs::time_point t, P p) {
        return inner->wait_until(lk, cv, t, p);
    }
    [[nodiscard]] std::chrono::system_clock::time_point to_sys(rs::time_point t) const noexcept { return inner->to_sys(t); }
};
static_assert(rs::clock<counting_clock>);

struct recorded {
    rs::event_type type;
    std::string policy;
    std::string call_id;
    rs::time_point at;
    std::uint32_t attempt;
    rs::failure_kind kind;
};

struct recording_listener {
    std::vector<recorded> events;
    void on_event(const rs::event& e) {
        events.push_back({e.type, std::string(e.policy), std::string(e.call_id), e.at, e.attempt, e.kind});
    }
};

}  // namespace

TEST_CASE("call_options: the default is no deadline, no id, no cancellation", "[context]") {
    rs::call_options o;
    CHECK(o.deadline == rs::no_deadline);
    CHECK(o.id.empty());
    CHECK(o.payload.empty());
    CHECK(o.source.empty());
    CHECK_FALSE(o.stop.stop_possible());
    CHECK_FALSE(o.stop.stop_requested());

    rs::call_options d{.deadline = rs::time_point{} + 5s, .id = "req-1", .source = "orders.get"};
    CHECK(d.deadline == rs::time_point{} + 5s);
    CHECK(d.id == "req-1");
    CHECK(d.source == "orders.get");
}

TEST_CASE("attempt: deadline arithmetic on a manual clock", "[context][attempt]") {
    rs::manual_clock clk;
    std::stop_token none;
    const auto t0 = clk.now();
    rs::attempt a{3, t0 + 2s, &none, &clk, &manual_now};

    CHECK(a.number() == 3u);
    CHECK(a.deadline() == t0 + 2s);
    CHECK(a.has_deadline());
    CHECK(a.now() == t0);
    CHECK(a.remaining() == 2s);
    CHECK_FALSE(a.expired());
    CHECK_FALSE(a.stop_requested());

    clk.advance(1500ms);
    CHECK(a.now() == t0 + 1500ms);
    CHECK(a.remaining() == 500ms);
    CHECK_FALSE(a.expired());

    clk.advance(500ms);  // exactly at the deadline: expired, nothing remains
    CHECK(a.remaining() == 0ns);
    CHECK(a.expired());
    CHECK(a.stop_requested());

    clk.advance(1h);  // never negative
    CHECK(a.remaining() == 0ns);
    CHECK(a.expired());
}

TEST_CASE("attempt: without a deadline", "[context][attempt]") {
    rs::manual_clock clk;
    std::stop_token none;
    rs::attempt a{1, rs::no_deadline, &none, &clk, &manual_now};
    CHECK_FALSE(a.has_deadline());
    CHECK(a.remaining() == rs::duration::max());
    clk.set(rs::no_deadline - 1ns);  // even at the end of time
    CHECK_FALSE(a.expired());
    CHECK(a.remaining() == rs::duration::max());
    CHECK_FALSE(a.stop_requested());
}

TEST_CASE("attempt: stop_requested follows the caller's token", "[context][attempt]") {
    rs::manual_clock clk;
    std::stop_source src;
    std::stop_token tok = src.get_token();
    rs::attempt a{1, clk.now() + 1h, &tok, &clk, &manual_now};
    CHECK(&a.stop_token() == &tok);
    CHECK_FALSE(a.stop_requested());
    src.request_stop();
    CHECK(a.stop_requested());
    CHECK(a.stop_token().stop_requested());
    CHECK_FALSE(a.expired());  // cancellation is not expiry
}

TEST_CASE("call_context: now() fixes the call's start lazily", "[context][call_context]") {
    rs::manual_clock clk;
    rs::null_listener nl;
    rs::call_options opts;
    rs::call_state state;
    rs::call_context<rs::manual_clock, rs::null_listener> ctx{&clk, &nl, &opts, &state};

    CHECK(state.start == rs::time_point::min());  // nothing read the clock yet
    CHECK(state.attempts == 0u);
    clk.advance(3s);
    const auto t1 = clk.now();
    CHECK(ctx.now() == t1);
    CHECK(state.start == t1);

    clk.advance(2s);
    CHECK(ctx.now() == t1 + 2s);
    CHECK(state.start == t1);  // fixed by the first read only
    CHECK(ctx.start() == t1);

    SECTION("copies share the call state") {
        auto inner = ctx;
        inner.deadline = t1 + 10s;
        ++inner.state->attempts;
        CHECK(state.attempts == 1u);
        CHECK(ctx.deadline == rs::no_deadline);  // but not the narrowing
    }
}

TEST_CASE("call_context: start() reads the clock when nothing has", "[context][call_context]") {
    rs::manual_clock clk;
    rs::null_listener nl;
    rs::call_options opts;
    rs::call_state state;
    rs::call_context<rs::manual_clock, rs::null_listener> ctx{&clk, &nl, &opts, &state};
    clk.advance(1s);
    CHECK(ctx.start() == clk.now());
    CHECK(state.start == clk.now());
}

TEST_CASE("call_context: defaults, remaining, expiry_kind and stop", "[context][call_context]") {
    rs::manual_clock clk;
    rs::null_listener nl;
    std::stop_source src;
    rs::call_options opts{.stop = src.get_token()};
    rs::call_state state;
    rs::call_context<rs::manual_clock, rs::null_listener> ctx{&clk, &nl, &opts, &state};

    CHECK(ctx.deadline == rs::no_deadline);
    CHECK(ctx.source == rs::deadline_source::none);
    CHECK(ctx.attempt == 1u);
    CHECK(ctx.remaining(clk.now()) == rs::duration::max());

    const auto t0 = clk.now();
    ctx.deadline = t0 + 2s;
    CHECK(ctx.remaining(t0) == 2s);
    CHECK(ctx.remaining(t0 + 3s) == -1s);  // negative once past: the policy decides what that means

    ctx.source = rs::deadline_source::caller;
    CHECK(ctx.expiry_kind() == rs::failure_kind::deadline_exceeded);
    ctx.source = rs::deadline_source::none;
    CHECK(ctx.expiry_kind() == rs::failure_kind::deadline_exceeded);
    ctx.source = rs::deadline_source::timeout;
    CHECK(ctx.expiry_kind() == rs::failure_kind::timeout);

    CHECK_FALSE(ctx.stop_requested());
    CHECK(&ctx.stop_token() == &opts.stop);
    src.request_stop();
    CHECK(ctx.stop_requested());

    CHECK(clk.now() == t0);  // none of the above read... or moved the clock
}

TEST_CASE("call_context: with null_listener, events are disabled and emit reads no clock", "[context][events]") {
    static_assert(!rs::call_context<rs::manual_clock, rs::null_listener>::events_enabled);
    static_assert(!rs::call_context<rs::steady_clock, rs::null_listener>::events_enabled);
    static_assert(rs::call_context<rs::manual_clock, recording_listener>::events_enabled);

    rs::manual_clock inner;
    std::atomic<int> reads{0};
    counting_clock clk{&inner, &reads};
    rs::null_listener nl;
    rs::call_options opts;
    rs::call_state state;
    rs::call_context<counting_clock, rs::null_listener> ctx{&clk, &nl, &opts, &state};
    ctx.emit({.type = rs::event_type::attempt_started, .policy = "call"});
    ctx.emit(rs::event{});
    CHECK(reads.load() == 0);
    CHECK(state.start == rs::time_point::min());
}

TEST_CASE("call_context: emit stamps time, attempt and call id", "[context][events]") {
    rs::manual_clock clk;
    recording_listener rec;
    rs::call_options opts{.id = "req-7"};
    rs::call_state state;
    rs::call_context<rs::manual_clock, recording_listener> ctx{&clk, &rec, &opts, &state};
    ctx.attempt = 2;
    clk.advance(1s);

    ctx.emit({.type = rs::event_type::retry_scheduled, .policy = "retry"});
    const auto explicit_at = clk.now() - 500ms;
    ctx.emit({.type = rs::event_type::rejected, .policy = "bulkhead", .at = explicit_at, .attempt = 5,
              .kind = rs::failure_kind::bulkhead_full});

    REQUIRE(rec.events.size() == 2u);
    CHECK(rec.events[0].type == rs::event_type::retry_scheduled);
    CHECK(rec.events[0].policy == "retry");
    CHECK(rec.events[0].call_id == "req-7");
    CHECK(rec.events[0].at == clk.now());  // stamped when not given
    CHECK(rec.events[0].attempt == 2u);    // the context's attempt when not given

    CHECK(rec.events[1].at == explicit_at);  // kept when given
    CHECK(rec.events[1].attempt == 5u);
    CHECK(rec.events[1].kind == rs::failure_kind::bulkhead_full);
    CHECK(rec.events[1].call_id == "req-7");

    // Stamping an event does not fix the call's start: only ctx.now() does.
    CHECK(state.start == rs::time_point::min());
}

TEST_CASE("call_context: finish fills attempts and elapsed", "[context][call_context]") {
    rs::manual_clock clk;
    rs::null_listener nl;
    rs::call_options opts;
    rs::call_state state;
    rs::call_context<rs::manual_clock, rs::null_listener> ctx{&clk, &nl, &opts, &state};

    SECTION("after the clock was read") {
        (void)ctx.now();
        state.attempts = 3;
        clk.advance(750ms);
        rs::failure f = rs::failure::of(rs::failure_kind::timeout);
        ctx.finish(f);
        CHECK(f.attempts == 3u);
        CHECK(f.elapsed == 750ms);
        CHECK(f.kind == rs::failure_kind::timeout);
    }
    SECTION("when nothing read the clock, elapsed stays zero and the clock stays unread") {
        state.attempts = 1;
        clk.advance(750ms);
        rs::failure f = rs::failure::of(rs::failure_kind::error);
        ctx.finish(f);
        CHECK(f.attempts == 1u);
        CHECK(f.elapsed == 0ns);
        CHECK(state.start == rs::time_point::min());
    }
}

TEST_CASE("call_context: is a cheap value", "[context][call_context]") {
    using ctx_t = rs::call_context<rs::manual_clock, rs::null_listener>;
    static_assert(std::is_trivially_copyable_v<ctx_t>);
    static_assert(std::is_same_v<ctx_t::clock_type, rs::manual_clock>);
    static_assert(std::is_same_v<ctx_t::listener_type, rs::null_listener>);
    static_assert(std::is_trivially_copyable_v<rs::call_state>);
    SUCCEED();
}
