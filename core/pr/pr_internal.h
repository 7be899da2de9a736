// Helpers shared by the persistent-reservation engine's translation units (not public API).
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

#include "core/pr/pr_engine.h"

namespace stmf::pr::detail {

inline uint16_t be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
inline uint32_t be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}
inline uint64_t be64(const uint8_t* p) { return uint64_t(be32(p)) << 32 | be32(p + 4); }
inline void put16(uint8_t* p, uint16_t v) { p[0] = uint8_t(v >> 8); p[1] = uint8_t(v); }
inline void put32(uint8_t* p, uint32_t v) {
  for (int i = 3; i >= 0; --i) { p[i] = uint8_t(v); v >>= 8; }
}
inline void put64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) { p[i] = uint8_t(v); v >>= 8; }
}

inline Result good() { return Result{}; }
inline Result conflict() {
  Result r;
  r.status = Result::Status::reservation_conflict;
  return r;
}
inline Result check(const scsi::SenseCode& s) {
  Result r;
  r.status = Result::Status::check_condition;
  r.sense = s;
  return r;
}
inline std::string hex_key(uint64_t k) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%016llx", static_cast<unsigned long long>(k));
  return b;
}

std::optional<size_t> find_registration(const PrState& st, const Nexus& n);
bool holds(const PrState& st, const Nexus& n);  // PR holder (every registrant for AR types)

inline bool same_nexus(const Nexus& a, const Nexus& b) {
  return a.initiator_name == b.initiator_name && a.isid == b.isid && a.target_port == b.target_port;
}

// SPC-4 5.13.3: with CRH=1 a RESERVE/RELEASE completes with GOOD and changes nothing when it
// comes from the PR holder or, under a registrants-only/all-registrants reservation, from
// any registrant.
inline bool crh_exception(const PrEngine& e, const Nexus& n) {
  const auto& r = e.state().reservation;
  if (!r) return false;
  if (e.is_holder(n)) return true;
  return e.registration_of(n) && (is_registrants_only(r->type) || is_all_registrants(r->type));
}

// TransportID parse outcome with the reason, used by PR OUT to pick the sense code.
enum class TidError { none, truncated, malformed };
struct ParsedTid {
  TidError error = TidError::none;
  size_t length = 0;  // 4 + ADDITIONAL LENGTH, when the header was readable
  std::string name, isid;
};
ParsedTid parse_tid(std::span<const uint8_t> tid);

}  // namespace stmf::pr::detail
