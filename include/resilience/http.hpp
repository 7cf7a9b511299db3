// SPDX-License-Identifier: MIT
#pragma once

/// \file http.hpp
/// HTTP for resilience policies: which status codes are failures worth retrying, an error category for
/// carrying a status in a `failure`, and parsing of the `Retry-After` response header.
///
/// Opt-in and standard-library only. The status table itself lives in one place,
/// `http_status_verdict` (classify.hpp); everything here builds on it, so the AWS SDK integration
/// (aws/sdk.hpp), a libcurl integration and users' own clients all agree on what a 503 means.
///
/// \code
///   rs::result<response> get(const request& req, const rs::attempt& a) {
///       response r = client.get(req, a.remaining());
///       auto now = std::chrono::system_clock::now();
///       auto wait = rs::parse_retry_after(r.header("Retry-After"), now).value_or(rs::duration::zero());
///       if (auto f = rs::http_status_failure(r.status, wait)) return {rs::failed_value, *f, std::move(r)};
///       return r;
///   }
/// \endcode
///
/// Thread safety: every function here is pure (no shared state) and may be called concurrently.
/// Time semantics: `Retry-After` is relative to the *wall clock* time the caller passes as `now` (an
/// HTTP-date is a wall-clock instant); the result is a duration, which policies then apply on their own
/// steady clock. Nothing here reads a clock.

#include "classify.hpp"
#include "clock.hpp"
#include "result.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace resilience {

// --- status classification -----------------------------------------------------------------------------

/// True for a status that another attempt may fix: 408, 429 and 5xx except 501 and 505 (see
/// `http_status_verdict`).
[[nodiscard]] constexpr bool is_transient_status(int status) noexcept {
    return http_status_verdict(status) == verdict::transient;
}

/// True for a failed status that no retry can fix: 4xx other than 408 and 429; 501; 505.
[[nodiscard]] constexpr bool is_permanent_status(int status) noexcept {
    return http_status_verdict(status) == verdict::permanent;
}

/// True when the dependency asked the caller to slow down: 429 Too Many Requests. A throttled call is
/// reported as `failure_kind::rate_limited` (the dependency is healthy and protecting itself), which a
/// circuit breaker does not count against it, while `retry` still retries it after the hinted delay.
[[nodiscard]] constexpr bool is_throttling_status(int status) noexcept { return status == 429; }

/// The reason phrase of the common status codes ("Service Unavailable"); empty for others.
[[nodiscard]] constexpr std::string_view http_reason_phrase(int status) noexcept {
    switch (status) {
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 204: return "No Content";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 304: return "Not Modified";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 409: return "Conflict";
        case 410: return "Gone";
        case 412: return "Precondition Failed";
        case 413: return "Content Too Large";
        case 415: return "Unsupported Media Type";
        case 422: return "Unprocessable Content";
        case 429: return "Too Many Requests";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        case 505: return "HTTP Version Not Supported";
        default: return {};
    }
}

namespace detail {

class http_error_category final : public std::error_category {
public:
    [[nodiscard]] const char* name() const noexcept override { return "http"; }
    [[nodiscard]] std::string message(int status) const override {
        std::string m = "HTTP " + std::to_string(status);
        auto phrase = http_reason_phrase(status);
        if (!phrase.empty()) {
            m += ' ';
            m.append(phrase.data(), phrase.size());
        }
        return m;
    }
};

}  // namespace detail

/// The error category whose values are HTTP status codes: `std::error_code{503, http_category()}`
/// prints as "HTTP 503 Service Unavailable". Thread-safe (a function-local static).
[[nodiscard]] inline const std::error_category& http_category() noexcept {
    static const detail::http_error_category category;
    return category;
}

/// `std::error_code{status, http_category()}`.
[[nodiscard]] inline std::error_code make_http_error_code(int status) noexcept { return {status, http_category()}; }

