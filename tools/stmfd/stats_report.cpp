#include "tools/stmfd/stats_report.h"

#include "core/guid.h"
#include "core/task_stats.h"
#include "proxy/proxy_port.h"
#include "proxy/service.h"

namespace stmfd {

namespace {

// JSON keys of the error classes, in stats::ErrorClass order (docs/metrics.md).
constexpr const char* kErrorClassNames[stmf::stats::kErrorClasses] = {"check_condition", "reservation_conflict", "busy",
                                                                      "aborted"};

}  // namespace

StatsReport collect_stats(const stmf::Stmf& stmf, const stmf::proxy::ProxyService* proxy) {
  StatsReport r;
  r.time_ns = stmf::stats_now_ns();
  r.statistics = stmf.statistics();
  for (auto& lu : stmf.lus())
    r.lus.push_back({stmf::guid_hex(lu->guid()), lu->name(), lu->standby(), lu->stats().snapshot()});
  for (auto* p : stmf.ports())
    r.ports.push_back({p->port_name(), p->target_name(), p->rtpi(), p->tpg(),
                       dynamic_cast<const stmf::proxy::ProxyPort*>(p) != nullptr, p->stats().snapshot()});
  for (auto& n : stmf.nexuses())
    r.sessions.push_back({n->id(), n->initiator_name(), n->isid_hex(), n->port().port_name(), n->remote(),
                          n->stats().snapshot()});
  if (proxy) {
    r.proxy = proxy->status();
    r.proxy["enabled"] = stmf.alua().enabled;
  }
  return r;
}

nlohmann::json to_json(const stmf::stats::Snapshot& s) {
  nlohmann::json errors = nlohmann::json::object();
  for (int i = 0; i < stmf::stats::kErrorClasses; ++i) errors[kErrorClassNames[i]] = s.errors[size_t(i)];
  return {{"commands", s.commands},
          {"reads", s.reads},
          {"writes", s.writes},
          {"bytes_read", s.bytes_read},
          {"bytes_written", s.bytes_written},
          {"errors", errors},
          {"latency_us_sum", s.latency_us_sum},
          {"latency_histogram", s.latency},
          {"in_flight", s.in_flight}};
}

nlohmann::json to_json(const StatsReport& r) {
  nlohmann::json j;
  j["time_ns"] = r.time_ns;
  j["statistics"] = r.statistics;
  j["lus"] = nlohmann::json::array();
  for (auto& l : r.lus) j["lus"].push_back({{"guid", l.guid}, {"name", l.name}, {"standby", l.standby}, {"stats", to_json(l.s)}});
  j["ports"] = nlohmann::json::array();
  for (auto& p : r.ports)
    j["ports"].push_back({{"name", p.name}, {"target", p.target}, {"rtpi", p.rtpi}, {"tpg", p.tpg}, {"peer", p.peer},
                          {"stats", to_json(p.s)}});
  j["sessions"] = nlohmann::json::array();
  for (auto& s : r.sessions)
    j["sessions"].push_back({{"id", s.id}, {"initiator", s.initiator}, {"isid", s.isid}, {"port", s.port}, {"peer", s.peer},
                             {"stats", to_json(s.s)}});
  j["proxy"] = r.proxy;
  return j;
}

}  // namespace stmfd
