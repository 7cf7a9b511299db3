// SPDX-License-Identifier: MIT
//
// libFuzzer target: arbitrary bytes as a dead-letter file. Whatever the input, the reader must not
// crash, hang or read out of bounds (ASan/UBSan), and what it reports must be consistent:
// - entries come in increasing line order and lie within the input;
// - every record it returns re-encodes to a line that parses back to the same record;
// - every malformed line has a reason and a position within the line.
// The JSON parser, base64, timestamps and the replay progress format get the same bytes.
//
// Run (clang): fuzz_dlq_reader -max_total_time=60 NEW_CORPUS_DIR tests/fuzz/corpus
// The corpus of malformed lines in tests/fuzz/corpus is also replayed by test_sinks_dlq_reader in every
// build.

#include <resilience/dead_letter.hpp>
#include <resilience/detail/json.hpp>
#include <resilience/sinks/dlq_reader.hpp>
#include <resilience/sinks/dlq_replay.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <set>
#include <string>
#include <string_view>

namespace rs = resilience;

namespace {
void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz_dlq_reader: invariant violated: %s\n", what);
        std::abort();
    }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    rs::dlq_reader reader(text, {.max_line_bytes = 1 << 16});
    std::uint64_t last_line = 0;
    std::uint64_t last_end = 0;
    for (rs::dlq_entry e; reader.next(e);) {
        check(e.line > last_line, "line numbers increase");
        check(e.offset >= last_end, "entries do not overlap");
        check(e.offset + e.length <= size, "entries lie within the input");
        last_line = e.line;
        last_end = e.offset + e.length;
        switch (e.kind) {
            case rs::dlq_entry_kind::record: {
                const std::string line = e.record.to_json();
                check(line.find('\n') == std::string::npos, "a record encodes to one line");
                auto again = rs::parse_dead_letter_record(line);
                check(again.has_value(), "a record re-encodes to a valid line");
                check(*again == e.record, "a record round-trips");
                break;
            }
            case rs::dlq_entry_kind::malformed:
                check(!e.error.reason.empty(), "a malformed line has a reason");
                check(e.error.position <= e.length, "the error position lies within the line");
                break;
            case rs::dlq_entry_kind::torn_tail:
                check(e.offset + e.length == size, "a torn tail ends the input");
                break;
            case rs::dlq_entry_kind::too_long:
                check(e.length > (1u << 16), "a too-long line is too long");
                break;
            case rs::dlq_entry_kind::io_error:
                check(false, "no I/O errors in memory");
                break;
        }
        check(!e.describe().empty(), "every entry can be described");
    }

    rs::detail::json::value v;
    rs::detail::json::error err;
    if (!rs::detail::json::parse(text, v, err)) check(err.position <= size, "JSON error position within the input");

    std::string decoded;
    if (rs::detail::json::decode_base64(text, decoded)) {
        std::string encoded;
        rs::detail::json::append_base64(encoded, decoded);
        check(encoded == text, "base64 is canonical");
    }

    if (auto t = rs::parse_timestamp(text)) {
        std::string s;
        rs::append_timestamp(s, *t);
        check(rs::parse_timestamp(s) == t, "timestamps round-trip");
    }

    std::set<std::string, std::less<>> done;
    std::uint64_t unreadable = 0;
    (void)rs::replay_progress::parse_lines(text, done, unreadable);
    return 0;
}
