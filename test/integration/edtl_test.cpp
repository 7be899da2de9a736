// Commands that carry data to the target, with an iSCSI Expected Data Transfer Length that
// differs from the length the CDB describes (docs/architecture.md "Data-Out shorter or longer
// than the CDB"): never GOOD for data the initiator sent that did not reach the medium.
//  * EDTL below the CDB's length: WRITE, WRITE AND VERIFY and ORWRITE write the whole blocks
//    sent (FCP-4) and refuse data that ends inside a block; every other command is refused:
//    CHECK CONDITION, ILLEGAL REQUEST, INVALID FIELD IN INFORMATION UNIT (05/0E/03), nothing
//    written. Either way the residual overflow of the difference;
//  * EDTL above it: only the CDB's length is used, GOOD, residual underflow of the difference.
// Driven by the raw initiator, with immediate data and through R2T/Data-Out.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "test/integration/daemon.h"
#include "test/integration/raw_initiator.h"

using stmf::test::Daemon;
using stmf::test::RawInitiator;
using stmf::test::RawPdu;

namespace {

constexpr uint8_t kDataIn = 0x25, kScsiResponse = 0x21, kR2t = 0x31;
constexpr uint32_t kBlock = 512;

void put_be(uint8_t* p, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; --i, v >>= 8) p[i] = uint8_t(v);
}

// What came back for one command: status, sense key/ASC/ASCQ, residual flags and count, Data-In.
struct Result {
  uint8_t status = 0xff;
  int key = -1, asc = -1, ascq = -1;
  bool overflow = false, underflow = false;
  uint32_t residual = 0;
  std::vector<uint8_t> data_in;
};

class Initiator {
 public:
  Initiator(const Daemon& d, bool immediate) : r_(d.port()), immediate_(immediate) {
    REQUIRE(r_.login(d.iqn(), {immediate ? "ImmediateData=Yes" : "ImmediateData=No", "InitialR2T=Yes"}) == 0);
    // The first command of a new nexus reports POWER ON; clear it.
    for (int i = 0; i < 3; ++i)
      if (run({0, 0, 0, 0, 0, 0}, 0).status == 0) break;
  }

  // Runs a command. Data-out commands send `out` (its size is the EDTL): as immediate data
  // when this initiator negotiated it, else answering the target's R2Ts.
  // `write` sets the W bit for a data-out command sent with an EDTL of 0 (no data).
  Result run(std::vector<uint8_t> cdb, uint32_t edtl, const std::vector<uint8_t>& out = {}, bool read = false,
             bool write = false) {
    write = write || (!read && !out.empty());
    if (!read) REQUIRE(out.size() == edtl);
    const uint32_t itt = r_.itt;
    auto h = r_.scsi_command(cdb.data(), cdb.size(), edtl, read, write, 0);
    REQUIRE(r_.send(h, write && immediate_ ? out : std::vector<uint8_t>{}));
    Result res;
    for (int i = 0; i < 256; ++i) {
      auto p = r_.recv(20000);  // hang guard
      REQUIRE(p);
      if (p->field32(16) != itt) continue;
      if (p->opcode() == kR2t) {
        const uint32_t ttt = p->field32(20), off = p->field32(40), len = p->field32(44);
        REQUIRE(off + len <= out.size());
        std::vector<uint8_t> chunk(out.begin() + off, out.begin() + off + len);
        REQUIRE(r_.send(r_.data_out(itt, ttt, 0, off, true), chunk));
        continue;
      }
      if (p->opcode() == kDataIn) {
        const uint32_t off = p->field32(40);
        if (res.data_in.size() < off + p->data.size()) res.data_in.resize(off + p->data.size());
        std::copy(p->data.begin(), p->data.end(), res.data_in.begin() + off);
        if (p->bhs[1] & 0x01) return finish(*p, res);
        continue;
      }
      if (p->opcode() == kScsiResponse) return finish(*p, res);
    }
    FAIL("no response");
    return res;
  }

  std::vector<uint8_t> read_blocks(uint64_t lba, uint32_t n) {
    std::vector<uint8_t> cdb(16, 0);
    cdb[0] = 0x88;
    put_be(&cdb[2], lba, 8);
    put_be(&cdb[10], n, 4);
    auto r = run(cdb, n * kBlock, {}, true);
    REQUIRE(r.status == 0);
    return r.data_in;
  }
  void write_blocks(uint64_t lba, const std::vector<uint8_t>& data) {
    std::vector<uint8_t> cdb(16, 0);
    cdb[0] = 0x8a;
    put_be(&cdb[2], lba, 8);
    put_be(&cdb[10], data.size() / kBlock, 4);
    REQUIRE(run(cdb, uint32_t(data.size()), data).status == 0);
  }

