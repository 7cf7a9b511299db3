// SPDX-License-Identifier: MIT
#include "support/allocations.hpp"
#include "support/catch.hpp"

#include <resilience/backoff.hpp>
#include <resilience/classify.hpp>
#include <resilience/clock.hpp>
#include <resilience/resilient_call.hpp>
#include <resilience/retry.hpp>
#include <resilience/timeout.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <latch>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <vector>

namespace rs = resilience;
using namespace std::chrono_literals;
using ns = std::chrono::nanoseconds;

// Allocations by every thread of the program while a function runs (under ThreadSanitizer nothing is
// counted and the counting test is skipped).
using resilience_test::all_allocations_during;

// --- test fixtures -----------------------------------------------------------------------------------------

namespace {

/// What a listener saw, copied (the event's views die with the call to on_event).
struct seen {
    rs::event_type type;
    std::uint32_t attempt;
    rs::failure_kind kind;
    ns delay;
    rs::time_point at;
};

struct recorder {
    std::vector<seen> events;
    void on_event(const rs::event& e) {
        if (e.policy == "retry") events.push_back({e.type, e.attempt, e.kind, e.delay, e.at});
    }
    [[nodiscard]] std::size_t count(rs::event_type t) const {
        return static_cast<std::size_t>(std::count_if(events.begin(), events.end(), [t](const seen& s) { return s.type == t; }));
    }
};

/// A manual clock that counts reads of now(): proves the happy path reads no clock.
struct counting_clock {
    rs::manual_clock* clock;
    int* reads;
    [[nodiscard]] rs::time_point now() const noexcept {
        ++*reads;
        return clock->now();
    }
    bool sleep_until(rs::time_point t, std::stop_token st = {}) { return clock->sleep_until(t, st); }
    template <class Pred>
    bool wait_until(std::unique_lock<std::mutex>& lk, std::condition_variable& cv, rs::time_point t, Pred p) {
        return clock->wait_until(lk, cv, t, p);
    }
    [[nodiscard]] std::chrono::system_clock::time_point to_sys(rs::time_point t) const noexcept { return clock->to_sys(t); }
};
static_assert(rs::clock<counting_clock>);

rs::failure transient_error(const char* msg = "boom") {
    return rs::failure::from_error(std::make_error_code(std::errc::connection_reset), rs::transience::unknown, msg);
}

rs::failure with_hint(rs::failure f, ns retry_after) {
    f.retry_after = retry_after;
    return f;
}

struct http_response {
    int status;
};

/// Start times of attempts, relative to a reference point.
struct attempt_log {
    rs::time_point origin;
    std::vector<ns> starts;
    std::vector<std::uint32_t> numbers;
    void add(const rs::attempt& a) {
        starts.push_back(a.now() - origin);
        numbers.push_back(a.number());
    }
};

}  // namespace

// --- construction ---------------------------------------------------------------------------------------

TEST_CASE("retry: defaults and the spellings of the design compile (CTAD)", "[retry]") {
    rs::retry r{};
    STATIC_REQUIRE(std::is_same_v<decltype(r), rs::retry<rs::backoff, rs::default_classifier, rs::thread_random>>);
    CHECK(r.options().max_attempts == 3);
    CHECK(r.options().max_duration == 0ns);
    CHECK(r.options().backoff == rs::backoff{rs::exponential_backoff{100ms, 5s, 2.0, rs::full_jitter}});
    CHECK(r.options().honor_retry_after);
    CHECK(r.options().max_retry_after == 30s);
    CHECK(r.options().budget == nullptr);

    rs::retry a{{.max_attempts = 4, .backoff = rs::exponential_backoff{50ms, 2s, rs::full_jitter}}};
    STATIC_REQUIRE(std::is_same_v<decltype(a), rs::retry<>>);
    CHECK(a.options().max_attempts == 4);
    REQUIRE(a.options().backoff.as_exponential() != nullptr);
    CHECK(a.options().backoff.as_exponential()->base() == 50ms);

    rs::retry b{{.max_attempts = 2}, rs::default_classifier{}, rs::seeded_random{42}};
    STATIC_REQUIRE(std::is_same_v<decltype(b), rs::retry<rs::backoff, rs::default_classifier, rs::seeded_random>>);
    CHECK(b.random() == rs::seeded_random{42});

    rs::retry c{rs::retry_options<rs::constant_backoff>{.backoff = rs::constant_backoff{10ms}}};
    STATIC_REQUIRE(std::is_same_v<decltype(c), rs::retry<rs::constant_backoff>>);

    auto pred = [](const http_response& h) { return rs::http_status_verdict(h.status); };
    rs::retry d{{.max_attempts = 5}, rs::classify_values{pred}};
    STATIC_REQUIRE(std::is_same_v<decltype(d), rs::retry<rs::backoff, rs::classify_values<decltype(pred)>>>);

    rs::retry_options<> opts{.max_attempts = 7};
    rs::retry e{opts, rs::classify_kinds{rs::failure_kind::timeout}, rs::seeded_random{1}};
    CHECK(e.options().max_attempts == 7);

    STATIC_REQUIRE(rs::policy<rs::retry<>>);
    STATIC_REQUIRE(std::is_nothrow_move_constructible_v<rs::retry<>>);
}

