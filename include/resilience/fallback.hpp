// SPDX-License-Identifier: MIT
#pragma once

/// \file fallback.hpp
/// `fallback`: replaces a failure with a value, or with what a function of the failure returns.
///
/// \code
///   rs::fallback{0}                                             // a value
///   rs::fallback{[](const rs::failure& f) { return cached(f); }}  // a function of the failure
///   rs::fallback{[] { return cached(); }}                         // a function of nothing
///   rs::fallback{stale_price, rs::failure_kinds{rs::failure_kind::circuit_open,
///                                               rs::failure_kind::timeout}}  // only these kinds
/// \endcode
///
/// A function may return `T` (always a success), `result<T>` (it may fail too: a cache miss; return the
/// failure it was given to keep the original), or nothing for a call returning `void`. Usually listed
/// outermost, so it sees the failure every other policy settled on; listed inside `retry`, it replaces
/// each attempt's failure, so retry never sees one.

#include "context.hpp"
#include "events.hpp"
#include "result.hpp"

#include <cstdint>
#include <initializer_list>
#include <type_traits>
#include <utility>

namespace resilience {

/// The default predicate of a `fallback`: every failure is handled (including `cancelled` and the
/// rejections; pass a predicate to be selective). Stateless; thread-safe.
struct handle_all_failures {
    [[nodiscard]] constexpr bool operator()(const failure&) const noexcept { return true; }
};

/// A predicate true for failures whose `kind` is one of a set:
/// `rs::failure_kinds{rs::failure_kind::circuit_open, rs::failure_kind::timeout}`. A bit set: no
/// allocation. Thread-safe (immutable).
class failure_kinds {
public:
    /// The set of `kinds` (an empty set accepts nothing).
    constexpr failure_kinds(std::initializer_list<failure_kind> kinds) noexcept {
        for (failure_kind k : kinds) mask_ = static_cast<std::uint32_t>(mask_ | bit(k));
    }
    /// True when `k` is in the set.
    [[nodiscard]] constexpr bool contains(failure_kind k) const noexcept { return (mask_ & bit(k)) != 0; }
    /// The predicate: true when `f.kind` is in the set.
    [[nodiscard]] constexpr bool operator()(const failure& f) const noexcept { return contains(f.kind); }

private:
    static constexpr std::uint32_t bit(failure_kind k) noexcept {
        return std::uint32_t{1} << static_cast<std::uint32_t>(k);
    }
    std::uint32_t mask_ = 0;
};

namespace detail {

template <class F>
inline constexpr bool fallback_takes_failure = std::is_invocable_v<F&, const failure&>;
template <class F>
inline constexpr bool fallback_takes_nothing = !fallback_takes_failure<F> && std::is_invocable_v<F&>;
template <class F>
inline constexpr bool fallback_is_function = fallback_takes_failure<F> || fallback_takes_nothing<F>;

/// What the fallback produces: the function's return type, or the value's own type.
template <class F, bool = fallback_takes_failure<F>, bool = fallback_takes_nothing<F>>
struct fallback_output {
    using type = const F&;
};
template <class F>
struct fallback_output<F, true, false> {
    using type = std::invoke_result_t<F&, const failure&>;
};
template <class F>
struct fallback_output<F, false, true> {
    using type = std::invoke_result_t<F&>;
};

template <class U, class T>
constexpr bool fallback_converts() {
    if constexpr (is_result_v<U>) {
        using V = typename std::remove_cvref_t<U>::value_type;
        if constexpr (std::is_void_v<T> || std::is_void_v<V>) {
            return std::is_void_v<T> && std::is_void_v<V>;
        } else {
            return std::is_constructible_v<T, V&&>;
        }
    } else if constexpr (std::is_void_v<T> || std::is_void_v<U>) {
        return std::is_void_v<T> && std::is_void_v<U>;
    } else {
        return std::is_constructible_v<T, U>;
    }
}

/// True when what `F` produces converts to a `result<T>`.
template <class F, class T>
inline constexpr bool fallback_compatible = fallback_converts<typename fallback_output<F>::type, T>();

}  // namespace detail

/// Replaces a failure the predicate accepts with the fallback's outcome. A value policy: copied into a
/// composition.
///
/// `F` is a value (the call's `T` must be constructible from `const F&`), or a function taking
/// `const failure&` (preferred when both forms would work) or nothing, returning something `T` is
/// constructible from, or a `result` of it, or `void` for calls returning `void`. A mismatch is a
/// `static_assert` naming the problem. `Handles` is a predicate `bool(const failure&)`.
///
/// Events: `fallback_used` (`kind` and `error` = the failure being replaced) before the fallback runs;
/// emitted also when the fallback function then returns a failure of its own.
/// Preconditions: the fallback function and `Handles` must not throw. The library catches exceptions
/// only around the user's callable (and a dead-letter sink); one thrown by a fallback function or a
/// predicate escapes `resilient_call` itself: no `result` is returned, a `dead_letter` listed outside
/// writes no record, and a `circuit_breaker` listed outside counts the call as an abandoned failure
/// (its permit is destroyed unreported). Catch inside the function and return a `result` failure.
/// Thread safety: `execute` may run concurrently when invoking `F` and `Handles`
/// concurrently is safe (true of values, stateless lambdas and the predicates above).
/// Time semantics: reads no clock. Costs: nothing on success; on failure, one copy of the value (which
/// allocates only if copying `T` does) or one call of the function.
template <class F, class Handles = handle_all_failures>
class fallback {
    static_assert(std::is_invocable_r_v<bool, const Handles&, const failure&>,
                  "resilience::fallback: the second argument must be a predicate callable as "
                  "bool(const resilience::failure&)");

public:
    /// `fn` is the value or function; `handles` selects the failures to replace (default: all).
    explicit fallback(F fn, Handles handles = Handles{}) : fn_(std::move(fn)), handles_(std::move(handles)) {}

