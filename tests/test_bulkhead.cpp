// SPDX-License-Identifier: MIT
//
// bulkhead: options and validation, RAII permits, the policy in a resilient_call, the FIFO queue with
// max_queue / max_wait on manual_clock, deadlines, stop tokens, events, allocation counts, and the
// snippets of docs/bulkhead.md.
#include "support/allocations.hpp"
#include "support/catch.hpp"
#include "support/policy_helpers.hpp"

#include <resilience/bulkhead.hpp>
#include <resilience/circuit_breaker.hpp>
#include <resilience/resilient_call.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace rs = resilience;
using namespace std::chrono_literals;

// Counts this thread's allocations from its construction on (under TSan nothing is counted: 0).
namespace {

struct count_allocations {
    std::uint64_t before = resilience_test::thread_allocations;
    std::uint64_t count() const { return resilience_test::thread_allocations - before; }
};

// Waits (spinning, not sleeping) for another thread to reach a state; gives up after 10 s of real time
// so that a broken bulkhead fails the test instead of hanging it.
template <class P>
bool eventually(P p) {
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    while (!p()) {
        if (std::chrono::steady_clock::now() > give_up) return false;
        std::this_thread::yield();
    }
    return true;
}

// Gives another thread many chances to (wrongly) make progress.
void let_others_run() {
    for (int i = 0; i < 2000; ++i) std::this_thread::yield();
}

using resilience_test::invalid_argument_text;
using resilience_test::recorder;

using manual_bulkhead = rs::bulkhead<rs::manual_clock>;
using manual_ctx = rs::call_context<rs::manual_clock, rs::null_listener>;

}  // namespace

// --- construction -----------------------------------------------------------------------------------------

TEST_CASE("bulkhead: options defaults are valid and documented", "[bulkhead]") {
    rs::bulkhead_options o;
    CHECK(o.max_concurrent == 25);
    CHECK(o.max_queue == 0);
    CHECK(o.max_wait == rs::duration::zero());
    CHECK(o.name.empty());
    CHECK_FALSE(o.validate().has_value());
}

TEST_CASE("bulkhead: invalid options name the field and the range", "[bulkhead][config]") {
    struct bad_case {
        rs::bulkhead_options o;
        std::string_view field;
        std::string_view range;
    };
    const bad_case cases[] = {
        {{.max_concurrent = 0}, "bulkhead_options.max_concurrent", "between 1 and 1000000"},
        {{.max_concurrent = 1'000'001}, "bulkhead_options.max_concurrent", "between 1 and 1000000"},
        {{.max_queue = 1'000'001, .max_wait = 1s}, "bulkhead_options.max_queue", "between 0 and 1000000"},
        {{.max_queue = 1, .max_wait = -1ns}, "bulkhead_options.max_wait", "between 0 and 1h"},
        {{.max_queue = 1, .max_wait = 1h + 1ns}, "bulkhead_options.max_wait", "between 0 and 1h"},
        {{.max_queue = 4}, "bulkhead_options.max_wait", "between 1ns and 1h when max_queue is above 0"},
        {{.max_wait = 10ms}, "bulkhead_options.max_queue", "between 1 and 1000000 when max_wait is above 0"},
    };
    for (const auto& c : cases) {
        INFO("expected field " << std::string(c.field));
        auto e = c.o.validate();
        REQUIRE(e.has_value());
        CHECK(e->field == c.field);
        CHECK(e->message.find(c.field) != std::string_view::npos);
        CHECK(e->message.find(c.range) != std::string_view::npos);

        rs::manual_clock clk;
        const std::string text = invalid_argument_text([&] { manual_bulkhead b{c.o, clk}; });
        CHECK(text.find(std::string(c.field)) != std::string::npos);
        CHECK(text.find(std::string(c.range)) != std::string::npos);
        CHECK_THROWS_AS(rs::bulkhead{c.o}, std::invalid_argument);
    }
}

