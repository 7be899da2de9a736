// Reservations against a real stmfd, driven by libiscsi: APTPL state survives SIGKILL (and
// non-APTPL state does not), and PREEMPT AND ABORT fences a node whose writes are in flight.
#include <catch2/catch.hpp>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <poll.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "mgmt/client.h"
#include "test/integration/daemon.h"
#include "test/integration/libiscsi_util.h"

using stmf::mgmt::Client;
using stmf::mgmt::json;
using stmf::test::Ctx;
using stmf::test::Daemon;
using stmf::test::Task;

namespace {

constexpr const char* kNodeA = "iqn.2026-11.org.example:node-a";
constexpr const char* kNodeB = "iqn.2026-11.org.example:node-b";



void login(Ctx& ctx, const Daemon& d) {
  iscsi_set_targetname(ctx, d.iqn().c_str());
  iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
  iscsi_set_timeout(ctx, 10);
  REQUIRE(iscsi_full_connect_sync(ctx, d.portal().c_str(), 0) == 0);
  for (int i = 0; i < 8; ++i) {  // consume the unit attentions a new nexus sees
    Task t(iscsi_testunitready_sync(ctx, 0));
    if (t && t->status == SCSI_STATUS_GOOD) break;
  }
}

int pr_out(Ctx& ctx, int sa, int type, uint64_t key, uint64_t sa_key, bool aptpl = false) {
  scsi_persistent_reserve_out_basic p{};
  p.reservation_key = key;
  p.service_action_reservation_key = sa_key;
  p.aptpl = aptpl;
  Task t(iscsi_persistent_reserve_out_sync(ctx, 0, sa, 0, type, &p));
  REQUIRE(t);
  return t->status;
}

struct Keys {
  uint32_t generation = 0;
  std::vector<uint64_t> keys;
};
Keys read_keys(Ctx& ctx) {
  Task t(iscsi_persistent_reserve_in_sync(ctx, 0, SCSI_PERSISTENT_RESERVE_READ_KEYS, 4096));
  REQUIRE(t);
  REQUIRE(t->status == SCSI_STATUS_GOOD);
  auto* k = static_cast<scsi_persistent_reserve_in_read_keys*>(scsi_datain_unmarshall(t.t));
  REQUIRE(k);
  Keys out{k->prgeneration, {}};
  for (int i = 0; i < k->num_keys; ++i) out.keys.push_back(k->keys[i]);
  return out;
}

struct Holder {
  bool reserved = false;
  uint64_t key = 0;
  int type = 0;
};
Holder read_reservation(Ctx& ctx) {
  Task t(iscsi_persistent_reserve_in_sync(ctx, 0, SCSI_PERSISTENT_RESERVE_READ_RESERVATION, 4096));
  REQUIRE(t);
  REQUIRE(t->status == SCSI_STATUS_GOOD);
  auto* r = static_cast<scsi_persistent_reserve_in_read_reservation*>(scsi_datain_unmarshall(t.t));
  REQUIRE(r);
  // libiscsi reports "a reservation exists" in `reserved` (it leaves additional_length 0).
  return {r->reserved != 0, r->reserved ? r->reservation_key : 0, r->reserved ? r->pr_type : 0};
}

}  // namespace

