// SPDX-License-Identifier: MIT
// resilience: requires fmt
//
// Runs the Lambda handler of handler.hpp locally, without aws-lambda-cpp: the request and response
// types below have the shape of aws::lambda_runtime::invocation_request / invocation_response, and the
// function runs on a manual_clock, so every scenario (slow dependency, open breaker, late invocation)
// takes no real time. Each scenario checks what the handler answered; the exit status says whether all
// of them did what they should.
//
//   lambda_handler_local [dead-letter-file]     (default: ./lambda_handler_dead_letters.jsonl)

#include "handler.hpp"

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

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
        r.m_payload = error_message;  // the runtime wraps these two in {"errorMessage":..,"errorType":..}
        r.m_error_type = error_type;
        return r;
    }
    std::string const& get_content_type() const { return m_content_type; }
    std::string const& get_payload() const { return m_payload; }
    bool is_success() const { return m_success; }
    std::string const& error_type() const { return m_error_type; }
};

}  // namespace local

namespace {

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
    const char* dlq_path = argc > 1 ? argv[1] : "lambda_handler_dead_letters.jsonl";
    std::remove(dlq_path);
    std::FILE* metrics = std::tmpfile();
    if (metrics == nullptr) return 2;

    rs::manual_clock clock;
    example::inventory_function<rs::manual_clock> fn{clock, dlq_path, metrics};
    // The wall clock of the simulated invocations; every invocation gets 3 s unless said otherwise.
    auto wall = std::chrono::system_clock::time_point{} + std::chrono::seconds(1'767'225'600);
    int invocation = 0;

    auto invoke = [&](std::string_view mode, std::chrono::milliseconds left = 3000ms) {
        local::invocation_request req;
        req.request_id = "req-" + std::to_string(++invocation);
        req.payload = "{\"sku\":\"A-42\",\"mode\":\"" + std::string(mode) + "\"}";
        req.deadline = left.count() == 0 ? std::chrono::system_clock::time_point{} : wall + left;
        const int calls_before = fn.dependency_calls();
        local::invocation_response resp = fn.handle<local::invocation_response>(req, wall);
        std::printf("%-10s %-9s calls=%d breaker=%-9s %s %s\n", std::string(mode).c_str(),
                    resp.is_success() ? "success" : "failure", fn.dependency_calls() - calls_before,
                    std::string(rs::to_string(fn.breaker_state())).c_str(), resp.error_type().c_str(),
                    resp.get_payload().c_str());
        wall += 5s;
        clock.advance(5s);  // the environment idles between invocations
        return std::pair{resp, fn.dependency_calls() - calls_before};
    };

    auto [ok, ok_calls] = invoke("ok");
    expect(ok.is_success() && ok.get_payload() == R"({"sku":"A-42","stock":12})" && ok_calls == 1, "ok: one call, the stock");
    expect(ok.get_content_type() == "application/json", "ok: JSON content type");

    auto [flaky, flaky_calls] = invoke("flaky");
    expect(flaky.is_success() && flaky_calls == 3, "flaky: 503, 503, then success on the third attempt");

    auto [missing, missing_calls] = invoke("missing");
    expect(!missing.is_success() && missing.error_type() == "resilience.error" && missing_calls == 1,
           "missing: a 404 is permanent, not retried");

    auto [throttled, throttled_calls] = invoke("throttled");
    expect(!throttled.is_success() && throttled_calls >= 2, "throttled: retried after Retry-After, then gives up");
    expect(fn.breaker_state() == rs::circuit_state::closed, "throttling and 404s do not count against the breaker");

    auto [broken, broken_calls] = invoke("broken");
    expect(!broken.is_success() && broken_calls == 3, "broken: three 500s");
    expect(fn.breaker_state() == rs::circuit_state::open, "broken: three consecutive failures open the breaker");

    auto [rejected, rejected_calls] = invoke("ok");
    expect(!rejected.is_success() && rejected_calls == 0, "open breaker: the dependency is not called");
    expect(rejected.get_payload().find("cause=circuit_open") != std::string::npos, "open breaker: the cause is said");

    clock.advance(30s);  // the breaker's open duration passes while the environment is idle (or frozen)
    auto [probe, probe_calls] = invoke("ok");
    expect(probe.is_success() && probe_calls == 1, "after the open duration: a probe succeeds");
    expect(fn.breaker_state() == rs::circuit_state::closed, "the probe closes the breaker");

    auto [late, late_calls] = invoke("ok", 200ms);
    expect(!late.is_success() && late.error_type() == "resilience.deadline_exceeded" && late_calls == 0,
           "late invocation: less time left than the reserve, nothing is started");

    auto [unbounded, unbounded_calls] = invoke("ok", 0ms);
    expect(unbounded.is_success() && unbounded_calls == 1, "no deadline from the runtime: runs unbounded");

    auto [slow, slow_calls] = invoke("slow");
    expect(!slow.is_success() && slow.error_type() == "resilience.timeout" && slow_calls == 3,
           "slow: every attempt times out after 500 ms, and the overall budget ends the call");
    expect(fn.breaker_state() == rs::circuit_state::open, "slow: three timeouts open the breaker again");

    // One dead letter per failed invocation, one EMF line per invocation.
    const std::size_t failed = 6;  // missing, throttled, broken, rejected, late, slow
    expect(count_lines(dlq_path) == failed, "one dead letter per failed invocation");
    std::fflush(metrics);
    std::rewind(metrics);
    std::size_t lines = 0;
    for (int c = std::fgetc(metrics); c != EOF; c = std::fgetc(metrics)) lines += c == '\n' ? 1u : 0u;
    std::fclose(metrics);
    expect(lines == static_cast<std::size_t>(invocation), "one EMF line per invocation");

    std::printf("%d invocations, %zu dead letters in %s, %s\n", invocation, count_lines(dlq_path), dlq_path,
                failures == 0 ? "all as expected" : "SOME UNEXPECTED");
    return failures == 0 ? 0 : 1;
}
