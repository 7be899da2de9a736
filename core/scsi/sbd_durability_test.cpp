// Block LU durability: a failed flush or FUA write is latched (every later flush and FUA write
// fails until it is cleared), UNMAP and WRITE SAME UNMAP are durable before GOOD with WCE=0;
// the same over a real file store whose fdatasync fails once, whose reads fail, or whose
// io_uring_submit keeps failing (core/store/store_faults.h).
#include <cerrno>
#include <future>

#include "core/scsi/opcodes.h"
#include "core/scsi/sbd_test_util.h"
#include "core/store/file_store.h"
#include "core/store/store_faults.h"
#include "core/store/store_test_util.h"

using namespace stmf;
using namespace stmf::sbd::test;

namespace {
using namespace stmf::scsi::op;
constexpr uint8_t kFua = 0x08;

// UNMAP with one descriptor: its CDB and parameter list.
const std::vector<uint8_t> kUnmapCdb = [] {
  std::vector<uint8_t> c(10, 0);
  c[0] = kUnmap;
  scsi::put_be16(&c[7], 24);
  return c;
}();
std::vector<uint8_t> unmap_list(uint64_t lba, uint32_t n) {
  std::vector<uint8_t> list(24, 0);
  scsi::put_be16(&list[0], 22);
  scsi::put_be16(&list[2], 16);
  scsi::put_be64(&list[8], lba);
  scsi::put_be32(&list[16], n);
  return list;
}

std::vector<uint8_t> ssu(uint8_t b4) { return {0x1b, 0, 0, 0, b4, 0}; }

bool lu_flush(LogicalUnit& lu) {
  std::promise<bool> p;
  lu.flush([&](bool ok) { p.set_value(ok); });
  return p.get_future().get();
}
}  // namespace

TEST_CASE("a failed flush is latched: later flushes and FUA writes fail until it is cleared", "[sbd][durability]") {
  Lu l;
  REQUIRE(good(l.run(cdb10(kWrite10, 0, 8), pattern(8 * 512, 1))));  // WCE=1: in the cache
  CHECK_FALSE(sbd::block_lu_durability_fault(*l.lu));
  // The writeback failed: the store reports it to one flush and then forgets it.
  l.store->flush_error_once = std::make_error_code(std::errc::io_error);
  CHECK_SENSE(l.run(cdb10(kSynchronizeCache10, 0, 0)), 0x3, 0x0c, 0x00);
  const int flushes = l.store->flushes, writes = l.store->writes;
  // Every later flush and FUA write fails, without reaching the store.
  CHECK_SENSE(l.run(cdb10(kSynchronizeCache10, 0, 0)), 0x3, 0x0c, 0x00);
  CHECK_SENSE(l.run(cdb10(kWrite10, 0, 1, kFua), pattern(512, 2)), 0x3, 0x0c, 0x00);
  CHECK_SENSE(l.run(cdb10(kWriteAndVerify10, 0, 1), pattern(512, 2)), 0x3, 0x0c, 0x00);
  CHECK_SENSE(l.run(ssu(0x00)), 0x3, 0x0c, 0x00);  // stop flushes first
  CHECK_FALSE(lu_flush(*l.lu));                     // a switchover's flush fails too
  CHECK(l.store->flushes == flushes);
  CHECK(l.store->writes == writes);
  // Writes with WCE=0 are FUA writes.
  sbd::set_block_lu_write_cache(*l.lu, false);
  CHECK_SENSE(l.run(cdb10(kWrite10, 0, 1), pattern(512, 2)), 0x3, 0x0c, 0x00);
  CHECK_SENSE(l.run(cdb10(kWriteSame10, 0, 4), pattern(512, 2)), 0x3, 0x0c, 0x00);
  sbd::set_block_lu_write_cache(*l.lu, true);
  // Writes into the cache and reads go on.
  CHECK(good(l.run(cdb10(kWrite10, 8, 1), pattern(512, 3))));
  CHECK(good(l.run(cdb10(kRead10, 0, 8))));
  // Visible to management, and cleared by it (online-lu after offline-lu).
  auto fault = sbd::block_lu_durability_fault(*l.lu);
  REQUIRE(fault);
  CHECK(fault->find("SYNCHRONIZE CACHE") != std::string::npos);
  CHECK(fault->find(std::make_error_code(std::errc::io_error).message()) != std::string::npos);
  CHECK(sbd::clear_block_lu_durability_fault(*l.lu) == fault);
  CHECK_FALSE(sbd::block_lu_durability_fault(*l.lu));
  CHECK_FALSE(sbd::clear_block_lu_durability_fault(*l.lu));
  CHECK(good(l.run(cdb10(kSynchronizeCache10, 0, 0))));
  CHECK(good(l.run(cdb10(kWrite10, 0, 1, kFua), pattern(512, 4))));
  CHECK(l.store->bytes()[0] == 4);
  CHECK(lu_flush(*l.lu));
}

