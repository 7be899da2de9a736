// conflicts(): every cell of SPC-4 table 65 (by ReservationClass) and table 66 (PR OUT), the
// SCSI-2 reservation rules and the CRH=1 exceptions. The expected values are written out by
// hand from the standard, not derived from the engine.
#include <map>

#include "core/pr/pr_test_util.h"

using namespace stmf;
using namespace stmf::pr;
using namespace stmf::pr::test;
using RC = stmf::ReservationClass;

namespace {
enum class Role { holder, registrant, other };
const char* role_name(Role r) { return r == Role::holder ? "holder" : r == Role::registrant ? "registrant" : "other"; }

// a holds a reservation of `type`, b is registered, c is not registered.
Lu reserved(uint8_t type) {
  Lu l;
  REQUIRE(is_good(l.reg(a, 0xA)));
  REQUIRE(is_good(l.reg(b, 0xB)));
  REQUIRE(is_good(l.resv(a, 0xA, type)));
  return l;
}
const Nexus& who(Role r) { return r == Role::holder ? a : r == Role::registrant ? b : c; }

std::array<uint8_t, 16> cdb_for(RC cls) {
  switch (cls) {
    case RC::allowed: return {0x12};   // INQUIRY
    case RC::read: return {0x28};      // READ(10)
    case RC::write: return {0x2a};     // WRITE(10)
    case RC::conflict: return {0x15};  // MODE SELECT(6)
    case RC::reserve: return {0x16};   // RESERVE(6)
    case RC::persistent: return {0x5e};
  }
  return {};
}

constexpr bool OK = false, CONF = true;
struct Row { bool allowed, read, write, conflict; };
// SPC-4 table 65 (SBC-4 table 13): non-holder access. Holders are always allowed.
//                                         allowed read  write conflict
const std::map<std::pair<uint8_t, Role>, Row> kTable65 = {
    {{kWriteExclusive, Role::registrant}, {OK, OK, CONF, CONF}},
    {{kWriteExclusive, Role::other}, {OK, OK, CONF, CONF}},
    {{kExclusiveAccess, Role::registrant}, {OK, CONF, CONF, CONF}},
    {{kExclusiveAccess, Role::other}, {OK, CONF, CONF, CONF}},
    {{kWriteExclusiveRegistrantsOnly, Role::registrant}, {OK, OK, OK, OK}},
    {{kWriteExclusiveRegistrantsOnly, Role::other}, {OK, OK, CONF, CONF}},
    {{kExclusiveAccessRegistrantsOnly, Role::registrant}, {OK, OK, OK, OK}},
    {{kExclusiveAccessRegistrantsOnly, Role::other}, {OK, CONF, CONF, CONF}},
    {{kWriteExclusiveAllRegistrants, Role::registrant}, {OK, OK, OK, OK}},
    {{kWriteExclusiveAllRegistrants, Role::other}, {OK, OK, CONF, CONF}},
    {{kExclusiveAccessAllRegistrants, Role::registrant}, {OK, OK, OK, OK}},
    {{kExclusiveAccessAllRegistrants, Role::other}, {OK, CONF, CONF, CONF}},
};
const uint8_t kTypes[] = {kWriteExclusive, kExclusiveAccess, kWriteExclusiveRegistrantsOnly,
                          kExclusiveAccessRegistrantsOnly, kWriteExclusiveAllRegistrants, kExclusiveAccessAllRegistrants};
}  // namespace

TEST_CASE("table 65: every class x type x role", "[pr][conflicts]") {
  for (uint8_t t : kTypes) {
    Lu l = reserved(t);
    for (Role role : {Role::holder, Role::registrant, Role::other}) {
      Row exp = role == Role::holder ? Row{OK, OK, OK, OK} : kTable65.at({t, role});
      CAPTURE(int(t), role_name(role));
      CHECK(l.e.conflicts(who(role), RC::allowed, cdb_for(RC::allowed).data()) == exp.allowed);
      CHECK(l.e.conflicts(who(role), RC::read, cdb_for(RC::read).data()) == exp.read);
      CHECK(l.e.conflicts(who(role), RC::write, cdb_for(RC::write).data()) == exp.write);
      CHECK(l.e.conflicts(who(role), RC::conflict, cdb_for(RC::conflict).data()) == exp.conflict);
    }
  }
}

