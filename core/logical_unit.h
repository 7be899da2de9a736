// Logical unit provider interface (COMSTAR lpif) and the per-LU state the framework keeps
// for every provider: unit attentions and the task set.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/guid.h"
#include "core/pr/reservation_class.h"
#include "core/scsi/sense.h"
#include "core/stats.h"
#include "core/task.h"

namespace stmf {

struct LuReservations;  // core/reservations.h

// One row of an LU's command table (keyed by opcode and, where used, service action).
// The same table drives dispatch, the framework's checks and REPORT SUPPORTED OPERATION
// CODES.
struct CommandInfo {
  uint8_t opcode = 0;
  uint16_t service_action = 0;
  bool has_service_action = false;
  const char* name = "";
  DataDirection direction = DataDirection::none;
  uint8_t cdb_length = 0;
  // CDB usage bitmap (SPC-4 6.35.3): bit set = the field may be non-zero.
  std::array<uint8_t, 16> usage{};
  ReservationClass reservation = ReservationClass::allowed;
  bool allowed_in_standby = false;  // ALUA standby state (SPC-4 5.16.2.4.4)
  bool allowed_with_ua = false;     // executed without reporting a pending unit attention
};

// Reserved bits and fields of a CDB: everything the row's usage bitmap does not allow
// (SPC-4 4.3.5.1) -> INVALID FIELD IN CDB pointing at the first offending bit.
std::optional<scsi::SenseCode> check_cdb_usage(const CommandInfo& ci, const uint8_t* cdb);

// Unit attention conditions per I_T nexus key (SAM-5 5.14, SPC-4 5.14.8).
// A nexus this LU has never seen gets POWER ON, RESET first. A lost nexus keeps I_T NEXUS
// LOSS OCCURRED for when it returns; only the last kMaxLostNexuses lost nexuses that have not
// returned are remembered (an older one returning sees POWER ON, RESET): every new session
// is a new nexus key, so the table would otherwise grow with every login ever made.
class UnitAttentions {
 public:
  static constexpr size_t kMaxLostNexuses = 1024;

  // Next condition for the nexus, removed from the queue (when take = true).
  std::optional<scsi::SenseCode> next(const std::string& nexus_key, bool take);
  // Queue a condition for every known nexus (except `except`, if not empty); nexuses this LU
  // has not seen yet will see POWER ON, RESET instead, which supersedes it.
  void raise_all(const scsi::SenseCode& s, const std::string& except = {});
  void raise(const std::string& nexus_key, const scsi::SenseCode& s);
  // The nexus is gone: its queue becomes I_T NEXUS LOSS OCCURRED, kept until it returns (a
  // command of it) or until kMaxLostNexuses later losses have pushed it out.
  void nexus_lost(const std::string& nexus_key);
  // How many nexus keys the LU holds a queue for (live and lost).
  size_t size();
  // The nexus's POWER ON, RESET was reported elsewhere (a standby LU: by the active node, to
  // which its commands go): start its queue empty, so later conditions reach it.
  void mark_seen(const std::string& nexus_key);
  // Whether a nexus this LU has not seen starts with POWER ON, RESET (true) or with an empty
  // queue (a standby LU: the active node reports it; conditions raised here before the
  // nexus's first command, such as REPORTED LUNS DATA HAS CHANGED, must not bring one).
  void set_power_on_for_new_nexus(bool on);
  // Remove a specific condition (REPORT LUNS clears REPORTED LUNS DATA HAS CHANGED).
  void clear(const std::string& nexus_key, const scsi::SenseCode& s);
  // Every nexus's queue (oldest first; an empty queue: seen, nothing pending), and replacing
  // them all: a planned switchover carries them to the new owner (the nexus keys are the same
  // on both nodes of an ALUA pair).
  std::map<std::string, std::vector<scsi::SenseCode>> snapshot();
  void restore(const std::map<std::string, std::vector<scsi::SenseCode>>& queues);

 private:
  struct Entry {
    std::deque<scsi::SenseCode> queue;
    uint64_t lost = 0;  // the number of its loss in lost_ (0: live or returned)
  };
  Entry& entry_locked(const std::string& key);
  std::deque<scsi::SenseCode>& queue_locked(const std::string& key) { return entry_locked(key).queue; }
  void forget_lost_locked();  // drops the oldest lost nexuses beyond kMaxLostNexuses
  std::mutex mu_;
  bool power_on_for_new_ = true;
  std::unordered_map<std::string, Entry> queues_;
  std::deque<std::pair<std::string, uint64_t>> lost_;  // oldest first: key, number of the loss
  uint64_t losses_ = 0;
};

// What a planned switchover hands to the new owner besides reservations (docs/alua.md
// "Planned switchover"): the pending unit attention conditions of every nexus and the current
// mode parameters, so the LU goes on as it was (an initiator sees ASYMMETRIC ACCESS STATE
// CHANGED, not POWER ON, RESET, and keeps its MODE SELECT settings).
struct HandoverState {
  std::map<std::string, std::vector<scsi::SenseCode>> unit_attentions;  // nexus key -> queue
  std::vector<uint8_t> mode_pages;  // current values, all pages, MODE SENSE page format
};

// Done callback for LogicalUnit::execute: status/sense/data_in are set on the task.
using TaskDone = std::function<void(const TaskPtr&)>;

enum class ResetKind : uint8_t { logical_unit, target_warm, target_cold };

class LogicalUnit {
 public:
  virtual ~LogicalUnit() = default;