TEST_CASE("a failed FUA write is latched like a failed flush", "[sbd][durability]") {
  Lu l;
  // RWF_DSYNC reports (and consumes) a writeback error of earlier writes as well.
  l.store->write_error = std::make_error_code(std::errc::io_error);
  CHECK_SENSE(l.run(cdb10(kWrite10, 0, 1, kFua), pattern(512, 1)), 0x3, 0x0c, 0x00);
  l.store->write_error = {};
  CHECK_SENSE(l.run(cdb10(kSynchronizeCache10, 0, 0)), 0x3, 0x0c, 0x00);
  CHECK(sbd::block_lu_durability_fault(*l.lu));
  sbd::clear_block_lu_durability_fault(*l.lu);
  // Out of space: reported as such first, and latched (the kernel gives a failed writeback
  // of earlier data the same errno).
  l.store->write_error = std::make_error_code(std::errc::no_space_on_device);
  CHECK_SENSE(l.run(cdb10(kWrite10, 0, 1, kFua), pattern(512, 1)), 0x7, 0x27, 0x07);
  l.store->write_error = {};
  CHECK_SENSE(l.run(cdb10(kSynchronizeCache10, 0, 0)), 0x3, 0x0c, 0x00);
  sbd::clear_block_lu_durability_fault(*l.lu);
  // Refusals before the medium (a read-only store) are not latched.
  l.store->write_error = std::make_error_code(std::errc::read_only_file_system);
  CHECK_SENSE(l.run(cdb10(kWrite10, 0, 1, kFua), pattern(512, 1)), 0x3, 0x0c, 0x00);
  l.store->write_error = {};
  CHECK(good(l.run(cdb10(kSynchronizeCache10, 0, 0))));
  // A failed write without FUA promised nothing durable: not latched.
  l.store->write_error = std::make_error_code(std::errc::io_error);
  CHECK_SENSE(l.run(cdb10(kWrite10, 0, 1), pattern(512, 1)), 0x3, 0x0c, 0x00);
  l.store->write_error = {};
  CHECK(good(l.run(cdb10(kSynchronizeCache10, 0, 0))));
}

TEST_CASE("with WCE=0, UNMAP and WRITE SAME UNMAP are flushed before GOOD", "[sbd][durability][thin]") {
  Lu l;
  // WCE=1: no flush.
  REQUIRE(good(l.run(kUnmapCdb, unmap_list(0, 8))));
  REQUIRE(good(l.run(cdb10(kWriteSame10, 16, 8, 0x08), pattern(512, 0))));
  CHECK(l.store->flushes == 0);

  sbd::set_block_lu_write_cache(*l.lu, false);
  for (bool write_same : {false, true}) {
    INFO((write_same ? "WRITE SAME UNMAP" : "UNMAP"));
    l.store->hold = true;
    const int unmaps = l.store->unmaps, flushes = l.store->flushes;
    bool done = false;
    TaskPtr t = write_same ? l.start(cdb10(kWriteSame10, 32, 8, 0x08), pattern(512, 0), &done)
                           : l.start(kUnmapCdb, unmap_list(32, 8), &done);
    REQUIRE(l.store->run_one());  // the deallocation
    CHECK(l.store->unmaps == unmaps + 1);
    CHECK_FALSE(done);            // not GOOD before it is durable
    CHECK(l.store->flushes == flushes + 1);
    REQUIRE(l.store->run_one());  // the flush
    CHECK(done);
    CHECK(good(t));
    l.store->hold = false;
    // A failed flush fails the command (and is latched).
    l.store->flush_error_once = std::make_error_code(std::errc::io_error);
    CHECK_SENSE(write_same ? l.run(cdb10(kWriteSame10, 32, 8, 0x08), pattern(512, 0)) : l.run(kUnmapCdb, unmap_list(32, 8)),
                0x3, 0x0c, 0x00);
    CHECK(sbd::clear_block_lu_durability_fault(*l.lu));
  }
  // No descriptors: nothing deallocated, nothing to flush.
  const int flushes = l.store->flushes;
  std::vector<uint8_t> empty(8, 0);
  scsi::put_be16(&empty[0], 6);
  std::vector<uint8_t> c(10, 0);
  c[0] = kUnmap;
  scsi::put_be16(&c[7], 8);
  CHECK(good(l.run(c, empty)));
  CHECK(l.store->flushes == flushes);
}

