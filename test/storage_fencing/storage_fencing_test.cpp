// Storage fencing against a real SAN (docs/failover.md "Fencing at the storage"): a SAN stmfd
// (a file LU), a node stmfd whose LU is iscsi-backed on it with alua.cluster_id set (SAN-backed
// and fenced; ALUA enabled, its peer absent), an outside initiator on the SAN. Every write is
// stamped with its sequence number and goes to a block of its own, so the SAN LUN read directly
// afterwards says which writes landed.
#include <catch2/catch.hpp>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <cstring>
#include <thread>
#include <vector>

#include "mgmt/client.h"
#include "test/integration/daemon.h"
#include "test/integration/fencing_util.h"
#include "test/integration/libiscsi_util.h"

using stmf::mgmt::Client;
using stmf::mgmt::json;
using stmf::test::Ctx;
using stmf::test::Daemon;
using stmf::test::DaemonOptions;
using stmf::test::Task;
using stmf::test::past_ua;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using namespace stmf::test::fencing;

namespace {

constexpr uint32_t kCluster = 7;
constexpr uint64_t kNodeKey = uint64_t(kCluster) << 32 | 1;  // node 0
constexpr uint64_t kIntruderKey = 0x1d1d1d1d00000001ull;
constexpr const char* kNodeInitiator = "iqn.2026-12.org.example:node0-store";

DaemonOptions node_options(const Daemon& san, uint16_t dead_peer_port) {
  DaemonOptions o;
  o.store = "iscsi";
  o.size = "0";
  o.lun0_json_extra = ", \"backend\": {\"url\": \"" + san.url() + "\", \"initiator\": \"" + kNodeInitiator + "\"}";
  // ALUA enabled, node 0, its peer absent: the LU is held for timeout_ms, then served here.
  o.top_json_extra = "\"alua\": {\"enabled\": true, \"node\": 0, \"insecure\": true, \"peer\": \"127.0.0.1:" +
                     std::to_string(dead_peer_port) + "\", \"heartbeat_ms\": 100, \"timeout_ms\": 500, \"cluster_id\": " +
                     std::to_string(kCluster) + "}, ";
  return o;
}




std::vector<uint64_t> read_keys(Ctx& c) {
  Task t(past_ua([&] { return iscsi_persistent_reserve_in_sync(c, 0, SCSI_PERSISTENT_RESERVE_READ_KEYS, 1024); }));
  REQUIRE(t);
  REQUIRE(t->status == SCSI_STATUS_GOOD);
  auto* k = static_cast<scsi_persistent_reserve_in_read_keys*>(scsi_datain_unmarshall(t.t));
  REQUIRE(k);
  return std::vector<uint64_t>(k->keys, k->keys + k->num_keys);
}

// {holder key, type}; {0, 0} when not reserved.
std::pair<uint64_t, int> read_reservation(Ctx& c) {
  Task t(past_ua([&] { return iscsi_persistent_reserve_in_sync(c, 0, SCSI_PERSISTENT_RESERVE_READ_RESERVATION, 1024); }));
  REQUIRE(t);
  REQUIRE(t->status == SCSI_STATUS_GOOD);
  auto* r = static_cast<scsi_persistent_reserve_in_read_reservation*>(scsi_datain_unmarshall(t.t));
  REQUIRE(r);
  if (!r->reserved) return {0, 0};
  return {r->reservation_key, r->pr_type};
}

int pr_out(Ctx& c, int sa, int type, uint64_t key, uint64_t sa_key) {
  scsi_persistent_reserve_out_basic p{};
  p.reservation_key = key;
  p.service_action_reservation_key = sa_key;
  Task t(past_ua([&] { return iscsi_persistent_reserve_out_sync(c, 0, sa, 0, type, &p); }));
  REQUIRE(t);
  return t->status;
}





}  // namespace

