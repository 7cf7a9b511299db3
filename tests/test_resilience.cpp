// SPDX-License-Identifier: MIT
//
// resilience.hpp, the umbrella: a realistic pipeline of every policy the library has (picked up with
// __has_include, so this file grows as policies land), on virtual time: what a Lambda handler sees on
// success, on a transient failure, on a slow or dead dependency, with the caller's deadline or
// cancellation, what reaches the dead-letter sink, the whole pipeline under concurrent load, and zero
// heap allocations on the happy path and the rejection paths of each policy and of the composition.
#include "support/allocations.hpp"
#include "support/catch.hpp"
#include "support/string_makers.hpp"

#include <resilience/resilience.hpp>

#if __has_include(<resilience/timeout.hpp>)
#include <resilience/timeout.hpp>
#define RESILIENCE_TEST_TIMEOUT 1
#else
#define RESILIENCE_TEST_TIMEOUT 0
#endif
#if __has_include(<resilience/retry.hpp>)
#include <resilience/retry.hpp>
#define RESILIENCE_TEST_RETRY 1
#else
#define RESILIENCE_TEST_RETRY 0
#endif
#if __has_include(<resilience/circuit_breaker.hpp>)
#include <resilience/circuit_breaker.hpp>
#define RESILIENCE_TEST_BREAKER 1
#else
#define RESILIENCE_TEST_BREAKER 0
#endif
#if __has_include(<resilience/bulkhead.hpp>)
#include <resilience/bulkhead.hpp>
#define RESILIENCE_TEST_BULKHEAD 1
#else
#define RESILIENCE_TEST_BULKHEAD 0
#endif
#if __has_include(<resilience/rate_limiter.hpp>)
#include <resilience/rate_limiter.hpp>
#define RESILIENCE_TEST_RATE_LIMITER 1
#else
#define RESILIENCE_TEST_RATE_LIMITER 0
#endif
#if __has_include(<resilience/fallback.hpp>)
#include <resilience/fallback.hpp>
#define RESILIENCE_TEST_FALLBACK 1
#else
#define RESILIENCE_TEST_FALLBACK 0
#endif
#if __has_include(<resilience/dead_letter.hpp>)
#include <resilience/dead_letter.hpp>
#define RESILIENCE_TEST_DEAD_LETTER 1
#else
#define RESILIENCE_TEST_DEAD_LETTER 0
#endif

#include <array>
#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

namespace rs = resilience;
using namespace std::chrono_literals;

// Allocations by every thread of the program while a function runs (the allocation tests are compiled
// out under TSan, where nothing is counted).
using resilience_test::all_allocations_during;

namespace {

struct response {
    int status = 200;
    std::string_view body{};
};

// Counts events by type; allocates nothing, thread-safe.
struct tally_listener {
    std::array<std::atomic<int>, 16> by_type{};
    void on_event(const rs::event& e) noexcept {
        by_type[static_cast<std::size_t>(e.type)].fetch_add(1, std::memory_order_relaxed);
    }
    int operator[](rs::event_type t) const noexcept { return by_type[static_cast<std::size_t>(t)].load(); }
};

// Records the sequence of event types (allocates: not for the allocation tests).
struct sequence_listener {
    std::mutex m;
    std::vector<rs::event_type> types;
    void on_event(const rs::event& e) {
        std::lock_guard g(m);
        types.push_back(e.type);
    }
    bool saw(rs::event_type t) {
        std::lock_guard g(m);
        for (auto x : types)
            if (x == t) return true;
        return false;
    }
};

#if RESILIENCE_TEST_DEAD_LETTER
struct vector_sink {
    std::mutex m;
    std::vector<rs::dead_letter_record> records;
    rs::result<void> publish(const rs::dead_letter_record& r) {
        std::lock_guard g(m);
        records.push_back(r);
        return {};
    }
    std::size_t size() {
        std::lock_guard g(m);
        return records.size();
    }
};
#endif

// What lives as long as the execution environment, on virtual time, plus the handler's composition.
template <class Listener>
struct environment {
    rs::manual_clock clk;
    Listener events;
#if RESILIENCE_TEST_BREAKER
    rs::circuit_breaker<rs::manual_clock> breaker{{.failure_threshold = 5, .open_duration = 30s}, clk};
#endif
#if RESILIENCE_TEST_BULKHEAD
    rs::bulkhead<rs::manual_clock> pool{{.max_concurrent = 4}, clk};
#endif
#if RESILIENCE_TEST_RATE_LIMITER
    rs::rate_limiter<rs::manual_clock> limiter{{.permits = 1'000'000, .per = 1s, .burst = 1'000'000}, clk};
#endif
#if RESILIENCE_TEST_DEAD_LETTER
    vector_sink dlq;
#endif

