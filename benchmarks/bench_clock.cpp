// SPDX-License-Identifier: MIT
//
// Reference costs that explain the other figures: one read of each clock. Every time-based policy
// (timeout, rate limiter, an open breaker, a deadline check) pays at least one `steady_clock` read,
// which on a virtual machine is a vDSO call of tens of nanoseconds.

#include "bench_common.hpp"

#include <resilience/clock.hpp>

namespace {

using namespace bench;

void steady_clock_now(benchmark::State& state) {
    rs::steady_clock c;
    for (auto _ : state) {
        auto t = c.now();
        benchmark::DoNotOptimize(t);
    }
}

void manual_clock_now(benchmark::State& state) {
    rs::manual_clock c;
    for (auto _ : state) {
        auto t = c.now();
        benchmark::DoNotOptimize(t);
    }
}

BENCHMARK(steady_clock_now)->Name("clock/steady_clock_now");
BENCHMARK(manual_clock_now)->Name("clock/manual_clock_now");

}  // namespace

RESILIENCE_BENCH_MAIN()
