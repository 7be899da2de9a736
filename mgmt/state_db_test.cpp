#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "mgmt/state_db.h"

using namespace stmf::mgmt;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/stmf-statedb-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string db() const { return path + "/stmf.db"; }
};

// Raw SQL on the database file, behind StateDb's back (foreign keys off, as the sqlite3 CLI).
void raw_exec(const std::string& file, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  INFO(sql << ": " << (err ? err : ""));
  sqlite3_free(err);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

std::string raw_integrity(const std::string& file) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  std::string out = "prepare failed";
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
    out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
  sqlite3_finalize(s);
  sqlite3_close(db);
  return out;
}

std::vector<char> read_file(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}
void write_file(const std::string& p, const std::vector<char>& d) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(d.data(), std::streamsize(d.size()));
}

std::unique_ptr<StateDb> must_open(const std::string& dir) {
  std::string why;
  auto db = StateDb::open(dir, why);
  INFO(why);
  REQUIRE(db);
  return db;
}

std::string refused(const std::string& dir) {
  std::string why;
  auto db = StateDb::open(dir, why);
  REQUIRE_FALSE(db);
  CHECK(why.find(dir + "/stmf.db") != std::string::npos);
  CHECK(why.find('\n') == std::string::npos);
  return why;
}

const uint32_t kCompany = 0x123456;

// A configuration that sets every field, mostly to non-default values.
Config full_config() {
  Config c;
  c.portals = {{"127.0.0.1", 3260}, {"::1", 3261}, {"0.0.0.0", 13260}};

  LuConfig f;
  f.guid = derive_guid(kCompany, "/var/tmp/a.img");
  f.name = "file lu";
  f.store = "file";
  f.backing = "/var/tmp/a.img";
  f.size = uint64_t(1) << 40;
  f.block_size = 512;
  f.physical_block_size = 4096;
  f.write_protect = true;
  f.write_cache = false;
  f.removable = true;
  f.direct = true;
  f.serial = "SER-0001";
  f.vendor = "ACME";
  f.product = "Disk 9000";
  f.mgmt_url = "https://example.org/lu?a=1&b='x'";
  f.online = false;
  LuConfig r;
  r.guid = derive_guid(kCompany, "ram:r");
  r.name = "r";
  r.store = "ram";
  r.size = 64 << 20;
  LuConfig n;
  n.guid = derive_guid(kCompany, "null:n");
  n.name = "n \"quoted\" ; DROP TABLE lus; --";
  n.store = "null";
  n.size = uint64_t(1) << 50;
  n.block_size = 4096;
  n.physical_block_size = 4096 * 8;
  n.vendor = "";
  n.product = "";
  c.lus = {f, r, n};

  c.host_groups = {{"hg-a", {"iqn.1993-08.org.debian:01:aaa", "iqn.1993-08.org.debian:01:bbb"}},
                   {"hg-empty", {}},
                   {"hg-eui", {"eui.0123456789abcdef", "naa.60144f0000000000"}}};
  c.target_groups = {{"tg-a", {"iqn.2026-11.org.example:t0"}}, {"tg-empty", {}}};

  const std::string orphan = derive_guid(kCompany, "deleted lu");  // views outlive LUs
  c.views = {{f.guid, 0, "hg-a", "tg-a", 0},
             {r.guid, 0, std::nullopt, std::nullopt, 1},
             {n.guid, 3, "hg-a", std::nullopt, 16383},
             {orphan, 0, std::nullopt, "tg-empty", 7},
             {f.guid, 5, "hg-eui", "tg-a", 2}};

  TargetConfig t0;
  t0.iqn = "iqn.2026-11.org.example:t0";
  t0.alias = "first";
  t0.tpgt = 2;
  t0.chap = ChapConfig{"user0", "secret-0123456", "mutual0", "msecret-012345"};
  t0.initiators = {"iqn.1993-08.org.debian:01:bbb", "iqn.1993-08.org.debian:01:aaa"};
  TargetConfig t1;
  t1.iqn = "iqn.2026-11.org.example:t1";
  t1.tpgt = 65535;
  t1.online = false;
  TargetConfig t2;
  t2.iqn = "iqn.2026-11.org.example:t2";
  t2.chap = ChapConfig{"user2", "secret-2222222", "", ""};
  c.targets = {t0, t1, t2};

  IscsiConfig& i = c.iscsi;
  i.max_recv_data_segment_length = 8192;
  i.max_burst_length = 16776192;
  i.first_burst_length = 4096;
  i.immediate_data = false;
  i.initial_r2t = true;
  i.max_outstanding_r2t = 4;
  i.header_digest = {"None"};
  i.data_digest = {"None", "CRC32C"};
  i.queue_depth = 32;
  i.nop_in_interval_s = 0;
  i.nop_in_timeout_s = 5;
  i.login_timeout_s = 60;
  c.management = {"/run/stmf/custom.sock", "stmfadm"};
  c.company_id = kCompany;
  c.threads = 4;
  c.shutdown_timeout_s = 30;
  c.log_level = "debug";
  c.service_online = false;
  return c;
}