TEST_CASE("retry: invalid options are rejected, naming the field and its range", "[retry][validation]") {
    struct bad {
        rs::retry_options<> opts;
        const char* field;
        const char* range;
    };
    const bad cases[] = {
        {{.max_attempts = 0}, "retry_options.max_attempts", "between 1 and 1000"},
        {{.max_attempts = 1001}, "retry_options.max_attempts", "between 1 and 1000"},
        {{.max_duration = -1ns}, "retry_options.max_duration", "at most 24 hours"},
        {{.max_duration = 25h}, "retry_options.max_duration", "at most 24 hours"},
        {{.max_retry_after = 0ns}, "retry_options.max_retry_after", "greater than zero"},
        {{.max_retry_after = -1s}, "retry_options.max_retry_after", "greater than zero"},
        {{.max_retry_after = 25h}, "retry_options.max_retry_after", "at most 24 hours"},
    };
    for (const bad& c : cases) {
        INFO(c.field);
        auto e = c.opts.validate();
        REQUIRE(e);
        CHECK(e->field == c.field);
        CHECK(std::string(e->message).find(c.range) != std::string::npos);
        try {
            rs::retry r{c.opts};
            FAIL("constructed an invalid retry");
        } catch (const std::invalid_argument& ex) {
            CHECK(std::string(ex.what()).find(c.field) != std::string::npos);
        }
        auto m = rs::make_retry(c.opts);
        REQUIRE_FALSE(m.has_value());
        CHECK(m.error().kind == rs::failure_kind::error);
        CHECK(m.error().error == std::make_error_code(std::errc::invalid_argument));
        CHECK(m.error().hint == rs::transience::permanent);
        CHECK(m.error().message == e->message);
    }
    SECTION("boundaries are accepted") {
        CHECK_FALSE(rs::retry_options<>{.max_attempts = 1}.validate());
        CHECK_FALSE(rs::retry_options<>{.max_attempts = 1000, .max_duration = 24h, .max_retry_after = 24h}.validate());
        CHECK_FALSE(rs::retry_options<>{.max_duration = 1ns, .max_retry_after = 1ns}.validate());
    }
    SECTION("make_retry builds a working policy from valid options") {
        auto m = rs::make_retry({.max_attempts = 2, .backoff = rs::constant_backoff{0ns}});
        REQUIRE(m.has_value());
        rs::manual_clock clk;
        rs::resilient_call call{clk, *m};
        int calls = 0;
        auto r = call([&]() -> rs::result<int> {
            ++calls;
            return transient_error();
        });
        CHECK_FALSE(r.has_value());
        CHECK(calls == 2);
    }
    SECTION("a custom backoff's validate() is part of the options' validation") {
        struct checked_backoff {
            ns d;
            ns next_delay(std::uint32_t) const { return d; }
            std::optional<rs::config_error> validate() const noexcept {
                if (d < 0ns) return rs::config_error{"checked_backoff.d", "checked_backoff.d must be at least 0"};
                return std::nullopt;
            }
        };
        rs::retry_options<checked_backoff> o{.backoff = checked_backoff{-1ms}};
        REQUIRE(o.validate());
        CHECK(o.validate()->field == "checked_backoff.d");
        CHECK_THROWS_AS(rs::retry{o}, std::invalid_argument);
        CHECK_FALSE(rs::make_retry(o).has_value());
    }
}

// --- the loop --------------------------------------------------------------------------------------------

TEST_CASE("retry: a first attempt that succeeds runs once, sleeps never and reads no clock", "[retry]") {
    rs::manual_clock base;
    int reads = 0;
    counting_clock clk{&base, &reads};
    rs::resilient_call call{clk, rs::retry{{.max_attempts = 5}}};
    int calls = 0;
    auto r = call([&] {
        ++calls;
        return 42;
    });
    REQUIRE(r.has_value());
    CHECK(*r == 42);
    CHECK(calls == 1);
    CHECK(reads == 0);
    CHECK(base.sleep_count() == 0);
}

TEST_CASE("retry: transient failures are retried up to max_attempts, sleeping the backoff", "[retry]") {
    rs::manual_clock clk;
    attempt_log log{clk.now(), {}, {}};
    rs::resilient_call call{clk, rs::retry{{.max_attempts = 4, .backoff = rs::constant_backoff{100ms}}}};

    SECTION("every attempt fails") {
        auto r = call([&](const rs::attempt& a) -> rs::result<int> {
            log.add(a);
            return transient_error();
        });
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::error);
        CHECK(r.error().attempts == 4);
        CHECK(r.error().message == "boom");
        CHECK(log.starts == std::vector<ns>{0ms, 100ms, 200ms, 300ms});
        CHECK(log.numbers == std::vector<std::uint32_t>{1, 2, 3, 4});
        CHECK(clk.elapsed() == 300ms);
        CHECK(clk.sleep_count() == 3);
    }
    SECTION("the third attempt succeeds") {
        auto r = call([&](const rs::attempt& a) -> rs::result<int> {
            log.add(a);
            if (a.number() < 3) return transient_error();
            return 7;
        });
        REQUIRE(r.has_value());
        CHECK(*r == 7);
        CHECK(log.starts == std::vector<ns>{0ms, 100ms, 200ms});
        CHECK(clk.elapsed() == 200ms);
    }
    SECTION("max_attempts = 1 never retries") {
        rs::resilient_call once{clk, rs::retry{{.max_attempts = 1, .backoff = rs::constant_backoff{100ms}}}};
        auto r = once([&](const rs::attempt& a) -> rs::result<int> {
            log.add(a);
            return transient_error();
        });
        CHECK_FALSE(r.has_value());
        CHECK(log.starts.size() == 1);
        CHECK(clk.sleep_count() == 0);
    }
    SECTION("void callables") {
        int calls = 0;
        auto r = call([&]() -> rs::result<void> {
            if (++calls < 2) return transient_error();
            return rs::ok();
        });
        CHECK(r.has_value());
        CHECK(calls == 2);
    }
    SECTION("exceptions thrown by the callable are transient by default") {
        int calls = 0;
        auto r = call([&]() -> int {
            if (++calls < 3) throw std::runtime_error("flaky");
            return 1;
        });
        CHECK(r.has_value());
        CHECK(calls == 3);
    }
}

TEST_CASE("retry: exponential delays are slept exactly, in virtual time", "[retry]") {
    rs::manual_clock clk;
    attempt_log log{clk.now(), {}, {}};
    rs::resilient_call call{clk, rs::retry{{.max_attempts = 6, .backoff = rs::exponential_backoff{100ms, 1s}}}};
    auto r = call([&](const rs::attempt& a) -> rs::result<int> {
        log.add(a);
        return transient_error();
    });
    CHECK_FALSE(r.has_value());
    // Delays 100, 200, 400, 800, 1000 (cap) ms.
    CHECK(log.starts == std::vector<ns>{0ms, 100ms, 300ms, 700ms, 1500ms, 2500ms});
}

TEST_CASE("retry: jitter comes from the injected generator, and every call starts from it", "[retry][random]") {
    const rs::exponential_backoff b{100ms, 5s, rs::full_jitter};
    // The delays the backoff gives with seed 42.
    std::vector<ns> want;
    {
        rs::seeded_random rng{42};
        rs::backoff_state st{};
        ns t = 0ns;
        want.push_back(t);
        for (std::uint32_t n = 1; n <= 4; ++n) want.push_back(t += b.next_delay(n, rng, st));
    }
    rs::manual_clock clk;
    rs::resilient_call call{clk, rs::retry{{.max_attempts = 5, .backoff = b}, rs::default_classifier{}, rs::seeded_random{42}}};
    for (int round = 0; round < 2; ++round) {
        attempt_log log{clk.now(), {}, {}};
        (void)call([&](const rs::attempt& a) -> rs::result<int> {
            log.add(a);
            return transient_error();
        });
        CHECK(log.starts == want);
    }
    // Jitter really varies: the delays are not the nominal ones.
    CHECK(want[1] != 100ms);
}

