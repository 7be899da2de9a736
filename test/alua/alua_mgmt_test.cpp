// Management of the ALUA pair's standby LUs against two real stmfd processes on loopback
// (scripts/pair.sh, tcp carrier): list-lu/get-lu on the standby node show the peer's LUs as
// standby and refuse changes to them; LUs created and deleted on the active node are
// registered and deregistered on the standby node at once; re-enabling ALUA re-initializes the
// pair (docs/management.md "Standby LUs", docs/alua.md).
#include <catch2/catch.hpp>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <libstmf.h>
#include "mgmt/client.h"
#include "test/alua/pair.h"
#include "test/alua/pair_scsi.h"
#include "test/integration/libiscsi_util.h"

using stmf::mgmt::Client;
using stmf::mgmt::json;
using stmf::mgmt::Status;
using namespace stmf::test;

namespace {

constexpr const char* kInitiator1 = "iqn.2026-11.org.example:alua-mgmt-host1";
constexpr const char* kInitiator2 = "iqn.2026-11.org.example:alua-mgmt-host2";
constexpr uint64_t kNewLuSize = 8 << 20;

// One management request to a node; the whole response in `r`.
Status call(const Pair& p, int node, const std::string& op, const json& args, json& r) {
  Client c(p.socket(node));
  return c.call(op, args, r);
}

// A request that must succeed; returns the response.
json ok(const Pair& p, int node, const std::string& op, const json& args = json::object()) {
  json r;
  Status s = call(p, node, op, args, r);
  INFO("node " << node << " " << op << " " << args.dump() << ": " << s.message);
  REQUIRE(s.ok());
  return r;
}

bool listed(const Pair& p, int node, const std::string& guid) {
  json r = ok(p, node, "list-lu");
  for (auto& g : r["lus"])
    if (g == guid) return true;
  return false;
}

// Polls until `cond` holds (small sleeps, bounded by the hang guard).
void wait_for(const std::string& what, const std::function<bool()>& cond) {
  const auto end = std::chrono::steady_clock::now() + kGuard;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  FAIL("not reached within the hang guard: " << what);
}

std::string run(const std::string& cmd) {
  std::string out;
  FILE* f = ::popen(cmd.c_str(), "r");
  REQUIRE(f);
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  ::pclose(f);
  return out;
}

std::vector<uint8_t> file_bytes(const std::string& path, off_t off, size_t n) {
  std::vector<uint8_t> v(n);
  int fd = ::open(path.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  const ssize_t got = ::pread(fd, v.data(), n, off);
  ::close(fd);
  REQUIRE(got == ssize_t(n));
  return v;
}

// Creates a file-backed LU on node 0 (ALUA on) and shows it at LUN 1 on both nodes' targets.
std::string create_shared_lu(const Pair& p, const std::string& backing) {
  json r = ok(p, 0, "create-lu",
              {{"lu", {{"backing", backing}, {"size", kNewLuSize}, {"block_size", 512}, {"name", "alua-mgmt-lu"}}}});
  const std::string guid = r["guid"];
  // Node 0's target got a target group named after its IQN from the "luns" shorthand.
  ok(p, 0, "add-view", {{"guid", guid}, {"target_group", p.iqn(0)}, {"lun", 1}});
  // Node 1 does not know the LU yet (or only as standby): a view for its GUID is valid.
  ok(p, 1, "add-view", {{"guid", guid}, {"target_group", "node1"}, {"lun", 1}});
  return guid;
}

}  // namespace

TEST_CASE("the standby node lists the peer's LU as standby and refuses changes to it", "[alua]") {
  Pair p("tcp");
  const std::string guid = p.guid();

  REQUIRE(listed(p, 0, guid));
  REQUIRE(listed(p, 1, guid));
  json a = ok(p, 0, "get-lu", {{"guid", guid}})["lu"];
  json b = ok(p, 1, "get-lu", {{"guid", guid}})["lu"];
  CHECK(a["access_state"] == "active");
  CHECK(b["access_state"] == "standby");
  CHECK(b["guid"] == a["guid"]);
  CHECK(b["guid"] == guid);
  // The properties the active node registered.
  CHECK(b["size"] == a["size"]);
  CHECK(b["size"] == 64u << 20);
  CHECK(b["block_size"] == 512);
  CHECK(b["name"] == a["name"]);
  CHECK(b["backing"] == p.backing());
  CHECK(b["state"] == "online");
  CHECK(b["view_entries"] == 1);  // node 1's own view entry for the GUID
  json views = ok(p, 1, "list-view", {{"guid", guid}})["views"];
  REQUIRE(views.size() == 1);
  CHECK(views[0]["target_group"] == "node1");

  // Changes to the standby copy are refused; the LU is managed on its active node.
  for (auto [op, args] : std::vector<std::pair<std::string, json>>{
           {"delete-lu", {{"guid", guid}}},
           {"delete-lu", {{"guid", guid}, {"keep_views", true}}},
           {"modify-lu", {{"guid", guid}, {"props", {{"name", "renamed"}}}}},
           {"modify-lu", {{"backing", p.backing()}, {"props", {{"write_protect", true}}}}},
           {"offline-lu", {{"guid", guid}}},
           {"online-lu", {{"guid", guid}}},
       }) {
    json r;
    Status s = call(p, 1, op, args, r);
    INFO(op << " " << args.dump() << ": " << s.message);
    CHECK(s.code == STMF_ERROR_NO_PROP_STANDBY);
    CHECK(r["error"] == "STMF_ERROR_NO_PROP_STANDBY");
    CHECK_THAT(s.message, Catch::Contains("standby") && Catch::Contains(guid));
  }
  // Nothing changed on either node.
  CHECK(ok(p, 1, "get-lu", {{"guid", guid}})["lu"]["access_state"] == "standby");
  CHECK(ok(p, 1, "get-lu", {{"guid", guid}})["lu"]["name"] == a["name"]);
  CHECK(ok(p, 0, "get-lu", {{"guid", guid}})["lu"] == a);
  CHECK(ok(p, 1, "list-view", {{"guid", guid}})["views"].size() == 1);

  // An LU neither node has is still unknown.
  json r;
  CHECK(call(p, 1, "get-lu", {{"guid", "600144F00000000000000000DEADBEEF"}}, r).code == STMF_ERROR_NOT_FOUND);
  CHECK(call(p, 1, "delete-lu", {{"guid", "600144F00000000000000000DEADBEEF"}}, r).code == STMF_ERROR_NOT_FOUND);

  // stmfadm shows the state (COMSTAR's "Access State: Standby").
  const std::string stmfadm = std::string(TOOLS_DIR) + "/stmfadm/stmfadm";
  const std::string out1 = run("STMFD_SOCKET=" + p.socket(1) + " " + stmfadm + " list-lu -v 2>&1");
  INFO(out1);
  CHECK_THAT(out1, Catch::Contains("LU Name: " + guid));
  CHECK_THAT(out1, Catch::Contains("Access State      : Standby"));
  const std::string out0 = run("STMFD_SOCKET=" + p.socket(0) + " " + stmfadm + " list-lu -v 2>&1");
  INFO(out0);
  CHECK_THAT(out0, Catch::Contains("Access State      : Active"));
}

TEST_CASE("an LU created on the active node is standby on the peer at once and goes with delete-lu", "[alua]") {
  Pair p("tcp");
  const std::string backing = p.dir() + "/lu1.img";
  const std::string guid = create_shared_lu(p, backing);
  CHECK(ok(p, 0, "get-lu", {{"guid", guid}})["lu"]["access_state"] == "active");

  wait_for("node 1 lists the new LU", [&] { return listed(p, 1, guid); });
  json b = ok(p, 1, "get-lu", {{"guid", guid}})["lu"];
  CHECK(b["access_state"] == "standby");
  CHECK(b["size"] == kNewLuSize);
  CHECK(b["name"] == "alua-mgmt-lu");
  CHECK(b["backing"] == backing);
  CHECK(b["view_entries"] == 1);
  CHECK(listed(p, 1, p.guid()));  // the pair's first LU is still there

  Ctx a(kInitiator1), s(kInitiator2);
  login(a, p, 0);
  login(s, p, 1);
  tur_until(a, 1, 0);
  tur_until(s, 1, 0);
  // READ CAPACITY through the standby node: the new LU's size.
  Task cap(iscsi_readcapacity10_sync(s, 1, 0, 0));
  REQUIRE(cap);
  REQUIRE(cap->status == SCSI_STATUS_GOOD);
  auto* rc = static_cast<scsi_readcapacity10*>(scsi_datain_unmarshall(cap.t));
  REQUIRE(rc);
  CHECK(rc->block_size == 512);
  CHECK(uint64_t(rc->lba + 1) * 512 == kNewLuSize);
  // A write through node 1 reads back through node 0 and is in the new LU's backing file.
  auto data = pattern(64 * 1024, 17);
  write_blocks(s, 1, 200, data);
  CHECK(read_blocks(a, 1, 200, uint32_t(data.size())) == data);
  Task sync(iscsi_synchronizecache10_sync(a, 1, 0, 0, 0, 0));
  REQUIRE(sync);
  REQUIRE(sync->status == SCSI_STATUS_GOOD);
  CHECK(file_bytes(backing, 200 * 512, data.size()) == data);
  CHECK(file_bytes(p.backing(), 200 * 512, data.size()) != data);  // not the pair's first LU

  // delete-lu on the active node deregisters the standby copy.
  ok(p, 0, "delete-lu", {{"guid", guid}});
  wait_for("node 1 no longer lists the deleted LU", [&] { return !listed(p, 1, guid); });
  json r;
  CHECK(call(p, 1, "get-lu", {{"guid", guid}}, r).code == STMF_ERROR_NOT_FOUND);
  CHECK(listed(p, 1, p.guid()));
  // Node 1's view entry stays (view entries outlive LUs) but maps nothing any more.
  CHECK(ok(p, 1, "list-view", {{"guid", guid}})["views"].size() == 1);
  tur_until(s, 1, kLunNotSupported);
  CHECK(tur_until(s, 0, 0).back() == 0);
}

TEST_CASE("set-alua-state again on the active node re-registers everything without stalling I/O", "[alua]") {
  Pair p("tcp");
  const std::string guid = p.guid();
  Ctx a(kInitiator1), s(kInitiator2);
  login(a, p, 0);
  login(s, p, 1);
  tur_until(s, 0, 0);
  tur_until(a, 0, 0);
  auto before = pattern(4096, 23);
  write_blocks(s, 0, 300, before);

  const size_t log0 = p.log(0).size(), log1 = p.log(1).size();
  ok(p, 0, "set-alua-state", {{"enabled", true}, {"node", 0}});
  // I/O goes on through both nodes while (and after) the registrations are sent again: every
  // command GOOD, no unit attention, no Transitioning or Unavailable.
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (uint32_t i = 0; std::chrono::steady_clock::now() < end; ++i) {
    auto blk = pattern(512, int(i % 200));
    write_blocks(s, 0, 500 + (i % 64), blk);
    CHECK(read_blocks(a, 0, 500 + (i % 64), 512) == blk);
  }
  json st = ok(p, 0, "get-alua-state");
  CHECK(st["enabled"] == true);
  CHECK(st["node"] == 0);
  CHECK(st["link"] == "up");
  const std::string l0 = p.log(0).substr(log0), l1 = p.log(1).substr(log1);
  INFO(l0 << "\n---\n" << l1);
  CHECK(l0.find("ALUA already enabled, re-initializing (node 0)") != std::string::npos);
  CHECK(l0.find("registering every port and LU with the peer again") != std::string::npos);
  CHECK(l0.find("proxy link down") == std::string::npos);
  CHECK(l1.find("proxy link down") == std::string::npos);
  json x = ok(p, 1, "get-alua-state");
  CHECK(x["link"] == "up");
  CHECK(x["standby_lus"] == 1);
  CHECK(ok(p, 1, "get-lu", {{"guid", guid}})["lu"]["access_state"] == "standby");
  CHECK(ok(p, 0, "get-lu", {{"guid", guid}})["lu"]["access_state"] == "active");
  CHECK(read_blocks(s, 0, 300, 4096) == before);
}

TEST_CASE("enabling ALUA registers offline active LUs with the peer too (as illumos does)", "[alua]") {
  Pair p("tcp");
  const std::string backing = p.dir() + "/lu-offline.img";
  const std::string guid = create_shared_lu(p, backing);
  wait_for("node 1 lists the new LU", [&] { return listed(p, 1, guid); });
  ok(p, 0, "offline-lu", {{"guid", guid}});
  // Re-enabling re-sends the registrations: both LUs, the offline one included.
  ok(p, 0, "set-alua-state", {{"enabled", true}, {"node", 0}});
  wait_for("node 1's link is up with both standby LUs registered", [&] {
    json x = ok(p, 1, "get-alua-state");
    return x["link"] == "up" && x["standby_lus"] == 2;
  });
  REQUIRE(listed(p, 1, guid));
  CHECK(ok(p, 1, "get-lu", {{"guid", guid}})["lu"]["access_state"] == "standby");
  CHECK(ok(p, 0, "get-lu", {{"guid", guid}})["lu"]["access_state"] == "active");
  // Online again: still registered (nothing to change on the peer).
  ok(p, 0, "online-lu", {{"guid", guid}});
  CHECK(listed(p, 1, guid));
}

TEST_CASE("stmfSetAluaState gives STMF_ERROR_BUSY while a switchover is in progress", "[alua]") {
  Pair p("tcp");
  const std::string guid = p.guid();
  // The peer stalls: the switchover waits for its answer (until the link times out).
  p.signal(1, SIGSTOP);
  json sr;
  Status ss;
  std::thread sw([&] { ss = call(p, 0, "switchover-lu", {{"guid", guid}}, sr); });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ::setenv("STMFD_SOCKET", p.socket(0).c_str(), 1);
  const int busy_on = stmfSetAluaState(B_TRUE, 0);
  const int busy_off = stmfSetAluaState(B_FALSE, 7);
  p.signal(1, SIGCONT);
  sw.join();
  CHECK(busy_on == STMF_ERROR_BUSY);
  CHECK(busy_off == STMF_ERROR_BUSY);
  // Nothing changed: ALUA is still on, node 0.
  boolean_t en = B_FALSE;
  uint32_t node = 9;
  REQUIRE(stmfGetAluaState(&en, &node) == STMF_STATUS_SUCCESS);
  CHECK(en == B_TRUE);
  CHECK(node == 0);
  // Once the switchover is over (done or failed), the call goes through.
  CHECK(stmfSetAluaState(B_TRUE, 0) == STMF_STATUS_SUCCESS);
  ::unsetenv("STMFD_SOCKET");
}

TEST_CASE("libstmf and stmfadm switch an LU's owner from either node", "[alua]") {
  Pair p("tcp");
  const std::string guid = p.guid();
  stmfGuid g{};
  for (size_t i = 0; i < 16; ++i) g.guid[i] = uchar_t(std::stoul(guid.substr(2 * i, 2), nullptr, 16));
  auto state = [&](int node) {
    json r;
    Status s = call(p, node, "get-lu", {{"guid", guid}}, r);
    return s.ok() ? r["lu"].value("access_state", std::string()) : std::string("?");
  };
  auto on = [&](int node) { ::setenv("STMFD_SOCKET", p.socket(node).c_str(), 1); };
  auto settle = [&](int owner) {
    wait_for("node " + std::to_string(1 - owner) + " has the LU standby", [&] { return state(1 - owner) == "standby"; });
    CHECK(state(owner) == "active");
  };
  // stmfLuStandby on the standby node: already so.
  on(1);
  CHECK(stmfLuStandby(&g) == STMF_STATUS_SUCCESS);
  CHECK(state(0) == "active");
  // stmfLuStandby on the owner: handed to the peer.
  on(0);
  CHECK(stmfLuStandby(&g) == STMF_STATUS_SUCCESS);
  settle(1);
  // stmfSwitchoverLu from the node where it is standby: it comes back.
  CHECK(stmfSwitchoverLu(&g) == STMF_STATUS_SUCCESS);
  settle(0);
  // stmfadm switchover-lu --all on the owner: every LU it owns goes.
  const std::string out = run("STMFD_SOCKET=" + p.socket(0) + " " + TOOLS_DIR + "/stmfadm/stmfadm switchover-lu --all");
  CHECK(out.find("Switched over: " + guid) != std::string::npos);
  settle(1);
  // An unknown LU.
  stmfGuid none{};
  CHECK(stmfSwitchoverLu(&none) == STMF_ERROR_NOT_FOUND);
  ::unsetenv("STMFD_SOCKET");
}

TEST_CASE("an initiator logged in through the standby node has one ASH on both nodes, also after a switchover", "[alua][arsctl]") {
  Pair p("tcp");
  const std::string guid = p.guid();
  Ctx ctx(kInitiator1);
  login(ctx, p, 1);  // node 1: the LU is standby here, its commands go to node 0
  write_blocks(ctx, 0, pattern(512, 7));
  json s = ok(p, 1, "list-sessions", {{"target", p.iqn(1)}})["sessions"];
  REQUIRE(s.size() == 1);
  const int64_t ash = s[0]["ash"].get<int64_t>();
  CHECK(((ash >> 48) & 0x7fff) == 2);  // node 1: machine ID 2
  auto info = [&](int node) {
    json r;
    Status st = call(p, node, "arsop", {{"code", "GETINFO"}, {"ash", ash}}, r);
    INFO("node " << node << ": " << st.message);
    REQUIRE(st.ok());
    return r["info"];
  };
  json on1 = info(1), on0;
  CHECK_FALSE(on1["proxied"].get<bool>());
  wait_for("node 0 knows the proxied session by its handle", [&] {
    json r;
    return call(p, 0, "arsop", {{"code", "GETINFO"}, {"ash", ash}}, r).ok();
  });
  on0 = info(0);
  CHECK(on0["proxied"].get<bool>());
  CHECK(on0["initiator"] == on1["initiator"]);
  // Switch the LU to node 1: the session keeps its handle on both nodes.
  ok(p, 0, "switchover-lu", {{"guid", guid}});
  {
    Task t(past_ua([&] { return iscsi_read10_sync(ctx, 0, 0, 512, 512, 0, 0, 0, 0, 0); }));  // ASYMMETRIC ACCESS STATE CHANGED first
    REQUIRE(t);
    CHECK(t->status == SCSI_STATUS_GOOD);
    CHECK(bytes(t) == pattern(512, 7));
  }
  CHECK(ok(p, 1, "list-sessions", {{"target", p.iqn(1)}})["sessions"][0]["ash"] == ash);
  CHECK(info(1)["ash"] == ash);
  CHECK(info(0)["proxied"].get<bool>());
}

TEST_CASE("re-enabling ALUA while the link is down keeps the standby LU: its path answers NOT READY, never LUN NOT SUPPORTED",
          "[alua]") {
  // illumos's stmfproxy enables ALUA on every start, so a relay restart is a re-initialization
  // with the link down. The standby LU must stay (initiators retry NOT READY; a LUN that
  // vanishes is a path failure to them) until the peer's LU list on the new link says.
  Pair p("tcp");
  Ctx s(kInitiator2);
  login(s, p, 1);
  auto blk = pattern(4096, 17);
  write_blocks(s, 32, blk);
  p.signal(0, SIGKILL);
  wait_for("node 1 sees the link down", [&] { return ok(p, 1, "get-alua-state")["link"] != "up"; });
  ok(p, 1, "set-alua-state", {{"enabled", true}, {"node", 1}});
  CHECK(ok(p, 1, "get-alua-state")["standby_lus"] == 1);
  CHECK(listed(p, 1, p.guid()));
  // Past the unit attentions the state changes raise: NOT READY (the link is down).
  auto seen = tur_until(s, [](int st) { return (st >> 16) != SCSI_SENSE_UNIT_ATTENTION; });
  INFO(describe(seen));
  CHECK(std::find(seen.begin(), seen.end(), kLunNotSupported) == seen.end());
  CHECK((seen.back() >> 16) == SCSI_SENSE_NOT_READY);
  // The owner comes back: the new link registers the LU again and the path serves.
  p.restart(0);
  tur_until(s, [](int st) { return st == 0; });
  CHECK(read_blocks(s, 32, 4096) == blk);
}
