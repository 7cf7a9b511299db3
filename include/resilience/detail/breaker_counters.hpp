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

// POSIX systems give slots back through a pthread key (see below); elsewhere, a thread_local destructor.
#ifndef RESILIENCE_BREAKER_SLOT_PTHREAD_KEY
#if (defined(__unix__) || defined(__APPLE__)) && __has_include(<pthread.h>)
#define RESILIENCE_BREAKER_SLOT_PTHREAD_KEY 1
#else
#define RESILIENCE_BREAKER_SLOT_PTHREAD_KEY 0
#endif
#endif
#if RESILIENCE_BREAKER_SLOT_PTHREAD_KEY
#include <pthread.h>
#endif

namespace resilience::detail {

inline constexpr std::uint32_t breaker_no_slot = 64;

/// The process-wide mask of claimed slots.
inline std::atomic<std::uint64_t>& breaker_slot_mask() noexcept {
    static std::atomic<std::uint64_t> mask{0};
    return mask;
}

/// Claims a free slot: 0 to 63, or `breaker_no_slot` when all 64 are held.
inline std::uint32_t breaker_claim_slot() noexcept {
    auto& mask = breaker_slot_mask();
    std::uint64_t m = mask.load(std::memory_order_relaxed);
    while (m != ~std::uint64_t{0}) {
        const auto bit = static_cast<std::uint32_t>(std::countr_one(m));
        if (mask.compare_exchange_weak(m, m | (std::uint64_t{1} << bit), std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
            return bit;
        }
    }
    return breaker_no_slot;
}

/// Gives a claimed slot back.
inline void breaker_release_slot(std::uint32_t slot) noexcept {
    if (slot < breaker_no_slot) breaker_slot_mask().fetch_and(~(std::uint64_t{1} << slot), std::memory_order_release);
}

#if RESILIENCE_BREAKER_SLOT_PTHREAD_KEY
// Why not a thread_local object with a destructor: registering its destructor on a thread's first use
// (glibc's __cxa_thread_atexit_impl) calls calloc, so a thread's first breaker call would allocate. The
// slot lives in a trivially destructible thread_local instead, and a pthread key (created once per
// process) gives it back at thread exit. pthread_setspecific allocates nothing for the first
// PTHREAD_KEY_2NDLEVEL_SIZE (32) keys of a process in glibc (they live in the thread descriptor) and
// never in musl; a process that has already created more keys gets one allocation per thread from it.

/// The calling thread's slot + 1; 0 until its first use. Trivial: no guard, no destructor, no allocation.
inline std::uint32_t& breaker_slot_plus_one() noexcept {
    thread_local std::uint32_t slot_plus_one = 0;
    return slot_plus_one;
}

extern "C" inline void resilience_breaker_slot_exit(void* value) noexcept {
    // Runs at thread exit with the value stored below (slot + 1).
    const auto slot_plus_one = static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(value));
    breaker_release_slot(slot_plus_one - 1);
    // A later destructor on this thread that calls a breaker claims (and registers) a slot again.
    breaker_slot_plus_one() = 0;
}

/// The process-wide key whose destructor gives slots back; created once, never deleted (trivially
/// destructible, so it registers nothing at exit either).
struct breaker_slot_key {
    pthread_key_t key{};
    bool valid = false;
    breaker_slot_key() noexcept { valid = pthread_key_create(&key, &resilience_breaker_slot_exit) == 0; }
};

/// The calling thread's slot (0 to 63), or `breaker_no_slot` when 64 threads hold one.
inline std::uint32_t breaker_thread_slot() noexcept {
    std::uint32_t& local = breaker_slot_plus_one();
    if (local != 0) [[likely]] return local - 1;
    static const breaker_slot_key key;
    std::uint32_t slot = breaker_no_slot;
    if (key.valid) {
        slot = breaker_claim_slot();
        if (slot != breaker_no_slot &&
            pthread_setspecific(key.key, reinterpret_cast<void*>(static_cast<std::uintptr_t>(slot) + 1)) != 0) {
            breaker_release_slot(slot);  // nobody would give it back
            slot = breaker_no_slot;
        }
    }
    local = slot + 1;
    return slot;
}
#else
/// A thread's slot, claimed on first use and returned when the thread exits. (Where there are no
/// pthread keys: registering this destructor may allocate once per thread, on its first breaker call.)
class breaker_slot_holder {
public:
    breaker_slot_holder() noexcept : slot_(breaker_claim_slot()) {}
    breaker_slot_holder(const breaker_slot_holder&) = delete;
    breaker_slot_holder& operator=(const breaker_slot_holder&) = delete;
    ~breaker_slot_holder() { breaker_release_slot(slot_); }
    [[nodiscard]] std::uint32_t slot() const noexcept { return slot_; }

private:
    std::uint32_t slot_;
};

/// The calling thread's slot (0 to 63), or `breaker_no_slot` when 64 threads hold one.
inline std::uint32_t breaker_thread_slot() noexcept {
    thread_local const breaker_slot_holder holder;
    return holder.slot();
}
#endif

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
