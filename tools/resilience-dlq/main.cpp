// SPDX-License-Identifier: MIT
//
// resilience-dlq: inspect and replay dead-letter files written by resilience::file_sink.
//
//   resilience-dlq stats  FILE [--progress PATH]
//   resilience-dlq list   FILE [--kind KIND] [--source NAME] [--pending] [--progress PATH]
//   resilience-dlq show   FILE ID [--json] [--progress PATH]
//   resilience-dlq replay FILE [--progress PATH] [--stop-on-failure] [--dry-run] -- COMMAND [ARG...]
//
// Exit status: 0 success; 1 some records failed to replay, or `show` found no such id; 2 bad usage or a
// file that cannot be read. Lines that are not records (malformed, torn) are reported on stderr and do
// not change the exit status of stats/list/show.

#include <resilience/dead_letter.hpp>
#include <resilience/sinks/dlq_reader.hpp>
#include <resilience/sinks/dlq_replay.hpp>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace rs = resilience;

namespace {

constexpr const char* usage_text =
    "usage:\n"
    "  resilience-dlq stats  FILE [--progress PATH]\n"
    "  resilience-dlq list   FILE [--kind KIND] [--source NAME] [--pending] [--progress PATH]\n"
    "  resilience-dlq show   FILE ID [--json] [--progress PATH]\n"
    "  resilience-dlq replay FILE [--progress PATH] [--stop-on-failure] [--dry-run] -- COMMAND [ARG...]\n"
    "\n"
    "FILE is a dead-letter file written by resilience::file_sink (JSON Lines, one record per line).\n"
    "\n"
    "  stats    count records by kind and source; oldest first attempt, newest last attempt\n"
    "  list     one line per record (id, kind, source, attempts, last attempt, status, payload)\n"
    "  show     every field of the record(s) with this id, and the payload; --json prints the line\n"
    "  replay   run COMMAND once per record not yet replayed, with the payload on its standard input\n"
    "           and RESILIENCE_DLQ_ID, _KIND, _SOURCE, _ATTEMPTS in its environment; exit status 0\n"
    "           means done. Successes are recorded in the progress file (default FILE.progress), so a\n"
    "           rerun resumes; failures stay in FILE (which is never modified) for the next run.\n"
    "\n"
    "Exit status: 0 success; 1 some records failed to replay, or no record has the id; 2 bad usage or\n"
    "a file that cannot be read.\n";

int usage_error(const std::string& msg) {
    std::fprintf(stderr, "resilience-dlq: %s\n\n%s", msg.c_str(), usage_text);
    return 2;
}

struct options {
    std::string command;
    std::string file;
    std::string id;
    std::string progress;
    std::optional<std::string> kind;
    std::optional<std::string> source;
    bool pending_only = false;
    bool json = false;
    bool stop_on_failure = false;
    bool dry_run = false;
    std::vector<std::string> exec;
};

std::string progress_path(const options& o) { return o.progress.empty() ? rs::default_progress_path(o.file) : o.progress; }

std::string timestamp(rs::dead_letter_record::time_type t) {
    std::string s;
    rs::append_timestamp(s, t);
    return s;
}

// A printable one-line preview of a payload.
std::string preview(const std::string& payload, std::size_t max) {
    if (payload.empty()) return "(empty)";
    if (rs::choose_payload_encoding(payload) == rs::payload_encoding::base64) {
        return "(binary, " + std::to_string(payload.size()) + " bytes)";
    }
    std::string out;
    for (char c : payload) {
        if (out.size() >= max) {
            out += "...";
            break;
        }
        if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else if (c == '\t') out += "\\t";
        else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) out += '?';
        else out += c;
    }
    return out;
}

// Reads every entry of the file; problems go to stderr. Returns false if the file cannot be read.
bool read_records(const std::string& file, std::vector<rs::dead_letter_record>& out, std::size_t& problems) {
    auto reader = rs::dlq_reader::open(file);
    if (!reader) {
        std::fprintf(stderr, "resilience-dlq: cannot open %s: %s\n", file.c_str(), reader.error().error.message().c_str());
        return false;
    }
    problems = 0;
    for (rs::dlq_entry e; reader->next(e);) {
        if (e.kind == rs::dlq_entry_kind::record) {
            out.push_back(std::move(e.record));
            continue;
        }
        ++problems;
        std::fprintf(stderr, "resilience-dlq: %s: %s\n", file.c_str(), e.describe().c_str());
        if (e.kind == rs::dlq_entry_kind::io_error) return false;
    }
    return true;
}

