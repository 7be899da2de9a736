// Persistent reservations engine (SPC-4 5.13, 6.15, 6.16) plus SCSI-2 RESERVE/RELEASE with
// the SPC-3/4 CRH=1 exceptions. Pure and I/O-free: the caller serializes commands per LU,
// persists PrState when Effects::persist says so, queues the unit attentions and aborts the
// tasks listed in Effects. Supported transport: iSCSI (TransportID formats 00b and 01b).
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/pr/reservation_class.h"
#include "core/scsi/opcodes.h"
#include "core/scsi/sense.h"

namespace stmf::pr {

// Persistent reservation TYPE codes (SPC-4 table 169). 0h/2h/4h are obsolete.
inline constexpr uint8_t kWriteExclusive = 0x1;
inline constexpr uint8_t kExclusiveAccess = 0x3;
inline constexpr uint8_t kWriteExclusiveRegistrantsOnly = 0x5;
inline constexpr uint8_t kExclusiveAccessRegistrantsOnly = 0x6;
inline constexpr uint8_t kWriteExclusiveAllRegistrants = 0x7;
inline constexpr uint8_t kExclusiveAccessAllRegistrants = 0x8;
inline constexpr uint8_t kLuScope = 0x0;

// PR IN / PR OUT service actions: core/scsi/opcodes.h.
namespace pr_in = scsi::pr_in;
namespace pr_out = scsi::pr_out;

// REPORT CAPABILITIES ALLOW COMMANDS value: 011b. TEST UNIT READY is allowed through Write
// Exclusive and Exclusive Access reservations, and the block LU's command table classes MODE
// SENSE, REPORT SUPPORTED OPERATION CODES / TMFs and READ DEFECT DATA as `read` (allowed
// through Write Exclusive types, conflicting under Exclusive Access types). The block LU
// implements none of READ ATTRIBUTE, READ BUFFER, RECEIVE DIAGNOSTIC RESULTS.
inline constexpr uint8_t kAllowCommands = 0x3;
// Default registration capacity; beyond it INSUFFICIENT REGISTRATION RESOURCES.
inline constexpr size_t kMaxRegistrations = 1024;

bool is_valid_type(uint8_t type);
bool is_all_registrants(uint8_t type);      // 7h, 8h
bool is_registrants_only(uint8_t type);     // 5h, 6h
bool is_write_exclusive_kind(uint8_t type); // 1h, 5h, 7h (reads not restricted)

struct Nexus {                      // the I_T nexus issuing a command
  std::string initiator_name;       // iSCSI name, lowercase
  std::string isid;                 // 12 lowercase hex digits
  std::string target_port;          // target port name "iqn...,t,0x0001"
  uint16_t rtpi = 0;                // its relative target port identifier
  bool operator==(const Nexus&) const = default;
};
struct TargetPort { std::string name; uint16_t rtpi; };   // every target port of the LU

struct Registration {               // one registered I_T nexus (or, with all_tg_pt, initiator port on every target port)
  std::string initiator_name;
  std::string isid;                 // "" when registered through a format-00b TransportID (any ISID of that name)
  std::string target_port;          // ignored when all_tg_pt
  uint16_t rtpi = 0;
  bool all_tg_pt = false;
  uint64_t key = 0;
  bool operator==(const Registration&) const = default;
};
struct Reservation {
  size_t holder = 0;  // index into registrations (ignored, kept 0, for all-registrants types)
  uint8_t type = 0;
  uint8_t scope = 0;
  bool operator==(const Reservation&) const = default;
};

// The whole persistent state (what APTPL persists). Value type, comparable, easy to serialize.
struct PrState {
  uint32_t generation = 0;
  bool aptpl = false;
  std::vector<Registration> registrations;
  std::optional<Reservation> reservation;
  bool operator==(const PrState&) const = default;
};

// What a command did, for the caller to carry out (the engine does no I/O).
struct Effects {
  // Unit attentions to queue: for each, every I_T nexus matching `who` except the issuer.
  struct Ua { Registration who; scsi::SenseCode code; };
  std::vector<Ua> unit_attentions;
  // PREEMPT AND ABORT: abort every task of every I_T nexus matching one of these registrations
  // (SPC-4 5.13.11.2.6), except the PREEMPT AND ABORT command itself. The issuer's own
  // registration is listed when its key equals the SERVICE ACTION RESERVATION KEY (or for an
  // all-registrants preempt with key 0): its other tasks are aborted too, as the standard says.
  std::vector<Registration> abort_tasks_of;
  bool state_changed = false;   // registrations/reservation/generation/aptpl changed
  bool persist = false;         // state changed and APTPL was or is set (APTPL 1->0: erase the persisted copy)
  std::string audit;            // one human line: "REGISTER key 0x.. by <nexus> gen N" etc.
};

// Result of one command: GOOD (+ data_in for PR IN), RESERVATION CONFLICT, or CHECK CONDITION.
struct Result {
  enum class Status { good, reservation_conflict, check_condition } status = Status::good;
  std::optional<scsi::SenseCode> sense;
  std::vector<uint8_t> data_in;
  Effects effects;
};

class PrEngine {                    // NOT thread-safe: the caller serializes per LU
 public:
  explicit PrEngine(PrState restored = {}, size_t max_registrations = kMaxRegistrations);

