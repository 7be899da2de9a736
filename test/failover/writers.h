// The failover and fencing tests' load and its audit (test/failover): writers streaming
// stamped, checksummed blocks through both nodes of a pair, a ledger of what each write got,
// and the checks afterwards: every acknowledged block reads back (through a node, or from the
// SAN LUN directly), and no block issued through a fenced node after a cut point landed.
// Header-only; used by failover_test.cpp and san_fencing_test.cpp.
#pragma once
#include <catch2/catch.hpp>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "test/alua/pair_scsi.h"
#include "test/integration/libiscsi_util.h"

namespace stmf::test {

inline constexpr uint32_t kStampedBlock = 512;
inline constexpr uint32_t kFirstLba = 4096, kBlocks = 512;  // each writer's range: kBlocks LBAs
inline constexpr std::array<uint8_t, 4> kStampMagic = {'S', 'T', 'M', 'P'};

// The stamp every written block carries: which node it was sent through, its sequence number
// (one counter for all writers, taken when the write is issued: a later write has a larger
// one), and its LBA; a CRC-32C over the rest of the block says it landed whole.
struct Stamp {
  uint64_t seq = 0;
  uint32_t lba = 0;
  uint8_t node = 0;
};

// CRC-32C (Castagnoli), bitwise: the blocks are few.
inline uint32_t crc32c(const uint8_t* p, size_t n, uint32_t crc = 0xffffffffu) {
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
  }
  return crc;
}

// Layout: [0,8) seq, [8,12) lba, [12,16) CRC-32C of [0,12) and [16,512), [16,20) "STMP",
// [20] node, then a pattern made of all of them.
inline uint32_t block_crc(const std::vector<uint8_t>& b) {
  return ~crc32c(b.data() + 16, b.size() - 16, crc32c(b.data(), 12));
}

inline std::vector<uint8_t> block(uint32_t lba, uint64_t seq, uint8_t node = 0) {
  std::vector<uint8_t> b(kStampedBlock);
  for (size_t i = 0; i < 8; ++i) b[i] = uint8_t(seq >> (8 * i));
  for (size_t i = 0; i < 4; ++i) b[8 + i] = uint8_t(lba >> (8 * i));
  std::copy(kStampMagic.begin(), kStampMagic.end(), b.begin() + 16);
  b[20] = node;
  for (size_t i = 21; i < b.size(); ++i) b[i] = uint8_t(seq * 31 + lba * 7 + node * 13 + i);
  const uint32_t crc = block_crc(b);
  for (size_t i = 0; i < 4; ++i) b[12 + i] = uint8_t(crc >> (8 * i));
  return b;
}

enum class StampCheck { none, whole, torn };  // no stamp (never written), intact, CRC mismatch
inline StampCheck read_stamp(const std::vector<uint8_t>& b, Stamp& s) {
  if (b.size() != kStampedBlock || !std::equal(kStampMagic.begin(), kStampMagic.end(), b.begin() + 16))
    return StampCheck::none;
  uint32_t crc = 0;
  for (size_t i = 0; i < 4; ++i) crc |= uint32_t(b[12 + i]) << (8 * i);
  s = {};
  for (size_t i = 0; i < 8; ++i) s.seq |= uint64_t(b[i]) << (8 * i);
  for (size_t i = 0; i < 4; ++i) s.lba |= uint32_t(b[8 + i]) << (8 * i);
  s.node = b[20];
  return crc == block_crc(b) ? StampCheck::whole : StampCheck::torn;
}

// What every writer had acknowledged, by LBA (the last acknowledged content wins; a write
// that was not acknowledged may or may not have landed, so its LBA may hold either).
struct Ledger {
  std::mutex mu;
  std::atomic<uint64_t> last_seq{0};  // the stamps issued so far: 1..last_seq
  std::map<uint32_t, std::vector<std::vector<uint8_t>>> maybe;  // in flight when it failed
  std::map<uint32_t, std::vector<uint8_t>> acked;
  std::vector<std::string> bad;  // non-retryable answers

  // Every write issued from now on has a stamp above this.
  uint64_t cut_point() const { return last_seq.load(); }
};