  // 16-byte NAA IEEE Registered Extended identifier (NAA 6): the LU's GUID.
  virtual const Guid& guid() const = 0;
  virtual const std::string& name() const = 0;  // for logs and management

  // The command table row for a CDB, or nullptr when the LU does not support it.
  virtual const CommandInfo* command_info(const uint8_t* cdb, size_t len) const = 0;
  // True when the opcode has rows with service actions: an unknown service action is then
  // INVALID FIELD IN CDB, not INVALID COMMAND OPERATION CODE (SPC-4 4.3.5.1).
  virtual bool has_service_actions(uint8_t opcode) const { return false; }
  // Executes a task that passed the framework checks; calls done exactly once, from any
  // thread, after setting the task's status, sense and data_in.
  virtual void execute(const TaskPtr& task, TaskDone done) = 0;
  // Effects of a reset on LU-provider state (SPC-4: e.g. SCSI-2 reservation released).
  virtual void on_reset(ResetKind kind) {}
  // An I_T nexus ended (logout, connection loss): release what it held.
  virtual void on_nexus_loss(const std::string& nexus_key) {}
  // Makes every completed write durable (a switchover hands the LU to the peer node after
  // it). `done(ok)` runs once, on any thread.
  virtual void flush(std::function<void(bool ok)> done) { done(true); }
  // A condition of the LU that REQUEST SENSE reports when no unit attention is pending (SPC-4
  // 6.39), e.g. a sanitize in progress with its progress indication (SBC-4 4.11); nullopt: none.
  virtual std::optional<scsi::SenseCode> current_condition() const { return std::nullopt; }
  // True when sense data for this LU is built in descriptor format (control mode page D_SENSE).
  virtual bool descriptor_sense() const { return false; }
  // Current mode parameters, every page in MODE SENSE page format (empty: no mode pages),
  // and applying such a list (all or nothing; false when it does not fit this LU).
  virtual std::vector<uint8_t> current_mode_pages() const { return {}; }
  virtual bool restore_mode_pages(const std::vector<uint8_t>& pages) { return pages.empty(); }
  // A planned switchover's state of this LU (above), and taking it over on the new owner.
  HandoverState handover_state();
  bool restore_handover_state(const HandoverState& s);

  UnitAttentions& unit_attentions() { return uas_; }
  // The LU's I/O statistics (core/task_stats.h): commands this node's framework handled for it.
  stats::IoCounters& stats() { return stats_; }
  const stats::IoCounters& stats() const { return stats_; }

  // ALUA role on this node (core/alua.h): a standby LU's commands go to the peer node.
  bool standby() const { return standby_.load(std::memory_order_acquire); }
  void set_standby(bool s) {
    standby_.store(s, std::memory_order_release);
    uas_.set_power_on_for_new_nexus(!s);
  }
  // Ownership not settled (ALUA pair: a node that starts or re-initializes holds its LUs
  // until it has compared ownership epochs with the peer, or stepping down): commands get
  // NOT READY, ASYMMETRIC ACCESS STATE TRANSITION and RTPG reports Transitioning.
  bool transitioning() const {
    return transitioning_.load(std::memory_order_acquire) || fenced_.load(std::memory_order_acquire);
  }
  void set_transitioning(bool t) { transitioning_.store(t, std::memory_order_release); }
  // Fenced at the storage (docs/failover.md "Fencing at the storage": its key was preempted on
  // the SAN): Transitioning for good, whatever the ownership machine releases; only a new LU
  // object (step-down and a later takeover, or a restart) serves again.
  bool fenced() const { return fenced_.load(std::memory_order_acquire); }
  void set_fenced() { fenced_.store(true, std::memory_order_release); }
  // ALUA ownership epoch (docs/alua.md "Fencing"): for an active LU this node's, for a
  // standby LU the one its owner registered it with. Proxied commands carry it; the owner
  // runs only those that name its own.
  uint64_t epoch() const { return epoch_.load(std::memory_order_acquire); }
  void set_epoch(uint64_t e) { epoch_.store(e, std::memory_order_release); }
  // SCSI-2 and persistent reservation state (core/reservations.h), created on first use.
  LuReservations& reservations();

  // Task set: the framework tracks every task in execution on this LU.
  struct TaskSet {
    std::mutex mu;
    std::list<TaskPtr> tasks;
    // I/O that tasks of other LUs run on this LU (an EXTENDED COPY's chunk read or write,
    // core/scsi/sbd_xcopy.cpp): a switchover's drain waits for it as for the tasks.
    uint32_t foreign_io = 0;
    bool idle() const { return tasks.empty() && foreign_io == 0; }
  };
  TaskSet& task_set() { return task_set_; }

 private:
  std::atomic<bool> standby_{false};
  std::atomic<bool> transitioning_{false};
  std::atomic<bool> fenced_{false};
  std::atomic<uint64_t> epoch_{0};
  UnitAttentions uas_;
  stats::IoCounters stats_;
  TaskSet task_set_;
  std::once_flag reservations_once_;
  std::shared_ptr<LuReservations> reservations_;
};

using LogicalUnitPtr = std::shared_ptr<LogicalUnit>;

}  // namespace stmf