TEST_CASE("bulkhead: boundary values are accepted", "[bulkhead][config]") {
    CHECK_FALSE(rs::bulkhead_options{.max_concurrent = 1}.validate());
    CHECK_FALSE(rs::bulkhead_options{.max_concurrent = 1'000'000}.validate());
    CHECK_FALSE(rs::bulkhead_options{.max_queue = 1'000'000, .max_wait = 1h}.validate());
    CHECK_FALSE(rs::bulkhead_options{.max_queue = 1, .max_wait = 1ns}.validate());
}

TEST_CASE("bulkhead: deduction, clock and identity", "[bulkhead]") {
    static rs::bulkhead pool{{.max_concurrent = 8}};  // DESIGN.md's spelling
    static_assert(std::is_same_v<decltype(pool), rs::bulkhead<rs::steady_clock>>);
    CHECK(pool.options().max_concurrent == 8);
    CHECK(pool.available() == 8);

    rs::bulkhead defaulted;
    CHECK(defaulted.options().max_concurrent == 25);

    rs::manual_clock clk;
    rs::bulkhead b{{.name = "db", .max_concurrent = 2}, clk};
    static_assert(std::is_same_v<decltype(b), manual_bulkhead>);
    CHECK(&b.clock() == &clk);
    CHECK(b.options().name == "db");

    static_assert(!std::is_copy_constructible_v<manual_bulkhead>);
    static_assert(!std::is_move_constructible_v<manual_bulkhead>);
    static_assert(!std::is_copy_assignable_v<manual_bulkhead>);
    static_assert(!std::is_copy_constructible_v<manual_bulkhead::permit>);
    static_assert(std::is_nothrow_move_constructible_v<manual_bulkhead::permit>);
    static_assert(rs::policy<rs::bulkhead<>>);
}

// --- permits --------------------------------------------------------------------------------------------

TEST_CASE("bulkhead: try_acquire hands out at most max_concurrent RAII permits", "[bulkhead][permit]") {
    rs::manual_clock clk;
    rs::bulkhead b{{.max_concurrent = 2}, clk};
    {
        auto p1 = b.try_acquire();
        auto p2 = b.try_acquire();
        auto p3 = b.try_acquire();
        CHECK(p1);
        CHECK(p2.held());
        CHECK_FALSE(p3);
        CHECK(b.in_use() == 2);
        CHECK(b.available() == 0);
        CHECK(b.rejected() == 0);  // try_acquire's refusals are not rejections of calls

        p1.release();
        CHECK_FALSE(p1);
        CHECK(b.in_use() == 1);
        p1.release();  // idempotent
        CHECK(b.in_use() == 1);

        auto p4 = b.try_acquire();
        CHECK(p4);
        CHECK(b.in_use() == 2);
    }
    CHECK(b.in_use() == 0);  // destructors gave the slots back
    CHECK(clk.elapsed() == rs::duration::zero());
}

TEST_CASE("bulkhead: permits move; assignment releases the slot it overwrites", "[bulkhead][permit]") {
    rs::manual_clock clk;
    rs::bulkhead b{{.max_concurrent = 3}, clk};
    auto a = b.try_acquire();
    auto moved = std::move(a);
    CHECK_FALSE(a);  // NOLINT(bugprone-use-after-move): the moved-from state is specified
    CHECK(moved);
    CHECK(b.in_use() == 1);

    auto other = b.try_acquire();
    CHECK(b.in_use() == 2);
    other = std::move(moved);  // other's own slot is released
    CHECK(b.in_use() == 1);
    CHECK(other);

    manual_bulkhead::permit empty;
    CHECK_FALSE(empty);
    other = std::move(empty);
    CHECK(b.in_use() == 0);
    CHECK_FALSE(other);
}

TEST_CASE("bulkhead: acquire() without a queue succeeds or fails at once", "[bulkhead][permit]") {
    rs::manual_clock clk;
    rs::bulkhead b{{.max_concurrent = 1}, clk};
    auto r1 = b.acquire();
    REQUIRE(r1.has_value());
    CHECK(r1->held());
    auto r2 = b.acquire();
    REQUIRE_FALSE(r2.has_value());
    CHECK(r2.error().kind == rs::failure_kind::bulkhead_full);
    CHECK(r2.error().retry_after == rs::duration::zero());
    CHECK(b.rejected() == 1);
    r1->release();
    CHECK(b.acquire().has_value());
    CHECK(b.in_use() == 0);  // the temporary result's permit was released
}

