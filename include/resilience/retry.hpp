// SPDX-License-Identifier: MIT
#pragma once

/// \file retry.hpp
/// `retry`: runs the layers inside it again after a transient failure, with a backoff between attempts;
/// `retry_budget`: a token bucket shared by many calls that stops retry storms.
///
/// \code
///   rs::resilient_call call{
///       rs::retry{{.max_attempts = 4, .backoff = rs::exponential_backoff{50ms, 2s, rs::full_jitter}}},
///       rs::timeout{500ms},  // per attempt
///   };
///   rs::result<Response> r = call([&](const rs::attempt& a) { return client.get(req, a.remaining()); }, opts);
/// \endcode
///
/// What one call does (attempt n = 1, 2, ...):
/// 1. runs the inner layers with `attempt::number() == n`, and classifies the result (see classify.hpp):
///    a success is returned (and refunds the budget); a permanent failure is returned at once;
/// 2. after a transient failure, gives up when `max_attempts` attempts were made; otherwise computes the
///    delay: the backoff's, or the failure's `retry_after` hint when that is longer (a hint longer than
///    `max_retry_after` ends the retries instead: waiting that long is the caller's decision);
/// 3. never sleeps past the deadline: when `now + delay` reaches the effective deadline (the caller's or
///    an enclosing timeout's), the next attempt could not start in time, so it is not started and the
///    last failure is returned relabelled `deadline_exceeded` (or `timeout`), its `cause` keeping the
///    original kind and a classified value staying reachable through `result::last_value()`. The same
///    holds when it is a layer inside retry that finds no time left and refuses attempt n without
///    running the callable (a `timeout` with `min_remaining`, a bulkhead or rate-limiter wait that
///    expires, the composition's check after a sleep that woke late): retry returns attempt n-1's
///    failure (error code, exception, value) relabelled with the refusal's kind and taking its `hint`
///    (a timeout's refusal is permanent: within this call the budget only shrinks), not the refusal;
/// 4. gives up when the next attempt would start more than `max_duration` after the call started;
/// 5. takes a retry's cost from the `retry_budget`, if there is one; an empty budget ends the retries
///    (the delays of retries that do run are never shortened by it);
/// 6. sleeps on the composition's clock until `now + delay`, interruptibly: the caller's stop token ends
///    the sleep and the call returns the last failure relabelled `cancelled`.
///
/// Events (when a listener is attached): `retry_scheduled` before each sleep (`delay`, `attempt` = the
/// attempt that failed, `error`); `budget_exhausted` when the budget refuses; `retries_exhausted`
/// whenever retry returns a failure (attempts, duration, deadline, budget, hint too long, permanent
/// failure, cancellation; `kind` = the kind returned).

#include "backoff.hpp"
#include "classify.hpp"
#include "clock.hpp"
#include "context.hpp"
#include "detail/config.hpp"
#include "detail/validate.hpp"
#include "events.hpp"
#include "result.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <optional>
#include <random>
#include <type_traits>
#include <utility>

namespace resilience {

// --- retry budget ---------------------------------------------------------------------------------

/// Configuration of a `retry_budget`. The defaults are those of the AWS SDKs' "standard" retry mode
/// (retry quota): 500 tokens; a retry costs 5, a retry after a timeout 10; a call that succeeds at its
/// first attempt returns 1. So once roughly a hundred retries fail in a row the budget is empty, and
/// the fleet stops amplifying the load on a dependency that is down; as calls succeed again it refills.
struct retry_budget_options {
    /// Tokens when full (and at construction). Allowed: 1 to 1,000,000.
    std::uint32_t capacity = 500;
    /// Tokens a retry takes. Allowed: 1 to `capacity`.
    std::uint32_t retry_cost = 5;
    /// Tokens a retry takes when the failed attempt timed out (`failure_kind::timeout`): a timeout is
    /// a stronger sign of an overloaded dependency. Allowed: 1 to `capacity`.
    std::uint32_t timeout_cost = 10;
    /// Tokens a call returns when it succeeds at its first attempt. (A call that succeeds after
    /// retries returns what its last retry took instead.) Allowed: 0 to `capacity`.
    std::uint32_t success_refund = 1;

