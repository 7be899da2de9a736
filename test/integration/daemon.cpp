#include "test/integration/daemon.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace stmf::test {

uint16_t free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

std::string Daemon::binary() {
  if (const char* e = std::getenv("STMFD")) return e;
  return STMFD_BINARY;  // set by CMake
}

Daemon::Daemon(const DaemonOptions& o) {
  char tmpl[] = "/tmp/stmfd-test-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  ::chmod(tmpl, 0755);  // unprivileged-client tests must reach the socket inside
  log_ = dir_ + "/stmfd.log";
  std::string luns;
  for (int i = 0; i < o.luns; ++i) {
    if (i) luns += ",";
    luns += "{\"lun\": " + std::to_string(i) + ", \"store\": \"" + (i == 0 ? o.store : std::string("file")) +
            "\", \"backing\": \"" + dir_ + "/lu" + std::to_string(i) + ".img\", \"size\": \"" + o.size + "\"" +
            (i == 0 ? o.lun0_json_extra : std::string()) + "}";
  }
  state_ = o.state;
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = free_port();
    std::ofstream(dir_ + "/config.json") << "{\"portals\": [\"127.0.0.1:" << port_ << "\"], " << o.top_json_extra
                                         << (o.iscsi_json.empty() ? "" : "\"iscsi\": {" + o.iscsi_json + "}, ")
                                         << "\"targets\": [{\"iqn\": \"" << iqn() << "\", " << o.target_json_extra
                                         << "\"luns\": [" << luns << "]}]}";
    if (launch()) return;
    if (pid_ > 0) break;  // running but not listening: give up below
    std::error_code ec;
    std::filesystem::remove_all(state_dir(), ec);
  }
  std::string text = log_text();
  if (pid_ > 0) kill9();
  // No destructor runs for an object whose constructor throws: the directory goes here (its
  // log is in the exception's text).
  remove_dir();
  throw std::runtime_error("stmfd did not start; log:\n" + text);
}

bool Daemon::launch() {
  pid_ = ::fork();
  if (pid_ == 0) {
    // The daemon starts with the dispositions a shell gives it, not the test's (the tests
    // ignore SIGPIPE, and an ignored signal stays ignored across exec).
    ::signal(SIGPIPE, SIG_DFL);
    int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::string cfg = dir_ + "/config.json", sd = state_dir(), sock = socket_path();
    if (state_)
      ::execl(binary().c_str(), "stmfd", "--config", cfg.c_str(), "--state-dir", sd.c_str(), "--socket", sock.c_str(),
              "--log-level", "debug", (char*)nullptr);
    else
      ::execl(binary().c_str(), "stmfd", "--config", cfg.c_str(), "--socket", sock.c_str(), "--log-level", "debug",
              (char*)nullptr);
    ::_exit(127);
  }
  // Wait until the portal and the management socket accept connections (or the daemon exits).
  auto accepts = [](int family, const sockaddr* a, socklen_t len) {
    int s = ::socket(family, SOCK_STREAM, 0);
    bool ok = ::connect(s, a, len) == 0;
    ::close(s);
    return ok;
  };
  for (int i = 0; i < 400; ++i) {
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      last_exit_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return false;
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sockaddr_un u{};
    u.sun_family = AF_UNIX;
    std::snprintf(u.sun_path, sizeof u.sun_path, "%s", socket_path().c_str());
    if (accepts(AF_INET, reinterpret_cast<sockaddr*>(&a), sizeof a) &&
        accepts(AF_UNIX, reinterpret_cast<sockaddr*>(&u), sizeof u))
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return false;
}

void Daemon::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void Daemon::restart() {
  if (pid_ > 0) throw std::runtime_error("restart: stmfd is still running");
  if (launch()) return;
  std::string text = log_text();
  kill9();
  throw std::runtime_error("stmfd did not restart; log:\n" + text);
}

int Daemon::start_expect_exit() {
  if (pid_ > 0) throw std::runtime_error("start_expect_exit: stmfd is still running");
  if (launch()) {
    kill9();
    return -1;  // it started
  }
  return last_exit_;
}

Daemon::~Daemon() {
  if (pid_ > 0) {
    if (terminate(10) == -1) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  remove_dir();
}

void Daemon::remove_dir() {
  if (std::getenv("STMF_KEEP_TEST_DIRS")) return;
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

int Daemon::terminate(int seconds) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  return wait_exit(seconds);
}

int Daemon::wait_exit(int seconds) {
  if (pid_ <= 0) return -1;
  for (int i = 0; i < seconds * 100; ++i) {
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

std::string Daemon::log_text() const {
  std::ifstream in(log_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace stmf::test
