// The ALUA peer node played by a test: the relay's end of a door installed in a real stmfd
// through libstmf's door API, so a test can send what a broken or stale peer would and see
// what stmfd answers. Every wait is bounded by a hang guard (never a timing assertion).
#pragma once
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <libstmf.h>
#include "proxy/codec.h"
#include "proxy/messages.h"
#include "test/integration/daemon.h"
#include "test/integration/door_util.h"

namespace stmf::test {

// Hang guard for what must arrive.
inline constexpr auto kFakePeerGuard = std::chrono::milliseconds(20000);

using proxy::Message;

// The peer node on the relay's end of a door installed in stmfd: every door call is taken
// (answered 0) and decoded into a queue; ECHO_REQUESTs are answered so the link stays up.
class FakePeer {
 public:
  explicit FakePeer(const Daemon& d) {
    ::setenv("STMFD_SOCKET", d.socket_path().c_str(), 1);
    REQUIRE(stmfInitProxyDoor(&hdl_, pair_.door()) == STMF_STATUS_SUCCESS);
    pair_.close(1);  // stmfd has its own copy
    reader_ = std::thread([this] { read_loop(); });
  }
  ~FakePeer() {
    stop_ = true;
    reader_.join();
    stmfDestroyProxyDoor(hdl_);
  }
  FakePeer(const FakePeer&) = delete;

  void post(const Message& m) {
    auto f = proxy::encode(m);
    REQUIRE(stmfPostProxyMsg(hdl_, f.data(), uint32_t(f.size())) == STMF_STATUS_SUCCESS);
  }

  // The first message of type T from stmfd (taken off the queue) for which `match` holds.
  template <class T, class F>
  std::optional<std::pair<uint64_t, T>> wait_for(F match) {
    std::unique_lock lk(mu_);
    std::optional<std::pair<uint64_t, T>> found;
    cv_.wait_for(lk, kFakePeerGuard, [&] {
      for (auto it = queue_.begin(); it != queue_.end(); ++it)
        if (auto* b = std::get_if<T>(&it->body); b && match(*b)) {
          found.emplace(it->msg_id, *b);
          queue_.erase(it);
          return true;
        }
      return false;
    });
    return found;
  }

 private:
  void read_loop() {
    std::vector<uint8_t> call;
    while (!stop_) {
      if (!stmf::test::read_door_call(pair_.relay(), call, std::chrono::milliseconds(100))) continue;
      stmf::test::answer_door_call(pair_.relay(), 0);
      Message m;
      std::string why;
      if (proxy::decode(call.data(), call.size(), m, why) != proxy::DecodeError::none) continue;
      if (auto* e = std::get_if<proxy::EchoRequest>(&m.body)) {
        auto f = proxy::encode(Message{m.msg_id, proxy::EchoReply{{e->data}}});
        stmfPostProxyMsg(hdl_, f.data(), uint32_t(f.size()));
        continue;
      }
      std::lock_guard lk(mu_);
      queue_.push_back(std::move(m));
      cv_.notify_all();
    }
  }

  stmf::test::DoorPair pair_;
  int hdl_ = -1;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Message> queue_;
  std::thread reader_;
};

}  // namespace stmf::test
