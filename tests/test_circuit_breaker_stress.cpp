// SPDX-License-Identifier: MIT
//
// circuit_breaker under contention: many threads hammer one breaker (and its windows) on virtual time
// moved by another thread. Meant to run under ThreadSanitizer too; bounded iterations, a few seconds.
// Invariants: never more than half_open_probes probes per half-open generation, every admitted call
// records exactly one outcome (counts add up), windows never drift from their contents.
#include "support/catch.hpp"

#include <resilience/circuit_breaker.hpp>
#include <resilience/clock.hpp>
#include <resilience/detail/breaker_window.hpp>
#include <resilience/resilient_call.hpp>

#include <atomic>
#include <barrier>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace rs = resilience;
using namespace std::chrono_literals;

namespace {

constexpr int workers = 8;

/// Catch2 assertions are not thread-safe: worker threads count violations here, checked after join.
std::atomic<int> violations{0};
void expect(bool ok) {
    if (!ok) violations.fetch_add(1);
}

struct xorshift {
    std::uint64_t s;
    std::uint64_t next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
    bool chance(unsigned percent) { return next() % 100 < percent; }
};

/// Tracks probes per half-open generation: admitted minus released must never exceed K.
struct probe_ledger {
    std::mutex m;
    std::map<std::uint64_t, int> held;
    int max_seen = 0;
    void admitted(std::uint64_t gen) {
        std::lock_guard g(m);
        int n = ++held[gen];
        if (n > max_seen) max_seen = n;
    }
    void releasing(std::uint64_t gen) {
        std::lock_guard g(m);
        --held[gen];
    }
};

}  // namespace

TEST_CASE("circuit_breaker stress: never more than K probes per half-open generation; counts add up") {
    for (std::uint32_t k : {1U, 4U}) {
        rs::manual_clock clk;
        rs::circuit_breaker b{{.failure_threshold = 3, .open_duration = 2ms, .half_open_probes = k}, clk};
        probe_ledger ledger;
        std::atomic<std::uint64_t> admitted{0}, rejected{0}, successes{0}, failures{0}, released{0}, dropped{0};
        const int iterations = 20'000;
        {
            std::vector<std::thread> ts;
            for (int w = 0; w < workers; ++w) {
                ts.emplace_back([&, w] {
                    xorshift rng{std::uint64_t{0x9E3779B97F4A7C15} * static_cast<std::uint64_t>(w + 1)};
                    for (int i = 0; i < iterations; ++i) {
                        clk.advance(20us);  // every thread moves virtual time: many open periods per run
                        auto p = b.try_acquire();
                        if (!p) {
                            rejected.fetch_add(1);
                            expect(p.error().kind == rs::failure_kind::circuit_open);
                            continue;
                        }
                        admitted.fetch_add(1);
                        const bool probe = p->is_probe();
                        const std::uint64_t gen = p->generation();
                        if (probe) ledger.admitted(gen);
                        const auto roll = rng.next() % 100;
                        if (roll < 40) {
                            failures.fetch_add(1);
                            p->record_failure();
                        } else if (roll < 80) {
                            successes.fetch_add(1);
                            p->record_success();
                        } else if (roll < 90) {
                            released.fetch_add(1);
                            if (probe) ledger.releasing(gen);
                            p->release();
                        } else {
                            dropped.fetch_add(1);
                            auto gone = std::move(*p);  // destroyed without an outcome
                        }
                    }
                });
            }
            for (auto& th : ts) th.join();
        }
        auto m = b.metrics();
        INFO("K = " << k);
        CHECK(ledger.max_seen <= static_cast<int>(k));
        CHECK(ledger.max_seen >= 1);  // the breaker did cycle through half-open
        CHECK(m.times_opened > 1);
        CHECK(admitted.load() + rejected.load() == static_cast<std::uint64_t>(workers * iterations));
        CHECK(m.rejected == rejected.load());
        CHECK(m.successes == successes.load());
        CHECK(m.failures == failures.load() + dropped.load());
        CHECK(m.abandoned == dropped.load());
        CHECK(m.ignored == released.load());
        CHECK(m.successes + m.failures + m.ignored == admitted.load());
        CHECK(m.late <= m.successes + m.failures);
    }
}

