// DoorCarrier over a socket pair: the test plays the relay (stmfproxy) on the other end,
// reading door calls and answering results with blocking I/O on its own thread.
#include "proxy/door_carrier.h"

#include <boost/asio.hpp>
#include <catch2/catch.hpp>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using stmf::proxy::DoorCarrier;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// Hang guard only: every wait below ends on a condition long before this.
constexpr auto kGuard = 20s;

// A frame in the proxy wire form: u32 length, version 1, type, msg_id, `body` pattern bytes.
std::vector<uint8_t> make_frame(uint8_t type, uint64_t msg_id, size_t body) {
  std::vector<uint8_t> f(4 + 10 + body);
  const uint32_t len = uint32_t(f.size() - 4);
  for (int i = 0; i < 4; ++i) f[i] = uint8_t(len >> (24 - 8 * i));
  f[4] = 1;
  f[5] = type;
  for (int i = 0; i < 8; ++i) f[6 + i] = uint8_t(msg_id >> (56 - 8 * i));
  for (size_t i = 0; i < body; ++i) f[14 + i] = uint8_t(msg_id * 31 + i);
  return f;
}

bool read_full(int fd, void* p, size_t n) {
  auto* c = static_cast<uint8_t*>(p);
  while (n) {
    ssize_t r = ::read(fd, c, n);
    if (r <= 0) return false;
    c += r;
    n -= size_t(r);
  }
  return true;
}

bool write_full(int fd, const void* p, size_t n) {
  auto* c = static_cast<const uint8_t*>(p);
  while (n) {
    ssize_t r = ::send(fd, c, n, MSG_NOSIGNAL);
    if (r <= 0) return false;
    c += r;
    n -= size_t(r);
  }
  return true;
}

// One door call as the relay reads it: u32 size + bytes. Empty optional-like: ok=false on EOF.
bool read_call(int fd, std::vector<uint8_t>& out) {
  uint8_t h[4];
  if (!read_full(fd, h, 4)) return false;
  const uint32_t size = uint32_t(h[0]) << 24 | uint32_t(h[1]) << 16 | uint32_t(h[2]) << 8 | h[3];
  out.resize(size);
  return read_full(fd, out.data(), size);
}

bool answer(int fd, uint32_t result) {
  uint8_t r[4] = {uint8_t(result >> 24), uint8_t(result >> 16), uint8_t(result >> 8), uint8_t(result)};
  return write_full(fd, r, 4);
}

struct Pair {
  int carrier_end = -1;
  int relay_end = -1;
  Pair() {
    int sp[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
    carrier_end = sp[0];
    relay_end = sp[1];
  }
  ~Pair() {
    if (relay_end >= 0) ::close(relay_end);
  }
  void close_relay() {
    ::close(relay_end);
    relay_end = -1;
  }
};

// What the handler saw (callbacks run on the carrier's strand; the test thread reads after
// run_until, or under the mutex).
struct Seen {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::vector<uint8_t>> frames;
  std::vector<std::string> downs;
  std::vector<std::string> lost;
  // Waits (hang guard only) until pred() holds, with mu held; returns pred().
  template <class Pred>
  bool wait(Pred pred) {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, kGuard, pred);
  }
  size_t frame_count() {
    std::lock_guard lk(mu);
    return frames.size();
  }
  size_t down_count() {
    std::lock_guard lk(mu);
    return downs.size();
  }
  size_t lost_count() {
    std::lock_guard lk(mu);
    return lost.size();
  }
};

DoorCarrier::Handler handler_for(Seen& seen) {
  return {[&seen](std::vector<uint8_t> f) {
            std::lock_guard lk(seen.mu);
            seen.frames.push_back(std::move(f));
            seen.cv.notify_all();
          },
          [&seen](const std::string& why) {
            std::lock_guard lk(seen.mu);
            seen.downs.push_back(why);
            seen.cv.notify_all();
          },
          [&seen](const std::string& why) {
            std::lock_guard lk(seen.mu);
            seen.lost.push_back(why);
            seen.cv.notify_all();
          }};
}

