// stmfproxy (docs/stmfproxy.md) against real stmfd processes in door mode: two relays link two
// nodes; the relay survives a restarted stmfd, a lost peer relay and a misbehaving peer; --node
// enables ALUA; SIGTERM destroys the door. A test socket plays the peer relay where the wire
// format itself is checked.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mgmt/client.h"
#include "proxy/codec.h"
#include "proxy/messages.h"
#include "test/integration/daemon.h"
#include "test/integration/door_util.h"

using stmf::test::Daemon;
using stmf::test::DaemonOptions;

namespace {

// Hang guard for conditions that must come true (never a timing assertion).
constexpr auto kGuard = std::chrono::seconds(30);

bool eventually(const std::function<bool()>& done) {
  const auto end = std::chrono::steady_clock::now() + kGuard;
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

DaemonOptions door_node(int node, bool enabled = true) {
  DaemonOptions o;
  o.top_json_extra = std::string(R"("alua": {"enabled": )") + (enabled ? "true" : "false") + R"(, "node": )" +
                     std::to_string(node) + R"(, "carrier": "door", "heartbeat_ms": 100, "timeout_ms": 1000}, )";
  return o;
}

// get-alua-state of a daemon (null when it does not answer).
stmf::mgmt::json alua_state(const Daemon& d) {
  stmf::mgmt::Client c(d.socket_path());
  stmf::mgmt::json r;
  if (!c.call("get-alua-state", stmf::mgmt::json::object(), r).ok()) return nullptr;
  return r;
}
bool link_up(const Daemon& d) {
  auto r = alua_state(d);
  return r.is_object() && r.value("link", "") == "up";
}
bool door_installed(const Daemon& d) {
  auto r = alua_state(d);
  return r.is_object() && r.value("door_installed", false);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One stmfproxy process, stopped (SIGKILL) when the object goes away.
class Relay {
 public:
  Relay(const Daemon& d, std::vector<std::string> args, const std::string& name) : log_(d.dir() + "/" + name + ".log") {
    // Plain TCP unless the test gives TLS options: the wire-format tests play the peer relay
    // with a plain socket.
    if (std::find(args.begin(), args.end(), "--tls-cert") == args.end()) args.push_back("--insecure");
    args.insert(args.begin(), {"stmfproxy", "--socket", d.socket_path(), "--retry-ms", "100", "--log-level", "debug"});
    pid_ = ::fork();
    if (pid_ == 0) {
      int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(fd, 2);
      ::dup2(fd, 1);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(STMFPROXY_BINARY, argv.data());
      ::_exit(127);
    }
    REQUIRE(pid_ > 0);
  }
  ~Relay() { kill9(); }
  Relay(const Relay&) = delete;

  bool running() const { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }
  void kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // SIGTERM; the exit status (-1 when it did not exit within the hang guard).
  int terminate() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    int status = 0;
    const bool exited = eventually([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; });
    if (!exited) return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  // For a relay that exits on its own: its exit status (-1 when it did not exit in the guard).
  int exit_status() {
    if (pid_ <= 0) return -1;
    int status = 0;
    if (!eventually([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; })) return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  std::string log() const { return slurp(log_); }

 private:
  std::string log_;
  pid_t pid_ = -1;
};

// --- a test socket playing the peer relay

int listen_on(uint16_t port) {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(s, 8) == 0);
  return s;
}

int connect_to(uint16_t port) {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(s);
    return -1;
  }
  return s;
}

// Waits up to the hang guard for `fd` to be readable.
bool readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, int(std::chrono::milliseconds(kGuard).count())) > 0;
}

int accept_one(int listener) {
  if (!readable(listener)) return -1;
  return ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
}

// Reads exactly n bytes; false on EOF, error or the hang guard.
bool read_exactly(int fd, uint8_t* p, size_t n) {
  return stmf::test::read_exactly(fd, p, n, std::chrono::duration_cast<std::chrono::milliseconds>(kGuard));
}

uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

// One relay-link message: u32 length + one whole frame (returned without the relay's prefix).
bool read_message(int fd, std::vector<uint8_t>& frame) {
  uint8_t h[4];
  if (!read_exactly(fd, h, 4)) return false;
  frame.resize(be32(h));
  return read_exactly(fd, frame.data(), frame.size());
}

// Accepts connections from the relay until one carries a message (read into `frame`); -1
// when none did within the hang guard.
int accept_linked(int listener, std::vector<uint8_t>& frame) {
  int fd = -1;
  const bool ok = eventually([&] {
    if (fd >= 0) ::close(fd);
    fd = accept_one(listener);
    return fd >= 0 && read_message(fd, frame);
  });
  if (!ok && fd >= 0) ::close(fd);
  return ok ? fd : -1;
}

void send_message(int fd, const std::vector<uint8_t>& frame) {
  std::vector<uint8_t> m(4 + frame.size());
  const uint32_t n = uint32_t(frame.size());
  m[0] = uint8_t(n >> 24), m[1] = uint8_t(n >> 16), m[2] = uint8_t(n >> 8), m[3] = uint8_t(n);
  std::copy(frame.begin(), frame.end(), m.begin() + 4);
  REQUIRE(::send(fd, m.data(), m.size(), MSG_NOSIGNAL) == ssize_t(m.size()));
}

