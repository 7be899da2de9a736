// iSCSI PDU codec (RFC 7143 section 11), I/O-free.
//
// A PDU on the wire is: BHS (48 bytes) | AHS (TotalAHSLength * 4 bytes) | [header digest] |
// data segment | padding to 4 bytes | [data digest]. This file knows the BHS layout of every
// PDU type: accessors for the common fields (inline, allocation-free: they run on every PDU),
// `parse_*` for the PDUs an initiator sends (errors are values: a Reject reason plus a short
// text for the log) and `build_*` for the PDUs a target sends.
//
// Builders fill every field of the BHS they own, including DataSegmentLength, from the struct
// they are given. StatSN/ExpCmdSN/MaxCmdSN are fields of those structs; callers that prefer to
// stamp them last can use set_sn().
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace stmf::iscsi {

using Bhs = std::array<uint8_t, 48>;
inline constexpr size_t kBhsSize = 48;
inline constexpr uint32_t kReservedTag = 0xffffffff;  // "no tag" value of ITT/TTT
inline constexpr uint32_t kMaxDataSegmentLength = 0xffffff;

// Opcodes (byte 0, low 6 bits).
namespace opcode {
// Initiator PDUs.
inline constexpr uint8_t nop_out = 0x00;
inline constexpr uint8_t scsi_command = 0x01;
inline constexpr uint8_t task_mgmt_request = 0x02;
inline constexpr uint8_t login_request = 0x03;
inline constexpr uint8_t text_request = 0x04;
inline constexpr uint8_t data_out = 0x05;
inline constexpr uint8_t logout_request = 0x06;
inline constexpr uint8_t snack_request = 0x10;
// Target PDUs.
inline constexpr uint8_t nop_in = 0x20;
inline constexpr uint8_t scsi_response = 0x21;
inline constexpr uint8_t task_mgmt_response = 0x22;
inline constexpr uint8_t login_response = 0x23;
inline constexpr uint8_t text_response = 0x24;
inline constexpr uint8_t data_in = 0x25;
inline constexpr uint8_t logout_response = 0x26;
inline constexpr uint8_t r2t = 0x31;
inline constexpr uint8_t async_message = 0x32;
inline constexpr uint8_t reject = 0x3f;
}  // namespace opcode

// Reject reasons, RFC 7143 11.17.1 (values checked against the RFC table).
namespace reject_reason {
inline constexpr uint8_t data_digest_error = 0x02;
inline constexpr uint8_t snack_reject = 0x03;
inline constexpr uint8_t protocol_error = 0x04;
inline constexpr uint8_t command_not_supported = 0x05;
inline constexpr uint8_t immediate_command_reject = 0x06;
inline constexpr uint8_t task_in_progress = 0x07;
inline constexpr uint8_t invalid_data_ack = 0x08;
inline constexpr uint8_t invalid_pdu_field = 0x09;
inline constexpr uint8_t long_op_reject = 0x0a;  // out of resources to make a TTT
inline constexpr uint8_t negotiation_reset = 0x0b;  // RFC 3720 only; deprecated in RFC 7143
inline constexpr uint8_t waiting_for_logout = 0x0c;
}  // namespace reject_reason

// A malformed initiator PDU: the Reject reason to send and a static text for the log.
struct PduError {
  uint8_t reason = reject_reason::protocol_error;
  const char* what = "";
};

// ------------------------------------------------------------------ byte order helpers

inline uint16_t load_be16(const uint8_t* p) { return uint16_t(uint16_t(p[0]) << 8 | p[1]); }
inline uint32_t load_be24(const uint8_t* p) { return uint32_t(p[0]) << 16 | uint32_t(p[1]) << 8 | p[2]; }
inline uint32_t load_be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
inline uint64_t load_be48(const uint8_t* p) { return uint64_t(load_be16(p)) << 32 | load_be32(p + 2); }
inline uint64_t load_be64(const uint8_t* p) { return uint64_t(load_be32(p)) << 32 | load_be32(p + 4); }
inline void store_be16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
inline void store_be24(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 16);
  p[1] = uint8_t(v >> 8);
  p[2] = uint8_t(v);
}
inline void store_be32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24);
  p[1] = uint8_t(v >> 16);
  p[2] = uint8_t(v >> 8);
  p[3] = uint8_t(v);
}
inline void store_be48(uint8_t* p, uint64_t v) {
  store_be16(p, uint16_t(v >> 32));
  store_be32(p + 2, uint32_t(v));
}
inline void store_be64(uint8_t* p, uint64_t v) {
  store_be32(p, uint32_t(v >> 32));
  store_be32(p + 4, uint32_t(v));
}

