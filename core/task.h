// A SCSI task (SAM-5 "command") as the framework sees it.
//
// Ownership: the local port that received the command creates the task
// (std::make_shared<ScsiTask>) and fills the "set by the port" fields, including the whole
// Data-Out buffer for commands that carry data to the target, then hands it to
// Stmf::submit(). From then on the framework and the LU provider own it until the framework
// calls exactly one of LocalPort::task_complete() or LocalPort::task_aborted() (through
// deliver() / deliver_aborted(), core/task_stats.h, which count it) — that call
// is the last one the port gets for the task. The shared_ptr keeps it alive across threads.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <vector>

#include "common/buffer_pool.h"
#include "core/scsi/sense.h"

namespace stmf {

class ItNexus;
class LogicalUnit;

// What a command moves, by opcode (core/task_stats.cpp, docs/metrics.md).
enum class IoKind : uint8_t { other, read, write };

// What the framework keeps to count a task when it ends (core/task_stats.h).
struct TaskStats {
  bool counting = false;     // counted at its end (statistics on when it was submitted)
  IoKind kind = IoKind::other;
  uint64_t start_ns = 0;     // steady clock at submit
  uint64_t bytes_out = 0;    // Data-Out bytes at submit (the proxy moves the buffer away)
  std::shared_ptr<LogicalUnit> lu;  // counted against this LU too
};

enum class DataDirection : uint8_t { none, in /* to the initiator */, out /* to the target */, bidi };
enum class TaskAttribute : uint8_t { untagged = 0, simple = 1, ordered = 2, head_of_queue = 3, aca = 4 };

struct ScsiTask {
  // --- set by the port before submit, constant afterwards ---
  std::shared_ptr<ItNexus> nexus;
  uint64_t lun = 0;             // flat LUN number (SAM-5 peripheral/flat addressing decoded)
  uint32_t tag = 0;             // transport task tag (iSCSI ITT), for logs and ABORT TASK
  TaskAttribute attribute = TaskAttribute::simple;
  std::array<uint8_t, 32> cdb{};
  uint8_t cdb_length = 0;
  uint32_t expected_transfer_length = 0;  // iSCSI EDTL
  DataDirection direction = DataDirection::none;  // from the transport's R/W flags
  std::vector<uint8_t> data_out;           // every Data-Out byte received (<= EDTL)
  uint64_t port_cookie = 0;                // the port's own use (the proxy: its task id)

  // --- set by the framework / LU provider ---
  std::vector<uint8_t> data_in;            // bytes for the initiator; may exceed EDTL (overflow)
  // Bytes the CDB itself asked to transfer (e.g. blocks * block size); -1 when the command
  // moves no data or the LU did not say. Ports compute residuals against EDTL from it.
  int64_t transfer_length = -1;
  scsi::Status status = scsi::Status::good;
  std::vector<uint8_t> sense;

  // --- framework bookkeeping ---
  std::atomic<bool> aborted{false};
  std::shared_ptr<struct TmfBarrier> abort_barrier;          // set with `aborted`
  std::list<std::shared_ptr<ScsiTask>>::iterator task_set_pos;  // in the LU's task set
  TaskStats stats;

  // Large data buffers go back to the process's pool (common/buffer_pool.h): the next
  // proxied transfer reuses them instead of page-faulting on fresh memory.
  ~ScsiTask() {
    BufferPool::global().put(std::move(data_in));
    BufferPool::global().put(std::move(data_out));
  }

  uint8_t opcode() const { return cdb[0]; }
  void check_condition(const scsi::SenseCode& s, bool descriptor_format) {
    status = scsi::Status::check_condition;
    sense = scsi::build_sense(s, descriptor_format);
    data_in.clear();
  }
};

using TaskPtr = std::shared_ptr<ScsiTask>;

}  // namespace stmf