bool load_done(const options& o, std::set<std::string, std::less<>>& done) {
    auto ids = rs::read_replayed_ids(progress_path(o));
    if (!ids) {
        std::fprintf(stderr, "resilience-dlq: cannot read %s: %s\n", progress_path(o).c_str(), ids.error().error.message().c_str());
        return false;
    }
    done = std::move(*ids);
    return true;
}

int cmd_stats(const options& o) {
    std::vector<rs::dead_letter_record> recs;
    std::size_t problems = 0;
    if (!read_records(o.file, recs, problems)) return 2;
    std::set<std::string, std::less<>> done;
    if (!load_done(o, done)) return 2;
    std::map<std::string, std::size_t> by_kind, by_source;
    std::set<std::string> ids, pending;
    std::optional<rs::dead_letter_record::time_type> oldest, newest;
    for (const auto& r : recs) {
        ++by_kind[std::string(rs::to_string(r.kind))];
        ++by_source[r.source];
        ids.insert(r.id);
        if (done.find(r.id) == done.end()) pending.insert(r.id);
        if (!oldest || r.first_attempt < *oldest) oldest = r.first_attempt;
        if (!newest || r.last_attempt > *newest) newest = r.last_attempt;
    }
    std::printf("file:      %s\n", o.file.c_str());
    std::printf("records:   %zu (%zu distinct ids: %zu pending, %zu replayed)\n", recs.size(), ids.size(), pending.size(),
                ids.size() - pending.size());
    if (problems == 0) std::printf("problems:  none (every line is a record)\n");
    else std::printf("problems:  %zu line%s not a record (listed on stderr)\n", problems, problems == 1 ? " is" : "s are");
    if (oldest) {
        std::printf("oldest:    %s (first attempt)\n", timestamp(*oldest).c_str());
        std::printf("newest:    %s (last attempt)\n", timestamp(*newest).c_str());
    }
    std::printf("by kind:\n");
    for (const auto& [k, n] : by_kind) std::printf("  %-20s %zu\n", k.c_str(), n);
    std::printf("by source:\n");
    for (const auto& [s, n] : by_source) std::printf("  %-20s %zu\n", s.c_str(), n);
    return 0;
}

int cmd_list(const options& o) {
    if (o.kind && !rs::parse_failure_kind(*o.kind)) return usage_error("unknown kind '" + *o.kind + "'");
    std::vector<rs::dead_letter_record> recs;
    std::size_t problems = 0;
    if (!read_records(o.file, recs, problems)) return 2;
    std::set<std::string, std::less<>> done;
    if (!load_done(o, done)) return 2;
    std::size_t idw = 2, srcw = 6;
    for (const auto& r : recs) {
        idw = std::max(idw, std::min<std::size_t>(r.id.size(), 40));
        srcw = std::max(srcw, std::min<std::size_t>(r.source.size(), 24));
    }
    std::printf("%-*s  %-17s  %-*s  %8s  %-24s  %-8s  %s\n", static_cast<int>(idw), "ID", "KIND", static_cast<int>(srcw),
                "SOURCE", "ATTEMPTS", "LAST ATTEMPT", "STATUS", "PAYLOAD");
    for (const auto& r : recs) {
        bool replayed = done.find(r.id) != done.end();
        if (o.kind && rs::to_string(r.kind) != *o.kind) continue;
        if (o.source && r.source != *o.source) continue;
        if (o.pending_only && replayed) continue;
        std::printf("%-*s  %-17s  %-*s  %8u  %-24s  %-8s  %s\n", static_cast<int>(idw), r.id.c_str(),
                    std::string(rs::to_string(r.kind)).c_str(), static_cast<int>(srcw), r.source.c_str(), r.attempts,
                    timestamp(r.last_attempt).c_str(), replayed ? "replayed" : "pending", preview(r.payload, 40).c_str());
    }
    return 0;
}

