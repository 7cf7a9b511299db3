// SPDX-License-Identifier: MIT
#pragma once

// Sliding windows of call outcomes for `circuit_breaker` (see circuit_breaker.hpp): the last N outcomes
// (`breaker_count_window`) or the outcomes of the last N time buckets (`breaker_time_window`).
//
// Both are lock-free: recording an outcome is a handful of relaxed atomic operations, so the closed
// state's fast path never takes a mutex. The price is that a reader running concurrently with writers
// may see counts that lag by the outcomes in flight (an aggregate updated a moment after its slot);
// every structure is built so that the counts are exact again once the writers are done:
// - every change of a slot or bucket is made by an atomic exchange, and the aggregate is adjusted by
//   exactly what the exchange replaced, so aggregates never drift from the slots (even when a clear
//   races with a writer, or two writers race for one slot);
// - aggregates are signed and clamped when read, since a decrement may land before its increment.
//
// Memory is allocated once, at construction (the slots or buckets); recording allocates nothing.

#include "../clock.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>

namespace resilience::detail {

/// Counts of one window: outcomes recorded, of which failures, of which slow.
struct breaker_window_counts {
    std::uint32_t calls = 0;
    std::uint32_t failures = 0;
    std::uint32_t slow = 0;
};

inline std::uint32_t clamp_window_count(std::int64_t v) noexcept {
    if (v <= 0) return 0;
    if (v > std::int64_t{UINT32_MAX}) return UINT32_MAX;
    return static_cast<std::uint32_t>(v);
}

/// Signed aggregates of a window; adjusted by deltas so that they always equal (at quiescence) the sum
/// of what the slots or buckets hold.
struct breaker_window_totals {
    std::atomic<std::int64_t> calls{0};
    std::atomic<std::int64_t> failures{0};
    std::atomic<std::int64_t> slow{0};

    void add(std::int64_t dc, std::int64_t df, std::int64_t ds) noexcept {
        if (dc != 0) calls.fetch_add(dc, std::memory_order_relaxed);
        if (df != 0) failures.fetch_add(df, std::memory_order_relaxed);
        if (ds != 0) slow.fetch_add(ds, std::memory_order_relaxed);
    }
    [[nodiscard]] breaker_window_counts read() const noexcept {
        breaker_window_counts c;
        c.calls = clamp_window_count(calls.load(std::memory_order_relaxed));
        c.failures = std::min(c.calls, clamp_window_count(failures.load(std::memory_order_relaxed)));
        c.slow = std::min(c.calls, clamp_window_count(slow.load(std::memory_order_relaxed)));
        return c;
    }
};

/// The last `size` outcomes, as a ring of one-byte slots: bit 0 = recorded, bit 1 = failed, bit 2 = slow.
/// Writers claim consecutive positions with a fetch_add, so two writers collide on a slot only when
/// `size` others recorded between them; the exchange then keeps the aggregates right.
class breaker_count_window {
public:
    breaker_count_window() noexcept = default;
    /// `size` 0: a disabled window that allocates nothing.
    explicit breaker_count_window(std::uint32_t size)
        : slots_(size ? std::make_unique<std::atomic<std::uint8_t>[]>(size) : nullptr), size_(size) {}

    [[nodiscard]] bool enabled() const noexcept { return size_ != 0; }
    [[nodiscard]] std::uint32_t size() const noexcept { return size_; }

    void record(bool failed, bool slow) noexcept {
        const std::uint64_t i = next_.fetch_add(1, std::memory_order_relaxed) % size_;
        const auto v = static_cast<std::uint8_t>(1U | (failed ? 2U : 0U) | (slow ? 4U : 0U));
        const std::uint8_t old = slots_[i].exchange(v, std::memory_order_relaxed);
        account(old, v);
    }

    /// Empties the window. Safe against concurrent writers (their outcomes may land after the clear).
    void clear() noexcept {
        for (std::uint32_t i = 0; i < size_; ++i) {
            const std::uint8_t old = slots_[i].exchange(0, std::memory_order_relaxed);
            account(old, 0);
        }
    }

    [[nodiscard]] breaker_window_counts counts() const noexcept { return totals_.read(); }

private:
    static std::int64_t bit(std::uint8_t v, unsigned b) noexcept { return static_cast<std::int64_t>((v >> b) & 1U); }
    void account(std::uint8_t old, std::uint8_t now) noexcept {
        totals_.add(bit(now, 0) - bit(old, 0), bit(now, 1) - bit(old, 1), bit(now, 2) - bit(old, 2));
    }

