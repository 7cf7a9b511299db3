// expect: resilience::result<T>: T must not be a reference
// SPDX-License-Identifier: MIT
//
// A result owns its value; a reference would dangle once the callable's frame is gone.
#include <resilience/result.hpp>

int main() {
    int x = 1;
    resilience::result<int&> r = x;
    return r.has_value() ? 0 : 1;
}
