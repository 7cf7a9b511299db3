// SPDX-License-Identifier: MIT
//
// Retry: backoff and jitter, HTTP-style classification, a Retry-After hint, a deadline that is never
// overslept, and a retry budget shared by many calls.
//
// A fake orders service answers with HTTP-like status codes. Retry runs it again after a 5xx, a 429 or
// a 408, never after another 4xx, and the last response stays reachable when it gives up. A listener
// prints each scheduled retry.
//
// Everything runs on a `manual_clock`, so the backoffs pass instantly and the printed times are exact;
// in a real program drop `clock` from the compositions and retry sleeps on the steady clock. Standard
// library only; builds with -fno-exceptions -fno-rtti. The snippets between "docs/retry.md" markers
// appear in docs/retry.md.

#include <resilience/backoff.hpp>
#include <resilience/classify.hpp>
#include <resilience/clock.hpp>
#include <resilience/events.hpp>
#include <resilience/resilient_call.hpp>
#include <resilience/retry.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string_view>

namespace rs = resilience;
using namespace std::chrono_literals;

namespace {

rs::manual_clock clock;  // virtual time: see the file comment
rs::time_point section_start = clock.now();

long long ms(rs::duration d) { return static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()); }
/// Virtual time since the start of the current section.
long long now_ms() { return ms(clock.now() - section_start); }
void section(const char* title) {
    section_start = clock.now();
    std::printf("%s\n", title);
}

struct http_response {
    int status;
};

/// A fake service that answers with the statuses it is given, then repeats the last one.
struct orders_service {
    const int* statuses;
    int count;
    int calls = 0;
    http_response get(std::string_view /*order_id*/, rs::duration /*timeout*/) {
        const int i = calls < count ? calls : count - 1;
        ++calls;
        return {statuses[i]};
    }
};

/// Prints what retry decides.
struct print_retries {
    void on_event(const rs::event& e) const {
        if (e.type == rs::event_type::retry_scheduled) {
            std::printf("  t=%5lld ms  attempt %u failed, retrying in %lld ms\n", now_ms(), e.attempt, ms(e.delay));
        } else if (e.type == rs::event_type::retries_exhausted) {
            const auto kind = rs::to_string(e.kind);
            std::printf("  t=%5lld ms  giving up after attempt %u (%.*s)\n", now_ms(), e.attempt,
                        static_cast<int>(kind.size()), kind.data());
        } else if (e.type == rs::event_type::budget_exhausted) {
            std::printf("  t=%5lld ms  retry budget empty: no retry\n", now_ms());
        }
    }
};
print_retries listener;

// docs/retry.md: quick start
// Retry 5xx, 429 and 408 responses up to 4 attempts in all, waiting 50 ms, 100 ms, 200 ms... (at most
// 2 s) with full jitter; never after another 4xx.
rs::result<http_response> get_order(orders_service& orders, std::string_view id, const rs::call_options& opts) {
    rs::resilient_call call{
        rs::retry{{.max_attempts = 4, .backoff = rs::exponential_backoff{50ms, 2s, rs::full_jitter}},
                  rs::classify_values{[](const http_response& r) { return rs::http_status_verdict(r.status); }}},
        clock, listener,  // for this example only: virtual time and printed events
    };
    return call([&](const rs::attempt& a) { return orders.get(id, a.remaining()); }, opts);
}
// docs/retry.md: end

void print_outcome(const rs::result<http_response>& r) {
    if (r) {
        std::printf("  -> HTTP %d after %lld ms\n", r->status, now_ms());
        return;
    }
    const auto kind = rs::to_string(r.error().kind);
    const auto cause = rs::to_string(r.error().cause);
    std::printf("  -> failed: %.*s (cause %.*s), attempts: %u, elapsed: %lld ms", static_cast<int>(kind.size()), kind.data(),
                static_cast<int>(cause.size()), cause.data(), r.error().attempts, ms(r.error().elapsed));
    if (const http_response* last = r.last_value()) std::printf("; last response HTTP %d", last->status);
    std::printf("\n");
}

void flaky_service() {
    section("1. A flaky service: 503, 503, then 200");
    static constexpr int statuses[] = {503, 503, 200};
    orders_service orders{statuses, 3};
    print_outcome(get_order(orders, "o-1", {}));
}

void not_found() {
    section("2. 404 is not retried; the response stays reachable");
    static constexpr int statuses[] = {404};
    orders_service orders{statuses, 1};
    print_outcome(get_order(orders, "o-2", {}));
}

