// Bad input on the wire: the target answers with Reject / login failure / CHECK CONDITION or
// drops only the offending connection, logs why, and keeps serving everyone else.
#include <catch2/catch.hpp>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <cstring>

#include "test/integration/daemon.h"
#include "test/integration/raw_initiator.h"

using stmf::test::Daemon;
using stmf::test::RawInitiator;

namespace {

// Proves the daemon still serves a well-behaved libiscsi session.
bool healthy(const Daemon& d) {
  iscsi_context* c = iscsi_create_context("iqn.2026-11.org.example:bystander");
  iscsi_set_targetname(c, d.iqn().c_str());
  iscsi_set_session_type(c, ISCSI_SESSION_NORMAL);
  iscsi_set_timeout(c, 10);
  bool ok = iscsi_full_connect_sync(c, d.portal().c_str(), 0) == 0;
  for (int i = 0; ok && i < 3; ++i) {
    scsi_task* t = iscsi_testunitready_sync(c, 0);
    ok = t != nullptr;
    bool good = ok && t->status == SCSI_STATUS_GOOD;
    if (t) scsi_free_scsi_task(t);
    if (good) break;
  }
  iscsi_destroy_context(c);
  return ok;
}

std::optional<stmf::test::RawPdu> expect_opcode(RawInitiator& r, uint8_t opcode) {
  for (int i = 0; i < 4; ++i) {
    auto p = r.recv();
    if (!p) return std::nullopt;
    if (p->opcode() == opcode) return p;
  }
  return std::nullopt;
}

bool ping(RawInitiator& r, uint32_t tag) {
  if (!r.send(r.nop_out(tag))) return false;
  auto p = expect_opcode(r, 0x20);
  return p && p->field32(16) == tag;
}

}  // namespace

TEST_CASE("a non-login PDU before login closes only that connection", "[integration][malformed]") {
  Daemon d;
  RawInitiator r(d.port());
  REQUIRE(r.connected());
  REQUIRE(r.send(r.nop_out(7)));
  CHECK(r.closed_by_target());
  CHECK(healthy(d));
  CHECK(d.log_text().find("non-login PDU during login") != std::string::npos);
}

TEST_CASE("login to an unknown target fails with 02/03 NOT FOUND", "[integration][malformed]") {
  Daemon d;
  RawInitiator r(d.port());
  CHECK(r.login("iqn.2026-11.org.example:nosuch") == 0x0203);
  CHECK(healthy(d));
}

TEST_CASE("an unknown opcode is rejected and the session goes on", "[integration][malformed]") {
  Daemon d;
  RawInitiator r(d.port());
  REQUIRE(r.login(d.iqn()) == 0);
  std::array<uint8_t, 48> h{};
  h[0] = 0x1e;  // not an initiator opcode
  h[1] = 0x80;
  REQUIRE(r.send(h));
  auto rej = expect_opcode(r, 0x3f);
  REQUIRE(rej);
  CHECK(rej->bhs[2] == 0x05);  // command not supported
  REQUIRE(rej->data.size() == 48);
  CHECK(rej->data[0] == 0x1e);  // the offending header comes back
  CHECK(ping(r, 0x1234));
  CHECK(healthy(d));
}

TEST_CASE("a data segment longer than MaxRecvDataSegmentLength is rejected", "[integration][malformed]") {
  Daemon d;
  RawInitiator r(d.port());
  REQUIRE(r.login(d.iqn(), {"MaxRecvDataSegmentLength=65536"}) == 0);
  std::vector<uint8_t> big(300 * 1024, 0xab);  // beyond the default 256 KiB
  REQUIRE(r.send(r.nop_out(5), big));
  auto rej = expect_opcode(r, 0x3f);
  REQUIRE(rej);
  CHECK(rej->bhs[2] == 0x04);  // protocol error
  CHECK(ping(r, 6));
  CHECK(healthy(d));
}

