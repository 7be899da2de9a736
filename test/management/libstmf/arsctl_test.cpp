// Array sessions against a real stmfd (docs/array-sessions.md): every stmfArsctl rule (value
// accepted, value refused with its errno, nothing changed after a refusal, EPERM for an
// unprivileged caller), the settings surviving a restart, a session's ASH and SPI (stmfArsop,
// list-sessions), and the accounting records (logout, SIGKILL).
// The byte-count check reads the session counters the framework bumps (core/task_stats.h): it
// failed (counters 0) before the statistics work was merged.
#include <catch2/catch.hpp>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <libstmf.h>
#include "mgmt/client.h"
#include "test/integration/daemon.h"
#include "test/integration/second_uid.h"

using stmf::mgmt::json;
using stmf::test::as_second_uid;
using stmf::test::Daemon;
using stmf::test::require_second_uid;

namespace {

void use(const Daemon& d) { ::setenv("STMFD_SOCKET", d.socket_path().c_str(), 1); }

// stmfArsctl with an int: 0, or the errno of the refusal.
int set_int(int func, int v) { return stmfArsctl(func, &v, sizeof v) == 0 ? 0 : errno; }
int get_int(int func) {
  int v = -12345;
  REQUIRE(stmfArsctl(func, &v, sizeof v) == 0);
  return v;
}
int set_ash(int func, ash_t v) { return stmfArsctl(func, &v, sizeof v) == 0 ? 0 : errno; }
ash_t get_ash(int func) {
  ash_t v = -12345;
  REQUIRE(stmfArsctl(func, &v, sizeof v) == 0);
  return v;
}

json call(const Daemon& d, const std::string& op, const json& args = json::object()) {
  stmf::mgmt::Client c(d.socket_path());
  json out;
  auto s = c.call(op, args, out);
  INFO(op << ": " << s.message);
  REQUIRE(s.ok());
  return out;
}

struct Login {
  iscsi_context* ctx = nullptr;
  Login(const Daemon& d, const char* initiator) {
    ctx = iscsi_create_context(initiator);
    REQUIRE(ctx);
    iscsi_set_targetname(ctx, d.iqn().c_str());
    iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
    iscsi_set_header_digest(ctx, ISCSI_HEADER_DIGEST_NONE);
    iscsi_set_timeout(ctx, 10);
    const int rc = iscsi_full_connect_sync(ctx, d.portal().c_str(), 0);
    INFO(iscsi_get_error(ctx));
    REQUIRE(rc == 0);
  }
  ~Login() {
    if (ctx) iscsi_destroy_context(ctx);
  }
  void logout() {
    iscsi_logout_sync(ctx);
    iscsi_destroy_context(ctx);
    ctx = nullptr;
  }
};

// The one session of the test target (list-sessions), with its ASH.
json only_session(const Daemon& d) {
  auto s = call(d, "list-sessions", {{"target", d.iqn()}})["sessions"];
  REQUIRE(s.size() == 1);
  REQUIRE(s[0].contains("ash"));
  return s[0];
}

// The accounting records of `ash`, waiting up to 5 s for at least `n` of them.
json records_of(const Daemon& d, ash_t ash, size_t n) {
  json r;
  for (int i = 0; i < 100; ++i) {
    r = call(d, "acct", {{"ash", ash}})["records"];
    if (r.size() >= n) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return r;
}

long file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? long(st.st_size) : -1;
}

}  // namespace