TEST_CASE("retry: permanent failures are returned at once", "[retry][classify]") {
    rs::manual_clock clk;
    recorder rec;
    rs::resilient_call call{clk, rec, rs::retry{{.max_attempts = 5, .backoff = rs::constant_backoff{10ms}}}};
    auto once = [&](rs::failure f) {
        int calls = 0;
        auto r = call([&]() -> rs::result<int> {
            ++calls;
            return f;
        });
        CHECK_FALSE(r.has_value());
        CHECK(r.error().kind == f.kind);
        return calls;
    };
    CHECK(once(rs::failure::from_error(std::make_error_code(std::errc::permission_denied), rs::transience::permanent)) == 1);
    CHECK(once(rs::failure::of(rs::failure_kind::cancelled)) == 1);
    CHECK(once(rs::failure::of(rs::failure_kind::deadline_exceeded)) == 1);
    CHECK(once(rs::failure::of(rs::failure_kind::dead_letter_failed)) == 1);
    CHECK(clk.sleep_count() == 0);
    CHECK(rec.count(rs::event_type::retries_exhausted) == 4);
    CHECK(rec.count(rs::event_type::retry_scheduled) == 0);
    // A hint says transient even for a kind that is permanent by default.
    rs::failure hinted = rs::failure::of(rs::failure_kind::cancelled);
    hinted.hint = rs::transience::transient;
    CHECK(once(hinted) == 5);
}

// --- limits: max_duration, deadline ---------------------------------------------------------------------

TEST_CASE("retry: max_duration stops retries that would start too late", "[retry][time]") {
    rs::manual_clock clk;
    attempt_log log{clk.now(), {}, {}};
    SECTION("instant attempts: 0, 100, 200 ms; the next (300 ms) would be past 250 ms") {
        rs::resilient_call call{clk, rs::retry{{.max_attempts = 10, .max_duration = 250ms, .backoff = rs::constant_backoff{100ms}}}};
        auto r = call([&](const rs::attempt& a) -> rs::result<int> {
            log.add(a);
            return transient_error();
        });
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::error);  // not relabelled: the caller's deadline is not involved
        CHECK(log.starts == std::vector<ns>{0ms, 100ms, 200ms});
        CHECK(clk.elapsed() == 200ms);
    }
    SECTION("the clock starts before the first attempt, so its duration counts") {
        rs::resilient_call call{clk, rs::retry{{.max_attempts = 10, .max_duration = 250ms, .backoff = rs::constant_backoff{100ms}}}};
        auto r = call([&](const rs::attempt& a) -> rs::result<int> {
            log.add(a);
            clk.advance(30ms);  // each attempt takes 30 ms
            return transient_error();
        });
        REQUIRE_FALSE(r.has_value());
        // 0-30, sleep to 130, 130-160; the next would start at 260 > 250.
        CHECK(log.starts == std::vector<ns>{0ms, 130ms});
        CHECK(r.error().elapsed == 160ms);
    }
}

TEST_CASE("retry: never sleeps past the caller's deadline", "[retry][time]") {
    rs::manual_clock clk;
    attempt_log log{clk.now(), {}, {}};
    rs::resilient_call call{clk, rs::retry{{.max_attempts = 10, .backoff = rs::constant_backoff{100ms}}}};

    SECTION("an attempt that cannot start in time is not started") {
        const rs::call_options opts{.deadline = clk.now() + 250ms};
        auto r = call([&](const rs::attempt& a) -> rs::result<int> {
            log.add(a);
            return transient_error();
        }, opts);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::deadline_exceeded);
        CHECK(r.error().cause == rs::failure_kind::error);
        CHECK(r.error().message == "boom");  // the last failure, relabelled
        CHECK(r.error().attempts == 3);
        CHECK(log.starts == std::vector<ns>{0ms, 100ms, 200ms});
        CHECK(clk.now() <= opts.deadline);
        CHECK(clk.elapsed() == 200ms);  // it did not sleep towards a retry it could not make
    }
    SECTION("a retry that would start exactly at the deadline is not started") {
        const rs::call_options opts{.deadline = clk.now() + 300ms};
        (void)call([&](const rs::attempt& a) -> rs::result<int> {
            log.add(a);
            return transient_error();
        }, opts);
        CHECK(log.starts == std::vector<ns>{0ms, 100ms, 200ms});
    }
    SECTION("the value classified as a failure stays reachable") {
        rs::resilient_call http{clk, rs::retry{{.max_attempts = 10, .backoff = rs::constant_backoff{100ms}},
                                               rs::classify_values{[](const http_response& h) { return rs::http_status_verdict(h.status); }}}};
        const rs::call_options opts{.deadline = clk.now() + 150ms};
        auto r = http([] { return http_response{503}; }, opts);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::deadline_exceeded);
        REQUIRE(r.last_value() != nullptr);
        CHECK(r.last_value()->status == 503);
    }
    SECTION("property: over random deadlines, attempt durations and jitter, no attempt starts at or after the "
            "deadline and no sleep ends past it") {
        for (std::uint64_t seed = 0; seed < 500; ++seed) {
            rs::manual_clock c;
            rs::seeded_random pick{seed};
            const ns budget = ns{static_cast<ns::rep>(pick() % 3'000'000'000u)} + 1ms;
            const rs::call_options opts{.deadline = c.now() + budget};
            rs::resilient_call jittered{c, rs::retry{{.max_attempts = 20, .backoff = rs::exponential_backoff{50ms, 2s, rs::full_jitter}},
                                                     rs::default_classifier{}, rs::seeded_random{seed}}};
            rs::time_point last_end{};
            auto r = jittered([&](const rs::attempt& a) -> rs::result<int> {
                REQUIRE(a.now() < opts.deadline);
                c.advance(ns{static_cast<ns::rep>(pick() % 200'000'000u)});
                last_end = c.now();
                return transient_error();
            }, opts);
            REQUIRE_FALSE(r.has_value());
            // After the last attempt, retry either gave up at once (clock unchanged) or the attempts ran out.
            REQUIRE(c.now() == last_end);
            if (r.error().attempts < 20) REQUIRE(r.error().kind == rs::failure_kind::deadline_exceeded);
        }
    }
}

TEST_CASE("retry: an enclosing timeout's deadline is reported as a timeout", "[retry][time]") {
    rs::manual_clock clk;
    attempt_log log{clk.now(), {}, {}};
    rs::resilient_call call{clk, rs::timeout{250ms}, rs::retry{{.max_attempts = 10, .backoff = rs::constant_backoff{100ms}}}};
    auto r = call([&](const rs::attempt& a) -> rs::result<int> {
        log.add(a);
        return transient_error();
    });
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == rs::failure_kind::timeout);
    CHECK(r.error().cause == rs::failure_kind::error);
    CHECK(log.starts.size() == 3);
    CHECK(clk.elapsed() == 200ms);
}

