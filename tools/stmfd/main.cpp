// stmfd: the STMF daemon. Loads the configuration (state database, else the JSON file or
// the embedded default), builds LUs, target ports and views, serves iSCSI portals and the
// management socket, and shuts down gracefully on SIGTERM/SIGINT (at once on a second one).
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/asio.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <thread>

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/stmf.h"
#include "mgmt/json_limits.h"
#include "tools/stmfd/audit_log.h"
#include "mgmt/config.h"
#include "mgmt/protocol.h"
#include "mgmt/state_db.h"
#include "tools/stmfd/mgmt_server.h"
#include "tools/stmfd/pr_persistence.h"
#include "tools/stmfd/metrics_server.h"
#include "tools/stmfd/runtime.h"
#include "tools/stmfd/service_notify.h"
#include "tools/stmfd/stats_report.h"
#include "tools/stmfd/session_acct.h"
#include "tools/common/journal_log.h"
#include "transport/server.h"

namespace asio = boost::asio;
using namespace std::chrono_literals;
namespace mgmt = stmf::mgmt;

namespace {

stmf::transport::IscsiSettings iscsi_settings(const mgmt::IscsiConfig& c) {
  stmf::transport::IscsiSettings is;
  is.max_recv_data_segment_length = c.max_recv_data_segment_length;
  is.max_burst_length = c.max_burst_length;
  is.first_burst_length = c.first_burst_length;
  is.immediate_data = c.immediate_data;
  is.initial_r2t = c.initial_r2t;
  is.max_outstanding_r2t = c.max_outstanding_r2t;
  is.header_digest = c.header_digest;
  is.data_digest = c.data_digest;
  is.queue_depth = c.queue_depth;
  is.nop_in_interval_s = c.nop_in_interval_s;
  is.nop_in_timeout_s = c.nop_in_timeout_s;
  is.login_timeout_s = c.login_timeout_s;
  is.max_connections = c.max_connections;
  is.max_connections_per_address = c.max_connections_per_address;
  is.max_sessions_per_initiator = c.max_sessions_per_initiator;
  is.max_immediate_commands = c.max_immediate_commands;
  is.session_data_buffer = c.session_data_buffer;
  is.total_data_buffer = c.total_data_buffer;
  is.send_queue_bytes = c.send_queue_bytes;
  is.warn_burst = c.warn_burst;
  is.warn_interval_s = c.warn_interval_s;
  return is;
}

// Every connection, LU backing file and database handle is a descriptor: run with the soft
// open-file limit raised to the hard limit (the distribution's soft default, often 1024, is
// far below what max_connections allows). Logged either way.
void raise_open_file_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    spdlog::warn("open-file limit: getrlimit: {}", std::strerror(errno));
    return;
  }
  auto show = [](rlim_t v) { return v == RLIM_INFINITY ? std::string("unlimited") : std::to_string(v); };
  const rlim_t before = rl.rlim_cur;
  if (rl.rlim_cur != rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) {
      spdlog::warn("open-file limit: soft {} hard {}: raising the soft limit failed: {}", show(before), show(rl.rlim_max),
                   std::strerror(errno));
      return;
    }
  }
  spdlog::info("open-file limit: soft {} -> {} (hard {})", show(before), show(rl.rlim_cur), show(rl.rlim_max));
}

}  // namespace

