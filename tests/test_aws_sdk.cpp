// SPDX-License-Identifier: MIT
#include "support/allocations.hpp"
#include "support/catch.hpp"

#include <resilience/aws/sdk.hpp>
#include <resilience/resilient_call.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <map>
#include <memory>
#include <string>
#include <utility>

// Counts this thread's allocations, to prove the "allocates nothing" claims (skipped under TSan).
using resilience_test::allocations_during;

namespace rs = resilience;
using namespace std::chrono;
using namespace std::chrono_literals;

// Types of the same shape as the AWS SDK for C++ (aws-cpp-sdk-core): Aws::Http::HttpResponseCode,
// Aws::Client::CoreErrors, Aws::Client::AWSError<E>, Aws::Utils::Outcome<R, E>,
// Aws::Client::RetryStrategy and Aws::Client::ClientConfiguration. Only the members the integration
// reads are reproduced.
namespace fake_aws {

enum class HttpResponseCode {
    REQUEST_NOT_MADE = -1,
    OK = 200,
    BAD_REQUEST = 400,
    NOT_FOUND = 404,
    TOO_MANY_REQUESTS = 429,
    INTERNAL_SERVER_ERROR = 500,
    SERVICE_UNAVAILABLE = 503,
};

enum class CoreErrors { INCOMPLETE_SIGNATURE = 0, THROTTLING = 6, NETWORK_CONNECTION = 99 };

template <class ERROR_TYPE>
class AWSError {
public:
    AWSError() = default;
    AWSError(ERROR_TYPE type, std::string name, std::string message, bool retryable)
        : type_(type), name_(std::move(name)), message_(std::move(message)), retryable_(retryable) {}

    ERROR_TYPE GetErrorType() const { return type_; }
    const std::string& GetExceptionName() const { return name_; }
    const std::string& GetMessage() const { return message_; }
    bool ShouldRetry() const { return retryable_; }
    bool ShouldThrottle() const { return throttling_; }
    HttpResponseCode GetResponseCode() const { return code_; }
    const std::map<std::string, std::string>& GetResponseHeaders() const { return headers_; }

    AWSError& code(HttpResponseCode c) {
        code_ = c;
        return *this;
    }
    AWSError& header(std::string k, std::string v) {
        headers_[std::move(k)] = std::move(v);
        return *this;
    }
    AWSError& throttling(bool t) {
        throttling_ = t;
        return *this;
    }

private:
    ERROR_TYPE type_{};
    std::string name_;
    std::string message_;
    bool retryable_ = false;
    bool throttling_ = false;
    HttpResponseCode code_ = HttpResponseCode::REQUEST_NOT_MADE;
    std::map<std::string, std::string> headers_;
};

template <class R, class E>
class Outcome {
public:
    Outcome(R r) : result_(std::move(r)), success_(true) {}  // NOLINT
    Outcome(E e) : error_(std::move(e)), success_(false) {}  // NOLINT
    bool IsSuccess() const { return success_; }
    const R& GetResult() const { return result_; }
    const E& GetError() const { return error_; }

private:
    R result_{};
    E error_{};
    bool success_;
};

struct GetItemResult {
    std::string item;
};
using GetItemOutcome = Outcome<GetItemResult, AWSError<CoreErrors>>;

class RetryStrategy {
public:
    virtual ~RetryStrategy() = default;
    virtual bool ShouldRetry(const AWSError<CoreErrors>& error, long attemptedRetries) const = 0;
    virtual long CalculateDelayBeforeNextRetry(const AWSError<CoreErrors>& error, long attemptedRetries) const = 0;
    virtual long GetMaxAttempts() const { return 0; }
};

class StandardRetryStrategy : public RetryStrategy {
public:
    explicit StandardRetryStrategy(long max = 3) : max_(max) {}
    bool ShouldRetry(const AWSError<CoreErrors>& e, long n) const override { return e.ShouldRetry() && n + 1 < max_; }
    long CalculateDelayBeforeNextRetry(const AWSError<CoreErrors>&, long n) const override { return 25L << n; }
    long GetMaxAttempts() const override { return max_; }

private:
    long max_;
};

struct ClientConfiguration {
    long requestTimeoutMs = 3000;
    long connectTimeoutMs = 1000;
    long httpRequestTimeoutMs = 0;
    std::shared_ptr<RetryStrategy> retryStrategy = std::make_shared<StandardRetryStrategy>();
};

// An older SDK's error: no ShouldThrottle, no headers, no response code.
struct LegacyError {
    bool retryable = false;
    std::string name;
    bool ShouldRetry() const { return retryable; }
    const std::string& GetExceptionName() const { return name; }
};

}  // namespace fake_aws

