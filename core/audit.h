// The audit hook (docs/security.md "Audit trail"): the framework, the proxy service and the
// management server report each security-relevant event here: every persistent-reservation
// change (PR OUT, RESERVE/RELEASE), every ALUA event (ALUA enabled/disabled, link up/down,
// switchover, takeover, step-down) and every fencing decision. Core only describes events;
// the daemon installs the sink that writes them (tools/stmfd/audit_log.h: one JSON line each).
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace stmf {

// One event. Values are text; the sink writes `who` and `what` as JSON objects.
struct AuditEvent {
  std::string category;  // "pr", "alua", "fencing" (the management server adds "management")
  std::string action;    // "REGISTER", "RESERVE(6)", "link-up", "step-down", ...
  std::vector<std::pair<std::string, std::string>> who;   // initiator/isid/target_port, peer node, ...
  std::vector<std::pair<std::string, std::string>> what;  // lu, detail, ...
  std::string result;    // "ok", or what went wrong ("RESERVATION CONFLICT", "refused", ...)
};

class AuditSink {
 public:
  virtual ~AuditSink() = default;
  // Thread-safe; called on I/O threads: must not block for long.
  virtual void record(const AuditEvent& e) noexcept = 0;
};

// The daemon installs its sink at start, before any I/O (nullptr: none). Not owned.
void set_audit_sink(AuditSink* sink) noexcept;
// True when a sink is installed (callers skip building events otherwise).
bool auditing() noexcept;
// To the sink, if any.
void audit(const AuditEvent& e) noexcept;

}  // namespace stmf
