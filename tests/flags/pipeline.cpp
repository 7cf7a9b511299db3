// SPDX-License-Identifier: MIT
//
// One program, built twice (tests/flags/CMakeLists.txt), and run: exits non-zero when the composition
// misbehaves (each failed check is printed to stderr).
//   flags_strict_warnings  -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow -Werror, -O2
//   flags_no_exceptions    the same warnings plus -fno-exceptions -fno-rtti (as aws-lambda-cpp builds)
//
// A Lambda-style handler wraps a flaky dependency in every policy the library has, composed as in
// DESIGN.md, on virtual time; configuration errors are reported through validate() and the make_*
// factories, failures are values everywhere. What differs with exceptions on or off is under
// RESILIENCE_HAS_EXCEPTIONS: with them, a throwing call becomes a failure and a bad configuration in a
// constructor throws; without them, a violated precondition aborts with a message. Policies are picked
// up with __has_include, so this TU grows as headers land. Standard library only: no Catch2.
#include <resilience/resilience.hpp>

#ifndef RESILIENCE_FLAGS_NO_EXCEPTIONS
#error "define RESILIENCE_FLAGS_NO_EXCEPTIONS to 0 (flags_strict_warnings) or 1 (flags_no_exceptions)"
#endif

#if __has_include(<resilience/timeout.hpp>)
#include <resilience/timeout.hpp>
#define RESILIENCE_FLAGS_TIMEOUT 1
#else
#define RESILIENCE_FLAGS_TIMEOUT 0
#endif
#if __has_include(<resilience/retry.hpp>)
#include <resilience/retry.hpp>
#define RESILIENCE_FLAGS_RETRY 1
#else
#define RESILIENCE_FLAGS_RETRY 0
#endif
#if __has_include(<resilience/circuit_breaker.hpp>)
#include <resilience/circuit_breaker.hpp>
#define RESILIENCE_FLAGS_BREAKER 1
#else
#define RESILIENCE_FLAGS_BREAKER 0
#endif
#if __has_include(<resilience/bulkhead.hpp>)
#include <resilience/bulkhead.hpp>
#define RESILIENCE_FLAGS_BULKHEAD 1
#else
#define RESILIENCE_FLAGS_BULKHEAD 0
#endif
#if __has_include(<resilience/rate_limiter.hpp>)
#include <resilience/rate_limiter.hpp>
#define RESILIENCE_FLAGS_RATE_LIMITER 1
#else
#define RESILIENCE_FLAGS_RATE_LIMITER 0
#endif
#if __has_include(<resilience/fallback.hpp>)
#include <resilience/fallback.hpp>
#define RESILIENCE_FLAGS_FALLBACK 1
#else
#define RESILIENCE_FLAGS_FALLBACK 0
#endif
#if __has_include(<resilience/dead_letter.hpp>)
#include <resilience/dead_letter.hpp>
#define RESILIENCE_FLAGS_DEAD_LETTER 1
#else
#define RESILIENCE_FLAGS_DEAD_LETTER 0
#endif

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>

#if defined(__unix__) || defined(__APPLE__)
#include <csignal>
#include <sys/wait.h>
#include <unistd.h>
#define RESILIENCE_FLAGS_HAVE_FORK 1
#else
#define RESILIENCE_FLAGS_HAVE_FORK 0
#endif

#include "../support/allocations.hpp"

namespace rs = resilience;
using namespace std::chrono_literals;

// Every heap allocation of the program is counted (except under TSan: see tests/support/allocations.hpp).

