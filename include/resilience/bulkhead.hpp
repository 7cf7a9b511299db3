// SPDX-License-Identifier: MIT
#pragma once

/// \file bulkhead.hpp
/// `bulkhead`: a limit on how many calls run at once, with an optional bounded FIFO queue in which a
/// caller may wait a bounded time for a slot.
///
/// \code
///   static rs::bulkhead pool{{.max_concurrent = 8}};                      // no queue: reject at once
///   static rs::bulkhead queued{{.max_concurrent = 8, .max_queue = 16, .max_wait = 50ms}};
///   rs::resilient_call call{breaker, pool, rs::timeout{500ms}};
/// \endcode
///
/// A bulkhead is stateful: it has identity, is neither copyable nor movable, lives as long as the
/// process (a Lambda execution environment is reused across invocations) and is held by reference when
/// listed in a `resilient_call`. A refused call fails with `failure_kind::bulkhead_full`, a value:
/// nothing is thrown and nothing is allocated.

#include "clock.hpp"
#include "context.hpp"
#include "detail/config.hpp"
#include "detail/validate.hpp"
#include "events.hpp"
#include "result.hpp"

#include <atomic>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string_view>
#include <type_traits>
#include <utility>

namespace resilience {

/// Configuration of a `bulkhead`. An aggregate: `{.max_concurrent = 8, .max_queue = 16, .max_wait = 50ms}`.
///
/// | field            | default | allowed                                   |
/// |------------------|---------|-------------------------------------------|
/// | `name`           | `""`    | any; must outlive the bulkhead (a literal) |
/// | `max_concurrent` | 25      | 1 .. 1'000'000                             |
/// | `max_queue`      | 0       | 0 .. 1'000'000; above 0 requires `max_wait` above 0 |
/// | `max_wait`       | 0       | 0 .. 1h; above 0 requires `max_queue` above 0       |
///
/// `max_queue == 0` (the default) means no queue: a call that finds every slot taken is rejected at
/// once, without reading the clock. With a queue, a caller waits in FIFO order for at most `max_wait`,
/// and never past its own deadline. Waiting without a queue, or a queue without time to wait in it, is
/// almost certainly a mistake, so both combinations are configuration errors rather than silently
/// ignored settings.
///
/// The default of 25 concurrent calls follows resilience4j; size it from the dependency's capacity
/// (or the connection pool in front of it), not from this default.
struct bulkhead_options {
    /// Instance name, reported in events (`event::name`). Must point to storage that outlives the
    /// bulkhead (a string literal).
    std::string_view name{};
    /// Calls that may run at once.
    std::uint32_t max_concurrent = 25;
    /// Callers that may wait for a slot when all are taken; 0: none (reject at once).
    std::uint32_t max_queue = 0;
    /// Longest time a queued caller waits, on the bulkhead's clock; 0: no waiting.
    duration max_wait = duration::zero();

    /// Upper bound of `max_concurrent` and `max_queue`.
    static constexpr std::uint32_t max_count = 1'000'000;
    /// Upper bound of `max_wait`.
    static constexpr duration max_wait_limit = std::chrono::hours(1);

