// SPDX-License-Identifier: MIT
#include "support/allocations.hpp"
#include "support/catch.hpp"

#include <resilience/clock.hpp>
#include <resilience/dead_letter.hpp>
#include <resilience/resilient_call.hpp>
#include <resilience/sinks/callback_sink.hpp>
#include <resilience/sinks/memory_sink.hpp>
#include <resilience/timeout.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <chrono>
#include <cstdlib>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace rs = resilience;
using namespace std::chrono_literals;

namespace {

// --- stand-ins for the policies around a dead letter -----------------------------------------------------
// Minimal, test-local versions of a retry and of the guards (breaker, bulkhead, limiter), with exactly the
// observable behaviour the dead-letter policy depends on: attempts counted in call_state, rejections
// returned without running the callable.

struct test_retry {
    std::uint32_t max_attempts = 3;
    template <class Ctx, class Next>
    auto execute(Ctx& ctx, Next&& next) -> std::invoke_result_t<Next&, Ctx&> {
        Ctx c = ctx;
        for (std::uint32_t i = 1;; ++i) {
            c.attempt = i;
            auto r = next(c);
            if (r.has_value() || i == max_attempts || r.error().kind == rs::failure_kind::deadline_exceeded ||
                r.error().kind == rs::failure_kind::cancelled || r.error().kind == rs::failure_kind::timeout) {
                return r;
            }
        }
    }
};

struct reject_with {
    rs::failure_kind kind;
    template <class Ctx, class Next>
    auto execute(Ctx&, Next&&) -> std::invoke_result_t<Next&, Ctx&> {
        return rs::failure::of(kind, "rejected by a guard");
    }
};

struct recording_listener {
    std::vector<rs::event_type> types;
    std::vector<rs::failure_kind> kinds;
    void on_event(const rs::event& e) {
        if (e.policy == "dead_letter") {
            types.push_back(e.type);
            kinds.push_back(e.kind);
        }
    }
};

// A sink that fails every publish.
struct failing_sink {
    std::atomic<int> calls{0};
    rs::result<void> publish(const rs::dead_letter_record&) {
        calls.fetch_add(1);
        return rs::failure::from_error(std::make_error_code(std::errc::no_space_on_device), rs::transience::transient,
                                       "disk full");
    }
};

rs::failure fail_error() { return rs::failure::from_error(std::make_error_code(std::errc::connection_refused)); }

}  // namespace

// --- the policy: one record per failed call, none for successes ------------------------------------------

TEST_CASE("dead_letter: a success passes through without a record") {
    rs::memory_sink sink;
    rs::manual_clock clk;
    rs::resilient_call call{rs::dead_letter{sink}, test_retry{3}, clk};
    auto r = call([] { return 7; });
    REQUIRE(r.has_value());
    CHECK(*r == 7);
    CHECK(sink.size() == 0);
}

#if RESILIENCE_TEST_COUNTS_ALLOCATIONS
TEST_CASE("dead_letter: the success path allocates nothing") {
    rs::memory_sink sink;
    rs::manual_clock clk;
    rs::resilient_call call{rs::dead_letter{sink}, test_retry{3}, clk};
    rs::call_options opts{.id = "req-1", .payload = R"({"order":1})"};
    (void)call([] { return 1; }, opts);  // warm up
    const auto allocations = resilience_test::all_allocations_during([&] {
        for (int i = 0; i < 100; ++i) {
            auto r = call([i] { return i; }, opts);
            REQUIRE(r.has_value());
        }
    });
    CHECK(allocations == 0);
}
#endif

namespace {
// A manual clock that counts its reads.
struct counting_clock {
    rs::manual_clock* inner;
    mutable std::atomic<int> reads{0};
    rs::time_point now() const noexcept {
        reads.fetch_add(1);
        return inner->now();
    }
    bool sleep_until(rs::time_point t, std::stop_token st) { return inner->sleep_until(t, st); }
    template <class Pred>
    bool wait_until(std::unique_lock<std::mutex>& lk, std::condition_variable& cv, rs::time_point t, Pred p) {
        return inner->wait_until(lk, cv, t, p);
    }
    std::chrono::system_clock::time_point to_sys(rs::time_point t) const noexcept { return inner->to_sys(t); }
};
static_assert(rs::clock<counting_clock>);
}  // namespace

