// The proxy service's link and carriers: the listening socket (node 1), dialling (node 0),
// the handshake of a new connection, the door as carrier, the link state machine's actions
// (link up: register everything; link down: fail what waits on the peer), and keeping the
// peer's view of this node's ports and LUs current (docs/alua.md, docs/proxy-protocol.md).
#include "proxy/service.h"
#include "core/audit.h"

#include "core/guid.h"
#include "proxy/codec.h"
#include "proxy/door_carrier.h"
#include "proxy/log.h"
#include "proxy/peer_handshake.h"
#include "proxy/proxy_port.h"
#include "proxy/tcp_carrier.h"

namespace stmf::proxy {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr auto kRedial = std::chrono::milliseconds(500);
// Accepted connections of the link port in their handshake at once (only the peer's address
// gets that far); a newer one closes the oldest.
constexpr size_t kMaxHandshaking = 4;
// "connection refused" lines on the link port: at most one per this interval (the rest counted).
constexpr uint64_t kRefusedLogIntervalMs = 5000;

}  // namespace

// Closes the carrier and ends the link (link-down handling when it was up).
void ProxyService::teardown() {
  if (link_ && link_->up()) link_down("link reset");
  ++carrier_gen_;
  ++acceptor_gen_;
  std::shared_ptr<Carrier> c;
  {
    std::lock_guard lk(mu_);
    c = std::move(carrier_);
    carrier_.reset();
    // An installed door stays: the relay installed it to carry the link, and a reset link
    // (ALUA re-initialized, illumos's stmfproxy order: door, then enable) starts over on it.
    // Its callbacks of this generation are ignored from now on (carrier_gen_ moved on).
    if (c && c == door_) c.reset();
  }
  if (c) c->close();
  if (acceptor_) {
    boost::system::error_code ec;
    acceptor_->close(ec);
    acceptor_.reset();
  }
  dial_timer_.cancel();
  if (link_) run(link_->carrier_down(now_ms(), "reset"));
}

void ProxyService::start_carrier() {
  if (!link_) return;
  if (settings_.door) {
    std::shared_ptr<DoorCarrier> d;
    {
      std::lock_guard lk(mu_);
      d = door_;
    }
    if (d) attach(d, true);
    else log()->info("waiting for a door (stmfInitProxyDoor) to carry the link");
    return;
  }
  if (settings_.node == 0) {
    if (settings_.peer_host.empty()) {
      log()->error("ALUA node 0 has no peer address: the link cannot start");
      return;
    }
    dial();
    return;
  }
  if (settings_.listen_host.empty()) {
    log()->error("ALUA node 1 has no listen address: the link cannot start");
    return;
  }
  if (settings_.peer_host.empty()) {
    log()->error("ALUA node 1 has no peer address (it accepts the link only from there): the link cannot start");
    return;
  }
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(settings_.listen_host, ec);
  if (ec) {
    log()->error("ALUA listen address {}: {}", settings_.listen_host, ec.message());
    return;
  }
  auto a = std::make_unique<tcp::acceptor>(ex_);
  tcp::endpoint ep(addr, settings_.listen_port);
  a->open(ep.protocol(), ec);
  if (!ec) a->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) a->bind(ep, ec);
  if (!ec) a->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    log()->error("proxy link: cannot listen on {}:{}: {} (retrying)", settings_.listen_host, settings_.listen_port, ec.message());
    dial_timer_.expires_after(std::chrono::seconds(1));
    dial_timer_.async_wait([this, gen = acceptor_gen_](boost::system::error_code e) {
      if (!e && gen == acceptor_gen_) start_carrier();
    });
    return;
  }
  log()->info("proxy link: listening on {}:{}", settings_.listen_host, settings_.listen_port);
  acceptor_ = std::move(a);
  accept_loop();
}

