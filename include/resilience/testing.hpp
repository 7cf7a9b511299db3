// SPDX-License-Identifier: MIT
#pragma once

/// \file testing.hpp
/// The testing kit: deterministic tests of compositions and of custom policies, on virtual time.
///
/// - `manual_clock` (re-exported from clock.hpp): time moves only when the test says so, and a
///   policy's sleep advances it at once, so a test with a 30 s backoff runs in microseconds.
/// - `script<T>`: a scripted callable — a sequence of outcomes (values, failures, error codes,
///   exceptions) with latencies on the manual clock — that records what each invocation saw.
/// - `recording_listener`: keeps an owned copy of every event, for assertions.
/// - `harness`: a manual clock and a recording listener, plus `compose(policies...)` that builds a
///   `resilient_call` on them, so a test of a custom policy takes a few lines.
///
/// docs/testing.md is a short guide. These types allocate (they keep records); they are for tests and
/// simulations, not for production paths. Standard library only.
///
/// \code
///   rs::testing::harness h;
///   rs::testing::script<int> dependency{h.clock(), {rs::testing::fails(std::errc::timed_out, 200ms),
///                                                   rs::testing::returns(42, 10ms)}};
///   auto call = h.compose(rs::timeout{1s});
///   rs::result<int> r = call(dependency);           // first outcome: a failure after 200 ms
/// \endcode

#include "clock.hpp"
#include "context.hpp"
#include "detail/config.hpp"
#include "detail/validate.hpp"
#include "events.hpp"
#include "resilient_call.hpp"
#include "result.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace resilience::testing {

/// Virtual time (see clock.hpp), re-exported so that tests need only this header's namespace.
using resilience::manual_clock;

// --- outcomes of a script ----------------------------------------------------------------------------

/// A scripted success returning `value` after `latency` (built by `returns`).
template <class V>
struct value_outcome {
    V value{};
    duration latency{};
};

/// A scripted success of a call returning void, after `latency` (built by `succeeds`).
struct void_outcome {
    duration latency{};
};

/// A scripted failure after `latency` (built by `fails`).
struct failure_outcome {
    failure error{};
    duration latency{};
};

/// A scripted thrown exception after `latency` (built by `throws`; empty without exceptions).
struct exception_outcome {
    std::exception_ptr exception{};
    duration latency{};
};

/// The callable returns `v` after `latency` of virtual time.
template <class V>
[[nodiscard]] value_outcome<std::decay_t<V>> returns(V&& v, duration latency = {}) {
    return {std::forward<V>(v), latency};
}

/// The callable (returning void) succeeds after `latency`.
[[nodiscard]] inline void_outcome succeeds(duration latency = {}) noexcept { return {latency}; }

/// The callable returns the failure `f` after `latency`.
[[nodiscard]] inline failure_outcome fails(failure f, duration latency = {}) noexcept {
    return {std::move(f), latency};
}

/// The callable returns a failure of kind `error` carrying `ec` (hint: unknown) after `latency`.
[[nodiscard]] inline failure_outcome fails(std::error_code ec, duration latency = {}) noexcept {
    return {failure::from_error(ec, transience::unknown, "scripted error"), latency};
}

/// The callable returns a failure of kind `error` carrying `std::make_error_code(e)` after `latency`.
[[nodiscard]] inline failure_outcome fails(std::errc e, duration latency = {}) noexcept {
    return fails(std::make_error_code(e), latency);
}

#if RESILIENCE_HAS_EXCEPTIONS
/// The callable throws a copy of `e` after `latency` (only with exceptions enabled). The exception
/// object is made here, once; each invocation rethrows it (`std::rethrow_exception`).
template <class E>
[[nodiscard]] exception_outcome throws(E e, duration latency = {}) {
    return {std::make_exception_ptr(std::move(e)), latency};
}
#endif

/// One step of a `script<T>`: an outcome and the virtual time the invocation takes. Built implicitly
/// from `returns(...)`, `succeeds(...)` (for `T = void`), `fails(...)` or `throws(...)`.
/// Thread safety: a value type.
template <class T>
class step {
public:
    template <class V>
        requires(!std::is_void_v<T> && std::is_constructible_v<T, const V&>)
    step(const value_outcome<V>& o) : outcome_(T(o.value)), latency_(o.latency) {}  // NOLINT: implicit by design

    step(void_outcome o) noexcept  // NOLINT: implicit by design
        requires std::is_void_v<T>
        : outcome_(result<void>{}), latency_(o.latency) {}

    step(failure_outcome o) noexcept : outcome_(std::move(o.error)), latency_(o.latency) {}  // NOLINT

