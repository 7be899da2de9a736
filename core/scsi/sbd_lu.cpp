// Block LU: the command table, dispatch and the factory.
#include "core/scsi/sbd_lu_impl.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/it_nexus.h"
#include "core/log.h"
#include "core/scsi/cdb.h"

namespace stmf::sbd {

namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = stmf::logger("sbd");
  return l;
}

using D = DataDirection;
using R = ReservationClass;
using U = std::array<uint8_t, 16>;

struct RowSpec {
  uint8_t opcode;
  int sa;  // -1: no service action
  const char* name;
  D dir;
  U usage;  // usage[0] = opcode; cdb length = index of the last (control) byte + 1
  uint8_t len;
  R res;
  bool standby;
  bool with_ua;
  Handler h;
  uint8_t flags;
  uint32_t nominal, recommended;
};

CommandRow make_row(const RowSpec& s) {
  CommandRow r{};
  r.info.opcode = s.opcode;
  r.info.has_service_action = s.sa >= 0;
  r.info.service_action = s.sa >= 0 ? uint16_t(s.sa) : 0;
  r.info.name = s.name;
  r.info.direction = s.dir;
  r.info.cdb_length = s.len;
  r.info.usage = s.usage;
  r.info.reservation = s.res;
  r.info.allowed_in_standby = s.standby;
  r.info.allowed_with_ua = s.with_ua;
  r.handler = s.h;
  r.flags = s.flags;
  r.nominal_timeout = s.nominal;
  r.recommended_timeout = s.recommended;
  return r;
}

