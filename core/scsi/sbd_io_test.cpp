// Block LU medium access commands.
#include "core/scsi/opcodes.h"
#include "core/scsi/sbd_test_util.h"

using namespace stmf;
using namespace stmf::sbd::test;

namespace {
using namespace stmf::scsi::op;

std::vector<uint8_t> unmap_cdb(uint16_t plen, uint8_t b1 = 0) {
  std::vector<uint8_t> c(10, 0);
  c[0] = 0x42;
  c[1] = b1;
  scsi::put_be16(&c[7], plen);
  return c;
}
std::vector<uint8_t> unmap_list(std::vector<std::pair<uint64_t, uint32_t>> d) {
  std::vector<uint8_t> p(8 + 16 * d.size(), 0);
  scsi::put_be16(&p[0], uint16_t(p.size() - 2));
  scsi::put_be16(&p[2], uint16_t(16 * d.size()));
  for (size_t i = 0; i < d.size(); ++i) {
    scsi::put_be64(&p[8 + 16 * i], d[i].first);
    scsi::put_be32(&p[8 + 16 * i + 8], d[i].second);
  }
  return p;
}
std::vector<uint8_t> get_lba_status(uint64_t lba, uint32_t alloc = 1024) {
  std::vector<uint8_t> c(16, 0);
  c[0] = 0x9e;
  c[1] = 0x12;
  scsi::put_be64(&c[2], lba);
  scsi::put_be32(&c[10], alloc);
  return c;
}
struct LbaDesc {
  uint64_t lba;
  uint32_t n;
  uint8_t status;
};
std::vector<LbaDesc> lba_descs(const TaskPtr& t) {
  std::vector<LbaDesc> v;
  REQUIRE(t->data_in.size() >= 8);
  REQUIRE(scsi::get_be32(&t->data_in[0]) == t->data_in.size() - 4);
  for (size_t o = 8; o + 16 <= t->data_in.size(); o += 16)
    v.push_back({scsi::get_be64(&t->data_in[o]), scsi::get_be32(&t->data_in[o + 8]), t->data_in[o + 12]});
  return v;
}
}  // namespace

TEST_CASE("READ/WRITE 6/10/12/16 round trips", "[sbd][io]") {
  Lu l;
  auto a = pattern(2 * 512, 0xa5);
  REQUIRE(good(l.run(cdb10(kWrite10, 10, 2), a)));
  auto r = l.run(cdb10(kRead10, 10, 2));
  REQUIRE(good(r));
  CHECK(r->data_in == a);
  CHECK(r->transfer_length == 1024);

  REQUIRE(good(l.run(cdb12(kWrite12, 20, 1), pattern(512, 1))));
  CHECK(l.run(cdb12(kRead12, 20, 1))->data_in == pattern(512, 1));
  REQUIRE(good(l.run(cdb16(kWrite16, 2047, 1), pattern(512, 2))));
  CHECK(l.run(cdb16(kRead16, 2047, 1))->data_in == pattern(512, 2));
  CHECK(l.store->bytes()[2047 * 512] == 2);

  // READ(6)/WRITE(6): 21-bit LBA, TRANSFER LENGTH 0 = 256 blocks.
  REQUIRE(good(l.run({kWrite6, 0x00, 0x01, 0x00, 0, 0}, pattern(256 * 512, 3))));
  auto r6 = l.run({kRead6, 0x00, 0x01, 0x00, 0, 0});
  REQUIRE(good(r6));
  CHECK(r6->data_in.size() == 256 * 512);
  CHECK(r6->transfer_length == 256 * 512);
  CHECK(l.store->bytes()[256 * 512] == 3);
  CHECK(l.store->bytes()[(256 + 256) * 512] == 0);
}

TEST_CASE("zero-length READ/WRITE is GOOD with no data", "[sbd][io]") {
  Lu l;
  auto r = l.run(cdb10(kRead10, 0, 0));
  CHECK(good(r));
  CHECK(r->data_in.empty());
  CHECK(r->transfer_length == 0);
  CHECK(good(l.run(cdb16(kWrite16, 5, 0))));
  CHECK(l.store->writes == 0);
}

TEST_CASE("LBA OUT OF RANGE, including 64-bit overflow and zero-length past the end", "[sbd][io]") {
  Lu l;  // 2048 blocks
  CHECK_SENSE(l.run(cdb16(kRead16, 0xffffffffffffffffULL, 1)), 0x5, 0x21, 0x00);
  CHECK_SENSE(l.run(cdb16(kRead16, 0x8000000000000000ULL, 256)), 0x5, 0x21, 0x00);
  CHECK_SENSE(l.run(cdb16(kWrite16, 2047, 2), pattern(1024, 0)), 0x5, 0x21, 0x00);
  CHECK_SENSE(l.run(cdb10(kRead10, 2049, 0)), 0x5, 0x21, 0x00);
  CHECK_SENSE(l.run(cdb10(kRead10, 2048, 0)), 0x5, 0x21, 0x00);
  CHECK_SENSE(l.run(cdb10(kRead10, 0xffffffff, 1)), 0x5, 0x21, 0x00);
  CHECK(good(l.run(cdb10(kRead10, 2047, 1))));
  CHECK(l.store->writes == 0);
}

TEST_CASE("CDB field checks: protection fields, reserved bits, transfer length limit", "[sbd][io]") {
  Lu l;
  auto t = l.run(cdb10(kRead10, 0, 1, 0x20));  // RDPROTECT = 001b
  CHECK_SENSE(t, 0x5, 0x24, 0x00);
  CHECK_FIELD(t, true, 1, 7);
  t = l.run(cdb10(kWrite10, 0, 1, 0x01), pattern(512, 0));  // reserved bit 0
  CHECK_SENSE(t, 0x5, 0x24, 0x00);
  CHECK_FIELD(t, true, 1, 0);
  auto c = cdb10(kRead10, 0, 1);
  c[6] = 0x80;  // reserved bits above GROUP NUMBER
  t = l.run(c);
  CHECK_FIELD(t, true, 6, 7);
  // MAXIMUM TRANSFER LENGTH (32 MiB / 512 = 65536 blocks): INVALID FIELD IN CDB at the length.
  t = l.run(cdb16(kRead16, 0, 65537));
  CHECK_SENSE(t, 0x5, 0x24, 0x00);
  CHECK_FIELD(t, true, 10, -1);
  t = l.run(cdb12(kRead12, 0, 70000));
  CHECK_FIELD(t, true, 6, -1);
  // DPO, FUA, FUA_NV and group numbers are accepted.
  CHECK(good(l.run(cdb10(kRead10, 0, 1, 0x1a))));
}

