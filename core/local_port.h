// Local port: a target port a transport (iSCSI, the proxy) provides to the framework
// (COMSTAR portif / LIO fabric ops). Core calls it to hand tasks back.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/stats.h"
#include "core/task.h"

namespace stmf {

enum class TmfResponse : uint8_t {
  function_complete = 0,
  task_does_not_exist = 1,
  lun_does_not_exist = 2,
  task_still_allegiant = 3,
  reassignment_not_supported = 4,
  function_not_supported = 5,
  authorization_failed = 6,
  function_rejected = 255,
};

class LocalPort {
 public:
  virtual ~LocalPort() = default;

  // SCSI name of the target port, e.g. "iqn.2026-11.org.example:t0,t,0x0001".
  virtual const std::string& port_name() const = 0;
  // SCSI name of the target (device) the port belongs to, e.g. the iSCSI target IQN.
  virtual const std::string& target_name() const = 0;
  // Relative target port identifier (SPC-4 7.8.6.4) and target port group.
  virtual uint16_t rtpi() const = 0;
  virtual uint16_t tpg() const = 0;
  // SPC-4 protocol identifier (5 = iSCSI).
  virtual uint8_t protocol_id() const { return 5; }

  // The task finished: send data_in (if any) and status/sense. Called from any thread,
  // exactly once per task unless task_aborted() is called instead.
  virtual void task_complete(TaskPtr task) = 0;
  // The task was aborted by task management or nexus loss: send nothing for it
  // (unless the port's protocol says otherwise) and free it. Called from any thread.
  virtual void task_aborted(TaskPtr task) = 0;

  // The port's I/O statistics (core/task_stats.h): every command received through it.
  stats::IoCounters& stats() { return stats_; }
  const stats::IoCounters& stats() const { return stats_; }

 private:
  stats::IoCounters stats_;
};

}  // namespace stmf
