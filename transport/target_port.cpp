#include "transport/target_port.h"

#include <algorithm>
#include <cstdio>

#include "transport/connection.h"

namespace stmf::transport {

IscsiTargetPort::IscsiTargetPort(TargetSettings settings, uint16_t rtpi, uint16_t tpg)
    : settings_(std::make_shared<const TargetSettings>(std::move(settings))), iqn_(settings_->iqn), rtpi_(rtpi), tpg_(tpg) {
  char buf[16];
  std::snprintf(buf, sizeof buf, ",t,0x%04x", settings_->tpgt);
  port_name_ = iqn_ + buf;
}

void IscsiTargetPort::set_settings(TargetSettings s) {
  s.iqn = iqn_;
  s.tpgt = settings_->tpgt;
  std::atomic_store(&settings_, std::make_shared<const TargetSettings>(std::move(s)));
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
  auto s = settings();
  return s->initiators.empty() || std::find(s->initiators.begin(), s->initiators.end(), initiator) != s->initiators.end();
}

}  // namespace stmf::transport
