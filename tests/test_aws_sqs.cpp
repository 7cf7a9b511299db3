// SPDX-License-Identifier: MIT
#include "support/catch.hpp"

#include <resilience/aws/sqs.hpp>
#include <resilience/detail/json.hpp>
#include <resilience/sinks/callback_sink.hpp>
#include <resilience/sinks/memory_sink.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace rs = resilience;
namespace json = resilience::detail::json;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

// Same shape as aws-lambda-cpp's invocation_request / invocation_response.
struct invocation_request {
    std::string payload;
    std::string request_id;
    std::chrono::time_point<std::chrono::system_clock> deadline;
};

class invocation_response {
    std::string payload_, content_type_, error_type_;
    bool success_ = false;
    invocation_response() = default;

public:
    static invocation_response success(std::string payload, std::string content_type) {
        invocation_response r;
        r.success_ = true;
        r.payload_ = std::move(payload);
        r.content_type_ = std::move(content_type);
        return r;
    }
    static invocation_response failure(std::string const& message, std::string const& type) {
        invocation_response r;
        r.payload_ = message;
        r.error_type_ = type;
        r.content_type_ = "application/json";
        return r;
    }
    bool is_success() const { return success_; }
    const std::string& get_payload() const { return payload_; }
    const std::string& get_content_type() const { return content_type_; }
    const std::string& error_type() const { return error_type_; }
};

const auto wall_now = sys_days{year{2026} / 1 / 1} + 12h;

rs::aws::sqs_record msg(std::string id, std::string body, std::uint32_t received = 1, std::string group = {}) {
    rs::aws::sqs_record r;
    r.message_id = std::move(id);
    r.body = std::move(body);
    r.approximate_receive_count = received;
    r.message_group_id = std::move(group);
    return r;
}

/// The ids in a partial batch response, read back with a JSON parser.
std::vector<std::string> reported_ids(const std::string& response) {
    json::value v;
    json::error e;
    REQUIRE(json::parse(response, v, e));
    REQUIRE(v.kind == json::type::object);
    REQUIRE(v.members.size() == 1);
    const json::value* list = v.find("batchItemFailures");
    REQUIRE(list);
    REQUIRE(list->kind == json::type::array);
    std::vector<std::string> ids;
    for (const auto& item : list->elements) {
        REQUIRE(item.kind == json::type::object);
        REQUIRE(item.members.size() == 1);
        const json::value* id = item.find("itemIdentifier");
        REQUIRE(id);
        REQUIRE(id->kind == json::type::string);
        ids.push_back(id->text);
    }
    return ids;
}

/// Fails the records whose body starts with "fail".
auto fail_some = [](const rs::aws::sqs_record& m) -> rs::result<int> {
    if (m.body.rfind("fail", 0) == 0) {
        return rs::failure::from_error(std::make_error_code(std::errc::connection_refused), rs::transience::transient,
                                       "the downstream refused");
    }
    return 1;
};

const char* const sample_event = R"({
  "Records": [
    {
      "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
      "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
      "body": "{\"order\":1,\"note\":\"caf\u00e9 \\\"quoted\\\"\"}",
      "attributes": {
        "ApproximateReceiveCount": "3",
        "SentTimestamp": "1545082649183",
        "SenderId": "AIDAIENQZJOLO23YVJ4VO",
        "ApproximateFirstReceiveTimestamp": "1545082649185"
      },
      "messageAttributes": {},
      "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
      "eventSource": "aws:sqs",
      "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:my-queue",
      "awsRegion": "us-east-2"
    },
    {
      "messageId": "2e1424d4-f796-459a-8184-9c92662be6da",
      "receiptHandle": "AQEBzWwaftRI0KuVm4tP+/7q1rGgNqicHq",
      "body": "fail me",
      "attributes": {
        "ApproximateReceiveCount": "1",
        "MessageGroupId": "group-a"
      },
      "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:my-queue.fifo"
    }
  ]
})";

}  // namespace

static_assert(rs::aws::sqs_message<rs::aws::sqs_record>);
static_assert(!rs::aws::sqs_message<int>);

