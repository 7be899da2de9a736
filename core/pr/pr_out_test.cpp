// PERSISTENT RESERVE OUT: every service action, success and error paths.
#include "core/pr/pr_test_util.h"

using namespace stmf;
using namespace stmf::pr;
using namespace stmf::pr::test;
namespace sn = stmf::scsi::sense;

namespace {
const char* k2A03 = "2a/03";
const char* k2A04 = "2a/04";
const char* k2A05 = "2a/05";

// a=0xA, b=0xB, c=0xC registered on port 1.
Lu three() {
  Lu l;
  REQUIRE(is_good(l.reg(a, 0xA)));
  REQUIRE(is_good(l.reg(b, 0xB)));
  REQUIRE(is_good(l.reg(c, 0xC)));
  return l;
}
Registration reg_of(const Nexus& n, uint64_t key, bool all = false) {
  return Registration{n.initiator_name, n.isid, n.target_port, n.rtpi, all, key};
}
}  // namespace

// ---------------------------------------------------------------- REGISTER

TEST_CASE("REGISTER from an unregistered nexus", "[pr][register]") {
  Lu l;
  SECTION("key 0, SA key 0: GOOD, nothing registered, generation still counts") {
    auto r = l.reg(a, 0);
    CHECK(is_good(r));
    CHECK(l.st().registrations.empty());
    CHECK(l.st().generation == 1);
    CHECK(r.effects.unit_attentions.empty());
  }
  SECTION("non-zero SA key registers the I_T nexus") {
    auto r = l.reg(a, 0x1122334455667788ull);
    REQUIRE(is_good(r));
    REQUIRE(l.st().registrations.size() == 1);
    CHECK(l.st().registrations[0] == reg_of(a, 0x1122334455667788ull));
    CHECK(l.st().generation == 1);
    CHECK_FALSE(l.st().reservation);
    CHECK(r.effects.state_changed);
    CHECK_FALSE(r.effects.persist);
    CHECK(r.effects.unit_attentions.empty());
    CHECK(r.effects.audit.find("REGISTER key 0x1122334455667788") != std::string::npos);
    CHECK(r.effects.audit.find("gen 1") != std::string::npos);
  }
  SECTION("non-zero RESERVATION KEY: RESERVATION CONFLICT, nothing changes") {
    auto r = l.out(a, pr_out::kRegister, 5, 6);
    CHECK(is_conflict(r));
    CHECK(l.st() == PrState{});
    CHECK_FALSE(r.effects.state_changed);
  }
  SECTION("the same initiator through another session or port is a different nexus") {
    REQUIRE(is_good(l.reg(a, 1)));
    CHECK(is_good(l.reg(a_isid2, 2)));
    CHECK(is_good(l.reg(a2, 3)));
    CHECK(keys(l.st()) == std::vector<uint64_t>{1, 2, 3});
  }
  SECTION("keys may be shared") {
    REQUIRE(is_good(l.reg(a, 7)));
    REQUIRE(is_good(l.reg(b, 7)));
    CHECK(keys(l.st()) == std::vector<uint64_t>{7, 7});
  }
}

TEST_CASE("REGISTER from a registered nexus", "[pr][register]") {
  Lu l;
  REQUIRE(is_good(l.reg(a, 0xA)));
  SECTION("wrong RESERVATION KEY conflicts") {
    CHECK(is_conflict(l.out(a, pr_out::kRegister, 0xB, 0xC)));
    CHECK(is_conflict(l.out(a, pr_out::kRegister, 0, 0xC)));
    CHECK(keys(l.st()) == std::vector<uint64_t>{0xA});
    CHECK(l.st().generation == 1);
  }
  SECTION("non-zero SA key changes the key") {
    auto r = l.out(a, pr_out::kRegister, 0xA, 0xAA);
    CHECK(is_good(r));
    CHECK(keys(l.st()) == std::vector<uint64_t>{0xAA});
    CHECK(l.st().generation == 2);
  }
  SECTION("SA key 0 unregisters") {
    auto r = l.out(a, pr_out::kRegister, 0xA, 0);
    CHECK(is_good(r));
    CHECK(l.st().registrations.empty());
    CHECK(l.st().generation == 2);
    CHECK(r.effects.audit.find("unregister") != std::string::npos);
  }
  SECTION("SPEC_I_PT from a registered nexus: INVALID FIELD IN PARAMETER LIST") {
    auto p = basic(0xA, 0xAB, SPEC_I_PT, {PrEngine::iscsi_transport_id(kB, kIsid1)});
    auto r = l.out_params(a, pr_out::kRegister, p);
    REQUIRE(has_sense(r, sn::invalid_field_in_parameter_list));
    CHECK(*r.sense == sn::invalid_field_in_parameter_list.with_field(false, 20, 3));
    CHECK(keys(l.st()) == std::vector<uint64_t>{0xA});
  }
  SECTION("registering leaves the reservation alone") {
    REQUIRE(is_good(l.resv(a, 0xA, kWriteExclusive)));
    REQUIRE(is_good(l.out(a, pr_out::kRegister, 0xA, 0xAB)));
    REQUIRE(l.st().reservation);
    CHECK(*l.st().reservation == Reservation{0, kWriteExclusive, 0});
  }
}

TEST_CASE("REGISTER AND IGNORE EXISTING KEY", "[pr][register]") {
  Lu l;
  SECTION("unregistered: RESERVATION KEY ignored, registers") {
    CHECK(is_good(l.out(a, pr_out::kRegisterAndIgnoreExistingKey, 0xdead, 0x5)));
    CHECK(keys(l.st()) == std::vector<uint64_t>{5});
  }
  SECTION("unregistered, SA key 0: GOOD no-op") {
    CHECK(is_good(l.out(a, pr_out::kRegisterAndIgnoreExistingKey, 0xdead, 0)));
    CHECK(l.st().registrations.empty());
    CHECK(l.st().generation == 1);
  }
  SECTION("registered: replaces the key whatever RESERVATION KEY says") {
    REQUIRE(is_good(l.reg(a, 1)));
    CHECK(is_good(l.out(a, pr_out::kRegisterAndIgnoreExistingKey, 0x999, 2)));
    CHECK(keys(l.st()) == std::vector<uint64_t>{2});
    CHECK(l.st().generation == 2);
  }
  SECTION("registered, SA key 0: unregisters") {
    REQUIRE(is_good(l.reg(a, 1)));
    CHECK(is_good(l.out(a, pr_out::kRegisterAndIgnoreExistingKey, 0x999, 0)));
    CHECK(l.st().registrations.empty());
  }
  SECTION("SPEC_I_PT is only for REGISTER") {
    auto p = basic(0, 5, SPEC_I_PT, {PrEngine::iscsi_transport_id(kB, kIsid1)});
    auto r = l.out_params(a, pr_out::kRegisterAndIgnoreExistingKey, p);
    REQUIRE(r.sense);
    CHECK(*r.sense == sn::invalid_field_in_parameter_list.with_field(false, 20, 3));
    CHECK(l.st().registrations.empty());
  }
  SECTION("ALL_TG_PT honoured") {
    REQUIRE(is_good(l.out(a, pr_out::kRegisterAndIgnoreExistingKey, 0, 5, 0, ALL_TG_PT)));
    CHECK(l.st().registrations[0].all_tg_pt);
    CHECK(l.e.registration_of(a2) == 0u);
  }
}

