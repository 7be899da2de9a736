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

#include "proxy/frame_reader.h"

namespace stmf::proxy {

class Carrier {
 public:
  struct Handler {
    std::function<void(std::vector<uint8_t> frame)> on_frame;  // one complete frame
    std::function<void(const std::string& why)> on_down;      // the carrier failed
    // One frame was not delivered but the carrier stays usable (door: the relay answered a
    // call non-zero). Optional; carriers that cannot lose single frames never call it.
    std::function<void(const std::string& why)> on_message_lost{};
    // Optional: when set, a carrier that reads SCSI data into its own buffer (TCP, TLS)
    // delivers frames in two parts here (proxy/frame_reader.h Frame) instead of on_frame.
    std::function<void(Frame frame)> on_parts{};
  };
  virtual ~Carrier() = default;
  virtual void start(Handler h) = 0;
  // Queues one frame; never blocks on the peer. A frame that cannot be delivered makes the
  // carrier fail (on_down).
  virtual void send(std::vector<uint8_t> frame) = 0;
  // The same for a frame in two parts (proxy/codec.h encode_parts()): a carrier that gathers
  // its writes sends the bulk from its own buffer (and returns it to the buffer pool once
  // written); the default joins the parts.
  virtual void send(Frame frame) {
    frame.head.insert(frame.head.end(), frame.bulk.begin(), frame.bulk.end());
    send(std::move(frame.head));
  }
  virtual void close() = 0;
  virtual std::string describe() const = 0;  // for logs: "tcp 127.0.0.1:3270", "door fd 7"
};

}  // namespace stmf::proxy
