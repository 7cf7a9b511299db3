// SPDX-License-Identifier: MIT
#pragma once

/// \file result.hpp
/// The outcome of a resilient call: `result<T>`, `failure` and `failure_kind`.
///
/// A failure is a value. The library never throws on its own paths (rejections, timeouts, exhausted
/// retries are all returned), so the same code works with `-fno-exceptions`. Exceptions thrown by the
/// user's callable are caught (when exceptions are enabled) and carried as `std::exception_ptr`.

#include "detail/config.hpp"

#include <cassert>
#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace resilience {

/// Why a call failed. Ordered so that the "rejection" kinds, which mean the dependency was never
/// reached, are contiguous.
enum class failure_kind : std::uint8_t {
    error,               ///< the callable failed: an exception, an error code, or a value classified as failure
    timeout,             ///< a `timeout` policy's budget ran out
    deadline_exceeded,   ///< the caller's deadline (`call_options::deadline`) ran out, or no attempt could start in time
    circuit_open,        ///< rejected by an open (or isolated, or fully probed half-open) circuit breaker
    bulkhead_full,       ///< rejected by a bulkhead: no slot and no room or time to queue
    rate_limited,        ///< rejected by a rate limiter, or throttled by the dependency
    cancelled,           ///< the caller's stop token was triggered
    dead_letter_failed,  ///< the call failed and its dead-letter record could not be published
};

/// Number of `failure_kind` enumerators; useful for per-kind counters.
inline constexpr std::size_t failure_kind_count = 8;

/// Stable lower-case name of a kind, as used in logs, JSON records and metrics.
[[nodiscard]] constexpr std::string_view to_string(failure_kind k) noexcept {
    switch (k) {
        case failure_kind::error: return "error";
        case failure_kind::timeout: return "timeout";
        case failure_kind::deadline_exceeded: return "deadline_exceeded";
        case failure_kind::circuit_open: return "circuit_open";
        case failure_kind::bulkhead_full: return "bulkhead_full";
        case failure_kind::rate_limited: return "rate_limited";
        case failure_kind::cancelled: return "cancelled";
        case failure_kind::dead_letter_failed: return "dead_letter_failed";
    }
    return "unknown";
}

/// Parses the name produced by `to_string`; returns nullopt for anything else.
[[nodiscard]] constexpr std::optional<failure_kind> parse_failure_kind(std::string_view s) noexcept {
    for (std::size_t i = 0; i < failure_kind_count; ++i) {
        auto k = static_cast<failure_kind>(i);
        if (to_string(k) == s) return k;
    }
    return std::nullopt;
}

/// True for kinds produced locally by a guard (breaker, bulkhead, limiter) without the dependency being
/// called. A circuit breaker does not count these against the dependency.
[[nodiscard]] constexpr bool is_rejection(failure_kind k) noexcept {
    return k == failure_kind::circuit_open || k == failure_kind::bulkhead_full ||
           k == failure_kind::rate_limited;
}

/// Whoever creates a failure may say whether trying again can help. Classifiers (retry, breaker)
/// honour a definite hint before falling back to the kind.
enum class transience : std::uint8_t {
    unknown,    ///< no opinion: classification goes by kind and exception type
    transient,  ///< trying again may succeed (5xx, throttling, connection reset)
    permanent,  ///< trying again cannot help (4xx, validation, authentication)
};

