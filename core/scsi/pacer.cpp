#include "core/scsi/pacer.h"

namespace stmf::sbd {

Pacer& Pacer::instance() {
  static Pacer p;
  return p;
}

void Pacer::at(Clock::time_point when, std::function<void()> fn) {
  {
    std::lock_guard lk(mu_);
    if (stop_) return;
    queue_.emplace(when, std::move(fn));
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  }
  cv_.notify_one();
}

Pacer::~Pacer() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
    queue_.clear();  // at exit: the operations they would continue are abandoned with the process
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Pacer::run() {
  std::unique_lock lk(mu_);
  while (!stop_) {
    if (queue_.empty()) {
      cv_.wait(lk);
      continue;
    }
    auto first = queue_.begin();
    if (Clock::now() < first->first) {
      cv_.wait_until(lk, first->first);
      continue;
    }
    auto fn = std::move(first->second);
    queue_.erase(first);
    lk.unlock();
    fn();
    lk.lock();
  }
}

}  // namespace stmf::sbd
