#include "mgmt/state_db.h"
#include "core/log.h"
#include "mgmt/json_limits.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <map>
#include <utility>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace stmf::mgmt {

namespace {

std::shared_ptr<spdlog::logger>& log() {
  static std::shared_ptr<spdlog::logger> l = stmf::logger("statedb");
  return l;
}

// Every SQLite failure inside this file becomes a DbError (caught at the public API).
struct DbError {
  int code;  // extended SQLite result code (0 for a content problem found while loading)
  std::string msg;
};

[[noreturn]] void throw_db(sqlite3* db, int rc, const std::string& what) {
  std::string m = what.empty() ? "" : what + ": ";
  m += (db && sqlite3_errcode(db) == rc) ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  throw DbError{rc, m};
}
[[noreturn]] void bad_row(const std::string& what) { throw DbError{0, what}; }

// A prepared statement. Parameters are bound (1-based), never concatenated into SQL.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    int rc = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr);
    if (rc != SQLITE_OK) throw_db(db, rc, "");
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  // Ready for a new execution: previous results reset, bindings cleared.
  Stmt& start() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
    return *this;
  }
  Stmt& bind(int i, int64_t v) { return check(sqlite3_bind_int64(s_, i, v)); }
  Stmt& bind_u64(int i, uint64_t v) {
    if (v > uint64_t(std::numeric_limits<int64_t>::max()))
      throw DbError{SQLITE_RANGE, "value " + std::to_string(v) + " does not fit the database (at most 2^63-1)"};
    return bind(i, int64_t(v));
  }
  Stmt& bind(int i, const std::string& v) { return check(sqlite3_bind_text(s_, i, v.data(), int(v.size()), SQLITE_TRANSIENT)); }
  Stmt& bind_null(int i) { return check(sqlite3_bind_null(s_, i)); }
  Stmt& bind(int i, const std::optional<std::string>& v) { return v ? bind(i, *v) : bind_null(i); }

  // True with a row, false when done; throws on error (and resets, releasing locks).
  bool step() {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) {
      sqlite3_reset(s_);
      return false;
    }
    rc = sqlite3_extended_errcode(db_);
    std::string msg = sqlite3_errmsg(db_);
    sqlite3_reset(s_);
    throw DbError{rc, msg};
  }
  void run() {
    while (step()) {
    }
  }

  int type(int c) const { return sqlite3_column_type(s_, c); }
  std::string col_name(int c) const {
    const char* n = sqlite3_column_name(s_, c);
    return std::string("column ") + (n ? n : "?");
  }
  int64_t i64(int c) const {
    if (type(c) != SQLITE_INTEGER) bad_row(col_name(c) + ": not an integer");
    return sqlite3_column_int64(s_, c);
  }
  uint64_t u64(int c, uint64_t hi = std::numeric_limits<uint64_t>::max()) const {
    int64_t v = i64(c);
    if (v < 0 || uint64_t(v) > hi) bad_row(col_name(c) + ": value " + std::to_string(v) + " out of range");
    return uint64_t(v);
  }
  uint32_t u32(int c) const { return uint32_t(u64(c, std::numeric_limits<uint32_t>::max())); }
  uint16_t u16(int c) const { return uint16_t(u64(c, std::numeric_limits<uint16_t>::max())); }
  bool boolean(int c) const {
    int64_t v = i64(c);
    if (v != 0 && v != 1) bad_row(col_name(c) + ": not a boolean (" + std::to_string(v) + ")");
    return v == 1;
  }
  std::string text(int c) const {
    if (type(c) != SQLITE_TEXT) bad_row(col_name(c) + ": not text");
    const unsigned char* p = sqlite3_column_text(s_, c);
    return std::string(reinterpret_cast<const char*>(p), size_t(sqlite3_column_bytes(s_, c)));
  }
  std::optional<std::string> opt_text(int c) const {
    if (type(c) == SQLITE_NULL) return std::nullopt;
    return text(c);
  }

 private:
  Stmt& check(int rc) {
    if (rc != SQLITE_OK) throw_db(db_, rc, "bind");
    return *this;
  }
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
};

// ---------------------------------------------------------------------------------------------
// Schema version 1. STRICT tables (SQLite >= 3.37): column types are enforced. CHECK constraints
// hold the model's type ranges; semantic rules (block sizes, name syntax...) are validate()'s.
// Every list of the model has a `pos` column so its order survives a round trip.
const char* const kSchema = R"SQL(
CREATE TABLE schema_version (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version INTEGER NOT NULL
) STRICT;

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
  iscsi_max_recv_data_segment_length INTEGER NOT NULL CHECK (iscsi_max_recv_data_segment_length BETWEEN 0 AND 4294967295),
  iscsi_max_burst_length INTEGER NOT NULL CHECK (iscsi_max_burst_length BETWEEN 0 AND 4294967295),
  iscsi_first_burst_length INTEGER NOT NULL CHECK (iscsi_first_burst_length BETWEEN 0 AND 4294967295),
  iscsi_immediate_data INTEGER NOT NULL CHECK (iscsi_immediate_data IN (0, 1)),
  iscsi_initial_r2t INTEGER NOT NULL CHECK (iscsi_initial_r2t IN (0, 1)),
  iscsi_max_outstanding_r2t INTEGER NOT NULL CHECK (iscsi_max_outstanding_r2t BETWEEN 0 AND 4294967295),
  iscsi_header_digest TEXT NOT NULL,  -- JSON array of strings, in order
  iscsi_data_digest TEXT NOT NULL,    -- JSON array of strings, in order
  iscsi_queue_depth INTEGER NOT NULL CHECK (iscsi_queue_depth BETWEEN 0 AND 4294967295),
  iscsi_nop_in_interval_s INTEGER NOT NULL CHECK (iscsi_nop_in_interval_s BETWEEN 0 AND 4294967295),
  iscsi_nop_in_timeout_s INTEGER NOT NULL CHECK (iscsi_nop_in_timeout_s BETWEEN 0 AND 4294967295),
  iscsi_login_timeout_s INTEGER NOT NULL CHECK (iscsi_login_timeout_s BETWEEN 0 AND 4294967295)
) STRICT;

