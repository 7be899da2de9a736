// PERSISTENT RESERVE OUT (SPC-4 5.13.7-5.13.11, 6.16).
//
// Every check that can fail runs before the state is touched, so a command either completes
// with all its effects or leaves PrState exactly as it was (SPEC_I_PT all-or-nothing included).
// Unit attentions are listed per registration; the caller delivers them to every matching
// I_T nexus except the issuer (SPC-4: "other than the I_T nexus on which the command was
// received").
#include "core/pr/pr_internal.h"

namespace stmf::pr {

namespace {

using detail::be16;
using detail::be32;
using detail::be64;
using detail::check;
using detail::conflict;
using detail::good;
using detail::hex_key;
namespace sn = scsi::sense;

const scsi::SenseCode& kPlle = sn::parameter_list_length_error;
const scsi::SenseCode& kIfipl = sn::invalid_field_in_parameter_list;
const scsi::SenseCode& kIfcdb = sn::invalid_field_in_cdb;

const char* sa_name(uint8_t a) {
  switch (a) {
    case pr_out::kRegister: return "REGISTER";
    case pr_out::kReserve: return "RESERVE";
    case pr_out::kRelease: return "RELEASE";
    case pr_out::kClear: return "CLEAR";
    case pr_out::kPreempt: return "PREEMPT";
    case pr_out::kPreemptAndAbort: return "PREEMPT AND ABORT";
    case pr_out::kRegisterAndIgnoreExistingKey: return "REGISTER AND IGNORE EXISTING KEY";
    case pr_out::kRegisterAndMove: return "REGISTER AND MOVE";
    case pr_out::kReplaceLostReservation: return "REPLACE LOST RESERVATION";
    default: return "?";
  }
}

std::string type_str(uint8_t scope, uint8_t type) {
  char b[32];
  std::snprintf(b, sizeof b, "type 0x%x scope 0x%x", type, scope);
  return b;
}

// Does `r` cover every I_T nexus `d` names (d.isid "" = every ISID of the name)?
bool covers(const Registration& r, const Registration& d) {
  return r.initiator_name == d.initiator_name && (r.isid.empty() || r.isid == d.isid) &&
         (r.all_tg_pt || (!d.all_tg_pt && r.target_port == d.target_port));
}

class ProOut {
 public:
  ProOut(PrState& st, size_t max_regs, const Nexus& n, Effects& fx) : st_(st), max_(max_regs), n_(n), fx_(fx) {}

  Result run(const uint8_t* cdb, std::span<const uint8_t> params, std::span<const TargetPort> ports);

 private:
  Result do_register(uint8_t action, std::span<const uint8_t> p, bool spec_i_pt, bool all_tg_pt, bool aptpl);
  Result do_reserve(uint8_t scope, uint8_t type);
  Result do_release(uint8_t scope, uint8_t type);
  Result do_clear();
  Result do_preempt(bool abort, uint8_t scope, uint8_t type);
  Result do_move(std::span<const uint8_t> p, std::span<const TargetPort> ports);

  // The issuer's registration index, or a RESERVATION CONFLICT when it is not registered or
  // the RESERVATION KEY does not match (SPC-4 6.16.3).
  std::optional<size_t> checked_registration(Result& out) const {
    auto idx = detail::find_registration(st_, n_);
    if (!idx || st_.registrations[*idx].key != key_) {
      out = conflict();
      return std::nullopt;
    }
    return idx;
  }
  std::optional<Result> check_type_scope(uint8_t scope, uint8_t type) const {
    if (scope != kLuScope) return check(kIfcdb.with_field(true, 2, 7));
    if (!is_valid_type(type)) return check(kIfcdb.with_field(true, 2, 3));
    return std::nullopt;
  }
  // Erases registration i, keeping the reservation consistent: a non-AR reservation whose
  // holder goes away is released; an AR reservation ends with its last registrant.
  void remove_at(size_t i) {
    st_.registrations.erase(st_.registrations.begin() + std::ptrdiff_t(i));
    auto& res = st_.reservation;
    if (!res) return;
    if (is_all_registrants(res->type)) {
      if (st_.registrations.empty()) res.reset();
    } else if (res->holder == i) {
      res.reset();
    } else if (res->holder > i) {
      --res->holder;
    }
  }
  // Queues a unit attention for the nexuses of `r`; a registration that covers nothing but
  // the issuer is left out (the issuer never gets its own unit attention).
  void ua(const Registration& r, const scsi::SenseCode& code) {
    const bool only_issuer = !r.all_tg_pt && !r.isid.empty() && PrEngine::matches(r, n_);
    if (!only_issuer) fx_.unit_attentions.push_back({r, code});
  }
  void ua_all(const scsi::SenseCode& code) {
    for (const auto& r : st_.registrations) ua(r, code);
  }
  void audit(const std::string& what) {
    fx_.audit = what + " by " + describe(n_) + " gen " + std::to_string(st_.generation);
  }

