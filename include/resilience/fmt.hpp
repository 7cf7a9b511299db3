// SPDX-License-Identifier: MIT
#pragma once
// resilience: requires fmt

/// \file fmt.hpp
/// `fmt::formatter` specialisations for the library's types, so that logs read
/// `fmt::print("{}\n", r.error())`:
///
/// | type | `{}` | other specs |
/// |---|---|---|
/// | `failure_kind`, `transience` | the stable name (`circuit_open`) | any string spec: `{:>14}` |
/// | `failure` | kind, cause, hint, attempts, elapsed, message, error, retry-after, exception | `{:s}`: kind and message only |
/// | `circuit_state` | the stable name (`half_open`) | any string spec |
/// | `dead_letter_record` | a one-line summary: id, source, kind, attempts, time, message, payload size | `{:j}`: its JSON Lines form |
///
/// Opt-in: the core never includes it. Works with {fmt} 9 and later, with and without exceptions
/// (without them, a failure's exception is reported as present but not described).
///
/// Thread safety: formatting reads the value only. Allocation: none beyond what fmt's output needs
/// (the error code's message is a `std::string`, from `std::error_code::message`).

#include "circuit_breaker.hpp"
#include "dead_letter.hpp"
#include "detail/config.hpp"
#include "result.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <string_view>

namespace resilience::detail {

/// Writes a duration in the largest unit that keeps it readable: "850us", "120ms", "2.5s".
template <class Out>
Out format_short_duration(Out out, std::chrono::nanoseconds d) {
    using namespace std::chrono;
    const auto ns = d.count();
    const auto abs_ns = ns < 0 ? -ns : ns;
    if (abs_ns < 1'000) return fmt::format_to(out, "{}ns", ns);
    if (abs_ns < 1'000'000) return fmt::format_to(out, "{}us", duration_cast<microseconds>(d).count());
    if (abs_ns < 1'000'000'000) return fmt::format_to(out, "{}ms", duration_cast<milliseconds>(d).count());
    return fmt::format_to(out, "{}s", static_cast<double>(duration_cast<milliseconds>(d).count()) / 1000.0);
}

[[nodiscard]] constexpr std::string_view to_name(transience t) noexcept {
    switch (t) {
        case transience::unknown: return "unknown";
        case transience::transient: return "transient";
        case transience::permanent: return "permanent";
    }
    return "unknown";
}

/// Writes a wall-clock time as ISO 8601 UTC with milliseconds: 2026-01-01T12:00:00.250Z.
template <class Out>
Out format_utc_millis(Out out, std::chrono::sys_time<std::chrono::milliseconds> t) {
    using namespace std::chrono;
    const auto midnight = floor<days>(t);
    const year_month_day ymd{midnight};
    const hh_mm_ss<milliseconds> hms{t - midnight};
    return fmt::format_to(out, "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(ymd.year()),
                          static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), hms.hours().count(),
                          hms.minutes().count(), hms.seconds().count(), hms.subseconds().count());
}

}  // namespace resilience::detail

/// `failure_kind` formats as its stable name; string format specs apply (`{:>14}`).
template <>
struct fmt::formatter<resilience::failure_kind> : fmt::formatter<std::string_view> {
    template <class FormatContext>
    auto format(resilience::failure_kind k, FormatContext& ctx) const -> decltype(ctx.out()) {
        return fmt::formatter<std::string_view>::format(resilience::to_string(k), ctx);
    }
};

/// `transience` formats as `unknown`, `transient` or `permanent`; string format specs apply.
template <>
struct fmt::formatter<resilience::transience> : fmt::formatter<std::string_view> {
    template <class FormatContext>
    auto format(resilience::transience t, FormatContext& ctx) const -> decltype(ctx.out()) {
        return fmt::formatter<std::string_view>::format(resilience::detail::to_name(t), ctx);
    }
};

/// `failure`: `{}` gives everything known, on one line:
/// `timeout (cause error, transient) after 3 attempts in 1.25s: the attempt ran out of time
/// [error http:503 HTTP 503 Service Unavailable] [retry after 2s] [exception: ...]`;
/// `{:s}` gives the kind and the message: `timeout: the attempt ran out of time`.
/// Parts that are empty (no cause, no error, no hint) are left out.
template <>
struct fmt::formatter<resilience::failure> {
    bool short_form = false;

    constexpr auto parse(fmt::format_parse_context& ctx) -> decltype(ctx.begin()) {
        auto it = ctx.begin();
        if (it != ctx.end() && *it == 's') {
            short_form = true;
            ++it;
        }
        if (it != ctx.end() && *it != '}') FMT_THROW(fmt::format_error("resilience::failure: the only format spec is 's'"));
        return it;
    }