namespace {

// Which of the two builds this is (set by tests/flags/CMakeLists.txt), checked against the flags in main().
#if RESILIENCE_FLAGS_NO_EXCEPTIONS
constexpr const char* program = "no_exceptions";
#else
constexpr const char* program = "strict_warnings";
#endif

int g_failed = 0;

void check(bool ok, const char* what, int line) {
    if (!ok) {
        ++g_failed;
        std::fprintf(stderr, "%s:%d: check failed (%s): %s\n", __FILE__, line, program, what);
    }
}
#define CHECK(...) check(static_cast<bool>(__VA_ARGS__), #__VA_ARGS__, __LINE__)

// A listener that allocates nothing: counts events by type.
struct tally_listener {
    std::array<std::atomic<int>, 16> by_type{};
    void on_event(const rs::event& e) noexcept {
        by_type[static_cast<std::size_t>(e.type)].fetch_add(1, std::memory_order_relaxed);
    }
    int operator[](rs::event_type t) const noexcept { return by_type[static_cast<std::size_t>(t)].load(); }
};

struct response {
    int status = 200;
    std::string_view body{};
};

#if RESILIENCE_FLAGS_DEAD_LETTER
// A sink that keeps the last record: enough to check what a replay would get.
struct last_record_sink {
    int published = 0;
    bool fail_next = false;
    rs::dead_letter_record last{};
    rs::result<void> publish(const rs::dead_letter_record& r) {
        if (fail_next) return rs::failure::from_error(std::make_error_code(std::errc::no_space_on_device));
        ++published;
        last = r;
        return {};
    }
};
static_assert(rs::dead_letter_sink<last_record_sink>);
#endif

// The state that lives as long as a Lambda execution environment, on virtual time.
struct environment {
    rs::manual_clock clk;
    tally_listener events;
#if RESILIENCE_FLAGS_BREAKER
    rs::circuit_breaker<rs::manual_clock> breaker{{.failure_threshold = 5, .open_duration = 30s}, clk};
#endif
#if RESILIENCE_FLAGS_BULKHEAD
    rs::bulkhead<rs::manual_clock> pool{{.max_concurrent = 2}, clk};
#endif
#if RESILIENCE_FLAGS_RATE_LIMITER
    rs::rate_limiter<rs::manual_clock> limiter{{.permits = 1000, .per = 1s, .burst = 1000}, clk};
#endif
#if RESILIENCE_FLAGS_DEAD_LETTER
    last_record_sink dlq;
#endif

