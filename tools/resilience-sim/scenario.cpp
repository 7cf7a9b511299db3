// SPDX-License-Identifier: MIT
// resilience: requires nlohmann_json
//
// Scenario files: JSON (schema in docs/simulator.md), parsed with nlohmann/json and validated field by
// field. Every error names the field's path and its line in the file: nlohmann/json does not keep
// positions, so on error a small scanner walks the text once to find the line of that path.

#include "sim.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <map>
#include <set>
#include <sstream>

namespace resilience_sim {

scenario_error::scenario_error(std::string p, int l, const std::string& what)
    : std::runtime_error(what), path(std::move(p)), line(l) {}

namespace {

using nlohmann::json;

// ---- locating a path's line ------------------------------------------------------------------------

// Walks JSON text, recording the line where each value starts, keyed by its path ("a.b[2].c").
class line_locator {
public:
    explicit line_locator(const std::string& t) : text_(t) {}
    std::map<std::string, int> run() {
        skip_ws();
        value("");
        return lines_;
    }

private:
    void skip_ws() {
        while (pos_ < text_.size()) {
            char c = text_[pos_];
            if (c == '\n') ++line_;
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n') ++pos_;
            else break;
        }
    }
    std::string string_token() {
        std::string out;
        ++pos_;  // opening quote
        while (pos_ < text_.size() && text_[pos_] != '"') {
            if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) ++pos_;
            if (text_[pos_] == '\n') ++line_;
            out += text_[pos_++];
        }
        ++pos_;
        return out;
    }
    void value(const std::string& path) {
        skip_ws();
        if (pos_ >= text_.size() || depth_ > 64) return;
        lines_.emplace(path, line_);
        char c = text_[pos_];
        if (c == '{') {
            ++pos_;
            ++depth_;
            for (;;) {
                skip_ws();
                if (pos_ >= text_.size()) return;
                if (text_[pos_] == '}') { ++pos_; break; }
                if (text_[pos_] == ',') { ++pos_; continue; }
                if (text_[pos_] != '"') return;
                int key_line = line_;
                std::string key = string_token();
                std::string child = path.empty() ? key : path + "." + key;
                lines_.emplace(child, key_line);
                skip_ws();
                if (pos_ < text_.size() && text_[pos_] == ':') ++pos_;
                value(child);
            }
            --depth_;
        } else if (c == '[') {
            ++pos_;
            ++depth_;
            for (int i = 0;; ++i) {
                skip_ws();
                if (pos_ >= text_.size()) return;
                if (text_[pos_] == ']') { ++pos_; break; }
                if (text_[pos_] == ',') { ++pos_; --i; continue; }
                value(path + "[" + std::to_string(i) + "]");
            }
            --depth_;
        } else if (c == '"') {
            (void)string_token();
        } else {
            while (pos_ < text_.size() && std::string_view(",}] \t\r\n").find(text_[pos_]) == std::string_view::npos) ++pos_;
        }
    }

    const std::string& text_;
    std::size_t pos_ = 0;
    int line_ = 1;
    int depth_ = 0;
    std::map<std::string, int> lines_;
};

// ---- reading fields --------------------------------------------------------------------------------

class reader {
public:
    explicit reader(const std::string& text) : text_(text) {}

    [[noreturn]] void fail(const std::string& path, const std::string& what) const {
        auto lines = line_locator(text_).run();
        int line = 0;
        // The deepest known prefix of the path gives the line (a missing field: its parent object).
        for (std::string p = path;; ) {
            if (auto it = lines.find(p); it != lines.end()) { line = it->second; break; }
            auto cut = p.find_last_of(".[");
            if (cut == std::string::npos) { break; }
            p.resize(cut);
        }
        std::ostringstream msg;
        msg << "scenario: " << (path.empty() ? "<document>" : path);
        if (line > 0) msg << " (line " << line << ")";
        msg << ": " << what;
        throw scenario_error(path, line, msg.str());
    }

    static std::string join(const std::string& base, const std::string& key) {
        return base.empty() ? key : base + "." + key;
    }

    // Rejects keys the schema does not know: a typo must not silently become a default.
    void known_keys(const json& obj, const std::string& path, std::set<std::string> keys) const {
        if (!obj.is_object()) fail(path, "must be an object");
        for (auto& [k, v] : obj.items()) {
            (void)v;
            if (!keys.count(k)) {
                std::string list;
                for (auto& kk : keys) list += (list.empty() ? "" : ", ") + kk;
                fail(join(path, k), "unknown field (known: " + list + ")");
            }
        }
    }

