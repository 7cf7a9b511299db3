// SPDX-License-Identifier: MIT
// The circuit breaker allocates nothing through malloc either, on a thread's first call included.
//
// Counting operator new (support/allocations.hpp) does not see what the C and C++ runtimes allocate
// with malloc/calloc themselves: registering a thread_local's destructor (glibc's
// __cxa_thread_atexit_impl calls calloc on a thread's first use of such an object) is one. So this
// program replaces malloc, calloc, realloc, free and the aligned forms, forwarding to glibc's own
// (__libc_malloc ...), and counts the calls made on one thread while a flag is set, and only on a fresh
// thread (whose first use of everything is what is measured). glibc only, and not under sanitizers
// (which replace malloc themselves): elsewhere the test says so and passes.
#include "support/catch.hpp"

#include <resilience/circuit_breaker.hpp>
#include <resilience/resilient_call.hpp>

#include <atomic>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>

namespace rs = resilience;
using namespace std::chrono_literals;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RESILIENCE_TEST_MALLOC_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define RESILIENCE_TEST_MALLOC_SANITIZED 1
#endif
#endif

#if defined(__GLIBC__) && !defined(RESILIENCE_TEST_MALLOC_SANITIZED)
#define RESILIENCE_TEST_COUNTS_MALLOC 1

namespace {
std::atomic<std::uint64_t> g_mallocs{0};
// Trivially initialised: reading it inside malloc allocates nothing and needs no guard.
thread_local bool t_counting = false;

inline void count() noexcept {
    if (t_counting) g_mallocs.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);

void* malloc(std::size_t n) noexcept {
    count();
    return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t size) noexcept {
    count();
    return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t n) noexcept {
    count();
    return __libc_realloc(p, n);
}
void free(void* p) noexcept { __libc_free(p); }
void* aligned_alloc(std::size_t alignment, std::size_t n) noexcept {
    count();
    return __libc_memalign(alignment, n);
}
void* memalign(std::size_t alignment, std::size_t n) noexcept {
    count();
    return __libc_memalign(alignment, n);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t n) noexcept {
    count();
    void* p = __libc_memalign(alignment, n);
    if (p == nullptr) return 12;  // ENOMEM
    *out = p;
    return 0;
}
}

namespace {
/// malloc-family calls made by `f` on a thread of its own, from the thread's first instruction of `f`.
template <class F>
std::uint64_t mallocs_on_fresh_thread(F f) {
    g_mallocs.store(0);
    std::thread t([&] {
        t_counting = true;
        f();
        t_counting = false;
    });
    t.join();
    return g_mallocs.load();
}
}  // namespace
#else
#define RESILIENCE_TEST_COUNTS_MALLOC 0
#endif

#if RESILIENCE_TEST_COUNTS_MALLOC

TEST_CASE("malloc counting sees the runtime's own allocations", "[circuit_breaker][alloc]") {
    // A direct malloc is seen...
    CHECK(mallocs_on_fresh_thread([] {
              void* volatile p = std::malloc(16);
              std::free(p);
          }) == 1);
    // ...and so is the registration of a thread_local's destructor on a thread's first use of it: the
    // allocation this file exists to rule out.
    CHECK(mallocs_on_fresh_thread([] {
              thread_local std::string s;  // fits the small-string buffer: only the registration allocates
              s = "x";
          }) >= 1);
}

TEST_CASE("circuit_breaker: a thread's first calls allocate nothing, not even through malloc",
          "[circuit_breaker][alloc]") {
    rs::circuit_breaker breaker{{.failure_threshold = 5, .open_duration = 30s}};
    rs::resilient_call call{breaker};

    SECTION("through a composition: successes and failures") {
        const auto n = mallocs_on_fresh_thread([&] {
            for (int i = 0; i < 3; ++i) {
                auto ok = call([] { return rs::result<int>(1); });
                CHECK(ok.has_value());
                auto bad = call([] { return rs::result<int>(rs::failure::of(rs::failure_kind::error)); });
                CHECK_FALSE(bad.has_value());
            }
        });
        CHECK(n == 0);
    }
    SECTION("through permits, and rejections of an open breaker") {
        const auto n = mallocs_on_fresh_thread([&] {
            for (int i = 0; i < 10; ++i) {
                if (auto p = breaker.try_acquire()) p->record_failure();
            }
            CHECK_FALSE(breaker.try_acquire().has_value());  // open: rejected
        });
        CHECK(n == 0);
    }
}

#else

TEST_CASE("circuit_breaker malloc counting: not available in this build", "[circuit_breaker][alloc]") {
    WARN("malloc is not replaceable here (not glibc, or a sanitizer owns it): nothing measured");
    SUCCEED();
}

#endif

TEST_CASE("circuit_breaker: a thread's counter slot is given back when the thread exits",
          "[circuit_breaker][threads]") {
    rs::circuit_breaker breaker{{.failure_threshold = 5, .open_duration = 30s}};
    // Touch a slot on this thread first, so that what follows measures other threads only.
    if (auto p = breaker.try_acquire()) p->record_success();
    const int before = std::popcount(rs::detail::breaker_slot_mask().load());
    // More threads than there are slots: were slots not returned, the later ones would find none.
    for (int i = 0; i < 200; ++i) {
        std::thread t([&] {
            if (auto p = breaker.try_acquire()) p->record_success();
            CHECK(rs::detail::breaker_thread_slot() < rs::detail::breaker_no_slot);
        });
        t.join();
    }
    CHECK(std::popcount(rs::detail::breaker_slot_mask().load()) == before);
    CHECK(breaker.metrics().successes >= 201);
}
