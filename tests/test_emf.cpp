// SPDX-License-Identifier: MIT
// resilience: requires fmt nlohmann_json
#include "support/allocations.hpp"
#include "support/catch.hpp"

#include <resilience/emf.hpp>
#include <resilience/resilient_call.hpp>
#include <resilience/timeout.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <cstdio>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

// Counts this thread's allocations, to prove the "allocates nothing" claims (skipped under TSan).
using resilience_test::allocations_during;

namespace rs = resilience;
using json = nlohmann::json;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

const auto wall = sys_days{year{2026} / 1 / 1} + 12h;
const std::int64_t wall_ms = duration_cast<milliseconds>(wall.time_since_epoch()).count();

/// The rules of the EMF specification's document structure, checked member by member: the root
/// carries `_aws` with an integer `Timestamp` and a non-empty `CloudWatchMetrics` array of metric
/// directives; a directive has exactly `Namespace`, `Dimensions` and `Metrics`; a dimension set has at
/// most 30 keys, each a root member whose value is a string; at most 100 metric definitions, each with
/// a `Name` (and optionally a `Unit` from CloudWatch's list and a `StorageResolution` of 1 or 60) that
/// is a root member holding a number or an array of 1 to 100 numbers. Objects defined by the
/// specification must not contain other members.
void check_emf_schema(const json& root) {
    static const std::set<std::string> units{
        "Seconds",       "Microseconds",     "Milliseconds",     "Bytes",           "Kilobytes",
        "Megabytes",     "Gigabytes",        "Terabytes",        "Bits",            "Kilobits",
        "Megabits",      "Gigabits",         "Terabits",         "Percent",         "Count",
        "Bytes/Second",  "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second",
        "Bits/Second",   "Kilobits/Second",  "Megabits/Second",  "Gigabits/Second", "Terabits/Second",
        "Count/Second",  "None"};
    REQUIRE(root.is_object());
    REQUIRE(root.contains("_aws"));
    const json& aws = root["_aws"];
    REQUIRE(aws.is_object());
    for (auto it = aws.begin(); it != aws.end(); ++it) CHECK((it.key() == "Timestamp" || it.key() == "CloudWatchMetrics"));
    REQUIRE(aws.contains("Timestamp"));
    CHECK(aws["Timestamp"].is_number_integer());
    CHECK(aws["Timestamp"].get<std::int64_t>() >= 0);
    REQUIRE(aws.contains("CloudWatchMetrics"));
    const json& directives = aws["CloudWatchMetrics"];
    REQUIRE(directives.is_array());
    REQUIRE(!directives.empty());
    for (const json& d : directives) {
        REQUIRE(d.is_object());
        for (auto it = d.begin(); it != d.end(); ++it) {
            CHECK((it.key() == "Namespace" || it.key() == "Dimensions" || it.key() == "Metrics"));
        }
        REQUIRE(d["Namespace"].is_string());
        const auto ns = d["Namespace"].get<std::string>();
        CHECK(!ns.empty());
        CHECK(ns.size() <= 255);
        REQUIRE(d["Dimensions"].is_array());
        for (const json& set : d["Dimensions"]) {
            REQUIRE(set.is_array());
            CHECK(set.size() <= 30);
            for (const json& key : set) {
                REQUIRE(key.is_string());
                const auto k = key.get<std::string>();
                REQUIRE(root.contains(k));
                CHECK(root[k].is_string());
                CHECK(!root[k].get<std::string>().empty());
                CHECK(root[k].get<std::string>().size() <= 1024);
            }
        }
        REQUIRE(d["Metrics"].is_array());
        CHECK(d["Metrics"].size() <= 100);
        std::set<std::string> names;
        for (const json& m : d["Metrics"]) {
            REQUIRE(m.is_object());
            for (auto it = m.begin(); it != m.end(); ++it) {
                CHECK((it.key() == "Name" || it.key() == "Unit" || it.key() == "StorageResolution"));
            }
            REQUIRE(m["Name"].is_string());
            const auto name = m["Name"].get<std::string>();
            CHECK(!name.empty());
            CHECK(name.size() <= 255);
            CHECK(names.insert(name).second);  // no duplicates
            if (m.contains("Unit")) CHECK(units.count(m["Unit"].get<std::string>()) == 1);
            if (m.contains("StorageResolution")) {
                auto r = m["StorageResolution"].get<int>();
                CHECK((r == 1 || r == 60));
            }
            REQUIRE(root.contains(name));
            const json& v = root[name];
            if (v.is_array()) {
                CHECK(!v.empty());
                CHECK(v.size() <= 100);
                for (const json& x : v) CHECK(x.is_number());
            } else {
                CHECK(v.is_number());
            }
        }
    }
}

