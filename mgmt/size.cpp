#include "mgmt/size.h"

#include <cmath>
#include <cstdlib>
#include <string>

namespace stmf::mgmt {

namespace {

constexpr std::string_view kMultipliers = "KMGTPE";  // 2^10 .. 2^60
constexpr int kShiftPerMultiplier = 10;

char upper(char c) { return (c >= 'a' && c <= 'z') ? char(c - 'a' + 'A') : c; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The unit after the number -> its shift (0 for bytes), nullopt when it is not a unit.
std::optional<int> unit_shift(std::string_view u, bool lowercase_b) {
  auto is_b = [&](char c) { return c == 'B' || (lowercase_b && c == 'b'); };
  if (u.empty()) return 0;
  if (u.size() == 1 && is_b(u[0])) return 0;
  const size_t m = kMultipliers.find(upper(u[0]));
  if (m == std::string_view::npos) return std::nullopt;
  const std::string_view tail = u.substr(1);
  const bool tail_ok = tail.empty() || (tail.size() == 1 && is_b(tail[0])) ||
                       (tail.size() == 2 && upper(tail[0]) == 'I' && is_b(tail[1]));
  if (!tail_ok) return std::nullopt;
  return int(m + 1) * kShiftPerMultiplier;
}

}  // namespace

std::optional<uint64_t> parse_size(std::string_view s, SizeRules rules) {
  size_t i = 0, digits = 0;
  bool point = false;
  for (; i < s.size(); ++i) {
    if (is_digit(s[i])) ++digits;
    else if (s[i] == '.' && rules.fractions && !point) point = true;
    else break;
  }
  if (digits == 0) return std::nullopt;
  const auto shift = unit_shift(s.substr(i), rules.lowercase_b);
  if (!shift) return std::nullopt;
  const std::string number(s.substr(0, i));
  if (point) {
    // Truncated to whole bytes; 2^64 and over do not fit.
    const double d = std::strtod(number.c_str(), nullptr) * std::ldexp(1.0, *shift);
    if (!(d >= 0) || d >= 18446744073709551616.0) return std::nullopt;
    return uint64_t(d);
  }
  uint64_t v = 0;
  for (char c : number) {
    const uint64_t d = uint64_t(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  if (*shift && v > (UINT64_MAX >> *shift)) return std::nullopt;
  return v << *shift;
}

}  // namespace stmf::mgmt
