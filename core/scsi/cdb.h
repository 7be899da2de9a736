// Field access for CDBs, parameter lists and parameter data (SPC-4 3.5): the big-endian
// helpers of common/byte_order.h under their SCSI names, and bit helpers.
#pragma once
#include <cstddef>
#include <cstdint>

#include "common/byte_order.h"

namespace stmf::scsi {

using stmf::get_be16;
using stmf::get_be24;
using stmf::get_be32;
using stmf::get_be64;
using stmf::put_be16;
using stmf::put_be32;
using stmf::put_be64;

// Index (7..0) of the most significant set bit of a non-zero byte.
inline uint8_t top_bit(uint8_t v) {
  uint8_t b = 7;
  while (b > 0 && !(v & (1u << b))) --b;
  return b;
}

}  // namespace stmf::scsi