json parse_line(const std::string& line) {
    CHECK(line.find('\n') == std::string::npos);
    auto j = json::parse(line);
    check_emf_schema(j);
    return j;
}

rs::event ev(rs::event_type t, rs::failure_kind k = rs::failure_kind::error, rs::duration delay = {}) {
    rs::event e;
    e.type = t;
    e.kind = k;
    e.delay = delay;
    return e;
}

}  // namespace

static_assert(rs::listener<rs::emf_listener>);

TEST_CASE("an EMF line per flush, parsed back and checked against the EMF rules", "[emf]") {
    rs::emf_listener emf{{.metric_namespace = "orders", .dimensions = {{"Service", "orders"}, {"Dependency", "inventory"}}}, nullptr};
    using T = rs::event_type;
    using K = rs::failure_kind;
    emf.on_event(ev(T::attempt_started));
    emf.on_event(ev(T::attempt_failed, K::error, 120ms));
    emf.on_event(ev(T::retry_scheduled));
    emf.on_event(ev(T::attempt_started));
    emf.on_event(ev(T::attempt_failed, K::timeout, 500ms));
    emf.on_event(ev(T::timeout, K::timeout));
    emf.on_event(ev(T::retry_scheduled));
    emf.on_event(ev(T::attempt_started));
    emf.on_event(ev(T::attempt_succeeded, K::error, 1500us));
    emf.on_event(ev(T::rejected, K::circuit_open));
    emf.on_event(ev(T::rejected, K::bulkhead_full));
    emf.on_event(ev(T::retries_exhausted));
    emf.on_event(ev(T::budget_exhausted));
    emf.on_event(ev(T::fallback_used));
    emf.on_event(ev(T::dead_letter_published));
    emf.on_event(ev(T::dead_letter_failed));
    rs::event change = ev(T::state_changed);
    change.from = "closed";
    change.to = "open";
    emf.on_event(change);
    change.from = "open";
    change.to = "half_open";
    emf.on_event(change);
    change.from = "half_open";
    change.to = "closed";
    emf.on_event(change);
    change.to = "isolated";
    emf.on_event(change);
    REQUIRE(emf.set_property("RequestId", "req-1"));

    json j = parse_line(emf.render(wall));
    CHECK(j["_aws"]["Timestamp"].get<std::int64_t>() == wall_ms);
    const json& d = j["_aws"]["CloudWatchMetrics"][0];
    CHECK(d["Namespace"] == "orders");
    CHECK(d["Dimensions"] == json::array({json::array({"Service", "Dependency"})}));
    CHECK(d["Metrics"].size() == rs::emf_metric_names.size());
    CHECK(j["Service"] == "orders");
    CHECK(j["Dependency"] == "inventory");
    CHECK(j["Attempts"] == 3);
    CHECK(j["AttemptFailures"] == 2);
    CHECK(j["Retries"] == 2);
    CHECK(j["RetriesExhausted"] == 1);
    CHECK(j["BudgetExhausted"] == 1);
    CHECK(j["Rejections"] == 2);
    CHECK(j["Timeouts"] == 1);
    CHECK(j["FallbacksUsed"] == 1);
    CHECK(j["BreakerTransitions"] == 4);
    CHECK(j["BreakerOpened"] == 1);
    CHECK(j["BreakerHalfOpened"] == 1);
    CHECK(j["BreakerClosed"] == 1);
    CHECK(j["BreakerIsolated"] == 1);
    CHECK(j["DeadLetters"] == 1);
    CHECK(j["DeadLetterFailures"] == 1);
    CHECK(j["Failures.error"] == 1);
    CHECK(j["Failures.timeout"] == 2);  // the failed attempt and the timeout event
    CHECK(j["Failures.circuit_open"] == 1);
    CHECK(j["Failures.bulkhead_full"] == 1);
    CHECK(j["Failures.rate_limited"] == 0);
    CHECK(j["Failures.dead_letter_failed"] == 1);
    CHECK(j["AttemptLatency"] == json::array({120.0, 500.0, 1.5}));
    CHECK(j["AttemptLatencySamples"] == 3);
    CHECK(j["RequestId"] == "req-1");
    for (const json& m : d["Metrics"]) {
        CHECK(m["Unit"] == (m["Name"] == "AttemptLatency" ? "Milliseconds" : "Count"));
        CHECK_FALSE(m.contains("StorageResolution"));
    }

    SECTION("a flush resets everything") {
        json next = parse_line(emf.render(wall + 1s));
        CHECK(next["Attempts"] == 0);
        CHECK(next["Failures.timeout"] == 0);
        CHECK_FALSE(next.contains("AttemptLatency"));  // no samples: no (empty, invalid) array
        CHECK_FALSE(next.contains("RequestId"));
        for (const json& m : next["_aws"]["CloudWatchMetrics"][0]["Metrics"]) CHECK(m["Name"] != "AttemptLatency");
    }
}

