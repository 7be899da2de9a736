// Session accounting records (docs/array-sessions.md "Accounting records"): what one record
// holds, and its two encodings, modelled on IRIX's session accounting record (extacct(5)):
//   format 1: a fixed 632-byte binary record (magic "ASR1", big-endian, SPI of exactly 64 bytes);
//   format 2: one JSON object per line.
// A file may hold both (the format can change while the daemon runs); read_records() tells them
// apart by their first byte ('A' or '{'). Pure: no I/O besides the buffers given.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/stats.h"

namespace stmfd::acct {

// Flags (sat_flag of the IRIX record, plus one of ours).
inline constexpr uint8_t kFlagCheckpoint = 0x80;  // SSASF_CKPT: the session was still live
inline constexpr uint8_t kFlagSecondary = 0x40;   // SSASF_SECONDARY: a proxied session (the peer's login)
inline constexpr uint8_t kFlagFlushed = 0x20;     // SSASF_FLUSHED: written by a flush request (arsop FLUSHACCT)
inline constexpr uint8_t kFlagAbnormal = 0x10;    // ended abnormally: the daemon died; counters of the last checkpoint

inline constexpr size_t kBinaryRecordSize = 632;
inline constexpr size_t kBinarySpiSize = 64;
inline constexpr size_t kBinaryNameSize = 224;  // initiator / target fields, NUL-padded (truncated)
inline constexpr uint8_t kRecordVersion = 1;
inline constexpr char kBinaryMagic[4] = {'A', 'S', 'R', '1'};
inline constexpr uint16_t kNoNode = 0xffff;

struct Record {
  uint8_t flags = 0;
  int64_t ash = 0;
  int64_t start_ns = 0, end_ns = 0;  // since the epoch; a checkpoint's end is its time
  std::vector<uint8_t> spi;          // the session's SPI (format 1 keeps 64 bytes of it)
  uint16_t node = kNoNode;           // ALUA node number, kNoNode outside a pair
  std::string initiator;             // initiator port name ("iqn...,i,0x<isid>")
  std::string target;                // target port name ("iqn...,t,0x<tpgt>")
  std::string portal;                // "host:port" the session logged in through (format 2 only)
  std::string reason;                // why it ended (format 2 only)
  stmf::stats::Snapshot counters;  // the record keeps the counters listed in docs/array-sessions.md
};
// Equal in every field a record keeps.
bool operator==(const Record& a, const Record& b);

std::vector<uint8_t> encode_binary(const Record& r);
std::string encode_json_line(const Record& r);  // with the trailing '\n'
nlohmann::json to_json(const Record& r);
std::optional<Record> from_json(const nlohmann::json& j);

// Every record of `data`, in order. A malformed tail (a record cut by a crash) stops the
// scan: `bad_tail` says how many bytes were left unread.
std::vector<Record> read_records(std::string_view data, size_t& bad_tail);

}  // namespace stmfd::acct
