#include "mhd/takeown.h"

#include <cerrno>

#include "mhd/mhd.h"

namespace mhd {

bool valid_tkown_arg(const mhioctkown* arg) {
  return !arg || (arg->reinstate_resv_delay >= 0 && arg->min_ownership_delay >= 0 && arg->max_ownership_delay >= 0);
}

TkownParams tkown_params(const mhioctkown* arg, Ms poll) {
  TkownParams p;
  p.poll = poll.count() > 0 ? poll : kDefaultTkownPoll;
  if (!arg) return p;
  if (arg->min_ownership_delay > 0) p.min_delay = Ms(arg->min_ownership_delay);
  if (arg->max_ownership_delay > 0) p.max_delay = Ms(arg->max_ownership_delay);
  if (arg->reinstate_resv_delay > 0) p.reinstate_delay = Ms(arg->reinstate_resv_delay);
  return p;
}

int priority_reserve(TkownOps& ops) {
  switch (ops.reserve()) {
    case Reserve::kGood:
      return 0;
    case Reserve::kUnsupported:
      return ENOTSUP;
    case Reserve::kError:
      return EIO;
    case Reserve::kConflict:
      break;
  }
  // Another host holds it: break its reservation (LU reset, else target reset).
  if (!ops.lun_reset() && !ops.target_reset()) return EIO;
  switch (ops.reserve()) {
    case Reserve::kGood:
      return 0;
    case Reserve::kConflict:
      return EACCES;
    case Reserve::kUnsupported:
      return ENOTSUP;
    case Reserve::kError:
      break;
  }
  return EIO;
}

OwnershipWindow::OwnershipWindow(const TkownParams& p, Clock::time_point start)
    : p_(p), end_(start + p.max_delay), ownership_(start + p.min_delay), next_reserve_(start + p.poll) {}

OwnershipWindow::Step OwnershipWindow::next(Clock::time_point now) {
  if (done_) return {Kind::kDone, {}, error_};
  if (now >= end_) {
    done_ = true;
    error_ = EACCES;
    return {Kind::kDone, {}, error_};
  }
  if (now < next_reserve_) return {Kind::kSleepUntil, next_reserve_ < end_ ? next_reserve_ : end_, 0};
  return {Kind::kReserve, {}, 0};
}

void OwnershipWindow::reserved(Clock::time_point now, Reserve first, Reserve retry, bool reset_seen) {
  next_reserve_ = now + p_.poll;
  if (first != Reserve::kGood && retry != Reserve::kGood) {
    done_ = true;
    error_ = (first == Reserve::kConflict || retry == Reserve::kConflict) ? EACCES : EIO;
    return;
  }
  if (reset_seen || first != Reserve::kGood) {
    // The reservation was (or may have been) lost in between: start the window over.
    count_ = 0;
    ownership_ = now + p_.min_delay;
  } else {
    ++count_;
  }
  if (now >= ownership_ && count_ >= kCleanReservesNeeded) {
    done_ = true;
    error_ = 0;
  }
}

int take_ownership(TkownOps& ops, const TkownParams& p) {
  if (int e = priority_reserve(ops)) return e;
  ops.take_reset_seen();  // our own reset's unit attention, if any: the reservation is ours now
  OwnershipWindow w(p, ops.now());
  for (;;) {
    auto s = w.next(ops.now());
    switch (s.kind) {
      case OwnershipWindow::Kind::kDone:
        return s.error;
      case OwnershipWindow::Kind::kSleepUntil:
        ops.sleep_until(s.until);
        break;
      case OwnershipWindow::Kind::kReserve: {
        Reserve first = ops.reserve();
        Reserve retry = first == Reserve::kGood ? Reserve::kGood : ops.reserve();
        w.reserved(ops.now(), first, retry, ops.take_reset_seen());
        break;
      }
    }
  }
}

}  // namespace mhd
