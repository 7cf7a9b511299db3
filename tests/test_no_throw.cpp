// SPDX-License-Identifier: MIT
//
// Exceptions proof: the library throws nothing of its own -- not on the happy path, not on a rejection,
// not when a deadline has passed -- and a rejected call never reaches the callable.
//
// Two independent witnesses:
// - a callable that counts its invocations and throws when invoked: on a rejection path it must not
//   have run, and the call must return the rejection as a value;
// - every `throw` in the process goes through the C++ runtime's `__cxa_throw`; this TU interposes it
//   (glibc/libstdc++ and libc++abi on Linux) and counts the throws made by the current thread, so a
//   throw that the library caught itself would still be seen. Where interposition is not available
//   the second witness is skipped and says so.
// The third witness, the library compiled with -fno-exceptions, is tests/flags/no_exceptions.cpp.

#include "support/catch.hpp"

#include <resilience/bulkhead.hpp>
#include <resilience/circuit_breaker.hpp>
#include <resilience/dead_letter.hpp>
#include <resilience/fallback.hpp>
#include <resilience/rate_limiter.hpp>
#include <resilience/resilient_call.hpp>
#include <resilience/retry.hpp>
#include <resilience/sinks/memory_sink.hpp>
#include <resilience/timeout.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <thread>
#include <typeinfo>

#if defined(__linux__) && defined(__has_include)
#if __has_include(<dlfcn.h>)
#define RESILIENCE_TEST_COUNTS_THROWS 1
#endif
#endif
#ifndef RESILIENCE_TEST_COUNTS_THROWS
#define RESILIENCE_TEST_COUNTS_THROWS 0
#endif

#if RESILIENCE_TEST_COUNTS_THROWS
#include <cxxabi.h>  // the runtime's own declaration of __cxa_throw, which the definition below matches
#include <dlfcn.h>
#endif

namespace {
thread_local std::uint64_t throws = 0;
}  // namespace

#if RESILIENCE_TEST_COUNTS_THROWS
// The runtime's entry point for every throw expression. Counting, then forwarding to the real one.
namespace __cxxabiv1 {
extern "C" void __cxa_throw(void* object, std::type_info* type, void (*destroy)(void*)) {
    using real_t = void (*)(void*, std::type_info*, void (*)(void*));
    static const real_t real = reinterpret_cast<real_t>(dlsym(RTLD_NEXT, "__cxa_throw"));
    ++throws;
    if (real == nullptr) std::abort();
    real(object, type, destroy);
    std::abort();  // the real __cxa_throw does not return
}
}  // namespace __cxxabiv1
#endif

namespace {

namespace rs = resilience;
using namespace std::chrono_literals;

/// Throws made by this thread while `f` runs.
template <class F>
std::uint64_t throws_during(F&& f) {
    const std::uint64_t before = throws;
    f();
    return throws - before;
}

/// A callable that counts its invocations and throws when `throwing`.
struct counting_callable {
    std::atomic<int>* invocations;
    bool throwing = true;
    rs::result<int> operator()() const {
        invocations->fetch_add(1);
        if (throwing) throw std::runtime_error("the dependency threw");
        return 42;
    }
};

}  // namespace

TEST_CASE("the throw counter sees throws, including caught ones", "[no_throw]") {
    if (!RESILIENCE_TEST_COUNTS_THROWS) {
        WARN("__cxa_throw interposition is not available here: only the callable counters are checked");
        return;
    }
    const auto n = throws_during([] {
        try {
            throw std::runtime_error("seen");
        } catch (const std::exception&) {
        }
    });
    CHECK(n == 1);
}

TEST_CASE("a callable's exception is caught once and returned as a failure", "[no_throw]") {
    std::atomic<int> invocations{0};
    rs::resilient_call<> call{};
    const counting_callable f{&invocations};
    rs::result<int> r = rs::failure::of(rs::failure_kind::cancelled);
    const auto n = throws_during([&] { r = call(f); });
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == rs::failure_kind::error);
    CHECK(r.error().exception != nullptr);
    CHECK(invocations.load() == 1);
    if (RESILIENCE_TEST_COUNTS_THROWS) CHECK(n == 1);  // the callable's own throw, nothing more
}

