// SPDX-License-Identifier: MIT
#pragma once
// resilience: requires fmt

/// \file emf.hpp
/// CloudWatch metrics from a Lambda function without an API call: a listener that aggregates what the
/// policies report during an invocation and writes it, at `flush()`, as one line of CloudWatch
/// Embedded Metric Format (EMF) JSON to stdout, which Lambda forwards to CloudWatch Logs, where the
/// metrics are extracted.
///
/// \code
///   static rs::emf_listener metrics{{.metric_namespace = "orders",
///                                    .dimensions = {{"Service", "orders"}, {"Dependency", "inventory"}}}};
///   invocation_response handler(const invocation_request& req) {
///       rs::resilient_call call{rs::retry{...}, breaker, metrics};      // listed: held by reference
///       auto resp = rs::aws::run_invocation<invocation_response>(req, call, fn);
///       metrics.set_property("RequestId", req.request_id);
///       metrics.flush();                                                 // one line per invocation
///       return resp;
///   }
/// \endcode
///
/// Metrics (unit Count unless said otherwise), counted from events since the previous flush:
/// `Attempts` (attempt_started), `AttemptFailures` (attempt_failed), `Retries` (retry_scheduled),
/// `RetriesExhausted`, `BudgetExhausted`, `Rejections` (rejected), `Timeouts` (timeout events),
/// `FallbacksUsed`, `BreakerTransitions` and, by the state entered, `BreakerOpened`,
/// `BreakerHalfOpened`, `BreakerClosed`, `BreakerIsolated`; `DeadLetters` (published) and
/// `DeadLetterFailures`; `Calls` and `CallFailures` (call_finished: whole calls, after every policy);
/// `Failures.<kind>` for each `failure_kind` (events that carry a failure:
/// attempt_failed, rejected, timeout and dead_letter_failed, by their kind); and `AttemptLatency`
/// (Milliseconds): the durations of the attempts, as an array of values.
///
/// EMF limits are kept by construction: 26 metric definitions (at most 100 per directive), at most 30
/// dimensions (checked), at most 100 values per metric array (`max_latency_samples`: when an
/// invocation makes more attempts than that, a uniform random sample of them is kept — reservoir
/// sampling — and the property `AttemptLatencySamples` says how many there were), and dimension names
/// and values within CloudWatch's limits (checked). With at most 30 properties of at most 4 KiB each,
/// a line stays well below the 256 KB of a CloudWatch Logs event.
///
/// Thread safety: `on_event` may be called concurrently from any number of threads (counters are
/// atomics; the latency sample takes a mutex for a few instructions); `flush`, `render` and
/// `set_property` are thread-safe too. Events that race with a flush are counted in that line or in the
/// next one, never lost or counted twice. Allocation: none in `on_event` (the sample buffer is
/// reserved at construction); `render`/`flush` build a string.
/// Time semantics: counters cover the events between two flushes; the line's `Timestamp` is the wall
/// clock time passed to `flush` (default `system_clock::now()`), as EMF requires.

#include "detail/config.hpp"
#include "detail/validate.hpp"
#include "events.hpp"
#include "result.hpp"

#include <fmt/format.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace resilience {

/// One CloudWatch dimension: a name and its value for every metric of the line.
struct emf_dimension {
    std::string name{};
    std::string value{};
};

/// EMF limits (CloudWatch embedded metric format specification).
inline constexpr std::size_t emf_max_metrics_per_directive = 100;
inline constexpr std::size_t emf_max_dimensions = 30;
inline constexpr std::size_t emf_max_values_per_metric = 100;
/// Limits this listener puts on free-form properties, so that a line stays far below the 256 KB of a
/// CloudWatch Logs event.
inline constexpr std::size_t emf_max_properties = 30;
inline constexpr std::size_t emf_max_property_bytes = 4096;

/// The metric names this listener writes, in the order it writes them (see the file comment).
inline constexpr std::array<std::string_view, 26> emf_metric_names{
    "Attempts",        "AttemptFailures",       "Retries",          "RetriesExhausted",
    "BudgetExhausted", "Rejections",            "Timeouts",         "FallbacksUsed",
    "BreakerTransitions", "BreakerOpened",      "BreakerHalfOpened", "BreakerClosed",
    "BreakerIsolated", "DeadLetters",           "DeadLetterFailures", "Calls",            "CallFailures",
    "Failures.error",  "Failures.timeout",      "Failures.deadline_exceeded", "Failures.circuit_open",
    "Failures.bulkhead_full", "Failures.rate_limited", "Failures.cancelled", "Failures.dead_letter_failed",
    "AttemptLatency",
};
static_assert(emf_metric_names.size() <= emf_max_metrics_per_directive);
static_assert(failure_kind_count == 8, "emf_metric_names lists one Failures.<kind> per failure_kind");

