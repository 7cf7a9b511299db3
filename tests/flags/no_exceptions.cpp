// SPDX-License-Identifier: MIT
//
// Built with the strict warning set plus -fno-exceptions -fno-rtti, and run.
// Placeholder body: to be replaced by a small realistic resilient_call.
#include <resilience/resilience.hpp>

int main() {}
