// The pure SCSI side of libmhd: CDBs and PR OUT parameter lists built from the <sys/mhd.h>
// structures, PR IN data parsed into them, and SCSI outcomes mapped to errno.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/scsi/opcodes.h"  // header-only: libmhd does not link the daemon
#include "mhd/mhd.h"

namespace mhd {

constexpr uint8_t kStatusGood = 0x00;
constexpr uint8_t kStatusCheckCondition = 0x02;
constexpr uint8_t kStatusBusy = 0x08;
constexpr uint8_t kStatusReservationConflict = 0x18;
constexpr uint8_t kStatusTaskSetFull = 0x28;

constexpr uint8_t kSenseNotReady = 0x2;
constexpr uint8_t kSenseIllegalRequest = 0x5;
constexpr uint8_t kSenseUnitAttention = 0x6;
constexpr uint8_t kSenseDataProtect = 0x7;

constexpr uint8_t kAscInvalidOpcode = 0x20;
constexpr uint8_t kAscInvalidFieldInCdb = 0x24;
constexpr uint8_t kAscInvalidFieldInParameterList = 0x26;  // also 26/04 INVALID RELEASE OF PR
constexpr uint8_t kAscResetOccurred = 0x29;                // POWER ON, RESET, OR BUS DEVICE RESET
constexpr uint8_t kAscParametersChanged = 0x2a;            // 2A/03..05: reservations changed

// Opcodes, PR OUT and PR IN service actions (SPC-4 6.15, 6.16): core/scsi/opcodes.h.
namespace op = stmf::scsi::op;
namespace pr_in = stmf::scsi::pr_in;
namespace pr_out = stmf::scsi::pr_out;

constexpr size_t kPrOutParamLen = 24;
constexpr size_t kPrInHeaderLen = 8;
constexpr size_t kPrInResvDescLen = 16;
constexpr uint32_t kPrInMaxAllocation = 0xffff;  // ALLOCATION LENGTH is 16 bits

// The outcome of one SCSI command as the library sees it.
struct Outcome {
  bool transport_error = false;  // no status (connection lost, timeout)
  int status = kStatusGood;
  uint8_t sense_key = 0;
  uint16_t asc_ascq = 0;  // ASC << 8 | ASCQ
  uint8_t asc() const { return uint8_t(asc_ascq >> 8); }
  bool good() const { return !transport_error && status == kStatusGood; }
  bool conflict() const { return !transport_error && status == kStatusReservationConflict; }
  bool unit_attention() const {
    return !transport_error && status == kStatusCheckCondition && sense_key == kSenseUnitAttention;
  }
  bool retryable() const {  // the target did not run it: send it again
    return unit_attention() || (!transport_error && (status == kStatusBusy || status == kStatusTaskSetFull));
  }
  bool unsupported() const;  // ILLEGAL REQUEST for the opcode or a CDB field
};
std::string describe(const Outcome& o);

// errno for a failed command (0 for GOOD): RESERVATION CONFLICT -> EACCES; ILLEGAL REQUEST
// naming the opcode or a CDB field (20h, 24h) -> ENOTSUP; other ILLEGAL REQUEST (a field in the
// parameter list, 26h) -> EINVAL; DATA PROTECT -> EACCES; everything else -> EIO.
int errno_for(const Outcome& o);

// Keys: the 8 bytes of mhioc_resv_key_t are the wire bytes (big-endian), as sd sends them.
uint64_t key_value(const mhioc_resv_key_t& k);
mhioc_resv_key_t make_key(uint64_t v);

using Cdb6 = std::array<uint8_t, 6>;
using Cdb10 = std::array<uint8_t, 10>;
Cdb6 reserve6_cdb();
Cdb6 release6_cdb();
Cdb6 test_unit_ready_cdb();
Cdb10 write10_zero_length_cdb();  // the failfast probe for persistent reservations
Cdb10 pr_out_cdb(uint8_t service_action, uint8_t scope, uint8_t type);
Cdb10 pr_in_cdb(uint8_t service_action, uint16_t allocation_length);

// PR OUT basic parameter list (SPC-4 6.16.3): key, SA key, APTPL bit (byte 20 bit 0).
std::array<uint8_t, kPrOutParamLen> pr_out_params(const mhioc_resv_key_t& key, const mhioc_resv_key_t& sa_key,
                                                  bool aptpl);

// ALLOCATION LENGTH for a caller's list of `listsize` entries of `entry` bytes.
uint16_t pr_in_allocation(uint32_t listsize, size_t entry);

// READ KEYS / READ RESERVATION data into the caller's list: generation, listlen = entries on
// the device (from ADDITIONAL LENGTH, which the target never clips), min(listlen, listsize)
// entries copied (never more than the data holds). 0, or EIO when the data is malformed.
int parse_read_keys(const uint8_t* data, size_t len, mhioc_inkeys_t* out);
int parse_read_reservation(const uint8_t* data, size_t len, mhioc_inresvs_t* out);

}  // namespace mhd