TEST_CASE("arsctl: codes and buffer lengths", "[arsctl]") {
  Daemon d;
  use(d);
  int v = 0;
  CHECK(stmfArsctl(ARSCTL_NOP, nullptr, 0) == 0);
  errno = 0;
  CHECK(stmfArsctl(99, &v, sizeof v) == -1);
  CHECK(errno == EINVAL);
  CHECK(stmfArsctl(-1, &v, sizeof v) == -1);
  CHECK(errno == EINVAL);
  CHECK(stmfArsctl(ARSCTL_GETSAF, &v, 8) == -1);  // an int is 4 bytes
  CHECK(errno == EINVAL);
  CHECK(stmfArsctl(ARSCTL_GETSAF, nullptr, sizeof v) == -1);
  CHECK(errno == EFAULT);
  ash_t a = 0;
  CHECK(stmfArsctl(ARSCTL_GETASHCTR, &a, 4) == -1);  // an ash_t is 8
  CHECK(errno == EINVAL);
  CHECK(stmfArsctl(ARSCTL_ALLOCASH, &a, 4) == -1);
  CHECK(errno == EINVAL);
  CHECK(stmfArsctl(ARSCTL_ALLOCASH, &a, 16) == -1);
  CHECK(errno == EINVAL);
  uint8_t spi[2048];
  CHECK(stmfArsctl(ARSCTL_GETDFLTSPI, spi, 0) == -1);
  CHECK(errno == EINVAL);
  CHECK(stmfArsctl(ARSCTL_SETDFLTSPI, spi, MAX_SPI_LEN + 1) == -1);
  CHECK(errno == EINVAL);
}

