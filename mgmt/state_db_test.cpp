#include <sys/stat.h>
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

int64_t raw_int(const std::string& file, const char* sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  int64_t v = -1;
  if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
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

// Saves `c` into a fresh database in `dir`, reopens it and loads it back (REQUIREd to work):
// the round trip every "... round-trips" test starts with. `db` is left open for raw edits.
Config save_and_reload(const std::string& dir, const Config& c, std::unique_ptr<StateDb>& db) {
  std::string why;
  {
    auto first = must_open(dir);
    REQUIRE(first->save(c, why));
  }
  db = must_open(dir);
  auto back = db->load(why);
  INFO(why);
  REQUIRE(back);
  return *back;
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
  f.sanitize = false;
  f.sanitize_rate = uint64_t(3) << 40;
  f.serial = "SER-0001";
  f.vendor = "ACME";
  f.product = "Disk 9000";
  f.mgmt_url = "https://example.org/lu?a=1&b='x'";
  f.online = false;
  f.epoch = (uint64_t(1) << 53) - 1;  // the largest the file form allows
  LuConfig r;
  r.guid = derive_guid(kCompany, "ram:r");
  r.name = "r";
  r.store = "ram";
  r.size = 64 << 20;
  r.epoch = 3;
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
  t0.port_index = 7;
  TargetConfig t1;
  t1.iqn = "iqn.2026-11.org.example:t1";
  t1.tpgt = 65535;
  t1.online = false;
  t1.port_index = 32767;
  TargetConfig t2;
  t2.iqn = "iqn.2026-11.org.example:t2";
  t2.chap = ChapConfig{"user2", "secret-2222222", "", ""};
  t2.port_index = 1;
  TargetConfig t3;  // schema 5: an auth method and only the target's own CHAP secret
  t3.iqn = "iqn.2026-11.org.example:t3";
  t3.auth = "chap";
  t3.chap = ChapConfig{"", "", "", "t3-secret-0123"};
  t3.port_index = 2;
  t1.auth = "none";
  c.targets = {t0, t1, t2, t3};
  c.initiators = {{"iqn.1993-08.org.debian:01:aaa", "", "aaa-secret-012"},
                  {"iqn.1993-08.org.debian:01:bbb", "bob", "bbb-secret-012"},
                  {"eui.0123456789abcdef", "", ""}};

  c.alua.enabled = true;
  c.alua.node = 1;
  c.alua.listen = "[::1]:3270";
  c.alua.peer = "192.0.2.7:3271";
  c.alua.carrier = "door";
  c.alua.heartbeat_ms = 250;
  c.alua.timeout_ms = 9000;
  c.alua.takeover = "fenced";
  c.alua.cluster_id = 7;

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
  i.max_connections = 7;
  i.max_connections_per_address = 3;
  i.max_sessions_per_initiator = 2;
  i.max_immediate_commands = 5;
  i.session_data_buffer = uint64_t(5) << 30;  // beyond 32 bits
  i.total_data_buffer = 65536;
  i.send_queue_bytes = 1 << 20;
  i.warn_burst = 0;
  i.warn_interval_s = 86400;
  i.default_auth = "chap";
  i.discovery_auth = "chap";
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

// What a schema-4 stmfd left: every schema-5, -6, -7 and -8 addition dropped again (the
// migrations re-add them all, so a test downgrade must remove them all).
constexpr const char* kDowngradeToSchema4 =
    "ALTER TABLE alua DROP COLUMN takeover; ALTER TABLE alua DROP COLUMN cluster_id; "
    "ALTER TABLE lus DROP COLUMN sanitize; ALTER TABLE lus DROP COLUMN sanitize_rate; "
    "ALTER TABLE settings DROP COLUMN array_sessions; ALTER TABLE host_groups DROP COLUMN spi; "
    "ALTER TABLE settings DROP COLUMN iscsi_limits; DROP TABLE initiators; ALTER TABLE targets DROP COLUMN auth; "
    "ALTER TABLE settings DROP COLUMN iscsi_default_auth; ALTER TABLE settings DROP COLUMN iscsi_discovery_auth; "
    "ALTER TABLE alua DROP COLUMN tls; ALTER TABLE alua DROP COLUMN insecure; "
    "ALTER TABLE alua DROP COLUMN handshake_timeout_ms; ALTER TABLE lus DROP COLUMN standby; "
    "ALTER TABLE settings DROP COLUMN mgmt_limits; ALTER TABLE lus DROP COLUMN backend; "
    "UPDATE schema_version SET version = 4; PRAGMA user_version = 4";

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
  raw_exec(d.db(), "PRAGMA user_version = 9");
  auto why = refused(d.path);
  CHECK(why.find("newer stmfd (schema 9, this stmfd understands 8)") != std::string::npos);
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
  // A schema-1 database (no pr_state table, nor schema 3's ALUA table and port indexes, nor
  // schema 4's LU epochs, nor schema 5's limits, CHAP, TLS, standby records and management
  // bounds) is upgraded in place, its configuration kept.
  raw_exec(d.db(),
           "DROP TABLE pr_state; DROP TABLE alua; DROP INDEX targets_port_index; ALTER TABLE targets DROP COLUMN "
           "port_index; ALTER TABLE lus DROP COLUMN epoch; ALTER TABLE settings DROP COLUMN iscsi_limits; "
           "DROP TABLE initiators; ALTER TABLE targets DROP COLUMN auth; "
           "ALTER TABLE settings DROP COLUMN iscsi_default_auth; ALTER TABLE settings DROP COLUMN iscsi_discovery_auth; "
           "ALTER TABLE lus DROP COLUMN standby; ALTER TABLE settings DROP COLUMN mgmt_limits; ALTER TABLE lus DROP COLUMN backend; "
           "ALTER TABLE settings DROP COLUMN array_sessions; ALTER TABLE host_groups DROP COLUMN spi; "
           "ALTER TABLE lus DROP COLUMN sanitize; ALTER TABLE lus DROP COLUMN sanitize_rate; "
           "UPDATE schema_version SET version = 1; PRAGMA user_version = 1");
  auto db = must_open(d.path);
  std::string why;
  auto c = db->load(why);
  INFO(why);
  REQUIRE(c);
  Config expect = full_config();
  expect.alua = AluaConfig{};  // schema 1 had none: the defaults
  {  // nor schema 5's resource limits
    const IscsiConfig def;
    auto& i = expect.iscsi;
    i.max_connections = def.max_connections;
    i.max_connections_per_address = def.max_connections_per_address;
    i.max_sessions_per_initiator = def.max_sessions_per_initiator;
    i.max_immediate_commands = def.max_immediate_commands;
    i.session_data_buffer = def.session_data_buffer;
    i.total_data_buffer = def.total_data_buffer;
    i.send_queue_bytes = def.send_queue_bytes;
    i.warn_burst = def.warn_burst;
    i.warn_interval_s = def.warn_interval_s;
  }
  for (size_t i = 0; i < expect.targets.size(); ++i) expect.targets[i].port_index = uint16_t(i + 1);
  for (auto& l : expect.lus) {
    l.epoch = 0;  // nor epochs
    l.sanitize = true;  // nor schema 8's SANITIZE settings
    l.sanitize_rate = 0;
  }
  expect.initiators.clear();  // nor schema 5's CHAP settings
  for (auto& t : expect.targets) t.auth = "default";
  expect.iscsi.default_auth = expect.iscsi.discovery_auth = "none";
  CHECK(*c == expect);
  CHECK(raw_int(d.db(), "PRAGMA user_version") == StateDb::kSchemaVersion);
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
  SECTION("a target without a port index") {
    raw_exec(d.db(), "UPDATE targets SET port_index = 0 WHERE iqn = 'iqn.2026-11.org.example:t1'");
    expect = "targets[1].port_index";
  }
  SECTION("an ALUA heartbeat below the minimum") {
    raw_exec(d.db(), "UPDATE alua SET heartbeat_ms = 10");
    expect = "alua.heartbeat_ms";
  }
  SECTION("no ALUA row") {
    raw_exec(d.db(), "DELETE FROM alua");
    expect = "alua: row missing";
  }
  SECTION("an LU epoch beyond 2^53-1") {
    raw_exec(d.db(), "UPDATE lus SET epoch = 9007199254740992 WHERE name = 'r'");
    expect = "lus[1].epoch: must be between 0 and 9007199254740991";
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

namespace {

// The layout a schema-2 stmfd created (before the ALUA pair): the test's own copy, frozen.
const char* const kOldSchemaV2 = R"SQL(
CREATE TABLE schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL) STRICT;
CREATE TABLE settings (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  configured INTEGER NOT NULL CHECK (configured IN (0, 1)),
  generation INTEGER NOT NULL CHECK (generation >= 0),
  company_id INTEGER NOT NULL CHECK (company_id BETWEEN 0 AND 4294967295),
  threads INTEGER NOT NULL CHECK (threads BETWEEN 0 AND 4294967295),
  shutdown_timeout_s INTEGER NOT NULL CHECK (shutdown_timeout_s BETWEEN 0 AND 4294967295),
  log_level TEXT NOT NULL,
  service_online INTEGER NOT NULL CHECK (service_online IN (0, 1)),
  mgmt_socket TEXT NOT NULL,
  mgmt_admin_group TEXT NOT NULL,
  iscsi_max_recv_data_segment_length INTEGER NOT NULL,
  iscsi_max_burst_length INTEGER NOT NULL,
  iscsi_first_burst_length INTEGER NOT NULL,
  iscsi_immediate_data INTEGER NOT NULL CHECK (iscsi_immediate_data IN (0, 1)),
  iscsi_initial_r2t INTEGER NOT NULL CHECK (iscsi_initial_r2t IN (0, 1)),
  iscsi_max_outstanding_r2t INTEGER NOT NULL,
  iscsi_header_digest TEXT NOT NULL,
  iscsi_data_digest TEXT NOT NULL,
  iscsi_queue_depth INTEGER NOT NULL,
  iscsi_nop_in_interval_s INTEGER NOT NULL,
  iscsi_nop_in_timeout_s INTEGER NOT NULL,
  iscsi_login_timeout_s INTEGER NOT NULL
) STRICT;
CREATE TABLE lus (
  guid TEXT PRIMARY KEY, pos INTEGER NOT NULL UNIQUE, name TEXT NOT NULL, store TEXT NOT NULL,
  backing TEXT NOT NULL, size INTEGER NOT NULL CHECK (size >= 0), block_size INTEGER NOT NULL,
  physical_block_size INTEGER NOT NULL, write_protect INTEGER NOT NULL, write_cache INTEGER NOT NULL,
  removable INTEGER NOT NULL, direct INTEGER NOT NULL, serial TEXT NOT NULL, vendor TEXT NOT NULL,
  product TEXT NOT NULL, mgmt_url TEXT NOT NULL, online INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX lus_backing_file ON lus (backing) WHERE store = 'file';
CREATE TABLE host_groups (name TEXT PRIMARY KEY, pos INTEGER NOT NULL UNIQUE) STRICT;
CREATE TABLE hg_members (
  group_name TEXT NOT NULL REFERENCES host_groups (name) ON DELETE CASCADE, pos INTEGER NOT NULL,
  member TEXT NOT NULL UNIQUE, PRIMARY KEY (group_name, pos)
) STRICT;
CREATE TABLE target_groups (name TEXT PRIMARY KEY, pos INTEGER NOT NULL UNIQUE) STRICT;
CREATE TABLE tg_members (
  group_name TEXT NOT NULL REFERENCES target_groups (name) ON DELETE CASCADE, pos INTEGER NOT NULL,
  member TEXT NOT NULL UNIQUE, PRIMARY KEY (group_name, pos)
) STRICT;
CREATE TABLE view_entries (
  guid TEXT NOT NULL, idx INTEGER NOT NULL, pos INTEGER NOT NULL UNIQUE,
  host_group TEXT REFERENCES host_groups (name), target_group TEXT REFERENCES target_groups (name),
  lun INTEGER NOT NULL CHECK (lun >= 0), PRIMARY KEY (guid, idx)
) STRICT;
CREATE TABLE targets (
  iqn TEXT PRIMARY KEY, pos INTEGER NOT NULL UNIQUE, alias TEXT NOT NULL,
  tpgt INTEGER NOT NULL CHECK (tpgt BETWEEN 0 AND 65535),
  chap_user TEXT, chap_secret TEXT, chap_mutual_user TEXT, chap_mutual_secret TEXT,
  online INTEGER NOT NULL CHECK (online IN (0, 1))
) STRICT;
CREATE TABLE target_initiators (
  target TEXT NOT NULL REFERENCES targets (iqn) ON DELETE CASCADE, pos INTEGER NOT NULL,
  initiator TEXT NOT NULL, PRIMARY KEY (target, pos)
) STRICT;
CREATE TABLE portals (
  pos INTEGER PRIMARY KEY, host TEXT NOT NULL, port INTEGER NOT NULL CHECK (port BETWEEN 0 AND 65535),
  UNIQUE (host, port)
) STRICT;
CREATE TABLE pr_state (guid TEXT PRIMARY KEY CHECK (length(guid) = 32), state TEXT NOT NULL) STRICT;
INSERT INTO schema_version (id, version) VALUES (1, 2);
INSERT INTO settings VALUES (1, 1, 41, 1327183, 0, 10, 'info', 1, '', '', 262144, 1048576, 65536, 1, 0, 1,
                             '["CRC32C","None"]', '["CRC32C","None"]', 128, 30, 30, 15);
INSERT INTO portals VALUES (0, '127.0.0.1', 3260);
INSERT INTO lus VALUES ('600144F0000000000000000000000001', 0, 'lu', 'ram', '', 1048576, 512, 0, 0, 1, 0, 0,
                        '', 'STMF', 'COMSTAR', '', 1);
INSERT INTO target_groups VALUES ('tg', 0);
INSERT INTO tg_members VALUES ('tg', 0, 'iqn.2026-11.org.example:zeta');
INSERT INTO view_entries VALUES ('600144F0000000000000000000000001', 0, 0, NULL, 'tg', 0);
-- Rows in another order than their positions: the port indexes follow the positions.
INSERT INTO targets VALUES ('iqn.2026-11.org.example:mid', 2, 'm', 1, NULL, NULL, NULL, NULL, 1);
INSERT INTO targets VALUES ('iqn.2026-11.org.example:zeta', 0, 'z', 1, 'u', 'secret-0123456', '', '', 1);
INSERT INTO targets VALUES ('iqn.2026-11.org.example:alpha', 1, 'a', 3, NULL, NULL, NULL, NULL, 0);
INSERT INTO target_initiators VALUES ('iqn.2026-11.org.example:alpha', 0, 'iqn.1993-08.org.debian:01:aaa');
INSERT INTO pr_state VALUES ('600144F0000000000000000000000001', '{"generation":3}');
PRAGMA user_version = 2;
)SQL";

// The layout a schema-3 stmfd created (before the LU epochs): the test's own copy, frozen.
const char* const kOldSchemaV3 = R"SQL(
CREATE TABLE schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL) STRICT;
CREATE TABLE settings (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  configured INTEGER NOT NULL CHECK (configured IN (0, 1)),
  generation INTEGER NOT NULL CHECK (generation >= 0),
  company_id INTEGER NOT NULL CHECK (company_id BETWEEN 0 AND 4294967295),
  threads INTEGER NOT NULL CHECK (threads BETWEEN 0 AND 4294967295),
  shutdown_timeout_s INTEGER NOT NULL CHECK (shutdown_timeout_s BETWEEN 0 AND 4294967295),
  log_level TEXT NOT NULL,
  service_online INTEGER NOT NULL CHECK (service_online IN (0, 1)),
  mgmt_socket TEXT NOT NULL,
  mgmt_admin_group TEXT NOT NULL,
  iscsi_max_recv_data_segment_length INTEGER NOT NULL,
  iscsi_max_burst_length INTEGER NOT NULL,
  iscsi_first_burst_length INTEGER NOT NULL,
  iscsi_immediate_data INTEGER NOT NULL CHECK (iscsi_immediate_data IN (0, 1)),
  iscsi_initial_r2t INTEGER NOT NULL CHECK (iscsi_initial_r2t IN (0, 1)),
  iscsi_max_outstanding_r2t INTEGER NOT NULL,
  iscsi_header_digest TEXT NOT NULL,
  iscsi_data_digest TEXT NOT NULL,
  iscsi_queue_depth INTEGER NOT NULL,
  iscsi_nop_in_interval_s INTEGER NOT NULL,
  iscsi_nop_in_timeout_s INTEGER NOT NULL,
  iscsi_login_timeout_s INTEGER NOT NULL
) STRICT;
CREATE TABLE lus (
  guid TEXT PRIMARY KEY, pos INTEGER NOT NULL UNIQUE, name TEXT NOT NULL, store TEXT NOT NULL,
  backing TEXT NOT NULL, size INTEGER NOT NULL CHECK (size >= 0), block_size INTEGER NOT NULL,
  physical_block_size INTEGER NOT NULL, write_protect INTEGER NOT NULL, write_cache INTEGER NOT NULL,
  removable INTEGER NOT NULL, direct INTEGER NOT NULL, serial TEXT NOT NULL, vendor TEXT NOT NULL,
  product TEXT NOT NULL, mgmt_url TEXT NOT NULL, online INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX lus_backing_file ON lus (backing) WHERE store = 'file';
CREATE TABLE host_groups (name TEXT PRIMARY KEY, pos INTEGER NOT NULL UNIQUE) STRICT;
CREATE TABLE hg_members (
  group_name TEXT NOT NULL REFERENCES host_groups (name) ON DELETE CASCADE, pos INTEGER NOT NULL,
  member TEXT NOT NULL UNIQUE, PRIMARY KEY (group_name, pos)
) STRICT;
CREATE TABLE target_groups (name TEXT PRIMARY KEY, pos INTEGER NOT NULL UNIQUE) STRICT;
CREATE TABLE tg_members (
  group_name TEXT NOT NULL REFERENCES target_groups (name) ON DELETE CASCADE, pos INTEGER NOT NULL,
  member TEXT NOT NULL UNIQUE, PRIMARY KEY (group_name, pos)
) STRICT;
CREATE TABLE view_entries (
  guid TEXT NOT NULL, idx INTEGER NOT NULL, pos INTEGER NOT NULL UNIQUE,
  host_group TEXT REFERENCES host_groups (name), target_group TEXT REFERENCES target_groups (name),
  lun INTEGER NOT NULL CHECK (lun >= 0), PRIMARY KEY (guid, idx)
) STRICT;
CREATE TABLE targets (
  iqn TEXT PRIMARY KEY, pos INTEGER NOT NULL UNIQUE, alias TEXT NOT NULL,
  tpgt INTEGER NOT NULL CHECK (tpgt BETWEEN 0 AND 65535),
  chap_user TEXT, chap_secret TEXT, chap_mutual_user TEXT, chap_mutual_secret TEXT,
  online INTEGER NOT NULL CHECK (online IN (0, 1)),
  port_index INTEGER NOT NULL DEFAULT 0 CHECK (port_index BETWEEN 0 AND 32767)
) STRICT;
CREATE UNIQUE INDEX targets_port_index ON targets (port_index);
CREATE TABLE target_initiators (
  target TEXT NOT NULL REFERENCES targets (iqn) ON DELETE CASCADE, pos INTEGER NOT NULL,
  initiator TEXT NOT NULL, PRIMARY KEY (target, pos)
) STRICT;
CREATE TABLE portals (
  pos INTEGER PRIMARY KEY, host TEXT NOT NULL, port INTEGER NOT NULL CHECK (port BETWEEN 0 AND 65535),
  UNIQUE (host, port)
) STRICT;
CREATE TABLE pr_state (guid TEXT PRIMARY KEY CHECK (length(guid) = 32), state TEXT NOT NULL) STRICT;
CREATE TABLE alua (
  id INTEGER PRIMARY KEY CHECK (id = 1), enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),
  node INTEGER NOT NULL CHECK (node IN (0, 1)), listen TEXT NOT NULL, peer TEXT NOT NULL,
  carrier TEXT NOT NULL CHECK (carrier IN ('tcp', 'door')), heartbeat_ms INTEGER NOT NULL, timeout_ms INTEGER NOT NULL
) STRICT;
INSERT INTO schema_version (id, version) VALUES (1, 3);
INSERT INTO settings VALUES (1, 1, 17, 1327183, 0, 10, 'info', 1, '', '', 262144, 1048576, 65536, 1, 0, 1,
                             '["CRC32C","None"]', '["CRC32C","None"]', 128, 30, 30, 15);
INSERT INTO alua VALUES (1, 1, 1, '127.0.0.1:3270', '', 'door', 500, 3000);
INSERT INTO portals VALUES (0, '127.0.0.1', 3260);
INSERT INTO lus VALUES ('600144F000000000000000000000000A', 0, 'file', 'file', '/var/tmp/v3.img', 4194304, 512, 4096,
                        1, 0, 0, 1, 'S-1', 'ACME', 'Disk', 'https://example.org/', 0);
INSERT INTO lus VALUES ('600144F000000000000000000000000B', 1, 'ram', 'ram', '', 1048576, 4096, 0, 0, 1, 1, 0,
                        '', 'STMF', 'COMSTAR', '', 1);
INSERT INTO target_groups VALUES ('tg', 0);
INSERT INTO tg_members VALUES ('tg', 0, 'iqn.2026-11.org.example:v3');
INSERT INTO view_entries VALUES ('600144F000000000000000000000000A', 0, 0, NULL, 'tg', 0);
INSERT INTO view_entries VALUES ('600144F000000000000000000000000B', 2, 1, NULL, NULL, 5);
INSERT INTO targets VALUES ('iqn.2026-11.org.example:v3', 0, 'v3', 1, NULL, NULL, NULL, NULL, 1, 5);
INSERT INTO pr_state VALUES ('600144F000000000000000000000000B', '{"generation":9}');
PRAGMA user_version = 3;
)SQL";

}  // namespace

