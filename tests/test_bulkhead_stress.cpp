// SPDX-License-Identifier: MIT
//
// bulkhead under many threads (run it under ThreadSanitizer too): never more than max_concurrent
// inside, every call accounted for exactly once, nothing left in use or queued, no lost wake-up.
// Bounded iterations; virtual time (manual_clock) where waits end by time, so nothing sleeps for real.
#include "support/catch.hpp"

#include <resilience/bulkhead.hpp>
#include <resilience/resilient_call.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <stop_token>
#include <thread>
#include <vector>

namespace rs = resilience;
using namespace std::chrono_literals;

namespace {

// Counts how many holders are inside at once and remembers the peak.
struct occupancy {
    std::atomic<int> inside{0};
    std::atomic<int> peak{0};

    void enter_and_leave(int yields) {
        const int now = inside.fetch_add(1, std::memory_order_acq_rel) + 1;
        int p = peak.load(std::memory_order_relaxed);
        while (now > p && !peak.compare_exchange_weak(p, now, std::memory_order_relaxed)) {
        }
        for (int i = 0; i < yields; ++i) std::this_thread::yield();
        inside.fetch_sub(1, std::memory_order_acq_rel);
    }
};

struct tally {
    std::uint64_t ok = 0, full = 0, expired = 0, cancelled = 0, not_taken = 0, other = 0;
    void add(const tally& t) {
        ok += t.ok;
        full += t.full;
        expired += t.expired;
        cancelled += t.cancelled;
        not_taken += t.not_taken;
        other += t.other;
    }
    std::uint64_t total() const { return ok + full + expired + cancelled + not_taken + other; }
    void count(const rs::failure& f) {
        switch (f.kind) {
            case rs::failure_kind::bulkhead_full: ++full; break;
            case rs::failure_kind::deadline_exceeded:
            case rs::failure_kind::timeout: ++expired; break;
            case rs::failure_kind::cancelled: ++cancelled; break;
            default: ++other; break;
        }
    }
};

}  // namespace

TEST_CASE("bulkhead stress: the lock-free path never admits more than max_concurrent", "[bulkhead][stress]") {
    constexpr int threads = 8;
    constexpr int iterations = 20000;
    rs::bulkhead pool{{.max_concurrent = 3}};  // steady_clock; no queue, so nothing ever waits
    occupancy occ;
    std::vector<tally> tallies(threads);
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            rs::resilient_call call{pool};
            for (int i = 0; i < iterations; ++i) {
                if (i % 3 == 0) {
                    auto p = pool.try_acquire();
                    if (p) {
                        occ.enter_and_leave(3);
                        ++tallies[static_cast<std::size_t>(t)].ok;
                    } else {
                        ++tallies[static_cast<std::size_t>(t)].not_taken;
                    }
                    continue;
                }
                auto r = call([&] {
                    occ.enter_and_leave(3);
                    return i;
                });
                if (r) ++tallies[static_cast<std::size_t>(t)].ok; else tallies[static_cast<std::size_t>(t)].count(r.error());
            }
        });
    }
    for (auto& w : workers) w.join();
    tally sum;
    for (const auto& t : tallies) sum.add(t);

    CHECK(occ.peak <= 3);
    CHECK(occ.peak >= 2);  // the threads did overlap: the limit was actually exercised
    CHECK(sum.total() == std::uint64_t{threads} * iterations);
    CHECK(sum.full == pool.rejected());
    CHECK(sum.full > 0);
    CHECK(sum.expired == 0);
    CHECK(sum.cancelled == 0);
    CHECK(sum.other == 0);
    CHECK(pool.in_use() == 0);
    CHECK(pool.queued() == 0);
}

TEST_CASE("bulkhead stress: with a queue big enough for everyone, every caller gets a slot", "[bulkhead][stress][queue]") {
    // Every caller queues when the slots are taken and must be woken by a hand-off; a lost wake-up
    // would show up as a bulkhead_full after max_wait (real time, steady clock) instead of a success.
    constexpr int threads = 8;
    constexpr int iterations = 10000;
    rs::bulkhead pool{{.max_concurrent = 2, .max_queue = threads, .max_wait = 20s}};
    occupancy occ;
    std::vector<tally> tallies(threads);
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            rs::resilient_call call{pool};
            for (int i = 0; i < iterations; ++i) {
                auto r = call([&] {
                    occ.enter_and_leave(i % 4);
                    return i;
                });
                if (r) ++tallies[static_cast<std::size_t>(t)].ok; else tallies[static_cast<std::size_t>(t)].count(r.error());
            }
        });
    }
    for (auto& w : workers) w.join();
    tally sum;
    for (const auto& t : tallies) sum.add(t);

    CHECK(occ.peak <= 2);
    CHECK(sum.ok == std::uint64_t{threads} * iterations);
    CHECK(pool.rejected() == 0);
    CHECK(pool.in_use() == 0);
    CHECK(pool.queued() == 0);
}

