// Resource limits of the iSCSI transport (docs/security.md "Resource limits"): a client that
// exceeds each limit gets the documented answer, the daemon's memory / descriptors / log stay
// bounded (measured from /proc with generous margins: bounds, not timings), and a bystander
// session logged in beforehand keeps its I/O going.
#include <catch2/catch.hpp>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "test/integration/daemon.h"
#include "test/integration/raw_initiator.h"

using stmf::test::Daemon;
using stmf::test::DaemonOptions;
using stmf::test::RawInitiator;
using stmf::test::RawPdu;

namespace {

long rss_kb(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

size_t fd_count(pid_t pid) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++n;
  return n;
}

size_t occurrences(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

// A well-behaved libiscsi session, logged in before the attack, that must keep working.
class Bystander {
 public:
  explicit Bystander(const Daemon& d) : c_(iscsi_create_context("iqn.2026-11.org.example:bystander")) {
    iscsi_set_targetname(c_, d.iqn().c_str());
    iscsi_set_session_type(c_, ISCSI_SESSION_NORMAL);
    iscsi_set_timeout(c_, 10);
    connected_ = iscsi_full_connect_sync(c_, d.portal().c_str(), 0) == 0;
  }
  ~Bystander() { iscsi_destroy_context(c_); }
  bool connected() const { return connected_; }
  // Writes 64 KiB at `lba` and reads it back.
  bool io(uint32_t lba) {
    if (!connected_) return false;
    std::vector<uint8_t> data(65536);
    for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i * 7 + lba + round_);
    ++round_;
    scsi_task* w = iscsi_write10_sync(c_, 0, lba, data.data(), uint32_t(data.size()), 512, 0, 0, 0, 0, 0);
    bool ok = w && w->status == SCSI_STATUS_GOOD;
    if (w) scsi_free_scsi_task(w);
    if (!ok) return false;
    scsi_task* r = iscsi_read10_sync(c_, 0, lba, uint32_t(data.size()), 512, 0, 0, 0, 0, 0);
    ok = r && r->status == SCSI_STATUS_GOOD && r->datain.size == int(data.size()) &&
         std::memcmp(r->datain.data, data.data(), data.size()) == 0;
    if (r) scsi_free_scsi_task(r);
    return ok;
  }

 private:
  iscsi_context* c_;
  bool connected_ = false;
  int round_ = 0;
};

// Everything the target sends until it has been quiet for `quiet_ms`.
std::vector<RawPdu> drain(RawInitiator& r, int quiet_ms = 1500) {
  std::vector<RawPdu> v;
  while (auto p = r.recv(quiet_ms)) v.push_back(std::move(*p));
  return v;
}

// WRITE(10) of 65535 blocks of 512 bytes at LBA 0: EDTL just under 32 MiB.
constexpr uint32_t kBigEdtl = 65535u * 512u;
std::array<uint8_t, 48> big_write(RawInitiator& r, bool immediate) {
  const uint8_t cdb[10] = {0x2a, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0};
  auto h = r.scsi_command(cdb, sizeof cdb, kBigEdtl, false, true, 0);
  if (immediate) {
    h[0] |= 0x40;
    --r.cmd_sn;  // an immediate command carries the next CmdSN without using it
  }
  return h;
}

DaemonOptions with_iscsi(const std::string& json) {
  DaemonOptions o;
  o.iscsi_json = json;
  return o;
}

constexpr long kMiB = 1024;  // in kB, as /proc reports RSS

}  // namespace

