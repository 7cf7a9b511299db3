// SPDX-License-Identifier: MIT
//
// The composition itself, with no policy: what `resilient_call` costs around a call (context, result,
// exception guard), and its refusal to start an attempt whose deadline has passed (the
// `deadline_exceeded` rejection).

#include "bench_common.hpp"

#include <resilience/resilient_call.hpp>

namespace {

using namespace bench;

// --- call: an empty composition on the happy path ------------------------------------------------------

void call_hand_written(benchmark::State& state) {
    for (auto _ : state) {
        int v = dependency();
        bool ok = v >= 0;
        benchmark::DoNotOptimize(ok);
        benchmark::DoNotOptimize(v);
    }
}

void call_resilience(benchmark::State& state) {
    rs::resilient_call<> call{};
    auto f = [] { return to_result(dependency()); };
    if (!check(state, call(f).has_value(), "an empty composition succeeds")) return;
    for (auto _ : state) {
        auto r = call(f);
        benchmark::DoNotOptimize(r);
    }
}

BENCHMARK(direct_call)->Name("call/direct");
BENCHMARK(call_hand_written)->Name("call/hand_written");
BENCHMARK(call_resilience)->Name("call/resilience");

// --- reject/deadline_exceeded: the caller's deadline has already passed --------------------------------

void deadline_hand_written(benchmark::State& state) {
    const auto deadline = std::chrono::steady_clock::now() - 1s;
    benchmark::DoNotOptimize(deadline);
    for (auto _ : state) {
        int v = std::chrono::steady_clock::now() >= deadline ? -3 : must_not_run();
        benchmark::DoNotOptimize(v);
    }
}

void deadline_resilience(benchmark::State& state) {
    rs::resilient_call<> call{};
    rs::call_options opts{.deadline = std::chrono::steady_clock::now() - 1s};
    auto f = [] { return to_result(must_not_run()); };
    const auto before = unexpected_calls.load();
    if (!check_failure(state, call(f, opts), rs::failure_kind::deadline_exceeded, "a passed deadline is refused")) return;
    for (auto _ : state) {
        auto r = call(f, opts);
        benchmark::DoNotOptimize(r);
    }
    check(state, unexpected_calls.load() == before, "the dependency is never called past the deadline");
}

BENCHMARK(direct_call)->Name("reject/deadline_exceeded/direct");
BENCHMARK(deadline_hand_written)->Name("reject/deadline_exceeded/hand_written");
BENCHMARK(deadline_resilience)->Name("reject/deadline_exceeded/resilience");

}  // namespace

RESILIENCE_BENCH_MAIN()
