// The framework (COMSTAR "stmf"): LU registry, LUN maps, I_T nexuses, the task pipeline and
// task management. Transports create nexuses and submit tasks; LU providers execute them.
//
// The check pipeline runs in one fixed order for every task (see submit()):
//   1. LUN mapped?          no  -> INQUIRY/REPORT LUNS/REQUEST SENSE answered for the
//                                  unmapped LUN, else LOGICAL UNIT NOT SUPPORTED
//   2. REPORT LUNS / REQUEST SENSE answered by the framework
//   3. unit attention pending for this nexus -> CHECK CONDITION with it
//   4. opcode supported by the LU?  no -> INVALID COMMAND OPERATION CODE
//   5. CDB control byte (NACA unsupported)
//   6. reservations (core/reservations.cpp): RESERVATION CONFLICT per SPC-4 tables 65/66;
//      PR IN/OUT and RESERVE/RELEASE are answered there (ALUA plugs in before it)
//   7. LU provider executes
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/it_nexus.h"
#include "core/local_port.h"
#include "core/logical_unit.h"
#include "core/reservations.h"
#include "core/task.h"
#include "core/views.h"

namespace stmf {

// LUN -> LU as one I_T nexus sees it. Immutable once published (swapped as a whole).
struct LunMap {
  std::map<uint64_t, LogicalUnitPtr> luns;
  LogicalUnitPtr find(uint64_t lun) const {
    auto it = luns.find(lun);
    return it == luns.end() ? nullptr : it->second;
  }
};

enum class TmfFunction : uint8_t {
  abort_task = 1,
  abort_task_set = 2,
  clear_aca = 3,
  clear_task_set = 4,
  logical_unit_reset = 5,
  target_warm_reset = 6,
  target_cold_reset = 7,
  task_reassign = 8,
};

struct TmfRequest {
  TmfFunction function = TmfFunction::abort_task;
  uint64_t lun = 0;
  uint32_t referenced_tag = 0;  // ABORT TASK
};

// Counts aborted tasks still executing; runs `done` when the last one finishes.
struct TmfBarrier {
  std::mutex mu;
  int pending = 1;  // one for the TMF itself, released after all tasks are marked
  std::function<void()> done;
  void release();
};

class Stmf {
 public:
  Stmf();
  Stmf(const Stmf&) = delete;
  Stmf& operator=(const Stmf&) = delete;

  // --- LU registry ---
  void add_lu(LogicalUnitPtr lu);
  // Unregisters the LU (it must already be out of the views). Tasks still executing on it
  // finish normally; they hold their own reference.
  void remove_lu(const LogicalUnitPtr& lu);
  std::vector<LogicalUnitPtr> lus() const;

  // --- views ---
  // Publishes a new view table: every nexus's LUN map is recomputed, and each nexus whose
  // map changed gets REPORTED LUNS DATA HAS CHANGED on every LU of its old and new map.
  void set_views(std::shared_ptr<const ViewTable> views);
  // Queues `ua` for every nexus that currently maps `lu` (e.g. CAPACITY DATA HAS CHANGED).
  void raise_for_lu(const LogicalUnitPtr& lu, const scsi::SenseCode& ua);
  // --- reservations (core/reservations.cpp) ---
  // Where APTPL state goes before a PR OUT returns GOOD (nullptr: nowhere; APTPL then only
  // lasts until the daemon stops).
  void set_pr_persistence(PrPersistence* p);
  // Target ports of this SCSI target device (ALL_TG_PT, REGISTER AND MOVE, READ FULL STATUS).
  void add_port(LocalPort& p);
  void remove_port(LocalPort& p);
  std::vector<pr::TargetPort> target_ports() const;

  // Live nexuses (for listing sessions and for the tests).
  std::vector<ItNexusPtr> nexuses() const;

  // --- I_T nexuses ---
  ItNexusPtr create_nexus(LocalPort& port, std::string initiator_name, std::string isid_hex);
  // Logout or connection loss: aborts the nexus's tasks silently, raises I_T NEXUS LOSS
  // OCCURRED for it, and lets LU providers release what it held.
  void nexus_lost(const ItNexusPtr& nexus);

  // --- tasks ---
  void submit(TaskPtr task);
  // Task management: `done` runs once every affected task has finished (from any thread).
  void task_management(const ItNexusPtr& nexus, const TmfRequest& req, std::function<void(TmfResponse)> done);

  // Number of tasks executing across all LUs (for draining at shutdown).
  size_t tasks_in_flight() const;

 private:
  void complete(const LogicalUnitPtr& lu, const TaskPtr& task);
  void finish_without_lu(const TaskPtr& task);
  void answer_unmapped(const TaskPtr& task, const LunMap* map);
  void report_luns(const TaskPtr& task, const LunMap* map);
  void request_sense(const TaskPtr& task, LogicalUnit* lu);
  // Marks matching tasks aborted; returns how many.
  int abort_tasks(LogicalUnit& lu, const std::function<bool(const ScsiTask&)>& match,
                  const std::shared_ptr<TmfBarrier>& barrier);
  void reset_lu(LogicalUnit& lu, ResetKind kind, const std::shared_ptr<TmfBarrier>& barrier);
  // Step 6: true when the task was finished there (RESERVATION CONFLICT, or a reservation
  // command answered); otherwise `admission` holds the LU's reservation lock shared until the
  // task is issued.
  bool reservations_step(const LogicalUnitPtr& lu, const TaskPtr& task, const CommandInfo& ci,
                         std::shared_lock<std::shared_mutex>& admission);
  void apply_reservation_effects(const LogicalUnitPtr& lu, const pr::Effects& e, const ItNexusPtr& issuer);

  mutable std::mutex mu_;
  std::vector<LogicalUnitPtr> lus_;
  std::shared_ptr<const ViewTable> views_ = std::make_shared<ViewTable>();
  std::vector<std::weak_ptr<ItNexus>> nexuses_;
  uint64_t next_nexus_id_ = 1;
  std::atomic<size_t> in_flight_{0};
  std::vector<LocalPort*> ports_;
  PrPersistence* pr_persistence_ = nullptr;
};

}  // namespace stmf
