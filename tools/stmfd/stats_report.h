// One reading of every I/O statistic of this node (docs/metrics.md): the LUs', the target
// ports' (this node's and the peer's proxy ports), the sessions' (I_T nexuses, including the
// peer's sessions this node serves) and the proxy link's. The management op `get-stats`
// returns it as JSON; the metrics endpoint renders it as Prometheus text
// (tools/stmfd/metrics_text.cpp). Thread-safe: it reads the framework's lists under its lock
// and the counters' relaxed atomics.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/stats.h"
#include "core/stmf.h"

namespace stmf::proxy {
class ProxyService;
}

namespace stmfd {

struct StatsReport {
  uint64_t time_ns = 0;     // steady clock when read (rates are differences over time)
  bool statistics = true;   // counting on (config metrics.statistics)
  struct Lu {
    std::string guid, name;
    bool standby = false;
    stmf::stats::Snapshot s;
  };
  struct Port {
    std::string name, target;
    uint16_t rtpi = 0, tpg = 0;
    bool peer = false;  // a proxy port: the peer node's port, its sessions served here
    stmf::stats::Snapshot s;
  };
  struct Session {
    uint64_t id = 0;
    std::string initiator, isid, port;
    bool peer = false;  // a session of the peer node, served here
    stmf::stats::Snapshot s;
  };
  std::vector<Lu> lus;
  std::vector<Port> ports;
  std::vector<Session> sessions;
  nlohmann::json proxy;  // ProxyService::status() plus "enabled"; null without a proxy service
};

StatsReport collect_stats(const stmf::Stmf& stmf, const stmf::proxy::ProxyService* proxy);

nlohmann::json to_json(const stmf::stats::Snapshot& s);
nlohmann::json to_json(const StatsReport& r);

// The Prometheus text exposition (format 0.0.4) of a report (tools/stmfd/metrics_text.cpp).
std::string to_prometheus_text(const StatsReport& r);

}  // namespace stmfd
