// SPDX-License-Identifier: MIT
#pragma once

/// \file backoff.hpp
/// How long to wait before each retry: `constant_backoff`, `linear_backoff` and `exponential_backoff`,
/// each with one of four jitters (`no_jitter`, `full_jitter`, `equal_jitter`, `decorrelated_jitter`);
/// `backoff`, a closed value type that holds any of them (the default backoff of `retry`); the
/// `backoff_strategy` concept a custom backoff satisfies; and the random generators that jitter draws
/// from (`thread_random`, the default, and `seeded_random`, for reproducible tests).
///
/// \code
///   rs::exponential_backoff{50ms, 2s, rs::full_jitter}          // base, cap, x2 per retry, full jitter
///   rs::exponential_backoff{100ms, 10s, 3.0, rs::equal_jitter}  // with a multiplier
///   rs::linear_backoff{100ms, 50ms, 1s}                         // base, step, cap
///   rs::constant_backoff{200ms, rs::decorrelated_jitter}
/// \endcode
///
/// Numbering: `next_delay(n, ...)` is the delay before retry `n`, i.e. after attempt `n` failed and
/// before attempt `n + 1` starts; `n` starts at 1. The un-jittered ("nominal") delay of retry n is
///
/// | backoff | nominal delay d(n) |
/// |---|---|
/// | `constant_backoff{d}` | `d` |
/// | `linear_backoff{base, step, cap}` | `min(cap, base + step * (n - 1))` |
/// | `exponential_backoff{base, cap, m}` | `min(cap, base * m^(n - 1))` |
///
/// and the jitter turns it into the delay actually slept (U, U' independent uniform draws in [0, 1)):
///
/// | jitter | delay of retry n | range |
/// |---|---|---|
/// | `no_jitter` | `d(n)` | exactly `d(n)` |
/// | `full_jitter` | `U * d(n)` | `[0, d(n)]` |
/// | `equal_jitter` | `d(n)/2 + U * d(n)/2` | `[d(n)/2, d(n)]` |
/// | `decorrelated_jitter` | `(1 - U') * d(n-1) + U * d(n)`, capped | `[0, min(cap, d(n-1) + d(n))]` |
///
/// Decorrelated jitter is the smooth kind (after the idea of Polly's DecorrelatedJitterBackoffV2, not
/// the clamped `min(cap, U(base, 3 * previous))` formula whose delays pile up at the cap): the retries of
/// one call are placed on the nominal schedule, retry n at a uniformly random instant of its slot (slot n
/// lasts d(n); the call is taken to have started at a random instant of a virtual slot 0 as long as
/// slot 1). A delay is the distance between two consecutive instants, so `U'` is the previous retry's `U`
/// (kept in `backoff_state`), and d(0) = d(1). Hence: every retry lands inside its own slot, so the
/// total time waited never drifts from the schedule; consecutive delays are anti-correlated; the median
/// of delay n is `(d(n-1) + d(n)) / 2` (a sum of two independent uniforms is symmetric), so the median
/// of the first delay is exactly d(1), the base, and the median never decreases while the schedule
/// grows (it grows with it: x1.5 from the first retry to the second, then x2 per retry for a doubling
/// backoff); and many clients that failed at the same instant spread uniformly over each slot instead
/// of clustering. Delays are capped at the backoff's cap only where `d(n-1) + d(n)` exceeds it, so
/// nothing piles up at the cap while the schedule is below it (`constant_backoff` has no cap: its
/// decorrelated delays lie in [0, 2d], median d).
///
/// Validation: a backoff's parameters are checked by `validate()`. With exceptions enabled the
/// constructor throws `std::invalid_argument` naming the field and its allowed range. Without
/// exceptions the constructor does not abort: the error surfaces where the backoff is used (`retry`'s
/// constructor aborts with the message, `make_retry` returns it as a failure), so that code built with
/// `-fno-exceptions` can validate configuration taken from outside without dying. Durations are limited
/// to `max_backoff_delay` (24 hours) so that no sum of a time point and a delay can overflow.
///
/// Thread safety: every backoff is an immutable value; `next_delay` is const and may run concurrently,
/// each call with its own `backoff_state` and generator. Time semantics: a backoff computes durations
/// only; it never reads a clock and never sleeps. Costs: no allocation, no lock; `exponential_backoff`
/// calls `std::pow` once per retry.

