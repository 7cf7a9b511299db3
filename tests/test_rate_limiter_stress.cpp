// SPDX-License-Identifier: MIT
//
// rate_limiter under many threads (run it under ThreadSanitizer too): exactly the tokens the bucket
// holds are handed out, never more than burst + elapsed / interval, and every call is accounted for.
// Bounded iterations on virtual time (manual_clock): a reservation's sleep advances it, nothing sleeps
// for real.
#include "support/catch.hpp"

#include <resilience/rate_limiter.hpp>
#include <resilience/resilient_call.hpp>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <stop_token>
#include <thread>
#include <vector>

namespace rs = resilience;
using namespace std::chrono_literals;

TEST_CASE("rate_limiter stress: on frozen time, exactly the tokens in the bucket are handed out", "[rate_limiter][stress]") {
    // Phases separated by a barrier: within a phase time stands still and every thread hammers the
    // limiter far more often than there are tokens; between phases the clock moves by k intervals. A
    // phase must then hand out exactly min(k, burst) tokens: no token lost, none given twice.
    constexpr int threads = 8;
    constexpr int tries_per_phase = 100;  // per thread: 800 per phase, well above burst
    constexpr std::uint32_t burst = 50;
    // Intervals to advance before each phase; many phases, because each one's start (every thread
    // released at once onto a refilled bucket) is where a lost update would hand a token out twice.
    const int pattern[] = {0, 1, 7, 50, 120, 3, 0, 49, 51, 1, 2, 33, 500, 5, 25, 12};
    std::vector<int> steps;
    for (int p = 0; p < 400; ++p) steps.push_back(pattern[p % 16]);
    rs::manual_clock clk;
    rs::rate_limiter limiter{{.permits = 1000, .per = 1s, .burst = burst}, clk};
    const rs::duration interval = limiter.interval();

    std::atomic<std::uint64_t> granted_in_phase{0};
    std::atomic<std::uint64_t> policy_refusals{0};
    std::vector<std::uint64_t> granted_per_phase;
    std::size_t phase = 0;
    auto between_phases = [&]() noexcept {
        granted_per_phase.push_back(granted_in_phase.exchange(0));
        ++phase;
        if (phase < steps.size()) clk.advance(interval * steps[phase]);
    };
    std::barrier sync(threads, between_phases);

    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            rs::resilient_call call{limiter};
            for (std::size_t p = 0; p < steps.size(); ++p) {
                for (int i = 0; i < tries_per_phase; ++i) {
                    if ((i + t) % 2 == 0) {
                        if (limiter.try_acquire()) granted_in_phase.fetch_add(1);
                    } else {
                        auto r = call([] { return 1; });
                        if (r) granted_in_phase.fetch_add(1); else policy_refusals.fetch_add(1);
                    }
                }
                sync.arrive_and_wait();
            }
        });
    }
    for (auto& w : workers) w.join();

    REQUIRE(granted_per_phase.size() == steps.size());
    CHECK(granted_per_phase[0] == burst);  // the bucket starts full
    for (std::size_t p = 1; p < steps.size(); ++p) {
        INFO("phase " << p << " after " << steps[p] << " intervals");
        CHECK(granted_per_phase[p] == std::min<std::uint64_t>(static_cast<std::uint64_t>(steps[p]), burst));
    }
    CHECK(limiter.rejected() == policy_refusals.load());
    CHECK(clk.sleep_count() == 0);
}

TEST_CASE("rate_limiter stress: a large bucket drained by every thread at once yields exactly burst", "[rate_limiter][stress]") {
    // Every grant is a compare-and-swap racing with the other threads' grants: a lost update would
    // hand out more than `burst` tokens.
    constexpr int threads = 8;
    constexpr int tries = 250'000;  // per thread: 2'000'000 in all
    constexpr std::uint32_t burst = 1'000'000;
    rs::manual_clock clk;
    rs::rate_limiter limiter{{.permits = 1, .per = 1h, .burst = burst}, clk};
    std::atomic<std::uint64_t> granted{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&] {
            while (!go.load()) std::this_thread::yield();
            std::uint64_t mine = 0;
            for (int i = 0; i < tries; ++i) mine += limiter.try_acquire() ? 1u : 0u;
            granted.fetch_add(mine);
        });
    }
    go = true;
    for (auto& w : workers) w.join();
    CHECK(granted.load() == burst);
    CHECK(limiter.available() == 0);
}

TEST_CASE("rate_limiter stress: reservations, deadlines and stop tokens never exceed the rate", "[rate_limiter][stress]") {
    constexpr int threads = 6;
    constexpr int iterations = 10000;
    constexpr std::uint32_t burst = 5;
    rs::manual_clock clk;
    rs::rate_limiter limiter{{.permits = 1000, .per = 1s, .burst = burst, .max_wait = 4ms}, clk};
    const rs::duration interval = limiter.interval();
    const rs::time_point t0 = clk.now();

    std::atomic<int> running{threads};
    std::vector<std::stop_source> sources(32);
    // Time also moves when nobody reserves, and stop sources get triggered one after another.
    std::thread ticker([&] {
        int tick = 0;
        while (running.load() > 0) {
            clk.advance(interval / 2);
            if (++tick % 64 == 0) sources[static_cast<std::size_t>((tick / 64) % 32)].request_stop();
            for (int i = 0; i < 10; ++i) std::this_thread::yield();
        }
    });

    struct tally {
        std::uint64_t ok = 0, limited = 0, expired = 0, cancelled = 0, other = 0;
    };
    using ctx_type = rs::call_context<rs::manual_clock, rs::null_listener>;
    std::vector<tally> tallies(threads);
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            tally& mine = tallies[static_cast<std::size_t>(t)];
            rs::resilient_call call{limiter};
            for (int i = 0; i < iterations; ++i) {
                rs::result<void> r;
                if (i % 3 == 0) {  // manual acquire with a deadline (0 .. 5 ms away)
                    r = limiter.acquire(1, clk.now() + std::chrono::microseconds(i % 5000));
                } else if (i % 3 == 1) {  // the policy in a composition
                    r = call([] {});
                } else {  // the policy with a stop token, called directly: outcomes are exactly the limiter's
                    rs::call_options opts;
                    opts.stop = sources[static_cast<std::size_t>((i + t) % 32)].get_token();
                    rs::call_state state;
                    rs::null_listener nl;
                    ctx_type ctx{&clk, &nl, &opts, &state, rs::no_deadline, rs::deadline_source::none, 1};
                    r = limiter.execute(ctx, [](ctx_type&) { return rs::result<void>{}; });
                }
                if (r) {
                    ++mine.ok;
                    continue;
                }
                switch (r.error().kind) {
                    case rs::failure_kind::rate_limited: ++mine.limited; break;
                    case rs::failure_kind::deadline_exceeded: ++mine.expired; break;
                    case rs::failure_kind::cancelled: ++mine.cancelled; break;
                    default: ++mine.other; break;
                }
            }
            running.fetch_sub(1);
        });
    }
    for (auto& w : workers) w.join();
    ticker.join();

    tally sum;
    for (const auto& x : tallies) {
        sum.ok += x.ok;
        sum.limited += x.limited;
        sum.expired += x.expired;
        sum.cancelled += x.cancelled;
        sum.other += x.other;
    }
    const auto elapsed = clk.now() - t0;
    const auto max_grants = static_cast<std::uint64_t>(burst) + static_cast<std::uint64_t>(elapsed / interval);
    INFO("ok " << sum.ok << " limited " << sum.limited << " expired " << sum.expired << " cancelled "
               << sum.cancelled << " elapsed " << elapsed.count() << "ns, bound " << max_grants);
    CHECK(sum.ok + sum.limited + sum.expired + sum.cancelled + sum.other == std::uint64_t{threads} * iterations);
    CHECK(sum.other == 0);
    CHECK(sum.ok <= max_grants);
    CHECK(sum.ok > burst);  // time moved and tokens flowed: the test exercised refill and reservations
    CHECK(sum.limited == limiter.rejected());
    CHECK(limiter.waited() > 0);
}
