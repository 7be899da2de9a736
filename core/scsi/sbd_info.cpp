// Block LU: identification and reporting commands: INQUIRY and VPD pages (SPC-4 6.6, 7.8;
// SBC-3 6.6), READ CAPACITY (10/16), GET LBA STATUS, REPORT SUPPORTED OPERATION CODES,
// REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS.
#include <algorithm>
#include <cstring>

#include "core/it_nexus.h"
#include "core/local_port.h"
#include "core/scsi/cdb.h"
#include "core/scsi/opcodes.h"
#include "core/scsi/sbd_lu_impl.h"

namespace stmf::sbd {

namespace sense = scsi::sense;
using scsi::get_be16;
using scsi::get_be32;
using scsi::get_be64;
using scsi::put_be16;
using scsi::put_be32;
using scsi::put_be64;

namespace {

constexpr uint8_t kProtocolIscsi = 5;

void truncate_to(std::vector<uint8_t>& d, size_t alloc) {
  if (d.size() > alloc) d.resize(alloc);
}

// Appends a designation descriptor (SPC-4 7.8.6.1).
void add_designator(std::vector<uint8_t>& d, uint8_t code_set, bool piv, uint8_t assoc, uint8_t type,
                    const void* data, size_t len, uint8_t protocol = kProtocolIscsi) {
  d.push_back(uint8_t((piv ? protocol << 4 : 0) | code_set));
  d.push_back(uint8_t((piv ? 0x80 : 0) | assoc << 4 | type));
  d.push_back(0);
  d.push_back(uint8_t(len));
  const auto* p = static_cast<const uint8_t*>(data);
  d.insert(d.end(), p, p + len);
}

// SCSI name string designator data: UTF-8, NUL-terminated, padded to a multiple of 4.
std::vector<uint8_t> scsi_name(const std::string& s) {
  std::vector<uint8_t> v(s.begin(), s.end());
  v.push_back(0);
  while (v.size() % 4) v.push_back(0);
  return v;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// INQUIRY

void BlockLu::h_inquiry(const TaskPtr& t, TaskDone& done) {
  const uint8_t* cdb = t->cdb.data();
  const bool evpd = cdb[1] & 0x01;
  const uint32_t alloc = get_be16(&cdb[3]);
  if (!evpd && cdb[2]) return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 2));
  std::vector<uint8_t>& d = t->data_in;
  d.clear();
  if (!evpd) {
    inquiry_standard(d);
  } else if (!inquiry_vpd(cdb[2], t, d)) {
    return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 2));
  }
  truncate_to(d, alloc);
  done(t);
}

void BlockLu::inquiry_standard(std::vector<uint8_t>& d) const {
  d.assign(74, 0);
  d[0] = 0x00;  // peripheral qualifier 000b, direct access block device
  d[1] = cfg_.removable ? 0x80 : 0x00;  // RMB
  d[2] = 0x06;  // SPC-4
  d[3] = 0x12;  // HISUP, RESPONSE DATA FORMAT 2
  d[4] = uint8_t(d.size() - 5);
  d[5] = 0x30 | 0x08;  // TPGS 11b: implicit and explicit ALUA (SET TARGET PORT GROUPS); 3PC: EXTENDED COPY
  d[6] = 0x10;  // MULTIP: the LU is reachable through the target ports of both nodes
  d[7] = 0x02;  // CMDQUE
  std::memcpy(&d[8], cfg_.vendor.data(), 8);
  std::memcpy(&d[16], cfg_.product.data(), 16);
  std::memcpy(&d[32], cfg_.revision.data(), 4);
  // Version descriptors (SPC-4 table 145): SAM-5, SPC-4, SBC-3, iSCSI (no version claimed).
  const uint16_t versions[] = {0x00a0, 0x0460, 0x04c0, 0x0960};
  for (size_t i = 0; i < std::size(versions); ++i) put_be16(&d[58 + 2 * i], versions[i]);
}