TEST_CASE("dead_letter: one clock read per call by default; none on success with lazy_start") {
    rs::memory_sink sink;
    rs::manual_clock base;
    counting_clock clk{&base};
    SECTION("default: the start is read on entry, so first_attempt is exact without any timed layer") {
        rs::resilient_call call{rs::dead_letter{sink}, clk};
        CHECK(call([] { return 1; }).has_value());
        CHECK(clk.reads == 1);
        auto r = call([&]() -> rs::result<int> {
            base.advance(300ms);
            return fail_error();
        });
        REQUIRE(sink.size() == 1);
        CHECK(sink.records()[0].elapsed == 300ms);
        CHECK(sink.records()[0].last_attempt - sink.records()[0].first_attempt == 300ms);
    }
    SECTION("lazy_start: no clock read on success; without a timed layer the failure time is the start") {
        rs::resilient_call call{rs::dead_letter{sink, {.lazy_start = true}}, clk};
        CHECK(call([] { return 1; }).has_value());
        CHECK(clk.reads == 0);
        auto r = call([&]() -> rs::result<int> {
            base.advance(300ms);
            return fail_error();
        });
        REQUIRE(sink.size() == 1);
        CHECK(sink.records()[0].elapsed == rs::duration{0});
        CHECK(sink.records()[0].first_attempt == sink.records()[0].last_attempt);
    }
    SECTION("lazy_start with a timeout inside: the timeout fixes the start, nothing is lost") {
        rs::resilient_call call{rs::dead_letter{sink, {.lazy_start = true}}, rs::timeout{1s}, clk};
        auto r = call([&]() -> rs::result<int> {
            base.advance(300ms);
            return fail_error();
        });
        REQUIRE(sink.size() == 1);
        CHECK(sink.records()[0].elapsed == 300ms);
    }
}

TEST_CASE("dead_letter: every failure path yields exactly one record with the right kind and attempts") {
    rs::memory_sink sink;
    rs::manual_clock clk;
    const auto start = clk.now();

    SECTION("error after retries") {
        rs::resilient_call call{rs::dead_letter{sink}, test_retry{4}, clk};
        int calls = 0;
        auto r = call([&]() -> rs::result<int> { ++calls; return fail_error(); }, {.id = "e1"});
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::error);
        REQUIRE(sink.size() == 1);
        auto rec = sink.records()[0];
        CHECK(rec.kind == rs::failure_kind::error);
        CHECK(rec.attempts == 4);
        CHECK(calls == 4);
        CHECK(rec.id == "e1");
        CHECK(rec.error_value == static_cast<int>(std::errc::connection_refused));
        CHECK(rec.error_category == std::generic_category().name());
    }
    SECTION("timeout (a real rs::timeout around the retry)") {
        rs::resilient_call call{rs::dead_letter{sink}, rs::timeout{100ms}, test_retry{5}, clk};
        auto r = call([&]() -> rs::result<int> {
            clk.advance(150ms);  // the attempt overruns the budget
            return fail_error();
        });
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::timeout);
        REQUIRE(sink.size() == 1);
        auto rec = sink.records()[0];
        CHECK(rec.kind == rs::failure_kind::timeout);
        CHECK(rec.attempts == 1);
        CHECK(rec.elapsed == 150ms);
    }
    SECTION("deadline_exceeded (the caller's deadline has passed)") {
        rs::resilient_call call{rs::dead_letter{sink}, test_retry{3}, clk};
        int calls = 0;
        auto r = call([&] { return ++calls; }, {.deadline = clk.now() - 1ms});
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::deadline_exceeded);
        CHECK(calls == 0);
        REQUIRE(sink.size() == 1);
        CHECK(sink.records()[0].kind == rs::failure_kind::deadline_exceeded);
        CHECK(sink.records()[0].attempts == 0);
    }
    SECTION("rejections: circuit_open, bulkhead_full, rate_limited") {
        auto kind = GENERATE(rs::failure_kind::circuit_open, rs::failure_kind::bulkhead_full, rs::failure_kind::rate_limited);
        rs::resilient_call call{rs::dead_letter{sink}, test_retry{1}, reject_with{kind}, clk};
        int calls = 0;
        auto r = call([&] { return ++calls; }, {.id = "rejected"});
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == kind);
        CHECK(calls == 0);
        REQUIRE(sink.size() == 1);
        CHECK(sink.records()[0].kind == kind);
        CHECK(sink.records()[0].attempts == 0);
        CHECK(sink.records()[0].message == "rejected by a guard");
    }
    SECTION("cancelled (the caller's stop token)") {
        std::stop_source stop;
        stop.request_stop();
        rs::resilient_call call{rs::dead_letter{sink}, test_retry{3}, clk};
        auto r = call([] { return 1; }, {.stop = stop.get_token()});
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::cancelled);
        REQUIRE(sink.size() == 1);
        CHECK(sink.records()[0].kind == rs::failure_kind::cancelled);
    }
    SECTION("an exception thrown by the callable") {
        rs::resilient_call call{rs::dead_letter{sink}, test_retry{2}, clk};
        auto r = call([]() -> int { throw std::runtime_error("boom"); });
        REQUIRE_FALSE(r.has_value());
        REQUIRE(sink.size() == 1);
        CHECK(sink.records()[0].exception_message == "boom");
        CHECK(sink.records()[0].attempts == 2);
    }
    SECTION("many calls, mixed outcomes: one record per failure, none per success") {
        rs::resilient_call call{rs::dead_letter{sink}, test_retry{2}, clk};
        int failures = 0;
        for (int i = 0; i < 50; ++i) {
            bool fail = i % 3 == 0;
            failures += fail ? 1 : 0;
            auto r = call([&]() -> rs::result<int> {
                if (fail) return fail_error();
                return i;
            });
            CHECK(r.has_value() == !fail);
        }
        CHECK(sink.size() == static_cast<std::size_t>(failures));
    }
    (void)start;
}

