// The transport's named logger ("iscsi").
#pragma once
#include <spdlog/spdlog.h>

#include "core/log.h"

namespace stmf::transport {
inline std::shared_ptr<spdlog::logger>& log() {
  static std::shared_ptr<spdlog::logger> l = stmf::logger("iscsi");
  return l;
}
}  // namespace stmf::transport
