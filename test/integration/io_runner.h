// An io_context on a thread of its own for tests that drive an Asio-based backing store (the
// iscsi and rbd stores) directly, with a gate that holds the thread so that a burst of
// operations is queued before any of it runs (the store suite's "operations in flight bounded").
#pragma once
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <thread>

#include "core/store/store_suite.h"

namespace stmf::test {

class IoRunner {
 public:
  IoRunner() : guard_(boost::asio::make_work_guard(io_)), thread_([this] { run(); }) {}
  // The stores are gone by now; what they left (librbd completions, cancelled timers) runs out
  // within the bound, then the loop is stopped.
  ~IoRunner() {
    release();
    guard_.reset();
    if (finished_.wait_for(kDrain) != std::future_status::ready) io_.stop();
    thread_.join();
  }
  IoRunner(const IoRunner&) = delete;
  IoRunner& operator=(const IoRunner&) = delete;

  boost::asio::io_context& io() { return io_; }

  // Returns once the loop's thread is held: whatever is posted from now on waits for release().
  void hold() {
    gate_ = std::make_shared<std::promise<void>>();
    auto held = std::make_shared<std::promise<void>>();
    auto held_f = held->get_future();
    boost::asio::post(io_, [open = gate_->get_future().share(), held] {
      held->set_value();
      open.wait();
    });
    held_f.wait();
  }
  void release() {
    if (gate_) gate_->set_value();
    gate_.reset();
  }

 private:
  static constexpr auto kDrain = std::chrono::seconds(30);
  void run() {
    io_.run();
    done_.set_value();
  }
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::promise<void> done_;
  std::future<void> finished_ = done_.get_future();
  std::shared_ptr<std::promise<void>> gate_;
  std::thread thread_;
};

// A store-suite subject of a store on an IoRunner: `medium` (a struct whose member `io` is the
// IoRunner, and whatever else the store needs alive) is kept with it, and make(io, ec, why)
// makes the store; hold/release are the runner's. The caller adds caps and medium.
template <class Medium, class Make>
store::test::suite::Subject asio_subject(std::shared_ptr<Medium> medium, Make&& make) {
  std::error_code ec;
  std::string why;
  store::test::suite::Subject s;
  s.store = make(medium->io.io(), ec, why);
  INFO(why);
  REQUIRE(s.store);
  s.hold = [medium] { medium->io.hold(); };
  s.release = [medium] { medium->io.release(); };
  s.keep = std::move(medium);
  return s;
}

}  // namespace stmf::test