TEST_CASE("parse_sqs_event reads the records", "[aws][sqs]") {
    auto r = rs::aws::parse_sqs_event(sample_event);
    REQUIRE(r.has_value());
    REQUIRE(r->size() == 2);
    const auto& a = (*r)[0];
    CHECK(a.message_id == "059f36b4-87a3-44ab-83d2-661975830a7d");
    CHECK(a.receipt_handle == "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a");
    CHECK(a.body == "{\"order\":1,\"note\":\"caf\xc3\xa9 \\\"quoted\\\"\"}");  // decoded exactly
    CHECK(a.approximate_receive_count == 3);
    CHECK(a.message_group_id.empty());
    CHECK(a.event_source_arn == "arn:aws:sqs:us-east-2:123456789012:my-queue");
    const auto& b = (*r)[1];
    CHECK(b.body == "fail me");
    CHECK(b.approximate_receive_count == 1);
    CHECK(b.message_group_id == "group-a");

    auto empty = rs::aws::parse_sqs_event(R"({"Records":[]})");
    REQUIRE(empty.has_value());
    CHECK(empty->empty());
}

TEST_CASE("parse_sqs_event refuses what cannot be answered", "[aws][sqs]") {
    auto refused = [](std::string_view payload) {
        auto r = rs::aws::parse_sqs_event(payload);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().error == std::make_error_code(std::errc::invalid_argument));
        CHECK(r.error().hint == rs::transience::permanent);
        return std::string(r.error().message);
    };
    CHECK(refused("") == "the SQS event is not valid JSON");
    CHECK(refused("{\"Records\":[") == "the SQS event is not valid JSON");
    CHECK(refused("[1,2]") == "the SQS event is not a JSON object");
    CHECK(refused("{}") == "the SQS event has no Records array");
    CHECK(refused(R"({"Records":{}})") == "the SQS event has no Records array");
    CHECK(refused(R"({"Records":[1]})") == "an SQS event record is not a JSON object");
    CHECK(refused(R"({"Records":[{"body":"x"}]})") == "an SQS event record has no string messageId");
    CHECK(refused(R"({"Records":[{"messageId":7,"body":"x"}]})") == "an SQS event record has no string messageId");
    CHECK(refused(R"({"Records":[{"messageId":"m"}]})") == "an SQS event record has no string body");

    // Unreadable optional fields are not fatal.
    auto odd = rs::aws::parse_sqs_event(
        R"({"Records":[{"messageId":"m","body":"b","attributes":{"ApproximateReceiveCount":"many"},"extra":[1,{"x":null}]}]})");
    REQUIRE(odd.has_value());
    CHECK((*odd)[0].approximate_receive_count == 0);
    auto huge = rs::aws::parse_sqs_event(R"({"Records":[{"messageId":"m","body":"b","attributes":{"ApproximateReceiveCount":"99999999999"}}]})");
    REQUIRE(huge.has_value());
    CHECK((*huge)[0].approximate_receive_count == 0xFFFFFFFFu);
}

TEST_CASE("partial batch responses: none fail, all fail, some fail", "[aws][sqs]") {
    rs::manual_clock clk;
    rs::resilient_call call{clk};

    SECTION("none fail") {
        std::vector<rs::aws::sqs_record> batch{msg("a", "ok"), msg("b", "ok"), msg("c", "ok")};
        auto res = rs::aws::process_sqs_batch(batch, call, fail_some);
        CHECK(res.to_json() == R"({"batchItemFailures":[]})");
        CHECK(reported_ids(res.to_json()).empty());
        CHECK(res.count(rs::aws::sqs_record_status::succeeded) == 3);
        CHECK(res.reported() == 0);
        CHECK(res.batch_item_failures().empty());
    }
    SECTION("all fail") {
        std::vector<rs::aws::sqs_record> batch{msg("a", "fail"), msg("b", "fail"), msg("c", "fail")};
        auto res = rs::aws::process_sqs_batch(batch, call, fail_some);
        CHECK(reported_ids(res.to_json()) == std::vector<std::string>{"a", "b", "c"});
        CHECK(res.count(rs::aws::sqs_record_status::reported) == 3);
        REQUIRE(res.outcomes[0].error);
        CHECK(res.outcomes[0].error->message == "the downstream refused");
        CHECK(res.outcomes[0].error->attempts == 1);
    }
    SECTION("some fail") {
        std::vector<rs::aws::sqs_record> batch{msg("a", "ok"), msg("b", "fail"), msg("c", "ok"), msg("d", "fail")};
        auto res = rs::aws::process_sqs_batch(batch, call, fail_some);
        CHECK(reported_ids(res.to_json()) == std::vector<std::string>{"b", "d"});
        CHECK(res.outcomes.size() == 4);
        CHECK(res.outcomes[0].status == rs::aws::sqs_record_status::succeeded);
        CHECK_FALSE(res.outcomes[0].error);
        CHECK(res.outcomes[1].status == rs::aws::sqs_record_status::reported);
        auto ids = res.batch_item_failures();
        REQUIRE(ids.size() == 2);
        CHECK(ids[0] == "b");
        CHECK(ids[1] == "d");
    }
    SECTION("an empty batch") {
        std::vector<rs::aws::sqs_record> none;
        CHECK(rs::aws::process_sqs_batch(none, call, fail_some).to_json() == R"({"batchItemFailures":[]})");
    }
}

