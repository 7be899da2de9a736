// The framework (COMSTAR "stmf"): LU registry, LUN maps, I_T nexuses, the task pipeline and
// task management. Transports create nexuses and submit tasks; LU providers execute them.
//
// The check pipeline runs in one fixed order for every task (see submit(); the same numbers
// label the steps there):
//   1. LUN mapped?          no  -> INQUIRY/REPORT LUNS/REQUEST SENSE answered for the
//                                  unmapped LUN, else LOGICAL UNIT NOT SUPPORTED
//   2. REPORT LUNS answered by the framework
//   3. a standby LU whose peer link is up: a unit attention this node raised on it is reported
//      here, everything else goes to the active node, which runs this same pipeline
//      (core/alua.h)
//   4. REQUEST SENSE answered by the framework
//   5. unit attention pending for this nexus -> CHECK CONDITION with it
//   6. opcode supported by the LU?  no -> INVALID COMMAND OPERATION CODE
//   7. CDB control byte (NACA unsupported)
//   8. ALUA: REPORT TARGET PORT GROUPS answered; a standby LU without its peer answers as
//      Unavailable (02/04/0C)
//   9. reservations (core/reservations.cpp): RESERVATION CONFLICT per SPC-4 tables 65/66;
//      PR IN/OUT and RESERVE/RELEASE are answered there; then SET TARGET PORT GROUPS is
//      answered by the framework
//  10. LU provider executes
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/alua.h"
#include "core/guid.h"
#include "core/it_nexus.h"
#include "core/local_port.h"
#include "core/logical_unit.h"
#include "core/reservations.h"
#include "core/task.h"
#include "core/views.h"

namespace stmf {

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

// Told when an I_T nexus (this node's or a proxied one) begins and ends: the session
// accounting (docs/array-sessions.md). Called outside the framework's locks, from the thread
// that made the change.
class SessionListener {
 public:
  virtual ~SessionListener() = default;
  virtual void session_started(const ItNexusPtr& n) = 0;
  virtual void session_ended(const ItNexusPtr& n) = 0;
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
  // The standby node's copy of the reservation state (ALUA pair); set once before serving.
  void set_reservation_mirror(ReservationMirror* m);
  // Target ports of this SCSI target device (ALL_TG_PT, REGISTER AND MOVE, READ FULL STATUS).
  void add_port(LocalPort& p);
  void remove_port(LocalPort& p);
  std::vector<pr::TargetPort> target_ports() const;

  // Live nexuses (for listing sessions and for the tests).
  std::vector<ItNexusPtr> nexuses() const;
  // The registered LU with this GUID (nullptr when none).
  LogicalUnitPtr find_lu(const Guid& guid) const;

  // --- ALUA pair (core/alua.h) ---
  // Set once at startup, before any port is online; the objects outlive the framework's use.
  void set_peer(PeerForwarder* forwarder, NexusObserver* observer);
  void set_alua(const AluaGroups& g);
  AluaGroups alua() const;
  // A nexus for a session of the peer node (its port is a proxy port), seeing `luns`
  // (LUN -> GUID) resolved against this node's active LUs.
  // `ash`: the session's array session handle as the peer allocated it (kAshNone: a peer
  // that sent none; one is allocated here).
  ItNexusPtr create_remote_nexus(LocalPort& port, std::string initiator_name, std::string isid_hex,
                                 uint64_t remote_id, std::vector<std::pair<uint64_t, Guid>> luns,
                                 ars::ash_t ash = ars::kAshNone);
  // A command of a remote nexus names a LUN its list lacks (the peer's list update is in
  // flight): add it quietly when `guid` is an active LU here. Returns the LU or nullptr.
  LogicalUnitPtr ensure_remote_lun(const ItNexusPtr& n, uint64_t lun, const Guid& guid);
  // Target ports registered (this node's and the peer's proxy ports).
  std::vector<LocalPort*> ports() const;
  // The peer says the session's LUNs changed: REPORTED LUNS DATA HAS CHANGED as for views.
  void set_remote_luns(const ItNexusPtr& n, std::vector<std::pair<uint64_t, Guid>> luns);
  // Queues `ua` on every LU for every nexus (ASYMMETRIC ACCESS STATE CHANGED); only_standby /
  // only_active restrict it to LUs of that role.
  void raise_alua_change(bool standby_lus, bool active_lus);