// Bytes of padding after a data segment or AHS of `len` bytes (0..3).
inline constexpr size_t pad4(size_t len) { return (4 - (len & 3)) & 3; }
// `len` rounded up to a multiple of 4.
inline constexpr size_t padded4(size_t len) { return len + pad4(len); }

// ------------------------------------------------------------------ common BHS fields

inline uint8_t bhs_opcode(const Bhs& b) { return b[0] & 0x3f; }
inline bool bhs_immediate(const Bhs& b) { return b[0] & 0x40; }
inline bool bhs_final(const Bhs& b) { return b[1] & 0x80; }
// TotalAHSLength in bytes (the field counts 4-byte words).
inline size_t bhs_total_ahs_length(const Bhs& b) { return size_t(b[4]) * 4; }
inline uint32_t bhs_data_segment_length(const Bhs& b) { return load_be24(&b[5]); }
inline uint64_t bhs_lun(const Bhs& b) { return load_be64(&b[8]); }  // raw 8 bytes, big-endian
inline uint32_t bhs_itt(const Bhs& b) { return load_be32(&b[16]); }
// Bytes 20..23: TTT (Data-Out, NOP-Out, Text), EDTL (SCSI Command), RTT (TMF), CID (Login/Logout).
inline uint32_t bhs_word20(const Bhs& b) { return load_be32(&b[20]); }
// CmdSN of requests that carry one (all but Data-Out and SNACK).
inline uint32_t bhs_cmd_sn(const Bhs& b) { return load_be32(&b[24]); }
inline uint32_t bhs_exp_stat_sn(const Bhs& b) { return load_be32(&b[28]); }
// Total PDU length on the wire after the BHS, without digests.
inline size_t bhs_trailing_length(const Bhs& b) {
  return bhs_total_ahs_length(b) + padded4(bhs_data_segment_length(b));
}

inline void set_opcode(Bhs& b, uint8_t op, bool immediate = false) { b[0] = uint8_t((op & 0x3f) | (immediate ? 0x40 : 0)); }
inline void set_data_segment_length(Bhs& b, uint32_t len) { store_be24(&b[5], len); }
inline void set_lun(Bhs& b, uint64_t lun) { store_be64(&b[8], lun); }
inline void set_itt(Bhs& b, uint32_t itt) { store_be32(&b[16], itt); }
// StatSN / ExpCmdSN / MaxCmdSN at bytes 24..35 of every target PDU that has them.
inline void set_sn(Bhs& b, uint32_t stat_sn, uint32_t exp_cmd_sn, uint32_t max_cmd_sn) {
  store_be32(&b[24], stat_sn);
  store_be32(&b[28], exp_cmd_sn);
  store_be32(&b[32], max_cmd_sn);
}

// ------------------------------------------------------------------ initiator PDUs

// Task attributes (byte 1, bits 0..2 of a SCSI Command).
enum class TaskAttr : uint8_t { untagged = 0, simple = 1, ordered = 2, head_of_queue = 3, aca = 4 };

struct ScsiCommand {
  bool immediate = false;
  bool final = true;  // F: no unsolicited Data-Out PDUs follow
  bool read = false;  // R
  bool write = false;  // W
  TaskAttr attr = TaskAttr::untagged;
  uint32_t data_segment_length = 0;  // immediate data bytes
  uint64_t lun = 0;  // raw 8-byte LUN field
  uint32_t itt = 0;
  uint32_t edtl = 0;  // Expected Data Transfer Length
  uint32_t cmd_sn = 0;
  uint32_t exp_stat_sn = 0;
  std::array<uint8_t, 260> cdb{};  // 16 bytes from the BHS + extended CDB AHS (type 1)
  uint16_t cdb_length = 16;
  std::optional<uint32_t> bidi_read_edtl;  // AHS type 2 (bidirectional commands)
};

struct DataOut {
  bool final = false;
  uint32_t data_segment_length = 0;
  uint64_t lun = 0;
  uint32_t itt = 0;
  uint32_t ttt = kReservedTag;
  uint32_t exp_stat_sn = 0;
  uint32_t data_sn = 0;
  uint32_t buffer_offset = 0;
};

struct NopOut {
  bool immediate = false;
  uint32_t data_segment_length = 0;  // ping data
  uint64_t lun = 0;
  uint32_t itt = kReservedTag;  // 0xffffffff: answer to a target NOP-In
  uint32_t ttt = kReservedTag;
  uint32_t cmd_sn = 0;
  uint32_t exp_stat_sn = 0;
};

