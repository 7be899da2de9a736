#include "tools/stmfd/session_acct.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/local_port.h"
#include "core/log.h"

namespace stmfd {

namespace {

auto& log() {
  static auto l = stmf::logger("acct");
  return l;
}

int64_t ns_since_epoch(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

bool write_all(int fd, const void* p, size_t n) {
  const auto* c = static_cast<const char*>(p);
  while (n) {
    const ssize_t w = ::write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    c += w;
    n -= size_t(w);
  }
  return true;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

SessionAccounting::~SessionAccounting() { stop(); }

bool SessionAccounting::start(const std::string& file, uint64_t max_bytes, std::string& why) {
  path_ = file;
  journal_path_ = file + ".open";
  max_bytes_ = max_bytes;
  fd_ = ::open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd_ < 0) {
    why = "accounting file " + file + ": " + std::strerror(errno);
    return false;
  }
  struct stat st {};
  size_ = ::fstat(fd_, &st) == 0 ? uint64_t(st.st_size) : 0;
  recover_journal();
  {
    std::lock_guard lk(mu_);
    started_ = true;
  }
  thread_ = std::thread([this] { run(); });
  log()->info("session accounting: {} (format {})", path_, saf_);
  return true;
}

void SessionAccounting::recover_journal() {
  const std::string text = read_file(journal_path_);
  if (text.empty()) return;
  size_t bad = 0;
  auto open = acct::read_records(text, bad);
  for (auto& r : open) {
    r.flags = uint8_t((r.flags & ~acct::kFlagCheckpoint) | acct::kFlagAbnormal);
    r.reason = "ended abnormally (daemon stopped without ending it)";
    append(r, saf_);
  }
  sync_file();
  if (bad) log()->warn("{}: {} byte(s) of a cut record ignored", journal_path_, bad);
  if (!open.empty()) log()->warn("{} session(s) of the previous run ended abnormally: recorded", open.size());
  write_journal();  // now empty
}

void SessionAccounting::set_format(int saf) {
  std::lock_guard lk(mu_);
  saf_ = saf;
}

void SessionAccounting::set_node(uint16_t node) {
  std::lock_guard lk(mu_);
  node_ = node;
}

acct::Record SessionAccounting::record_of(const stmf::ItNexus& n, uint8_t flags) const {
  acct::Record r;
  r.flags = uint8_t(flags | (n.remote() ? acct::kFlagSecondary : 0));
  r.ash = n.ash();
  r.start_ns = ns_since_epoch(n.start_time());
  r.end_ns = ns_since_epoch(std::chrono::system_clock::now());
  r.spi = stmf_.session_spi(n);
  {
    std::lock_guard lk(mu_);
    r.node = node_;
  }
  r.initiator = n.initiator_port_name();
  r.target = n.port().port_name();
  r.portal = n.portal();
  r.counters = n.stats().snapshot();
  return r;
}

void SessionAccounting::enqueue(std::vector<Event> ev) {
  std::unique_lock lk(mu_);
  if (!started_ || stopping_) return;
  space_.wait(lk, [&] { return queue_.size() < kMaxQueue || stopping_; });
  for (auto& e : ev) {
    e.saf = saf_;  // the format at the time of the event, whenever the thread writes it
    queue_.push_back(std::move(e));
  }
  cv_.notify_one();
}

void SessionAccounting::session_started(const stmf::ItNexusPtr& n) {
  auto r = record_of(*n, acct::kFlagCheckpoint);
  {
    std::lock_guard lk(open_mu_);
    open_[n->id()] = r;
  }
  enqueue({Event{.record = std::move(r), .append = false, .journal = true}});
}

SessionAccounting::Event SessionAccounting::ended_event(const stmf::ItNexusPtr& n) {
  auto r = record_of(*n, 0);
  r.reason = n->end_reason().empty() ? (n->remote() ? "peer session ended" : "ended") : n->end_reason();
  {
    std::lock_guard lk(open_mu_);
    if (open_.count(n->id())) ending_.insert(n->id());
  }
  Event e{.record = std::move(r), .append = true, .journal = true};
  e.ends = n->id();
  return e;
}

void SessionAccounting::session_ended(const stmf::ItNexusPtr& n) { enqueue({ended_event(n)}); }

void SessionAccounting::checkpoint() {
  std::vector<Event> ev;
  for (auto& n : stmf_.nexuses()) {
    auto r = record_of(*n, acct::kFlagCheckpoint);
    {
      std::lock_guard lk(open_mu_);
      if (!open_.count(n->id()) || ending_.count(n->id())) continue;  // ended meanwhile
      open_[n->id()] = r;
    }
    ev.push_back({.record = std::move(r), .append = true, .journal = false});
  }
  if (ev.empty()) return;
  ev.back().journal = true;
  enqueue(std::move(ev));
}

void SessionAccounting::tick() {
  const uint32_t every = checkpoint_min_.load();
  if (every == 0 || ++minutes_ < every) return;
  minutes_ = 0;
  checkpoint();
}

void SessionAccounting::flush(const stmf::ItNexusPtr& n) {
  enqueue({Event{.record = record_of(*n, acct::kFlagCheckpoint | acct::kFlagFlushed), .append = true, .journal = false}});
}

void SessionAccounting::run() {
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return !queue_.empty() || stopping_; });
    if (queue_.empty() && stopping_) return;
    // Group commit: everything queued so far is written, then synced once (a login storm of
    // N sessions costs a few syncs and journal rewrites, not N of each).
    std::deque<Event> batch;
    batch.swap(queue_);
    busy_ = true;
    space_.notify_all();
    lk.unlock();
    bool journal = false;
    for (const Event& e : batch) {
      if (e.append) append(e.record, e.saf);
      journal = journal || e.journal;
    }
    sync_file();
    {
      // Ended sessions leave the journal now that their records are on disk.
      std::lock_guard olk(open_mu_);
      for (const Event& e : batch)
        if (e.ends) {
          open_.erase(*e.ends);
          ending_.erase(*e.ends);
        }
    }
    if (before_journal_) before_journal_();
    if (journal) write_journal();
    lk.lock();
    busy_ = false;
    idle_.notify_all();
  }
}