namespace {

using Error = fake_aws::AWSError<fake_aws::CoreErrors>;
using fake_aws::CoreErrors;
using fake_aws::HttpResponseCode;

const auto wall_now = sys_days{year{2026} / 1 / 1} + 12h;

Error service_error(HttpResponseCode code, bool retryable, std::string name = "ServiceError") {
    return Error(CoreErrors::INCOMPLETE_SIGNATURE, std::move(name), "message from the service", retryable).code(code);
}

}  // namespace

static_assert(rs::aws::sdk_error<Error>);
static_assert(rs::aws::sdk_outcome<fake_aws::GetItemOutcome>);
static_assert(!rs::aws::sdk_outcome<int>);

TEST_CASE("a successful outcome is a success", "[aws][sdk]") {
    fake_aws::GetItemOutcome o(fake_aws::GetItemResult{"item-1"});
    CHECK(rs::aws::sdk_verdict(o) == rs::verdict::success);
    CHECK_FALSE(rs::aws::outcome_failure(o, wall_now));
    auto r = rs::aws::classify_outcome(std::move(o), wall_now);
    REQUIRE(r.has_value());
    CHECK(r->GetResult().item == "item-1");
}

TEST_CASE("ShouldRetry decides transient or permanent", "[aws][sdk]") {
    SECTION("a retryable 500") {
        fake_aws::GetItemOutcome o(service_error(HttpResponseCode::INTERNAL_SERVER_ERROR, true));
        CHECK(rs::aws::sdk_verdict(o) == rs::verdict::transient);
        auto r = rs::aws::classify_outcome(o, wall_now);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == rs::failure_kind::error);
        CHECK(r.error().hint == rs::transience::transient);
        CHECK(r.error().error == rs::make_http_error_code(500));
        CHECK(r.error().retry_after == 0s);
        CHECK(rs::default_classifier{}(r) == rs::verdict::transient);
        // The outcome stays reachable, with the SDK's own message.
        REQUIRE(r.last_value() != nullptr);
        CHECK(r.last_value()->GetError().GetMessage() == "message from the service");
    }
    SECTION("a non-retryable 404") {
        fake_aws::GetItemOutcome o(service_error(HttpResponseCode::NOT_FOUND, false, "ResourceNotFoundException"));
        CHECK(rs::aws::sdk_verdict(o) == rs::verdict::permanent);
        auto r = rs::aws::classify_outcome(o, wall_now);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().hint == rs::transience::permanent);
        CHECK(rs::default_classifier{}(r) == rs::verdict::permanent);
    }
    SECTION("the SDK knows better than the status: a retryable 400") {
        // DynamoDB reports ProvisionedThroughputExceededException with a 400 and marks it retryable.
        fake_aws::GetItemOutcome o(service_error(HttpResponseCode::BAD_REQUEST, true, "SomeRetryableException"));
        CHECK(rs::aws::sdk_verdict(o) == rs::verdict::transient);
        CHECK(rs::aws::outcome_failure(o, wall_now)->hint == rs::transience::transient);
    }
    SECTION("no response: the SDK error type becomes the error code") {
        fake_aws::GetItemOutcome o(Error(CoreErrors::NETWORK_CONNECTION, "", "connection refused", true));
        auto f = rs::aws::outcome_failure(o, wall_now);
        REQUIRE(f);
        CHECK(f->hint == rs::transience::transient);
        CHECK(f->error.category() == rs::aws::sdk_category());
        CHECK(f->error.value() == 99);
        CHECK(f->error.message().find("99") != std::string::npos);
        CHECK(rs::aws::sdk_response_code(o.GetError()) == 0);
    }
}