TEST_CASE("no reservation: nothing conflicts", "[pr][conflicts]") {
  Lu l;
  for (RC cls : {RC::allowed, RC::read, RC::write, RC::conflict, RC::reserve, RC::persistent})
    for (const Nexus* n : {&a, &b, &c}) CHECK_FALSE(l.e.conflicts(*n, cls, cdb_for(cls).data()));
  // Registrations alone restrict nothing but SCSI-2 RESERVE/RELEASE.
  REQUIRE(is_good(l.reg(a, 0xA)));
  for (RC cls : {RC::allowed, RC::read, RC::write, RC::conflict, RC::persistent})
    for (const Nexus* n : {&a, &b}) CHECK_FALSE(l.e.conflicts(*n, cls, cdb_for(cls).data()));
  std::array<uint8_t, 6> rel{0x17};
  for (const Nexus* n : {&a, &b}) {
    CHECK(l.e.conflicts(*n, RC::reserve, cdb_for(RC::reserve).data()));
    CHECK(l.e.conflicts(*n, RC::reserve, rel.data()));
  }
}

TEST_CASE("TEST UNIT READY is allowed through every reservation (ALLOW COMMANDS 001b)", "[pr][conflicts]") {
  std::array<uint8_t, 6> tur{0x00};
  for (uint8_t t : kTypes) {
    Lu l = reserved(t);
    for (RC cls : {RC::allowed, RC::read, RC::write, RC::conflict}) CHECK_FALSE(l.e.conflicts(c, cls, tur.data()));
  }
}

TEST_CASE("table 66: PR IN and PR OUT service actions", "[pr][conflicts]") {
  // registrant non-holder / non-registrant, under a reservation held by another nexus.
  struct Cell { uint8_t sa; bool registrant, other; };
  const Cell cells[] = {
      {pr_out::kRegister, OK, OK},          {pr_out::kRegisterAndIgnoreExistingKey, OK, OK},
      {pr_out::kClear, OK, CONF},           {pr_out::kPreempt, OK, CONF},
      {pr_out::kPreemptAndAbort, OK, CONF}, {pr_out::kRelease, OK, CONF},
      {pr_out::kReplaceLostReservation, OK, CONF},
      {pr_out::kReserve, CONF, CONF},       {pr_out::kRegisterAndMove, CONF, CONF},
  };
  for (uint8_t t : {kWriteExclusive, kExclusiveAccessRegistrantsOnly}) {
    Lu l = reserved(t);
    for (const auto& cell : cells) {
      CAPTURE(int(t), int(cell.sa));
      auto cdb = out_cdb(cell.sa, t);
      CHECK_FALSE(l.e.conflicts(a, RC::persistent, cdb.data()));
      CHECK(l.e.conflicts(b, RC::persistent, cdb.data()) == cell.registrant);
      CHECK(l.e.conflicts(c, RC::persistent, cdb.data()) == cell.other);
    }
    for (const Nexus* n : {&a, &b, &c}) CHECK_FALSE(l.e.conflicts(*n, RC::persistent, in_cdb(0).data()));
  }
  // All registrants are holders: nothing conflicts for b.
  Lu l = reserved(kWriteExclusiveAllRegistrants);
  for (const auto& cell : cells) {
    auto cdb = out_cdb(cell.sa, kWriteExclusiveAllRegistrants);
    CHECK_FALSE(l.e.conflicts(b, RC::persistent, cdb.data()));
    CHECK(l.e.conflicts(c, RC::persistent, cdb.data()) == cell.other);
  }
}

TEST_CASE("RESERVE/RELEASE under a persistent reservation (CRH=1)", "[pr][conflicts][scsi2]") {
  std::array<uint8_t, 6> res6{0x16}, rel6{0x17};
  std::array<uint8_t, 10> res10{0x56}, rel10{0x57};
  for (uint8_t t : kTypes) {
    Lu l = reserved(t);
    const bool regs_type = is_registrants_only(t) || is_all_registrants(t);
    CAPTURE(int(t));
    for (const uint8_t* cdb : {res6.data(), rel6.data(), res10.data(), rel10.data()}) {
      CHECK_FALSE(l.e.conflicts(a, RC::reserve, cdb));
      CHECK(l.e.conflicts(b, RC::reserve, cdb) == !regs_type);
      CHECK(l.e.conflicts(c, RC::reserve, cdb));
    }
  }
}

