// The peer link against impostors (docs/security.md "Peer link"; issue 14 finding 1): while a
// bystander initiator reads through the standby node (every read proxied over the link), a
// stranger connects to node 1's link port with plain TCP, sends random bytes, forges a HELLO
// claiming node 0 followed by a REGISTER_LUN with a huge epoch, and tries TLS with a
// certificate of its own and with none. Each is refused; the real link stays up throughout,
// every read returns GOOD with the right data, and node 1's descriptors stay bounded.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "mgmt/client.h"
#include "proxy/codec.h"
#include "proxy/messages.h"
#include "test/alua/pair.h"
#include "test/alua/pair_scsi.h"

using namespace stmf::test;

namespace {

constexpr const char* kBystander = "iqn.2026-11.org.example:impostor-bystander";

// A TCP connection to node 1's link port, from `from` (any address when empty).
int connect_link(const Pair& p, const char* from = "") {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  if (*from) {
    sockaddr_in b{};
    b.sin_family = AF_INET;
    ::inet_pton(AF_INET, from, &b.sin_addr);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&b), sizeof b) == 0);
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(std::stoi(p.env("LINK_PORT"))));
  ::inet_pton(AF_INET, "127.0.0.2", &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void send_all(int fd, const std::vector<uint8_t>& b) {
  size_t off = 0;
  while (off < b.size()) {
    const ssize_t n = ::send(fd, b.data() + off, b.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;  // refused and closed: fine
    off += size_t(n);
  }
}

// True when the daemon closed `fd` (EOF or reset) within the hang guard; what it sent first
// is returned in `got` (nothing, when it refused).
bool closed_by_daemon(int fd, std::vector<uint8_t>& got) {
  const auto end = std::chrono::steady_clock::now() + kGuard;
  while (std::chrono::steady_clock::now() < end) {
    pollfd pf{fd, POLLIN, 0};
    if (::poll(&pf, 1, 100) <= 0) continue;
    uint8_t buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return true;
    got.insert(got.end(), buf, buf + n);
  }
  return false;
}

size_t open_fds(pid_t pid) {
  size_t n = 0;
  DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  REQUIRE(d);
  while (auto* e = ::readdir(d)) n += e->d_name[0] != '.';
  ::closedir(d);
  return n;
}

uint64_t vm_rss(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  FAIL("no VmRSS for pid " << pid);
  return 0;
}

stmf::mgmt::json alua_state(const Pair& p, int node) {
  stmf::mgmt::Client c(p.socket(node));
  stmf::mgmt::json r;
  REQUIRE(c.call("get-alua-state", stmf::mgmt::json::object(), r).ok());
  return r;
}

// `openssl s_client` with `args`: a TLS client against the link port that sends nothing after
// its handshake. (In TLS 1.3 the client finishes before the server checked its certificate:
// whether it was refused shows on the daemon's side.)
void tls_client(const Pair& p, const std::string& args) {
  const std::string cmd = "timeout 20 openssl s_client -quiet -no_ign_eof -connect 127.0.0.2:" + p.env("LINK_PORT") + " " +
                          args + " </dev/null >>" + p.dir() + "/s_client.out 2>&1";
  (void)std::system(cmd.c_str());
}

// A proxy frame header at the start of `b` (what node 1 would send a peer: its HELLO).
bool looks_like_frame(const std::vector<uint8_t>& b) {
  return b.size() >= stmf::proxy::kHeaderSize && b[4] == stmf::proxy::kProtocolVersion &&
         b[5] == uint8_t(stmf::proxy::MsgType::hello);
}

}  // namespace

TEST_CASE("impostors on the link port are refused while the real link keeps serving", "[alua][tls]") {
  Pair p;
  REQUIRE(alua_state(p, 1).value("tls", false));
  Ctx a(kBystander), b(kBystander);
  login(a, p, 0);
  login(b, p, 1);
  const auto data = pattern(8 * 512, 0x5a);
  write_blocks(a, 0, 100, data);
  REQUIRE(read_blocks(b, 0, 100, 8 * 512) == data);
  const size_t fds_before = open_fds(p.pid(1));
  const uint64_t rss_before = vm_rss(p.pid(1));

  // The bystander: reads through node 1 until the attacks are over.
  std::atomic<bool> done{false};
  std::atomic<int> reads{0}, bad{0};
  std::thread bystander([&] {
    while (!done) {
      Task t(iscsi_read10_sync(b, 0, 100, 8 * 512, 512, 0, 0, 0, 0, 0));
      ++reads;
      if (!t || t->status != SCSI_STATUS_GOOD || bytes(t) != data) ++bad;
    }
  });

  // A second pair's keys: valid certificates, but not the pinned ones.
  const std::string other = p.dir() + "/other";
  REQUIRE(std::system(("$(dirname " + std::string(PAIR_SCRIPT) + ")/pair-keys.sh " + other + " >/dev/null").c_str()) == 0);
  std::mt19937 rng(14);
  const int rounds = 2;
  for (int round = 0; round < rounds; ++round) {
    INFO("round " << round);
    std::vector<uint8_t> got;
    {  // from an address that is not the peer's (node 0 is 127.0.0.1): closed at once
      const int fd = connect_link(p, "127.0.0.3");
      REQUIRE(fd >= 0);
      send_all(fd, stmf::proxy::encode(stmf::proxy::Message{0, stmf::proxy::Hello{0, 0x1badd00d, true, "impostor"}}));
      CHECK(closed_by_daemon(fd, got));
      CHECK_FALSE(looks_like_frame(got));
      ::close(fd);
    }
    got.clear();
    {  // plain TCP, nothing sent: closed at the handshake timeout (or at once)
      const int fd = connect_link(p);
      REQUIRE(fd >= 0);
      CHECK(closed_by_daemon(fd, got));
      CHECK_FALSE(looks_like_frame(got));  // no HELLO for a stranger
      ::close(fd);
    }
    got.clear();
    {  // random bytes
      const int fd = connect_link(p);
      REQUIRE(fd >= 0);
      std::vector<uint8_t> junk(4096);
      for (auto& x : junk) x = uint8_t(rng());
      send_all(fd, junk);
      CHECK(closed_by_daemon(fd, got));
      ::close(fd);
    }
    got.clear();
    {  // a forged HELLO claiming node 0, then a REGISTER_LUN with a huge epoch, over plain TCP
      const int fd = connect_link(p);
      REQUIRE(fd >= 0);
      using namespace stmf::proxy;
      auto f = encode(Message{0, Hello{0, 0x1badd00d, true, "impostor"}});
      Guid guid{};
      REQUIRE(p.guid().size() == 32);
      for (size_t i = 0; i < 16; ++i) guid[i] = uint8_t(std::stoi(p.guid().substr(2 * i, 2), nullptr, 16));
      auto reg = encode(Message{1, RegisterLun{guid, "sbd", R"({"size": 67108864, "epoch": 999999999})"}});
      f.insert(f.end(), reg.begin(), reg.end());
      send_all(fd, f);
      CHECK(closed_by_daemon(fd, got));
      CHECK_FALSE(looks_like_frame(got));
      ::close(fd);
    }
    // TLS with a certificate that is not the pinned one (node 0's name, another key), and none.
    tls_client(p, "-cert " + other + "/node0.crt -key " + other + "/node0.key");
    tls_client(p, "");
  }
  done = true;
  bystander.join();

  INFO(reads << " reads through node 1, " << bad << " failed");
  CHECK(reads > 0);
  CHECK(bad == 0);
  auto st = alua_state(p, 1);
  CHECK(st["link"] == "up");
  CHECK(st.value("refused_connections", 0) >= 6 * rounds);
  // Logged, rate-limited: the first refusal, then a count of the rest.
  CHECK(p.log(1).find("proxy link: refused a connection from 127.0.0.3") != std::string::npos);
  CHECK(p.log(1).find("replaced by a new connection") == std::string::npos);
  CHECK(p.log(0).find("proxy link down") == std::string::npos);
  // The LU is still node 0's, and node 1 still proxies it.
  REQUIRE(read_blocks(b, 0, 100, 8 * 512) == data);
  // Every refused connection was closed: node 1's descriptors are back near where they were.
  CHECK(open_fds(p.pid(1)) <= fds_before + 4);
  CHECK(vm_rss(p.pid(1)) <= rss_before + (64u << 20));
}

// Node 0 dials its peer's address: a server there without the pinned certificate (node 1 is
// gone, a stranger took its port) never becomes the peer.
TEST_CASE("node 0 refuses a peer whose certificate is not the pinned one", "[alua][tls]") {
  Pair p;
  const std::string other = p.dir() + "/other";
  REQUIRE(std::system(("$(dirname " + std::string(PAIR_SCRIPT) + ")/pair-keys.sh " + other + " >/dev/null").c_str()) == 0);
  p.signal(1, SIGKILL);
  const auto down = std::chrono::steady_clock::now() + kGuard;
  while (alua_state(p, 0)["link"] == "up" && std::chrono::steady_clock::now() < down)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(alua_state(p, 0)["link"] != "up");
  const uint64_t refused_before = alua_state(p, 0).value("refused_connections", uint64_t(0));
  // The stranger: a TLS server on node 1's link address with a certificate of its own (and
  // asking for node 0's, as node 1 would). It runs until node 0 has tried it a few times.
  const std::string server = "timeout 6 openssl s_server -quiet -accept 127.0.0.2:" + p.env("LINK_PORT") + " -cert " +
                             other + "/node1.crt -key " + other + "/node1.key -Verify 1 >" + p.dir() +
                             "/s_server.out 2>&1 </dev/null";
  std::thread stranger([&] { (void)std::system(server.c_str()); });
  // Checked while the stranger still runs (node 0 redials it every 0.5 s).
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  auto st = alua_state(p, 0);
  while (st.value("refused_connections", uint64_t(0)) <= refused_before && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    st = alua_state(p, 0);
  }
  CHECK(st.value("refused_connections", uint64_t(0)) > refused_before);
  CHECK(st["link"] != "up");
  stranger.join();
  CHECK(alua_state(p, 0)["link"] != "up");
  CHECK(p.log(0).find("certificate verify failed") != std::string::npos);
}
