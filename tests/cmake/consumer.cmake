# SPDX-License-Identifier: MIT
#
# Driver for the consumer-project tests (see tests/consumers/CMakeLists.txt).
#
#   cmake -DMODE=install -DBUILD_DIR=<resilience build> -DPREFIX=<prefix> [-DBUILD_TYPE=<cfg>] -P consumer.cmake
#       Installs the resilience build into a fresh PREFIX.
#   cmake -DMODE=build -DSOURCE_DIR=<consumer> -DBINARY_DIR=<dir> -DCXX_COMPILER=<c++> -DGENERATOR=<gen>
#         [-DMAKE_PROGRAM=<prog>] [-DBUILD_TYPE=<cfg>] [-DPREFIX=<prefix>] [-DRESILIENCE_SOURCE_DIR=<tree>]
#         -P consumer.cmake
#       Configures, builds and runs the consumer's `app` from scratch; with PREFIX, also checks that
#       resilience was found under PREFIX and not elsewhere on the machine.

function(run_step what)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    if(NOT rc EQUAL 0)
        string(REPLACE ";" " " cmd "${ARGN}")
        message(NOTICE "$ ${cmd}\n${out}")
        message(FATAL_ERROR "FAIL ${what} (exit ${rc}); output above")
    endif()
    message(STATUS "ok: ${what}")
endfunction()

if(MODE STREQUAL "install")
    file(REMOVE_RECURSE "${PREFIX}")
    set(config_args "")
    if(BUILD_TYPE)
        set(config_args --config "${BUILD_TYPE}")
    endif()
    run_step("install into ${PREFIX}" "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}" ${config_args})
    return()
endif()

if(NOT MODE STREQUAL "build")
    message(FATAL_ERROR "consumer.cmake: -DMODE=install|build is required")
endif()

file(REMOVE_RECURSE "${BINARY_DIR}")
set(configure_args -S "${SOURCE_DIR}" -B "${BINARY_DIR}" -G "${GENERATOR}"
    "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
if(MAKE_PROGRAM)
    list(APPEND configure_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(BUILD_TYPE)
    list(APPEND configure_args "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}")
endif()
if(PREFIX)
    list(APPEND configure_args "-DCMAKE_PREFIX_PATH=${PREFIX}"
        -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
endif()
if(RESILIENCE_SOURCE_DIR)
    list(APPEND configure_args "-DRESILIENCE_SOURCE_DIR=${RESILIENCE_SOURCE_DIR}")
endif()

run_step("configure ${SOURCE_DIR}" "${CMAKE_COMMAND}" ${configure_args})

if(PREFIX)
    file(STRINGS "${BINARY_DIR}/CMakeCache.txt" found_dir REGEX "^resilience_DIR:")
    string(REGEX REPLACE "^resilience_DIR:[A-Z]+=" "" found_dir "${found_dir}")
    file(REAL_PATH "${PREFIX}" real_prefix)
    file(REAL_PATH "${found_dir}" real_found)
    string(FIND "${real_found}" "${real_prefix}/" at)
    if(NOT at EQUAL 0)
        message(FATAL_ERROR "FAIL: resilience was found in '${found_dir}', not under the install prefix '${PREFIX}'")
    endif()
    message(STATUS "ok: resilience found in ${found_dir}")
endif()

set(build_args --build "${BINARY_DIR}")
if(BUILD_TYPE)
    list(APPEND build_args --config "${BUILD_TYPE}")
endif()
run_step("build" "${CMAKE_COMMAND}" ${build_args})

set(app "")
foreach(candidate IN ITEMS "${BINARY_DIR}/app" "${BINARY_DIR}/app.exe"
                           "${BINARY_DIR}/${BUILD_TYPE}/app" "${BINARY_DIR}/${BUILD_TYPE}/app.exe")
    if(EXISTS "${candidate}" AND NOT IS_DIRECTORY "${candidate}")
        set(app "${candidate}")
        break()
    endif()
endforeach()
if(NOT app)
    message(FATAL_ERROR "FAIL: the consumer's executable `app` was not found in ${BINARY_DIR}")
endif()
run_step("run ${app}" "${app}")
message(STATUS "PASS consumer ${SOURCE_DIR}")