TEST_CASE("storage fencing: the node registers its key, holds WE-RO, and stops at once when preempted, no write "
          "sent after the preempt lands",
          "[fencing]") {
  Daemon san;
  Daemon node(node_options(san, stmf::test::free_port()));
  Ctx nc("iqn.2026-12.org.example:writer"), sc("iqn.2026-12.org.example:checker"),
      ic("iqn.2026-12.org.example:intruder");
  const bool logged_in = login(nc, node);
  INFO("login: " << nc.error() << "\nnode log:\n" << node.log_text());
  REQUIRE(logged_in);
  REQUIRE(login(sc, san));
  REQUIRE(login(ic, san));
  Client mgmt(node.socket_path());
  const std::string guid = the_lu(mgmt);

  // Served once the hold (timeout_ms, no peer) is over: a first write goes through.
  uint64_t seq = 0;
  auto write_next = [&](uint64_t s) { return write_stamped(nc, s); };
  REQUIRE(wait_for([&] {
    Task t(write_next(++seq));
    return t && t->status == SCSI_STATUS_GOOD;
  }, 10s));
  std::vector<uint64_t> acked{seq};

  // On the SAN: the node's key (node 0 of cluster 7) registered, WE-RO held under it.
  auto keys = read_keys(sc);
  CHECK(std::count(keys.begin(), keys.end(), kNodeKey) == 1);
  CHECK(read_reservation(sc) == std::pair<uint64_t, int>{kNodeKey, SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE_REGISTRANTS_ONLY});
  CHECK(get_lu(mgmt, guid)["fenced"] == false);
  // WE-RO: an unregistered initiator cannot write the SAN LUN.
  {
    auto b = stamped(0);
    Task t(past_ua([&] { return iscsi_write16_sync(ic, 0, 10, b.data(), kBlock, kBlock, 0, 0, 0, 0, 0); }));
    REQUIRE(t);
    CHECK(t->status == SCSI_STATUS_RESERVATION_CONFLICT);
  }

  // A writer streams stamped blocks through the node (one at a time: each write is issued,
  // answered, then the next); `issued` is the last sequence number sent.
  std::atomic<uint64_t> issued{seq};
  std::atomic<bool> stop{false};
  std::vector<std::pair<uint64_t, int>> answers;  // seq, status (after the first)
  std::vector<std::pair<int, int>> senses;        // key, ascq of non-GOOD answers
  std::thread writer([&] {
    while (!stop) {
      const uint64_t s = ++seq;
      issued = s;
      Task t(write_next(s));
      const int st = t ? t->status : -1;
      answers.emplace_back(s, st);
      if (t && st == SCSI_STATUS_CHECK_CONDITION) senses.emplace_back(t->sense.key, t->sense.ascq);
      if (st != SCSI_STATUS_GOOD) std::this_thread::sleep_for(5ms);
    }
  });
  std::this_thread::sleep_for(500ms);

  // The intruder registers and PREEMPTs AND ABORTs the node's key: it holds WE-RO now.
  CHECK(pr_out(ic, SCSI_PERSISTENT_RESERVE_REGISTER_AND_IGNORE_EXISTING_KEY, 0, 0, kIntruderKey) == SCSI_STATUS_GOOD);
  CHECK(pr_out(ic, SCSI_PERSISTENT_RESERVE_PREEMPT_AND_ABORT, SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE_REGISTRANTS_ONLY,
               kIntruderKey, kNodeKey) == SCSI_STATUS_GOOD);
  const uint64_t issued_at_preempt = issued.load();

  // The node logs "fenced" and keeps answering non-GOOD.
  CHECK(wait_for([&] { return node.log_text().find("fenced") != std::string::npos; }, 10s));
  std::this_thread::sleep_for(1s);
  stop = true;
  writer.join();

  size_t good_before = 0, after = 0, good_after = 0;
  for (auto& [s, st] : answers) {
    if (s <= issued_at_preempt) {
      if (st == SCSI_STATUS_GOOD) {
        ++good_before;
        acked.push_back(s);
      }
      continue;
    }
    ++after;
    if (st == SCSI_STATUS_GOOD) ++good_after;
  }
  INFO("writes before the preempt " << issued_at_preempt << ", acknowledged " << good_before << "; after " << after);
  CHECK(good_before > 10);
  CHECK(after > 10);
  CHECK(good_after == 0);
  // Fenced answers: NOT READY, ASYMMETRIC ACCESS STATE TRANSITION (the other node's path serves).
  REQUIRE(!senses.empty());
  CHECK(senses.back() == std::pair<int, int>{SCSI_SENSE_NOT_READY, 0x040a});

  // The SAN read directly: every acknowledged write is there; no write issued after the
  // preempt reached it (its block still reads as zeroes); nothing beyond `seq` was written.
  std::vector<uint8_t> lun;  // blocks kFirstLba .. kFirstLba + seq
  constexpr uint32_t kChunk = 1024;
  for (uint64_t at = 0; at <= seq; at += kChunk) {
    const uint32_t n = uint32_t(std::min<uint64_t>(kChunk, seq + 1 - at));
    Task r(past_ua([&] { return iscsi_read16_sync(sc, 0, kFirstLba + at, n * kBlock, kBlock, 0, 0, 0, 0, 0); }));
    REQUIRE(r);
    REQUIRE(r->status == SCSI_STATUS_GOOD);
    REQUIRE(size_t(r->datain.size) == size_t(n) * kBlock);
    lun.insert(lun.end(), r->datain.data, r->datain.data + r->datain.size);
  }
  size_t acked_missing = 0;
  for (uint64_t s : acked)
    if (stamp_of(lun.data() + s * kBlock) != s) ++acked_missing;
  CHECK(acked_missing == 0);
  size_t landed_after = 0;
  for (uint64_t s = issued_at_preempt + 1; s <= seq; ++s)
    if (stamp_of(lun.data() + s * kBlock) != 0) ++landed_after;
  CHECK(landed_after == 0);

  // The node's key is gone and it never registered again; the intruder holds the reservation.
  std::this_thread::sleep_for(1s);
  keys = read_keys(sc);
  CHECK(std::count(keys.begin(), keys.end(), kNodeKey) == 0);
  CHECK(read_reservation(sc).first == kIntruderKey);
  CHECK(get_lu(mgmt, guid)["fenced"] == true);
  // TEST UNIT READY through the node: Transitioning, not serving.
  Task tur(iscsi_testunitready_sync(nc, 0));
  REQUIRE(tur);
  CHECK(tur->status == SCSI_STATUS_CHECK_CONDITION);
  CHECK(tur->sense.ascq == 0x040a);
}

