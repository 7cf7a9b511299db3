// SPDX-License-Identifier: MIT
//
// circuit_breaker: every state transition and every option, on manual_clock.
#include "support/allocations.hpp"
#include "support/catch.hpp"

#include <resilience/bulkhead.hpp>
#include <resilience/circuit_breaker.hpp>
#include <resilience/classify.hpp>
#include <resilience/clock.hpp>
#include <resilience/resilient_call.hpp>
#include <resilience/retry.hpp>
#include <resilience/timeout.hpp>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace rs = resilience;
using namespace std::chrono_literals;

// Every thread's allocations (the breaker is used from one thread at a time in the counted regions);
// under TSan nothing is counted and the allocation checks pass vacuously or are skipped.
using resilience_test::all_allocations;

namespace {

using breaker_t = rs::circuit_breaker<rs::manual_clock>;

rs::result<int> succeed(breaker_t& b) {
    rs::resilient_call call{b};
    return call([] { return 1; });
}

rs::result<int> fail(breaker_t& b, rs::failure_kind k = rs::failure_kind::error) {
    rs::resilient_call call{b};
    return call([k]() -> rs::result<int> { return rs::failure::of(k, "scripted failure"); });
}

/// A callable that takes `latency` of virtual time, then succeeds (or fails).
rs::result<int> timed(breaker_t& b, rs::manual_clock& clk, rs::duration latency, bool ok = true) {
    rs::resilient_call call{b};
    return call([&]() -> rs::result<int> {
        clk.advance(latency);
        if (ok) return 7;
        return rs::failure::of(rs::failure_kind::error, "slow failure");
    });
}

/// Keeps what the tests need from events (views in an event die with the call).
struct event_log {
    struct entry {
        rs::event_type type;
        std::string policy, name, from, to;
        rs::failure_kind kind;
        rs::duration delay;
    };
    std::mutex m;
    std::vector<entry> entries;
    void on_event(const rs::event& e) {
        std::lock_guard g(m);
        entries.push_back({e.type, std::string(e.policy), std::string(e.name), std::string(e.from), std::string(e.to),
                           e.kind, e.delay});
    }
    std::vector<std::string> changes() {
        std::lock_guard g(m);
        std::vector<std::string> out;
        for (auto& e : entries) {
            if (e.type == rs::event_type::state_changed) out.push_back(e.from + "->" + e.to);
        }
        return out;
    }
};

/// A uniform random bit generator that always returns one value (for exact jitter tests).
struct fixed_random {
    using result_type = std::uint64_t;
    std::uint64_t value = 0;
    static constexpr result_type min() { return 0; }
    static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }
    result_type operator()() { return value; }
};

/// A clock that counts its reads, over a manual clock.
struct counting_clock {
    rs::manual_clock* base;
    mutable std::atomic<int> reads{0};
    explicit counting_clock(rs::manual_clock& b) : base(&b) {}
    counting_clock(const counting_clock&) = delete;
    rs::time_point now() const noexcept {
        reads.fetch_add(1);
        return base->now();
    }
    bool sleep_until(rs::time_point t, std::stop_token st = {}) { return base->sleep_until(t, st); }
    template <class P>
    bool wait_until(std::unique_lock<std::mutex>& lk, std::condition_variable& cv, rs::time_point t, P p) {
        return base->wait_until(lk, cv, t, p);
    }
    std::chrono::system_clock::time_point to_sys(rs::time_point t) const noexcept { return base->to_sys(t); }
};
static_assert(rs::clock<counting_clock>);

/// An inner guard that rejects without running the callable (like a full bulkhead).
struct reject_inside {
    rs::failure_kind kind = rs::failure_kind::bulkhead_full;
    template <class Ctx, class Next>
    auto execute(Ctx&, Next&&) -> std::invoke_result_t<Next&, Ctx&> {
        return rs::failure::of(kind, "rejected inside");
    }
};

/// An inner policy with a bug: it throws.
struct throwing_inside {
    template <class Ctx, class Next>
    auto execute(Ctx&, Next&&) -> std::invoke_result_t<Next&, Ctx&> {
        throw std::runtime_error("inner policy bug");
    }
};

std::optional<rs::config_error> check(const rs::circuit_breaker_options& o) { return o.validate(); }

}  // namespace

// --- construction, CTAD, validation ------------------------------------------------------------------

TEST_CASE("circuit_breaker: the DESIGN.md declaration deduces the default template arguments") {
    static rs::circuit_breaker breaker{{.failure_threshold = 5, .open_duration = 30s}};
    static_assert(std::is_same_v<decltype(breaker), rs::circuit_breaker<>>);
    static_assert(std::is_same_v<rs::circuit_breaker<>::clock_type, rs::steady_clock>);
    static_assert(!std::is_copy_constructible_v<rs::circuit_breaker<>>);
    static_assert(!std::is_move_constructible_v<rs::circuit_breaker<>>);
    static_assert(rs::policy<rs::circuit_breaker<>>);
    CHECK(breaker.state() == rs::circuit_state::closed);
    CHECK(breaker.options().failure_threshold == 5);

    rs::manual_clock clk;
    rs::circuit_breaker on_manual{{}, clk};
    static_assert(std::is_same_v<decltype(on_manual), rs::circuit_breaker<rs::manual_clock>>);
    CHECK(&on_manual.clock() == &clk);

    auto by_status = rs::classify_values{[](const int& v) { return rs::http_status_verdict(v); }};
    rs::circuit_breaker classified{{}, clk, by_status};
    static_assert(std::is_same_v<decltype(classified), rs::circuit_breaker<rs::manual_clock, decltype(by_status)>>);

    rs::circuit_breaker seeded{{}, clk, rs::default_classifier{}, fixed_random{}};
    static_assert(std::is_same_v<decltype(seeded), rs::circuit_breaker<rs::manual_clock, rs::default_classifier, fixed_random>>);
}

TEST_CASE("circuit_breaker: a composition adopts the breaker's clock") {
    rs::manual_clock clk;
    breaker_t b{{}, clk};
    rs::resilient_call call{b};
    static_assert(std::is_same_v<decltype(call)::clock_type, rs::manual_clock>);
    CHECK(&call.clock() == &clk);
}

TEST_CASE("circuit_breaker_options: defaults are valid and documented values") {
    rs::circuit_breaker_options o;
    CHECK_FALSE(o.validate().has_value());
    CHECK(o.failure_threshold == 5);
    CHECK(o.open_duration == 30s);
    CHECK(o.half_open_probes == 1);
    CHECK(o.open_duration_max == rs::duration::zero());
    CHECK(o.open_jitter == 0.0);
    CHECK_FALSE(o.failure_rate_threshold.has_value());
    CHECK_FALSE(o.slow_call_rate_threshold.has_value());
    CHECK(o.window.kind == rs::breaker_window::kind_type::count);
    CHECK(o.window.size == 100);
    CHECK(o.minimum_calls == 10);
    CHECK(o.slow_call_duration == 60s);

    // Rate-only configurations may switch the consecutive condition off.
    CHECK_FALSE(check({.failure_threshold = 0, .failure_rate_threshold = 0.5}).has_value());
    CHECK_FALSE(check({.failure_threshold = 0, .slow_call_rate_threshold = 1.0}).has_value());
    CHECK_FALSE(check({.failure_rate_threshold = 1.0, .window = rs::breaker_window::time(10s, 10)}).has_value());
    CHECK_FALSE(check({.open_duration = 1s, .open_duration_max = 1s}).has_value());
}

