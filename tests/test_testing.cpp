// SPDX-License-Identifier: MIT
#include "support/allocations.hpp"
#include "support/catch.hpp"

#include <resilience/resilient_call.hpp>
#include <resilience/testing.hpp>
#include <resilience/timeout.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <vector>

namespace rs = resilience;
namespace rt = resilience::testing;
using namespace std::chrono_literals;

// Counts every thread's allocations, so that tests can assert that a path allocates nothing. Under
// ThreadSanitizer nothing is counted and the allocation tests say they were skipped.
using resilience_test::all_allocations;

static_assert(std::is_same_v<rt::manual_clock, rs::manual_clock>);
static_assert(rs::listener<rt::recording_listener>);

// The snippets between "docs/testing.md" markers appear verbatim in docs/testing.md.

// docs/testing.md: custom policy
// Keeps a reserve of time for the caller (to write its response before a Lambda's deadline, say):
// the layers inside see the deadline minus the reserve, and nothing starts inside the reserve.
struct keep_reserve {
    rs::duration reserve;

    template <class Ctx, class Next>
    auto execute(Ctx& ctx, Next&& next) -> std::invoke_result_t<Next&, Ctx&> {
        if (ctx.deadline == rs::no_deadline) return next(ctx);
        Ctx inner = ctx;  // narrow for the layers inside: pass a modified copy
        inner.deadline = ctx.deadline - reserve;
        if (ctx.now() >= inner.deadline) {
            auto f = rs::failure::of(rs::failure_kind::deadline_exceeded, "only the reserve is left");
            if constexpr (Ctx::events_enabled) {
                ctx.emit({.type = rs::event_type::rejected, .policy = "keep_reserve", .kind = f.kind, .error = &f});
            }
            return f;
        }
        return next(inner);
    }
};
// docs/testing.md: end

static_assert(rs::policy<keep_reserve>);

// docs/testing.md: custom policy test
TEST_CASE("keep_reserve narrows the deadline and refuses inside the reserve", "[testing][guide]") {
    rt::harness h;  // a manual_clock and a recording_listener
    rt::script<int> dependency{h.clock(), {rt::returns(42, 30ms)}};
    auto call = h.compose(keep_reserve{100ms}, rs::timeout{2s});

    SECTION("the callable sees the deadline minus the reserve") {
        auto opts = h.deadline_in(1s);
        auto r = call(dependency, opts);
        REQUIRE(r);
        CHECK(*r == 42);
        CHECK(dependency.deadlines_seen() == std::vector<rs::time_point>{opts.deadline - 100ms});
        CHECK(h.clock().now() == opts.deadline - 970ms);  // the call took its 30 ms of virtual time
    }
    SECTION("nothing starts inside the reserve") {
        auto r = call(dependency, h.deadline_in(100ms));
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == rs::failure_kind::deadline_exceeded);
        CHECK(dependency.calls() == 0);
        CHECK(h.events().count(rs::event_type::rejected, "keep_reserve") == 1);
    }
}
// docs/testing.md: end

TEST_CASE("the guide's script example", "[testing][guide]") {
    // docs/testing.md: script
    rs::manual_clock clock;
    rt::script<int> s{clock,
                      {rt::fails(std::errc::connection_reset, 200ms),  // 1st call: a failure after 200 ms
                       rt::returns(7, 20ms)}};                          // then 7 after 20 ms, repeated
    rs::resilient_call call{rs::timeout{1s}, clock};

    auto first = call(s);
    auto second = call(s);
    auto third = call(s);

    CHECK(first.error().error == std::make_error_code(std::errc::connection_reset));
    CHECK(*second == 7);
    CHECK(*third == 7);  // the last step repeats
    CHECK(s.calls() == 3);
    CHECK(clock.elapsed() == 240ms);
    CHECK(s.remaining_seen() == std::vector<rs::duration>{1s, 1s, 1s});
    // docs/testing.md: end
}

