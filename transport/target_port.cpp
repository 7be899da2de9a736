#include "transport/target_port.h"

#include <algorithm>
#include <cstdio>

#include "transport/connection.h"

namespace stmf::transport {

IscsiTargetPort::IscsiTargetPort(TargetSettings settings, uint16_t rtpi, uint16_t tpg)
    : settings_(std::move(settings)), rtpi_(rtpi), tpg_(tpg) {
  char buf[16];
  std::snprintf(buf, sizeof buf, ",t,0x%04x", settings_.tpgt);
  port_name_ = settings_.iqn + buf;
}

void IscsiTargetPort::task_complete(TaskPtr task) {
  auto& t = static_cast<IscsiTask&>(*task);
  if (auto c = t.conn.lock()) c->post_complete(std::move(task));
}

void IscsiTargetPort::task_aborted(TaskPtr task) {
  auto& t = static_cast<IscsiTask&>(*task);
  if (auto c = t.conn.lock()) c->post_aborted(std::move(task));
}

bool IscsiTargetPort::initiator_allowed(const std::string& initiator) const {
  return settings_.initiators.empty() ||
         std::find(settings_.initiators.begin(), settings_.initiators.end(), initiator) != settings_.initiators.end();
}

}  // namespace stmf::transport
