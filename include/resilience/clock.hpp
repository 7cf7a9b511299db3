// SPDX-License-Identifier: MIT
#pragma once

/// \file clock.hpp
/// Clocks: the `clock` concept, `steady_clock` (the default) and `manual_clock` (virtual time).
///
/// Every interval in the library is measured on one of these, never on the wall clock, and every
/// time-based decision is taken lazily when a call runs (no timers, no background threads), so a Lambda
/// environment that is frozen and thawed behaves: the first call after a thaw sees the time that passed.
///
/// Both clocks use `std::chrono::steady_clock::time_point` as their time point, so a deadline computed
/// on one type is a deadline on the other: `call_options::deadline` has one type whatever the clock.

#include "detail/config.hpp"

#include <atomic>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <mutex>
#include <stop_token>
#include <thread>

namespace resilience {

/// The time point type of every clock in the library.
using time_point = std::chrono::steady_clock::time_point;
/// The duration type of every clock in the library (nanoseconds).
using duration = std::chrono::steady_clock::duration;

/// "No deadline".
inline constexpr time_point no_deadline = time_point::max();

/// What a clock provides.
/// - `now()`: the current time point; monotonic.
/// - `sleep_until(t, stop)`: block until `t` (or return at once if `t` has passed); returns false when
///   `stop` was requested before `t` was reached, true otherwise.
/// - `wait_until(lock, cv, t, pred)`: block on `cv` (with `lock` held on entry and exit) until `pred()`
///   holds or the clock reaches `t`; returns `pred()`. This is how bulkheads and rate limiters wait, so
///   that on virtual time they wake when a test advances the clock.
/// - `to_sys(t)`: the wall-clock time of `t`, for human-readable timestamps only (dead-letter records).
template <class C>
concept clock = requires(C& c, const C& cc, time_point t, std::stop_token st,
                         std::unique_lock<std::mutex>& lk, std::condition_variable& cv) {
    { cc.now() } -> std::same_as<time_point>;
    { c.sleep_until(t, st) } -> std::same_as<bool>;
    { c.wait_until(lk, cv, t, [] { return true; }) } -> std::same_as<bool>;
    { cc.to_sys(t) } -> std::same_as<std::chrono::system_clock::time_point>;
};

/// The process's monotonic clock. Stateless and copyable; thread-safe.
///
/// `sleep_until` with a stop token that can be stopped waits on a condition variable that a
/// `std::stop_callback` notifies, so cancellation interrupts a backoff immediately; it allocates nothing.
struct steady_clock {
    [[nodiscard]] time_point now() const noexcept { return std::chrono::steady_clock::now(); }

    bool sleep_until(time_point t, std::stop_token stop = {}) {
        if (!stop.stop_possible()) {
            if (t > now()) std::this_thread::sleep_until(t);
            return true;
        }
        if (stop.stop_requested()) return false;
        std::mutex m;
        std::condition_variable cv;
        // The callback is registered before the lock is taken and unregistered after it is released:
        // it runs inline when the stop is already requested, and ~stop_callback waits for a callback
        // running on another thread, which needs `m`.
        std::stop_callback wake(stop, [&] {
            std::lock_guard g(m);
            cv.notify_all();
        });
        {
            std::unique_lock lk(m);
            cv.wait_until(lk, t, [&] { return stop.stop_requested(); });
        }
        return !stop.stop_requested();
    }

    template <class Pred>
    bool wait_until(std::unique_lock<std::mutex>& lk, std::condition_variable& cv, time_point t, Pred pred) {
        return cv.wait_until(lk, t, pred);
    }

