// The ALUA pair on a SAN (label `fencing`, docs/failover.md "Two machines on a SAN"): the LU's
// blocks on a LUN of a third target (scripts/pair.sh --shared san: an stmfd, or tgt), writers
// streaming stamped blocks through both nodes, and afterwards the SAN LUN read directly
// (never through a node) and checked against the writers' ledger (test/failover/writers.h).
// With root the nodes run in network namespaces of their own (scripts/pair-netns.sh), so
// "the link is cut" means packets between them stop while both reach the SAN; without root
// those scenarios are reported skipped (CTest: SKIPPED).
#include <catch2/catch.hpp>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <thread>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "mgmt/client.h"
#include "test/alua/pair.h"
#include "test/alua/pair_scsi.h"
#include "test/failover/writers.h"
#include "test/integration/libiscsi_util.h"

using stmf::mgmt::Client;
using stmf::mgmt::json;
using namespace stmf::test;

namespace {

constexpr const char* kHostA = "iqn.2026-12.org.example:fencing-a";   // through node 0
constexpr const char* kHostB = "iqn.2026-12.org.example:fencing-b";   // through node 1
constexpr const char* kWriter = "iqn.2026-12.org.example:fencing-w";  // streams through node 1
constexpr const char* kAuditor = "iqn.2026-12.org.example:fencing-audit";  // reads the SAN LUN
constexpr const char* kLate = "iqn.2026-12.org.example:fencing-late";     // one write queued in a hung node
inline constexpr int kTransitioning = SCSI_SENSE_NOT_READY << 16 | 0x040a;
constexpr int kWrites = 100;  // acknowledged writes each phase waits for (a count, not a time)

// Reports the test case skipped (CTest's SKIP_REGULAR_EXPRESSION matches the line) and says
// whether it must stop.
bool skipped(const std::string& why) {
  if (why.empty()) return false;
  std::cout << "SKIPPED: " << why << std::endl;
  return true;
}

std::string tgt_unavailable() {
  if (::geteuid() != 0) return "tgt as the SAN needs root (tgtd's management socket lives in /run/tgtd)";
  if (std::system("command -v tgtd >/dev/null 2>&1 && command -v tgtadm >/dev/null 2>&1") != 0)
    return "tgt is not installed (scripts/deps.sh --bench)";
  return "";
}

bool alive(const Pair& p, int node) { return ::kill(p.pid(node), 0) == 0; }

// The sessions of a scenario (a and b: through node 0 and node 1; w and wa: the writers',
// through node 1 and node 0) and the writers, started and past their first writes. The
// writers stop before the sessions close.
struct Load {
  Ctx a{kHostA}, b{kHostB}, w{kWriter}, wa{kHostA};
  std::optional<Writers> writers;
  explicit Load(const Pair& p) {
    login(a, p, 0);
    login(b, p, 1);
    login(w, p, 1);
    login(wa, p, 0);
    writers.emplace(w, wa);
    CHECK(wait_count(writers->acked_b, kWrites));
    CHECK(wait_count(writers->acked_a, kWrites));
  }
  Ledger& ledger() { return writers->ledger; }
  // Stops the writers; they must have seen only retryable answers.
  void finish() {
    writers->finish();
    INFO("non-retryable answers: " << ledger().bad.size() << (ledger().bad.empty() ? "" : " first: " + ledger().bad[0]));
    CHECK(ledger().bad.empty());
  }
};

// Every acknowledged write, read from the SAN LUN itself.
void acknowledged_writes_on_the_san(const Pair& p, Ledger& ledger) {
  Ctx san(kAuditor);
  const int lun = login_url(san, p.san_url());
  const auto audit = audit_san(ledger, san, lun);
  INFO(audit.summary());
  CHECK(audit.ok());
  CHECK(audit.acked == ledger.acked.size());
  CHECK(audit.acked > 0);
}

// Writers through both nodes of a pair on a SAN, then the SAN LUN audited; then blocks planted
// on the SAN LUN behind the pair's back, which the audit must report: an acknowledged block
// replaced by another version (lost), a block issued through node 1 after a cut point, a
// block with a broken checksum.
void writes_land_on_the_san(const PairOptions& o) {
  Pair p(o);
  Load load(p);
  auto& ledger = load.ledger();
  load.finish();
  CHECK(torn_blocks(ledger, load.a) == 0);
  CHECK(torn_blocks(ledger, load.b) == 0);
  acknowledged_writes_on_the_san(p, ledger);

  // The audit itself, on blocks planted behind the pair's back.
  Ctx san(kAuditor);
  const int lun = login_url(san, p.san_url());
  const uint64_t cut = ledger.cut_point();
  REQUIRE(!ledger.acked.empty());
  const uint32_t lba = ledger.acked.begin()->first;
  const auto want = ledger.acked.begin()->second;
  Stamp st;
  REQUIRE(read_stamp(want, st) == StampCheck::whole);

  // An older version where the acknowledged one belongs: lost.
  write_blocks(san, lun, lba, block(lba, 0, st.node));
  auto audit = audit_san(ledger, san, lun, Cut{1, cut});
  INFO("stale version planted: " << audit.summary());
  CHECK(audit.lost.size() == 1);
  CHECK(audit.after_cut.empty());
  CHECK(audit.torn.empty());

  // A block node 1 was given after the cut: found with that cut, not with node 0's.
  write_blocks(san, lun, lba, block(lba, cut + 1, 1));
  audit = audit_san(ledger, san, lun, Cut{1, cut});
  INFO("late block planted: " << audit.summary());
  CHECK(audit.after_cut.size() == 1);
  CHECK(audit_san(ledger, san, lun, Cut{0, cut}).after_cut.empty());
  CHECK(audit_san(ledger, san, lun, Cut{1, cut + 1}).after_cut.empty());

  // A whole stamp with one payload byte changed: torn.
  auto broken = want;
  broken[300] ^= 0xff;
  write_blocks(san, lun, lba, broken);
  audit = audit_san(ledger, san, lun);
  INFO("torn block planted: " << audit.summary());
  CHECK(audit.torn.size() == 1);

  write_blocks(san, lun, lba, want);
  CHECK(audit_san(ledger, san, lun).ok());
}

// The link between namespaced nodes cut under writers through both (takeover manual): the
// standby's paths answer Transitioning, then Unavailable; the owner goes on serving; restored,
// both serve again; the SAN holds every acknowledged write.
void link_cut_and_restored(const std::string& san) {
  Pair p(PairOptions{.shared = "san", .san = san, .netns = true});
  Load load(p);
  auto& writers = *load.writers;
  auto& a = load.a;
  auto& b = load.b;

  p.cut_link();
  // The standby's paths: Transitioning while node 1 waits for the link, then Unavailable.
  const auto seen = tur_until(b, 0, kUnavailable);
  INFO("the standby's path answered (key/asc/ascq): " << describe(seen));
  const auto transitioning = std::find(seen.begin(), seen.end(), kTransitioning);
  CHECK(transitioning != seen.end());
  CHECK(transitioning < std::find(seen.begin(), seen.end(), kUnavailable));
  // Both nodes are alive; the owner's path goes on serving.
  CHECK(alive(p, 0));
  CHECK(alive(p, 1));
  const int a_at_cut = writers.acked_a;
  CHECK(wait_count(writers.acked_a, a_at_cut + kWrites));
  tur_until(a, [](int s) { return (s >> 16) != SCSI_SENSE_UNIT_ATTENTION; });
  CHECK(tur(a) == 0);

  p.restore_link();
  tur_until(b, 0, 0);
  const int b_at_restore = writers.acked_b;
  CHECK(wait_count(writers.acked_b, b_at_restore + kWrites));  // the standby's path serves again
  const int a_at_restore = writers.acked_a;
  CHECK(wait_count(writers.acked_a, a_at_restore + kWrites));
  load.finish();
  acknowledged_writes_on_the_san(p, load.ledger());
}

}  // namespace