/// Everything known about a failed call. An aggregate, so it can be built with designated
/// initializers: `failure{.kind = failure_kind::timeout, .message = "slow"}`.
///
/// Copying is cheap except for `exception`, whose copy is an atomic reference-count increment.
/// Thread safety: a value type; distinct objects may be used from distinct threads.
struct failure {
    failure_kind kind = failure_kind::error;
    /// The kind before a policy relabelled the failure: a retry that gives up because the deadline
    /// would pass reports `deadline_exceeded` with `cause` = the last attempt's kind; a dead letter
    /// that could not be written reports `dead_letter_failed` with `cause` = the original kind.
    /// Equal to `kind` when nothing relabelled it.
    failure_kind cause = failure_kind::error;
    /// Whether another attempt may succeed, as far as the creator of the failure knows.
    transience hint = transience::unknown;
    /// Attempts made (the callable's invocations), filled by `retry`; 0 when the callable never ran
    /// (a rejection before the first attempt).
    std::uint32_t attempts = 0;
    /// Time from the start of the call to the failure, on the composition's clock. Zero when no policy
    /// read the clock (a composition with no time-based policy reads none on its fast path).
    std::chrono::nanoseconds elapsed{0};
    /// How long the caller should wait before trying again (Retry-After, open breaker, empty limiter);
    /// zero when there is no hint.
    std::chrono::nanoseconds retry_after{0};
    /// The error the callable reported, if it reported one as an error code.
    std::error_code error{};
    /// The exception the callable threw, if any (always null with `-fno-exceptions`).
    std::exception_ptr exception{};
    /// Why the dead-letter sink refused the record (only for `dead_letter_failed`).
    std::error_code sink_error{};
    /// A short static description. Must point to storage that outlives every copy of the failure
    /// (string literals): the library never allocates for a failure.
    std::string_view message{};

    /// A failure of the given kind with `cause == kind`.
    [[nodiscard]] static failure of(failure_kind k, std::string_view msg = {}) noexcept {
        failure f;
        f.kind = k;
        f.cause = k;
        f.message = msg;
        return f;
    }
    /// A failure of kind `error` carrying an error code.
    [[nodiscard]] static failure from_error(std::error_code ec, transience h = transience::unknown,
                                            std::string_view msg = {}) noexcept {
        failure f = of(failure_kind::error, msg);
        f.error = ec;
        f.hint = h;
        return f;
    }
    /// A failure of kind `error` carrying an exception.
    [[nodiscard]] static failure from_exception(std::exception_ptr e, std::string_view msg = {}) noexcept {
        failure f = of(failure_kind::error, msg);
        f.exception = std::move(e);
        return f;
    }
    /// The same failure relabelled with another kind; `cause` keeps the original kind.
    [[nodiscard]] failure relabelled(failure_kind k) const& {
        failure f = *this;
        f.cause = kind == k ? cause : kind;
        f.kind = k;
        return f;
    }
};

#if RESILIENCE_HAS_EXCEPTIONS
/// Thrown by `result::value()` when the result holds a failure (only when exceptions are enabled;
/// otherwise the process aborts with a message).
class bad_result_access : public std::exception {
public:
    explicit bad_result_access(failure f) : failure_(std::move(f)) {}
    [[nodiscard]] const char* what() const noexcept override {
        return "resilience: result::value() called on a failed result";
    }
    [[nodiscard]] const failure& error() const noexcept { return failure_; }

private:
    failure failure_;
};
#endif

namespace detail {
[[noreturn]] inline void throw_bad_result_access(const failure& f) {
#if RESILIENCE_HAS_EXCEPTIONS
    throw bad_result_access(f);
#else
    (void)f;
    fatal("result::value() called on a failed result");
#endif
}
}  // namespace detail

template <class T>
class result;

/// Tag to build a failed result that still carries the value that was classified as a failure.
struct failed_value_t {
    explicit failed_value_t() = default;
};
inline constexpr failed_value_t failed_value{};

/// The outcome of a call returning `T`: a value, or a `failure`. When the failure came from a returned
/// value that was classified as a failure (an HTTP 503, say), that value stays reachable through
/// `last_value()`; so does a value that arrived after its deadline (a late return).
///
/// Preconditions: `value()`/`operator*` on a failed result throws `bad_result_access` (or aborts without
/// exceptions); `error()` on a successful result is undefined behaviour (checked by an assert).
/// Thread safety: a value type.
template <class T>
class result {
    static_assert(!std::is_reference_v<T>, "resilience::result<T>: T must not be a reference");
    static_assert(!std::is_same_v<std::remove_cv_t<T>, failure>,
                  "resilience::result<T>: T must not be resilience::failure");

public:
    using value_type = T;

    /// Success.
    template <class U = T>
        requires(std::is_constructible_v<T, U &&> &&
                 !std::is_same_v<std::remove_cvref_t<U>, result> &&
                 !std::is_same_v<std::remove_cvref_t<U>, failure> &&
                 !std::is_same_v<std::remove_cvref_t<U>, failed_value_t>)
    constexpr result(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>)  // NOLINT: implicit by design
        : value_(std::forward<U>(v)) {}