#include "detail/config.hpp"
#include "detail/validate.hpp"

#include <atomic>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string_view>
#include <type_traits>

namespace resilience {

/// The longest delay any backoff produces, and the upper bound of every backoff duration parameter.
/// `retry` also clamps the delays of custom backoffs to it.
inline constexpr std::chrono::nanoseconds max_backoff_delay = std::chrono::hours(24);

// --- random generators ----------------------------------------------------------------------------

namespace detail {

inline constexpr std::uint64_t golden_gamma = 0x9e3779b97f4a7c15ULL;

/// The output function of splitmix64 (Steele, Lea, Flood 2014): a bijective 64-bit mixer.
[[nodiscard]] constexpr std::uint64_t mix64(std::uint64_t z) noexcept {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

}  // namespace detail

/// A small, fast pseudo-random generator with an explicit seed: splitmix64, 8 bytes of state. Satisfies
/// `std::uniform_random_bit_generator`. Meant for tests and simulations, where the same seed must give
/// the same jitter: `rs::retry{opts, rs::default_classifier{}, rs::seeded_random{42}}`.
///
/// Note: `retry` copies its generator at the start of every call (so that concurrent calls never share
/// mutable state); with `seeded_random` every call therefore draws the same sequence. That is what a
/// test wants and what production does not: production code uses `thread_random`.
/// Thread safety: a value type; one object must not be used by two threads at once.
class seeded_random {
public:
    using result_type = std::uint64_t;

    constexpr explicit seeded_random(std::uint64_t seed = 0) noexcept : state_(seed) {}

    [[nodiscard]] static constexpr result_type min() noexcept { return 0; }
    [[nodiscard]] static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }

    constexpr result_type operator()() noexcept {
        state_ += detail::golden_gamma;
        return detail::mix64(state_);
    }

    friend constexpr bool operator==(const seeded_random&, const seeded_random&) noexcept = default;

private:
    std::uint64_t state_;
};

/// The default generator: a stateless handle to a per-thread splitmix64 generator, so that copies are
/// free and concurrent calls never contend or share state. Satisfies `std::uniform_random_bit_generator`.
///
/// Each thread's generator is seeded on its first use from a process-wide counter, the address of the
/// thread's state and the steady clock, mixed: threads and processes started at the same moment still
/// draw different jitter. Neither `std::random_device` (which may open a file and throw) nor the heap
/// is used. A process restored from a snapshot resumes the snapshot's sequence; call `reseed` after a
/// restore if that matters.
/// Thread safety: every member may be called from any thread; each thread has its own state.
struct thread_random {
    using result_type = std::uint64_t;

    [[nodiscard]] static constexpr result_type min() noexcept { return 0; }
    [[nodiscard]] static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }

    result_type operator()() const noexcept {
        per_thread& t = local();
        if (!t.seeded) [[unlikely]] seed_from_entropy(t);
        t.state += detail::golden_gamma;
        return detail::mix64(t.state);
    }

    /// Replaces the calling thread's state: its sequence is then reproducible from `seed` (the same as
    /// `seeded_random{seed}`'s), whether or not the thread has drawn before.
    static void reseed(std::uint64_t seed) noexcept {
        per_thread& t = local();
        t.state = seed;
        t.seeded = true;
    }

    friend constexpr bool operator==(const thread_random&, const thread_random&) noexcept { return true; }

private:
    struct per_thread {
        std::uint64_t state;
        bool seeded;
    };

    static per_thread& local() noexcept {
        // Trivially initialised (zero, no guard, no constructor, no allocation); seeded on first draw.
        thread_local per_thread t{0, false};
        return t;
    }

    static void seed_from_entropy(per_thread& t) noexcept {
        static std::atomic<std::uint64_t> counter{0};
        const auto n = counter.fetch_add(1, std::memory_order_relaxed);
        const auto addr = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&t));
        const auto now = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
        t.state = detail::mix64(n * detail::golden_gamma ^ detail::mix64(addr)) ^ detail::mix64(now);
        t.seeded = true;
    }
};

static_assert(std::uniform_random_bit_generator<seeded_random>);
static_assert(std::uniform_random_bit_generator<thread_random>);