    /// The first invalid field, or nullopt. Messages are static and name the field and its range.
    [[nodiscard]] constexpr std::optional<config_error> validate() const noexcept {
        if (capacity < 1 || capacity > 1'000'000) {
            return config_error{"retry_budget_options.capacity",
                                "retry_budget_options.capacity must be between 1 and 1000000"};
        }
        if (retry_cost < 1 || retry_cost > capacity) {
            return config_error{"retry_budget_options.retry_cost",
                                "retry_budget_options.retry_cost must be between 1 and capacity"};
        }
        if (timeout_cost < 1 || timeout_cost > capacity) {
            return config_error{"retry_budget_options.timeout_cost",
                                "retry_budget_options.timeout_cost must be between 1 and capacity"};
        }
        if (success_refund > capacity) {
            return config_error{"retry_budget_options.success_refund",
                                "retry_budget_options.success_refund must be between 0 and capacity"};
        }
        return std::nullopt;
    }
};

/// A token bucket shared by every call (and thread) that retries against one dependency: each retry
/// takes tokens, each success returns some. When it is empty, retries stop — the first attempt of
/// every call still runs, and retries that do run keep their full backoff. This is what bounds the
/// extra load a fleet of clients adds when a dependency fails (a "retry storm"): with a budget, retries
/// are at most a fraction of the successful traffic instead of a multiple of all traffic.
///
/// Usage: a long-lived object (a static in a Lambda handler, which outlives invocations), pointed to by
/// `retry_options::budget`: `static rs::retry_budget budget{}; ... rs::retry{{.budget = &budget}}`.
/// It is not refilled by time (that would need a timer); only successes refill it.
///
/// Preconditions: valid options (checked at construction: `std::invalid_argument` naming the field, or
/// abort without exceptions; call `retry_budget_options::validate()` first to handle it yourself).
/// Thread safety: every member is thread-safe and lock-free (one atomic counter, changed by
/// compare-and-swap so that it never goes below zero or above capacity). The operations use relaxed
/// memory ordering: the counter guards no other memory, and each read-modify-write is still atomic, so
/// the count is exact (no token is lost or created) and every thread sees one order of operations on it.
/// Non-copyable: it has identity. Time semantics: none; it reads no clock.
class retry_budget {
public:
    explicit retry_budget(const retry_budget_options& opts = {}) : opts_(opts), tokens_(opts.capacity) {
        detail::enforce(opts_.validate());
    }
    retry_budget(const retry_budget&) = delete;
    retry_budget& operator=(const retry_budget&) = delete;

    /// Takes `cost` tokens if that many are available; returns whether it did. Never blocks.
    bool try_acquire(std::uint32_t cost) noexcept {
        std::uint32_t cur = tokens_.load(std::memory_order_relaxed);
        do {
            if (cur < cost) return false;
        } while (!tokens_.compare_exchange_weak(cur, cur - cost, std::memory_order_relaxed));
        return true;
    }

    /// Returns `n` tokens, up to capacity (what would overflow is dropped).
    void refund(std::uint32_t n) noexcept {
        if (n == 0) return;
        const std::uint32_t cap = opts_.capacity;
        std::uint32_t cur = tokens_.load(std::memory_order_relaxed);
        std::uint32_t next = 0;
        do {
            if (cur >= cap) return;
            next = cap - cur < n ? cap : cur + n;
        } while (!tokens_.compare_exchange_weak(cur, next, std::memory_order_relaxed));
    }