    step(exception_outcome o) noexcept : exception_(std::move(o.exception)), latency_(o.latency) {}  // NOLINT

    /// What the invocation returns (unless it throws).
    [[nodiscard]] const result<T>& outcome() const noexcept { return outcome_; }
    /// The exception it throws, or null.
    [[nodiscard]] const std::exception_ptr& exception() const noexcept { return exception_; }
    /// The virtual time it takes.
    [[nodiscard]] duration latency() const noexcept { return latency_; }

private:
    // A default `result<T>` is not available for every `T`; the exception form never reads it.
    static result<T> placeholder() noexcept { return failure::of(failure_kind::error, "scripted exception"); }

    result<T> outcome_ = placeholder();
    std::exception_ptr exception_{};
    duration latency_{};
};

/// Options of a `script`.
struct script_options {
    /// How many invocations are recorded in detail (`records()`); later ones are counted by `calls()`
    /// but not recorded, so that invoking never allocates. Allowed: 0 to 1'000'000. Default 1024.
    std::size_t record_capacity = 1024;
    /// When true, an invocation whose latency exceeds the attempt's `remaining()` behaves like a client
    /// that was given `remaining()` as its timeout: the clock advances only to the deadline and the
    /// outcome is a failure of kind `error` with `std::errc::timed_out` (hint: transient). When false
    /// (default) the full latency elapses and the scripted outcome is returned: a late return.
    bool honour_deadline = false;

    /// The first invalid field, or nullopt.
    [[nodiscard]] std::optional<config_error> validate() const noexcept {
        if (record_capacity > 1'000'000) {
            return config_error{"script_options.record_capacity",
                                "script_options.record_capacity must be between 0 and 1000000"};
        }
        return std::nullopt;
    }
};

/// What one invocation of a `script` saw.
struct call_record {
    /// 0-based index of the invocation.
    std::size_t index = 0;
    /// `attempt::number()`.
    std::uint32_t attempt = 0;
    /// Virtual time when it was invoked (before its latency elapsed).
    time_point at{};
    /// `attempt::deadline()` (`no_deadline` when none).
    time_point deadline = no_deadline;
    /// `attempt::remaining()` when invoked (`duration::max()` without a deadline).
    duration remaining{};
    /// `attempt::stop_requested()` when invoked.
    bool stop_requested = false;
    /// True when the steps had run out and the "exhausted" outcome was used.
    bool exhausted = false;
};

/// A scripted callable: invocation `i` plays step `i` — the manual clock advances by the step's latency
/// (the call "takes that long"), then the outcome is returned (or thrown). Once the steps run out it
/// repeats the last step, or plays the `when_exhausted` step given at construction.
///
/// Use it where a composition expects the user's callable: `call(s, opts)` (pass it by reference: it is
/// non-copyable, it has identity and records).
///
/// Preconditions: at least one step, or a `when_exhausted` step; no negative latency; valid options
/// (checked at construction: `std::invalid_argument`, or abort without exceptions).
/// Thread safety: invocations and queries are thread-safe (a mutex guards the records). Latencies of
/// concurrent invocations add up on the shared clock: virtual time is global.
/// Costs: allocates only at construction (steps and record storage are reserved then); an invocation
/// copies the scripted `result<T>` (which allocates only if copying `T` does) and rethrowing an
/// exception costs what the C++ runtime makes it cost.
template <class T>
class script {
public:
    /// Plays `steps`, then repeats the last.
    script(manual_clock& clock, std::initializer_list<step<T>> steps, script_options opts = {})
        : script(clock, std::vector<step<T>>(steps), std::nullopt, opts) {}

    /// Plays `steps`, then `when_exhausted` forever.
    script(manual_clock& clock, std::initializer_list<step<T>> steps, step<T> when_exhausted,
           script_options opts = {})
        : script(clock, std::vector<step<T>>(steps), std::optional<step<T>>(std::move(when_exhausted)), opts) {}

    /// As above, from a vector built at run time.
    script(manual_clock& clock, std::vector<step<T>> steps, std::optional<step<T>> when_exhausted = std::nullopt,
           script_options opts = {})
        : clock_(&clock), steps_(std::move(steps)), exhausted_(std::move(when_exhausted)), opts_(opts) {
        detail::enforce(opts_.validate());
        if (steps_.empty() && !exhausted_) {
            detail::enforce(config_error{"script.steps", "script.steps must hold at least 1 step when no "
                                                         "when_exhausted step is given"});
        }
        auto negative = [](const step<T>& s) { return s.latency() < duration::zero(); };
        if (std::any_of(steps_.begin(), steps_.end(), negative) || (exhausted_ && negative(*exhausted_))) {
            detail::enforce(config_error{"step.latency", "step.latency must be at least zero"});
        }
        records_.reserve(opts_.record_capacity);
    }

