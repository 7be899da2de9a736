// I/O statistics (docs/metrics.md): list-stats (an iostat-like view computed from two
// get-stats readings) and list-session (the sessions of each target, -v with their counters).
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <thread>

#include "tools/stmfadm/stmfadm.h"

namespace stmfadm {
namespace {

constexpr double kNsPerSecond = 1e9;
constexpr double kUsPerMs = 1e3;
constexpr double kBytesPerKiB = 1024;

// ErrorClass names as get-stats reports them (docs/metrics.md).
constexpr const char* kErrorClasses[] = {"check_condition", "reservation_conflict", "busy", "aborted"};

uint64_t u64(const json& j, const char* k) { return j.contains(k) && j[k].is_number_unsigned() ? j[k].get<uint64_t>() : 0; }

uint64_t errors_of(const json& stats) {
  uint64_t n = 0;
  if (stats.contains("errors") && stats["errors"].is_object())
    for (auto* c : kErrorClasses) n += u64(stats["errors"], c);
  return n;
}

// One list-stats row: what changed between two readings of one LU or port, over `secs`.
json row(const std::string& kind, const std::string& name, const json& now, const json& before, double secs) {
  auto d = [&](const char* k) { return double(u64(now, k) - std::min(u64(now, k), u64(before, k))); };
  const double cmds = d("commands"), lat_us = d("latency_us_sum");
  const double errs = double(errors_of(now) - std::min(errors_of(now), errors_of(before)));
  return {{"kind", kind},
          {"name", name},
          {"r_s", d("reads") / secs},
          {"w_s", d("writes") / secs},
          {"kr_s", d("bytes_read") / kBytesPerKiB / secs},
          {"kw_s", d("bytes_written") / kBytesPerKiB / secs},
          {"lat_ms", cmds > 0 ? lat_us / cmds / kUsPerMs : 0.0},
          // Average queue depth over the interval (Little's law: busy time / elapsed time),
          // and the commands in flight right now.
          {"qd", lat_us / (secs * 1e6)},
          {"in_flight", u64(now, "in_flight")},
          {"errors", errs}};
}

// The rows of two get-stats readings: every LU and port present in `now`, matched in `before`
// by GUID / port name (a new one counts from zero).
json rows(const json& now, const json& before) {
  const double secs = std::max(1e-3, double(u64(now, "time_ns") - std::min(u64(now, "time_ns"), u64(before, "time_ns"))) / kNsPerSecond);
  json out = json::array();
  auto each = [&](const char* list, const char* key, const char* kind) {
    for (auto& x : now.value(list, json::array())) {
      json prev = json::object();
      for (auto& y : before.value(list, json::array()))
        if (y.value(key, std::string()) == x.value(key, std::string())) prev = y.value("stats", json::object());
      std::string name = x.value(key, std::string());
      if (std::string(kind) == "lu" && !x.value("name", std::string()).empty()) name += " (" + x.value("name", std::string()) + ")";
      out.push_back(row(kind, name, x.value("stats", json::object()), prev, secs));
    }
  };
  each("lus", "guid", "lu");
  each("ports", "name", "port");
  return out;
}

void print_rows(const json& rs) {
  std::printf("%-4s %-48s %9s %9s %10s %10s %8s %6s %6s\n", "kind", "name", "r/s", "w/s", "kr/s", "kw/s", "lat_ms", "qd", "errs");
  for (auto& r : rs)
    std::printf("%-4s %-48s %9.1f %9.1f %10.1f %10.1f %8.3f %6.2f %6.0f\n", r["kind"].get<std::string>().c_str(),
                r["name"].get<std::string>().c_str(), r["r_s"].get<double>(), r["w_s"].get<double>(), r["kr_s"].get<double>(),
                r["kw_s"].get<double>(), r["lat_ms"].get<double>(), r["qd"].get<double>(), r["errors"].get<double>());
  std::printf("\n");
  std::fflush(stdout);
}

void session_counters(const json& st) {
  auto line = [](const char* name, const std::string& v) { std::printf("            %-18s: %s\n", name, v.c_str()); };
  if (!st.is_object()) {
    line("Statistics", "-");
    return;
  }
  line("Commands", std::to_string(u64(st, "commands")));
  line("Reads", std::to_string(u64(st, "reads")));
  line("Writes", std::to_string(u64(st, "writes")));
  line("Bytes Read", std::to_string(u64(st, "bytes_read")));
  line("Bytes Written", std::to_string(u64(st, "bytes_written")));
  std::string errs;
  for (auto* c : kErrorClasses) errs += std::string(errs.empty() ? "" : ", ") + c + " " + std::to_string(u64(st.value("errors", json::object()), c));
  line("Errors", errs);
  const uint64_t cmds = u64(st, "commands");
  char lat[32];
  std::snprintf(lat, sizeof lat, "%.3f ms", cmds ? double(u64(st, "latency_us_sum")) / double(cmds) / kUsPerMs : 0.0);
  line("Average Latency", lat);
  line("In Flight", std::to_string(u64(st, "in_flight")));
}

}  // namespace

void add_stats_commands(CLI::App& app, Registry& r, Ctx& ctx) {
  // list-stats [-i SECONDS] [-c COUNT]
  {
    struct O {
      double interval = 1;
      int count = 1;
      CLI::Option* interval_opt = nullptr;
      CLI::Option* count_opt = nullptr;
    };
    auto o = std::make_shared<O>();
    auto* c = r.add(app, "list-stats", "I/O statistics per LU and target port (iostat-like rates over an interval)");
    o->interval_opt = c->add_option("-i,--interval", o->interval, "Seconds between reports (default 1)")->check(CLI::Range(0.1, 86400.0));
    o->count_opt = c->add_option("-c,--count", o->count, "Number of reports (default 1; with -i alone: until interrupted)")
                       ->check(CLI::Range(1, 1000000));
    r.on(c, [o, &ctx] {
      const bool forever = o->interval_opt->count() && !o->count_opt->count();
      json before = ctx.call("get-stats");
      for (int i = 0; forever || i < o->count; ++i) {
        std::this_thread::sleep_for(std::chrono::duration<double>(o->interval));
        json now = ctx.call("get-stats");
        json rs = rows(now, before);
        if (ctx.json_output) ctx.print_json({{"interval_s", o->interval}, {"rows", rs}});
        else print_rows(rs);
        before = std::move(now);
      }
    });
  }

  // list-session [-v] [target...]
  {
    struct O {
      std::vector<std::string> names;
      bool verbose = false;
    };
    auto o = std::make_shared<O>();
    auto* c = r.add(app, "list-session", "List the sessions (I_T nexuses) of targets; -v with their I/O counters");
    c->add_flag("-v,--verbose", o->verbose, "Show each session's counters");
    c->add_option("target", o->names, "Target names; default: all");
    r.on(c, [o, &ctx] {
      std::vector<std::string> names = o->names;
      if (names.empty())
        for (auto& t : ctx.call("list-target").value("targets", json::array())) names.push_back(t.value("name", std::string()));
      json out = json::array();
      for (auto& name : names) {
        auto res = ctx.try_call("list-sessions", {{"target", name}});
        if (!res) continue;
        for (auto s : res->value("sessions", json::array())) {
          s["target"] = name;
          if (ctx.json_output) {
            if (!o->verbose) s.erase("stats");
            out.push_back(s);
            continue;
          }
          std::printf("Initiator: %s\n", s.value("initiator", std::string()).c_str());
          std::printf("    Target: %s\n", name.c_str());
          std::printf("    ISID: %s\n", s.value("isid", std::string()).c_str());
          std::string alias = s.value("alias", std::string());
          std::printf("    Alias: %s\n", alias.empty() ? "-" : alias.c_str());
          std::printf("    Logged in since: %s\n", logged_in_since(s).c_str());
          if (!o->verbose) continue;
          // Array session handle and service provider information (docs/array-sessions.md),
          // when the daemon reports them.
          if (s.contains("ash") && s["ash"].is_number_integer()) std::printf("    ASH: %s\n", ash_string(s["ash"].get<int64_t>()).c_str());
          if (s.contains("spi")) std::printf("    SPI: %s\n", s["spi"].is_string() ? s["spi"].get<std::string>().c_str() : s["spi"].dump().c_str());
          std::printf("        Statistics:\n");
          session_counters(s.value("stats", json()));
        }
      }
      std::fflush(stdout);
      if (ctx.json_output) ctx.print_json({{"sessions", out}});
    });
  }
}

}  // namespace stmfadm
