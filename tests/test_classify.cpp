// SPDX-License-Identifier: MIT
#include "support/catch.hpp"

#include <resilience/classify.hpp>

#include <stdexcept>
#include <string>
#include <system_error>

namespace rs = resilience;

namespace {

struct http_response {
    int status;
};

rs::failure hinted(rs::failure_kind k, rs::transience h) {
    rs::failure f = rs::failure::of(k);
    f.hint = h;
    return f;
}

constexpr rs::failure_kind all_kinds[] = {
    rs::failure_kind::error,        rs::failure_kind::timeout,       rs::failure_kind::deadline_exceeded,
    rs::failure_kind::circuit_open, rs::failure_kind::bulkhead_full, rs::failure_kind::rate_limited,
    rs::failure_kind::cancelled,    rs::failure_kind::dead_letter_failed,
};

}  // namespace

TEST_CASE("default_classifier: successes, hints, then kinds", "[classify]") {
    const rs::default_classifier c;
    CHECK(c(rs::result<int>(1)) == rs::verdict::success);
    CHECK(c(rs::result<void>()) == rs::verdict::success);

    SECTION("by kind") {
        for (auto k : all_kinds) {
            INFO(rs::to_string(k));
            const bool permanent = k == rs::failure_kind::deadline_exceeded || k == rs::failure_kind::cancelled ||
                                   k == rs::failure_kind::dead_letter_failed;
            CHECK(c(rs::result<int>(rs::failure::of(k))) == (permanent ? rs::verdict::permanent : rs::verdict::transient));
            CHECK(rs::default_classifier::by_kind(k) == (permanent ? rs::verdict::permanent : rs::verdict::transient));
        }
    }
    SECTION("a definite hint wins over the kind") {
        for (auto k : all_kinds) {
            INFO(rs::to_string(k));
            CHECK(c(rs::result<int>(hinted(k, rs::transience::transient))) == rs::verdict::transient);
            CHECK(c(rs::result<int>(hinted(k, rs::transience::permanent))) == rs::verdict::permanent);
            CHECK(c(rs::result<void>(hinted(k, rs::transience::permanent))) == rs::verdict::permanent);
        }
    }
    CHECK(rs::default_classifier::of_failure(rs::failure{}) == rs::verdict::transient);
}

TEST_CASE("http_status_verdict: 5xx, 429 and 408 are transient; other 4xx permanent", "[classify][http]") {
    for (int s : {100, 200, 201, 204, 301, 304, 399}) {
        INFO(s);
        CHECK(rs::http_status_verdict(s) == rs::verdict::success);
    }
    for (int s : {408, 429, 500, 502, 503, 504, 507, 599}) {
        INFO(s);
        CHECK(rs::http_status_verdict(s) == rs::verdict::transient);
    }
    for (int s : {400, 401, 403, 404, 405, 409, 410, 413, 422, 451, 499, 501, 505}) {
        INFO(s);
        CHECK(rs::http_status_verdict(s) == rs::verdict::permanent);
    }
    STATIC_REQUIRE(rs::http_status_verdict(503) == rs::verdict::transient);
}

TEST_CASE("classify_values: a predicate on the returned value", "[classify]") {
    const rs::classify_values c{[](const http_response& r) { return rs::http_status_verdict(r.status); }};
    STATIC_REQUIRE(rs::classifier_for<decltype(c), http_response>);
    CHECK(c(rs::result<http_response>(http_response{200})) == rs::verdict::success);
    CHECK(c(rs::result<http_response>(http_response{503})) == rs::verdict::transient);
    CHECK(c(rs::result<http_response>(http_response{404})) == rs::verdict::permanent);

    SECTION("failures go to the base classifier") {
        CHECK(c(rs::result<http_response>(rs::failure::of(rs::failure_kind::timeout))) == rs::verdict::transient);
        CHECK(c(rs::result<http_response>(rs::failure::of(rs::failure_kind::cancelled))) == rs::verdict::permanent);
        // A failure that carries a value (a late return) is classified as a failure, not by its value.
        rs::result<http_response> late(rs::failed_value, rs::failure::of(rs::failure_kind::cancelled), http_response{200});
        CHECK(c(late) == rs::verdict::permanent);
    }
    SECTION("results the predicate cannot take go to the base classifier") {
        CHECK(c(rs::result<void>()) == rs::verdict::success);
        CHECK(c(rs::result<void>(rs::failure::of(rs::failure_kind::error))) == rs::verdict::transient);
        CHECK(c(rs::result<std::string>("x")) == rs::verdict::success);
    }
    SECTION("a custom base") {
        const rs::classify_values strict{[](const int& v) { return v < 0 ? rs::verdict::permanent : rs::verdict::success; },
                                         rs::classify_kinds{rs::failure_kind::timeout}};
        CHECK(strict(rs::result<int>(-1)) == rs::verdict::permanent);
        CHECK(strict(rs::result<int>(1)) == rs::verdict::success);
        CHECK(strict(rs::result<int>(rs::failure::of(rs::failure_kind::timeout))) == rs::verdict::transient);
        CHECK(strict(rs::result<int>(rs::failure::of(rs::failure_kind::error))) == rs::verdict::permanent);
    }
}

