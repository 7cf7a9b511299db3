// SPDX-License-Identifier: MIT
//
// timeout + fallback around a price lookup, inside a caller's deadline (a Lambda invocation's, say).
//
//   - `rs::timeout{{.duration = 50ms, .min_remaining = 10ms}}` gives the lookup 50 ms, and does not
//     start it at all when less than 10 ms of the caller's deadline is left;
//   - the lookup passes `a.remaining()` to its client as the client's own timeout (the library
//     interrupts nothing: a timeout is cooperative);
//   - a lookup that ignores its timeout and answers late is a `timeout` failure whose value is still
//     reachable through `last_value()`;
//   - `rs::fallback` answers with the last known price when the lookup timed out or failed.
//
// Builds with -fno-exceptions -fno-rtti: configuration read at run time goes through `make_timeout`,
// which returns an error instead of throwing. Runs in well under a second (the fake client really
// waits, at most 80 ms per lookup).

#include <resilience/fallback.hpp>
#include <resilience/resilient_call.hpp>
#include <resilience/timeout.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <system_error>
#include <thread>

namespace rs = resilience;
using namespace std::chrono_literals;

struct quote {
    double price = 0;
    bool stale = false;  // true when it came from the fallback
};

// A stand-in for an HTTP client. A well-behaved client gives up when its timeout expires; a badly
// behaved one (`honours_timeout = false`) answers whenever it is ready.
struct fake_price_client {
    std::chrono::milliseconds latency;
    bool honours_timeout = true;

    rs::result<quote> get(std::string_view /*symbol*/, rs::duration timeout) const {
        if (honours_timeout && latency > timeout) {
            std::this_thread::sleep_for(timeout);
            return rs::failure::from_error(std::make_error_code(std::errc::timed_out), rs::transience::transient,
                                           "price service: client timeout");
        }
        std::this_thread::sleep_for(latency);
        return quote{101.25, false};
    }
};

// One lookup: at most 50 ms, never past the caller's deadline, the last known price on failure.
rs::result<quote> price_of(std::string_view symbol, const fake_price_client& client, const rs::timeout& budget,
                           const rs::call_options& opts) {
    rs::resilient_call call{
        rs::fallback{[](const rs::failure& f) {
                         std::printf("    fallback: %.*s -> last known price\n",
                                     static_cast<int>(rs::to_string(f.kind).size()), rs::to_string(f.kind).data());
                         return quote{99.5, true};
                     },
                     rs::failure_kinds{rs::failure_kind::timeout, rs::failure_kind::error}},
        budget,
    };
    return call([&](const rs::attempt& a) { return client.get(symbol, a.remaining()); }, opts);
}

// The same lookup without a fallback, to show what the timeout itself reports.
rs::result<quote> raw_price_of(std::string_view symbol, const fake_price_client& client, const rs::timeout& budget) {
    rs::resilient_call call{budget};
    return call([&](const rs::attempt& a) { return client.get(symbol, a.remaining()); });
}

void print(const char* what, const rs::result<quote>& r) {
    if (r) {
        std::printf("%-34s %.2f%s\n", what, r->price, r->stale ? " (stale)" : "");
        return;
    }
    auto kind = rs::to_string(r.error().kind);
    std::printf("%-34s failed: %.*s", what, static_cast<int>(kind.size()), kind.data());
    if (const quote* late = r.last_value()) std::printf(" (a late answer arrived: %.2f)", late->price);
    std::printf("\n");
}

int main(int argc, char** argv) {
    // The budget may come from configuration: validate it without exceptions.
    const long budget_ms = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 50;
    rs::result<rs::timeout> budget = rs::make_timeout({.duration = std::chrono::milliseconds(budget_ms),
                                                       .min_remaining = std::min(10ms, std::chrono::milliseconds(budget_ms) / 2)});
    if (!budget) {
        std::fprintf(stderr, "bad configuration: %.*s\n", static_cast<int>(budget.error().message.size()),
                     budget.error().message.data());
        return 2;
    }

    const fake_price_client fast{5ms};
    const fake_price_client slow{80ms};
    const fake_price_client rude{80ms, false};

    std::printf("budget: %ld ms per lookup\n", budget_ms);
    print("fast service:", price_of("ACME", fast, *budget, {}));
    print("slow service:", price_of("ACME", slow, *budget, {}));
    print("slow service ignoring its timeout:", raw_price_of("ACME", rude, *budget));
    print("  ... with the fallback:", price_of("ACME", rude, *budget, {}));

    // The caller's deadline is almost spent (a Lambda invocation about to end): the lookup is not even
    // started, and the failure is `deadline_exceeded`, which this fallback does not handle.
    rs::call_options nearly_out;
    nearly_out.deadline = std::chrono::steady_clock::now() + 2ms;
    print("caller's deadline nearly spent:", price_of("ACME", fast, *budget, nearly_out));
    return 0;
}