TEST_CASE("storage fencing: a node that starts while another key holds the reservation never serves", "[fencing]") {
  Daemon san;
  Ctx ic("iqn.2026-12.org.example:intruder"), sc("iqn.2026-12.org.example:checker");
  REQUIRE(login(ic, san));
  REQUIRE(login(sc, san));
  // The other node (here: the intruder) took the LUN over while this node was down.
  CHECK(pr_out(ic, SCSI_PERSISTENT_RESERVE_REGISTER_AND_IGNORE_EXISTING_KEY, 0, 0, kIntruderKey) == SCSI_STATUS_GOOD);
  CHECK(pr_out(ic, SCSI_PERSISTENT_RESERVE_RESERVE, SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE_REGISTRANTS_ONLY,
               kIntruderKey, 0) == SCSI_STATUS_GOOD);

  Daemon node(node_options(san, stmf::test::free_port()));
  Client mgmt(node.socket_path());
  const std::string guid = the_lu(mgmt);
  CHECK(wait_for([&] { return node.log_text().find("fenced") != std::string::npos; }, 10s));
  CHECK(get_lu(mgmt, guid)["fenced"] == true);
  Ctx nc("iqn.2026-12.org.example:writer");
  REQUIRE(login(nc, node));
  std::this_thread::sleep_for(1s);  // past the hold: it would serve now if it were not fenced
  for (uint64_t s = 1; s <= 5; ++s) {
    auto b = stamped(s);
    Task t(past_ua([&] { return iscsi_write16_sync(nc, 0, kFirstLba + s, b.data(), kBlock, kBlock, 0, 0, 0, 0, 0); }));
    REQUIRE(t);
    CHECK(t->status != SCSI_STATUS_GOOD);
  }
  // It did not register: only the intruder's key, its reservation; nothing written.
  CHECK(read_keys(sc) == std::vector<uint64_t>{kIntruderKey});
  CHECK(read_reservation(sc).first == kIntruderKey);
  Task r(past_ua([&] { return iscsi_read16_sync(sc, 0, kFirstLba, 8 * kBlock, kBlock, 0, 0, 0, 0, 0); }));
  REQUIRE(r);
  REQUIRE(r->status == SCSI_STATUS_GOOD);
  for (int i = 0; i < 8 * int(kBlock); ++i) REQUIRE(r->datain.data[i] == 0);
}

