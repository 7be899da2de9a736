// Counting tasks (docs/metrics.md, docs/architecture.md "Statistics"): every command the
// framework receives (Stmf::submit, including those the proxy submits for the peer's
// sessions) is counted once, when it ends, against its session (ItNexus::stats()), its target
// port (LocalPort::stats()) and, when this node's framework handles it, its LU
// (LogicalUnit::stats()). A task forwarded to the peer is counted there against the LU; here
// only against its session and port.
//
// Every completion goes through deliver() / deliver_aborted(), which count and then hand the
// task back to its port: the framework's own paths and the proxy's forwarder (the peer's
// answer to a forwarded task) use them, never LocalPort::task_complete directly.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>

#include "core/stats.h"
#include "core/task.h"

namespace stmf {

class LogicalUnit;

IoKind io_kind(uint8_t opcode);

// The error class a SCSI status counts as (nullptr: GOOD or CONDITION MET).
const stats::ErrorClass* error_class(scsi::Status s);

inline uint64_t stats_now_ns() {
  return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

// Start counting a task against its session and port (Stmf::submit, when statistics are on).
void count_start(ScsiTask& t);
// The task is handled by this node's framework for `lu`: counted against the LU too.
void count_lu(ScsiTask& t, const std::shared_ptr<LogicalUnit>& lu);

// Count the task's end and hand it to its port.
void deliver(const TaskPtr& t);
void deliver_aborted(const TaskPtr& t);

}  // namespace stmf
