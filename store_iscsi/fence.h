// Storage fencing of an iscsi-store LU (docs/failover.md "Fencing at the storage"): the pure
// part. The store registers this node's reservation key on the SAN LUN through its own I_T
// nexus (the nexus that writes must be the registered one: PR registrations are per I_T nexus),
// the owner holds Write Exclusive - Registrants Only, and a store whose key was preempted never
// registers again on its own: it is fenced. What to do after each (re)connect is decided here
// from the SAN's PR IN data; the CDBs and parameter lists come from libmhd's builders (mhd/scsi.h).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mhd/scsi.h"

namespace stmf::iscsistore {

// The reservation type the owner holds: Write Exclusive - Registrants Only (SPC-4 table 204).
constexpr uint8_t kFenceType = SCSI3_RESV_WRITEEXCLUSIVEREGISTRANTSONLY;
// PR IN allocation: room for this many keys (READ KEYS) or reservations (READ RESERVATION).
constexpr uint32_t kFenceMaxKeys = 64;

// The SAN LUN's persistent-reservation state, as PR IN READ KEYS and READ RESERVATION say.
struct PrView {
  std::vector<uint64_t> keys;     // one per registered I_T nexus
  std::optional<uint64_t> holder;  // the reservation's key, when the LUN is reserved
  uint8_t type = 0;                // the reservation's type
};

// What a store does after a (re)connect, before it sends any I/O.
struct FenceDecision {
  bool fenced = false;   // stop: never register, fail every command (why says it)
  bool reserve = false;  // no reservation on the LUN: take it (RESERVE, type kFenceType)
  std::string why;
};
// `key`: this node's; `registered_before`: this store registered it earlier (then its absence
// means it was preempted). Reserved under another key with this node's key not registered:
// another node took the LU over (it preempted us, possibly while this node was down): fenced.
// Otherwise: register (REGISTER AND IGNORE EXISTING KEY, APTPL), and reserve when the LUN is not
// reserved (reserved under the peer's key with ours registered: a planned switchover left the
// reservation there; WE-RO lets every registrant write, and any takeover preempts keys, not
// reservations).
FenceDecision decide_on_connect(const PrView& v, uint64_t key, bool registered_before);

// PR IN data -> the view. False when the data is malformed.
bool parse_keys(const uint8_t* data, size_t len, PrView& v);
bool parse_reservation(const uint8_t* data, size_t len, PrView& v);

// The commands, built with libmhd's CDB and parameter builders.
struct PrOutCommand {
  mhd::Cdb10 cdb{};
  std::array<uint8_t, mhd::kPrOutParamLen> params{};
};
mhd::Cdb10 read_keys_cdb();
mhd::Cdb10 read_reservation_cdb();
uint16_t pr_in_allocation();
// REGISTER AND IGNORE EXISTING KEY, with APTPL unless the SAN refused it (below).
PrOutCommand register_ignore_cdb(uint64_t key, bool aptpl = true);
// Whether an answer to REGISTER with APTPL set says the SAN cannot persist reservations
// through a power loss: CHECK CONDITION, ILLEGAL REQUEST, INVALID FIELD IN CDB (24h: tgt) or IN
// PARAMETER LIST (26h: SPC-4 for an unsupported APTPL). The store then registers again without
// APTPL (the fence holds while the SAN runs; a SAN restart loses the registration, and the
// store that finds its key gone fences itself).
bool aptpl_refused(int status, uint8_t sense_key, uint16_t asc_ascq);
PrOutCommand reserve_cdb(uint64_t key);          // RESERVE, Write Exclusive - Registrants Only
// PREEMPT AND ABORT of `victim`'s registrations by `key`; the preemptor then holds the
// reservation (type kFenceType).
PrOutCommand preempt_and_abort_cdb(uint64_t key, uint64_t victim);

std::string key_hex(uint64_t key);  // "0x0000000700000001"

}  // namespace stmf::iscsistore