TEST_CASE("write buffers are budgeted and immediate commands limited", "[integration][limits]") {
  // Two buffers of ~32 MiB fit the session budget; immediate commands beyond 2 are rejected.
  Daemon d(with_iscsi("\"max_immediate_commands\": 2, \"session_data_buffer\": 100000000"));
  Bystander b(d);
  REQUIRE(b.connected());
  REQUIRE(b.io(100));
  const long before = rss_kb(d.pid());

  // Immediate WRITEs with a huge EDTL and 1 KiB of data each (finding 3).
  RawInitiator imm(d.port(), "iqn.2026-11.org.example:imm");
  REQUIRE(imm.login(d.iqn()) == 0);
  const std::vector<uint8_t> data(1024, 0xab);
  for (int i = 0; i < 8; ++i) REQUIRE(imm.send(big_write(imm, true), data));
  size_t rejected_immediate = 0, r2ts = 0;
  for (auto& p : drain(imm)) {
    if (p.opcode() == 0x3f && p.bhs[2] == 0x06) ++rejected_immediate;
    if (p.opcode() == 0x31) ++r2ts;
  }
  CHECK(rejected_immediate == 6);  // RFC 7143 11.17.1 reason 0x06
  CHECK(r2ts == 2);

  // Within the CmdSN window: two buffers fit the session budget, the rest end with TASK SET FULL.
  RawInitiator win(d.port(), "iqn.2026-11.org.example:win");
  REQUIRE(win.login(d.iqn()) == 0);
  for (int i = 0; i < 8; ++i) REQUIRE(win.send(big_write(win, false)));
  size_t full = 0;
  r2ts = 0;
  for (auto& p : drain(win)) {
    if (p.opcode() == 0x21 && p.bhs[3] == 0x28) ++full;
    if (p.opcode() == 0x31) ++r2ts;
  }
  CHECK(r2ts == 2);
  CHECK(full == 6);

  CHECK(b.io(200));
  const long grown = rss_kb(d.pid()) - before;
  INFO("RSS grew by " << grown / kMiB << " MiB");
  CHECK(grown < 48 * kMiB);  // before the budget: 16 x 32 MiB zero-filled
  CHECK(d.log_text().find("data buffer budget") != std::string::npos);
}

TEST_CASE("reads are charged against the data buffer budget too", "[integration][limits]") {
  // Room for one ~32 MiB buffer per session.
  Daemon d(with_iscsi("\"session_data_buffer\": 40000000"));
  Bystander b(d);
  REQUIRE(b.connected());
  RawInitiator r(d.port(), "iqn.2026-11.org.example:reader");
  REQUIRE(r.login(d.iqn()) == 0);
  const long before = rss_kb(d.pid());
  // A write that never sends its data holds the session's budget...
  REQUIRE(r.send(big_write(r, false)));
  auto p = r.recv();
  REQUIRE(p);
  REQUIRE(p->opcode() == 0x31);
  // ...so READ(10)s of 65535 blocks find none left: with the EDTL announced, or with an EDTL
  // of 0 and no R bit (the LU would read the CDB's blocks either way).
  const uint8_t cdb[10] = {0x28, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0};
  for (int i = 0; i < 4; ++i) REQUIRE(r.send(r.scsi_command(cdb, sizeof cdb, i % 2 ? 0 : kBigEdtl, i % 2 == 0, false, 0)));
  size_t full = 0, data_in = 0;
  for (auto& q : drain(r)) {
    full += q.opcode() == 0x21 && q.bhs[3] == 0x28;
    data_in += q.opcode() == 0x25;
  }
  CHECK(full == 4);  // TASK SET FULL
  CHECK(data_in == 0);
  CHECK(b.io(1500));
  const long grown = rss_kb(d.pid()) - before;
  INFO("RSS grew by " << grown / kMiB << " MiB");
  CHECK(grown < 24 * kMiB);  // before: each read's 32 MiB
  CHECK(d.log_text().find("read of 33553920 bytes over the data buffer budget") != std::string::npos);
}