namespace detail {

/// A uniform double in [0, 1) from any uniform random bit generator.
template <class Random>
[[nodiscard]] double uniform01(Random& rng) {
    using result_t = typename Random::result_type;
    if constexpr (Random::min() == 0 && Random::max() == std::numeric_limits<std::uint64_t>::max() &&
                  sizeof(result_t) == sizeof(std::uint64_t)) {
        // The top 53 bits: every value is a multiple of 2^-53, strictly below 1.
        return static_cast<double>(static_cast<std::uint64_t>(rng()) >> 11) * 0x1.0p-53;
    } else {
        // generate_canonical may return exactly 1.0 on some implementations (LWG 2524).
        const double u = std::generate_canonical<double, std::numeric_limits<double>::digits>(rng);
        return u < 1.0 ? u : 0x1.fffffffffffffp-1;
    }
}

/// `x` nanoseconds (a double), clamped to [0, hi]; NaN gives `hi` (so nothing overflows or is UB).
[[nodiscard]] inline std::chrono::nanoseconds clamp_ns(double x, std::chrono::nanoseconds hi) noexcept {
    const double h = static_cast<double>(hi.count());
    if (!(x < h)) return hi;
    if (!(x > 0.0)) return std::chrono::nanoseconds::zero();
    return std::chrono::nanoseconds{static_cast<std::chrono::nanoseconds::rep>(x)};
}

/// `d * u` for u in [0, 1), rounded down: never more than `d`.
[[nodiscard]] inline std::chrono::nanoseconds scale(std::chrono::nanoseconds d, double u) noexcept {
    return clamp_ns(static_cast<double>(d.count()) * u, d);
}

[[nodiscard]] constexpr bool valid_backoff_duration(std::chrono::nanoseconds d, bool allow_zero) noexcept {
    return (allow_zero ? d >= std::chrono::nanoseconds::zero() : d > std::chrono::nanoseconds::zero()) &&
           d <= max_backoff_delay;
}

}  // namespace detail

// --- jitter ----------------------------------------------------------------------------------------

/// Which jitter a built-in backoff applies (see the file comment for the formulas). Usually spelled
/// with the tag objects `no_jitter`, `full_jitter`, `equal_jitter`, `decorrelated_jitter`, which
/// convert to it.
enum class jitter_kind : std::uint8_t {
    none,          ///< the nominal delay, exactly
    full,          ///< uniform in [0, nominal]: the most spread, the least total waiting
    equal,         ///< uniform in [nominal/2, nominal]: keeps at least half of the backoff
    decorrelated,  ///< each retry at a uniformly random instant of its slot of the nominal schedule
};

/// Stable lower-case name of a jitter ("none", "full", "equal", "decorrelated").
[[nodiscard]] constexpr std::string_view to_string(jitter_kind j) noexcept {
    switch (j) {
        case jitter_kind::none: return "none";
        case jitter_kind::full: return "full";
        case jitter_kind::equal: return "equal";
        case jitter_kind::decorrelated: return "decorrelated";
    }
    return "unknown";
}

/// Tag type of `no_jitter`.
struct no_jitter_t {
    constexpr operator jitter_kind() const noexcept { return jitter_kind::none; }  // NOLINT: implicit by design
};
/// Tag type of `full_jitter`.
struct full_jitter_t {
    constexpr operator jitter_kind() const noexcept { return jitter_kind::full; }  // NOLINT: implicit by design
};
/// Tag type of `equal_jitter`.
struct equal_jitter_t {
    constexpr operator jitter_kind() const noexcept { return jitter_kind::equal; }  // NOLINT: implicit by design
};
/// Tag type of `decorrelated_jitter`.
struct decorrelated_jitter_t {
    constexpr operator jitter_kind() const noexcept { return jitter_kind::decorrelated; }  // NOLINT: implicit by design
};

/// No jitter: the nominal delay.
inline constexpr no_jitter_t no_jitter{};
/// Full jitter: uniform in [0, nominal].
inline constexpr full_jitter_t full_jitter{};
/// Equal jitter: uniform in [nominal/2, nominal].
inline constexpr equal_jitter_t equal_jitter{};
/// Decorrelated jitter: smooth, anti-correlated delays whose median follows the nominal schedule.
inline constexpr decorrelated_jitter_t decorrelated_jitter{};