    /// Runs the inner layers; replaces a handled failure. Returns exactly what `next` returns.
    template <class Ctx, class Next>
    auto execute(Ctx& ctx, Next&& next) -> std::invoke_result_t<Next&, Ctx&> {
        using R = std::invoke_result_t<Next&, Ctx&>;
        using T = typename R::value_type;
        if constexpr (std::is_void_v<T> && !detail::fallback_is_function<F>) {
            static_assert(detail::fallback_is_function<F>,
                          "resilience::fallback: a call returning void needs a fallback function "
                          "(of const resilience::failure&, or of nothing) returning void or result<void>, "
                          "not a value");
            return next(ctx);
        } else if constexpr (!detail::fallback_compatible<F, T>) {
            static_assert(detail::fallback_compatible<F, T>,
                          "resilience::fallback: the fallback's type does not convert to the call's value "
                          "type T: give a value T is constructible from, or a function of "
                          "const resilience::failure& (or of nothing) returning such a value or a result of it");
            return next(ctx);
        } else {
            R r = next(ctx);
            if (r.has_value() || !std::as_const(handles_)(std::as_const(r.error()))) return r;
            if constexpr (Ctx::events_enabled) {
                ctx.emit({.type = event_type::fallback_used, .policy = "fallback", .kind = r.error().kind,
                          .error = &r.error()});
            }
            return replacement<R>(r.error());
        }
    }

    /// The value or function.
    [[nodiscard]] const F& function() const noexcept { return fn_; }
    /// The predicate.
    [[nodiscard]] const Handles& handles() const noexcept { return handles_; }

private:
    template <class R>
    R replacement(const failure& f) {
        if constexpr (detail::fallback_takes_failure<F>) {
            return to_result<R>([&]() -> decltype(auto) { return fn_(f); });
        } else if constexpr (detail::fallback_takes_nothing<F>) {
            return to_result<R>([&]() -> decltype(auto) { return fn_(); });
        } else {
            return R(typename R::value_type(std::as_const(fn_)));
        }
    }

    template <class R, class Produce>
    static R to_result(Produce&& produce) {
        using U = decltype(produce());
        using T = typename R::value_type;
        if constexpr (std::is_void_v<U>) {
            produce();
            return R{};
        } else if constexpr (is_result_v<U>) {
            auto u = produce();
            if constexpr (std::is_same_v<std::remove_cvref_t<U>, R>) {
                return u;
            } else if constexpr (std::is_void_v<T>) {
                return u.has_value() ? R{} : R(std::move(u).error());
            } else {
                if (u.has_value()) return R(T(std::move(u).value()));
                return R(std::move(u).error());
            }
        } else {
            return R(T(produce()));
        }
    }

    F fn_;
    [[no_unique_address]] Handles handles_;
};

// Explicit guides (clang 14 needs them for some forms): a string literal decays to `const char*`.
template <class F>
fallback(F) -> fallback<F>;
template <class F, class Handles>
fallback(F, Handles) -> fallback<F, Handles>;

}  // namespace resilience
