// Integration tests: a real stmfd on loopback, driven by libiscsi.
#include <catch2/catch.hpp>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <atomic>
#include <csignal>
#include <cstring>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "test/integration/daemon.h"
#include "test/integration/libiscsi_util.h"

using stmf::test::Ctx;
using stmf::test::Daemon;
using stmf::test::Task;
using stmf::test::DaemonOptions;

namespace {

constexpr const char* kInitiator = "iqn.2026-11.org.example:initiator";


// Logs in to the daemon's target, LUN 0. Returns false (with the error in INFO) on failure.
bool login(Ctx& ctx, const Daemon& d, int lun = 0) {
  iscsi_set_targetname(ctx, d.iqn().c_str());
  iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
  iscsi_set_timeout(ctx, 10);
  return iscsi_full_connect_sync(ctx, d.portal().c_str(), lun) == 0;
}


std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  std::mt19937 rng(seed);
  for (auto& b : v) b = uint8_t(rng());
  return v;
}

// Clears the power-on unit attention every new nexus sees first.
void clear_ua(Ctx& ctx) {
  for (int i = 0; i < 5; ++i) {
    Task t(iscsi_testunitready_sync(ctx, 0));
    if (t && t->status == SCSI_STATUS_GOOD) return;
  }
}

}  // namespace

TEST_CASE("login, INQUIRY, READ CAPACITY, and a new nexus sees POWER ON first", "[integration]") {
  Daemon d;
  Ctx ctx;
  // Plain connect + login: iscsi_full_connect_sync would consume the unit attention itself.
  iscsi_set_targetname(ctx, d.iqn().c_str());
  iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
  REQUIRE(iscsi_connect_sync(ctx, d.portal().c_str()) == 0);
  REQUIRE(iscsi_login_sync(ctx) == 0);
  {
    Task t(iscsi_testunitready_sync(ctx, 0));
    REQUIRE(t);
    CHECK(t->status == SCSI_STATUS_CHECK_CONDITION);
    CHECK(t->sense.key == SCSI_SENSE_UNIT_ATTENTION);
    CHECK(t->sense.ascq == 0x2900);
  }
  clear_ua(ctx);
  Task inq(iscsi_inquiry_sync(ctx, 0, 0, 0, 255));
  REQUIRE(inq);
  REQUIRE(inq->status == SCSI_STATUS_GOOD);
  auto* std_inq = static_cast<scsi_inquiry_standard*>(scsi_datain_unmarshall(inq.t));
  REQUIRE(std_inq);
  CHECK(std_inq->device_type == SCSI_INQUIRY_PERIPHERAL_DEVICE_TYPE_DIRECT_ACCESS);
  Task cap(iscsi_readcapacity16_sync(ctx, 0));
  REQUIRE(cap);
  REQUIRE(cap->status == SCSI_STATUS_GOOD);
  auto* rc = static_cast<scsi_readcapacity16*>(scsi_datain_unmarshall(cap.t));
  REQUIRE(rc);
  CHECK(rc->block_length == 512);
  CHECK(rc->returned_lba + 1 == (64u << 20) / 512);
}

TEST_CASE("writes are read back intact at many sizes, through R2T and immediate data", "[integration]") {
  DaemonOptions o;
  o.iscsi_json = "\"first_burst_length\": 65536, \"max_burst_length\": 262144, \"max_recv_data_segment_length\": 65536";
  Daemon d(o);
  Ctx ctx;
  REQUIRE(login(ctx, d));
  clear_ua(ctx);
  uint64_t lba = 0;
  for (uint32_t blocks : {1u, 8u, 127u, 128u, 129u, 512u, 1024u, 2048u}) {
    auto data = pattern(blocks * 512, blocks);
    Task w(iscsi_write16_sync(ctx, 0, lba, data.data(), uint32_t(data.size()), 512, 0, 0, 0, 0, 0));
    REQUIRE(w);
    INFO("blocks " << blocks << ": " << ctx.error());
    REQUIRE(w->status == SCSI_STATUS_GOOD);
    Task r(iscsi_read16_sync(ctx, 0, lba, uint32_t(data.size()), 512, 0, 0, 0, 0, 0));
    REQUIRE(r);
    REQUIRE(r->status == SCSI_STATUS_GOOD);
    REQUIRE(r->datain.size == int(data.size()));
    CHECK(std::memcmp(r->datain.data, data.data(), data.size()) == 0);
    lba += blocks;
  }
}

