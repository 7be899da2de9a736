// The iscsi backing store against a real SAN: a second stmfd (a file LU) serves the backend
// LUN on loopback, the stmfd under test exports an iscsi-store LU over it; both are driven with
// libiscsi, the SAN also directly (what reached the backend).
#include <catch2/catch.hpp>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <fcntl.h>
#include <poll.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "core/store/store_suite.h"
#include "store_iscsi/iscsi_store.h"
#include "test/integration/daemon.h"
#include "test/integration/io_runner.h"
#include "test/integration/block_io.h"
#include "test/integration/libiscsi_util.h"

using stmf::test::Ctx;
using stmf::test::Daemon;
using stmf::test::DaemonOptions;
using stmf::test::Task;
using stmf::test::past_ua;
using Clock = std::chrono::steady_clock;
using namespace stmf::test::block_io;
namespace suite = stmf::store::test::suite;

namespace {

constexpr const char* kFrontInitiator = "iqn.2026-12.org.example:front";

DaemonOptions front_options(const Daemon& san, const std::string& extra = "") {
  DaemonOptions o;
  o.store = "iscsi";
  o.size = "0";  // the backend's capacity
  o.lun0_json_extra = ", \"backend\": {\"url\": \"" + san.url() + "\", \"initiator\": \"" + kFrontInitiator + "\"}" + extra;
  return o;
}

bool login(Ctx& ctx, const Daemon& d) {
  iscsi_set_targetname(ctx, d.iqn().c_str());
  iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
  iscsi_set_timeout(ctx, 30);
  return iscsi_full_connect_sync(ctx, d.portal().c_str(), 0) == 0;
}

// Daemon::restart() forks: keep our initiator socket out of the child, or closing it here would
// not end the TCP connection and the front would wait for it at shutdown.
void no_inherit(Ctx& c) { ::fcntl(iscsi_get_fd(c), F_SETFD, FD_CLOEXEC); }

size_t open_fds(pid_t pid) {
  size_t n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) ++n;
  return n;
}

}  // namespace

TEST_CASE("iscsi store: capacity from the backend, data both ways, FUA, SYNCHRONIZE CACHE, UNMAP pass through",
          "[integration][iscsi_store]") {
  Daemon san;  // a 64 MiB file LU (sparse: thin, so the backend offers UNMAP)
  Daemon front(front_options(san));
  Ctx fc, sc("iqn.2026-12.org.example:checker");
  REQUIRE(login(fc, front));
  REQUIRE(login(sc, san));

  const uint64_t blocks = capacity_blocks(sc);
  CHECK(blocks == (64u << 20) / kBlock);
  CHECK(capacity_blocks(fc) == blocks);
  // Through the front, checked on the SAN directly (the LU-level half of the store suite).
  lu_data_path(fc, blocks, [&](uint64_t lba, uint32_t n) { return read_blocks(sc, lba, n); });
  // Written on the SAN, read through the front.
  auto c = pattern(16 * kBlock, 3);
  write_blocks(sc, 5000, c, false);
  CHECK(read_blocks(fc, 5000, 16) == c);
  // A transfer larger than one backend piece (2048 blocks by default when unreported).
  auto big = pattern(4096 * kBlock, 4);
  write_blocks(fc, 20000, big, false);
  CHECK(read_blocks(sc, 20000, 4096) == big);
  CHECK(read_blocks(fc, 20000, 4096) == big);
}

namespace {

// The store suite's subject: an iscsi store made directly (no front daemon) over a fresh SAN
// stmfd's 64 MiB file LU, on an io_context of the test's; the medium is the SAN's LUN read
// directly. The default queue_depth + queue_limit: the operation after them in a held burst is
// refused.

struct IscsiMedium {
  stmf::test::IoRunner io;  // first: destroyed last
  Daemon san;
  Ctx checker{"iqn.2026-12.org.example:checker"};
};

suite::Subject iscsi_subject() {
  auto m = std::make_shared<IscsiMedium>();
  REQUIRE(login(m->checker, m->san));
  stmf::iscsistore::IscsiStoreOptions o;
  o.url = m->san.url();
  o.initiator = kFrontInitiator;
  auto s = stmf::test::asio_subject(m, [&](auto& io, auto& ec, auto& why) { return stmf::iscsistore::make_iscsi_store(io, o, ec, why); });
  s.caps = {.grow = suite::Grow::none, .tracks_allocation = false, .refuse_beyond = o.queue_depth + o.queue_limit};
  s.medium = [m](uint64_t off, size_t n) { return read_blocks(m->checker, off / kBlock, uint32_t(n / kBlock)); };
  return s;
}

}  // namespace

