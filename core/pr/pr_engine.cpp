// Persistent reservation engine: state, nexus matching and SCSI-2 RESERVE/RELEASE
// (SPC-2 7.21/7.23 with the SPC-4 5.13.3 CRH=1 exceptions).
#include "core/pr/pr_engine.h"

#include "core/pr/pr_internal.h"
#include "core/scsi/opcodes.h"

namespace stmf::pr {

using detail::check;
using detail::conflict;
using detail::good;

bool is_valid_type(uint8_t t) {
  return t == kWriteExclusive || t == kExclusiveAccess || t == kWriteExclusiveRegistrantsOnly ||
         t == kExclusiveAccessRegistrantsOnly || t == kWriteExclusiveAllRegistrants ||
         t == kExclusiveAccessAllRegistrants;
}
bool is_all_registrants(uint8_t t) { return t == kWriteExclusiveAllRegistrants || t == kExclusiveAccessAllRegistrants; }
bool is_registrants_only(uint8_t t) {
  return t == kWriteExclusiveRegistrantsOnly || t == kExclusiveAccessRegistrantsOnly;
}
bool is_write_exclusive_kind(uint8_t t) {
  return t == kWriteExclusive || t == kWriteExclusiveRegistrantsOnly || t == kWriteExclusiveAllRegistrants;
}

std::string describe(const Nexus& n) {
  return n.initiator_name + ",i,0x" + n.isid + " via " + n.target_port;
}
std::string describe(const Registration& r) {
  std::string s = r.isid.empty() ? r.initiator_name : r.initiator_name + ",i,0x" + r.isid;
  return s + (r.all_tg_pt ? " via all target ports" : " via " + r.target_port);
}

PrEngine::PrEngine(PrState restored, size_t max_registrations) : max_registrations_(max_registrations) {
  restore(std::move(restored));
}

void PrEngine::restore(PrState s) {
  st_ = std::move(s);
  // A restored state must be self-consistent; drop a reservation that cannot be held.
  if (auto& r = st_.reservation) {
    if (!is_valid_type(r->type) || st_.registrations.empty() ||
        (!is_all_registrants(r->type) && r->holder >= st_.registrations.size()))
      r.reset();
    else if (is_all_registrants(r->type))
      r->holder = 0;
  }
}

bool PrEngine::matches(const Registration& r, const Nexus& n) {
  return r.initiator_name == n.initiator_name && (r.isid.empty() || r.isid == n.isid) &&
         (r.all_tg_pt || r.target_port == n.target_port);
}

bool PrEngine::overlaps(const Registration& a, const Registration& b) {
  return a.initiator_name == b.initiator_name && (a.isid.empty() || b.isid.empty() || a.isid == b.isid) &&
         (a.all_tg_pt || b.all_tg_pt || a.target_port == b.target_port);
}

namespace detail {
std::optional<size_t> find_registration(const PrState& st, const Nexus& n) {
  for (size_t i = 0; i < st.registrations.size(); ++i)
    if (PrEngine::matches(st.registrations[i], n)) return i;
  return std::nullopt;
}
bool holds(const PrState& st, const Nexus& n) {
  if (!st.reservation) return false;
  auto reg = find_registration(st, n);
  if (!reg) return false;
  return is_all_registrants(st.reservation->type) || *reg == st.reservation->holder;
}
}  // namespace detail

std::optional<size_t> PrEngine::registration_of(const Nexus& n) const { return detail::find_registration(st_, n); }
bool PrEngine::is_holder(const Nexus& n) const { return detail::holds(st_, n); }

namespace {
using detail::crh_exception;
using detail::same_nexus;
const char* scsi2_name(const uint8_t* cdb) {
  switch (cdb[0]) {
    case scsi::op::kReserve6: return "RESERVE(6)";
    case scsi::op::kReserve10: return "RESERVE(10)";
    case scsi::op::kRelease6: return "RELEASE(6)";
    case scsi::op::kRelease10: return "RELEASE(10)";
    default: return "RESERVE/RELEASE";
  }
}
}  // namespace

bool PrEngine::scsi2_reserved_by(const Nexus& n) const { return scsi2_ && same_nexus(*scsi2_, n); }

// What RESERVE and RELEASE share: the CDB check, and the SPC-2 5.5.1 rule that while any
// registration exists they conflict, except the CRH=1 cases, which complete GOOD with no effect.
// nullopt: go on with the command itself.
std::optional<Result> PrEngine::scsi2_prologue(const Nexus& n, const uint8_t* cdb) const {
  // Third-party (3RDPTY, b4) and extent (EXTENT, b0) reservations are not supported.
  if (cdb[1] & 0x10) return check(scsi::sense::invalid_field_in_cdb.with_field(true, 1, 4));
  if (cdb[1] & 0x01) return check(scsi::sense::invalid_field_in_cdb.with_field(true, 1, 0));
  if (st_.registrations.empty()) return std::nullopt;
  if (!crh_exception(*this, n)) return conflict();
  Result r = good();
  r.effects.audit = std::string(scsi2_name(cdb)) + " by " + describe(n) + " ignored (persistent reservation, CRH=1)";
  return r;
}

Result PrEngine::reserve(const Nexus& n, const uint8_t* cdb) {
  if (auto r = scsi2_prologue(n, cdb)) return std::move(*r);
  if (scsi2_ && !same_nexus(*scsi2_, n)) return conflict();
  scsi2_ = n;
  Result r = good();
  r.effects.audit = std::string(scsi2_name(cdb)) + " by " + describe(n);
  return r;
}

Result PrEngine::release(const Nexus& n, const uint8_t* cdb) {
  if (auto r = scsi2_prologue(n, cdb)) return std::move(*r);
  Result r = good();
  // SPC-2 7.23: releasing a reservation held by another nexus (or none) is GOOD and no-op.
  if (scsi2_ && same_nexus(*scsi2_, n)) {
    scsi2_.reset();
    r.effects.audit = std::string(scsi2_name(cdb)) + " by " + describe(n);
  }
  return r;
}

void PrEngine::on_nexus_loss(const Nexus& n) {
  if (scsi2_ && same_nexus(*scsi2_, n)) scsi2_.reset();
}

void PrEngine::on_reset() { scsi2_.reset(); }

}  // namespace stmf::pr