    /// Tokens available now (a snapshot: other threads may change it at once).
    [[nodiscard]] std::uint32_t available() const noexcept { return tokens_.load(std::memory_order_relaxed); }
    /// Tokens when full.
    [[nodiscard]] std::uint32_t capacity() const noexcept { return opts_.capacity; }
    /// What a retry after a failure of kind `k` costs: `timeout_cost` for a timeout, else `retry_cost`.
    [[nodiscard]] std::uint32_t cost_of(failure_kind k) const noexcept {
        return k == failure_kind::timeout ? opts_.timeout_cost : opts_.retry_cost;
    }
    /// Refills the bucket (tests, or an operator's decision after an incident).
    void reset() noexcept { tokens_.store(opts_.capacity, std::memory_order_relaxed); }
    /// The options it was built with.
    [[nodiscard]] const retry_budget_options& options() const noexcept { return opts_; }

private:
    retry_budget_options opts_;
    std::atomic<std::uint32_t> tokens_;
};

// --- retry ----------------------------------------------------------------------------------------

/// Configuration of a `retry`. An aggregate: `{.max_attempts = 4, .backoff = ...}` (fields in this order).
/// Validated when a `retry` is built (see `validate()`).
template <class Backoff = backoff>
struct retry_options {
    /// Attempts in all, the first included (so 3 = at most 2 retries). Allowed: 1 to 1000. Default 3:
    /// there is no unbounded setting.
    std::uint32_t max_attempts = 3;
    /// No attempt starts later than this after the call started; zero = no limit (the deadline and
    /// `max_attempts` still apply). Allowed: zero, or greater than zero and at most 24 hours. Measured
    /// on the composition's clock; when set, the start is read before the first attempt.
    duration max_duration = duration::zero();
    /// The delays between attempts. Default: `exponential_backoff{100ms, 5s, 2.0, full_jitter}`.
    Backoff backoff{};
    /// Whether a failure's `retry_after` hint (HTTP Retry-After, AWS throttling, ...) lengthens the
    /// delay before the next attempt. Hints from the library's own guards (`circuit_open`,
    /// `bulkhead_full`, `rate_limited`) are honoured either way: retrying before them is certain to be
    /// rejected again.
    bool honor_retry_after = true;
    /// The longest hint honoured: a hint beyond it ends the retries (the failure is returned) instead of
    /// sleeping that long. Allowed: greater than zero and at most 24 hours. Default 30 s.
    duration max_retry_after = std::chrono::seconds(30);
    /// A budget shared with other calls (see `retry_budget`), or null for none. Must outlive every call.
    retry_budget* budget = nullptr;

    /// The first invalid field (the backoff's included), or nullopt. Messages are static and name the
    /// field and its range.
    [[nodiscard]] constexpr std::optional<config_error> validate() const noexcept {
        if (max_attempts < 1 || max_attempts > 1000) {
            return config_error{"retry_options.max_attempts", "retry_options.max_attempts must be between 1 and 1000"};
        }
        if (max_duration < duration::zero() || max_duration > max_backoff_delay) {
            return config_error{"retry_options.max_duration",
                                "retry_options.max_duration must be zero (no limit) or greater than zero and at "
                                "most 24 hours"};
        }
        if (max_retry_after <= duration::zero() || max_retry_after > max_backoff_delay) {
            return config_error{"retry_options.max_retry_after",
                                "retry_options.max_retry_after must be greater than zero and at most 24 hours"};
        }
        return validate_backoff(backoff);
    }
};

/// Retries transient failures of the layers inside it (see the file comment for the algorithm).
///
/// - `Backoff`: a `backoff_strategy` (default `backoff`, which holds any built-in backoff).
/// - `Classifier`: decides what is retried (default `default_classifier`; see classify.hpp:
///   `classify_values`, `classify_exceptions`, `classify_kinds`).
/// - `Random`: the jitter's `std::uniform_random_bit_generator` (default `thread_random`; tests pass
///   `seeded_random{seed}`). Copied at the start of every call.
///
/// \code
///   rs::retry{}                                                   // 3 attempts, default backoff
///   rs::retry{{.max_attempts = 4, .backoff = rs::constant_backoff{100ms}}}
///   rs::retry{opts, rs::classify_values{[](const response& r) { return rs::http_status_verdict(r.status); }}}
///   rs::retry{opts, rs::default_classifier{}, rs::seeded_random{42}}
///   rs::retry{rs::retry_options<my_backoff>{.max_attempts = 5}}  // a custom backoff
/// \endcode
///
/// Preconditions: valid options (checked at construction: `std::invalid_argument` naming the field, or
/// abort without exceptions; `make_retry` returns a `result` instead).
/// Thread safety: immutable after construction; `execute` may run concurrently on any number of threads
/// (each call has its own backoff state and generator copy; the budget is thread-safe).
/// Time semantics: sleeps through the composition's clock (`manual_clock` in tests: no real time
/// passes); reads the clock only after a failure (or once up front when `max_duration` is set).
/// Costs: no allocation, no lock, no thread; a first attempt that succeeds costs a classification (and
/// one atomic add when there is a budget).
template <class Backoff = backoff, class Classifier = default_classifier, class Random = thread_random>
class retry {
    static_assert(std::uniform_random_bit_generator<Random>,
                  "resilience::retry: Random must satisfy std::uniform_random_bit_generator (e.g. "
                  "resilience::thread_random or resilience::seeded_random)");
    static_assert(backoff_strategy<Backoff, Random>,
                  "resilience::retry: Backoff must satisfy resilience::backoff_strategy: a copyable type with a "
                  "const member next_delay(n, rng, state), next_delay(n, rng) or next_delay(n) returning a "
                  "duration (see resilience/backoff.hpp)");

public:
    using options_type = retry_options<Backoff>;
    using backoff_type = Backoff;
    using classifier_type = Classifier;
    using random_type = Random;

