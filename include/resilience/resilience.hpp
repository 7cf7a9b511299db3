// SPDX-License-Identifier: MIT
#pragma once

/// \file resilience.hpp
/// The umbrella header: every core header (standard library only). Integrations (aws/, redis/, http.hpp,
/// fmt.hpp, emf.hpp, sinks/) are opt-in and included separately.

#include "backoff.hpp"
#include "classify.hpp"
#include "clock.hpp"
#include "context.hpp"
#include "events.hpp"
#include "fallback.hpp"
#include "policy.hpp"
#include "resilient_call.hpp"
#include "result.hpp"
#include "retry.hpp"
#include "timeout.hpp"
