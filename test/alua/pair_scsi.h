// libiscsi helpers shared by the ALUA pair and failover tests (test/alua, test/failover):
// login to one node of a Pair, raw CDBs, block I/O, TEST UNIT READY loops with a hang guard,
// persistent reservation calls. Header-only; every function REQUIREs what it needs.
#pragma once
#include <catch2/catch.hpp>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "test/alua/pair.h"
#include "test/integration/libiscsi_util.h"

namespace stmf::test {

// Hang guard for conditions that must come true (never a timing assertion).
inline constexpr auto kGuard = std::chrono::seconds(30);
// TEST UNIT READY answers: 0 = GOOD, else key << 16 | asc << 8 | ascq.
inline constexpr int kUnavailable = SCSI_SENSE_NOT_READY << 16 | 0x040c;
inline constexpr int kAluaChanged = SCSI_SENSE_UNIT_ATTENTION << 16 | 0x2a06;
inline constexpr int kLunNotSupported = SCSI_SENSE_ILLEGAL_REQUEST << 16 | 0x2500;

// Logs in to node `node` of the pair and consumes the unit attentions a new nexus sees.
inline void login(Ctx& ctx, const Pair& p, int node) {
  iscsi_set_targetname(ctx, p.iqn(node).c_str());
  iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
  iscsi_set_timeout(ctx, 10);
  // A node that dies must fail the next command, not send libiscsi into reconnect attempts.
  iscsi_set_noautoreconnect(ctx, 1);
  REQUIRE(iscsi_full_connect_sync(ctx, p.portal(node).c_str(), 0) == 0);
  for (int i = 0; i < 8; ++i) {
    Task t(iscsi_testunitready_sync(ctx, 0));
    if (t && t->status == SCSI_STATUS_GOOD) break;
  }
}

// A raw CDB with a data-in buffer of `alloc` bytes.
inline Task data_in(Ctx& ctx, std::vector<uint8_t> cdb, int alloc, int lun = 0) {
  scsi_task* t = scsi_create_task(int(cdb.size()), cdb.data(), SCSI_XFER_READ, alloc);
  REQUIRE(t);
  return Task(iscsi_scsi_command_sync(ctx, lun, t, nullptr));
}

inline std::vector<uint8_t> bytes(const Task& t) {
  return std::vector<uint8_t>(t->datain.data, t->datain.data + t->datain.size);
}

inline std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t(seed + i * 7 + (i >> 9));
  return v;
}

inline void write_blocks(Ctx& ctx, int lun, uint32_t lba, std::vector<uint8_t> data) {
  Task t(iscsi_write10_sync(ctx, lun, lba, data.data(), uint32_t(data.size()), 512, 0, 0, 0, 0, 0));
  REQUIRE(t);
  REQUIRE(t->status == SCSI_STATUS_GOOD);
}
inline void write_blocks(Ctx& ctx, uint32_t lba, std::vector<uint8_t> data) { write_blocks(ctx, 0, lba, std::move(data)); }

inline std::vector<uint8_t> read_blocks(Ctx& ctx, int lun, uint32_t lba, uint32_t n) {
  Task t(iscsi_read10_sync(ctx, lun, lba, n, 512, 0, 0, 0, 0, 0));
  REQUIRE(t);
  REQUIRE(t->status == SCSI_STATUS_GOOD);
  return bytes(t);
}
inline std::vector<uint8_t> read_blocks(Ctx& ctx, uint32_t lba, uint32_t n) { return read_blocks(ctx, 0, lba, n); }

inline int tur(Ctx& ctx, int lun = 0) {
  Task t(iscsi_testunitready_sync(ctx, lun));
  if (!t) return -1;
  if (t->status == SCSI_STATUS_GOOD) return 0;
  if (t->status != SCSI_STATUS_CHECK_CONDITION) return -2;
  return int(t->sense.key) << 16 | int(t->sense.ascq);
}

inline std::string describe(const std::vector<int>& seen) {
  std::string list;
  for (int x : seen) {
    if (!list.empty()) list += ' ';
    list += std::to_string(x >> 16);
    list += '/';
    list += std::to_string((x >> 8) & 0xff);
    list += '/';
    list += std::to_string(x & 0xff);
  }
  return list;
}

// TEST UNIT READY on `lun` until `done` says stop, bounded by the hang guard; returns every
// distinct answer seen, in order.
inline std::vector<int> tur_until(Ctx& ctx, const std::function<bool(int)>& done, int lun = 0) {
  std::vector<int> seen;
  const auto end = std::chrono::steady_clock::now() + kGuard;
  while (std::chrono::steady_clock::now() < end) {
    const int s = tur(ctx, lun);
    if (seen.empty() || seen.back() != s) seen.push_back(s);
    if (done(s)) return seen;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  FAIL("TEST UNIT READY on LUN " << lun << ": condition not reached within the hang guard; answers seen "
                                 << "(key/asc/ascq): " << describe(seen));
  return seen;
}
// ... until it answers `want`.
inline std::vector<int> tur_until(Ctx& ctx, int lun, int want) {
  return tur_until(ctx, [want](int s) { return s == want; }, lun);
}

inline int pr_out(Ctx& ctx, int sa, int type, uint64_t key, uint64_t sa_key) {
  scsi_persistent_reserve_out_basic p{};
  p.reservation_key = key;
  p.service_action_reservation_key = sa_key;
  Task t(iscsi_persistent_reserve_out_sync(ctx, 0, sa, 0, type, &p));
  REQUIRE(t);
  return t->status;
}

// READ KEYS: {generation, sorted keys}.
inline std::pair<uint32_t, std::vector<uint64_t>> read_keys(Ctx& ctx) {
  Task t(iscsi_persistent_reserve_in_sync(ctx, 0, SCSI_PERSISTENT_RESERVE_READ_KEYS, 4096));
  REQUIRE(t);
  REQUIRE(t->status == SCSI_STATUS_GOOD);
  auto* k = static_cast<scsi_persistent_reserve_in_read_keys*>(scsi_datain_unmarshall(t.t));
  REQUIRE(k);
  std::vector<uint64_t> keys(k->keys, k->keys + k->num_keys);
  std::sort(keys.begin(), keys.end());
  return {k->prgeneration, keys};
}

// READ RESERVATION: {reserved, key, type}.
struct Holder {
  bool reserved = false;
  uint64_t key = 0;
  int type = 0;
  bool operator==(const Holder&) const = default;
};
inline Holder read_reservation(Ctx& ctx) {
  Task t(iscsi_persistent_reserve_in_sync(ctx, 0, SCSI_PERSISTENT_RESERVE_READ_RESERVATION, 4096));
  REQUIRE(t);
  REQUIRE(t->status == SCSI_STATUS_GOOD);
  auto* r = static_cast<scsi_persistent_reserve_in_read_reservation*>(scsi_datain_unmarshall(t.t));
  REQUIRE(r);
  return {r->reserved != 0, r->reserved ? r->reservation_key : 0, r->reserved ? int(r->pr_type) : 0};
}

}  // namespace stmf::test
