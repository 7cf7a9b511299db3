// expect: resilience::retry: Random must satisfy std::uniform_random_bit_generator
// SPDX-License-Identifier: MIT
//
// Jitter draws from a uniform random bit generator (resilience::thread_random, seeded_random, or a
// standard engine); a seed is not one.
#include <resilience/retry.hpp>

int main() {
    resilience::retry r{{}, resilience::default_classifier{}, 42};
    (void)r;
}
