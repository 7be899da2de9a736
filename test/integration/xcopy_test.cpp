// Integration: EXTENDED COPY (LID1) and RECEIVE COPY RESULTS through a real stmfd, driven by
// libiscsi: copies inside one LU and between two LUs of the daemon, checked by reading the
// data back, and a copy aborted by ABORT TASK whose destination matches what COPY STATUS says.
#include <catch2/catch.hpp>

extern "C" {
#include <poll.h>
}

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "test/integration/daemon.h"
#include "test/integration/libiscsi_util.h"
#include "test/integration/xcopy_test_util.h"

using stmf::test::Ctx;
using stmf::test::Daemon;
using stmf::test::DaemonOptions;
using stmf::test::Task;
using namespace stmf::test::xcopy;

namespace {

std::vector<uint8_t> read(iscsi_context* c, int lun, uint64_t lba, uint32_t blocks) {
  Task t(iscsi_read16_sync(c, lun, lba, blocks * kBs, kBs, 0, 0, 0, 0, 0));
  REQUIRE(t);
  REQUIRE(t->status == SCSI_STATUS_GOOD);
  return {t->datain.data, t->datain.data + t->datain.size};
}

void write(iscsi_context* c, int lun, uint64_t lba, std::vector<uint8_t> data) {
  Task t(iscsi_write16_sync(c, lun, lba, data.data(), uint32_t(data.size()), kBs, 0, 0, 0, 0, 0));
  REQUIRE(t);
  REQUIRE(t->status == SCSI_STATUS_GOOD);
}

std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t((i * 131 + seed * 7 + i / kBs) & 0xff);
  return v;
}

DaemonOptions two_luns(const char* size) {
  DaemonOptions o;
  o.luns = 2;
  o.size = size;
  return o;
}

// A daemon with two file LUs of `size`, a session that sees both, and their NAA designators.
struct TwoLus {
  explicit TwoLus(const char* size) : d(two_luns(size)) {
    REQUIRE(stmf::test::login_normal(ctx, d.iqn(), d.portal()));
    stmf::test::clear_unit_attentions(ctx, 0);
    stmf::test::clear_unit_attentions(ctx, 1);
    a = naa_of(ctx, 0);
    b = naa_of(ctx, 1);
    REQUIRE(a != b);
  }
  Daemon d;
  Ctx ctx;
  std::vector<uint8_t> a, b;
};

}  // namespace

TEST_CASE("EXTENDED COPY: inside one LU and between two LUs, data read back, COPY STATUS", "[integration]") {
  TwoLus f("64MiB");
  auto& ctx = f.ctx;
  const auto& a = f.a;
  const auto& b = f.b;
  const auto src = pattern(5000 * kBs, 1);
  write(ctx, 0, 0, src);

  auto p = parameter_list(1, {a, b}, {{0, 1, 5000, 0, 100}, {0, 0, 3000, 0, 20000}, {1, 1, 64, 100, 60000}});
  iscsi_data data{p.size(), p.data()};
  Task t(iscsi_extended_copy_sync(ctx, 0, &data));
  REQUIRE(t);
  CHECK(t->status == SCSI_STATUS_GOOD);

  CHECK(read(ctx, 1, 100, 5000) == src);
  CHECK(read(ctx, 0, 20000, 3000) == std::vector<uint8_t>(src.begin(), src.begin() + 3000 * kBs));
  CHECK(read(ctx, 1, 60000, 64) == std::vector<uint8_t>(src.begin(), src.begin() + 64 * kBs));

  Task st(iscsi_receive_copy_results_sync(ctx, 0, kCopyStatus, 1, 64));
  REQUIRE(st);
  REQUIRE(st->status == SCSI_STATUS_GOOD);
  REQUIRE(st->datain.size >= 12);
  CHECK(st->datain.data[4] == 0x01);  // completed without errors
  CHECK(st->datain.data[6] == 3);     // segments processed
  CHECK(get32(&st->datain.data[8]) == (5000 + 3000 + 64) * kBs);

  // The same copy sent to LUN 1 (the copy manager of either LU reaches both).
  write(ctx, 1, 100, std::vector<uint8_t>(5000 * kBs, 0));
  Task t1(iscsi_extended_copy_sync(ctx, 1, &data));
  REQUIRE(t1);
  CHECK(t1->status == SCSI_STATUS_GOOD);
  CHECK(read(ctx, 1, 100, 5000) == src);

  // A designator the nexus does not see: COPY ABORTED, COPY TARGET DEVICE NOT REACHABLE.
  auto other = b;
  other.back() ^= 0xff;
  auto bad = parameter_list(2, {a, other}, {{0, 1, 8, 0, 0}});
  iscsi_data bad_data{bad.size(), bad.data()};
  Task tb(iscsi_extended_copy_sync(ctx, 0, &bad_data));
  REQUIRE(tb);
  CHECK(tb->status == SCSI_STATUS_CHECK_CONDITION);
  CHECK(tb->sense.key == SCSI_SENSE_COPY_ABORTED);
  CHECK(tb->sense.ascq == 0x0d02);
}

