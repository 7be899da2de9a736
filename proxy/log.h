// The proxy layer's logger ("proxy").
#pragma once
#include <spdlog/spdlog.h>

namespace stmf::proxy {

inline std::shared_ptr<spdlog::logger> log() {
  static auto l = [] {
    auto existing = spdlog::get("proxy");
    return existing ? existing : spdlog::default_logger()->clone("proxy");
  }();
  return l;
}

}  // namespace stmf::proxy
