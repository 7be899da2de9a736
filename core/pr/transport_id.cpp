// iSCSI TransportID codec (SPC-4 7.6.4.6, tables 508-510).
//   byte 0: FORMAT CODE (b7-6) | PROTOCOL IDENTIFIER (b3-0, 5h = iSCSI)
//   bytes 2-3: ADDITIONAL LENGTH (>= 20, multiple of 4)
//   format 00b: ISCSI NAME, null-terminated and null-padded
//   format 01b: ISCSI NAME ",i,0x" ISID (12 hex digits), null-terminated and null-padded
#include <algorithm>
#include <cctype>

#include "core/pr/pr_internal.h"

namespace stmf::pr {

namespace detail {

namespace {
constexpr uint8_t kProtoIscsi = 0x5;
constexpr size_t kMaxNameLen = 223;  // RFC 7143: iSCSI names are at most 223 bytes

bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > kMaxNameLen) return false;
  for (unsigned char c : s)
    if (c <= 0x20 || c == 0x7f || c == ',') return false;
  return true;
}
bool valid_isid(const std::string& s) {
  return s.size() == 12 && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c); });
}
std::string lower(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

ParsedTid parse_tid(std::span<const uint8_t> tid) {
  ParsedTid p;
  if (tid.size() < 4) {
    p.error = TidError::truncated;
    return p;
  }
  const uint8_t format = tid[0] >> 6;
  const uint8_t proto = tid[0] & 0x0f;
  const uint16_t addl = be16(&tid[2]);
  p.length = 4 + size_t(addl);
  if (tid.size() < p.length) {
    p.error = TidError::truncated;
    return p;
  }
  p.error = TidError::malformed;
  if (proto != kProtoIscsi || format > 1 || addl < 20 || addl % 4 != 0) return p;
  auto field = tid.subspan(4, addl);
  auto nul = std::find(field.begin(), field.end(), uint8_t(0));
  if (nul == field.end()) return p;  // must be null-terminated
  std::string s = lower(std::string(field.begin(), nul));
  if (format == 0) {
    if (!valid_name(s)) return p;
    p.name = std::move(s);
  } else {
    auto sep = s.find(",i,0x");
    if (sep == std::string::npos) return p;
    std::string name = s.substr(0, sep), isid = s.substr(sep + 5);
    if (!valid_name(name) || !valid_isid(isid)) return p;
    p.name = std::move(name);
    p.isid = std::move(isid);
  }
  p.error = TidError::none;
  return p;
}

}  // namespace detail

std::optional<std::pair<std::string, std::string>> PrEngine::parse_iscsi_transport_id(std::span<const uint8_t> tid,
                                                                                      size_t& consumed) {
  auto p = detail::parse_tid(tid);
  consumed = p.length;
  if (p.error != detail::TidError::none) return std::nullopt;
  return std::make_pair(std::move(p.name), std::move(p.isid));
}

std::vector<uint8_t> PrEngine::iscsi_transport_id(const std::string& name, const std::string& isid) {
  std::string s = isid.empty() ? name : name + ",i,0x" + isid;
  size_t len = (s.size() + 1 + 3) & ~size_t(3);  // NUL terminator, padded to a multiple of 4
  if (len < 20) len = 20;
  std::vector<uint8_t> t(4 + len, 0);
  t[0] = uint8_t((isid.empty() ? 0x00 : 0x40) | 0x05);
  detail::put16(&t[2], uint16_t(len));
  std::copy(s.begin(), s.end(), t.begin() + 4);
  return t;
}

}  // namespace stmf::pr
