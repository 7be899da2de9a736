#include "transport/server.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "transport/connection.h"
#include "transport/log.h"

namespace stmf::transport {

namespace {
constexpr std::chrono::milliseconds kAcceptBackoffFirst{100};
constexpr std::chrono::milliseconds kAcceptBackoffMax{1000};
}  // namespace

Server::Server(asio::io_context& io, Stmf& stmf, IscsiSettings settings)
    : io_(io),
      stmf_(stmf),
      settings_(std::move(settings)),
      refused_log_(settings_.warn_burst, std::chrono::seconds(settings_.warn_interval_s)) {}

Server::~Server() = default;

IscsiTargetPort& Server::add_target(TargetSettings t, uint16_t rtpi, uint16_t tpg) {
  std::lock_guard lk(ports_mu_);
  ports_.push_back(std::make_unique<IscsiTargetPort>(std::move(t), rtpi, tpg));
  stmf_.add_port(*ports_.back());
  return *ports_.back();
}

void Server::remove_target(const std::string& iqn) {
  IscsiTargetPort* p = find_target(iqn);
  if (!p) return;
  p->mark_removed();
  stmf_.remove_port(*p);
  close_sessions(*p, "target deleted");
  log()->info("target {} deleted", iqn);
}

std::vector<std::shared_ptr<Connection>> Server::connections_of(const IscsiTargetPort* port) {
  std::vector<std::shared_ptr<Connection>> cs;
  std::lock_guard lk(mu_);
  for (auto& w : conns_)
    if (auto c = w.lock(); c && (!port || c->port() == port)) cs.push_back(c);
  return cs;
}

void Server::set_target_online(IscsiTargetPort& port, bool online, uint16_t time2wait_s) {
  port.set_online(online);
  log()->info("target {} {}", port.target_name(), online ? "online" : "offline");
  if (!online)
    for (auto& c : connections_of(&port)) c->request_logout(time2wait_s);
}

void Server::close_sessions(const IscsiTargetPort& port, const std::string& why) {
  for (auto& c : connections_of(&port)) c->close(why);
}

size_t Server::session_count(const IscsiTargetPort& port) {
  size_t n = 0;
  for (auto& c : connections_of(&port)) n += c->full_feature();
  return n;
}

std::vector<Server::SessionInfo> Server::sessions(const IscsiTargetPort& port) {
  std::vector<SessionInfo> v;
  for (auto& c : connections_of(&port))
    if (c->full_feature()) v.push_back({c->initiator_name(), c->initiator_alias(), c->isid(), c->tsih(), c->login_time()});
  return v;
}

std::error_code Server::listen(const std::string& host, uint16_t port, std::string& why) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) {
    why = "portal " + host + ": not an IP address";
    return std::make_error_code(std::errc::invalid_argument);
  }
  asio::ip::tcp::endpoint ep(addr, port);
  auto a = std::make_shared<Acceptor>(io_);
  a->socket.open(ep.protocol(), ec);
  if (!ec) a->socket.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a->socket.bind(ep, ec);
  if (!ec) a->socket.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    why = "portal " + host + ":" + std::to_string(port) + ": " + ec.message();
    return std::error_code(ec.value(), std::system_category());
  }
  auto address = (addr.is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(a->socket.local_endpoint().port());
  {
    std::lock_guard lk(ports_mu_);
    portals_.push_back({host, port, address, a});
  }
  log()->info("listening on {}", address);
  accept_loop(a);
  return {};
}

bool Server::close_portal(const std::string& host, uint16_t port) {
  std::shared_ptr<Acceptor> a;
  {
    std::lock_guard lk(ports_mu_);
    auto it = std::find_if(portals_.begin(), portals_.end(), [&](auto& p) { return p.host == host && p.port == port; });
    if (it == portals_.end()) return false;
    a = it->acceptor;
    log()->info("portal {} closed", it->address);
    portals_.erase(it);
  }
  asio::post(a->socket.get_executor(), [a] {
    boost::system::error_code ec;
    a->socket.close(ec);
    a->retry.cancel();
  });
  return true;
}

void Server::accept_loop(std::shared_ptr<Acceptor> a) {
  a->socket.async_accept(asio::make_strand(io_), [this, a](boost::system::error_code ec, asio::ip::tcp::socket s) {
    if (ec == asio::error::operation_aborted || !a->socket.is_open()) return;
    if (ec) {
      // Out of descriptors or buffers (or a connection reset before accept): retrying at once
      // would spin. Back off with a timer; one line per episode, one when it ends.
      if (a->errors++ == 0) {
        a->backoff = kAcceptBackoffFirst;
        log()->warn("accept: {}; retrying with back-off ({} ms up to {} ms)", ec.message(), a->backoff.count(),
                    kAcceptBackoffMax.count());
      } else {
        a->backoff = std::min(a->backoff * 2, kAcceptBackoffMax);
      }
      a->retry.expires_after(a->backoff);
      a->retry.async_wait([this, a](boost::system::error_code tec) {
        if (!tec && a->socket.is_open()) accept_loop(a);
      });
      return;
    }
    if (a->errors) {
      log()->info("accept: resumed after {} failed attempt(s)", a->errors);
      a->errors = 0;
    }
    // Counted under the address the connection itself reports, so that remove_connection()
    // takes back exactly what admit() counted. A refused connection is never started: its
    // socket closes with it.
    auto c = std::make_shared<Connection>(*this, std::move(s), 1);
    std::string why;
    if (admit(c->address(), why)) {
      track(c);
      c->start();
    }
    accept_loop(a);
  });
}