TEST_CASE("the guide's listener example", "[testing][guide]") {
    // docs/testing.md: listener
    rs::manual_clock clock;
    rt::recording_listener events;
    rt::script<int> slow{clock, {rt::returns(1, 600ms)}};
    rs::resilient_call call{rs::timeout{500ms}, clock, events};

    auto r = call(slow, {.id = "req-1"});

    REQUIRE_FALSE(r);
    CHECK(events.types() == std::vector<rs::event_type>{rs::event_type::attempt_started,
                                                       rs::event_type::attempt_succeeded,
                                                       rs::event_type::timeout,
                                                       rs::event_type::call_finished});
    auto timeouts = events.of_type(rs::event_type::timeout);
    CHECK(timeouts[0].call_id == "req-1");
    CHECK(timeouts[0].delay == 100ms);  // how late the return was
    // docs/testing.md: end
}

TEST_CASE("script plays its steps in order and records what each call saw", "[testing][script]") {
    rs::manual_clock clock;
    const auto t0 = clock.now();
    rt::script<std::string> s{clock,
                              {rt::returns(std::string("a"), 10ms), rt::fails(rs::failure::of(rs::failure_kind::rate_limited), 5ms),
                               rt::fails(std::make_error_code(std::errc::io_error)), rt::returns("d", 1ms)}};
    REQUIRE(s.calls() == 0);
    REQUIRE_FALSE(s.exhausted());

    std::vector<rs::result<std::string>> out;
    std::stop_source src;
    std::stop_token tok = src.get_token();
    for (std::uint32_t i = 1; i <= 4; ++i) {
        const rs::attempt a{i, clock.now() + 100ms, &tok, &clock, &rs::detail::now_thunk<rs::manual_clock>};
        if (i == 4) src.request_stop();
        out.push_back(s(a));
    }

    REQUIRE(out[0]);
    CHECK(*out[0] == "a");
    REQUIRE_FALSE(out[1]);
    CHECK(out[1].error().kind == rs::failure_kind::rate_limited);
    REQUIRE_FALSE(out[2]);
    CHECK(out[2].error().kind == rs::failure_kind::error);
    CHECK(out[2].error().error == std::make_error_code(std::errc::io_error));
    REQUIRE(out[3]);
    CHECK(*out[3] == "d");

    CHECK(clock.now() == t0 + 16ms);
    CHECK(s.calls() == 4);
    CHECK_FALSE(s.exhausted());
    CHECK(s.attempts_seen() == std::vector<std::uint32_t>{1, 2, 3, 4});
    CHECK(s.deadlines_seen() == std::vector<rs::time_point>{t0 + 100ms, t0 + 110ms, t0 + 115ms, t0 + 115ms});
    CHECK(s.remaining_seen() == std::vector<rs::duration>{100ms, 100ms, 100ms, 100ms});
    auto rec = s.records();
    REQUIRE(rec.size() == 4);
    CHECK(rec[0].index == 0);
    CHECK(rec[3].index == 3);
    CHECK(rec[1].at == t0 + 10ms);
    CHECK_FALSE(rec[2].stop_requested);
    CHECK(rec[3].stop_requested);
    CHECK_FALSE(rec[3].exhausted);
}

TEST_CASE("script when the steps run out", "[testing][script]") {
    rs::manual_clock clock;
    rs::resilient_call call{clock};

    SECTION("repeats the last step by default") {
        rt::script<int> s{clock, {rt::returns(1), rt::returns(2, 1ms)}};
        CHECK(*call(s) == 1);
        CHECK(*call(s) == 2);
        CHECK(*call(s) == 2);
        CHECK(*call(s) == 2);
        CHECK(s.exhausted());
        CHECK(clock.elapsed() == 3ms);
        auto rec = s.records();
        CHECK_FALSE(rec[1].exhausted);
        CHECK(rec[2].exhausted);
    }
    SECTION("or plays a given step forever") {
        rt::script<int> s{clock, {rt::returns(1)}, rt::fails(rs::failure::of(rs::failure_kind::circuit_open))};
        CHECK(*call(s) == 1);
        CHECK(call(s).error().kind == rs::failure_kind::circuit_open);
        CHECK(call(s).error().kind == rs::failure_kind::circuit_open);
    }
    SECTION("no steps at all, only the exhausted outcome") {
        rt::script<int> s{clock, std::vector<rt::step<int>>{}, rt::step<int>(rt::returns(9))};
        CHECK(*call(s) == 9);
        CHECK(s.exhausted());
    }
}

