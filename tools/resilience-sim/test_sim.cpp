// SPDX-License-Identifier: MIT
// resilience: requires nlohmann_json
//
// Known cases the simulator must reproduce (issue: the main job). Each runs the real policies on
// virtual time; all are deterministic for their seed.

#include "sim.hpp"
#include "support/catch.hpp"

#include <cmath>

using namespace resilience_sim;

namespace {

scenario quiet_scenario() {
    scenario s = parse_scenario(R"({"configurations": [{"name": "x"}]})");
    s.duration_s = 300;
    s.rate_per_s = 200;
    s.bucket_s = 1;
    s.dependency = dependency_model{};
    s.dependency.median_ms = 20;
    s.dependency.p99_ms = 60;
    s.dependency.transient_error_rate = 0;
    s.spikes.clear();
    return s;
}

}  // namespace

TEST_CASE("independent failures with probability p and k attempts fail about p^k of the calls") {
    scenario s = quiet_scenario();
    const double p = 0.2;
    s.dependency.transient_error_rate = p;
    for (std::uint32_t k : {1u, 2u, 3u}) {
        configuration c{.name = "retry"};
        c.retry = retry_config{.max_attempts = k, .base_ms = 10, .cap_ms = 50, .jitter = "full"};
        auto r = run_configuration(s, c);
        const double expected = std::pow(p, k);
        const double n = static_cast<double>(r.invocations);
        const double sd = std::sqrt(expected * (1 - expected) / n);
        INFO("k=" << k << " failure rate " << r.failure_rate() << " expected " << expected << " n=" << n);
        CHECK(std::abs(r.failure_rate() - expected) <= 5 * sd);
        // Amplification: 1 + p + p^2 + ... + p^(k-1) attempts per invocation.
        double amp = 0;
        for (std::uint32_t i = 0; i < k; ++i) amp += std::pow(p, i);
        CHECK(std::abs(r.amplification() - amp) < 0.02);
    }
}

TEST_CASE("an outage longer than the deadline fails every call in it when there are no policies") {
    scenario s = quiet_scenario();
    s.dependency.outages.push_back(outage{{100, 40}, outage::mode::hang, 10000});
    configuration none{.name = "no policies"};
    auto r = run_configuration(s, none);
    std::uint64_t inside = 0, failed_inside = 0, failed_outside = 0;
    for (std::size_t b = 0; b < r.buckets.size(); ++b) {
        double start = static_cast<double>(b) * s.bucket_s;
        if (start >= 100 && start + s.bucket_s <= 140) {
            inside += r.buckets[b].invocations;
            failed_inside += r.buckets[b].failures;
        } else if (start + s.bucket_s <= 100) {
            failed_outside += r.buckets[b].failures;
        }
    }
    REQUIRE(inside > 1000);
    CHECK(failed_inside == inside);
    CHECK(failed_outside == 0);
    // Each of them hung until the deadline the handler passed down (function timeout minus reserve).
    CHECK(r.max_ms == Approx(s.function_timeout_ms - s.reserve_ms).margin(1));
}

TEST_CASE("with the dead-letter policy outermost every failed invocation id is in the sink") {
    scenario s = quiet_scenario();
    s.dependency.transient_error_rate = 0.1;
    s.dependency.throttles.push_back(throttling{{50, 20}, 0.8, 200});
    s.dependency.outages.push_back(outage{{150, 30}, outage::mode::hang, 10000});
    configuration c{.name = "full"};
    c.retry = retry_config{.max_attempts = 2, .base_ms = 10, .cap_ms = 100, .jitter = "full"};
    c.timeout_ms = 2000;
    c.attempt_timeout_ms = 500;
    c.breaker = breaker_config{};
    c.dead_letter = true;
    auto r = run_configuration(s, c);
    REQUIRE(r.failures > 100);
    CHECK(r.platform_throttled == 0);
    CHECK(r.failed_captured == r.failures);
    CHECK(r.dead_letters == r.failures);
    CHECK(r.user_error_rate() == 0);
    // Several kinds of failure were captured, not just one.
    std::size_t kinds = 0;
    for (auto k : r.failures_by_kind) kinds += k > 0 ? 1 : 0;
    CHECK(kinds >= 2);
}

