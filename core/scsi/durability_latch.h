// The durability latch of a block LU (docs/failover.md "A failed flush is remembered").
//
// Linux reports a failed writeback once, to the next fsync/fdatasync or RWF_DSYNC write, and
// then forgets it: the flush after that succeeds although acknowledged writes never reached
// the medium (the fsync error-latching problem PostgreSQL and others ran into). The latch
// remembers the first failed flush or FUA write of the LU, so that every later one fails too,
// until an administrator clears it.
//
// Thread-safe. tripped() is one load (it guards every flush and FUA write).
#pragma once
#include <atomic>
#include <mutex>
#include <optional>
#include <string>

namespace stmf::sbd {

class DurabilityLatch {
 public:
  // Records a failure described by `reason`; true only for the call that tripped the latch
  // (the caller logs that one), later failures keep the first reason.
  bool trip(const std::string& reason) {
    std::lock_guard lk(mu_);
    if (tripped_.load(std::memory_order_relaxed)) return false;
    reason_ = reason;
    tripped_.store(true, std::memory_order_release);
    return true;
  }
  bool tripped() const { return tripped_.load(std::memory_order_acquire); }
  // What tripped it, or nullopt.
  std::optional<std::string> reason() const {
    std::lock_guard lk(mu_);
    if (!tripped_.load(std::memory_order_relaxed)) return std::nullopt;
    return reason_;
  }
  // Clears it; returns the reason that was cleared (nullopt: it was not tripped).
  std::optional<std::string> clear() {
    std::lock_guard lk(mu_);
    if (!tripped_.load(std::memory_order_relaxed)) return std::nullopt;
    tripped_.store(false, std::memory_order_release);
    return std::move(reason_);
  }

 private:
  std::atomic<bool> tripped_{false};
  mutable std::mutex mu_;  // guards reason_ and the transitions of tripped_
  std::string reason_;
};

}  // namespace stmf::sbd
