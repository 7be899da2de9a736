// Segmentation of a read into Data-In PDUs (RFC 7143 11.7), I/O-free.
//
// Each PDU carries at most the initiator's MaxRecvDataSegmentLength bytes; a sequence
// (burst) carries at most MaxBurstLength bytes and its last PDU has F set. DataSN counts
// every Data-In PDU of the command from `first_data_sn`. The last segment (`last`) is where
// the caller may collapse status (S bit) into the Data-In.
#pragma once
#include <cstdint>
#include <optional>

namespace stmf::iscsi {

struct DataInSegment {
  uint32_t buffer_offset = 0;
  uint32_t length = 0;
  uint32_t data_sn = 0;
  bool final = false;  // F: last PDU of a sequence
  bool last = false;  // last PDU of the transfer
};

class DataInSegmenter {
 public:
  DataInSegmenter(uint32_t total_length, uint32_t max_recv_data_segment_length, uint32_t max_burst_length,
                  uint32_t first_data_sn = 0);
  // Next PDU; nullopt when the transfer is done. A zero-length transfer yields nothing.
  std::optional<DataInSegment> next();
  uint32_t next_data_sn() const { return data_sn_; }

 private:
  uint32_t total_, max_seg_, max_burst_;
  uint32_t offset_ = 0;
  uint32_t burst_used_ = 0;
  uint32_t data_sn_;
};

}  // namespace stmf::iscsi
