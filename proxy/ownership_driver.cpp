// The ownership driver: who owns each LU of the pair (docs/alua.md "Fencing", "Planned
// switchover"; docs/ownership.md): the hold until the peer's LU list settled ownership,
// REGISTER_LUN's epochs (a stale copy steps down), the planned switchover (drain, flush,
// LUN_ACTIVE), and LUN_ACTIVE from the peer (take it, or hand it over).
#include "proxy/service.h"
#include "mgmt/json_limits.h"
#include "core/audit.h"

#include "core/guid.h"
#include "core/scsi/sense.h"
#include "proxy/codec.h"
#include "proxy/log.h"

namespace stmf::proxy {

namespace asio = boost::asio;

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
void ProxyService::on(uint64_t id, RegisterLun m) {
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

void ProxyService::on(uint64_t id, const DeregisterLun& m) {
  host_.deregister_standby(m.guid, [this, id](ProxyStatus st) {
    asio::post(io_, [this, id, st] { reply(MsgType::deregister_lun, id, st); });
  });
}

void ProxyService::on(uint64_t id, LuList m) {
  host_.keep_standby_only(std::move(m.guids), [this, id](ProxyStatus st) {
    asio::post(io_, [this, id, st] { reply(MsgType::lu_list, id, st); });
  });
  // The peer's registrations are all in: ownership is settled for the LUs we keep.
  if (holding_) release_hold("ownership settled with the peer");
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
void ProxyService::on(uint64_t id, const LunActive& m) {
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

// STATUS for our LUN_ACTIVE: the peer's answer to our offer, or to our request.
void ProxyService::lun_active_answered(const Status& s) {
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
}

}  // namespace stmf::proxy
