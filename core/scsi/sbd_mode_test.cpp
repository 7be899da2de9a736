// Block LU mode pages: MODE SENSE / MODE SELECT, D_SENSE, SWP, unit attentions.
#include "core/scsi/sbd_test_util.h"

using namespace stmf;
using namespace stmf::sbd::test;

namespace {
std::vector<uint8_t> sense6(uint8_t page, uint8_t pc = 0, uint8_t sub = 0, bool dbd = false, uint8_t alloc = 255) {
  return {0x1a, uint8_t(dbd ? 0x08 : 0), uint8_t(pc << 6 | page), sub, alloc, 0};
}
std::vector<uint8_t> sense10(uint8_t page, bool llbaa, uint8_t pc = 0, uint8_t sub = 0) {
  return {0x5a, uint8_t(llbaa ? 0x10 : 0), uint8_t(pc << 6 | page), sub, 0, 0, 0, 0x10, 0x00, 0};
}
std::vector<uint8_t> select6(uint8_t len, uint8_t b1 = 0x10) { return {0x15, b1, 0, 0, len, 0}; }
std::vector<uint8_t> select10(uint16_t len, uint8_t b1 = 0x10) {
  return {0x55, b1, 0, 0, 0, 0, 0, uint8_t(len >> 8), uint8_t(len), 0};
}
// Pages after the header and block descriptors of a MODE SENSE(6) reply.
std::vector<std::pair<uint8_t, std::vector<uint8_t>>> pages6(const std::vector<uint8_t>& d) {
  std::vector<std::pair<uint8_t, std::vector<uint8_t>>> v;
  REQUIRE(d[0] == d.size() - 1);
  for (size_t o = 4 + d[3]; o < d.size(); o += 2 + d[o + 1])
    v.emplace_back(d[o] & 0x3f, std::vector<uint8_t>(d.begin() + o, d.begin() + o + 2 + d[o + 1]));
  return v;
}
std::vector<uint8_t> page_of(Lu& l, uint8_t page, uint8_t pc = 0) {
  auto p = pages6(l.run(sense6(page, pc, 0, true))->data_in);
  REQUIRE(p.size() == 1);
  return p[0].second;
}
// MODE SELECT(6) parameter list: header without block descriptor, then the page.
std::vector<uint8_t> plist6(const std::vector<uint8_t>& page) {
  std::vector<uint8_t> v{0, 0, 0, 0};
  v.insert(v.end(), page.begin(), page.end());
  return v;
}
}  // namespace

TEST_CASE("MODE SENSE(6) all pages with a short block descriptor", "[sbd][mode]") {
  Lu l;
  auto t = l.run(sense6(0x3f));
  REQUIRE(good(t));
  const auto& d = t->data_in;
  CHECK(d[1] == 0);
  CHECK(d[2] == 0x10);  // DPOFUA, not write-protected
  REQUIRE(d[3] == 8);
  CHECK(scsi::get_be32(&d[4]) == 2048);
  CHECK(scsi::get_be24(&d[9]) == 512);
  auto p = pages6(d);
  REQUIRE(p.size() == 4);
  CHECK(p[0].first == 0x01);
  CHECK(p[1].first == 0x08);
  CHECK(p[2].first == 0x0a);
  CHECK(p[3].first == 0x1c);
  CHECK(p[1].second.size() == 20);
  CHECK((p[1].second[2] & 0x04) == 0x04);  // WCE on by default
  CHECK(p[2].second.size() == 12);
  // 0x3F/0xFF: all pages and subpages (no subpages beyond 00h).
  CHECK(l.run(sense6(0x3f, 0, 0xff))->data_in == d);
  CHECK(pages6(l.run(sense6(0x0a, 0, 0xff))->data_in).size() == 1);
  // Allocation length truncates, the length field does not.
  auto s = l.run(sense6(0x3f, 0, 0, false, 6))->data_in;
  CHECK(s.size() == 6);
  CHECK(s[0] == d.size() - 1);
}

TEST_CASE("MODE SENSE(10) LLBAA long block descriptor and DBD", "[sbd][mode]") {
  Lu l;
  auto d = l.run(sense10(0x08, true))->data_in;
  CHECK(scsi::get_be16(&d[0]) == d.size() - 2);
  CHECK(d[4] == 0x01);  // LONGLBA
  REQUIRE(scsi::get_be16(&d[6]) == 16);
  CHECK(scsi::get_be64(&d[8]) == 2048);
  CHECK(scsi::get_be32(&d[8 + 12]) == 512);
  CHECK(d[24] == 0x08);
  d = l.run(sense10(0x08, false))->data_in;
  CHECK(scsi::get_be16(&d[6]) == 8);
  d = l.run(sense6(0x08, 0, 0, true))->data_in;
  CHECK(d[3] == 0);
  CHECK(d[4] == 0x08);
}