TEST_CASE("script throws scripted exceptions", "[testing][script]") {
    rs::manual_clock clock;
    rt::script<int> s{clock, {rt::throws(std::runtime_error("boom"), 5ms), rt::returns(1)}};
    const std::stop_token no_stop;
    const rs::attempt a{1, rs::no_deadline, &no_stop, &clock, &rs::detail::now_thunk<rs::manual_clock>};
    CHECK_THROWS_AS(s(a), std::runtime_error);
    CHECK(clock.elapsed() == 5ms);  // the latency elapsed before the throw

    rs::resilient_call call{clock};
    rt::script<int> s2{clock, {rt::throws(std::logic_error("bad"))}};
    auto r = call(s2);
    REQUIRE_FALSE(r);
    REQUIRE(r.error().exception);
    CHECK_THROWS_AS(std::rethrow_exception(r.error().exception), std::logic_error);
}

TEST_CASE("script<void>", "[testing][script]") {
    rs::manual_clock clock;
    rt::script<void> s{clock, {rt::succeeds(3ms), rt::fails(std::errc::broken_pipe)}};
    rs::resilient_call call{clock};
    rs::result<void> first = call(s);
    rs::result<void> second = call(s);
    CHECK(first);
    REQUIRE_FALSE(second);
    CHECK(second.error().error == std::make_error_code(std::errc::broken_pipe));
    CHECK(clock.elapsed() == 3ms);
}

TEST_CASE("script honouring the deadline gives up at it", "[testing][script]") {
    rs::manual_clock clock;
    rt::script<int> s{clock, {rt::returns(1, 300ms)}, rt::script_options{.honour_deadline = true}};
    rs::resilient_call call{clock};

    auto fits = call(s, {.deadline = clock.now() + 300ms});
    REQUIRE(fits);  // exactly the latency: fits
    const auto before = clock.now();
    auto cut = call(s, {.deadline = clock.now() + 100ms});
    REQUIRE_FALSE(cut);
    CHECK(cut.error().error == std::make_error_code(std::errc::timed_out));
    CHECK(cut.error().hint == rs::transience::transient);
    CHECK(clock.now() == before + 100ms);
    auto no_deadline = call(s);
    CHECK(no_deadline);
}

TEST_CASE("script records up to its capacity and counts everything", "[testing][script]") {
    rs::manual_clock clock;
    rt::script<int> s{clock, {rt::returns(1)}, rt::script_options{.record_capacity = 2}};
    rs::resilient_call call{clock};
    for (int i = 0; i < 5; ++i) (void)call(s);
    CHECK(s.calls() == 5);
    CHECK(s.records().size() == 2);
}

