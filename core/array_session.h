// Array sessions (docs/array-sessions.md; IRIX arsctl(2), array_sessions(5)): every I_T nexus
// has an array session handle (ASH), unique across the pair, built from a machine ID, an array
// ID and a counter with an increment, and Service Provider Information (SPI) reported in its
// accounting records. This header is the pure part: the handle layout, the arsctl value rules
// and the allocator. No I/O; thread-safe (one mutex), so the transports' threads allocate and
// the management thread reads and changes the settings.
//
// Errors are errno values (0 = accepted), as arsctl(2) reports them: EINVAL for a value out of
// range; on any refusal nothing changes.
#pragma once
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <optional>
#include <unordered_map>
#include <vector>

namespace stmf::ars {

using ash_t = int64_t;  // bit 63 always 0
inline constexpr ash_t kAshNone = 0;

// Layout (array_sessions(5)): bits 62-48 machine ID, 47-32 array ID, 31-0 counter. With machine
// ID 0 the handle is "local": neither ID is in it.
inline constexpr int kMachIdShift = 48;
inline constexpr int kArrayIdShift = 32;
inline constexpr int kMaxMachId = 0x7fff;
inline constexpr int kMaxArrayId = 0xffff;
inline constexpr int kDefaultArrayId = 0xffff;  // asarrayid's default
inline constexpr uint64_t kCounterMask = 0xffffffffu;

// The counter's range (min_local_paggid / max_local_paggid): fixed in stmfd, the widest the
// layout allows, so a handle is reissued only after 2^32 - 1 logins.
inline constexpr int64_t kMinCounter = 1;
inline constexpr int64_t kMaxCounter = 0xffffffff;

// Service Provider Information: 0..1024 bytes per session, 64 by default.
inline constexpr int kMaxSpiLen = 1024;
inline constexpr int kDefaultSpiLen = 64;
// Accounting record formats (SAF): 1 = fixed binary record, 2 = one JSON object per line.
inline constexpr int kSafBinary = 1;
inline constexpr int kSafJson = 2;

// Live handles the allocator remembers (one per I_T nexus; the transports' own limits keep the
// number of sessions far below this). An allocation when the set is full is refused.
inline constexpr size_t kMaxLiveHandles = 1u << 16;

constexpr uint64_t global_mask(int machid, int arrayid) {
  return machid == 0 ? 0 : (uint64_t(uint32_t(machid) & kMaxMachId) << kMachIdShift) |
                               (uint64_t(uint32_t(arrayid) & kMaxArrayId) << kArrayIdShift);
}
constexpr int ash_machid(ash_t a) { return int((uint64_t(a) >> kMachIdShift) & kMaxMachId); }
constexpr int ash_arrayid(ash_t a) { return int((uint64_t(a) >> kArrayIdShift) & kMaxArrayId); }
constexpr uint32_t ash_counter(ash_t a) { return uint32_t(uint64_t(a) & kCounterMask); }

// The value rules of arsctl(2)'s SET* codes, one function each (0 or EINVAL).
constexpr int check_saf(int v) { return v == kSafBinary || v == kSafJson ? 0 : EINVAL; }
constexpr int check_machid(int v) { return v >= -1 && v <= kMaxMachId ? 0 : EINVAL; }
constexpr int check_arrayid(int v) { return v >= -1 && v <= kMaxArrayId ? 0 : EINVAL; }
constexpr int check_counter(int64_t v, int64_t min = kMinCounter, int64_t max = kMaxCounter) {
  return v >= min && v <= max ? 0 : EINVAL;
}
// Non-zero, and |v| < max - min (the man page's words; the digest's table allows equality).
constexpr int check_increment(int64_t v, int64_t min = kMinCounter, int64_t max = kMaxCounter) {
  if (v == 0) return EINVAL;
  const int64_t mag = v < 0 ? -v : v;
  return mag < max - min ? 0 : EINVAL;
}
constexpr int check_spilen(int v) { return v >= 0 && v <= kMaxSpiLen ? 0 : EINVAL; }

// The settings arsctl(2) reads and changes (all but the counter persist: docs/array-sessions.md).
struct Settings {
  int saf = kSafBinary;
  int machid = -1;    // as set; -1 = default_machid
  int arrayid = -1;   // as set; -1 = default_arrayid
  int default_machid = 0;               // asmachid: node + 1 in an ALUA pair, else configured
  int default_arrayid = kDefaultArrayId;  // asarrayid
  int64_t increment = 1;
  int spilen = kDefaultSpiLen;          // SPI size of new sessions
  std::vector<uint8_t> default_spi;     // at most spilen bytes; the rest reads as zeroes
  // Host groups' SPI: a new session of one of these initiator names starts with it as its own.
  std::map<std::string, std::vector<uint8_t>> member_spi;
  bool operator==(const Settings&) const = default;

