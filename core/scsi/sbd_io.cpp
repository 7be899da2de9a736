// Block LU: medium access commands (SBC-3 5.x): READ, WRITE, WRITE AND VERIFY, VERIFY,
// ORWRITE, COMPARE AND WRITE, WRITE SAME, UNMAP, SYNCHRONIZE CACHE, PRE-FETCH, plus the
// medium state commands TEST UNIT READY, START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL.
//
// The read and write paths move data straight between the task's buffers and the store:
// READ sizes task->data_in once and reads into it; WRITE writes from task->data_out.
#include <algorithm>
#include <cstring>

#include "common/buffer_pool.h"
#include "core/it_nexus.h"
#include "core/scsi/cdb.h"
#include "core/scsi/opcodes.h"
#include "core/scsi/sbd_lu_impl.h"

namespace stmf::sbd {

using scsi::SenseCode;
namespace sense = scsi::sense;
using Ticket = LbaRangeLock::Ticket;

namespace {
constexpr uint32_t kWriteSameChunkBytes = 1u << 20;
// VERIFY with BYTCHK 00b reads the medium in pieces of this size (its length is not bounded by
// MAXIMUM TRANSFER LENGTH, so it costs time, not memory).
constexpr uint32_t kVerifyChunkBytes = 1u << 20;
bool is_6byte(const uint8_t* cdb) { return (cdb[0] >> 5) == 0; }
}  // namespace

// ---------------------------------------------------------------------------------------
// Multi-step operations (WRITE SAME chunks, UNMAP descriptors).

struct BlockLu::WriteSameOp {
  TaskPtr t;
  TaskDone done;
  std::vector<uint8_t> buf;  // chunk of replicated pattern blocks
  uint64_t next = 0, end = 0;
  uint64_t chunk_blocks = 0;
  bool fua = false;
  Ticket ticket = 0;
  std::error_code ec;
  std::atomic<bool> claim{false};
};

struct BlockLu::UnmapOp {
  TaskPtr t;
  TaskDone done;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // (lba, blocks), blocks > 0
  size_t next = 0;
  bool sync = false;  // WCE=0: the deallocation is made durable before GOOD
};

struct BlockLu::VerifyOp {
  TaskPtr t;
  TaskDone done;
  std::vector<uint8_t> buf;  // one chunk
  uint64_t next = 0, end = 0;
  uint64_t chunk_blocks = 0;
  std::error_code ec;
  std::atomic<bool> claim{false};
};

// ---------------------------------------------------------------------------------------

void BlockLu::h_test_unit_ready(const TaskPtr& t, TaskDone& done) {
  // The medium is out of reach for now (iscsi store: reconnecting to its backend). Only TEST
  // UNIT READY says so at once: data commands go to the store, which holds them for the
  // reconnection within its bound and then fails them with ENOTCONN (the same sense).
  if (!store_->ready()) return fail(t, done, sense::not_ready_becoming_ready);
  done(t);
}

void BlockLu::h_read(const TaskPtr& t, TaskDone& done) {
  const uint8_t* cdb = t->cdb.data();
  if (!is_6byte(cdb) && (cdb[1] & 0xe0))  // RDPROTECT: no protection information
    return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 1, 7));
  const LbaRange r = decode_lba_range(cdb);
  if (auto e = check_range(r, max_transfer_blocks_)) return fail(t, done, *e);
  const uint64_t bytes = uint64_t(r.blocks) << bs_shift_;
  t->transfer_length = int64_t(bytes);
  if (bytes == 0) return done(t);
  // A reused buffer (common/buffer_pool.h): no fresh mapping to page-fault on; every byte is
  // read into it.
  t->data_in = BufferPool::global().get(bytes);
  const uint64_t gen = atomic_gen_.load();
  if (atomic_active_.load() != 0) return locked_read(t, done, r.lba, r.blocks);
  store_->read(r.lba << bs_shift_, std::span<uint8_t>(t->data_in),
               [this, t, gen, lba = r.lba, n = r.blocks, done = std::move(done)](std::error_code ec) mutable {
                 if (ec) return fail(t, done, read_error(ec));
                 // An atomic write ran while we read: the data may be torn; read it again.
                 if (atomic_gen_.load() != gen) return locked_read(t, done, lba, n);
                 done(t);
               });
}