bool BlockLu::inquiry_vpd(uint8_t page, const TaskPtr& t, std::vector<uint8_t>& d) const {
  d.assign(4, 0);
  d[1] = page;
  switch (page) {
    case 0x00: {  // Supported VPD pages, ascending
      const uint8_t pages[] = {0x00, 0x80, 0x83, 0x86, 0x8f, 0xb0, 0xb1, 0xb2};
      d.insert(d.end(), std::begin(pages), std::end(pages));
      break;
    }
    case 0x80: {  // Unit serial number
      const std::string& s = cfg_.serial.empty() ? cfg_.name : cfg_.serial;
      d.insert(d.end(), s.begin(), s.end());
      break;
    }
    case 0x83: {  // Device identification
      // LU: NAA 6 (IEEE Registered Extended) from the GUID; T10 vendor ID.
      add_designator(d, 1, false, 0, 3, cfg_.guid.data(), 16);
      std::string t10 = cfg_.vendor.substr(0, 8) + (cfg_.serial.empty() ? cfg_.name : cfg_.serial);
      add_designator(d, 2, false, 0, 1, t10.data(), t10.size());
      if (t && t->nexus) {
        const LocalPort& port = t->nexus->port();
        const uint8_t proto = port.protocol_id();
        // Target port: relative target port identifier (type 4) and SCSI name string
        // "<target>,t,0x<tpgt>" (type 8); target port group (type 5, association 01b as
        // SPC-4 7.8.6.6 requires); target device: SCSI name string of the target (assoc 10b).
        uint8_t rtpi[4] = {0, 0, uint8_t(port.rtpi() >> 8), uint8_t(port.rtpi())};
        add_designator(d, 1, true, 1, 4, rtpi, 4, proto);
        auto pn = scsi_name(port.port_name());
        add_designator(d, 3, true, 1, 8, pn.data(), pn.size(), proto);
        uint8_t tpg[4] = {0, 0, uint8_t(port.tpg() >> 8), uint8_t(port.tpg())};
        add_designator(d, 1, true, 1, 5, tpg, 4, proto);
        if (!port.target_name().empty()) {
          auto tn = scsi_name(port.target_name());
          add_designator(d, 3, true, 2, 8, tn.data(), tn.size(), proto);
        }
      }
      break;
    }
    case 0x86: {  // Extended INQUIRY data
      d.resize(64, 0);
      d[5] = 0x07;                          // HEADSUP, ORDSUP, SIMPSUP
      d[6] = cfg_.write_cache ? 0x01 : 0;   // V_SUP: a volatile cache exists; NV_SUP = 0
      break;
    }
    case 0x8f: {  // Third-party Copy (the copy manager's limits: sbd_xcopy.cpp)
      const auto desc = xcopy::third_party_copy_vpd_descriptors();
      d.resize(4 + desc.size());
      std::copy(desc.begin(), desc.end(), d.begin() + 4);
      break;
    }
    case 0xb0: {  // Block limits
      d.resize(64, 0);
      d[4] = 0x00;  // WSNZ = 0: WRITE SAME with NUMBER OF LOGICAL BLOCKS = 0 writes to the end
      d[5] = BlockLimits::kMaxCompareAndWrite;
      put_be16(&d[6], uint16_t(1u << cfg_.physical_block_exponent));  // optimal transfer granularity
      put_be32(&d[8], max_transfer_blocks_);
      put_be32(&d[12], BlockLimits::kOptimalTransferBytes >> bs_shift_);
      put_be32(&d[16], max_transfer_blocks_);  // maximum prefetch length
      if (thin_) {
        put_be32(&d[20], BlockLimits::kMaxUnmapLbaCount);
        put_be32(&d[24], BlockLimits::kMaxUnmapDescriptors);
        put_be32(&d[28], 1u << cfg_.physical_block_exponent);  // optimal unmap granularity
        put_be32(&d[32], 0x80000000u);                         // UGAVALID, alignment 0
      }
      put_be64(&d[36], BlockLimits::kMaxWriteSameBlocks);
      // SBC-4 atomic fields: MAXIMUM ATOMIC TRANSFER LENGTH; ATOMIC ALIGNMENT and ATOMIC
      // TRANSFER LENGTH GRANULARITY: the physical block when it holds more than one logical
      // block (0 = no rule); MAXIMUM ATOMIC TRANSFER LENGTH WITH ATOMIC BOUNDARY and MAXIMUM
      // ATOMIC BOUNDARY SIZE are 0 (no boundaries).
      put_be32(&d[44], max_atomic_blocks_);
      if (cfg_.physical_block_exponent) {
        put_be32(&d[48], 1u << cfg_.physical_block_exponent);
        put_be32(&d[52], 1u << cfg_.physical_block_exponent);
      }
      break;
    }
    case 0xb1: {  // Block device characteristics
      d.resize(64, 0);
      put_be16(&d[4], 0x0001);  // non-rotating medium
      // WABEREQ 01b (SBC-4 6.6.2): after a SANITIZE BLOCK ERASE, reads of blocks not written
      // since succeed (they return zeroes). WACEREQ 00b: no CRYPTOGRAPHIC ERASE.
      if (thin_ && cfg_.sanitize) d[7] = 0x40;
      break;
    }
    case 0xb2: {  // Logical block provisioning
      d.resize(8, 0);
      if (thin_) {
        d[5] = 0x80 | 0x40 | 0x20 | 0x04;  // LBPU, LBPWS, LBPWS10, LBPRZ
        d[6] = 0x02;                       // thin provisioned
      }
      break;
    }
    default:
      return false;
  }
  put_be16(&d[2], uint16_t(d.size() - 4));
  return true;
}

