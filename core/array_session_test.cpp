// core/array_session.h: the handle layout, every arsctl value rule, and the allocator's
// counter / increment / wrap / in-use rules (array_sessions(5), vpag_makeid).
#include <catch2/catch.hpp>

#include "core/array_session.h"

using namespace stmf::ars;

TEST_CASE("ars: handle layout puts machine ID in bits 62-48, array ID in 47-32, counter in 31-0", "[ars]") {
  const uint64_t m = global_mask(0x7fff, 0xffff);
  CHECK(m == 0x7fffffff00000000ull);
  const ash_t a = ash_t(global_mask(2, 0x1234) | 7);
  CHECK(a == 0x0002123400000007ll);
  CHECK(ash_machid(a) == 2);
  CHECK(ash_arrayid(a) == 0x1234);
  CHECK(ash_counter(a) == 7);
  CHECK(a > 0);  // bit 63 stays 0
  // Machine ID 0: local handles, no IDs in them.
  CHECK(global_mask(0, 0x1234) == 0);
}

TEST_CASE("ars: arsctl value rules", "[ars]") {
  CHECK(check_saf(1) == 0);
  CHECK(check_saf(2) == 0);
  CHECK(check_saf(0) == EINVAL);
  CHECK(check_saf(3) == EINVAL);
  CHECK(check_machid(-1) == 0);
  CHECK(check_machid(0) == 0);
  CHECK(check_machid(32767) == 0);
  CHECK(check_machid(-2) == EINVAL);
  CHECK(check_machid(32768) == EINVAL);
  CHECK(check_arrayid(-1) == 0);
  CHECK(check_arrayid(65535) == 0);
  CHECK(check_arrayid(-2) == EINVAL);
  CHECK(check_arrayid(65536) == EINVAL);
  CHECK(check_counter(kMinCounter) == 0);
  CHECK(check_counter(kMaxCounter) == 0);
  CHECK(check_counter(kMinCounter - 1) == EINVAL);
  CHECK(check_counter(kMaxCounter + 1) == EINVAL);
  CHECK(check_increment(0) == EINVAL);
  CHECK(check_increment(1) == 0);
  CHECK(check_increment(-1) == 0);
  CHECK(check_increment(kMaxCounter - kMinCounter - 1) == 0);
  CHECK(check_increment(kMaxCounter - kMinCounter) == EINVAL);
  CHECK(check_increment(-(kMaxCounter - kMinCounter)) == EINVAL);
  CHECK(check_spilen(0) == 0);
  CHECK(check_spilen(1024) == 0);
  CHECK(check_spilen(-1) == EINVAL);
  CHECK(check_spilen(1025) == EINVAL);
}

TEST_CASE("ars: the counter starts at min and advances by the increment", "[ars]") {
  AshAllocator a(1, 100);
  CHECK(a.counter() == 1);
  CHECK(*a.allocate(0) == 1);
  CHECK(*a.allocate(0) == 2);
  REQUIRE(a.set_increment(10) == 0);
  CHECK(*a.allocate(0) == 3);
  CHECK(*a.allocate(0) == 13);
  CHECK(a.counter() == 23);
  const uint64_t mask = global_mask(1, 0xffff);
  CHECK(*a.allocate(mask) == ash_t(mask | 23));
}

TEST_CASE("ars: the counter wraps within [min, max] both ways", "[ars]") {
  AshAllocator a(10, 20);
  REQUIRE(a.set_counter(19) == 0);
  REQUIRE(a.set_increment(3) == 0);
  CHECK(*a.allocate(0) == 19);
  // 19 + 3 = 22 > 20: min - 1 + (22 - 20) = 11
  CHECK(a.counter() == 11);
  REQUIRE(a.set_increment(-4) == 0);
  CHECK(*a.allocate(0) == 11);
  // 11 - 4 = 7 < 10: max + 1 - (10 - 7) = 18
  CHECK(a.counter() == 18);
}

