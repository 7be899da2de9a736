// Integration: SANITIZE through a real stmfd, driven by libiscsi: OVERWRITE read back, BLOCK
// ERASE reading zeroes and deallocated, IMMED with TEST UNIT READY reporting NOT READY,
// SANITIZE IN PROGRESS and its progress until done (and surviving an ABORT TASK and a LUN
// RESET), EXIT FAILURE MODE outside the failed state, and an LU configured without SANITIZE.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "test/integration/daemon.h"
#include "test/integration/libiscsi_util.h"

using stmf::test::Ctx;
using stmf::test::Daemon;
using stmf::test::DaemonOptions;
using stmf::test::Task;

namespace {

constexpr uint32_t kBs = 512;
constexpr uint64_t kBlocks = (64u << 20) / kBs;  // the 64 MiB LU of DaemonOptions
constexpr int kSanitizeInProgress = 0x041b;
constexpr int kInvalidFieldInCdb = 0x2400;

std::vector<uint8_t> read(iscsi_context* c, uint64_t lba, uint32_t blocks) {
  Task t(iscsi_read16_sync(c, 0, lba, blocks * kBs, kBs, 0, 0, 0, 0, 0));
  REQUIRE(t);
  REQUIRE(t->status == SCSI_STATUS_GOOD);
  return {t->datain.data, t->datain.data + t->datain.size};
}

void write(iscsi_context* c, uint64_t lba, std::vector<uint8_t> data) {
  Task t(iscsi_write16_sync(c, 0, lba, data.data(), uint32_t(data.size()), kBs, 0, 0, 0, 0, 0));
  REQUIRE(t);
  REQUIRE(t->status == SCSI_STATUS_GOOD);
}

// The pattern lengths here are multiples of 4: libiscsi fails to send a Data-Out whose length
// is not (its socket write gets EINVAL and it retries for ever).
std::vector<uint8_t> overwrite_list(const std::vector<uint8_t>& pattern, uint8_t count = 1) {
  std::vector<uint8_t> p = {count, 0, uint8_t(pattern.size() >> 8), uint8_t(pattern.size())};
  p.insert(p.end(), pattern.begin(), pattern.end());
  return p;
}

struct Session {
  explicit Session(const DaemonOptions& o = {}) : d(o) { connect(ctx); }
  void connect(Ctx& c) {
    REQUIRE(stmf::test::login_normal(c, d.iqn(), d.portal()));
    stmf::test::clear_unit_attentions(c, 0);
  }
  Daemon d;
  Ctx ctx;
};

DaemonOptions paced(const char* rate) {
  DaemonOptions o;
  o.lun0_json_extra = std::string(", \"sanitize_rate\": \"") + rate + "\"";
  return o;
}

bool all_bytes(const std::vector<uint8_t>& v, uint8_t b) {
  return std::all_of(v.begin(), v.end(), [b](uint8_t x) { return x == b; });
}

}  // namespace

TEST_CASE("SANITIZE OVERWRITE: the pattern reads back from the first and the last blocks", "[integration][sanitize]") {
  Session s;
  write(s.ctx, 0, std::vector<uint8_t>(8 * kBs, 'a'));
  write(s.ctx, kBlocks - 8, std::vector<uint8_t>(8 * kBs, 'a'));
  auto list = overwrite_list({0xde, 0xad, 0xbe, 0xef});
  iscsi_data data{list.size(), list.data()};
  Task t(iscsi_sanitize_sync(s.ctx, 0, 0, 0, SCSI_SANITIZE_OVERWRITE, int(list.size()), &data));
  REQUIRE(t);
  REQUIRE(t->status == SCSI_STATUS_GOOD);
  for (uint64_t lba : {uint64_t(0), kBlocks - 8}) {
    auto d = read(s.ctx, lba, 8);
    for (size_t i = 0; i < d.size(); ++i) REQUIRE(d[i] == list[4 + i % 4]);
  }
  // A list longer than a block's pattern allows: INVALID FIELD IN CDB (the parameter list
  // length).
  list = overwrite_list(std::vector<uint8_t>(kBs + 4, 1));
  data = iscsi_data{list.size(), list.data()};
  Task bad(iscsi_sanitize_sync(s.ctx, 0, 0, 0, SCSI_SANITIZE_OVERWRITE, int(list.size()), &data));
  REQUIRE(bad);
  CHECK(bad->status == SCSI_STATUS_CHECK_CONDITION);
  CHECK(bad->sense.key == SCSI_SENSE_ILLEGAL_REQUEST);
  CHECK(bad->sense.ascq == kInvalidFieldInCdb);
}