  int effective_machid() const { return machid == -1 ? default_machid : machid; }
  int effective_arrayid() const { return arrayid == -1 ? default_arrayid : arrayid; }
  // 0 when every value follows the rules above.
  int check() const {
    if (int e = check_saf(saf)) return e;
    if (int e = check_machid(machid)) return e;
    if (int e = check_arrayid(arrayid)) return e;
    if (default_machid < 0 || default_machid > kMaxMachId) return EINVAL;
    if (default_arrayid < 0 || default_arrayid > kMaxArrayId) return EINVAL;
    if (int e = check_increment(increment)) return e;
    if (int e = check_spilen(spilen)) return e;
    for (auto& [name, spi] : member_spi)
      if (spi.size() > size_t(kMaxSpiLen)) return EINVAL;
    return default_spi.size() <= size_t(kMaxSpiLen) ? 0 : EINVAL;
  }
};

// `spi` as `len` bytes: truncated or padded on the right with zeroes.
inline std::vector<uint8_t> fit_spi(const std::vector<uint8_t>& spi, size_t len) {
  std::vector<uint8_t> out(len, 0);
  std::copy_n(spi.begin(), std::min(len, spi.size()), out.begin());
  return out;
}

// The counter, its increment and the handles in use (vpag_makeid of array_sessions(5)).
class AshAllocator {
 public:
  explicit AshAllocator(int64_t min = kMinCounter, int64_t max = kMaxCounter, size_t max_live = kMaxLiveHandles)
      : min_(min), max_(max), max_live_(max_live), next_(min) {}

  // The next handle not in use: `mask | counter`, then the counter advances by the increment,
  // wrapping within [min, max]. `mark_live`: remembered as in use until release() (a session);
  // false for ALLOCASH, which only promises the handle is unused now. nullopt when every
  // candidate the loop tries is in use or the live set is full.
  std::optional<ash_t> allocate(uint64_t mask, bool mark_live = true) {
    if (mark_live && live_.size() >= max_live_) return std::nullopt;
    for (size_t tries = 0; tries <= live_.size(); ++tries) {
      const ash_t a = ash_t(mask | uint64_t(next_));
      advance();
      if (live_.count(a)) continue;
      if (mark_live) live_.emplace(a, 1);
      return a;
    }
    return std::nullopt;
  }
  // A handle given from outside (a proxied session's, allocated by the peer): remembered as in
  // use so the local counter never hands it out. A handle already live is counted once more
  // (the peer sent the session again while the old nexus still finishes); release() once per
  // adopt/allocate. False when the set is full.
  bool adopt(ash_t a) {
    if (auto it = live_.find(a); it != live_.end()) {
      ++it->second;
      return true;
    }
    if (live_.size() >= max_live_) return false;
    live_.emplace(a, 1);
    return true;
  }
  void release(ash_t a) {
    if (auto it = live_.find(a); it != live_.end() && --it->second == 0) live_.erase(it);
  }
  bool live(ash_t a) const { return live_.count(a) > 0; }
  size_t live_count() const { return live_.size(); }

  int64_t counter() const { return next_; }
  int64_t increment() const { return incr_; }
  int set_counter(int64_t v) {
    if (int e = check_counter(v, min_, max_)) return e;
    next_ = v;
    return 0;
  }
  int set_increment(int64_t v) {
    if (int e = check_increment(v, min_, max_)) return e;
    incr_ = v;
    return 0;
  }

 private:
  // next += incr; past max: min - 1 + (next - max); below min: max + 1 - (min - next).
  void advance() {
    const int64_t range = max_ - min_ + 1;
    int64_t step = incr_ % range;  // |incr| < max - min already; keeps the sum in range
    int64_t n = next_ + step;
    if (n > max_) n = min_ - 1 + (n - max_);
    if (n < min_) n = max_ + 1 - (min_ - n);
    next_ = n;
  }

  int64_t min_, max_;
  size_t max_live_;
  int64_t next_;
  int64_t incr_ = 1;
  std::unordered_map<ash_t, uint32_t> live_;  // handle -> holders
};

// The settings and the allocator together, behind one mutex (what the framework holds).
class ArraySessions {
 public:
  Settings settings() const {
    std::lock_guard lk(mu_);
    return s_;
  }
  // Replaces every setting (the persisted ones, at start and after a change). EINVAL leaves
  // everything as it was.
  int set_settings(const Settings& s) {
    if (int e = s.check()) return e;
    std::lock_guard lk(mu_);
    if (int e = alloc_.set_increment(s.increment)) return e;
    s_ = s;
    return 0;
  }
  // A new session's handle (nullopt: the live set is full).
  bool live(ash_t a) const {
    std::lock_guard lk(mu_);
    return alloc_.live(a);
  }
  std::optional<ash_t> new_session() {
    std::lock_guard lk(mu_);
    return alloc_.allocate(mask());
  }
  // ALLOCASH: a handle unused now, not remembered.
  std::optional<ash_t> allocash() {
    std::lock_guard lk(mu_);
    return alloc_.allocate(mask(), false);
  }
  bool adopt(ash_t a) {
    std::lock_guard lk(mu_);
    return alloc_.adopt(a);
  }
  void end_session(ash_t a) {
    std::lock_guard lk(mu_);
    alloc_.release(a);
  }
  int64_t counter() const {
    std::lock_guard lk(mu_);
    return alloc_.counter();
  }
  int set_counter(int64_t v) {
    std::lock_guard lk(mu_);
    return alloc_.set_counter(v);
  }
  size_t live_count() const {
    std::lock_guard lk(mu_);
    return alloc_.live_count();
  }

 private:
  uint64_t mask() const { return global_mask(s_.effective_machid(), s_.effective_arrayid()); }

  mutable std::mutex mu_;
  Settings s_;
  AshAllocator alloc_;
};

}  // namespace stmf::ars
