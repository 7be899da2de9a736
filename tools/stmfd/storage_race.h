// The takeover race at the storage (docs/failover.md "Fencing at the storage"): a standby node
// whose link to the owner is down takes a SAN-backed LU by PREEMPT AND ABORT of the owner's
// key on the SAN LUN, through a libmhd control handle (the GRP ioctls: MHIOCGRP_INKEYS,
// MHIOCGRP_INRESV, MHIOCGRP_REGISTERANDIGNOREKEY, MHIOCGRP_PREEMPTANDABORT, MHIOCGRP_RESERVE).
// A control handle is the right tool here: the race writes nothing, it only changes who is
// registered; the LU's own store (the nexus that will write) registers the same key on its
// own nexus when the won LU opens, and WE-RO lets every registrant of our key write.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "core/store/fencing.h"
#include "proxy/ownership.h"

namespace stmfd {

struct RaceTarget {
  std::string url;        // the SAN LUN (iscsi://host[:port]/iqn/lun)
  std::string initiator;  // the control handle's initiator name (a nexus of its own)
  uint64_t ours = 0, owner = 0;  // this node's key and the owner's
  // This node registered its key in advance (preregister_key): if it is gone, somebody
  // preempted it, and the race is lost without registering it again.
  bool registered = false;
};

// The standby node's key registered in advance on the SAN LUN (REGISTER AND IGNORE EXISTING KEY,
// APTPL) through the control handle, so that it is a registrant before any race, as every node
// of a fence_scsi cluster is. Blocking (seconds at most). False and why when it failed.
bool preregister_key(const RaceTarget& t, std::string& detail);

// Blocking (seconds at most: libmhd's command timeout). won: the owner's key is preempted (or
// the reservation was ours already, or nobody's and now ours); lost: the SAN refused us with
// RESERVATION CONFLICT (our key was preempted first) or a third key holds it; failed: no
// answer or another error (detail says which).
stmf::proxy::Ownership::RaceResult preempt_owner(const RaceTarget& t, std::string& detail);

// The SAN provider of core/store/fencing.h: prepare() is preregister_key, break_owner() is
// preempt_owner (the other half, the store's own registration and WE-RO, is store_iscsi/fence.h).
std::unique_ptr<stmf::store::StorageFence> make_san_fence(RaceTarget t);

// The ownership machine's race result of a provider's take result (the same three outcomes).
stmf::proxy::Ownership::RaceResult race_result(stmf::store::TakeResult r);

}  // namespace stmfd
