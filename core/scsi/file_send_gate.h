// Zero-copy READs against WRITE ATOMIC (core/scsi/sbd_io.cpp).
//
// A READ answered with a file range (ScsiTask::data_in_file) is read from the page cache when
// the port sends it, after the LU has completed the command, so the LU's seqlock over atomic
// writes (atomic_gen_, read again when an atomic write overlapped) cannot see it. Instead every
// such READ holds a pass until its task is destroyed (after the send), and a WRITE ATOMIC waits
// until no pass is out before it writes. New passes are refused while an atomic write is active
// (the LU's atomic_active_): both sides use sequentially consistent operations, so either the
// READ sees the atomic write (and reads into a buffer instead) or the write sees the pass.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace stmf::sbd {

class FileSendGate : public std::enable_shared_from_this<FileSendGate> {
 public:
  // A pass (kept alive by the task's data_in_file.hold; it also keeps `with` alive), or
  // nullptr when `atomic_active` says an atomic write is in progress.
  std::shared_ptr<const void> try_pass(const std::atomic<uint32_t>& atomic_active, std::shared_ptr<const void> with) {
    passes_.fetch_add(1);
    if (atomic_active.load() != 0) {
      release();
      return nullptr;
    }
    return std::shared_ptr<const void>(static_cast<const void*>(this),
                                       [gate = shared_from_this(), with = std::move(with)](const void*) { gate->release(); });
  }

  // Runs `then` once no pass is out: at once, or on the thread that returns the last pass.
  // The caller has made atomic_active nonzero first.
  void when_idle(std::function<void()> then) {
    {
      std::lock_guard lk(mu_);
      if (passes_.load() != 0) {
        waiters_.push_back(std::move(then));
        return;
      }
    }
    then();
  }

  uint32_t passes() const { return passes_.load(); }

 private:
  void release() {
    if (passes_.fetch_sub(1) != 1) return;
    std::vector<std::function<void()>> run;
    {
      std::lock_guard lk(mu_);
      if (passes_.load() != 0) return;  // a new pass came meanwhile: its release runs them
      run.swap(waiters_);
    }
    for (auto& f : run) f();
  }

  std::atomic<uint32_t> passes_{0};
  std::mutex mu_;
  std::vector<std::function<void()>> waiters_;  // under mu_; one per atomic write waiting
};

}  // namespace stmf::sbd
