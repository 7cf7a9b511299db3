// SPDX-License-Identifier: MIT
#pragma once

/// \file circuit_breaker.hpp
/// `circuit_breaker`: stops calling a dependency that keeps failing, and lets a few probe calls through
/// after a while to find out whether it has recovered.
///
/// \code
///   static rs::circuit_breaker breaker{{.failure_threshold = 5, .open_duration = 30s}};
///   rs::resilient_call call{rs::retry{}, breaker, rs::timeout{500ms}};
/// \endcode
///
/// States (`circuit_state`):
/// - `closed`: calls run; outcomes are counted. A trip condition that holds moves it to `open`.
/// - `open`: calls are rejected at once with a `failure` of kind `circuit_open` whose `retry_after` is
///   the time left until a probe may run. Once the open duration has passed, the next call moves it to
///   `half_open` (lazily: there is no timer).
/// - `half_open`: exactly `half_open_probes` calls are admitted; the rest are rejected. When that many
///   probes have succeeded it closes; the first failed (or slow) probe re-opens it, for longer each
///   consecutive time when `open_duration_max` allows growth.
/// - `isolated`: forced open by `isolate()` until `reset()`; rejections carry the hint `permanent`.
///
/// Every transition starts a new *generation*. A permit remembers the generation it was issued in, and
/// an outcome reported under a permit from an older generation (a slow call that started before the
/// circuit opened, say) is counted in the metrics as `late` but never causes a transition.
///
/// Thread safety: every member function is thread-safe. Memory orderings (see also docs/circuit_breaker.md):
/// - the state and generation live in one atomic word. It is only written with the mutex held (store
///   `release`) and is read without the mutex (`acquire`), so a thread that sees a generation also sees
///   everything written before it was published: the cleared windows and counters of a new closed
///   generation, the `open_until` of a new open generation;
/// - closed state, the fast path: admission is one `acquire` load of that word; recording a success
///   (default configuration) is a per-thread striped count (a relaxed load and store on the thread's
///   own cache line, see detail/breaker_counters.hpp), the `acquire` load again, and a relaxed load of
///   the consecutive-failure count; failures and rate windows add `relaxed` read-modify-writes
///   (lock-free, see detail/breaker_window.hpp). No mutex, and no locked instruction on a success. These counters only trigger
///   a trip; the trip itself takes the mutex and checks that the generation has not changed, so a
///   stale view can delay or hasten a trip by the outcomes in flight, never cause a second one;
/// - open state: rejection reads the word and `open_until` (relaxed, ordered by the word's acquire)
///   without the mutex;
/// - the mutex guards transitions, half-open admission and the random generator. State-change events
///   are emitted after it is released, so a listener may call back into the breaker.
///
/// Time: intervals (open duration, slow calls, time windows) are measured on `Clock`, lazily, when
/// calls run. A breaker whose only trip condition is consecutive failures and that has no slow-call
/// detection reads no clock in the closed state.
///
/// Costs: no allocation after construction (a rate window allocates its slots once, at construction),
/// neither through `operator new` nor `malloc`, on a thread's first call included (its counter slot is
/// a trivially destructible `thread_local`, given back through a pthread key: see
/// detail/breaker_counters.hpp and docs/circuit_breaker.md for the two glibc caveats: a process with
/// more than 32 pthread keys, a breaker in a `dlopen`ed library); a rejection allocates nothing and
/// throws nothing.

#include "classify.hpp"
#include "clock.hpp"
#include "context.hpp"
#include "detail/breaker_counters.hpp"
#include "detail/breaker_window.hpp"
#include "detail/config.hpp"
#include "detail/validate.hpp"
#include "events.hpp"
#include "result.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <random>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>

namespace resilience {

/// The state of a circuit breaker.
enum class circuit_state : std::uint8_t {
    closed,     ///< calls run and their outcomes are counted
    open,       ///< calls are rejected until the open duration has passed
    half_open,  ///< a fixed number of probe calls run; the rest are rejected
    isolated,   ///< forced open by `isolate()` until `reset()`
};

/// Stable lower-case name of a state, as used in `state_changed` events.
[[nodiscard]] constexpr std::string_view to_string(circuit_state s) noexcept {
    switch (s) {
        case circuit_state::closed: return "closed";
        case circuit_state::open: return "open";
        case circuit_state::half_open: return "half_open";
        case circuit_state::isolated: return "isolated";
    }
    return "unknown";
}

/// How a breaker counts the outcomes from which failure and slow-call rates are computed. Build it with
/// `breaker_window::count(n)` or `breaker_window::time(length, buckets)`.
struct breaker_window {
    enum class kind_type : std::uint8_t {
        count,  ///< the last `size` outcomes
        time,   ///< the outcomes of the last `length`, in `buckets` buckets
    };
    kind_type kind = kind_type::count;
    /// Count window: the number of outcomes remembered (1 to 65536).
    std::uint32_t size = 100;
    /// Time window: the number of buckets (1 to 1000). The window slides by one bucket at a time.
    /// A bucket counts at most 2,031,615 outcomes (21-bit counts packed in one word so that recording
    /// is one `fetch_add`); outcomes recorded in a full bucket are not counted, so its rates are those
    /// of its first ~2 million outcomes. With the defaults (60 s / 10) that takes over ~340,000 calls a
    /// second through one breaker: use more buckets (narrower ones) for more.
    std::uint32_t buckets = 10;
    /// Time window: the span covered (positive, at least one nanosecond per bucket).
    duration length = std::chrono::seconds(60);

