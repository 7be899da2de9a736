// Reservations in the framework: the per-LU state (SCSI-2 RESERVE and SPC-4 persistent
// reservations, computed by the pure engine in core/pr/) and what the framework does with
// the engine's results (unit attentions to the nexuses it names, PREEMPT AND ABORT, APTPL
// persistence before GOOD, the audit log). Stmf::submit() step 6 is the only caller.
//
// Ordering: every command takes the LU's reservation lock shared from its conflict check
// until it is issued to the LU provider; reservation commands take it exclusively. So a
// command admitted before a PREEMPT AND ABORT is in the task set when the preempt aborts it,
// and one that arrives after sees the new reservation.
#pragma once
#include <optional>
#include <shared_mutex>
#include <string>

#include "core/it_nexus.h"
#include "core/pr/pr_engine.h"

namespace stmf {

struct LuReservations {
  std::shared_mutex mu;
  pr::PrEngine engine;
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
