// The proxy door API of libstmf (stmfInitProxyDoor, stmfPostProxyMsg, stmfDestroyProxyDoor;
// docs/stmfproxy.md) against a real stmfd: install and refusal, posts and their checks, the
// door calls stmfd makes in door mode, and every way a door goes away.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <libstmf.h>
#include "proxy/codec.h"
#include "proxy/messages.h"
#include "test/integration/daemon.h"
#include "test/integration/door_util.h"

using stmf::test::Daemon;
using stmf::test::DaemonOptions;

namespace {

// Hang guard for conditions that must come true (never a timing assertion).
constexpr auto kGuard = std::chrono::seconds(20);

void use(const Daemon& d) { ::setenv("STMFD_SOCKET", d.socket_path().c_str(), 1); }

DaemonOptions door_mode() {
  DaemonOptions o;
  o.top_json_extra = R"("alua": {"enabled": true, "node": 0, "carrier": "door"}, )";
  return o;
}

// Polls `done` until it holds or the hang guard expires.
bool eventually(const std::function<bool()>& done) {
  const auto end = std::chrono::steady_clock::now() + kGuard;
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

using Pair = stmf::test::DoorPair;

// A door handle destroyed at scope exit (unless released).
struct Handle {
  int hdl = -1;
  ~Handle() { reset(); }
  void reset() {
    if (hdl >= 0) stmfDestroyProxyDoor(hdl);
    hdl = -1;
  }
};

using stmfproxy::get_be32;
using stmfproxy::put_be32;

// A well-formed proxy frame (ECHO_REQUEST with `n` data bytes), length prefix included.
std::vector<uint8_t> echo_frame(uint64_t msg_id, size_t n) {
  return stmf::proxy::encode(stmf::proxy::Message{msg_id, stmf::proxy::EchoRequest{std::vector<uint8_t>(n, 0x5a)}});
}

// One door call as stmfd makes it: u32 size + that many bytes (one whole frame).
std::vector<uint8_t> read_door_call(int fd) {
  std::vector<uint8_t> call;
  REQUIRE(stmf::test::read_door_call(fd, call, kGuard));
  return call;
}

void answer(int fd, uint32_t result) { REQUIRE(stmf::test::answer_door_call(fd, result)); }

// True when a fresh door can be installed now (and removes it again).
bool can_install() {
  Pair p;
  int hdl = -1;
  const int rc = stmfInitProxyDoor(&hdl, p.door());
  if (rc == STMF_STATUS_SUCCESS) stmfDestroyProxyDoor(hdl);
  return rc == STMF_STATUS_SUCCESS;
}

}  // namespace

TEST_CASE("stmfInitProxyDoor checks its arguments and finds stmfd", "[door]") {
  ::setenv("STMFD_SOCKET", "/nonexistent-dir/stmfd.sock", 1);
  Pair p;
  int hdl = 12345;
  CHECK(stmfInitProxyDoor(nullptr, p.door()) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfInitProxyDoor(&hdl, -1) == STMF_ERROR_INVALID_ARG);
  const int closed = ::dup(p.door());
  ::close(closed);
  CHECK(stmfInitProxyDoor(&hdl, closed) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfInitProxyDoor(&hdl, p.door()) == STMF_ERROR_SERVICE_NOT_FOUND);  // no stmfd there
  CHECK(hdl == 12345);                                                        // untouched on failure
}

TEST_CASE("only one door at a time and a second install is refused until the first is destroyed", "[door]") {
  Daemon d;
  use(d);
  Pair a, b;
  Handle h;
  REQUIRE(stmfInitProxyDoor(&h.hdl, a.door()) == STMF_STATUS_SUCCESS);
  CHECK(h.hdl >= 0);
  // The caller keeps its descriptor: stmfd got its own copy.
  CHECK(::fcntl(a.door(), F_GETFD) >= 0);
  int other = -1;
  CHECK(stmfInitProxyDoor(&other, b.door()) == STMF_ERROR_DOOR_INSTALLED);
  CHECK(other == -1);
  h.reset();  // stmfDestroyProxyDoor waits for stmfd: the door is gone when it returns
  Handle h2;
  CHECK(stmfInitProxyDoor(&h2.hdl, b.door()) == STMF_STATUS_SUCCESS);
}

TEST_CASE("stmfPostProxyMsg checks its arguments and stmfd the frame and bogus handles are refused", "[door]") {
  Daemon d;
  use(d);
  Pair p;
  Handle h;
  REQUIRE(stmfInitProxyDoor(&h.hdl, p.door()) == STMF_STATUS_SUCCESS);
  auto good = echo_frame(1, 16);
  CHECK(stmfPostProxyMsg(h.hdl, good.data(), uint32_t(good.size())) == STMF_STATUS_SUCCESS);

  // Refused by libstmf before anything is sent.
  CHECK(stmfPostProxyMsg(h.hdl, nullptr, 16) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfPostProxyMsg(h.hdl, good.data(), 0) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfPostProxyMsg(h.hdl, good.data(), (64u << 20) + 1) == STMF_ERROR_INVALID_ARG);  // larger than stmfd takes

  // Refused by stmfd: not a proxy frame. The handle stays usable.
  uint8_t three[3] = {1, 2, 3};
  CHECK(stmfPostProxyMsg(h.hdl, three, 3) == STMF_ERROR_INVALID_ARG);
  auto wrong_len = good;
  put_be32(wrong_len.data(), uint32_t(wrong_len.size()));  // should be size - 4
  CHECK(stmfPostProxyMsg(h.hdl, wrong_len.data(), uint32_t(wrong_len.size())) == STMF_ERROR_INVALID_ARG);
  std::vector<uint8_t> twenty(20, 0);
  put_be32(twenty.data(), 99);
  twenty[4] = stmf::proxy::kProtocolVersion;
  CHECK(stmfPostProxyMsg(h.hdl, twenty.data(), 20) == STMF_ERROR_INVALID_ARG);
  auto wrong_version = good;
  wrong_version[4] = stmf::proxy::kProtocolVersion + 1;
  CHECK(stmfPostProxyMsg(h.hdl, wrong_version.data(), uint32_t(wrong_version.size())) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfPostProxyMsg(h.hdl, good.data(), uint32_t(good.size())) == STMF_STATUS_SUCCESS);

  // Handles that are not (or no longer) door handles: STMF_ERROR_INVALID_ARG, nothing written.
  CHECK(stmfPostProxyMsg(-1, good.data(), uint32_t(good.size())) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfPostProxyMsg(p.relay(), good.data(), uint32_t(good.size())) == STMF_ERROR_INVALID_ARG);
  const int old = h.hdl;
  h.reset();
  CHECK(stmfPostProxyMsg(old, good.data(), uint32_t(good.size())) == STMF_ERROR_INVALID_ARG);
  stmfDestroyProxyDoor(old);  // twice, and on bogus handles: no effect
  stmfDestroyProxyDoor(-1);
  CHECK(can_install());
}

TEST_CASE("posts from several threads on one handle do not interleave", "[door]") {
  Daemon d;
  use(d);
  Pair p;
  Handle h;
  REQUIRE(stmfInitProxyDoor(&h.hdl, p.door()) == STMF_STATUS_SUCCESS);
  std::atomic<int> ok{0}, bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        auto f = echo_frame(uint64_t(t * 1000 + i), size_t(1 + (i * 977 + t * 131) % 70000));
        (stmfPostProxyMsg(h.hdl, f.data(), uint32_t(f.size())) == STMF_STATUS_SUCCESS ? ok : bad)++;
      }
    });
  for (auto& th : threads) th.join();
  CHECK(ok == 400);
  CHECK(bad == 0);
}

