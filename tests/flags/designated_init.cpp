// SPDX-License-Identifier: MIT
//
// Built with -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow -Werror, and run.
//
// Users write the library's aggregates with designated initializers and name only the fields they
// change: `rs::retry{{.max_attempts = 4}}`. g++ (12) warns under -Wextra (-Wmissing-field-initializers)
// for every omitted member that has no default member initializer, so one such member breaks a user's
// -Werror build. This TU builds every public options, config and record struct that way, each time
// naming one field and omitting the others (the first and the last, so both ends are covered). A struct
// added without `{}` on a member fails this build. Headers needing an optional package (emf.hpp: fmt)
// are used only when __has_include finds it. Standard library only: no Catch2.
#include <resilience/resilience.hpp>

#include <resilience/aws/lambda.hpp>
#include <resilience/aws/sdk.hpp>
#include <resilience/aws/sqs.hpp>
#include <resilience/bulkhead.hpp>
#include <resilience/circuit_breaker.hpp>
#include <resilience/context.hpp>
#include <resilience/dead_letter.hpp>
#include <resilience/detail/validate.hpp>
#include <resilience/events.hpp>
#include <resilience/http.hpp>
#include <resilience/rate_limiter.hpp>
#include <resilience/result.hpp>
#include <resilience/retry.hpp>
#include <resilience/sinks/dlq_reader.hpp>
#include <resilience/sinks/dlq_replay.hpp>
#include <resilience/sinks/file_sink.hpp>
#include <resilience/sinks/memory_sink.hpp>
#include <resilience/testing.hpp>
#include <resilience/timeout.hpp>

#if __has_include(<fmt/format.h>)
#include <resilience/emf.hpp>
#define RESILIENCE_FLAGS_EMF 1
#else
#define RESILIENCE_FLAGS_EMF 0
#endif

#include <chrono>
#include <cstdio>
#include <string>

namespace rs = resilience;
using namespace std::chrono_literals;

namespace {

int failures = 0;

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "designated_init: %s\n", what);
        ++failures;
    }
}

}  // namespace

