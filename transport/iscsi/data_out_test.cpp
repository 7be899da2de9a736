#include "transport/iscsi/data_out.h"

#include <catch2/catch.hpp>

#include "transport/iscsi/pdu.h"

using namespace stmf::iscsi;

namespace {
SessionParams params() {
  SessionParams p;
  p.max_burst_length = 262144;
  p.first_burst_length = 65536;
  p.target_max_recv_data_segment_length = 65536;
  p.initial_r2t = true;
  p.immediate_data = true;
  p.max_outstanding_r2t = 1;
  return p;
}
}  // namespace

TEST_CASE("solicited write with InitialR2T=Yes") {
  DataOutTracker t(600000, 0, true, params());
  CHECK(t.unsolicited_expected() == 0);
  uint32_t ttt = 100;
  uint32_t expected_offset = 0;
  for (uint32_t r2t_sn = 0; r2t_sn < 3; ++r2t_sn) {
    auto r = t.next_r2t(ttt);
    REQUIRE(r);
    CHECK(r->ttt == ttt);
    CHECK(r->r2t_sn == r2t_sn);
    CHECK(r->buffer_offset == expected_offset);
    CHECK(r->desired_length == std::min<uint32_t>(262144, 600000 - expected_offset));
    CHECK_FALSE(t.next_r2t(ttt + 1));  // MaxOutstandingR2T = 1
    uint32_t off = r->buffer_offset, sn = 0;
    while (off < r->buffer_offset + r->desired_length) {
      uint32_t len = std::min<uint32_t>(65536, r->buffer_offset + r->desired_length - off);
      bool fin = off + len == r->buffer_offset + r->desired_length;
      REQUIRE_FALSE(t.on_data_out(ttt, off, len, sn++, fin));
      off += len;
    }
    expected_offset += r->desired_length;
    ++ttt;
  }
  CHECK(t.complete());
  CHECK(t.received() == 600000);
  CHECK_FALSE(t.next_r2t(ttt));
}

TEST_CASE("immediate and unsolicited data, then R2Ts") {
  SessionParams p = params();
  p.initial_r2t = false;
  REQUIRE_FALSE(DataOutTracker::check_command(200000, 8192, false, p));
  DataOutTracker t(200000, 8192, false, p);
  CHECK(t.unsolicited_expected() == 65536 - 8192);
  CHECK(t.received() == 8192);
  CHECK_FALSE(t.next_r2t(1));  // wait for the unsolicited burst to end
  REQUIRE_FALSE(t.on_data_out(kReservedTag, 8192, 32768, 0, false));
  REQUIRE_FALSE(t.on_data_out(kReservedTag, 40960, 24576, 1, true));
  auto r = t.next_r2t(7);
  REQUIRE(r);
  CHECK(r->buffer_offset == 65536);
  CHECK(r->desired_length == 200000 - 65536);
  CHECK(r->r2t_sn == 0);
  CHECK(t.on_data_out(kReservedTag, 65536, 512, 2, false) == DataOutError::unexpected_unsolicited);
  REQUIRE_FALSE(t.on_data_out(7, 65536, 65536, 0, false));
  REQUIRE_FALSE(t.on_data_out(7, 131072, 65536, 1, false));
  CHECK_FALSE(t.complete());
  REQUIRE_FALSE(t.on_data_out(7, 196608, 200000 - 196608, 2, true));
  CHECK(t.complete());
}

TEST_CASE("immediate data covering everything needs no R2T") {
  DataOutTracker t(4096, 4096, true, params());
  CHECK(t.complete());
  CHECK_FALSE(t.next_r2t(1));
}