TEST_CASE("a pair on an stmfd SAN: writes through both nodes land on the SAN LUN, and the audit finds planted faults",
          "[fencing][san]") {
  writes_land_on_the_san(PairOptions{.shared = "san"});
}

TEST_CASE("a pair on a tgt SAN: writes through both nodes land on the SAN LUN, and the audit finds planted faults",
          "[fencing][san][tgt]") {
  if (skipped(tgt_unavailable())) return;
  writes_land_on_the_san(PairOptions{.shared = "san", .san = "tgt"});
}

TEST_CASE("namespaced nodes on an stmfd SAN: a cut link leaves the owner serving and the standby's paths "
          "unavailable, restored both serve, and every acknowledged write is on the SAN",
          "[fencing][netns][cut]") {
  if (skipped(Pair::netns_unavailable())) return;
  link_cut_and_restored("stmfd");
}

TEST_CASE("namespaced nodes on a tgt SAN: a cut link leaves the owner serving and the standby's paths "
          "unavailable, restored both serve, and every acknowledged write is on the SAN",
          "[fencing][netns][cut][tgt]") {
  if (skipped(Pair::netns_unavailable()) || skipped(tgt_unavailable())) return;
  link_cut_and_restored("tgt");
}

TEST_CASE("the SAN restarted under writers: the owner's store logs in again and no acknowledged write is lost",
          "[fencing][san][san-restart]") {
  Pair p(PairOptions{.shared = "san"});
  Load load(p);
  auto& writers = *load.writers;
  p.signal_san(SIGKILL);
  p.restart_san();
  // Both paths serve again: writes acknowledged after the restart, through both nodes.
  const int a_at = writers.acked_a, b_at = writers.acked_b;
  CHECK(wait_count(writers.acked_a, a_at + kWrites));
  CHECK(wait_count(writers.acked_b, b_at + kWrites));
  load.finish();
  CHECK(p.log(0).find("backend connection lost") != std::string::npos);
  acknowledged_writes_on_the_san(p, load.ledger());
}

