// Fencing at the storage (docs/failover.md "Fencing at the storage"): one interface, two
// providers, chosen by the LU's store when the ALUA pair has a cluster id.
//
//   provider  | owner's hold                        | takeover after a partition        | fenced (lost the hold)
//   san_pr    | its key registered, WE-RO reserved  | PREEMPT AND ABORT of the owner's  | its key preempted: RESERVATION
//   (iscsi)   | on the SAN LUN (store_iscsi/fence.h)| key (tools/stmfd/storage_race.h)  | CONFLICT, or the key gone
//   rbd_lock  | the image's exclusive lock, managed | break the owner's lock; librbd    | the client blocklisted (writes
//   (rbd)     | (rbd_lock_acquire; store_rbd/)      | blocklists its client address     | fail ESHUTDOWN) or the lock lost
//
// The owner's store takes the hold when it opens (cooperatively: it waits for a previous owner
// that is handing over, it never breaks anything), reports losing it through FencedCallback (the
// LU then stops: Transitioning) and gives it back when it closes (becoming standby). Breaking the
// owner's hold is the standby's act, through StorageFence, before the LU is configured there.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace stmf::store {

enum class FenceProvider { none, san_pr, rbd_lock };

// The provider of an LU of store `store` ("iscsi", "rbd", "file", ...) in a pair with a cluster
// id (the alua.takeover rules are the same for both).
inline FenceProvider fence_provider(std::string_view store) {
  if (store == "iscsi") return FenceProvider::san_pr;
  if (store == "rbd") return FenceProvider::rbd_lock;
  return FenceProvider::none;
}

inline const char* provider_name(FenceProvider p) {
  switch (p) {
    case FenceProvider::san_pr: return "SCSI persistent reservation on the SAN LUN";
    case FenceProvider::rbd_lock: return "RBD exclusive lock and blocklist";
    case FenceProvider::none: break;
  }
  return "none";
}

// A store fenced at its storage says so once, with why (on the store's own executor).
using FencedCallback = std::function<void(const std::string& why)>;

// The owner's hold, kept by the runtime beside its LU: release() gives it back at once when
// the LU leaves this node (stepped down, handed over, deleted, reopened), whoever still holds
// the LU object; the store sends nothing more afterwards. Blocking (one round trip at most).
// The rbd provider's is the exclusive lock (rbd_lock_release); the SAN provider keeps its key
// registered (the standby is a registrant too) and has none.
class FenceHold {
 public:
  virtual ~FenceHold() = default;
  virtual void release() = 0;
};

// The outcome of breaking the owner's hold.
enum class TakeResult {
  won,     // the owner's hold is broken (or there was none): this node may open the LU
  lost,    // this node was fenced first (SAN: its own key preempted): stay standby
  failed,  // no answer or an error (detail says which): stay standby, try again later
};

// One LU's storage, seen from a standby node that may have to take it over.
class StorageFence {
 public:
  virtual ~StorageFence() = default;
  virtual FenceProvider provider() const = 0;
  // Standby here: get ready to take over (SAN: register this node's key in advance, as every
  // node of a fence_scsi cluster is a registrant; RBD: nothing, true). Blocking, seconds at most.
  virtual bool prepare(std::string& detail) = 0;
  // Takeover after a partition: break the owner's hold (SAN: PREEMPT AND ABORT of its key; RBD:
  // break the image's exclusive lock, which blocklists the owner's client in the cluster).
  // Blocking, bounded by the provider's timeouts.
  virtual TakeResult break_owner(std::string& detail) = 0;
};

}  // namespace stmf::store
