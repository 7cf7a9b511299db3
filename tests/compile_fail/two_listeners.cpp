// expect: resilience::resilient_call: at most one listener may be listed
// SPDX-License-Identifier: MIT
//
// One listener per composition (a listener that fans out to several is the user's to write).
#include <resilience/resilient_call.hpp>

int main() {
    int events = 0;
    resilience::callback_listener log{[&](const resilience::event&) { ++events; }};
    resilience::callback_listener metrics{[&](const resilience::event&) { ++events; }};
    resilience::resilient_call call{log, metrics};
    return call([] { return 1; }).has_value() ? events : 1;
}
