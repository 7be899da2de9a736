// Data of proxied tasks is bounded by the task (docs/proxy-protocol.md "Protocol errors"): the
// test plays the ALUA peer of a real stmfd through libstmf's door API.
//  * stmfd as the standby node: an initiator's READ goes to the peer (the test), which answers
//    with Data-In a broken peer could send (beyond the task's EDTL, at a 4 GiB offset, a
//    SCSI_STATUS naming more Data-In than any LU moves). stmfd never grows a buffer for it:
//    it answers STATUS protocol_error, the initiator gets CHECK CONDITION, and the link and
//    the session go on.
//  * stmfd as the owner: Data-In crosses the link only up to the EDTL; data_in_length tells
//    the rest, and the standby side reports the overflow residual from it.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "core/task.h"
#include "proxy/messages.h"
#include "test/failover/fake_peer.h"
#include "test/integration/daemon.h"
#include "test/integration/raw_initiator.h"

using namespace stmf::proxy;
using stmf::test::Daemon;
using stmf::test::DaemonOptions;
using stmf::test::FakePeer;
using stmf::test::RawInitiator;
using stmf::test::RawPdu;

namespace {

constexpr const char* kGuidHex = "600144F0C0FFEE0000000000000000AB";
constexpr uint64_t kEpoch = 3;
constexpr uint8_t kDataIn = 0x25, kScsiResponse = 0x21;

Guid guid() {
  Guid g{};
  for (size_t i = 0; i < g.size(); ++i) g[i] = uint8_t(std::stoul(std::string(kGuidHex + 2 * i, 2), nullptr, 16));
  return g;
}

// stmfd as node 0 with no LU of its own: the view for the peer's LU makes its standby copy
// LUN 0 of stmfd's target.
DaemonOptions standby_node() {
  DaemonOptions o;
  o.luns = 0;
  o.top_json_extra = std::string(R"("alua": {"enabled": true, "node": 0, "carrier": "door"}, "views": [{"guid": ")") +
                     kGuidHex + R"(", "lun": 0}], )";
  return o;
}

// Brings the link up as node 1, the owner of the LU, and waits until stmfd holds it standby.
void link_up_as_owner(FakePeer& peer) {
  auto hello = peer.wait_for<Hello>([](const Hello& h) { return h.node == 0 && h.alua_enabled; });
  REQUIRE(hello);
  peer.post(Message{1, Hello{1, 0x00fe11ced0000002ull, true, "fake-owner"}});
  const std::string props = R"({"name": "lu0", "size": 67108864, "block_size": 512, "backing": "/nonexistent/lu0.img", "epoch": )" +
                            std::to_string(kEpoch) + "}";
  peer.post(Message{2, RegisterLun{guid(), "sbd", props}});
  auto st = peer.wait_for<Status>([](const Status& s) { return s.msg_type == uint8_t(MsgType::register_lun) && s.msg_id == 2; });
  REQUIRE(st);
  REQUIRE(st->second.status == uint32_t(ProxyStatus::success));
  peer.post(Message{3, LuList{{guid()}}});
}

// A READ(10) of `blocks` blocks at LBA 0 with the given EDTL, from the raw initiator.
void send_read(RawInitiator& r, uint8_t blocks, uint32_t edtl) {
  const uint8_t cdb[10] = {0x28, 0, 0, 0, 0, 0, 0, 0, blocks, 0};
  REQUIRE(r.send(r.scsi_command(cdb, 10, edtl, true, false, 0)));
}

// The SCSI_CMD stmfd forwarded for the READ: (task id, the command).
std::pair<uint64_t, ScsiCmd> forwarded_read(FakePeer& peer) {
  auto c = peer.wait_for<ScsiCmd>([](const ScsiCmd& c) { return !c.cdb.empty() && c.cdb[0] == 0x28; });
  REQUIRE(c);
  CHECK(c->second.epoch == kEpoch);
  return *c;
}

// What the initiator gets for its command: the Data-In PDUs' bytes and the PDU with status.
struct Answer {
  std::vector<uint8_t> data;
  RawPdu status_pdu;
};
Answer answer(RawInitiator& r) {
  Answer a;
  for (int i = 0; i < 64; ++i) {
    auto p = r.recv(20000);  // hang guard
    REQUIRE(p);
    if (p->opcode() == kDataIn) {
      const uint32_t off = p->field32(40);
      if (a.data.size() < off + p->data.size()) a.data.resize(off + p->data.size());
      std::copy(p->data.begin(), p->data.end(), a.data.begin() + off);
      if (p->bhs[1] & 0x01) {  // S: phase-collapsed status
        a.status_pdu = *p;
        return a;
      }
      continue;
    }
    if (p->opcode() == kScsiResponse) {
      a.status_pdu = *p;
      return a;
    }
  }
  FAIL("no status for the command");
  return a;
}
uint8_t status_of(const Answer& a) { return a.status_pdu.bhs[3]; }

