#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The main job: build the `release` preset's programs and run them.
#   bash scripts/main.sh [args...]
# If the simulator tools/resilience-sim is built, runs it (default scenario; args are passed on).
# Otherwise runs every example program under build/release/examples, a header before each.

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/deps.sh

jobs="${RESILIENCE_JOBS:-2}"
build_dir=build/release

cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs" --target resilience_examples resilience_tools

sim=""
if [[ -d "$build_dir/tools" ]]; then
    sim="$(find "$build_dir/tools" -path '*/CMakeFiles' -prune -o -type f -name resilience-sim -perm -u+x -print | head -n1)"
fi
if [[ -n "$sim" ]]; then
    echo "=== resilience-sim"
    exec "$sim" "$@"
fi

examples=()
if [[ -d "$build_dir/examples" ]]; then
    while IFS= read -r exe; do
        examples+=("$exe")
    done < <(find "$build_dir/examples" -path '*/CMakeFiles' -prune -o -type f -perm -u+x -print | sort)
fi
if [[ ${#examples[@]} -eq 0 ]]; then
    echo "main.sh: nothing to run yet: no tools/resilience-sim and no examples were built"
    exit 0
fi

failed=0
for exe in "${examples[@]}"; do
    echo "=== example: ${exe#"$build_dir/examples/"}"
    rc=0
    "$exe" || rc=$?
    if [[ $rc -ne 0 ]]; then
        echo "main.sh: ${exe} exited with status $rc" >&2
        failed=$((failed + 1))
    fi
    echo
done
if [[ $failed -ne 0 ]]; then
    echo "main.sh: $failed of ${#examples[@]} examples failed" >&2
    exit 1
fi