// Reservation classes follow SPC-4 table 65 (SPC commands) and SBC-3 table 13 (SBC
// commands); standby follows SPC-4 5.16.2.4.4; allowed_with_ua follows SAM-5 5.14 / SPC-4
// (INQUIRY, REPORT LUNS, REQUEST SENSE do not report a pending unit attention).
// Group number fields take 6 bits (SBC-4); the control byte's NACA bit is checked by the
// framework. Sorted by opcode, then service action.
const std::vector<CommandRow>& rows() {
  using B = BlockLu;
  constexpr uint8_t M = kMedium, W = kModifies | kMedium, T = kThinOnly;
  static const std::vector<CommandRow> t = [] {
    const RowSpec specs[] = {
        {0x00, -1, "TEST UNIT READY", D::none, {0x00, 0, 0, 0, 0, 0x04}, 6, R::allowed, false, false, &B::h_test_unit_ready, M, 0, 5},
        {0x03, -1, "REQUEST SENSE", D::in, {0x03, 0x01, 0, 0, 0xff, 0x04}, 6, R::allowed, true, true, nullptr, 0, 0, 5},
        {0x08, -1, "READ(6)", D::in, {0x08, 0x1f, 0xff, 0xff, 0xff, 0x04}, 6, R::read, false, false, &B::h_read, M, 1, 30},
        {0x0a, -1, "WRITE(6)", D::out, {0x0a, 0x1f, 0xff, 0xff, 0xff, 0x04}, 6, R::write, false, false, &B::h_write, W, 1, 30},
        {0x12, -1, "INQUIRY", D::in, {0x12, 0x01, 0xff, 0xff, 0xff, 0x04}, 6, R::allowed, true, true, &B::h_inquiry, 0, 0, 5},
        {0x15, -1, "MODE SELECT(6)", D::out, {0x15, 0x11, 0, 0, 0xff, 0x04}, 6, R::conflict, true, false, &B::h_mode_select, 0, 0, 5},
        // RESERVE/RELEASE and PERSISTENT RESERVE IN/OUT: answered by the framework
        // (core/reservations.cpp); the rows give their CDB layout and reservation class.
        {0x16, -1, "RESERVE(6)", D::none, {0x16, 0, 0, 0, 0, 0x04}, 6, R::reserve, false, false, nullptr, 0, 0, 5},
        {0x17, -1, "RELEASE(6)", D::none, {0x17, 0, 0, 0, 0, 0x04}, 6, R::reserve, false, false, nullptr, 0, 0, 5},
        {0x1a, -1, "MODE SENSE(6)", D::in, {0x1a, 0x08, 0xff, 0xff, 0xff, 0x04}, 6, R::read, true, false, &B::h_mode_sense, 0, 0, 5},
        {0x1b, -1, "START STOP UNIT", D::none, {0x1b, 0x01, 0, 0x0f, 0xf7, 0x04}, 6, R::conflict, false, false, &B::h_start_stop_unit, 0, 0, 60},
        {0x1e, -1, "PREVENT ALLOW MEDIUM REMOVAL", D::none, {0x1e, 0, 0, 0, 0x03, 0x04}, 6, R::conflict, false, false, &B::h_prevent_allow, 0, 0, 5},
        {0x25, -1, "READ CAPACITY(10)", D::in, {0x25, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x01, 0x04}, 10, R::allowed, false, false, &B::h_read_capacity10, M, 0, 5},
        {0x28, -1, "READ(10)", D::in, {0x28, 0xfe, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, 0x04}, 10, R::read, false, false, &B::h_read, M, 1, 30},
        {0x2a, -1, "WRITE(10)", D::out, {0x2a, 0xfa, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, 0x04}, 10, R::write, false, false, &B::h_write, W, 1, 30},
        {0x2e, -1, "WRITE AND VERIFY(10)", D::out, {0x2e, 0xf6, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, 0x04}, 10, R::write, false, false, &B::h_write_verify, W, 1, 30},
        {0x2f, -1, "VERIFY(10)", D::out, {0x2f, 0xf6, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, 0x04}, 10, R::read, false, false, &B::h_verify, M, 1, 30},
        {0x34, -1, "PRE-FETCH(10)", D::none, {0x34, 0x02, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, 0x04}, 10, R::read, false, false, &B::h_prefetch, M, 0, 30},
        {0x35, -1, "SYNCHRONIZE CACHE(10)", D::none, {0x35, 0x06, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, 0x04}, 10, R::write, false, false, &B::h_sync_cache, M, 1, 60},
        {0x37, -1, "READ DEFECT DATA(10)", D::in, {0x37, 0, 0x1f, 0, 0, 0, 0, 0xff, 0xff, 0x04}, 10, R::read, false, false, &B::h_read_defect_data, M, 0, 5},
        {0x41, -1, "WRITE SAME(10)", D::out, {0x41, 0xf8, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, 0x04}, 10, R::write, false, false, &B::h_write_same, W, 1, 60},
        {0x42, -1, "UNMAP", D::out, {0x42, 0x01, 0, 0, 0, 0, 0x3f, 0xff, 0xff, 0x04}, 10, R::write, false, false, &B::h_unmap, W | T, 1, 60},
        {0x55, -1, "MODE SELECT(10)", D::out, {0x55, 0x11, 0, 0, 0, 0, 0, 0xff, 0xff, 0x04}, 10, R::conflict, true, false, &B::h_mode_select, 0, 0, 5},
        {0x56, -1, "RESERVE(10)", D::none, {0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0x04}, 10, R::reserve, false, false, nullptr, 0, 0, 5},
        {0x57, -1, "RELEASE(10)", D::none, {0x57, 0, 0, 0, 0, 0, 0, 0, 0, 0x04}, 10, R::reserve, false, false, nullptr, 0, 0, 5},
        {0x5a, -1, "MODE SENSE(10)", D::in, {0x5a, 0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0x04}, 10, R::read, true, false, &B::h_mode_sense, 0, 0, 5},
        {0x5e, 0x00, "PERSISTENT RESERVE IN", D::in, {0x5e, 0x00, 0, 0, 0, 0, 0, 0xff, 0xff, 0x04}, 10, R::persistent, false, false, nullptr, 0, 0, 5},
        {0x5e, 0x01, "PERSISTENT RESERVE IN", D::in, {0x5e, 0x01, 0, 0, 0, 0, 0, 0xff, 0xff, 0x04}, 10, R::persistent, false, false, nullptr, 0, 0, 5},
        {0x5e, 0x02, "PERSISTENT RESERVE IN", D::in, {0x5e, 0x02, 0, 0, 0, 0, 0, 0xff, 0xff, 0x04}, 10, R::persistent, false, false, nullptr, 0, 0, 5},
        {0x5e, 0x03, "PERSISTENT RESERVE IN", D::in, {0x5e, 0x03, 0, 0, 0, 0, 0, 0xff, 0xff, 0x04}, 10, R::persistent, false, false, nullptr, 0, 0, 5},
        {0x5f, 0x00, "PERSISTENT RESERVE OUT", D::out, {0x5f, 0x00, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x04}, 10, R::persistent, false, false, nullptr, 0, 0, 5},
        {0x5f, 0x01, "PERSISTENT RESERVE OUT", D::out, {0x5f, 0x01, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x04}, 10, R::persistent, false, false, nullptr, 0, 0, 5},
        {0x5f, 0x02, "PERSISTENT RESERVE OUT", D::out, {0x5f, 0x02, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x04}, 10, R::persistent, false, false, nullptr, 0, 0, 5},
        {0x5f, 0x03, "PERSISTENT RESERVE OUT", D::out, {0x5f, 0x03, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x04}, 10, R::persistent, false, false, nullptr, 0, 0, 5},
        {0x5f, 0x04, "PERSISTENT RESERVE OUT", D::out, {0x5f, 0x04, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x04}, 10, R::persistent, false, false, nullptr, 0, 0, 5},
        {0x5f, 0x05, "PERSISTENT RESERVE OUT", D::out, {0x5f, 0x05, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x04}, 10, R::persistent, false, false, nullptr, 0, 0, 5},
        {0x5f, 0x06, "PERSISTENT RESERVE OUT", D::out, {0x5f, 0x06, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x04}, 10, R::persistent, false, false, nullptr, 0, 0, 5},
        {0x5f, 0x07, "PERSISTENT RESERVE OUT", D::out, {0x5f, 0x07, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x04}, 10, R::persistent, false, false, nullptr, 0, 0, 5},
        {0x88, -1, "READ(16)", D::in, {0x88, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 0x04}, 16, R::read, false, false, &B::h_read, M, 1, 30},
        {0x89, -1, "COMPARE AND WRITE", D::out, {0x89, 0xfa, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0xff, 0x3f, 0x04}, 16, R::write, false, false, &B::h_compare_and_write, W, 1, 30},
        {0x8a, -1, "WRITE(16)", D::out, {0x8a, 0xfa, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 0x04}, 16, R::write, false, false, &B::h_write, W, 1, 30},
        {0x8b, -1, "ORWRITE(16)", D::out, {0x8b, 0xfa, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 0x04}, 16, R::write, false, false, &B::h_orwrite, W, 1, 30},
        {0x8e, -1, "WRITE AND VERIFY(16)", D::out, {0x8e, 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 0x04}, 16, R::write, false, false, &B::h_write_verify, W, 1, 30},
        {0x8f, -1, "VERIFY(16)", D::out, {0x8f, 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 0x04}, 16, R::read, false, false, &B::h_verify, M, 1, 30},
        {0x90, -1, "PRE-FETCH(16)", D::none, {0x90, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 0x04}, 16, R::read, false, false, &B::h_prefetch, M, 0, 30},
        {0x91, -1, "SYNCHRONIZE CACHE(16)", D::none, {0x91, 0x06, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 0x04}, 16, R::write, false, false, &B::h_sync_cache, M, 1, 60},
        {0x93, -1, "WRITE SAME(16)", D::out, {0x93, 0xf9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 0x04}, 16, R::write, false, false, &B::h_write_same, W, 1, 60},
        {0x9c, -1, "WRITE ATOMIC(16)", D::out, {0x9c, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 0x04}, 16, R::write, false, false, &B::h_write_atomic, W, 1, 30},
        {0x9e, 0x10, "READ CAPACITY(16)", D::in, {0x9e, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x04}, 16, R::allowed, false, false, &B::h_read_capacity16, M, 0, 5},
        {0x9e, 0x12, "GET LBA STATUS", D::in, {0x9e, 0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0x04}, 16, R::read, false, false, &B::h_get_lba_status, M, 0, 5},
        {0xa0, -1, "REPORT LUNS", D::in, {0xa0, 0, 0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0x04}, 12, R::allowed, true, true, nullptr, 0, 0, 5},
        // REPORT TARGET PORT GROUPS: answered by the framework (core/alua.h).
        {0xa3, 0x0a, "REPORT TARGET PORT GROUPS", D::in, {0xa3, 0xea, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0x04}, 12, R::allowed, true, false, nullptr, 0, 0, 5},
        {0xa3, 0x0c, "REPORT SUPPORTED OPERATION CODES", D::in, {0xa3, 0x0c, 0x87, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0x04}, 12, R::read, true, false, &B::h_report_opcodes, 0, 0, 5},
        {0xa3, 0x0d, "REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS", D::in, {0xa3, 0x0d, 0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0x04}, 12, R::read, true, false, &B::h_report_tmfs, 0, 0, 5},
        // SET TARGET PORT GROUPS: answered by the framework (explicit ALUA, core/alua.h).
        {0xa4, 0x0a, "SET TARGET PORT GROUPS", D::out, {0xa4, 0x0a, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0x04}, 12, R::conflict, false, false, nullptr, 0, 0, 30},
        {0xa8, -1, "READ(12)", D::in, {0xa8, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 0x04}, 12, R::read, false, false, &B::h_read, M, 1, 30},
        {0xaa, -1, "WRITE(12)", D::out, {0xaa, 0xfa, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 0x04}, 12, R::write, false, false, &B::h_write, W, 1, 30},
        {0xae, -1, "WRITE AND VERIFY(12)", D::out, {0xae, 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 0x04}, 12, R::write, false, false, &B::h_write_verify, W, 1, 30},
        {0xaf, -1, "VERIFY(12)", D::out, {0xaf, 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 0x04}, 12, R::read, false, false, &B::h_verify, M, 1, 30},
        {0xb7, -1, "READ DEFECT DATA(12)", D::in, {0xb7, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0x04}, 12, R::read, false, false, &B::h_read_defect_data, M, 0, 5},
    };
    std::vector<CommandRow> v;
    for (const auto& s : specs) v.push_back(make_row(s));
    return v;
  }();
  return t;
}

