// EXTENDED COPY through the ALUA pair (docs/scsi.md "What a copy can name"): sent through the
// standby node it is proxied to the owner and copies there; between LUs owned by different
// nodes it is refused with COPY ABORTED, COPY TARGET DEVICE NOT REACHABLE, through either node.
#include <catch2/catch.hpp>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <string>
#include <vector>

#include "mgmt/client.h"
#include "test/alua/pair.h"
#include "test/alua/pair_mgmt.h"
#include "test/alua/pair_scsi.h"
#include "test/integration/libiscsi_util.h"
#include "test/integration/xcopy_test_util.h"

using stmf::mgmt::json;
using namespace stmf::test;
using namespace stmf::test::xcopy;

namespace {

constexpr const char* kInitiator = "iqn.2026-11.org.example:alua-xcopy-host";
constexpr uint64_t kSecondLuSize = 8 << 20;

json ok(const Pair& p, int node, const std::string& op, const json& args) { return mgmt_ok(p, node, op, args); }

Task extended_copy(Ctx& ctx, int lun, std::vector<uint8_t> p) {
  iscsi_data data{p.size(), p.data()};
  return Task(iscsi_extended_copy_sync(ctx, lun, &data));
}

void check_not_reachable(const Task& t) {
  REQUIRE(t);
  CHECK(t->status == SCSI_STATUS_CHECK_CONDITION);
  CHECK(t->sense.key == SCSI_SENSE_COPY_ABORTED);
  CHECK(t->sense.ascq == 0x0d02);
}

}  // namespace

TEST_CASE("EXTENDED COPY through the pair: proxied from the standby node, refused between owners", "[alua]") {
  Pair p("tcp");
  // A second LU at LUN 1 on both nodes, owned by node 0 like the first.
  json r = ok(p, 0, "create-lu",
              {{"lu", {{"backing", p.dir() + "/xcopy1.img"}, {"size", kSecondLuSize}, {"block_size", 512}, {"name", "xcopy1"}}}});
  const std::string guid1 = r["guid"];
  ok(p, 0, "add-view", {{"guid", guid1}, {"target_group", p.iqn(0)}, {"lun", 1}});
  ok(p, 1, "add-view", {{"guid", guid1}, {"target_group", "node1"}, {"lun", 1}});

  Ctx a(kInitiator), s(kInitiator);
  login(a, p, 0);
  login(s, p, 1);
  for (Ctx* c : {&a, &s})
    for (int lun : {0, 1}) tur_until(*c, lun, 0);
  const auto naa0 = naa_of(a, 0), naa1 = naa_of(a, 1);
  const auto data = pattern(256 * kBs, 23);
  write_blocks(a, 0, 0, data);

  // Both LUs owned by node 0, the command sent through node 1: node 0 copies.
  Task t = extended_copy(s, 0, parameter_list(1, {naa0, naa1}, {{0, 1, 256, 0, 1000}}));
  REQUIRE(t);
  CHECK(t->status == SCSI_STATUS_GOOD);
  CHECK(read_blocks(a, 1, 1000, 256 * kBs) == data);

  // LUN 1 goes to node 1: a copy between LUN 0 (node 0) and LUN 1 (node 1) is refused, sent
  // to either LU through either node; nothing is written.
  ok(p, 0, "switchover-lu", {{"guid", guid1}});
  for (Ctx* c : {&a, &s})
    for (int lun : {0, 1}) tur_until(*c, lun, 0);  // ASYMMETRIC ACCESS STATE CHANGED first
  write_blocks(s, 1, 2000, std::vector<uint8_t>(256 * kBs, 0));
  for (Ctx* c : {&a, &s}) {
    check_not_reachable(extended_copy(*c, 0, parameter_list(2, {naa0, naa1}, {{0, 1, 256, 0, 2000}})));
    check_not_reachable(extended_copy(*c, 1, parameter_list(3, {naa0, naa1}, {{0, 1, 256, 0, 2000}})));
  }
  CHECK(read_blocks(s, 1, 2000, 256 * kBs) == std::vector<uint8_t>(256 * kBs, 0));
  // Inside LUN 1, now node 1's: fine through either node.
  Task in1 = extended_copy(a, 1, parameter_list(4, {naa1}, {{0, 0, 256, 1000, 3000}}));
  REQUIRE(in1);
  CHECK(in1->status == SCSI_STATUS_GOOD);
  CHECK(read_blocks(s, 1, 3000, 256 * kBs) == data);
}
