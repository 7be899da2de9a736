#include "core/audit.h"

#include <atomic>

namespace stmf {

namespace {
std::atomic<AuditSink*> g_sink{nullptr};
}

void set_audit_sink(AuditSink* sink) noexcept { g_sink.store(sink, std::memory_order_release); }

bool auditing() noexcept { return g_sink.load(std::memory_order_acquire) != nullptr; }

void audit(const AuditEvent& e) noexcept {
  if (auto* s = g_sink.load(std::memory_order_acquire)) s->record(e);
}

}  // namespace stmf