TEST_CASE("header digests (CRC32C) work end to end", "[integration]") {
  Daemon d;
  Ctx ctx;
  iscsi_set_header_digest(ctx, ISCSI_HEADER_DIGEST_CRC32C);
  REQUIRE(login(ctx, d));
  clear_ua(ctx);
  auto data = pattern(64 * 1024, 7);
  Task w(iscsi_write16_sync(ctx, 0, 100, data.data(), uint32_t(data.size()), 512, 0, 0, 0, 0, 0));
  REQUIRE(w);
  REQUIRE(w->status == SCSI_STATUS_GOOD);
  Task r(iscsi_read16_sync(ctx, 0, 100, uint32_t(data.size()), 512, 0, 0, 0, 0, 0));
  REQUIRE(r);
  REQUIRE(r->status == SCSI_STATUS_GOOD);
  CHECK(std::memcmp(r->datain.data, data.data(), data.size()) == 0);
}

TEST_CASE("CHAP and mutual CHAP", "[integration]") {
  DaemonOptions o;
  o.target_json_extra =
      R"("chap": {"user": "alice", "secret": "alice-secret1", "mutual_user": "tgt", "mutual_secret": "target-secret"}, )";
  Daemon d(o);
  SECTION("no credentials: refused") {
    Ctx ctx;
    CHECK_FALSE(login(ctx, d));
  }
  SECTION("wrong secret: refused") {
    Ctx ctx;
    iscsi_set_initiator_username_pwd(ctx, "alice", "wrong-secret99");
    CHECK_FALSE(login(ctx, d));
  }
  SECTION("right secret: admitted") {
    Ctx ctx;
    iscsi_set_initiator_username_pwd(ctx, "alice", "alice-secret1");
    REQUIRE(login(ctx, d));
    clear_ua(ctx);
    Task t(iscsi_testunitready_sync(ctx, 0));
    REQUIRE(t);
    CHECK(t->status == SCSI_STATUS_GOOD);
  }
  SECTION("mutual CHAP: the target proves its secret") {
    Ctx ctx;
    iscsi_set_initiator_username_pwd(ctx, "alice", "alice-secret1");
    iscsi_set_target_username_pwd(ctx, "tgt", "target-secret");
    CHECK(login(ctx, d));
  }
  SECTION("mutual CHAP with the wrong expected target secret: the initiator refuses") {
    Ctx ctx;
    iscsi_set_initiator_username_pwd(ctx, "alice", "alice-secret1");
    iscsi_set_target_username_pwd(ctx, "tgt", "not-the-secret");
    CHECK_FALSE(login(ctx, d));
  }
}

TEST_CASE("discovery with SendTargets lists the target and its portal", "[integration]") {
  Daemon d;
  Ctx ctx;
  iscsi_set_session_type(ctx, ISCSI_SESSION_DISCOVERY);
  REQUIRE(iscsi_connect_sync(ctx, d.portal().c_str()) == 0);
  REQUIRE(iscsi_login_sync(ctx) == 0);
  auto* addrs = iscsi_discovery_sync(ctx);
  REQUIRE(addrs);
  CHECK(std::string(addrs->target_name) == d.iqn());
  REQUIRE(addrs->portals);
  CHECK(std::string(addrs->portals->portal) == d.portal() + ",1");
  iscsi_free_discovery_data(ctx, addrs);
  iscsi_logout_sync(ctx);
}

TEST_CASE("unknown target names are refused at login", "[integration]") {
  Daemon d;
  Ctx ctx;
  iscsi_set_targetname(ctx, "iqn.2026-11.org.example:nosuch");
  iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
  CHECK(iscsi_full_connect_sync(ctx, d.portal().c_str(), 0) != 0);
}

