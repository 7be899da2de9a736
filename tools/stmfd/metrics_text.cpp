// The Prometheus text exposition (format 0.0.4) of a StatsReport: every metric of
// docs/metrics.md, with HELP and TYPE lines. Label cardinality is bounded: LUs and target
// ports are configuration objects (bounded by the configuration); sessions have one series
// each, at most kMaxSessionSeries (the oldest; the number left out is a gauge of its own).
#include <cinttypes>
#include <cstdio>
#include <string>

#include "tools/stmfd/stats_report.h"

namespace stmfd {

namespace {

using stmf::stats::Snapshot;

constexpr size_t kMaxSessionSeries = 256;
constexpr double kMicrosecondsPerSecond = 1e6;

// ErrorClass order (core/stats.h).
constexpr const char* kErrorClassLabels[stmf::stats::kErrorClasses] = {"check_condition", "reservation_conflict", "busy",
                                                                       "aborted"};

// Label values: backslash, double quote and line feed escaped (exposition format).
std::string escape(const std::string& v) {
  std::string o;
  o.reserve(v.size());
  for (char c : v) {
    if (c == '\\') o += "\\\\";
    else if (c == '"') o += "\\\"";
    else if (c == '\n') o += "\\n";
    else o += c;
  }
  return o;
}

std::string num(double v) {
  char b[40];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}

class Writer {
 public:
  void family(const std::string& name, const char* type, const char* help) {
    out_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void sample(const std::string& name, const std::string& labels, uint64_t v) {
    out_ += name + (labels.empty() ? "" : "{" + labels + "}") + " " + std::to_string(v) + "\n";
  }
  void sample(const std::string& name, const std::string& labels, double v) {
    out_ += name + (labels.empty() ? "" : "{" + labels + "}") + " " + num(v) + "\n";
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// One row of labels and its snapshot.
struct Row {
  std::string labels;
  const Snapshot* s;
};

// The counter families every object kind has (prefix stmf_lu_, stmf_port_, stmf_session_).
struct CounterFamily {
  const char* suffix;
  const char* help;
  uint64_t Snapshot::*field;
};
constexpr CounterFamily kCounters[] = {
    {"commands_total", "Commands completed (any status).", &Snapshot::commands},
    {"reads_total", "Read commands that completed with GOOD status.", &Snapshot::reads},
    {"writes_total", "Write commands that completed with GOOD status.", &Snapshot::writes},
    {"read_bytes_total", "Bytes read by read commands (sent to initiators).", &Snapshot::bytes_read},
    {"written_bytes_total", "Bytes written by write commands (received from initiators).", &Snapshot::bytes_written},
};

void counters(Writer& w, const std::string& prefix, const std::vector<Row>& rows, const char* what) {
  for (auto& c : kCounters) {
    const std::string name = prefix + c.suffix;
    w.family(name, "counter", (std::string(c.help) + " Per " + what + ".").c_str());
    for (auto& r : rows) w.sample(name, r.labels, r.s->*c.field);
  }
  const std::string errors = prefix + "errors_total";
  w.family(errors, "counter", (std::string("Commands that ended with an error, by class. Per ") + what + ".").c_str());
  for (auto& r : rows)
    for (int i = 0; i < stmf::stats::kErrorClasses; ++i)
      w.sample(errors, r.labels + (r.labels.empty() ? "" : ",") + "class=\"" + kErrorClassLabels[i] + "\"", r.s->errors[size_t(i)]);
}

void in_flight(Writer& w, const std::string& prefix, const std::vector<Row>& rows, const char* what) {
  const std::string name = prefix + "in_flight";
  w.family(name, "gauge", (std::string("Commands started and not yet completed (queue depth). Per ") + what + ".").c_str());
  for (auto& r : rows) w.sample(name, r.labels, r.s->in_flight);
}

void latency(Writer& w, const std::string& prefix, const std::vector<Row>& rows, const char* what) {
  const std::string name = prefix + "latency_seconds";
  w.family(name, "histogram",
           (std::string("Command latency, submit to completion (bucket le: shorter than le). Per ") + what + ".").c_str());
  for (auto& r : rows) {
    const std::string sep = r.labels.empty() ? "" : ",";
    uint64_t cum = 0;
    for (int i = 0; i < stmf::stats::kLatencyBuckets - 1; ++i) {
      cum += r.s->latency[size_t(i)];
      w.sample(name + "_bucket", r.labels + sep + "le=\"" + num(double(stmf::stats::latency_bucket_limit_us(i)) / kMicrosecondsPerSecond) + "\"",
               cum);
    }
    cum += r.s->latency[size_t(stmf::stats::kLatencyBuckets - 1)];
    w.sample(name + "_bucket", r.labels + sep + "le=\"+Inf\"", cum);
    w.sample(name + "_sum", r.labels, double(r.s->latency_us_sum) / kMicrosecondsPerSecond);
    w.sample(name + "_count", r.labels, cum);
  }
}

uint64_t json_u64(const nlohmann::json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

void proxy_metrics(Writer& w, const nlohmann::json& p) {
  if (!p.is_object()) return;
  struct Gauge {
    const char* name;
    const char* type;
    const char* help;
    const char* key;
  };
  static constexpr Gauge kProxy[] = {
      {"stmf_proxy_forwarded_tasks_total", "counter", "Commands this node forwarded to the peer (standby LUs).", "forwarded_tasks"},
      {"stmf_proxy_served_tasks_total", "counter", "Commands of the peer's sessions this node ran and answered.", "served_tasks"},
      {"stmf_proxy_fenced_tasks_total", "counter", "Commands of the peer refused: they named another ownership epoch.",
       "fenced_tasks"},
      {"stmf_proxy_refused_tasks_total", "counter", "Commands for standby LUs not forwarded: the link was down.",
       "refused_tasks"},
      {"stmf_proxy_refused_connections_total", "counter", "Connections refused on the link port, or handshakes that failed.",
       "refused_connections"},
      {"stmf_proxy_pending_tasks", "gauge", "Forwarded commands waiting for the peer's answer.", "pending_tasks"},
  };
  w.family("stmf_proxy_link_up", "gauge", "1 when the ALUA proxy link is up.");
  w.sample("stmf_proxy_link_up", "", uint64_t(p.value("link", std::string()) == "up"));
  w.family("stmf_proxy_rtt_seconds", "gauge", "Round trip of the last proxy link heartbeat (ECHO_REQUEST to ECHO_REPLY).");
  w.sample("stmf_proxy_rtt_seconds", "", double(json_u64(p, "rtt_us")) / kMicrosecondsPerSecond);
  for (auto& g : kProxy) {
    w.family(g.name, g.type, g.help);
    w.sample(g.name, "", json_u64(p, g.key));
  }
}

}  // namespace

std::string to_prometheus_text(const StatsReport& r) {
  Writer w;
  w.family("stmf_statistics_enabled", "gauge", "1 when I/O counting is on (metrics.statistics).");
  w.sample("stmf_statistics_enabled", "", uint64_t(r.statistics));

  std::vector<Row> lus, ports, sessions;
  for (auto& l : r.lus) lus.push_back({"lu=\"" + escape(l.guid) + "\",name=\"" + escape(l.name) + "\"", &l.s});
  for (auto& p : r.ports)
    ports.push_back({"target=\"" + escape(p.target) + "\",port=\"" + escape(p.name) + "\",node=\"" + (p.peer ? "peer" : "local") + "\"",
                     &p.s});
  // Sessions: one series each (a new session is a new series starting at 0), the oldest
  // kMaxSessionSeries; the rest are counted in stmf_session_series_dropped.
  size_t dropped = 0;
  for (auto& s : r.sessions) {
    if (sessions.size() >= kMaxSessionSeries) {
      ++dropped;
      continue;
    }
    sessions.push_back({"initiator=\"" + escape(s.initiator) + "\",isid=\"" + escape(s.isid) + "\",port=\"" + escape(s.port) +
                            "\",session=\"" + std::to_string(s.id) + "\"",
                        &s.s});
  }

  counters(w, "stmf_lu_", lus, "logical unit");
  in_flight(w, "stmf_lu_", lus, "logical unit");
  latency(w, "stmf_lu_", lus, "logical unit");
  counters(w, "stmf_port_", ports, "target port");
  in_flight(w, "stmf_port_", ports, "target port");
  latency(w, "stmf_port_", ports, "target port");
  counters(w, "stmf_session_", sessions, "session (I_T nexus)");
  in_flight(w, "stmf_session_", sessions, "session (I_T nexus)");
  w.family("stmf_session_series_dropped", "gauge", "Sessions beyond the exported limit (not exported; get-stats lists them).");
  w.sample("stmf_session_series_dropped", "", uint64_t(dropped));
  proxy_metrics(w, r.proxy);
  return w.take();
}

}  // namespace stmfd
