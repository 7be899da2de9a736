// The rbd backing store: an LU whose blocks live in a Ceph RBD image, reached with librbd's
// asynchronous C API; completions come back on the daemon's io_context (docs/rbd.md,
// docs/architecture.md "The rbd store"). Lives outside core/ because it needs Asio.
#pragma once
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include "core/store/backing_store.h"
#include "core/store/fencing.h"

namespace stmf::rbdstore {

struct RbdStoreOptions {
  std::string pool;              // RADOS pool of the image
  std::string image;             // image name
  std::string ns;                // RBD namespace inside the pool; empty = the default one
  std::string client = "admin";  // cephx id (client.<id>)
  std::string conf;              // ceph.conf path; empty = librados' default search
  std::string keyring;           // keyring path; empty = what the conf says
  uint64_t size = 0;             // bytes served; 0 = the image's size (at most it)
  unsigned queue_depth = 64;     // operations in flight on librbd
  unsigned queue_limit = 1024;   // operations waiting beyond queue_depth (then refused: EBUSY)
  unsigned retry_attempts = 2;   // sends per operation caught by a cluster loss, the first included
  std::chrono::milliseconds retry_max{10000};  // how long an operation may wait from its arrival
  unsigned op_timeout_s = 10;    // an OSD/monitor operation not answered by then fails (librados)
  std::chrono::milliseconds connect_timeout{10000};  // the first connect and image open
  std::chrono::milliseconds probe_interval{1000};    // health probe (a 512-byte read) period
  // The image grew (another client resized it; seen through rbd_update_watch): called on the
  // io_context with the new size, once per change, when the store serves the whole image. The
  // callee grows the LU (stmf::sbd::grow_block_lu, which calls grow()) and raises CAPACITY DATA
  // HAS CHANGED; until then the store serves the old size.
  std::function<void(uint64_t new_size)> on_grown;
  // Fencing through Ceph (docs/rbd.md "Fencing", core/store/fencing.h): the LU of an ALUA pair
  // with a cluster id. The store holds the image's exclusive lock, managed (rbd_lock_acquire),
  // before it sends any I/O: a thread of the store takes it after the open, again every
  // acquire_retry while another client holds it (a previous owner handing over), operations
  // waiting meanwhile (at most retry_max, then NOT READY). An image without the exclusive-lock
  // feature is refused (EINVAL). It never breaks a lock (the standby's RbdFence does, on a
  // takeover). Losing it (this client blocklisted: ESHUTDOWN; the lock gone: EROFS on a write)
  // fences the store: every operation fails with store::fenced_error(), on_fenced runs once (on
  // the store's strand). Closing the store releases the lock.
  bool exclusive = false;
  std::chrono::milliseconds acquire_retry{200};
  store::FencedCallback on_fenced;
};

// Validates the options (pure): names non-empty where required, within RBD's limits, limits in
// range. Returns EINVAL with the reason in `why`.
std::error_code check_options(const RbdStoreOptions& o, std::string& why);

// What a failed librbd/librados return value (negative errno) means for the store.
enum class Failure {
  definite,  // the operation failed on a live cluster: complete with the error
  lost,      // the cluster is out of reach (timed out, not connected, shut down): retry, then NOT READY
  fenced,    // this client was blocklisted: fenced (store::fenced_error())
};
// With the exclusive lock held (exclusive), EROFS says the lock is not ours any more: fenced.
Failure classify(int r, bool exclusive = false);

// A read librbd completed with `r` >= 0 bytes of `length`: librbd clips reads at the image's
// end, so fewer bytes say the image shrank under the LU (another client resized it). The read
// then fails (EIO) rather than completing with the buffer's tail unwritten (a pooled buffer
// holds another I/O's old data).
std::error_code read_result(int r, uint64_t length);

// Connects to the cluster and opens the image on the calling thread (bounded by
// connect_timeout); then serves on `io`. Refuses (null, ec, why): bad options (EINVAL), an
// unreachable cluster or failed authentication (EHOSTUNREACH), a missing pool or image
// (ENOENT), a size beyond the image's (EOVERFLOW).
std::unique_ptr<store::BackingStore> make_rbd_store(boost::asio::io_context& io, const RbdStoreOptions& o,
                                                    std::error_code& ec, std::string& why);

// The rbd provider of core/store/fencing.h for a standby node: connects with its own client (the
// options' cluster, pool, image and cephx id), and on break_owner breaks every owner of the
// image's exclusive lock; librbd blocklists each owner's client address first
// (rbd_blocklist_on_break_lock, set here). prepare() has nothing to do. Null with why when
// librbd is unusable or the options are bad.
std::unique_ptr<store::StorageFence> make_rbd_fence(const RbdStoreOptions& o, std::string& why);

// The exclusive lock of a store made with o.exclusive, as a hold the runtime releases when the
// LU leaves this node (core/store/fencing.h FenceHold); null for any other store.
std::shared_ptr<store::FenceHold> fence_hold(store::BackingStore& s);

}  // namespace stmf::rbdstore