TEST_CASE("dead_letter: the record carries id, payload, source, metadata and deterministic timestamps") {
    rs::memory_sink sink;
    rs::manual_clock clk;
    static constexpr rs::dead_letter_metadata meta[] = {{"function", "orders-handler"}, {"region", "eu-west-1"}};
    clk.advance(5s);
    const auto t0 = clk.now();
    rs::resilient_call call{rs::dead_letter{sink, {.source = "orders-api", .metadata = meta}}, test_retry{3}, clk};
    auto r = call(
        [&]() -> rs::result<int> {
            clk.advance(250ms);
            return rs::failure::of(rs::failure_kind::error, "HTTP 503");
        },
        {.id = "req-42", .payload = R"({"order":42})"});
    REQUIRE_FALSE(r.has_value());
    REQUIRE(sink.size() == 1);
    const auto rec = sink.records()[0];
    CHECK(rec.id == "req-42");
    CHECK_FALSE(rec.id_generated);
    CHECK(rec.payload == R"({"order":42})");
    CHECK(rec.source == "orders-api");
    CHECK(rec.message == "HTTP 503");
    CHECK(rec.attempts == 3);
    CHECK(rec.elapsed == 750ms);
    CHECK(rec.first_attempt == std::chrono::floor<std::chrono::milliseconds>(clk.to_sys(t0)));
    CHECK(rec.last_attempt - rec.first_attempt == 750ms);
    REQUIRE(rec.metadata.size() == 2);
    CHECK(rec.metadata[0] == std::pair<std::string, std::string>{"function", "orders-handler"});
    CHECK(rec.metadata[1] == std::pair<std::string, std::string>{"region", "eu-west-1"});
    // The failure returned also has its attempts and elapsed filled.
    CHECK(r.error().attempts == 3);
    CHECK(r.error().elapsed == 750ms);

    SECTION("call_options::source overrides the option") {
        (void)call([]() -> rs::result<int> { return fail_error(); }, {.source = "per-call"});
        CHECK(sink.records().back().source == "per-call");
    }
}

TEST_CASE("dead_letter: a call without an id gets a unique generated one") {
    rs::memory_sink sink;
    rs::resilient_call call{rs::dead_letter{sink, {.source = "svc"}}};
    std::set<std::string> ids;
    for (int i = 0; i < 100; ++i) (void)call([]() -> rs::result<int> { return fail_error(); });
    for (const auto& rec : sink.records()) {
        CHECK(rec.id_generated);
        // svc-<16 hex digits>-<sequence>
        REQUIRE(rec.id.size() > 22);
        CHECK(rec.id.substr(0, 4) == "svc-");
        CHECK(rec.id.substr(4, 16).find_first_not_of("0123456789abcdef") == std::string::npos);
        CHECK(rec.id[20] == '-');
        CHECK(rec.id.substr(21).find_first_not_of("0123456789") == std::string::npos);
        ids.insert(rec.id);
    }
    CHECK(ids.size() == 100);
}

