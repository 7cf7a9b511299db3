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
///
/// Opt-in: the core never includes it. Works with {fmt} 9 and later, with and without exceptions
/// (without them, a failure's exception is reported as present but not described).
///
/// Thread safety: formatting reads the value only. Allocation: none beyond what fmt's output needs
/// (the error code's message is a `std::string`, from `std::error_code::message`).

#include "detail/config.hpp"
#include "result.hpp"

#include <fmt/format.h>

#include <chrono>
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
