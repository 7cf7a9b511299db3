// SPDX-License-Identifier: MIT
//
// events.hpp: event names, the listener concept, null_listener, callback_listener, and the events the
// core emits around each attempt.
#include "support/catch.hpp"
#include "support/string_makers.hpp"

#include <resilience/events.hpp>
#include <resilience/resilient_call.hpp>

#include <array>
#include <chrono>
#include <set>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

namespace rs = resilience;
using namespace std::chrono_literals;

namespace {

// Names are a contract (logs, metrics dimensions): spelled out here, not derived.
constexpr std::array<std::pair<rs::event_type, std::string_view>, 12> event_names{{
    {rs::event_type::attempt_started, "attempt_started"},
    {rs::event_type::attempt_succeeded, "attempt_succeeded"},
    {rs::event_type::attempt_failed, "attempt_failed"},
    {rs::event_type::retry_scheduled, "retry_scheduled"},
    {rs::event_type::retries_exhausted, "retries_exhausted"},
    {rs::event_type::budget_exhausted, "budget_exhausted"},
    {rs::event_type::rejected, "rejected"},
    {rs::event_type::timeout, "timeout"},
    {rs::event_type::fallback_used, "fallback_used"},
    {rs::event_type::state_changed, "state_changed"},
    {rs::event_type::dead_letter_published, "dead_letter_published"},
    {rs::event_type::dead_letter_failed, "dead_letter_failed"},
}};

struct copy_event {
    rs::event_type type;
    std::string policy;
    std::string call_id;
    rs::time_point at;
    std::uint32_t attempt;
    rs::failure_kind kind;
    rs::duration delay;
    bool has_error;
    std::string error_message;
};

// Copies what it needs: an event's views are valid only during on_event.
struct recording_listener {
    std::vector<copy_event> events;
    void on_event(const rs::event& e) {
        events.push_back({e.type, std::string(e.policy), std::string(e.call_id), e.at, e.attempt, e.kind, e.delay,
                          e.error != nullptr, e.error ? std::string(e.error->message) : std::string()});
    }
};

struct enabled_listener {
    static constexpr bool enabled = true;
    void on_event(const rs::event&) {}
};
struct disabled_listener {
    static constexpr bool enabled = false;
    void on_event(const rs::event&) {}
};
// A listener type can opt out statically, e.g. a logging listener compiled out in release builds.
struct silent {
    static constexpr bool enabled = false;
    int* calls;
    void on_event(const rs::event&) { ++*calls; }
};
struct no_on_event {
    void on_message(const rs::event&) {}
};
struct wrong_parameter {
    void on_event(int) {}
};

}  // namespace

static_assert(rs::listener<rs::null_listener>);
static_assert(rs::listener<recording_listener>);
static_assert(rs::listener<enabled_listener>);
static_assert(!rs::listener<no_on_event>);
static_assert(!rs::listener<wrong_parameter>);
static_assert(!rs::listener<int>);

static_assert(!rs::listener_enabled<rs::null_listener>);
static_assert(!rs::listener_enabled<disabled_listener>);
static_assert(rs::listener_enabled<enabled_listener>);
static_assert(rs::listener_enabled<recording_listener>);  // no `enabled` member: enabled

TEST_CASE("event_type: stable distinct names", "[events]") {
    std::set<std::string_view> seen;
    for (auto [type, name] : event_names) {
        CAPTURE(name);
        CHECK(rs::to_string(type) == name);
        CHECK(seen.insert(rs::to_string(type)).second);
    }
    CHECK(rs::to_string(static_cast<rs::event_type>(250)) == "unknown");
    static_assert(rs::to_string(rs::event_type::state_changed) == "state_changed");
}

TEST_CASE("event: defaults describe nothing in particular", "[events]") {
    rs::event e;
    CHECK(e.type == rs::event_type::attempt_started);
    CHECK(e.policy.empty());
    CHECK(e.name.empty());
    CHECK(e.call_id.empty());
    CHECK(e.at == rs::time_point{});
    CHECK(e.attempt == 0u);
    CHECK(e.kind == rs::failure_kind::error);
    CHECK(e.delay == rs::duration::zero());
    CHECK(e.error == nullptr);
    CHECK(e.from.empty());
    CHECK(e.to.empty());
}

TEST_CASE("null_listener: does nothing, in constant expressions too", "[events]") {
    constexpr rs::null_listener nl;
    const rs::event e{};
    nl.on_event(e);
    static_assert(noexcept(nl.on_event(e)));
    SUCCEED();
}

TEST_CASE("callback_listener: adapts a lambda", "[events]") {
    std::vector<rs::event_type> types;
    rs::callback_listener cb{[&](const rs::event& e) { types.push_back(e.type); }};
    static_assert(rs::listener<decltype(cb)>);
    static_assert(rs::listener_enabled<decltype(cb)>);
    cb.on_event({.type = rs::event_type::fallback_used});
    cb.on_event({.type = rs::event_type::timeout});
    REQUIRE(types.size() == 2u);
    CHECK(types[0] == rs::event_type::fallback_used);
    CHECK(types[1] == rs::event_type::timeout);
}

