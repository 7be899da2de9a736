// Fencing an rbd-store LU through Ceph (docs/rbd.md "Fencing", core/store/fencing.h): the pure
// decisions. The owner's store holds the image's exclusive lock, managed (rbd_lock_acquire:
// librbd then refuses a peer's request for it instead of handing it over); a standby that takes
// the LU over after a partition breaks the owner's lock (rbd_lock_break), and librbd blocklists
// the owner's client address in the OSD map first (rbd_blocklist_on_break_lock), so every later
// operation of the old owner fails with EBLOCKLISTED (ESHUTDOWN) at the OSDs.
#pragma once
#include <string>
#include <vector>

#include "core/store/fencing.h"

namespace stmf::rbdstore {

// What rbd_lock_acquire's return says to an opening owner.
enum class Acquire {
  held,     // 0: this client owns the lock; the store serves
  wait,     // another live client holds it (EROFS, EBUSY, EAGAIN: a previous owner handing over
            // and not closed yet) or the cluster did not answer (ETIMEDOUT...): try again; never break
  fenced,   // this client is blocklisted (ESHUTDOWN)
  refused,  // EINVAL: the image has no exclusive-lock feature (the LU is refused)
};
Acquire classify_acquire(int r);

// What breaking the owner's lock came to: rbd_lock_get_owners' return and owners, then each
// owner's rbd_lock_break return (break_rs[i] for owners[i]). No owner (ENOENT, or none listed):
// won, nothing to break. An owner whose break says ENOENT released or lost it meanwhile: won.
store::TakeResult break_outcome(int owners_r, const std::vector<std::string>& owners, const std::vector<int>& break_rs,
                                std::string& detail);

}  // namespace stmf::rbdstore
