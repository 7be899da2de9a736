// CRC32C (Castagnoli) for iSCSI header and data digests (RFC 7143 13.1, RFC 3720 B.4),
// computed by ISA-L.
//
// Conventions, verified by crc32c_test.cpp against the RFC vectors:
//  * crc32c() returns the finished CRC: initial value 0xffffffff, reflected polynomial
//    0x82F63B78, final XOR 0xffffffff. CRC32C("123456789") == 0xE3069283; 32 zero bytes
//    give 0x8A9136AA.
//  * ISA-L's crc32_iscsi(buf, len, init) returns the *un-inverted* register, so
//    crc32c(p,n) == ~crc32_iscsi(p, n, 0xffffffff) and continuing a finished CRC over more
//    bytes is ~crc32_iscsi(p, n, ~crc) — which is what crc32c_extend() does.
//  * On the wire the 4 digest bytes are the CRC in little-endian order: RFC 3720 B.4 shows
//    the digest of 32 zero bytes (0x8A9136AA) transmitted as "aa 36 91 8a". Use put_digest()
//    and digest_matches(); never store_be32.
//  * The header digest covers BHS + AHS; the data digest covers the data segment plus its
//    padding bytes (pad4(len) zeroes).
#pragma once
#include <isa-l/crc.h>

#include <climits>
#include <cstddef>
#include <cstdint>

namespace stmf::iscsi {

inline uint32_t crc32c_extend(uint32_t crc, const void* data, size_t len) {
  auto* p = static_cast<unsigned char*>(const_cast<void*>(data));  // ISA-L does not write
  uint32_t reg = ~crc;
  while (len > 0) {
    const int n = len > size_t(INT_MAX) ? INT_MAX : int(len);
    reg = crc32_iscsi(p, n, reg);
    p += n;
    len -= size_t(n);
  }
  return ~reg;
}

// CRC32C of a buffer. crc32c_extend(crc32c(a), b) == crc32c(a || b).
inline uint32_t crc32c(const void* data, size_t len) { return crc32c_extend(0, data, len); }

// Digest bytes as sent on the wire (little-endian).
inline void put_digest(uint32_t crc, uint8_t* out) {
  out[0] = uint8_t(crc);
  out[1] = uint8_t(crc >> 8);
  out[2] = uint8_t(crc >> 16);
  out[3] = uint8_t(crc >> 24);
}
inline uint32_t load_digest(const uint8_t* in) {
  return uint32_t(in[0]) | uint32_t(in[1]) << 8 | uint32_t(in[2]) << 16 | uint32_t(in[3]) << 24;
}
inline bool digest_matches(uint32_t crc, const uint8_t* wire) { return load_digest(wire) == crc; }

// Data digest of a data segment: covers the segment and its zero padding.
inline uint32_t data_digest(const void* data, size_t len) {
  static constexpr uint8_t zeroes[4] = {0, 0, 0, 0};
  const uint32_t crc = crc32c(data, len);
  const size_t pad = (4 - (len & 3)) & 3;
  return pad ? crc32c_extend(crc, zeroes, pad) : crc;
}

// Checks the ISA-L build against the RFC vectors (call once at startup); false means digests
// would be wrong and must not be offered.
bool crc32c_self_test();

}  // namespace stmf::iscsi
