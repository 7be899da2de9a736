// The CmdSN window of a session (RFC 7143 4.2.2.1) with RFC 1982 serial number arithmetic.
//
// The target accepts non-immediate commands with ExpCmdSN <= CmdSN <= MaxCmdSN, delivers them
// in CmdSN order, and advances ExpCmdSN by one per delivered command. Immediate commands
// carry CmdSN but neither advance it nor are window-checked. At ERL 0 anything outside the
// window (including duplicates) is silently dropped.
//
// Flow control: MaxCmdSN = ExpCmdSN + depth - 1 - (non-immediate commands still running),
// and never moves backwards. Tell the window when a command finishes (on_completed()).
#pragma once
#include <cstdint>
#include <map>
#include <optional>

namespace stmf::iscsi {

// RFC 1982 comparison on 32-bit serial numbers (undefined when 2^31 apart: reported as
// neither less nor greater).
inline bool sn_lt(uint32_t a, uint32_t b) { return a != b && uint32_t(b - a) < 0x80000000u; }
inline bool sn_gt(uint32_t a, uint32_t b) { return a != b && uint32_t(a - b) < 0x80000000u; }
inline bool sn_le(uint32_t a, uint32_t b) { return a == b || sn_lt(a, b); }
inline bool sn_ge(uint32_t a, uint32_t b) { return a == b || sn_gt(a, b); }

enum class CmdSnClass {
  immediate,  // deliver now, no CmdSN change
  in_order,  // CmdSN == ExpCmdSN: deliver now
  future,  // inside the window but ahead: hold until the gap fills
  out_of_window,  // drop silently (RFC 7143 4.2.2.1)
};

class CmdWindow {
 public:
  // exp_cmd_sn: the CmdSN of the leading Login Request; depth >= 1.
  CmdWindow(uint32_t exp_cmd_sn = 0, uint32_t depth = 128);

  uint32_t exp_cmd_sn() const { return exp_cmd_sn_; }
  uint32_t max_cmd_sn() const { return max_cmd_sn_; }
  uint32_t depth() const { return depth_; }
  uint32_t running() const { return running_; }

  CmdSnClass classify(uint32_t cmd_sn, bool immediate) const;
  // Classifies and, for in_order, advances ExpCmdSN. For immediate/in_order the command is
  // counted as running (non-immediate only) until on_completed().
  CmdSnClass accept(uint32_t cmd_sn, bool immediate);
  // A held (future) command became deliverable: call when cmd_sn == exp_cmd_sn().
  void deliver_held();
  // A non-immediate command finished (response queued): opens the window by one.
  void on_completed();

 private:
  void update_max();

  uint32_t exp_cmd_sn_;
  uint32_t depth_;
  uint32_t running_ = 0;
  uint32_t max_cmd_sn_;
};

// Commands that arrived ahead of ExpCmdSN, released in order as the gap fills.
template <typename T>
class CmdReorderBuffer {
 public:
  void hold(uint32_t cmd_sn, T cmd) { held_.insert_or_assign(cmd_sn, std::move(cmd)); }
  bool holding(uint32_t cmd_sn) const { return held_.count(cmd_sn) != 0; }
  size_t size() const { return held_.size(); }
  // The held command with CmdSN == window.exp_cmd_sn(), advancing the window; nullopt if none.
  std::optional<T> take_next(CmdWindow& window) {
    auto it = held_.find(window.exp_cmd_sn());
    if (it == held_.end()) return std::nullopt;
    T out = std::move(it->second);
    held_.erase(it);
    window.deliver_held();
    return out;
  }
  void clear() { held_.clear(); }

 private:
  std::map<uint32_t, T> held_;
};

}  // namespace stmf::iscsi