// First row index per opcode (-1: unsupported); rows of one opcode are adjacent.
const std::array<int16_t, 256>& row_index() {
  static const std::array<int16_t, 256> idx = [] {
    std::array<int16_t, 256> a;
    a.fill(-1);
    const auto& r = rows();
    for (size_t i = r.size(); i-- > 0;) a[r[i].info.opcode] = int16_t(i);
    return a;
  }();
  return idx;
}

}  // namespace

std::span<const CommandRow> BlockLu::table() { return rows(); }

LbaRange decode_lba_range(const uint8_t* cdb) {
  using namespace scsi;
  LbaRange r;
  switch (cdb[0] >> 5) {
    case 0:  // 6-byte: 21-bit LBA; READ(6)/WRITE(6) length 0 means 256 blocks
      r.lba = uint64_t(cdb[1] & 0x1f) << 16 | get_be16(&cdb[2]);
      r.blocks = cdb[4] ? cdb[4] : 256;
      r.length_byte = 4;
      break;
    case 1:
    case 2:  // 10-byte
      r.lba = get_be32(&cdb[2]);
      r.blocks = get_be16(&cdb[7]);
      r.length_byte = 7;
      break;
    case 5:  // 12-byte
      r.lba = get_be32(&cdb[2]);
      r.blocks = get_be32(&cdb[6]);
      r.length_byte = 6;
      break;
    case 4:  // 16-byte
      r.lba = get_be64(&cdb[2]);
      r.blocks = get_be32(&cdb[10]);
      r.length_byte = 10;
      break;
    default:
      break;
  }
  return r;
}

