// The ownership state machine (proxy/ownership.h, docs/ownership.md): every state x event,
// every refusal, and the races the pair tests found.
#include "proxy/ownership.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <map>

using namespace stmf::proxy;
using State = Ownership::State;
using Phase = Ownership::Phase;
using Actions = Ownership::Actions;

namespace {
constexpr uint32_t kTimeout = 3000;
const Guid kLu{0x60, 0x01, 0x44, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
const Guid kOther{0x60, 0x01, 0x44, 0xf0, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
constexpr uint64_t kEpoch = 4;
constexpr uint64_t kRequest = 77;  // the local request's token
constexpr uint64_t kOfferId = 500;
constexpr uint64_t kPeerMsg = 900;

bool has(const std::vector<Guid>& v, const Guid& g) { return std::find(v.begin(), v.end(), g) != v.end(); }
bool logged(const Actions& a, const std::string& part) {
  for (auto& l : a.logs)
    if (l.text.find(part) != std::string::npos) return true;
  return false;
}
// The one local completion of `a`.
Ownership::Done done_of(const Actions& a) {
  REQUIRE(a.done.size() == 1);
  return a.done[0];
}
Ownership::Reply reply_of(const Actions& a) {
  REQUIRE(a.replies.size() == 1);
  return a.replies[0];
}
// The one STATUS `a` sends the peer is `type` `msg_id` answered `st`.
void check_reply(const Actions& a, MsgType type, uint64_t msg_id, ProxyStatus st) {
  CHECK(reply_of(a).type == type);
  CHECK(reply_of(a).msg_id == msg_id);
  CHECK(reply_of(a).status == st);
}

// The starting points of the table: one LU of kEpoch in `s` (handing_over in `p`), link up.
enum class Start { unknown, standby, active, held, draining, flushing, offered, handed_over, stepping_down, taking_over };
const char* name(Start s) {
  static const char* n[] = {"unknown", "standby", "active", "held", "draining", "flushing", "offered",
                            "handed_over", "stepping_down", "taking_over"};
  return n[int(s)];
}
Ownership at(Start s, uint64_t now = 1000) {
  Ownership o(kTimeout);
  o.link_up();
  switch (s) {
    case Start::unknown: break;
    case Start::standby: o.register_lun(kLu, 1, kEpoch); break;
    case Start::taking_over:
      o.register_lun(kLu, 1, kEpoch);
      o.lun_active(kLu, 2, kEpoch, now);
      break;
    case Start::held:
      o.lu_configured(kLu, kEpoch);
      o.alua_enabled(now);
      break;
    case Start::stepping_down:
      o.lu_configured(kLu, kEpoch);
      o.register_lun(kLu, 1, kEpoch + 1);
      break;
    default:
      o.lu_configured(kLu, kEpoch);
      if (s == Start::active) break;
      o.switchover(kLu, kRequest, now, 1);
      if (s == Start::draining) break;
      o.drain_check(kLu, true, now);
      if (s == Start::flushing) break;
      o.flush_done(kLu, true, kOfferId);
      if (s == Start::offered) break;
      o.lun_active_answer(kOfferId, ProxyStatus::success);
      break;
  }
  return o;
}
std::optional<State> state_of(Start s) {
  switch (s) {
    case Start::unknown: return std::nullopt;
    case Start::standby: return State::standby;
    case Start::active: return State::active;
    case Start::held: return State::held;
    case Start::draining:
    case Start::flushing:
    case Start::offered: return State::handing_over;
    case Start::handed_over: return State::handed_over;
    case Start::stepping_down: return State::stepping_down;
    case Start::taking_over: return State::taking_over;
  }
  return std::nullopt;
}
const Start kAll[] = {Start::unknown, Start::standby, Start::active, Start::held, Start::draining, Start::flushing,
                      Start::offered, Start::handed_over, Start::stepping_down, Start::taking_over};
}  // namespace

TEST_CASE("ownership: the starting points of the table are what they say", "[proxy][ownership]") {
  for (auto s : kAll) {
    INFO(name(s));
    auto o = at(s);
    CHECK(o.state(kLu) == state_of(s));
  }
  CHECK(at(Start::draining).phase(kLu) == Phase::draining);
  CHECK(at(Start::flushing).phase(kLu) == Phase::flushing);
  CHECK(at(Start::offered).phase(kLu) == Phase::offered);
  CHECK_FALSE(at(Start::active).phase(kLu).has_value());
}

// ---------------------------------------------------------------- the hold

TEST_CASE("ownership: ALUA enabled holds every active LU until the peer's LU_LIST", "[proxy][ownership][hold]") {
  Ownership o(kTimeout);
  o.lu_configured(kLu, 1);
  o.register_lun(kOther, 1, 2);  // standby here: not held
  auto a = o.alua_enabled(1000);
  CHECK(a.transitioning_on == std::vector<Guid>{kLu});
  CHECK(logged(a, "1 LU(s) held in Transitioning until ownership is settled with the peer (at most 3000 ms)"));
  CHECK(o.state(kLu) == State::held);
  CHECK(o.state(kOther) == State::standby);
  CHECK(o.holding());
  CHECK(o.hold_until() == 4000);
  CHECK(o.transitioning(kLu));
  o.link_up();
  CHECK(o.tick(3999).transitioning_off.empty());  // before the deadline nothing moves
  a = o.lu_list();
  CHECK(a.transitioning_off == std::vector<Guid>{kLu});
  CHECK(logged(a, "1 LU(s) active: ownership settled with the peer"));
  CHECK(o.state(kLu) == State::active);
  CHECK_FALSE(o.holding());
  // A second LU_LIST without a hold changes nothing.
  a = o.lu_list();
  CHECK(a.transitioning_off.empty());
  CHECK(a.logs.empty());
}

TEST_CASE("ownership: the hold's deadline with the link down serves the LUs", "[proxy][ownership][hold]") {
  Ownership o(kTimeout);
  o.lu_configured(kLu, 1);
  o.alua_enabled(1000);
  auto a = o.tick(4000);
  CHECK(a.transitioning_off == std::vector<Guid>{kLu});
  CHECK_FALSE(a.restart_handshake);
  CHECK(logged(a, "the peer was not reachable within 3000 ms: this node serves its LUs as their owner"));
  CHECK(o.state(kLu) == State::active);
  CHECK_FALSE(o.holding());
}

TEST_CASE("ownership: the hold's deadline with the link up but no LU_LIST restarts the handshake",
          "[proxy][ownership][hold]") {
  Ownership o(kTimeout);
  o.lu_configured(kLu, 1);
  o.alua_enabled(1000);
  o.link_up();
  auto a = o.tick(4000);
  CHECK(a.restart_handshake);
  CHECK(a.transitioning_off.empty());
  CHECK(logged(a, "up for 3000 ms without the peer's LU list: starting the handshake over"));
  CHECK(o.state(kLu) == State::held);
  CHECK(o.hold_until() == 7000);  // holding for another timeout
  // The restarted handshake takes the link down and up again: still held.
  o.link_down();
  o.link_up();
  CHECK(o.tick(6999).transitioning_off.empty());
  CHECK(o.state(kLu) == State::held);
  a = o.lu_list();
  CHECK(a.transitioning_off == std::vector<Guid>{kLu});
}

TEST_CASE("ownership: ALUA disabled ends the hold and drops the standby LUs", "[proxy][ownership][hold]") {
  Ownership o(kTimeout);
  o.lu_configured(kLu, 1);
  o.register_lun(kOther, 1, 2);
  o.alua_enabled(1000);
  auto a = o.alua_disabled();
  CHECK(a.transitioning_off == std::vector<Guid>{kLu});
  CHECK(logged(a, "1 LU(s) active: ALUA disabled"));
  CHECK(o.state(kLu) == State::active);
  CHECK_FALSE(o.state(kOther).has_value());
  // Without a hold: nothing to release.
  CHECK(o.alua_disabled().logs.empty());
}

TEST_CASE("ownership: a hold release leaves LUs handed over, stepping down or handing over alone",
          "[proxy][ownership][hold]") {
  for (auto s : {Start::draining, Start::offered, Start::handed_over, Start::stepping_down}) {
    INFO(name(s));
    auto o = at(s);
    o.alua_enabled(2000);  // e.g. re-initialized: the hold is on
    auto a = o.lu_list();
    CHECK_FALSE(has(a.transitioning_off, kLu));
    CHECK(o.state(kLu) == state_of(s));
    CHECK(o.transitioning(kLu));
  }
}

// ---------------------------------------------------------------- REGISTER_LUN x state

TEST_CASE("ownership: REGISTER_LUN from the peer, every state x lower / equal / higher epoch",
          "[proxy][ownership][fencing]") {
  struct Row {
    Start from;
    int delta;  // their epoch - ours
    std::optional<State> to;
    bool step_down, register_standby, refused;
  };
  const Row rows[] = {
      // unknown / standby here: a standby LU of the peer, whatever the epoch.
      {Start::unknown, 0, State::standby, false, true, false},
      {Start::standby, -1, State::standby, false, true, false},
      {Start::standby, 1, State::standby, false, true, false},
      {Start::taking_over, 1, State::taking_over, false, true, false},
      // active here too: the epochs decide.
      {Start::active, -1, State::active, false, false, true},
      {Start::active, 0, State::active, false, false, true},
      {Start::active, 1, State::stepping_down, true, false, false},
      {Start::held, -1, State::held, false, false, true},
      {Start::held, 1, State::stepping_down, true, false, false},
      {Start::draining, 0, State::handing_over, false, false, true},
      {Start::draining, 1, State::stepping_down, true, false, false},
      {Start::offered, 1, State::stepping_down, true, false, false},
      {Start::handed_over, 0, State::handed_over, false, false, true},
      {Start::handed_over, 1, State::stepping_down, true, false, false},
      {Start::stepping_down, 1, State::stepping_down, true, false, false},  // registered again: as today
  };
  for (auto& r : rows) {
    INFO(name(r.from) << " delta " << r.delta);
    auto o = at(r.from);
    const uint64_t mine = r.from == Start::unknown ? kEpoch : o.epoch(kLu);
    const uint64_t theirs = mine + r.delta;
    auto a = o.register_lun(kLu, kPeerMsg, theirs);
    CHECK(o.state(kLu) == r.to);
    CHECK(a.step_down.size() == (r.step_down ? 1u : 0u));
    CHECK(has(a.register_standby, kLu) == r.register_standby);
    if (r.step_down) {
      CHECK(a.step_down[0].msg_id == kPeerMsg);
      CHECK(has(a.transitioning_on, kLu));  // no command runs on the stale copy from now on
      CHECK(logged(a, "this copy is stale and steps down to standby"));
      CHECK(a.replies.empty());  // answered when the step-down is done
    }
    if (r.refused) {
      CHECK(reply_of(a).type == MsgType::register_lun);
      CHECK(reply_of(a).status == ProxyStatus::already);
      CHECK(logged(a, r.delta < 0 ? "the peer registers a stale copy" : "active here too with the same epoch"));
      CHECK(a.logs[0].level == (r.delta < 0 ? Ownership::Level::warn : Ownership::Level::error));
    }
    if (r.register_standby) CHECK(o.epoch(kLu) == theirs);
  }
}

TEST_CASE("ownership: a hand-over overtaken by the peer's newer registration: fails before the offer, done after",
          "[proxy][ownership][fencing]") {
  auto o = at(Start::draining);
  auto a = o.register_lun(kLu, kPeerMsg, kEpoch + 1);
  CHECK(done_of(a).request == kRequest);
  CHECK(done_of(a).status == ProxyStatus::failure);
  // The drain that was polling finds nothing to do any more.
  a = o.drain_check(kLu, true, 1100);
  CHECK(a.flush.empty());
  // Offered: the peer took it and its registration overtook its answer: the hand-over is done.
  auto f = at(Start::offered);
  a = f.register_lun(kLu, kPeerMsg, kEpoch + 1);
  CHECK(done_of(a).request == kRequest);
  CHECK(done_of(a).status == ProxyStatus::success);
  CHECK(logged(a, "handed over to the peer"));
  CHECK(f.state(kLu) == State::stepping_down);
  REQUIRE(a.step_down.size() == 1);
  // The answer that follows finds nothing waiting: one completion only.
  CHECK(f.lun_active_answer(kOfferId, ProxyStatus::success).done.empty());
  // The peer asked for it: its LUN_ACTIVE is answered success.
  auto p = at(Start::active);
  p.lun_active(kLu, kPeerMsg, kEpoch, 1000);
  p.drain_check(kLu, true, 1000);
  p.flush_done(kLu, true, kOfferId);
  a = p.register_lun(kLu, kPeerMsg + 1, kEpoch + 1);
  check_reply(a, MsgType::lun_active, kPeerMsg, ProxyStatus::success);
}

TEST_CASE("ownership: step-down done: standby with the peer's epoch, or held when it failed",
          "[proxy][ownership][fencing]") {
  auto o = at(Start::stepping_down);
  auto a = o.step_down_done(kLu, kPeerMsg, ProxyStatus::success);
  check_reply(a, MsgType::register_lun, kPeerMsg, ProxyStatus::success);
  CHECK(o.state(kLu) == State::standby);
  CHECK(o.epoch(kLu) == kEpoch + 1);

  auto f = at(Start::stepping_down);
  a = f.step_down_done(kLu, kPeerMsg, ProxyStatus::failure);
  CHECK(reply_of(a).status == ProxyStatus::failure);
  CHECK(f.state(kLu) == State::held);
  CHECK(f.transitioning(kLu));
  // Held: no LU_LIST releases it without a hold on (as today) ...
  CHECK(f.lu_list().transitioning_off.empty());
  // ... the next hold release does.
  f.alua_enabled(5000);
  CHECK(f.lu_list().transitioning_off == std::vector<Guid>{kLu});
  // A late second answer (registered twice) changes nothing.
  o.step_down_done(kLu, kPeerMsg, ProxyStatus::failure);
  CHECK(o.state(kLu) == State::standby);
}

TEST_CASE("ownership: the old owner comes back with a lower epoch and steps down", "[proxy][ownership][race]") {
  // Node A owned the LU at epoch 1 and crashed; B imported it (epoch 2). A restarts.
  Ownership a_node(kTimeout), b_node(kTimeout);
  b_node.register_lun(kLu, 1, 1);  // B held A's LU standby
  auto t = b_node.import_lu(kLu, kRequest);
  CHECK(done_of(t).status == ProxyStatus::success);
  CHECK(t.take_over == std::vector<Guid>{kLu});
  CHECK(b_node.state(kLu) == State::active);
  CHECK(b_node.epoch(kLu) == 2);

  a_node.lu_configured(kLu, 1);
  a_node.alua_enabled(0);  // held: A runs nothing before the link settles it
  a_node.link_up();
  b_node.link_up();
  // Each registers its copy with the other: A's lower epoch is refused by B ...
  auto rb = b_node.register_lun(kLu, 10, a_node.epoch(kLu));
  CHECK(reply_of(rb).status == ProxyStatus::already);
  CHECK(b_node.state(kLu) == State::active);
  // ... and B's higher one makes A step down, before A's hold is released.
  auto ra = a_node.register_lun(kLu, 20, b_node.epoch(kLu));
  CHECK(a_node.state(kLu) == State::stepping_down);
  CHECK(ra.step_down.size() == 1);
  a_node.lu_list();
  CHECK(a_node.state(kLu) == State::stepping_down);  // the hold release does not un-fence it
  a_node.step_down_done(kLu, 20, ProxyStatus::success);
  CHECK(a_node.state(kLu) == State::standby);
  CHECK(a_node.epoch(kLu) == 2);
}

// ---------------------------------------------------------------- LUN_ACTIVE from the peer x state

TEST_CASE("ownership: LUN_ACTIVE from the peer, every state x matching / stale epoch", "[proxy][ownership][switchover]") {
  for (auto s : kAll) {
    INFO(name(s));
    {
      auto o = at(s);
      auto a = o.lun_active(kLu, kPeerMsg, o.epoch(kLu) + 1, 2000);
      if (s == Start::unknown) {
        CHECK(reply_of(a).status == ProxyStatus::not_found);
      } else {
        CHECK(reply_of(a).type == MsgType::lun_active);
        CHECK(reply_of(a).status == ProxyStatus::stale);
        CHECK(logged(a, "LUN_ACTIVE names ownership epoch"));
        CHECK(o.state(kLu) == state_of(s));
      }
    }
    if (s == Start::unknown) continue;
    auto o = at(s);
    auto a = o.lun_active(kLu, kPeerMsg, o.epoch(kLu), 2000);
    switch (s) {
      case Start::standby:
      case Start::taking_over:  // still standby here: promote again, as today
        CHECK(o.state(kLu) == State::taking_over);
        REQUIRE(a.promote.size() == 1);
        CHECK(a.promote[0].msg_id == kPeerMsg);
        CHECK(a.replies.empty());
        break;
      case Start::active:
      case Start::held:
        CHECK(o.state(kLu) == State::handing_over);
        CHECK(a.drain == std::vector<Guid>{kLu});
        CHECK(a.replies.empty());  // answered when the hand-over is done
        break;
      default:  // handing over, handed over, stepping down: refused
        CHECK(reply_of(a).status == ProxyStatus::already);
        CHECK(o.state(kLu) == state_of(s));
        break;
    }
  }
}

TEST_CASE("ownership: promote done: active with the epoch raised, or standby again", "[proxy][ownership][switchover]") {
  auto o = at(Start::taking_over);
  auto a = o.promote_done(kLu, kPeerMsg, ProxyStatus::success);
  check_reply(a, MsgType::lun_active, kPeerMsg, ProxyStatus::success);
  CHECK(o.state(kLu) == State::active);
  CHECK(o.epoch(kLu) == kEpoch + 1);
  CHECK(logged(a, "active here now (planned switchover)"));

  auto f = at(Start::taking_over);
  a = f.promote_done(kLu, kPeerMsg, ProxyStatus::not_found);
  CHECK(reply_of(a).status == ProxyStatus::not_found);
  CHECK(f.state(kLu) == State::standby);
  CHECK(f.epoch(kLu) == kEpoch);
}

TEST_CASE("ownership: a hand-over the peer asked for answers its LUN_ACTIVE", "[proxy][ownership][switchover]") {
  auto o = at(Start::active);
  o.lun_active(kLu, kPeerMsg, kEpoch, 1000);
  o.drain_check(kLu, true, 1000);
  auto a = o.flush_done(kLu, true, kOfferId);
  REQUIRE(a.offers.size() == 1);
  a = o.lun_active_answer(kOfferId, ProxyStatus::success);
  CHECK(a.done.empty());
  CHECK(reply_of(a).msg_id == kPeerMsg);
  CHECK(reply_of(a).status == ProxyStatus::success);

  auto f = at(Start::active);
  f.lun_active(kLu, kPeerMsg, kEpoch, 1000);
  f.drain_check(kLu, true, 1000);
  a = f.flush_done(kLu, false, kOfferId);
  CHECK(reply_of(a).status == ProxyStatus::failure);
  CHECK(f.state(kLu) == State::active);
}

// ---------------------------------------------------------------- local switchover x state

TEST_CASE("ownership: switchover request, every state, link up and down", "[proxy][ownership][switchover]") {
  for (auto s : kAll) {
    INFO(name(s));
    {
      auto o = at(s);
      o.link_down();
      auto a = o.switchover(kLu, kRequest, 2000, 42);
      CHECK(done_of(a).status == (s == Start::unknown ? ProxyStatus::not_found : ProxyStatus::not_ready));
      CHECK(done_of(a).message == (s == Start::unknown ? "no such LU here" : "the link to the peer is down"));
    }
    auto o = at(s);
    auto a = o.switchover(kLu, kRequest + 1, 2000, 42);
    switch (s) {
      case Start::unknown:
        CHECK(done_of(a).status == ProxyStatus::not_found);
        break;
      case Start::standby:
      case Start::taking_over:
        // Standby here: ask the owner (LUN_ACTIVE with our copy of its epoch).
        CHECK(a.done.empty());
        REQUIRE(a.offers.size() == 1);
        CHECK(a.offers[0].msg_id == 42);
        CHECK(a.offers[0].body.epoch == kEpoch);
        CHECK(o.pending_requests() == 1);
        break;
      case Start::active:
      case Start::held:
        CHECK(a.done.empty());
        CHECK(o.state(kLu) == State::handing_over);
        CHECK(o.phase(kLu) == Phase::draining);
        CHECK(a.transitioning_on == std::vector<Guid>{kLu});
        CHECK(a.alua_changed == std::vector<Guid>{kLu});
        CHECK(a.drain == std::vector<Guid>{kLu});
        CHECK(logged(a, "switchover to the peer: holding it (Transitioning), draining in-flight commands"));
        break;
      default:
        CHECK(done_of(a).status == ProxyStatus::already);
        CHECK(done_of(a).message == "a switchover of this LU is in progress");
        CHECK(o.state(kLu) == state_of(s));
        break;
    }
  }
}

TEST_CASE("ownership: the drain: polls, flushes when empty, gives up after 5 s", "[proxy][ownership][switchover]") {
  auto o = at(Start::draining, 1000);
  auto a = o.drain_check(kLu, false, 1005);
  CHECK(a.drain_again == std::vector<Guid>{kLu});
  a = o.drain_check(kLu, false, 6000);  // exactly kDrainMs: still waiting
  CHECK(a.drain_again == std::vector<Guid>{kLu});
  a = o.drain_check(kLu, false, 6001);
  CHECK(a.drain_again.empty());
  CHECK(o.state(kLu) == State::active);
  CHECK(done_of(a).status == ProxyStatus::failure);
  CHECK(done_of(a).message == "in-flight commands did not complete within 5000 ms");
  CHECK(a.transitioning_off == std::vector<Guid>{kLu});
  CHECK(a.alua_changed == std::vector<Guid>{kLu});
  CHECK(a.mirror_pr_state == std::vector<Guid>{kLu});  // the peer's copy is the plain mirror again

  auto e = at(Start::draining, 1000);
  a = e.drain_check(kLu, true, 1005);
  CHECK(a.flush == std::vector<Guid>{kLu});
  CHECK(e.phase(kLu) == Phase::flushing);
}

TEST_CASE("ownership: flush done: the final state, then the offer, and a failed flush rolls back",
          "[proxy][ownership][switchover]") {
  auto o = at(Start::flushing);
  auto a = o.flush_done(kLu, true, kOfferId);
  CHECK(a.final_pr_state == std::vector<Guid>{kLu});
  REQUIRE(a.offers.size() == 1);
  CHECK(a.offers[0].msg_id == kOfferId);
  CHECK(a.offers[0].body.guid == kLu);
  CHECK(a.offers[0].body.epoch == kEpoch);
  CHECK(o.phase(kLu) == Phase::offered);
  // Not flushing any more: a second flush answer does nothing.
  CHECK(o.flush_done(kLu, true, kOfferId + 1).offers.empty());

  auto f = at(Start::flushing);
  a = f.flush_done(kLu, false, kOfferId);
  CHECK(done_of(a).message == "flushing the backing store failed");
  CHECK(f.state(kLu) == State::active);
  CHECK(a.offers.empty());
}

TEST_CASE("ownership: the peer's answer to the offer: success, failure, stale", "[proxy][ownership][switchover]") {
  auto o = at(Start::offered);
  auto a = o.lun_active_answer(kOfferId, ProxyStatus::success);
  CHECK(done_of(a).status == ProxyStatus::success);
  CHECK(done_of(a).message.empty());
  CHECK(o.state(kLu) == State::handed_over);
  CHECK(o.transitioning(kLu));
  CHECK(a.transitioning_off.empty());
  // The peer's registration with the raised epoch makes this copy step down.
  a = o.register_lun(kLu, kPeerMsg, kEpoch + 1);
  CHECK(o.state(kLu) == State::stepping_down);

  for (auto st : {ProxyStatus::failure, ProxyStatus::stale, ProxyStatus::not_found}) {
    auto f = at(Start::offered);
    a = f.lun_active_answer(kOfferId, st);
    CHECK(f.state(kLu) == State::active);
    CHECK(done_of(a).status == ProxyStatus::failure);
    CHECK(done_of(a).message == "the peer could not take it (status " + std::to_string(uint32_t(st)) + ")");
    CHECK(a.transitioning_off == std::vector<Guid>{kLu});
  }
  // An answer to an id nobody waits for changes nothing.
  auto n = at(Start::offered);
  a = n.lun_active_answer(kOfferId + 1, ProxyStatus::success);
  CHECK(a.done.empty());
  CHECK(n.phase(kLu) == Phase::offered);
}

TEST_CASE("ownership: a standby's request: answered, refused, timed out, link down", "[proxy][ownership][switchover]") {
  auto o = at(Start::standby);
  o.switchover(kLu, kRequest, 1000, 42);
  auto a = o.lun_active_answer(42, ProxyStatus::success);
  CHECK(done_of(a).request == kRequest);
  CHECK(done_of(a).status == ProxyStatus::success);
  CHECK(o.pending_requests() == 0);

  o.switchover(kLu, kRequest, 1000, 43);
  a = o.lun_active_answer(43, ProxyStatus::stale);
  CHECK(done_of(a).status == ProxyStatus::stale);  // the peer's code, as it came
  CHECK(done_of(a).message == "the peer did not hand it over");

  o.switchover(kLu, kRequest, 1000, 44);
  CHECK(o.tick(20999).done.empty());  // kHandoverMs + 5 s
  a = o.tick(21000);
  CHECK(done_of(a).message == "the peer did not answer in time");

  o.switchover(kLu, kRequest, 1000, 45);
  o.switchover(kLu, kRequest + 1, 1000, 46);  // a second request for the same LU is allowed, as today
  a = o.link_down();
  CHECK(a.done.size() == 2);
  CHECK(a.done[0].message == "the link went down");
  CHECK(o.pending_requests() == 0);
}

// ---------------------------------------------------------------- the races

TEST_CASE("ownership: the answer to the offer is lost: held until the link settles it", "[proxy][ownership][race]") {
  auto o = at(Start::offered, 1000);  // deadline 16000
  CHECK(o.tick(15999).done.empty());
  auto a = o.tick(16000);
  CHECK(done_of(a).status == ProxyStatus::failure);
  CHECK(done_of(a).message ==
        "the peer did not answer the handover: the LU is held (Transitioning) until ownership is settled");
  CHECK(logged(a, "no answer to the handover: held until ownership is settled with the peer"));
  CHECK(o.state(kLu) == State::held);
  CHECK(o.holding());
  CHECK(o.hold_until() == Ownership::kNever);
  // Neither time with the link down nor with it up releases it: only the peer's word.
  o.link_down();
  CHECK(o.tick(1'000'000).transitioning_off.empty());
  o.link_up();
  a = o.tick(2'000'000);
  CHECK(a.transitioning_off.empty());
  CHECK_FALSE(a.restart_handshake);
  CHECK(o.state(kLu) == State::held);
  // A late answer to the old offer changes nothing now.
  CHECK(o.lun_active_answer(kOfferId, ProxyStatus::success).done.empty());

  SECTION("the peer did take it: its registration steps us down, the LU list does not un-fence it") {
    o.register_lun(kLu, kPeerMsg, kEpoch + 1);
    o.lu_list();
    CHECK(o.state(kLu) == State::stepping_down);
  }
  SECTION("the peer did not take it: its LU list gives it back") {
    a = o.lu_list();
    CHECK(a.transitioning_off == std::vector<Guid>{kLu});
    CHECK(o.state(kLu) == State::active);
  }
}

TEST_CASE("ownership: unanswered offers are held one per tick", "[proxy][ownership][race]") {
  Ownership o(kTimeout);
  o.link_up();
  for (auto& g : {kLu, kOther}) {
    o.lu_configured(g, 1);
    o.switchover(g, kRequest, 0, 1);
    o.drain_check(g, true, 0);
    o.flush_done(g, true, g == kLu ? 10 : 11);
  }
  CHECK(o.tick(15000).done.size() == 1);
  CHECK(o.tick(15001).done.size() == 1);
  CHECK(o.state(kLu) == State::held);
  CHECK(o.state(kOther) == State::held);
}

TEST_CASE("ownership: link down while offered holds, before the offer rolls back", "[proxy][ownership][race]") {
  auto o = at(Start::offered);
  auto a = o.link_down();
  CHECK(done_of(a).message ==
        "the link went down during the handover: the LU is held (Transitioning) until the link returns and ownership "
        "is settled");
  CHECK(o.state(kLu) == State::held);
  CHECK(o.hold_until() == Ownership::kNever);
  CHECK(a.transitioning_off.empty());
  o.link_up();
  CHECK(o.lu_list().transitioning_off == std::vector<Guid>{kLu});

  for (auto s : {Start::draining, Start::flushing}) {
    INFO(name(s));
    auto r = at(s);
    a = r.link_down();
    CHECK(done_of(a).message == "the link went down");
    CHECK(r.state(kLu) == State::active);
    CHECK(a.transitioning_off == std::vector<Guid>{kLu});
    CHECK(a.mirror_pr_state.empty());  // the link is down: the state goes over when it is back
    CHECK_FALSE(r.holding());
    // The flush that was running answers later: nothing is offered.
    CHECK(r.flush_done(kLu, true, kOfferId).offers.empty());
  }
}

TEST_CASE("ownership: stale LUN_ACTIVE epochs on both sides roll back, never hand over", "[proxy][ownership][race]") {
  // Our offer names an epoch the peer does not know (its registration was on its way).
  auto o = at(Start::offered);
  auto a = o.lun_active_answer(kOfferId, ProxyStatus::stale);
  CHECK(o.state(kLu) == State::active);
  CHECK(done_of(a).message == "the peer could not take it (status 7)");
  // The peer's request names an old epoch of ours (we took the LU over meanwhile).
  auto t = at(Start::standby);
  t.link_down();
  t.import_lu(kLu, kRequest);
  t.link_up();
  a = t.lun_active(kLu, kPeerMsg, kEpoch, 1000);
  CHECK(reply_of(a).status == ProxyStatus::stale);
  CHECK(t.state(kLu) == State::active);
  CHECK(a.drain.empty());
}

// ---------------------------------------------------------------- import-lu, configuration

TEST_CASE("ownership: import-lu takes over a standby LU only with the link down", "[proxy][ownership][takeover]") {
  auto o = at(Start::standby);
  auto a = o.import_lu(kLu, kRequest);
  CHECK(done_of(a).status == ProxyStatus::already);
  CHECK(done_of(a).message.find("is active on the ALUA peer and the link is up") != std::string::npos);
  CHECK(o.state(kLu) == State::standby);
  CHECK(a.take_over.empty());
  o.link_down();
  a = o.import_lu(kLu, kRequest);
  CHECK(done_of(a).status == ProxyStatus::success);
  CHECK(a.take_over == std::vector<Guid>{kLu});
  CHECK(o.state(kLu) == State::active);
  CHECK(o.epoch(kLu) == kEpoch + 1);
  // Not a standby LU: not a takeover (the management op decides the rest).
  a = o.import_lu(kOther, kRequest);
  CHECK(done_of(a).status == ProxyStatus::success);
  CHECK(a.take_over.empty());
  CHECK_FALSE(o.state(kOther).has_value());
}

TEST_CASE("ownership: an LU that goes away ends its hand-over", "[proxy][ownership]") {
  auto o = at(Start::draining);
  auto a = o.lu_gone(kLu);
  CHECK(done_of(a).status == ProxyStatus::failure);
  CHECK(done_of(a).message == "the LU went away");
  CHECK_FALSE(o.state(kLu).has_value());
  CHECK(o.lu_gone(kLu).done.empty());
  // Configured again: active with its configured epoch.
  o.lu_configured(kLu, 9);
  CHECK(o.state(kLu) == State::active);
  CHECK(o.epoch(kLu) == 9);
}

// ---------------------------------------------------------------- the whole table

// Every starting point x every event: where the LU ends up. Rows list the moves; a state not
// listed in a row stays where it was (the event does not apply to it).
TEST_CASE("ownership: every state x every event, the moves and the non-moves", "[proxy][ownership][table]") {
  using Where = std::pair<std::optional<State>, std::optional<Phase>>;
  auto where = [](const Ownership& o) { return Where{o.state(kLu), o.phase(kLu)}; };
  auto where_of = [](Start s) -> Where {
    switch (s) {
      case Start::draining: return {State::handing_over, Phase::draining};
      case Start::flushing: return {State::handing_over, Phase::flushing};
      case Start::offered: return {State::handing_over, Phase::offered};
      default: return {state_of(s), std::nullopt};
    }
  };
  const Where active{State::active, std::nullopt}, held{State::held, std::nullopt};
  struct Row {
    const char* event;
    std::function<void(Ownership&)> run;
    std::map<Start, Where> moves;
  };
  const std::vector<Row> rows = {
      {"drain done", [](Ownership& o) { o.drain_check(kLu, true, 1001); },
       {{Start::draining, {State::handing_over, Phase::flushing}}}},
      {"drain late", [](Ownership& o) { o.drain_check(kLu, false, 1000 + Ownership::kDrainMs + 1); },
       {{Start::draining, active}}},
      {"flush done", [](Ownership& o) { o.flush_done(kLu, true, 9); },
       {{Start::flushing, {State::handing_over, Phase::offered}}}},
      {"flush failed", [](Ownership& o) { o.flush_done(kLu, false, 9); }, {{Start::flushing, active}}},
      {"answer success", [](Ownership& o) { o.lun_active_answer(kOfferId, ProxyStatus::success); },
       {{Start::offered, {State::handed_over, std::nullopt}}}},
      {"answer stale", [](Ownership& o) { o.lun_active_answer(kOfferId, ProxyStatus::stale); },
       {{Start::offered, active}}},
      {"promote done", [](Ownership& o) { o.promote_done(kLu, 2, ProxyStatus::success); },
       {{Start::taking_over, active}}},
      {"promote failed", [](Ownership& o) { o.promote_done(kLu, 2, ProxyStatus::failure); },
       {{Start::taking_over, {State::standby, std::nullopt}}}},
      {"step-down done", [](Ownership& o) { o.step_down_done(kLu, 1, ProxyStatus::success); },
       {{Start::stepping_down, {State::standby, std::nullopt}}}},
      {"step-down failed", [](Ownership& o) { o.step_down_done(kLu, 1, ProxyStatus::failure); },
       {{Start::stepping_down, held}}},
      {"link down", [](Ownership& o) { o.link_down(); },
       {{Start::draining, active}, {Start::flushing, active}, {Start::offered, held}}},
      {"import-lu, link up", [](Ownership& o) { o.import_lu(kLu, 1); }, {}},
      {"link down, import-lu", [](Ownership& o) { o.link_down(); o.import_lu(kLu, 1); },
       {{Start::standby, active}, {Start::taking_over, active}, {Start::draining, active},
        {Start::flushing, active}, {Start::offered, held}}},
      {"LU_LIST", [](Ownership& o) { o.lu_list(); }, {{Start::held, active}}},
      {"ALUA enabled", [](Ownership& o) { o.alua_enabled(2000); }, {{Start::active, held}}},
      {"ALUA disabled", [](Ownership& o) { o.alua_disabled(); },
       {{Start::held, active}, {Start::standby, {}}, {Start::taking_over, {}}}},
      {"tick, link up, 1 min later", [](Ownership& o) { o.tick(61'000); }, {{Start::offered, held}}},
      {"tick, link down, 1 min later", [](Ownership& o) { o.link_down(); o.tick(61'000); },
       {{Start::held, active}, {Start::draining, active}, {Start::flushing, active}, {Start::offered, held}}},
      {"LU gone", [](Ownership& o) { o.lu_gone(kLu); },
       {{Start::standby, {}}, {Start::active, {}}, {Start::held, {}}, {Start::draining, {}}, {Start::flushing, {}},
        {Start::offered, {}}, {Start::handed_over, {}}, {Start::stepping_down, {}}, {Start::taking_over, {}}}},
  };
  for (auto& r : rows)
    for (auto s : kAll) {
      INFO(r.event << " from " << name(s));
      auto o = at(s, 1000);
      r.run(o);
      auto m = r.moves.find(s);
      CHECK(where(o) == (m == r.moves.end() ? where_of(s) : m->second));
      // Transitioning exactly in the states that answer 02/04/0A.
      auto st = o.state(kLu);
      CHECK(o.transitioning(kLu) == (st && *st != State::active && *st != State::standby && *st != State::taking_over));
    }
}

TEST_CASE("ownership: the audit records carry what service.cpp writes today", "[proxy][ownership]") {
  auto o = at(Start::active);
  auto a = o.register_lun(kLu, kPeerMsg, kEpoch + 2);
  REQUIRE(a.audits.size() == 1);
  CHECK(a.audits[0].action == "stale-copy");
  CHECK(a.audits[0].details ==
        std::vector<std::pair<std::string, std::string>>{{"peer_epoch", "6"}, {"our_epoch", "4"}});
  auto f = at(Start::flushing);
  a = f.flush_done(kLu, false, 1);
  REQUIRE(a.audits.size() == 1);
  CHECK(a.audits[0].result == "abandoned");
  CHECK(a.audits[0].details ==
        std::vector<std::pair<std::string, std::string>>{{"reason", "flushing the backing store failed"}});
}

TEST_CASE("ownership: a standby LU learnt from the node is taken over like a registered one, and listed",
          "[proxy][ownership]") {
  Ownership o(kTimeout);
  o.link_up();
  o.lu_configured(kOther, 2);
  o.lu_standby(kLu, kEpoch);
  CHECK(o.state(kLu) == State::standby);
  CHECK(o.epoch(kLu) == kEpoch);
  CHECK(o.lus() == std::vector<Guid>{kLu, kOther});  // ordered by GUID
  auto a = o.lun_active(kLu, kPeerMsg, kEpoch, 1000);
  REQUIRE(a.promote.size() == 1);
  CHECK(a.promote[0].guid == kLu);
  CHECK(o.state(kLu) == State::taking_over);
  // A hold does not touch it (standby here), and the timeout can change.
  o.set_timeout(100);
  CHECK(o.alua_enabled(1000).transitioning_on == std::vector<Guid>{kOther});
  CHECK(o.hold_until() == 1100);
}

// ---------------------------------------------------------------- fencing at the storage

namespace {
// A SAN-backed standby LU, takeover fenced, the link up; then down at `down`.
Ownership fenced_standby(uint64_t down = 1000) {
  auto o = at(Start::standby);
  o.set_takeover_fenced(true);
  o.set_san_backed(kLu, true);
  o.link_down();
  o.tick(down);  // the first tick that sees the link down starts the count
  return o;
}
}  // namespace

TEST_CASE("ownership: takeover fenced races for a SAN-backed standby LU once the link is down past timeout_ms",
          "[proxy][ownership][fencing]") {
  auto o = fenced_standby(1000);
  CHECK(o.tick(1000 + kTimeout - 1).race.empty());
  CHECK(o.state(kLu) == State::standby);
  auto a = o.tick(1000 + kTimeout);
  REQUIRE(a.race.size() == 1);
  CHECK(a.race[0].guid == kLu);
  CHECK(a.race[0].epoch == kEpoch);
  CHECK(o.state(kLu) == State::racing);
  CHECK(logged(a, "racing for it at the storage"));
  REQUIRE(a.audits.size() == 1);
  CHECK(a.audits[0].action == "takeover-race");
  // One race at a time: the next tick sends nothing while it runs.
  CHECK(o.tick(1000 + 2 * kTimeout).race.empty());
  // Won: promoted like a planned switchover's taker (the configuration takes it with the
  // owner's epoch + 1), no LUN_ACTIVE to answer; then active with that epoch.
  a = o.race_done(kLu, Ownership::RaceResult::won, "the owner's key is preempted", 1000 + 2 * kTimeout);
  CHECK(o.state(kLu) == State::taking_over);
  REQUIRE(a.promote.size() == 1);
  CHECK(a.promote[0].guid == kLu);
  CHECK(a.promote[0].msg_id == 0);
  REQUIRE(a.audits.size() == 1);
  CHECK(a.audits[0].action == "takeover");
  CHECK(a.audits[0].details == std::vector<std::pair<std::string, std::string>>{{"epoch", std::to_string(kEpoch + 1)},
                                                                                 {"mode", "fenced"}});
  auto p = o.promote_done(kLu, 0, ProxyStatus::success);
  CHECK(p.replies.empty());
  CHECK(o.state(kLu) == State::active);
  CHECK(o.epoch(kLu) == kEpoch + 1);
  // A late answer changes nothing.
  CHECK(o.race_done(kLu, Ownership::RaceResult::lost, "", 1).logs.empty());
  CHECK(o.state(kLu) == State::active);
}

TEST_CASE("ownership: no race with takeover manual, for a LU not SAN-backed, or with the link up",
          "[proxy][ownership][fencing]") {
  {
    auto o = at(Start::standby);
    o.set_san_backed(kLu, true);  // manual: the administrator imports
    o.link_down();
    o.tick(1000);
    CHECK(o.tick(1000 + 10 * kTimeout).race.empty());
  }
  {
    auto o = at(Start::standby);
    o.set_takeover_fenced(true);  // a file-backed pair: nothing to preempt
    o.link_down();
    o.tick(1000);
    CHECK(o.tick(1000 + 10 * kTimeout).race.empty());
  }
  {
    auto o = fenced_standby(1000);
    o.link_up();  // back before the timeout: the count starts over next time
    CHECK(o.tick(1000 + 10 * kTimeout).race.empty());
    o.link_down();
    o.tick(50000);
    CHECK(o.tick(50000 + kTimeout - 1).race.empty());
    CHECK(o.tick(50000 + kTimeout).race.size() == 1);
  }
  {
    // Active here: nothing to race for.
    auto o = at(Start::active);
    o.set_takeover_fenced(true);
    o.set_san_backed(kLu, true);
    o.link_down();
    o.tick(1000);
    CHECK(o.tick(1000 + 10 * kTimeout).race.empty());
  }
}

TEST_CASE("ownership: a lost race stays standby for good, a failed one races again after timeout_ms",
          "[proxy][ownership][fencing]") {
  auto o = fenced_standby(1000);
  REQUIRE(o.tick(1000 + kTimeout).race.size() == 1);
  auto a = o.race_done(kLu, Ownership::RaceResult::failed, "the SAN did not answer", 1000 + kTimeout);
  CHECK(o.state(kLu) == State::standby);
  CHECK(o.epoch(kLu) == kEpoch);
  CHECK(a.take_over.empty());
  CHECK(logged(a, "racing again"));
  CHECK(o.tick(1000 + 2 * kTimeout - 1).race.empty());
  REQUIRE(o.tick(1000 + 2 * kTimeout).race.size() == 1);
  a = o.race_done(kLu, Ownership::RaceResult::lost, "RESERVATION CONFLICT", 1000 + 2 * kTimeout);
  CHECK(o.state(kLu) == State::standby);
  CHECK(o.epoch(kLu) == kEpoch);
  CHECK(a.take_over.empty());
  CHECK(logged(a, "stays standby"));
  REQUIRE(a.audits.size() == 1);
  CHECK(a.audits[0].result == "lost");
  CHECK(o.tick(1000 + 100 * kTimeout).race.empty());  // never on its own again
  // The owner comes back (the link, its registration): a later partition may race again.
  o.link_up();
  o.register_lun(kLu, 5, kEpoch);
  o.link_down();
  o.tick(900000);
  CHECK(o.tick(900000 + kTimeout).race.size() == 1);
}

TEST_CASE("ownership: a fenced owner stops at once, stays Transitioning, and steps down to the newer owner",
          "[proxy][ownership][fencing]") {
  auto o = at(Start::active);
  auto a = o.fenced(kLu);
  CHECK(o.state(kLu) == State::fenced);
  CHECK(o.transitioning(kLu));
  CHECK(a.transitioning_on == std::vector<Guid>{kLu});
  CHECK(a.alua_changed == std::vector<Guid>{kLu});
  CHECK(logged(a, "fenced"));
  REQUIRE(a.audits.size() == 1);
  CHECK(a.audits[0].category == "fencing");
  CHECK(a.audits[0].action == "fenced");
  // A hold release (LU_LIST, the deadline) does not let it run again.
  o.alua_enabled(1000);
  a = o.lu_list();
  CHECK(a.transitioning_off.empty());
  CHECK(o.state(kLu) == State::fenced);
  CHECK(o.fenced(kLu).logs.empty());  // once
  // The peer won the race: its registration (epoch + 1) makes this copy step down.
  a = o.register_lun(kLu, kPeerMsg, kEpoch + 1);
  CHECK(o.state(kLu) == State::stepping_down);
  REQUIRE(a.step_down.size() == 1);
  o.step_down_done(kLu, kPeerMsg, ProxyStatus::success);
  CHECK(o.state(kLu) == State::standby);
  CHECK(o.epoch(kLu) == kEpoch + 1);
}

TEST_CASE("ownership: fenced during a hand-over fails it, a standby LU is never fenced", "[proxy][ownership][fencing]") {
  auto o = at(Start::draining);
  auto a = o.fenced(kLu);
  CHECK(o.state(kLu) == State::fenced);
  CHECK(done_of(a).status == ProxyStatus::failure);
  auto s = at(Start::standby);
  CHECK(s.fenced(kLu).logs.empty());
  CHECK(s.state(kLu) == State::standby);
  CHECK(std::string(to_string(State::fenced)) == "fenced");
  CHECK(std::string(to_string(State::racing)) == "racing");
}
