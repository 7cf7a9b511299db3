// SPDX-License-Identifier: MIT
//
// clock.hpp: the clock concept, manual_clock (virtual time) and steady_clock.
//
// Nothing here sleeps for real. Cross-thread tests wait for the other thread on condition variables;
// the only timed waits are watchdogs that bound a test whose clock is broken (they return as soon as the
// awaited thread finishes, so a correct clock never waits on them).
#include "support/catch.hpp"

#include <resilience/clock.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <future>
#include <latch>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#define RESILIENCE_TEST_HAVE_FORK 1
#else
#define RESILIENCE_TEST_HAVE_FORK 0
#endif

namespace rs = resilience;
using namespace std::chrono_literals;

namespace {

// How long a watchdog lets a broken clock hang before the test gives up. Never reached when the clock
// works: every wait below ends as soon as the awaited thread is done.
constexpr auto watchdog = 20s;

// A waiter blocked in manual_clock::wait_until on its own mutex and condition variable, with a predicate
// the test controls. `blocked()` returns once the waiter is inside the condition variable's wait.
class blocked_waiter {
public:
    blocked_waiter(rs::manual_clock& clk, rs::time_point until) : clk_(clk), until_(until) {
        thread_ = std::thread([this] {
            std::unique_lock lk(m_);
            bool r = clk_.wait_until(lk, cv_, until_, [this] {
                ++pred_calls_;
                seen_.notify_all();
                return ready_;
            });
            returned_at_ = clk_.now();
            result_.set_value(r);
        });
        future_ = result_.get_future();
    }
    blocked_waiter(const blocked_waiter&) = delete;
    blocked_waiter& operator=(const blocked_waiter&) = delete;
    ~blocked_waiter() {
        release();
        if (thread_.joinable()) thread_.join();
    }

    // Returns once the waiter has evaluated its predicate at least `calls` times. manual_clock::wait_until
    // evaluates it once before registering and once more under the lock right before waiting; since we
    // read the count under the same mutex, seeing the second call means the waiter has released the
    // mutex, i.e. it is waiting on the condition variable.
    void wait_for_pred_calls(int calls) {
        std::unique_lock lk(m_);
        seen_.wait(lk, [&] { return pred_calls_ >= calls; });
    }
    void blocked() { wait_for_pred_calls(2); }
    int pred_calls() {
        std::lock_guard g(m_);
        return pred_calls_;
    }

    // Makes the predicate true and notifies, as a bulkhead releasing a slot would.
    void release() {
        {
            std::lock_guard g(m_);
            ready_ = true;
        }
        cv_.notify_all();
    }

    bool finished_now() { return future_.wait_for(0s) == std::future_status::ready; }

    // The waiter's return value. If it does not return within the watchdog (a lost wake-up), it is
    // released through its predicate so the test ends, and the failure is reported.
    bool result() {
        if (future_.wait_for(watchdog) != std::future_status::ready) {
            release();
            thread_.join();
            FAIL("manual_clock::wait_until did not return: lost wake-up");
        }
        thread_.join();
        return future_.get();
    }
    rs::time_point returned_at() const { return returned_at_; }

private:
    rs::manual_clock& clk_;
    rs::time_point until_;
    std::mutex m_;
    std::condition_variable cv_;
    std::condition_variable seen_;
    int pred_calls_ = 0;
    bool ready_ = false;
    rs::time_point returned_at_{};
    std::promise<bool> result_;
    std::future<bool> future_;
    std::thread thread_;
};

#if RESILIENCE_TEST_HAVE_FORK
// Runs `body` in a child process that is killed after `limit` of real time, and returns its exit code
// (or -signal). Used where a broken implementation deadlocks: the test then fails instead of hanging.
template <class F>
int run_in_child(F body, std::chrono::milliseconds limit) {
    pid_t pid = fork();
    if (pid == 0) {
        itimerval timer{};
        timer.it_value.tv_sec = static_cast<time_t>(limit.count() / 1000);
        timer.it_value.tv_usec = static_cast<suseconds_t>((limit.count() % 1000) * 1000);
        setitimer(ITIMER_REAL, &timer, nullptr);  // default SIGALRM action: terminate
        _exit(body());
    }
    REQUIRE(pid > 0);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return -WTERMSIG(status);
    return -1000;
}
#endif

struct not_a_clock {
    rs::time_point now() const noexcept { return {}; }
};

}  // namespace