TEST_CASE("APTPL bit and the persist effect", "[pr][register][aptpl]") {
  Lu l;
  auto r = l.reg(a, 1, APTPL);
  CHECK(l.st().aptpl);
  CHECK(r.effects.persist);
  r = l.resv(a, 1, kWriteExclusive);  // state changed, APTPL on: persist
  CHECK(r.effects.state_changed);
  CHECK(r.effects.persist);
  r = l.resv(a, 1, kWriteExclusive);  // no-op: nothing to persist
  CHECK_FALSE(r.effects.state_changed);
  CHECK_FALSE(r.effects.persist);
  r = l.out(a, pr_out::kRegister, 1, 2);  // APTPL 1 -> 0: persist (erase)
  CHECK_FALSE(l.st().aptpl);
  CHECK(r.effects.persist);
  r = l.out(a, pr_out::kRegister, 2, 3);  // APTPL stays 0
  CHECK(r.effects.state_changed);
  CHECK_FALSE(r.effects.persist);
  // APTPL is ignored by the other service actions.
  r = l.out(a, pr_out::kRelease, 3, 0, kWriteExclusive, APTPL);
  CHECK(is_good(r));
  CHECK_FALSE(l.st().aptpl);
}

TEST_CASE("registration capacity: INSUFFICIENT REGISTRATION RESOURCES", "[pr][register]") {
  Lu l({}, 2);
  REQUIRE(is_good(l.reg(a, 1)));
  REQUIRE(is_good(l.reg(b, 2)));
  auto before = l.st();
  auto r = l.reg(c, 3);
  CHECK(has_sense(r, sn::insufficient_registration_resources));
  CHECK(l.st() == before);
  // Changing a key needs no new room.
  CHECK(is_good(l.out(a, pr_out::kRegister, 1, 9)));
}

TEST_CASE("parameter list length and CDB checks", "[pr][plist]") {
  Lu l;
  REQUIRE(is_good(l.reg(a, 1)));
  SECTION("shorter than 24 bytes") {
    std::vector<uint8_t> p(23, 0);
    CHECK(has_sense(l.out_raw(a, out_cdb(pr_out::kRegister, 0, 23), p), sn::parameter_list_length_error));
    CHECK(has_sense(l.out_raw(a, out_cdb(pr_out::kRegisterAndMove, 0, 23), p), sn::parameter_list_length_error));
    CHECK(has_sense(l.out_raw(a, out_cdb(pr_out::kClear, 0, 0), {}), sn::parameter_list_length_error));
  }
  SECTION("not 24 without SPEC_I_PT") {
    auto p = basic(1, 0);
    p.resize(28);
    for (uint8_t s : {pr_out::kRegister, pr_out::kReserve, pr_out::kRelease, pr_out::kClear, pr_out::kPreempt,
                      pr_out::kRegisterAndIgnoreExistingKey})
      CHECK(has_sense(l.out_raw(a, out_cdb(s, kWriteExclusive, 28), p), sn::parameter_list_length_error));
  }
  SECTION("data shorter than the PARAMETER LIST LENGTH: the transport's fault, INVALID FIELD IN INFORMATION UNIT") {
    auto p = basic(1, 2);
    CHECK(has_sense(l.out_raw(a, out_cdb(pr_out::kRegister, 0, 32), p), sn::invalid_field_in_command_iu));
  }
  SECTION("SPEC_I_PT with another service action") {
    for (uint8_t s : {pr_out::kReserve, pr_out::kRelease, pr_out::kClear, pr_out::kPreempt,
                      pr_out::kPreemptAndAbort, pr_out::kReplaceLostReservation}) {
      auto p = basic(1, 2, SPEC_I_PT);
      auto r = l.out_raw(a, out_cdb(s, kWriteExclusive, uint32_t(p.size())), p);
      REQUIRE(r.sense);
      CHECK(*r.sense == sn::invalid_field_in_parameter_list.with_field(false, 20, 3));
    }
  }
  SECTION("unknown service actions") {
    for (uint8_t s : {0x09, 0x10, 0x1f}) {
      auto p = basic(1, 2);
      auto r = l.out_raw(a, out_cdb(s, 0, 24), p);
      REQUIRE(r.sense);
      CHECK(*r.sense == sn::invalid_field_in_cdb.with_field(true, 1, 4));
    }
  }
  CHECK(keys(l.st()) == std::vector<uint64_t>{1});
  CHECK(l.st().generation == 1);
}

// ---------------------------------------------------------------- SPEC_I_PT / ALL_TG_PT

TEST_CASE("SPEC_I_PT registers every TransportID, formats 00b and 01b", "[pr][spec_i_pt]") {
  Lu l;
  auto p = basic(0, 0x77, SPEC_I_PT,
                 {PrEngine::iscsi_transport_id(kB, kIsid2), PrEngine::iscsi_transport_id(kC, "")});
  auto r = l.out_params(a, pr_out::kRegister, p);
  REQUIRE(is_good(r));
  REQUIRE(l.st().registrations.size() == 3);
  CHECK(l.st().registrations[0] == reg_of(a, 0x77));
  CHECK(l.st().registrations[1] == Registration{kB, kIsid2, kP1.name, 1, false, 0x77});
  CHECK(l.st().registrations[2] == Registration{kC, "", kP1.name, 1, false, 0x77});
  CHECK(l.st().generation == 1);
  // 00b: every session of that initiator through port 1, none through port 2.
  CHECK(l.e.registration_of(nx(kC, kP1, "0123456789ab")) == 2u);
  CHECK(l.e.registration_of(c) == 2u);
  CHECK_FALSE(l.e.registration_of(nx(kC, kP2)));
  // 01b: only that ISID.
  CHECK(l.e.registration_of(nx(kB, kP1, kIsid2)) == 1u);
  CHECK_FALSE(l.e.registration_of(b));
}