    /// The first invalid field, if any. Never throws; usable with `-fno-exceptions`.
    [[nodiscard]] std::optional<config_error> validate() const noexcept {
        if (max_concurrent < 1 || max_concurrent > max_count)
            return config_error{"bulkhead_options.max_concurrent",
                                "bulkhead_options.max_concurrent must be between 1 and 1000000"};
        if (max_queue > max_count)
            return config_error{"bulkhead_options.max_queue",
                                "bulkhead_options.max_queue must be between 0 and 1000000"};
        if (max_wait < duration::zero() || max_wait > max_wait_limit)
            return config_error{"bulkhead_options.max_wait",
                                "bulkhead_options.max_wait must be between 0 and 1h"};
        if (max_queue > 0 && max_wait == duration::zero())
            return config_error{"bulkhead_options.max_wait",
                                "bulkhead_options.max_wait must be between 1ns and 1h when max_queue is above 0 "
                                "(a queued caller needs time to wait)"};
        if (max_wait > duration::zero() && max_queue == 0)
            return config_error{"bulkhead_options.max_queue",
                                "bulkhead_options.max_queue must be between 1 and 1000000 when max_wait is above 0 "
                                "(waiting needs a queue)"};
        return std::nullopt;
    }
};

/// A concurrency limit with an optional bounded FIFO queue.
///
/// Usage: list it in a `resilient_call` (held by reference), or take permits by hand with
/// `try_acquire()` / `acquire()`; a permit is an RAII object that gives its slot back when destroyed.
///
/// Behaviour of a call (`execute`, `acquire`):
/// - a free slot and nobody queued: the slot is taken with one compare-and-swap on an atomic word; no
///   mutex, no clock read, no allocation;
/// - no free slot (or callers already queued — a newcomer never overtakes a queued caller), no queue
///   configured or the queue full: rejected at once with `bulkhead_full` (event `rejected`);
/// - otherwise the caller joins the back of the queue and waits on the bulkhead's clock until a slot is
///   handed to it (FIFO), until `max_wait` has passed (`bulkhead_full`), until the call's deadline
///   (`ctx.expiry_kind()`: `timeout` under a `timeout` policy, else `deadline_exceeded`; event
///   `timeout`), or until the caller's stop token is triggered (`cancelled`, event `rejected`),
///   whichever comes first. A call whose deadline has already passed is not queued.
/// A releasing caller hands its slot directly to the oldest waiter, so the slot cannot be stolen
/// between the release and the waiter's wake-up.
///
/// Time: waiting uses `Clock::wait_until`, so on a `manual_clock` a waiter wakes when a test advances
/// virtual time; there is no timer and no background thread. `ctx.deadline` must be on this clock's
/// time line (every clock of the library shares one `time_point` type).
///
/// Thread safety: every member function may be called concurrently. Memory ordering: taking a slot is
/// an acquire operation and giving one back a release operation (as with a semaphore), so whatever a
/// permit holder wrote before releasing happens-before whatever the next holder of that slot does. The
/// queue is guarded by a mutex, taken only when somebody waits or would wait.
///
/// Lifetime: must outlive every composition that lists it and every permit; destroying it while a
/// permit is held or a caller waits is undefined behaviour. Non-copyable and non-movable.
template <class Clock = steady_clock>
class bulkhead {
    static_assert(clock<Clock>, "resilience::bulkhead<Clock>: Clock must satisfy resilience::clock");

public:
    using clock_type = Clock;

    /// A slot in the bulkhead, or nothing (`!permit`). Move-only; gives the slot back when destroyed
    /// or `release()`d. Thread safety: a permit belongs to one thread at a time; it may be moved to and
    /// released on another thread.
    class permit {
    public:
        /// An empty permit.
        permit() noexcept = default;
        permit(permit&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)) {}
        permit& operator=(permit&& other) noexcept {
            if (this != &other) {
                release();
                owner_ = std::exchange(other.owner_, nullptr);
            }
            return *this;
        }
        permit(const permit&) = delete;
        permit& operator=(const permit&) = delete;
        ~permit() { release(); }

        /// True while the permit holds a slot.
        [[nodiscard]] bool held() const noexcept { return owner_ != nullptr; }
        explicit operator bool() const noexcept { return held(); }
        /// Gives the slot back now (to the oldest waiter, if any); no effect on an empty permit.
        void release() noexcept {
            if (owner_) std::exchange(owner_, nullptr)->release_slot();
        }

    private:
        friend class bulkhead;
        explicit permit(bulkhead* owner) noexcept : owner_(owner) {}
        bulkhead* owner_ = nullptr;
    };

    /// A bulkhead on `clk` (e.g. a `manual_clock` in tests), which must outlive it.
    /// Throws `std::invalid_argument` naming the field for invalid options (aborts with that message
    /// under `-fno-exceptions`; call `options.validate()` first to handle the error yourself).
    bulkhead(const bulkhead_options& options, Clock& clk) : clock_(&clk), options_(options) {
        detail::enforce(options_.validate());
    }
    /// A bulkhead on the process's steady clock.
    explicit bulkhead(const bulkhead_options& options = {})
        requires std::same_as<Clock, steady_clock>
        : bulkhead(options, shared_steady_clock()) {}

    bulkhead(const bulkhead&) = delete;
    bulkhead& operator=(const bulkhead&) = delete;

    /// The clock the bulkhead waits on; a composition listing the bulkhead adopts it.
    [[nodiscard]] Clock& clock() const noexcept { return *clock_; }
    /// The options it was built with.
    [[nodiscard]] const bulkhead_options& options() const noexcept { return options_; }

    /// Takes a slot if one is free and nobody is queued; never waits, never queues, never reads the
    /// clock. Returns an empty permit otherwise (not counted as a rejection).
    [[nodiscard]] permit try_acquire() noexcept { return try_take() ? permit{this} : permit{}; }

    /// Takes a slot, waiting in the queue as configured (at most `max_wait`) but never past `deadline`,
    /// and giving up when `stop` is triggered. Fails with `bulkhead_full`, `deadline_exceeded` or
    /// `cancelled`. Allocates nothing.
    [[nodiscard]] result<permit> acquire(time_point deadline = no_deadline, std::stop_token stop = {}) {
        switch (take(deadline, stop)) {
            case status::acquired: return permit{this};
            case status::full: return full_failure();
            case status::expired:
                return failure::of(failure_kind::deadline_exceeded, "the deadline passed while waiting for a bulkhead slot");
            case status::cancelled: break;
        }
        return failure::of(failure_kind::cancelled, "cancelled while waiting for a bulkhead slot");
    }