// --- as a policy ----------------------------------------------------------------------------------------

TEST_CASE("bulkhead: in a resilient_call it holds a slot for the duration of the callable", "[bulkhead][policy]") {
    rs::manual_clock clk;
    rs::bulkhead b{{.max_concurrent = 1}, clk};
    rs::resilient_call call{b};
    static_assert(std::is_same_v<decltype(call)::clock_type, rs::manual_clock>);
    CHECK(&call.clock() == &clk);

    int runs = 0;
    auto r = call([&] {
        ++runs;
        CHECK(b.in_use() == 1);
        // Re-entering the same bulkhead while holding its only slot is refused, not deadlocked.
        auto inner = call([&] { ++runs; return 2; });
        CHECK_FALSE(inner.has_value());
        CHECK(inner.error().kind == rs::failure_kind::bulkhead_full);
        CHECK(inner.error().attempts == 0);  // the callable never ran
        return 1;
    });
    REQUIRE(r.has_value());
    CHECK(*r == 1);
    CHECK(runs == 1);
    CHECK(b.in_use() == 0);
    CHECK(b.rejected() == 1);
}

TEST_CASE("bulkhead: a failing callable releases its slot", "[bulkhead][policy]") {
    rs::manual_clock clk;
    rs::bulkhead b{{.max_concurrent = 1}, clk};
    rs::resilient_call call{b};
    auto r = call([]() -> rs::result<int> { return rs::failure::of(rs::failure_kind::error, "boom"); });
    CHECK_FALSE(r.has_value());
    CHECK(b.in_use() == 0);
#if RESILIENCE_HAS_EXCEPTIONS
    auto t = call([]() -> int { throw std::runtime_error("boom"); });
    CHECK_FALSE(t.has_value());
    CHECK(b.in_use() == 0);
#endif
}

TEST_CASE("bulkhead: a rejection emits `rejected` with the policy and instance name", "[bulkhead][events]") {
    rs::manual_clock clk;
    rs::bulkhead b{{.name = "payments", .max_concurrent = 1}, clk};
    recorder rec;
    rs::resilient_call call{b, rec};
    auto held = b.try_acquire();
    auto r = call([] { return 1; });
    REQUIRE_FALSE(r.has_value());
    REQUIRE(rec.events.size() == 2);  // the rejection, then the call's end
    CHECK(rec.events[1].type == rs::event_type::call_finished);
    const rs::event& e = rec.events[0];
    CHECK(e.type == rs::event_type::rejected);
    CHECK(e.policy == "bulkhead");
    CHECK(e.name == "payments");
    CHECK(e.kind == rs::failure_kind::bulkhead_full);
    CHECK(e.at == clk.now());
}

TEST_CASE("bulkhead: the happy path and the rejection paths allocate nothing", "[bulkhead][alloc]") {
    rs::manual_clock clk;
    rs::bulkhead unqueued{{.max_concurrent = 1}, clk};
    rs::bulkhead queued{{.max_concurrent = 1, .max_queue = 1, .max_wait = 1s}, clk};
    rs::resilient_call call{unqueued};
    rs::resilient_call queued_call{queued};
    rs::call_options past;
    past.deadline = clk.now();

    std::size_t n = 0;
    int successes = 0;
    bool other_held = true;
    rs::failure_kind full = rs::failure_kind::error;
    rs::failure_kind expired = rs::failure_kind::error;
    {
        // No Catch2 assertion inside the counted region: only the library's allocations count.
        count_allocations counter;
        for (int i = 0; i < 100; ++i) {
            auto r = call([&] { return i; });
            successes += r.has_value() ? 1 : 0;
        }
        auto held = unqueued.try_acquire();
        auto other = unqueued.try_acquire();
        other_held = other.held();
        auto r1 = call([] { return 0; });  // no slot, no queue: bulkhead_full
        full = r1.has_value() ? rs::failure_kind::error : r1.error().kind;
        auto held2 = queued.try_acquire();
        auto r2 = queued_call([] { return 0; }, past);  // no slot, deadline passed: not queued
        expired = r2.has_value() ? rs::failure_kind::error : r2.error().kind;
        n = counter.count();
    }
    CHECK(n == 0);
    CHECK(successes == 100);
    CHECK_FALSE(other_held);
    CHECK(full == rs::failure_kind::bulkhead_full);
    CHECK(expired == rs::failure_kind::deadline_exceeded);
}

