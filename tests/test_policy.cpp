// SPDX-License-Identifier: MIT
//
// policy.hpp: the policy concept and the outcome_classifier customisation point, and custom policies
// written the way policy.hpp describes (calling next zero, one or several times, narrowing the context,
// replacing the result).
#include "support/catch.hpp"
#include "support/string_makers.hpp"

#include <resilience/policy.hpp>
#include <resilience/resilient_call.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

namespace rs = resilience;
using namespace std::chrono_literals;

namespace {

// --- shapes, for the concept checks ---

struct pass_through {
    template <class Ctx, class Next>
    auto execute(Ctx& ctx, Next&& next) {
        return next(ctx);
    }
};
struct const_pass_through {  // a const execute is fine
    template <class Ctx, class Next>
    auto execute(Ctx& ctx, Next&& next) const {
        return next(ctx);
    }
};
struct no_execute {
    int run() { return 0; }
};
struct wrong_return {
    template <class Ctx, class Next>
    bool execute(Ctx& ctx, Next&& next) {
        return next(ctx).has_value();
    }
};
struct converts_return {  // returns result<long> for result<int>: not "exactly" the same type
    template <class Ctx, class Next>
    rs::result<long> execute(Ctx& ctx, Next&& next) {
        auto r = next(ctx);
        if (r) return static_cast<long>(*r);
        return r.error();
    }
};
struct wrong_arity {
    template <class Ctx>
    auto execute(Ctx& ctx) {
        return ctx.attempt;
    }
};
// A policy tied to one value type (a fallback producing a std::string, say).
struct string_only {
    template <class Ctx, class Next>
    rs::result<std::string> execute(Ctx& ctx, Next&& next) {
        rs::result<std::string> r = next(ctx);
        if (!r) return std::string("fallback");
        return r;
    }
};

using ctx_t = rs::call_context<rs::manual_clock, rs::null_listener>;
struct string_next {
    rs::result<std::string> operator()(ctx_t&) const { return std::string("x"); }
};

// --- behaviours, for compositions ---

// Calls next zero times while `open`: a rejection, as a breaker would.
struct gate {
    bool open = false;
    template <class Ctx, class Next>
    auto execute(Ctx& ctx, Next&& next) -> decltype(next(ctx)) {
        if (open) {
            rs::failure f = rs::failure::of(rs::failure_kind::circuit_open, "gate closed");
            f.retry_after = 5s;
            return f;
        }
        return next(ctx);
    }
};

// Calls next up to `tries` times with numbered attempts: a minimal retry.
struct again {
    std::uint32_t tries = 2;
    template <class Ctx, class Next>
    auto execute(Ctx& ctx, Next&& next) -> decltype(next(ctx)) {
        auto inner = ctx;
        for (std::uint32_t i = 1;; ++i) {
            inner.attempt = i;
            auto r = next(inner);
            if (r || i >= tries) return r;
        }
    }
};

// Narrows the deadline for the layers inside: a minimal timeout.
struct narrow {
    rs::duration budget;
    template <class Ctx, class Next>
    auto execute(Ctx& ctx, Next&& next) -> decltype(next(ctx)) {
        auto inner = ctx;
        auto mine = ctx.now() + budget;
        if (mine < inner.deadline) {
            inner.deadline = mine;
            inner.source = rs::deadline_source::timeout;
        }
        return next(inner);
    }
};

// Replaces a failure by a value: a minimal fallback.
struct substitute {
    int value;
    template <class Ctx, class Next>
    auto execute(Ctx& ctx, Next&& next) -> decltype(next(ctx)) {
        auto r = next(ctx);
        if (!r) return value;
        return r;
    }
};

// --- the customisation point ---

struct http_response {
    int status = 200;
    std::string body;
};

struct not_classified {
    int v = 0;
};

struct badly_classified {  // a classify with the wrong return type is not a classifier
    int v = 0;
};

}  // namespace

template <>
struct rs::customize::outcome_classifier<http_response> {
    static std::optional<rs::failure> classify(const http_response& r) noexcept {
        if (r.status < 400) return std::nullopt;
        return rs::failure::from_error(std::error_code(r.status, std::generic_category()),
                                       r.status >= 500 ? rs::transience::transient : rs::transience::permanent,
                                       "http error status");
    }
};

template <>
struct rs::customize::outcome_classifier<badly_classified> {
    static bool classify(const badly_classified&) noexcept { return true; }
};

static_assert(rs::policy<pass_through>);
static_assert(rs::policy<const_pass_through>);
static_assert(rs::policy<gate>);
static_assert(rs::policy<again>);
static_assert(rs::policy<narrow>);
static_assert(rs::policy<substitute>);
static_assert(!rs::policy<no_execute>);
static_assert(!rs::policy<wrong_return>);
static_assert(!rs::policy<converts_return>);
static_assert(!rs::policy<wrong_arity>);
static_assert(!rs::policy<int>);
static_assert(!rs::policy<rs::manual_clock>);

// has_execute separates "not a policy at all" from "a policy with the wrong return type".
static_assert(rs::has_execute<wrong_return, rs::detail::archetype_context, rs::detail::archetype_next>);
static_assert(!rs::has_execute<no_execute, rs::detail::archetype_context, rs::detail::archetype_next>);

// A policy for one value type satisfies policy_for with its own type, not the generic concept.
static_assert(!rs::policy<string_only>);
static_assert(rs::policy_for<string_only, ctx_t, string_next>);
static_assert(rs::policy_for<pass_through, ctx_t, string_next>);