TEST_CASE("storage fencing: the SAN restarted under the owner, its key intact (APTPL): it reconnects and serves on, "
          "not fenced",
          "[fencing]") {
  Daemon san;
  Daemon node(node_options(san, stmf::test::free_port()));
  Ctx nc("iqn.2026-12.org.example:writer");
  REQUIRE(login(nc, node));
  Client mgmt(node.socket_path());
  const std::string guid = the_lu(mgmt);
  uint64_t seq = 0;
  auto write_next = [&](uint64_t s) { return write_stamped(nc, s); };
  REQUIRE(wait_for([&] {
    Task t(write_next(++seq));
    return t && t->status == SCSI_STATUS_GOOD;
  }, 10s));
  const uint64_t before = seq;

  san.kill9();
  san.restart();  // same state directory: the APTPL registration and reservation come back
  REQUIRE(wait_for([&] {
    Task t(write_next(++seq));
    return t && t->status == SCSI_STATUS_GOOD;
  }, 30s));
  const uint64_t after = seq;
  CHECK(get_lu(mgmt, guid)["fenced"] == false);
  CHECK(node.log_text().find("fenced") == std::string::npos);
  Ctx sc("iqn.2026-12.org.example:checker");
  REQUIRE(login(sc, san));
  auto keys = read_keys(sc);
  CHECK(std::count(keys.begin(), keys.end(), kNodeKey) == 1);
  CHECK(read_reservation(sc).first == kNodeKey);
  Task r(past_ua([&] { return iscsi_read16_sync(sc, 0, kFirstLba, uint32_t(after + 1) * kBlock, kBlock, 0, 0, 0, 0, 0); }));
  REQUIRE(r);
  REQUIRE(r->status == SCSI_STATUS_GOOD);
  CHECK(stamp_of(r->datain.data + before * kBlock) == before);
  CHECK(stamp_of(r->datain.data + after * kBlock) == after);
}

namespace {
// One node of a SAN-backed pair with takeover fenced, on loopback: node 1 listens on
// `listen_port`, node 0 connects to it; only node 0 has the LU (node 1 learns it as standby).
DaemonOptions pair_node(const Daemon& san, int node, uint16_t listen_port, const std::string& takeover = "fenced") {
  DaemonOptions o;
  if (node == 0) {
    o.store = "iscsi";
    o.size = "0";
    o.lun0_json_extra = ", \"backend\": {\"url\": \"" + san.url() + "\", \"initiator\": \"" + kNodeInitiator + "\"}";
  } else {
    o.luns = 0;
  }
  o.top_json_extra = "\"alua\": {\"enabled\": true, \"node\": " + std::to_string(node) + ", \"insecure\": true, " +
                     (node == 0 ? "\"peer\": \"127.0.0.1:" + std::to_string(listen_port) + "\""
                                : "\"listen\": \"127.0.0.1:" + std::to_string(listen_port) + "\", \"peer\": \"127.0.0.1:1\"") +
                     ", \"heartbeat_ms\": 100, \"timeout_ms\": 500, \"cluster_id\": " + std::to_string(kCluster) +
                     ", \"takeover\": \"" + takeover + "\"}, ";
  return o;
}

struct Resume {  // a SIGSTOPped daemon runs again whatever happens (its destructor then stops it)
  pid_t pid;
  ~Resume() { ::kill(pid, SIGCONT); }
};
}  // namespace

