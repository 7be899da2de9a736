// Session accounting (docs/array-sessions.md "Accounting"): a record for every session that ends
// (logout, connection loss, target offline, daemon shutdown), checkpoint records of live
// sessions every checkpoint_min minutes, and "ended abnormally" records at start for the
// sessions a killed daemon left open.
//
// Records are appended to one file in the format arsctl's SAF names at
// the time; at max_bytes the file is renamed to <file>.1 (replacing the previous one) and a new
// one begins. The thread writes what is queued as one batch and syncs it with one fdatasync
// (group commit); the journal is rewritten once per batch. The open-sessions journal <file>.open holds the last record of each live session
// (rewritten with write + fdatasync + rename after each batch holding a login, logout or
// checkpoint), so a SIGKILL
// loses at most what the sessions did since the last checkpoint.
//
// The I/O runs on the accounting's own thread: the transports' threads only queue events
// (bounded; a full queue makes the producer wait).
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/stmf.h"
#include "mgmt/config.h"
#include "tools/stmfd/acct_record.h"

namespace stmfd {

class SessionAccounting final : public stmf::SessionListener {
 public:
  static constexpr size_t kMaxQueue = 4096;

  SessionAccounting(stmf::Stmf& stmf, uint16_t node) : stmf_(stmf), node_(node) {}
  ~SessionAccounting() override;

  // Opens `file` (created 0640 when absent), writes the abnormal-end records of the journal a
  // previous run left, starts the thread. False + why when the file cannot be opened.
  bool start(const std::string& file, uint64_t max_bytes, std::string& why);
  // Records for every session still live (reason "shutdown"), then the thread stops.
  void stop();
  bool running() const {
    std::lock_guard lk(mu_);
    return started_ && !stopping_;
  }
  const std::string& path() const { return path_; }

  // The record format (SAF 1 or 2), the checkpoint interval and the node (apply live).
  void set_format(int saf);
  void set_node(uint16_t node);

  // A checkpoint record of every live session now.
  void checkpoint();
  // Called every minute by the daemon's timer: a checkpoint when checkpoint_min have passed.
  void set_checkpoint_min(uint32_t m) { checkpoint_min_.store(m); }
  void tick();
  // arsop FLUSHACCT: a record of this live session now (flag "flushed").
  void flush(const stmf::ItNexusPtr& n);

  // stmf::SessionListener
  void session_started(const stmf::ItNexusPtr& n) override;
  void session_ended(const stmf::ItNexusPtr& n) override;

  // For tests: waits until everything queued so far is written and synced; the fdatasync
  // calls made so far (accounting file and journal).
  void wait_idle();
  uint64_t syncs() const { return syncs_.load(); }
  // For tests: runs on the accounting thread after each batch's records are synced, before
  // the batch rewrites the journal (a test ends a session there, as a racing strand would).
  void set_before_journal(std::function<void()> f) { before_journal_ = std::move(f); }

 private:
  struct Event {
    acct::Record record;
    bool append = true;    // write the record to the file
    bool journal = false;  // the journal changed: rewrite it
    int saf = 1;           // the record format when the event was queued
    // The nexus whose end this record is: it leaves the journal only once the record is
    // synced (before, a crash in between lost the session's record: neither file had it).
    std::optional<uint64_t> ends{};
  };
  acct::Record record_of(const stmf::ItNexus& n, uint8_t flags) const;
  // The record of a session that ended; the session leaves the journal's live set when the
  // record is synced (ending_ until then).
  Event ended_event(const stmf::ItNexusPtr& n);
  void enqueue(std::vector<Event> ev);
  void run();
  void append(const acct::Record& r, int saf);
  void sync_file();  // fdatasync of the accounting file when records were written since the last one
  void write_journal();
  void recover_journal();

  stmf::Stmf& stmf_;
  std::string path_, journal_path_;
  uint64_t max_bytes_ = 0;
  int fd_ = -1;
  uint64_t size_ = 0;
  size_t unsynced_ = 0;  // records written since the last sync (the thread's)
  std::atomic<uint64_t> syncs_{0};

  mutable std::mutex mu_;
  std::condition_variable cv_, space_, idle_;
  std::deque<Event> queue_;
  bool started_ = false, stopping_ = false;
  bool busy_ = false;         // the thread is writing a batch
  int saf_ = 1;
  uint16_t node_;
  std::map<uint64_t, acct::Record> open_;  // by nexus id: the journal's content (under open_mu_)
  std::set<uint64_t> ending_;  // ids in open_ whose end record is queued, not yet synced
  std::function<void()> before_journal_;
  std::mutex open_mu_;
  std::thread thread_;
  std::atomic<uint32_t> checkpoint_min_{0};
  uint32_t minutes_ = 0;  // since the last checkpoint (the timer's)
};

}  // namespace stmfd