static_assert(rs::has_outcome_classifier<http_response>);
static_assert(!rs::has_outcome_classifier<not_classified>);
static_assert(!rs::has_outcome_classifier<int>);
static_assert(!rs::has_outcome_classifier<badly_classified>);

TEST_CASE("outcome_classifier: the specialisation classifies values directly", "[policy][classifier]") {
    using cls = rs::customize::outcome_classifier<http_response>;
    CHECK_FALSE(cls::classify({200, ""}).has_value());
    CHECK_FALSE(cls::classify({399, ""}).has_value());
    auto f = cls::classify({503, ""});
    REQUIRE(f.has_value());
    CHECK(f->kind == rs::failure_kind::error);
    CHECK(f->hint == rs::transience::transient);
    CHECK(f->error.value() == 503);
    CHECK(cls::classify({404, ""})->hint == rs::transience::permanent);
}

TEST_CASE("outcome_classifier: a composition turns a classified value into a failure that keeps it",
          "[policy][classifier][resilient_call]") {
    rs::resilient_call call{pass_through{}};
    int status = 503;
    auto fetch = [&] { return http_response{status, "body-" + std::to_string(status)}; };

    auto bad = call(fetch);
    static_assert(std::is_same_v<decltype(bad), rs::result<http_response>>);
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().kind == rs::failure_kind::error);
    CHECK(bad.error().hint == rs::transience::transient);
    CHECK(bad.error().error.value() == 503);
    CHECK(bad.error().attempts == 1u);
    REQUIRE(bad.last_value() != nullptr);
    CHECK(bad.last_value()->status == 503);
    CHECK(bad.last_value()->body == "body-503");

    status = 200;
    auto good = call(fetch);
    REQUIRE(good.has_value());
    CHECK(good->body == "body-200");

    SECTION("also when the callable returns result<T>") {
        auto r = call([] { return rs::result<http_response>(http_response{429, "slow down"}); });
        REQUIRE_FALSE(r.has_value());
        CHECK(r.last_value()->status == 429);
    }
    SECTION("a failure returned by the callable is left alone") {
        auto r = call([]() -> rs::result<http_response> { return rs::failure::of(rs::failure_kind::timeout); });
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::timeout);
        CHECK(r.last_value() == nullptr);
    }
    SECTION("policies see the classified failure: an inner retry tries again") {
        int calls = 0;
        rs::resilient_call retrying{again{3}};
        auto r = retrying([&] {
            ++calls;
            return http_response{calls < 3 ? 502 : 200, ""};
        });
        CHECK(r.has_value());
        CHECK(calls == 3);
    }
}

TEST_CASE("custom policy: a rejection calls next zero times", "[policy][resilient_call]") {
    gate g;
    rs::resilient_call call{g};  // copyable: copied in
    std::get<0>(call.elements()).open = true;
    int invoked = 0;
    auto r = call([&] { return ++invoked; });
    REQUIRE_FALSE(r.has_value());
    CHECK(invoked == 0);
    CHECK(r.error().kind == rs::failure_kind::circuit_open);
    CHECK(r.error().retry_after == 5s);
    CHECK(r.error().attempts == 0u);
}

TEST_CASE("custom policy: calling next several times numbers the attempts", "[policy][resilient_call]") {
    rs::manual_clock clk;
    rs::resilient_call call{clk, again{3}};
    std::vector<std::uint32_t> seen;
    auto r = call([&](const rs::attempt& a) -> rs::result<int> {
        seen.push_back(a.number());
        clk.advance(100ms);
        return rs::failure::of(rs::failure_kind::error, "no");
    }, {.deadline = clk.now() + 1h});
    REQUIRE_FALSE(r.has_value());
    CHECK(seen == std::vector<std::uint32_t>{1, 2, 3});
    CHECK(r.error().attempts == 3u);
    CHECK(r.error().elapsed == 300ms);
}

TEST_CASE("custom policy: a narrowed deadline reaches the callable and expires as timeout", "[policy][resilient_call]") {
    rs::manual_clock clk;
    const auto t0 = clk.now();
    rs::resilient_call call{clk, narrow{200ms}};

    SECTION("the attempt sees the tighter deadline") {
        auto r = call([&](const rs::attempt& a) {
            CHECK(a.deadline() == t0 + 200ms);
            CHECK(a.remaining() == 200ms);
            return 1;
        }, {.deadline = t0 + 10s});
        CHECK(r.has_value());
    }
    SECTION("the caller's deadline wins when it is tighter") {
        auto r = call([&](const rs::attempt& a) {
            CHECK(a.deadline() == t0 + 50ms);
            return 1;
        }, {.deadline = t0 + 50ms});
        CHECK(r.has_value());
    }
    SECTION("an attempt that cannot start inside the narrowed deadline is a timeout, not a deadline_exceeded") {
        rs::resilient_call zero{clk, narrow{0ms}};
        int invoked = 0;
        auto r = zero([&] { return ++invoked; });
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::timeout);
        CHECK(invoked == 0);
    }
}

TEST_CASE("custom policy: replacing the result", "[policy][resilient_call]") {
    rs::resilient_call call{substitute{7}, again{2}};
    int calls = 0;
    auto r = call([&]() -> rs::result<int> {
        ++calls;
        return rs::failure::of(rs::failure_kind::error);
    });
    REQUIRE(r.has_value());
    CHECK(*r == 7);
    CHECK(calls == 2);
}
