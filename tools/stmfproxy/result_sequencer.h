// The results of door calls, released in call order (I/O-free).
//
// stmfd pipelines door calls and expects one u32 result per call, in call order
// (proxy/door_carrier.h). A call's result is known at different times: at once (ENOTCONN, no
// peer relay) or when its frame has been written to the TCP connection (0), or when that
// connection fails (ENOTCONN). The sequencer numbers the calls and hands out the results of the
// longest answered prefix, so results never overtake each other.
#pragma once
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

namespace stmfproxy {

class ResultSequencer {
 public:
  // Numbers the next door call.
  uint64_t push() {
    slots_.emplace_back();
    return base_ + slots_.size() - 1;
  }
  // Records the result of call `seq`. A call already answered, or not (or no longer) pending,
  // is ignored (the first result wins).
  void resolve(uint64_t seq, uint32_t result) {
    if (seq < base_ || seq - base_ >= slots_.size()) return;
    auto& s = slots_[size_t(seq - base_)];
    if (!s) s = result;
  }
  // Appends the results that may be sent now (call order) and forgets them.
  void take_ready(std::vector<uint32_t>& out) {
    while (!slots_.empty() && slots_.front()) {
      out.push_back(*slots_.front());
      slots_.pop_front();
      ++base_;
    }
  }
  // Calls not yet handed out by take_ready.
  size_t pending() const { return slots_.size(); }

 private:
  uint64_t base_ = 0;  // sequence number of slots_.front()
  std::deque<std::optional<uint32_t>> slots_;
};

}  // namespace stmfproxy