    template <class F>
    rs::call_result_t<F> fetch(F&& f, const rs::call_options& opts) {
        rs::resilient_call call{
#if RESILIENCE_TEST_DEAD_LETTER
            rs::dead_letter{dlq},
#endif
#if RESILIENCE_TEST_TIMEOUT
            rs::timeout{2s},
#endif
#if RESILIENCE_TEST_RETRY
            rs::retry{{.max_attempts = 4, .backoff = rs::exponential_backoff{50ms, 2s, rs::full_jitter}}},
#endif
#if RESILIENCE_TEST_BREAKER
            breaker,
#endif
#if RESILIENCE_TEST_BULKHEAD
            pool,
#endif
#if RESILIENCE_TEST_RATE_LIMITER
            limiter,
#endif
#if RESILIENCE_TEST_TIMEOUT
            rs::timeout{500ms},
#endif
            clk,
            events,
        };
        static_assert(std::is_same_v<typename decltype(call)::clock_type, rs::manual_clock>);
        return call(std::forward<F>(f), opts);
    }

    // The same without retry: nothing sleeps, so virtual time stands still. For concurrent tests: on a
    // manual_clock one thread's backoff advances time for every thread, which would make other threads'
    // attempts late.
    template <class F>
    rs::call_result_t<F> fetch_once(F&& f, const rs::call_options& opts) {
        rs::resilient_call call{
#if RESILIENCE_TEST_DEAD_LETTER
            rs::dead_letter{dlq},
#endif
#if RESILIENCE_TEST_TIMEOUT
            rs::timeout{2s},
#endif
#if RESILIENCE_TEST_BREAKER
            breaker,
#endif
#if RESILIENCE_TEST_BULKHEAD
            pool,
#endif
#if RESILIENCE_TEST_RATE_LIMITER
            limiter,
#endif
#if RESILIENCE_TEST_TIMEOUT
            rs::timeout{500ms},
#endif
            clk,
            events,
        };
        return call(std::forward<F>(f), opts);
    }
};

}  // namespace

TEST_CASE("resilience.hpp: the umbrella brings the core", "[resilience]") {
    static_assert(rs::clock<rs::manual_clock>);
    static_assert(!rs::policy<int>);
    static_assert(rs::classifier_for<rs::default_classifier, int>);
    rs::resilient_call<> bare;
    CHECK(bare([] { return rs::ok(); }).has_value());
    CHECK(rs::default_classifier{}(rs::result<int>(rs::failure::of(rs::failure_kind::timeout))) == rs::verdict::transient);
}

TEST_CASE("pipeline: the happy path is one attempt and two events", "[resilience][pipeline]") {
    environment<sequence_listener> env;
    auto r = env.fetch([](const rs::attempt& a) { return response{200, a.has_deadline() ? "bounded" : "unbounded"}; },
                       {.deadline = env.clk.now() + 10s, .id = "req-1"});
    REQUIRE(r.has_value());
    CHECK(r->body == "bounded");
    CHECK(env.events.types == std::vector<rs::event_type>{rs::event_type::attempt_started, rs::event_type::attempt_succeeded,
                                                     rs::event_type::call_finished});
    CHECK(env.clk.elapsed() == 0ns);  // nothing waited
#if RESILIENCE_TEST_DEAD_LETTER
    CHECK(env.dlq.size() == 0u);
#endif
}

