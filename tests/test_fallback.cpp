// SPDX-License-Identifier: MIT
#include "support/allocations.hpp"
#include "support/catch.hpp"

#include <resilience/fallback.hpp>
#include <resilience/resilient_call.hpp>
#include <resilience/testing.hpp>
#include <resilience/timeout.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>

namespace rs = resilience;
namespace rt = resilience::testing;
using namespace std::chrono_literals;

// Counts every thread's allocations, so that tests can assert that a path allocates nothing. Under
// ThreadSanitizer nothing is counted and the allocation tests say they were skipped.
using resilience_test::all_allocations;

namespace {
rs::failure reset() { return rs::failure::from_error(std::make_error_code(std::errc::connection_reset)); }

// Deduction: both forms, with and without a predicate (clang 14 relies on the explicit guides).
auto by_value = rs::fallback{42};
auto by_literal = rs::fallback{"cached"};
auto by_function = rs::fallback{[](const rs::failure&) { return 1; }};
auto with_predicate = rs::fallback{0, rs::failure_kinds{rs::failure_kind::timeout}};
static_assert(std::is_same_v<decltype(by_value), rs::fallback<int>>);
static_assert(std::is_same_v<decltype(by_literal), rs::fallback<const char*>>);
static_assert(std::is_same_v<decltype(with_predicate), rs::fallback<int, rs::failure_kinds>>);
static_assert(rs::policy<rs::fallback<int>>);
static_assert(rs::policy<decltype(by_function)>);
static_assert(std::is_same_v<rs::fallback<int>, rs::fallback<int, rs::handle_all_failures>>);

static_assert(rs::failure_kinds{rs::failure_kind::timeout, rs::failure_kind::cancelled}.contains(rs::failure_kind::cancelled));
static_assert(!rs::failure_kinds{rs::failure_kind::timeout}.contains(rs::failure_kind::error));
static_assert(rs::failure_kinds{rs::failure_kind::dead_letter_failed}.contains(rs::failure_kind::dead_letter_failed));
static_assert(!rs::failure_kinds{}.contains(rs::failure_kind::error));
}  // namespace

TEST_CASE("fallback with a value", "[fallback]") {
    rt::harness h;

    SECTION("replaces a failure and says so") {
        rt::script<int> s{h.clock(), {rt::fails(reset())}};
        auto r = h.compose(rs::fallback{42})(s);
        REQUIRE(r);
        CHECK(*r == 42);
        auto ev = h.events().of_type(rs::event_type::fallback_used);
        REQUIRE(ev.size() == 1);
        CHECK(ev[0].policy == "fallback");
        CHECK(ev[0].kind == rs::failure_kind::error);
        REQUIRE(ev[0].error);
        CHECK(ev[0].error->error == std::make_error_code(std::errc::connection_reset));
    }
    SECTION("leaves a success alone") {
        rt::script<int> s{h.clock(), {rt::returns(7)}};
        auto r = h.compose(rs::fallback{42})(s);
        REQUIRE(r);
        CHECK(*r == 7);
        CHECK(h.events().count(rs::event_type::fallback_used) == 0);
    }
    SECTION("converts: a string literal for a call returning std::string") {
        rt::script<std::string> s{h.clock(), {rt::fails(reset())}};
        auto r = h.compose(rs::fallback{"cached"})(s);
        REQUIRE(r);
        CHECK(*r == "cached");
    }
    SECTION("replaces a thrown exception") {
        rt::script<int> s{h.clock(), {rt::throws(std::runtime_error("boom"))}};
        auto r = h.compose(rs::fallback{-1})(s);
        REQUIRE(r);
        CHECK(*r == -1);
        auto ev = h.events().of_type(rs::event_type::fallback_used);
        REQUIRE(ev.size() == 1);
        REQUIRE(ev[0].error);
        CHECK(ev[0].error->exception != nullptr);
    }
    SECTION("the same policy serves many calls") {
        auto call = h.compose(rs::fallback{5});
        rt::script<int> s{h.clock(), {rt::fails(reset()), rt::returns(1), rt::fails(reset())}};
        CHECK(*call(s) == 5);
        CHECK(*call(s) == 1);
        CHECK(*call(s) == 5);
    }
}

TEST_CASE("fallback with a function", "[fallback]") {
    rt::harness h;

    SECTION("of the failure") {
        auto fb = rs::fallback{[](const rs::failure& f) {
            return f.kind == rs::failure_kind::timeout ? std::string("slow") : std::string("broken");
        }};
        rt::script<std::string> slow{h.clock(), {rt::returns(std::string("x"), 2s)}};
        rt::script<std::string> broken{h.clock(), {rt::fails(reset())}};
        CHECK(*h.compose(fb, rs::timeout{1s})(slow) == "slow");
        CHECK(*h.compose(fb, rs::timeout{1s})(broken) == "broken");
    }
    SECTION("of nothing") {
        int calls = 0;
        rt::script<int> s{h.clock(), {rt::fails(reset()), rt::returns(3)}};
        auto call = h.compose(rs::fallback{[&calls] { return ++calls * 100; }});
        CHECK(*call(s) == 100);
        CHECK(*call(s) == 3);  // not called on success
        CHECK(calls == 1);
    }
    SECTION("returning a result: it may succeed") {
        rt::script<long> s{h.clock(), {rt::fails(reset())}};
        auto r = h.compose(rs::fallback{[](const rs::failure&) { return rs::result<int>(9); }})(s);
        REQUIRE(r);
        CHECK(*r == 9L);
    }
    SECTION("returning a result: it may fail, and its failure is returned") {
        rt::script<int> s{h.clock(), {rt::fails(reset())}};
        auto r = h.compose(rs::fallback{[](const rs::failure&) -> rs::result<int> {
            return rs::failure::of(rs::failure_kind::error, "cache miss");
        }})(s);
        REQUIRE_FALSE(r);
        CHECK(std::string(r.error().message) == "cache miss");
        CHECK(r.error().attempts == 1);  // the call's own bookkeeping still applies
        CHECK(h.events().count(rs::event_type::fallback_used) == 1);
    }
    SECTION("returning the failure it was given keeps the original") {
        rt::script<int> s{h.clock(), {rt::fails(reset())}};
        auto r = h.compose(rs::fallback{[](const rs::failure& f) -> rs::result<int> { return f; }})(s);
        REQUIRE_FALSE(r);
        CHECK(r.error().error == std::make_error_code(std::errc::connection_reset));
    }
    SECTION("a mutable function keeps its state in the composition's copy") {
        auto call = h.compose(rs::fallback{[n = 0](const rs::failure&) mutable { return ++n; }});
        rt::script<int> s{h.clock(), {rt::fails(reset())}};
        CHECK(*call(s) == 1);
        CHECK(*call(s) == 2);
    }
}

