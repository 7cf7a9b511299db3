// SPDX-License-Identifier: MIT
//
// `timeout` alone on the happy path: the deadline is narrowed, the call returns in time.

#include "bench_common.hpp"

#include <resilience/resilient_call.hpp>
#include <resilience/timeout.hpp>

namespace {

using namespace bench;

void timeout_hand_written(benchmark::State& state) {
    for (auto _ : state) {
        int v = hand::with_timeout(1s, [](hand::clock::time_point) { return dependency(); });
        benchmark::DoNotOptimize(v);
    }
}

void timeout_resilience(benchmark::State& state) {
    rs::resilient_call call{rs::timeout{1s}};
    auto f = [] { return to_result(dependency()); };
    if (!check(state, call(f).has_value(), "the call succeeds within its timeout")) return;
    for (auto _ : state) {
        auto r = call(f);
        benchmark::DoNotOptimize(r);
    }
}

BENCHMARK(direct_call)->Name("happy/timeout/direct");
BENCHMARK(timeout_hand_written)->Name("happy/timeout/hand_written");
BENCHMARK(timeout_resilience)->Name("happy/timeout/resilience");

}  // namespace

RESILIENCE_BENCH_MAIN()
