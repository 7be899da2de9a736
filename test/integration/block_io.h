// Block I/O helpers for tests that drive a 512-byte-block LU with libiscsi (Catch2 assertions):
// the iscsi store's and the rbd store's tests.
#pragma once
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <vector>

#include "test/integration/libiscsi_util.h"

namespace stmf::test::block_io {

constexpr uint32_t kBlock = 512;

// n bytes of a reproducible pseudo-random pattern.
inline std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  std::mt19937 rng(seed);
  for (auto& b : v) b = uint8_t(rng());
  return v;
}

// READ (16) of n blocks at lba on LUN 0, past unit attentions; requires GOOD.
inline std::vector<uint8_t> read_blocks(iscsi_context* c, uint64_t lba, uint32_t n) {
  Task t(past_ua([&] { return iscsi_read16_sync(c, 0, lba, n * kBlock, kBlock, 0, 0, 0, 0, 0); }));
  REQUIRE(t);
  INFO("sense key " << int(t->sense.key) << " ascq " << std::hex << t->sense.ascq);
  REQUIRE(t->status == SCSI_STATUS_GOOD);
  return std::vector<uint8_t>(t->datain.data, t->datain.data + t->datain.size);
}

// WRITE (16) of data at lba on LUN 0 (FUA as asked), past unit attentions; requires GOOD.
inline void write_blocks(iscsi_context* c, uint64_t lba, std::vector<uint8_t>& data, bool fua) {
  Task t(past_ua([&] {
    return iscsi_write16_sync(c, 0, lba, data.data(), uint32_t(data.size()), kBlock, 0, 0, fua ? 1 : 0, 0, 0);
  }));
  REQUIRE(t);
  INFO("sense key " << int(t->sense.key) << " ascq " << std::hex << t->sense.ascq);
  REQUIRE(t->status == SCSI_STATUS_GOOD);
}

// READ CAPACITY (16) of LUN 0: the number of blocks (checks the block length).
inline uint64_t capacity_blocks(iscsi_context* c) {
  Task t(past_ua([&] { return iscsi_readcapacity16_sync(c, 0); }));
  REQUIRE(t);
  REQUIRE(t->status == SCSI_STATUS_GOOD);
  auto* rc = static_cast<scsi_readcapacity16*>(scsi_datain_unmarshall(t.t));
  REQUIRE(rc);
  CHECK(rc->block_length == kBlock);
  return rc->returned_lba + 1;
}

}  // namespace stmf::test::block_io