/// The failure a response with this status represents, or nullopt when the status is a success (below
/// 400; see `http_status_verdict`). The failure has kind `rate_limited` for 429 and `error` otherwise,
/// the hint `transient` or `permanent`, the status as `error` (in `http_category()`), and `retry_after`
/// (pass the parsed `Retry-After`, or zero). Allocates nothing; its message is static.
[[nodiscard]] inline std::optional<failure> http_status_failure(int status, duration retry_after = duration::zero()) noexcept {
    const verdict v = http_status_verdict(status);
    if (v == verdict::success) return std::nullopt;
    failure f = failure::from_error(make_http_error_code(status),
                                    v == verdict::transient ? transience::transient : transience::permanent,
                                    is_throttling_status(status) ? "the dependency throttled the call (HTTP 429)"
                                    : v == verdict::transient   ? "the dependency answered with a transient HTTP error"
                                                                : "the dependency answered with a permanent HTTP error");
    if (is_throttling_status(status)) {
        f.kind = failure_kind::rate_limited;
        f.cause = failure_kind::rate_limited;
    }
    f.retry_after = retry_after > duration::zero() ? retry_after : duration::zero();
    return f;
}

// --- Retry-After -----------------------------------------------------------------------------------------

/// How a `Retry-After` value was understood.
enum class retry_after_status : std::uint8_t {
    ok,         ///< a delay (delta-seconds) or a future HTTP-date, within the cap
    capped,     ///< a valid value beyond the cap: the delay is the cap (absurd values do not park a caller)
    past_date,  ///< a valid HTTP-date not in the future: the delay is zero ("retry now")
    empty,      ///< no value (absent header, or only whitespace)
    malformed,  ///< neither delta-seconds nor an HTTP-date
};

/// Stable name of a `retry_after_status`.
[[nodiscard]] constexpr std::string_view to_string(retry_after_status s) noexcept {
    switch (s) {
        case retry_after_status::ok: return "ok";
        case retry_after_status::capped: return "capped";
        case retry_after_status::past_date: return "past_date";
        case retry_after_status::empty: return "empty";
        case retry_after_status::malformed: return "malformed";
    }
    return "unknown";
}

/// The result of parsing a `Retry-After` value: a status and, when the status is `ok`, `capped` or
/// `past_date`, the delay (never negative, never above the cap).
struct retry_after_value {
    retry_after_status status = retry_after_status::empty;
    duration delay{0};

    /// True when the value was understood (`ok`, `capped`, `past_date`).
    [[nodiscard]] constexpr bool valid() const noexcept {
        return status == retry_after_status::ok || status == retry_after_status::capped ||
               status == retry_after_status::past_date;
    }
    constexpr explicit operator bool() const noexcept { return valid(); }
};

/// The default longest delay a `Retry-After` may ask for. A Lambda invocation lasts at most 15 minutes;
/// an hour is longer than any caller will wait, so a value beyond it is certainly a mistake.
inline constexpr duration default_retry_after_cap = std::chrono::hours(1);

namespace detail {

constexpr bool http_is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr char http_lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

constexpr bool http_iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (http_lower(a[i]) != http_lower(b[i])) return false;
    }
    return true;
}

/// Optional whitespace (SP / HTAB) stripped from both ends, as RFC 9110 allows around field values.
constexpr std::string_view http_trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

/// A cursor over a field value; every reader returns false (and the parse fails) on a mismatch.
struct http_cursor {
    std::string_view s{};
    std::size_t i = 0;

    constexpr bool done() const noexcept { return i == s.size(); }
    constexpr bool lit(char c) noexcept {
        if (i < s.size() && s[i] == c) {
            ++i;
            return true;
        }
        return false;
    }
    /// Exactly `n` digits.
    constexpr bool digits(std::size_t n, int& out) noexcept {
        if (s.size() - i < n) return false;
        int v = 0;
        for (std::size_t k = 0; k < n; ++k) {
            char c = s[i + k];
            if (!http_is_digit(c)) return false;
            v = v * 10 + (c - '0');
        }
        i += n;
        out = v;
        return true;
    }
    /// Letters up to the next non-letter.
    constexpr std::string_view word() noexcept {
        std::size_t b = i;
        while (i < s.size() && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z'))) ++i;
        return s.substr(b, i - b);
    }
};

inline constexpr std::string_view http_short_days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
inline constexpr std::string_view http_long_days[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                                      "Friday", "Saturday", "Sunday"};
inline constexpr std::string_view http_months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

constexpr bool http_day_name(std::string_view w, bool long_form) noexcept {
    if (long_form) {
        for (auto d : http_long_days) {
            if (http_iequals(w, d)) return true;
        }
    } else {
        for (auto d : http_short_days) {
            if (http_iequals(w, d)) return true;
        }
    }
    return false;
}

constexpr int http_month(std::string_view w) noexcept {
    for (int m = 0; m < 12; ++m) {
        if (http_iequals(w, http_months[m])) return m + 1;
    }
    return 0;
}

/// "HH:MM:SS" with hour 0-23, minute 0-59, second 0-60 (a leap second is accepted).
constexpr bool http_time_of_day(http_cursor& c, int& h, int& m, int& s) noexcept {
    return c.digits(2, h) && c.lit(':') && c.digits(2, m) && c.lit(':') && c.digits(2, s) && h <= 23 &&
           m <= 59 && s <= 60;
}

/// Seconds since the Unix epoch of a civil UTC date and time, or nullopt for an impossible date.
inline std::optional<std::int64_t> http_epoch_seconds(int year, int month, int day, int h, int m, int s) noexcept {
    using namespace std::chrono;
    const year_month_day ymd{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                             std::chrono::day{static_cast<unsigned>(day)}};
    if (!ymd.ok()) return std::nullopt;
    const std::int64_t day_count = sys_days{ymd}.time_since_epoch().count();
    return day_count * 86400 + h * 3600 + m * 60 + s;
}

}  // namespace detail