TEST_CASE("pipeline: the attempt's deadline is the tightest of caller and timeouts", "[resilience][pipeline]") {
    environment<tally_listener> env;
    const auto t0 = env.clk.now();
    rs::time_point seen{};
    auto r = env.fetch([&](const rs::attempt& a) {
        seen = a.deadline();
        return 1;
    }, {.deadline = t0 + 10s});
    REQUIRE(r.has_value());
#if RESILIENCE_TEST_TIMEOUT
    CHECK(seen == t0 + 500ms);  // the per-attempt timeout
#else
    CHECK(seen == t0 + 10s);
#endif
    // A Lambda with 300ms left: the caller's deadline wins over every timeout.
    (void)env.fetch([&](const rs::attempt& a) {
        seen = a.deadline();
        return 1;
    }, {.deadline = t0 + 300ms});
    CHECK(seen == t0 + 300ms);
}

TEST_CASE("pipeline: a transient failure", "[resilience][pipeline]") {
    environment<sequence_listener> env;
    int calls = 0;
    auto r = env.fetch([&]() -> rs::result<response> {
        if (++calls == 1) {
            return rs::failure::from_error(std::make_error_code(std::errc::connection_reset), rs::transience::transient,
                                           "connection reset");
        }
        return response{200, "ok"};
    }, {.deadline = env.clk.now() + 10s, .id = "req-2"});
#if RESILIENCE_TEST_RETRY
    REQUIRE(r.has_value());
    CHECK(calls == 2);
    CHECK(env.events.saw(rs::event_type::retry_scheduled));
    CHECK(env.clk.sleep_count() == 1u);
    CHECK(env.clk.total_slept() <= 50ms);  // full jitter of the first backoff: within [0, 50ms]
#else
    REQUIRE_FALSE(r.has_value());
    CHECK(calls == 1);
#endif
}

TEST_CASE("pipeline: a slow dependency is cut by the timeouts", "[resilience][pipeline]") {
    environment<tally_listener> env;
    const auto t0 = env.clk.now();
    int calls = 0;
    auto r = env.fetch([&](const rs::attempt&) {
        ++calls;
        env.clk.advance(700ms);
        return response{200, "late"};
    }, {.deadline = t0 + 10s, .id = "req-3"});
#if RESILIENCE_TEST_TIMEOUT
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == rs::failure_kind::timeout);
    REQUIRE(r.last_value() != nullptr);  // the late response stays reachable
    CHECK(r.last_value()->body == "late");
    CHECK(env.clk.now() - t0 <= 2s + 700ms);  // the overall budget held, give or take one late attempt
    CHECK(r.error().attempts == static_cast<std::uint32_t>(calls));
#else
    CHECK(r.has_value());
#endif
#if RESILIENCE_TEST_TIMEOUT && RESILIENCE_TEST_RETRY
    CHECK(calls >= 2);
#endif
}

TEST_CASE("pipeline: the caller's deadline and stop token are honoured before any attempt", "[resilience][pipeline]") {
    environment<tally_listener> env;
    int calls = 0;
    SECTION("deadline already passed") {
        auto r = env.fetch([&] { return ++calls; }, {.deadline = env.clk.now(), .id = "req-4", .payload = "p"});
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::deadline_exceeded);
        CHECK(r.error().attempts == 0u);
    }
    SECTION("cancelled") {
        std::stop_source src;
        src.request_stop();
        auto r = env.fetch([&] { return ++calls; }, {.deadline = env.clk.now() + 10s, .stop = src.get_token()});
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::cancelled);
    }
    CHECK(calls == 0);
    CHECK(env.clk.sleep_count() == 0u);  // nothing retried what cannot succeed
}