TEST_CASE("SPEC_I_PT with ALL_TG_PT registers on every target port", "[pr][spec_i_pt][all_tg_pt]") {
  Lu l;
  auto p = basic(0, 0x77, SPEC_I_PT | ALL_TG_PT, {PrEngine::iscsi_transport_id(kB, kIsid1)});
  REQUIRE(is_good(l.out_params(a, pr_out::kRegister, p)));
  CHECK(l.e.registration_of(a2) == 0u);
  CHECK(l.e.registration_of(b2) == 1u);
  CHECK(l.e.registration_of(b) == 1u);
}

TEST_CASE("SPEC_I_PT is all-or-nothing", "[pr][spec_i_pt]") {
  Lu l;
  REQUIRE(is_good(l.reg(c, 0xC)));
  const auto before = l.st();
  auto tb = PrEngine::iscsi_transport_id(kB, kIsid1);
  auto tc = PrEngine::iscsi_transport_id(kC, kIsid1);
  SECTION("a TransportID that is already registered") {
    auto p = basic(0, 5, SPEC_I_PT, {tb, tc});
    auto r = l.out_params(a, pr_out::kRegister, p);
    REQUIRE(r.sense);
    CHECK(*r.sense == sn::invalid_field_in_parameter_list.with_field(false, uint16_t(28 + tb.size())));
  }
  SECTION("an 00b TransportID covering a registered session") {
    auto p = basic(0, 5, SPEC_I_PT, {PrEngine::iscsi_transport_id(kC, "")});
    CHECK(has_sense(l.out_params(a, pr_out::kRegister, p), sn::invalid_field_in_parameter_list));
  }
  SECTION("the same TransportID twice") {
    auto p = basic(0, 5, SPEC_I_PT, {tb, tb});
    CHECK(has_sense(l.out_params(a, pr_out::kRegister, p), sn::invalid_field_in_parameter_list));
  }
  SECTION("a TransportID naming the issuer") {
    auto p = basic(0, 5, SPEC_I_PT, {PrEngine::iscsi_transport_id(kA, kIsid1)});
    CHECK(has_sense(l.out_params(a, pr_out::kRegister, p), sn::invalid_field_in_parameter_list));
  }
  SECTION("a malformed TransportID (FC protocol identifier)") {
    auto bad = tb;
    bad[0] = 0x40;  // 01b, protocol 0 (FC)
    auto p = basic(0, 5, SPEC_I_PT, {tb, bad});
    auto r = l.out_params(a, pr_out::kRegister, p);
    REQUIRE(r.sense);
    CHECK(*r.sense == sn::invalid_field_in_parameter_list.with_field(false, uint16_t(28 + tb.size())));
  }
  SECTION("a TransportID truncated by TRANSPORTID PARAMETER DATA LENGTH") {
    auto p = basic(0, 5, SPEC_I_PT, {tb});
    p.resize(p.size() - 4);
    put32(p, 24, uint32_t(tb.size() - 4));
    CHECK(has_sense(l.out_params(a, pr_out::kRegister, p), sn::parameter_list_length_error));
  }
  SECTION("TRANSPORTID PARAMETER DATA LENGTH beyond the parameter list") {
    auto p = basic(0, 5, SPEC_I_PT, {tb});
    put32(p, 24, uint32_t(tb.size() + 4));
    CHECK(has_sense(l.out_params(a, pr_out::kRegister, p), sn::parameter_list_length_error));
  }
  SECTION("TRANSPORTID PARAMETER DATA LENGTH short of the parameter list") {
    auto p = basic(0, 5, SPEC_I_PT, {tb});
    put32(p, 24, uint32_t(tb.size() - 8));
    CHECK(has_sense(l.out_params(a, pr_out::kRegister, p), sn::parameter_list_length_error));
  }
  SECTION("SPEC_I_PT with a 24-byte list") {
    auto p = basic(0, 5);
    p[20] = SPEC_I_PT;
    CHECK(has_sense(l.out_params(a, pr_out::kRegister, p), sn::parameter_list_length_error));
  }
  SECTION("not enough room for all of them") {
    Lu small({}, 2);
    auto p = basic(0, 5, SPEC_I_PT, {tb, tc});
    CHECK(has_sense(small.out_params(a, pr_out::kRegister, p), sn::insufficient_registration_resources));
    CHECK(small.st() == PrState{});
  }
  CHECK(l.st() == before);
}

TEST_CASE("SPEC_I_PT with an empty TransportID list registers the issuer", "[pr][spec_i_pt]") {
  Lu l;
  auto p = basic(0, 5, SPEC_I_PT, {});
  REQUIRE(p.size() == 28);
  CHECK(is_good(l.out_params(a, pr_out::kRegister, p)));
  CHECK(keys(l.st()) == std::vector<uint64_t>{5});
}

TEST_CASE("ALL_TG_PT registration covers the initiator port on every target port", "[pr][all_tg_pt]") {
  Lu l;
  REQUIRE(is_good(l.reg(a, 0xA, ALL_TG_PT)));
  REQUIRE(l.st().registrations.size() == 1);
  CHECK(l.st().registrations[0] == reg_of(a, 0xA, true));
  CHECK(l.e.registration_of(a) == 0u);
  CHECK(l.e.registration_of(a2) == 0u);
  CHECK_FALSE(l.e.registration_of(a_isid2));
  SECTION("registering again through the other port: it is already registered") {
    CHECK(is_conflict(l.reg(a2, 0xA2)));  // RESERVATION KEY 0 does not match
  }
  SECTION("reserve through port 2, both ports hold") {
    REQUIRE(is_good(l.resv(a2, 0xA, kExclusiveAccess)));
    CHECK(l.e.is_holder(a));
    CHECK(l.e.is_holder(a2));
  }
  SECTION("unregistering through port 2 removes it everywhere") {
    REQUIRE(is_good(l.out(a2, pr_out::kRegister, 0xA, 0)));
    CHECK(l.st().registrations.empty());
  }
}

TEST_CASE("ALL_TG_PT while registered through another port is refused", "[pr][all_tg_pt]") {
  Lu l;
  REQUIRE(is_good(l.reg(a2, 0xA2)));
  auto r = l.reg(a, 0xA, ALL_TG_PT);
  REQUIRE(r.sense);
  CHECK(*r.sense == sn::invalid_field_in_parameter_list.with_field(false, 20, 2));
  CHECK(keys(l.st()) == std::vector<uint64_t>{0xA2});
  // Without ALL_TG_PT it is a separate I_T nexus.
  CHECK(is_good(l.reg(a, 0xA)));
}

