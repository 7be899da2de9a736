#include "core/task_stats.h"

#include <algorithm>
#include <array>

#include "core/it_nexus.h"
#include "core/local_port.h"
#include "core/logical_unit.h"
#include "core/scsi/opcodes.h"

namespace stmf {

namespace {

using namespace scsi::op;

// Commands that move data between the initiator and the medium (SBC-3). VERIFY, WRITE SAME
// and the others count as commands, not as reads or writes.
constexpr std::array<std::pair<uint8_t, IoKind>, 13> kIoKinds{{
    {kRead6, IoKind::read},
    {kRead10, IoKind::read},
    {kRead12, IoKind::read},
    {kRead16, IoKind::read},
    {kWrite6, IoKind::write},
    {kWrite10, IoKind::write},
    {kWrite12, IoKind::write},
    {kWrite16, IoKind::write},
    {kWriteAndVerify10, IoKind::write},
    {kWriteAndVerify12, IoKind::write},
    {kWriteAndVerify16, IoKind::write},
    {kWriteAtomic16, IoKind::write},
    {kCompareAndWrite, IoKind::write},
}};

constexpr std::array<IoKind, 256> build_kinds() {
  std::array<IoKind, 256> t{};
  for (auto& [op, k] : kIoKinds) t[op] = k;
  return t;
}
constexpr auto kKindByOpcode = build_kinds();

constexpr std::array<std::pair<scsi::Status, stats::ErrorClass>, 6> kErrorOfStatus{{
    {scsi::Status::check_condition, stats::ErrorClass::check_condition},
    {scsi::Status::reservation_conflict, stats::ErrorClass::reservation_conflict},
    {scsi::Status::busy, stats::ErrorClass::busy},
    {scsi::Status::task_set_full, stats::ErrorClass::busy},
    {scsi::Status::aca_active, stats::ErrorClass::busy},
    {scsi::Status::task_aborted, stats::ErrorClass::aborted},
}};

void count_end(ScsiTask& t, bool aborted) {
  auto& s = t.stats;
  if (!s.counting) return;
  s.counting = false;
  const uint64_t now = stats_now_ns();
  const uint64_t us = now > s.start_ns ? (now - s.start_ns) / 1000 : 0;
  uint64_t rd = 0, wr = 0;
  const stats::ErrorClass* err = nullptr;
  static constexpr stats::ErrorClass kAborted = stats::ErrorClass::aborted;
  if (aborted) {
    err = &kAborted;
  } else {
    err = error_class(t.status);
    if (!err) {
      if (s.kind == IoKind::read) rd = std::min<uint64_t>(t.data_in.size(), t.expected_transfer_length);
      else if (s.kind == IoKind::write) wr = s.bytes_out;
    }
  }
  t.nexus->stats().completed(rd, wr, err, us);
  t.nexus->port().stats().completed(rd, wr, err, us);
  if (s.lu) {
    s.lu->stats().completed(rd, wr, err, us);
    s.lu.reset();
  }
}

}  // namespace

IoKind io_kind(uint8_t opcode) { return kKindByOpcode[opcode]; }

const stats::ErrorClass* error_class(scsi::Status st) {
  for (auto& e : kErrorOfStatus)
    if (e.first == st) return &e.second;
  return nullptr;
}

void count_start(ScsiTask& t) {
  auto& s = t.stats;
  s.counting = true;
  s.start_ns = stats_now_ns();
  s.kind = io_kind(t.opcode());
  s.bytes_out = t.data_out.size();
  t.nexus->stats().started();
  t.nexus->port().stats().started();
}

void count_lu(ScsiTask& t, const std::shared_ptr<LogicalUnit>& lu) {
  if (!t.stats.counting) return;
  t.stats.lu = lu;
  lu->stats().started();
}

void deliver(const TaskPtr& t) {
  count_end(*t, false);
  t->nexus->port().task_complete(t);
}

void deliver_aborted(const TaskPtr& t) {
  count_end(*t, true);
  t->nexus->port().task_aborted(t);
}

}  // namespace stmf
