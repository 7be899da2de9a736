// Session and connection operational parameters (RFC 7143 section 13) and the rules that
// negotiate one key (RFC 7143 6.2): list, numerical min/max, boolean OR/AND, declarative.
//
// The LoginStateMachine (login.h) drives these; they are exposed for tests and for the Text
// phase, where the same rules apply.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stmf::iscsi {

enum class SessionType { normal, discovery };
enum class Digest { none, crc32c };

const char* to_string(Digest d);  // "None" / "CRC32C"
std::optional<Digest> parse_digest(std::string_view s);

// Negotiated values, RFC 7143 defaults until negotiated.
struct SessionParams {
  bool header_digest = false;  // CRC32C on headers
  bool data_digest = false;  // CRC32C on data segments
  // The initiator's declaration: the largest data segment the target may send.
  uint32_t max_recv_data_segment_length = 8192;
  // The target's own declaration: the largest data segment the initiator may send.
  uint32_t target_max_recv_data_segment_length = 8192;
  uint32_t max_burst_length = 262144;
  uint32_t first_burst_length = 65536;
  uint16_t default_time2wait = 2;
  uint16_t default_time2retain = 20;
  uint16_t max_outstanding_r2t = 1;
  uint16_t max_connections = 1;
  bool initial_r2t = true;
  bool immediate_data = true;
  bool data_pdu_in_order = true;
  bool data_sequence_in_order = true;
  uint8_t error_recovery_level = 0;
  SessionType session_type = SessionType::normal;
  std::string initiator_name, initiator_alias;
  std::string target_name, target_alias;
  uint64_t isid = 0;  // 48 bits
  uint16_t tsih = 0;
  uint16_t cid = 0;
  uint16_t target_portal_group_tag = 0;
};

// Parses an iSCSI numerical value: decimal, or hex with 0x/0X (RFC 7143 6.1). Rejects
// empty strings, junk, and values above `max`.
std::optional<uint64_t> parse_number(std::string_view s, uint64_t max = UINT64_MAX);
// "Yes"/"No".
std::optional<bool> parse_bool(std::string_view s);
// Splits a list value "a,b,c".
std::vector<std::string_view> split_list(std::string_view s);

// Answers to list keys: the first value of the initiator's list that is in `allowed`
// (RFC 7143 6.2.1); "Reject" if none is.
std::optional<Digest> choose_digest(std::string_view offer, const std::vector<Digest>& allowed);

// Numerical "min" keys: result = min(offer, ours); out of [lo, hi] → nullopt (answer Reject).
std::optional<uint64_t> negotiate_min(std::string_view offer, uint64_t ours, uint64_t lo, uint64_t hi);
// Numerical "max" keys: result = max(offer, ours).
std::optional<uint64_t> negotiate_max(std::string_view offer, uint64_t ours, uint64_t lo, uint64_t hi);
// Boolean "OR" (InitialR2T) and "AND" (ImmediateData, DataPDUInOrder, ...).
std::optional<bool> negotiate_or(std::string_view offer, bool ours);
std::optional<bool> negotiate_and(std::string_view offer, bool ours);

inline constexpr uint32_t kMinDataLength = 512;
inline constexpr uint32_t kMaxDataLength = (1u << 24) - 1;

}  // namespace stmf::iscsi