// ---------------------------------------------------------------- RESERVE

TEST_CASE("RESERVE creates each of the six types", "[pr][reserve]") {
  for (uint8_t t : {kWriteExclusive, kExclusiveAccess, kWriteExclusiveRegistrantsOnly, kExclusiveAccessRegistrantsOnly,
                    kWriteExclusiveAllRegistrants, kExclusiveAccessAllRegistrants}) {
    CAPTURE(t);
    Lu l = three();
    auto r = l.resv(b, 0xB, t);
    REQUIRE(is_good(r));
    REQUIRE(l.st().reservation);
    const size_t holder = is_all_registrants(t) ? 0 : 1;
    CHECK(*l.st().reservation == Reservation{holder, t, 0});
    CHECK(l.st().generation == 3);  // RESERVE does not count
    CHECK(r.effects.state_changed);
    CHECK(r.effects.unit_attentions.empty());
    CHECK(l.e.is_holder(b));
    CHECK(l.e.is_holder(a) == is_all_registrants(t));
    CHECK_FALSE(l.e.is_holder(d));
  }
}

TEST_CASE("RESERVE errors", "[pr][reserve]") {
  Lu l = three();
  SECTION("unregistered nexus") { CHECK(is_conflict(l.resv(d, 0, kWriteExclusive))); }
  SECTION("wrong key") { CHECK(is_conflict(l.resv(a, 0xB, kWriteExclusive))); }
  SECTION("obsolete and unknown types") {
    for (uint8_t t : {0, 2, 4, 9, 0xf}) {
      auto r = l.resv(a, 0xA, t);
      REQUIRE(r.sense);
      CHECK(*r.sense == sn::invalid_field_in_cdb.with_field(true, 2, 3));
    }
  }
  SECTION("scope other than LU_SCOPE") {
    auto r = l.out(a, pr_out::kReserve, 0xA, 0, kWriteExclusive, 0, 1);
    REQUIRE(r.sense);
    CHECK(*r.sense == sn::invalid_field_in_cdb.with_field(true, 2, 7));
  }
  CHECK_FALSE(l.st().reservation);
}

TEST_CASE("RESERVE while a reservation exists", "[pr][reserve]") {
  Lu l = three();
  REQUIRE(is_good(l.resv(a, 0xA, kWriteExclusiveRegistrantsOnly)));
  const auto before = l.st();
  SECTION("holder, same type and scope: GOOD, nothing changes") {
    auto r = l.resv(a, 0xA, kWriteExclusiveRegistrantsOnly);
    CHECK(is_good(r));
    CHECK_FALSE(r.effects.state_changed);
  }
  SECTION("holder changing the type") { CHECK(is_conflict(l.resv(a, 0xA, kExclusiveAccess))); }
  SECTION("another registrant") { CHECK(is_conflict(l.resv(b, 0xB, kWriteExclusiveRegistrantsOnly))); }
  CHECK(l.st() == before);
}

TEST_CASE("RESERVE under an all-registrants reservation", "[pr][reserve]") {
  Lu l = three();
  REQUIRE(is_good(l.resv(a, 0xA, kExclusiveAccessAllRegistrants)));
  CHECK(is_good(l.resv(c, 0xC, kExclusiveAccessAllRegistrants)));  // c is a holder too
  CHECK(is_conflict(l.resv(c, 0xC, kWriteExclusiveAllRegistrants)));
  CHECK(*l.st().reservation == Reservation{0, kExclusiveAccessAllRegistrants, 0});
}

// ---------------------------------------------------------------- RELEASE

TEST_CASE("RELEASE", "[pr][release]") {
  Lu l = three();
  SECTION("no reservation: GOOD, nothing changes") {
    auto r = l.out(a, pr_out::kRelease, 0xA, 0, kWriteExclusive);
    CHECK(is_good(r));
    CHECK_FALSE(r.effects.state_changed);
  }
  SECTION("unregistered nexus or wrong key: conflict") {
    REQUIRE(is_good(l.resv(a, 0xA, kWriteExclusive)));
    CHECK(is_conflict(l.out(d, pr_out::kRelease, 0, 0, kWriteExclusive)));
    CHECK(is_conflict(l.out(a, pr_out::kRelease, 0xB, 0, kWriteExclusive)));
    CHECK(l.st().reservation);
  }
  SECTION("registered non-holder: GOOD, nothing released") {
    REQUIRE(is_good(l.resv(a, 0xA, kWriteExclusive)));
    auto r = l.out(b, pr_out::kRelease, 0xB, 0, kWriteExclusive);
    CHECK(is_good(r));
    CHECK_FALSE(r.effects.state_changed);
    CHECK(l.st().reservation);
  }
  SECTION("holder with another TYPE or SCOPE: INVALID RELEASE OF PERSISTENT RESERVATION") {
    REQUIRE(is_good(l.resv(a, 0xA, kWriteExclusive)));
    auto r = l.out(a, pr_out::kRelease, 0xA, 0, kExclusiveAccess);
    CHECK(has_sense(r, sn::invalid_release_of_persistent_reservation));
    CHECK(r.sense->asc == 0x26);
    CHECK(r.sense->ascq == 0x04);
    CHECK(has_sense(l.out(a, pr_out::kRelease, 0xA, 0, kWriteExclusive, 0, 2),
                    sn::invalid_release_of_persistent_reservation));
    CHECK(has_sense(l.out(a, pr_out::kRelease, 0xA, 0, 0), sn::invalid_release_of_persistent_reservation));
    CHECK(l.st().reservation);
  }
  SECTION("WE / EA release: no unit attention, registrations kept") {
    for (uint8_t t : {kWriteExclusive, kExclusiveAccess}) {
      REQUIRE(is_good(l.resv(a, 0xA, t)));
      auto r = l.out(a, pr_out::kRelease, 0xA, 0, t);
      CHECK(is_good(r));
      CHECK_FALSE(l.st().reservation);
      CHECK(r.effects.unit_attentions.empty());
      CHECK(keys(l.st()) == std::vector<uint64_t>{0xA, 0xB, 0xC});
      CHECK(l.st().generation == 3);
    }
  }
  SECTION("registrants-only / all-registrants release: RESERVATIONS RELEASED to the others") {
    for (uint8_t t : {kWriteExclusiveRegistrantsOnly, kExclusiveAccessRegistrantsOnly, kWriteExclusiveAllRegistrants,
                      kExclusiveAccessAllRegistrants}) {
      CAPTURE(t);
      REQUIRE(is_good(l.resv(a, 0xA, t)));
      auto r = l.out(a, pr_out::kRelease, 0xA, 0, t);
      CHECK(is_good(r));
      CHECK_FALSE(l.st().reservation);
      CHECK(uas(r) == std::vector<std::string>{ua_line(b, k2A04), ua_line(c, k2A04)});
    }
  }
  SECTION("any registrant releases an all-registrants reservation") {
    REQUIRE(is_good(l.resv(a, 0xA, kWriteExclusiveAllRegistrants)));
    auto r = l.out(c, pr_out::kRelease, 0xC, 0, kWriteExclusiveAllRegistrants);
    CHECK(is_good(r));
    CHECK_FALSE(l.st().reservation);
    CHECK(uas(r) == std::vector<std::string>{ua_line(a, k2A04), ua_line(b, k2A04)});
  }
}

