// SPDX-License-Identifier: MIT
#pragma once

/// \file aws/sqs.hpp
/// SQS-triggered Lambda functions: each record of a batch runs through its own resilient call, and the
/// partial batch response (`batchItemFailures`) tells Lambda which messages to leave on the queue.
/// Failed records are either reported for redrive or published to a dead-letter sink, as configured,
/// and the choice is coordinated with the queue's `maxReceiveCount`.
///
/// \code
///   static rs::file_sink dlq{"/tmp/dead-letters.jsonl"};
///   invocation_response handler(const invocation_request& req) {
///       rs::resilient_call call{rs::retry{...}, breaker, rs::timeout{2s}};
///       return rs::aws::run_sqs_batch<invocation_response>(req, call,
///           [&](const rs::aws::sqs_record& m, const rs::attempt& a) { return process(m.body, a.remaining()); },
///           dlq, {.on_failure = rs::aws::sqs_failure_mode::dead_letter_on_last_receive, .max_receive_count = 5});
///   }
/// \endcode
///
/// The event is JSON: `parse_sqs_event` reads it with the library's own small strict JSON reader, so
/// this header needs only the standard library (no JSON package in a Lambda built with
/// -fno-exceptions). Records parsed by other means work too: `process_sqs_batch` takes any range of
/// objects with `message_id` and `body` members (and, when present, `approximate_receive_count` and
/// `message_group_id`).
///
/// Requirements on the Lambda side (docs/aws.md): the event source mapping must list
/// `ReportBatchItemFailures` in `FunctionResponseTypes`, or Lambda ignores the response and deletes
/// the whole batch, failed messages included.
///
/// Thread safety: a batch is processed on the calling thread, record after record; the composition's
/// stateful objects and the sink are shared and thread-safe. Time semantics: every record's call gets
/// the invocation's deadline; once it has passed, the remaining records are not started and are
/// reported for redrive (never dead-lettered: they did not fail, the invocation ran out of time).

#include "../clock.hpp"
#include "../context.hpp"
#include "../dead_letter.hpp"
#include "../detail/config.hpp"
#include "../detail/json.hpp"
#include "../detail/validate.hpp"
#include "../events.hpp"
#include "../result.hpp"
#include "../resilient_call.hpp"
#include "lambda.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace resilience::aws {

// --- the event ------------------------------------------------------------------------------------------

/// One SQS message as Lambda delivers it (the fields batch processing uses).
struct sqs_record {
    /// `messageId`: the `itemIdentifier` of a partial batch response, and the call's id (the dead
    /// letter's idempotency key).
    std::string message_id{};
    std::string receipt_handle{};
    /// `body`: the message, exactly; the call's payload (what a dead letter stores for replay).
    std::string body{};
    /// `attributes.ApproximateReceiveCount`: 1 on the first delivery; 0 when absent or unreadable.
    std::uint32_t approximate_receive_count = 0;
    /// `attributes.MessageGroupId`: set on FIFO queues only.
    std::string message_group_id{};
    /// `eventSourceARN`: the queue.
    std::string event_source_arn{};
};

/// Parses an SQS event (`{"Records": [...]}`) into records, in order. Fails (with a static message,
/// `errc::invalid_argument` and a permanent hint) when the payload is not JSON, has no `Records`
/// array, or a record has no string `messageId` or `body`: without them no partial response can be
/// built, and the invocation should fail so that the whole batch is retried. Unknown fields are
/// ignored. Allocates the records.
[[nodiscard]] inline result<std::vector<sqs_record>> parse_sqs_event(std::string_view payload) {
    namespace json = resilience::detail::json;
    auto fail = [](std::string_view why) {
        return failure::from_error(std::make_error_code(std::errc::invalid_argument), transience::permanent, why);
    };
    json::value root;
    json::error err;
    if (!json::parse(payload, root, err)) return fail("the SQS event is not valid JSON");
    if (root.kind != json::type::object) return fail("the SQS event is not a JSON object");
    const json::value* recs = root.find("Records");
    if (recs == nullptr || recs->kind != json::type::array) return fail("the SQS event has no Records array");
    std::vector<sqs_record> out;
    out.reserve(recs->elements.size());
    for (const json::value& r : recs->elements) {
        if (r.kind != json::type::object) return fail("an SQS event record is not a JSON object");
        const json::value* id = r.find("messageId");
        if (id == nullptr || id->kind != json::type::string) return fail("an SQS event record has no string messageId");
        const json::value* body = r.find("body");
        if (body == nullptr || body->kind != json::type::string) return fail("an SQS event record has no string body");
        sqs_record rec;
        rec.message_id = id->text;
        rec.body = body->text;
        if (const json::value* h = r.find("receiptHandle"); h != nullptr && h->kind == json::type::string) {
            rec.receipt_handle = h->text;
        }
        if (const json::value* arn = r.find("eventSourceARN"); arn != nullptr && arn->kind == json::type::string) {
            rec.event_source_arn = arn->text;
        }
        if (const json::value* attrs = r.find("attributes"); attrs != nullptr && attrs->kind == json::type::object) {
            if (const json::value* n = attrs->find("ApproximateReceiveCount"); n != nullptr && n->kind == json::type::string) {
                std::uint64_t v = 0;
                if (json::to_uint64(n->text, v)) rec.approximate_receive_count = v > 0xFFFFFFFFu ? 0xFFFFFFFFu : static_cast<std::uint32_t>(v);
            }
            if (const json::value* g = attrs->find("MessageGroupId"); g != nullptr && g->kind == json::type::string) {
                rec.message_group_id = g->text;
            }
        }
        out.push_back(std::move(rec));
    }
    return out;
}