TEST_CASE("SANITIZE BLOCK ERASE: zeroes and every block deallocated, CRYPTO ERASE refused", "[integration][sanitize]") {
  Session s;
  write(s.ctx, 0, std::vector<uint8_t>(8 * kBs, 'a'));
  write(s.ctx, kBlocks - 8, std::vector<uint8_t>(8 * kBs, 'a'));
  Task t(iscsi_sanitize_block_erase_sync(s.ctx, 0, 0, 0));
  REQUIRE(t);
  REQUIRE(t->status == SCSI_STATUS_GOOD);
  CHECK(all_bytes(read(s.ctx, 0, 8), 0));
  CHECK(all_bytes(read(s.ctx, kBlocks - 8, 8), 0));
  Task st(iscsi_get_lba_status_sync(s.ctx, 0, 0, 256));
  REQUIRE(st);
  REQUIRE(st->status == SCSI_STATUS_GOOD);
  auto* lbas = static_cast<scsi_get_lba_status*>(scsi_datain_unmarshall(st.t));
  REQUIRE(lbas);
  REQUIRE(lbas->num_descriptors == 1);
  CHECK(lbas->descriptors[0].lba == 0);
  CHECK(lbas->descriptors[0].num_blocks == kBlocks);
  CHECK(lbas->descriptors[0].provisioning == SCSI_PROVISIONING_TYPE_DEALLOCATED);
  Task c(iscsi_sanitize_crypto_erase_sync(s.ctx, 0, 0, 0));
  REQUIRE(c);
  CHECK(c->status == SCSI_STATUS_CHECK_CONDITION);
  CHECK(c->sense.ascq == kInvalidFieldInCdb);
}