TEST_CASE("APTPL registrations and reservation survive SIGKILL, without APTPL they do not", "[reservations]") {
  const bool aptpl = GENERATE(true, false);
  INFO("APTPL " << aptpl);
  Daemon d;
  uint32_t generation = 0;
  {
    Ctx a(kNodeA), b(kNodeB);
    login(a, d);
    login(b, d);
    REQUIRE(pr_out(a, SCSI_PERSISTENT_RESERVE_REGISTER, 0, 0, 0xA1, aptpl) == SCSI_STATUS_GOOD);
    REQUIRE(pr_out(b, SCSI_PERSISTENT_RESERVE_REGISTER, 0, 0, 0xB2, aptpl) == SCSI_STATUS_GOOD);
    REQUIRE(pr_out(a, SCSI_PERSISTENT_RESERVE_RESERVE, SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE_REGISTRANTS_ONLY, 0xA1, 0) ==
            SCSI_STATUS_GOOD);
    auto k = read_keys(b);
    generation = k.generation;
    CHECK(k.keys == std::vector<uint64_t>{0xA1, 0xB2});
    auto h = read_reservation(b);
    CHECK(h.reserved);
    CHECK(h.key == 0xA1);
  }
  d.kill9();
  d.restart();
  Ctx c(kNodeB);
  login(c, d);
  auto k = read_keys(c);
  auto h = read_reservation(c);
  if (aptpl) {
    CHECK(k.generation == generation);
    CHECK(k.keys == std::vector<uint64_t>{0xA1, 0xB2});
    CHECK(h.reserved);
    CHECK(h.key == 0xA1);
    CHECK(h.type == SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE_REGISTRANTS_ONLY);
    // The restored reservation is enforced: an unregistered initiator cannot write.
    Ctx x("iqn.2026-11.org.example:outsider");
    login(x, d);
    std::vector<uint8_t> buf(512, 7);
    Task w(iscsi_write10_sync(x, 0, 0, buf.data(), 512, 512, 0, 0, 0, 0, 0));
    REQUIRE(w);
    CHECK(w->status == SCSI_STATUS_RESERVATION_CONFLICT);
    Client m(d.socket_path());
    json r;
    REQUIRE(m.call("list-lu", {}, r).ok());
    json pr;
    REQUIRE(m.call("list-pr", {{"guid", r["lus"][0]}}, pr).ok());
    CHECK(pr["reservations"]["registrations"].size() == 2);
    CHECK(pr["reservations"]["aptpl"] == true);
  } else {
    CHECK(k.generation == 0);
    CHECK(k.keys.empty());
    CHECK_FALSE(h.reserved);
  }
}

TEST_CASE("PREEMPT AND ABORT fences a node with writes in flight", "[reservations]") {
  Daemon d;
  Ctx a(kNodeA), b(kNodeB);
  login(a, d);
  login(b, d);
  REQUIRE(pr_out(a, SCSI_PERSISTENT_RESERVE_REGISTER, 0, 0, 0xA, false) == SCSI_STATUS_GOOD);
  REQUIRE(pr_out(b, SCSI_PERSISTENT_RESERVE_REGISTER, 0, 0, 0xB, false) == SCSI_STATUS_GOOD);
  REQUIRE(pr_out(a, SCSI_PERSISTENT_RESERVE_RESERVE, SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE_REGISTRANTS_ONLY, 0xA, 0) ==
          SCSI_STATUS_GOOD);

  // Node A streams writes (queue depth 8) over LBAs 0..255 from its own thread.
  constexpr uint32_t kBlocks = 256, kPer = 8;
  std::atomic<bool> preempted{false}, stop{false};
  struct Stats {
    int good_before = 0, good_after = 0, conflict_after = 0, other = 0;
  } stats;
  struct Io {
    Stats* stats;
    bool sent_after;
    std::vector<uint8_t> buf;
    int* outstanding;
  };
  std::thread writer([&] {
    int outstanding = 0;
    uint32_t next = 0;
    auto cb = [](iscsi_context*, int status, void* command_data, void* private_data) {
      auto* io = static_cast<Io*>(private_data);
      auto* t = static_cast<scsi_task*>(command_data);
      if (status == SCSI_STATUS_GOOD)
        ++(io->sent_after ? io->stats->good_after : io->stats->good_before);
      else if (status == SCSI_STATUS_RESERVATION_CONFLICT && io->sent_after)
        ++io->stats->conflict_after;
      else if (status != SCSI_STATUS_RESERVATION_CONFLICT)
        ++io->stats->other;
      --*io->outstanding;
      if (t) scsi_free_scsi_task(t);
      delete io;
    };
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!stop && std::chrono::steady_clock::now() < deadline) {
      while (outstanding < 8 && !stop) {
        auto* io = new Io{&stats, preempted.load(), std::vector<uint8_t>(kPer * 512, 0xAA), &outstanding};
        if (!iscsi_write10_task(a, 0, next, io->buf.data(), kPer * 512, 512, 0, 0, 0, 0, 0, cb, io)) {
          delete io;
          break;
        }
        ++outstanding;
        next = (next + kPer) % kBlocks;
      }
      pollfd pfd{iscsi_get_fd(a), short(iscsi_which_events(a)), 0};
      if (::poll(&pfd, 1, 10) > 0 && iscsi_service(a, pfd.revents) < 0) break;
    }
  });
  // Let some of A's writes land, then B preempts A's key and aborts A's tasks.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  REQUIRE(pr_out(b, SCSI_PERSISTENT_RESERVE_PREEMPT_AND_ABORT, SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE_REGISTRANTS_ONLY,
                 0xB, 0xA) == SCSI_STATUS_GOOD);
  preempted = true;
  // B now owns the LU: it overwrites the whole range with its pattern.
  std::vector<uint8_t> mine(kBlocks * 512, 0xBB);
  {
    Task w(iscsi_write10_sync(b, 0, 0, mine.data(), uint32_t(mine.size()), 512, 0, 0, 0, 0, 0));
    REQUIRE(w);
    REQUIRE(w->status == SCSI_STATUS_GOOD);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // A keeps trying meanwhile
  stop = true;
  writer.join();
  INFO("A: " << stats.good_before << " good before, " << stats.good_after << " good after, " << stats.conflict_after
             << " conflicts after, " << stats.other << " other");
  CHECK(stats.good_before > 0);
  CHECK(stats.good_after == 0);     // nothing A sent after the preempt was accepted
  CHECK(stats.conflict_after > 0);  // ... it got RESERVATION CONFLICT
  // Nothing of A's reached the medium after the preempt: B's data is intact everywhere.
  Task r(iscsi_read10_sync(b, 0, 0, kBlocks * 512, 512, 0, 0, 0, 0, 0));
  REQUIRE(r);
  REQUIRE(r->status == SCSI_STATUS_GOOD);
  REQUIRE(r->datain.size == int(kBlocks * 512));
  CHECK(std::memcmp(r->datain.data, mine.data(), mine.size()) == 0);
  // A lost its registration; B holds the reservation.
  auto k = read_keys(b);
  CHECK(k.keys == std::vector<uint64_t>{0xB});
  auto h = read_reservation(b);
  CHECK(h.key == 0xB);
}

