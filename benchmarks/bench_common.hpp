// SPDX-License-Identifier: MIT
#pragma once

// Shared pieces of the benchmark suite (benchmarks/bench_*.cpp).
//
// Every scenario is measured three ways in the same run, named `<scenario>/<variant>`:
//   <scenario>/direct        the dependency called directly: the floor;
//   <scenario>/hand_written  what a careful engineer writes without a library to get the same
//                            behaviour (atomics, a clock read, a loop), from the `hand` namespace below;
//   <scenario>/resilience    the same behaviour through `resilient_call`.
// benchmarks/run.py groups the rows by scenario and reports `resilience / hand_written` and
// `resilience - direct`.
//
// Fairness rules, which every benchmark follows:
// - The dependency is one out-of-line function reached through a volatile function pointer, so no
//   variant can inline it, hoist it out of the loop or prove what it returns: all three pay the same
//   indirect call.
// - Every variant turns the dependency's status into success or failure (a negative value is a
//   failure), and hands its outcome to `benchmark::DoNotOptimize`.
// - Outside the timed loop, each benchmark checks that it measures what it claims (the happy path
//   succeeds, a rejection is the right rejection, the dependency was not called when it must not be).
//   A failed check marks the benchmark as errored and makes the program exit non-zero, so the ctest
//   smoke run catches a benchmark that silently measures the wrong path.

#include <benchmark/benchmark.h>

#include <resilience/result.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>

namespace bench {

namespace rs = resilience;
using namespace std::chrono_literals;

// --- the dependency ----------------------------------------------------------------------------------

/// Returns -1 (failure) while `attempt < succeed_at`, otherwise 42.
[[gnu::noinline]] inline int dependency_impl(int attempt, int succeed_at) {
    return attempt < succeed_at ? -1 : 42;
}

/// Volatile: the compiler must load the pointer and make an indirect call every time.
inline int (*volatile dependency_ptr)(int, int) = &dependency_impl;

/// The dependency as every variant calls it. Deliberately not noexcept: real clients are not, so the
/// library keeps its exception guard around it.
inline int dependency(int attempt = 1, int succeed_at = 1) { return dependency_ptr(attempt, succeed_at); }

/// The dependency's status as a `result`, the way a user adapts a client to the library.
inline rs::result<int> to_result(int v) {
    if (v < 0) return rs::failure::of(rs::failure_kind::error, "the dependency failed");
    return v;
}

/// A dependency that must never be reached (rejection benchmarks): counts its invocations.
inline std::atomic<std::uint64_t> unexpected_calls{0};
inline int must_not_run() {
    unexpected_calls.fetch_add(1, std::memory_order_relaxed);
    return dependency();
}

// --- checks --------------------------------------------------------------------------------------------

inline std::atomic<int> failed_checks{0};

/// Fails the benchmark (and, at exit, the program) when `ok` is false.
inline bool check(benchmark::State& state, bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "benchmark check failed: %s\n", what);
        failed_checks.fetch_add(1, std::memory_order_relaxed);
        state.SkipWithError(what);
    }
    return ok;
}

/// Checks that `r` failed with kind `k`.
template <class T>
bool check_failure(benchmark::State& state, const rs::result<T>& r, rs::failure_kind k, const char* what) {
    return check(state, !r.has_value() && r.error().kind == k, what);
}

// --- the direct baseline -------------------------------------------------------------------------------

/// `<scenario>/direct`: the dependency, nothing else.
inline void direct_call(benchmark::State& state) {
    for (auto _ : state) {
        int v = dependency();
        benchmark::DoNotOptimize(v);
    }
}

// --- hand-written equivalents (no library) ---------------------------------------------------------------

namespace hand {

using clock = std::chrono::steady_clock;

/// A consecutive-failure circuit breaker as one writes it by hand: an atomic state word checked before
/// the call and an atomic failure counter updated after it. An open breaker must read the clock to
/// decide whether its open period is over (the same lazy transition the library makes).
class breaker {
public:
    explicit breaker(std::uint32_t threshold, clock::duration open_for) : threshold_(threshold), open_for_(open_for) {}