TEST_CASE("MODE SENSE page control and CDB errors", "[sbd][mode]") {
  Lu l;
  auto ch = page_of(l, 0x08, 1);
  CHECK(ch[2] == 0x05);  // WCE, RCD changeable
  auto ctl = page_of(l, 0x0a, 1);
  CHECK(ctl[2] == 0x04);  // D_SENSE
  CHECK(ctl[4] == 0x08);  // SWP
  CHECK(page_of(l, 0x01, 1)[2] == 0);
  CHECK((page_of(l, 0x08, 2)[2] & 0x04) == 0x04);
  auto t = l.run(sense6(0x08, 3));  // saved values
  CHECK_SENSE(t, 0x5, 0x39, 0x00);
  t = l.run(sense6(0x05));
  CHECK_SENSE(t, 0x5, 0x24, 0x00);
  CHECK_FIELD(t, true, 2, 5);
  t = l.run(sense6(0x08, 0, 0x01));
  CHECK_FIELD(t, true, 3, -1);
  t = l.run({0x1a, 0x10, 0x3f, 0, 255, 0});  // LLBAA does not exist in MODE SENSE(6)
  CHECK_FIELD(t, true, 1, 4);
}

TEST_CASE("MODE SELECT round trip raises MODE PARAMETERS CHANGED for other nexuses", "[sbd][mode]") {
  Lu l;
  auto& ua = l.lu->unit_attentions();
  // Both nexuses have seen the LU (their POWER ON UA is consumed).
  ua.next(l.nexus->key(), true);
  ua.next(l.nexus2->key(), true);
  auto cache = page_of(l, 0x08);
  cache[2] &= uint8_t(~0x04);  // WCE off
  auto pl = plist6(cache);
  auto t = l.run(select6(uint8_t(pl.size())), pl);
  REQUIRE(good(t));
  CHECK(t->transfer_length == int64_t(pl.size()));
  CHECK((page_of(l, 0x08)[2] & 0x04) == 0);
  auto u = ua.next(l.nexus2->key(), true);
  REQUIRE(u);
  CHECK(*u == scsi::sense::mode_parameters_changed);
  CHECK_FALSE(ua.next(l.nexus->key(), true));
  // WCE off: writes go through.
  REQUIRE(good(l.run({0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0}, pattern(512, 1))));
  CHECK(l.store->last_fua);
  // Selecting the same values again changes nothing: no UA.
  REQUIRE(good(l.run(select6(uint8_t(pl.size())), pl)));
  CHECK_FALSE(ua.next(l.nexus2->key(), true));
  // The PS bit of the page is ignored; MODE SELECT(10) works the same.
  std::vector<uint8_t> pl10{0, 0, 0, 0, 0, 0, 0, 0};
  cache[0] |= 0x80;
  cache[2] |= 0x04;
  pl10.insert(pl10.end(), cache.begin(), cache.end());
  REQUIRE(good(l.run(select10(uint16_t(pl10.size())), pl10)));
  CHECK((page_of(l, 0x08)[2] & 0x04) == 0x04);
  // LU reset restores defaults.
  cache[2] &= uint8_t(~0x04);
  REQUIRE(good(l.run(select6(uint8_t(plist6(cache).size())), plist6(cache))));
  l.lu->on_reset(ResetKind::logical_unit);
  CHECK((page_of(l, 0x08)[2] & 0x04) == 0x04);
}

