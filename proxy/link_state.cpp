#include "proxy/link_state.h"

namespace stmf::proxy {

const char* to_string(LinkState::Phase p) {
  switch (p) {
    case LinkState::Phase::idle: return "down";
    case LinkState::Phase::handshaking: return "handshaking";
    case LinkState::Phase::up: return "up";
  }
  return "?";
}

LinkState::Actions LinkState::carrier_up(uint64_t now) {
  Actions a;
  if (phase_ == Phase::up) a.went_down = true;
  phase_ = Phase::handshaking;
  handshake_since_ = last_rx_ = last_hello_ = now;
  a.send_hello = true;
  return a;
}

LinkState::Actions LinkState::carrier_down(uint64_t now, const std::string& why) {
  Actions a;
  a.went_down = phase_ == Phase::up;
  a.why = why;
  // Our side starts over when a carrier comes back: a new incarnation, so that a peer that
  // did not see this carrier go (a door relay in between answers its calls non-zero, which it
  // only counts) takes our next HELLO as news rather than as a late repeat.
  if (phase_ != Phase::idle) ++incarnation_;
  phase_ = Phase::idle;
  return a;
}

LinkState::Actions LinkState::message_lost(uint64_t now, const std::string& why) {
  Actions a;
  a.why = why;
  if (phase_ == Phase::idle) return a;
  a.went_down = phase_ == Phase::up;
  phase_ = Phase::handshaking;
  handshake_since_ = now;
  // The carrier stays: the peer must see that our side of the link started over (it may
  // still be up and would take our HELLO for a late repeat).
  ++incarnation_;
  a.send_hello = true;
  last_hello_ = now;
  return a;
}

LinkState::Actions LinkState::frame_received(uint64_t now) {
  last_rx_ = now;
  return {};
}

LinkState::Actions LinkState::hello(const Hello& h, uint64_t now) {
  Actions a;
  last_rx_ = now;
  if (phase_ == Phase::idle) return a;
  if (h.node == node_) {
    a.why = "the peer has the same node id " + std::to_string(node_) + " (each node needs its own: 0 and 1)";
    a.went_down = phase_ == Phase::up;
    a.close_carrier = true;
    phase_ = Phase::handshaking;
    handshake_since_ = now;
    return a;
  }
  if (h.node > 1) {
    a.why = "the peer announced node id " + std::to_string(h.node);
    a.went_down = phase_ == Phase::up;
    a.close_carrier = true;
    phase_ = Phase::handshaking;
    return a;
  }
  if (!h.alua_enabled) {
    a.why = "ALUA is disabled on the peer";
    a.went_down = phase_ == Phase::up;
    phase_ = Phase::handshaking;
    return a;
  }
  if (phase_ == Phase::up && h.incarnation == peer_incarnation_) {
    // A repeat: the peer's answer to our HELLO, or a peer still handshaking because our answer
    // was lost (a door call answered non-zero is only counted, never retried: it repeats its
    // HELLO every heartbeat). Answer, at most once a heartbeat so two up sides never ping-pong.
    if (now - last_hello_ >= heartbeat_ms_) {
      a.send_hello = true;
      last_hello_ = now;
    }
    return a;
  }
  if (phase_ == Phase::up) a.went_down = true;  // the peer restarted or re-initialized
  peer_node_ = h.node;
  peer_incarnation_ = h.incarnation;
  peer_name_ = h.name;
  phase_ = Phase::up;
  last_echo_ = now;
  a.send_hello = true;
  last_hello_ = now;
  a.went_up = true;
  return a;
}

LinkState::Actions LinkState::tick(uint64_t now) {
  Actions a;
  switch (phase_) {
    case Phase::idle:
      break;
    case Phase::handshaking:
      if (now - last_hello_ >= heartbeat_ms_) {
        a.send_hello = true;
        last_hello_ = now;
      }
      break;
    case Phase::up:
      if (now - last_rx_ > timeout_ms_) {
        a.went_down = true;
        a.close_carrier = true;
        a.why = "no frame from the peer for " + std::to_string(now - last_rx_) + " ms";
        phase_ = Phase::handshaking;
        handshake_since_ = now;
        ++incarnation_;  // as in message_lost: a door carrier stays, the peer may still be up
        break;
      }
      if (now - last_echo_ >= heartbeat_ms_) {
        a.send_echo = true;
        last_echo_ = now;
      }
      break;
  }
  return a;
}

}  // namespace stmf::proxy
