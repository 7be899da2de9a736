// ALUA (SPC-4 5.16): access states of the two target port groups of an ALUA pair, REPORT
// TARGET PORT GROUPS, and the interfaces through which the framework reaches the peer node
// (implemented by the proxy service, proxy/service.h).
//
// Numbering (docs/alua.md): node N's target port group is N + 1; its ports' relative target
// port ids are N * 32768 + port_index (1..32767). So ids never collide between the nodes.
//
// An LU is active on one node and standby on the other. On the standby node every command
// except REPORT LUNS is forwarded to the active node while the link is up; while it is down
// the standby node answers by itself as Unavailable (02/04/0C for all but INQUIRY, REPORT
// LUNS, REPORT TARGET PORT GROUPS, REQUEST SENSE). The active node's group is always
// Active/Optimized; the standby node's group is Active/Non-optimized while the link is up.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/it_nexus.h"
#include "core/logical_unit.h"
#include "core/task.h"

namespace stmf {

enum class TmfResponse : uint8_t;
struct TmfRequest;

// SPC-4 table 171 asymmetric access states.
enum class AccessState : uint8_t {
  active_optimized = 0x0,
  active_non_optimized = 0x1,
  standby = 0x2,
  unavailable = 0x3,
  transitioning = 0xf,
};

constexpr uint16_t tpg_of_node(uint32_t node) { return uint16_t(node + 1); }

// What this node knows about the pair (published by the proxy service; a snapshot).
struct AluaGroups {
  bool enabled = false;
  uint32_t node = 0;
  bool link_up = false;
  // The link was lost less than timeout_ms ago (docs/alua.md "A short link loss"): the
  // standby group reports Transitioning and standby LUs answer 02/04/0A, which initiators
  // retry on the same path, instead of Unavailable (02/04/0C), which fails the path.
  bool reconnecting = false;
};

// Where the framework sends work for standby LUs. Calls come from I/O threads.
class PeerForwarder {
 public:
  virtual ~PeerForwarder() = default;
  // Takes the task and sends it to the active node; its completion comes back through
  // task->nexus->port() as for any task. False when the link is down: the caller answers.
  virtual bool forward_task(const LogicalUnitPtr& lu, const TaskPtr& task) = 0;
  // Task management for a standby LU; `done` gets the active node's response. False when
  // the link is down.
  virtual bool forward_tmf(const LogicalUnitPtr& lu, const ItNexusPtr& nexus, const TmfRequest& req,
                           std::function<void(TmfResponse)> done) = 0;
  // SET TARGET PORT GROUPS made the peer's group Active/Optimized: hand the LU (active here)
  // to the peer. `done(ok)` once, on another thread, when the peer owns it or it failed.
  virtual void hand_over(const LogicalUnitPtr& lu, std::function<void(bool ok)> done) = 0;
};

// Told about the I_T nexuses of this node's own ports (the proxy mirrors them on the peer).
// Called outside the framework's locks, from the thread that made the change.
class NexusObserver {
 public:
  virtual ~NexusObserver() = default;
  virtual void nexus_created(const ItNexusPtr& n) = 0;
  virtual void nexus_lost(const ItNexusPtr& n) = 0;
  virtual void lun_map_changed(const ItNexusPtr& n) = 0;
};

// One target port group as REPORT TARGET PORT GROUPS lists it.
struct TpgDescriptor {
  uint16_t tpg = 0;
  AccessState state = AccessState::active_optimized;
  bool preferred = false;
  std::vector<uint16_t> rtpis;
};

// REPORT TARGET PORT GROUPS parameter data (SPC-4 6.36), length-only (extended = false) or
// extended header format, not truncated (the caller applies the allocation length).
std::vector<uint8_t> build_rtpg(const std::vector<TpgDescriptor>& groups, bool extended);

// True when the command may run in the Unavailable state (SPC-4 5.16.2.4.5).
bool allowed_when_unavailable(const uint8_t* cdb);

}  // namespace stmf
