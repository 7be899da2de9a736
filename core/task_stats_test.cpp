// Counting tasks (core/task_stats.h): one Stmf with a RAM block LU; commands of every kind end
// up in the session's, the port's and the LU's counters exactly once; commands the framework
// answers without the LU count for the session and port only; a forwarded task counts for
// its session and port, not for the (standby) LU; statistics off counts nothing.
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "core/recording_port_test_util.h"
#include "core/scsi/opcodes.h"
#include "core/scsi/sbd_lu.h"
#include "core/stmf.h"
#include "core/store/backing_store.h"
#include "core/task_stats.h"

using namespace stmf;
using stmf::test::NoObserver;
using stmf::test::RecordingPort;

namespace {

constexpr uint32_t kBlock = 512;
constexpr uint64_t kLuBytes = 1 << 20;

// Takes every forwarded task and answers it later (as the proxy does with the peer's answer).
struct HoldingForwarder final : PeerForwarder {
  std::vector<TaskPtr> held;
  bool forward_task(const LogicalUnitPtr&, const TaskPtr& t) override { return held.push_back(t), true; }
  bool forward_tmf(const LogicalUnitPtr&, const ItNexusPtr&, const TmfRequest&, std::function<void(TmfResponse)>) override {
    return false;
  }
  void hand_over(const LogicalUnitPtr&, std::function<void(bool)> done) override { done(false); }
};

struct Fixture {
  Stmf stmf;
  RecordingPort port{"iqn.2026-11.org.example:t,t,0x0001", 1};
  LogicalUnitPtr lu;
  ItNexusPtr n;
  explicit Fixture(bool standby = false, PeerForwarder* fwd = nullptr, NexusObserver* obs = nullptr) {
    sbd::BlockLuConfig c;
    c.name = "lu0";
    c.guid = {0x60, 0x01, 0x44, 0xf0, 0x07};
    lu = sbd::make_block_lu(c, store::make_ram_store(kLuBytes));
    lu->set_standby(standby);
    stmf.add_lu(lu);
    stmf.add_port(port);
    if (fwd) stmf.set_peer(fwd, obs);
    auto v = std::make_shared<ViewTable>();
    v->entries.push_back({std::nullopt, std::nullopt, 0, lu});
    stmf.set_views(v);
    n = stmf.create_nexus(port, "iqn.2026-11.org.example:a", "000000000001");
  }
  TaskPtr submit(std::vector<uint8_t> cdb, uint64_t lun = 0, uint32_t edtl = 0, size_t out = 0) {
    auto t = std::make_shared<ScsiTask>();
    t->nexus = n;
    t->lun = lun;
    std::copy(cdb.begin(), cdb.end(), t->cdb.begin());
    t->cdb_length = uint8_t(cdb.size());
    t->data_out.assign(out, 0xab);
    t->expected_transfer_length = edtl;
    stmf.submit(t);
    return t;
  }
  // Waits (bounded) until the port has `count` completed tasks.
  void wait_done(size_t count) {
    for (int i = 0; i < 5000; ++i) {
      {
        std::lock_guard lk(port.mu);
        if (port.done.size() >= count) return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    FAIL("tasks did not complete");
  }
};

std::vector<uint8_t> rw10(uint8_t op, uint32_t lba, uint16_t blocks) {
  return {op, 0, uint8_t(lba >> 24), uint8_t(lba >> 16), uint8_t(lba >> 8), uint8_t(lba), 0, uint8_t(blocks >> 8), uint8_t(blocks), 0};
}

}  // namespace

TEST_CASE("task stats: reads and writes and other commands and errors counted once per session and port and LU", "[stats]") {
  Fixture f;
  f.submit({scsi::op::kTestUnitReady, 0, 0, 0, 0, 0});                   // POWER ON, RESET: CHECK CONDITION
  f.wait_done(1);
  f.submit(rw10(scsi::op::kWrite10, 0, 8), 0, 8 * kBlock, 8 * kBlock);   // 4 KiB written
  f.wait_done(2);
  f.submit(rw10(scsi::op::kRead10, 0, 8), 0, 8 * kBlock);                // 4 KiB read
  f.wait_done(3);
  f.submit(rw10(scsi::op::kRead10, 0, 2), 0, 2 * kBlock);                // 1 KiB read
  f.wait_done(4);
  f.submit({scsi::op::kInquiry, 0, 0, 0, 36, 0}, 0, 36);                 // other
  f.wait_done(5);
  f.submit(rw10(scsi::op::kRead10, kLuBytes / kBlock, 1), 0, kBlock);    // beyond the end: CHECK CONDITION
  f.wait_done(6);
  f.submit({scsi::op::kTestUnitReady, 0, 0, 0, 0, 0}, 7);                // unmapped LUN: framework answers
  f.wait_done(7);

  auto s = f.n->stats().snapshot();
  CHECK(s.commands == 7);
  CHECK(s.reads == 2);
  CHECK(s.writes == 1);
  CHECK(s.bytes_read == 10 * kBlock);
  CHECK(s.bytes_written == 8 * kBlock);
  CHECK(s.errors[size_t(stats::ErrorClass::check_condition)] == 3);
  CHECK(s.errors_total() == 3);
  CHECK(s.in_flight == 0);
  uint64_t in_hist = 0;
  for (auto b : s.latency) in_hist += b;
  CHECK(in_hist == 7);

  auto p = f.port.stats().snapshot();
  CHECK(p.commands == 7);
  CHECK(p.bytes_read == s.bytes_read);
  CHECK(p.bytes_written == s.bytes_written);

  auto l = f.lu->stats().snapshot();
  CHECK(l.commands == 6);  // not the unmapped LUN's
  CHECK(l.reads == 2);
  CHECK(l.writes == 1);
  CHECK(l.bytes_read == 10 * kBlock);
  CHECK(l.errors[size_t(stats::ErrorClass::check_condition)] == 2);
  CHECK(l.in_flight == 0);
}

TEST_CASE("task stats: RESERVATION CONFLICT counts as its own error class", "[stats]") {
  Fixture f;
  f.submit({scsi::op::kTestUnitReady, 0, 0, 0, 0, 0});  // POWER ON, RESET reported
  f.submit({scsi::op::kReserve6, 0, 0, 0, 0, 0});
  f.wait_done(2);
  auto other = f.stmf.create_nexus(f.port, "iqn.2026-11.org.example:b", "000000000002");
  auto issue = [&](std::vector<uint8_t> cdb, uint32_t edtl) {
    auto t = std::make_shared<ScsiTask>();
    t->nexus = other;
    std::copy(cdb.begin(), cdb.end(), t->cdb.begin());
    t->cdb_length = uint8_t(cdb.size());
    t->expected_transfer_length = edtl;
    f.stmf.submit(t);
    return t;
  };
  issue({scsi::op::kInquiry, 0, 0, 0, 36, 0}, 36);  // allowed; its POWER ON, RESET comes next
  issue({scsi::op::kTestUnitReady, 0, 0, 0, 0, 0}, 0);
  f.wait_done(4);
  auto t = issue(rw10(scsi::op::kRead10, 0, 1), kBlock);
  f.wait_done(5);
  CHECK(t->status == scsi::Status::reservation_conflict);
  CHECK(other->stats().snapshot().errors[size_t(stats::ErrorClass::reservation_conflict)] == 1);
  CHECK(other->stats().snapshot().reads == 0);
  CHECK(f.lu->stats().snapshot().errors[size_t(stats::ErrorClass::reservation_conflict)] == 1);
  CHECK(f.n->stats().snapshot().errors[size_t(stats::ErrorClass::reservation_conflict)] == 0);
}

TEST_CASE("task stats: a forwarded task counts for its session and port when the peer answers, not for the LU", "[stats]") {
  HoldingForwarder fwd;
  NoObserver obs;
  Fixture f(true, &fwd, &obs);
  f.submit(rw10(scsi::op::kWrite10, 0, 8), 0, 8 * kBlock, 8 * kBlock);
  REQUIRE(fwd.held.size() == 1);
  CHECK(f.n->stats().snapshot().in_flight == 1);
  CHECK(f.n->stats().snapshot().commands == 0);
  fwd.held[0]->data_out.clear();  // the proxy moves the buffer into its frame
  deliver(fwd.held[0]);           // the peer's GOOD status
  auto s = f.n->stats().snapshot();
  CHECK(s.commands == 1);
  CHECK(s.writes == 1);
  CHECK(s.bytes_written == 8 * kBlock);
  CHECK(s.in_flight == 0);
  CHECK(f.port.stats().snapshot().writes == 1);
  CHECK(f.lu->stats().snapshot().commands == 0);
}

TEST_CASE("task stats: statistics off counts nothing", "[stats]") {
  Fixture f;
  f.stmf.set_statistics(false);
  f.submit(rw10(scsi::op::kRead10, 0, 8), 0, 8 * kBlock);
  f.wait_done(1);
  CHECK(f.n->stats().snapshot().commands == 0);
  CHECK(f.lu->stats().snapshot().commands == 0);
  f.stmf.set_statistics(true);
  f.submit(rw10(scsi::op::kRead10, 0, 8), 0, 8 * kBlock);
  f.wait_done(2);
  CHECK(f.n->stats().snapshot().commands == 1);
}
