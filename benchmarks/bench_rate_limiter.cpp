// SPDX-License-Identifier: MIT
//
// `rate_limiter`: alone on the happy path (a token is available), and rejecting when the bucket is
// empty. Both read the steady clock once per call: a token bucket must know the time.

#include "bench_common.hpp"

#include <resilience/rate_limiter.hpp>
#include <resilience/resilient_call.hpp>

namespace {

using namespace bench;

// --- happy/rate_limiter: a token is available ----------------------------------------------------------

// A rate far above what one thread can call (10^9 per second), so the bucket never runs dry.
constexpr std::uint32_t huge = 1'000'000;

void token_hand_written(benchmark::State& state) {
    hand::rate_limiter l{1e9, huge};
    for (auto _ : state) {
        int v = -6;  // rejected
        if (l.try_acquire()) v = dependency();
        benchmark::DoNotOptimize(v);
    }
}

void token_resilience(benchmark::State& state) {
    rs::rate_limiter limiter{{.permits = huge, .per = 1ms, .burst = huge}};
    rs::resilient_call call{limiter};
    auto f = [] { return to_result(dependency()); };
    if (!check(state, call(f).has_value(), "a token lets the call through")) return;
    for (auto _ : state) {
        auto r = call(f);
        benchmark::DoNotOptimize(r);
    }
    check(state, limiter.rejected() == 0, "nothing was rejected");
}

BENCHMARK(direct_call)->Name("happy/rate_limiter/direct");
BENCHMARK(token_hand_written)->Name("happy/rate_limiter/hand_written");
BENCHMARK(token_resilience)->Name("happy/rate_limiter/resilience");

// --- reject/rate_limited: the bucket is empty (one token per hour, taken) ------------------------------

void empty_hand_written(benchmark::State& state) {
    hand::rate_limiter l{1.0 / 3600.0, 1};
    (void)l.try_acquire();  // the only token
    for (auto _ : state) {
        int v = -6;
        if (l.try_acquire()) v = must_not_run();
        benchmark::DoNotOptimize(v);
    }
}

void empty_resilience(benchmark::State& state) {
    rs::rate_limiter limiter{{.permits = 1, .per = 1h, .burst = 1}};
    if (!check(state, limiter.try_acquire(), "the only token is taken")) return;
    rs::resilient_call call{limiter};
    auto f = [] { return to_result(must_not_run()); };
    const auto before = unexpected_calls.load();
    if (!check_failure(state, call(f), rs::failure_kind::rate_limited, "an empty bucket rejects")) return;
    for (auto _ : state) {
        auto r = call(f);
        benchmark::DoNotOptimize(r);
    }
    check(state, unexpected_calls.load() == before, "an empty bucket never calls the dependency");
}

BENCHMARK(direct_call)->Name("reject/rate_limited/direct");
BENCHMARK(empty_hand_written)->Name("reject/rate_limited/hand_written");
BENCHMARK(empty_resilience)->Name("reject/rate_limited/resilience");

}  // namespace

RESILIENCE_BENCH_MAIN()