TEST_CASE("EXTENDED COPY aborted by ABORT TASK: the destination holds what COPY STATUS counts", "[integration]") {
  TwoLus f("128MiB");
  auto& ctx = f.ctx;
  const auto& a = f.a;
  const auto& b = f.b;
  // 48 MiB of a pattern on LUN 0, copied to LUN 1 (all zeroes) in three 16 MiB segments.
  constexpr uint32_t kSegBlocks = 32768;
  for (uint32_t s = 0; s < 3; ++s) write(ctx, 0, uint64_t(s) * kSegBlocks, pattern(size_t(kSegBlocks) * kBs, s + 1));
  auto p = parameter_list(5, {a, b},
                          {{0, 1, kSegBlocks, 0, 0}, {0, 1, kSegBlocks, kSegBlocks, kSegBlocks},
                           {0, 1, kSegBlocks, 2 * kSegBlocks, 2 * kSegBlocks}});
  iscsi_data data{p.size(), p.data()};

  struct State {
    bool copy_done = false, tmf_done = false;
    int tmf_response = -1;
  } state;
  scsi_task* task = iscsi_extended_copy_task(
      ctx, 0, &data, [](iscsi_context*, int, void*, void* priv) { static_cast<State*>(priv)->copy_done = true; },
      &state);
  REQUIRE(task);
  auto pump = [&ctx] {
    pollfd pfd{iscsi_get_fd(ctx), short(iscsi_which_events(ctx)), 0};
    REQUIRE(poll(&pfd, 1, 10) >= 0);
    REQUIRE(iscsi_service(ctx, pfd.revents) == 0);
  };
  // The command leaves first (libiscsi queues an immediate TMF ahead of queued commands): the
  // target receives the ABORT TASK after it.
  for (int i = 0; i < 3000 && (iscsi_which_events(ctx) & POLLOUT) && !state.copy_done; ++i) pump();
  REQUIRE(iscsi_task_mgmt_abort_task_async(
              ctx, task,
              [](iscsi_context*, int, void* data, void* priv) {
                auto* st = static_cast<State*>(priv);
                st->tmf_done = true;
                if (data) st->tmf_response = *static_cast<uint32_t*>(data);
              },
              &state) == 0);
  for (int i = 0; i < 3000 && !state.tmf_done; ++i) pump();
  REQUIRE(state.tmf_done);
  // FUNCTION COMPLETE: the copy was caught and has ended; TASK DOES NOT EXIST: it had
  // completed (its status came first).
  CHECK((state.tmf_response == ISCSI_TMR_FUNC_COMPLETE || state.tmf_response == ISCSI_TMR_TASK_DOES_NOT_EXIST));
  // An aborted task gets no response: take it out of libiscsi's queue before freeing it.
  if (!state.copy_done) iscsi_scsi_cancel_task(ctx, task);
  scsi_free_scsi_task(task);

  // Whatever the abort caught (nothing, or the copy after some chunks): the destination is
  // the source up to TRANSFER COUNT bytes and untouched (zero) after them.
  // No copy status at all: the abort caught the command before the copy manager saw it.
  Task st(iscsi_receive_copy_results_sync(ctx, 0, kCopyStatus, 5, 64));
  REQUIRE(st);
  const bool started = st->status == SCSI_STATUS_GOOD;
  const uint8_t state_code = started ? st->datain.data[4] : 0x02;
  const uint32_t segments = started ? st->datain.data[6] : 0;
  if (started) REQUIRE(st->datain.data[7] == 0);  // TRANSFER COUNT in bytes
  const uint64_t copied = started ? get32(&st->datain.data[8]) : 0;
  INFO("TMF response " << state.tmf_response << ", copy done " << state.copy_done << ", copy manager status " << int(state_code) << ", segments " << segments << ", bytes " << copied);
  CHECK((state_code == 0x01 || state_code == 0x02));
  CHECK(copied % kBs == 0);
  CHECK(segments == copied / (uint64_t(kSegBlocks) * kBs));
  if (state_code == 0x01) CHECK(copied == 3ull * kSegBlocks * kBs);
  if (state.tmf_response == ISCSI_TMR_TASK_DOES_NOT_EXIST) CHECK(state_code == 0x01);
  const auto dst = read(ctx, 1, 0, 3 * kSegBlocks / 2);  // the first half (24 MiB)...
  const auto dst2 = read(ctx, 1, 3 * kSegBlocks / 2, 3 * kSegBlocks / 2);  // ...and the second
  std::vector<uint8_t> all(dst);
  all.insert(all.end(), dst2.begin(), dst2.end());
  const auto src_half = read(ctx, 0, 0, 3 * kSegBlocks / 2);
  const auto src_half2 = read(ctx, 0, 3 * kSegBlocks / 2, 3 * kSegBlocks / 2);
  std::vector<uint8_t> src(src_half);
  src.insert(src.end(), src_half2.begin(), src_half2.end());
  CHECK(std::equal(all.begin(), all.begin() + long(copied), src.begin()));
  CHECK(std::all_of(all.begin() + long(copied), all.end(), [](uint8_t v) { return v == 0; }));
}

