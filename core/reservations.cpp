// Step 9 of the pipeline in core/stmf.h (reservations) and the effects of reservation commands.
#include "core/reservations.h"

#include <spdlog/spdlog.h>

#include <iterator>
#include <set>
#include <string>

#include "core/audit.h"
#include "core/guid.h"
#include "core/local_port.h"
#include "core/log.h"
#include "core/scsi/cdb.h"
#include "core/scsi/opcodes.h"
#include "core/stmf.h"

namespace stmf {

namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = stmf::logger("pr");
  return l;
}

// The audit action of a reservation command (PR OUT by service action).
std::string audit_action(const uint8_t* cdb) {
  static const char* const kPrOutActions[] = {"REGISTER", "RESERVE", "RELEASE", "CLEAR", "PREEMPT", "PREEMPT AND ABORT",
                                              "REGISTER AND IGNORE EXISTING KEY", "REGISTER AND MOVE",
                                              "REPLACE LOST RESERVATION"};
  using namespace scsi::op;
  switch (cdb[0]) {
    case kPersistentReserveOut: {
      const uint8_t sa = scsi::service_action(cdb);
      return sa < std::size(kPrOutActions) ? kPrOutActions[sa] : "PR OUT service action " + std::to_string(sa);
    }
    case kReserve6: return "RESERVE(6)";
    case kRelease6: return "RELEASE(6)";
    case kReserve10: return "RESERVE(10)";
    default: return "RELEASE(10)";
  }
}

const char* audit_result(pr::Result::Status s) {
  switch (s) {
    case pr::Result::Status::good: return "ok";
    case pr::Result::Status::reservation_conflict: return "RESERVATION CONFLICT";
    default: return "CHECK CONDITION";
  }
}

}  // namespace

LuReservations& LogicalUnit::reservations() {
  std::call_once(reservations_once_, [this] { reservations_ = std::make_shared<LuReservations>(); });
  return *reservations_;
}

pr::Nexus pr_nexus(const ItNexus& n) {
  return pr::Nexus{n.initiator_name(), n.isid_hex(), n.port().port_name(), n.port().rtpi()};
}

void Stmf::set_pr_persistence(PrPersistence* p) { pr_persistence_ = p; }
void Stmf::set_reservation_mirror(ReservationMirror* m) { mirror_ = m; }

void Stmf::add_port(LocalPort& p) {
  std::lock_guard lk(mu_);
  ports_.push_back(&p);
}

void Stmf::remove_port(LocalPort& p) {
  std::lock_guard lk(mu_);
  std::erase(ports_, &p);
}

std::vector<pr::TargetPort> Stmf::target_ports() const {
  std::lock_guard lk(mu_);
  std::vector<pr::TargetPort> v;
  for (auto* p : ports_) v.push_back({p->port_name(), p->rtpi()});
  return v;
}