TEST_CASE("classify_exceptions: listed exception types are transient, others permanent", "[classify][exceptions]") {
    const rs::classify_exceptions<std::runtime_error, std::system_error> c;
    auto thrown = [](auto e) { return rs::result<int>(rs::failure::from_exception(std::make_exception_ptr(e))); };
    CHECK(c(thrown(std::runtime_error("x"))) == rs::verdict::transient);
    CHECK(c(thrown(std::overflow_error("derived from runtime_error"))) == rs::verdict::transient);
    CHECK(c(thrown(std::system_error(std::make_error_code(std::errc::io_error)))) == rs::verdict::transient);
    CHECK(c(thrown(std::logic_error("x"))) == rs::verdict::permanent);
    CHECK(c(thrown(42)) == rs::verdict::permanent);
    CHECK(c(rs::result<int>(3)) == rs::verdict::success);
    // No exception: the failure's hint, then its kind.
    CHECK(c(rs::result<int>(rs::failure::of(rs::failure_kind::timeout))) == rs::verdict::transient);
    CHECK(c(rs::result<int>(rs::failure::of(rs::failure_kind::cancelled))) == rs::verdict::permanent);
    CHECK(c(rs::result<void>(hinted(rs::failure_kind::error, rs::transience::permanent))) == rs::verdict::permanent);
    // With nothing listed, every exception is permanent.
    const rs::classify_exceptions<> none;
    CHECK(none(thrown(std::runtime_error("x"))) == rs::verdict::permanent);
}

TEST_CASE("classify_kinds: the listed kinds are transient unless hinted permanent", "[classify]") {
    constexpr rs::classify_kinds c{rs::failure_kind::timeout, rs::failure_kind::rate_limited};
    STATIC_REQUIRE(c.contains(rs::failure_kind::timeout));
    STATIC_REQUIRE(!c.contains(rs::failure_kind::error));
    for (auto k : all_kinds) {
        INFO(rs::to_string(k));
        const bool listed = k == rs::failure_kind::timeout || k == rs::failure_kind::rate_limited;
        CHECK(c(rs::result<int>(rs::failure::of(k))) == (listed ? rs::verdict::transient : rs::verdict::permanent));
        // A permanent hint wins; a transient hint does not add a kind the caller left out.
        CHECK(c(rs::result<int>(hinted(k, rs::transience::permanent))) == rs::verdict::permanent);
        CHECK(c(rs::result<int>(hinted(k, rs::transience::transient))) ==
              (listed ? rs::verdict::transient : rs::verdict::permanent));
    }
    CHECK(c(rs::result<int>(1)) == rs::verdict::success);
    CHECK(c(rs::result<void>()) == rs::verdict::success);
    const rs::classify_kinds empty{};
    CHECK(empty(rs::result<int>(rs::failure::of(rs::failure_kind::error))) == rs::verdict::permanent);
    // Out-of-range kinds are never listed (and do not shift out of the mask).
    const rs::classify_kinds odd{static_cast<rs::failure_kind>(200)};
    CHECK(odd(rs::result<int>(rs::failure::of(rs::failure_kind::error))) == rs::verdict::permanent);
}

TEST_CASE("apply_classifier: a success classified as a failure becomes one, keeping its value", "[classify]") {
    const rs::classify_values c{[](const http_response& r) { return rs::http_status_verdict(r.status); }};

    rs::result<http_response> r503(http_response{503});
    CHECK(rs::apply_classifier(c, r503) == rs::verdict::transient);
    REQUIRE_FALSE(r503.has_value());
    CHECK(r503.error().kind == rs::failure_kind::error);
    CHECK(r503.error().hint == rs::transience::transient);
    REQUIRE(r503.last_value() != nullptr);
    CHECK(r503.last_value()->status == 503);
    // Classifying the result again (an outer layer) keeps the verdict: the hint carries it.
    CHECK(rs::default_classifier{}(r503) == rs::verdict::transient);

    rs::result<http_response> r404(http_response{404});
    CHECK(rs::apply_classifier(c, r404) == rs::verdict::permanent);
    CHECK(r404.error().hint == rs::transience::permanent);
    CHECK(r404.last_value()->status == 404);
    CHECK(rs::default_classifier{}(r404) == rs::verdict::permanent);

    rs::result<http_response> ok(http_response{200});
    CHECK(rs::apply_classifier(c, ok) == rs::verdict::success);
    CHECK(ok.has_value());

    rs::result<http_response> failed(rs::failure::of(rs::failure_kind::timeout, "slow"));
    CHECK(rs::apply_classifier(c, failed) == rs::verdict::transient);
    CHECK(failed.error().message == "slow");  // an existing failure is left as it is

    rs::result<void> v;
    CHECK(rs::apply_classifier(rs::default_classifier{}, v) == rs::verdict::success);
}

TEST_CASE("classifier_for: what counts as a classifier", "[classify]") {
    STATIC_REQUIRE(rs::classifier_for<rs::default_classifier, int>);
    STATIC_REQUIRE(rs::classifier_for<rs::default_classifier, void>);
    STATIC_REQUIRE(rs::classifier_for<rs::classify_kinds, void>);
    STATIC_REQUIRE(rs::classifier_for<rs::classify_exceptions<std::runtime_error>, int>);
    auto returns_bool = [](const rs::result<int>& r) { return r.has_value(); };
    STATIC_REQUIRE_FALSE(rs::classifier_for<decltype(returns_bool), int>);
    STATIC_REQUIRE_FALSE(rs::classifier_for<int, int>);
}
