// The transport's named logger ("iscsi").
#pragma once
#include <spdlog/spdlog.h>

namespace stmf::transport {
inline std::shared_ptr<spdlog::logger>& log() {
  static std::shared_ptr<spdlog::logger> l = [] {
    auto existing = spdlog::get("iscsi");
    return existing ? existing : spdlog::default_logger()->clone("iscsi");
  }();
  return l;
}
}  // namespace stmf::transport
