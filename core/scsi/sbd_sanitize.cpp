// Block LU: SANITIZE (SBC-4 5.30) and the sanitize states (SBC-4 4.11).
//
// OVERWRITE writes the initialization pattern over every block, OVERWRITE COUNT times (with
// INVERT, the passes alternate between the pattern and its complement, the last pass writing
// the pattern as given); BLOCK ERASE deallocates every block through the store (listed only
// over a thin store, so every block then reads as zeroes); EXIT FAILURE MODE leaves the
// failed state of a sanitize that had AUSE = 1. CRYPTOGRAPHIC ERASE has no row (INVALID FIELD
// IN CDB: nothing is encrypted).
//
// The work runs in the background one chunk at a time, each under the chunk's range lock (so
// it orders with commands that were already running when it started), and paced to
// cfg_.sanitize_rate bytes per second when that is set. While it runs, execute() refuses every
// command not marked kDuringSanitize with NOT READY, SANITIZE IN PROGRESS and the progress
// indication. The sanitize is not stopped by ABORT TASK, task set aborts, resets or the loss
// of the nexus (SBC-4 4.11.2): an aborted SANITIZE task completes (TASK ABORTED) at the next
// chunk and the sanitize goes on as if IMMED had been set.
#include <algorithm>
#include <cstring>

#include "core/it_nexus.h"
#include "core/log.h"
#include "core/scsi/cdb.h"
#include "core/scsi/opcodes.h"
#include "core/scsi/pacer.h"
#include "core/scsi/sbd_lu_impl.h"

namespace stmf::sbd {

namespace sense = scsi::sense;
using Ticket = LbaRangeLock::Ticket;

namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = stmf::logger("sbd");
  return l;
}

// Bytes written (OVERWRITE) or deallocated (BLOCK ERASE) per step, under one range lock.
constexpr uint32_t kOverwriteChunkBytes = 1u << 20;
constexpr uint32_t kEraseChunkBytes = 64u << 20;

// CDB (SBC-4 table 83): byte 1 IMMED (bit 7), AUSE (bit 5); PARAMETER LIST LENGTH in 7..8.
constexpr uint8_t kImmed = 0x80;
constexpr uint8_t kAuse = 0x20;
constexpr uint8_t kParameterListLengthByte = 7;

// OVERWRITE parameter list (SBC-4 table 86).
constexpr size_t kOverwriteHeader = 4;
constexpr uint8_t kInvert = 0x80;
constexpr uint8_t kTestMask = 0x60;
constexpr uint8_t kOverwriteCountMask = 0x1f;
constexpr uint16_t kPatternLengthByte = 2;
constexpr uint16_t kProgressScale = 0xffff;

const char* action_name(uint8_t sa) {
  switch (sa) {
    case scsi::sanitize::kOverwrite: return "OVERWRITE";
    case scsi::sanitize::kBlockErase: return "BLOCK ERASE";
    default: return "EXIT FAILURE MODE";
  }
}

}  // namespace

struct BlockLu::SanitizeOp {
  std::shared_ptr<BlockLu> keep;  // the LU lives as long as its sanitize
  TaskPtr t;
  TaskDone done;
  bool reported = false;  // the task has completed (IMMED, or aborted)
  uint8_t action = 0;
  bool ause = false;
  std::vector<uint8_t> pattern, inverted;  // one chunk of pattern blocks (OVERWRITE)
  bool invert = false;
  uint32_t passes = 1, pass = 0;
  uint64_t next = 0, end = 0, chunk_blocks = 0, n = 0;  // blocks
  uint64_t done_bytes = 0, total_bytes = 0;
  bool fua = false;
  Pacer::Clock::time_point started;
  enum class Stage : uint8_t { next, io, flush, finished } stage = Stage::next;
  Ticket ticket = 0;
  std::error_code ec;
  std::atomic<bool> claim{false};
};

std::optional<scsi::SenseCode> BlockLu::sanitize_condition() const {
  switch (sanitize_state_.load()) {
    case SanitizeState::running: return sense::not_ready_sanitize_in_progress.with_progress(sanitize_progress_.load());
    case SanitizeState::failed: return sense::sanitize_command_failed;
    case SanitizeState::idle: break;
  }
  return std::nullopt;
}