// --- queue: FIFO, max_queue, max_wait -------------------------------------------------------------------

TEST_CASE("bulkhead: queued callers get slots in FIFO order and newcomers cannot barge", "[bulkhead][queue]") {
    rs::manual_clock clk;
    rs::bulkhead b{{.max_concurrent = 1, .max_queue = 3, .max_wait = 1h}, clk};
    auto held = b.try_acquire();
    REQUIRE(held);

    constexpr int n = 3;
    std::atomic<bool> got[n] = {};
    std::atomic<bool> let_go[n] = {};
    bool ok[n] = {};
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
        threads.emplace_back([&, i] {
            auto p = b.acquire();
            ok[i] = p.has_value();
            got[i] = true;
            while (!let_go[i]) std::this_thread::yield();
        });
        // Wait until thread i is queued before starting the next, so that the queue order is known.
        REQUIRE(eventually([&] { return b.queued() == static_cast<std::uint32_t>(i + 1); }));
    }

    // The queue is full: a fourth caller is refused at once, without waiting.
    auto fourth = b.acquire();
    REQUIRE_FALSE(fourth.has_value());
    CHECK(fourth.error().kind == rs::failure_kind::bulkhead_full);
    CHECK(b.rejected() == 1);

    held.release();
    for (int i = 0; i < n; ++i) {
        REQUIRE(eventually([&] { return got[i].load(); }));
        let_others_run();
        for (int j = i + 1; j < n; ++j) CHECK_FALSE(got[j]);  // nobody behind i overtook it
        // The slot went straight from one holder to the next: never free while someone waits.
        CHECK(b.in_use() == 1);
        CHECK(b.queued() == static_cast<std::uint32_t>(n - 1 - i));
        CHECK_FALSE(b.try_acquire());  // a newcomer cannot take it either
        let_go[i] = true;              // thread i's permit is released when its lambda returns
    }
    for (auto& t : threads) t.join();
    for (bool o : ok) CHECK(o);
    CHECK(b.in_use() == 0);
    CHECK(b.queued() == 0);
    CHECK(clk.elapsed() == rs::duration::zero());  // no virtual time was needed
}

TEST_CASE("bulkhead: a slot released while callers wait goes to the oldest", "[bulkhead][queue]") {
    rs::manual_clock clk;
    rs::bulkhead b{{.max_concurrent = 2, .max_queue = 2, .max_wait = 1h}, clk};
    auto p1 = b.try_acquire();
    auto p2 = b.try_acquire();
    std::atomic<int> order{0};
    int first_pos = 0;
    int second_pos = 0;
    std::thread first([&] {
        auto p = b.acquire();
        first_pos = ++order;
    });
    REQUIRE(eventually([&] { return b.queued() == 1; }));
    std::thread second([&] {
        auto p = b.acquire();
        second_pos = ++order;
    });
    REQUIRE(eventually([&] { return b.queued() == 2; }));
    p1.release();  // goes to `first`
    first.join();  // `first` released its slot on return: it went to `second`
    second.join();
    CHECK(first_pos == 1);
    CHECK(second_pos == 2);
    CHECK(b.in_use() == 1);  // p2
}

