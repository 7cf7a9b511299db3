// SPDX-License-Identifier: MIT
#include "support/catch.hpp"

#include <resilience/dead_letter.hpp>
#include <resilience/sinks/memory_sink.hpp>

#include <atomic>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace rs = resilience;

namespace {
rs::dead_letter_record rec(std::string id) {
    rs::dead_letter_record r;
    r.id = std::move(id);
    r.payload = "p";
    return r;
}
}  // namespace

TEST_CASE("memory_sink: keeps records in order; drain and clear") {
    rs::memory_sink sink;
    REQUIRE(sink.publish(rec("a")).has_value());
    REQUIRE(sink.publish(rec("b")).has_value());
    CHECK(sink.size() == 2);
    auto all = sink.records();
    REQUIRE(all.size() == 2);
    CHECK(all[0].id == "a");
    CHECK(all[1].id == "b");
    auto drained = sink.drain();
    CHECK(drained.size() == 2);
    CHECK(sink.size() == 0);
    REQUIRE(sink.publish(rec("c")).has_value());
    sink.clear();
    CHECK(sink.size() == 0);
}

TEST_CASE("memory_sink: a full sink refuses with no_buffer_space instead of growing") {
    rs::memory_sink sink{{.capacity = 2}};
    CHECK(sink.publish(rec("1")).has_value());
    CHECK(sink.publish(rec("2")).has_value());
    auto r = sink.publish(rec("3"));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().error == std::errc::no_buffer_space);
    CHECK(sink.rejected() == 1);
    CHECK(sink.size() == 2);
}

TEST_CASE("memory_sink: options are validated") {
    CHECK(rs::memory_sink_options{.capacity = 0}.validate()->message == "memory_sink_options.capacity must be between 1 and 100000000");
    CHECK(rs::memory_sink_options{.capacity = 100'000'001}.validate()->field == "memory_sink_options.capacity");
    REQUIRE_THROWS_AS(rs::memory_sink({.capacity = 0}), std::invalid_argument);
}

TEST_CASE("memory_sink: concurrent publishers and readers (stress)") {
    rs::memory_sink sink{{.capacity = 1000}};
    constexpr int threads = 8, per_thread = 200;
    std::atomic<int> accepted{0}, refused{0};
    std::atomic<bool> stop{false};
    std::thread reader([&] {
        while (!stop) (void)sink.size(), (void)sink.records().size();
    });
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
        ts.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                if (sink.publish(rec(std::to_string(t) + "-" + std::to_string(i)))) accepted.fetch_add(1);
                else refused.fetch_add(1);
            }
        });
    }
    for (auto& t : ts) t.join();
    stop = true;
    reader.join();
    CHECK(accepted == 1000);
    CHECK(refused == threads * per_thread - 1000);
    CHECK(sink.rejected() == static_cast<std::uint64_t>(refused.load()));
    std::set<std::string> ids;
    for (const auto& r : sink.records()) ids.insert(r.id);
    CHECK(ids.size() == 1000);
}
