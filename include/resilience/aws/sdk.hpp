// SPDX-License-Identifier: MIT
#pragma once

/// \file aws/sdk.hpp
/// The AWS SDK for C++ and resilience policies: classifying an SDK `Outcome` into a `result`, so that
/// `retry` and `circuit_breaker` decide as the SDK would, and switching the SDK's own retries off (or
/// aligning its timeouts) so that attempts are not multiplied by two layers of retries.
///
/// This header does not include the SDK: everything is a template over the shapes the SDK exposes
/// (duck typing), so it compiles and is tested without it, and works with any SDK version that has
/// these members:
/// - an outcome `o` with `o.IsSuccess()` and `o.GetError()` (`Aws::Utils::Outcome<R, E>`);
/// - an error `e` with `e.ShouldRetry()` and, when present, `e.ShouldThrottle()`,
///   `e.GetResponseCode()` (an enum of HTTP statuses, `REQUEST_NOT_MADE` = -1),
///   `e.GetResponseHeaders()` (a map of lower-case header names to values), `e.GetErrorType()` and
///   `e.GetExceptionName()` (`Aws::Client::AWSError<E>`);
/// - a client configuration with `retryStrategy` (a `std::shared_ptr` to `Aws::Client::RetryStrategy`)
///   and the timeouts `connectTimeoutMs`, `requestTimeoutMs`, `httpRequestTimeoutMs`.
///
/// \code
///   static Aws::DynamoDB::DynamoDBClient db = [] {
///       Aws::Client::ClientConfiguration cfg;
///       rs::aws::disable_sdk_retries(cfg);                  // retries happen in rs::retry, once
///       rs::aws::align_sdk_timeouts(cfg, 500ms);            // no SDK wait outlives our attempt
///       return Aws::DynamoDB::DynamoDBClient(cfg);
///   }();
///   auto r = call([&] { return rs::aws::classify_outcome(db.GetItem(req)); }, opts);
/// \endcode
///
/// Thread safety: the functions are pure and may run concurrently; `no_retry_strategy` is stateless.
/// Time semantics: `Retry-After` HTTP-dates are wall-clock instants, so classification takes the wall
/// clock time `now` at which the response arrived (by default `system_clock::now()`); the resulting
/// `failure::retry_after` is a duration that policies apply on their own clock.

#include "../classify.hpp"
#include "../clock.hpp"
#include "../detail/validate.hpp"
#include "../http.hpp"
#include "../result.hpp"

#include <array>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace resilience::aws {

// --- shapes -----------------------------------------------------------------------------------------------

/// An SDK error: says whether it may be retried (`Aws::Client::AWSError<E>`).
template <class E>
concept sdk_error = requires(const E& e) {
    { e.ShouldRetry() } -> std::convertible_to<bool>;
};

/// An SDK outcome: success, or an error (`Aws::Utils::Outcome<R, E>`).
template <class O>
concept sdk_outcome = requires(const O& o) {
    { o.IsSuccess() } -> std::convertible_to<bool>;
    o.GetError();
};

/// How SDK errors become failures. Validated by `validate()`; the functions taking it call it first
/// (with exceptions enabled an invalid value throws `std::invalid_argument`, without them it aborts).
struct sdk_classify_options {
    /// Throttling (`ShouldThrottle()`, HTTP 429 or a throttling exception name) is reported as
    /// `failure_kind::rate_limited`, which a circuit breaker does not count against the dependency (it
    /// is healthy and shedding load) while `retry` still retries it after the hinted delay. False
    /// reports it as a transient `error`, which a breaker counts.
    bool throttling_is_rate_limited = true;
    /// Longest `Retry-After` / `x-amz-retry-after` hint accepted; longer ones are clamped to it. Must
    /// be between 0 and 24 hours.
    duration max_retry_after = default_retry_after_cap;

    [[nodiscard]] std::optional<config_error> validate() const noexcept {
        if (max_retry_after < duration::zero() || max_retry_after > std::chrono::hours(24)) {
            return config_error{"sdk_classify_options.max_retry_after",
                                "sdk_classify_options.max_retry_after must be between 0 and 24 hours"};
        }
        return std::nullopt;
    }
};

// --- error category for errors that carry no HTTP status ---------------------------------------------------

