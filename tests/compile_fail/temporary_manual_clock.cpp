// expect: resilience::resilient_call: stateful objects (circuit_breaker, bulkhead, rate_limiter, sinks, manual_clock) are held by reference
// SPDX-License-Identifier: MIT
//
// A manual_clock has identity (tests advance it): a temporary one in a composition would dangle.
#include <resilience/resilient_call.hpp>

int main() {
    resilience::resilient_call call{resilience::manual_clock{}};
    return call([] { return 1; }).has_value() ? 0 : 1;
}