/// Parses an HTTP-date in any of the three forms RFC 9110 (section 5.6.7) requires a recipient to
/// accept, returning the instant as seconds since the Unix epoch (UTC):
/// - IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT` (the one senders must use);
/// - obsolete RFC 850 `Sunday, 06-Nov-94 08:49:37 GMT`, whose two-digit year is read, as RFC 9110
///   requires, as the most recent year with those digits that is not more than 50 years after
///   `now_year`;
/// - obsolete asctime `Sun Nov  6 08:49:37 1994`.
///
/// Day and month names are matched case-insensitively (robustness, as RFC 9110 encourages); the
/// weekday must be a valid name but is not checked against the date. Surrounding whitespace is ignored;
/// anything else out of place gives nullopt, as does an impossible date (Feb 30) or time (25:00:00).
[[nodiscard]] inline std::optional<std::int64_t> parse_http_date_seconds(std::string_view text, int now_year) noexcept {
    detail::http_cursor c{detail::http_trim(text)};
    const std::string_view day_name = c.word();
    int day = 0, month = 0, year = 0, h = 0, mi = 0, s = 0;
    if (c.lit(',')) {
        if (!c.lit(' ')) return std::nullopt;
        if (detail::http_day_name(day_name, false)) {
            // IMF-fixdate: DD SP Mon SP YYYY SP HH:MM:SS SP GMT
            if (!c.digits(2, day) || !c.lit(' ')) return std::nullopt;
            month = detail::http_month(c.word());
            if (month == 0 || !c.lit(' ') || !c.digits(4, year) || !c.lit(' ')) return std::nullopt;
        } else if (detail::http_day_name(day_name, true)) {
            // RFC 850: DD-Mon-YY SP HH:MM:SS SP GMT
            int yy = 0;
            if (!c.digits(2, day) || !c.lit('-')) return std::nullopt;
            month = detail::http_month(c.word());
            if (month == 0 || !c.lit('-') || !c.digits(2, yy) || !c.lit(' ')) return std::nullopt;
            // The latest year ending in `yy` that is at most 50 years in the future.
            int century = now_year - ((now_year % 100) + 100) % 100;
            year = century + yy;
            if (year > now_year + 50) {
                year -= 100;
            } else if (year + 100 <= now_year + 50) {
                year += 100;
            }
        } else {
            return std::nullopt;
        }
        if (!detail::http_time_of_day(c, h, mi, s) || !c.lit(' ')) return std::nullopt;
        if (!detail::http_iequals(c.word(), "GMT") || !c.done()) return std::nullopt;
    } else {
        // asctime: Mon SP (DD / SP D) SP HH:MM:SS SP YYYY
        if (!detail::http_day_name(day_name, false) || !c.lit(' ')) return std::nullopt;
        month = detail::http_month(c.word());
        if (month == 0 || !c.lit(' ')) return std::nullopt;
        if (c.lit(' ')) {
            if (!c.digits(1, day)) return std::nullopt;
        } else if (!c.digits(2, day)) {
            return std::nullopt;
        }
        if (!c.lit(' ') || !detail::http_time_of_day(c, h, mi, s) || !c.lit(' ') || !c.digits(4, year) ||
            !c.done()) {
            return std::nullopt;
        }
    }
    return detail::http_epoch_seconds(year, month, day, h, mi, s);
}

