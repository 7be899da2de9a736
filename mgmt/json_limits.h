// JSON from untrusted or hand-edited sources, parsed with a nesting bound (docs/security.md
// "Management socket"). nlohmann's parser is iterative, but copying, comparing and dumping a
// value recurse once per level: 150,000 nested arrays overflowed the stack of stmfd's
// management thread. Every parse of text that did not come from this process's own dump()
// goes through parse_json_limited(), which measures the nesting first (a linear scan that skips
// strings, no allocation) and refuses text nested deeper than the bound before any value
// exists. Header-only (nlohmann only): used by mgmt, libstmf, stmfadm, stmfd and the proxy.
#pragma once
#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace stmf::mgmt {

// Default bound of arrays/objects nested in one document (the configuration nests 5 levels).
inline constexpr size_t kDefaultMaxJsonDepth = 64;

// The deepest nesting of arrays and objects in `text`, counting stops just above `limit` (so a
// huge document costs one pass). Brackets inside strings do not count. Malformed text gets a
// number too; the parser refuses it afterwards.
inline size_t json_nesting_depth(std::string_view text, size_t limit) {
  size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    switch (c) {
      case '"': in_string = true; break;
      case '[':
      case '{':
        if (++depth > deepest) {
          deepest = depth;
          if (deepest > limit) return deepest;
        }
        break;
      case ']':
      case '}':
        if (depth) --depth;
        break;
      default: break;
    }
  }
  return deepest;
}

// Parses `text` without exceptions. On failure returns a discarded value
// (is_discarded()) and, when `why` is given, sets it to "nested deeper than N levels" or
// "not valid JSON".
inline nlohmann::json parse_json_limited(std::string_view text, size_t max_depth = kDefaultMaxJsonDepth,
                                         std::string* why = nullptr) {
  if (json_nesting_depth(text, max_depth) > max_depth) {
    if (why) *why = "nested deeper than " + std::to_string(max_depth) + " levels";
    return nlohmann::json(nlohmann::json::value_t::discarded);
  }
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() && why) *why = "not valid JSON";
  return j;
}

}  // namespace stmf::mgmt