// True when the peer closed `fd` (EOF) within the hang guard; frames before it are skipped.
bool closed_by_peer(int fd) {
  uint8_t buf[4096];
  for (;;) {
    if (!readable(fd)) return false;
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r == 0) return true;
    if (r < 0) return errno == ECONNRESET;
  }
}

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  operator int() const { return fd; }
};

}  // namespace

TEST_CASE("two relays link two stmfd nodes and SIGTERM destroys the door and exits 0", "[stmfproxy]") {
  Daemon a(door_node(0)), b(door_node(1));
  const std::string link = "127.0.0.1:" + std::to_string(stmf::test::free_port());
  Relay ra(a, {"--listen", link}, "relay-a");
  Relay rb(b, {"--connect", link}, "relay-b");
  CHECK(eventually([&] { return link_up(a) && link_up(b); }));
  CHECK(door_installed(a));
  CHECK(door_installed(b));

  CHECK(rb.terminate() == 0);
  CHECK_FALSE(door_installed(b));  // destroyed before the relay exited
  CHECK(rb.log().find("stopped") != std::string::npos);
  // Node A's relay answers ENOTCONN now: node A's link goes down, its door stays.
  CHECK(eventually([&] { return !link_up(a); }));
  CHECK(door_installed(a));
  CHECK(ra.running());
}

TEST_CASE("a restarted stmfd gets its door back and the pair links again", "[stmfproxy]") {
  Daemon a(door_node(0)), b(door_node(1));
  const std::string link = "127.0.0.1:" + std::to_string(stmf::test::free_port());
  Relay ra(a, {"--listen", link}, "relay-a");
  Relay rb(b, {"--connect", link}, "relay-b");
  REQUIRE(eventually([&] { return link_up(a) && link_up(b); }));

  a.kill9();  // the listening side's stmfd
  CHECK(eventually([&] { return !link_up(b); }));
  a.restart();
  CHECK(eventually([&] { return door_installed(a) && link_up(a) && link_up(b); }));

  b.kill9();  // the connecting side's stmfd
  CHECK(eventually([&] { return !link_up(a); }));
  b.restart();
  CHECK(eventually([&] { return link_up(a) && link_up(b); }));
  CHECK(ra.running());
  CHECK(rb.running());
  CHECK(ra.log().find("door lost") != std::string::npos);
  CHECK(rb.log().find("door lost") != std::string::npos);
}

TEST_CASE("a relay that dies takes its door with it and its successor links again", "[stmfproxy]") {
  Daemon a(door_node(0)), b(door_node(1));
  const std::string link = "127.0.0.1:" + std::to_string(stmf::test::free_port());
  Relay ra(a, {"--listen", link}, "relay-a");
  auto rb = std::make_unique<Relay>(b, std::vector<std::string>{"--connect", link}, "relay-b");
  REQUIRE(eventually([&] { return link_up(a) && link_up(b); }));
  rb->kill9();
  CHECK(eventually([&] { return !door_installed(b); }));
  rb = std::make_unique<Relay>(b, std::vector<std::string>{"--connect", link}, "relay-b2");
  CHECK(eventually([&] { return link_up(a) && link_up(b); }));
}

TEST_CASE("the --node option enables ALUA on stmfd after the door is installed", "[stmfproxy]") {
  Daemon a(door_node(0, false)), b(door_node(0, false));
  const std::string link = "127.0.0.1:" + std::to_string(stmf::test::free_port());
  Relay ra(a, {"--listen", link, "--node", "0"}, "relay-a");
  Relay rb(b, {"--connect", link, "--node", "1"}, "relay-b");
  CHECK(eventually([&] { return link_up(a) && link_up(b); }));
  auto sb = alua_state(b);
  REQUIRE(sb.is_object());
  CHECK(sb.value("enabled", false));
  CHECK(sb.value("node", -1) == 1);
}

TEST_CASE("the relay link carries length-prefixed frames both ways", "[stmfproxy]") {
  Daemon a(door_node(0));
  const uint16_t port = stmf::test::free_port();
  Fd listener(listen_on(port));
  Relay ra(a, {"--connect", "127.0.0.1:" + std::to_string(port)}, "relay-a");
  // stmfd's door calls arrive as u32 length + the whole frame: HELLO from node 0. (A relay whose
  // door is lost right after the install closes the link and connects again: take the
  // connection that carries frames.)
  std::vector<uint8_t> f;
  Fd peer(accept_linked(listener, f));
  REQUIRE(peer >= 0);
  REQUIRE(f.size() >= stmf::proxy::kHeaderSize);
  CHECK(be32(f.data()) == f.size() - 4);
  CHECK(f[4] == stmf::proxy::kProtocolVersion);
  CHECK(f[5] == uint8_t(stmf::proxy::MsgType::hello));

  // Something that is not a proxy frame is refused by stmfd (logged); the link stays.
  send_message(peer, {1, 2, 3});
  // A HELLO from a make-believe node 1 reaches stmfd through stmfPostProxyMsg: its link is up.
  stmf::proxy::Hello hello;
  hello.node = 1;
  hello.incarnation = 0x1234;
  hello.name = "test-peer";
  send_message(peer, stmf::proxy::encode(stmf::proxy::Message{0, hello}));
  CHECK(eventually([&] { return link_up(a); }));
  CHECK(ra.log().find("not a valid proxy frame") != std::string::npos);

  // An oversized length drops the connection; the relay connects again.
  const uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
  REQUIRE(::send(peer, huge, 4, MSG_NOSIGNAL) == 4);
  CHECK(closed_by_peer(peer));
  Fd again(accept_linked(listener, f));
  REQUIRE(again >= 0);
  CHECK(f.size() >= stmf::proxy::kHeaderSize);
  CHECK(ra.log().find("dropping the connection") != std::string::npos);
}