    /// The last `outcomes` outcomes.
    [[nodiscard]] static constexpr breaker_window count(std::uint32_t outcomes) noexcept {
        breaker_window w;
        w.kind = kind_type::count;
        w.size = outcomes;
        return w;
    }
    /// The outcomes of the last `span`, kept in `n` buckets.
    [[nodiscard]] static constexpr breaker_window time(duration span, std::uint32_t n = 10) noexcept {
        breaker_window w;
        w.kind = kind_type::time;
        w.length = span;
        w.buckets = n;
        return w;
    }
};

/// Configuration of a `circuit_breaker`. Every trip condition is optional and they combine (any one
/// trips the breaker); at least one must be enabled. Validated by the breaker's constructor
/// (`validate()` says what is wrong without throwing). See docs/circuit_breaker.md for a table.
struct circuit_breaker_options {
    /// Names the breaker in events. Must outlive the breaker (a string literal).
    std::string_view name{};
    /// Consecutive failures that trip the breaker (1 to 1000000); 0 disables this condition, which is
    /// allowed only when a rate threshold is set. The default condition: one Lambda environment sees one
    /// request at a time, so rate windows fill slowly there.
    std::uint32_t failure_threshold = 5;
    /// Failure rate in (0, 1] at or above which the breaker trips, over `window`, once the window holds
    /// at least `minimum_calls` outcomes. Unset: no failure-rate condition.
    std::optional<double> failure_rate_threshold{};
    /// Slow-call rate in (0, 1] at or above which the breaker trips, over `window`, once the window holds
    /// at least `minimum_calls` outcomes. Unset: no slow-call condition and no slow-call detection.
    std::optional<double> slow_call_rate_threshold{};
    /// A call that takes longer than this is slow (positive). Used only with `slow_call_rate_threshold`.
    duration slow_call_duration = std::chrono::seconds(60);
    /// The window over which rates are computed. Used only when a rate threshold is set.
    breaker_window window{};
    /// Outcomes the window must hold before a rate can trip the breaker (1 to 1000000; for a count
    /// window, values above its size act as its size).
    std::uint32_t minimum_calls = 10;
    /// How long the breaker stays open before admitting probes (positive, at most 24 hours).
    duration open_duration = std::chrono::seconds(30);
    /// Cap of the open duration when it grows on consecutive re-opens (each failed half-open period
    /// multiplies it by `open_backoff_multiplier`). 0, the default, means no growth; otherwise between
    /// `open_duration` and 24 hours.
    duration open_duration_max = duration::zero();
    /// Growth factor of the open duration per consecutive re-open (1 to 100). Used only when
    /// `open_duration_max` is set.
    double open_backoff_multiplier = 2.0;
    /// Random spread of each open duration, as a fraction in [0, 1): 0.1 makes it vary by up to ±10%,
    /// so that many environments opened by one outage do not all probe at the same instant. Applied
    /// after the cap (so a jittered duration may exceed `open_duration_max` by this fraction).
    double open_jitter = 0.0;
    /// Calls admitted in the half-open state, and successes needed to close (1 to 10000).
    std::uint32_t half_open_probes = 1;

