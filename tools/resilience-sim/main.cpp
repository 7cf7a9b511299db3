// SPDX-License-Identifier: MIT
// resilience: requires nlohmann_json
//
// resilience-sim: what will a policy configuration do to a flaky dependency? Runs the library's real
// policies on virtual time against a modelled dependency and prints the whitepaper's table.

#include "sim.hpp"

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

constexpr const char* usage = R"(usage: resilience-sim [options]

Simulates Lambda execution environments calling a flaky dependency through resilience's policies, on
virtual time, and compares policy configurations against the whitepaper's targets.

options:
  --scenario FILE      a scenario JSON file (default: the built-in whitepaper scenario)
  --seed N             override the scenario's seed (same seed, same result)
  --duration SECONDS   override the simulated duration
  --rate N             override the arrival rate (invocations per second)
  --config NAME        run only the configuration(s) with this name (repeatable)
  --out FILE           also write the report as markdown
  --svg FILE           also draw the chart (success rate, p99, breaker state, dead letters, load)
  --print-scenario     print the built-in scenario's JSON and exit
  --check NAME         exit with status 3 unless configuration NAME meets every target
  --progress / --no-progress   a progress bar on stderr (default: on when stderr is a terminal)
  -h, --help           this text
)";

[[noreturn]] void die(const std::string& msg) {
    std::fprintf(stderr, "resilience-sim: %s\n", msg.c_str());
    std::exit(2);
}

double parse_number(const char* flag, const char* v) {
    char* end = nullptr;
    double d = std::strtod(v, &end);
    if (!end || *end != '\0' || !(d > 0)) die(std::string(flag) + " expects a positive number, got '" + v + "'");
    return d;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace resilience_sim;
    std::string scenario_path, out_path, svg_path;
    std::vector<std::string> only, checks;
    std::optional<std::uint64_t> seed;
    std::optional<double> duration, rate;
    bool progress = isatty(2) != 0;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) die(a + " needs a value");
            return argv[++i];
        };
        if (a == "-h" || a == "--help") {
            std::fputs(usage, stdout);
            return 0;
        } else if (a == "--scenario") scenario_path = value();
        else if (a == "--seed") {
            const char* v = value();
            char* end = nullptr;
            unsigned long long x = std::strtoull(v, &end, 10);
            if (!end || *end || v[0] == '-') die(std::string("--seed expects a non-negative integer, got '") + v + "'");
            seed = x;
        } else if (a == "--duration") duration = parse_number("--duration", value());
        else if (a == "--rate") rate = parse_number("--rate", value());
        else if (a == "--config") only.emplace_back(value());
        else if (a == "--check") checks.emplace_back(value());
        else if (a == "--out") out_path = value();
        else if (a == "--svg") svg_path = value();
        else if (a == "--progress") progress = true;
        else if (a == "--no-progress") progress = false;
        else if (a == "--print-scenario") {
            std::fputs(default_scenario_json(), stdout);
            return 0;
        } else die("unknown option '" + a + "' (see --help)");
    }

    std::string text = default_scenario_json();
    if (!scenario_path.empty()) {
        std::ifstream in(scenario_path, std::ios::binary);
        if (!in) die("cannot read scenario file '" + scenario_path + "': " + std::strerror(errno));
        std::ostringstream ss;
        ss << in.rdbuf();
        text = ss.str();
    }
    scenario s;
    try {
        s = parse_scenario(text);
    } catch (const scenario_error& e) {
        std::fprintf(stderr, "resilience-sim: %s%s\n", scenario_path.empty() ? "" : (scenario_path + ": ").c_str(), e.what());
        return 2;
    }
    if (seed) s.seed = *seed;
    if (duration) s.duration_s = *duration;
    if (rate) s.rate_per_s = *rate;
    if (s.bucket_s > s.duration_s) s.bucket_s = s.duration_s;

    std::vector<config_result> results;
    for (const auto& c : s.configurations) {
        if (!only.empty() && std::find(only.begin(), only.end(), c.name) == only.end()) continue;
        results.push_back(run_configuration(s, c, run_options{.progress = progress}));
    }
    if (results.empty()) die("no configuration matched --config");
    std::fputs(format_table(s, results).c_str(), stdout);
    if (!out_path.empty()) {
        std::ofstream out(out_path, std::ios::binary);
        out << format_markdown(s, results);
        if (!out) die("cannot write '" + out_path + "'");
        std::printf("Wrote %s\n", out_path.c_str());
    }
    if (!svg_path.empty()) {
        std::ofstream out(svg_path, std::ios::binary);
        out << format_svg(s, results);
        if (!out) die("cannot write '" + svg_path + "'");
        std::printf("Wrote %s\n", svg_path.c_str());
    }
    int status = 0;
    for (const auto& name : checks) {
        auto it = std::find_if(results.begin(), results.end(), [&](const config_result& r) { return r.name == name; });
        if (it == results.end()) die("--check: no configuration named '" + name + "' was run");
        if (!judge(s, *it).all()) {
            std::fprintf(stderr, "resilience-sim: configuration '%s' misses a target\n", name.c_str());
            status = 3;
        }
    }
    return status;
}