TEST_CASE("EMF options: zero counts, resolution, no dimensions", "[emf]") {
    rs::emf_listener emf{{.skip_zero_counts = true, .high_resolution = true}, nullptr};
    emf.on_event(ev(rs::event_type::attempt_started));
    emf.on_event(ev(rs::event_type::attempt_succeeded, rs::failure_kind::error, 2ms));
    json j = parse_line(emf.render(wall));
    const json& d = j["_aws"]["CloudWatchMetrics"][0];
    CHECK(d["Namespace"] == "resilience");
    CHECK(d["Dimensions"] == json::array({json::array()}));
    REQUIRE(d["Metrics"].size() == 2);
    CHECK(d["Metrics"][0]["Name"] == "Attempts");
    CHECK(d["Metrics"][0]["StorageResolution"] == 1);
    CHECK(d["Metrics"][1]["Name"] == "AttemptLatency");
    CHECK_FALSE(j.contains("Retries"));

    json empty = parse_line(emf.render(wall));  // nothing happened: a directive with no metrics
    CHECK(empty["_aws"]["CloudWatchMetrics"][0]["Metrics"].empty());
}

TEST_CASE("more attempts than EMF allows values: a uniform sample of 100", "[emf]") {
    rs::emf_listener emf{{}, nullptr};
    for (int i = 1; i <= 1000; ++i) emf.on_event(ev(rs::event_type::attempt_succeeded, rs::failure_kind::error, milliseconds(i)));
    json j = parse_line(emf.render(wall));
    const json& lat = j["AttemptLatency"];
    REQUIRE(lat.size() == 100);
    CHECK(j["AttemptLatencySamples"] == 1000);
    std::set<double> distinct;
    for (const json& v : lat) {
        double x = v.get<double>();
        CHECK(x >= 1.0);
        CHECK(x <= 1000.0);
        distinct.insert(x);
    }
    CHECK(distinct.size() == 100);
    // A uniform sample reaches past the first hundred.
    CHECK(*distinct.rbegin() > 500.0);

    rs::emf_listener small{{.max_latency_samples = 3}, nullptr};
    for (int i = 0; i < 10; ++i) small.on_event(ev(rs::event_type::attempt_succeeded, rs::failure_kind::error, 1ms));
    CHECK(parse_line(small.render(wall))["AttemptLatency"].size() == 3);
}

TEST_CASE("strings are escaped", "[emf]") {
    rs::emf_listener emf{{.dimensions = {{"Op", "say \"hi\" \\ there"}}}, nullptr};
    const std::string nasty = "line\nbreak\ttab \x01 \"quoted\" caf\xc3\xa9";
    REQUIRE(emf.set_property("Note", nasty));
    json j = parse_line(emf.render(wall));
    CHECK(j["Op"] == "say \"hi\" \\ there");
    CHECK(j["Note"] == nasty);
}