  // --- I_T nexuses ---
  ItNexusPtr create_nexus(LocalPort& port, std::string initiator_name, std::string isid_hex);
  // Logout or connection loss: aborts the nexus's tasks silently, raises I_T NEXUS LOSS
  // OCCURRED for it, and lets LU providers release what it held.
  void nexus_lost(const ItNexusPtr& nexus);

  // --- array sessions (core/array_session.h, docs/array-sessions.md) ---
  // Every nexus gets its handle at creation; the settings are the daemon's (arsctl).
  ars::ArraySessions& array_sessions() { return *ars_; }
  // Told when a nexus (local or remote) begins and ends; the session accounting. Set once at
  // startup; called outside the framework's locks.
  void set_session_listener(SessionListener* l);
  // The SPI a session reports: its own, or the default SPI fitted to its length.
  std::vector<uint8_t> session_spi(const ItNexus& n) const;
  // The live nexus with this handle (a proxied session is known on both nodes by it).
  ItNexusPtr find_nexus(ars::ash_t ash) const;

  // --- tasks ---
  void submit(TaskPtr task);
  // Task management: `done` runs once every affected task has finished (from any thread).
  void task_management(const ItNexusPtr& nexus, const TmfRequest& req, std::function<void(TmfResponse)> done);

  // Number of tasks executing across all LUs (for draining at shutdown).
  size_t tasks_in_flight() const;

  // I/O statistics (core/task_stats.h, config metrics.statistics): counting on (the default)
  // or off for commands submitted from now on.
  void set_statistics(bool on) { statistics_.store(on, std::memory_order_relaxed); }
  bool statistics() const { return statistics_.load(std::memory_order_relaxed); }

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
  // Step 9: true when the task was finished there (RESERVATION CONFLICT, or a reservation
  // command answered); otherwise `admission` holds the LU's reservation lock shared until the
  // task is issued.
  bool reservations_step(const LogicalUnitPtr& lu, const TaskPtr& task, const CommandInfo& ci,
                         std::shared_lock<std::shared_mutex>& admission);
  void apply_reservation_effects(const LogicalUnitPtr& lu, const pr::Effects& e, const ItNexusPtr& issuer);
  // Step 8: true when the task was finished there. `forward_refused`: the peer forwarder
  // refused the task (answered as for a standby LU whatever the LU's state now).
  bool alua_step(const LogicalUnitPtr& lu, const TaskPtr& task, bool forward_refused);
  void report_target_port_groups(const LogicalUnitPtr& lu, const TaskPtr& task);
  void set_target_port_groups(const LogicalUnitPtr& lu, const TaskPtr& task);
  std::shared_ptr<const LunMap> map_for(const ItNexus& n) const;  // under mu_
  // The nexus's handle (the peer's `given`, else a new one) and SPI length.
  void begin_array_session(ItNexus& n, ars::ash_t given);

  mutable std::mutex mu_;
  std::vector<LogicalUnitPtr> lus_;
  std::shared_ptr<const ViewTable> views_ = std::make_shared<ViewTable>();
  std::vector<std::weak_ptr<ItNexus>> nexuses_;
  uint64_t next_nexus_id_ = 1;
  std::atomic<size_t> in_flight_{0};
  std::atomic<bool> statistics_{true};
  std::vector<LocalPort*> ports_;
  PrPersistence* pr_persistence_ = nullptr;
  ReservationMirror* mirror_ = nullptr;
  PeerForwarder* forwarder_ = nullptr;
  NexusObserver* observer_ = nullptr;
  SessionListener* session_listener_ = nullptr;
  std::shared_ptr<ars::ArraySessions> ars_ = std::make_shared<ars::ArraySessions>();  // nexuses hold it too
  AluaGroups alua_;
  // Remote nexuses' LUN lists (LUN -> GUID), by nexus id.
  std::unordered_map<uint64_t, std::vector<std::pair<uint64_t, Guid>>> remote_luns_;
};

}  // namespace stmf