TEST_CASE("circuit_breaker_options: every bad value is rejected with an error naming the field and range") {
    struct bad_case {
        rs::circuit_breaker_options o;
        std::string field;
        std::string range;
    };
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const std::vector<bad_case> cases = {
        {{.failure_threshold = 0}, "failure_threshold", "between 1 and 1000000"},
        {{.failure_threshold = 1'000'001}, "failure_threshold", "between 1 and 1000000"},
        {{.failure_rate_threshold = 0.0}, "failure_rate_threshold", "(0, 1]"},
        {{.failure_rate_threshold = -0.5}, "failure_rate_threshold", "(0, 1]"},
        {{.failure_rate_threshold = 1.01}, "failure_rate_threshold", "(0, 1]"},
        {{.failure_rate_threshold = nan}, "failure_rate_threshold", "(0, 1]"},
        {{.slow_call_rate_threshold = 0.0}, "slow_call_rate_threshold", "(0, 1]"},
        {{.slow_call_rate_threshold = 2.0}, "slow_call_rate_threshold", "(0, 1]"},
        {{.slow_call_duration = 0s}, "slow_call_duration", "greater than zero"},
        {{.slow_call_duration = -1s}, "slow_call_duration", "greater than zero"},
        {{.window = rs::breaker_window::count(0)}, "window.size", "between 1 and 65536"},
        {{.window = rs::breaker_window::count(65537)}, "window.size", "between 1 and 65536"},
        {{.window = rs::breaker_window::time(10s, 0)}, "window.buckets", "between 1 and 1000"},
        {{.window = rs::breaker_window::time(10s, 1001)}, "window.buckets", "between 1 and 1000"},
        {{.window = rs::breaker_window::time(0s, 10)}, "window.length", "greater than zero"},
        {{.window = rs::breaker_window::time(-5s, 10)}, "window.length", "greater than zero"},
        {{.window = rs::breaker_window::time(5ns, 10)}, "window.length", "one nanosecond per bucket"},
        {{.minimum_calls = 0}, "minimum_calls", "between 1 and 1000000"},
        {{.minimum_calls = 1'000'001}, "minimum_calls", "between 1 and 1000000"},
        {{.open_duration = 0s}, "open_duration", "greater than zero and at most 24 hours"},
        {{.open_duration = -1ms}, "open_duration", "greater than zero and at most 24 hours"},
        {{.open_duration = 25h}, "open_duration", "greater than zero and at most 24 hours"},
        {{.open_duration = 10s, .open_duration_max = 5s}, "open_duration_max", "between open_duration and 24 hours"},
        {{.open_duration_max = 25h}, "open_duration_max", "between open_duration and 24 hours"},
        {{.open_duration_max = -1s}, "open_duration_max", "between open_duration and 24 hours"},
        {{.open_backoff_multiplier = 0.5}, "open_backoff_multiplier", "between 1 and 100"},
        {{.open_backoff_multiplier = 101.0}, "open_backoff_multiplier", "between 1 and 100"},
        {{.open_backoff_multiplier = nan}, "open_backoff_multiplier", "between 1 and 100"},
        {{.open_jitter = -0.1}, "open_jitter", "[0, 1)"},
        {{.open_jitter = 1.0}, "open_jitter", "[0, 1)"},
        {{.open_jitter = nan}, "open_jitter", "[0, 1)"},
        {{.half_open_probes = 0}, "half_open_probes", "between 1 and 10000"},
        {{.half_open_probes = 10'001}, "half_open_probes", "between 1 and 10000"},
    };
    rs::manual_clock clk;
    for (const auto& c : cases) {
        INFO("field " << c.field);
        auto e = c.o.validate();
        REQUIRE(e.has_value());
        CHECK(std::string(e->field) == "circuit_breaker_options." + c.field);
        CHECK(std::string(e->message).find("circuit_breaker_options." + c.field) != std::string::npos);
        CHECK(std::string(e->message).find(c.range) != std::string::npos);
        bool threw = false;
        try {
            breaker_t b{c.o, clk};
        } catch (const std::invalid_argument& ex) {
            threw = true;
            CHECK(std::string(ex.what()).find("circuit_breaker_options." + c.field) != std::string::npos);
        }
        CHECK(threw);
    }
}

// --- consecutive failures ---------------------------------------------------------------------------

TEST_CASE("circuit_breaker: consecutive failures trip it; a success in between resets the count") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 3, .open_duration = 10s}, clk};
    CHECK_FALSE(fail(b));
    CHECK_FALSE(fail(b));
    CHECK(b.metrics().consecutive_failures == 2);
    CHECK(succeed(b));
    CHECK(b.metrics().consecutive_failures == 0);
    CHECK_FALSE(fail(b));
    CHECK_FALSE(fail(b));
    CHECK(b.state() == rs::circuit_state::closed);
    CHECK_FALSE(fail(b));
    CHECK(b.state() == rs::circuit_state::open);
    auto m = b.metrics();
    CHECK(m.times_opened == 1);
    CHECK(m.failures == 5);
    CHECK(m.successes == 1);
    CHECK(m.last_open_duration == 10s);
}

TEST_CASE("circuit_breaker: an open circuit rejects without running, as a value with retry_after") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 1, .open_duration = 10s}, clk};
    CHECK_FALSE(fail(b));
    REQUIRE(b.state() == rs::circuit_state::open);
    clk.advance(4s);
    int ran = 0;
    rs::resilient_call call{b};
    const std::uint64_t before = all_allocations.load();
    rs::result<int> r = call([&] { return ++ran; });
    CHECK(all_allocations.load() == before);
    REQUIRE_FALSE(r);
    CHECK(ran == 0);
    CHECK(r.error().kind == rs::failure_kind::circuit_open);
    CHECK(r.error().retry_after == 6s);
    CHECK(r.error().attempts == 0);
    CHECK(r.error().hint == rs::transience::unknown);
    CHECK(r.error().message == "the circuit is open");
    CHECK(b.metrics().rejected == 1);
    CHECK(b.metrics().retry_after == 6s);

    auto p = b.try_acquire();
    REQUIRE_FALSE(p);
    CHECK(p.error().kind == rs::failure_kind::circuit_open);
    CHECK(p.error().retry_after == 6s);
}

