// SPDX-License-Identifier: MIT
#pragma once

/// \file fallback_sink.hpp
/// `fallback_sink`: publish to a primary sink; when it fails, to a secondary one (e.g. a file, then
/// stderr, which CloudWatch captures in Lambda).

#include "../dead_letter.hpp"
#include "../result.hpp"

#include <atomic>
#include <cstdint>

namespace resilience {

/// Tries `Primary`, then `Secondary`. Holds both by reference: they must outlive it.
///
/// Returns success when either stored the record. When both fail it returns the primary's failure
/// (the root cause, e.g. a full disk; the secondary is the last resort) -- so the dead-letter policy
/// reports `dead_letter_failed` with the primary's error as `sink_error`. Fallbacks can be chained:
/// `fallback_sink{file, fallback_sink{...}}` needs the inner one named, since both are held by reference.
///
/// Thread safety: as thread-safe as the two sinks (the library's are); its counters are atomic.
/// Non-copyable: held by reference.
template <dead_letter_sink Primary, dead_letter_sink Secondary>
class fallback_sink {
public:
    fallback_sink(Primary& primary, Secondary& secondary) noexcept : primary_(&primary), secondary_(&secondary) {}
    fallback_sink(const fallback_sink&) = delete;
    fallback_sink& operator=(const fallback_sink&) = delete;

    result<void> publish(const dead_letter_record& r) {
        result<void> first = primary_->publish(r);
        if (first.has_value()) return first;
        fallbacks_.fetch_add(1, std::memory_order_relaxed);
        result<void> second = secondary_->publish(r);
        if (second.has_value()) return second;
        failures_.fetch_add(1, std::memory_order_relaxed);
        return first;
    }

    [[nodiscard]] Primary& primary() const noexcept { return *primary_; }
    [[nodiscard]] Secondary& secondary() const noexcept { return *secondary_; }
    /// Records the primary refused (stored by the secondary, or lost by both).
    [[nodiscard]] std::uint64_t fallbacks() const noexcept { return fallbacks_.load(std::memory_order_relaxed); }
    /// Records neither sink stored.
    [[nodiscard]] std::uint64_t failures() const noexcept { return failures_.load(std::memory_order_relaxed); }

private:
    Primary* primary_;
    Secondary* secondary_;
    std::atomic<std::uint64_t> fallbacks_{0};
    std::atomic<std::uint64_t> failures_{0};
};

template <class P, class S>
fallback_sink(P&, S&) -> fallback_sink<P, S>;

}  // namespace resilience
