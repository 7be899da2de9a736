// Deferred continuations for rate-limited background work (the SANITIZE rate limit of a block
// LU, docs/scsi.md "SANITIZE"): one process-wide thread runs each callback at its time. A
// paced operation has at most one callback queued (it queues the next one only when the last
// has run), so the queue holds at most one entry per running paced operation.
#pragma once
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace stmf::sbd {

class Pacer {
 public:
  using Clock = std::chrono::steady_clock;
  static Pacer& instance();
  // Runs fn on the pacer thread at `when` (at once if it is past). fn must not block.
  void at(Clock::time_point when, std::function<void()> fn);
  ~Pacer();

 private:
  Pacer() = default;
  void run();
  std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<Clock::time_point, std::function<void()>> queue_;
  bool stop_ = false;
  std::thread thread_;  // started with the first callback
};

}  // namespace stmf::sbd