// ---------------------------------------------------------------- unregistering

TEST_CASE("unregistering and the reservation", "[pr][register][unregister]") {
  Lu l = three();
  SECTION("WE holder unregisters: released, no unit attention") {
    REQUIRE(is_good(l.resv(a, 0xA, kWriteExclusive)));
    auto r = l.out(a, pr_out::kRegister, 0xA, 0);
    CHECK_FALSE(l.st().reservation);
    CHECK(r.effects.unit_attentions.empty());
  }
  SECTION("registrants-only holder unregisters: RESERVATIONS RELEASED to the remaining registrants") {
    REQUIRE(is_good(l.resv(a, 0xA, kExclusiveAccessRegistrantsOnly)));
    auto r = l.out(a, pr_out::kRegister, 0xA, 0);
    CHECK_FALSE(l.st().reservation);
    CHECK(uas(r) == std::vector<std::string>{ua_line(b, k2A04), ua_line(c, k2A04)});
  }
  SECTION("a non-holder unregisters: reservation kept, holder index follows") {
    REQUIRE(is_good(l.resv(c, 0xC, kWriteExclusiveRegistrantsOnly)));
    auto r = l.out(a, pr_out::kRegister, 0xA, 0);
    CHECK(r.effects.unit_attentions.empty());
    REQUIRE(l.st().reservation);
    CHECK(l.st().reservation->holder == 1);
    CHECK(l.e.is_holder(c));
    auto rr = l.in(b, pr_in::kReadReservation);
    CHECK(get64(rr.data_in, 8) == 0xC);
  }
  SECTION("all-registrants: kept until the last registrant leaves") {
    REQUIRE(is_good(l.resv(b, 0xB, kWriteExclusiveAllRegistrants)));
    CHECK(is_good(l.out(b, pr_out::kRegister, 0xB, 0)));
    CHECK(l.st().reservation);
    CHECK(is_good(l.out(a, pr_out::kRegisterAndIgnoreExistingKey, 0, 0)));
    CHECK(l.st().reservation);
    auto r = l.out(c, pr_out::kRegister, 0xC, 0);
    CHECK(is_good(r));
    CHECK_FALSE(l.st().reservation);
    CHECK(r.effects.unit_attentions.empty());
  }
}

// ---------------------------------------------------------------- CLEAR

TEST_CASE("CLEAR", "[pr][clear]") {
  Lu l = three();
  REQUIRE(is_good(l.resv(b, 0xB, kWriteExclusive)));
  SECTION("removes everything, RESERVATIONS PREEMPTED to every other registrant") {
    auto r = l.out(a, pr_out::kClear, 0xA, 0, 0xf, 0, 3);  // TYPE and SCOPE ignored
    REQUIRE(is_good(r));
    CHECK(l.st().registrations.empty());
    CHECK_FALSE(l.st().reservation);
    CHECK(l.st().generation == 4);
    CHECK(uas(r) == std::vector<std::string>{ua_line(b, k2A03), ua_line(c, k2A03)});
    CHECK(r.effects.audit.find("CLEAR") == 0);
  }
  SECTION("unregistered or wrong key: conflict, nothing changes") {
    const auto before = l.st();
    CHECK(is_conflict(l.out(d, pr_out::kClear, 0, 0)));
    CHECK(is_conflict(l.out(a, pr_out::kClear, 0xB, 0)));
    CHECK(l.st() == before);
  }
}

// ---------------------------------------------------------------- PREEMPT

TEST_CASE("PREEMPT without a reservation removes registrations", "[pr][preempt]") {
  Lu l = three();
  SECTION("SA key of another registrant") {
    auto r = l.out(a, pr_out::kPreempt, 0xA, 0xB, 0);  // TYPE ignored
    REQUIRE(is_good(r));
    CHECK(keys(l.st()) == std::vector<uint64_t>{0xA, 0xC});
    CHECK_FALSE(l.st().reservation);
    CHECK(l.st().generation == 4);
    CHECK(uas(r) == std::vector<std::string>{ua_line(b, k2A05)});
    CHECK(r.effects.abort_tasks_of.empty());
  }
  SECTION("SA key 0: INVALID FIELD IN PARAMETER LIST") {
    auto r = l.out(a, pr_out::kPreempt, 0xA, 0, kWriteExclusive);
    REQUIRE(r.sense);
    CHECK(*r.sense == sn::invalid_field_in_parameter_list.with_field(false, 8));
  }
  SECTION("SA key matching nothing: conflict, generation unchanged") {
    CHECK(is_conflict(l.out(a, pr_out::kPreempt, 0xA, 0x99, kWriteExclusive)));
    CHECK(l.st().generation == 3);
  }
  SECTION("preempting its own key removes its own registration, no unit attention") {
    auto r = l.out(a, pr_out::kPreempt, 0xA, 0xA, kWriteExclusive);
    CHECK(is_good(r));
    CHECK(keys(l.st()) == std::vector<uint64_t>{0xB, 0xC});
    CHECK(r.effects.unit_attentions.empty());
  }
  SECTION("unregistered nexus or wrong key") {
    CHECK(is_conflict(l.out(d, pr_out::kPreempt, 0, 0xB, kWriteExclusive)));
    CHECK(is_conflict(l.out(a, pr_out::kPreempt, 0xC, 0xB, kWriteExclusive)));
  }
}