TEST_CASE("state db: ALUA settings and port indexes round-trip", "[statedb][alua]") {
  TempDir d;
  Config c = full_config();
  std::string why;
  {
    auto db = must_open(d.path);
    REQUIRE(db->save(c, why));
  }
  CHECK(raw_int(d.db(), "SELECT count(*) FROM alua") == 1);
  CHECK(raw_int(d.db(), "SELECT port_index FROM targets WHERE iqn = 'iqn.2026-11.org.example:t1'") == 32767);
  auto db = must_open(d.path);
  auto back = db->load(why);
  INFO(why);
  REQUIRE(back);
  CHECK(back->alua == c.alua);
  CHECK(back->targets[0].port_index == 7);
  CHECK(back->targets[1].port_index == 32767);
  CHECK(back->targets[2].port_index == 1);

  // Disabled keeps the node; another carrier and empty addresses.
  c.alua.enabled = false;
  c.alua.carrier = "tcp";
  c.alua.listen.clear();
  c.alua.peer.clear();
  REQUIRE(db->save(c, why));
  back = db->load(why);
  REQUIRE(back);
  CHECK(back->alua == c.alua);
  CHECK(back->alua.node == 1);

  // Two targets with one port index never reach the database.
  Config dup = c;
  dup.targets[1].port_index = 7;
  CHECK_FALSE(db->save(dup, why));
  CHECK(why.find("port_index") != std::string::npos);
  dup.targets[1].port_index = 0;
  CHECK_FALSE(db->save(dup, why));
  back = db->load(why);
  REQUIRE(back);
  CHECK(*back == c);
}