TEST_CASE("a dead stmfd makes posts fail with STMF_ERROR_POST_MSG_FAILED", "[door]") {
  Daemon d;
  use(d);
  Pair p;
  Handle h;
  REQUIRE(stmfInitProxyDoor(&h.hdl, p.door()) == STMF_STATUS_SUCCESS);
  d.kill9();
  auto f = echo_frame(7, 8);
  CHECK(stmfPostProxyMsg(h.hdl, f.data(), uint32_t(f.size())) == STMF_ERROR_POST_MSG_FAILED);
  CHECK(stmfPostProxyMsg(h.hdl, f.data(), uint32_t(f.size())) == STMF_ERROR_POST_MSG_FAILED);  // broken until destroyed
  h.reset();  // returns at once
  d.restart();
  CHECK(can_install());
}

TEST_CASE("a door goes away with the process that installed it", "[door]") {
  Daemon d;
  use(d);
  Pair p;
  const pid_t child = ::fork();
  if (child == 0) {
    int hdl;
    ::_exit(stmfInitProxyDoor(&hdl, p.door()) == STMF_STATUS_SUCCESS ? 0 : 1);  // exits without destroying it
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  CHECK(eventually(can_install));
}

TEST_CASE("in door mode stmfd says HELLO through the door", "[door]") {
  Daemon d(door_mode());
  use(d);
  Pair p;
  Handle h;
  REQUIRE(stmfInitProxyDoor(&h.hdl, p.door()) == STMF_STATUS_SUCCESS);
  p.close(1);  // stmfd has its own copy
  auto call = read_door_call(p.relay());
  // One whole frame: its own length prefix, the protocol version, type HELLO.
  REQUIRE(call.size() >= stmf::proxy::kHeaderSize);
  CHECK(get_be32(call.data()) == call.size() - 4);
  CHECK(call[4] == stmf::proxy::kProtocolVersion);
  CHECK(call[5] == uint8_t(stmf::proxy::MsgType::hello));
  stmf::proxy::Message m;
  std::string why;
  REQUIRE(stmf::proxy::decode(call.data(), call.size(), m, why) == stmf::proxy::DecodeError::none);
  const auto* hello = std::get_if<stmf::proxy::Hello>(&m.body);
  REQUIRE(hello);
  CHECK(hello->node == 0);
  CHECK(hello->alua_enabled);
  answer(p.relay(), 0);  // taken
  // With no peer answering, stmfd says HELLO again: the door stays in use.
  auto again = read_door_call(p.relay());
  CHECK(again[5] == uint8_t(stmf::proxy::MsgType::hello));
  answer(p.relay(), ENOTCONN);  // lost: logged and counted by stmfd, which keeps handshaking
  auto third = read_door_call(p.relay());
  CHECK(third[5] == uint8_t(stmf::proxy::MsgType::hello));
  answer(p.relay(), 0);
}

TEST_CASE("closing the relay's end of the door uninstalls it", "[door]") {
  Daemon d(door_mode());
  use(d);
  Pair p;
  Handle h;
  REQUIRE(stmfInitProxyDoor(&h.hdl, p.door()) == STMF_STATUS_SUCCESS);
  p.close(1);
  (void)read_door_call(p.relay());  // the door is in use (HELLO)
  p.close(0);                       // the relay's end: stmfd sees EOF and removes the door
  // The handle's connection is still open, yet a new door can be installed.
  Pair q;
  Handle h2;
  CHECK(eventually([&] { return stmfInitProxyDoor(&h2.hdl, q.door()) == STMF_STATUS_SUCCESS; }));
  q.close(1);
  auto call = read_door_call(q.relay());  // and it is the one in use now
  CHECK(call[5] == uint8_t(stmf::proxy::MsgType::hello));
}

TEST_CASE("a relay that restarts installs its door at once after the old relay's end closed", "[door]") {
  // As with illumos, where the kernel revokes a dead process's door: a door whose relay is
  // gone is not "established", even if stmfd has not handled the hang-up yet. Twenty quick
  // restarts, each install right after the previous relay's end closed, none retried.
  Daemon d(door_mode());
  use(d);
  for (int i = 0; i < 20; ++i) {
    Pair p;
    Handle h;
    REQUIRE(stmfInitProxyDoor(&h.hdl, p.door()) == STMF_STATUS_SUCCESS);
    p.close(1);
    (void)read_door_call(p.relay());  // in use
    p.close(0);                       // the relay dies: its end of the door closes
    // (its handle's connection stays open until the end of this iteration, after the new
    // install: a late destroy through it finds its door replaced and removes nothing)
    Pair q;
    Handle h2;
    INFO("restart " << i);
    REQUIRE(stmfInitProxyDoor(&h2.hdl, q.door()) == STMF_STATUS_SUCCESS);
    stmfDestroyProxyDoor(h2.hdl);
    h2.hdl = -1;
  }
}

// ---------------------------------------------------------------- issue 13 (seed 001)

namespace {

// One get-alua-state request on stmfd's management socket; the raw JSON line of the answer.
std::string alua_state_line(const Daemon& d) {
  const int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(s >= 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, d.socket_path().c_str(), sizeof a.sun_path - 1);
  REQUIRE(::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  const std::string req = "{\"v\":1,\"op\":\"get-alua-state\"}\n";
  REQUIRE(::write(s, req.data(), req.size()) == ssize_t(req.size()));
  std::string line;
  char c;
  while (::read(s, &c, 1) == 1 && c != '\n') line += c;
  ::close(s);
  return line;
}

// A descriptor is still open (the caller's: nothing closed it behind its back).
bool open_fd(int fd) { return ::fcntl(fd, F_GETFD) >= 0; }

// Reads door calls off the relay's end (answering 0, and answering ECHO_REQUESTs with an
// ECHO_REPLY posted through `hdl` so that the link stays up) until one of type T arrives.
template <class T>
std::pair<stmf::proxy::Message, T> next_of(int relay, int hdl, uint32_t result_for_match = 0) {
  for (;;) {
    std::vector<uint8_t> call;
    REQUIRE(stmf::test::read_door_call(relay, call, kGuard));
    stmf::proxy::Message m;
    std::string why;
    REQUIRE(stmf::proxy::decode(call.data(), call.size(), m, why) == stmf::proxy::DecodeError::none);
    if (auto* t = std::get_if<T>(&m.body)) {
      answer(relay, result_for_match);
      return {m, *t};
    }
    answer(relay, 0);
    if (auto* e = std::get_if<stmf::proxy::EchoRequest>(&m.body)) {
      auto f = stmf::proxy::encode(stmf::proxy::Message{m.msg_id, stmf::proxy::EchoReply{{e->data}}});
      REQUIRE(stmfPostProxyMsg(hdl, f.data(), uint32_t(f.size())) == STMF_STATUS_SUCCESS);
    }
  }
}

}  // namespace

TEST_CASE("stmfInitProxyDoor refuses what cannot be a door and never closes the caller's descriptor", "[door]") {
  Daemon d;
  use(d);
  int hdl = 4242;
  auto refused = [&](int fd) {
    const int rc = stmfInitProxyDoor(&hdl, fd);
    if (rc == STMF_STATUS_SUCCESS) stmfDestroyProxyDoor(hdl);
    return rc == STMF_ERROR_INVALID_ARG && hdl == 4242;
  };
  // A regular file.
  char path[] = "/tmp/door_test_XXXXXX";
  const int file = ::mkstemp(path);
  REQUIRE(file >= 0);
  ::unlink(path);
  CHECK(refused(file));
  CHECK(open_fd(file));
  ::close(file);
  // A pipe (either end).
  int pfd[2];
  REQUIRE(::pipe(pfd) == 0);
  CHECK(refused(pfd[0]));
  CHECK(refused(pfd[1]));
  CHECK(open_fd(pfd[0]));
  CHECK(open_fd(pfd[1]));
  ::close(pfd[0]);
  ::close(pfd[1]);
  // A closed descriptor.
  const int closed = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ::close(closed);
  CHECK(refused(closed));
  // Sockets of the wrong kind: TCP, UDP, a Unix datagram or seqpacket pair, a listening or an
  // unconnected Unix stream socket.
  const int tcp = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int dg[2], sp[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, dg) == 0);
  REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == 0);
  const int unconnected = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int listening = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un la{};
  la.sun_family = AF_UNIX;  // autobind: an abstract address
  REQUIRE(::bind(listening, reinterpret_cast<sockaddr*>(&la), sizeof(sa_family_t)) == 0);
  REQUIRE(::listen(listening, 1) == 0);
  for (int fd : {tcp, udp, dg[0], sp[0], unconnected, listening}) {
    CHECK(refused(fd));
    CHECK(open_fd(fd));
    ::close(fd);
  }
  ::close(dg[1]);
  ::close(sp[1]);
  // What a relay passes (a connected Unix stream socket) is a door.
  CHECK(can_install());
}

