// Reservations in the framework: the per-LU state (SCSI-2 RESERVE and SPC-4 persistent
// reservations, computed by the pure engine in core/pr/) and what the framework does with
// the engine's results (unit attentions to the nexuses it names, PREEMPT AND ABORT, APTPL
// persistence before GOOD, the audit log). Stmf::submit() step 9 is the only caller.
//
// Ordering: every command takes the LU's reservation lock shared from its conflict check
// until it is issued to the LU provider; reservation commands take it exclusively. So a
// command admitted before a PREEMPT AND ABORT is in the task set when the preempt aborts it,
// and one that arrives after sees the new reservation.
#pragma once
#include <functional>
#include <optional>
#include <shared_mutex>
#include <string>

#include "core/it_nexus.h"
#include "core/pr/pr_engine.h"

namespace stmf {

struct LuReservations {
  std::shared_mutex mu;
  pr::PrEngine engine;
  uint64_t seq = 0;  // counts the changes of the state (PR or SCSI-2) made by commands: mirroring order
};

class LogicalUnit;

// Mirrors an LU's reservation state to the standby node of an ALUA pair (the proxy service,
// proxy/service.h), so that a takeover after a crash of this node keeps it (docs/alua.md).
class ReservationMirror {
 public:
  virtual ~ReservationMirror() = default;
  // Sends the LU's whole state after change number `seq` (the receiver keeps the highest seq,
  // so calls for one LU may race). `done` runs once, on another thread, when the standby node
  // has stored it or the link is gone. False: nothing to mirror to (ALUA off, link down, LU
  // not active here); `done` is then not called.
  virtual bool mirror(const LogicalUnit& lu, uint64_t seq, const pr::PrState& st,
                      const std::optional<pr::Nexus>& scsi2, std::function<void()> done) = 0;
};

// Durable APTPL state, provided by the daemon (the state database). Called with the LU's
// reservation lock held, from an I/O thread; returns only when the state is durable.
class PrPersistence {
 public:
  virtual ~PrPersistence() = default;
  // Stores `state` for LU `guid` (32 uppercase hex digits) or, given nullopt, erases it.
  virtual bool store(const std::string& guid, const std::optional<pr::PrState>& state, std::string& why) = 0;
};

// The engine's view of an I_T nexus.
pr::Nexus pr_nexus(const ItNexus& n);

}  // namespace stmf
