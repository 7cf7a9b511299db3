// SPDX-License-Identifier: MIT
//
// The one Catch2 include for resilience's tests: `#include "support/catch.hpp"`.
// Works with Catch2 v3 (the build defines RESILIENCE_CATCH2_V3 and links Catch2::Catch2WithMain) and
// with Catch2 v2 (single header; the runner's main is compiled once, in tests/main.cpp).
// Use the API common to both: TEST_CASE, SECTION, REQUIRE/CHECK, REQUIRE_THROWS_AS, GENERATE,
// TEMPLATE_TEST_CASE, Catch::Approx is spelled `Approx` in v2 -- prefer plain comparisons.
#pragma once

#if defined(RESILIENCE_CATCH2_V3)
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
#endif