TEST_CASE("arsctl: every SET rule: accepted, refused with EINVAL, unchanged after a refusal", "[arsctl]") {
  Daemon d;
  use(d);
  SECTION("SAF: 1 or 2") {
    CHECK(get_int(ARSCTL_GETSAF) == 1);
    CHECK(set_int(ARSCTL_SETSAF, 2) == 0);
    CHECK(get_int(ARSCTL_GETSAF) == 2);
    for (int bad : {0, 3, -1}) {
      CHECK(set_int(ARSCTL_SETSAF, bad) == EINVAL);
      CHECK(get_int(ARSCTL_GETSAF) == 2);
    }
  }
  SECTION("MACHID: -1 (default), 0, 1..32767") {
    CHECK(get_int(ARSCTL_GETMACHID) == 0);  // not in a pair: the configured default, 0
    CHECK(set_int(ARSCTL_SETMACHID, 32767) == 0);
    CHECK(get_int(ARSCTL_GETMACHID) == 32767);
    for (int bad : {32768, -2, 1 << 20}) {
      CHECK(set_int(ARSCTL_SETMACHID, bad) == EINVAL);
      CHECK(get_int(ARSCTL_GETMACHID) == 32767);
    }
    CHECK(set_int(ARSCTL_SETMACHID, 5) == 0);
    ash_t a = 0;
    REQUIRE(stmfArsctl(ARSCTL_ALLOCASH, &a, sizeof a) == 0);
    CHECK(((a >> 48) & 0x7fff) == 5);
    CHECK(((a >> 32) & 0xffff) == 0xffff);  // the default array ID
    CHECK(set_int(ARSCTL_SETMACHID, -1) == 0);
    CHECK(get_int(ARSCTL_GETMACHID) == 0);
    REQUIRE(stmfArsctl(ARSCTL_ALLOCASH, &a, sizeof a) == 0);
    CHECK((a >> 32) == 0);  // machine ID 0: a local handle
  }
  SECTION("ARRAYID: -1 (default), 0..65535") {
    CHECK(get_int(ARSCTL_GETARRAYID) == 65535);
    CHECK(set_int(ARSCTL_SETARRAYID, 0) == 0);
    CHECK(get_int(ARSCTL_GETARRAYID) == 0);
    CHECK(set_int(ARSCTL_SETARRAYID, 7) == 0);
    for (int bad : {65536, -2}) {
      CHECK(set_int(ARSCTL_SETARRAYID, bad) == EINVAL);
      CHECK(get_int(ARSCTL_GETARRAYID) == 7);
    }
    CHECK(set_int(ARSCTL_SETARRAYID, -1) == 0);
    CHECK(get_int(ARSCTL_GETARRAYID) == 65535);
  }
  SECTION("ASHCTR: 1..0xffffffff, and ALLOCASH uses it") {
    CHECK(set_ash(ARSCTL_SETASHCTR, 1000) == 0);
    CHECK(get_ash(ARSCTL_GETASHCTR) == 1000);
    for (ash_t bad : {ash_t(0), ash_t(-1), ash_t(0x100000000ll)}) {
      CHECK(set_ash(ARSCTL_SETASHCTR, bad) == EINVAL);
      CHECK(get_ash(ARSCTL_GETASHCTR) == 1000);
    }
    CHECK(set_ash(ARSCTL_SETASHCTR, 0xffffffffll) == 0);
    ash_t a = 0, b = 0;
    REQUIRE(stmfArsctl(ARSCTL_ALLOCASH, &a, sizeof a) == 0);
    REQUIRE(stmfArsctl(ARSCTL_ALLOCASH, &b, sizeof b) == 0);
    CHECK((a & 0xffffffff) == 0xffffffff);
    CHECK((b & 0xffffffff) == 1);  // wrapped to the minimum
  }
  SECTION("ASHINCR: non-zero, |v| < max - min") {
    CHECK(get_ash(ARSCTL_GETASHINCR) == 1);
    CHECK(set_ash(ARSCTL_SETASHINCR, -3) == 0);
    CHECK(get_ash(ARSCTL_GETASHINCR) == -3);
    for (ash_t bad : {ash_t(0), ash_t(0xfffffffe), -ash_t(0xfffffffe), ash_t(1) << 40}) {
      CHECK(set_ash(ARSCTL_SETASHINCR, bad) == EINVAL);
      CHECK(get_ash(ARSCTL_GETASHINCR) == -3);
    }
    CHECK(set_ash(ARSCTL_SETASHINCR, 0xfffffffd) == 0);
    CHECK(set_ash(ARSCTL_SETASHINCR, 10) == 0);
    CHECK(set_ash(ARSCTL_SETASHCTR, 100) == 0);
    ash_t a = 0, b = 0;
    REQUIRE(stmfArsctl(ARSCTL_ALLOCASH, &a, sizeof a) == 0);
    REQUIRE(stmfArsctl(ARSCTL_ALLOCASH, &b, sizeof b) == 0);
    CHECK(b - a == 10);
  }
  SECTION("DFLTSPILEN: 0..1024; DFLTSPI: short is padded, long is EINVAL, GET truncates and pads") {
    CHECK(get_int(ARSCTL_GETDFLTSPILEN) == 64);
    CHECK(set_int(ARSCTL_SETDFLTSPILEN, 16) == 0);
    for (int bad : {-1, 1025}) {
      CHECK(set_int(ARSCTL_SETDFLTSPILEN, bad) == EINVAL);
      CHECK(get_int(ARSCTL_GETDFLTSPILEN) == 16);
    }
    uint8_t in[17] = {1, 2, 3};
    REQUIRE(stmfArsctl(ARSCTL_SETDFLTSPI, in, 3) == 0);
    CHECK(stmfArsctl(ARSCTL_SETDFLTSPI, in, 17) == -1);  // longer than the SPI length (16)
    CHECK(errno == EINVAL);
    uint8_t out[20];
    std::memset(out, 0xee, sizeof out);
    REQUIRE(stmfArsctl(ARSCTL_GETDFLTSPI, out, sizeof out) == 0);
    const uint8_t want[20] = {1, 2, 3};
    CHECK(std::memcmp(out, want, sizeof out) == 0);  // unchanged by the refusal, padded with zeroes
    std::memset(out, 0xee, sizeof out);
    REQUIRE(stmfArsctl(ARSCTL_GETDFLTSPI, out, 2) == 0);
    CHECK(out[0] == 1);
    CHECK(out[1] == 2);
    CHECK(out[2] == 0xee);  // truncated: nothing written past buflen
    REQUIRE(stmfArsctl(ARSCTL_SETDFLTSPI, nullptr, 0) == 0);  // 0 bytes: the zero SPI
    REQUIRE(stmfArsctl(ARSCTL_GETDFLTSPI, out, 4) == 0);
    CHECK(out[0] == 0);
    CHECK(set_int(ARSCTL_SETDFLTSPILEN, 1024) == 0);
  }
}

