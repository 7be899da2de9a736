// Persistent reservation engine: nexus matching, SCSI-2 RESERVE/RELEASE and their interplay
// with persistent reservations, state restore.
#include "core/pr/pr_test_util.h"

using namespace stmf;
using namespace stmf::pr;
using namespace stmf::pr::test;
namespace sn = stmf::scsi::sense;

namespace {
const std::array<uint8_t, 6> kReserve6{0x16, 0, 0, 0, 0, 0};
const std::array<uint8_t, 6> kRelease6{0x17, 0, 0, 0, 0, 0};
const std::array<uint8_t, 10> kReserve10{0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0};
const std::array<uint8_t, 10> kRelease10{0x57, 0, 0, 0, 0, 0, 0, 0, 0, 0};
}  // namespace

TEST_CASE("matches / overlaps", "[pr][match]") {
  const Registration exact{kA, kIsid1, kP1.name, 1, false, 1};
  CHECK(PrEngine::matches(exact, a));
  CHECK_FALSE(PrEngine::matches(exact, a2));
  CHECK_FALSE(PrEngine::matches(exact, a_isid2));
  CHECK_FALSE(PrEngine::matches(exact, b));
  const Registration all{kA, kIsid1, kP1.name, 1, true, 1};
  CHECK(PrEngine::matches(all, a));
  CHECK(PrEngine::matches(all, a2));
  CHECK_FALSE(PrEngine::matches(all, a_isid2));
  const Registration any_isid{kA, "", kP1.name, 1, false, 1};
  CHECK(PrEngine::matches(any_isid, a));
  CHECK(PrEngine::matches(any_isid, a_isid2));
  CHECK_FALSE(PrEngine::matches(any_isid, a2));
  const Registration any_anywhere{kA, "", kP2.name, 2, true, 1};
  for (const Nexus* n : {&a, &a2, &a_isid2}) CHECK(PrEngine::matches(any_anywhere, *n));
  CHECK_FALSE(PrEngine::matches(any_anywhere, b));

  CHECK(PrEngine::overlaps(exact, all));
  CHECK(PrEngine::overlaps(exact, any_isid));
  CHECK(PrEngine::overlaps(any_isid, any_anywhere));
  CHECK_FALSE(PrEngine::overlaps(exact, Registration{kA, kIsid2, kP1.name, 1, false, 1}));
  CHECK_FALSE(PrEngine::overlaps(exact, Registration{kA, kIsid1, kP2.name, 2, false, 1}));
  CHECK_FALSE(PrEngine::overlaps(exact, Registration{kB, kIsid1, kP1.name, 1, true, 1}));
}

TEST_CASE("SCSI-2 RESERVE/RELEASE without registrations", "[pr][scsi2]") {
  Lu l;
  auto r = l.e.reserve(a, kReserve6.data());
  REQUIRE(is_good(r));
  CHECK(l.e.scsi2_reserved_by(a));
  CHECK(l.e.scsi2_holder() == a);
  CHECK_FALSE(r.effects.state_changed);  // SCSI-2 reservations are not persistent state
  CHECK(r.effects.audit.find("RESERVE(6)") == 0);
  CHECK(is_good(l.e.reserve(a, kReserve10.data())));  // holder again: GOOD
  for (const Nexus* n : {&b, &a_isid2, &a2}) {
    CHECK(is_conflict(l.e.reserve(*n, kReserve6.data())));
    CHECK(is_good(l.e.release(*n, kRelease6.data())));  // not the holder: GOOD, no effect
    CHECK(l.e.scsi2_reserved_by(a));
    CHECK_FALSE(l.e.scsi2_reserved_by(*n));
  }
  // PR IN/OUT conflict for everybody while it exists.
  CHECK(is_conflict(l.reg(a, 1)));
  CHECK(is_conflict(l.reg(b, 1)));
  CHECK(is_conflict(l.in(a, pr_in::kReportCapabilities)));
  CHECK(l.st() == PrState{});
  REQUIRE(is_good(l.e.release(a, kRelease10.data())));
  CHECK_FALSE(l.e.scsi2_holder());
  CHECK(is_good(l.e.release(a, kRelease6.data())));  // nothing reserved: GOOD
  CHECK(is_good(l.e.reserve(b, kReserve10.data())));
  CHECK(l.e.scsi2_reserved_by(b));
}

