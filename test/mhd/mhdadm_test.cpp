// mhdadm end to end: every subcommand of the real binary against a real stmfd, as two hosts;
// exit statuses from errno; --hold keeps a reservation; failfast under --hold exits 100.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test/integration/daemon.h"

using stmf::test::Daemon;
using json = nlohmann::json;

namespace {

constexpr const char* kHostA = "iqn.2026-11.org.example:mhdadm-a";
constexpr const char* kHostB = "iqn.2026-11.org.example:mhdadm-b";
constexpr int kExitFailfast = 100;

struct Result {
  int status = -1;
  std::string out, err;
};

std::string slurp(const std::string& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::vector<std::string> argv_for(const Daemon& d, const char* host, std::vector<std::string> args) {
  std::vector<std::string> v{MHDADM_BINARY, "--initiator", host};
  if (std::find(args.begin(), args.end(), "--url") == args.end()) v.insert(v.end(), {"--url", d.url(0)});
  v.insert(v.end(), args.begin(), args.end());
  return v;
}

pid_t spawn(const Daemon& d, const char* host, std::vector<std::string> args, const std::string& out,
            const std::string& err) {
  auto v = argv_for(d, host, std::move(args));
  pid_t pid = ::fork();
  if (pid == 0) {
    FILE* o = std::freopen(out.c_str(), "w", stdout);
    FILE* e = std::freopen(err.c_str(), "w", stderr);
    (void)o;
    (void)e;
    std::vector<char*> a;
    for (auto& s : v) a.push_back(s.data());
    a.push_back(nullptr);
    ::execv(a[0], a.data());
    ::_exit(127);
  }
  return pid;
}

// Waits for a child at most `seconds`; its exit status (128 + signal), or -1 (then killed).
int reap(pid_t pid, int seconds) {
  for (int i = 0; i < seconds * 50; ++i) {
    int st;
    if (::waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  return -1;
}

Result run(const Daemon& d, const char* host, std::vector<std::string> args) {
  std::string out = d.dir() + "/mhdadm.out", err = d.dir() + "/mhdadm.err";
  Result r;
  r.status = reap(spawn(d, host, std::move(args), out, err), 60);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

json run_json(const Daemon& d, const char* host, std::vector<std::string> args) {
  args.insert(args.begin(), "--json");
  Result r = run(d, host, args);
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  return json::parse(r.out);
}

}  // namespace

TEST_CASE("mhdadm: every subcommand against stmfd", "[mhd][mhdadm]") {
  Daemon d;
  // Non-shared requests.
  CHECK(run_json(d, kHostA, {"status"})["status"] == 0);
  CHECK(run(d, kHostA, {"qreserve"}).status == 0);  // released again when mhdadm logs out
  CHECK(run(d, kHostA, {"release"}).status == 0);
  CHECK(run(d, kHostA, {"tkown", "--min-delay", "500", "--max-delay", "5000", "--reinstate-delay", "1000"}).status ==
        0);
  CHECK(run(d, kHostA, {"enfailfast", "0"}).status == 0);
  // Shared requests: A registers and reserves, B preempts, B preempts-and-aborts, B clears.
  CHECK(run(d, kHostA, {"register", "--newkey", "0xa1"}).status == 0);
  CHECK(run(d, kHostA, {"registerandignorekey", "--newkey", "0xa2", "--aptpl"}).status == 0);
  auto k = run_json(d, kHostA, {"inkeys"});
  CHECK(k["listlen"] == 1);
  CHECK(k["keys"] == json::array({"0x00000000000000a2"}));
  CHECK(run(d, kHostA, {"reserve", "--key", "0xa2", "--type", "we-ro"}).status == 0);
  auto r = run_json(d, kHostB, {"inresv"});
  REQUIRE(r["listlen"] == 1);
  CHECK(r["reservations"][0]["key"] == "0x00000000000000a2");
  CHECK(r["reservations"][0]["type"] == 5);
  CHECK(run(d, kHostB, {"register", "--newkey", "0xb2"}).status == 0);
  CHECK(run(d, kHostB, {"preempt", "--key", "0xb2", "--victim", "0xa2", "--type", "we-ro"}).status == 0);
  CHECK(run_json(d, kHostA, {"inresv"})["reservations"][0]["key"] == "0x00000000000000b2");
  CHECK(run(d, kHostA, {"register", "--newkey", "0xa3"}).status == 0);
  CHECK(run(d, kHostB, {"preemptandabort", "--key", "0xb2", "--victim", "0xa3", "--type", "ea"}).status == 0);
  // The victim was not the holder: its registration goes, B's reservation stays (SPC-4 table 72).
  auto after = run_json(d, kHostA, {"inresv"});
  CHECK(after["reservations"][0]["type"] == 5);
  CHECK(run_json(d, kHostA, {"inkeys"})["keys"] == json::array({"0x00000000000000b2"}));
  auto small = run_json(d, kHostA, {"inkeys", "--listsize", "0"});
  CHECK(small["listlen"] == 1);
  CHECK(small["keys"].empty());
  CHECK(run(d, kHostB, {"clear", "--key", "0xb2"}).status == 0);
  CHECK(run_json(d, kHostA, {"inkeys"})["listlen"] == 0);
}

TEST_CASE("mhdadm: the exit status is the errno, with a one-line reason", "[mhd][mhdadm]") {
  Daemon d;
  Result r = run(d, kHostB, {"reserve", "--key", "0xb2"});  // not registered
  CHECK(r.status == EACCES);
  CHECK(r.err.find("Permission denied") != std::string::npos);
  CHECK(r.err.find("RESERVATION CONFLICT") != std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  Result j = run(d, kHostB, {"--json", "clear", "--key", "0xb2"});
  CHECK(j.status == EACCES);
  CHECK(json::parse(j.out)["error"] == "EACCES");
  Result bad = run(d, kHostB, {"--url", "not-a-url", "status"});
  CHECK(bad.status == EINVAL);
}

TEST_CASE("mhdadm: --hold keeps the reservation, failfast under --hold exits 100", "[mhd][mhdadm]") {
  Daemon d;
  pid_t holder = spawn(d, kHostA, {"qreserve", "--hold"}, d.dir() + "/a.out", d.dir() + "/a.err");
  bool held = false;
  for (int i = 0; i < 250 && !held; ++i) {
    held = run_json(d, kHostB, {"status"})["status"] == 1;
    if (!held) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(held);
  CHECK(run(d, kHostB, {"qreserve"}).status == EACCES);
  ::kill(holder, SIGTERM);
  CHECK(reap(holder, 20) == 0);
  CHECK(run_json(d, kHostB, {"status"})["status"] == 0);

  // A owns the disk with failfast on and holds it; B takes ownership: A exits 100.
  pid_t owner = spawn(d, kHostA, {"tkown", "--min-delay", "500", "--max-delay", "5000", "--reinstate-delay", "2000",
                                  "--failfast", "100", "--hold"},
                      d.dir() + "/a.out", d.dir() + "/a.err");
  bool owned = false;
  for (int i = 0; i < 250 && !owned; ++i) {
    owned = slurp(d.dir() + "/a.out").find("owned") != std::string::npos;
    if (!owned) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(owned);
  CHECK(run(d, kHostB, {"tkown", "--min-delay", "1000", "--max-delay", "5000"}).status == 0);
  CHECK(reap(owner, 20) == kExitFailfast);
  CHECK(slurp(d.dir() + "/a.err").find("failfast") != std::string::npos);

  // enfailfast --hold alone: A only watches; B reserves the disk; A's probe fires, A exits 100.
  CHECK(run(d, kHostB, {"release"}).status == 0);
  pid_t watcher = spawn(d, kHostA, {"enfailfast", "100", "--hold"}, d.dir() + "/w.out", d.dir() + "/w.err");
  bool on = false;
  for (int i = 0; i < 250 && !on; ++i) {
    on = slurp(d.dir() + "/w.out").find("failfast on") != std::string::npos;
    if (!on) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(on);
  pid_t holder_b = spawn(d, kHostB, {"qreserve", "--hold"}, d.dir() + "/b.out", d.dir() + "/b.err");
  CHECK(reap(watcher, 20) == kExitFailfast);
  ::kill(holder_b, SIGTERM);
  CHECK(reap(holder_b, 20) == 0);
}
