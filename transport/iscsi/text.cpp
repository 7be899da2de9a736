#include "transport/iscsi/text.h"

#include <algorithm>
#include <cstring>

namespace stmf::iscsi {

const char* to_string(TextError e) {
  switch (e) {
    case TextError::missing_nul: return "text not NUL-terminated";
    case TextError::missing_equals: return "key without '='";
    case TextError::empty_key: return "empty key name";
    case TextError::key_too_long: return "key name longer than 63 bytes";
    case TextError::invalid_key_char: return "invalid character in key name";
    case TextError::value_too_long: return "value too long";
    case TextError::duplicate_key: return "key sent twice";
    case TextError::too_large: return "text too large";
  }
  return "?";
}

size_t max_value_length(std::string_view key) {
  if (key == "CHAP_C" || key == "CHAP_R") return kMaxLargeValueLength;
  return kMaxValueLength;
}

namespace {
bool key_char_ok(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
         c == '+' || c == '@' || c == '_';
}
}  // namespace

std::optional<TextError> parse_text(std::span<const uint8_t> data, TextKeys& out) {
  const char* p = reinterpret_cast<const char*>(data.data());
  const size_t n = data.size();
  const size_t first = out.size();
  size_t i = 0;
  while (i < n) {
    const void* nul = std::memchr(p + i, 0, n - i);
    if (!nul) return TextError::missing_nul;
    const size_t end = size_t(static_cast<const char*>(nul) - p);
    std::string_view pair(p + i, end - i);
    i = end + 1;
    if (pair.empty()) continue;  // stray NUL
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos) return TextError::missing_equals;
    std::string_view key = pair.substr(0, eq), value = pair.substr(eq + 1);
    if (key.empty()) return TextError::empty_key;
    if (key.size() > kMaxKeyLength) return TextError::key_too_long;
    if (!std::all_of(key.begin(), key.end(), key_char_ok)) return TextError::invalid_key_char;
    if (value.size() > max_value_length(key)) return TextError::value_too_long;
    for (size_t k = first; k < out.size(); ++k)
      if (out[k].first == key) return TextError::duplicate_key;
    out.emplace_back(std::string(key), std::string(value));
  }
  return std::nullopt;
}

bool well_formed_iscsi_name(std::string_view s) {
  if (s.size() < 5 || s.size() > 223) return false;
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
  std::string type;
  for (char c : s.substr(0, 4)) type.push_back(lower(c));
  const std::string_view rest = s.substr(4);
  auto digits = [](std::string_view v, bool hex) {
    return std::all_of(v.begin(), v.end(), [hex](char c) {
      return (c >= '0' && c <= '9') || (hex && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
    });
  };
  if (type == "eui.") return rest.size() == 16 && digits(rest, true);
  if (type == "naa.") return (rest.size() == 16 || rest.size() == 32) && digits(rest, true);
  if (type != "iqn.") return false;
  // yyyy-mm, then nothing or "." and the naming authority (and an optional ":" part).
  if (rest.size() < 7 || !digits(rest.substr(0, 4), false) || rest[4] != '-' || !digits(rest.substr(5, 2), false))
    return false;
  if (rest.size() == 7) return true;
  if (rest[7] != '.' || rest.size() == 8) return false;
  return std::all_of(rest.begin() + 8, rest.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

const std::string* find_key(const TextKeys& keys, std::string_view key) {
  for (auto& [k, v] : keys)
    if (k == key) return &v;
  return nullptr;
}

void append_key(std::string& out, std::string_view key, std::string_view value) {
  out.append(key);
  out.push_back('=');
  out.append(value);
  out.push_back('\0');
}

std::string serialize(const TextKeys& keys) {
  std::string out;
  for (auto& [k, v] : keys) append_key(out, k, v);
  return out;
}

std::optional<TextError> TextAssembler::add(std::span<const uint8_t> data, bool cont) {
  if (complete_) reset();
  if (buf_.size() + data.size() > max_total_) {
    reset();
    return TextError::too_large;
  }
  buf_.insert(buf_.end(), data.begin(), data.end());
  complete_ = !cont;
  return std::nullopt;
}

std::vector<uint8_t> TextAssembler::take() {
  std::vector<uint8_t> out;
  out.swap(buf_);
  complete_ = false;
  return out;
}

void TextAssembler::reset() {
  buf_.clear();
  complete_ = false;
}

std::string_view TextSplitter::next(bool& more) {
  started_ = true;
  const size_t len = std::min(max_, text_.size() - std::min(off_, text_.size()));
  std::string_view chunk(text_.data() + std::min(off_, text_.size()), len);
  off_ += len;
  more = off_ < text_.size();
  return chunk;
}

}  // namespace stmf::iscsi