void ProxyService::accept_loop() {
  if (!acceptor_) return;
  // The acceptor outlives connections (a lost connection does not stop accepting): it has its
  // own generation, bumped only by teardown().
  acceptor_->async_accept([this, gen = acceptor_gen_](boost::system::error_code ec, tcp::socket sock) {
    if (gen != acceptor_gen_) return;
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      log()->warn("proxy link: accept: {} (retrying)", ec.message());
      dial_timer_.expires_after(kRedial);  // node 1 never dials: the timer is free
      dial_timer_.async_wait([this, gen](boost::system::error_code e) {
        if (!e && gen == acceptor_gen_) accept_loop();
      });
      return;
    }
    const auto from = sock.remote_endpoint(ec);
    boost::system::error_code aec;
    const auto peer = asio::ip::make_address(settings_.peer_host, aec);
    const std::string who = ec ? "(unknown)" : from.address().to_string() + ":" + std::to_string(from.port());
    if (ec || aec || from.address() != peer) {
      warn_limited("refused a connection from " + who + " (not the peer's address " + settings_.peer_host + ")");
    } else {
      // The live link (if any) stays until this connection completed TLS and sent its HELLO.
      // Handshakes are bounded: the oldest one gives way (the real peer, reconnecting, always
      // gets its turn; a stranger holding connections open only delays itself).
      if (handshaking_.size() >= kMaxHandshaking) {
        auto close = std::move(handshaking_.front().second);
        handshaking_.pop_front();
        close(std::to_string(kMaxHandshaking) + " connections were in their handshake and a newer one came");
      }
      log()->debug("proxy link: connection from {}: handshake", who);
      if (tls_) handshake(TlsSocket(std::move(sock), *tls_), true, who);
      else handshake(std::move(sock), true, who);
    }
    accept_loop();
  });
}

void ProxyService::warn_limited(const std::string& what) {
  ++refused_;
  const uint64_t now = now_ms();
  if (refused_logged_ && now - refused_log_ms_ < kRefusedLogIntervalMs) return;
  const uint64_t skipped = refused_ - refused_logged_ - 1;
  refused_logged_ = refused_.load();
  refused_log_ms_ = now;
  if (skipped) log()->warn("proxy link: {} ({} more refused connection(s) since the last such line)", what, skipped);
  else log()->warn("proxy link: {}", what);
}

// A new TCP connection of the link (accepted: node 1; dialled: node 0) becomes the carrier once
// its handshake completed (proxy/peer_handshake.h). An accepted one then replaces the current
// carrier, as a reconnecting peer's always did, and its HELLO is handled as the first frame.
template <class Stream>
void ProxyService::handshake(Stream s, bool accepted, const std::string& who) {
  using Hs = PeerHandshake<Stream>;
  auto hs = std::make_shared<Hs>(std::move(s), accepted ? TlsRole::server : TlsRole::client, accepted, settings_.node,
                                 std::chrono::milliseconds(settings_.handshake_timeout_ms));
  const uint64_t gen = accepted ? acceptor_gen_ : carrier_gen_;
  const uint64_t id = ++next_handshake_;
  if (accepted)
    handshaking_.emplace_back(id, [w = std::weak_ptr<Hs>(hs)](const std::string& why) {
      if (auto h = w.lock()) h->cancel(why);
    });
  hs->start([this, gen, accepted, who, id](std::optional<typename Hs::Result> r, const std::string& why) {
    if (accepted) std::erase_if(handshaking_, [id](const auto& e) { return e.first == id; });
    if (gen != (accepted ? acceptor_gen_ : carrier_gen_)) return;  // reset meanwhile
    if (!r) {
      if (accepted) {
        warn_limited("refused the connection from " + who + ": " + why);
        return;
      }
      warn_limited(settings_.peer_host + ":" + std::to_string(settings_.peer_port) + ": " + why);
      {
        std::lock_guard lk(mu_);
        last_down_why_ = "handshake with " + settings_.peer_host + ":" + std::to_string(settings_.peer_port) + ": " + why;
      }
      dial_timer_.expires_after(kRedial);
      dial_timer_.async_wait([this, gen](boost::system::error_code e) {
        if (!e && gen == carrier_gen_) dial();
      });
      return;
    }
    std::string tls = "plain TCP";
    if constexpr (std::is_same_v<Stream, TlsSocket>) tls = describe_tls(r->stream.native_handle());
    if (!accepted) {
      log()->info("proxy link: connected to {}:{} ({})", settings_.peer_host, settings_.peer_port, tls);
      attach(std::make_shared<StreamCarrier<Stream>>(std::move(r->stream), std::move(r->reader)), false);
      return;
    }
    log()->info("proxy link: node {} ({}) connected ({})", r->hello.node, r->hello.name, tls);
    std::shared_ptr<Carrier> old;
    {
      std::lock_guard lk(mu_);
      old = carrier_;
    }
    if (old) on_carrier_down(carrier_gen_, "replaced by a new connection of the peer");
    attach(std::make_shared<StreamCarrier<Stream>>(std::move(r->stream), std::move(r->reader)), false);
    on_frame(carrier_gen_, Frame{std::move(r->hello_frame), {}});
  });
}