TEST_CASE("dead_letter: a failing sink turns the failure into dead_letter_failed, keeping the original") {
    failing_sink sink;
    rs::manual_clock clk;
    recording_listener events;
    rs::resilient_call call{rs::dead_letter{sink}, test_retry{2}, clk, events};
    auto r = call([]() -> rs::result<int> {
        return rs::failure::from_error(std::make_error_code(std::errc::connection_reset), rs::transience::transient, "reset");
    });
    REQUIRE_FALSE(r.has_value());
    CHECK(sink.calls == 1);
    const rs::failure& f = r.error();
    CHECK(f.kind == rs::failure_kind::dead_letter_failed);
    CHECK(f.cause == rs::failure_kind::error);
    CHECK(f.sink_error == std::errc::no_space_on_device);
    CHECK(f.error == std::errc::connection_reset);
    CHECK(f.message == "reset");
    CHECK(f.attempts == 2);
    CHECK(f.hint == rs::transience::transient);
    REQUIRE(events.types.size() == 1);
    CHECK(events.types[0] == rs::event_type::dead_letter_failed);
}

TEST_CASE("dead_letter: a failed value stays reachable when the sink fails") {
    failing_sink sink;
    rs::resilient_call call{rs::dead_letter{sink}};
    auto r = call([]() -> rs::result<int> {
        return rs::result<int>(rs::failed_value, rs::failure::of(rs::failure_kind::error, "HTTP 503"), 503);
    });
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == rs::failure_kind::dead_letter_failed);
    REQUIRE(r.last_value() != nullptr);
    CHECK(*r.last_value() == 503);
}

TEST_CASE("dead_letter: a callback sink that fails, returns false or throws gives dead_letter_failed") {
    SECTION("returns a failure") {
        rs::callback_sink sink{[](const rs::dead_letter_record&) -> rs::result<void> {
            return rs::failure::from_error(std::make_error_code(std::errc::timed_out));
        }};
        rs::resilient_call call{rs::dead_letter{sink}};
        auto r = call([]() -> rs::result<int> { return fail_error(); });
        CHECK(r.error().kind == rs::failure_kind::dead_letter_failed);
        CHECK(r.error().sink_error == std::errc::timed_out);
    }
    SECTION("returns false: sink_error is io_error") {
        rs::callback_sink sink{[](const rs::dead_letter_record&) { return false; }};
        rs::resilient_call call{rs::dead_letter{sink}};
        auto r = call([]() -> rs::result<int> { return fail_error(); });
        CHECK(r.error().kind == rs::failure_kind::dead_letter_failed);
        CHECK(r.error().sink_error == std::errc::io_error);
    }
    SECTION("throws: caught, dead_letter_failed") {
        rs::callback_sink sink{[](const rs::dead_letter_record&) -> bool { throw std::runtime_error("sqs down"); }};
        rs::resilient_call call{rs::dead_letter{sink}};
        auto r = call([]() -> rs::result<int> { return fail_error(); });
        CHECK(r.error().kind == rs::failure_kind::dead_letter_failed);
        CHECK(r.error().cause == rs::failure_kind::error);
    }
    SECTION("void call") {
        rs::callback_sink sink{[](const rs::dead_letter_record&) { return false; }};
        rs::resilient_call call{rs::dead_letter{sink}};
        rs::result<void> r = call([]() -> rs::result<void> { return fail_error(); });
        CHECK(r.error().kind == rs::failure_kind::dead_letter_failed);
    }
}

TEST_CASE("dead_letter: events for published records") {
    rs::memory_sink sink;
    recording_listener events;
    rs::resilient_call call{rs::dead_letter{sink}, events};
    (void)call([]() -> rs::result<int> { return rs::failure::of(rs::failure_kind::timeout); });
    (void)call([] { return 1; });
    REQUIRE(events.types.size() == 1);
    CHECK(events.types[0] == rs::event_type::dead_letter_published);
    CHECK(events.kinds[0] == rs::failure_kind::timeout);
}

namespace {
bool not_cancelled(const rs::failure& f) { return f.kind != rs::failure_kind::cancelled; }
void add_tenant(rs::dead_letter_record& r, const rs::failure& f) {
    r.metadata.emplace_back("tenant", "acme");
    r.metadata.emplace_back("kind_seen", std::string(rs::to_string(f.kind)));
}
}  // namespace

TEST_CASE("dead_letter: when and enrich hooks") {
    rs::memory_sink sink;
    rs::resilient_call call{rs::dead_letter{sink, {.when = not_cancelled, .enrich = add_tenant}}};
    std::stop_source stop;
    stop.request_stop();
    auto r1 = call([] { return 1; }, {.stop = stop.get_token()});
    CHECK(r1.error().kind == rs::failure_kind::cancelled);
    CHECK(sink.size() == 0);
    (void)call([]() -> rs::result<int> { return fail_error(); });
    REQUIRE(sink.size() == 1);
    auto md = sink.records()[0].metadata;
    REQUIRE(md.size() == 2);
    CHECK(md[0].second == "acme");
    CHECK(md[1].second == "error");
}