TEST_CASE("the daemon-wide write budget answers BUSY and comes back when buffers go", "[integration][limits]") {
  // Room for two ~32 MiB buffers in all, not three; each session could hold three.
  Daemon d(with_iscsi("\"total_data_buffer\": 80000000, \"session_data_buffer\": 110000000"));
  Bystander b(d);
  REQUIRE(b.connected());
  auto hog = std::make_unique<RawInitiator>(d.port(), "iqn.2026-11.org.example:hog");
  REQUIRE(hog->login(d.iqn()) == 0);
  for (int i = 0; i < 2; ++i) REQUIRE(hog->send(big_write(*hog, false)));
  size_t r2ts = 0;
  for (auto& p : drain(*hog)) r2ts += p.opcode() == 0x31;
  CHECK(r2ts == 2);  // both buffers granted; no data is ever sent for them

  RawInitiator late(d.port(), "iqn.2026-11.org.example:late");
  REQUIRE(late.login(d.iqn()) == 0);
  REQUIRE(late.send(big_write(late, false)));
  auto p = late.recv();
  REQUIRE(p);
  CHECK(p->opcode() == 0x21);
  CHECK(p->bhs[3] == 0x08);  // BUSY: the session has nothing else in flight
  CHECK(b.io(1200));         // a small write still fits

  hog.reset();  // its connection closes: its buffers are given back
  bool granted = false;
  for (int i = 0; i < 50 && !granted; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    REQUIRE(late.send(big_write(late, false)));
    p = late.recv();
    REQUIRE(p);
    granted = p->opcode() == 0x31;
  }
  CHECK(granted);
  CHECK(b.io(1300));
}

TEST_CASE("a discovery session that never reads its NOP-In replies is not read either", "[integration][limits]") {
  Daemon d;
  Bystander b(d);
  REQUIRE(b.connected());
  RawInitiator r(d.port(), "iqn.2026-11.org.example:flood");
  r.discovery = true;
  REQUIRE(r.login("") == 0);
  r.set_receive_buffer(4096);
  r.set_send_timeout(3000);
  const long before = rss_kb(d.pid());
  const std::vector<uint8_t> data(256 * 1024, 0x5a);
  int sent = 0;
  for (; sent < 400; ++sent)
    if (!r.send(r.nop_out(0x1000 + uint32_t(sent)), data)) break;
  CHECK(sent < 400);  // the target stopped reading (backpressure) and the send timed out
  CHECK(b.io(300));
  const long grown = rss_kb(d.pid()) - before;
  INFO("sent " << sent << " NOP-Outs of 256 KiB; RSS grew by " << grown / kMiB << " MiB");
  CHECK(grown < 40 * kMiB);  // before: every reply queued, ~100 MiB
}

