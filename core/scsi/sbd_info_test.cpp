// Block LU identification, capacity and reporting commands; the command table.
#include "core/scsi/opcodes.h"
#include "core/scsi/sbd_lu_impl.h"
#include "core/scsi/sbd_test_util.h"

using namespace stmf;
using namespace stmf::sbd::test;

namespace {
std::vector<uint8_t> inquiry(bool evpd, uint8_t page, uint16_t alloc = 1024) {
  return {scsi::op::kInquiry, uint8_t(evpd ? 1 : 0), page, uint8_t(alloc >> 8), uint8_t(alloc), 0};
}
std::vector<uint8_t> rsoc(uint8_t opts, uint8_t op = 0, uint16_t sa = 0, bool rctd = false, uint32_t alloc = 65535) {
  std::vector<uint8_t> c(12, 0);
  c[0] = scsi::op::kMaintenanceIn;
  c[1] = scsi::maintenance_in::kReportSupportedOperationCodes;
  c[2] = uint8_t((rctd ? 0x80 : 0) | opts);
  c[3] = op;
  scsi::put_be16(&c[4], sa);
  scsi::put_be32(&c[6], alloc);
  return c;
}
struct Designator {
  uint8_t proto, code_set, piv, assoc, type;
  std::vector<uint8_t> data;
};
std::vector<Designator> designators(const std::vector<uint8_t>& d) {
  std::vector<Designator> v;
  REQUIRE(scsi::get_be16(&d[2]) == d.size() - 4);
  for (size_t o = 4; o + 4 <= d.size(); o += 4 + d[o + 3]) {
    REQUIRE(o + 4 + d[o + 3] <= d.size());
    v.push_back({uint8_t(d[o] >> 4), uint8_t(d[o] & 0x0f), uint8_t(d[o + 1] >> 7), uint8_t((d[o + 1] >> 4) & 3),
                 uint8_t(d[o + 1] & 0x0f), std::vector<uint8_t>(d.begin() + o + 4, d.begin() + o + 4 + d[o + 3])});
  }
  return v;
}
}  // namespace

TEST_CASE("standard INQUIRY data", "[sbd][inquiry]") {
  Lu l;
  auto t = l.run(inquiry(false, 0));
  REQUIRE(good(t));
  const auto& d = t->data_in;
  REQUIRE(d.size() >= 36);
  CHECK(d[0] == 0x00);
  CHECK(d[1] == 0x00);
  CHECK(d[2] == 0x06);
  CHECK(d[3] == 0x12);  // HISUP, RDF 2
  CHECK(d[4] == d.size() - 5);
  CHECK((d[5] & 0x30) == 0x30);  // TPGS: implicit and explicit ALUA
  CHECK((d[7] & 0x02) == 0x02);  // CMDQUE
  CHECK(std::string(d.begin() + 8, d.begin() + 16) == "STMF    ");
  CHECK(std::string(d.begin() + 32, d.begin() + 36) == "0001");
  CHECK(scsi::get_be16(&d[60]) == 0x0460);  // SPC-4 version descriptor
  // Allocation length truncates.
  CHECK(l.run(inquiry(false, 0, 5))->data_in.size() == 5);
  CHECK(l.run(inquiry(false, 0, 0))->data_in.empty());
}

TEST_CASE("INQUIRY CDB errors", "[sbd][inquiry]") {
  Lu l;
  auto t = l.run(inquiry(false, 0x83));  // page code without EVPD
  CHECK_SENSE(t, 0x5, 0x24, 0x00);
  CHECK_FIELD(t, true, 2, -1);
  t = l.run({0x12, 0x02, 0, 0, 36, 0});  // CMDDT
  CHECK_FIELD(t, true, 1, 1);
  t = l.run(inquiry(true, 0x99));
  CHECK_FIELD(t, true, 2, -1);
}

TEST_CASE("VPD pages 00h, 80h, 86h, B1h", "[sbd][inquiry][vpd]") {
  Lu l;
  auto d = l.run(inquiry(true, 0x00))->data_in;
  CHECK(d == std::vector<uint8_t>{0, 0, 0, 8, 0x00, 0x80, 0x83, 0x86, 0x8f, 0xb0, 0xb1, 0xb2});
  CHECK(std::is_sorted(d.begin() + 4, d.end()));
  d = l.run(inquiry(true, 0x80))->data_in;
  CHECK(d[1] == 0x80);
  CHECK(std::string(d.begin() + 4, d.end()) == "SN0001");
  d = l.run(inquiry(true, 0x86))->data_in;
  CHECK(scsi::get_be16(&d[2]) == 0x3c);
  CHECK(d[5] == 0x07);
  CHECK(d[6] == 0x01);  // V_SUP (write cache)
  d = l.run(inquiry(true, 0xb1))->data_in;
  CHECK(scsi::get_be16(&d[4]) == 1);
}

