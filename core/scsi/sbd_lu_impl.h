// Internal: the block LU class shared by the sbd_*.cpp files (dispatch and command table
// in sbd_lu.cpp, medium access in sbd_io.cpp, inquiry/capacity/reporting in sbd_info.cpp,
// mode pages in sbd_mode.cpp). Not part of the public API: include sbd_lu.h.
#pragma once
#include <atomic>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <system_error>

#include "core/scsi/durability_latch.h"
#include "core/scsi/lba_range_lock.h"
#include "core/scsi/mode_pages.h"
#include "core/scsi/sbd_lu.h"
#include "core/scsi/xcopy.h"

namespace stmf::sbd {

class BlockLu;
using Handler = void (BlockLu::*)(const TaskPtr&, TaskDone&);

// Row flags: checks execute() applies from the table before calling the handler.
enum RowFlag : uint8_t {
  kMedium = 1,     // needs an accessible medium: NOT READY while stopped
  kModifies = 2,   // modifies the medium: DATA PROTECT when write-protected
  kThinOnly = 4,   // listed only when the store is thin-provisioned (UNMAP)
  kDuringSanitize = 8,  // allowed while a sanitize runs (SBC-4 4.11.2)
  kSanitizeRow = 16,    // a SANITIZE service action: listed only when the LU allows SANITIZE
};

// The sanitize state of a block LU (SBC-4 4.11): none running, one running, or the last one
// failed (medium commands refused until a successful sanitize or EXIT FAILURE MODE).
enum class SanitizeState : uint8_t { idle, running, failed };

struct CommandRow {
  CommandInfo info;
  Handler handler;  // nullptr: answered by the framework (REPORT LUNS, REQUEST SENSE)
  uint8_t flags;
  uint32_t nominal_timeout;      // seconds (RSOC command timeouts descriptor)
  uint32_t recommended_timeout;  // seconds
};

// Decoded LBA / length fields of the READ/WRITE/VERIFY/... CDB families.
struct LbaRange {
  uint64_t lba = 0;
  uint32_t blocks = 0;
  uint8_t length_byte = 0;  // CDB byte of the length field (field pointers)
};
LbaRange decode_lba_range(const uint8_t* cdb);

class BlockLu final : public LogicalUnit, public std::enable_shared_from_this<BlockLu> {
 public:
  BlockLu(BlockLuConfig cfg, std::unique_ptr<store::BackingStore> store);

  const Guid& guid() const override { return cfg_.guid; }
  const std::string& name() const override { return cfg_.name; }
  const CommandInfo* command_info(const uint8_t* cdb, size_t len) const override;
  bool has_service_actions(uint8_t opcode) const override;
  void execute(const TaskPtr& task, TaskDone done) override;
  void on_reset(ResetKind kind) override;
  void on_nexus_loss(const std::string& nexus_key) override;
  bool descriptor_sense() const override { return modes_.d_sense(); }
  std::optional<scsi::SenseCode> current_condition() const override { return sanitize_condition(); }
  std::vector<uint8_t> current_mode_pages() const override;
  bool restore_mode_pages(const std::vector<uint8_t>& pages) override;
  void flush(std::function<void(bool ok)> done) override {
    store_flush("flush for switchover", [done = std::move(done)](std::error_code ec) { done(!ec); });
  }

  // Management (modify-lu), safe while I/O runs.
  std::error_code grow(uint64_t bytes);
  void set_write_protect(bool on) { write_protect_.store(on); }
  void set_write_cache(bool on) { modes_.set_default_wce(on); }
  // The durability latch (see store_write below): what tripped it, and clearing it
  // (management: online-lu after offline-lu). clear returns what was cleared.
  std::optional<std::string> durability_fault() const { return latch_.reason(); }
  std::optional<std::string> clear_durability_fault();

  static std::span<const CommandRow> table();

