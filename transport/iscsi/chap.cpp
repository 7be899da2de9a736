#include "transport/iscsi/chap.h"

#include <boost/uuid/detail/md5.hpp>

namespace stmf::iscsi {

Md5Digest md5(std::span<const uint8_t> data) {
  boost::uuids::detail::md5 h;
  h.process_bytes(data.data(), data.size());
  boost::uuids::detail::md5::digest_type words;
  h.get_digest(words);
  // Boost 1.81 stores each 32-bit word so that its big-endian reading is the standard MD5
  // byte sequence (md5_test checks the RFC 1321 vectors).
  Md5Digest out;
  for (int i = 0; i < 4; ++i) {
    const uint32_t w = words[i];
    out[size_t(i) * 4 + 0] = uint8_t(w >> 24);
    out[size_t(i) * 4 + 1] = uint8_t(w >> 16);
    out[size_t(i) * 4 + 2] = uint8_t(w >> 8);
    out[size_t(i) * 4 + 3] = uint8_t(w);
  }
  return out;
}

Md5Digest chap_md5_response(uint8_t id, std::string_view secret, std::span<const uint8_t> challenge) {
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
