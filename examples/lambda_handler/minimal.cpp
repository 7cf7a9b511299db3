// SPDX-License-Identifier: MIT
// resilience: requires aws-lambda-runtime CURL
//
// A complete AWS Lambda function in C++ (aws-lambda-cpp) that calls an HTTP API with libcurl (which the
// runtime already links) and protects the call with the whole pipeline: a dead-letter file for calls
// that finally fail, an overall timeout, retries with jittered backoff that honour Retry-After, a
// circuit breaker and a bulkhead shared by every invocation of the execution environment, and a
// per-attempt timeout passed down to curl, all under the invocation's own deadline minus a reserve. Shown in full in
// docs/aws.md; built when find_package(aws-lambda-runtime) succeeds.
//
// Environment: PRICES_URL, the URL to GET (its body is the function's answer).

#include <aws/lambda-runtime/runtime.h>
#include <curl/curl.h>

#include <resilience/aws/lambda.hpp>
#include <resilience/bulkhead.hpp>
#include <resilience/circuit_breaker.hpp>
#include <resilience/dead_letter.hpp>
#include <resilience/http.hpp>
#include <resilience/resilience.hpp>
#include <resilience/retry.hpp>
#include <resilience/sinks/file_sink.hpp>
#include <resilience/timeout.hpp>

#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

namespace rs = resilience;
using namespace aws::lambda_runtime;
using namespace std::chrono_literals;

namespace {

// Long-lived state: one per execution environment, shared by all its invocations (Lambda reuses the
// environment). No timers, no threads: the breaker's open -> half-open transition is evaluated when
// the next call arrives, so a frozen and thawed environment behaves.
rs::circuit_breaker breaker{{.name = "prices", .failure_threshold = 5, .open_duration = 30s}};
rs::bulkhead pool{{.name = "prices", .max_concurrent = 8}};  // Lambda Managed Instances share a process
rs::file_sink dlq{"/tmp/dead-letters.jsonl"};

struct http_reply {
    long status = 0;
    std::string body;
    std::string retry_after;
};

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
    static_cast<http_reply*>(user)->body.append(data, size * n);
    return size * n;
}

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
    const std::string_view line(data, size * n);
    constexpr std::string_view name = "retry-after:";
    if (line.size() > name.size() && rs::http_field_name_equals(line.substr(0, name.size()), name)) {
        std::string_view value = line.substr(name.size());
        while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.remove_suffix(1);
        static_cast<http_reply*>(user)->retry_after.assign(value);  // parse_retry_after trims spaces
    }
    return size * n;
}

// One GET, never longer than `budget`. Transport errors, timeouts and HTTP statuses become failures
// that retry and the breaker understand; a failed response stays reachable through last_value().
rs::result<http_reply> http_get(const char* url, rs::duration budget) {
    CURL* h = curl_easy_init();
    if (h == nullptr) return rs::failure::of(rs::failure_kind::error, "curl_easy_init failed");
    http_reply reply;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(budget).count();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(ms > 0 ? ms : 1));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &reply);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &reply);
    const CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply.status);
    curl_easy_cleanup(h);
    if (rc == CURLE_OPERATION_TIMEDOUT) return rs::failure::of(rs::failure_kind::timeout, "the HTTP request timed out");
    if (rc != CURLE_OK) {
        return rs::failure::from_error(std::make_error_code(std::errc::io_error), rs::transience::transient,
                                       "the HTTP request failed");
    }
    const auto wait = rs::parse_retry_after(reply.retry_after, std::chrono::system_clock::now());
    if (auto f = rs::http_status_failure(static_cast<int>(reply.status), wait.value_or(rs::duration::zero()))) {
        return {rs::failed_value, *f, std::move(reply)};
    }
    return reply;
}

invocation_response handler(const invocation_request& req) {
    const char* url = std::getenv("PRICES_URL");
    if (url == nullptr) return invocation_response::failure("PRICES_URL is not set", "config.missing");

    rs::resilient_call call{
        rs::dead_letter{dlq, {.source = "prices.get"}},  // outermost: records the final failure
        rs::timeout{3s},                                // overall budget (clipped to the deadline)
        rs::retry{{.max_attempts = 3, .backoff = rs::exponential_backoff{100ms, 1s, rs::full_jitter}}},
        breaker,                                        // shared across invocations
        pool,                                           // at most 8 requests in flight
        rs::timeout{800ms},                             // per attempt
    };
    // The deadline comes from the request (minus 500 ms kept for the dead letter and the response);
    // the request id becomes the dead letter's id, the payload its replayable body.
    return rs::aws::run_invocation<invocation_response>(
        req, call,
        [&](const rs::attempt& a) -> rs::result<std::string> {
            auto r = http_get(url, a.remaining());
            if (!r) return r.error();
            return std::move(r->body);
        },
        {.deadline = {.reserve = 500ms}, .source = "prices.get"});
}

}  // namespace

int main() {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    run_handler(handler);
    curl_global_cleanup();
    return 0;
}
