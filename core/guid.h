// An LU's GUID (16 bytes, NAA 6 IEEE registered extended) as text: 32 uppercase hex digits,
// the form logs, management and the configuration file use.
#pragma once
#include <array>
#include <cstdint>
#include <string>

namespace stmf {

inline std::string guid_hex(const std::array<uint8_t, 16>& g) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string s;
  s.reserve(32);
  for (uint8_t b : g) {
    s += kDigits[b >> 4];
    s += kDigits[b & 15];
  }
  return s;
}

}  // namespace stmf