TEST_CASE("arsctl: settings survive a restart, the counter starts again at its minimum", "[arsctl]") {
  Daemon d;
  use(d);
  REQUIRE(set_int(ARSCTL_SETSAF, 2) == 0);
  REQUIRE(set_int(ARSCTL_SETMACHID, 9) == 0);
  REQUIRE(set_int(ARSCTL_SETARRAYID, 3) == 0);
  REQUIRE(set_ash(ARSCTL_SETASHINCR, 5) == 0);
  REQUIRE(set_int(ARSCTL_SETDFLTSPILEN, 8) == 0);
  uint8_t spi[8] = {9, 8, 7, 6, 5, 4, 3, 2};
  REQUIRE(stmfArsctl(ARSCTL_SETDFLTSPI, spi, sizeof spi) == 0);
  REQUIRE(set_ash(ARSCTL_SETASHCTR, 777) == 0);
  REQUIRE(d.terminate(20) == 0);
  d.restart();
  CHECK(get_int(ARSCTL_GETSAF) == 2);
  CHECK(get_int(ARSCTL_GETMACHID) == 9);
  CHECK(get_int(ARSCTL_GETARRAYID) == 3);
  CHECK(get_ash(ARSCTL_GETASHINCR) == 5);
  CHECK(get_int(ARSCTL_GETDFLTSPILEN) == 8);
  uint8_t out[8] = {};
  REQUIRE(stmfArsctl(ARSCTL_GETDFLTSPI, out, sizeof out) == 0);
  CHECK(std::memcmp(out, spi, sizeof spi) == 0);
  CHECK(get_ash(ARSCTL_GETASHCTR) == 1);  // like IRIX after a reboot
}

TEST_CASE("arsctl: an unprivileged caller reads and allocates, SET* gets EPERM and changes nothing", "[arsctl]") {
  require_second_uid();
  Daemon d;
  use(d);
  struct Case {
    int func;
    int64_t value;
    bool is_ash;
  };
  const Case cases[] = {{ARSCTL_SETSAF, 2, false},      {ARSCTL_SETMACHID, 5, false},   {ARSCTL_SETARRAYID, 5, false},
                        {ARSCTL_SETASHCTR, 50, true},   {ARSCTL_SETASHINCR, 2, true},   {ARSCTL_SETDFLTSPILEN, 8, false}};
  for (auto& c : cases) {
    INFO("func " << c.func);
    CHECK(as_second_uid([&] {
            int rc;
            if (c.is_ash) {
              ash_t v = c.value;
              rc = stmfArsctl(c.func, &v, sizeof v);
            } else {
              int v = int(c.value);
              rc = stmfArsctl(c.func, &v, sizeof v);
            }
            return rc == -1 ? errno : 0;
          }) == EPERM);
  }
  CHECK(as_second_uid([] {
          uint8_t spi[4] = {1, 2, 3, 4};
          return stmfArsctl(ARSCTL_SETDFLTSPI, spi, sizeof spi) == -1 ? errno : 0;
        }) == EPERM);
  // Nothing changed.
  CHECK(get_int(ARSCTL_GETSAF) == 1);
  CHECK(get_int(ARSCTL_GETMACHID) == 0);
  CHECK(get_int(ARSCTL_GETARRAYID) == 65535);
  CHECK(get_ash(ARSCTL_GETASHCTR) == 1);
  CHECK(get_ash(ARSCTL_GETASHINCR) == 1);
  CHECK(get_int(ARSCTL_GETDFLTSPILEN) == 64);
  // GET and ALLOCASH need no privilege.
  CHECK(as_second_uid([] {
          int v = 0;
          ash_t a = 0;
          return stmfArsctl(ARSCTL_GETSAF, &v, sizeof v) == 0 && v == 1 && stmfArsctl(ARSCTL_ALLOCASH, &a, sizeof a) == 0 ? 1 : 0;
        }) == 1);
}

