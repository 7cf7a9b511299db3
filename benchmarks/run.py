#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs the benchmark suite and writes the figures into docs/performance.md.

    python3 benchmarks/run.py                      # build (Release), run, measure compile cost, write
    python3 benchmarks/run.py --repetitions 9      # more repetitions
    python3 benchmarks/run.py --no-build --build-dir build/release
    python3 benchmarks/run.py --json all.json                  # keep the raw results...
    python3 benchmarks/run.py --programs bulkhead --merge all.json --no-compile-cost --max-wait 1800
                                                             # ...and re-run one program when quiet
    python3 benchmarks/run.py --output -           # print the generated section instead
    python3 benchmarks/run.py --results all.json   # re-render saved results, running nothing

What it does:
  1. configures and builds the benchmark programs in a Release build directory (only the
     `resilience_benchmarks` target; -j2), unless --no-build;
  2. runs every benchmarks/bench_* program with --benchmark_repetitions and aggregates only, waiting
     first (up to --max-wait seconds) until other processes keep fewer than --quiet-busy CPUs busy, and
     records how busy the machine was around each program;
  3. times the compilation of benchmarks/compile_cost/*.cpp (median of --compile-runs) with the C++
     compiler of the build and, if present, clang++;
  4. renders markdown tables (medians, `resilience / hand_written`, `resilience - direct`, thread
     scaling, targets met or missed) with a description of the machine, and replaces the part of the
     output file between the `<!-- benchmarks:begin -->` and `<!-- benchmarks:end -->` markers (the
     prose around them is kept). Without markers the file is (re)written whole.

Benchmark naming contract (see benchmarks/bench_common.hpp): `<scenario>/<variant>[/threads:N][/real_time]`
where `<variant>` is one of `direct`, `hand_written`, `resilience`, or a free name for single figures
(`clock/steady_clock_now`, `file_sink/fsync_per_record`). Standard library only.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "<!-- benchmarks:begin -->"
END = "<!-- benchmarks:end -->"
VARIANTS = ("direct", "hand_written", "resilience")

# Targets of issue 5, checked against the figures (reported, never asserted).
PIPELINE = "pipeline"
REJECTIONS = ("reject/circuit_open", "reject/bulkhead_full", "reject/rate_limited")
SCALING = ("contention/circuit_breaker", "contention/bulkhead")

# Order of the scenarios in the tables; anything else follows, alphabetically.
ORDER = [
    "call",
    "happy/retry",
    "happy/timeout",
    "happy/circuit_breaker",
    "happy/bulkhead",
    "happy/rate_limiter",
    "happy/fallback",
    "happy/dead_letter",
    "pipeline",
    "pipeline/built_per_call",
    "reject/circuit_open",
    "reject/bulkhead_full",
    "reject/rate_limited",
    "reject/deadline_exceeded",
    "retry/fails_twice_then_succeeds",
]


def log(msg: str) -> None:
    print(f"run.py: {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, **kw)


# --- build -----------------------------------------------------------------------------------------


def build(build_dir: Path, cxx: str | None, jobs: int) -> None:
    cfg = [
        "cmake", "-S", str(ROOT), "-B", str(build_dir),
        "-DCMAKE_BUILD_TYPE=Release",
        "-DRESILIENCE_BUILD_BENCHMARKS=ON",
        "-DRESILIENCE_BUILD_TESTS=OFF",
        "-DRESILIENCE_BUILD_EXAMPLES=OFF",
        "-DRESILIENCE_BUILD_TOOLS=OFF",
    ]
    if not (build_dir / "CMakeCache.txt").exists() and shutil.which("ninja"):
        cfg += ["-G", "Ninja"]
    if cxx:
        cfg.append(f"-DCMAKE_CXX_COMPILER={cxx}")
    log("configuring " + str(build_dir))
    run(cfg, stdout=subprocess.DEVNULL)
    log("building resilience_benchmarks")
    run(["cmake", "--build", str(build_dir), "--target", "resilience_benchmarks", "-j", str(jobs)])


def cache_value(build_dir: Path, key: str) -> str | None:
    cache = build_dir / "CMakeCache.txt"
    if not cache.exists():
        return None
    for line in cache.read_text(errors="replace").splitlines():
        m = re.match(rf"^{re.escape(key)}:[A-Z]+=(.*)$", line)
        if m:
            return m.group(1)
    return None


def find_programs(build_dir: Path, only: str | None) -> list[Path]:
    found = sorted(p for p in (build_dir / "benchmarks").glob("bench_*")
                   if p.is_file() and os.access(p, os.X_OK))
    if only:
        found = [p for p in found if re.search(only, p.name)]
    return found


# --- running ---------------------------------------------------------------------------------------


def load1() -> float:
    return os.getloadavg()[0]


def _cpu_times() -> tuple[int, int] | None:
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    except (OSError, ValueError, IndexError):
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait


def busy_cpus(window: float = 2.0) -> float:
    """CPUs kept busy by other processes over the next `window` seconds (this script sleeps meanwhile).

    Unlike the load average, which decays over a minute and so still counts the benchmark that just
    ran, this sees only what the rest of the machine is doing now. Falls back to the load average."""
    a = _cpu_times()
    time.sleep(window)
    b = _cpu_times()
    if a is None or b is None or b[1] == a[1]:
        return load1()
    return (b[0] - a[0]) / (b[1] - a[1]) * (os.cpu_count() or 1)


def wait_for_quiet(threshold: float, max_wait: float) -> float:
    """Waits until other processes keep fewer than `threshold` CPUs busy (or `max_wait` passed);
    returns the last figure."""
    deadline = time.monotonic() + max_wait
    busy = busy_cpus()
    announced = False
    while busy >= threshold and time.monotonic() < deadline:
        if not announced:
            log(f"other processes keep {busy:.2f} CPUs busy (>= {threshold}): waiting up to {max_wait:.0f}s")
            announced = True
        busy = busy_cpus()
    return busy


def run_program(exe: Path, args: argparse.Namespace) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        out = Path(tmp.name)
    try:
        busy_before = wait_for_quiet(args.quiet_busy, args.max_wait)
        load_before = load1()
        cmd = [
            str(exe),
            f"--benchmark_repetitions={args.repetitions}",
            "--benchmark_report_aggregates_only=true",
            f"--benchmark_min_time={args.min_time}",
            f"--benchmark_out={out}",
            "--benchmark_out_format=json",
        ]
        if args.filter:
            cmd.append(f"--benchmark_filter={args.filter}")
        log(f"running {exe.name} (others busy: {busy_before:.2f} CPUs; load average {load_before:.2f})")
        proc = subprocess.run(cmd, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            raise SystemExit(f"run.py: {exe.name} failed (exit {proc.returncode}): a benchmark check failed")
        data = json.loads(out.read_text())
        data["load_before"] = load_before
        data["load_after"] = load1()
        data["busy_before"] = busy_before
        data["busy_after"] = busy_cpus()
        data["program"] = exe.name
        data["commit"] = git_commit()
        data["repetitions"] = args.repetitions
        data["min_time"] = args.min_time
        return data
    finally:
        out.unlink(missing_ok=True)


# --- parsing ---------------------------------------------------------------------------------------


def parse_name(run_name: str) -> tuple[str, str, int]:
    """`happy/retry/resilience/threads:2/real_time` -> ("happy/retry", "resilience", 2)."""
    parts = run_name.split("/")
    threads = 1
    kept = []
    for p in parts:
        m = re.fullmatch(r"threads:(\d+)", p)
        if m:
            threads = int(m.group(1))
        elif p in ("real_time", "manual_time", "process_time"):
            continue
        else:
            kept.append(p)
    if len(kept) >= 2 and kept[-1] in VARIANTS:
        return "/".join(kept[:-1]), kept[-1], threads
    return "/".join(kept), "", threads


# Fields of Google Benchmark's JSON that are not user counters.
STANDARD_KEYS = {
    "name", "family_index", "per_family_instance_index", "run_name", "run_type", "repetitions",
    "repetition_index", "threads", "aggregate_name", "aggregate_unit", "iterations", "real_time", "cpu_time",
    "time_unit", "items_per_second", "bytes_per_second", "error_occurred", "error_message", "label",
}


def collect(runs: list[dict]) -> dict:
    """{(scenario, variant, threads): {ns, real_ns, cpu_ns, cv, items_per_second, program, load}}

    `ns` is the figure the tables use: wall-clock time for benchmarks that ask for it (`->UseRealTime()`,
    i.e. every multi-threaded and every I/O benchmark; the time per call across all threads), CPU time
    otherwise, which other processes on a shared machine disturb less.
    """
    rows: dict = {}
    for data in runs:
        for b in data.get("benchmarks", []):
            if b.get("run_type") != "aggregate" or b.get("error_occurred"):
                continue
            key = parse_name(b["run_name"])
            row = rows.setdefault(key, {"program": data["program"], "load": data["load_before"],
                                        "real": "/real_time" in b["run_name"]})
            agg = b.get("aggregate_name")
            unit = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
            if agg == "median":
                row["counters"] = {k: v for k, v in b.items() if k not in STANDARD_KEYS and isinstance(v, (int, float))}
                row["real_ns"] = b["real_time"] * unit
                row["cpu_ns"] = b["cpu_time"] * unit
                row["ns"] = row["real_ns"] if row["real"] else row["cpu_ns"]
                if "items_per_second" in b:
                    row["items_per_second"] = b["items_per_second"]
            elif agg == "cv":
                row["cv"] = b["real_time"] if row["real"] else b["cpu_time"]
    return rows


# --- compile cost ----------------------------------------------------------------------------------


def library_std_headers(tu: Path) -> list[str]:
    """Standard headers that `tu` reaches through the library's headers (not its own direct ones)."""
    seen: set[Path] = set()
    std: set[str] = set()
    todo: list[Path] = []
    for line in tu.read_text(errors="replace").splitlines():
        m = re.match(r"\s*#\s*include\s*<(resilience/[^>]+)>", line)
        if m:
            todo.append(ROOT / "include" / m.group(1))
    while todo:
        p = todo.pop()
        if p in seen or not p.exists():
            continue
        seen.add(p)
        for line in p.read_text(errors="replace").splitlines():
            m = re.match(r'\s*#\s*include\s*"([^"]+)"', line)
            if m:
                todo.append((p.parent / m.group(1)).resolve())
                continue
            m = re.match(r"\s*#\s*include\s*<([^>]+)>", line)
            if m:
                if m.group(1).startswith("resilience/"):
                    todo.append(ROOT / "include" / m.group(1))
                else:
                    std.add(m.group(1))
    return sorted(std)


def time_compile(cxx: str, src: Path, runs: int) -> float:
    """Median CPU time (user + system, of the compiler and its children) to compile `src`, in seconds.

    CPU time rather than wall time: on a shared machine, other processes stretch the wall time of a
    compilation but hardly its CPU time."""
    cmd = [cxx, "-std=c++20", "-O2", f"-I{ROOT / 'include'}", "-c", str(src), "-o", os.devnull]
    subprocess.run(cmd, check=True)  # warm the file cache; also fails loudly on a compile error
    times = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(cmd, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return statistics.median(times)


def preprocessed_lines(cxx: str, src: Path) -> int:
    out = subprocess.run([cxx, "-std=c++20", "-E", "-P", f"-I{ROOT / 'include'}", str(src)],
                         check=True, text=True, capture_output=True).stdout
    return sum(1 for line in out.splitlines() if line.strip())


def compile_cost(compilers: list[str], runs: int) -> dict:
    src_dir = ROOT / "benchmarks" / "compile_cost"
    tus = [src_dir / "baseline.cpp", src_dir / "umbrella_only.cpp", src_dir / "resilience.cpp"]
    headers = library_std_headers(src_dir / "resilience.cpp")
    result = {"std_headers": headers, "compilers": {}, "heaviest": []}
    with tempfile.TemporaryDirectory() as tmp:
        std_only = Path(tmp) / "std_headers_only.cpp"
        std_only.write_text("".join(f"#include <{h}>\n" for h in headers) + "int main() {}\n")
        for cxx in compilers:
            version = subprocess.run([cxx, "--version"], text=True, capture_output=True).stdout.splitlines()[0]
            per = {"version": version, "tus": {}}
            for tu in tus + [std_only]:
                log(f"compile cost: {cxx} {tu.name}")
                per["tus"][tu.stem] = {
                    "seconds": time_compile(cxx, tu, runs),
                    "lines": preprocessed_lines(cxx, tu),
                }
            result["compilers"][cxx] = per
        # Which standard headers weigh most: each one's cost on top of the baseline's three headers
        # (first compiler only). Headers share much of their content, so these do not add up.
        cxx = compilers[0]
        baseline_headers = "#include <atomic>\n#include <chrono>\n#include <tuple>\n"
        base_tu = Path(tmp) / "baseline_headers.cpp"
        base_tu.write_text(baseline_headers + "int main() {}\n")
        base = time_compile(cxx, base_tu, runs)
        base_lines = preprocessed_lines(cxx, base_tu)
        for h in headers:
            if h in ("atomic", "chrono", "tuple"):
                continue
            tu = Path(tmp) / "one_more_header.cpp"
            tu.write_text(baseline_headers + f"#include <{h}>\nint main() {{}}\n")
            result["heaviest"].append((h, max(0.0, time_compile(cxx, tu, runs) - base),
                                       preprocessed_lines(cxx, tu) - base_lines))
        result["heaviest"].sort(key=lambda x: -x[1])
    return result


# --- the machine -----------------------------------------------------------------------------------


def git_commit() -> str:
    """The checked-out commit, marked when tracked files differ from it."""
    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], text=True,
                             capture_output=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               text=True, capture_output=True).stdout.strip()
    except OSError:
        return "unknown"
    return (rev or "unknown") + (" (with uncommitted changes)" if dirty else "")


def machine(runs: list[dict], build_dir: Path) -> dict:
    info = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info["cpu"] = info.get("cpu") or platform.processor() or "unknown"
    info["logical_cpus"] = os.cpu_count()
    try:
        info["clocksource"] = Path("/sys/devices/system/clocksource/clocksource0/current_clocksource").read_text().strip()
    except OSError:
        info["clocksource"] = "unknown"
    info["kernel"] = f"{platform.system()} {platform.release()}"
    layers = []
    for flag in ("--vm", "--container"):
        try:
            v = subprocess.run(["systemd-detect-virt", flag], text=True, capture_output=True).stdout.strip()
        except OSError:
            v = ""
        if v and v != "none":
            layers.append(v)
    info["virtualization"] = " + ".join(layers) if layers else "none detected"
    cxx = cache_value(build_dir, "CMAKE_CXX_COMPILER") or "c++"
    try:
        info["compiler"] = subprocess.run([cxx, "--version"], text=True, capture_output=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        info["compiler"] = cxx
    info["build_type"] = cache_value(build_dir, "CMAKE_BUILD_TYPE") or "unknown"
    flags = cache_value(build_dir, f"CMAKE_CXX_FLAGS_{info['build_type'].upper()}") or ""
    info["flags"] = flags.strip()
    ctx = runs[0].get("context", {}) if runs else {}
    info["mhz"] = ctx.get("mhz_per_cpu")
    info["caches"] = ", ".join(
        f"L{c['level']} {c['type'][0]} {c['size'] // 1024} KiB" + (f" (shared by {c['num_sharing']})" if c.get("num_sharing", 1) > 1 else "")
        for c in ctx.get("caches", []))
    info["benchmark_library_build"] = ctx.get("library_build_type", "unknown")
    try:
        info["benchmark_version"] = subprocess.run(["pkg-config", "--modversion", "benchmark"], text=True,
                                                   capture_output=True).stdout.strip() or "unknown"
    except OSError:
        info["benchmark_version"] = "unknown"
    info["commit"] = git_commit()
    loads = [r["load_before"] for r in runs] + [r["load_after"] for r in runs]
    info["load_min"] = min(loads) if loads else None
    info["load_max"] = max(loads) if loads else None
    busy = [r[k] for r in runs for k in ("busy_before", "busy_after") if k in r]
    info["busy_min"] = min(busy) if busy else None
    info["busy_max"] = max(busy) if busy else None
    info["busy_by_program"] = {r["program"]: r.get("busy_before") for r in runs}
    info["date"] = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return info


# --- rendering -------------------------------------------------------------------------------------


def fmt_ns(v: float | None) -> str:
    if v is None:
        return "—"
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def fmt_time(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e4:
        return f"{ns / 1e3:.1f} µs"
    return f"{fmt_ns(ns)} ns"


def scenario_sort_key(s: str) -> tuple:
    return (ORDER.index(s), s) if s in ORDER else (len(ORDER), s)


def render(rows: dict, runs: list[dict], cc: dict | None, info: dict, args: argparse.Namespace) -> str:
    out: list[str] = []
    w = out.append
    w(BEGIN)
    w("<!-- Generated by benchmarks/run.py; edit the prose outside these markers only. -->")
    w("")
    settings = sorted({(r.get("repetitions", args.repetitions), r.get("min_time", args.min_time)) for r in runs})
    how = "; ".join(f"median of {reps} repetitions (`--benchmark_min_time={mt}`)" for reps, mt in settings)
    dates = sorted(r.get("context", {}).get("date", "")[:16].replace("T", " ") for r in runs)
    when = dates[0] if dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}"
    commits = sorted({r.get("commit", info["commit"]) for r in runs})
    at = ", ".join(f"`{c}`" for c in commits)
    w(f"Measured {when} (UTC) at commit{'s' if len(commits) > 1 else ''} {at}: {how}; {info['build_type']} build.")
    w("")

    # Per-call table.
    triples: dict[str, dict[str, dict]] = {}
    for (scenario, variant, threads), row in rows.items():
        if threads == 1 and variant and "ns" in row and not scenario.startswith("contention/"):
            triples.setdefault(scenario, {})[variant] = row
    w("### Cost per call")
    w("")
    w("Nanoseconds per call (CPU time, median). *direct*: the dependency alone; *hand-written*: the same "
      "behaviour written by hand with atomics and clock reads, no library; *resilience*: through "
      "`resilient_call`. The dependency is an opaque function behind a volatile pointer (about 1 ns). "
      "*spread*: the largest coefficient of variation of the three over the repetitions.")
    w("")
    w("| scenario | direct | hand-written | resilience | resilience / hand-written | resilience − direct | spread |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    for scenario in sorted(triples, key=scenario_sort_key):
        t = triples[scenario]
        d = t.get("direct", {}).get("ns")
        h = t.get("hand_written", {}).get("ns")
        r = t.get("resilience", {}).get("ns")
        ratio = f"{r / h:.2f}×" if r is not None and h else "—"
        diff = f"{r - d:+.1f}" if r is not None and d is not None else "—"
        cvs = [v["cv"] for v in t.values() if "cv" in v]
        spread = f"{100 * max(cvs):.0f}%" if cvs else "—"
        w(f"| `{scenario}` | {fmt_ns(d)} | {fmt_ns(h)} | {fmt_ns(r)} | {ratio} | {diff} | {spread} |")
    w("")

    # Contention.
    cont: dict[tuple[str, str], dict[int, dict]] = {}
    for (scenario, variant, threads), row in rows.items():
        if scenario.startswith("contention/") and "ns" in row:
            cont.setdefault((scenario, variant), {})[threads] = row
    if cont:
        w("### Contention")
        w("")
        w("Throughput of a shared object on its uncontended path (the breaker closed, the bulkhead never "
          "full), in millions of calls per second over all threads (wall-clock time), and the scaling "
          "from 1 to 2 threads. On a machine with 2 logical CPUs, perfect scaling is 2.00×.")
        w("")
        w("| scenario | variant | 1 thread | 2 threads | scaling |")
        w("|---|---|---:|---:|---:|")
        for (scenario, variant) in sorted(cont, key=lambda k: (k[0], VARIANTS.index(k[1]) if k[1] in VARIANTS else 9)):
            by = cont[(scenario, variant)]
            t1 = 1e3 / by[1]["ns"] if 1 in by else None
            t2 = 1e3 / by[2]["ns"] if 2 in by else None
            sc = f"{t2 / t1:.2f}×" if t1 and t2 else "—"
            w(f"| `{scenario}` | {variant} | {t1:.1f} | {t2:.1f} | {sc} |" if t1 and t2 else
              f"| `{scenario}` | {variant} | {fmt_ns(t1)} | {fmt_ns(t2)} | {sc} |")
        w("")

    # Single figures (throughput, reference costs).
    singles = {(s, th): row for (s, v, th), row in rows.items() if not v and "ns" in row}
    if singles:
        w("### Other figures")
        w("")
        w("| benchmark | threads | time per operation | operations per second | counters |")
        w("|---|---:|---:|---:|---|")
        for (s, th) in sorted(singles):
            row = singles[(s, th)]
            ops = 1e9 / row["ns"] if row["ns"] else 0.0
            clock_kind = "wall" if row["real"] else "CPU"
            counters = ", ".join(f"{k} {v:,.0f}" if abs(v) >= 100 else f"{k} {v:.2f}"
                                 for k, v in sorted(row.get("counters", {}).items()))
            w(f"| `{s}` | {th} | {fmt_time(row['ns'])} ({clock_kind}) | {ops:,.0f} | {counters} |")
        w("")

    # Targets.
    w("### Targets")
    w("")
    w("| target | measured | verdict |")
    w("|---|---:|---|")

    def verdict(ok: bool, miss: str) -> str:
        return "met" if ok else f"**missed** ({miss})"

    p = triples.get(PIPELINE, {})
    pr, ph, pd = (p.get(v, {}).get("ns") for v in ("resilience", "hand_written", "direct"))
    if pr is not None and ph:
        ratio = pr / ph
        w(f"| full pipeline ≤ 1.5× hand-written | {ratio:.2f}× | {verdict(ratio <= 1.5, f'by {ratio - 1.5:.2f}×, {pr - 1.5 * ph:.1f} ns')} |")
    else:
        w("| full pipeline ≤ 1.5× hand-written | not measured | — |")
    if pr is not None and pd is not None:
        over = pr - pd
        w(f"| full pipeline ≤ 25 ns above a direct call | {over:+.1f} ns | {verdict(over <= 25, f'by {over - 25:.1f} ns')} |")
    else:
        w("| full pipeline ≤ 25 ns above a direct call | not measured | — |")
    for s in REJECTIONS:
        r = triples.get(s, {}).get("resilience", {}).get("ns")
        if r is None:
            w(f"| `{s}` ≤ 20 ns | not measured | — |")
        else:
            w(f"| `{s}` ≤ 20 ns | {fmt_ns(r)} ns | {verdict(r <= 20, f'by {r - 20:.1f} ns')} |")
    for s in SCALING:
        by = cont.get((s, "resilience"), {})
        if 1 in by and 2 in by:
            sc = by[1]["ns"] / by[2]["ns"]
            w(f"| `{s}` 2-thread throughput ≥ 1.5× 1-thread | {sc:.2f}× | {verdict(sc >= 1.5, f'by {1.5 - sc:.2f}×')} |")
        else:
            w(f"| `{s}` 2-thread throughput ≥ 1.5× 1-thread | not measured | — |")
    w("")

    # Compile cost.
    if cc:
        w("### Compile cost")
        w("")
        w("CPU time (user + system) to compile one translation unit (`-std=c++20 -O2 -c`, median of "
          f"{args.compile_runs} runs) and its preprocessed size (non-blank lines). `baseline.cpp` includes "
          "`<chrono>`, `<atomic>` and `<tuple>` and hand-writes the pipeline; `resilience.cpp` includes "
          "`<resilience/resilience.hpp>` and makes one `resilient_call` (retry, breaker, bulkhead, timeout); "
          "`umbrella_only.cpp` includes the umbrella header and nothing else; `std_headers_only` includes just "
          "the standard (and POSIX) headers that the umbrella reaches, and no library code. So "
          "`std_headers_only` − `baseline` is the cost of the extra standard headers, `umbrella_only` − "
          "`std_headers_only` that of parsing the library, and `resilience` − `umbrella_only` that of "
          "instantiating and optimising one composition.")
        w("")
        w("| compiler | baseline.cpp | std_headers_only | umbrella_only.cpp | resilience.cpp | resilience − baseline |")
        w("|---|---:|---:|---:|---:|---:|")
        for cxx, per in cc["compilers"].items():
            t = per["tus"]
            cells = []
            for name in ("baseline", "std_headers_only", "umbrella_only", "resilience"):
                x = t.get(name)
                cells.append(f"{x['seconds']:.2f} s ({x['lines']:,} lines)" if x else "—")
            b, r = t["baseline"], t["resilience"]
            w(f"| {per['version']} | " + " | ".join(cells) + f" | +{r['seconds'] - b['seconds']:.2f} s |")
        w("")
        w("Standard headers reached through the library: " + ", ".join(f"`<{h}>`" for h in cc["std_headers"]) + ".")
        w("")
        if cc.get("heaviest"):
            first = next(iter(cc["compilers"].values()))["version"]
            w(f"What each of them adds on top of `<atomic>`, `<chrono>` and `<tuple>` ({first}; they share "
              "much of their content, so the rows do not add up):")
            w("")
            w("| header | added CPU time | added preprocessed lines |")
            w("|---|---:|---:|")
            for h, sec, lines in cc["heaviest"][:10]:
                w(f"| `<{h}>` | +{sec:.2f} s | +{lines:,} |")
            w("")

    # Machine.
    w("### Machine")
    w("")
    w(f"- CPU: {info['cpu']}, {info['logical_cpus']} logical CPUs"
      + (f", {info['mhz']} MHz" if info.get("mhz") else "") + f"; virtualization: {info['virtualization']}")
    if info.get("caches"):
        w(f"- caches: {info['caches']}")
    w(f"- kernel: {info['kernel']}; clock source: `{info['clocksource']}`")
    w(f"- compiler: {info['compiler']}; build type {info['build_type']} (`{info['flags']}`)")
    w(f"- Google Benchmark {info['benchmark_version']} (library built as `{info['benchmark_library_build']}` "
      "by the distribution; the timing loop is inlined from its header)")
    if info.get("busy_min") is not None:
        quiet = info["busy_max"] < 0.5
        per = ", ".join(f"{p.removeprefix('bench_')} {b:.1f}" for p, b in sorted(info["busy_by_program"].items())
                        if b is not None)
        w(f"- other processes kept {info['busy_min']:.1f} to {info['busy_max']:.1f} of the "
          f"{info['logical_cpus']} CPUs busy around the runs (just before each program: {per}); 1-minute load "
          f"average {info['load_min']:.2f} to {info['load_max']:.2f}"
          + ("" if quiet else " — **the machine was shared and busy**: treat the figures as upper bounds"))
    elif info.get("load_min") is not None:
        quiet = info["load_max"] < 1.0
        w(f"- 1-minute load average while measuring: {info['load_min']:.2f} to {info['load_max']:.2f}"
          + ("" if quiet else " — **the machine was busy**: treat the figures as upper bounds"))
    w("")
    w(END)
    return "\n".join(out) + "\n"


def write_output(path: str, section: str) -> None:
    if path == "-":
        sys.stdout.write(section)
        return
    p = Path(path)
    if p.exists():
        text = p.read_text()
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            _, tail = rest.split(END, 1)
            p.write_text(head + section.rstrip("\n") + tail)
            log(f"updated the generated section of {p}")
            return
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("# Performance\n\n" + section)
    log(f"wrote {p}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=str(ROOT / "build" / "benchmarks"))
    ap.add_argument("--no-build", action="store_true", help="use the programs already built in --build-dir")
    ap.add_argument("--cxx", help="C++ compiler for the benchmark build (default: CMake's choice)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repetitions", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.5, help="--benchmark_min_time per repetition (seconds)")
    ap.add_argument("--filter", help="--benchmark_filter regex passed to every program")
    ap.add_argument("--programs", help="regex selecting the bench_* programs to run")
    ap.add_argument("--quiet-busy", type=float, default=0.3,
                    help="before each program, wait until other processes keep fewer CPUs busy than this")
    ap.add_argument("--max-wait", type=float, default=120.0, help="longest wait for a quiet machine, per program (s)")
    ap.add_argument("--results", help="render a results JSON written by --json, running nothing")
    ap.add_argument("--merge", help="results JSON of an earlier run (--json): keep its programs that this run does "
                                    "not run, and its compile cost when this run skips it")
    ap.add_argument("--compile-runs", type=int, default=5)
    ap.add_argument("--no-compile-cost", action="store_true")
    ap.add_argument("--json", help="also save the raw results (all programs) to this file")
    ap.add_argument("--output", default=str(ROOT / "docs" / "performance.md"), help="markdown file to update, or - for stdout")
    args = ap.parse_args()

    if args.results:
        saved = json.loads(Path(args.results).read_text())
        runs = saved["runs"]
        write_output(args.output, render(collect(runs), runs, saved.get("compile_cost"), saved["machine"], args))
        return 0

    build_dir = Path(args.build_dir)
    if not args.no_build:
        build(build_dir, args.cxx, args.jobs)
    programs = find_programs(build_dir, args.programs)
    if not programs:
        raise SystemExit(f"run.py: no bench_* programs in {build_dir / 'benchmarks'}")

    runs = [run_program(exe, args) for exe in programs]
    cc = None
    if args.merge:
        previous = json.loads(Path(args.merge).read_text())
        fresh = {r["program"] for r in runs}
        kept = [r for r in previous.get("runs", []) if r["program"] not in fresh]
        log(f"merging {len(kept)} program(s) from {args.merge}: " + ", ".join(r["program"] for r in kept))
        runs = sorted(runs + kept, key=lambda r: r["program"])
        cc = previous.get("compile_cost")
    rows = collect(runs)

    if not args.no_compile_cost:
        compilers = [cache_value(build_dir, "CMAKE_CXX_COMPILER") or "c++"]
        clang = shutil.which("clang++")
        if clang and all(Path(c).name != "clang++" for c in compilers):
            compilers.append(clang)
        cc = compile_cost(compilers, args.compile_runs)

    info = machine(runs, build_dir)
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "compile_cost": cc, "machine": info}, indent=1))
    write_output(args.output, render(rows, runs, cc, info, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
