#include "transport/iscsi/data_out.h"

#include <algorithm>

#include "transport/iscsi/pdu.h"

namespace stmf::iscsi {

const char* to_string(DataOutError e) {
  switch (e) {
    case DataOutError::immediate_data_not_allowed: return "immediate data not negotiated";
    case DataOutError::immediate_data_too_long: return "immediate data exceeds FirstBurstLength or EDTL";
    case DataOutError::unsolicited_not_allowed: return "unsolicited Data-Out not allowed";
    case DataOutError::segment_too_long: return "data segment exceeds MaxRecvDataSegmentLength";
    case DataOutError::unexpected_unsolicited: return "unexpected unsolicited Data-Out";
    case DataOutError::unknown_ttt: return "no outstanding R2T for TTT";
    case DataOutError::offset_out_of_range: return "buffer offset outside the sequence";
    case DataOutError::out_of_order: return "Data-Out PDUs out of order";
    case DataOutError::bad_data_sn: return "unexpected DataSN";
    case DataOutError::early_final: return "F bit before the end of the sequence";
    case DataOutError::missing_final: return "sequence complete without F bit";
  }
  return "?";
}

std::optional<DataOutError> DataOutTracker::check_command(uint32_t edtl, uint32_t immediate_length, bool command_final,
                                                          const SessionParams& p) {
  if (immediate_length > 0 && !p.immediate_data) return DataOutError::immediate_data_not_allowed;
  if (immediate_length > p.first_burst_length || immediate_length > edtl) return DataOutError::immediate_data_too_long;
  if (immediate_length > p.target_max_recv_data_segment_length) return DataOutError::segment_too_long;
  if (!command_final) {
    if (p.initial_r2t) return DataOutError::unsolicited_not_allowed;
    if (immediate_length >= std::min(p.first_burst_length, edtl)) return DataOutError::unsolicited_not_allowed;
  }
  return std::nullopt;
}

DataOutTracker::DataOutTracker(uint32_t edtl, uint32_t immediate_length, bool command_final, const SessionParams& p)
    : edtl_(edtl),
      immediate_(std::min(immediate_length, edtl)),
      max_burst_(std::max<uint32_t>(p.max_burst_length, 1)),
      max_segment_(p.target_max_recv_data_segment_length),
      max_outstanding_(std::max<uint32_t>(p.max_outstanding_r2t, 1)),
      pdu_in_order_(p.data_pdu_in_order),
      received_(immediate_) {
  unsol_end_ = immediate_;
  if (!command_final && !p.initial_r2t) {
    unsol_end_ = std::max(immediate_, std::min(p.first_burst_length, edtl));
    unsol_open_ = unsol_end_ > immediate_;
  }
  unsol_.ttt = kReservedTag;
  unsol_.offset = immediate_;
  unsol_.length = unsol_end_ - immediate_;
  unsol_.next_offset = immediate_;
  r2t_cursor_ = unsol_end_;
}

size_t DataOutTracker::outstanding_r2ts() const { return r2ts_.size(); }

std::optional<R2tRequest> DataOutTracker::next_r2t(uint32_t ttt) {
  if (unsol_open_ || r2t_cursor_ >= edtl_ || r2ts_.size() >= max_outstanding_) return std::nullopt;
  Sequence s;
  s.ttt = ttt;
  s.offset = r2t_cursor_;
  s.length = std::min(max_burst_, edtl_ - r2t_cursor_);
  s.next_offset = s.offset;
  r2t_cursor_ += s.length;
  r2ts_.push_back(s);
  return R2tRequest{ttt, next_r2t_sn_++, s.offset, s.length};
}

std::optional<DataOutError> DataOutTracker::accept(Sequence& s, uint32_t offset, uint32_t length, uint32_t data_sn,
                                                   bool final) {
  if (offset < s.offset || uint64_t(offset) + length > uint64_t(s.offset) + s.length)
    return DataOutError::offset_out_of_range;
  if (pdu_in_order_ && offset != s.next_offset) return DataOutError::out_of_order;
  if (data_sn != s.next_data_sn) return DataOutError::bad_data_sn;
  if (s.received + length > s.length) return DataOutError::offset_out_of_range;
  const bool full = s.received + length == s.length;
  if (final && !full) return DataOutError::early_final;
  if (full && !final) return DataOutError::missing_final;
  s.received += length;
  s.next_offset = offset + length;
  ++s.next_data_sn;
  received_ += length;
  s.done = full;
  return std::nullopt;
}

std::optional<DataOutError> DataOutTracker::on_data_out(uint32_t ttt, uint32_t buffer_offset, uint32_t length,
                                                        uint32_t data_sn, bool final) {
  if (length > max_segment_) return DataOutError::segment_too_long;
  if (ttt == kReservedTag) {
    if (!unsol_open_) return DataOutError::unexpected_unsolicited;
    if (auto e = accept(unsol_, buffer_offset, length, data_sn, final)) return e;
    if (unsol_.done) unsol_open_ = false;
    return std::nullopt;
  }
  auto it = std::find_if(r2ts_.begin(), r2ts_.end(), [&](const Sequence& s) { return s.ttt == ttt; });
  if (it == r2ts_.end()) return DataOutError::unknown_ttt;
  if (auto e = accept(*it, buffer_offset, length, data_sn, final)) return e;
  if (it->done) r2ts_.erase(it);
  return std::nullopt;
}

}  // namespace stmf::iscsi
