// SPDX-License-Identifier: MIT
//
// Small helpers shared by the tests of the policies (bulkhead, rate_limiter).
#pragma once

#include <resilience/events.hpp>

#include <stdexcept>
#include <string>
#include <vector>

namespace resilience_test {

/// The text of the std::invalid_argument that `f` throws, or "<no exception>".
template <class F>
std::string invalid_argument_text(F f) {
    try {
        f();
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "<no exception>";
}

/// A listener that keeps every event as given: the views in a kept event (policy, name, call_id...)
/// are only as good as what they point to (a policy's name lives as long as the policy).
struct recorder {
    std::vector<resilience::event> events;
    void on_event(const resilience::event& e) { events.push_back(e); }
};

}  // namespace resilience_test
