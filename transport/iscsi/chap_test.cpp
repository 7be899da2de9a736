#include "transport/iscsi/chap.h"

#include <catch2/catch.hpp>
#include <string>

using namespace stmf::iscsi;

namespace {
std::string hex(const std::optional<Md5Digest>& d) {
  REQUIRE(d.has_value());
  return encode_hex(*d).substr(2);
}
std::span<const uint8_t> bytes(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }
}  // namespace

TEST_CASE("MD5 RFC 1321 vectors") {
  CHECK(hex(md5({})) == "d41d8cd98f00b204e9800998ecf8427e");
  CHECK(hex(md5(bytes("abc"))) == "900150983cd24fb0d6963f7d28e17f72");
  CHECK(hex(md5(bytes("message digest"))) == "f96b697d7cb7938d525a2f31aaf161d0");
  // The rest of the RFC 1321 A.5 test suite.
  CHECK(hex(md5(bytes("a"))) == "0cc175b9c0f1b6a831c399e269772661");
  CHECK(hex(md5(bytes("abcdefghijklmnopqrstuvwxyz"))) == "c3fcd3d76192e4007dfb496cca67e13b");
  CHECK(hex(md5(bytes("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"))) ==
        "d174ab98d277d9f5a5611c2c9f419d9f");
  CHECK(hex(md5(bytes("12345678901234567890123456789012345678901234567890123456789012345678901234567890"))) ==
        "57edf4a22be3c955ac49da2e2107b67a");
}

TEST_CASE("CHAP MD5 response: MD5(id || secret || challenge)") {
  std::vector<uint8_t> c(16);
  for (size_t i = 0; i < 16; ++i) c[i] = uint8_t(i);
  CHECK(hex(chap_md5_response(1, "secretsecret12", c)) == "c69b78dc6ac14bd854fdade1fcb18a77");
  CHECK(hex(chap_md5_response(0x20, "initsecret1234", c)) == "0bd79819671dab1a9756833392b322fa");
}

TEST_CASE("binary encodings") {
  const std::vector<uint8_t> v{0x01, 0x02, 0xab};
  CHECK(encode_hex(v) == "0x0102ab");
  CHECK(decode_binary("0x0102ab") == v);
  CHECK(decode_binary("0X0102AB") == v);
  CHECK(decode_binary("0x102ab") == v);  // odd digit count
  CHECK(decode_binary("0bAQKr") == v);
  CHECK(decode_binary("0BAQID") == std::vector<uint8_t>{1, 2, 3});
  CHECK(decode_binary("0bAQIDBA==") == std::vector<uint8_t>{1, 2, 3, 4});
  CHECK_FALSE(decode_binary("0x"));
  CHECK_FALSE(decode_binary("0xzz"));
  CHECK_FALSE(decode_binary("0102"));
  CHECK_FALSE(decode_binary("0b!!!!"));
  CHECK_FALSE(decode_binary("0bA"));
  CHECK(equal_ct(v, v));
  CHECK_FALSE(equal_ct(v, std::vector<uint8_t>{1, 2}));
  CHECK_FALSE(equal_ct(v, std::vector<uint8_t>{1, 2, 0xac}));
}
