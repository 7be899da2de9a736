// The store suite: one set of tests for what every backing store promises through the
// BackingStore interface (backing_store.h), run on each store by its own test binary with a
// factory (docs/testing.md "The store suite"):
//   file, ram             core/store/store_suite_test.cpp       label unit
//   iscsi (a second stmfd as the SAN)  test/integration/iscsi_store_test.cpp   label integration
//   rbd (the dev cluster)  test/ceph/rbd_store_test.cpp          label ceph
// Where a store truly differs, its Capabilities say so and the check verifies the other
// behaviour (grow() refused with ENOTSUP, extent() all mapped, waiting instead of refusing):
// nothing is skipped. Each check returns "" or a description of the first problem, so that
// store_suite_test.cpp can show every check failing on a deliberately broken store.
#pragma once
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/store/store_test_util.h"

namespace stmf::store::test::suite {

constexpr uint32_t kBlock = 512;
constexpr uint64_t kMiB = uint64_t(1) << 20;
// Every subject serves this many bytes (the rbd and iscsi factories size their medium so).
constexpr uint64_t kSuiteSize = 64 * kMiB;

enum class Grow {
  none,    // grow() answers ENOTSUP and the size stays (ram, iscsi: the SAN's LUN is resized there)
  resize,  // grow() makes the store larger at once (file: the file; rbd: rbd_resize)
};

struct Capabilities {
  Grow grow = Grow::resize;
  // extent() reports an unmapped range as deallocated (file, ram); false: everything reads as
  // mapped (iscsi, rbd: all_mapped_extent, backing_store.h).
  bool tracks_allocation = true;
  // Operations beyond this many outstanding are refused at once with EBUSY (queue_depth +
  // queue_limit of the iscsi and rbd stores); 0: they wait (file: a FIFO behind queue_depth;
  // ram: inline).
  unsigned refuse_beyond = 0;
  // The medium grown from outside (rbd resize by another client) is reported to the store's
  // owner (grown_outside below); false: the store only grows through grow().
  bool notifies_growth = false;
};

struct Subject {
  // What the store needs alive (its io_context, its medium): destroyed after the store.
  std::shared_ptr<void> keep;
  std::unique_ptr<BackingStore> store;
  Capabilities caps;
  // The medium's bytes [offset, offset+n) read past the store (the file, the SAN's LUN read
  // directly, the image exported with the rbd tool); empty when there is none (ram).
  std::function<std::vector<uint8_t>(uint64_t offset, size_t n)> medium;
  // Stop and resume the delivery of the store's work (the io_context the store runs on), so
  // that a burst is queued before anything completes; needed when caps.refuse_beyond.
  std::function<void()> hold, release;
  // Grows the medium from outside to new_size; returns the size the store reported through its
  // growth notification, nullopt if none came. Needed when caps.notifies_growth.
  std::function<std::optional<uint64_t>(uint64_t new_size)> grown_outside;
  // How long a completion may take before it counts as lost.
  std::chrono::milliseconds timeout = std::chrono::duration_cast<std::chrono::milliseconds>(kTimeout);
};

using Factory = std::function<Subject()>;

// ------------------------------------------------------------------ calls that count
// One operation's completion: how often it ran and with what (a second run is a problem).
struct Call {
  std::shared_ptr<std::atomic<int>> runs = std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<std::promise<std::error_code>> result = std::make_shared<std::promise<std::error_code>>();
  std::shared_future<std::error_code> future = result->get_future().share();
  Completion cb() {
    return [runs = runs, result = result](std::error_code ec) {
      if (runs->fetch_add(1) == 0) result->set_value(ec);
    };
  }
  // The error, or a problem ("lost", "ran twice") in `problem`.
  std::error_code wait(std::chrono::milliseconds timeout, std::string& problem) const {
    if (future.wait_for(timeout) != std::future_status::ready) {
      if (problem.empty()) problem = "a completion never ran";
      return std::make_error_code(std::errc::timed_out);
    }
    if (runs->load() > 1 && problem.empty()) problem = "a completion ran " + std::to_string(runs->load()) + " times";
    return future.get();
  }
};

// Runs one call on the store; a thrown exception is a problem (errors are values).
template <class F>
std::error_code call(const Subject& s, std::string& problem, F&& start) {
  Call c;
  try {
    start(c.cb());
  } catch (const std::exception& e) {
    if (problem.empty()) problem = std::string("a call threw: ") + e.what();
    return std::make_error_code(std::errc::io_error);
  }
  return c.wait(s.timeout, problem);
}

inline std::error_code s_read(Subject& s, uint64_t off, std::span<uint8_t> b, std::string& p) {
  return call(s, p, [&](Completion d) { s.store->read(off, b, std::move(d)); });
}
inline std::error_code s_write(Subject& s, uint64_t off, std::span<const uint8_t> b, bool fua, std::string& p) {
  return call(s, p, [&](Completion d) { s.store->write(off, b, fua, std::move(d)); });
}
inline std::error_code s_flush(Subject& s, std::string& p) {
  return call(s, p, [&](Completion d) { s.store->flush(std::move(d)); });
}
inline std::error_code s_unmap(Subject& s, uint64_t off, uint64_t len, std::string& p) {
  return call(s, p, [&](Completion d) { s.store->unmap(off, len, std::move(d)); });
}

inline std::vector<uint8_t> blocks_of(uint64_t n, uint64_t seed) {
  std::vector<uint8_t> v(n * kBlock);
  fill_pattern(v, seed, 7);
  return v;
}

inline std::string at(const char* what, uint64_t off) { return std::string(what) + " at byte " + std::to_string(off); }

// Writes `data` at off, reads it back; "" when it came back the same.
inline std::string round_trip(Subject& s, uint64_t off, const std::vector<uint8_t>& data, bool fua) {
  std::string p;
  if (auto ec = s_write(s, off, data, fua, p); ec || !p.empty()) return at("write", off) + ": " + (p.empty() ? ec.message() : p);
  std::vector<uint8_t> back(data.size(), 0xee);
  if (auto ec = s_read(s, off, back, p); ec || !p.empty()) return at("read", off) + ": " + (p.empty() ? ec.message() : p);
  if (back != data) return at("data read back differs", off);
  return "";
}

// ------------------------------------------------------------------ the checks
inline std::string check_capacity(Subject& s) {
  if (s.store->size() != kSuiteSize)
    return "size() is " + std::to_string(s.store->size()) + ", not " + std::to_string(kSuiteSize);
  if (s.store->describe().empty()) return "describe() is empty";
  if (!s.store->ready()) return "a fresh store is not ready";
  return "";
}

// Block 0, a 4 KiB boundary, a 1 MiB transfer over a 4 MiB boundary (a RADOS object's), the
// last block and the last eight (FUA); a range never written reads zeroes.
inline std::string check_round_trip(Subject& s) {
  const uint64_t n = s.store->size();
  struct Piece {
    uint64_t off, blocks;
    bool fua;
  };
  const Piece pieces[] = {{0, 1, false},
                          {4096 - kBlock, 2, false},
                          {4 * kMiB - kMiB / 2, 2048, false},
                          {n - kBlock, 1, false},
                          {n - 8 * kBlock, 8, true}};
  for (const auto& pc : pieces)
    if (auto p = round_trip(s, pc.off, blocks_of(pc.blocks, pc.off), pc.fua); !p.empty()) return p;
  std::vector<uint8_t> fresh(64 * kBlock, 0xee);
  std::string p;
  if (auto ec = s_read(s, 32 * kMiB, fresh, p); ec || !p.empty()) return "read of a range never written: " + (p.empty() ? ec.message() : p);
  if (!all_zero(fresh)) return "a range never written does not read zeroes";
  return "";
}

// Beyond the end (and a range whose end wraps around) is refused with EINVAL, as a value, and
// leaves the last block as it was.
inline std::string check_out_of_range(Subject& s) {
  const uint64_t n = s.store->size();
  auto last = blocks_of(1, 99);
  if (auto p = round_trip(s, n - kBlock, last, false); !p.empty()) return p;
  std::vector<uint8_t> one(kBlock, 0x5a), two(2 * kBlock, 0x5a);
  const auto einval = std::errc::invalid_argument;  // a condition: any category's EINVAL
  struct Try {
    const char* what;
    std::function<std::error_code(std::string&)> run;
  };
  const Try tries[] = {
      {"read at the size", [&](std::string& p) { return s_read(s, n, one, p); }},
      {"write at the size", [&](std::string& p) { return s_write(s, n, one, false, p); }},
      {"write over the end", [&](std::string& p) { return s_write(s, n - kBlock, two, true, p); }},
      {"read over the end", [&](std::string& p) { return s_read(s, n - kBlock, two, p); }},
      {"unmap over the end", [&](std::string& p) { return s_unmap(s, n - kBlock, 2 * kBlock, p); }},
      {"write wrapping around", [&](std::string& p) { return s_write(s, UINT64_MAX - kBlock + 1, two, false, p); }},
      {"unmap wrapping around", [&](std::string& p) { return s_unmap(s, kBlock, UINT64_MAX - kBlock + 1, p); }},
  };
  for (const auto& t : tries) {
    std::string p;
    const auto ec = t.run(p);
    if (!p.empty()) return std::string(t.what) + ": " + p;
    if (ec != einval) return std::string(t.what) + ": not refused with EINVAL (" + (ec ? ec.message() : "accepted") + ")";
  }
  std::vector<uint8_t> back(kBlock);
  std::string p;
  if (auto ec = s_read(s, n - kBlock, back, p); ec || !p.empty()) return "the last block: " + (p.empty() ? ec.message() : p);
  if (back != last) return "a refused write changed the last block";
  return "";
}

// A FUA write is on the medium when it completes; a plain one after flush().
inline std::string check_fua_flush(Subject& s) {
  auto a = blocks_of(16, 11), b = blocks_of(16, 12);
  std::string p;
  if (auto ec = s_write(s, kMiB, a, true, p); ec || !p.empty()) return "FUA write: " + (p.empty() ? ec.message() : p);
  if (s.medium && s.medium(kMiB, a.size()) != a) return "a FUA write is not on the medium when it completed";
  if (auto ec = s_write(s, 2 * kMiB, b, false, p); ec || !p.empty()) return "write: " + (p.empty() ? ec.message() : p);
  if (auto ec = s_flush(s, p); ec || !p.empty()) return "flush: " + (p.empty() ? ec.message() : p);
  if (s.medium && s.medium(2 * kMiB, b.size()) != b) return "a written block is not on the medium after flush";
  if (auto ec = s_flush(s, p); ec || !p.empty()) return "a second flush: " + (p.empty() ? ec.message() : p);
  return "";
}

// unmap(): a whole 1 MiB range and a few odd blocks read zeroes, their neighbours stay;
// extent() reports the whole range deallocated (tracks_allocation) or mapped.
inline std::string check_unmap(Subject& s) {
  const uint64_t base = 8 * kMiB;
  auto data = blocks_of(3 * kMiB / kBlock, 21);
  std::string p;
  if (auto ec = s_write(s, base, data, false, p); ec || !p.empty()) return "write: " + (p.empty() ? ec.message() : p);
  if (auto ec = s_unmap(s, base + kMiB, kMiB, p); ec || !p.empty()) return "unmap of 1 MiB: " + (p.empty() ? ec.message() : p);
  if (auto ec = s_unmap(s, base + 3 * kBlock, 5 * kBlock, p); ec || !p.empty()) return "unmap of 5 blocks: " + (p.empty() ? ec.message() : p);
  if (auto ec = s_unmap(s, base, 0, p); ec || !p.empty()) return "unmap of nothing: " + (p.empty() ? ec.message() : p);
  auto want = data;
  std::fill(want.begin() + kMiB, want.begin() + 2 * kMiB, 0);
  std::fill(want.begin() + 3 * kBlock, want.begin() + 8 * kBlock, 0);
  std::vector<uint8_t> back(data.size(), 0xee);
  if (auto ec = s_read(s, base, back, p); ec || !p.empty()) return "read: " + (p.empty() ? ec.message() : p);
  if (back != want) {
    const auto d = std::mismatch(back.begin(), back.end(), want.begin()).first - back.begin();
    return at(want[d] ? "unmap changed a neighbouring byte" : "an unmapped range does not read zeroes", base + d);
  }
  if (s.medium && s.medium(base, want.size()) != want) return "the medium does not have the unmapped ranges zeroed";
  Extent e;
  if (auto ec = s.store->extent(base + kMiB, kMiB, e)) return "extent(): " + ec.message();
  if (e.mapped == s.caps.tracks_allocation)
    return std::string("extent() of an unmapped range says ") + (e.mapped ? "mapped" : "deallocated");
  if (e.length == 0 || e.length > kMiB) return "extent() length " + std::to_string(e.length);
  if (s.store->extent(s.store->size(), kBlock, e) != std::errc::invalid_argument)
    return "extent() at the size is not refused with EINVAL";
  return "";
}

// grow(): Grow::resize serves the new end at once, refuses shrinking; Grow::none says ENOTSUP.
inline std::string check_grow(Subject& s) {
  const uint64_t n = s.store->size(), bigger = n + 4 * kMiB;
  if (s.caps.grow == Grow::none) {
    if (auto ec = s.store->grow(bigger); ec != std::errc::operation_not_supported)
      return "grow() of a store that cannot grow: " + (ec ? ec.message() : std::string("accepted"));
    if (s.store->size() != n) return "a refused grow() changed the size";
    return "";
  }
  if (auto ec = s.store->grow(n - kMiB); ec != std::errc::invalid_argument)
    return "shrinking by grow() is not refused with EINVAL";
  if (auto ec = s.store->grow(bigger)) return "grow(): " + ec.message();
  if (s.store->size() != bigger) return "size() after grow() is " + std::to_string(s.store->size());
  if (auto p = round_trip(s, bigger - 8 * kBlock, blocks_of(8, 31), true); !p.empty()) return "after grow(): " + p;
  std::vector<uint8_t> one(kBlock);
  std::string p;
  if (s_write(s, bigger, one, false, p) != std::errc::invalid_argument)
    return "a write at the new size is not refused";
  return p;
}

// The medium grown from outside: the owner is told the new size once, the store keeps serving
// the old one until grow().
inline std::string check_growth_notice(Subject& s) {
  if (!s.caps.notifies_growth) return s.grown_outside ? "a growth hook but no notifies_growth capability" : "";
  const uint64_t n = s.store->size(), bigger = n + 8 * kMiB;
  const auto told = s.grown_outside(bigger);
  if (!told) return "no growth notification";
  if (*told != bigger) return "the notification says " + std::to_string(*told);
  if (s.store->size() != n) return "the store changed its size before grow()";
  if (auto ec = s.store->grow(bigger)) return "grow() to the notified size: " + ec.message();
  return round_trip(s, bigger - kBlock, blocks_of(1, 41), true);
}

// Several threads with many operations in flight each, on their own blocks (concurrent_integrity).
inline std::string check_concurrent(Subject& s) { return concurrent_integrity(*s.store, 4, 512, 4096); }

// A burst beyond the store's bound: with refuse_beyond, exactly the excess is refused with
// EBUSY; without, every operation completes (they wait). Every completion runs once.
inline std::string check_bounded(Subject& s) {
  constexpr unsigned kExcess = 8, kUnbounded = 1024;
  const unsigned total = s.caps.refuse_beyond ? s.caps.refuse_beyond + kExcess : kUnbounded;
  std::vector<std::vector<uint8_t>> bufs(total, std::vector<uint8_t>(kBlock));
  std::vector<Call> calls(total);
  if (s.caps.refuse_beyond) {
    if (!s.hold || !s.release) return "refuse_beyond without hold/release hooks";
    s.hold();
  }
  for (unsigned i = 0; i < total; ++i) s.store->read(uint64_t(i % 1024) * kBlock, bufs[i], calls[i].cb());
  if (s.caps.refuse_beyond) s.release();
  unsigned ok = 0, busy = 0;
  std::string p;
  for (auto& c : calls) {
    const auto ec = c.wait(s.timeout, p);
    if (!p.empty()) return p;
    if (!ec) ++ok;
    else if (ec == std::errc::device_or_resource_busy) ++busy;
    else return "an operation of the burst failed: " + ec.message();
  }
  const unsigned want_busy = s.caps.refuse_beyond ? kExcess : 0;
  if (busy != want_busy)
    return std::to_string(busy) + " of " + std::to_string(total) + " refused with EBUSY, not " + std::to_string(want_busy);
  return "";
}

// The store destroyed with operations in flight: every completion still runs, once.
inline std::string check_close_in_flight(Subject& s) {
  constexpr unsigned kOps = 256;
  std::vector<std::vector<uint8_t>> bufs(kOps, std::vector<uint8_t>(4096));
  std::vector<Call> calls(kOps);
  for (unsigned i = 0; i < kOps; ++i) {
    fill_pattern(bufs[i], i, 3);
    if (i % 2) s.store->write(uint64_t(i) * 4096, bufs[i], i % 16 == 1, calls[i].cb());
    else s.store->read(uint64_t(i) * 4096, bufs[i], calls[i].cb());
  }
  s.store.reset();
  std::string p;
  for (auto& c : calls) {
    c.wait(s.timeout, p);
    if (!p.empty()) return "after closing with I/O in flight: " + p;
  }
  return "";
}

struct Check {
  const char* name;
  std::string (*run)(Subject&);
};

inline const std::vector<Check>& checks() {
  static const std::vector<Check> all = {
      {"capacity", check_capacity},
      {"round trip at the boundaries", check_round_trip},
      {"out of range refused", check_out_of_range},
      {"FUA and flush", check_fua_flush},
      {"unmap reads back zeroes", check_unmap},
      {"grow", check_grow},
      {"growth notification", check_growth_notice},
      {"concurrent operations", check_concurrent},
      {"operations in flight bounded", check_bounded},
      {"close with I/O in flight", check_close_in_flight},
  };
  return all;
}

// Runs every check on a fresh subject of `make`, one Catch2 section each.
inline void run(const Factory& make) {
  for (const auto& c : checks()) {
    DYNAMIC_SECTION(c.name) {
      Subject s = make();
      REQUIRE(s.store);
      INFO(s.store->describe());
      CHECK(c.run(s) == "");
    }
  }
}

}  // namespace stmf::store::test::suite
