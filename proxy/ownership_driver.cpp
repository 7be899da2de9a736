// The ownership driver: the proxy thread's one Ownership machine (proxy/ownership.h,
// docs/ownership.md) decides who owns each LU of the pair; this file feeds it every event
// (ALUA enabled/disabled, the link, LU_LIST, REGISTER_LUN, LUN_ACTIVE and its answers, local
// switchovers, the host's answers, the tick) and performs what it decides: Transitioning
// flags, unit attentions, messages, host calls, completions, audit records and log lines.
#include "proxy/service.h"

#include <future>

#include "core/audit.h"
#include "core/guid.h"
#include "core/scsi/sense.h"
#include "mgmt/json_limits.h"
#include "proxy/codec.h"
#include "proxy/log.h"

namespace stmf::proxy {

namespace asio = boost::asio;
using State = Ownership::State;

namespace {

constexpr auto kDrainPoll = std::chrono::milliseconds(5);  // the task set is looked at again

// A standby LU is fenced at the storage (docs/failover.md "Fencing at the storage") when its
// owner registered an iscsi store (SCSI-3 PR on the SAN LUN) or an rbd store (the image's
// exclusive lock) and the pair has a cluster id (core/store/fencing.h: the two providers).
bool san_backed(const std::string& properties) {
  auto j = stmf::mgmt::parse_json_limited(properties);
  if (!j.is_object()) return false;
  auto s = j.find("store");
  return s != j.end() && s->is_string() && (s->get<std::string>() == "iscsi" || s->get<std::string>() == "rbd");
}

uint64_t epoch_of(const std::string& properties) {
  auto j = stmf::mgmt::parse_json_limited(properties);
  if (!j.is_object()) return 0;
  auto e = j.find("epoch");
  return e != j.end() && e->is_number_unsigned() ? e->get<uint64_t>() : 0;
}

}  // namespace

// ---------------------------------------------------------------- the machine's view of the node

// The LUs the machine knows follow the node's (LUs are created, deleted, promoted and taken
// over by the daemon): called before each event that names LUs.
void ProxyService::sync_ownership() {
  std::set<Guid> here;
  for (auto& lu : stmf_.lus()) {
    const Guid g = lu->guid();
    here.insert(g);
    const auto st = own_.state(g);
    if (!lu->standby()) {
      if (!st || *st == State::standby || *st == State::taking_over || own_.epoch(g) != lu->epoch())
        own_.lu_configured(g, lu->epoch());
    } else if (!st || *st == State::active || *st == State::held) {
      own_.lu_standby(g, lu->epoch());
    }
  }
  for (auto& g : own_.lus())
    if (!here.count(g)) perform(own_.lu_gone(g));
}

// ---------------------------------------------------------------- performing the decisions

void ProxyService::perform(Ownership::Actions a) {
  for (auto& l : a.logs) {
    switch (l.level) {
      case Ownership::Level::info: log()->info("{}", l.text); break;
      case Ownership::Level::warn: log()->warn("{}", l.text); break;
      case Ownership::Level::error: log()->error("{}", l.text); break;
    }
  }
  for (auto& r : a.audits) {
    std::vector<std::pair<std::string, std::string>> what{{"lu", guid_hex(r.guid)}};
    what.insert(what.end(), r.details.begin(), r.details.end());
    std::vector<std::pair<std::string, std::string>> who;
    if (r.category == "fencing") who.emplace_back("peer", "alua-peer");
    audit({r.category, r.action, std::move(who), std::move(what), r.result});
  }
  for (auto& g : a.transitioning_on)
    if (auto lu = stmf_.find_lu(g)) lu->set_transitioning(true);  // no command runs on it from now on
  for (auto& g : a.transitioning_off)
    if (auto lu = stmf_.find_lu(g); lu && !lu->standby()) lu->set_transitioning(false);
  for (auto& g : a.alua_changed)
    if (auto lu = stmf_.find_lu(g); lu && !lu->standby()) stmf_.raise_for_lu(lu, scsi::sense::asymmetric_access_state_changed);
  for (auto& g : a.drain) handover_drain(g);
  for (auto& g : a.drain_again) {
    auto& t = drain_timers_[g];
    if (!t) t = std::make_unique<asio::steady_timer>(ex_);
    t->expires_after(kDrainPoll);
    t->async_wait([this, g](boost::system::error_code ec) {
      if (!ec) handover_drain(g);
    });
  }
  for (auto& g : a.flush) handover_flush(g);
  // The final state (reservations, unit attentions, mode pages), then the offer: in this order
  // on the one carrier.
  for (auto& g : a.final_pr_state) send_pr_state(g, true);
  // The peer's copy is the plain mirror again: the handover state it may hold goes stale.
  for (auto& g : a.mirror_pr_state) send_pr_state(g);
  for (auto& o : a.offers) send(Message{o.msg_id, o.body});
  for (auto& r : a.replies) reply(r.type, r.msg_id, r.status);
  for (auto& s : a.step_down) {
    auto m = take_registration(s.guid);
    host_.step_down(std::move(m), [this, g = s.guid, id = s.msg_id](ProxyStatus st) {
      asio::post(ex_, [this, g, id, st] { perform(own_.step_down_done(g, id, st)); });
    });
  }
  for (auto& p : a.promote)
    host_.promote(p.guid, [this, g = p.guid, id = p.msg_id](ProxyStatus st) {
      asio::post(ex_, [this, g, id, st] { perform(own_.promote_done(g, id, st)); });
    });
  for (auto& r : a.race)
    host_.race(r.guid, [this, g = r.guid](Ownership::RaceResult res, std::string detail) {
      asio::post(ex_, [this, g, res, detail = std::move(detail)] {
        sync_ownership();
        perform(own_.race_done(g, res, detail, now_ms()));
      });
    });
  for (auto& g : a.register_standby) {
    const uint64_t id = registration_ids_[g];
    host_.register_standby(take_registration(g), [this, g, id](ProxyStatus st) {
      asio::post(ex_, [this, g, id, st] {
        if (st != ProxyStatus::success && own_.state(g) == State::standby) perform(own_.lu_gone(g));
        reply(MsgType::register_lun, id, st);
      });
    });
  }
  if (a.restart_handshake && link_) run(link_->message_lost(now_ms(), "the peer's registrations did not arrive"));
  for (auto& d : a.done) {
    auto it = requests_.find(d.request);
    if (it == requests_.end()) continue;
    auto done = std::move(it->second);
    requests_.erase(it);
    done(d.status, d.message);
  }
  holding_ = own_.holding();
}

RegisterLun ProxyService::take_registration(const Guid& g) {
  RegisterLun m;
  if (auto it = registrations_.find(g); it != registrations_.end()) {
    m = std::move(it->second);
    registrations_.erase(it);
  }
  registration_ids_.erase(g);
  return m;
}

// Draining: the LU's task set, looked at now (and again every kDrainPoll until the machine
// gives up).
void ProxyService::handover_drain(const Guid& g) {
  auto lu = stmf_.find_lu(g);
  if (!lu) return perform(own_.lu_gone(g));
  bool empty;
  {
    auto& ts = lu->task_set();
    std::lock_guard lk(ts.mu);
    empty = ts.idle();  // its tasks, and other LUs' EXTENDED COPY I/O on it
  }
  perform(own_.drain_check(g, empty, now_ms()));
}

void ProxyService::handover_flush(const Guid& g) {
  auto lu = stmf_.find_lu(g);
  if (!lu) return perform(own_.lu_gone(g));
  lu->flush([this, g](bool ok) {
    asio::post(ex_, [this, g, ok] {
      if (ok && !stmf_.find_lu(g)) return perform(own_.lu_gone(g));
      perform(own_.flush_done(g, ok, next_id_++));
    });
  });
}

// ---------------------------------------------------------------- events

// The ownership hold (docs/alua.md "Fencing"): ALUA enabled (or the link reset) holds every
// active LU Transitioning until the peer's LU_LIST settled ownership.
void ProxyService::hold_active_lus() {
  own_.set_timeout(settings_.timeout_ms);
  sync_ownership();
  perform(own_.alua_enabled(now_ms()));
}

// REGISTER_LUN: the peer has the LU active. Normally it is unknown here, or standby here. If it
// is active here too, the ownership epochs decide (docs/alua.md "Fencing"): the lower one is
// a stale copy (its node was taken over while it was down) and steps down.
void ProxyService::on(uint64_t id, RegisterLun m) {
  sync_ownership();
  const Guid g = m.guid;
  const uint64_t theirs = epoch_of(m.properties);
  const bool san = settings_.cluster_id != 0 && san_backed(m.properties);
  registrations_[g] = std::move(m);
  registration_ids_[g] = id;
  perform(own_.register_lun(g, id, theirs));
  own_.set_san_backed(g, san);
  take_registration(g);  // refused: nothing took it
}

void ProxyService::on(uint64_t id, const DeregisterLun& m) {
  host_.deregister_standby(m.guid, [this, id](ProxyStatus st) {
    asio::post(ex_, [this, id, st] { reply(MsgType::deregister_lun, id, st); });
  });
}

void ProxyService::on(uint64_t id, LuList m) {
  host_.keep_standby_only(std::move(m.guids), [this, id](ProxyStatus st) {
    asio::post(ex_, [this, id, st] { reply(MsgType::lu_list, id, st); });
  });
  // The peer's registrations are all in: ownership is settled for the LUs we keep.
  perform(own_.lu_list());
}

// Planned switchover (docs/alua.md): active here -> drain, flush, offer (LUN_ACTIVE); standby
// here -> ask the owner with LUN_ACTIVE (it answers when its hand-over is done).
void ProxyService::switchover(const Guid& g, std::function<void(ProxyStatus, std::string)> done) {
  asio::post(ex_, [this, g, done = std::move(done)]() mutable {
    sync_ownership();
    const uint64_t request = next_request_++;
    requests_[request] = std::move(done);
    perform(own_.switchover(g, request, now_ms(), next_id_++));
  });
}

void ProxyService::hand_over(const LogicalUnitPtr& lu, std::function<void(bool ok)> done) {
  switchover(lu->guid(), [done = std::move(done)](ProxyStatus st, std::string) { done(st == ProxyStatus::success); });
}

// LUN_ACTIVE: standby here -> the owner hands the LU over: take it. Active here -> the peer
// asks for it: hand it over, and answer when done.
void ProxyService::on(uint64_t id, const LunActive& m) {
  sync_ownership();
  perform(own_.lun_active(m.guid, id, m.epoch, now_ms()));
}

ProxyService::Import ProxyService::import_lu(const Guid& g) {
  auto answer = std::make_shared<std::promise<Import>>();
  auto f = answer->get_future();
  asio::post(ex_, [this, g, answer] {
    sync_ownership();
    const auto before = own_.state(g);
    Import r;
    const uint64_t request = next_request_++;
    requests_[request] = [&r](ProxyStatus st, std::string why) {
      r.status = st;
      r.message = std::move(why);
    };
    auto a = own_.import_lu(g, request);
    // The management performs the takeover once the LU is configured (Runtime::take_over) and
    // writes its audit record with the configuration's result.
    a.take_over.clear();
    a.audits.clear();
    perform(std::move(a));
    r.takeover = r.status == ProxyStatus::success && (before == State::standby || before == State::taking_over);
    r.epoch = own_.epoch(g);
    answer->set_value(std::move(r));
  });
  return f.get();
}

void ProxyService::lu_fenced(const Guid& g, std::string why) {
  asio::post(ex_, [this, g, why = std::move(why)] {
    sync_ownership();
    perform(own_.fenced(g, why));
  });
}

// STATUS for our LUN_ACTIVE: the peer's answer to our offer, or to our request.
void ProxyService::lun_active_answered(const Status& s) {
  perform(own_.lun_active_answer(s.msg_id, ProxyStatus(s.status)));
}

}  // namespace stmf::proxy
