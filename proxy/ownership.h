// Who owns each LU of the ALUA pair, as one pure state machine (docs/ownership.md): events in,
// actions out; no I/O, no Asio, no locks, no clock of its own (now_ms is passed in). It is the
// decision part of what proxy/service.cpp (holds, hand-over, step-down) and
// tools/stmfd/runtime.cpp (promote, step_down, take_over) do today; the caller performs the
// actions (Transitioning flags, unit attentions, messages, host calls) and feeds back the
// results (drain, flush, the peer's answer, promote / step-down done).
//
// Per LU:
//   standby --LUN_ACTIVE from the owner--> taking_over --promote done--> active (epoch + 1)
//   standby --import-lu, link down-------> active (epoch + 1)
//   active|held --switchover--> handing_over (draining -> flushing -> offered)
//   handing_over --success--> handed_over --peer's REGISTER_LUN (newer epoch)--> stepping_down
//   handing_over --refused / drain or flush failed / link down before the offer--> active
//   handing_over(offered) --link down / no answer--> held (until the peer's LU_LIST)
//   active|held|handing_over|handed_over --REGISTER_LUN, newer epoch--> stepping_down --done--> standby
// Fencing at the storage (docs/failover.md "Fencing at the storage"), for SAN-backed LUs:
//   standby --takeover fenced, link down > timeout_ms (or import-lu, link down)--> racing
//   racing --race won (our PREEMPT AND ABORT)--> active (epoch + 1); --lost / failed--> standby
//   active|held|handing_over --the store was fenced (our key preempted)--> fenced (Transitioning)
//   fenced --REGISTER_LUN, newer epoch--> stepping_down --done--> standby
// The hold (docs/alua.md "Fencing") is node-wide, as today: one deadline; LU_LIST or the
// deadline with the link down releases every held LU; the deadline with the link up restarts
// the handshake instead.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "proxy/messages.h"

namespace stmf::proxy {

class Ownership {
 public:
  enum class State { standby, active, held, handing_over, handed_over, stepping_down, taking_over, racing, fenced };
  enum class Phase { draining, flushing, offered };  // of handing_over

  static constexpr uint64_t kDrainMs = 5000;      // in-flight commands must finish within this
  static constexpr uint64_t kHandoverMs = 15000;  // the whole hand-over, the peer's answer included
  static constexpr uint64_t kRequestSlackMs = 5000;  // a standby's request waits kHandoverMs + this
  static constexpr uint64_t kNever = UINT64_MAX;

  // Who asked for a hand-over: a local request (switchover-lu, SET TARGET PORT GROUPS; `id` is
  // the caller's token, returned in Done) or the peer's LUN_ACTIVE (`id` is its msg_id: Reply).
  struct Requester {
    bool peer = false;
    uint64_t id = 0;
  };
  struct Done {  // complete the local request `request`
    uint64_t request = 0;
    ProxyStatus status = ProxyStatus::success;
    std::string message;
  };
  struct Reply {  // STATUS to the peer
    MsgType type = MsgType::status;
    uint64_t msg_id = 0;
    ProxyStatus status = ProxyStatus::success;
  };
  struct Offer {  // LUN_ACTIVE to the peer
    uint64_t msg_id = 0;
    LunActive body;
  };
  struct StepDown {  // host.step_down(the peer's RegisterLun), answer REGISTER_LUN msg_id
    Guid guid{};
    uint64_t msg_id = 0;
  };
  struct Promote {  // host.promote(guid), answer LUN_ACTIVE msg_id
    Guid guid{};
    uint64_t msg_id = 0;
  };
  struct Race {  // PREEMPT AND ABORT of the owner's key on the LU's SAN LUN; answer with race_done
    Guid guid{};
    uint64_t epoch = 0;  // the owner's (we become epoch + 1 when we win)
  };
  enum class RaceResult {
    won,     // our PREEMPT AND ABORT removed the owner's key: the reservation is ours
    lost,    // our own key was preempted first (the owner is alive and fenced us): stay standby
    failed,  // no answer (SAN unreachable, refused): stay standby, race again after timeout_ms
  };
  struct Audit {  // the audit record service.cpp writes today (the LU is always a detail)
    std::string category, action, result;
    Guid guid{};
    std::vector<std::pair<std::string, std::string>> details;  // besides "lu"
  };
  enum class Level { info, warn, error };
  struct Log {
    Level level = Level::info;
    std::string text;
  };
  // In the order they are listed: e.g. final_pr_state goes before the offer on the carrier.
  struct Actions {
    std::vector<Guid> transitioning_on, transitioning_off;
    std::vector<Guid> alua_changed;      // raise ASYMMETRIC ACCESS STATE CHANGED on the LU
    std::vector<Guid> drain;             // look at the LU's task set now: drain_check()
    std::vector<Guid> drain_again;       // ... and again in 5 ms
    std::vector<Guid> flush;             // flush the LU's store (flush_done)
    std::vector<Guid> final_pr_state;    // send_pr_state(g, true): reservations + hand-over state
    std::vector<Guid> mirror_pr_state;   // send_pr_state(g): the plain mirror again
    std::vector<Offer> offers;
    std::vector<Reply> replies;
    std::vector<Done> done;
    std::vector<StepDown> step_down;
    std::vector<Promote> promote;
    std::vector<Guid> register_standby;  // host.register_standby(m), reply with its status
    std::vector<Guid> take_over;         // import-lu: the standby copy goes, mirrored PR state in
    std::vector<Race> race;              // race for the LU at the storage (race_done)
    bool restart_handshake = false;      // link.message_lost("the peer's registrations did not arrive")
    std::vector<Audit> audits;
    std::vector<Log> logs;
  };

