// SPDX-License-Identifier: MIT
#pragma once

// resilience-sim: a discrete-event simulation, on virtual time, of Lambda execution environments calling a
// flaky dependency through the library's real policies. See docs/simulator.md.
//
// The model in one paragraph: invocations arrive as a Poisson process (with spikes); each is handled by
// an idle execution environment (reused, most recently freed first, created on demand up to the
// concurrency limit — beyond it the invocation is throttled by the platform). An environment keeps its
// own policy state (its circuit breaker) across invocations and has its own manual_clock, which the
// simulation sets to the arrival time; the call then runs synchronously on that clock: every dependency
// attempt advances it by its latency, every backoff sleep by its delay. The environment is busy until
// the clock's final time. Everything is deterministic for a given seed.

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace resilience_sim {

using ms = std::chrono::milliseconds;

struct window {
    double start_s = 0;
    double duration_s = 0;
    [[nodiscard]] bool contains(double t) const { return t >= start_s && t < start_s + duration_s; }
    [[nodiscard]] double end_s() const { return start_s + duration_s; }
};

struct spike : window {
    double multiplier = 1;
};

struct throttling : window {
    double rate = 1;        // fraction of calls answered 429 during the window
    double retry_after_ms = 1000;
};

struct outage : window {
    enum class mode { error, hang } kind = mode::hang;
    double latency_ms = 10000;  // time until the error (error mode) or until the client gives up (hang)
};

struct dependency_model {
    double median_ms = 80;
    double p99_ms = 400;
    double transient_error_rate = 0.03;
    double slow_tail_probability = 0.0;
    double slow_tail_ms = 3000;
    std::vector<throttling> throttles{};
    std::vector<outage> outages{};
};

struct retry_config {
    std::uint32_t max_attempts = 3;
    double base_ms = 100;
    double cap_ms = 2000;
    std::string jitter = "full";  // none | full | equal | decorrelated
};

struct breaker_config {
    std::uint32_t failure_threshold = 5;
    double open_ms = 5000;
    double open_max_ms = 0;        // > open_ms: re-opens back off up to this
    double open_jitter = 0.1;
    std::uint32_t half_open_probes = 1;
};

struct configuration {
    std::string name{};
    std::optional<retry_config> retry{};
    std::optional<double> timeout_ms{};          // overall budget (outside retry)
    std::optional<double> attempt_timeout_ms{};  // per attempt (inside retry)
    std::optional<breaker_config> breaker{};
    bool dead_letter = false;
};

struct targets {
    double max_user_error_rate = 0.001;
    double max_p99_ms = 3000;
    double min_dlq_capture = 1.0;
    double max_recovery_s = 120;
};

struct scenario {
    std::string name = "whitepaper";
    std::uint64_t seed = 42;
    double duration_s = 600;
    double rate_per_s = 100;
    std::vector<spike> spikes{};
    std::uint32_t max_concurrency = 1000;
    double function_timeout_ms = 6000;
    double reserve_ms = 200;
    double bucket_s = 5;
    dependency_model dependency{};
    targets sla{};
    std::vector<configuration> configurations{};
};

/// A scenario error names the field (a JSON path such as `dependency.outages[0].duration_s`) and, when
/// known, the line of the scenario file.
struct scenario_error : std::runtime_error {
    scenario_error(std::string path, int line, const std::string& what);
    std::string path{};
    int line;
};

/// The built-in default scenario (JSON text), reproducing the whitepaper's setting.
const char* default_scenario_json();

/// Parses and validates a scenario. Throws scenario_error naming the field and line.
scenario parse_scenario(const std::string& json_text);

struct bucket_stats {
    std::uint64_t invocations = 0, successes = 0, failures = 0, attempts = 0, dead_letters = 0;
    std::uint64_t circuit_open_rejections = 0;
    double p99_ms = 0;
    double open_fraction = 0;  // share of environments whose breaker was not closed at the bucket's end
};

struct outage_recovery {
    double outage_end_s = 0;
    std::optional<double> service_recovery_s{};  // until the failure rate is back to its pre-outage level
    std::optional<double> breaker_recovery_s{};  // until the last circuit_open rejection (breaker configs)
};

struct config_result {
    std::string name{};
    bool has_dead_letter = false;
    bool has_breaker = false;
    std::uint64_t invocations = 0, successes = 0, failures = 0, platform_throttled = 0;
    std::uint64_t attempts = 0;              // calls that reached the dependency
    std::uint64_t dead_letters = 0;          // records in the sink
    std::uint64_t failed_captured = 0;       // failed invocations whose id is in the sink
    std::uint64_t dead_letter_failed = 0;    // calls that reported dead_letter_failed
    std::uint64_t environments = 0;
    double p50_ms = 0, p95_ms = 0, p99_ms = 0, max_ms = 0;
    std::vector<std::uint64_t> failures_by_kind{};  // indexed by failure_kind
    std::vector<bucket_stats> buckets{};
    std::vector<outage_recovery> recoveries{};
    double wall_seconds = 0;
    double cpu_seconds = 0;  // CPU time of the simulating thread

    [[nodiscard]] double failure_rate() const { return invocations ? double(failures) / double(invocations) : 0; }
    /// Failed invocations whose event was not captured by a dead-letter sink: what a user loses.
    [[nodiscard]] double user_error_rate() const {
        return invocations ? double(failures - failed_captured) / double(invocations) : 0;
    }
    [[nodiscard]] double dlq_capture() const { return failures ? double(failed_captured) / double(failures) : 1.0; }
    [[nodiscard]] double amplification() const { return invocations ? double(attempts) / double(invocations) : 0; }
};

struct run_options {
    bool progress = false;  // a progress bar on stderr
};

/// Runs one configuration of a scenario.
config_result run_configuration(const scenario& s, const configuration& c, const run_options& o = {});

/// Pass/fail of one result against the scenario's targets.
struct verdicts {
    bool user_errors, p99, dlq, recovery;
    [[nodiscard]] bool all() const { return user_errors && p99 && dlq && recovery; }
};
verdicts judge(const scenario& s, const config_result& r);

/// The side-by-side report: a text table for terminals and markdown for files.
std::string format_table(const scenario& s, const std::vector<config_result>& results);
std::string format_markdown(const scenario& s, const std::vector<config_result>& results);
/// The chart: success rate, p99, breaker state, dead letters and downstream load over time.
std::string format_svg(const scenario& s, const std::vector<config_result>& results);

}  // namespace resilience_sim