    script(const script&) = delete;
    script& operator=(const script&) = delete;

    /// Plays the next step. Records what `a` says, advances the clock by the latency, then returns the
    /// outcome (or throws the scripted exception).
    result<T> operator()(const attempt& a) {
        const time_point at = clock_->now();
        const step<T>* s = nullptr;
        {
            std::lock_guard g(mutex_);
            const std::size_t i = calls_++;
            const bool past_end = i >= steps_.size();
            s = !past_end ? &steps_[i] : (exhausted_ ? &*exhausted_ : &steps_.back());
            if (records_.size() < opts_.record_capacity) {
                records_.push_back(call_record{i, a.number(), at, a.deadline(), a.remaining(), a.stop_requested(),
                                               past_end});
            }
        }
        if (opts_.honour_deadline && a.has_deadline() && s->latency() > a.remaining()) {
            clock_->advance(a.remaining());
            return failure::from_error(std::make_error_code(std::errc::timed_out), transience::transient,
                                       "the scripted call gave up at its deadline");
        }
        clock_->advance(s->latency());
#if RESILIENCE_HAS_EXCEPTIONS
        if (s->exception()) std::rethrow_exception(s->exception());
#endif
        return s->outcome();
    }

    /// Invocations so far (all of them, recorded or not).
    [[nodiscard]] std::size_t calls() const {
        std::lock_guard g(mutex_);
        return calls_;
    }
    /// True once an invocation went past the scripted steps.
    [[nodiscard]] bool exhausted() const {
        std::lock_guard g(mutex_);
        return calls_ > steps_.size();
    }
    /// The recorded invocations, oldest first (a copy).
    [[nodiscard]] std::vector<call_record> records() const {
        std::lock_guard g(mutex_);
        return records_;
    }
    /// `attempt::number()` of each recorded invocation.
    [[nodiscard]] std::vector<std::uint32_t> attempts_seen() const {
        return project([](const call_record& r) { return r.attempt; });
    }
    /// `attempt::deadline()` of each recorded invocation.
    [[nodiscard]] std::vector<time_point> deadlines_seen() const {
        return project([](const call_record& r) { return r.deadline; });
    }
    /// `attempt::remaining()` of each recorded invocation, when it was invoked.
    [[nodiscard]] std::vector<duration> remaining_seen() const {
        return project([](const call_record& r) { return r.remaining; });
    }
    /// The clock the script advances.
    [[nodiscard]] manual_clock& clock() const noexcept { return *clock_; }

private:
    template <class Proj>
    auto project(Proj p) const {
        std::lock_guard g(mutex_);
        std::vector<std::remove_cvref_t<decltype(p(std::declval<const call_record&>()))>> out;
        out.reserve(records_.size());
        for (const call_record& r : records_) out.push_back(p(r));
        return out;
    }

    manual_clock* clock_;
    const std::vector<step<T>> steps_;
    const std::optional<step<T>> exhausted_;
    const script_options opts_;
    mutable std::mutex mutex_;
    std::size_t calls_ = 0;
    std::vector<call_record> records_;
};

// --- recording listener ------------------------------------------------------------------------------

/// An owned copy of an `event`: valid after `on_event` returns. Each field is the `event` field of the
/// same name (see events.hpp), views copied into strings. A value type.
struct recorded_event {
    event_type type = event_type::attempt_started;
    std::string policy{};
    std::string name{};
    std::string call_id{};
    time_point at{};
    std::uint32_t attempt = 0;
    failure_kind kind = failure_kind::error;
    duration delay{};
    /// A copy of `event::error` when it was set (its `message` is a static string, so the copy is safe).
    std::optional<failure> error{};
    std::string from{};
    std::string to{};
};

/// A listener that records every event it receives.
///
/// Thread safety: `on_event` and every query may be called concurrently (one mutex). Queries return
/// copies, so they stay valid while calls go on. Costs: allocates for every event (strings, vector
/// growth): for tests and simulations only. Non-copyable: list it in a composition as a named object
/// (held by reference).
class recording_listener {
public:
    recording_listener() = default;
    recording_listener(const recording_listener&) = delete;
    recording_listener& operator=(const recording_listener&) = delete;