    template <class FormatContext>
    auto format(const resilience::failure& f, FormatContext& ctx) const -> decltype(ctx.out()) {
        auto out = ctx.out();
        const std::string_view msg = f.message.empty() ? std::string_view("the call failed") : f.message;
        if (short_form) return fmt::format_to(out, "{}: {}", f.kind, msg);
        out = fmt::format_to(out, "{}", f.kind);
        const bool has_cause = f.cause != f.kind;
        const bool has_hint = f.hint != resilience::transience::unknown;
        if (has_cause || has_hint) {
            *out++ = ' ';
            *out++ = '(';
            if (has_cause) out = fmt::format_to(out, "cause {}", f.cause);
            if (has_cause && has_hint) out = fmt::format_to(out, ", ");
            if (has_hint) out = fmt::format_to(out, "{}", f.hint);
            *out++ = ')';
        }
        out = fmt::format_to(out, " after {} attempt{} in ", f.attempts, f.attempts == 1 ? "" : "s");
        out = resilience::detail::format_short_duration(out, f.elapsed);
        out = fmt::format_to(out, ": {}", msg);
        if (f.error) out = fmt::format_to(out, " [error {}:{} {}]", f.error.category().name(), f.error.value(), f.error.message());
        if (f.sink_error) {
            out = fmt::format_to(out, " [sink error {}:{} {}]", f.sink_error.category().name(), f.sink_error.value(),
                                 f.sink_error.message());
        }
        if (f.retry_after > std::chrono::nanoseconds::zero()) {
            out = fmt::format_to(out, " [retry after ");
            out = resilience::detail::format_short_duration(out, f.retry_after);
            *out++ = ']';
        }
        if (f.exception) {
#if RESILIENCE_HAS_EXCEPTIONS
            try {
                std::rethrow_exception(f.exception);
            } catch (const std::exception& e) {
                out = fmt::format_to(out, " [exception: {}]", e.what());
            } catch (...) {
                out = fmt::format_to(out, " [exception: not a std::exception]");
            }
#else
            out = fmt::format_to(out, " [exception]");
#endif
        }
        return out;
    }
};

/// `circuit_state` formats as its stable name (`closed`, `open`, `half_open`, `isolated`); string format
/// specs apply.
template <>
struct fmt::formatter<resilience::circuit_state> : fmt::formatter<std::string_view> {
    template <class FormatContext>
    auto format(resilience::circuit_state s, FormatContext& ctx) const -> decltype(ctx.out()) {
        return fmt::formatter<std::string_view>::format(resilience::to_string(s), ctx);
    }
};

/// `dead_letter_record`: `{}` gives a one-line summary for logs,
/// `dead letter 42 from orders-api: timeout (cause error, transient) after 3 attempts in 2.5s at
/// 2026-01-01T12:00:02.500Z: the attempt ran out of time [error ...] [exception: ...] (payload 18 bytes)`;
/// `{:j}` gives the record's JSON Lines form (`to_json()`, one line, no newline).
template <>
struct fmt::formatter<resilience::dead_letter_record> {
    bool as_json = false;

    constexpr auto parse(fmt::format_parse_context& ctx) -> decltype(ctx.begin()) {
        auto it = ctx.begin();
        if (it != ctx.end() && *it == 'j') {
            as_json = true;
            ++it;
        }
        if (it != ctx.end() && *it != '}') {
            FMT_THROW(fmt::format_error("resilience::dead_letter_record: the only format spec is 'j'"));
        }
        return it;
    }

    template <class FormatContext>
    auto format(const resilience::dead_letter_record& r, FormatContext& ctx) const -> decltype(ctx.out()) {
        auto out = ctx.out();
        if (as_json) return fmt::format_to(out, "{}", r.to_json());
        out = fmt::format_to(out, "dead letter {}{} from {}: {}", r.id, r.id_generated ? " (generated)" : "", r.source, r.kind);
        const bool has_cause = r.cause != r.kind;
        const bool has_hint = r.hint != resilience::transience::unknown;
        if (has_cause || has_hint) {
            *out++ = ' ';
            *out++ = '(';
            if (has_cause) out = fmt::format_to(out, "cause {}", r.cause);
            if (has_cause && has_hint) out = fmt::format_to(out, ", ");
            if (has_hint) out = fmt::format_to(out, "{}", r.hint);
            *out++ = ')';
        }
        out = fmt::format_to(out, " after {} attempt{} in ", r.attempts, r.attempts == 1 ? "" : "s");
        out = resilience::detail::format_short_duration(out, r.elapsed);
        out = fmt::format_to(out, " at ");
        out = resilience::detail::format_utc_millis(out, r.last_attempt);
        out = fmt::format_to(out, ": {}", r.message.empty() ? std::string_view("the call failed") : std::string_view(r.message));
        if (!r.error_category.empty()) out = fmt::format_to(out, " [error {}:{} {}]", r.error_category, r.error_value, r.error_message);
        if (!r.exception_message.empty()) out = fmt::format_to(out, " [exception: {}]", r.exception_message);
        return fmt::format_to(out, " (payload {} bytes)", r.payload.size());
    }
};