TEST_CASE("PREEMPT of the reservation holder", "[pr][preempt]") {
  Lu l = three();
  REQUIRE(is_good(l.resv(b, 0xB, kExclusiveAccess)));
  SECTION("same type: REGISTRATIONS PREEMPTED to the loser only") {
    auto r = l.out(a, pr_out::kPreempt, 0xA, 0xB, kExclusiveAccess);
    REQUIRE(is_good(r));
    CHECK(keys(l.st()) == std::vector<uint64_t>{0xA, 0xC});
    CHECK(*l.st().reservation == Reservation{0, kExclusiveAccess, 0});
    CHECK(l.e.is_holder(a));
    CHECK(uas(r) == std::vector<std::string>{ua_line(b, k2A05)});
    CHECK(l.st().generation == 4);
  }
  SECTION("type changed: RESERVATIONS RELEASED to the remaining registrants") {
    auto r = l.out(a, pr_out::kPreempt, 0xA, 0xB, kWriteExclusiveRegistrantsOnly);
    REQUIRE(is_good(r));
    CHECK(*l.st().reservation == Reservation{0, kWriteExclusiveRegistrantsOnly, 0});
    CHECK(uas(r) == std::vector<std::string>{ua_line(b, k2A05), ua_line(c, k2A04)});
  }
  SECTION("every registration sharing the holder's key goes") {
    REQUIRE(is_good(l.reg(d, 0xB)));
    auto r = l.out(c, pr_out::kPreempt, 0xC, 0xB, kExclusiveAccess);
    REQUIRE(is_good(r));
    CHECK(keys(l.st()) == std::vector<uint64_t>{0xA, 0xC});
    CHECK(l.st().reservation->holder == 1);
    CHECK(uas(r) == std::vector<std::string>{ua_line(b, k2A05), ua_line(d, k2A05)});
  }
  SECTION("SA key 0 without an all-registrants reservation") {
    CHECK(has_sense(l.out(a, pr_out::kPreempt, 0xA, 0, kExclusiveAccess), sn::invalid_field_in_parameter_list));
  }
  SECTION("invalid TYPE or SCOPE when a reservation is established") {
    auto r = l.out(a, pr_out::kPreempt, 0xA, 0xB, 2);
    REQUIRE(r.sense);
    CHECK(*r.sense == sn::invalid_field_in_cdb.with_field(true, 2, 3));
    r = l.out(a, pr_out::kPreempt, 0xA, 0xB, kExclusiveAccess, 0, 1);
    REQUIRE(r.sense);
    CHECK(*r.sense == sn::invalid_field_in_cdb.with_field(true, 2, 7));
    CHECK(keys(l.st()) == std::vector<uint64_t>{0xA, 0xB, 0xC});
  }
  SECTION("SA key of a non-holder: only registrations go, reservation stays") {
    auto r = l.out(a, pr_out::kPreempt, 0xA, 0xC, 0xf);  // TYPE ignored
    REQUIRE(is_good(r));
    CHECK(keys(l.st()) == std::vector<uint64_t>{0xA, 0xB});
    CHECK(*l.st().reservation == Reservation{1, kExclusiveAccess, 0});
    CHECK(uas(r) == std::vector<std::string>{ua_line(c, k2A05)});
  }
}

TEST_CASE("the holder preempts itself", "[pr][preempt]") {
  Lu l = three();
  REQUIRE(is_good(l.reg(d, 0xA)));  // shares a's key
  REQUIRE(is_good(l.resv(a, 0xA, kWriteExclusive)));
  auto r = l.out(a, pr_out::kPreempt, 0xA, 0xA, kExclusiveAccess);
  REQUIRE(is_good(r));
  CHECK(keys(l.st()) == std::vector<uint64_t>{0xA, 0xB, 0xC});
  CHECK(*l.st().reservation == Reservation{0, kExclusiveAccess, 0});
  CHECK(uas(r) == std::vector<std::string>{ua_line(b, k2A04), ua_line(c, k2A04), ua_line(d, k2A05)});
}

TEST_CASE("PREEMPT under an all-registrants reservation", "[pr][preempt]") {
  Lu l = three();
  REQUIRE(is_good(l.resv(b, 0xB, kExclusiveAccessAllRegistrants)));
  SECTION("SA key 0: everyone else removed, new reservation for the issuer") {
    auto r = l.out(c, pr_out::kPreempt, 0xC, 0, kWriteExclusive);
    REQUIRE(is_good(r));
    CHECK(keys(l.st()) == std::vector<uint64_t>{0xC});
    CHECK(*l.st().reservation == Reservation{0, kWriteExclusive, 0});
    CHECK(uas(r) == std::vector<std::string>{ua_line(a, k2A05), ua_line(b, k2A05)});
    CHECK(l.st().generation == 4);
  }
  SECTION("SA key 0, same type") {
    auto r = l.out(c, pr_out::kPreempt, 0xC, 0, kExclusiveAccessAllRegistrants);
    REQUIRE(is_good(r));
    CHECK(*l.st().reservation == Reservation{0, kExclusiveAccessAllRegistrants, 0});
    CHECK(l.e.is_holder(c));
  }
  SECTION("SA key 0 with an obsolete type") {
    CHECK(has_sense(l.out(c, pr_out::kPreempt, 0xC, 0, 4), sn::invalid_field_in_cdb));
    CHECK(keys(l.st()) == std::vector<uint64_t>{0xA, 0xB, 0xC});
  }
  SECTION("non-zero SA key: removes those registrations, the reservation stays") {
    auto r = l.out(c, pr_out::kPreempt, 0xC, 0xA, 0);
    REQUIRE(is_good(r));
    CHECK(keys(l.st()) == std::vector<uint64_t>{0xB, 0xC});
    CHECK(*l.st().reservation == Reservation{0, kExclusiveAccessAllRegistrants, 0});
    CHECK(uas(r) == std::vector<std::string>{ua_line(a, k2A05)});
  }
}

