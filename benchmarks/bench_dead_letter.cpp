// SPDX-License-Identifier: MIT
//
// `dead_letter`: alone on the happy path (nothing to write), and `file_sink` throughput -- dead-letter
// records per second through the policy, durable before each call returns: one fsync per record, and
// group commit (concurrent publishers sharing syncs).
//
// The files go to the directory named by the environment variable RESILIENCE_BENCH_DIR, or to the
// system's temporary directory; they are deleted at the end. fsync figures depend entirely on the disk
// under that directory.

#include "bench_common.hpp"

#include <resilience/dead_letter.hpp>
#include <resilience/resilient_call.hpp>
#include <resilience/sinks/file_sink.hpp>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <unistd.h>

namespace {

using namespace bench;
namespace fs = std::filesystem;

fs::path bench_dir() {
    if (const char* d = std::getenv("RESILIENCE_BENCH_DIR"); d != nullptr && *d != '\0') return d;
    return fs::temp_directory_path();
}

/// A file path unique to this process and `name`, removed (with any rotated files) when destroyed.
class scratch_file {
public:
    explicit scratch_file(const char* name)
        : path_(bench_dir() / ("resilience-bench-" + std::to_string(::getpid()) + "-" + name + ".jsonl")) {
        remove_all();
    }
    scratch_file(const scratch_file&) = delete;
    scratch_file& operator=(const scratch_file&) = delete;
    ~scratch_file() { remove_all(); }
    [[nodiscard]] std::string str() const { return path_.string(); }

private:
    void remove_all() const {
        std::error_code ec;
        fs::remove(path_, ec);
        for (int i = 1; i <= 4; ++i) fs::remove(path_.string() + "." + std::to_string(i), ec);
    }
    fs::path path_;
};

// Bounded file growth whatever the disk's speed: rotate at 64 MiB, keep one rotated file.
rs::file_sink_options bounded(rs::file_sink_options o) {
    o.max_file_bytes = std::uint64_t{64} << 20;
    o.max_rotated_files = 1;
    return o;
}

// --- happy/dead_letter: the call succeeds, nothing is written ------------------------------------------

void dl_hand_written(benchmark::State& state) {
    for (auto _ : state) {
        int v = dependency();
        if (v < 0) [[unlikely]] must_not_run();  // would build and write the record
        benchmark::DoNotOptimize(v);
    }
}

void dl_resilience(benchmark::State& state) {
    scratch_file file{"happy"};
    rs::file_sink sink{file.str()};
    rs::resilient_call call{rs::dead_letter{sink, {.source = "bench"}}};
    auto f = [] { return to_result(dependency()); };
    if (!check(state, call(f).has_value(), "the call succeeds")) return;
    for (auto _ : state) {
        auto r = call(f);
        benchmark::DoNotOptimize(r);
    }
    check(state, sink.stats().records == 0, "nothing was written");
}

BENCHMARK(direct_call)->Name("happy/dead_letter/direct");
BENCHMARK(dl_hand_written)->Name("happy/dead_letter/hand_written");
BENCHMARK(dl_resilience)->Name("happy/dead_letter/resilience");

// --- file_sink: failed calls whose records are written durably ----------------------------------------

/// Every thread makes failing calls through a dead_letter policy on one shared sink; each call returns
/// once its record is durable. Reports records per second over all threads (wall time).
void publish_records(benchmark::State& state, const char* name, rs::file_sink_options opts) {
    static std::unique_ptr<scratch_file> file;
    static std::unique_ptr<rs::file_sink<>> sink;
    if (state.thread_index() == 0) {
        file = std::make_unique<scratch_file>(name);
        sink = std::make_unique<rs::file_sink<>>(file->str(), bounded(opts));
    }
    // Google Benchmark starts the timed loops of all threads together, after this set-up.
    rs::file_sink<>* s = nullptr;
    std::uint64_t failures = 0;
    for (auto _ : state) {
        if (s == nullptr) s = sink.get();
        rs::resilient_call call{rs::dead_letter{*s, {.source = "bench"}}};
        auto r = call([] { return to_result(dependency(1, 2)); },
                      {.id = "bench-call", .payload = R"({"order":42,"items":["a","b"]})"});
        if (r.has_value() || r.error().kind != rs::failure_kind::error) ++failures;
        benchmark::DoNotOptimize(r);
    }
    check(state, failures == 0, "every record was published (the call kept its own failure)");
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    if (state.thread_index() == 0) {
        // The other threads have left their loops; their records are in the stats.
        const auto st = sink->stats();
        check(state, st.failures == 0, "the sink reported no failure");
        state.counters["records_per_sync"] = st.syncs == 0 ? 0.0 : static_cast<double>(st.records) / static_cast<double>(st.syncs);
    }
}

void fsync_per_record(benchmark::State& state) { publish_records(state, "fsync", {}); }
void group_commit(benchmark::State& state) {
    publish_records(state, "group", {.records_per_fsync = 4, .max_commit_delay = 1ms});
}

BENCHMARK(fsync_per_record)->Name("file_sink/fsync_per_record")->Threads(1)->Threads(4)->UseRealTime();
BENCHMARK(group_commit)->Name("file_sink/group_commit")->Threads(4)->UseRealTime();

}  // namespace

RESILIENCE_BENCH_MAIN()
