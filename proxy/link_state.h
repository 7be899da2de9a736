// The proxy link's state machine (pure: events in, actions out; no I/O, no clock of its own).
//
//   idle --carrier up--> handshaking --HELLO ok--> up
//   up --no frame for timeout_ms / carrier down / message lost--> handshaking or idle
//
// Both sides send HELLO when a carrier comes up and repeat it every heartbeat while
// handshaking (the door relay may connect its TCP side later). A HELLO is answered with our
// own HELLO when it is news (we were not up, or the peer's incarnation changed), so the
// exchange ends after one round trip. While up, ECHO_REQUEST goes out every heartbeat; any
// frame counts as a sign of life. A peer whose incarnation changes while up has restarted or
// re-initialized ALUA: the link goes down and up again in one step (its sessions are gone).
#pragma once
#include <cstdint>
#include <string>

#include "proxy/messages.h"

namespace stmf::proxy {

class LinkState {
 public:
  enum class Phase { idle, handshaking, up };
  struct Actions {
    bool send_hello = false;
    bool send_echo = false;
    bool went_down = false;      // was up: run the link-down handling (before went_up)
    bool went_up = false;        // run the link-up handling (registrations)
    bool close_carrier = false;  // the carrier is useless (TCP: reconnect)
    std::string why;             // for the log, when something went wrong
  };

  LinkState(uint32_t node, uint64_t incarnation, uint32_t heartbeat_ms, uint32_t timeout_ms)
      : node_(node), incarnation_(incarnation), heartbeat_ms_(heartbeat_ms), timeout_ms_(timeout_ms) {}

  Actions carrier_up(uint64_t now_ms);
  // The carrier is gone; when the link was not idle, the incarnation is incremented (the next
  // carrier's handshake is news to a peer that did not see this one go).
  Actions carrier_down(uint64_t now_ms, const std::string& why);
  // A frame was not delivered (an undecodable frame on a door carrier): the peer's view of the link
  // is lost, handshake again on the same carrier, under a new incarnation (incremented) so a
  // peer that is still up takes the HELLO as news and starts over too.
  Actions message_lost(uint64_t now_ms, const std::string& why);
  Actions frame_received(uint64_t now_ms);  // any valid frame, before its own event
  Actions hello(const Hello& h, uint64_t now_ms);
  Actions tick(uint64_t now_ms);

  Phase phase() const { return phase_; }
  bool up() const { return phase_ == Phase::up; }
  uint32_t peer_node() const { return peer_node_; }
  uint64_t peer_incarnation() const { return peer_incarnation_; }
  const std::string& peer_name() const { return peer_name_; }
  uint64_t incarnation() const { return incarnation_; }  // changes when our side starts over
  Hello own_hello(const std::string& name) const { return Hello{node_, incarnation_, true, name}; }

 private:
  uint32_t node_;
  uint64_t incarnation_;
  uint32_t heartbeat_ms_, timeout_ms_;
  Phase phase_ = Phase::idle;
  uint64_t last_rx_ = 0, last_hello_ = 0, last_echo_ = 0, handshake_since_ = 0;
  uint32_t peer_node_ = 0;
  uint64_t peer_incarnation_ = 0;
  std::string peer_name_;
};

const char* to_string(LinkState::Phase p);

}  // namespace stmf::proxy