TEST_CASE("PREEMPT AND ABORT victims", "[pr][preempt][abort]") {
  Lu l = three();
  SECTION("holder preempted: every registration with the key") {
    REQUIRE(is_good(l.reg(d, 0xB)));
    REQUIRE(is_good(l.resv(b, 0xB, kWriteExclusive)));
    auto r = l.out(a, pr_out::kPreemptAndAbort, 0xA, 0xB, kWriteExclusive);
    REQUIRE(is_good(r));
    CHECK(r.effects.abort_tasks_of == std::vector<Registration>{reg_of(b, 0xB), reg_of(d, 0xB)});
    CHECK(uas(r) == std::vector<std::string>{ua_line(b, k2A05), ua_line(d, k2A05)});
    CHECK(l.e.is_holder(a));
    CHECK(l.st().generation == 5);
    CHECK(r.effects.audit.find("PREEMPT AND ABORT") == 0);
  }
  SECTION("registrations only") {
    auto r = l.out(a, pr_out::kPreemptAndAbort, 0xA, 0xC, 0);
    REQUIRE(is_good(r));
    CHECK(r.effects.abort_tasks_of == std::vector<Registration>{reg_of(c, 0xC)});
  }
  SECTION("all-registrants with SA key 0: every registered nexus, the issuer's included") {
    REQUIRE(is_good(l.resv(a, 0xA, kWriteExclusiveAllRegistrants)));
    auto r = l.out(b, pr_out::kPreemptAndAbort, 0xB, 0, kWriteExclusiveAllRegistrants);
    REQUIRE(is_good(r));
    CHECK(r.effects.abort_tasks_of ==
          std::vector<Registration>{reg_of(a, 0xA), reg_of(b, 0xB), reg_of(c, 0xC)});
    CHECK(keys(l.st()) == std::vector<uint64_t>{0xB});
  }
  SECTION("holder preempting itself aborts its own other tasks") {
    REQUIRE(is_good(l.resv(a, 0xA, kWriteExclusive)));
    auto r = l.out(a, pr_out::kPreemptAndAbort, 0xA, 0xA, kWriteExclusive);
    REQUIRE(is_good(r));
    CHECK(r.effects.abort_tasks_of == std::vector<Registration>{reg_of(a, 0xA)});
    CHECK(r.effects.unit_attentions.empty());
  }
  SECTION("a failed PREEMPT AND ABORT aborts nothing") {
    auto r = l.out(a, pr_out::kPreemptAndAbort, 0xA, 0x42, 0);
    CHECK(is_conflict(r));
    CHECK(r.effects.abort_tasks_of.empty());
  }
}

// ---------------------------------------------------------------- REGISTER AND MOVE

TEST_CASE("REGISTER AND MOVE", "[pr][move]") {
  Lu l = three();
  REQUIRE(is_good(l.resv(a, 0xA, kWriteExclusive)));
  auto tb2 = PrEngine::iscsi_transport_id(kB, kIsid1);
  SECTION("to a new I_T nexus on port 2") {
    auto r = l.out_params(a, pr_out::kRegisterAndMove, move_params(0xA, 0xB2, 2, tb2));
    REQUIRE(is_good(r));
    REQUIRE(l.st().registrations.size() == 4);
    CHECK(l.st().registrations[3] == reg_of(b2, 0xB2));
    CHECK(*l.st().reservation == Reservation{3, kWriteExclusive, 0});
    CHECK(l.e.is_holder(b2));
    CHECK_FALSE(l.e.is_holder(a));
    CHECK(l.e.registration_of(a) == 0u);  // UNREG=0 keeps the source
    CHECK(l.st().generation == 4);
    CHECK(r.effects.unit_attentions.empty());
  }
  SECTION("UNREG=1 and APTPL") {
    auto r = l.out_params(a, pr_out::kRegisterAndMove, move_params(0xA, 0xB2, 2, tb2, true, true));
    REQUIRE(is_good(r));
    CHECK(keys(l.st()) == std::vector<uint64_t>{0xB, 0xC, 0xB2});
    CHECK(*l.st().reservation == Reservation{2, kWriteExclusive, 0});
    CHECK(l.st().aptpl);
    CHECK(r.effects.persist);
  }
  SECTION("to an already registered nexus: its key is replaced") {
    auto r = l.out_params(a, pr_out::kRegisterAndMove, move_params(0xA, 0xBB, 1, tb2));
    REQUIRE(is_good(r));
    CHECK(keys(l.st()) == std::vector<uint64_t>{0xA, 0xBB, 0xC});
    CHECK(*l.st().reservation == Reservation{1, kWriteExclusive, 0});
  }
  SECTION("to another session of the same initiator") {
    auto r = l.out_params(a, pr_out::kRegisterAndMove,
                          move_params(0xA, 0xA2, 1, PrEngine::iscsi_transport_id(kA, kIsid2)));
    REQUIRE(is_good(r));
    CHECK(l.e.is_holder(a_isid2));
  }
  SECTION("error paths leave everything as it was") {
    const auto before = l.st();
    auto mv = [&](const Nexus& n, std::vector<uint8_t> p) { return l.out_params(n, pr_out::kRegisterAndMove, p); };
    CHECK(is_conflict(mv(d, move_params(0, 0xD, 2, tb2))));           // unregistered
    CHECK(is_conflict(mv(a, move_params(0xB, 0xD, 2, tb2))));         // wrong key
    CHECK(is_conflict(mv(b, move_params(0xB, 0xD, 2, tb2))));         // not the holder
    auto r = mv(a, move_params(0xA, 0, 2, tb2));                       // SA key 0
    REQUIRE(r.sense);
    CHECK(*r.sense == sn::invalid_field_in_parameter_list.with_field(false, 8));
    r = mv(a, move_params(0xA, 0xD, 7, tb2));  // unknown RTPI
    REQUIRE(r.sense);
    CHECK(*r.sense == sn::invalid_field_in_parameter_list.with_field(false, 18));
    CHECK(has_sense(mv(a, move_params(0xA, 0xD, 0, tb2)), sn::invalid_field_in_parameter_list));
    r = mv(a, move_params(0xA, 0xD, 2, PrEngine::iscsi_transport_id(kA, kIsid1)));  // own initiator port
    REQUIRE(r.sense);
    CHECK(*r.sense == sn::invalid_field_in_parameter_list.with_field(false, 24));
    CHECK(has_sense(mv(a, move_params(0xA, 0xD, 2, PrEngine::iscsi_transport_id(kA, ""))),
                    sn::invalid_field_in_parameter_list));
    auto bad = tb2;
    bad[0] = 0x86;  // format 10b
    CHECK(has_sense(mv(a, move_params(0xA, 0xD, 2, bad)), sn::invalid_field_in_parameter_list));
    auto p = move_params(0xA, 0xD, 2, tb2);
    put32(p, 20, uint32_t(tb2.size() + 4));  // TPDL beyond the list
    CHECK(has_sense(mv(a, p), sn::parameter_list_length_error));
    p = move_params(0xA, 0xD, 2, tb2);
    p.resize(p.size() - 4);
    put32(p, 20, uint32_t(tb2.size() - 4));  // truncates the TransportID
    CHECK(has_sense(mv(a, p), sn::parameter_list_length_error));
    CHECK(l.st() == before);
  }
  SECTION("no room for the destination") {
    Lu s({}, 1);
    REQUIRE(is_good(s.reg(a, 0xA)));
    REQUIRE(is_good(s.resv(a, 0xA, kWriteExclusive)));
    CHECK(has_sense(s.out_params(a, pr_out::kRegisterAndMove, move_params(0xA, 0xB, 2, tb2)),
                    sn::insufficient_registration_resources));
  }
}