TEST_CASE("store suite: iscsi store over a SAN stmfd", "[integration][iscsi_store][store_suite]") {
  suite::run(iscsi_subject);
}

TEST_CASE("iscsi store: SAN killed -> NOT READY (becoming ready) within the bound, SAN back -> serving, no acknowledged write lost",
          "[integration][iscsi_store]") {
  Daemon san;
  Daemon front(front_options(san));
  Ctx fc, sc("iqn.2026-12.org.example:checker");
  REQUIRE(login(fc, front));

  // Acknowledged writes (no FUA, no SYNCHRONIZE CACHE) before the SAN dies.
  std::vector<std::vector<uint8_t>> written;
  for (uint32_t i = 0; i < 32; ++i) {
    written.push_back(pattern(8 * kBlock, 100 + i));
    write_blocks(fc, i * 64, written.back(), false);
  }

  const size_t fds_before = open_fds(front.pid());
  san.kill9();
  // TEST UNIT READY answers NOT READY, LOGICAL UNIT IS IN PROCESS OF BECOMING READY; bound: the
  // store notices the loss at the latest when a command times out (10 s) or the socket closes.
  bool not_ready = false;
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (!not_ready && Clock::now() < deadline) {
    // A read sent now waits for the reconnection at most retry.max_wait (10 s), then fails.
    Task r(iscsi_read16_sync(fc, 0, 0, 8 * kBlock, kBlock, 0, 0, 0, 0, 0));
    REQUIRE(r);
    if (r->status == SCSI_STATUS_CHECK_CONDITION && r->sense.key == SCSI_SENSE_UNIT_ATTENTION) continue;
    if (r->status == SCSI_STATUS_GOOD) {  // served before the loss was noticed
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    INFO("sense key " << int(r->sense.key) << " ascq " << std::hex << r->sense.ascq);
    REQUIRE(r->status == SCSI_STATUS_CHECK_CONDITION);
    CHECK(r->sense.key == SCSI_SENSE_NOT_READY);
    CHECK(r->sense.ascq == 0x0401);
    not_ready = true;
  }
  REQUIRE(not_ready);
  {
    Task t(iscsi_testunitready_sync(fc, 0));
    REQUIRE(t);
    REQUIRE(t->status == SCSI_STATUS_CHECK_CONDITION);
    CHECK(t->sense.key == SCSI_SENSE_NOT_READY);
    CHECK(t->sense.ascq == 0x0401);
  }
  // The front daemon is still serving (its other answers come) and logged the loss.
  CHECK(front.log_text().find("backend connection lost") != std::string::npos);
  // Reconnection attempts (one context each) leave no descriptor behind: a bound, generous.
  CHECK(open_fds(front.pid()) <= fds_before + 2);

  no_inherit(fc);
  san.restart();
  bool ready = false;
  const auto back_by = Clock::now() + std::chrono::seconds(30);
  while (!ready && Clock::now() < back_by) {
    Task t(iscsi_testunitready_sync(fc, 0));
    REQUIRE(t);
    ready = t->status == SCSI_STATUS_GOOD;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(ready);
  CHECK(front.log_text().find("backend connection re-established") != std::string::npos);
  REQUIRE(login(sc, san));
  for (uint32_t i = 0; i < 32; ++i) {
    CHECK(read_blocks(sc, i * 64, 8) == written[i]);
    CHECK(read_blocks(fc, i * 64, 8) == written[i]);
  }
  // And writes flow again.
  auto after = pattern(8 * kBlock, 999);
  write_blocks(fc, 4000, after, true);
  CHECK(read_blocks(sc, 4000, 8) == after);
}

TEST_CASE("iscsi store: a backend whose block size differs from the LU's is refused", "[integration][iscsi_store]") {
  Daemon san;  // 512-byte blocks
  DaemonOptions o = front_options(san, ", \"block_size\": 4096");
  // The daemon creates the LU at start: it refuses to start, saying why.
  std::unique_ptr<Daemon> front;
  std::string why;
  try {
    front = std::make_unique<Daemon>(o);
  } catch (const std::exception& e) {
    why = e.what();
  }
  REQUIRE_FALSE(front);
  CHECK(why.find("512-byte blocks but the LU's block_size is 4096") != std::string::npos);
}

TEST_CASE("iscsi store: an unreachable backend at creation is refused with the reason", "[integration][iscsi_store]") {
  DaemonOptions o;
  o.store = "iscsi";
  o.size = "0";
  const uint16_t dead = stmf::test::free_port();  // nothing listens there
  o.lun0_json_extra = ", \"backend\": {\"url\": \"iscsi://127.0.0.1:" + std::to_string(dead) +
                      "/iqn.2026-12.org.example:none/0\", \"initiator\": \"" + kFrontInitiator + "\"}";
  std::string why;
  try {
    Daemon front(o);
  } catch (const std::exception& e) {
    why = e.what();
  }
  CHECK(why.find("cannot log in to the backend") != std::string::npos);
}

namespace {
struct Async {
  bool done = false;
  int status = -1;
  int key = -1, ascq = -1;
  static void cb(iscsi_context*, int status, void* data, void* priv) {
    auto* a = static_cast<Async*>(priv);
    auto* t = static_cast<scsi_task*>(data);
    a->done = true;
    a->status = status;
    if (t) {
      a->key = t->sense.key;
      a->ascq = t->sense.ascq;
      scsi_free_scsi_task(t);
    }
  }
};
}  // namespace

TEST_CASE("iscsi store: a hung SAN (SIGSTOP): commands time out, the queue stays bounded, NOT READY, resumed: serving",
          "[integration][iscsi_store]") {
  Daemon san;
  // One command on the backend, one waiting; 2 s command timeout, 4 s retry bound.
  DaemonOptions o = front_options(san);
  o.lun0_json_extra = ", \"backend\": {\"url\": \"" + san.url() + "\", \"initiator\": \"" + kFrontInitiator +
                      "\", \"queue_depth\": 1, \"queue_limit\": 1, \"command_timeout_s\": 2, \"retry_ms\": 4000}";
  Daemon tight(o);
  Ctx fc;
  REQUIRE(login(fc, tight));
  auto before = pattern(8 * kBlock, 7);
  write_blocks(fc, 0, before, false);

  REQUIRE(::kill(san.pid(), SIGSTOP) == 0);
  // Three reads at once: one goes to the (hung) backend, one waits, the third finds the queue full.
  Async a[3];
  for (auto& x : a) REQUIRE(iscsi_read16_task(fc, 0, 0, 8 * kBlock, kBlock, 0, 0, 0, 0, 0, Async::cb, &x));
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (!(a[0].done && a[1].done && a[2].done) && Clock::now() < deadline) {
    pollfd p{iscsi_get_fd(fc), short(iscsi_which_events(fc)), 0};
    ::poll(&p, 1, 100);
    REQUIRE(iscsi_service(fc, p.revents) == 0);
  }
  ::kill(san.pid(), SIGCONT);
  REQUIRE((a[0].done && a[1].done && a[2].done));
  int busy = 0, not_ready = 0;
  for (auto& x : a) {
    INFO("status " << x.status << " key " << x.key << " ascq " << std::hex << x.ascq);
    REQUIRE(x.status == SCSI_STATUS_CHECK_CONDITION);
    if (x.key == 0xb /* ABORTED COMMAND */ && x.ascq == 0x5503) ++busy;
    if (x.key == SCSI_SENSE_NOT_READY && x.ascq == 0x0401) ++not_ready;
  }
  CHECK(busy == 1);       // refused at once: beyond queue_depth + queue_limit
  CHECK(not_ready == 2);  // the hung command timed out, both waited out retry_ms
  CHECK(tight.log_text().find("queue_limit") != std::string::npos);
  CHECK(tight.log_text().find("backend connection lost") != std::string::npos);

  // SAN resumed: the front reconnects and serves what it had.
  bool ready = false;
  const auto back_by = Clock::now() + std::chrono::seconds(30);
  while (!ready && Clock::now() < back_by) {
    Task t(iscsi_testunitready_sync(fc, 0));
    REQUIRE(t);
    ready = t->status == SCSI_STATUS_GOOD;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(ready);
  CHECK(read_blocks(fc, 0, 8) == before);
}

TEST_CASE("iscsi store: a write sent while the SAN restarts waits for the new connection and lands (retried within the bound)",
          "[integration][iscsi_store]") {
  Daemon san;
  Daemon front(front_options(san));
  Ctx fc, sc("iqn.2026-12.org.example:checker");
  REQUIRE(login(fc, front));
  auto warm = pattern(8 * kBlock, 5);
  write_blocks(fc, 100, warm, false);

  san.kill9();
  // Sent while the backend is gone: it waits (retry_ms 10 s) instead of failing.
  auto data = pattern(16 * kBlock, 6);
  Async w;
  REQUIRE(iscsi_write16_task(fc, 0, 200, data.data(), uint32_t(data.size()), kBlock, 0, 0, 1, 0, 0, Async::cb, &w));
  // Let the front see the loss and hold the write before the SAN returns.
  const auto hold = Clock::now() + std::chrono::milliseconds(300);
  while (!w.done && Clock::now() < hold) {
    pollfd p{iscsi_get_fd(fc), short(iscsi_which_events(fc)), 0};
    ::poll(&p, 1, 50);
    REQUIRE(iscsi_service(fc, p.revents) == 0);
  }
  INFO("early: status " << w.status << " key " << w.key << " ascq " << std::hex << w.ascq);
  REQUIRE_FALSE(w.done);  // not failed at once
  no_inherit(fc);
  san.restart();
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (!w.done && Clock::now() < deadline) {
    pollfd p{iscsi_get_fd(fc), short(iscsi_which_events(fc)), 0};
    ::poll(&p, 1, 100);
    REQUIRE(iscsi_service(fc, p.revents) == 0);
  }
  REQUIRE(w.done);
  INFO("status " << w.status << " key " << w.key << " ascq " << std::hex << w.ascq);
  CHECK(w.status == SCSI_STATUS_GOOD);
  REQUIRE(login(sc, san));
  CHECK(read_blocks(sc, 200, 16) == data);
  CHECK(read_blocks(sc, 100, 8) == warm);
}

TEST_CASE("iscsi store: CHAP toward the backend and its header digest", "[integration][iscsi_store]") {
  // The SAN requires CHAP of the front's initiator name (node-wide initiator secret).
  DaemonOptions so;
  so.top_json_extra = std::string(R"("initiators": [{"name": ")") + kFrontInitiator +
                      R"(", "chap_user": "front", "chap_secret": "0123456789abcdef"}], )";
  so.target_json_extra = R"("auth": "chap", )";
  Daemon san(so);
  const std::string backend = ", \"backend\": {\"url\": \"" + san.url() + "\", \"initiator\": \"" + kFrontInitiator + "\"";

  // Without the secret the LU cannot be created: the daemon says why.
  DaemonOptions bad = front_options(san);
  bad.lun0_json_extra = backend + "}";
  std::string why;
  try {
    Daemon front(bad);
  } catch (const std::exception& e) {
    why = e.what();
  }
  CHECK(why.find("cannot log in to the backend") != std::string::npos);

  DaemonOptions good = front_options(san);
  good.lun0_json_extra =
      backend + ", \"chap\": {\"user\": \"front\", \"secret\": \"0123456789abcdef\"}, \"header_digest\": true}";
  Daemon front(good);
  Ctx fc;
  REQUIRE(login(fc, front));
  auto data = pattern(8 * kBlock, 8);
  write_blocks(fc, 42, data, true);
  CHECK(read_blocks(fc, 42, 8) == data);
  // The SAN logged the front's session in with a header digest.
  const std::string log = san.log_text();
  const auto at = log.find(std::string("normal session: ") + kFrontInitiator);
  REQUIRE(at != std::string::npos);
  CHECK(log.substr(at, 400).find("HeaderDigest=true") != std::string::npos);
}