void BlockLu::locked_read(const TaskPtr& t, TaskDone& done, uint64_t lba, uint64_t blocks) {
  auto io = [this, t, lba, done = std::move(done)](Ticket tk) mutable {
    store_->read(lba << bs_shift_, std::span<uint8_t>(t->data_in),
                 [this, t, tk, done = std::move(done)](std::error_code ec) mutable {
                   locks_.release(tk);
                   if (ec) return fail(t, done, read_error(ec));
                   done(t);
                 });
  };
  locks_.with_range(lba, blocks, std::move(io));
}

void BlockLu::write_common(const TaskPtr& t, TaskDone& done, bool force_fua) {
  const uint8_t* cdb = t->cdb.data();
  if (!is_6byte(cdb) && (cdb[1] & 0xe0))  // WRPROTECT
    return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 1, 7));
  const LbaRange r = decode_lba_range(cdb);
  if (auto e = check_range(r, max_transfer_blocks_)) return fail(t, done, *e);
  t->transfer_length = int64_t(uint64_t(r.blocks) << bs_shift_);
  uint64_t blocks = 0;
  if (auto e = blocks_sent(t, r.blocks, blocks)) return fail(t, done, *e);
  if (blocks == 0) return done(t);
  const bool fua = force_fua || (!is_6byte(cdb) && (cdb[1] & 0x08)) || !modes_.wce();
  locked_write(t, done, r.lba, blocks, t->data_out.data(), fua);
}

// Data-Out against the CDB's NUMBER OF LOGICAL BLOCKS for WRITE, WRITE AND VERIFY and ORWRITE
// (docs/architecture.md "Data-Out shorter or longer than the CDB"). More data than the CDB's
// blocks: the CDB's blocks are written (the port reports the underflow residual). Less (an
// EDTL below the CDB's length), the FCP-4 rule: the command is processed for the data the
// initiator sent, in whole blocks, and the port reports the overflow residual; data that ends
// inside a block cannot reach the medium, so such a command is refused with INVALID FIELD IN
// INFORMATION UNIT and writes nothing: never GOOD for sent data that was not written.
std::optional<SenseCode> BlockLu::blocks_sent(const TaskPtr& t, uint64_t cdb_blocks, uint64_t& blocks) const {
  const uint64_t sent = std::min<uint64_t>(t->data_out.size(), cdb_blocks << bs_shift_);
  if (sent & (bs_ - 1)) return sense::invalid_field_in_command_iu;
  blocks = sent >> bs_shift_;
  return std::nullopt;
}

void BlockLu::h_write(const TaskPtr& t, TaskDone& done) { write_common(t, done, false); }

void BlockLu::h_write_verify(const TaskPtr& t, TaskDone& done) {
  // BYTCHK 00b/01b: the data is written through to the medium (the comparison of what was
  // just written is trivially equal); 10b/11b are reserved for WRITE AND VERIFY.
  if (t->cdb[1] & 0x04) return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 1, 2));
  write_common(t, done, true);
}

void BlockLu::locked_write(const TaskPtr& t, TaskDone& done, uint64_t lba, uint64_t blocks, const uint8_t* buf,
                           bool fua) {
  auto io = [this, t, lba, blocks, buf, fua, done = std::move(done)](Ticket tk) mutable {
    // Aborted while it waited for the range (task management, PREEMPT AND ABORT): the data
    // must not reach the medium after the abort.
    if (t->aborted.load()) {
      locks_.release(tk);
      return done(t);
    }
    store_write(lba << bs_shift_, std::span<const uint8_t>(buf, size_t(blocks << bs_shift_)), fua,
                [this, t, tk, done = std::move(done)](std::error_code ec) mutable {
                  locks_.release(tk);
                  if (ec) return fail(t, done, write_error(ec));
                  done(t);
                });
  };
  locks_.with_range(lba, blocks, std::move(io));
}

