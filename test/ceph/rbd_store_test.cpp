// The rbd backing store against a real Ceph cluster (label `ceph`): each test process starts a
// one-host cluster with scripts/ceph-dev.sh (one monitor, one memstore OSD, pool rbd), creates an
// image with the rbd tool, serves it through stmfd ("store": "rbd") and drives it with libiscsi.
#include <catch2/catch.hpp>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test/ceph/cluster.h"
#include "test/integration/daemon.h"
#include "test/integration/block_io.h"
#include "test/integration/libiscsi_util.h"

using stmf::test::Ctx;
using stmf::test::Daemon;
using stmf::test::DaemonOptions;
using stmf::test::Task;
using stmf::test::past_ua;
using stmf::test::ceph::Cluster;
using stmf::test::ceph::cluster;
using stmf::test::ceph::exported;
using Clock = std::chrono::steady_clock;
using namespace stmf::test::block_io;

namespace {

constexpr uint64_t kImageMiB = 64;
constexpr auto kStateWait = std::chrono::seconds(60);  // NOT READY / ready again, at most

DaemonOptions rbd_options(const Cluster& c, const std::string& image) {
  DaemonOptions o;
  o.store = "rbd";
  o.size = "0";  // the image's size
  o.lun0_json_extra = ", \"backend\": {\"pool\": \"rbd\", \"image\": \"" + image + "\", \"conf\": \"" + c.conf() +
                      "\", \"keyring\": \"" + c.keyring() +
                      "\", \"op_timeout_s\": 3, \"retry_attempts\": 2, \"retry_ms\": 5000}";
  return o;
}

bool login(Ctx& ctx, const Daemon& d) {
  iscsi_set_targetname(ctx, d.iqn().c_str());
  iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
  iscsi_set_timeout(ctx, 60);
  return iscsi_full_connect_sync(ctx, d.portal().c_str(), 0) == 0;
}


// TEST UNIT READY until `want(task)` holds or kStateWait passes.
template <class F>
bool tur_until(Ctx& c, F want) {
  const auto deadline = Clock::now() + kStateWait;
  while (Clock::now() < deadline) {
    Task t(iscsi_testunitready_sync(c, 0));
    if (t && want(*t.t)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

bool not_ready(const scsi_task& t) {
  return t.status == SCSI_STATUS_CHECK_CONDITION && t.sense.key == SCSI_SENSE_NOT_READY;
}

}  // namespace

TEST_CASE("rbd store: capacity from the image, data both ways, FUA, SYNCHRONIZE CACHE, UNMAP",
          "[ceph][rbd_store]") {
  auto& c = cluster();
  REQUIRE(c.rbd("create rbd/data --size " + std::to_string(kImageMiB) + "M") == 0);
  Daemon d(rbd_options(c, "data"));
  Ctx ctx;
  REQUIRE(login(ctx, d));
  const uint64_t blocks = capacity_blocks(ctx);
  CHECK(blocks == (kImageMiB << 20) / kBlock);

  auto a = pattern(64 * kBlock, 1), b = pattern(8 * kBlock, 2);
  write_blocks(ctx, 1000, a, false);
  write_blocks(ctx, blocks - 8, b, true);  // the last blocks, with FUA
  CHECK(read_blocks(ctx, 1000, 64) == a);
  CHECK(read_blocks(ctx, blocks - 8, 8) == b);
  auto big = pattern(2048 * kBlock, 3);  // 1 MiB: one command over two RADOS objects' boundary
  write_blocks(ctx, 8192 - 1024, big, false);
  CHECK(read_blocks(ctx, 8192 - 1024, 2048) == big);
  {
    Task t(past_ua([&] { return iscsi_synchronizecache16_sync(ctx, 0, 0, 0, 0, 0); }));
    REQUIRE(t);
    CHECK(t->status == SCSI_STATUS_GOOD);
  }
  // What stmfd acknowledged is in the cluster (read with the rbd tool, not through stmfd).
  CHECK(exported(c, "data", 1000 * kBlock, a.size()) == a);
  CHECK(exported(c, "data", (blocks - 8) * kBlock, b.size()) == b);

  // UNMAP: offered (thin), and the range reads as zeroes afterwards, partial objects included.
  {
    Task lbp(past_ua([&] { return iscsi_inquiry_sync(ctx, 0, 1, SCSI_INQUIRY_PAGECODE_LOGICAL_BLOCK_PROVISIONING, 255); }));
    REQUIRE(lbp);
    REQUIRE(lbp->status == SCSI_STATUS_GOOD);
    auto* p = static_cast<scsi_inquiry_logical_block_provisioning*>(scsi_datain_unmarshall(lbp.t));
    REQUIRE(p);
    CHECK(p->lbpu);
    unmap_list l{1010, 32};
    Task t(past_ua([&] { return iscsi_unmap_sync(ctx, 0, 0, 0, &l, 1); }));
    REQUIRE(t);
    CHECK(t->status == SCSI_STATUS_GOOD);
  }
  auto after = read_blocks(ctx, 1000, 64);
  CHECK(std::vector<uint8_t>(after.begin(), after.begin() + 10 * kBlock) ==
        std::vector<uint8_t>(a.begin(), a.begin() + 10 * kBlock));
  CHECK(std::all_of(after.begin() + 10 * kBlock, after.begin() + 42 * kBlock, [](uint8_t x) { return x == 0; }));
  CHECK(std::vector<uint8_t>(after.begin() + 42 * kBlock, after.end()) ==
        std::vector<uint8_t>(a.begin() + 42 * kBlock, a.end()));
  // WRITE SAME with UNMAP zeroes too.
  {
    std::vector<uint8_t> zero(kBlock, 0);
    Task t(past_ua([&] { return iscsi_writesame16_sync(ctx, 0, 8192 - 1024, zero.data(), kBlock, 16, 0, 1, 0, 0); }));
    REQUIRE(t);
    CHECK(t->status == SCSI_STATUS_GOOD);
    auto z = read_blocks(ctx, 8192 - 1024, 16);
    CHECK(std::all_of(z.begin(), z.end(), [](uint8_t x) { return x == 0; }));
  }
  // Beyond the end: refused.
  {
    std::vector<uint8_t> one(kBlock, 1);
    Task t(iscsi_write16_sync(ctx, 0, blocks, one.data(), kBlock, kBlock, 0, 0, 0, 0, 0));
    REQUIRE(t);
    CHECK(t->status == SCSI_STATUS_CHECK_CONDITION);
    CHECK(t->sense.key == SCSI_SENSE_ILLEGAL_REQUEST);
  }
}

TEST_CASE("rbd store: the image grown online raises CAPACITY DATA HAS CHANGED", "[ceph][rbd_store]") {
  auto& c = cluster();
  REQUIRE(c.rbd("create rbd/grow --size " + std::to_string(kImageMiB) + "M") == 0);
  Daemon d(rbd_options(c, "grow"));
  Ctx ctx;
  REQUIRE(login(ctx, d));
  CHECK(capacity_blocks(ctx) == (kImageMiB << 20) / kBlock);
  REQUIRE(c.rbd("resize rbd/grow --size " + std::to_string(2 * kImageMiB) + "M") == 0);
  // CAPACITY DATA HAS CHANGED (06/2A/09) comes to the nexus.
  CHECK(tur_until(ctx, [](const scsi_task& t) {
    return t.status == SCSI_STATUS_CHECK_CONDITION && t.sense.key == SCSI_SENSE_UNIT_ATTENTION &&
           t.sense.ascq == 0x2a09;
  }));
  CHECK(capacity_blocks(ctx) == (2 * kImageMiB << 20) / kBlock);
  auto tail = pattern(8 * kBlock, 9);
  write_blocks(ctx, (2 * kImageMiB << 20) / kBlock - 8, tail, true);
  CHECK(read_blocks(ctx, (2 * kImageMiB << 20) / kBlock - 8, 8) == tail);
}

TEST_CASE("rbd store: the cluster gone -> NOT READY, back -> ready, data intact", "[ceph][rbd_store]") {
  auto& c = cluster();
  REQUIRE(c.rbd("create rbd/loss --size " + std::to_string(kImageMiB) + "M") == 0);
  Daemon d(rbd_options(c, "loss"));
  Ctx ctx;
  REQUIRE(login(ctx, d));
  auto a = pattern(16 * kBlock, 5);
  write_blocks(ctx, 100, a, true);

  REQUIRE(c.control("freeze") == 0);
  // The health probe times out (op_timeout_s 3): TEST UNIT READY says NOT READY.
  const bool down = tur_until(ctx, not_ready);
  // A FUA write while the cluster is gone fails (NOT READY) after its bounded retries (a plain
  // write may be acknowledged by librbd's write-back cache: rbd_cache, docs/rbd.md).
  std::vector<uint8_t> lost(kBlock, 0xee);
  Task w(iscsi_write16_sync(ctx, 0, 200, lost.data(), kBlock, kBlock, 0, 0, 1, 0, 0));
  REQUIRE(c.control("thaw") == 0);
  CHECK(down);
  REQUIRE(w);
  INFO("status " << w->status << " sense key " << int(w->sense.key) << " ascq " << std::hex << w->sense.ascq);
  CHECK(not_ready(*w.t));

  CHECK(tur_until(ctx, [](const scsi_task& t) { return t.status == SCSI_STATUS_GOOD; }));
  CHECK(read_blocks(ctx, 100, 16) == a);
  auto b = pattern(4 * kBlock, 6);
  write_blocks(ctx, 300, b, true);
  CHECK(read_blocks(ctx, 300, 4) == b);
}