#if RESILIENCE_TEST_DEAD_LETTER
TEST_CASE("pipeline: a final failure reaches the dead-letter sink with what a replay needs", "[resilience][pipeline]") {
    environment<tally_listener> env;
    const auto t0 = env.clk.now();
    auto r = env.fetch([&]() -> rs::result<response> {
        env.clk.advance(10ms);
        return rs::failure::from_error(std::make_error_code(std::errc::connection_refused), rs::transience::transient,
                                       "connection refused");
    }, {.deadline = t0 + 10s, .id = "msg-9", .payload = R"({"order":9})", .source = "orders-api.get"});
    REQUIRE_FALSE(r.has_value());
    REQUIRE(env.dlq.size() == 1u);
    const auto& rec = env.dlq.records[0];
    CHECK(rec.id == "msg-9");
    CHECK_FALSE(rec.id_generated);
    CHECK(rec.payload == R"({"order":9})");
    CHECK(rec.source == "orders-api.get");
    CHECK(rec.kind == r.error().kind);
    CHECK(rec.attempts == r.error().attempts);
    CHECK(rec.message == "connection refused");
    CHECK(rec.error_value == static_cast<int>(std::errc::connection_refused));
    // Timestamps come from the composition's clock: deterministic on a manual_clock.
    CHECK(rec.first_attempt == std::chrono::floor<std::chrono::milliseconds>(env.clk.to_sys(t0)));
    CHECK(rec.elapsed == r.error().elapsed);
#if RESILIENCE_TEST_RETRY
    CHECK(rec.attempts == 4u);
#else
    CHECK(rec.attempts == 1u);
#endif
    CHECK(env.events[rs::event_type::dead_letter_published] == 1);
}
#endif

#if RESILIENCE_TEST_BREAKER
TEST_CASE("pipeline: a dead dependency opens the breaker, which recovers lazily", "[resilience][pipeline]") {
    environment<tally_listener> env;
    bool up = false;
    int calls = 0;
    auto dependency = [&]() -> rs::result<response> {
        ++calls;
        if (up) return response{200, "back"};
        return rs::failure::from_error(std::make_error_code(std::errc::connection_refused), rs::transience::transient);
    };
    for (int i = 0; i < 5; ++i) (void)env.fetch(dependency, {.deadline = env.clk.now() + 10s});
    CHECK(env.breaker.state() == rs::circuit_state::open);

    const int before = calls;
    auto r = env.fetch(dependency, {.deadline = env.clk.now() + 10s});
    REQUIRE_FALSE(r.has_value());
    CHECK(calls == before);  // fail fast: the dependency is spared
    CHECK((r.error().kind == rs::failure_kind::circuit_open || r.error().cause == rs::failure_kind::circuit_open));

    up = true;
    env.clk.advance(31s);  // no timer fired; the next call finds the open duration over
    auto back = env.fetch(dependency, {.deadline = env.clk.now() + 10s});
    REQUIRE(back.has_value());
    CHECK(env.breaker.state() == rs::circuit_state::closed);
}
#endif

#if RESILIENCE_TEST_FALLBACK
TEST_CASE("pipeline: a fallback outside everything answers for any failure", "[resilience][pipeline]") {
    rs::manual_clock clk;
    rs::resilient_call call{
        rs::fallback{[](const rs::failure& f) { return response{503, rs::to_string(f.kind)}; }},
#if RESILIENCE_TEST_TIMEOUT
        rs::timeout{1s},
#endif
        clk,
    };
    auto r = call([&]() -> rs::result<response> { return rs::failure::of(rs::failure_kind::error); });
    REQUIRE(r.has_value());
    CHECK(r->status == 503);
    CHECK(r->body == "error");
}
#endif

#if RESILIENCE_TEST_BULKHEAD
TEST_CASE("pipeline: under concurrent load the bulkhead bounds what reaches the dependency",
          "[resilience][pipeline][threads][stress]") {
    environment<tally_listener> env;
    constexpr int threads = 8;
    constexpr int calls = 300;
    std::atomic<int> in_flight{0};
    std::atomic<int> peak{0};
    std::atomic<int> ok{0};
    std::atomic<int> full{0};
    std::atomic<int> other{0};

    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&] {
            for (int i = 0; i < calls; ++i) {
                auto r = env.fetch_once([&]() -> rs::result<int> {
                    int now = in_flight.fetch_add(1) + 1;
                    int p = peak.load();
                    while (now > p && !peak.compare_exchange_weak(p, now)) {
                    }
                    std::this_thread::yield();  // widen the window in which calls overlap (no sleeping)
                    in_flight.fetch_sub(1);
                    return 1;
                }, {.deadline = env.clk.now() + 1h});
                if (r) {
                    ok.fetch_add(1);
                } else if (r.error().kind == rs::failure_kind::bulkhead_full ||
                           r.error().cause == rs::failure_kind::bulkhead_full) {
                    full.fetch_add(1);
                } else {
                    other.fetch_add(1);
                }
            }
        });
    }
    for (auto& th : pool) th.join();
    CHECK(ok.load() + full.load() + other.load() == threads * calls);
    CHECK(other.load() == 0);
    CHECK(ok.load() > 0);
    CHECK(peak.load() <= 4);  // max_concurrent
    CHECK(env.pool.in_use() == 0u);
    CHECK(env.events[rs::event_type::attempt_started] == env.events[rs::event_type::attempt_succeeded]);