// --- configuration ---------------------------------------------------------------------------------------

/// What happens to a record whose call failed.
enum class sqs_failure_mode : std::uint8_t {
    /// Report it in `batchItemFailures`: SQS makes it visible again after the visibility timeout, and
    /// once it has been received `maxReceiveCount` times the queue's redrive policy moves it to the
    /// queue's own dead-letter queue. No sink needed.
    redrive,
    /// Publish it to the dead-letter sink and do not report it (SQS deletes it); report it only when
    /// the sink refuses the record, so that nothing is lost. For failures no redelivery can fix.
    dead_letter,
    /// Report it for redrive while `approximate_receive_count < max_receive_count`; on the last receive,
    /// publish it to the sink instead (reported only if the sink refuses). Retries through SQS, then
    /// keeps the failure's details (kind, attempts, error) in the dead-letter record. Set
    /// `max_receive_count` to the queue's redrive policy value; a record whose receive count is unknown
    /// is reported.
    dead_letter_on_last_receive,
};

/// Whether a failed record stops the batch.
enum class sqs_ordering : std::uint8_t {
    /// FIFO behaviour for records that carry a message group id (FIFO queues set it), standard
    /// otherwise.
    automatic,
    /// Every record is processed, whatever happened to the others.
    standard,
    /// At the first record reported for redrive, processing stops and every later record is reported
    /// too, unprocessed: SQS must not deliver a group's later messages before an earlier one
    /// succeeded. (A record that went to the dead-letter sink does not stop the batch: it has left the
    /// queue, as SQS's own redrive would have moved it.)
    fifo,
};

/// Configuration of batch processing. Validated by the functions that take it.
struct sqs_batch_options {
    sqs_failure_mode on_failure = sqs_failure_mode::redrive;
    /// The queue's redrive policy `maxReceiveCount`: 1 to 1000 with `dead_letter_on_last_receive`,
    /// ignored (any value up to 1000) otherwise.
    std::uint32_t max_receive_count = 0;
    sqs_ordering ordering = sqs_ordering::automatic;
    /// `call_options::source` of every record's call, and the dead letters' source ("sqs" when empty).
    /// At most 256 bytes, no control characters; must outlive the batch.
    std::string_view source{};
    /// For `run_sqs_batch`: how the invocation's deadline becomes the records' deadline.
    lambda_deadline_options deadline{};

    [[nodiscard]] std::optional<config_error> validate() const noexcept {
        if (max_receive_count > 1000 ||
            (on_failure == sqs_failure_mode::dead_letter_on_last_receive && max_receive_count < 1)) {
            return config_error{"sqs_batch_options.max_receive_count",
                                "sqs_batch_options.max_receive_count must be between 1 and 1000 (the queue's "
                                "maxReceiveCount) with dead_letter_on_last_receive, and at most 1000 otherwise"};
        }
        if (source.size() > 256) {
            return config_error{"sqs_batch_options.source", "sqs_batch_options.source must be between 0 and 256 bytes long"};
        }
        for (char c : source) {
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
                return config_error{"sqs_batch_options.source", "sqs_batch_options.source must not contain control characters"};
            }
        }
        return deadline.validate();
    }
};

