// SPDX-License-Identifier: MIT
//
// Allocation proof: every path the benchmarks measure allocates nothing -- each policy alone on its
// happy path, the full pipeline, every rejection, the shared objects under two threads, and a retry
// that fails twice before it succeeds -- except writing a dead letter, which is allowed to.
//
// This TU replaces the global allocation functions with counting ones. The count is per thread, so
// whatever Catch2 or another thread allocates meanwhile is not attributed to the call under test, and
// the count covers the first call after construction as well as steady-state calls.

#include "support/catch.hpp"

#include <resilience/bulkhead.hpp>
#include <resilience/circuit_breaker.hpp>
#include <resilience/dead_letter.hpp>
#include <resilience/fallback.hpp>
#include <resilience/rate_limiter.hpp>
#include <resilience/resilient_call.hpp>
#include <resilience/retry.hpp>
#include <resilience/sinks/file_sink.hpp>
#include <resilience/sinks/memory_sink.hpp>
#include <resilience/timeout.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

// ThreadSanitizer's runtime defines the global allocation functions itself (a second definition does not
// link), so under TSan the count comes from the sanitizer's allocation hook instead, which sees every
// allocation, operator new included.
#if defined(__SANITIZE_THREAD__)
#define RESILIENCE_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RESILIENCE_TEST_TSAN 1
#endif
#endif
#ifndef RESILIENCE_TEST_TSAN
#define RESILIENCE_TEST_TSAN 0
#endif

namespace {
thread_local std::uint64_t allocations = 0;
}  // namespace

#if RESILIENCE_TEST_TSAN

extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void*, std::size_t),
                                                         void (*free_hook)(const volatile void*));
namespace {
void on_malloc(const volatile void*, std::size_t) { ++allocations; }
void on_free(const volatile void*) {}
const int hooks_installed = __sanitizer_install_malloc_and_free_hooks(&on_malloc, &on_free);
}  // namespace

#else

namespace {

void* counted_alloc(std::size_t n) {
    ++allocations;
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    throw std::bad_alloc();
}

void* counted_aligned_alloc(std::size_t n, std::align_val_t al) {
    ++allocations;
    const auto a = static_cast<std::size_t>(al);
    const std::size_t size = (n + a - 1) / a * a;  // aligned_alloc wants a multiple of the alignment
    if (void* p = std::aligned_alloc(a, size == 0 ? a : size)) return p;
    throw std::bad_alloc();
}

}  // namespace