static_assert(rs::clock<rs::steady_clock>);
static_assert(rs::clock<rs::manual_clock>);
static_assert(!rs::clock<not_a_clock>);
static_assert(!rs::clock<int>);
static_assert(std::is_same_v<rs::time_point, std::chrono::steady_clock::time_point>);
static_assert(rs::no_deadline == rs::time_point::max());
// manual_clock has identity (policies hold it by reference); steady_clock is a stateless value.
static_assert(!std::is_copy_constructible_v<rs::manual_clock>);
static_assert(!std::is_move_constructible_v<rs::manual_clock>);
static_assert(std::is_trivially_copyable_v<rs::steady_clock>);
static_assert(std::is_empty_v<rs::steady_clock>);

// --- manual_clock -------------------------------------------------------------------------------------

TEST_CASE("manual_clock: starts an hour after the epoch, or where told", "[clock][manual_clock]") {
    rs::manual_clock clk;
    CHECK(clk.now() == rs::time_point{} + 1h);
    CHECK(clk.start() == clk.now());
    CHECK(clk.elapsed() == 0ns);
    CHECK(clk.sleep_count() == 0u);
    CHECK(clk.total_slept() == 0ns);

    rs::manual_clock at(rs::time_point{} + 5s);
    CHECK(at.now() == rs::time_point{} + 5s);
    CHECK(at.start() == rs::time_point{} + 5s);
}

TEST_CASE("manual_clock: advance moves forward and never back", "[clock][manual_clock]") {
    rs::manual_clock clk;
    const auto t0 = clk.now();
    clk.advance(250ms);
    CHECK(clk.now() == t0 + 250ms);
    CHECK(clk.elapsed() == 250ms);
    clk.advance(1ns);
    CHECK(clk.now() == t0 + 250ms + 1ns);

    clk.advance(0ns);
    CHECK(clk.now() == t0 + 250ms + 1ns);
    clk.advance(-1s);  // bad input: ignored, time never goes back
    CHECK(clk.now() == t0 + 250ms + 1ns);
    clk.advance(rs::duration::min());
    CHECK(clk.now() == t0 + 250ms + 1ns);
    // advance does not count as a sleep
    CHECK(clk.sleep_count() == 0u);
    CHECK(clk.total_slept() == 0ns);
}

TEST_CASE("manual_clock: set moves forward and ignores the past", "[clock][manual_clock]") {
    rs::manual_clock clk;
    const auto t0 = clk.now();
    clk.set(t0 + 10s);
    CHECK(clk.now() == t0 + 10s);
    clk.set(t0 + 10s);  // same time: no change
    CHECK(clk.now() == t0 + 10s);
    clk.set(t0 + 5s);  // the past: ignored
    CHECK(clk.now() == t0 + 10s);
    clk.set(rs::time_point{});
    CHECK(clk.now() == t0 + 10s);
    clk.set(rs::time_point::min());
    CHECK(clk.now() == t0 + 10s);
}

// Regression: advance() used to wrap around on overflow, moving time far into the past after a huge
// advance (a test "expiring everything" with duration::max(), or any advance after set(no_deadline)).
TEST_CASE("manual_clock: advance by a huge duration saturates instead of wrapping into the past",
          "[clock][manual_clock]") {
    rs::manual_clock clk;
    const auto before = clk.now();
    clk.advance(rs::duration::max());
    CHECK(clk.now() >= before);

    rs::manual_clock end;
    end.set(rs::no_deadline);
    end.advance(1ns);
    CHECK(end.now() == rs::no_deadline);
}

