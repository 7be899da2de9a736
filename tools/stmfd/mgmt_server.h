// The management socket (docs/management.md): a Unix-domain stream socket speaking versioned
// JSON lines. It owns the current configuration: every change runs
//   ops (pure) -> Runtime::prepare -> StateDb::save (committed, synchronous=FULL) -> Runtime::commit
// and only then is answered. Requests from all clients run on one strand, one at a time
// (a target going offline waits for its sessions without blocking other requests, in the
// request or, with "wait": false, after answering; meanwhile changes to that target get
// STMF_STATUS_ERROR).
//
// Runs on its own io_context and thread, so store opening and database fsyncs never stall
// the I/O threads.
//
// The door API (stmfInitProxyDoor, stmfPostProxyMsg, stmfDestroyProxyDoor; docs/management.md
// "Door API"): requests are read with recvmsg so that a file descriptor passed with SCM_RIGHTS
// reaches the op "init-proxy-door"; any other request's descriptors are closed. After a
// successful install the connection carries binary frames (u32 big-endian size + message, each
// answered with a u32 big-endian status) until a zero-size frame (destroy) or the close; the
// door goes away with the connection that installed it.
#pragma once
#include <boost/asio.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "mgmt/config.h"
#include "mgmt/protocol.h"
#include "mgmt/ops.h"
#include "mgmt/state_db.h"
#include "tools/stmfd/audit_log.h"
#include "tools/stmfd/door_host.h"
#include "tools/stmfd/runtime.h"

namespace stmfd {

namespace asio = boost::asio;

// True when an arsctl / arsop request changes something (SET* codes, FLUSHACCT): audited.
bool changes_array_sessions(const stmf::mgmt::json& req);

struct PeerCredentials {
  uid_t uid = uid_t(-1);
  gid_t gid = gid_t(-1);
  pid_t pid = 0;
};

class MgmtServer {
 public:
  // `db` may be null (no --state-dir: changes live in memory only).
  MgmtServer(asio::io_context& io, Runtime& runtime, stmf::mgmt::StateDb* db, stmf::mgmt::Config current);
  // Binds the socket (mode 0666). Refuses when another daemon answers on it.
  bool start(const std::string& path, std::string& why);
  void stop();

  // One request -> one response (also used by the unit tests). "init-proxy-door" needs a
  // descriptor, which only a socket connection carries: here it is STMF_ERROR_INVALID_ARG.
  asio::awaitable<stmf::mgmt::json> handle(const stmf::mgmt::json& request, const PeerCredentials& peer);

  // The door API's receiver. Default: runtime.door_host(). Tests install a fake (nullptr = this
  // daemon has no proxy service). Call before start().
  void set_door_host(DoorHost* host) {
    door_host_override_ = host;
    door_host_overridden_ = true;
  }
  // The audit trail: every change request (who: SO_PEERCRED; what: op and arguments, secrets
  // redacted; result) and the fencing/switchover events this server applies. Call before start().
  void set_audit(AuditLog* a) { audit_ = a; }

  // Largest stmfPostProxyMsg frame; a larger one is answered STMF_ERROR_INVALID_ARG and the
  // connection (with its door) is closed.
  static constexpr uint32_t kMaxProxyFrame = 64u << 20;

 private:
  class FdReader;
  asio::awaitable<void> serve(asio::local::stream_protocol::socket sock);
  // init-proxy-door with the descriptors that came with the request (`fds`: the first is the
  // door; every one is consumed). Sets `installed` on success.
  stmf::mgmt::json init_proxy_door(const stmf::mgmt::json& req, const PeerCredentials& peer, std::vector<int>& fds,
                                   uint64_t conn, bool& installed);
  // Post mode of connection `conn` after its door was installed on `host`.
  asio::awaitable<void> serve_door(asio::local::stream_protocol::socket& sock, FdReader& in, uint64_t conn,
                                   DoorHost* host, const PeerCredentials& peer);
  DoorHost* door_host() { return door_host_overridden_ ? door_host_override_ : runtime_.door_host(); }
  void accept_loop();
  // One accept failed (EMFILE, ENFILE, ENOBUFS...): accept again after a back-off (100 ms
  // doubling to 1 s), one log line per episode. The socket never stops accepting.
  void accept_failed(const boost::system::error_code& ec);
  // A warning of kind `kind` at most once per second; the next one says how many were dropped.
  template <class... Args>
  void warn_limited(int kind, spdlog::format_string_t<Args...> f, Args&&... args);
  bool privileged(const PeerCredentials& peer) const;
  // Applies a configuration change end to end (prepare, save, commit). `next` may be
  // completed by prepare.
  stmf::mgmt::Status apply(stmf::mgmt::Config& next);
  // Fencing (docs/alua.md): LU `guid` lost ownership to the ALUA peer; it leaves the
  // configuration (views stay). `done(ok)` runs on the strand once applied.
  void demote_lu(const std::string& guid, std::function<void(bool)> done);
  // Planned switchover (docs/alua.md): the peer handed over LU `lu` (management LU object with
  // its raised epoch); it joins the configuration. `done(ok)` on the strand once applied.
  void promote_lu(const nlohmann::json& lu, std::function<void(bool)> done);
  // By value: it may run detached, after the request that started it has been answered.
  asio::awaitable<void> wait_target_offline(std::string iqn);
  stmf::mgmt::json target_json(const stmf::mgmt::TargetConfig& t);