/// The per-call state of the built-in backoffs. Only decorrelated jitter uses it: it keeps the position
/// of the previous retry within its slot. A fresh (default) state starts a new call.
/// Thread safety: belongs to one call.
struct backoff_state {
    /// `1 - U` of the previous retry (the part of its slot that was left); negative before the first.
    double carry = -1.0;
};

namespace detail {

/// Applies jitter `j` to the nominal delay `nominal` of retry `n`; `previous` is the nominal delay of
/// retry n - 1 (of retry 1 when n == 1) and `cap` bounds decorrelated delays.
template <class Random>
[[nodiscard]] std::chrono::nanoseconds jittered(jitter_kind j, std::uint32_t n, std::chrono::nanoseconds nominal,
                                                std::chrono::nanoseconds previous, std::chrono::nanoseconds cap,
                                                Random& rng, backoff_state& s) {
    switch (j) {
        case jitter_kind::none: return nominal;
        case jitter_kind::full: return scale(nominal, uniform01(rng));
        case jitter_kind::equal: {
            const auto half = nominal / 2;
            return half + scale(nominal - half, uniform01(rng));
        }
        case jitter_kind::decorrelated: {
            // The first retry of a call (or a state that never saw one) starts in the virtual slot 0.
            const double left = (n <= 1 || s.carry < 0.0) ? 1.0 - uniform01(rng) : s.carry;
            const double u = uniform01(rng);
            s.carry = 1.0 - u;
            return clamp_ns(left * static_cast<double>(previous.count()) + u * static_cast<double>(nominal.count()), cap);
        }
    }
    return nominal;  // unreachable for valid jitter values; validate() reports invalid ones
}

[[nodiscard]] constexpr bool valid_jitter(jitter_kind j) noexcept {
    return j == jitter_kind::none || j == jitter_kind::full || j == jitter_kind::equal ||
           j == jitter_kind::decorrelated;
}

}  // namespace detail

// --- the built-in backoffs ------------------------------------------------------------------------

/// The same nominal delay before every retry: `rs::constant_backoff{200ms}`,
/// `rs::constant_backoff{200ms, rs::full_jitter}`.
///
/// Allowed: `delay` between 0 (retry at once) and 24 hours. Decorrelated delays lie in [0, 2 * delay].
/// Thread safety: immutable. Time semantics: computes durations, reads no clock.
class constant_backoff {
public:
    using state_type = backoff_state;

    constexpr constant_backoff(std::chrono::nanoseconds delay, jitter_kind j = jitter_kind::none)
        : delay_(delay), jitter_(j) {
#if RESILIENCE_HAS_EXCEPTIONS
        if (auto e = validate()) detail::report_config_error(*e);
#endif
    }

    /// The delay before retry `n` (n >= 1), jittered with `rng`; `s` carries decorrelated jitter from
    /// one retry of a call to the next.
    template <class Random>
    [[nodiscard]] std::chrono::nanoseconds next_delay(std::uint32_t n, Random& rng, backoff_state& s) const {
        return detail::jittered(jitter_, n, delay_, delay_, 2 * delay_, rng, s);
    }
    /// The un-jittered delay before retry `n`.
    [[nodiscard]] constexpr std::chrono::nanoseconds nominal_delay(std::uint32_t) const noexcept { return delay_; }
    /// The largest delay `next_delay` can return.
    [[nodiscard]] constexpr std::chrono::nanoseconds max_delay() const noexcept {
        return jitter_ == jitter_kind::decorrelated ? 2 * delay_ : delay_;
    }

    [[nodiscard]] constexpr std::chrono::nanoseconds delay() const noexcept { return delay_; }
    [[nodiscard]] constexpr jitter_kind jitter() const noexcept { return jitter_; }

    /// The first invalid parameter, or nullopt.
    [[nodiscard]] constexpr std::optional<config_error> validate() const noexcept {
        if (!detail::valid_backoff_duration(delay_, true)) {
            return config_error{"constant_backoff.delay", "constant_backoff.delay must be between 0 and 24 hours"};
        }
        if (!detail::valid_jitter(jitter_)) {
            return config_error{"constant_backoff.jitter",
                                "constant_backoff.jitter must be one of no_jitter, full_jitter, equal_jitter, "
                                "decorrelated_jitter"};
        }
        return std::nullopt;
    }

