// Data-Out accounting for one write task (RFC 7143 4.2.5.2, 11.7, 11.8), I/O-free.
//
// A write moves EDTL bytes in up to three parts:
//  1. immediate data in the SCSI Command PDU (ImmediateData=Yes, at most FirstBurstLength);
//  2. unsolicited Data-Out PDUs (TTT 0xffffffff) when InitialR2T=No and the command's F bit
//     is 0, up to min(FirstBurstLength, EDTL) bytes including the immediate data;
//  3. solicited sequences, one per R2T, each at most MaxBurstLength bytes, with at most
//     MaxOutstandingR2T R2Ts outstanding.
// R2Ts are issued once the unsolicited part has ended (its F bit), so offsets stay
// increasing (DataSequenceInOrder) and there are no gaps. DataSN restarts at 0 for each
// sequence. Every Data-Out is checked before its payload is accepted; errors are values the
// caller turns into a Reject (protocol error) or CHECK CONDITION.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "transport/iscsi/params.h"

namespace stmf::iscsi {

enum class DataOutError {
  immediate_data_not_allowed,  // ImmediateData=No but the command carried data
  immediate_data_too_long,  // more than FirstBurstLength or EDTL
  unsolicited_not_allowed,  // F=0 on the command with InitialR2T=Yes or nothing left to send
  segment_too_long,  // more than our MaxRecvDataSegmentLength
  unexpected_unsolicited,  // TTT 0xffffffff outside the unsolicited part
  unknown_ttt,  // no outstanding R2T with this TTT
  offset_out_of_range,  // outside the sequence (R2T or unsolicited burst)
  out_of_order,  // DataPDUInOrder=Yes and the offset is not the next one
  bad_data_sn,  // DataSN is not the next of the sequence
  early_final,  // F set before the sequence's bytes were all sent
  missing_final,  // the sequence is full but F was not set
};
const char* to_string(DataOutError e);

struct R2tRequest {
  uint32_t ttt = 0;
  uint32_t r2t_sn = 0;
  uint32_t buffer_offset = 0;
  uint32_t desired_length = 0;
};

class DataOutTracker {
 public:
  DataOutTracker() = default;
  // edtl: Expected Data Transfer Length; immediate_length: data in the command PDU;
  // command_final: the command's F bit. Limits come from `p` (negotiated values, including
  // target_max_recv_data_segment_length).
  DataOutTracker(uint32_t edtl, uint32_t immediate_length, bool command_final, const SessionParams& p);

  // Checks the command PDU itself; call before constructing the tracker.
  static std::optional<DataOutError> check_command(uint32_t edtl, uint32_t immediate_length, bool command_final,
                                                   const SessionParams& p);

  // Unsolicited Data-Out bytes still expected after the command (0 if none).
  uint32_t unsolicited_expected() const { return unsol_end_ - immediate_; }

  // The next R2T to send, using `ttt` as its Target Transfer Tag; nullopt when none may be
  // sent now (all requested, MaxOutstandingR2T reached, or unsolicited data still coming).
  std::optional<R2tRequest> next_r2t(uint32_t ttt);

  // Validates one Data-Out PDU header and accounts for its payload.
  std::optional<DataOutError> on_data_out(uint32_t ttt, uint32_t buffer_offset, uint32_t length, uint32_t data_sn,
                                          bool final);

  bool complete() const { return received_ == edtl_; }
  uint32_t received() const { return received_; }
  uint32_t edtl() const { return edtl_; }
  size_t outstanding_r2ts() const;

 private:
  struct Sequence {
    uint32_t ttt = 0;
    uint32_t offset = 0, length = 0;
    uint32_t received = 0;
    uint32_t next_offset = 0;
    uint32_t next_data_sn = 0;
    bool done = false;
  };
  std::optional<DataOutError> accept(Sequence& s, uint32_t offset, uint32_t length, uint32_t data_sn, bool final);

  uint32_t edtl_ = 0;
  uint32_t immediate_ = 0;
  uint32_t max_burst_ = 262144;
  uint32_t max_segment_ = 8192;
  uint32_t max_outstanding_ = 1;
  bool pdu_in_order_ = true;
  uint32_t received_ = 0;
  // Unsolicited part: [immediate_, unsol_end_).
  uint32_t unsol_end_ = 0;
  Sequence unsol_;
  bool unsol_open_ = false;
  // Solicited part.
  uint32_t r2t_cursor_ = 0;  // next offset to request
  uint32_t next_r2t_sn_ = 0;
  std::vector<Sequence> r2ts_;  // outstanding (not done) sequences
};

}  // namespace stmf::iscsi