 private:
  static Result finish(const RawPdu& p, Result& res) {
    res.status = p.bhs[3];
    res.overflow = p.bhs[1] & 0x04;
    res.underflow = p.bhs[1] & 0x02;
    res.residual = p.field32(44);
    if (p.opcode() == kScsiResponse && p.data.size() >= 2 + 14) {
      res.key = p.data[2 + 2] & 0x0f;
      res.asc = p.data[2 + 12];
      res.ascq = p.data[2 + 13];
    }
    return res;
  }

  RawInitiator r_;
  bool immediate_;
};

bool invalid_field_in_iu(const Result& r) { return r.status == 0x02 && r.key == 0x05 && r.asc == 0x0e && r.ascq == 0x03; }

// A write CDB of `size` bytes (6, 10, 12, 16) with this opcode, LBA and block count.
std::vector<uint8_t> write_cdb(uint8_t opcode, int size, uint64_t lba, uint32_t blocks) {
  std::vector<uint8_t> c(size_t(size), 0);
  c[0] = opcode;
  switch (size) {
    case 6: put_be(&c[1], lba, 3); c[4] = uint8_t(blocks); break;
    case 10: put_be(&c[2], lba, 4); put_be(&c[7], blocks, 2); break;
    case 12: put_be(&c[2], lba, 4); put_be(&c[6], blocks, 4); break;
    default: put_be(&c[2], lba, 8); put_be(&c[10], blocks, 4); break;
  }
  return c;
}

}  // namespace

TEST_CASE("WRITE-like commands with an EDTL other than the CDB's length: whole blocks sent are written, a partial "
          "block refuses the command, more data than the CDB's is not used",
          "[integration][edtl]") {
  Daemon d;
  const bool immediate = GENERATE(true, false);
  Initiator ini(d, immediate);
  struct Op {
    const char* name;
    uint8_t opcode;
    int size;
  };
  const Op ops[] = {{"WRITE(6)", 0x0a, 6},         {"WRITE(10)", 0x2a, 10},        {"WRITE(12)", 0xaa, 12},
                    {"WRITE(16)", 0x8a, 16},       {"WRITE AND VERIFY(10)", 0x2e, 10}, {"WRITE AND VERIFY(12)", 0xae, 12},
                    {"WRITE AND VERIFY(16)", 0x8e, 16}, {"ORWRITE(16)", 0x8b, 16}};
  struct Case {
    uint32_t blocks, edtl;
    bool refused;           // 05/0E/03, nothing written
    uint32_t written;       // blocks written when not refused
  };
  const Case cases[] = {
      {1, 200, true, 0},           // data ends inside the block: nothing can be written
      {2, 600, true, 0},           // one block and 88 bytes: refused as a whole
      {2, 512, false, 1},          // FCP-4: the block sent is written, overflow 512
      {1, 0, false, 0},            // nothing sent, nothing written, overflow 512
      {1, 1024, false, 1},         // more than the CDB's: its one block, underflow 512
  };
  uint64_t lba = 100;
  for (const auto& op : ops) {
    const uint8_t before = op.opcode == 0x8b ? 0 : 'a';  // ORWRITE ORs into zeroes
    for (const auto& c : cases) {
      INFO(op.name << ", " << c.blocks << " block(s), EDTL " << c.edtl << (immediate ? ", immediate data" : ", R2T"));
      ini.write_blocks(lba, std::vector<uint8_t>(2 * kBlock, before));
      auto r = ini.run(write_cdb(op.opcode, op.size, lba, c.blocks), c.edtl, std::vector<uint8_t>(c.edtl, 'b'), false, true);
      const uint32_t cdb_bytes = c.blocks * kBlock;
      if (c.refused)
        CHECK(invalid_field_in_iu(r));
      else
        CHECK(r.status == 0x00);
      if (c.edtl < cdb_bytes) {
        CHECK(r.overflow);
        CHECK(r.residual == cdb_bytes - c.edtl);
      } else {
        CHECK(r.underflow);
        CHECK(r.residual == c.edtl - cdb_bytes);
      }
      std::vector<uint8_t> want(2 * kBlock, before);
      std::fill(want.begin(), want.begin() + c.written * kBlock, 'b');
      CHECK(ini.read_blocks(lba, 2) == want);
      lba += 2;
    }
  }
}

