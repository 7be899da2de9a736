#include "transport/iscsi/data_in.h"

#include <algorithm>

namespace stmf::iscsi {

DataInSegmenter::DataInSegmenter(uint32_t total_length, uint32_t max_recv_data_segment_length,
                                 uint32_t max_burst_length, uint32_t first_data_sn)
    : total_(total_length),
      max_seg_(std::max<uint32_t>(max_recv_data_segment_length, 1)),
      max_burst_(std::max<uint32_t>(max_burst_length, 1)),
      data_sn_(first_data_sn) {}

std::optional<DataInSegment> DataInSegmenter::next() {
  if (offset_ >= total_) return std::nullopt;
  DataInSegment s;
  s.buffer_offset = offset_;
  s.length = std::min({max_seg_, max_burst_ - burst_used_, total_ - offset_});
  s.data_sn = data_sn_++;
  offset_ += s.length;
  burst_used_ += s.length;
  s.last = offset_ == total_;
  s.final = s.last || burst_used_ == max_burst_;
  if (burst_used_ == max_burst_) burst_used_ = 0;
  return s;
}

}  // namespace stmf::iscsi
