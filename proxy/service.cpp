#include "proxy/service.h"
#include "mgmt/json_limits.h"
#include "core/audit.h"

#include <random>

#include "core/guid.h"
#include "core/scsi/sense.h"
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

constexpr uint64_t kGenShift = 48;
constexpr uint64_t kIdMask = (uint64_t(1) << kGenShift) - 1;
constexpr uint32_t kDataChunk = 1u << 20;  // SCSI_DATA carries at most 1 MiB
// The most data one proxied task may place in a buffer, whatever its EDTL says (a u32 the
// sender chose): no LU moves more for one command (MAXIMUM TRANSFER LENGTH, 32 MiB,
// core/scsi/sbd_lu.h BlockLimits) plus room for the largest block, as the iSCSI port bounds
// its Data-Out buffer.
constexpr uint32_t kMaxTaskData = (32u << 20) + 4096;
constexpr auto kTick = std::chrono::milliseconds(100);
constexpr auto kRedial = std::chrono::milliseconds(500);
// Accepted connections of the link port in their handshake at once (only the peer's address
// gets that far); a newer one closes the oldest.
constexpr size_t kMaxHandshaking = 4;
// "connection refused" lines on the link port: at most one per this interval (the rest counted).
constexpr uint64_t kRefusedLogIntervalMs = 5000;

uint64_t random_incarnation() {
  std::random_device rd;
  return (uint64_t(rd()) << 32) ^ rd() ^ uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
}

}  // namespace

void ProxyPort::task_complete(TaskPtr task) { svc_.task_finished(task, false); }
void ProxyPort::task_aborted(TaskPtr task) { svc_.task_finished(task, true); }

ProxyService::ProxyService(Stmf& stmf, StandbyHost& host, std::string host_name)
    : stmf_(stmf), host_(host), host_name_(std::move(host_name)) {}

ProxyService::~ProxyService() { stop(); }

void ProxyService::start() {
  work_.emplace(io_.get_executor());
  thread_ = std::thread([this] { io_.run(); });
  asio::post(io_, [this] { tick(); });
}

void ProxyService::stop() {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] {
    teardown();
    tick_timer_.cancel();
    work_.reset();
  });
  thread_.join();
  io_.stop();
}

uint64_t ProxyService::now_ms() const {
  return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

// ---------------------------------------------------------------- configuration

void ProxyService::configure(const LinkSettings& s) {
  asio::post(io_, [this, s] { apply(s, false); });
}

void ProxyService::reinitialize() {
  asio::post(io_, [this] {
    bool up;
    {
      std::lock_guard lk(mu_);
      up = up_;
    }
    if (settings_.enabled && link_ && link_->up() && up) {
      // The link works: nothing is dropped and I/O goes on; every port and LU of this node is
      // registered again, with the LU list (the peer drops standby LUs no longer in it) and
      // the reservation states (the peer keeps the highest seq).
      log()->info("ALUA re-initialization: the link is up: registering every port and LU with the peer again");
      {
        std::lock_guard lk(mu_);
        register_all_locked();
      }
      for (auto& [guid, props] : registered_lus_) send_pr_state(guid);
      return;
    }
    log()->info("ALUA re-initialization: dropping the link, the standby LUs and the peer's ports; registering everything again");
    apply(settings_, true);
    // What the peer registered before is forgotten: the new link's registrations are the
    // whole list again (this also clears standby LUs the peer deleted while the link was down).
    host_.drop_standby();
    drop_peer_ports();
  });
}

void ProxyService::apply(const LinkSettings& s, bool force) {
  if (s == settings_ && !force && (link_ || !s.enabled)) return;
  const bool was_enabled = settings_.enabled;
  teardown();
  settings_ = s;
  if (!s.enabled) reconnect_until_ms_ = 0;
  publish_alua();
  if (!s.enabled) {
    if (holding_) release_hold("ALUA disabled");
    link_.reset();
    if (was_enabled) {
      log()->info("ALUA disabled: standby LUs and the peer's ports are dropped");
      audit({"alua", "disabled", {}, {}, "ok"});
      host_.drop_standby();
      drop_peer_ports();
    }
    return;
  }
  link_ = std::make_unique<LinkState>(s.node, random_incarnation(), s.heartbeat_ms, s.timeout_ms);
  hold_active_lus();
  tls_.reset();
  tls_on_ = false;
  if (!s.door) {
    if (s.tls.enabled()) {
      std::string why;
      tls_ = make_tls_context(s.tls, s.node == 0 ? TlsRole::client : TlsRole::server, why);
      tls_on_ = tls_ != nullptr;
      if (!tls_) {
        log()->error("ALUA enabled, but the link's TLS cannot be set up: {}: the link cannot start", why);
        std::lock_guard lk(mu_);
        last_down_why_ = "TLS: " + why;
        return;
      }
    } else if (s.insecure) {
      log()->warn("ALUA peer link over PLAIN TCP (\"insecure\": true): anyone who reaches {} can read and "
                  "forge the pair's traffic; configure alua.tls (docs/security.md)",
                  s.node == 0 ? s.peer_host + ":" + std::to_string(s.peer_port)
                              : s.listen_host + ":" + std::to_string(s.listen_port));
    } else {
      log()->error("ALUA tcp carrier without alua.tls and without \"insecure\": true: the link cannot start");
      std::lock_guard lk(mu_);
      last_down_why_ = "no TLS configured";
      return;
    }
  }
  log()->info("ALUA enabled: node {}, carrier {}, incarnation {:016x}", s.node,
              s.door ? "door" : std::string(tls_ ? "tls" : "tcp") +
                                    (s.node == 0 ? " to " + s.peer_host + ":" + std::to_string(s.peer_port)
                                                 : " on " + s.listen_host + ":" + std::to_string(s.listen_port) +
                                                       " from " + s.peer_host),
              link_->incarnation());
  audit({"alua", "enabled", {}, {{"node", std::to_string(s.node)}, {"carrier", s.door ? "door" : "tcp"}}, "ok"});
  start_carrier();
}

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
  auto a = std::make_unique<tcp::acceptor>(io_);
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
    on_frame(carrier_gen_, std::move(r->hello_frame));
  });
}

