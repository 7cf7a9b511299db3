// SPDX-License-Identifier: MIT
#pragma once

// Feature detection shared by every header. Kept tiny: it is included everywhere.

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
#define RESILIENCE_HAS_EXCEPTIONS 1
#else
#define RESILIENCE_HAS_EXCEPTIONS 0
#endif


#include <cstdio>
#include <cstdlib>

namespace resilience::detail {

// Called when a precondition is violated and exceptions are unavailable. Prints what went wrong so
// that a Lambda log shows the cause instead of a bare SIGABRT.
[[noreturn]] inline void fatal(const char* what) noexcept {
    std::fputs("resilience: fatal: ", stderr);
    std::fputs(what, stderr);
    std::fputc('\n', stderr);
    std::abort();
}

}  // namespace resilience::detail