void* operator new(std::size_t n) { return counted_alloc(n); }
void* operator new[](std::size_t n) { return counted_alloc(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    ++allocations;
    return std::malloc(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
    ++allocations;
    return std::malloc(n == 0 ? 1 : n);
}
void* operator new(std::size_t n, std::align_val_t al) { return counted_aligned_alloc(n, al); }
void* operator new[](std::size_t n, std::align_val_t al) { return counted_aligned_alloc(n, al); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

#endif

namespace {

namespace rs = resilience;
using namespace std::chrono_literals;

/// Allocations made by this thread while `f` runs.
template <class F>
std::uint64_t allocations_during(F&& f) {
    const std::uint64_t before = allocations;
    f();
    return allocations - before;
}

/// Allocations of the first call and of 100 more, and whether every outcome was as expected.
struct measured {
    std::uint64_t first = 0;
    std::uint64_t steady = 0;
    bool outcomes_ok = true;
};

template <class Call, class F, class Check>
measured measure(Call& call, F& f, const rs::call_options& opts, Check ok) {
    measured m;
    m.first = allocations_during([&] { m.outcomes_ok = ok(call(f, opts)) && m.outcomes_ok; });
    m.steady = allocations_during([&] {
        for (int i = 0; i < 100; ++i) m.outcomes_ok = ok(call(f, opts)) && m.outcomes_ok;
    });
    return m;
}

template <class Call, class F, class Check>
measured measure(Call& call, F& f, Check ok) {
    const rs::call_options opts{};
    return measure(call, f, opts, ok);
}

auto succeeded = [](const auto& r) { return r.has_value(); };
auto failed_with(rs::failure_kind k) {
    return [k](const auto& r) { return !r.has_value() && r.error().kind == k; };
}

// The dependency: opaque enough that nothing is folded away, and allocation-free itself.
int (*volatile dependency)(int) = [](int attempt) { return attempt; };
std::atomic<int> unexpected_calls{0};

rs::result<int> ok_call() { return dependency(1); }
rs::result<int> failing_call() { return rs::failure::of(rs::failure_kind::error, "failed"); }
rs::result<int> must_not_run() {
    unexpected_calls.fetch_add(1);
    return dependency(1);
}

}  // namespace

TEST_CASE("the counting allocator sees allocations", "[allocations]") {
    // Guards against a test that cannot fail: if the counting were not in effect, every count below
    // would be zero whatever the library did.
#if RESILIENCE_TEST_TSAN
    REQUIRE(hooks_installed != 0);
#endif
    const auto n = allocations_during([] {
        std::vector<int> v;
        v.reserve(16);
        std::thread t([] {});
        t.join();
    });
    CHECK(n >= 2);
}

TEST_CASE("an empty composition allocates nothing", "[allocations]") {
    rs::resilient_call<> call{};
    auto f = [] { return ok_call(); };
    auto m = measure(call, f, succeeded);
    CHECK(m.outcomes_ok);
    CHECK(m.first == 0);
    CHECK(m.steady == 0);
}

TEST_CASE("timeout allocates nothing on the happy path or when the deadline has passed", "[allocations]") {
    SECTION("happy path") {
        rs::resilient_call call{rs::timeout{1s}};
        auto f = [] { return ok_call(); };
        auto m = measure(call, f, succeeded);
        CHECK(m.outcomes_ok);
        CHECK(m.first == 0);
        CHECK(m.steady == 0);
    }
    SECTION("the call returns after its budget (manual clock)") {
        rs::manual_clock clk;
        rs::resilient_call call{clk, rs::timeout{10ms}};
        auto slow = [&clk] {
            clk.advance(20ms);
            return ok_call();
        };
        auto m = measure(call, slow, failed_with(rs::failure_kind::timeout));
        CHECK(m.outcomes_ok);
        CHECK(m.first == 0);
        CHECK(m.steady == 0);
    }
}

TEST_CASE("fallback allocates nothing, used or not", "[allocations]") {
    rs::resilient_call call{rs::fallback{7}};
    SECTION("not used") {
        auto f = [] { return ok_call(); };
        auto m = measure(call, f, succeeded);
        CHECK(m.outcomes_ok);
        CHECK(m.first == 0);
        CHECK(m.steady == 0);
    }
    SECTION("used") {
        auto f = [] { return failing_call(); };
        auto m = measure(call, f, [](const rs::result<int>& r) { return r.has_value() && *r == 7; });
        CHECK(m.outcomes_ok);
        CHECK(m.first == 0);
        CHECK(m.steady == 0);
    }
}

TEST_CASE("a call whose deadline has passed is rejected without allocating", "[allocations]") {
    const int before = unexpected_calls.load();
    rs::call_options opts{.deadline = std::chrono::steady_clock::now() - 1s};
    auto f = [] { return must_not_run(); };
    SECTION("bare composition") {
        rs::resilient_call<> call{};
        auto m = measure(call, f, opts, failed_with(rs::failure_kind::deadline_exceeded));
        CHECK(m.outcomes_ok);
        CHECK(m.first == 0);
        CHECK(m.steady == 0);
    }
    SECTION("under a timeout") {
        rs::resilient_call call{rs::timeout{1s}};
        auto m = measure(call, f, opts, failed_with(rs::failure_kind::deadline_exceeded));
        CHECK(m.outcomes_ok);
        CHECK(m.first == 0);
        CHECK(m.steady == 0);
    }
    CHECK(unexpected_calls.load() == before);
}

TEST_CASE("circuit_breaker allocates nothing when closed, when open, or shared by two threads", "[allocations]") {
    SECTION("closed") {
        rs::circuit_breaker breaker{{.failure_threshold = 5, .open_duration = 30s}};
        rs::resilient_call call{breaker};
        auto f = [] { return ok_call(); };
        auto m = measure(call, f, succeeded);
        CHECK(m.outcomes_ok);
        CHECK(m.first == 0);
        CHECK(m.steady == 0);
    }
    SECTION("open: the rejection") {
        rs::circuit_breaker breaker{{.failure_threshold = 5, .open_duration = 1h}};
        rs::resilient_call call{breaker};
        auto fail = [] { return failing_call(); };
        for (int i = 0; i < 5; ++i) (void)call(fail);
        REQUIRE(breaker.state() == rs::circuit_state::open);
        const int before = unexpected_calls.load();
        auto f = [] { return must_not_run(); };
        auto m = measure(call, f, failed_with(rs::failure_kind::circuit_open));
        CHECK(m.outcomes_ok);
        CHECK(m.first == 0);
        CHECK(m.steady == 0);
        CHECK(unexpected_calls.load() == before);
    }
    SECTION("tripping it: the failures that open it") {
        rs::manual_clock clk;
        rs::circuit_breaker breaker{{.failure_threshold = 3, .open_duration = 1s}, clk};
        rs::resilient_call call{breaker};
        auto fail = [] { return failing_call(); };
        const auto n = allocations_during([&] {
            for (int i = 0; i < 3; ++i) (void)call(fail);
        });
        CHECK(breaker.state() == rs::circuit_state::open);
        CHECK(n == 0);
    }
    SECTION("two threads on one closed breaker") {
        rs::circuit_breaker breaker{{.failure_threshold = 5, .open_duration = 30s}};
        std::atomic<std::uint64_t> total{0};
        std::atomic<bool> all_ok{true};
        auto worker = [&] {
            rs::resilient_call call{breaker};
            auto f = [] { return ok_call(); };
            auto m = measure(call, f, succeeded);
            total += m.first + m.steady;
            if (!m.outcomes_ok) all_ok = false;
        };
        std::thread a(worker), b(worker);
        a.join();
        b.join();
        CHECK(all_ok.load());
        CHECK(total.load() == 0);
    }
}

TEST_CASE("dead_letter allocates nothing when there is nothing to write", "[allocations]") {
    // Unique per process: several builds of this test may run at once on one machine.
    const auto path = (std::filesystem::temp_directory_path() /
                       ("resilience-test-allocations-" + std::to_string(::getpid()) + ".jsonl"))
                          .string();
    std::filesystem::remove(path);
    {
        rs::file_sink sink{path};
        rs::resilient_call call{rs::dead_letter{sink, {.source = "test"}}};
        auto f = [] { return ok_call(); };
        auto m = measure(call, f, succeeded);
        CHECK(m.outcomes_ok);
        CHECK(m.first == 0);
        CHECK(m.steady == 0);
        CHECK(sink.stats().records == 0);
    }
    CHECK_FALSE(std::filesystem::exists(path));  // the sink opens its file lazily: nothing was touched
    SECTION("writing one is the exception: it allocates (the record owns its data)") {
        rs::memory_sink sink;
        rs::resilient_call call{rs::dead_letter{sink, {.source = "test"}}};
        auto f = [] { return failing_call(); };
        const auto n = allocations_during([&] { CHECK_FALSE(call(f).has_value()); });
        CHECK(n > 0);
        CHECK(sink.size() == 1);
    }
}

TEST_CASE("retry allocates nothing, whether it retries or not", "[allocations]") {
    SECTION("the first attempt succeeds") {
        rs::resilient_call call{rs::retry{{.max_attempts = 3}}};
        auto f = [] { return ok_call(); };
        auto m = measure(call, f, succeeded);
        CHECK(m.outcomes_ok);
        CHECK(m.first == 0);
        CHECK(m.steady == 0);
    }
    SECTION("two failures, two backoffs (manual clock), then a success") {
        rs::manual_clock clk;
        rs::resilient_call call{clk, rs::retry{{.max_attempts = 3, .backoff = rs::constant_backoff{10ms}}}};
        auto f = [](const rs::attempt& a) -> rs::result<int> {
            if (a.number() < 3) return failing_call();
            return ok_call();
        };
        auto m = measure(call, f, succeeded);
        CHECK(m.outcomes_ok);
        CHECK(clk.sleep_count() == 2 * 101);
        CHECK(m.first == 0);
        CHECK(m.steady == 0);
    }
    SECTION("every attempt fails (default backoff with jitter, manual clock)") {
        rs::manual_clock clk;
        rs::resilient_call call{clk, rs::retry{{.max_attempts = 4}}};
        auto f = [] { return failing_call(); };
        auto m = measure(call, f, failed_with(rs::failure_kind::error));
        CHECK(m.outcomes_ok);
        CHECK(m.first == 0);
        CHECK(m.steady == 0);
    }
}

TEST_CASE("bulkhead allocates nothing with a free slot, when full, or shared by two threads", "[allocations]") {
    SECTION("a free slot") {
        rs::bulkhead pool{{.max_concurrent = 8}};
        rs::resilient_call call{pool};
        auto f = [] { return ok_call(); };
        auto m = measure(call, f, succeeded);
        CHECK(m.outcomes_ok);
        CHECK(m.first == 0);
        CHECK(m.steady == 0);
    }
    SECTION("full, no queue: the rejection") {
        rs::bulkhead pool{{.max_concurrent = 1}};
        auto held = pool.try_acquire();
        REQUIRE(held.held());
        rs::resilient_call call{pool};
        const int before = unexpected_calls.load();
        auto f = [] { return must_not_run(); };
        auto m = measure(call, f, failed_with(rs::failure_kind::bulkhead_full));
        CHECK(m.outcomes_ok);
        CHECK(m.first == 0);
        CHECK(m.steady == 0);
        CHECK(unexpected_calls.load() == before);
    }
    SECTION("two threads on one bulkhead") {
        rs::bulkhead pool{{.max_concurrent = 64}};
        std::atomic<std::uint64_t> total{0};
        std::atomic<bool> all_ok{true};
        auto worker = [&] {
            rs::resilient_call call{pool};
            auto f = [] { return ok_call(); };
            auto m = measure(call, f, succeeded);
            total += m.first + m.steady;
            if (!m.outcomes_ok) all_ok = false;
        };
        std::thread a(worker), b(worker);
        a.join();
        b.join();
        CHECK(all_ok.load());
        CHECK(total.load() == 0);
    }
}

TEST_CASE("rate_limiter allocates nothing with a token or when empty", "[allocations]") {
    SECTION("a token is available") {
        rs::rate_limiter limiter{{.permits = 1'000'000, .per = 1ms, .burst = 1'000'000}};
        rs::resilient_call call{limiter};
        auto f = [] { return ok_call(); };
        auto m = measure(call, f, succeeded);
        CHECK(m.outcomes_ok);
        CHECK(m.first == 0);
        CHECK(m.steady == 0);
    }
    SECTION("empty: the rejection") {
        rs::rate_limiter limiter{{.permits = 1, .per = 1h, .burst = 1}};
        REQUIRE(limiter.try_acquire());
        rs::resilient_call call{limiter};
        const int before = unexpected_calls.load();
        auto f = [] { return must_not_run(); };
        auto m = measure(call, f, failed_with(rs::failure_kind::rate_limited));
        CHECK(m.outcomes_ok);
        CHECK(m.first == 0);
        CHECK(m.steady == 0);
        CHECK(unexpected_calls.load() == before);
    }
}

TEST_CASE("the full pipeline allocates nothing, built once or per call", "[allocations]") {
    rs::circuit_breaker breaker{{.failure_threshold = 5, .open_duration = 30s}};
    rs::bulkhead pool{{.max_concurrent = 8}};
    auto f = [](const rs::attempt& a) -> rs::result<int> { return dependency(static_cast<int>(a.number())); };
    SECTION("built once") {
        rs::resilient_call call{rs::retry{{.max_attempts = 3}}, breaker, pool, rs::timeout{500ms}};
        auto m = measure(call, f, succeeded);
        CHECK(m.outcomes_ok);
        CHECK(m.first == 0);
        CHECK(m.steady == 0);
    }
    SECTION("built for every call") {
        bool ok = true;
        const auto n = allocations_during([&] {
            for (int i = 0; i < 100; ++i) {
                rs::resilient_call call{rs::retry{{.max_attempts = 3}}, breaker, pool, rs::timeout{500ms}};
                ok = call(f).has_value() && ok;
            }
        });
        CHECK(ok);
        CHECK(n == 0);
    }
    SECTION("the caller's deadline has passed") {
        rs::resilient_call call{rs::retry{{.max_attempts = 3}}, breaker, pool, rs::timeout{500ms}};
        const rs::call_options opts{.deadline = std::chrono::steady_clock::now() - 1s};
        auto m = measure(call, f, opts, failed_with(rs::failure_kind::deadline_exceeded));
        CHECK(m.outcomes_ok);
        CHECK(m.first == 0);
        CHECK(m.steady == 0);
    }
    SECTION("the breaker is open") {
        breaker.isolate();
        rs::resilient_call call{rs::retry{{.max_attempts = 3}}, breaker, pool, rs::timeout{500ms}};
        auto m = measure(call, f, failed_with(rs::failure_kind::circuit_open));
        CHECK(m.outcomes_ok);
        CHECK(m.first == 0);
        CHECK(m.steady == 0);
    }
}
