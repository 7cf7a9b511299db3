// SPDX-License-Identifier: MIT
#pragma once

/// \file aws/lambda.hpp
/// AWS Lambda handlers (aws-lambda-cpp) and resilience policies: the invocation's deadline as a
/// `call_options::deadline`, and a handler adapter that runs a function under a `resilient_call` and
/// turns its result into an `invocation_response`.
///
/// This header does not include aws-lambda-cpp: it works with any types of the same shape (duck
/// typing), so it compiles and is tested without the runtime:
/// - a request with `deadline` (a `std::chrono::system_clock` time point, left at the epoch when the
///   runtime sent no deadline), `request_id` and `payload` (`aws::lambda_runtime::invocation_request`);
/// - a response type with static `success(std::string payload, std::string content_type)` and
///   `failure(std::string message, std::string error_type)` (`aws::lambda_runtime::invocation_response`).
///
/// \code
///   static invocation_response handler(const invocation_request& req) {
///       rs::resilient_call call{rs::dead_letter{dlq}, rs::retry{...}, breaker, rs::timeout{500ms}};
///       return rs::aws::run_invocation<invocation_response>(req, call,
///           [&](const rs::attempt& a) -> rs::result<std::string> { return fetch(req.payload, a.remaining()); });
///   }
///   int main() { aws::lambda_runtime::run_handler(handler); }
/// \endcode
///
/// Time semantics: the runtime gives the deadline as wall-clock time. It is read once, at handler
/// entry, and turned into a deadline on the composition's steady clock (so a wall-clock step during
/// the invocation changes nothing), minus a reserve kept for what must still happen after the calls:
/// writing dead letters and posting the response. Every policy inside the composition then respects
/// it: no timeout extends it, no retry sleeps past it, no attempt starts after it.
/// Thread safety: everything here is reentrant; shared state lives in the composition's stateful
/// objects, which are thread-safe.

#include "../clock.hpp"
#include "../context.hpp"
#include "../detail/config.hpp"
#include "../detail/validate.hpp"
#include "../result.hpp"
#include "../resilient_call.hpp"

#include <chrono>
#include <concepts>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace resilience::aws {

/// The longest a Lambda invocation can run (the maximum function timeout): 15 minutes.
inline constexpr duration max_invocation_duration = std::chrono::minutes(15);

/// A request carrying the invocation's deadline as a `system_clock` time point.
template <class R>
concept lambda_request = requires(const R& r) {
    { r.deadline } -> std::convertible_to<std::chrono::system_clock::time_point>;
};

/// How the invocation's deadline becomes the calls' deadline.
struct lambda_deadline_options {
    /// Kept back from the runtime's deadline for the work that follows the calls: writing dead letters
    /// (a file, a queue), building and posting the response. Size it from the slowest sink: when it is
    /// too small the runtime kills the invocation while the dead letter is being written. Between 0
    /// and 15 minutes.
    duration reserve = std::chrono::milliseconds(500);
    /// The budget assumed when the runtime sent no deadline (the request's deadline is left at the
    /// epoch: a local run, a test harness). Zero means no deadline at all. Between 0 and 15 minutes.
    duration budget_without_deadline = duration::zero();

    [[nodiscard]] std::optional<config_error> validate() const noexcept {
        if (reserve < duration::zero() || reserve > max_invocation_duration) {
            return config_error{"lambda_deadline_options.reserve",
                                "lambda_deadline_options.reserve must be between 0 and 15 minutes"};
        }
        if (budget_without_deadline < duration::zero() || budget_without_deadline > max_invocation_duration) {
            return config_error{"lambda_deadline_options.budget_without_deadline",
                                "lambda_deadline_options.budget_without_deadline must be between 0 and 15 minutes"};
        }
        return std::nullopt;
    }
};