// --- the result -----------------------------------------------------------------------------------------

/// What happened to one record.
enum class sqs_record_status : std::uint8_t {
    succeeded,         ///< the call succeeded; not reported (SQS deletes the message)
    reported,          ///< the call failed; reported for redrive
    dead_lettered,     ///< the call failed; published to the sink and not reported
    sink_refused,      ///< the call failed, the sink refused the record; reported for redrive
    skipped_deadline,  ///< not started: the invocation's deadline had passed; reported
    skipped_ordering,  ///< not started: an earlier record of a FIFO batch was reported; reported
};

[[nodiscard]] constexpr std::string_view to_string(sqs_record_status s) noexcept {
    switch (s) {
        case sqs_record_status::succeeded: return "succeeded";
        case sqs_record_status::reported: return "reported";
        case sqs_record_status::dead_lettered: return "dead_lettered";
        case sqs_record_status::sink_refused: return "sink_refused";
        case sqs_record_status::skipped_deadline: return "skipped_deadline";
        case sqs_record_status::skipped_ordering: return "skipped_ordering";
    }
    return "unknown";
}

/// True when the record goes into `batchItemFailures`.
[[nodiscard]] constexpr bool is_reported(sqs_record_status s) noexcept {
    return s != sqs_record_status::succeeded && s != sqs_record_status::dead_lettered;
}

/// One record's outcome.
struct sqs_record_outcome {
    std::string message_id{};
    sqs_record_status status = sqs_record_status::succeeded;
    /// The call's failure (absent for successes and skipped records).
    std::optional<failure> error{};
};

/// The outcome of a batch: one entry per record, in order, and the partial batch response.
struct sqs_batch_result {
    std::vector<sqs_record_outcome> outcomes{};

    /// The message ids to report, in order.
    [[nodiscard]] std::vector<std::string_view> batch_item_failures() const {
        std::vector<std::string_view> ids;
        for (const auto& o : outcomes) {
            if (is_reported(o.status)) ids.emplace_back(o.message_id);
        }
        return ids;
    }
    /// Records with the given status.
    [[nodiscard]] std::size_t count(sqs_record_status s) const noexcept {
        std::size_t n = 0;
        for (const auto& o : outcomes) n += o.status == s ? 1u : 0u;
        return n;
    }
    /// Records reported for redrive.
    [[nodiscard]] std::size_t reported() const noexcept {
        std::size_t n = 0;
        for (const auto& o : outcomes) n += is_reported(o.status) ? 1u : 0u;
        return n;
    }
    /// The partial batch response Lambda expects:
    /// `{"batchItemFailures":[{"itemIdentifier":"<messageId>"},...]}` (an empty list when every record
    /// succeeded or was dead-lettered).
    [[nodiscard]] std::string to_json() const {
        std::string s = "{\"batchItemFailures\":[";
        bool first = true;
        for (const auto& o : outcomes) {
            if (!is_reported(o.status)) continue;
            if (!first) s += ',';
            first = false;
            s += "{\"itemIdentifier\":";
            resilience::detail::json::append_string(s, o.message_id);
            s += '}';
        }
        s += "]}";
        return s;
    }
};

// --- processing ----------------------------------------------------------------------------------------

/// A record `process_sqs_batch` can handle: `message_id` and `body` readable as `std::string_view`.
template <class R>
concept sqs_message = requires(const R& r) {
    std::string_view(r.message_id);
    std::string_view(r.body);
};

