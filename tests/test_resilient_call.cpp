// SPDX-License-Identifier: MIT
//
// resilient_call.hpp: callable shapes, exceptions, cancellation and deadlines before an attempt, nesting
// order, how elements are held (reference or copy), the composition's clock and listener, the fields a
// failure leaves with, concurrent use, and zero heap allocations on the happy and rejection paths.
#include "support/allocations.hpp"
#include "support/catch.hpp"
#include "support/string_makers.hpp"

#include <resilience/resilient_call.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <vector>

namespace rs = resilience;
using namespace std::chrono_literals;

// Allocations by every thread of the program while a function runs (the allocation tests are compiled
// out under TSan, where nothing is counted).
using resilience_test::all_allocations_during;

namespace {

// --- test policies -------------------------------------------------------------------------------------

// Records entering and leaving into a shared log, to prove the nesting order.
struct recorder {
    const char* name;
    std::vector<std::string>* log;
    template <class Ctx, class Next>
    auto execute(Ctx& ctx, Next&& next) {
        log->push_back(std::string(name) + ">");
        auto r = next(ctx);
        log->push_back("<" + std::string(name));
        return r;
    }
};

// A value policy with state of its own: which copy ran is observable.
struct counting_value {
    int runs = 0;
    template <class Ctx, class Next>
    auto execute(Ctx& ctx, Next&& next) {
        ++runs;
        return next(ctx);
    }
};

// A stateful object: identity, non-copyable, thread-safe; must be held by reference.
class shared_counter {
public:
    shared_counter() = default;
    shared_counter(const shared_counter&) = delete;
    shared_counter& operator=(const shared_counter&) = delete;
    template <class Ctx, class Next>
    auto execute(Ctx& ctx, Next&& next) {
        runs_.fetch_add(1, std::memory_order_relaxed);
        return next(ctx);
    }
    int runs() const { return runs_.load(); }

private:
    std::atomic<int> runs_{0};
};

// A stateful policy that runs on a clock of its own: the composition must adopt that clock.
class clocked {
public:
    using clock_type = rs::manual_clock;
    explicit clocked(rs::manual_clock& c) : clock_(&c) {}
    clocked(const clocked&) = delete;
    clocked& operator=(const clocked&) = delete;
    rs::manual_clock& clock() { return *clock_; }
    template <class Ctx, class Next>
    auto execute(Ctx& ctx, Next&& next) {
        static_assert(std::is_same_v<typename Ctx::clock_type, rs::manual_clock>);
        seen_clock = ctx.clock;
        return next(ctx);
    }
    const rs::manual_clock* seen_clock = nullptr;

private:
    rs::manual_clock* clock_;
};

// Calls next `tries` times at most, numbering attempts: a minimal retry.
struct again {
    std::uint32_t tries = 2;
    template <class Ctx, class Next>
    auto execute(Ctx& ctx, Next&& next) -> decltype(next(ctx)) {
        auto inner = ctx;
        for (std::uint32_t i = 1;; ++i) {
            inner.attempt = i;
            auto r = next(inner);
            if (r || i >= tries) return r;
        }
    }
};

// Emits an event of its own before and after the layers inside.
struct announcing {
    template <class Ctx, class Next>
    auto execute(Ctx& ctx, Next&& next) {
        if constexpr (Ctx::events_enabled) ctx.emit({.type = rs::event_type::retry_scheduled, .policy = "announcing"});
        auto r = next(ctx);
        if constexpr (Ctx::events_enabled) ctx.emit({.type = rs::event_type::fallback_used, .policy = "announcing"});
        return r;
    }
};

// A copyable clock whose reads are counted (and which shares its time with a manual_clock).
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

struct recorded {
    rs::event_type type;
    std::string policy;
    std::uint32_t attempt;
    rs::time_point at;
};
struct recording_listener {
    std::vector<recorded> events;
    void on_event(const rs::event& e) { events.push_back({e.type, std::string(e.policy), e.attempt, e.at}); }
};

// A listener that does not allocate (for the allocation tests): counts by type.
struct tally_listener {
    std::array<int, 16> by_type{};
    void on_event(const rs::event& e) { ++by_type[static_cast<std::size_t>(e.type)]; }
    int operator[](rs::event_type t) const { return by_type[static_cast<std::size_t>(t)]; }
};

template <class Call>
using element_t = std::tuple_element_t<0, std::remove_reference_t<decltype(std::declval<Call&>().elements())>>;

}  // namespace

