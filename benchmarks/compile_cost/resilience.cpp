// SPDX-License-Identifier: MIT
//
// Compile-cost subject: the umbrella header and one resilient_call -- the pipeline of the design
// (retry, circuit breaker, bulkhead, per-attempt timeout) around one callable. Compiled by
// benchmarks/run.py against baseline.cpp (and umbrella_only.cpp), never linked.

#include <resilience/resilience.hpp>

namespace rs = resilience;
using namespace std::chrono_literals;

namespace {

int fetch(rs::duration budget) { return budget > 0ns ? 42 : -1; }

rs::result<int> call_with_policies() {
    static rs::circuit_breaker breaker{{.failure_threshold = 5, .open_duration = 30s}};
    static rs::bulkhead pool{{.max_concurrent = 8}};
    rs::resilient_call call{rs::retry{{.max_attempts = 4}}, breaker, pool, rs::timeout{500ms}};
    return call([](const rs::attempt& a) -> rs::result<int> {
        const int v = fetch(a.remaining());
        if (v < 0) return rs::failure::of(rs::failure_kind::error, "fetch failed");
        return v;
    });
}

}  // namespace

int main() { return call_with_policies().value_or(0) == 42 ? 0 : 1; }
