// SPDX-License-Identifier: MIT
#include "support/allocations.hpp"
#include "support/catch.hpp"

#include <resilience/aws/lambda.hpp>
#include <resilience/timeout.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

// Counts this thread's allocations, to prove the "allocates nothing" claims (skipped under TSan).
using resilience_test::allocations_during;

namespace rs = resilience;
using namespace std::chrono;
using namespace std::chrono_literals;

// Types of the same shape as aws-lambda-cpp's aws::lambda_runtime::invocation_request and
// invocation_response (include/aws/lambda-runtime/runtime.h).
namespace fake_lambda {

struct invocation_request {
    std::string payload;
    std::string request_id;
    std::string xray_trace_id;
    std::string client_context;
    std::string cognito_identity;
    std::string function_arn;
    std::string content_type;
    std::chrono::time_point<std::chrono::system_clock> deadline;
    std::string tenant_id;
    std::chrono::milliseconds get_time_remaining() const {
        return duration_cast<milliseconds>(deadline - system_clock::now());
    }
};

class invocation_response {
    std::string m_payload;
    std::string m_content_type;
    bool m_success = false;
    std::string m_error_message;  // kept apart here so tests can read them without parsing JSON
    std::string m_error_type;
    invocation_response() = default;

public:
    static invocation_response success(std::string payload, std::string content_type) {
        if (payload == "throw from success") throw std::runtime_error("the response could not be built");
        invocation_response r;
        r.m_success = true;
        r.m_payload = std::move(payload);
        r.m_content_type = std::move(content_type);
        return r;
    }
    static invocation_response failure(std::string const& error_message, std::string const& error_type) {
        invocation_response r;
        r.m_success = false;
        r.m_content_type = "application/json";
        r.m_error_message = error_message;
        r.m_error_type = error_type;
        r.m_payload = R"({"errorMessage":")" + error_message + R"(","errorType":")" + error_type + R"(","stackTrace":[]})";
        return r;
    }
    std::string const& get_content_type() const { return m_content_type; }
    std::string const& get_payload() const { return m_payload; }
    bool is_success() const { return m_success; }
    std::string const& error_message() const { return m_error_message; }
    std::string const& error_type() const { return m_error_type; }
};

}  // namespace fake_lambda

namespace {

using fake_lambda::invocation_request;
using fake_lambda::invocation_response;

const auto wall_now = sys_days{year{2026} / 1 / 1} + 12h;

invocation_request request_with(system_clock::time_point deadline) {
    invocation_request r;
    r.payload = R"({"order":42})";
    r.request_id = "req-1";
    r.deadline = deadline;
    return r;
}

}  // namespace

static_assert(rs::aws::lambda_request<invocation_request>);
static_assert(rs::aws::detail::lambda_response<invocation_response>);

