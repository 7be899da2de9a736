// The backing stores' named logger ("store").
#pragma once
#include <spdlog/spdlog.h>

namespace stmf::store {
inline std::shared_ptr<spdlog::logger>& log() {
  static std::shared_ptr<spdlog::logger> l = [] {
    auto existing = spdlog::get("store");
    return existing ? existing : spdlog::default_logger()->clone("store");
  }();
  return l;
}
}  // namespace stmf::store