// ---------------------------------------------------------------------------------------
// Capacity and provisioning

void BlockLu::h_read_capacity10(const TaskPtr& t, TaskDone& done) {
  const uint8_t* cdb = t->cdb.data();
  if (!(cdb[8] & 0x01) && get_be32(&cdb[2]))  // LBA without PMI (SBC-3 5.15)
    return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 2));
  auto& d = t->data_in;
  d.assign(8, 0);
  const uint64_t last = blocks_ ? blocks_ - 1 : 0;
  put_be32(&d[0], last > 0xffffffffULL ? 0xffffffffu : uint32_t(last));
  put_be32(&d[4], bs_);
  done(t);
}

void BlockLu::h_read_capacity16(const TaskPtr& t, TaskDone& done) {
  const uint8_t* cdb = t->cdb.data();
  if (!(cdb[14] & 0x01) && get_be64(&cdb[2]))
    return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 2));
  auto& d = t->data_in;
  d.assign(32, 0);
  put_be64(&d[0], blocks_ ? blocks_ - 1 : 0);
  put_be32(&d[8], bs_);
  d[13] = uint8_t(cfg_.physical_block_exponent & 0x0f);
  if (thin_) d[14] = 0x80 | 0x40;  // LBPME, LBPRZ
  truncate_to(d, get_be32(&cdb[10]));
  done(t);
}

void BlockLu::h_get_lba_status(const TaskPtr& t, TaskDone& done) {
  const uint8_t* cdb = t->cdb.data();
  const uint64_t start = get_be64(&cdb[2]);
  const uint32_t alloc = get_be32(&cdb[10]);
  if (start >= blocks_) return fail(t, done, sense::lba_out_of_range);
  const size_t max_desc = std::clamp<size_t>(alloc > 8 ? (alloc - 8) / 16 : 1, 1, 64);
  auto& d = t->data_in;
  d.assign(8, 0);
  uint64_t lba = start;
  while (lba < blocks_) {
    store::Extent ext;
    const uint64_t span_blocks = std::min<uint64_t>(blocks_ - lba, 0xffffffffULL);
    if (auto ec = store_->extent(lba << bs_shift_, span_blocks << bs_shift_, ext))
      return fail(t, done, read_error(ec));
    uint64_t n = ext.length >> bs_shift_;
    bool mapped = ext.mapped;
    if (n == 0) {  // a block partly mapped counts as mapped
      n = 1;
      mapped = true;
    }
    n = std::min(n, span_blocks);
    const size_t count = (d.size() - 8) / 16;
    uint8_t* last = count ? &d[d.size() - 16] : nullptr;
    const uint8_t status = mapped ? 0x00 : 0x01;  // mapped / deallocated
    if (last && last[12] == status && get_be32(&last[8]) + n <= 0xffffffffULL) {
      put_be32(&last[8], uint32_t(get_be32(&last[8]) + n));  // same state: extend
    } else {
      if (count == max_desc) break;
      d.resize(d.size() + 16, 0);
      uint8_t* e = &d[d.size() - 16];
      put_be64(e, lba);
      put_be32(e + 8, uint32_t(n));
      e[12] = status;
    }
    lba += n;
  }
  put_be32(&d[0], uint32_t(d.size() - 4));
  truncate_to(d, alloc);
  done(t);
}

// READ DEFECT DATA (10)/(12) (SBC-3 5.17/5.18): the medium has no defects, so both lists
// exist and are empty; every defined format describes an empty list, and the header echoes
// the requested one. REQ_PLIST/REQ_GLIST set PLISTV/GLISTV.

