// The backing stores' named logger ("store").
#pragma once
#include <spdlog/spdlog.h>

#include "core/log.h"

namespace stmf::store {
inline std::shared_ptr<spdlog::logger>& log() {
  static std::shared_ptr<spdlog::logger> l = stmf::logger("store");
  return l;
}
}  // namespace stmf::store