TEST_CASE("the invocation deadline, minus the reserve, on the composition's clock", "[aws][lambda]") {
    rs::manual_clock clk;
    const auto entry = clk.now();

    SECTION("normal case") {
        auto d = rs::aws::deadline_from(request_with(wall_now + 3s), clk, {.reserve = 500ms}, wall_now);
        CHECK(d.from_runtime);
        CHECK_FALSE(d.exhausted);
        CHECK(d.entry == entry);
        CHECK(d.remaining_at_entry == 3s);
        CHECK(d.deadline == entry + 2500ms);
        CHECK(d.hard_deadline == entry + 3s);
        CHECK(d.remaining(entry) == 2500ms);
        clk.advance(1s);
        CHECK(d.remaining(clk.now()) == 1500ms);
        CHECK(d.remaining_before_kill(clk.now()) == 2s);
        clk.advance(2s);
        CHECK(d.remaining(clk.now()) == 0s);
        CHECK(d.remaining_before_kill(clk.now()) == 0s);
    }
    SECTION("taken once: later wall-clock readings do not move it") {
        auto d = rs::aws::deadline_from(request_with(wall_now + 10s), clk, {}, wall_now);
        auto again = rs::aws::deadline_from(request_with(wall_now + 10s), clk, {}, wall_now + 1h);  // a wall-clock step
        CHECK(d.deadline == entry + 9500ms);
        CHECK(again.exhausted);  // what a second reading would see; the adapter takes one reading only
    }
    SECTION("the runtime sent no deadline: the request's deadline is at the epoch") {
        invocation_request req = request_with(system_clock::time_point{});
        auto d = rs::aws::deadline_from(req, clk, {}, wall_now);
        CHECK_FALSE(d.from_runtime);
        CHECK_FALSE(d.exhausted);
        CHECK(d.deadline == rs::no_deadline);
        CHECK(d.hard_deadline == rs::no_deadline);
        CHECK(d.remaining(clk.now()) == rs::duration::max());
        CHECK(d.remaining_before_kill(clk.now()) == rs::duration::max());

        auto budgeted = rs::aws::deadline_from(req, clk, {.reserve = 1s, .budget_without_deadline = 10s}, wall_now);
        CHECK_FALSE(budgeted.from_runtime);
        CHECK(budgeted.deadline == entry + 9s);
        CHECK(budgeted.hard_deadline == entry + 10s);

        auto tight = rs::aws::deadline_from(req, clk, {.reserve = 2s, .budget_without_deadline = 1s}, wall_now);
        CHECK(tight.exhausted);
        CHECK(tight.deadline == entry);
    }
    SECTION("negative remaining time") {
        auto d = rs::aws::deadline_from(request_with(wall_now - 2s), clk, {.reserve = 100ms}, wall_now);
        CHECK(d.from_runtime);
        CHECK(d.remaining_at_entry == -2s);
        CHECK(d.exhausted);
        CHECK(d.deadline == entry);
        CHECK(d.hard_deadline == entry - 2s);
        CHECK(d.remaining(entry) == 0s);
        CHECK(d.remaining_before_kill(entry) == 0s);
    }
    SECTION("a reserve larger than what is left") {
        auto d = rs::aws::deadline_from(request_with(wall_now + 300ms), clk, {.reserve = 500ms}, wall_now);
        CHECK(d.exhausted);
        CHECK(d.deadline == entry);
        CHECK(d.hard_deadline == entry + 300ms);
        CHECK(d.remaining_before_kill(entry) == 300ms);
        auto exact = rs::aws::deadline_from(request_with(wall_now + 500ms), clk, {.reserve = 500ms}, wall_now);
        CHECK(exact.exhausted);
    }
    SECTION("no reserve") {
        auto d = rs::aws::deadline_from(request_with(wall_now + 1s), clk, {.reserve = 0s}, wall_now);
        CHECK(d.deadline == d.hard_deadline);
    }
    SECTION("a corrupt deadline far away is clamped to 15 minutes") {
        auto d = rs::aws::deadline_from(request_with(wall_now + hours(24 * 365 * 200)), clk, {}, wall_now);
        CHECK(d.remaining_at_entry == 15min);
        auto past = rs::aws::deadline_from(request_with(system_clock::time_point{} + 1ms), clk, {}, wall_now);
        CHECK(past.remaining_at_entry == -15min);
        CHECK(past.exhausted);
    }
}

TEST_CASE("lambda_deadline_options are validated", "[aws][lambda]") {
    CHECK_FALSE(rs::aws::lambda_deadline_options{}.validate());
    auto neg = rs::aws::lambda_deadline_options{.reserve = -1ms}.validate();
    REQUIRE(neg);
    CHECK(neg->field == "lambda_deadline_options.reserve");
    CHECK(neg->message == "lambda_deadline_options.reserve must be between 0 and 15 minutes");
    auto big = rs::aws::lambda_deadline_options{.budget_without_deadline = 16min}.validate();
    REQUIRE(big);
    CHECK(big->field == "lambda_deadline_options.budget_without_deadline");
    rs::manual_clock clk;
    REQUIRE_THROWS_AS(rs::aws::deadline_from(request_with(wall_now), clk, {.reserve = 1h}, wall_now), std::invalid_argument);

    auto ct = rs::aws::handler_options{.content_type = ""}.validate();
    REQUIRE(ct);
    CHECK(ct->field == "handler_options.content_type");
    CHECK(rs::aws::handler_options{.deadline = {.reserve = -1s}}.validate()->field == "lambda_deadline_options.reserve");
}

TEST_CASE("error types are stable", "[aws][lambda]") {
    CHECK(rs::aws::lambda_error_type(rs::failure_kind::error) == "resilience.error");
    CHECK(rs::aws::lambda_error_type(rs::failure_kind::timeout) == "resilience.timeout");
    CHECK(rs::aws::lambda_error_type(rs::failure_kind::deadline_exceeded) == "resilience.deadline_exceeded");
    CHECK(rs::aws::lambda_error_type(rs::failure_kind::circuit_open) == "resilience.circuit_open");
    CHECK(rs::aws::lambda_error_type(rs::failure_kind::bulkhead_full) == "resilience.bulkhead_full");
    CHECK(rs::aws::lambda_error_type(rs::failure_kind::rate_limited) == "resilience.rate_limited");
    CHECK(rs::aws::lambda_error_type(rs::failure_kind::cancelled) == "resilience.cancelled");
    CHECK(rs::aws::lambda_error_type(rs::failure_kind::dead_letter_failed) == "resilience.dead_letter_failed");
    for (std::size_t i = 0; i < rs::failure_kind_count; ++i) {
        auto k = static_cast<rs::failure_kind>(i);
        CHECK(rs::aws::lambda_error_type(k) == "resilience." + std::string(rs::to_string(k)));
    }
}

