// A bounded pool of large byte buffers (std::vector<uint8_t>), so that data buffers of
// 64 KiB..1 MiB are reused instead of freshly allocated: a fresh buffer of that size is
// mapped anew by malloc and page-faults on first touch (docs/benchmark.md, the ALUA pair).
//
// The proxy carrier takes a buffer for each SCSI data payload it receives (the task adopts it
// as its Data-In / Data-Out buffer) and returns the payloads it has sent; a task returns its
// buffers when it is destroyed (core/task.h). Header-only; thread-safe (one short mutex).
//
// Bounded: at most kMaxBuffers buffers and kMaxBytes bytes of capacity are kept; a buffer
// returned beyond that, or outside kMinCapacity..kMaxCapacity, is simply freed. A burst
// larger than the pool gets fresh buffers.
#pragma once
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

namespace stmf {

class BufferPool {
 public:
  static constexpr size_t kMinCapacity = 64 * 1024;        // smaller buffers: malloc is cheap
  static constexpr size_t kMaxCapacity = (1u << 20) + 4096;  // one SCSI_DATA chunk and its slack
  static constexpr size_t kMaxBuffers = 64;
  static constexpr size_t kMaxBytes = 32u << 20;

  // The process's pool.
  static BufferPool& global() {
    static BufferPool pool;
    return pool;
  }

  // A buffer of `size` bytes (contents unspecified: a reused buffer keeps its old bytes). A
  // pooled buffer is used when one is large enough, the most recently returned first.
  std::vector<uint8_t> get(size_t size) {
    std::vector<uint8_t> v;
    if (size >= kMinCapacity / 2 && size <= kMaxCapacity) {
      std::lock_guard lk(mu_);
      for (size_t i = free_.size(); i-- > 0;) {
        if (free_[i].capacity() < size) continue;
        v = std::move(free_[i]);
        free_[i] = std::move(free_.back());
        free_.pop_back();
        bytes_ -= v.capacity();
        ++reused_;
        break;
      }
    }
    // Growing within the capacity fills only the part beyond the old size; shrinking is free.
    v.resize(size);
    return v;
  }

  // Gives `v` back (its size is kept, so that the next get() of no more bytes fills nothing).
  void put(std::vector<uint8_t>&& v) {
    const size_t cap = v.capacity();
    if (cap < kMinCapacity || cap > kMaxCapacity) return;
    std::vector<uint8_t> keep = std::move(v);
    v = {};
    std::lock_guard lk(mu_);
    if (free_.size() >= kMaxBuffers || bytes_ + cap > kMaxBytes) return;  // `keep` is freed
    bytes_ += cap;
    free_.push_back(std::move(keep));
  }

  size_t pooled() const {
    std::lock_guard lk(mu_);
    return free_.size();
  }
  size_t pooled_bytes() const {
    std::lock_guard lk(mu_);
    return bytes_;
  }
  uint64_t reused() const {
    std::lock_guard lk(mu_);
    return reused_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::vector<uint8_t>> free_;  // under mu_
  size_t bytes_ = 0;                        // capacity of free_, under mu_
  uint64_t reused_ = 0;                     // gets served from the pool, under mu_
};

}  // namespace stmf