TEST_CASE("each record's call carries its id, payload and the deadline", "[aws][sqs]") {
    rs::manual_clock clk;
    std::vector<std::string> ids;
    rs::callback_listener listen{[&](const rs::event& e) {
        if (e.type == rs::event_type::attempt_started) ids.emplace_back(e.call_id);
    }};
    rs::resilient_call call{clk, listen};
    std::vector<rs::aws::sqs_record> batch{msg("m-1", "one"), msg("m-2", "two")};
    std::vector<rs::time_point> deadlines;
    std::vector<std::string> bodies;
    auto res = rs::aws::process_sqs_batch(
        batch, call,
        [&](const rs::aws::sqs_record& m, const rs::attempt& a) {
            deadlines.push_back(a.deadline());
            bodies.push_back(m.body);
        },
        {}, clk.now() + 10s);
    CHECK(res.reported() == 0);
    CHECK(ids == std::vector<std::string>{"m-1", "m-2"});
    CHECK(bodies == std::vector<std::string>{"one", "two"});
    REQUIRE(deadlines.size() == 2);
    CHECK(deadlines[0] == clk.start() + 10s);
}

TEST_CASE("exceptions thrown while processing a record are failures of that record", "[aws][sqs]") {
    rs::manual_clock clk;
    rs::resilient_call call{clk};
    std::vector<rs::aws::sqs_record> batch{msg("a", "ok"), msg("b", "throw")};
    auto res = rs::aws::process_sqs_batch(batch, call, [](const rs::aws::sqs_record& m) {
        if (m.body == "throw") throw std::runtime_error("bad message");
        return 0;
    });
    CHECK(reported_ids(res.to_json()) == std::vector<std::string>{"b"});
    REQUIRE(res.outcomes[1].error);
    CHECK(res.outcomes[1].error->exception);
}

TEST_CASE("dead_letter mode: failed records go to the sink, not back to the queue", "[aws][sqs]") {
    rs::manual_clock clk;
    std::vector<std::string> published;
    rs::callback_listener listen{[&](const rs::event& e) {
        if (e.type == rs::event_type::dead_letter_published) published.emplace_back(e.call_id);
    }};
    rs::resilient_call call{clk, listen};
    rs::memory_sink sink;
    std::vector<rs::aws::sqs_record> batch{msg("a", "ok"), msg("b", "fail-b"), msg("c", "fail-c")};
    auto res = rs::aws::process_sqs_batch(batch, call, fail_some, sink,
                                          {.on_failure = rs::aws::sqs_failure_mode::dead_letter, .source = "orders-queue"});
    CHECK(res.to_json() == R"({"batchItemFailures":[]})");
    CHECK(res.count(rs::aws::sqs_record_status::dead_lettered) == 2);
    auto recs = sink.records();
    REQUIRE(recs.size() == 2);
    CHECK(recs[0].id == "b");
    CHECK_FALSE(recs[0].id_generated);
    CHECK(recs[0].payload == "fail-b");
    CHECK(recs[0].source == "orders-queue");
    CHECK(recs[0].kind == rs::failure_kind::error);
    CHECK(recs[0].attempts == 1);
    CHECK(recs[0].message == "the downstream refused");
    CHECK(recs[1].id == "c");
    CHECK(published == std::vector<std::string>{"b", "c"});

    SECTION("the default source") {
        rs::memory_sink s2;
        std::vector<rs::aws::sqs_record> one{msg("x", "fail")};
        (void)rs::aws::process_sqs_batch(one, call, fail_some, s2, {.on_failure = rs::aws::sqs_failure_mode::dead_letter});
        REQUIRE(s2.records().size() == 1);
        CHECK(s2.records()[0].source == "sqs");
    }
}

