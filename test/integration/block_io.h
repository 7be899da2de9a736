// Block I/O helpers for tests that drive a 512-byte-block LU with libiscsi (Catch2 assertions):
// the iscsi store's and the rbd store's tests.
#pragma once
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
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

// The blocks [lba, lba+n) as the medium under an LU has them, read past stmfd (the SAN's LUN
// directly, the image exported with the rbd tool).
using MediumReader = std::function<std::vector<uint8_t>(uint64_t lba, uint32_t n)>;

// The LU-level half of the store suite (core/store/store_suite.h is the store-level half): what
// an initiator sees of a store with a medium of its own through stmfd, on LUN 0 of `c` (a fresh
// LU of `blocks` blocks, at least 16384): data both ways at the last blocks (FUA) and over 1 MiB,
// SYNCHRONIZE CACHE, what was acknowledged is on the medium, UNMAP offered (LBP VPD) and
// reading back zeroes with its neighbours intact, WRITE SAME (16) with UNMAP zeroing, a write
// beyond the end refused.
inline void lu_data_path(iscsi_context* c, uint64_t blocks, const MediumReader& medium) {
  REQUIRE(blocks >= 16384);
  auto a = pattern(64 * kBlock, 1), b = pattern(8 * kBlock, 2);
  write_blocks(c, 1000, a, false);
  write_blocks(c, blocks - 8, b, true);  // the last blocks, with FUA
  CHECK(read_blocks(c, 1000, 64) == a);
  CHECK(read_blocks(c, blocks - 8, 8) == b);
  auto big = pattern(2048 * kBlock, 3);  // 1 MiB over a 4 MiB boundary (a RADOS object's)
  write_blocks(c, 8192 - 1024, big, false);
  CHECK(read_blocks(c, 8192 - 1024, 2048) == big);
  {
    Task t(past_ua([&] { return iscsi_synchronizecache16_sync(c, 0, 0, 0, 0, 0); }));
    REQUIRE(t);
    CHECK(t->status == SCSI_STATUS_GOOD);
  }
  CHECK(medium(1000, 64) == a);
  CHECK(medium(blocks - 8, 8) == b);
  CHECK(medium(8192 - 1024, 2048) == big);
  {
    Task lbp(past_ua([&] { return iscsi_inquiry_sync(c, 0, 1, SCSI_INQUIRY_PAGECODE_LOGICAL_BLOCK_PROVISIONING, 255); }));
    REQUIRE(lbp);
    REQUIRE(lbp->status == SCSI_STATUS_GOOD);
    auto* p = static_cast<scsi_inquiry_logical_block_provisioning*>(scsi_datain_unmarshall(lbp.t));
    REQUIRE(p);
    CHECK(p->lbpu);
    unmap_list l{1010, 32};
    Task t(past_ua([&] { return iscsi_unmap_sync(c, 0, 0, 0, &l, 1); }));
    REQUIRE(t);
    CHECK(t->status == SCSI_STATUS_GOOD);
  }
  auto zero = [](const std::vector<uint8_t>& v) { return std::all_of(v.begin(), v.end(), [](uint8_t x) { return x == 0; }); };
  auto slice = [](const std::vector<uint8_t>& v, uint32_t from, uint32_t to) {
    return std::vector<uint8_t>(v.begin() + from * kBlock, v.begin() + to * kBlock);
  };
  for (const auto& after : {read_blocks(c, 1000, 64), medium(1000, 64)}) {
    CHECK(slice(after, 0, 10) == slice(a, 0, 10));
    CHECK(zero(slice(after, 10, 42)));
    CHECK(slice(after, 42, 64) == slice(a, 42, 64));
  }
  {
    std::vector<uint8_t> z(kBlock, 0);
    Task t(past_ua([&] { return iscsi_writesame16_sync(c, 0, 8192 - 1024, z.data(), kBlock, 16, 0, 1, 0, 0); }));
    REQUIRE(t);
    CHECK(t->status == SCSI_STATUS_GOOD);
    CHECK(zero(read_blocks(c, 8192 - 1024, 16)));
    CHECK(zero(medium(8192 - 1024, 16)));
  }
  {
    std::vector<uint8_t> one(kBlock, 1);
    Task t(iscsi_write16_sync(c, 0, blocks, one.data(), kBlock, kBlock, 0, 0, 0, 0, 0));
    REQUIRE(t);
    CHECK(t->status == SCSI_STATUS_CHECK_CONDITION);
    CHECK(t->sense.key == SCSI_SENSE_ILLEGAL_REQUEST);
  }
}

}  // namespace stmf::test::block_io
