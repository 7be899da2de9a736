// Failover of an ALUA pair (docs/alua.md "Takeover"): two real stmfd processes on loopback
// (scripts/pair.sh), writers streaming checksummed blocks through both nodes, the owner
// killed with SIGKILL and its LU taken over on the survivor with import-lu. Afterwards every
// acknowledged block reads back intact, the persistent reservation is held with the same
// keys and generation, and the writers saw only retryable errors.
#include <catch2/catch.hpp>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <signal.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mgmt/client.h"
#include "test/alua/pair.h"
#include "test/alua/pair_scsi.h"
#include "test/integration/libiscsi_util.h"
#include "test/failover/writers.h"

using stmf::mgmt::Client;
using stmf::mgmt::json;
using namespace stmf::test;

namespace {

constexpr const char* kHostA = "iqn.2026-11.org.example:failover-a";   // through node 0
constexpr const char* kHostB = "iqn.2026-11.org.example:failover-b";   // through node 1
constexpr const char* kWriter = "iqn.2026-11.org.example:failover-w";  // streams through node 1
constexpr const char* kOutsider = "iqn.2026-11.org.example:failover-x";

json mgmt(const Pair& p, int node, const std::string& op, const json& args, int& code) {
  Client c(p.socket(node));
  json r;
  code = c.call(op, args, r).code;
  return r;
}

// list-pr on one node: the owner's state, or the standby node's mirrored copy.
json pr_state(const Pair& p, int node) {
  int code = 0;
  json r = mgmt(p, node, "list-pr", {{"guid", p.guid()}}, code);
  REQUIRE(code == 0);
  json st = r["reservations"];
  st.erase("mirrored");
  return st;
}

// Both nodes hold the same reservation state (the standby's mirror catches up right after a
// link comes back; changes themselves are mirrored before they complete).
void same_pr_on_both_nodes(const Pair& p) {
  const auto end = std::chrono::steady_clock::now() + kGuard;
  json s0, s1;
  while (std::chrono::steady_clock::now() < end) {
    s0 = pr_state(p, 0);
    s1 = pr_state(p, 1);
    if (s0 == s1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  INFO("node 0: " << s0.dump() << "\nnode 1: " << s1.dump());
  CHECK(s0 == s1);
  CHECK(s0["registrations"].size() > 0);
}

}  // namespace

TEST_CASE("the survivor takes over a killed owner's LU with its data and reservations", "[failover]") {
  Pair p;
  Ctx a(kHostA), b(kHostB), w(kWriter), wa(kHostA);
  login(a, p, 0);
  login(b, p, 1);
  login(w, p, 1);
  login(wa, p, 0);

  // Registrations through both nodes, the reservation taken through node 0 (the owner).
  REQUIRE(pr_out(a, SCSI_PERSISTENT_RESERVE_REGISTER, 0, 0, 0xaaaa) == SCSI_STATUS_GOOD);
  REQUIRE(pr_out(b, SCSI_PERSISTENT_RESERVE_REGISTER, 0, 0, 0xbbbb) == SCSI_STATUS_GOOD);
  REQUIRE(pr_out(w, SCSI_PERSISTENT_RESERVE_REGISTER, 0, 0, 0xcccc) == SCSI_STATUS_GOOD);
  REQUIRE(pr_out(wa, SCSI_PERSISTENT_RESERVE_REGISTER, 0, 0, 0xdddd) == SCSI_STATUS_GOOD);
  REQUIRE(pr_out(a, SCSI_PERSISTENT_RESERVE_RESERVE, SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE_REGISTRANTS_ONLY,
                 0xaaaa, 0) == SCSI_STATUS_GOOD);
  const auto keys_before = read_keys(b);
  const auto holder_before = read_reservation(b);
  REQUIRE(keys_before.second == std::vector<uint64_t>{0xaaaa, 0xbbbb, 0xcccc, 0xdddd});
  REQUIRE(holder_before.reserved);
  REQUIRE(holder_before.key == 0xaaaa);

  same_pr_on_both_nodes(p);  // mirrored before each PR OUT completed

  // No takeover while the owner is reachable: that would make two active copies.
  int code = 0;
  mgmt(p, 1, "import-lu", {{"backing", p.backing()}}, code);
  CHECK(code == int(0x8000 | 0x106));  // STMF_ERROR_LU_BUSY

  // Writers through both nodes; the owner dies under them.
  Writers writers(w, wa);
  auto& ledger = writers.ledger;
  auto& acked_b = writers.acked_b;
  auto& acked_a = writers.acked_a;
  CHECK(wait_count(acked_b, 200));
  CHECK(wait_count(acked_a, 200));
  p.signal(0, SIGKILL);
  // The survivor's path answers NOT READY (Unavailable), never hangs.
  tur_until(b, 0, kUnavailable);

  // Takeover: the cluster layer's call on the survivor.
  mgmt(p, 1, "import-lu", {{"backing", p.backing()}}, code);
  REQUIRE(code == 0);
  tur_until(b, 0, 0);
  const int acked_at_takeover = acked_b;
  CHECK(wait_count(acked_b, acked_at_takeover + 200));  // writes go on through node 1
  writers.finish();
  INFO("non-retryable answers: " << ledger.bad.size() << (ledger.bad.empty() ? "" : " first: " + ledger.bad[0]));
  CHECK(ledger.bad.empty());

  // The reservation: same keys, same generation, same holder and type.
  CHECK(read_keys(b) == keys_before);
  CHECK(read_reservation(b) == holder_before);
  // ...and enforced: an initiator that never registered cannot write.
  Ctx x(kOutsider);
  login(x, p, 1);
  auto blk = block(1, 1);
  Task denied(iscsi_write10_sync(x, 0, 1, blk.data(), 512, 512, 0, 0, 0, 0, 0));
  REQUIRE(denied);
  CHECK(denied->status == SCSI_STATUS_RESERVATION_CONFLICT);

  // Every acknowledged block reads back intact through the survivor.
  INFO("acknowledged blocks: " << ledger.acked.size());
  CHECK(ledger.acked.size() > 0);
  CHECK(torn_blocks(ledger, b) == 0);
}

TEST_CASE("writers on both nodes ride through a cut link and its restoration", "[failover]") {
  Pair p("door");  // the link runs through two stmfproxy relays: killing one cuts it
  Ctx a(kHostA), b(kHostB), w(kWriter), wa(kHostA);
  login(a, p, 0);
  login(b, p, 1);
  login(w, p, 1);
  login(wa, p, 0);
  REQUIRE(pr_out(a, SCSI_PERSISTENT_RESERVE_REGISTER, 0, 0, 0xaaaa) == SCSI_STATUS_GOOD);
  REQUIRE(pr_out(w, SCSI_PERSISTENT_RESERVE_REGISTER, 0, 0, 0xcccc) == SCSI_STATUS_GOOD);
  REQUIRE(pr_out(wa, SCSI_PERSISTENT_RESERVE_REGISTER, 0, 0, 0xdddd) == SCSI_STATUS_GOOD);
  REQUIRE(pr_out(a, SCSI_PERSISTENT_RESERVE_RESERVE, SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE_REGISTRANTS_ONLY,
                 0xaaaa, 0) == SCSI_STATUS_GOOD);
  const auto keys_before = read_keys(a);
  const auto holder_before = read_reservation(a);

  Writers writers(w, wa);
  auto& ledger = writers.ledger;
  auto& acked_b = writers.acked_b;
  auto& acked_a = writers.acked_a;
  CHECK(wait_count(acked_b, 100));
  CHECK(wait_count(acked_a, 100));

  p.signal_relay(1, SIGKILL);  // the link is cut; both daemons live on
  tur_until(b, 0, kUnavailable);
  const int a_at_cut = acked_a;
  CHECK(wait_count(acked_a, a_at_cut + 100));  // the owner's own path keeps serving

  p.restart_relay(1);
  tur_until(b, 0, 0);
  const int b_at_restore = acked_b;
  CHECK(wait_count(acked_b, b_at_restore + 100));  // the standby path serves again
  writers.finish();
  INFO("non-retryable answers: " << ledger.bad.size() << (ledger.bad.empty() ? "" : " first: " + ledger.bad[0]));
  CHECK(ledger.bad.empty());

  INFO("acknowledged blocks: " << ledger.acked.size());
  tur_until(a, 0, 0);
  CHECK(torn_blocks(ledger, a) == 0);
  CHECK(torn_blocks(ledger, b) == 0);
  // The reservation is the same through both nodes, and as before the cut.
  CHECK(read_keys(a) == keys_before);
  CHECK(read_keys(b) == keys_before);
  CHECK(read_reservation(a) == holder_before);
  CHECK(read_reservation(b) == holder_before);
  same_pr_on_both_nodes(p);
}

TEST_CASE("the old owner comes back as standby and its stale copy never serves", "[failover]") {
  Pair p;
  Ctx a(kHostA), b(kHostB);
  login(a, p, 0);
  login(b, p, 1);
  const auto before = block(77, 1);
  write_blocks(a, 77, before);

  p.signal(0, SIGKILL);
  tur_until(b, 0, kUnavailable);
  int code = 0;
  mgmt(p, 1, "import-lu", {{"backing", p.backing()}}, code);
  REQUIRE(code == 0);
  json lu = mgmt(p, 1, "get-lu", {{"guid", p.guid()}}, code);
  REQUIRE(code == 0);
  CHECK(lu["lu"]["epoch"] == 1);  // the takeover raised the ownership epoch
  tur_until(b, 0, 0);
  // The dead owner acknowledged `before`: the new owner serves it from the backing file.
  CHECK(read_blocks(b, 77, 512) == before);
  const auto after = block(77, 2);
  write_blocks(b, 77, after);  // written after the takeover: node 0's copy is stale now

  // Node 0 restarts with the LU in its configuration (epoch 0): it holds it until it has
  // compared epochs with node 1, then steps down to standby.
  p.restart(0);
  const auto end = std::chrono::steady_clock::now() + kGuard;
  std::string state;
  while (std::chrono::steady_clock::now() < end) {
    json r = mgmt(p, 0, "get-lu", {{"guid", p.guid()}}, code);
    state = code == 0 ? r["lu"].value("access_state", std::string()) : "";
    if (state == "standby") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE(state == "standby");
  CHECK(p.log(0).find("steps down") != std::string::npos);

  // Through node 0 now: the new owner's data, proxied.
  Ctx a2(kHostA);
  login(a2, p, 0);
  tur_until(a2, 0, 0);
  CHECK(read_blocks(a2, 77, 512) == after);
  const auto third = block(77, 3);
  tur_until(a2, 0, 0);  // the ownership change raised unit attentions on both nodes
  write_blocks(a2, 77, third);
  tur_until(b, 0, 0);
  CHECK(read_blocks(b, 77, 512) == third);
}

// A raw CDB without data. Returns the SCSI status.
int no_data(Ctx& ctx, std::vector<uint8_t> cdb) {
  scsi_task* t = scsi_create_task(int(cdb.size()), cdb.data(), SCSI_XFER_NONE, 0);
  REQUIRE(t);
  Task done(iscsi_scsi_command_sync(ctx, 0, t, nullptr));
  REQUIRE(done);
  return done->status;
}

// A raw CDB with a Data-Out parameter list. Returns the SCSI status.
int data_out(Ctx& ctx, std::vector<uint8_t> cdb, std::vector<uint8_t> param) {
  scsi_task* t = scsi_create_task(int(cdb.size()), cdb.data(), SCSI_XFER_WRITE, int(param.size()));
  REQUIRE(t);
  iscsi_data d{param.size(), param.data()};
  Task done(iscsi_scsi_command_sync(ctx, 0, t, &d));
  REQUIRE(done);
  return done->status;
}

// SET TARGET PORT GROUPS: target port group `tpg` Active/Optimized. Returns the SCSI status.
int stpg(Ctx& ctx, uint16_t tpg) {
  const std::vector<uint8_t> param = {0, 0, 0, 0, 0x00 /* Active/Optimized */, 0, uint8_t(tpg >> 8), uint8_t(tpg)};
  return data_out(ctx, {0xa4, 0x0a, 0, 0, 0, 0, 0, 0, 0, uint8_t(param.size()), 0, 0}, param);
}

// The control mode page (0Ah) as MODE SENSE(6) returns it through `ctx`.
std::vector<uint8_t> control_page(Ctx& ctx) {
  Task t = data_in(ctx, {0x1a, 0x08 /* DBD */, 0x0a, 0, 255, 0}, 255);
  REQUIRE(t);
  REQUIRE(t->status == SCSI_STATUS_GOOD);
  auto d = bytes(t);
  REQUIRE(d.size() >= 4 + 12);
  return std::vector<uint8_t>(d.begin() + 4, d.begin() + 4 + 12);
}

TEST_CASE("a planned switchover moves the owner under writers and back", "[failover]") {
  // By the admin (stmfadm switchover-lu) or by an initiator (SET TARGET PORT GROUPS).
  const std::string how = GENERATE(std::string("stmfadm"), std::string("stpg"));
  INFO("switchover by " << how);
  Pair p;
  Ctx a(kHostA), b(kHostB), w(kWriter), wa(kHostA);
  login(a, p, 0);
  login(b, p, 1);
  login(w, p, 1);
  login(wa, p, 0);
  REQUIRE(pr_out(a, SCSI_PERSISTENT_RESERVE_REGISTER, 0, 0, 0xaaaa) == SCSI_STATUS_GOOD);
  REQUIRE(pr_out(b, SCSI_PERSISTENT_RESERVE_REGISTER, 0, 0, 0xbbbb) == SCSI_STATUS_GOOD);  // STPG needs it
  REQUIRE(pr_out(w, SCSI_PERSISTENT_RESERVE_REGISTER, 0, 0, 0xcccc) == SCSI_STATUS_GOOD);
  REQUIRE(pr_out(wa, SCSI_PERSISTENT_RESERVE_REGISTER, 0, 0, 0xdddd) == SCSI_STATUS_GOOD);
  REQUIRE(pr_out(a, SCSI_PERSISTENT_RESERVE_RESERVE, SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE_REGISTRANTS_ONLY,
                 0xaaaa, 0) == SCSI_STATUS_GOOD);
  const auto keys_before = read_keys(a);
  const auto holder_before = read_reservation(a);

  Writers writers(w, wa);
  auto& ledger = writers.ledger;
  auto& acked_b = writers.acked_b;
  auto& acked_a = writers.acked_a;
  CHECK(wait_count(acked_b, 100));
  CHECK(wait_count(acked_a, 100));

  // stmfadm: node 0 hands the LU to node 1 (run on the owner), then node 0 asks for it back
  // (run on the node where it is standby). STPG: node 1's group made Active/Optimized through
  // node 1 (forwarded to the owner), then node 0's group through node 0.
  const std::string stmfadm = std::string(TOOLS_DIR) + "/stmfadm/stmfadm";
  int round = 0;
  auto switchover = [&](int node) {
    ++round;
    if (how == "stpg") {
      Ctx& c = round == 1 ? b : a;
      tur_until(c, 0, 0);
      return stpg(c, round == 1 ? 2 : 1) == SCSI_STATUS_GOOD ? 0 : 1;
    }
    const std::string cmd = "STMFD_SOCKET=" + p.socket(node) + " " + stmfadm + " switchover-lu " + p.guid() + " >/dev/null";
    return std::system(cmd.c_str());
  };
  auto state = [&](int node) {
    int code = 0;
    json r = mgmt(p, node, "get-lu", {{"guid", p.guid()}}, code);
    return code == 0 ? r["lu"].value("access_state", std::string()) : std::string("?");
  };
  REQUIRE(switchover(0) == 0);
  CHECK(state(1) == "active");
  // The old owner steps down when the new owner's registration arrives (right after).
  tur_until(a, [&](int) { return state(0) == "standby"; });
  CHECK(state(0) == "standby");
  int a0 = acked_a, b0 = acked_b;
  CHECK(wait_count(acked_a, a0 + 100));  // both paths serve, now through node 1
  CHECK(wait_count(acked_b, b0 + 100));

  REQUIRE(switchover(0) == 0);  // node 0 asks for it back
  CHECK(state(0) == "active");
  tur_until(b, [&](int) { return state(1) == "standby"; });
  CHECK(state(1) == "standby");
  a0 = acked_a;
  b0 = acked_b;
  CHECK(wait_count(acked_a, a0 + 100));
  CHECK(wait_count(acked_b, b0 + 100));
  writers.finish();
  INFO("non-retryable answers: " << ledger.bad.size() << (ledger.bad.empty() ? "" : " first: " + ledger.bad[0]));
  CHECK(ledger.bad.empty());
  INFO("acknowledged blocks: " << ledger.acked.size());
  tur_until(a, 0, 0);
  tur_until(b, 0, 0);
  CHECK(torn_blocks(ledger, a) == 0);
  CHECK(torn_blocks(ledger, b) == 0);
  CHECK(read_keys(a) == keys_before);
  CHECK(read_keys(b) == keys_before);
  CHECK(read_reservation(b) == holder_before);
  same_pr_on_both_nodes(p);
}

TEST_CASE("a planned switchover hands over mode parameters, unit attentions and the SCSI-2 reservation",
          "[failover]") {
  Pair p;
  Ctx a(kHostA), b(kHostB), x(kOutsider);
  login(a, p, 0);
  login(b, p, 1);
  login(x, p, 1);
  tur_until(a, 0, 0);
  tur_until(b, 0, 0);
  tur_until(x, 0, 0);
  // Through the owner (node 0): descriptor-format sense on (control page D_SENSE). The other
  // nexuses get MODE PARAMETERS CHANGED, which b and x leave pending.
  auto page = control_page(a);
  REQUIRE((page[2] & 0x04) == 0);
  page[0] &= 0x3f;  // PS is reserved in MODE SELECT
  page[2] |= 0x04;
  std::vector<uint8_t> plist = {0, 0, 0, 0};
  plist.insert(plist.end(), page.begin(), page.end());
  REQUIRE(data_out(a, {0x15, 0x10 /* PF */, 0, 0, uint8_t(plist.size()), 0}, plist) == SCSI_STATUS_GOOD);
  // A SCSI-2 reservation through node 0.
  REQUIRE(no_data(a, {0x16, 0, 0, 0, 0, 0}) == SCSI_STATUS_GOOD);  // RESERVE(6)

  const std::string stmfadm = std::string(TOOLS_DIR) + "/stmfadm/stmfadm";
  const std::string cmd = "STMFD_SOCKET=" + p.socket(0) + " " + stmfadm + " switchover-lu " + p.guid() + " >/dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);
  CHECK(p.log(1).find("mode parameters handed over by the peer") != std::string::npos);

  // Every nexus goes on with what it had pending, then learns of the access state change:
  // nobody sees POWER ON, RESET (the LU was not reset; its mode parameters are kept).
  constexpr int kPowerOn = SCSI_SENSE_UNIT_ATTENTION << 16 | 0x2900;
  constexpr int kModeChanged = SCSI_SENSE_UNIT_ATTENTION << 16 | 0x2a01;
  auto seen_b = tur_until(b, [](int s) { return (s >> 16) != SCSI_SENSE_UNIT_ATTENTION; });
  INFO("b saw " << describe(seen_b));
  CHECK(seen_b.back() == -2);  // then RESERVATION CONFLICT: a's SCSI-2 reservation holds
  CHECK(std::find(seen_b.begin(), seen_b.end(), kPowerOn) == seen_b.end());
  CHECK(std::find(seen_b.begin(), seen_b.end(), kModeChanged) != seen_b.end());
  auto seen_a = tur_until(a, 0, 0);
  INFO("a saw " << describe(seen_a));
  CHECK(std::find(seen_a.begin(), seen_a.end(), kPowerOn) == seen_a.end());
  CHECK(std::find(seen_a.begin(), seen_a.end(), kAluaChanged) != seen_a.end());

  // The new owner (node 1) has D_SENSE on (seen by the reservation holder for now).
  CHECK((control_page(a)[2] & 0x04) == 0x04);
  // The SCSI-2 reservation moved with the LU: its holder (through node 0, now a proxied
  // path) still reads and writes; another initiator gets RESERVATION CONFLICT on node 1.
  write_blocks(a, 9, pattern(512, 9));
  CHECK(read_blocks(a, 9, 512) == pattern(512, 9));
  tur_until(x, [](int s) { return (s >> 16) != SCSI_SENSE_UNIT_ATTENTION; });  // its pending UAs
  Task rx(iscsi_read10_sync(x, 0, 9, 512, 512, 0, 0, 0, 0, 0));
  REQUIRE(rx);
  CHECK(rx->status == SCSI_STATUS_RESERVATION_CONFLICT);
  // Released by its holder through the proxy: the outsider reads.
  REQUIRE(no_data(a, {0x17, 0, 0, 0, 0, 0}) == SCSI_STATUS_GOOD);  // RELEASE(6)
  CHECK(read_blocks(x, 9, 512) == pattern(512, 9));
  CHECK((control_page(b)[2] & 0x04) == 0x04);
}
