// SPDX-License-Identifier: MIT
#pragma once

/// \file policy.hpp
/// The policy concept: what a type must provide to be listed in a `resilient_call`, and the
/// customisation point that tells the library when a returned value is a failure.
///
/// A policy is an object with a member function template
///
/// \code
///   template <class Context, class Next>
///   auto execute(Context& ctx, Next&& next) -> std::invoke_result_t<Next&, Context&>;
/// \endcode
///
/// `next(ctx)` runs the layers inside (the policies listed after this one, then the user's callable) and
/// returns `result<T>`; `execute` must return the same `result<T>`. It may call `next` zero times (a
/// rejection), once, or several times (a retry), may pass a modified copy of `ctx` (a narrowed deadline),
/// and may replace the result (a fallback). `Context` is a `call_context<Clock, Listener>`: it gives the
/// clock, the effective deadline, the caller's options and an `emit` for events.
///
/// Requirements that the compiler cannot check, and which every policy of the library meets:
/// - it never throws on its own paths (failures are returned as `result`);
/// - it allocates nothing on the happy path;
/// - it reads time only through `ctx.now()` / `ctx.clock` (so virtual time works);
/// - if it blocks, it blocks through `ctx.clock` and respects `ctx.deadline` and `ctx.stop_token()`.
///
/// Value policies (copyable) are copied into the composition; stateful objects (non-copyable) are held
/// by reference and must outlive it.

#include "clock.hpp"
#include "context.hpp"
#include "events.hpp"
#include "result.hpp"

#include <concepts>
#include <optional>
#include <type_traits>

namespace resilience {

namespace customize {

/// Specialise to make the library treat some returned values of `T` as failures, for every
/// composition (retry, breaker and dead letter then all see them as failures while the value stays
/// reachable through `result::last_value()`):
///
/// \code
///   template <> struct resilience::customize::outcome_classifier<http_response> {
///       static std::optional<resilience::failure> classify(const http_response& r) noexcept {
///           if (r.status < 400) return std::nullopt;
///           return resilience::failure::from_error({r.status, my_http_category()},
///               r.status >= 500 || r.status == 429 ? resilience::transience::transient
///                                                  : resilience::transience::permanent);
///       }
///   };
/// \endcode
///
/// The primary template classifies nothing: every returned value is a success.
template <class T>
struct outcome_classifier {};

}  // namespace customize

/// True when `customize::outcome_classifier<T>` has been specialised with a `classify` function.
template <class T>
concept has_outcome_classifier = requires(const T& v) {
    { customize::outcome_classifier<T>::classify(v) } -> std::convertible_to<std::optional<failure>>;
};

namespace detail {

/// The context and "next" used to check the policy concept without a real composition.
using archetype_context = call_context<steady_clock, null_listener>;
struct archetype_next {
    result<int> operator()(archetype_context&) const { return 0; }
};

}  // namespace detail

/// True when `P` has a member `execute(ctx, next)` callable with this context and next.
template <class P, class Ctx, class Next>
concept has_execute = requires(P& p, Ctx& ctx, Next& next) { p.execute(ctx, next); };

/// `P` is a policy for compositions whose inner layers are `Next` in context `Ctx`: `execute` exists
/// and returns exactly what `next(ctx)` returns.
template <class P, class Ctx, class Next>
concept policy_for = has_execute<P, Ctx, Next> && requires(P& p, Ctx& ctx, Next& next) {
    { p.execute(ctx, next) } -> std::same_as<std::invoke_result_t<Next&, Ctx&>>;
};

/// `P` is a policy that works for any result type (checked with `result<int>`). Policies tied to one
/// value type (a `fallback` returning a `std::string`, say) satisfy `policy_for` with their own type.
template <class P>
concept policy = policy_for<P, detail::archetype_context, detail::archetype_next>;

}  // namespace resilience