    friend constexpr bool operator==(const constant_backoff&, const constant_backoff&) noexcept = default;

private:
    std::chrono::nanoseconds delay_;
    jitter_kind jitter_;
};

/// A nominal delay growing by `step` per retry up to `cap`: `min(cap, base + step * (n - 1))`.
/// `rs::linear_backoff{100ms, 100ms, 1s, rs::equal_jitter}`.
///
/// Allowed: `base` greater than 0 and at most 24 hours; `step` between 0 and 24 hours; `cap` between
/// `base` and 24 hours. Thread safety: immutable. Time semantics: computes durations, reads no clock.
class linear_backoff {
public:
    using state_type = backoff_state;

    constexpr linear_backoff(std::chrono::nanoseconds base, std::chrono::nanoseconds step, std::chrono::nanoseconds cap,
                             jitter_kind j = jitter_kind::none)
        : base_(base), step_(step), cap_(cap), jitter_(j) {
#if RESILIENCE_HAS_EXCEPTIONS
        if (auto e = validate()) detail::report_config_error(*e);
#endif
    }

    /// The delay before retry `n` (n >= 1); see `constant_backoff::next_delay`.
    template <class Random>
    [[nodiscard]] std::chrono::nanoseconds next_delay(std::uint32_t n, Random& rng, backoff_state& s) const {
        return detail::jittered(jitter_, n, nominal_delay(n), nominal_delay(n > 1 ? n - 1 : 1), cap_, rng, s);
    }
    /// The un-jittered delay before retry `n`; saturates at `cap` without overflowing for any `n`.
    [[nodiscard]] constexpr std::chrono::nanoseconds nominal_delay(std::uint32_t n) const noexcept {
        const std::uint64_t k = n > 0 ? n - 1u : 0u;
        if (base_ >= cap_) return cap_ > std::chrono::nanoseconds::zero() ? cap_ : std::chrono::nanoseconds::zero();
        if (step_ <= std::chrono::nanoseconds::zero()) return base_;
        // base + step * k <= cap  <=>  k <= (cap - base) / step: decided before multiplying.
        const auto room = static_cast<std::uint64_t>((cap_ - base_).count() / step_.count());
        if (k > room) return cap_;
        return base_ + step_ * static_cast<std::chrono::nanoseconds::rep>(k);
    }
    /// The largest delay `next_delay` can return: `cap`.
    [[nodiscard]] constexpr std::chrono::nanoseconds max_delay() const noexcept { return cap_; }

    [[nodiscard]] constexpr std::chrono::nanoseconds base() const noexcept { return base_; }
    [[nodiscard]] constexpr std::chrono::nanoseconds step() const noexcept { return step_; }
    [[nodiscard]] constexpr std::chrono::nanoseconds cap() const noexcept { return cap_; }
    [[nodiscard]] constexpr jitter_kind jitter() const noexcept { return jitter_; }

    /// The first invalid parameter, or nullopt.
    [[nodiscard]] constexpr std::optional<config_error> validate() const noexcept {
        if (!detail::valid_backoff_duration(base_, false)) {
            return config_error{"linear_backoff.base", "linear_backoff.base must be greater than 0 and at most 24 hours"};
        }
        if (!detail::valid_backoff_duration(step_, true)) {
            return config_error{"linear_backoff.step", "linear_backoff.step must be between 0 and 24 hours"};
        }
        if (cap_ < base_ || cap_ > max_backoff_delay) {
            return config_error{"linear_backoff.cap", "linear_backoff.cap must be between base and 24 hours"};
        }
        if (!detail::valid_jitter(jitter_)) {
            return config_error{"linear_backoff.jitter",
                                "linear_backoff.jitter must be one of no_jitter, full_jitter, equal_jitter, "
                                "decorrelated_jitter"};
        }
        return std::nullopt;
    }

    friend constexpr bool operator==(const linear_backoff&, const linear_backoff&) noexcept = default;

private:
    std::chrono::nanoseconds base_;
    std::chrono::nanoseconds step_;
    std::chrono::nanoseconds cap_;
    jitter_kind jitter_;
};

