// SPDX-License-Identifier: MIT
#pragma once

/// \file resilient_call.hpp
/// `resilient_call<Elements...>`: policies composed at compile time around the user's callable.
///
/// \code
///   rs::resilient_call call{rs::timeout{2s}, rs::retry{}, breaker};   // outermost first
///   rs::result<int> r = call([](const rs::attempt& a) { return fetch(a.remaining()); }, opts);
/// \endcode
///
/// Elements, in order, outermost first:
/// - policies (see policy.hpp). Copyable ones (`retry`, `timeout`, `fallback`, `dead_letter`) are
///   copied in; non-copyable ones (`circuit_breaker`, `bulkhead`, `rate_limiter`) are held by
///   reference and must outlive the composition.
/// - optionally one clock (see clock.hpp), held by reference when named (a temporary `steady_clock{}`
///   is copied). Without one, the composition
///   uses the clock of the first policy that exposes `clock()` (a breaker built on a `manual_clock`
///   puts the whole composition on that clock), else `steady_clock`.
/// - optionally one listener (see events.hpp), held by reference when named.
///
/// The callable may take `()` or `(const attempt&)` and may return `void`, a value `T`, or a
/// `result<T>`; the call returns `result<T>` (`result<void>` for void). Exceptions it throws are caught
/// and returned as `failure_kind::error` with the `exception_ptr` (when exceptions are enabled).
///
/// Costs: no `std::function`, no virtual call, no heap allocation and no lock of its own; a composition
/// with no time-based policy and no deadline reads no clock.
///
/// Thread safety: `operator()` may run concurrently on several threads when every value policy's
/// `execute` is safe to run concurrently (the library's are); stateful objects are shared and
/// thread-safe. Typically a composition is a local built per call, as cheap as copying its policies.

#include "clock.hpp"
#include "context.hpp"
#include "events.hpp"
#include "policy.hpp"
#include "result.hpp"

#include <cstddef>
#include <exception>
#include <tuple>
#include <type_traits>
#include <utility>

namespace resilience {

namespace detail {

template <class E>
using bare_t = std::remove_cvref_t<E>;

template <class E>
concept clock_element = clock<bare_t<E>>;

template <class E>
concept listener_element = listener<bare_t<E>> && !clock_element<E>;

/// A policy that runs on a clock of its own (stateful objects) exposes it; the composition adopts it.
template <class E>
concept provides_clock = !clock_element<E> && requires(bare_t<E>& e) {
    { e.clock() } -> std::same_as<typename bare_t<E>::clock_type&>;
};

/// How an argument of a `resilient_call` is stored: named listeners and named non-copyable objects
/// by reference, everything else by value.
template <class A>
using hold_t = std::conditional_t<std::is_lvalue_reference_v<A> &&
                                      (clock_element<A> || listener_element<A> ||
                                       !std::is_copy_constructible_v<bare_t<A>>),
                                  bare_t<A>&, bare_t<A>>;

template <template <class> class Pred, class... E>
constexpr std::size_t find_first() {
    std::size_t i = 0;
    bool found = false;
    ((found || (Pred<E>::value ? (found = true) : (++i, false))), ...);
    return found ? i : sizeof...(E);
}
template <class E>
struct is_clock_element : std::bool_constant<clock_element<E>> {};
template <class E>
struct is_listener_element : std::bool_constant<listener_element<E>> {};
template <class E>
struct is_clock_provider : std::bool_constant<provides_clock<E>> {};

template <std::size_t I, class Tuple, class Default>
struct element_or {
    using type = Default;
};
template <std::size_t I, class... E, class Default>
    requires(I < sizeof...(E))
struct element_or<I, std::tuple<E...>, Default> {
    using type = bare_t<std::tuple_element_t<I, std::tuple<E...>>>;
};

template <class E>
struct provider_clock {
    using type = void;
};
template <provides_clock E>
struct provider_clock<E> {
    using type = typename bare_t<E>::clock_type;
};

template <std::size_t I, class... E>
struct provider_clock_at {
    using type = typename provider_clock<std::tuple_element_t<I, std::tuple<E...>>>::type;
};

template <class... E>
struct composition_traits {
    static constexpr std::size_t n = sizeof...(E);
    static constexpr std::size_t clock_index = find_first<is_clock_element, E...>();
    static constexpr std::size_t provider_index = find_first<is_clock_provider, E...>();
    static constexpr std::size_t listener_index = find_first<is_listener_element, E...>();
    static constexpr std::size_t clock_count = (std::size_t{clock_element<E>} + ... + 0);
    static constexpr std::size_t listener_count = (std::size_t{listener_element<E>} + ... + 0);

