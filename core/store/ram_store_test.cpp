// RAM store: lazy chunks, round trips across chunk boundaries, unmap (whole and partial chunks),
// extent(), concurrency.
#include <catch2/catch.hpp>

#include "core/store/store_test_util.h"

using namespace stmf::store;
using namespace stmf::store::test;

namespace {
constexpr uint64_t MiB = 1 << 20;
}

TEST_CASE("ram store: a large store is unallocated and reads zeroes", "[store][ram]") {
  auto s = make_ram_store(1024 * MiB);  // 1 GiB costs nothing until written
  CHECK(s->size() == 1024 * MiB);
  CHECK(s->thin());
  CHECK(s->describe() == "ram");
  Extent e;
  REQUIRE(!s->extent(0, s->size(), e));
  CHECK(!e.mapped);
  CHECK(e.length == 1024 * MiB);
  std::vector<uint8_t> buf(65536, 0xaa);
  REQUIRE(!sync_read(*s, 512 * MiB, buf));
  CHECK(all_zero(buf));
  REQUIRE(!sync_flush(*s));
}

TEST_CASE("ram store: round trips across chunk boundaries", "[store][ram]") {
  auto s = make_ram_store(8 * MiB + 1000);  // last chunk partial
  std::vector<uint8_t> a(3 * MiB + 17), b(1000), back;
  fill_pattern(a, 1, 1);
  fill_pattern(b, 2, 1);
  REQUIRE(!sync_write(*s, MiB - 5, a));
  REQUIRE(!sync_write(*s, 8 * MiB, b));  // the last, partial chunk, up to the last byte
  back.assign(a.size(), 0);
  REQUIRE(!sync_read(*s, MiB - 5, back));
  CHECK(back == a);
  back.assign(b.size(), 0);
  REQUIRE(!sync_read(*s, 8 * MiB, back));
  CHECK(back == b);
  // Bytes next to the written range are still zero.
  back.assign(10, 0xee);
  REQUIRE(!sync_read(*s, MiB - 15, back));
  CHECK(all_zero(back));
  CHECK(sync_read(*s, 8 * MiB + 995, back) == std::errc::invalid_argument);
  CHECK(sync_write(*s, 8 * MiB + 991, back) == std::errc::invalid_argument);
  CHECK(sync_unmap(*s, 8 * MiB, 1001) == std::errc::invalid_argument);
}

TEST_CASE("ram store: unmap frees whole chunks and zeroes partial ranges", "[store][ram]") {
  auto s = make_ram_store(16 * MiB);
  std::vector<uint8_t> data(4 * MiB), back;
  fill_pattern(data, 3, 3);
  REQUIRE(!sync_write(*s, 2 * MiB, data));  // chunks 2..5
  Extent e;
  REQUIRE(!s->extent(0, s->size(), e));
  CHECK(!e.mapped);
  CHECK(e.length == 2 * MiB);
  REQUIRE(!s->extent(2 * MiB, s->size(), e));
  CHECK(e.mapped);
  CHECK(e.length == 4 * MiB);
  REQUIRE(!s->extent(3 * MiB + 5, 100, e));
  CHECK(e.mapped);
  CHECK(e.length == 100);

  // [2.5 MiB, 4 MiB + 10): zeroes the back half of chunk 2, frees chunk 3, zeroes 10 bytes of 4.
  REQUIRE(!sync_unmap(*s, 2 * MiB + MiB / 2, MiB + MiB / 2 + 10));
  back.assign(data.size(), 0xee);
  REQUIRE(!sync_read(*s, 2 * MiB, back));
  CHECK(std::equal(back.begin(), back.begin() + MiB / 2, data.begin()));
  CHECK(all_zero(std::span<const uint8_t>(back.data() + MiB / 2, MiB + MiB / 2 + 10)));
  CHECK(std::equal(back.begin() + 2 * MiB + 10, back.end(), data.begin() + 2 * MiB + 10));
  REQUIRE(!s->extent(2 * MiB, s->size(), e));
  CHECK(e.mapped);
  CHECK(e.length == MiB);  // chunk 2 only: chunk 3 is gone
  REQUIRE(!s->extent(3 * MiB, s->size(), e));
  CHECK(!e.mapped);
  CHECK(e.length == MiB);
  REQUIRE(!s->extent(4 * MiB, s->size(), e));
  CHECK(e.mapped);
  CHECK(e.length == 2 * MiB);

  // Writing into a freed chunk allocates a fresh, zeroed one.
  std::vector<uint8_t> small(16, 0x77);
  REQUIRE(!sync_write(*s, 3 * MiB + 100, small));
  back.assign(MiB, 0xee);
  REQUIRE(!sync_read(*s, 3 * MiB, back));
  CHECK(all_zero(std::span<const uint8_t>(back.data(), 100)));
  CHECK(std::equal(small.begin(), small.end(), back.begin() + 100));
  CHECK(all_zero(std::span<const uint8_t>(back.data() + 116, MiB - 116)));

  REQUIRE(!sync_unmap(*s, 0, s->size()));
  REQUIRE(!s->extent(0, s->size(), e));
  CHECK(!e.mapped);
  CHECK(e.length == 16 * MiB);
}

TEST_CASE("ram store: concurrent I/O from several threads keeps every block intact", "[store][ram]") {
  auto s = make_ram_store(8 * MiB);
  CHECK(concurrent_integrity(*s, 4, 2048, 4096) == "");
}

TEST_CASE("ram store: unmap racing with I/O on other chunks is safe", "[store][ram]") {
  auto s = make_ram_store(8 * MiB);
  std::atomic<bool> stop{false};
  std::thread unmapper([&] {
    while (!stop) {
      (void)sync_unmap(*s, 4 * MiB, 4 * MiB);
      std::vector<uint8_t> junk(MiB, 1);
      (void)sync_write(*s, 5 * MiB, junk);
    }
  });
  std::string problem = concurrent_integrity(*s, 2, 1024, 4096);  // first 4 MiB only
  stop = true;
  unmapper.join();
  CHECK(problem == "");
}
