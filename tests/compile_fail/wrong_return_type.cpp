// expect: resilience::resilient_call: a policy's `execute(ctx, next)` must return exactly the `result<T>` type
// SPDX-License-Identifier: MIT
//
// A policy's execute must return exactly what next(ctx) returns; returning a bool (or a result of
// another type) is rejected with the policy-specific message.
#include <resilience/resilient_call.hpp>

struct wrong_return_type {
    template <class Ctx, class Next>
    bool execute(Ctx& ctx, Next&& next) {
        return next(ctx).has_value();
    }
};

int main() {
    resilience::resilient_call call{wrong_return_type{}};
    return call([] { return 1; }).has_value() ? 0 : 1;
}