TEST_CASE("installing a door on a tcp node switches it to the door carrier, persisted (illumos stmfproxy order)",
          "[door]") {
  Daemon d;  // the default configuration: alua.carrier tcp, ALUA disabled
  use(d);
  CHECK(alua_state_line(d).find("\"carrier\":\"tcp\"") != std::string::npos);
  {
    Pair p;
    Handle h;
    // illumos's stmfproxy: door_create + stmfInitProxyDoor, then stmfSetAluaState(B_TRUE, node).
    REQUIRE(stmfInitProxyDoor(&h.hdl, p.door()) == STMF_STATUS_SUCCESS);
    p.close(1);
    CHECK(alua_state_line(d).find("\"carrier\":\"door\"") != std::string::npos);
    REQUIRE(stmfSetAluaState(B_TRUE, 0) == STMF_STATUS_SUCCESS);
    // The door carries the link: stmfd's HELLO arrives as a door call.
    auto [m, hello] = next_of<stmf::proxy::Hello>(p.relay(), h.hdl);
    CHECK(hello.node == 0);
  }
  // The switch is persisted like any setting: after a restart the node waits for a door.
  REQUIRE(d.terminate(10) == 0);
  d.restart();
  use(d);
  CHECK(alua_state_line(d).find("\"carrier\":\"door\"") != std::string::npos);
  Pair q;
  Handle h2;
  REQUIRE(stmfInitProxyDoor(&h2.hdl, q.door()) == STMF_STATUS_SUCCESS);
  q.close(1);
  auto [m2, hello2] = next_of<stmf::proxy::Hello>(q.relay(), h2.hdl);
  CHECK(hello2.node == 0);
}

