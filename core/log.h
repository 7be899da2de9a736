// One named logger per component ("stmf", "sbd", "pr", "store", "iscsi", "proxy", "mgmt",
// "statedb", "stmfproxy", "mhd", "service"): stmf::logger(name) returns the logger registered
// under that name, else a clone of the default logger (the daemon's sinks and pattern) carrying
// that name, so every line shows its component as "[name]". Header-only (spdlog alone), so
// libmhd can use it without linking the framework.
//
// Each component keeps its own `log()` that calls this once (a function-local static: created
// thread-safely on first use, then free of locks).
#pragma once
#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace stmf {

inline std::shared_ptr<spdlog::logger> logger(const std::string& name) {
  auto existing = spdlog::get(name);
  return existing ? existing : spdlog::default_logger()->clone(name);
}

}  // namespace stmf