TEST_CASE("properties are bounded and never clash with metrics or dimensions", "[emf]") {
    rs::emf_listener emf{{.dimensions = {{"Service", "orders"}}}, nullptr};
    CHECK_FALSE(emf.set_property("", "x"));
    CHECK_FALSE(emf.set_property("_aws", "x"));
    CHECK_FALSE(emf.set_property("Attempts", "x"));
    CHECK_FALSE(emf.set_property("Failures.timeout", "x"));
    CHECK_FALSE(emf.set_property("AttemptLatencySamples", "x"));
    CHECK_FALSE(emf.set_property("Service", "x"));
    CHECK_FALSE(emf.set_property("Big", std::string(rs::emf_max_property_bytes + 1, 'x')));
    CHECK(emf.set_property("Big", std::string(rs::emf_max_property_bytes, 'x')));
    CHECK(emf.set_property("Id", "1"));
    CHECK(emf.set_property("Id", "2"));  // replaced
    for (std::size_t i = 0; i < rs::emf_max_properties; ++i) (void)emf.set_property("p" + std::to_string(i), "v");
    CHECK_FALSE(emf.set_property("one-too-many", "v"));
    json j = parse_line(emf.render(wall));
    CHECK(j["Id"] == "2");
    CHECK(j["Service"] == "orders");
    CHECK(j.size() < 1 + 1 + rs::emf_metric_names.size() + rs::emf_max_properties + 1);
}

TEST_CASE("emf_options are validated", "[emf]") {
    auto field = [](const rs::emf_options& o) {
        auto e = o.validate();
        return e ? std::string(e->field) : std::string();
    };
    CHECK(field({}) == "");
    CHECK(field({.metric_namespace = ""}) == "emf_options.metric_namespace");
    CHECK(field({.metric_namespace = "AWS/Lambda"}) == "emf_options.metric_namespace");
    CHECK(field({.metric_namespace = "has space"}) == "emf_options.metric_namespace");
    CHECK(field({.metric_namespace = std::string(256, 'a')}) == "emf_options.metric_namespace");
    CHECK(field({.metric_namespace = std::string(255, 'a')}) == "");
    CHECK(field({.metric_namespace = "my-app/orders_v2.#1:x"}) == "");

    std::vector<rs::emf_dimension> dims;
    for (int i = 0; i < 30; ++i) dims.push_back({"d" + std::to_string(i), "v"});
    CHECK(field({.dimensions = dims}) == "");
    dims.push_back({"d30", "v"});
    CHECK(field({.dimensions = dims}) == "emf_options.dimensions");

    CHECK(field({.dimensions = {{"", "v"}}}) == "emf_options.dimensions.name");
    CHECK(field({.dimensions = {{":x", "v"}}}) == "emf_options.dimensions.name");
    CHECK(field({.dimensions = {{"   ", "v"}}}) == "emf_options.dimensions.name");
    CHECK(field({.dimensions = {{"a\tb", "v"}}}) == "emf_options.dimensions.name");
    CHECK(field({.dimensions = {{"Attempts", "v"}}}) == "emf_options.dimensions.name");
    CHECK(field({.dimensions = {{"_aws", "v"}}}) == "emf_options.dimensions.name");
    CHECK(field({.dimensions = {{"A", "v"}, {"A", "w"}}}) == "emf_options.dimensions.name");
    CHECK(field({.dimensions = {{std::string(256, 'n'), "v"}}}) == "emf_options.dimensions.name");
    CHECK(field({.dimensions = {{"A", ""}}}) == "emf_options.dimensions.value");
    CHECK(field({.dimensions = {{"A", std::string(1025, 'v')}}}) == "emf_options.dimensions.value");
    CHECK(field({.dimensions = {{"A", "caf\xc3\xa9"}}}) == "emf_options.dimensions.value");
    CHECK(field({.max_latency_samples = 0}) == "emf_options.max_latency_samples");
    CHECK(field({.max_latency_samples = 101}) == "emf_options.max_latency_samples");

    auto msg = rs::emf_options{.max_latency_samples = 0}.validate();
    REQUIRE(msg);
    CHECK(msg->message == "emf_options.max_latency_samples must be between 1 and 100");
    REQUIRE_THROWS_AS(rs::emf_listener({.metric_namespace = "AWS/x"}, nullptr), std::invalid_argument);
}