TEST_CASE("state db: a schema-2 database is upgraded to schema 3 (and on to 4) in place", "[statedb][alua]") {
  TempDir d;
  raw_exec(d.db(), kOldSchemaV2);
  REQUIRE(raw_int(d.db(), "PRAGMA user_version") == 2);
  {
    auto db = must_open(d.path);
    CHECK_FALSE(db->empty());
    CHECK(db->generation() == 41);  // the configuration is kept, generation included
    std::string why;
    auto c = db->load(why);
    INFO(why);
    REQUIRE(c);
    // Port indexes 1, 2, 3 in the targets' order; everything else as it was.
    REQUIRE(c->targets.size() == 3);
    CHECK(c->targets[0].iqn == "iqn.2026-11.org.example:zeta");
    CHECK(c->targets[0].port_index == 1);
    CHECK(c->targets[1].iqn == "iqn.2026-11.org.example:alpha");
    CHECK(c->targets[1].port_index == 2);
    CHECK(c->targets[2].iqn == "iqn.2026-11.org.example:mid");
    CHECK(c->targets[2].port_index == 3);
    CHECK(c->targets[0].chap->secret == "secret-0123456");
    CHECK(c->targets[1].tpgt == 3);
    CHECK_FALSE(c->targets[1].online);
    CHECK(c->targets[1].initiators == std::vector<std::string>{"iqn.1993-08.org.debian:01:aaa"});
    CHECK(c->alua == AluaConfig{});  // no pair configured: ALUA disabled
    REQUIRE(c->lus.size() == 1);
    CHECK(c->lus[0].epoch == 0);
    CHECK(c->views.size() == 1);
    auto pr = db->load_pr(why);
    REQUIRE(pr);
    CHECK(pr->size() == 1);

    // The upgraded database takes the new fields.
    c->alua.enabled = true;
    c->alua.node = 1;
    c->alua.peer = "127.0.0.1:3270";
    c->alua.tls = AluaTlsConfig{"/k/node1.crt", "/k/node1.key", "/k/node0.crt", ""};
    TargetConfig t;
    t.iqn = "iqn.2026-11.org.example:new";
    t.port_index = free_port_index(c->targets);
    CHECK(t.port_index == 4);
    c->targets.push_back(t);
    REQUIRE(db->save(*c, why));
    CHECK(db->generation() == 42);
    auto again = db->load(why);
    REQUIRE(again);
    CHECK(*again == *c);
  }
  CHECK(raw_int(d.db(), "PRAGMA user_version") == StateDb::kSchemaVersion);
  CHECK(raw_int(d.db(), "SELECT version FROM schema_version") == StateDb::kSchemaVersion);
  CHECK(raw_integrity(d.db()) == "ok");
  // Opened again: no second migration, same content.
  auto db = must_open(d.path);
  std::string why;
  auto c = db->load(why);
  REQUIRE(c);
  CHECK(c->alua.enabled);
  CHECK(c->targets.back().port_index == 4);
}