// --- callable shapes -------------------------------------------------------------------------------------

TEST_CASE("resilient_call: callables taking () or (const attempt&), returning void, T or result<T>",
          "[resilient_call][callable]") {
    rs::resilient_call call{counting_value{}};

    SECTION("() -> T") {
        auto r = call([] { return 42; });
        static_assert(std::is_same_v<decltype(r), rs::result<int>>);
        REQUIRE(r.has_value());
        CHECK(*r == 42);
    }
    SECTION("(const attempt&) -> T") {
        auto r = call([](const rs::attempt& a) { return std::string("attempt ") + std::to_string(a.number()); });
        static_assert(std::is_same_v<decltype(r), rs::result<std::string>>);
        REQUIRE(r.has_value());
        CHECK(*r == "attempt 1");
    }
    SECTION("() -> void") {
        int ran = 0;
        auto r = call([&] { ++ran; });
        static_assert(std::is_same_v<decltype(r), rs::result<void>>);
        CHECK(r.has_value());
        CHECK(ran == 1);
    }
    SECTION("(const attempt&) -> void") {
        std::uint32_t number = 0;
        auto r = call([&](const rs::attempt& a) { number = a.number(); });
        static_assert(std::is_same_v<decltype(r), rs::result<void>>);
        CHECK(r.has_value());
        CHECK(number == 1u);
    }
    SECTION("() -> result<T>, success and failure pass through unchanged") {
        auto ok = call([] { return rs::result<int>(7); });
        static_assert(std::is_same_v<decltype(ok), rs::result<int>>);
        CHECK(*ok == 7);
        auto bad = call([]() -> rs::result<int> {
            auto f = rs::failure::of(rs::failure_kind::rate_limited, "429");
            f.retry_after = 3s;
            return f;
        });
        REQUIRE_FALSE(bad.has_value());
        CHECK(bad.error().kind == rs::failure_kind::rate_limited);
        CHECK(bad.error().retry_after == 3s);
        CHECK(bad.error().message == "429");
        CHECK(bad.error().attempts == 1u);
    }
    SECTION("(const attempt&) -> result<void>") {
        auto r = call([](const rs::attempt&) -> rs::result<void> { return rs::failure::of(rs::failure_kind::error); });
        static_assert(std::is_same_v<decltype(r), rs::result<void>>);
        CHECK_FALSE(r.has_value());
    }
    SECTION("a reference return is copied into the result") {
        std::string stored = "kept";
        auto r = call([&]() -> std::string& { return stored; });
        static_assert(std::is_same_v<decltype(r), rs::result<std::string>>);
        r.value() += "!";
        CHECK(stored == "kept");
    }
    SECTION("mutable, move-only and lvalue callables") {
        auto counter = [n = 0]() mutable { return ++n; };
        CHECK(*call(counter) == 1);
        CHECK(*call(counter) == 2);  // the same object, called by reference
        auto owner = [p = std::make_unique<int>(5)] { return *p; };
        CHECK(*call(std::move(owner)) == 5);
    }
    static_assert(std::is_same_v<rs::call_result_t<int (*)()>, rs::result<int>>);
    static_assert(std::is_same_v<rs::call_result_t<void (*)(const rs::attempt&)>, rs::result<void>>);
    static_assert(std::is_same_v<rs::call_result_t<rs::result<long> (*)()>, rs::result<long>>);
}

