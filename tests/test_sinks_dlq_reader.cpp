// SPDX-License-Identifier: MIT
#include "support/catch.hpp"
#include "support/temp_files.hpp"

#include <resilience/dead_letter.hpp>
#include <resilience/sinks/dlq_reader.hpp>
#include <resilience/sinks/file_sink.hpp>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace rs = resilience;
namespace fs = std::filesystem;

namespace {

using resilience_test::slurp;
using resilience_test::temp_file;

// The corpus of malformed (and valid) lines kept beside the fuzz target; found from this file's path, so
// the test needs no configuration.
fs::path corpus_dir() { return fs::path(__FILE__).parent_path() / "fuzz" / "corpus"; }

std::vector<rs::dlq_entry> read_memory(std::string_view text, rs::dlq_reader_options opts = {}) {
    std::vector<rs::dlq_entry> out;
    rs::dlq_reader r(text, opts);
    for (rs::dlq_entry e; r.next(e);) out.push_back(e);
    return out;
}

std::vector<rs::dlq_entry> read_file(const std::string& path, rs::dlq_reader_options opts = {}) {
    std::vector<rs::dlq_entry> out;
    auto r = rs::dlq_reader::open(path, opts);
    REQUIRE(r.has_value());
    for (rs::dlq_entry e; r->next(e);) out.push_back(e);
    return out;
}

bool same(const rs::dlq_entry& a, const rs::dlq_entry& b) {
    return a.kind == b.kind && a.line == b.line && a.offset == b.offset && a.length == b.length && a.record == b.record &&
           a.error.reason == b.error.reason && a.error.field == b.error.field && a.error.position == b.error.position;
}

std::string good_line(const std::string& id) {
    rs::dead_letter_record r;
    r.id = id;
    r.payload = R"({"k":"v"})";
    r.source = "reader-test";
    return r.to_json();
}

}  // namespace

TEST_CASE("dlq_reader: the corpus of malformed lines gives clear errors, never a crash") {
    REQUIRE(fs::is_directory(corpus_dir()));
    std::size_t files = 0;
    for (const auto& f : fs::directory_iterator(corpus_dir())) {
        const std::string name = f.path().filename().string();
        const std::string text = slurp(f.path());
        INFO(name);
        auto entries = read_memory(text);
        ++files;
        std::size_t records = 0, problems = 0;
        std::uint64_t last_line = 0;
        for (const auto& e : entries) {
            CHECK(e.line > last_line);
            last_line = e.line;
            CHECK(e.offset + e.length <= text.size());
            if (e.kind == rs::dlq_entry_kind::record) {
                ++records;
                // Whatever parses re-encodes to a line that parses to the same record.
                auto again = rs::parse_dead_letter_record(e.record.to_json());
                REQUIRE(again.has_value());
                CHECK(*again == e.record);
            } else {
                ++problems;
                const std::string d = e.describe();
                CHECK(d.find("line " + std::to_string(e.line)) == 0);
                if (e.kind == rs::dlq_entry_kind::malformed) {
                    CHECK_FALSE(e.error.reason.empty());
                    CHECK(e.error.position <= e.length);
                }
            }
        }
        if (name.rfind("valid-", 0) == 0) {
            CHECK(problems == 0);
            CHECK(records > 0);
        } else if (name.rfind("malformed-", 0) == 0) {
            CHECK(records == 0);
            CHECK(problems > 0);
            for (const auto& e : entries) CHECK(e.kind == rs::dlq_entry_kind::malformed);
        } else if (name.rfind("torn-", 0) == 0) {
            REQUIRE_FALSE(entries.empty());
            CHECK(entries.back().kind == rs::dlq_entry_kind::torn_tail);
            CHECK(entries.back().offset + entries.back().length == text.size());
        } else {
            CHECK(name.rfind("mixed-", 0) == 0);
            CHECK(records > 0);
            CHECK(problems > 0);
        }
        // Reading the same bytes from a file gives the same entries.
        temp_file tf(text);
        auto from_file = read_file(tf.path);
        REQUIRE(from_file.size() == entries.size());
        for (std::size_t i = 0; i < entries.size(); ++i) CHECK(same(entries[i], from_file[i]));
    }
    CHECK(files >= 40);
}

TEST_CASE("dlq_reader: a torn final line is reported, never returned as a record, even if it parses") {
    const std::string text = good_line("a") + "\n" + good_line("b");  // b's newline never made it
    auto entries = read_memory(text);
    REQUIRE(entries.size() == 2);
    CHECK(entries[0].kind == rs::dlq_entry_kind::record);
    CHECK(entries[1].kind == rs::dlq_entry_kind::torn_tail);
    CHECK(entries[1].line == 2);
    CHECK(entries[1].offset == good_line("a").size() + 1);
    CHECK(entries[1].length == good_line("b").size());
    CHECK(entries[1].describe().find("line 2 (byte ") == 0);
    CHECK(entries[1].describe().find("torn final line") != std::string::npos);
}

