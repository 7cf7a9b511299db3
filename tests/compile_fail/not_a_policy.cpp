// expect: resilience::resilient_call: this element is not a policy, a clock or a listener
// SPDX-License-Identifier: MIT
//
// An element with no `execute(ctx, next)` is neither a policy, a clock nor a listener: resilient_call
// must say so in one static_assert, not in a cascade of template errors.
#include <resilience/resilient_call.hpp>

struct not_a_policy {
    int retries = 3;
};

int main() {
    resilience::resilient_call call{not_a_policy{}};
    return call([] { return 1; }).has_value() ? 0 : 1;
}
