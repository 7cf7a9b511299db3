// SPDX-License-Identifier: MIT
//
// The simulation engine: Lambda environments on virtual time calling a modelled dependency through the
// library's real policies. Policy state (a breaker per environment) persists across invocations as it
// does in a reused Lambda environment.

#include "pipeline.hpp"
#include "sim.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <memory>
#include <queue>
#include <random>
#include <unordered_set>

#include <time.h>
#include <unistd.h>

namespace resilience_sim {

namespace rs = resilience;

namespace {

using std::chrono::duration_cast;
using std::chrono::nanoseconds;

nanoseconds from_ms(double v) { return nanoseconds{static_cast<std::int64_t>(v * 1e6)}; }
double to_ms(rs::duration d) { return static_cast<double>(d.count()) / 1e6; }

// A latency histogram with logarithmic bins (20 per decade from 0.01 ms to 10^6 ms): enough to draw a
// p99 per time bucket without keeping every sample.
class histogram {
public:
    void add(double ms_value) {
        ++counts_[bin(ms_value)];
        ++total_;
    }
    [[nodiscard]] double quantile(double q) const {
        if (total_ == 0) return 0;
        auto want = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total_)));
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < counts_.size(); ++i) {
            seen += counts_[i];
            if (seen >= want) return upper(i);
        }
        return upper(counts_.size() - 1);
    }

private:
    static constexpr double lo = 0.01;
    static constexpr int per_decade = 20;
    static std::size_t bin(double v) {
        if (v <= lo) return 0;
        auto b = static_cast<std::size_t>(std::log10(v / lo) * per_decade) + 1;
        return std::min<std::size_t>(b, 160);
    }
    static double upper(std::size_t b) { return lo * std::pow(10.0, static_cast<double>(b) / per_decade); }
    std::array<std::uint64_t, 161> counts_{};
    std::uint64_t total_ = 0;
};

struct environment {
    // Every environment's clock starts at the same origin, so wall-clock stamps agree across them.
    environment(rs::time_point origin, rs::time_point now) : clock(origin) { clock.set(now); }
    rs::manual_clock clock;
    rs::seeded_random random;
    std::optional<breaker_type> breaker;
    std::optional<composition> call;
};

// The dependency: decides each attempt's outcome and latency from the scenario at the current virtual
// time, and advances the environment's clock by that latency — or by what the attempt had left, when
// the client's timeout (the attempt's remaining time) fires first.
class dependency {
public:
    dependency(const scenario& s, std::uint64_t seed) : s_(s), rng_(seed) {
        const auto& m = s.dependency;
        mu_ = std::log(m.median_ms);
        sigma_ = std::max(0.0, (std::log(m.p99_ms) - mu_) / 2.3263478740);  // z(0.99)
    }

    rs::result<response> call(rs::manual_clock& clk, const rs::attempt& a, double t_s) {
        const auto& m = s_.dependency;
        double latency_ms = 0;
        int status = 200;
        rs::duration retry_after{};
        bool hang = false;
        if (const outage* o = find(m.outages, t_s)) {
            latency_ms = o->latency_ms;
            status = 503;
            hang = o->kind == outage::mode::hang;
        } else if (const throttling* th = find(m.throttles, t_s); th && uniform() < th->rate) {
            latency_ms = sample_latency() * 0.25;  // throttles answer fast
            status = 429;
            retry_after = from_ms(th->retry_after_ms);
        } else {
            latency_ms = sample_latency();
            if (m.slow_tail_probability > 0 && uniform() < m.slow_tail_probability) latency_ms += m.slow_tail_ms;
            if (uniform() < m.transient_error_rate) status = 503;
        }
        rs::duration lat = from_ms(latency_ms);
        rs::duration left = a.remaining();
        if (hang || lat > left) {
            // The client gives up at its timeout (the attempt's remaining time, as a well-behaved handler
            // passes it) or when the hung connection is finally dropped.
            rs::duration wait = std::min(lat, left);
            clk.advance(wait);
            rs::failure f = rs::failure::from_error(std::make_error_code(std::errc::timed_out), rs::transience::transient,
                                                    "client timeout");
            return f;
        }
        clk.advance(lat);
        return response{status, retry_after};
    }

private:
    template <class W>
    static const W* find(const std::vector<W>& ws, double t) {
        for (const auto& w : ws)
            if (w.contains(t)) return &w;
        return nullptr;
    }
    double uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }
    double sample_latency() { return std::exp(mu_ + sigma_ * normal_(rng_)); }

    const scenario& s_;
    std::mt19937_64 rng_;
    std::normal_distribution<double> normal_{0.0, 1.0};
    double mu_ = 0, sigma_ = 0;
};

void progress(double fraction, const std::string& name) {
    int width = 30;
    int filled = static_cast<int>(fraction * width);
    std::fprintf(stderr, "\r  %-20.20s [%.*s%*s] %3d%%", name.c_str(), filled, "==============================",
                 width - filled, "", static_cast<int>(fraction * 100));
    if (fraction >= 1.0) std::fputc('\n', stderr);
    std::fflush(stderr);
}

}  // namespace

