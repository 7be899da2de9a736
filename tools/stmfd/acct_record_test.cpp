// tools/stmfd/acct_record.h: the two record formats byte by byte, and reading a file that
// mixes them or ends with a cut record.
#include <catch2/catch.hpp>

#include "common/byte_order.h"
#include "tools/stmfd/acct_record.h"

using namespace stmfd::acct;

namespace {

Record sample() {
  Record r;
  r.flags = kFlagCheckpoint | kFlagSecondary;
  r.ash = 0x0002ffff00000007ll;
  r.start_ns = 1'800'000'000'000'000'000ll;
  r.end_ns = r.start_ns + 5'000'000'000ll;
  r.spi.assign(64, 0);
  r.spi[0] = 0xab;
  r.spi[63] = 0xcd;
  r.node = 1;
  r.initiator = "iqn.2026-11.org.example:host,i,0x400001370000";
  r.target = "iqn.2026-11.org.example:test,t,0x0001";
  r.counters.commands = 10;
  r.counters.reads = 4;
  r.counters.writes = 6;
  r.counters.bytes_read = 4 * 4096;
  r.counters.bytes_written = 6 * 4096;
  r.counters.errors[size_t(stmf::stats::ErrorClass::reservation_conflict)] = 2;
  r.counters.latency_us_sum = 777;
  return r;
}

}  // namespace

TEST_CASE("acct: format 1 has the documented layout", "[acct]") {
  const Record r = sample();
  const auto b = encode_binary(r);
  REQUIRE(b.size() == kBinaryRecordSize);
  CHECK(std::string(b.begin(), b.begin() + 4) == "ASR1");
  CHECK(b[4] == 1);
  CHECK(b[5] == (kFlagCheckpoint | kFlagSecondary));
  CHECK(stmf::get_be16(&b[6]) == 632);
  CHECK(stmf::get_be64(&b[8]) == 0x0002ffff00000007ull);
  CHECK(int64_t(stmf::get_be64(&b[16])) == r.start_ns);
  CHECK(int64_t(stmf::get_be64(&b[24])) == r.end_ns);
  CHECK(stmf::get_be16(&b[32]) == 64);
  CHECK(stmf::get_be16(&b[34]) == 1);
  CHECK(b[40] == 0xab);
  CHECK(b[103] == 0xcd);
  CHECK(stmf::get_be64(&b[104]) == 10);             // commands
  CHECK(stmf::get_be64(&b[104 + 3 * 8]) == 16384);  // bytes read
  CHECK(stmf::get_be64(&b[104 + 4 * 8]) == 24576);  // bytes written
  CHECK(stmf::get_be64(&b[104 + 6 * 8]) == 2);      // reservation conflicts
  CHECK(stmf::get_be64(&b[104 + 9 * 8]) == 777);    // latency sum
  CHECK(std::string(reinterpret_cast<const char*>(&b[184])) == r.initiator);
  CHECK(std::string(reinterpret_cast<const char*>(&b[408])) == r.target);
}

TEST_CASE("acct: format 1 keeps exactly 64 bytes of SPI (pads and truncates)", "[acct]") {
  Record r = sample();
  r.spi.assign(128, 0x11);
  size_t bad = 0;
  auto b = encode_binary(r);
  auto back = read_records(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()), bad);
  REQUIRE(back.size() == 1);
  CHECK(back[0].spi.size() == 128);  // the length is recorded...
  CHECK(back[0].spi[63] == 0x11);
  CHECK(back[0].spi[64] == 0);       // ...but only 64 bytes travel
  r.spi = {1, 2};
  b = encode_binary(r);
  CHECK(b[40] == 1);
  CHECK(b[41] == 2);
  CHECK(b[42] == 0);
}

TEST_CASE("acct: format 2 is one JSON object per line with every field", "[acct]") {
  Record r = sample();
  r.reason = "logged out";
  r.portal = "[::1]:3260";
  const std::string line = encode_json_line(r);
  CHECK(line.back() == '\n');
  auto j = nlohmann::json::parse(line);
  CHECK(j["ash"] == "0x0002ffff00000007");
  CHECK(j["bytes_written"] == 24576);
  CHECK(j["reservation_conflicts"] == 2);
  CHECK(j["flags"] == nlohmann::json::array({"checkpoint", "secondary"}));
  CHECK(j["reason"] == "logged out");
  CHECK(j["portal"] == "[::1]:3260");
  CHECK(from_json(j) == r);
}

TEST_CASE("acct: a file mixing both formats reads back in order and a cut tail is reported", "[acct]") {
  Record a = sample(), b = sample();
  b.ash = 42;
  b.flags = 0;
  b.reason = "connection ended";
  auto bin = encode_binary(a);
  std::string data(bin.begin(), bin.end());
  data += encode_json_line(b);
  data += std::string(bin.begin(), bin.begin() + 100);  // a record cut by a crash
  size_t bad = 0;
  auto v = read_records(data, bad);
  REQUIRE(v.size() == 2);
  CHECK(v[0] == a);
  CHECK(v[1] == b);
  CHECK(bad == 100);
}
