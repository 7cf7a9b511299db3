// SPDX-License-Identifier: MIT
//
// `fallback` alone on the happy path: the call succeeds, the fallback value is not used.

#include "bench_common.hpp"

#include <resilience/fallback.hpp>
#include <resilience/resilient_call.hpp>

namespace {

using namespace bench;

void fallback_hand_written(benchmark::State& state) {
    for (auto _ : state) {
        int v = dependency();
        if (v < 0) v = 0;  // the fallback value
        benchmark::DoNotOptimize(v);
    }
}

void fallback_resilience(benchmark::State& state) {
    rs::resilient_call call{rs::fallback{0}};
    auto f = [] { return to_result(dependency()); };
    auto r0 = call(f);
    if (!check(state, r0.has_value() && *r0 == 42, "the call succeeds with the dependency's value")) return;
    for (auto _ : state) {
        auto r = call(f);
        benchmark::DoNotOptimize(r);
    }
}

BENCHMARK(direct_call)->Name("happy/fallback/direct");
BENCHMARK(fallback_hand_written)->Name("happy/fallback/hand_written");
BENCHMARK(fallback_resilience)->Name("happy/fallback/resilience");

}  // namespace

RESILIENCE_BENCH_MAIN()
