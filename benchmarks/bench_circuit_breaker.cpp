// SPDX-License-Identifier: MIT
//
// `circuit_breaker`: alone on the happy path (closed), rejecting while open, and shared by 1 and 2
// threads on the closed path (contention).

#include "bench_common.hpp"

#include <resilience/circuit_breaker.hpp>
#include <resilience/resilient_call.hpp>

namespace {

using namespace bench;

// --- happy/circuit_breaker: closed, the call succeeds ----------------------------------------------------

void closed_hand_written(benchmark::State& state) {
    hand::breaker b{5, 30s};
    for (auto _ : state) {
        int v = -4;  // rejected
        if (b.allow()) {
            v = dependency();
            if (v >= 0) b.on_success(); else b.on_failure();
        }
        benchmark::DoNotOptimize(v);
    }
}

void closed_resilience(benchmark::State& state) {
    rs::circuit_breaker breaker{{.failure_threshold = 5, .open_duration = 30s}};
    rs::resilient_call call{breaker};
    auto f = [] { return to_result(dependency()); };
    if (!check(state, call(f).has_value(), "a closed breaker lets the call through")) return;
    for (auto _ : state) {
        auto r = call(f);
        benchmark::DoNotOptimize(r);
    }
    check(state, breaker.state() == rs::circuit_state::closed, "the breaker stayed closed");
}

BENCHMARK(direct_call)->Name("happy/circuit_breaker/direct");
BENCHMARK(closed_hand_written)->Name("happy/circuit_breaker/hand_written");
BENCHMARK(closed_resilience)->Name("happy/circuit_breaker/resilience");

// --- reject/circuit_open: the breaker is open and its open period runs ---------------------------------

void open_hand_written(benchmark::State& state) {
    hand::breaker b{5, 1h};
    b.trip();
    for (auto _ : state) {
        int v = -4;
        if (b.allow()) v = must_not_run();
        benchmark::DoNotOptimize(v);
    }
}

void open_resilience(benchmark::State& state) {
    rs::circuit_breaker breaker{{.failure_threshold = 5, .open_duration = 1h}};
    rs::resilient_call call{breaker};
    auto fail = [] { return to_result(dependency(1, 2)); };  // -1: a failure
    for (int i = 0; i < 5; ++i) (void)call(fail);
    if (!check(state, breaker.state() == rs::circuit_state::open, "five failures open the breaker")) return;
    auto f = [] { return to_result(must_not_run()); };
    const auto before = unexpected_calls.load();
    if (!check_failure(state, call(f), rs::failure_kind::circuit_open, "an open breaker rejects")) return;
    for (auto _ : state) {
        auto r = call(f);
        benchmark::DoNotOptimize(r);
    }
    check(state, unexpected_calls.load() == before, "an open breaker never calls the dependency");
}

BENCHMARK(direct_call)->Name("reject/circuit_open/direct");
BENCHMARK(open_hand_written)->Name("reject/circuit_open/hand_written");
BENCHMARK(open_resilience)->Name("reject/circuit_open/resilience");

// --- contention/circuit_breaker: one breaker shared by every thread, closed -----------------------------

void shared_hand_written(benchmark::State& state) {
    static hand::breaker b{5, 30s};
    for (auto _ : state) {
        int v = -4;
        if (b.allow()) {
            v = dependency();
            if (v >= 0) b.on_success(); else b.on_failure();
        }
        benchmark::DoNotOptimize(v);
    }
}

void shared_resilience(benchmark::State& state) {
    static rs::circuit_breaker breaker{{.failure_threshold = 5, .open_duration = 30s}};
    rs::resilient_call call{breaker};
    auto f = [] { return to_result(dependency()); };
    if (!check(state, call(f).has_value(), "a closed breaker lets the call through")) return;
    for (auto _ : state) {
        auto r = call(f);
        benchmark::DoNotOptimize(r);
    }
    check(state, breaker.state() == rs::circuit_state::closed, "the breaker stayed closed");
}

BENCHMARK(shared_hand_written)->Name("contention/circuit_breaker/hand_written")->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(shared_resilience)->Name("contention/circuit_breaker/resilience")->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

RESILIENCE_BENCH_MAIN()