    /// Precondition: `t` is within a few centuries of now (`no_deadline` maps to the largest wall time).
    [[nodiscard]] std::chrono::system_clock::time_point to_sys(time_point t) const noexcept {
        if (t == no_deadline) return std::chrono::system_clock::time_point::max();
        auto sys_now = std::chrono::system_clock::now();
        auto mono_now = now();
        return sys_now - std::chrono::duration_cast<std::chrono::system_clock::duration>(mono_now - t);
    }
};

/// Virtual time for tests and simulations. Starts at `start` (default: one hour after the steady
/// clock's epoch, so that "time zero" never looks like an unset time point) and moves only when told:
/// `advance(d)`, `set(t)`, or a `sleep_until(t)`, which advances the clock to `t` at once instead of
/// blocking. A retry's backoff therefore costs no real time, and a test reads exactly how long it
/// "slept".
///
/// Thread safety: every member is thread-safe. Time is shared: a sleep on one thread advances the
/// clock for all. `wait_until` blocks the calling thread for real until another thread advances the
/// clock past `t` or the predicate becomes true (it is notified by the waker that changes the state).
/// Do not call `advance`/`set`/`sleep_until` while holding a mutex that a waiter in `wait_until` uses.
/// Non-copyable: it has identity, and policies hold it by reference.
class manual_clock {
public:
    explicit manual_clock(time_point start = time_point{} + std::chrono::hours(1),
                          std::chrono::system_clock::time_point wall_start =
                              std::chrono::system_clock::time_point{} + std::chrono::seconds(1'767'225'600))
        : now_ns_(start.time_since_epoch().count()), start_(start), wall_start_(wall_start) {}
    manual_clock(const manual_clock&) = delete;
    manual_clock& operator=(const manual_clock&) = delete;

    [[nodiscard]] time_point now() const noexcept { return time_point{duration{now_ns_.load(std::memory_order_acquire)}}; }

    /// Moves time forward by `d`. Precondition: `d >= 0` (time never goes back; a negative `d` is
    /// ignored).
    void advance(duration d) {
        if (d <= duration::zero()) return;
        // Saturates at the largest time point instead of wrapping into the past.
        constexpr auto max = std::numeric_limits<std::int64_t>::max();
        auto cur = now_ns_.load(std::memory_order_acquire);
        std::int64_t next;
        do {
            next = cur > max - d.count() ? max : cur + d.count();
        } while (!now_ns_.compare_exchange_weak(cur, next, std::memory_order_acq_rel));
        notify_waiters();
    }

    /// Moves time forward to `t`; a `t` in the past is ignored (time never goes back).
    void set(time_point t) {
        auto target = t.time_since_epoch().count();
        auto cur = now_ns_.load(std::memory_order_acquire);
        while (cur < target && !now_ns_.compare_exchange_weak(cur, target, std::memory_order_acq_rel)) {
        }
        if (cur < target) notify_waiters();
    }

    /// Advances to `t` without blocking. Returns false (and does not advance) when `stop` was already
    /// requested. Counts sleeps so tests can assert on them.
    bool sleep_until(time_point t, std::stop_token stop = {}) {
        if (stop.stop_requested()) return false;
        auto n = now();
        sleeps_.fetch_add(1, std::memory_order_relaxed);
        if (t > n) {
            slept_ns_.fetch_add((t - n).count(), std::memory_order_relaxed);
            set(t);
        }
        return true;
    }

    /// Blocks (for real) until `pred()` or until virtual time reaches `t`. See the class comment.
    template <class Pred>
    bool wait_until(std::unique_lock<std::mutex>& lk, std::condition_variable& cv, time_point t, Pred pred) {
        if (pred()) return true;
        waiter w{&cv, lk.mutex(), nullptr};
        // Register without holding the caller's mutex: `notify_waiters` takes our registry mutex and
        // then each waiter's mutex, so we must never take them in the other order.
        lk.unlock();
        {
            std::lock_guard g(registry_);
            w.next = head_;
            head_ = &w;
        }
        lk.lock();
        while (!pred() && now() < t) cv.wait(lk);
        bool ok = pred();
        lk.unlock();
        {
            std::lock_guard g(registry_);
            for (waiter** p = &head_; *p; p = &(*p)->next) {
                if (*p == &w) {
                    *p = w.next;
                    break;
                }
            }
        }
        lk.lock();
        return ok || pred();
    }

    /// Wall-clock time of `t`: `wall_start + (t - start)`. Deterministic, for reproducible records.
    /// `no_deadline` maps to the largest wall time.
    [[nodiscard]] std::chrono::system_clock::time_point to_sys(time_point t) const noexcept {
        if (t == no_deadline) return std::chrono::system_clock::time_point::max();
        return wall_start_ + std::chrono::duration_cast<std::chrono::system_clock::duration>(t - start_);
    }

    /// Number of `sleep_until` calls so far.
    [[nodiscard]] std::uint64_t sleep_count() const noexcept { return sleeps_.load(std::memory_order_relaxed); }
    /// Total virtual time advanced by `sleep_until` calls.
    [[nodiscard]] duration total_slept() const noexcept { return duration{slept_ns_.load(std::memory_order_relaxed)}; }
    /// The time point the clock started at.
    [[nodiscard]] time_point start() const noexcept { return start_; }
    /// Virtual time elapsed since construction.
    [[nodiscard]] duration elapsed() const noexcept { return now() - start_; }

private:
    struct waiter {
        std::condition_variable* cv;
        std::mutex* m;
        waiter* next;
    };

    void notify_waiters() {
        std::lock_guard g(registry_);
        for (waiter* w = head_; w; w = w->next) {
            // Taking the waiter's mutex orders this wake-up after its check of now(): no lost wake-up.
            { std::lock_guard wl(*w->m); }
            w->cv->notify_all();
        }
    }

    std::atomic<std::int64_t> now_ns_;
    std::atomic<std::uint64_t> sleeps_{0};
    std::atomic<std::int64_t> slept_ns_{0};
    time_point start_;
    std::chrono::system_clock::time_point wall_start_;
    std::mutex registry_;
    waiter* head_ = nullptr;
};

static_assert(clock<steady_clock>);
static_assert(clock<manual_clock>);

}  // namespace resilience
