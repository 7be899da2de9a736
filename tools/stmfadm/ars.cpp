// stmfadm arsctl / arsop / acct: array sessions (docs/array-sessions.md, docs/stmfadm.md).
#include <CLI/CLI.hpp>

#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "tools/stmfadm/stmfadm.h"

namespace stmfadm {

namespace {

// The settings `arsctl get|set NAME` knows: name -> the protocol's codes.
struct ArsSetting {
  const char* name;
  const char* get;
  const char* set;  // nullptr: read-only
  bool bytes;       // hex bytes (the SPI), else an integer
};
constexpr ArsSetting kSettings[] = {
    {"saf", "GETSAF", "SETSAF", false},
    {"machid", "GETMACHID", "SETMACHID", false},
    {"arrayid", "GETARRAYID", "SETARRAYID", false},
    {"ashctr", "GETASHCTR", "SETASHCTR", false},
    {"ashincr", "GETASHINCR", "SETASHINCR", false},
    {"dfltspi", "GETDFLTSPI", "SETDFLTSPI", true},
    {"dfltspilen", "GETDFLTSPILEN", "SETDFLTSPILEN", false},
    {"allocash", "ALLOCASH", nullptr, false},
};

const ArsSetting& setting(const std::string& name) {
  for (auto& s : kSettings)
    if (iequals(name, s.name)) return s;
  std::string names;
  for (auto& s : kSettings) names += std::string(names.empty() ? "" : ", ") + s.name;
  throw UsageError("unknown array session setting '" + name + "' (one of " + names + ")");
}

int64_t int_arg(const std::string& what, const std::string& v) {
  char* end = nullptr;
  errno = 0;
  const long long n = std::strtoll(v.c_str(), &end, 0);  // 0x... for handles
  if (v.empty() || *end || errno) throw UsageError(what + ": '" + v + "' is not an integer");
  return n;
}

// Seconds since the epoch, or "YYYY-MM-DDTHH:MM:SS" (UTC; a trailing Z is allowed).
int64_t time_arg(const std::string& what, const std::string& v) {
  if (!v.empty() && v.find_first_not_of("0123456789") == std::string::npos) return int_arg(what, v);
  struct tm tm {};
  const char* end = strptime(v.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end || (*end && std::string(end) != "Z")) throw UsageError(what + ": '" + v + "' is not a time (seconds or YYYY-MM-DDTHH:MM:SS)");
  return int64_t(timegm(&tm));
}

std::string time_string(int64_t ns) {
  const time_t t = time_t(ns / 1000000000);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char b[32];
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return b;
}

}  // namespace

std::string ash_string(int64_t a) {
  char b[19];
  std::snprintf(b, sizeof b, "0x%016llx", (unsigned long long)a);
  return b;
}


void add_ars_commands(CLI::App& app, Registry& r, Ctx& ctx) {
  {
    auto* sub = r.add(app, "arsctl", "Show or change an array session setting (arsctl(2))");
    auto verb = std::make_shared<std::string>();
    auto name = std::make_shared<std::string>();
    auto value = std::make_shared<std::string>();
    sub->add_option("verb", *verb, "get | set")->required()->check(CLI::IsMember({"get", "set"}));
    sub->add_option("name", *name, "saf | machid | arrayid | ashctr | ashincr | dfltspi | dfltspilen | allocash")->required();
    sub->add_option("value", *value, "the new value (set): an integer, or hex bytes for dfltspi");
    r.on(sub, [&ctx, verb, name, value] {
      const ArsSetting& s = setting(*name);
      if (*verb == "get") {
        const json v = ctx.call("arsctl", {{"code", s.get}}).value("value", json(nullptr));
        if (ctx.json_output) return ctx.print_json({{"name", s.name}, {"value", v}});
        if (v.is_string()) std::printf("%s\n", v.get<std::string>().c_str());
        else if (std::string(s.name) == "ashctr" || std::string(s.name) == "allocash") std::printf("%s\n", ash_string(v.get<int64_t>()).c_str());
        else std::printf("%s\n", v.dump().c_str());
        return;
      }
      if (!s.set) throw UsageError(std::string(s.name) + " cannot be set");
      if (value->empty() && !s.bytes) throw UsageError("arsctl set " + std::string(s.name) + ": a value is needed");
      json v = s.bytes ? json(*value) : json(int_arg(s.name, *value));
      ctx.call("arsctl", {{"code", s.set}, {"value", v}});
    });
  }
  {
    auto* sub = r.add(app, "arsop", "Show or change one array session (arsop(2)): info, setspi, flush");
    auto verb = std::make_shared<std::string>();
    auto ash = std::make_shared<std::string>();
    auto spi = std::make_shared<std::string>();
    auto reset = std::make_shared<bool>(false);
    sub->add_option("verb", *verb, "info | setspi | flush")->required()->check(CLI::IsMember({"info", "setspi", "flush"}));
    sub->add_option("ash", *ash, "the session's handle (0x... as list-target -v shows it)")->required();
    sub->add_option("spi", *spi, "setspi: the SPI as hex bytes");
    sub->add_flag("--default", *reset, "setspi: back to the default SPI");
    r.on(sub, [&ctx, verb, ash, spi, reset] {
      const int64_t a = int_arg("ash", *ash);
      if (*verb == "info") {
        json info = ctx.call("arsop", {{"code", "GETINFO"}, {"ash", a}}).value("info", json::object());
        if (ctx.json_output) return ctx.print_json({{"info", info}});
        std::printf("ASH: %s\n", ash_string(info.value("ash", int64_t(0))).c_str());
        std::printf("    Initiator: %s\n", info.value("initiator", std::string()).c_str());
        std::printf("    Target: %s\n", info.value("target", std::string()).c_str());
        std::printf("    Start: %s\n", time_string(info.value("start_time", int64_t(0)) * 1000000000).c_str());
        std::printf("    Proxied: %s\n", info.value("proxied", false) ? "yes" : "no");
        std::printf("    SPI (%s, %d bytes): %s\n", info.value("spi_set", false) ? "set" : "default", info.value("spilen", 0),
                    info.value("spi", std::string()).c_str());
        return;
      }
      if (*verb == "flush") {
        ctx.call("arsop", {{"code", "FLUSHACCT"}, {"ash", a}});
        return;
      }
      if (!*reset && spi->empty()) throw UsageError("arsop setspi: give the SPI (hex) or --default");
      ctx.call("arsop", {{"code", "SETSPI"}, {"ash", a}, {"spi", *reset ? json(nullptr) : json(*spi)}});
    });
  }
  {
    auto* sub = r.add(app, "acct", "Print session accounting records");
    auto ash = std::make_shared<std::string>();
    auto initiator = std::make_shared<std::string>();
    auto since = std::make_shared<std::string>();
    auto until = std::make_shared<std::string>();
    sub->add_option("--ash", *ash, "only this session's records");
    sub->add_option("--initiator", *initiator, "only records whose initiator port name starts with this");
    sub->add_option("--since", *since, "only sessions that ended at or after (seconds since the epoch or YYYY-MM-DDTHH:MM:SS UTC)");
    sub->add_option("--until", *until, "only sessions that began at or before");
    r.on(sub, [&ctx, ash, initiator, since, until] {
      json args = json::object();
      if (!ash->empty()) args["ash"] = int_arg("--ash", *ash);
      if (!initiator->empty()) args["initiator"] = *initiator;
      if (!since->empty()) args["since_ns"] = time_arg("--since", *since) * 1000000000;
      if (!until->empty()) args["until_ns"] = time_arg("--until", *until) * 1000000000;
      json res = ctx.call("acct", args);
      if (ctx.json_output) {
        for (auto& rec : res.value("records", json::array())) ctx.print_json(rec);
        return;
      }
      std::printf("%-18s %-20s %-20s %-8s %10s %14s %14s %7s  %s\n", "ASH", "START", "END", "FLAGS", "COMMANDS", "BYTES READ",
                  "BYTES WRITTEN", "ERRORS", "INITIATOR");
      for (auto& rec : res.value("records", json::array())) {
        std::string flags;
        for (auto& f : rec.value("flags", json::array())) flags += f.get<std::string>().substr(0, 1);
        const uint64_t errors = rec.value("check_conditions", uint64_t(0)) + rec.value("reservation_conflicts", uint64_t(0)) +
                                rec.value("busy", uint64_t(0)) + rec.value("aborted", uint64_t(0));
        std::printf("%-18s %-20s %-20s %-8s %10llu %14llu %14llu %7llu  %s\n", rec.value("ash", std::string()).c_str(),
                    time_string(rec.value("start_ns", int64_t(0))).c_str(), time_string(rec.value("end_ns", int64_t(0))).c_str(),
                    flags.empty() ? "-" : flags.c_str(), (unsigned long long)rec.value("commands", uint64_t(0)),
                    (unsigned long long)rec.value("bytes_read", uint64_t(0)),
                    (unsigned long long)rec.value("bytes_written", uint64_t(0)), (unsigned long long)errors,
                    rec.value("initiator", std::string()).c_str());
      }
      if (res.value("truncated", false)) std::printf("(only the newest %zu records shown)\n", res["records"].size());
    });
  }
}

}  // namespace stmfadm
