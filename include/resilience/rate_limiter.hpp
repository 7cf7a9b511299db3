// SPDX-License-Identifier: MIT
#pragma once

/// \file rate_limiter.hpp
/// `rate_limiter`: a token bucket that admits `permits` calls `per` period on average with bursts of at
/// most `burst`, and optionally lets a caller wait up to `max_wait` for its token.
///
/// \code
///   static rs::rate_limiter limiter{{.permits = 100, .per = 1s, .burst = 20}};
///   rs::resilient_call call{limiter, rs::retry{}};
/// \endcode
///
/// A rate limiter is stateful: it has identity, is neither copyable nor movable, lives as long as the
/// process and is held by reference when listed in a `resilient_call`. A refused call fails with
/// `failure_kind::rate_limited` and a `retry_after` hint: a value, no exception, no allocation.

#include "clock.hpp"
#include "context.hpp"
#include "detail/config.hpp"
#include "detail/validate.hpp"
#include "events.hpp"
#include "result.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <limits>
#include <optional>
#include <stop_token>
#include <string_view>
#include <type_traits>
#include <utility>

namespace resilience {

/// Configuration of a `rate_limiter`. An aggregate: `{.permits = 100, .per = 1s, .burst = 20}`.
///
/// | field      | default | allowed                                     |
/// |------------|---------|---------------------------------------------|
/// | `name`     | `""`    | any; must outlive the limiter (a literal)    |
/// | `permits`  | 10      | 1 .. 1'000'000                               |
/// | `per`      | 1s      | 1ms .. 1h                                    |
/// | `burst`    | 10      | 1 .. 1'000'000                               |
/// | `max_wait` | 0       | 0 .. 1h                                      |
///
/// The sustained rate is `permits / per`: one token every `per / permits` (rounded to the nearest
/// nanosecond; the interval is what is enforced). `burst` is the bucket's capacity: how many calls may
/// pass at once after a quiet period. The bucket starts full. `burst` does not follow `permits`:
/// `{.permits = 100}` alone means 100 per second in bursts of at most 10; set both.
///
/// With `max_wait > 0` a caller that finds the bucket empty reserves the next free token, if it comes
/// within `max_wait` (and before the call's deadline), and sleeps on the limiter's clock until then;
/// otherwise it is rejected at once without waiting.
struct rate_limiter_options {
    /// Instance name, reported in events (`event::name`). Must outlive the limiter (a string literal).
    std::string_view name{};
    /// Tokens added per `per`.
    std::uint32_t permits = 10;
    /// The period over which `permits` tokens are added.
    duration per = std::chrono::seconds(1);
    /// Bucket capacity: the largest burst.
    std::uint32_t burst = 10;
    /// Longest time a caller waits for a token, on the limiter's clock; 0: never wait.
    duration max_wait = duration::zero();

    /// Upper bound of `permits` and `burst`.
    static constexpr std::uint32_t max_count = 1'000'000;
    /// Bounds of `per`. With `permits <= max_count` they keep the token interval at 1ns or more, and
    /// `burst * interval` far from overflow.
    static constexpr duration min_per = std::chrono::milliseconds(1);
    static constexpr duration max_per = std::chrono::hours(1);
    /// Upper bound of `max_wait`.
    static constexpr duration max_wait_limit = std::chrono::hours(1);

    /// The first invalid field, if any. Never throws; usable with `-fno-exceptions`.
    [[nodiscard]] std::optional<config_error> validate() const noexcept {
        if (permits < 1 || permits > max_count)
            return config_error{"rate_limiter_options.permits",
                                "rate_limiter_options.permits must be between 1 and 1000000"};
        if (per < min_per || per > max_per)
            return config_error{"rate_limiter_options.per", "rate_limiter_options.per must be between 1ms and 1h"};
        if (burst < 1 || burst > max_count)
            return config_error{"rate_limiter_options.burst",
                                "rate_limiter_options.burst must be between 1 and 1000000"};
        if (max_wait < duration::zero() || max_wait > max_wait_limit)
            return config_error{"rate_limiter_options.max_wait",
                                "rate_limiter_options.max_wait must be between 0 and 1h"};
        return std::nullopt;
    }