TEST_CASE("describe_failure says what happened", "[aws][lambda]") {
    rs::failure f = rs::failure::of(rs::failure_kind::timeout, "the attempt ran out of time").relabelled(rs::failure_kind::deadline_exceeded);
    f.attempts = 3;
    f.elapsed = 1234ms;
    f.retry_after = 2s;
    f.error = std::make_error_code(std::errc::timed_out);
    auto s = rs::aws::describe_failure(f);
    CHECK(s.find("the attempt ran out of time") == 0);
    CHECK(s.find("kind=deadline_exceeded") != std::string::npos);
    CHECK(s.find("cause=timeout") != std::string::npos);
    CHECK(s.find("attempts=3") != std::string::npos);
    CHECK(s.find("elapsed_ms=1234") != std::string::npos);
    CHECK(s.find("retry_after_ms=2000") != std::string::npos);
    CHECK(s.find("error=generic:") != std::string::npos);
    CHECK(rs::aws::describe_failure(rs::failure{}).find("the call failed (kind=error, attempts=0") == 0);

    rs::failure ex = rs::failure::from_exception(std::make_exception_ptr(std::runtime_error("socket closed")));
    CHECK(rs::aws::describe_failure(ex).find("exception=socket closed") != std::string::npos);
    rs::failure odd = rs::failure::from_exception(std::make_exception_ptr(42));
    CHECK(rs::aws::describe_failure(odd).find("not a std::exception") != std::string::npos);
}

TEST_CASE("run_invocation maps results to invocation responses", "[aws][lambda]") {
    rs::manual_clock clk;
    std::vector<std::string> call_ids;
    rs::callback_listener listen{[&](const rs::event& e) {
        if (e.type == rs::event_type::attempt_started) call_ids.emplace_back(e.call_id);
    }};
    rs::resilient_call call{clk, listen};
    const auto req = request_with(wall_now + 3s);

    SECTION("a string value is the payload") {
        rs::time_point seen_deadline{};
        rs::duration seen_remaining{};
        auto resp = rs::aws::run_invocation<invocation_response>(
            req, call,
            [&](const rs::attempt& a) -> rs::result<std::string> {
                seen_deadline = a.deadline();
                seen_remaining = a.remaining();
                return std::string(R"({"ok":true})");
            },
            {}, wall_now);
        CHECK(resp.is_success());
        CHECK(resp.get_payload() == R"({"ok":true})");
        CHECK(resp.get_content_type() == "application/json");
        CHECK(seen_deadline == clk.now() + 2500ms);  // 3 s left, 500 ms reserve
        CHECK(seen_remaining == 2500ms);
        REQUIRE(call_ids.size() == 1);
        CHECK(call_ids[0] == "req-1");
    }
    SECTION("a lambda_payload brings its content type") {
        auto resp = rs::aws::run_invocation<invocation_response>(
            req, call, [] { return rs::aws::lambda_payload{"hello", "text/plain"}; }, {}, wall_now);
        CHECK(resp.is_success());
        CHECK(resp.get_payload() == "hello");
        CHECK(resp.get_content_type() == "text/plain");
    }
    SECTION("a plain value and a custom content type") {
        auto resp = rs::aws::run_invocation<invocation_response>(
            req, call, [] { return "<ok/>"; }, {.content_type = "application/xml"}, wall_now);
        CHECK(resp.get_payload() == "<ok/>");
        CHECK(resp.get_content_type() == "application/xml");
    }
    SECTION("void answers an empty payload") {
        int runs = 0;
        auto resp = rs::aws::run_invocation<invocation_response>(req, call, [&] { ++runs; }, {}, wall_now);
        CHECK(resp.is_success());
        CHECK(resp.get_payload().empty());
        CHECK(runs == 1);
    }
    SECTION("a failure becomes a failure response with a stable error type") {
        auto resp = rs::aws::run_invocation<invocation_response>(
            req, call,
            []() -> rs::result<std::string> {
                return rs::failure::from_error(std::make_error_code(std::errc::connection_refused),
                                               rs::transience::transient, "the inventory service refused");
            },
            {}, wall_now);
        CHECK_FALSE(resp.is_success());
        CHECK(resp.error_type() == "resilience.error");
        CHECK(resp.error_message().find("the inventory service refused") == 0);
        CHECK(resp.error_message().find("attempts=1") != std::string::npos);
        CHECK(resp.get_content_type() == "application/json");
    }
    SECTION("an exception from the callable is a failure of kind error, with its message") {
        auto resp = rs::aws::run_invocation<invocation_response>(
            req, call, []() -> std::string { throw std::runtime_error("parse error at byte 3"); }, {}, wall_now);
        CHECK_FALSE(resp.is_success());
        CHECK(resp.error_type() == "resilience.error");
        CHECK(resp.error_message().find("exception=parse error at byte 3") != std::string::npos);
    }
    SECTION("an exception escaping the adapter is reported too") {
        auto resp = rs::aws::run_invocation<invocation_response>(
            req, call, [] { return std::string("throw from success"); }, {}, wall_now);
        CHECK_FALSE(resp.is_success());
        CHECK(resp.error_type() == "resilience.unhandled_exception");
        CHECK(resp.error_message() == "the response could not be built");
    }
    SECTION("no time left after the reserve: the callable never runs") {
        int runs = 0;
        auto resp = rs::aws::run_invocation<invocation_response>(
            request_with(wall_now + 200ms), call, [&] { ++runs; return std::string("x"); }, {}, wall_now);
        CHECK(runs == 0);
        CHECK_FALSE(resp.is_success());
        CHECK(resp.error_type() == "resilience.deadline_exceeded");
        CHECK(resp.error_message().find("attempts=0") != std::string::npos);
    }
    SECTION("negative remaining time: the callable never runs") {
        int runs = 0;
        auto resp = rs::aws::run_invocation<invocation_response>(
            request_with(wall_now - 1s), call, [&] { ++runs; return std::string("x"); }, {.deadline = {.reserve = 0s}}, wall_now);
        CHECK(runs == 0);
        CHECK(resp.error_type() == "resilience.deadline_exceeded");
    }
    SECTION("no deadline from the runtime: the call runs unbounded") {
        rs::time_point seen{};
        auto resp = rs::aws::run_invocation<invocation_response>(
            request_with(system_clock::time_point{}), call,
            [&](const rs::attempt& a) { seen = a.deadline(); return std::string("x"); }, {}, wall_now);
        CHECK(resp.is_success());
        CHECK(seen == rs::no_deadline);
    }
    SECTION("invalid options") {
        REQUIRE_THROWS_AS(rs::aws::run_invocation<invocation_response>(req, call, [] { return "x"; },
                                                                       {.content_type = ""}, wall_now),
                          std::invalid_argument);
    }
}