TEST_CASE("resilient_call: the attempt carries the caller's deadline, stop token and clock", "[resilient_call][callable]") {
    rs::manual_clock clk;
    rs::resilient_call call{clk};
    std::stop_source src;
    const auto t0 = clk.now();
    rs::call_options opts{.deadline = t0 + 2s, .stop = src.get_token()};
    auto r = call([&](const rs::attempt& a) {
        CHECK(a.number() == 1u);
        CHECK(a.deadline() == t0 + 2s);
        CHECK(a.remaining() == 2s);
        clk.advance(500ms);
        CHECK(a.now() == t0 + 500ms);
        CHECK(a.remaining() == 1500ms);
        CHECK(a.stop_token() == opts.stop);
        CHECK_FALSE(a.stop_requested());
        src.request_stop();  // the caller cancels while the attempt runs: it can see it
        CHECK(a.stop_requested());
        return 1;
    }, opts);
    CHECK(r.has_value());  // cooperative: nothing interrupts an attempt that returns a value
}

// --- exceptions ------------------------------------------------------------------------------------------

#if RESILIENCE_HAS_EXCEPTIONS
TEST_CASE("resilient_call: an exception becomes a failure carrying the exception_ptr", "[resilient_call][exceptions]") {
    rs::resilient_call call{counting_value{}};
    SECTION("std::exception") {
        auto r = call([]() -> int { throw std::runtime_error("connection reset"); });
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::error);
        CHECK(r.error().cause == rs::failure_kind::error);
        CHECK(r.error().attempts == 1u);
        CHECK_FALSE(r.error().message.empty());
        REQUIRE(r.error().exception);
        try {
            std::rethrow_exception(r.error().exception);
        } catch (const std::runtime_error& e) {
            CHECK(std::string(e.what()) == "connection reset");
        }
    }
    SECTION("anything thrown, from a void callable taking an attempt") {
        auto r = call([](const rs::attempt&) { throw 42; });
        REQUIRE_FALSE(r.has_value());
        REQUIRE(r.error().exception);
        REQUIRE_THROWS_AS(std::rethrow_exception(r.error().exception), int);
    }
    SECTION("from a callable returning result<T>") {
        auto r = call([]() -> rs::result<std::string> { throw std::logic_error("bug"); });
        REQUIRE_FALSE(r.has_value());
        REQUIRE_THROWS_AS(std::rethrow_exception(r.error().exception), std::logic_error);
    }
    SECTION("outer policies see the failure: an inner retry tries again after a throw") {
        rs::resilient_call retrying{again{3}};
        int calls = 0;
        auto r = retrying([&] {
            if (++calls < 3) throw std::runtime_error("flaky");
            return calls;
        });
        REQUIRE(r.has_value());
        CHECK(*r == 3);
    }
}
#endif

// --- before an attempt: cancellation and deadlines ---------------------------------------------------------

TEST_CASE("resilient_call: a stopped token cancels without invoking", "[resilient_call][cancel]") {
    rs::resilient_call call{counting_value{}};
    std::stop_source src;
    src.request_stop();
    int invoked = 0;
    auto r = call([&] { return ++invoked; }, {.stop = src.get_token()});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == rs::failure_kind::cancelled);
    CHECK(r.error().cause == rs::failure_kind::cancelled);
    CHECK(r.error().attempts == 0u);
    CHECK(invoked == 0);
    CHECK(std::get<0>(call.elements()).runs == 1);  // the policies ran; the callable did not

    SECTION("a token that could stop but has not does not cancel") {
        std::stop_source live;
        auto ok = call([&] { return ++invoked; }, {.stop = live.get_token()});
        CHECK(ok.has_value());
        CHECK(invoked == 1);
    }
}

TEST_CASE("resilient_call: an expired caller deadline fails without invoking", "[resilient_call][deadline]") {
    rs::manual_clock clk;
    rs::resilient_call call{clk};
    int invoked = 0;
    auto fn = [&] { return ++invoked; };

    SECTION("in the past") {
        auto r = call(fn, {.deadline = clk.now() - 1ns});
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::deadline_exceeded);
        CHECK(r.error().attempts == 0u);
    }
    SECTION("exactly now: no time left is no time") {
        auto r = call(fn, {.deadline = clk.now()});
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::deadline_exceeded);
    }
    SECTION("the epoch, a zero-initialised deadline") {
        auto r = call(fn, {.deadline = rs::time_point{}});
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::deadline_exceeded);
    }
    CHECK(invoked == 0);

    SECTION("one nanosecond left is enough to start") {
        auto r = call(fn, {.deadline = clk.now() + 1ns});
        CHECK(r.has_value());
        CHECK(invoked == 1);
    }
}

