#include "tools/stmfproxy/wire.h"

#include "proxy/codec.h"

namespace stmfproxy {

std::string describe_frame(const uint8_t* frame, size_t len) {
  using stmf::proxy::kHeaderSize;
  if (len < kHeaderSize) return "a " + std::to_string(len) + "-byte message without a proxy header";
  uint64_t msg_id = 0;
  for (size_t i = 0; i < 8; ++i) msg_id = msg_id << 8 | frame[6 + i];
  return std::string(stmf::proxy::to_string(stmf::proxy::MsgType(frame[5]))) + " msg_id " + std::to_string(msg_id) +
         " (" + std::to_string(len) + " bytes)";
}

}  // namespace stmfproxy