void ProxyService::dial() {
  auto sock = std::make_shared<tcp::socket>(ex_);
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(settings_.peer_host, ec);
  if (ec) {
    log()->error("ALUA peer address {}: {}", settings_.peer_host, ec.message());
    return;
  }
  sock->async_connect(tcp::endpoint(addr, settings_.peer_port), [this, sock, gen = carrier_gen_](boost::system::error_code ec) {
    if (gen != carrier_gen_) return;
    if (ec) {
      log()->debug("proxy link: connect to {}:{}: {}", settings_.peer_host, settings_.peer_port, ec.message());
      {
        std::lock_guard lk(mu_);
        last_down_why_ = "connect to " + settings_.peer_host + ":" + std::to_string(settings_.peer_port) + ": " + ec.message();
      }
      dial_timer_.expires_after(kRedial);
      dial_timer_.async_wait([this, gen](boost::system::error_code e) {
        if (!e && gen == carrier_gen_) dial();
      });
      return;
    }
    const std::string who = settings_.peer_host + ":" + std::to_string(settings_.peer_port);
    if (tls_) handshake(TlsSocket(std::move(*sock), *tls_), false, who);
    else handshake(std::move(*sock), false, who);
  });
}

void ProxyService::attach(std::shared_ptr<Carrier> c, bool door) {
  const uint64_t gen = ++carrier_gen_;
  carrier_is_door_ = door;
  {
    std::lock_guard lk(mu_);
    carrier_ = c;
  }
  c->start(Carrier::Handler{
      [this, gen](std::vector<uint8_t> f) {
        asio::dispatch(ex_, [this, gen, f = std::move(f)]() mutable { on_frame(gen, Frame{std::move(f), {}}); });
      },
      [this, gen](const std::string& why) { asio::post(ex_, [this, gen, why] { on_carrier_down(gen, why); }); },
      // A door call the relay answered non-zero: "logged as errors without further action"
      // (stmfInitProxyDoor(3STMF)). The carrier logged it; count it and keep the link. A dead
      // door (the call itself fails: EOF, I/O error) is on_down above and takes the link down.
      [this](const std::string& why) {
        const uint64_t n = ++door_call_failures_;
        log()->warn("proxy link: {} ({} non-zero door result(s) so far); the link is kept", why, n);
      },
      // TCP and TLS: SCSI data in its own buffer, adopted by the task (proxy/codec.h Frame).
      [this, gen](Frame f) {
        asio::dispatch(ex_, [this, gen, f = std::move(f)]() mutable { on_frame(gen, std::move(f)); });
      },
  });
  if (link_) run(link_->carrier_up(now_ms()));
}