TEST_CASE("arsop: a session has an ASH and an SPI: info, setspi, flush", "[arsctl]") {
  Daemon d;
  use(d);
  REQUIRE(set_int(ARSCTL_SETMACHID, 3) == 0);
  REQUIRE(set_int(ARSCTL_SETDFLTSPILEN, 4) == 0);
  uint8_t dflt[4] = {0xaa, 0xbb, 0, 0};
  REQUIRE(stmfArsctl(ARSCTL_SETDFLTSPI, dflt, 2) == 0);
  Login l(d, "iqn.2026-11.org.example:ars-host");
  const json s = only_session(d);
  const ash_t ash = s["ash"].get<ash_t>();
  CHECK(((ash >> 48) & 0x7fff) == 3);
  CHECK(s["spi"] == "aabb0000");
  stmfArsInfo info;
  REQUIRE(stmfArsop(ARSOP_GETINFO, ash, &info, sizeof info) == 0);
  CHECK(info.ash == ash);
  CHECK(std::string(info.initiator).rfind("iqn.2026-11.org.example:ars-host,i,0x", 0) == 0);
  CHECK(std::string(info.target).rfind(d.iqn(), 0) == 0);
  CHECK(info.spiLen == 4);
  CHECK(info.spiSet == B_FALSE);
  CHECK(info.proxied == B_FALSE);
  CHECK(std::labs(long(info.startTime - ::time(nullptr))) < 30);
  // SETSPI: at most the session's length; NULL goes back to the default.
  uint8_t mine[5] = {1, 2, 3, 4, 5};
  CHECK(stmfArsop(ARSOP_SETSPI, ash, mine, 5) == -1);
  CHECK(errno == EINVAL);
  REQUIRE(stmfArsop(ARSOP_SETSPI, ash, mine, 1) == 0);
  uint8_t got[6];
  REQUIRE(stmfArsop(ARSOP_GETSPI, ash, got, sizeof got) == 0);
  const uint8_t want[6] = {1, 0, 0, 0, 0, 0};
  CHECK(std::memcmp(got, want, sizeof got) == 0);
  CHECK(stmfArsop(ARSOP_GETINFO, ash + 1, &info, sizeof info) == -1);
  CHECK(errno == ESRCH);
  CHECK(stmfArsop(ARSOP_GETINFO, ash, &info, 3) == -1);
  CHECK(errno == EINVAL);
  CHECK(as_second_uid([&] { return stmfArsop(ARSOP_SETSPI, ash, mine, 1) == -1 ? errno : 0; }) == EPERM);
  CHECK(as_second_uid([&] { return stmfArsop(ARSOP_FLUSHACCT, ash, nullptr, 0) == -1 ? errno : 0; }) == EPERM);
  // FLUSHACCT: a record now, flagged flushed.
  REQUIRE(stmfArsop(ARSOP_FLUSHACCT, ash, nullptr, 0) == 0);
  auto r = records_of(d, ash, 1);
  REQUIRE(r.size() == 1);
  CHECK(r[0]["flags"] == json::array({"checkpoint", "flushed"}));
  CHECK(r[0]["spi"] == "01000000");
  REQUIRE(stmfArsop(ARSOP_SETSPI, ash, nullptr, 0) == 0);
  REQUIRE(stmfArsop(ARSOP_GETSPI, ash, got, 4) == 0);
  CHECK(got[0] == 0xaa);
}

TEST_CASE("arsop: a member of a host group with an SPI starts with the group's SPI as its own", "[arsctl]") {
  stmf::test::DaemonOptions o;
  o.top_json_extra = R"("host_groups": [{"name": "billed", "members": ["iqn.2026-11.org.example:billed-host"], "spi": "0a0b0c"}], )";
  Daemon d(o);
  use(d);
  Login l(d, "iqn.2026-11.org.example:billed-host");
  const json s = only_session(d);
  CHECK(s["spi"].get<std::string>() == "0a0b0c" + std::string(122, '0'));
  stmfArsInfo info;
  REQUIRE(stmfArsop(ARSOP_GETINFO, s["ash"].get<ash_t>(), &info, sizeof info) == 0);
  CHECK(info.spiSet == B_TRUE);
  CHECK(info.spi[0] == 0x0a);
  CHECK(info.spi[2] == 0x0c);
}

