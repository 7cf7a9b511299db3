// SPDX-License-Identifier: MIT
//
// A bulkhead and a rate limiter in front of a rate-limited, connection-limited dependency.
//
// The dependency (a fake geocoding API) allows at most 50 requests a second and 4 connections at once.
// Eight threads (say, concurrent requests of a Lambda Managed Instance) each make six calls. The rate
// limiter lets a burst of 10 through, then one call every 20 ms; a caller waits up to 40 ms for its token
// and is otherwise refused at once with `rate_limited` and a `retry_after`. The bulkhead keeps at most 4
// calls in flight and lets up to 8 more wait 50 ms for a slot. A listener prints every refusal.
//
// It runs on the steady clock and takes well under a second. Standard library only; builds with
// -fno-exceptions -fno-rtti. The snippets between "docs/bulkhead.md" and "docs/rate_limiter.md" markers
// appear in those pages.

#include <resilience/bulkhead.hpp>
#include <resilience/rate_limiter.hpp>
#include <resilience/resilient_call.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace rs = resilience;
using namespace std::chrono_literals;

namespace {

struct place {
    double lat = 0;
    double lon = 0;
};

std::atomic<int> in_flight{0};
std::atomic<int> peak_in_flight{0};

// The dependency: 3 ms per request. Tracks how many requests it serves at once.
place geocode(std::string_view address, rs::duration /*timeout*/) {
    const int now = ++in_flight;
    int peak = peak_in_flight.load();
    while (now > peak && !peak_in_flight.compare_exchange_weak(peak, now)) {
    }
    std::this_thread::sleep_for(3ms);
    --in_flight;
    return {static_cast<double>(address.size()), 0.0};
}

// Prints refusals; called concurrently from every thread that runs a call.
struct print_refusals {
    void on_event(const rs::event& e) const {
        if (e.type != rs::event_type::rejected && e.type != rs::event_type::timeout) return;
        // Copies: a view in an event may be empty with a null data(), which printf's %.*s must not see.
        const std::string name(e.name);
        const std::string kind(rs::to_string(e.kind));
        std::printf("  refused by %s: %s (retry after %lld ms)\n", name.c_str(), kind.c_str(),
                    static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(e.delay).count()));
    }
};
print_refusals refusal_log;

// docs/rate_limiter.md: quick start
// docs/bulkhead.md: quick start
// Long-lived: one of each per dependency, for the life of the process (a Lambda execution environment is
// reused across invocations). Both are thread-safe.
static rs::rate_limiter geo_limiter{{.name = "geo-rate", .permits = 50, .per = 1s, .burst = 10, .max_wait = 40ms}};
static rs::bulkhead geo_pool{{.name = "geo-pool", .max_concurrent = 4, .max_queue = 8, .max_wait = 50ms}};

rs::result<place> locate(std::string_view address, const rs::call_options& opts) {
    // The limiter first: a caller waiting for a token should not sit on a connection slot.
    rs::resilient_call call{geo_limiter, geo_pool, refusal_log};
    return call([&](const rs::attempt& a) { return geocode(address, a.remaining()); }, opts);
    // Refused: a failure of kind rate_limited (with retry_after) or bulkhead_full; geocode not called.
}
// docs/bulkhead.md: end
// docs/rate_limiter.md: end

// docs/bulkhead.md: validate
// Options read from configuration, in a program built with -fno-exceptions: check them first (the
// constructor would abort on a bad value).
bool bulkhead_options_ok(const rs::bulkhead_options& o) {
    if (auto err = o.validate()) {
        std::fprintf(stderr, "bad bulkhead configuration: %.*s\n", static_cast<int>(err->message.size()),
                     err->message.data());
        return false;
    }
    return true;
}
// docs/bulkhead.md: end

// docs/rate_limiter.md: validate
bool rate_limiter_options_ok(const rs::rate_limiter_options& o) {
    if (auto err = o.validate()) {
        std::fprintf(stderr, "bad rate limiter configuration: %.*s\n", static_cast<int>(err->message.size()),
                     err->message.data());
        return false;
    }
    return true;
}
// docs/rate_limiter.md: end

// docs/bulkhead.md: permits
// A background refresh that should only run when a slot is free, holding it while it works.
bool refresh_if_idle() {
    auto permit = geo_pool.try_acquire();  // never waits
    if (!permit) return false;             // busy: skip this round
    (void)geocode("refresh", 1s);
    return true;                           // the slot is given back when `permit` goes out of scope
}
// docs/bulkhead.md: end

}  // namespace

int main() {
    // A bad value is reported with the field and the allowed range.
    std::printf("checking deliberately bad options:\n");
    std::fflush(stdout);
    const bool bad_ok = bulkhead_options_ok({.max_concurrent = 0}) || rate_limiter_options_ok({.per = 0s});

    constexpr int threads = 8;
    constexpr int calls_each = 6;
    std::atomic<int> ok{0};
    std::atomic<int> rate_limited{0};
    std::atomic<int> bulkhead_full{0};
    std::atomic<int> other{0};
    std::vector<std::thread> workers;
    const auto start = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            for (int i = 0; i < calls_each; ++i) {
                rs::call_options opts;
                opts.deadline = rs::steady_clock{}.now() + 500ms;  // e.g. the Lambda deadline minus a reserve
                auto r = locate(t % 2 == 0 ? "1 Main St" : "221B Baker St", opts);
                if (r) {
                    ++ok;
                } else if (r.error().kind == rs::failure_kind::rate_limited) {
                    ++rate_limited;
                } else if (r.error().kind == rs::failure_kind::bulkhead_full) {
                    ++bulkhead_full;
                } else {
                    ++other;
                }
            }
        });
    }
    for (auto& w : workers) w.join();
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);

    std::printf("%d calls in %lld ms: %d ok, %d rate_limited, %d bulkhead_full, %d other\n", threads * calls_each,
                static_cast<long long>(took.count()), ok.load(), rate_limited.load(), bulkhead_full.load(),
                other.load());
    std::printf("at most %d requests in flight (limit %u); limiter refused %llu, bulkhead refused %llu\n",
                peak_in_flight.load(), geo_pool.options().max_concurrent,
                static_cast<unsigned long long>(geo_limiter.rejected()),
                static_cast<unsigned long long>(geo_pool.rejected()));
    std::printf("refresh while idle: %s\n", refresh_if_idle() ? "ran" : "skipped");

    // What the example promises: the dependency never saw more than 4 at once, every call is accounted
    // for, and the bursts were actually limited.
    const bool good = !bad_ok && peak_in_flight.load() <= 4 && other.load() == 0 &&
                      ok + rate_limited + bulkhead_full == threads * calls_each && rate_limited.load() > 0 &&
                      geo_pool.in_use() == 0;
    return good ? 0 : 1;
}
