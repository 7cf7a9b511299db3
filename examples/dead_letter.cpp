// SPDX-License-Identifier: MIT
//
// Dead letters: every event whose call finally fails is captured in a JSON Lines file, durably, with
// what is needed to replay it -- and when even that fails, the handler is told, so the platform can
// retry the event instead of it being lost.
//
//   dead_letter [dead-letter-file]      (default: ./dead_letters.jsonl)
//
// Six events go through an inventory service behind
//     dead_letter -> overall timeout -> retry -> circuit breaker -> per-attempt timeout -> the call
// and fail in every way a call can: an error after retries, a timeout, an open circuit, a deadline
// that passed before the call could start. The file then holds one record per failed event; inspect
// and replay them with the resilience-dlq tool (docs/dead_letters.md shows a session).
//
// Everything runs on a `manual_clock`, so the latencies and backoffs pass instantly and the records'
// timestamps are the same on every run; in a real handler, drop the clock. Standard library and POSIX
// only; builds with -fno-exceptions -fno-rtti.

#include <resilience/backoff.hpp>
#include <resilience/circuit_breaker.hpp>
#include <resilience/clock.hpp>
#include <resilience/dead_letter.hpp>
#include <resilience/resilient_call.hpp>
#include <resilience/retry.hpp>
#include <resilience/sinks/fallback_sink.hpp>
#include <resilience/sinks/file_sink.hpp>
#include <resilience/sinks/stderr_sink.hpp>
#include <resilience/timeout.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <system_error>

namespace rs = resilience;
using namespace std::chrono_literals;

namespace {

rs::manual_clock vclock;  // virtual time: see the file comment

// The fake inventory service: how it behaves depends on the event's body.
rs::result<int> reserve(std::string_view body, const rs::attempt& a) {
    if (body.find("\"sku\":\"SLOW") != std::string_view::npos) {
        vclock.advance(80ms);  // longer than the per-attempt timeout: a late answer
        return 1;
    }
    vclock.advance(15ms);
    if (body.find("\"sku\":\"GONE") != std::string_view::npos) {
        return rs::failure::from_error(std::make_error_code(std::errc::connection_refused), rs::transience::transient,
                                       "inventory: connection refused");
    }
    (void)a;
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string path = argc > 1 ? argv[1] : "dead_letters.jsonl";

    // Long-lived, like statics in a Lambda handler: one file per execution environment, and stderr
    // (CloudWatch Logs) when the file cannot take a record.
    rs::file_sink dlq{path};
    rs::stderr_sink last_resort;
    rs::fallback_sink sink{dlq, last_resort};
    rs::circuit_breaker<rs::manual_clock> breaker{{.failure_threshold = 6, .open_duration = 30s}, vclock};
    static constexpr rs::dead_letter_metadata meta[] = {{"function", "orders-handler"}, {"version", "42"}};

    struct event {
        const char* id;  // the SQS message id, the Lambda request id... ("" for none: one is generated)
        std::string body;
        bool late_invocation;  // the Lambda deadline has already passed when the call would start
    };
    const event events[] = {
        {"order-1001", R"({"order":1001,"sku":"A-1","qty":2})", false},
        {"order-1002", R"({"order":1002,"sku":"GONE-7","qty":1})", false},
        {"order-1003", R"({"order":1003,"sku":"SLOW-3","qty":5})", false},
        {"order-1004", R"({"order":1004,"sku":"GONE-7","qty":1})", false},  // rejected: six failed attempts
        {"order-1005", R"({"order":1005,"sku":"A-1","qty":1})", false},     // opened the circuit
        {"", std::string("\x08\x96\x01\x12\x04\xff\xfe\x00\x01", 9), true},  // binary, no id, out of time
    };

    int failed = 0;
    for (const event& ev : events) {
        rs::resilient_call call{
            rs::dead_letter{sink, {.source = "inventory.reserve", .metadata = meta}},  // outermost: the final say
            rs::timeout{400ms},                                                        // overall budget
            // An open circuit's hint (30 s) is beyond max_retry_after: give up at once, as circuit_open.
            rs::retry{{.max_attempts = 3, .backoff = rs::constant_backoff{20ms}, .max_retry_after = 1s}},
            breaker,
            rs::timeout{50ms},  // per attempt
        };
        rs::call_options opts{.id = ev.id, .payload = ev.body};
        if (ev.late_invocation) opts.deadline = vclock.now() - 1ms;
        rs::result<int> r = call([&](const rs::attempt& a) { return reserve(ev.body, a); }, opts);
        const char* shown = *ev.id != '\0' ? ev.id : "(no id)";
        if (r) {
            std::printf("%-11s ok\n", shown);
        } else if (r.error().kind == rs::failure_kind::dead_letter_failed) {
            // Nothing was stored: fail the invocation so that the platform retries the event.
            std::printf("%-11s FAILED and NOT captured (%s): fail the invocation\n", shown,
                        r.error().sink_error.message().c_str());
            return 1;
        } else {
            ++failed;
            std::printf("%-11s failed: %-17s after %u attempt(s) -> dead letter\n", shown,
                        std::string(rs::to_string(r.error().kind)).c_str(), r.error().attempts);
        }
        vclock.advance(1s);
    }
    const rs::file_sink_stats st = dlq.stats();
    std::printf("%d dead letters: %llu appended to %s (%llu fsyncs), %llu on stderr (refused by the file)\n", failed,
                static_cast<unsigned long long>(st.records), path.c_str(), static_cast<unsigned long long>(st.syncs),
                static_cast<unsigned long long>(sink.fallbacks() - sink.failures()));
    std::printf("next: resilience-dlq stats %s\n", path.c_str());
    return 0;
}
