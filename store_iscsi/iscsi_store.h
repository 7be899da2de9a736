// The iscsi backing store: an LU whose blocks live on a LUN of another iSCSI target (a SAN),
// reached with libiscsi's asynchronous API on the daemon's io_context (docs/architecture.md
// "The iscsi store"). Lives outside core/ because it needs Asio.
#pragma once
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include "core/store/backing_store.h"
#include "store_iscsi/backend_info.h"

namespace stmf::iscsistore {

struct IscsiStoreOptions {
  std::string url;        // iscsi://host[:port]/target-iqn/lun
  std::string initiator;  // our initiator name on the backend
  std::string chap_user, chap_secret;  // both empty = no CHAP
  bool header_digest = false;          // CRC32C header digest
  uint32_t block_size = 512;           // the LU's; the backend's must be the same
  uint64_t size = 0;                   // bytes served; 0 = the backend's capacity (at most it)
  unsigned queue_depth = 64;           // commands in flight on the backend
  unsigned queue_limit = 1024;         // commands waiting beyond queue_depth (then refused)
  RetryPolicy retry;                   // commands caught by a connection loss
  std::chrono::milliseconds connect_timeout{5000};  // each connect (login + probe) attempt
  unsigned command_timeout_s = 10;     // a backend command not answered by then drops the connection
  std::chrono::milliseconds reconnect_min{100}, reconnect_max{5000};  // back-off between attempts
  // Storage fencing (docs/failover.md "Fencing at the storage"); 0 = none. This node's
  // reservation key: after every (re)connect, before any I/O, the store reads the LUN's keys
  // and reservation (store_iscsi/fence.h decide_on_connect), registers the key through its own
  // I_T nexus (REGISTER AND IGNORE EXISTING KEY, APTPL; a stable ISID keeps the nexus across
  // reconnects) and takes Write Exclusive - Registrants Only when nobody holds it. Fenced (the
  // key was preempted: a RESERVATION CONFLICT, its key gone after a reconnect, or the LUN
  // reserved under another key): no command goes to the SAN any more, every waiting and new
  // command fails with store::fenced_error(), on_fenced runs once (on the store's strand).
  uint64_t fence_key = 0;
  std::function<void(const std::string& why)> on_fenced;
};

// Connects, logs in and probes the backend (READ CAPACITY (16), Block Limits and LBP VPD) on the
// calling thread, bounded by connect_timeout; then serves on `io`. Refuses (null, ec, why): a bad
// URL (EINVAL), an unreachable backend or a failed login (EHOSTUNREACH), a failed probe (EIO),
// a block size other than o.block_size (EDOM), a size beyond the backend's capacity (EOVERFLOW).
std::unique_ptr<store::BackingStore> make_iscsi_store(boost::asio::io_context& io, const IscsiStoreOptions& o,
                                                      std::error_code& ec, std::string& why);

}  // namespace stmf::iscsistore