TEST_CASE("accounting: a record when the session logs out, in the current format", "[arsctl]") {
  Daemon d;
  use(d);
  ash_t ash1 = 0, ash2 = 0;
  {
    Login l(d, "iqn.2026-11.org.example:acct-host");
    ash1 = only_session(d)["ash"].get<ash_t>();
    l.logout();
  }
  REQUIRE(set_int(ARSCTL_SETSAF, 2) == 0);  // the next record is a JSON line
  {
    Login l(d, "iqn.2026-11.org.example:acct-host");
    ash2 = only_session(d)["ash"].get<ash_t>();
    l.logout();
  }
  CHECK(ash2 != ash1);
  auto r1 = records_of(d, ash1, 1), r2 = records_of(d, ash2, 1);
  REQUIRE(r1.size() == 1);
  REQUIRE(r2.size() == 1);
  CHECK(r1[0]["flags"] == json::array());
  CHECK(r1[0]["initiator"].get<std::string>().rfind("iqn.2026-11.org.example:acct-host,i,0x", 0) == 0);
  CHECK(r1[0]["end_ns"].get<int64_t>() >= r1[0]["start_ns"].get<int64_t>());
  CHECK(r1[0]["spi"].get<std::string>().size() == 128);  // 64 bytes in format 1
  CHECK(r2[0]["reason"] == "logged out");
  CHECK(r2[0]["portal"] == d.portal());
  // Both formats sit in one file: binary first, then a JSON line.
  const std::string file = d.state_dir() + "/session-acct";
  FILE* f = std::fopen(file.c_str(), "rb");
  REQUIRE(f);
  char head[4] = {};
  CHECK(std::fread(head, 1, 4, f) == 4);
  std::fseek(f, 632, SEEK_SET);
  CHECK(std::fgetc(f) == '{');
  std::fclose(f);
  // Filters: by initiator, by time.
  CHECK(std::string(head, 4) == "ASR1");
  CHECK(call(d, "acct", {{"initiator", "iqn.2026-11.org.example:nobody"}})["records"].empty());
  CHECK(call(d, "acct", {{"since_ns", int64_t(::time(nullptr) + 3600) * 1000000000}})["records"].empty());
  CHECK(call(d, "acct", {{"initiator", "iqn.2026-11.org.example:acct-host"}})["records"].size() == 2);
}

TEST_CASE("accounting: sessions a SIGKILL left open are recorded as ended abnormally at the next start", "[arsctl]") {
  Daemon d;
  use(d);
  ash_t ash = 0;
  {
    Login l(d, "iqn.2026-11.org.example:killed-host");
    ash = only_session(d)["ash"].get<ash_t>();
    // The login reaches the open-sessions journal a moment after it completes (written on the
    // accounting's thread): wait for it, then kill.
    const std::string journal = d.state_dir() + "/session-acct.open";
    for (int i = 0; i < 100 && file_size(journal) < 632; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    REQUIRE(file_size(journal) == 632);
    d.kill9();
  }
  d.restart();
  auto r = records_of(d, ash, 1);
  INFO(d.log_text());
  REQUIRE(r.size() == 1);
  CHECK(r[0]["flags"] == json::array({"abnormal"}));
  CHECK(r[0]["initiator"].get<std::string>().rfind("iqn.2026-11.org.example:killed-host", 0) == 0);
  // Once only: the journal is empty after the start.
  REQUIRE(d.terminate(20) == 0);
  d.restart();
  CHECK(call(d, "acct", {{"ash", ash}})["records"].size() == 1);
}

TEST_CASE("accounting: the record holds the bytes the session moved", "[arsctl]") {
  Daemon d;
  use(d);
  constexpr int kWrites = 8, kReads = 3, kBlock = 4096;
  ash_t ash = 0;
  {
    Login l(d, "iqn.2026-11.org.example:bytes-host");
    ash = only_session(d)["ash"].get<ash_t>();
    std::vector<uint8_t> buf(kBlock, 0x5a);
    for (int i = 0; i < kWrites; ++i) {
      auto* t = iscsi_write16_sync(l.ctx, 0, uint64_t(i) * 8, buf.data(), kBlock, 512, 0, 0, 0, 0, 0);
      REQUIRE(t);
      scsi_free_scsi_task(t);
    }
    for (int i = 0; i < kReads; ++i) {
      auto* t = iscsi_read16_sync(l.ctx, 0, uint64_t(i) * 8, kBlock, 512, 0, 0, 0, 0, 0);
      REQUIRE(t);
      scsi_free_scsi_task(t);
    }
    l.logout();
  }
  auto r = records_of(d, ash, 1);
  REQUIRE(r.size() == 1);
  CHECK(r[0]["bytes_written"] == uint64_t(kWrites) * kBlock);
  CHECK(r[0]["bytes_read"] >= uint64_t(kReads) * kBlock);
  CHECK(r[0]["writes"] == uint64_t(kWrites));
}
