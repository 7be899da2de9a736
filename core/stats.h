// I/O statistics (docs/metrics.md): counters kept per LU, per target port and per session
// (I_T nexus). Each is a set of relaxed atomics bumped on the I/O path (no lock, no
// allocation); readers take a Snapshot, which is a plain copy and may be a few commands out
// of step between fields. Counters only grow; rates are differences of two snapshots.
#pragma once
#include <array>
#include <atomic>
#include <bit>
#include <cstdint>

namespace stmf::stats {

// Latency histogram: bucket i counts commands that took < 2^i microseconds (bucket 0: < 1 us),
// the last bucket everything slower (>= 2^(kLatencyBuckets-2) us, about 4 s).
inline constexpr int kLatencyBuckets = 24;

// Upper bound (exclusive) of bucket i in microseconds; 0 for the last (unbounded) bucket.
constexpr uint64_t latency_bucket_limit_us(int i) { return i < kLatencyBuckets - 1 ? uint64_t(1) << i : 0; }

constexpr int latency_bucket(uint64_t us) {
  const int b = us == 0 ? 0 : int(std::bit_width(us));  // us < 2^b
  return b < kLatencyBuckets - 1 ? b : kLatencyBuckets - 1;
}

// Error classes a command can end with (besides GOOD).
enum class ErrorClass : uint8_t {
  check_condition,       // any CHECK CONDITION (sense data sent)
  reservation_conflict,  // RESERVATION CONFLICT
  busy,                  // BUSY / TASK SET FULL
  aborted,               // aborted by a task management function or a lost nexus
  count_
};
inline constexpr int kErrorClasses = int(ErrorClass::count_);

struct Snapshot {
  uint64_t commands = 0;  // every command that completed (any status)
  uint64_t reads = 0, writes = 0;  // commands that moved data in / out of the medium
  uint64_t bytes_read = 0, bytes_written = 0;
  std::array<uint64_t, kErrorClasses> errors{};
  uint64_t latency_us_sum = 0;
  std::array<uint64_t, kLatencyBuckets> latency{};
  uint64_t in_flight = 0;  // commands started and not yet completed (a gauge)

  uint64_t errors_total() const {
    uint64_t n = 0;
    for (auto e : errors) n += e;
    return n;
  }
};

// Cheap on the I/O path (docs/benchmark.md "Statistics on and off"): a command costs one
// atomic addition when it starts and three to five when it ends. `commands` is not a counter
// of its own but the sum of the latency histogram (every completed command is in exactly one
// bucket), and `in_flight` is started - completed.
class IoCounters {
 public:
  void started() { started_.fetch_add(1, std::memory_order_relaxed); }
  // A command completed: `read_bytes` / `written_bytes` moved (0 for neither), its status
  // class (nullptr for GOOD) and how long it took.
  void completed(uint64_t read_bytes, uint64_t written_bytes, const ErrorClass* error, uint64_t latency_us) {
    if (read_bytes) {
      reads_.fetch_add(1, std::memory_order_relaxed);
      bytes_read_.fetch_add(read_bytes, std::memory_order_relaxed);
    }
    if (written_bytes) {
      writes_.fetch_add(1, std::memory_order_relaxed);
      bytes_written_.fetch_add(written_bytes, std::memory_order_relaxed);
    }
    if (error) errors_[size_t(*error)].fetch_add(1, std::memory_order_relaxed);
    latency_us_sum_.fetch_add(latency_us, std::memory_order_relaxed);
    latency_[size_t(latency_bucket(latency_us))].fetch_add(1, std::memory_order_relaxed);
  }

  Snapshot snapshot() const {
    Snapshot s;
    // The histogram before `started_`: a command counted in a bucket was started before, so
    // started - commands is never negative (clamped all the same).
    for (int i = 0; i < kLatencyBuckets; ++i) {
      s.latency[size_t(i)] = latency_[size_t(i)].load(std::memory_order_relaxed);
      s.commands += s.latency[size_t(i)];
    }
    s.reads = reads_.load(std::memory_order_relaxed);
    s.writes = writes_.load(std::memory_order_relaxed);
    s.bytes_read = bytes_read_.load(std::memory_order_relaxed);
    s.bytes_written = bytes_written_.load(std::memory_order_relaxed);
    for (int i = 0; i < kErrorClasses; ++i) s.errors[size_t(i)] = errors_[size_t(i)].load(std::memory_order_relaxed);
    s.latency_us_sum = latency_us_sum_.load(std::memory_order_relaxed);
    const uint64_t started = started_.load(std::memory_order_relaxed);
    s.in_flight = started > s.commands ? started - s.commands : 0;
    return s;
  }

 private:
  std::atomic<uint64_t> started_{0}, reads_{0}, writes_{0}, bytes_read_{0}, bytes_written_{0};
  std::array<std::atomic<uint64_t>, kErrorClasses> errors_{};
  std::atomic<uint64_t> latency_us_sum_{0};
  std::array<std::atomic<uint64_t>, kLatencyBuckets> latency_{};
};

}  // namespace stmf::stats