TEST_CASE("a data digest error on immediate data: Reject, then CHECK CONDITION, session survives", "[integration][malformed]") {
  Daemon d;
  RawInitiator r(d.port());
  REQUIRE(r.login(d.iqn(), {"DataDigest=CRC32C", "ImmediateData=Yes"}) == 0);
  REQUIRE(r.data_digest);
  // First command of a new nexus: the POWER ON unit attention.
  uint8_t tur[6] = {0};
  REQUIRE(r.send(r.scsi_command(tur, 6, 0, false, false, 0)));
  auto ua = expect_opcode(r, 0x21);
  REQUIRE(ua);
  CHECK(ua->bhs[3] == 0x02);
  uint8_t cdb[10] = {0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0};  // WRITE(10) one block at LBA 0
  std::vector<uint8_t> data(512, 0x5a);
  REQUIRE(r.send(r.scsi_command(cdb, 10, 512, false, true, 512), data, false, /*corrupt data digest*/ true));
  auto rej = expect_opcode(r, 0x3f);
  REQUIRE(rej);
  CHECK(rej->bhs[2] == 0x02);  // data digest error
  auto rsp = expect_opcode(r, 0x21);
  REQUIRE(rsp);
  CHECK(rsp->bhs[3] == 0x02);  // CHECK CONDITION
  REQUIRE(rsp->data.size() >= 2 + 14);
  CHECK((rsp->data[2 + 2] & 0x0f) == 0x0b);  // ABORTED COMMAND
  CHECK(rsp->data[2 + 12] == 0x47);           // PROTOCOL SERVICE CRC ERROR
  // The same write with a good digest succeeds.
  REQUIRE(r.send(r.scsi_command(cdb, 10, 512, false, true, 512), data));
  auto ok = expect_opcode(r, 0x21);
  REQUIRE(ok);
  CHECK(ok->bhs[3] == 0x00);
  CHECK(healthy(d));
}

TEST_CASE("a header digest error drops the connection, not the daemon", "[integration][malformed]") {
  Daemon d;
  RawInitiator r(d.port());
  REQUIRE(r.login(d.iqn(), {"HeaderDigest=CRC32C"}) == 0);
  REQUIRE(r.header_digest);
  REQUIRE(ping(r, 1));
  REQUIRE(r.send(r.nop_out(2), {}, /*corrupt header digest*/ true));
  CHECK(r.closed_by_target());
  CHECK(healthy(d));
  CHECK(d.log_text().find("header digest error") != std::string::npos);
}

TEST_CASE("a command outside the CmdSN window is ignored, the next in-window one runs", "[integration][malformed]") {
  Daemon d;
  RawInitiator r(d.port());
  REQUIRE(r.login(d.iqn()) == 0);
  uint8_t tur[6] = {0};
  auto h = r.scsi_command(tur, 6, 0, false, false, 0);
  // CmdSN far beyond MaxCmdSN.
  h[24] += 0x40;
  REQUIRE(r.send(h));
  CHECK_FALSE(r.recv(500));  // nothing comes back
  r.cmd_sn--;                // the ignored command did not consume a CmdSN
  REQUIRE(r.send(r.scsi_command(tur, 6, 0, false, false, 0)));
  auto rsp = expect_opcode(r, 0x21);
  REQUIRE(rsp);  // first command of the nexus: POWER ON unit attention, but a response
  CHECK(healthy(d));
}

TEST_CASE("garbage instead of a login closes the connection", "[integration][malformed]") {
  Daemon d;
  RawInitiator r(d.port());
  std::vector<uint8_t> junk(100, 0xff);
  REQUIRE(r.send_raw(junk.data(), junk.size()));
  CHECK(r.closed_by_target());
  CHECK(healthy(d));
}

TEST_CASE("a new login with the same InitiatorName and ISID reinstates the session", "[integration][session]") {
  Daemon d;
  RawInitiator first(d.port()), second(d.port());  // same initiator name, same ISID
  REQUIRE(first.login(d.iqn()) == 0);
  REQUIRE(ping(first, 1));
  REQUIRE(second.login(d.iqn()) == 0);
  // RFC 7143 6.3.5: the old session is closed, the new one serves.
  CHECK(first.closed_by_target());
  CHECK(ping(second, 2));
  CHECK(d.log_text().find("session reinstatement") != std::string::npos);
}

