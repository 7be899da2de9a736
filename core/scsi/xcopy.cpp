#include "core/scsi/xcopy.h"

#include <algorithm>

#include "core/scsi/cdb.h"
#include "core/scsi/opcodes.h"

namespace stmf::sbd::xcopy {

namespace sense = scsi::sense;
using scsi::get_be16;
using scsi::get_be24;
using scsi::get_be32;
using scsi::get_be64;
using scsi::put_be16;
using scsi::put_be32;

namespace {

// Parameter list header fields (SPC-4 table 112).
constexpr uint16_t kHdrUsage = 1;
constexpr uint16_t kHdrCscdLength = 2;
constexpr uint16_t kHdrSegmentLength = 8;
constexpr uint16_t kHdrInlineLength = 12;
constexpr uint8_t kMaxDesignatorLength = 20;  // identification CSCD descriptor DESIGNATOR field
constexpr uint16_t kBlockToBlockLength = kBlockToBlockBytes - 4;  // its DESCRIPTOR LENGTH
constexpr uint8_t kPeripheralBlock = 0x00;
// Third-party Copy VPD descriptor types (SPC-4 table 610).
// Third-party copy descriptor types (SPC-4 7.8.17, table "Third-party copy descriptor types").
constexpr uint16_t kTpcSupportedCommands = 0x0001;
constexpr uint16_t kTpcParameterData = 0x0004;
constexpr uint16_t kTpcSupportedDescriptors = 0x0008;
constexpr uint16_t kTpcSupportedCscdIds = 0x000c;
constexpr uint16_t kTpcGeneralCopyOperations = 0x8001;
// Their DESCRIPTOR LENGTH fields where the standard fixes them.
constexpr size_t kTpcParameterDataLength = 0x1c;
constexpr size_t kTpcGeneralCopyOperationsLength = 0x20;
constexpr uint8_t kSegmentGranularityLog2 = 9;  // 512 bytes: the smaller block length
// TRANSFER COUNT UNITS (SPC-4 table 180): 00h bytes, 01h KiB, 02h MiB, ... (2^(10n) bytes).
constexpr uint8_t kMaxTransferUnit = 4;

const uint8_t kImplementedDescriptors[] = {kSegmentBlockToBlock, kCscdIdentification};

scsi::SenseCode at(const scsi::SenseCode& s, size_t byte, std::optional<uint8_t> bit = {}) {
  return s.with_field(false, uint16_t(byte), bit);
}

std::optional<scsi::SenseCode> parse_cscd(std::span<const uint8_t> p, size_t off, Cscd& c) {
  const uint8_t* d = p.data() + off;
  // LU ID TYPE and NUL are ignored (SPC-4: obsolete); RELATIVE INITIATOR PORT IDENTIFIER too
  // (the copy manager reaches its LUs from inside the target).
  if ((d[1] & 0x1f) != kPeripheralBlock) return at(sense::invalid_field_in_parameter_list, off + 1, 4);
  c.offset = uint16_t(off);
  c.code_set = d[4] & 0x0f;
  c.association = (d[5] >> 4) & 0x03;
  c.designator_type = d[5] & 0x0f;
  const uint8_t len = d[7];
  if (len > kMaxDesignatorLength) return at(sense::invalid_field_in_parameter_list, off + 7);
  c.designator.assign(d + 8, d + 8 + len);
  c.block_length = get_be24(d + kCscdBlockLength);
  return std::nullopt;
}

}  // namespace

std::optional<scsi::SenseCode> parse_lid1(std::span<const uint8_t> p, ParameterList& out) {
  if (p.size() < kHeaderBytes) return sense::parameter_list_length_error;
  out = ParameterList{};
  out.list_id = p[0];
  out.usage = ListIdUsage((p[kHdrUsage] >> 3) & 0x03);
  if (out.usage == ListIdUsage::reserved) return at(sense::invalid_field_in_parameter_list, kHdrUsage, 4);
  const uint64_t cscd_len = get_be16(&p[kHdrCscdLength]);
  const uint64_t seg_len = get_be32(&p[kHdrSegmentLength]);
  const uint64_t inline_len = get_be32(&p[kHdrInlineLength]);
  // The descriptor lists beyond MAXIMUM DESCRIPTOR LIST LENGTH, or beyond the list sent.
  if (cscd_len + seg_len > Limits::kMaxDescriptorListLength) return sense::parameter_list_length_error;
  if (kHeaderBytes + cscd_len + seg_len + inline_len > p.size()) return sense::parameter_list_length_error;
  if (inline_len > Limits::kMaxInlineData) return at(sense::invalid_field_in_parameter_list, kHdrInlineLength);

  const size_t cscd_end = kHeaderBytes + size_t(cscd_len);
  for (size_t off = kHeaderBytes; off < cscd_end; off += kCscdBytes) {
    if (p[off] != kCscdIdentification) return at(sense::unsupported_target_descriptor_type_code, off);
    if (out.cscds.size() == Limits::kMaxCscdDescriptors) return at(sense::too_many_target_descriptors, kHdrCscdLength);
    if (off + kCscdBytes > cscd_end) return at(sense::invalid_field_in_parameter_list, kHdrCscdLength);
    Cscd c;
    if (auto e = parse_cscd(p, off, c)) return e;
    out.cscds.push_back(std::move(c));
  }

  const size_t seg_end = cscd_end + size_t(seg_len);
  for (size_t off = cscd_end; off < seg_end; off += kBlockToBlockBytes) {
    if (p[off] != kSegmentBlockToBlock) return at(sense::unsupported_segment_descriptor_type_code, off);
    if (out.segments.size() == Limits::kMaxSegmentDescriptors)
      return at(sense::too_many_segment_descriptors, kHdrSegmentLength);
    if (off + kBlockToBlockBytes > seg_end) return at(sense::invalid_field_in_parameter_list, kHdrSegmentLength);
    const uint8_t* d = p.data() + off;
    if (get_be16(d + 2) != kBlockToBlockLength) return at(sense::invalid_field_in_parameter_list, off + 2);
    Segment s;
    s.offset = uint16_t(off);
    s.dc = d[1] & 0x02;
    s.source = get_be16(d + kSegSourceIndex);
    s.destination = get_be16(d + kSegDestinationIndex);
    s.blocks = get_be16(d + kSegBlocks);
    s.source_lba = get_be64(d + kSegSourceLba);
    s.destination_lba = get_be64(d + kSegDestinationLba);
    out.segments.push_back(s);
  }
  return std::nullopt;
}

std::vector<uint8_t> copy_status_data(const CopyRecord& r) {
  std::vector<uint8_t> d(12, 0);
  put_be32(&d[0], uint32_t(d.size() - 4));  // AVAILABLE DATA
  d[4] = r.state.load() & 0x7f;               // HDD = 0
  put_be16(&d[5], r.segments.load());
  uint64_t count = r.bytes.load();
  uint8_t unit = 0;
  while (count > 0xffffffffULL && unit < kMaxTransferUnit) {
    count >>= 10;
    ++unit;
  }
  d[7] = unit;
  put_be32(&d[8], uint32_t(std::min<uint64_t>(count, 0xffffffffULL)));
  return d;
}

std::vector<uint8_t> operating_parameters_data() {
  constexpr size_t kListAt = 44;  // the implemented descriptor type codes
  std::vector<uint8_t> d(kListAt + std::size(kImplementedDescriptors), 0);
  d[4] = 0x01;  // SNLID: LIST ID USAGE 11b (no list identifier) is supported
  put_be16(&d[8], Limits::kMaxCscdDescriptors);
  put_be16(&d[10], Limits::kMaxSegmentDescriptors);
  put_be32(&d[12], Limits::kMaxDescriptorListLength);
  put_be32(&d[16], Limits::kMaxSegmentBytes);
  put_be32(&d[20], Limits::kMaxInlineData);
  // HELD DATA LIMIT and MAXIMUM STREAM DEVICE TRANSFER SIZE: 0 (no held data, no streams).
  put_be16(&d[34], Limits::kMaxConcurrentCopies);
  d[36] = uint8_t(std::min<uint16_t>(Limits::kMaxConcurrentCopies, 0xff));
  d[37] = kSegmentGranularityLog2;
  d[43] = uint8_t(std::size(kImplementedDescriptors));
  std::copy(std::begin(kImplementedDescriptors), std::end(kImplementedDescriptors), d.begin() + kListAt);
  put_be32(&d[0], uint32_t(d.size() - 4));
  return d;
}

std::vector<uint8_t> third_party_copy_vpd_descriptors() {
  std::vector<uint8_t> out;
  auto add = [&out](uint16_t type, std::vector<uint8_t> body) {
    while ((body.size() + 4) % 4) body.push_back(0);  // descriptors are multiples of 4 bytes
    const size_t at = out.size();
    out.resize(at + 4);
    put_be16(&out[at], type);
    put_be16(&out[at + 2], uint16_t(body.size()));
    out.insert(out.end(), body.begin(), body.end());
  };
  // Supported Commands: EXTENDED COPY (LID1), RECEIVE COPY RESULTS (COPY STATUS, OPERATING
  // PARAMETERS).
  const std::vector<uint8_t> commands = {
      scsi::op::kExtendedCopy, 1, scsi::extended_copy::kLid1,
      scsi::op::kReceiveCopyResults, 2, scsi::receive_copy_results::kCopyStatus,
      scsi::receive_copy_results::kOperatingParameters};
  std::vector<uint8_t> body = {uint8_t(commands.size())};
  body.insert(body.end(), commands.begin(), commands.end());
  add(kTpcSupportedCommands, body);
  // Parameter Data.
  body.assign(kTpcParameterDataLength, 0);
  put_be16(&body[4], Limits::kMaxCscdDescriptors);
  put_be16(&body[6], Limits::kMaxSegmentDescriptors);
  put_be32(&body[8], Limits::kMaxDescriptorListLength);
  put_be32(&body[12], Limits::kMaxInlineData);
  add(kTpcParameterData, body);
  // Supported Descriptors.
  body.assign(1, uint8_t(std::size(kImplementedDescriptors)));
  body.insert(body.end(), std::begin(kImplementedDescriptors), std::end(kImplementedDescriptors));
  add(kTpcSupportedDescriptors, body);
  // Supported CSCD Descriptor IDs: none (no CSCD ID above 07FFh is supported), an empty list.
  body.assign(2, 0);
  add(kTpcSupportedCscdIds, body);
  // General Copy Operations.
  body.assign(kTpcGeneralCopyOperationsLength, 0);
  put_be32(&body[0], Limits::kMaxConcurrentCopies);  // TOTAL CONCURRENT COPIES
  put_be32(&body[4], Limits::kMaxConcurrentCopies);  // MAXIMUM IDENTIFIED CONCURRENT COPIES
  put_be32(&body[8], Limits::kMaxSegmentBytes);
  body[12] = kSegmentGranularityLog2;
  add(kTpcGeneralCopyOperations, body);
  return out;
}

// ---------------------------------------------------------------------------------------

std::shared_ptr<CopyRecord> CopyResults::begin(const std::string& nexus, uint8_t list_id) {
  std::lock_guard lk(mu_);
  auto& q = by_nexus_[nexus];
  for (auto it = q.begin(); it != q.end(); ++it) {
    if (it->record->list_id != list_id) continue;
    if (it->running) return nullptr;
    q.erase(it);  // a new copy with the list identifier replaces the held result
    break;
  }
  auto r = std::make_shared<CopyRecord>();
  r->list_id = list_id;
  q.push_back({r, true});
  // Oldest completed results go first; running copies are bounded by the task count.
  while (q.size() > Limits::kHeldPerNexus) {
    auto done = std::find_if(q.begin(), q.end(), [](const Entry& e) { return !e.running; });
    if (done == q.end()) break;
    q.erase(done);
  }
  if (by_nexus_.size() > Limits::kHeldNexuses) {
    for (auto it = by_nexus_.begin(); it != by_nexus_.end(); ++it) {
      if (it->first == nexus) continue;
      if (std::none_of(it->second.begin(), it->second.end(), [](const Entry& e) { return e.running; })) {
        by_nexus_.erase(it);
        break;
      }
    }
  }
  return r;
}

void CopyResults::end(const std::string& nexus, const std::shared_ptr<CopyRecord>& r, bool hold) {
  std::lock_guard lk(mu_);
  auto it = by_nexus_.find(nexus);
  if (it == by_nexus_.end()) return;
  auto& q = it->second;
  auto e = std::find_if(q.begin(), q.end(), [&](const Entry& x) { return x.record == r; });
  if (e == q.end()) return;
  if (hold)
    e->running = false;
  else
    q.erase(e);
  if (q.empty()) by_nexus_.erase(it);
}

std::optional<std::vector<uint8_t>> CopyResults::take_status(const std::string& nexus, uint8_t list_id) {
  std::lock_guard lk(mu_);
  auto it = by_nexus_.find(nexus);
  if (it == by_nexus_.end()) return std::nullopt;
  auto& q = it->second;
  auto e = std::find_if(q.begin(), q.end(), [&](const Entry& x) { return x.record->list_id == list_id; });
  if (e == q.end()) return std::nullopt;
  auto d = copy_status_data(*e->record);
  if (!e->running) {  // a completed copy's status is discarded once reported (SPC-4 6.18.3)
    q.erase(e);
    if (q.empty()) by_nexus_.erase(it);
  }
  return d;
}

void CopyResults::forget_nexus(const std::string& nexus) {
  std::lock_guard lk(mu_);
  auto it = by_nexus_.find(nexus);
  if (it == by_nexus_.end()) return;
  std::erase_if(it->second, [](const Entry& e) { return !e.running; });
  if (it->second.empty()) by_nexus_.erase(it);
}

void CopyResults::forget_completed() {
  std::lock_guard lk(mu_);
  for (auto it = by_nexus_.begin(); it != by_nexus_.end();) {
    std::erase_if(it->second, [](const Entry& e) { return !e.running; });
    it = it->second.empty() ? by_nexus_.erase(it) : std::next(it);
  }
}

size_t CopyResults::size() const {
  std::lock_guard lk(mu_);
  size_t n = 0;
  for (auto& [k, q] : by_nexus_) n += q.size();
  return n;
}

}  // namespace stmf::sbd::xcopy