BlockLu::BlockLu(BlockLuConfig cfg, std::unique_ptr<store::BackingStore> store)
    : cfg_(std::move(cfg)),
      store_(std::move(store)),
      bs_(cfg_.block_size),
      bs_shift_(bs_ == 4096 ? 12 : 9),
      blocks_(store_->size() >> bs_shift_),
      thin_(store_->thin()),
      max_transfer_blocks_(BlockLimits::kMaxTransferBytes >> bs_shift_),
      // the WRITE ATOMIC(16) TRANSFER LENGTH field has 16 bits; a multiple of the granularity
      max_atomic_blocks_(std::min<uint32_t>(BlockLimits::kMaxAtomicTransferBytes >> bs_shift_, 0xffff) &
                         ~((1u << cfg_.physical_block_exponent) - 1)),
      modes_(cfg_.write_cache),
      write_protect_(cfg_.write_protect) {}

std::error_code BlockLu::grow(uint64_t bytes) {
  if (bytes % bs_) return std::make_error_code(std::errc::invalid_argument);
  if (auto ec = store_->grow(bytes)) return ec;
  blocks_ = store_->size() >> bs_shift_;
  return {};
}

std::error_code grow_block_lu(LogicalUnit& lu, uint64_t bytes) {
  auto* b = dynamic_cast<BlockLu*>(&lu);
  return b ? b->grow(bytes) : std::make_error_code(std::errc::operation_not_supported);
}