/// The deadlines of one invocation on the composition's clock, taken once at handler entry.
/// A value type; read-only after construction, so it may be shared by threads the handler starts.
struct invocation_deadline {
    /// For `call_options::deadline`: the runtime's deadline minus the reserve; `entry` itself when the
    /// reserve is larger than what was left (every call then fails fast with `deadline_exceeded`
    /// without running); `no_deadline` when the runtime sent none and no budget was configured.
    time_point deadline = no_deadline;
    /// When the runtime kills the invocation; what the reserve is spent against. `no_deadline` when
    /// unknown.
    time_point hard_deadline = no_deadline;
    /// When the deadline was taken (the composition clock's `now()` at handler entry).
    time_point entry{};
    /// What the runtime said was left at entry. May be negative: the runtime's clock and ours disagree,
    /// or the handler started late. Zero when the runtime sent no deadline.
    duration remaining_at_entry{0};
    /// False when the request carried no deadline (left at the epoch).
    bool from_runtime = false;
    /// True when nothing was left for the calls once the reserve was set aside.
    bool exhausted = false;

    /// Time left for the calls at `now`: never negative; `duration::max()` without a deadline.
    [[nodiscard]] duration remaining(time_point now) const noexcept {
        if (deadline == no_deadline) return duration::max();
        return now >= deadline ? duration::zero() : deadline - now;
    }
    /// Time left before the runtime kills the invocation, at `now`: never negative; `duration::max()`
    /// when unknown. What a dead-letter write or the response may still use.
    [[nodiscard]] duration remaining_before_kill(time_point now) const noexcept {
        if (hard_deadline == no_deadline) return duration::max();
        return now >= hard_deadline ? duration::zero() : hard_deadline - now;
    }
};

/// Takes the invocation's deadline from `req`, once, at handler entry: what was left according to the
/// runtime (`req.deadline - wall_now`) is anchored at `clock.now()`, so that from then on only the
/// steady clock counts. `wall_now` defaults to `system_clock::now()`; tests pass a fixed instant.
///
/// - A deadline at the epoch means the runtime sent none: `budget_without_deadline` applies (or no
///   deadline when it is zero).
/// - What was left may be negative (the invocation started late): the deadline is then `entry` and
///   `exhausted` is set.
/// - A reserve larger than what was left gives the same: calls fail fast with `deadline_exceeded`,
///   keeping all remaining time for dead letters and the response.
/// - What was left is clamped to 15 minutes (the longest invocation), so a corrupt deadline cannot
///   overflow.
/// Precondition: `opts` is valid (checked: throws `std::invalid_argument`, or aborts without
/// exceptions). Allocates nothing.
template <lambda_request Request, clock Clock>
[[nodiscard]] invocation_deadline deadline_from(const Request& req, const Clock& clock, const lambda_deadline_options& opts = {},
                                                std::chrono::system_clock::time_point wall_now = std::chrono::system_clock::now()) {
    resilience::detail::enforce(opts.validate());
    invocation_deadline d;
    d.entry = clock.now();
    const std::chrono::system_clock::time_point runtime_deadline = req.deadline;
    if (runtime_deadline.time_since_epoch() == std::chrono::system_clock::duration::zero()) {
        d.from_runtime = false;
        if (opts.budget_without_deadline > duration::zero()) {
            d.hard_deadline = d.entry + opts.budget_without_deadline;
            const duration usable = opts.budget_without_deadline - opts.reserve;
            d.exhausted = usable <= duration::zero();
            d.deadline = d.exhausted ? d.entry : d.entry + usable;
        }
        return d;
    }
    d.from_runtime = true;
    // Compare in the wall clock's own unit first: a corrupt deadline centuries away must not overflow.
    const auto left_sys = runtime_deadline - wall_now;
    const auto max_sys = std::chrono::duration_cast<std::chrono::system_clock::duration>(max_invocation_duration);
    const auto min_sys = -max_sys;
    const duration left = std::chrono::duration_cast<duration>(left_sys > max_sys ? max_sys : left_sys < min_sys ? min_sys : left_sys);
    d.remaining_at_entry = left;
    d.hard_deadline = d.entry + left;
    const duration usable = left - opts.reserve;
    d.exhausted = usable <= duration::zero();
    d.deadline = d.exhausted ? d.entry : d.entry + usable;
    return d;
}