namespace {
/// A manual clock whose sleeps wake `late` after the time asked for (as a steady-clock sleep may).
struct oversleeping_clock {
    rs::manual_clock* clock;
    ns late;
    [[nodiscard]] rs::time_point now() const noexcept { return clock->now(); }
    bool sleep_until(rs::time_point t, std::stop_token st = {}) { return clock->sleep_until(t + late, st); }
    template <class Pred>
    bool wait_until(std::unique_lock<std::mutex>& lk, std::condition_variable& cv, rs::time_point t, Pred p) {
        return clock->wait_until(lk, cv, t, p);
    }
    [[nodiscard]] std::chrono::system_clock::time_point to_sys(rs::time_point t) const noexcept { return clock->to_sys(t); }
};
static_assert(rs::clock<oversleeping_clock>);
}  // namespace

TEST_CASE("retry: when a layer inside refuses the next attempt for lack of time, the last real failure is "
          "returned relabelled", "[retry][time]") {
    rs::manual_clock clk;
    attempt_log log{clk.now(), {}, {}};

    SECTION("a timeout with min_remaining inside retry refuses attempt 3") {
        rs::resilient_call call{clk, rs::retry{{.max_attempts = 10, .backoff = rs::constant_backoff{100ms}}},
                                rs::timeout{{.duration = 1s, .min_remaining = 100ms}}};
        const rs::call_options opts{.deadline = clk.now() + 250ms};
        auto r = call([&](const rs::attempt& a) -> rs::result<int> {
            log.add(a);
            return transient_error("boom");
        }, opts);
        REQUIRE_FALSE(r.has_value());
        CHECK(log.starts == std::vector<ns>{0ms, 100ms});  // attempt 3 (at 200ms, 50ms left) never ran
        CHECK(r.error().kind == rs::failure_kind::deadline_exceeded);
        CHECK(r.error().cause == rs::failure_kind::error);
        CHECK(r.error().message == "boom");
        CHECK(r.error().error == std::make_error_code(std::errc::connection_reset));
        CHECK(r.error().hint == rs::transience::permanent);  // the refusal's: no time will come back
        CHECK(r.error().attempts == 2);
    }
    SECTION("an inner timeout's own budget is reported as a timeout, the value still reachable") {
        rs::resilient_call http{clk, rs::timeout{250ms},
                                rs::retry{{.max_attempts = 10, .backoff = rs::constant_backoff{100ms}},
                                          rs::classify_values{[](const http_response& h) { return rs::http_status_verdict(h.status); }}},
                                rs::timeout{{.duration = 1s, .min_remaining = 100ms}}};
        int status = 502;
        auto r = http([&] { return http_response{status++}; });  // 502, then 503
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::timeout);
        CHECK(r.error().cause == rs::failure_kind::error);
        CHECK(r.error().attempts == 2);
        REQUIRE(r.last_value() != nullptr);
        CHECK(r.last_value()->status == 503);  // the second attempt's response
    }
    SECTION("the composition's own check after a sleep that woke past the deadline") {
        oversleeping_clock late{&clk, 60ms};
        rs::resilient_call call{late, rs::retry{{.max_attempts = 10, .backoff = rs::constant_backoff{100ms}}}};
        const rs::call_options opts{.deadline = clk.now() + 150ms};
        auto r = call([&](const rs::attempt& a) -> rs::result<int> {
            log.add(a);
            return transient_error("reset by peer");
        }, opts);
        REQUIRE_FALSE(r.has_value());
        CHECK(log.starts == std::vector<ns>{0ms});  // woke at 160ms: attempt 2 was refused
        CHECK(r.error().kind == rs::failure_kind::deadline_exceeded);
        CHECK(r.error().cause == rs::failure_kind::error);
        CHECK(r.error().message == "reset by peer");
        CHECK(r.error().error == std::make_error_code(std::errc::connection_reset));
        CHECK(r.error().attempts == 1);
    }
    SECTION("a first attempt refused for lack of time is returned as is") {
        rs::resilient_call call{clk, rs::retry{{.max_attempts = 10, .backoff = rs::constant_backoff{100ms}}},
                                rs::timeout{{.duration = 1s, .min_remaining = 100ms}}};
        const rs::call_options opts{.deadline = clk.now() + 50ms};
        auto r = call([&](const rs::attempt& a) -> rs::result<int> {
            log.add(a);
            return 1;
        }, opts);
        REQUIRE_FALSE(r.has_value());
        CHECK(log.starts.empty());
        CHECK(r.error().kind == rs::failure_kind::deadline_exceeded);
        CHECK(r.error().cause == rs::failure_kind::deadline_exceeded);
        CHECK(r.error().attempts == 0);
    }
}

// --- retry_after ---------------------------------------------------------------------------------------

