// What stmfproxy moves (docs/stmfproxy.md), I/O-free.
//
// Door call (stmfd -> relay, on the door socket): u32 big-endian size + `size` bytes, one whole
// proxy frame (proxy/messages.h: its own u32 length, version, type, msg_id, body). The relay
// answers each call with a u32 big-endian result, in call order.
// Relay link (relay <-> relay, TCP): u32 big-endian length + `length` bytes, the same frame.
// Both use the same framing, so a door call is forwarded byte for byte (prefix included), and a
// frame from the peer is posted (stmfPostProxyMsg) without its prefix.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/byte_order.h"
#include "proxy/messages.h"

namespace stmfproxy {

// The largest door call or link message: a frame of kMaxFrame bytes after its own length field.
constexpr uint32_t kMaxMessage = stmf::proxy::kMaxFrame + 4;

inline bool valid_size(uint32_t size) { return size > 0 && size <= kMaxMessage; }

using stmf::get_be32;
using stmf::put_be32;

// For logs: "HELLO msg_id 0 (48 bytes)" for a frame (without the relay's size prefix);
// "a 3-byte message without a proxy header" when it is too short to have one.
std::string describe_frame(const uint8_t* frame, size_t len);

}  // namespace stmfproxy