  explicit Ownership(uint32_t timeout_ms) : timeout_ms_(timeout_ms) {}
  void set_timeout(uint32_t timeout_ms) { timeout_ms_ = timeout_ms; }  // alua.timeout_ms changed

  // --- what the node has (configuration, the peer's registrations) ---
  Actions lu_configured(const Guid& g, uint64_t epoch);  // active here (new, or its epoch changed)
  Actions lu_gone(const Guid& g);                        // removed here (deleted, standby dropped)
  // Standby here with the owner's epoch, learnt from the node rather than a REGISTER_LUN (the
  // service follows the node's LU list): no actions.
  void lu_standby(const Guid& g, uint64_t epoch);

  // --- ALUA and the link ---
  Actions alua_enabled(uint64_t now_ms);  // (re)start: every active LU held until settled
  Actions alua_disabled();
  Actions link_up();
  Actions link_down();
  Actions lu_list();  // the peer's registrations are all in: ownership is settled
  Actions tick(uint64_t now_ms);

  // --- the peer's messages ---
  Actions register_lun(const Guid& g, uint64_t msg_id, uint64_t their_epoch);
  Actions lun_active(const Guid& g, uint64_t msg_id, uint64_t epoch, uint64_t now_ms);
  Actions lun_active_answer(uint64_t msg_id, ProxyStatus st);  // STATUS for our LUN_ACTIVE

  // --- local requests and the host's answers ---
  // switchover-lu / SET TARGET PORT GROUPS; `request` comes back in Done. `new_msg_id` is used
  // when a LUN_ACTIVE goes out now (standby here: ask the owner to hand it over).
  Actions switchover(const Guid& g, uint64_t request, uint64_t now_ms, uint64_t new_msg_id);
  Actions drain_check(const Guid& g, bool tasks_empty, uint64_t now_ms);
  Actions flush_done(const Guid& g, bool ok, uint64_t new_msg_id);
  Actions promote_done(const Guid& g, uint64_t msg_id, ProxyStatus st);
  Actions step_down_done(const Guid& g, uint64_t msg_id, ProxyStatus st);
  // import-lu / create-lu of a standby LU. Refused (ProxyStatus::already in Done, which the
  // management answers as STMF_ERROR_LU_BUSY) while the link is up; otherwise the LU is active
  // here with the owner's epoch + 1 (new_epoch()).
  Actions import_lu(const Guid& g, uint64_t request);

  // --- fencing at the storage (docs/failover.md "Fencing at the storage") ---
  // alua.takeover: fenced (true) or manual.
  void set_takeover_fenced(bool fenced) { takeover_fenced_ = fenced; }
  // The LU is SAN-backed and fenced (an iscsi store under this cluster's keys). Kept across
  // lu_standby / lu_configured; unknown LUs are ignored.
  void set_san_backed(const Guid& g, bool san);
  // The race's outcome (Race above). won: active with the owner's epoch + 1 and `take_over`.
  Actions race_done(const Guid& g, RaceResult r, const std::string& detail, uint64_t now_ms);
  // The LU's store was fenced (its key preempted on the SAN): it stops serving here at once
  // (Transitioning; no hold release lets it run again); the peer's newer registration makes
  // it step down to standby when the link returns.
  Actions fenced(const Guid& g, const std::string& why = {});

  // --- inspection ---
  std::optional<State> state(const Guid& g) const;
  std::vector<Guid> lus() const;                     // every LU the machine knows
  std::optional<Phase> phase(const Guid& g) const;  // when handing_over
  uint64_t epoch(const Guid& g) const;              // 0 when unknown
  bool holding() const { return holding_; }
  uint64_t hold_until() const { return hold_until_; }
  bool transitioning(const Guid& g) const;          // commands get 02/04/0A
  size_t pending_requests() const { return requests_.size(); }

 private:
  struct Lu {
    State state = State::active;
    uint64_t epoch = 0;
    Phase phase = Phase::draining;
    Requester requester;
    uint64_t deadline_ms = 0;  // handing_over: the whole hand-over
    uint64_t msg_id = 0;       // handing_over, offered: our LUN_ACTIVE
    uint64_t peer_epoch = 0;   // stepping_down: the epoch the peer registered
    bool san = false;          // SAN-backed and fenced (set_san_backed)
    uint64_t race_after_ms = 0;  // standby: no race before this (after a failed one)
  };
  struct Request {  // standby here: our LUN_ACTIVE asking the owner to hand over
    Guid guid{};
    uint64_t request = 0;
    uint64_t deadline_ms = 0;
  };
  void start_handover(const Guid& g, Lu& lu, const Requester& r, uint64_t now_ms, Actions& a);
  void rollback(const Guid& g, const std::string& why, Actions& a);
  void finish(const Requester& r, ProxyStatus st, const std::string& message, Actions& a);
  void hold_forever(const Guid& g, const std::string& log, const std::string& message, Actions& a);
  void release_hold(const std::string& why, Actions& a);

  uint32_t timeout_ms_;
  bool takeover_fenced_ = false;
  uint64_t link_down_since_ = kNever;  // the first tick that saw the link down (kNever: up, or not seen yet)
  bool link_up_ = false;
  bool holding_ = false;
  uint64_t hold_until_ = 0;
  std::map<Guid, Lu> lus_;
  std::map<uint64_t, Request> requests_;  // by msg_id
};

const char* to_string(Ownership::State s);

}  // namespace stmf::proxy