void ProxyService::on_carrier_down(uint64_t gen, const std::string& why) {
  if (gen != carrier_gen_ || !link_) return;
  log()->warn("proxy link: {}: {}", carrier_is_door_ ? "door" : "connection", why);
  {
    std::lock_guard lk(mu_);
    last_down_why_ = why;
  }
  ++carrier_gen_;
  std::shared_ptr<Carrier> c;
  {
    std::lock_guard lk(mu_);
    c = std::move(carrier_);
    carrier_.reset();
    // A door that failed (the relay closed it, or I/O on it failed) is gone: uninstall it so
    // the relay can install a new one.
    if (carrier_is_door_ && door_ == c) door_.reset();
  }
  if (c) c->close();
  run(link_->carrier_down(now_ms(), why));
  if (settings_.node == 0 && !carrier_is_door_) {
    dial_timer_.expires_after(kRedial);
    dial_timer_.async_wait([this, g = carrier_gen_](boost::system::error_code e) {
      if (!e && g == carrier_gen_) dial();
    });
  }
}

// ---------------------------------------------------------------- link state

void ProxyService::run(const LinkState::Actions& a) {
  if (!a.why.empty() && (a.went_down || a.close_carrier)) log()->warn("proxy link: {}", a.why);
  if (a.went_down) link_down(a.why);
  if (a.send_hello) send(Message{0, link_->own_hello(host_name_)});
  if (a.went_up) link_up();
  if (a.send_echo) send(Message{next_id_++, EchoRequest{echo_stamp()}});
  if (a.close_carrier && !carrier_is_door_) {
    std::shared_ptr<Carrier> c;
    {
      std::lock_guard lk(mu_);
      c = carrier_;
    }
    if (c) on_carrier_down(carrier_gen_, a.why.empty() ? "closed" : a.why);
  }
}

// Registers every port and every LU active here with the peer, then the whole LU list (the
// peer drops standby LUs no longer in it). Forgets what was registered before.
void ProxyService::register_all_locked() {
  registered_ports_.clear();
  for (auto* p : stmf_.ports()) {
    if (dynamic_cast<ProxyPort*>(p)) continue;
    send_locked(Message{next_id_++, RegisterProxyPort{p->rtpi(), p->tpg(), p->port_name(), p->target_name()}});
    registered_ports_.insert(p->rtpi());
  }
  registered_lus_.clear();
  LuList all;
  for (auto& r : host_.active_lus()) {
    registered_lus_[r.guid] = r.properties;
    all.guids.push_back(r.guid);
    send_locked(Message{next_id_++, r});
  }
  send_locked(Message{next_id_++, all});
}

void ProxyService::link_up() {
  own_.link_up();
  log()->info("proxy link up: peer node {} ({}), incarnation {:016x}", link_->peer_node(), link_->peer_name(),
              link_->peer_incarnation());
  audit({"alua", "link-up", {{"peer_node", std::to_string(link_->peer_node())}, {"peer_name", link_->peer_name()}}, {}, "ok"});
  {
    // Registrations, then the sessions, then forwarding: all in this order on the carrier.
    std::lock_guard lk(mu_);
    ++gen_;
    register_all_locked();
    for (auto& n : stmf_.nexuses())
      if (!n->remote()) send_locked(Message{next_id_++, session_of(n)});
    up_ = true;
  }
  // Every active LU's reservation state (changes from now on are mirrored as they happen; the
  // receiver keeps the highest seq, so a change racing this snapshot wins).
  host_.restart_reservation_seqs();
  for (auto& [guid, props] : registered_lus_) send_pr_state(guid);
  reconnect_until_ms_ = 0;
  publish_alua();
  // The standby group went from Unavailable to Active/Non-optimized: every LU of the pair
  // reports the change, on both nodes (standby LUs registered again keep their UA state).
  stmf_.raise_alua_change(true, true);
}