    /// What is wrong with these options, or nullopt when they are valid. Messages name the field and
    /// the allowed range. Never throws, never allocates.
    [[nodiscard]] std::optional<config_error> validate() const noexcept {
        constexpr auto day = std::chrono::hours(24);
        const bool rates = failure_rate_threshold.has_value() || slow_call_rate_threshold.has_value();
        if (failure_threshold > 1'000'000) {
            return config_error{"circuit_breaker_options.failure_threshold",
                                "circuit_breaker_options.failure_threshold must be between 1 and 1000000 (or 0 to "
                                "disable it when a rate threshold is set)"};
        }
        if (failure_threshold == 0 && !rates) {
            return config_error{"circuit_breaker_options.failure_threshold",
                                "circuit_breaker_options.failure_threshold must be between 1 and 1000000 unless "
                                "failure_rate_threshold or slow_call_rate_threshold is set (0 would leave no trip "
                                "condition)"};
        }
        if (failure_rate_threshold && !(*failure_rate_threshold > 0.0 && *failure_rate_threshold <= 1.0)) {
            return config_error{"circuit_breaker_options.failure_rate_threshold",
                                "circuit_breaker_options.failure_rate_threshold must be in (0, 1] when set"};
        }
        if (slow_call_rate_threshold && !(*slow_call_rate_threshold > 0.0 && *slow_call_rate_threshold <= 1.0)) {
            return config_error{"circuit_breaker_options.slow_call_rate_threshold",
                                "circuit_breaker_options.slow_call_rate_threshold must be in (0, 1] when set"};
        }
        if (slow_call_duration <= duration::zero()) {
            return config_error{"circuit_breaker_options.slow_call_duration",
                                "circuit_breaker_options.slow_call_duration must be greater than zero"};
        }
        if (window.kind == breaker_window::kind_type::count) {
            if (window.size < 1 || window.size > 65536) {
                return config_error{"circuit_breaker_options.window.size",
                                    "circuit_breaker_options.window.size must be between 1 and 65536"};
            }
        } else if (window.kind == breaker_window::kind_type::time) {
            if (window.buckets < 1 || window.buckets > 1000) {
                return config_error{"circuit_breaker_options.window.buckets",
                                    "circuit_breaker_options.window.buckets must be between 1 and 1000"};
            }
            if (window.length <= duration::zero() || window.length.count() < std::int64_t{window.buckets}) {
                return config_error{"circuit_breaker_options.window.length",
                                    "circuit_breaker_options.window.length must be greater than zero (at least one "
                                    "nanosecond per bucket)"};
            }
        } else {
            return config_error{"circuit_breaker_options.window.kind",
                                "circuit_breaker_options.window.kind must be breaker_window::kind_type::count or "
                                "breaker_window::kind_type::time"};
        }
        if (minimum_calls < 1 || minimum_calls > 1'000'000) {
            return config_error{"circuit_breaker_options.minimum_calls",
                                "circuit_breaker_options.minimum_calls must be between 1 and 1000000"};
        }
        if (open_duration <= duration::zero() || open_duration > day) {
            return config_error{"circuit_breaker_options.open_duration",
                                "circuit_breaker_options.open_duration must be greater than zero and at most 24 hours"};
        }
        if (open_duration_max != duration::zero() && (open_duration_max < open_duration || open_duration_max > day)) {
            return config_error{"circuit_breaker_options.open_duration_max",
                                "circuit_breaker_options.open_duration_max must be 0 (no growth) or between "
                                "open_duration and 24 hours"};
        }
        if (!(open_backoff_multiplier >= 1.0 && open_backoff_multiplier <= 100.0)) {
            return config_error{"circuit_breaker_options.open_backoff_multiplier",
                                "circuit_breaker_options.open_backoff_multiplier must be between 1 and 100"};
        }
        if (!(open_jitter >= 0.0 && open_jitter < 1.0)) {
            return config_error{"circuit_breaker_options.open_jitter",
                                "circuit_breaker_options.open_jitter must be in [0, 1)"};
        }
        if (half_open_probes < 1 || half_open_probes > 10'000) {
            return config_error{"circuit_breaker_options.half_open_probes",
                                "circuit_breaker_options.half_open_probes must be between 1 and 10000"};
        }
        return std::nullopt;
    }
};

/// How one call went, for the breaker's accounting.
enum class call_outcome : std::uint8_t {
    success,  ///< the dependency answered (including a permanent failure such as a 404)
    failure,  ///< the dependency failed (a transient failure)
    ignored,  ///< says nothing about the dependency (never reached, cancelled, out of the caller's time)
};

/// A snapshot of a breaker's state and counters. Counters are cumulative since construction (`reset()`
/// does not clear them); window counts and rates describe the current window (all zero when no rate
/// threshold is configured).
struct circuit_breaker_metrics {
    circuit_state state = circuit_state::closed;
    /// Incremented by every transition (including `isolate()` and `reset()`).
    std::uint64_t generation = 0;
    /// Time since the last transition (or construction).
    duration time_in_state{};
    /// Open: time left until a probe may run (0 once it may). Otherwise 0.
    duration retry_after{};
    /// The open duration chosen by the last transition to `open` (0 before the first).
    duration last_open_duration{};
    /// Outcomes recorded: each admitted call records exactly one of success, failure, ignored.
    std::uint64_t successes = 0;
    std::uint64_t failures = 0;
    std::uint64_t ignored = 0;
    /// Of the failures: permits dropped without an outcome (an exception, an abandoned call).
    std::uint64_t abandoned = 0;
    /// Of the successes and failures: calls slower than `slow_call_duration` (when detection is on).
    std::uint64_t slow_calls = 0;
    /// Of the successes and failures: outcomes from an older generation (ignored for transitions).
    std::uint64_t late = 0;
    /// Calls rejected without running.
    std::uint64_t rejected = 0;
    /// Transitions to `open` (trips and re-opens).
    std::uint64_t times_opened = 0;
    /// Consecutive failures counted towards `failure_threshold` (closed state).
    std::uint32_t consecutive_failures = 0;
    /// The current window: outcomes, failures among them, slow calls among them.
    std::uint32_t window_calls = 0;
    std::uint32_t window_failures = 0;
    std::uint32_t window_slow_calls = 0;
    /// `window_failures / window_calls` and `window_slow_calls / window_calls` (0 for an empty window).
    double failure_rate = 0.0;
    double slow_call_rate = 0.0;
    /// Half-open: probes admitted in this generation (released probes excluded), and probes that succeeded.
    std::uint32_t probes_admitted = 0;
    std::uint32_t probes_succeeded = 0;
};

namespace detail {

/// The breaker's default random source for open-duration jitter: splitmix64, seeded at construction
/// from the steady clock, the object's address and the thread, so that environments started together
/// still draw differently. Used under the breaker's mutex only.
class breaker_rng {
public:
    using result_type = std::uint64_t;
    breaker_rng() noexcept
        : state_(static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
                 (static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(this)) << 16) ^
                 static_cast<std::uint64_t>(std::hash<std::thread::id>{}(std::this_thread::get_id()))) {}
    explicit breaker_rng(std::uint64_t seed) noexcept : state_(seed) {}
    static constexpr result_type min() noexcept { return 0; }
    static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }
    result_type operator()() noexcept {
        std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }

private:
    std::uint64_t state_;
};

inline steady_clock breaker_steady_clock{};

}  // namespace detail

