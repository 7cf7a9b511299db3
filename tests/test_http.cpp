// SPDX-License-Identifier: MIT
#include "support/allocations.hpp"
#include "support/catch.hpp"

#include <resilience/http.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>

// Counts this thread's allocations, to prove the "allocates nothing" claims (skipped under TSan).
using resilience_test::allocations_during;

namespace rs = resilience;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

system_clock::time_point utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
    return sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi} + seconds{s};
}

}  // namespace

static_assert(rs::is_transient_status(503));
static_assert(rs::is_permanent_status(404));
static_assert(!rs::is_transient_status(200) && !rs::is_permanent_status(200));

TEST_CASE("status classification follows http_status_verdict", "[http]") {
    for (int s : {200, 201, 204, 301, 304, 399}) {
        CHECK_FALSE(rs::is_transient_status(s));
        CHECK_FALSE(rs::is_permanent_status(s));
    }
    for (int s : {408, 429, 500, 502, 503, 504, 599}) CHECK(rs::is_transient_status(s));
    for (int s : {400, 401, 403, 404, 409, 422, 501, 505}) CHECK(rs::is_permanent_status(s));
    CHECK(rs::is_throttling_status(429));
    CHECK_FALSE(rs::is_throttling_status(503));
}

TEST_CASE("http_status_failure builds a failure carrying the status", "[http]") {
    CHECK_FALSE(rs::http_status_failure(200).has_value());
    CHECK_FALSE(rs::http_status_failure(304).has_value());

    auto f503 = rs::http_status_failure(503, 2s);
    REQUIRE(f503);
    CHECK(f503->kind == rs::failure_kind::error);
    CHECK(f503->cause == rs::failure_kind::error);
    CHECK(f503->hint == rs::transience::transient);
    CHECK(f503->error == rs::make_http_error_code(503));
    CHECK(f503->error.value() == 503);
    CHECK(f503->retry_after == 2s);
    CHECK(rs::default_classifier::of_failure(*f503) == rs::verdict::transient);

    auto f429 = rs::http_status_failure(429, 1500ms);
    REQUIRE(f429);
    CHECK(f429->kind == rs::failure_kind::rate_limited);
    CHECK(f429->cause == rs::failure_kind::rate_limited);
    CHECK(rs::is_rejection(f429->kind));
    CHECK(f429->hint == rs::transience::transient);
    CHECK(f429->retry_after == 1500ms);

    auto f404 = rs::http_status_failure(404);
    REQUIRE(f404);
    CHECK(f404->kind == rs::failure_kind::error);
    CHECK(f404->hint == rs::transience::permanent);
    CHECK(rs::default_classifier::of_failure(*f404) == rs::verdict::permanent);

    // A negative hint is no hint.
    auto neg = rs::http_status_failure(500, -5s);
    REQUIRE(neg);
    CHECK(neg->retry_after == 0s);
}

TEST_CASE("field names compare case-insensitively", "[http]") {
    CHECK(rs::http_field_name_equals("Retry-After", "retry-after"));
    CHECK(rs::http_field_name_equals("X-AMZ-RETRY-AFTER", "x-amz-retry-after"));
    CHECK_FALSE(rs::http_field_name_equals("Retry-After", "Retry-Afte"));
    CHECK_FALSE(rs::http_field_name_equals("Retry-After", "Retry_After"));
    static_assert(rs::http_field_name_equals("a", "A"));
}

TEST_CASE("http_category names the status", "[http]") {
    CHECK(std::string(rs::http_category().name()) == "http");
    CHECK(rs::make_http_error_code(503).message() == "HTTP 503 Service Unavailable");
    CHECK(rs::make_http_error_code(429).message() == "HTTP 429 Too Many Requests");
    CHECK(rs::make_http_error_code(599).message() == "HTTP 599");
    CHECK(&rs::http_category() == &rs::http_category());
}