// ---------------------------------------------------------------------------------------------
// Takeover fenced, the nodes in namespaces (docs/failover.md "Fencing at the storage"): the
// partition with both nodes alive, the hung owner, the old owner restarted while partitioned,
// the SAN lost under the owner, and the partition on tgt. Each: writers through both nodes,
// the SAN LUN audited directly at the end; where a node is fenced, no write sent through it
// after the preempt is on the SAN (its stamps after the cut point, Cut).

namespace {

constexpr uint32_t kCluster = 7;  // alua.cluster_id of the fenced pairs
constexpr uint64_t key_of(int node) { return uint64_t(kCluster) << 32 | uint64_t(node + 1); }
constexpr const char* kReady = "registered on its SAN LUN (standby, ready to race)";
constexpr const char* kWon = "won the race at the storage";
constexpr auto kPoll = std::chrono::milliseconds(50);
constexpr int kRefusedWrites = 20;  // writes a fenced or restarted node must refuse (a count)

PairOptions fenced_pair(const std::string& san) {
  return PairOptions{.shared = "san", .san = san, .netns = true, .takeover = "fenced", .cluster_id = kCluster};
}

// `cond` true within the hang guard (never a timing assertion).
bool eventually(const std::function<bool()>& cond) {
  const auto end = std::chrono::steady_clock::now() + kGuard;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(kPoll);
  }
  return cond();
}

bool logged(const Pair& p, int node, const std::string& text) {
  return eventually([&] { return p.log(node).find(text) != std::string::npos; });
}

// get-lu of the pair's LU on `node` ("lu"); null when the call fails.
json lu_on(const Pair& p, int node) {
  Client c(p.socket(node));
  json r;
  if (!c.call("get-lu", {{"guid", p.guid()}}, r).ok()) return json();
  return r["lu"];
}
std::string access_state(const Pair& p, int node) {
  const json lu = lu_on(p, node);
  return lu.is_object() ? lu.value("access_state", "") : "";
}
bool is_fenced(const Pair& p, int node) {
  const json lu = lu_on(p, node);
  return lu.is_object() && lu.value("fenced", false);
}
uint64_t epoch_on(const Pair& p, int node) {
  const json lu = lu_on(p, node);
  return lu.is_object() ? lu.value("epoch", uint64_t(0)) : 0;
}