/// A circuit breaker (see the file comment for states, generations and memory orderings).
///
/// - `Clock`: what intervals are measured on (`steady_clock`, or `manual_clock` in tests). A composition
///   that lists the breaker adopts its clock.
/// - `Classifier`: which outcomes are failures of the dependency (see classify.hpp). A `transient`
///   verdict counts as a failure; `success` and `permanent` (the dependency answered: a 404, a validation
///   error) count as successes. Regardless of the classifier, a call that never reached the callable
///   (an inner bulkhead or rate limiter rejected it, the deadline passed first) and a failure of kind
///   `circuit_open`, `bulkhead_full`, `rate_limited`, `cancelled` or `deadline_exceeded` is ignored:
///   it says nothing about the dependency (put a per-attempt `timeout` inside the breaker to count
///   hangs: its `timeout` failures count). One exception: a half-open probe that ends in a `timeout` of
///   a budget set outside the breaker (the enclosing timeout or the caller's deadline ran out) is
///   inconclusive and ignored — the dependency was not given the time a probe needs — so that a retry
///   probing with the little budget it has left cannot re-open a healed breaker.
/// - `Random`: a uniform random bit generator for the open-duration jitter, called under the mutex.
///
/// Non-copyable and non-movable: it has identity, and compositions hold it by reference.
/// Preconditions: the clock (when given) outlives the breaker; `options.name` outlives it.
/// Thread safety: every member function may be called concurrently (see the file comment for how).
template <class Clock = steady_clock, class Classifier = default_classifier, class Random = detail::breaker_rng>
class circuit_breaker {
    static_assert(clock<Clock>, "resilience::circuit_breaker<Clock>: Clock must model resilience::clock");
    static_assert(std::uniform_random_bit_generator<Random>,
                  "resilience::circuit_breaker<..., Random>: Random must be a uniform random bit generator");

public:
    using clock_type = Clock;
    using classifier_type = Classifier;
    using random_type = Random;

    /// The right to run one call, issued by `try_acquire()`. Report how the call went with `record(...)`
    /// (or `record_success()`, `record_failure()`, `release()`); a permit destroyed without a report
    /// (an exception, a cancelled coroutine) is recorded as a failure, so a half-open breaker is never
    /// left waiting for a probe that will not report. Move-only; an empty (moved-from or reported)
    /// permit does nothing. Not thread-safe itself: one permit belongs to one call.
    class permit {
    public:
        /// Takes over `other`'s duty to report; `other` becomes empty.
        permit(permit&& other) noexcept
            : breaker_(std::exchange(other.breaker_, nullptr)), gen_(other.gen_), start_(other.start_),
              probe_(other.probe_) {}
        /// Reports this permit as abandoned (a failure) if it is still active, then takes over `other`.
        permit& operator=(permit&& other) noexcept {
            if (this != &other) {
                finish_abandoned();
                breaker_ = std::exchange(other.breaker_, nullptr);
                gen_ = other.gen_;
                start_ = other.start_;
                probe_ = other.probe_;
            }
            return *this;
        }
        permit(const permit&) = delete;
        permit& operator=(const permit&) = delete;
        /// An active permit records a failure (counted as `abandoned`).
        ~permit() { finish_abandoned(); }

        /// Reports the outcome (once; later reports are ignored). Reads the clock when slow-call
        /// detection or a time window is configured.
        void record(call_outcome o) noexcept {
            if (auto* b = std::exchange(breaker_, nullptr)) (void)b->finish(gen_, probe_, start_, o, false, [b] { return b->clock_->now(); });
        }
        /// `record(call_outcome::success)`: the dependency answered.
        void record_success() noexcept { record(call_outcome::success); }
        /// `record(call_outcome::failure)`: the dependency failed.
        void record_failure() noexcept { record(call_outcome::failure); }
        /// Reports that the call says nothing about the dependency (it did not reach it); a half-open
        /// probe slot is given back.
        void release() noexcept { record(call_outcome::ignored); }

        /// Classifies `r` with the breaker's classifier (a returned value classified as a failure turns
        /// `r` into a failure that keeps its value, as in a composition), reports the outcome and
        /// returns the verdict. On a permit that has already reported, classifies with
        /// `default_classifier` and reports nothing.
        template <class T>
        verdict record(result<T>& r) {
            static_assert(classifier_for<Classifier, T>,
                          "resilience::circuit_breaker: the Classifier cannot classify this result type");
            if (!breaker_) return default_classifier{}(std::as_const(r));
            const verdict v = apply_classifier(breaker_->classifier_, r);
            record(outcome_of(r, v));
            return v;
        }

        /// True until an outcome has been reported.
        [[nodiscard]] bool active() const noexcept { return breaker_ != nullptr; }
        /// The generation the permit was issued in.
        [[nodiscard]] std::uint64_t generation() const noexcept { return gen_; }
        /// True for a half-open probe.
        [[nodiscard]] bool is_probe() const noexcept { return probe_; }

    private:
        friend class circuit_breaker;
        permit(circuit_breaker* b, std::uint64_t gen, bool probe, time_point start) noexcept
            : breaker_(b), gen_(gen), start_(start), probe_(probe) {}
        void finish_abandoned() noexcept {
            if (auto* b = std::exchange(breaker_, nullptr)) (void)b->finish(gen_, probe_, start_, call_outcome::failure, true, [b] { return b->clock_->now(); });
        }

        circuit_breaker* breaker_;
        std::uint64_t gen_;
        time_point start_;
        bool probe_;
    };

    /// A breaker on the steady clock. Throws `std::invalid_argument` naming the field when `opts` is
    /// invalid (aborts with the message without exceptions: call `opts.validate()` first).
    explicit circuit_breaker(const circuit_breaker_options& opts = {})
        requires std::same_as<Clock, steady_clock>
        : circuit_breaker(opts, detail::breaker_steady_clock) {}

