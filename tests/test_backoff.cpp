// SPDX-License-Identifier: MIT
#include "support/catch.hpp"

#include <resilience/backoff.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace rs = resilience;
using namespace std::chrono_literals;
using ns = std::chrono::nanoseconds;

namespace {

constexpr int seeds = 2000;
constexpr std::uint32_t retries = 12;

/// delays[n - 1][seed]: the delay before retry n for each seed, each seed one fresh call.
template <class B>
std::vector<std::vector<ns>> sample(const B& b, std::uint32_t n_max = retries, int n_seeds = seeds) {
    std::vector<std::vector<ns>> out(n_max);
    for (int seed = 0; seed < n_seeds; ++seed) {
        rs::seeded_random rng{static_cast<std::uint64_t>(seed) * 7919u + 1u};
        rs::backoff_state st{};
        for (std::uint32_t n = 1; n <= n_max; ++n) out[n - 1].push_back(b.next_delay(n, rng, st));
    }
    return out;
}

ns median(std::vector<ns> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

ns min_of(const std::vector<ns>& v) { return *std::min_element(v.begin(), v.end()); }
ns max_of(const std::vector<ns>& v) { return *std::max_element(v.begin(), v.end()); }

/// The backoffs every jitter is checked against.
template <class F>
void for_each_shape(rs::jitter_kind j, F&& f) {
    f(rs::backoff{rs::constant_backoff{100ms, j}}, "constant 100ms");
    f(rs::backoff{rs::linear_backoff{100ms, 50ms, 1s, j}}, "linear 100ms+50ms cap 1s");
    f(rs::backoff{rs::linear_backoff{100ms, 0ms, 100ms, j}}, "linear step 0");
    f(rs::backoff{rs::exponential_backoff{100ms, 5s, j}}, "exponential 100ms x2 cap 5s");
    f(rs::backoff{rs::exponential_backoff{10ms, 10s, 3.0, j}}, "exponential 10ms x3 cap 10s");
    f(rs::backoff{rs::exponential_backoff{100ms, 1s, 1.5, j}}, "exponential 100ms x1.5 cap 1s");
    f(rs::backoff{rs::exponential_backoff{100ms, 100ms, 1.0, j}}, "exponential x1 (constant)");
}

std::string message_of(const std::invalid_argument& e) { return e.what(); }

}  // namespace

TEST_CASE("nominal schedules: constant, linear, exponential", "[backoff]") {
    rs::constant_backoff c{200ms};
    rs::linear_backoff l{100ms, 50ms, 300ms};
    rs::exponential_backoff e{100ms, 1s};
    rs::exponential_backoff e3{10ms, 1s, 3.0};
    const std::array<ns, 6> lin{100ms, 150ms, 200ms, 250ms, 300ms, 300ms};
    const std::array<ns, 6> exp{100ms, 200ms, 400ms, 800ms, 1s, 1s};
    const std::array<ns, 6> exp3{10ms, 30ms, 90ms, 270ms, 810ms, 1s};
    for (std::uint32_t n = 1; n <= 6; ++n) {
        CHECK(c.nominal_delay(n) == 200ms);
        CHECK(l.nominal_delay(n) == lin[n - 1]);
        CHECK(e.nominal_delay(n) == exp[n - 1]);
        CHECK(e3.nominal_delay(n) == exp3[n - 1]);
    }
    CHECK(e.multiplier() == 2.0);
    CHECK(e.jitter() == rs::jitter_kind::none);

    SECTION("no_jitter returns the nominal delay exactly, whatever the generator") {
        rs::seeded_random rng{3};
        rs::backoff_state st{};
        for (std::uint32_t n = 1; n <= 6; ++n) {
            CHECK(l.next_delay(n, rng, st) == lin[n - 1]);
            CHECK(e.next_delay(n, rng, st) == exp[n - 1]);
        }
    }
}

TEST_CASE("huge retry numbers saturate at the cap without overflowing", "[backoff]") {
    const rs::exponential_backoff e{1ns, 24h, 1000.0};
    const rs::linear_backoff l{1ns, 24h, 24h};
    for (std::uint32_t n : {1000u, 1'000'000u, std::numeric_limits<std::uint32_t>::max()}) {
        CHECK(e.nominal_delay(n) == 24h);
        CHECK(l.nominal_delay(n) == 24h);
    }
    CHECK(e.nominal_delay(0) == 1ns);  // 0 is read as 1
    CHECK(l.nominal_delay(2) == 24h);
    rs::seeded_random rng{1};
    rs::backoff_state st{};
    const rs::exponential_backoff d{1ms, 24h, 1000.0, rs::decorrelated_jitter};
    for (std::uint32_t n = 1; n < 2000; n += 37) {
        const ns x = d.next_delay(n, rng, st);
        CHECK(x >= 0ns);
        CHECK(x <= 24h);
    }
}

TEST_CASE("jitter tags convert to jitter_kind and have stable names", "[backoff]") {
    STATIC_REQUIRE(static_cast<rs::jitter_kind>(rs::no_jitter) == rs::jitter_kind::none);
    STATIC_REQUIRE(static_cast<rs::jitter_kind>(rs::full_jitter) == rs::jitter_kind::full);
    STATIC_REQUIRE(static_cast<rs::jitter_kind>(rs::equal_jitter) == rs::jitter_kind::equal);
    STATIC_REQUIRE(static_cast<rs::jitter_kind>(rs::decorrelated_jitter) == rs::jitter_kind::decorrelated);
    CHECK(rs::to_string(rs::jitter_kind::none) == "none");
    CHECK(rs::to_string(rs::jitter_kind::full) == "full");
    CHECK(rs::to_string(rs::jitter_kind::equal) == "equal");
    CHECK(rs::to_string(rs::jitter_kind::decorrelated) == "decorrelated");
    // The spellings of the design: tags as the last constructor argument, with or without multiplier.
    rs::exponential_backoff a{50ms, 2s, rs::full_jitter};
    rs::exponential_backoff b{50ms, 2s, 3.0, rs::equal_jitter};
    rs::linear_backoff l{100ms, 10ms, 1s, rs::decorrelated_jitter};
    rs::constant_backoff c{100ms, rs::no_jitter};
    CHECK(a.jitter() == rs::jitter_kind::full);
    CHECK(a.multiplier() == 2.0);
    CHECK(b.jitter() == rs::jitter_kind::equal);
    CHECK(b.multiplier() == 3.0);
    CHECK(l.jitter() == rs::jitter_kind::decorrelated);
    CHECK(c.jitter() == rs::jitter_kind::none);
}

TEST_CASE("full jitter stays in [0, nominal] and covers the range, over 2000 seeds", "[backoff][jitter]") {
    for_each_shape(rs::jitter_kind::full, [](const rs::backoff& b, const char* name) {
        INFO(name);
        const auto d = sample(b);
        for (std::uint32_t n = 1; n <= retries; ++n) {
            INFO("retry " << n);
            const ns nominal = b.nominal_delay(n);
            CHECK(min_of(d[n - 1]) >= 0ns);
            CHECK(max_of(d[n - 1]) <= nominal);
            CHECK(max_of(d[n - 1]) <= b.max_delay());
            // Really random: both ends of the range are reached, the median is near the middle.
            CHECK(min_of(d[n - 1]) < nominal / 20);
            CHECK(max_of(d[n - 1]) > nominal - nominal / 20);
            const ns m = median(d[n - 1]);
            CHECK(m > nominal * 45 / 100);
            CHECK(m < nominal * 55 / 100);
        }
    });
}

TEST_CASE("equal jitter stays in [nominal/2, nominal] and covers the range, over 2000 seeds", "[backoff][jitter]") {
    for_each_shape(rs::jitter_kind::equal, [](const rs::backoff& b, const char* name) {
        INFO(name);
        const auto d = sample(b);
        for (std::uint32_t n = 1; n <= retries; ++n) {
            INFO("retry " << n);
            const ns nominal = b.nominal_delay(n);
            CHECK(min_of(d[n - 1]) >= nominal / 2);
            CHECK(max_of(d[n - 1]) <= nominal);
            CHECK(min_of(d[n - 1]) < nominal / 2 + nominal / 40);
            CHECK(max_of(d[n - 1]) > nominal - nominal / 40);
        }
    });
}

TEST_CASE("no jitter is exactly the nominal delay, over 2000 seeds", "[backoff][jitter]") {
    for_each_shape(rs::jitter_kind::none, [](const rs::backoff& b, const char* name) {
        INFO(name);
        const auto d = sample(b, retries, 200);
        for (std::uint32_t n = 1; n <= retries; ++n) {
            CHECK(min_of(d[n - 1]) == b.nominal_delay(n));
            CHECK(max_of(d[n - 1]) == b.nominal_delay(n));
        }
    });
}

TEST_CASE("decorrelated jitter: bounded, capped, median first delay = base, median never decreasing",
          "[backoff][jitter]") {
    for_each_shape(rs::jitter_kind::decorrelated, [](const rs::backoff& b, const char* name) {
        INFO(name);
        const auto d = sample(b);
        for (std::uint32_t n = 1; n <= retries; ++n) {
            INFO("retry " << n);
            const ns nominal = b.nominal_delay(n);
            const ns before = b.nominal_delay(n > 1 ? n - 1 : 1);
            CHECK(min_of(d[n - 1]) >= 0ns);
            CHECK(max_of(d[n - 1]) <= std::min(b.max_delay(), before + nominal));
            // Random: the delays spread over most of their range.
            CHECK(max_of(d[n - 1]) - min_of(d[n - 1]) > std::min(b.max_delay(), before + nominal) / 2);
            // The median is (d(n-1) + d(n)) / 2 (a sum of two independent uniforms), or the cap.
            const ns want = std::min(b.max_delay(), (before + nominal) / 2);
            const ns m = median(d[n - 1]);
            CHECK(m >= want * 95 / 100);
            CHECK(m <= want * 105 / 100);
            if (n > 1) {
                const ns previous_want = std::min(b.max_delay(), (b.nominal_delay(n > 2 ? n - 2 : 1) + before) / 2);
                CHECK(want >= previous_want);  // so the median never decreases...
                if (want > previous_want * 11 / 10) CHECK(m > median(d[n - 2]));  // ...and grows with the schedule
            }
        }
        // The median of the first delay is the base (a triangular distribution centred on it).
        const ns base = b.nominal_delay(1);
        const ns m1 = median(d[0]);
        CHECK(m1 > base * 95 / 100);
        CHECK(m1 < base * 105 / 100);
    });
}

TEST_CASE("decorrelated jitter grows with the schedule and does not pile up at the cap while it grows",
          "[backoff][jitter]") {
    const rs::exponential_backoff b{100ms, 5s, rs::decorrelated_jitter};
    const auto d = sample(b, 8);
    // Medians 100, 150, 300, 600, 1200, 2400 ms: x1.5 after the first retry, then x2 per retry.
    CHECK(median(d[1]) > median(d[0]) * 14 / 10);
    CHECK(median(d[1]) < median(d[0]) * 16 / 10);
    for (std::uint32_t n = 3; n <= 6; ++n) {
        INFO("retry " << n);
        CHECK(median(d[n - 1]) > median(d[n - 2]) * 19 / 10);
        CHECK(median(d[n - 1]) < median(d[n - 2]) * 21 / 10);
        const auto at_cap = std::count(d[n - 1].begin(), d[n - 1].end(), 5s);
        CHECK(at_cap == 0);  // d(n-1) + d(n) <= 4.8 s < cap: nothing is clamped
    }
    // Retry 7 (3.2 s + 6.4 s capped at 5 s: at most 8.2 s) is the first that can be clamped.
    const auto clamped = std::count(d[6].begin(), d[6].end(), 5s);
    CHECK(clamped > 0);
    CHECK(clamped < seeds / 2);
}

TEST_CASE("decorrelated jitter keeps every retry inside its slot of the schedule", "[backoff][jitter]") {
    // A cap far away: no delay is clamped, so the sum of the delays up to retry n lies between the
    // schedule's time of retry n - 1 and that of retry n, plus the virtual slot 0 (one base).
    for (double m : {1.0, 1.5, 2.0, 4.0}) {
        const rs::exponential_backoff b{100ms, 24h, m, rs::decorrelated_jitter};
        INFO("multiplier " << m);
        for (int seed = 0; seed < seeds; ++seed) {
            rs::seeded_random rng{static_cast<std::uint64_t>(seed)};
            rs::backoff_state st{};
            ns waited = 0ns;
            ns schedule = 0ns;  // sum of the nominal delays of retries 1..n
            for (std::uint32_t n = 1; n <= 10; ++n) {
                const ns before = schedule;
                schedule += b.nominal_delay(n);
                waited += b.next_delay(n, rng, st);
                REQUIRE(waited >= before - 10ns);  // rounding: at most 1 ns per delay
                REQUIRE(waited <= schedule + b.nominal_delay(1));
            }
        }
    }
}

TEST_CASE("constant decorrelated jitter lies in [0, 2d] with median d", "[backoff][jitter]") {
    const rs::constant_backoff b{100ms, rs::decorrelated_jitter};
    CHECK(b.max_delay() == 200ms);
    const auto d = sample(b, 6);
    for (const auto& v : d) {
        CHECK(min_of(v) >= 0ns);
        CHECK(max_of(v) <= 200ms);
        CHECK(max_of(v) > 180ms);
        CHECK(median(v) > 95ms);
        CHECK(median(v) < 105ms);
    }
}

TEST_CASE("the same seed gives the same delays; other seeds give others", "[backoff][random]") {
    const rs::exponential_backoff b{100ms, 5s, rs::full_jitter};
    auto run = [&](std::uint64_t seed) {
        rs::seeded_random rng{seed};
        rs::backoff_state st{};
        std::vector<ns> v;
        for (std::uint32_t n = 1; n <= 8; ++n) v.push_back(b.next_delay(n, rng, st));
        return v;
    };
    CHECK(run(42) == run(42));
    CHECK(run(42) != run(43));
    const rs::backoff d{rs::linear_backoff{10ms, 10ms, 1s, rs::decorrelated_jitter}};
    rs::seeded_random r1{9}, r2{9};
    rs::backoff_state s1{}, s2{};
    for (std::uint32_t n = 1; n <= 8; ++n) CHECK(d.next_delay(n, r1, s1) == d.next_delay(n, r2, s2));
}

TEST_CASE("backoff holds any built-in backoff and behaves exactly like it", "[backoff]") {
    SECTION("the default: exponential 100ms, cap 5s, x2, full jitter") {
        const rs::backoff b{};
        REQUIRE(b.kind() == rs::backoff::shape::exponential);
        REQUIRE(b.as_exponential() != nullptr);
        CHECK(b.as_exponential()->base() == 100ms);
        CHECK(b.as_exponential()->cap() == 5s);
        CHECK(b.as_exponential()->multiplier() == 2.0);
        CHECK(b.jitter() == rs::jitter_kind::full);
        CHECK(b.as_constant() == nullptr);
        CHECK(b.as_linear() == nullptr);
        CHECK(b.max_delay() == 5s);
        CHECK_FALSE(b.validate());
        CHECK(b == rs::backoff{rs::exponential_backoff{100ms, 5s, 2.0, rs::full_jitter}});
        CHECK_FALSE(b == rs::backoff{rs::exponential_backoff{100ms, 5s, 2.0, rs::equal_jitter}});
    }
    SECTION("dispatch gives the same delays as the held backoff") {
        auto same = [](const auto& inner) {
            const rs::backoff outer = inner;  // implicit
            rs::seeded_random r1{5}, r2{5};
            rs::backoff_state s1{}, s2{};
            for (std::uint32_t n = 1; n <= 10; ++n) {
                CHECK(outer.next_delay(n, r1, s1) == inner.next_delay(n, r2, s2));
                CHECK(outer.nominal_delay(n) == inner.nominal_delay(n));
            }
            CHECK(outer.max_delay() == inner.max_delay());
            CHECK(outer.jitter() == inner.jitter());
        };
        same(rs::constant_backoff{30ms, rs::equal_jitter});
        same(rs::linear_backoff{10ms, 20ms, 150ms, rs::decorrelated_jitter});
        same(rs::exponential_backoff{10ms, 1s, 1.7, rs::full_jitter});
        CHECK(rs::backoff{rs::constant_backoff{1ms}}.kind() == rs::backoff::shape::constant);
        CHECK(rs::backoff{rs::linear_backoff{1ms, 1ms, 2ms}}.as_linear()->step() == 1ms);
        CHECK(rs::backoff{rs::constant_backoff{1ms}} != rs::backoff{rs::linear_backoff{1ms, 0ms, 1ms}});
    }
    SECTION("usable in constant expressions") {
        constexpr rs::backoff b = rs::exponential_backoff{50ms, 2s, 3.0, rs::equal_jitter};
        STATIC_REQUIRE(b.kind() == rs::backoff::shape::exponential);
        STATIC_REQUIRE(b.max_delay() == 2s);
        STATIC_REQUIRE(!b.validate());
        constexpr rs::linear_backoff l{1ms, 2ms, 5ms};
        STATIC_REQUIRE(l.nominal_delay(2) == 3ms);
        STATIC_REQUIRE(l.nominal_delay(9) == 5ms);
    }
}

TEST_CASE("invalid backoff parameters are rejected, naming the field and its range", "[backoff][validation]") {
    auto rejects = [](auto make, const char* field, const char* range) {
        INFO(field);
        try {
            (void)make();
            FAIL("no exception for an invalid " << field);
        } catch (const std::invalid_argument& e) {
            const std::string what = message_of(e);
            CHECK(what.find(field) != std::string::npos);
            CHECK(what.find(range) != std::string::npos);
        }
    };
    rejects([] { return rs::constant_backoff{-1ns}; }, "constant_backoff.delay", "between 0 and 24 hours");
    rejects([] { return rs::constant_backoff{25h}; }, "constant_backoff.delay", "between 0 and 24 hours");
    rejects([] { return rs::constant_backoff{1ms, static_cast<rs::jitter_kind>(9)}; }, "constant_backoff.jitter",
            "one of no_jitter");
    rejects([] { return rs::linear_backoff{0ns, 1ms, 1s}; }, "linear_backoff.base", "greater than 0");
    rejects([] { return rs::linear_backoff{-5ms, 1ms, 1s}; }, "linear_backoff.base", "greater than 0");
    rejects([] { return rs::linear_backoff{1ms, -1ms, 1s}; }, "linear_backoff.step", "between 0 and 24 hours");
    rejects([] { return rs::linear_backoff{1ms, 1ms, 500us}; }, "linear_backoff.cap", "between base and 24 hours");
    rejects([] { return rs::linear_backoff{1ms, 1ms, 25h}; }, "linear_backoff.cap", "between base and 24 hours");
    rejects([] { return rs::exponential_backoff{0ns, 1s}; }, "exponential_backoff.base", "greater than 0");
    rejects([] { return rs::exponential_backoff{-1s, 1s}; }, "exponential_backoff.base", "greater than 0");
    rejects([] { return rs::exponential_backoff{25h, 26h}; }, "exponential_backoff.base", "at most 24 hours");
    rejects([] { return rs::exponential_backoff{2s, 1s}; }, "exponential_backoff.cap", "between base and 24 hours");
    rejects([] { return rs::exponential_backoff{1s, 25h}; }, "exponential_backoff.cap", "between base and 24 hours");
    rejects([] { return rs::exponential_backoff{1ms, 1s, 0.5}; }, "exponential_backoff.multiplier", "between 1 and 1000");
    rejects([] { return rs::exponential_backoff{1ms, 1s, 0.0}; }, "exponential_backoff.multiplier", "between 1 and 1000");
    rejects([] { return rs::exponential_backoff{1ms, 1s, -2.0}; }, "exponential_backoff.multiplier", "between 1 and 1000");
    rejects([] { return rs::exponential_backoff{1ms, 1s, 1000.5}; }, "exponential_backoff.multiplier", "between 1 and 1000");
    rejects([] { return rs::exponential_backoff{1ms, 1s, std::numeric_limits<double>::quiet_NaN()}; },
            "exponential_backoff.multiplier", "finite");
    rejects([] { return rs::exponential_backoff{1ms, 1s, std::numeric_limits<double>::infinity()}; },
            "exponential_backoff.multiplier", "finite");
    rejects([] { return rs::exponential_backoff{1ms, 1s, 2.0, static_cast<rs::jitter_kind>(4)}; },
            "exponential_backoff.jitter", "decorrelated_jitter");

    SECTION("boundaries are accepted") {
        CHECK_NOTHROW(rs::constant_backoff{0ns});
        CHECK_NOTHROW(rs::constant_backoff{24h});
        CHECK_NOTHROW(rs::linear_backoff{1ns, 0ns, 1ns});
        CHECK_NOTHROW(rs::linear_backoff{24h, 24h, 24h});
        CHECK_NOTHROW(rs::exponential_backoff{1ns, 1ns, 1.0});
        CHECK_NOTHROW(rs::exponential_backoff{24h, 24h, 1000.0});
    }
    SECTION("validate() of a valid backoff reports nothing") {
        // (Invalid ones cannot be built with exceptions enabled; test_retry checks the errors of
        // retry_options, which carry a backoff's error.)
        CHECK_FALSE(rs::exponential_backoff{1ms, 1s}.validate());
        CHECK_FALSE(rs::backoff{rs::linear_backoff{1ms, 1ms, 1s}}.validate());
    }
}

// --- the concept and custom backoffs ---------------------------------------------------------------

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

struct stateless_backoff {
    template <class Random>
    ns next_delay(std::uint32_t n, Random& rng) const {
        return ns{static_cast<ns::rep>(rng() % 1000u)} + 1ms * n;
    }
};

struct simplest_backoff {
    ns next_delay(std::uint32_t n) const { return 10ms * n; }
};

struct wild_backoff {
    ns next_delay(std::uint32_t n) const { return n == 1 ? -5s : ns::max(); }
};

struct not_a_backoff {
    int delay() const { return 1; }
};

struct uncopyable_backoff {
    uncopyable_backoff() = default;
    uncopyable_backoff(const uncopyable_backoff&) = delete;
    ns next_delay(std::uint32_t) const { return 1ms; }
};

struct validated_backoff {
    ns d;
    ns next_delay(std::uint32_t) const { return d; }
    std::optional<rs::config_error> validate() const noexcept {
        if (d < 0ns) return rs::config_error{"validated_backoff.d", "validated_backoff.d must be at least 0"};
        return std::nullopt;
    }
};

}  // namespace