/// How the lines look. Validated at construction of the listener.
struct emf_options {
    /// CloudWatch namespace of the metrics: 1 to 255 characters from `A-Z a-z 0-9 . _ - # : /`, not
    /// starting with "AWS/" (reserved for AWS services).
    std::string metric_namespace = "resilience";
    /// Dimensions of every metric (one dimension set): at most 30. Names: 1 to 255 printable ASCII
    /// characters, not starting with ':', unique, and not a metric name or "_aws". Values: 1 to 1024
    /// printable ASCII characters. Keep their cardinality low (a service, an operation, a dependency —
    /// never a request id: put that in a property).
    std::vector<emf_dimension> dimensions{};
    /// The largest number of attempt latencies a line carries: 1 to 100 (EMF's limit per metric).
    std::size_t max_latency_samples = emf_max_values_per_metric;
    /// Leave out counters that are zero. By default every counter is written, so that dashboards and
    /// alarms see explicit zeros rather than missing data.
    bool skip_zero_counts = false;
    /// Store the metrics at one-second resolution (`StorageResolution` 1) instead of one minute.
    bool high_resolution = false;

    [[nodiscard]] std::optional<config_error> validate() const noexcept;
};

namespace detail {

constexpr bool emf_namespace_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-' || c == '#' || c == ':' || c == '/';
}

constexpr bool emf_printable_ascii(std::string_view s) noexcept {
    for (char c : s) {
        if (c < 0x20 || c > 0x7e) return false;
    }
    return true;
}

constexpr bool emf_has_non_space(std::string_view s) noexcept {
    for (char c : s) {
        if (c != ' ') return true;
    }
    return false;
}

constexpr bool emf_reserved_name(std::string_view n) noexcept {
    if (n == "_aws") return true;
    for (auto m : emf_metric_names) {
        if (m == n) return true;
    }
    return n == "AttemptLatencySamples";
}

/// Appends `s` as a JSON string (quotes included), escaping what RFC 8259 requires.
inline void emf_append_json_string(fmt::memory_buffer& out, std::string_view s) {
    out.push_back('"');
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        switch (ch) {
            case '"': out.append(std::string_view("\\\"")); break;
            case '\\': out.append(std::string_view("\\\\")); break;
            case '\n': out.append(std::string_view("\\n")); break;
            case '\r': out.append(std::string_view("\\r")); break;
            case '\t': out.append(std::string_view("\\t")); break;
            case '\b': out.append(std::string_view("\\b")); break;
            case '\f': out.append(std::string_view("\\f")); break;
            default:
                if (c < 0x20) {
                    fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(c));
                } else {
                    out.push_back(ch);
                }
        }
    }
    out.push_back('"');
}

}  // namespace detail

inline std::optional<config_error> emf_options::validate() const noexcept {
    const std::string_view ns = metric_namespace;
    bool ns_ok = !ns.empty() && ns.size() <= 255 && ns.substr(0, 4) != "AWS/";
    for (char c : ns) ns_ok = ns_ok && detail::emf_namespace_char(c);
    if (!ns_ok) {
        return config_error{"emf_options.metric_namespace",
                            "emf_options.metric_namespace must be 1 to 255 characters from A-Z a-z 0-9 . _ - # : / "
                            "and must not start with AWS/"};
    }
    if (dimensions.size() > emf_max_dimensions) {
        return config_error{"emf_options.dimensions", "emf_options.dimensions must have between 0 and 30 entries"};
    }
    for (std::size_t i = 0; i < dimensions.size(); ++i) {
        const std::string_view n = dimensions[i].name;
        bool dup = false;
        for (std::size_t j = 0; j < i; ++j) dup = dup || dimensions[j].name == dimensions[i].name;
        if (n.empty() || n.size() > 255 || n.front() == ':' || !detail::emf_printable_ascii(n) ||
            !detail::emf_has_non_space(n) || detail::emf_reserved_name(n) || dup) {
            return config_error{"emf_options.dimensions.name",
                                "emf_options.dimensions[].name must be 1 to 255 printable ASCII characters, not start "
                                "with ':', and not repeat another dimension, a metric name or _aws"};
        }
        const std::string_view v = dimensions[i].value;
        if (v.empty() || v.size() > 1024 || !detail::emf_printable_ascii(v) || !detail::emf_has_non_space(v)) {
            return config_error{"emf_options.dimensions.value",
                                "emf_options.dimensions[].value must be 1 to 1024 printable ASCII characters"};
        }
    }
    if (max_latency_samples < 1 || max_latency_samples > emf_max_values_per_metric) {
        return config_error{"emf_options.max_latency_samples", "emf_options.max_latency_samples must be between 1 and 100"};
    }
    return std::nullopt;
}

