// A command's reservation class: the one notion the framework's command table rows and the
// PR engine share (the engine decides conflicts from it), kept apart from core/logical_unit.h
// so the engine sits under the framework.
#pragma once
#include <cstdint>

namespace stmf {

// How a command interacts with reservations (SPC-4 5.13.1 table 65 and SPC-2 RESERVE):
// one value per opcode row of the command table; the reservation checks read only this.
enum class ReservationClass : uint8_t {
  allowed,        // allowed under any reservation (INQUIRY, REPORT LUNS, REQUEST SENSE...)
  read,           // reads medium: allowed for non-registrants under Write Exclusive types
  write,          // modifies medium: conflicts for non-registrants under any type
  conflict,       // conflicts whenever another nexus holds a reservation (e.g. MODE SELECT)
  reserve,        // RESERVE/RELEASE(6/10): SCSI-2 rules
  persistent,     // PERSISTENT RESERVE IN/OUT: own rules
};

}  // namespace stmf