TEST_CASE("write with EDTL below the CDB transfer length: whole blocks sent are written, a partial one refuses it",
          "[sbd][io][residual]") {
  Lu l;
  REQUIRE(good(l.run(cdb10(kWrite10, 0, 2), pattern(1024, 'a'))));
  // Two blocks in the CDB, one block of data (FCP-4): the block sent is written, GOOD, and the
  // port reports the overflow residual from transfer_length.
  auto t = l.run(cdb10(kWrite10, 0, 2), pattern(512, 'b'));
  CHECK(good(t));
  CHECK(t->transfer_length == 1024);
  CHECK(l.store->bytes()[0] == 'b');
  CHECK(l.store->bytes()[511] == 'b');
  CHECK(l.store->bytes()[512] == 'a');
  // Data that ends inside a block (200 bytes; one block and 88 bytes): INVALID FIELD IN
  // INFORMATION UNIT, nothing written at all (never GOOD for sent data that was not written).
  const int writes = l.store->writes;
  t = l.run(cdb10(kWrite10, 1, 1), pattern(200, 'c'));
  CHECK_SENSE(t, 0x5, 0x0e, 0x03);
  CHECK(t->transfer_length == 512);
  CHECK_SENSE(l.run(cdb10(kWrite10, 0, 2), pattern(600, 'c')), 0x5, 0x0e, 0x03);
  CHECK_SENSE(l.run(cdb10(0x2e, 0, 2), pattern(600, 'c')), 0x5, 0x0e, 0x03);  // WRITE AND VERIFY
  CHECK_SENSE(l.run(cdb16(0x8b, 0, 2), pattern(600, 'c')), 0x5, 0x0e, 0x03);  // ORWRITE
  CHECK(l.store->writes == writes);
  CHECK(l.store->bytes()[0] == 'b');
  CHECK(l.store->bytes()[512] == 'a');
  // No data (EDTL 0): nothing sent, nothing written, GOOD with the overflow residual.
  t = l.run(cdb10(kWrite10, 1, 1));
  CHECK(good(t));
  CHECK(l.store->writes == writes);
  // More data than the CDB asks for: only the CDB's blocks are written.
  t = l.run(cdb10(kWrite10, 0, 1), pattern(1024, 'd'));
  CHECK(good(t));
  CHECK(t->transfer_length == 512);
  CHECK(l.store->bytes()[0] == 'd');
  CHECK(l.store->bytes()[512] == 'a');
}

TEST_CASE("FUA and write cache: FUA bit or WCE=0 writes through", "[sbd][io]") {
  Lu l;
  REQUIRE(good(l.run(cdb10(kWrite10, 0, 1), pattern(512, 1))));
  CHECK_FALSE(l.store->last_fua);
  REQUIRE(good(l.run(cdb10(kWrite10, 0, 1, 0x08), pattern(512, 1))));
  CHECK(l.store->last_fua);
}

TEST_CASE("write-protected LU: medium-modifying commands get DATA PROTECT", "[sbd][io][wp]") {
  Lu l(2048, 512, true, /*wp=*/true);
  CHECK_SENSE(l.run(cdb10(kWrite10, 0, 1), pattern(512, 1)), 0x7, 0x27, 0x00);
  CHECK_SENSE(l.run(cdb16(kWriteSame16, 0, 4), pattern(512, 0)), 0x7, 0x27, 0x00);
  CHECK_SENSE(l.run(unmap_cdb(24), unmap_list({{0, 1}})), 0x7, 0x27, 0x00);
  CHECK_SENSE(l.run(caw(0, 1), pattern(1024, 0)), 0x7, 0x27, 0x00);
  CHECK_SENSE(l.run(cdb16(kOrwrite16, 0, 1), pattern(512, 0)), 0x7, 0x27, 0x00);
  CHECK_SENSE(l.run(cdb10(kWriteAndVerify10, 0, 1), pattern(512, 0)), 0x7, 0x27, 0x00);
  CHECK(good(l.run(cdb10(kRead10, 0, 1))));
  CHECK(good(l.run(cdb10(kSynchronizeCache10, 0, 0))));
  CHECK(l.store->writes == 0);
}

TEST_CASE("backing store errors become MEDIUM ERROR / space allocation failed", "[sbd][io]") {
  Lu l;
  l.store->read_error = std::make_error_code(std::errc::io_error);
  auto t = l.run(cdb10(kRead10, 0, 1));
  CHECK_SENSE(t, 0x3, 0x11, 0x00);
  CHECK(t->data_in.empty());
  l.store->read_error = {};
  l.store->write_error = std::make_error_code(std::errc::io_error);
  CHECK_SENSE(l.run(cdb10(kWrite10, 0, 1), pattern(512, 1)), 0x3, 0x0c, 0x00);
  CHECK_SENSE(l.run(cdb10(kSynchronizeCache10, 0, 0)), 0x3, 0x0c, 0x00);
  l.store->write_error = std::make_error_code(std::errc::no_space_on_device);
  CHECK_SENSE(l.run(cdb10(kWrite10, 0, 1), pattern(512, 1)), 0x7, 0x27, 0x07);
}

TEST_CASE("VERIFY BYTCHK 00b/01b/11b and MISCOMPARE information", "[sbd][io][verify]") {
  Lu l;
  auto data = pattern(4 * 512, 'x');
  REQUIRE(good(l.run(cdb10(kWrite10, 100, 4), data)));
  CHECK(good(l.run(cdb10(kVerify10, 100, 4))));               // range check only
  CHECK_SENSE(l.run(cdb10(kVerify10, 2046, 4)), 0x5, 0x21, 0);  // beyond the end
  CHECK(good(l.run(cdb10(kVerify10, 100, 4, 0x02), data)));   // BYTCHK 01b
  auto bad = data;
  bad[3 * 512 + 77] = 'y';
  auto t = l.run(cdb16(kVerify16, 100, 4, 0x02), bad);
  CHECK_SENSE(t, 0xe, 0x1d, 0x00);
  auto s = sense_of(t);
  CHECK(s.has_info);
  CHECK(s.info == 3 * 512 + 77);
  // BYTCHK 11b: one block compared against every block.
  CHECK(good(l.run(cdb10(kVerify10, 100, 4, 0x06), pattern(512, 'x'))));
  l.store->bytes()[102 * 512 + 5] = 'z';
  t = l.run(cdb10(kVerify10, 100, 4, 0x06), pattern(512, 'x'));
  CHECK_SENSE(t, 0xe, 0x1d, 0x00);
  CHECK(sense_of(t).info == 2 * 512 + 5);
  // BYTCHK 10b is reserved.
  t = l.run(cdb10(kVerify10, 100, 4, 0x04));
  CHECK_FIELD(t, true, 1, 2);
}