TEST_CASE("a sink that refuses: the record is reported, nothing is lost", "[aws][sqs]") {
    rs::manual_clock clk;
    std::vector<std::string> refused;
    rs::callback_listener listen{[&](const rs::event& e) {
        if (e.type == rs::event_type::dead_letter_failed) refused.emplace_back(e.call_id);
    }};
    rs::resilient_call call{clk, listen};
    int publishes = 0;
    rs::callback_sink sink{[&](const rs::dead_letter_record&) { return ++publishes == 1; }};  // only the first is stored
    std::vector<rs::aws::sqs_record> batch{msg("a", "fail"), msg("b", "fail"), msg("c", "ok")};
    auto res = rs::aws::process_sqs_batch(batch, call, fail_some, sink, {.on_failure = rs::aws::sqs_failure_mode::dead_letter});
    CHECK(reported_ids(res.to_json()) == std::vector<std::string>{"b"});
    CHECK(res.outcomes[0].status == rs::aws::sqs_record_status::dead_lettered);
    CHECK(res.outcomes[1].status == rs::aws::sqs_record_status::sink_refused);
    CHECK(res.outcomes[2].status == rs::aws::sqs_record_status::succeeded);
    CHECK(refused == std::vector<std::string>{"b"});

    SECTION("a sink that throws") {
        rs::callback_sink thrower{[](const rs::dead_letter_record&) -> bool { throw std::runtime_error("disk"); }};
        std::vector<rs::aws::sqs_record> one{msg("z", "fail")};
        auto r2 = rs::aws::process_sqs_batch(one, call, fail_some, thrower, {.on_failure = rs::aws::sqs_failure_mode::dead_letter});
        CHECK(reported_ids(r2.to_json()) == std::vector<std::string>{"z"});
    }
}

TEST_CASE("dead_letter_on_last_receive follows maxReceiveCount", "[aws][sqs]") {
    rs::manual_clock clk;
    rs::resilient_call call{clk};
    rs::memory_sink sink;
    std::vector<rs::aws::sqs_record> batch{msg("first", "fail", 1), msg("second", "fail", 2), msg("last", "fail", 3),
                                           msg("beyond", "fail", 7), msg("unknown", "fail", 0), msg("fine", "ok", 3)};
    auto res = rs::aws::process_sqs_batch(
        batch, call, fail_some, sink,
        {.on_failure = rs::aws::sqs_failure_mode::dead_letter_on_last_receive, .max_receive_count = 3});
    // Received fewer times than maxReceiveCount: back to the queue for another try. On the last
    // receive: into the sink (SQS would otherwise move it to the queue's DLQ without its failure).
    CHECK(reported_ids(res.to_json()) == std::vector<std::string>{"first", "second", "unknown"});
    auto recs = sink.records();
    REQUIRE(recs.size() == 2);
    CHECK(recs[0].id == "last");
    CHECK(recs[1].id == "beyond");
}

TEST_CASE("failures that are not the message's fault are never dead-lettered", "[aws][sqs]") {
    rs::manual_clock clk;
    rs::resilient_call call{clk};
    rs::memory_sink sink;
    std::vector<rs::aws::sqs_record> batch{msg("late", "deadline"), msg("stop", "cancel"), msg("dlq", "dlf"), msg("bad", "fail")};
    auto res = rs::aws::process_sqs_batch(
        batch, call,
        [](const rs::aws::sqs_record& m) -> rs::result<int> {
            if (m.body == "deadline") return rs::failure::of(rs::failure_kind::deadline_exceeded, "out of time");
            if (m.body == "cancel") return rs::failure::of(rs::failure_kind::cancelled, "shutting down");
            if (m.body == "dlf") return rs::failure::of(rs::failure_kind::error).relabelled(rs::failure_kind::dead_letter_failed);
            return rs::failure::of(rs::failure_kind::error, "broken");
        },
        sink, {.on_failure = rs::aws::sqs_failure_mode::dead_letter});
    CHECK(reported_ids(res.to_json()) == std::vector<std::string>{"late", "stop", "dlq"});
    REQUIRE(sink.records().size() == 1);
    CHECK(sink.records()[0].id == "bad");
}

