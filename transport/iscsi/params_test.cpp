#include "transport/iscsi/params.h"

#include <catch2/catch.hpp>

using namespace stmf::iscsi;

TEST_CASE("numbers and booleans") {
  CHECK(parse_number("262144") == 262144u);
  CHECK(parse_number("0x40000") == 262144u);
  CHECK(parse_number("0XfF") == 255u);
  CHECK_FALSE(parse_number(""));
  CHECK_FALSE(parse_number("12a"));
  CHECK_FALSE(parse_number("-1"));
  CHECK_FALSE(parse_number("0x"));
  CHECK_FALSE(parse_number("99999999999999999999999"));
  CHECK_FALSE(parse_number("256", 255));
  CHECK(parse_number("18446744073709551615") == UINT64_MAX);
  CHECK_FALSE(parse_number("18446744073709551616"));
  CHECK(parse_bool("Yes") == true);
  CHECK(parse_bool("No") == false);
  CHECK_FALSE(parse_bool("yes"));
  auto l = split_list("CRC32C,None");
  REQUIRE(l.size() == 2);
  CHECK(l[1] == "None");
  CHECK(split_list("").size() == 1);
}

TEST_CASE("list negotiation picks the initiator's first acceptable value") {
  const std::vector<Digest> both{Digest::crc32c, Digest::none};
  CHECK(choose_digest("None,CRC32C", both) == Digest::none);
  CHECK(choose_digest("CRC32C,None", both) == Digest::crc32c);
  CHECK(choose_digest("FOO,CRC32C", both) == Digest::crc32c);
  CHECK(choose_digest("CRC32C,None", {Digest::none}) == Digest::none);
  CHECK_FALSE(choose_digest("None", {Digest::crc32c}));
  CHECK_FALSE(choose_digest("", both));
}

TEST_CASE("numerical and boolean functions") {
  CHECK(negotiate_min("1048576", 262144, 512, 16777215) == 262144u);
  CHECK(negotiate_min("8192", 262144, 512, 16777215) == 8192u);
  CHECK_FALSE(negotiate_min("100", 262144, 512, 16777215));
  CHECK_FALSE(negotiate_min("16777216", 262144, 512, 16777215));
  CHECK_FALSE(negotiate_min("abc", 262144, 512, 16777215));
  CHECK(negotiate_max("1", 2, 0, 3600) == 2u);
  CHECK(negotiate_max("20", 2, 0, 3600) == 20u);
  CHECK_FALSE(negotiate_max("3601", 2, 0, 3600));
  CHECK(negotiate_or("No", false) == false);
  CHECK(negotiate_or("No", true) == true);
  CHECK(negotiate_or("Yes", false) == true);
  CHECK(negotiate_and("Yes", true) == true);
  CHECK(negotiate_and("Yes", false) == false);
  CHECK(negotiate_and("No", true) == false);
  CHECK_FALSE(negotiate_and("Maybe", true));
}

TEST_CASE("defaults are RFC 7143 section 13") {
  SessionParams p;
  CHECK(p.max_recv_data_segment_length == 8192);
  CHECK(p.max_burst_length == 262144);
  CHECK(p.first_burst_length == 65536);
  CHECK(p.default_time2wait == 2);
  CHECK(p.default_time2retain == 20);
  CHECK(p.max_outstanding_r2t == 1);
  CHECK(p.initial_r2t);
  CHECK(p.immediate_data);
  CHECK(p.error_recovery_level == 0);
  CHECK_FALSE(p.header_digest);
}