void set_block_lu_write_protect(LogicalUnit& lu, bool on) {
  if (auto* b = dynamic_cast<BlockLu*>(&lu)) b->set_write_protect(on);
}

void set_block_lu_write_cache(LogicalUnit& lu, bool on) {
  if (auto* b = dynamic_cast<BlockLu*>(&lu)) b->set_write_cache(on);
}

std::optional<std::string> block_lu_durability_fault(const LogicalUnit& lu) {
  auto* b = dynamic_cast<const BlockLu*>(&lu);
  return b ? b->durability_fault() : std::nullopt;
}

std::optional<std::string> clear_block_lu_durability_fault(LogicalUnit& lu) {
  auto* b = dynamic_cast<BlockLu*>(&lu);
  return b ? b->clear_durability_fault() : std::nullopt;
}

std::optional<std::string> BlockLu::clear_durability_fault() {
  auto was = latch_.clear();
  if (was) log()->warn("LU {}: durability latch cleared by the administrator (it was: {})", cfg_.name, *was);
  return was;
}

void BlockLu::store_write(uint64_t offset, std::span<const uint8_t> buf, bool fua, store::Completion done) {
  if (!fua) return store_->write(offset, buf, false, std::move(done));
  if (latch_.tripped()) return done(std::make_error_code(std::errc::io_error));
  store_->write(offset, buf, true, [this, done = std::move(done)](std::error_code ec) {
    if (ec) note_durability_failure("FUA write", ec);
    done(ec);
  });
}

void BlockLu::store_flush(const char* what, store::Completion done) {
  if (latch_.tripped()) return done(std::make_error_code(std::errc::io_error));
  store_->flush([this, what, done = std::move(done)](std::error_code ec) {
    if (ec) note_durability_failure(what, ec);
    done(ec);
  });
}

void BlockLu::note_durability_failure(const char* what, std::error_code ec) {
  // Refused before reaching the medium: nothing that was written is in doubt.
  if (ec == std::errc::invalid_argument || ec == std::errc::read_only_file_system) return;
  // Not executed: the store was out of reach or out of queue slots (the initiator retries).
  if (transient_error(ec)) return;
  const std::string reason = std::string(what) + " failed: " + ec.message();
  if (latch_.trip(reason))
    log()->error("LU {} ({}): {}: writes acknowledged before it may be lost; every later flush and FUA write "
                 "fails with MEDIUM ERROR until an administrator takes the LU offline and online again",
                 cfg_.name, store_->describe(), reason);
}

const CommandRow* BlockLu::find_row(const uint8_t* cdb) const {
  const int16_t i = row_index()[cdb[0]];
  if (i < 0) return nullptr;
  const auto& r = rows();
  if (!r[size_t(i)].info.has_service_action) return listed(r[size_t(i)]) ? &r[size_t(i)] : nullptr;
  const uint8_t sa = cdb[1] & 0x1f;
  for (size_t k = size_t(i); k < r.size() && r[k].info.opcode == cdb[0]; ++k)
    if (r[k].info.service_action == sa) return listed(r[k]) ? &r[k] : nullptr;
  return nullptr;
}