TEST_CASE("script rejects a bad script", "[testing][script][config]") {
    rs::manual_clock clock;
    auto what = [](auto&& build) {
        try {
            build();
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("no exception");
    };
    CHECK(what([&] { rt::script<int> s(clock, std::vector<rt::step<int>>{}); }).find("script.steps must hold at least 1 step") !=
          std::string::npos);
    CHECK(what([&] { rt::script<int> s{clock, {rt::returns(1, -1ms)}}; }).find("step.latency must be at least zero") !=
          std::string::npos);
    CHECK(what([&] { rt::script<int> s{clock, {rt::returns(1)}, rt::fails(std::errc::io_error, -1ns)}; })
              .find("step.latency") != std::string::npos);
    CHECK(what([&] { rt::script<int> s{clock, {rt::returns(1)}, rt::script_options{.record_capacity = 1'000'001}}; })
              .find("script_options.record_capacity must be between 0 and 1000000") != std::string::npos);
    auto e = rt::script_options{.record_capacity = 1'000'001}.validate();
    REQUIRE(e);
    CHECK(std::string(e->field) == "script_options.record_capacity");
    CHECK_FALSE(rt::script_options{.record_capacity = 0}.validate());
}

TEST_CASE("invoking a script allocates nothing", "[testing][script][alloc]") {
    if (!RESILIENCE_TEST_COUNTS_ALLOCATIONS) {
        WARN("allocation counting is off under ThreadSanitizer: skipped");
        return;
    }
    rs::manual_clock clock;
    rt::script<int> s{clock, {rt::returns(1, 1ms), rt::fails(std::errc::io_error, 1ms)}, rt::script_options{.record_capacity = 8}};
    rs::resilient_call call{rs::timeout{1s}, clock};
    const auto before = all_allocations.load();
    for (int i = 0; i < 20; ++i) (void)call(s);  // past the record capacity, too
    const auto after = all_allocations.load();
    CHECK(after == before);
    resilience_test::allocate_once();  // the counter does count
    CHECK(all_allocations.load() == after + 1);
    CHECK(s.calls() == 20);
}

TEST_CASE("script is thread-safe", "[testing][script][concurrency]") {
    rs::manual_clock clock;
    const auto t0 = clock.now();
    rt::script<int> s{clock, {rt::returns(1, 1ms), rt::returns(2, 2ms)}, rt::script_options{.record_capacity = 100'000}};
    rs::resilient_call call{clock};
    constexpr int threads_n = 8;
    constexpr int per_thread = 2000;
    std::atomic<long> sum{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < threads_n; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < per_thread; ++i) {
                auto r = call(s);
                if (r) sum.fetch_add(*r, std::memory_order_relaxed);
            }
        });
    }
    for (auto& t : threads) t.join();
    const long n = threads_n * per_thread;
    CHECK(s.calls() == static_cast<std::size_t>(n));
    CHECK(sum.load() == 1 + 2 * (n - 1));  // exactly one invocation got the first step
    CHECK(clock.now() == t0 + 1ms + 2ms * (n - 1));  // every latency elapsed, on the shared clock
    auto rec = s.records();
    REQUIRE(rec.size() == static_cast<std::size_t>(n));
    std::vector<bool> seen(rec.size(), false);
    for (const auto& r : rec) seen[r.index] = true;
    CHECK(std::find(seen.begin(), seen.end(), false) == seen.end());  // every index once
}

TEST_CASE("recording_listener keeps owned copies and answers queries", "[testing][listener]") {
    rt::recording_listener l;
    {
        std::string policy = "my_policy";
        std::string id = "call-42";
        std::string from = "closed";
        std::string to = "open";
        rs::failure f = rs::failure::of(rs::failure_kind::circuit_open, "open");
        l.on_event({.type = rs::event_type::rejected, .policy = policy, .name = "orders", .call_id = id,
                    .attempt = 2, .kind = rs::failure_kind::circuit_open, .delay = 5s, .error = &f});
        l.on_event({.type = rs::event_type::state_changed, .policy = "circuit_breaker", .from = from, .to = to});
        l.on_event({.type = rs::event_type::rejected, .policy = "bulkhead"});
        policy.assign("overwritten");  // the listener must not have kept views
        id.assign("overwritten too");
        from.clear();
    }
    CHECK(l.size() == 3);
    CHECK(l.count(rs::event_type::rejected) == 2);
    CHECK(l.count(rs::event_type::rejected, "my_policy") == 1);
    CHECK(l.count(rs::event_type::rejected, "bulkhead") == 1);
    CHECK(l.count(rs::event_type::timeout) == 0);
    CHECK(l.types() == std::vector<rs::event_type>{rs::event_type::rejected, rs::event_type::state_changed,
                                                  rs::event_type::rejected});
    auto rej = l.of_type(rs::event_type::rejected);
    REQUIRE(rej.size() == 2);
    CHECK(rej[0].policy == "my_policy");
    CHECK(rej[0].name == "orders");
    CHECK(rej[0].call_id == "call-42");
    CHECK(rej[0].attempt == 2);
    CHECK(rej[0].kind == rs::failure_kind::circuit_open);
    CHECK(rej[0].delay == 5s);
    REQUIRE(rej[0].error);
    CHECK(rej[0].error->kind == rs::failure_kind::circuit_open);
    CHECK_FALSE(rej[1].error);
    auto sc = l.of_type(rs::event_type::state_changed);
    REQUIRE(sc.size() == 1);
    CHECK(sc[0].from == "closed");
    CHECK(sc[0].to == "open");
    CHECK(l.events().size() == 3);
    l.clear();
    CHECK(l.size() == 0);
    CHECK(l.events().empty());
}