TEST_CASE("storage fencing: takeover fenced, the owner hung past the timeout is preempted by the standby, no "
          "refused write lands, every acknowledged one does, the old owner steps down",
          "[fencing][pair]") {
  Daemon san;
  const uint16_t link_port = stmf::test::free_port();
  Daemon b(pair_node(san, 1, link_port));
  Daemon a(pair_node(san, 0, link_port));
  Client ma(a.socket_path()), mb(b.socket_path());
  const std::string guid = the_lu(ma);
  // Node 1 has it standby once the link is up and the owner registered it.
  REQUIRE(wait_for([&] { return access_state_is(mb, guid, "standby"); }, 15s));
  const uint64_t epoch = get_lu(ma, guid).value("epoch", uint64_t(0));

  Ctx ac("iqn.2026-12.org.example:writer"), sc("iqn.2026-12.org.example:checker");
  REQUIRE(login(ac, a));
  REQUIRE(login(sc, san));
  uint64_t seq = 0;
  auto write_a = [&](uint64_t s) {
    auto blk = stamped(s);
    return Task(iscsi_write16_sync(ac, 0, kFirstLba + s, blk.data(), kBlock, kBlock, 0, 0, 0, 0, 0));
  };
  REQUIRE(wait_for([&] {
    Task t(write_a(++seq));
    return t && t->status == SCSI_STATUS_GOOD;
  }, 10s));
  const uint64_t acked = seq;
  CHECK(read_reservation(sc).first == kNodeKey);

  // The owner hangs. Its writer sends one more write, which waits in the hung node's socket.
  ::kill(a.pid(), SIGSTOP);
  Resume resume{a.pid()};
  std::atomic<int> late_status{-2};
  const uint64_t late = ++seq;
  std::thread late_writer([&] {
    Task t(write_a(late));
    late_status = t ? t->status : -1;
  });
  // Node 1: the link down after timeout_ms, the race after another timeout_ms: it preempts
  // node 0's key and takes the LU over with the epoch raised.
  constexpr uint64_t kNode1Key = uint64_t(kCluster) << 32 | 2;
  CHECK(wait_for([&] { return read_reservation(sc).first == kNode1Key; }, 15s));
  CHECK(wait_for([&] {
    json r;
    return mb.call("get-lu", {{"guid", guid}}, r).ok() && r["lu"].value("access_state", "") == "active" &&
           r["lu"].value("epoch", uint64_t(0)) == epoch + 1;
  }, 15s));
  auto keys = read_keys(sc);
  CHECK(std::count(keys.begin(), keys.end(), kNodeKey) == 0);
  CHECK(b.log_text().find("won the race at the storage") != std::string::npos);

  // The owner resumes. Either its queued write reaches its store first, which the SAN refuses
  // (RESERVATION CONFLICT: it is fenced), or the returning link holds its LU first and the new
  // owner's registration makes it step down; then node 0 forwards to node 1, which writes
  // under its own key. Either way: no write refused to the writer lands, every acknowledged
  // write does, and node 0 ends as standby.
  ::kill(a.pid(), SIGCONT);
  late_writer.join();
  CHECK(late_status != SCSI_STATUS_GOOD);  // refused by the SAN, or held: never acknowledged by node 0 alone
  std::map<uint64_t, bool> good{{late, late_status == SCSI_STATUS_GOOD}};
  const auto until = Clock::now() + 3s;
  while (Clock::now() < until) {
    const uint64_t s = ++seq;
    Task t(write_a(s));
    good[s] = t && t->status == SCSI_STATUS_GOOD;
    std::this_thread::sleep_for(50ms);
  }
  CHECK(wait_for([&] { return access_state_is(ma, guid, "standby"); }, 20s));
  const bool fenced = a.log_text().find("fenced") != std::string::npos;
  INFO("node 0 " << (fenced ? "was fenced by the SAN" : "stepped down before writing"));

  // The SAN: every acknowledged write is there; none refused to the writer landed.
  Task r(past_ua([&] { return iscsi_read16_sync(sc, 0, kFirstLba, uint32_t(seq + 1) * kBlock, kBlock, 0, 0, 0, 0, 0); }));
  REQUIRE(r);
  REQUIRE(r->status == SCSI_STATUS_GOOD);
  CHECK(stamp_of(r->datain.data + acked * kBlock) == acked);
  for (auto [s, ok] : good) {
    INFO("write " << s << " after the hang, " << (ok ? "acknowledged" : "refused"));
    CHECK(stamp_of(r->datain.data + s * kBlock) == (ok ? s : 0));
  }
}

