// "HOST:PORT" for --listen and --connect (I/O-free): HOST is a name, an IPv4 literal or a
// bracketed IPv6 literal ("[::1]:6543"); PORT is 1..65535.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace stmfproxy {

struct Endpoint {
  std::string host;  // without brackets
  uint16_t port = 0;
  std::string str() const;  // "host:port", "[v6]:port"
  bool operator==(const Endpoint&) const = default;
};

std::optional<Endpoint> parse_endpoint(std::string_view s);

}  // namespace stmfproxy
