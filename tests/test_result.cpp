// SPDX-License-Identifier: MIT
//
// result.hpp: failure_kind names, failure construction and relabelling, result<T> and result<void>.
#include "support/catch.hpp"
#include "support/string_makers.hpp"

#include <resilience/result.hpp>

#include <array>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace rs = resilience;
using namespace std::chrono_literals;

namespace {

constexpr std::array all_kinds{
    rs::failure_kind::error,         rs::failure_kind::timeout,      rs::failure_kind::deadline_exceeded,
    rs::failure_kind::circuit_open,  rs::failure_kind::bulkhead_full, rs::failure_kind::rate_limited,
    rs::failure_kind::cancelled,     rs::failure_kind::dead_letter_failed,
};
static_assert(all_kinds.size() == rs::failure_kind_count);

// The names are a contract (logs, JSON dead-letter records, metrics): spelled out, not derived.
constexpr std::array<std::string_view, rs::failure_kind_count> kind_names{
    "error", "timeout", "deadline_exceeded", "circuit_open", "bulkhead_full", "rate_limited", "cancelled",
    "dead_letter_failed",
};

// Both functions are usable in constant expressions (metrics tables are built at compile time).
static_assert(rs::to_string(rs::failure_kind::rate_limited) == "rate_limited");
static_assert(rs::parse_failure_kind("circuit_open") == rs::failure_kind::circuit_open);
static_assert(!rs::parse_failure_kind("nope").has_value());
static_assert(rs::is_rejection(rs::failure_kind::bulkhead_full));

struct move_only {
    std::unique_ptr<int> p;
    explicit move_only(int v) : p(std::make_unique<int>(v)) {}
};

}  // namespace

TEST_CASE("failure_kind: to_string and parse_failure_kind round-trip every kind", "[result][failure_kind]") {
    for (std::size_t i = 0; i < all_kinds.size(); ++i) {
        CAPTURE(i);
        CHECK(rs::to_string(all_kinds[i]) == kind_names[i]);
        auto parsed = rs::parse_failure_kind(kind_names[i]);
        REQUIRE(parsed.has_value());
        CHECK(*parsed == all_kinds[i]);
    }
}

TEST_CASE("failure_kind: parse_failure_kind rejects anything that is not an exact name", "[result][failure_kind]") {
    for (std::string_view bad : {"", "unknown", "Error", "TIMEOUT", " timeout", "timeout ", "time_out", "deadline",
                                 "cancelled\n", "dead_letter_failed2", "circuit-open"}) {
        CAPTURE(bad);
        CHECK_FALSE(rs::parse_failure_kind(bad).has_value());
    }
    // A view that is not NUL-terminated right after the name must still be read by its length.
    std::string_view prefix = std::string_view("timeoutXYZ").substr(0, 7);
    CHECK(rs::parse_failure_kind(prefix) == rs::failure_kind::timeout);
}

TEST_CASE("failure_kind: an out-of-range value prints as unknown and never parses back", "[result][failure_kind]") {
    auto bogus = static_cast<rs::failure_kind>(200);
    CHECK(rs::to_string(bogus) == "unknown");
    CHECK_FALSE(rs::is_rejection(bogus));
}

TEST_CASE("is_rejection: exactly the guard kinds that never reached the dependency", "[result][failure_kind]") {
    for (auto k : all_kinds) {
        CAPTURE(k);
        bool expected = k == rs::failure_kind::circuit_open || k == rs::failure_kind::bulkhead_full ||
                        k == rs::failure_kind::rate_limited;
        CHECK(rs::is_rejection(k) == expected);
    }
}

TEST_CASE("failure: factories set kind, cause and payload", "[result][failure]") {
    SECTION("of") {
        auto f = rs::failure::of(rs::failure_kind::timeout, "slow");
        CHECK(f.kind == rs::failure_kind::timeout);
        CHECK(f.cause == rs::failure_kind::timeout);
        CHECK(f.message == "slow");
        CHECK(f.hint == rs::transience::unknown);
        CHECK(f.attempts == 0u);
        CHECK(f.elapsed == 0ns);
        CHECK(f.retry_after == 0ns);
        CHECK_FALSE(f.error);
        CHECK_FALSE(f.exception);
        CHECK_FALSE(f.sink_error);
    }
    SECTION("from_error") {
        auto ec = std::make_error_code(std::errc::connection_reset);
        auto f = rs::failure::from_error(ec, rs::transience::transient, "reset");
        CHECK(f.kind == rs::failure_kind::error);
        CHECK(f.cause == rs::failure_kind::error);
        CHECK(f.error == ec);
        CHECK(f.hint == rs::transience::transient);
        CHECK(f.message == "reset");
    }
    SECTION("from_exception") {
        auto f = rs::failure::from_exception(std::make_exception_ptr(std::runtime_error("boom")), "threw");
        CHECK(f.kind == rs::failure_kind::error);
        REQUIRE(f.exception);
        CHECK(f.message == "threw");
        REQUIRE_THROWS_AS(std::rethrow_exception(f.exception), std::runtime_error);
    }
    SECTION("an aggregate with designated initializers") {
        rs::failure f{.kind = rs::failure_kind::rate_limited, .cause = rs::failure_kind::rate_limited,
                      .retry_after = 2s, .message = "429"};
        CHECK(f.kind == rs::failure_kind::rate_limited);
        CHECK(f.retry_after == 2s);
        CHECK(f.attempts == 0u);
    }
}