TEST_CASE("manual_clock: sleep_until advances at once and counts", "[clock][manual_clock]") {
    rs::manual_clock clk;
    const auto t0 = clk.now();

    CHECK(clk.sleep_until(t0 + 100ms));
    CHECK(clk.now() == t0 + 100ms);
    CHECK(clk.sleep_count() == 1u);
    CHECK(clk.total_slept() == 100ms);

    CHECK(clk.sleep_until(t0 + 350ms));
    CHECK(clk.now() == t0 + 350ms);
    CHECK(clk.sleep_count() == 2u);
    CHECK(clk.total_slept() == 350ms);

    SECTION("a time in the past returns at once, counts the call, and sleeps nothing") {
        CHECK(clk.sleep_until(t0));
        CHECK(clk.now() == t0 + 350ms);
        CHECK(clk.sleep_count() == 3u);
        CHECK(clk.total_slept() == 350ms);
    }
    SECTION("now itself is not in the future") {
        CHECK(clk.sleep_until(clk.now()));
        CHECK(clk.now() == t0 + 350ms);
        CHECK(clk.total_slept() == 350ms);
    }
    SECTION("a stop token that can stop but has not does not interrupt") {
        std::stop_source src;
        CHECK(clk.sleep_until(t0 + 1s, src.get_token()));
        CHECK(clk.now() == t0 + 1s);
    }
    SECTION("advance does not add to total_slept") {
        clk.advance(1s);
        CHECK(clk.total_slept() == 350ms);
    }
}

TEST_CASE("manual_clock: sleep_until with an already stopped token returns false without sleeping",
          "[clock][manual_clock]") {
    rs::manual_clock clk;
    const auto t0 = clk.now();
    std::stop_source src;
    src.request_stop();
    CHECK_FALSE(clk.sleep_until(t0 + 1s, src.get_token()));
    CHECK(clk.now() == t0);
    CHECK(clk.sleep_count() == 0u);
    CHECK(clk.total_slept() == 0ns);
}

TEST_CASE("manual_clock: sleep_until(no_deadline) parks time at the end without overflow", "[clock][manual_clock]") {
    rs::manual_clock clk;
    const auto t0 = clk.now();
    CHECK(clk.sleep_until(rs::no_deadline));
    CHECK(clk.now() == rs::no_deadline);
    CHECK(clk.total_slept() == rs::no_deadline - t0);
}

TEST_CASE("manual_clock: wait_until returns at once when the predicate holds or the time has come",
          "[clock][manual_clock]") {
    rs::manual_clock clk;
    std::mutex m;
    std::condition_variable cv;
    std::unique_lock lk(m);

    int calls = 0;
    CHECK(clk.wait_until(lk, cv, clk.now() + 1h, [&] {
        ++calls;
        return true;
    }));
    CHECK(calls >= 1);
    CHECK(lk.owns_lock());

    CHECK_FALSE(clk.wait_until(lk, cv, clk.now(), [] { return false; }));
    CHECK_FALSE(clk.wait_until(lk, cv, clk.now() - 1s, [] { return false; }));
    CHECK(lk.owns_lock());
    CHECK(clk.now() == clk.start());  // waiting never moves virtual time
}

TEST_CASE("manual_clock: wait_until is woken by advance from another thread", "[clock][manual_clock][threads]") {
    rs::manual_clock clk;
    const auto until = clk.now() + 10s;
    blocked_waiter w(clk, until);
    w.blocked();

    clk.advance(4s);  // not enough: the waiter wakes, re-checks, and waits again
    w.wait_for_pred_calls(3);
    CHECK_FALSE(w.finished_now());

    clk.advance(6s);  // reaches `until`
    CHECK_FALSE(w.result());  // timed out: the predicate never held
    CHECK(w.returned_at() == until);
    CHECK(clk.now() == until);
}