  // `params` is the Data-Out buffer (PARAMETER LIST LENGTH bytes, CDB bytes 5-8).
  Result persistent_reserve_out(const Nexus& n, const uint8_t* cdb, std::span<const uint8_t> params,
                                std::span<const TargetPort> ports);
  Result persistent_reserve_in(const Nexus& n, const uint8_t* cdb, std::span<const TargetPort> ports);
  // SCSI-2 RESERVE(6)/(10), RELEASE(6)/(10) (opcodes 16h, 56h, 17h, 57h) with CRH=1 exceptions.
  Result reserve(const Nexus& n, const uint8_t* cdb);
  Result release(const Nexus& n, const uint8_t* cdb);
  // Conflict check run before any other command executes (SPC-4 5.13.1 tables 65/66 and the
  // SPC-2 RESERVE rules). True = complete the command with RESERVATION CONFLICT.
  bool conflicts(const Nexus& n, ReservationClass cls, const uint8_t* cdb) const;
  // SCSI-2 reservation is released on I_T nexus loss of its holder and on LU/target resets.
  void on_nexus_loss(const Nexus& n);
  void on_reset();

  // Replaces the persistent state (e.g. to undo a change whose APTPL write failed); the
  // SCSI-2 reservation is kept. Sanitised like the constructor's argument.
  void restore(PrState s);

  const PrState& state() const { return st_; }
  // False when no command other than RESERVE/RELEASE/PR IN/PR OUT can conflict (no SCSI-2
  // reservation, no persistent reservation): the per-command fast path.
  bool may_conflict() const { return scsi2_.has_value() || st_.reservation.has_value(); }
  bool scsi2_reserved_by(const Nexus& n) const;
  std::optional<Nexus> scsi2_holder() const { return scsi2_; }
  // Sets the SCSI-2 reservation holder (a takeover restoring a mirrored state).
  void set_scsi2_holder(std::optional<Nexus> n) { scsi2_ = std::move(n); }
  // Persistent-reservation views of one nexus.
  std::optional<size_t> registration_of(const Nexus& n) const;  // index of the registration covering n
  bool is_holder(const Nexus& n) const;                         // PR holder (every registrant for AR types)

  // Does registration `r` cover I_T nexus `n`?
  static bool matches(const Registration& r, const Nexus& n);
  // Would `a` and `b` cover a common I_T nexus?
  static bool overlaps(const Registration& a, const Registration& b);
  // iSCSI TransportID codec (SPC-4 7.6.4.6, formats 00b and 01b). parse returns {name, isid}
  // (isid "" for 00b), lowercased, or nullopt on malformed/truncated input; `consumed` is the
  // TransportID length (4 + ADDITIONAL LENGTH) when the header is readable.
  static std::optional<std::pair<std::string, std::string>> parse_iscsi_transport_id(std::span<const uint8_t> tid,
                                                                                     size_t& consumed);
  static std::vector<uint8_t> iscsi_transport_id(const std::string& name, const std::string& isid);

 private:
  std::optional<Result> scsi2_prologue(const Nexus& n, const uint8_t* cdb) const;

  PrState st_;
  std::optional<Nexus> scsi2_;
  size_t max_registrations_;
};

std::string describe(const Nexus& n);        // "<name>,i,0x<isid> via <target port>"
std::string describe(const Registration& r);

}  // namespace stmf::pr
