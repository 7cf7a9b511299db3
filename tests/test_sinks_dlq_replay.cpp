// SPDX-License-Identifier: MIT
#include "support/catch.hpp"
#include "support/temp_files.hpp"

#include <resilience/dead_letter.hpp>
#include <resilience/sinks/dlq_replay.hpp>
#include <resilience/sinks/file_sink.hpp>

#include <csignal>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace rs = resilience;

namespace {

using resilience_test::slurp;
using resilience_test::temp_dir;

rs::dead_letter_record rec(const std::string& id) {
    rs::dead_letter_record r;
    r.id = id;
    r.payload = R"({"id":")" + id + R"("})";
    r.source = "replay-test";
    return r;
}

void write_dlq(const std::string& path, const std::vector<std::string>& ids) {
    rs::file_sink sink{path, {.sync = rs::file_sync::none}};
    for (const auto& id : ids) REQUIRE(sink.publish(rec(id)).has_value());
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::stringstream ss(text);
    for (std::string l; std::getline(ss, l);) out.push_back(l);
    return out;
}

}  // namespace

TEST_CASE("replay: failures stay, successes are recorded, a rerun retries only what is left") {
    temp_dir dir;
    const std::string dlq = dir.file("dlq.jsonl");
    write_dlq(dlq, {"a", "b", "c", "d", "e"});
    const std::string before = slurp(dlq);

    std::vector<std::string> driven;
    auto first = rs::replay_dead_letters(dlq, [&](const rs::dead_letter_record& r) {
        driven.push_back(r.id);
        return r.id != "b" && r.id != "d";
    });
    CHECK_FALSE(first.error);
    CHECK(first.records == 5);
    CHECK(first.replayed == 3);
    CHECK(first.failed == 2);
    CHECK(first.failed_ids == std::vector<std::string>{"b", "d"});
    CHECK_FALSE(first.complete());
    CHECK(driven == std::vector<std::string>{"a", "b", "c", "d", "e"});
    CHECK(slurp(dlq) == before);  // the dead-letter file is never modified
    CHECK(lines_of(slurp(dlq + ".progress")).size() == 3);
    struct stat st {};
    REQUIRE(::stat((dlq + ".progress").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);

    driven.clear();
    auto second = rs::replay_dead_letters(dlq, [&](const rs::dead_letter_record& r) -> rs::result<void> {
        driven.push_back(r.id);
        return {};
    });
    CHECK(driven == std::vector<std::string>{"b", "d"});
    CHECK(second.replayed == 2);
    CHECK(second.already_done == 3);
    CHECK(second.complete());

    driven.clear();
    auto third = rs::replay_dead_letters(dlq, [&](const rs::dead_letter_record& r) {
        driven.push_back(r.id);
        return true;
    });
    CHECK(driven.empty());
    CHECK(third.already_done == 5);
    CHECK(third.complete());
}

TEST_CASE("replay: duplicates are driven once; malformed and torn lines are reported, never driven") {
    temp_dir dir;
    const std::string dlq = dir.file("dlq.jsonl");
    write_dlq(dlq, {"x", "y", "x"});
    {
        std::ofstream out(dlq, std::ios::app | std::ios::binary);
        out << "{not a record}\n" << rec("z").to_json().substr(0, 50);
    }
    std::vector<std::string> driven;
    auto rep = rs::replay_dead_letters(dlq, [&](const rs::dead_letter_record& r) {
        driven.push_back(r.id);
        return true;
    });
    CHECK(driven == std::vector<std::string>{"x", "y"});
    CHECK(rep.duplicates == 1);
    REQUIRE(rep.problems.size() == 2);
    CHECK(rep.problems[0].kind == rs::dlq_entry_kind::malformed);
    CHECK(rep.problems[0].line == 4);
    CHECK(rep.problems[1].kind == rs::dlq_entry_kind::torn_tail);
    CHECK(rep.complete());
}

TEST_CASE("replay: stop_on_failure, throwing handlers, a custom progress path, missing files") {
    temp_dir dir;
    const std::string dlq = dir.file("dlq.jsonl");
    write_dlq(dlq, {"1", "2", "3", "4"});
    SECTION("stop at the first failure") {
        auto rep = rs::replay_dead_letters(dlq, [](const rs::dead_letter_record& r) { return r.id != "2"; },
                                           {.stop_on_failure = true});
        CHECK(rep.replayed == 1);
        CHECK(rep.failed == 1);
        CHECK(rep.not_attempted == 2);
    }
    SECTION("a handler that throws counts as failed") {
        auto rep = rs::replay_dead_letters(dlq, [](const rs::dead_letter_record& r) -> bool {
            if (r.id == "3") throw std::runtime_error("downstream exploded");
            return true;
        });
        CHECK(rep.replayed == 3);
        CHECK(rep.failed_ids == std::vector<std::string>{"3"});
    }
    SECTION("custom progress file") {
        auto rep = rs::replay_dead_letters(dlq, [](const rs::dead_letter_record&) { return true; },
                                           {.progress_path = dir.file("custom.progress")});
        CHECK(rep.replayed == 4);
        CHECK(lines_of(slurp(dir.file("custom.progress"))).size() == 4);
        CHECK(::access((dlq + ".progress").c_str(), F_OK) != 0);
    }
    SECTION("missing dead-letter file") {
        auto rep = rs::replay_dead_letters(dir.file("nope.jsonl"), [](const rs::dead_letter_record&) { return true; });
        CHECK(rep.error == std::errc::no_such_file_or_directory);
        CHECK(rep.error_message == "cannot open the dead-letter file");
        CHECK_FALSE(rep.complete());
    }
    SECTION("progress file that cannot be written") {
        auto rep = rs::replay_dead_letters(dlq, [](const rs::dead_letter_record&) { return true; },
                                           {.progress_path = dir.file("no/such/dir/p")});
        CHECK(rep.error == std::errc::no_such_file_or_directory);
        CHECK(rep.replayed == 0);
    }
    SECTION("progress that cannot be recorded stops the replay") {
        auto rep = rs::replay_dead_letters(dlq, [](const rs::dead_letter_record&) { return true; },
                                           {.progress_path = "/dev/full"});
        CHECK(rep.error == std::errc::no_space_on_device);
        CHECK(rep.replayed == 1);  // the first succeeded but could not be recorded: a rerun re-drives it
    }
}

TEST_CASE("replay_progress: a torn progress line counts as not done and does not corrupt later lines") {
    temp_dir dir;
    const std::string p = dir.file("p.progress");
    {
        std::ofstream out(p, std::ios::binary);
        out << R"({"id":"done-1","replayedAt":"2026-01-01T00:00:00.000Z"})" << "\n"
            << "garbage\n"
            << R"({"id":"half)";
    }
    {
        auto prog = rs::replay_progress::open(p);
        REQUIRE(prog.has_value());
        CHECK(prog->contains("done-1"));
        CHECK_FALSE(prog->contains("half"));
        CHECK(prog->unreadable_lines() == 2);
        REQUIRE(prog->mark_done("done-2").has_value());
        CHECK(prog->contains("done-2"));
    }
    auto again = rs::replay_progress::open(p);
    REQUIRE(again.has_value());
    CHECK(again->contains("done-1"));
    CHECK(again->contains("done-2"));
    CHECK(again->size() == 2);
}