TEST_CASE("SANITIZE IMMED: GOOD at once then NOT READY SANITIZE IN PROGRESS with progress until done",
          "[integration][sanitize]") {
  // Paced to 16 MiB/s: the 64 MiB overwrite runs for about 4 s, long enough to be seen.
  Session s(paced("16MiB"));
  auto list = overwrite_list({0x5a, 0x5a, 0x5a, 0x5a});
  iscsi_data data{list.size(), list.data()};
  Task t(iscsi_sanitize_sync(s.ctx, 0, 1, 0, SCSI_SANITIZE_OVERWRITE, int(list.size()), &data));
  REQUIRE(t);
  REQUIRE(t->status == SCSI_STATUS_GOOD);
  // Until it is done: TEST UNIT READY says SANITIZE IN PROGRESS with a progress that only grows;
  // READ is refused the same way, INQUIRY is processed.
  int last = -1, seen = 0;
  bool read_refused = false, inquiry_ok = false;
  for (int i = 0; i < 1200; ++i) {  // at most 2 minutes
    Task u(iscsi_testunitready_sync(s.ctx, 0));
    REQUIRE(u);
    if (u->status == SCSI_STATUS_GOOD) break;
    REQUIRE(u->status == SCSI_STATUS_CHECK_CONDITION);
    REQUIRE(u->sense.key == SCSI_SENSE_NOT_READY);
    REQUIRE(u->sense.ascq == kSanitizeInProgress);
    REQUIRE(u->sense.sense_specific);
    CHECK(int(u->sense.field_pointer) >= last);
    last = u->sense.field_pointer;
    ++seen;
    if (!read_refused) {
      Task r(iscsi_read16_sync(s.ctx, 0, 0, kBs, kBs, 0, 0, 0, 0, 0));
      REQUIRE(r);
      read_refused = r->status == SCSI_STATUS_CHECK_CONDITION && r->sense.ascq == kSanitizeInProgress;
      Task q(iscsi_inquiry_sync(s.ctx, 0, 0, 0, 255));
      REQUIRE(q);
      inquiry_ok = q->status == SCSI_STATUS_GOOD;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(seen > 0);
  CHECK(read_refused);
  CHECK(inquiry_ok);
  Task u(iscsi_testunitready_sync(s.ctx, 0));
  REQUIRE(u);
  CHECK(u->status == SCSI_STATUS_GOOD);
  CHECK(all_bytes(read(s.ctx, 0, 8), 0x5a));
  CHECK(all_bytes(read(s.ctx, kBlocks - 8, 8), 0x5a));
}

TEST_CASE("SANITIZE survives ABORT TASK and LUN RESET and a new session sees it running", "[integration][sanitize]") {
  Session s(paced("16MiB"));
  auto list = overwrite_list({0x3c, 0x3c, 0x3c, 0x3c});
  iscsi_data data{list.size(), list.data()};
  bool completed = false;
  auto cb = [](iscsi_context*, int, void*, void* p) { *static_cast<bool*>(p) = true; };
  scsi_task* task = iscsi_sanitize_task(s.ctx, 0, 0, 0, SCSI_SANITIZE_OVERWRITE, int(list.size()), &data, cb, &completed);
  REQUIRE(task);
  // Wait until the target has it (TEST UNIT READY says so), without timing decisions.
  bool running = false;
  for (int i = 0; i < 100 && !running; ++i) {
    Task u(iscsi_testunitready_sync(s.ctx, 0));
    REQUIRE(u);
    running = u->status == SCSI_STATUS_CHECK_CONDITION && u->sense.ascq == kSanitizeInProgress;
  }
  REQUIRE(running);
  CHECK(iscsi_task_mgmt_abort_task_sync(s.ctx, task) == 0);
  CHECK(iscsi_task_mgmt_lun_reset_sync(s.ctx, 0) == 0);
  Ctx other("iqn.2026-11.org.example:other");
  s.connect(other);
  bool seen = false;
  for (int i = 0; i < 1200; ++i) {
    Task u(iscsi_testunitready_sync(other, 0));
    REQUIRE(u);
    if (u->status == SCSI_STATUS_GOOD) break;
    if (u->sense.key == SCSI_SENSE_UNIT_ATTENTION) continue;
    REQUIRE(u->sense.ascq == kSanitizeInProgress);
    seen = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(seen);
  CHECK(all_bytes(read(other, kBlocks - 8, 8), 0x3c));
}

TEST_CASE("SANITIZE EXIT FAILURE MODE outside the failed state and an LU configured without SANITIZE",
          "[integration][sanitize]") {
  {
    Session s;
    Task t(iscsi_sanitize_exit_failure_mode_sync(s.ctx, 0, 0, 0));
    REQUIRE(t);
    CHECK(t->status == SCSI_STATUS_GOOD);
  }
  DaemonOptions o;
  o.lun0_json_extra = ", \"sanitize\": false";
  Session s(o);
  write(s.ctx, 0, std::vector<uint8_t>(kBs, 'a'));
  Task t(iscsi_sanitize_block_erase_sync(s.ctx, 0, 0, 0));
  REQUIRE(t);
  CHECK(t->status == SCSI_STATUS_CHECK_CONDITION);
  CHECK(t->sense.key == SCSI_SENSE_ILLEGAL_REQUEST);
  CHECK(t->sense.ascq == 0x2000);  // INVALID COMMAND OPERATION CODE
  CHECK(all_bytes(read(s.ctx, 0, 1), 'a'));
}
