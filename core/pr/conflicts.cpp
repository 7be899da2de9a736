// Reservation conflict check run before a command executes.
//
// SCSI-2 reservation (SPC-2 5.5.1, 7.21): every command from another nexus conflicts except
// INQUIRY, REPORT LUNS, REQUEST SENSE, REPORT TARGET PORT GROUPS, PREVENT ALLOW MEDIUM REMOVAL
// with PREVENT=0, and RELEASE (which completes GOOD without effect). TEST UNIT READY does
// conflict: mhd(4I)'s MHIOCSTATUS probes a reservation with it. PR IN/OUT conflict for every
// nexus, the holder included.
//
// Persistent reservation (SPC-4 5.13.1 table 65), for a nexus that is not a holder:
//                     WE    EA    WE-RO/WE-AR        EA-RO/EA-AR
//   allowed           ok    ok    ok                 ok
//   read              ok    CONF  ok                 registrant ok, else CONF
//   write / conflict  CONF  CONF  registrant ok, else CONF (both)
// plus TEST UNIT READY always allowed (ALLOW COMMANDS 011b with the block LU's table), PR IN always allowed, PR OUT per
// table 66, RESERVE/RELEASE per SPC-2 with the CRH=1 exceptions (SPC-4 5.13.3).
#include "core/pr/pr_internal.h"
#include "core/scsi/opcodes.h"

namespace stmf::pr {

bool PrEngine::conflicts(const Nexus& n, ReservationClass cls, const uint8_t* cdb) const {
  using RC = ReservationClass;
  using namespace scsi::op;
  const uint8_t op = cdb[0];
  const bool is_pr = cls == RC::persistent || op == kPersistentReserveIn || op == kPersistentReserveOut;

  if (scsi2_) {
    if (is_pr) return true;  // "regardless of initiator or service action"
    if (detail::same_nexus(*scsi2_, n)) return false;
    if (op == kInquiry || op == kReportLuns || op == kRequestSense) return false;
    if (op == kMaintenanceIn && scsi::service_action(cdb) == scsi::maintenance_in::kReportTargetPortGroups)
      return false;
    if (op == kPreventAllowMediumRemoval && (cdb[4] & 0x03) == 0) return false;
    return !(op == kRelease6 || op == kRelease10);
  }

  if (cls == RC::reserve) {
    // While any registration exists, RESERVE/RELEASE conflict unless CRH=1 makes them no-ops.
    return !st_.registrations.empty() && !detail::crh_exception(*this, n);
  }

  if (is_pr) {
    if (op == kPersistentReserveIn) return false;
    if (!st_.reservation || is_holder(n)) return false;
    const bool registered = registration_of(n).has_value();
    switch (scsi::service_action(cdb)) {  // SPC-4 table 66
      case pr_out::kRegister:
      case pr_out::kRegisterAndIgnoreExistingKey:
        return false;
      case pr_out::kClear:
      case pr_out::kPreempt:
      case pr_out::kPreemptAndAbort:
      case pr_out::kRelease:
      case pr_out::kReplaceLostReservation:
        return !registered;
      case pr_out::kReserve:
      case pr_out::kRegisterAndMove:
        return true;
      default:
        return false;  // unknown service action: the command reports INVALID FIELD IN CDB
    }
  }

  if (!st_.reservation) return false;
  if (op == kTestUnitReady || cls == RC::allowed) return false;
  if (is_holder(n)) return false;
  const uint8_t type = st_.reservation->type;
  if ((is_registrants_only(type) || is_all_registrants(type)) && registration_of(n)) return false;
  if (cls == RC::read) return !is_write_exclusive_kind(type);
  return true;  // write, conflict
}

}  // namespace stmf::pr