    /// The time between two tokens: `per / permits`, rounded to the nearest nanosecond, at least 1ns.
    /// Precondition: `validate()` succeeds.
    [[nodiscard]] constexpr duration interval() const noexcept {
        const auto p = static_cast<duration::rep>(permits);
        return duration{std::max<duration::rep>(1, (per.count() + p / 2) / p)};
    }
};

/// A token bucket.
///
/// Behaviour of a call (`execute`, `acquire`): if a token is in the bucket it is taken and the call
/// runs. Otherwise, if `max_wait > 0` and the next free token comes within `max_wait` and strictly
/// before the call's deadline, the caller reserves it (later callers queue behind the reservation) and
/// sleeps on the limiter's clock until it is due; a stop token triggered during that sleep ends it
/// with `cancelled`. Otherwise the call is rejected at once with `rate_limited` and `retry_after` = the
/// time until a token will be free (event `rejected`, `delay` = that hint). A call whose deadline has
/// already passed fails with `ctx.expiry_kind()` without taking a token.
///
/// Time: tokens are computed lazily from the clock when a call arrives (no timer, no background
/// thread), so a frozen and thawed Lambda environment finds the bucket refilled by the time that
/// passed, never beyond `burst`. On a `manual_clock` a reservation's sleep advances virtual time.
///
/// Implementation: the generic cell rate algorithm, an exact equivalent of the token bucket whose whole
/// state is one atomic integer — the time at which the bucket will be full again. Taking a token is one
/// load and one compare-and-swap; no mutex anywhere. Memory ordering: relaxed, because the limiter
/// publishes no other data through that integer and the atomic's modification order alone guarantees
/// that no token is handed out twice.
///
/// A cancelled reservation gives its token back only if nobody reserved after it (then doing so is
/// exact); otherwise the token is lost, which errs on the side of a lower rate.
///
/// Thread safety: every member function may be called concurrently. Lifetime: must outlive every
/// composition that lists it. Non-copyable and non-movable.
template <class Clock = steady_clock>
class rate_limiter {
    static_assert(clock<Clock>, "resilience::rate_limiter<Clock>: Clock must satisfy resilience::clock");

public:
    using clock_type = Clock;

    /// A limiter on `clk` (e.g. a `manual_clock` in tests), which must outlive it.
    /// Throws `std::invalid_argument` naming the field for invalid options (aborts with that message
    /// under `-fno-exceptions`; call `options.validate()` first to handle the error yourself).
    rate_limiter(const rate_limiter_options& options, Clock& clk)
        : clock_(&clk), options_(checked(options)), interval_(options_.interval().count()),
          capacity_(interval_ * static_cast<rep>(options_.burst)) {}
    /// A limiter on the process's steady clock.
    explicit rate_limiter(const rate_limiter_options& options = {})
        requires std::same_as<Clock, steady_clock>
        : rate_limiter(options, shared_steady_clock()) {}

    rate_limiter(const rate_limiter&) = delete;
    rate_limiter& operator=(const rate_limiter&) = delete;

    /// The clock the limiter reads and sleeps on; a composition listing the limiter adopts it.
    [[nodiscard]] Clock& clock() const noexcept { return *clock_; }
    /// The options it was built with.
    [[nodiscard]] const rate_limiter_options& options() const noexcept { return options_; }
    /// Time between two tokens.
    [[nodiscard]] duration interval() const noexcept { return duration{interval_}; }

    /// Takes `n` tokens if they are in the bucket now; never waits. `n == 0` always succeeds; `n >
    /// burst` never does. A refusal is not counted in `rejected()`.
    [[nodiscard]] bool try_acquire(std::uint32_t n = 1) noexcept {
        if (n == 0) return true;
        if (n > options_.burst) return false;
        const rep now = ticks(clock_->now());
        return reserve(now, n, now).granted;
    }

    /// Takes `n` tokens, waiting for them up to `max_wait` when configured (never until `deadline` or
    /// later), and giving up when `stop` is triggered during the wait. Fails with `rate_limited` (with
    /// `retry_after`), `deadline_exceeded` or `cancelled`; `n > burst` fails with `rate_limited`,
    /// `transience::permanent`. Allocates nothing.
    [[nodiscard]] result<void> acquire(std::uint32_t n = 1, time_point deadline = no_deadline, std::stop_token stop = {}) {
        if (n == 0) return ok();
        if (n > options_.burst) {
            failure f = failure::of(failure_kind::rate_limited, "more permits requested than the rate limiter's burst");
            f.hint = transience::permanent;
            return f;
        }
        const outcome o = take(clock_->now(), n, deadline, stop);
        if (o.s == status::acquired) return ok();
        return to_failure(o, failure_kind::deadline_exceeded);
    }

    /// Policy entry point (see policy.hpp): runs `next` once a token is taken, or returns the refusal.
    template <class Ctx, class Next>
    auto execute(Ctx& ctx, Next&& next) -> std::invoke_result_t<Next&, Ctx&> {
        using R = std::invoke_result_t<Next&, Ctx&>;
        const time_point now = clock_->now();
        // Same clock type as the composition (resilient_call checks it): this read may fix the call's
        // start, as ctx.now() would.
        if (ctx.state->start == time_point::min()) ctx.state->start = now;
        const outcome o = take(now, 1, ctx.deadline, ctx.stop_token());
        if (o.s == status::acquired) [[likely]] return next(ctx);
        failure f = to_failure(o, ctx.expiry_kind());
        if constexpr (Ctx::events_enabled) {
            ctx.emit({.type = o.s == status::expired ? event_type::timeout : event_type::rejected,
                      .policy = "rate_limiter",
                      .name = options_.name,
                      .kind = f.kind,
                      .delay = f.retry_after,
                      .error = &f});
        }
        return R(std::move(f));
    }