// The SAN LUN's registered keys and reservation holder (0: none), read on `lun` of `san`.
std::vector<uint64_t> san_keys(Ctx& san, int lun) {
  Task t(past_ua([&] { return iscsi_persistent_reserve_in_sync(san, lun, SCSI_PERSISTENT_RESERVE_READ_KEYS, 4096); }));
  REQUIRE(t);
  REQUIRE(t->status == SCSI_STATUS_GOOD);
  auto* k = static_cast<scsi_persistent_reserve_in_read_keys*>(scsi_datain_unmarshall(t.t));
  REQUIRE(k);
  return std::vector<uint64_t>(k->keys, k->keys + k->num_keys);
}
uint64_t san_holder(Ctx& san, int lun) {
  Task t(past_ua([&] { return iscsi_persistent_reserve_in_sync(san, lun, SCSI_PERSISTENT_RESERVE_READ_RESERVATION, 4096); }));
  REQUIRE(t);
  REQUIRE(t->status == SCSI_STATUS_GOOD);
  auto* r = static_cast<scsi_persistent_reserve_in_read_reservation*>(scsi_datain_unmarshall(t.t));
  REQUIRE(r);
  return r->reserved ? r->reservation_key : 0;
}
bool registered(Ctx& san, int lun, uint64_t key) {
  const auto keys = san_keys(san, lun);
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

// Connect and log in only (iscsi_full_connect_sync's TEST UNIT READY fails on a held or
// fenced LU).
void login_only(Ctx& ctx, const Pair& p, int node) {
  iscsi_set_targetname(ctx, p.iqn(node).c_str());
  iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
  iscsi_set_timeout(ctx, 10);
  iscsi_set_noautoreconnect(ctx, 1);
  REQUIRE(iscsi_connect_sync(ctx, p.portal(node).c_str()) == 0);
  REQUIRE(iscsi_login_sync(ctx) == 0);
}

// One stamped write through `ctx` (a path through node `node`) to `lba`, recorded in the
// ledger as the writers record theirs; returns its SCSI status (-1: no answer).
int write_recorded(Ctx& ctx, Ledger& ledger, uint32_t lba, uint8_t node) {
  auto b = block(lba, ++ledger.last_seq, node);
  Task t(iscsi_write10_sync(ctx, 0, lba, b.data(), kStampedBlock, kStampedBlock, 0, 0, 0, 0, 0));
  std::lock_guard lk(ledger.mu);
  const int status = t ? t->status : -1;
  if (status == SCSI_STATUS_GOOD) {
    ledger.acked[lba] = b;
    ledger.maybe.erase(lba);
  } else {
    ledger.maybe[lba].push_back(b);
  }
  return status;
}

// Acknowledged writes sent through `node` with a stamp in (from, to]: none may exist when
// that node was fenced meanwhile (the ledger keeps each LBA's last acknowledged write, so a
// later one would show).
size_t acked_through(Ledger& ledger, uint8_t node, uint64_t from, uint64_t to) {
  std::lock_guard lk(ledger.mu);
  size_t n = 0;
  for (auto& [lba, b] : ledger.acked) {
    Stamp s;
    if (read_stamp(b, s) == StampCheck::whole && s.node == node && s.seq > from && s.seq <= to) ++n;
  }
  return n;
}

// Writes sent through `node` with a stamp above `from` that were refused (or got no answer).
size_t refused_through(Ledger& ledger, uint8_t node, uint64_t from) {
  std::lock_guard lk(ledger.mu);
  size_t n = 0;
  for (auto& [lba, blocks] : ledger.maybe)
    for (auto& b : blocks) {
      Stamp s;
      if (read_stamp(b, s) == StampCheck::whole && s.node == node && s.seq > from) ++n;
    }
  return n;
}

// While node 0 cannot write (fenced and partitioned): writes were sent through it after `cut`
// (the check below has something to find), and none of them is on the SAN. (Only the cut is
// checked here: the writers are running.)
void nothing_through_node0_after(const Pair& p, Ledger& ledger, uint64_t cut) {
  CHECK(refused_through(ledger, 0, cut) > 0);
  Ctx san(kAuditor);
  const int lun = login_url(san, p.san_url());
  const auto audit = audit_san(ledger, san, lun, Cut{0, cut});
  INFO("while partitioned: " << audit.summary());
  CHECK(audit.after_cut.empty());
  CHECK(acked_through(ledger, 0, cut, ledger.cut_point()) == 0);
}

// The partition with both nodes alive: the link cut, node 1 races and wins, node 1 serves
// with epoch + 1, node 0's paths answer Transitioning/Unavailable and it is fenced. Returns
// the cut point: every write issued through node 0 after it was issued after the preempt.
uint64_t partition_and_takeover(Pair& p, Load& load) {
  auto& writers = *load.writers;
  const uint64_t epoch = epoch_on(p, 0);
  REQUIRE(logged(p, 1, kReady));  // node 1's key is on the SAN LUN: it can race
  p.cut_link();
  REQUIRE(logged(p, 1, kWon));
  const uint64_t cut = load.ledger().cut_point();
  CHECK(alive(p, 0));
  CHECK(alive(p, 1));
  // Node 1 serves: active with the epoch raised, its writer acknowledged again.
  CHECK(eventually([&] { return access_state(p, 1) == "active" && epoch_on(p, 1) == epoch + 1; }));
  const int b_at = writers.acked_b;
  CHECK(wait_count(writers.acked_b, b_at + kWrites));
  // Node 0: its next write through the store gets RESERVATION CONFLICT: fenced; its paths
  // answer Transitioning (or Unavailable), never GOOD.
  CHECK(eventually([&] { return is_fenced(p, 0); }));
  const auto seen = tur_until(load.a, [](int s) { return s == kTransitioning || s == kUnavailable; });
  INFO("node 0's path answered (key/asc/ascq): " << describe(seen));
  for (int i = 0; i < kRefusedWrites; ++i) {
    const int s = tur(load.a);
    CHECK((s == kTransitioning || s == kUnavailable));
    std::this_thread::sleep_for(kPoll);
  }
  return cut;
}

// After the link is back: node 0 ends standby with its key registered again (pre-registration),
// node 1 stays the owner, and both paths serve.
void rejoined_as_standby(const Pair& p, Load& load, uint64_t epoch) {
  auto& writers = *load.writers;
  CHECK(eventually([&] { return access_state(p, 0) == "standby"; }));
  CHECK(access_state(p, 1) == "active");
  CHECK(epoch_on(p, 1) == epoch);
  Ctx san(kAuditor);
  const int lun = login_url(san, p.san_url());
  CHECK(eventually([&] { return registered(san, lun, key_of(0)); }));
  CHECK(registered(san, lun, key_of(1)));
  CHECK(san_holder(san, lun) == key_of(1));
  const int a_at = writers.acked_a, b_at = writers.acked_b;
  CHECK(wait_count(writers.acked_a, a_at + kWrites));
  CHECK(wait_count(writers.acked_b, b_at + kWrites));
}

// (a), (e): the link cut with both nodes alive; exactly one node serves; nothing sent through
// node 0 after the preempt lands; restored, node 0 is standby and both paths serve.
void partition(const std::string& san) {
  Pair p(fenced_pair(san));
  Load load(p);
  const uint64_t epoch = epoch_on(p, 0);
  const uint64_t cut = partition_and_takeover(p, load);
  nothing_through_node0_after(p, load.ledger(), cut);
  p.restore_link();
  rejoined_as_standby(p, load, epoch + 1);
  load.finish();
  acknowledged_writes_on_the_san(p, load.ledger());
}

// After the owner lost the SAN and got it back (the link up): its key and reservation intact,
// not fenced, still the owner with the same epoch; node 1 never raced.
void owner_served_on(const Pair& p, uint64_t epoch) {
  CHECK(!is_fenced(p, 0));
  CHECK(access_state(p, 0) == "active");
  CHECK(access_state(p, 1) == "standby");
  CHECK(epoch_on(p, 0) == epoch);
  CHECK(p.log(1).find(kWon) == std::string::npos);
  Ctx san(kAuditor);
  const int lun = login_url(san, p.san_url());
  CHECK(registered(san, lun, key_of(0)));
  CHECK(san_holder(san, lun) == key_of(0));
}

struct Resume {  // a SIGSTOPped node runs again whatever happens
  const Pair& p;
  int node;
  ~Resume() { p.signal(node, SIGCONT); }
};

}  // namespace

