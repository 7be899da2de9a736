// The daemon's running objects (LUs, iSCSI target ports, portals, views) reconciled to a
// configuration. Every management change goes
//     ops (pure, mgmt/ops.h) -> Runtime::prepare -> StateDb::save -> Runtime::commit
// prepare() does what can fail (open and create backing stores, grow files, bind portals)
// without changing what initiators see; commit() cannot fail and makes the new configuration
// live (LU registry, target ports, view table, unit attentions). abort() undoes a prepare()
// whose save failed. Startup is prepare(empty, loaded) + commit.
//
// Threading: called from the management thread only (one change at a time). The objects it
// touches (Stmf, Server) are safe to change while the I/O threads serve.
#pragma once
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "core/stmf.h"
#include "mgmt/config.h"
#include "mgmt/protocol.h"
#include "proxy/service.h"
#include "tools/stmfd/door_host.h"
#include "tools/stmfd/storage_race.h"
#include "transport/server.h"

namespace stmfd {

class SessionAccounting;
// The framework's array session settings a configuration makes (docs/array-sessions.md).
stmf::ars::Settings ars_settings(const stmf::mgmt::Config& c);

class Runtime final : public DoorHost, public stmf::proxy::StandbyHost {
 public:
  // `restored_pr`: APTPL reservation state by LU GUID (from the state database), applied to
  // each LU when it is registered.
  Runtime(stmf::Stmf& stmf, stmf::transport::Server& server, std::map<std::string, stmf::pr::PrState> restored_pr = {})
      : stmf_(stmf), server_(server), restored_pr_(std::move(restored_pr)) {}

  // Fallible half. May complete `to` (the size of an LU created on an existing file).
  // Both halves work on the LUs active here: standby records (LuConfig::standby) are left out.
  stmf::mgmt::Status prepare(const stmf::mgmt::Config& from, stmf::mgmt::Config& to);
  // Infallible half: `to` becomes live.
  void commit(const stmf::mgmt::Config& from, const stmf::mgmt::Config& to);
  // Drops what prepare() built (new stores, new portals).
  void abort();

  // LU metadata for import-lu: the properties recorded on a backing file by create-lu.
  static stmf::mgmt::Status read_lu_metadata(const std::string& backing, nlohmann::json& lu);

  // Target port view for list-target/get-target (nullptr when unknown).
  stmf::transport::IscsiTargetPort* port(const std::string& iqn) { return server_.find_target(iqn); }
  stmf::transport::Server& server() { return server_; }
  // I/O statistics (tools/stmfd/stats_report.h): every LU, port, session and the proxy link
  // (get-stats); and one session's counters, by its port and initiator port (list-sessions).
  nlohmann::json stats_json() const;
  nlohmann::json session_stats_json(const stmf::LocalPort& port, const std::string& initiator, const std::string& isid_hex) const;
  stmf::Stmf& stmf() { return stmf_; }
  // The session accounting (nullptr: off); the record format and node follow the configuration.
  void set_accounting(SessionAccounting* a) { acct_ = a; }
  SessionAccounting* accounting() const { return acct_; }
  // The reservation state of a registered LU (list-pr), or the copy mirrored here for a
  // standby LU ("mirrored": true); nullopt when no such LU.
  std::optional<nlohmann::json> reservations_json(const std::string& guid);
  // The durability latch of a registered LU (docs/failover.md "A failed flush is remembered"):
  // the failure that tripped it, or null (also for an unknown or standby LU).
  nlohmann::json durability_fault(const std::string& guid) const;
  // A SAN-backed, fenced LU (docs/failover.md "Fencing at the storage"): whether its key was
  // preempted (true: it no longer serves here); null for other LUs.
  nlohmann::json fenced(const std::string& guid) const;

