// SPDX-License-Identifier: MIT
#pragma once

/// \file context.hpp
/// What a caller passes in (`call_options`), what the user's callable sees (`attempt`), and what
/// policies see (`call_context`).

#include "clock.hpp"
#include "events.hpp"
#include "result.hpp"

#include <algorithm>
#include <cstdint>
#include <stop_token>
#include <string_view>

namespace resilience {

/// Per-call inputs. All members are optional; `{}` is a call with no deadline and no cancellation.
///
/// Lifetime: the options object and everything its views point to must outlive the call (they are
/// read, not copied, so a call allocates nothing). Thread safety: read-only during the call.
struct call_options {
    /// Absolute deadline on the composition's clock (e.g. the Lambda invocation's deadline minus a
    /// reserve). Every policy respects it: no timeout extends it, no retry sleeps past it.
    time_point deadline = no_deadline;
    /// Identifies the call in events and dead-letter records (e.g. the Lambda request id, an SQS
    /// message id). The dead-letter record's idempotency key.
    std::string_view id{};
    /// What the call was doing, as bytes to store in a dead-letter record for replay (e.g. the event).
    std::string_view payload{};
    /// Names the operation ("orders-api.get") in events and dead-letter records.
    std::string_view source{};
    /// Cooperative cancellation from the caller: checked before each attempt and during backoff.
    std::stop_token stop{};
};

/// What the user's callable sees on each attempt.
///
/// Cooperative by design: nothing interrupts the callable. It should pass `remaining()` to its client
/// as a timeout and may poll `stop_requested()`, which turns true when the caller cancels or the
/// attempt's deadline has passed.
///
/// Lifetime: valid only during the callable's invocation. Thread safety: may be read from the thread
/// running the callable and from threads it starts and joins before returning.
class attempt {
public:
    attempt(std::uint32_t num, time_point dl, const std::stop_token* st, const void* clk,
            time_point (*now_fn)(const void*)) noexcept
        : number_(num), deadline_(dl), stop_(st), clock_(clk), now_(now_fn) {}

    /// 1 for the first attempt, 2 for the first retry, ...
    [[nodiscard]] std::uint32_t number() const noexcept { return number_; }
    /// The attempt's deadline: the tightest of the caller's deadline and every enclosing timeout.
    /// `no_deadline` when none applies.
    [[nodiscard]] time_point deadline() const noexcept { return deadline_; }
    [[nodiscard]] bool has_deadline() const noexcept { return deadline_ != no_deadline; }
    /// The current time on the composition's clock.
    [[nodiscard]] time_point now() const noexcept { return now_(clock_); }
    /// Time left until the deadline, never negative; `duration::max()` when there is no deadline.
    [[nodiscard]] duration remaining() const noexcept {
        if (deadline_ == no_deadline) return duration::max();
        auto n = now();
        return n >= deadline_ ? duration::zero() : deadline_ - n;
    }
    /// True once the deadline has passed.
    [[nodiscard]] bool expired() const noexcept { return deadline_ != no_deadline && now() >= deadline_; }
    /// The caller's stop token (a default token when the caller gave none).
    [[nodiscard]] const std::stop_token& stop_token() const noexcept { return *stop_; }
    /// True when the caller asked to stop or the deadline has passed: the callable should give up.
    [[nodiscard]] bool stop_requested() const noexcept { return stop_->stop_requested() || expired(); }

private:
    std::uint32_t number_;
    time_point deadline_;
    const std::stop_token* stop_;
    const void* clock_;
    time_point (*now_)(const void*);
};

/// Mutable state shared by every layer of one call (policies receive copies of `call_context`, each
/// pointing at the same `call_state`).
struct call_state {
    /// When the call started, on the composition's clock; `time_point::min()` until the first clock
    /// read. Compositions read the clock lazily so that a call with no time-based policy reads none.
    time_point start = time_point::min();
    /// Invocations of the callable so far.
    std::uint32_t attempts = 0;
};

/// Where the effective deadline of a context comes from; decides whether running out of it is a
/// `timeout` or a `deadline_exceeded`.
enum class deadline_source : std::uint8_t { none, caller, timeout };

/// What a policy's `execute` receives. Cheap to copy (pointers and a few scalars): a policy that
/// narrows something for the layers inside it (a timeout narrowing the deadline, a retry numbering
/// attempts) passes a modified copy to `next`.
///
/// `Clock` is the composition's clock type and `Listener` its listener type (`null_listener` when
/// none); both are held by pointer and outlive the call. Thread safety: a context belongs to the
/// thread running the call.
template <class Clock, class Listener>
struct call_context {
    using clock_type = Clock;
    using listener_type = Listener;

    Clock* clock{};
    Listener* listener{};
    const call_options* options{};
    call_state* state{};
    /// The effective deadline for the layers inside.
    time_point deadline = no_deadline;
    deadline_source source = deadline_source::none;
    /// The attempt number the innermost layer will report (set by `retry`).
    std::uint32_t attempt = 1;

    /// Reads the clock; the first read in a call also fixes the call's start time.
    time_point now() const {
        time_point t = clock->now();
        if (state->start == time_point::min()) state->start = t;
        return t;
    }
    /// When the call started; reads the clock if nothing has yet.
    time_point start() const {
        if (state->start == time_point::min()) (void)now();
        return state->start;
    }
    /// Time left before the deadline (may be negative: the deadline has passed); `duration::max()`
    /// without a deadline.
    duration remaining(time_point at) const noexcept {
        return deadline == no_deadline ? duration::max() : deadline - at;
    }
    /// The kind to report when the effective deadline runs out.
    failure_kind expiry_kind() const noexcept {
        return source == deadline_source::timeout ? failure_kind::timeout : failure_kind::deadline_exceeded;
    }
    bool stop_requested() const noexcept { return options->stop.stop_requested(); }
    const std::stop_token& stop_token() const noexcept { return options->stop; }

    /// True when a listener is attached: guard event construction with `if constexpr`.
    static constexpr bool events_enabled = listener_enabled<Listener>;

    /// Delivers an event, stamping its time, attempt and call id. Compiles to nothing without a listener.
    void emit(event e) const {
        if constexpr (events_enabled) {
            if (e.at == time_point{}) e.at = clock->now();
            if (e.attempt == 0) e.attempt = attempt;
            e.call_id = options->id;
            listener->on_event(e);
        } else {
            (void)e;
        }
    }

    /// Fills the call-level fields of a failure that leaves the composition: attempts and elapsed.
    void finish(failure& f) const {
        f.attempts = state->attempts;
        if (state->start != time_point::min()) f.elapsed = clock->now() - state->start;
    }
};

}  // namespace resilience