TEST_CASE("bulkhead: a queued caller gives up after max_wait of clock time", "[bulkhead][queue]") {
    rs::manual_clock clk;
    rs::bulkhead b{{.max_concurrent = 1, .max_queue = 1, .max_wait = 100ms}, clk};
    auto held = b.try_acquire();
    const rs::time_point t0 = clk.now();
    std::atomic<bool> done{false};
    std::optional<rs::result<manual_bulkhead::permit>> r;
    rs::time_point gave_up_at{};
    std::thread t([&] {
        r.emplace(b.acquire());
        gave_up_at = clk.now();
        done = true;
    });
    REQUIRE(eventually([&] { return b.queued() == 1; }));
    clk.advance(99ms);
    let_others_run();
    CHECK_FALSE(done);  // 1 ms short of max_wait: still waiting
    CHECK(b.queued() == 1);
    clk.advance(1ms);
    t.join();
    REQUIRE(r.has_value());
    REQUIRE_FALSE(r->has_value());
    CHECK(r->error().kind == rs::failure_kind::bulkhead_full);
    CHECK(gave_up_at - t0 == 100ms);
    CHECK(b.rejected() == 1);
    CHECK(b.queued() == 0);
    CHECK(b.in_use() == 1);
    held.release();
    CHECK(b.in_use() == 0);  // the slot was not handed to the waiter that left
}

TEST_CASE("bulkhead: a waiter that timed out is skipped; the next one gets the slot", "[bulkhead][queue]") {
    rs::manual_clock clk;
    rs::bulkhead b{{.max_concurrent = 1, .max_queue = 2, .max_wait = 100ms}, clk};
    auto held = b.try_acquire();
    std::optional<rs::result<manual_bulkhead::permit>> early;
    std::thread t1([&] { early.emplace(b.acquire()); });
    REQUIRE(eventually([&] { return b.queued() == 1; }));
    clk.advance(60ms);
    std::optional<rs::result<manual_bulkhead::permit>> late;
    std::atomic<bool> late_done{false};
    std::thread t2([&] {
        late.emplace(b.acquire());
        late_done = true;
    });
    REQUIRE(eventually([&] { return b.queued() == 2; }));
    clk.advance(40ms);  // t1's max_wait is over, t2 has 60 ms left
    t1.join();
    REQUIRE_FALSE(early->has_value());
    CHECK(early->error().kind == rs::failure_kind::bulkhead_full);
    CHECK(b.queued() == 1);
    CHECK_FALSE(late_done);
    held.release();
    t2.join();
    REQUIRE(late->has_value());
    CHECK((*late)->held());
    CHECK(b.in_use() == 1);
    late.reset();
    CHECK(b.in_use() == 0);
}

TEST_CASE("bulkhead: a queued call never waits past the call's deadline", "[bulkhead][queue][deadline]") {
    rs::manual_clock clk;
    rs::bulkhead b{{.name = "q", .max_concurrent = 1, .max_queue = 1, .max_wait = 1s}, clk};
    recorder rec;
    rs::resilient_call call{b, rec};
    auto held = b.try_acquire();
    const rs::time_point t0 = clk.now();
    rs::call_options opts;
    opts.deadline = t0 + 30ms;
    bool ran = false;
    std::optional<rs::result<int>> r;
    std::thread t([&] { r.emplace(call([&] { ran = true; return 1; }, opts)); });
    REQUIRE(eventually([&] { return b.queued() == 1; }));
    clk.advance(30ms);
    t.join();
    REQUIRE_FALSE(r->has_value());
    CHECK(r->error().kind == rs::failure_kind::deadline_exceeded);
    CHECK(r->error().elapsed == 30ms);
    CHECK(r->error().attempts == 0);
    CHECK_FALSE(ran);
    CHECK(b.expired() == 1);
    CHECK(b.rejected() == 0);
    CHECK(b.queued() == 0);
    REQUIRE(rec.events.size() == 2);  // the expiry, then the call's end
    CHECK(rec.events[1].type == rs::event_type::call_finished);
    CHECK(rec.events[0].type == rs::event_type::timeout);
    CHECK(rec.events[0].kind == rs::failure_kind::deadline_exceeded);
    CHECK(rec.events[0].name == "q");
}

TEST_CASE("bulkhead: a call whose deadline has passed is not queued", "[bulkhead][queue][deadline]") {
    rs::manual_clock clk;
    rs::bulkhead b{{.max_concurrent = 1, .max_queue = 1, .max_wait = 1s}, clk};
    auto held = b.try_acquire();
    auto r = b.acquire(clk.now());  // single-threaded: would hang if it queued
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == rs::failure_kind::deadline_exceeded);
    CHECK(b.expired() == 1);
    CHECK(b.queued() == 0);
}