TEST_CASE("REGISTER AND MOVE to a nexus the source registration already covers", "[pr][move]") {
  // a's sessions are registered through an 00b TransportID (any ISID of that name on port 1);
  // moving to another of those sessions would move the reservation onto itself.
  Lu l;
  auto p = basic(0, 0xB, SPEC_I_PT, {PrEngine::iscsi_transport_id(kA, "")});
  REQUIRE(is_good(l.out_params(b, pr_out::kRegister, p)));
  REQUIRE(is_good(l.resv(a, 0xB, kWriteExclusive)));
  const auto before = l.st();
  auto r = l.out_params(a, pr_out::kRegisterAndMove,
                        move_params(0xB, 0xA2, 1, PrEngine::iscsi_transport_id(kA, kIsid2)));
  REQUIRE(r.sense);
  CHECK(*r.sense == sn::invalid_field_in_parameter_list.with_field(false, 24));
  CHECK(l.st() == before);
  // Through port 2 it is a different I_T nexus: allowed.
  CHECK(is_good(l.out_params(a, pr_out::kRegisterAndMove,
                             move_params(0xB, 0xA2, 2, PrEngine::iscsi_transport_id(kA, kIsid2)))));
  CHECK(l.e.is_holder(nx(kA, kP2, kIsid2)));
}

TEST_CASE("REGISTER AND MOVE without a reservation or under all-registrants", "[pr][move]") {
  Lu l = three();
  auto tb2 = PrEngine::iscsi_transport_id(kB, kIsid1);
  auto r = l.out_params(a, pr_out::kRegisterAndMove, move_params(0xA, 0xB2, 2, tb2));
  CHECK(has_sense(r, sn::invalid_field_in_cdb));
  REQUIRE(is_good(l.resv(a, 0xA, kWriteExclusiveAllRegistrants)));
  CHECK(is_conflict(l.out_params(a, pr_out::kRegisterAndMove, move_params(0xA, 0xB2, 2, tb2))));
  CHECK(l.st().registrations.size() == 3);
}

// ---------------------------------------------------------------- REPLACE LOST RESERVATION

TEST_CASE("REPLACE LOST RESERVATION: information is never lost", "[pr][rlr]") {
  Lu l = three();
  REQUIRE(is_good(l.resv(a, 0xA, kWriteExclusive)));
  const auto before = l.st();
  auto r = l.out(a, pr_out::kReplaceLostReservation, 0, 0x55, kWriteExclusive);
  CHECK(has_sense(r, sn::invalid_release_of_persistent_reservation));
  CHECK(is_conflict(l.out(a, pr_out::kReplaceLostReservation, 0xA, 0x55, kWriteExclusive)));
  CHECK(has_sense(l.out(d, pr_out::kReplaceLostReservation, 0, 0x55, kWriteExclusive),
                  sn::invalid_release_of_persistent_reservation));
  CHECK(l.st() == before);
}

// ---------------------------------------------------------------- PRgeneration

TEST_CASE("PRgeneration counts REGISTER, RIEK, MOVE, CLEAR, PREEMPT, P&A only", "[pr][generation]") {
  Lu l;
  auto gen = [&] { return l.st().generation; };
  REQUIRE(is_good(l.reg(a, 0xA)));
  CHECK(gen() == 1);
  REQUIRE(is_good(l.out(b, pr_out::kRegisterAndIgnoreExistingKey, 0, 0xB)));
  CHECK(gen() == 2);
  REQUIRE(is_good(l.resv(a, 0xA, kWriteExclusive)));
  CHECK(gen() == 2);
  REQUIRE(is_good(l.in(a, pr_in::kReadKeys)));
  CHECK(gen() == 2);
  REQUIRE(is_conflict(l.reg(a, 0xA)));  // failed: not counted
  CHECK(gen() == 2);
  REQUIRE(is_good(l.out_params(a, pr_out::kRegisterAndMove,
                               move_params(0xA, 0xC, 2, PrEngine::iscsi_transport_id(kC, kIsid1)))));
  CHECK(gen() == 3);
  REQUIRE(is_good(l.out(b, pr_out::kPreempt, 0xB, 0xC, kWriteExclusive)));
  CHECK(gen() == 4);
  REQUIRE(is_good(l.out(b, pr_out::kRelease, 0xB, 0, kWriteExclusive)));
  CHECK(gen() == 4);
  REQUIRE(is_good(l.out(b, pr_out::kPreemptAndAbort, 0xB, 0xA, 0)));
  CHECK(gen() == 5);
  REQUIRE(is_good(l.out(b, pr_out::kClear, 0xB, 0)));
  CHECK(gen() == 6);
}

TEST_CASE("PRgeneration wraps at 32 bits", "[pr][generation]") {
  PrState s;
  s.generation = 0xffffffffu;
  Lu l(s);
  REQUIRE(is_good(l.reg(a, 1)));
  CHECK(l.st().generation == 0);
}

TEST_CASE("unit attentions reach the issuer's other I_T nexuses, never the issuer's own", "[pr][ua]") {
  Lu l;
  REQUIRE(is_good(l.reg(a, 0xA, ALL_TG_PT)));  // a through port 1 and port 2
  REQUIRE(is_good(l.reg(b, 0xB)));
  auto r = l.out(a, pr_out::kClear, 0xA, 0);
  REQUIRE(is_good(r));
  // The caller skips the issuing nexus (a on port 1); a on port 2 still gets it.
  REQUIRE(r.effects.unit_attentions.size() == 2);
  CHECK(r.effects.unit_attentions[0].who == Registration{kA, kIsid1, kP1.name, 1, true, 0xA});
  CHECK(r.effects.unit_attentions[0].code == sn::reservations_preempted);
  CHECK(r.effects.unit_attentions[1].who == Registration{kB, kIsid1, kP1.name, 1, false, 0xB});
  CHECK(PrEngine::matches(r.effects.unit_attentions[0].who, a2));
}