namespace detail {

class sdk_error_category final : public std::error_category {
public:
    [[nodiscard]] const char* name() const noexcept override { return "aws-sdk"; }
    [[nodiscard]] std::string message(int v) const override {
        return "AWS SDK error type " + std::to_string(v) + " (no HTTP response)";
    }
};

template <class E>
concept has_should_throttle = requires(const E& e) {
    { e.ShouldThrottle() } -> std::convertible_to<bool>;
};
template <class E>
concept has_response_code = requires(const E& e) { static_cast<int>(e.GetResponseCode()); };
template <class E>
concept has_response_headers = requires(const E& e) { e.GetResponseHeaders().begin(); };
template <class E>
concept has_error_type = requires(const E& e) { static_cast<int>(e.GetErrorType()); };
template <class E>
concept has_exception_name = requires(const E& e) { std::string_view(e.GetExceptionName()); };

/// Error codes that AWS services use for throttling, for SDK versions whose errors lack
/// `ShouldThrottle()`.
inline constexpr std::array<std::string_view, 14> throttling_exception_names{
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
};

}  // namespace detail

/// The category of `std::error_code`s for SDK errors that have no HTTP status (the request was not
/// made: DNS, connection refused, TLS): the value is the SDK's error type (`CoreErrors`) as an integer.
[[nodiscard]] inline const std::error_category& sdk_category() noexcept {
    static const detail::sdk_error_category category;
    return category;
}

// --- reading an error --------------------------------------------------------------------------------------

/// The HTTP status of the response that carried the error, or 0 when no response was received
/// (`REQUEST_NOT_MADE`) or the error type does not expose one.
template <class E>
[[nodiscard]] int sdk_response_code(const E& e) noexcept {
    if constexpr (detail::has_response_code<E>) {
        const int code = static_cast<int>(e.GetResponseCode());
        return code > 0 ? code : 0;
    } else {
        (void)e;
        return 0;
    }
}

/// The value of response header `name` (matched case-insensitively), or nullopt. The view points into
/// the error, which must outlive it.
template <class E>
[[nodiscard]] std::optional<std::string_view> sdk_response_header(const E& e, std::string_view name) noexcept {
    if constexpr (detail::has_response_headers<E>) {
        for (const auto& [key, value] : e.GetResponseHeaders()) {
            if (http_field_name_equals(std::string_view(key), name)) return std::string_view(value);
        }
    } else {
        (void)e;
        (void)name;
    }
    return std::nullopt;
}

/// True when the error is throttling: `ShouldThrottle()` when the SDK has it; otherwise HTTP 429 or
/// one of the throttling error codes AWS services use ("ThrottlingException", "SlowDown", ...).
template <class E>
[[nodiscard]] bool sdk_is_throttling(const E& e) noexcept {
    if constexpr (detail::has_should_throttle<E>) {
        if (e.ShouldThrottle()) return true;
    }
    if (is_throttling_status(sdk_response_code(e))) return true;
    if constexpr (detail::has_exception_name<E>) {
        const std::string_view name(e.GetExceptionName());
        for (auto t : detail::throttling_exception_names) {
            if (name == t) return true;
        }
    }
    return false;
}

/// The delay the service asked for: `x-amz-retry-after` (milliseconds, the AWS convention) when
/// present and valid, else `Retry-After` (delta-seconds or HTTP-date, see http.hpp), clamped to `cap`;
/// zero when there is neither.
template <class E>
[[nodiscard]] duration sdk_retry_after(const E& e, std::chrono::system_clock::time_point now,
                                       duration cap = default_retry_after_cap) noexcept {
    if (cap < duration::zero()) cap = duration::zero();
    if (auto ms = sdk_response_header(e, "x-amz-retry-after")) {
        const std::string_view v = resilience::detail::http_trim(*ms);
        if (!v.empty()) {
            const std::int64_t cap_ms = std::chrono::duration_cast<std::chrono::milliseconds>(cap).count();
            std::int64_t n = 0;
            bool ok = true;
            bool over = false;
            for (char c : v) {
                if (!resilience::detail::http_is_digit(c)) {
                    ok = false;
                    break;
                }
                if (!over) {
                    n = n * 10 + (c - '0');
                    if (n > cap_ms) over = true;
                }
            }
            if (ok) return over ? cap : std::chrono::duration_cast<duration>(std::chrono::milliseconds{n});
        }
    }
    if (auto ra = sdk_response_header(e, "retry-after")) {
        auto parsed = parse_retry_after_header(*ra, now, cap);
        if (parsed.valid()) return parsed.delay;
    }
    return duration::zero();
}

