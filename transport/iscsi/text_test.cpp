#include "transport/iscsi/text.h"

#include <catch2/catch.hpp>

using namespace stmf::iscsi;
using namespace std::string_literals;

TEST_CASE("parse text keys") {
  TextKeys k;
  REQUIRE_FALSE(parse_text("InitiatorName=iqn.1993-08.org.debian:01:abc\0SessionType=Normal\0SendTargets=\0"s, k));
  REQUIRE(k.size() == 3);
  CHECK(k[0].first == "InitiatorName");
  CHECK(k[0].second == "iqn.1993-08.org.debian:01:abc");
  CHECK(k[2].second.empty());
  REQUIRE(find_key(k, "SessionType"));
  CHECK(*find_key(k, "SessionType") == "Normal");
  CHECK(find_key(k, "TargetName") == nullptr);
  // A value may contain '='.
  k.clear();
  REQUIRE_FALSE(parse_text("X-a=b=c\0\0"s, k));
  CHECK(k[0].second == "b=c");
}

TEST_CASE("malformed text") {
  TextKeys k;
  CHECK(parse_text("A=1"s, k) == TextError::missing_nul);
  CHECK(parse_text("A\0"s, k) == TextError::missing_equals);
  CHECK(parse_text("=1\0"s, k) == TextError::empty_key);
  CHECK(parse_text(std::string(64, 'K') + "=1" + '\0', k) == TextError::key_too_long);
  k.clear();
  CHECK_FALSE(parse_text(std::string(63, 'K') + "=1" + '\0', k));
  CHECK(parse_text("Bad Key=1\0"s, k) == TextError::invalid_key_char);
  k.clear();
  CHECK(parse_text("A=" + std::string(256, 'v') + '\0', k) == TextError::value_too_long);
  k.clear();
  CHECK_FALSE(parse_text("A=" + std::string(255, 'v') + '\0', k));
  k.clear();
  CHECK_FALSE(parse_text("CHAP_C=0x" + std::string(2000, 'a') + '\0', k));
  k.clear();
  CHECK(parse_text("CHAP_R=0x" + std::string(8192, 'a') + '\0', k) == TextError::value_too_long);
  k.clear();
  CHECK(parse_text("A=1\0B=2\0A=3\0"s, k) == TextError::duplicate_key);
  CHECK(std::string(to_string(TextError::duplicate_key)) == "key sent twice");
}

TEST_CASE("serialize round trip") {
  TextKeys in{{"HeaderDigest", "None"}, {"MaxBurstLength", "262144"}, {"TargetAlias", ""}};
  const std::string s = serialize(in);
  CHECK(s == "HeaderDigest=None\0MaxBurstLength=262144\0TargetAlias=\0"s);
  TextKeys out;
  REQUIRE_FALSE(parse_text(s, out));
  CHECK(out == in);
}

TEST_CASE("reassembly across PDUs with the C bit") {
  TextAssembler a(64);
  const std::string t = "InitiatorName=iqn.x\0TargetName=iqn.y\0"s;
  auto piece = [&](size_t off, size_t n) {
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(t.data()) + off, n);
  };
  REQUIRE_FALSE(a.add(piece(0, 10), true));  // splits inside a key
  CHECK_FALSE(a.complete());
  CHECK(a.in_progress());
  REQUIRE_FALSE(a.add(piece(10, t.size() - 10), false));
  REQUIRE(a.complete());
  auto whole = a.take();
  TextKeys k;
  REQUIRE_FALSE(parse_text(whole, k));
  CHECK(k.size() == 2);
  CHECK(k[1].second == "iqn.y");
  CHECK_FALSE(a.in_progress());
  // Limit.
  REQUIRE_FALSE(a.add(piece(0, 40), true));
  CHECK(a.add(piece(0, 30), true) == TextError::too_large);
  CHECK_FALSE(a.in_progress());
}

TEST_CASE("splitting a long text") {
  TextSplitter s(std::string(20, 'x'), 8);
  bool more = false;
  CHECK(s.next(more).size() == 8);
  CHECK(more);
  CHECK(s.next(more).size() == 8);
  CHECK(more);
  CHECK(s.next(more).size() == 4);
  CHECK_FALSE(more);
  CHECK(s.done());
  TextSplitter e(std::string(), 8);
  CHECK(e.next(more).empty());
  CHECK_FALSE(more);
}

TEST_CASE("iSCSI name forms for SendTargets") {
  CHECK(well_formed_iscsi_name("iqn.2026-11.org.example:test"));
  CHECK(well_formed_iscsi_name("iqn.2026-11.org.example"));
  CHECK(well_formed_iscsi_name("IQN.2026-11.org.example:Test"));
  CHECK(well_formed_iscsi_name("eui.02004567A425678D"));
  CHECK(well_formed_iscsi_name("naa.52004567BA64678D"));
  CHECK(well_formed_iscsi_name("naa.62004567BA64678D0123456789ABCDEF"));
  CHECK_FALSE(well_formed_iscsi_name("Alle"));
  CHECK_FALSE(well_formed_iscsi_name("A"));
  CHECK_FALSE(well_formed_iscsi_name("all"));
  CHECK_FALSE(well_formed_iscsi_name("iqn."));
  CHECK_FALSE(well_formed_iscsi_name("iqn.26-11.org.example"));
  CHECK_FALSE(well_formed_iscsi_name("iqn.2026-11."));
  CHECK_FALSE(well_formed_iscsi_name("iqn.2026-11:x"));
  CHECK_FALSE(well_formed_iscsi_name("iqn.2026-11.org example"));
  CHECK_FALSE(well_formed_iscsi_name("eui.0200"));
  CHECK_FALSE(well_formed_iscsi_name("eui.02004567A425678G"));
  CHECK_FALSE(well_formed_iscsi_name("naa.52004567BA64678D01"));
  CHECK_FALSE(well_formed_iscsi_name("iqn.2026-11.org.example:" + std::string(200, 'x')));
}
