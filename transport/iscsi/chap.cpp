#include "transport/iscsi/chap.h"

#include <openssl/evp.h>

namespace stmf::iscsi {

std::optional<Md5Digest> md5(std::span<const uint8_t> data) {
  Md5Digest out;
  unsigned int n = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &n, EVP_md5(), nullptr) != 1 || n != out.size())
    return std::nullopt;
  return out;
}

std::optional<Md5Digest> chap_md5_response(uint8_t id, std::string_view secret, std::span<const uint8_t> challenge) {
  std::vector<uint8_t> buf;
  buf.reserve(1 + secret.size() + challenge.size());
  buf.push_back(id);
  buf.insert(buf.end(), secret.begin(), secret.end());
  buf.insert(buf.end(), challenge.begin(), challenge.end());
  return md5(buf);
}

std::string encode_hex(std::span<const uint8_t> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s = "0x";
  s.reserve(2 + bytes.size() * 2);
  for (uint8_t b : bytes) {
    s.push_back(digits[b >> 4]);
    s.push_back(digits[b & 15]);
  }
  return s;
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::optional<std::vector<uint8_t>> decode_binary(std::string_view s) {
  if (s.size() < 3 || s[0] != '0') return std::nullopt;
  const char kind = s[1];
  s.remove_prefix(2);
  std::vector<uint8_t> out;
  if (kind == 'x' || kind == 'X') {
    size_t i = 0;
    if (s.size() % 2) {  // odd digit count: leading nibble
      int v = hex_value(s[0]);
      if (v < 0) return std::nullopt;
      out.push_back(uint8_t(v));
      i = 1;
    }
    for (; i < s.size(); i += 2) {
      int hi = hex_value(s[i]), lo = hex_value(s[i + 1]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(uint8_t(hi << 4 | lo));
    }
  } else if (kind == 'b' || kind == 'B') {
    while (!s.empty() && s.back() == '=') s.remove_suffix(1);
    if (s.size() % 4 == 1) return std::nullopt;
    uint32_t acc = 0;
    int bits = 0;
    for (char c : s) {
      int v = b64_value(c);
      if (v < 0) return std::nullopt;
      acc = (acc << 6) | uint32_t(v);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out.push_back(uint8_t(acc >> bits));
      }
    }
  } else {
    return std::nullopt;
  }
  if (out.empty()) return std::nullopt;
  return out;
}

bool equal_ct(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  if (a.size() != b.size()) return false;
  uint8_t d = 0;
  for (size_t i = 0; i < a.size(); ++i) d |= uint8_t(a[i] ^ b[i]);
  return d == 0;
}

}  // namespace stmf::iscsi
