// Seed 000 (stmfSetAluaState(3STMF)) in the illumos stmfproxy loop, against a real door pair
// (scripts/pair.sh --carrier door): the pair's own relays step aside and a C99 program linked
// to libstmf (test/management/libstmf/seed000_alua_loop.c) installs the doors, enables ALUA on
// both nodes, relays every door call with stmfPostProxyMsg, restarts "the peer" (its door
// destroyed or its relay crashed, then a new door and stmfSetAluaState(B_TRUE, node)) and
// enables again with the link up — while an initiator writes through the standby node the
// whole time. No write may fail: the only answers allowed besides GOOD are the ones initiators
// retry on the same path (NOT READY, ASYMMETRIC ACCESS STATE TRANSITION; UNIT ATTENTION), and
// every block reads back, through the active node, as last acknowledged.
#include <catch2/catch.hpp>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "mgmt/client.h"
#include "test/alua/pair.h"
#include "test/alua/pair_scsi.h"
#include "test/integration/libiscsi_util.h"

using stmf::mgmt::Client;
using stmf::mgmt::json;
using namespace stmf::test;

namespace {

constexpr const char* kInitiator1 = "iqn.2026-11.org.example:seed000-host1";
constexpr const char* kInitiator2 = "iqn.2026-11.org.example:seed000-host2";
constexpr uint32_t kBlocks = 64;  // the writer cycles over LBAs 0..63 (one 4 KiB write each)

json alua_state(const Pair& p, int node) {
  Client c(p.socket(node));
  json r;
  if (!c.call("get-alua-state", json::object(), r).ok()) return nullptr;
  return r;
}

void wait_for(const std::string& what, const std::function<bool()>& cond) {
  const auto end = std::chrono::steady_clock::now() + kGuard;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  FAIL("not reached within the hang guard: " << what);
}

// Both nodes linked, node 0 settled as the owner (no hold) and node 1 with the standby LU.
bool settled(const Pair& p) {
  json a = alua_state(p, 0), b = alua_state(p, 1);
  return a.is_object() && b.is_object() && a.value("link", "") == "up" && b.value("link", "") == "up" &&
         !a.value("ownership_hold", true) && b.value("standby_lus", 0) == 1;
}

// The C program: commands on its stdin, one answer line each on its stdout.
class Loop {
 public:
  Loop(const std::string& sock0, const std::string& sock1, const std::string& log) {
    // Close-on-exec: the program holds only its own ends, so it sees EOF on stdin (and exits)
    // when this process goes away, however it goes.
    int in[2], out[2];
    REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(fd, 2);
      ::execl(SEED000_LOOP, SEED000_LOOP, sock0.c_str(), sock1.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    REQUIRE(pid_ > 0);
    ::close(in[0]);
    ::close(out[1]);
    to_ = in[1];
    from_ = out[0];
  }
  ~Loop() {
    if (to_ >= 0) ::close(to_);
    if (from_ >= 0) ::close(from_);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Loop(const Loop&) = delete;

  // The next answer line ("" when none came within the hang guard).
  std::string answer() {
    const auto end = std::chrono::steady_clock::now() + kGuard;
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      if (left.count() <= 0) return "";
      pollfd pf{from_, POLLIN, 0};
      if (::poll(&pf, 1, int(left.count())) <= 0) return "";
      char b[256];
      ssize_t r = ::read(from_, b, sizeof b);
      if (r <= 0) return "";
      buf_.append(b, size_t(r));
    }
  }
  std::string command(const std::string& c) {
    const std::string line = c + "\n";
    REQUIRE(::write(to_, line.data(), line.size()) == ssize_t(line.size()));
    return answer();
  }
  // Waits for the program to exit; its exit status (-1 if it did not within the hang guard).
  int wait() {
    ::close(to_);
    to_ = -1;
    int status = 0;
    const auto end = std::chrono::steady_clock::now() + kGuard;
    while (std::chrono::steady_clock::now() < end) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
  std::string buf_;
};

// Writes 4 KiB blocks through one node, cycling over kBlocks LBAs, until stopped. Each write
// is retried as an initiator does (scsi_dh_alua, libiscsi users) on NOT READY / ASYMMETRIC
// ACCESS STATE TRANSITION and on UNIT ATTENTION; any other answer is a failure.
struct Writer {
  Ctx& ctx;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> done{0}, retried{0}, failed{0};
  std::map<uint32_t, uint8_t> last;  // LBA -> seed of the last acknowledged write (writer thread)
  std::vector<std::string> failures;
  std::thread th;

  explicit Writer(Ctx& c) : ctx(c) {
    th = std::thread([this] { run(); });
  }
  ~Writer() { halt(); }
  void halt() {
    stop = true;
    if (th.joinable()) th.join();
  }
  // Waits until `n` more writes were acknowledged (bounded by the hang guard).
  bool progress(uint64_t n) {
    const uint64_t want = done + n;
    const auto end = std::chrono::steady_clock::now() + kGuard;
    while (std::chrono::steady_clock::now() < end && failed == 0) {
      if (done >= want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

 private:
  void run() {
    for (uint32_t i = 0; !stop; ++i) {
      const uint32_t lba = (i % kBlocks) * 8;
      const uint8_t seed = uint8_t(i * 13 + 1);
      auto data = pattern(4096, seed);
      const auto end = std::chrono::steady_clock::now() + kGuard;
      for (;;) {
        Task t(iscsi_write10_sync(ctx, 0, lba, data.data(), uint32_t(data.size()), 512, 0, 0, 0, 0, 0));
        std::string why;
        if (!t) {
          why = "transport failure: " + ctx.error();
        } else if (t->status == SCSI_STATUS_GOOD) {
          last[lba] = seed;
          ++done;
          break;
        } else if (t->status == SCSI_STATUS_CHECK_CONDITION &&
                   ((t->sense.key == SCSI_SENSE_NOT_READY && t->sense.ascq == 0x040a) ||
                    t->sense.key == SCSI_SENSE_UNIT_ATTENTION)) {
          ++retried;
          if (std::chrono::steady_clock::now() < end) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            continue;
          }
          why = "still retried after the hang guard";
        } else {
          why = "status " + std::to_string(t->status) + " sense " + std::to_string(t->sense.key) + "/" +
                std::to_string(t->sense.ascq >> 8) + "/" + std::to_string(t->sense.ascq & 0xff);
        }
        failures.push_back("write " + std::to_string(i) + " at LBA " + std::to_string(lba) + ": " + why);
        ++failed;
        return;
      }
    }
  }
};

}  // namespace

TEST_CASE("seed 000 in C as illumos's stmfproxy loop: door, enable, posts, peer restarts, enable again, "
          "while an initiator writes through the standby node without an error",
          "[alua][seed000]") {
  Pair p("door");
  Ctx a(kInitiator1), b(kInitiator2);
  login(a, p, 0);
  login(b, p, 1);
  tur_until(b, 0, 0);

  // The pair's relays step aside (SIGTERM: each destroys its door and exits).
  p.signal_relay(0, SIGTERM);
  p.signal_relay(1, SIGTERM);
  wait_for("both doors removed", [&] {
    json x = alua_state(p, 0), y = alua_state(p, 1);
    return x.is_object() && y.is_object() && !x.value("door_installed", true) && !y.value("door_installed", true);
  });

  Loop loop(p.socket(0), p.socket(1), p.dir() + "/seed000_loop.log");
  REQUIRE(loop.answer() == "ok started");
  wait_for("the pair linked through the C relay and settled", [&] { return settled(p); });
  tur_until(b, [](int s) { return s == 0; });

  Writer w(b);
  REQUIRE(w.progress(50));

  // 1. The owner's stmfproxy restarts: door destroyed, a new one, ALUA enabled again while its
  //    link is down (a re-initialization).
  CHECK(loop.command("restart 0") == "ok restart 0");
  wait_for("linked again after node 0's relay restarted", [&] { return settled(p); });
  CHECK(w.progress(50));

  // 2. The standby node's stmfproxy crashes (its end of the door closes) and comes back.
  CHECK(loop.command("crash 1") == "ok crash 1");
  wait_for("linked again after node 1's relay crashed", [&] { return settled(p); });
  CHECK(w.progress(50));

  // 3. The owner's stmfproxy crashes and comes back.
  CHECK(loop.command("crash 0") == "ok crash 0");
  wait_for("linked again after node 0's relay crashed", [&] { return settled(p); });
  CHECK(w.progress(50));

  // 4. Enabling again with the link up, on both nodes: nothing is dropped.
  CHECK(loop.command("enable 1") == "ok enable 1");
  CHECK(loop.command("enable 0") == "ok enable 0");
  CHECK(w.progress(50));
  CHECK(settled(p));

  const std::string stats = loop.command("stats");
  w.halt();
  INFO("writes acknowledged " << w.done << ", answers retried " << w.retried << ", relay: " << stats);
  std::string failures;
  for (auto& f : w.failures) failures += f + "\n";
  INFO(failures);
  CHECK(w.failed == 0);
  CHECK(stats.rfind("ok relayed=", 0) == 0);

  // Every block as last acknowledged, read through the owner.
  tur_until(a, [](int s) { return s == 0; });
  for (auto& [lba, seed] : w.last) CHECK(read_blocks(a, lba, 4096) == pattern(4096, seed));

  // B_FALSE ignores the node number; the stored node stays.
  CHECK(loop.command("disable 1") == "ok disable 1");
  CHECK(loop.command("quit") == "ok quit");
  CHECK(loop.wait() == 0);
  INFO("the C program's log: " << p.dir() << "/seed000_loop.log");
}