void BlockLu::h_verify(const TaskPtr& t, TaskDone& done) {
  const uint8_t* cdb = t->cdb.data();
  if (cdb[1] & 0xe0) return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 1, 7));  // VRPROTECT
  const uint8_t bytchk = (cdb[1] >> 1) & 3;
  if (bytchk == 2) return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 1, 2));
  const LbaRange r = decode_lba_range(cdb);
  if (auto e = check_range(r, bytchk ? max_transfer_blocks_ : 0)) return fail(t, done, *e);
  if (r.blocks == 0) {
    t->transfer_length = 0;
    return done(t);
  }
  if (bytchk == 0) {
    // BYTCHK 00b: medium verification, no Data-Out. The blocks are read (chunk by chunk, one
    // buffer) and thrown away: a block the store cannot read is MEDIUM ERROR, UNRECOVERED
    // READ ERROR: the unrecoverable error that SBC-4's VERIFY reports for the medium.
    t->transfer_length = 0;
    auto op = std::make_shared<VerifyOp>();
    op->t = t;
    op->done = std::move(done);
    op->next = r.lba;
    op->end = r.lba + r.blocks;
    op->chunk_blocks = std::min<uint64_t>(r.blocks, std::max<uint64_t>(1, kVerifyChunkBytes >> bs_shift_));
    op->buf.resize(size_t(op->chunk_blocks << bs_shift_));
    return verify_step(op);
  }
  const size_t bytes = size_t(r.blocks) << bs_shift_;
  const size_t need = bytchk == 1 ? bytes : bs_;
  t->transfer_length = int64_t(need);
  if (t->data_out.size() < need) return fail(t, done, sense::invalid_field_in_command_iu);
  auto buf = std::make_shared<std::vector<uint8_t>>(bytes);
  store_->read(r.lba << bs_shift_, std::span<uint8_t>(*buf),
               [this, t, buf, bytchk, done = std::move(done)](std::error_code ec) mutable {
                 if (ec) return fail(t, done, read_error(ec));
                 const uint8_t* want = t->data_out.data();
                 for (size_t off = 0; off < buf->size(); off += bs_) {
                   const uint8_t* w = bytchk == 1 ? want + off : want;
                   if (std::memcmp(buf->data() + off, w, bs_) == 0) continue;
                   size_t i = 0;
                   while (buf->data()[off + i] == w[i]) ++i;
                   return fail(t, done, sense::miscompare_during_verify.with_information(off + i));
                 }
                 done(t);
               });
}

// Reads the chunks one after another (the trampoline of write_same_step).
void BlockLu::verify_step(const std::shared_ptr<VerifyOp>& op) {
  for (;;) {
    if (op->ec) return fail(op->t, op->done, read_error(op->ec));
    if (op->next >= op->end || op->t->aborted.load()) return op->done(op->t);
    const uint64_t n = std::min(op->chunk_blocks, op->end - op->next);
    const uint64_t at = op->next;
    op->next += n;
    op->claim.store(false);
    store_->read(at << bs_shift_, std::span<uint8_t>(op->buf.data(), size_t(n << bs_shift_)),
                 [this, op](std::error_code ec) {
                   op->ec = ec;
                   if (op->claim.exchange(true)) verify_step(op);
                 });
    if (!op->claim.exchange(true)) return;  // completes later; the completion continues
  }
}

void BlockLu::h_orwrite(const TaskPtr& t, TaskDone& done) {
  const uint8_t* cdb = t->cdb.data();
  if (cdb[1] & 0xe0) return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 1, 7));  // ORPROTECT
  const LbaRange r = decode_lba_range(cdb);
  if (auto e = check_range(r, max_transfer_blocks_)) return fail(t, done, *e);
  t->transfer_length = int64_t(uint64_t(r.blocks) << bs_shift_);
  uint64_t blocks = 0;
  if (auto e = blocks_sent(t, r.blocks, blocks)) return fail(t, done, *e);
  if (blocks == 0) return done(t);
  const bool fua = (cdb[1] & 0x08) || !modes_.wce();
  locked_rmw(t, done, r.lba, uint32_t(blocks), fua, false);
}