TEST_CASE("the invocation's deadline: unstarted records are reported, not dead-lettered", "[aws][sqs]") {
    rs::manual_clock clk;
    rs::resilient_call call{clk};
    rs::memory_sink sink;
    std::vector<rs::aws::sqs_record> batch{msg("1", "ok"), msg("2", "ok"), msg("3", "ok"), msg("4", "ok"), msg("5", "ok")};
    int runs = 0;
    auto res = rs::aws::process_sqs_batch(
        batch, call,
        [&](const rs::aws::sqs_record&) {
            ++runs;
            clk.advance(1s);
        },
        sink, {.on_failure = rs::aws::sqs_failure_mode::dead_letter}, clk.now() + 2500ms);
    CHECK(runs == 3);  // started at 0 s, 1 s, 2 s; at 3 s the deadline (2.5 s) has passed
    CHECK(reported_ids(res.to_json()) == std::vector<std::string>{"4", "5"});
    CHECK(res.count(rs::aws::sqs_record_status::skipped_deadline) == 2);
    CHECK(sink.records().empty());
}

TEST_CASE("FIFO batches stop at the first reported record", "[aws][sqs]") {
    rs::manual_clock clk;
    rs::resilient_call call{clk};
    int runs = 0;
    auto counting = [&](const rs::aws::sqs_record& m) {
        ++runs;
        return fail_some(m);
    };
    std::vector<rs::aws::sqs_record> batch{msg("1", "ok", 1, "g"), msg("2", "fail", 1, "g"), msg("3", "ok", 1, "g"),
                                           msg("4", "ok", 1, "h")};

    SECTION("automatic: records with a message group id are FIFO") {
        auto res = rs::aws::process_sqs_batch(batch, call, counting);
        CHECK(runs == 2);
        CHECK(reported_ids(res.to_json()) == std::vector<std::string>{"2", "3", "4"});
        CHECK(res.count(rs::aws::sqs_record_status::skipped_ordering) == 2);
    }
    SECTION("standard ordering processes everything") {
        auto res = rs::aws::process_sqs_batch(batch, call, counting, {.ordering = rs::aws::sqs_ordering::standard});
        CHECK(runs == 4);
        CHECK(reported_ids(res.to_json()) == std::vector<std::string>{"2"});
    }
    SECTION("forced FIFO on records without a group") {
        std::vector<rs::aws::sqs_record> plain{msg("1", "fail"), msg("2", "ok")};
        auto res = rs::aws::process_sqs_batch(plain, call, counting, {.ordering = rs::aws::sqs_ordering::fifo});
        CHECK(runs == 1);
        CHECK(reported_ids(res.to_json()) == std::vector<std::string>{"1", "2"});
    }
    SECTION("a dead-lettered record does not stop the batch") {
        rs::memory_sink sink;
        auto res = rs::aws::process_sqs_batch(batch, call, counting, sink, {.on_failure = rs::aws::sqs_failure_mode::dead_letter});
        CHECK(runs == 4);
        CHECK(reported_ids(res.to_json()).empty());
        CHECK(sink.records().size() == 1);
    }
}

TEST_CASE("any record type with message_id and body", "[aws][sqs]") {
    struct my_message {
        std::string_view message_id;
        std::string_view body;
    };
    std::vector<my_message> batch{{"x", "ok"}, {"y", "fail"}};
    rs::manual_clock clk;
    rs::resilient_call call{clk};
    auto res = rs::aws::process_sqs_batch(batch, call, [](const my_message& m) -> rs::result<void> {
        if (m.body == "fail") return rs::failure::of(rs::failure_kind::error);
        return {};
    });
    CHECK(reported_ids(res.to_json()) == std::vector<std::string>{"y"});
}

TEST_CASE("message ids are escaped in the response", "[aws][sqs]") {
    rs::aws::sqs_batch_result res;
    res.outcomes.push_back({"a\"b\\c", rs::aws::sqs_record_status::reported, std::nullopt});
    res.outcomes.push_back({"ok", rs::aws::sqs_record_status::succeeded, std::nullopt});
    res.outcomes.push_back({"late", rs::aws::sqs_record_status::skipped_deadline, std::nullopt});
    CHECK(reported_ids(res.to_json()) == std::vector<std::string>{"a\"b\\c", "late"});
    CHECK(rs::aws::to_string(rs::aws::sqs_record_status::sink_refused) == "sink_refused");
}