TEST_CASE("SCSI-2 RESERVE: TEST UNIT READY from another node conflicts, nexus loss and LU reset release", "[reservations]") {
  Daemon d;
  Ctx b(kNodeB);
  login(b, d);
  auto tur = [](Ctx& c) {
    Task t(iscsi_testunitready_sync(c, 0));
    REQUIRE(t);
    return t->status;
  };
  {
    Ctx a(kNodeA);
    login(a, d);
    Task r(iscsi_reserve6_sync(a, 0));
    REQUIRE(r);
    REQUIRE(r->status == SCSI_STATUS_GOOD);
    CHECK(tur(a) == SCSI_STATUS_GOOD);
    CHECK(tur(b) == SCSI_STATUS_RESERVATION_CONFLICT);  // what mhd's MHIOCSTATUS looks for
    Task r2(iscsi_reserve6_sync(b, 0));
    REQUIRE(r2);
    CHECK(r2->status == SCSI_STATUS_RESERVATION_CONFLICT);
    CHECK(iscsi_logout_sync(a) == 0);
  }
  // A's logout ended its I_T nexus: the reservation is gone.
  CHECK(tur(b) == SCSI_STATUS_GOOD);
  {
    Task r(iscsi_reserve6_sync(b, 0));
    REQUIRE(r);
    REQUIRE(r->status == SCSI_STATUS_GOOD);
  }
  Ctx a(kNodeA);
  login(a, d);
  CHECK(tur(a) == SCSI_STATUS_RESERVATION_CONFLICT);
  REQUIRE(iscsi_task_mgmt_lun_reset_sync(a, 0) == 0);
  // LOGICAL UNIT RESET released it (A first sees the reset's unit attention).
  int st = tur(a);
  if (st == SCSI_STATUS_CHECK_CONDITION) st = tur(a);
  CHECK(st == SCSI_STATUS_GOOD);
  // While registrations exist, RESERVE(6) conflicts (SPC-3 5.6.3 exceptions aside).
  REQUIRE(pr_out(a, SCSI_PERSISTENT_RESERVE_REGISTER, 0, 0, 0x1, false) == SCSI_STATUS_GOOD);
  if (tur(b) == SCSI_STATUS_CHECK_CONDITION) tur(b);  // B's reset unit attention
  Task r3(iscsi_reserve6_sync(b, 0));
  REQUIRE(r3);
  CHECK(r3->status == SCSI_STATUS_RESERVATION_CONFLICT);
}