#if RESILIENCE_TEST_DEAD_LETTER
    CHECK(env.dlq.size() == static_cast<std::size_t>(full.load()));
#endif
}
#endif

#if RESILIENCE_TEST_COUNTS_ALLOCATIONS
// --- zero allocations ----------------------------------------------------------------------------------

TEST_CASE("no heap allocation on the happy path of each policy", "[resilience][alloc]") {
    rs::manual_clock clk;
    tally_listener tally;
    const rs::call_options opts{.deadline = clk.now() + 1h, .id = "req"};
    long sum = 0;
    auto ok = [&](const rs::attempt& a) { return static_cast<long>(a.number()); };

    // Each composition runs once before counting: first-use statics (a thread's random state) are not a
    // per-call cost.
    auto measure = [&](auto& call) {
        sum += *call(ok, opts);
        return all_allocations_during([&] {
            for (int i = 0; i < 20; ++i) sum += *call(ok, opts);
        });
    };

    SECTION("resilient_call alone") {
        rs::resilient_call call{clk, tally};
        CHECK(measure(call) == 0);
    }
#if RESILIENCE_TEST_TIMEOUT
    SECTION("timeout") {
        rs::resilient_call call{rs::timeout{1s}, clk, tally};
        CHECK(measure(call) == 0);
    }
#endif
#if RESILIENCE_TEST_RETRY
    SECTION("retry") {
        rs::resilient_call call{rs::retry{}, clk, tally};
        CHECK(measure(call) == 0);
    }
#endif
#if RESILIENCE_TEST_BREAKER
    SECTION("circuit_breaker") {
        rs::circuit_breaker<rs::manual_clock> breaker{{}, clk};
        rs::resilient_call call{breaker, tally};
        CHECK(measure(call) == 0);
    }
#endif
#if RESILIENCE_TEST_BULKHEAD
    SECTION("bulkhead") {
        rs::bulkhead<rs::manual_clock> pool{{.max_concurrent = 2}, clk};
        rs::resilient_call call{pool, tally};
        CHECK(measure(call) == 0);
    }
#endif
#if RESILIENCE_TEST_RATE_LIMITER
    SECTION("rate_limiter") {
        rs::rate_limiter<rs::manual_clock> limiter{{.permits = 1000, .per = 1s, .burst = 1000}, clk};
        rs::resilient_call call{limiter, tally};
        CHECK(measure(call) == 0);
    }
#endif
#if RESILIENCE_TEST_FALLBACK
    SECTION("fallback") {
        rs::resilient_call call{rs::fallback{-1L}, clk, tally};
        CHECK(measure(call) == 0);
    }
#endif
#if RESILIENCE_TEST_DEAD_LETTER
    SECTION("dead_letter") {
        vector_sink sink;
        rs::resilient_call call{rs::dead_letter{sink}, clk, tally};
        CHECK(measure(call) == 0);
    }
#endif
    SECTION("the whole pipeline") {
        environment<tally_listener> env;
        auto run = [&] { sum += env.fetch(ok, {.deadline = env.clk.now() + 1h}).value_or(0); };
        run();
        CHECK(all_allocations_during([&] {
                  for (int i = 0; i < 20; ++i) run();
              }) == 0);
    }
    CHECK(sum > 0);
}