TEST_CASE("retry: retry_after hints", "[retry][retry_after]") {
    rs::manual_clock clk;
    attempt_log log{clk.now(), {}, {}};
    auto hinted = [&](ns hint, rs::failure_kind k = rs::failure_kind::error) {
        return [&log, hint, k](const rs::attempt& a) -> rs::result<int> {
            log.add(a);
            if (a.number() == 1) return with_hint(rs::failure::of(k, "hinted"), hint);
            return 1;
        };
    };
    const auto backoff = rs::constant_backoff{100ms};

    SECTION("a hint longer than the backoff is slept") {
        rs::resilient_call call{clk, rs::retry{{.backoff = backoff}}};
        CHECK(call(hinted(2s)).has_value());
        CHECK(log.starts == std::vector<ns>{0ms, 2s});
    }
    SECTION("a hint shorter than the backoff does not shorten it") {
        rs::resilient_call call{clk, rs::retry{{.backoff = backoff}}};
        CHECK(call(hinted(10ms)).has_value());
        CHECK(log.starts == std::vector<ns>{0ms, 100ms});
    }
    SECTION("a hint beyond max_retry_after stops instead of sleeping") {
        rs::resilient_call call{clk, rs::retry{{.backoff = backoff, .max_retry_after = 1s}}};
        auto r = call(hinted(5s));
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::error);
        CHECK(r.error().retry_after == 5s);  // the caller can still see (and honour) it
        CHECK(log.starts.size() == 1);
        CHECK(clk.sleep_count() == 0);
        CHECK(clk.elapsed() == 0ns);
    }
    SECTION("a hint beyond the deadline stops instead of sleeping") {
        rs::resilient_call call{clk, rs::retry{{.backoff = backoff}}};
        auto r = call(hinted(2s), rs::call_options{.deadline = clk.now() + 1s});
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::deadline_exceeded);
        CHECK(clk.sleep_count() == 0);
    }
    SECTION("a hint beyond max_duration stops instead of sleeping") {
        rs::resilient_call call{clk, rs::retry{{.max_duration = 1s, .backoff = backoff}}};
        auto r = call(hinted(2s));
        REQUIRE_FALSE(r.has_value());
        CHECK(clk.sleep_count() == 0);
    }
    SECTION("honor_retry_after = false ignores the dependency's hints") {
        rs::resilient_call call{clk, rs::retry{{.backoff = backoff, .honor_retry_after = false, .max_retry_after = 1s}}};
        CHECK(call(hinted(5s)).has_value());  // not even max_retry_after applies
        CHECK(log.starts == std::vector<ns>{0ms, 100ms});
    }
    SECTION("...but an open breaker's (or another guard's) hint is always honoured") {
        for (auto k : {rs::failure_kind::circuit_open, rs::failure_kind::bulkhead_full, rs::failure_kind::rate_limited}) {
            log.starts.clear();
            log.origin = clk.now();
            rs::resilient_call call{clk, rs::retry{{.backoff = backoff, .honor_retry_after = false}}};
            CHECK(call(hinted(3s, k)).has_value());
            CHECK(log.starts == std::vector<ns>{0ms, 3s});
        }
    }
}

TEST_CASE("retry: an open circuit breaker is never hammered", "[retry][retry_after]") {
    // A stand-in breaker: open until `open_until`, rejecting with the time left as its hint.
    rs::manual_clock clk;
    const rs::time_point open_until = clk.now() + 1500ms;
    int dependency_calls = 0, rejections = 0;
    auto guarded = [&](const rs::attempt& a) -> rs::result<int> {
        if (a.now() < open_until) {
            ++rejections;
            return with_hint(rs::failure::of(rs::failure_kind::circuit_open, "open"), open_until - a.now());
        }
        ++dependency_calls;
        return 5;
    };
    rs::resilient_call call{clk, rs::retry{{.max_attempts = 5, .backoff = rs::constant_backoff{10ms}}}};
    auto r = call(guarded);
    REQUIRE(r.has_value());
    CHECK(rejections == 1);  // one rejection, then a sleep until the breaker lets calls through
    CHECK(dependency_calls == 1);
    CHECK(clk.elapsed() == 1500ms);
}

// --- classification ------------------------------------------------------------------------------------

TEST_CASE("retry: classification by returned value (HTTP status)", "[retry][classify]") {
    rs::manual_clock clk;
    auto by_status = rs::classify_values{[](const http_response& h) { return rs::http_status_verdict(h.status); }};
    rs::resilient_call call{clk, rs::retry{{.max_attempts = 3, .backoff = rs::constant_backoff{10ms}}, by_status}};
    std::vector<int> statuses;
    std::size_t i = 0;
    auto server = [&] { return http_response{statuses[std::min(i++, statuses.size() - 1)]}; };

    SECTION("503, 503, 200: retried until it succeeds") {
        statuses = {503, 503, 200};
        auto r = call(server);
        REQUIRE(r.has_value());
        CHECK(r->status == 200);
        CHECK(i == 3);
    }
    SECTION("429 and 408 are retried too") {
        statuses = {429, 408, 204};
        CHECK(call(server).has_value());
        CHECK(i == 3);
    }
    SECTION("404 is not retried; the response stays reachable") {
        statuses = {404, 200};
        auto r = call(server);
        REQUIRE_FALSE(r.has_value());
        CHECK(i == 1);
        CHECK(r.error().kind == rs::failure_kind::error);
        CHECK(r.error().hint == rs::transience::permanent);
        REQUIRE(r.last_value() != nullptr);
        CHECK(r.last_value()->status == 404);
    }
    SECTION("503 until attempts run out: the last response stays reachable") {
        statuses = {503, 502, 500};
        auto r = call(server);
        REQUIRE_FALSE(r.has_value());
        CHECK(i == 3);
        CHECK(r.error().hint == rs::transience::transient);
        CHECK(r.error().attempts == 3);
        REQUIRE(r.last_value() != nullptr);
        CHECK(r.last_value()->status == 500);
    }
}

TEST_CASE("retry: classification by exception type", "[retry][classify]") {
    rs::manual_clock clk;
    rs::resilient_call call{clk, rs::retry{{.max_attempts = 4, .backoff = rs::constant_backoff{10ms}},
                                           rs::classify_exceptions<std::runtime_error>{}}};
    int calls = 0;
    SECTION("a listed exception type (and types derived from it) is retried") {
        auto r = call([&]() -> int {
            ++calls;
            if (calls == 1) throw std::runtime_error("transient");
            if (calls == 2) throw std::range_error("derived, transient");
            return 3;
        });
        REQUIRE(r.has_value());
        CHECK(calls == 3);
    }
    SECTION("any other exception is permanent") {
        auto r = call([&]() -> int {
            ++calls;
            throw std::logic_error("bug");
        });
        REQUIRE_FALSE(r.has_value());
        CHECK(calls == 1);
        REQUIRE(r.error().exception);
        CHECK_THROWS_AS(std::rethrow_exception(r.error().exception), std::logic_error);
    }
    SECTION("failures without an exception go by kind") {
        auto r = call([&]() -> rs::result<int> {
            if (++calls < 2) return transient_error();
            return 1;
        });
        CHECK(r.has_value());
        CHECK(calls == 2);
    }
}

