// FrameReader: cuts an ordered byte stream (TCP, the door relay's stream) into whole proxy
// channel frames (proxy/messages.h), length prefix included. I/O-free; decoding a frame is
// proxy/codec.h's job.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "proxy/messages.h"

namespace stmf::proxy {

// Cuts a byte stream into whole frames (length prefix included), in order.
//
//   reader.feed(p, n);
//   for (;;) { auto r = reader.next(frame, why); if (r != FrameReader::Next::frame) break; ... }
//
// A length prefix below kHeaderSize - 4 or above kMaxFrame is an error; the stream is then
// unusable (every later next() returns error with the same reason, and feed() discards).
// Frames are not decoded here: a well-framed frame with a bad body is decode()'s business, and
// the carrier stays usable after it.
class FrameReader {
 public:
  enum class Next { frame, need_more, error };

  void feed(const uint8_t* p, size_t n);
  Next next(std::vector<uint8_t>& frame, std::string& why);

  size_t buffered() const { return buf_.size() - pos_; }  // bytes fed but not yet returned
  bool failed() const { return failed_; }

 private:
  std::vector<uint8_t> buf_;
  size_t pos_ = 0;  // first byte not yet returned; bytes before it are compacted away lazily
  bool failed_ = false;
  std::string error_;
};

}  // namespace stmf::proxy