namespace {
// CPU time of this thread: the speed figure must not depend on what else the machine is running.
double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}
}  // namespace

config_result run_configuration(const scenario& s, const configuration& c, const run_options& o) {
    auto wall0 = std::chrono::steady_clock::now();
    const double cpu0 = thread_cpu_seconds();
    config_result out;
    out.name = c.name;
    out.has_dead_letter = c.dead_letter;
    out.has_breaker = c.breaker.has_value();
    out.failures_by_kind.assign(rs::failure_kind_count, 0);

    const rs::time_point t0 = rs::time_point{} + std::chrono::hours(1);
    auto seconds = [&](rs::time_point t) { return std::chrono::duration<double>(t - t0).count(); };
    auto at = [&](double sec) { return t0 + duration_cast<rs::duration>(std::chrono::duration<double>(sec)); };

    const auto nbuckets = static_cast<std::size_t>(std::ceil(s.duration_s / s.bucket_s));
    out.buckets.assign(nbuckets, {});
    std::vector<histogram> hist(nbuckets);
    // One-second failure counts, for recovery times.
    const auto nsec = static_cast<std::size_t>(std::ceil(s.duration_s)) + 1;
    std::vector<std::uint64_t> sec_inv(nsec, 0), sec_fail(nsec, 0);
    std::vector<double> open_rejection_times;

    sink_type sink;
    dependency dep(s, s.seed * 7919 + 1);
    std::mt19937_64 arrivals(s.seed);
    std::deque<environment> envs;
    std::vector<std::size_t> idle;  // most recently freed last
    using busy_entry = std::pair<rs::time_point, std::size_t>;
    std::priority_queue<busy_entry, std::vector<busy_entry>, std::greater<>> busy;
    std::vector<double> latencies;
    latencies.reserve(static_cast<std::size_t>(s.rate_per_s * s.duration_s * 1.2));
    std::vector<std::string> failed_ids;
    std::size_t current_bucket = 0;
    char id_buf[32];

    // The share of environments whose breaker would reject a call at the bucket's end. Breakers move
    // lazily (on their next call), and an idle environment's clock stopped at its last call: so an open
    // breaker counts only while its open period, projected from that clock, covers the bucket's end.
    auto sample_open_fraction = [&](std::size_t b) {
        if (!c.breaker || envs.empty()) return;
        const rs::time_point bucket_end = at(static_cast<double>(b + 1) * s.bucket_s);
        std::size_t rejecting = 0;
        for (auto& e : envs) {
            auto m = e.breaker->metrics();
            if (m.state == rs::circuit_state::open) {
                if (e.clock.now() + m.retry_after > bucket_end) ++rejecting;
            } else if (m.state != rs::circuit_state::closed) {
                ++rejecting;
            }
        }
        out.buckets[b].open_fraction = static_cast<double>(rejecting) / static_cast<double>(envs.size());
    };

    double t = 0;
    std::uint64_t n = 0;
    const double progress_step = s.duration_s / 50;
    double next_progress = 0;
    for (;;) {
        double rate = s.rate_per_s;
        for (const auto& sp : s.spikes)
            if (sp.contains(t)) rate *= sp.multiplier;
        t += std::exponential_distribution<double>(rate)(arrivals);
        if (t >= s.duration_s) break;
        if (o.progress && t >= next_progress) {
            progress(t / s.duration_s, c.name);
            next_progress += progress_step;
        }
        auto b = std::min(nbuckets - 1, static_cast<std::size_t>(t / s.bucket_s));
        while (current_bucket < b) sample_open_fraction(current_bucket++);

        const rs::time_point arrival = at(t);
        while (!busy.empty() && busy.top().first <= arrival) {
            idle.push_back(busy.top().second);
            busy.pop();
        }
        ++out.invocations;
        ++out.buckets[b].invocations;
        auto sec = static_cast<std::size_t>(t);
        ++sec_inv[sec];
        std::size_t ei;
        if (!idle.empty()) {
            ei = idle.back();
            idle.pop_back();
        } else if (envs.size() < s.max_concurrency) {
            ei = envs.size();
            auto& e = envs.emplace_back(t0, arrival);
            e.random = rs::seeded_random{s.seed * 1000003 + ei};
            build_pipeline(e.clock, e.breaker, e.call, c, sink, e.random);
        } else {
            // The platform throttles the invocation: the concurrency limit is reached.
            ++out.platform_throttled;
            ++out.failures;
            ++out.buckets[b].failures;
            ++sec_fail[sec];
            latencies.push_back(0);
            continue;
        }
        environment& e = envs[ei];
        e.clock.set(arrival);
        auto len = std::snprintf(id_buf, sizeof id_buf, "inv-%llu", static_cast<unsigned long long>(n++));
        rs::call_options opts{
            .deadline = arrival + from_ms(s.function_timeout_ms - s.reserve_ms),
            .id = std::string_view(id_buf, static_cast<std::size_t>(len)),
            .payload = std::string_view(id_buf, static_cast<std::size_t>(len)),
            .source = "simulated-dependency",
        };
        std::uint64_t attempts = 0;
        auto r = (*e.call)(
            [&](const rs::attempt& a) {
                ++attempts;
                return dep.call(e.clock, a, seconds(a.now()));
            },
            opts);
        rs::time_point end = e.clock.now();
        // The platform kills the invocation at the function timeout: it cannot run longer.
        const rs::time_point hard_deadline = arrival + from_ms(s.function_timeout_ms);
        bool killed = end > hard_deadline;
        if (killed) end = hard_deadline;
        double latency = to_ms(end - arrival);
        latencies.push_back(latency);
        hist[b].add(latency);
        out.attempts += attempts;
        out.buckets[b].attempts += attempts;
        if (r.has_value() && !killed) {
            ++out.successes;
            ++out.buckets[b].successes;
        } else {
            ++out.failures;
            ++out.buckets[b].failures;
            ++sec_fail[sec];
            auto kind = r.has_value() ? rs::failure_kind::deadline_exceeded : r.error().kind;
            ++out.failures_by_kind[static_cast<std::size_t>(kind)];
            if (kind == rs::failure_kind::dead_letter_failed) ++out.dead_letter_failed;
            if (!r.has_value() && (r.error().kind == rs::failure_kind::circuit_open ||
                                   r.error().cause == rs::failure_kind::circuit_open)) {
                ++out.buckets[b].circuit_open_rejections;
                open_rejection_times.push_back(t);
            }
            failed_ids.emplace_back(opts.id);
        }
        busy.emplace(end, ei);
    }
    while (current_bucket < nbuckets) sample_open_fraction(current_bucket++);
    if (o.progress) progress(1.0, c.name);

    // Dead letters: every failed invocation's id must be in the sink.
    std::unordered_set<std::string> captured;
    for (const auto& id : sink.ids_) captured.emplace(id);
    out.dead_letters = captured.size();
    for (const auto& id : failed_ids)
        if (captured.count(id)) ++out.failed_captured;
    dead_letters_per_bucket(sink, t0, s.bucket_s, out.buckets);

    for (std::size_t i = 0; i < nbuckets; ++i) out.buckets[i].p99_ms = hist[i].quantile(0.99);
    if (!latencies.empty()) {
        auto q = [&](double p) {
            auto k = static_cast<std::size_t>(std::ceil(p * static_cast<double>(latencies.size()))) - 1;
            std::nth_element(latencies.begin(), latencies.begin() + static_cast<std::ptrdiff_t>(k), latencies.end());
            return latencies[k];
        };
        out.p50_ms = q(0.50);
        out.p95_ms = q(0.95);
        out.p99_ms = q(0.99);
        out.max_ms = *std::max_element(latencies.begin(), latencies.end());
    }
    out.environments = envs.size();

    // Recovery after each outage: service recovery is the first second after the outage's end whose
    // failure rate is back within one percentage point of the minute before the outage; breaker recovery
    // is when the last circuit_open rejection happened.
    for (const auto& ou : s.dependency.outages) {
        outage_recovery rec;
        rec.outage_end_s = ou.end_s();
        std::uint64_t inv = 0, fail = 0;
        for (auto k = static_cast<std::size_t>(std::max(0.0, ou.start_s - 60)); k < static_cast<std::size_t>(ou.start_s) && k < nsec; ++k) {
            inv += sec_inv[k];
            fail += sec_fail[k];
        }
        double baseline = inv ? double(fail) / double(inv) : 0;
        for (auto k = static_cast<std::size_t>(std::ceil(ou.end_s())); k < nsec; ++k) {
            if (sec_inv[k] == 0) continue;
            double rate = double(sec_fail[k]) / double(sec_inv[k]);
            if (rate <= baseline + 0.01) {
                rec.service_recovery_s = static_cast<double>(k + 1) - ou.end_s();
                break;
            }
        }
        if (c.breaker) {
            double last = ou.end_s();
            double next_outage = s.duration_s;
            for (const auto& other : s.dependency.outages)
                if (other.start_s >= ou.end_s()) next_outage = std::min(next_outage, other.start_s);
            for (double rt : open_rejection_times)
                if (rt >= ou.end_s() && rt < next_outage) last = std::max(last, rt);
            rec.breaker_recovery_s = last - ou.end_s();
        }
        out.recoveries.push_back(rec);
    }
    out.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    out.cpu_seconds = thread_cpu_seconds() - cpu0;
    return out;
}

verdicts judge(const scenario& s, const config_result& r) {
    verdicts v{};
    v.user_errors = r.user_error_rate() <= s.sla.max_user_error_rate;
    v.p99 = r.p99_ms <= s.sla.max_p99_ms;
    v.dlq = r.dlq_capture() >= s.sla.min_dlq_capture;
    v.recovery = true;
    for (const auto& rec : r.recoveries) {
        double worst = rec.service_recovery_s.value_or(1e18);
        if (r.has_breaker && rec.breaker_recovery_s) worst = std::max(worst, *rec.breaker_recovery_s);
        if (worst > s.sla.max_recovery_s) v.recovery = false;
    }
    return v;
}

}  // namespace resilience_sim
