// The iSCSI local port: one per (target IQN, target portal group tag). It is the object the
// framework hands finished tasks back to; it routes each one to the connection that owns it.
#pragma once
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
};

class IscsiTargetPort final : public LocalPort {
 public:
  IscsiTargetPort(TargetSettings settings, uint16_t rtpi, uint16_t tpg);

  const std::string& port_name() const override { return port_name_; }
  const std::string& target_name() const override { return settings_.iqn; }
  uint16_t rtpi() const override { return rtpi_; }
  uint16_t tpg() const override { return tpg_; }
  void task_complete(TaskPtr task) override;
  void task_aborted(TaskPtr task) override;

  const TargetSettings& settings() const { return settings_; }
  bool initiator_allowed(const std::string& initiator) const;

 private:
  TargetSettings settings_;
  std::string port_name_;
  uint16_t rtpi_, tpg_;
};

}  // namespace stmf::transport