// A proxied task that broke the protocol fails like a task whose answer cannot come: CHECK
// CONDITION, NOT READY, LOGICAL UNIT NOT ACCESSIBLE, TARGET PORT IN UNAVAILABLE STATE.
bool failed_unavailable(const Answer& a) {
  const auto& p = a.status_pdu;
  if (p.opcode() != kScsiResponse || p.bhs[3] != 0x02 || p.data.size() < 2 + 14) return false;
  return (p.data[2 + 2] & 0x0f) == 0x02 && p.data[2 + 12] == 0x04 && p.data[2 + 13] == 0x0c;
}

// The STATUS {SCSI_CMD, task, protocol_error} stmfd answers a broken SCSI_DATA/SCSI_STATUS with.
bool protocol_error_for(FakePeer& peer, uint64_t task) {
  auto s = peer.wait_for<Status>([&](const Status& s) { return s.msg_type == uint8_t(MsgType::scsi_cmd) && s.msg_id == task; });
  return s && s->second.status == uint32_t(ProxyStatus::protocol_error);
}

// The owner's correct answer to a READ: `n` bytes of `fill`, data_in_length `n` (or `total`).
void answer_good(FakePeer& peer, uint64_t task, uint64_t session, uint32_t n, uint8_t fill, uint32_t total = 0) {
  peer.post(Message{0, ScsiData{task, session, 0, std::vector<uint8_t>(n, fill)}});
  ScsiStatus st;
  st.task_id = task;
  st.session_id = session;
  st.transfer_length = total ? total : n;
  st.data_in_length = total ? total : n;
  peer.post(Message{0, st});
}

// The session still works through the proxy after a failed task: a READ answered correctly.
void read_still_works(FakePeer& peer, RawInitiator& r) {
  send_read(r, 1, 512);
  auto [task, cmd] = forwarded_read(peer);
  answer_good(peer, task, cmd.session_id, 512, 0x5a);
  auto a = answer(r);
  CHECK(status_of(a) == 0x00);
  CHECK(a.data == std::vector<uint8_t>(512, 0x5a));
}

}  // namespace

TEST_CASE("the standby node refuses Data-In its peer places beyond the task", "[proxy][alua]") {
  Daemon d(standby_node());
  FakePeer peer(d);
  link_up_as_owner(peer);
  RawInitiator r(d.port());
  REQUIRE(r.login(d.iqn()) == 0);

  SECTION("beyond the task's expected transfer length") {
    send_read(r, 1, 512);
    auto [task, cmd] = forwarded_read(peer);
    CHECK(cmd.expected_transfer_length == 512);
    peer.post(Message{0, ScsiData{task, cmd.session_id, 0, std::vector<uint8_t>(1024, 0xee)}});
    CHECK(protocol_error_for(peer, task));
    CHECK(failed_unavailable(answer(r)));
    // What the peer sends for the failed task afterwards is dropped: no second answer.
    answer_good(peer, task, cmd.session_id, 512, 0xee);
    read_still_works(peer, r);
    CHECK(d.log_text().find("beyond its expected transfer length 512") != std::string::npos);
  }

  SECTION("at an offset near 4 GiB (the node would allocate it)") {
    send_read(r, 1, 512);
    auto [task, cmd] = forwarded_read(peer);
    peer.post(Message{0, ScsiData{task, cmd.session_id, 0xfff00000u, std::vector<uint8_t>(4096, 0xee)}});
    CHECK(protocol_error_for(peer, task));
    CHECK(failed_unavailable(answer(r)));
    read_still_works(peer, r);
  }

  SECTION("a SCSI_STATUS that names more Data-In than arrived or than any LU moves") {
    send_read(r, 1, 512);
    auto [task, cmd] = forwarded_read(peer);
    answer_good(peer, task, cmd.session_id, 512, 0x11, 0xffffffffu);
    CHECK(protocol_error_for(peer, task));
    CHECK(failed_unavailable(answer(r)));

    send_read(r, 1, 512);
    auto [task2, cmd2] = forwarded_read(peer);
    ScsiStatus st;  // GOOD with 512 bytes of Data-In announced, none sent
    st.task_id = task2;
    st.session_id = cmd2.session_id;
    st.transfer_length = 512;
    st.data_in_length = 512;
    peer.post(Message{0, st});
    CHECK(protocol_error_for(peer, task2));
    CHECK(failed_unavailable(answer(r)));
    read_still_works(peer, r);
  }

  SECTION("Data-In beyond the EDTL stays with the owner: the overflow residual comes from data_in_length") {
    send_read(r, 2, 512);  // the CDB asks for 1024 bytes, the initiator expects 512
    auto [task, cmd] = forwarded_read(peer);
    answer_good(peer, task, cmd.session_id, 512, 0x33, 1024);
    auto a = answer(r);
    CHECK(status_of(a) == 0x00);
    CHECK(a.data == std::vector<uint8_t>(512, 0x33));
    CHECK((a.status_pdu.bhs[1] & 0x04) != 0);    // O: residual overflow
    CHECK(a.status_pdu.field32(44) == 512);      // residual count
  }
}

