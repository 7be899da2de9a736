// FrameReader: cuts an ordered byte stream (TCP, the door relay's stream) into whole proxy
// channel frames (proxy/messages.h), length prefix included. FrameAssembler does the same for
// the TCP/TLS carrier with no copy of SCSI data: the stream is read straight into the frame.
// I/O-free; decoding a frame is proxy/codec.h's job.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
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
// One frame in two parts, so that SCSI data crosses the link without being copied: `head` is
// the frame from its length prefix up to the bytes of its bulk field, `bulk` those bytes (the
// last field of SCSI_DATA (data) and SCSI_CMD (immediate_data), which is its buffer's
// payload). A frame without a bulk field, or read whole, has everything in `head` and an
// empty `bulk`. head followed by bulk is exactly the wire form of encode() (proxy/codec.h).
struct Frame {
  std::vector<uint8_t> head;
  std::vector<uint8_t> bulk;
  size_t size() const { return head.size() + bulk.size(); }
};

class FrameReader {
 public:
  enum class Next { frame, need_more, error };

  void feed(const uint8_t* p, size_t n);
  Next next(std::vector<uint8_t>& frame, std::string& why);

  size_t buffered() const { return buf_.size() - pos_; }  // bytes fed but not yet returned
  bool failed() const { return failed_; }
  // The bytes fed but not yet returned, handed over (the reader is empty afterwards).
  std::vector<uint8_t> take_buffered();

 private:
  std::vector<uint8_t> buf_;
  size_t pos_ = 0;  // first byte not yet returned; bytes before it are compacted away lazily
  bool failed_ = false;
  std::string error_;
};

// Cuts a byte stream into frames with the bytes read where they stay: the caller reads into
// space() and reports what it read with commit(); next() hands out the frames.
//
//   for (;;) { while (a.next(frame, why) == Next::frame) use(frame); n = read(a.space()); a.commit(n); }
//
// Small frames are read many at a time into a staging buffer and copied out of it once. The
// SCSI data of a SCSI_DATA or SCSI_CMD (proxy/codec.h locate_bulk) goes into its own buffer
// (common/buffer_pool.h): whatever of it already sits in the staging buffer is copied there,
// and space() then points into that buffer for the rest, so a large transfer is read straight
// into the buffer the task adopts. A frame without SCSI data larger than kWholeBelow is read
// the same way into its own buffer.
//
// Bounded: a length prefix below kHeaderSize - 4 or above kMaxFrame is an error before
// anything is allocated for it (the stream is then unusable, as FrameReader's); a frame's
// buffer grows with the bytes that arrived (at most twice them plus kGrowStep), never to its
// declared length up front.
class FrameAssembler {
 public:
  enum class Next { frame, need_more, error };
  static constexpr size_t kStaging = 256 * 1024;
  static constexpr size_t kWholeBelow = 64 * 1024;
  static constexpr size_t kGrowStep = (1u << 20) + 4096;

  FrameAssembler();
  // Bytes already read from the stream (FrameReader::take_buffered()): they come first.
  void preload(const std::vector<uint8_t>& bytes);
  // Where the next read should put its bytes; empty once the stream failed.
  std::span<uint8_t> space();
  // `n` bytes were written at the start of the last space().
  void commit(size_t n);
  Next next(Frame& frame, std::string& why);

  bool failed() const { return failed_; }
  size_t held() const { return stage_.capacity() + cur_.head.capacity() + cur_.bulk.capacity(); }

 private:
  Next fail(std::string why_text, std::string& why);

  std::vector<uint8_t> stage_;
  size_t pos_ = 0;  // first byte of stage_ not yet handed out
  size_t end_ = 0;  // end of the bytes read into stage_
  // The frame being read in place (filling_): into cur_.head (a large frame without SCSI
  // data) or cur_.bulk; filled_ of want_ bytes of it are there.
  bool filling_ = false;
  Frame cur_;
  bool fill_bulk_ = false;
  size_t filled_ = 0;
  size_t want_ = 0;
  bool failed_ = false;
  std::string error_;
};

}  // namespace stmf::proxy
