// SPDX-License-Identifier: MIT
//
// Catch2 StringMaker specialisations, so that a failed CHECK on a resilience enum or time point prints
// a name (or a count of nanoseconds) instead of a number. Include after "support/catch.hpp".
#pragma once

#include <resilience/clock.hpp>
#include <resilience/events.hpp>
#include <resilience/result.hpp>

#include <string>

namespace Catch {
template <>
struct StringMaker<resilience::failure_kind> {
    static std::string convert(resilience::failure_kind k) { return std::string(resilience::to_string(k)); }
};
template <>
struct StringMaker<resilience::event_type> {
    static std::string convert(resilience::event_type t) { return std::string(resilience::to_string(t)); }
};
template <>
struct StringMaker<resilience::time_point> {
    static std::string convert(resilience::time_point t) { return std::to_string(t.time_since_epoch().count()) + "ns"; }
};
}  // namespace Catch