TEST_CASE("the owner sends Data-In over the link only up to the task's EDTL", "[proxy][alua]") {
  DaemonOptions o;
  o.top_json_extra = R"("alua": {"enabled": true, "node": 0, "carrier": "door"}, )";
  o.lun0_json_extra = ", \"epoch\": 5";
  Daemon d(o);
  FakePeer peer(d);
  auto hello = peer.wait_for<Hello>([](const Hello& h) { return h.node == 0; });
  REQUIRE(hello);
  peer.post(Message{1, Hello{1, 0x00fe11ced0000003ull, true, "fake-standby"}});
  peer.post(Message{2, LuList{}});
  auto reg = peer.wait_for<RegisterLun>([](const RegisterLun&) { return true; });
  REQUIRE(reg);
  constexpr uint64_t kSession = 78;
  constexpr uint16_t kRtpi = 32768 + 1;
  peer.post(Message{10, RegisterProxyPort{kRtpi, 2, "iqn.2026-11.org.example:fake,t,0x0001", "iqn.2026-11.org.example:fake"}});
  peer.post(Message{11, SessionCreate{kSession, kRtpi, "iqn.2026-11.org.example:host", "400001370000", {{0, reg->second.guid}}}});
  auto created = peer.wait_for<Status>([](const Status& s) { return s.msg_type == uint8_t(MsgType::session_create); });
  REQUIRE(created);
  REQUIRE(created->second.status == uint32_t(ProxyStatus::success));

  uint64_t id = 100;
  auto run = [&](std::vector<uint8_t> cdb, stmf::DataDirection dir, uint32_t edtl, std::vector<uint8_t> out = {}) {
    ScsiCmd c;
    c.session_id = kSession;
    c.guid = reg->second.guid;
    c.epoch = 5;
    c.tag = uint32_t(++id);
    c.direction = uint8_t(dir);
    c.expected_transfer_length = edtl;
    c.cdb = std::move(cdb);
    c.immediate_data = std::move(out);
    peer.post(Message{id, c});
    auto s = peer.wait_for<ScsiStatus>([&](const ScsiStatus& x) { return x.task_id == id; });
    REQUIRE(s);
    return s->second;
  };
  const std::vector<uint8_t> read2 = {0x28, 0, 0, 0, 0, 0, 0, 0, 2, 0};
  // READ(10) of 2 blocks with an EDTL of one block, until the POWER ON unit attention is gone.
  ScsiStatus st;
  for (int i = 0; i < 5; ++i)
    if ((st = run(read2, stmf::DataDirection::in, 512)).scsi_status == 0) break;
  REQUIRE(st.scsi_status == 0);
  CHECK(st.data_in_length == 1024);  // the command's Data-In length
  // The Data-In frames (sent before the status) hold 512 bytes in all.
  size_t carried = 0;
  while (auto dd = peer.wait_for<ScsiData>([&](const ScsiData& x) { return x.task_id == st.task_id; })) {
    CHECK(dd->second.offset + dd->second.data.size() <= 512);
    carried += dd->second.data.size();
    if (carried >= 512) break;
  }
  CHECK(carried == 512);

  // SET TARGET PORT GROUPS on the owner takes PARAMETER LIST LENGTH bytes (8: header and one
  // descriptor), not the whole Data-Out buffer; fewer is INVALID FIELD IN INFORMATION UNIT.
  const std::vector<uint8_t> stpg = {0xa4, 0x0a, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0};
  std::vector<uint8_t> list = {0, 0, 0, 0, 0x00 /* Active/Optimized */, 0, 0, 1 /* TPG of node 0: ours */};
  auto short_st = run(stpg, stmf::DataDirection::out, 4, {0, 0, 0, 0});
  CHECK(short_st.scsi_status == 0x02);
  REQUIRE(short_st.sense.size() >= 14);
  CHECK((short_st.sense[2] & 0x0f) == 0x05);
  CHECK(short_st.sense[12] == 0x0e);
  CHECK(short_st.sense[13] == 0x03);
  list.resize(12, 0);  // 4 bytes beyond the list (they would read as a descriptor of group 0)
  auto long_st = run(stpg, stmf::DataDirection::out, 12, list);
  CHECK(long_st.scsi_status == 0x00);  // our group is already Active/Optimized
  CHECK(long_st.transfer_length == 8);
}
