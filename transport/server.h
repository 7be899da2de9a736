// The iSCSI server: portals (listening sockets), the target ports, and the session table
// (TSIH allocation, session reinstatement). Lives on the daemon's io_context.
#pragma once
#include <boost/asio.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/stmf.h"
#include "transport/log.h"
#include "transport/rate_limited_log.h"
#include "transport/settings.h"
#include "transport/target_port.h"

namespace stmf::transport {

namespace asio = boost::asio;
class Connection;

class Server {
 public:
  Server(asio::io_context& io, Stmf& stmf, IscsiSettings settings);
  // The daemon's I/O context (the iscsi backing store runs its backend connections on it).
  asio::io_context& io() { return io_; }
  ~Server();

  IscsiTargetPort& add_target(TargetSettings t, uint16_t rtpi, uint16_t tpg);
  // Deletes a target: it disappears from discovery and logins at once, its sessions are closed.
  void remove_target(const std::string& iqn);
  // Binds and starts accepting. Errors (address in use...) come back as values.
  std::error_code listen(const std::string& host, uint16_t port, std::string& why);
  // Stops accepting on a portal (existing connections stay). False when not listening there.
  bool close_portal(const std::string& host, uint16_t port);

  // Target port state (stmfOnlineTarget/stmfOfflineTarget): offline refuses logins and asks
  // the port's sessions to log out (Async Message); close_sessions() ends the stragglers.
  void set_target_online(IscsiTargetPort& port, bool online, uint16_t time2wait_s);
  void close_sessions(const IscsiTargetPort& port, const std::string& why);
  size_t session_count(const IscsiTargetPort& port);
  // The whole service (stmfOnline/stmfOffline): offline acts like every target offline.
  bool service_online() const { return service_online_.load(); }
  void set_service_online(bool on) { service_online_.store(on); }

  struct SessionInfo {
    std::string initiator, alias;
    uint64_t isid = 0;
    uint16_t tsih = 0;
    std::chrono::system_clock::time_point login_time;
  };
  std::vector<SessionInfo> sessions(const IscsiTargetPort& port);

  void stop_accepting();
  // Async Message "logout requested" to every full-feature connection.
  void request_logout_all(uint16_t time2wait_s);
  void close_all(const std::string& why);
  size_t connection_count();

  // --- used by connections ---
  Stmf& stmf() { return stmf_; }
  const IscsiSettings& settings() const { return settings_; }
  // Node-wide authentication (default auth, discovery auth, initiators' CHAP secrets); may
  // change at run time, a login reads one snapshot.
  std::shared_ptr<const AuthSettings> auth() const { return std::atomic_load(&auth_); }
  void set_auth(AuthSettings a) { std::atomic_store(&auth_, std::make_shared<const AuthSettings>(std::move(a))); }
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
  // max_sessions_per_initiator: a new login of `c` as (initiator, isid, target) is counted
  // with the other connections that claimed the same InitiatorName (logged in or still
  // logging in), except one with the same ISID and target (reinstatement). Under the cap the
  // claim is recorded (until remove_connection) and 0 is returned; otherwise the count.
  size_t claim_initiator(const Connection* c, const std::string& initiator, uint64_t isid, const std::string& target);

  // A refusal (connection cap, login cap) through the server's rate limit: a client that
  // reconnects in a loop costs a few lines per interval.
  template <typename... Args>
  void warn_refused(spdlog::format_string_t<Args...> fmt, Args&&... args) {
    std::lock_guard lk(mu_);
    refused_log_.warn(log(), "iscsi", fmt, std::forward<Args>(args)...);
  }

  // Global data buffer budget (total_data_buffer, writes and reads): true and charged when `bytes` fit.
  bool reserve_data_buffer(uint64_t bytes);
  void release_data_buffer(uint64_t bytes);
  uint64_t data_buffered() const { return data_buffered_.load(); }

 private:
  // One listening socket and its accept back-off (EMFILE, ENFILE, ENOBUFS...: retried after
  // a timer, 100 ms doubling to 1 s; one log line per episode).
  struct Acceptor {
    explicit Acceptor(asio::io_context& io) : socket(io), retry(io) {}
    asio::ip::tcp::acceptor socket;
    asio::steady_timer retry;
    std::chrono::milliseconds backoff{0};
    uint64_t errors = 0;  // in the current episode
  };
  void accept_loop(std::shared_ptr<Acceptor> a);
  // Connection caps checked at accept; counts the connection when admitted.
  bool admit(const std::string& address, std::string& why);
  std::vector<std::shared_ptr<Connection>> connections_of(const IscsiTargetPort* port);

  asio::io_context& io_;
  Stmf& stmf_;
  IscsiSettings settings_;
  std::shared_ptr<const AuthSettings> auth_ = std::make_shared<const AuthSettings>();
  // Ports are never destroyed while the server lives (nexuses refer to them); deleted ones
  // are marked removed. ports_mu_ guards the vector, the portal lists below and nothing else.
  mutable std::mutex ports_mu_;
  std::vector<std::unique_ptr<IscsiTargetPort>> ports_;
  struct Portal {
    std::string host;
    uint16_t port;
    std::string address;  // "addr:port" as SendTargets reports it
    std::shared_ptr<Acceptor> acceptor;
  };
  std::vector<Portal> portals_;
  std::atomic<bool> service_online_{true};
  std::mutex mu_;
  std::vector<std::weak_ptr<Connection>> conns_;
  uint16_t next_tsih_ = 1;
  // Admitted connections (mu_): all of them and by source address.
  size_t admitted_ = 0;
  std::map<std::string, uint32_t> per_address_;
  struct Claim {
    std::string initiator, target;
    uint64_t isid = 0;
  };
  std::map<const Connection*, Claim> claims_;
  RateLimitedLog refused_log_;  // refusals at accept (mu_)
  std::atomic<uint64_t> data_buffered_{0};
};

}  // namespace stmf::transport