TEST_CASE("VERIFY with BYTCHK 00b reads the medium, in bounded chunks", "[sbd][io][verify]") {
  Lu l(8192);  // 4 MiB
  // The whole LU: read in 1 MiB pieces, nothing transferred.
  auto t = l.run(cdb16(kVerify16, 0, 8192));
  CHECK(good(t));
  CHECK(t->transfer_length == 0);
  CHECK(l.store->reads == 4);
  // A block the store cannot read: MEDIUM ERROR, UNRECOVERED READ ERROR (not GOOD).
  l.store->read_error = std::make_error_code(std::errc::io_error);
  CHECK_SENSE(l.run(cdb10(kVerify10, 100, 4)), 0x3, 0x11, 0x00);
  CHECK_SENSE(l.run(cdb16(kVerify16, 0, 8192)), 0x3, 0x11, 0x00);
  l.store->read_error = {};
  // Completions that come later (held by the store) continue the chunk loop.
  l.store->hold = true;
  bool done = false;
  l.start(cdb16(kVerify16, 0, 8192), {}, &done);
  int steps = 0;
  while (l.store->run_one()) ++steps;
  CHECK(steps == 4);
  CHECK(done);
}

TEST_CASE("WRITE AND VERIFY writes through", "[sbd][io]") {
  Lu l;
  REQUIRE(good(l.run(cdb10(kWriteAndVerify10, 7, 2, 0x02), pattern(1024, 9))));
  CHECK(l.store->last_fua);
  CHECK(l.run(cdb10(kRead10, 7, 2))->data_in == pattern(1024, 9));
}

TEST_CASE("ORWRITE ORs data into the medium", "[sbd][io]") {
  Lu l;
  REQUIRE(good(l.run(cdb10(kWrite10, 3, 1), pattern(512, 0x0f))));
  REQUIRE(good(l.run(cdb16(kOrwrite16, 3, 1), pattern(512, 0xf0))));
  CHECK(l.run(cdb10(kRead10, 3, 1))->data_in == pattern(512, 0xff));
  CHECK_SENSE(l.run(cdb16(kOrwrite16, 2048, 1), pattern(512, 0)), 0x5, 0x21, 0);
}

TEST_CASE("COMPARE AND WRITE: success, miscompare with offset, data untouched", "[sbd][io][caw]") {
  Lu l;
  REQUIRE(good(l.run(cdb16(kWrite16, 50, 3), pattern(3 * 512, 'A'))));
  auto buf = pattern(6 * 512, 'A');
  std::fill(buf.begin() + 3 * 512, buf.end(), 'B');
  auto t = l.run(caw(50, 3), buf);
  CHECK(good(t));
  CHECK(t->transfer_length == 6 * 512);
  CHECK(l.run(cdb16(kRead16, 50, 3))->data_in == pattern(3 * 512, 'B'));
  // Miscompare: byte 27 from the end of the compare half.
  buf = pattern(6 * 512, 'B');
  buf[3 * 512 - 27] = 'C';
  t = l.run(caw(50, 3), buf);
  CHECK_SENSE(t, 0xe, 0x1d, 0x00);
  CHECK(sense_of(t).info == 3 * 512 - 27);
  CHECK(l.run(cdb16(kRead16, 50, 3))->data_in == pattern(3 * 512, 'B'));
  // Range, zero blocks and short Data-Out.
  CHECK_SENSE(l.run(caw(2047, 2), pattern(2048, 0)), 0x5, 0x21, 0);
  CHECK(good(l.run(caw(0, 0))));
  CHECK_SENSE(l.run(caw(0, 1), pattern(512, 0)), 0x5, 0x0e, 0x03);
  t = l.run(caw(0, 1, 0x40), pattern(1024, 0));  // WRPROTECT
  CHECK_FIELD(t, true, 1, 7);
}

TEST_CASE("COMPARE AND WRITE is atomic against an overlapping WRITE", "[sbd][io][caw]") {
  Lu l;
  REQUIRE(good(l.run(cdb10(kWrite10, 10, 2), pattern(1024, 'A'))));
  l.store->hold = true;
  auto buf = pattern(2 * 1024, 'A');
  std::fill(buf.begin() + 1024, buf.end(), 'B');
  bool caw_done = false, w_done = false;
  auto c = l.start(caw(10, 2), buf, &caw_done);
  REQUIRE(l.store->pending() == 1);  // the CAW's read
  auto w = l.start(cdb10(kWrite10, 11, 1), pattern(512, 'W'), &w_done, l.nexus2);
  CHECK(l.store->pending() == 1);  // the write waits for the range lock
  CHECK(l.store->writes == 1);     // only the setup write so far
  REQUIRE(l.store->run_one());     // CAW read completes: compare matches, CAW write issued
  CHECK(l.store->pending() == 1);
  CHECK(l.store->writes == 2);
  REQUIRE(l.store->run_one());  // CAW write completes, lock released, WRITE issued
  CHECK(caw_done);
  CHECK(good(c));
  CHECK_FALSE(w_done);
  CHECK(l.store->pending() == 1);
  l.store->run_all();
  CHECK(w_done);
  CHECK(good(w));
  l.store->hold = false;
  auto r = l.run(cdb10(kRead10, 10, 2));
  CHECK(std::all_of(r->data_in.begin(), r->data_in.begin() + 512, [](uint8_t b) { return b == 'B'; }));
  CHECK(std::all_of(r->data_in.begin() + 512, r->data_in.end(), [](uint8_t b) { return b == 'W'; }));
}

