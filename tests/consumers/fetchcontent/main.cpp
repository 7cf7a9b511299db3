// SPDX-License-Identifier: MIT
// A downstream program: proves the package is consumable (see CMakeLists.txt beside this file).
#include <resilience/resilience.hpp>

int main() {
    resilience::resilient_call call{resilience::retry{}};
    auto r = call([] { return 42; });
    return r.has_value() && *r == 42 ? 0 : 1;
}
