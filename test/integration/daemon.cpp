#include "test/integration/daemon.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
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
  log_ = dir_ + "/stmfd.log";
  std::string luns;
  for (int i = 0; i < o.luns; ++i) {
    if (i) luns += ",";
    luns += "{\"lun\": " + std::to_string(i) + ", \"store\": \"" + (i == 0 ? o.store : std::string("file")) +
            "\", \"backing\": \"" + dir_ + "/lu" + std::to_string(i) + ".img\", \"size\": \"" + o.size + "\"}";
  }
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = free_port();
    std::ofstream(dir_ + "/config.json") << "{\"portals\": [\"127.0.0.1:" << port_ << "\"], " << o.top_json_extra
                                         << (o.iscsi_json.empty() ? "" : "\"iscsi\": {" + o.iscsi_json + "}, ")
                                         << "\"targets\": [{\"iqn\": \"" << iqn() << "\", " << o.target_json_extra
                                         << "\"luns\": [" << luns << "]}]}";
    pid_ = ::fork();
    if (pid_ == 0) {
      int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::string cfg = dir_ + "/config.json";
      ::execl(binary().c_str(), "stmfd", "--config", cfg.c_str(), "--state-dir", dir_.c_str(), "--log-level", "debug",
              (char*)nullptr);
      ::_exit(127);
    }
    // Wait until the portal accepts connections (or the daemon exits).
    for (int i = 0; i < 200; ++i) {
      int status;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      int s = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(port_);
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      ::close(s);
      if (ok) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    if (pid_ > 0) break;  // running but not listening: give up below
  }
  std::string text = log_text();
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  throw std::runtime_error("stmfd did not start; log:\n" + text);
}

Daemon::~Daemon() {
  if (pid_ > 0) {
    if (terminate(10) == -1) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  if (!std::getenv("STMF_KEEP_TEST_DIRS")) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

int Daemon::terminate(int seconds) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
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