// Runs an io_context on a background thread for the test's duration (the test thread then
// plays the relay with blocking I/O).
struct IoThread {
  asio::io_context& io;
  asio::executor_work_guard<asio::io_context::executor_type> guard;
  std::thread t;
  explicit IoThread(asio::io_context& i) : io(i), guard(asio::make_work_guard(i)), t([this] { io.run(); }) {}
  ~IoThread() {
    guard.reset();
    io.stop();
    t.join();
  }
};

// Runs `io` (on this thread) until pred() holds or the guard expires; returns pred().
template <class Pred>
bool run_until(asio::io_context& io, Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + kGuard;
  while (!pred() && std::chrono::steady_clock::now() < deadline) {
    if (io.stopped()) io.restart();
    io.run_for(10ms);
  }
  return pred();
}

}  // namespace

TEST_CASE("door carrier describes itself by its fd", "[proxy][door]") {
  asio::io_context io;
  Pair p;
  DoorCarrier c(io.get_executor(), p.carrier_end);
  CHECK(c.describe() == "door fd " + std::to_string(p.carrier_end));
}

TEST_CASE("door calls carry every frame in order and are pipelined", "[proxy][door]") {
  asio::io_context io;
  Pair p;
  Seen seen;
  DoorCarrier c(io.get_executor(), p.carrier_end);

  // Sizes from tiny to 1 MiB; queued both before start() and while calls are in flight.
  std::vector<std::vector<uint8_t>> sent;
  const size_t sizes[] = {0, 1, 4096, 512, 1u << 20, 4096 - 14, 65536, 3, 4096, 1u << 20};
  uint64_t id = 1;
  for (int round = 0; round < 20; ++round)
    for (size_t s : sizes) sent.push_back(make_frame(4, id++, s));
  const size_t n = sent.size();

  // The relay reads every call before answering any: calls must not wait for results.
  // It answers 0 to all but the last, which fails: on_message_lost must then name the last
  // msg_id, which proves the earlier results were matched, in order, as successes.
  std::vector<std::vector<uint8_t>> got;
  std::atomic<bool> relay_done{false};
  std::thread relay([&] {
    std::vector<uint8_t> call;
    while (got.size() < n && read_call(p.relay_end, call)) got.push_back(call);
    for (size_t i = 0; i + 1 < got.size(); ++i) answer(p.relay_end, 0);
    if (got.size() == n) answer(p.relay_end, 107);
    relay_done = true;
  });

  for (size_t i = 0; i < n / 2; ++i) c.send(sent[i]);
  c.start(handler_for(seen));
  std::thread sender([&] {
    for (size_t i = n / 2; i < n; ++i) c.send(sent[i]);
  });

  CHECK(run_until(io, [&] { return seen.lost_count() > 0 && relay_done; }));
  sender.join();
  relay.join();
  REQUIRE(got.size() == n);
  for (size_t i = 0; i < n; ++i) REQUIRE(got[i] == sent[i]);
  REQUIRE(seen.lost_count() == 1);
  CHECK_THAT(seen.lost[0], Catch::Contains("msg_id " + std::to_string(n)));
  CHECK_THAT(seen.lost[0], Catch::Contains("result 107"));
  CHECK(seen.down_count() == 0);
  CHECK(seen.frame_count() == 0);
}