  // --- handlers (one per table row family) ---
  void h_test_unit_ready(const TaskPtr&, TaskDone&);
  void h_inquiry(const TaskPtr&, TaskDone&);
  void h_mode_sense(const TaskPtr&, TaskDone&);
  void h_mode_select(const TaskPtr&, TaskDone&);
  void h_start_stop_unit(const TaskPtr&, TaskDone&);
  void h_prevent_allow(const TaskPtr&, TaskDone&);
  void h_read_capacity10(const TaskPtr&, TaskDone&);
  void h_read_capacity16(const TaskPtr&, TaskDone&);
  void h_get_lba_status(const TaskPtr&, TaskDone&);
  void h_report_opcodes(const TaskPtr&, TaskDone&);
  void h_report_tmfs(const TaskPtr&, TaskDone&);
  void h_read(const TaskPtr&, TaskDone&);
  void h_write(const TaskPtr&, TaskDone&);
  void h_write_verify(const TaskPtr&, TaskDone&);
  void h_verify(const TaskPtr&, TaskDone&);
  void h_orwrite(const TaskPtr&, TaskDone&);
  void h_compare_and_write(const TaskPtr&, TaskDone&);
  void h_write_same(const TaskPtr&, TaskDone&);
  void h_unmap(const TaskPtr&, TaskDone&);
  void h_sync_cache(const TaskPtr&, TaskDone&);
  void h_prefetch(const TaskPtr&, TaskDone&);
  void h_read_defect_data(const TaskPtr&, TaskDone&);
  void h_write_atomic(const TaskPtr&, TaskDone&);
  void h_extended_copy(const TaskPtr&, TaskDone&);
  void h_receive_copy_results(const TaskPtr&, TaskDone&);
  void h_sanitize(const TaskPtr&, TaskDone&);

 private:
  const CommandRow* find_row(const uint8_t* cdb) const;
  bool listed(const CommandRow& r) const {
    return (!(r.flags & kThinOnly) || thin_) && (!(r.flags & kSanitizeRow) || cfg_.sanitize);
  }

  void fail(const TaskPtr& t, TaskDone& done, const scsi::SenseCode& s) {
    t->check_condition(s, descriptor_sense());
    done(t);
  }
  // Checks [lba, lba+blocks) against the capacity (64-bit overflow safe; with 0 blocks the
  // LBA itself must exist) and, when max_blocks != 0, the length limit.
  std::optional<scsi::SenseCode> check_range(const LbaRange& r, uint32_t max_blocks) const;
  bool write_protected() const { return write_protect_.load(std::memory_order_relaxed) || modes_.swp(); }
  static std::optional<scsi::SenseCode> transient_error(std::error_code ec);
  static scsi::SenseCode read_error(std::error_code ec);
  static scsi::SenseCode write_error(std::error_code ec);

  // Store calls that promise durability go through these two (docs/failover.md "What
  // survives what"). A failed flush or FUA write trips latch_ (errors the store gives before
  // touching the medium, EINVAL and EROFS, do not); once tripped, every later flush and FUA
  // write fails at once with EIO (MEDIUM ERROR, WRITE ERROR) without reaching the store.
  // Writes without FUA and reads go straight to the store. `what` names the caller in the log.
  void store_write(uint64_t offset, std::span<const uint8_t> buf, bool fua, store::Completion done);
  void store_flush(const char* what, store::Completion done);
  void note_durability_failure(const char* what, std::error_code ec);

  struct WriteSameOp;
  struct UnmapOp;
  struct VerifyOp;
  void write_common(const TaskPtr& t, TaskDone& done, bool force_fua);
  // The whole blocks of Data-Out a WRITE-like command writes (sbd_io.cpp), or why it is refused.
  std::optional<scsi::SenseCode> blocks_sent(const TaskPtr& t, uint64_t cdb_blocks, uint64_t& blocks) const;
  void write_same_step(const std::shared_ptr<WriteSameOp>& op);
  void unmap_step(const std::shared_ptr<UnmapOp>& op);
  void verify_step(const std::shared_ptr<VerifyOp>& op);