TEST_CASE("an initiator that never answers the target's NOP-In ping is disconnected", "[integration][session]") {
  stmf::test::DaemonOptions o;
  o.iscsi_json = "\"nop_in_interval_s\": 1, \"nop_in_timeout_s\": 1";
  Daemon d(o);
  RawInitiator r(d.port());
  REQUIRE(r.login(d.iqn()) == 0);
  // The ping arrives: NOP-In with a TTT and the reserved ITT. We ignore it.
  auto nop = expect_opcode(r, 0x20);
  REQUIRE(nop);
  CHECK(nop->field32(16) == 0xffffffff);
  CHECK(nop->field32(20) != 0xffffffff);
  CHECK(r.closed_by_target(10000));  // generous bound: interval + timeout is 2 s
  CHECK(d.log_text().find("keepalive timeout") != std::string::npos);
  CHECK(healthy(d));
}

namespace {
// A Text Request (RFC 7143 11.10), immediate, F=1, carrying `text` (a NUL is appended).
std::array<uint8_t, 48> text_request(RawInitiator& r, uint32_t itt) {
  std::array<uint8_t, 48> h{};
  h[0] = 0x40 | 0x04;
  h[1] = 0x80;
  for (int i = 0; i < 4; ++i) {
    h[16 + i] = uint8_t(itt >> (24 - 8 * i));
    h[20 + i] = 0xff;
    h[24 + i] = uint8_t(r.cmd_sn >> (24 - 8 * i));
    h[28 + i] = uint8_t(r.exp_stat_sn >> (24 - 8 * i));
  }
  return h;
}
std::vector<uint8_t> text(const std::string& s) {
  std::vector<uint8_t> v(s.begin(), s.end());
  v.push_back(0);
  return v;
}
}  // namespace

TEST_CASE("every SendTargets Text Request is answered and the session goes on", "[integration][malformed][text]") {
  Daemon d;
  RawInitiator r(d.port());
  REQUIRE(r.login(d.iqn()) == 0);
  // Neither All nor an iSCSI name: a malformed request, rejected (Protocol Error) with the
  // offending header, never left unanswered.
  for (const char* bad : {"SendTargets=Alle", "SendTargets=A"}) {
    INFO(bad);
    REQUIRE(r.send(text_request(r, 0x70), text(bad)));
    auto rej = r.recv();
    REQUIRE(rej);
    REQUIRE(rej->opcode() == 0x3f);
    CHECK(rej->bhs[2] == 0x04);
    REQUIRE(rej->data.size() == 48);
    CHECK(rej->data[0] == (0x40 | 0x04));
  }
  // A well-formed name no target has: an empty list (a final Text Response, no keys).
  REQUIRE(r.send(text_request(r, 0x71), text("SendTargets=iqn.2026-11.org.example:nosuch")));
  auto none = r.recv();
  REQUIRE(none);
  CHECK(none->opcode() == 0x24);
  CHECK(none->field32(16) == 0x71);
  CHECK((none->bhs[1] & 0x80) != 0);
  CHECK(none->data.empty());
  // The session's own target by name, and All: listed.
  for (std::string v : {d.iqn(), std::string("All")}) {
    INFO(v);
    REQUIRE(r.send(text_request(r, 0x72), text("SendTargets=" + v)));
    auto all = r.recv();
    REQUIRE(all);
    CHECK(all->opcode() == 0x24);
    const std::string body(all->data.begin(), all->data.end());
    CHECK(body.find("TargetName=" + d.iqn()) != std::string::npos);
  }
  // A key the target does not know: key=NotUnderstood (RFC 7143 6.2).
  REQUIRE(r.send(text_request(r, 0x73), text("SendTargetsPlease=All")));
  auto nu = r.recv();
  REQUIRE(nu);
  CHECK(nu->opcode() == 0x24);
  CHECK(std::string(nu->data.begin(), nu->data.end()).find("SendTargetsPlease=NotUnderstood") != std::string::npos);
  CHECK(ping(r, 0x74));
  CHECK(d.log_text().find("SendTargets=Alle is neither All nor an iSCSI name") != std::string::npos);
}

