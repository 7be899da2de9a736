#include "store_iscsi/backend_info.h"

#include <catch2/catch.hpp>
#include <cstring>

using namespace stmf::iscsistore;
using std::chrono::milliseconds;

TEST_CASE("READ CAPACITY (16): blocks, block length, LBPME/LBPRZ") {
  uint8_t d[32] = {};
  d[7] = 0xff;          // last LBA 0xff -> 256 blocks
  d[10] = 0x10;         // 4096-byte blocks
  d[14] = 0x80 | 0x40;  // LBPME, LBPRZ
  BackendInfo b;
  REQUIRE(parse_read_capacity16(d, sizeof d, b));
  CHECK(b.blocks == 256);
  CHECK(b.block_size == 4096);
  CHECK(b.lbpme);
  CHECK(b.lbprz);
  BackendInfo short_one;
  CHECK_FALSE(parse_read_capacity16(d, 31, short_one));
  CHECK(short_one.blocks == 0);
  uint8_t zero_bs[32] = {};
  CHECK_FALSE(parse_read_capacity16(zero_bs, 32, short_one));
}

TEST_CASE("Block Limits VPD: full page and an old 16-byte one") {
  uint8_t d[64] = {};
  d[1] = 0xb0;
  d[3] = 0x3c;
  d[10] = 0x01;  // max transfer 0x100 blocks
  d[22] = 0x02;  // max unmap LBA count 0x200
  d[27] = 0x04;  // max unmap descriptors 4
  d[42] = 0x10;  // max write same 0x1000
  BackendInfo b;
  REQUIRE(parse_block_limits_vpd(d, sizeof d, b));
  CHECK(b.max_transfer_blocks == 0x100);
  CHECK(b.max_unmap_blocks == 0x200);
  CHECK(b.max_unmap_descriptors == 4);
  CHECK(b.max_write_same_blocks == 0x1000);

  d[3] = 0x0c;  // page length 12: only the first fields exist
  BackendInfo old;
  REQUIRE(parse_block_limits_vpd(d, sizeof d, old));
  CHECK(old.max_transfer_blocks == 0x100);
  CHECK(old.max_unmap_blocks == 0);
  CHECK(old.max_write_same_blocks == 0);

  d[1] = 0xb2;  // another page
  CHECK_FALSE(parse_block_limits_vpd(d, sizeof d, old));
}

TEST_CASE("LBP VPD and the unmap method chosen from it") {
  uint8_t d[8] = {0, 0xb2, 0, 4, 0, 0x80 | 0x40, 0, 0};
  BackendInfo b;
  REQUIRE(parse_lbp_vpd(d, sizeof d, b));
  CHECK(b.lbpu);
  CHECK(b.lbpws);
  // No LBPME: not thin, zeroes are written.
  CHECK(unmap_method(b) == UnmapMethod::write_same_zero);
  CHECK_FALSE(backend_thin(b));
  b.lbpme = true;
  // UNMAP leaves unspecified data without LBPRZ: WRITE SAME with UNMAP guarantees zeroes.
  CHECK(unmap_method(b) == UnmapMethod::write_same_unmap);
  b.lbprz = true;
  CHECK(unmap_method(b) == UnmapMethod::unmap);
  CHECK(backend_thin(b));
  b.lbpu = b.lbpws = false;
  CHECK(unmap_method(b) == UnmapMethod::write_same_zero);
  uint8_t wrong[8] = {0, 0xb0, 0, 4, 0, 0xc0, 0, 0};
  CHECK_FALSE(parse_lbp_vpd(wrong, sizeof wrong, b));
}

TEST_CASE("Retry policy: attempts and waiting time both bound a command") {
  RetryPolicy p;  // 2 attempts, 10 s
  CHECK(retry_verdict(p, 1, milliseconds(0)) == RetryVerdict::retry);
  CHECK(retry_verdict(p, 2, milliseconds(0)) == RetryVerdict::give_up);
  CHECK(retry_verdict(p, 1, milliseconds(9999)) == RetryVerdict::retry);
  CHECK(retry_verdict(p, 1, milliseconds(10000)) == RetryVerdict::give_up);
  p.max_attempts = 5;
  CHECK(retry_verdict(p, 4, milliseconds(1)) == RetryVerdict::retry);
}

TEST_CASE("Backend status and sense: what the front is told") {
  CHECK(classify(status::good, 0, 0, 0).outcome == Outcome::done);
  CHECK_FALSE(classify(status::good, 0, 0, 0).ec);
  CHECK(classify(status::timeout, 0, 0, 0).outcome == Outcome::reconnect);
  CHECK(classify(status::cancelled, 0, 0, 0).outcome == Outcome::reconnect);
  CHECK(classify(status::error, 0, 0, 0).outcome == Outcome::reconnect);
  CHECK(classify(status::busy, 0, 0, 0).outcome == Outcome::retry);
  CHECK(classify(status::task_set_full, 0, 0, 0).outcome == Outcome::retry);
  CHECK(classify(status::check_condition, 0x6, 0x29, 0x00).outcome == Outcome::retry);  // POWER ON
  CHECK(classify(status::check_condition, 0xb, 0x47, 0x05).outcome == Outcome::retry);
  CHECK(classify(status::check_condition, 0x2, 0x04, 0x01).ec == std::errc::not_connected);
  CHECK(classify(status::check_condition, 0x3, 0x11, 0x00).ec == std::errc::io_error);
  CHECK(classify(status::check_condition, 0x5, 0x21, 0x00).ec == std::errc::invalid_argument);
  CHECK(classify(status::check_condition, 0x7, 0x27, 0x00).ec == std::errc::read_only_file_system);
  CHECK(classify(status::check_condition, 0x7, 0x27, 0x07).ec == std::errc::no_space_on_device);
  CHECK(classify(status::reservation_conflict, 0, 0, 0).ec == std::errc::permission_denied);
}

TEST_CASE("URLs in logs lose their credentials") {
  CHECK(redact_url("iscsi://u%p@127.0.0.1:3260/iqn.x:y/0") == "iscsi://127.0.0.1:3260/iqn.x:y/0");
  CHECK(redact_url("iscsi://127.0.0.1:3260/iqn.x:y/0") == "iscsi://127.0.0.1:3260/iqn.x:y/0");
  CHECK(redact_url("iscsi://127.0.0.1/iqn.a@b/0") == "iscsi://127.0.0.1/iqn.a@b/0");
}

TEST_CASE("url_with_chap: credentials in libiscsi's form, refused where they would be misread", "[iscsi-store]") {
  std::string why;
  const std::string url = "iscsi://127.0.0.3:3260/iqn.2026-12.org.example:san/0";
  CHECK(url_with_chap(url, "", "", why) == url);
  const auto with = url_with_chap(url, "node1", "secret%0123456", why);
  REQUIRE(with);
  CHECK(*with == "iscsi://node1%secret%0123456@127.0.0.3:3260/iqn.2026-12.org.example:san/0");
  CHECK(redact_url(*with) == url);
  CHECK_FALSE(url_with_chap(url, "no%de", "secret0123456", why));
  CHECK_FALSE(url_with_chap(url, "node:1", "secret0123456", why));
  CHECK_FALSE(url_with_chap(url, "node1", "sec@ret0123456", why));
  CHECK_FALSE(url_with_chap(url, "node1", "sec/ret0123456", why));
  CHECK(why.find("secret") != std::string::npos);
  CHECK_FALSE(url_with_chap(*with, "node1", "secret0123456", why));
  CHECK_FALSE(url_with_chap("tcp://x/y/0", "node1", "secret0123456", why));
}
