#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Configure, build and test resilience under each CMake preset, then print `N passed, N failed`
# (ctest's test counts summed over all presets) as the last line. Exits non-zero on any failure.
#   bash scripts/test.sh               # presets gcc clang asan tsan
#   bash scripts/test.sh gcc asan      # only these
#   bash scripts/test.sh main          # only the main job's check (release build + resilience-sim --check)
# RESILIENCE_JOBS=<n> sets build and ctest parallelism (default 2).
# Sanitizer options (ASAN_OPTIONS=detect_leaks=1, UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1,
# TSAN_OPTIONS=halt_on_error=1) come from the test presets in CMakePresets.json.

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/deps.sh

presets=()
for arg in "$@"; do
    [[ "$arg" == main ]] || presets+=("$arg") # `main`: the main job's check, below
done
if [[ $# -eq 0 ]]; then
    presets=(gcc clang asan tsan)
fi
jobs="${RESILIENCE_JOBS:-2}"

total_passed=0
total_failed=0
status=0
report=()

# Some kernels (large vm.mmap_rnd_bits) break the sanitizer runtimes of older compilers, e.g. TSan's
# "unexpected memory mapping". Probe once per (compiler, sanitizers) with a trivial threaded program;
# if it only runs with address-space randomisation off, run that preset's ctest under `setarch -R`
# (the personality is inherited by every test process).
declare -A probe_cache=()
sanitizer_wrapper() { # compiler sanitizer-list -> sets the array `wrapper`
    local cxx="$1" sanitize="${2//;/,}" key="$1|$2" dir rc
    wrapper=()
    if [[ -n "${probe_cache[$key]:-}" ]]; then
        [[ "${probe_cache[$key]}" == setarch ]] && wrapper=(setarch "$(uname -m)" -R)
        return 0
    fi
    dir="$(mktemp -d)"
    cat >"$dir/probe.cpp" <<'CPP'
#include <thread>
int main() { int x = 0; std::thread t([&] { x = 1; }); t.join(); return x == 1 ? 0 : 1; }
CPP
    probe_cache[$key]=none
    if ! "$cxx" -std=c++20 -g -pthread "-fsanitize=$sanitize" "$dir/probe.cpp" -o "$dir/probe" >"$dir/log" 2>&1; then
        echo "test.sh: warning: cannot build a trivial -fsanitize=$sanitize program with $cxx:" >&2
        cat "$dir/log" >&2
    elif "$dir/probe" >"$dir/log" 2>&1; then
        :
    elif command -v setarch >/dev/null 2>&1 && setarch "$(uname -m)" -R "$dir/probe" >/dev/null 2>&1; then
        echo "test.sh: -fsanitize=$sanitize needs address-space randomisation off here; using setarch -R"
        sed 's/^/  /' "$dir/log" | head -5
        probe_cache[$key]=setarch
        wrapper=(setarch "$(uname -m)" -R)
    else
        echo "test.sh: warning: a trivial -fsanitize=$sanitize program fails here, even under setarch -R:" >&2
        head -20 "$dir/log" >&2
    fi
    rm -rf "$dir"
}

cache_value() { # build-dir variable
    sed -n "s/^$2:[A-Z]*=//p" "$1/CMakeCache.txt" | head -n1
}

for preset in "${presets[@]}"; do
    build_dir="build/$preset"
    start=$SECONDS
    echo "=== [$preset] configure"
    if ! cmake --preset "$preset"; then
        report+=("$preset: configure FAILED")
        total_failed=$((total_failed + 1)); status=1
        continue
    fi
    echo "=== [$preset] build"
    if ! cmake --build --preset "$preset" -j "$jobs"; then
        report+=("$preset: build FAILED")
        total_failed=$((total_failed + 1)); status=1
        continue
    fi

    wrapper=()
    sanitize="$(cache_value "$build_dir" RESILIENCE_SANITIZE)"
    if [[ -n "$sanitize" ]]; then
        sanitizer_wrapper "$(cache_value "$build_dir" CMAKE_CXX_COMPILER)" "$sanitize"
    fi

    echo "=== [$preset] test"
    log="$build_dir/ctest.log"
    set +e
    ${wrapper[@]+"${wrapper[@]}"} ctest --preset "$preset" --output-on-failure -j "$jobs" --no-tests=error 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    set -e

    counts="$(grep -Eo '[0-9]+ tests? failed out of [0-9]+' "$log" | tail -n1 || true)"
    if [[ -z "$counts" ]]; then
        report+=("$preset: ctest printed no summary (exit $rc)")
        total_failed=$((total_failed + 1)); status=1
        continue
    fi
    failed="$(awk '{print $1}' <<<"$counts")"
    total="$(awk '{print $NF}' <<<"$counts")"
    passed=$((total - failed))
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    if [[ $rc -ne 0 || $failed -ne 0 ]]; then
        status=1
        if [[ $failed -eq 0 ]]; then # ctest failed without a failing test: count it once
            total_failed=$((total_failed + 1))
        fi
    fi
    report+=("$preset: $passed passed, $failed failed ($((SECONDS - start))s)")
done

# The main job (README's first Quick-start command) as CI sees it: the optimised build of the examples and
# tools, then the simulator's default scenario, which must meet every target with the full pipeline.
# Only the g++ -O3 build sees some warnings (-Werror), so the Debug presets above cannot stand in for it.
# Skipped when presets were named on the command line (`scripts/test.sh gcc`), unless `main` is one.
if [[ $# -eq 0 || " $* " == *" main "* ]]; then
    start=$SECONDS
    echo "=== [main] release build of examples and tools, then resilience-sim --check"
    if cmake --preset release >/dev/null &&
        cmake --build --preset release -j "$jobs" --target resilience_examples resilience_tools &&
        build/release/tools/resilience-sim/resilience-sim --no-progress --check "full pipeline"; then
        total_passed=$((total_passed + 1))
        report+=("main: 1 passed, 0 failed ($((SECONDS - start))s)")
    else
        total_failed=$((total_failed + 1)); status=1
        report+=("main: release build or resilience-sim --check FAILED")
    fi
fi

echo
echo "=== summary"
for line in "${report[@]}"; do
    echo "  $line"
done
echo "${total_passed} passed, ${total_failed} failed"
exit $status