TEST_CASE("no heap allocation on the rejection paths", "[resilience][alloc]") {
    rs::manual_clock clk;
    tally_listener tally;
    const rs::call_options opts{.deadline = clk.now() + 1h};
    int invoked = 0;
    auto fn = [&] { return ++invoked; };
    int rejected = 0;

    SECTION("an expired deadline and a cancelled call") {
        std::stop_source src;
        src.request_stop();
        const rs::call_options expired{.deadline = clk.now()};
        const rs::call_options cancelled{.stop = src.get_token()};
        rs::resilient_call call{clk, tally};
        CHECK(all_allocations_during([&] {
                  for (int i = 0; i < 10; ++i) {
                      rejected += call(fn, expired).has_value() ? 0 : 1;
                      rejected += call(fn, cancelled).has_value() ? 0 : 1;
                  }
              }) == 0);
        CHECK(rejected == 20);
    }
#if RESILIENCE_TEST_TIMEOUT
    SECTION("timeout: a late return") {
        rs::resilient_call call{rs::timeout{10ms}, clk, tally};
        auto late = [&] {
            clk.advance(20ms);
            return 1;
        };
        CHECK(all_allocations_during([&] {
                  for (int i = 0; i < 10; ++i) rejected += call(late, opts).has_value() ? 0 : 1;
              }) == 0);
        CHECK(rejected == 10);
    }
#endif
#if RESILIENCE_TEST_RETRY
    SECTION("retry: exhausted") {
        rs::resilient_call call{rs::retry{{.max_attempts = 3}}, clk, tally};
        auto failing = []() -> rs::result<int> { return rs::failure::of(rs::failure_kind::error); };
        (void)call(failing, opts);
        CHECK(all_allocations_during([&] {
                  for (int i = 0; i < 10; ++i) rejected += call(failing, opts).has_value() ? 0 : 1;
              }) == 0);
        CHECK(rejected == 10);
    }
#endif
#if RESILIENCE_TEST_BREAKER
    SECTION("circuit_breaker: open") {
        rs::circuit_breaker<rs::manual_clock> breaker{{}, clk};
        breaker.isolate();
        rs::resilient_call call{breaker, tally};
        CHECK(all_allocations_during([&] {
                  for (int i = 0; i < 10; ++i) rejected += call(fn, opts).has_value() ? 0 : 1;
              }) == 0);
        CHECK(rejected == 10);
    }
#endif
#if RESILIENCE_TEST_BULKHEAD
    SECTION("bulkhead: full") {
        rs::bulkhead<rs::manual_clock> pool{{.max_concurrent = 1}, clk};
        auto held = pool.try_acquire();
        REQUIRE(held.held());
        rs::resilient_call call{pool, tally};
        CHECK(all_allocations_during([&] {
                  for (int i = 0; i < 10; ++i) rejected += call(fn, opts).has_value() ? 0 : 1;
              }) == 0);
        CHECK(rejected == 10);
    }
#endif
#if RESILIENCE_TEST_RATE_LIMITER
    SECTION("rate_limiter: empty") {
        rs::rate_limiter<rs::manual_clock> limiter{{.permits = 1, .per = 1h, .burst = 1}, clk};
        rs::resilient_call call{limiter, tally};
        (void)call(fn, opts);  // takes the only token
        CHECK(all_allocations_during([&] {
                  for (int i = 0; i < 10; ++i) rejected += call(fn, opts).has_value() ? 0 : 1;
              }) == 0);
        CHECK(rejected == 10);
    }
#endif
#if RESILIENCE_TEST_FALLBACK
    SECTION("fallback: replacing a failure by a value") {
        rs::resilient_call call{rs::fallback{7}, clk, tally};
        auto failing = []() -> rs::result<int> { return rs::failure::of(rs::failure_kind::error); };
        int sum = 0;
        CHECK(all_allocations_during([&] {
                  for (int i = 0; i < 10; ++i) sum += call(failing, opts).value_or(0);
              }) == 0);
        CHECK(sum == 70);
    }
#endif
    CHECK(invoked <= 1);
}
#endif  // RESILIENCE_TEST_COUNTS_ALLOCATIONS
