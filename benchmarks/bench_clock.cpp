// SPDX-License-Identifier: MIT
//
// Reference costs that explain the other figures: one read of each clock. Every time-based policy
// (timeout, rate limiter, an open breaker, a deadline check) pays at least one `steady_clock` read,
// which on a virtual machine is a vDSO call of tens of nanoseconds. A coarse clock is measured too, as
// the reference for what a cheaper clock would save.

#include "bench_common.hpp"

#include <resilience/clock.hpp>

#include <time.h>

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

#ifdef CLOCK_MONOTONIC_COARSE
// What a coarse clock would cost (Linux: the time of the last kernel tick, no hardware read). Not a
// clock of the library: the reference for docs/performance.md's discussion of cheaper clocks.
void coarse_monotonic_now(benchmark::State& state) {
    timespec res{};
    ::clock_getres(CLOCK_MONOTONIC_COARSE, &res);
    state.counters["resolution_ns"] = static_cast<double>(res.tv_sec) * 1e9 + static_cast<double>(res.tv_nsec);
    for (auto _ : state) {
        timespec ts{};
        ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
        benchmark::DoNotOptimize(ts);
    }
}
BENCHMARK(coarse_monotonic_now)->Name("clock/coarse_monotonic_now");
#endif

}  // namespace

RESILIENCE_BENCH_MAIN()
