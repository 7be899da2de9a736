// Null store: zeroes on read, writes dropped, inline completions.
#include <catch2/catch.hpp>
#include <thread>

#include "core/store/store_test_util.h"

using namespace stmf::store;
using namespace stmf::store::test;

TEST_CASE("null store: reads zero the buffer, writes are dropped, all complete inline", "[store][null]") {
  auto s = make_null_store(1 << 30);
  CHECK(s->size() == (1u << 30));
  CHECK(s->describe() == "null");
  CHECK(!s->thin());
  std::vector<uint8_t> buf(4096, 0x5a);
  bool ran = false;
  auto caller = std::this_thread::get_id();
  s->write(0, buf, true, [&](std::error_code ec) {
    ran = !ec && std::this_thread::get_id() == caller;
  });
  CHECK(ran);
  ran = false;
  s->read(0, buf, [&](std::error_code ec) { ran = !ec; });
  CHECK(ran);
  CHECK(all_zero(buf));
  CHECK(!sync_flush(*s));
  CHECK(!sync_unmap(*s, 0, 1 << 20));
  CHECK(sync_read(*s, (1u << 30) - 100, buf) == std::errc::invalid_argument);
  CHECK(sync_write(*s, 1u << 30, buf) == std::errc::invalid_argument);
  Extent e;
  REQUIRE(!s->extent(4096, UINT64_MAX, e));
  CHECK(e.mapped);
  CHECK(e.length == (1u << 30) - 4096);
}