// Writes blocks through `ctx` (a path through node `node`) until `stop`; GOOD is recorded as
// acknowledged; NOT READY and unit attentions are retryable; a dead connection ends the
// writer (its node is gone).
inline void writer(Ctx& ctx, uint32_t first, uint8_t node, Ledger& ledger, std::atomic<bool>& stop,
                   std::atomic<int>& acked_after) {
  for (uint32_t i = 0; !stop; ++i) {
    const uint32_t lba = first + i % kBlocks;
    auto b = block(lba, ++ledger.last_seq, node);
    Task t(iscsi_write10_sync(ctx, 0, lba, b.data(), kStampedBlock, kStampedBlock, 0, 0, 0, 0, 0));
    std::lock_guard lk(ledger.mu);
    if (!t || t->status == SCSI_STATUS_ERROR || t->status == SCSI_STATUS_CANCELLED ||
        t->status == SCSI_STATUS_TIMEOUT) {
      ledger.maybe[lba].push_back(b);
      return;  // the connection is gone with its node (libiscsi's transport statuses)
    }
    if (t->status == SCSI_STATUS_GOOD) {
      ledger.acked[lba] = b;
      ledger.maybe.erase(lba);
      ++acked_after;
      continue;
    }
    ledger.maybe[lba].push_back(b);
    const bool retryable = t->status == SCSI_STATUS_CHECK_CONDITION &&
                           (t->sense.key == SCSI_SENSE_NOT_READY || t->sense.key == SCSI_SENSE_UNIT_ATTENTION);
    if (!retryable)
      ledger.bad.push_back("status " + std::to_string(t->status) + " sense " +
                           describe({int(t->sense.key) << 16 | int(t->sense.ascq)}));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// The two writers of every scenario: `w` (through node 1) from kFirstLba, `wa` (through
// node 0) from kFirstLba + kBlocks. Stopped and joined when they go away, so a failed
// REQUIRE cannot leave a thread running (that would abort the test before the pair is
// stopped).
struct Writers {
  Ledger ledger;
  std::atomic<bool> stop{false};
  std::atomic<int> acked_b{0}, acked_a{0};
  std::thread tb, ta;
  Writers(Ctx& w, Ctx& wa)
      : tb([this, &w] { writer(w, kFirstLba, 1, ledger, stop, acked_b); }),
        ta([this, &wa] { writer(wa, kFirstLba + kBlocks, 0, ledger, stop, acked_a); }) {}
  ~Writers() { finish(); }
  void finish() {
    stop = true;
    if (tb.joinable()) tb.join();
    if (ta.joinable()) ta.join();
  }
};

// Whether `got` is what `lba` may hold: its last acknowledged content, or that of a later
// write that failed (which may have landed).
inline bool acceptable(Ledger& ledger, uint32_t lba, const std::vector<uint8_t>& got) {
  auto a = ledger.acked.find(lba);
  if (a != ledger.acked.end() && got == a->second) return true;
  auto m = ledger.maybe.find(lba);
  return m != ledger.maybe.end() && std::find(m->second.begin(), m->second.end(), got) != m->second.end();
}

// Reads every acknowledged block back through `ctx`: the number that hold neither their
// acknowledged content nor that of a later write that failed (which may have landed).
inline size_t torn_blocks(Ledger& ledger, Ctx& ctx) {
  size_t torn = 0;
  for (auto& [lba, want] : ledger.acked)
    if (!acceptable(ledger, lba, read_blocks(ctx, lba, kStampedBlock))) ++torn;
  return torn;
}

inline bool wait_count(std::atomic<int>& n, int want) {
  const auto end = std::chrono::steady_clock::now() + kGuard;
  while (n < want && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return n >= want;
}

// "No write sent through node `node` with a stamp after `seq` (up to `until`) may be on the
// medium."
struct Cut {
  uint8_t node = 0;
  uint64_t seq = 0;
  uint64_t until = UINT64_MAX;  // a window: the writes issued while the node could not write
};

// What the SAN LUN holds in the writers' ranges, against the ledger.
struct SanAudit {
  size_t read = 0;      // blocks read
  size_t stamped = 0;   // blocks with a whole stamp
  size_t acked = 0;     // acknowledged blocks checked
  std::vector<std::string> lost;       // acknowledged, but the SAN holds an older version (or another)
  std::vector<std::string> torn;       // a stamp whose CRC does not match: a partial block
  std::vector<std::string> after_cut;  // a block issued through the cut node after the cut point
  bool ok() const { return lost.empty() && torn.empty() && after_cut.empty(); }
  std::string summary() const {
    auto first = [](const std::vector<std::string>& v) { return v.empty() ? std::string() : " (first: " + v[0] + ")"; };
    return std::to_string(read) + " blocks read, " + std::to_string(stamped) + " stamped, " + std::to_string(acked) +
           " acknowledged checked; lost " + std::to_string(lost.size()) + first(lost) + ", torn " +
           std::to_string(torn.size()) + first(torn) + ", issued after the cut " + std::to_string(after_cut.size()) +
           first(after_cut);
  }
};

// Logs `ctx` in to the LUN of `url` (iscsi://host:port/iqn/lun) and returns the LUN.
inline int login_url(Ctx& ctx, const std::string& url) {
  iscsi_url* u = iscsi_parse_full_url(ctx, url.c_str());
  REQUIRE(u);
  const int lun = u->lun;
  iscsi_set_targetname(ctx, u->target);
  iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
  iscsi_set_timeout(ctx, 10);
  iscsi_set_noautoreconnect(ctx, 1);
  const std::string portal = u->portal;
  iscsi_destroy_url(u);
  const int rc = iscsi_full_connect_sync(ctx, portal.c_str(), lun);
  INFO("login to " << url << ": " << ctx.error());
  REQUIRE(rc == 0);
  for (int i = 0; i < 8; ++i) {
    Task t(iscsi_testunitready_sync(ctx, lun));
    if (t && t->status == SCSI_STATUS_GOOD) break;
  }
  return lun;
}

// Reads both writers' ranges from the SAN LUN itself (`san` logged in with login_url to
// `lun`, not through either node) and checks them against the ledger (call it after the
// writers finished): every acknowledged block is its last acknowledged version or a later
// unacknowledged one, no stamp is torn, and with `cut` no block carries a stamp that node
// `cut->node` was given after `cut->seq` (and up to `cut->until`).
inline SanAudit audit_san(Ledger& ledger, Ctx& san, int lun, std::optional<Cut> cut = {}) {
  constexpr uint32_t kChunk = 128;  // blocks per READ
  SanAudit r;
  std::lock_guard lk(ledger.mu);
  for (uint32_t lba = kFirstLba; lba < kFirstLba + 2 * kBlocks; lba += kChunk) {
    const auto data = read_blocks(san, lun, lba, kChunk * kStampedBlock);  // a length in bytes
    REQUIRE(data.size() == size_t(kChunk) * kStampedBlock);
    for (uint32_t i = 0; i < kChunk; ++i, ++r.read) {
      const std::vector<uint8_t> got(data.begin() + i * kStampedBlock, data.begin() + (i + 1) * kStampedBlock);
      const uint32_t at = lba + i;
      Stamp s;
      const auto check = read_stamp(got, s);
      const std::string where = "LBA " + std::to_string(at);
      if (check == StampCheck::torn) r.torn.push_back(where);
      if (check == StampCheck::whole) {
        ++r.stamped;
        if (cut && s.node == cut->node && s.seq > cut->seq && s.seq <= cut->until)
          r.after_cut.push_back(where + ": stamp " + std::to_string(s.seq) + " from node " + std::to_string(s.node) +
                                ", cut at " + std::to_string(cut->seq));
      }
      if (ledger.acked.count(at)) {
        ++r.acked;
        if (!acceptable(ledger, at, got)) {
          Stamp want;
          read_stamp(ledger.acked[at], want);
          r.lost.push_back(where + ": acknowledged stamp " + std::to_string(want.seq) + ", the SAN has " +
                           (check == StampCheck::none ? std::string("no stamp") : "stamp " + std::to_string(s.seq)));
        }
      }
    }
  }
  return r;
}

}  // namespace stmf::test
