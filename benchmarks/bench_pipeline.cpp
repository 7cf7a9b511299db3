// SPDX-License-Identifier: MIT
//
// The full pipeline of the design: retry, circuit breaker, bulkhead and a per-attempt timeout, outermost
// first, on the happy path (the first attempt succeeds). Measured twice: with the composition built once
// (the policies' cost), and built anew for every call, as a handler that writes
// `rs::resilient_call call{...}` inside its function does (adds copying the value policies and
// validating their options).

#include "bench_common.hpp"

#include <resilience/bulkhead.hpp>
#include <resilience/circuit_breaker.hpp>
#include <resilience/resilient_call.hpp>
#include <resilience/retry.hpp>
#include <resilience/timeout.hpp>

namespace {

using namespace bench;

/// The same behaviour by hand: a retry loop around a breaker check, a bulkhead counter and a deadline
/// read before and checked after the call.
void pipeline_hand_written(benchmark::State& state) {
    hand::breaker breaker{5, 30s};
    hand::bulkhead pool{8};
    for (auto _ : state) {
        int v = 0;
        for (int attempt = 1;; ++attempt) {
            if (!breaker.allow()) {
                v = -4;
            } else if (!pool.try_enter()) {
                v = -5;
            } else {
                v = hand::with_timeout(500ms, [&](hand::clock::time_point) { return dependency(attempt, 1); });
                pool.leave();
                if (v >= 0) breaker.on_success(); else breaker.on_failure();
            }
            if (v >= 0 || attempt >= 3) break;
            // (a backoff sleep would go here)
        }
        benchmark::DoNotOptimize(v);
    }
}

void pipeline_resilience(benchmark::State& state) {
    rs::circuit_breaker breaker{{.failure_threshold = 5, .open_duration = 30s}};
    rs::bulkhead pool{{.max_concurrent = 8}};
    rs::resilient_call call{rs::retry{{.max_attempts = 3}}, breaker, pool, rs::timeout{500ms}};
    auto f = [](const rs::attempt& a) { return to_result(dependency(static_cast<int>(a.number()), 1)); };
    if (!check(state, call(f).has_value(), "the pipeline's first attempt succeeds")) return;
    for (auto _ : state) {
        auto r = call(f);
        benchmark::DoNotOptimize(r);
    }
    check(state, breaker.state() == rs::circuit_state::closed && pool.in_use() == 0, "closed breaker, free bulkhead");
}

void pipeline_built_per_call(benchmark::State& state) {
    rs::circuit_breaker breaker{{.failure_threshold = 5, .open_duration = 30s}};
    rs::bulkhead pool{{.max_concurrent = 8}};
    auto f = [](const rs::attempt& a) { return to_result(dependency(static_cast<int>(a.number()), 1)); };
    for (auto _ : state) {
        rs::resilient_call call{rs::retry{{.max_attempts = 3}}, breaker, pool, rs::timeout{500ms}};
        auto r = call(f);
        benchmark::DoNotOptimize(r);
    }
    check(state, breaker.state() == rs::circuit_state::closed && pool.in_use() == 0, "closed breaker, free bulkhead");
}

BENCHMARK(direct_call)->Name("pipeline/direct");
BENCHMARK(pipeline_hand_written)->Name("pipeline/hand_written");
BENCHMARK(pipeline_resilience)->Name("pipeline/resilience");

BENCHMARK(direct_call)->Name("pipeline/built_per_call/direct");
BENCHMARK(pipeline_hand_written)->Name("pipeline/built_per_call/hand_written");
BENCHMARK(pipeline_built_per_call)->Name("pipeline/built_per_call/resilience");

}  // namespace

RESILIENCE_BENCH_MAIN()
