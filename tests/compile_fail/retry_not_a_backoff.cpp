// expect: resilience::retry: Backoff must satisfy resilience::backoff_strategy
// SPDX-License-Identifier: MIT
//
// A backoff needs a const member next_delay(n, rng, state), next_delay(n, rng) or next_delay(n):
// retry must say so in one static_assert, not in a cascade of template errors.
#include <resilience/retry.hpp>

#include <chrono>

struct not_a_backoff {
    std::chrono::nanoseconds delay() const { return std::chrono::milliseconds(1); }
};

int main() {
    resilience::retry r{resilience::retry_options<not_a_backoff>{}};
    (void)r;
}
