#include "tools/stmfproxy/endpoint.h"

#include <charconv>

namespace stmfproxy {

std::string Endpoint::str() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<Endpoint> parse_endpoint(std::string_view s) {
  Endpoint e;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') return std::nullopt;
    e.host = std::string(s.substr(1, close - 1));
    port = s.substr(close + 2);
    if (e.host.find(':') == std::string::npos) return std::nullopt;  // brackets are for IPv6
  } else {
    const auto colon = s.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    e.host = std::string(s.substr(0, colon));
    port = s.substr(colon + 1);
    if (e.host.find(':') != std::string::npos) return std::nullopt;  // IPv6 needs brackets
  }
  if (e.host.empty() || port.empty()) return std::nullopt;
  for (char c : e.host)
    if (c == ' ' || c == '[' || c == ']' || c == '/') return std::nullopt;
  unsigned v = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
  if (ec != std::errc() || p != port.data() + port.size() || v == 0 || v > 65535) return std::nullopt;
  e.port = uint16_t(v);
  return e;
}

}  // namespace stmfproxy