enum class LoginStage : uint8_t { security = 0, operational = 1, full_feature = 3 };

struct LoginRequest {
  bool transit = false;  // T
  bool cont = false;  // C
  uint8_t csg = 0;
  uint8_t nsg = 0;  // meaningful only when transit
  uint8_t version_max = 0;
  uint8_t version_min = 0;
  uint64_t isid = 0;  // 48 bits
  uint16_t tsih = 0;
  uint32_t itt = 0;
  uint16_t cid = 0;
  uint32_t cmd_sn = 0;
  uint32_t exp_stat_sn = 0;
  uint32_t data_segment_length = 0;
};

struct TextRequest {
  bool immediate = false;
  bool final = true;  // F
  bool cont = false;  // C
  uint32_t data_segment_length = 0;
  uint64_t lun = 0;
  uint32_t itt = 0;
  uint32_t ttt = kReservedTag;
  uint32_t cmd_sn = 0;
  uint32_t exp_stat_sn = 0;
};

enum class LogoutReason : uint8_t { close_session = 0, close_connection = 1, remove_connection_for_recovery = 2 };

struct LogoutRequest {
  bool immediate = false;
  LogoutReason reason = LogoutReason::close_session;
  uint32_t itt = 0;
  uint16_t cid = 0;
  uint32_t cmd_sn = 0;
  uint32_t exp_stat_sn = 0;
};

// TMF functions, RFC 7143 11.5.1.
enum class TmfFunction : uint8_t {
  abort_task = 1,
  abort_task_set = 2,
  clear_aca = 3,
  clear_task_set = 4,
  logical_unit_reset = 5,
  target_warm_reset = 6,
  target_cold_reset = 7,
  task_reassign = 8,
};

struct TaskMgmtRequest {
  bool immediate = false;
  uint8_t function = 0;  // raw; values outside 1..8 are the caller's "function rejected"
  uint64_t lun = 0;
  uint32_t itt = 0;
  uint32_t referenced_task_tag = kReservedTag;
  uint32_t cmd_sn = 0;
  uint32_t exp_stat_sn = 0;
  uint32_t ref_cmd_sn = 0;
  uint32_t exp_data_sn = 0;
};

struct Snack {
  uint8_t type = 0;  // 0 Data/R2T, 1 Status, 2 DataACK, 3 R-Data
  uint64_t lun = 0;
  uint32_t itt = 0;
  uint32_t ttt = kReservedTag;  // or SNACK Tag
  uint32_t exp_stat_sn = 0;
  uint32_t beg_run = 0;
  uint32_t run_length = 0;
};

// Parsers: check opcode and the fields the RFC makes invalid; nullopt means parsed.
// `ahs` is the AHS bytes that followed the BHS (TotalAHSLength * 4 of them).
std::optional<PduError> parse_scsi_command(const Bhs& b, std::span<const uint8_t> ahs, ScsiCommand& out);
std::optional<PduError> parse_data_out(const Bhs& b, DataOut& out);
std::optional<PduError> parse_nop_out(const Bhs& b, NopOut& out);
std::optional<PduError> parse_login_request(const Bhs& b, LoginRequest& out);
std::optional<PduError> parse_text_request(const Bhs& b, TextRequest& out);
std::optional<PduError> parse_logout_request(const Bhs& b, LogoutRequest& out);
std::optional<PduError> parse_task_mgmt_request(const Bhs& b, TaskMgmtRequest& out);
std::optional<PduError> parse_snack(const Bhs& b, Snack& out);

// ------------------------------------------------------------------ target PDUs

struct SnFields {
  uint32_t stat_sn = 0;
  uint32_t exp_cmd_sn = 0;
  uint32_t max_cmd_sn = 0;
};

struct ScsiResponse {
  uint32_t itt = 0;
  uint8_t response = 0;  // 0 = command completed at target, 1 = target failure
  uint8_t status = 0;  // SCSI status
  bool overflow = false;  // O
  bool underflow = false;  // U
  uint32_t residual_count = 0;
  bool bidi_overflow = false;  // o
  bool bidi_underflow = false;  // u
  uint32_t bidi_residual_count = 0;
  uint32_t exp_data_sn = 0;  // number of Data-In PDUs sent for the task
  SnFields sn;
  uint32_t data_segment_length = 0;  // sense segment length (see sense_segment_length)
};