TEST_CASE("a listening relay takes a newer connection over the old one", "[stmfproxy]") {
  Daemon a(door_node(0));
  const uint16_t port = stmf::test::free_port();
  Relay ra(a, {"--listen", "127.0.0.1:" + std::to_string(port)}, "relay-a");
  REQUIRE(eventually([&] { return door_installed(a); }));
  // Until its door is in, the relay closes connections; then it keeps one and forwards to it.
  std::vector<uint8_t> f;
  int first = -1;
  REQUIRE(eventually([&] {
    if (first >= 0) ::close(first);
    first = connect_to(port);
    return first >= 0 && read_message(first, f);
  }));
  Fd one(first);
  CHECK(f[5] == uint8_t(stmf::proxy::MsgType::hello));
  Fd two(connect_to(port));
  REQUIRE(two >= 0);
  CHECK(closed_by_peer(one));
  REQUIRE(read_message(two, f));
  CHECK(f[5] == uint8_t(stmf::proxy::MsgType::hello));
}

// --- TLS (docs/security.md "Peer link")

namespace {

// Keys of a pair (scripts/pair-keys.sh) in `dir`; relay N's TLS options, pinned to the other.
std::vector<std::string> tls_args(const std::string& dir, int n, int peer) {
  return {"--tls-cert", dir + "/node" + std::to_string(n) + ".crt", "--tls-key", dir + "/node" + std::to_string(n) + ".key",
          "--tls-peer-cert", dir + "/node" + std::to_string(peer) + ".crt"};
}
void make_keys(const std::string& dir) {
  REQUIRE(std::system((std::string(PAIR_KEYS_SCRIPT) + " " + dir + " >/dev/null").c_str()) == 0);
}
std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

TEST_CASE("relays link over TLS and refuse a plain or unpinned peer relay while the link stays up", "[stmfproxy][tls]") {
  Daemon a(door_node(0)), b(door_node(1));
  const std::string keys = a.dir() + "/keys", other = a.dir() + "/other";
  make_keys(keys);
  make_keys(other);  // a second pair: its certificates are not the pinned ones
  const uint16_t port = stmf::test::free_port();
  const std::string link = "127.0.0.1:" + std::to_string(port);
  Relay ra(a, with({"--listen", link}, tls_args(keys, 0, 1)), "relay-a");
  Relay rb(b, with({"--connect", link}, tls_args(keys, 1, 0)), "relay-b");
  REQUIRE(eventually([&] { return link_up(a) && link_up(b); }));
  CHECK(ra.log().find("TLSv1.3") != std::string::npos);

  // A plain TCP peer speaking the relay wire format (a HELLO) is refused: no TLS handshake.
  stmf::proxy::Hello hello;
  hello.node = 1;
  hello.incarnation = 0x5555;
  hello.name = "impostor";
  {
    Fd plain(connect_to(port));
    REQUIRE(plain >= 0);
    send_message(plain, stmf::proxy::encode(stmf::proxy::Message{0, hello}));
    CHECK(closed_by_peer(plain));
  }
  // A relay with a certificate of its own (not the pinned one) is refused too.
  Daemon c(door_node(1));
  Relay rc(c, with({"--connect", link}, tls_args(other, 1, 0)), "relay-c");
  REQUIRE(eventually([&] { return ra.log().find("TLS handshake failed") != std::string::npos &&
                                  rc.log().find("TLS handshake failed") != std::string::npos; }));
  CHECK_FALSE(link_up(c));
  // The real link never went down for them.
  CHECK(link_up(a));
  CHECK(link_up(b));
  CHECK(ra.log().find("replaced by a newer connection") == std::string::npos);
}

TEST_CASE("stmfproxy refuses to start without TLS or --insecure", "[stmfproxy][tls]") {
  Daemon a(door_node(0));
  // The helper adds --insecure unless --tls-cert is given: give a certificate without a key.
  Relay r(a, {"--listen", "127.0.0.1:" + std::to_string(stmf::test::free_port()), "--tls-cert", "/nonexistent.crt"},
          "relay-bad");
  CHECK(r.exit_status() == 2);
  CHECK(r.log().find("--tls-key") != std::string::npos);
}