    /// Records a copy of `e`.
    void on_event(const event& e) {
        recorded_event r{e.type,   std::string(e.policy), std::string(e.name), std::string(e.call_id),
                         e.at,     e.attempt,             e.kind,              e.delay,
                         e.error ? std::optional<failure>(*e.error) : std::nullopt,
                         std::string(e.from),             std::string(e.to)};
        std::lock_guard g(mutex_);
        events_.push_back(std::move(r));
    }

    /// All events so far, oldest first.
    [[nodiscard]] std::vector<recorded_event> events() const {
        std::lock_guard g(mutex_);
        return events_;
    }
    /// The events of type `t`, oldest first.
    [[nodiscard]] std::vector<recorded_event> of_type(event_type t) const {
        std::lock_guard g(mutex_);
        std::vector<recorded_event> out;
        for (const auto& e : events_) {
            if (e.type == t) out.push_back(e);
        }
        return out;
    }
    /// The types of all events, oldest first: handy to assert on a sequence.
    [[nodiscard]] std::vector<event_type> types() const {
        std::lock_guard g(mutex_);
        std::vector<event_type> out;
        out.reserve(events_.size());
        for (const auto& e : events_) out.push_back(e.type);
        return out;
    }
    /// Number of events of type `t`.
    [[nodiscard]] std::size_t count(event_type t) const {
        std::lock_guard g(mutex_);
        return static_cast<std::size_t>(
            std::count_if(events_.begin(), events_.end(), [t](const recorded_event& e) { return e.type == t; }));
    }
    /// Number of events of type `t` emitted by the policy named `policy` ("timeout", "retry", ...).
    [[nodiscard]] std::size_t count(event_type t, std::string_view policy) const {
        std::lock_guard g(mutex_);
        return static_cast<std::size_t>(std::count_if(events_.begin(), events_.end(), [&](const recorded_event& e) {
            return e.type == t && e.policy == policy;
        }));
    }
    /// Number of events recorded.
    [[nodiscard]] std::size_t size() const {
        std::lock_guard g(mutex_);
        return events_.size();
    }
    /// Forgets every event.
    void clear() {
        std::lock_guard g(mutex_);
        events_.clear();
    }

private:
    mutable std::mutex mutex_;
    std::vector<recorded_event> events_;
};

static_assert(listener<recording_listener>);

// --- harness -----------------------------------------------------------------------------------------

/// A manual clock and a recording listener, and compositions built on them. The short way to test a
/// custom policy (or a composition of library policies) deterministically:
///
/// \code
///   rs::testing::harness h;
///   rs::testing::script<int> s{h.clock(), {rs::testing::returns(7, 5ms)}};
///   auto r = h.compose(my_policy{}, rs::timeout{1s})(s, h.deadline_in(2s));
///   CHECK(h.events().count(rs::event_type::attempt_succeeded) == 1);
/// \endcode
///
/// Stateful objects under test (breakers, bulkheads...) must be built on `h.clock()`.
/// Thread safety: as its members (the clock and listener are thread-safe); `compose` may be called
/// from any thread. Non-copyable and non-movable: compositions it builds refer to it and must not
/// outlive it.
class harness {
public:
    /// Starts the clock at `start` (default: the manual clock's default start).
    explicit harness(time_point start = time_point{} + std::chrono::hours(1)) : clock_(start) {}
    harness(const harness&) = delete;
    harness& operator=(const harness&) = delete;

    /// The virtual clock every composition of this harness runs on.
    [[nodiscard]] manual_clock& clock() noexcept { return clock_; }
    /// The listener every composition of this harness reports to.
    [[nodiscard]] recording_listener& events() noexcept { return events_; }

    /// A `resilient_call` of `policies` (outermost first) on this harness's clock and listener. Named
    /// non-copyable policies are held by reference, the rest copied, as in `resilient_call` itself.
    template <class... P>
    [[nodiscard]] auto compose(P&&... policies) {
        return resilient_call<detail::hold_t<P>..., manual_clock&, recording_listener&>(
            std::forward<P>(policies)..., clock_, events_);
    }

    /// Runs `f` once through `compose(p)`.
    template <class P, class F>
    auto run(P&& p, F&& f, const call_options& opts = {}) {
        auto call = compose(std::forward<P>(p));
        return call(std::forward<F>(f), opts);
    }

    /// Call options whose deadline is `d` from now on the virtual clock.
    [[nodiscard]] call_options deadline_in(duration d) const noexcept {
        call_options o;
        o.deadline = clock_.now() + d;
        return o;
    }

private:
    manual_clock clock_;
    recording_listener events_;
};

}  // namespace resilience::testing