TEST_CASE("dead_letter: options are validated, naming the field and the range") {
    rs::memory_sink sink;
    static constexpr rs::dead_letter_metadata dup[] = {{"a", "1"}, {"a", "2"}};
    static constexpr rs::dead_letter_metadata empty_key[] = {{"", "1"}};
    CHECK_FALSE(rs::dead_letter_options{}.validate().has_value());
    CHECK(rs::dead_letter_options{.source = ""}.validate()->message ==
          "dead_letter_options.source must be between 1 and 256 bytes long");
    CHECK(rs::dead_letter_options{.source = std::string_view(std::string(300, 'x'))}.validate()->field ==
          "dead_letter_options.source");
    CHECK(rs::dead_letter_options{.source = "a\nb"}.validate()->field == "dead_letter_options.source");
    CHECK(rs::dead_letter_options{.metadata = dup}.validate()->message == "dead_letter_options.metadata keys must be unique");
    CHECK(rs::dead_letter_options{.metadata = empty_key}.validate()->field == "dead_letter_options.metadata");
    REQUIRE_THROWS_AS(rs::dead_letter(sink, {.source = ""}), std::invalid_argument);
    try {
        rs::dead_letter bad(sink, {.metadata = dup});
        FAIL("no exception");
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()).find("dead_letter_options.metadata") != std::string::npos);
    }
    auto made = rs::make_dead_letter(sink, {.source = ""});
    REQUIRE_FALSE(made.has_value());
    CHECK(made.error().message == "dead_letter_options.source must be between 1 and 256 bytes long");
    auto ok = rs::make_dead_letter(sink, {.source = "fine"});
    REQUIRE(ok.has_value());
    CHECK(&ok->sink() == &sink);
}

TEST_CASE("dead_letter: concurrent failing calls each publish exactly one record") {
    rs::memory_sink sink;
    constexpr int threads = 8, per_thread = 200;
    std::vector<std::thread> pool;
    std::atomic<int> failures{0};
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            rs::resilient_call call{rs::dead_letter{sink}, test_retry{2}};
            for (int i = 0; i < per_thread; ++i) {
                std::string id = std::to_string(t) + "-" + std::to_string(i);
                bool fail = (i + t) % 2 == 0;
                auto r = call([&]() -> rs::result<int> {
                    if (fail) return fail_error();
                    return i;
                }, {.id = id});
                if (!r) failures.fetch_add(1);
            }
        });
    }
    for (auto& th : pool) th.join();
    auto recs = sink.records();
    CHECK(recs.size() == static_cast<std::size_t>(failures.load()));
    std::set<std::string> ids;
    for (const auto& r : recs) ids.insert(r.id);
    CHECK(ids.size() == recs.size());
}

// --- the JSON form -----------------------------------------------------------------------------------------

namespace {
rs::dead_letter_record sample_record() {
    rs::dead_letter_record r;
    r.id = "order-42";
    r.payload = R"({"order":42,"items":["a","b"]})";
    r.kind = rs::failure_kind::deadline_exceeded;
    r.cause = rs::failure_kind::error;
    r.hint = rs::transience::transient;
    r.message = "HTTP 503 \"unavailable\"";
    r.attempts = 3;
    r.first_attempt = rs::dead_letter_record::time_type{std::chrono::milliseconds{1'767'225'600'000}};
    r.last_attempt = r.first_attempt + 2500ms;
    r.elapsed = 2'500'000'123ns;
    r.source = "orders-api";
    r.error_category = "generic";
    r.error_value = 111;
    r.error_message = "Connection refused";
    r.metadata = {{"function", "orders-handler"}};
    return r;
}
}  // namespace

TEST_CASE("dead_letter_record: the JSON form is pinned (schema version 1)") {
    const std::string expected =
        R"({"version":"1.0","timestamp":"2026-01-01T00:00:02.500Z",)"
        R"("requestContext":{"requestId":"order-42","condition":"EventAgeExceeded","approximateInvokeCount":3},)"
        R"("requestPayload":{"order":42,"items":["a","b"]},)"
        R"("responseContext":{"functionError":"deadline_exceeded","errorMessage":"HTTP 503 \"unavailable\""},)"
        R"("resilience":{"schemaVersion":1,"source":"orders-api","cause":"error","hint":"transient",)"
        R"("idGenerated":false,"firstAttempt":"2026-01-01T00:00:00.000Z","elapsedNs":2500000123,)"
        R"("payloadEncoding":"json","error":{"category":"generic","value":111,"message":"Connection refused"},)"
        R"("metadata":{"function":"orders-handler"}}})";
    CHECK(sample_record().to_json() == expected);
    auto back = rs::parse_dead_letter_record(expected);
    REQUIRE(back.has_value());
    CHECK(*back == sample_record());
}