TEST_CASE("state db: a schema-2 database whose targets cannot be numbered stays schema 2", "[statedb][alua]") {
  // A failed migration rolls back completely (here: a trigger refuses the port index update).
  TempDir d;
  raw_exec(d.db(), kOldSchemaV2);
  raw_exec(d.db(),
           "CREATE TRIGGER no_renumber BEFORE UPDATE ON targets BEGIN SELECT RAISE(ABORT, 'renumbering refused'); END");
  std::string why;
  CHECK_FALSE(StateDb::open(d.path, why));
  CHECK(why.find("renumbering refused") != std::string::npos);
  CHECK(raw_int(d.db(), "PRAGMA user_version") == 2);
  CHECK(raw_int(d.db(), "SELECT count(*) FROM sqlite_schema WHERE name = 'alua'") == 0);
  raw_exec(d.db(), "DROP TRIGGER no_renumber");
  auto db = must_open(d.path);
  auto c = db->load(why);
  REQUIRE(c);
  CHECK(c->targets[2].port_index == 3);
}

TEST_CASE("state db: an iscsi store LU's backend (CHAP included) round-trips", "[statedb][iscsi_store]") {
  TempDir d;
  Config c = full_config();
  LuConfig l;
  l.guid = "600144F0000000000000000000001717";
  l.name = "san lu";
  l.store = "iscsi";
  l.size = 0;
  l.backend = {"iscsi://127.0.0.1:3260/iqn.2026-12.org.example:san/3", "iqn.2026-12.org.example:front", "frontuser",
               "0123456789abcdef", true};
  l.backend.queue_depth = 7;
  l.backend.retry_ms = 1234;
  c.lus.push_back(l);
  std::unique_ptr<StateDb> db;
  const Config back = save_and_reload(d.path, c, db);
  CHECK(back == c);
  REQUIRE(back.find_lu(l.guid));
  CHECK(back.find_lu(l.guid)->backend.chap_secret == "0123456789abcdef");
  CHECK(back.find_lu(l.guid)->backend.header_digest);
  std::string why;
  // A row whose backend is not an object is refused, not served half-configured.
  raw_exec(d.db(), "UPDATE lus SET backend = 'nonsense' WHERE store = 'iscsi'");
  CHECK_FALSE(db->load(why));
  CHECK(why.find("backend") != std::string::npos);
}