TEST_CASE("COMPARE AND WRITE queued behind a WRITE sees the written data", "[sbd][io][caw]") {
  Lu l;
  REQUIRE(good(l.run(cdb10(kWrite10, 10, 1), pattern(512, 'A'))));
  l.store->hold = true;
  bool w_done = false, caw_done = false;
  l.start(cdb10(kWrite10, 10, 1), pattern(512, 'W'), &w_done);
  auto buf = pattern(1024, 'A');  // expects the old contents
  auto c = l.start(caw(10, 1), buf, &caw_done, l.nexus2);
  CHECK(l.store->pending() == 1);  // CAW has not read yet
  l.store->run_all();
  CHECK(w_done);
  CHECK(caw_done);
  CHECK_SENSE(c, 0xe, 0x1d, 0x00);
  CHECK(sense_of(c).info == 0);
  CHECK(l.store->bytes()[10 * 512] == 'W');
}

TEST_CASE("reads take no range lock", "[sbd][io]") {
  Lu l;
  l.store->hold = true;
  bool w = false, r = false;
  l.start(cdb10(kWrite10, 0, 1), pattern(512, 1), &w);
  l.start(cdb10(kRead10, 0, 1), {}, &r);
  CHECK(l.store->pending() == 2);
  l.store->run_all();
  CHECK((w && r));
}

TEST_CASE("SYNCHRONIZE CACHE and PRE-FETCH", "[sbd][io]") {
  Lu l;
  CHECK(good(l.run(cdb10(kSynchronizeCache10, 0, 0))));
  CHECK(good(l.run(cdb16(kSynchronizeCache16, 100, 10))));
  CHECK(l.store->flushes == 2);
  CHECK_SENSE(l.run(cdb16(kSynchronizeCache16, 2040, 10)), 0x5, 0x21, 0);
  CHECK_SENSE(l.run(cdb10(kSynchronizeCache10, 2048, 0)), 0x5, 0x21, 0);
  auto p = l.run(cdb10(kPreFetch10, 0, 256, 0x02));
  CHECK(good(p));
  CHECK(p->status == scsi::Status::good);
  CHECK(good(l.run(cdb16(kPreFetch16, 2047, 1))));
  CHECK_SENSE(l.run(cdb16(kPreFetch16, 2048, 1)), 0x5, 0x21, 0);
  CHECK_SENSE(l.run(cdb10(kPreFetch10, 2049, 0)), 0x5, 0x21, 0);
}

TEST_CASE("WRITE SAME writes the block over the range", "[sbd][io][ws]") {
  Lu l;
  auto blk = pattern(512, 0);
  for (size_t i = 0; i < 512; ++i) blk[i] = uint8_t(i);
  REQUIRE(good(l.run(cdb10(kWriteSame10, 30, 5), blk)));
  auto r = l.run(cdb10(kRead10, 29, 7));
  for (int b = 0; b < 7; ++b) {
    bool in = b >= 1 && b <= 5;
    CHECK((std::equal(blk.begin(), blk.end(), r->data_in.begin() + b * 512)) == in);
  }
  // NDOB (WRITE SAME(16)): zeroes, no Data-Out.
  auto t = l.run(cdb16(kWriteSame16, 31, 2, 0x01));
  CHECK(good(t));
  CHECK(t->transfer_length == 0);
  CHECK(l.store->bytes()[31 * 512 + 1] == 0);
  CHECK(l.store->bytes()[33 * 512 + 1] == 1);
}

TEST_CASE("WRITE SAME over many chunks, inline and deferred completions", "[sbd][io][ws]") {
  for (bool hold : {false, true}) {
    Lu l(8192);
    l.store->hold = hold;
    bool done = false;
    auto t = l.start(cdb16(kWriteSame16, 10, 5000), pattern(512, 0x5a), &done);
    l.store->run_all();
    REQUIRE(done);
    CHECK(good(t));
    CHECK(l.store->writes == 3);  // 2048-block chunks
    CHECK(l.store->bytes()[10 * 512] == 0x5a);
    CHECK(l.store->bytes()[5009 * 512 + 511] == 0x5a);
    CHECK(l.store->bytes()[5010 * 512] == 0);
  }
}

TEST_CASE("WRITE SAME errors", "[sbd][io][ws]") {
  Lu l;
  auto z = pattern(512, 0);
  auto t = l.run(cdb10(kWriteSame10, 0, 1, 0x10), z);  // ANCHOR
  CHECK_SENSE(t, 0x5, 0x24, 0);
  CHECK_FIELD(t, true, 1, 4);
  t = l.run(cdb16(kWriteSame16, 0, sbd::BlockLimits::kMaxWriteSameBlocks + 1), z);  // MAXIMUM WRITE SAME LENGTH
  CHECK_FIELD(t, true, 10, -1);
  CHECK_SENSE(l.run(cdb10(kWriteSame10, 2049, 0), z), 0x5, 0x21, 0);  // zero blocks past the end
  CHECK_SENSE(l.run(cdb10(kWriteSame10, 2048, 0), z), 0x5, 0x21, 0);
  CHECK_SENSE(l.run(cdb16(kWriteSame16, ~0ULL, 1), z), 0x5, 0x21, 0);
  CHECK_SENSE(l.run(cdb16(kWriteSame16, ~0ULL, 0), z), 0x5, 0x21, 0);
  // Data-Out must be exactly one block: short -> INVALID FIELD IN COMMAND IU; long (or any
  // with NDOB) -> INVALID FIELD IN CDB. Nothing is written.
  CHECK_SENSE(l.run(cdb10(kWriteSame10, 0, 1), pattern(100, 0)), 0x5, 0x0e, 0x03);
  l.store->bytes()[0] = 0x77;
  t = l.run(cdb10(kWriteSame10, 0, 1), pattern(1024, 0));
  CHECK_SENSE(t, 0x5, 0x24, 0x00);
  CHECK_FIELD(t, true, 7, -1);
  t = l.run(cdb16(kWriteSame16, 0, 1, 0x01), pattern(512, 0));  // NDOB with Data-Out
  CHECK_SENSE(t, 0x5, 0x24, 0x00);
  CHECK(l.store->bytes()[0] == 0x77);
  t = l.run(cdb10(kWriteSame10, 0, 1, 0x04), z);  // obsolete PBDATA
  CHECK_FIELD(t, true, 1, 2);
}

