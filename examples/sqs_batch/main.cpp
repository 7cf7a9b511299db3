// SPDX-License-Identifier: MIT
// resilience: requires aws-lambda-runtime
//
// The Lambda entry point for the SQS example. Built only when find_package(aws-lambda-runtime)
// succeeds; see docs/aws.md for the event source mapping (ReportBatchItemFailures) and the queue's
// redrive policy (maxReceiveCount must equal order_processor::max_receive_count).

#include "handler.hpp"

#include <aws/lambda-runtime/runtime.h>

#include <cstdlib>

using namespace aws::lambda_runtime;

namespace {

resilience::steady_clock clock_source;

example::order_processor<resilience::steady_clock>& processor() {
    static example::order_processor<resilience::steady_clock> p{
        clock_source, std::getenv("DLQ_PATH") != nullptr ? std::getenv("DLQ_PATH") : "/tmp/orders-dead-letters.jsonl"};
    return p;
}

invocation_response handler(const invocation_request& req) { return processor().handle<invocation_response>(req); }

}  // namespace

int main() {
    run_handler(handler);
    return 0;
}
