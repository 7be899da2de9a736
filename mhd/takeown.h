// The MHIOCTKOWN take-ownership algorithm (sd_take_ownership), pure: the SCSI commands and the
// clock are injected, so unit tests drive it with a fake clock and scripted outcomes.
//
//  1. Priority reserve: RESERVE; on RESERVATION CONFLICT break the other host's reservation
//     with LOGICAL UNIT RESET, else TARGET RESET (all resets fail: EIO), RESERVE again (still
//     conflict: EACCES).
//  2. Hold it: every `poll` (500 ms) RESERVE again (one retry; both fail: EACCES if either saw
//     a conflict, else EIO). A reset seen since the previous RESERVE (unit attention 29h), or a
//     first attempt that failed, restarts the window (now + min) and zeroes the count of clean
//     reserves. Success once the window has elapsed with >= 4 consecutive clean reserves;
//     reaching start + max first: EACCES.
#pragma once

#include <chrono>
#include <cstdint>

struct mhioctkown;

namespace mhd {

using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

// Defaults of <sys/mhd.h>'s MHIOCTKOWN (0 or a NULL argument selects them) and of sd.
constexpr Ms kDefaultMinOwnershipDelay{6000};
constexpr Ms kDefaultMaxOwnershipDelay{30000};
constexpr Ms kDefaultReinstateResvDelay{6000};
constexpr Ms kDefaultTkownPoll{500};
constexpr int kCleanReservesNeeded = 4;

struct TkownParams {
  Ms min_delay = kDefaultMinOwnershipDelay;
  Ms max_delay = kDefaultMaxOwnershipDelay;
  Ms reinstate_delay = kDefaultReinstateResvDelay;
  Ms poll = kDefaultTkownPoll;
};
// The parameters an MHIOCTKOWN argument asks for (NULL or 0 fields: defaults; negative: EINVAL
// is the caller's to report, see valid_tkown_arg).
TkownParams tkown_params(const mhioctkown* arg, Ms poll);
bool valid_tkown_arg(const mhioctkown* arg);

enum class Reserve { kGood, kConflict, kUnsupported, kError };

// What take_ownership needs from a disk and a clock.
class TkownOps {
 public:
  virtual ~TkownOps() = default;
  virtual Reserve reserve() = 0;
  virtual bool lun_reset() = 0;     // true: the target performed it
  virtual bool target_reset() = 0;  // true: the target performed it
  virtual bool take_reset_seen() = 0;  // a reset was observed since the last call (clears)
  virtual Clock::time_point now() = 0;
  virtual void sleep_until(Clock::time_point t) = 0;
};

// Step 1 alone: 0, EACCES, EIO or ENOTSUP.
int priority_reserve(TkownOps& ops);

// The window of step 2, as a state machine: the caller reserves when next() says so.
class OwnershipWindow {
 public:
  OwnershipWindow(const TkownParams& p, Clock::time_point start);
  enum class Kind { kSleepUntil, kReserve, kDone };
  struct Step {
    Kind kind;
    Clock::time_point until{};  // kSleepUntil
    int error = 0;              // kDone: 0 or errno
  };
  Step next(Clock::time_point now);
  // The outcome of a RESERVE at `now` and of its retry (only read when `first` failed).
  void reserved(Clock::time_point now, Reserve first, Reserve retry, bool reset_seen);
  int clean_reserves() const { return count_; }

 private:
  TkownParams p_;
  Clock::time_point end_, ownership_, next_reserve_;
  int count_ = 0;
  bool done_ = false;
  int error_ = 0;
};

// Steps 1 and 2: 0 (this host owns the disk), EACCES, EIO or ENOTSUP.
int take_ownership(TkownOps& ops, const TkownParams& p);

}  // namespace mhd