/// The failure an SDK error represents:
/// - `hint`: `transient` when `e.ShouldRetry()` (the SDK knows service-specific retryable codes, such as
///   a DynamoDB `ProvisionedThroughputExceededException` that comes with a 400), `permanent` otherwise;
/// - `kind`: `rate_limited` for throttling (see `sdk_classify_options`), `error` otherwise;
/// - `error`: the HTTP status in `http_category()`, or, when no response arrived, the SDK's error type
///   in `sdk_category()`;
/// - `retry_after`: from `x-amz-retry-after` / `Retry-After`.
/// The message is static (the SDK's own message stays in the outcome, reachable through
/// `result::last_value()`). Precondition: `opts` is valid. Allocates nothing.
template <sdk_error E>
[[nodiscard]] failure sdk_failure(const E& e, std::chrono::system_clock::time_point now,
                                  const sdk_classify_options& opts = {}) {
    resilience::detail::enforce(opts.validate());
    const int status = sdk_response_code(e);
    const bool retryable = static_cast<bool>(e.ShouldRetry());
    const bool throttled = sdk_is_throttling(e);
    std::error_code ec;
    if (status > 0) {
        ec = make_http_error_code(status);
    } else if constexpr (detail::has_error_type<E>) {
        ec = std::error_code(static_cast<int>(e.GetErrorType()), sdk_category());
    } else {
        ec = std::make_error_code(std::errc::io_error);
    }
    std::string_view msg = throttled        ? "the AWS service throttled the request"
                           : status == 0    ? "the AWS SDK request got no response"
                           : retryable      ? "the AWS SDK call failed with a retryable error"
                                            : "the AWS SDK call failed with a non-retryable error";
    failure f = failure::from_error(ec, retryable || throttled ? transience::transient : transience::permanent, msg);
    if (throttled && opts.throttling_is_rate_limited) {
        f.kind = failure_kind::rate_limited;
        f.cause = failure_kind::rate_limited;
    }
    f.retry_after = sdk_retry_after(e, now, opts.max_retry_after);
    return f;
}

/// The failure an outcome represents, or nullopt when it succeeded.
template <sdk_outcome O>
[[nodiscard]] std::optional<failure> outcome_failure(const O& o, std::chrono::system_clock::time_point now,
                                                     const sdk_classify_options& opts = {}) {
    if (o.IsSuccess()) return std::nullopt;
    return sdk_failure(o.GetError(), now, opts);
}

/// The verdict on an outcome, as `retry` and `circuit_breaker` would reach it.
template <sdk_outcome O>
[[nodiscard]] verdict sdk_verdict(const O& o) {
    if (o.IsSuccess()) return verdict::success;
    return static_cast<bool>(o.GetError().ShouldRetry()) || sdk_is_throttling(o.GetError()) ? verdict::transient
                                                                                             : verdict::permanent;
}

/// Wraps an outcome in a `result`: the outcome itself on success; on failure, a failed result that
/// still holds the outcome (`result::last_value()`, for the SDK's message and request id) with the
/// failure from `sdk_failure`. Return it from the callable of a `resilient_call`:
/// `call([&] { return rs::aws::classify_outcome(client.GetItem(req)); })`.
template <class O>
    requires sdk_outcome<std::remove_cvref_t<O>>
[[nodiscard]] result<std::remove_cvref_t<O>> classify_outcome(O&& o,
                                                              std::chrono::system_clock::time_point now =
                                                                  std::chrono::system_clock::now(),
                                                              const sdk_classify_options& opts = {}) {
    using T = std::remove_cvref_t<O>;
    if (o.IsSuccess()) return result<T>(std::forward<O>(o));
    failure f = sdk_failure(o.GetError(), now, opts);
    return result<T>(failed_value, std::move(f), std::forward<O>(o));
}

/// Base for a `customize::outcome_classifier` specialisation, so that every composition whose callable
/// returns an SDK outcome classifies it, without wrapping each call:
/// \code
///   template <class R, class E>
///   struct resilience::customize::outcome_classifier<Aws::Utils::Outcome<R, E>>
///       : resilience::aws::sdk_outcome_classifier<Aws::Utils::Outcome<R, E>> {};
/// \endcode
/// Reads `system_clock::now()` for HTTP-date hints; uses the default `sdk_classify_options`.
template <class O>
struct sdk_outcome_classifier {
    static std::optional<failure> classify(const O& o) noexcept {
        return outcome_failure(o, std::chrono::system_clock::now());
    }
};

// --- the SDK's own retries ----------------------------------------------------------------------------------

