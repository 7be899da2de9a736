// The audit trail's writer (docs/security.md "Audit trail"): one JSON object per line, to its
// own spdlog logger "audit" (a size-bounded rotating file, by default <state dir>/audit.log,
// and/or syslog), never mixed with the daemon's log unless there is nowhere else to write.
//
//   {"time":"2026-12-06T09:40:00.123Z","category":"management","action":"create-hg",
//    "who":{"uid":0,"gid":0,"pid":4242},"what":{"name":"cluster-a"},"result":"ok"}
//
// Installed as the framework's stmf::AuditSink (core/audit.h) for PR, ALUA and fencing events;
// the management server writes its own events with write().
#pragma once
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <memory>
#include <string>

#include "core/audit.h"
#include "mgmt/config.h"

namespace stmfd {

class AuditLog : public stmf::AuditSink {
 public:
  // Opens the trail: `c.file`, else <state_dir>/audit.log, else (no state dir) the daemon's
  // log; plus syslog when asked. False with `why` when the file cannot be opened.
  bool open(const stmf::mgmt::AuditConfig& c, const std::string& state_dir, std::string& why);
  // Where lines go ("" = the daemon's log).
  const std::string& path() const { return path_; }

  void record(const stmf::AuditEvent& e) noexcept override;
  // One line. `result`: "ok" or an error name; `message` only on failure.
  void write(const std::string& category, const std::string& action, const nlohmann::json& who,
             const nlohmann::json& what, const std::string& result, const std::string& message = {}) noexcept;

 private:
  std::shared_ptr<spdlog::logger> logger_;
  std::string path_;
};

// Request arguments as audited: every member whose name contains "secret" or "password",
// at any depth (objects in arrays too), replaced by "***".
nlohmann::json redact_secrets(nlohmann::json j);

}  // namespace stmfd