int cmd_show(const options& o) {
    std::vector<rs::dead_letter_record> recs;
    std::size_t problems = 0;
    if (!read_records(o.file, recs, problems)) return 2;
    std::set<std::string, std::less<>> done;
    if (!load_done(o, done)) return 2;
    int found = 0;
    for (const auto& r : recs) {
        if (r.id != o.id) continue;
        if (found++ > 0) std::printf("\n");
        if (o.json) {
            std::printf("%s\n", r.to_json().c_str());
            continue;
        }
        std::printf("id:            %s%s\n", r.id.c_str(), r.id_generated ? " (generated)" : "");
        std::printf("status:        %s\n", done.find(r.id) != done.end() ? "replayed" : "pending");
        std::printf("kind:          %s (cause: %s, hint: %s)\n", std::string(rs::to_string(r.kind)).c_str(),
                    std::string(rs::to_string(r.cause)).c_str(), std::string(rs::detail::transience_name(r.hint)).c_str());
        std::printf("message:       %s\n", r.message.c_str());
        std::printf("source:        %s\n", r.source.c_str());
        std::printf("attempts:      %u\n", r.attempts);
        std::printf("first attempt: %s\n", timestamp(r.first_attempt).c_str());
        std::printf("last attempt:  %s\n", timestamp(r.last_attempt).c_str());
        std::printf("elapsed:       %.3f s\n", static_cast<double>(r.elapsed.count()) / 1e9);
        if (!r.error_category.empty()) {
            std::printf("error:         %s %d: %s\n", r.error_category.c_str(), r.error_value, r.error_message.c_str());
        }
        if (!r.exception_message.empty()) std::printf("exception:     %s\n", r.exception_message.c_str());
        for (const auto& [k, v] : r.metadata) std::printf("metadata:      %s = %s\n", k.c_str(), v.c_str());
        std::printf("payload:       %zu bytes, stored as %s\n", r.payload.size(),
                    std::string(rs::to_string(rs::choose_payload_encoding(r.payload))).c_str());
        if (rs::choose_payload_encoding(r.payload) != rs::payload_encoding::base64) {
            std::fwrite(r.payload.data(), 1, r.payload.size(), stdout);
            std::printf("\n");
        }
    }
    if (found == 0) {
        std::fprintf(stderr, "resilience-dlq: no record with id '%s' in %s\n", o.id.c_str(), o.file.c_str());
        return 1;
    }
    return 0;
}