void ProxyService::dial() {
  auto sock = std::make_shared<tcp::socket>(io_);
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
        asio::dispatch(io_, [this, gen, f = std::move(f)]() mutable { on_frame(gen, std::move(f)); });
      },
      [this, gen](const std::string& why) { asio::post(io_, [this, gen, why] { on_carrier_down(gen, why); }); },
      // A door call the relay answered non-zero: "logged as errors without further action"
      // (stmfInitProxyDoor(3STMF)). The carrier logged it; count it and keep the link. A dead
      // door (the call itself fails: EOF, I/O error) is on_down above and takes the link down.
      [this](const std::string& why) {
        const uint64_t n = ++door_call_failures_;
        log()->warn("proxy link: {} ({} non-zero door result(s) so far); the link is kept", why, n);
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
  if (a.send_echo) send(Message{next_id_++, EchoRequest{}});
  if (a.close_carrier && !carrier_is_door_) {
    std::shared_ptr<Carrier> c;
    {
      std::lock_guard lk(mu_);
      c = carrier_;
    }
    if (c) on_carrier_down(carrier_gen_, a.why.empty() ? "closed" : a.why);
  }
}

void ProxyService::tick() {
  if (link_) run(link_->tick(now_ms()));
  const uint64_t now = now_ms();
  if (reconnect_until_ms_ != 0 && now >= reconnect_until_ms_) {
    reconnect_until_ms_ = 0;
    bool up;
    {
      std::lock_guard lk(mu_);
      up = up_;
    }
    if (!up && settings_.enabled) {
      log()->warn("proxy link: not back within {} ms: the standby paths are Unavailable", settings_.timeout_ms);
      publish_alua();
      stmf_.raise_alua_change(true, true);
    }
  }
  for (auto it = requests_.begin(); it != requests_.end();) {
    if (now < it->second.deadline_ms) { ++it; continue; }
    auto done = std::move(it->second.done);
    it = requests_.erase(it);
    done(ProxyStatus::failure, "the peer did not answer in time");
  }
  for (auto& [g, h] : handovers_) {
    if (!h.msg_id || now < h.deadline_ms) continue;
    // Offered but unanswered: the peer may own it already. Hold until the link settles it.
    const Guid guid = g;
    auto done = std::move(h.done);
    handovers_.erase(guid);
    holding_ = true;
    hold_until_ms_ = UINT64_MAX;
    log()->warn("LU {}: no answer to the handover: held until ownership is settled with the peer", guid_hex(guid));
    done(ProxyStatus::failure, "the peer did not answer the handover: the LU is held (Transitioning) until "
                               "ownership is settled");
    break;  // the map changed
  }
  if (holding_ && now_ms() >= hold_until_ms_ && link_ && link_->up()) {
    // The link is up but the peer's registrations (its LU list) never came: they were lost on
    // the carrier (a door relay that reset under them). Start the handshake over, so that both
    // sides register everything again, and keep holding meanwhile.
    log()->warn("proxy link: up for {} ms without the peer's LU list: starting the handshake over",
                settings_.timeout_ms);
    hold_until_ms_ = now_ms() + settings_.timeout_ms;
    run(link_->message_lost(now_ms(), "the peer's registrations did not arrive"));
  }
  if (holding_ && now_ms() >= hold_until_ms_ && !(link_ && link_->up()))
    release_hold("the peer was not reachable within " + std::to_string(settings_.timeout_ms) +
                 " ms: this node serves its LUs as their owner");
  tick_timer_.expires_after(kTick);
  tick_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec && work_) tick();
  });
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
  // taken the LU: it stays held until the link is back and the epochs tell (release_hold).
  std::vector<Guid> offered, unoffered;
  for (auto& [g, h] : handovers_) (h.msg_id ? offered : unoffered).push_back(g);
  for (auto& g : unoffered) handover_rollback(g, "the link went down");
  for (auto& g : offered) {
    auto done = std::move(handovers_[g].done);
    handovers_.erase(g);
    holding_ = true;
    hold_until_ms_ = UINT64_MAX;  // only the peer's registrations settle it now
    log()->warn("LU {}: the link went down while the peer was taking it over: held until the link returns", guid_hex(g));
    done(ProxyStatus::failure, "the link went down during the handover: the LU is held (Transitioning) until the "
                               "link returns and ownership is settled");
  }
  for (auto& [id, r] : requests_) r.done(ProxyStatus::failure, "the link went down");
  requests_.clear();
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

void ProxyService::fail_task(const TaskPtr& task, bool reconnecting) {
  task->data_in.clear();
  // The task may or may not have run on the owner; the owner keeps a retry from overtaking it
  // (running_by_gen_), so a retry is safe.
  task->check_condition(reconnecting ? scsi::sense::not_ready_asymmetric_transition
                                     : scsi::sense::not_ready_target_port_unavailable,
                        false);
  task->nexus->port().task_complete(task);
}

void ProxyService::track_submit(const TaskPtr& task) {
  std::lock_guard lk(mu_);
  ++running_by_gen_[uint16_t(task->port_cookie >> kGenShift)];
}

// ---------------------------------------------------------------- sending

void ProxyService::send(const Message& m) {
  std::lock_guard lk(mu_);
  send_locked(m);
}

void ProxyService::send_locked(const Message& m) {
  if (!carrier_) return;
  carrier_->send(encode(m));
}

void ProxyService::reply(MsgType type, uint64_t id, ProxyStatus st) {
  send(Message{next_id_++, Status{uint8_t(type), id, uint32_t(st)}});
}

std::vector<LunEntry> ProxyService::standby_luns(const ItNexusPtr& n) const {
  std::vector<LunEntry> v;
  if (auto m = n->lun_map())
    for (auto& [lun, lu] : m->luns)
      if (lu->standby()) v.push_back({lun, lu->guid()});
  return v;
}

SessionCreate ProxyService::session_of(const ItNexusPtr& n) const {
  return SessionCreate{n->id(), n->port().rtpi(), n->initiator_name(), n->isid_hex(), standby_luns(n)};
}

// ---------------------------------------------------------------- standby side (any thread)

