#include "proxy/frame_reader.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "common/buffer_pool.h"
#include "common/byte_order.h"
#include "proxy/codec.h"

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

namespace stmf::proxy {

std::vector<uint8_t> FrameReader::take_buffered() {
  std::vector<uint8_t> rest(buf_.begin() + std::ptrdiff_t(pos_), buf_.end());
  buf_.clear();
  pos_ = 0;
  return rest;
}

FrameAssembler::FrameAssembler() : stage_(kStaging) {}

void FrameAssembler::preload(const std::vector<uint8_t>& bytes) {
  if (bytes.empty()) return;
  const size_t have = end_ - pos_;
  std::memmove(stage_.data(), stage_.data() + pos_, have);
  pos_ = 0;
  end_ = have;
  if (stage_.size() < end_ + bytes.size()) stage_.resize(end_ + bytes.size());
  std::memcpy(stage_.data() + end_, bytes.data(), bytes.size());
  end_ += bytes.size();
}

std::span<uint8_t> FrameAssembler::space() {
  if (failed_) return {};
  if (filling_) {
    auto& buf = fill_bulk_ ? cur_.bulk : cur_.head;
    if (buf.size() == filled_) {
      // Grows with what arrived: twice it, or one more step, never beyond the frame.
      buf.resize(std::min(want_, std::max(filled_ * 2, filled_ + kGrowStep)));
    }
    return {buf.data() + filled_, std::min(buf.size(), want_) - filled_};
  }
  if (pos_ == end_) {
    pos_ = end_ = 0;
  } else if (stage_.size() - end_ < kWholeBelow) {
    // What is left is part of one frame of at most kWholeBelow (or its first bytes).
    std::memmove(stage_.data(), stage_.data() + pos_, end_ - pos_);
    end_ -= pos_;
    pos_ = 0;
  }
  return {stage_.data() + end_, stage_.size() - end_};
}

void FrameAssembler::commit(size_t n) {
  if (failed_) return;
  if (filling_) filled_ += n;
  else end_ += n;
}

FrameAssembler::Next FrameAssembler::fail(std::string why_text, std::string& why) {
  failed_ = true;
  error_ = std::move(why_text);
  std::vector<uint8_t>().swap(stage_);  // memory released, not only emptied
  cur_ = Frame{};
  pos_ = end_ = 0;
  filling_ = false;
  why = error_;
  return Next::error;
}

FrameAssembler::Next FrameAssembler::next(Frame& frame, std::string& why) {
  if (failed_) {
    why = error_;
    return Next::error;
  }
  if (filling_) {
    if (filled_ < want_) return Next::need_more;
    frame = std::move(cur_);
    cur_ = {};
    filling_ = false;
    return Next::frame;
  }
  const size_t avail = end_ - pos_;
  if (avail < 4) return Next::need_more;
  const uint8_t* p = stage_.data() + pos_;
  const uint32_t len = get_be32(p);
  if (len < kHeaderSize - 4 || len > kMaxFrame)
    return fail("frame: length prefix " + std::to_string(len) + " outside " + std::to_string(kHeaderSize - 4) + ".." +
                    std::to_string(kMaxFrame),
                why);
  const size_t total = 4 + size_t(len);
  const BulkAt at = locate_bulk(p, avail);
  if (at.kind == BulkAt::Kind::need) return Next::need_more;
  if (at.kind == BulkAt::Kind::at && at.length > 0) {
    const size_t take = std::min(avail - at.offset, at.length);
    cur_.head.assign(p, p + at.offset);
    cur_.bulk = BufferPool::global().get(std::min(at.length, std::max(take, kGrowStep)));
    std::memcpy(cur_.bulk.data(), p + at.offset, take);
    pos_ += at.offset + take;
    if (take == at.length) {
      frame = std::move(cur_);
      cur_ = {};
      return Next::frame;
    }
    filling_ = true;
    fill_bulk_ = true;
    filled_ = take;
    want_ = at.length;
    return Next::need_more;
  }
  if (avail >= total) {
    frame.head.assign(p, p + total);
    frame.bulk.clear();
    pos_ += total;
    return Next::frame;
  }
  if (total <= kWholeBelow) return Next::need_more;
  cur_.head.resize(std::min(total, std::max(avail, kGrowStep)));
  std::memcpy(cur_.head.data(), p, avail);
  pos_ += avail;
  filling_ = true;
  fill_bulk_ = false;
  filled_ = avail;
  want_ = total;
  return Next::need_more;
}

}  // namespace stmf::proxy