TEST_CASE("backoff_strategy accepts the three documented forms and rejects the rest", "[backoff][concept]") {
    STATIC_REQUIRE(rs::backoff_strategy<rs::backoff>);
    STATIC_REQUIRE(rs::backoff_strategy<rs::exponential_backoff, rs::thread_random>);
    STATIC_REQUIRE(rs::backoff_strategy<rs::linear_backoff, std::mt19937>);
    STATIC_REQUIRE(rs::backoff_strategy<fibonacci_backoff>);
    STATIC_REQUIRE(rs::backoff_strategy<stateless_backoff>);
    STATIC_REQUIRE(rs::backoff_strategy<simplest_backoff>);
    STATIC_REQUIRE_FALSE(rs::backoff_strategy<not_a_backoff>);
    STATIC_REQUIRE_FALSE(rs::backoff_strategy<uncopyable_backoff>);
    STATIC_REQUIRE_FALSE(rs::backoff_strategy<int>);
    STATIC_REQUIRE(std::is_same_v<rs::backoff_state_t<fibonacci_backoff>, fibonacci_backoff::state_type>);
    STATIC_REQUIRE(std::is_same_v<rs::backoff_state_t<rs::backoff>, rs::backoff_state>);
    STATIC_REQUIRE(std::is_empty_v<rs::backoff_state_t<simplest_backoff>>);

    rs::seeded_random rng{1};
    SECTION("stateful custom backoff keeps its state across the retries of a call") {
        fibonacci_backoff f;
        rs::backoff_state_t<fibonacci_backoff> st{};
        const std::array<ns, 6> want{100ms, 100ms, 200ms, 300ms, 500ms, 800ms};
        for (std::uint32_t n = 1; n <= 6; ++n) CHECK(rs::backoff_delay(f, n, rng, st) == want[n - 1]);
    }
    SECTION("other forms") {
        rs::backoff_state_t<simplest_backoff> st{};
        CHECK(rs::backoff_delay(simplest_backoff{}, 3, rng, st) == 30ms);
        rs::backoff_state_t<stateless_backoff> st2{};
        const ns d = rs::backoff_delay(stateless_backoff{}, 2, rng, st2);
        CHECK(d >= 2ms);
        CHECK(d < 2ms + 1000ns);
    }
    SECTION("what a custom backoff returns is clamped to [0, 24 h]") {
        rs::backoff_state_t<wild_backoff> st{};
        CHECK(rs::backoff_delay(wild_backoff{}, 1, rng, st) == 0ns);
        CHECK(rs::backoff_delay(wild_backoff{}, 2, rng, st) == rs::max_backoff_delay);
    }
    SECTION("validate_backoff calls validate() when there is one") {
        CHECK_FALSE(rs::validate_backoff(simplest_backoff{}));
        CHECK_FALSE(rs::validate_backoff(validated_backoff{1ms}));
        auto e = rs::validate_backoff(validated_backoff{-1ms});
        REQUIRE(e);
        CHECK(e->field == "validated_backoff.d");
    }
}