  // EXTENDED COPY (sbd_xcopy.cpp): the copy manager of this LU moves data between the block
  // LUs its I_T nexus sees, through their stores and range locks, one chunk at a time.
  struct XcopyOp;
  // Resolves and checks every segment before any data moves; `conflict`: a reservation
  // conflict on a source or destination LU.
  std::optional<scsi::SenseCode> xcopy_prepare(XcopyOp& op, bool& conflict) const;
  void xcopy_start_segment(XcopyOp& op);
  void xcopy_step(const std::shared_ptr<XcopyOp>& op);
  void xcopy_finish(const std::shared_ptr<XcopyOp>& op, std::optional<scsi::SenseCode> s);

  // SANITIZE (sbd_sanitize.cpp): runs in the background, one chunk at a time under the range
  // lock, paced by cfg_.sanitize_rate; survives aborts and resets (SBC-4 4.11.2).
  struct SanitizeOp;
  // What a command that the sanitize state refuses gets: NOT READY, SANITIZE IN PROGRESS with
  // the progress indication, or MEDIUM ERROR, SANITIZE COMMAND FAILED; nullopt: idle.
  std::optional<scsi::SenseCode> sanitize_condition() const;
  void sanitize_step(const std::shared_ptr<SanitizeOp>& op);
  void sanitize_finish(const std::shared_ptr<SanitizeOp>& op, std::error_code ec);

  // Writes `blocks` blocks from buf at lba under an exclusive range lock, then completes.
  void locked_write(const TaskPtr& t, TaskDone& done, uint64_t lba, uint64_t blocks, const uint8_t* buf, bool fua);
  // Reads under an exclusive range lock: the READ path when an atomic write may overlap.
  void locked_read(const TaskPtr& t, TaskDone& done, uint64_t lba, uint64_t blocks);
  // Read-modify-write under an exclusive range lock (COMPARE AND WRITE, ORWRITE).
  void locked_rmw(const TaskPtr& t, TaskDone& done, uint64_t lba, uint32_t blocks, bool fua, bool compare);

  void inquiry_standard(std::vector<uint8_t>& d) const;
  bool inquiry_vpd(uint8_t page, const TaskPtr& t, std::vector<uint8_t>& d) const;

  const BlockLuConfig cfg_;
  const std::unique_ptr<store::BackingStore> store_;
  const uint32_t bs_;
  const uint32_t bs_shift_;
  std::atomic<uint64_t> blocks_;  // capacity in logical blocks (grows with modify-lu -s)
  const bool thin_;
  const uint32_t max_transfer_blocks_;
  const uint32_t max_atomic_blocks_;

  ModePages modes_;
  DurabilityLatch latch_;
  std::atomic<bool> write_protect_;  // management may change it (modify-lu -p wp)
  LbaRangeLock locks_;
  std::atomic<bool> started_{true};
  std::atomic<bool> loaded_{true};  // medium present (only a removable LU can eject it)
  // Atomic writes against unlocked reads (a seqlock over all LBAs): a WRITE ATOMIC bumps
  // atomic_gen_ and atomic_active_ before it writes and both again after; a READ that saw
  // atomic_active_ != 0 reads under the range lock, and one whose read overlapped an atomic
  // write (atomic_gen_ moved) reads again under the lock. Two relaxed-cost loads per READ.
  std::atomic<uint64_t> atomic_gen_{0};
  std::atomic<uint32_t> atomic_active_{0};
  std::atomic<SanitizeState> sanitize_state_{SanitizeState::idle};
  std::atomic<bool> sanitize_failed_ause_{false};  // the failed sanitize had AUSE = 1
  std::atomic<uint16_t> sanitize_progress_{0};     // 65536ths of the running sanitize done
  xcopy::CopyResults copy_results_;   // held for RECEIVE COPY RESULTS, per I_T nexus
  std::atomic<uint32_t> copies_running_{0};
  std::mutex prevent_mu_;
  std::set<std::string> prevent_;  // I_T nexus keys holding PREVENT MEDIUM REMOVAL
  bool removal_prevented() {
    std::lock_guard lk(prevent_mu_);
    return !prevent_.empty();
  }
};

}  // namespace stmf::sbd
