// PERSISTENT RESERVE IN byte layouts and allocation-length truncation.
#include "core/pr/pr_test_util.h"

using namespace stmf;
using namespace stmf::pr;
using namespace stmf::pr::test;
namespace sn = stmf::scsi::sense;

namespace {
std::vector<uint8_t> be64v(uint64_t k) {
  std::vector<uint8_t> v(8);
  put64(v, 0, k);
  return v;
}
std::vector<uint8_t> cat(std::initializer_list<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> v;
  for (auto& p : parts) v.insert(v.end(), p.begin(), p.end());
  return v;
}
// Hand-built iSCSI TransportID (independent of the engine's builder).
std::vector<uint8_t> tid(uint8_t byte0, const std::string& s, size_t padded_len) {
  std::vector<uint8_t> v(4 + padded_len, 0);
  v[0] = byte0;
  v[2] = uint8_t(padded_len >> 8);
  v[3] = uint8_t(padded_len);
  std::copy(s.begin(), s.end(), v.begin() + 4);
  return v;
}
}  // namespace

TEST_CASE("READ KEYS", "[pr][prin]") {
  Lu l;
  SECTION("no registrations") {
    auto r = l.in(a, pr_in::kReadKeys);
    REQUIRE(is_good(r));
    CHECK(r.data_in == std::vector<uint8_t>{0, 0, 0, 0, 0, 0, 0, 0});
  }
  SECTION("one key per registration, duplicates repeated") {
    REQUIRE(is_good(l.reg(a, 0x0102030405060708ull)));
    REQUIRE(is_good(l.reg(b, 0xB)));
    REQUIRE(is_good(l.reg(c, 0xB)));
    auto r = l.in(d, pr_in::kReadKeys);
    REQUIRE(is_good(r));
    CHECK(r.data_in == cat({{0, 0, 0, 3, 0, 0, 0, 24}, be64v(0x0102030405060708ull), be64v(0xB), be64v(0xB)}));
    SECTION("allocation length truncates, ADDITIONAL LENGTH does not") {
      auto t = l.in(d, pr_in::kReadKeys, 12);
      CHECK(t.data_in == std::vector<uint8_t>{0, 0, 0, 3, 0, 0, 0, 24, 1, 2, 3, 4});
      CHECK(l.in(d, pr_in::kReadKeys, 0).data_in.empty());
      CHECK(l.in(d, pr_in::kReadKeys, 6).data_in == std::vector<uint8_t>{0, 0, 0, 3, 0, 0});
      CHECK(l.in(d, pr_in::kReadKeys, 1000).data_in.size() == 32);
    }
  }
}

TEST_CASE("READ RESERVATION", "[pr][prin]") {
  Lu l;
  REQUIRE(is_good(l.reg(a, 0xA)));
  REQUIRE(is_good(l.reg(b, 0x1122334455667788ull)));
  SECTION("none") {
    CHECK(l.in(a, pr_in::kReadReservation).data_in == std::vector<uint8_t>{0, 0, 0, 2, 0, 0, 0, 0});
  }
  SECTION("held: holder key, SCOPE/TYPE in byte 21") {
    REQUIRE(is_good(l.resv(b, 0x1122334455667788ull, kWriteExclusiveRegistrantsOnly)));
    auto r = l.in(a, pr_in::kReadReservation);
    CHECK(r.data_in == cat({{0, 0, 0, 2, 0, 0, 0, 16}, be64v(0x1122334455667788ull), {0, 0, 0, 0, 0, 0x05, 0, 0}}));
    CHECK(l.in(a, pr_in::kReadReservation, 16).data_in.size() == 16);
    CHECK(get32(l.in(a, pr_in::kReadReservation, 8).data_in, 4) == 16);
  }
  SECTION("all-registrants: key 0") {
    REQUIRE(is_good(l.resv(b, 0x1122334455667788ull, kExclusiveAccessAllRegistrants)));
    auto r = l.in(a, pr_in::kReadReservation);
    CHECK(r.data_in == cat({{0, 0, 0, 2, 0, 0, 0, 16}, be64v(0), {0, 0, 0, 0, 0, 0x08, 0, 0}}));
  }
}

TEST_CASE("REPORT CAPABILITIES", "[pr][prin]") {
  Lu l;
  // LENGTH 8; CRH SIP_C ATP_C PTPL_C (RLR_C 0); TMV, ALLOW COMMANDS 011b, PTPL_A; type mask.
  CHECK(l.in(a, pr_in::kReportCapabilities).data_in == std::vector<uint8_t>{0x00, 0x08, 0x1d, 0xb0, 0xea, 0x01, 0, 0});
  REQUIRE(is_good(l.reg(a, 1, APTPL)));
  CHECK(l.in(a, pr_in::kReportCapabilities).data_in == std::vector<uint8_t>{0x00, 0x08, 0x1d, 0xb1, 0xea, 0x01, 0, 0});
  CHECK(l.in(a, pr_in::kReportCapabilities, 4).data_in == std::vector<uint8_t>{0x00, 0x08, 0x1d, 0xb1});
}

