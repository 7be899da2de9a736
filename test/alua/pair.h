// Test helper: a two-node ALUA pair on loopback, started and stopped by scripts/pair.sh (the
// same script admins use, docs/alua.md). The destructor stops every process the pair started,
// even when a test fails.
#pragma once
#include <sys/types.h>

#include <cstdint>

#include <map>
#include <string>

namespace stmf::test {

// How scripts/pair.sh starts the pair (its options of the same names).
struct PairOptions {
  std::string carrier = "tcp";  // "tcp" (direct link) or "door" (two stmfproxy relays)
  std::string size = "64MiB";
  std::string shared = "file";  // "file" (one backing file) or "san" (an iscsi-store LU on a SAN LUN)
  std::string san = "stmfd";    // the SAN of shared "san": "stmfd" or "tgt"
  bool netns = false;           // each node in a network namespace of its own (root only)
  std::string takeover = "";    // alua.takeover when set ("manual", "fenced")
  uint32_t cluster_id = 0;      // alua.cluster_id when not 0
};

class Pair {
 public:
  // carrier: "tcp" (direct link) or "door" (two stmfproxy relays).
  explicit Pair(const std::string& carrier = "tcp", const std::string& size = "64MiB");
  explicit Pair(const PairOptions& options);
  ~Pair();
  Pair(const Pair&) = delete;

  // Why a pair with network namespaces cannot run here ("" when it can): not root, no `ip netns`.
  static std::string netns_unavailable();

  // Node 0 (127.0.0.1, or its namespace's address) has the LU active; node 1 (127.0.0.2) has
  // it standby.
  std::string url(int node) const { return env(node == 0 ? "URL_A" : "URL_B"); }
  std::string portal(int node) const;
  std::string iqn(int node) const;
  std::string socket(int node) const { return env(node == 0 ? "SOCK_A" : "SOCK_B"); }
  std::string backing() const { return env("BACKING"); }  // shared "san": the SAN LU's file
  std::string san_url() const { return env("SAN_URL"); }  // shared "san": reachable from here
  std::string guid() const { return env("GUID"); }
  const std::string& dir() const { return dir_; }
  std::string log(int node) const;  // the node's stmfd log so far

  pid_t pid(int node) const;
  void signal(int node, int sig) const;  // kill(pid(node), sig)
  void restart(int node);                // after the node was killed: start it again
  // The stmfproxy relays of a door pair (relay N serves node N).
  void signal_relay(int n, int sig) const;
  void restart_relay(int n);
  // shared "san" on an stmfd SAN: signal it, start it again (after it was killed).
  void signal_san(int sig) const;
  void restart_san();
  // netns: cut the link between the nodes (packets stop; both reach the SAN and initiators),
  // and bring it back.
  void cut_link();
  void restore_link();
  // netns, shared "san": node `node`'s packets to the SAN dropped (its initiators and the link
  // stay up), and let through again.
  void cut_san(int node);
  void restore_san(int node);

  std::string env(const std::string& key) const;

 private:
  void san_path(const char* command, int node);  // pair.sh cut-san / restore-san DIR node
  std::string dir_;
  std::map<std::string, std::string> env_;
};

}  // namespace stmf::test
