// Test helper: a two-node ALUA pair on loopback, started and stopped by scripts/pair.sh (the
// same script admins use, docs/alua.md). The destructor stops every process the pair started,
// even when a test fails.
#pragma once
#include <sys/types.h>

#include <map>
#include <string>

namespace stmf::test {

class Pair {
 public:
  // carrier: "tcp" (direct link) or "door" (two stmfproxy relays).
  explicit Pair(const std::string& carrier = "tcp", const std::string& size = "64MiB");
  ~Pair();
  Pair(const Pair&) = delete;

  // Node 0 (127.0.0.1) has the LU active; node 1 (127.0.0.2) has it standby.
  std::string url(int node) const { return env(node == 0 ? "URL_A" : "URL_B"); }
  std::string portal(int node) const;
  std::string iqn(int node) const;
  std::string socket(int node) const { return env(node == 0 ? "SOCK_A" : "SOCK_B"); }
  std::string backing() const { return env("BACKING"); }
  std::string guid() const { return env("GUID"); }
  const std::string& dir() const { return dir_; }
  std::string log(int node) const;  // the node's stmfd log so far

  pid_t pid(int node) const;
  void signal(int node, int sig) const;  // kill(pid(node), sig)
  void restart(int node);                // after the node was killed: start it again
  // The stmfproxy relays of a door pair (relay N serves node N).
  void signal_relay(int n, int sig) const;
  void restart_relay(int n);

  std::string env(const std::string& key) const;

 private:
  std::string dir_;
  std::map<std::string, std::string> env_;
};

}  // namespace stmf::test