TEST_CASE("VPD 83h device identification", "[sbd][inquiry][vpd]") {
  Lu l;
  auto ds = designators(l.run(inquiry(true, 0x83))->data_in);
  auto find = [&](uint8_t type, uint8_t assoc) -> const Designator* {
    for (auto& d : ds)
      if (d.type == type && d.assoc == assoc) return &d;
    return nullptr;
  };
  auto naa = find(3, 0);
  REQUIRE(naa);
  CHECK(naa->code_set == 1);
  CHECK(naa->data.size() == 16);
  CHECK((naa->data[0] >> 4) == 6);
  CHECK(naa->data[15] == 12);
  auto t10 = find(1, 0);
  REQUIRE(t10);
  CHECK(std::string(t10->data.begin(), t10->data.end()) == "STMF    SN0001");
  auto rtp = find(4, 1);
  REQUIRE(rtp);
  CHECK((rtp->piv == 1 && rtp->proto == 5));
  CHECK(scsi::get_be16(&rtp->data[2]) == 3);
  auto tpg = find(5, 1);
  REQUIRE(tpg);
  CHECK(scsi::get_be16(&tpg->data[2]) == 0x101);
  auto name = find(8, 1);
  REQUIRE(name);
  CHECK(name->code_set == 3);
  CHECK(name->data.size() % 4 == 0);
  CHECK(std::string(reinterpret_cast<const char*>(name->data.data())) == "iqn.2026-01.org.example:t0,t,0x0001");
  auto dev = find(8, 2);
  REQUIRE(dev);
  CHECK(std::string(reinterpret_cast<const char*>(dev->data.data())) == "iqn.2026-01.org.example:t0");
}

TEST_CASE("VPD B0h block limits and B2h provisioning, thin and full", "[sbd][inquiry][vpd]") {
  Lu thin(2048, 512, true, false, 3);
  auto d = thin.run(inquiry(true, 0xb0))->data_in;
  REQUIRE(d.size() == 64);
  CHECK(scsi::get_be16(&d[2]) == 0x3c);
  CHECK(d[4] == 0x00);  // WSNZ = 0
  CHECK(d[5] == 255);
  CHECK(scsi::get_be16(&d[6]) == 8);
  CHECK(scsi::get_be32(&d[8]) == 65536);
  CHECK(scsi::get_be32(&d[12]) == 2048);
  CHECK(scsi::get_be32(&d[20]) == sbd::BlockLimits::kMaxUnmapLbaCount);
  CHECK(scsi::get_be32(&d[24]) == 256);
  CHECK(scsi::get_be32(&d[28]) == 8);
  CHECK(scsi::get_be64(&d[36]) == sbd::BlockLimits::kMaxWriteSameBlocks);
  CHECK(scsi::get_be32(&d[20]) <= 1024 * 1024);  // MAXIMUM UNMAP LBA COUNT: sane, >= 2^LBPPBE
  CHECK(scsi::get_be32(&d[20]) >= 8);
  CHECK(scsi::get_be32(&d[32]) == 0x80000000u);  // UGAVALID, UNMAP GRANULARITY ALIGNMENT 0
  // Atomic writes: MAXIMUM ATOMIC TRANSFER LENGTH <= MAXIMUM TRANSFER LENGTH (and fits the
  // 16-bit CDB field, a multiple of the granularity); 8 logical blocks per physical block:
  // atomic writes cover whole physical blocks (alignment and granularity 8); no boundaries.
  CHECK(scsi::get_be32(&d[44]) == 65528);
  CHECK(scsi::get_be32(&d[44]) <= scsi::get_be32(&d[8]));
  CHECK(scsi::get_be32(&d[48]) == 8);  // ATOMIC ALIGNMENT
  CHECK(scsi::get_be32(&d[52]) == 8);  // ATOMIC TRANSFER LENGTH GRANULARITY
  CHECK(scsi::get_be32(&d[56]) == 0);
  CHECK(scsi::get_be32(&d[60]) == 0);
  d = thin.run(inquiry(true, 0xb2))->data_in;
  CHECK(d[5] == 0xe4);  // LBPU LBPWS LBPWS10 LBPRZ
  CHECK((d[6] & 7) == 2);

  // One logical block per physical block: no alignment or granularity rule.
  Lu plain;
  d = plain.run(inquiry(true, 0xb0))->data_in;
  CHECK(scsi::get_be32(&d[44]) == 65535);
  CHECK(scsi::get_be32(&d[48]) == 0);
  CHECK(scsi::get_be32(&d[52]) == 0);

  Lu full(2048, 4096, false);
  d = full.run(inquiry(true, 0xb0))->data_in;
  CHECK(scsi::get_be32(&d[8]) == 8192);  // 32 MiB / 4 KiB
  CHECK(scsi::get_be32(&d[44]) == 8192);
  CHECK(scsi::get_be32(&d[20]) == 0);
  CHECK(scsi::get_be32(&d[24]) == 0);
  d = full.run(inquiry(true, 0xb2))->data_in;
  CHECK(d[5] == 0);
  CHECK((d[6] & 7) == 0);
}