TEST_CASE("replay: a crash mid-replay resumes without re-driving what was recorded (SIGKILL, many times)") {
    temp_dir dir;
    const std::string dlq = dir.file("dlq.jsonl");
    std::vector<std::string> ids;
    for (int i = 0; i < 40; ++i) ids.push_back("ev-" + std::to_string(i));
    write_dlq(dlq, ids);
    const std::string driven_log = dir.file("driven.log");

    // Each run is a child that appends every id it drives to driven.log, and dies by SIGKILL after
    // driving its k-th record: sometimes before the side effect, sometimes after it (before the progress
    // entry), which is the worst case.
    int runs = 0, killed_after_effect = 0;
    for (int k = 1; runs < 30; k = k % 4 + 1) {
        ++runs;
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            int n = 0;
            int log = ::open(driven_log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
            (void)rs::replay_dead_letters(dlq, [&](const rs::dead_letter_record& r) {
                ++n;
                if (n == k && runs % 2 == 0) ::raise(SIGKILL);  // before the side effect
                std::string line = r.id + "\n";
                if (::write(log, line.data(), line.size()) != static_cast<ssize_t>(line.size())) ::_exit(3);
                if (n == k) ::raise(SIGKILL);  // after it, before its progress entry
                return true;
            });
            ::_exit(0);
        }
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        if (WIFEXITED(status)) {
            CHECK(WEXITSTATUS(status) == 0);
            break;  // everything replayed
        }
        REQUIRE(WIFSIGNALED(status));
        killed_after_effect += runs % 2 == 1 ? 1 : 0;
    }
    // A final, uninterrupted run finishes whatever is left.
    auto last = rs::replay_dead_letters(dlq, [&](const rs::dead_letter_record& r) {
        std::ofstream(driven_log, std::ios::app) << r.id << "\n";
        return true;
    });
    CHECK(last.complete());

    std::map<std::string, int> times;
    for (const auto& id : lines_of(slurp(driven_log))) ++times[id];
    std::set<std::string> progress;
    for (const auto& l : lines_of(slurp(dlq + ".progress"))) progress.insert(l);
    CHECK(times.size() == ids.size());  // every record was driven (at least once)
    int redriven = 0;
    for (const auto& id : ids) {
        CHECK(times[id] >= 1);
        CHECK(times[id] <= 2);  // at most once more: the one in flight when a run died
        redriven += times[id] - 1;
    }
    // Exactly the records whose run died after their side effect and before their progress entry.
    CHECK(redriven == killed_after_effect);
    CHECK(lines_of(slurp(dlq + ".progress")).size() == ids.size());  // each success recorded exactly once
    WARN("replay crash test: " << runs << " runs killed, " << redriven << " records driven twice (at-least-once)");
}
