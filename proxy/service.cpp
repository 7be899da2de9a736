// The proxy service's frame: lifecycle, configuration, the periodic tick, sending, the
// dispatch of received messages (one handler per message type, chosen by overload) and
// status(). The jobs live in their own files (docs/architecture.md, proxy/service.h).
#include "proxy/service.h"
#include "core/audit.h"

#include <random>

#include "core/guid.h"
#include "proxy/codec.h"
#include "proxy/log.h"

namespace stmf::proxy {

namespace asio = boost::asio;

namespace {

constexpr auto kTick = std::chrono::milliseconds(100);

uint64_t random_incarnation() {
  std::random_device rd;
  return (uint64_t(rd()) << 32) ^ rd() ^ uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
}

}  // namespace

ProxyService::ProxyService(Stmf& stmf, StandbyHost& host, std::string host_name, asio::io_context& io)
    : stmf_(stmf), host_(host), host_name_(std::move(host_name)), ex_(asio::make_strand(io)) {}

ProxyService::~ProxyService() { stop(); }

void ProxyService::start() {
  started_ = true;
  asio::post(ex_, [this] { tick(); });
}

void ProxyService::stop() {
  if (!started_) return;
  started_ = false;
  stopping_ = true;
  // No I/O thread runs (or ever ran): nothing else touches the strand's state. The handlers
  // still queued on the io_context go with it, never run.
  teardown();
  tick_timer_.cancel();
}

uint64_t ProxyService::now_ms() const {
  return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

// ---------------------------------------------------------------- configuration

void ProxyService::configure(const LinkSettings& s) {
  asio::post(ex_, [this, s] { apply(s, false); });
}

void ProxyService::reinitialize() {
  asio::post(ex_, [this] {
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
    log()->info("ALUA re-initialization: dropping the link and the peer's ports; registering everything again");
    apply(settings_, true);
    // The peer's ports are forgotten: the new link's registrations are the whole list again.
    // The standby LUs stay (their commands get NOT READY, TRANSITIONING while the link is
    // down, which initiators retry; dropping them made the LUN vanish, ILLEGAL REQUEST,
    // LOGICAL UNIT NOT SUPPORTED, until the peer registered it again): the peer's LU_LIST on
    // the new link drops those it no longer has (keep_standby_only), e.g. after a replacement.
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
    perform(own_.alua_disabled());
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
  // Hand-over and request timeouts, the hold's deadline (after the link: its went_down first);
  // with takeover fenced, the race for SAN-backed standby LUs.
  own_.set_takeover_fenced(settings_.takeover_fenced && settings_.cluster_id != 0);
  perform(own_.tick(now_ms()));
  tick_timer_.expires_after(kTick);
  tick_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec && !stopping_) tick();
  });
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

// ---------------------------------------------------------------- dispatch (proxy thread)

void ProxyService::handle(Message m) {
  if (!std::holds_alternative<Hello>(m.body) && !link_->up()) {
    log()->debug("proxy link: {} before the handshake, ignored", to_string(m.type()));
    return;
  }
  // One handler per message type, chosen by overload: a type without one does not compile.
  std::visit([this, id = m.msg_id](auto& body) { on(id, std::move(body)); }, m.body);
}

void ProxyService::on(uint64_t, const Hello& h) { run(link_->hello(h, now_ms())); }

void ProxyService::on(uint64_t id, EchoRequest e) { send(Message{id, EchoReply{{std::move(e.data)}}}); }

// The link saw a frame; and the round trip since our ECHO_REQUEST left (the peer returns its
// data unchanged: our steady clock in microseconds, 8 bytes big-endian) is the link's RTT.
void ProxyService::on(uint64_t, const EchoReply& e) {
  if (e.data.size() != sizeof(uint64_t)) return;
  uint64_t sent = 0;
  for (uint8_t b : e.data) sent = sent << 8 | b;
  const uint64_t now = now_us();
  if (now < sent) return;
  rtt_us_.store(now - sent, std::memory_order_relaxed);
  rtt_samples_.fetch_add(1, std::memory_order_relaxed);
}

Echo ProxyService::echo_stamp() const {
  Echo e;
  const uint64_t now = now_us();
  for (int i = 7; i >= 0; --i) e.data.push_back(uint8_t(now >> (8 * i)));
  return e;
}

uint64_t ProxyService::now_us() const {
  return uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

// SCSI_DATA: Data-Out of a peer's task waiting here (active side), else Data-In of a task
// forwarded from here (standby side).
void ProxyService::on(uint64_t, ScsiData d) {
  if (!data_out(d)) data_in(d);
}

// STATUS answers one of our messages: the job that sent it takes the answer.
void ProxyService::on(uint64_t, const Status& s) {
  switch (MsgType(s.msg_type)) {
    case MsgType::task_mgmt:
      return tmf_answered(s);
    case MsgType::lun_active:
      return lun_active_answered(s);
    case MsgType::pr_state:
      return pr_state_answered(s);
    default:
      if (s.status != uint32_t(ProxyStatus::success))
        log()->warn("the peer answered {} {} with status {}", to_string(MsgType(s.msg_type)), s.msg_id, s.status);
  }
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
  j["rtt_us"] = rtt_us_.load();           // last heartbeat round trip (0: none measured yet)
  j["rtt_samples"] = rtt_samples_.load();
  j["refused_tasks"] = refused_forwards_.load();  // standby LUs' commands not forwarded: link down
  j["ownership_hold"] = holding_.load();  // this node's LUs held Transitioning until settled
  j["door_call_failures"] = door_call_failures_.load();
  j["tls"] = tls_on_.load();
  j["refused_connections"] = refused_.load();  // on the link port, or handshakes that failed
  j["pending_tasks"] = pending_.size();
  if (!last_down_why_.empty()) j["last_link_error"] = last_down_why_;
  return j;
}

}  // namespace stmf::proxy
