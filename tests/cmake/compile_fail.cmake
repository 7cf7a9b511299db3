# SPDX-License-Identifier: MIT
#
# cmake -DCOMPILER=<c++> -DSOURCE=<file.cpp> -DINCLUDE_DIR=<dir> [-DEXTRA_FLAGS=<flag;...>] -P compile_fail.cmake
#
# Passes iff compiling SOURCE fails AND the compiler output contains the literal text on SOURCE's first
# line, `// expect: <text>`. The output is printed whenever the test does not pass.

foreach(var COMPILER SOURCE INCLUDE_DIR)
    if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
        message(FATAL_ERROR "compile_fail.cmake: -D${var}=... is required")
    endif()
endforeach()

file(READ "${SOURCE}" content LIMIT 4096)
string(FIND "${content}" "\n" eol)
if(eol GREATER -1)
    string(SUBSTRING "${content}" 0 ${eol} first_line)
else()
    set(first_line "${content}")
endif()
string(REGEX REPLACE "\r$" "" first_line "${first_line}")
if(NOT first_line MATCHES "^//[ \t]*expect:[ \t]*(.*[^ \t])[ \t]*$")
    message(FATAL_ERROR "FAIL ${SOURCE}: the first line must be `// expect: <text>`, got: ${first_line}")
endif()
set(expected "${CMAKE_MATCH_1}")

set(compile "${COMPILER}" -std=c++20 -fsyntax-only -fdiagnostics-color=never "-I${INCLUDE_DIR}" ${EXTRA_FLAGS} "${SOURCE}")
list(JOIN compile " " command_line)
execute_process(
    COMMAND "${CMAKE_COMMAND}" -E env LC_ALL=C LANG=C ${compile}
    RESULT_VARIABLE rc
    OUTPUT_VARIABLE output
    ERROR_VARIABLE output)

if(rc EQUAL 0)
    message(NOTICE "$ ${command_line}\n--- compiler output ---\n${output}--- end ---")
    message(FATAL_ERROR "FAIL ${SOURCE}: compiled, but must not (expected an error containing: ${expected})")
endif()
string(FIND "${output}" "${expected}" at)
if(at EQUAL -1)
    message(NOTICE "$ ${command_line}\n--- compiler output (exit ${rc}) ---\n${output}--- end ---")
    message(FATAL_ERROR "FAIL ${SOURCE}: did not compile, as expected, but the output above lacks: ${expected}")
endif()
message(STATUS "PASS ${SOURCE}: failed to compile with: ${expected}")