TEST_CASE("READ FULL STATUS", "[pr][prin]") {
  Lu l;
  REQUIRE(is_good(l.reg(a, 0xA)));
  REQUIRE(is_good(l.reg(b2, 0xB, ALL_TG_PT)));
  auto p = basic(0, 0xD, SPEC_I_PT, {PrEngine::iscsi_transport_id(kC, "")});
  REQUIRE(is_good(l.out_params(d, pr_out::kRegister, p)));
  REQUIRE(is_good(l.resv(a, 0xA, kWriteExclusiveRegistrantsOnly)));

  const auto ta = tid(0x45, "iqn.1994-05.com.redhat:alpha,i,0x400001370000", 48);
  const auto tb = tid(0x45, "iqn.1994-05.com.redhat:bravo,i,0x400001370000", 48);
  const auto td = tid(0x45, "iqn.1994-05.com.redhat:delta,i,0x400001370000", 48);
  const auto tc = tid(0x05, "iqn.1994-05.com.redhat:charlie", 32);
  auto desc = [](uint64_t key, uint8_t flags, uint8_t scope_type, uint16_t rtpi, const std::vector<uint8_t>& t) {
    std::vector<uint8_t> v(24, 0);
    put64(v, 0, key);
    v[12] = flags;
    v[13] = scope_type;
    v[18] = uint8_t(rtpi >> 8);
    v[19] = uint8_t(rtpi);
    put32(v, 20, uint32_t(t.size()));
    v.insert(v.end(), t.begin(), t.end());
    return v;
  };
  const auto full = cat({{0, 0, 0, 3, 0, 0, 0x01, 0x20},  // generation 3, ADDITIONAL LENGTH 288
                         desc(0xA, 0x01, 0x05, 1, ta),    // holder
                         desc(0xB, 0x02, 0x00, 0, tb),    // ALL_TG_PT
                         desc(0xD, 0x00, 0x00, 1, td),
                         desc(0xD, 0x00, 0x00, 1, tc)});  // registered through an 00b TransportID
  auto r = l.in(b, pr_in::kReadFullStatus);
  REQUIRE(is_good(r));
  CHECK(r.data_in.size() == 296);
  CHECK(r.data_in == full);

  SECTION("truncated inside a descriptor") {
    auto t = l.in(b, pr_in::kReadFullStatus, 42);
    CHECK(t.data_in == std::vector<uint8_t>(full.begin(), full.begin() + 42));
    CHECK(get32(t.data_in, 4) == 288);
  }
  SECTION("all-registrants: every descriptor is a holder") {
    REQUIRE(is_good(l.out(a, pr_out::kRelease, 0xA, 0, kWriteExclusiveRegistrantsOnly)));
    REQUIRE(is_good(l.resv(d, 0xD, kWriteExclusiveAllRegistrants)));
    auto s = l.in(b, pr_in::kReadFullStatus).data_in;
    size_t o = 8;
    int n = 0;
    while (o < s.size()) {
      CHECK(s[o + 12] % 2 == 1);
      CHECK(s[o + 13] == 0x07);
      o += 24 + get32(s, o + 20);
      ++n;
    }
    CHECK(n == 4);
  }
}

TEST_CASE("READ FULL STATUS takes the RTPI from the port list when unknown", "[pr][prin]") {
  PrState s;
  s.registrations.push_back(Registration{kA, kIsid1, kP2.name, 0, false, 9});
  Lu l(s);
  auto d = l.in(a, pr_in::kReadFullStatus).data_in;
  REQUIRE(d.size() > 20);
  CHECK(d[8 + 18] == 0);
  CHECK(d[8 + 19] == 2);
}

TEST_CASE("PR IN errors", "[pr][prin]") {
  Lu l;
  for (uint8_t s : {0x04, 0x05, 0x1f}) {
    auto r = l.in(a, s);
    REQUIRE(r.sense);
    CHECK(*r.sense == sn::invalid_field_in_cdb.with_field(true, 1, 4));
    CHECK(r.data_in.empty());
  }
  std::array<uint8_t, 6> reserve6{0x16, 0, 0, 0, 0, 0};
  REQUIRE(is_good(l.e.reserve(b, reserve6.data())));
  for (uint8_t s : {pr_in::kReadKeys, pr_in::kReadReservation, pr_in::kReportCapabilities, pr_in::kReadFullStatus}) {
    CHECK(is_conflict(l.in(a, s)));
    CHECK(is_conflict(l.in(b, s)));  // even for the SCSI-2 holder (SPC-2 5.5.1)
  }
}
