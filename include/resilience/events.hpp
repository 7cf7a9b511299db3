// SPDX-License-Identifier: MIT
#pragma once

/// \file events.hpp
/// Events: what policies report while a call runs, and the `listener` concept that receives them.
///
/// A listener is attached to a composition by listing it in the `resilient_call` (held by reference when
/// it is a named object). With no listener the composition uses `null_listener`, whose
/// `enabled == false` makes every emission site compile to nothing: no event is built, no clock is read.

#include "clock.hpp"
#include "result.hpp"

#include <concepts>
#include <cstdint>
#include <string_view>

namespace resilience {

/// What happened.
enum class event_type : std::uint8_t {
    attempt_started,        ///< the callable is about to run (`attempt` = its number)
    attempt_succeeded,      ///< the callable returned a success (`elapsed` = its duration, when measured)
    attempt_failed,         ///< the callable returned or threw a failure (`error` set)
    retry_scheduled,        ///< a retry will run after `delay`
    retries_exhausted,      ///< retry gave up (attempts, duration, deadline, budget or permanent failure)
    budget_exhausted,       ///< a `retry_budget` refused a retry
    rejected,               ///< a guard refused the call without running it (`kind` says which)
    timeout,                ///< a timeout or deadline expired (`kind` = timeout or deadline_exceeded)
    fallback_used,          ///< a fallback replaced a failure
    state_changed,          ///< a circuit breaker changed state (`from`, `to`)
    dead_letter_published,  ///< a dead-letter record reached its sink
    dead_letter_failed,     ///< a dead-letter record could not be published
    call_finished,          ///< the whole call returned: `error` set when it failed, `delay` = its duration,
                            ///< `attempt` = attempts made. Emitted last, once per call.
};

/// Stable lower-case name of an event type.
[[nodiscard]] constexpr std::string_view to_string(event_type t) noexcept {
    switch (t) {
        case event_type::attempt_started: return "attempt_started";
        case event_type::attempt_succeeded: return "attempt_succeeded";
        case event_type::attempt_failed: return "attempt_failed";
        case event_type::retry_scheduled: return "retry_scheduled";
        case event_type::retries_exhausted: return "retries_exhausted";
        case event_type::budget_exhausted: return "budget_exhausted";
        case event_type::rejected: return "rejected";
        case event_type::timeout: return "timeout";
        case event_type::fallback_used: return "fallback_used";
        case event_type::state_changed: return "state_changed";
        case event_type::dead_letter_published: return "dead_letter_published";
        case event_type::dead_letter_failed: return "dead_letter_failed";
        case event_type::call_finished: return "call_finished";
    }
    return "unknown";
}

/// One event. Views and pointers in it are valid only during the `on_event` call: a listener that keeps
/// an event must copy what it needs.
struct event {
    event_type type = event_type::attempt_started;
    /// The policy that emitted it: "retry", "timeout", "circuit_breaker", "bulkhead", "rate_limiter",
    /// "fallback", "dead_letter", "call" (the innermost attempt), or a custom policy's name.
    std::string_view policy{};
    /// The instance name of a stateful object (breaker, bulkhead...) when it has one.
    std::string_view name{};
    /// `call_options::id` of the call.
    std::string_view call_id{};
    /// When it happened, on the composition's clock.
    time_point at{};
    /// The attempt number (1-based) the event belongs to; 0 before the first attempt.
    std::uint32_t attempt = 0;
    /// For rejections, timeouts and failures: the kind.
    failure_kind kind = failure_kind::error;
    /// `retry_scheduled`: the delay before the next attempt. `attempt_*`: the attempt's duration when it
    /// was measured. `rejected`: the retry-after hint.
    duration delay{};
    /// The failure, when there is one.
    const failure* error = nullptr;
    /// `state_changed`: the breaker states, by name ("closed", "open", "half_open", "isolated").
    std::string_view from{};
    std::string_view to{};
};

/// A listener receives events. `on_event` may be called from any thread that runs a call, concurrently
/// when the listener is shared by calls on several threads: a listener must be thread-safe to that
/// extent. It must not throw and should be quick (it runs on the call's path). Stateful objects emit
/// events outside their locks, so a listener may call back into them.
template <class L>
concept listener = requires(L& l, const event& e) {
    { l.on_event(e) };
};

/// The listener used when none is given: costs nothing.
struct null_listener {
    static constexpr bool enabled = false;
    constexpr void on_event(const event&) const noexcept {}
};

/// True unless the listener type declares `static constexpr bool enabled = false`.
template <class L>
inline constexpr bool listener_enabled = !requires { requires(L::enabled == false); };

/// Adapts any callable `void(const event&)` into a listener:
/// `rs::callback_listener log{[](const rs::event& e) { ... }};`.
template <class F>
struct callback_listener {
    F fn{};
    void on_event(const event& e) { fn(e); }
};
template <class F>
callback_listener(F) -> callback_listener<F>;

}  // namespace resilience