TEST_CASE("a failed door call reports each lost message and the door stays usable", "[proxy][door]") {
  asio::io_context io;
  Pair p;
  Seen seen;
  DoorCarrier c(io.get_executor(), p.carrier_end);
  IoThread io_thread(io);
  c.start(handler_for(seen));
  for (uint64_t id = 1; id <= 4; ++id) c.send(make_frame(9, id, 16));

  std::vector<uint8_t> call;
  for (int i = 0; i < 4; ++i) REQUIRE(read_call(p.relay_end, call));
  // 0, two failures, 0: each failure is reported once, with its own message.
  answer(p.relay_end, 0);
  answer(p.relay_end, 5);
  answer(p.relay_end, 6);
  answer(p.relay_end, 0);

  CHECK(seen.wait([&] { return seen.lost.size() == 2; }));
  // The door still carries calls after the failures.
  c.send(make_frame(9, 5, 16));
  REQUIRE(read_call(p.relay_end, call));
  CHECK(call == make_frame(9, 5, 16));
  answer(p.relay_end, 0);
  c.close();
  REQUIRE(seen.lost_count() == 2);
  CHECK_THAT(seen.lost[0], Catch::Contains("msg_id 2"));
  CHECK_THAT(seen.lost[0], Catch::Contains("result 5"));
  CHECK_THAT(seen.lost[0], Catch::Contains("STATUS"));
  CHECK_THAT(seen.lost[1], Catch::Contains("msg_id 3"));
  CHECK_THAT(seen.lost[1], Catch::Contains("result 6"));
  CHECK(seen.down_count() == 0);
}

TEST_CASE("the relay closing the door takes the carrier down", "[proxy][door]") {
  asio::io_context io;
  Pair p;
  Seen seen;
  DoorCarrier c(io.get_executor(), p.carrier_end);
  IoThread io_thread(io);
  c.start(handler_for(seen));
  c.send(make_frame(12, 1, 8));
  std::vector<uint8_t> call;
  REQUIRE(read_call(p.relay_end, call));
  CHECK(call == make_frame(12, 1, 8));
  p.close_relay();
  CHECK(seen.wait([&] { return !seen.downs.empty(); }));
  CHECK(seen.down_count() == 1);
  CHECK_THAT(seen.downs[0], Catch::Contains("closed the door"));
}

TEST_CASE("an unusable fd takes the carrier down at start", "[proxy][door]") {
  asio::io_context io;
  Seen seen;
  DoorCarrier c(io.get_executor(), -1);
  c.send(make_frame(12, 1, 8));
  c.start(handler_for(seen));
  CHECK(run_until(io, [&] { return seen.down_count() > 0; }));
  CHECK(seen.down_count() == 1);
}

TEST_CASE("delivered frames reach on_frame in order from another thread", "[proxy][door]") {
  asio::io_context io;
  Pair p;
  Seen seen;
  DoorCarrier c(io.get_executor(), p.carrier_end);
  constexpr size_t kFrames = 5000;

  // Some before start() (held until then), the rest from a "management thread" while the
  // io_context runs on two threads.
  for (uint64_t id = 1; id <= 100; ++id) c.deliver(make_frame(5, id, id % 7));
  c.start(handler_for(seen));
  std::thread mgmt([&] {
    for (uint64_t id = 101; id <= kFrames; ++id) c.deliver(make_frame(5, id, id % 7));
  });
  auto guard = asio::make_work_guard(io);
  std::thread second([&] { io.run_for(kGuard); });
  CHECK(run_until(io, [&] { return seen.frame_count() >= kFrames; }));
  mgmt.join();
  guard.reset();
  io.stop();
  second.join();

  std::lock_guard lk(seen.mu);
  REQUIRE(seen.frames.size() == kFrames);
  for (size_t i = 0; i < kFrames; ++i) REQUIRE(seen.frames[i] == make_frame(5, i + 1, (i + 1) % 7));
  CHECK(seen.downs.empty());
}