TEST_CASE("ars: a handle in use is never reissued, released ones come back after a cycle", "[ars]") {
  AshAllocator a(1, 3);
  auto h1 = a.allocate(0), h2 = a.allocate(0), h3 = a.allocate(0);
  CHECK((*h1 == 1 && *h2 == 2 && *h3 == 3));
  CHECK(!a.allocate(0));  // all three live
  a.release(2);
  CHECK(*a.allocate(0) == 2);  // the failed loop left the counter at 2, now free
  a.release(1);
  a.release(3);
  CHECK(*a.allocate(0) == 3);
  CHECK(*a.allocate(0) == 1);
  CHECK(a.live(1));
  CHECK(a.live_count() == 3);
}

TEST_CASE("ars: ALLOCASH returns an unused handle without keeping it", "[ars]") {
  AshAllocator a(1, 5);
  REQUIRE(a.allocate(0) == 1);
  auto h = a.allocate(0, false);
  CHECK(*h == 2);
  CHECK(!a.live(2));
  CHECK(a.live_count() == 1);
}

TEST_CASE("ars: the live set is bounded", "[ars]") {
  AshAllocator a(1, 1000, 4);
  for (int i = 0; i < 4; ++i) REQUIRE(a.allocate(0));
  CHECK(!a.allocate(0));
  CHECK(!a.adopt(999));
  CHECK(a.allocate(0, false));  // ALLOCASH still answers
  a.release(1);
  CHECK(a.adopt(999));
  CHECK(a.adopt(999));  // sent again while the old nexus finishes: counted twice
  a.release(999);
  CHECK(a.live(999));
  a.release(999);
  CHECK(!a.live(999));
}

TEST_CASE("ars: a refused setting changes nothing", "[ars]") {
  AshAllocator a(1, 100);
  REQUIRE(a.set_counter(50) == 0);
  CHECK(a.set_counter(0) == EINVAL);
  CHECK(a.set_counter(101) == EINVAL);
  CHECK(a.counter() == 50);
  CHECK(a.set_increment(0) == EINVAL);
  CHECK(a.set_increment(99) == EINVAL);
  CHECK(a.increment() == 1);

  ArraySessions s;
  Settings good;
  good.machid = 5;
  good.arrayid = 7;
  REQUIRE(s.set_settings(good) == 0);
  Settings bad = good;
  bad.saf = 3;
  CHECK(s.set_settings(bad) == EINVAL);
  bad = good;
  bad.increment = 0;
  CHECK(s.set_settings(bad) == EINVAL);
  bad = good;
  bad.member_spi["iqn.2026-11.org.example:h"] = std::vector<uint8_t>(kMaxSpiLen + 1, 0);
  CHECK(s.set_settings(bad) == EINVAL);
  CHECK(s.settings() == good);
  CHECK(ash_machid(*s.new_session()) == 5);
}

TEST_CASE("ars: machine ID -1 follows the default, 0 makes local handles", "[ars]") {
  ArraySessions s;
  Settings st;
  st.default_machid = 2;  // node 1 of a pair
  st.default_arrayid = 9;
  REQUIRE(s.set_settings(st) == 0);
  auto a = *s.new_session();
  CHECK(ash_machid(a) == 2);
  CHECK(ash_arrayid(a) == 9);
  st.machid = 0;
  REQUIRE(s.set_settings(st) == 0);
  auto b = *s.new_session();
  CHECK(ash_machid(b) == 0);
  CHECK(ash_arrayid(b) == 0);
  CHECK(uint64_t(b) == ash_counter(b));
  s.end_session(a);
  s.end_session(b);
  CHECK(s.live_count() == 0);
}

TEST_CASE("ars: SPI is truncated or padded with zeroes", "[ars]") {
  CHECK(fit_spi({1, 2, 3}, 5) == std::vector<uint8_t>{1, 2, 3, 0, 0});
  CHECK(fit_spi({1, 2, 3}, 2) == std::vector<uint8_t>{1, 2});
  CHECK(fit_spi({}, 0).empty());
}