TEST_CASE("flush writes one complete line", "[emf]") {
    std::FILE* f = std::tmpfile();
    REQUIRE(f);
    {
        rs::emf_listener emf{{}, f};
        emf.on_event(ev(rs::event_type::attempt_started));
        CHECK(emf.flush(wall));
        emf.on_event(ev(rs::event_type::retry_scheduled));
        CHECK(emf.flush(wall + 1s));
    }
    std::rewind(f);
    std::string text;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
    std::fclose(f);
    REQUIRE(!text.empty());
    CHECK(text.back() == '\n');
    auto nl = text.find('\n');
    REQUIRE(nl != std::string::npos);
    json first = parse_line(text.substr(0, nl));
    json second = parse_line(text.substr(nl + 1, text.size() - nl - 2));
    CHECK(first["Attempts"] == 1);
    CHECK(second["Attempts"] == 0);
    CHECK(second["Retries"] == 1);

    rs::emf_listener nowhere{{}, nullptr};
    CHECK_FALSE(nowhere.flush(wall));
}

TEST_CASE("the listener sees a real composition", "[emf]") {
    rs::manual_clock clk;
    rs::emf_listener emf{{}, nullptr};
    rs::resilient_call call{clk, emf, rs::timeout{1s}};
    auto r = call([&] {
        clk.advance(2s);
        return 1;
    });
    REQUIRE_FALSE(r.has_value());
    auto ok = call([&] {
        clk.advance(250ms);
        return 2;
    });
    REQUIRE(ok.has_value());
    json j = parse_line(emf.render(wall));
    CHECK(j["Attempts"] == 2);
    CHECK(j["Timeouts"] == 1);
    CHECK(j["Failures.timeout"].get<int>() >= 1);
    REQUIRE(j["AttemptLatency"].size() == 2);
    CHECK(j["AttemptLatency"][0] == 2000.0);
    CHECK(j["AttemptLatency"][1] == 250.0);
}

TEST_CASE("concurrent events and flushes: nothing lost, nothing counted twice", "[emf][stress]") {
    rs::emf_listener emf{{}, nullptr};
    constexpr int threads = 8;
    constexpr int per_thread = 20000;
    std::atomic<bool> done{false};
    std::vector<std::string> lines;
    std::thread flusher([&] {
        while (!done.load()) lines.push_back(emf.render(wall));
    });
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                emf.on_event(ev(rs::event_type::attempt_started));
                emf.on_event(ev(rs::event_type::attempt_failed, static_cast<rs::failure_kind>((t + i) % 8), 1ms));
                if (i % 100 == 0) (void)emf.set_property("t" + std::to_string(t), "x");
            }
        });
    }
    for (auto& w : workers) w.join();
    done = true;
    flusher.join();
    lines.push_back(emf.render(wall));
    std::uint64_t attempts = 0, failures = 0, by_kind = 0, samples = 0;
    for (const auto& l : lines) {
        json j = json::parse(l);
        attempts += j["Attempts"].get<std::uint64_t>();
        failures += j["AttemptFailures"].get<std::uint64_t>();
        for (auto k : {"error", "timeout", "deadline_exceeded", "circuit_open", "bulkhead_full", "rate_limited",
                       "cancelled", "dead_letter_failed"}) {
            by_kind += j[std::string("Failures.") + k].get<std::uint64_t>();
        }
        if (j.contains("AttemptLatencySamples")) samples += j["AttemptLatencySamples"].get<std::uint64_t>();
        if (j.contains("AttemptLatency")) CHECK(j["AttemptLatency"].size() <= 100);
    }
    const std::uint64_t total = std::uint64_t{threads} * per_thread;
    CHECK(attempts == total);
    CHECK(failures == total);
    CHECK(by_kind == total);
    CHECK(samples == total);
}

TEST_CASE("counting an event allocates nothing", "[emf][alloc]") {
    if (!RESILIENCE_TEST_COUNTS_ALLOCATIONS) return;
    REQUIRE(allocations_during([] { ::operator delete(::operator new(16)); }) == 1);  // the counter counts
    rs::emf_listener emf{{}, nullptr};
    rs::event change = ev(rs::event_type::state_changed);
    change.to = "open";
    std::uint64_t n = allocations_during([&] {
        for (int i = 0; i < 500; ++i) {  // more samples than the reservoir holds
            emf.on_event(ev(rs::event_type::attempt_started));
            emf.on_event(ev(rs::event_type::attempt_failed, rs::failure_kind::timeout, 3ms));
            emf.on_event(ev(rs::event_type::rejected, rs::failure_kind::circuit_open));
            emf.on_event(change);
        }
    });
    CHECK(n == 0);
    CHECK(json::parse(emf.render(wall))["Attempts"] == 500);
}