TEST_CASE("resilient_call: cancellation is checked before the deadline", "[resilient_call][cancel]") {
    rs::manual_clock clk;
    rs::resilient_call call{clk};
    std::stop_source src;
    src.request_stop();
    auto r = call([] { return 1; }, {.deadline = clk.now() - 1s, .stop = src.get_token()});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == rs::failure_kind::cancelled);
}

// --- nesting and holding -------------------------------------------------------------------------------------

TEST_CASE("resilient_call: policies nest outermost first", "[resilient_call][order]") {
    std::vector<std::string> log;
    rs::resilient_call call{recorder{"a", &log}, recorder{"b", &log}, recorder{"c", &log}};
    auto r = call([&] {
        log.emplace_back("call");
        return 1;
    });
    REQUIRE(r.has_value());
    CHECK(log == std::vector<std::string>{"a>", "b>", "c>", "call", "<c", "<b", "<a"});

    SECTION("clock and listener elements take no part in the nesting, wherever they are listed") {
        log.clear();
        rs::manual_clock clk;
        recording_listener rec;
        rs::resilient_call mixed{clk, recorder{"a", &log}, rec, recorder{"b", &log}};
        (void)mixed([&] { log.emplace_back("call"); });
        CHECK(log == std::vector<std::string>{"a>", "b>", "call", "<b", "<a"});
        CHECK(&mixed.clock() == &clk);
        CHECK(&mixed.listener() == &rec);
    }
}

TEST_CASE("resilient_call: a named non-copyable policy is held by reference", "[resilient_call][holding]") {
    shared_counter counter;
    rs::resilient_call call{counter};
    static_assert(std::is_same_v<decltype(call), rs::resilient_call<shared_counter&>>);
    CHECK(&std::get<0>(call.elements()) == &counter);

    (void)call([] { return 1; });
    (void)call([] { return 2; });
    CHECK(counter.runs() == 2);

    rs::resilient_call other{counting_value{}, counter};  // a second composition shares the same object
    (void)other([] {});
    CHECK(counter.runs() == 3);
}

TEST_CASE("resilient_call: value policies are copied in", "[resilient_call][holding]") {
    counting_value named;
    rs::resilient_call call{named, counting_value{}};
    static_assert(std::is_same_v<decltype(call), rs::resilient_call<counting_value, counting_value>>);
    (void)call([] { return 1; });
    (void)call([] { return 1; });
    CHECK(named.runs == 0);  // the original is untouched
    CHECK(std::get<0>(call.elements()).runs == 2);
    CHECK(std::get<1>(call.elements()).runs == 2);

    SECTION("a const named value policy is copied too") {
        const counting_value c{};
        rs::resilient_call from_const{c};
        static_assert(std::is_same_v<element_t<decltype(from_const)>, counting_value>);
        (void)from_const([] {});
        CHECK(std::get<0>(from_const.elements()).runs == 1);
    }
    SECTION("a composition of several values is copyable, and its copy is independent") {
        auto copy = std::as_const(call);
        (void)copy([] {});
        CHECK(std::get<0>(copy.elements()).runs == 3);
        CHECK(std::get<0>(call.elements()).runs == 2);
    }
    SECTION("copy-list-initialisation works") {
        rs::resilient_call listed = {counting_value{}, counting_value{}};
        CHECK(listed([] { return 5; }).value() == 5);
    }
}

TEST_CASE("resilient_call: an empty composition just calls", "[resilient_call]") {
    rs::resilient_call<> bare;
    static_assert(std::is_same_v<decltype(bare)::clock_type, rs::steady_clock>);
    static_assert(std::is_same_v<decltype(bare)::listener_type, rs::null_listener>);
    CHECK(*bare([] { return 3; }) == 3);
    auto r = bare([]() -> rs::result<int> { return rs::failure::of(rs::failure_kind::error); });
    CHECK(r.error().attempts == 1u);
}

