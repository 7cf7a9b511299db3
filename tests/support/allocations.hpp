// SPDX-License-Identifier: MIT
//
// Allocation counting for tests that prove "allocates nothing": include this header in exactly one
// source file of a test program (each tests/test_*.cpp is its own program). It replaces every form of
// operator new and delete — the nothrow and aligned ones too: under ASan a form left out would come
// from the sanitizer's runtime and mismatch our delete.
//
// ThreadSanitizer's runtime defines the allocation functions itself and is linked whole, so under TSan
// nothing is replaced, RESILIENCE_TEST_COUNTS_ALLOCATIONS is 0, and tests skip their allocation checks
// (the other builds, sanitized or not, run them).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

#if defined(__SANITIZE_THREAD__)
#define RESILIENCE_TEST_COUNTS_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RESILIENCE_TEST_COUNTS_ALLOCATIONS 0
#endif
#endif
#ifndef RESILIENCE_TEST_COUNTS_ALLOCATIONS
#define RESILIENCE_TEST_COUNTS_ALLOCATIONS 1
#endif

namespace resilience_test {

/// Allocations made by this thread since it started.
inline thread_local std::uint64_t thread_allocations = 0;
/// Allocations made by every thread of the program.
inline std::atomic<std::uint64_t> all_allocations{0};

/// Allocations made by this thread while `f` runs.
template <class F>
std::uint64_t allocations_during(F&& f) {
    const std::uint64_t before = thread_allocations;
    f();
    return thread_allocations - before;
}

/// Allocations made by every thread of the program while `f` runs (for code that allocates, or
/// might, on threads other than the caller's; nothing else may be running meanwhile).
template <class F>
std::uint64_t all_allocations_during(F&& f) {
    const std::uint64_t before = all_allocations.load();
    f();
    return all_allocations.load() - before;
}

/// One real allocation and deallocation, for tests that first prove the counter counts. Through
/// volatile function pointers: an optimiser may remove a `delete new int` pair (C++14 lets it), and
/// g++ does at -O2.
inline void allocate_once() {
    void* (*volatile alloc)(std::size_t) = static_cast<void* (*)(std::size_t)>(&::operator new);
    void (*volatile dealloc)(void*) noexcept = static_cast<void (*)(void*) noexcept>(&::operator delete);
    dealloc(alloc(sizeof(int)));
}

namespace detail {
inline void count() noexcept {
    ++thread_allocations;
    all_allocations.fetch_add(1, std::memory_order_relaxed);
}
inline void* alloc(std::size_t n) noexcept { return std::malloc(n == 0 ? 1 : n); }
// Out of memory in a throwing operator new: bad_alloc, or abort in a program built without exceptions.
[[noreturn]] inline void out_of_memory() {
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
    throw std::bad_alloc();
#else
    std::abort();
#endif
}
inline void* alloc_aligned(std::size_t n, std::align_val_t al) noexcept {
    const auto a = static_cast<std::size_t>(al);
    const std::size_t size = (n + a - 1) / a * a;
    return std::aligned_alloc(a, size == 0 ? a : size);
}
}  // namespace detail

}  // namespace resilience_test

#if RESILIENCE_TEST_COUNTS_ALLOCATIONS
void* operator new(std::size_t n) {
    resilience_test::detail::count();
    if (void* p = resilience_test::detail::alloc(n)) return p;
    resilience_test::detail::out_of_memory();
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, std::align_val_t al) {
    resilience_test::detail::count();
    if (void* p = resilience_test::detail::alloc_aligned(n, al)) return p;
    resilience_test::detail::out_of_memory();
}
void* operator new[](std::size_t n, std::align_val_t al) { return operator new(n, al); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    resilience_test::detail::count();
    return resilience_test::detail::alloc(n);
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void* operator new(std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
    resilience_test::detail::count();
    return resilience_test::detail::alloc_aligned(n, al);
}
void* operator new[](std::size_t n, std::align_val_t al, const std::nothrow_t& t) noexcept {
    return operator new(n, al, t);
}
// g++ -O2 and above warn that free() releases memory "from a mismatched allocation function" once they
// inline our operator new: it is malloc underneath, so the pair matches.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif
