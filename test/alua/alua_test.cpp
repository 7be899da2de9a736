// The ALUA pair against two real stmfd processes on loopback (scripts/pair.sh), driven by
// libiscsi: what each path reports (INQUIRY, VPD 0x83, REPORT TARGET PORT GROUPS), data and
// reservations through the standby node's proxy, task management and nexus loss across the
// link, and the link going away (peer killed, peer stalled) and coming back.
#include <catch2/catch.hpp>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>
#include <vector>

#include "test/alua/pair.h"
#include "test/alua/pair_scsi.h"
#include "test/integration/libiscsi_util.h"

using namespace stmf::test;

namespace {

constexpr const char* kInitiator1 = "iqn.2026-11.org.example:alua-host1";
constexpr const char* kInitiator2 = "iqn.2026-11.org.example:alua-host2";

std::vector<uint8_t> rtpg(Ctx& ctx) {
  Task t = data_in(ctx, {0xa3, 0x0a, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0}, 4096);
  REQUIRE(t);
  REQUIRE(t->status == SCSI_STATUS_GOOD);
  return bytes(t);
}

// REPORT TARGET PORT GROUPS after the unit attentions pending for this nexus (each access
// state change raises ASYMMETRIC ACCESS STATE CHANGED; a few are consumed, as initiators do).
std::vector<uint8_t> rtpg_after_uas(Ctx& ctx) {
  for (int i = 0; i < 4; ++i) {
    Task t = data_in(ctx, {0xa3, 0x0a, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0}, 4096);
    REQUIRE(t);
    if (t->status == SCSI_STATUS_CHECK_CONDITION && t->sense.key == SCSI_SENSE_UNIT_ATTENTION) continue;
    REQUIRE(t->status == SCSI_STATUS_GOOD);
    return bytes(t);
  }
  FAIL("REPORT TARGET PORT GROUPS: unit attentions without end");
  return {};
}

struct Group {
  int tpg, state;
  bool pref;
  std::vector<int> rtpis;
};
std::vector<Group> parse_rtpg(const std::vector<uint8_t>& d) {
  REQUIRE(d.size() >= 4);
  const size_t len = size_t(d[0]) << 24 | size_t(d[1]) << 16 | size_t(d[2]) << 8 | d[3];
  REQUIRE(d.size() == len + 4);
  std::vector<Group> out;
  for (size_t i = 4; i + 8 <= d.size();) {
    Group g{d[i + 2] << 8 | d[i + 3], d[i] & 0xf, (d[i] & 0x80) != 0, {}};
    const int n = d[i + 7];
    i += 8;
    for (int k = 0; k < n; ++k, i += 4) g.rtpis.push_back(d[i + 2] << 8 | d[i + 3]);
    out.push_back(g);
  }
  return out;
}

// The ALUA state RTPG reports for target port group `tpg`; fails the test when the group is
// not in the list (so a check on it cannot pass by finding nothing).
int state_of(const std::vector<Group>& groups, int tpg) {
  auto it = std::find_if(groups.begin(), groups.end(), [&](const Group& x) { return x.tpg == tpg; });
  INFO("target port group " << tpg << " among " << groups.size() << " reported");
  REQUIRE(it != groups.end());
  return it->state;
}

// VPD 0x83 designators: type -> value bytes (the LU's NAA, relative port, TPG).
std::map<int, std::vector<uint8_t>> designators(Ctx& ctx) {
  Task t = data_in(ctx, {0x12, 0x01, 0x83, 0x10, 0x00, 0x00}, 4096);
  REQUIRE(t);
  REQUIRE(t->status == SCSI_STATUS_GOOD);
  auto d = bytes(t);
  std::map<int, std::vector<uint8_t>> out;
  for (size_t i = 4; i + 4 <= d.size();) {
    const int assoc = (d[i + 1] >> 4) & 3, type = d[i + 1] & 0xf, len = d[i + 3];
    if (assoc == 0 || type == 4 || type == 5) out[type] = std::vector<uint8_t>(d.begin() + i + 4, d.begin() + i + 4 + len);
    i += 4 + len;
  }
  return out;
}

}  // namespace

TEST_CASE("both nodes report one LU with the pair's target port groups", "[alua]") {
  const std::string carrier = GENERATE(std::string("tcp"), std::string("door"));
  INFO("carrier " << carrier);
  Pair p(carrier);
  Ctx a(kInitiator1), b(kInitiator1);
  login(a, p, 0);
  login(b, p, 1);

  // INQUIRY: TPGS = 11b (implicit and explicit ALUA) on both paths.
  for (Ctx* c : {&a, &b}) {
    Task t = data_in(*c, {0x12, 0, 0, 0, 0xff, 0}, 255);
    REQUIRE(t);
    REQUIRE(t->status == SCSI_STATUS_GOOD);
    CHECK(((t->datain.data[5] >> 4) & 3) == 3);
  }

  // VPD 0x83: the same LU designator; each port its own relative port and group.
  auto da = designators(a), db = designators(b);
  REQUIRE(da.count(3));
  CHECK(da[3] == db[3]);
  CHECK(da[4] == std::vector<uint8_t>{0, 0, 0x00, 0x01});  // rtpi 1: node 0, port index 1
  CHECK(db[4] == std::vector<uint8_t>{0, 0, 0x80, 0x01});  // rtpi 32769: node 1, port index 1
  CHECK(da[5] == std::vector<uint8_t>{0, 0, 0, 1});        // target port group 1
  CHECK(db[5] == std::vector<uint8_t>{0, 0, 0, 2});        // target port group 2

  // REPORT TARGET PORT GROUPS: identical through both nodes.
  auto ra = rtpg(a), rb = rtpg(b);
  CHECK(ra == rb);
  auto g = parse_rtpg(ra);
  REQUIRE(g.size() == 2);
  CHECK(g[0].tpg == 1);
  CHECK(g[0].state == 0);  // Active/Optimized: the LU is active on node 0
  CHECK(g[0].pref);
  CHECK(g[0].rtpis == std::vector<int>{1});
  CHECK(g[1].tpg == 2);
  CHECK(g[1].state == 1);  // Active/Non-optimized: node 1 proxies
  CHECK_FALSE(g[1].pref);
  CHECK(g[1].rtpis == std::vector<int>{32769});
}

TEST_CASE("data written through either node reads back through the other", "[alua]") {
  const std::string carrier = GENERATE(std::string("tcp"), std::string("door"));
  INFO("carrier " << carrier);
  Pair p(carrier);
  Ctx a(kInitiator1), b(kInitiator2);
  login(a, p, 0);
  login(b, p, 1);
  // 1 MiB through the standby node: immediate data, then R2T and Data-Out for the rest.
  auto big = pattern(1 << 20, 3);
  write_blocks(b, 100, big);
  CHECK(read_blocks(a, 100, uint32_t(big.size())) == big);
  CHECK(read_blocks(b, 100, uint32_t(big.size())) == big);
  // One block through the active node, read through the standby node.
  auto small = pattern(512, 99);
  write_blocks(a, 5000, small);
  CHECK(read_blocks(b, 5000, 512) == small);
  // The write reached the one backing file (the standby node never opens it).
  Task s(iscsi_synchronizecache10_sync(b, 0, 0, 0, 0, 0));
  REQUIRE(s);
  REQUIRE(s->status == SCSI_STATUS_GOOD);
  int fd = ::open(p.backing().c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  std::vector<uint8_t> file(big.size());
  CHECK(::pread(fd, file.data(), file.size(), 100 * 512) == ssize_t(file.size()));
  ::close(fd);
  CHECK(file == big);
}

// The link runs on a strand of the I/O threads (proxy/service.h): a proxied command wakes no
// other thread. Node 1 holds only a standby LU (no store, so no store thread): after proxied
// I/O its threads are its I/O threads (the default, half the CPUs) and the management thread.
// Before, a proxy thread of its own made one more.
TEST_CASE("the standby node proxies on its I/O threads: no proxy thread of its own", "[alua]") {
  Pair p;
  Ctx b(kInitiator2);
  login(b, p, 1);
  auto data = pattern(64 * 1024, 5);
  write_blocks(b, 300, data);
  CHECK(read_blocks(b, 300, uint32_t(data.size())) == data);
  const unsigned io_threads = std::max(1u, std::thread::hardware_concurrency() / 2);
  const std::string tasks = "/proc/" + std::to_string(p.pid(1)) + "/task";
  std::vector<std::string> threads;
  for (auto& e : std::filesystem::directory_iterator(tasks)) {
    std::ifstream comm(e.path() / "comm");
    std::string name;
    std::getline(comm, name);
    threads.push_back(name);
  }
  INFO("node 1's threads: " << threads.size());
  CHECK(std::count(threads.begin(), threads.end(), std::string("stmfd")) == io_threads + 1);
}

TEST_CASE("reservations through the standby node act on the active node's state", "[alua]") {
  Pair p;
  Ctx a(kInitiator1), b(kInitiator2);
  login(a, p, 0);
  login(b, p, 1);
  REQUIRE(pr_out(b, SCSI_PERSISTENT_RESERVE_REGISTER, 0, 0, 0xb0b) == SCSI_STATUS_GOOD);
  REQUIRE(pr_out(a, SCSI_PERSISTENT_RESERVE_REGISTER, 0, 0, 0xa11ce) == SCSI_STATUS_GOOD);
  auto ka = read_keys(a), kb = read_keys(b);
  CHECK(ka == kb);
  CHECK(ka.second == std::vector<uint64_t>{0xb0b, 0xa11ce});
  // Write Exclusive held through node 1: node 0's initiator (registered, not the holder)
  // gets RESERVATION CONFLICT on a write; the holder writes through node 1.
  REQUIRE(pr_out(b, SCSI_PERSISTENT_RESERVE_RESERVE, SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE, 0xb0b, 0) ==
          SCSI_STATUS_GOOD);
  auto blk = pattern(512, 1);
  Task w(iscsi_write10_sync(a, 0, 7, blk.data(), 512, 512, 0, 0, 0, 0, 0));
  REQUIRE(w);
  CHECK(w->status == SCSI_STATUS_RESERVATION_CONFLICT);
  write_blocks(b, 7, blk);
  // READ FULL STATUS through node 0 names the holder's port: relative target port 32769.
  Task fs = data_in(a, {0x5e, 0x03, 0, 0, 0, 0, 0, 0x10, 0, 0}, 4096);
  REQUIRE(fs);
  REQUIRE(fs->status == SCSI_STATUS_GOOD);
  auto d = bytes(fs);
  bool found = false;
  for (size_t i = 8; i + 24 <= d.size();) {
    uint64_t key = 0;
    for (int k = 0; k < 8; ++k) key = key << 8 | d[i + k];
    const int rtpi = d[i + 18] << 8 | d[i + 19];
    const bool holder = d[i + 12] & 1;
    if (key == 0xb0b) {
      found = true;
      CHECK(rtpi == 32769);
      CHECK(holder);
    }
    const uint32_t tid_len = uint32_t(d[i + 20]) << 24 | d[i + 21] << 16 | d[i + 22] << 8 | d[i + 23];
    i += 24 + tid_len;
  }
  CHECK(found);
}

TEST_CASE("task management and logout on the standby node reach the active node", "[alua]") {
  Pair p;
  Ctx a(kInitiator1);
  login(a, p, 0);
  {
    Ctx b(kInitiator2);
    login(b, p, 1);
    // SCSI-2 RESERVE through node 1 holds the LU against node 0's initiator.
    Task r(iscsi_reserve6_sync(b, 0));
    REQUIRE(r);
    REQUIRE(r->status == SCSI_STATUS_GOOD);
    Task t(iscsi_testunitready_sync(a, 0));
    REQUIRE(t);
    CHECK(t->status == SCSI_STATUS_RESERVATION_CONFLICT);
    // LOGICAL UNIT RESET through node 1 runs on node 0: it releases the reservation, and
    // node 0's initiator sees the reset's unit attention (29/xx).
    REQUIRE(iscsi_task_mgmt_lun_reset_sync(b, 0) == 0);
    Task u(iscsi_testunitready_sync(a, 0));
    REQUIRE(u);
    REQUIRE(u->status == SCSI_STATUS_CHECK_CONDITION);
    CHECK(u->sense.key == SCSI_SENSE_UNIT_ATTENTION);
    CHECK((u->sense.ascq >> 8) == 0x29);
    CHECK(tur(a) == 0);
    // Reserve again (after the reset's unit attention on this path too, if any), then log
    // out of node 1: node 0 sees the nexus go and releases the reservation.
    tur_until(b, [](int s) { return s == 0; });
    Task r2(iscsi_reserve6_sync(b, 0));
    REQUIRE(r2);
    REQUIRE(r2->status == SCSI_STATUS_GOOD);
    Task t2(iscsi_testunitready_sync(a, 0));
    REQUIRE(t2);
    CHECK(t2->status == SCSI_STATUS_RESERVATION_CONFLICT);
    REQUIRE(iscsi_logout_sync(b) == 0);
  }
  std::vector<int> seen = tur_until(a, [](int s) { return s == 0; });
  CHECK(seen.back() == 0);
  Task r3(iscsi_reserve6_sync(a, 0));
  REQUIRE(r3);
  CHECK(r3->status == SCSI_STATUS_GOOD);
}

TEST_CASE("a dead peer makes the standby path Unavailable and its return serves again", "[alua]") {
  Pair p;
  Ctx a(kInitiator1), b(kInitiator2);
  login(a, p, 0);
  login(b, p, 1);
  auto blk = pattern(4096, 42);
  write_blocks(b, 64, blk);

  p.signal(0, SIGKILL);
  // The standby node answers by itself: the state change and NOT READY / 04 0C, never a hang.
  bool changed = false;
  auto seen = tur_until(b, [&](int s) {
    changed = changed || s == kAluaChanged;
    return changed && s == kUnavailable;
  });
  CHECK(seen.back() == kUnavailable);
  auto g = parse_rtpg(rtpg(b));
  REQUIRE(g.size() == 2);
  CHECK(state_of(g, 2) == 3);  // Unavailable
  Task r(iscsi_read10_sync(b, 0, 64, 4096, 512, 0, 0, 0, 0, 0));
  REQUIRE(r);
  CHECK(r->status == SCSI_STATUS_CHECK_CONDITION);
  CHECK((int(r->sense.key) << 16 | r->sense.ascq) == kUnavailable);

  p.restart(0);
  seen = tur_until(b, [](int s) { return s == 0; });
  CHECK_THAT(describe(seen), Catch::Contains("6/42/6"));
  CHECK(read_blocks(b, 64, 4096) == blk);  // acknowledged before the crash, read through node 1
  g = parse_rtpg(rtpg(b));
  REQUIRE(g.size() == 2);
  CHECK(g[1].state == 1);
}

TEST_CASE("a stalled peer is detected by the heartbeat and recovers", "[alua]") {
  Pair p;
  Ctx a(kInitiator1), b(kInitiator2);
  login(a, p, 0);
  login(b, p, 1);
  p.signal(0, SIGSTOP);
  // The TCP connection stays open: only the missing heartbeat can tell.
  auto seen = tur_until(b, [](int s) { return s == kUnavailable; });
  CHECK(seen.back() == kUnavailable);
  p.signal(0, SIGCONT);
  seen = tur_until(b, [](int s) { return s == 0; });
  CHECK(seen.back() == 0);
  // Node 0 saw the link go and come back: its own initiator gets the state change too.
  seen = tur_until(a, [](int s) { return s == 0; });
  CHECK_THAT(describe(seen), Catch::Contains("6/42/6"));
  auto blk = pattern(512, 5);
  write_blocks(b, 9, blk);
  CHECK(read_blocks(a, 9, 512) == blk);
}

TEST_CASE("losing the standby node tells the active node's initiators", "[alua]") {
  Pair p;
  Ctx a(kInitiator1);
  login(a, p, 0);
  p.signal(1, SIGKILL);
  auto seen = tur_until(a, [](int s) { return s == kAluaChanged; });
  CHECK(seen.back() == kAluaChanged);
  CHECK(tur(a) == 0);  // the active path keeps serving
  // The standby group: Transitioning while the link may come back (timeout_ms after the
  // loss, docs/alua.md "A short link loss"), then Unavailable; the owner's group stays
  // Active/Optimized throughout.
  std::vector<int> states;
  const auto end = std::chrono::steady_clock::now() + kGuard;
  while (std::chrono::steady_clock::now() < end) {
    auto g = parse_rtpg(rtpg_after_uas(a));
    REQUIRE(g.size() == 2);
    CHECK(state_of(g, 1) == 0);  // Active/Optimized
    if (states.empty() || states.back() != state_of(g, 2)) states.push_back(state_of(g, 2));
    if (states.back() == 3) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE_FALSE(states.empty());
  CHECK(states.back() == 3);  // Unavailable
  for (int s : states) CHECK((s == 0xf || s == 3));
}
