# SPDX-License-Identifier: MIT
#
# resilience_set_sanitizers(<target>)
#
# Applies RESILIENCE_SANITIZE (a list: "", "address;undefined", "thread", ...) to one of our own targets:
# -fsanitize=<list> -fno-omit-frame-pointer at compile and link time. UBSan is made fatal
# (-fno-sanitize-recover=undefined) so a finding fails the test even without UBSAN_OPTIONS.

include_guard(GLOBAL)

function(resilience__sanitizer_flags out)
    set(_flags "")
    if(RESILIENCE_SANITIZE)
        set(_known address undefined thread leak memory)
        foreach(_s IN LISTS RESILIENCE_SANITIZE)
            if(NOT _s IN_LIST _known)
                message(FATAL_ERROR "RESILIENCE_SANITIZE: unknown sanitizer '${_s}' (known: ${_known})")
            endif()
        endforeach()
        if("thread" IN_LIST RESILIENCE_SANITIZE AND "address" IN_LIST RESILIENCE_SANITIZE)
            message(FATAL_ERROR "RESILIENCE_SANITIZE: 'thread' cannot be combined with 'address'")
        endif()
        list(JOIN RESILIENCE_SANITIZE "," _joined)
        list(APPEND _flags "-fsanitize=${_joined}" -fno-omit-frame-pointer)
        if("undefined" IN_LIST RESILIENCE_SANITIZE)
            list(APPEND _flags -fno-sanitize-recover=undefined)
        endif()
    endif()
    set(${out} "${_flags}" PARENT_SCOPE)
endfunction()

function(resilience_set_sanitizers target)
    resilience__sanitizer_flags(_flags)
    if(NOT _flags)
        return()
    endif()
    if(MSVC)
        message(FATAL_ERROR "RESILIENCE_SANITIZE is supported with GCC and Clang only")
    endif()
    get_target_property(_type ${target} TYPE)
    if(_type STREQUAL "INTERFACE_LIBRARY")
        message(FATAL_ERROR "resilience_set_sanitizers(${target}): not for INTERFACE targets")
    endif()
    target_compile_options(${target} PRIVATE ${_flags})
    if(NOT _type STREQUAL "OBJECT_LIBRARY" AND NOT _type STREQUAL "STATIC_LIBRARY")
        target_link_options(${target} PRIVATE ${_flags})
    endif()
endfunction()
