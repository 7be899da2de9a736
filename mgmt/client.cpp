#include "mgmt/client.h"
#include "mgmt/json_limits.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace stmf::mgmt {

Client::Client(std::string socket_path) : path_(std::move(socket_path)) {}
Client::~Client() { disconnect(); }

void Client::disconnect() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  rbuf_.clear();
}

Status Client::connect() {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  // No daemon can listen at a path longer than a socket address holds: that is "not running
  // there", not an invalid argument of the caller (libstmf documents SERVICE_NOT_FOUND).
  if (path_.size() >= sizeof(addr.sun_path))
    return error(STMF_ERROR_SERVICE_NOT_FOUND, "stmfd cannot listen at " + path_ + ": socket path too long");
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return error(STMF_ERROR_NOMEM, std::string("socket: ") + std::strerror(errno));
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int e = errno;
    disconnect();
    return error(STMF_ERROR_SERVICE_NOT_FOUND, "stmfd is not running at " + path_ + ": " + std::strerror(e));
  }
  return {};
}

Status Client::call(const std::string& op, const json& args) {
  json ignored;
  return call(op, args, ignored);
}

Status Client::call(const std::string& op, const json& args, json& response) {
  // A kept connection that is readable between requests was closed by stmfd (its idle
  // timeout, docs/management.md) or carries bytes out of turn: start over on a new one.
  if (fd_ >= 0) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 0) != 0) disconnect();
  }
  if (fd_ < 0)
    if (auto s = connect(); !s.ok()) return s;
  json req = args.is_object() ? args : json::object();
  req["v"] = kProtocolVersion;
  req["op"] = op;
  std::string line = req.dump() + "\n";
  for (size_t off = 0; off < line.size();) {
    ssize_t n = ::send(fd_, line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      disconnect();
      return error(STMF_ERROR_SERVICE_NOT_FOUND, "lost connection to stmfd at " + path_ + ": " + std::strerror(e));
    }
    off += size_t(n);
  }
  size_t nl;
  while ((nl = rbuf_.find('\n')) == std::string::npos) {
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      disconnect();
      return error(STMF_ERROR_SERVICE_NOT_FOUND, "stmfd at " + path_ + " closed the connection");
    }
    rbuf_.append(buf, size_t(n));
    if (rbuf_.size() > kMaxMessageBytes) {
      disconnect();
      return error(STMF_ERROR_NOMEM, "response from stmfd too large");
    }
  }
  std::string text = rbuf_.substr(0, nl);
  rbuf_.erase(0, nl + 1);
  response = stmf::mgmt::parse_json_limited(text);
  if (response.is_discarded()) {
    disconnect();
    return error(STMF_STATUS_ERROR, "malformed response from stmfd");
  }
  return response_status(response);
}

}  // namespace stmf::mgmt
