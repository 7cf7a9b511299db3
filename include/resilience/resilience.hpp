// SPDX-License-Identifier: MIT
#pragma once

/// \file resilience.hpp
/// The umbrella header: every policy and the file dead-letter sink (standard library and POSIX only).
/// Integrations (aws/, http.hpp, fmt.hpp, emf.hpp) and the other sinks are opt-in and included
/// separately; testing.hpp is for tests.

#include "backoff.hpp"
#include "bulkhead.hpp"
#include "circuit_breaker.hpp"
#include "classify.hpp"
#include "clock.hpp"
#include "context.hpp"
#include "dead_letter.hpp"
#include "events.hpp"
#include "fallback.hpp"
#include "policy.hpp"
#include "rate_limiter.hpp"
#include "resilient_call.hpp"
#include "result.hpp"
#include "retry.hpp"
#include "sinks/file_sink.hpp"
#include "timeout.hpp"