  // --- ALUA pair (docs/alua.md) ---
  // Connects the proxy service. `post` runs a function on the management thread.
  void attach_proxy(stmf::proxy::ProxyService* proxy, std::function<void(std::function<void()>)> post) {
    proxy_ = proxy;
    post_ = std::move(post);
  }
  // The door API's receiver (nullptr when this daemon has no proxy service).
  DoorHost* door_host();
  int install_door(int fd) override;
  int destroy_door() override;
  int post_proxy_msg(std::vector<uint8_t> msg) override;
  // StandbyHost (called from the proxy thread; the work runs on the management thread).
  void register_standby(stmf::proxy::RegisterLun m, std::function<void(stmf::proxy::ProxyStatus)> done) override;
  void deregister_standby(stmf::Guid g, std::function<void(stmf::proxy::ProxyStatus)> done) override;
  void drop_standby() override;
  std::vector<stmf::proxy::RegisterLun> active_lus() override;
  std::string encode_reservations(const stmf::pr::PrState& st, const std::optional<stmf::pr::Nexus>& scsi2,
                                  const stmf::HandoverState* handover = nullptr) override;
  void store_standby_reservations(stmf::proxy::PrStateMsg m, std::function<void(stmf::proxy::ProxyStatus)> done) override;
  void restart_reservation_seqs() override;
  void keep_standby_only(std::vector<stmf::Guid> guids, std::function<void(stmf::proxy::ProxyStatus)> done) override;
  void step_down(stmf::proxy::RegisterLun m, std::function<void(stmf::proxy::ProxyStatus)> done) override;
  void promote(stmf::Guid g, std::function<void(stmf::proxy::ProxyStatus)> done) override;
  void race(stmf::Guid g, std::function<void(stmf::proxy::Ownership::RaceResult, std::string)> done) override;
  // The fencing provider of standby LU `guid` (core/store/fencing.h), or null and why.
  std::unique_ptr<stmf::store::StorageFence> storage_fence(const std::string& guid, std::string& why) const;
  std::unique_ptr<stmf::store::StorageFence> rbd_fence(const std::string& guid, const nlohmann::json& backend,
                                                       std::string& why) const;
  // How the management server adds a taken-over LU (`lu`: management LU object, epoch set)
  // to the configuration (promote): `done(ok)` on the management thread once applied.
  void set_promote(std::function<void(const nlohmann::json& lu, std::function<void(bool)> done)> fn) { promote_ = std::move(fn); }
  // Planned switchover of LU `guid` (docs/alua.md): `done(status, message)` on the management
  // thread once the peer owns it or the attempt failed.
  void switchover(const std::string& guid, std::function<void(stmf::mgmt::Status)> done);
  // How the management server removes a stale LU from the configuration (step_down): calls
  // `done(ok)` on the management thread once applied.
  void set_demote(std::function<void(const std::string& guid, std::function<void(bool)> done)> fn) { demote_ = std::move(fn); }
  // The ownership epoch the peer registered for standby LU `guid` (0 when unknown).
  uint64_t standby_epoch(const std::string& guid) const;
  // create-lu/import-lu of LU `guid` (management thread): the proxy's ownership machine
  // decides whether it is a takeover of a standby LU (then with `epoch`, the owner's + 1) or
  // refused (`refused`, with `message`: the link to its active node is up, two active copies).
  struct Takeover {
    bool refused = false;
    std::string message;
    bool takeover = false;
    uint64_t epoch = 0;
  };
  Takeover import_lu(const std::string& guid) const;
  // stmfSetAluaState(B_TRUE, node) while already enabled: drop the link and peer state,
  // reconnect and re-register everything.
  void reinitialize_alua();
  // {"link": "disabled"|"down"|"up", "peer_node": n|null, "carrier": "...", "standby_lus": n, ...}
  nlohmann::json alua_status() const;
  // The standby LUs (registered by the peer, not in the configuration) as management `lu`
  // objects keyed by GUID: the properties the peer registered, "state": "online",
  // "access_state": "standby" (docs/management.md "Standby LUs"). Management thread only, like
  // every reader and writer of standby_ (register/deregister/drop_standby run there via post_).
  nlohmann::json standby_lus() const;

