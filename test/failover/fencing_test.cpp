// Fencing by ownership epoch (docs/alua.md "Fencing"), on the wire: the test plays the ALUA
// peer (node 1) of a real stmfd (node 0, door carrier) through libstmf's door API, so it can
// send what a stale peer would: SCSI_CMDs, TASK_MGMT and a LUN_ACTIVE that name another ownership epoch
// than the owner's. None of them may reach the medium; the owner's own epoch is served.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/task.h"
#include <libstmf.h>
#include "proxy/codec.h"
#include "proxy/messages.h"
#include "test/integration/daemon.h"
#include "test/failover/fake_peer.h"
#include "mgmt/client.h"
#include "core/guid.h"

#include <algorithm>

using namespace stmf::proxy;
using stmf::test::Daemon;
using stmf::test::DaemonOptions;
using stmf::test::FakePeer;

namespace {

constexpr uint64_t kOwnerEpoch = 5;

// One proxied command and what the owner answered: the SCSI_STATUS and any Data-In.
struct Outcome {
  ScsiStatus status;
  std::vector<uint8_t> data_in;
};

class Session {
 public:
  static constexpr uint64_t kSession = 77;
  static constexpr uint16_t kRtpi = 32768 + 1;  // node 1, port 1 (docs/alua.md numbering)

  Session(FakePeer& peer, const Guid& lu) : peer_(peer), lu_(lu) {
    peer_.post(Message{next_++, RegisterProxyPort{kRtpi, 2, "iqn.2026-11.org.example:fake,t,0x0001",
                                                  "iqn.2026-11.org.example:fake"}});
    REQUIRE(answered(MsgType::register_proxy_port) == uint32_t(ProxyStatus::success));
    peer_.post(Message{next_++, SessionCreate{kSession, kRtpi, "iqn.2026-11.org.example:fenced-host", "400001370000",
                                              {{0, lu_}}}});
    REQUIRE(answered(MsgType::session_create) == uint32_t(ProxyStatus::success));
  }

  // The STATUS stmfd sends for the last message of `type` posted.
  uint32_t answered(MsgType type) {
    const uint64_t id = next_ - 1;
    auto s = peer_.wait_for<Status>([&](const Status& s) { return s.msg_type == uint8_t(type) && s.msg_id == id; });
    REQUIRE(s);
    return s->second.status;
  }

  Outcome run(uint64_t epoch, std::vector<uint8_t> cdb, stmf::DataDirection dir, uint32_t length,
              std::vector<uint8_t> data_out = {}) {
    const uint64_t id = next_++;
    ScsiCmd c;
    c.session_id = kSession;
    c.guid = lu_;
    c.epoch = epoch;
    c.lun = 0;
    c.tag = uint32_t(id);
    c.direction = uint8_t(dir);
    c.expected_transfer_length = length;
    c.cdb = std::move(cdb);
    c.immediate_data = std::move(data_out);
    peer_.post(Message{id, std::move(c)});
    auto st = peer_.wait_for<ScsiStatus>([&](const ScsiStatus& s) { return s.task_id == id; });
    REQUIRE(st);
    Outcome o{st->second, {}};
    // Data-In went out before the status, on the one ordered carrier.
    while (o.data_in.size() < o.status.data_in_length) {
      auto d = peer_.wait_for<ScsiData>([&](const ScsiData& d) { return d.task_id == id; });
      REQUIRE(d);
      if (o.data_in.size() < d->second.offset + d->second.data.size()) o.data_in.resize(d->second.offset + d->second.data.size());
      std::copy(d->second.data.begin(), d->second.data.end(), o.data_in.begin() + d->second.offset);
    }
    return o;
  }

  Outcome read_block0(uint64_t epoch) {
    return run(epoch, {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}, stmf::DataDirection::in, 512);
  }
  Outcome write_block0(uint64_t epoch, uint8_t fill) {
    return run(epoch, {0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0}, stmf::DataDirection::out, 512, std::vector<uint8_t>(512, fill));
  }

  uint64_t next_id() { return next_++; }

