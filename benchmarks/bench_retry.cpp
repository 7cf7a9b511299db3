// SPDX-License-Identifier: MIT
//
// `retry`: alone on the happy path (the first attempt succeeds, no retry needed), and a call that fails
// twice and then succeeds, on `manual_clock` so that the backoff costs no real time: the figure is the
// cost of the machinery (classification, backoff computation, two sleeps on the virtual clock), not of
// the sleep.

#include "bench_common.hpp"

#include <resilience/backoff.hpp>
#include <resilience/resilient_call.hpp>
#include <resilience/retry.hpp>

namespace {

using namespace bench;

// --- happy/retry: the first attempt succeeds ----------------------------------------------------------

void retry_hand_written(benchmark::State& state) {
    for (auto _ : state) {
        int v = 0;
        for (int attempt = 1;; ++attempt) {
            v = dependency(attempt, 1);
            if (v >= 0 || attempt >= 3) break;
            // (a backoff sleep would go here)
        }
        benchmark::DoNotOptimize(v);
    }
}

void retry_resilience(benchmark::State& state) {
    rs::resilient_call call{rs::retry{{.max_attempts = 3}}};
    auto f = [](const rs::attempt& a) { return to_result(dependency(static_cast<int>(a.number()), 1)); };
    if (!check(state, call(f).has_value(), "the first attempt succeeds")) return;
    for (auto _ : state) {
        auto r = call(f);
        benchmark::DoNotOptimize(r);
    }
}

BENCHMARK(direct_call)->Name("happy/retry/direct");
BENCHMARK(retry_hand_written)->Name("happy/retry/hand_written");
BENCHMARK(retry_resilience)->Name("happy/retry/resilience");

// --- retry/fails_twice_then_succeeds: two failures, two backoffs, a success ----------------------------

void twice_direct(benchmark::State& state) {
    // The three calls, nothing else.
    for (auto _ : state) {
        int v = dependency(1, 3);
        benchmark::DoNotOptimize(v);
        v = dependency(2, 3);
        benchmark::DoNotOptimize(v);
        v = dependency(3, 3);
        benchmark::DoNotOptimize(v);
    }
}

void twice_hand_written(benchmark::State& state) {
    // The same loop by hand, sleeping on the same virtual clock.
    rs::manual_clock clk;
    for (auto _ : state) {
        int v = 0;
        for (int attempt = 1;; ++attempt) {
            v = dependency(attempt, 3);
            if (v >= 0 || attempt >= 3) break;
            clk.sleep_until(clk.now() + 10ms);
        }
        benchmark::DoNotOptimize(v);
    }
}

void twice_resilience(benchmark::State& state) {
    rs::manual_clock clk;
    rs::resilient_call call{clk, rs::retry{{.max_attempts = 3, .backoff = rs::constant_backoff{10ms}}}};
    auto f = [](const rs::attempt& a) { return to_result(dependency(static_cast<int>(a.number()), 3)); };
    const auto slept_before = clk.sleep_count();
    auto r0 = call(f);
    if (!check(state, r0.has_value() && clk.sleep_count() == slept_before + 2, "two failures, two sleeps, a success")) return;
    for (auto _ : state) {
        auto r = call(f);
        benchmark::DoNotOptimize(r);
    }
}

BENCHMARK(twice_direct)->Name("retry/fails_twice_then_succeeds/direct");
BENCHMARK(twice_hand_written)->Name("retry/fails_twice_then_succeeds/hand_written");
BENCHMARK(twice_resilience)->Name("retry/fails_twice_then_succeeds/resilience");

}  // namespace

RESILIENCE_BENCH_MAIN()
