// The proxy layer's logger ("proxy").
#pragma once
#include <spdlog/spdlog.h>

#include "core/log.h"

namespace stmf::proxy {

inline std::shared_ptr<spdlog::logger> log() {
  static auto l = stmf::logger("proxy");
  return l;
}

}  // namespace stmf::proxy