TEST_CASE("SCSI-2 third-party and extent reservations are not supported", "[pr][scsi2]") {
  Lu l;
  for (auto cdb : {std::array<uint8_t, 10>{0x56, 0x10}, std::array<uint8_t, 10>{0x16, 0x10},
                   std::array<uint8_t, 10>{0x57, 0x10}}) {
    auto r = cdb[0] & 1 ? l.e.release(a, cdb.data()) : l.e.reserve(a, cdb.data());
    REQUIRE(r.sense);
    CHECK(*r.sense == sn::invalid_field_in_cdb.with_field(true, 1, 4));
  }
  std::array<uint8_t, 6> ext{0x16, 0x01};
  auto r = l.e.reserve(a, ext.data());
  REQUIRE(r.sense);
  CHECK(*r.sense == sn::invalid_field_in_cdb.with_field(true, 1, 0));
  CHECK_FALSE(l.e.scsi2_holder());
}

TEST_CASE("SCSI-2 reservation released on nexus loss and resets, PR state kept", "[pr][scsi2]") {
  Lu l;
  REQUIRE(is_good(l.e.reserve(a, kReserve6.data())));
  l.e.on_nexus_loss(b);
  l.e.on_nexus_loss(a2);
  l.e.on_nexus_loss(a_isid2);
  CHECK(l.e.scsi2_reserved_by(a));
  l.e.on_nexus_loss(a);
  CHECK_FALSE(l.e.scsi2_holder());
  REQUIRE(is_good(l.e.reserve(b, kReserve6.data())));
  l.e.on_reset();
  CHECK_FALSE(l.e.scsi2_holder());

  // Persistent state survives resets and nexus loss.
  REQUIRE(is_good(l.reg(a, 0xA)));
  REQUIRE(is_good(l.resv(a, 0xA, kExclusiveAccess)));
  const auto before = l.st();
  l.e.on_reset();
  l.e.on_nexus_loss(a);
  CHECK(l.st() == before);
}

TEST_CASE("SCSI-2 RESERVE/RELEASE while registrations exist (CRH=1)", "[pr][scsi2][crh]") {
  Lu l;
  REQUIRE(is_good(l.reg(a, 0xA)));
  REQUIRE(is_good(l.reg(b, 0xB)));
  SECTION("no persistent reservation: everybody conflicts") {
    for (const Nexus* n : {&a, &b, &c}) {
      CHECK(is_conflict(l.e.reserve(*n, kReserve6.data())));
      CHECK(is_conflict(l.e.release(*n, kRelease10.data())));
    }
    CHECK_FALSE(l.e.scsi2_holder());
  }
  SECTION("Write Exclusive: the holder gets GOOD without effect, others conflict") {
    REQUIRE(is_good(l.resv(a, 0xA, kWriteExclusive)));
    const auto before = l.st();
    CHECK(is_good(l.e.reserve(a, kReserve6.data())));
    CHECK(is_good(l.e.release(a, kRelease6.data())));
    CHECK_FALSE(l.e.scsi2_holder());
    CHECK(l.st() == before);  // the persistent reservation is not released
    CHECK(is_conflict(l.e.reserve(b, kReserve6.data())));
    CHECK(is_conflict(l.e.release(b, kRelease6.data())));
    CHECK(is_conflict(l.e.reserve(c, kReserve10.data())));
  }
  SECTION("registrants-only: every registrant gets GOOD without effect") {
    REQUIRE(is_good(l.resv(a, 0xA, kExclusiveAccessRegistrantsOnly)));
    const auto before = l.st();
    CHECK(is_good(l.e.reserve(b, kReserve10.data())));
    CHECK(is_good(l.e.release(b, kRelease10.data())));
    CHECK(is_conflict(l.e.reserve(c, kReserve6.data())));
    CHECK(is_conflict(l.e.release(c, kRelease6.data())));
    CHECK_FALSE(l.e.scsi2_holder());
    CHECK(l.st() == before);
  }
  SECTION("all-registrants: likewise") {
    REQUIRE(is_good(l.resv(a, 0xA, kWriteExclusiveAllRegistrants)));
    CHECK(is_good(l.e.reserve(b, kReserve6.data())));
    CHECK(is_conflict(l.e.reserve(c, kReserve6.data())));
    CHECK_FALSE(l.e.scsi2_holder());
  }
}