TEST_CASE("circuit_breaker: open becomes half-open lazily, on the first call after the open duration") {
    rs::manual_clock clk;
    event_log log;
    breaker_t b{{.name = "orders", .failure_threshold = 1, .open_duration = 10s}, clk};
    rs::resilient_call call{b, log};
    auto boom = []() -> rs::result<int> { return rs::failure::of(rs::failure_kind::error); };
    CHECK_FALSE(call(boom));
    clk.advance(10s);
    // No timer: nothing happens until a call comes.
    CHECK(b.state() == rs::circuit_state::open);
    CHECK(b.metrics().retry_after == 0s);
    CHECK(call([] { return 1; }));
    CHECK(b.state() == rs::circuit_state::closed);
    CHECK(log.changes() == std::vector<std::string>{"closed->open", "open->half_open", "half_open->closed"});
    for (auto& e : log.entries) {
        if (e.type == rs::event_type::state_changed) {
            CHECK(e.policy == "circuit_breaker");
            CHECK(e.name == "orders");
        }
    }
}

TEST_CASE("circuit_breaker: one nanosecond before the open duration has passed it still rejects") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 1, .open_duration = 10s}, clk};
    CHECK_FALSE(fail(b));
    clk.advance(10s - 1ns);
    auto r = succeed(b);
    REQUIRE_FALSE(r);
    CHECK(r.error().retry_after == 1ns);
    clk.advance(1ns);
    CHECK(succeed(b));
}

// --- half-open ---------------------------------------------------------------------------------------

TEST_CASE("circuit_breaker: half-open admits exactly half_open_probes calls; their successes close it") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 1, .open_duration = 5s, .half_open_probes = 3}, clk};
    CHECK_FALSE(fail(b));
    clk.advance(5s);
    auto p1 = b.try_acquire();
    auto p2 = b.try_acquire();
    auto p3 = b.try_acquire();
    auto p4 = b.try_acquire();
    REQUIRE(p1);
    REQUIRE(p2);
    REQUIRE(p3);
    CHECK(p1->is_probe());
    CHECK(b.state() == rs::circuit_state::half_open);
    REQUIRE_FALSE(p4);
    CHECK(p4.error().kind == rs::failure_kind::circuit_open);
    CHECK(p4.error().retry_after == 0s);
    CHECK(p4.error().message == "the circuit is half-open and every probe is in flight");
    CHECK(b.metrics().probes_admitted == 3);

    p1->record_success();
    p2->record_success();
    CHECK(b.state() == rs::circuit_state::half_open);
    CHECK(b.metrics().probes_succeeded == 2);
    CHECK_FALSE(b.try_acquire());  // succeeded probes do not free a slot
    p3->record_success();
    CHECK(b.state() == rs::circuit_state::closed);
    auto p5 = b.try_acquire();
    REQUIRE(p5);
    CHECK_FALSE(p5->is_probe());
    p5->record_success();
}

TEST_CASE("circuit_breaker: a failed probe re-opens the circuit at once") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 1, .open_duration = 5s, .half_open_probes = 2}, clk};
    CHECK_FALSE(fail(b));
    clk.advance(5s);
    auto p1 = b.try_acquire();
    auto p2 = b.try_acquire();
    REQUIRE(p1);
    REQUIRE(p2);
    p1->record_success();
    p2->record_failure();
    CHECK(b.state() == rs::circuit_state::open);
    CHECK(b.metrics().retry_after == 5s);
}

TEST_CASE("circuit_breaker: a released probe (ignored outcome) gives its slot back") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 1, .open_duration = 5s}, clk};
    CHECK_FALSE(fail(b));
    clk.advance(5s);
    auto p1 = b.try_acquire();
    REQUIRE(p1);
    CHECK_FALSE(b.try_acquire());
    p1->release();
    CHECK(b.state() == rs::circuit_state::half_open);
    CHECK(b.metrics().ignored == 1);
    auto p2 = b.try_acquire();
    REQUIRE(p2);
    p2->record_success();
    CHECK(b.state() == rs::circuit_state::closed);
}

TEST_CASE("circuit_breaker: a probe rejected by an inner guard does not count and frees its slot") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 1, .open_duration = 5s}, clk};
    CHECK_FALSE(fail(b));
    clk.advance(5s);
    rs::resilient_call inner_full{b, reject_inside{}};
    int ran = 0;
    auto r = inner_full([&] { return ++ran; });
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == rs::failure_kind::bulkhead_full);
    CHECK(ran == 0);
    CHECK(b.state() == rs::circuit_state::half_open);
    CHECK(b.metrics().probes_admitted == 0);
    CHECK(succeed(b));
    CHECK(b.state() == rs::circuit_state::closed);
}

TEST_CASE("circuit_breaker: a probe permit dropped without an outcome re-opens; it never strands half-open") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 1, .open_duration = 5s}, clk};
    CHECK_FALSE(fail(b));
    clk.advance(5s);
    {
        auto p = b.try_acquire();
        REQUIRE(p);
        CHECK(b.state() == rs::circuit_state::half_open);
    }
    CHECK(b.state() == rs::circuit_state::open);
    auto m = b.metrics();
    CHECK(m.abandoned == 1);
    CHECK(m.failures == 2);
    CHECK(m.retry_after == 5s);
}

TEST_CASE("circuit_breaker: an exception escaping through the breaker is recorded by the permit") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 1, .open_duration = 5s}, clk};
    rs::resilient_call call{b, throwing_inside{}};
    CHECK_THROWS_AS(call([] { return 1; }), std::runtime_error);
    CHECK(b.state() == rs::circuit_state::open);
    CHECK(b.metrics().abandoned == 1);
}

TEST_CASE("circuit_breaker: permits are move-only; moving transfers the duty to report") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 2}, clk};
    auto r = b.try_acquire();
    REQUIRE(r);
    breaker_t::permit p = std::move(*r);
    CHECK(p.active());
    p.record_success();
    CHECK_FALSE(p.active());
    p.record_failure();  // ignored: already reported
    CHECK(b.metrics().successes == 1);
    CHECK(b.metrics().failures == 0);
    // Move-assigning over an active permit records the overwritten one as abandoned.
    auto a = b.try_acquire();
    auto c = b.try_acquire();
    REQUIRE(a);
    REQUIRE(c);
    *a = std::move(*c);
    CHECK(b.metrics().abandoned == 1);
    a->record_success();
    CHECK(b.metrics().successes == 2);
}

// --- generations -------------------------------------------------------------------------------------

TEST_CASE("circuit_breaker: a late failure from before a trip is ignored for transitions") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 2, .open_duration = 5s}, clk};
    auto old_call = b.try_acquire();
    REQUIRE(old_call);
    const auto gen0 = old_call->generation();
    CHECK_FALSE(fail(b));
    CHECK_FALSE(fail(b));
    REQUIRE(b.state() == rs::circuit_state::open);
    clk.advance(5s);
    CHECK(succeed(b));  // probe closes it: generation 3
    REQUIRE(b.state() == rs::circuit_state::closed);
    CHECK(b.metrics().generation == gen0 + 3);
    old_call->record_failure();  // from generation 0
    auto m = b.metrics();
    CHECK(m.late == 1);
    CHECK(m.consecutive_failures == 0);
    CHECK_FALSE(fail(b));  // one failure of this generation: not yet 2
    CHECK(b.state() == rs::circuit_state::closed);
}

