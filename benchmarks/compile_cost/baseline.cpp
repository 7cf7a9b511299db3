// SPDX-License-Identifier: MIT
//
// Compile-cost baseline: what a hand-written equivalent of one resilient call needs from the standard
// library (<chrono>, <atomic>, <tuple>) and the code itself -- a retry loop around a breaker state
// check, a bulkhead counter and a deadline. Compiled by benchmarks/run.py, never linked.

#include <atomic>
#include <chrono>
#include <tuple>

namespace {

std::atomic<int> breaker_open{0};
std::atomic<unsigned> consecutive_failures{0};
std::atomic<unsigned> in_flight{0};

int fetch(std::chrono::steady_clock::time_point deadline);

std::tuple<int, int> call_with_policies() {
    using namespace std::chrono_literals;
    for (int attempt = 1;; ++attempt) {
        if (breaker_open.load(std::memory_order_acquire) != 0) return {-1, attempt};
        if (in_flight.fetch_add(1, std::memory_order_acquire) >= 8) {
            in_flight.fetch_sub(1, std::memory_order_release);
            return {-2, attempt};
        }
        const auto deadline = std::chrono::steady_clock::now() + 500ms;
        int v = fetch(deadline);
        if (std::chrono::steady_clock::now() > deadline) v = -3;
        in_flight.fetch_sub(1, std::memory_order_release);
        if (v >= 0) {
            consecutive_failures.store(0, std::memory_order_relaxed);
            return {v, attempt};
        }
        if (consecutive_failures.fetch_add(1, std::memory_order_relaxed) + 1 >= 5) breaker_open.store(1);
        if (attempt == 4) return {v, attempt};
    }
}

int fetch(std::chrono::steady_clock::time_point deadline) {
    return std::chrono::steady_clock::now() < deadline ? 42 : -1;
}

}  // namespace

int main() { return std::get<0>(call_with_policies()) == 42 ? 0 : 1; }
