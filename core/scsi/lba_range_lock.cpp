#include "core/scsi/lba_range_lock.h"

#include <algorithm>

namespace stmf::sbd {

LbaRangeLock::Ticket LbaRangeLock::try_acquire(uint64_t lba, uint64_t count) {
  Entry e{0, lba, lba + count < lba ? UINT64_MAX : lba + count, true, {}};
  std::lock_guard lk(mu_);
  for (const auto& o : entries_)
    if (overlaps(o, e)) return 0;
  e.ticket = next_++;
  entries_.push_back(std::move(e));
  return entries_.back().ticket;
}

LbaRangeLock::Ticket LbaRangeLock::acquire(uint64_t lba, uint64_t count, Granted granted) {
  Entry e{0, lba, lba + count < lba ? UINT64_MAX : lba + count, true, {}};
  Ticket ticket;
  {
    std::lock_guard lk(mu_);
    e.ticket = next_++;
    for (const auto& o : entries_) {
      if (overlaps(o, e)) {
        e.held = false;
        break;
      }
    }
    if (!e.held) e.granted = std::move(granted);
    ticket = e.ticket;
    const bool held = e.held;
    entries_.push_back(std::move(e));
    if (!held) return ticket;
  }
  granted(ticket);
  return ticket;
}

void LbaRangeLock::release(Ticket t) {
  std::vector<std::pair<Ticket, Granted>> ready;
  {
    std::lock_guard lk(mu_);
    auto it = std::find_if(entries_.begin(), entries_.end(), [t](const Entry& e) { return e.ticket == t; });
    if (it == entries_.end()) return;
    entries_.erase(it);
    for (size_t i = 0; i < entries_.size(); ++i) {
      Entry& w = entries_[i];
      if (w.held) continue;
      bool blocked = false;
      for (size_t j = 0; j < i && !blocked; ++j) blocked = overlaps(entries_[j], w);
      if (blocked) continue;
      w.held = true;
      ready.emplace_back(w.ticket, std::move(w.granted));
      w.granted = nullptr;
    }
  }
  for (auto& [tk, g] : ready) g(tk);
}

size_t LbaRangeLock::held() const {
  std::lock_guard lk(mu_);
  return size_t(std::count_if(entries_.begin(), entries_.end(), [](const Entry& e) { return e.held; }));
}

size_t LbaRangeLock::waiting() const {
  std::lock_guard lk(mu_);
  return size_t(std::count_if(entries_.begin(), entries_.end(), [](const Entry& e) { return !e.held; }));
}

}  // namespace stmf::sbd