TEST_CASE("circuit_breaker: a late success from before a re-open does not close the circuit") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 1, .open_duration = 5s, .half_open_probes = 1}, clk};
    CHECK_FALSE(fail(b));
    clk.advance(5s);
    auto probe = b.try_acquire();
    REQUIRE(probe);
    b.isolate();
    b.reset();
    CHECK_FALSE(fail(b));  // trips again: generation differs from the probe's
    REQUIRE(b.state() == rs::circuit_state::open);
    probe->record_success();
    CHECK(b.state() == rs::circuit_state::open);
    CHECK(b.metrics().late == 1);
}

TEST_CASE("circuit_breaker: late outcomes of old closed-state calls cannot trip it twice") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 1, .open_duration = 5s}, clk};
    std::vector<breaker_t::permit> in_flight;
    for (int i = 0; i < 5; ++i) in_flight.push_back(std::move(*b.try_acquire()));
    in_flight[0].record_failure();
    REQUIRE(b.state() == rs::circuit_state::open);
    for (std::size_t i = 1; i < in_flight.size(); ++i) in_flight[i].record_failure();
    auto m = b.metrics();
    CHECK(m.times_opened == 1);
    CHECK(m.late == 4);
    CHECK(m.retry_after == 5s);
}

// --- isolate / reset ---------------------------------------------------------------------------------

TEST_CASE("circuit_breaker: isolate() forces it open until reset(), whatever the time") {
    rs::manual_clock clk;
    event_log log;
    breaker_t b{{.failure_threshold = 3, .open_duration = 1s}, clk};
    rs::resilient_call call{b, log};
    b.isolate();
    CHECK(b.state() == rs::circuit_state::isolated);
    clk.advance(1h);
    int ran = 0;
    auto r = call([&] { return ++ran; });
    REQUIRE_FALSE(r);
    CHECK(ran == 0);
    CHECK(r.error().kind == rs::failure_kind::circuit_open);
    CHECK(r.error().hint == rs::transience::permanent);
    CHECK(r.error().retry_after == 0s);
    CHECK(r.error().message == "the circuit is isolated");
    CHECK(b.state() == rs::circuit_state::isolated);
    b.isolate();  // idempotent: no new generation
    auto gen = b.metrics().generation;
    b.isolate();
    CHECK(b.metrics().generation == gen);
    b.reset();
    CHECK(b.state() == rs::circuit_state::closed);
    CHECK(call([&] { return ++ran; }));
    CHECK(ran == 1);
}

TEST_CASE("circuit_breaker: isolate() from open and from half-open; outcomes in flight are ignored") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 1, .open_duration = 5s}, clk};
    CHECK_FALSE(fail(b));
    b.isolate();
    CHECK(b.state() == rs::circuit_state::isolated);
    b.reset();
    CHECK_FALSE(fail(b));
    clk.advance(5s);
    auto probe = b.try_acquire();
    REQUIRE(probe);
    b.isolate();
    probe->record_success();
    CHECK(b.state() == rs::circuit_state::isolated);
}

TEST_CASE("circuit_breaker: reset() clears counts, windows and the re-open backoff") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 3,
                 .failure_rate_threshold = 0.9,
                 .window = rs::breaker_window::count(10),
                 .minimum_calls = 10,
                 .open_duration = 1s,
                 .open_duration_max = 8s},
                clk};
    CHECK_FALSE(fail(b));
    CHECK_FALSE(fail(b));
    CHECK(b.metrics().window_calls == 2);
    b.reset();
    auto m = b.metrics();
    CHECK(m.consecutive_failures == 0);
    CHECK(m.window_calls == 0);
    CHECK(m.failures == 2);  // cumulative counters are kept
    // Grow the open duration, then reset: back to the base.
    for (int i = 0; i < 3; ++i) CHECK_FALSE(fail(b));
    clk.advance(1s);
    CHECK_FALSE(fail(b));  // failed probe: 2 s
    CHECK(b.metrics().last_open_duration == 2s);
    b.reset();
    for (int i = 0; i < 3; ++i) CHECK_FALSE(fail(b));
    CHECK(b.metrics().last_open_duration == 1s);
}

// --- open duration: backoff and jitter ---------------------------------------------------------------

TEST_CASE("circuit_breaker: the open duration grows on consecutive re-opens, up to the cap") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 1, .open_duration = 10s, .open_duration_max = 60s, .open_backoff_multiplier = 2.0},
                clk};
    CHECK_FALSE(fail(b));
    std::vector<rs::duration> seen{b.metrics().last_open_duration};
    for (int i = 0; i < 4; ++i) {
        clk.advance(seen.back());
        auto r = fail(b);  // the probe fails: re-open
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == rs::failure_kind::error);
        seen.push_back(b.metrics().last_open_duration);
        auto rejected = succeed(b);
        REQUIRE_FALSE(rejected);
        CHECK(rejected.error().retry_after == seen.back());
    }
    CHECK(seen == std::vector<rs::duration>{10s, 20s, 40s, 60s, 60s});
    // A successful probe closes it; the next trip starts from the base again.
    clk.advance(60s);
    CHECK(succeed(b));
    CHECK_FALSE(fail(b));
    CHECK(b.metrics().last_open_duration == 10s);
}

TEST_CASE("circuit_breaker: open_backoff_multiplier sets the growth; 1 keeps the duration fixed") {
    rs::manual_clock clk;
    auto durations = [&](double multiplier) {
        breaker_t b{{.failure_threshold = 1, .open_duration = 10s, .open_duration_max = 30s,
                     .open_backoff_multiplier = multiplier},
                    clk};
        b.try_acquire()->record_failure();
        std::vector<rs::duration> seen{b.metrics().last_open_duration};
        for (int i = 0; i < 4; ++i) {
            clk.advance(seen.back());
            b.try_acquire()->record_failure();  // the probe fails
            seen.push_back(b.metrics().last_open_duration);
        }
        return seen;
    };
    CHECK(durations(1.5) == std::vector<rs::duration>{10s, 15s, 22500ms, 30s, 30s});
    CHECK(durations(1.0) == std::vector<rs::duration>{10s, 10s, 10s, 10s, 10s});
    CHECK(durations(100.0) == std::vector<rs::duration>{10s, 30s, 30s, 30s, 30s});
}

TEST_CASE("circuit_breaker: without open_duration_max the open duration does not grow") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 1, .open_duration = 10s, .open_backoff_multiplier = 3.0}, clk};
    CHECK_FALSE(fail(b));
    for (int i = 0; i < 3; ++i) {
        clk.advance(10s);
        CHECK_FALSE(fail(b));
        CHECK(b.metrics().last_open_duration == 10s);
    }
}