struct DataIn {
  bool final = false;  // F: last PDU of a sequence (burst)
  bool status = false;  // S: carries the SCSI status (F must be set too)
  bool ack = false;  // A (ERL > 0 only)
  bool overflow = false, underflow = false;  // O/U, only with S
  uint8_t scsi_status = 0;  // only with S
  uint64_t lun = 0;
  uint32_t itt = 0;
  uint32_t ttt = kReservedTag;
  SnFields sn;  // StatSN only meaningful with S; ExpCmdSN/MaxCmdSN always
  uint32_t data_sn = 0;
  uint32_t buffer_offset = 0;
  uint32_t residual_count = 0;  // only with S
  uint32_t data_segment_length = 0;
};

struct R2t {
  uint64_t lun = 0;
  uint32_t itt = 0;
  uint32_t ttt = 0;
  SnFields sn;  // StatSN is not advanced by an R2T: pass the next unused StatSN
  uint32_t r2t_sn = 0;
  uint32_t buffer_offset = 0;
  uint32_t desired_length = 0;
};

struct NopIn {
  uint64_t lun = 0;
  uint32_t itt = kReservedTag;
  uint32_t ttt = kReservedTag;
  SnFields sn;
  uint32_t data_segment_length = 0;
};

struct LoginResponse {
  bool transit = false;
  bool cont = false;
  uint8_t csg = 0;
  uint8_t nsg = 0;
  uint8_t version_max = 0;
  uint8_t version_active = 0;
  uint64_t isid = 0;
  uint16_t tsih = 0;
  uint32_t itt = 0;
  SnFields sn;
  uint8_t status_class = 0;
  uint8_t status_detail = 0;
  uint32_t data_segment_length = 0;
};

struct TextResponse {
  bool final = true;
  bool cont = false;
  uint64_t lun = 0;
  uint32_t itt = 0;
  uint32_t ttt = kReservedTag;
  SnFields sn;
  uint32_t data_segment_length = 0;
};

struct LogoutResponse {
  uint8_t response = 0;  // 0 ok, 1 CID not found, 2 recovery not supported, 3 cleanup failed
  uint32_t itt = 0;
  SnFields sn;
  uint16_t time2wait = 0;
  uint16_t time2retain = 0;
};

enum class TmfResponse : uint8_t {
  function_complete = 0,
  task_does_not_exist = 1,
  lun_does_not_exist = 2,
  task_still_allegiant = 3,
  task_reassignment_not_supported = 4,
  function_not_supported = 5,
  function_authorization_failed = 6,
  function_rejected = 255,
};

struct TmfResponseFields {
  TmfResponse response = TmfResponse::function_complete;
  uint32_t itt = 0;
  SnFields sn;
};

struct RejectFields {
  uint8_t reason = reject_reason::protocol_error;
  SnFields sn;
  uint32_t data_sn = 0;  // DataSN/R2TSN (ERL > 0); 0 otherwise
  // The data segment is the offending BHS: DataSegmentLength is always 48.
};

struct AsyncMessage {
  uint64_t lun = 0;
  SnFields sn;
  uint8_t async_event = 0;  // 1 = target requests logout
  uint8_t async_vcode = 0;
  uint16_t parameter1 = 0, parameter2 = 0, parameter3 = 0;
  uint32_t data_segment_length = 0;
};
inline constexpr uint8_t kAsyncEventRequestLogout = 1;

void build_scsi_response(const ScsiResponse& f, Bhs& b);
void build_data_in(const DataIn& f, Bhs& b);
void build_r2t(const R2t& f, Bhs& b);
void build_nop_in(const NopIn& f, Bhs& b);
void build_login_response(const LoginResponse& f, Bhs& b);
void build_text_response(const TextResponse& f, Bhs& b);
void build_logout_response(const LogoutResponse& f, Bhs& b);
void build_tmf_response(const TmfResponseFields& f, Bhs& b);
void build_reject(const RejectFields& f, Bhs& b);
// Async Message with AsyncEvent 1: the target asks for logout within `time2wait` seconds
// (Parameter3); the initiator must log out within that time.
void build_async_logout_request(const SnFields& sn, uint16_t time2wait, Bhs& b);
void build_async_message(const AsyncMessage& f, Bhs& b);

// SCSI Response data segment with sense (RFC 7143 11.4.7): 2-byte SenseLength + sense bytes.
inline size_t sense_segment_length(size_t sense_len) { return sense_len ? 2 + sense_len : 0; }
// Writes the sense segment to `out` (sense_segment_length(sense.size()) bytes).
void write_sense_segment(std::span<const uint8_t> sense, uint8_t* out);

// Human-readable opcode name for logs ("SCSI Command", ...); never null.
const char* opcode_name(uint8_t opcode);

}  // namespace stmf::iscsi