TEST_CASE("throttling is rate_limited with the service's delay", "[aws][sdk]") {
    SECTION("ShouldThrottle and x-amz-retry-after in milliseconds") {
        auto e = service_error(HttpResponseCode::BAD_REQUEST, true, "ThrottlingException")
                     .throttling(true)
                     .header("x-amz-retry-after", "1500");
        auto f = rs::aws::sdk_failure(e, wall_now);
        CHECK(f.kind == rs::failure_kind::rate_limited);
        CHECK(f.cause == rs::failure_kind::rate_limited);
        CHECK(rs::is_rejection(f.kind));  // a breaker does not count it against the dependency
        CHECK(f.hint == rs::transience::transient);
        CHECK(f.retry_after == 1500ms);
    }
    SECTION("429 with Retry-After in seconds") {
        auto e = service_error(HttpResponseCode::TOO_MANY_REQUESTS, false).header("retry-after", "3");
        auto f = rs::aws::sdk_failure(e, wall_now);
        CHECK(f.kind == rs::failure_kind::rate_limited);
        CHECK(f.hint == rs::transience::transient);  // throttling is worth retrying, whatever ShouldRetry says
        CHECK(f.retry_after == 3s);
    }
    SECTION("Retry-After as an HTTP-date, header names in any case") {
        auto e = service_error(HttpResponseCode::SERVICE_UNAVAILABLE, true).header("Retry-After", "Thu, 01 Jan 2026 12:00:10 GMT");
        CHECK(rs::aws::sdk_failure(e, wall_now).retry_after == 10s);
        CHECK(rs::aws::sdk_failure(e, wall_now).kind == rs::failure_kind::error);
    }
    SECTION("x-amz-retry-after wins; a malformed one falls back to Retry-After") {
        auto both = service_error(HttpResponseCode::SERVICE_UNAVAILABLE, true)
                        .header("x-amz-retry-after", "250")
                        .header("retry-after", "7");
        CHECK(rs::aws::sdk_retry_after(both, wall_now) == 250ms);
        auto bad = service_error(HttpResponseCode::SERVICE_UNAVAILABLE, true)
                       .header("x-amz-retry-after", "soon")
                       .header("retry-after", "7");
        CHECK(rs::aws::sdk_retry_after(bad, wall_now) == 7s);
        auto neither_valid = service_error(HttpResponseCode::SERVICE_UNAVAILABLE, true)
                                 .header("x-amz-retry-after", "-5")
                                 .header("retry-after", "later");
        CHECK(rs::aws::sdk_retry_after(neither_valid, wall_now) == 0s);
    }
    SECTION("absurd hints are capped") {
        auto e = service_error(HttpResponseCode::SERVICE_UNAVAILABLE, true).header("x-amz-retry-after", "99999999999999999999999");
        CHECK(rs::aws::sdk_retry_after(e, wall_now) == rs::default_retry_after_cap);
        rs::aws::sdk_classify_options opts{.max_retry_after = 2s};
        CHECK(rs::aws::sdk_failure(e, wall_now, opts).retry_after == 2s);
    }
    SECTION("a throttling exception name without ShouldThrottle") {
        fake_aws::LegacyError legacy{true, "SlowDown"};
        CHECK(rs::aws::sdk_is_throttling(legacy));
        auto f = rs::aws::sdk_failure(legacy, wall_now);
        CHECK(f.kind == rs::failure_kind::rate_limited);
        CHECK(f.error == std::make_error_code(std::errc::io_error));
        fake_aws::LegacyError other{false, "ValidationException"};
        CHECK_FALSE(rs::aws::sdk_is_throttling(other));
        CHECK(rs::aws::sdk_failure(other, wall_now).hint == rs::transience::permanent);
    }
    SECTION("throttling as a counted error when configured") {
        auto e = service_error(HttpResponseCode::TOO_MANY_REQUESTS, true);
        auto f = rs::aws::sdk_failure(e, wall_now, {.throttling_is_rate_limited = false});
        CHECK(f.kind == rs::failure_kind::error);
        CHECK(f.hint == rs::transience::transient);
    }
}

TEST_CASE("sdk_classify_options are validated", "[aws][sdk]") {
    CHECK_FALSE(rs::aws::sdk_classify_options{}.validate());
    auto neg = rs::aws::sdk_classify_options{.max_retry_after = -1s}.validate();
    REQUIRE(neg);
    CHECK(neg->field == "sdk_classify_options.max_retry_after");
    CHECK(neg->message.find("between 0 and 24 hours") != std::string_view::npos);
    CHECK(rs::aws::sdk_classify_options{.max_retry_after = 25h}.validate());
    auto e = service_error(HttpResponseCode::SERVICE_UNAVAILABLE, true);
    REQUIRE_THROWS_AS(rs::aws::sdk_failure(e, wall_now, {.max_retry_after = 48h}), std::invalid_argument);
}

TEST_CASE("classified outcomes flow through a resilient_call", "[aws][sdk]") {
    rs::resilient_call call{rs::steady_clock{}};
    int calls = 0;
    auto r = call([&] {
        ++calls;
        return rs::aws::classify_outcome(
            fake_aws::GetItemOutcome(service_error(HttpResponseCode::SERVICE_UNAVAILABLE, true)), wall_now);
    });
    static_assert(std::is_same_v<decltype(r), rs::result<fake_aws::GetItemOutcome>>);
    CHECK(calls == 1);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().attempts == 1);
    CHECK(r.error().hint == rs::transience::transient);
    REQUIRE(r.last_value());
    CHECK_FALSE(r.last_value()->IsSuccess());
}