TEST_CASE("circuit_breaker: open_jitter spreads the open duration by the given fraction") {
    rs::manual_clock clk;
    SECTION("values") {
        auto duration_for = [&](std::uint64_t draw) {
            rs::circuit_breaker b{{.failure_threshold = 1, .open_duration = 10s, .open_jitter = 0.2}, clk,
                                  rs::default_classifier{}, fixed_random{draw}};
            b.try_acquire()->record_failure();
            return b.metrics().last_open_duration;
        };
        CHECK(duration_for(0) == 8s);
        CHECK(duration_for(std::numeric_limits<std::uint64_t>::max() / 2 + 1) == 10s);
        const auto top = duration_for(std::numeric_limits<std::uint64_t>::max());
        CHECK(top > 11999ms);
        CHECK(top <= 12s);
    }
    SECTION("jitter applies after the cap") {
        rs::circuit_breaker b{{.failure_threshold = 1, .open_duration = 10s, .open_duration_max = 20s, .open_jitter = 0.5},
                              clk, rs::default_classifier{}, fixed_random{0}};
        b.try_acquire()->record_failure();
        CHECK(b.metrics().last_open_duration == 5s);
        for (int i = 0; i < 3; ++i) {
            clk.advance(b.metrics().retry_after);
            b.try_acquire()->record_failure();
        }
        CHECK(b.metrics().last_open_duration == 10s);  // 20 s cap, minus 50 %
    }
    SECTION("the default random source draws different durations within the bounds") {
        breaker_t b{{.failure_threshold = 1, .open_duration = 10s, .open_jitter = 0.5}, clk};
        std::vector<rs::duration> seen;
        for (int i = 0; i < 50; ++i) {
            b.reset();
            CHECK_FALSE(fail(b));
            const auto d = b.metrics().last_open_duration;
            CHECK(d >= 5s);
            CHECK(d < 15s);
            seen.push_back(d);
        }
        std::sort(seen.begin(), seen.end());
        CHECK(std::unique(seen.begin(), seen.end()) - seen.begin() > 40);
    }
}

// --- rate windows ------------------------------------------------------------------------------------

TEST_CASE("circuit_breaker: failure rate over a count window, with minimum_calls") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 0,
                 .failure_rate_threshold = 0.5,
                 .window = rs::breaker_window::count(10),
                 .minimum_calls = 4},
                clk};
    CHECK_FALSE(fail(b));
    CHECK_FALSE(fail(b));
    CHECK_FALSE(fail(b));
    CHECK(b.state() == rs::circuit_state::closed);  // 3 of 3 failed, but fewer than minimum_calls
    auto m = b.metrics();
    CHECK(m.window_calls == 3);
    CHECK(m.window_failures == 3);
    CHECK(m.failure_rate == 1.0);
    CHECK(succeed(b));  // 3 of 4 >= 0.5: trips even on a success
    CHECK(b.state() == rs::circuit_state::open);
}

TEST_CASE("circuit_breaker: a rate exactly at the threshold trips; just below does not") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 0,
                 .failure_rate_threshold = 0.3,
                 .window = rs::breaker_window::count(10),
                 .minimum_calls = 10},
                clk};
    for (int i = 0; i < 8; ++i) CHECK(succeed(b));
    CHECK_FALSE(fail(b));
    CHECK_FALSE(fail(b));  // 2 of 10 = 0.2
    CHECK(b.state() == rs::circuit_state::closed);
    CHECK_FALSE(fail(b));  // window slides: 3 of 10 = 0.3
    CHECK(b.state() == rs::circuit_state::open);
}

TEST_CASE("circuit_breaker: the count window forgets the oldest outcome") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 0,
                 .failure_rate_threshold = 0.75,
                 .window = rs::breaker_window::count(4),
                 .minimum_calls = 4},
                clk};
    CHECK_FALSE(fail(b));
    for (int i = 0; i < 3; ++i) CHECK(succeed(b));  // F S S S: 0.25
    CHECK_FALSE(fail(b));                           // S S S F
    CHECK_FALSE(fail(b));                           // S S F F
    CHECK(b.metrics().window_failures == 2);
    CHECK(b.metrics().window_calls == 4);
    CHECK(b.state() == rs::circuit_state::closed);
    CHECK_FALSE(fail(b));  // S F F F: 0.75
    CHECK(b.state() == rs::circuit_state::open);
}

TEST_CASE("circuit_breaker: minimum_calls above a count window's size acts as its size") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 0, .failure_rate_threshold = 1.0, .window = rs::breaker_window::count(3), .minimum_calls = 50},
                clk};
    CHECK_FALSE(fail(b));
    CHECK_FALSE(fail(b));
    CHECK(b.state() == rs::circuit_state::closed);
    CHECK_FALSE(fail(b));
    CHECK(b.state() == rs::circuit_state::open);
}

TEST_CASE("circuit_breaker: rate and consecutive conditions combine; either trips") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 3, .failure_rate_threshold = 0.5, .window = rs::breaker_window::count(100), .minimum_calls = 100},
                clk};
    for (int i = 0; i < 3; ++i) CHECK_FALSE(fail(b));
    CHECK(b.state() == rs::circuit_state::open);  // consecutive, long before minimum_calls

    breaker_t r{{.failure_threshold = 3, .failure_rate_threshold = 0.5, .window = rs::breaker_window::count(4), .minimum_calls = 4},
                clk};
    CHECK_FALSE(fail(r));
    CHECK(succeed(r));
    CHECK_FALSE(fail(r));
    CHECK(succeed(r));  // never 3 in a row, but 2 of 4
    CHECK(r.state() == rs::circuit_state::open);
}

TEST_CASE("circuit_breaker: failure rate over a time window: old buckets expire") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 0,
                 .failure_rate_threshold = 0.5,
                 .window = rs::breaker_window::time(10s, 10),
                 .minimum_calls = 3},
                clk};
    CHECK_FALSE(fail(b));  // t = 0
    clk.advance(6s);
    CHECK_FALSE(fail(b));  // t = 6
    CHECK(b.metrics().window_calls == 2);
    clk.advance(5s);
    // t = 11: the bucket of t = 0 has expired, so the window holds F(6) and this success.
    CHECK(succeed(b));
    auto m = b.metrics();
    CHECK(m.window_calls == 2);
    CHECK(m.window_failures == 1);
    CHECK(b.state() == rs::circuit_state::closed);
    clk.advance(1s);
    CHECK_FALSE(fail(b));  // F(6) S(11) F(12): 2 of 3
    CHECK(b.state() == rs::circuit_state::open);
}

TEST_CASE("circuit_breaker: a time window empties after a long idle period (a frozen environment)") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 0,
                 .failure_rate_threshold = 0.5,
                 .window = rs::breaker_window::time(60s, 6),
                 .minimum_calls = 4},
                clk};
    for (int i = 0; i < 3; ++i) CHECK_FALSE(fail(b));
    CHECK(b.metrics().window_calls == 3);
    clk.advance(5h);
    CHECK(b.metrics().window_calls == 0);
    CHECK(succeed(b));
    CHECK_FALSE(fail(b));
    CHECK(succeed(b));
    CHECK(succeed(b));  // 1 of 4
    CHECK(b.state() == rs::circuit_state::closed);
    CHECK(b.metrics().window_calls == 4);
}

