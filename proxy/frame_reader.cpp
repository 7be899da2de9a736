#include "proxy/frame_reader.h"

#include <string>

#include "common/byte_order.h"

namespace stmf::proxy {

void FrameReader::feed(const uint8_t* p, size_t n) {
  if (failed_ || n == 0) return;
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 0 && pos_ >= buf_.size() - pos_) {
    // Compact once the consumed part is at least as large as the rest: each byte is moved
    // at most a constant number of times on average, however small the frames.
    buf_.erase(buf_.begin(), buf_.begin() + std::ptrdiff_t(pos_));
    pos_ = 0;
  }
  buf_.insert(buf_.end(), p, p + n);
}

FrameReader::Next FrameReader::next(std::vector<uint8_t>& frame, std::string& why) {
  if (failed_) {
    why = error_;
    return Next::error;
  }
  const size_t avail = buf_.size() - pos_;
  if (avail < 4) return Next::need_more;
  const uint32_t len = get_be32(buf_.data() + pos_);
  if (len < kHeaderSize - 4 || len > kMaxFrame) {
    failed_ = true;
    error_ = "frame: length prefix " + std::to_string(len) + " outside " + std::to_string(kHeaderSize - 4) + ".." +
             std::to_string(kMaxFrame);
    buf_.clear();
    buf_.shrink_to_fit();
    pos_ = 0;
    why = error_;
    return Next::error;
  }
  if (avail - 4 < len) return Next::need_more;
  const uint8_t* start = buf_.data() + pos_;
  frame.assign(start, start + 4 + len);
  pos_ += 4 + size_t(len);
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  return Next::frame;
}

}  // namespace stmf::proxy
