// Runs the real stmfadm binary against a test daemon, capturing stdout, stderr and the exit
// status (optionally as an unprivileged user, with extra environment or standard input).
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace stmf::test {

struct StmfadmResult {
  int status = -1;  // exit status (128 + signal when killed)
  std::string out, err;
  std::vector<std::string> out_lines() const;
  std::vector<std::string> err_lines() const;
};

struct StmfadmOptions {
  std::string socket;  // $STMFD_SOCKET ("" = unset)
  bool unprivileged = false;  // run as uid/gid 65534 with no supplementary groups
  std::vector<std::pair<std::string, std::string>> env;
  std::string input;  // standard input
};

std::string stmfadm_binary();
StmfadmResult run_stmfadm(const std::vector<std::string>& args, const StmfadmOptions& o);

}  // namespace stmf::test