TEST_CASE("sqs_batch_options are validated", "[aws][sqs]") {
    using M = rs::aws::sqs_failure_mode;
    CHECK_FALSE(rs::aws::sqs_batch_options{}.validate());
    auto need = rs::aws::sqs_batch_options{.on_failure = M::dead_letter_on_last_receive}.validate();
    REQUIRE(need);
    CHECK(need->field == "sqs_batch_options.max_receive_count");
    CHECK(need->message.find("between 1 and 1000") != std::string_view::npos);
    CHECK_FALSE(rs::aws::sqs_batch_options{.on_failure = M::dead_letter_on_last_receive, .max_receive_count = 1000}.validate());
    CHECK(rs::aws::sqs_batch_options{.max_receive_count = 1001}.validate()->field == "sqs_batch_options.max_receive_count");
    CHECK(rs::aws::sqs_batch_options{.source = "a\nb"}.validate()->field == "sqs_batch_options.source");
    CHECK(rs::aws::sqs_batch_options{.source = std::string_view(std::string(257, 'x'))}.validate());
    CHECK(rs::aws::sqs_batch_options{.deadline = {.reserve = -1s}}.validate()->field == "lambda_deadline_options.reserve");

    rs::manual_clock clk;
    rs::resilient_call call{clk};
    std::vector<rs::aws::sqs_record> batch{msg("a", "ok")};
    REQUIRE_THROWS_AS(rs::aws::process_sqs_batch(batch, call, fail_some, {.on_failure = M::dead_letter}), std::invalid_argument);
    rs::memory_sink sink;
    REQUIRE_THROWS_AS(rs::aws::process_sqs_batch(batch, call, fail_some, sink, {.on_failure = M::dead_letter_on_last_receive}),
                      std::invalid_argument);
}

TEST_CASE("run_sqs_batch: a complete SQS handler", "[aws][sqs]") {
    rs::manual_clock clk;
    rs::resilient_call call{clk};
    invocation_request req{sample_event, "req-9", wall_now + 30s};

    SECTION("redrive") {
        auto resp = rs::aws::run_sqs_batch<invocation_response>(req, call, fail_some, {}, wall_now);
        REQUIRE(resp.is_success());
        CHECK(resp.get_content_type() == "application/json");
        CHECK(reported_ids(resp.get_payload()) == std::vector<std::string>{"2e1424d4-f796-459a-8184-9c92662be6da"});
    }
    SECTION("with a sink") {
        rs::memory_sink sink;
        auto resp = rs::aws::run_sqs_batch<invocation_response>(
            req, call, fail_some, sink, {.on_failure = rs::aws::sqs_failure_mode::dead_letter}, wall_now);
        REQUIRE(resp.is_success());
        CHECK(reported_ids(resp.get_payload()).empty());
        CHECK(sink.records().size() == 1);
    }
    SECTION("records see the invocation's deadline minus the reserve") {
        rs::time_point seen{};
        (void)rs::aws::run_sqs_batch<invocation_response>(
            req, call, [&](const rs::aws::sqs_record&, const rs::attempt& a) { seen = a.deadline(); },
            {.deadline = {.reserve = 5s}}, wall_now);
        CHECK(seen == clk.start() + 25s);
    }
    SECTION("no time left: every record is reported") {
        invocation_request late{sample_event, "req-10", wall_now + 100ms};
        int runs = 0;
        auto resp = rs::aws::run_sqs_batch<invocation_response>(late, call, [&](const rs::aws::sqs_record&) { ++runs; }, {}, wall_now);
        CHECK(runs == 0);
        CHECK(reported_ids(resp.get_payload()).size() == 2);
    }
    SECTION("an unreadable event fails the invocation: the whole batch is retried") {
        invocation_request bad{"{\"Records\": 5}", "req-11", wall_now + 30s};
        auto resp = rs::aws::run_sqs_batch<invocation_response>(bad, call, fail_some, {}, wall_now);
        CHECK_FALSE(resp.is_success());
        CHECK(resp.error_type() == "resilience.invalid_sqs_event");
        CHECK(resp.get_payload() == "the SQS event has no Records array");
    }
    SECTION("dead-letter modes need a sink") {
        REQUIRE_THROWS_AS(rs::aws::run_sqs_batch<invocation_response>(
                              req, call, fail_some, {.on_failure = rs::aws::sqs_failure_mode::dead_letter}, wall_now),
                          std::invalid_argument);
    }
}