bool Server::admit(const std::string& address, std::string& why) {
  std::lock_guard lk(mu_);
  if (admitted_ >= settings_.max_connections) {
    why = "max_connections";
    refused_log_.warn(log(), "iscsi", "{}: connection refused: {} connections open (max_connections {})", address,
                      admitted_, settings_.max_connections);
    return false;
  }
  auto& n = per_address_[address];
  if (n >= settings_.max_connections_per_address) {
    why = "max_connections_per_address";
    refused_log_.warn(log(), "iscsi", "{}: connection refused: {} connections from this address (max_connections_per_address {})",
                      address, n, settings_.max_connections_per_address);
    return false;
  }
  ++n;
  ++admitted_;
  return true;
}

bool Server::reserve_data_buffer(uint64_t bytes) {
  uint64_t cur = data_buffered_.load();
  do {
    if (cur + bytes > settings_.total_data_buffer) return false;
  } while (!data_buffered_.compare_exchange_weak(cur, cur + bytes));
  return true;
}

void Server::release_data_buffer(uint64_t bytes) { data_buffered_.fetch_sub(bytes); }

size_t Server::claim_initiator(const Connection* c, const std::string& initiator, uint64_t isid,
                               const std::string& target) {
  std::lock_guard lk(mu_);
  size_t n = 0;
  for (auto& [other, claim] : claims_) {
    if (other == c || claim.initiator != initiator) continue;
    if (claim.isid == isid && claim.target == target) continue;  // would be reinstated
    ++n;
  }
  if (n >= settings_.max_sessions_per_initiator) return n;
  claims_[c] = Claim{initiator, target, isid};
  return 0;
}

void Server::track(const std::shared_ptr<Connection>& c) {
  std::lock_guard lk(mu_);
  std::erase_if(conns_, [](auto& w) { return w.expired(); });
  conns_.push_back(c);
}

void Server::stop_accepting() {
  std::lock_guard lk(ports_mu_);
  for (auto& p : portals_) {
    boost::system::error_code ec;
    p.acceptor->socket.close(ec);
    p.acceptor->retry.cancel();
  }
}

void Server::request_logout_all(uint16_t time2wait_s) {
  std::vector<std::shared_ptr<Connection>> cs;
  {
    std::lock_guard lk(mu_);
    for (auto& w : conns_)
      if (auto c = w.lock()) cs.push_back(c);
  }
  for (auto& c : cs) c->request_logout(time2wait_s);
}

void Server::close_all(const std::string& why) {
  std::vector<std::shared_ptr<Connection>> cs;
  {
    std::lock_guard lk(mu_);
    for (auto& w : conns_)
      if (auto c = w.lock()) cs.push_back(c);
  }
  for (auto& c : cs) c->close(why);
}

size_t Server::connection_count() {
  std::lock_guard lk(mu_);
  std::erase_if(conns_, [](auto& w) { return w.expired(); });
  return conns_.size();
}

IscsiTargetPort* Server::find_target(const std::string& iqn) {
  std::lock_guard lk(ports_mu_);
  for (auto& p : ports_)
    if (!p->removed() && p->target_name() == iqn) return p.get();
  return nullptr;
}

std::vector<IscsiTargetPort*> Server::targets() {
  std::lock_guard lk(ports_mu_);
  std::vector<IscsiTargetPort*> v;
  for (auto& p : ports_)
    if (!p->removed()) v.push_back(p.get());
  return v;
}

std::vector<std::string> Server::portal_addresses(const IscsiTargetPort& port) const {
  std::lock_guard lk(ports_mu_);
  std::vector<std::string> v;
  for (auto& p : portals_) v.push_back(p.address + "," + std::to_string(port.settings()->tpgt));
  return v;
}

uint16_t Server::add_session(const std::shared_ptr<Connection>& c) {
  std::vector<std::shared_ptr<Connection>> old;
  uint16_t tsih;
  {
    std::lock_guard lk(mu_);
    std::erase_if(conns_, [](auto& w) { return w.expired(); });
    for (auto& w : conns_) {
      auto o = w.lock();
      if (!o || o == c || !o->full_feature()) continue;
      if (o->port() == c->port() && o->isid() == c->isid() && o->initiator_name() == c->initiator_name())
        old.push_back(o);
    }
    // TSIH: non-zero, unique among live sessions.
    for (;;) {
      tsih = next_tsih_++;
      if (next_tsih_ == 0) next_tsih_ = 1;
      bool used = false;
      for (auto& w : conns_)
        if (auto o = w.lock(); o && o->tsih() == tsih) used = true;
      if (!used && tsih != 0) break;
    }
  }
  for (auto& o : old) {
    log()->info("session reinstatement: {} isid 0x{:012x} replaces TSIH {}", o->initiator_name(), o->isid(), o->tsih());
    o->close("session reinstated by a new login");
  }
  return tsih;
}

bool Server::session_exists(uint16_t tsih) {
  std::lock_guard lk(mu_);
  for (auto& w : conns_)
    if (auto o = w.lock(); o && o->full_feature() && o->tsih() == tsih) return true;
  return false;
}

void Server::remove_connection(Connection* c) {
  std::lock_guard lk(mu_);
  claims_.erase(c);
  if (admitted_ > 0) --admitted_;
  if (auto it = per_address_.find(c->address()); it != per_address_.end() && --it->second == 0) per_address_.erase(it);
  std::erase_if(conns_, [c](auto& w) { auto o = w.lock(); return !o || o.get() == c; });
}

}  // namespace stmf::transport
