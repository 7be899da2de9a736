// Test helpers for EXTENDED COPY through libiscsi: an LU's NAA designator and an EXTENDED
// COPY (LID1) parameter list of identification CSCD descriptors and block-to-block segments.
// Shared by the single-daemon (test/integration/xcopy_test.cpp) and ALUA pair tests.
#pragma once
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "test/integration/libiscsi_util.h"

namespace stmf::test::xcopy {

inline constexpr uint32_t kBs = 512;
inline constexpr uint8_t kCopyStatus = 0x00;  // RECEIVE COPY RESULTS service action

inline void put16(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
inline void put32(uint8_t* p, uint32_t v) {
  put16(p, v >> 16);
  put16(p + 2, v);
}
inline void put64(uint8_t* p, uint64_t v) {
  put32(p, uint32_t(v >> 32));
  put32(p + 4, uint32_t(v));
}
inline uint32_t get32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

// The LU's NAA designator (association LU) from its Device Identification VPD page.
inline std::vector<uint8_t> naa_of(iscsi_context* c, int lun) {
  Task t(past_ua([&] { return iscsi_inquiry_sync(c, lun, 1, 0x83, 255); }));
  REQUIRE(t);
  REQUIRE(t->status == SCSI_STATUS_GOOD);
  const uint8_t* d = t->datain.data;
  const size_t n = size_t(t->datain.size);
  for (size_t at = 4; at + 4 <= n; at += 4 + d[at + 3])
    if ((d[at + 1] & 0x0f) == 3 && ((d[at + 1] >> 4) & 3) == 0) return {d + at, d + at + 4 + d[at + 3]};
  FAIL("no NAA designator");
  return {};
}

struct Seg {
  uint16_t src, dst, blocks;
  uint64_t src_lba, dst_lba;
};

inline std::vector<uint8_t> parameter_list(uint8_t list_id, const std::vector<std::vector<uint8_t>>& naas,
                                    const std::vector<Seg>& segs) {
  std::vector<uint8_t> p(16, 0);
  p[0] = list_id;  // LIST ID USAGE 00b: held for RECEIVE COPY RESULTS
  for (const auto& naa : naas) {
    std::vector<uint8_t> d(32, 0);
    d[0] = 0xe4;
    std::copy(naa.begin(), naa.end(), d.begin() + 4);
    d[30] = uint8_t(kBs >> 8);
    d[31] = uint8_t(kBs);
    p.insert(p.end(), d.begin(), d.end());
  }
  put16(&p[2], uint32_t(32 * naas.size()));
  for (const auto& s : segs) {
    std::vector<uint8_t> d(28, 0);
    d[0] = 0x02;
    put16(&d[2], 0x18);
    put16(&d[4], s.src);
    put16(&d[6], s.dst);
    put16(&d[10], s.blocks);
    put64(&d[12], s.src_lba);
    put64(&d[20], s.dst_lba);
    p.insert(p.end(), d.begin(), d.end());
  }
  put32(&p[8], uint32_t(28 * segs.size()));
  return p;
}

}  // namespace stmf::test::xcopy