namespace detail {

/// Stands in for a sink when there is none (`redrive` only); never called.
struct no_sqs_sink {
    result<void> publish(const dead_letter_record&) { return ok(); }
};

template <class R>
std::uint32_t receive_count_of(const R& r) noexcept {
    if constexpr (requires { static_cast<std::uint32_t>(r.approximate_receive_count); }) {
        return static_cast<std::uint32_t>(r.approximate_receive_count);
    } else {
        (void)r;
        return 0;
    }
}

template <class R>
std::string_view group_of(const R& r) noexcept {
    if constexpr (requires { std::string_view(r.message_group_id); }) {
        return std::string_view(r.message_group_id);
    } else {
        (void)r;
        return {};
    }
}

template <class Call>
void sqs_emit(Call& call, event e) {
    if constexpr (listener_enabled<typename std::remove_cvref_t<Call>::listener_type>) {
        e.at = call.clock().now();
        call.listener().on_event(e);
    } else {
        (void)call;
        (void)e;
    }
}

/// Publishes one record; false when the sink refused it or something threw.
template <class Sink, class Clock>
bool sqs_publish(Sink& sink, const failure& f, const call_options& co, const Clock& clk, time_point start) {
#if RESILIENCE_HAS_EXCEPTIONS
    try {
#endif
        const dead_letter<Sink> dl(sink, dead_letter_options{.source = co.source.empty() ? std::string_view("sqs") : co.source});
        const dead_letter_record rec = dl.make_record(f, co, clk, start);
        return sink.publish(rec).has_value();
#if RESILIENCE_HAS_EXCEPTIONS
    } catch (...) {
        return false;
    }
#endif
}

template <class Records, class Call, class F, class Sink>
sqs_batch_result process_sqs_batch_impl(const Records& records, Call& call, F& fn, Sink* sink,
                                        const sqs_batch_options& opts, time_point deadline) {
    sqs_batch_result out;
    if constexpr (requires { records.size(); }) out.outcomes.reserve(records.size());
    bool stopped = false;
    for (const auto& rec : records) {
        sqs_record_outcome o;
        o.message_id.assign(std::string_view(rec.message_id));
        const std::string_view group = group_of(rec);
        const bool fifo = opts.ordering == sqs_ordering::fifo || (opts.ordering == sqs_ordering::automatic && !group.empty());
        if (stopped) {
            o.status = sqs_record_status::skipped_ordering;
            out.outcomes.push_back(std::move(o));
            continue;
        }
        if (deadline != no_deadline && call.clock().now() >= deadline) {
            o.status = sqs_record_status::skipped_deadline;
            stopped = stopped || fifo;
            out.outcomes.push_back(std::move(o));
            continue;
        }
        call_options co;
        co.deadline = deadline;
        co.id = std::string_view(rec.message_id);
        co.payload = std::string_view(rec.body);
        co.source = opts.source;
        const time_point start = call.clock().now();
        auto r = call(
            [&](const attempt& a) {
                if constexpr (std::is_invocable_v<F&, const decltype(rec)&, const attempt&>) {
                    return fn(rec, a);
                } else {
                    (void)a;
                    return fn(rec);
                }
            },
            co);
        if (r.has_value()) {
            o.status = sqs_record_status::succeeded;
            out.outcomes.push_back(std::move(o));
            continue;
        }
        const failure& f = r.error();
        const std::uint32_t received = receive_count_of(rec);
        // Running out of time or being cancelled is not the message's fault, and a composition that
        // could not store its own dead letter must have the message redriven: never dead-letter those.
        const bool message_failed = f.kind != failure_kind::deadline_exceeded && f.kind != failure_kind::cancelled &&
                                    f.kind != failure_kind::dead_letter_failed;
        const bool to_sink = sink != nullptr && message_failed &&
                             (opts.on_failure == sqs_failure_mode::dead_letter ||
                              (opts.on_failure == sqs_failure_mode::dead_letter_on_last_receive && received > 0 &&
                               received >= opts.max_receive_count));
        o.error = f;
        if (to_sink) {
            if (sqs_publish(*sink, f, co, call.clock(), start)) {
                o.status = sqs_record_status::dead_lettered;
                sqs_emit(call, event{.type = event_type::dead_letter_published, .policy = "sqs_batch",
                                     .call_id = co.id, .attempt = f.attempts, .kind = f.kind, .error = &f});
            } else {
                o.status = sqs_record_status::sink_refused;
                sqs_emit(call, event{.type = event_type::dead_letter_failed, .policy = "sqs_batch", .call_id = co.id,
                                     .attempt = f.attempts, .kind = failure_kind::dead_letter_failed, .error = &f});
            }
        } else {
            o.status = sqs_record_status::reported;
        }
        if (is_reported(o.status) && fifo) stopped = true;
        out.outcomes.push_back(std::move(o));
    }
    return out;
}

}  // namespace detail

/// Runs every record through `call` (redrive mode: failed records are reported). `fn(record, attempt)`
/// or `fn(record)` processes one record and may return `T`, `result<T>` or `void` (the value is not
/// used). Each call gets `deadline`, the record's `message_id` as id and its `body` as payload.
/// Precondition: `opts` is valid and `opts.on_failure == redrive` (the dead-letter modes need a sink:
/// use the other overload); checked, reported as a configuration error.
template <class Records, class Call, class F>
    requires sqs_message<std::remove_cvref_t<decltype(*std::begin(std::declval<const Records&>()))>>