    /// Tokens in the bucket now (0 when callers have reserved future tokens). A snapshot.
    [[nodiscard]] std::uint32_t available() const noexcept {
        const rep now = ticks(clock_->now());
        const rep full_at = std::max(tat_.load(std::memory_order_relaxed), now);
        const rep room = now + capacity_ - full_at;  // capacity minus the time still owed
        return room <= 0 ? 0u : static_cast<std::uint32_t>(room / interval_);
    }
    /// Time until one token is free; zero when one is free now. A snapshot.
    [[nodiscard]] duration time_until_available() const noexcept {
        const rep now = ticks(clock_->now());
        const rep at = std::max(tat_.load(std::memory_order_relaxed), now) + interval_ - capacity_;
        return duration{at > now ? at - now : 0};
    }
    /// Calls refused with `rate_limited` since construction (by `execute` and `acquire`).
    [[nodiscard]] std::uint64_t rejected() const noexcept { return rejected_.load(std::memory_order_relaxed); }
    /// Calls that reserved a future token and waited for it (whether or not they were then cancelled).
    [[nodiscard]] std::uint64_t waited() const noexcept { return waited_.load(std::memory_order_relaxed); }

private:
    using rep = duration::rep;
    enum class status : std::uint8_t { acquired, limited, expired, cancelled };
    struct outcome {
        status s;
        rep retry_after = 0;
    };
    struct reservation {
        bool granted;
        rep at;       // when the tokens are due (<= now: at once); if refused, when they would be
        rep new_tat;  // the state this reservation wrote
    };

    static rate_limiter_options checked(const rate_limiter_options& o) {
        detail::enforce(o.validate());
        return o;
    }

    static steady_clock& shared_steady_clock() noexcept {
        static steady_clock c;
        return c;
    }

    static constexpr rep ticks(time_point t) noexcept { return t.time_since_epoch().count(); }

    // GCRA. tat_ ("theoretical arrival time") is when the bucket will be full again; the bucket holds
    // (now + capacity - max(tat, now)) / interval tokens. Taking n moves tat by n intervals. The n
    // tokens are due at max(tat, now) + n * interval - capacity. Grants them if due by
    // max(now, latest); never moves tat otherwise.
    reservation reserve(rep now, std::uint32_t n, rep latest) noexcept {
        const rep cost = interval_ * static_cast<rep>(n);
        rep cur = tat_.load(std::memory_order_relaxed);
        for (;;) {
            const rep base = std::max(cur, now);
            const rep due = base + cost - capacity_;
            if (due > now && due > latest) return {false, due, cur};
            const rep next = base + cost;
            if (tat_.compare_exchange_weak(cur, next, std::memory_order_relaxed, std::memory_order_relaxed))
                return {true, due, next};
        }
    }

    outcome take(time_point now_tp, std::uint32_t n, time_point deadline, const std::stop_token& stop) {
        const rep now = ticks(now_tp);
        if (deadline != no_deadline && deadline <= now_tp) return {status::expired};
        // The latest acceptable due time: within max_wait, and strictly before the deadline (a token at
        // the deadline is useless: the attempt could not start).
        rep latest = now + options_.max_wait.count();
        if (deadline != no_deadline) latest = std::min(latest, ticks(deadline) - 1);
        const reservation r = reserve(now, n, latest);
        if (!r.granted) {
            rejected_.fetch_add(1, std::memory_order_relaxed);
            return {status::limited, r.at - now};
        }
        if (r.at <= now) return {status::acquired};
        waited_.fetch_add(1, std::memory_order_relaxed);
        if (clock_->sleep_until(time_point{duration{r.at}}, stop)) return {status::acquired};
        // Cancelled during the wait: give the tokens back if nobody reserved after us. Since we had to
        // wait, base was the old tat, so tat - cost restores exactly the state before us.
        rep expected = r.new_tat;
        (void)tat_.compare_exchange_strong(expected, r.new_tat - interval_ * static_cast<rep>(n),
                                           std::memory_order_relaxed, std::memory_order_relaxed);
        return {status::cancelled};
    }

    static failure to_failure(const outcome& o, failure_kind expiry) noexcept {
        switch (o.s) {
            case status::limited: {
                failure f = failure::of(failure_kind::rate_limited, "rate limited: no token available in time");
                f.retry_after = duration{o.retry_after};
                return f;
            }
            case status::expired: return failure::of(expiry, "the deadline passed before a rate limiter token was taken");
            case status::acquired:
            case status::cancelled: break;
        }
        return failure::of(failure_kind::cancelled, "cancelled while waiting for a rate limiter token");
    }

    Clock* clock_;
    rate_limiter_options options_;
    rep interval_;  // ns per token
    rep capacity_;  // burst * interval_: how far ahead of now tat_ may be with an empty bucket
    // Starts far in the past: the bucket is full.
    std::atomic<rep> tat_{std::numeric_limits<rep>::min()};
    std::atomic<std::uint64_t> rejected_{0};
    std::atomic<std::uint64_t> waited_{0};
};

/// `rs::rate_limiter limiter{{.permits = 100}}` is a `rate_limiter<steady_clock>`.
rate_limiter(const rate_limiter_options&) -> rate_limiter<steady_clock>;
/// `rs::rate_limiter limiter{opts, clk}` runs on the type of `clk`.
template <class Clock>
rate_limiter(const rate_limiter_options&, Clock&) -> rate_limiter<Clock>;

}  // namespace resilience