void BlockLu::h_read_defect_data(const TaskPtr& t, TaskDone& done) {
  const uint8_t* cdb = t->cdb.data();
  const bool ten = cdb[0] == scsi::op::kReadDefectData10;
  const uint8_t flags = ten ? cdb[2] : cdb[1];
  const uint8_t format = flags & 0x07;
  if (format == 0x07)  // reserved
    return fail(t, done, sense::invalid_field_in_cdb.with_field(true, ten ? 2 : 1, 2));
  auto& d = t->data_in;
  // (10): 4-byte header, DEFECT LIST LENGTH in bytes 2-3. (12): 8-byte header, GENERATION
  // CODE (0: not reported) in bytes 2-3, DEFECT LIST LENGTH in bytes 4-7. ADDRESS DESCRIPTOR
  // INDEX (12) is past the end of the empty list for any value: the header alone is returned.
  d.assign(ten ? 4 : 8, 0);
  d[1] = uint8_t((flags & 0x18) | format);  // PLISTV, GLISTV, DEFECT LIST FORMAT
  truncate_to(d, ten ? get_be16(&cdb[7]) : get_be32(&cdb[6]));
  done(t);
}

// ---------------------------------------------------------------------------------------
// REPORT SUPPORTED OPERATION CODES (SPC-4 6.35)

void BlockLu::h_report_opcodes(const TaskPtr& t, TaskDone& done) {
  const uint8_t* cdb = t->cdb.data();
  const bool rctd = cdb[2] & 0x80;
  const uint8_t options = cdb[2] & 0x07;
  const uint8_t req_op = cdb[3];
  const uint16_t req_sa = get_be16(&cdb[4]);
  const uint32_t alloc = get_be32(&cdb[6]);
  auto& d = t->data_in;
  d.clear();
  auto put_timeouts = [&](const CommandRow& r) {
    uint8_t to[12] = {0, 0x0a};
    put_be32(&to[4], r.nominal_timeout);
    put_be32(&to[8], r.recommended_timeout);
    d.insert(d.end(), to, to + 12);
  };
  if (options == 0) {
    d.assign(4, 0);
    for (const CommandRow& r : table()) {
      if (!listed(r)) continue;
      uint8_t e[8] = {r.info.opcode, 0, 0, 0, 0, 0, 0, 0};
      put_be16(&e[2], r.info.service_action);
      e[5] = uint8_t((rctd ? 0x02 : 0) | (r.info.has_service_action ? 0x01 : 0));
      put_be16(&e[6], r.info.cdb_length);
      d.insert(d.end(), e, e + 8);
      if (rctd) put_timeouts(r);
    }
    put_be32(&d[0], uint32_t(d.size() - 4));
    truncate_to(d, alloc);
    return done(t);
  }
  if (options > 3) return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 2, 2));
  // One command: find the opcode's rows.
  const CommandRow* hit = nullptr;
  bool has_sa = false, known = false;
  for (const CommandRow& r : table()) {
    if (r.info.opcode != req_op || !listed(r)) continue;
    known = true;
    has_sa = r.info.has_service_action;
    if (!has_sa || r.info.service_action == req_sa) hit = &r;
  }
  if (known && options == 1 && has_sa) return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 2, 2));
  if (known && options == 2 && !has_sa) return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 2, 2));
  d.assign(4, 0);
  if (!hit) {
    d[1] = 0x01;  // SUPPORT 001b: not supported
  } else {
    d[1] = uint8_t((rctd ? 0x80 : 0) | 0x03);  // SUPPORT 011b: supported per the standard
    put_be16(&d[2], hit->info.cdb_length);
    d.insert(d.end(), hit->info.usage.begin(), hit->info.usage.begin() + hit->info.cdb_length);
    if (rctd) put_timeouts(*hit);
  }
  truncate_to(d, alloc);
  done(t);
}

// REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS (SPC-4 6.36): what the framework implements
// for iSCSI: ABORT TASK, ABORT TASK SET, CLEAR TASK SET, LOGICAL UNIT RESET, TARGET RESET.
void BlockLu::h_report_tmfs(const TaskPtr& t, TaskDone& done) {
  const uint8_t* cdb = t->cdb.data();
  const bool repd = cdb[2] & 0x80;
  auto& d = t->data_in;
  d.assign(repd ? 16 : 4, 0);
  d[0] = 0x80 | 0x40 | 0x10 | 0x08 | 0x02;  // ATS, ATSS, CTSS, LURS, TRS
  if (repd) d[3] = 0x0c;                   // additional data length (extended format)
  truncate_to(d, get_be32(&cdb[6]));
  done(t);
}

}  // namespace stmf::sbd