TEST_CASE("happy paths throw nothing", "[no_throw]") {
    std::atomic<int> invocations{0};
    const counting_callable f{&invocations, false};
    SECTION("timeout") {
        rs::resilient_call call{rs::timeout{1s}};
        CHECK(throws_during([&] { CHECK(call(f).has_value()); }) == 0);
    }
    SECTION("fallback, not used") {
        rs::resilient_call call{rs::fallback{7}};
        CHECK(throws_during([&] { CHECK(*call(f) == 42); }) == 0);
    }
    SECTION("retry, not needed") {
        rs::resilient_call call{rs::retry{{.max_attempts = 3}}};
        CHECK(throws_during([&] { CHECK(call(f).has_value()); }) == 0);
    }
    SECTION("circuit_breaker, closed") {
        rs::circuit_breaker breaker{{.failure_threshold = 5, .open_duration = 30s}};
        rs::resilient_call call{breaker};
        CHECK(throws_during([&] { CHECK(call(f).has_value()); }) == 0);
    }
    SECTION("bulkhead, a free slot") {
        rs::bulkhead pool{{.max_concurrent = 8}};
        rs::resilient_call call{pool};
        CHECK(throws_during([&] { CHECK(call(f).has_value()); }) == 0);
    }
    SECTION("rate_limiter, a token available") {
        rs::rate_limiter limiter{{.permits = 100, .per = 1s, .burst = 100}};
        rs::resilient_call call{limiter};
        CHECK(throws_during([&] { CHECK(call(f).has_value()); }) == 0);
    }
    SECTION("dead_letter, nothing to write") {
        rs::memory_sink sink;
        rs::resilient_call call{rs::dead_letter{sink, {.source = "test"}}};
        CHECK(throws_during([&] { CHECK(call(f).has_value()); }) == 0);
        CHECK(sink.size() == 0);
    }
    CHECK(invocations.load() == 1);
}

TEST_CASE("a passed deadline is refused without running or throwing", "[no_throw]") {
    std::atomic<int> invocations{0};
    const counting_callable f{&invocations};
    rs::call_options opts{.deadline = std::chrono::steady_clock::now() - 1s};
    SECTION("bare composition") {
        rs::resilient_call<> call{};
        rs::result<int> r = 0;
        CHECK(throws_during([&] { r = call(f, opts); }) == 0);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::deadline_exceeded);
    }
    SECTION("under a timeout") {
        rs::resilient_call call{rs::timeout{1s}};
        rs::result<int> r = 0;
        CHECK(throws_during([&] { r = call(f, opts); }) == 0);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::deadline_exceeded);
    }
    SECTION("a timeout expiring on a manual clock is a value too") {
        rs::manual_clock clk;
        rs::resilient_call call{clk, rs::timeout{10ms}};
        auto slow = [&clk] {
            clk.advance(20ms);
            return rs::result<int>(1);
        };
        rs::result<int> r = 0;
        CHECK(throws_during([&] { r = call(slow); }) == 0);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::timeout);
    }
    CHECK(invocations.load() == 0);
}

TEST_CASE("an open or isolated breaker rejects without running or throwing", "[no_throw]") {
    std::atomic<int> invocations{0};
    rs::circuit_breaker breaker{{.failure_threshold = 2, .open_duration = 1h}};
    rs::resilient_call call{breaker};
    SECTION("open: tripped by thrown exceptions, then rejecting") {
        const counting_callable thrower{&invocations};
        // The two trips are the callable's own throws, caught and counted as failures.
        CHECK(throws_during([&] {
                  (void)call(thrower);
                  (void)call(thrower);
              }) == (RESILIENCE_TEST_COUNTS_THROWS ? 2 : 0));
        REQUIRE(breaker.state() == rs::circuit_state::open);
        REQUIRE(invocations.load() == 2);
        rs::result<int> r = 0;
        CHECK(throws_during([&] {
                  for (int i = 0; i < 100; ++i) r = call(thrower);
              }) == 0);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::circuit_open);
        CHECK(r.error().retry_after > 0s);
        CHECK(invocations.load() == 2);
    }
    SECTION("isolated") {
        breaker.isolate();
        const counting_callable thrower{&invocations};
        rs::result<int> r = 0;
        CHECK(throws_during([&] { r = call(thrower); }) == 0);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::circuit_open);
        CHECK(invocations.load() == 0);
    }
}

