#include "core/alua.h"

#include "core/scsi/opcodes.h"

namespace stmf {

std::vector<uint8_t> build_rtpg(const std::vector<TpgDescriptor>& groups, bool extended) {
  std::vector<uint8_t> d(extended ? 8 : 4, 0);
  if (extended) {
    d[4] = 0x10;  // FORMAT TYPE 001b
    d[5] = 0;     // IMPLICIT TRANSITION TIME: unspecified
  }
  for (auto& g : groups) {
    const size_t at = d.size();
    d.resize(at + 8 + 4 * g.rtpis.size(), 0);
    d[at] = uint8_t((g.preferred ? 0x80 : 0) | uint8_t(g.state));
    // Supported states: Transitioning (T_SUP), Unavailable, Active/Non-optimized, Active/Optimized.
    d[at + 1] = 0x80 | 0x08 | 0x02 | 0x01;
    d[at + 2] = uint8_t(g.tpg >> 8);
    d[at + 3] = uint8_t(g.tpg);
    d[at + 5] = 0x02;  // STATUS CODE: altered by implicit asymmetric access behaviour
    d[at + 7] = uint8_t(g.rtpis.size());
    for (size_t i = 0; i < g.rtpis.size(); ++i) {
      d[at + 8 + 4 * i + 2] = uint8_t(g.rtpis[i] >> 8);
      d[at + 8 + 4 * i + 3] = uint8_t(g.rtpis[i]);
    }
  }
  const uint32_t n = uint32_t(d.size() - 4);
  d[0] = uint8_t(n >> 24);
  d[1] = uint8_t(n >> 16);
  d[2] = uint8_t(n >> 8);
  d[3] = uint8_t(n);
  return d;
}

bool allowed_when_unavailable(const uint8_t* cdb) {
  using namespace scsi;
  switch (cdb[0]) {
    case op::kInquiry:
    case op::kReportLuns:
    case op::kRequestSense:
    case op::kWriteBuffer:
    case op::kReadBuffer:
      return true;
    case op::kMaintenanceIn:
      return service_action(cdb) == maintenance_in::kReportTargetPortGroups;
    case op::kMaintenanceOut:
      return service_action(cdb) == maintenance_out::kSetTargetPortGroups;
    default:
      return false;
  }
}

}  // namespace stmf