    // The handler's outbound call, composed outermost first as in DESIGN.md.
    template <class F>
    rs::call_result_t<F> fetch(F&& f, const rs::call_options& opts) {
        rs::resilient_call call{
#if RESILIENCE_FLAGS_DEAD_LETTER
            rs::dead_letter{dlq},
#endif
#if RESILIENCE_FLAGS_TIMEOUT
            rs::timeout{2s},
#endif
#if RESILIENCE_FLAGS_RETRY
            rs::retry{{.max_attempts = 4, .backoff = rs::exponential_backoff{50ms, 2s, rs::full_jitter}}},
#endif
#if RESILIENCE_FLAGS_BREAKER
            breaker,
#endif
#if RESILIENCE_FLAGS_BULKHEAD
            pool,
#endif
#if RESILIENCE_FLAGS_RATE_LIMITER
            limiter,
#endif
#if RESILIENCE_FLAGS_TIMEOUT
            rs::timeout{500ms},
#endif
            clk,
            events,
        };
        return call(std::forward<F>(f), opts);
    }
};

void happy_path() {
    environment env;
    const auto deadline = env.clk.now() + 10s;
    rs::call_options opts{.deadline = deadline, .id = "req-1", .payload = R"({"order":42})"};
    int calls = 0;
    long sum = 0;
    // Warm up once: first-use statics (e.g. a thread's random state) are not per-call costs.
    (void)env.fetch([&] { return response{}; }, opts);
    const auto before = resilience_test::all_allocations.load();
    for (int i = 0; i < 100; ++i) {
        auto r = env.fetch([&](const rs::attempt& a) {
            ++calls;
            return response{200 + (a.has_deadline() ? 0 : 1), "ok"};
        }, opts);
        if (r) sum += r->status;
    }
    const auto allocations = resilience_test::all_allocations.load() - before;
    CHECK(allocations == 0u);
    CHECK(calls == 100);
    CHECK(sum == 100 * 200);
    CHECK(env.events[rs::event_type::attempt_succeeded] == 101);
    CHECK(env.events[rs::event_type::attempt_failed] == 0);
}

void transient_failure() {
    environment env;
    int calls = 0;
    auto flaky = [&]() -> rs::result<response> {
        if (++calls == 1) return rs::failure::from_error(std::make_error_code(std::errc::connection_reset),
                                                         rs::transience::transient, "connection reset");
        return response{200, "second time lucky"};
    };
    const auto sleeps = env.clk.sleep_count();
    auto r = env.fetch(flaky, {.deadline = env.clk.now() + 10s, .id = "req-2"});
#if RESILIENCE_FLAGS_RETRY
    CHECK(r.has_value());
    CHECK(calls == 2);
    CHECK(env.clk.sleep_count() == sleeps + 1);  // one backoff, on virtual time
#else
    CHECK(!r.has_value());
    CHECK(calls == 1);
    CHECK(r.error().attempts == 1u);
    (void)sleeps;
#endif
}

void slow_dependency() {
    environment env;
    int calls = 0;
    auto slow = [&](const rs::attempt&) {
        ++calls;
        env.clk.advance(600ms);  // longer than the per-attempt budget
        return response{200, "too late"};
    };
    auto r = env.fetch(slow, {.deadline = env.clk.now() + 10s, .id = "req-3"});
#if RESILIENCE_FLAGS_TIMEOUT
    CHECK(!r.has_value());
    if (!r) {
        CHECK(r.error().kind == rs::failure_kind::timeout);
        CHECK(r.error().attempts == static_cast<std::uint32_t>(calls));
        CHECK(r.error().elapsed <= 2s + 600ms);  // the overall budget held (one late return at most)
    }
#else
    CHECK(r.has_value());
#endif
#if RESILIENCE_FLAGS_RETRY && RESILIENCE_FLAGS_TIMEOUT
    CHECK(calls > 1);
    CHECK(calls <= 4);
#endif
}

void expired_deadline() {
    environment env;
    int calls = 0;
#if RESILIENCE_FLAGS_DEAD_LETTER
    const int published = env.dlq.published;
#endif
    auto r = env.fetch([&] { return ++calls; }, {.deadline = env.clk.now() - 1ms, .id = "req-4", .payload = "p4"});
    CHECK(!r.has_value());
    CHECK(calls == 0);
    if (!r) {
        CHECK(r.error().kind == rs::failure_kind::deadline_exceeded);
        CHECK(r.error().attempts == 0u);
    }
#if RESILIENCE_FLAGS_DEAD_LETTER
    // Nothing is lost silently: the failed call is in the dead-letter sink, replayable.
    CHECK(env.dlq.published == published + 1);
    CHECK(env.dlq.last.id == "req-4");
    CHECK(env.dlq.last.payload == "p4");
    CHECK(env.dlq.last.kind == rs::failure_kind::deadline_exceeded);
#endif
}

void cancelled() {
    environment env;
    std::stop_source src;
    src.request_stop();
    int calls = 0;
    auto r = env.fetch([&] { return ++calls; }, {.deadline = env.clk.now() + 10s, .stop = src.get_token()});
    CHECK(!r.has_value());
    CHECK(calls == 0);
    if (!r) CHECK(r.error().kind == rs::failure_kind::cancelled);
}

#if RESILIENCE_HAS_EXCEPTIONS
void exceptions_become_failures() {
    environment env;
    auto r = env.fetch([]() -> int { throw std::runtime_error("boom"); }, {.deadline = env.clk.now() + 10s});
    CHECK(!r.has_value());
    if (!r) {
        CHECK(r.error().kind == rs::failure_kind::error);
        CHECK(r.error().exception != nullptr);
    }
}
#endif

void dependency_down() {
    environment env;
    int calls = 0;
    auto down = [&]() -> rs::result<response> {
        ++calls;
        return rs::failure::from_error(std::make_error_code(std::errc::connection_refused), rs::transience::transient,
                                       "connection refused");
    };
    for (int i = 0; i < 5; ++i) (void)env.fetch(down, {.deadline = env.clk.now() + 10s});
    const int before = calls;
    auto r = env.fetch(down, {.deadline = env.clk.now() + 10s, .id = "req-down"});
    CHECK(!r.has_value());
#if RESILIENCE_FLAGS_BREAKER
    // The breaker is open: the dependency is not called again; the call fails fast. (Under a retry that
    // would have to wait out the open breaker, the overall timeout ends it, its cause kept.)
    CHECK(calls == before);
    if (!r) CHECK(r.error().kind == rs::failure_kind::circuit_open || r.error().cause == rs::failure_kind::circuit_open);
#else
    CHECK(calls > before);
#endif
}

void guards_reject() {
    environment env;
#if RESILIENCE_FLAGS_BULKHEAD
    {
        auto a = env.pool.try_acquire();
        auto b = env.pool.try_acquire();
        CHECK(a.held());
        CHECK(b.held());
        int calls = 0;
        rs::resilient_call guarded{env.pool, env.clk};
        auto r = guarded([&] { return ++calls; });
        CHECK(!r.has_value());
        CHECK(calls == 0);
        if (!r) CHECK(r.error().kind == rs::failure_kind::bulkhead_full);
#if RESILIENCE_FLAGS_FALLBACK
        rs::resilient_call with_fallback{rs::fallback{-1}, env.pool, env.clk};
        auto fb = with_fallback([&] { return ++calls; });
        CHECK(fb.has_value());
        if (fb) CHECK(*fb == -1);
        CHECK(calls == 0);
#endif
    }
#endif
#if RESILIENCE_FLAGS_RATE_LIMITER
    {
        rs::rate_limiter<rs::manual_clock> tight{{.permits = 2, .per = 1s, .burst = 2}, env.clk};
        rs::resilient_call limited{tight, env.clk};
        int passed = 0;
        for (int i = 0; i < 3; ++i) passed += limited([] { return 1; }).has_value() ? 1 : 0;
        CHECK(passed == 2);
        auto r = limited([] { return 1; });
        CHECK(!r.has_value());
        if (!r) {
            CHECK(r.error().kind == rs::failure_kind::rate_limited);
            CHECK(r.error().retry_after > 0ns);
        }
        env.clk.advance(1s);  // lazily refilled on the next call: no timer
        CHECK(limited([] { return 1; }).has_value());
    }
#endif
#if RESILIENCE_FLAGS_BREAKER
    {
        rs::circuit_breaker<rs::manual_clock> b{{.failure_threshold = 3, .open_duration = 30s}, env.clk};
        rs::resilient_call guarded{b, env.clk};
        auto failing = []() -> rs::result<int> { return rs::failure::of(rs::failure_kind::error, "down"); };
        for (int i = 0; i < 3; ++i) (void)guarded(failing);
        int calls = 0;
        auto r = guarded([&] { return ++calls; });
        CHECK(!r.has_value());
        CHECK(calls == 0);
        if (!r) CHECK(r.error().kind == rs::failure_kind::circuit_open);
        env.clk.advance(30s);  // the open duration passes: a probe is let through, lazily
        auto probe = guarded([&] { return ++calls; });
        CHECK(probe.has_value());
        CHECK(calls == 1);
    }
#endif
}

void configuration_is_validated() {
    // A bad configuration in a constructor throws std::invalid_argument, or aborts without exceptions
    // (violations_abort_with_a_message); code that takes its configuration from outside checks it first,
    // with validate() or a make_* factory returning a result.
#if RESILIENCE_FLAGS_TIMEOUT
    auto e = rs::timeout_options{.duration = 0s}.validate();
    CHECK(e.has_value());
    if (e) {
        CHECK(e->field == "timeout_options.duration");
        CHECK(e->message.find("greater than zero") != std::string_view::npos);
    }
#if RESILIENCE_HAS_EXCEPTIONS
    bool threw = false;
    try {
        rs::timeout bad_duration{-1s};
        (void)bad_duration;
    } catch (const std::invalid_argument& ex) {
        threw = std::string_view(ex.what()).find("timeout_options.duration") != std::string_view::npos;
    }
    CHECK(threw);
#endif
    auto made_zero = rs::make_timeout({.duration = 0s});
    CHECK(!made_zero.has_value());
    auto bad = rs::make_timeout({.duration = 1s, .min_remaining = 2s});
    CHECK(!bad.has_value());
    if (!bad) {
        CHECK(bad.error().error == std::make_error_code(std::errc::invalid_argument));
        CHECK(bad.error().message.find("timeout_options.min_remaining") != std::string_view::npos);
    }
    auto good = rs::make_timeout({.duration = 1s});
    CHECK(good.has_value());
    if (good) {
        rs::manual_clock clk;
        rs::resilient_call call{*good, clk};
        CHECK(call([] { return 1; }).has_value());
    }
#endif
#if RESILIENCE_FLAGS_RETRY
    auto re = rs::retry_options<>{.max_attempts = 0}.validate();
    CHECK(re.has_value());
    if (re) CHECK(re->field == "retry_options.max_attempts");
    auto made = rs::make_retry({.max_attempts = 1001});
    CHECK(!made.has_value());
    auto ok = rs::make_retry({.max_attempts = 2});
    CHECK(ok.has_value());
#endif
#if RESILIENCE_FLAGS_DEAD_LETTER
    last_record_sink sink;
    auto dl = rs::make_dead_letter(sink, {.source = ""});
    CHECK(!dl.has_value());
    if (!dl) CHECK(dl.error().message.find("dead_letter_options.source") != std::string_view::npos);
#endif
#if RESILIENCE_FLAGS_BULKHEAD
    auto be = rs::bulkhead_options{.max_concurrent = 0}.validate();
    CHECK(be.has_value());
    if (be) CHECK(be->field == "bulkhead_options.max_concurrent");
#endif
#if RESILIENCE_FLAGS_RATE_LIMITER
    auto le = rs::rate_limiter_options{.permits = 0}.validate();
    CHECK(le.has_value());
    if (le) CHECK(le->field == "rate_limiter_options.permits");
#endif
}

void failures_are_values() {
    // result::value() on a failure throws, or aborts without exceptions; the code checks first, as users
    // without exceptions must.
    rs::manual_clock clk;
    rs::resilient_call call{clk};
    auto r = call([]() -> rs::result<int> { return rs::failure::of(rs::failure_kind::error, "no"); });
    CHECK(!r.has_value());
    CHECK(r.value_or(7) == 7);
    CHECK(r.error().message == "no");
    auto v = call([] {});
    CHECK(v.has_value());
}

#if !RESILIENCE_HAS_EXCEPTIONS && RESILIENCE_FLAGS_HAVE_FORK
// Runs `body` in a child process with stderr captured; returns true when the child was killed by SIGABRT
// and its stderr contains `expected`. Without exceptions, a violated precondition must abort with a
// message (a Lambda log then shows the cause instead of a bare SIGABRT).
template <class F>
bool aborts_with(F body, std::string_view expected) {
    int fds[2];
    if (pipe(fds) != 0) return false;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        body();
        _exit(0);  // not reached when the body aborts
    }
    close(fds[1]);
    std::string err;
    char buf[512];
    for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) err.append(buf, static_cast<std::size_t>(n));
    close(fds[0]);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) return false;
    bool aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    if (!aborted || err.find(expected) == std::string::npos) {
        std::fprintf(stderr, "child stderr was: %s\n", err.c_str());
        return false;
    }
    return true;
}