CREATE TABLE lus (
  guid TEXT PRIMARY KEY,
  pos INTEGER NOT NULL UNIQUE,
  name TEXT NOT NULL,
  store TEXT NOT NULL,
  backing TEXT NOT NULL,
  size INTEGER NOT NULL CHECK (size >= 0),
  block_size INTEGER NOT NULL CHECK (block_size BETWEEN 1 AND 4294967295),
  physical_block_size INTEGER NOT NULL CHECK (physical_block_size BETWEEN 0 AND 4294967295),
  write_protect INTEGER NOT NULL CHECK (write_protect IN (0, 1)),
  write_cache INTEGER NOT NULL CHECK (write_cache IN (0, 1)),
  removable INTEGER NOT NULL CHECK (removable IN (0, 1)),
  direct INTEGER NOT NULL CHECK (direct IN (0, 1)),
  serial TEXT NOT NULL,
  vendor TEXT NOT NULL,
  product TEXT NOT NULL,
  mgmt_url TEXT NOT NULL,
  online INTEGER NOT NULL CHECK (online IN (0, 1))
) STRICT;
-- Two file LUs never share a backing file.
CREATE UNIQUE INDEX lus_backing_file ON lus (backing) WHERE store = 'file';

CREATE TABLE host_groups (
  name TEXT PRIMARY KEY,
  pos INTEGER NOT NULL UNIQUE
) STRICT;
CREATE TABLE hg_members (
  group_name TEXT NOT NULL REFERENCES host_groups (name) ON DELETE CASCADE,
  pos INTEGER NOT NULL,
  member TEXT NOT NULL UNIQUE,  -- a device is in at most one host group
  PRIMARY KEY (group_name, pos)
) STRICT;

CREATE TABLE target_groups (
  name TEXT PRIMARY KEY,
  pos INTEGER NOT NULL UNIQUE
) STRICT;
CREATE TABLE tg_members (
  group_name TEXT NOT NULL REFERENCES target_groups (name) ON DELETE CASCADE,
  pos INTEGER NOT NULL,
  member TEXT NOT NULL UNIQUE,  -- a device is in at most one target group
  PRIMARY KEY (group_name, pos)
) STRICT;

-- No foreign key on guid: a view entry outlives its LU (COMSTAR keeps views of deleted LUs).
CREATE TABLE view_entries (
  guid TEXT NOT NULL,
  idx INTEGER NOT NULL CHECK (idx BETWEEN 0 AND 4294967295),
  pos INTEGER NOT NULL UNIQUE,
  host_group TEXT REFERENCES host_groups (name),      -- NULL = all hosts
  target_group TEXT REFERENCES target_groups (name),  -- NULL = all targets
  lun INTEGER NOT NULL CHECK (lun >= 0),
  PRIMARY KEY (guid, idx)
) STRICT;

CREATE TABLE targets (
  iqn TEXT PRIMARY KEY,
  pos INTEGER NOT NULL UNIQUE,
  alias TEXT NOT NULL,
  tpgt INTEGER NOT NULL CHECK (tpgt BETWEEN 0 AND 65535),
  chap_user TEXT,  -- the four chap columns are all NULL (no CHAP) or all set
  chap_secret TEXT,
  chap_mutual_user TEXT,
  chap_mutual_secret TEXT,
  online INTEGER NOT NULL CHECK (online IN (0, 1)),
  CHECK ((chap_user IS NULL) = (chap_secret IS NULL) AND (chap_user IS NULL) = (chap_mutual_user IS NULL) AND
         (chap_user IS NULL) = (chap_mutual_secret IS NULL))
) STRICT;
CREATE TABLE target_initiators (
  target TEXT NOT NULL REFERENCES targets (iqn) ON DELETE CASCADE,
  pos INTEGER NOT NULL,
  initiator TEXT NOT NULL,
  PRIMARY KEY (target, pos)
) STRICT;

CREATE TABLE portals (
  pos INTEGER PRIMARY KEY,
  host TEXT NOT NULL,
  port INTEGER NOT NULL CHECK (port BETWEEN 0 AND 65535),
  UNIQUE (host, port)
) STRICT;
)SQL";

// Schema 2 adds the persistent-reservation state of LUs whose reservations were made with
// APTPL=1 (SPC-4 5.13.4): one JSON document per LU, written before PR OUT returns GOOD.
const char* const kSchemaV2 = R"SQL(
CREATE TABLE pr_state (
  guid TEXT PRIMARY KEY CHECK (length(guid) = 32),
  state TEXT NOT NULL
) STRICT;
)SQL";

// Schema 3 adds the ALUA pair: the settings of stmfSetAluaState and the proxy link (one row),
// and each target's port index (relative target port id = node * 32768 + port_index). The
// column is added with ALTER TABLE so that creation and the 2 -> 3 migration share this text;
// existing targets are then numbered 1, 2, 3... in their order (migrate_to_v3).
const char* const kSchemaV3 = R"SQL(
ALTER TABLE targets ADD COLUMN port_index INTEGER NOT NULL DEFAULT 0 CHECK (port_index BETWEEN 0 AND 32767);
CREATE TABLE alua (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),
  node INTEGER NOT NULL CHECK (node IN (0, 1)),
  listen TEXT NOT NULL,  -- "host:port" or ""
  peer TEXT NOT NULL,    -- "host:port" or ""
  carrier TEXT NOT NULL CHECK (carrier IN ('tcp', 'door')),
  heartbeat_ms INTEGER NOT NULL CHECK (heartbeat_ms BETWEEN 0 AND 4294967295),
  timeout_ms INTEGER NOT NULL CHECK (timeout_ms BETWEEN 0 AND 4294967295)
) STRICT;
)SQL";
// After the port indexes are numbered: no two targets share one.
const char* const kSchemaV3Index = "CREATE UNIQUE INDEX targets_port_index ON targets (port_index)";

// Schema 4 adds each LU's ALUA ownership epoch (docs/alua.md "Fencing"). Added with ALTER TABLE
// so that creation and the 3 -> 4 migration share this text; existing LUs start at epoch 0.
const char* const kSchemaV4 = "ALTER TABLE lus ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0 CHECK (epoch >= 0)";

