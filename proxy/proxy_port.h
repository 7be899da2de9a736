// A target port of the peer node, as this node sees it (COMSTAR's pppt local port): created
// when the peer registers the port (REGISTER_PROXY_PORT), it carries the peer's port name,
// relative target port id and target port group, so the peer's sessions get their own I_T
// nexuses here and REPORT TARGET PORT GROUPS lists the peer's ports. Tasks of those sessions
// finish through it: the proxy service sends their data and status back to the peer.
#pragma once
#include "core/local_port.h"
#include "proxy/messages.h"

namespace stmf::proxy {

class ProxyService;

class ProxyPort final : public LocalPort {
 public:
  ProxyPort(ProxyService& svc, const RegisterProxyPort& p)
      : svc_(svc), port_name_(p.port_name), target_name_(p.target_name), rtpi_(p.rtpi), tpg_(p.tpg) {}

  const std::string& port_name() const override { return port_name_; }
  const std::string& target_name() const override { return target_name_; }
  uint16_t rtpi() const override { return rtpi_; }
  uint16_t tpg() const override { return tpg_; }
  void task_complete(TaskPtr task) override;
  void task_aborted(TaskPtr task) override;

  bool same(const RegisterProxyPort& p) const {
    return p.port_name == port_name_ && p.target_name == target_name_ && p.rtpi == rtpi_ && p.tpg == tpg_;
  }

 private:
  ProxyService& svc_;
  const std::string port_name_, target_name_;
  const uint16_t rtpi_, tpg_;
};

}  // namespace stmf::proxy