    double number(const json& obj, const std::string& path, const std::string& key, double def, double lo, double hi,
                  bool lo_open = false) const {
        if (!obj.contains(key)) return def;
        const json& v = obj.at(key);
        std::string p = join(path, key);
        if (!v.is_number()) fail(p, "must be a number");
        double d = v.get<double>();
        if (!std::isfinite(d)) fail(p, "must be finite");
        bool low_bad = lo_open ? !(d > lo) : d < lo;
        if (low_bad || d > hi) {
            std::ostringstream m;
            m << "must be " << (lo_open ? "> " : ">= ") << lo << " and <= " << hi << " (got " << d << ")";
            fail(p, m.str());
        }
        return d;
    }
    std::uint32_t integer(const json& obj, const std::string& path, const std::string& key, std::uint32_t def,
                          std::uint32_t lo, std::uint32_t hi) const {
        if (!obj.contains(key)) return def;
        const json& v = obj.at(key);
        std::string p = join(path, key);
        if (!v.is_number_integer() && !(v.is_number() && std::floor(v.get<double>()) == v.get<double>()))
            fail(p, "must be an integer");
        double d = v.get<double>();
        if (d < lo || d > hi) {
            std::ostringstream m;
            m << "must be between " << lo << " and " << hi << " (got " << d << ")";
            fail(p, m.str());
        }
        return static_cast<std::uint32_t>(d);
    }
    std::string string(const json& obj, const std::string& path, const std::string& key, std::string def) const {
        if (!obj.contains(key)) return def;
        const json& v = obj.at(key);
        if (!v.is_string()) fail(join(path, key), "must be a string");
        return v.get<std::string>();
    }
    bool boolean(const json& obj, const std::string& path, const std::string& key, bool def) const {
        if (!obj.contains(key)) return def;
        const json& v = obj.at(key);
        if (!v.is_boolean()) fail(join(path, key), "must be true or false");
        return v.get<bool>();
    }
    const json& array(const json& obj, const std::string& path, const std::string& key) const {
        static const json empty = json::array();
        if (!obj.contains(key)) return empty;
        const json& v = obj.at(key);
        if (!v.is_array()) fail(join(path, key), "must be an array");
        return v;
    }

    template <class W>
    W window_fields(const json& o, const std::string& p, double duration_s) const {
        W w;
        w.start_s = number(o, p, "start_s", 0, 0, duration_s);
        w.duration_s = number(o, p, "duration_s", 0, 0, 1e7, true);
        if (!o.contains("start_s")) fail(join(p, "start_s"), "is required");
        if (!o.contains("duration_s")) fail(join(p, "duration_s"), "is required");
        return w;
    }

private:
    const std::string& text_;
};

}  // namespace

