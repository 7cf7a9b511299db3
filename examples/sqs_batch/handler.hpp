// SPDX-License-Identifier: MIT
#pragma once

// An SQS-triggered AWS Lambda function (aws-lambda-cpp) that charges orders through a payments service.
// Each message runs through its own resilient call (retry, circuit breaker, per-attempt timeout) under
// the invocation's deadline; the function answers a partial batch response, so that only the failed
// messages return to the queue. On a message's last receive (the queue's maxReceiveCount) its failure
// goes to a dead-letter file instead, with the failure's details.
//
// Standard library only: the event is parsed by resilience/aws/sqs.hpp, no JSON package needed. The
// handler is a template over the request/response types (the real runtime's in main.cpp, look-alikes
// in local.cpp) and over the clock (the local driver runs on virtual time). The payments service is
// simulated by `payments_client`.

#include <resilience/aws/sqs.hpp>
#include <resilience/circuit_breaker.hpp>
#include <resilience/http.hpp>
#include <resilience/resilience.hpp>
#include <resilience/retry.hpp>
#include <resilience/sinks/file_sink.hpp>
#include <resilience/timeout.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <utility>

namespace example {

namespace rs = resilience;
using namespace std::chrono_literals;

/// A simulated payments service, driven by the message body: a body containing "decline" is refused
/// for good (HTTP 402), one containing "outage" fails with 503 every time, one containing "hiccup"
/// fails once with 503 and then succeeds; anything else is charged. Each request takes 30 ms on `Clock`.
template <class Clock>
class payments_client {
public:
    explicit payments_client(Clock& clock) : clock_(&clock) {}

    int charge(std::string_view order) {
        ++calls_;
        (void)clock_->sleep_until(clock_->now() + 30ms, {});
        if (order.find("decline") != std::string_view::npos) return 402;
        if (order.find("outage") != std::string_view::npos) return 503;
        if (order.find("hiccup") != std::string_view::npos && hiccups_++ % 2 == 0) return 503;
        return 200;
    }
    [[nodiscard]] int calls() const noexcept { return calls_; }

private:
    Clock* clock_;
    int calls_ = 0;
    int hiccups_ = 0;
};

/// The function's long-lived state (kept while Lambda reuses the execution environment).
template <class Clock>
class order_processor {
public:
    /// Must match the queue's redrive policy: after this many receives SQS would move the message to
    /// the queue's dead-letter queue; on that last receive we store it ourselves, with its failure.
    static constexpr std::uint32_t max_receive_count = 5;

    order_processor(Clock& clock, std::string dlq_path)
        : breaker_({.name = "payments", .failure_threshold = 5, .open_duration = 20s}, clock),
          dlq_(std::move(dlq_path)),
          payments_(clock) {}

    template <class Response, class Request>
    Response handle(const Request& req, std::chrono::system_clock::time_point wall_now = std::chrono::system_clock::now()) {
        // No dead_letter policy here: the batch decides, per message, between redrive and the sink.
        rs::resilient_call call{
            rs::retry{{.max_attempts = 3, .backoff = rs::exponential_backoff{50ms, 400ms, rs::full_jitter}}},
            breaker_,
            rs::timeout{1s},
        };
        return rs::aws::run_sqs_batch<Response>(
            req, call,
            [&](const rs::aws::sqs_record& m, const rs::attempt&) -> rs::result<void> {
                if (auto f = rs::http_status_failure(payments_.charge(m.body))) return *f;
                return {};
            },
            dlq_,
            {.on_failure = rs::aws::sqs_failure_mode::dead_letter_on_last_receive,
             .max_receive_count = max_receive_count,
             .source = "orders.charge",
             .deadline = {.reserve = 500ms}},
            wall_now);
    }

    [[nodiscard]] int payment_calls() const noexcept { return payments_.calls(); }

private:
    rs::circuit_breaker<Clock> breaker_;
    rs::file_sink<> dlq_;
    payments_client<Clock> payments_;
};

}  // namespace example