// ---------------------------------------------------------------------------------------
// Over a real file store.

namespace {

struct FileLu {
  explicit FileLu(store::IoEngine engine) {
    faults = std::make_shared<store::StoreFaults>();
    store::StoreOptions o;
    o.path = path.path;
    o.size = 1 << 20;
    o.engine = engine;
    o.queue_depth = 4;
    o.inline_page_cache = false;  // every request through the engine
    o.faults = faults;
    std::error_code ec;
    std::string why;
    auto st = store::make_file_store(o, ec, why);
    INFO(why);
    REQUIRE(st);
    sbd::BlockLuConfig c;
    c.name = "file-lu";
    c.guid = {0x60, 0x01, 0x40, 0x50, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13};
    lu = sbd::make_block_lu(c, std::move(st));
    REQUIRE(lu);
    nexus = std::make_shared<ItNexus>(1, port, "iqn.init:a", "400001370000");
  }
  // Runs a command; nullptr when it did not complete within the store tests' timeout.
  TaskPtr run(std::vector<uint8_t> cdb, std::vector<uint8_t> out = {}) {
    auto t = std::make_shared<ScsiTask>();
    t->nexus = nexus;
    std::copy(cdb.begin(), cdb.end(), t->cdb.begin());
    t->cdb_length = uint8_t(cdb.size());
    t->data_out = std::move(out);
    t->expected_transfer_length = uint32_t(t->data_out.size());
    auto p = std::make_shared<std::promise<void>>();
    lu->execute(t, [p](const TaskPtr&) { p->set_value(); });
    if (p->get_future().wait_for(store::test::kTimeout) != std::future_status::ready) return nullptr;
    return t;
  }

  store::test::TempPath path;
  std::shared_ptr<store::StoreFaults> faults;
  FakePort port;
  std::shared_ptr<LogicalUnit> lu;
  std::shared_ptr<ItNexus> nexus;
};

const char* engine_label(store::IoEngine e) { return e == store::IoEngine::io_uring ? "io_uring" : "thread_pool"; }

}  // namespace

TEST_CASE("file store whose fdatasync fails once: SYNCHRONIZE CACHE keeps failing until cleared",
          "[sbd][durability][file]") {
  auto engine = GENERATE(store::IoEngine::io_uring, store::IoEngine::thread_pool);
  SECTION(engine_label(engine)) {
    FileLu f(engine);
    auto t = f.run(cdb10(kWrite10, 0, 8), pattern(8 * 512, 7));
    REQUIRE(t);
    REQUIRE(good(t));
    f.faults->flush_once = EIO;
    REQUIRE((t = f.run(cdb10(kSynchronizeCache10, 0, 0))));
    CHECK_SENSE(t, 0x3, 0x0c, 0x00);
    // The kernel has forgotten the error (the next fdatasync would succeed); the LU has not.
    REQUIRE((t = f.run(cdb10(kSynchronizeCache10, 0, 0))));
    CHECK_SENSE(t, 0x3, 0x0c, 0x00);
    REQUIRE((t = f.run(cdb10(kWrite10, 0, 1, kFua), pattern(512, 8))));
    CHECK_SENSE(t, 0x3, 0x0c, 0x00);
    REQUIRE(sbd::clear_block_lu_durability_fault(*f.lu));
    REQUIRE((t = f.run(cdb10(kSynchronizeCache10, 0, 0))));
    CHECK(good(t));
  }
}

