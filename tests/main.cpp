// SPDX-License-Identifier: MIT
//
// Catch2 v2 test runner main, compiled once into the resilience_test_main library and linked into every
// test executable. (With Catch2 v3 this file is not built: tests link Catch2::Catch2WithMain.)
#define CATCH_CONFIG_MAIN
#include "support/catch.hpp"