void ProxyService::link_down(const std::string& why) {
  log()->warn("proxy link down{}{}", why.empty() ? "" : ": ", why);
  // A lost link may come back (a relay restarting, a peer re-initializing): for timeout_ms the
  // standby paths say Transitioning, which initiators retry, instead of failing the path.
  const bool reconnecting = settings_.enabled && settings_.timeout_ms > 0;
  reconnect_until_ms_ = reconnecting ? now_ms() + settings_.timeout_ms : 0;
  audit({"alua", "link-down", {}, {{"reason", why}}, "ok"});
  std::unordered_map<uint64_t, Pending> pending;
  std::unordered_map<uint64_t, std::function<void(TmfResponse)>> tmfs;
  std::unordered_map<uint64_t, std::function<void()>> mirrors;
  {
    std::lock_guard lk(mu_);
    up_ = false;
    ++gen_;
    pending.swap(pending_);
    tmfs.swap(tmfs_);
    mirrors.swap(mirrors_);
  }
  // Reservation changes waiting for the standby's acknowledgement complete: this node stays
  // authoritative, and the state goes over when the link is back.
  for (auto& [id, done] : mirrors) done();
  // Switchovers: not yet offered to the peer -> back to normal; offered -> the peer may have
  // taken the LU: it stays held until the link is back and the epochs tell. Requests fail.
  perform(own_.link_down());
  // Forwarded commands whose answer will not come: the initiator retries on another path.
  for (auto& [id, p] : pending) fail_task(p.task, reconnecting);
  for (auto& [id, done] : tmfs) done(TmfResponse::function_rejected);
  // The peer's sessions end here as nexus loss.
  for (auto& [id, n] : sessions_) stmf_.nexus_lost(n);
  sessions_.clear();
  partial_.clear();
  publish_alua();
  stmf_.raise_alua_change(true, true);
  if (!pending.empty())
    log()->warn("proxy link down: {} forwarded task(s) answered NOT READY, {}", pending.size(),
                reconnecting ? "ASYMMETRIC ACCESS STATE TRANSITION (retried)" : "TARGET PORT IN UNAVAILABLE STATE");
}

void ProxyService::publish_alua() {
  bool up;
  {
    std::lock_guard lk(mu_);
    up = up_;
  }
  const bool reconnecting = settings_.enabled && !up && reconnect_until_ms_ != 0 && now_ms() < reconnect_until_ms_;
  stmf_.set_alua(AluaGroups{settings_.enabled, settings_.node, up, reconnecting});
}

void ProxyService::on_frame(uint64_t gen, Frame frame) {
  if (gen != carrier_gen_ || !link_) return;
  Message m;
  std::string why;
  if (auto e = decode(std::move(frame), m, why); e != DecodeError::none) {
    log()->error("proxy link: undecodable frame ({}): {}", to_string(e), why);
    if (carrier_is_door_) run(link_->message_lost(now_ms(), "undecodable frame"));
    else on_carrier_down(gen, "undecodable frame");
    return;
  }
  run(link_->frame_received(now_ms()));
  handle(std::move(m));
}

// ---------------------------------------------------------------- registrations

void ProxyService::lus_changed() {
  asio::post(ex_, [this] { sync_lus(); });
}

void ProxyService::ports_changed() {
  asio::post(ex_, [this] { sync_ports(); });
}

void ProxyService::sync_lus() {
  sync_ownership();
  if (!link_ || !link_->up()) return;
  std::map<Guid, std::string> now;
  for (auto& r : host_.active_lus()) now[r.guid] = r.properties;
  for (auto& [g, props] : registered_lus_)
    if (!now.count(g)) send(Message{next_id_++, DeregisterLun{g}});
  for (auto& [g, props] : now) {
    auto it = registered_lus_.find(g);
    if (it == registered_lus_.end() || it->second != props) {
      send(Message{next_id_++, RegisterLun{g, "sbd", props}});
      send_pr_state(g);  // a new standby copy starts with the owner's reservations
    }
  }
  registered_lus_ = std::move(now);
}

void ProxyService::sync_ports() {
  if (!link_ || !link_->up()) return;
  std::set<uint16_t> now;
  for (auto* p : stmf_.ports()) {
    if (dynamic_cast<ProxyPort*>(p)) continue;
    now.insert(p->rtpi());
    if (!registered_ports_.count(p->rtpi()))
      send(Message{next_id_++, RegisterProxyPort{p->rtpi(), p->tpg(), p->port_name(), p->target_name()}});
  }
  for (auto r : registered_ports_)
    if (!now.count(r)) send(Message{next_id_++, DeregisterProxyPort{r}});
  registered_ports_ = std::move(now);
}

}  // namespace stmf::proxy