TEST_CASE("dead_letter_record: payloads round-trip byte for byte") {
    struct sample {
        std::string payload;
        rs::payload_encoding enc;
    };
    const std::string binary("\x00\x01\xff\xfe\x80 binary\n\r\"", 16);
    auto s = GENERATE_COPY(values<sample>({
        {"", rs::payload_encoding::none},
        {R"({"a":1})", rs::payload_encoding::json},
        {R"([1, 2, {"b": null}])", rs::payload_encoding::json},
        {R"("just a string")", rs::payload_encoding::json},
        {"42", rs::payload_encoding::json},
        {"{\n  \"pretty\": true\n}", rs::payload_encoding::string},
        {" {\"leading\":\"space\"}", rs::payload_encoding::string},
        {"{\"trailing\":1}\t", rs::payload_encoding::string},
        {"plain text, with \"quotes\" and \\ and \t tab", rs::payload_encoding::string},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", rs::payload_encoding::string},
        {"{\"a\":1} {\"b\":2}", rs::payload_encoding::string},
        {"{\"bad\":}", rs::payload_encoding::string},
        {binary, rs::payload_encoding::base64},
        {std::string("\xc0\xaf", 2), rs::payload_encoding::base64},        // overlong '/'
        {std::string("\xed\xa0\x80", 3), rs::payload_encoding::base64},    // UTF-16 surrogate in UTF-8
        {std::string(1, '\0'), rs::payload_encoding::string},
        {std::string(70, '[') + std::string(70, ']'), rs::payload_encoding::string},  // too deep to embed
    }));
    CHECK(rs::choose_payload_encoding(s.payload) == s.enc);
    rs::dead_letter_record r = sample_record();
    r.payload = s.payload;
    std::string line = r.to_json();
    CHECK(line.find('\n') == std::string::npos);
    auto back = rs::parse_dead_letter_record(line);
    INFO(line);
    REQUIRE(back.has_value());
    CHECK(back->payload == s.payload);
    CHECK(*back == r);
}

TEST_CASE("dead_letter_record: any writable record reads back equal (randomised)") {
    std::mt19937_64 rng(42);
    auto pick = [&](std::uint64_t n) { return rng() % n; };
    const std::vector<std::string> pieces = {"a", "Z", "0", " ", "\"", "\\", "\n", "\t", "{", "}", "[", "]", ":", ",",
                                             "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", std::string(1, '\0'), "\x7f", "null",
                                             "1", "-2.5e3", "true", "\"k\""};
    auto text = [&](std::size_t max) {
        std::string t;
        for (std::size_t n = pick(max + 1); n > 0; --n) t += pieces[pick(pieces.size())];
        return t;
    };
    auto bytes = [&](std::size_t max) {
        std::string b;
        for (std::size_t n = pick(max + 1); n > 0; --n) b += static_cast<char>(pick(256));
        return b;
    };
    using tt = rs::dead_letter_record::time_type;
    for (int i = 0; i < 3000; ++i) {
        rs::dead_letter_record r;
        r.id = "id" + text(6);
        r.id_generated = pick(2) == 0;
        switch (pick(4)) {
            case 0: r.payload = bytes(40); break;
            case 1: r.payload = text(20); break;
            case 2: r.payload = R"({"a":[)" + std::to_string(pick(1000)) + R"(,"x"],"b":{"c":null}})"; break;
            default: r.payload = ""; break;
        }
        r.kind = static_cast<rs::failure_kind>(pick(rs::failure_kind_count));
        r.cause = static_cast<rs::failure_kind>(pick(rs::failure_kind_count));
        r.hint = static_cast<rs::transience>(pick(3));
        r.message = text(10);
        r.attempts = static_cast<std::uint32_t>(rng());
        r.first_attempt = tt{std::chrono::milliseconds{static_cast<std::int64_t>(pick(253'402'300'800'000ULL))}};
        r.last_attempt = tt{std::chrono::milliseconds{static_cast<std::int64_t>(pick(253'402'300'800'000ULL))}};
        r.elapsed = std::chrono::nanoseconds{static_cast<std::int64_t>(rng() >> 1)};
        r.source = text(5);
        if (pick(2) == 0) {
            r.error_category = "cat" + text(3);
            r.error_value = static_cast<int>(static_cast<std::int32_t>(rng()));
            r.error_message = text(5);
        }
        if (pick(3) == 0) r.exception_message = "ex" + text(4);
        for (std::size_t m = pick(4); m > 0; --m) r.metadata.emplace_back(text(3), text(3));
        REQUIRE(r.problem().empty());
        const std::string line = r.to_json();
        INFO(line);
        REQUIRE(line.find('\n') == std::string::npos);
        auto back = rs::parse_dead_letter_record(line);
        REQUIRE(back.has_value());
        REQUIRE(*back == r);
    }
}