    /// Failure without a value.
    result(failure f) noexcept : failure_(std::move(f)) {}  // NOLINT: implicit by design

    /// Failure that keeps the value it was classified from.
    template <class U>
    result(failed_value_t, failure f, U&& last) : value_(std::forward<U>(last)), failure_(std::move(f)) {}

    [[nodiscard]] constexpr bool has_value() const noexcept { return !failure_.has_value(); }
    constexpr explicit operator bool() const noexcept { return has_value(); }

    [[nodiscard]] T& value() & {
        if (!has_value()) detail::throw_bad_result_access(*failure_);
        return *value_;
    }
    [[nodiscard]] const T& value() const& {
        if (!has_value()) detail::throw_bad_result_access(*failure_);
        return *value_;
    }
    [[nodiscard]] T&& value() && {
        if (!has_value()) detail::throw_bad_result_access(*failure_);
        return std::move(*value_);
    }
    [[nodiscard]] T& operator*() & { return value(); }
    [[nodiscard]] const T& operator*() const& { return value(); }
    [[nodiscard]] T&& operator*() && { return std::move(*this).value(); }
    [[nodiscard]] T* operator->() { return &value(); }
    [[nodiscard]] const T* operator->() const { return &value(); }

    template <class U>
    [[nodiscard]] T value_or(U&& fallback) const& {
        return has_value() ? *value_ : static_cast<T>(std::forward<U>(fallback));
    }

    /// The failure. Precondition: `!has_value()`.
    [[nodiscard]] const failure& error() const& noexcept {
        assert(failure_.has_value() && "result::error() on a successful result");
        return *failure_;
    }
    [[nodiscard]] failure& error() & noexcept {
        assert(failure_.has_value() && "result::error() on a successful result");
        return *failure_;
    }
    [[nodiscard]] failure&& error() && noexcept {
        assert(failure_.has_value() && "result::error() on a successful result");
        return std::move(*failure_);
    }

    /// The value on success; on failure, the value that was classified as a failure or returned late;
    /// otherwise null.
    [[nodiscard]] const T* last_value() const noexcept { return value_ ? &*value_ : nullptr; }
    [[nodiscard]] T* last_value() noexcept { return value_ ? &*value_ : nullptr; }

    /// Turns a success into a failure that keeps its value (used by classifiers and by `timeout` for a
    /// late return). Precondition: none; a failed result just gets its failure replaced.
    void fail(failure f) noexcept { failure_ = std::move(f); }

private:
    std::optional<T> value_;
    std::optional<failure> failure_;
};

/// The outcome of a call returning nothing.
template <>
class result<void> {
public:
    using value_type = void;

    constexpr result() noexcept = default;
    result(failure f) noexcept : failure_(std::move(f)) {}  // NOLINT: implicit by design

    [[nodiscard]] constexpr bool has_value() const noexcept { return !failure_.has_value(); }
    constexpr explicit operator bool() const noexcept { return has_value(); }
    void value() const {
        if (!has_value()) detail::throw_bad_result_access(*failure_);
    }
    [[nodiscard]] const failure& error() const& noexcept { return *failure_; }
    [[nodiscard]] failure& error() & noexcept { return *failure_; }
    [[nodiscard]] failure&& error() && noexcept { return std::move(*failure_); }
    /// Always null: there is no value to keep. Present so generic code can treat all results alike.
    [[nodiscard]] const void* last_value() const noexcept { return nullptr; }
    void fail(failure f) noexcept { failure_ = std::move(f); }

private:
    std::optional<failure> failure_;
};

/// A successful `result<void>`.
[[nodiscard]] inline result<void> ok() noexcept { return {}; }

template <class R>
struct is_result : std::false_type {};
template <class T>
struct is_result<result<T>> : std::true_type {};
/// True when `R` is some `result<T>`.
template <class R>
inline constexpr bool is_result_v = is_result<std::remove_cvref_t<R>>::value;

}  // namespace resilience
