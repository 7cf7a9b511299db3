// SPDX-License-Identifier: MIT
//
// A circuit breaker in front of a flaky dependency.
//
// The dependency (a fake inventory service) goes down for a while and comes back. The breaker trips
// after five consecutive failures, rejects calls at once while open (no time wasted on a dead service,
// and a `retry_after` telling the caller when to come back), lets one probe through after the open
// duration, and closes when the probe succeeds. State changes are printed by a listener.
//
// It runs on a `manual_clock` so that the 30 s of the open duration pass instantly; in a real program
// drop the clock argument and the breaker uses the steady clock. Standard library only; builds with
// -fno-exceptions -fno-rtti. The snippets between "docs/circuit_breaker.md" markers appear in
// docs/circuit_breaker.md.

#include <resilience/circuit_breaker.hpp>
#include <resilience/classify.hpp>
#include <resilience/resilient_call.hpp>

#include <chrono>
#include <cstdio>
#include <string_view>

namespace rs = resilience;
using namespace std::chrono_literals;

namespace {

// docs/circuit_breaker.md: quick start
// Long-lived: one breaker per dependency, for the life of the process (a Lambda execution environment is
// reused across invocations). Thread-safe.
static rs::circuit_breaker inventory_breaker{{.failure_threshold = 5, .open_duration = 30s}};

rs::result<int> stock_level(std::string_view sku, const rs::call_options& opts);  // calls the service

rs::result<int> guarded_stock_level(std::string_view sku, const rs::call_options& opts) {
    rs::resilient_call call{inventory_breaker};
    return call([&] { return stock_level(sku, opts); }, opts);
    // On an open circuit: a failure of kind circuit_open, with retry_after, and stock_level not called.
}
// docs/circuit_breaker.md: end

rs::result<int> stock_level(std::string_view sku, const rs::call_options&) { return static_cast<int>(sku.size()); }

// docs/circuit_breaker.md: options
// A service behind a load balancer, called by many concurrent requests: trip on the failure rate of the
// last 100 calls (once 20 have been seen) or when half of them take longer than 2 s; stay open 10 s,
// doubling on each failed probe up to 5 min, spread by ±20% so that a fleet does not probe in step; let
// 3 probes through.
const rs::circuit_breaker_options payments_options{
    .name = "payments",
    .failure_threshold = 0,  // no consecutive-failure condition: rates only
    .failure_rate_threshold = 0.5,
    .slow_call_rate_threshold = 0.5,
    .slow_call_duration = 2s,
    .window = rs::breaker_window::count(100),
    .minimum_calls = 20,
    .open_duration = 10s,
    .open_duration_max = 5min,
    .open_backoff_multiplier = 2.0,
    .open_jitter = 0.2,
    .half_open_probes = 3,
};
// The same over time: the outcomes of the last minute, in 12 buckets of 5 s.
const rs::circuit_breaker_options search_options{
    .name = "search",
    .failure_rate_threshold = 0.25,
    .window = rs::breaker_window::time(60s, 12),
    .minimum_calls = 50,
};
// docs/circuit_breaker.md: end

// docs/circuit_breaker.md: validate
// Options read from configuration, in a program built with -fno-exceptions: check them first (the
// constructor would abort on a bad value).
bool options_ok(const rs::circuit_breaker_options& o) {
    if (auto err = o.validate()) {
        std::fprintf(stderr, "bad breaker configuration: %.*s\n", static_cast<int>(err->message.size()),
                     err->message.data());
        return false;
    }
    return true;
}
// docs/circuit_breaker.md: end

/// The fake dependency: fails while `down` is set.
struct inventory_service {
    bool down = false;
    int calls = 0;
    rs::result<int> get(int sku) {
        ++calls;
        if (down) return rs::failure::from_error(std::make_error_code(std::errc::connection_refused));
        return sku * 10;
    }
};

// docs/circuit_breaker.md: listener
/// Prints state changes. Events are emitted outside the breaker's lock.
struct print_listener {
    void on_event(const rs::event& e) {
        if (e.type == rs::event_type::state_changed) {
            std::printf("  [%.*s] %.*s -> %.*s\n", static_cast<int>(e.name.size()), e.name.data(),
                        static_cast<int>(e.from.size()), e.from.data(), static_cast<int>(e.to.size()), e.to.data());
        }
    }
};
// docs/circuit_breaker.md: end

double seconds(rs::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

int main() {
    if (!options_ok(payments_options) || !options_ok(search_options)) return 1;
    if (!guarded_stock_level("sku-1", {})) return 1;

    rs::manual_clock clock;  // virtual time: the demo's 30 s pass instantly
    rs::circuit_breaker breaker{{.name = "inventory", .failure_threshold = 5, .open_duration = 30s}, clock};
    print_listener log;
    inventory_service service;

    auto get = [&](int sku) {
        rs::resilient_call call{breaker, log};
        return call([&] { return service.get(sku); });
    };

    std::printf("the service goes down\n");
    service.down = true;
    for (int i = 0; i < 8; ++i) {
        auto r = get(i);
        if (r.has_value()) continue;
        if (r.error().kind == rs::failure_kind::circuit_open) {
            std::printf("call %d rejected: retry after %.1f s\n", i, seconds(r.error().retry_after));
        } else {
            std::printf("call %d failed: %s\n", i, r.error().error.message().c_str());
        }
        clock.advance(1s);
    }
    std::printf("the service was called %d times for 8 requests\n", service.calls);

    std::printf("30 s later the service is back\n");
    service.down = false;
    clock.advance(30s);
    auto probe = get(42);
    std::printf("probe: %s (%d)\n", probe.has_value() ? "ok" : "failed", probe.has_value() ? *probe : 0);

    // docs/circuit_breaker.md: metrics
    const rs::circuit_breaker_metrics m = breaker.metrics();
    std::printf("state %.*s: %llu successes, %llu failures, %llu rejected, opened %llu times\n",
                static_cast<int>(rs::to_string(m.state).size()), rs::to_string(m.state).data(),
                static_cast<unsigned long long>(m.successes), static_cast<unsigned long long>(m.failures),
                static_cast<unsigned long long>(m.rejected), static_cast<unsigned long long>(m.times_opened));
    // docs/circuit_breaker.md: end

    // docs/circuit_breaker.md: permits
    // Without a composition: take a permit, call, report. A permit dropped without a report counts as
    // a failure, so an early return cannot leave a half-open breaker waiting for its probe.
    if (auto permit = breaker.try_acquire()) {
        rs::result<int> r = service.get(7);
        permit->record(r);  // classified like the policy would
    } else {
        std::printf("rejected, retry after %.1f s\n", seconds(permit.error().retry_after));
    }
    // docs/circuit_breaker.md: end

    // docs/circuit_breaker.md: isolate
    breaker.isolate();  // maintenance: reject everything, whatever the time
    auto r = get(1);
    std::printf("isolated: %s (hint permanent: %s)\n", r.has_value() ? "ran" : "rejected",
                !r.has_value() && r.error().hint == rs::transience::permanent ? "yes" : "no");
    breaker.reset();  // closed, with empty counts
    // docs/circuit_breaker.md: end

    return breaker.state() == rs::circuit_state::closed && service.calls == 7 ? 0 : 1;
}
