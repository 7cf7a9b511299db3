// SPDX-License-Identifier: MIT
#pragma once

// The policy composition the simulator runs: the library's real policies, outermost first, in
// DESIGN.md's order
//   dead_letter -> timeout (overall) -> retry -> circuit_breaker -> timeout (per attempt) -> dependency
// Each layer can be switched off by the configuration. The composition type is fixed at compile time;
// a switched-off layer is an `optional_layer` that passes straight through — which is itself a small
// example of a custom policy (see resilience/policy.hpp).

#include "sim.hpp"

#include <resilience/circuit_breaker.hpp>
#include <resilience/dead_letter.hpp>
#include <resilience/resilience.hpp>
#include <resilience/retry.hpp>

#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace resilience_sim {

/// What the modelled dependency answers: an HTTP-like status and, for 429, a Retry-After.
struct response {
    int status = 200;
    resilience::duration retry_after{};
};

}  // namespace resilience_sim

/// Statuses >= 400 are failures that keep the response; 408/429/5xx are transient; 429's Retry-After is
/// passed on as the failure's `retry_after`, which retry honours.
template <>
struct resilience::customize::outcome_classifier<resilience_sim::response> {
    static std::optional<resilience::failure> classify(const resilience_sim::response& r) noexcept {
        if (r.status < 400) return std::nullopt;
        auto v = resilience::http_status_verdict(r.status);
        auto f = resilience::failure::from_error(std::make_error_code(std::errc::io_error),
                                                 v == resilience::verdict::transient ? resilience::transience::transient
                                                                                     : resilience::transience::permanent,
                                                 r.status == 429 ? "throttled (429)" : "server error (5xx)");
        f.retry_after = r.retry_after;
        if (r.status == 429) f.kind = f.cause = resilience::failure_kind::rate_limited;
        return f;
    }
};

namespace resilience_sim {

/// A policy that may be switched off: with no policy it calls the next layer directly.
template <class P>
struct optional_layer {
    std::optional<P> policy;
    template <class Ctx, class Next>
    auto execute(Ctx& ctx, Next&& next) -> std::invoke_result_t<Next&, Ctx&> {
        return policy ? policy->execute(ctx, next) : next(ctx);
    }
};

/// The same for a stateful policy held by reference (a breaker that lives in its environment).
template <class P>
struct optional_ref_layer {
    P* policy = nullptr;
    template <class Ctx, class Next>
    auto execute(Ctx& ctx, Next&& next) -> std::invoke_result_t<Next&, Ctx&> {
        return policy ? policy->execute(ctx, next) : next(ctx);
    }
};

/// A dead-letter sink that keeps only what the simulator checks: each record's id and time. Thread-safe
/// like every sink (the simulation is single-threaded, the lock is uncontended).
class id_sink {
public:
    resilience::result<void> publish(const resilience::dead_letter_record& r) {
        std::lock_guard g(m_);
        ids_.push_back(r.id);
        times_.push_back(r.last_attempt);
        return {};
    }
    std::mutex m_;
    std::vector<std::string> ids_;
    std::vector<resilience::dead_letter_record::time_type> times_;
};

/// Jitter for one environment: a handle to a generator the environment owns, so successive calls draw
/// fresh numbers (retry copies its generator per call) while runs stay reproducible per seed.
struct env_random {
    using result_type = resilience::seeded_random::result_type;
    resilience::seeded_random* generator = nullptr;
    static constexpr result_type min() noexcept { return resilience::seeded_random::min(); }
    static constexpr result_type max() noexcept { return resilience::seeded_random::max(); }
    result_type operator()() noexcept { return (*generator)(); }
};

// Seeded jitter for the open duration, so that the same seed gives the same run.
using breaker_type = resilience::circuit_breaker<resilience::manual_clock, resilience::default_classifier, resilience::seeded_random>;
using sink_type = id_sink;
using retry_type = resilience::retry<resilience::backoff, resilience::default_classifier, env_random>;
using composition =
    resilience::resilient_call<resilience::manual_clock&, optional_layer<resilience::dead_letter<sink_type>>,
                               optional_layer<resilience::timeout>, optional_layer<retry_type>,
                               optional_ref_layer<breaker_type>, optional_layer<resilience::timeout>>;

inline std::chrono::nanoseconds ms_to_ns(double v) { return std::chrono::nanoseconds{static_cast<std::int64_t>(v * 1e6)}; }

/// Builds one environment's breaker and composition from a configuration.
inline void build_pipeline(resilience::manual_clock& clock, std::optional<breaker_type>& breaker,
                           std::optional<composition>& call, const configuration& c, sink_type& sink,
                           resilience::seeded_random& random) {
    namespace rs = resilience;
    if (c.breaker) {
        rs::circuit_breaker_options o;
        o.name = "dependency";
        o.failure_threshold = c.breaker->failure_threshold;
        o.open_duration = ms_to_ns(c.breaker->open_ms);
        if (c.breaker->open_max_ms > c.breaker->open_ms) o.open_duration_max = ms_to_ns(c.breaker->open_max_ms);
        o.open_jitter = std::min(c.breaker->open_jitter, 0.99);
        o.half_open_probes = c.breaker->half_open_probes;
        breaker.emplace(o, clock, rs::default_classifier{}, rs::seeded_random{random()});
    }
    optional_layer<rs::dead_letter<sink_type>> dl;
    if (c.dead_letter) dl.policy.emplace(sink, rs::dead_letter_options{.source = "resilience-sim"});
    optional_layer<rs::timeout> overall;
    if (c.timeout_ms) overall.policy.emplace(ms_to_ns(*c.timeout_ms));
    optional_layer<retry_type> retry;
    if (c.retry) {
        const auto base = ms_to_ns(c.retry->base_ms), cap = ms_to_ns(c.retry->cap_ms);
        rs::backoff b = rs::exponential_backoff{base, cap, rs::full_jitter};
        if (c.retry->jitter == "none") b = rs::exponential_backoff{base, cap, rs::no_jitter};
        else if (c.retry->jitter == "equal") b = rs::exponential_backoff{base, cap, rs::equal_jitter};
        else if (c.retry->jitter == "decorrelated") b = rs::exponential_backoff{base, cap, rs::decorrelated_jitter};
        retry.policy.emplace(rs::retry_options<>{.max_attempts = c.retry->max_attempts, .backoff = b},
                             rs::default_classifier{}, env_random{&random});
    }
    optional_ref_layer<breaker_type> br{breaker ? &*breaker : nullptr};
    optional_layer<rs::timeout> per_attempt;
    if (c.attempt_timeout_ms) per_attempt.policy.emplace(ms_to_ns(*c.attempt_timeout_ms));
    call.emplace(clock, dl, overall, retry, br, per_attempt);
}

/// Counts dead letters per time bucket, from each record's wall-clock time (every environment's
/// manual_clock maps `t0` to the same wall time).
inline void dead_letters_per_bucket(sink_type& s, resilience::time_point t0, double bucket_s,
                                    std::vector<bucket_stats>& buckets) {
    resilience::manual_clock reference(t0);
    const auto wall0 = reference.to_sys(t0);
    for (const auto& t : s.times_) {
        double sec = std::chrono::duration<double>(t - wall0).count();
        auto b = static_cast<std::size_t>(std::max(0.0, sec / bucket_s));
        if (b >= buckets.size()) b = buckets.size() - 1;
        ++buckets[b].dead_letters;
    }
}

}  // namespace resilience_sim