    using clock_type = typename std::conditional_t<
        (clock_index < n), element_or<clock_index, std::tuple<E...>, steady_clock>,
        std::conditional_t<(provider_index < n), provider_clock_at<provider_index, E...>,
                           std::type_identity<steady_clock>>>::type;
    using listener_type = typename element_or<listener_index, std::tuple<E...>, null_listener>::type;
};

template <class C>
time_point now_thunk(const void* c) {
    return static_cast<const C*>(c)->now();
}

template <class F>
inline constexpr bool takes_attempt = std::is_invocable_v<F&, const attempt&>;

template <class F>
struct raw_return {
    using type = std::invoke_result_t<F&>;
};
template <class F>
    requires takes_attempt<F>
struct raw_return<F> {
    using type = std::invoke_result_t<F&, const attempt&>;
};

template <class U>
struct result_for {
    using type = result<bare_t<U>>;
};
template <>
struct result_for<void> {
    using type = result<void>;
};
template <class U>
    requires is_result_v<U>
struct result_for<U> {
    using type = bare_t<U>;
};

inline null_listener the_null_listener{};

/// Emits the one static_assert that says what is wrong with a policy, not a cascade.
template <class P, class Ctx, class Next>
constexpr bool check_policy() {
    if constexpr (!has_execute<P, Ctx, Next>) {
        static_assert(has_execute<P, Ctx, Next>,
                      "resilience::resilient_call: this element is not a policy, a clock or a listener. A policy "
                      "needs a member function template `template <class Context, class Next> auto "
                      "execute(Context& ctx, Next&& next)` callable as `p.execute(ctx, next)` (see "
                      "resilience/policy.hpp).");
    } else if constexpr (!policy_for<P, Ctx, Next>) {
        static_assert(policy_for<P, Ctx, Next>,
                      "resilience::resilient_call: a policy's `execute(ctx, next)` must return exactly the "
                      "`result<T>` type that `next(ctx)` returns (see resilience/policy.hpp).");
    }
    return true;
}

}  // namespace detail

/// The result type of calling `F` through a composition: `result<T>`.
template <class F>
using call_result_t = typename detail::result_for<typename detail::raw_return<std::remove_reference_t<F>>::type>::type;

template <class... Elements>
class resilient_call {
    using traits = detail::composition_traits<Elements...>;
    static_assert(traits::clock_count <= 1, "resilience::resilient_call: at most one clock may be listed");
    static_assert(traits::listener_count <= 1, "resilience::resilient_call: at most one listener may be listed");

public:
    /// The composition's clock type.
    using clock_type = typename traits::clock_type;
    /// The composition's listener type (`null_listener` when none is listed).
    using listener_type = typename traits::listener_type;
    /// The context type policies receive.
    using context_type = call_context<clock_type, listener_type>;

    static_assert(((std::is_same_v<typename detail::provider_clock<Elements>::type, void> ||
                    std::is_same_v<typename detail::provider_clock<Elements>::type, clock_type>) && ...),
                  "resilience::resilient_call: a stateful policy runs on a different clock type than the "
                  "composition; give every object the same clock");

    /// Builds the composition from its elements, outermost first.
    template <class... A>
        requires(sizeof...(A) == sizeof...(Elements) &&
                 !(sizeof...(A) == 1 && (std::is_same_v<detail::bare_t<A>, resilient_call> && ...)))
    resilient_call(A&&... a)  // NOLINT: implicit so that `resilient_call c = {...}` works
        : elements_(std::forward<A>(a)...) {
        static_assert(((std::is_lvalue_reference_v<A> || std::is_move_constructible_v<detail::bare_t<A>>) && ...),
                      "resilience::resilient_call: stateful objects (circuit_breaker, bulkhead, rate_limiter, "
                      "sinks, manual_clock) are held by reference: pass a named object that outlives the call, "
                      "not a temporary");
    }

    /// Runs `f` through every policy. `opts` (and what its views point to) must outlive the call.
    template <class F>
    call_result_t<F> operator()(F&& f, const call_options& opts = {}) {
        using R = call_result_t<F>;
        call_state state;
        context_type ctx{&clock(), &listener(), &opts, &state, opts.deadline,
                         opts.deadline == no_deadline ? deadline_source::none : deadline_source::caller, 1};
        if constexpr (context_type::events_enabled) (void)ctx.start();  // call_finished reports the duration
        R r = run<0, R>(ctx, f);
        if (!r.has_value()) ctx.finish(r.error());
        if constexpr (context_type::events_enabled) {
            const time_point end = ctx.now();
            ctx.emit({.type = event_type::call_finished, .policy = "call", .at = end,
                      .attempt = state.attempts == 0 ? ctx.attempt : state.attempts,
                      .kind = r.has_value() ? failure_kind::error : r.error().kind, .delay = end - state.start,
                      .error = r.has_value() ? nullptr : &r.error()});
        }
        return r;
    }