void BlockLu::h_sanitize(const TaskPtr& t, TaskDone& done) {
  const uint8_t* cdb = t->cdb.data();
  const uint8_t sa = scsi::service_action(cdb);
  const uint16_t plen = scsi::get_be16(&cdb[kParameterListLengthByte]);
  t->transfer_length = plen;
  const auto bad_length = sense::invalid_field_in_cdb.with_field(true, kParameterListLengthByte);
  auto op = std::make_shared<SanitizeOp>();
  op->action = sa;
  op->ause = cdb[1] & kAuse;
  if (sa == scsi::sanitize::kExitFailureMode) {
    if (plen) return fail(t, done, bad_length);
    // Only the failed state of a sanitize that allowed it (AUSE = 1) may be left this way
    // (SBC-4 5.30.1); outside the failed state there is nothing to leave.
    if (sanitize_state_.load() == SanitizeState::failed) {
      if (!sanitize_failed_ause_.load()) return fail(t, done, sense::invalid_field_in_cdb.with_field(true, 1, 4));
      auto failed = SanitizeState::failed;
      if (sanitize_state_.compare_exchange_strong(failed, SanitizeState::idle))
        log()->warn("LU {}: SANITIZE EXIT FAILURE MODE from {}: the LU leaves the sanitize failed state; its blocks "
                    "hold what the failed sanitize left",
                    cfg_.name, t->nexus ? t->nexus->initiator_port_name() : std::string("?"));
    }
    return done(t);
  }
  if (sa == scsi::sanitize::kOverwrite) {
    // SBC-4 5.30.3: the list holds the 4-byte header and 1..block length pattern bytes.
    if (plen <= kOverwriteHeader || plen > bs_ + kOverwriteHeader) return fail(t, done, bad_length);
    if (t->data_out.size() < plen) return fail(t, done, sense::invalid_field_in_command_iu);
    const uint8_t* p = t->data_out.data();
    const uint16_t pattern_len = scsi::get_be16(&p[kPatternLengthByte]);
    if (p[0] & kTestMask) return fail(t, done, sense::invalid_field_in_parameter_list.with_field(false, 0, 6));
    if ((p[0] & kOverwriteCountMask) == 0)
      return fail(t, done, sense::invalid_field_in_parameter_list.with_field(false, 0, 4));
    if (pattern_len == 0 || pattern_len > bs_ || pattern_len > plen - kOverwriteHeader)
      return fail(t, done, sense::invalid_field_in_parameter_list.with_field(false, kPatternLengthByte));
    op->passes = p[0] & kOverwriteCountMask;
    op->invert = (p[0] & kInvert) && op->passes > 1;
    op->chunk_blocks = std::max<uint64_t>(1, std::min<uint64_t>(blocks_, kOverwriteChunkBytes >> bs_shift_));
    op->pattern.resize(size_t(op->chunk_blocks << bs_shift_));
    for (size_t i = 0; i < op->pattern.size(); ++i)
      op->pattern[i] = p[kOverwriteHeader + (i & (bs_ - 1)) % pattern_len];
    if (op->invert) {
      op->inverted = op->pattern;
      for (auto& b : op->inverted) b = uint8_t(~b);
    }
  } else {  // BLOCK ERASE
    if (plen) return fail(t, done, bad_length);
    op->chunk_blocks = std::max<uint64_t>(1, kEraseChunkBytes >> bs_shift_);
  }
  // Enter the running state: from idle, or from the failed state (a successful sanitize
  // leaves it). A SANITIZE racing with another one sees it running.
  auto from = sanitize_state_.load();
  do {
    if (from == SanitizeState::running) return fail(t, done, *sanitize_condition());
  } while (!sanitize_state_.compare_exchange_weak(from, SanitizeState::running));
  sanitize_progress_.store(0);
  op->keep = shared_from_this();
  op->t = t;
  op->end = blocks_.load();
  op->total_bytes = std::max<uint64_t>(1, (op->end << bs_shift_) * op->passes);
  op->fua = !modes_.wce();
  op->started = Pacer::Clock::now();
  log()->warn("LU {}: SANITIZE {} from {} ({} blocks{}{}{})", cfg_.name, action_name(sa),
              t->nexus ? t->nexus->initiator_port_name() : std::string("?"), op->end,
              sa == scsi::sanitize::kOverwrite ? ", " + std::to_string(op->passes) + " pass(es)" : std::string(),
              (cdb[1] & kImmed) ? ", IMMED" : "", op->ause ? ", AUSE" : "");
  if (cdb[1] & kImmed) {  // GOOD now; the sanitize goes on in the background
    op->reported = true;
    done(t);
  } else {
    op->done = std::move(done);
  }
  sanitize_step(op);
}