namespace detail {

template <class MemFn>
struct first_param;
template <class C, class R, class A, class... Rest>
struct first_param<R (C::*)(A, Rest...) const> {
    using type = A;
};
template <class C, class R, class A, class... Rest>
struct first_param<R (C::*)(A, Rest...) const noexcept> {
    using type = A;
};

}  // namespace detail

/// A retry strategy for the SDK that never retries: with it, an SDK client makes exactly one attempt
/// per call and leaves retrying to `resilience::retry` (backoff, jitter, deadline, budget, breaker).
/// `Base` is the SDK's `Aws::Client::RetryStrategy`; the error type its `ShouldRetry` takes is
/// deduced, so this header needs no SDK include. Usually set through `disable_sdk_retries`.
/// Thread safety: stateless; the SDK calls it concurrently.
template <class Base>
class no_retry_strategy final : public Base {
    using error_ref = typename detail::first_param<decltype(&Base::ShouldRetry)>::type;

public:
    bool ShouldRetry(error_ref, long) const override { return false; }
    long CalculateDelayBeforeNextRetry(error_ref, long) const override { return 0; }
    long GetMaxAttempts() const override { return 1; }
};

/// Turns the SDK's own retries off for clients built from `config` (an
/// `Aws::Client::ClientConfiguration`), by installing a `no_retry_strategy`. Call it once, where the
/// client is built: it allocates the strategy.
///
/// Why: the SDK's default strategy makes up to 3 attempts (legacy: 11); under `rs::retry` with 4
/// attempts that is up to 12 requests, with two backoffs that ignore each other and the invocation's
/// deadline. Retrying in one place keeps the count, the delays and the deadline honest.
template <class Config>
void disable_sdk_retries(Config& config) {
    using strategy = typename decltype(config.retryStrategy)::element_type;
    config.retryStrategy = std::make_shared<no_retry_strategy<strategy>>();
}

/// The number of requests that can reach the service when `outer_attempts` attempts of
/// `resilience::retry` each run an SDK call that itself makes up to `sdk_attempts` attempts: the
/// product. A value of 0 for either is read as 1 (one attempt).
[[nodiscard]] constexpr std::uint64_t combined_attempts(std::uint32_t outer_attempts, std::uint32_t sdk_attempts) noexcept {
    return std::uint64_t{outer_attempts == 0 ? 1u : outer_attempts} * std::uint64_t{sdk_attempts == 0 ? 1u : sdk_attempts};
}

/// The number of attempts the SDK makes per call with this configuration: `GetMaxAttempts()` of its
/// retry strategy, or `fallback` when there is none or it does not say (the SDK's standard strategy
/// makes 3).
template <class Config>
[[nodiscard]] std::uint32_t sdk_max_attempts(const Config& config, std::uint32_t fallback = 3) {
    if (!config.retryStrategy) return fallback;
    const long n = config.retryStrategy->GetMaxAttempts();
    return n > 0 ? static_cast<std::uint32_t>(n) : fallback;
}

/// Caps the SDK's timeouts at `per_attempt` (the per-attempt budget of the composition, typically its
/// innermost `timeout`): connect and socket-read timeouts, and the whole-request timeout where the SDK
/// has one (`httpRequestTimeoutMs`, 0 = none, is then set). So no SDK wait outlives the attempt that
/// started it, and `attempt::remaining()` remains the truth. Timeouts already shorter are kept.
/// Precondition: `per_attempt` between 1 ms and 15 minutes (the longest a Lambda invocation runs);
/// violations are reported as for an invalid configuration.
template <class Config>
void align_sdk_timeouts(Config& config, duration per_attempt) {
    if (per_attempt < std::chrono::milliseconds(1) || per_attempt > std::chrono::minutes(15)) {
        resilience::detail::report_config_error({"align_sdk_timeouts.per_attempt",
                                                 "align_sdk_timeouts.per_attempt must be between 1 ms and 15 minutes"});
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(per_attempt).count();
    auto cap = [ms](auto& field) {
        using F = std::remove_reference_t<decltype(field)>;
        if (field <= 0 || static_cast<std::int64_t>(field) > ms) field = static_cast<F>(ms);
    };
    if constexpr (requires { config.connectTimeoutMs; }) cap(config.connectTimeoutMs);
    if constexpr (requires { config.requestTimeoutMs; }) cap(config.requestTimeoutMs);
    if constexpr (requires { config.httpRequestTimeoutMs; }) cap(config.httpRequestTimeoutMs);
}

}  // namespace resilience::aws
