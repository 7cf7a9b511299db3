// SPDX-License-Identifier: MIT
#include "support/catch.hpp"

#include <resilience/dead_letter.hpp>
#include <resilience/resilient_call.hpp>
#include <resilience/sinks/callback_sink.hpp>
#include <resilience/sinks/fallback_sink.hpp>
#include <resilience/sinks/memory_sink.hpp>

#include <atomic>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace rs = resilience;

namespace {
rs::dead_letter_record rec(std::string id) {
    rs::dead_letter_record r;
    r.id = std::move(id);
    return r;
}
struct switchable_sink {
    std::atomic<bool> up{true};
    std::atomic<int> stored{0};
    rs::result<void> publish(const rs::dead_letter_record&) {
        if (!up) return rs::failure::from_error(std::make_error_code(std::errc::no_space_on_device));
        stored.fetch_add(1);
        return {};
    }
};
}  // namespace

TEST_CASE("fallback_sink: the secondary gets what the primary refuses") {
    switchable_sink primary;
    rs::memory_sink secondary;
    rs::fallback_sink both{primary, secondary};
    CHECK(both.publish(rec("1")).has_value());
    CHECK(primary.stored == 1);
    CHECK(secondary.size() == 0);
    primary.up = false;
    CHECK(both.publish(rec("2")).has_value());
    REQUIRE(secondary.size() == 1);
    CHECK(secondary.records()[0].id == "2");
    CHECK(both.fallbacks() == 1);
    CHECK(both.failures() == 0);
}

TEST_CASE("fallback_sink: when both fail, the primary's error is reported, and the policy says dead_letter_failed") {
    switchable_sink primary;
    primary.up = false;
    rs::callback_sink secondary{[](const rs::dead_letter_record&) { return false; }};
    rs::fallback_sink both{primary, secondary};
    auto r = both.publish(rec("x"));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().error == std::errc::no_space_on_device);
    CHECK(both.failures() == 1);

    rs::resilient_call call{rs::dead_letter{both}};
    auto res = call([]() -> rs::result<int> { return rs::failure::of(rs::failure_kind::timeout); });
    REQUIRE_FALSE(res.has_value());
    CHECK(res.error().kind == rs::failure_kind::dead_letter_failed);
    CHECK(res.error().cause == rs::failure_kind::timeout);
    CHECK(res.error().sink_error == std::errc::no_space_on_device);
}

TEST_CASE("fallback_sink: chains, and concurrent publishers while the primary flaps (stress)") {
    switchable_sink primary;
    rs::memory_sink second{{.capacity = 10}};
    rs::memory_sink third;
    rs::fallback_sink inner{second, third};
    rs::fallback_sink chain{primary, inner};
    std::atomic<bool> stop{false};
    std::thread flapper([&] {
        for (int i = 0; !stop; ++i) primary.up = i % 2 == 0;
    });
    std::vector<std::thread> ts;
    std::atomic<int> ok{0};
    for (int t = 0; t < 8; ++t) {
        ts.emplace_back([&] {
            for (int i = 0; i < 300; ++i) ok += chain.publish(rec("r")).has_value() ? 1 : 0;
        });
    }
    for (auto& t : ts) t.join();
    stop = true;
    flapper.join();
    CHECK(ok == 2400);
    CHECK(static_cast<std::size_t>(primary.stored.load()) + second.size() + third.size() == 2400);
    CHECK(chain.fallbacks() == second.size() + third.size());
    CHECK(chain.failures() == 0);
}