// --- clocks ------------------------------------------------------------------------------------------------------

TEST_CASE("resilient_call: the clock is adopted from a policy exposing clock()", "[resilient_call][clock]") {
    rs::manual_clock clk;
    clocked c{clk};
    rs::resilient_call call{counting_value{}, c};
    static_assert(std::is_same_v<decltype(call)::clock_type, rs::manual_clock>);
    static_assert(std::is_same_v<decltype(call), rs::resilient_call<counting_value, clocked&>>);
    CHECK(&call.clock() == &clk);

    const auto t0 = clk.now();
    auto r = call([&](const rs::attempt& a) {
        CHECK(a.now() == t0);  // virtual time reaches the callable
        CHECK(a.remaining() == 1s);
        clk.advance(250ms);
        CHECK(a.remaining() == 750ms);
        return rs::result<int>(rs::failure::of(rs::failure_kind::error));
    }, {.deadline = t0 + 1s});
    CHECK(c.seen_clock == &clk);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().elapsed == 250ms);  // measured on the adopted clock

    SECTION("a deadline on virtual time expires on virtual time") {
        clk.advance(1s);
        auto late = call([] { return 1; }, {.deadline = t0 + 1s});
        CHECK(late.error().kind == rs::failure_kind::deadline_exceeded);
    }
}

TEST_CASE("resilient_call: an explicit clock element", "[resilient_call][clock]") {
    rs::manual_clock clk;
    SECTION("a named manual_clock is held by reference") {
        rs::resilient_call call{clk};
        static_assert(std::is_same_v<decltype(call), rs::resilient_call<rs::manual_clock&>>);
        static_assert(std::is_same_v<decltype(call)::clock_type, rs::manual_clock>);
        CHECK(&call.clock() == &clk);
        clk.advance(1h);
        auto r = call([] { return 1; }, {.deadline = clk.start() + 30min});
        CHECK(r.error().kind == rs::failure_kind::deadline_exceeded);
    }
    SECTION("listed last, after policies") {
        rs::resilient_call call{counting_value{}, counting_value{}, clk};
        CHECK(&call.clock() == &clk);
    }
    SECTION("an explicit clock wins over a policy's clock of the same type") {
        rs::manual_clock other;
        clocked c{other};
        rs::resilient_call call{c, clk};
        CHECK(&call.clock() == &clk);
    }
    SECTION("a steady_clock temporary") {
        rs::resilient_call call{rs::steady_clock{}, counting_value{}};
        static_assert(std::is_same_v<decltype(call)::clock_type, rs::steady_clock>);
        CHECK(call([] { return 1; }, {.deadline = rs::steady_clock{}.now() + 1h}).has_value());
    }
}

// Regression: a named COPYABLE clock (a user's clock with state) used to be copied, so the composition
// read a stale copy.
TEST_CASE("resilient_call: a named copyable clock is held by reference", "[resilient_call][clock]") {
    rs::manual_clock inner;
    std::atomic<int> reads{0};
    counting_clock clk{&inner, &reads};
    rs::resilient_call call{clk};
    CHECK(&call.clock() == &clk);
}

TEST_CASE("resilient_call: a composition with no deadline and no listener reads no clock", "[resilient_call][clock]") {
    rs::manual_clock inner;
    std::atomic<int> reads{0};
    counting_clock clk{&inner, &reads};
    rs::resilient_call call{clk, counting_value{}};

    auto ok = call([] { return 1; });
    CHECK(ok.has_value());
    auto bad = call([]() -> rs::result<int> { return rs::failure::of(rs::failure_kind::error); });
    CHECK_FALSE(bad.has_value());
    CHECK(bad.error().elapsed == 0ns);  // documented: nothing measured it
    CHECK(reads.load() == 0);

    SECTION("a deadline makes it read the clock") {
        (void)call([] { return 1; }, {.deadline = inner.now() + 1s});
        CHECK(reads.load() > 0);
    }
}