  PrState& st_;
  size_t max_;
  const Nexus& n_;
  Effects& fx_;
  uint64_t key_ = 0, sa_key_ = 0;
};

Result ProOut::run(const uint8_t* cdb, std::span<const uint8_t> params, std::span<const TargetPort> ports) {
  const uint8_t action = scsi::service_action(cdb);
  if (action > pr_out::kReplaceLostReservation) return check(kIfcdb.with_field(true, 1, 4));
  const uint8_t scope = cdb[2] >> 4, type = cdb[2] & 0x0f;
  const uint32_t plen = be32(cdb + 5);
  // Every parameter list starts with the 24-byte header (basic or REGISTER AND MOVE).
  if (plen < 24) return check(kPlle);
  // Fewer bytes than PARAMETER LIST LENGTH arrived (an EDTL below it): the transport's fault,
  // not the list's (docs/architecture.md "Data-Out shorter or longer than the CDB").
  if (params.size() < plen) return check(sn::invalid_field_in_command_iu);
  auto p = params.first(plen);
  key_ = be64(&p[0]);
  sa_key_ = be64(&p[8]);
  if (action == pr_out::kRegisterAndMove) return do_move(p, ports);

  const bool spec_i_pt = p[20] & 0x08, all_tg_pt = p[20] & 0x04, aptpl = p[20] & 0x01;
  if (spec_i_pt && action != pr_out::kRegister) return check(kIfipl.with_field(false, 20, 3));
  if (!spec_i_pt && plen != 24) return check(kPlle);
  switch (action) {
    case pr_out::kRegister:
    case pr_out::kRegisterAndIgnoreExistingKey:
      return do_register(action, p, spec_i_pt, all_tg_pt, aptpl);
    case pr_out::kReserve: return do_reserve(scope, type);
    case pr_out::kRelease: return do_release(scope, type);
    case pr_out::kClear: return do_clear();
    case pr_out::kPreempt: return do_preempt(false, scope, type);
    case pr_out::kPreemptAndAbort: return do_preempt(true, scope, type);
    case pr_out::kReplaceLostReservation:
      // SPC-4 5.13.11.5: RESERVATION KEY must be zero; outside the "persistent reservation
      // information lost" condition (which this engine never enters, RLR_C = 0) the command
      // is rejected.
      if (key_ != 0) return conflict();
      return check(sn::invalid_release_of_persistent_reservation);
  }
  return check(kIfcdb.with_field(true, 1, 4));
}

// REGISTER / REGISTER AND IGNORE EXISTING KEY (SPC-4 5.13.7, tables 67-69).
Result ProOut::do_register(uint8_t action, std::span<const uint8_t> p, bool spec_i_pt, bool all_tg_pt, bool aptpl) {
  const bool ignore_key = action == pr_out::kRegisterAndIgnoreExistingKey;
  const std::string name = sa_name(action);
  auto idx = detail::find_registration(st_, n_);

  if (!idx) {
    if (!ignore_key && key_ != 0) return conflict();
    if (sa_key_ == 0) {  // "do nothing except return GOOD" (the generation still counts it)
      ++st_.generation;
      audit(name + " with key 0 from an unregistered nexus (no-op)");
      return good();
    }
    std::vector<Registration> add{{n_.initiator_name, n_.isid, n_.target_port, n_.rtpi, all_tg_pt, sa_key_}};
    for (const auto& e : st_.registrations)  // ALL_TG_PT=1 while registered through another port
      if (PrEngine::overlaps(e, add[0])) return check(kIfipl.with_field(false, 20, 2));
    if (spec_i_pt) {
      if (p.size() < 28) return check(kPlle);
      const uint64_t tpdl = be32(&p[24]);
      if (28 + tpdl != p.size()) return check(kPlle);
      size_t off = 28;
      while (off < p.size()) {
        auto t = detail::parse_tid(p.subspan(off));
        if (t.error == detail::TidError::truncated) return check(kPlle);
        if (t.error == detail::TidError::malformed) return check(kIfipl.with_field(false, uint16_t(off)));
        // The named initiator port through the receiving target port (or every port).
        Registration reg{t.name, t.isid, n_.target_port, n_.rtpi, all_tg_pt, sa_key_};
        for (const auto& e : st_.registrations)
          if (PrEngine::overlaps(e, reg)) return check(kIfipl.with_field(false, uint16_t(off)));
        for (const auto& e : add)
          if (PrEngine::overlaps(e, reg)) return check(kIfipl.with_field(false, uint16_t(off)));
        add.push_back(std::move(reg));
        off += t.length;
      }
    }
    if (st_.registrations.size() + add.size() > max_) return check(sn::insufficient_registration_resources);
    st_.registrations.insert(st_.registrations.end(), add.begin(), add.end());
    st_.aptpl = aptpl;
    ++st_.generation;
    audit(name + " key " + hex_key(sa_key_) + (all_tg_pt ? " (all target ports)" : "") +
          (add.size() > 1 ? " +" + std::to_string(add.size() - 1) + " TransportID(s)" : ""));
    return good();
  }

  if (!ignore_key && st_.registrations[*idx].key != key_) return conflict();
  if (spec_i_pt) return check(kIfipl.with_field(false, 20, 3));
  if (sa_key_ == 0) {
    // Unregister (SPC-4 5.13.11.3). A non-AR holder also releases; registrants-only types then
    // tell the remaining registrants RESERVATIONS RELEASED.
    const auto& res = st_.reservation;
    const bool released_ro = res && !is_all_registrants(res->type) && res->holder == *idx &&
                             is_registrants_only(res->type);
    const uint64_t old = st_.registrations[*idx].key;
    remove_at(*idx);
    if (released_ro) ua_all(sn::reservations_released);
    st_.aptpl = aptpl;
    ++st_.generation;
    audit(name + " unregister key " + hex_key(old));
    return good();
  }
  st_.registrations[*idx].key = sa_key_;
  st_.aptpl = aptpl;
  ++st_.generation;
  audit(name + " key " + hex_key(sa_key_));
  return good();
}

// RESERVE (SPC-4 5.13.9).
Result ProOut::do_reserve(uint8_t scope, uint8_t type) {
  if (auto e = check_type_scope(scope, type)) return *e;
  Result out;
  auto idx = checked_registration(out);
  if (!idx) return out;
  if (auto& res = st_.reservation) {
    if (!detail::holds(st_, n_)) return conflict();
    if (res->type != type || res->scope != scope) return conflict();
    return good();  // same type and scope from a holder: nothing changes
  }
  st_.reservation = Reservation{is_all_registrants(type) ? 0 : *idx, type, scope};
  audit("RESERVE " + type_str(scope, type) + " key " + hex_key(key_));
  return good();
}

// RELEASE (SPC-4 5.13.11.2).
Result ProOut::do_release(uint8_t scope, uint8_t type) {
  Result out;
  auto idx = checked_registration(out);
  if (!idx) return out;
  auto& res = st_.reservation;
  if (!res || !detail::holds(st_, n_)) return good();  // nothing to release for this nexus
  if (res->type != type || res->scope != scope)
    return check(sn::invalid_release_of_persistent_reservation);
  const uint8_t old = res->type;
  res.reset();
  if (is_registrants_only(old) || is_all_registrants(old)) ua_all(sn::reservations_released);
  audit("RELEASE " + type_str(scope, type));
  return good();
}

// CLEAR (SPC-4 5.13.11.6).
Result ProOut::do_clear() {
  Result out;
  if (!checked_registration(out)) return out;
  ua_all(sn::reservations_preempted);
  st_.registrations.clear();
  st_.reservation.reset();
  ++st_.generation;
  audit("CLEAR");
  return good();
}

// PREEMPT / PREEMPT AND ABORT (SPC-4 5.13.11.4-5.13.11.5, table 72).
Result ProOut::do_preempt(bool abort, uint8_t scope, uint8_t type) {
  Result out;
  auto idx = checked_registration(out);
  if (!idx) return out;
  const std::string name = abort ? "PREEMPT AND ABORT" : "PREEMPT";
  auto& regs = st_.registrations;
  auto& res = st_.reservation;
  const bool all_reg = res && is_all_registrants(res->type);

  const bool preempt_reservation =
      (all_reg && sa_key_ == 0) || (res && !all_reg && sa_key_ != 0 && regs[res->holder].key == sa_key_);
  if (preempt_reservation) {
    if (auto e = check_type_scope(scope, type)) return *e;
    const uint8_t old_type = res->type, old_scope = res->scope;
    // Victims: every registration with the key (the issuer's is kept), or for an AR
    // reservation preempted with key 0, every other registration.
    auto victim = [&](size_t i) { return i != *idx && (sa_key_ == 0 || regs[i].key == sa_key_); };
    if (abort)
      for (size_t i = 0; i < regs.size(); ++i)
        if (sa_key_ == 0 || regs[i].key == sa_key_) fx_.abort_tasks_of.push_back(regs[i]);
    std::vector<Registration> kept, removed;
    size_t issuer = 0;
    for (size_t i = 0; i < regs.size(); ++i) {
      if (victim(i)) {
        removed.push_back(regs[i]);
      } else {
        if (i == *idx) issuer = kept.size();
        kept.push_back(regs[i]);
      }
    }
    regs = std::move(kept);
    res = Reservation{is_all_registrants(type) ? 0 : issuer, type, scope};
    for (const auto& r : removed) ua(r, sn::registrations_preempted);
    if (old_type != type || old_scope != scope) ua_all(sn::reservations_released);
    ++st_.generation;
    audit(name + " reservation of key " + hex_key(sa_key_) + " -> " + type_str(scope, type) + ", " +
          std::to_string(removed.size()) + " registration(s) removed");
    return good();
  }

  // Removing registrations only (SPC-4 5.13.11.4.4); TYPE and SCOPE are ignored.
  if (sa_key_ == 0) return check(kIfipl.with_field(false, 8));
  std::vector<Registration> removed;
  for (const auto& r : regs)
    if (r.key == sa_key_) removed.push_back(r);
  if (removed.empty()) return conflict();
  if (abort) fx_.abort_tasks_of = removed;
  for (size_t i = regs.size(); i-- > 0;)
    if (regs[i].key == sa_key_) remove_at(i);
  for (const auto& r : removed) ua(r, sn::registrations_preempted);
  ++st_.generation;
  audit(name + " key " + hex_key(sa_key_) + ", " + std::to_string(removed.size()) + " registration(s) removed");
  return good();
}

// REGISTER AND MOVE (SPC-4 5.13.8, table 70; parameter list 6.16.4).
Result ProOut::do_move(std::span<const uint8_t> p, std::span<const TargetPort> ports) {
  const bool unreg = p[17] & 0x02, aptpl = p[17] & 0x01;
  const uint16_t rtpi = be16(&p[18]);
  const uint64_t tpdl = be32(&p[20]);
  if (24 + tpdl != p.size()) return check(kPlle);
  auto t = detail::parse_tid(p.subspan(24));
  if (t.error == detail::TidError::truncated) return check(kPlle);

  Result out;
  auto idx = checked_registration(out);
  if (!idx) return out;
  auto& res = st_.reservation;
  if (!res) return check(kIfcdb);
  if (!detail::holds(st_, n_) || is_all_registrants(res->type)) return conflict();
  if (sa_key_ == 0) return check(kIfipl.with_field(false, 8));
  if (t.error != detail::TidError::none || t.length != tpdl) return check(kIfipl.with_field(false, 24));
  const TargetPort* port = nullptr;
  for (const auto& tp : ports)
    if (tp.rtpi == rtpi && rtpi != 0) port = &tp;
  if (!port) return check(kIfipl.with_field(false, 18));
  // The TransportID may not name the issuer's own initiator port.
  if (t.name == n_.initiator_name && (t.isid.empty() || t.isid == n_.isid))
    return check(kIfipl.with_field(false, 24));

  Registration dest{t.name, t.isid, port->name, port->rtpi, false, sa_key_};
  auto& regs = st_.registrations;
  std::optional<size_t> di;
  for (size_t i = 0; i < regs.size() && !di; ++i)
    if (covers(regs[i], dest)) di = i;
  if (di && *di == *idx) return check(kIfipl.with_field(false, 24));
  if (!di) {
    for (const auto& e : regs)
      if (PrEngine::overlaps(e, dest)) return check(kIfipl.with_field(false, 24));
    if (regs.size() + 1 > max_) return check(sn::insufficient_registration_resources);
  }

  // All checks passed: register the destination (or re-key it), move, maybe unregister.
  if (di) {
    regs[*di].key = sa_key_;
  } else {
    regs.push_back(dest);
    di = regs.size() - 1;
  }
  res->holder = *di;
  if (unreg) remove_at(*idx);
  st_.aptpl = aptpl;
  ++st_.generation;
  audit("REGISTER AND MOVE to " + describe(dest) + " key " + hex_key(sa_key_) + (unreg ? " (UNREG)" : ""));
  return good();
}

}  // namespace

Result PrEngine::persistent_reserve_out(const Nexus& n, const uint8_t* cdb, std::span<const uint8_t> params,
                                        std::span<const TargetPort> ports) {
  // SPC-2 5.5.1: while a RESERVE(6)/(10) reservation exists every PR OUT conflicts.
  if (scsi2_) return detail::conflict();
  const PrState before = st_;
  Effects fx;
  Result r = ProOut(st_, max_registrations_, n, fx).run(cdb, params, ports);
  if (r.status != Result::Status::good) {
    st_ = before;  // defensive: failures never leave partial changes
    return r;
  }
  r.effects = std::move(fx);
  r.effects.state_changed = !(st_ == before);
  r.effects.persist = r.effects.state_changed && (before.aptpl || st_.aptpl);
  return r;
}

}  // namespace stmf::pr