/// Aggregates events per invocation and writes them as one CloudWatch EMF line per `flush()`. See the
/// file comment for the metrics, limits and thread safety. Non-copyable (it has identity: list it in a
/// `resilient_call` by name, and it is held by reference).
class emf_listener {
public:
    /// Precondition: `opts` is valid (checked: throws `std::invalid_argument`, or aborts without
    /// exceptions; code built with -fno-exceptions whose options come from outside calls
    /// `opts.validate()` first). `out` is where lines go (stdout by default); it must outlive the
    /// listener. It may be null: `flush` then only resets (use `render` to get the line).
    explicit emf_listener(emf_options opts = {}, std::FILE* out = stdout) : opts_(std::move(opts)), out_(out) {
        detail::enforce(opts_.validate());
        samples_.reserve(opts_.max_latency_samples);
        properties_.reserve(emf_max_properties);
    }
    emf_listener(const emf_listener&) = delete;
    emf_listener& operator=(const emf_listener&) = delete;

    /// Counts one event. Thread-safe, never throws, allocates nothing.
    void on_event(const event& e) noexcept {
        switch (e.type) {
            case event_type::attempt_started: bump(attempts); break;
            case event_type::attempt_succeeded: sample(e.delay); break;
            case event_type::attempt_failed:
                bump(attempt_failures);
                bump_kind(e.kind);
                sample(e.delay);
                break;
            case event_type::retry_scheduled: bump(retries); break;
            case event_type::retries_exhausted: bump(retries_exhausted); break;
            case event_type::budget_exhausted: bump(budget_exhausted); break;
            case event_type::rejected:
                bump(rejections);
                bump_kind(e.kind);
                break;
            case event_type::timeout:
                bump(timeouts);
                bump_kind(e.kind);
                break;
            case event_type::fallback_used: bump(fallbacks); break;
            case event_type::state_changed:
                bump(transitions);
                if (e.to == "open") bump(opened);
                else if (e.to == "half_open") bump(half_opened);
                else if (e.to == "closed") bump(closed);
                else if (e.to == "isolated") bump(isolated);
                break;
            case event_type::dead_letter_published: bump(dead_letters); break;
            case event_type::dead_letter_failed:
                bump(dead_letter_failures);
                bump_kind(failure_kind::dead_letter_failed);
                break;
            case event_type::call_finished:
                bump(calls);
                if (e.error != nullptr) bump(call_failures);
                break;
        }
    }

    /// Adds a string property to the next line (a request id, a message id): CloudWatch Logs keeps it
    /// searchable, it is not a metric. Returns false (and ignores it) when the name is empty, reserved
    /// (a metric, a dimension, "_aws"), or when 30 properties are already set or the value is longer
    /// than 4 KiB. Setting a name again replaces its value. Properties are cleared by each flush.
    bool set_property(std::string_view name, std::string_view value) {
        if (name.empty() || detail::emf_reserved_name(name) || value.size() > emf_max_property_bytes) return false;
        for (const auto& d : opts_.dimensions) {
            if (d.name == name) return false;
        }
        std::lock_guard g(mutex_);
        for (auto& p : properties_) {
            if (p.first == name) {
                p.second.assign(value);
                return true;
            }
        }
        if (properties_.size() >= emf_max_properties) return false;
        properties_.emplace_back(std::string(name), std::string(value));
        return true;
    }

