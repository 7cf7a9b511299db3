// expect: resilience::resilient_call: a stateful policy runs on a different clock type than the composition
// SPDX-License-Identifier: MIT
//
// A stateful policy built on a manual_clock cannot share a composition listed with a steady_clock: the
// policy and the composition would measure time on different clocks.
#include <resilience/resilient_call.hpp>

class on_manual_clock {
public:
    using clock_type = resilience::manual_clock;
    explicit on_manual_clock(resilience::manual_clock& c) : clock_(&c) {}
    on_manual_clock(const on_manual_clock&) = delete;
    on_manual_clock& operator=(const on_manual_clock&) = delete;
    resilience::manual_clock& clock() { return *clock_; }

    template <class Ctx, class Next>
    auto execute(Ctx& ctx, Next&& next) {
        return next(ctx);
    }

private:
    resilience::manual_clock* clock_;
};

int main() {
    resilience::manual_clock clk;
    on_manual_clock guard{clk};
    resilience::resilient_call call{resilience::steady_clock{}, guard};
    return call([] { return 1; }).has_value() ? 0 : 1;
}