TEST_CASE("state db: an rbd store LU's backend round-trips", "[statedb][rbd_store]") {
  TempDir d;
  Config c = full_config();
  LuConfig l;
  l.guid = "600144F0000000000000000000001818";
  l.name = "rbd lu";
  l.store = "rbd";
  l.size = 0;
  l.rbd.pool = "rbd";
  l.rbd.image = "disk0";
  l.rbd.ns = "tenant1";
  l.rbd.client = "gw";
  l.rbd.conf = "/etc/ceph/ceph.conf";
  l.rbd.keyring = "/etc/ceph/gw.keyring";
  l.rbd.queue_depth = 9;
  l.rbd.op_timeout_s = 4;
  c.lus.push_back(l);
  std::unique_ptr<StateDb> db;
  CHECK(save_and_reload(d.path, c, db) == c);
  std::string why;
  raw_exec(d.db(), "UPDATE lus SET backend = '{\"pool\": \"rbd\"}' WHERE store = 'rbd'");
  CHECK_FALSE(db->load(why));
  CHECK(why.find("backend.image") != std::string::npos);
}

TEST_CASE("state db: the peer link's TLS settings and standby LU records round-trip", "[statedb][alua][tls]") {
  TempDir d;
  Config c = full_config();
  c.alua.enabled = true;
  c.alua.node = 0;
  c.alua.peer = "127.0.0.2:3270";
  c.alua.tls = AluaTlsConfig{"/k/node0.crt", "/k/node0.key", "", "/k/ca.crt"};
  c.alua.handshake_timeout_ms = 1234;
  c.lus[0].standby = true;
  std::string why;
  {
    auto db = must_open(d.path);
    REQUIRE(db->save(c, why));
  }
  CHECK(raw_int(d.db(), "SELECT standby FROM lus WHERE name = 'file lu'") == 1);
  CHECK(raw_int(d.db(), "SELECT handshake_timeout_ms FROM alua") == 1234);
  auto db = must_open(d.path);
  auto back = db->load(why);
  INFO(why);
  REQUIRE(back);
  CHECK(*back == c);
  // Plain TCP, explicitly.
  c.alua.tls.reset();
  c.alua.insecure = true;
  REQUIRE(db->save(c, why));
  back = db->load(why);
  REQUIRE(back);
  CHECK(back->alua.insecure);
  CHECK(*back == c);
}