TEST_CASE("storage fencing: takeover manual, create-lu of the SAN-backed standby LU on the survivor preempts the "
          "hung owner's key first and serves",
          "[fencing][pair]") {
  Daemon san;
  const uint16_t link_port = stmf::test::free_port();
  Daemon b(pair_node(san, 1, link_port, "manual"));
  Daemon a(pair_node(san, 0, link_port, "manual"));
  Client ma(a.socket_path()), mb(b.socket_path());
  const std::string guid = the_lu(ma);
  REQUIRE(wait_for([&] { return access_state_is(mb, guid, "standby"); }, 15s));
  const uint64_t epoch = get_lu(ma, guid).value("epoch", uint64_t(0));
  Ctx sc("iqn.2026-12.org.example:checker");
  REQUIRE(login(sc, san));
  Ctx ac("iqn.2026-12.org.example:writer");
  REQUIRE(login(ac, a));
  REQUIRE(wait_for([&] {
    auto blk = stamped(1);
    Task t(iscsi_write16_sync(ac, 0, kFirstLba + 1, blk.data(), kBlock, kBlock, 0, 0, 0, 0, 0));
    return t && t->status == SCSI_STATUS_GOOD;
  }, 10s));
  REQUIRE(wait_for([&] { return read_reservation(sc).first == kNodeKey; }, 10s));

  ::kill(a.pid(), SIGSTOP);
  Resume resume{a.pid()};
  // Manual: nothing happens by itself.
  std::this_thread::sleep_for(2s);
  CHECK(read_reservation(sc).first == kNodeKey);
  // The administrator takes it over on node 1 (the link is down by now).
  json lu{{"guid", guid}, {"store", "iscsi"}, {"backend", {{"url", san.url()}, {"initiator", kNodeInitiator}}}};
  json r;
  auto st = mb.call("create-lu", {{"lu", lu}}, r);
  INFO(st.message << "\nnode 1 log:\n" << b.log_text());
  REQUIRE(st.ok());
  constexpr uint64_t kNode1Key = uint64_t(kCluster) << 32 | 2;
  CHECK(read_reservation(sc).first == kNode1Key);
  auto keys = read_keys(sc);
  CHECK(std::count(keys.begin(), keys.end(), kNodeKey) == 0);
  CHECK(wait_for([&] {
    json g;
    return mb.call("get-lu", {{"guid", guid}}, g).ok() && g["lu"].value("access_state", "") == "active" &&
           g["lu"].value("epoch", uint64_t(0)) == epoch + 1 && g["lu"].value("fenced", true) == false;
  }, 15s));
  ::kill(a.pid(), SIGCONT);
  CHECK(wait_for([&] { return access_state_is(ma, guid, "standby"); }, 20s));
}

namespace {
constexpr const char* kLuGuid = "600144F0000000000000000000000F17";
constexpr const char* kNode1Initiator = "iqn.2026-12.org.example:node1-store";
constexpr uint64_t kNode1Key = uint64_t(kCluster) << 32 | 2;

// The pair of pair_node(), the LU's GUID fixed, and node 1 with a standby record of it that
// holds node 1's own login to the SAN LUN (its initiator name): as scripts/pair.sh --shared san
// configures two machines.
DaemonOptions owner_with_guid(const Daemon& san, uint16_t link_port, const std::string& takeover) {
  DaemonOptions o = pair_node(san, 0, link_port, takeover);
  o.lun0_json_extra += std::string(", \"guid\": \"") + kLuGuid + "\"";
  return o;
}
DaemonOptions standby_with_record(const Daemon& san, uint16_t link_port, const std::string& takeover) {
  DaemonOptions o = pair_node(san, 1, link_port, takeover);
  o.top_json_extra += std::string("\"lus\": [{\"guid\": \"") + kLuGuid +
                      "\", \"store\": \"iscsi\", \"standby\": true, \"backend\": {\"url\": \"" + san.url() +
                      "\", \"initiator\": \"" + kNode1Initiator + "\"}}], \"views\": [{\"guid\": \"" + kLuGuid +
                      "\", \"lun\": 0}], ";
  return o;
}
}  // namespace