TEST_CASE("bulkhead: under a timeout the wait's expiry is reported as `timeout`", "[bulkhead][deadline]") {
    rs::manual_clock clk;
    rs::bulkhead b{{.max_concurrent = 1, .max_queue = 1, .max_wait = 1s}, clk};
    auto held = b.try_acquire();
    rs::call_options opts;
    rs::call_state state;
    rs::null_listener nl;
    manual_ctx ctx{&clk, &nl, &opts, &state, clk.now() + 5ms, rs::deadline_source::timeout, 1};
    std::optional<rs::result<int>> r;
    std::thread t([&] { r.emplace(b.execute(ctx, [](manual_ctx&) { return rs::result<int>(1); })); });
    REQUIRE(eventually([&] { return b.queued() == 1; }));
    clk.advance(5ms);
    t.join();
    REQUIRE_FALSE(r->has_value());
    CHECK(r->error().kind == rs::failure_kind::timeout);

    // Already expired under a timeout: refused at once, same kind.
    manual_ctx late{&clk, &nl, &opts, &state, clk.now(), rs::deadline_source::timeout, 1};
    auto r2 = b.execute(late, [](manual_ctx&) { return rs::result<int>(1); });
    REQUIRE_FALSE(r2.has_value());
    CHECK(r2.error().kind == rs::failure_kind::timeout);
    CHECK(b.expired() == 2);
}

TEST_CASE("bulkhead: a waiter's deadline shorter than max_wait wins; longer loses", "[bulkhead][deadline]") {
    rs::manual_clock clk;
    rs::bulkhead b{{.max_concurrent = 1, .max_queue = 1, .max_wait = 50ms}, clk};
    auto held = b.try_acquire();
    std::optional<rs::result<manual_bulkhead::permit>> r;
    std::thread t([&] { r.emplace(b.acquire(clk.now() + 80ms)); });  // max_wait comes first
    REQUIRE(eventually([&] { return b.queued() == 1; }));
    clk.advance(50ms);
    t.join();
    REQUIRE_FALSE(r->has_value());
    CHECK(r->error().kind == rs::failure_kind::bulkhead_full);
    CHECK(b.rejected() == 1);
    CHECK(b.expired() == 0);
}

TEST_CASE("bulkhead: the caller's stop token ends a wait", "[bulkhead][queue][cancel]") {
    rs::manual_clock clk;
    rs::bulkhead b{{.name = "s", .max_concurrent = 1, .max_queue = 2, .max_wait = 1h}, clk};
    recorder rec;
    rs::resilient_call call{b, rec};
    auto held = b.try_acquire();
    std::stop_source stop;
    rs::call_options opts;
    opts.stop = stop.get_token();
    std::optional<rs::result<int>> r;
    std::thread t([&] { r.emplace(call([] { return 1; }, opts)); });
    REQUIRE(eventually([&] { return b.queued() == 1; }));
    stop.request_stop();
    t.join();
    REQUIRE_FALSE(r->has_value());
    CHECK(r->error().kind == rs::failure_kind::cancelled);
    CHECK(b.cancelled() == 1);
    CHECK(b.queued() == 0);
    CHECK(b.in_use() == 1);
    CHECK(clk.elapsed() == rs::duration::zero());
    REQUIRE(rec.events.size() == 2);  // the rejection, then the call's end
    CHECK(rec.events[1].type == rs::event_type::call_finished);
    CHECK(rec.events[0].type == rs::event_type::rejected);
    CHECK(rec.events[0].kind == rs::failure_kind::cancelled);

    // Already stopped and no free slot: refused without queueing (single-threaded: no hang).
    auto again = call([] { return 1; }, opts);
    REQUIRE_FALSE(again.has_value());
    CHECK(again.error().kind == rs::failure_kind::cancelled);
    CHECK(b.cancelled() == 2);
}