// --- handler adapter ------------------------------------------------------------------------------------

/// A success payload with its own content type, for handlers that do not answer JSON.
struct lambda_payload {
    std::string body{};
    std::string content_type = "application/json";
};

/// The stable `errorType` reported to Lambda for a failure of kind `k`: "resilience." followed by the
/// kind's name ("resilience.timeout", "resilience.circuit_open", ...). Alarms and Step Functions
/// `Retry`/`Catch` clauses may match on it.
[[nodiscard]] constexpr std::string_view lambda_error_type(failure_kind k) noexcept {
    switch (k) {
        case failure_kind::error: return "resilience.error";
        case failure_kind::timeout: return "resilience.timeout";
        case failure_kind::deadline_exceeded: return "resilience.deadline_exceeded";
        case failure_kind::circuit_open: return "resilience.circuit_open";
        case failure_kind::bulkhead_full: return "resilience.bulkhead_full";
        case failure_kind::rate_limited: return "resilience.rate_limited";
        case failure_kind::cancelled: return "resilience.cancelled";
        case failure_kind::dead_letter_failed: return "resilience.dead_letter_failed";
    }
    return "resilience.error";
}

/// The `errorType` for an exception that escaped the adapter itself (not the user's callable, whose
/// exceptions the composition turns into failures of kind `error`).
inline constexpr std::string_view lambda_unhandled_exception_type = "resilience.unhandled_exception";

/// A one-line description of a failure for an `errorMessage`: its message, kind, cause, attempts,
/// elapsed time, retry-after hint, error code and, with exceptions enabled, the exception's `what()`.
/// Allocates (it builds a string); meant for the end of an invocation, not for hot paths.
[[nodiscard]] inline std::string describe_failure(const failure& f) {
    std::string s;
    s.append(f.message.empty() ? std::string_view("the call failed") : f.message);
    s += " (kind=";
    s.append(to_string(f.kind));
    if (f.cause != f.kind) {
        s += ", cause=";
        s.append(to_string(f.cause));
    }
    s += ", attempts=" + std::to_string(f.attempts);
    s += ", elapsed_ms=" + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(f.elapsed).count());
    if (f.retry_after > std::chrono::nanoseconds::zero()) {
        s += ", retry_after_ms=" +
             std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(f.retry_after).count());
    }
    if (f.error) {
        s += ", error=";
        s.append(f.error.category().name());
        s += ':' + std::to_string(f.error.value()) + ' ' + f.error.message();
    }
    if (f.sink_error) s += ", sink_error=" + f.sink_error.message();
#if RESILIENCE_HAS_EXCEPTIONS
    if (f.exception) {
        try {
            std::rethrow_exception(f.exception);
        } catch (const std::exception& e) {
            s += ", exception=";
            s += e.what();
        } catch (...) {
            s += ", exception=(not a std::exception)";
        }
    }
#endif
    s += ')';
    return s;
}

/// How `run_invocation` builds the call and the response.
struct handler_options {
    /// How the invocation's deadline becomes the calls' deadline.
    lambda_deadline_options deadline{};
    /// `call_options::source`: names the operation in events and dead letters. Must outlive the call.
    std::string_view source{};
    /// Content type of a success whose value is a string. Must not be empty.
    std::string_view content_type = "application/json";
    /// Whether the invocation's payload goes into `call_options::payload`, so a dead letter can replay
    /// it. Disable for payloads that must not be stored.
    bool keep_payload = true;

    [[nodiscard]] std::optional<config_error> validate() const noexcept {
        if (auto e = deadline.validate()) return e;
        if (content_type.empty()) {
            return config_error{"handler_options.content_type",
                                "handler_options.content_type must be a non-empty MIME type"};
        }
        return std::nullopt;
    }
};