void SessionAccounting::wait_idle() {
  std::unique_lock lk(mu_);
  idle_.wait(lk, [&] { return (queue_.empty() && !busy_) || !started_; });
}

void SessionAccounting::sync_file() {
  if (unsynced_ == 0) return;
  syncs_.fetch_add(1);
  if (::fdatasync(fd_) != 0)
    log()->error("{}: {} record(s) written but not synced: {}", path_, unsynced_, std::strerror(errno));
  unsynced_ = 0;
}

// Writes one record (synced by the batch's sync_file(), or before a rotation).
void SessionAccounting::append(const acct::Record& r, int saf) {
  std::string bytes;
  if (saf == stmf::ars::kSafJson) {
    bytes = acct::encode_json_line(r);
  } else {
    auto b = acct::encode_binary(r);
    bytes.assign(b.begin(), b.end());
  }
  if (max_bytes_ && size_ > 0 && size_ + bytes.size() > max_bytes_) {
    // Rotate: <file> -> <file>.1 (the previous .1 goes), a new <file> begins; what the old
    // file holds is synced first.
    sync_file();
    const std::string old = path_ + ".1";
    if (::rename(path_.c_str(), old.c_str()) == 0) {
      const int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
      if (fd >= 0) {
        ::close(fd_);
        fd_ = fd;
        size_ = 0;
        log()->info("{} rotated to {}", path_, old);
      }
    }
  }
  if (!write_all(fd_, bytes.data(), bytes.size())) {
    log()->error("{}: record of ASH 0x{:016x} not written: {}", path_, r.ash, std::strerror(errno));
    return;
  }
  size_ += bytes.size();
  ++unsynced_;
}

void SessionAccounting::write_journal() {
  std::string bytes;
  {
    std::lock_guard lk(open_mu_);
    for (auto& [id, r] : open_) {
      auto b = acct::encode_binary(r);  // the journal is always format 1 (fixed size)
      bytes.append(b.begin(), b.end());
    }
  }
  const std::string tmp = journal_path_ + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  syncs_.fetch_add(1);
  bool ok = fd >= 0 && write_all(fd, bytes.data(), bytes.size()) && ::fdatasync(fd) == 0;
  if (fd >= 0) ::close(fd);
  ok = ok && ::rename(tmp.c_str(), journal_path_.c_str()) == 0;
  if (!ok) log()->error("{}: open-sessions journal not written: {}", journal_path_, std::strerror(errno));
}

void SessionAccounting::stop() {
  if (!running()) return;
  // The sessions still live end with the daemon: their records in one batch (one sync).
  std::vector<Event> ended;
  for (auto& n : stmf_.nexuses()) {
    {
      std::lock_guard lk(open_mu_);
      if (!open_.count(n->id()) || ending_.count(n->id())) continue;
    }
    n->set_end_reason("shutdown");
    ended.push_back(ended_event(n));
  }
  if (!ended.empty()) enqueue(std::move(ended));
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  space_.notify_all();
  if (thread_.joinable()) thread_.join();
  ::close(fd_);
  fd_ = -1;
}

}  // namespace stmfd