TEST_CASE("WRITE SAME UNMAP and UNMAP deallocate, GET LBA STATUS reports it", "[sbd][io][thin]") {
  Lu l;
  REQUIRE(good(l.run(cdb10(kWrite10, 0, 32), pattern(32 * 512, 0xff))));
  auto d = lba_descs(l.run(get_lba_status(0)));
  REQUIRE(d.size() == 2);
  CHECK((d[0].lba == 0 && d[0].n == 32 && d[0].status == 0));
  CHECK((d[1].lba == 32 && d[1].n == 2048 - 32 && d[1].status == 1));

  // WRITE SAME(10) UNMAP with a zero block deallocates.
  REQUIRE(good(l.run(cdb10(kWriteSame10, 4, 4, 0x08), pattern(512, 0))));
  CHECK(l.store->unmaps == 1);
  // WRITE SAME UNMAP with a non-zero block deallocates too (SBC-4 table 237): the block is
  // not written, the range reads as zeroes (LBPRZ).
  REQUIRE(good(l.run(cdb10(kWriteSame10, 4, 4, 0x08), pattern(512, 7))));
  CHECK(l.store->unmaps == 2);
  CHECK(l.store->bytes()[4 * 512] == 0);
  CHECK(l.store->bytes()[7 * 512 + 511] == 0);

  // UNMAP two descriptors.
  auto u = l.run(unmap_cdb(40), unmap_list({{10, 2}, {30, 2}}));
  REQUIRE(good(u));
  CHECK(u->transfer_length == 40);
  d = lba_descs(l.run(get_lba_status(0)));
  REQUIRE(d.size() == 6);
  CHECK((d[0].lba == 0 && d[0].n == 4 && d[0].status == 0));
  CHECK((d[1].lba == 4 && d[1].n == 4 && d[1].status == 1));
  CHECK((d[2].lba == 8 && d[2].n == 2 && d[2].status == 0));
  CHECK((d[3].lba == 10 && d[3].n == 2 && d[3].status == 1));
  CHECK((d[4].lba == 12 && d[4].n == 18 && d[4].status == 0));
  CHECK((d[5].lba == 30 && d[5].n == 2048 - 30 && d[5].status == 1));  // merged with the never-written tail
  // Reading unmapped blocks returns zeroes (LBPRZ).
  CHECK(l.run(cdb10(kRead10, 10, 2))->data_in == pattern(1024, 0));

  // The descriptor LBA is the requested LBA; allocation length limits descriptors.
  auto one = l.run(get_lba_status(5, 24));
  REQUIRE(one->data_in.size() == 24);
  CHECK(scsi::get_be64(&one->data_in[8]) == 5);
  CHECK(scsi::get_be32(&one->data_in[16]) == 3);
  CHECK(one->data_in[20] == 1);
  CHECK_SENSE(l.run(get_lba_status(2048)), 0x5, 0x21, 0);
}

TEST_CASE("UNMAP parameter list errors", "[sbd][io][thin]") {
  Lu l;
  CHECK(good(l.run(unmap_cdb(0))));
  CHECK_SENSE(l.run(unmap_cdb(6), pattern(6, 0)), 0x5, 0x1a, 0x00);
  // Fewer bytes than the PARAMETER LIST LENGTH arrived (EDTL below it): INVALID FIELD IN
  // INFORMATION UNIT, not a list error.
  CHECK_SENSE(l.run(unmap_cdb(24), pattern(8, 0)), 0x5, 0x0e, 0x03);
  CHECK_SENSE(l.run(unmap_cdb(24), unmap_list({{2047, 2}})), 0x5, 0x21, 0x00);
  CHECK_SENSE(l.run(unmap_cdb(24), unmap_list({{~0ULL, 1}})), 0x5, 0x21, 0x00);
  auto t = l.run(unmap_cdb(24, 0x01), unmap_list({{0, 1}}));  // ANCHOR
  CHECK_FIELD(t, true, 1, 0);
  std::vector<std::pair<uint64_t, uint32_t>> many(257, {0, 1});
  auto list = unmap_list(many);
  t = l.run(unmap_cdb(uint16_t(list.size())), list);
  CHECK_SENSE(t, 0x5, 0x26, 0x00);
  CHECK_FIELD(t, false, 2, -1);
}

TEST_CASE("UNMAP is not offered on a fully provisioned LU", "[sbd][io][thin]") {
  Lu l(2048, 512, /*thin=*/false);
  std::array<uint8_t, 16> c{0x42};
  CHECK(l.lu->command_info(c.data(), 10) == nullptr);
  // WRITE SAME with UNMAP on a full LU writes.
  REQUIRE(good(l.run(cdb10(kWriteSame10, 0, 2, 0x08), pattern(512, 0))));
  CHECK(l.store->unmaps == 0);
  auto d = lba_descs(l.run(get_lba_status(0)));
  REQUIRE(d.size() == 1);
  CHECK(d[0].status == 0);
}

TEST_CASE("START STOP UNIT, TEST UNIT READY and PREVENT ALLOW MEDIUM REMOVAL", "[sbd][io][ssu]") {
  Lu l;
  std::vector<uint8_t> tur{0, 0, 0, 0, 0, 0};
  auto ssu = [](uint8_t b4) { return std::vector<uint8_t>{0x1b, 0, 0, 0, b4, 0}; };
  auto pa = [](uint8_t p) { return std::vector<uint8_t>{0x1e, 0, 0, 0, p, 0}; };
  CHECK(good(l.run(tur)));
  REQUIRE(good(l.run(ssu(0x00))));  // stop (flushes)
  CHECK(l.store->flushes == 1);
  CHECK_SENSE(l.run(tur), 0x2, 0x04, 0x02);
  CHECK_SENSE(l.run(cdb10(kRead10, 0, 1)), 0x2, 0x04, 0x02);
  CHECK_SENSE(l.run(cdb10(kWrite10, 0, 1), pattern(512, 0)), 0x2, 0x04, 0x02);
  CHECK(good(l.run({0x12, 0, 0, 0, 36, 0})));  // INQUIRY still works
  REQUIRE(good(l.run(ssu(0x01))));             // start
  CHECK(good(l.run(tur)));
  // Power conditions are accepted; reserved ones are not.
  CHECK(good(l.run(ssu(0x30))));
  auto t = l.run(ssu(0x40));
  CHECK_FIELD(t, true, 4, 7);
  // POWER CONDITION MODIFIER: only 0 is supported (idle_b, idle_c, standby_y and the reserved
  // values are not), with or without a power condition.
  auto ssu_mod = [](uint8_t modifier, uint8_t b4) { return std::vector<uint8_t>{0x1b, 0, 0, modifier, b4, 0}; };
  for (uint8_t m : {0x01, 0x02, 0x0f}) {
    for (uint8_t b4 : {0x01, 0x20, 0x30, 0xa0}) {
      t = l.run(ssu_mod(m, b4));
      CHECK_SENSE(t, 0x5, 0x24, 0x00);
      CHECK_FIELD(t, true, 3, 3);
    }
  }
  CHECK(good(l.run(ssu_mod(0, 0x20))));
  // LOEJ: the medium is not removable.
  t = l.run(ssu(0x02));
  CHECK_SENSE(t, 0x5, 0x24, 0x00);
  CHECK_FIELD(t, true, 4, 1);
  // ... and with medium removal prevented: MEDIUM REMOVAL PREVENTED.
  REQUIRE(good(l.run(pa(1))));
  CHECK_SENSE(l.run(ssu(0x02)), 0x5, 0x53, 0x02);
  CHECK_SENSE(l.run(ssu(0x03), {}, l.nexus2), 0x5, 0x53, 0x02);
  // Released by nexus loss of the preventing nexus.
  l.lu->on_nexus_loss(l.nexus->key());
  CHECK_SENSE(l.run(ssu(0x02)), 0x5, 0x24, 0x00);
  REQUIRE(good(l.run(pa(1), {}, l.nexus2)));
  l.lu->on_reset(ResetKind::logical_unit);
  CHECK_SENSE(l.run(ssu(0x02)), 0x5, 0x24, 0x00);
  REQUIRE(good(l.run(pa(1))));
  REQUIRE(good(l.run(pa(0))));
  CHECK_SENSE(l.run(ssu(0x02)), 0x5, 0x24, 0x00);
  t = l.run(pa(2));
  CHECK_FIELD(t, true, 4, 1);
}

