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

#include "core/stmf.h"
#include "mgmt/config.h"
#include "mgmt/protocol.h"
#include "transport/server.h"

namespace stmfd {

class Runtime {
 public:
  // `restored_pr`: APTPL reservation state by LU GUID (from the state database), applied to
  // each LU when it is registered.
  Runtime(stmf::Stmf& stmf, stmf::transport::Server& server, std::map<std::string, stmf::pr::PrState> restored_pr = {})
      : stmf_(stmf), server_(server), restored_pr_(std::move(restored_pr)) {}

  // Fallible half. May complete `to` (the size of an LU created on an existing file).
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
  // The reservation state of a registered LU (list-pr); nullopt when no such LU.
  std::optional<nlohmann::json> reservations_json(const std::string& guid);

 private:
  struct PreparedLu {
    stmf::LogicalUnitPtr lu;
  };
  stmf::mgmt::Status build_lu(const stmf::mgmt::LuConfig& l, uint64_t& size, stmf::LogicalUnitPtr& out);
  static void write_lu_metadata(const stmf::mgmt::LuConfig& l);
  void publish_views(const stmf::mgmt::Config& c);

  stmf::Stmf& stmf_;
  stmf::transport::Server& server_;
  std::map<std::string, stmf::LogicalUnitPtr> lus_;       // by GUID: registered LUs
  std::map<std::string, stmf::LogicalUnitPtr> prepared_;  // built by prepare(), not yet live
  std::vector<stmf::mgmt::Portal> new_portals_;           // bound by prepare()
  uint16_t next_rtpi_ = 1;
  std::map<std::string, stmf::pr::PrState> restored_pr_;
};

}  // namespace stmfd