// One chunk after another: lock, write or deallocate, unlock; then a flush. Completions may
// run inline: whoever of issuer and completion comes second continues (the trampoline of
// write_same_step).
void BlockLu::sanitize_step(const std::shared_ptr<SanitizeOp>& op) {
  using Stage = SanitizeOp::Stage;
  auto issue = [&op](auto&& start) {
    op->claim.store(false);
    start();
    return op->claim.exchange(true);  // true: completed inline, go on here
  };
  auto resume = [this, op] {
    if (op->claim.exchange(true)) sanitize_step(op);
  };
  for (;;) {
    // An aborted SANITIZE task (ABORT TASK, a reset, PREEMPT AND ABORT) completes now; the
    // sanitize does not stop (SBC-4 4.11.2).
    if (!op->reported && op->t->aborted.load()) {
      op->reported = true;
      TaskDone d = std::move(op->done);
      d(op->t);
    }
    if (op->ec) return sanitize_finish(op, op->ec);
    bool inline_done = false;
    switch (op->stage) {
      case Stage::next: {
        if (op->next >= op->end) {
          if (++op->pass < op->passes) {
            op->next = 0;
            continue;
          }
          op->stage = Stage::flush;
          continue;
        }
        if (const uint64_t rate = cfg_.sanitize_rate) {
          const auto due = op->started + std::chrono::nanoseconds(uint64_t(double(op->done_bytes) / double(rate) * 1e9));
          if (Pacer::Clock::now() < due) return Pacer::instance().at(due, [this, op] { sanitize_step(op); });
        }
        op->n = std::min(op->chunk_blocks, op->end - op->next);
        inline_done = issue([&] {
          locks_.acquire(op->next, op->n, [op, resume](Ticket tk) {
            op->ticket = tk;
            op->stage = Stage::io;
            resume();
          });
        });
        break;
      }
      case Stage::io: {
        const uint64_t at = op->next << bs_shift_, len = op->n << bs_shift_;
        auto io_done = [this, op, resume, len](std::error_code ec) {
          locks_.release(op->ticket);
          op->ec = ec;
          op->next += op->n;
          op->done_bytes += len;
          sanitize_progress_.store(
              uint16_t(std::min<uint64_t>(kProgressScale, (op->done_bytes * kProgressScale) / op->total_bytes)));
          op->stage = Stage::next;
          resume();
        };
        inline_done = issue([&] {
          if (op->action == scsi::sanitize::kBlockErase) return store_->unmap(at, len, io_done);
          // With INVERT the passes alternate so that the last one writes the pattern as given.
          const bool inv = op->invert && ((op->passes - 1 - op->pass) & 1);
          const auto& buf = inv ? op->inverted : op->pattern;
          store_write(at, std::span<const uint8_t>(buf.data(), size_t(len)), op->fua, io_done);
        });
        break;
      }
      case Stage::flush:
        inline_done = issue([&] {
          store_flush("sanitize", [op, resume](std::error_code ec) {
            op->ec = ec;
            op->stage = Stage::finished;
            resume();
          });
        });
        break;
      case Stage::finished:
        return sanitize_finish(op, {});
    }
    if (!inline_done) return;  // completes later; the completion continues
  }
}

void BlockLu::sanitize_finish(const std::shared_ptr<SanitizeOp>& op, std::error_code ec) {
  if (ec) {
    sanitize_failed_ause_.store(op->ause);
    sanitize_state_.store(SanitizeState::failed);
    log()->error("LU {} ({}): SANITIZE {} failed near LBA {}: {}; medium commands get MEDIUM ERROR, SANITIZE COMMAND "
                 "FAILED until a successful SANITIZE{}",
                 cfg_.name, store_->describe(), action_name(op->action), op->next, ec.message(),
                 op->ause ? " or EXIT FAILURE MODE" : "");
  } else {
    sanitize_state_.store(SanitizeState::idle);
    log()->warn("LU {}: SANITIZE {} done ({} blocks)", cfg_.name, action_name(op->action), op->end);
  }
  sanitize_progress_.store(0);
  auto keep = std::move(op->keep);  // released when this returns
  if (op->reported) return;
  op->reported = true;
  TaskDone done = std::move(op->done);
  if (ec) return fail(op->t, done, sense::sanitize_command_failed);
  done(op->t);
}

}  // namespace stmf::sbd