void BlockLu::h_compare_and_write(const TaskPtr& t, TaskDone& done) {
  const uint8_t* cdb = t->cdb.data();
  if (cdb[1] & 0xe0) return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 1, 7));  // WRPROTECT
  LbaRange r;
  r.lba = scsi::get_be64(&cdb[2]);
  r.blocks = cdb[13];
  r.length_byte = 13;
  if (r.blocks > BlockLimits::kMaxCompareAndWrite)
    return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 13));
  if (auto e = check_range(r, 0)) return fail(t, done, *e);
  const uint64_t bytes = uint64_t(r.blocks) << bs_shift_;
  t->transfer_length = int64_t(2 * bytes);
  // The Data-Out buffer is laid out by NUMBER OF LOGICAL BLOCKS (verify data, then write
  // data), so it must be exactly 2 * NUMBER OF LOGICAL BLOCKS blocks: with less the
  // operation cannot be performed; with more the CDB does not describe the buffer sent (e.g.
  // an initiator that put 256 into the one-byte field and sent 512 blocks).
  if (t->data_out.size() > 2 * bytes) return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 13));
  if (r.blocks == 0) return done(t);
  if (t->data_out.size() < 2 * bytes) return fail(t, done, sense::invalid_field_in_command_iu);
  const bool fua = (cdb[1] & 0x08) || !modes_.wce();
  locked_rmw(t, done, r.lba, r.blocks, fua, true);
}

// COMPARE AND WRITE (compare = true): read, compare with the first half of Data-Out, write
// the second half. ORWRITE: read, OR Data-Out in, write. Both under one exclusive range lock,
// so no other write to an overlapping range can land between the read and the write.
void BlockLu::locked_rmw(const TaskPtr& t, TaskDone& done, uint64_t lba, uint32_t blocks, bool fua, bool compare) {
  auto io = [this, t, lba, blocks, fua, compare, done = std::move(done)](Ticket tk) mutable {
    const size_t bytes = size_t(blocks) << bs_shift_;
    auto buf = std::make_shared<std::vector<uint8_t>>(bytes);
    store_->read(
        lba << bs_shift_, std::span<uint8_t>(*buf),
        [this, t, lba, bytes, fua, compare, tk, buf, done = std::move(done)](std::error_code ec) mutable {
          if (ec) {
            locks_.release(tk);
            return fail(t, done, read_error(ec));
          }
          const uint8_t* src = t->data_out.data();
          const uint8_t* out;
          if (compare) {
            auto mm = std::mismatch(buf->begin(), buf->end(), src);
            if (mm.first != buf->end()) {
              locks_.release(tk);
              return fail(t, done, sense::miscompare_during_verify.with_information(uint64_t(mm.first - buf->begin())));
            }
            out = src + bytes;
          } else {
            for (size_t i = 0; i < bytes; ++i) (*buf)[i] |= src[i];
            out = buf->data();
          }
          if (t->aborted.load()) {  // aborted while reading: nothing reaches the medium
            locks_.release(tk);
            return done(t);
          }
          store_write(lba << bs_shift_, std::span<const uint8_t>(out, bytes), fua,
                      [this, t, tk, buf, done = std::move(done)](std::error_code ec) mutable {
                        locks_.release(tk);
                        if (ec) return fail(t, done, write_error(ec));
                        done(t);
                      });
        });
  };
  locks_.with_range(lba, blocks, std::move(io));
}

