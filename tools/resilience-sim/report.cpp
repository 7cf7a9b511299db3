// SPDX-License-Identifier: MIT
//
// Reports: the side-by-side table (terminal and markdown) and the SVG chart.

#include "sim.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <sstream>

namespace resilience_sim {

namespace {

std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}
std::string pct(double v) { return fmt(v < 0.001 && v > 0 ? "%.3f%%" : "%.2f%%", v * 100); }
std::string millis(double v) { return v >= 1000 ? fmt("%.2f s", v / 1000) : fmt("%.0f ms", v); }
std::string mark(bool ok) { return ok ? "pass" : "FAIL"; }

std::string recovery_text(const config_result& r) {
    if (r.recoveries.empty()) return "n/a";
    std::string out;
    for (const auto& rec : r.recoveries) {
        if (!out.empty()) out += ", ";
        double worst = rec.service_recovery_s.value_or(-1);
        if (rec.service_recovery_s && r.has_breaker && rec.breaker_recovery_s) worst = std::max(worst, *rec.breaker_recovery_s);
        out += worst < 0 ? std::string("never") : fmt("%.0f s", worst);
    }
    return out;
}

struct row {
    std::vector<std::string> cells;
};

std::vector<std::string> headers() {
    return {"configuration", "failed", "lost (not in DLQ)", "p50", "p95", "p99", "attempts/inv", "DLQ captured",
            "recovery", "lost<0.1%", "p99<SLA", "DLQ 100%", "recovery<2min"};
}

std::vector<row> rows(const scenario& s, const std::vector<config_result>& results) {
    std::vector<row> out;
    for (const auto& r : results) {
        auto v = judge(s, r);
        std::string dlq = r.has_dead_letter ? pct(r.dlq_capture()) : (r.failures ? "none (no DLQ)" : "n/a");
        out.push_back({{r.name, pct(r.failure_rate()), pct(r.user_error_rate()), millis(r.p50_ms), millis(r.p95_ms),
                        millis(r.p99_ms), fmt("%.2f", r.amplification()), dlq, recovery_text(r), mark(v.user_errors),
                        mark(v.p99), mark(v.dlq), mark(v.recovery)}});
    }
    return out;
}

std::string footer(const scenario& s, const std::vector<config_result>& results) {
    std::ostringstream o;
    std::uint64_t total = 0;
    double wall = 0, cpu = 0;
    for (const auto& r : results) {
        total += r.invocations;
        wall += r.wall_seconds;
        cpu += r.cpu_seconds;
    }
    o << "Scenario: " << s.name << " (seed " << s.seed << ", " << fmt("%.0f", s.duration_s) << " s simulated, "
      << fmt("%.0f", s.rate_per_s) << " invocations/s, function timeout " << millis(s.function_timeout_ms) << ")\n";
    o << "Targets: lost events (the whitepaper's user-facing errors) <= " << pct(s.sla.max_user_error_rate) << ", p99 <= " << millis(s.sla.max_p99_ms)
      << ", DLQ capture >= " << pct(s.sla.min_dlq_capture) << ", recovery <= " << fmt("%.0f s", s.sla.max_recovery_s)
      << "\n";
    o << "Lost: failed invocations whose event is not in a dead-letter sink (with a sink, a failed event is kept\n"
         "for replay, not lost). Recovery: from an outage's end until the failure rate is back to its level before\n"
         "the outage (and, with a breaker, until the last circuit_open rejection).\n";
    o << "Simulated " << total << " invocations in " << fmt("%.3f", cpu) << " s of CPU time ("
      << fmt("%.2f", cpu > 0 ? double(total) / cpu / 1e6 : 0) << " M invocations/s; " << fmt("%.3f", wall)
      << " s of wall time).\n";
    return o.str();
}

}  // namespace

std::string format_table(const scenario& s, const std::vector<config_result>& results) {
    auto h = headers();
    auto rs_ = rows(s, results);
    std::vector<std::size_t> w(h.size());
    for (std::size_t i = 0; i < h.size(); ++i) w[i] = h[i].size();
    for (const auto& r : rs_)
        for (std::size_t i = 0; i < h.size(); ++i) w[i] = std::max(w[i], r.cells[i].size());
    std::ostringstream o;
    auto line = [&](const std::vector<std::string>& cells) {
        for (std::size_t i = 0; i < cells.size(); ++i) {
            o << (i ? "  " : "") << cells[i] << std::string(w[i] - cells[i].size(), ' ');
        }
        o << "\n";
    };
    line(h);
    std::vector<std::string> dashes;
    for (auto x : w) dashes.emplace_back(x, '-');
    line(dashes);
    for (const auto& r : rs_) line(r.cells);
    o << "\n" << footer(s, results);
    return o.str();
}