// --- listener ----------------------------------------------------------------------------------------------------

TEST_CASE("resilient_call: the listener receives events in order", "[resilient_call][events]") {
    rs::manual_clock clk;
    recording_listener rec;
    rs::resilient_call call{announcing{}, again{2}, clk, rec};
    static_assert(std::is_same_v<decltype(call)::listener_type, recording_listener>);
    CHECK(&call.listener() == &rec);

    const auto t0 = clk.now();
    int calls = 0;
    auto r = call([&]() -> rs::result<int> {
        clk.advance(10ms);
        if (++calls == 1) return rs::failure::of(rs::failure_kind::error);
        return 2;
    });
    REQUIRE(r.has_value());

    std::vector<rs::event_type> types;
    for (auto& e : rec.events) types.push_back(e.type);
    CHECK(types == std::vector<rs::event_type>{rs::event_type::retry_scheduled, rs::event_type::attempt_started,
                                               rs::event_type::attempt_failed, rs::event_type::attempt_started,
                                               rs::event_type::attempt_succeeded, rs::event_type::fallback_used,
                                               rs::event_type::call_finished});
    REQUIRE(rec.events.size() == 7u);
    CHECK(rec.events[0].policy == "announcing");
    CHECK(rec.events[1].attempt == 1u);
    CHECK(rec.events[1].at == t0);
    CHECK(rec.events[2].attempt == 1u);
    CHECK(rec.events[2].at == t0 + 10ms);
    CHECK(rec.events[3].attempt == 2u);
    CHECK(rec.events[4].attempt == 2u);
    CHECK(rec.events[4].at == t0 + 20ms);
    CHECK(rec.events[5].policy == "announcing");
}

// --- failure fields --------------------------------------------------------------------------------------------

TEST_CASE("resilient_call: a failure leaves with attempts and elapsed filled", "[resilient_call][failure]") {
    rs::manual_clock clk;
    rs::resilient_call call{clk, again{3}};
    auto r = call([&]() -> rs::result<int> {
        clk.advance(250ms);
        return rs::failure::of(rs::failure_kind::error, "down");
    }, {.deadline = clk.now() + 1h});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().attempts == 3u);
    CHECK(r.error().elapsed == 750ms);
    CHECK(r.error().message == "down");

    SECTION("a listener reads the clock at the attempt, so elapsed is measured without a deadline") {
        recording_listener rec;  // a listener reads the clock at each attempt
        rs::resilient_call listened{clk, rec, again{1}};
        auto f = listened([&]() -> rs::result<void> {
            clk.advance(40ms);
            return rs::failure::of(rs::failure_kind::error);
        });
        CHECK(f.error().attempts == 1u);
        CHECK(f.error().elapsed == 40ms);
    }
    SECTION("a success leaves no failure behind") {
        auto ok = call([] { return 1; });
        CHECK(ok.has_value());
    }
}

// --- concurrency -----------------------------------------------------------------------------------------------

TEST_CASE("resilient_call: one composition called from many threads", "[resilient_call][threads][stress]") {
    shared_counter counter;
    std::atomic<int> events{0};
    rs::callback_listener count_events{[&](const rs::event&) { events.fetch_add(1, std::memory_order_relaxed); }};
    rs::manual_clock clk;
    rs::resilient_call call{again{2}, counter, clk, count_events};
    constexpr int threads = 8;
    constexpr int calls = 2000;
    std::atomic<int> wrong{0};

    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            for (int i = 0; i < calls; ++i) {
                bool fail_first = (i % 3) == 0;
                int tries = 0;
                auto r = call([&](const rs::attempt& a) -> rs::result<int> {
                    ++tries;
                    if (fail_first && a.number() == 1) return rs::failure::of(rs::failure_kind::error);
                    return t * calls + i;
                }, {.deadline = clk.now() + 1h});
                if (!r || *r != t * calls + i || tries != (fail_first ? 2 : 1)) wrong.fetch_add(1);
            }
        });
    }
    for (auto& th : pool) th.join();
    CHECK(wrong.load() == 0);
    const int retried = threads * ((calls + 2) / 3);
    CHECK(counter.runs() == threads * calls + retried);
    // attempt_started and attempt_* per attempt, call_finished per call.
    CHECK(events.load() == 2 * (threads * calls + retried) + threads * calls);
}