    /// A breaker on `clock` (which must outlive it), with an optional classifier and random source.
    circuit_breaker(const circuit_breaker_options& opts, Clock& clk, Classifier cls = Classifier{}, Random rng = Random{})
        : opts_(checked(opts)),
          clock_(&clk),
          classifier_(std::move(cls)),
          random_(std::move(rng)),
          consecutive_enabled_(opts_.failure_threshold != 0),
          slow_enabled_(opts_.slow_call_rate_threshold.has_value()),
          min_calls_(uses_count_window(opts_) ? std::min(opts_.minimum_calls, opts_.window.size) : opts_.minimum_calls),
          count_window_(uses_count_window(opts_) ? opts_.window.size : 0U),
          time_window_(uses_time_window(opts_) ? opts_.window.buckets : 0U, opts_.window.length, clock_->now()),
          plain_(!uses_rates(opts_)),
          state_since_(clock_->now()) {}

    circuit_breaker(const circuit_breaker&) = delete;
    circuit_breaker& operator=(const circuit_breaker&) = delete;
    circuit_breaker(circuit_breaker&&) = delete;
    circuit_breaker& operator=(circuit_breaker&&) = delete;
    ~circuit_breaker() = default;

    /// The clock the breaker measures on; compositions that list the breaker adopt it.
    [[nodiscard]] Clock& clock() const noexcept { return *clock_; }
    /// The options it was built with.
    [[nodiscard]] const circuit_breaker_options& options() const noexcept { return opts_; }
    /// The instance name (`options().name`).
    [[nodiscard]] std::string_view name() const noexcept { return opts_.name; }

    /// The current state, as stored: an open circuit whose open duration has passed reads `open` until
    /// the next call moves it to `half_open`. Lock-free.
    [[nodiscard]] circuit_state state() const noexcept { return state_of(word_.load(std::memory_order_acquire)); }

    /// Asks for a permit without a composition. On rejection returns a `circuit_open` failure with
    /// `retry_after` (see `execute`). Never blocks for long: closed state is lock-free; other states take
    /// the mutex briefly. No events are emitted (there is no listener here): watch `metrics()`.
    [[nodiscard]] result<permit> try_acquire() noexcept {
        admission a = admit([this] { return clock_->now(); });
        if (!a.admitted) return a.rejection();
        return permit(this, a.gen, a.probe, a.start);
    }

    /// The policy: admits or rejects the call, runs the layers inside, classifies and records the
    /// outcome. Rejections are returned as a failure of kind `circuit_open` (message "the circuit is
    /// open", "the circuit is half-open and every probe is in flight" or "the circuit is isolated"),
    /// with `retry_after` = the time until a probe may run when the circuit is open, zero otherwise; an
    /// isolated circuit's rejection has the hint `permanent` (retrying cannot help until `reset()`).
    /// Emits `rejected` (kind `circuit_open`, delay = retry_after) and `state_changed` events, outside
    /// any lock.
    template <class Ctx, class Next>
    auto execute(Ctx& ctx, Next&& next) -> std::invoke_result_t<Next&, Ctx&> {
        using R = std::invoke_result_t<Next&, Ctx&>;
        static_assert(classifier_for<Classifier, typename R::value_type>,
                      "resilience::circuit_breaker: the Classifier cannot classify this call's result type");
        // The breaker's own clock, not `ctx.now()`: fixing the call's start would make the composition
        // read the clock once more for `failure::elapsed` of every rejection (a clock read costs more
        // than the rest of a rejection). Compositions adopt the breaker's clock, so both agree.
        auto now_fn = [this] { return clock_->now(); };
        const admission a = admit(now_fn);
        emit_change(ctx, a.change);
        // Two functions, each with one kind of return, so that the result is never copied (NRVO).
        if (!a.admitted) [[unlikely]] return rejected_result<R>(ctx, a);
        return run_admitted<R>(ctx, next, a, now_fn);
    }

    /// Forces the circuit open (`isolated`) until `reset()`: every call is rejected. Starts a new
    /// generation (outcomes of calls in flight are ignored). Thread-safe.
    void isolate() {
        std::lock_guard lock(mutex_);
        if (state_of(word_.load(std::memory_order_relaxed)) != circuit_state::isolated) {
            (void)transition_locked(circuit_state::isolated, clock_->now());
        }
    }

    /// Closes the circuit from any state, with an empty window, no consecutive failures and the open
    /// duration back to its base. Starts a new generation. Cumulative metrics are kept. Thread-safe.
    void reset() {
        std::lock_guard lock(mutex_);
        (void)transition_locked(circuit_state::closed, clock_->now());
    }