/// True when two HTTP field (header) names are equal; field names are case-insensitive (RFC 9110
/// section 5.1): `http_field_name_equals("Retry-After", "retry-after")`.
[[nodiscard]] constexpr bool http_field_name_equals(std::string_view a, std::string_view b) noexcept {
    return detail::http_iequals(a, b);
}

/// `parse_http_date_seconds` as a `system_clock` time point, with two-digit years resolved against
/// `now`. Returns nullopt for a malformed date or one outside the range of `system_clock`.
[[nodiscard]] inline std::optional<std::chrono::system_clock::time_point> parse_http_date(
    std::string_view text, std::chrono::system_clock::time_point now) noexcept {
    using namespace std::chrono;
    const int now_year = static_cast<int>(year_month_day{floor<days>(now)}.year());
    auto secs = parse_http_date_seconds(text, now_year);
    if (!secs) return std::nullopt;
    // system_clock counts nanoseconds on common platforms: about +-292 years around 1970.
    constexpr auto lo = duration_cast<seconds>(system_clock::duration::min()).count() + 1;
    constexpr auto hi = duration_cast<seconds>(system_clock::duration::max()).count() - 1;
    if (*secs < lo || *secs > hi) return std::nullopt;
    return system_clock::time_point{duration_cast<system_clock::duration>(seconds{*secs})};
}

/// Parses a `Retry-After` field value (RFC 9110 section 10.2.3): either delta-seconds (one or more
/// digits, no sign, no fraction) or an HTTP-date (see `parse_http_date_seconds`), relative to the wall
/// clock time `now` at which the response was received.
///
/// - A delay above `cap` is clamped to it (`capped`); a huge number of seconds never overflows.
/// - A date not after `now` gives a zero delay (`past_date`).
/// - An empty or whitespace-only value gives `empty`; anything else that is not valid gives
///   `malformed`, with a zero delay.
/// Precondition: none; a negative `cap` is treated as zero. Allocates nothing, never throws.
[[nodiscard]] inline retry_after_value parse_retry_after_header(std::string_view value,
                                                                std::chrono::system_clock::time_point now,
                                                                duration cap = default_retry_after_cap) noexcept {
    using namespace std::chrono;
    if (cap < duration::zero()) cap = duration::zero();
    const std::string_view v = detail::http_trim(value);
    if (v.empty()) return {retry_after_status::empty, duration::zero()};
    // Compare in whole seconds first, so that neither a long digit string nor a date centuries away
    // overflows the nanosecond duration.
    const std::int64_t cap_s = duration_cast<seconds>(cap).count();
    if (detail::http_is_digit(v.front())) {
        std::int64_t secs = 0;
        bool over = false;
        for (char ch : v) {
            if (!detail::http_is_digit(ch)) return {retry_after_status::malformed, duration::zero()};
            if (!over) {
                secs = secs * 10 + (ch - '0');
                if (secs > cap_s) over = true;
            }
        }
        if (over) return {retry_after_status::capped, cap};
        return {retry_after_status::ok, duration_cast<duration>(seconds{secs})};
    }
    const int now_year = static_cast<int>(year_month_day{floor<days>(now)}.year());
    auto date_s = parse_http_date_seconds(v, now_year);
    if (!date_s) return {retry_after_status::malformed, duration::zero()};
    const std::int64_t now_s = duration_cast<seconds>(now.time_since_epoch()).count();
    // Dates carry whole seconds; compare against `now` at sub-second precision for the final delay.
    if (*date_s - now_s > cap_s) return {retry_after_status::capped, cap};
    const auto date_tp = sys_seconds{seconds{*date_s}};
    if (date_tp <= now) return {retry_after_status::past_date, duration::zero()};
    auto d = duration_cast<duration>(date_tp - now);
    if (d > cap) return {retry_after_status::capped, cap};
    return {retry_after_status::ok, d};
}

/// The delay a `Retry-After` value asks for, or nullopt when it is empty or malformed. See
/// `parse_retry_after_header` for the rules (capped at `cap`; a past date is a zero delay).
[[nodiscard]] inline std::optional<duration> parse_retry_after(std::string_view value,
                                                               std::chrono::system_clock::time_point now,
                                                               duration cap = default_retry_after_cap) noexcept {
    auto r = parse_retry_after_header(value, now, cap);
    if (!r.valid()) return std::nullopt;
    return r.delay;
}

}  // namespace resilience