TEST_CASE("bulkhead: a queued call runs once a slot is handed to it", "[bulkhead][queue][policy]") {
    rs::manual_clock clk;
    rs::bulkhead b{{.max_concurrent = 1, .max_queue = 1, .max_wait = 1s}, clk};
    rs::resilient_call call{b};
    auto held = b.try_acquire();
    std::optional<rs::result<int>> r;
    std::uint32_t in_use_inside = 0;
    std::thread t([&] {
        r.emplace(call([&] {
            in_use_inside = b.in_use();
            return 7;
        }));
    });
    REQUIRE(eventually([&] { return b.queued() == 1; }));
    clk.advance(999ms);  // time passes, but less than max_wait
    held.release();
    t.join();
    REQUIRE(r->has_value());
    CHECK(**r == 7);
    CHECK(in_use_inside == 1);
    CHECK(b.in_use() == 0);
    CHECK(b.rejected() == 0);
}

TEST_CASE("bulkhead: waiting in the queue allocates nothing", "[bulkhead][alloc][queue]") {
    rs::manual_clock clk;
    rs::bulkhead b{{.max_concurrent = 1, .max_queue = 1, .max_wait = 1s}, clk};
    auto held = b.try_acquire();
    std::stop_source stop;  // a stop token that can be triggered: the stop callback is registered too
    std::size_t allocations = 99;
    bool acquired = false;
    std::thread t([&] {
        count_allocations counter;
        {
            auto p = b.acquire(rs::no_deadline, stop.get_token());
            acquired = p.has_value();
        }
        allocations = counter.count();
    });
    REQUIRE(eventually([&] { return b.queued() == 1; }));
    held.release();
    t.join();
    CHECK(acquired);
    CHECK(allocations == 0);
}

// --- docs/bulkhead.md snippets (the page quotes the code between the markers verbatim) ---------------

TEST_CASE("docs/bulkhead.md: testing on virtual time", "[bulkhead][docs]") {
    // docs/bulkhead.md: testing
    rs::manual_clock clock;
    rs::bulkhead pool{{.max_concurrent = 1, .max_queue = 1, .max_wait = 100ms}, clock};
    auto slot = pool.try_acquire();  // the only slot is taken

    rs::failure_kind kind{};
    std::thread waiter([&] {
        auto p = pool.acquire();  // queues...
        kind = p.error().kind;
    });
    while (pool.queued() == 0) std::this_thread::yield();  // (a real test bounds this spin)
    clock.advance(100ms);                                  // ...and gives up after 100 ms of virtual time
    waiter.join();
    CHECK(kind == rs::failure_kind::bulkhead_full);
    // docs/bulkhead.md: end
}

// --- composition ----------------------------------------------------------------------------------------

TEST_CASE("bulkhead inside a circuit breaker: its rejections are not failures of the dependency", "[bulkhead][composition]") {
    rs::manual_clock clk;
    rs::circuit_breaker breaker{{.failure_threshold = 1, .open_duration = 10s}, clk};
    rs::bulkhead pool{{.max_concurrent = 1, .max_queue = 1, .max_wait = 50ms}, clk};
    rs::resilient_call call{breaker, pool};
    auto held = pool.try_acquire();

    // Refused before queueing: the deadline has passed.
    rs::call_options past;
    past.deadline = clk.now();
    for (int i = 0; i < 3; ++i) {
        auto r = call([] { return 1; }, past);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::deadline_exceeded);
    }
    // Queued, then max_wait over: bulkhead_full.
    std::optional<rs::result<int>> waited;
    std::thread t([&] { waited.emplace(call([] { return 1; })); });
    REQUIRE(eventually([&] { return pool.queued() == 1; }));
    clk.advance(50ms);
    t.join();
    REQUIRE_FALSE(waited->has_value());
    CHECK(waited->error().kind == rs::failure_kind::bulkhead_full);

    CHECK(breaker.state() == rs::circuit_state::closed);  // threshold 1, yet still closed
    held.release();
    auto ok = call([] { return 2; });
    REQUIRE(ok.has_value());
    CHECK(*ok == 2);

    // A real failure of the dependency does open it: the breaker is counting.
    auto bad = call([]() -> rs::result<int> { return rs::failure::of(rs::failure_kind::error, "down"); });
    CHECK_FALSE(bad.has_value());
    CHECK(breaker.state() == rs::circuit_state::open);
}
