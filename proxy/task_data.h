// How a proxied task's id and data travel (proxy/forwarder.cpp, proxy/peer_sessions.cpp):
// the owner's task cookie (link generation + the SCSI_CMD's msg_id) and where SCSI_DATA's
// bytes may go.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/task.h"
#include "proxy/messages.h"

namespace stmf::proxy {

// Owner side: a peer's task carries (link generation << kGenShift) | its SCSI_CMD's msg_id.
constexpr uint64_t kGenShift = 48;
constexpr uint64_t kIdMask = (uint64_t(1) << kGenShift) - 1;
constexpr uint32_t kDataChunk = 1u << 20;  // SCSI_DATA carries at most 1 MiB
// The most data one proxied task may place in a buffer, whatever its EDTL says (a u32 the
// sender chose): no LU moves more for one command (MAXIMUM TRANSFER LENGTH, 32 MiB,
// core/scsi/sbd_lu.h BlockLimits) plus room for the largest block, as the iSCSI port bounds
// its Data-Out buffer.
constexpr uint32_t kMaxTaskData = (32u << 20) + 4096;

// SCSI_DATA's bytes into a task buffer at their offset: the first chunk of an empty buffer
// becomes the buffer (no copy; a whole read up to 1 MiB is one chunk). Bytes that would end
// beyond `limit` are a protocol error: false, and the buffer is left as it was (never grown
// for them: a peer must not make this node allocate what it likes).
inline bool place(std::vector<uint8_t>& buf, ScsiData& d, uint64_t limit) {
  if (uint64_t(d.offset) + d.data.size() > limit) return false;
  if (buf.empty() && d.offset == 0) {
    buf = std::move(d.data);
    return true;
  }
  if (buf.size() < d.offset + d.data.size()) buf.resize(d.offset + d.data.size());
  std::copy(d.data.begin(), d.data.end(), buf.begin() + d.offset);
  return true;
}

// Where a task's data may go: its expected transfer length, and never beyond kMaxTaskData.
inline uint64_t data_limit(const ScsiTask& t) { return std::min<uint64_t>(t.expected_transfer_length, kMaxTaskData); }

}  // namespace stmf::proxy