void BlockLu::h_write_same(const TaskPtr& t, TaskDone& done) {
  const uint8_t* cdb = t->cdb.data();
  if (cdb[1] & 0xe0) return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 1, 7));  // WRPROTECT
  if (cdb[1] & 0x10) return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 1, 4));  // ANCHOR: ANC_SUP=0
  const bool ndob = cdb[0] == scsi::op::kWriteSame16 && (cdb[1] & 0x01);
  const bool unmap = cdb[1] & 0x08;
  const LbaRange r = decode_lba_range(cdb);
  if (auto e = check_range(r, BlockLimits::kMaxWriteSameBlocks)) return fail(t, done, *e);
  // WSNZ = 0: NUMBER OF LOGICAL BLOCKS = 0 means from LBA through the last LBA (SBC-4
  // 5.50); either way the count is bounded by MAXIMUM WRITE SAME LENGTH.
  const uint64_t blocks = r.blocks ? r.blocks : blocks_ - r.lba;
  if (blocks > BlockLimits::kMaxWriteSameBlocks)
    return fail(t, done, sense::invalid_field_in_cdb.with_field(true, r.length_byte));
  t->transfer_length = ndob ? 0 : int64_t(bs_);
  // Exactly one logical block of Data-Out (none with NDOB): less cannot be written; more
  // means the initiator's idea of the block length is not ours.
  if (t->data_out.size() > (ndob ? 0 : bs_))
    return fail(t, done, sense::invalid_field_in_cdb.with_field(true, r.length_byte));
  if (!ndob && t->data_out.size() < bs_) return fail(t, done, sense::invalid_field_in_command_iu);
  const uint8_t* pattern = ndob ? nullptr : t->data_out.data();
  if (unmap && thin_) {
    // SBC-4 table 237 (UNMAP = 1, ANCHOR = 0): a thin provisioned LU deallocates each LBA;
    // the Data-Out block is not written. LBPRZ = 1: the range then reads as zeroes.
    auto op = std::make_shared<UnmapOp>();
    op->t = t;
    op->done = std::move(done);
    op->ranges.emplace_back(r.lba, blocks);
    op->sync = !modes_.wce();
    return unmap_step(op);
  }
  auto op = std::make_shared<WriteSameOp>();
  op->t = t;
  op->done = std::move(done);
  op->chunk_blocks = std::min<uint64_t>(blocks, std::max<uint64_t>(1, kWriteSameChunkBytes >> bs_shift_));
  op->buf.resize(size_t(op->chunk_blocks << bs_shift_));
  if (pattern)
    for (uint64_t k = 0; k < op->chunk_blocks; ++k) std::memcpy(op->buf.data() + (k << bs_shift_), pattern, bs_);
  op->next = r.lba;
  op->end = r.lba + blocks;
  op->fua = !modes_.wce();
  auto start = [this, op](Ticket tk) {
    op->ticket = tk;
    write_same_step(op);
  };
  locks_.with_range(r.lba, blocks, std::move(start));
}

// Writes the chunks one after another. Completions may run inline: a trampoline (whoever of
// issuer and completion comes second continues) keeps the stack flat.
void BlockLu::write_same_step(const std::shared_ptr<WriteSameOp>& op) {
  for (;;) {
    if (op->ec) {
      locks_.release(op->ticket);
      return fail(op->t, op->done, write_error(op->ec));
    }
    if (op->next >= op->end || op->t->aborted.load()) {  // done, or aborted: no more chunks
      locks_.release(op->ticket);
      return op->done(op->t);
    }
    const uint64_t n = std::min(op->chunk_blocks, op->end - op->next);
    const uint64_t at = op->next;
    op->next += n;
    op->claim.store(false);
    store_write(at << bs_shift_, std::span<const uint8_t>(op->buf.data(), size_t(n << bs_shift_)), op->fua,
                [this, op](std::error_code ec) {
                  op->ec = ec;
                  if (op->claim.exchange(true)) write_same_step(op);
                });
    if (!op->claim.exchange(true)) return;  // completes later; the completion continues
  }
}

void BlockLu::h_unmap(const TaskPtr& t, TaskDone& done) {
  const uint8_t* cdb = t->cdb.data();
  if (cdb[1] & 0x01) return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 1, 0));  // ANCHOR: ANC_SUP=0
  const uint32_t plen = scsi::get_be16(&cdb[7]);
  t->transfer_length = plen;
  if (plen == 0) return done(t);
  if (plen < 8) return fail(t, done, sense::parameter_list_length_error);
  if (t->data_out.size() < plen) return fail(t, done, sense::invalid_field_in_command_iu);  // EDTL below it
  const uint8_t* p = t->data_out.data();
  const size_t bddl = std::min<size_t>(scsi::get_be16(&p[2]), plen - 8);
  const size_t count = bddl / 16;
  if (count > BlockLimits::kMaxUnmapDescriptors)
    return fail(t, done, sense::invalid_field_in_parameter_list.with_field(false, 2));
  auto op = std::make_shared<UnmapOp>();
  uint64_t total = 0;
  for (size_t i = 0; i < count; ++i) {
    const uint8_t* d = p + 8 + 16 * i;
    const uint64_t lba = scsi::get_be64(d);
    const uint32_t n = scsi::get_be32(d + 8);
    if (lba > blocks_ || n > blocks_ - lba) return fail(t, done, sense::lba_out_of_range);
    total += n;
    if (total > BlockLimits::kMaxUnmapLbaCount)
      return fail(t, done, sense::invalid_field_in_parameter_list.with_field(false, uint16_t(8 + 16 * i + 8)));
    if (n) op->ranges.emplace_back(lba, n);
  }
  op->t = t;
  op->done = std::move(done);
  op->sync = !modes_.wce();
  unmap_step(op);
}

