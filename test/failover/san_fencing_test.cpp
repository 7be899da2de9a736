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
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "test/alua/pair.h"
#include "test/alua/pair_scsi.h"
#include "test/failover/writers.h"
#include "test/integration/libiscsi_util.h"

using namespace stmf::test;

namespace {

constexpr const char* kHostA = "iqn.2026-12.org.example:fencing-a";   // through node 0
constexpr const char* kHostB = "iqn.2026-12.org.example:fencing-b";   // through node 1
constexpr const char* kWriter = "iqn.2026-12.org.example:fencing-w";  // streams through node 1
constexpr const char* kAuditor = "iqn.2026-12.org.example:fencing-audit";  // reads the SAN LUN
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
