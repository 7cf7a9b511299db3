// SPDX-License-Identifier: MIT
#pragma once

/// \file timeout.hpp
/// `timeout`: a cooperative time budget for the layers inside it.
///
/// \code
///   rs::resilient_call call{
///       rs::timeout{2s},                  // outside retry: the overall budget of every attempt together
///       rs::retry{},
///       rs::timeout{500ms},               // inside retry: the budget of each attempt
///   };
///   call([&](const rs::attempt& a) { return client.get(req, a.remaining()); }, opts);
/// \endcode
///
/// What it does, and what it cannot do:
/// - It narrows the deadline that inner policies and the callable see (`attempt::deadline()`,
///   `attempt::remaining()`) to `now + duration`, and never widens it: a tighter enclosing timeout or
///   `call_options::deadline` wins.
/// - It narrows the attempt's notion of "stop" cooperatively: `attempt::stop_requested()` turns true once
///   the narrowed deadline has passed. It does NOT trigger the caller's `std::stop_token`, and nothing
///   interrupts the callable: that would need a timer thread, and a frozen Lambda environment runs no
///   threads between invocations (and making a `std::stop_source` allocates). The callable must pass
///   `remaining()` to its client as that client's own timeout, or poll `stop_requested()`.
/// - It refuses to start work that cannot finish: when less than `max(min_remaining, 1ns)` is left of the
///   effective deadline, it returns a failure without calling the layers inside.
/// - A return after the deadline is reported as late: a success becomes a failure whose value stays
///   reachable (`result::last_value()`); a failure of another kind is relabelled, its `cause` keeping the
///   original kind.
///
/// The kind reported is that of the deadline that ran out: `failure_kind::timeout` when it was a
/// timeout's (this one's or an enclosing one's), `failure_kind::deadline_exceeded` when it was the
/// caller's (`call_options::deadline`).

#include "clock.hpp"
#include "context.hpp"
#include "detail/validate.hpp"
#include "events.hpp"
#include "result.hpp"

#include <algorithm>
#include <chrono>
#include <optional>
#include <type_traits>
#include <utility>

namespace resilience {

/// Configuration of a `timeout`. Validated when a `timeout` is built (see `validate()`).
struct timeout_options {
    /// The budget of the layers inside, counted from the moment the timeout's `execute` starts.
    /// Allowed: greater than zero. Default 30 s, so that a forgotten setting is still bounded; the
    /// caller's deadline (a Lambda invocation's, say) clips it anyway.
    std::chrono::nanoseconds duration = std::chrono::seconds(30);
    /// The least time that must be left of the effective deadline (this budget, or a tighter enclosing
    /// one) for the inner layers to be started at all. A call that cannot finish is better not started:
    /// it would only add load to a dependency and then be abandoned. Allowed: at least zero and less
    /// than `duration` (otherwise the timeout could never start anything). Default 0: start whenever any
    /// time is left.
    std::chrono::nanoseconds min_remaining = std::chrono::nanoseconds::zero();

    /// The first invalid field, or nullopt. Messages are static and name the field and its range.
    [[nodiscard]] std::optional<config_error> validate() const noexcept {
        if (duration <= std::chrono::nanoseconds::zero()) {
            return config_error{"timeout_options.duration",
                                "timeout_options.duration must be greater than zero"};
        }
        if (min_remaining < std::chrono::nanoseconds::zero() || min_remaining >= duration) {
            return config_error{"timeout_options.min_remaining",
                                "timeout_options.min_remaining must be at least zero and less than "
                                "timeout_options.duration"};
        }
        return std::nullopt;
    }
};

namespace detail {

/// `t + d` without overflow: a sum past the clock's range is "no deadline".
[[nodiscard]] constexpr time_point saturating_add(time_point t, duration d) noexcept {
    if (d <= duration::zero()) return t;
    if (t > no_deadline - d) return no_deadline;
    return t + d;
}

}  // namespace detail

/// A cooperative timeout (see the file comment). A value policy: copied into a composition.
///
/// Preconditions: the options are valid (checked at construction: `std::invalid_argument` naming the
/// field, or abort without exceptions; use `make_timeout` to get a `result` instead).
/// Thread safety: immutable after construction; `execute` may run concurrently on any number of threads.
/// Time semantics: reads the composition's clock twice per call (before and after the inner layers);
/// the budget starts when `execute` starts, so listed inside `retry` it restarts for every attempt.
/// Costs: no allocation, no lock, no thread.
class timeout {
public:
    /// A timeout of `d` with `min_remaining` 0: `rs::timeout{500ms}`.
    explicit timeout(std::chrono::nanoseconds d) : timeout(timeout_options{.duration = d}) {}

    /// A timeout from full options: `rs::timeout{{.duration = 2s, .min_remaining = 100ms}}`.
    explicit timeout(const timeout_options& opts) : opts_(opts) { detail::enforce(opts_.validate()); }

    /// The options this timeout was built with.
    [[nodiscard]] const timeout_options& options() const noexcept { return opts_; }

    /// Runs the inner layers with the narrowed deadline. Returns exactly what `next` returns.
    template <class Ctx, class Next>
    auto execute(Ctx& ctx, Next&& next) -> std::invoke_result_t<Next&, Ctx&> {
        using R = std::invoke_result_t<Next&, Ctx&>;

        const time_point start = ctx.now();
        Ctx inner = ctx;
        const time_point own = detail::saturating_add(start, opts_.duration);
        if (own < ctx.deadline) {  // never extend a tighter enclosing deadline
            inner.deadline = own;
            inner.source = deadline_source::timeout;
        }

        // At least 1ns must be left: an attempt with no time at all cannot finish.
        const duration needed = std::max<duration>(opts_.min_remaining, duration{1});
        if (inner.remaining(start) < needed) {
            failure f = failure::of(inner.expiry_kind(), "not enough time left to start the call");
            // Within this call the budget only shrinks: trying again cannot give the work more time.
            f.hint = transience::permanent;
            if constexpr (Ctx::events_enabled) {
                ctx.emit({.type = event_type::timeout, .policy = "timeout", .at = start, .kind = f.kind, .error = &f});
            }
            return R(std::move(f));
        }

        R r = next(inner);

        if (inner.deadline != no_deadline) {
            const time_point end = ctx.clock->now();
            if (end > inner.deadline) {
                const failure_kind k = inner.expiry_kind();
                if (r.has_value()) {
                    r.fail(failure::of(k, "the call returned after its deadline"));
                } else if (r.error().kind != k) {
                    r.fail(r.error().relabelled(k));
                }
                if constexpr (Ctx::events_enabled) {
                    // `delay` says how late the return was.
                    ctx.emit({.type = event_type::timeout, .policy = "timeout", .at = end, .kind = k,
                              .delay = end - inner.deadline, .error = &r.error()});
                }
            }
        }
        return r;
    }

private:
    timeout_options opts_;
};

/// Builds a `timeout` without throwing: the failure names the invalid field (kind `error`, error code
/// `std::errc::invalid_argument`, `message` as in `timeout_options::validate`). For `-fno-exceptions`
/// code that takes its configuration from outside.
[[nodiscard]] inline result<timeout> make_timeout(const timeout_options& opts) noexcept {
    if (auto e = opts.validate()) return detail::config_failure(*e);
    return result<timeout>(timeout(opts));
}

}  // namespace resilience