TEST_CASE("MaxOutstandingR2T > 1") {
  SessionParams p = params();
  p.max_outstanding_r2t = 2;
  p.max_burst_length = 65536;
  DataOutTracker t(65536 * 3, 0, true, p);
  auto a = t.next_r2t(1), b = t.next_r2t(2);
  REQUIRE(a);
  REQUIRE(b);
  CHECK_FALSE(t.next_r2t(3));
  CHECK(t.outstanding_r2ts() == 2);
  CHECK(b->buffer_offset == 65536);
  CHECK(b->r2t_sn == 1);
  // The second sequence completes first (DataSequenceInOrder lets the initiator pick).
  REQUIRE_FALSE(t.on_data_out(2, 65536, 65536, 0, true));
  auto c = t.next_r2t(3);
  REQUIRE(c);
  CHECK(c->buffer_offset == 131072);
  REQUIRE_FALSE(t.on_data_out(1, 0, 65536, 0, true));
  REQUIRE_FALSE(t.on_data_out(3, 131072, 65536, 0, true));
  CHECK(t.complete());
}

TEST_CASE("Data-Out errors") {
  DataOutTracker t(131072, 0, true, params());
  auto r = t.next_r2t(5);
  REQUIRE(r);
  CHECK(t.on_data_out(6, 0, 4096, 0, false) == DataOutError::unknown_ttt);
  CHECK(t.on_data_out(kReservedTag, 0, 4096, 0, false) == DataOutError::unexpected_unsolicited);
  CHECK(t.on_data_out(5, 0, 65537, 0, false) == DataOutError::segment_too_long);
  CHECK(t.on_data_out(5, 4096, 4096, 0, false) == DataOutError::out_of_order);
  CHECK(t.on_data_out(5, 0, 4096, 1, false) == DataOutError::bad_data_sn);
  CHECK(t.on_data_out(5, 0, 4096, 0, true) == DataOutError::early_final);
  REQUIRE_FALSE(t.on_data_out(5, 0, 65536, 0, false));
  CHECK(t.on_data_out(5, 65536, 65536, 1, false) == DataOutError::missing_final);
  CHECK(t.on_data_out(5, 131072, 4096, 1, true) == DataOutError::offset_out_of_range);
  CHECK(t.received() == 65536);
  REQUIRE_FALSE(t.on_data_out(5, 65536, 65536, 1, true));
  CHECK(t.complete());
  CHECK(std::string(to_string(DataOutError::bad_data_sn)) == "unexpected DataSN");
}

TEST_CASE("DataPDUInOrder=No accepts any order within the sequence") {
  SessionParams p = params();
  p.data_pdu_in_order = false;
  DataOutTracker t(8192, 0, true, p);
  auto r = t.next_r2t(1);
  REQUIRE(r);
  REQUIRE_FALSE(t.on_data_out(1, 4096, 4096, 0, false));
  REQUIRE_FALSE(t.on_data_out(1, 0, 4096, 1, true));
  CHECK(t.complete());
}

TEST_CASE("command checks") {
  SessionParams p = params();
  CHECK(DataOutTracker::check_command(8192, 0, true, p) == std::nullopt);
  CHECK(DataOutTracker::check_command(8192, 0, false, p) == DataOutError::unsolicited_not_allowed);  // InitialR2T=Yes
  CHECK(DataOutTracker::check_command(100000, 70000, true, p) == DataOutError::immediate_data_too_long);
  CHECK(DataOutTracker::check_command(4096, 8192, true, p) == DataOutError::immediate_data_too_long);
  p.initial_r2t = false;
  CHECK(DataOutTracker::check_command(8192, 8192, false, p) == DataOutError::unsolicited_not_allowed);
  CHECK(DataOutTracker::check_command(100000, 8192, false, p) == std::nullopt);
  p.immediate_data = false;
  CHECK(DataOutTracker::check_command(8192, 512, true, p) == DataOutError::immediate_data_not_allowed);
  p.immediate_data = true;
  p.target_max_recv_data_segment_length = 4096;
  CHECK(DataOutTracker::check_command(8192, 8192, true, p) == DataOutError::segment_too_long);
}