TEST_CASE("a second start() hands what arrives from then on to the new handler, the door goes on", "[proxy][door]") {
  // The proxy service starts the link over on the same door when ALUA is re-initialized
  // while the link is down (illumos's stmfproxy: door installed, then stmfSetAluaState).
  asio::io_context io;
  Pair p;
  Seen first, second;
  DoorCarrier c(io.get_executor(), p.carrier_end);
  c.start(handler_for(first));
  c.deliver(make_frame(5, 1, 4));
  CHECK(run_until(io, [&] { return first.frame_count() == 1; }));
  c.start(handler_for(second));
  c.deliver(make_frame(5, 2, 4));
  CHECK(run_until(io, [&] { return second.frame_count() == 1; }));
  CHECK(first.frame_count() == 1);
  // Door calls still go out and are answered: the door was never closed.
  std::vector<uint8_t> call;
  {
    IoThread io_thread(io);
    c.send(make_frame(9, 3, 16));
    REQUIRE(read_call(p.relay_end, call));
    answer(p.relay_end, 0);
  }
  CHECK(call == make_frame(9, 3, 16));
  io.restart();
  io.run_for(50ms);
  CHECK(first.down_count() + second.down_count() == 0);
  CHECK(second.lost_count() == 0);
}

TEST_CASE("hung_up tells a door whose relay closed its end before on_down is handled", "[proxy][door]") {
  asio::io_context io;
  Pair p;
  Seen seen;
  DoorCarrier c(io.get_executor(), p.carrier_end);
  c.start(handler_for(seen));
  auto guard = asio::make_work_guard(io);
  std::thread runner([&] { io.run_for(kGuard); });
  CHECK_FALSE(c.hung_up());
  p.close_relay();
  CHECK(c.hung_up());  // at once: no waiting for the reader to see EOF
  c.close();
  CHECK(c.hung_up());
  guard.reset();
  io.stop();
  runner.join();
}

TEST_CASE("no callbacks after close", "[proxy][door]") {
  asio::io_context io;
  Pair p;
  Seen seen;

  SECTION("close before the queued work runs") {
    DoorCarrier c(io.get_executor(), p.carrier_end);
    c.start(handler_for(seen));
    for (uint64_t id = 1; id <= 10; ++id) c.deliver(make_frame(5, id, 4));
    c.send(make_frame(4, 1, 4));
    c.close();
    c.deliver(make_frame(5, 11, 4));
    p.close_relay();  // would be on_down if the carrier were still open
    io.run_for(100ms);
    CHECK(seen.frame_count() == 0);
    CHECK(seen.down_count() == 0);
  }

  SECTION("close from inside on_frame") {
    DoorCarrier c(io.get_executor(), p.carrier_end);
    size_t calls = 0;
    c.start({[&](std::vector<uint8_t>) {
               ++calls;
               c.close();
             },
             [&](const std::string&) { ++calls; }});
    for (uint64_t id = 1; id <= 10; ++id) c.deliver(make_frame(5, id, 4));
    io.run_for(100ms);
    CHECK(calls == 1);
    // The carrier closed its end of the door.
    std::vector<uint8_t> call;
    CHECK_FALSE(read_call(p.relay_end, call));
  }

  SECTION("close from another thread while frames are being delivered") {
    auto c = std::make_unique<DoorCarrier>(io.get_executor(), p.carrier_end);
    c->start(handler_for(seen));
    for (uint64_t id = 1; id <= 20000; ++id) c->deliver(make_frame(5, id, 4));
    size_t at_close = 0;
    {
      IoThread io_thread(io);
      REQUIRE(seen.wait([&] { return seen.frames.size() >= 10; }));
      c->close();
      at_close = seen.frame_count();
      c.reset();  // destroying the carrier with handlers still queued is safe
      p.close_relay();
    }
    io.restart();
    io.run_for(50ms);  // whatever is still queued runs now: nothing reaches the handler
    CHECK(seen.frame_count() == at_close);
    CHECK(seen.down_count() == 0);
  }
}

TEST_CASE("the carrier closes the door fd when destroyed", "[proxy][door]") {
  asio::io_context io;
  Pair p;
  {
    DoorCarrier c(io.get_executor(), p.carrier_end);
  }
  io.run_for(50ms);
  std::vector<uint8_t> call;
  CHECK_FALSE(read_call(p.relay_end, call));
}