TEST_CASE("SCSI-2 reservation held by another nexus or by the same", "[pr][conflicts][scsi2]") {
  Lu l;
  std::array<uint8_t, 6> res6{0x16}, rel6{0x17}, tur{0x00};
  REQUIRE(is_good(l.e.reserve(a, res6.data())));
  // The holder: everything but PR IN/OUT.
  for (RC cls : {RC::allowed, RC::read, RC::write, RC::conflict}) CHECK_FALSE(l.e.conflicts(a, cls, cdb_for(cls).data()));
  CHECK_FALSE(l.e.conflicts(a, RC::reserve, res6.data()));
  CHECK_FALSE(l.e.conflicts(a, RC::reserve, rel6.data()));
  CHECK(l.e.conflicts(a, RC::persistent, in_cdb(0).data()));
  CHECK(l.e.conflicts(a, RC::persistent, out_cdb(pr_out::kRegister).data()));
  // Another nexus (other initiator, other session of the same initiator, other port).
  for (const Nexus* n : {&b, &a_isid2, &a2}) {
    CHECK_FALSE(l.e.conflicts(*n, RC::allowed, cdb_for(RC::allowed).data()));  // INQUIRY
    CHECK(l.e.conflicts(*n, RC::allowed, tur.data()));  // the mhd MHIOCSTATUS probe
    const std::array<uint8_t, 16> rcap{0x25}, rl{0xa0}, rs{0x03}, rtpg{0xa3, 0x0a}, allow{0x1e, 0, 0, 0, 0x00},
        prevent{0x1e, 0, 0, 0, 0x01};
    CHECK(l.e.conflicts(*n, RC::allowed, rcap.data()));  // READ CAPACITY: not in SPC-2's list
    CHECK_FALSE(l.e.conflicts(*n, RC::allowed, rl.data()));
    CHECK_FALSE(l.e.conflicts(*n, RC::allowed, rs.data()));
    CHECK_FALSE(l.e.conflicts(*n, RC::allowed, rtpg.data()));
    CHECK_FALSE(l.e.conflicts(*n, RC::conflict, allow.data()));
    CHECK(l.e.conflicts(*n, RC::conflict, prevent.data()));
    CHECK(l.e.conflicts(*n, RC::read, cdb_for(RC::read).data()));
    CHECK(l.e.conflicts(*n, RC::write, cdb_for(RC::write).data()));
    CHECK(l.e.conflicts(*n, RC::conflict, cdb_for(RC::conflict).data()));
    CHECK(l.e.conflicts(*n, RC::reserve, res6.data()));
    CHECK_FALSE(l.e.conflicts(*n, RC::reserve, rel6.data()));  // GOOD, no effect
    CHECK(l.e.conflicts(*n, RC::persistent, in_cdb(0).data()));
    CHECK(l.e.conflicts(*n, RC::persistent, out_cdb(pr_out::kRegister).data()));
  }
}

TEST_CASE("registration identity in conflicts", "[pr][conflicts]") {
  SECTION("ALL_TG_PT: the holder is the initiator port on every target port") {
    Lu l;
    REQUIRE(is_good(l.reg(a, 0xA, ALL_TG_PT)));
    REQUIRE(is_good(l.resv(a, 0xA, kWriteExclusive)));
    CHECK_FALSE(l.e.conflicts(a2, RC::write, cdb_for(RC::write).data()));
    CHECK(l.e.conflicts(a_isid2, RC::write, cdb_for(RC::write).data()));
  }
  SECTION("another session of a registrant is not registered") {
    Lu l;
    REQUIRE(is_good(l.reg(a, 0xA)));
    REQUIRE(is_good(l.reg(b, 0xB)));
    REQUIRE(is_good(l.resv(b, 0xB, kExclusiveAccessRegistrantsOnly)));
    CHECK_FALSE(l.e.conflicts(a, RC::read, cdb_for(RC::read).data()));
    CHECK(l.e.conflicts(a_isid2, RC::read, cdb_for(RC::read).data()));
    CHECK(l.e.conflicts(a2, RC::read, cdb_for(RC::read).data()));
  }
  SECTION("00b TransportID registration: every session of that name on that port") {
    Lu l;
    auto p = basic(0, 0xA, SPEC_I_PT, {PrEngine::iscsi_transport_id(kC, "")});
    REQUIRE(is_good(l.out_params(a, pr_out::kRegister, p)));
    REQUIRE(is_good(l.resv(a, 0xA, kWriteExclusiveRegistrantsOnly)));
    CHECK_FALSE(l.e.conflicts(nx(kC, kP1, "0000aaaabbbb"), RC::write, cdb_for(RC::write).data()));
    CHECK(l.e.conflicts(nx(kC, kP2, "0000aaaabbbb"), RC::write, cdb_for(RC::write).data()));
  }
}
