// SPDX-License-Identifier: MIT
#pragma once

// Exact event counters for the breaker's hot paths without a locked read-modify-write per event.
//
// A locked RMW (`lock add`) on a counter that every call increments costs tens of nanoseconds and bounces
// the counter's cache line between cores; a closed breaker should cost about what a hand-written one
// does (two loads). So the counts that every call bumps (successes, rejections) are striped: each thread
// owns one stripe, found by a slot index it claims from a process-wide 64-bit mask on its first use and
// gives back when it exits, and it increments its stripe with a plain relaxed load and store. A stripe
// has one writer at a time, so no increment is lost, and the counts stay exact. Threads beyond the 64th
// running at once share one counter updated with fetch_add (still exact, just slower). Readers sum the
// stripes; a reader racing with writers sees each stripe as of some recent moment.
//
// A reused slot continues the count of the thread that gave it back: the release (fetch_and, release)
// happens-before the claim (CAS, acquire), so the new owner's first load sees the last store.

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace resilience::detail {

inline constexpr std::uint32_t breaker_no_slot = 64;

/// The process-wide mask of claimed slots.
inline std::atomic<std::uint64_t>& breaker_slot_mask() noexcept {
    static std::atomic<std::uint64_t> mask{0};
    return mask;
}

/// A thread's slot, claimed on first use and returned when the thread exits.
class breaker_slot_holder {
public:
    breaker_slot_holder() noexcept {
        auto& mask = breaker_slot_mask();
        std::uint64_t m = mask.load(std::memory_order_relaxed);
        while (m != ~std::uint64_t{0}) {
            const auto bit = static_cast<std::uint32_t>(std::countr_one(m));
            if (mask.compare_exchange_weak(m, m | (std::uint64_t{1} << bit), std::memory_order_acquire,
                                           std::memory_order_relaxed)) {
                slot_ = bit;
                return;
            }
        }
    }
    breaker_slot_holder(const breaker_slot_holder&) = delete;
    breaker_slot_holder& operator=(const breaker_slot_holder&) = delete;
    ~breaker_slot_holder() {
        if (slot_ != breaker_no_slot) {
            breaker_slot_mask().fetch_and(~(std::uint64_t{1} << slot_), std::memory_order_release);
        }
    }
    [[nodiscard]] std::uint32_t slot() const noexcept { return slot_; }

private:
    std::uint32_t slot_ = breaker_no_slot;
};

/// The calling thread's slot (0 to 63), or `breaker_no_slot` when 64 threads hold one.
inline std::uint32_t breaker_thread_slot() noexcept {
    thread_local const breaker_slot_holder holder;
    return holder.slot();
}

/// Two exact counters (successes and rejections) that hot paths bump without a locked RMW.
class breaker_hot_counters {
public:
    void add_success() noexcept { bump(&stripe::successes, shared_successes_); }
    void add_rejection() noexcept { bump(&stripe::rejections, shared_rejections_); }

    [[nodiscard]] std::uint64_t successes() const noexcept { return sum(&stripe::successes, shared_successes_); }
    [[nodiscard]] std::uint64_t rejections() const noexcept { return sum(&stripe::rejections, shared_rejections_); }

private:
    struct alignas(64) stripe {
        std::atomic<std::uint64_t> successes{0};
        std::atomic<std::uint64_t> rejections{0};
    };
    using member = std::atomic<std::uint64_t> stripe::*;

    void bump(member m, std::atomic<std::uint64_t>& shared) noexcept {
        const std::uint32_t slot = breaker_thread_slot();
        if (slot < breaker_no_slot) {
            std::atomic<std::uint64_t>& c = stripes_[slot].*m;
            // Single writer: the owning thread. No RMW needed, nothing lost.
            c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        } else {
            shared.fetch_add(1, std::memory_order_relaxed);
        }
    }
    [[nodiscard]] std::uint64_t sum(member m, const std::atomic<std::uint64_t>& shared) const noexcept {
        std::uint64_t total = shared.load(std::memory_order_relaxed);
        for (const stripe& s : stripes_) total += (s.*m).load(std::memory_order_relaxed);
        return total;
    }

    stripe stripes_[breaker_no_slot];
    alignas(64) std::atomic<std::uint64_t> shared_successes_{0};
    std::atomic<std::uint64_t> shared_rejections_{0};
};

}  // namespace resilience::detail