TEST_CASE("fenced takeover, namespaced nodes on an stmfd SAN: a partition with both nodes alive leaves exactly one "
          "serving, no write sent through the fenced node after the preempt is on the SAN, restored it is standby",
          "[fencing][netns][partition]") {
  if (skipped(Pair::netns_unavailable())) return;
  partition("stmfd");
}

TEST_CASE("fenced takeover, namespaced nodes on a tgt SAN: a partition with both nodes alive leaves exactly one "
          "serving, no write sent through the fenced node after the preempt is on the SAN, restored it is standby",
          "[fencing][netns][partition][tgt]") {
  if (skipped(Pair::netns_unavailable()) || skipped(tgt_unavailable())) return;
  partition("tgt");
}

TEST_CASE("fenced takeover, namespaced nodes: the owner hung past the timeout is preempted, its queued write is "
          "refused and none lands, resumed it ends standby",
          "[fencing][netns][hung]") {
  if (skipped(Pair::netns_unavailable())) return;
  Pair p(fenced_pair("stmfd"));
  Load load(p);
  auto& ledger = load.ledger();
  const uint64_t epoch = epoch_on(p, 0);
  Ctx late(kLate);
  login(late, p, 0);
  REQUIRE(logged(p, 1, kReady));

  // The owner hangs; one more write waits in its socket (issued after the stop: above `stop`).
  p.signal(0, SIGSTOP);
  Resume resume{p, 0};
  const uint64_t stop = ledger.cut_point();
  std::atomic<int> late_status{-2};
  std::thread late_writer([&] { late_status = write_recorded(late, ledger, kFirstLba + 2 * kBlocks - 1, 0); });
  // Node 1: the link down after timeout_ms, the race after another: it preempts node 0's key
  // and serves with the epoch raised.
  CHECK(logged(p, 1, kWon));
  CHECK(eventually([&] { return access_state(p, 1) == "active" && epoch_on(p, 1) == epoch + 1; }));
  {
    Ctx san(kAuditor);
    const int lun = login_url(san, p.san_url());
    CHECK(!registered(san, lun, key_of(0)));
    CHECK(san_holder(san, lun) == key_of(1));
  }

  // Resumed: the queued write reaches a store whose key is gone (RESERVATION CONFLICT:
  // fenced), or the returning link makes node 0 step down first; either way it is refused.
  p.signal(0, SIGCONT);
  late_writer.join();
  const uint64_t resumed = ledger.cut_point();
  CHECK(late_status != SCSI_STATUS_GOOD);
  CHECK(eventually([&] { return access_state(p, 0) == "standby"; }));
  INFO("node 0 " << (p.log(0).find("fenced:") != std::string::npos || is_fenced(p, 0) ? "was fenced by the SAN"
                                                                                        : "stepped down first"));
  CHECK(acked_through(ledger, 0, stop, resumed) == 0);
  rejoined_as_standby(p, load, epoch + 1);
  load.finish();
  acknowledged_writes_on_the_san(p, ledger);
  // The writes queued while node 0 was stopped: none on the SAN.
  Ctx san(kAuditor);
  const int lun = login_url(san, p.san_url());
  const auto audit = audit_san(ledger, san, lun, Cut{0, stop, resumed});
  INFO(audit.summary());
  CHECK(audit.after_cut.empty());
}