TEST_CASE("circuit_breaker: the time window slides one bucket at a time") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 0, .failure_rate_threshold = 1.0, .window = rs::breaker_window::time(4s, 4), .minimum_calls = 100},
                clk};
    for (int i = 0; i < 8; ++i) {
        CHECK_FALSE(fail(b));
        clk.advance(1s);
    }
    // At t = 8 s the window covers the buckets [5, 6), [6, 7), [7, 8) and [8, 9): three outcomes.
    CHECK(b.metrics().window_calls == 3);
    clk.advance(500ms);
    CHECK(b.metrics().window_calls == 3);
}

// --- slow calls --------------------------------------------------------------------------------------

TEST_CASE("circuit_breaker: a slow-call rate trips it; a call exactly at slow_call_duration is not slow") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 5,
                 .slow_call_rate_threshold = 0.5,
                 .slow_call_duration = 1s,
                 .window = rs::breaker_window::count(4),
                 .minimum_calls = 4},
                clk};
    CHECK(timed(b, clk, 1s));  // at the limit: not slow
    CHECK(timed(b, clk, 100ms));
    CHECK(timed(b, clk, 1001ms));  // slow success
    CHECK(b.metrics().slow_calls == 1);
    CHECK(b.state() == rs::circuit_state::closed);
    CHECK(timed(b, clk, 2s));  // 2 of 4 slow
    CHECK(b.state() == rs::circuit_state::open);
    auto m = b.metrics();
    CHECK(m.window_slow_calls == 2);
    CHECK(m.slow_call_rate == 0.5);
    CHECK(m.failures == 0);
}

TEST_CASE("circuit_breaker: a slow probe re-opens the circuit") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 1,
                 .slow_call_rate_threshold = 1.0,
                 .slow_call_duration = 1s,
                 .window = rs::breaker_window::count(10),
                 .minimum_calls = 10,
                 .open_duration = 5s},
                clk};
    CHECK_FALSE(fail(b));
    clk.advance(5s);
    CHECK(timed(b, clk, 3s));  // succeeded, but slowly
    CHECK(b.state() == rs::circuit_state::open);
    clk.advance(5s);
    CHECK(timed(b, clk, 10ms));
    CHECK(b.state() == rs::circuit_state::closed);
}

TEST_CASE("circuit_breaker: slow-call detection and a time window read the clock; the default does not") {
    rs::manual_clock base;
    SECTION("consecutive failures only: no clock read in the closed state") {
        counting_clock clk{base};
        rs::circuit_breaker b{{.failure_threshold = 3}, clk};
        rs::resilient_call call{b};
        const int before = clk.reads.load();
        for (int i = 0; i < 10; ++i) CHECK(call([] { return 1; }));
        CHECK(call([]() -> rs::result<int> { return rs::failure::of(rs::failure_kind::error); }).has_value() == false);
        CHECK(clk.reads.load() == before);
    }
    SECTION("slow-call detection: two reads per call") {
        counting_clock clk{base};
        rs::circuit_breaker b{{.slow_call_rate_threshold = 0.5}, clk};
        rs::resilient_call call{b};
        const int before = clk.reads.load();
        CHECK(call([] { return 1; }));
        CHECK(clk.reads.load() == before + 2);
    }
}

// --- classification ----------------------------------------------------------------------------------

TEST_CASE("circuit_breaker: a permanent failure means the dependency answered: it counts as a success") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 2}, clk};
    rs::resilient_call call{b};
    auto not_found = []() -> rs::result<int> {
        return rs::failure::from_error(std::make_error_code(std::errc::no_such_file_or_directory), rs::transience::permanent);
    };
    for (int i = 0; i < 5; ++i) CHECK_FALSE(call(not_found));
    CHECK(b.state() == rs::circuit_state::closed);
    CHECK(b.metrics().successes == 5);
    CHECK(b.metrics().failures == 0);
}

TEST_CASE("circuit_breaker: rejections, cancellation and the caller's deadline are ignored") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 1}, clk};
    for (auto k : {rs::failure_kind::bulkhead_full, rs::failure_kind::rate_limited, rs::failure_kind::circuit_open,
                   rs::failure_kind::cancelled, rs::failure_kind::deadline_exceeded}) {
        INFO(rs::to_string(k));
        CHECK_FALSE(fail(b, k));
        CHECK(b.state() == rs::circuit_state::closed);
    }
    CHECK(b.metrics().ignored == 5);
    // Never reached the callable: an inner guard refused it, whatever the kind.
    rs::resilient_call inner{b, reject_inside{rs::failure_kind::error}};
    CHECK_FALSE(inner([] { return 1; }));
    CHECK(b.state() == rs::circuit_state::closed);
    CHECK(b.metrics().ignored == 6);
    // A caller's deadline that passed before the attempt could start.
    rs::resilient_call call{b};
    rs::call_options late{.deadline = clk.now()};
    auto r = call([] { return 1; }, late);
    REQUIRE_FALSE(r);
    CHECK(b.state() == rs::circuit_state::closed);
    // A timeout counts (the dependency was slow).
    CHECK_FALSE(fail(b, rs::failure_kind::timeout));
    CHECK(b.state() == rs::circuit_state::open);
}

TEST_CASE("circuit_breaker: a value classifier turns returned values into failures that keep the value") {
    rs::manual_clock clk;
    auto by_status = rs::classify_values{[](const int& status) { return rs::http_status_verdict(status); }};
    rs::circuit_breaker b{{.failure_threshold = 2}, clk, by_status};
    rs::resilient_call call{b};
    auto r404 = call([] { return 404; });
    REQUIRE_FALSE(r404);
    REQUIRE(r404.last_value() != nullptr);
    CHECK(*r404.last_value() == 404);
    CHECK(r404.error().hint == rs::transience::permanent);
    CHECK(b.metrics().successes == 1);
    auto r503 = call([] { return 503; });
    REQUIRE_FALSE(r503);
    CHECK(*r503.last_value() == 503);
    CHECK(b.metrics().failures == 1);
    CHECK(call([] { return 200; }));
    CHECK_FALSE(call([] { return 503; }));
    CHECK_FALSE(call([] { return 502; }));
    CHECK(b.state() == rs::circuit_state::open);
}

TEST_CASE("circuit_breaker: exception types classify with classify_exceptions") {
    rs::manual_clock clk;
    rs::circuit_breaker b{{.failure_threshold = 2}, clk, rs::classify_exceptions<std::runtime_error>{}};
    rs::resilient_call call{b};
    for (int i = 0; i < 3; ++i) CHECK_FALSE(call([]() -> int { throw std::logic_error("bad request"); }));
    CHECK(b.state() == rs::circuit_state::closed);  // permanent: counted as answered
    CHECK_FALSE(call([]() -> int { throw std::runtime_error("connection reset"); }));
    CHECK_FALSE(call([]() -> int { throw std::runtime_error("connection reset"); }));
    CHECK(b.state() == rs::circuit_state::open);
}