// Runs `argv` with `payload` on its standard input; true when it exits with status 0.
bool run_command(const std::vector<std::string>& argv, const rs::dead_letter_record& r, std::string& why) {
    int in[2];
    if (::pipe(in) != 0) {
        why = std::string("pipe: ") + std::strerror(errno);
        return false;
    }
    std::fflush(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) {
        why = std::string("fork: ") + std::strerror(errno);
        ::close(in[0]);
        ::close(in[1]);
        return false;
    }
    if (pid == 0) {
        ::dup2(in[0], STDIN_FILENO);
        ::close(in[0]);
        ::close(in[1]);
        std::signal(SIGPIPE, SIG_DFL);
        ::setenv("RESILIENCE_DLQ_ID", r.id.c_str(), 1);
        ::setenv("RESILIENCE_DLQ_KIND", std::string(rs::to_string(r.kind)).c_str(), 1);
        ::setenv("RESILIENCE_DLQ_SOURCE", r.source.c_str(), 1);
        ::setenv("RESILIENCE_DLQ_ATTEMPTS", std::to_string(r.attempts).c_str(), 1);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        std::fprintf(stderr, "resilience-dlq: cannot run %s: %s\n", args[0], std::strerror(errno));
        ::_exit(127);
    }
    ::close(in[0]);
    // A command that does not read its input makes the write fail with EPIPE (SIGPIPE is ignored): its
    // exit status still decides.
    std::error_code ec;
    rs::detail::write_all(in[1], r.payload, ec);
    ::close(in[1]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            why = std::string("waitpid: ") + std::strerror(errno);
            return false;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
    if (WIFEXITED(status)) why = "exit status " + std::to_string(WEXITSTATUS(status));
    else if (WIFSIGNALED(status)) why = std::string("killed by signal ") + std::to_string(WTERMSIG(status));
    else why = "abnormal end";
    return false;
}

int cmd_replay(const options& o) {
    if (o.dry_run) {
        std::vector<rs::dead_letter_record> recs;
        std::size_t problems = 0;
        if (!read_records(o.file, recs, problems)) return 2;
        std::set<std::string, std::less<>> done;
        if (!load_done(o, done)) return 2;
        std::set<std::string> seen;
        for (const auto& r : recs) {
            if (done.find(r.id) != done.end() || !seen.insert(r.id).second) continue;
            std::printf("would replay %s (%zu bytes)\n", r.id.c_str(), r.payload.size());
        }
        return 0;
    }
    std::signal(SIGPIPE, SIG_IGN);
    rs::replay_options ro;
    ro.progress_path = progress_path(o);
    ro.stop_on_failure = o.stop_on_failure;
    auto rep = rs::replay_dead_letters(o.file, [&](const rs::dead_letter_record& r) {
        std::string why;
        bool ok = run_command(o.exec, r, why);
        if (ok) std::printf("replayed %s\n", r.id.c_str());
        else std::printf("failed   %s (%s)\n", r.id.c_str(), why.c_str());
        std::fflush(stdout);
        return ok;
    }, ro);
    for (const auto& e : rep.problems) std::fprintf(stderr, "resilience-dlq: %s: %s\n", o.file.c_str(), e.describe().c_str());
    std::printf("replay: %llu replayed, %llu failed, %llu already done, %llu duplicate%s",
                static_cast<unsigned long long>(rep.replayed), static_cast<unsigned long long>(rep.failed),
                static_cast<unsigned long long>(rep.already_done), static_cast<unsigned long long>(rep.duplicates),
                rep.duplicates == 1 ? "" : "s");
    if (rep.not_attempted) std::printf(", %llu not attempted", static_cast<unsigned long long>(rep.not_attempted));
    std::printf("; progress in %s\n", ro.progress_path.c_str());
    if (rep.error) {
        std::fprintf(stderr, "resilience-dlq: replay stopped: %s: %s\n", std::string(rep.error_message).c_str(),
                     rep.error.message().c_str());
        return rep.records == 0 && rep.replayed == 0 ? 2 : 1;
    }
    if (rep.failed > 0 || rep.not_attempted > 0) {
        std::printf("failed records stay in %s; run the same command again to retry them\n", o.file.c_str());
        return 1;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) return usage_error("missing command");
    if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        std::fputs(usage_text, stdout);
        return 0;
    }
    if (args[0] == "--version") {
        std::printf("resilience-dlq (record schema version %u)\n", rs::dead_letter_record::schema_version);
        return 0;
    }
    options o;
    o.command = args[0];
    if (o.command != "stats" && o.command != "list" && o.command != "show" && o.command != "replay") {
        return usage_error("unknown command '" + o.command + "'");
    }
    std::vector<std::string> positional;
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&]() -> std::optional<std::string> {  // the option's argument
            if (i + 1 >= args.size()) return std::nullopt;
            return args[++i];
        };
        if (a == "--") {
            if (o.command != "replay") return usage_error("'--' is only for replay");
            o.exec.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
            break;
        } else if (a == "--progress") {
            auto v = value();
            if (!v) return usage_error("--progress needs a path");
            o.progress = *v;
        } else if (a == "--kind" && o.command == "list") {
            auto v = value();
            if (!v) return usage_error("--kind needs a kind");
            o.kind = *v;
        } else if (a == "--source" && o.command == "list") {
            auto v = value();
            if (!v) return usage_error("--source needs a name");
            o.source = *v;
        } else if (a == "--pending" && o.command == "list") {
            o.pending_only = true;
        } else if (a == "--json" && o.command == "show") {
            o.json = true;
        } else if (a == "--stop-on-failure" && o.command == "replay") {
            o.stop_on_failure = true;
        } else if (a == "--dry-run" && o.command == "replay") {
            o.dry_run = true;
        } else if (a.size() > 1 && a[0] == '-') {
            return usage_error("unknown option '" + a + "' for " + o.command);
        } else {
            positional.push_back(a);
        }
    }
    const std::size_t want = o.command == "show" ? 2 : 1;
    if (positional.size() < want) return usage_error(o.command == "show" ? "show needs FILE and ID" : o.command + " needs FILE");
    if (positional.size() > want) return usage_error("unexpected argument '" + positional[want] + "'");
    o.file = positional[0];
    if (o.command == "show") o.id = positional[1];
    if (o.command == "replay" && o.exec.empty() && !o.dry_run) return usage_error("replay needs '-- COMMAND [ARG...]'");

    if (o.command == "stats") return cmd_stats(o);
    if (o.command == "list") return cmd_list(o);
    if (o.command == "show") return cmd_show(o);
    return cmd_replay(o);
}