TEST_CASE("MODE SELECT validation errors", "[sbd][mode]") {
  Lu l;
  auto cache = page_of(l, 0x08);
  auto pl = plist6(cache);
  const auto n = uint8_t(pl.size());
  auto t = l.run(select6(n, 0x11), pl);  // SP
  CHECK_SENSE(t, 0x5, 0x39, 0x00);
  t = l.run(select6(n, 0x00), pl);  // PF = 0
  CHECK_SENSE(t, 0x5, 0x24, 0x00);
  CHECK_FIELD(t, true, 1, 4);
  CHECK(good(l.run(select6(0, 0x10))));  // empty list
  t = l.run(select6(3), pattern(3, 0));  // shorter than the header
  CHECK_SENSE(t, 0x5, 0x1a, 0x00);
  t = l.run(select6(n), std::vector<uint8_t>(pl.begin(), pl.end() - 4));  // less data than said (EDTL)
  CHECK_SENSE(t, 0x5, 0x0e, 0x03);  // INVALID FIELD IN INFORMATION UNIT
  // Non-changeable field (caching byte 3): INVALID FIELD IN PARAMETER LIST, pointing at it.
  auto bad = pl;
  bad[4 + 3] = 0x40;
  t = l.run(select6(n), bad);
  CHECK_SENSE(t, 0x5, 0x26, 0x00);
  CHECK_FIELD(t, false, 7, 6);
  // Page length mismatch.
  bad = pl;
  bad[4 + 1] = 0x10;
  t = l.run(select6(n), bad);
  CHECK_SENSE(t, 0x5, 0x26, 0x00);
  CHECK_FIELD(t, false, 5, -1);
  // Unsupported page.
  bad = pl;
  bad[4] = 0x05;
  t = l.run(select6(n), bad);
  CHECK_FIELD(t, false, 4, 5);
  // Truncated page.
  bad = std::vector<uint8_t>(pl.begin(), pl.end() - 2);
  t = l.run(select6(uint8_t(bad.size())), bad);
  CHECK_SENSE(t, 0x5, 0x1a, 0x00);
  // Block descriptor: the block length cannot change; a wrong descriptor length is invalid.
  std::vector<uint8_t> bd{0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0x10, 0};
  t = l.run(select6(uint8_t(bd.size())), bd);
  CHECK_SENSE(t, 0x5, 0x26, 0x00);
  CHECK_FIELD(t, false, 9, -1);
  bd[10] = 0x02;  // 512: accepted
  CHECK(good(l.run(select6(uint8_t(bd.size())), bd)));
  bd[3] = 4;
  t = l.run(select6(uint8_t(bd.size())), bd);
  CHECK_FIELD(t, false, 3, -1);
  // Nothing was applied by the failed selects.
  CHECK(page_of(l, 0x08) == cache);
}

TEST_CASE("D_SENSE switches the sense format to descriptor", "[sbd][mode][sense]") {
  Lu l;
  CHECK_FALSE(l.lu->descriptor_sense());
  auto oob = l.run({0x88, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 0});
  CHECK_FALSE(sense_of(oob).descriptor);
  CHECK(oob->sense[0] == 0x70);
  auto ctl = page_of(l, 0x0a);
  ctl[2] |= 0x04;
  REQUIRE(good(l.run(select6(uint8_t(plist6(ctl).size())), plist6(ctl))));
  CHECK(l.lu->descriptor_sense());
  CHECK((page_of(l, 0x0a)[2] & 0x04) == 0x04);
  oob = l.run({0x88, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 0});
  auto s = sense_of(oob);
  CHECK(s.descriptor);
  CHECK(oob->sense[0] == 0x72);
  CHECK((s.key == 0x5 && s.asc == 0x21 && s.ascq == 0));
  // Field pointer in the sense-key specific descriptor.
  auto t = l.run({0x28, 0x01, 0, 0, 0, 0, 0, 0, 1, 0});
  s = sense_of(t);
  CHECK(s.descriptor);
  CHECK_FIELD(t, true, 1, 0);
  CHECK(t->sense == std::vector<uint8_t>{0x72, 0x05, 0x24, 0x00, 0, 0, 0, 8, 0x02, 0x06, 0, 0, 0xc8, 0x00, 0x01, 0});
  // Miscompare INFORMATION in the information descriptor.
  REQUIRE(good(l.run({0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0}, pattern(512, 'A'))));
  auto buf = pattern(1024, 'A');
  buf[300] = 'X';
  t = l.run(caw(0, 1), buf);
  s = sense_of(t);
  CHECK(s.descriptor);
  CHECK((s.key == 0xe && s.asc == 0x1d));
  CHECK(s.info == 300);
}

TEST_CASE("SWP write-protects the LU and sets WP in the mode header", "[sbd][mode][wp]") {
  Lu l;
  auto ctl = page_of(l, 0x0a);
  ctl[4] |= 0x08;
  REQUIRE(good(l.run(select6(uint8_t(plist6(ctl).size())), plist6(ctl))));
  CHECK(l.run(sense6(0x3f))->data_in[2] == 0x90);
  CHECK_SENSE(l.run({0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0}, pattern(512, 1)), 0x7, 0x27, 0x00);
  CHECK(good(l.run({0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0})));
  ctl[4] &= uint8_t(~0x08);
  REQUIRE(good(l.run(select6(uint8_t(plist6(ctl).size())), plist6(ctl))));
  CHECK(good(l.run({0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0}, pattern(512, 1))));
  Lu wp(2048, 512, true, true);
  CHECK(wp.run(sense10(0x3f, false))->data_in[3] == 0x90);
}