TEST_CASE("circuit_breaker: permit::record(result) classifies like the policy") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 1}, clk};
    {
        auto p = b.try_acquire();
        rs::result<int> r = rs::failure::of(rs::failure_kind::bulkhead_full);
        CHECK(p->record(r) == rs::verdict::transient);
        CHECK(b.metrics().ignored == 1);
    }
    {
        auto p = b.try_acquire();
        rs::result<void> r{};
        CHECK(p->record(r) == rs::verdict::success);
    }
    auto p = b.try_acquire();
    rs::result<int> r = rs::failure::of(rs::failure_kind::error);
    CHECK(p->record(r) == rs::verdict::transient);
    CHECK(b.state() == rs::circuit_state::open);
    CHECK(b.metrics().abandoned == 0);
}

// --- events ------------------------------------------------------------------------------------------

TEST_CASE("circuit_breaker: rejections are reported to the listener with kind and retry_after") {
    rs::manual_clock clk;
    event_log log;
    breaker_t b{{.name = "payments", .failure_threshold = 1, .open_duration = 10s}, clk};
    rs::resilient_call call{b, log};
    CHECK_FALSE(call([]() -> rs::result<int> { return rs::failure::of(rs::failure_kind::error); }));
    clk.advance(3s);
    CHECK_FALSE(call([] { return 1; }));
    std::lock_guard g(log.m);
    auto it = std::find_if(log.entries.begin(), log.entries.end(),
                           [](auto& e) { return e.type == rs::event_type::rejected; });
    REQUIRE(it != log.entries.end());
    CHECK(it->policy == "circuit_breaker");
    CHECK(it->name == "payments");
    CHECK(it->kind == rs::failure_kind::circuit_open);
    CHECK(it->delay == 7s);
}

TEST_CASE("circuit_breaker: listeners are called outside the breaker's lock and may call back into it") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 1, .open_duration = 1s}, clk};
    std::vector<rs::circuit_state> seen;
    auto cb = [&](const rs::event& e) {
        if (e.type == rs::event_type::state_changed) {
            seen.push_back(b.metrics().state);  // takes the breaker's mutex
            b.isolate();                        // and transitions
            b.reset();
        }
    };
    rs::callback_listener<decltype(cb)> listener{cb};
    rs::resilient_call call{b, listener};
    CHECK_FALSE(call([]() -> rs::result<int> { return rs::failure::of(rs::failure_kind::error); }));
    REQUIRE(seen.size() == 1);
    CHECK(seen[0] == rs::circuit_state::open);
    CHECK(b.state() == rs::circuit_state::closed);
}

// --- metrics and costs -------------------------------------------------------------------------------

TEST_CASE("circuit_breaker: metrics count every outcome and the time in state") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 2, .open_duration = 10s}, clk};
    CHECK(succeed(b));
    CHECK_FALSE(fail(b, rs::failure_kind::cancelled));
    clk.advance(2s);
    CHECK(b.metrics().time_in_state == 2s);
    CHECK_FALSE(fail(b));
    CHECK_FALSE(fail(b));
    clk.advance(4s);
    CHECK_FALSE(succeed(b));
    auto m = b.metrics();
    CHECK(m.state == rs::circuit_state::open);
    CHECK(m.successes == 1);
    CHECK(m.failures == 2);
    CHECK(m.ignored == 1);
    CHECK(m.rejected == 1);
    CHECK(m.times_opened == 1);
    CHECK(m.time_in_state == 4s);
    CHECK(m.retry_after == 6s);
    CHECK(m.generation == 1);
    CHECK(rs::to_string(rs::circuit_state::half_open) == "half_open");
    CHECK(rs::to_string(rs::circuit_state::isolated) == "isolated");
    CHECK(rs::to_string(rs::circuit_state::closed) == "closed");
    CHECK(rs::to_string(rs::circuit_state::open) == "open");
}

TEST_CASE("circuit_breaker: no allocation on the closed path or the rejection path, with any window") {
    rs::manual_clock clk;
    const rs::circuit_breaker_options configs[] = {
        {.failure_threshold = 3, .open_duration = 10s},
        {.failure_threshold = 3, .failure_rate_threshold = 0.9, .window = rs::breaker_window::count(50), .open_duration = 10s},
        {.failure_threshold = 3, .failure_rate_threshold = 0.9, .slow_call_rate_threshold = 0.9,
         .window = rs::breaker_window::time(10s, 5), .open_duration = 10s},
    };
    for (const auto& o : configs) {
        breaker_t b{o, clk};
        rs::resilient_call call{b};
        const std::uint64_t before = all_allocations.load();
        for (int i = 0; i < 100; ++i) {
            (void)call([] { return 1; });
            clk.advance(1s);
        }
        for (int i = 0; i < 3; ++i) (void)call([]() -> rs::result<int> { return rs::failure::of(rs::failure_kind::error); });
        for (int i = 0; i < 10; ++i) (void)call([] { return 1; });  // rejected
        const auto state_before_probe = b.state();
        clk.advance(10s);
        (void)call([] { return 1; });  // probe
        const std::uint64_t after = all_allocations.load();
        CHECK(after == before);
        CHECK(state_before_probe == rs::circuit_state::open);
        CHECK(b.state() == rs::circuit_state::closed);
    }
}

TEST_CASE("circuit_breaker: the allocation counter of this test program counts") {
    const std::uint64_t before = all_allocations.load();
    auto* p = new int(3);
    const std::uint64_t after = all_allocations.load();
    delete p;
    if (RESILIENCE_TEST_COUNTS_ALLOCATIONS) CHECK(after == before + 1);
    // A breaker with a rate window allocates its slots once, at construction.
    rs::manual_clock clk;
    const std::uint64_t b0 = all_allocations.load();
    breaker_t b{{.failure_rate_threshold = 0.5, .window = rs::breaker_window::count(10)}, clk};
    if (RESILIENCE_TEST_COUNTS_ALLOCATIONS) CHECK(all_allocations.load() == b0 + 1);
}

// docs/circuit_breaker.md: testing
TEST_CASE("circuit_breaker: testing a composition with a breaker on virtual time") {
    rs::manual_clock clock;
    rs::circuit_breaker breaker{{.failure_threshold = 2, .open_duration = 30s}, clock};
    rs::resilient_call call{breaker};  // adopts the breaker's clock
    auto down = []() -> rs::result<int> { return rs::failure::of(rs::failure_kind::error, "down"); };

    CHECK_FALSE(call(down));
    CHECK_FALSE(call(down));
    CHECK(breaker.state() == rs::circuit_state::open);

    clock.advance(10s);
    auto rejected = call([] { return 1; });
    CHECK(rejected.error().kind == rs::failure_kind::circuit_open);
    CHECK(rejected.error().retry_after == 20s);

    clock.advance(20s);             // the open duration has passed:
    CHECK(call([] { return 1; }));  // this call is the probe, and closes the circuit
    CHECK(breaker.state() == rs::circuit_state::closed);
}
// docs/circuit_breaker.md: end

// --- concurrency on manual time ----------------------------------------------------------------------