    /// A snapshot of the state and counters. Takes the mutex briefly (not for hot paths). Counters read
    /// while calls run may be mutually inconsistent by the calls in flight.
    [[nodiscard]] circuit_breaker_metrics metrics() {
        circuit_breaker_metrics m;
        const time_point now = clock_->now();
        {
            std::lock_guard lock(mutex_);
            const std::uint64_t w = word_.load(std::memory_order_relaxed);
            m.state = state_of(w);
            m.generation = gen_of(w);
            // A transition may stamp a time read just before ours: never report a negative duration.
            m.time_in_state = now > state_since_ ? now - state_since_ : duration::zero();
            m.last_open_duration = last_open_duration_;
            m.times_opened = times_opened_;
            if (m.state == circuit_state::open) {
                const time_point until = open_until();
                m.retry_after = until > now ? until - now : duration::zero();
            }
            if (m.state == circuit_state::half_open) {
                m.probes_admitted = probes_admitted_;
                m.probes_succeeded = probes_succeeded_;
            }
        }
        m.successes = hot_.successes();
        m.failures = failures_.load(std::memory_order_relaxed);
        m.ignored = ignored_.load(std::memory_order_relaxed);
        m.abandoned = abandoned_.load(std::memory_order_relaxed);
        m.slow_calls = slow_.load(std::memory_order_relaxed);
        m.late = late_.load(std::memory_order_relaxed);
        m.rejected = hot_.rejections();
        m.consecutive_failures = consecutive_.load(std::memory_order_relaxed);
        const detail::breaker_window_counts c = window_counts(now);
        m.window_calls = c.calls;
        m.window_failures = c.failures;
        m.window_slow_calls = c.slow;
        if (c.calls > 0) {
            m.failure_rate = static_cast<double>(c.failures) / static_cast<double>(c.calls);
            m.slow_call_rate = static_cast<double>(c.slow) / static_cast<double>(c.calls);
        }
        return m;
    }

private:
    struct state_change {
        bool happened = false;
        circuit_state from = circuit_state::closed;
        circuit_state to = circuit_state::closed;
        time_point at{};
    };

    struct admission {
        bool admitted = false;
        bool probe = false;
        std::uint64_t gen = 0;
        time_point start{};
        duration retry_after{};
        circuit_state state = circuit_state::closed;
        state_change change{};

        [[nodiscard]] failure rejection() const noexcept {
            failure f = failure::of(failure_kind::circuit_open,
                                    state == circuit_state::open        ? std::string_view("the circuit is open")
                                    : state == circuit_state::isolated ? std::string_view("the circuit is isolated")
                                                                       : std::string_view("the circuit is half-open and every probe is in flight"));
            f.retry_after = retry_after;
            if (state == circuit_state::isolated) f.hint = transience::permanent;
            return f;
        }
    };

    static constexpr std::uint64_t make_word(std::uint64_t gen, circuit_state s) noexcept {
        return (gen << 2) | static_cast<std::uint64_t>(s);
    }
    static constexpr circuit_state state_of(std::uint64_t w) noexcept { return static_cast<circuit_state>(w & 3U); }
    static constexpr std::uint64_t gen_of(std::uint64_t w) noexcept { return w >> 2; }

    static bool uses_rates(const circuit_breaker_options& o) noexcept {
        return o.failure_rate_threshold.has_value() || o.slow_call_rate_threshold.has_value();
    }
    static bool uses_count_window(const circuit_breaker_options& o) noexcept {
        return uses_rates(o) && o.window.kind == breaker_window::kind_type::count;
    }
    static bool uses_time_window(const circuit_breaker_options& o) noexcept {
        return uses_rates(o) && o.window.kind == breaker_window::kind_type::time;
    }

    static const circuit_breaker_options& checked(const circuit_breaker_options& o) {
        detail::enforce(o.validate());
        return o;
    }

    template <class T>
    static call_outcome outcome_of(const result<T>& r, verdict v) noexcept {
        if (!r.has_value()) {
            const failure_kind k = r.error().kind;
            if (is_rejection(k) || k == failure_kind::cancelled || k == failure_kind::deadline_exceeded) {
                return call_outcome::ignored;
            }
        }
        return v == verdict::transient ? call_outcome::failure : call_outcome::success;
    }

    template <class Ctx>
    void emit_change(Ctx& ctx, const state_change& c) const {
        if constexpr (Ctx::events_enabled) {
            if (c.happened) {
                ctx.emit(event{.type = event_type::state_changed, .policy = "circuit_breaker", .name = opts_.name,
                               .at = c.at, .from = to_string(c.from), .to = to_string(c.to)});
            }
        } else {
            (void)ctx;
            (void)c;
        }
    }

    [[nodiscard]] time_point open_until() const noexcept {
        return time_point{duration{open_until_ns_.load(std::memory_order_relaxed)}};
    }

    template <class R, class Ctx>
    R rejected_result(Ctx& ctx, const admission& a) const {
        failure f = a.rejection();
        if constexpr (Ctx::events_enabled) {
            ctx.emit(event{.type = event_type::rejected, .policy = "circuit_breaker", .name = opts_.name,
                           .kind = failure_kind::circuit_open, .delay = f.retry_after, .error = &f});
        }
        return R(std::move(f));
    }

    template <class R, class Ctx, class Next, class NowFn>
    R run_admitted(Ctx& ctx, Next& next, const admission& a, NowFn& now_fn) {
        permit p(this, a.gen, a.probe, a.start);  // records a failure if `next` throws
        const std::uint32_t attempts_before = ctx.state->attempts;
        R r = std::invoke(next, ctx);
        const verdict v = apply_classifier(classifier_, r);
        call_outcome o = ctx.state->attempts == attempts_before ? call_outcome::ignored : outcome_of(r, v);
        if (a.probe && o == call_outcome::failure && !r.has_value() && r.error().kind == failure_kind::timeout &&
            ctx.deadline != no_deadline && now_fn() >= ctx.deadline) [[unlikely]] {
            // An inconclusive probe: the budget that ran out was set outside the breaker (an enclosing
            // timeout or the caller's deadline), so the dependency was not given the time a probe needs.
            // A retry that waits out the open period probes with whatever budget is left; counting such
            // a probe re-opened a healed breaker again and again. The probe is released without a
            // verdict and the next call probes. (In the closed state such a timeout still counts: a
            // dependency too slow for the budget it gets is failing its callers.)
            o = call_outcome::ignored;
        }
        p.breaker_ = nullptr;
        const state_change c = finish(a.gen, a.probe, a.start, o, false, now_fn);
        emit_change(ctx, c);
        return r;
    }