TEST_CASE("dlq_reader: malformed lines are reported with their line number and offset; reading goes on") {
    const std::string l1 = good_line("a"), l2 = R"({"version":"1.0"})", l3 = good_line("c");
    const std::string text = l1 + "\n" + l2 + "\n\n" + l3 + "\n";
    auto entries = read_memory(text);
    REQUIRE(entries.size() == 3);
    CHECK(entries[1].kind == rs::dlq_entry_kind::malformed);
    CHECK(entries[1].line == 2);
    CHECK(entries[1].offset == l1.size() + 1);
    CHECK(entries[1].error.field == "resilience");
    CHECK(entries[1].error.reason == "missing field");
    CHECK(entries[1].excerpt == l2);
    CHECK(entries[1].describe() == "line 2 (byte " + std::to_string(l1.size() + 1) + "): malformed: resilience: missing field (at byte 0)");
    CHECK(entries[2].kind == rs::dlq_entry_kind::record);
    CHECK(entries[2].line == 4);  // the blank line 3 is skipped but counted
    CHECK(entries[2].record.id == "c");
}

TEST_CASE("dlq_reader: a line longer than max_line_bytes is skipped without being held") {
    const std::string big(5000, 'x');
    const std::string text = good_line("a") + "\n" + big + "\n" + good_line("b") + "\n" + big;
    auto entries = read_memory(text, {.max_line_bytes = 1024});
    REQUIRE(entries.size() == 4);
    CHECK(entries[1].kind == rs::dlq_entry_kind::too_long);
    CHECK(entries[1].length == 5000);
    CHECK(entries[1].excerpt.size() <= 200);
    CHECK(entries[2].record.id == "b");
    CHECK(entries[3].kind == rs::dlq_entry_kind::torn_tail);
    CHECK(entries[3].length == 5000);
    CHECK(rs::dlq_reader_options{.max_line_bytes = 10}.validate()->field == "dlq_reader_options.max_line_bytes");
    REQUIRE_THROWS_AS(rs::dlq_reader("", {.max_line_bytes = 10}), std::invalid_argument);
}

TEST_CASE("dlq_reader: lines crossing the read buffer's boundaries read the same as from memory") {
    std::string text;
    for (int i = 0; i < 300; ++i) {
        rs::dead_letter_record r;
        r.id = "id-" + std::to_string(i);
        r.payload = std::string(static_cast<std::size_t>((i * 7919) % 9000), 'p');
        text += r.to_json() + "\n";
        if (i % 50 == 0) text += "garbage line " + std::to_string(i) + "\n";
    }
    text += "{\"torn";
    REQUIRE(text.size() > 3 * 65536);
    temp_file tf(text);
    auto a = read_memory(text);
    auto b = read_file(tf.path);
    REQUIRE(a.size() == b.size());
    REQUIRE(a.size() == 300 + 6 + 1);
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(same(a[i], b[i]));
    CHECK(b.back().kind == rs::dlq_entry_kind::torn_tail);
}

TEST_CASE("dlq_reader: counters, a missing file, and moving a reader mid-file") {
    auto missing = rs::dlq_reader::open("/nonexistent/dir/dlq.jsonl");
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().error == std::errc::no_such_file_or_directory);

    std::string text;
    for (int i = 0; i < 2000; ++i) text += good_line("m" + std::to_string(i)) + "\n";
    temp_file tf(text);
    auto opened = rs::dlq_reader::open(tf.path);
    REQUIRE(opened.has_value());
    rs::dlq_entry e;
    for (int i = 0; i < 700; ++i) REQUIRE(opened->next(e));
    rs::dlq_reader moved(std::move(*opened));
    int rest = 0;
    while (moved.next(e)) {
        REQUIRE(e.kind == rs::dlq_entry_kind::record);
        ++rest;
    }
    CHECK(rest == 1300);
    CHECK(e.record.id == "m1999");
    CHECK(moved.counts().records == 2000);
    CHECK_FALSE(opened->next(e));
}

TEST_CASE("dlq_reader: reading a file while a file_sink appends to it sees whole records only") {
    temp_file tf("");
    rs::file_sink sink{tf.path, {.sync = rs::file_sync::none}};
    std::atomic<bool> done{false};
    std::atomic<int> failures{0};  // Catch2 assertions are not thread-safe: count, check after join
    std::thread writer([&] {
        for (int i = 0; i < 400; ++i) {
            rs::dead_letter_record r;
            r.id = "w" + std::to_string(i);
            r.payload = std::string(static_cast<std::size_t>(i * 37 % 20000), 'w');
            if (!sink.publish(r)) ++failures;
        }
        done = true;
    });
    std::size_t last_count = 0;
    while (!done) {
        auto entries = read_file(tf.path);
        std::size_t records = 0;
        for (std::size_t i = 0; i < entries.size(); ++i) {
            if (entries[i].kind == rs::dlq_entry_kind::record) {
                CHECK(entries[i].record.id == "w" + std::to_string(records));
                ++records;
            } else {
                CHECK(entries[i].kind == rs::dlq_entry_kind::torn_tail);  // a write in progress
                CHECK(i + 1 == entries.size());
            }
        }
        CHECK(records >= last_count);
        last_count = records;
    }
    writer.join();
    CHECK(failures == 0);
    CHECK(read_file(tf.path).size() == 400);
}