TEST_CASE("many sessions at once, each writing and reading its own region", "[integration]") {
  Daemon d;
  constexpr int kSessions = 24;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int s = 0; s < kSessions; ++s) {
    threads.emplace_back([&, s] {
      std::string name = std::string(kInitiator) + "-" + std::to_string(s);
      Ctx ctx(name.c_str());
      if (!login(ctx, d)) return;
      clear_ua(ctx);
      for (int i = 0; i < 20; ++i) {
        auto data = pattern(8192, s * 100 + i);
        uint64_t lba = uint64_t(s) * 1024 + i * 16;
        Task w(iscsi_write10_sync(ctx, 0, uint32_t(lba), data.data(), 8192, 512, 0, 0, 0, 0, 0));
        if (!w || w->status != SCSI_STATUS_GOOD) return;
        Task r(iscsi_read10_sync(ctx, 0, uint32_t(lba), 8192, 512, 0, 0, 0, 0, 0));
        if (!r || r->status != SCSI_STATUS_GOOD || std::memcmp(r->datain.data, data.data(), 8192) != 0) return;
      }
      iscsi_logout_sync(ctx);
      ++ok;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == kSessions);
}

TEST_CASE("task management: LUN reset raises a unit attention, ABORT TASK SET completes", "[integration]") {
  Daemon d;
  Ctx a, b("iqn.2026-11.org.example:other");
  REQUIRE(login(a, d));
  REQUIRE(login(b, d));
  clear_ua(a);
  clear_ua(b);
  CHECK(iscsi_task_mgmt_abort_task_set_sync(a, 0) == 0);
  CHECK(iscsi_task_mgmt_lun_reset_sync(a, 0) == 0);
  for (auto* c : {&a, &b}) {
    Task t(iscsi_testunitready_sync(*c, 0));
    REQUIRE(t);
    CHECK(t->status == SCSI_STATUS_CHECK_CONDITION);
    CHECK(t->sense.key == SCSI_SENSE_UNIT_ATTENTION);
    CHECK(t->sense.ascq == 0x2903);  // BUS DEVICE RESET FUNCTION OCCURRED
  }
  CHECK(iscsi_task_mgmt_target_warm_reset_sync(a) == 0);
  Task t(iscsi_testunitready_sync(b, 0));
  REQUIRE(t);
  CHECK(t->sense.key == SCSI_SENSE_UNIT_ATTENTION);
}

TEST_CASE("an unmapped LUN answers LOGICAL UNIT NOT SUPPORTED, REPORT LUNS lists the mapped ones", "[integration]") {
  DaemonOptions o;
  o.luns = 2;
  Daemon d(o);
  Ctx ctx;
  REQUIRE(login(ctx, d));
  clear_ua(ctx);
  Task t(iscsi_testunitready_sync(ctx, 7));
  REQUIRE(t);
  CHECK(t->status == SCSI_STATUS_CHECK_CONDITION);
  CHECK(t->sense.key == SCSI_SENSE_ILLEGAL_REQUEST);
  CHECK(t->sense.ascq == 0x2500);
  Task rl(iscsi_reportluns_sync(ctx, 0, 256));
  REQUIRE(rl);
  REQUIRE(rl->status == SCSI_STATUS_GOOD);
  auto* list = static_cast<scsi_reportluns_list*>(scsi_datain_unmarshall(rl.t));
  REQUIRE(list);
  REQUIRE(list->num == 2);
  CHECK(list->luns[0] == 0);
  CHECK(list->luns[1] == 1);
}

TEST_CASE("SIGTERM logs sessions out and the daemon exits 0", "[integration]") {
  Daemon d;
  Ctx ctx;
  REQUIRE(login(ctx, d));
  clear_ua(ctx);
  // The initiator is idle (libiscsi only reads when asked), so the daemon closes the session
  // at its deadline; it must still exit 0 within the bound.
  CHECK(d.terminate(20) == 0);
  CHECK(d.log_text().find("stmfd stopped") != std::string::npos);
}

TEST_CASE("SIGPIPE (a write to a peer that went away, e.g. the SAN under an iscsi store) does not end the daemon",
          "[integration]") {
  Daemon d;
  Ctx ctx;
  REQUIRE(login(ctx, d));
  clear_ua(ctx);
  // libiscsi writes with writev(): a SAN killed under an iscsi store raised SIGPIPE in stmfd,
  // whose default action ended it silently (no core, no log line).
  REQUIRE(::kill(d.pid(), SIGPIPE) == 0);
  INFO("the daemon's exit status, if it ended (128 + 13 = SIGPIPE)");
  REQUIRE(d.wait_exit(1) == -1);  // still running (a signal's default action is immediate)
  Task t(iscsi_testunitready_sync(ctx, 0));
  REQUIRE(t);
  CHECK(t->status == SCSI_STATUS_GOOD);
  iscsi_logout_sync(ctx);
  CHECK(d.terminate(20) == 0);  // alive until SIGTERM, and it ends well
}

TEST_CASE("A second SIGINT ends the daemon at once, without waiting out the drain", "[integration]") {
  DaemonOptions o;
  o.top_json_extra = "\"shutdown_timeout_s\": 600, ";
  Daemon d(o);
  Ctx ctx;
  REQUIRE(login(ctx, d));
  clear_ua(ctx);
  // The first SIGINT starts the graceful shutdown; the idle session never answers the
  // logout request, so the drain would wait 600 s for it.
  ::kill(d.pid(), SIGINT);
  for (int i = 0; i < 500 && d.log_text().find("draining") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(d.log_text().find("draining") != std::string::npos);
  REQUIRE(::kill(d.pid(), 0) == 0);  // still draining
  // The second one (Ctrl-C again) closes the session and stops now, long before 600 s.
  ::kill(d.pid(), SIGINT);
  CHECK(d.wait_exit(30) == 0);
  const auto log = d.log_text();
  CHECK(log.find("signal 2 again: closing 1 connection(s) now") != std::string::npos);
  CHECK(log.find("stmfd stopped") != std::string::npos);
}