    /// Builds the policy; validates `opts` (see `retry_options::validate`).
    explicit retry(retry_options<Backoff> opts = {}, Classifier classifier = {}, Random random = {})
        : opts_(std::move(opts)), classifier_(std::move(classifier)), random_(std::move(random)) {
        detail::enforce(opts_.validate());
    }

    /// The options.
    [[nodiscard]] const retry_options<Backoff>& options() const noexcept { return opts_; }
    /// The classifier.
    [[nodiscard]] const Classifier& classifier() const noexcept { return classifier_; }
    /// The generator every call starts from.
    [[nodiscard]] const Random& random() const noexcept { return random_; }

    /// Runs the inner layers until success, a permanent failure, or a reason to stop (see the file
    /// comment). Returns exactly what `next` returns.
    template <class Ctx, class Next>
    auto execute(Ctx& ctx, Next&& next) const -> std::invoke_result_t<Next&, Ctx&> {
        using R = std::invoke_result_t<Next&, Ctx&>;
        using T = typename R::value_type;
        static_assert(classifier_for<Classifier, T>,
                      "resilience::retry: the classifier cannot classify this call's result<T>: it must be callable "
                      "as c(const resilience::result<T>&) and return resilience::verdict (see "
                      "resilience/classify.hpp)");

        backoff_state_t<Backoff> state{};
        Random rng = random_;
        // Tokens the last retry took: what a success after retries returns to the budget.
        std::uint32_t charged = 0;
        if (opts_.max_duration > duration::zero()) (void)ctx.start();  // fix the start before attempt 1

        Ctx first = ctx;
        first.attempt = 1;
        R r = next(first);
        for (std::uint32_t n = 1;; ++n) {
            const verdict v = apply_classifier(classifier_, r);
            if (v == verdict::success) {
                if (opts_.budget != nullptr) {
                    opts_.budget->refund(charged != 0 ? charged : opts_.budget->options().success_refund);
                }
                return r;
            }
            if (v == verdict::permanent || n >= opts_.max_attempts) {
                give_up(ctx, r, n);
                return r;
            }

            const failure& f = r.error();
            duration delay = backoff_delay(opts_.backoff, n, rng, state);
            if (f.retry_after > duration::zero() && (opts_.honor_retry_after || is_rejection(f.kind))) {
                // Sleeping longer than the caller allowed is not ours to decide: stop instead.
                if (f.retry_after > opts_.max_retry_after) {
                    give_up(ctx, r, n);
                    return r;
                }
                delay = std::max<duration>(delay, f.retry_after);
            }

            const time_point now = ctx.now();
            // The next attempt would start at now + delay; at or after the deadline it could not run.
            if (ctx.deadline != no_deadline && delay >= ctx.deadline - now) {
                r.fail(r.error().relabelled(ctx.expiry_kind()));
                give_up(ctx, r, n);
                return r;
            }
            if (opts_.max_duration > duration::zero() && (now - ctx.start()) + delay > opts_.max_duration) {
                give_up(ctx, r, n);
                return r;
            }
            if (opts_.budget != nullptr) {
                const std::uint32_t cost = opts_.budget->cost_of(f.kind);
                if (!opts_.budget->try_acquire(cost)) {
                    if constexpr (Ctx::events_enabled) {
                        ctx.emit({.type = event_type::budget_exhausted, .policy = "retry", .at = now,
                                  .attempt = n, .kind = f.kind, .error = &f});
                    }
                    give_up(ctx, r, n);
                    return r;
                }
                charged = cost;
            }
            if constexpr (Ctx::events_enabled) {
                ctx.emit({.type = event_type::retry_scheduled, .policy = "retry", .at = now, .attempt = n,
                          .kind = f.kind, .delay = delay, .error = &f});
            }
            const bool slept = delay > duration::zero() ? ctx.clock->sleep_until(now + delay, ctx.stop_token())
                                                        : !ctx.stop_requested();
            if (!slept) {
                r.fail(r.error().relabelled(failure_kind::cancelled));
                give_up(ctx, r, n);
                return r;
            }

            Ctx inner = ctx;
            inner.attempt = n + 1;
            const std::uint32_t ran_before = ctx.state->attempts;
            R again = next(inner);
            // When a layer inside refuses the next attempt for lack of time (a timeout's `min_remaining`,
            // a bulkhead or rate-limiter wait that expires, the composition's own check after a sleep
            // that overshot), the refusal carries nothing about the dependency: the last attempt that
            // ran is returned instead, relabelled with the refusal's kind (its cause, error, exception
            // and value kept). `r` stays alive across the backoff for this, so no optional is needed.
            if (ctx.state->attempts == ran_before && !again.has_value() &&
                (again.error().kind == failure_kind::timeout || again.error().kind == failure_kind::deadline_exceeded)) {
                failure g = r.error().relabelled(again.error().kind);
                g.hint = again.error().hint;  // the refusal knows whether trying again could help
                r.fail(std::move(g));
                give_up(ctx, r, n + 1);
                return r;
            }
            r = std::move(again);
        }
    }

private:
    /// Reports that retry returns the failure in `r`.
    template <class Ctx, class R>
    static void give_up(const Ctx& ctx, const R& r, std::uint32_t n) {
        if constexpr (Ctx::events_enabled) {
            ctx.emit({.type = event_type::retries_exhausted, .policy = "retry", .attempt = n,
                      .kind = r.error().kind, .error = &r.error()});
        } else {
            (void)ctx;
            (void)n;
        }
    }

