// SPDX-License-Identifier: MIT
//
// `bulkhead`: alone on the happy path (a free slot), rejecting when every slot is taken and there is no
// queue, and shared by 1 and 2 threads on the uncontended path (never full).

#include "bench_common.hpp"

#include <resilience/bulkhead.hpp>
#include <resilience/resilient_call.hpp>

namespace {

using namespace bench;

// --- happy/bulkhead: a slot is free ---------------------------------------------------------------------

void free_hand_written(benchmark::State& state) {
    hand::bulkhead b{8};
    for (auto _ : state) {
        int v = -5;  // rejected
        if (b.try_enter()) {
            v = dependency();
            b.leave();
        }
        benchmark::DoNotOptimize(v);
    }
}

void free_resilience(benchmark::State& state) {
    rs::bulkhead pool{{.max_concurrent = 8}};
    rs::resilient_call call{pool};
    auto f = [] { return to_result(dependency()); };
    if (!check(state, call(f).has_value(), "a free slot lets the call through")) return;
    for (auto _ : state) {
        auto r = call(f);
        benchmark::DoNotOptimize(r);
    }
    check(state, pool.in_use() == 0 && pool.rejected() == 0, "every slot was given back, nothing rejected");
}

BENCHMARK(direct_call)->Name("happy/bulkhead/direct");
BENCHMARK(free_hand_written)->Name("happy/bulkhead/hand_written");
BENCHMARK(free_resilience)->Name("happy/bulkhead/resilience");

// --- reject/bulkhead_full: the only slot is held, no queue --------------------------------------------

void full_hand_written(benchmark::State& state) {
    hand::bulkhead b{1};
    (void)b.try_enter();  // held for the whole benchmark
    for (auto _ : state) {
        int v = -5;
        if (b.try_enter()) {
            v = must_not_run();
            b.leave();
        }
        benchmark::DoNotOptimize(v);
    }
}

void full_resilience(benchmark::State& state) {
    rs::bulkhead pool{{.max_concurrent = 1}};
    auto held = pool.try_acquire();
    if (!check(state, held.held(), "the only slot is taken")) return;
    rs::resilient_call call{pool};
    auto f = [] { return to_result(must_not_run()); };
    const auto before = unexpected_calls.load();
    if (!check_failure(state, call(f), rs::failure_kind::bulkhead_full, "a full bulkhead rejects")) return;
    for (auto _ : state) {
        auto r = call(f);
        benchmark::DoNotOptimize(r);
    }
    check(state, unexpected_calls.load() == before, "a full bulkhead never calls the dependency");
}

BENCHMARK(direct_call)->Name("reject/bulkhead_full/direct");
BENCHMARK(full_hand_written)->Name("reject/bulkhead_full/hand_written");
BENCHMARK(full_resilience)->Name("reject/bulkhead_full/resilience");

// --- contention/bulkhead: one bulkhead shared by every thread, never full -------------------------------

void shared_hand_written(benchmark::State& state) {
    static hand::bulkhead b{64};
    for (auto _ : state) {
        int v = -5;
        if (b.try_enter()) {
            v = dependency();
            b.leave();
        }
        benchmark::DoNotOptimize(v);
    }
}

void shared_resilience(benchmark::State& state) {
    static rs::bulkhead pool{{.max_concurrent = 64}};
    rs::resilient_call call{pool};
    auto f = [] { return to_result(dependency()); };
    if (!check(state, call(f).has_value(), "a free slot lets the call through")) return;
    for (auto _ : state) {
        auto r = call(f);
        benchmark::DoNotOptimize(r);
    }
    check(state, pool.rejected() == 0, "nothing was rejected");
}

BENCHMARK(shared_hand_written)->Name("contention/bulkhead/hand_written")->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(shared_resilience)->Name("contention/bulkhead/resilience")->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

RESILIENCE_BENCH_MAIN()
