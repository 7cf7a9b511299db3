#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Installs the Debian packages that resilience's build, tests, benchmarks and examples need, if missing.
# Idempotent: with everything present it only checks (dpkg -s) and prints one line.
#   bash scripts/deps.sh          # or source it: scripts/test.sh and scripts/main.sh do
# RESILIENCE_SKIP_DEPS=1 skips the check (a machine you provisioned yourself, non-Debian systems).

resilience_deps() {
    local packages=(cmake ninja-build g++ clang catch2 libfmt-dev nlohmann-json3-dev libbenchmark-dev)
    local clang_rt=(libclang-rt-dev libclang-rt-14-dev) # sanitizer runtimes for clang; either will do

    if [[ "${RESILIENCE_SKIP_DEPS:-0}" == 1 ]]; then
        echo "deps: skipped (RESILIENCE_SKIP_DEPS=1)"
        return 0
    fi
    if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
        cat >&2 <<'MSG'
deps: this is not a Debian-like system (no dpkg / apt-get), so nothing was installed.
resilience needs: CMake >= 3.21, Ninja, g++ >= 12, clang++ >= 14 with its sanitizer runtime
(ASan, UBSan, TSan), Catch2 (v2 or v3), and for the optional parts: {fmt}, nlohmann/json, Google Benchmark.
Debian names: cmake ninja-build g++ clang libclang-rt-dev catch2 libfmt-dev nlohmann-json3-dev libbenchmark-dev
Install them with your package manager, then re-run with RESILIENCE_SKIP_DEPS=1.
MSG
        return 1
    fi

    local installed_rt=0 p missing=()
    _resilience_installed() { dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'; }
    for p in "${packages[@]}"; do
        _resilience_installed "$p" || missing+=("$p")
    done
    for p in "${clang_rt[@]}"; do
        _resilience_installed "$p" && installed_rt=1
    done

    if [[ ${#missing[@]} -eq 0 && $installed_rt -eq 1 ]]; then
        echo "deps: all present"
        return 0
    fi

    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            echo "deps: missing ${missing[*]} ${clang_rt[0]}; not root and no sudo: install them as root" >&2
            return 1
        fi
    fi

    echo "deps: missing ${missing[*]:-}$([[ $installed_rt -eq 1 ]] || echo " + a clang sanitizer runtime"); running apt-get update"
    "${sudo[@]}" apt-get update -qq || return 1
    if [[ $installed_rt -eq 0 ]]; then
        # libclang-rt-dev follows the default clang; older releases only have the versioned package.
        if apt-cache show "${clang_rt[0]}" >/dev/null 2>&1; then
            missing+=("${clang_rt[0]}")
        else
            missing+=("${clang_rt[1]}")
        fi
    fi
    echo "deps: installing ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || return 1
    echo "deps: installed ${missing[*]}"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    resilience_deps
else
    resilience_deps
fi
