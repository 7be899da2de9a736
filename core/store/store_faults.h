// Fault injection for tests (StoreOptions::faults): a unit test makes chosen file store
// operations fail the way the kernel would, through the store's configuration rather than
// link tricks. Each error field is an errno, 0 = no fault; tests may change them at any time.
// The daemon never sets StoreOptions::faults.
#pragma once
#include <atomic>

namespace stmf::store {

struct StoreFaults {
  // The next flush reports this error, once (reset to 0 when it fires). The flush itself still
  // runs: this is fdatasync after a failed writeback, which Linux reports once and then clears,
  // so the flush after it succeeds although the written pages were lost.
  std::atomic<int> flush_once{0};
  // Every read fails with this error (a medium that cannot be read).
  std::atomic<int> read{0};
  // Every io_uring_submit fails with this error (io_uring engine only): the kernel refuses to
  // take the ring's SQEs, e.g. ENOMEM that does not go away.
  std::atomic<int> uring_submit{0};
  // Every inline buffered write (page-cache fast path) is held this many microseconds after its
  // pwrite, inside the time the store measures: asleep (inline_write_stall_spins false: a write
  // blocked in the kernel, as in dirty-page throttling) or running on the CPU (true: no voluntary
  // context switch, as for a thread preempted on a busy machine). 0 = not held.
  std::atomic<int> inline_write_stall_us{0};
  std::atomic<bool> inline_write_stall_spins{false};
};

}  // namespace stmf::store