// Not a test (hidden, never run by ctest): the time of a 1 GiB copy done by EXTENDED COPY,
// inside one LU and between two, against the same copy done by the initiator with READ(16)
// and WRITE(16) of 1 MiB, one at a time (docs/benchmark.md "EXTENDED COPY"). Run it by hand:
//   build/test/stmfd_integration_test "[xcopy-bench]"
TEST_CASE("EXTENDED COPY of 1 GiB against READ/WRITE through the target", "[.][xcopy-bench]") {
  TwoLus f("2100MiB");
  auto& ctx = f.ctx;
  constexpr uint32_t kChunkBlocks = 2048;               // 1 MiB
  constexpr uint32_t kCopyBlocks = (1u << 30) / kBs;    // 1 GiB
  constexpr uint16_t kSegBlocks = 32768;                // 16 MiB per segment, 64 segments
  for (uint32_t lba = 0; lba < kCopyBlocks; lba += kChunkBlocks) write(ctx, 0, lba, pattern(kChunkBlocks * kBs, lba));
  auto segments = [&](uint16_t dst_cscd, uint64_t dst_base) {
    std::vector<Seg> s;
    for (uint32_t lba = 0; lba < kCopyBlocks; lba += kSegBlocks) s.push_back({0, dst_cscd, kSegBlocks, lba, dst_base + lba});
    return s;
  };
  auto seconds = [](auto&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  auto xcopy = [&](uint16_t dst_cscd, uint64_t dst_base) {
    auto p = parameter_list(9, {f.a, f.b}, segments(dst_cscd, dst_base));
    iscsi_data data{p.size(), p.data()};
    Task t(iscsi_extended_copy_sync(ctx, 0, &data));
    REQUIRE(t);
    REQUIRE(t->status == SCSI_STATUS_GOOD);
  };
  auto host_copy = [&](int dst_lun, uint64_t dst_base) {
    for (uint32_t lba = 0; lba < kCopyBlocks; lba += kChunkBlocks) write(ctx, dst_lun, dst_base + lba, read(ctx, 0, lba, kChunkBlocks));
  };
  // Round 0 is a warm-up: the first writes to the sparse destination files allocate them,
  // which the copy that comes first would pay alone. The order alternates after it.
  for (int round = 0; round < 4; ++round) {
    double x_in, h_in, x_between, h_between;
    if (round % 2) {
      h_in = seconds([&] { host_copy(0, kCopyBlocks); });
      x_in = seconds([&] { xcopy(0, kCopyBlocks); });
      h_between = seconds([&] { host_copy(1, 0); });
      x_between = seconds([&] { xcopy(1, 0); });
    } else {
      x_in = seconds([&] { xcopy(0, kCopyBlocks); });
      h_in = seconds([&] { host_copy(0, kCopyBlocks); });
      x_between = seconds([&] { xcopy(1, 0); });
      h_between = seconds([&] { host_copy(1, 0); });
    }
    if (round == 0) continue;
    WARN("round " << round << ": inside one LU: EXTENDED COPY " << x_in << " s, READ/WRITE " << h_in
                  << " s; between two LUs: EXTENDED COPY " << x_between << " s, READ/WRITE " << h_between << " s");
  }
  CHECK(read(ctx, 1, kCopyBlocks - kChunkBlocks, kChunkBlocks) == read(ctx, 0, kCopyBlocks - kChunkBlocks, kChunkBlocks));
}
