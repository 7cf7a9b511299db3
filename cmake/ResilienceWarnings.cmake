# SPDX-License-Identifier: MIT
#
# resilience_set_warnings(<target>)
#
# The warning set the library promises to compile clean under (DESIGN.md), as errors. Apply it to our
# own targets only (tests, examples, benchmarks, tools) -- never to the INTERFACE target `resilience`,
# whose usage requirements end up in users' builds.

include_guard(GLOBAL)

set(RESILIENCE_WARNING_FLAGS
    -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow -Werror
    CACHE INTERNAL "The warning flags that resilience must compile clean under")

function(resilience_set_warnings target)
    get_target_property(_type ${target} TYPE)
    if(_type STREQUAL "INTERFACE_LIBRARY")
        message(FATAL_ERROR "resilience_set_warnings(${target}): not for INTERFACE targets")
    endif()
    if(MSVC)
        target_compile_options(${target} PRIVATE /W4 /WX /permissive-)
    else()
        target_compile_options(${target} PRIVATE ${RESILIENCE_WARNING_FLAGS})
        # g++ 12's optimiser reports false -Wrestrict errors inside libstdc++'s std::string (GCC bug
        # 105329): they are about the standard library, not ours, and appear only at -O2/-O3.
        if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12
           AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
            target_compile_options(${target} PRIVATE -Wno-restrict)
        endif()
    endif()
endfunction()
