// The iSCSI local port: one per (target IQN, target portal group tag). It is the object the
// framework hands finished tasks back to; it routes each one to the connection that owns it.
#pragma once
#include <atomic>
#include <memory>
#include <string>

#include "core/local_port.h"
#include "transport/settings.h"

namespace stmf::transport {

class Connection;

// A task received on an iSCSI connection. The connection creates it; `conn` routes the
// framework's completion back to that connection's strand.
struct IscsiTask : ScsiTask {
  std::weak_ptr<Connection> conn;
  uint32_t cmd_sn = 0;
  bool immediate = false;
  bool read_flag = false, write_flag = false;
  // The write-buffer budget this task's data_out holds (session and global); given back
  // when the task (and so its buffer) is destroyed, on whatever thread that happens.
  std::shared_ptr<const void> buffer_charge;
};

class IscsiTargetPort final : public LocalPort {
 public:
  IscsiTargetPort(TargetSettings settings, uint16_t rtpi, uint16_t tpg);

  const std::string& port_name() const override { return port_name_; }
  const std::string& target_name() const override { return iqn_; }
  uint16_t rtpi() const override { return rtpi_.load(std::memory_order_relaxed); }
  uint16_t tpg() const override { return tpg_.load(std::memory_order_relaxed); }
  // The ALUA node id changed (docs/alua.md numbering).
  void set_ids(uint16_t rtpi, uint16_t tpg) { rtpi_.store(rtpi); tpg_.store(tpg); }
  void task_complete(TaskPtr task) override;
  void task_aborted(TaskPtr task) override;

  // Current settings (alias, CHAP, initiator ACL may change at run time; IQN and TPGT do not).
  std::shared_ptr<const TargetSettings> settings() const { return std::atomic_load(&settings_); }
  void set_settings(TargetSettings s);
  bool initiator_allowed(const std::string& initiator) const;

  // Online: serves logins and SendTargets. Offline: refuses logins with Service Unavailable
  // (stmfOfflineTarget); its sessions are logged out by the server.
  bool online() const { return online_.load(); }
  void set_online(bool on) { online_.store(on); }
  // Deleted by the admin: invisible, never online again (the object lives on while
  // nexuses of closed sessions may still point at it).
  bool removed() const { return removed_.load(); }
  void mark_removed() { removed_.store(true); online_.store(false); }

 private:
  std::shared_ptr<const TargetSettings> settings_;
  const std::string iqn_;
  std::string port_name_;
  std::atomic<bool> online_{true}, removed_{false};
  std::atomic<uint16_t> rtpi_, tpg_;
};

}  // namespace stmf::transport