TEST_CASE("storage fencing: the standby registers its key on the SAN LUN in advance, and once somebody preempted it "
          "its race is lost and it stays standby",
          "[fencing][pair]") {
  Daemon san;
  const uint16_t link_port = stmf::test::free_port();
  Daemon b(standby_with_record(san, link_port, "fenced"));
  Daemon a(owner_with_guid(san, link_port, "fenced"));
  Client ma(a.socket_path()), mb(b.socket_path());
  REQUIRE(wait_for([&] { return access_state_is(mb, kLuGuid, "standby"); }, 15s));
  Ctx sc("iqn.2026-12.org.example:checker");
  REQUIRE(login(sc, san));
  // Both nodes are registrants, the owner holds WE-RO; the standby wrote nothing.
  CHECK(wait_for([&] {
    auto keys = read_keys(sc);
    return std::count(keys.begin(), keys.end(), kNode1Key) > 0 && std::count(keys.begin(), keys.end(), kNodeKey) > 0;
  }, 10s));
  CHECK(wait_for([&] { return read_reservation(sc).first == kNodeKey; }, 10s));
  CHECK(wait_for([&] { return b.log_text().find("registered on its SAN LUN (standby, ready to race)") != std::string::npos; }, 10s));

  // An outsider (a third cluster member, an administrator) preempts node 1's key.
  REQUIRE(pr_out(sc, SCSI_PERSISTENT_RESERVE_REGISTER_AND_IGNORE_EXISTING_KEY, 0, 0, kIntruderKey) == SCSI_STATUS_GOOD);
  REQUIRE(pr_out(sc, SCSI_PERSISTENT_RESERVE_PREEMPT, SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE_REGISTRANTS_ONLY,
                 kIntruderKey, kNode1Key) == SCSI_STATUS_GOOD);
  auto keys = read_keys(sc);
  REQUIRE(std::count(keys.begin(), keys.end(), kNode1Key) == 0);

  // The owner hangs past the timeout: node 1 races, finds its own key gone, and does not take.
  ::kill(a.pid(), SIGSTOP);
  Resume resume{a.pid()};
  CHECK(wait_for([&] { return b.log_text().find("it was preempted") != std::string::npos; }, 15s));
  CHECK(read_reservation(sc).first == kNodeKey);
  keys = read_keys(sc);
  CHECK(std::count(keys.begin(), keys.end(), kNodeKey) > 0);   // the owner was not preempted
  CHECK(std::count(keys.begin(), keys.end(), kNode1Key) == 0);  // nor did node 1 register again
  CHECK_FALSE(access_state_is(mb, kLuGuid, "active"));
}

