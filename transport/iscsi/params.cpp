#include "transport/iscsi/params.h"

#include <algorithm>

namespace stmf::iscsi {

const char* to_string(Digest d) { return d == Digest::crc32c ? "CRC32C" : "None"; }

std::optional<Digest> parse_digest(std::string_view s) {
  if (s == "CRC32C") return Digest::crc32c;
  if (s == "None") return Digest::none;
  return std::nullopt;
}

std::optional<uint64_t> parse_number(std::string_view s, uint64_t max) {
  if (s.empty()) return std::nullopt;
  unsigned base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  }
  if (s.size() > 20) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    unsigned d;
    if (c >= '0' && c <= '9')
      d = unsigned(c - '0');
    else if (base == 16 && c >= 'a' && c <= 'f')
      d = unsigned(c - 'a' + 10);
    else if (base == 16 && c >= 'A' && c <= 'F')
      d = unsigned(c - 'A' + 10);
    else
      return std::nullopt;
    if (v > (UINT64_MAX - d) / base) return std::nullopt;
    v = v * base + d;
  }
  if (v > max) return std::nullopt;
  return v;
}

std::optional<bool> parse_bool(std::string_view s) {
  if (s == "Yes") return true;
  if (s == "No") return false;
  return std::nullopt;
}

std::vector<std::string_view> split_list(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (true) {
    size_t c = s.find(',', i);
    out.push_back(s.substr(i, c == std::string_view::npos ? std::string_view::npos : c - i));
    if (c == std::string_view::npos) break;
    i = c + 1;
  }
  return out;
}

std::optional<Digest> choose_digest(std::string_view offer, const std::vector<Digest>& allowed) {
  for (auto v : split_list(offer)) {
    auto d = parse_digest(v);
    if (d && std::find(allowed.begin(), allowed.end(), *d) != allowed.end()) return d;
  }
  return std::nullopt;
}

std::optional<uint64_t> negotiate_min(std::string_view offer, uint64_t ours, uint64_t lo, uint64_t hi) {
  auto v = parse_number(offer);
  if (!v || *v < lo || *v > hi) return std::nullopt;
  return std::min(*v, ours);
}

std::optional<uint64_t> negotiate_max(std::string_view offer, uint64_t ours, uint64_t lo, uint64_t hi) {
  auto v = parse_number(offer);
  if (!v || *v < lo || *v > hi) return std::nullopt;
  return std::max(*v, ours);
}

std::optional<bool> negotiate_or(std::string_view offer, bool ours) {
  auto v = parse_bool(offer);
  if (!v) return std::nullopt;
  return *v || ours;
}

std::optional<bool> negotiate_and(std::string_view offer, bool ours) {
  auto v = parse_bool(offer);
  if (!v) return std::nullopt;
  return *v && ours;
}

}  // namespace stmf::iscsi
