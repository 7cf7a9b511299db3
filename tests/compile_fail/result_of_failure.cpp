// expect: resilience::result<T>: T must not be resilience::failure
// SPDX-License-Identifier: MIT
//
// result<failure> would make success and failure indistinguishable.
#include <resilience/result.hpp>

int main() {
    resilience::result<resilience::failure> r = resilience::failure{};
    return r.has_value() ? 0 : 1;
}