TEST_CASE("fallback for calls returning void", "[fallback]") {
    rt::harness h;
    rt::script<void> s{h.clock(), {rt::fails(reset())}};

    SECTION("a function returning void turns the failure into a success") {
        int handled = 0;
        auto r = h.compose(rs::fallback{[&](const rs::failure&) { ++handled; }})(s);
        CHECK(r);
        CHECK(handled == 1);
    }
    SECTION("a function returning result<void> decides") {
        auto r = h.compose(rs::fallback{[] { return rs::result<void>(rs::failure::of(rs::failure_kind::cancelled)); }})(s);
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == rs::failure_kind::cancelled);
    }
}

TEST_CASE("fallback handles only what its predicate accepts", "[fallback]") {
    rt::harness h;
    auto call = h.compose(rs::fallback{0, rs::failure_kinds{rs::failure_kind::timeout, rs::failure_kind::circuit_open}},
                          rs::timeout{1s});

    SECTION("a handled kind") {
        rt::script<int> s{h.clock(), {rt::returns(1, 2s)}};  // late: timeout
        auto r = call(s);
        REQUIRE(r);
        CHECK(*r == 0);
    }
    SECTION("another kind passes through untouched") {
        rt::script<int> s{h.clock(), {rt::fails(reset())}};
        auto r = call(s);
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == rs::failure_kind::error);
        CHECK(r.error().error == std::make_error_code(std::errc::connection_reset));
        CHECK(h.events().count(rs::event_type::fallback_used) == 0);
    }
    SECTION("a lambda predicate") {
        auto only_transient = [](const rs::failure& f) { return f.hint == rs::transience::transient; };
        rt::script<int> s{h.clock(), {rt::fails(rs::failure::from_error(std::make_error_code(std::errc::timed_out),
                                                                        rs::transience::transient)),
                                      rt::fails(rs::failure::from_error(std::make_error_code(std::errc::permission_denied),
                                                                        rs::transience::permanent))}};
        auto c = h.compose(rs::fallback{-1, only_transient});
        auto first = c(s);
        auto second = c(s);
        REQUIRE(first);
        CHECK(*first == -1);
        REQUIRE_FALSE(second);
        CHECK(second.error().error == std::make_error_code(std::errc::permission_denied));
    }
}

TEST_CASE("fallback outside a timeout sees the timeout's verdict", "[fallback]") {
    rt::harness h;
    rt::script<int> s{h.clock(), {rt::returns(1, 2s)}};
    rs::failure_kind seen = rs::failure_kind::error;
    auto r = h.compose(rs::fallback{[&](const rs::failure& f) { seen = f.kind; return 2; }}, rs::timeout{1s})(s);
    REQUIRE(r);
    CHECK(*r == 2);
    CHECK(seen == rs::failure_kind::timeout);
    // Order of events: the attempt, the timeout's late verdict, the fallback, then the call's end.
    auto types = h.events().types();
    REQUIRE(types.size() == 5);
    CHECK(types[2] == rs::event_type::timeout);
    CHECK(types[3] == rs::event_type::fallback_used);
    CHECK(types[4] == rs::event_type::call_finished);
}

TEST_CASE("fallback allocates nothing", "[fallback][alloc]") {
    if (!RESILIENCE_TEST_COUNTS_ALLOCATIONS) {
        WARN("allocation counting is off under ThreadSanitizer: skipped");
        return;
    }
    rs::manual_clock clock;
    rs::resilient_call call{rs::fallback{[](const rs::failure&) { return 7; }}, rs::fallback{3}, clock};
    rs::resilient_call selective{rs::fallback{3, rs::failure_kinds{rs::failure_kind::timeout}}, clock};

    auto before = all_allocations.load();
    auto ok = call([] { return 1; });
    auto replaced = call([]() -> rs::result<int> { return reset(); });
    auto passed = selective([]() -> rs::result<int> { return reset(); });
    auto after = all_allocations.load();

    CHECK(after == before);
    resilience_test::allocate_once();  // the counter does count
    CHECK(all_allocations.load() == after + 1);
    REQUIRE(ok);
    CHECK(*ok == 1);
    REQUIRE(replaced);
    CHECK(*replaced == 3);  // the inner fallback handled it; the outer one saw a success
    CHECK_FALSE(passed);
}