TEST_CASE("WRITE SAME with NUMBER OF LOGICAL BLOCKS = 0 writes through the last LBA", "[sbd][io][ws]") {
  Lu l(2048, 512, false);  // fully provisioned: the pattern is written
  auto a = pattern(512, 0xa5);
  REQUIRE(good(l.run(cdb16(kWriteSame16, 2040, 0), a)));
  for (size_t i = 2040 * 512; i < 2048 * 512; ++i) REQUIRE(l.store->bytes()[i] == 0xa5);
  CHECK(l.store->bytes()[2040 * 512 - 1] == 0);
  REQUIRE(good(l.run(cdb10(kWriteSame10, 0, 0), pattern(512, 0x11))));
  for (size_t i = 0; i < 2048 * 512; i += 509) REQUIRE(l.store->bytes()[i] == 0x11);
  // Last LBA alone.
  REQUIRE(good(l.run(cdb10(kWriteSame10, 2047, 0), pattern(512, 0x22))));
  CHECK(l.store->bytes()[2047 * 512] == 0x22);
  CHECK(l.store->bytes()[2046 * 512] == 0x11);
}

TEST_CASE("WRITE SAME UNMAP with NUMBER OF LOGICAL BLOCKS = 0 deallocates to the end", "[sbd][io][ws][thin]") {
  Lu l;  // thin
  REQUIRE(good(l.run(cdb16(kWrite16, 2000, 48), pattern(48 * 512, 0xff))));
  REQUIRE(good(l.run(cdb16(kWriteSame16, 2016, 0, 0x08 | 0x01))));  // UNMAP, NDOB
  CHECK(l.store->mapped_at(2015 * 512));
  CHECK(!l.store->mapped_at(2016 * 512));
  CHECK(!l.store->mapped_at(2047 * 512));
  CHECK(l.store->bytes()[2047 * 512] == 0);
}

// Hidden (2 GiB fake store): run with [slow].
TEST_CASE("WRITE SAME 0 blocks beyond MAXIMUM WRITE SAME LENGTH to the end is refused", "[.][slow][sbd][io][ws]") {
  const uint64_t n = uint64_t(sbd::BlockLimits::kMaxWriteSameBlocks) + 8;
  Lu l(n, 512, true);
  auto t = l.run(cdb16(kWriteSame16, 0, 0, 0x08 | 0x01));
  CHECK_SENSE(t, 0x5, 0x24, 0x00);
  CHECK_FIELD(t, true, 10, -1);
  CHECK(l.store->unmaps == 0);
  // Exactly MAXIMUM WRITE SAME LENGTH blocks to the end is fine.
  CHECK(good(l.run(cdb16(kWriteSame16, 8, 0, 0x08 | 0x01))));
}

TEST_CASE("COMPARE AND WRITE: Data-Out must be exactly 2 * NUMBER OF LOGICAL BLOCKS", "[sbd][io][caw]") {
  Lu l;
  REQUIRE(good(l.run(cdb16(kWrite16, 0, 4), pattern(4 * 512, 'A'))));
  // An initiator that wrote 256 into the one-byte field: NUMBER OF LOGICAL BLOCKS = 0 with
  // 512 blocks of Data-Out.
  auto t = l.run(caw(0, 0), pattern(2 * 256 * 512, 'A'));
  CHECK_SENSE(t, 0x5, 0x24, 0x00);
  CHECK_FIELD(t, true, 13, -1);
  // Too much for 1 block (4 blocks sent).
  auto buf = pattern(4 * 512, 'A');
  t = l.run(caw(0, 1), buf);
  CHECK_SENSE(t, 0x5, 0x24, 0x00);
  // Too little for 3 blocks (4 blocks sent).
  CHECK_SENSE(l.run(caw(0, 3), buf), 0x5, 0x0e, 0x03);
  CHECK(l.store->bytes()[0] == 'A');
  // Zero blocks, no data: GOOD, nothing happens.
  CHECK(good(l.run(caw(0, 0))));
  // Exactly right still works.
  auto ok = pattern(2 * 512, 'A');
  std::fill(ok.begin() + 512, ok.end(), 'B');
  CHECK(good(l.run(caw(0, 1), ok)));
  CHECK(l.store->bytes()[0] == 'B');
}

namespace {
std::vector<uint8_t> write_atomic(uint64_t lba, uint16_t n, uint8_t b1 = 0, uint16_t boundary = 0) {
  std::vector<uint8_t> c(16, 0);
  c[0] = 0x9c;
  c[1] = b1;
  scsi::put_be64(&c[2], lba);
  scsi::put_be16(&c[10], boundary);
  scsi::put_be16(&c[12], n);
  return c;
}
}  // namespace