[[nodiscard]] sqs_batch_result process_sqs_batch(const Records& records, Call&& call, F&& fn,
                                                 const sqs_batch_options& opts = {}, time_point deadline = no_deadline) {
    resilience::detail::enforce(opts.validate());
    if (opts.on_failure != sqs_failure_mode::redrive) {
        resilience::detail::report_config_error(
            {"sqs_batch_options.on_failure",
             "sqs_batch_options.on_failure must be redrive when no dead-letter sink is given"});
    }
    return detail::process_sqs_batch_impl(records, call, fn, static_cast<detail::no_sqs_sink*>(nullptr), opts, deadline);
}

/// As above, with a dead-letter sink for the `dead_letter` and `dead_letter_on_last_receive` modes. A
/// record published to the sink is not reported (SQS deletes it); one the sink refuses is reported, so
/// nothing is lost. The record is built as `dead_letter` builds it (source: `opts.source` or "sqs").
/// The composition should not contain a `dead_letter` policy of its own (records would be stored
/// twice); a call that fails with `dead_letter_failed` is reported.
template <class Records, class Call, class F, dead_letter_sink Sink>
    requires sqs_message<std::remove_cvref_t<decltype(*std::begin(std::declval<const Records&>()))>>
[[nodiscard]] sqs_batch_result process_sqs_batch(const Records& records, Call&& call, F&& fn, Sink& sink,
                                                 const sqs_batch_options& opts = {}, time_point deadline = no_deadline) {
    resilience::detail::enforce(opts.validate());
    return detail::process_sqs_batch_impl(records, call, fn, &sink, opts, deadline);
}

/// The `errorType` of an invocation whose SQS event could not be parsed (the whole batch is retried).
inline constexpr std::string_view sqs_invalid_event_type = "resilience.invalid_sqs_event";

namespace detail {

template <class Response, class Request, class Call, class F, class Sink>
Response run_sqs_batch_impl(const Request& req, Call& call, F& fn, Sink* sink, const sqs_batch_options& opts,
                            std::chrono::system_clock::time_point wall_now) {
    const invocation_deadline d = deadline_from(req, call.clock(), opts.deadline, wall_now);
    auto records = parse_sqs_event(std::string_view(req.payload));
    if (!records) return Response::failure(std::string(records.error().message), std::string(sqs_invalid_event_type));
    sqs_batch_result res = process_sqs_batch_impl(*records, call, fn, sink, opts, d.deadline);
    return Response::success(res.to_json(), "application/json");
}

}  // namespace detail

/// A complete SQS handler: takes the invocation's deadline (see `deadline_from`), parses the event,
/// processes the batch and answers the partial batch response. An event that cannot be parsed fails
/// the invocation (`resilience.invalid_sqs_event`), so Lambda retries the whole batch. Redrive mode;
/// see the overload with a sink for the dead-letter modes.
template <class Response, lambda_request Request, class Call, class F>
    requires detail::lambda_response<Response>
[[nodiscard]] Response run_sqs_batch(const Request& req, Call&& call, F&& fn, const sqs_batch_options& opts = {},
                                     std::chrono::system_clock::time_point wall_now = std::chrono::system_clock::now()) {
    resilience::detail::enforce(opts.validate());
    if (opts.on_failure != sqs_failure_mode::redrive) {
        resilience::detail::report_config_error(
            {"sqs_batch_options.on_failure",
             "sqs_batch_options.on_failure must be redrive when no dead-letter sink is given"});
    }
    return detail::run_sqs_batch_impl<Response>(req, call, fn, static_cast<detail::no_sqs_sink*>(nullptr), opts, wall_now);
}

/// `run_sqs_batch` with a dead-letter sink (see `process_sqs_batch`).
template <class Response, lambda_request Request, class Call, class F, dead_letter_sink Sink>
    requires detail::lambda_response<Response>
[[nodiscard]] Response run_sqs_batch(const Request& req, Call&& call, F&& fn, Sink& sink, const sqs_batch_options& opts = {},
                                     std::chrono::system_clock::time_point wall_now = std::chrono::system_clock::now()) {
    resilience::detail::enforce(opts.validate());
    return detail::run_sqs_batch_impl<Response>(req, call, fn, &sink, opts, wall_now);
}

}  // namespace resilience::aws
