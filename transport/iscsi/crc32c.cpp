#include "transport/iscsi/crc32c.h"

#include <array>

namespace stmf::iscsi {

bool crc32c_self_test() {
  static constexpr char check[] = "123456789";
  if (crc32c(check, 9) != 0xE3069283u) return false;
  std::array<uint8_t, 32> buf{};
  if (crc32c(buf.data(), buf.size()) != 0x8A9136AAu) return false;
  buf.fill(0xff);
  if (crc32c(buf.data(), buf.size()) != 0x62A8AB43u) return false;
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = uint8_t(i);
  if (crc32c(buf.data(), buf.size()) != 0x46DD794Eu) return false;
  // Split computation must agree with the one-shot value.
  if (crc32c_extend(crc32c(buf.data(), 7), buf.data() + 7, 25) != 0x46DD794Eu) return false;
  return true;
}

}  // namespace stmf::iscsi
