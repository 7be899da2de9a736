// A management client: one connection to stmfd's socket, blocking request/response.
// Used by libstmf and stmfadm. Not thread-safe; one Client per thread.
#pragma once
#include <string>

#include "mgmt/protocol.h"

namespace stmf::mgmt {

class Client {
 public:
  // Does not connect yet; the first call() does (and reconnects after an error).
  explicit Client(std::string socket_path = default_socket_path(false));
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends {"v":1,"op":op, ...args} and returns the response. Transport failures become
  // STMF_ERROR_SERVICE_NOT_FOUND ("stmfd is not running at PATH: ...") in `status`.
  // On success `response` holds the whole response object.
  Status call(const std::string& op, const json& args, json& response);
  // Convenience: call() and discard the response body.
  Status call(const std::string& op, const json& args = json::object());

  const std::string& socket_path() const { return path_; }

 private:
  Status connect();
  void disconnect();

  std::string path_;
  int fd_ = -1;
  std::string rbuf_;
};

}  // namespace stmf::mgmt