TEST_CASE("WRITE ATOMIC (16): writes, limits, LBA range, zero blocks", "[sbd][io][atomic]") {
  Lu l;
  REQUIRE(good(l.run(write_atomic(10, 4), pattern(4 * 512, 0x5a))));
  CHECK(l.store->bytes()[10 * 512] == 0x5a);
  CHECK(l.store->bytes()[14 * 512 - 1] == 0x5a);
  CHECK(l.store->bytes()[14 * 512] == 0);
  CHECK(l.store->writes == 1);  // one store write
  // DPO and FUA accepted; FUA writes through.
  REQUIRE(good(l.run(write_atomic(0, 1, 0x18), pattern(512, 1))));
  CHECK(l.store->last_fua);
  REQUIRE(good(l.run(write_atomic(0, 1, 0x10), pattern(512, 1))));
  CHECK(!l.store->last_fua);
  // Last blocks of the LU; beyond the end.
  CHECK(good(l.run(write_atomic(2040, 8), pattern(8 * 512, 3))));
  CHECK_SENSE(l.run(write_atomic(2041, 8), pattern(8 * 512, 3)), 0x5, 0x21, 0);
  CHECK_SENSE(l.run(write_atomic(~0ULL, 1), pattern(512, 3)), 0x5, 0x21, 0);
  CHECK_SENSE(l.run(write_atomic(1ULL << 63, 0)), 0x5, 0x21, 0);
  CHECK_SENSE(l.run(write_atomic(2049, 0)), 0x5, 0x21, 0);
  // Zero blocks: GOOD, nothing written.
  const int w = l.store->writes;
  CHECK(good(l.run(write_atomic(0, 0))));
  CHECK(l.store->writes == w);
  // WRPROTECT, ATOMIC BOUNDARY (no boundaries supported).
  auto t = l.run(write_atomic(0, 1, 0x20), pattern(512, 0));
  CHECK_FIELD(t, true, 1, 7);
  t = l.run(write_atomic(0, 1, 0, 1), pattern(512, 0));
  CHECK_SENSE(t, 0x5, 0x24, 0);
  CHECK_FIELD(t, true, 10, -1);
  // A short Data-Out buffer writes nothing at all.
  l.store->bytes()[20 * 512] = 0x99;
  CHECK_SENSE(l.run(write_atomic(20, 2), pattern(512, 0)), 0x5, 0x0e, 0x03);
  CHECK(l.store->bytes()[20 * 512] == 0x99);
}

TEST_CASE("WRITE ATOMIC (16): whole physical blocks when LBPPB > 1", "[sbd][io][atomic]") {
  Lu l(2048, 512, true, false, 3);  // 8 logical blocks per physical block
  REQUIRE(good(l.run(write_atomic(8, 16), pattern(16 * 512, 0x5a))));
  CHECK(l.store->bytes()[8 * 512] == 0x5a);
  const int w = l.store->writes;
  auto t = l.run(write_atomic(1, 8), pattern(8 * 512, 1));  // misaligned LBA
  CHECK_SENSE(t, 0x5, 0x24, 0);
  CHECK_FIELD(t, true, 2, -1);
  t = l.run(write_atomic(0, 1), pattern(512, 1));  // not a multiple of the granularity
  CHECK_SENSE(t, 0x5, 0x24, 0);
  CHECK_FIELD(t, true, 12, -1);
  CHECK(l.store->writes == w);  // neither wrote anything
  CHECK(good(l.run(write_atomic(16, 0))));  // zero blocks at an aligned LBA
  // One logical block per physical block: no rule.
  Lu plain;
  CHECK(good(plain.run(write_atomic(1, 1), pattern(512, 1))));
}

TEST_CASE("WRITE ATOMIC (16): maximum atomic transfer length", "[sbd][io][atomic]") {
  Lu big(1u << 17, 4096, true);  // 4 KiB blocks: 32 MiB = 8192 blocks
  auto t = big.run(write_atomic(0, 8193), pattern(8193 * 4096, 0));
  CHECK_SENSE(t, 0x5, 0x24, 0);
  CHECK_FIELD(t, true, 12, -1);
  CHECK(big.store->writes == 0);
}

TEST_CASE("WRITE ATOMIC (16): write protect, medium-modifying", "[sbd][io][atomic][wp]") {
  Lu l(2048, 512, true, true);
  CHECK_SENSE(l.run(write_atomic(0, 1), pattern(512, 0)), 0x7, 0x27, 0);
}

TEST_CASE("WRITE ATOMIC (16) excludes overlapping writes and reads never see it torn", "[sbd][io][atomic]") {
  Lu l;
  l.store->hold = true;
  bool wa_done = false, w_done = false, r_done = false;
  l.start(write_atomic(0, 8), pattern(8 * 512, 0xaa), &wa_done);
  // An overlapping WRITE waits for the range lock.
  l.start(cdb10(kWrite10, 4, 8), pattern(8 * 512, 0xbb), &w_done);
  // A READ issued while the atomic write is in flight reads under the range lock: it queues
  // behind the atomic write and cannot see half of it.
  auto rt = l.start(cdb10(kRead10, 0, 8), {}, &r_done);
  CHECK(l.store->pending() == 1);  // only the atomic write is in the store
  l.store->run_one();
  CHECK(wa_done);
  l.store->run_all();
  CHECK(w_done);
  CHECK(r_done);
  REQUIRE(good(rt));
  // Either all-old or all-new for the atomic range; the read was queued after the atomic
  // write, so it sees the atomic data in blocks 0-3 and the later WRITE (queued first) in 4-7.
  CHECK(rt->data_in[0] == 0xaa);
  CHECK(rt->data_in[4 * 512] == 0xbb);
}

TEST_CASE("a READ that overlapped an atomic write in time is read again", "[sbd][io][atomic]") {
  Lu l;
  l.store->hold = true;
  bool r_done = false, wa_done = false;
  // The READ is in the store first (no atomic write was active: no lock taken) ...
  auto rt = l.start(cdb10(kRead10, 0, 8), {}, &r_done);
  CHECK(l.store->pending() == 1);
  // ... then an atomic write starts; the read completes (possibly torn) and must retry.
  l.start(write_atomic(0, 8), pattern(8 * 512, 0xcc), &wa_done);
  CHECK(l.store->pending() == 2);
  l.store->run_one();  // the read: sees the generation moved, re-reads under the lock
  CHECK(!r_done);
  l.store->run_all();
  CHECK(wa_done);
  REQUIRE(r_done);
  REQUIRE(good(rt));
  CHECK(rt->data_in[0] == 0xcc);
  CHECK(rt->data_in[8 * 512 - 1] == 0xcc);
  // With no atomic writes around, a read completes at once and takes no lock.
  r_done = false;
  auto rt2 = l.start(cdb10(kRead10, 0, 8), {}, &r_done);
  l.store->run_one();
  CHECK(r_done);
}