namespace {
// Starts WRITE(10) of one block at LBA 0 without data (ImmediateData=No): the target answers
// with an R2T and the task stays in flight until its Data-Out. Returns the task's ITT and the
// R2T's TTT.
std::pair<uint32_t, uint32_t> write_in_flight(RawInitiator& r) {
  uint8_t tur[6] = {0};
  REQUIRE(r.send(r.scsi_command(tur, 6, 0, false, false, 0)));  // POWER ON unit attention
  REQUIRE(expect_opcode(r, 0x21));
  const uint32_t itt = r.itt;
  uint8_t cdb[10] = {0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0};
  REQUIRE(r.send(r.scsi_command(cdb, 10, 512, false, true, 0)));
  auto r2t = expect_opcode(r, 0x31);
  REQUIRE(r2t);
  REQUIRE(r2t->field32(16) == itt);
  return {itt, r2t->field32(20)};
}
// A SCSI Command header reusing `itt` (and the next CmdSN).
std::array<uint8_t, 48> with_itt(std::array<uint8_t, 48> h, uint32_t itt) {
  for (int i = 0; i < 4; ++i) h[16 + i] = uint8_t(itt >> (24 - 8 * i));
  return h;
}
}  // namespace

TEST_CASE("a command reusing the ITT of a task in flight is rejected, the task in flight completes",
          "[integration][malformed][itt]") {
  Daemon d;
  const int variant = GENERATE(0, 1, 2);
  RawInitiator r(d.port());
  std::vector<std::string> keys = {"ImmediateData=Yes", "InitialR2T=Yes"};
  if (variant == 2) keys.push_back("DataDigest=CRC32C");
  REQUIRE(r.login(d.iqn(), keys) == 0);
  auto [itt, ttt] = write_in_flight(r);
  const uint32_t sn = r.cmd_sn;
  std::vector<uint8_t> data(512, 0x5a);
  switch (variant) {
    case 0: {  // an ordinary command
      uint8_t tur[6] = {0};
      REQUIRE(r.send(with_itt(r.scsi_command(tur, 6, 0, false, false, 0), itt)));
      break;
    }
    case 1: {  // a write above the write limit (refused without allocating)
      uint8_t big[10] = {0x2a, 0, 0, 0, 0, 0x10, 0, 0xff, 0xff, 0};
      REQUIRE(r.send(with_itt(r.scsi_command(big, 10, 64u << 20, false, true, 0), itt)));
      break;
    }
    default: {  // immediate data with a bad data digest
      uint8_t w[10] = {0x2a, 0, 0, 0, 0, 0x20, 0, 0, 1, 0};
      REQUIRE(r.send(with_itt(r.scsi_command(w, 10, 512, false, true, 512), itt), std::vector<uint8_t>(512, 0xee), false, true));
      break;
    }
  }
  INFO("variant " << variant);
  // RFC 7143 11.17.1: Reject, Invalid PDU field, with the offending header; nothing else.
  auto rej = r.recv();
  REQUIRE(rej);
  REQUIRE(rej->opcode() == 0x3f);
  CHECK(rej->bhs[2] == 0x09);
  REQUIRE(rej->data.size() == 48);
  CHECK(rej->data[16] == uint8_t(itt >> 24));
  CHECK(rej->data[19] == uint8_t(itt));
  // The task in flight is untouched: its Data-Out completes it with GOOD.
  REQUIRE(r.send(r.data_out(itt, ttt, 0, 0, true), data));
  auto rsp = r.recv();
  REQUIRE(rsp);
  CHECK(rsp->opcode() == 0x21);
  CHECK(rsp->field32(16) == itt);
  CHECK(rsp->bhs[3] == 0x00);
  // RFC 7143 6.3: the rejected command's CmdSN was not taken: a command may use it again.
  r.cmd_sn = sn;
  uint8_t tur[6] = {0};
  REQUIRE(r.send(r.scsi_command(tur, 6, 0, false, false, 0)));
  auto again = r.recv();
  REQUIRE(again);
  CHECK(again->opcode() == 0x21);
  CHECK(again->bhs[3] == 0x00);
  CHECK(healthy(d));
}
