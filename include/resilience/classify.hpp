// SPDX-License-Identifier: MIT
#pragma once

/// \file classify.hpp
/// Classification: deciding whether an outcome is a success, a failure worth trying again
/// (`transient`), or a failure that another attempt cannot fix (`permanent`).
///
/// One classifier type serves `retry` (which retries transient failures) and `circuit_breaker` (which
/// counts transient failures of the dependency; a permanent failure such as an HTTP 404 means the
/// dependency answered). Classifiers are small value types, inlined: no virtual call.
///
/// A classifier `C` for results of `T` is callable as `c(r)` with `const result<T>& r` and returns a
/// `verdict`. It may turn a success into a failure (a returned HTTP 503): the policy using it then
/// relabels the result as a failure while keeping the value reachable (`result::last_value()`).
/// Thread safety: classifiers are called concurrently from every thread running a call; the library's
/// are stateless. A classifier must not throw (see `classify_values`).

#include "detail/config.hpp"
#include "result.hpp"

#include <concepts>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <type_traits>
#include <utility>

namespace resilience {

/// The classification of one outcome.
enum class verdict : std::uint8_t {
    success,    ///< the call did what it should
    transient,  ///< a failure another attempt may fix (counts against a breaker's dependency)
    permanent,  ///< a failure no retry can fix (not retried; the dependency is considered healthy)
};

/// `C` classifies results of `T`.
template <class C, class T>
concept classifier_for = requires(const C& c, const result<T>& r) {
    { c(r) } -> std::same_as<verdict>;
};

/// The default: success when the result has a value; otherwise the failure's own `hint` when it has
/// one; otherwise by kind — `error`, `timeout`, `circuit_open`, `bulkhead_full` and `rate_limited` are
/// transient (the latter three carry a `retry_after` that `retry` honours); `deadline_exceeded`,
/// `cancelled` and `dead_letter_failed` are permanent (trying again cannot help the caller who is out of
/// time or gave up).
struct default_classifier {
    [[nodiscard]] static constexpr verdict by_kind(failure_kind k) noexcept {
        switch (k) {
            case failure_kind::deadline_exceeded:
            case failure_kind::cancelled:
            case failure_kind::dead_letter_failed: return verdict::permanent;
            default: return verdict::transient;
        }
    }
    [[nodiscard]] static constexpr verdict of_failure(const failure& f) noexcept {
        if (f.hint == transience::transient) return verdict::transient;
        if (f.hint == transience::permanent) return verdict::permanent;
        return by_kind(f.kind);
    }
    template <class T>
    [[nodiscard]] constexpr verdict operator()(const result<T>& r) const noexcept {
        return r.has_value() ? verdict::success : of_failure(r.error());
    }
};

/// Classifies the HTTP status of a returned value: 2xx/3xx success; 408, 429 and 5xx transient (except
/// 501 Not Implemented and 505 HTTP Version Not Supported, which no retry fixes); other 4xx permanent.
[[nodiscard]] constexpr verdict http_status_verdict(int status) noexcept {
    if (status < 400) return verdict::success;
    if (status == 408 || status == 429) return verdict::transient;
    if (status == 501 || status == 505) return verdict::permanent;
    if (status >= 500) return verdict::transient;
    return verdict::permanent;
}

/// Classifies returned values with `F(const T&) -> verdict` (e.g. `http_status_verdict(r.status)`);
/// failures go to `Base`. Usage: `rs::classify_values{[](const response& r) { return
/// rs::http_status_verdict(r.status); }}`.
///
/// Results whose value `fn` cannot take — `result<void>`, or another value type when one classifier
/// serves several kinds of call (a shared breaker's) — are classified by `Base` alone: check the
/// parameter type of `fn` against the call's value type, since a mismatch classifies every value as a
/// success. A value classified as a failure stays reachable (see `apply_classifier`); to give it a
/// `retry_after` hint (an HTTP 429's Retry-After), return a `failure` from the callable or specialise
/// `customize::outcome_classifier` (policy.hpp) instead.
///
/// Preconditions: `fn` must not throw (nor must any classifier). The library catches exceptions only
/// around the user's callable; one thrown while classifying escapes `resilient_call` itself: no
/// `result` is returned, a `dead_letter` listed outside writes no record, and a `circuit_breaker`
/// (whose permit is then destroyed unreported) counts the call as an abandoned failure. Map a value
/// you cannot read to a verdict instead (`verdict::permanent`, say).
template <class F, class Base = default_classifier>
struct classify_values {
    F fn{};
    [[no_unique_address]] Base base{};