// The configuration of generation g (crash test): LU names carry g.
Config gen_config(uint64_t g) {
  Config c;
  c.portals = {{"127.0.0.1", uint16_t(3260 + g % 100)}};
  c.threads = uint32_t(g % 200);
  for (uint64_t i = 0; i < 1 + g % 4; ++i) {
    LuConfig l;
    l.name = "gen-" + std::to_string(g) + "-" + std::to_string(i);
    l.guid = derive_guid(c.company_id, l.name);
    l.store = "ram";
    l.size = (g + 1) << 20;
    c.lus.push_back(l);
    c.views.push_back({l.guid, 0, std::nullopt, std::nullopt, i});
  }
  return c;
}

}  // namespace

TEST_CASE("state db: a new database is empty and holds no configuration", "[statedb]") {
  TempDir d;
  auto db = must_open(d.path);
  CHECK(db->empty());
  CHECK(db->generation() == 0);
  CHECK(db->path() == d.db());
  std::string why;
  CHECK_FALSE(db->load(why));
  CHECK(why.find("no configuration") != std::string::npos);
  db.reset();
  // Still empty after a reopen; the file is private (it holds CHAP secrets).
  db = must_open(d.path);
  CHECK(db->empty());
  CHECK((fs::status(d.db()).permissions() & (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none);
}

TEST_CASE("state db: every field round-trips exactly, order included", "[statedb]") {
  TempDir d;
  const Config c = full_config();
  ConfigError e;
  INFO(e.message());
  REQUIRE(validate(c, e));
  {
    auto db = must_open(d.path);
    std::string why;
    INFO(why);
    REQUIRE(db->save(c, why));
    CHECK_FALSE(db->empty());
    CHECK(db->generation() == 1);
    auto back = db->load(why);
    REQUIRE(back);
    CHECK(*back == c);
  }
  // Reopened: same configuration, same generation; the next save continues from there.
  {
    auto db = must_open(d.path);
    CHECK_FALSE(db->empty());
    CHECK(db->generation() == 1);
    std::string why;
    auto back = db->load(why);
    INFO(why);
    REQUIRE(back);
    CHECK(*back == c);
    CHECK(back->targets[0].chap == c.targets[0].chap);
    CHECK_FALSE(back->targets[1].chap);
    CHECK(back->views[1].host_group == std::nullopt);

    // A minimal configuration (all vectors empty) replaces it entirely.
    Config empty;
    REQUIRE(db->save(empty, why));
    CHECK(db->generation() == 2);
    back = db->load(why);
    REQUIRE(back);
    CHECK(*back == empty);
  }
  auto db = must_open(d.path);
  CHECK(db->generation() == 2);
  std::string why;
  auto back = db->load(why);
  REQUIRE(back);
  CHECK(*back == Config{});
}

TEST_CASE("state db: a failed save leaves the previous configuration intact", "[statedb]") {
  TempDir d;
  auto db = must_open(d.path);
  const Config good = full_config();
  std::string why;
  REQUIRE(db->save(good, why));

  SECTION("a view naming a missing host group is refused") {
    Config bad = good;
    bad.views[0].host_group = "no-such-group";
    CHECK_FALSE(db->save(bad, why));
    CHECK(why.find("no-such-group") != std::string::npos);
  }
  SECTION("a database error in the middle of the transaction rolls everything back") {
    // A trigger aborts the insertion of one LU, after the old rows were deleted.
    raw_exec(d.db(),
             "CREATE TRIGGER boom BEFORE INSERT ON lus WHEN NEW.name = 'boom' "
             "BEGIN SELECT RAISE(ABORT, 'forced failure'); END");
    Config bad = gen_config(7);
    bad.lus.back().name = "boom";
    CHECK_FALSE(db->save(bad, why));
    CHECK(why.find("forced failure") != std::string::npos);
  }
  CHECK(db->generation() == 1);
  auto back = db->load(why);
  REQUIRE(back);
  CHECK(*back == good);
  db.reset();
  db = must_open(d.path);
  CHECK(db->generation() == 1);
  back = db->load(why);
  REQUIRE(back);
  CHECK(*back == good);
  // And the database still takes saves.
  REQUIRE(db->save(gen_config(3), why));
  CHECK(db->generation() == 2);
}

TEST_CASE("state db: a file that is not a state database is refused", "[statedb]") {
  TempDir d;
  std::string why;

  SECTION("random bytes") {
    std::mt19937 rng(42);
    std::vector<char> junk(16384);
    for (auto& b : junk) b = char(rng());
    write_file(d.db(), junk);
    why = refused(d.path);
    CHECK(why.find("not a valid stmfd state database") != std::string::npos);
  }
  SECTION("a text file") {
    std::ofstream(d.db()) << "{\"portals\": []}\n";
    why = refused(d.path);
    CHECK(why.find("not a valid stmfd state database") != std::string::npos);
  }
  SECTION("another application's SQLite database") {
    raw_exec(d.db(), "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1)");
    why = refused(d.path);
    CHECK(why.find("not an stmfd state database") != std::string::npos);
  }

  // Damaged copies of a real database with enough rows to span many pages.
  auto make_real = [&] {
    auto db = must_open(d.path);
    Config c;
    for (int i = 0; i < 300; ++i) {
      LuConfig l;
      l.name = "lu-" + std::to_string(i) + std::string(100, 'x');
      l.guid = derive_guid(c.company_id, l.name);
      l.store = "ram";
      l.size = 1 << 20;
      c.lus.push_back(l);
    }
    REQUIRE(db->save(c, why));
    db.reset();
    REQUIRE_FALSE(fs::exists(d.db() + "-wal"));
    return read_file(d.db());
  };
  SECTION("a truncated database") {
    auto bytes = make_real();
    REQUIRE(bytes.size() > 8 * 4096);
    bytes.resize(bytes.size() / 2 + 100);
    write_file(d.db(), bytes);
    why = refused(d.path);
    CHECK((why.find("integrity_check") != std::string::npos || why.find("not a valid") != std::string::npos));
  }
  SECTION("a database truncated inside its header") {
    auto bytes = make_real();
    bytes.resize(60);
    write_file(d.db(), bytes);
    why = refused(d.path);
    CHECK(why.find("not a valid stmfd state database") != std::string::npos);
  }
  SECTION("flipped bytes in a b-tree page") {
    auto bytes = make_real();
    const size_t page = size_t(uint8_t(bytes[16])) << 8 | uint8_t(bytes[17]);
    REQUIRE(page >= 512);
    // Corrupt the header of every page after the schema page (type byte, cell counts...).
    for (size_t off = page; off + page <= bytes.size(); off += page)
      for (size_t k = 0; k < 8; ++k) bytes[off + k] = char(bytes[off + k] ^ 0x5a);
    write_file(d.db(), bytes);
    why = refused(d.path);
    CHECK((why.find("integrity_check") != std::string::npos || why.find("not a valid") != std::string::npos));
  }
  SECTION("flipped bytes in one data page") {
    auto bytes = make_real();
    const size_t page = size_t(uint8_t(bytes[16])) << 8 | uint8_t(bytes[17]);
    const size_t off = (bytes.size() / page / 2) * page;  // a leaf in the middle of the file
    for (size_t k = 0; k < 16; ++k) bytes[off + k] = char(~bytes[off + k]);
    write_file(d.db(), bytes);
    why = refused(d.path);
    CHECK((why.find("integrity_check") != std::string::npos || why.find("not a valid") != std::string::npos));
  }
  INFO(why);
  CHECK_FALSE(why.empty());
}

TEST_CASE("state db: a schema newer than this stmfd is refused", "[statedb]") {
  TempDir d;
  {
    auto db = must_open(d.path);
    std::string why;
    REQUIRE(db->save(full_config(), why));
  }
  raw_exec(d.db(), "PRAGMA user_version = 3");
  auto why = refused(d.path);
  CHECK(why.find("newer stmfd (schema 3, this stmfd understands 2)") != std::string::npos);
}

TEST_CASE("state db: persistent-reservation rows are saved, replaced, erased, schema 1 is upgraded", "[statedb]") {
  TempDir d;
  const std::string g = "600144F0000000000000000000000001";
  {
    auto db = must_open(d.path);
    std::string why;
    REQUIRE(db->save(full_config(), why));
    REQUIRE(db->save_pr(g, R"({"generation":1})", why));
    REQUIRE(db->save_pr(g, R"({"generation":2})", why));
    auto all = db->load_pr(why);
    REQUIRE(all);
    CHECK(*all == std::map<std::string, std::string>{{g, R"({"generation":2})"}});
    CHECK_FALSE(db->save_pr("short", "{}", why));  // CHECK constraint: nothing stored
    CHECK(why.find("not saved") != std::string::npos);
  }
  {
    auto db = must_open(d.path);
    std::string why;
    CHECK(db->load_pr(why)->size() == 1);
    REQUIRE(db->erase_pr(g, why));
    CHECK(db->load_pr(why)->empty());
  }
  // A schema-1 database (no pr_state table) is upgraded in place, its configuration kept.
  raw_exec(d.db(), "DROP TABLE pr_state; UPDATE schema_version SET version = 1; PRAGMA user_version = 1");
  auto db = must_open(d.path);
  std::string why;
  auto c = db->load(why);
  REQUIRE(c);
  CHECK(*c == full_config());
  CHECK(db->load_pr(why)->empty());
  REQUIRE(db->save_pr(g, "{}", why));
}

TEST_CASE("state db: rows that do not form a valid configuration are refused by load", "[statedb]") {
  TempDir d;
  {
    auto db = must_open(d.path);
    std::string why;
    REQUIRE(db->save(full_config(), why));
  }
  std::string expect;
  SECTION("an invalid block size") {
    raw_exec(d.db(), "UPDATE lus SET block_size = 1000 WHERE name = 'r'");
    expect = "block_size";
  }
  SECTION("an unknown store") {
    raw_exec(d.db(), "UPDATE lus SET store = 'tape' WHERE name = 'r'");
    expect = "tape";
  }
  SECTION("a view naming a missing host group (foreign keys off)") {
    raw_exec(d.db(), "UPDATE view_entries SET host_group = 'gone' WHERE idx = 3");
    expect = "a row of view_entries names a missing host_groups entry";
  }
  SECTION("a member of a missing group") {
    raw_exec(d.db(), "PRAGMA foreign_keys = OFF; DELETE FROM host_groups WHERE name = 'hg-eui'");
    expect = "names a missing host_groups entry";
  }
  SECTION("a bad digest list") {
    raw_exec(d.db(), "UPDATE settings SET iscsi_header_digest = 'CRC32C'");
    expect = "iscsi_header_digest";
  }
  SECTION("a bad log level") {
    raw_exec(d.db(), "UPDATE settings SET log_level = 'chatty'");
    expect = "log_level";
  }
  auto db = must_open(d.path);  // the file itself is fine
  std::string why;
  CHECK_FALSE(db->load(why));
  INFO(why);
  CHECK(why.find(d.db()) != std::string::npos);
  CHECK(why.find(expect) != std::string::npos);
}

TEST_CASE("state db: a thousand saves", "[statedb]") {
  TempDir d;
  auto db = must_open(d.path);
  std::string why;
  for (uint64_t g = 1; g <= 1000; ++g) REQUIRE(db->save(gen_config(g), why));
  CHECK(db->generation() == 1000);
  auto back = db->load(why);
  REQUIRE(back);
  CHECK(*back == gen_config(1000));
}

TEST_CASE("state db: an acknowledged save survives SIGKILL", "[statedb]") {
  TempDir d;
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    std::string why;
    auto db = StateDb::open(d.path, why);
    if (!db) ::_exit(10);
    for (uint64_t g = 1;; ++g) {
      if (!db->save(gen_config(g), why) || db->generation() != g) ::_exit(11);
      if (::write(fds[1], &g, sizeof g) != sizeof g) ::_exit(12);
    }
  }
  ::close(fds[1]);
  std::mt19937 rng(std::random_device{}());
  const uint64_t kill_after = 200 + rng() % 200;
  uint64_t acked = 0, g = 0;
  while (acked < kill_after && ::read(fds[0], &g, sizeof g) == sizeof g) acked = g;
  ::kill(pid, SIGKILL);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status));
  while (::read(fds[0], &g, sizeof g) == sizeof g) acked = g;  // written before the kill
  ::close(fds[0]);
  REQUIRE(acked >= kill_after);

  auto db = must_open(d.path);  // runs integrity_check
  CHECK(db->generation() >= acked);
  CHECK(db->generation() <= acked + 1);  // at most the one in flight
  std::string why;
  auto back = db->load(why);
  INFO(why);
  REQUIRE(back);
  CHECK(*back == gen_config(db->generation()));
  db.reset();
  CHECK(raw_integrity(d.db()) == "ok");
}
