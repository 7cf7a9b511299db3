// expect: resilience::retry: the classifier cannot classify this call's result<T>
// SPDX-License-Identifier: MIT
//
// A classifier returns a resilience::verdict (success, transient, permanent), not a bool: "should I
// retry?" cannot say "this is a success".
#include <resilience/resilient_call.hpp>
#include <resilience/retry.hpp>

struct retry_if_failed {
    bool operator()(const resilience::result<int>& r) const { return !r.has_value(); }
};

int main() {
    resilience::resilient_call call{resilience::retry{{}, retry_if_failed{}}};
    auto r = call([] { return 1; });
    (void)r;
}