TEST_CASE("handover state: mode pages and unit attentions carry over to another LU object", "[sbd][mode][alua]") {
  Lu a, b;
  auto& ua = a.lu->unit_attentions();
  ua.next(a.nexus->key(), true);   // nexus 1 has seen the LU...
  ua.next(a.nexus2->key(), false);  // ...nexus 2 has its POWER ON, RESET still pending
  // D_SENSE on and WCE off on the old owner's copy.
  auto control = page_of(a, 0x0a);
  control[2] |= 0x04;
  REQUIRE(good(a.run(select6(uint8_t(plist6(control).size())), plist6(control))));
  auto cache = page_of(a, 0x08);
  cache[2] &= uint8_t(~0x04);
  REQUIRE(good(a.run(select6(uint8_t(plist6(cache).size())), plist6(cache))));
  ua.raise(a.nexus->key(), scsi::sense::capacity_data_has_changed);

  const HandoverState hs = a.lu->handover_state();
  CHECK(hs.mode_pages.size() == 12 + 20 + 12 + 12);
  REQUIRE(hs.unit_attentions.size() == 2);
  // nexus 2 has MODE PARAMETERS CHANGED queued behind its POWER ON, RESET.
  CHECK(hs.unit_attentions.at(a.nexus2->key()) ==
        std::vector<scsi::SenseCode>{scsi::sense::power_on_reset, scsi::sense::mode_parameters_changed});

  REQUIRE(b.lu->restore_handover_state(hs));
  CHECK(b.lu->descriptor_sense());
  CHECK((page_of(b, 0x0a)[2] & 0x04) == 0x04);
  CHECK((page_of(b, 0x08)[2] & 0x04) == 0);
  auto& ub = b.lu->unit_attentions();
  // The new copy knows nexus 1 (no POWER ON, RESET for it), with its pending condition.
  auto u1 = ub.next(b.nexus->key(), true);
  REQUIRE(u1);
  CHECK(*u1 == scsi::sense::capacity_data_has_changed);
  CHECK_FALSE(ub.next(b.nexus->key(), true));
  auto u2 = ub.next(b.nexus2->key(), true);
  REQUIRE(u2);
  CHECK(*u2 == scsi::sense::power_on_reset);
  // A nexus neither copy has seen still starts with POWER ON, RESET.
  auto u3 = ub.next("iqn.init:c|some port", true);
  REQUIRE(u3);
  CHECK(*u3 == scsi::sense::power_on_reset);
}

TEST_CASE("handover state: mode pages that do not fit change nothing", "[sbd][mode][alua]") {
  Lu a;
  HandoverState hs;
  hs.mode_pages = {0x0a, 0x0a, 0x00, 0x10, 0x00, 0x00, 0, 0, 0xff, 0xff, 0, 0};
  hs.mode_pages[3] = 0x20;  // QAM 2h: not changeable
  hs.unit_attentions["x"] = {scsi::sense::mode_parameters_changed};
  CHECK_FALSE(a.lu->restore_handover_state(hs));
  CHECK_FALSE(a.lu->descriptor_sense());
  hs.mode_pages = {0x0a, 0x0a};  // truncated page
  CHECK_FALSE(a.lu->restore_handover_state(hs));
  // Unit attentions were left alone: "x" was never seen, so it gets POWER ON, RESET.
  CHECK(*a.lu->unit_attentions().next("x", true) == scsi::sense::power_on_reset);
}

TEST_CASE("a standby LU does not invent POWER ON, RESET for a nexus it has not seen", "[sbd][alua]") {
  Lu active, standby;
  standby.lu->set_standby(true);
  // A condition raised for a new nexus (e.g. REPORTED LUNS DATA HAS CHANGED when its LUN
  // inventory changes): the standby copy queues just that; the active copy reports POWER ON,
  // RESET first, as a nexus's first condition.
  for (Lu* l : {&active, &standby}) l->lu->unit_attentions().raise(l->nexus->key(), scsi::sense::reported_luns_data_has_changed);
  CHECK(*active.lu->unit_attentions().next(active.nexus->key(), true) == scsi::sense::power_on_reset);
  CHECK(*standby.lu->unit_attentions().next(standby.nexus->key(), true) == scsi::sense::reported_luns_data_has_changed);
  CHECK_FALSE(standby.lu->unit_attentions().next(standby.nexus->key(), true));
  CHECK_FALSE(standby.lu->unit_attentions().next(standby.nexus2->key(), true));
}