TEST_CASE("circuit_breaker: exactly half_open_probes permits while many threads race for them") {
    rs::manual_clock clk;
    constexpr int threads = 16;
    for (std::uint32_t k : {1U, 3U, 7U}) {
        breaker_t b{{.failure_threshold = 1, .open_duration = 1s, .half_open_probes = k}, clk};
        for (int round = 0; round < 20; ++round) {
            b.reset();
            b.try_acquire()->record_failure();
            REQUIRE(b.state() == rs::circuit_state::open);
            clk.advance(1s);
            std::atomic<int> admitted{0};
            std::barrier sync(threads);
            std::vector<std::optional<breaker_t::permit>> held(threads);
            std::vector<std::thread> ts;
            for (int t = 0; t < threads; ++t) {
                ts.emplace_back([&, t] {
                    sync.arrive_and_wait();
                    auto p = b.try_acquire();
                    if (p) {
                        admitted.fetch_add(1);
                        held[static_cast<std::size_t>(t)].emplace(std::move(*p));
                    }
                });
            }
            for (auto& th : ts) th.join();
            CHECK(admitted.load() == static_cast<int>(k));
            CHECK(b.state() == rs::circuit_state::half_open);
            for (auto& h : held) {
                if (h) h->record_success();
            }
            CHECK(b.state() == rs::circuit_state::closed);
        }
    }
}

// --- composition with retry and bulkhead ---------------------------------------------------------------

TEST_CASE("circuit_breaker + retry: retry outside the breaker counts every attempt") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 3, .open_duration = 60s}, clk};
    rs::resilient_call call{rs::retry{{.max_attempts = 6, .backoff = rs::constant_backoff{10ms}}}, b};
    int ran = 0;
    auto r = call([&]() -> rs::result<int> {
        ++ran;
        return rs::failure::of(rs::failure_kind::error, "down");
    });
    REQUIRE_FALSE(r);
    CHECK(ran == 3);  // each attempt was counted: the third tripped the breaker
    CHECK(b.metrics().failures == 3);
    CHECK(b.state() == rs::circuit_state::open);
    // The fourth attempt, one 10 ms backoff after the trip, was rejected with retry_after = 59.99 s,
    // beyond retry's max_retry_after (30 s): retry stopped instead of hammering the open breaker.
    CHECK(r.error().kind == rs::failure_kind::circuit_open);
    CHECK(r.error().retry_after == 60s - 10ms);
    CHECK(b.metrics().rejected == 1);
}

TEST_CASE("circuit_breaker + retry: retry honours retry_after and its next attempt is the probe") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 2, .open_duration = 10s}, clk};
    rs::resilient_call call{rs::retry{{.max_attempts = 5, .backoff = rs::constant_backoff{1ms}}}, b};
    int ran = 0;
    const auto t0 = clk.now();
    auto r = call([&]() -> rs::result<int> {
        if (++ran <= 2) return rs::failure::of(rs::failure_kind::error, "down");
        return 42;
    });
    REQUIRE(r);
    CHECK(*r == 42);
    CHECK(ran == 3);
    // Attempt 3 was rejected (retry_after 10 s from the trip); retry slept exactly that long, so
    // attempt 4 found the open duration over and ran as the probe, which closed the circuit.
    CHECK(b.metrics().rejected == 1);
    CHECK(clk.now() - t0 == 1ms + 10s);
    CHECK(b.state() == rs::circuit_state::closed);
}

TEST_CASE("circuit_breaker + retry: a probe cut short by the overall budget does not re-open a healed breaker") {
    // DESIGN.md's order: overall timeout, retry, breaker, per-attempt timeout. The retry waits out the
    // open period and probes with 100 ms of its 2 s budget left; the healthy dependency answers in
    // 200 ms — after the overall deadline. That timeout belongs to the caller's budget, not to the
    // dependency: the breaker must not re-open.
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 1, .open_duration = 1900ms}, clk};
    {
        rs::resilient_call trip{b};
        (void)trip([]() -> rs::result<int> { return rs::failure::of(rs::failure_kind::error, "down"); });
    }
    REQUIRE(b.state() == rs::circuit_state::open);
    const auto opened_before = b.metrics().generation;
    rs::resilient_call call{rs::timeout{2s}, rs::retry{{.max_attempts = 3, .backoff = rs::constant_backoff{10ms}}}, b,
                            rs::timeout{500ms}};
    auto r = call([&] {
        clk.advance(200ms);
        return 7;
    });
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == rs::failure_kind::timeout);
    REQUIRE(r.last_value() != nullptr);
    CHECK(*r.last_value() == 7);
    // The probe's outcome was ignored: the breaker is still half-open (not re-opened), and the next
    // call probes and closes it.
    CHECK(b.state() == rs::circuit_state::half_open);
    CHECK(b.metrics().generation == opened_before + 1);
    rs::resilient_call next{b};
    CHECK(next([] { return 1; }).has_value());
    CHECK(b.state() == rs::circuit_state::closed);
}

TEST_CASE("circuit_breaker + retry: a retry_after beyond the caller's deadline ends the call at once") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 1, .open_duration = 10s}, clk};
    CHECK_FALSE(fail(b));
    rs::resilient_call call{rs::retry{{.max_attempts = 5, .backoff = rs::constant_backoff{1ms}}}, b};
    int ran = 0;
    auto r = call([&] { return ++ran; }, {.deadline = clk.now() + 3s});
    REQUIRE_FALSE(r);
    CHECK(ran == 0);
    CHECK(r.error().kind == rs::failure_kind::deadline_exceeded);
    CHECK(r.error().cause == rs::failure_kind::circuit_open);
    CHECK(b.metrics().rejected == 1);
    CHECK(clk.sleep_count() == 0);
}

TEST_CASE("circuit_breaker + retry: retry inside the breaker is one outcome; an open breaker runs nothing") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 2, .open_duration = 10s}, clk};
    rs::resilient_call call{b, rs::retry{{.max_attempts = 3, .backoff = rs::constant_backoff{1ms}}}};
    int ran = 0;
    auto down = [&]() -> rs::result<int> {
        ++ran;
        return rs::failure::of(rs::failure_kind::error, "down");
    };
    CHECK_FALSE(call(down));
    CHECK(ran == 3);
    CHECK(b.metrics().failures == 1);
    CHECK(b.state() == rs::circuit_state::closed);
    CHECK_FALSE(call(down));
    CHECK(b.state() == rs::circuit_state::open);
    auto r = call(down);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == rs::failure_kind::circuit_open);
    CHECK(ran == 6);  // the open breaker outside the retry ran nothing
}

TEST_CASE("circuit_breaker + bulkhead: a rejection by an inner bulkhead does not count against the dependency") {
    rs::manual_clock clk;
    breaker_t b{{.failure_threshold = 1, .open_duration = 10s}, clk};
    rs::bulkhead pool{{.max_concurrent = 1}, clk};
    auto held = pool.try_acquire();
    REQUIRE(held);
    rs::resilient_call call{b, pool};
    int ran = 0;
    for (int i = 0; i < 5; ++i) {
        auto r = call([&] { return ++ran; });
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == rs::failure_kind::bulkhead_full);
    }
    CHECK(ran == 0);
    CHECK(b.state() == rs::circuit_state::closed);
    CHECK(b.metrics().ignored == 5);
    held.release();
    CHECK(call([&] { return ++ran; }));
    CHECK(b.metrics().successes == 1);
}