TEST_CASE("storage fencing: a planned switchover opens the SAN-backed LU on node 1 with node 1's own login to the SAN "
          "(its standby record), not the owner's",
          "[fencing][pair]") {
  Daemon san;
  const uint16_t link_port = stmf::test::free_port();
  Daemon b(standby_with_record(san, link_port, "fenced"));
  Daemon a(owner_with_guid(san, link_port, "fenced"));
  Client ma(a.socket_path()), mb(b.socket_path());
  REQUIRE(wait_for([&] { return access_state_is(mb, kLuGuid, "standby"); }, 15s));
  // Node 1's LU is standby from its own record before the link is up; a switchover needs the link.
  REQUIRE(wait_for([&] {
    json s;
    return ma.call("get-alua-state", json::object(), s).ok() && s.value("link", "") == "up";
  }, 15s));
  json r;
  auto st = ma.call("switchover-lu", {{"guid", kLuGuid}}, r);
  INFO(st.message << "\nnode 1 log:\n" << b.log_text());
  REQUIRE(st.ok());
  REQUIRE(wait_for([&] { return access_state_is(mb, kLuGuid, "active"); }, 15s));
  const json lu = get_lu(mb, kLuGuid);
  INFO(lu.dump());
  CHECK(lu["backend"].value("initiator", "") == kNode1Initiator);
  CHECK(wait_for([&] { return san.log_text().find(std::string("normal session: ") + kNode1Initiator) != std::string::npos; }, 10s));
  CHECK(lu.value("fenced", true) == false);
  // Both nodes stay registrants; the reservation stays with node 0's key (WE-RO lets node 1's
  // registered nexus write; a takeover would preempt keys): node 1 serves writes.
  Ctx sc("iqn.2026-12.org.example:checker");
  REQUIRE(login(sc, san));
  auto keys = read_keys(sc);
  CHECK(std::count(keys.begin(), keys.end(), kNode1Key) > 0);
  CHECK(std::count(keys.begin(), keys.end(), kNodeKey) > 0);
  Ctx bc("iqn.2026-12.org.example:writer");
  REQUIRE(login(bc, b));
  CHECK(wait_for([&] {
    Task t(write_stamped(bc, 5));
    return t && t->status == SCSI_STATUS_GOOD;
  }, 10s));
  Task rd(past_ua([&] { return iscsi_read16_sync(sc, 0, kFirstLba + 5, kBlock, kBlock, 0, 0, 0, 0, 0); }));
  REQUIRE(rd);
  REQUIRE(rd->status == SCSI_STATUS_GOOD);
  CHECK(stamp_of(rd->datain.data) == 5);
  CHECK(access_state_is(ma, kLuGuid, "standby"));
}

TEST_CASE("storage fencing: ALUA enabled at run time (stmfSetAluaState's management call) reopens a SAN-backed LU "
          "with the node key and its initiators reservations stay",
          "[fencing]") {
  Daemon san;
  DaemonOptions o;
  o.store = "iscsi";
  o.size = "0";
  o.lun0_json_extra = ", \"backend\": {\"url\": \"" + san.url() + "\", \"initiator\": \"" + kNodeInitiator + "\"}";
  o.top_json_extra = "\"alua\": {\"enabled\": false, \"node\": 0, \"insecure\": true, \"peer\": \"127.0.0.1:" +
                     std::to_string(stmf::test::free_port()) + "\", \"heartbeat_ms\": 100, \"timeout_ms\": 500, " +
                     "\"cluster_id\": " + std::to_string(kCluster) + "}, ";
  Daemon node(o);
  Client m(node.socket_path());
  Ctx sc("iqn.2026-12.org.example:checker"), ic("iqn.2026-12.org.example:app");
  REQUIRE(login(sc, san));
  REQUIRE(login(ic, node));
  // ALUA off: the LU is not fenced, no key on the SAN. An application registers a key on the LU.
  CHECK(read_keys(sc).empty());
  constexpr uint64_t kAppKey = 0xa9901;
  REQUIRE(pr_out(ic, SCSI_PERSISTENT_RESERVE_REGISTER_AND_IGNORE_EXISTING_KEY, 0, 0, kAppKey) == SCSI_STATUS_GOOD);

  REQUIRE(m.call("set-alua-state", {{"enabled", true}, {"node", 0}}).ok());
  // The store reopened with node 0's key: registered and holding WE-RO on the SAN LUN.
  CHECK(wait_for([&] { return read_reservation(sc).first == kNodeKey; }, 15s));
  auto keys = read_keys(sc);
  CHECK(std::count(keys.begin(), keys.end(), kNodeKey) == 1);
  CHECK(node.log_text().find("reopened with reservation key 0x0000000700000001") != std::string::npos);
  // The LU's own reservations (its initiators') are those of before.
  CHECK(wait_for([&] {
    Task t(iscsi_persistent_reserve_in_sync(ic, 0, SCSI_PERSISTENT_RESERVE_READ_KEYS, 1024));
    if (!t || t->status != SCSI_STATUS_GOOD) return false;
    auto* k = static_cast<scsi_persistent_reserve_in_read_keys*>(scsi_datain_unmarshall(t.t));
    return k && k->num_keys == 1 && k->keys[0] == kAppKey;
  }, 15s));
}