/// A nominal delay multiplied by `multiplier` per retry up to `cap`: `min(cap, base * multiplier^(n-1))`.
/// `rs::exponential_backoff{50ms, 2s, rs::full_jitter}` (multiplier 2),
/// `rs::exponential_backoff{50ms, 2s, 1.5, rs::full_jitter}`.
///
/// Allowed: `base` greater than 0 and at most 24 hours; `cap` between `base` and 24 hours;
/// `multiplier` a finite number between 1 and 1000 (NaN and infinities are rejected).
/// Thread safety: immutable. Time semantics: computes durations, reads no clock.
class exponential_backoff {
public:
    using state_type = backoff_state;

    /// Doubling: multiplier 2.
    constexpr exponential_backoff(std::chrono::nanoseconds base, std::chrono::nanoseconds cap,
                                  jitter_kind j = jitter_kind::none)
        : exponential_backoff(base, cap, 2.0, j) {}

    constexpr exponential_backoff(std::chrono::nanoseconds base, std::chrono::nanoseconds cap, double multiplier,
                                  jitter_kind j = jitter_kind::none)
        : base_(base), cap_(cap), multiplier_(multiplier), jitter_(j) {
#if RESILIENCE_HAS_EXCEPTIONS
        if (auto e = validate()) detail::report_config_error(*e);
#endif
    }

    /// The delay before retry `n` (n >= 1); see `constant_backoff::next_delay`.
    template <class Random>
    [[nodiscard]] std::chrono::nanoseconds next_delay(std::uint32_t n, Random& rng, backoff_state& s) const {
        return detail::jittered(jitter_, n, nominal_delay(n), nominal_delay(n > 1 ? n - 1 : 1), cap_, rng, s);
    }
    /// The un-jittered delay before retry `n`; saturates at `cap` (computed in double precision, so an
    /// overflowing power simply reads as "past the cap").
    [[nodiscard]] std::chrono::nanoseconds nominal_delay(std::uint32_t n) const noexcept {
        const double k = n > 0 ? static_cast<double>(n - 1) : 0.0;
        return detail::clamp_ns(static_cast<double>(base_.count()) * std::pow(multiplier_, k), cap_);
    }
    /// The largest delay `next_delay` can return: `cap`.
    [[nodiscard]] constexpr std::chrono::nanoseconds max_delay() const noexcept { return cap_; }

    [[nodiscard]] constexpr std::chrono::nanoseconds base() const noexcept { return base_; }
    [[nodiscard]] constexpr std::chrono::nanoseconds cap() const noexcept { return cap_; }
    [[nodiscard]] constexpr double multiplier() const noexcept { return multiplier_; }
    [[nodiscard]] constexpr jitter_kind jitter() const noexcept { return jitter_; }

    /// The first invalid parameter, or nullopt.
    [[nodiscard]] constexpr std::optional<config_error> validate() const noexcept {
        if (!detail::valid_backoff_duration(base_, false)) {
            return config_error{"exponential_backoff.base",
                                "exponential_backoff.base must be greater than 0 and at most 24 hours"};
        }
        if (cap_ < base_ || cap_ > max_backoff_delay) {
            return config_error{"exponential_backoff.cap", "exponential_backoff.cap must be between base and 24 hours"};
        }
        // Written so that NaN fails: every comparison with NaN is false.
        if (!(multiplier_ >= 1.0 && multiplier_ <= 1000.0)) {
            return config_error{"exponential_backoff.multiplier",
                                "exponential_backoff.multiplier must be a finite number between 1 and 1000"};
        }
        if (!detail::valid_jitter(jitter_)) {
            return config_error{"exponential_backoff.jitter",
                                "exponential_backoff.jitter must be one of no_jitter, full_jitter, equal_jitter, "
                                "decorrelated_jitter"};
        }
        return std::nullopt;
    }

    friend constexpr bool operator==(const exponential_backoff&, const exponential_backoff&) noexcept = default;

private:
    std::chrono::nanoseconds base_;
    std::chrono::nanoseconds cap_;
    double multiplier_;
    jitter_kind jitter_;
};

/// Any built-in backoff, as one closed value type: the default backoff of `retry`, so that
/// `rs::retry{{.backoff = rs::exponential_backoff{50ms, 2s, rs::full_jitter}}}` works without naming a
/// type (a braced list cannot deduce one). Implicitly constructible from `constant_backoff`,
/// `linear_backoff` and `exponential_backoff`; dispatches with a switch (no virtual call, no heap).
///
/// Default: `exponential_backoff{100ms, 5s, 2.0, full_jitter}` — exponential growth spreads a burst of
/// failing clients over time, and full jitter (AWS's recommendation) decorrelates them the most.
/// Thread safety: immutable. Time semantics: computes durations, reads no clock.
class backoff {
public:
    using state_type = backoff_state;