TEST_CASE("a non-zero door result is logged and counted without further action and the link stays up", "[door]") {
  DaemonOptions o;
  o.top_json_extra =
      R"("alua": {"enabled": true, "node": 0, "carrier": "door", "heartbeat_ms": 100, "timeout_ms": 15000}, )";
  Daemon d(o);
  use(d);
  Pair p;
  Handle h;
  REQUIRE(stmfInitProxyDoor(&h.hdl, p.door()) == STMF_STATUS_SUCCESS);
  p.close(1);
  // The link comes up: stmfd's HELLO, the peer's (node 1) posted, stmfd's answering HELLO.
  auto [m0, ours] = next_of<stmf::proxy::Hello>(p.relay(), h.hdl);
  stmf::proxy::Hello peer;
  peer.node = 1;
  peer.incarnation = 0x1234;
  peer.name = "fake-peer";
  auto f = stmf::proxy::encode(stmf::proxy::Message{0, peer});
  REQUIRE(stmfPostProxyMsg(h.hdl, f.data(), uint32_t(f.size())) == STMF_STATUS_SUCCESS);
  auto [m1, reply] = next_of<stmf::proxy::Hello>(p.relay(), h.hdl);
  CHECK(reply.incarnation == ours.incarnation);
  CHECK(eventually([&] { return alua_state_line(d).find("\"link\":\"up\"") != std::string::npos; }));
  // A heartbeat door call answered EIO: logged and counted, nothing else.
  (void)next_of<stmf::proxy::EchoRequest>(p.relay(), h.hdl, EIO);
  CHECK(eventually([&] { return alua_state_line(d).find("\"door_call_failures\":1") != std::string::npos; }));
  // No new handshake (a HELLO with a new incarnation) follows: the next heartbeats come, and
  // the link is still up.
  for (int i = 0; i < 3; ++i) {
    std::vector<uint8_t> call;
    REQUIRE(stmf::test::read_door_call(p.relay(), call, kGuard));
    answer(p.relay(), 0);
    stmf::proxy::Message m;
    std::string why;
    REQUIRE(stmf::proxy::decode(call.data(), call.size(), m, why) == stmf::proxy::DecodeError::none);
    CHECK_FALSE(std::holds_alternative<stmf::proxy::Hello>(m.body));
    if (auto* e = std::get_if<stmf::proxy::EchoRequest>(&m.body)) {
      auto r = stmf::proxy::encode(stmf::proxy::Message{m.msg_id, stmf::proxy::EchoReply{{e->data}}});
      REQUIRE(stmfPostProxyMsg(h.hdl, r.data(), uint32_t(r.size())) == STMF_STATUS_SUCCESS);
    }
  }
  const std::string st = alua_state_line(d);
  CHECK(st.find("\"link\":\"up\"") != std::string::npos);
  CHECK(st.find("\"door_call_failures\":1") != std::string::npos);
}