#if RESILIENCE_TEST_COUNTS_ALLOCATIONS
// --- allocations -----------------------------------------------------------------------------------------------

TEST_CASE("resilient_call: no heap allocation on the happy path", "[resilient_call][alloc]") {
    rs::manual_clock clk;
    shared_counter counter;
    tally_listener tally;
    std::stop_source src;  // allocates its shared state: made before counting
    rs::call_options opts{.deadline = clk.now() + 1h, .id = "req-1", .stop = src.get_token()};
    int sum = 0;

    SECTION("bare composition") {
        rs::resilient_call<> bare;
        CHECK(all_allocations_during([&] { sum += *bare([] { return 1; }); }) == 0);
    }
    SECTION("policies, clock, listener, deadline and stop token") {
        const std::uint64_t n = all_allocations_during([&] {
            rs::resilient_call call{counting_value{}, again{3}, counter, clk, tally};
            for (int i = 0; i < 100; ++i) {
                auto r = call([&](const rs::attempt& a) -> rs::result<int> {
                    if (a.number() == 1 && i % 2 == 0) return rs::failure::of(rs::failure_kind::error, "once");
                    return i;
                }, opts);
                sum += r ? *r : -1;
            }
            (void)call([] {}, opts);
        });
        CHECK(n == 0);
        CHECK(tally[rs::event_type::attempt_started] == 151);
    }
    SECTION("a failed call") {
        rs::resilient_call call{again{2}, clk, tally};
        const std::uint64_t n = all_allocations_during([&] {
            auto r = call([]() -> rs::result<int> { return rs::failure::of(rs::failure_kind::error); }, opts);
            sum += r.error().attempts == 2u ? 1 : 0;
        });
        CHECK(n == 0);
    }
    CHECK(sum != 0);
}

TEST_CASE("resilient_call: no heap allocation on the rejection paths", "[resilient_call][alloc]") {
    rs::manual_clock clk;
    tally_listener tally;
    std::stop_source stopped;
    stopped.request_stop();
    rs::call_options cancelled{.deadline = clk.now() + 1h, .stop = stopped.get_token()};
    rs::call_options expired{.deadline = clk.now()};
    rs::resilient_call call{again{3}, clk, tally};
    int failures = 0;
    const std::uint64_t n = all_allocations_during([&] {
        for (int i = 0; i < 50; ++i) {
            failures += call([] { return 1; }, cancelled).has_value() ? 0 : 1;
            failures += call([] { return 1; }, expired).has_value() ? 0 : 1;
        }
    });
    CHECK(n == 0);
    CHECK(failures == 100);
    CHECK(tally[rs::event_type::rejected] == 150);  // cancelled: every attempt of `again` is refused
    CHECK(tally[rs::event_type::timeout] == 150);
}

TEST_CASE("the allocation counter counts", "[alloc]") {
    // Guards the tests above against a replacement that is not in effect.
    const std::uint64_t n = all_allocations_during([] {
        auto p = std::make_unique<int>(1);
        auto v = std::vector<int>(100);
        (void)p;
        (void)v;
    });
    CHECK(n == 2);
}
#endif  // RESILIENCE_TEST_COUNTS_ALLOCATIONS

namespace {
struct pass_through_policy {
    template <class Ctx, class Next>
    auto execute(Ctx& ctx, Next&& next) {
        return next(ctx);
    }
};
}  // namespace

TEST_CASE("resilient_call: a one-element composition is copyable from a non-const lvalue", "[resilient_call]") {
    rs::resilient_call c1{pass_through_policy{}};
    auto c2 = c1;               // picks the copy constructor, not the element constructor
    rs::resilient_call c3{c1};  // the copy deduction candidate
    CHECK(c2([] { return 1; }).has_value());
    CHECK(c3([] { return 2; }).has_value());
}