TEST_CASE("retry: classification by failure kind", "[retry][classify]") {
    rs::manual_clock clk;
    rs::resilient_call call{clk, rs::retry{{.max_attempts = 3, .backoff = rs::constant_backoff{10ms}},
                                           rs::classify_kinds{rs::failure_kind::timeout}}};
    int calls = 0;
    auto failing = [&](rs::failure_kind k) {
        calls = 0;
        return call([&]() -> rs::result<int> {
            ++calls;
            return rs::failure::of(k);
        });
    };
    (void)failing(rs::failure_kind::timeout);
    CHECK(calls == 3);
    (void)failing(rs::failure_kind::error);
    CHECK(calls == 1);
}

// --- budget ----------------------------------------------------------------------------------------------

TEST_CASE("retry_budget: options are validated, naming the field and its range", "[retry][budget][validation]") {
    struct bad {
        rs::retry_budget_options opts;
        const char* field;
        const char* range;
    };
    const bad cases[] = {
        {{.capacity = 0}, "retry_budget_options.capacity", "between 1 and 1000000"},
        {{.capacity = 1'000'001}, "retry_budget_options.capacity", "between 1 and 1000000"},
        {{.retry_cost = 0}, "retry_budget_options.retry_cost", "between 1 and capacity"},
        {{.capacity = 10, .retry_cost = 11}, "retry_budget_options.retry_cost", "between 1 and capacity"},
        {{.timeout_cost = 0}, "retry_budget_options.timeout_cost", "between 1 and capacity"},
        {{.capacity = 10, .retry_cost = 5, .timeout_cost = 20}, "retry_budget_options.timeout_cost", "between 1 and capacity"},
        {{.capacity = 10, .retry_cost = 5, .timeout_cost = 10, .success_refund = 11}, "retry_budget_options.success_refund",
         "between 0 and capacity"},
    };
    for (const bad& c : cases) {
        INFO(c.field);
        auto e = c.opts.validate();
        REQUIRE(e);
        CHECK(e->field == c.field);
        CHECK(std::string(e->message).find(c.range) != std::string::npos);
        try {
            rs::retry_budget b{c.opts};
            FAIL("constructed an invalid budget");
        } catch (const std::invalid_argument& ex) {
            CHECK(std::string(ex.what()).find(c.field) != std::string::npos);
        }
    }
    CHECK_FALSE(rs::retry_budget_options{}.validate());
    CHECK_FALSE(rs::retry_budget_options{.capacity = 1, .retry_cost = 1, .timeout_cost = 1, .success_refund = 0}.validate());
}

TEST_CASE("retry_budget: acquire, refund, capacity", "[retry][budget]") {
    rs::retry_budget b{};
    CHECK(b.capacity() == 500);
    CHECK(b.available() == 500);
    CHECK(b.cost_of(rs::failure_kind::error) == 5);
    CHECK(b.cost_of(rs::failure_kind::timeout) == 10);
    CHECK(b.cost_of(rs::failure_kind::rate_limited) == 5);
    CHECK(b.try_acquire(499));
    CHECK_FALSE(b.try_acquire(2));
    CHECK(b.available() == 1);
    CHECK(b.try_acquire(1));
    CHECK_FALSE(b.try_acquire(1));
    b.refund(3);
    CHECK(b.available() == 3);
    b.refund(1000);
    CHECK(b.available() == 500);  // never above capacity
    b.refund(0);
    CHECK(b.available() == 500);
    CHECK(b.try_acquire(0));
    CHECK(b.try_acquire(500));
    b.reset();
    CHECK(b.available() == 500);
    STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<rs::retry_budget>);
    STATIC_REQUIRE_FALSE(std::is_copy_assignable_v<rs::retry_budget>);
}

TEST_CASE("retry: an exhausted budget stops retrying but never shortens a delay", "[retry][budget]") {
    rs::manual_clock clk;
    recorder rec;
    const auto b = rs::exponential_backoff{100ms, 5s, rs::full_jitter};
    auto always_fails = [](attempt_log& log) {
        return [&log](const rs::attempt& a) -> rs::result<int> {
            log.add(a);
            return transient_error();
        };
    };

    // Without a budget: 6 attempts, jittered delays from seed 3.
    attempt_log free{clk.now(), {}, {}};
    {
        rs::resilient_call call{clk, rs::retry{{.max_attempts = 6, .backoff = b}, rs::default_classifier{}, rs::seeded_random{3}}};
        (void)call(always_fails(free));
    }
    REQUIRE(free.starts.size() == 6);

    // With a budget of 12 tokens at 5 per retry: two retries, then it stops.
    rs::retry_budget budget{{.capacity = 12, .retry_cost = 5, .timeout_cost = 10, .success_refund = 1}};
    attempt_log limited{clk.now(), {}, {}};
    {
        rs::resilient_call call{clk, rec, rs::retry{{.max_attempts = 6, .backoff = b, .budget = &budget}, rs::default_classifier{}, rs::seeded_random{3}}};
        auto r = call(always_fails(limited));
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::error);
        CHECK(r.error().attempts == 3);
    }
    REQUIRE(limited.starts.size() == 3);
    // The retries that ran waited exactly as long as without the budget.
    CHECK(std::vector<ns>(free.starts.begin(), free.starts.begin() + 3) == limited.starts);
    CHECK(budget.available() == 2);
    CHECK(rec.count(rs::event_type::budget_exhausted) == 1);
    CHECK(rec.count(rs::event_type::retry_scheduled) == 2);
    CHECK(rec.count(rs::event_type::retries_exhausted) == 1);

    // The next call gets its first attempt, and no retry.
    attempt_log next{clk.now(), {}, {}};
    rs::resilient_call call{clk, rs::retry{{.max_attempts = 6, .backoff = b, .budget = &budget}}};
    (void)call(always_fails(next));
    CHECK(next.starts.size() == 1);
}