    /// The closed state's fast path, inline: one acquire load (and a clock read with slow-call detection).
    template <class NowFn>
    admission admit(NowFn&& now_fn) noexcept {
        const std::uint64_t w = word_.load(std::memory_order_acquire);
        if (state_of(w) == circuit_state::closed) [[likely]] {
            admission a;
            a.admitted = true;
            a.gen = gen_of(w);
            if (slow_enabled_) a.start = now_fn();
            return a;
        }
        return admit_slow(w, now_fn());
    }

    /// Every other state (kept out of line, so the fast path stays small).
    admission admit_slow(std::uint64_t w, time_point now) noexcept {
        admission a;
        if (state_of(w) == circuit_state::isolated) return reject(a, circuit_state::isolated, duration::zero());
        if (state_of(w) == circuit_state::open) {
            // Lock-free rejection while the open duration runs: an open breaker under load costs no
            // contention. `open_until` was stored before the word was published (release/acquire).
            const time_point until = open_until();
            if (now < until) return reject(a, circuit_state::open, until - now);
        }
        std::lock_guard lock(mutex_);
        w = word_.load(std::memory_order_relaxed);  // written only under the mutex
        switch (state_of(w)) {
            case circuit_state::closed:
                a.admitted = true;
                a.gen = gen_of(w);
                a.start = now;
                return a;
            case circuit_state::isolated: return reject(a, circuit_state::isolated, duration::zero());
            case circuit_state::open: {
                const time_point until = open_until();
                if (now < until) return reject(a, circuit_state::open, until - now);
                a.change = transition_locked(circuit_state::half_open, now);
                w = word_.load(std::memory_order_relaxed);
                break;
            }
            case circuit_state::half_open: break;
        }
        if (probes_admitted_ >= opts_.half_open_probes) return reject(a, circuit_state::half_open, duration::zero());
        ++probes_admitted_;
        a.admitted = true;
        a.probe = true;
        a.gen = gen_of(w);
        a.start = now;
        return a;
    }

    admission& reject(admission& a, circuit_state s, duration retry_after) noexcept {
        hot_.add_rejection();
        a.admitted = false;
        a.state = s;
        a.retry_after = retry_after;
        return a;
    }

    /// Records one outcome of a permit of generation `gen`. Returns the transition it caused, if any.
    template <class NowFn>
    state_change finish(std::uint64_t gen, bool probe, time_point start, call_outcome o, bool abandoned,
                        NowFn&& now_fn) noexcept {
        if (o == call_outcome::success && !probe && plain_) [[likely]] {
            // The default configuration's closed-state success: a striped count, two loads, and a
            // store only when a failure run is to be broken.
            hot_.add_success();
            if (gen_of(word_.load(std::memory_order_acquire)) != gen) {
                late_.fetch_add(1, std::memory_order_relaxed);
            } else if (consecutive_.load(std::memory_order_relaxed) != 0) {
                consecutive_.store(0, std::memory_order_relaxed);
            }
            return {};
        }
        if (o == call_outcome::ignored) {
            ignored_.fetch_add(1, std::memory_order_relaxed);
            if (probe) release_probe(gen);
            return {};
        }
        const bool failed = o == call_outcome::failure;
        if (failed) {
            failures_.fetch_add(1, std::memory_order_relaxed);
        } else {
            hot_.add_success();
        }
        if (abandoned) abandoned_.fetch_add(1, std::memory_order_relaxed);
        time_point now{};
        bool have_now = false;
        bool slow = false;
        if (slow_enabled_ || time_window_.enabled()) {
            now = now_fn();
            have_now = true;
            if (slow_enabled_ && now - start > opts_.slow_call_duration) {
                slow = true;
                slow_.fetch_add(1, std::memory_order_relaxed);
            }
        }
        const std::uint64_t w = word_.load(std::memory_order_acquire);
        if (gen_of(w) != gen) {
            late_.fetch_add(1, std::memory_order_relaxed);
            return {};
        }
        if (!probe) {
            bool trip = false;
            if (consecutive_enabled_) {
                if (failed) {
                    trip = consecutive_.fetch_add(1, std::memory_order_relaxed) + 1 >= opts_.failure_threshold;
                } else if (consecutive_.load(std::memory_order_relaxed) != 0) {
                    // Load first: a run of successes then costs no write to a shared cache line.
                    consecutive_.store(0, std::memory_order_relaxed);
                }
            }
            if (count_window_.enabled()) {
                count_window_.record(failed, slow);
                trip = trip || rate_exceeded(count_window_.counts());
            } else if (time_window_.enabled()) {
                time_window_.record(now, failed, slow);
                trip = trip || rate_exceeded(time_window_.counts(now));
            }
            if (!trip) return {};
            if (!have_now) now = now_fn();
            std::lock_guard lock(mutex_);
            // Only the generation whose outcomes tripped it may open it: a racing trip or reset wins.
            if (word_.load(std::memory_order_relaxed) != make_word(gen, circuit_state::closed)) return {};
            return transition_locked(circuit_state::open, now);
        }
        if (!have_now) now = now_fn();
        std::lock_guard lock(mutex_);
        if (word_.load(std::memory_order_relaxed) != make_word(gen, circuit_state::half_open)) {
            late_.fetch_add(1, std::memory_order_relaxed);
            return {};
        }
        if (failed || slow) return transition_locked(circuit_state::open, now);
        if (++probes_succeeded_ >= opts_.half_open_probes) return transition_locked(circuit_state::closed, now);
        return {};
    }