TEST_CASE("file store whose reads fail: VERIFY BYTCHK 00b is MEDIUM ERROR", "[sbd][durability][file][verify]") {
  FileLu f(store::IoEngine::thread_pool);
  auto t = f.run(cdb10(kVerify10, 0, 2048));
  REQUIRE(t);
  CHECK(good(t));
  f.faults->read = EIO;
  REQUIRE((t = f.run(cdb10(kVerify10, 0, 2048))));
  CHECK_SENSE(t, 0x3, 0x11, 0x00);
}

TEST_CASE("file store whose io_uring_submit keeps failing: commands end with CHECK CONDITION",
          "[sbd][durability][file]") {
  FileLu f(store::IoEngine::io_uring);
  REQUIRE(good(f.run(cdb10(kWrite10, 0, 1), pattern(512, 1))));
  f.faults->uring_submit = ENOMEM;
  TaskPtr wr, rd, sync;
  // More commands than the ring has SQ entries (4).
  for (int i = 0; i < 6; ++i) {
    wr = f.run(cdb10(kWrite10, 8, 1, kFua), pattern(512, 2));
    rd = f.run(cdb10(kRead10, 0, 1));
    if (!wr || !rd) break;
  }
  sync = f.run(cdb10(kSynchronizeCache10, 0, 0));
  const bool hung = !wr || !rd || !sync;
  f.faults->uring_submit = 0;
  if (hung) {
    (void)f.run(cdb10(kSynchronizeCache10, 0, 0));  // lets the kernel take what was left in the ring
    FAIL("a command did not complete while io_uring_submit failed");
  }
  CHECK_SENSE(wr, 0x3, 0x0c, 0x00);
  CHECK_SENSE(rd, 0x3, 0x11, 0x00);
  CHECK_SENSE(sync, 0x3, 0x0c, 0x00);
}

TEST_CASE("a store out of reach (ENOTCONN) or out of queue slots (EBUSY): retryable sense, no latch, not ready: TEST UNIT "
          "READY says so", "[sbd][durability][iscsi_store]") {
  Lu l;
  REQUIRE(good(l.run(cdb10(kWrite10, 0, 8), pattern(8 * 512, 1))));
  // A flush that never ran (the backend connection was down): NOT READY, BECOMING READY.
  l.store->flush_error_once = std::make_error_code(std::errc::not_connected);
  CHECK_SENSE(l.run(cdb10(kSynchronizeCache10, 0, 0)), 0x2, 0x04, 0x01);
  CHECK_FALSE(sbd::block_lu_durability_fault(*l.lu));
  CHECK(good(l.run(cdb10(kSynchronizeCache10, 0, 0))));  // the next one reaches the store and succeeds
  // A FUA write and a read refused for want of queue slots: ABORTED COMMAND, INSUFFICIENT RESOURCES.
  l.store->write_error = std::make_error_code(std::errc::device_or_resource_busy);
  CHECK_SENSE(l.run(cdb10(kWrite10, 0, 1, kFua), pattern(512, 2)), 0xb, 0x55, 0x03);
  CHECK_FALSE(sbd::block_lu_durability_fault(*l.lu));
  l.store->write_error = {};
  l.store->read_error = std::make_error_code(std::errc::not_connected);
  CHECK_SENSE(l.run(cdb10(kRead10, 0, 1)), 0x2, 0x04, 0x01);
  l.store->read_error = {};
  // Not ready: TEST UNIT READY answers 02/04/01 at once; ready again: GOOD.
  l.store->ready_now = false;
  CHECK_SENSE(l.run({0x00, 0, 0, 0, 0, 0}), 0x2, 0x04, 0x01);
  l.store->ready_now = true;
  CHECK(good(l.run({0x00, 0, 0, 0, 0, 0})));
}
