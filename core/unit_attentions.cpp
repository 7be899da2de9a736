#include "core/logical_unit.h"
#include "core/scsi/cdb.h"

namespace stmf {

namespace {
constexpr size_t kMaxQueued = 16;  // SPC-4 allows dropping the oldest beyond a limit
}

std::deque<scsi::SenseCode>& UnitAttentions::queue_locked(const std::string& key) {
  auto [it, inserted] = queues_.try_emplace(key);
  if (inserted && power_on_for_new_) it->second.push_back(scsi::sense::power_on_reset);
  return it->second;
}

void UnitAttentions::set_power_on_for_new_nexus(bool on) {
  std::lock_guard lk(mu_);
  power_on_for_new_ = on;
}

std::optional<scsi::SenseCode> UnitAttentions::next(const std::string& nexus_key, bool take) {
  std::lock_guard lk(mu_);
  auto& q = queue_locked(nexus_key);
  if (q.empty()) return std::nullopt;
  scsi::SenseCode s = q.front();
  if (take) q.pop_front();
  return s;
}

void UnitAttentions::mark_seen(const std::string& nexus_key) {
  std::lock_guard lk(mu_);
  queues_.try_emplace(nexus_key);
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
  for (auto& [key, q] : queues_) {
    if (key == except) continue;
    bool dup = false;
    for (auto& e : q) dup = dup || e == s;
    if (dup) continue;
    if (q.size() >= kMaxQueued) q.pop_front();
    q.push_back(s);
  }
}

void UnitAttentions::reset_to(const std::string& nexus_key, const scsi::SenseCode& s) {
  std::lock_guard lk(mu_);
  auto& q = queues_[nexus_key];
  q.clear();
  q.push_back(s);
}

void UnitAttentions::clear(const std::string& nexus_key, const scsi::SenseCode& s) {
  std::lock_guard lk(mu_);
  auto it = queues_.find(nexus_key);
  if (it == queues_.end()) return;
  std::erase(it->second, s);
}

std::map<std::string, std::vector<scsi::SenseCode>> UnitAttentions::snapshot() {
  std::lock_guard lk(mu_);
  std::map<std::string, std::vector<scsi::SenseCode>> m;
  for (auto& [key, q] : queues_) m[key].assign(q.begin(), q.end());
  return m;
}

void UnitAttentions::restore(const std::map<std::string, std::vector<scsi::SenseCode>>& queues) {
  std::lock_guard lk(mu_);
  queues_.clear();
  for (auto& [key, q] : queues) {
    auto& d = queues_[key];
    for (auto& s : q) {
      if (d.size() >= kMaxQueued) d.pop_front();
      d.push_back(s);
    }
  }
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
    if (i == 1 && ci.has_service_action) allowed = 0x1f;
    if (const uint8_t bad = uint8_t(cdb[i] & ~allowed))
      return scsi::sense::invalid_field_in_cdb.with_field(true, uint16_t(i), scsi::top_bit(bad));
  }
  return std::nullopt;
}

}  // namespace stmf