TEST_CASE("breaker recovery after an outage is bounded by the open duration plus one probe") {
    scenario s = quiet_scenario();
    s.dependency.outages.push_back(outage{{100, 60}, outage::mode::error, 5});
    configuration c{.name = "breaker"};
    c.timeout_ms = 2000;
    c.breaker = breaker_config{.failure_threshold = 5, .open_ms = 5000, .open_max_ms = 0, .open_jitter = 0.2,
                               .half_open_probes = 1};
    auto r = run_configuration(s, c);
    REQUIRE(r.recoveries.size() == 1);
    REQUIRE(r.recoveries[0].breaker_recovery_s.has_value());
    // open duration with +20% jitter, plus one probe's latency (p99 60 ms, tail bounded well under 1 s).
    CHECK(*r.recoveries[0].breaker_recovery_s <= 5.0 * 1.2 + 1.0);
    REQUIRE(r.recoveries[0].service_recovery_s.has_value());
    CHECK(*r.recoveries[0].service_recovery_s <= 5.0 * 1.2 + 2.0);
    // While open, the breaker shed load: far fewer attempts than invocations during the outage.
    std::uint64_t inv = 0, att = 0;
    for (std::size_t b = 110; b < 160; ++b) {
        inv += r.buckets[b].invocations;
        att += r.buckets[b].attempts;
    }
    CHECK(att * 5 < inv);
}

TEST_CASE("the same seed gives the same result; another seed another one") {
    scenario s = quiet_scenario();
    s.dependency.transient_error_rate = 0.05;
    s.dependency.outages.push_back(outage{{100, 30}, outage::mode::hang, 10000});
    configuration c{.name = "full"};
    c.retry = retry_config{};
    c.timeout_ms = 2000;
    c.attempt_timeout_ms = 500;
    c.breaker = breaker_config{.failure_threshold = 3, .open_ms = 2000, .open_max_ms = 0, .open_jitter = 0.5,
                               .half_open_probes = 1};
    c.dead_letter = true;
    auto a = run_configuration(s, c);
    auto b = run_configuration(s, c);
    CHECK(a.failures == b.failures);
    CHECK(a.attempts == b.attempts);
    CHECK(a.p99_ms == b.p99_ms);
    CHECK(a.dead_letters == b.dead_letters);
    REQUIRE(a.buckets.size() == b.buckets.size());
    for (std::size_t i = 0; i < a.buckets.size(); ++i) {
        CHECK(a.buckets[i].circuit_open_rejections == b.buckets[i].circuit_open_rejections);
        CHECK(a.buckets[i].open_fraction == b.buckets[i].open_fraction);
    }
    s.seed = 7;
    auto d = run_configuration(s, c);
    CHECK((d.attempts != a.attempts || d.invocations != a.invocations));
}

TEST_CASE("a malformed scenario names the field and the line") {
    auto error_of = [](const std::string& text) -> std::string {
        try {
            (void)parse_scenario(text);
        } catch (const scenario_error& e) {
            return e.what();
        }
        return "no error";
    };
    CHECK(error_of("{\n  \"duration_s\": -5\n}") ==
          "scenario: duration_s (line 2): must be > 0 and <= 604800 (got -5)");
    std::string e = error_of("{\n \"dependency\": {\n  \"outages\": [\n   {\"start_s\": 10}\n  ]\n }\n}");
    CHECK(e == "scenario: dependency.outages[0].duration_s (line 4): is required");
    e = error_of("{\n \"configurations\": [{\"name\": \"a\",\n   \"retry\": {\"jiter\": \"full\"}}]\n}");
    CHECK(e.find("configurations[0].retry.jiter (line 3): unknown field") != std::string::npos);
    e = error_of("{\n \"seed\": 1,\n \"duration_s\": 10,,\n}");
    CHECK(e.find("line 3: not valid JSON") != std::string::npos);
    e = error_of("{\"configurations\": [{\"breaker\": {\"failure_threshold\": 0}}]}");
    CHECK(e.find("configurations[0].breaker.failure_threshold (line 1): must be between 1 and 1000000") !=
          std::string::npos);
}