void deadline() {
    section("3. A service that stays down, with 120 ms left before the caller's deadline");
    static constexpr int statuses[] = {503};
    orders_service orders{statuses, 1};
    // docs/retry.md: deadline
    // The retry that could not start before the deadline is not started, and retry does not sleep
    // towards it: the call returns at once, as deadline_exceeded, with the last response kept.
    rs::call_options opts{.deadline = clock.now() + 120ms};
    rs::result<http_response> r = get_order(orders, "o-3", opts);
    // docs/retry.md: end
    print_outcome(r);
    std::printf("  (returned %lld ms before the deadline)\n", ms(opts.deadline - clock.now()));
}

void retry_after() {
    section("4. Throttled with Retry-After: 1 s");
    int calls = 0;
    // docs/retry.md: retry_after
    // A 429 with a Retry-After header: return it as a failure carrying the hint (and the response).
    auto throttled_once = [&]() -> rs::result<http_response> {
        http_response resp{++calls == 1 ? 429 : 200};
        if (resp.status == 429) {
            rs::failure f = rs::failure::of(rs::failure_kind::rate_limited, "HTTP 429");
            f.retry_after = 1s;  // parsed from the Retry-After header
            return {rs::failed_value, f, resp};
        }
        return resp;
    };
    rs::resilient_call call{rs::retry{{.backoff = rs::exponential_backoff{50ms, 2s, rs::full_jitter}}}, clock, listener};
    rs::result<http_response> r = call(throttled_once);  // waits max(backoff, 1 s) before retrying
    // docs/retry.md: end
    print_outcome(r);
}

void budget() {
    section("5. A dependency that is down, 40 calls, a shared retry budget of 50 tokens (5 per retry)");
    // docs/retry.md: budget
    // One budget per dependency, for the life of the process, shared by every call and thread.
    static rs::retry_budget orders_budget{{.capacity = 50, .retry_cost = 5, .timeout_cost = 10, .success_refund = 1}};
    rs::resilient_call call{
        rs::retry{{.max_attempts = 3, .backoff = rs::constant_backoff{10ms}, .budget = &orders_budget}},
        clock,
    };
    // docs/retry.md: end
    int attempts = 0;
    for (int i = 0; i < 40; ++i) {
        (void)call([&]() -> rs::result<int> {
            ++attempts;
            return rs::failure::of(rs::failure_kind::error, "connection refused");
        });
    }
    std::printf("  -> %d attempts for 40 calls (without a budget: 120); tokens left: %u\n", attempts,
                orders_budget.available());
}

void jitters() {
    section("6. The first delays of exponential_backoff{100ms, 5s} with each jitter (seed 42)");
    const std::pair<const char*, rs::jitter_kind> kinds[] = {{"no_jitter", rs::no_jitter},
                                                             {"full_jitter", rs::full_jitter},
                                                             {"equal_jitter", rs::equal_jitter},
                                                             {"decorrelated_jitter", rs::decorrelated_jitter}};
    for (const auto& [name, kind] : kinds) {
        const rs::exponential_backoff b{100ms, 5s, kind};
        rs::seeded_random rng{42};
        rs::backoff_state state{};
        std::printf("  %-20s", name);
        for (std::uint32_t n = 1; n <= 7; ++n) std::printf(" %5lld", ms(b.next_delay(n, rng, state)));
        std::printf("  ms\n");
    }
}

// docs/retry.md: custom backoff
struct fibonacci_backoff {                  // 100 ms, 100 ms, 200 ms, 300 ms, 500 ms, ...
    struct state_type { std::int64_t a = 0, b = 1; };
    template <class Random>
    std::chrono::nanoseconds next_delay(std::uint32_t, Random&, state_type& s) const {
        s = {s.b, s.a + s.b};
        return std::chrono::milliseconds(100) * s.a;
    }
};
// docs/retry.md: end

void custom_backoff() {
    section("7. A custom backoff (Fibonacci), 6 attempts");
    // docs/retry.md: custom backoff use
    rs::resilient_call call{rs::retry{rs::retry_options<fibonacci_backoff>{.max_attempts = 6}}, clock, listener};
    // docs/retry.md: end
    (void)call([]() -> rs::result<int> { return rs::failure::of(rs::failure_kind::error, "down"); });
}

}  // namespace

int main() {
    flaky_service();
    not_found();
    deadline();
    retry_after();
    budget();
    jitters();
    custom_backoff();
    return 0;
}