    /// The composition's clock.
    [[nodiscard]] clock_type& clock() noexcept {
        if constexpr (traits::clock_index < traits::n) {
            return std::get<traits::clock_index>(elements_);
        } else if constexpr (traits::provider_index < traits::n) {
            return std::get<traits::provider_index>(elements_).clock();
        } else {
            return default_clock_;
        }
    }

    /// The composition's listener.
    [[nodiscard]] listener_type& listener() noexcept {
        if constexpr (traits::listener_index < traits::n) {
            return std::get<traits::listener_index>(elements_);
        } else {
            return detail::the_null_listener;
        }
    }

    /// The elements, for inspection.
    [[nodiscard]] std::tuple<Elements...>& elements() noexcept { return elements_; }

private:
    template <std::size_t I, class R, class F>
    R run(context_type& ctx, F& f) {
        if constexpr (I == sizeof...(Elements)) {
            return invoke_attempt<R>(ctx, f);
        } else {
            using E = std::tuple_element_t<I, std::tuple<Elements...>>;
            if constexpr (detail::clock_element<E> || detail::listener_element<E>) {
                return run<I + 1, R>(ctx, f);
            } else {
                auto next = [this, &f](context_type& c) -> R { return this->template run<I + 1, R>(c, f); };
                static_assert(detail::check_policy<detail::bare_t<E>, context_type, decltype(next)>());
                if constexpr (policy_for<detail::bare_t<E>, context_type, decltype(next)>) {
                    return std::get<I>(elements_).execute(ctx, next);
                } else {
                    return R(failure::of(failure_kind::error));  // unreachable: the static_assert fired
                }
            }
        }
    }

    template <class R, class F>
    R invoke_attempt(context_type& ctx, F& f) {
        if (ctx.stop_requested()) {
            failure fl = failure::of(failure_kind::cancelled, "cancelled by the caller's stop token");
            if constexpr (context_type::events_enabled) ctx.emit({.type = event_type::rejected, .policy = "call", .kind = fl.kind, .error = &fl});
            return fl;
        }
        if (ctx.deadline != no_deadline) {
            // An attempt that cannot start in time is not started.
            if (ctx.now() >= ctx.deadline) {
                failure fl = failure::of(ctx.expiry_kind(), "the deadline passed before the attempt could start");
                if constexpr (context_type::events_enabled) ctx.emit({.type = event_type::timeout, .policy = "call", .kind = fl.kind, .error = &fl});
                return fl;
            }
        }
        ++ctx.state->attempts;
        const attempt a{ctx.attempt, ctx.deadline, &ctx.stop_token(), &clock(), &detail::now_thunk<clock_type>};
        time_point t0{};
        if constexpr (context_type::events_enabled) {
            t0 = ctx.now();
            ctx.emit({.type = event_type::attempt_started, .policy = "call", .at = t0});
        }
        R r = call_user<R>(f, a);
        if constexpr (!std::is_void_v<typename R::value_type>) {
            if constexpr (has_outcome_classifier<typename R::value_type>) {
                if (r.has_value()) {
                    if (auto fl = customize::outcome_classifier<typename R::value_type>::classify(*r.last_value())) r.fail(std::move(*fl));
                }
            }
        }
        if constexpr (context_type::events_enabled) {
            auto t1 = ctx.now();
            if (r.has_value()) {
                ctx.emit({.type = event_type::attempt_succeeded, .policy = "call", .at = t1, .delay = t1 - t0});
            } else {
                ctx.emit({.type = event_type::attempt_failed, .policy = "call", .at = t1, .kind = r.error().kind, .delay = t1 - t0, .error = &r.error()});
            }
        }
        return r;
    }

    template <class R, class F>
    static R call_user(F& f, const attempt& a) {
#if RESILIENCE_HAS_EXCEPTIONS
        try {
            return call_user_unguarded<R>(f, a);
        } catch (...) {
            return failure::from_exception(std::current_exception(), "the callable threw an exception");
        }
#else
        return call_user_unguarded<R>(f, a);
#endif
    }

    template <class R, class F>
    static R call_user_unguarded(F& f, const attempt& a) {
        using U = typename detail::raw_return<F>::type;
        if constexpr (std::is_void_v<U>) {
            if constexpr (detail::takes_attempt<F>) f(a); else f();
            return R{};
        } else if constexpr (detail::takes_attempt<F>) {
            return R(f(a));
        } else {
            return R(f());
        }
    }

    std::tuple<Elements...> elements_;
    [[no_unique_address]] steady_clock default_clock_{};
};

/// Deduction: named listeners and named non-copyable objects are held by reference, the rest by value.
template <class... A>
resilient_call(A&&...) -> resilient_call<detail::hold_t<A>...>;

}  // namespace resilience