TEST_CASE("dead_letter_record: problem() names what cannot be written") {
    rs::dead_letter_record r;
    r.id = "x";
    CHECK(r.problem().empty());
    r.id.clear();
    CHECK(r.problem() == "the record has an empty id");
    r.id = "x";
    r.elapsed = std::chrono::nanoseconds{-1};
    CHECK(r.problem() == "the record has a negative elapsed time");
    r.elapsed = {};
    r.kind = static_cast<rs::failure_kind>(200);
    CHECK(r.problem() == "the record has an unknown failure kind");
    r.kind = rs::failure_kind::error;
    r.hint = static_cast<rs::transience>(7);
    CHECK(r.problem() == "the record has an unknown transience hint");
}

TEST_CASE("dead_letter_record: text fields with control characters and invalid UTF-8 stay on one line") {
    rs::dead_letter_record r = sample_record();
    r.id = "id\nwith\x01control";
    r.message = std::string("bad \xff utf8");
    std::string line = r.to_json();
    CHECK(line.find('\n') == std::string::npos);
    auto back = rs::parse_dead_letter_record(line);
    REQUIRE(back.has_value());
    CHECK(back->id == r.id);
    CHECK(back->message == "bad \xEF\xBF\xBD utf8");  // replaced by U+FFFD
}

TEST_CASE("parse_dead_letter_record: errors name the field and the position") {
    const std::string good = sample_record().to_json();
    auto replace = [&](std::string_view from, std::string_view to) {
        std::string s = good;
        auto at = s.find(from);
        REQUIRE(at != std::string::npos);
        s.replace(at, from.size(), to);
        return s;
    };
    struct bad_case {
        std::string line;
        std::string field;
        std::string reason;
    };
    std::vector<bad_case> cases = {
        {"", "", "unexpected end of input (expected a value)"},
        {"not json", "", "invalid literal (expected true, false or null)"},
        {"?", "", "unexpected character (expected a value)"},
        {good.substr(0, good.size() - 1), "", "unexpected end of input in an object"},
        {good + "x", "", "unexpected characters after the JSON value"},
        {"[1,2]", "", "a dead-letter record must be a JSON object"},
        {replace(R"("requestId":"order-42",)", ""), "requestContext.requestId", "missing field"},
        {replace(R"("requestId":"order-42")", R"("requestId":42)"), "requestContext.requestId", "expected a string"},
        {replace(R"("requestId":"order-42")", R"("requestId":"")"), "requestContext.requestId", "must not be empty"},
        {replace("2026-01-01T00:00:02.500Z", "2026-02-30T00:00:02.500Z"), "timestamp",
         "expected an ISO 8601 UTC timestamp like 2026-01-01T00:00:00.000Z"},
        {replace(R"("schemaVersion":1)", R"("schemaVersion":2)"), "resilience.schemaVersion",
         "written by a newer version of the schema than this reader supports"},
        {replace(R"("functionError":"deadline_exceeded")", R"("functionError":"meltdown")"),
         "responseContext.functionError", "unknown failure kind"},
        {replace(R"("approximateInvokeCount":3)", R"("approximateInvokeCount":-3)"),
         "requestContext.approximateInvokeCount", "must be an integer between 0 and 4294967295"},
        {replace(R"("approximateInvokeCount":3)", R"("approximateInvokeCount":3.5)"),
         "requestContext.approximateInvokeCount", "must be an integer between 0 and 4294967295"},
        {replace(R"("version":"1.0",)", R"("version":"1.0","version":"1.0",)"), "version", "duplicate key"},
        {replace(R"("payloadEncoding":"json")", R"("payloadEncoding":"base64")"), "requestPayload",
         "expected a string (payloadEncoding is \"base64\")"},
        {replace(R"("payloadEncoding":"json")", R"("payloadEncoding":"rot13")"), "resilience.payloadEncoding",
         "must be \"none\", \"json\", \"string\" or \"base64\""},
        {replace(R"("hint":"transient")", R"("hint":"maybe")"), "resilience.hint",
         "must be \"unknown\", \"transient\" or \"permanent\""},
        {replace(R"("elapsedNs":2500000123)", R"("elapsedNs":-1)"), "resilience.elapsedNs",
         "must be an integer between 0 and 9223372036854775807"},
        {replace(R"("function":"orders-handler")", R"("function":7)"), "resilience.metadata.function", "expected a string"},
        {replace("\"Connection refused\"", "\"Connection \xff refused\""), "", "invalid UTF-8 in a string"},
    };
    for (const auto& c : cases) {
        INFO(c.line);
        auto r = rs::parse_dead_letter_record(c.line);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().field == c.field);
        CHECK(r.error().reason == c.reason);
        CHECK(r.error().position <= c.line.size());
        CHECK_FALSE(r.error().to_string().empty());
    }
    // The position points at the offending value.
    std::string wrong = replace(R"("requestId":"order-42")", R"("requestId":42)");
    auto r = rs::parse_dead_letter_record(wrong);
    CHECK(r.error().position == wrong.find(R"(42,"condition")"));
    CHECK(r.error().to_string() == "requestContext.requestId: expected a string (at byte " + std::to_string(r.error().position) + ")");
    REQUIRE_THROWS_AS(r.value(), std::runtime_error);
}

