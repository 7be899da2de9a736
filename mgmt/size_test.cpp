// The one size grammar (mgmt/size.h): what the configuration file, stmfadm and libstmf accept.
#include "mgmt/size.h"

#include <catch2/catch.hpp>
#include <string>

using stmf::mgmt::kLibstmfSizes;
using stmf::mgmt::kStmfadmSizes;
using stmf::mgmt::parse_size;

namespace {
constexpr uint64_t kKiB = uint64_t(1) << 10, kMiB = uint64_t(1) << 20, kGiB = uint64_t(1) << 30,
                   kTiB = uint64_t(1) << 40, kPiB = uint64_t(1) << 50, kEiB = uint64_t(1) << 60;
}

TEST_CASE("sizes: whole numbers with binary units, case-insensitive") {
  struct Row {
    const char* text;
    uint64_t bytes;
  };
  const Row rows[] = {
      {"0", 0},
      {"4096", 4096},
      {"4096B", 4096},
      {"1k", kKiB},
      {"1K", kKiB},
      {"1kB", kKiB},
      {"1KiB", kKiB},
      {"1kiB", kKiB},
      {"1KIB", kKiB},
      {"512M", 512 * kMiB},
      {"512MiB", 512 * kMiB},
      {"512mB", 512 * kMiB},
      {"1g", kGiB},
      {"1G", kGiB},
      {"1GB", kGiB},
      {"1GiB", kGiB},
      {"100G", 100 * kGiB},
      {"1t", kTiB},
      {"2T", 2 * kTiB},
      {"2TiB", 2 * kTiB},
      {"1p", kPiB},
      {"1PiB", kPiB},
      {"1e", kEiB},
      {"15E", 15 * kEiB},
      {"18446744073709551615", UINT64_MAX},
      {"00000000000000000000001", 1},  // stmfadm took any number of leading zeros
      {"16777215T", 16777215 * kTiB},  // the largest whole number of TiB
  };
  for (const auto& r : rows) {
    INFO(r.text);
    CHECK(parse_size(r.text) == r.bytes);
    CHECK(parse_size(r.text, kStmfadmSizes) == r.bytes);
    CHECK(parse_size(r.text, kLibstmfSizes) == r.bytes);
  }
}

TEST_CASE("sizes: a lowercase b only for stmfadm and libstmf (the configuration file refuses \"1Gb\")") {
  for (const char* text : {"1Gb", "1gb", "1kib", "4096b", "512mb"}) {
    INFO(text);
    CHECK_FALSE(parse_size(text));
    CHECK(parse_size(text, kStmfadmSizes).has_value());
    CHECK(parse_size(text, kLibstmfSizes).has_value());
  }
  CHECK(parse_size("1gb", kStmfadmSizes) == kGiB);
  CHECK(parse_size("4096b", kStmfadmSizes) == 4096u);
  CHECK(parse_size("1kib", kLibstmfSizes) == kKiB);
}

TEST_CASE("sizes: malformed or too large") {
  for (const char* bad : {"", "b", "B", "GiB", "k", "-1", "+1", " 1g", "1g ", "1 g", "1gb2", "1ib", "1bb", "1gibb", "1x",
                          "1.5G", "1.5g", "0x10", "1,000", "18446744073709551616", "99999999999999999999", "16E",
                          "16777216T", "20000000000T", "1.", ".5k"}) {
    INFO(bad);
    CHECK_FALSE(parse_size(bad));
    CHECK_FALSE(parse_size(bad, kStmfadmSizes));
  }
}

TEST_CASE("sizes: fractions only where allowed (COMSTAR stmfSetLuProp)") {
  CHECK(parse_size("1.5t", kLibstmfSizes) == kTiB + kTiB / 2);
  CHECK(parse_size("0.5k", kLibstmfSizes) == 512u);
  CHECK(parse_size(".5k", kLibstmfSizes) == 512u);
  CHECK(parse_size("1.", kLibstmfSizes) == 1u);
  CHECK(parse_size("2.5", kLibstmfSizes) == 2u);  // truncated to whole bytes
  for (const char* bad : {".", "..5", "1.2.3", "1.5x", "16.0E", "-1.5g", ""}) {
    INFO(bad);
    CHECK_FALSE(parse_size(bad, kLibstmfSizes));
  }
}