int main(int argc, char** argv) {
  // A peer that goes away makes a write on its socket fail with EPIPE, never end the daemon:
  // libiscsi (the iscsi store's SAN sessions, libmhd's control handles) writes with writev(),
  // which raises SIGPIPE (Asio's own sockets send with MSG_NOSIGNAL). Before any thread starts.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"stmfd - userspace SCSI target framework daemon (iSCSI)"};
  std::string config_path, state_dir, log_level, socket_path;
  bool print_default = false, check_only = false;
  app.add_option("-c,--config", config_path, "JSON configuration file (default: the embedded default)");
  app.add_option("--state-dir", state_dir, "directory of the state database (stmf.db); without it nothing persists");
  app.add_option("--socket", socket_path, "management socket path (default: see docs/management.md)");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|critical|off (overrides the config)");
  app.add_flag("--print-default-config", print_default, "print the embedded default configuration and exit");
  app.add_flag("--check-config", check_only, "validate the configuration and exit");
  CLI11_PARSE(app, argc, argv);

  if (print_default) {
    std::puts(mgmt::kDefaultConfig);
    return 0;
  }
  spdlog::set_default_logger(spdlog::stderr_color_mt("stmfd"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
  stmf::tools::log_to_journal_if_connected();

  mgmt::ConfigError err;
  auto file_cfg = config_path.empty() ? mgmt::parse_config(mgmt::kDefaultConfig, err) : mgmt::load_config(config_path, err);
  if (!file_cfg) {
    std::fprintf(stderr, "stmfd: configuration %s refused: %s\n", config_path.empty() ? "(embedded)" : config_path.c_str(),
                 err.message().c_str());
    return 2;
  }
  if (check_only) {
    std::printf("configuration OK: %zu portal(s), %zu target(s), %zu LU(s), %zu view entr%s\n", file_cfg->portals.size(),
                file_cfg->targets.size(), file_cfg->lus.size(), file_cfg->views.size(), file_cfg->views.size() == 1 ? "y" : "ies");
    return 0;
  }

  // The configuration: the state database when it holds one, else the file (which then
  // seeds a new database). A database that cannot be trusted stops us here.
  std::unique_ptr<mgmt::StateDb> db;
  mgmt::Config cfg = *file_cfg;
  if (!state_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(state_dir, ec);
    if (ec) {
      std::fprintf(stderr, "stmfd: --state-dir %s: %s\n", state_dir.c_str(), ec.message().c_str());
      return 2;
    }
    std::string why;
    db = mgmt::StateDb::open(state_dir, why);
    if (!db) {
      std::fprintf(stderr, "stmfd: refusing to start: %s\n", why.c_str());
      return 2;
    }
    if (!db->empty()) {
      auto loaded = db->load(why);
      if (!loaded) {
        std::fprintf(stderr, "stmfd: refusing to start: state database %s: %s\n", db->path().c_str(), why.c_str());
        return 2;
      }
      cfg = std::move(*loaded);
    }
  }
  auto level = spdlog::level::from_str(log_level.empty() ? cfg.log_level : log_level);
  spdlog::set_level(level);
  if (db && !db->empty() && !config_path.empty())
    spdlog::warn("configuration file {} ignored: the state database {} holds the configuration (use stmfadm import)",
                 config_path, db->path());
  if (!db) spdlog::warn("no --state-dir: management changes are not persisted");
  // The audit trail (docs/security.md): open before anything can change.
  stmfd::AuditLog audit_log;
  {
    std::string why;
    if (!audit_log.open(cfg.management.audit, state_dir, why)) {
      std::fprintf(stderr, "stmfd: %s\n", why.c_str());
      return 2;
    }
    spdlog::info("audit trail: {}{}", audit_log.path().empty() ? "this log" : audit_log.path(),
                 cfg.management.audit.syslog ? " and syslog" : "");
  }
  stmf::set_audit_sink(&audit_log);
  struct AuditOff {
    ~AuditOff() { stmf::set_audit_sink(nullptr); }
  } audit_off;

  raise_open_file_limit();

  asio::io_context io;
  stmfd::ServiceNotifier service(io);  // systemd's Type=notify (docs/install.md)
  stmf::Stmf framework;
  stmf::transport::Server server(io, framework, iscsi_settings(cfg.iscsi));
  // Persistent reservations made with APTPL come back with their LUs.
  std::map<std::string, stmf::pr::PrState> restored_pr;
  std::unique_ptr<stmfd::DbPrPersistence> pr_persistence;
  if (db) {
    std::string why;
    auto rows = db->load_pr(why);
    if (!rows) {
      std::fprintf(stderr, "stmfd: refusing to start: %s\n", why.c_str());
      return 2;
    }
    for (auto& [guid, text] : *rows) {
      auto j = stmf::mgmt::parse_json_limited(text);
      auto st = j.is_discarded() ? std::nullopt : stmfd::pr_state_from_json(j, why);
      if (!st) {
        std::fprintf(stderr, "stmfd: refusing to start: %s: reservation state of LU %s is invalid: %s\n",
                     db->path().c_str(), guid.c_str(), j.is_discarded() ? "not JSON" : why.c_str());
        return 2;
      }
      restored_pr[guid] = *st;
    }
    pr_persistence = std::make_unique<stmfd::DbPrPersistence>(*db);
    framework.set_pr_persistence(pr_persistence.get());
  }
  stmfd::Runtime runtime(framework, server, std::move(restored_pr));
  // Session accounting (docs/array-sessions.md): on in the state directory unless disabled.
  stmfd::SessionAccounting accounting(framework, cfg.alua.enabled ? uint16_t(cfg.alua.node) : stmfd::acct::kNoNode);
  {
    const auto& a = cfg.array_sessions.accounting;
    const std::string file = !a.file.empty() ? a.file : state_dir.empty() ? "" : state_dir + "/session-acct";
    if (a.enabled && !file.empty()) {
      std::string why;
      accounting.set_format(cfg.array_sessions.accounting_format);
      if (!accounting.start(file, a.max_bytes, why)) {
        std::fprintf(stderr, "stmfd: %s\n", why.c_str());
        return 2;
      }
      runtime.set_accounting(&accounting);
      framework.set_session_listener(&accounting);
    }
  }
  struct AccountingOff {
    stmf::Stmf& f;
    stmfd::SessionAccounting& a;
    ~AccountingOff() {
      a.stop();
      f.set_session_listener(nullptr);
    }
  } accounting_off{framework, accounting};
  // Management runs on its own thread: store creation and database fsyncs never stall I/O.
  asio::io_context mgmt_io;
  // The ALUA pair's proxy service (a strand on the I/O threads; idle until ALUA is enabled).
  char host_name[256] = {};
  ::gethostname(host_name, sizeof host_name - 1);
  stmf::proxy::ProxyService proxy(framework, runtime, host_name, io);
  runtime.attach_proxy(&proxy, [&mgmt_io](std::function<void()> fn) { asio::post(mgmt_io, std::move(fn)); });
  framework.set_peer(&proxy, &proxy);
  framework.set_reservation_mirror(&proxy);
  proxy.start();
  {
    mgmt::Config empty;
    empty.portals.clear();
    empty.service_online = cfg.service_online;
    if (auto s = runtime.prepare(empty, cfg); !s.ok()) {
      std::fprintf(stderr, "stmfd: %s\n", s.message.c_str());
      return 2;
    }
    if (db && db->empty()) {
      std::string why;
      if (!db->save(cfg, why)) {
        std::fprintf(stderr, "stmfd: cannot initialize the state database: %s\n", why.c_str());
        return 2;
      }
      spdlog::info("state database {} initialized from {}", db->path(), config_path.empty() ? "the embedded default" : config_path);
    }
    runtime.commit(empty, cfg);
  }

  stmfd::MgmtServer mgmt_server(mgmt_io, runtime, db.get(), cfg);
  mgmt_server.set_audit(&audit_log);
  {
    std::string why;
    const std::string path = !socket_path.empty()            ? socket_path
                             : !cfg.management.socket.empty() ? cfg.management.socket
                                                              : mgmt::default_socket_path(true);
    if (!mgmt_server.start(path, why)) {
      std::fprintf(stderr, "stmfd: %s\n", why.c_str());
      return 2;
    }
  }
  // The metrics endpoint (docs/metrics.md): off unless metrics.listen is set; read at start.
  std::unique_ptr<stmfd::MetricsServer> metrics;
  if (!cfg.metrics.listen.empty()) {
    metrics = std::make_unique<stmfd::MetricsServer>(
        cfg.metrics, [&framework, &proxy] { return stmfd::to_prometheus_text(stmfd::collect_stats(framework, &proxy)); });
    std::string why;
    if (!metrics->start(why)) {
      std::fprintf(stderr, "stmfd: %s\n", why.c_str());
      return 2;
    }
  }
  auto mgmt_work = asio::make_work_guard(mgmt_io);
  std::thread mgmt_thread([&] { mgmt_io.run(); });

  // Graceful shutdown: stop accepting, ask every session to log out (Async Message), wait
  // for sessions and in-flight tasks up to shutdown_timeout_s, then close what is left.
  asio::signal_set signals(io, SIGTERM, SIGINT);
  asio::steady_timer drain(io);
  asio::steady_timer checkpoint_timer(io);  // the accounting's checkpoints (below)
  auto deadline = std::make_shared<std::chrono::steady_clock::time_point>();
  std::function<void()> poll = [&] {
    const bool idle = server.connection_count() == 0 && framework.tasks_in_flight() == 0;
    if (idle || std::chrono::steady_clock::now() >= *deadline) {
      if (!idle) spdlog::warn("shutdown deadline reached: closing {} connection(s)", server.connection_count());
      server.close_all("shutdown");
      checkpoint_timer.cancel();
      io.stop();
      return;
    }
    drain.expires_after(50ms);
    drain.async_wait([&](boost::system::error_code ec) { if (!ec) poll(); });
  };
  signals.async_wait([&](boost::system::error_code ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: draining and logging sessions out (up to {} s; a second signal stops at once)", sig,
                 cfg.shutdown_timeout_s);
    service.stopping("draining sessions");
    mgmt_server.stop();
    server.stop_accepting();
    server.request_logout_all(0);
    *deadline = std::chrono::steady_clock::now() + std::chrono::seconds(cfg.shutdown_timeout_s);
    // A second SIGINT/SIGTERM (Ctrl-C again) does not wait for the drain: close every
    // connection now. Tasks already handed to a store still complete before the stores go.
    signals.async_wait([&](boost::system::error_code ec2, int sig2) {
      if (ec2) return;
      spdlog::warn("signal {} again: closing {} connection(s) now", sig2, server.connection_count());
      server.close_all("second signal");
      io.stop();
    });
    poll();
  });

  // Checkpoint records of long sessions: the accounting counts minutes.
  std::function<void()> checkpoint_tick = [&] {
    checkpoint_timer.expires_after(std::chrono::minutes(1));
    checkpoint_timer.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      accounting.tick();
      checkpoint_tick();
    });
  };
  if (accounting.running()) checkpoint_tick();

  // Default: half the CPUs. The other half runs the stores' completion threads, io-wq
  // workers and (on a shared box) the initiators. One connection uses one thread at a time (its
  // strand): on 2 cores a second thread gave no more IOPS and cost 10-65% more CPU per I/O
  // (docs/benchmark.md "Cores").
  unsigned nthreads = cfg.threads ? cfg.threads : std::max(1u, std::thread::hardware_concurrency() / 2);
  spdlog::info("stmfd ready: {} target(s), {} LU(s), {} I/O thread(s)", cfg.targets.size(), cfg.lus.size(), nthreads);
  service.ready(std::to_string(cfg.targets.size()) + " target(s), " + std::to_string(cfg.lus.size()) + " LU(s)");
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < nthreads; ++i) pool.emplace_back([&] { io.run(); });
  io.run();
  for (auto& th : pool) th.join();
  mgmt_work.reset();
  mgmt_io.stop();
  mgmt_thread.join();
  if (metrics) metrics->stop();
  proxy.stop();
  accounting.stop();  // records for the sessions the shutdown ended
  // Let the stores finish what is in flight before they are destroyed.
  for (int i = 0; i < 200 && framework.tasks_in_flight() > 0; ++i) std::this_thread::sleep_for(10ms);
  spdlog::info("stmfd stopped");
  return 0;
}