namespace detail {

template <class Response>
concept lambda_response = requires(std::string s) {
    { Response::success(s, s) } -> std::same_as<Response>;
    { Response::failure(s, s) } -> std::same_as<Response>;
};

template <class Response, class T>
Response success_response(T&& v, std::string_view content_type) {
    using V = std::remove_cvref_t<T>;
    if constexpr (std::is_same_v<V, lambda_payload>) {
        return Response::success(std::forward<T>(v).body, std::forward<T>(v).content_type);
    } else if constexpr (std::is_convertible_v<T&&, std::string_view> || std::is_constructible_v<std::string, T&&>) {
        return Response::success(std::string(std::forward<T>(v)), std::string(content_type));
    } else {
        static_assert(std::is_same_v<V, lambda_payload>,
                      "resilience::aws::run_invocation: the callable's value must be convertible to std::string "
                      "(the response payload) or be a resilience::aws::lambda_payload");
        return Response::failure("", "");
    }
}

}  // namespace detail

/// The `call_options` for one invocation: deadline from `deadline_from`, id = the request id (the
/// dead-letter idempotency key), payload = the invocation's payload (when `keep_payload`), source.
/// The options point into `req`, which must outlive the call.
template <lambda_request Request>
[[nodiscard]] call_options invocation_options(const Request& req, const invocation_deadline& d,
                                              const handler_options& opts = {}) {
    call_options o;
    o.deadline = d.deadline;
    if constexpr (requires { std::string_view(req.request_id); }) o.id = std::string_view(req.request_id);
    if constexpr (requires { std::string_view(req.payload); }) {
        if (opts.keep_payload) o.payload = std::string_view(req.payload);
    }
    o.source = opts.source;
    return o;
}

/// Runs `fn` under `call` for one invocation and maps the outcome to a `Response`:
/// - a value: `Response::success(payload, content_type)`. The value must be convertible to
///   `std::string` (a JSON document, say), or be a `lambda_payload`; `void` answers an empty payload;
/// - a failure: `Response::failure(describe_failure(f), lambda_error_type(f.kind))`;
/// - with exceptions enabled, an exception escaping the composition (the callable's own exceptions are
///   already failures): `Response::failure(what(), "resilience.unhandled_exception")`.
///
/// The calls run with the deadline taken from `req` at entry (see `deadline_from`, on the
/// composition's clock), the request id as call id, the payload for dead letters. `fn` may take `()`
/// or `(const attempt&)` and return `T`, `result<T>` or `void` (see resilient_call.hpp); it usually
/// captures `req`. Precondition: `opts` is valid. Thread safety: as `call`'s `operator()`.
template <class Response, lambda_request Request, class Call, class F>
    requires detail::lambda_response<Response>
[[nodiscard]] Response run_invocation(const Request& req, Call&& call, F&& fn, const handler_options& opts = {},
                                      std::chrono::system_clock::time_point wall_now = std::chrono::system_clock::now()) {
    resilience::detail::enforce(opts.validate());
#if RESILIENCE_HAS_EXCEPTIONS
    try {
#endif
        const invocation_deadline d = deadline_from(req, call.clock(), opts.deadline, wall_now);
        const call_options co = invocation_options(req, d, opts);
        auto r = call(std::forward<F>(fn), co);
        if (!r.has_value()) {
            const failure& f = r.error();
            return Response::failure(describe_failure(f), std::string(lambda_error_type(f.kind)));
        }
        if constexpr (std::is_void_v<typename decltype(r)::value_type>) {
            return Response::success(std::string(), std::string(opts.content_type));
        } else {
            return detail::success_response<Response>(std::move(r).value(), opts.content_type);
        }
#if RESILIENCE_HAS_EXCEPTIONS
    } catch (const std::exception& e) {
        return Response::failure(e.what(), std::string(lambda_unhandled_exception_type));
    } catch (...) {
        return Response::failure("an exception that is not a std::exception escaped the handler",
                                 std::string(lambda_unhandled_exception_type));
    }
#endif
}

}  // namespace resilience::aws
