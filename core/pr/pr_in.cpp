// PERSISTENT RESERVE IN (SPC-4 6.15): READ KEYS, READ RESERVATION, REPORT CAPABILITIES,
// READ FULL STATUS. The data is built in full, ADDITIONAL LENGTH reports the full length,
// and the result is truncated to the ALLOCATION LENGTH (SPC-4 4.2.5.6).
#include "core/pr/pr_internal.h"

namespace stmf::pr {

using detail::put16;
using detail::put32;
using detail::put64;

Result PrEngine::persistent_reserve_in(const Nexus& n, const uint8_t* cdb, std::span<const TargetPort> ports) {
  // SPC-2 5.5.1: while a RESERVE(6)/(10) reservation exists every PR IN conflicts.
  if (scsi2_) return detail::conflict();
  const uint8_t action = scsi::service_action(cdb);
  const uint16_t alloc = detail::be16(cdb + 7);
  const auto& res = st_.reservation;
  std::vector<uint8_t> d(8, 0);
  put32(&d[0], st_.generation);

  switch (action) {
    case pr_in::kReadKeys: {
      for (const auto& r : st_.registrations) {
        d.resize(d.size() + 8);
        put64(&d[d.size() - 8], r.key);
      }
      put32(&d[4], uint32_t(d.size() - 8));
      break;
    }
    case pr_in::kReadReservation: {
      if (res) {
        d.resize(24, 0);
        put32(&d[4], 16);
        // SPC-4 5.13.10: all-registrants reservations report key 0.
        put64(&d[8], is_all_registrants(res->type) ? 0 : st_.registrations[res->holder].key);
        d[21] = uint8_t(res->scope << 4 | (res->type & 0x0f));
      }
      break;
    }
    case pr_in::kReportCapabilities: {
      d.assign(8, 0);
      put16(&d[0], 8);
      d[2] = 0x10 | 0x08 | 0x04 | 0x01;  // CRH, SIP_C, ATP_C, PTPL_C (RLR_C = 0)
      d[3] = uint8_t(0x80 | kAllowCommands << 4 | (st_.aptpl ? 0x01 : 0));  // TMV, ALLOW COMMANDS, PTPL_A
      d[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02;  // WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX
      d[5] = 0x01;                               // EX_AC_AR
      break;
    }
    case pr_in::kReadFullStatus: {
      for (size_t i = 0; i < st_.registrations.size(); ++i) {
        const auto& r = st_.registrations[i];
        auto tid = iscsi_transport_id(r.initiator_name, r.isid);
        size_t o = d.size();
        d.resize(o + 24 + tid.size(), 0);
        put64(&d[o], r.key);
        const bool holder = res && (is_all_registrants(res->type) || res->holder == i);
        d[o + 12] = uint8_t((r.all_tg_pt ? 0x02 : 0) | (holder ? 0x01 : 0));
        if (holder) d[o + 13] = uint8_t(res->scope << 4 | (res->type & 0x0f));
        uint16_t rtpi = r.rtpi;
        if (r.all_tg_pt) {
          rtpi = 0;  // not defined by the standard when ALL_TG_PT is set
        } else if (rtpi == 0) {
          for (const auto& p : ports)
            if (p.name == r.target_port) rtpi = p.rtpi;
        }
        put16(&d[o + 18], rtpi);
        put32(&d[o + 20], uint32_t(tid.size()));
        std::copy(tid.begin(), tid.end(), d.begin() + o + 24);
      }
      put32(&d[4], uint32_t(d.size() - 8));
      break;
    }
    default:
      return detail::check(scsi::sense::invalid_field_in_cdb.with_field(true, 1, 4));
  }
  (void)n;
  if (d.size() > alloc) d.resize(alloc);
  Result r;
  r.data_in = std::move(d);
  return r;
}

}  // namespace stmf::pr
