// Test helper: runs a real stmfd on a loopback port with a generated configuration, and
// always stops it (SIGTERM, then SIGKILL) when the object goes away — even when a test fails.
#pragma once
#include <string>
#include <sys/types.h>

namespace stmf::test {

struct DaemonOptions {
  std::string target_json_extra;  // extra keys inside the target object, e.g. "\"chap\": {...},"
  std::string iscsi_json;         // contents of the "iscsi" object
  std::string store = "file";     // store of LUN 0
  std::string size = "64MiB";
  int luns = 1;
  std::string lun0_json_extra;    // extra keys of LUN 0's object, after a comma: ", \"epoch\": 5"
  std::string top_json_extra;     // extra top-level keys
  bool state = true;              // --state-dir DIR/state (the SQLite database lives there)
};

class Daemon {
 public:
  explicit Daemon(const DaemonOptions& o = {});
  ~Daemon();
  Daemon(const Daemon&) = delete;

  uint16_t port() const { return port_; }
  std::string iqn() const { return "iqn.2026-11.org.example:test"; }
  std::string portal() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string url(int lun = 0) const { return "iscsi://" + portal() + "/" + iqn() + "/" + std::to_string(lun); }
  const std::string& dir() const { return dir_; }
  const std::string& log_path() const { return log_; }
  pid_t pid() const { return pid_; }
  // The management socket (--socket DIR/stmfd.sock) and state directory (DIR/state).
  std::string socket_path() const { return dir_ + "/stmfd.sock"; }
  std::string state_dir() const { return dir_ + "/state"; }
  // SIGKILL (no cleanup at all) and reap.
  void kill9();
  // Starts the daemon again on the same port, directory, configuration file and state
  // (after terminate() or kill9()). Throws when it does not come up.
  void restart();
  // Starts the daemon expecting it to refuse: returns its exit status (-1 if it started,
  // in which case it is killed again).
  int start_expect_exit();
  std::string log_text() const;
  // Sends SIGTERM and waits up to `seconds`; returns the exit status (or -1 on timeout).
  int terminate(int seconds);
  // Waits up to `seconds` for the daemon to exit by itself; its exit status (or -1).
  int wait_exit(int seconds);

  static std::string binary();  // path of the stmfd under test ($STMFD or next to the test)

 private:
  bool launch();  // fork/exec, wait for portal + socket; false when it exited
  void remove_dir();  // the test's directory, unless STMF_KEEP_TEST_DIRS is set
  std::string dir_, log_;
  bool state_ = true;
  int last_exit_ = -1;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

// A free TCP port on 127.0.0.1 (bind to 0 and release).
uint16_t free_port();

}  // namespace stmf::test
