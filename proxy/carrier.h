// A carrier moves whole frames (proxy/messages.h wire form, length prefix included) between
// the two nodes of an ALUA pair, in order. Two implementations: the direct TCP link
// (proxy/tcp_carrier.h) and the door relay (proxy/door_carrier.h). The link
// (proxy/link.h) runs the handshake, heartbeat and message handling over either.
//
// Threading: start() once; send() and close() from any thread. Handler callbacks run on the
// carrier's executor, one at a time, in arrival order. on_down runs at most once, and not
// after close() returned.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace stmf::proxy {

class Carrier {
 public:
  struct Handler {
    std::function<void(std::vector<uint8_t> frame)> on_frame;  // one complete frame
    std::function<void(const std::string& why)> on_down;      // the carrier failed
    // One frame was not delivered but the carrier stays usable (door: the relay answered a
    // call non-zero). Optional; carriers that cannot lose single frames never call it.
    std::function<void(const std::string& why)> on_message_lost;
  };
  virtual ~Carrier() = default;
  virtual void start(Handler h) = 0;
  // Queues one frame; never blocks on the peer. A frame that cannot be delivered makes the
  // carrier fail (on_down).
  virtual void send(std::vector<uint8_t> frame) = 0;
  virtual void close() = 0;
  virtual std::string describe() const = 0;  // for logs: "tcp 127.0.0.1:3270", "door fd 7"
};

}  // namespace stmf::proxy