bool ProxyService::forward_task(const LogicalUnitPtr& lu, const TaskPtr& task) {
  ScsiCmd c;
  c.session_id = task->nexus->id();
  c.guid = lu->guid();
  c.epoch = lu->epoch();
  c.lun = task->lun;
  c.tag = task->tag;
  c.attribute = uint8_t(task->attribute);
  c.direction = uint8_t(task->direction);
  c.expected_transfer_length = task->expected_transfer_length;
  c.cdb.assign(task->cdb.begin(), task->cdb.begin() + task->cdb_length);
  c.data_complete = true;
  const uint64_t id = next_id_++;
  std::vector<uint8_t> frame;
  {
    Message m{id, std::move(c)};
    std::get<ScsiCmd>(m.body).immediate_data = std::move(task->data_out);
    frame = encode(m);
  }
  std::lock_guard lk(mu_);
  if (!up_ || !carrier_) return false;
  task->port_cookie = id;
  pending_[id] = Pending{task};
  carrier_->send(std::move(frame));
  forwarded_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

bool ProxyService::forward_tmf(const LogicalUnitPtr& lu, const ItNexusPtr& nexus, const TmfRequest& req,
                               std::function<void(TmfResponse)> done) {
  const uint64_t id = next_id_++;
  TaskMgmt t{nexus->id(), uint8_t(req.function), req.lun, lu->guid(), lu->epoch(), req.referenced_tag};
  std::lock_guard lk(mu_);
  if (!up_ || !carrier_) return false;
  tmfs_[id] = std::move(done);
  send_locked(Message{id, t});
  return true;
}

bool ProxyService::mirror(const LogicalUnit& lu, uint64_t seq, const pr::PrState& st,
                          const std::optional<pr::Nexus>& scsi2, std::function<void()> done) {
  if (lu.standby()) return false;
  PrStateMsg m{lu.guid(), seq, host_.encode_reservations(st, scsi2)};
  const uint64_t id = next_id_++;
  auto frame = encode(Message{id, std::move(m)});
  std::lock_guard lk(mu_);
  if (!up_ || !carrier_) return false;
  mirrors_[id] = std::move(done);
  carrier_->send(std::move(frame));
  return true;
}

void ProxyService::nexus_created(const ItNexusPtr& n) {
  std::lock_guard lk(mu_);
  if (up_) send_locked(Message{next_id_++, session_of(n)});
}

void ProxyService::nexus_lost(const ItNexusPtr& n) {
  std::lock_guard lk(mu_);
  if (up_) send_locked(Message{next_id_++, SessionDestroy{n->id()}});
}

void ProxyService::lun_map_changed(const ItNexusPtr& n) {
  std::lock_guard lk(mu_);
  if (up_) send_locked(Message{next_id_++, SessionLuns{n->id(), standby_luns(n)}});
}

// ---------------------------------------------------------------- active side

void ProxyService::task_finished(const TaskPtr& task, bool aborted) {
  const uint64_t gen = task->port_cookie >> kGenShift;
  const uint64_t id = task->port_cookie & kIdMask;
  ScsiStatus st;
  st.task_id = id;
  st.session_id = task->nexus->remote_id();
  std::vector<std::vector<uint8_t>> frames;
  if (aborted) {
    st.response = uint8_t(TaskResponse::aborted);
  } else {
    st.response = uint8_t(TaskResponse::completed);
    st.scsi_status = uint8_t(task->status);
    st.transfer_length = task->transfer_length;
    st.sense = std::move(task->sense);
    st.data_in_length = uint32_t(task->data_in.size());
    // Only what the initiator can receive crosses the link: Data-In up to the EDTL (the rest
    // counts for the overflow residual through data_in_length; the standby node refuses
    // Data-In beyond the EDTL as a protocol error).
    const size_t send = std::min<size_t>(task->data_in.size(), task->expected_transfer_length);
    if (send > 0 && send == task->data_in.size() && send <= kDataChunk) {
      // One chunk (every read up to 1 MiB): the task's buffer itself, no copy.
      frames.push_back(encode(Message{0, ScsiData{id, st.session_id, 0, std::move(task->data_in)}}));
    } else {
      for (size_t off = 0; off < send; off += kDataChunk) {
        const size_t n = std::min<size_t>(kDataChunk, send - off);
        ScsiData d{id, st.session_id, uint32_t(off), {}};
        d.data.assign(task->data_in.begin() + off, task->data_in.begin() + off + n);
        frames.push_back(encode(Message{0, std::move(d)}));
      }
    }
  }
  frames.push_back(encode(Message{0, std::move(st)}));
  served_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lk(mu_);
  if (auto r = running_by_gen_.find(uint16_t(gen)); r != running_by_gen_.end() && --r->second == 0)
    running_by_gen_.erase(r);
  if (gen != (gen_ & 0xffff) || !up_ || !carrier_) return;  // the link this task came on is gone
  for (auto& f : frames) carrier_->send(std::move(f));
}

// ---------------------------------------------------------------- receiving (proxy thread)

void ProxyService::on_frame(uint64_t gen, std::vector<uint8_t> frame) {
  if (gen != carrier_gen_ || !link_) return;
  Message m;
  std::string why;
  if (auto e = decode(frame.data(), frame.size(), m, why); e != DecodeError::none) {
    log()->error("proxy link: undecodable frame ({}): {}", to_string(e), why);
    if (carrier_is_door_) run(link_->message_lost(now_ms(), "undecodable frame"));
    else on_carrier_down(gen, "undecodable frame");
    return;
  }
  run(link_->frame_received(now_ms()));
  handle(std::move(m));
}

void ProxyService::handle(Message m) {
  const uint64_t id = m.msg_id;
  if (auto* h = std::get_if<Hello>(&m.body)) {
    run(link_->hello(*h, now_ms()));
    return;
  }
  if (!link_->up()) {
    log()->debug("proxy link: {} before the handshake, ignored", to_string(m.type()));
    return;
  }
  std::visit(
      [&](auto& b) {
        using T = std::decay_t<decltype(b)>;
        if constexpr (std::is_same_v<T, ScsiCmd>) {
          on_scsi_cmd(id, std::move(b));
        } else if constexpr (std::is_same_v<T, ScsiData>) {
          on_scsi_data(std::move(b));
        } else if constexpr (std::is_same_v<T, ScsiStatus>) {
          on_scsi_status(std::move(b));
        } else if constexpr (std::is_same_v<T, ScsiDataXferDone>) {
          on_xfer_done(b);
        } else if constexpr (std::is_same_v<T, Status>) {
          on_status(b);
        } else if constexpr (std::is_same_v<T, TaskMgmt>) {
          on_task_mgmt(id, b);
        } else if constexpr (std::is_same_v<T, EchoRequest>) {
          send(Message{id, EchoReply{{std::move(b.data)}}});
        } else if constexpr (std::is_same_v<T, EchoReply>) {
        } else if constexpr (std::is_same_v<T, SessionCreate>) {
          on_session_create(id, std::move(b));
        } else if constexpr (std::is_same_v<T, SessionLuns>) {
          auto it = sessions_.find(b.session_id);
          if (it == sessions_.end()) return reply(MsgType::session_luns, id, ProxyStatus::not_found);
          std::vector<std::pair<uint64_t, std::array<uint8_t, 16>>> luns;
          for (auto& e : b.luns) luns.emplace_back(e.lun, e.guid);
          stmf_.set_remote_luns(it->second, std::move(luns));
        } else if constexpr (std::is_same_v<T, SessionDestroy>) {
          auto it = sessions_.find(b.session_id);
          if (it == sessions_.end()) return;
          stmf_.nexus_lost(it->second);
          sessions_.erase(it);
        } else if constexpr (std::is_same_v<T, RegisterProxyPort>) {
          on_register_port(id, b);
        } else if constexpr (std::is_same_v<T, DeregisterProxyPort>) {
          auto it = peer_ports_.find(b.rtpi);
          if (it == peer_ports_.end()) return reply(MsgType::deregister_proxy_port, id, ProxyStatus::not_found);
          stmf_.remove_port(*it->second);
          retired_ports_.push_back(it->second);
          peer_ports_.erase(it);
          reply(MsgType::deregister_proxy_port, id, ProxyStatus::success);
        } else if constexpr (std::is_same_v<T, RegisterLun>) {
          on_register_lun(id, std::move(b));
        } else if constexpr (std::is_same_v<T, DeregisterLun>) {
          host_.deregister_standby(b.guid, [this, id](ProxyStatus st) {
            asio::post(io_, [this, id, st] { reply(MsgType::deregister_lun, id, st); });
          });
        } else if constexpr (std::is_same_v<T, PrStateMsg>) {
          host_.store_standby_reservations(std::move(b), [this, id](ProxyStatus st) {
            asio::post(io_, [this, id, st] { reply(MsgType::pr_state, id, st); });
          });
        } else if constexpr (std::is_same_v<T, LuList>) {
          host_.keep_standby_only(std::move(b.guids), [this, id](ProxyStatus st) {
            asio::post(io_, [this, id, st] { reply(MsgType::lu_list, id, st); });
          });
          // The peer's registrations are all in: ownership is settled for the LUs we keep.
          if (holding_) release_hold("ownership settled with the peer");
        } else if constexpr (std::is_same_v<T, LunActive>) {
          on_lun_active(id, b);
        }
      },
      m.body);
}

namespace {
uint64_t epoch_of(const std::string& properties) {
  auto j = stmf::mgmt::parse_json_limited(properties);
  if (!j.is_object()) return 0;
  auto e = j.find("epoch");
  return e != j.end() && e->is_number_unsigned() ? e->get<uint64_t>() : 0;
}
}  // namespace

// REGISTER_LUN: the peer has the LU active. Normally it is unknown here, or standby here. If it
// is active here too, the ownership epochs decide (docs/alua.md "Fencing"): the lower one is
// a stale copy (its node was taken over while it was down) and steps down.
void ProxyService::on_register_lun(uint64_t id, RegisterLun m) {
  auto lu = stmf_.find_lu(m.guid);
  if (lu && !lu->standby()) {
    uint64_t mine = 0;
    for (auto& r : host_.active_lus())
      if (r.guid == m.guid) mine = epoch_of(r.properties);
    const uint64_t theirs = epoch_of(m.properties);
    if (theirs > mine) {
      log()->warn("LU {}: the peer owns it with epoch {}, ours is {}: this copy is stale and steps down to standby",
                  guid_hex(m.guid), theirs, mine);
      audit({"fencing", "stale-copy", {{"peer", "alua-peer"}},
             {{"lu", guid_hex(m.guid)}, {"peer_epoch", std::to_string(theirs)}, {"our_epoch", std::to_string(mine)}},
             "stepping down"});
      lu->set_transitioning(true);  // no command runs on the stale copy from now on
      const Guid g = m.guid;
      stepping_down_.insert(g);
      host_.step_down(std::move(m), [this, id, g](ProxyStatus st) {
        asio::post(io_, [this, id, g, st] {
          stepping_down_.erase(g);
          reply(MsgType::register_lun, id, st);
        });
      });
      return;
    }
    audit({"fencing", "peer-registers-active", {{"peer", "alua-peer"}},
           {{"lu", guid_hex(m.guid)}, {"peer_epoch", std::to_string(theirs)}, {"our_epoch", std::to_string(mine)}},
           "refused"});
    if (theirs < mine)
      log()->warn("LU {}: the peer registers a stale copy (epoch {} < ours {}): refused; it steps down when it "
                  "hears ours", guid_hex(m.guid), theirs, mine);
    else
      log()->error("the peer registers LU {} as active there, but it is active here too with the same epoch {}: "
                   "refused (one of the nodes must hold it standby)", guid_hex(m.guid), mine);
    return reply(MsgType::register_lun, id, ProxyStatus::already);
  }
  host_.register_standby(std::move(m), [this, id](ProxyStatus st) {
    asio::post(io_, [this, id, st] { reply(MsgType::register_lun, id, st); });
  });
}

// ---------------------------------------------------------------- planned switchover

namespace {
constexpr uint64_t kDrainMs = 5000;     // in-flight commands must finish within this
constexpr uint64_t kHandoverMs = 15000; // the whole handover, the peer's answer included
}  // namespace

void ProxyService::switchover(const Guid& g, std::function<void(ProxyStatus, std::string)> done) {
  asio::post(io_, [this, g, done = std::move(done)]() mutable {
    auto lu = stmf_.find_lu(g);
    if (!lu) return done(ProxyStatus::not_found, "no such LU here");
    if (!link_ || !link_->up() || !up_) return done(ProxyStatus::not_ready, "the link to the peer is down");
    if (!lu->standby()) return start_handover(g, std::move(done));
    // Standby here: ask the owner to hand it over (it answers when the handover is done).
    const uint64_t id = next_id_++;
    requests_[id] = Request{std::move(done), now_ms() + kHandoverMs + 5000};
    send(Message{id, LunActive{g, lu->epoch()}});
  });
}

void ProxyService::hand_over(const LogicalUnitPtr& lu, std::function<void(bool ok)> done) {
  switchover(lu->guid(), [done = std::move(done)](ProxyStatus st, std::string) { done(st == ProxyStatus::success); });
}

void ProxyService::start_handover(const Guid& g, std::function<void(ProxyStatus, std::string)> done) {
  auto lu = stmf_.find_lu(g);
  if (!lu || lu->standby()) return done(ProxyStatus::not_found, "the LU is not active here");
  if (handovers_.count(g)) return done(ProxyStatus::already, "a switchover of this LU is in progress");
  if (!up_) return done(ProxyStatus::not_ready, "the link to the peer is down");
  log()->info("LU {}: switchover to the peer: holding it (Transitioning), draining in-flight commands", guid_hex(g));
  audit({"alua", "switchover-out", {}, {{"lu", guid_hex(g)}}, "started"});
  lu->set_transitioning(true);
  stmf_.raise_for_lu(lu, scsi::sense::asymmetric_access_state_changed);
  auto& h = handovers_[g];
  h.done = std::move(done);
  h.deadline_ms = now_ms() + kHandoverMs;
  h.timer = std::make_unique<asio::steady_timer>(io_);
  handover_drain(g);
}

void ProxyService::handover_drain(const Guid& g) {
  auto it = handovers_.find(g);
  if (it == handovers_.end()) return;
  auto lu = stmf_.find_lu(g);
  if (!lu) return handover_rollback(g, "the LU went away");
  bool empty;
  {
    auto& ts = lu->task_set();
    std::lock_guard lk(ts.mu);
    empty = ts.tasks.empty();
  }
  if (!empty) {
    if (now_ms() + kHandoverMs - kDrainMs > it->second.deadline_ms)
      return handover_rollback(g, "in-flight commands did not complete within " + std::to_string(kDrainMs) + " ms");
    it->second.timer->expires_after(std::chrono::milliseconds(5));
    it->second.timer->async_wait([this, g](boost::system::error_code ec) {
      if (!ec) handover_drain(g);
    });
    return;
  }
  lu->flush([this, g](bool ok) {
    asio::post(io_, [this, g, ok] {
      auto it = handovers_.find(g);
      if (it == handovers_.end()) return;
      if (!ok) return handover_rollback(g, "flushing the backing store failed");
      auto lu = stmf_.find_lu(g);
      if (!lu) return handover_rollback(g, "the LU went away");
      // The final state (reservations, unit attentions, mode pages), then the offer: in this
      // order on the one carrier.
      send_pr_state(g, true);
      it->second.msg_id = next_id_++;
      log()->info("LU {}: drained and flushed, offering it to the peer (LUN_ACTIVE)", guid_hex(g));
      send(Message{it->second.msg_id, LunActive{g, lu->epoch()}});
    });
  });
}

void ProxyService::handover_rollback(const Guid& g, const std::string& why) {
  auto it = handovers_.find(g);
  if (it == handovers_.end()) return;
  auto done = std::move(it->second.done);
  handovers_.erase(it);
  if (auto lu = stmf_.find_lu(g); lu && !lu->standby()) {
    lu->set_transitioning(false);
    stmf_.raise_for_lu(lu, scsi::sense::asymmetric_access_state_changed);
    // The peer's copy is the plain mirror again: the handover state it may hold goes stale.
    if (up_) send_pr_state(g);
  }
  log()->warn("LU {}: switchover abandoned, still active here: {}", guid_hex(g), why);
  audit({"alua", "switchover-out", {}, {{"lu", guid_hex(g)}, {"reason", why}}, "abandoned"});
  done(ProxyStatus::failure, why);
}

// LUN_ACTIVE: standby here -> the owner hands the LU over: take it. Active here -> the peer
// asks for it: hand it over, and answer when done.
void ProxyService::on_lun_active(uint64_t id, const LunActive& m) {
  const Guid& g = m.guid;
  auto lu = stmf_.find_lu(g);
  if (!lu) return reply(MsgType::lun_active, id, ProxyStatus::not_found);
  if (lu->epoch() != m.epoch) {
    // The two nodes disagree about who owns it under which epoch (a registration is still on
    // its way, or one copy is stale): no handover on a stale view; the sender rolls back.
    log()->warn("LU {}: LUN_ACTIVE names ownership epoch {}, ours is {}: refused", guid_hex(g), m.epoch, lu->epoch());
    return reply(MsgType::lun_active, id, ProxyStatus::stale);
  }
  if (lu->standby()) {
    log()->info("LU {}: the peer hands it over: taking it", guid_hex(g));
    host_.promote(g, [this, id](ProxyStatus st) { asio::post(io_, [this, id, st] { reply(MsgType::lun_active, id, st); }); });
    return;
  }
  start_handover(g, [this, id](ProxyStatus st, std::string) { reply(MsgType::lun_active, id, st); });
}

void ProxyService::hold_active_lus() {
  holding_ = true;
  hold_until_ms_ = now_ms() + settings_.timeout_ms;
  size_t n = 0;
  for (auto& lu : stmf_.lus())
    if (!lu->standby()) {
      lu->set_transitioning(true);
      ++n;
    }
  if (n) log()->info("{} LU(s) held in Transitioning until ownership is settled with the peer (at most {} ms)", n, settings_.timeout_ms);
}

void ProxyService::release_hold(const std::string& why) {
  holding_ = false;
  size_t n = 0;
  for (auto& lu : stmf_.lus())
    if (!lu->standby() && lu->transitioning() && !stepping_down_.count(lu->guid())) {
      lu->set_transitioning(false);
      ++n;
    }
  if (n) log()->info("{} LU(s) active: {}", n, why);
}

void ProxyService::on_register_port(uint64_t id, const RegisterProxyPort& p) {
  if (p.tpg == tpg_of_node(settings_.node)) {
    log()->error("the peer registers port {} in target port group {}, which is ours: refused", p.port_name, p.tpg);
    return reply(MsgType::register_proxy_port, id, ProxyStatus::invalid_arg);
  }
  auto it = peer_ports_.find(p.rtpi);
  if (it != peer_ports_.end()) {
    if (it->second->same(p)) return reply(MsgType::register_proxy_port, id, ProxyStatus::success);
    stmf_.remove_port(*it->second);
    retired_ports_.push_back(it->second);
    peer_ports_.erase(it);
  }
  auto port = std::make_shared<ProxyPort>(*this, p);
  stmf_.add_port(*port);
  peer_ports_[p.rtpi] = port;
  log()->info("peer port {} registered: rtpi {}, target port group {}", p.port_name, p.rtpi, p.tpg);
  reply(MsgType::register_proxy_port, id, ProxyStatus::success);
}

void ProxyService::drop_peer_ports() {
  for (auto& [rtpi, p] : peer_ports_) {
    stmf_.remove_port(*p);
    retired_ports_.push_back(p);
  }
  peer_ports_.clear();
}

void ProxyService::on_session_create(uint64_t id, SessionCreate s) {
  auto port = peer_ports_.find(s.rtpi);
  if (port == peer_ports_.end()) {
    log()->warn("peer session {} on unknown port rtpi {}", s.session_id, s.rtpi);
    return reply(MsgType::session_create, id, ProxyStatus::not_found);
  }
  if (auto old = sessions_.find(s.session_id); old != sessions_.end()) {
    stmf_.nexus_lost(old->second);
    sessions_.erase(old);
  }
  std::vector<std::pair<uint64_t, std::array<uint8_t, 16>>> luns;
  for (auto& e : s.luns) luns.emplace_back(e.lun, e.guid);
  sessions_[s.session_id] =
      stmf_.create_remote_nexus(*port->second, std::move(s.initiator_name), std::move(s.isid_hex), s.session_id, std::move(luns));
  reply(MsgType::session_create, id, ProxyStatus::success);
}

void ProxyService::on_scsi_cmd(uint64_t id, ScsiCmd c) {
  auto answer_failure = [&] {
    ScsiStatus st;
    st.task_id = id;
    st.session_id = c.session_id;
    st.response = uint8_t(TaskResponse::target_failure);
    send(Message{0, st});
  };
  auto s = sessions_.find(c.session_id);
  if (s == sessions_.end()) {
    log()->warn("SCSI_CMD {} for unknown peer session {}", id, c.session_id);
    return answer_failure();
  }
  const auto& nexus = s->second;
  auto lu = stmf_.ensure_remote_lun(nexus, c.lun, c.guid);
  if (!lu) {
    log()->warn("SCSI_CMD {} for LU {} which is not active here", id, guid_hex(c.guid));
    return answer_failure();
  }
  // Refused without reaching the medium: NOT READY, ASYMMETRIC ACCESS STATE TRANSITION, which
  // the initiator retries (by then on a settled path).
  auto answer_transition = [&] {
    fenced_.fetch_add(1, std::memory_order_relaxed);
    ScsiStatus st;
    st.task_id = id;
    st.session_id = c.session_id;
    st.response = uint8_t(TaskResponse::completed);
    st.scsi_status = uint8_t(scsi::Status::check_condition);
    st.sense = scsi::build_sense(scsi::sense::not_ready_asymmetric_transition, lu->descriptor_sense());
    send(Message{0, st});
  };
  if (lu->standby() || lu->epoch() != c.epoch) {
    // Fencing (docs/alua.md): the sender routed this command by another view of the
    // ownership than ours (it registered the LU under another epoch, or this copy stepped
    // down).
    log()->warn("SCSI_CMD {} (opcode {:#04x}) for LU {} names ownership epoch {}, ours is {}{}: refused with "
                "ASYMMETRIC ACCESS STATE TRANSITION",
                id, c.cdb.empty() ? 0 : c.cdb[0], guid_hex(c.guid), c.epoch, lu->epoch(), lu->standby() ? " (standby here)" : "");
    return answer_transition();
  }
  auto t = std::make_shared<ScsiTask>();
  t->nexus = nexus;
  t->lun = c.lun;
  t->tag = c.tag;
  t->attribute = TaskAttribute(c.attribute);
  t->cdb_length = uint8_t(std::min<size_t>(c.cdb.size(), t->cdb.size()));
  std::copy(c.cdb.begin(), c.cdb.begin() + t->cdb_length, t->cdb.begin());
  t->expected_transfer_length = c.expected_transfer_length;
  t->direction = DataDirection(c.direction);
  t->data_out = std::move(c.immediate_data);
  bool older_running = false;
  {
    // One lock: the generation check, the task's cookie and (data complete) its count.
    std::lock_guard lk(mu_);
    const uint16_t gen = uint16_t(gen_ & 0xffff);
    for (auto& [g, n] : running_by_gen_) older_running |= (n > 0 && g != gen);
    if (!older_running) {
      t->port_cookie = (uint64_t(gen) << kGenShift) | (id & kIdMask);
      if (c.data_complete) ++running_by_gen_[gen];  // balanced by task_finished
    }
  }
  if (older_running) {
    // Commands that came on a link that went down are still executing here; this one may be
    // the initiator's retry of one of them and must not overtake it on the medium.
    log()->debug("SCSI_CMD {}: tasks of a previous link are still running: ASYMMETRIC ACCESS STATE TRANSITION", id);
    return answer_transition();
  }
  if (!c.data_complete) {
    partial_[id] = t;
    return;
  }
  stmf_.submit(t);
}

namespace {
// SCSI_DATA's bytes into a task buffer at their offset: the first chunk of an empty buffer
// becomes the buffer (no copy; a whole read up to 1 MiB is one chunk). Bytes that would end
// beyond `limit` are a protocol error: false, and the buffer is left as it was (never grown
// for them: a peer must not make this node allocate what it likes).
bool place(std::vector<uint8_t>& buf, ScsiData& d, uint64_t limit) {
  if (uint64_t(d.offset) + d.data.size() > limit) return false;
  if (buf.empty() && d.offset == 0) {
    buf = std::move(d.data);
    return true;
  }
  if (buf.size() < d.offset + d.data.size()) buf.resize(d.offset + d.data.size());
  std::copy(d.data.begin(), d.data.end(), buf.begin() + d.offset);
  return true;
}

// Where a task's data may go: its expected transfer length, and never beyond kMaxTaskData.
uint64_t data_limit(const ScsiTask& t) { return std::min<uint64_t>(t.expected_transfer_length, kMaxTaskData); }
}  // namespace

// A SCSI_DATA or SCSI_STATUS that breaks the protocol ends its task and is answered with
// STATUS {SCSI_CMD, task id, protocol_error}: the task id is the msg_id of the SCSI_CMD that
// started the task (docs/proxy-protocol.md "Protocol errors").
void ProxyService::on_scsi_data(ScsiData d) {
  // Data-Out for a task waiting here (active side)...
  if (auto it = partial_.find(d.task_id); it != partial_.end()) {
    auto t = it->second;
    if (place(t->data_out, d, data_limit(*t))) return;
    // The buffer would have a hole where these bytes belong: the command must not run. The
    // standby node answers it as for a task whose answer cannot come (target_failure).
    log()->error("proxy protocol error: SCSI_DATA (Data-Out) for task {} at offset {}, {} bytes, beyond its expected "
                 "transfer length {} (at most {}): the task is not run",
                 d.task_id, d.offset, d.data.size(), t->expected_transfer_length, kMaxTaskData);
    partial_.erase(it);
    reply(MsgType::scsi_cmd, d.task_id, ProxyStatus::protocol_error);
    ScsiStatus st;
    st.task_id = d.task_id;
    st.session_id = d.session_id;
    st.response = uint8_t(TaskResponse::target_failure);
    send(Message{0, st});
    return;
  }
  // ...or Data-In of a task forwarded from here (standby side).
  TaskPtr failed;
  {
    std::lock_guard lk(mu_);
    auto it = pending_.find(d.task_id);
    if (it == pending_.end()) return;
    auto& t = *it->second.task;
    if (place(t.data_in, d, data_limit(t))) return;
    log()->error("proxy protocol error: SCSI_DATA (Data-In) for task {} at offset {}, {} bytes, beyond its expected "
                 "transfer length {} (at most {}): the task fails",
                 d.task_id, d.offset, d.data.size(), t.expected_transfer_length, kMaxTaskData);
    failed = std::move(it->second.task);
    pending_.erase(it);  // its later SCSI_DATA and SCSI_STATUS find nothing and are dropped
  }
  reply(MsgType::scsi_cmd, d.task_id, ProxyStatus::protocol_error);
  fail_task(failed, false);
}

void ProxyService::on_xfer_done(ScsiDataXferDone d) {
  auto it = partial_.find(d.task_id);
  if (it == partial_.end()) return;
  auto t = it->second;
  partial_.erase(it);
  track_submit(t);  // balanced by task_finished
  if (d.status != 0) {
    task_finished(t, true);
    return;
  }
  stmf_.submit(t);
}

void ProxyService::on_scsi_status(ScsiStatus s) {
  TaskPtr t;
  {
    std::lock_guard lk(mu_);
    auto it = pending_.find(s.task_id);
    if (it == pending_.end()) return;  // failed already (link reset)
    t = std::move(it->second.task);
    pending_.erase(it);
  }
  switch (TaskResponse(s.response)) {
    case TaskResponse::completed: {
      // The SCSI_DATA frames carried min(data_in_length, EDTL) bytes. Fewer arrived, or a
      // length no LU produces: the peer broke the protocol, the task fails as if the answer
      // never came. Beyond the EDTL the buffer only counts (zeroes, never sent): the port
      // reports the overflow residual from its size.
      const uint64_t carried = std::min<uint64_t>(s.data_in_length, t->expected_transfer_length);
      if (s.data_in_length > kMaxTaskData || t->data_in.size() < carried) {
        log()->error("proxy protocol error: SCSI_STATUS for task {} names {} bytes of Data-In, {} arrived (expected "
                     "transfer length {}, at most {}): the task fails",
                     s.task_id, s.data_in_length, t->data_in.size(), t->expected_transfer_length, kMaxTaskData);
        reply(MsgType::scsi_cmd, s.task_id, ProxyStatus::protocol_error);
        fail_task(t, false);
        break;
      }
      t->status = scsi::Status(s.scsi_status);
      t->sense = std::move(s.sense);
      t->transfer_length = s.transfer_length;
      t->data_in.resize(s.data_in_length);
      t->nexus->port().task_complete(t);
      break;
    }
    case TaskResponse::aborted:
      t->nexus->port().task_aborted(t);
      break;
    default:
      fail_task(t, false);
  }
}

void ProxyService::on_status(const Status& s) {
  if (MsgType(s.msg_type) == MsgType::task_mgmt) {
    std::function<void(TmfResponse)> done;
    {
      std::lock_guard lk(mu_);
      auto it = tmfs_.find(s.msg_id);
      if (it == tmfs_.end()) return;
      done = std::move(it->second);
      tmfs_.erase(it);
    }
    done(TmfResponse(uint8_t(s.status)));
    return;
  }
  if (MsgType(s.msg_type) == MsgType::lun_active) {
    for (auto& [g, h] : handovers_) {
      if (h.msg_id != s.msg_id) continue;
      const Guid guid = g;
      if (s.status != uint32_t(ProxyStatus::success)) {
        handover_rollback(guid, "the peer could not take it (status " + std::to_string(s.status) + ")");
        return;
      }
      // The peer owns it now; its REGISTER_LUN (newer epoch) makes our copy step down.
      auto done = std::move(h.done);
      stepping_down_.insert(guid);
      handovers_.erase(guid);
      log()->info("LU {}: handed over to the peer", guid_hex(guid));
      audit({"alua", "switchover-out", {}, {{"lu", guid_hex(guid)}}, "ok"});
      done(ProxyStatus::success, "");
      return;
    }
    if (auto it = requests_.find(s.msg_id); it != requests_.end()) {
      auto done = std::move(it->second.done);
      requests_.erase(it);
      done(ProxyStatus(s.status), s.status == uint32_t(ProxyStatus::success) ? "" : "the peer did not hand it over");
    }
    return;
  }
  if (MsgType(s.msg_type) == MsgType::pr_state) {
    std::function<void()> done;
    {
      std::lock_guard lk(mu_);
      auto it = mirrors_.find(s.msg_id);
      if (it != mirrors_.end()) {
        done = std::move(it->second);
        mirrors_.erase(it);
      }
    }
    if (s.status != uint32_t(ProxyStatus::success))
      log()->error("the peer could not store reservation state {} (status {})", s.msg_id, s.status);
    if (done) done();
    return;
  }
  if (s.status != uint32_t(ProxyStatus::success))
    log()->warn("the peer answered {} {} with status {}", to_string(MsgType(s.msg_type)), s.msg_id, s.status);
}

void ProxyService::on_task_mgmt(uint64_t id, const TaskMgmt& t) {
  auto s = sessions_.find(t.session_id);
  if (s == sessions_.end()) {
    send(Message{next_id_++, Status{uint8_t(MsgType::task_mgmt), id, uint32_t(TmfResponse::function_rejected)}});
    return;
  }
  if (auto lu = stmf_.ensure_remote_lun(s->second, t.lun, t.guid); lu && (lu->standby() || lu->epoch() != t.epoch)) {
    // Fencing, as for SCSI_CMD: routed by another view of the ownership than ours.
    log()->warn("TASK_MGMT {} (function {}) for LU {} names ownership epoch {}, ours is {}: rejected", id, t.function,
                guid_hex(t.guid), t.epoch, lu->epoch());
    fenced_.fetch_add(1, std::memory_order_relaxed);
    send(Message{next_id_++, Status{uint8_t(MsgType::task_mgmt), id, uint32_t(TmfResponse::function_rejected)}});
    return;
  }
  TmfRequest req;
  req.function = TmfFunction(t.function);
  req.lun = t.lun;
  req.referenced_tag = t.referenced_tag;
  stmf_.task_management(s->second, req, [this, id](TmfResponse r) {
    send(Message{next_id_++, Status{uint8_t(MsgType::task_mgmt), id, uint32_t(r)}});
  });
}

// ---------------------------------------------------------------- registrations

void ProxyService::lus_changed() {
  asio::post(io_, [this] { sync_lus(); });
}

void ProxyService::ports_changed() {
  asio::post(io_, [this] { sync_ports(); });
}

// The whole reservation state of LU `g` (active here) to the peer, with its current seq; the
// final one of a planned switchover also carries the LU's unit attentions and mode pages.
void ProxyService::send_pr_state(const Guid& g, bool handover) {
  auto lu = stmf_.find_lu(g);
  if (!lu || lu->standby()) return;
  auto& rs = lu->reservations();
  PrStateMsg m{g, 0, {}};
  std::optional<HandoverState> hs;
  if (handover) hs = lu->handover_state();
  {
    std::shared_lock lk(rs.mu);
    m.seq = rs.seq;
    m.state = host_.encode_reservations(rs.engine.state(), rs.engine.scsi2_holder(), hs ? &*hs : nullptr);
  }
  send(Message{next_id_++, std::move(m)});
}

void ProxyService::sync_lus() {
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

// ---------------------------------------------------------------- door

DoorResult ProxyService::install_door(int fd) {
  // A door whose relay is gone (it closed its end or exited) is no longer "established"
  // (stmfInitProxyDoor(3STMF)) even if the proxy thread has not handled its end yet: a
  // restarting relay's install must not race that. The check waits on the carrier's strand,
  // so it runs without mu_.
  std::shared_ptr<DoorCarrier> old;
  {
    std::lock_guard lk(mu_);
    old = door_;
  }
  if (old && old->hung_up()) {
    bool removed = false;
    {
      std::lock_guard lk(mu_);
      if (door_ == old) door_.reset(), removed = true;
    }
    if (removed) {
      log()->info("proxy door: the previous door's relay is gone: removed before installing the new one");
      asio::post(io_, [this, old] { retire_door(old, "the relay closed the door"); });
    }
  }
  std::shared_ptr<DoorCarrier> d;
  {
    std::lock_guard lk(mu_);
    if (door_) {
      ::close(fd);
      return DoorResult::installed;
    }
    door_ = d = std::make_shared<DoorCarrier>(io_.get_executor(), fd);
  }
  log()->info("proxy door installed ({})", d->describe());
  asio::post(io_, [this, d] {
    if (!link_ || !settings_.door) return;
    {
      std::lock_guard lk(mu_);
      if (carrier_ == d) return;  // start_carrier() attached it already (ALUA enabled just now)
    }
    teardown();
    attach(d, true);
  });
  return DoorResult::ok;
}

DoorResult ProxyService::destroy_door() {
  std::shared_ptr<DoorCarrier> d;
  {
    std::lock_guard lk(mu_);
    if (!door_) return DoorResult::not_installed;
    d = std::move(door_);
    door_.reset();
  }
  log()->info("proxy door removed");
  asio::post(io_, [this, d] { retire_door(d, "the door was removed"); });
  return DoorResult::ok;
}

// Proxy thread: a door no longer installed stops carrying the link (if it did) and is closed.
void ProxyService::retire_door(const std::shared_ptr<DoorCarrier>& d, const std::string& why) {
  std::shared_ptr<Carrier> cur;
  {
    std::lock_guard lk(mu_);
    cur = carrier_;
  }
  if (cur == d) {
    if (link_ && link_->up()) link_down(why);
    ++carrier_gen_;
    {
      std::lock_guard lk(mu_);
      carrier_.reset();
    }
    if (link_) run(link_->carrier_down(now_ms(), "door removed"));
  }
  d->close();
}

DoorResult ProxyService::post_proxy_msg(std::vector<uint8_t> frame) {
  if (frame.size() < kHeaderSize) return DoorResult::bad_frame;
  const uint32_t len = uint32_t(frame[0]) << 24 | uint32_t(frame[1]) << 16 | uint32_t(frame[2]) << 8 | frame[3];
  if (len != frame.size() - 4 || frame[4] != kProtocolVersion) return DoorResult::bad_frame;
  std::shared_ptr<DoorCarrier> d;
  {
    std::lock_guard lk(mu_);
    d = door_;
  }
  if (!d) return DoorResult::not_installed;
  d->deliver(std::move(frame));
  return DoorResult::ok;
}

// ---------------------------------------------------------------- status

nlohmann::json ProxyService::status() const {
  nlohmann::json j;
  std::lock_guard lk(mu_);
  const bool door = door_ != nullptr;
  j["door_installed"] = door;
  j["link"] = up_ ? "up" : "down";
  j["forwarded_tasks"] = forwarded_.load();
  j["served_tasks"] = served_.load();
  j["fenced_tasks"] = fenced_.load();
  j["ownership_hold"] = holding_.load();  // this node's LUs held Transitioning until settled
  j["door_call_failures"] = door_call_failures_.load();
  j["tls"] = tls_on_.load();
  j["refused_connections"] = refused_.load();  // on the link port, or handshakes that failed
  j["pending_tasks"] = pending_.size();
  if (!last_down_why_.empty()) j["last_link_error"] = last_down_why_;
  return j;
}

}  // namespace stmf::proxy