    /// Policy entry point (see policy.hpp): runs `next` holding a slot, or returns the rejection.
    template <class Ctx, class Next>
    auto execute(Ctx& ctx, Next&& next) -> std::invoke_result_t<Next&, Ctx&> {
        using R = std::invoke_result_t<Next&, Ctx&>;
        if (try_take()) [[likely]] {
            permit held{this};
            return next(ctx);
        }
        const status s = take_slow(ctx.deadline, ctx.stop_token(), ctx.state);
        if (s == status::acquired) {
            permit held{this};
            return next(ctx);
        }
        failure f = s == status::full      ? full_failure()
                    : s == status::expired ? failure::of(ctx.expiry_kind(), "the deadline passed while waiting for a bulkhead slot")
                                           : failure::of(failure_kind::cancelled, "cancelled while waiting for a bulkhead slot");
        if constexpr (Ctx::events_enabled) {
            ctx.emit({.type = s == status::expired ? event_type::timeout : event_type::rejected,
                      .policy = "bulkhead",
                      .name = options_.name,
                      .kind = f.kind,
                      .error = &f});
        }
        return R(std::move(f));
    }

    /// Slots taken now. A snapshot: may be stale by the time it is read.
    [[nodiscard]] std::uint32_t in_use() const noexcept { return in_use_of(state_.load(std::memory_order_relaxed)); }
    /// Callers waiting now. A snapshot.
    [[nodiscard]] std::uint32_t queued() const noexcept { return queued_of(state_.load(std::memory_order_relaxed)); }
    /// Free slots now (`max_concurrent - in_use()`). A snapshot.
    [[nodiscard]] std::uint32_t available() const noexcept { return options_.max_concurrent - in_use(); }
    /// Calls refused with `bulkhead_full` since construction (no slot, queue full or `max_wait` over).
    [[nodiscard]] std::uint64_t rejected() const noexcept { return rejected_.load(std::memory_order_relaxed); }
    /// Calls whose deadline passed before they got a slot (not queued, or queued and timed out).
    [[nodiscard]] std::uint64_t expired() const noexcept { return expired_.load(std::memory_order_relaxed); }
    /// Calls whose stop token was triggered while waiting for a slot.
    [[nodiscard]] std::uint64_t cancelled() const noexcept { return cancelled_.load(std::memory_order_relaxed); }

private:
    enum class status : std::uint8_t { acquired, full, expired, cancelled };

    // A queued caller. Lives on the caller's stack; linked into the queue under `mutex_`.
    struct waiter {
        std::condition_variable cv;
        waiter* prev = nullptr;
        waiter* next = nullptr;
        bool granted = false;  // guarded by mutex_: a releaser handed its slot to this waiter
    };

    // Wakes a waiter when its caller's stop token is triggered. Locks the mutex so that the
    // notification cannot fall between the waiter's check of the token and its wait.
    struct stop_waker {
        bulkhead* self;
        waiter* w;
        void operator()() const noexcept {
            std::lock_guard g(self->mutex_);
            w->cv.notify_all();
        }
    };

    // state_ packs two counters so that one compare-and-swap sees both: the low 32 bits count slots
    // in use, the high 32 bits count queued callers. Invariant: queued > 0 implies in_use ==
    // max_concurrent (a releaser hands its slot to a waiter instead of freeing it).
    static constexpr std::uint64_t one_queued = std::uint64_t{1} << 32;
    static constexpr std::uint32_t in_use_of(std::uint64_t s) noexcept { return static_cast<std::uint32_t>(s & 0xffff'ffffu); }
    static constexpr std::uint32_t queued_of(std::uint64_t s) noexcept { return static_cast<std::uint32_t>(s >> 32); }

    static steady_clock& shared_steady_clock() noexcept {
        static steady_clock c;
        return c;
    }

    failure full_failure() const noexcept {
        return failure::of(failure_kind::bulkhead_full,
                           options_.max_queue == 0 ? "bulkhead full: every slot is taken"
                                                   : "bulkhead full: no slot freed in time, or the queue is full");
    }

    // The fast path: one CAS, refused as soon as anybody is queued (FIFO: no barging).
    bool try_take() noexcept {
        std::uint64_t s = state_.load(std::memory_order_relaxed);
        while (queued_of(s) == 0 && in_use_of(s) < options_.max_concurrent) {
            if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acquire, std::memory_order_relaxed)) return true;
        }
        return false;
    }

    status take(time_point deadline, const std::stop_token& stop) {
        return try_take() ? status::acquired : take_slow(deadline, stop, nullptr);
    }

