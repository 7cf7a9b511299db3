// SPDX-License-Identifier: MIT
// resilience: requires fmt
#pragma once

// An AWS Lambda function (aws-lambda-cpp) that looks up stock in an inventory service and protects the
// call with the whole pipeline:
//
//   dead_letter -> overall timeout -> retry -> circuit breaker -> bulkhead -> per-attempt timeout -> the call
//
// under the invocation's own deadline (minus a reserve for the dead letter and the response), with
// CloudWatch metrics written as one EMF line per invocation.
//
// The handler is a template over the request and response types, so that the same code runs under the
// real runtime (main.cpp) and under a local driver (local.cpp) with types of the same shape, and over
// the clock, so that the driver runs on virtual time. The inventory service is simulated (see
// `inventory_client`); in a real function it is an AWS SDK or libcurl call.

#include <resilience/aws/lambda.hpp>
#include <resilience/bulkhead.hpp>
#include <resilience/circuit_breaker.hpp>
#include <resilience/dead_letter.hpp>
#include <resilience/emf.hpp>
#include <resilience/fmt.hpp>
#include <resilience/http.hpp>
#include <resilience/resilience.hpp>
#include <resilience/retry.hpp>
#include <resilience/sinks/file_sink.hpp>
#include <resilience/timeout.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>

namespace example {

namespace rs = resilience;
using namespace std::chrono_literals;

/// The value of `"key":"value"` in a flat JSON object; empty when absent. Enough for this example's
/// events; a real handler parses its event with a JSON library.
inline std::string_view json_field(std::string_view json, std::string_view key) {
    std::string pattern = "\"";
    pattern.append(key);
    pattern += "\":\"";
    auto at = json.find(pattern);
    if (at == std::string_view::npos) return {};
    at += pattern.size();
    auto end = json.find('"', at);
    return end == std::string_view::npos ? std::string_view{} : json.substr(at, end - at);
}

/// What the inventory service answers.
struct inventory_response {
    int status = 200;
    std::string body;
    std::string retry_after;  // the Retry-After header, if any
};

/// A simulated inventory service. `mode` (from the event) picks its behaviour:
/// ok, flaky (503 twice, then 200), slow (answers after 800 ms), throttled (429 with Retry-After: 1),
/// broken (500 every time), missing (404). Time passes on `Clock`: on a manual_clock the latency costs
/// no real time.
template <class Clock>
class inventory_client {
public:
    explicit inventory_client(Clock& clock) : clock_(&clock) {}

    inventory_response get(std::string_view sku, std::string_view mode, rs::duration budget) {
        (void)budget;  // a real client passes it as its request timeout
        ++calls_;
        wait(20ms);
        if (mode == "flaky" && flaky_failures_++ % 3 != 2) return {503, "unavailable", {}};
        if (mode == "slow") wait(800ms);
        if (mode == "throttled") return {429, "slow down", "1"};
        if (mode == "broken") return {500, "internal error", {}};
        if (mode == "missing") return {404, "no such sku", {}};
        std::string body = "{\"sku\":\"";
        body.append(sku);
        body += "\",\"stock\":12}";
        return {200, std::move(body), {}};
    }

    [[nodiscard]] int calls() const noexcept { return calls_; }

private:
    void wait(rs::duration d) { (void)clock_->sleep_until(clock_->now() + d, {}); }

    Clock* clock_;
    int calls_ = 0;
    int flaky_failures_ = 0;
};

/// The function's long-lived state: it lives as long as the execution environment (Lambda reuses it
/// across invocations), so the breaker remembers failures from one invocation to the next.
template <class Clock>
class inventory_function {
public:
    /// `dlq_path`: the dead-letter file; `metrics_out`: where EMF lines go (stdout under Lambda).
    inventory_function(Clock& clock, std::string dlq_path, std::FILE* metrics_out)
        : breaker_({.name = "inventory", .failure_threshold = 3, .open_duration = 30s}, clock),
          // Lambda Managed Instances run many requests in one process: cap the calls in flight.
          pool_({.name = "inventory", .max_concurrent = 8}, clock),
          dlq_(std::move(dlq_path)),
          metrics_({.metric_namespace = "resilience-examples",
                    .dimensions = {{"Function", "lambda_handler"}, {"Dependency", "inventory"}}},
                   metrics_out),
          client_(clock) {}

    /// One invocation. `wall_now` is the wall-clock time at entry (the runtime's deadline is wall-clock
    /// time); the local driver passes a fixed one.
    template <class Response, class Request>
    Response handle(const Request& req, std::chrono::system_clock::time_point wall_now = std::chrono::system_clock::now()) {
        rs::resilient_call call{
            rs::dead_letter{dlq_, {.source = "inventory.get"}},  // outermost: sees the final failure
            rs::timeout{2s},                                    // overall budget, clipped to the deadline
            rs::retry{{.max_attempts = 3,
                       .backoff = rs::exponential_backoff{100ms, 1s, rs::full_jitter}}},
            breaker_,                                           // shared across invocations
            pool_,                                              // at most 8 calls in flight
            rs::timeout{500ms},                                 // per attempt
            metrics_,                                           // listener: counts into the EMF line
        };
        const std::string_view sku = json_field(req.payload, "sku");
        const std::string_view mode = json_field(req.payload, "mode");
        Response resp = rs::aws::run_invocation<Response>(
            req, call,
            [&](const rs::attempt& a) -> rs::result<std::string> {
                inventory_response r = client_.get(sku, mode, a.remaining());
                const auto wait = rs::parse_retry_after(r.retry_after, std::chrono::system_clock::now())
                                      .value_or(rs::duration::zero());
                if (auto f = rs::http_status_failure(r.status, wait)) return {rs::failed_value, *f, std::move(r.body)};
                return std::move(r.body);
            },
            {.deadline = {.reserve = 300ms}, .source = "inventory.get"}, wall_now);
        (void)metrics_.set_property("RequestId", req.request_id);
        (void)metrics_.flush();
        return resp;
    }

    [[nodiscard]] rs::circuit_state breaker_state() { return breaker_.state(); }
    [[nodiscard]] int dependency_calls() const noexcept { return client_.calls(); }

private:
    rs::circuit_breaker<Clock> breaker_;
    rs::bulkhead<Clock> pool_;
    rs::file_sink<> dlq_;
    rs::emf_listener metrics_;
    inventory_client<Clock> client_;
};

}  // namespace example