TEST_CASE("retry adds no throw of its own", "[no_throw]") {
    rs::manual_clock clk;
    SECTION("two failures returned as values, then a success") {
        rs::resilient_call call{clk, rs::retry{{.max_attempts = 3, .backoff = rs::constant_backoff{10ms}}}};
        int n = 0;
        auto f = [&n]() -> rs::result<int> {
            if (++n < 3) return rs::failure::of(rs::failure_kind::error, "failed");
            return 42;
        };
        CHECK(throws_during([&] { CHECK(call(f).has_value()); }) == 0);
        CHECK(n == 3);
    }
    SECTION("a throwing callable: one throw per attempt, nothing more") {
        std::atomic<int> invocations{0};
        const counting_callable f{&invocations};
        rs::resilient_call call{clk, rs::retry{{.max_attempts = 3, .backoff = rs::constant_backoff{10ms}}}};
        rs::result<int> r = 0;
        const auto n = throws_during([&] { r = call(f); });
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().exception != nullptr);
        CHECK(invocations.load() == 3);
        if (RESILIENCE_TEST_COUNTS_THROWS) CHECK(n == 3);
    }
    SECTION("an open breaker inside retry: rejections are values, the callable never runs") {
        std::atomic<int> invocations{0};
        const counting_callable f{&invocations};
        rs::circuit_breaker breaker{{.failure_threshold = 1, .open_duration = 1h}, clk};
        breaker.isolate();
        rs::resilient_call call{rs::retry{{.max_attempts = 3, .backoff = rs::constant_backoff{10ms}}}, breaker};
        rs::result<int> r = 0;
        CHECK(throws_during([&] { r = call(f); }) == 0);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::circuit_open);
        CHECK(invocations.load() == 0);
    }
}

TEST_CASE("a full bulkhead and an empty rate limiter reject without running or throwing", "[no_throw]") {
    std::atomic<int> invocations{0};
    const counting_callable thrower{&invocations};
    SECTION("bulkhead full, no queue") {
        rs::bulkhead pool{{.max_concurrent = 1}};
        auto held = pool.try_acquire();
        REQUIRE(held.held());
        rs::resilient_call call{pool};
        rs::result<int> r = 0;
        CHECK(throws_during([&] {
                  for (int i = 0; i < 100; ++i) r = call(thrower);
              }) == 0);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::bulkhead_full);
    }
    SECTION("bulkhead full, the queue wait runs out (manual clock)") {
        rs::manual_clock clk;
        rs::bulkhead pool{{.max_concurrent = 1, .max_queue = 1, .max_wait = 10ms}, clk};
        auto held = pool.try_acquire();
        REQUIRE(held.held());
        rs::resilient_call call{pool};
        rs::result<int> r = 0;
        std::uint64_t n = 0;
        std::thread t([&] { n = throws_during([&] { r = call(thrower); }); });
        // Advance virtual time until the waiter has given up (it registers, then waits for 10ms).
        while (pool.rejected() == 0) {
            clk.advance(5ms);
            std::this_thread::yield();
        }
        t.join();
        CHECK(n == 0);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::bulkhead_full);
    }
    SECTION("rate limiter empty") {
        rs::rate_limiter limiter{{.permits = 1, .per = 1h, .burst = 1}};
        REQUIRE(limiter.try_acquire());
        rs::resilient_call call{limiter};
        rs::result<int> r = 0;
        CHECK(throws_during([&] {
                  for (int i = 0; i < 100; ++i) r = call(thrower);
              }) == 0);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::rate_limited);
        CHECK(r.error().retry_after > 0s);
    }
    CHECK(invocations.load() == 0);
}

TEST_CASE("the full pipeline's rejections throw nothing and never run the callable", "[no_throw]") {
    std::atomic<int> invocations{0};
    const counting_callable thrower{&invocations};
    rs::manual_clock clk;
    rs::circuit_breaker breaker{{.failure_threshold = 5, .open_duration = 30s}, clk};
    rs::bulkhead pool{{.max_concurrent = 1}, clk};
    rs::resilient_call call{rs::retry{{.max_attempts = 3, .backoff = rs::constant_backoff{10ms}}}, breaker, pool,
                            rs::timeout{500ms}};
    rs::result<int> r = 0;
    SECTION("breaker open") {
        breaker.isolate();
        CHECK(throws_during([&] { r = call(thrower); }) == 0);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::circuit_open);
    }
    SECTION("bulkhead full (retried: each attempt rejected)") {
        auto held = pool.try_acquire();
        REQUIRE(held.held());
        CHECK(throws_during([&] { r = call(thrower); }) == 0);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::bulkhead_full);
    }
    SECTION("deadline passed") {
        const rs::call_options opts{.deadline = clk.now() - 1ms};
        CHECK(throws_during([&] { r = call(thrower, opts); }) == 0);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::deadline_exceeded);
    }
    CHECK(invocations.load() == 0);
}
