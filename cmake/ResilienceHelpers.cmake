# SPDX-License-Identifier: MIT
#
# resilience_add_program(<target> SOURCES <src>...
#                        [OUTPUT_NAME <name>] [LINK <lib>...] [ADDED_VAR <var>] [NO_OPTIONAL_DEPS])
#
# One of our own executables (test, example, benchmark, tool): links resilience::resilience and
# Threads::Threads, every optional package found (see ResilienceOptionalDeps.cmake) unless
# NO_OPTIONAL_DEPS, plus LINK; applies our warnings (-Werror) and RESILIENCE_SANITIZE.
# If a source names a package that was not found (`// resilience: requires <pkg>` in its first 30 lines)
# the program is skipped with a status message; ADDED_VAR then receives FALSE (TRUE otherwise).

include_guard(GLOBAL)

function(resilience_add_program target)
    cmake_parse_arguments(PARSE_ARGV 1 arg "NO_OPTIONAL_DEPS" "OUTPUT_NAME;ADDED_VAR" "SOURCES;LINK")
    if(NOT arg_SOURCES)
        message(FATAL_ERROR "resilience_add_program(${target}): no SOURCES")
    endif()

    set(_libs "")
    foreach(_src IN LISTS arg_SOURCES)
        get_filename_component(_abs "${_src}" ABSOLUTE)
        if(_abs MATCHES "\\.(c|cc|cpp|cxx|h|hpp)$" AND EXISTS "${_abs}")
            resilience_requirements("${_abs}" _ok _req_libs)
            if(NOT _ok)
                message(STATUS "resilience: skipping ${target}: ${_src} requires ${RESILIENCE_MISSING_REQUIREMENTS} (not found)")
                if(arg_ADDED_VAR)
                    set(${arg_ADDED_VAR} FALSE PARENT_SCOPE)
                endif()
                return()
            endif()
            list(APPEND _libs ${_req_libs})
        endif()
    endforeach()

    add_executable(${target} ${arg_SOURCES})
    if(arg_OUTPUT_NAME)
        set_target_properties(${target} PROPERTIES OUTPUT_NAME "${arg_OUTPUT_NAME}")
    endif()
    target_link_libraries(${target} PRIVATE resilience::resilience Threads::Threads ${_libs} ${arg_LINK})
    if(NOT arg_NO_OPTIONAL_DEPS)
        resilience_link_optional_deps(${target})
    endif()
    resilience_set_warnings(${target})
    resilience_set_sanitizers(${target})
    if(arg_ADDED_VAR)
        set(${arg_ADDED_VAR} TRUE PARENT_SCOPE)
    endif()
endfunction()
