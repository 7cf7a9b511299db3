// SPDX-License-Identifier: MIT
//
// Runs the SQS handler of handler.hpp locally, without aws-lambda-cpp, on virtual time: builds SQS
// events (standard and FIFO), invokes the handler with request/response types of the runtime's shape,
// and checks the partial batch responses and the dead-letter file. Exit status 0 when everything
// happened as it should.
//
//   sqs_batch_local [dead-letter-file]     (default: ./sqs_batch_dead_letters.jsonl)

#include "handler.hpp"

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace rs = resilience;
using namespace std::chrono_literals;

namespace local {

// Same members as aws::lambda_runtime::invocation_request.
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
};

// Same factory functions and accessors as aws::lambda_runtime::invocation_response.
class invocation_response {
    std::string m_payload;
    std::string m_content_type;
    bool m_success = false;
    std::string m_error_type;
    invocation_response() = default;

public:
    static invocation_response success(std::string payload, std::string content_type) {
        invocation_response r;
        r.m_success = true;
        r.m_payload = std::move(payload);
        r.m_content_type = std::move(content_type);
        return r;
    }
    static invocation_response failure(std::string const& error_message, std::string const& error_type) {
        invocation_response r;
        r.m_content_type = "application/json";
        r.m_payload = error_message;
        r.m_error_type = error_type;
        return r;
    }
    std::string const& get_payload() const { return m_payload; }
    std::string const& get_content_type() const { return m_content_type; }
    bool is_success() const { return m_success; }
    std::string const& error_type() const { return m_error_type; }
};

}  // namespace local

namespace {

struct message {
    std::string id;
    std::string body;
    int receive_count;
    std::string group;  // FIFO queues only
};

/// An SQS event as Lambda delivers it (the fields that matter here).
std::string sqs_event(const std::vector<message>& messages, bool fifo) {
    std::string e = "{\"Records\":[";
    for (std::size_t i = 0; i < messages.size(); ++i) {
        const message& m = messages[i];
        if (i) e += ',';
        e += "{\"messageId\":\"" + m.id + "\",\"receiptHandle\":\"rh-" + m.id + "\",\"body\":\"" + m.body +
             "\",\"attributes\":{\"ApproximateReceiveCount\":\"" + std::to_string(m.receive_count) + "\"";
        if (!m.group.empty()) e += ",\"MessageGroupId\":\"" + m.group + "\"";
        e += "},\"messageAttributes\":{},\"eventSource\":\"aws:sqs\",\"eventSourceARN\":"
             "\"arn:aws:sqs:eu-west-1:123456789012:orders";
        e += fifo ? ".fifo\"" : "\"";
        e += ",\"awsRegion\":\"eu-west-1\"}";
    }
    return e + "]}";
}

int failures = 0;
void expect(bool ok, std::string_view what) {
    if (!ok) {
        ++failures;
        std::fprintf(stderr, "UNEXPECTED: %.*s\n", static_cast<int>(what.size()), what.data());
    }
}

std::size_t count_lines(const char* path) {
    std::FILE* f = std::fopen(path, "rb");
    if (f == nullptr) return 0;
    std::size_t n = 0;
    for (int c = std::fgetc(f); c != EOF; c = std::fgetc(f)) n += c == '\n' ? 1u : 0u;
    std::fclose(f);
    return n;
}

}  // namespace

int main(int argc, char** argv) {
    const char* dlq_path = argc > 1 ? argv[1] : "sqs_batch_dead_letters.jsonl";
    std::remove(dlq_path);
    rs::manual_clock clock;
    example::order_processor<rs::manual_clock> fn{clock, dlq_path};
    auto wall = std::chrono::system_clock::time_point{} + std::chrono::seconds(1'767'225'600);
    int n = 0;

    auto invoke = [&](const std::string& payload, std::chrono::milliseconds left = 30'000ms) {
        local::invocation_request req;
        req.request_id = "req-" + std::to_string(++n);
        req.payload = payload;
        req.deadline = wall + left;
        auto resp = fn.handle<local::invocation_response>(req, wall);
        std::printf("invocation %d: %s %s %s\n", n, resp.is_success() ? "success" : "failure", resp.error_type().c_str(),
                    resp.get_payload().c_str());
        wall += 10s;
        clock.advance(10s);
        return resp;
    };

    // A standard queue: some succeed (one after a retry), a decline is redriven until its last
    // receive, when it goes to the dead-letter file; an outage is redriven.
    auto r1 = invoke(sqs_event({{"m1", "order-1", 1, ""},
                                {"m2", "order-2 hiccup", 1, ""},
                                {"m3", "order-3 decline", 1, ""},
                                {"m4", "order-4 decline", 5, ""},
                                {"m5", "order-5 outage", 2, ""}},
                               false));
    expect(r1.is_success(), "a batch with failures still succeeds: the response lists them");
    expect(r1.get_payload() == R"({"batchItemFailures":[{"itemIdentifier":"m3"},{"itemIdentifier":"m5"}]})",
           "m3 (declined, receive 1 of 5) and m5 (outage) go back to the queue");
    expect(count_lines(dlq_path) == 1, "m4 (declined on its 5th and last receive) is in the dead-letter file");

    // Everything succeeds: an empty list, SQS deletes the whole batch.
    auto r2 = invoke(sqs_event({{"a", "order-6", 1, ""}, {"b", "order-7", 1, ""}}, false));
    expect(r2.get_payload() == R"({"batchItemFailures":[]})", "no failure: an empty list");

    // A FIFO queue: after the first failure, the later messages are not processed and are returned
    // too, so that SQS keeps the group's order.
    const int calls_before = fn.payment_calls();
    auto r3 = invoke(sqs_event({{"f1", "order-8", 1, "customer-1"},
                                {"f2", "order-9 outage", 1, "customer-1"},
                                {"f3", "order-10", 1, "customer-1"}},
                               true));
    expect(r3.get_payload() ==
               R"({"batchItemFailures":[{"itemIdentifier":"f2"},{"itemIdentifier":"f3"}]})",
           "FIFO: f2 failed, f3 is returned unprocessed");
    expect(fn.payment_calls() - calls_before == 1 + 3, "FIFO: f1 once, f2 three attempts, f3 never");

    // Less time left than the reserve: nothing is started, everything goes back to the queue.
    const int calls_late = fn.payment_calls();
    auto r4 = invoke(sqs_event({{"l1", "order-11", 1, ""}, {"l2", "order-12", 1, ""}}, false), 300ms);
    expect(r4.get_payload() == R"({"batchItemFailures":[{"itemIdentifier":"l1"},{"itemIdentifier":"l2"}]})",
           "late invocation: every message is returned");
    expect(fn.payment_calls() == calls_late, "late invocation: no payment call");

    // An event that cannot be read fails the invocation: Lambda retries the whole batch.
    auto r5 = invoke("{\"Records\":[{\"body\":\"no id\"}]}");
    expect(!r5.is_success() && r5.error_type() == "resilience.invalid_sqs_event", "unreadable event: invocation fails");

    expect(count_lines(dlq_path) == 1, "only m4 was dead-lettered");
    std::printf("%d invocations, %zu dead letters in %s, %s\n", n, count_lines(dlq_path), dlq_path,
                failures == 0 ? "all as expected" : "SOME UNEXPECTED");
    return failures == 0 ? 0 : 1;
}