 private:
  FakePeer& peer_;
  Guid lu_;
  uint64_t next_ = 1000;
};

// Sense key, ASC, ASCQ of fixed-format sense data.
std::tuple<int, int, int> kcq(const std::vector<uint8_t>& s) {
  REQUIRE(s.size() >= 14);
  REQUIRE((s[0] & 0x7f) == 0x70);
  return {s[2] & 0x0f, s[12], s[13]};
}

bool fenced(const Outcome& o) {
  return o.status.response == uint8_t(TaskResponse::completed) && o.status.scsi_status == 0x02 &&
         kcq(o.status.sense) == std::tuple{0x02, 0x04, 0x0a};  // NOT READY, ASYMMETRIC ACCESS STATE TRANSITION
}

bool good(const Outcome& o) { return o.status.response == uint8_t(TaskResponse::completed) && o.status.scsi_status == 0; }

// Brings the link up as node 1 and returns the LU stmfd registers (with its epoch).
RegisterLun link_up(FakePeer& peer) {
  auto hello = peer.wait_for<Hello>([](const Hello& h) { return h.node == 0 && h.alua_enabled; });
  REQUIRE(hello);
  peer.post(Message{1, Hello{1, 0x00fe11ced0000001ull, true, "fake-node-1"}});
  peer.post(Message{2, LuList{}});  // nothing is active here: ownership is settled at once
  auto reg = peer.wait_for<RegisterLun>([](const RegisterLun&) { return true; });
  REQUIRE(reg);
  return reg->second;
}

}  // namespace

TEST_CASE("the owner refuses proxied commands that name another ownership epoch", "[fencing][failover]") {
  DaemonOptions o;
  o.top_json_extra = R"("alua": {"enabled": true, "node": 0, "carrier": "door"}, )";
  o.lun0_json_extra = ", \"epoch\": " + std::to_string(kOwnerEpoch);
  Daemon d(o);
  FakePeer peer(d);
  const RegisterLun reg = link_up(peer);
  // The registration tells the standby node the owner's epoch (what its SCSI_CMDs carry).
  auto props = nlohmann::json::parse(reg.properties);
  REQUIRE(props.value("epoch", uint64_t(0)) == kOwnerEpoch);
  Session s(peer, reg.guid);

  // Under the owner's epoch the nexus first sees its POWER ON, RESET, then GOOD.
  bool ready = false;
  for (int i = 0; i < 5 && !ready; ++i) ready = good(s.run(kOwnerEpoch, {0, 0, 0, 0, 0, 0}, stmf::DataDirection::none, 0));
  REQUIRE(ready);
  REQUIRE(good(s.write_block0(kOwnerEpoch, 0x11)));

  SECTION("a write under an older or a newer epoch never reaches the medium") {
    for (uint64_t e : {kOwnerEpoch - 1, kOwnerEpoch + 1, uint64_t(0)}) {
      INFO("epoch " << e);
      CHECK(fenced(s.write_block0(e, 0xee)));
      CHECK(fenced(s.read_block0(e)));
    }
    auto r = s.read_block0(kOwnerEpoch);
    REQUIRE(good(r));
    CHECK(r.data_in == std::vector<uint8_t>(512, 0x11));  // the owner-epoch write, nothing else
    CHECK(d.log_text().find("names ownership epoch 6, ours is 5") != std::string::npos);
  }

  SECTION("a write that carries its data after the command is refused too") {
    const uint64_t id = s.next_id();
    ScsiCmd c;
    c.session_id = Session::kSession;
    c.guid = reg.guid;
    c.epoch = kOwnerEpoch - 1;
    c.tag = uint32_t(id);
    c.direction = uint8_t(stmf::DataDirection::out);
    c.expected_transfer_length = 512;
    c.cdb = {0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0};
    c.data_complete = false;
    peer.post(Message{id, c});
    peer.post(Message{0, ScsiData{id, Session::kSession, 0, std::vector<uint8_t>(512, 0xee)}});
    peer.post(Message{0, ScsiDataXferDone{id, Session::kSession, 0}});
    auto st = peer.wait_for<ScsiStatus>([&](const ScsiStatus& x) { return x.task_id == id; });
    REQUIRE(st);
    CHECK(fenced(Outcome{st->second, {}}));
    auto r = s.read_block0(kOwnerEpoch);
    REQUIRE(good(r));
    CHECK(r.data_in == std::vector<uint8_t>(512, 0x11));
  }

  SECTION("task management under another epoch is rejected and changes nothing") {
    const std::vector<uint8_t> tur = {0, 0, 0, 0, 0, 0};
    peer.post(Message{s.next_id(), TaskMgmt{Session::kSession, 5 /* LOGICAL UNIT RESET */, 0, reg.guid, kOwnerEpoch + 1, 0}});
    CHECK(s.answered(MsgType::task_mgmt) == 255);  // FUNCTION REJECTED
    CHECK(good(s.run(kOwnerEpoch, tur, stmf::DataDirection::none, 0)));  // no reset happened
    peer.post(Message{s.next_id(), TaskMgmt{Session::kSession, 5, 0, reg.guid, kOwnerEpoch, 0}});
    CHECK(s.answered(MsgType::task_mgmt) == 0);  // FUNCTION COMPLETE
    auto o = s.run(kOwnerEpoch, tur, stmf::DataDirection::none, 0);
    REQUIRE(o.status.scsi_status == 0x02);
    CHECK(std::get<0>(kcq(o.status.sense)) == 0x06);  // the reset's unit attention (29/xx)
    CHECK(std::get<1>(kcq(o.status.sense)) == 0x29);
  }

  SECTION("a handover request under another epoch is refused and the owner keeps the LU") {
    peer.post(Message{s.next_id(), LunActive{reg.guid, kOwnerEpoch - 1}});
    CHECK(s.answered(MsgType::lun_active) == uint32_t(ProxyStatus::stale));
    CHECK(good(s.write_block0(kOwnerEpoch, 0x22)));  // still active, not Transitioning
    auto r = s.read_block0(kOwnerEpoch);
    REQUIRE(good(r));
    CHECK(r.data_in == std::vector<uint8_t>(512, 0x22));
  }
}

