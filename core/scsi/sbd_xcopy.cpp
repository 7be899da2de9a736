// Block LU: the copy manager (SPC-4 5.17, 6.4, 6.18): EXTENDED COPY (LID1) with identification
// CSCD descriptors (E4h) and block-to-block segment descriptors (02h), and RECEIVE COPY
// RESULTS (COPY STATUS, OPERATING PARAMETERS).
//
// The copy runs in the daemon: the LU that received the EXTENDED COPY reads each chunk from the
// source LU's store under the source's range lock and writes it through the destination LU's
// store under the destination's range lock (never both locks at once, so a copy inside one LU
// cannot deadlock on itself). Every segment is resolved and checked before any data moves; an
// ABORT TASK or a reset stops the copy between chunks, and COPY STATUS then tells how many
// segments and bytes reached the destination.
#include <algorithm>

#include "core/it_nexus.h"
#include "core/reservations.h"
#include "core/scsi/cdb.h"
#include "core/scsi/opcodes.h"
#include "core/scsi/sbd_lu_impl.h"
#include "core/views.h"

namespace stmf::sbd {

namespace sense = scsi::sense;
using Ticket = LbaRangeLock::Ticket;
using xcopy::Limits;

namespace {

// Designator of an LU's GUID in its Device Identification VPD page: NAA (type 3), binary
// (code set 1), associated with the logical unit (association 0), 16 bytes.
constexpr uint8_t kDesignatorNaa = 3;
constexpr uint8_t kCodeSetBinary = 1;
constexpr uint8_t kAssociationLu = 0;

// The sense of a condition met while processing segment descriptors: COPY ABORTED with the
// condition's additional sense code (SPC-4 6.4.5).
scsi::SenseCode copy_aborted_as(scsi::SenseCode s) {
  s.key = scsi::SenseKey::copy_aborted;
  s.field.reset();
  s.information.reset();
  return s;
}

// What a copy source or destination would be checked against as a READ or a WRITE from the
// nexus (its reservation class and a CDB of that class).
constexpr std::array<uint8_t, 16> kReadCdb = {scsi::op::kRead16};
constexpr std::array<uint8_t, 16> kWriteCdb = {scsi::op::kWrite16};

bool reservation_conflict(LogicalUnit& lu, const ItNexus& n, ReservationClass cls, const uint8_t* cdb) {
  auto& rs = lu.reservations();
  std::shared_lock lk(rs.mu);
  return rs.engine.may_conflict() && rs.engine.conflicts(pr_nexus(n), cls, cdb);
}

// One chunk read or write of the copy on `lu`, counted in its task set (foreign_io), which a
// switchover's drain waits for like the LU's own tasks. False, counting nothing, when the LU
// is no longer served here (standby, Transitioning, fenced): the copy stops before touching it.
void leave_leg(LogicalUnit& lu) {
  auto& ts = lu.task_set();
  std::lock_guard lk(ts.mu);
  --ts.foreign_io;
}

bool enter_leg(LogicalUnit& lu) {
  {
    auto& ts = lu.task_set();
    std::lock_guard lk(ts.mu);
    ++ts.foreign_io;
  }
  // After the count: a drain that found the set idle set Transitioning before it looked.
  if (!lu.standby() && !lu.transitioning()) return true;
  leave_leg(lu);
  return false;
}

}  // namespace

struct BlockLu::XcopyOp {
  TaskPtr t;
  TaskDone done;
  xcopy::ParameterList list;
  std::string nexus_key;
  std::shared_ptr<xcopy::CopyRecord> record;  // also for LIST ID USAGE 11b (not registered)
  bool registered = false, hold = false;
  struct Leg {
    std::shared_ptr<LogicalUnit> keep;  // the LU lives as long as the copy
    BlockLu* lu = nullptr;
    uint64_t offset = 0;  // byte offset of the segment's first block
  };
  std::vector<Leg> src, dst;  // per segment
  std::vector<uint64_t> seg_bytes;
  // The segment being processed and the bytes of it done. An overlapping copy to higher LBAs
  // inside one LU runs backwards (last chunk first), so no chunk reads what the copy wrote.
  size_t seg = 0;
  uint64_t done_bytes = 0;
  bool backward = false;
  enum class Stage : uint8_t { lock_source, read, lock_destination, write } stage = Stage::lock_source;
  uint64_t chunk = 0, chunk_at = 0;  // bytes of the current chunk, its offset in the segment
  Ticket ticket = 0;
  std::vector<uint8_t> buf;
  std::error_code ec;
  bool ec_on_write = false;
  std::atomic<bool> claim{false};
};

// The LU a CSCD descriptor names among the LUs the nexus sees (nullptr: none, or not a block
// LU, or not served by this node).
static std::shared_ptr<LogicalUnit> resolve_cscd(const TaskPtr& t, const xcopy::Cscd& c) {
  if (!t->nexus || c.designator_type != kDesignatorNaa || c.code_set != kCodeSetBinary ||
      c.association != kAssociationLu || c.designator.size() != sizeof(Guid))
    return nullptr;
  auto map = t->nexus->lun_map();
  if (!map) return nullptr;
  for (const auto& [lun, lu] : map->luns)
    if (lu && std::equal(c.designator.begin(), c.designator.end(), lu->guid().begin())) return lu;
  return nullptr;
}

void BlockLu::h_extended_copy(const TaskPtr& t, TaskDone& done) {
  const uint8_t* cdb = t->cdb.data();
  const uint32_t plen = scsi::get_be32(&cdb[10]);
  t->transfer_length = plen;
  if (plen == 0) return done(t);  // SPC-4 6.4.1: not an error, nothing to copy
  if (t->data_out.size() < plen) return fail(t, done, sense::invalid_field_in_command_iu);
  auto op = std::make_shared<XcopyOp>();
  if (auto e = xcopy::parse_lid1(std::span<const uint8_t>(t->data_out.data(), plen), op->list))
    return fail(t, done, *e);
  op->t = t;
  op->nexus_key = t->nexus ? t->nexus->key() : std::string();
  op->hold = op->list.usage == xcopy::ListIdUsage::hold;
  if (op->list.usage == xcopy::ListIdUsage::none) {
    op->record = std::make_shared<xcopy::CopyRecord>();
  } else {
    op->record = copy_results_.begin(op->nexus_key, op->list.list_id);
    if (!op->record) return fail(t, done, sense::operation_in_progress.with_field(false, 0));
    op->registered = true;
  }
  if (copies_running_.fetch_add(1) >= Limits::kMaxConcurrentCopies) {
    copies_running_.fetch_sub(1);
    if (op->registered) copy_results_.end(op->nexus_key, op->record, false);
    return fail(t, done, sense::aborted_insufficient_resources);
  }
  op->done = std::move(done);
  bool conflict = false;
  if (auto e = xcopy_prepare(*op, conflict)) return xcopy_finish(op, e);
  if (conflict) {
    t->status = scsi::Status::reservation_conflict;
    return xcopy_finish(op, std::nullopt);
  }
  uint64_t biggest = 0;
  for (uint64_t b : op->seg_bytes) biggest = std::max(biggest, b);
  op->buf.resize(size_t(std::min<uint64_t>(biggest, Limits::kChunkBytes)));
  if (!op->list.segments.empty()) xcopy_start_segment(*op);
  xcopy_step(op);
}

std::optional<scsi::SenseCode> BlockLu::xcopy_prepare(XcopyOp& op, bool& conflict) const {
  const auto& segs = op.list.segments;
  op.src.resize(segs.size());
  op.dst.resize(segs.size());
  op.seg_bytes.resize(segs.size());
  for (size_t i = 0; i < segs.size(); ++i) {
    const xcopy::Segment& s = segs[i];
    // Errors while processing segment descriptors (SPC-4 6.4.5): COPY ABORTED, INFORMATION =
    // the blocks of the segment not copied (all of them: nothing moved yet), a segment
    // pointer (SD = 0) at the field in error, counted from the start of the parameter list.
    auto at = [&](const scsi::SenseCode& sc, uint16_t field) {
      return sc.with_field(false, uint16_t(s.offset + field)).with_information(s.blocks);
    };
    auto leg = [&](uint16_t index, uint16_t field, bool write, XcopyOp::Leg& out) -> std::optional<scsi::SenseCode> {
      if (index >= op.list.cscds.size()) return at(sense::copy_target_device_not_reachable, field);
      const xcopy::Cscd& c = op.list.cscds[index];
      auto lu = resolve_cscd(op.t, c);
      auto* b = dynamic_cast<BlockLu*>(lu.get());
      // Not visible to the nexus, not a block LU, or served by the other node of an ALUA
      // pair (standby or transitioning here): out of this copy manager's reach.
      if (!b || lu->standby() || lu->transitioning()) return at(sense::copy_target_device_not_reachable, field);
      if (c.block_length && c.block_length != b->bs_)
        return sense::copy_aborted.with_field(false, uint16_t(c.offset + xcopy::kCscdBlockLength))
            .with_information(s.blocks);
      if (!b->started_.load())
        return copy_aborted_as(b->loaded_.load() ? sense::not_ready_initializing_required : sense::medium_not_present)
            .with_field(false, uint16_t(s.offset + field))
            .with_information(s.blocks);
      // A sanitize runs on it, or failed on it (SBC-4 4.11.2).
      if (auto sc = b->sanitize_condition())
        return copy_aborted_as(*sc).with_field(false, uint16_t(s.offset + field)).with_information(s.blocks);
      if (write && b->write_protected())
        return copy_aborted_as(sense::write_protected).with_field(false, uint16_t(s.offset + field)).with_information(s.blocks);
      // The LU the command was sent to passed the framework's check (EXTENDED COPY conflicts
      // like a WRITE), under its reservation lock, which the framework still holds.
      if (b != this && op.t->nexus &&
          reservation_conflict(*lu, *op.t->nexus, write ? ReservationClass::write : ReservationClass::read,
                               write ? kWriteCdb.data() : kReadCdb.data()))
        conflict = true;
      out.keep = std::move(lu);
      out.lu = b;
      return std::nullopt;
    };
    if (auto e = leg(s.source, xcopy::kSegSourceIndex, false, op.src[i])) return e;
    if (auto e = leg(s.destination, xcopy::kSegDestinationIndex, true, op.dst[i])) return e;
    BlockLu& src = *op.src[i].lu;
    BlockLu& dst = *op.dst[i].lu;
    // NUMBER OF BLOCKS counts source blocks (DC = 0) or destination blocks (DC = 1); the
    // bytes must be whole blocks of both LUs.
    const uint64_t bytes = uint64_t(s.blocks) << (s.dc ? dst.bs_shift_ : src.bs_shift_);
    if ((bytes & (src.bs_ - 1)) || (bytes & (dst.bs_ - 1)) || bytes > Limits::kMaxSegmentBytes)
      return at(sense::copy_aborted, xcopy::kSegBlocks);
    const uint64_t src_blocks = bytes >> src.bs_shift_, dst_blocks = bytes >> dst.bs_shift_;
    const uint64_t src_cap = src.blocks_.load(), dst_cap = dst.blocks_.load();
    if (s.source_lba > src_cap || src_blocks > src_cap - s.source_lba) return at(sense::copy_aborted, xcopy::kSegSourceLba);
    if (s.destination_lba > dst_cap || dst_blocks > dst_cap - s.destination_lba)
      return at(sense::copy_aborted, xcopy::kSegDestinationLba);
    op.src[i].offset = s.source_lba << src.bs_shift_;
    op.dst[i].offset = s.destination_lba << dst.bs_shift_;
    op.seg_bytes[i] = bytes;
  }
  return std::nullopt;
}

void BlockLu::xcopy_start_segment(XcopyOp& op) {
  op.done_bytes = 0;
  op.stage = XcopyOp::Stage::lock_source;
  const auto& src = op.src[op.seg];
  const auto& dst = op.dst[op.seg];
  const uint64_t n = op.seg_bytes[op.seg];
  op.backward = src.lu == dst.lu && dst.offset > src.offset && dst.offset < src.offset + n;
}

// One chunk after another: lock the source range, read, unlock; lock the destination range,
// write, unlock. Completions (lock grants and store calls) may run inline: whoever of issuer
// and completion comes second continues (the trampoline of write_same_step).
void BlockLu::xcopy_step(const std::shared_ptr<XcopyOp>& op) {
  using Stage = XcopyOp::Stage;
  auto issue = [&op](auto&& start) {
    op->claim.store(false);
    start();
    return op->claim.exchange(true);  // true: completed inline, go on here
  };
  auto resume = [this, op] {
    if (op->claim.exchange(true)) xcopy_step(op);
  };
  // Takes the chunk's range of one leg's LU, then goes on with `next`.
  auto lock = [&](const XcopyOp::Leg& leg, Stage next) {
    BlockLu& lu = *leg.lu;
    const uint64_t lba = (leg.offset + op->chunk_at) >> lu.bs_shift_;
    return issue([&] {
      lu.locks_.acquire(lba, op->chunk >> lu.bs_shift_, [op, resume, next](Ticket tk) {
        op->ticket = tk;
        op->stage = next;
        resume();
      });
    });
  };
  // The store call of one leg ended: its range is released, then `next`.
  auto io_done = [op, resume](BlockLu& lu, bool on_write, Stage next) {
    return [op, resume, &lu, on_write, next](std::error_code ec) {
      lu.locks_.release(op->ticket);
      leave_leg(lu);
      op->ec = ec;
      op->ec_on_write = on_write;
      if (!ec && on_write) {
        op->done_bytes += op->chunk;
        op->record->bytes.fetch_add(op->chunk);
      }
      op->stage = next;
      resume();
    };
  };
  // The LU of a leg is no longer served here (a switchover or takeover began): COPY ABORTED,
  // COPY TARGET DEVICE NOT REACHABLE, at the segment's CSCD index, INFORMATION its blocks left.
  auto unreachable = [&op](bool write) {
    const size_t i = op->seg;
    const xcopy::Segment& s = op->list.segments[i];
    const uint32_t shift = s.dc ? op->dst[i].lu->bs_shift_ : op->src[i].lu->bs_shift_;
    return sense::copy_target_device_not_reachable
        .with_field(false, uint16_t(s.offset + (write ? xcopy::kSegDestinationIndex : xcopy::kSegSourceIndex)))
        .with_information((op->seg_bytes[i] - op->done_bytes) >> shift);
  };
  for (;;) {
    const size_t i = op->seg;
    if (op->ec) {
      const xcopy::Segment& s = op->list.segments[i];
      BlockLu& leg = op->ec_on_write ? *op->dst[i].lu : *op->src[i].lu;
      const uint32_t shift = s.dc ? op->dst[i].lu->bs_shift_ : op->src[i].lu->bs_shift_;
      const auto why = op->ec_on_write ? leg.write_error(op->ec) : leg.read_error(op->ec);
      return xcopy_finish(op, copy_aborted_as(why)
                                  .with_field(false, s.offset)
                                  .with_information((op->seg_bytes[i] - op->done_bytes) >> shift));
    }
    bool inline_done = false;
    switch (op->stage) {
      case Stage::lock_source:
        // Aborted (ABORT TASK, a reset, PREEMPT AND ABORT): stop between chunks.
        if (op->t->aborted.load()) return xcopy_finish(op, std::nullopt);
        if (i == op->list.segments.size()) return xcopy_finish(op, std::nullopt);
        if (op->done_bytes == op->seg_bytes[i]) {
          op->record->segments.fetch_add(1);
          if (++op->seg < op->list.segments.size()) xcopy_start_segment(*op);
          continue;
        }
        op->chunk = std::min<uint64_t>(op->buf.size(), op->seg_bytes[i] - op->done_bytes);
        op->chunk_at = op->backward ? op->seg_bytes[i] - op->done_bytes - op->chunk : op->done_bytes;
        if (!enter_leg(*op->src[i].lu)) return xcopy_finish(op, unreachable(false));
        inline_done = lock(op->src[i], Stage::read);
        break;
      case Stage::read: {
        BlockLu& src = *op->src[i].lu;
        inline_done = issue([&] {
          src.store_->read(op->src[i].offset + op->chunk_at, std::span<uint8_t>(op->buf.data(), size_t(op->chunk)),
                           io_done(src, false, Stage::lock_destination));
        });
        break;
      }
      case Stage::lock_destination:
        // A reservation another I_T nexus took on a destination since the copy began (a
        // cluster fencing this initiator) stops the copy before this chunk is written. The LU
        // the command went to is not checked here (its reservation lock may be held by this
        // thread's admission); PREEMPT AND ABORT on it aborts the copy's task.
        if (op->dst[i].lu != this && op->t->nexus &&
            reservation_conflict(*op->dst[i].keep, *op->t->nexus, ReservationClass::write, kWriteCdb.data())) {
          op->t->status = scsi::Status::reservation_conflict;
          return xcopy_finish(op, std::nullopt);
        }
        if (!enter_leg(*op->dst[i].lu)) return xcopy_finish(op, unreachable(true));
        inline_done = lock(op->dst[i], Stage::write);
        break;
      case Stage::write: {
        BlockLu& dst = *op->dst[i].lu;
        if (op->t->aborted.load()) {  // aborted while this chunk was read: it is not written
          dst.locks_.release(op->ticket);
          leave_leg(dst);
          return xcopy_finish(op, std::nullopt);
        }
        inline_done = issue([&] {
          dst.store_write(op->dst[i].offset + op->chunk_at, std::span<const uint8_t>(op->buf.data(), size_t(op->chunk)),
                          !dst.modes_.wce(), io_done(dst, true, Stage::lock_source));
        });
        break;
      }
    }
    if (!inline_done) return;  // completes later; the completion continues
  }
}

void BlockLu::xcopy_finish(const std::shared_ptr<XcopyOp>& op, std::optional<scsi::SenseCode> s) {
  const bool ok = !s && !op->t->aborted.load() && op->t->status == scsi::Status::good;
  op->record->state.store(uint8_t(ok ? xcopy::CopyState::good : xcopy::CopyState::failed));
  if (op->registered) copy_results_.end(op->nexus_key, op->record, op->hold);
  copies_running_.fetch_sub(1);
  TaskDone done = std::move(op->done);
  op->src.clear();  // the other LUs are not kept beyond the copy
  op->dst.clear();
  if (s) return fail(op->t, done, *s);
  done(op->t);
}

void BlockLu::h_receive_copy_results(const TaskPtr& t, TaskDone& done) {
  const uint8_t* cdb = t->cdb.data();
  const uint32_t alloc = scsi::get_be32(&cdb[10]);
  std::vector<uint8_t> d;
  switch (scsi::service_action(cdb)) {
    case scsi::receive_copy_results::kCopyStatus: {
      auto st = copy_results_.take_status(t->nexus ? t->nexus->key() : std::string(), cdb[2]);
      // No copy with that list identifier is held for the nexus.
      if (!st) return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 2));
      d = std::move(*st);
      break;
    }
    case scsi::receive_copy_results::kOperatingParameters:
      d = xcopy::operating_parameters_data();
      break;
    default:
      return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 1, 4));
  }
  t->transfer_length = int64_t(d.size());
  if (d.size() > alloc) d.resize(alloc);
  t->data_in = std::move(d);
  done(t);
}

}  // namespace stmf::sbd