TEST_CASE("failure::relabelled keeps the cause and every other field", "[result][failure]") {
    auto original = rs::failure::from_error(std::make_error_code(std::errc::timed_out), rs::transience::transient, "m");
    original.kind = rs::failure_kind::timeout;
    original.cause = rs::failure_kind::timeout;
    original.attempts = 3;
    original.elapsed = 1500ms;
    original.retry_after = 2s;
    original.exception = std::make_exception_ptr(42);

    auto r = original.relabelled(rs::failure_kind::deadline_exceeded);
    CHECK(r.kind == rs::failure_kind::deadline_exceeded);
    CHECK(r.cause == rs::failure_kind::timeout);
    CHECK(r.hint == rs::transience::transient);
    CHECK(r.attempts == 3u);
    CHECK(r.elapsed == 1500ms);
    CHECK(r.retry_after == 2s);
    CHECK(r.error == std::make_error_code(std::errc::timed_out));
    CHECK(r.exception == original.exception);
    CHECK(r.message == "m");
    // The original is untouched.
    CHECK(original.kind == rs::failure_kind::timeout);

    SECTION("relabelling to the same kind keeps an earlier cause") {
        auto twice = r.relabelled(rs::failure_kind::deadline_exceeded);
        CHECK(twice.kind == rs::failure_kind::deadline_exceeded);
        CHECK(twice.cause == rs::failure_kind::timeout);
    }
    SECTION("relabelling again records the kind it had just before") {
        // A dead letter that cannot be written reports dead_letter_failed with cause = the kind it received.
        auto dl = r.relabelled(rs::failure_kind::dead_letter_failed);
        CHECK(dl.kind == rs::failure_kind::dead_letter_failed);
        CHECK(dl.cause == rs::failure_kind::deadline_exceeded);
    }
    SECTION("a fresh failure relabelled to its own kind stays unrelabelled") {
        auto f = rs::failure::of(rs::failure_kind::cancelled).relabelled(rs::failure_kind::cancelled);
        CHECK(f.kind == rs::failure_kind::cancelled);
        CHECK(f.cause == rs::failure_kind::cancelled);
    }
}

TEST_CASE("result<T>: success", "[result]") {
    rs::result<int> r = 42;
    REQUIRE(r.has_value());
    CHECK(static_cast<bool>(r));
    CHECK(r.value() == 42);
    CHECK(*r == 42);
    CHECK(r.value_or(7) == 42);
    REQUIRE(r.last_value() != nullptr);
    CHECK(*r.last_value() == 42);

    r.value() = 43;  // mutable access
    CHECK(*r == 43);

    const rs::result<std::string> s = std::string("hello");
    CHECK(s->size() == 5u);
    CHECK(s.value() == "hello");
    CHECK(s.value_or("x") == "hello");
}

TEST_CASE("result<bool>: a false value is still a success", "[result]") {
    rs::result<bool> r = false;
    CHECK(r.has_value());
    CHECK(static_cast<bool>(r));
    CHECK(r.value() == false);
}

TEST_CASE("result<T>: failure", "[result]") {
    rs::result<int> r = rs::failure::of(rs::failure_kind::circuit_open, "open");
    CHECK_FALSE(r.has_value());
    CHECK_FALSE(static_cast<bool>(r));
    CHECK(r.error().kind == rs::failure_kind::circuit_open);
    CHECK(r.error().message == "open");
    CHECK(r.last_value() == nullptr);
    CHECK(r.value_or(7) == 7);

    r.error().attempts = 2;  // the failure is mutable in place (policies fill attempts/elapsed)
    CHECK(r.error().attempts == 2u);

    rs::failure moved = std::move(r).error();
    CHECK(moved.kind == rs::failure_kind::circuit_open);
}

#if RESILIENCE_HAS_EXCEPTIONS
TEST_CASE("result<T>: value() on a failure throws bad_result_access carrying the failure", "[result]") {
    rs::result<int> r = rs::failure::of(rs::failure_kind::bulkhead_full, "full");
    REQUIRE_THROWS_AS(r.value(), rs::bad_result_access);
    REQUIRE_THROWS_AS(*r, rs::bad_result_access);
    REQUIRE_THROWS_AS(std::move(r).value(), rs::bad_result_access);
    const auto& cr = r;
    REQUIRE_THROWS_AS(cr.value(), rs::bad_result_access);

    try {
        (void)r.value();
        FAIL("value() did not throw");
    } catch (const rs::bad_result_access& e) {
        CHECK(e.error().kind == rs::failure_kind::bulkhead_full);
        CHECK(e.error().message == "full");
        CHECK(std::string_view(e.what()).find("value()") != std::string_view::npos);
    }
    // It is a std::exception, so generic handlers catch it.
    REQUIRE_THROWS_AS(r.value(), std::exception);

    rs::result<std::string> s = rs::failure::of(rs::failure_kind::timeout);
    REQUIRE_THROWS_AS(s->size(), rs::bad_result_access);
}
#endif