    template <class T>
    [[nodiscard]] verdict operator()(const result<T>& r) const {
        if constexpr (std::is_void_v<T>) {
            return base(r);
        } else if constexpr (std::is_invocable_r_v<verdict, const F&, const T&>) {
            if (r.has_value()) return fn(*r.last_value());
            return base(r);
        } else {
            return base(r);
        }
    }
};
template <class F>
classify_values(F) -> classify_values<F>;
template <class F, class Base>
classify_values(F, Base) -> classify_values<F, Base>;

/// Classifies failures by kind: a failure whose kind is in the set is transient, unless its creator
/// marked it permanent (`failure::hint`: an HTTP 404 stays permanent even when `error` is listed);
/// every other failure is permanent. Successes are successes. For a retry that should, say, retry
/// only timeouts and throttling: `rs::classify_kinds{rs::failure_kind::timeout, rs::failure_kind::rate_limited}`.
/// A bit set: no allocation. Thread safety: immutable.
class classify_kinds {
public:
    constexpr classify_kinds(std::initializer_list<failure_kind> transient) noexcept {
        for (failure_kind k : transient) mask_ = static_cast<std::uint32_t>(mask_ | bit(k));
    }
    /// True when failures of kind `k` are transient (unless hinted permanent).
    [[nodiscard]] constexpr bool contains(failure_kind k) const noexcept { return (mask_ & bit(k)) != 0; }

    [[nodiscard]] constexpr verdict of_failure(const failure& f) const noexcept {
        if (f.hint == transience::permanent) return verdict::permanent;
        return contains(f.kind) ? verdict::transient : verdict::permanent;
    }
    template <class T>
    [[nodiscard]] constexpr verdict operator()(const result<T>& r) const noexcept {
        return r.has_value() ? verdict::success : of_failure(r.error());
    }

private:
    static constexpr std::uint32_t bit(failure_kind k) noexcept {
        const auto i = static_cast<std::uint32_t>(k);
        return i < 32 ? std::uint32_t{1} << i : 0u;
    }
    std::uint32_t mask_ = 0;
};

#if RESILIENCE_HAS_EXCEPTIONS
/// Exceptions of the types `Transient...` (or derived from them) are transient; every other exception
/// is permanent; everything else goes to `default_classifier`. Available only with exceptions enabled
/// (it rethrows the stored exception to match its type; that needs no RTTI).
template <class... Transient>
struct classify_exceptions {
    template <class T>
    [[nodiscard]] verdict operator()(const result<T>& r) const {
        if (r.has_value()) return verdict::success;
        const failure& f = r.error();
        if (!f.exception) return default_classifier::of_failure(f);
        return match<Transient...>(f.exception);
    }

private:
    template <class E0 = void, class... Rest>
    static verdict match(const std::exception_ptr& e) {
        if constexpr (std::is_void_v<E0>) {
            return verdict::permanent;
        } else {
            try {
                std::rethrow_exception(e);
            } catch (const E0&) {
                return verdict::transient;
            } catch (...) {
            }
            return match<Rest...>(e);
        }
    }
};
#endif

/// Turns a success that `c` classifies as a failure into a failed result that keeps its value, so
/// that outer layers see the failure too. Returns the verdict.
template <class C, class T>
verdict apply_classifier(const C& c, result<T>& r) {
    verdict v = c(std::as_const(r));
    if (v != verdict::success && r.has_value()) {
        failure f = failure::of(failure_kind::error, "the returned value was classified as a failure");
        f.hint = v == verdict::transient ? transience::transient : transience::permanent;
        r.fail(std::move(f));
    }
    return v;
}

}  // namespace resilience