TEST_CASE("fenced takeover, namespaced nodes: the old owner restarted while partitioned never serves, and joins as "
          "standby when the link returns",
          "[fencing][netns][restart]") {
  if (skipped(Pair::netns_unavailable())) return;
  Pair p(fenced_pair("stmfd"));
  Load load(p);
  auto& ledger = load.ledger();
  const uint64_t epoch = epoch_on(p, 0);
  const uint64_t cut = partition_and_takeover(p, load);

  // Node 0 stopped and started again, the link still cut: it finds its key gone (fenced).
  // (SIGTERM drains for up to 10 s: the idle sessions of the test do not answer the
  // logout request.)
  p.signal(0, SIGTERM);
  CHECK(eventually([&] { return !alive(p, 0); }));
  p.restart(0);
  Ctx again(kHostA);
  login_only(again, p, 0);
  CHECK(eventually([&] { return is_fenced(p, 0); }));
  // Its path never answers GOOD to a write.
  for (int i = 0; i < kRefusedWrites; ++i) {
    CHECK(write_recorded(again, ledger, kFirstLba + kBlocks + uint32_t(i), 0) != SCSI_STATUS_GOOD);
    std::this_thread::sleep_for(kPoll);
  }
  CHECK(access_state(p, 1) == "active");
  nothing_through_node0_after(p, ledger, cut);

  // The link back: node 0 joins as standby; its path serves (through node 1).
  p.restore_link();
  CHECK(eventually([&] { return access_state(p, 0) == "standby"; }));
  CHECK(eventually([&] { return write_recorded(again, ledger, kFirstLba + kBlocks, 0) == SCSI_STATUS_GOOD; }));
  CHECK(epoch_on(p, 1) == epoch + 1);
  const int b_at = load.writers->acked_b;
  CHECK(wait_count(load.writers->acked_b, b_at + kWrites));
  load.finish();
  acknowledged_writes_on_the_san(p, ledger);
}