TEST_CASE("Retry-After as delta-seconds", "[http][retry-after]") {
    const auto now = utc(2026, 1, 1, 12);
    auto p = [&](std::string_view v) { return rs::parse_retry_after_header(v, now); };

    CHECK(p("120").status == rs::retry_after_status::ok);
    CHECK(p("120").delay == 120s);
    CHECK(p("0").delay == 0s);
    CHECK(p("0").status == rs::retry_after_status::ok);
    CHECK(p(" \t5 ").delay == 5s);  // optional whitespace around the value
    CHECK(p("0005").delay == 5s);
    CHECK(rs::parse_retry_after("30", now) == std::optional<rs::duration>(30s));

    SECTION("absurd values are capped, without overflow") {
        auto huge = p("999999999999999999999999999999999999");
        CHECK(huge.status == rs::retry_after_status::capped);
        CHECK(huge.delay == rs::default_retry_after_cap);
        CHECK(p("3600").status == rs::retry_after_status::ok);
        CHECK(p("3601").status == rs::retry_after_status::capped);
        CHECK(p("3601").delay == 1h);
        auto custom = rs::parse_retry_after_header("90", now, 1min);
        CHECK(custom.status == rs::retry_after_status::capped);
        CHECK(custom.delay == 1min);
        auto neg_cap = rs::parse_retry_after_header("1", now, -5s);
        CHECK(neg_cap.status == rs::retry_after_status::capped);
        CHECK(neg_cap.delay == 0s);
    }

    SECTION("malformed values") {
        for (std::string_view bad : {"-1", "+5", "1.5", "5s", "5 5", "0x10", "1e3", "five", ",", "\"5\""}) {
            INFO(std::string(bad));
            auto r = p(bad);
            CHECK(r.status == rs::retry_after_status::malformed);
            CHECK(r.delay == 0s);
            CHECK_FALSE(r.valid());
            CHECK_FALSE(rs::parse_retry_after(bad, now).has_value());
        }
    }

    SECTION("empty values") {
        CHECK(p("").status == rs::retry_after_status::empty);
        CHECK(p("  \t ").status == rs::retry_after_status::empty);
        CHECK_FALSE(rs::parse_retry_after("", now).has_value());
    }
}

TEST_CASE("Retry-After as an HTTP-date, in the three forms", "[http][retry-after]") {
    const auto now = utc(1994, 11, 6, 8, 49, 0);

    for (std::string_view form : {"Sun, 06 Nov 1994 08:49:37 GMT",     // IMF-fixdate
                                  "Sunday, 06-Nov-94 08:49:37 GMT",    // RFC 850
                                  "Sun Nov  6 08:49:37 1994",          // asctime
                                  "sun, 06 nov 1994 08:49:37 gmt",     // names are case-insensitive
                                  "  Sun, 06 Nov 1994 08:49:37 GMT "}) {
        INFO(std::string(form));
        auto r = rs::parse_retry_after_header(form, now);
        CHECK(r.status == rs::retry_after_status::ok);
        CHECK(r.delay == 37s);
    }

    SECTION("sub-second precision of now") {
        auto r = rs::parse_retry_after_header("Sun, 06 Nov 1994 08:49:37 GMT", now + 36500ms);
        CHECK(r.status == rs::retry_after_status::ok);
        CHECK(r.delay == 500ms);
    }

    SECTION("a date in the past means now") {
        auto r = rs::parse_retry_after_header("Sun, 06 Nov 1994 08:48:00 GMT", now);
        CHECK(r.status == rs::retry_after_status::past_date);
        CHECK(r.delay == 0s);
        CHECK(r.valid());
        auto same = rs::parse_retry_after_header("Sun, 06 Nov 1994 08:49:00 GMT", now);
        CHECK(same.status == rs::retry_after_status::past_date);
        auto ancient = rs::parse_retry_after_header("Mon, 01 Jan 1900 00:00:00 GMT", now);
        CHECK(ancient.status == rs::retry_after_status::past_date);
    }

    SECTION("a date far away is capped") {
        auto r = rs::parse_retry_after_header("Fri, 31 Dec 9999 23:59:59 GMT", now);
        CHECK(r.status == rs::retry_after_status::capped);
        CHECK(r.delay == rs::default_retry_after_cap);
        auto two_hours = rs::parse_retry_after_header("Sun, 06 Nov 1994 10:49:00 GMT", now);
        CHECK(two_hours.status == rs::retry_after_status::capped);
        CHECK(two_hours.delay == 1h);
    }

    SECTION("malformed dates") {
        for (std::string_view bad : {
                 "Sun, 06 Nov 1994 08:49:37 UTC",   // only GMT
                 "Sun, 06 Nov 1994 08:49:37",       // zone missing
                 "Sun, 31 Feb 1994 08:49:37 GMT",   // no such day
                 "Sun, 06 Nov 1994 24:00:00 GMT",   // hour out of range
                 "Sun, 06 Nov 1994 08:60:00 GMT",   // minute out of range
                 "Sun, 06 Nov 1994 08:49:61 GMT",   // second out of range
                 "Sun,06 Nov 1994 08:49:37 GMT",    // missing space
                 "Sun, 6 Nov 1994 08:49:37 GMT",    // IMF needs two-digit days
                 "Sun, 06 Nov 94 08:49:37 GMT",     // IMF needs four-digit years
                 "Sun, 06 Noe 1994 08:49:37 GMT",   // no such month
                 "Fun, 06 Nov 1994 08:49:37 GMT",   // no such day name
                 "Sunday, 06 Nov 1994 08:49:37 GMT",  // long day name with IMF date
                 "Sun, 06-Nov-94 08:49:37 GMT",     // short day name with RFC 850 date
                 "Sun, 06 Nov 1994 08:49:37 GMT x", // trailing garbage
                 "Sun Nov 6 08:49:37 1994",         // asctime pads a one-digit day with a space
                 "Sun Nov  6 08:49:37 94",          // asctime needs four-digit years
                 "Sun Nov  6 08:49:37 1994 GMT",    // asctime has no zone
                 "Sun, 06 Nov 1994 8:49:37 GMT",    // two-digit hours
                 "Sun",
                 "Sun,",
                 "Sun, ",
             }) {
            INFO(std::string(bad));
            CHECK(rs::parse_retry_after_header(bad, now).status == rs::retry_after_status::malformed);
        }
    }

    SECTION("a leap second is accepted") {
        auto r = rs::parse_retry_after_header("Sun, 06 Nov 1994 08:49:60 GMT", now);
        CHECK(r.status == rs::retry_after_status::ok);
        CHECK(r.delay == 60s);
    }
}

