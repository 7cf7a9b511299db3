// expect: resilience::resilient_call: at most one clock may be listed
// SPDX-License-Identifier: MIT
//
// One clock serves a composition.
#include <resilience/resilient_call.hpp>

int main() {
    resilience::manual_clock a;
    resilience::manual_clock b;
    resilience::resilient_call call{a, b};
    return call([] { return 1; }).has_value() ? 0 : 1;
}