TEST_CASE("READ CAPACITY (10) and (16)", "[sbd][capacity]") {
  Lu l(2048, 4096, true, false, 2);
  auto t = l.run({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  REQUIRE(good(t));
  CHECK(scsi::get_be32(&t->data_in[0]) == 2047);
  CHECK(scsi::get_be32(&t->data_in[4]) == 4096);
  t = l.run({0x25, 0, 0, 0, 0, 1, 0, 0, 0, 0});  // LBA without PMI
  CHECK_FIELD(t, true, 2, -1);
  std::vector<uint8_t> rc16(16, 0);
  rc16[0] = 0x9e;
  rc16[1] = 0x10;
  rc16[13] = 32;
  t = l.run(rc16);
  REQUIRE(good(t));
  REQUIRE(t->data_in.size() == 32);
  CHECK(scsi::get_be64(&t->data_in[0]) == 2047);
  CHECK(scsi::get_be32(&t->data_in[8]) == 4096);
  CHECK(t->data_in[13] == 2);
  CHECK(t->data_in[14] == 0xc0);  // LBPME, LBPRZ
  rc16[13] = 12;
  CHECK(l.run(rc16)->data_in.size() == 12);

  Lu full(2048, 512, false);
  rc16[13] = 32;
  CHECK(full.run(rc16)->data_in[14] == 0);
}

namespace {
// A store with only a size, for capacities too large to back with memory.
class SizeOnlyStore : public store::BackingStore {
 public:
  explicit SizeOnlyStore(uint64_t s) : s_(s) {}
  uint64_t size() const override { return s_; }
  bool thin() const override { return false; }
  std::string describe() const override { return "size-only"; }
  void read(uint64_t, std::span<uint8_t>, store::Completion d) override { d({}); }
  void write(uint64_t, std::span<const uint8_t>, bool, store::Completion d) override { d({}); }
  void flush(store::Completion d) override { d({}); }
  void unmap(uint64_t, uint64_t, store::Completion d) override { d({}); }
  std::error_code extent(uint64_t, uint64_t m, store::Extent& e) override {
    e = {true, m};
    return {};
  }
  uint64_t s_;
};
}  // namespace

TEST_CASE("READ CAPACITY (10) saturates above 2^32 blocks", "[sbd][capacity]") {
  sbd::BlockLuConfig c;
  c.block_size = 512;
  auto lu = sbd::make_block_lu(c, std::make_unique<SizeOnlyStore>(uint64_t(3) << 40));  // 3 TiB
  auto t = std::make_shared<ScsiTask>();
  t->cdb[0] = 0x25;
  lu->execute(t, [](const TaskPtr&) {});
  REQUIRE(good(t));
  CHECK(scsi::get_be32(&t->data_in[0]) == 0xffffffffu);
  // 64-bit LBA range check near the top.
  auto w = std::make_shared<ScsiTask>();
  w->cdb = {0x88};
  scsi::put_be64(&w->cdb[2], (uint64_t(3) << 31) - 1);
  scsi::put_be32(&w->cdb[10], 2);
  lu->execute(w, [](const TaskPtr&) {});
  CHECK_SENSE(w, 0x5, 0x21, 0);
  CHECK(sbd::make_block_lu(c, nullptr) == nullptr);
  c.block_size = 1024;
  CHECK(sbd::make_block_lu(c, std::make_unique<SizeOnlyStore>(1 << 20)) == nullptr);
}

TEST_CASE("REPORT SUPPORTED OPERATION CODES: all commands", "[sbd][rsoc]") {
  Lu l;
  auto t = l.run(rsoc(0));
  REQUIRE(good(t));
  const auto& d = t->data_in;
  REQUIRE(scsi::get_be32(&d[0]) == d.size() - 4);
  REQUIRE((d.size() - 4) % 8 == 0);
  std::vector<std::pair<uint8_t, uint16_t>> seen;
  for (size_t o = 4; o < d.size(); o += 8) {
    seen.emplace_back(d[o], scsi::get_be16(&d[o + 2]));
    CHECK(scsi::get_be16(&d[o + 6]) != 0);
  }
  auto has = [&](uint8_t op, uint16_t sa) { return std::count(seen.begin(), seen.end(), std::make_pair(op, sa)) == 1; };
  CHECK(has(0x28, 0));
  CHECK(has(0x9e, 0x10));
  CHECK(has(0x9e, 0x12));
  CHECK(has(0xa0, 0));  // REPORT LUNS, answered by the framework
  CHECK(has(0x03, 0));  // REQUEST SENSE
  CHECK(has(0x42, 0));  // UNMAP on a thin LU
  CHECK(has(0x5e, 0));  // PERSISTENT RESERVE IN, answered by the framework
  CHECK(has(0x5f, 7));  // REGISTER AND MOVE
  CHECK_FALSE(has(0x5f, 8));  // no REPLACE LOST RESERVATION
  // With RCTD every descriptor carries a 12-byte timeouts descriptor.
  auto r = l.run(rsoc(0, 0, 0, true));
  CHECK(r->data_in.size() - 4 == (d.size() - 4) / 8 * 20);
  CHECK(r->data_in[4 + 5] == 0x02);  // CTDP
  CHECK(scsi::get_be16(&r->data_in[4 + 8]) == 0x0a);
  // Allocation length truncation.
  CHECK(l.run(rsoc(0, 0, 0, false, 10))->data_in.size() == 10);

  Lu full(2048, 512, false);
  auto f = full.run(rsoc(0))->data_in;
  CHECK(f.size() == d.size() - 16);  // no UNMAP, no SANITIZE BLOCK ERASE
}

TEST_CASE("REPORT SUPPORTED OPERATION CODES: one command", "[sbd][rsoc]") {
  Lu l;
  auto t = l.run(rsoc(1, 0x28));
  REQUIRE(good(t));
  auto d = t->data_in;
  CHECK((d[1] & 0x07) == 0x03);
  CHECK(scsi::get_be16(&d[2]) == 10);
  REQUIRE(d.size() == 14);
  CHECK(std::vector<uint8_t>(d.begin() + 4, d.end()) ==
        std::vector<uint8_t>{0x28, 0xfe, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, 0x04});
  // RCTD appends the timeouts descriptor and sets CTDP.
  d = l.run(rsoc(1, 0x28, 0, true))->data_in;
  CHECK((d[1] & 0x80) == 0x80);
  CHECK(d.size() == 14 + 12);
  // Service action opcodes: option 001b is invalid, 010b works.
  auto bad = l.run(rsoc(1, 0x9e, 0x10));
  CHECK_SENSE(bad, 0x5, 0x24, 0x00);
  CHECK_FIELD(bad, true, 2, 2);
  d = l.run(rsoc(2, 0x9e, 0x10))->data_in;
  CHECK((d[1] & 7) == 3);
  CHECK(d[4] == 0x9e);
  CHECK(d[5] == 0x10);
  CHECK(scsi::get_be16(&d[2]) == 16);
  CHECK_SENSE(l.run(rsoc(2, 0x28, 0)), 0x5, 0x24, 0x00);
  // Unsupported service action / opcode: SUPPORT 001b.
  d = l.run(rsoc(2, 0x9e, 0x05))->data_in;
  CHECK((d[1] & 7) == 1);
  d = l.run(rsoc(1, 0xe7))->data_in;
  CHECK((d[1] & 7) == 1);
  CHECK(d.size() == 4);
  // 011b: opcode with or without service action.
  CHECK((l.run(rsoc(3, 0x28, 0x1234))->data_in[1] & 7) == 3);
  CHECK((l.run(rsoc(3, 0x9e, 0x12))->data_in[1] & 7) == 3);
  CHECK_FIELD(l.run(rsoc(4)), true, 2, 2);
}

TEST_CASE("REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS", "[sbd][rstmf]") {
  Lu l;
  std::vector<uint8_t> c{0xa3, 0x0d, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0};
  auto d = l.run(c)->data_in;
  REQUIRE(d.size() == 4);
  CHECK(d[0] == 0xda);  // ATS ATSS CTSS LURS TRS
  c[2] = 0x80;          // REPD
  d = l.run(c)->data_in;
  REQUIRE(d.size() == 16);
  CHECK(d[3] == 0x0c);
}

TEST_CASE("command table: lookup, reservation classes, UA and standby flags", "[sbd][table]") {
  Lu l;
  auto ci = [&](std::vector<uint8_t> c) {
    std::array<uint8_t, 16> b{};
    std::copy(c.begin(), c.end(), b.begin());
    return l.lu->command_info(b.data(), 16);
  };
  REQUIRE(ci({0x28}));
  CHECK(ci({0x28})->reservation == ReservationClass::read);
  CHECK(ci({0x2a})->reservation == ReservationClass::write);
  CHECK(ci({0x89})->reservation == ReservationClass::write);
  CHECK(ci({0x12})->reservation == ReservationClass::allowed);
  CHECK(ci({0x12})->allowed_with_ua);
  CHECK(ci({0x12})->allowed_in_standby);
  CHECK_FALSE(ci({0x28})->allowed_in_standby);
  CHECK(ci({0x15})->reservation == ReservationClass::conflict);
  CHECK(ci({0x00})->reservation == ReservationClass::allowed);
  CHECK(ci({0x9e, 0x10})->reservation == ReservationClass::allowed);
  CHECK(ci({0x9e, 0x10})->cdb_length == 16);
  CHECK(ci({0x9e, 0x11}) == nullptr);
  CHECK(ci({0xa0})->allowed_with_ua);
  CHECK(ci({0x03})->allowed_with_ua);
  // Reservation commands: rows for their CDB layout and class, answered by the framework.
  REQUIRE(ci({0x5e, 0x03}));
  CHECK(ci({0x5e, 0x03})->reservation == ReservationClass::persistent);
  CHECK(ci({0x5e, 0x04}) == nullptr);  // unknown service action
  CHECK(l.lu->has_service_actions(0x5e));
  CHECK_FALSE(l.lu->has_service_actions(0x28));
  REQUIRE(ci({0x5f, 0x07}));
  CHECK(ci({0x5f, 0x07})->direction == DataDirection::out);
  CHECK(ci({0x5f, 0x08}) == nullptr);  // REPLACE LOST RESERVATION: not offered (RLR_C = 0)
  CHECK(ci({0x16})->reservation == ReservationClass::reserve);
  CHECK(ci({0x57})->reservation == ReservationClass::reserve);
  // Allowed through Write Exclusive, conflicting under Exclusive Access (SPC-4 table 65).
  CHECK(ci({0x1a})->reservation == ReservationClass::read);
  CHECK(ci({0xa3, 0x0c})->reservation == ReservationClass::read);
  CHECK(ci({0xa3, 0x0a})->reservation == ReservationClass::allowed);  // REPORT TARGET PORT GROUPS
  CHECK(ci({0xa3, 0x0a})->allowed_in_standby);
  // Every row: usage[0] is the opcode, direction matches data movement.
  for (const auto& r : sbd::BlockLu::table()) {
    CHECK(r.info.usage[0] == r.info.opcode);
    CHECK((r.info.cdb_length == 6 || r.info.cdb_length == 10 || r.info.cdb_length == 12 || r.info.cdb_length == 16));
  }
  // Executing an opcode the framework answers reports it unsupported here.
  auto t = std::make_shared<ScsiTask>();
  t->cdb[0] = 0xa0;
  t->nexus = l.nexus;
  l.lu->execute(t, [](const TaskPtr&) {});
  CHECK_SENSE(t, 0x5, 0x20, 0x00);
}