TEST_CASE("bulkhead stress: queue, max_wait, deadlines and stop tokens on virtual time", "[bulkhead][stress][queue]") {
    constexpr int threads = 6;
    constexpr int iterations = 5000;
    constexpr int stop_sources = 64;
    rs::manual_clock clk;
    rs::bulkhead pool{{.max_concurrent = 3, .max_queue = 2, .max_wait = 3ms}, clk};
    occupancy occ;
    std::vector<tally> tallies(threads);
    std::vector<std::stop_source> sources(stop_sources);
    std::atomic<int> running{threads};

    // Moves virtual time so that waits end by max_wait or by deadline, and triggers stop sources one
    // after another so that some waits end by cancellation (and later calls find theirs triggered).
    std::thread ticker([&] {
        int tick = 0;
        while (running.load() > 0) {
            clk.advance(1ms);
            if (++tick % 16 == 0) sources[static_cast<std::size_t>((tick / 16) % stop_sources)].request_stop();
            for (int i = 0; i < 20; ++i) std::this_thread::yield();
        }
    });

    using ctx_type = rs::call_context<rs::manual_clock, rs::null_listener>;
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            tally& mine = tallies[static_cast<std::size_t>(t)];
            rs::resilient_call call{pool};
            for (int i = 0; i < iterations; ++i) {
                switch (i % 4) {
                    case 0: {  // the policy, no deadline: succeeds or times out in the queue
                        auto r = call([&] {
                            occ.enter_and_leave(2);
                            return 0;
                        });
                        if (r) ++mine.ok; else mine.count(r.error());
                        break;
                    }
                    case 1: {  // a manual permit with a deadline
                        auto r = pool.acquire(clk.now() + std::chrono::milliseconds(i % 5));
                        if (r) {
                            occ.enter_and_leave(2);
                            ++mine.ok;
                        } else {
                            mine.count(r.error());
                        }
                        break;
                    }
                    case 2: {  // the policy with a deadline and a stop token, outcomes exactly the bulkhead's
                        rs::call_options opts;
                        opts.stop = sources[static_cast<std::size_t>((i / 4 + t) % stop_sources)].get_token();
                        rs::call_state state;
                        rs::null_listener nl;
                        ctx_type ctx{&clk, &nl, &opts, &state, clk.now() + std::chrono::milliseconds(i % 7),
                                     rs::deadline_source::caller, 1};
                        auto r = pool.execute(ctx, [&](ctx_type&) {
                            occ.enter_and_leave(2);
                            return rs::result<int>(0);
                        });
                        if (r) ++mine.ok; else mine.count(r.error());
                        break;
                    }
                    default: {
                        auto p = pool.try_acquire();
                        if (p) {
                            occ.enter_and_leave(1);
                            ++mine.ok;
                        } else {
                            ++mine.not_taken;
                        }
                        break;
                    }
                }
            }
            running.fetch_sub(1);
        });
    }
    for (auto& w : workers) w.join();
    ticker.join();
    tally sum;
    for (const auto& t : tallies) sum.add(t);

    CHECK(occ.peak <= 3);
    CHECK(sum.total() == std::uint64_t{threads} * iterations);
    CHECK(sum.other == 0);
    CHECK(sum.full == pool.rejected());
    CHECK(sum.expired == pool.expired());
    CHECK(sum.cancelled == pool.cancelled());
    CHECK(sum.ok > 0);
    CHECK(pool.in_use() == 0);
    CHECK(pool.queued() == 0);
    INFO("ok " << sum.ok << " full " << sum.full << " expired " << sum.expired << " cancelled " << sum.cancelled
               << " not taken " << sum.not_taken);
    CHECK(sum.full + sum.expired + sum.cancelled > 0);
}
