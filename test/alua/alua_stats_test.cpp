// Statistics across the ALUA pair (docs/metrics.md "What is counted, and where"): an
// initiator logged in through the standby node writes and reads; the standby node counts the
// commands against its session and port but not against the LU (they were forwarded), the
// owner counts them against the LU, the peer's proxy port and the peer's session; both nodes
// report the link's heartbeat round trip; with the owner gone the standby node counts the
// commands it could not forward.
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <functional>
#include <string>
#include <thread>

#include "mgmt/client.h"
#include "test/alua/pair.h"
#include "test/alua/pair_scsi.h"
#include "test/integration/libiscsi_util.h"

using stmf::mgmt::Client;
using stmf::mgmt::json;
using namespace stmf::test;

namespace {

constexpr const char* kInitiator = "iqn.2026-12.org.example:alua-stats";
constexpr int kWrites = 6, kReads = 4;
constexpr uint32_t kIo = 4096;
constexpr int kTransitioning = SCSI_SENSE_NOT_READY << 16 | 0x040a;

json stats(const Pair& p, int node) {
  Client c(p.socket(node));
  json r;
  auto s = c.call("get-stats", json::object(), r);
  INFO("node " << node << " get-stats: " << s.message);
  REQUIRE(s.ok());
  return r;
}

const json* find(const json& list, const std::function<bool(const json&)>& pred) {
  for (auto& x : list)
    if (pred(x)) return &x;
  return nullptr;
}

}  // namespace

TEST_CASE("statistics in the pair: the standby node counts its session and the owner counts the LU", "[alua][stats]") {
  Pair p;
  Ctx ctx(kInitiator);
  login(ctx, p, 1);  // through the standby node: every command is forwarded to node 0
  for (int i = 0; i < kWrites; ++i) write_blocks(ctx, uint32_t(i) * 8, pattern(kIo, uint8_t(i)));
  for (int i = 0; i < kReads; ++i) read_blocks(ctx, uint32_t(i) * 8, kIo);

  const json s1 = stats(p, 1);
  const json* sess = find(s1["sessions"], [](const json& s) { return s["initiator"] == kInitiator && !s["peer"].get<bool>(); });
  REQUIRE(sess);
  CHECK((*sess)["stats"]["writes"] == kWrites);
  CHECK((*sess)["stats"]["reads"] == kReads);
  CHECK((*sess)["stats"]["bytes_written"] == kWrites * kIo);
  CHECK((*sess)["stats"]["bytes_read"] == kReads * kIo);
  const json* lu1 = find(s1["lus"], [&](const json& l) { return l["guid"] == p.guid(); });
  REQUIRE(lu1);
  CHECK((*lu1)["standby"] == true);
  CHECK((*lu1)["stats"]["writes"] == 0);  // forwarded: the owner counts them
  CHECK((*lu1)["stats"]["reads"] == 0);
  CHECK(s1["proxy"]["forwarded_tasks"].get<uint64_t>() >= uint64_t(kWrites + kReads));

  const json s0 = stats(p, 0);
  const json* lu0 = find(s0["lus"], [&](const json& l) { return l["guid"] == p.guid(); });
  REQUIRE(lu0);
  CHECK((*lu0)["stats"]["writes"] == kWrites);
  CHECK((*lu0)["stats"]["reads"] == kReads);
  CHECK((*lu0)["stats"]["bytes_written"] == kWrites * kIo);
  const json* peer_sess = find(s0["sessions"], [](const json& s) { return s["initiator"] == kInitiator && s["peer"].get<bool>(); });
  REQUIRE(peer_sess);
  CHECK((*peer_sess)["stats"]["writes"] == kWrites);
  CHECK((*peer_sess)["stats"]["bytes_read"] == kReads * kIo);
  const json* peer_port = find(s0["ports"], [](const json& x) { return x["peer"].get<bool>(); });
  REQUIRE(peer_port);
  CHECK((*peer_port)["stats"]["bytes_written"] == kWrites * kIo);
  CHECK(s0["proxy"]["served_tasks"].get<uint64_t>() >= uint64_t(kWrites + kReads));

  // The heartbeat's round trip: measured on both nodes once an echo came back (every
  // heartbeat_ms; bounded wait).
  for (int node : {0, 1}) {
    json s;
    const auto end = std::chrono::steady_clock::now() + kGuard;
    do {
      s = stats(p, node);
      if (s["proxy"]["rtt_samples"].get<uint64_t>() > 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } while (std::chrono::steady_clock::now() < end);
    INFO("node " << node << ": " << s["proxy"].dump());
    CHECK(s["proxy"]["rtt_samples"].get<uint64_t>() > 0);
    CHECK(s["proxy"]["rtt_us"].get<uint64_t>() > 0);
    CHECK(s["proxy"]["link"] == "up");
  }

  // The owner gone: the standby node answers by itself and counts the commands it could not
  // forward.
  const uint64_t refused = stats(p, 1)["proxy"]["refused_tasks"].get<uint64_t>();
  p.signal(0, SIGKILL);
  const auto end = std::chrono::steady_clock::now() + kGuard;
  while (stats(p, 1)["proxy"]["link"] == "up" && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE(stats(p, 1)["proxy"]["link"] == "down");
  // The first answer may be the unit attention of the access state change; then 02/04/0A or
  // 02/04/0C, answered here after forward_task refused the command.
  int answer = 0;
  for (int i = 0; i < 3 && (answer = tur(ctx)) != kUnavailable && answer != kTransitioning; ++i) {
  }
  CHECK((answer == kUnavailable || answer == kTransitioning));
  const json after = stats(p, 1);
  CHECK(after["proxy"]["refused_tasks"].get<uint64_t>() >= refused + 1);
  const json* sess_after = find(after["sessions"], [](const json& s) { return s["initiator"] == kInitiator; });
  REQUIRE(sess_after);
  CHECK((*sess_after)["stats"]["errors"]["check_condition"].get<uint64_t>() >= 1);
}
