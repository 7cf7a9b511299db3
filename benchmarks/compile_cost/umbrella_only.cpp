// SPDX-License-Identifier: MIT
//
// Compile-cost reference: the umbrella header and nothing else, to separate what parsing the headers
// costs from what instantiating and optimising one resilient_call costs (resilience.cpp). Compiled by
// benchmarks/run.py, never linked.

#include <resilience/resilience.hpp>

int main() {}