TEST_CASE("circuit_breaker stress: compositions with rate windows and slow calls on many threads") {
    rs::manual_clock clk;
    const rs::circuit_breaker_options configs[] = {
        {.failure_threshold = 0, .failure_rate_threshold = 0.5, .window = rs::breaker_window::count(64), .minimum_calls = 20,
         .open_duration = 1ms, .half_open_probes = 3},
        {.failure_threshold = 10, .failure_rate_threshold = 0.6, .slow_call_rate_threshold = 0.5, .slow_call_duration = 50us,
         .window = rs::breaker_window::time(5ms, 5), .minimum_calls = 10, .open_duration = 1ms,
         .open_duration_max = 8ms, .open_jitter = 0.3, .half_open_probes = 2},
    };
    for (const auto& o : configs) {
        rs::circuit_breaker b{o, clk};
        std::atomic<std::uint64_t> ok{0}, failed{0}, rejected{0};
        const int iterations = 20'000;
        {
            std::vector<std::thread> ts;
            for (int w = 0; w < workers; ++w) {
                ts.emplace_back([&, w] {
                    xorshift rng{std::uint64_t{0xD1B54A32D192ED03} * static_cast<std::uint64_t>(w + 7)};
                    rs::resilient_call call{b};
                    for (int i = 0; i < iterations; ++i) {
                        const bool fail = rng.chance(45);
                        const bool slow = rng.chance(30);
                        clk.advance(10us);  // time between calls (rejected calls run nothing)
                        auto r = call([&]() -> rs::result<int> {
                            clk.advance(slow ? 60us : 5us);  // the call's latency, in virtual time
                            if (fail) return rs::failure::of(rs::failure_kind::error);
                            return 1;
                        });
                        if (r) {
                            ok.fetch_add(1);
                        } else if (r.error().kind == rs::failure_kind::circuit_open) {
                            rejected.fetch_add(1);
                            expect(r.error().retry_after >= rs::duration::zero());
                        } else {
                            failed.fetch_add(1);
                        }
                    }
                });
            }
            for (auto& th : ts) th.join();
        }
        auto m = b.metrics();
        CHECK(ok.load() + failed.load() + rejected.load() == static_cast<std::uint64_t>(workers * iterations));
        CHECK(m.rejected == rejected.load());
        CHECK(m.successes == ok.load());
        CHECK(m.failures == failed.load());
        CHECK(m.ignored == 0);
        CHECK(m.window_failures <= m.window_calls);
        CHECK(m.window_slow_calls <= m.window_calls);
        CHECK(m.times_opened > 1);
        CHECK(m.rejected > 0);
        // After the storm the breaker still works: reset, and a success passes.
        b.reset();
        rs::resilient_call call{b};
        CHECK(call([] { return 1; }));
        CHECK(b.metrics().window_calls <= 1);
    }
}

TEST_CASE("circuit_breaker stress: isolate and reset racing with calls keep the state machine sound") {
    rs::manual_clock clk;
    rs::circuit_breaker b{{.failure_threshold = 2, .open_duration = 1ms, .half_open_probes = 2}, clk};
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> outcomes{0}, rejected{0};
    const int iterations = 10'000;
    std::thread admin([&] {
        xorshift rng{42};
        while (!stop.load()) {
            if (rng.chance(50)) b.isolate(); else b.reset();
            clk.advance(200us);
            (void)b.metrics();
            std::this_thread::yield();
        }
    });
    std::vector<std::thread> ts;
    for (int w = 0; w < workers; ++w) {
        ts.emplace_back([&, w] {
            xorshift rng{static_cast<std::uint64_t>(w) * 7919U + 1U};
            for (int i = 0; i < iterations; ++i) {
                auto p = b.try_acquire();
                if (!p) {
                    rejected.fetch_add(1);
                    continue;
                }
                outcomes.fetch_add(1);
                if (rng.chance(50)) p->record_failure(); else p->record_success();
            }
        });
    }
    for (auto& th : ts) th.join();
    stop.store(true);
    admin.join();
    auto m = b.metrics();
    CHECK(m.successes + m.failures == outcomes.load());
    CHECK(m.rejected == rejected.load());
    CHECK(outcomes.load() + rejected.load() == static_cast<std::uint64_t>(workers * iterations));
    const auto s = b.state();
    CHECK((s == rs::circuit_state::closed || s == rs::circuit_state::open || s == rs::circuit_state::half_open ||
           s == rs::circuit_state::isolated));
}

TEST_CASE("breaker_count_window stress: aggregates never drift from the slots") {
    constexpr std::uint32_t size = 32;
    rs::detail::breaker_count_window w{size};
    const int iterations = 50'000;
    std::atomic<bool> stop{false};
    std::thread clearer([&] {
        while (!stop.load()) {
            w.clear();
            auto c = w.counts();
            expect(c.failures <= c.calls);
            std::this_thread::yield();
        }
    });
    std::vector<std::thread> ts;
    for (int t = 0; t < workers; ++t) {
        ts.emplace_back([&, t] {
            xorshift rng{static_cast<std::uint64_t>(t) + 99U};
            for (int i = 0; i < iterations; ++i) w.record(rng.chance(50), rng.chance(20));
        });
    }
    for (auto& th : ts) th.join();
    stop.store(true);
    clearer.join();
    auto c = w.counts();
    CHECK(c.calls <= size);
    // Fill the window with known outcomes: the counts must then be exact.
    for (std::uint32_t i = 0; i < size; ++i) w.record(true, false);
    c = w.counts();
    CHECK(c.calls == size);
    CHECK(c.failures == size);
    CHECK(c.slow == 0);
    w.clear();
    c = w.counts();
    CHECK(c.calls == 0);
    CHECK(c.failures == 0);
}