    /// True when a call may go ahead.
    bool allow() noexcept {
        if (open_.load(std::memory_order_acquire) == 0) [[likely]] return true;
        const auto now = clock::now().time_since_epoch().count();
        return now >= open_until_.load(std::memory_order_relaxed);  // half-open: let it through
    }
    void on_success() noexcept {
        // Avoid writing a shared cache line on every success: only reset a non-zero counter.
        if (failures_.load(std::memory_order_relaxed) != 0) failures_.store(0, std::memory_order_relaxed);
        if (open_.load(std::memory_order_relaxed) != 0) open_.store(0, std::memory_order_release);
    }
    void on_failure() noexcept {
        if (failures_.fetch_add(1, std::memory_order_relaxed) + 1 >= threshold_) trip();
    }
    void trip() noexcept {
        open_until_.store((clock::now() + open_for_).time_since_epoch().count(), std::memory_order_relaxed);
        open_.store(1, std::memory_order_release);
    }

private:
    std::atomic<int> open_{0};
    std::atomic<std::uint32_t> failures_{0};
    std::atomic<clock::rep> open_until_{0};
    std::uint32_t threshold_;
    clock::duration open_for_;
};

/// A bulkhead as one writes it by hand: a counter of calls in flight.
class bulkhead {
public:
    explicit bulkhead(std::uint32_t max) : max_(max) {}
    bool try_enter() noexcept {
        std::uint32_t n = in_flight_.load(std::memory_order_relaxed);
        while (n < max_) {
            if (in_flight_.compare_exchange_weak(n, n + 1, std::memory_order_acquire, std::memory_order_relaxed)) return true;
        }
        return false;
    }
    void leave() noexcept { in_flight_.fetch_sub(1, std::memory_order_release); }

private:
    std::atomic<std::uint32_t> in_flight_{0};
    std::uint32_t max_;
};

/// A token bucket as one writes it by hand, in its lock-free GCRA form: one clock read and one
/// compare-and-swap on the "theoretical arrival time".
class rate_limiter {
public:
    rate_limiter(double per_second, std::uint32_t burst)
        : interval_(static_cast<clock::rep>(1e9 / per_second)), tolerance_(interval_ * static_cast<clock::rep>(burst)) {}
    bool try_acquire() noexcept {
        const clock::rep now = clock::now().time_since_epoch().count();
        clock::rep tat = tat_.load(std::memory_order_relaxed);
        for (;;) {
            const clock::rep base = tat > now ? tat : now;
            const clock::rep next = base + interval_;
            if (next - tolerance_ > now) return false;
            if (tat_.compare_exchange_weak(tat, next, std::memory_order_relaxed)) return true;
        }
    }

private:
    std::atomic<clock::rep> tat_{0};
    clock::rep interval_;
    clock::rep tolerance_;
};

/// A timeout as one writes it by hand around a cooperative call: a deadline from one clock read before
/// the call, and a second read after it to notice a late return.
template <class F>
int with_timeout(clock::duration budget, F&& f) {
    const auto deadline = clock::now() + budget;
    int v = f(deadline);
    if (clock::now() > deadline) return -2;
    return v;
}

}  // namespace hand
}  // namespace bench

/// The `main` of every benchmark program: Google Benchmark's, plus a non-zero exit status when a check
/// failed (so that the ctest smoke run fails).
#define RESILIENCE_BENCH_MAIN()                                                      \
    int main(int argc, char** argv) {                                                \
        ::benchmark::Initialize(&argc, argv);                                        \
        if (::benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;          \
        ::benchmark::RunSpecifiedBenchmarks();                                       \
        ::benchmark::Shutdown();                                                     \
        return ::bench::failed_checks.load() == 0 ? 0 : 1;                           \
    }