TEST_CASE("state db: LU epochs round-trip", "[statedb][alua]") {
  TempDir d;
  Config c = full_config();
  std::string why;
  {
    auto db = must_open(d.path);
    REQUIRE(db->save(c, why));
  }
  CHECK(raw_int(d.db(), "PRAGMA user_version") == StateDb::kSchemaVersion);
  CHECK(raw_int(d.db(), "SELECT epoch FROM lus WHERE name = 'file lu'") == 9007199254740991);
  CHECK(raw_int(d.db(), "SELECT epoch FROM lus WHERE name = 'r'") == 3);
  CHECK(raw_int(d.db(), "SELECT epoch FROM lus WHERE store = 'null'") == 0);
  auto db = must_open(d.path);
  auto back = db->load(why);
  INFO(why);
  REQUIRE(back);
  CHECK(back->lus[0].epoch == 9007199254740991u);
  CHECK(back->lus[1].epoch == 3);
  CHECK(back->lus[2].epoch == 0);

  // A takeover raises one LU's epoch: saved like any other change.
  c.lus[1].epoch = 4;
  REQUIRE(db->save(c, why));
  back = db->load(why);
  REQUIRE(back);
  CHECK(*back == c);
  // One beyond the file form's range never reaches the database.
  Config big = c;
  big.lus[2].epoch = uint64_t(1) << 53;
  CHECK_FALSE(db->save(big, why));
  CHECK(why.find("lus[2].epoch") != std::string::npos);
  back = db->load(why);
  REQUIRE(back);
  CHECK(*back == c);
  // The column refuses a negative epoch written behind stmfd's back.
  db.reset();
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(d.db().c_str(), &raw) == SQLITE_OK);
  CHECK(sqlite3_exec(raw, "UPDATE lus SET epoch = -1 WHERE name = 'r'", nullptr, nullptr, nullptr) == SQLITE_CONSTRAINT);
  sqlite3_close(raw);
}