TEST_CASE("the invocation deadline bounds an inner timeout", "[aws][lambda]") {
    rs::manual_clock clk;
    rs::resilient_call call{clk, rs::timeout{10s}};
    const auto req = request_with(wall_now + 2s);
    rs::time_point seen{};
    auto resp = rs::aws::run_invocation<invocation_response>(
        req, call,
        [&](const rs::attempt& a) {
            seen = a.deadline();
            clk.advance(3s);  // the dependency is slow: the invocation's deadline passes
            return std::string("late");
        },
        {.deadline = {.reserve = 500ms}}, wall_now);
    CHECK(seen == clk.start() + 1500ms);  // the invocation's deadline, not the 10 s timeout
    CHECK_FALSE(resp.is_success());
    CHECK(resp.error_type() == "resilience.deadline_exceeded");
}

TEST_CASE("invocation_options carry the request into the call", "[aws][lambda]") {
    rs::manual_clock clk;
    auto req = request_with(wall_now + 5s);
    auto d = rs::aws::deadline_from(req, clk, {}, wall_now);
    auto o = rs::aws::invocation_options(req, d, {.source = "orders.get"});
    CHECK(o.deadline == d.deadline);
    CHECK(o.id == "req-1");
    CHECK(o.payload == req.payload);
    CHECK(o.source == "orders.get");
    auto secret = rs::aws::invocation_options(req, d, {.keep_payload = false});
    CHECK(secret.payload.empty());
}

TEST_CASE("taking the deadline allocates nothing", "[aws][lambda][alloc]") {
    if (!RESILIENCE_TEST_COUNTS_ALLOCATIONS) return;
    REQUIRE(allocations_during([] { ::operator delete(::operator new(16)); }) == 1);  // the counter counts
    rs::manual_clock clk;
    const auto req = request_with(wall_now + 3s);
    rs::aws::invocation_deadline d;
    std::uint64_t n = allocations_during([&] { d = rs::aws::deadline_from(req, clk, {}, wall_now); });
    CHECK(n == 0);
    CHECK(d.deadline == clk.now() + 2500ms);
}
