#include "tools/stmfproxy/stmf_worker.h"

namespace stmfproxy {

StmfWorker::StmfWorker() : thread_([this] { run(); }) {}

StmfWorker::~StmfWorker() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void StmfWorker::submit(std::function<void()> task) {
  {
    std::lock_guard lk(mu_);
    if (stopping_) return;
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
}

bool StmfWorker::finish(std::chrono::milliseconds limit) {
  std::unique_lock lk(mu_);
  stopping_ = true;
  cv_.notify_all();
  return done_cv_.wait_for(lk, limit, [this] { return done_; });
}

void StmfWorker::run() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) {
        done_ = true;
        done_cv_.notify_all();
        return;
      }
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

}  // namespace stmfproxy