TEST_CASE("RFC 850 two-digit years: at most 50 years in the future", "[http]") {
    // RFC 9110: a two-digit year that would be more than 50 years in the future means the most recent
    // past year with those digits.
    auto year_of = [](std::string_view text, int now_year) {
        auto s = rs::parse_http_date_seconds(text, now_year);
        REQUIRE(s);
        return static_cast<int>(year_month_day{floor<days>(sys_seconds{seconds{*s}})}.year());
    };
    CHECK(year_of("Thursday, 01-Jan-26 00:00:00 GMT", 2026) == 2026);
    CHECK(year_of("Thursday, 01-Jan-76 00:00:00 GMT", 2026) == 2076);  // exactly 50 years ahead
    CHECK(year_of("Thursday, 01-Jan-77 00:00:00 GMT", 2026) == 1977);  // 51 years ahead: the past
    CHECK(year_of("Thursday, 01-Jan-99 00:00:00 GMT", 2026) == 1999);
    CHECK(year_of("Thursday, 01-Jan-00 00:00:00 GMT", 2026) == 2000);
    CHECK(year_of("Thursday, 01-Jan-94 00:00:00 GMT", 1994) == 1994);
    CHECK(year_of("Thursday, 01-Jan-44 00:00:00 GMT", 1994) == 2044);
    CHECK(year_of("Thursday, 01-Jan-45 00:00:00 GMT", 1994) == 1945);
}

TEST_CASE("parse_http_date gives a system_clock time point", "[http]") {
    const auto now = utc(2026, 3, 1);
    auto t = rs::parse_http_date("Tue, 03 Mar 2026 10:11:12 GMT", now);
    REQUIRE(t);
    CHECK(*t == utc(2026, 3, 3, 10, 11, 12));
    CHECK_FALSE(rs::parse_http_date("Tue, 03 Mar 2026 10:11:12", now));
    // Outside system_clock's range (nanoseconds: about 1678..2262): refused rather than wrapped.
    CHECK_FALSE(rs::parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT", now));
    CHECK(rs::parse_http_date_seconds("Thu, 01 Jan 1970 00:00:00 GMT", 2026) == std::optional<std::int64_t>(0));
    CHECK(rs::parse_http_date_seconds("Mon, 29 Feb 2016 00:00:00 GMT", 2026).has_value());
    CHECK_FALSE(rs::parse_http_date_seconds("Mon, 29 Feb 2015 00:00:00 GMT", 2026).has_value());
}

TEST_CASE("parsing and classification allocate nothing", "[http][alloc]") {
    if (!RESILIENCE_TEST_COUNTS_ALLOCATIONS) return;
    REQUIRE(allocations_during([] { ::operator delete(::operator new(16)); }) == 1);  // the counter counts
    const auto now = utc(1994, 11, 6, 8, 49, 0);
    rs::duration sum{};
    std::uint64_t n = allocations_during([&] {
        for (std::string_view v : {"120", "Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
                                   "Sun Nov  6 08:49:37 1994", "garbage", "99999999999999999999"}) {
            sum += rs::parse_retry_after_header(v, now).delay;
        }
        for (int s : {200, 404, 429, 503}) {
            if (auto f = rs::http_status_failure(s, 1s)) sum += f->retry_after;
        }
    });
    CHECK(n == 0);
    CHECK(sum > 0s);
}
