// The management protocol (docs/management.md): versioned JSON lines over a Unix socket.
// Shared by the daemon (mgmt server) and the clients (libstmf, stmfadm).
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include <stmf_status.h>

namespace stmf::mgmt {

using json = nlohmann::json;

inline constexpr int kProtocolVersion = 1;
inline constexpr size_t kMaxMessageBytes = 16u << 20;

// A result: STMF_STATUS_SUCCESS or an STMF_ERROR_* code, with a one-line reason.
struct Status {
  int code = STMF_STATUS_SUCCESS;
  std::string message;
  bool ok() const { return code == STMF_STATUS_SUCCESS; }
  static Status success() { return {}; }
};
inline Status error(int code, std::string message) { return Status{code, std::move(message)}; }

// "STMF_ERROR_EXISTS" for STMF_ERROR_EXISTS; "STMF_STATUS_SUCCESS" for 0; "" if unknown.
std::string_view status_name(int code);
// The inverse (0 and false when unknown).
int status_from_name(std::string_view name);

// Builds {"v":1,"status":...,"error":...,"message":...} (error/message only on failure).
json make_response(const Status& s);
// Reads status/message out of a response (malformed -> INVALID_ARG with a reason).
Status response_status(const json& response);

// Socket path: $STMFD_SOCKET, else /run/stmfd/stmfd.sock if it exists (or we are root),
// else /tmp/stmfd-<uid>.sock.
std::string default_socket_path(bool for_daemon);

}  // namespace stmf::mgmt