  // handle()'s table: one handler per operation on the running objects.
  using Handler = asio::awaitable<stmf::mgmt::json> (MgmtServer::*)(const stmf::mgmt::json& req,
                                                                    const PeerCredentials& peer);
  asio::awaitable<stmf::mgmt::json> list_target(const stmf::mgmt::json& req, const PeerCredentials& peer);
  asio::awaitable<stmf::mgmt::json> get_target(const stmf::mgmt::json& req, const PeerCredentials& peer);
  asio::awaitable<stmf::mgmt::json> list_sessions(const stmf::mgmt::json& req, const PeerCredentials& peer);
  asio::awaitable<stmf::mgmt::json> get_stats(const stmf::mgmt::json& req, const PeerCredentials& peer);
  asio::awaitable<stmf::mgmt::json> list_pr(const stmf::mgmt::json& req, const PeerCredentials& peer);
  asio::awaitable<stmf::mgmt::json> export_config(const stmf::mgmt::json& req, const PeerCredentials& peer);
  asio::awaitable<stmf::mgmt::json> import_config(const stmf::mgmt::json& req, const PeerCredentials& peer);
  asio::awaitable<stmf::mgmt::json> init_proxy_door_without_fd(const stmf::mgmt::json& req, const PeerCredentials& peer);
  asio::awaitable<stmf::mgmt::json> switchover_lu(const stmf::mgmt::json& req, const PeerCredentials& peer);
  // Array sessions (docs/array-sessions.md): arsctl codes, per-session arsop, accounting records.
  struct ArsctlRow;
  asio::awaitable<stmf::mgmt::json> arsctl(const stmf::mgmt::json& req, const PeerCredentials& peer);
  asio::awaitable<stmf::mgmt::json> arsop(const stmf::mgmt::json& req, const PeerCredentials& peer);
  asio::awaitable<stmf::mgmt::json> read_accounting(const stmf::mgmt::json& req, const PeerCredentials& peer);
  // Most records one "acct" answer holds (the newest; "truncated" says when more matched).
  static constexpr size_t kMaxAcctRecords = 10000;
  // Every other op: mgmt/ops.cpp's kOps on a copy of the model (and import-lu), then apply();
  // an op in neither table is answered STMF_ERROR_INVALID_ARG "unknown op".
  asio::awaitable<stmf::mgmt::json> model_op(const std::string& op, const stmf::mgmt::json& req,
                                             const PeerCredentials& peer);
  // The target `req[key]` names; nullptr with `s` set when it is missing or unknown.
  const stmf::mgmt::TargetConfig* named_target(const stmf::mgmt::json& req, const char* key,
                                               stmf::mgmt::Status& s) const;

  asio::io_context& io_;
  asio::strand<asio::io_context::executor_type> strand_;
  Runtime& runtime_;
  stmf::mgmt::StateDb* db_;
  stmf::mgmt::Config current_;
  std::set<std::string> transitioning_;  // targets going offline/online (BUSY)
  int switchovers_ = 0;  // switchover-lu requests under way (set-alua-state gets STMF_ERROR_BUSY)
  std::unique_ptr<asio::local::stream_protocol::acceptor> acceptor_;
  std::string path_;
  stmf::mgmt::OpContext ctx_;
  DoorHost* door_host_override_ = nullptr;
  bool door_host_overridden_ = false;
  uint64_t next_conn_ = 1;
  AuditLog* audit_ = nullptr;
  // Writes the audit line of request `req` answered with `resp` when it is a change.
  void audit_request(const stmf::mgmt::json& req, const stmf::mgmt::json& resp, const PeerCredentials& peer);
  // The socket's bounds (management.* in the configuration the daemon started with).
  stmf::mgmt::ManagementConfig limits_;
  // Open connections. Shared with each connection's coroutine: a frame still suspended at
  // shutdown is destroyed with the io_context, after this server.
  struct Conns {
    size_t open = 0;
    std::map<uid_t, size_t> per_uid;
  };
  std::shared_ptr<Conns> conns_ = std::make_shared<Conns>();
  std::unique_ptr<asio::steady_timer> accept_timer_;
  std::chrono::milliseconds accept_backoff_{0};
  uint64_t accept_errors_ = 0;  // in the current episode
  struct Limited {
    std::chrono::steady_clock::time_point next{};
    uint64_t dropped = 0;
  };
  std::array<Limited, 8> warned_{};
  // The connection whose door is installed (0: none through this server). Its close removes the
  // door; a connection whose door was replaced meanwhile removes nothing.
  uint64_t door_owner_ = 0;
};

}  // namespace stmfd