void BlockLu::unmap_step(const std::shared_ptr<UnmapOp>& op) {
  if (op->next == op->ranges.size()) {
    // WCE=0: GOOD means on the medium, deallocations included (a punched hole or zeroed range
    // is metadata the file system may still hold in memory): fdatasync before GOOD.
    if (!op->sync || op->ranges.empty()) return op->done(op->t);
    return store_flush("flush after UNMAP", [this, op](std::error_code ec) {
      if (ec) return fail(op->t, op->done, write_error(ec));
      op->done(op->t);
    });
  }
  const uint64_t lba = op->ranges[op->next].first, n = op->ranges[op->next].second;  // clang 14: no captured bindings
  ++op->next;
  auto io = [this, op, lba, n](Ticket tk) {
    if (op->t->aborted.load()) {  // aborted: leave the rest of the medium alone
      locks_.release(tk);
      return op->done(op->t);
    }
    store_->unmap(lba << bs_shift_, n << bs_shift_, [this, op, tk](std::error_code ec) {
      locks_.release(tk);
      if (ec) return fail(op->t, op->done, write_error(ec));
      unmap_step(op);
    });
  };
  locks_.with_range(lba, n, std::move(io));
}

void BlockLu::h_sync_cache(const TaskPtr& t, TaskDone& done) {
  // NUMBER OF LOGICAL BLOCKS = 0: through the last LBA. The store flushes everything.
  const LbaRange r = decode_lba_range(t->cdb.data());
  if (auto e = check_range(r, 0)) return fail(t, done, *e);
  store_flush("SYNCHRONIZE CACHE", [this, t, done = std::move(done)](std::error_code ec) mutable {
    if (ec) return fail(t, done, write_error(ec));
    done(t);
  });
}

void BlockLu::h_prefetch(const TaskPtr& t, TaskDone& done) {
  // SBC-3 5.9: CONDITION MET only when the blocks were brought into a cache that can hold
  // them; this LU has no read cache of its own, so the command completes with GOOD (which
  // is also what libiscsi's Prefetch10/16 tests expect).
  const LbaRange r = decode_lba_range(t->cdb.data());
  if (auto e = check_range(r, 0)) return fail(t, done, *e);
  done(t);
}