int main() {
    // --- core options -----------------------------------------------------------------------------------
    const rs::call_options call_first{.deadline = rs::no_deadline};
    const rs::call_options call_last{.stop = {}};
    check(call_first.id.empty() && call_last.deadline == rs::no_deadline, "call_options");

    const rs::retry_options<> retry_first{.max_attempts = 4};
    const rs::retry_options<> retry_last{.budget = nullptr};
    check(retry_first.max_retry_after == 30s && retry_last.max_attempts == 3, "retry_options");

    const rs::retry_budget_options budget_first{.capacity = 100};
    const rs::retry_budget_options budget_last{.success_refund = 2};
    check(budget_first.retry_cost == 5 && budget_last.capacity == 500, "retry_budget_options");

    const rs::timeout_options timeout_first{.duration = 2s};
    const rs::timeout_options timeout_last{.min_remaining = 1ms};
    check(timeout_first.min_remaining == 0ns && timeout_last.duration == 30s, "timeout_options");

    const rs::breaker_window window_first{.kind = rs::breaker_window::kind_type::time};
    const rs::breaker_window window_last{.length = 10s};
    check(window_first.buckets == 10 && window_last.size == 100, "breaker_window");

    const rs::circuit_breaker_options breaker_first{.name = "dep"};
    const rs::circuit_breaker_options breaker_last{.half_open_probes = 2};
    const rs::circuit_breaker_options breaker_middle{.failure_threshold = 3, .open_duration = 5s};
    check(breaker_first.failure_threshold == 5 && breaker_last.name.empty() && breaker_middle.minimum_calls == 10,
          "circuit_breaker_options");

    const rs::bulkhead_options bulkhead_first{.name = "pool"};
    const rs::bulkhead_options bulkhead_last{.max_wait = 1ms};
    check(bulkhead_first.max_concurrent == 25 && bulkhead_last.max_queue == 0, "bulkhead_options");

    const rs::rate_limiter_options limiter_first{.name = "api"};
    const rs::rate_limiter_options limiter_last{.max_wait = 1ms};
    check(limiter_first.permits == 10 && limiter_last.burst == 10, "rate_limiter_options");

    // --- values users build or read --------------------------------------------------------------------
    const rs::failure failure_first{.kind = rs::failure_kind::timeout};
    const rs::failure failure_last{.message = "m"};
    check(failure_first.attempts == 0 && failure_last.kind == rs::failure_kind::error, "failure");

    const rs::event event_first{.type = rs::event_type::retry_scheduled};
    const rs::event event_last{.to = "open"};
    check(event_first.error == nullptr && event_last.attempt == 0, "event");

    const rs::config_error config_first{.field = "f"};
    const rs::config_error config_last{.message = "m"};
    check(config_first.message.empty() && config_last.field.empty(), "config_error");

    const rs::circuit_breaker_metrics metrics_first{.state = rs::circuit_state::open};
    const rs::circuit_breaker_metrics metrics_last{.probes_succeeded = 1};
    check(metrics_first.successes == 0 && metrics_last.generation == 0, "circuit_breaker_metrics");

    const rs::retry_after_value hint_first{.status = rs::retry_after_status::empty};
    const rs::retry_after_value hint_last{.delay = 1s};
    check(hint_first.delay == 0s && hint_last.status == rs::retry_after_status::empty, "retry_after_value");

    // --- AWS ---------------------------------------------------------------------------------------------
    const rs::aws::lambda_deadline_options deadline_first{.reserve = 100ms};
    const rs::aws::lambda_deadline_options deadline_last{.budget_without_deadline = 1s};
    check(deadline_first.budget_without_deadline == 0s && deadline_last.reserve == 500ms, "lambda_deadline_options");

    const rs::aws::handler_options handler_first{.deadline = {}};
    const rs::aws::handler_options handler_last{.keep_payload = false};
    check(handler_first.keep_payload && handler_last.source.empty(), "handler_options");

    const rs::aws::lambda_payload payload_first{.body = "b"};
    const rs::aws::lambda_payload payload_last{.content_type = "text/plain"};
    check(payload_first.content_type == "application/json" && payload_last.body.empty(), "lambda_payload");

    const rs::aws::invocation_deadline invocation_first{.deadline = rs::no_deadline};
    const rs::aws::invocation_deadline invocation_last{.exhausted = true};
    check(!invocation_first.exhausted && !invocation_last.from_runtime, "invocation_deadline");

    const rs::aws::sdk_classify_options sdk_first{.throttling_is_rate_limited = false};
    const rs::aws::sdk_classify_options sdk_last{.max_retry_after = 1s};
    check(sdk_first.max_retry_after > 0s && sdk_last.throttling_is_rate_limited, "sdk_classify_options");

    const rs::aws::sqs_batch_options batch_first{.on_failure = rs::aws::sqs_failure_mode::redrive};
    const rs::aws::sqs_batch_options batch_last{.deadline = {}};
    check(batch_first.max_receive_count == 0 && batch_last.source.empty(), "sqs_batch_options");

    const rs::aws::sqs_record record_first{.message_id = "m-1"};
    const rs::aws::sqs_record record_middle{.message_id = "m-2", .body = "{}"};
    const rs::aws::sqs_record record_last{.event_source_arn = "arn"};
    check(record_first.body.empty() && record_middle.receipt_handle.empty() && record_last.message_id.empty(),
          "sqs_record");

    const rs::aws::sqs_record_outcome outcome_first{.message_id = "m-1"};
    const rs::aws::sqs_record_outcome outcome_last{.error = std::nullopt};
    check(!outcome_first.error && outcome_last.message_id.empty(), "sqs_record_outcome");

    const rs::aws::sqs_batch_result batch_result{.outcomes = {}};
    check(batch_result.outcomes.empty(), "sqs_batch_result");

    // --- dead letters and sinks (options only) ------------------------------------------------------------
    const rs::dead_letter_options dead_first{.source = "orders"};
    const rs::dead_letter_options dead_last{.lazy_start = true};
    check(!dead_first.lazy_start && dead_last.metadata.empty(), "dead_letter_options");
    const rs::dead_letter_metadata meta{.key = "function"};
    check(meta.value.empty(), "dead_letter_metadata");
    const rs::dead_letter_record record{.id = "order-1", .attempts = 3};
    check(record.payload.empty() && record.metadata.empty() && record.kind == rs::failure_kind::error,
          "dead_letter_record");

    const rs::file_sink_options file_first{.sync = rs::file_sync::none};
    const rs::file_sink_options file_last{.redact = {}};
    check(file_first.records_per_fsync == 1 && file_last.max_file_bytes == 0, "file_sink_options");

    const rs::memory_sink_options memory{.capacity = 10};
    check(memory.capacity == 10, "memory_sink_options");

    const rs::dlq_reader_options reader{.max_line_bytes = 1024};
    check(reader.max_line_bytes == 1024, "dlq_reader_options");

    const rs::replay_options replay_first{.progress_path = "p"};
    const rs::replay_options replay_last{.reader = {}};
    check(!replay_first.stop_on_failure && replay_last.progress_path.empty(), "replay_options");

    // --- testing kit ---------------------------------------------------------------------------------------
    const rs::testing::script_options script_first{.record_capacity = 8};
    const rs::testing::script_options script_last{.honour_deadline = true};
    check(!script_first.honour_deadline && script_last.record_capacity == 1024, "script_options");

    const rs::testing::value_outcome<int> value_first{.value = 1};
    const rs::testing::value_outcome<int> value_last{.latency = 1ms};
    check(value_first.latency == 0ns && value_last.value == 0, "value_outcome");

    const rs::testing::void_outcome void_only{.latency = 1ms};
    check(void_only.latency == 1ms, "void_outcome");

    const rs::testing::failure_outcome failed_first{.error = {}};
    const rs::testing::failure_outcome failed_last{.latency = 1ms};
    check(failed_first.latency == 0ns && failed_last.error.kind == rs::failure_kind::error, "failure_outcome");

    const rs::testing::exception_outcome thrown_first{.exception = nullptr};
    const rs::testing::exception_outcome thrown_last{.latency = 1ms};
    check(thrown_first.latency == 0ns && !thrown_last.exception, "exception_outcome");

    const rs::testing::call_record call_record_first{.index = 1};
    const rs::testing::call_record call_record_last{.exhausted = true};
    check(call_record_first.attempt == 0 && call_record_last.index == 0, "call_record");

    const rs::testing::recorded_event recorded_first{.type = rs::event_type::timeout};
    const rs::testing::recorded_event recorded_last{.to = "open"};
    check(recorded_first.policy.empty() && !recorded_last.error, "recorded_event");

#if RESILIENCE_FLAGS_EMF
    const rs::emf_dimension dimension_first{.name = "Service"};
    const rs::emf_dimension dimension_last{.value = "orders"};
    check(dimension_first.value.empty() && dimension_last.name.empty(), "emf_dimension");

    const rs::emf_options emf_first{.metric_namespace = "App"};
    const rs::emf_options emf_last{.high_resolution = true};
    check(!emf_first.skip_zero_counts && emf_last.metric_namespace == "resilience", "emf_options");
#endif

    return failures == 0 ? 0 : 1;
}