    /// The EMF line (without the trailing newline) for everything counted since the previous flush,
    /// stamped with `timestamp`, and resets the counters, the latency sample and the properties.
    [[nodiscard]] std::string render(std::chrono::system_clock::time_point timestamp = std::chrono::system_clock::now()) {
        std::array<std::uint64_t, counter_count> c{};
        for (std::size_t i = 0; i < counter_count; ++i) c[i] = counters_[i].exchange(0, std::memory_order_relaxed);
        std::vector<double> lat;
        std::uint64_t seen = 0;
        std::vector<std::pair<std::string, std::string>> props;
        {
            std::lock_guard g(mutex_);
            lat.assign(samples_.begin(), samples_.end());
            samples_.clear();
            seen = seen_;
            seen_ = 0;
            props.swap(properties_);
            properties_.reserve(emf_max_properties);
        }
        const bool with_latency = !lat.empty();
        auto included = [&](std::size_t i) { return !opts_.skip_zero_counts || c[i] != 0; };

        fmt::memory_buffer out;
        auto it = std::back_inserter(out);
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timestamp.time_since_epoch()).count();
        fmt::format_to(it, "{{\"_aws\":{{\"Timestamp\":{},\"CloudWatchMetrics\":[{{\"Namespace\":", ms);
        detail::emf_append_json_string(out, opts_.metric_namespace);
        out.append(std::string_view(",\"Dimensions\":[["));
        for (std::size_t i = 0; i < opts_.dimensions.size(); ++i) {
            if (i) out.push_back(',');
            detail::emf_append_json_string(out, opts_.dimensions[i].name);
        }
        out.append(std::string_view("]],\"Metrics\":["));
        bool first = true;
        auto definition = [&](std::string_view name, std::string_view unit) {
            if (!first) out.push_back(',');
            first = false;
            out.append(std::string_view("{\"Name\":"));
            detail::emf_append_json_string(out, name);
            out.append(std::string_view(",\"Unit\":"));
            detail::emf_append_json_string(out, unit);
            if (opts_.high_resolution) out.append(std::string_view(",\"StorageResolution\":1"));
            out.push_back('}');
        };
        for (std::size_t i = 0; i < counter_count; ++i) {
            if (included(i)) definition(emf_metric_names[i], "Count");
        }
        if (with_latency) definition("AttemptLatency", "Milliseconds");
        out.append(std::string_view("]}]}"));
        for (const auto& d : opts_.dimensions) {
            out.push_back(',');
            detail::emf_append_json_string(out, d.name);
            out.push_back(':');
            detail::emf_append_json_string(out, d.value);
        }
        for (std::size_t i = 0; i < counter_count; ++i) {
            if (!included(i)) continue;
            out.push_back(',');
            detail::emf_append_json_string(out, emf_metric_names[i]);
            fmt::format_to(it, ":{}", c[i]);
        }
        if (with_latency) {
            out.append(std::string_view(",\"AttemptLatency\":["));
            for (std::size_t i = 0; i < lat.size(); ++i) {
                if (i) out.push_back(',');
                fmt::format_to(it, "{}", lat[i]);
            }
            fmt::format_to(it, "],\"AttemptLatencySamples\":{}", seen);
        }
        for (const auto& [name, value] : props) {
            out.push_back(',');
            detail::emf_append_json_string(out, name);
            out.push_back(':');
            detail::emf_append_json_string(out, value);
        }
        out.push_back('}');
        return fmt::to_string(out);
    }

    /// Writes `render(timestamp)` and a newline to the output in one `fwrite`, then flushes it, so that
    /// the line is complete in the log before the runtime freezes the environment. Returns false when
    /// the write failed (or there is no output). Call it once per invocation, before returning the
    /// response.
    bool flush(std::chrono::system_clock::time_point timestamp = std::chrono::system_clock::now()) {
        std::string line = render(timestamp);
        if (!out_) return false;
        line.push_back('\n');
        std::lock_guard g(write_mutex_);
        const bool ok = std::fwrite(line.data(), 1, line.size(), out_) == line.size();
        return std::fflush(out_) == 0 && ok;
    }

    /// The options the listener was built with.
    [[nodiscard]] const emf_options& options() const noexcept { return opts_; }

private:
    enum counter : std::size_t {
        attempts,
        attempt_failures,
        retries,
        retries_exhausted,
        budget_exhausted,
        rejections,
        timeouts,
        fallbacks,
        transitions,
        opened,
        half_opened,
        closed,
        isolated,
        dead_letters,
        dead_letter_failures,
        calls,
        call_failures,
        failures_first,  // one per failure_kind, in enum order
        counter_count = failures_first + failure_kind_count,
    };
    static_assert(counter_count + 1 == emf_metric_names.size());

    void bump(counter c) noexcept { counters_[c].fetch_add(1, std::memory_order_relaxed); }
    void bump_kind(failure_kind k) noexcept {
        const auto i = static_cast<std::size_t>(k);
        if (i < failure_kind_count) counters_[failures_first + i].fetch_add(1, std::memory_order_relaxed);
    }

    void sample(duration d) noexcept {
        const double v = static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(d).count()) / 1000.0;
        std::lock_guard g(mutex_);
        ++seen_;
        if (samples_.size() < opts_.max_latency_samples) {
            samples_.push_back(v);  // capacity reserved at construction: no allocation
            return;
        }
        // Reservoir sampling (algorithm R): the i-th sample replaces a random slot with probability
        // max/i, so every attempt has the same chance to be in the line.
        rng_ ^= rng_ << 13;
        rng_ ^= rng_ >> 7;
        rng_ ^= rng_ << 17;
        const std::uint64_t slot = rng_ % seen_;
        if (slot < samples_.size()) samples_[static_cast<std::size_t>(slot)] = v;
    }

    emf_options opts_;
    std::FILE* out_;
    std::array<std::atomic<std::uint64_t>, counter_count> counters_{};
    std::mutex mutex_;  // samples_, seen_, rng_, properties_
    std::vector<double> samples_;
    std::uint64_t seen_ = 0;
    std::uint64_t rng_ = 0x9E3779B97F4A7C15ull;  // fixed seed: lines are reproducible in tests
    std::vector<std::pair<std::string, std::string>> properties_;
    std::mutex write_mutex_;
};

}  // namespace resilience