// --- random generators -------------------------------------------------------------------------------

TEST_CASE("seeded_random is a reproducible uniform random bit generator", "[random]") {
    STATIC_REQUIRE(std::uniform_random_bit_generator<rs::seeded_random>);
    STATIC_REQUIRE(sizeof(rs::seeded_random) == 8);
    rs::seeded_random a{42}, b{42}, c{43};
    CHECK(a == b);
    for (int i = 0; i < 100; ++i) CHECK(a() == b());
    CHECK(a() != c());
    // Works with the standard distributions.
    std::uniform_int_distribution<int> dist(1, 6);
    int counts[7] = {};
    for (int i = 0; i < 6000; ++i) ++counts[dist(a)];
    for (int face = 1; face <= 6; ++face) {
        CHECK(counts[face] > 800);
        CHECK(counts[face] < 1200);
    }
    // Known answer for seed 0 (splitmix64's first output).
    rs::seeded_random z{0};
    CHECK(z() == 0xe220a8397b1dcdafULL);
}

TEST_CASE("thread_random: per-thread state, seeded differently per thread, reseedable", "[random]") {
    STATIC_REQUIRE(std::uniform_random_bit_generator<rs::thread_random>);
    STATIC_REQUIRE(std::is_empty_v<rs::thread_random>);
    rs::thread_random r;
    const auto mine = r();
    CHECK(mine != r());  // advances

    std::uint64_t other1 = 0, other2 = 0;
    std::thread t1([&] { other1 = rs::thread_random{}(); });
    t1.join();
    std::thread t2([&] { other2 = rs::thread_random{}(); });
    t2.join();
    CHECK(other1 != other2);
    CHECK(other1 != mine);

    // A thread that reseeds before its first draw keeps the seed (it is not re-seeded lazily).
    std::uint64_t fresh = 0;
    std::thread t3([&] {
        rs::thread_random::reseed(7);
        fresh = rs::thread_random{}();
    });
    t3.join();
    CHECK(fresh == rs::seeded_random{7}());

    rs::thread_random::reseed(7);
    const auto x1 = r(), x2 = r();
    rs::thread_random::reseed(7);
    CHECK(r() == x1);
    CHECK(r() == x2);
    rs::seeded_random same{7};
    CHECK(same() == x1);
}

