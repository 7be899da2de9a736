#include "transport/iscsi/crc32c.h"

#include <array>
#include <catch2/catch.hpp>
#include <vector>

#include "transport/iscsi/pdu.h"

using namespace stmf::iscsi;

TEST_CASE("CRC32C check value and RFC 3720 B.4 vectors") {
  CHECK(crc32c("123456789", 9) == 0xE3069283u);
  std::array<uint8_t, 32> buf{};
  CHECK(crc32c(buf.data(), 32) == 0x8A9136AAu);
  buf.fill(0xff);
  CHECK(crc32c(buf.data(), 32) == 0x62A8AB43u);
  for (int i = 0; i < 32; ++i) buf[size_t(i)] = uint8_t(i);
  CHECK(crc32c(buf.data(), 32) == 0x46DD794Eu);
  for (int i = 0; i < 32; ++i) buf[size_t(i)] = uint8_t(31 - i);
  CHECK(crc32c(buf.data(), 32) == 0x113FDB5Cu);
  // An iSCSI READ(10) command PDU, 2 blocks (RFC 3720 B.4).
  const uint8_t pdu[48] = {0x01, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x14, 0, 0, 0, 0, 0, 0x04, 0,
                           0,    0,    0, 0x14, 0, 0, 0, 0x18, 0x28, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0};
  CHECK(crc32c(pdu, 48) == 0xD9963A56u);
  CHECK(crc32c_self_test());
}

TEST_CASE("CRC32C digest is little-endian on the wire") {
  std::array<uint8_t, 32> zero{};
  uint8_t d[4];
  put_digest(crc32c(zero.data(), zero.size()), d);
  CHECK(d[0] == 0xaa);
  CHECK(d[1] == 0x36);
  CHECK(d[2] == 0x91);
  CHECK(d[3] == 0x8a);
  CHECK(digest_matches(0x8A9136AAu, d));
  CHECK_FALSE(digest_matches(0xAA36918Au, d));
}

TEST_CASE("CRC32C incremental and data digest padding") {
  std::vector<uint8_t> data(1001);
  for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i * 7);
  const uint32_t whole = crc32c(data.data(), data.size());
  CHECK(crc32c_extend(crc32c(data.data(), 400), data.data() + 400, 601) == whole);
  CHECK(crc32c_extend(whole, nullptr, 0) == whole);
  std::vector<uint8_t> padded = data;
  padded.resize(padded4(data.size()), 0);
  CHECK(data_digest(data.data(), data.size()) == crc32c(padded.data(), padded.size()));
  CHECK(data_digest(data.data(), 1000) == crc32c(data.data(), 1000));
}
