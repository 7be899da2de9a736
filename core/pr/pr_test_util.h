// Test helpers for the persistent reservation engine: nexuses, CDB and parameter-list
// builders, result predicates.
#pragma once
#include <algorithm>
#include <array>
#include <cstdio>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "core/pr/pr_engine.h"

namespace stmf::pr::test {

inline const std::string kTgt = "iqn.2024-01.org.stmf:disk1";
inline const TargetPort kP1{kTgt + ",t,0x0001", 1};
inline const TargetPort kP2{kTgt + ",t,0x0002", 2};
inline const std::string kA = "iqn.1994-05.com.redhat:alpha";
inline const std::string kB = "iqn.1994-05.com.redhat:bravo";
inline const std::string kC = "iqn.1994-05.com.redhat:charlie";
inline const std::string kD = "iqn.1994-05.com.redhat:delta";
inline const std::string kIsid1 = "400001370000";
inline const std::string kIsid2 = "400001370001";

inline Nexus nx(const std::string& name, const TargetPort& p = kP1, const std::string& isid = kIsid1) {
  return Nexus{name, isid, p.name, p.rtpi};
}
// The standard cast: a, b, c, d on port 1; a2 = initiator a through port 2; a_isid2 = a with
// another session on port 1.
inline const Nexus a = nx(kA), b = nx(kB), c = nx(kC), d = nx(kD);
inline const Nexus a2 = nx(kA, kP2), b2 = nx(kB, kP2);
inline const Nexus a_isid2 = nx(kA, kP1, kIsid2);

inline std::array<uint8_t, 10> out_cdb(uint8_t action, uint8_t type = 0, uint32_t plen = 24, uint8_t scope = 0) {
  return {0x5f, action, uint8_t(scope << 4 | type), 0, 0,
          uint8_t(plen >> 24), uint8_t(plen >> 16), uint8_t(plen >> 8), uint8_t(plen), 0};
}
inline std::array<uint8_t, 10> in_cdb(uint8_t action, uint16_t alloc = 0xffff) {
  return {0x5e, action, 0, 0, 0, 0, 0, uint8_t(alloc >> 8), uint8_t(alloc), 0};
}

inline void put64(std::vector<uint8_t>& v, size_t o, uint64_t x) {
  for (int i = 7; i >= 0; --i) { v[o + i] = uint8_t(x); x >>= 8; }
}
inline void put32(std::vector<uint8_t>& v, size_t o, uint32_t x) {
  for (int i = 3; i >= 0; --i) { v[o + i] = uint8_t(x); x >>= 8; }
}
inline uint32_t get32(const std::vector<uint8_t>& v, size_t o) {
  return uint32_t(v[o]) << 24 | uint32_t(v[o + 1]) << 16 | uint32_t(v[o + 2]) << 8 | v[o + 3];
}
inline uint64_t get64(const std::vector<uint8_t>& v, size_t o) { return uint64_t(get32(v, o)) << 32 | get32(v, o + 4); }

// Flags of byte 20 of the basic parameter list.
inline constexpr uint8_t SPEC_I_PT = 0x08, ALL_TG_PT = 0x04, APTPL = 0x01;

// Basic PR OUT parameter list (SPC-4 table 175); with tids, SPEC_I_PT layout.
inline std::vector<uint8_t> basic(uint64_t key, uint64_t sa_key, uint8_t flags = 0,
                                  const std::vector<std::vector<uint8_t>>& tids = {}) {
  std::vector<uint8_t> v(24, 0);
  put64(v, 0, key);
  put64(v, 8, sa_key);
  v[20] = flags;
  if (flags & SPEC_I_PT) {
    size_t tpdl = 0;
    for (auto& t : tids) tpdl += t.size();
    v.resize(28, 0);
    put32(v, 24, uint32_t(tpdl));
    for (auto& t : tids) v.insert(v.end(), t.begin(), t.end());
  }
  return v;
}
// REGISTER AND MOVE parameter list (SPC-4 table 176).
inline std::vector<uint8_t> move_params(uint64_t key, uint64_t sa_key, uint16_t rtpi, const std::vector<uint8_t>& tid,
                                        bool unreg = false, bool aptpl = false) {
  std::vector<uint8_t> v(24, 0);
  put64(v, 0, key);
  put64(v, 8, sa_key);
  v[17] = uint8_t((unreg ? 0x02 : 0) | (aptpl ? 0x01 : 0));
  v[18] = uint8_t(rtpi >> 8);
  v[19] = uint8_t(rtpi);
  put32(v, 20, uint32_t(tid.size()));
  v.insert(v.end(), tid.begin(), tid.end());
  return v;
}

// An LU's engine with two target ports.
struct Lu {
  PrEngine e;
  std::vector<TargetPort> ports{kP1, kP2};
  explicit Lu(PrState s = {}, size_t max = kMaxRegistrations) : e(std::move(s), max) {}

  Result out(const Nexus& n, uint8_t action, uint64_t key, uint64_t sa_key, uint8_t type = 0, uint8_t flags = 0,
             uint8_t scope = 0) {
    auto p = basic(key, sa_key, flags);
    auto cdb = out_cdb(action, type, uint32_t(p.size()), scope);
    return e.persistent_reserve_out(n, cdb.data(), p, ports);
  }
  Result out_raw(const Nexus& n, const std::array<uint8_t, 10>& cdb, const std::vector<uint8_t>& p) {
    return e.persistent_reserve_out(n, cdb.data(), p, ports);
  }
  Result out_params(const Nexus& n, uint8_t action, const std::vector<uint8_t>& p, uint8_t type = 0) {
    auto cdb = out_cdb(action, type, uint32_t(p.size()));
    return e.persistent_reserve_out(n, cdb.data(), p, ports);
  }
  Result reg(const Nexus& n, uint64_t key, uint8_t flags = 0) { return out(n, pr_out::kRegister, 0, key, 0, flags); }
  Result resv(const Nexus& n, uint64_t key, uint8_t type) { return out(n, pr_out::kReserve, key, 0, type); }
  Result in(const Nexus& n, uint8_t action, uint16_t alloc = 0xffff) {
    auto cdb = in_cdb(action, alloc);
    return e.persistent_reserve_in(n, cdb.data(), ports);
  }
  const PrState& st() const { return e.state(); }
};

inline bool is_good(const Result& r) { return r.status == Result::Status::good; }
inline bool is_conflict(const Result& r) { return r.status == Result::Status::reservation_conflict; }
inline bool has_sense(const Result& r, const scsi::SenseCode& s) {
  return r.status == Result::Status::check_condition && r.sense && r.sense->key == s.key && r.sense->asc == s.asc &&
         r.sense->ascq == s.ascq;
}

// "initiator/isid/port -> ascq" list of the unit attentions a result asks for.
inline std::vector<std::string> uas(const Result& r) {
  std::vector<std::string> v;
  for (const auto& u : r.effects.unit_attentions) {
    char b[8];
    std::snprintf(b, sizeof b, "%02x/%02x", u.code.asc, u.code.ascq);
    v.push_back(describe(u.who) + " " + b);
  }
  std::sort(v.begin(), v.end());
  return v;
}
inline std::string ua_line(const Nexus& n, const char* code) {
  return n.initiator_name + ",i,0x" + n.isid + " via " + n.target_port + " " + code;
}
inline std::vector<uint64_t> keys(const PrState& s) {
  std::vector<uint64_t> v;
  for (auto& r : s.registrations) v.push_back(r.key);
  return v;
}

}  // namespace stmf::pr::test