TEST_CASE("iscsi store: a SAN that hangs while idle is noticed by the idle probe: TEST UNIT READY answers NOT READY",
          "[integration][iscsi_store]") {
  Daemon san;
  DaemonOptions o = front_options(san);
  o.lun0_json_extra = ", \"backend\": {\"url\": \"" + san.url() + "\", \"initiator\": \"" + kFrontInitiator +
                      "\", \"command_timeout_s\": 2}";
  Daemon front(o);
  Ctx fc;
  REQUIRE(login(fc, front));
  {
    Task t(past_ua([&] { return iscsi_testunitready_sync(fc, 0); }));
    REQUIRE(t);
    REQUIRE(t->status == SCSI_STATUS_GOOD);
  }
  REQUIRE(::kill(san.pid(), SIGSTOP) == 0);
  // Nothing is sent: only the probe (after 5 s idle, then a 2 s command timeout) can notice.
  bool not_ready = false;
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (!not_ready && Clock::now() < deadline) {
    Task t(iscsi_testunitready_sync(fc, 0));
    REQUIRE(t);
    not_ready = t->status == SCSI_STATUS_CHECK_CONDITION && t->sense.key == SCSI_SENSE_NOT_READY && t->sense.ascq == 0x0401;
    if (!not_ready) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ::kill(san.pid(), SIGCONT);
  REQUIRE(not_ready);
  CHECK(front.log_text().find("idle probe") != std::string::npos);
  bool ready = false;
  const auto back_by = Clock::now() + std::chrono::seconds(30);
  while (!ready && Clock::now() < back_by) {
    Task t(iscsi_testunitready_sync(fc, 0));
    REQUIRE(t);
    ready = t->status == SCSI_STATUS_GOOD;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(ready);
}