bool Stmf::reservations_step(const LogicalUnitPtr& lu, const TaskPtr& task, const CommandInfo& ci,
                             std::shared_lock<std::shared_mutex>& admission) {
  auto& rs = lu->reservations();
  const uint8_t* cdb = task->cdb.data();
  using namespace scsi::op;
  const uint8_t op = cdb[0];
  const bool own = op == kPersistentReserveIn || op == kPersistentReserveOut || op == kReserve6 || op == kRelease6 ||
                   op == kReserve10 || op == kRelease10;
  if (!own) {
    admission = std::shared_lock(rs.mu);
    // Hot path: with no reservation held nothing can conflict (no nexus identity is built).
    if (!rs.engine.may_conflict() || !rs.engine.conflicts(pr_nexus(*task->nexus), ci.reservation, cdb)) return false;
    admission.unlock();
    task->status = scsi::Status::reservation_conflict;
    finish_without_lu(task);
    return true;
  }
  // Reservation commands run here, not in the LU provider: reserved CDB fields first.
  if (auto bad = check_cdb_usage(ci, cdb)) {
    task->check_condition(*bad, lu->descriptor_sense());
    finish_without_lu(task);
    return true;
  }
  // PR OUT moves PARAMETER LIST LENGTH bytes: the port's residuals are computed against it.
  if (op == kPersistentReserveOut) task->transfer_length = scsi::get_be32(&cdb[5]);
  const pr::Nexus me = pr_nexus(*task->nexus);
  const auto ports = target_ports();
  pr::Result r;
  // A change to mirror to the standby node before the command completes (ALUA pair).
  std::optional<pr::PrState> mirrored;
  std::optional<pr::Nexus> mirrored_scsi2;
  uint64_t seq = 0;
  {
    std::unique_lock lk(rs.mu);
    if (rs.engine.conflicts(me, ci.reservation, cdb)) {
      r.status = pr::Result::Status::reservation_conflict;
    } else {
      // The command runs on a copy: it becomes the LU's state only once it is durable.
      pr::PrEngine next = rs.engine;
      switch (op) {
        case kPersistentReserveIn: r = next.persistent_reserve_in(me, cdb, ports); break;
        case kPersistentReserveOut: r = next.persistent_reserve_out(me, cdb, task->data_out, ports); break;
        case kReserve6:
        case kReserve10: r = next.reserve(me, cdb); break;
        default: r = next.release(me, cdb); break;
      }
      bool durable = true;
      // APTPL: durable before GOOD. A failed write leaves memory where the disk is.
      if (r.status == pr::Result::Status::good && r.effects.persist && pr_persistence_) {
        const auto& st = next.state();
        std::string why;
        if (!pr_persistence_->store(guid_hex(lu->guid()), st.aptpl ? std::optional(st) : std::nullopt, why)) {
          durable = false;
          log()->error("LU {}: {} not applied: cannot persist reservation state: {}", guid_hex(lu->guid()), r.effects.audit, why);
          r = pr::Result{};
          r.status = pr::Result::Status::check_condition;
          r.sense = scsi::sense::internal_target_failure;
        }
      }
      if (durable) {
        const bool scsi2_changed = next.scsi2_holder() != rs.engine.scsi2_holder();
        rs.engine = std::move(next);
        if (mirror_ && r.status == pr::Result::Status::good && (r.effects.state_changed || scsi2_changed)) {
          seq = ++rs.seq;
          mirrored = rs.engine.state();
          mirrored_scsi2 = rs.engine.scsi2_holder();
        }
      }
    }
  }
  if (!r.effects.audit.empty()) log()->info("LU {}: {} (nexus {})", guid_hex(lu->guid()), r.effects.audit, task->nexus->id());
  // Every reservation change request (not PR IN), whatever its outcome, in the audit trail.
  if (op != kPersistentReserveIn && auditing())
    audit(AuditEvent{"pr",
                     audit_action(cdb),
                     {{"initiator", me.initiator_name}, {"isid", me.isid}, {"target_port", me.target_port},
                      {"rtpi", std::to_string(me.rtpi)}},
                     {{"lu", guid_hex(lu->guid())}, {"detail", r.effects.audit}},
                     audit_result(r.status)});
  apply_reservation_effects(lu, r.effects, task->nexus);
  switch (r.status) {
    case pr::Result::Status::good:
      task->data_in = std::move(r.data_in);
      break;
    case pr::Result::Status::reservation_conflict:
      task->status = scsi::Status::reservation_conflict;
      break;
    case pr::Result::Status::check_condition:
      task->check_condition(r.sense.value_or(scsi::sense::internal_target_failure), lu->descriptor_sense());
      break;
  }
  // GOOD only once the standby node holds the new state (or the link is gone: then the
  // state goes over when it comes back, docs/alua.md).
  if (mirrored && mirror_->mirror(*lu, seq, *mirrored, mirrored_scsi2, [this, task] { finish_without_lu(task); }))
    return true;
  finish_without_lu(task);
  return true;
}

void Stmf::apply_reservation_effects(const LogicalUnitPtr& lu, const pr::Effects& e, const ItNexusPtr& issuer) {
  if (e.unit_attentions.empty() && e.abort_tasks_of.empty()) return;
  const auto live = nexuses();
  const auto ports = target_ports();
  for (auto& ua : e.unit_attentions) {
    std::set<std::string> keys;
    for (auto& n : live)
      if (n != issuer && pr::PrEngine::matches(ua.who, pr_nexus(*n))) keys.insert(n->key());
    // Registrants that are not logged in now get it when they come back (keyed by name).
    if (!ua.who.isid.empty()) {
      const std::string ip = ua.who.initiator_name + ",i,0x" + ua.who.isid;
      for (auto& p : ports)
        if (ua.who.all_tg_pt || p.name == ua.who.target_port) keys.insert(ip + "|" + p.name);
      keys.erase(issuer->key());
    }
    for (auto& k : keys) lu->unit_attentions().raise(k, ua.code);
  }
  if (!e.abort_tasks_of.empty()) {
    int n = abort_tasks(*lu, [&](const ScsiTask& t) {
      if (!t.nexus) return false;
      const pr::Nexus tn = pr_nexus(*t.nexus);
      for (auto& v : e.abort_tasks_of)
        if (pr::PrEngine::matches(v, tn)) return true;
      return false;
    }, nullptr);
    log()->info("LU {}: PREEMPT AND ABORT aborted {} task(s)", guid_hex(lu->guid()), n);
  }
}

}  // namespace stmf