// Schema 5 adds the iSCSI resource limits (docs/security.md "Resource limits") as one JSON
// object (config.h iscsi_limits_json; keys it lacks take their defaults); CHAP as itadm
// models it (docs/security.md "CHAP"): each target's auth method, the node's default and
// discovery auth methods, and the initiators' CHAP names and secrets; the peer link's TLS and
// plain-TCP settings (docs/security.md "Peer link"); the LUs kept as standby records after
// stepping down (LuConfig::standby); and the management socket's bounds and the audit trail's
// settings (the rest of the "management" object, ManagementConfig, as JSON; '{}' = defaults). ALTER TABLE again, so creation and the 4 -> 5 migration
// share this text; existing databases start with the defaults.
const char* const kSchemaV5 = R"SQL(
ALTER TABLE settings ADD COLUMN iscsi_limits TEXT NOT NULL DEFAULT '{}';
ALTER TABLE targets ADD COLUMN auth TEXT NOT NULL DEFAULT 'default' CHECK (auth IN ('default', 'none', 'chap'));
ALTER TABLE settings ADD COLUMN iscsi_default_auth TEXT NOT NULL DEFAULT 'none' CHECK (iscsi_default_auth IN ('none', 'chap'));
ALTER TABLE settings ADD COLUMN iscsi_discovery_auth TEXT NOT NULL DEFAULT 'none' CHECK (iscsi_discovery_auth IN ('none', 'chap'));
CREATE TABLE initiators (
  name TEXT PRIMARY KEY,
  pos INTEGER NOT NULL UNIQUE,
  chap_user TEXT NOT NULL,   -- '' = the node name
  chap_secret TEXT NOT NULL  -- '' = none configured
) STRICT;
ALTER TABLE alua ADD COLUMN tls TEXT NOT NULL DEFAULT '';  -- {"cert","key","peer_cert","ca"} or ''
ALTER TABLE alua ADD COLUMN insecure INTEGER NOT NULL DEFAULT 0 CHECK (insecure IN (0, 1));
ALTER TABLE alua ADD COLUMN handshake_timeout_ms INTEGER NOT NULL DEFAULT 5000
  CHECK (handshake_timeout_ms BETWEEN 0 AND 4294967295);
ALTER TABLE lus ADD COLUMN standby INTEGER NOT NULL DEFAULT 0 CHECK (standby IN (0, 1));
ALTER TABLE settings ADD COLUMN mgmt_limits TEXT NOT NULL DEFAULT '{}';
-- An iscsi store's backend: {"url","initiator","chap":{"user","secret"},"header_digest"}; '' otherwise.
ALTER TABLE lus ADD COLUMN backend TEXT NOT NULL DEFAULT '';
)SQL";

// Schema 6 adds the array sessions' settings (docs/array-sessions.md): the "array_sessions"
// object (ArraySessionsConfig) as JSON; '{}' = defaults. ALTER TABLE, so creation and the
// 5 -> 6 migration share this text.
// It also adds the host groups' SPI (hex, '' = none).
const char* const kSchemaV6 = R"SQL(
ALTER TABLE settings ADD COLUMN array_sessions TEXT NOT NULL DEFAULT '{}';
ALTER TABLE host_groups ADD COLUMN spi TEXT NOT NULL DEFAULT '';
)SQL";

// Schema 7 adds the storage fencing settings of the ALUA pair (docs/failover.md "Fencing at the
// storage"): alua.takeover and alua.cluster_id. Before it a node restarted with a state
// directory lost them (the configuration file is ignored then): its SAN-backed LUs were no
// longer fenced, it registered no key and never raced. ALTER TABLE, so creation and the
// 6 -> 7 migration share this text; existing databases get the defaults (manual, unset).
const char* const kSchemaV7 = R"SQL(
ALTER TABLE alua ADD COLUMN takeover TEXT NOT NULL DEFAULT 'manual' CHECK (takeover IN ('manual', 'fenced'));
ALTER TABLE alua ADD COLUMN cluster_id INTEGER NOT NULL DEFAULT 0 CHECK (cluster_id BETWEEN 0 AND 4294967295);
)SQL";

// Schema 8 adds each LU's SANITIZE settings (docs/scsi.md "SANITIZE"): whether initiators may
// sanitize it and the pace of a sanitize (bytes per second, 0 = unpaced). ALTER TABLE, so
// creation and the 7 -> 8 migration share this text; existing LUs get the defaults.
const char* const kSchemaV8 = R"SQL(
ALTER TABLE lus ADD COLUMN sanitize INTEGER NOT NULL DEFAULT 1 CHECK (sanitize IN (0, 1));
ALTER TABLE lus ADD COLUMN sanitize_rate INTEGER NOT NULL DEFAULT 0 CHECK (sanitize_rate >= 0);
)SQL";

const char* const kTables[] = {"schema_version", "settings",      "lus",          "host_groups",
                               "hg_members",     "target_groups", "tg_members",   "view_entries",
                               "targets",        "target_initiators", "portals",   "pr_state",
                               "alua",           "initiators"};

std::string digests_json(const std::vector<std::string>& v) { return nlohmann::json(v).dump(); }