TEST_CASE("manual_clock: wait_until is woken by set and by another thread's sleep_until",
          "[clock][manual_clock][threads]") {
    rs::manual_clock clk;
    const auto until = clk.now() + 10s;
    SECTION("set") {
        blocked_waiter w(clk, until);
        w.blocked();
        clk.set(until + 1s);
        CHECK_FALSE(w.result());
        CHECK(w.returned_at() == until + 1s);
    }
    SECTION("sleep_until") {
        blocked_waiter w(clk, until);
        w.blocked();
        CHECK(clk.sleep_until(until));
        CHECK_FALSE(w.result());
        CHECK(w.returned_at() == until);
    }
}

TEST_CASE("manual_clock: wait_until is woken by its predicate, without time moving", "[clock][manual_clock][threads]") {
    rs::manual_clock clk;
    const auto t0 = clk.now();
    blocked_waiter w(clk, t0 + 1h);
    w.blocked();
    w.release();
    CHECK(w.result());
    CHECK(w.returned_at() == t0);
    CHECK(clk.now() == t0);
}

TEST_CASE("manual_clock: one advance wakes every waiter, each on its own mutex", "[clock][manual_clock][threads]") {
    rs::manual_clock clk;
    const auto t0 = clk.now();
    constexpr int n = 8;
    std::vector<std::unique_ptr<blocked_waiter>> waiters;
    for (int i = 0; i < n; ++i) waiters.push_back(std::make_unique<blocked_waiter>(clk, t0 + std::chrono::seconds(i + 1)));
    for (auto& w : waiters) w->blocked();

    clk.advance(std::chrono::seconds(n));
    for (auto& w : waiters) CHECK_FALSE(w->result());
    for (auto& w : waiters) CHECK(w->returned_at() == t0 + std::chrono::seconds(n));
}

TEST_CASE("manual_clock: stress, concurrent advances, sleeps, reads and waits", "[clock][manual_clock][threads][stress]") {
    rs::manual_clock clk;
    const auto t0 = clk.now();
    constexpr int advancers = 4;
    constexpr int iterations = 5000;
    constexpr int waits = 300;
    std::atomic<bool> waiter_done{false};
    std::atomic<int> went_back{0};

    std::thread waiter([&] {
        std::mutex m;
        std::condition_variable cv;
        for (int i = 0; i < waits; ++i) {
            std::unique_lock lk(m);
            auto before = clk.now();
            bool r = clk.wait_until(lk, cv, before + 50ns, [] { return false; });
            if (r || clk.now() < before + 50ns) went_back.fetch_add(1);
        }
        waiter_done = true;
    });

    std::vector<std::thread> threads;
    for (int t = 0; t < advancers; ++t) {
        threads.emplace_back([&, t] {
            auto last = clk.now();
            for (int i = 0; i < iterations; ++i) {
                if (t % 2 == 0) {
                    clk.advance(1ns);
                } else {
                    (void)clk.sleep_until(clk.now() + 1ns);
                }
                auto n = clk.now();
                if (n < last) went_back.fetch_add(1);
                last = n;
            }
        });
    }
    for (auto& th : threads) th.join();
    // The waiter may still need time to pass; keep time moving until it is done (bounded by `waits`).
    while (!waiter_done.load()) clk.advance(1us);
    waiter.join();

    CHECK(went_back.load() == 0);
    CHECK(clk.sleep_count() == static_cast<std::uint64_t>(advancers / 2 * iterations));
    // Every advance(1ns) counts; a racing sleep_until may be absorbed by another thread's move.
    CHECK(clk.now() >= t0 + std::chrono::nanoseconds(advancers / 2 * iterations));
}