TEST_CASE("retry: budget costs and refunds", "[retry][budget]") {
    rs::manual_clock clk;
    rs::retry_budget budget{};
    rs::resilient_call call{clk, rs::retry{{.max_attempts = 3, .backoff = rs::constant_backoff{1ms}, .budget = &budget}}};
    auto fails_then_succeeds = [](rs::failure_kind k) {
        return [k](const rs::attempt& a) -> rs::result<int> {
            if (a.number() == 1) return rs::failure::of(k);
            return 1;
        };
    };
    REQUIRE(budget.try_acquire(400));  // leave 100, so that refunds are visible

    SECTION("a first-attempt success refunds success_refund") {
        CHECK(call([] { return 1; }).has_value());
        CHECK(budget.available() == 101);
    }
    SECTION("a success after a retry refunds that retry's cost") {
        CHECK(call(fails_then_succeeds(rs::failure_kind::error)).has_value());
        CHECK(budget.available() == 100);
    }
    SECTION("a retry after a timeout costs timeout_cost") {
        auto r = call([](const rs::attempt&) -> rs::result<int> { return rs::failure::of(rs::failure_kind::timeout); });
        CHECK_FALSE(r.has_value());
        CHECK(budget.available() == 80);  // two retries at 10
    }
    SECTION("permanent failures cost nothing and refund nothing") {
        (void)call([]() -> rs::result<int> { return rs::failure::of(rs::failure_kind::cancelled); });
        CHECK(budget.available() == 100);
    }
    SECTION("a retry that is not made (deadline) takes no token") {
        auto r = call(fails_then_succeeds(rs::failure_kind::error), rs::call_options{.deadline = clk.now() + 1ms});
        CHECK_FALSE(r.has_value());
        CHECK(budget.available() == 100);
    }
}

TEST_CASE("retry_budget: concurrent use never goes below zero or above capacity, and counts add up",
          "[retry][budget][threads]") {
    constexpr int threads = 8;
    // A small bucket, so that threads holding tokens at the same time really run it dry.
    rs::retry_budget budget{{.capacity = 200, .retry_cost = 5, .timeout_cost = 10, .success_refund = 1}};
    std::latch go{threads};

    SECTION("acquire/refund pairs: every token comes back") {
        // Costs up to 97 from a bucket of 100: a single thread is never refused, so a refusal shows
        // that other threads held tokens at that moment (the threads really overlapped).
        rs::retry_budget pairs{{.capacity = 100, .retry_cost = 5, .timeout_cost = 10, .success_refund = 1}};
        std::atomic<bool> bad{false};
        std::atomic<std::uint64_t> acquired{0}, refused{0};
        std::vector<std::thread> ts;
        for (int t = 0; t < threads; ++t) {
            ts.emplace_back([&, t] {
                go.arrive_and_wait();
                for (std::uint32_t i = 0; i < 50000; ++i) {
                    const std::uint32_t cost = 1 + (i + static_cast<std::uint32_t>(t)) % 97;
                    if (pairs.try_acquire(cost)) {
                        acquired.fetch_add(cost, std::memory_order_relaxed);
                        if (pairs.available() > 100) bad = true;
                        pairs.refund(cost);
                    } else {
                        refused.fetch_add(1, std::memory_order_relaxed);
                    }
                    if (pairs.available() > 100) bad = true;
                }
            });
        }
        for (auto& th : ts) th.join();
        CHECK_FALSE(bad.load());
        CHECK(acquired.load() > 0);
        INFO("refusals under contention: " << refused.load());
        CHECK(pairs.available() == 100);
    }
    SECTION("draining: exactly capacity / cost acquisitions succeed") {
        std::atomic<std::uint32_t> successes{0};
        std::vector<std::thread> ts;
        for (int t = 0; t < threads; ++t) {
            ts.emplace_back([&] {
                go.arrive_and_wait();
                while (budget.try_acquire(3)) successes.fetch_add(1, std::memory_order_relaxed);
            });
        }
        for (auto& th : ts) th.join();
        CHECK(successes.load() == 66);
        CHECK(budget.available() == 2);
    }
    SECTION("refunds race to the cap and stop there") {
        REQUIRE(budget.try_acquire(200));
        std::atomic<bool> bad{false};
        std::vector<std::thread> ts;
        for (int t = 0; t < threads; ++t) {
            ts.emplace_back([&] {
                go.arrive_and_wait();
                for (int i = 0; i < 20000; ++i) {
                    budget.refund(1 + static_cast<std::uint32_t>(i % 3));
                    if (budget.available() > 200) bad = true;
                    if (i % 5 == 0) (void)budget.try_acquire(2);
                }
            });
        }
        for (auto& th : ts) th.join();
        CHECK_FALSE(bad.load());
        CHECK(budget.available() <= 200);
        budget.refund(200);
        CHECK(budget.available() == 200);
    }
    SECTION("through retry: calls on many threads share the budget") {
        rs::retry_budget small{{.capacity = 20, .retry_cost = 5, .timeout_cost = 10, .success_refund = 1}};
        rs::manual_clock clk;
        rs::resilient_call call{clk, rs::retry{{.max_attempts = 2, .backoff = rs::constant_backoff{1ms}, .budget = &small}}};
        std::atomic<int> ok{0}, refused{0};
        std::vector<std::thread> ts;
        for (int t = 0; t < threads; ++t) {
            ts.emplace_back([&] {
                go.arrive_and_wait();
                for (int i = 0; i < 5000; ++i) {
                    // Fails once, then succeeds: each call that gets its retry takes 5 and returns 5.
                    auto r = call([](const rs::attempt& a) -> rs::result<int> {
                        if (a.number() == 1) return transient_error();
                        return 1;
                    });
                    (r.has_value() ? ok : refused).fetch_add(1);
                }
            });
        }
        for (auto& th : ts) th.join();
        CHECK(ok.load() + refused.load() == threads * 5000);
        CHECK(ok.load() > 0);
        INFO("calls refused a retry under contention: " << refused.load());
        CHECK(small.available() == 20);
    }
}

// --- cancellation ----------------------------------------------------------------------------------------

TEST_CASE("retry: the caller's stop token ends the backoff", "[retry][cancel]") {
    rs::manual_clock clk;
    std::stop_source stop;
    const rs::call_options opts{.stop = stop.get_token()};
    int calls = 0;
    auto cancels_during_first = [&]() -> rs::result<int> {
        ++calls;
        stop.request_stop();
        return transient_error();
    };
    SECTION("with a delay") {
        rs::resilient_call call{clk, rs::retry{{.max_attempts = 5, .backoff = rs::constant_backoff{1s}}}};
        auto r = call(cancels_during_first, opts);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::cancelled);
        CHECK(r.error().cause == rs::failure_kind::error);
        CHECK(calls == 1);
        CHECK(clk.elapsed() == 0ns);
    }
    SECTION("with no delay") {
        rs::resilient_call call{clk, rs::retry{{.max_attempts = 5, .backoff = rs::constant_backoff{0ns}}}};
        auto r = call(cancels_during_first, opts);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::cancelled);
        CHECK(calls == 1);
    }
}