std::string format_markdown(const scenario& s, const std::vector<config_result>& results) {
    auto h = headers();
    std::ostringstream o;
    o << "# resilience-sim report\n\n";
    o << "| " ;
    for (auto& x : h) o << x << " | ";
    o << "\n|";
    for (std::size_t i = 0; i < h.size(); ++i) o << (i == 0 ? "---|" : "---:|");
    o << "\n";
    for (const auto& r : rows(s, results)) {
        o << "| ";
        for (auto& c : r.cells) o << c << " | ";
        o << "\n";
    }
    o << "\n";
    std::istringstream f(footer(s, results));
    for (std::string l; std::getline(f, l);) o << l << "  \n";
    o << "\nFailures by kind:\n\n| configuration | ";
    static const char* kinds[] = {"error", "timeout", "deadline_exceeded", "circuit_open", "bulkhead_full",
                                  "rate_limited", "cancelled", "dead_letter_failed"};
    for (auto k : kinds) o << k << " | ";
    o << "platform throttled | environments |\n|---|";
    for (std::size_t i = 0; i < 10; ++i) o << "---:|";
    o << "\n";
    for (const auto& r : results) {
        o << "| " << r.name << " | ";
        for (std::size_t i = 0; i < 8; ++i) o << (i < r.failures_by_kind.size() ? r.failures_by_kind[i] : 0) << " | ";
        o << r.platform_throttled << " | " << r.environments << " |\n";
    }
    return o.str();
}