scenario parse_scenario(const std::string& text) {
    reader rd(text);
    json doc;
    try {
        doc = json::parse(text);
    } catch (const json::parse_error& e) {
        // nlohmann reports the byte offset; turn it into a line number.
        int line = 1;
        for (std::size_t i = 0; i < e.byte && i < text.size(); ++i)
            if (text[i] == '\n') ++line;
        throw scenario_error("", line, "scenario: line " + std::to_string(line) + ": not valid JSON: " + e.what());
    }
    scenario s;
    rd.known_keys(doc, "", {"name", "seed", "duration_s", "bucket_s", "arrivals", "lambda", "dependency", "targets",
                            "configurations"});
    s.name = rd.string(doc, "", "name", s.name);
    if (doc.contains("seed")) {
        if (!doc["seed"].is_number_unsigned()) rd.fail("seed", "must be a non-negative integer");
        s.seed = doc["seed"].get<std::uint64_t>();
    }
    s.duration_s = rd.number(doc, "", "duration_s", s.duration_s, 0, 86400 * 7, true);
    s.bucket_s = rd.number(doc, "", "bucket_s", s.bucket_s, 0, s.duration_s, true);

    if (doc.contains("arrivals")) {
        const json& a = doc["arrivals"];
        rd.known_keys(a, "arrivals", {"rate_per_s", "spikes"});
        s.rate_per_s = rd.number(a, "arrivals", "rate_per_s", s.rate_per_s, 0, 1e7, true);
        const json& sp = rd.array(a, "arrivals", "spikes");
        for (std::size_t i = 0; i < sp.size(); ++i) {
            std::string p = "arrivals.spikes[" + std::to_string(i) + "]";
            rd.known_keys(sp[i], p, {"start_s", "duration_s", "multiplier"});
            auto w = rd.window_fields<spike>(sp[i], p, s.duration_s);
            w.multiplier = rd.number(sp[i], p, "multiplier", 2, 0, 1000, true);
            s.spikes.push_back(w);
        }
    }
    if (doc.contains("lambda")) {
        const json& l = doc["lambda"];
        rd.known_keys(l, "lambda", {"max_concurrency", "function_timeout_ms", "reserve_ms"});
        s.max_concurrency = rd.integer(l, "lambda", "max_concurrency", s.max_concurrency, 1, 100000);
        s.function_timeout_ms = rd.number(l, "lambda", "function_timeout_ms", s.function_timeout_ms, 0, 900000, true);
        s.reserve_ms = rd.number(l, "lambda", "reserve_ms", s.reserve_ms, 0, s.function_timeout_ms);
        if (s.reserve_ms >= s.function_timeout_ms) rd.fail("lambda.reserve_ms", "must be less than lambda.function_timeout_ms");
    }
    if (doc.contains("dependency")) {
        const json& d = doc["dependency"];
        auto& m = s.dependency;
        rd.known_keys(d, "dependency", {"median_ms", "p99_ms", "transient_error_rate", "slow_tail_probability",
                                        "slow_tail_ms", "throttling", "outages"});
        m.median_ms = rd.number(d, "dependency", "median_ms", m.median_ms, 0, 1e6, true);
        m.p99_ms = rd.number(d, "dependency", "p99_ms", m.p99_ms, 0, 1e6, true);
        if (m.p99_ms < m.median_ms) rd.fail("dependency.p99_ms", "must be >= dependency.median_ms");
        m.transient_error_rate = rd.number(d, "dependency", "transient_error_rate", m.transient_error_rate, 0, 1);
        m.slow_tail_probability = rd.number(d, "dependency", "slow_tail_probability", m.slow_tail_probability, 0, 1);
        m.slow_tail_ms = rd.number(d, "dependency", "slow_tail_ms", m.slow_tail_ms, 0, 1e7);
        const json& th = rd.array(d, "dependency", "throttling");
        for (std::size_t i = 0; i < th.size(); ++i) {
            std::string p = "dependency.throttling[" + std::to_string(i) + "]";
            rd.known_keys(th[i], p, {"start_s", "duration_s", "rate", "retry_after_ms"});
            auto w = rd.window_fields<throttling>(th[i], p, s.duration_s);
            w.rate = rd.number(th[i], p, "rate", 1, 0, 1);
            w.retry_after_ms = rd.number(th[i], p, "retry_after_ms", 1000, 0, 3.6e6);
            m.throttles.push_back(w);
        }
        const json& ou = rd.array(d, "dependency", "outages");
        for (std::size_t i = 0; i < ou.size(); ++i) {
            std::string p = "dependency.outages[" + std::to_string(i) + "]";
            rd.known_keys(ou[i], p, {"start_s", "duration_s", "mode", "latency_ms"});
            auto w = rd.window_fields<outage>(ou[i], p, s.duration_s);
            std::string mode = rd.string(ou[i], p, "mode", "hang");
            if (mode == "hang") w.kind = outage::mode::hang;
            else if (mode == "error") w.kind = outage::mode::error;
            else rd.fail(p + ".mode", "must be \"hang\" or \"error\" (got \"" + mode + "\")");
            w.latency_ms = rd.number(ou[i], p, "latency_ms", w.kind == outage::mode::hang ? 10000 : 5, 0, 3.6e6);
            m.outages.push_back(w);
        }
    }
    if (doc.contains("targets")) {
        const json& t = doc["targets"];
        rd.known_keys(t, "targets", {"max_user_error_rate", "max_p99_ms", "min_dlq_capture", "max_recovery_s"});
        s.sla.max_user_error_rate = rd.number(t, "targets", "max_user_error_rate", s.sla.max_user_error_rate, 0, 1);
        s.sla.max_p99_ms = rd.number(t, "targets", "max_p99_ms", s.sla.max_p99_ms, 0, 1e7, true);
        s.sla.min_dlq_capture = rd.number(t, "targets", "min_dlq_capture", s.sla.min_dlq_capture, 0, 1);
        s.sla.max_recovery_s = rd.number(t, "targets", "max_recovery_s", s.sla.max_recovery_s, 0, 1e7, true);
    }
    const json& cs = rd.array(doc, "", "configurations");
    for (std::size_t i = 0; i < cs.size(); ++i) {
        std::string p = "configurations[" + std::to_string(i) + "]";
        const json& c = cs[i];
        rd.known_keys(c, p, {"name", "retry", "timeout_ms", "attempt_timeout_ms", "breaker", "dead_letter"});
        configuration cfg;
        cfg.name = rd.string(c, p, "name", "configuration " + std::to_string(i + 1));
        if (c.contains("retry")) {
            std::string rp = p + ".retry";
            const json& r = c["retry"];
            rd.known_keys(r, rp, {"max_attempts", "base_ms", "cap_ms", "jitter"});
            retry_config rc;
            rc.max_attempts = rd.integer(r, rp, "max_attempts", rc.max_attempts, 1, 1000);
            rc.base_ms = rd.number(r, rp, "base_ms", rc.base_ms, 0, 3.6e6, true);
            rc.cap_ms = rd.number(r, rp, "cap_ms", rc.cap_ms, 0, 3.6e6, true);
            if (rc.cap_ms < rc.base_ms) rd.fail(rp + ".cap_ms", "must be >= " + rp + ".base_ms");
            rc.jitter = rd.string(r, rp, "jitter", rc.jitter);
            if (rc.jitter != "none" && rc.jitter != "full" && rc.jitter != "equal" && rc.jitter != "decorrelated")
                rd.fail(rp + ".jitter", "must be one of none, full, equal, decorrelated (got \"" + rc.jitter + "\")");
            cfg.retry = rc;
        }
        if (c.contains("timeout_ms")) cfg.timeout_ms = rd.number(c, p, "timeout_ms", 0, 0, 3.6e6, true);
        if (c.contains("attempt_timeout_ms"))
            cfg.attempt_timeout_ms = rd.number(c, p, "attempt_timeout_ms", 0, 0, 3.6e6, true);
        if (c.contains("breaker")) {
            std::string bp = p + ".breaker";
            const json& b = c["breaker"];
            rd.known_keys(b, bp, {"failure_threshold", "open_ms", "open_max_ms", "open_jitter", "half_open_probes"});
            breaker_config bc;
            bc.failure_threshold = rd.integer(b, bp, "failure_threshold", bc.failure_threshold, 1, 1000000);
            bc.open_ms = rd.number(b, bp, "open_ms", bc.open_ms, 0, 3.6e6, true);
            bc.open_max_ms = rd.number(b, bp, "open_max_ms", 0, 0, 3.6e6);
            if (bc.open_max_ms != 0 && bc.open_max_ms < bc.open_ms) rd.fail(bp + ".open_max_ms", "must be 0 or >= " + bp + ".open_ms");
            bc.open_jitter = rd.number(b, bp, "open_jitter", bc.open_jitter, 0, 1);
            bc.half_open_probes = rd.integer(b, bp, "half_open_probes", bc.half_open_probes, 1, 1000);
            cfg.breaker = bc;
        }
        cfg.dead_letter = rd.boolean(c, p, "dead_letter", false);
        s.configurations.push_back(std::move(cfg));
    }
    if (s.configurations.empty()) {
        // The four configurations of the whitepaper's comparison.
        retry_config rc;
        rc.max_attempts = 3;
        rc.base_ms = 100;
        rc.cap_ms = 1000;
        configuration none{.name = "no policies"};
        configuration retry_only{.name = "retry only", .retry = rc};
        configuration retry_timeouts{.name = "retry + timeouts", .retry = rc, .timeout_ms = 2500, .attempt_timeout_ms = 800};
        configuration full{.name = "full pipeline", .retry = rc, .timeout_ms = 2500, .attempt_timeout_ms = 800,
                           .breaker = breaker_config{}, .dead_letter = true};
        s.configurations = {none, retry_only, retry_timeouts, full};
    }
    return s;
}

