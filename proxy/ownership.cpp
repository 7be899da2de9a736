#include "proxy/ownership.h"

#include "core/guid.h"

namespace stmf::proxy {

const char* to_string(Ownership::State s) {
  switch (s) {
    case Ownership::State::standby: return "standby";
    case Ownership::State::active: return "active";
    case Ownership::State::held: return "held";
    case Ownership::State::handing_over: return "handing_over";
    case Ownership::State::handed_over: return "handed_over";
    case Ownership::State::stepping_down: return "stepping_down";
    case Ownership::State::taking_over: return "taking_over";
    case Ownership::State::racing: return "racing";
    case Ownership::State::fenced: return "fenced";
  }
  return "?";
}

namespace {
using State = Ownership::State;
using Phase = Ownership::Phase;

// The LU is standby here (the peer owns it); taking_over and racing are still standby until
// promote is done or the race is won.
bool standby_here(State s) { return s == State::standby || s == State::taking_over || s == State::racing; }

std::string lu_name(const Guid& g) { return "LU " + guid_hex(g); }
}  // namespace

// ---------------------------------------------------------------- what the node has

Ownership::Actions Ownership::lu_configured(const Guid& g, uint64_t epoch) {
  auto& lu = lus_[g];
  if (standby_here(lu.state)) lu.state = State::active;
  lu.epoch = epoch;
  return {};
}

Ownership::Actions Ownership::lu_gone(const Guid& g) {
  Actions a;
  auto it = lus_.find(g);
  if (it == lus_.end()) return a;
  // service.cpp handover_drain / the flush callback: the LU is not found any more.
  if (it->second.state == State::handing_over) {
    const Requester r = it->second.requester;
    lus_.erase(it);
    a.logs.push_back({Level::warn, lu_name(g) + ": switchover abandoned, still active here: the LU went away"});
    a.audits.push_back({"alua", "switchover-out", "abandoned", g, {{"reason", "the LU went away"}}});
    finish(r, ProxyStatus::failure, "the LU went away", a);
    return a;
  }
  lus_.erase(it);
  return a;
}

void Ownership::lu_standby(const Guid& g, uint64_t epoch) {
  auto& lu = lus_[g];
  const bool san = lu.san;
  if (lu.state == State::racing) {  // the race's answer decides; the node's view is the same
    lu.epoch = epoch;
    return;
  }
  lu = Lu{};
  lu.san = san;
  lu.state = State::standby;
  lu.epoch = epoch;
}

// ---------------------------------------------------------------- ALUA and the link

// service.cpp hold_active_lus (apply: ALUA enabled, or re-initialized with the link down).
Ownership::Actions Ownership::alua_enabled(uint64_t now) {
  Actions a;
  holding_ = true;
  hold_until_ = now + timeout_ms_;
  size_t n = 0;
  for (auto& [g, lu] : lus_) {
    if (standby_here(lu.state)) continue;
    a.transitioning_on.push_back(g);
    if (lu.state == State::active) lu.state = State::held;
    ++n;
  }
  if (n)
    a.logs.push_back({Level::info, std::to_string(n) + " LU(s) held in Transitioning until ownership is settled with "
                                                       "the peer (at most " + std::to_string(timeout_ms_) + " ms)"});
  return a;
}

// service.cpp apply(!enabled): the hold ends; the standby LUs go (host.drop_standby).
Ownership::Actions Ownership::alua_disabled() {
  Actions a;
  if (holding_) release_hold("ALUA disabled", a);
  link_up_ = false;
  link_down_since_ = kNever;
  std::erase_if(lus_, [](auto& kv) { return standby_here(kv.second.state); });
  return a;
}

Ownership::Actions Ownership::link_up() {
  link_up_ = true;
  link_down_since_ = kNever;
  for (auto& [g, lu] : lus_) lu.race_after_ms = 0;  // a lost or failed race is forgotten: the owner is back
  return {};
}

// service.cpp link_down: hand-overs not yet offered go back to normal; offered ones are held
// (the peer may have taken the LU) until its registrations settle it; requests fail.
Ownership::Actions Ownership::link_down() {
  Actions a;
  link_up_ = false;
  std::vector<Guid> offered, unoffered;
  for (auto& [g, lu] : lus_)
    if (lu.state == State::handing_over) (lu.phase == Phase::offered ? offered : unoffered).push_back(g);
  for (auto& g : unoffered) rollback(g, "the link went down", a);
  for (auto& g : offered)
    hold_forever(g, lu_name(g) + ": the link went down while the peer was taking it over: held until the link returns",
                 "the link went down during the handover: the LU is held (Transitioning) until the link returns and "
                 "ownership is settled",
                 a);
  for (auto& [id, r] : requests_) a.done.push_back({r.request, ProxyStatus::failure, "the link went down"});
  requests_.clear();
  return a;
}

// service.cpp handle(LuList): the peer's registrations are all in.
Ownership::Actions Ownership::lu_list() {
  Actions a;
  if (holding_) release_hold("ownership settled with the peer", a);
  return a;
}

// service.cpp tick: request and hand-over timeouts, then the hold's deadline.
Ownership::Actions Ownership::tick(uint64_t now) {
  Actions a;
  for (auto it = requests_.begin(); it != requests_.end();) {
    if (now < it->second.deadline_ms) {
      ++it;
      continue;
    }
    a.done.push_back({it->second.request, ProxyStatus::failure, "the peer did not answer in time"});
    it = requests_.erase(it);
  }
  for (auto& [g, lu] : lus_) {
    if (lu.state != State::handing_over || lu.phase != Phase::offered || now < lu.deadline_ms) continue;
    // Offered but unanswered: the peer may own it already. Held until the link settles it.
    // One per tick, as today.
    hold_forever(g, lu_name(g) + ": no answer to the handover: held until ownership is settled with the peer",
                 "the peer did not answer the handover: the LU is held (Transitioning) until ownership is settled", a);
    break;
  }
  if (holding_ && now >= hold_until_ && link_up_) {
    // The link is up but the peer's LU list never came (lost on a door relay that reset under
    // it): start the handshake over, so both sides register everything again; keep holding.
    a.logs.push_back({Level::warn, "proxy link: up for " + std::to_string(timeout_ms_) +
                                       " ms without the peer's LU list: starting the handshake over"});
    hold_until_ = now + timeout_ms_;
    a.restart_handshake = true;
  }
  if (holding_ && now >= hold_until_ && !link_up_)
    release_hold("the peer was not reachable within " + std::to_string(timeout_ms_) +
                     " ms: this node serves its LUs as their owner",
                 a);
  // alua.takeover fenced: the link down longer than timeout_ms (on top of the timeout_ms that
  // declared it down): race for every SAN-backed standby LU at the storage.
  if (link_up_) {
    link_down_since_ = kNever;
  } else if (takeover_fenced_) {
    if (link_down_since_ == kNever) link_down_since_ = now;
    if (now - link_down_since_ >= timeout_ms_)
      for (auto& [g, lu] : lus_) {
        if (lu.state != State::standby || !lu.san || now < lu.race_after_ms) continue;
        lu.state = State::racing;
        a.race.push_back({g, lu.epoch});
        a.logs.push_back({Level::warn, lu_name(g) + ": the link to its owner has been down for more than " +
                                           std::to_string(timeout_ms_) + " ms: racing for it at the storage "
                                           "(PREEMPT AND ABORT of the owner's key)"});
        a.audits.push_back({"fencing", "takeover-race", "started", g, {{"epoch", std::to_string(lu.epoch)}}});
      }
  }
  return a;
}

// ---------------------------------------------------------------- the peer's messages

// service.cpp on_register_lun: unknown or standby here -> a standby LU of the peer; active here
// too -> the epochs decide: ours lower steps down, ours higher or equal refuses.
Ownership::Actions Ownership::register_lun(const Guid& g, uint64_t msg_id, uint64_t theirs) {
  Actions a;
  auto it = lus_.find(g);
  if (it == lus_.end() || standby_here(it->second.state)) {
    auto& lu = lus_[g];
    if (it == lus_.end()) lu.state = State::standby;
    lu.epoch = theirs;
    a.register_standby.push_back(g);
    return a;
  }
  Lu& lu = it->second;
  const uint64_t mine = lu.epoch;
  const std::string epochs = "epoch " + std::to_string(theirs) + ", ours is " + std::to_string(mine);
  const std::vector<std::pair<std::string, std::string>> epoch_details{{"peer_epoch", std::to_string(theirs)},
                                                                       {"our_epoch", std::to_string(mine)}};
  if (theirs > mine) {
    a.logs.push_back({Level::warn, lu_name(g) + ": the peer owns it with " + epochs +
                                       ": this copy is stale and steps down to standby"});
    a.audits.push_back({"fencing", "stale-copy", "stepping down", g, epoch_details});
    if (lu.state == State::handing_over && lu.phase == Phase::offered) {
      // Offered: the peer took it, and its registration overtook its answer to the offer (it
      // registers as soon as the LU is active there). The hand-over succeeded; the answer that
      // follows finds nothing waiting.
      a.logs.push_back({Level::info, lu_name(g) + ": handed over to the peer"});
      a.audits.push_back({"alua", "switchover-out", "ok", g, {}});
      finish(lu.requester, ProxyStatus::success, "", a);
    } else if (lu.state == State::handing_over) {
      // Still draining or flushing: no offer may go out for a copy that is no longer ours.
      finish(lu.requester, ProxyStatus::failure, "the peer owns it with a newer epoch", a);
    }
    a.transitioning_on.push_back(g);
    lu.state = State::stepping_down;
    lu.peer_epoch = theirs;
    a.step_down.push_back({g, msg_id});
    return a;
  }
  a.audits.push_back({"fencing", "peer-registers-active", "refused", g, epoch_details});
  if (theirs < mine)
    a.logs.push_back({Level::warn, lu_name(g) + ": the peer registers a stale copy (epoch " + std::to_string(theirs) +
                                       " < ours " + std::to_string(mine) + "): refused; it steps down when it hears ours"});
  else
    a.logs.push_back({Level::error, "the peer registers " + lu_name(g) +
                                        " as active there, but it is active here too with the same epoch " +
                                        std::to_string(mine) + ": refused (one of the nodes must hold it standby)"});
  a.replies.push_back({MsgType::register_lun, msg_id, ProxyStatus::already});
  return a;
}

// service.cpp on_lun_active: standby here -> the owner hands it over: promote. Active here ->
// the peer asks for it: hand it over, and answer when done.
Ownership::Actions Ownership::lun_active(const Guid& g, uint64_t msg_id, uint64_t epoch, uint64_t now) {
  Actions a;
  auto it = lus_.find(g);
  if (it == lus_.end()) {
    a.replies.push_back({MsgType::lun_active, msg_id, ProxyStatus::not_found});
    return a;
  }
  Lu& lu = it->second;
  if (lu.epoch != epoch) {
    // The two nodes disagree about who owns it under which epoch: no hand-over on a stale view.
    a.logs.push_back({Level::warn, lu_name(g) + ": LUN_ACTIVE names ownership epoch " + std::to_string(epoch) +
                                       ", ours is " + std::to_string(lu.epoch) + ": refused"});
    a.replies.push_back({MsgType::lun_active, msg_id, ProxyStatus::stale});
    return a;
  }
  if (standby_here(lu.state)) {
    a.logs.push_back({Level::info, lu_name(g) + ": the peer hands it over: taking it"});
    lu.state = State::taking_over;
    a.promote.push_back({g, msg_id});
    return a;
  }
  start_handover(g, lu, Requester{true, msg_id}, now, a);
  return a;
}

// service.cpp on_status(LUN_ACTIVE): the answer to our offer, or to our request.
Ownership::Actions Ownership::lun_active_answer(uint64_t msg_id, ProxyStatus st) {
  Actions a;
  for (auto& [g, lu] : lus_) {
    if (lu.state != State::handing_over || lu.phase != Phase::offered || lu.msg_id != msg_id) continue;
    const Guid guid = g;
    if (st != ProxyStatus::success) {
      rollback(guid, "the peer could not take it (status " + std::to_string(uint32_t(st)) + ")", a);
      return a;
    }
    // The peer owns it now; its REGISTER_LUN (newer epoch) makes our copy step down. Held
    // (Transitioning) meanwhile: no hold release lets it run again.
    lu.state = State::handed_over;
    a.logs.push_back({Level::info, lu_name(guid) + ": handed over to the peer"});
    a.audits.push_back({"alua", "switchover-out", "ok", guid, {}});
    finish(lu.requester, ProxyStatus::success, "", a);
    return a;
  }
  if (auto it = requests_.find(msg_id); it != requests_.end()) {
    a.done.push_back({it->second.request, st, st == ProxyStatus::success ? "" : "the peer did not hand it over"});
    requests_.erase(it);
  }
  return a;
}

// ---------------------------------------------------------------- local requests, host answers

// service.cpp switchover: active here -> hand it over; standby here -> ask the owner.
Ownership::Actions Ownership::switchover(const Guid& g, uint64_t request, uint64_t now, uint64_t new_msg_id) {
  Actions a;
  auto it = lus_.find(g);
  if (it == lus_.end()) {
    a.done.push_back({request, ProxyStatus::not_found, "no such LU here"});
    return a;
  }
  if (!link_up_) {
    a.done.push_back({request, ProxyStatus::not_ready, "the link to the peer is down"});
    return a;
  }
  Lu& lu = it->second;
  if (standby_here(lu.state)) {
    requests_[new_msg_id] = Request{g, request, now + kHandoverMs + kRequestSlackMs};
    a.offers.push_back({new_msg_id, LunActive{g, lu.epoch}});
    return a;
  }
  start_handover(g, lu, Requester{false, request}, now, a);
  return a;
}

// service.cpp start_handover.
void Ownership::start_handover(const Guid& g, Lu& lu, const Requester& r, uint64_t now, Actions& a) {
  if (standby_here(lu.state)) return finish(r, ProxyStatus::not_found, "the LU is not active here", a);
  if (lu.state == State::handing_over) return finish(r, ProxyStatus::already, "a switchover of this LU is in progress", a);
  // Not in service.cpp: an LU already handed over or stepping down is fenced; a second
  // hand-over's rollback would let it run again (docs/ownership.md "Differences").
  if (lu.state == State::handed_over || lu.state == State::stepping_down)
    return finish(r, ProxyStatus::already, "a switchover of this LU is in progress", a);
  if (!link_up_) return finish(r, ProxyStatus::not_ready, "the link to the peer is down", a);
  a.logs.push_back({Level::info, lu_name(g) + ": switchover to the peer: holding it (Transitioning), draining "
                                              "in-flight commands"});
  a.audits.push_back({"alua", "switchover-out", "started", g, {}});
  a.transitioning_on.push_back(g);
  a.alua_changed.push_back(g);
  lu.state = State::handing_over;
  lu.phase = Phase::draining;
  lu.requester = r;
  lu.deadline_ms = now + kHandoverMs;
  lu.msg_id = 0;
  a.drain.push_back(g);
}

// service.cpp handover_drain: the task set is empty -> flush; else look again, until kDrainMs.
Ownership::Actions Ownership::drain_check(const Guid& g, bool tasks_empty, uint64_t now) {
  Actions a;
  auto it = lus_.find(g);
  if (it == lus_.end() || it->second.state != State::handing_over || it->second.phase != Phase::draining) return a;
  if (tasks_empty) {
    it->second.phase = Phase::flushing;
    a.flush.push_back(g);
    return a;
  }
  if (now + kHandoverMs - kDrainMs > it->second.deadline_ms) {
    rollback(g, "in-flight commands did not complete within " + std::to_string(kDrainMs) + " ms", a);
    return a;
  }
  a.drain_again.push_back(g);
  return a;
}

// service.cpp handover_drain's flush callback: the final state, then the offer.
Ownership::Actions Ownership::flush_done(const Guid& g, bool ok, uint64_t new_msg_id) {
  Actions a;
  auto it = lus_.find(g);
  if (it == lus_.end() || it->second.state != State::handing_over || it->second.phase != Phase::flushing) return a;
  if (!ok) {
    rollback(g, "flushing the backing store failed", a);
    return a;
  }
  a.final_pr_state.push_back(g);
  it->second.phase = Phase::offered;
  it->second.msg_id = new_msg_id;
  a.logs.push_back({Level::info, lu_name(g) + ": drained and flushed, offering it to the peer (LUN_ACTIVE)"});
  a.offers.push_back({new_msg_id, LunActive{g, it->second.epoch}});
  return a;
}

// runtime.cpp promote (the configuration takes the LU with the standby copy's epoch + 1).
Ownership::Actions Ownership::promote_done(const Guid& g, uint64_t msg_id, ProxyStatus st) {
  Actions a;
  if (msg_id) a.replies.push_back({MsgType::lun_active, msg_id, st});  // 0: a race won, nobody to answer
  auto it = lus_.find(g);
  if (it == lus_.end() || it->second.state != State::taking_over) return a;
  if (st == ProxyStatus::success) {
    it->second.state = State::active;
    ++it->second.epoch;
    a.logs.push_back({Level::info, lu_name(g) + ": active here now (planned switchover)"});
  } else {
    it->second.state = State::standby;
  }
  return a;
}

// runtime.cpp step_down (demote + add_standby); service.cpp answers the REGISTER_LUN.
Ownership::Actions Ownership::step_down_done(const Guid& g, uint64_t msg_id, ProxyStatus st) {
  Actions a;
  a.replies.push_back({MsgType::register_lun, msg_id, st});
  auto it = lus_.find(g);
  if (it == lus_.end() || it->second.state != State::stepping_down) return a;
  if (st == ProxyStatus::success) {
    it->second.state = State::standby;
    it->second.epoch = it->second.peer_epoch;
  } else {
    // Still active here, Transitioning: only a hold release lets it run again (as today).
    it->second.state = State::held;
  }
  return a;
}

// mgmt_server.cpp (import-lu / create-lu of a standby LU) + runtime.cpp take_over.
Ownership::Actions Ownership::import_lu(const Guid& g, uint64_t request) {
  Actions a;
  auto it = lus_.find(g);
  if (it == lus_.end() || !standby_here(it->second.state)) {
    a.done.push_back({request, ProxyStatus::success, ""});  // not a takeover
    return a;
  }
  if (link_up_) {
    a.done.push_back({request, ProxyStatus::already,
                      lu_name(g) + " is active on the ALUA peer and the link is up: it can be taken over here only "
                                   "when the peer is down (docs/alua.md)"});
    return a;
  }
  it->second.state = State::active;
  ++it->second.epoch;
  a.take_over.push_back(g);
  a.audits.push_back({"alua", "takeover", "ok", g, {{"epoch", std::to_string(it->second.epoch)}}});
  a.done.push_back({request, ProxyStatus::success, ""});
  return a;
}

// ---------------------------------------------------------------- fencing at the storage

void Ownership::set_san_backed(const Guid& g, bool san) {
  if (auto it = lus_.find(g); it != lus_.end()) it->second.san = san;
}

// The driver's answer to a Race: it sent PREEMPT AND ABORT of the owner's key on the SAN LUN.
Ownership::Actions Ownership::race_done(const Guid& g, RaceResult r, const std::string& detail, uint64_t now) {
  Actions a;
  auto it = lus_.find(g);
  if (it == lus_.end() || it->second.state != State::racing) return a;
  Lu& lu = it->second;
  switch (r) {
    case RaceResult::won:
      // The host configures it here with the owner's epoch + 1 (as a planned switchover's
      // promote does); promote_done makes it active. No LUN_ACTIVE to answer: msg_id 0.
      lu.state = State::taking_over;
      a.promote.push_back({g, 0});
      a.logs.push_back({Level::warn, lu_name(g) + ": won the race at the storage (" + detail +
                                         "): taking it over with epoch " + std::to_string(lu.epoch + 1)});
      a.audits.push_back({"alua", "takeover", "ok", g, {{"epoch", std::to_string(lu.epoch + 1)}, {"mode", "fenced"}}});
      break;
    case RaceResult::lost:
      lu.state = State::standby;
      lu.race_after_ms = kNever;  // fenced: this node never takes it on its own; the link returning settles it
      a.logs.push_back({Level::warn, lu_name(g) + ": lost the race at the storage (" + detail +
                                         "): this node's key was preempted first; it stays standby"});
      a.audits.push_back({"fencing", "takeover-race", "lost", g, {{"detail", detail}}});
      break;
    case RaceResult::failed:
      lu.state = State::standby;
      lu.race_after_ms = now + timeout_ms_;
      a.logs.push_back({Level::warn, lu_name(g) + ": the race at the storage failed (" + detail +
                                         "): still standby, racing again in " + std::to_string(timeout_ms_) + " ms"});
      a.audits.push_back({"fencing", "takeover-race", "failed", g, {{"detail", detail}}});
      break;
  }
  return a;
}

// The store's failfast: our key is gone from the SAN LUN.
Ownership::Actions Ownership::fenced(const Guid& g, const std::string& why) {
  Actions a;
  auto it = lus_.find(g);
  if (it == lus_.end() || standby_here(it->second.state) || it->second.state == State::fenced ||
      it->second.state == State::stepping_down)
    return a;
  Lu& lu = it->second;
  if (lu.state == State::handing_over) finish(lu.requester, ProxyStatus::failure, "the LU was fenced at the storage", a);
  lu.state = State::fenced;
  lu.msg_id = 0;
  a.transitioning_on.push_back(g);
  a.alua_changed.push_back(g);
  a.logs.push_back({Level::error, lu_name(g) + ": fenced at the storage (" + (why.empty() ? "this node's key was preempted" : why) +
                                               "): it stops serving here and joins as standby when the link returns"});
  a.audits.push_back({"fencing", "fenced", "stopped", g, {{"epoch", std::to_string(lu.epoch)}, {"detail", why}}});
  return a;
}

// ---------------------------------------------------------------- helpers

// service.cpp handover_rollback: back to normal, the peer's copy is the plain mirror again.
void Ownership::rollback(const Guid& g, const std::string& why, Actions& a) {
  auto it = lus_.find(g);
  if (it == lus_.end() || it->second.state != State::handing_over) return;
  const Requester r = it->second.requester;
  it->second.state = State::active;
  it->second.msg_id = 0;
  a.transitioning_off.push_back(g);
  a.alua_changed.push_back(g);
  if (link_up_) a.mirror_pr_state.push_back(g);
  a.logs.push_back({Level::warn, lu_name(g) + ": switchover abandoned, still active here: " + why});
  a.audits.push_back({"alua", "switchover-out", "abandoned", g, {{"reason", why}}});
  finish(r, ProxyStatus::failure, why, a);
}

void Ownership::finish(const Requester& r, ProxyStatus st, const std::string& message, Actions& a) {
  if (r.peer)
    a.replies.push_back({MsgType::lun_active, r.id, st});
  else
    a.done.push_back({r.id, st, message});
}

// An offered hand-over without an answer: the peer may own the LU. Held (node-wide hold, no
// deadline) until the peer's LU_LIST settles it.
void Ownership::hold_forever(const Guid& g, const std::string& log, const std::string& message, Actions& a) {
  auto& lu = lus_[g];
  const Requester r = lu.requester;
  lu.state = State::held;
  lu.msg_id = 0;
  holding_ = true;
  hold_until_ = kNever;
  a.logs.push_back({Level::warn, log});
  finish(r, ProxyStatus::failure, message, a);
}

// service.cpp release_hold: every held LU runs again.
void Ownership::release_hold(const std::string& why, Actions& a) {
  holding_ = false;
  size_t n = 0;
  for (auto& [g, lu] : lus_) {
    if (lu.state != State::held) continue;
    lu.state = State::active;
    a.transitioning_off.push_back(g);
    ++n;
  }
  if (n) a.logs.push_back({Level::info, std::to_string(n) + " LU(s) active: " + why});
}

// ---------------------------------------------------------------- inspection

std::optional<Ownership::State> Ownership::state(const Guid& g) const {
  auto it = lus_.find(g);
  if (it == lus_.end()) return std::nullopt;
  return it->second.state;
}

std::vector<Guid> Ownership::lus() const {
  std::vector<Guid> v;
  for (auto& [g, lu] : lus_) v.push_back(g);
  return v;
}

std::optional<Ownership::Phase> Ownership::phase(const Guid& g) const {
  auto it = lus_.find(g);
  if (it == lus_.end() || it->second.state != State::handing_over) return std::nullopt;
  return it->second.phase;
}

uint64_t Ownership::epoch(const Guid& g) const {
  auto it = lus_.find(g);
  return it == lus_.end() ? 0 : it->second.epoch;
}

bool Ownership::transitioning(const Guid& g) const {
  auto s = state(g);
  return s && (*s == State::held || *s == State::handing_over || *s == State::handed_over || *s == State::stepping_down ||
               *s == State::fenced);
}

}  // namespace stmf::proxy