TEST_CASE("events around a successful attempt", "[events][resilient_call]") {
    rs::manual_clock clk;
    recording_listener rec;
    rs::resilient_call call{clk, rec};
    rs::call_options opts{.id = "req-42"};
    const auto t0 = clk.now();

    auto r = call([&] {
        clk.advance(30ms);
        return 1;
    }, opts);
    REQUIRE(r.has_value());

    REQUIRE(rec.events.size() == 3u);
    const auto& started = rec.events[0];
    CHECK(started.type == rs::event_type::attempt_started);
    CHECK(started.policy == "call");
    CHECK(started.call_id == "req-42");
    CHECK(started.attempt == 1u);
    CHECK(started.at == t0);
    CHECK_FALSE(started.has_error);

    const auto& done = rec.events[1];
    CHECK(done.type == rs::event_type::attempt_succeeded);
    CHECK(done.policy == "call");
    CHECK(done.call_id == "req-42");
    CHECK(done.attempt == 1u);
    CHECK(done.at == t0 + 30ms);
    CHECK(done.delay == 30ms);  // the attempt's duration
    CHECK_FALSE(done.has_error);

    const auto& finished = rec.events[2];  // last, once per call
    CHECK(finished.type == rs::event_type::call_finished);
    CHECK(finished.policy == "call");
    CHECK(finished.call_id == "req-42");
    CHECK(finished.attempt == 1u);
    CHECK(finished.delay == 30ms);  // the whole call's duration
    CHECK_FALSE(finished.has_error);
}

TEST_CASE("events around a failed attempt", "[events][resilient_call]") {
    rs::manual_clock clk;
    recording_listener rec;
    rs::resilient_call call{rec, clk};  // order of clock and listener does not matter

    auto r = call([&]() -> rs::result<int> {
        clk.advance(5ms);
        return rs::failure::of(rs::failure_kind::error, "upstream said no");
    });
    REQUIRE_FALSE(r.has_value());

    REQUIRE(rec.events.size() == 3u);
    CHECK(rec.events[0].type == rs::event_type::attempt_started);
    CHECK(rec.events[2].type == rs::event_type::call_finished);
    CHECK(rec.events[2].kind == rs::failure_kind::error);
    CHECK(rec.events[2].has_error);
    const auto& failed = rec.events[1];
    CHECK(failed.type == rs::event_type::attempt_failed);
    CHECK(failed.kind == rs::failure_kind::error);
    CHECK(failed.delay == 5ms);
    REQUIRE(failed.has_error);
    CHECK(failed.error_message == "upstream said no");
}

TEST_CASE("events for calls that never start", "[events][resilient_call]") {
    rs::manual_clock clk;
    recording_listener rec;
    rs::resilient_call call{clk, rec};
    int invoked = 0;

    SECTION("cancelled by the caller: rejected") {
        std::stop_source src;
        src.request_stop();
        auto r = call([&] { return ++invoked; }, {.id = "c1", .stop = src.get_token()});
        REQUIRE_FALSE(r.has_value());
        REQUIRE(rec.events.size() == 2u);
        CHECK(rec.events[1].type == rs::event_type::call_finished);
        CHECK(rec.events[0].type == rs::event_type::rejected);
        CHECK(rec.events[0].kind == rs::failure_kind::cancelled);
        CHECK(rec.events[0].policy == "call");
        CHECK(rec.events[0].call_id == "c1");
        CHECK(rec.events[0].has_error);
    }
    SECTION("past the caller's deadline: timeout with kind deadline_exceeded") {
        auto r = call([&] { return ++invoked; }, {.deadline = clk.now() - 1ms});
        REQUIRE_FALSE(r.has_value());
        REQUIRE(rec.events.size() == 2u);
        CHECK(rec.events[1].type == rs::event_type::call_finished);
        CHECK(rec.events[0].type == rs::event_type::timeout);
        CHECK(rec.events[0].kind == rs::failure_kind::deadline_exceeded);
        CHECK(rec.events[0].at == clk.now());
        CHECK(rec.events[0].has_error);
    }
    CHECK(invoked == 0);
}

TEST_CASE("a temporary listener is held by value and still hears everything", "[events][resilient_call]") {
    std::vector<rs::event_type> types;
    rs::resilient_call call{rs::callback_listener{[&](const rs::event& e) { types.push_back(e.type); }}};
    static_assert(!std::is_reference_v<std::tuple_element_t<0, std::remove_reference_t<decltype(call.elements())>>>);
    (void)call([] {});
    (void)call([] {});
    REQUIRE(types.size() == 6u);
    CHECK(types[0] == rs::event_type::attempt_started);
    CHECK(types[1] == rs::event_type::attempt_succeeded);
    CHECK(types[2] == rs::event_type::call_finished);
    CHECK(types[3] == rs::event_type::attempt_started);
    CHECK(types[4] == rs::event_type::attempt_succeeded);
    CHECK(types[5] == rs::event_type::call_finished);
}

TEST_CASE("a listener declaring enabled = false is never called", "[events][resilient_call]") {
    int calls = 0;
    silent s{&calls};
    rs::resilient_call call{s};
    static_assert(!decltype(call)::context_type::events_enabled);
    (void)call([] { return 1; });
    CHECK(calls == 0);
}