TEST_CASE("manual_clock: to_sys is deterministic", "[clock][manual_clock]") {
    using sys = std::chrono::system_clock;
    rs::manual_clock a;
    rs::manual_clock b;
    const sys::time_point new_year_2026 = sys::time_point{} + std::chrono::seconds(1'767'225'600);
    CHECK(a.to_sys(a.start()) == new_year_2026);
    CHECK(a.to_sys(a.start() + 90s) == new_year_2026 + 90s);
    CHECK(a.to_sys(a.start() - 1s) == new_year_2026 - 1s);
    a.advance(5s);
    // depends only on the argument, not on the clock's current time
    CHECK(a.to_sys(a.start() + 90s) == b.to_sys(b.start() + 90s));

    const sys::time_point wall = sys::time_point{} + std::chrono::seconds(1'000'000'000);
    rs::manual_clock c(rs::time_point{} + 7s, wall);
    CHECK(c.to_sys(rs::time_point{} + 7s) == wall);
    CHECK(c.to_sys(rs::time_point{} + 8s) == wall + 1s);
}

// --- steady_clock ---------------------------------------------------------------------------------------

TEST_CASE("steady_clock: now is the process's monotonic clock", "[clock][steady_clock]") {
    rs::steady_clock clk;
    auto a = std::chrono::steady_clock::now();
    auto b = clk.now();
    auto c = std::chrono::steady_clock::now();
    CHECK(a <= b);
    CHECK(b <= c);
}

TEST_CASE("steady_clock: sleep_until a time that has passed returns at once", "[clock][steady_clock]") {
    rs::steady_clock clk;
    CHECK(clk.sleep_until(clk.now() - 1s));
    CHECK(clk.sleep_until(rs::time_point{}));
    std::stop_source src;  // stop possible, not requested: the interruptible path
    CHECK(clk.sleep_until(clk.now() - 1s, src.get_token()));
}

TEST_CASE("steady_clock: wait_until", "[clock][steady_clock]") {
    rs::steady_clock clk;
    std::mutex m;
    std::condition_variable cv;
    std::unique_lock lk(m);
    CHECK(clk.wait_until(lk, cv, clk.now() + 1h, [] { return true; }));
    CHECK_FALSE(clk.wait_until(lk, cv, clk.now() - 1s, [] { return false; }));
    CHECK(lk.owns_lock());
}

TEST_CASE("steady_clock: to_sys maps now to about the wall clock's now", "[clock][steady_clock]") {
    rs::steady_clock clk;
    auto wall = std::chrono::system_clock::now();
    auto mapped = clk.to_sys(clk.now());
    CHECK(mapped - wall < 1s);
    CHECK(wall - mapped < 1s);
    auto t = clk.now();
    auto d = clk.to_sys(t + 10s) - clk.to_sys(t);
    CHECK(d > 9s);
    CHECK(d < 11s);
}

#if RESILIENCE_TEST_HAVE_FORK
// Runs in a child process: if the stop is lost or sleep_until deadlocks, the child is killed and the test
// fails rather than hanging the suite.
TEST_CASE("steady_clock: sleep_until is interrupted by a stop requested from another thread",
          "[clock][steady_clock][threads]") {
    int rc = run_in_child(
        [] {
            rs::steady_clock clk;
            std::stop_source src;
            std::latch about_to_sleep(1);
            std::thread stopper([&] {
                about_to_sleep.wait();
                src.request_stop();  // right away: no sleep, the interruption must do the work
            });
            const auto t0 = std::chrono::steady_clock::now();
            about_to_sleep.count_down();
            bool slept = clk.sleep_until(t0 + 1h, src.get_token());
            stopper.join();
            if (slept) return 1;                                            // must report the interruption
            if (std::chrono::steady_clock::now() - t0 > 30s) return 2;      // and come back early
            return 0;
        },
        60s);
    CHECK(rc == 0);
}

// Regression: sleep_until used to take its mutex before registering the stop_callback, which then ran
// inline on an already-stopped token and locked the same mutex again (a self-deadlock).
TEST_CASE("steady_clock: sleep_until with an already stopped token returns false at once",
          "[clock][steady_clock]") {
    int rc = run_in_child(
        [] {
            rs::steady_clock clk;
            std::stop_source src;
            src.request_stop();
            return clk.sleep_until(clk.now() + 1h, src.get_token()) ? 1 : 0;
        },
        1s);
    CHECK(rc == 0);
}
#endif
