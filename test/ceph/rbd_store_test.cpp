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
#include <condition_variable>
#include <mutex>
#include <optional>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/store/store_suite.h"
#include "store_rbd/rbd_store.h"
#include "test/ceph/cluster.h"
#include "test/integration/daemon.h"
#include "test/integration/io_runner.h"
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
namespace suite = stmf::store::test::suite;

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
  // Checked in the cluster with the rbd tool, not through stmfd (the LU-level half of the suite).
  lu_data_path(ctx, blocks, [&](uint64_t lba, uint32_t n) { return exported(c, "data", lba * kBlock, n * kBlock); });
}

namespace {

// The store suite's subject: an rbd store made directly (no daemon) over a fresh 64 MiB image,
// on an io_context of the test's; the medium is the image exported with the rbd tool.
// The default queue_depth + queue_limit: the operation after them in a held burst is refused.

struct RbdMedium {
  stmf::test::IoRunner io;  // first: destroyed last
  std::mutex mu;
  std::condition_variable cv;
  std::optional<uint64_t> grown;  // what on_grown said
};

suite::Subject rbd_subject() {
  static int images = 0;
  auto& c = cluster();
  const std::string image = "suite" + std::to_string(++images);
  REQUIRE(c.rbd("create rbd/" + image + " --size " + std::to_string(suite::kSuiteSize >> 20) + "M") == 0);
  auto m = std::make_shared<RbdMedium>();
  stmf::rbdstore::RbdStoreOptions o;
  o.pool = "rbd";
  o.image = image;
  o.conf = c.conf();
  o.keyring = c.keyring();
  o.on_grown = [w = std::weak_ptr<RbdMedium>(m)](uint64_t n) {
    if (auto m = w.lock()) {
      std::lock_guard lk(m->mu);
      m->grown = n;
      m->cv.notify_all();
    }
  };
  auto s = stmf::test::asio_subject(m, [&](auto& io, auto& ec, auto& why) { return stmf::rbdstore::make_rbd_store(io, o, ec, why); });
  s.caps = {.grow = suite::Grow::resize, .tracks_allocation = false, .refuse_beyond = o.queue_depth + o.queue_limit,
            .notifies_growth = true};
  s.medium = [image](uint64_t off, size_t n) { return exported(cluster(), image, off, n); };
  s.grown_outside = [m, image](uint64_t n) -> std::optional<uint64_t> {
    if (cluster().rbd("resize rbd/" + image + " --size " + std::to_string(n >> 20) + "M") != 0) return std::nullopt;
    std::unique_lock lk(m->mu);
    m->cv.wait_for(lk, kStateWait, [&] { return m->grown.has_value(); });
    return m->grown;
  };
  return s;
}

}  // namespace

TEST_CASE("store suite: rbd store on the dev cluster", "[ceph][rbd_store][store_suite]") { suite::run(rbd_subject); }

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

TEST_CASE("rbd store: a read across the end of an image shrunk under the LU fails, never GOOD with a stale tail",
          "[ceph][rbd_store]") {
  auto& c = cluster();
  REQUIRE(c.rbd("create rbd/shrink --size " + std::to_string(kImageMiB) + "M") == 0);
  Daemon d(rbd_options(c, "shrink"));
  Ctx ctx;
  REQUIRE(login(ctx, d));
  const uint64_t new_end = (kImageMiB / 2 << 20) / kBlock;
  auto data = pattern(16 * kBlock, 3);
  write_blocks(ctx, new_end - 8, data, true);
  REQUIRE(c.rbd("resize rbd/shrink --allow-shrink --size " + std::to_string(kImageMiB / 2) + "M") == 0);
  // librbd clips a read that crosses the image's end: 8 blocks of 16 come back. The LU still
  // has its old capacity (a shrink is not followed, docs/rbd.md), so the READ is in range to it.
  Task r(iscsi_read16_sync(ctx, 0, new_end - 8, 16 * kBlock, kBlock, 0, 0, 0, 0, 0));
  REQUIRE(r);
  INFO("status " << r->status << " sense key " << int(r->sense.key) << " asc/ascq " << std::hex << r->sense.ascq);
  CHECK(r->status == SCSI_STATUS_CHECK_CONDITION);
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