TEST_CASE("state db: a schema-3 database is upgraded to schema 4 (and on) in place", "[statedb][alua]") {
  TempDir d;
  raw_exec(d.db(), kOldSchemaV3);
  REQUIRE(raw_int(d.db(), "PRAGMA user_version") == 3);
  {
    auto db = must_open(d.path);
    CHECK_FALSE(db->empty());
    CHECK(db->generation() == 17);  // the configuration is kept, generation included
    std::string why;
    auto c = db->load(why);
    INFO(why);
    REQUIRE(c);
    // Every LU kept as it was, at epoch 0.
    REQUIRE(c->lus.size() == 2);
    const LuConfig& f = c->lus[0];
    CHECK(f.guid == "600144F000000000000000000000000A");
    CHECK(f.store == "file");
    CHECK(f.backing == "/var/tmp/v3.img");
    CHECK(f.size == 4194304);
    CHECK(f.physical_block_size == 4096);
    CHECK(f.write_protect);
    CHECK_FALSE(f.write_cache);
    CHECK(f.direct);
    CHECK(f.serial == "S-1");
    CHECK(f.vendor == "ACME");
    CHECK_FALSE(f.online);
    CHECK(f.epoch == 0);
    CHECK(c->lus[1].guid == "600144F000000000000000000000000B");
    CHECK(c->lus[1].block_size == 4096);
    CHECK(c->lus[1].removable);
    CHECK(c->lus[1].epoch == 0);
    // The rest of the schema-3 content too.
    REQUIRE(c->views.size() == 2);
    CHECK(c->views[1].index == 2);
    CHECK(c->views[1].lun == 5);
    REQUIRE(c->targets.size() == 1);
    CHECK(c->targets[0].port_index == 5);
    CHECK(c->alua.enabled);
    CHECK(c->alua.node == 1);
    CHECK(c->alua.listen == "127.0.0.1:3270");
    CHECK(c->alua.carrier == "door");  // (an enabled tcp carrier would now need TLS: refused)
    CHECK_FALSE(c->alua.tls);
    CHECK(c->alua.handshake_timeout_ms == 5000);
    auto pr = db->load_pr(why);
    REQUIRE(pr);
    CHECK(pr->size() == 1);

    // The upgraded database stores epochs.
    c->lus[1].epoch = 12;
    REQUIRE(db->save(*c, why));
    CHECK(db->generation() == 18);
    auto again = db->load(why);
    REQUIRE(again);
    CHECK(*again == *c);
  }
  CHECK(raw_int(d.db(), "PRAGMA user_version") == StateDb::kSchemaVersion);
  CHECK(raw_int(d.db(), "SELECT version FROM schema_version") == StateDb::kSchemaVersion);
  CHECK(raw_integrity(d.db()) == "ok");
  // Opened again: no second migration, same content.
  auto db = must_open(d.path);
  std::string why;
  auto c = db->load(why);
  INFO(why);
  REQUIRE(c);
  CHECK(c->lus[0].epoch == 0);
  CHECK(c->lus[1].epoch == 12);
}

TEST_CASE("state db: a schema-4 database is upgraded to schema 5 (CHAP) in place, secrets stay private", "[statedb]") {
  TempDir d;
  Config c = full_config();
  {
    auto db = must_open(d.path);
    std::string why;
    REQUIRE(db->save(c, why));
  }
  // The file holds CHAP secrets: only its owner may read it.
  struct stat st {};
  REQUIRE(::stat(d.db().c_str(), &st) == 0);
  CHECK((st.st_mode & 0077) == 0);
  CHECK(raw_int(d.db(), "SELECT count(*) FROM initiators") == 3);
  // Back to schema 4 (what a schema-4 stmfd left), then opened again: migrated, defaults.
  raw_exec(d.db(),
           kDowngradeToSchema4);
  auto db = must_open(d.path);
  std::string why;
  auto back = db->load(why);
  INFO(why);
  REQUIRE(back);
  CHECK(back->initiators.empty());
  CHECK(back->iscsi.discovery_auth == "none");
  for (auto& t : back->targets) CHECK(t.auth == "default");
  CHECK(raw_int(d.db(), "PRAGMA user_version") == StateDb::kSchemaVersion);  // and on to 6
  REQUIRE(db->save(c, why));
  auto again = db->load(why);
  REQUIRE(again);
  CHECK(*again == c);
}

