#include "test/management/stmfadm/stmfadm_runner.h"
#include "test/integration/second_uid.h"

#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

namespace stmf::test {

namespace {
std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> r;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) r.push_back(line);
  return r;
}
}  // namespace

std::vector<std::string> StmfadmResult::out_lines() const { return split_lines(out); }
std::vector<std::string> StmfadmResult::err_lines() const { return split_lines(err); }

std::string stmfadm_binary() {
  if (const char* e = std::getenv("STMFADM")) return e;
  return STMFADM_BINARY;  // set by CMake
}

StmfadmResult run_stmfadm(const std::vector<std::string>& args, const StmfadmOptions& o) {
  int out[2], err[2], in[2];
  if (::pipe(out) || ::pipe(err) || ::pipe(in)) throw std::runtime_error("pipe failed");
  std::string bin = stmfadm_binary();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) ::close(fd);
    ::unsetenv("STMFADM_CHAP_SECRET");
    ::unsetenv("STMFADM_MUTUAL_SECRET");
    if (o.socket.empty())
      ::unsetenv("STMFD_SOCKET");
    else
      ::setenv("STMFD_SOCKET", o.socket.c_str(), 1);
    for (auto& [k, v] : o.env) ::setenv(k.c_str(), v.c_str(), 1);
    if (o.unprivileged) {
      if (!become_second_uid()) ::_exit(126);
    }
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>("stmfadm"));
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(bin.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  // Feed stdin (small inputs fit the pipe; tests keep them small) and close it.
  signal(SIGPIPE, SIG_IGN);
  if (!o.input.empty()) {
    ssize_t n = ::write(in[1], o.input.data(), o.input.size());
    (void)n;
  }
  ::close(in[1]);
  StmfadmResult r;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    int ready = ::poll(fds, 2, 60000);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {  // hung: kill it (the test then fails on the status)
      ::kill(pid, SIGKILL);
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        (i == 0 ? r.out : r.err).append(buf, size_t(n));
      } else {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

}  // namespace stmf::test