TEST_CASE("stmfd itself refuses a descriptor that cannot be a door (a client other than libstmf)", "[door]") {
  Daemon d;
  const int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(s >= 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, d.socket_path().c_str(), sizeof a.sun_path - 1);
  REQUIRE(::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  int pfd[2];
  REQUIRE(::pipe(pfd) == 0);
  std::string req = "{\"v\":1,\"op\":\"init-proxy-door\"}\n";
  iovec iov{req.data(), req.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &pfd[0], sizeof(int));
  REQUIRE(::sendmsg(s, &msg, MSG_NOSIGNAL) == ssize_t(req.size()));
  std::string line;
  char ch;
  while (::read(s, &ch, 1) == 1 && ch != '\n') line += ch;
  ::close(s);
  CHECK(line.find("\"status\":" + std::to_string(STMF_ERROR_INVALID_ARG)) != std::string::npos);
  CHECK(line.find("pipe") != std::string::npos);
  ::close(pfd[0]);
  ::close(pfd[1]);
  use(d);
  CHECK(can_install());  // nothing was installed
}

TEST_CASE("seed 001 in C as an illumos stmfproxy calls it (door_c_check.c) on a tcp node", "[door]") {
  Daemon d;  // carrier tcp, ALUA disabled
  use(d);
  const pid_t child = ::fork();
  if (child == 0) {
    ::execl(DOOR_C_CHECK, DOOR_C_CHECK, static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