 private:
  void apply_array_sessions(const stmf::mgmt::Config& c);
  SessionAccounting* acct_ = nullptr;
  stmf::mgmt::Status prepare_active(const stmf::mgmt::Config& from, stmf::mgmt::Config& to);
  void commit_active(const stmf::mgmt::Config& from, const stmf::mgmt::Config& to);
  struct PreparedLu {
    stmf::LogicalUnitPtr lu;
  };
  // fence_key: the LU's reservation key on its SAN LUN (mgmt::lu_fence_key), 0 = not fenced.
  stmf::mgmt::Status build_lu(const stmf::mgmt::LuConfig& l, const stmf::mgmt::AluaConfig& alua, uint64_t& size,
                              stmf::LogicalUnitPtr& out);
  static void write_lu_metadata(const stmf::mgmt::LuConfig& l);
  void publish_views(const stmf::mgmt::Config& c);

  stmf::Stmf& stmf_;
  stmf::transport::Server& server_;
  std::map<std::string, stmf::LogicalUnitPtr> lus_;       // by GUID: registered LUs
  std::map<std::string, stmf::LogicalUnitPtr> prepared_;  // built by prepare(), not yet live
  // The owner's holds at the storage (core/store/fencing.h FenceHold: an rbd store's exclusive
  // lock) of the live LUs and of the prepared ones; released when the LU leaves this node.
  std::map<std::string, std::shared_ptr<stmf::store::FenceHold>> holds_, prepared_holds_;
  std::vector<stmf::mgmt::Portal> new_portals_;           // bound by prepare()
  uint16_t next_rtpi_ = 1;
  bool auth_set_ = false;  // the server has this node's AuthSettings (set on the first commit)
  void apply_alua(const stmf::mgmt::Config& from, const stmf::mgmt::Config& to);
  stmf::proxy::ProxyStatus add_standby(const stmf::proxy::RegisterLun& m);
  stmf::mgmt::Config current_;                             // last committed (management thread)
  std::map<std::string, stmf::LogicalUnitPtr> standby_;    // by GUID: standby LUs (peer-active)
  std::map<std::string, std::string> standby_props_;       // by GUID: the properties they were made from
  // This node's own standby records (LuConfig::standby) by GUID, as last committed: a SAN-backed
  // one holds this node's login to the SAN LUN, which the race and pre-registration use.
  std::map<std::string, stmf::mgmt::LuConfig> own_standby_;
  std::set<std::string> rekeyed_;  // prepared: rebuilt only for a new reservation key (prepare -> commit)
  struct MirroredPr {
    uint64_t seq = 0;
    std::string state;  // JSON text (encode_reservations)
  };
  std::map<std::string, MirroredPr> standby_pr_;           // by GUID: the active node's reservation state
  // Step-down in progress (management thread): the peer's registration of the LU, and once the
  // configuration change that removes the active copy has committed, what registering the
  // standby copy answered. The commit registers it before it publishes the views, so the LUN
  // never leaves an initiator's map between the two copies (no LOGICAL UNIT NOT SUPPORTED).
  struct StepDown {
    stmf::proxy::RegisterLun m;
    std::optional<stmf::proxy::ProxyStatus> registered;
  };
  std::map<std::string, StepDown> stepping_down_;
  void drop_standby_lu(std::string guid);  // one standby LU and what goes with it (a copy: callers pass map keys)
  void take_over(const std::string& guid, const stmf::LogicalUnitPtr& lu);  // standby copy -> this LU
  mutable std::mutex active_mu_;
  std::vector<stmf::proxy::RegisterLun> active_;           // under active_mu_
  stmf::proxy::ProxyService* proxy_ = nullptr;
  std::function<void(std::function<void()>)> post_;
  std::function<void(const std::string&, std::function<void(bool)>)> demote_;
  std::function<void(const nlohmann::json&, std::function<void(bool)>)> promote_;
  std::map<std::string, stmf::pr::PrState> restored_pr_;
  // Fencing (docs/failover.md "Fencing at the storage"): SAN-backed standby LUs whose LUN has
  // this node's key registered in advance (preregister), and the registrations running (one per
  // LU at most, on a thread of its own: libmhd blocks). Declared last: the jobs are joined first.
  std::map<std::string, bool> key_registered_;
  std::set<std::string> registering_;
  std::map<std::string, std::jthread> registration_jobs_;
  void preregister(const std::string& guid);
};

}  // namespace stmfd