    /// Which built-in backoff is held.
    enum class shape : std::uint8_t { constant, linear, exponential };

    /// The default: exponential, 100 ms base, 5 s cap, x2, full jitter.
    constexpr backoff() noexcept
        : shape_(shape::exponential),
          exponential_(std::chrono::milliseconds(100), std::chrono::seconds(5), 2.0, jitter_kind::full) {}
    constexpr backoff(const constant_backoff& b) noexcept : shape_(shape::constant), constant_(b) {}  // NOLINT: implicit
    constexpr backoff(const linear_backoff& b) noexcept : shape_(shape::linear), linear_(b) {}  // NOLINT: implicit
    constexpr backoff(const exponential_backoff& b) noexcept  // NOLINT: implicit by design
        : shape_(shape::exponential), exponential_(b) {}

    /// The delay before retry `n` (n >= 1); see `constant_backoff::next_delay`.
    template <class Random>
    [[nodiscard]] std::chrono::nanoseconds next_delay(std::uint32_t n, Random& rng, backoff_state& s) const {
        switch (shape_) {
            case shape::constant: return constant_.next_delay(n, rng, s);
            case shape::linear: return linear_.next_delay(n, rng, s);
            case shape::exponential: return exponential_.next_delay(n, rng, s);
        }
        return std::chrono::nanoseconds::zero();
    }
    /// The un-jittered delay before retry `n`.
    [[nodiscard]] std::chrono::nanoseconds nominal_delay(std::uint32_t n) const noexcept {
        switch (shape_) {
            case shape::constant: return constant_.nominal_delay(n);
            case shape::linear: return linear_.nominal_delay(n);
            case shape::exponential: return exponential_.nominal_delay(n);
        }
        return std::chrono::nanoseconds::zero();
    }
    /// The largest delay `next_delay` can return.
    [[nodiscard]] constexpr std::chrono::nanoseconds max_delay() const noexcept {
        switch (shape_) {
            case shape::constant: return constant_.max_delay();
            case shape::linear: return linear_.max_delay();
            case shape::exponential: return exponential_.max_delay();
        }
        return std::chrono::nanoseconds::zero();
    }
    /// The jitter of the held backoff.
    [[nodiscard]] constexpr jitter_kind jitter() const noexcept {
        switch (shape_) {
            case shape::constant: return constant_.jitter();
            case shape::linear: return linear_.jitter();
            case shape::exponential: return exponential_.jitter();
        }
        return jitter_kind::none;
    }

    /// Which backoff is held.
    [[nodiscard]] constexpr shape kind() const noexcept { return shape_; }
    /// The held backoff, or null when it is of another kind.
    [[nodiscard]] constexpr const constant_backoff* as_constant() const noexcept {
        return shape_ == shape::constant ? &constant_ : nullptr;
    }
    [[nodiscard]] constexpr const linear_backoff* as_linear() const noexcept {
        return shape_ == shape::linear ? &linear_ : nullptr;
    }
    [[nodiscard]] constexpr const exponential_backoff* as_exponential() const noexcept {
        return shape_ == shape::exponential ? &exponential_ : nullptr;
    }

    /// The held backoff's first invalid parameter, or nullopt.
    [[nodiscard]] constexpr std::optional<config_error> validate() const noexcept {
        switch (shape_) {
            case shape::constant: return constant_.validate();
            case shape::linear: return linear_.validate();
            case shape::exponential: return exponential_.validate();
        }
        return config_error{"backoff", "backoff must hold a constant, linear or exponential backoff"};
    }

    friend constexpr bool operator==(const backoff& a, const backoff& b) noexcept {
        if (a.shape_ != b.shape_) return false;
        switch (a.shape_) {
            case shape::constant: return a.constant_ == b.constant_;
            case shape::linear: return a.linear_ == b.linear_;
            case shape::exponential: return a.exponential_ == b.exponential_;
        }
        return false;
    }

private:
    shape shape_;
    union {
        constant_backoff constant_;
        linear_backoff linear_;
        exponential_backoff exponential_;
    };
};