TEST_CASE("parse_dead_letter_record: unknown fields are ignored (forward compatible)") {
    std::string line = sample_record().to_json();
    line.insert(line.size() - 2, R"(,"addedInVersion1_1":{"x":[1,2,3]})");
    line.insert(1, R"("functionArn":"arn:aws:lambda:...",)");
    auto r = rs::parse_dead_letter_record(line);
    REQUIRE(r.has_value());
    CHECK(*r == sample_record());
}

TEST_CASE("parse_dead_letter_record: hostile nesting is refused, not a stack overflow") {
    std::string deep = std::string(100000, '[') + std::string(100000, ']');
    auto r = rs::parse_dead_letter_record(deep);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().reason == "nesting too deep");
}

TEST_CASE("timestamps: format and parse") {
    using tt = rs::dead_letter_record::time_type;
    auto fmt = [](tt t) {
        std::string s;
        rs::append_timestamp(s, t);
        return s;
    };
    CHECK(fmt(tt{}) == "1970-01-01T00:00:00.000Z");
    CHECK(fmt(tt{std::chrono::milliseconds{-1}}) == "1969-12-31T23:59:59.999Z");
    CHECK(fmt(tt{std::chrono::milliseconds{951'782'400'000 + 1}}) == "2000-02-29T00:00:00.001Z");
    CHECK(fmt(tt{std::chrono::milliseconds{1'709'164'800'000}}) == "2024-02-29T00:00:00.000Z");
    CHECK(fmt(tt{std::chrono::milliseconds{std::numeric_limits<std::int64_t>::max()}}) == "9999-12-31T23:59:59.999Z");
    CHECK(fmt(tt{std::chrono::milliseconds{std::numeric_limits<std::int64_t>::min()}}) == "0000-01-01T00:00:00.000Z");
    for (std::int64_t ms : {0LL, 1LL, -1LL, 951'782'400'001LL, 1'767'225'602'500LL, 253'402'300'799'999LL, -62'167'219'200'000LL}) {
        tt t{std::chrono::milliseconds{ms}};
        auto back = rs::parse_timestamp(fmt(t));
        REQUIRE(back.has_value());
        CHECK(*back == t);
    }
    CHECK(rs::parse_timestamp("2026-01-01T00:00:00Z").has_value());
    CHECK(rs::parse_timestamp("2026-01-01T00:00:00.123456789Z") == tt{std::chrono::milliseconds{1'767'225'600'123}});
    for (const char* bad : {"", "2026-01-01", "2026-01-01T00:00:00.000", "2026-01-01T00:00:00.Z", "2026-13-01T00:00:00Z",
                            "2026-02-29T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z", "2026-01-01T00:00:60Z",
                            "2026-01-01 00:00:00Z", "2026-01-01T00:00:00+01:00", "2026-01-01T00:00:00.1234567890Z",
                            "-026-01-01T00:00:00Z", "2026-01-01T00:00:00ZZ"}) {
        INFO(bad);
        CHECK_FALSE(rs::parse_timestamp(bad).has_value());
    }
}