void BlockLu::h_start_stop_unit(const TaskPtr& t, TaskDone& done) {
  // IMMED (byte 1 bit 0) is accepted: every state change below completes before status.
  // POWER CONDITION MODIFIER: only 0 is supported (idle_a / standby_z, or none); the others
  // (idle_b, idle_c, standby_y) and the reserved values are INVALID FIELD IN CDB (SBC-4 5.25).
  if (t->cdb[3] & 0x0f) return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 3, 3));
  const uint8_t b4 = t->cdb[4];
  const uint8_t pc = b4 >> 4;
  if (pc != 0) {
    // SBC-3 table 72: ACTIVE, IDLE, STANDBY, LU_CONTROL, FORCE_IDLE_0, FORCE_STANDBY_0.
    // Power conditions are accepted and have no effect; START and LOEJ are ignored.
    if (pc == 1 || pc == 2 || pc == 3 || pc == 7 || pc == 0xa || pc == 0xb) return done(t);
    return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 4, 7));
  }
  const bool start = b4 & 0x01;
  if (b4 & 0x02) {  // LOEJ
    // SBC-3 5.20 / SPC-4 6.13: while any I_T nexus prevents medium removal the medium can
    // be neither ejected nor loaded.
    if (removal_prevented()) return fail(t, done, sense::medium_removal_prevented);
    // RMB = 0: the medium cannot be loaded or ejected.
    if (!cfg_.removable) return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 4, 1));
    if (start) {  // load, then the unit is ready
      loaded_.store(true);
      started_.store(true);
      return done(t);
    }
    if (!loaded_.load()) return done(t);  // already ejected
    auto eject = [this](const TaskPtr& t, TaskDone& done) {
      started_.store(false);
      loaded_.store(false);
      done(t);
    };
    if (b4 & 0x04) return eject(t, done);  // NO_FLUSH
    return store_flush("flush before eject", [this, t, eject, done = std::move(done)](std::error_code ec) mutable {
      if (ec) return fail(t, done, write_error(ec));
      eject(t, done);
    });
  }
  if (start) {
    if (!loaded_.load()) return fail(t, done, sense::medium_not_present);
    started_.store(true);
    return done(t);
  }
  if (b4 & 0x04) {  // NO_FLUSH
    started_.store(false);
    return done(t);
  }
  store_flush("flush before stop", [this, t, done = std::move(done)](std::error_code ec) mutable {
    if (ec) return fail(t, done, write_error(ec));
    started_.store(false);
    done(t);
  });
}

void BlockLu::h_prevent_allow(const TaskPtr& t, TaskDone& done) {
  const uint8_t prevent = t->cdb[4] & 0x03;
  if (prevent & 0x02)  // 10b/11b: obsolete (medium changer) values
    return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 4, 1));
  const std::string key = t->nexus ? t->nexus->key() : std::string();
  {
    std::lock_guard lk(prevent_mu_);
    if (prevent)
      prevent_.insert(key);
    else
      prevent_.erase(key);
  }
  done(t);
}

// WRITE ATOMIC (16) (SBC-4 5.48): the whole range is written by one store write under an
// exclusive range lock, so no other medium-modifying command interleaves with it, and
// READs that overlap it in time are repeated under the lock (atomic_gen_), so no READ
// returns a mix of old and new data. A short Data-Out buffer writes nothing.
void BlockLu::h_write_atomic(const TaskPtr& t, TaskDone& done) {
  const uint8_t* cdb = t->cdb.data();
  if (cdb[1] & 0xe0) return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 1, 7));  // WRPROTECT
  // ATOMIC BOUNDARY: MAXIMUM ATOMIC BOUNDARY SIZE is 0, so only one atomic operation.
  if (scsi::get_be16(&cdb[10])) return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 10));
  LbaRange r;
  r.lba = scsi::get_be64(&cdb[2]);
  r.blocks = scsi::get_be16(&cdb[12]);
  r.length_byte = 12;
  if (auto e = check_range(r, max_atomic_blocks_)) return fail(t, done, *e);
  // ATOMIC ALIGNMENT and ATOMIC TRANSFER LENGTH GRANULARITY (Block Limits VPD): whole
  // physical blocks when a physical block holds several logical blocks.
  const uint64_t pb_mask = (uint64_t(1) << cfg_.physical_block_exponent) - 1;
  if (r.lba & pb_mask) return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 2));
  if (r.blocks & pb_mask) return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 12));
  const uint64_t bytes = uint64_t(r.blocks) << bs_shift_;
  t->transfer_length = int64_t(bytes);
  if (r.blocks == 0) return done(t);
  if (t->data_out.size() < bytes) return fail(t, done, sense::invalid_field_in_command_iu);
  const bool fua = (cdb[1] & 0x08) || !modes_.wce();
  atomic_active_.fetch_add(1);
  atomic_gen_.fetch_add(1);
  TaskDone finish = [this, done = std::move(done)](const TaskPtr& t) {
    atomic_gen_.fetch_add(1);
    atomic_active_.fetch_sub(1);
    done(t);
  };
  locked_write(t, finish, r.lba, r.blocks, t->data_out.data(), fua);
}

}  // namespace stmf::sbd