const char* default_scenario_json() {
    return R"json({
  "name": "whitepaper: transient errors, a throttling burst, a 60 s outage and a traffic spike",
  "seed": 42,
  "duration_s": 600,
  "bucket_s": 5,
  "arrivals": {"rate_per_s": 100, "spikes": [{"start_s": 420, "duration_s": 30, "multiplier": 3}]},
  "lambda": {"max_concurrency": 1000, "function_timeout_ms": 6000, "reserve_ms": 200},
  "dependency": {
    "median_ms": 80, "p99_ms": 400, "transient_error_rate": 0.03,
    "slow_tail_probability": 0.002, "slow_tail_ms": 4000,
    "throttling": [{"start_s": 120, "duration_s": 20, "rate": 0.6, "retry_after_ms": 300}],
    "outages": [{"start_s": 300, "duration_s": 60, "mode": "hang", "latency_ms": 10000}]
  },
  "targets": {"max_user_error_rate": 0.001, "max_p99_ms": 3000, "min_dlq_capture": 1.0, "max_recovery_s": 120},
  "configurations": [
    {"name": "no policies"},
    {"name": "retry only", "retry": {"max_attempts": 3, "base_ms": 100, "cap_ms": 1000, "jitter": "full"}},
    {"name": "retry + timeouts", "retry": {"max_attempts": 3, "base_ms": 100, "cap_ms": 1000, "jitter": "full"},
     "timeout_ms": 2500, "attempt_timeout_ms": 800},
    {"name": "full pipeline", "retry": {"max_attempts": 3, "base_ms": 100, "cap_ms": 1000, "jitter": "full"},
     "timeout_ms": 2500, "attempt_timeout_ms": 800,
     "breaker": {"failure_threshold": 5, "open_ms": 5000, "open_jitter": 0.2},
     "dead_letter": true}
  ]
}
)json";
}

}  // namespace resilience_sim