TEST_CASE("recording_listener under concurrent emitters and readers", "[testing][listener][concurrency]") {
    rt::recording_listener l;
    constexpr int threads_n = 8;
    constexpr int per_thread = 3000;
    std::atomic<bool> done{false};
    bool shrank = false;  // checked after the join: Catch2 assertions are not thread-safe
    std::thread reader([&] {
        std::size_t last = 0;
        while (!done.load(std::memory_order_acquire)) {
            auto n = l.size();
            if (n < last) shrank = true;  // it only grows
            last = n;
            (void)l.count(rs::event_type::retry_scheduled);
            (void)l.of_type(rs::event_type::timeout).size();
        }
    });
    std::vector<std::thread> threads;
    for (int t = 0; t < threads_n; ++t) {
        threads.emplace_back([&l, t] {
            for (int i = 0; i < per_thread; ++i) {
                l.on_event({.type = (i % 2 == 0) ? rs::event_type::retry_scheduled : rs::event_type::timeout,
                            .policy = "stress", .attempt = static_cast<std::uint32_t>(t)});
            }
        });
    }
    for (auto& t : threads) t.join();
    done.store(true, std::memory_order_release);
    reader.join();
    CHECK_FALSE(shrank);
    CHECK(l.size() == threads_n * per_thread);
    CHECK(l.count(rs::event_type::retry_scheduled) == threads_n * per_thread / 2);
    CHECK(l.count(rs::event_type::timeout, "stress") == threads_n * per_thread / 2);
    std::vector<int> per(threads_n, 0);
    for (const auto& e : l.events()) ++per[e.attempt];
    for (int n : per) CHECK(n == per_thread);
}

TEST_CASE("harness: compose, run and deadline_in", "[testing][harness]") {
    rt::harness h;
    const auto t0 = h.clock().now();
    CHECK(h.deadline_in(5s).deadline == t0 + 5s);

    rt::script<int> s{h.clock(), {rt::returns(3, 10ms)}};
    auto r = h.run(rs::timeout{1s}, s, h.deadline_in(500ms));
    REQUIRE(r);
    CHECK(*r == 3);
    CHECK(s.deadlines_seen() == std::vector<rs::time_point>{t0 + 500ms});
    CHECK(h.events().count(rs::event_type::attempt_succeeded, "call") == 1);

    // The composition runs on the harness's clock and reports to its listener.
    auto call = h.compose(rs::timeout{1s});
    CHECK(&call.clock() == &h.clock());
    CHECK(&call.listener() == &h.events());
    static_assert(std::is_same_v<decltype(call)::clock_type, rs::manual_clock>);
    static_assert(std::is_same_v<decltype(call)::listener_type, rt::recording_listener>);

    // A harness can start its clock anywhere.
    rt::harness late{rs::time_point{} + 1000h};
    CHECK(late.clock().now() == rs::time_point{} + 1000h);
}
