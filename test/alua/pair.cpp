#include "test/alua/pair.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "test/test_failed.h"

namespace stmf::test {

namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

int run(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace

Pair::Pair(const std::string& carrier, const std::string& size) : Pair(PairOptions{.carrier = carrier, .size = size}) {}

Pair::Pair(const PairOptions& o) {
  char tmpl[] = "/tmp/stmf-alua-test-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  std::string cmd = std::string(PAIR_SCRIPT) + " start " + dir_ + " --bin " + TOOLS_DIR + " --carrier " + o.carrier +
                    " --size " + o.size + " --shared " + o.shared + " --san " + o.san;
  // This process stops the pair: namespaces it leaves behind when it dies are reaped by the
  // next start.
  if (o.netns) cmd += " --netns --owner " + std::to_string(::getpid());
  if (!o.takeover.empty()) cmd += " --takeover " + o.takeover;
  if (o.cluster_id) cmd += " --cluster-id " + std::to_string(o.cluster_id);
  cmd += " >" + dir_ + "/start.out 2>&1";
  if (run(cmd) != 0) {
    std::string out = slurp(dir_ + "/start.out");
    run(std::string(PAIR_SCRIPT) + " stop " + dir_);
    throw std::runtime_error("the pair did not start: " + out);
  }
  std::istringstream in(slurp(dir_ + "/pair.env"));
  for (std::string line; std::getline(in, line);)
    if (auto eq = line.find('='); eq != std::string::npos) env_[line.substr(0, eq)] = line.substr(eq + 1);
}

Pair::~Pair() {
  run(std::string(PAIR_SCRIPT) + " stop " + dir_);
  // A failed REQUIRE unwinds through here, a failed CHECK leaves a mark: keep the nodes' logs
  // for the post-mortem.
  const bool failing = std::uncaught_exceptions() > 0 || current_test_failed();
  if (failing) std::fprintf(stderr, "pair stopped after a failure; logs kept in %s\n", dir_.c_str());
  if (!failing && !getenv("STMF_KEEP_PAIR")) run("rm -rf " + dir_);
}

std::string Pair::env(const std::string& key) const {
  auto it = env_.find(key);
  if (it == env_.end()) throw std::runtime_error("pair.env has no " + key);
  return it->second;
}

std::string Pair::portal(int node) const {
  return env(node == 0 ? "HOST_A" : "HOST_B") + ":" + env(node == 0 ? "PORT_A" : "PORT_B");
}

std::string Pair::netns_unavailable() {
  const std::string out = "/tmp/stmf-netns-check-" + std::to_string(::getpid());
  // scripts/pair-netns.sh, next to pair.sh.
  const std::string pair_script = PAIR_SCRIPT;
  const std::string script = pair_script.substr(0, pair_script.rfind('/')) + "/pair-netns.sh";
  const int rc = run(script + " check >" + out + " 2>&1");
  std::string why = rc == 0 ? "" : slurp(out);
  ::unlink(out.c_str());
  while (!why.empty() && why.back() == '\n') why.pop_back();
  return rc == 0 ? "" : (why.empty() ? "pair-netns.sh check failed" : why);
}

void Pair::signal_san(int sig) const { ::kill(pid_t(std::stol(slurp(dir_ + "/san.pid"))), sig); }

void Pair::restart_san() {
  if (run(std::string(PAIR_SCRIPT) + " restart " + dir_ + " san") != 0) throw std::runtime_error("the SAN did not restart");
}

void Pair::cut_link() {
  if (run(std::string(PAIR_SCRIPT) + " cut " + dir_) != 0) throw std::runtime_error("the link could not be cut");
}

void Pair::restore_link() {
  if (run(std::string(PAIR_SCRIPT) + " restore " + dir_) != 0) throw std::runtime_error("the link could not be restored");
}

void Pair::san_path(const char* command, int node) {
  if (run(std::string(PAIR_SCRIPT) + " " + command + " " + dir_ + " " + std::to_string(node)) != 0)
    throw std::runtime_error(std::string("pair.sh ") + command + " failed for node " + std::to_string(node));
}
void Pair::cut_san(int node) { san_path("cut-san", node); }
void Pair::restore_san(int node) { san_path("restore-san", node); }

std::string Pair::iqn(int node) const {
  std::string u = url(node);  // iscsi://host:port/iqn/0
  auto a = u.find('/', 8), b = u.rfind('/');
  return u.substr(a + 1, b - a - 1);
}

std::string Pair::log(int node) const { return slurp(dir_ + "/node" + std::to_string(node) + ".log"); }

pid_t Pair::pid(int node) const { return pid_t(std::stol(slurp(dir_ + "/node" + std::to_string(node) + ".pid"))); }

void Pair::signal(int node, int sig) const { ::kill(pid(node), sig); }

void Pair::signal_relay(int n, int sig) const {
  ::kill(pid_t(std::stol(slurp(dir_ + "/relay" + std::to_string(n) + ".pid"))), sig);
}

void Pair::restart_relay(int n) {
  if (run(std::string(PAIR_SCRIPT) + " restart " + dir_ + " relay" + std::to_string(n)) != 0)
    throw std::runtime_error("relay " + std::to_string(n) + " did not restart");
}

void Pair::restart(int node) {
  if (run(std::string(PAIR_SCRIPT) + " restart " + dir_ + " " + std::to_string(node)) != 0)
    throw std::runtime_error("node " + std::to_string(node) + " did not restart");
}

}  // namespace stmf::test
