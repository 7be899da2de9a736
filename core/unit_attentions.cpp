#include "core/logical_unit.h"
#include "core/scsi/cdb.h"

namespace stmf {

namespace {
constexpr size_t kMaxQueued = 16;  // SPC-4 allows dropping the oldest beyond a limit
}

UnitAttentions::Entry& UnitAttentions::entry_locked(const std::string& key) {
  auto [it, inserted] = queues_.try_emplace(key);
  if (inserted && power_on_for_new_) it->second.queue.push_back(scsi::sense::power_on_reset);
  return it->second;
}

void UnitAttentions::forget_lost_locked() {
  while (lost_.size() > kMaxLostNexuses) {
    auto [key, number] = std::move(lost_.front());
    lost_.pop_front();
    // Not when the nexus returned since (or was lost again later: a newer number).
    if (auto it = queues_.find(key); it != queues_.end() && it->second.lost == number) queues_.erase(it);
  }
}

void UnitAttentions::nexus_lost(const std::string& nexus_key) {
  std::lock_guard lk(mu_);
  auto& e = queues_[nexus_key];
  e.queue.clear();
  e.queue.push_back(scsi::sense::i_t_nexus_loss);
  e.lost = ++losses_;
  lost_.emplace_back(nexus_key, e.lost);
  forget_lost_locked();
}

size_t UnitAttentions::size() {
  std::lock_guard lk(mu_);
  return queues_.size();
}

void UnitAttentions::set_power_on_for_new_nexus(bool on) {
  std::lock_guard lk(mu_);
  power_on_for_new_ = on;
}

std::optional<scsi::SenseCode> UnitAttentions::next(const std::string& nexus_key, bool take) {
  std::lock_guard lk(mu_);
  auto& e = entry_locked(nexus_key);
  e.lost = 0;  // a command of the nexus: it is back
  auto& q = e.queue;
  if (q.empty()) return std::nullopt;
  scsi::SenseCode s = q.front();
  if (take) q.pop_front();
  return s;
}

void UnitAttentions::mark_seen(const std::string& nexus_key) {
  std::lock_guard lk(mu_);
  queues_.try_emplace(nexus_key).first->second.lost = 0;
}

void UnitAttentions::raise(const std::string& nexus_key, const scsi::SenseCode& s) {
  std::lock_guard lk(mu_);
  auto& q = queue_locked(nexus_key);
  for (auto& e : q)
    if (e == s) return;
  if (q.size() >= kMaxQueued) q.pop_front();
  q.push_back(s);
}

void UnitAttentions::raise_all(const scsi::SenseCode& s, const std::string& except) {
  std::lock_guard lk(mu_);
  for (auto& [key, e] : queues_) {
    if (key == except) continue;
    auto& q = e.queue;
    bool dup = false;
    for (auto& x : q) dup = dup || x == s;
    if (dup) continue;
    if (q.size() >= kMaxQueued) q.pop_front();
    q.push_back(s);
  }
}

void UnitAttentions::clear(const std::string& nexus_key, const scsi::SenseCode& s) {
  std::lock_guard lk(mu_);
  auto it = queues_.find(nexus_key);
  if (it == queues_.end()) return;
  std::erase(it->second.queue, s);
}

std::map<std::string, std::vector<scsi::SenseCode>> UnitAttentions::snapshot() {
  std::lock_guard lk(mu_);
  std::map<std::string, std::vector<scsi::SenseCode>> m;
  for (auto& [key, e] : queues_) m[key].assign(e.queue.begin(), e.queue.end());
  return m;
}

void UnitAttentions::restore(const std::map<std::string, std::vector<scsi::SenseCode>>& queues) {
  std::lock_guard lk(mu_);
  queues_.clear();
  lost_.clear();
  for (auto& [key, q] : queues) {
    auto& e = queues_[key];
    for (auto& s : q) {
      if (e.queue.size() >= kMaxQueued) e.queue.pop_front();
      e.queue.push_back(s);
    }
    // A lost nexus on the other node stays a lost one here (bounded the same way).
    if (e.queue.size() == 1 && e.queue.front() == scsi::sense::i_t_nexus_loss) {
      e.lost = ++losses_;
      lost_.emplace_back(key, e.lost);
    }
  }
  forget_lost_locked();
}

HandoverState LogicalUnit::handover_state() { return HandoverState{uas_.snapshot(), current_mode_pages()}; }

bool LogicalUnit::restore_handover_state(const HandoverState& s) {
  if (!restore_mode_pages(s.mode_pages)) return false;
  uas_.restore(s.unit_attentions);
  return true;
}

std::optional<scsi::SenseCode> check_cdb_usage(const CommandInfo& ci, const uint8_t* cdb) {
  for (size_t i = 1; i + 1 < ci.cdb_length; ++i) {
    uint8_t allowed = ci.usage[i];
    // Byte 1 of an opcode with service actions: the SERVICE ACTION field, and the flag bits
    // above it that the row's usage allows (SANITIZE: IMMED, AUSE).
    if (i == 1 && ci.has_service_action) allowed = uint8_t(0x1f | (ci.usage[1] & 0xe0));
    if (const uint8_t bad = uint8_t(cdb[i] & ~allowed))
      return scsi::sense::invalid_field_in_cdb.with_field(true, uint16_t(i), scsi::top_bit(bad));
  }
  return std::nullopt;
}

}  // namespace stmf