TEST_CASE("fenced takeover, namespaced nodes: the SAN lost and restored under the owner, its key intact, it serves "
          "on, not fenced, no acknowledged write lost",
          "[fencing][netns][san-loss]") {
  if (skipped(Pair::netns_unavailable())) return;
  Pair p(fenced_pair("stmfd"));
  Load load(p);
  auto& writers = *load.writers;
  const uint64_t epoch = epoch_on(p, 0);
  REQUIRE(logged(p, 1, kReady));
  p.signal_san(SIGKILL);
  p.restart_san();
  const int a_at = writers.acked_a, b_at = writers.acked_b;
  CHECK(wait_count(writers.acked_a, a_at + kWrites));
  CHECK(wait_count(writers.acked_b, b_at + kWrites));
  CHECK(p.log(0).find("backend connection lost") != std::string::npos);
  owner_served_on(p, epoch);
  load.finish();
  acknowledged_writes_on_the_san(p, load.ledger());
}

TEST_CASE("fenced takeover, namespaced nodes: the owner's path to the SAN cut and restored (the link up): it logs in "
          "again with its key intact, serves on, not fenced, no acknowledged write lost",
          "[fencing][netns][san-cut]") {
  if (skipped(Pair::netns_unavailable())) return;
  Pair p(fenced_pair("stmfd"));
  Load load(p);
  auto& ledger = load.ledger();
  const uint64_t epoch = epoch_on(p, 0);
  REQUIRE(logged(p, 1, kReady));
  // Only node 0's packets to the SAN are dropped: its store's session stalls until a command
  // goes unanswered for command_timeout_s (or its idle probe does), then it cannot log in.
  p.cut_san(0);
  CHECK(logged(p, 0, "backend connection lost"));
  CHECK(!is_fenced(p, 0));
  p.restore_san(0);
  // Both paths serve again. Fresh sessions, on blocks outside the writers' ranges: the
  // writers' own commands may have outlived their initiator timeout meanwhile.
  Ctx a(kHostA), b(kHostB);
  login_only(a, p, 0);
  login_only(b, p, 1);
  Ledger outside;  // not the audited ledger: these blocks are not in the writers' ranges
  CHECK(eventually([&] { return write_recorded(a, outside, kFirstLba + 2 * kBlocks, 0) == SCSI_STATUS_GOOD; }));
  CHECK(eventually([&] { return write_recorded(b, outside, kFirstLba + 2 * kBlocks + 1, 1) == SCSI_STATUS_GOOD; }));
  owner_served_on(p, epoch);
  load.finish();
  acknowledged_writes_on_the_san(p, ledger);
}
