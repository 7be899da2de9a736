// The thread that calls libstmf for stmfproxy. libstmf's calls block (a round trip on stmfd's
// management socket), so they run here, one at a time, in submission order — which keeps the
// frames from the peer in order (stmfPostProxyMsg) and every door call of the relay's io thread
// free of stmfd's latency. Results go back to the io thread through the callbacks the tasks
// post themselves.
#pragma once
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace stmfproxy {

class StmfWorker {
 public:
  StmfWorker();
  ~StmfWorker();  // runs what is queued and joins the thread, however long that takes
  StmfWorker(const StmfWorker&) = delete;
  StmfWorker& operator=(const StmfWorker&) = delete;

  // Queues `task` (after every task submitted before). Ignored after finish() began.
  void submit(std::function<void()> task);
  // Runs what is queued, then stops the thread. False when that takes longer than `limit`: the
  // thread is stuck in a call to stmfd, and the caller should leave with _Exit (destroying the
  // worker would wait for it).
  bool finish(std::chrono::milliseconds limit);

 private:
  void run();

  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace stmfproxy
