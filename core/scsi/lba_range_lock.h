// Exclusive LBA range locks for the block LU (SBC-3 COMPARE AND WRITE atomicity).
//
// Medium-modifying commands (WRITE*, COMPARE AND WRITE, ORWRITE, WRITE SAME, UNMAP) hold an
// exclusive lock on the LBA range they touch for the whole read-modify-write or write, so a
// COMPARE AND WRITE never interleaves with another write to an overlapping range. Reads take
// no lock.
//
// Acquisition never blocks a thread: acquire() either grants at once (calling `granted`
// inline, before it returns) or queues the request; release() grants the queued requests
// that became free, calling their callbacks on the releasing thread after dropping the
// internal mutex. Requests are granted in arrival order among overlapping ranges (FIFO), so
// a stream of small writes cannot starve a large one.
#pragma once
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

namespace stmf::sbd {

class LbaRangeLock {
 public:
  using Ticket = uint64_t;
  using Granted = std::function<void(Ticket)>;

  // Takes [lba, lba + count) at once when nothing overlapping is held or queued (the fast
  // path: no allocation). Returns 0 when the caller must use acquire().
  Ticket try_acquire(uint64_t lba, uint64_t count);
  // Requests [lba, lba + count). count must be > 0. Returns the ticket to release with.
  // `granted` runs exactly once, with that ticket, when the range is held (possibly inline).
  Ticket acquire(uint64_t lba, uint64_t count, Granted granted);
  // Releases a held range and grants the waiters it was blocking.
  void release(Ticket t);
  // Runs fn(ticket) once [lba, lba + count) is held: inline when try_acquire() succeeds (no
  // allocation: fn is only wrapped in a Granted when it has to wait), else when granted.
  template <typename F>
  void with_range(uint64_t lba, uint64_t count, F&& fn) {
    if (Ticket tk = try_acquire(lba, count)) return fn(tk);
    acquire(lba, count, Granted(std::forward<F>(fn)));
  }

  // For tests and diagnostics.
  size_t held() const;
  size_t waiting() const;

 private:
  struct Entry {
    Ticket ticket;
    uint64_t begin, end;  // [begin, end)
    bool held;
    Granted granted;  // empty once granted
  };
  static bool overlaps(const Entry& a, const Entry& b) { return a.begin < b.end && b.begin < a.end; }

  mutable std::mutex mu_;
  std::vector<Entry> entries_;  // in arrival order; held iff no overlap with an earlier entry
  Ticket next_ = 1;
};

}  // namespace stmf::sbd
