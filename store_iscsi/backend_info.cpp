#include "store_iscsi/backend_info.h"

#include <algorithm>
#include <string_view>

namespace stmf::iscsistore {

namespace {
uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
uint64_t be64(const uint8_t* p) { return uint64_t(be32(p)) << 32 | be32(p + 4); }
}  // namespace

bool parse_read_capacity16(const uint8_t* p, size_t n, BackendInfo& out) {
  if (n < 32) return false;
  const uint64_t last = be64(p);
  const uint32_t bs = be32(p + 8);
  if (bs == 0 || last == UINT64_MAX) return false;
  out.blocks = last + 1;
  out.block_size = bs;
  out.lbpme = p[14] & 0x80;
  out.lbprz = p[14] & 0x40;
  return true;
}

bool parse_block_limits_vpd(const uint8_t* p, size_t n, BackendInfo& out) {
  // Page length 3Ch (SBC-3); older targets send 10h: take the fields present.
  if (n < 16 || p[1] != 0xb0) return false;
  const size_t len = std::min<size_t>(n, size_t(4) + (size_t(p[2]) << 8 | p[3]));
  if (len < 16) return false;
  out.max_transfer_blocks = be32(p + 8);
  if (len >= 28) {
    out.max_unmap_blocks = be32(p + 20);
    out.max_unmap_descriptors = be32(p + 24);
  }
  if (len >= 44) out.max_write_same_blocks = be64(p + 36);
  return true;
}

bool parse_lbp_vpd(const uint8_t* p, size_t n, BackendInfo& out) {
  if (n < 6 || p[1] != 0xb2) return false;
  out.lbpu = p[5] & 0x80;
  out.lbpws = p[5] & 0x40;
  return true;
}

UnmapMethod unmap_method(const BackendInfo& b) {
  if (b.lbpme && b.lbpu && b.lbprz) return UnmapMethod::unmap;
  if (b.lbpme && b.lbpws) return UnmapMethod::write_same_unmap;
  return UnmapMethod::write_same_zero;
}

bool backend_thin(const BackendInfo& b) { return unmap_method(b) != UnmapMethod::write_same_zero; }

RetryVerdict retry_verdict(const RetryPolicy& p, unsigned attempts_made, std::chrono::milliseconds waited) {
  if (attempts_made >= p.max_attempts || waited >= p.max_wait) return RetryVerdict::give_up;
  return RetryVerdict::retry;
}

Verdict classify(int st, uint8_t key, uint8_t asc, uint8_t ascq) {
  using std::errc;
  auto fail = [](errc e) { return Verdict{Outcome::done, std::make_error_code(e)}; };
  switch (st) {
    case status::good:
      return {};
    case status::cancelled:
    case status::error:
    case status::timeout:
      return {Outcome::reconnect, {}};
    case status::busy:
    case status::task_set_full:
    case status::task_aborted:
      return {Outcome::retry, {}};
    case status::reservation_conflict:
      return fail(errc::permission_denied);
    case status::check_condition:
      break;
    default:
      return fail(errc::io_error);
  }
  switch (key) {
    case 0x0:  // NO SENSE / RECOVERED ERROR: the command completed
    case 0x1:
      return {};
    case 0x2:  // NOT READY: the backend's LU is not serving; the front says so too
      return fail(errc::not_connected);
    case 0x6:  // UNIT ATTENTION: reported once, the command was not executed
    case 0xb:  // ABORTED COMMAND: not executed (or not completely); send again
      return {Outcome::retry, {}};
    case 0x5:  // ILLEGAL REQUEST: refused before touching the medium
      return fail(errc::invalid_argument);
    case 0x7:  // DATA PROTECT
      return fail(asc == 0x27 && ascq == 0x07 ? errc::no_space_on_device : errc::read_only_file_system);
    default:  // MEDIUM ERROR, HARDWARE ERROR, MISCOMPARE...
      return fail(errc::io_error);
  }
}

std::string redact_url(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const auto at = url.find('@', scheme + 3);
  const auto slash = url.find('/', scheme + 3);
  if (at == std::string::npos || (slash != std::string::npos && at > slash)) return url;
  return url.substr(0, scheme + 3) + url.substr(at + 1);
}

std::optional<std::string> url_with_chap(const std::string& url, const std::string& user, const std::string& secret,
                                         std::string& why) {
  if (user.empty()) return url;
  constexpr std::string_view kScheme = "iscsi://";
  if (url.rfind(kScheme, 0) != 0) {
    why = "not an iscsi:// URL";
    return std::nullopt;
  }
  if (redact_url(url) != url) {
    why = "the URL carries credentials already";
    return std::nullopt;
  }
  if (user.find_first_of("%:@/") != std::string::npos || secret.find_first_of("@/") != std::string::npos) {
    why = "the CHAP name or secret has a character an iSCSI URL cannot carry ('%', ':', '@' or '/' in the name, "
          "'@' or '/' in the secret)";
    return std::nullopt;
  }
  return std::string(kScheme) + user + "%" + secret + "@" + url.substr(kScheme.size());
}

}  // namespace stmf::iscsistore
