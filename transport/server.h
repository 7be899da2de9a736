// The iSCSI server: portals (listening sockets), the target ports, and the session table
// (TSIH allocation, session reinstatement). Lives on the daemon's io_context.
#pragma once
#include <boost/asio.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/stmf.h"
#include "transport/settings.h"
#include "transport/target_port.h"

namespace stmf::transport {

namespace asio = boost::asio;
class Connection;

class Server {
 public:
  Server(asio::io_context& io, Stmf& stmf, IscsiSettings settings);
  ~Server();

  IscsiTargetPort& add_target(TargetSettings t, uint16_t rtpi, uint16_t tpg);
  // Binds and starts accepting. Errors (address in use...) come back as values.
  std::error_code listen(const std::string& host, uint16_t port, std::string& why);

  void stop_accepting();
  // Async Message "logout requested" to every full-feature connection.
  void request_logout_all(uint16_t time2wait_s);
  void close_all(const std::string& why);
  size_t connection_count();

  // --- used by connections ---
  Stmf& stmf() { return stmf_; }
  const IscsiSettings& settings() const { return settings_; }
  IscsiTargetPort* find_target(const std::string& iqn);
  std::vector<IscsiTargetPort*> targets();
  // "addr:port,tpgt" strings of every portal, for SendTargets.
  std::vector<std::string> portal_addresses(const IscsiTargetPort& port) const;
  // Registers a new session (TSIH = 0 login). An existing session of the same initiator
  // port (InitiatorName + ISID) on the same target is reinstated: its connection closes and
  // its nexus is lost (RFC 7143 6.3.5). Returns the new TSIH.
  uint16_t add_session(const std::shared_ptr<Connection>& c);
  // True when a session with this TSIH exists (for TSIH != 0 logins).
  bool session_exists(uint16_t tsih);
  void remove_connection(Connection* c);
  void track(const std::shared_ptr<Connection>& c);

 private:
  void accept_loop(std::shared_ptr<asio::ip::tcp::acceptor> a);

  asio::io_context& io_;
  Stmf& stmf_;
  IscsiSettings settings_;
  std::vector<std::unique_ptr<IscsiTargetPort>> ports_;
  std::vector<std::shared_ptr<asio::ip::tcp::acceptor>> acceptors_;
  std::vector<std::string> listen_addrs_;
  std::mutex mu_;
  std::vector<std::weak_ptr<Connection>> conns_;
  uint16_t next_tsih_ = 1;
};

}  // namespace stmf::transport
