// An LU's GUID (16 bytes, NAA 6 IEEE registered extended) and its text form: 32 uppercase hex
// digits, the form logs, management and the configuration file use.
//
// Guid is an alias of std::array rather than a struct: the proxy codec writes and reads it as 16
// raw bytes, maps and sets key on it with the array's own comparison, and brace initialisation
// from bytes keeps working; a wrapper would add nothing but conversions.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace stmf {

using Guid = std::array<uint8_t, 16>;

// 32 uppercase hex digits.
inline std::string guid_hex(const Guid& g) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string s;
  s.reserve(2 * g.size());
  for (uint8_t b : g) {
    s += kDigits[b >> 4];
    s += kDigits[b & 15];
  }
  return s;
}

// 32 hex digits, either case -> 16 bytes; nullopt for any other length or a non-hex character.
inline std::optional<Guid> parse_guid(std::string_view s) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Guid g{};
  if (s.size() != 2 * g.size()) return std::nullopt;
  for (size_t i = 0; i < g.size(); ++i) {
    int hi = nibble(s[2 * i]), lo = nibble(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    g[i] = uint8_t(hi << 4 | lo);
  }
  return g;
}

}  // namespace stmf