TEST_CASE("a discarded data segment is read through a small buffer", "[integration][limits]") {
  Daemon d;
  Bystander b(d);
  REQUIRE(b.connected());
  const long before = rss_kb(d.pid());
  std::vector<std::unique_ptr<RawInitiator>> rs;
  for (int i = 0; i < 6; ++i) {
    auto r = std::make_unique<RawInitiator>(d.port(), "iqn.2026-11.org.example:skip");
    r->discovery = true;
    REQUIRE(r->login("") == 0);
    // A NOP-Out announcing 16 MiB - 1 (over MaxRecvDataSegmentLength): rejected, the data
    // skipped. Only 1 KiB of it comes.
    auto h = r->nop_out(77);
    std::vector<uint8_t> bytes(h.begin(), h.end());
    bytes[5] = bytes[6] = bytes[7] = 0xff;
    bytes.resize(48 + 1024, 0);
    REQUIRE(r->send_raw(bytes.data(), bytes.size()));
    auto rej = r->recv();
    REQUIRE(rej);
    CHECK(rej->opcode() == 0x3f);
    rs.push_back(std::move(r));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(b.io(400));
  const long grown = rss_kb(d.pid()) - before;
  INFO("RSS grew by " << grown / kMiB << " MiB");
  CHECK(grown < 32 * kMiB);  // before: 6 x 16 MiB zero-filled
}

TEST_CASE("connection caps: per source address and global at accept, per initiator at login", "[integration][limits]") {
  Daemon d(with_iscsi("\"max_connections\": 8, \"max_connections_per_address\": 3, \"max_sessions_per_initiator\": 2"));
  Bystander b(d);  // from 127.0.0.1
  REQUIRE(b.connected());
  const size_t fds_before = fd_count(d.pid());

  SECTION("per source address") {
    std::vector<std::unique_ptr<RawInitiator>> rs;
    for (int i = 0; i < 10; ++i) rs.push_back(std::make_unique<RawInitiator>(d.port(), "iqn.2026-11.org.example:a", "127.0.0.2"));
    size_t closed = 0;
    for (auto& r : rs) closed += r->closed_by_target(300);
    CHECK(closed == 7);
    CHECK(fd_count(d.pid()) <= fds_before + 3);
    CHECK(b.io(500));
    CHECK(d.log_text().find("max_connections_per_address 3") != std::string::npos);
  }
  SECTION("global") {
    std::vector<std::unique_ptr<RawInitiator>> rs;
    for (int i = 0; i < 5; ++i)
      for (const char* src : {"127.0.0.2", "127.0.0.3", "127.0.0.4"})
        rs.push_back(std::make_unique<RawInitiator>(d.port(), "iqn.2026-11.org.example:g", src));
    size_t closed = 0;
    for (auto& r : rs) closed += r->closed_by_target(300);
    CHECK(closed == 15 - 7);  // 8 connections in all, the bystander's among them
    CHECK(fd_count(d.pid()) <= fds_before + 7);
    CHECK(b.io(600));  // an admitted session is not disturbed
    CHECK(d.log_text().find("max_connections 8") != std::string::npos);
    rs.clear();
    // The slots come back when the connections go.
    for (int i = 0; i < 50 && fd_count(d.pid()) > fds_before; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    Bystander again(d);
    CHECK(again.connected());
  }
  SECTION("per initiator name") {
    std::vector<std::unique_ptr<RawInitiator>> rs;
    int statuses[3];
    for (int i = 0; i < 3; ++i) {
      // From three addresses: the per-address cap is not what refuses the third.
      rs.push_back(std::make_unique<RawInitiator>(d.port(), "iqn.2026-11.org.example:same", "127.0.0." + std::to_string(5 + i)));
      rs.back()->isid_qualifier = uint16_t(i + 1);
      statuses[i] = rs.back()->login(d.iqn());
    }
    CHECK(statuses[0] == 0);
    CHECK(statuses[1] == 0);
    CHECK(statuses[2] == 0x0206);  // too many connections
    CHECK(b.io(700));
    CHECK(d.log_text().find("max_sessions_per_initiator 2") != std::string::npos);
  }
}

TEST_CASE("max_sessions_per_initiator counts a login still in progress", "[integration][limits]") {
  Daemon d(with_iscsi("\"max_sessions_per_initiator\": 2"));
  const std::string name = "iqn.2026-11.org.example:same";
  // A Login Request without the T bit: the target answers and the login stays in progress.
  RawInitiator pending(d.port(), name, "127.0.0.5");
  std::array<uint8_t, 48> h{};
  h[0] = 0x43;
  h[1] = (1 << 2) | 3;  // CSG operational, no transit
  h[8] = 0x80;
  h[12] = 0x77;         // an ISID of its own
  h[19] = 1;
  const std::string keys = "InitiatorName=" + name + '\0' + "TargetName=" + d.iqn() + '\0' + "SessionType=Normal" + '\0';
  REQUIRE(pending.send(h, std::vector<uint8_t>(keys.begin(), keys.end())));
  auto p = pending.recv();
  REQUIRE(p);
  REQUIRE(p->opcode() == 0x23);
  REQUIRE((p->bhs[36] << 8 | p->bhs[37]) == 0);
  RawInitiator one(d.port(), name, "127.0.0.6"), two(d.port(), name, "127.0.0.7");
  one.isid_qualifier = 1;
  two.isid_qualifier = 2;
  CHECK(one.login(d.iqn()) == 0);
  CHECK(two.login(d.iqn()) == 0x0206);
}

TEST_CASE("the login timeout closes connections that do not log in", "[integration][limits]") {
  Daemon d(with_iscsi("\"login_timeout_s\": 1"));
  Bystander b(d);
  REQUIRE(b.connected());
  RawInitiator silent(d.port());
  RawInitiator partial(d.port());
  REQUIRE(silent.connected());
  REQUIRE(partial.connected());
  const uint8_t half[20] = {0x43};
  REQUIRE(partial.send_raw(half, sizeof half));  // part of a Login Request header
  CHECK(silent.closed_by_target(10000));
  CHECK(partial.closed_by_target(10000));
  CHECK(occurrences(d.log_text(), "login timed out") == 2);
  CHECK(b.io(800));
}

TEST_CASE("out of descriptors: the open-file limit is raised at start, accept backs off", "[integration][limits]") {
  // Session accounting off: its open-sessions journal is written (a short-lived descriptor) on
  // a thread of its own just after a login, which would make the count below one off.
  DaemonOptions o;
  o.top_json_extra = "\"array_sessions\": {\"accounting\": {\"enabled\": false}}, ";
  Daemon d(o);
  CHECK(d.log_text().find("open-file limit: soft") != std::string::npos);
  Bystander b(d);
  REQUIRE(b.connected());
  // Leave the daemon a few descriptors only.
  rlimit old{};
  REQUIRE(::prlimit(d.pid(), RLIMIT_NOFILE, nullptr, &old) == 0);
  const rlimit rl{rlim_t(fd_count(d.pid()) + 4), old.rlim_max};  // soft only: it can be raised back
  REQUIRE(::prlimit(d.pid(), RLIMIT_NOFILE, &rl, nullptr) == 0);
  {
    std::vector<std::unique_ptr<RawInitiator>> rs;
    for (int i = 0; i < 12; ++i) rs.push_back(std::make_unique<RawInitiator>(d.port(), "iqn.2026-11.org.example:fd", "127.0.0.2"));
    std::this_thread::sleep_for(std::chrono::seconds(2));
    CHECK(b.io(900));  // established sessions go on
    const auto log = d.log_text();
    // One line per back-off episode, never a line per attempt (before: a busy loop).
    CHECK(occurrences(log, "accept: ") <= 2);
    CHECK(occurrences(log, "retrying with back-off") == 1);
  }
  REQUIRE(::prlimit(d.pid(), RLIMIT_NOFILE, &old, nullptr) == 0);
  // Accepting resumes.
  Bystander again(d);
  CHECK(again.connected());
  CHECK(again.io(1000));
  CHECK(d.log_text().find("accept: resumed") != std::string::npos);
}

TEST_CASE("out-of-window PDUs are logged at a bounded rate", "[integration][limits]") {
  Daemon d(with_iscsi("\"warn_burst\": 5"));
  Bystander b(d);
  REQUIRE(b.connected());
  RawInitiator r(d.port());
  REQUIRE(r.login(d.iqn()) == 0);
  // 5000 Text Requests far outside the CmdSN window: each is dropped (RFC 7143 4.2.2.1).
  std::vector<uint8_t> burst;
  for (uint32_t i = 0; i < 5000; ++i) {
    std::array<uint8_t, 48> h{};
    h[0] = 0x04;
    h[1] = 0x80;
    const uint32_t itt = 0x100 + i, cmd_sn = r.cmd_sn + 100000;
    for (int k = 0; k < 4; ++k) {
      h[16 + k] = uint8_t(itt >> (24 - 8 * k));
      h[20 + k] = 0xff;
      h[24 + k] = uint8_t(cmd_sn >> (24 - 8 * k));
    }
    burst.insert(burst.end(), h.begin(), h.end());
  }
  REQUIRE(r.send_raw(burst.data(), burst.size()));
  // The session goes on: a NOP-Out in the window is answered.
  REQUIRE(r.send(r.nop_out(42)));
  auto p = r.recv();
  REQUIRE(p);
  CHECK(p->opcode() == 0x20);
  CHECK(b.io(1100));
  const auto log = d.log_text();
  const size_t lines = occurrences(log, "outside window");
  INFO(lines << " out-of-window lines");
  CHECK(lines <= 5);
  CHECK(lines >= 1);
}
