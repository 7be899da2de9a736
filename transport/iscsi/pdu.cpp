#include "transport/iscsi/pdu.h"

#include <cstring>

namespace stmf::iscsi {

namespace {

std::optional<PduError> expect_opcode(const Bhs& b, uint8_t op) {
  if (bhs_opcode(b) != op) return PduError{reject_reason::protocol_error, "unexpected opcode"};
  return std::nullopt;
}

void put_sn(Bhs& b, const SnFields& sn) { set_sn(b, sn.stat_sn, sn.exp_cmd_sn, sn.max_cmd_sn); }

}  // namespace

// ------------------------------------------------------------------ parsers

std::optional<PduError> parse_scsi_command(const Bhs& b, std::span<const uint8_t> ahs, ScsiCommand& out) {
  if (auto e = expect_opcode(b, opcode::scsi_command)) return e;
  out = ScsiCommand{};
  out.immediate = bhs_immediate(b);
  out.final = b[1] & 0x80;
  out.read = b[1] & 0x40;
  out.write = b[1] & 0x20;
  const uint8_t attr = b[1] & 0x07;
  if (attr > 4) return PduError{reject_reason::invalid_pdu_field, "reserved task attribute"};
  out.attr = TaskAttr(attr);
  out.data_segment_length = bhs_data_segment_length(b);
  out.lun = bhs_lun(b);
  out.itt = bhs_itt(b);
  out.edtl = load_be32(&b[20]);
  out.cmd_sn = load_be32(&b[24]);
  out.exp_stat_sn = load_be32(&b[28]);
  std::memcpy(out.cdb.data(), &b[32], 16);
  out.cdb_length = 16;
  if (out.itt == kReservedTag) return PduError{reject_reason::invalid_pdu_field, "reserved ITT"};
  // RFC 7143 11.3.1: F = 0 announces unsolicited Data-Out, which only a write can have;
  // immediate data likewise.
  if (!out.final && !out.write) return PduError{reject_reason::protocol_error, "F=0 without W"};
  if (out.data_segment_length > 0 && !out.write) return PduError{reject_reason::protocol_error, "immediate data without W"};
  if (ahs.size() != bhs_total_ahs_length(b)) return PduError{reject_reason::protocol_error, "AHS length mismatch"};

  // AHS: AHSLength(2) AHSType(1) then AHSLength bytes (the first is reserved for types 1/2),
  // padded to 4 bytes (RFC 7143 11.2.2).
  bool seen_ext = false, seen_bidi = false;
  size_t off = 0;
  while (off < ahs.size()) {
    if (ahs.size() - off < 4) return PduError{reject_reason::invalid_pdu_field, "truncated AHS"};
    const size_t alen = load_be16(&ahs[off]);
    const uint8_t type = ahs[off + 2] & 0x3f;
    if (alen == 0 || 3 + alen > ahs.size() - off) return PduError{reject_reason::invalid_pdu_field, "bad AHSLength"};
    const uint8_t* body = &ahs[off + 4];  // after the reserved byte
    if (type == 1) {
      const size_t extra = alen - 1;
      if (seen_ext || 16 + extra > out.cdb.size()) return PduError{reject_reason::invalid_pdu_field, "bad extended CDB AHS"};
      std::memcpy(out.cdb.data() + 16, body, extra);
      out.cdb_length = uint16_t(16 + extra);
      seen_ext = true;
    } else if (type == 2) {
      if (seen_bidi || alen != 5) return PduError{reject_reason::invalid_pdu_field, "bad bidirectional read AHS"};
      out.bidi_read_edtl = load_be32(body);
      seen_bidi = true;
    } else {
      return PduError{reject_reason::invalid_pdu_field, "unknown AHS type"};
    }
    off += padded4(3 + alen);
  }
  return std::nullopt;
}

std::optional<PduError> parse_data_out(const Bhs& b, DataOut& out) {
  if (auto e = expect_opcode(b, opcode::data_out)) return e;
  out = DataOut{};
  out.final = bhs_final(b);
  out.data_segment_length = bhs_data_segment_length(b);
  out.lun = bhs_lun(b);
  out.itt = bhs_itt(b);
  out.ttt = load_be32(&b[20]);
  out.exp_stat_sn = load_be32(&b[28]);
  out.data_sn = load_be32(&b[36]);
  out.buffer_offset = load_be32(&b[40]);
  if (bhs_total_ahs_length(b) != 0) return PduError{reject_reason::protocol_error, "AHS on Data-Out"};
  return std::nullopt;
}

std::optional<PduError> parse_nop_out(const Bhs& b, NopOut& out) {
  if (auto e = expect_opcode(b, opcode::nop_out)) return e;
  out = NopOut{};
  out.immediate = bhs_immediate(b);
  out.data_segment_length = bhs_data_segment_length(b);
  out.lun = bhs_lun(b);
  out.itt = bhs_itt(b);
  out.ttt = load_be32(&b[20]);
  out.cmd_sn = load_be32(&b[24]);
  out.exp_stat_sn = load_be32(&b[28]);
  // RFC 7143 11.18: a ping request (ITT valid) carries no TTT; an answer to a target ping
  // (TTT valid) has ITT 0xffffffff and must be immediate.
  if (out.itt != kReservedTag && out.ttt != kReservedTag) return PduError{reject_reason::protocol_error, "NOP-Out with both ITT and TTT"};
  if (out.itt == kReservedTag && !out.immediate) return PduError{reject_reason::protocol_error, "NOP-Out with reserved ITT not immediate"};
  return std::nullopt;
}

std::optional<PduError> parse_login_request(const Bhs& b, LoginRequest& out) {
  if (auto e = expect_opcode(b, opcode::login_request)) return e;
  out = LoginRequest{};
  out.transit = b[1] & 0x80;
  out.cont = b[1] & 0x40;
  out.csg = (b[1] >> 2) & 0x03;
  out.nsg = b[1] & 0x03;
  out.version_max = b[2];
  out.version_min = b[3];
  out.isid = load_be48(&b[8]);
  out.tsih = load_be16(&b[14]);
  out.itt = bhs_itt(b);
  out.cid = load_be16(&b[20]);
  out.cmd_sn = load_be32(&b[24]);
  out.exp_stat_sn = load_be32(&b[28]);
  out.data_segment_length = bhs_data_segment_length(b);
  return std::nullopt;
}

std::optional<PduError> parse_text_request(const Bhs& b, TextRequest& out) {
  if (auto e = expect_opcode(b, opcode::text_request)) return e;
  out = TextRequest{};
  out.immediate = bhs_immediate(b);
  out.final = b[1] & 0x80;
  out.cont = b[1] & 0x40;
  out.data_segment_length = bhs_data_segment_length(b);
  out.lun = bhs_lun(b);
  out.itt = bhs_itt(b);
  out.ttt = load_be32(&b[20]);
  out.cmd_sn = load_be32(&b[24]);
  out.exp_stat_sn = load_be32(&b[28]);
  if (out.final && out.cont) return PduError{reject_reason::protocol_error, "Text Request with F and C"};
  if (out.itt == kReservedTag) return PduError{reject_reason::invalid_pdu_field, "reserved ITT"};
  return std::nullopt;
}

std::optional<PduError> parse_logout_request(const Bhs& b, LogoutRequest& out) {
  if (auto e = expect_opcode(b, opcode::logout_request)) return e;
  out = LogoutRequest{};
  out.immediate = bhs_immediate(b);
  const uint8_t reason = b[1] & 0x7f;
  if (reason > 2) return PduError{reject_reason::invalid_pdu_field, "reserved logout reason"};
  out.reason = LogoutReason(reason);
  out.itt = bhs_itt(b);
  out.cid = load_be16(&b[20]);
  out.cmd_sn = load_be32(&b[24]);
  out.exp_stat_sn = load_be32(&b[28]);
  if (bhs_data_segment_length(b) != 0) return PduError{reject_reason::protocol_error, "data on Logout Request"};
  return std::nullopt;
}

std::optional<PduError> parse_task_mgmt_request(const Bhs& b, TaskMgmtRequest& out) {
  if (auto e = expect_opcode(b, opcode::task_mgmt_request)) return e;
  out = TaskMgmtRequest{};
  out.immediate = bhs_immediate(b);
  out.function = b[1] & 0x7f;
  out.lun = bhs_lun(b);
  out.itt = bhs_itt(b);
  out.referenced_task_tag = load_be32(&b[20]);
  out.cmd_sn = load_be32(&b[24]);
  out.exp_stat_sn = load_be32(&b[28]);
  out.ref_cmd_sn = load_be32(&b[32]);
  out.exp_data_sn = load_be32(&b[36]);
  if (bhs_data_segment_length(b) != 0) return PduError{reject_reason::protocol_error, "data on TMF Request"};
  return std::nullopt;
}

std::optional<PduError> parse_snack(const Bhs& b, Snack& out) {
  if (auto e = expect_opcode(b, opcode::snack_request)) return e;
  out = Snack{};
  out.type = b[1] & 0x0f;
  out.lun = bhs_lun(b);
  out.itt = bhs_itt(b);
  out.ttt = load_be32(&b[20]);
  out.exp_stat_sn = load_be32(&b[28]);
  out.beg_run = load_be32(&b[36]);
  out.run_length = load_be32(&b[40]);
  return std::nullopt;
}

// ------------------------------------------------------------------ builders

void build_scsi_response(const ScsiResponse& f, Bhs& b) {
  b.fill(0);
  set_opcode(b, opcode::scsi_response);
  b[1] = uint8_t(0x80 | (f.bidi_overflow ? 0x10 : 0) | (f.bidi_underflow ? 0x08 : 0) | (f.overflow ? 0x04 : 0) |
                 (f.underflow ? 0x02 : 0));
  b[2] = f.response;
  b[3] = f.status;
  set_data_segment_length(b, f.data_segment_length);
  set_itt(b, f.itt);
  put_sn(b, f.sn);
  store_be32(&b[36], f.exp_data_sn);
  store_be32(&b[40], f.bidi_residual_count);
  store_be32(&b[44], f.residual_count);
}

void build_data_in(const DataIn& f, Bhs& b) {
  b.fill(0);
  set_opcode(b, opcode::data_in);
  const bool s = f.status;
  b[1] = uint8_t(((f.final || s) ? 0x80 : 0) | (f.ack ? 0x40 : 0) | (s && f.overflow ? 0x04 : 0) |
                 (s && f.underflow ? 0x02 : 0) | (s ? 0x01 : 0));
  b[3] = s ? f.scsi_status : 0;
  set_data_segment_length(b, f.data_segment_length);
  set_lun(b, f.lun);
  set_itt(b, f.itt);
  store_be32(&b[20], f.ttt);
  // StatSN is reserved unless S is set (RFC 7143 11.7.6).
  set_sn(b, s ? f.sn.stat_sn : 0, f.sn.exp_cmd_sn, f.sn.max_cmd_sn);
  store_be32(&b[36], f.data_sn);
  store_be32(&b[40], f.buffer_offset);
  store_be32(&b[44], s ? f.residual_count : 0);
}

void build_r2t(const R2t& f, Bhs& b) {
  b.fill(0);
  set_opcode(b, opcode::r2t);
  b[1] = 0x80;
  set_lun(b, f.lun);
  set_itt(b, f.itt);
  store_be32(&b[20], f.ttt);
  put_sn(b, f.sn);
  store_be32(&b[36], f.r2t_sn);
  store_be32(&b[40], f.buffer_offset);
  store_be32(&b[44], f.desired_length);
}

void build_nop_in(const NopIn& f, Bhs& b) {
  b.fill(0);
  set_opcode(b, opcode::nop_in);
  b[1] = 0x80;
  set_data_segment_length(b, f.data_segment_length);
  set_lun(b, f.lun);
  set_itt(b, f.itt);
  store_be32(&b[20], f.ttt);
  put_sn(b, f.sn);
}

void build_login_response(const LoginResponse& f, Bhs& b) {
  b.fill(0);
  set_opcode(b, opcode::login_response);
  b[1] = uint8_t((f.transit ? 0x80 : 0) | (f.cont ? 0x40 : 0) | (f.csg & 3) << 2 | (f.transit ? (f.nsg & 3) : 0));
  b[2] = f.version_max;
  b[3] = f.version_active;
  set_data_segment_length(b, f.data_segment_length);
  store_be48(&b[8], f.isid);
  store_be16(&b[14], f.tsih);
  set_itt(b, f.itt);
  put_sn(b, f.sn);
  b[36] = f.status_class;
  b[37] = f.status_detail;
}

void build_text_response(const TextResponse& f, Bhs& b) {
  b.fill(0);
  set_opcode(b, opcode::text_response);
  b[1] = uint8_t((f.final && !f.cont ? 0x80 : 0) | (f.cont ? 0x40 : 0));
  set_data_segment_length(b, f.data_segment_length);
  set_lun(b, f.lun);
  set_itt(b, f.itt);
  store_be32(&b[20], f.ttt);
  put_sn(b, f.sn);
}

void build_logout_response(const LogoutResponse& f, Bhs& b) {
  b.fill(0);
  set_opcode(b, opcode::logout_response);
  b[1] = 0x80;
  b[2] = f.response;
  set_itt(b, f.itt);
  put_sn(b, f.sn);
  store_be16(&b[40], f.time2wait);
  store_be16(&b[42], f.time2retain);
}

void build_tmf_response(const TmfResponseFields& f, Bhs& b) {
  b.fill(0);
  set_opcode(b, opcode::task_mgmt_response);
  b[1] = 0x80;
  b[2] = uint8_t(f.response);
  set_itt(b, f.itt);
  put_sn(b, f.sn);
}

void build_reject(const RejectFields& f, Bhs& b) {
  b.fill(0);
  set_opcode(b, opcode::reject);
  b[1] = 0x80;
  b[2] = f.reason;
  set_data_segment_length(b, kBhsSize);
  set_itt(b, kReservedTag);
  put_sn(b, f.sn);
  store_be32(&b[36], f.data_sn);
}

void build_async_message(const AsyncMessage& f, Bhs& b) {
  b.fill(0);
  set_opcode(b, opcode::async_message);
  b[1] = 0x80;
  set_data_segment_length(b, f.data_segment_length);
  set_lun(b, f.lun);
  set_itt(b, kReservedTag);
  put_sn(b, f.sn);
  b[36] = f.async_event;
  b[37] = f.async_vcode;
  store_be16(&b[38], f.parameter1);
  store_be16(&b[40], f.parameter2);
  store_be16(&b[42], f.parameter3);
}

void build_async_logout_request(const SnFields& sn, uint16_t time2wait, Bhs& b) {
  AsyncMessage m;
  m.sn = sn;
  m.async_event = kAsyncEventRequestLogout;
  m.parameter3 = time2wait;
  build_async_message(m, b);
}

void write_sense_segment(std::span<const uint8_t> sense, uint8_t* out) {
  if (sense.empty()) return;
  store_be16(out, uint16_t(sense.size()));
  std::memcpy(out + 2, sense.data(), sense.size());
}

const char* opcode_name(uint8_t op) {
  switch (op & 0x3f) {
    case opcode::nop_out: return "NOP-Out";
    case opcode::scsi_command: return "SCSI Command";
    case opcode::task_mgmt_request: return "Task Management Request";
    case opcode::login_request: return "Login Request";
    case opcode::text_request: return "Text Request";
    case opcode::data_out: return "SCSI Data-Out";
    case opcode::logout_request: return "Logout Request";
    case opcode::snack_request: return "SNACK Request";
    case opcode::nop_in: return "NOP-In";
    case opcode::scsi_response: return "SCSI Response";
    case opcode::task_mgmt_response: return "Task Management Response";
    case opcode::login_response: return "Login Response";
    case opcode::text_response: return "Text Response";
    case opcode::data_in: return "SCSI Data-In";
    case opcode::logout_response: return "Logout Response";
    case opcode::r2t: return "R2T";
    case opcode::async_message: return "Asynchronous Message";
    case opcode::reject: return "Reject";
    default: return "unknown opcode";
  }
}

}  // namespace stmf::iscsi
