// iSCSI text keys (RFC 7143 6.1): "key=value" pairs, each terminated by a NUL byte, in the
// data segment of Login and Text PDUs.
//
// Limits enforced by parse_text():
//  * key names 1..63 bytes of [A-Za-z0-9.+@_-] (RFC 7143 6.1 "key-name");
//  * values at most 255 bytes, except CHAP_C / CHAP_R (binary, up to 8192 bytes);
//  * every pair ends with NUL (empty entries from stray NULs are skipped);
//  * a key appears at most once (a repeat is a protocol error, RFC 7143 6.1).
// A key's value may be empty ("SendTargets=").
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stmf::iscsi {

inline constexpr size_t kMaxKeyLength = 63;
inline constexpr size_t kMaxValueLength = 255;
inline constexpr size_t kMaxLargeValueLength = 8192;

// In the order received.
using TextKeys = std::vector<std::pair<std::string, std::string>>;

enum class TextError {
  missing_nul,  // the last pair is not NUL-terminated
  missing_equals,  // "key" without '='
  empty_key,
  key_too_long,
  invalid_key_char,
  value_too_long,
  duplicate_key,
  too_large,  // reassembled text exceeds the assembler's limit
};
const char* to_string(TextError e);

// Maximum value length for `key`.
size_t max_value_length(std::string_view key);

// Parses a complete text (all PDUs of a C-bit sequence joined). Appends to `out`; on error
// `out` holds the keys before the bad one.
std::optional<TextError> parse_text(std::span<const uint8_t> data, TextKeys& out);
inline std::optional<TextError> parse_text(std::string_view s, TextKeys& out) {
  return parse_text(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()), out);
}

// Finds a key (first match); nullptr if absent.
const std::string* find_key(const TextKeys& keys, std::string_view key);

// Whether `s` has the form of an iSCSI name (RFC 7143 4.2.7.2-4.2.7.5, at most 223 bytes):
// "iqn." yyyy-mm [ "." reversed-domain [ ":" anything ] ], "eui." and 16 hex digits, or
// "naa." and 16 or 32 hex digits (the type prefix in either case). Says nothing about whether
// such a target exists: SendTargets uses it to tell an unknown name (answered with an empty
// list) from a value that is not a name at all (a malformed request, rejected).
bool well_formed_iscsi_name(std::string_view s);

// Serialization: "key=value\0".
void append_key(std::string& out, std::string_view key, std::string_view value);
std::string serialize(const TextKeys& keys);

// Reassembles a text request split across PDUs with the C (continue) bit: feed each PDU's
// data segment; when `cont` is false the text is complete (take() returns it and resets).
class TextAssembler {
 public:
  explicit TextAssembler(size_t max_total = 65536) : max_total_(max_total) {}
  // Appends one PDU's data segment. Returns too_large if the total would exceed the limit
  // (the assembler is then reset).
  std::optional<TextError> add(std::span<const uint8_t> data, bool cont);
  bool complete() const { return complete_; }
  bool in_progress() const { return !complete_ && !buf_.empty(); }
  // The complete text; resets the assembler.
  std::vector<uint8_t> take();
  void reset();

 private:
  size_t max_total_;
  std::vector<uint8_t> buf_;
  bool complete_ = false;
};

// Splits an outgoing text into chunks of at most `max_segment` bytes (the peer's
// MaxRecvDataSegmentLength); every chunk but the last goes out with C=1.
class TextSplitter {
 public:
  TextSplitter() = default;
  TextSplitter(std::string text, size_t max_segment) : text_(std::move(text)), max_(max_segment ? max_segment : 1) {}
  bool done() const { return off_ >= text_.size() && started_; }
  // Next chunk; `more` tells whether C must be set. An empty text yields one empty chunk.
  std::string_view next(bool& more);

 private:
  std::string text_;
  size_t max_ = 8192;
  size_t off_ = 0;
  bool started_ = false;
};

}  // namespace stmf::iscsi
