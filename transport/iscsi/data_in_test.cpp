#include "transport/iscsi/data_in.h"

#include <catch2/catch.hpp>
#include <vector>

using namespace stmf::iscsi;

namespace {
std::vector<DataInSegment> all(DataInSegmenter s) {
  std::vector<DataInSegment> out;
  while (auto x = s.next()) out.push_back(*x);
  return out;
}
}  // namespace

TEST_CASE("zero-length transfer yields nothing") { CHECK(all(DataInSegmenter(0, 8192, 262144)).empty()); }

TEST_CASE("segments bounded by MaxRecvDataSegmentLength") {
  auto s = all(DataInSegmenter(100000, 8192, 262144));
  REQUIRE(s.size() == 13);
  for (size_t i = 0; i < s.size(); ++i) {
    CHECK(s[i].buffer_offset == i * 8192);
    CHECK(s[i].data_sn == i);
    CHECK(s[i].final == (i == 12));
    CHECK(s[i].last == (i == 12));
  }
  CHECK(s[12].length == 100000 - 12 * 8192);
}

TEST_CASE("F bit at every MaxBurstLength boundary") {
  auto s = all(DataInSegmenter(600000, 65536, 262144, 5));
  REQUIRE(s.size() == 10);
  CHECK(s[0].data_sn == 5);
  CHECK(s[3].final);
  CHECK(s[3].buffer_offset + s[3].length == 262144);
  CHECK(s[7].final);
  CHECK(s[7].buffer_offset + s[7].length == 524288);
  CHECK(s[9].final);
  CHECK(s[9].last);
  CHECK(s[9].buffer_offset + s[9].length == 600000);
  int finals = 0;
  for (auto& x : s) finals += x.final;
  CHECK(finals == 3);
}

TEST_CASE("burst not a multiple of the segment size") {
  DataInSegmenter seg(300000, 100000, 262144);
  auto s = all(seg);
  REQUIRE(s.size() == 4);
  CHECK(s[0].length == 100000);
  CHECK(s[1].length == 100000);
  CHECK(s[2].length == 62144);
  CHECK(s[2].final);
  CHECK_FALSE(s[2].last);
  CHECK(s[3].buffer_offset == 262144);
  CHECK(s[3].length == 300000 - 262144);
  CHECK(s[3].last);
  uint32_t sum = 0;
  for (auto& x : s) sum += x.length;
  CHECK(sum == 300000);
}