TEST_CASE("removable medium: eject, load, MEDIUM NOT PRESENT, prevention", "[sbd][io][ssu][removable]") {
  Lu l(2048, 512, true, false, 0, true);
  std::vector<uint8_t> tur{0, 0, 0, 0, 0, 0};
  auto ssu = [](uint8_t b4, uint8_t b1 = 0) { return std::vector<uint8_t>{0x1b, b1, 0, 0, b4, 0}; };
  auto pa = [](uint8_t p) { return std::vector<uint8_t>{0x1e, 0, 0, 0, p, 0}; };
  CHECK(l.run({0x12, 0, 0, 0, 36, 0})->data_in[1] == 0x80);  // RMB
  // Eject (LOEJ=1 START=0, IMMED=1): flushes, then every medium command: 3A/00.
  REQUIRE(good(l.run(ssu(0x02, 0x01))));
  CHECK(l.store->flushes == 1);
  CHECK_SENSE(l.run(tur), 0x2, 0x3a, 0x00);
  CHECK_SENSE(l.run(cdb10(kRead10, 0, 1)), 0x2, 0x3a, 0x00);
  CHECK_SENSE(l.run(cdb10(kWrite10, 0, 1), pattern(512, 0)), 0x2, 0x3a, 0x00);
  CHECK_SENSE(l.run(cdb10(kSynchronizeCache10, 0, 1)), 0x2, 0x3a, 0x00);
  CHECK_SENSE(l.run({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}), 0x2, 0x3a, 0x00);
  CHECK_SENSE(l.run(unmap_cdb(24), unmap_list({{0, 1}})), 0x2, 0x3a, 0x00);
  CHECK(good(l.run({0x12, 0, 0, 0, 36, 0})));  // INQUIRY still works
  // START without LOEJ cannot spin up an absent medium.
  CHECK_SENSE(l.run(ssu(0x01)), 0x2, 0x3a, 0x00);
  // Ejecting again is harmless.
  CHECK(good(l.run(ssu(0x02))));
  // Load (LOEJ=1 START=1): ready again.
  REQUIRE(good(l.run(ssu(0x03))));
  CHECK(good(l.run(tur)));
  // Stop without eject: 04/02, start: ready.
  REQUIRE(good(l.run(ssu(0x00))));
  CHECK_SENSE(l.run(tur), 0x2, 0x04, 0x02);
  REQUIRE(good(l.run(ssu(0x01))));
  // PREVENT from either nexus blocks eject and load with 53/02; the medium stays.
  REQUIRE(good(l.run(pa(1), {}, l.nexus2)));
  CHECK_SENSE(l.run(ssu(0x02)), 0x5, 0x53, 0x02);
  CHECK(good(l.run(tur)));
  REQUIRE(good(l.run(pa(0))));  // ALLOW from the other nexus does not release nexus2's
  CHECK_SENSE(l.run(ssu(0x02)), 0x5, 0x53, 0x02);
  REQUIRE(good(l.run(pa(0), {}, l.nexus2)));
  REQUIRE(good(l.run(ssu(0x02))));  // eject
  REQUIRE(good(l.run(pa(1))));
  CHECK_SENSE(l.run(ssu(0x03)), 0x5, 0x53, 0x02);  // load prevented
  CHECK_SENSE(l.run(tur), 0x2, 0x3a, 0x00);
  // Prevention ends with I_T nexus loss, LU reset and target resets.
  l.lu->on_nexus_loss(l.nexus->key());
  REQUIRE(good(l.run(ssu(0x03))));
  for (auto kind : {ResetKind::logical_unit, ResetKind::target_warm, ResetKind::target_cold}) {
    REQUIRE(good(l.run(pa(1))));
    CHECK_SENSE(l.run(ssu(0x02)), 0x5, 0x53, 0x02);
    l.lu->on_reset(kind);
    REQUIRE(good(l.run(ssu(0x02))));
    REQUIRE(good(l.run(ssu(0x03))));
  }
  // NO_FLUSH eject does not flush.
  const int f = l.store->flushes;
  REQUIRE(good(l.run(ssu(0x06))));
  CHECK(l.store->flushes == f);
  CHECK_SENSE(l.run(tur), 0x2, 0x3a, 0x00);
}

TEST_CASE("READ DEFECT DATA (10) and (12): empty lists", "[sbd][io][defect]") {
  Lu l;
  // (10): REQ_PLIST | REQ_GLIST, short block format.
  auto t = l.run({0x37, 0, 0x18, 0, 0, 0, 0, 0, 32, 0});
  REQUIRE(good(t));
  REQUIRE(t->data_in.size() == 4);
  CHECK(t->data_in[1] == 0x18);
  CHECK(scsi::get_be16(&t->data_in[2]) == 0);
  t = l.run({0x37, 0, 0x05, 0, 0, 0, 0, 0, 32, 0});  // physical sector format, no lists
  REQUIRE(good(t));
  CHECK(t->data_in[1] == 0x05);
  t = l.run({0x37, 0, 0x10, 0, 0, 0, 0, 0, 2, 0});  // allocation length truncates
  REQUIRE(good(t));
  CHECK(t->data_in.size() == 2);
  t = l.run({0x37, 0, 0x07, 0, 0, 0, 0, 0, 32, 0});  // reserved format
  CHECK_SENSE(t, 0x5, 0x24, 0);
  CHECK_FIELD(t, true, 2, 2);
  t = l.run({0x37, 0, 0x20, 0, 0, 0, 0, 0, 32, 0});  // reserved bits
  CHECK_FIELD(t, true, 2, 5);
  // (12): 8-byte header; ADDRESS DESCRIPTOR INDEX past the empty list is fine.
  t = l.run({0xb7, 0x08, 0, 0, 0, 5, 0, 0, 0, 64, 0, 0});
  REQUIRE(good(t));
  REQUIRE(t->data_in.size() == 8);
  CHECK(t->data_in[1] == 0x08);
  CHECK(scsi::get_be32(&t->data_in[4]) == 0);
  t = l.run({0xb7, 0x07, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0});
  CHECK_FIELD(t, true, 1, 2);
  CHECK(l.run({0xb7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})->data_in.empty());
}