TEST_CASE("uniform draws stay in [0, 1) for any generator", "[random]") {
    rs::seeded_random s{11};
    std::mt19937 mt{11};
    std::minstd_rand lcg{11};
    double lo = 1, hi = 0;
    for (int i = 0; i < 20000; ++i) {
        for (double u : {rs::detail::uniform01(s), rs::detail::uniform01(mt), rs::detail::uniform01(lcg)}) {
            REQUIRE(u >= 0.0);
            REQUIRE(u < 1.0);
            lo = std::min(lo, u);
            hi = std::max(hi, u);
        }
    }
    CHECK(lo < 0.001);
    CHECK(hi > 0.999);
    // A generator that always returns its maximum still yields u < 1 (and full jitter <= nominal).
    struct max_gen {
        using result_type = std::uint32_t;
        static constexpr result_type min() { return 0; }
        static constexpr result_type max() { return 0xffffffffu; }
        result_type operator()() { return max(); }
    } g;
    CHECK(rs::detail::uniform01(g) < 1.0);
    rs::backoff_state st{};
    CHECK(rs::exponential_backoff{100ms, 1s, rs::full_jitter}.next_delay(1, g, st) <= 100ms);
    CHECK(rs::exponential_backoff{100ms, 1s, rs::equal_jitter}.next_delay(1, g, st) <= 100ms);
}