TEST_CASE("every other command that carries data out refuses an EDTL below its CDB's length", "[integration][edtl]") {
  Daemon d;
  const bool immediate = GENERATE(true, false);
  Initiator ini(d, immediate);
  ini.write_blocks(300, std::vector<uint8_t>(4 * kBlock, 'a'));
  auto unchanged = [&] { return ini.read_blocks(300, 4) == std::vector<uint8_t>(4 * kBlock, 'a'); };

  SECTION("WRITE SAME(10) and (16): one block of pattern") {
    std::vector<uint8_t> ws10 = {0x41, 0, 0, 0, 0x01, 0x2c, 0, 0, 4, 0};  // LBA 300, 4 blocks
    auto r = ini.run(ws10, 200, std::vector<uint8_t>(200, 'b'));
    CHECK(invalid_field_in_iu(r));
    CHECK(r.residual == kBlock - 200);
    auto ws16 = write_cdb(0x93, 16, 300, 4);
    CHECK(invalid_field_in_iu(ini.run(ws16, 200, std::vector<uint8_t>(200, 'b'))));
    CHECK(unchanged());
  }
  SECTION("COMPARE AND WRITE: verify and write data, one block each") {
    std::vector<uint8_t> caw(16, 0);
    caw[0] = 0x89;
    put_be(&caw[2], 300, 8);
    caw[13] = 1;
    std::vector<uint8_t> buf(kBlock, 'a');  // the compare half only
    CHECK(invalid_field_in_iu(ini.run(caw, kBlock, buf)));
    CHECK(unchanged());
  }
  SECTION("WRITE ATOMIC(16)") {
    std::vector<uint8_t> wa(16, 0);
    wa[0] = 0x9c;
    put_be(&wa[2], 300, 8);
    put_be(&wa[12], 2, 2);
    CHECK(invalid_field_in_iu(ini.run(wa, kBlock, std::vector<uint8_t>(kBlock, 'b'))));
    CHECK(unchanged());
  }
  SECTION("VERIFY(16) with BYTCHK=1") {
    auto v = write_cdb(0x8f, 16, 300, 2);
    v[1] = 0x02;
    CHECK(invalid_field_in_iu(ini.run(v, kBlock, std::vector<uint8_t>(kBlock, 'a'))));
  }
  SECTION("UNMAP: a 24-byte parameter list, 16 bytes sent") {
    std::vector<uint8_t> cdb = {0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0};
    std::vector<uint8_t> list(24, 0);
    list[1] = 22;
    list[3] = 16;
    put_be(&list[8], 300, 8);
    put_be(&list[16], 4, 4);
    list.resize(16);
    auto r = ini.run(cdb, 16, list);
    CHECK(invalid_field_in_iu(r));
    CHECK(r.overflow);
    CHECK(r.residual == 8);
    CHECK(unchanged());
  }
  SECTION("PERSISTENT RESERVE OUT REGISTER: a 24-byte parameter list, 16 bytes sent") {
    std::vector<uint8_t> cdb = {0x5f, 0x00, 0, 0, 0, 0, 0, 0, 24, 0};
    std::vector<uint8_t> list(16, 0);
    put_be(&list[8], 0x1234, 8);  // SERVICE ACTION RESERVATION KEY (the new key)
    CHECK(invalid_field_in_iu(ini.run(cdb, 16, list)));
    // READ KEYS: nothing was registered.
    std::vector<uint8_t> in = {0x5e, 0x00, 0, 0, 0, 0, 0, 0, 64, 0};
    auto r = ini.run(in, 64, {}, true);
    REQUIRE(r.status == 0);
    REQUIRE(r.data_in.size() >= 8);
    CHECK(r.data_in[7] == 0);  // ADDITIONAL LENGTH: no keys
    // More than the list: the 24 bytes are used, GOOD with an underflow of 8.
    std::vector<uint8_t> full(32, 0);
    put_be(&full[8], 0x1234, 8);
    r = ini.run(cdb, 32, full);
    CHECK(r.status == 0);
    CHECK(r.underflow);
    CHECK(r.residual == 8);
  }
  SECTION("MODE SELECT(10): header and caching page, 8 bytes short") {
    // Header (8) + caching page (08h, 20 bytes) = 28 bytes in the CDB, 20 sent.
    std::vector<uint8_t> cdb = {0x55, 0x10, 0, 0, 0, 0, 0, 0, 28, 0};
    std::vector<uint8_t> list(28, 0);
    list[8] = 0x08;
    list[9] = 0x12;
    list.resize(20);
    CHECK(invalid_field_in_iu(ini.run(cdb, 20, list)));
    std::vector<uint8_t> cdb6 = {0x15, 0x10, 0, 0, 24, 0};
    CHECK(invalid_field_in_iu(ini.run(cdb6, 20, list)));
  }
}
