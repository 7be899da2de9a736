// SANITIZE through the ALUA pair (docs/scsi.md "SANITIZE"): sent through the standby node it is
// proxied to the owner and runs there; TEST UNIT READY through either node then gets the
// owner's NOT READY, SANITIZE IN PROGRESS with its progress, and the pattern reads back through
// both nodes when it is done.
#include <catch2/catch.hpp>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <algorithm>
#include <string>
#include <vector>

#include "mgmt/client.h"
#include "test/alua/pair.h"
#include "test/alua/pair_mgmt.h"
#include "test/alua/pair_scsi.h"
#include "test/integration/libiscsi_util.h"

using stmf::mgmt::json;
using namespace stmf::test;

namespace {

constexpr const char* kInitiator = "iqn.2026-11.org.example:alua-sanitize-host";
constexpr uint64_t kLuSize = 16 << 20;
constexpr int kSanitizeInProgress = SCSI_SENSE_NOT_READY << 16 | 0x041b;

json ok(const Pair& p, int node, const std::string& op, const json& args) { return mgmt_ok(p, node, op, args); }

}  // namespace

TEST_CASE("SANITIZE through the pair: proxied from the standby node, its state seen through both", "[alua]") {
  Pair p("tcp");
  // A 16 MiB LU at LUN 1 owned by node 0, its sanitize paced to 4 MiB/s (about 4 s).
  json r = ok(p, 0, "create-lu",
              {{"lu", {{"backing", p.dir() + "/sanitize1.img"}, {"size", kLuSize}, {"block_size", 512},
                       {"name", "sanitize1"}, {"sanitize_rate", "4MiB"}}}});
  const std::string guid = r["guid"];
  ok(p, 0, "add-view", {{"guid", guid}, {"target_group", p.iqn(0)}, {"lun", 1}});
  ok(p, 1, "add-view", {{"guid", guid}, {"target_group", "node1"}, {"lun", 1}});

  Ctx a(kInitiator), s(kInitiator);
  login(a, p, 0);
  login(s, p, 1);
  for (Ctx* c : {&a, &s}) tur_until(*c, 1, 0);
  write_blocks(a, 1, 0, std::vector<uint8_t>(64 * 512, 'a'));

  std::vector<uint8_t> list = {1, 0, 0, 4, 0xc3, 0x3c, 0xc3, 0x3c};  // one pass of the pattern c3 3c c3 3c
  iscsi_data data{list.size(), list.data()};
  Task t(iscsi_sanitize_sync(s, 1, 1, 0, SCSI_SANITIZE_OVERWRITE, int(list.size()), &data));  // IMMED
  REQUIRE(t);
  REQUIRE(t->status == SCSI_STATUS_GOOD);
  // Running on the owner: both nodes answer with its sense, then GOOD.
  const int through_standby = tur(s, 1), through_owner = tur(a, 1);
  CHECK((through_standby == kSanitizeInProgress || through_standby == 0));
  CHECK((through_owner == kSanitizeInProgress || through_owner == 0));
  CHECK((through_standby == kSanitizeInProgress || through_owner == kSanitizeInProgress));
  auto seen = tur_until(s, 1, 0);
  CHECK(std::all_of(seen.begin(), seen.end(), [](int x) { return x == kSanitizeInProgress || x == 0; }));
  tur_until(a, 1, 0);
  for (Ctx* c : {&a, &s}) {
    auto d = read_blocks(*c, 1, 0, 64 * 512);  // a length in bytes
    for (size_t i = 0; i < d.size(); ++i) REQUIRE(d[i] == (i % 2 ? 0x3c : 0xc3));
  }
}
