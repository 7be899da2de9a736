// The management socket (docs/management.md): a Unix-domain stream socket speaking versioned
// JSON lines. It owns the current configuration: every change runs
//   ops (pure) -> Runtime::prepare -> StateDb::save (committed, synchronous=FULL) -> Runtime::commit
// and only then is answered. Requests from all clients run on one strand, one at a time
// (a target going offline waits for its sessions without blocking other requests; meanwhile
// requests on that target get STMF_ERROR_BUSY).
//
// Runs on its own io_context and thread, so store opening and database fsyncs never stall
// the I/O threads.
#pragma once
#include <boost/asio.hpp>

#include <memory>
#include <set>
#include <string>

#include "mgmt/config.h"
#include "mgmt/protocol.h"
#include "mgmt/ops.h"
#include "mgmt/state_db.h"
#include "tools/stmfd/runtime.h"

namespace stmfd {

namespace asio = boost::asio;

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

  // One request -> one response (also used by the unit tests).
  asio::awaitable<stmf::mgmt::json> handle(const stmf::mgmt::json& request, const PeerCredentials& peer);

 private:
  asio::awaitable<void> serve(asio::local::stream_protocol::socket sock);
  void accept_loop();
  bool privileged(const PeerCredentials& peer) const;
  // Applies a configuration change end to end (prepare, save, commit). `next` may be
  // completed by prepare.
  stmf::mgmt::Status apply(stmf::mgmt::Config& next);
  asio::awaitable<void> wait_target_offline(const std::string& iqn);
  stmf::mgmt::json target_json(const stmf::mgmt::TargetConfig& t);

  asio::io_context& io_;
  asio::strand<asio::io_context::executor_type> strand_;
  Runtime& runtime_;
  stmf::mgmt::StateDb* db_;
  stmf::mgmt::Config current_;
  std::set<std::string> transitioning_;  // targets going offline/online (BUSY)
  std::unique_ptr<asio::local::stream_protocol::acceptor> acceptor_;
  std::string path_;
  stmf::mgmt::OpContext ctx_;
};

}  // namespace stmfd