void violations_abort_with_a_message() {
    CHECK(aborts_with(
        [] {
            rs::result<int> r = rs::failure::of(rs::failure_kind::timeout);
            std::printf("%d\n", r.value());
        },
        "result::value() called on a failed result"));
#if RESILIENCE_FLAGS_TIMEOUT
    CHECK(aborts_with(
        [] {
            rs::timeout t{0ns};
            std::printf("%lld\n", static_cast<long long>(t.options().duration.count()));
        },
        "timeout_options.duration must be greater than zero"));
#endif
#if RESILIENCE_FLAGS_RETRY
    CHECK(aborts_with(
        [] {
            rs::retry r{{.max_attempts = 0}};
            std::printf("%u\n", r.options().max_attempts);
        },
        "retry_options.max_attempts must be between 1 and 1000"));
#endif
#if RESILIENCE_FLAGS_BULKHEAD
    CHECK(aborts_with(
        [] {
            rs::manual_clock clk;
            rs::bulkhead<rs::manual_clock> b{{.max_concurrent = 0}, clk};
            std::printf("%u\n", b.available());
        },
        "bulkhead_options.max_concurrent must be between 1 and 1000000"));
#endif
}
#endif

}  // namespace

int main() {
#if RESILIENCE_FLAGS_NO_EXCEPTIONS
    static_assert(!RESILIENCE_HAS_EXCEPTIONS, "flags_no_exceptions must be built with -fno-exceptions");
#if defined(__GXX_RTTI) || defined(__cpp_rtti)
    static_assert(false, "flags_no_exceptions must be built with -fno-rtti");
#endif
#else
    static_assert(RESILIENCE_HAS_EXCEPTIONS, "flags_strict_warnings checks the build with exceptions enabled");
#endif
    // Each scenario gets a fresh environment, so that one scenario's failures do not open another's breaker.
    happy_path();
    transient_failure();
    slow_dependency();
    expired_deadline();
    cancelled();
#if RESILIENCE_HAS_EXCEPTIONS
    exceptions_become_failures();
#endif
    dependency_down();
    guards_reject();
    configuration_is_validated();
    failures_are_values();
#if !RESILIENCE_HAS_EXCEPTIONS && RESILIENCE_FLAGS_HAVE_FORK
    violations_abort_with_a_message();
#endif
    if (g_failed != 0) {
        std::fprintf(stderr, "%s: %d check(s) failed\n", program, g_failed);
        return 1;
    }
    std::printf("%s: ok (timeout=%d retry=%d breaker=%d bulkhead=%d rate_limiter=%d fallback=%d dead_letter=%d)\n",
                program, RESILIENCE_FLAGS_TIMEOUT, RESILIENCE_FLAGS_RETRY, RESILIENCE_FLAGS_BREAKER, RESILIENCE_FLAGS_BULKHEAD,
                RESILIENCE_FLAGS_RATE_LIMITER, RESILIENCE_FLAGS_FALLBACK, RESILIENCE_FLAGS_DEAD_LETTER);
    return 0;
}