TEST_CASE("state round trip through PrEngine(restored)", "[pr][state]") {
  Lu l;
  REQUIRE(is_good(l.reg(a, 0xA, APTPL)));
  REQUIRE(is_good(l.reg(b2, 0xB, ALL_TG_PT | APTPL)));
  auto p = basic(0, 0xD, SPEC_I_PT | APTPL, {PrEngine::iscsi_transport_id(kC, "")});
  REQUIRE(is_good(l.out_params(d, pr_out::kRegister, p)));
  REQUIRE(is_good(l.resv(d, 0xD, kExclusiveAccessRegistrantsOnly)));
  const PrState saved = l.st();
  CHECK(saved.aptpl);
  CHECK(saved.generation == 3);

  Lu r(saved);
  CHECK(r.st() == saved);
  for (uint8_t s : {pr_in::kReadKeys, pr_in::kReadReservation, pr_in::kReportCapabilities, pr_in::kReadFullStatus})
    CHECK(r.in(a, s).data_in == l.in(a, s).data_in);
  for (const Nexus* n : {&a, &a2, &b, &b2, &c, &d, &a_isid2}) {
    CHECK(r.e.registration_of(*n) == l.e.registration_of(*n));
    CHECK(r.e.is_holder(*n) == l.e.is_holder(*n));
    CHECK(r.e.conflicts(*n, ReservationClass::write, std::array<uint8_t, 10>{0x2a}.data()) ==
          l.e.conflicts(*n, ReservationClass::write, std::array<uint8_t, 10>{0x2a}.data()));
  }
  // And it keeps working from there.
  REQUIRE(is_good(r.out(a, pr_out::kPreempt, 0xA, 0xD, kWriteExclusive)));
  CHECK(r.e.is_holder(a));
  CHECK(r.st().generation == 4);
}

TEST_CASE("restore() puts the persistent state back, SCSI-2 reservation untouched", "[pr][state]") {
  Lu l;
  REQUIRE(is_good(l.reg(a, 0xA, APTPL)));
  const PrState before = l.st();
  REQUIRE(is_good(l.resv(a, 0xA, kExclusiveAccess)));
  l.e.restore(before);
  CHECK(l.st() == before);
  CHECK_FALSE(l.e.is_holder(a));
  Lu s;
  REQUIRE(is_good(s.e.reserve(b, kReserve6.data())));
  s.e.restore(before);
  CHECK(s.e.scsi2_reserved_by(b));
  CHECK(s.st() == before);
}

TEST_CASE("restored state is sanitised", "[pr][state]") {
  PrState s;
  s.registrations.push_back(Registration{kA, kIsid1, kP1.name, 1, false, 1});
  SECTION("holder index out of range") {
    s.reservation = Reservation{5, kWriteExclusive, 0};
    CHECK_FALSE(PrEngine(s).state().reservation);
  }
  SECTION("invalid type") {
    s.reservation = Reservation{0, 2, 0};
    CHECK_FALSE(PrEngine(s).state().reservation);
  }
  SECTION("all-registrants holder index is normalised") {
    s.reservation = Reservation{3, kExclusiveAccessAllRegistrants, 0};
    REQUIRE(PrEngine(s).state().reservation);
    CHECK(PrEngine(s).state().reservation->holder == 0);
  }
  SECTION("a reservation without registrations") {
    s.registrations.clear();
    s.reservation = Reservation{0, kExclusiveAccessAllRegistrants, 0};
    CHECK_FALSE(PrEngine(s).state().reservation);
  }
}

TEST_CASE("failed commands report no effects", "[pr][effects]") {
  Lu l;
  REQUIRE(is_good(l.reg(a, 0xA, APTPL)));
  for (auto r : {l.reg(a, 0xA), l.resv(b, 0, kWriteExclusive), l.out(a, pr_out::kReserve, 0xA, 0, 0),
                 l.out(a, pr_out::kPreempt, 0xA, 0x77, kWriteExclusive)}) {
    CHECK_FALSE(is_good(r));
    CHECK_FALSE(r.effects.state_changed);
    CHECK_FALSE(r.effects.persist);
    CHECK(r.effects.unit_attentions.empty());
    CHECK(r.effects.audit.empty());
  }
}