// --- events ----------------------------------------------------------------------------------------------

TEST_CASE("retry: events", "[retry][events]") {
    rs::manual_clock clk;
    recorder rec;
    rs::resilient_call call{clk, rec, rs::retry{{.max_attempts = 3, .backoff = rs::linear_backoff{100ms, 100ms, 1s}}}};
    const rs::time_point t0 = clk.now();
    auto r = call([]() -> rs::result<int> { return rs::failure::of(rs::failure_kind::rate_limited); });
    REQUIRE_FALSE(r.has_value());
    REQUIRE(rec.events.size() == 3);
    CHECK(rec.events[0].type == rs::event_type::retry_scheduled);
    CHECK(rec.events[0].attempt == 1);
    CHECK(rec.events[0].delay == 100ms);
    CHECK(rec.events[0].kind == rs::failure_kind::rate_limited);
    CHECK(rec.events[0].at == t0);
    CHECK(rec.events[1].type == rs::event_type::retry_scheduled);
    CHECK(rec.events[1].attempt == 2);
    CHECK(rec.events[1].delay == 200ms);
    CHECK(rec.events[1].at == t0 + 100ms);
    CHECK(rec.events[2].type == rs::event_type::retries_exhausted);
    CHECK(rec.events[2].attempt == 3);
    CHECK(rec.events[2].kind == rs::failure_kind::rate_limited);

    SECTION("a relabelled give-up reports the kind returned") {
        rec.events.clear();
        (void)call([]() -> rs::result<int> { return transient_error(); }, rs::call_options{.deadline = clk.now() + 50ms});
        REQUIRE(rec.events.size() == 1);
        CHECK(rec.events[0].type == rs::event_type::retries_exhausted);
        CHECK(rec.events[0].kind == rs::failure_kind::deadline_exceeded);
    }
    SECTION("success emits nothing") {
        rec.events.clear();
        (void)call([] { return 1; });
        CHECK(rec.events.empty());
    }
}

// --- custom backoff -------------------------------------------------------------------------------------

namespace {
struct fibonacci_backoff {
    struct state_type {
        std::int64_t a = 0, b = 1;
    };
    template <class Random>
    ns next_delay(std::uint32_t, Random&, state_type& s) const {
        s = {s.b, s.a + s.b};
        return 100ms * s.a;
    }
};
}  // namespace

TEST_CASE("retry: a custom backoff, with per-call state", "[retry][backoff]") {
    rs::manual_clock clk;
    rs::resilient_call call{clk, rs::retry{rs::retry_options<fibonacci_backoff>{.max_attempts = 6}}};
    for (int round = 0; round < 2; ++round) {  // the state starts afresh with every call
        attempt_log log{clk.now(), {}, {}};
        (void)call([&](const rs::attempt& a) -> rs::result<int> {
            log.add(a);
            return transient_error();
        });
        CHECK(log.starts == std::vector<ns>{0ms, 100ms, 200ms, 400ms, 700ms, 1200ms});
    }
}

// --- allocations -----------------------------------------------------------------------------------------

TEST_CASE("retry: no allocation on the happy path or on retry paths", "[retry][alloc]") {
    if (!RESILIENCE_TEST_COUNTS_ALLOCATIONS) {
        WARN("allocation counting is off under ThreadSanitizer; skipped");
        return;
    }
    rs::manual_clock clk;
    rs::retry_budget budget{{.capacity = 1'000'000}};
    std::stop_source stop;  // a stop token that can be stopped: exercises the interruptible sleep path
    const rs::call_options opts{.deadline = clk.now() + 1h, .stop = stop.get_token()};
    const rs::retry<> r{{.max_attempts = 5, .backoff = rs::exponential_backoff{10ms, 1s, rs::decorrelated_jitter}, .budget = &budget}};

    SECTION("happy path") {
        rs::resilient_call call{clk, r};
        const auto n = all_allocations_during([&] {
            for (int i = 0; i < 100; ++i) {
                auto res = call([] { return 1; }, opts);
                auto plain = call([] { return 2; });
                rs::resilient_call defaults{rs::retry{}};  // steady clock, thread_random, no budget
                auto d = defaults([] { return 3; });
                if (!res || !plain || !d) std::abort();
            }
        });
        CHECK(n == 0);
    }
    SECTION("retry paths: failures, retries, give-ups (attempts, deadline, budget), value classification") {
        rs::resilient_call call{clk, r};
        rs::resilient_call by_status{clk, rs::retry{{.max_attempts = 3, .backoff = rs::constant_backoff{5ms}},
                                                    rs::classify_values{[](const http_response& h) { return rs::http_status_verdict(h.status); }},
                                                    rs::seeded_random{1}}};
        rs::retry_budget tiny{{.capacity = 5, .retry_cost = 5, .timeout_cost = 5, .success_refund = 0}};
        rs::resilient_call starved{clk, rs::retry{{.max_attempts = 5, .backoff = rs::constant_backoff{1ms}, .budget = &tiny}}};
        const auto n = all_allocations_during([&] {
            for (int i = 0; i < 20; ++i) {
                auto a = call([](const rs::attempt& at) -> rs::result<int> {
                    if (at.number() < 4) return transient_error();
                    return 2;
                }, opts);
                auto b = call([]() -> rs::result<int> { return transient_error(); }, opts);
                auto c = call([]() -> rs::result<int> { return transient_error(); },
                              rs::call_options{.deadline = clk.now() + 15ms});
                auto d = by_status([] { return http_response{503}; });
                auto e = starved([]() -> rs::result<int> { return transient_error(); });
                auto f = call([]() -> rs::result<int> { return with_hint(transient_error(), 50ms); }, opts);
                if (!a || b || c || d || e || f) std::abort();
            }
        });
        CHECK(n == 0);
        CHECK(clk.sleep_count() > 100);  // the retry paths really ran
    }
    SECTION("the counter works: an allocation is seen") {
        const auto n = all_allocations_during([] { resilience_test::allocate_once(); });
        CHECK(n == 1);
    }
}