    std::unique_ptr<std::atomic<std::uint8_t>[]> slots_;
    std::uint32_t size_ = 0;
    std::atomic<std::uint64_t> next_{0};
    breaker_window_totals totals_;
};

/// The outcomes of the last `buckets` intervals of `length / buckets` each, on a steady clock. The window
/// spans between `length - length/buckets` and `length` of history (the current bucket is partial).
///
/// Bucket `e % buckets` holds epoch `e` (time since `origin`, in bucket widths) and its three counts
/// packed in one 64-bit word (21 bits each), so a writer updates them with one fetch_add. A bucket
/// saturates at `field_cap` (2,031,615) outcomes: later outcomes in that bucket are not counted
/// (documented on `breaker_window::buckets`; widening would need a second word per bucket). A bucket is
/// rolled over to a new epoch by whoever needs it first: it marks the bucket busy with a CAS, empties it,
/// subtracts what it held from the aggregates, and publishes the new epoch. Writers meeting a busy bucket
/// yield until it is published (a few instructions). Buckets nobody wrote to are expired by a sweep that
/// the first writer (or reader) of each new epoch performs, so the aggregates cover the window without
/// scanning it: recording is O(1), amortised.
///
/// An outcome whose writer was delayed (between reading the clock and recording) by a whole window is
/// dropped from the window; one delayed across a roll-over lands in the new bucket.
class breaker_time_window {
public:
    breaker_time_window() noexcept = default;
    /// `buckets` 0: a disabled window that allocates nothing.
    breaker_time_window(std::uint32_t buckets, duration length, time_point origin)
        : buckets_(buckets ? std::make_unique<bucket[]>(buckets) : nullptr),
          n_(buckets),
          width_(buckets ? std::max<std::int64_t>(1, length.count() / std::int64_t{buckets}) : 1),
          origin_(origin) {}

    [[nodiscard]] bool enabled() const noexcept { return n_ != 0; }

    void record(time_point now, bool failed, bool slow) noexcept {
        const std::int64_t e = epoch_of(now);
        advance(e);
        bucket& b = at(e);
        if (!claim(b, e)) return;  // the bucket moved on a whole window: this outcome is too old
        // Saturate rather than overflow a 21-bit field; the margin covers writers racing past the check.
        if ((b.packed.load(std::memory_order_relaxed) & field_mask) >= field_cap) return;
        const std::uint64_t add = 1U | (failed ? std::uint64_t{1} << 21 : 0U) | (slow ? std::uint64_t{1} << 42 : 0U);
        b.packed.fetch_add(add, std::memory_order_relaxed);
        totals_.add(1, failed ? 1 : 0, slow ? 1 : 0);
    }

    /// Empties every bucket. Safe against concurrent writers.
    void clear() noexcept {
        for (std::uint32_t i = 0; i < n_; ++i) retire(buckets_[i], empty_epoch, true);
    }

    /// The counts of the window ending at `now` (expires old buckets first).
    [[nodiscard]] breaker_window_counts counts(time_point now) noexcept {
        advance(epoch_of(now));
        return totals_.read();
    }

private:
    static constexpr std::int64_t empty_epoch = -1;
    static constexpr std::int64_t busy_epoch = -2;
    static constexpr std::uint64_t field_mask = (std::uint64_t{1} << 21) - 1;
    static constexpr std::uint64_t field_cap = field_mask - (std::uint64_t{1} << 16);

    struct bucket {
        std::atomic<std::int64_t> epoch{empty_epoch};
        std::atomic<std::uint64_t> packed{0};
    };

    [[nodiscard]] std::int64_t epoch_of(time_point now) const noexcept {
        const std::int64_t d = (now - origin_).count();
        return d <= 0 ? 0 : d / width_;
    }
    bucket& at(std::int64_t e) noexcept { return buckets_[static_cast<std::size_t>(e % std::int64_t{n_})]; }

    /// Makes `b` hold epoch `e` (rolling it over if it holds an older one). False when it already holds
    /// a newer epoch.
    bool claim(bucket& b, std::int64_t e) noexcept {
        for (;;) {
            std::int64_t cur = b.epoch.load(std::memory_order_acquire);
            if (cur == busy_epoch) {
                std::this_thread::yield();
                continue;
            }
            if (cur >= e) return cur == e;
            if (retire_from(b, cur, e)) return true;
        }
    }

    /// Empties `b` and sets its epoch to `to`; `force` also empties a bucket that holds any epoch.
    void retire(bucket& b, std::int64_t to, bool force) noexcept {
        for (;;) {
            std::int64_t cur = b.epoch.load(std::memory_order_acquire);
            if (cur == busy_epoch) {
                std::this_thread::yield();
                continue;
            }
            if (!force && cur >= to) return;
            if (retire_from(b, cur, to)) return;
        }
    }

    bool retire_from(bucket& b, std::int64_t expected, std::int64_t to) noexcept {
        if (!b.epoch.compare_exchange_weak(expected, busy_epoch, std::memory_order_acquire, std::memory_order_relaxed)) {
            return false;
        }
        const std::uint64_t old = b.packed.exchange(0, std::memory_order_relaxed);
        totals_.add(-static_cast<std::int64_t>(old & field_mask), -static_cast<std::int64_t>((old >> 21) & field_mask),
                    -static_cast<std::int64_t>((old >> 42) & field_mask));
        b.epoch.store(to, std::memory_order_release);
        return true;
    }

    /// Expires every bucket older than the window ending at epoch `e`: whoever first moves `head_` to
    /// `e` rolls the buckets of the epochs since the previous head over to those epochs (empty).
    void advance(std::int64_t e) noexcept {
        std::int64_t h = head_.load(std::memory_order_acquire);
        while (h < e) {
            if (head_.compare_exchange_weak(h, e, std::memory_order_acq_rel, std::memory_order_acquire)) {
                const std::int64_t from = std::max(h + 1, e - std::int64_t{n_} + 1);
                for (std::int64_t x = from; x <= e; ++x) retire(at(x), x, false);
                return;
            }
        }
    }

    std::unique_ptr<bucket[]> buckets_;
    std::uint32_t n_ = 0;
    std::int64_t width_ = 1;
    time_point origin_{};
    std::atomic<std::int64_t> head_{-1};
    breaker_window_totals totals_;
};

}  // namespace resilience::detail
