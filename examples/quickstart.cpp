// SPDX-License-Identifier: MIT
//
// The README's "What it looks like" snippet, compiled and run. Between the markers it is the README's
// code, to the letter; around it, a stand-in `client` whose first call fails with a transient 503, so
// that the run shows a retry, and a second request that keeps failing, so that it shows a dead letter.

#include <cstdio>
#include <string>

#include <resilience/resilience.hpp>

struct Request {
    std::string path;
};
struct Response {
    int status = 200;
    std::string body;
};

// A pretend HTTP client: "/flaky" fails once then answers; "/down" always fails. Returns results, as a
// client wrapper in a -fno-exceptions code base would.
struct fake_client {
    int calls = 0;
    resilience::result<Response> get(const Request& req, resilience::duration remaining) {
        ++calls;
        (void)remaining;  // a real client uses it as its timeout
        if (req.path == "/down" || (req.path == "/flaky" && calls == 1))
            return resilience::failure::from_error(std::make_error_code(std::errc::connection_reset),
                                                   resilience::transience::transient, "connection reset");
        return Response{200, "hello from " + req.path};
    }
};
fake_client client;

// ---- README snippet begins ----
namespace rs = resilience;
using namespace std::chrono_literals;

// Long-lived state lives as long as the process (a Lambda execution environment is reused across
// invocations). It is thread-safe: Lambda Managed Instances run many requests in one process.
static rs::circuit_breaker breaker{{.failure_threshold = 5 /* consecutive */, .open_duration = 30s}};
static rs::bulkhead        pool{{.max_concurrent = 8}};
static rs::file_sink       dlq{"/tmp/dead-letters.jsonl"};

rs::result<Response> fetch(const Request& req, rs::call_options opts) {
    rs::resilient_call call{
        rs::dead_letter{dlq},                                  // outermost: sees the final failure
        rs::timeout{2s},                                       // overall budget (clipped to opts.deadline)
        rs::retry{{.max_attempts = 4,
                   .backoff = rs::exponential_backoff{50ms, 2s, rs::full_jitter}}},
        breaker,                                               // stateful: held by reference
        pool,
        rs::timeout{500ms},                                    // per attempt
    };
    return call([&](const rs::attempt& a) { return client.get(req, a.remaining()); }, opts);
}
// ---- README snippet ends ----

int main() {
    auto ok = fetch({"/flaky"}, {.id = "req-1", .payload = R"({"path":"/flaky"})"});
    std::printf("/flaky: %s after %d client calls\n", ok ? ok->body.c_str() : "failed", client.calls);

    client.calls = 0;
    auto bad = fetch({"/down"}, {.id = "req-2", .payload = R"({"path":"/down"})"});
    if (bad) return 1;
    std::printf("/down: %s after %u attempts; dead letter written to /tmp/dead-letters.jsonl: %s\n",
                std::string(rs::to_string(bad.error().kind)).c_str(), bad.error().attempts,
                bad.error().kind == rs::failure_kind::dead_letter_failed ? "no" : "yes");
    return ok && bad.error().attempts == 4 ? 0 : 1;
}