    retry_options<Backoff> opts_;
    [[no_unique_address]] Classifier classifier_;
    [[no_unique_address]] Random random_;
};

retry() -> retry<>;
template <class B>
retry(retry_options<B>) -> retry<B>;
template <class B, class C>
retry(retry_options<B>, C) -> retry<B, C>;
template <class B, class C, class Random>
retry(retry_options<B>, C, Random) -> retry<B, C, Random>;

/// Builds a `retry` without throwing or aborting: a failure naming the invalid field (kind `error`,
/// error code `std::errc::invalid_argument`, hint permanent, `message` as in
/// `retry_options::validate`). For `-fno-exceptions` code that takes its configuration from outside:
/// `auto r = rs::make_retry({.max_attempts = n}); if (!r) log(r.error().message);`.
template <class Backoff = backoff, class Classifier = default_classifier, class Random = thread_random>
[[nodiscard]] result<retry<Backoff, Classifier, Random>> make_retry(retry_options<Backoff> opts = {},
                                                                     Classifier classifier = {}, Random random = {}) {
    if (auto e = opts.validate()) return detail::config_failure(*e);
    return result<retry<Backoff, Classifier, Random>>(
        retry<Backoff, Classifier, Random>(std::move(opts), std::move(classifier), std::move(random)));
}

}  // namespace resilience