std::vector<std::string> digests_from(const std::string& s, const char* col) {
  auto j = stmf::mgmt::parse_json_limited(s);
  if (j.is_discarded() || !j.is_array()) bad_row(std::string("settings.") + col + ": not a JSON list");
  std::vector<std::string> out;
  for (auto& e : j) {
    if (!e.is_string()) bad_row(std::string("settings.") + col + ": not a list of strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

struct StateDb::Impl {
  sqlite3* db = nullptr;
  // Prepared statements reused across saves/loads; destroyed before the handle is closed.
  std::map<const char*, std::unique_ptr<Stmt>> cache;

  ~Impl() {
    cache.clear();
    if (db) sqlite3_close_v2(db);
  }
  Stmt& st(const char* sql) {
    auto& p = cache[sql];
    if (!p) p = std::make_unique<Stmt>(db, sql);
    return p->start();
  }
  void exec(const char* sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string m = err ? err : sqlite3_errstr(rc);
      sqlite3_free(err);
      throw DbError{sqlite3_extended_errcode(db), m};
    }
  }
  void rollback_quietly() {
    if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  int64_t pragma_int(const char* sql) {
    Stmt s(db, sql);
    if (!s.step()) throw DbError{SQLITE_ERROR, std::string(sql) + ": no result"};
    int64_t v = s.i64(0);
    s.start();
    return v;
  }
  std::string pragma_text(const char* sql) {
    Stmt s(db, sql);
    if (!s.step()) throw DbError{SQLITE_ERROR, std::string(sql) + ": no result"};
    return s.type(0) == SQLITE_TEXT ? s.text(0) : std::string();
  }

  // The settings row (id 1), written whole: at creation (configured 0) and by every save.
  void write_settings(const Config& c, bool configured, uint64_t generation) {
    auto& s = st(
        "INSERT OR REPLACE INTO settings (id, configured, generation, company_id, threads, shutdown_timeout_s, "
        "log_level, service_online, mgmt_socket, mgmt_admin_group, iscsi_max_recv_data_segment_length, "
        "iscsi_max_burst_length, iscsi_first_burst_length, iscsi_immediate_data, iscsi_initial_r2t, "
        "iscsi_max_outstanding_r2t, iscsi_header_digest, iscsi_data_digest, iscsi_queue_depth, "
        "iscsi_nop_in_interval_s, iscsi_nop_in_timeout_s, iscsi_login_timeout_s, iscsi_limits, "
        "iscsi_default_auth, iscsi_discovery_auth) "
        "VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    const IscsiConfig& i = c.iscsi;
    s.bind(1, int64_t(configured))
        .bind_u64(2, generation)
        .bind(3, int64_t(c.company_id))
        .bind(4, int64_t(c.threads))
        .bind(5, int64_t(c.shutdown_timeout_s))
        .bind(6, c.log_level)
        .bind(7, int64_t(c.service_online))
        .bind(8, c.management.socket)
        .bind(9, c.management.admin_group)
        .bind(10, int64_t(i.max_recv_data_segment_length))
        .bind(11, int64_t(i.max_burst_length))
        .bind(12, int64_t(i.first_burst_length))
        .bind(13, int64_t(i.immediate_data))
        .bind(14, int64_t(i.initial_r2t))
        .bind(15, int64_t(i.max_outstanding_r2t))
        .bind(16, digests_json(i.header_digest))
        .bind(17, digests_json(i.data_digest))
        .bind(18, int64_t(i.queue_depth))
        .bind(19, int64_t(i.nop_in_interval_s))
        .bind(20, int64_t(i.nop_in_timeout_s))
        .bind(21, int64_t(i.login_timeout_s))
        .bind(22, iscsi_limits_json(i).dump())
        .bind(23, i.default_auth)
        .bind(24, i.discovery_auth)
        .run();
    st("UPDATE settings SET mgmt_limits = ? WHERE id = 1").bind(1, to_json(c.management).dump()).run();
    st("UPDATE settings SET array_sessions = ? WHERE id = 1").bind(1, to_json(c.array_sessions).dump()).run();
    write_alua(c.alua);
  }

  void write_alua(const AluaConfig& a) {
    std::string tls;
    if (a.tls) tls = nlohmann::json{{"cert", a.tls->cert}, {"key", a.tls->key}, {"peer_cert", a.tls->peer_cert},
                                    {"ca", a.tls->ca}}.dump();
    st("INSERT OR REPLACE INTO alua (id, enabled, node, listen, peer, carrier, heartbeat_ms, timeout_ms, tls, insecure, "
       "handshake_timeout_ms, takeover, cluster_id) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(1, int64_t(a.enabled))
        .bind(2, int64_t(a.node))
        .bind(3, a.listen)
        .bind(4, a.peer)
        .bind(5, a.carrier)
        .bind(6, int64_t(a.heartbeat_ms))
        .bind(7, int64_t(a.timeout_ms))
        .bind(8, tls)
        .bind(9, int64_t(a.insecure))
        .bind(10, int64_t(a.handshake_timeout_ms))
        .bind(11, a.takeover)
        .bind(12, int64_t(a.cluster_id))
        .run();
  }

  // Schema 2 -> 3 inside the caller's transaction: the ALUA row (defaults: disabled) and port
  // indexes 1, 2, 3... for the existing targets in their order.
  void migrate_to_v3() {
    exec(kSchemaV3);
    exec("UPDATE targets SET port_index = (SELECT count(*) FROM targets AS t WHERE t.pos <= targets.pos)");
    exec(kSchemaV3Index);
    exec("INSERT OR REPLACE INTO alua (id, enabled, node, listen, peer, carrier, heartbeat_ms, timeout_ms) "
         "VALUES (1, 0, 0, '', '', 'tcp', 500, 3000)");  // AluaConfig{} in schema 3's columns
  }

  void write_all(const Config& c, uint64_t generation) {
    // Children first (foreign keys); members and initiators also cascade.
    for (const char* sql : {"DELETE FROM view_entries", "DELETE FROM hg_members", "DELETE FROM tg_members",
                            "DELETE FROM host_groups", "DELETE FROM target_groups", "DELETE FROM target_initiators",
                            "DELETE FROM targets", "DELETE FROM lus", "DELETE FROM portals",
                            "DELETE FROM initiators"})
      st(sql).run();
    write_settings(c, true, generation);

    for (size_t p = 0; p < c.portals.size(); ++p)
      st("INSERT INTO portals (pos, host, port) VALUES (?, ?, ?)")
          .bind(1, int64_t(p))
          .bind(2, c.portals[p].host)
          .bind(3, int64_t(c.portals[p].port))
          .run();

    for (size_t p = 0; p < c.lus.size(); ++p) {
      const LuConfig& l = c.lus[p];
      st("INSERT INTO lus (guid, pos, name, store, backing, size, block_size, physical_block_size, write_protect, "
         "write_cache, removable, direct, serial, vendor, product, mgmt_url, online, epoch, standby, backend, sanitize, "
         "sanitize_rate) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
          .bind(1, l.guid)
          .bind(2, int64_t(p))
          .bind(3, l.name)
          .bind(4, l.store)
          .bind(5, l.backing)
          .bind_u64(6, l.size)
          .bind(7, int64_t(l.block_size))
          .bind(8, int64_t(l.physical_block_size))
          .bind(9, int64_t(l.write_protect))
          .bind(10, int64_t(l.write_cache))
          .bind(11, int64_t(l.removable))
          .bind(12, int64_t(l.direct))
          .bind(13, l.serial)
          .bind(14, l.vendor)
          .bind(15, l.product)
          .bind(16, l.mgmt_url)
          .bind(17, int64_t(l.online))
          .bind_u64(18, l.epoch)
          .bind(19, int64_t(l.standby))
          .bind(20, l.store == "iscsi" || l.store == "rbd" ? to_json(l, true)["backend"].dump() : std::string())
          .bind(21, int64_t(l.sanitize))
          .bind_u64(22, l.sanitize_rate)
          .run();
    }

    auto groups = [&](const std::vector<GroupConfig>& gs, const char* ins_group, const char* ins_member) {
      for (size_t p = 0; p < gs.size(); ++p) {
        st(ins_group).bind(1, gs[p].name).bind(2, int64_t(p)).run();
        for (size_t m = 0; m < gs[p].members.size(); ++m)
          st(ins_member).bind(1, gs[p].name).bind(2, int64_t(m)).bind(3, gs[p].members[m]).run();
      }
    };
    groups(c.host_groups, "INSERT INTO host_groups (name, pos) VALUES (?, ?)",
           "INSERT INTO hg_members (group_name, pos, member) VALUES (?, ?, ?)");
    for (auto& g : c.host_groups)
      if (!g.spi.empty()) st("UPDATE host_groups SET spi = ? WHERE name = ?").bind(1, g.spi).bind(2, g.name).run();
    groups(c.target_groups, "INSERT INTO target_groups (name, pos) VALUES (?, ?)",
           "INSERT INTO tg_members (group_name, pos, member) VALUES (?, ?, ?)");

    for (size_t p = 0; p < c.views.size(); ++p) {
      const ViewEntryConfig& v = c.views[p];
      st("INSERT INTO view_entries (guid, idx, pos, host_group, target_group, lun) VALUES (?, ?, ?, ?, ?, ?)")
          .bind(1, v.guid)
          .bind(2, int64_t(v.index))
          .bind(3, int64_t(p))
          .bind(4, v.host_group)
          .bind(5, v.target_group)
          .bind_u64(6, v.lun)
          .run();
    }

    for (size_t p = 0; p < c.targets.size(); ++p) {
      const TargetConfig& t = c.targets[p];
      auto& s = st(
          "INSERT INTO targets (iqn, pos, alias, tpgt, chap_user, chap_secret, chap_mutual_user, chap_mutual_secret, "
          "online, port_index, auth) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
      s.bind(1, t.iqn).bind(2, int64_t(p)).bind(3, t.alias).bind(4, int64_t(t.tpgt)).bind(9, int64_t(t.online));
      s.bind(10, int64_t(t.port_index)).bind(11, t.auth);
      if (t.chap) s.bind(5, t.chap->user).bind(6, t.chap->secret).bind(7, t.chap->mutual_user).bind(8, t.chap->mutual_secret);
      s.run();  // unbound chap parameters are NULL
      for (size_t i = 0; i < t.initiators.size(); ++i)
        st("INSERT INTO target_initiators (target, pos, initiator) VALUES (?, ?, ?)")
            .bind(1, t.iqn)
            .bind(2, int64_t(i))
            .bind(3, t.initiators[i])
            .run();
    }

    for (size_t p = 0; p < c.initiators.size(); ++p)
      st("INSERT INTO initiators (name, pos, chap_user, chap_secret) VALUES (?, ?, ?, ?)")
          .bind(1, c.initiators[p].name)
          .bind(2, int64_t(p))
          .bind(3, c.initiators[p].chap_user)
          .bind(4, c.initiators[p].chap_secret)
          .run();
  }

  Config read_all() {
    Config c;
    {
      auto& s = st("SELECT name, chap_user, chap_secret FROM initiators ORDER BY pos");
      while (s.step()) c.initiators.push_back(InitiatorConfig{s.text(0), s.text(1), s.text(2)});
    }
    {
      auto& s = st(
          "SELECT company_id, threads, shutdown_timeout_s, log_level, service_online, mgmt_socket, mgmt_admin_group, "
          "iscsi_max_recv_data_segment_length, iscsi_max_burst_length, iscsi_first_burst_length, "
          "iscsi_immediate_data, iscsi_initial_r2t, iscsi_max_outstanding_r2t, iscsi_header_digest, "
          "iscsi_data_digest, iscsi_queue_depth, iscsi_nop_in_interval_s, iscsi_nop_in_timeout_s, "
          "iscsi_login_timeout_s, iscsi_limits, iscsi_default_auth, iscsi_discovery_auth FROM settings WHERE id = 1");
      if (!s.step()) bad_row("settings: row missing");
      c.company_id = s.u32(0);
      c.threads = s.u32(1);
      c.shutdown_timeout_s = s.u32(2);
      c.log_level = s.text(3);
      c.service_online = s.boolean(4);
      c.management.socket = s.text(5);
      c.management.admin_group = s.text(6);
      IscsiConfig& i = c.iscsi;
      i.max_recv_data_segment_length = s.u32(7);
      i.max_burst_length = s.u32(8);
      i.first_burst_length = s.u32(9);
      i.immediate_data = s.boolean(10);
      i.initial_r2t = s.boolean(11);
      i.max_outstanding_r2t = s.u32(12);
      i.header_digest = digests_from(s.text(13), "iscsi_header_digest");
      i.data_digest = digests_from(s.text(14), "iscsi_data_digest");
      i.queue_depth = s.u32(15);
      i.nop_in_interval_s = s.u32(16);
      i.nop_in_timeout_s = s.u32(17);
      i.login_timeout_s = s.u32(18);
      {
        auto j = nlohmann::json::parse(s.text(19), nullptr, false);
        ConfigError e;
        if (j.is_discarded() || !parse_iscsi_limits(j, i, e))
          bad_row("settings.iscsi_limits: " + (j.is_discarded() ? std::string("not JSON") : e.message()));
      }
      i.default_auth = s.text(20);
      i.discovery_auth = s.text(21);
      s.start();
    }
    {
      auto& s = st("SELECT mgmt_limits FROM settings WHERE id = 1");
      if (!s.step()) bad_row("settings: row missing");
      auto j = parse_json_limited(s.text(0));
      ConfigError err;
      auto m = j.is_discarded() ? std::nullopt : parse_management(j, "settings.mgmt_limits", err);
      if (!m) bad_row(j.is_discarded() ? "settings.mgmt_limits: not a JSON object" : err.message());
      // socket and admin_group have their own columns.
      m->socket = c.management.socket;
      m->admin_group = c.management.admin_group;
      c.management = *m;
      s.start();
    }
    {
      auto& s = st("SELECT array_sessions FROM settings WHERE id = 1");
      if (!s.step()) bad_row("settings: row missing");
      auto j = parse_json_limited(s.text(0));
      ConfigError err;
      auto a = j.is_discarded() ? std::nullopt : parse_array_sessions(j, "settings.array_sessions", err);
      if (!a) bad_row(j.is_discarded() ? "settings.array_sessions: not a JSON object" : err.message());
      c.array_sessions = *a;
      s.start();
    }
    {
      auto& s = st("SELECT enabled, node, listen, peer, carrier, heartbeat_ms, timeout_ms, tls, insecure, "
                   "handshake_timeout_ms, takeover, cluster_id FROM alua WHERE id = 1");
      if (!s.step()) bad_row("alua: row missing");
      AluaConfig& a = c.alua;
      a.enabled = s.boolean(0);
      a.node = s.u32(1);
      a.listen = s.text(2);
      a.peer = s.text(3);
      a.carrier = s.text(4);
      a.heartbeat_ms = s.u32(5);
      a.timeout_ms = s.u32(6);
      if (const std::string tls = s.text(7); !tls.empty()) {
        auto j = nlohmann::json::parse(tls, nullptr, false);
        if (!j.is_object()) bad_row("alua.tls: not a JSON object");
        a.tls = AluaTlsConfig{j.value("cert", ""), j.value("key", ""), j.value("peer_cert", ""), j.value("ca", "")};
      }
      a.insecure = s.boolean(8);
      a.handshake_timeout_ms = s.u32(9);
      a.takeover = s.text(10);
      a.cluster_id = s.u32(11);
      s.start();
    }
    {
      auto& s = st("SELECT host, port FROM portals ORDER BY pos");
      while (s.step()) c.portals.push_back(Portal{s.text(0), s.u16(1)});
    }
    {
      auto& s = st(
          "SELECT guid, name, store, backing, size, block_size, physical_block_size, write_protect, write_cache, "
          "removable, direct, serial, vendor, product, mgmt_url, online, epoch, standby, backend, sanitize, sanitize_rate "
          "FROM lus ORDER BY pos");
      while (s.step()) {
        LuConfig l;
        l.guid = s.text(0);
        l.name = s.text(1);
        l.store = s.text(2);
        if (!known_store(l.store))
          bad_row("lus[" + std::to_string(c.lus.size()) + "].store: unknown store '" + l.store + "'");
        l.backing = s.text(3);
        l.size = s.u64(4);
        l.block_size = s.u32(5);
        l.physical_block_size = s.u32(6);
        l.write_protect = s.boolean(7);
        l.write_cache = s.boolean(8);
        l.removable = s.boolean(9);
        l.direct = s.boolean(10);
        l.serial = s.text(11);
        l.vendor = s.text(12);
        l.product = s.text(13);
        l.mgmt_url = s.text(14);
        l.online = s.boolean(15);
        l.epoch = s.u64(16);  // validate() (in load) holds it to the file's range
        l.standby = s.boolean(17);
        l.sanitize = s.boolean(19);
        l.sanitize_rate = s.u64(20);
        if (l.store == "rbd") {
          const std::string where = "lus[" + std::to_string(c.lus.size()) + "].backend";
          ConfigError e;
          auto r = parse_rbd_backend(nlohmann::json::parse(s.text(18), nullptr, false), where, e);
          if (!r) bad_row(e.message());
          l.rbd = *r;
        }
        if (l.store == "iscsi") {
          const std::string where = "lus[" + std::to_string(c.lus.size()) + "].backend";
          auto b = nlohmann::json::parse(s.text(18), nullptr, false);
          if (!b.is_object() || !b.contains("url") || !b["url"].is_string() || !b.contains("initiator") ||
              !b["initiator"].is_string())
            bad_row(where + ": not a backend object");
          l.backend.url = b["url"].get<std::string>();
          l.backend.initiator = b["initiator"].get<std::string>();
          l.backend.header_digest = b.value("header_digest", false);
          auto limit = [&](const char* k, uint32_t& out) {
            if (!b.contains(k)) return;  // written before the key existed: the default
            if (!b[k].is_number_unsigned()) bad_row(where + "." + k + ": not a non-negative integer");
            out = b[k].get<uint32_t>();
          };
          limit("queue_depth", l.backend.queue_depth);
          limit("queue_limit", l.backend.queue_limit);
          limit("retry_attempts", l.backend.retry_attempts);
          limit("retry_ms", l.backend.retry_ms);
          limit("command_timeout_s", l.backend.command_timeout_s);
          limit("connect_timeout_ms", l.backend.connect_timeout_ms);
          if (b.contains("chap") && b["chap"].is_object()) {
            l.backend.chap_user = b["chap"].value("user", "");
            l.backend.chap_secret = b["chap"].value("secret", "");
          }
        }
        c.lus.push_back(std::move(l));
      }
    }
    auto groups = [&](std::vector<GroupConfig>& out, const char* sel_groups, const char* sel_members) {
      {
        auto& s = st(sel_groups);
        while (s.step()) out.push_back(GroupConfig{s.text(0), {}});
      }
      for (auto& g : out) {
        auto& s = st(sel_members).bind(1, g.name);
        while (s.step()) g.members.push_back(s.text(0));
      }
    };
    groups(c.host_groups, "SELECT name FROM host_groups ORDER BY pos",
           "SELECT member FROM hg_members WHERE group_name = ? ORDER BY pos");
    for (auto& g : c.host_groups) {
      auto& s = st("SELECT spi FROM host_groups WHERE name = ?").bind(1, g.name);
      if (s.step()) g.spi = s.text(0);
      s.start();
    }
    groups(c.target_groups, "SELECT name FROM target_groups ORDER BY pos",
           "SELECT member FROM tg_members WHERE group_name = ? ORDER BY pos");
    {
      auto& s = st("SELECT guid, idx, host_group, target_group, lun FROM view_entries ORDER BY pos");
      while (s.step()) {
        ViewEntryConfig v;
        v.guid = s.text(0);
        v.index = s.u32(1);
        v.host_group = s.opt_text(2);
        v.target_group = s.opt_text(3);
        v.lun = s.u64(4);
        c.views.push_back(std::move(v));
      }
    }
    {
      auto& s = st(
          "SELECT iqn, alias, tpgt, chap_user, chap_secret, chap_mutual_user, chap_mutual_secret, online, port_index, "
          "auth FROM targets ORDER BY pos");
      while (s.step()) {
        TargetConfig t;
        t.iqn = s.text(0);
        t.alias = s.text(1);
        t.tpgt = s.u16(2);
        if (s.type(3) != SQLITE_NULL) t.chap = ChapConfig{s.text(3), s.text(4), s.text(5), s.text(6)};
        t.online = s.boolean(7);
        t.port_index = s.u16(8);
        t.auth = s.text(9);
        c.targets.push_back(std::move(t));
      }
      for (auto& t : c.targets) {
        auto& q = st("SELECT initiator FROM target_initiators WHERE target = ? ORDER BY pos").bind(1, t.iqn);
        while (q.step()) t.initiators.push_back(q.text(0));
      }
    }
    return c;
  }
};

// ---------------------------------------------------------------------------------------------

StateDb::StateDb(std::string path, std::unique_ptr<Impl> impl) : path_(std::move(path)), impl_(std::move(impl)) {}
StateDb::~StateDb() = default;

bool StateDb::read_meta(std::string& why) {
  try {
    auto& s = impl_->st("SELECT configured, generation FROM settings WHERE id = 1");
    if (!s.step()) {
      why = path_ + ": not a valid stmfd state database (settings row missing)";
      return false;
    }
    configured_ = s.boolean(0);
    generation_ = s.u64(1);
    s.start();
    return true;
  } catch (const DbError& e) {
    why = path_ + ": not a valid stmfd state database (" + e.msg + ")";
    return false;
  }
}

std::unique_ptr<StateDb> StateDb::open(const std::string& dir, std::string& why) {
  const std::string d = dir.empty() ? std::string(".") : dir;
  const std::string path = d + "/stmf.db";
  auto refuse = [&](const std::string& msg) {
    why = path + ": " + msg;
    log()->error("{}", why);
    return nullptr;
  };

  // The directory (one level) and the file are created private: the database holds CHAP
  // secrets. SQLite gives its -wal and -shm files the database file's permissions.
  if (::mkdir(d.c_str(), 0700) != 0 && errno != EEXIST)
    return refuse(std::string("cannot create the state directory: ") + std::strerror(errno));
  {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return refuse(std::string("cannot open: ") + std::strerror(errno));
    ::close(fd);
  }

  auto impl = std::make_unique<Impl>();
  int rc = sqlite3_open_v2(path.c_str(), &impl->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc != SQLITE_OK)
    return refuse(std::string("cannot open: ") + (impl->db ? sqlite3_errmsg(impl->db) : sqlite3_errstr(rc)));
  sqlite3_extended_result_codes(impl->db, 1);
  sqlite3_busy_timeout(impl->db, 5000);

  auto not_ours = [&](const DbError& e) {
    const int primary = e.code & 0xff;
    if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT)
      return refuse("is not a valid stmfd state database (" + e.msg + ")");
    return refuse(e.msg);
  };

  int64_t version = 0;
  bool created = false;
  try {
    version = impl->pragma_int("PRAGMA user_version");  // the first read: detects a non-database
    // integrity_check: "ok", or up to 100 rows of problems (the first is reported).
    {
      Stmt s(impl->db, "PRAGMA integrity_check");
      std::string first = s.step() && s.type(0) == SQLITE_TEXT ? s.text(0) : "no result";
      if (first != "ok") {
        // One line: "*** in database main ***\nTree 5 page 12 ..." -> "Tree 5 page 12 ...".
        const std::string banner = "*** in database main ***";
        if (first.rfind(banner, 0) == 0) first.erase(0, banner.size());
        for (char& ch : first)
          if (ch == '\n' || ch == '\r') ch = ' ';
        first.erase(0, first.find_first_not_of(' '));
        return refuse("fails PRAGMA integrity_check: " + first);
      }
    }
    if (version > kSchemaVersion)
      return refuse("created by a newer stmfd (schema " + std::to_string(version) + ", this stmfd understands " +
                    std::to_string(kSchemaVersion) + ")");
    if (version < 0) return refuse("is not a valid stmfd state database (schema " + std::to_string(version) + ")");

    std::string mode = impl->pragma_text("PRAGMA journal_mode=WAL");
    if (mode != "wal") return refuse("cannot use WAL journal mode (journal_mode is '" + mode + "')");
    impl->exec("PRAGMA synchronous=FULL");
    impl->exec("PRAGMA foreign_keys=ON");

    if (version == 0) {
      impl->exec("BEGIN IMMEDIATE");
      try {
        // Re-read under the write lock: another process may have created it meanwhile.
        version = impl->pragma_int("PRAGMA user_version");
        if (version == 0) {
          if (impl->pragma_int("SELECT count(*) FROM sqlite_schema") != 0) {
            impl->rollback_quietly();
            return refuse("is a SQLite database but not an stmfd state database (it holds other tables)");
          }
          impl->exec(kSchema);
          impl->exec(kSchemaV2);
          impl->exec(kSchemaV3);
          impl->exec(kSchemaV3Index);
          impl->exec(kSchemaV4);
          impl->exec(kSchemaV5);
          impl->exec(kSchemaV6);
          impl->exec(kSchemaV7);
          impl->exec(kSchemaV8);
          impl->st("INSERT INTO schema_version (id, version) VALUES (1, ?)").bind(1, int64_t(kSchemaVersion)).run();
          impl->write_settings(Config{}, false, 0);
          static_assert(kSchemaVersion == 8, "creation writes schema 8; add migrations with the next version");
          impl->exec("PRAGMA user_version = 8");
          created = true;
        }
        impl->exec("COMMIT");
      } catch (...) {
        impl->rollback_quietly();
        throw;
      }
    }
    if (version == 1) {  // migration 1 -> 2: the persistent-reservation table
      impl->exec("BEGIN IMMEDIATE");
      try {
        impl->exec(kSchemaV2);
        impl->exec("UPDATE schema_version SET version = 2 WHERE id = 1");
        impl->exec("PRAGMA user_version = 2");
        impl->exec("COMMIT");
        log()->info("state database {} upgraded to schema 2", path);
        version = 2;
      } catch (...) {
        impl->rollback_quietly();
        throw;
      }
    }
    if (version == 2) {  // migration 2 -> 3: the ALUA settings and the targets' port indexes
      impl->exec("BEGIN IMMEDIATE");
      try {
        if (impl->pragma_int("PRAGMA user_version") == 2) {  // not migrated by another process meanwhile
          impl->migrate_to_v3();
          impl->exec("UPDATE schema_version SET version = 3 WHERE id = 1");
          impl->exec("PRAGMA user_version = 3");
          log()->info("state database {} upgraded to schema 3", path);
        }
        impl->exec("COMMIT");
        version = 3;
      } catch (...) {
        impl->rollback_quietly();
        throw;
      }
    }
    if (version == 3) {  // migration 3 -> 4: the LUs' ALUA ownership epochs (all 0)
      impl->exec("BEGIN IMMEDIATE");
      try {
        if (impl->pragma_int("PRAGMA user_version") == 3) {  // not migrated by another process meanwhile
          impl->exec(kSchemaV4);
          impl->exec("UPDATE schema_version SET version = 4 WHERE id = 1");
          impl->exec("PRAGMA user_version = 4");
          log()->info("state database {} upgraded to schema 4", path);
        }
        impl->exec("COMMIT");
        version = 4;
      } catch (...) {
        impl->rollback_quietly();
        throw;
      }
    }
    if (version == 4) {  // migration 4 -> 5: iSCSI limits, CHAP, peer-link TLS, standby LU records, management bounds and audit
      impl->exec("BEGIN IMMEDIATE");
      try {
        if (impl->pragma_int("PRAGMA user_version") == 4) {  // not migrated by another process meanwhile
          impl->exec(kSchemaV5);
          impl->exec("UPDATE schema_version SET version = 5 WHERE id = 1");
          impl->exec("PRAGMA user_version = 5");
          log()->info("state database {} upgraded to schema 5", path);
        }
        impl->exec("COMMIT");
        version = 5;
      } catch (...) {
        impl->rollback_quietly();
        throw;
      }
    }
    if (version == 5) {  // migration 5 -> 6: the array sessions' settings
      impl->exec("BEGIN IMMEDIATE");
      try {
        if (impl->pragma_int("PRAGMA user_version") == 5) {  // not migrated by another process meanwhile
          impl->exec(kSchemaV6);
          impl->exec("UPDATE schema_version SET version = 6 WHERE id = 1");
          impl->exec("PRAGMA user_version = 6");
          log()->info("state database {} upgraded to schema 6", path);
        }
        impl->exec("COMMIT");
        version = 6;
      } catch (...) {
        impl->rollback_quietly();
        throw;
      }
    }
    if (version == 6) {  // migration 6 -> 7: the ALUA pair's storage fencing settings
      impl->exec("BEGIN IMMEDIATE");
      try {
        if (impl->pragma_int("PRAGMA user_version") == 6) {  // not migrated by another process meanwhile
          impl->exec(kSchemaV7);
          impl->exec("UPDATE schema_version SET version = 7 WHERE id = 1");
          impl->exec("PRAGMA user_version = 7");
          log()->info("state database {} upgraded to schema 7", path);
        }
        impl->exec("COMMIT");
        version = 7;
      } catch (...) {
        impl->rollback_quietly();
        throw;
      }
    }
    if (version == 7) {  // migration 7 -> 8: the LUs' SANITIZE settings (allowed, unpaced)
      impl->exec("BEGIN IMMEDIATE");
      try {
        if (impl->pragma_int("PRAGMA user_version") == 7) {  // not migrated by another process meanwhile
          impl->exec(kSchemaV8);
          impl->exec("UPDATE schema_version SET version = 8 WHERE id = 1");
          impl->exec("PRAGMA user_version = 8");
          log()->info("state database {} upgraded to schema 8", path);
        }
        impl->exec("COMMIT");
        version = 8;
      } catch (...) {
        impl->rollback_quietly();
        throw;
      }
    }
    // Every table must be there.
    for (const char* t : kTables) {
      Stmt s(impl->db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?");
      s.bind(1, std::string(t));
      if (!s.step() || s.i64(0) != 1) return refuse(std::string("is not a valid stmfd state database (table ") + t + " missing)");
    }
  } catch (const DbError& e) {
    return not_ours(e);
  }

  std::unique_ptr<StateDb> db(new StateDb(path, std::move(impl)));
  if (!db->read_meta(why)) {
    log()->error("{}", why);
    return nullptr;
  }
  if (created)
    log()->info("created state database {}", path);
  else
    log()->info("opened state database {} (generation {}{})", path, db->generation_, db->configured_ ? "" : ", empty");
  return db;
}

std::optional<Config> StateDb::load(std::string& why) {
  std::lock_guard lk(mu_);
  if (!configured_) {
    why = path_ + ": holds no configuration yet";
    return std::nullopt;
  }
  Config c;
  try {
    impl_->exec("BEGIN");  // one consistent snapshot
    try {
      // Rows written behind our back (foreign_keys off) may dangle.
      std::optional<std::string> dangling;
      {
        Stmt s(impl_->db, "PRAGMA foreign_key_check");
        if (s.step()) dangling = "a row of " + s.text(0) + " names a missing " + s.text(2) + " entry";
      }
      if (dangling) bad_row(*dangling);
      c = impl_->read_all();
      impl_->exec("COMMIT");
    } catch (...) {
      impl_->rollback_quietly();
      throw;
    }
  } catch (const DbError& e) {
    why = path_ + ": stored configuration is invalid: " + e.msg;
    log()->error("{}", why);
    return std::nullopt;
  }
  ConfigError err;
  if (!validate(c, err)) {
    why = path_ + ": stored configuration is invalid: " + err.message();
    log()->error("{}", why);
    return std::nullopt;
  }
  return c;
}

bool StateDb::save(const Config& c, std::string& why) {
  std::lock_guard lk(mu_);
  ConfigError err;
  if (!validate(c, err)) {
    why = path_ + ": not saved, the configuration is invalid: " + err.message();
    log()->warn("{}", why);
    return false;
  }
  uint64_t next = 0;
  try {
    impl_->exec("BEGIN IMMEDIATE");
    try {
      auto& s = impl_->st("SELECT generation FROM settings WHERE id = 1");
      if (!s.step()) bad_row("settings: row missing");
      next = s.u64(0) + 1;
      s.start();
      impl_->write_all(c, next);
      impl_->exec("COMMIT");  // WAL + synchronous=FULL: durable when this returns
    } catch (...) {
      impl_->rollback_quietly();
      throw;
    }
  } catch (const DbError& e) {
    why = path_ + ": not saved: " + e.msg;
    log()->warn("{}", why);
    return false;
  }
  generation_ = next;
  configured_ = true;
  log()->debug("saved configuration generation {}", next);
  return true;
}

}  // namespace stmf::mgmt

namespace stmf::mgmt {

bool StateDb::save_pr(const std::string& guid, const std::string& state_json, std::string& why) {
  std::lock_guard lk(mu_);
  try {
    impl_->exec("BEGIN IMMEDIATE");
    try {
      impl_->st("INSERT INTO pr_state (guid, state) VALUES (?, ?) ON CONFLICT (guid) DO UPDATE SET state = excluded.state")
          .bind(1, guid)
          .bind(2, state_json)
          .run();
      impl_->exec("COMMIT");  // durable when this returns
    } catch (...) {
      impl_->rollback_quietly();
      throw;
    }
  } catch (const DbError& e) {
    why = path_ + ": reservation state of " + guid + " not saved: " + e.msg;
    log()->error("{}", why);
    return false;
  }
  return true;
}

bool StateDb::erase_pr(const std::string& guid, std::string& why) {
  std::lock_guard lk(mu_);
  try {
    impl_->st("DELETE FROM pr_state WHERE guid = ?").bind(1, guid).run();
  } catch (const DbError& e) {
    why = path_ + ": reservation state of " + guid + " not erased: " + e.msg;
    log()->error("{}", why);
    return false;
  }
  return true;
}

std::optional<std::map<std::string, std::string>> StateDb::load_pr(std::string& why) {
  std::lock_guard lk(mu_);
  std::map<std::string, std::string> out;
  try {
    auto& s = impl_->st("SELECT guid, state FROM pr_state ORDER BY guid");
    while (s.step()) out[s.text(0)] = s.text(1);
    s.start();
  } catch (const DbError& e) {
    why = path_ + ": reservation state unreadable: " + e.msg;
    return std::nullopt;
  }
  return out;
}

}  // namespace stmf::mgmt
