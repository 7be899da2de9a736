#include "mhd/scsi.h"

#include <cerrno>
#include <cstdio>
#include <algorithm>
#include <cstring>

namespace mhd {

namespace {
constexpr uint8_t kAptplBit = 0x01;

uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
}  // namespace

bool Outcome::unsupported() const {
  return !transport_error && status == kStatusCheckCondition && sense_key == kSenseIllegalRequest &&
         (asc() == kAscInvalidOpcode || asc() == kAscInvalidFieldInCdb);
}

std::string describe(const Outcome& o) {
  char buf[96];
  if (o.transport_error) return "transport error (no SCSI status)";
  switch (o.status) {
    case kStatusGood:
      return "GOOD";
    case kStatusReservationConflict:
      return "RESERVATION CONFLICT";
    case kStatusBusy:
      return "BUSY";
    case kStatusTaskSetFull:
      return "TASK SET FULL";
    case kStatusCheckCondition:
      std::snprintf(buf, sizeof buf, "CHECK CONDITION sense key %xh ASC/ASCQ %02xh/%02xh", o.sense_key, o.asc(),
                    o.asc_ascq & 0xff);
      return buf;
    default:
      std::snprintf(buf, sizeof buf, "SCSI status %02xh", o.status);
      return buf;
  }
}

int errno_for(const Outcome& o) {
  if (o.transport_error) return EIO;
  if (o.status == kStatusGood) return 0;
  if (o.status == kStatusReservationConflict) return EACCES;
  if (o.status == kStatusCheckCondition) {
    if (o.sense_key == kSenseIllegalRequest) return o.unsupported() ? ENOTSUP : EINVAL;
    if (o.sense_key == kSenseDataProtect) return EACCES;
  }
  return EIO;
}

uint64_t key_value(const mhioc_resv_key_t& k) {
  uint64_t v = 0;
  for (uint8_t b : k.key) v = v << 8 | b;
  return v;
}

mhioc_resv_key_t make_key(uint64_t v) {
  mhioc_resv_key_t k;
  for (int i = MHIOC_RESV_KEY_SIZE - 1; i >= 0; --i, v >>= 8) k.key[i] = uint8_t(v);
  return k;
}

Cdb6 reserve6_cdb() { return {op::kReserve6, 0, 0, 0, 0, 0}; }
Cdb6 release6_cdb() { return {op::kRelease6, 0, 0, 0, 0, 0}; }
Cdb6 test_unit_ready_cdb() { return {op::kTestUnitReady, 0, 0, 0, 0, 0}; }
Cdb10 write10_zero_length_cdb() { return {op::kWrite10, 0, 0, 0, 0, 0, 0, 0, 0, 0}; }

Cdb10 pr_out_cdb(uint8_t sa, uint8_t scope, uint8_t type) {
  return {op::kPersistentReserveOut, uint8_t(sa & stmf::scsi::kServiceActionMask),
          uint8_t((scope & 0xf) << 4 | (type & 0xf)), 0, 0, 0, 0, 0, uint8_t(kPrOutParamLen), 0};
}

Cdb10 pr_in_cdb(uint8_t sa, uint16_t alloc) {
  return {op::kPersistentReserveIn, uint8_t(sa & stmf::scsi::kServiceActionMask), 0, 0, 0, 0, 0, uint8_t(alloc >> 8),
          uint8_t(alloc), 0};
}

std::array<uint8_t, kPrOutParamLen> pr_out_params(const mhioc_resv_key_t& key, const mhioc_resv_key_t& sa_key,
                                                  bool aptpl) {
  std::array<uint8_t, kPrOutParamLen> p{};
  std::memcpy(p.data(), key.key, MHIOC_RESV_KEY_SIZE);
  std::memcpy(p.data() + 8, sa_key.key, MHIOC_RESV_KEY_SIZE);
  if (aptpl) p[20] = kAptplBit;
  return p;
}

uint16_t pr_in_allocation(uint32_t listsize, size_t entry) {
  uint64_t want = kPrInHeaderLen + uint64_t(listsize) * entry;
  return uint16_t(want > kPrInMaxAllocation ? kPrInMaxAllocation : want);
}

int parse_read_keys(const uint8_t* data, size_t len, mhioc_inkeys_t* out) {
  if (len < kPrInHeaderLen || !out->li) return EIO;
  out->generation = be32(data);
  uint32_t additional = be32(data + 4);
  if (additional % MHIOC_RESV_KEY_SIZE) return EIO;
  out->li->listlen = additional / MHIOC_RESV_KEY_SIZE;
  size_t have = (len - kPrInHeaderLen) / MHIOC_RESV_KEY_SIZE;
  size_t n = std::min<size_t>({size_t(out->li->listlen), size_t(out->li->listsize), have});
  for (size_t i = 0; i < n; ++i)
    std::memcpy(out->li->list[i].key, data + kPrInHeaderLen + i * MHIOC_RESV_KEY_SIZE, MHIOC_RESV_KEY_SIZE);
  return 0;
}

int parse_read_reservation(const uint8_t* data, size_t len, mhioc_inresvs_t* out) {
  if (len < kPrInHeaderLen || !out->li) return EIO;
  out->generation = be32(data);
  uint32_t additional = be32(data + 4);
  if (additional % kPrInResvDescLen) return EIO;
  out->li->listlen = additional / kPrInResvDescLen;
  size_t have = (len - kPrInHeaderLen) / kPrInResvDescLen;
  size_t n = std::min<size_t>({size_t(out->li->listlen), size_t(out->li->listsize), have});
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* d = data + kPrInHeaderLen + i * kPrInResvDescLen;
    mhioc_resv_desc_t& r = out->li->list[i];
    std::memcpy(r.key.key, d, MHIOC_RESV_KEY_SIZE);
    r.scope_specific_addr = be32(d + 8);
    r.scope = d[13] >> 4;
    r.type = d[13] & 0xf;
  }
  return 0;
}

}  // namespace mhd