// --- the concept ----------------------------------------------------------------------------------

namespace detail {
/// The state of a backoff that declares none.
struct no_backoff_state {};

template <class B>
struct backoff_state_of {
    using type = no_backoff_state;
};
template <class B>
    requires requires { typename B::state_type; }
struct backoff_state_of<B> {
    using type = typename B::state_type;
};
}  // namespace detail

/// The per-call state type of backoff `B`: `B::state_type` when it declares one, else an empty type.
template <class B>
using backoff_state_t = typename detail::backoff_state_of<B>::type;

/// What `retry` needs from a backoff `B`, with jitter drawn from `Random`:
///
/// - copyable (a value, copied into the retry policy);
/// - a const member `next_delay` returning the delay before retry `n` (n = 1 before the second attempt)
///   as something convertible to `std::chrono::nanoseconds`, in one of three forms:
///   `next_delay(n, rng, state)` (state: `B::state_type&`, default-constructed at the start of every
///   call, for backoffs that remember something between the retries of a call, as decorrelated
///   jitter does), `next_delay(n, rng)` or `next_delay(n)`;
/// - optionally `validate() -> std::optional<config_error>`, which `retry` calls at construction.
///
/// `next_delay` must not throw or block and should not allocate; it is called concurrently from every
/// thread running a call (each with its own generator and state). `retry` clamps what it returns to
/// [0, `max_backoff_delay`].
///
/// \code
///   struct fibonacci_backoff {                  // 100 ms, 100 ms, 200 ms, 300 ms, 500 ms, ...
///       struct state_type { std::int64_t a = 0, b = 1; };
///       template <class Random>
///       std::chrono::nanoseconds next_delay(std::uint32_t, Random&, state_type& s) const {
///           s = {s.b, s.a + s.b};
///           return std::chrono::milliseconds(100) * s.a;
///       }
///   };
///   rs::retry r{rs::retry_options<fibonacci_backoff>{.max_attempts = 5}};
/// \endcode
template <class B, class Random = seeded_random>
concept backoff_strategy =
    std::copy_constructible<B> && std::uniform_random_bit_generator<Random> &&
    std::default_initializable<backoff_state_t<B>> &&
    (requires(const B& b, std::uint32_t n, Random& rng, backoff_state_t<B>& s) {
        { b.next_delay(n, rng, s) } -> std::convertible_to<std::chrono::nanoseconds>;
    } || requires(const B& b, std::uint32_t n, Random& rng) {
        { b.next_delay(n, rng) } -> std::convertible_to<std::chrono::nanoseconds>;
    } || requires(const B& b, std::uint32_t n) {
        { b.next_delay(n) } -> std::convertible_to<std::chrono::nanoseconds>;
    });

/// Calls whichever form of `next_delay` `b` has (see `backoff_strategy`) and clamps the result to
/// [0, `max_backoff_delay`].
template <class B, class Random>
    requires backoff_strategy<B, Random>
[[nodiscard]] std::chrono::nanoseconds backoff_delay(const B& b, std::uint32_t n, Random& rng, backoff_state_t<B>& s) {
    std::chrono::nanoseconds d{};
    if constexpr (requires { b.next_delay(n, rng, s); }) {
        d = b.next_delay(n, rng, s);
    } else if constexpr (requires { b.next_delay(n, rng); }) {
        (void)s;
        d = b.next_delay(n, rng);
    } else {
        (void)s;
        (void)rng;
        d = b.next_delay(n);
    }
    if (d < std::chrono::nanoseconds::zero()) return std::chrono::nanoseconds::zero();
    return d > max_backoff_delay ? max_backoff_delay : d;
}

/// `b.validate()` when the backoff has one, else nullopt.
template <class B>
[[nodiscard]] constexpr std::optional<config_error> validate_backoff(const B& b) noexcept {
    if constexpr (requires {
                      { b.validate() } -> std::convertible_to<std::optional<config_error>>;
                  }) {
        return b.validate();
    } else {
        (void)b;
        return std::nullopt;
    }
}

static_assert(backoff_strategy<backoff>);
static_assert(backoff_strategy<constant_backoff>);
static_assert(backoff_strategy<linear_backoff>);
static_assert(backoff_strategy<exponential_backoff, thread_random>);

}  // namespace resilience