namespace {
// One management call (`args` an object); the reply, or null when the call failed.
nlohmann::json mgmt_call(const Daemon& d, const std::string& op, nlohmann::json args = nlohmann::json::object()) {
  stmf::mgmt::Client c(d.socket_path());
  nlohmann::json r;
  if (!c.call(op, args, r).ok()) return nullptr;
  return r;
}
}  // namespace

// docs/security.md "Peer link": no message from the peer deletes configuration. A peer that
// registers this node's LU with a newer epoch makes it step down, but the LU stays in the
// state database as a standby record: after the peer is gone (and after a restart) it is
// still configured here, and importing it again takes it back.
TEST_CASE("an LU that steps down on the peer's REGISTER_LUN stays configured as standby", "[fencing][failover][tls]") {
  DaemonOptions o;
  o.top_json_extra = R"("alua": {"enabled": true, "node": 0, "carrier": "door"}, )";
  o.lun0_json_extra = ", \"epoch\": " + std::to_string(kOwnerEpoch);
  Daemon d(o);
  std::string guid;
  {
    FakePeer peer(d);
    RegisterLun reg = link_up(peer);
    guid = stmf::guid_hex(reg.guid);
    auto props = nlohmann::json::parse(reg.properties);
    props["epoch"] = kOwnerEpoch + 1000;  // "the peer took it over while we were away"
    peer.post(Message{77, RegisterLun{reg.guid, "sbd", props.dump()}});
    auto st = peer.wait_for<Status>([](const Status& s) { return s.msg_id == 77; });
    REQUIRE(st);
    CHECK(st->second.status == uint32_t(ProxyStatus::success));
    auto lu = mgmt_call(d, "get-lu", {{"guid", guid}});
    REQUIRE(lu.is_object());
    CHECK(lu["lu"]["access_state"] == "standby");
  }  // the peer goes away
  for (int restarted = 0; restarted < 2; ++restarted) {
    INFO("restarted " << restarted);
    auto list = mgmt_call(d, "list-lu");
    REQUIRE(list.is_object());
    CHECK(std::count(list["lus"].begin(), list["lus"].end(), guid) == 1);
    auto lu = mgmt_call(d, "get-lu", {{"guid", guid}});
    REQUIRE(lu.is_object());
    CHECK(lu["lu"]["standby"] == true);
    CHECK(lu["lu"]["access_state"] == "standby");
    CHECK(lu["lu"]["epoch"] == kOwnerEpoch);
    if (!restarted) {
      REQUIRE(d.terminate(10) == 0);
      d.restart();
    }
  }
  CHECK(d.log_text().find("kept in this node's configuration as a standby record") != std::string::npos);
  // The administrator takes it back (the peer is gone): import-lu replaces the record.
  auto lu = mgmt_call(d, "get-lu", {{"guid", guid}});
  REQUIRE(lu.is_object());
  const std::string backing = lu["lu"].value("backing", std::string());
  REQUIRE_FALSE(backing.empty());
  REQUIRE(mgmt_call(d, "import-lu", {{"backing", backing}}).is_object());
  lu = mgmt_call(d, "get-lu", {{"guid", guid}});
  REQUIRE(lu.is_object());
  CHECK(lu["lu"]["access_state"] == "active");
  CHECK_FALSE(lu["lu"].contains("standby"));
  auto list = mgmt_call(d, "list-lu");
  CHECK(std::count(list["lus"].begin(), list["lus"].end(), guid) == 1);
}