TEST_CASE("state db: the management bounds and audit settings round-trip and a schema-4 database gets the defaults",
          "[statedb]") {
  TempDir d;
  Config c = full_config();
  c.management.max_connections = 7;
  c.management.max_connections_per_uid = 3;
  c.management.idle_timeout_s = 9;
  c.management.max_line_bytes = 8192;
  c.management.max_import_bytes = 1 << 20;
  c.management.max_json_depth = 20;
  c.management.audit = AuditConfig{"/var/log/stmfd-audit.log", 1 << 20, 2, true};
  std::string why;
  {
    auto db = must_open(d.path);
    REQUIRE(db->save(c, why));
    auto back = db->load(why);
    INFO(why);
    REQUIRE(back);
    CHECK(back->management == c.management);
  }
  // Back to schema 4 (no column): opened, it is upgraded and the settings are the defaults.
  raw_exec(d.db(),
           kDowngradeToSchema4);
  auto db = must_open(d.path);
  auto back = db->load(why);
  INFO(why);
  REQUIRE(back);
  ManagementConfig expect;
  expect.socket = c.management.socket;
  expect.admin_group = c.management.admin_group;
  CHECK(back->management == expect);
  CHECK(raw_int(d.db(), "PRAGMA user_version") == StateDb::kSchemaVersion);  // and on to 6
  // A value written behind stmfd's back that does not validate stops the load.
  db.reset();
  raw_exec(d.db(), "UPDATE settings SET mgmt_limits = '{\"max_json_depth\": 1}'");
  db = must_open(d.path);
  CHECK_FALSE(db->load(why));
  CHECK(why.find("max_json_depth") != std::string::npos);
}

TEST_CASE("state db: the array session settings round-trip and a schema-5 database gets the defaults", "[statedb][ars]") {
  TempDir d;
  Config c = full_config();
  c.array_sessions.machine_id = 12;
  c.array_sessions.array_id = 7;
  c.array_sessions.ash_increment = -3;
  c.array_sessions.accounting_format = 2;
  c.array_sessions.default_spi_len = 16;
  c.array_sessions.default_spi = "0102030400000000";
  c.array_sessions.accounting.checkpoint_min = 5;
  c.array_sessions.accounting.file = "/var/log/stmfd-acct";
  REQUIRE_FALSE(c.host_groups.empty());
  c.host_groups[0].spi = "c0ffee";
  {
    std::unique_ptr<StateDb> db;
    const Config back = save_and_reload(d.path, c, db);
    CHECK(back.array_sessions == c.array_sessions);
    CHECK(back == c);
  }
  // A schema-5 stmfd had no array_sessions column: upgraded in place with the defaults.
  raw_exec(d.db(), "ALTER TABLE settings DROP COLUMN array_sessions; ALTER TABLE host_groups DROP COLUMN spi; "
                   "ALTER TABLE alua DROP COLUMN takeover; ALTER TABLE alua DROP COLUMN cluster_id; "
    "ALTER TABLE lus DROP COLUMN sanitize; ALTER TABLE lus DROP COLUMN sanitize_rate; "
                   "UPDATE schema_version SET version = 5; PRAGMA user_version = 5");
  auto db = must_open(d.path);
  std::string why;
  auto back = db->load(why);
  INFO(why);
  REQUIRE(back);
  CHECK(back->array_sessions == ArraySessionsConfig{});
  CHECK(back->host_groups[0].spi.empty());
  CHECK(raw_int(d.db(), "PRAGMA user_version") == StateDb::kSchemaVersion);
}

TEST_CASE("state db: the ALUA pair's takeover and cluster_id survive a restart, schema 6 is upgraded", "[statedb]") {
  // A node of a SAN-backed pair restarted with its state directory must keep its storage
  // fencing (docs/failover.md "Fencing at the storage"): schema 6 dropped both settings.
  TempDir d;
  Config c = full_config();
  {
    auto db = must_open(d.path);
    std::string why;
    REQUIRE(db->save(c, why));
  }
  {
    auto db = must_open(d.path);
    std::string why;
    auto back = db->load(why);
    INFO(why);
    REQUIRE(back);
    CHECK(back->alua.takeover == "fenced");
    CHECK(back->alua.cluster_id == 7);
    CHECK(*back == c);
  }
  // A schema-6 stmfd had neither column: upgraded in place with the defaults (manual, unset).
  raw_exec(d.db(), "ALTER TABLE alua DROP COLUMN takeover; ALTER TABLE alua DROP COLUMN cluster_id; "
    "ALTER TABLE lus DROP COLUMN sanitize; ALTER TABLE lus DROP COLUMN sanitize_rate; "
                   "UPDATE schema_version SET version = 6; PRAGMA user_version = 6");
  auto db = must_open(d.path);
  std::string why;
  auto back = db->load(why);
  INFO(why);
  REQUIRE(back);
  CHECK(back->alua.takeover == "manual");
  CHECK(back->alua.cluster_id == 0);
  CHECK(raw_int(d.db(), "PRAGMA user_version") == StateDb::kSchemaVersion);
}

TEST_CASE("state db: the LUs' SANITIZE settings survive a restart, schema 7 is upgraded", "[statedb]") {
  TempDir d;
  Config c = full_config();
  REQUIRE(!c.lus.empty());
  c.lus[0].sanitize = false;
  c.lus[0].sanitize_rate = 64u << 20;
  {
    std::unique_ptr<StateDb> db;
    const Config back = save_and_reload(d.path, c, db);
    CHECK(!back.lus[0].sanitize);
    CHECK(back.lus[0].sanitize_rate == 64u << 20);
    CHECK(back == c);
  }
  // A schema-7 stmfd had neither column: upgraded in place with the defaults (allowed, unpaced).
  raw_exec(d.db(), "ALTER TABLE lus DROP COLUMN sanitize; ALTER TABLE lus DROP COLUMN sanitize_rate; "
                   "UPDATE schema_version SET version = 7; PRAGMA user_version = 7");
  auto db = must_open(d.path);
  std::string why;
  auto back = db->load(why);
  INFO(why);
  REQUIRE(back);
  CHECK(back->lus[0].sanitize);
  CHECK(back->lus[0].sanitize_rate == 0);
  CHECK(raw_int(d.db(), "PRAGMA user_version") == 8);
}