    void release_probe(std::uint64_t gen) noexcept {
        std::lock_guard lock(mutex_);
        if (word_.load(std::memory_order_relaxed) == make_word(gen, circuit_state::half_open) && probes_admitted_ > 0) {
            --probes_admitted_;
        }
    }

    [[nodiscard]] bool rate_exceeded(const detail::breaker_window_counts& c) const noexcept {
        if (c.calls == 0 || c.calls < min_calls_) return false;
        const double calls = static_cast<double>(c.calls);
        if (opts_.failure_rate_threshold && static_cast<double>(c.failures) / calls >= *opts_.failure_rate_threshold) {
            return true;
        }
        if (opts_.slow_call_rate_threshold && static_cast<double>(c.slow) / calls >= *opts_.slow_call_rate_threshold) {
            return true;
        }
        return false;
    }

    detail::breaker_window_counts window_counts(time_point now) noexcept {
        if (count_window_.enabled()) return count_window_.counts();
        if (time_window_.enabled()) return time_window_.counts(now);
        return {};
    }

    /// The open duration after `reopens` consecutive re-opens: grown, capped, then jittered.
    duration next_open_duration(std::uint32_t reopens) {
        double d = static_cast<double>(opts_.open_duration.count());
        if (opts_.open_duration_max > opts_.open_duration && reopens > 0) {
            const double cap = static_cast<double>(opts_.open_duration_max.count());
            d *= std::pow(opts_.open_backoff_multiplier, static_cast<double>(reopens));
            if (!(d < cap)) d = cap;  // also catches an infinite power
        }
        if (opts_.open_jitter > 0.0) {
            double u = std::generate_canonical<double, std::numeric_limits<double>::digits>(random_);
            if (!(u < 1.0)) u = std::nextafter(1.0, 0.0);  // some library versions can return 1.0
            d *= 1.0 + opts_.open_jitter * (2.0 * u - 1.0);
        }
        if (d < 1.0) d = 1.0;
        return duration{static_cast<duration::rep>(d)};
    }

    /// Moves to `to`, starting a new generation. Caller holds the mutex.
    state_change transition_locked(circuit_state to, time_point now) {
        const std::uint64_t w = word_.load(std::memory_order_relaxed);
        const circuit_state from = state_of(w);
        switch (to) {
            case circuit_state::open: {
                consecutive_opens_ = from == circuit_state::half_open ? consecutive_opens_ + 1 : 0;
                last_open_duration_ = next_open_duration(consecutive_opens_);
                open_until_ns_.store((now + last_open_duration_).time_since_epoch().count(), std::memory_order_relaxed);
                ++times_opened_;
                break;
            }
            case circuit_state::half_open:
                probes_admitted_ = 0;
                probes_succeeded_ = 0;
                break;
            case circuit_state::closed:
                consecutive_opens_ = 0;
                consecutive_.store(0, std::memory_order_relaxed);
                count_window_.clear();
                time_window_.clear();
                break;
            case circuit_state::isolated: break;
        }
        state_since_ = now;
        // Publishes everything above to threads that acquire-load the word.
        word_.store(make_word(gen_of(w) + 1, to), std::memory_order_release);
        return {true, from, to, now};
    }

    circuit_breaker_options opts_;
    Clock* clock_;
    [[no_unique_address]] Classifier classifier_;
    Random random_;  // guarded by mutex_
    bool consecutive_enabled_;
    bool slow_enabled_;
    std::uint32_t min_calls_;
    detail::breaker_count_window count_window_;
    detail::breaker_time_window time_window_;
    /// No rate window and no slow-call detection: successes take the shortest path.
    bool plain_;

    // Hot, read by every call: the state and generation. Kept apart from the counters that every call
    // writes, so that reading it does not bounce their cache line.
    alignas(64) std::atomic<std::uint64_t> word_{make_word(0, circuit_state::closed)};
    std::atomic<std::int64_t> open_until_ns_{0};

    // Bumped by every success and every rejection: striped per thread, no locked RMW (see
    // detail/breaker_counters.hpp).
    detail::breaker_hot_counters hot_;

    alignas(64) std::atomic<std::uint32_t> consecutive_{0};
    std::atomic<std::uint64_t> failures_{0};
    std::atomic<std::uint64_t> ignored_{0};
    std::atomic<std::uint64_t> abandoned_{0};
    std::atomic<std::uint64_t> slow_{0};
    std::atomic<std::uint64_t> late_{0};

    // Guarded by mutex_.
    alignas(64) mutable std::mutex mutex_;
    std::uint32_t probes_admitted_ = 0;
    std::uint32_t probes_succeeded_ = 0;
    std::uint32_t consecutive_opens_ = 0;
    std::uint64_t times_opened_ = 0;
    time_point state_since_{};
    duration last_open_duration_{};
};

circuit_breaker() -> circuit_breaker<>;
circuit_breaker(const circuit_breaker_options&) -> circuit_breaker<>;
template <class C>
circuit_breaker(const circuit_breaker_options&, C&) -> circuit_breaker<C>;
template <class C, class Cl>
circuit_breaker(const circuit_breaker_options&, C&, Cl) -> circuit_breaker<C, Cl>;
template <class C, class Cl, class R>
circuit_breaker(const circuit_breaker_options&, C&, Cl, R) -> circuit_breaker<C, Cl, R>;

}  // namespace resilience