template <>
struct resilience::customize::outcome_classifier<fake_aws::GetItemOutcome>
    : resilience::aws::sdk_outcome_classifier<fake_aws::GetItemOutcome> {};

TEST_CASE("sdk_outcome_classifier classifies raw outcomes in every composition", "[aws][sdk]") {
    static_assert(rs::has_outcome_classifier<fake_aws::GetItemOutcome>);
    rs::resilient_call call{rs::steady_clock{}};
    auto bad = call([] { return fake_aws::GetItemOutcome(service_error(HttpResponseCode::NOT_FOUND, false)); });
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().hint == rs::transience::permanent);
    CHECK(bad.error().error.value() == 404);
    REQUIRE(bad.last_value());
    auto good = call([] { return fake_aws::GetItemOutcome(fake_aws::GetItemResult{"x"}); });
    REQUIRE(good.has_value());
    CHECK(good->GetResult().item == "x");
}

TEST_CASE("disable_sdk_retries installs a strategy that never retries", "[aws][sdk]") {
    fake_aws::ClientConfiguration cfg;
    CHECK(rs::aws::sdk_max_attempts(cfg) == 3);
    CHECK(rs::aws::combined_attempts(4, rs::aws::sdk_max_attempts(cfg)) == 12);

    rs::aws::disable_sdk_retries(cfg);
    REQUIRE(cfg.retryStrategy);
    auto e = service_error(HttpResponseCode::SERVICE_UNAVAILABLE, true);
    CHECK_FALSE(cfg.retryStrategy->ShouldRetry(e, 0));
    CHECK(cfg.retryStrategy->CalculateDelayBeforeNextRetry(e, 0) == 0);
    CHECK(cfg.retryStrategy->GetMaxAttempts() == 1);
    CHECK(rs::aws::sdk_max_attempts(cfg) == 1);
    CHECK(rs::aws::combined_attempts(4, rs::aws::sdk_max_attempts(cfg)) == 4);

    cfg.retryStrategy.reset();
    CHECK(rs::aws::sdk_max_attempts(cfg) == 3);
    CHECK(rs::aws::sdk_max_attempts(cfg, 11) == 11);
    CHECK(rs::aws::combined_attempts(0, 0) == 1);
    CHECK(rs::aws::combined_attempts(1000, 1000) == 1'000'000);
}

TEST_CASE("align_sdk_timeouts caps the SDK's waits at the attempt budget", "[aws][sdk]") {
    fake_aws::ClientConfiguration cfg;
    cfg.connectTimeoutMs = 200;
    rs::aws::align_sdk_timeouts(cfg, 500ms);
    CHECK(cfg.connectTimeoutMs == 200);        // already shorter: kept
    CHECK(cfg.requestTimeoutMs == 500);        // 3000 -> 500
    CHECK(cfg.httpRequestTimeoutMs == 500);    // 0 (none) -> 500

    struct minimal_config {
        int connectTimeoutMs = 0;
    } m;
    rs::aws::align_sdk_timeouts(m, 2s);
    CHECK(m.connectTimeoutMs == 2000);

    REQUIRE_THROWS_AS(rs::aws::align_sdk_timeouts(cfg, 0ms), std::invalid_argument);
    REQUIRE_THROWS_AS(rs::aws::align_sdk_timeouts(cfg, 16min), std::invalid_argument);
}

TEST_CASE("classifying an SDK error allocates nothing", "[aws][sdk][alloc]") {
    if (!RESILIENCE_TEST_COUNTS_ALLOCATIONS) return;
    REQUIRE(allocations_during([] { ::operator delete(::operator new(16)); }) == 1);  // the counter counts
    auto e = service_error(HttpResponseCode::TOO_MANY_REQUESTS, true).throttling(true)
                 .header("x-amz-retry-after", "1500").header("retry-after", "Thu, 01 Jan 2026 12:00:10 GMT");
    fake_aws::GetItemOutcome o(e);
    rs::failure f;
    std::uint64_t n = allocations_during([&] {
        f = rs::aws::sdk_failure(e, wall_now);
        (void)rs::aws::sdk_verdict(o);
        (void)rs::aws::outcome_failure(o, wall_now);
    });
    CHECK(n == 0);
    CHECK(f.retry_after == 1500ms);
}