    // `call` (null outside a composition) gets its start time fixed by our clock read, as ctx.now()
    // would: the composition runs on this clock's type, so a failure's `elapsed` includes the wait.
    status take_slow(time_point deadline, const std::stop_token& stop, call_state* call) {
        if (options_.max_queue == 0) return refuse_full();
        if (stop.stop_requested()) return refuse(cancelled_, status::cancelled);
        const time_point now = clock_->now();
        if (call && call->start == time_point::min()) call->start = now;
        if (deadline <= now) return refuse(expired_, status::expired);
        // Wait until whichever comes first: max_wait or the caller's deadline.
        const bool deadline_first = deadline != no_deadline && deadline <= now + options_.max_wait;
        const time_point until = deadline_first ? deadline : now + options_.max_wait;

        // Declared before the lock so that they are destroyed after it is released: the stop callback's
        // destructor waits for a running callback, which itself takes the mutex.
        waiter w;
        std::optional<std::stop_callback<stop_waker>> on_stop;
        if (stop.stop_possible()) on_stop.emplace(stop, stop_waker{this, &w});

        std::unique_lock lk(mutex_);
        std::uint64_t s = state_.load(std::memory_order_relaxed);
        for (;;) {
            if (queued_of(s) == 0 && in_use_of(s) < options_.max_concurrent) {
                // A slot was freed since the fast path failed, and nobody is ahead of us.
                if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acquire, std::memory_order_relaxed))
                    return status::acquired;
                continue;
            }
            if (queued_of(s) >= options_.max_queue) {
                lk.unlock();
                return refuse_full();
            }
            // Queue only while every slot is taken: a release after this CAS sees queued > 0 and
            // takes the mutex, so it cannot free a slot past us.
            if (state_.compare_exchange_weak(s, s + one_queued, std::memory_order_relaxed, std::memory_order_relaxed))
                break;
        }
        w.prev = tail_;
        if (tail_) tail_->next = &w; else head_ = &w;
        tail_ = &w;

        clock_->wait_until(lk, w.cv, until, [&] { return w.granted || stop.stop_requested(); });
        if (w.granted) return status::acquired;  // the releaser already moved the slot to us

        unlink(w);
        state_.fetch_sub(one_queued, std::memory_order_relaxed);
        lk.unlock();
        if (stop.stop_requested()) return refuse(cancelled_, status::cancelled);
        if (deadline_first) return refuse(expired_, status::expired);
        return refuse_full();
    }

    status refuse_full() noexcept { return refuse(rejected_, status::full); }
    static status refuse(std::atomic<std::uint64_t>& counter, status s) noexcept {
        counter.fetch_add(1, std::memory_order_relaxed);
        return s;
    }

    void unlink(waiter& w) noexcept {
        if (w.prev) w.prev->next = w.next; else head_ = w.next;
        if (w.next) w.next->prev = w.prev; else tail_ = w.prev;
        w.prev = w.next = nullptr;
    }

    void release_slot() noexcept {
        std::uint64_t s = state_.load(std::memory_order_relaxed);
        while (queued_of(s) == 0) {
            if (state_.compare_exchange_weak(s, s - 1, std::memory_order_release, std::memory_order_relaxed)) return;
        }
        // Somebody is queued (or was, when we looked): hand the slot over under the mutex.
        std::lock_guard g(mutex_);
        if (waiter* w = head_) {
            unlink(*w);
            // The slot changes hands without ever being free: in_use stays, the queue shrinks. The
            // mutex orders our writes before the waiter's reads.
            state_.fetch_sub(one_queued, std::memory_order_relaxed);
            w->granted = true;
            // Notify under the mutex: once it is released the waiter may return and destroy `cv`.
            w->cv.notify_one();
            return;
        }
        // Every waiter left (timed out or cancelled) before we got the mutex: free the slot.
        state_.fetch_sub(1, std::memory_order_release);
    }

    Clock* clock_;
    bulkhead_options options_;
    std::atomic<std::uint64_t> state_{0};
    std::mutex mutex_;          // guards the queue (head_, tail_, waiter::granted)
    waiter* head_ = nullptr;    // oldest waiter
    waiter* tail_ = nullptr;    // newest waiter
    std::atomic<std::uint64_t> rejected_{0};
    std::atomic<std::uint64_t> expired_{0};
    std::atomic<std::uint64_t> cancelled_{0};
};

/// `rs::bulkhead pool{{.max_concurrent = 8}}` is a `bulkhead<steady_clock>`.
bulkhead(const bulkhead_options&) -> bulkhead<steady_clock>;
/// `rs::bulkhead pool{opts, clk}` runs on the type of `clk`.
template <class Clock>
bulkhead(const bulkhead_options&, Clock&) -> bulkhead<Clock>;

}  // namespace resilience
