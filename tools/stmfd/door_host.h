// What the management socket needs from the proxy side of stmfd for the door API
// (stmfInitProxyDoor, stmfPostProxyMsg, stmfDestroyProxyDoor; docs/libstmf.md) and for
// stmfSetAluaState re-initialization. Implemented by the proxy service (proxy/service.h).
// Called on the management thread.
#pragma once
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

namespace stmfd {

class DoorHost {
 public:
  virtual ~DoorHost() = default;
  // Installs the door server `fd` (ownership passes; closed on failure).
  // Returns STMF_STATUS_SUCCESS or STMF_ERROR_DOOR_INSTALLED.
  virtual int install_door(int fd) = 0;
  // Removes the installed door. STMF_STATUS_SUCCESS, or STMF_ERROR_NOT_FOUND when none.
  virtual int destroy_door() = 0;
  // A message from the peer (the bytes a door call carried on the other node). Returns
  // STMF_STATUS_SUCCESS, STMF_ERROR_NOT_FOUND (no door installed) or STMF_ERROR_INVALID_ARG
  // (not a frame).
  virtual int post_proxy_msg(std::vector<uint8_t> msg) = 0;
};

}  // namespace stmfd