std::string format_svg(const scenario& s, const std::vector<config_result>& results) {
    const double W = 1000, left = 70, right = 20, panel_h = 120, gap = 40, top = 60;
    const int panels = 5;
    const double H = top + panels * (panel_h + gap) + 40;
    const double plot_w = W - left - right;
    static const char* colors[] = {"#d62728", "#ff7f0e", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b"};
    std::ostringstream o;
    o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
    o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    o << "<text x=\"" << left << "\" y=\"22\" font-size=\"16\" font-weight=\"bold\">resilience-sim: " << s.name
      << "</text>\n";
    // Legend.
    double lx = left;
    for (std::size_t i = 0; i < results.size(); ++i) {
        o << "<rect x=\"" << lx << "\" y=\"32\" width=\"14\" height=\"4\" fill=\"" << colors[i % 6] << "\"/>";
        o << "<text x=\"" << lx + 18 << "\" y=\"38\">" << results[i].name << "</text>\n";
        lx += 30 + 7.0 * static_cast<double>(results[i].name.size());
    }
    auto x_of = [&](double t) { return left + plot_w * t / s.duration_s; };

    struct panel {
        const char* title;
        std::function<double(const config_result&, std::size_t)> value;
        bool log_scale;
        bool breaker_only;
    };
    std::vector<panel> ps = {
        {"success rate (%)",
         [](const config_result& r, std::size_t b) {
             const auto& k = r.buckets[b];
             return k.invocations ? 100.0 * double(k.successes) / double(k.invocations) : 100.0;
         },
         false, false},
        {"p99 latency (ms, log scale)", [](const config_result& r, std::size_t b) { return r.buckets[b].p99_ms; }, true,
         false},
        {"environments whose breaker rejects calls (%)",
         [](const config_result& r, std::size_t b) { return 100.0 * r.buckets[b].open_fraction; }, false, true},
        {"dead letters (cumulative)",
         [](const config_result& r, std::size_t b) {
             double sum = 0;
             for (std::size_t i = 0; i <= b; ++i) sum += double(r.buckets[i].dead_letters);
             return sum;
         },
         false, false},
        {"downstream load (attempts/s)",
         [&s](const config_result& r, std::size_t b) { return double(r.buckets[b].attempts) / s.bucket_s; }, false,
         false},
    };
    for (int p = 0; p < panels; ++p) {
        const auto& pn = ps[static_cast<std::size_t>(p)];
        double y0 = top + p * (panel_h + gap) + 20;
        double lo = pn.log_scale ? 1.0 : 0.0, hi = pn.log_scale ? 10.0 : 1.0;
        for (const auto& r : results) {
            if (pn.breaker_only && !r.has_breaker) continue;
            for (std::size_t b = 0; b < r.buckets.size(); ++b) hi = std::max(hi, pn.value(r, b));
        }
        if (std::string(pn.title).rfind("success", 0) == 0) { lo = 0; hi = 100; }
        if (std::string(pn.title).rfind("environments", 0) == 0) { lo = 0; hi = 100; }
        if (pn.log_scale) hi = std::pow(10.0, std::ceil(std::log10(hi)));
        auto y_of = [&](double v) {
            double f = pn.log_scale ? (std::log10(std::max(v, lo)) - std::log10(lo)) / (std::log10(hi) - std::log10(lo))
                                    : (v - lo) / (hi - lo);
            return y0 + panel_h * (1 - std::clamp(f, 0.0, 1.0));
        };
        o << "<text x=\"" << left << "\" y=\"" << y0 - 6 << "\" font-weight=\"bold\">" << pn.title << "</text>\n";
        // Shaded windows: outages (red), throttling (orange), spikes (blue).
        for (const auto& w : s.dependency.outages)
            o << "<rect x=\"" << x_of(w.start_s) << "\" y=\"" << y0 << "\" width=\"" << x_of(w.end_s()) - x_of(w.start_s)
              << "\" height=\"" << panel_h << "\" fill=\"#d62728\" opacity=\"0.08\"/>\n";
        for (const auto& w : s.dependency.throttles)
            o << "<rect x=\"" << x_of(w.start_s) << "\" y=\"" << y0 << "\" width=\"" << x_of(w.end_s()) - x_of(w.start_s)
              << "\" height=\"" << panel_h << "\" fill=\"#ff7f0e\" opacity=\"0.10\"/>\n";
        for (const auto& w : s.spikes)
            o << "<rect x=\"" << x_of(w.start_s) << "\" y=\"" << y0 << "\" width=\"" << x_of(w.end_s()) - x_of(w.start_s)
              << "\" height=\"" << panel_h << "\" fill=\"#1f77b4\" opacity=\"0.08\"/>\n";
        o << "<rect x=\"" << left << "\" y=\"" << y0 << "\" width=\"" << plot_w << "\" height=\"" << panel_h
          << "\" fill=\"none\" stroke=\"#999\"/>\n";
        // Axis labels: min, max.
        auto label = [&](double v) {
            return v >= 1000 ? fmt("%.0fk", v / 1000) : (v >= 10 || v == 0 ? fmt("%.0f", v) : fmt("%.1f", v));
        };
        if (pn.log_scale) {
            // Grid lines at each decade, labelled.
            for (double d = 10; d < hi; d *= 10) {
                double y = y_of(d);
                o << "<line x1=\"" << left << "\" x2=\"" << left + plot_w << "\" y1=\"" << y << "\" y2=\"" << y
                  << "\" stroke=\"#ddd\"/>\n";
                o << "<text x=\"" << left - 6 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\">" << label(d) << "</text>\n";
            }
        }
        o << "<text x=\"" << left - 6 << "\" y=\"" << y0 + 10 << "\" text-anchor=\"end\">" << label(hi) << "</text>\n";
        o << "<text x=\"" << left - 6 << "\" y=\"" << y0 + panel_h << "\" text-anchor=\"end\">" << label(lo)
          << "</text>\n";
        for (std::size_t i = 0; i < results.size(); ++i) {
            const auto& r = results[i];
            if (pn.breaker_only && !r.has_breaker) continue;
            o << "<polyline fill=\"none\" stroke-width=\"1.5\" stroke=\"" << colors[i % 6] << "\" points=\"";
            for (std::size_t b = 0; b < r.buckets.size(); ++b) {
                double tmid = (static_cast<double>(b) + 0.5) * s.bucket_s;
                o << fmt("%.1f", x_of(tmid)) << "," << fmt("%.1f", y_of(pn.value(r, b))) << " ";
            }
            o << "\"/>\n";
        }
    }
    // Time axis.
    double yb = top + panels * (panel_h + gap);
    for (int k = 0; k <= 10; ++k) {
        double tt = s.duration_s * k / 10;
        o << "<text x=\"" << x_of(tt) << "\" y=\"" << yb << "\" text-anchor=\"middle\">" << fmt("%.0f s", tt)
          << "</text>\n";
    }
    o << "<text x=\"" << left << "\" y=\"" << yb + 22
      << "\" fill=\"#555\">shaded: red = outage, orange = throttling, blue = traffic spike</text>\n";
    o << "</svg>\n";
    return o.str();
}

}  // namespace resilience_sim
