// The door carrier: proxy frames to and from the peer node through a relay installed with
// stmfInitProxyDoor (docs/stmfproxy.md), COMSTAR's door API over a Unix stream socket.
//
// Outgoing frames are "door calls" on the installed door fd, pipelined:
//   call   (daemon -> relay): u32 size (big-endian), then `size` bytes = one whole frame as
//          given to send() (its own length prefix included)
//   result (relay -> daemon): u32 (big-endian), one per call, in call order; 0 = the relay took
//          the frame, non-zero = it could not (e.g. ENOTCONN: no peer relay connected)
// A non-zero result is logged as an error (message type, msg_id, result) and reported with
// on_message_lost: the door stays usable and the proxy service only counts it ("logged as
// errors without further action", stmfInitProxyDoor(3STMF)); the link stays up. EOF or an I/O error on the fd, or a result nobody asked
// for, fails the carrier (on_down): the door is gone.
//
// Incoming frames do not travel on the fd: the relay hands them to the daemon with
// stmfPostProxyMsg, and the management thread passes them to deliver().
//
// Threading: everything touching the fd runs on the carrier's strand (made from the executor
// given): one reader coroutine for the results, one writer (chained gathered writes, never
// two at once). send(), deliver() and close() may be called from any thread. Handler callbacks
// run on that strand, one at a time, in arrival order; on_down runs at most once; no callback
// runs after close() returned. close() called from another thread while a callback runs waits
// for that callback to return: do not call close() while holding a lock a callback takes.
//
// Ownership: the carrier owns the fd from construction and closes it in close() (or the
// destructor; the descriptor itself is released on the strand). Internal state is shared
// with pending I/O handlers, so destroying the carrier with I/O in flight is safe; the
// io_context must outlive the carrier or be destroyed after it (pending handlers then free
// the state). After on_down the carrier does no more I/O and drops delivered frames; its
// owner closes it (closing the fd tells the relay the door is gone).
#pragma once
#include <boost/asio/any_io_executor.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proxy/carrier.h"

namespace stmf::proxy {

class DoorCarrier : public Carrier {
 public:
  // `fd`: the installed door (our end of the relay's Unix stream socket pair). Owned by the
  // carrier from now on. An unusable fd makes start() report on_down.
  DoorCarrier(boost::asio::any_io_executor ex, int fd);
  ~DoorCarrier() override;
  DoorCarrier(const DoorCarrier&) = delete;
  DoorCarrier& operator=(const DoorCarrier&) = delete;

  // Carrier. send() queues a door call (before start() too: calls go out once started).
  // start() on a started carrier replaces the handler (the link starts over on the same door).
  void start(Handler h) override;
  void send(std::vector<uint8_t> frame) override;
  void close() override;
  std::string describe() const override;  // "door fd N"

  // A frame from the peer (stmfPostProxyMsg on this node), from any thread. Posts on_frame to
  // the strand, in the order of deliver() calls (frames delivered before start() are held
  // until start()). Dropped after close() or after the carrier failed.
  void deliver(std::vector<uint8_t> frame);

  // True when the door is gone although on_down may not have been handled yet: the carrier
  // failed or was closed, or the relay closed its end (hang-up on the fd). Asks the strand and
  // waits for its answer (at most 200 ms; no answer counts as alive). From any thread but the
  // carrier's strand; do not hold a lock a callback takes.
  bool hung_up();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace stmf::proxy
