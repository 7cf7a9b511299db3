// expect: resilience::resilient_call: stateful objects (circuit_breaker, bulkhead, rate_limiter, sinks, manual_clock) are held by reference
// SPDX-License-Identifier: MIT
//
// A stateful (non-copyable, non-movable) object is held by reference, so it must be a named object that
// outlives the composition; a temporary would dangle.
#include <resilience/resilient_call.hpp>

#include <atomic>

class pinned_counter {
public:
    pinned_counter() = default;
    pinned_counter(const pinned_counter&) = delete;
    pinned_counter& operator=(const pinned_counter&) = delete;

    template <class Ctx, class Next>
    auto execute(Ctx& ctx, Next&& next) {
        calls_.fetch_add(1);
        return next(ctx);
    }

private:
    std::atomic<int> calls_{0};
};

int main() {
    resilience::resilient_call call{pinned_counter{}};
    return call([] { return 1; }).has_value() ? 0 : 1;
}