TEST_CASE("result<T>: failed_value keeps the value a classifier rejected", "[result]") {
    rs::result<std::string> r{rs::failed_value, rs::failure::of(rs::failure_kind::error, "503"), std::string("busy")};
    CHECK_FALSE(r.has_value());
    CHECK(r.error().message == "503");
    REQUIRE(r.last_value() != nullptr);
    CHECK(*r.last_value() == "busy");
    CHECK(r.value_or("fallback") == "fallback");
#if RESILIENCE_HAS_EXCEPTIONS
    REQUIRE_THROWS_AS(r.value(), rs::bad_result_access);
#endif
}

TEST_CASE("result<T>: fail() turns a success into a failure that keeps the value", "[result]") {
    rs::result<int> r = 503;
    r.fail(rs::failure::of(rs::failure_kind::error, "classified"));
    CHECK_FALSE(r.has_value());
    REQUIRE(r.last_value() != nullptr);
    CHECK(*r.last_value() == 503);
    CHECK(r.error().message == "classified");

    SECTION("failing a failed result replaces its failure") {
        r.fail(rs::failure::of(rs::failure_kind::timeout, "late"));
        CHECK(r.error().kind == rs::failure_kind::timeout);
        CHECK(r.error().message == "late");
        CHECK(*r.last_value() == 503);
    }
    SECTION("a failure without a value stays without one") {
        rs::result<int> f = rs::failure::of(rs::failure_kind::timeout);
        f.fail(rs::failure::of(rs::failure_kind::deadline_exceeded));
        CHECK(f.error().kind == rs::failure_kind::deadline_exceeded);
        CHECK(f.last_value() == nullptr);
    }
}

TEST_CASE("result<T>: move-only values", "[result]") {
    rs::result<move_only> r = move_only(5);
    REQUIRE(r.has_value());
    move_only taken = std::move(r).value();
    REQUIRE(taken.p);
    CHECK(*taken.p == 5);

    rs::result<std::unique_ptr<int>> u = std::make_unique<int>(9);
    std::unique_ptr<int> p = *std::move(u);
    CHECK(*p == 9);
}

TEST_CASE("result<T>: copies share the exception but not the value", "[result]") {
    rs::result<std::string> a = rs::failure::from_exception(std::make_exception_ptr(std::logic_error("x")));
    rs::result<std::string> b = a;
    CHECK(b.error().exception == a.error().exception);

    rs::result<std::string> c = std::string("v");
    rs::result<std::string> d = c;
    d.value() += "w";
    CHECK(c.value() == "v");
    CHECK(d.value() == "vw");
}

TEST_CASE("result<void>", "[result]") {
    rs::result<void> ok;
    CHECK(ok.has_value());
    CHECK(static_cast<bool>(ok));
    CHECK(ok.last_value() == nullptr);
    ok.value();  // does not throw
    CHECK(rs::ok().has_value());

    rs::result<void> bad = rs::failure::of(rs::failure_kind::cancelled, "stop");
    CHECK_FALSE(bad.has_value());
    CHECK(bad.error().kind == rs::failure_kind::cancelled);
#if RESILIENCE_HAS_EXCEPTIONS
    REQUIRE_THROWS_AS(bad.value(), rs::bad_result_access);
#endif

    ok.fail(rs::failure::of(rs::failure_kind::timeout));
    CHECK_FALSE(ok.has_value());
    CHECK(ok.error().kind == rs::failure_kind::timeout);
}

TEST_CASE("result: type traits", "[result]") {
    static_assert(rs::is_result_v<rs::result<int>>);
    static_assert(rs::is_result_v<const rs::result<int>&>);
    static_assert(rs::is_result_v<rs::result<void>>);
    static_assert(!rs::is_result_v<int>);
    static_assert(!rs::is_result_v<rs::failure>);
    static_assert(std::is_same_v<rs::result<int>::value_type, int>);
    static_assert(std::is_same_v<rs::result<void>::value_type, void>);
    // Building a failure never throws: the library's rejection paths rely on it.
    static_assert(std::is_nothrow_constructible_v<rs::result<std::string>, rs::failure>);
    static_assert(std::is_nothrow_constructible_v<rs::result<int>, int>);
    static_assert(noexcept(rs::failure::of(rs::failure_kind::timeout)));
    // A failure converts implicitly (policies `return failure::of(...)`), a failed_value_t tag does not.
    static_assert(std::is_convertible_v<rs::failure, rs::result<int>>);
    static_assert(!std::is_convertible_v<rs::failed_value_t, rs::result<int>>);
    // A result<T> is not silently re-wrapped in result<result<T>>-like ways: it is copyable as itself.
    static_assert(std::is_copy_constructible_v<rs::result<int>>);
    static_assert(!std::is_copy_constructible_v<rs::result<std::unique_ptr<int>>>);
    static_assert(std::is_move_constructible_v<rs::result<std::unique_ptr<int>>>);
    SUCCEED();
}
