// SPDX-License-Identifier: MIT
#include "support/catch.hpp"

#include <resilience/dead_letter.hpp>
#include <resilience/sinks/callback_sink.hpp>

#include <new>
#include <stdexcept>
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
}  // namespace

TEST_CASE("callback_sink: every return type the callback may use") {
    SECTION("void: always stored") {
        std::vector<std::string> seen;
        rs::callback_sink sink{[&](const rs::dead_letter_record& r) { seen.push_back(r.id); }};
        CHECK(sink.publish(rec("a")).has_value());
        CHECK(seen == std::vector<std::string>{"a"});
    }
    SECTION("bool") {
        rs::callback_sink sink{[](const rs::dead_letter_record& r) { return r.id == "ok"; }};
        CHECK(sink.publish(rec("ok")).has_value());
        auto r = sink.publish(rec("no"));
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().error == std::errc::io_error);
    }
    SECTION("std::error_code") {
        rs::callback_sink sink{[](const rs::dead_letter_record& r) {
            return r.id == "ok" ? std::error_code{} : std::make_error_code(std::errc::network_unreachable);
        }};
        CHECK(sink.publish(rec("ok")).has_value());
        CHECK(sink.publish(rec("no")).error().error == std::errc::network_unreachable);
    }
    SECTION("result<void>") {
        rs::callback_sink sink{[](const rs::dead_letter_record& r) -> rs::result<void> {
            if (r.id == "ok") return {};
            return rs::failure::from_error(std::make_error_code(std::errc::timed_out), rs::transience::transient, "sqs timed out");
        }};
        CHECK(sink.publish(rec("ok")).has_value());
        auto r = sink.publish(rec("no"));
        CHECK(r.error().error == std::errc::timed_out);
        CHECK(r.error().message == "sqs timed out");
    }
}

TEST_CASE("callback_sink: a throwing callback is a failed publish, never an exception") {
    SECTION("any exception") {
        rs::callback_sink sink{[](const rs::dead_letter_record&) -> bool { throw std::runtime_error("x"); }};
        rs::result<void> r = sink.publish(rec("a"));
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().error == std::errc::io_error);
    }
    SECTION("std::bad_alloc") {
        rs::callback_sink sink{[](const rs::dead_letter_record&) -> bool { throw std::bad_alloc(); }};
        CHECK(sink.publish(rec("a")).error().error == std::errc::not_enough_memory);
    }
}

TEST_CASE("callback_sink: calls are serialised, so the callback need not be thread-safe (stress)") {
    std::vector<std::string> seen;  // deliberately unsynchronised: the sink's mutex protects it
    int in_flight = 0, max_in_flight = 0;
    rs::callback_sink sink{[&](const rs::dead_letter_record& r) {
        max_in_flight = std::max(max_in_flight, ++in_flight);
        seen.push_back(r.id);
        --in_flight;
    }};
    std::vector<std::thread> ts;
    for (int t = 0; t < 8; ++t) {
        ts.emplace_back([&, t] {
            for (int i = 0; i < 250; ++i) (void)sink.publish(rec(std::to_string(t) + "-" + std::to_string(i)));
        });
    }
    for (auto& t : ts) t.join();
    CHECK(seen.size() == 2000);
    CHECK(max_in_flight == 1);
}