bool BlockLu::has_service_actions(uint8_t opcode) const {
  const int16_t i = row_index()[opcode];
  return i >= 0 && rows()[size_t(i)].info.has_service_action;
}

const CommandInfo* BlockLu::command_info(const uint8_t* cdb, size_t len) const {
  if (len == 0) return nullptr;
  const CommandRow* r = find_row(cdb);
  return r ? &r->info : nullptr;
}

void BlockLu::execute(const TaskPtr& task, TaskDone done) {
  const uint8_t* cdb = task->cdb.data();
  const CommandRow* row = find_row(cdb);
  if (!row || !row->handler) {
    fail(task, done, scsi::sense::invalid_command_operation_code.with_field(true, 0));
    return;
  }
  // Reserved bits and fields: everything the usage bitmap does not allow (SPC-4 4.3.5.1).
  if (auto bad = check_cdb_usage(row->info, cdb)) {
    fail(task, done, *bad);
    return;
  }
  if ((row->flags & kMedium) && !started_.load(std::memory_order_relaxed)) {
    // Ejected (removable LU): MEDIUM NOT PRESENT; stopped: INITIALIZING COMMAND REQUIRED.
    fail(task, done, loaded_.load(std::memory_order_relaxed) ? scsi::sense::not_ready_initializing_required
                                                               : scsi::sense::medium_not_present);
    return;
  }
  if ((row->flags & kModifies) && write_protected()) {
    fail(task, done, scsi::sense::write_protected);
    return;
  }
  (this->*row->handler)(task, done);
}

void BlockLu::on_reset(ResetKind kind) {
  // SAM-5 hard reset / logical unit reset: mode parameters back to defaults, medium
  // removal prevention ends (SBC-3 5.13).
  modes_.reset();
  std::lock_guard lk(prevent_mu_);
  prevent_.clear();
}

void BlockLu::on_nexus_loss(const std::string& nexus_key) {
  std::lock_guard lk(prevent_mu_);
  prevent_.erase(nexus_key);
}

std::optional<scsi::SenseCode> BlockLu::check_range(const LbaRange& r, uint32_t max_blocks) const {
  if (max_blocks && r.blocks > max_blocks)
    return scsi::sense::invalid_field_in_cdb.with_field(true, r.length_byte);
  // SBC-3 4.5: the LBA must exist even when no block is transferred.
  if (r.lba >= blocks_ || r.blocks > blocks_ - r.lba) return scsi::sense::lba_out_of_range;
  return std::nullopt;
}

// A store out of reach (ENOTCONN) or out of queue slots (EBUSY) did not execute the command:
// retryable answers, not medium errors.
std::optional<scsi::SenseCode> BlockLu::transient_error(std::error_code ec) {
  if (ec == std::errc::not_connected) return scsi::sense::not_ready_becoming_ready;
  if (ec == std::errc::device_or_resource_busy) return scsi::sense::aborted_insufficient_resources;
  return std::nullopt;
}

scsi::SenseCode BlockLu::read_error(std::error_code ec) {
  if (auto t = transient_error(ec)) return *t;
  return scsi::sense::unrecovered_read_error;
}

scsi::SenseCode BlockLu::write_error(std::error_code ec) {
  if (auto t = transient_error(ec)) return *t;
  if (ec == std::errc::no_space_on_device) return scsi::sense::space_allocation_failed_write_protect;
  return scsi::sense::write_error;
}

std::shared_ptr<LogicalUnit> make_block_lu(BlockLuConfig config, std::unique_ptr<store::BackingStore> store) {
  if (!store || (config.block_size != 512 && config.block_size != 4096) || config.physical_block_exponent > 15)
    return nullptr;
  auto pad = [](std::string& s, size_t n) {
    s.resize(n, ' ');
  };
  pad(config.vendor, 8);
  pad(config.product, 16);
  pad(config.revision, 4);
  return std::make_shared<BlockLu>(std::move(config), std::move(store));
}

}  // namespace stmf::sbd
