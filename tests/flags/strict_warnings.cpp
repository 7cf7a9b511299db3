// SPDX-License-Identifier: MIT
//
// Built with -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow -Werror, and run.
// Placeholder body: to be replaced by a small realistic resilient_call.
#include <resilience/resilience.hpp>

int main() {}