TEST_CASE("breaker_count_window stress: concurrent writers without clears count exactly") {
    constexpr std::uint32_t size = 4096;
    rs::detail::breaker_count_window w{size};
    constexpr int per_thread = 500;  // workers * per_thread < size: no slot is overwritten
    std::vector<std::thread> ts;
    for (int t = 0; t < workers; ++t) {
        ts.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) w.record(t % 2 == 0, t == 0);
        });
    }
    for (auto& th : ts) th.join();
    auto c = w.counts();
    CHECK(c.calls == workers * per_thread);
    CHECK(c.failures == (workers / 2) * per_thread);
    CHECK(c.slow == per_thread);
}

TEST_CASE("breaker_time_window stress: roll-overs, sweeps and clears never drift") {
    rs::manual_clock clk;
    rs::detail::breaker_time_window w{8, 8ms, clk.now()};
    const int iterations = 50'000;
    std::atomic<std::uint64_t> recorded{0};
    {
        std::atomic<bool> stop{false};
        std::thread clearer([&] {
            while (!stop.load()) {
                w.clear();
                std::this_thread::yield();
                std::this_thread::yield();
            }
        });
        std::vector<std::thread> ts;
        for (int th = 0; th < workers; ++th) {
            ts.emplace_back([&, th] {
                xorshift rng{static_cast<std::uint64_t>(th) * 31U + 5U};
                for (int i = 0; i < iterations; ++i) {
                    if (rng.chance(10)) clk.advance(std::chrono::microseconds(rng.next() % 2000));
                    w.record(clk.now(), rng.chance(50), rng.chance(10));
                    recorded.fetch_add(1);
                    auto c = w.counts(clk.now());
                    expect(c.failures <= c.calls);
                }
            });
        }
        for (auto& th : ts) th.join();
        stop.store(true);
        clearer.join();
    }
    auto c = w.counts(clk.now());
    CHECK(c.calls <= recorded.load());
    // Once the window has passed, nothing may remain: the aggregates matched the buckets.
    clk.advance(1h);
    c = w.counts(clk.now());
    CHECK(c.calls == 0);
    CHECK(c.failures == 0);
    CHECK(c.slow == 0);
}

TEST_CASE("breaker_time_window stress: writers in one bucket count exactly") {
    rs::manual_clock clk;
    rs::detail::breaker_time_window w{4, 4s, clk.now()};
    constexpr int per_thread = 5'000;
    std::vector<std::thread> ts;
    for (int t = 0; t < workers; ++t) {
        ts.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) w.record(clk.now(), t < 3, false);
        });
    }
    for (auto& th : ts) th.join();
    auto c = w.counts(clk.now());
    CHECK(c.calls == workers * per_thread);
    CHECK(c.failures == 3 * per_thread);
}

TEST_CASE("circuit_breaker stress: striped success and rejection counts stay exact past 64 threads") {
    rs::manual_clock clk;
    rs::circuit_breaker b{{.failure_threshold = 1, .open_duration = 1h}, clk};
    rs::circuit_breaker open{{.failure_threshold = 1, .open_duration = 1h}, clk};
    open.try_acquire()->record_failure();
    constexpr int threads = 100;  // more than the 64 stripes: the rest share one counter
    constexpr int per_thread = 2'000;
    std::barrier sync(threads);
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
        ts.emplace_back([&] {
            sync.arrive_and_wait();  // all alive at once
            for (int i = 0; i < per_thread; ++i) {
                b.try_acquire()->record_success();
                expect(!open.try_acquire().has_value());
            }
            sync.arrive_and_wait();  // none exits (and frees its stripe) before all are done
        });
    }
    // Read while the threads run: never more than what was done.
    auto mid = b.metrics();
    CHECK(mid.successes <= static_cast<std::uint64_t>(threads * per_thread));
    for (auto& th : ts) th.join();
    CHECK(b.metrics().successes == static_cast<std::uint64_t>(threads * per_thread));
    CHECK(open.metrics().rejected == static_cast<std::uint64_t>(threads * per_thread));
}

TEST_CASE("circuit_breaker stress: a stripe given back by an exiting thread keeps its count") {
    rs::manual_clock clk;
    rs::circuit_breaker b{{}, clk};
    constexpr int generations = 50;
    constexpr int per_thread = 300;
    for (int g = 0; g < generations; ++g) {
        std::vector<std::thread> ts;
        for (int t = 0; t < 4; ++t) {
            ts.emplace_back([&] {
                for (int i = 0; i < per_thread; ++i) b.try_acquire()->record_success();
            });
        }
        for (auto& th : ts) th.join();
    }
    CHECK(b.metrics().successes == static_cast<std::uint64_t>(generations * 4 * per_thread));
}

TEST_CASE("circuit_breaker stress: no worker thread saw a violated invariant") {
    // Runs last (Catch2 runs test cases in declaration order by default).
    CHECK(violations.load() == 0);
}
