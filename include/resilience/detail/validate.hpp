// SPDX-License-Identifier: MIT
#pragma once

// Validation of config structs, shared by every policy.
//
// Each options struct has `std::optional<config_error> validate() const noexcept`. Constructors call
// `enforce(opts.validate())`: with exceptions enabled a bad value throws `std::invalid_argument` whose
// text names the field and the allowed range; without exceptions it aborts with the same text on
// stderr. Code built with -fno-exceptions that takes configuration from outside calls `validate()` (or
// a `make_*` factory returning `result`) first and handles the error itself.

#include "../result.hpp"
#include "config.hpp"

#include <optional>
#include <string_view>
#include <system_error>

#if RESILIENCE_HAS_EXCEPTIONS
#include <stdexcept>
#include <string>
#endif

namespace resilience {

/// What is wrong with a configuration: the field ("retry_options.max_attempts") and a sentence that
/// names the allowed range ("retry_options.max_attempts must be between 1 and 1000"). Both are static
/// strings.
struct config_error {
    std::string_view field{};
    std::string_view message{};
};

namespace detail {

[[noreturn]] inline void report_config_error(const config_error& e) {
#if RESILIENCE_HAS_EXCEPTIONS
    throw std::invalid_argument(std::string("resilience: invalid configuration: ") + std::string(e.message));
#else
    std::fputs("resilience: invalid configuration: ", stderr);
    std::fwrite(e.message.data(), 1, e.message.size(), stderr);
    std::fputc('\n', stderr);
    std::abort();
#endif
}

/// Throws (or aborts) when `e` holds an error.
inline void enforce(const std::optional<config_error>& e) {
    if (e) report_config_error(*e);
}

/// A failure describing a configuration error, for `make_*` factories that return `result`.
[[nodiscard]] inline failure config_failure(const config_error& e) noexcept {
    failure f = failure::from_error(std::make_error_code(std::errc::invalid_argument), transience::permanent, e.message);
    return f;
}

}  // namespace detail
}  // namespace resilience
