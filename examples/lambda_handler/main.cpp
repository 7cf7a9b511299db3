// SPDX-License-Identifier: MIT
// resilience: requires fmt aws-lambda-runtime
//
// The Lambda entry point: aws-lambda-cpp's run_handler loop calls the handler once per invocation.
// Built only when find_package(aws-lambda-runtime) succeeds; see docs/aws.md for the build and deploy
// steps. The same handler runs locally, without the runtime, through local.cpp.

#include "handler.hpp"

#include <aws/lambda-runtime/runtime.h>

#include <cstdio>
#include <cstdlib>
#include <string>

using namespace aws::lambda_runtime;

namespace {

// Lives as long as the execution environment. /tmp is the only writable place in Lambda and is kept
// while the environment is reused; ship the file somewhere durable (or use a queue-backed sink).
resilience::steady_clock clock_source;
example::inventory_function<resilience::steady_clock>& function() {
    static example::inventory_function<resilience::steady_clock> fn{
        clock_source, std::getenv("DLQ_PATH") != nullptr ? std::getenv("DLQ_PATH") : "/tmp/dead-letters.jsonl", stdout};
    return fn;
}

invocation_response handler(const invocation_request& req) {
    return function().handle<invocation_response>(req);
}

}  // namespace

int main() {
    run_handler(handler);
    return 0;
}
