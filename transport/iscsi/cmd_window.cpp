#include "transport/iscsi/cmd_window.h"

namespace stmf::iscsi {

CmdWindow::CmdWindow(uint32_t exp_cmd_sn, uint32_t depth)
    : exp_cmd_sn_(exp_cmd_sn), depth_(depth ? depth : 1), max_cmd_sn_(exp_cmd_sn + (depth ? depth : 1) - 1) {}

CmdSnClass CmdWindow::classify(uint32_t cmd_sn, bool immediate) const {
  if (immediate) return CmdSnClass::immediate;
  if (cmd_sn == exp_cmd_sn_) {
    // ExpCmdSN itself is outside a closed window (MaxCmdSN == ExpCmdSN - 1).
    return max_cmd_sn_ == exp_cmd_sn_ - 1 ? CmdSnClass::out_of_window : CmdSnClass::in_order;
  }
  if (sn_gt(cmd_sn, exp_cmd_sn_) && sn_le(cmd_sn, max_cmd_sn_)) return CmdSnClass::future;
  return CmdSnClass::out_of_window;
}

CmdSnClass CmdWindow::accept(uint32_t cmd_sn, bool immediate) {
  const CmdSnClass c = classify(cmd_sn, immediate);
  if (c == CmdSnClass::in_order) deliver_held();
  return c;
}

void CmdWindow::deliver_held() {
  ++exp_cmd_sn_;
  ++running_;
  update_max();
}

void CmdWindow::on_completed() {
  if (running_ > 0) --running_;
  update_max();
}

void CmdWindow::update_max() {
  const uint32_t open = running_ >= depth_ ? 0 : depth_ - running_;
  const uint32_t candidate = exp_cmd_sn_ + open - 1;
  if (sn_gt(candidate, max_cmd_sn_)) max_cmd_sn_ = candidate;  // never moves backwards
}

}  // namespace stmf::iscsi
