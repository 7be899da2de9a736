// The state database: SQLite persistence of the daemon's whole configuration (docs/management.md
// "Persistence"). DIR/stmf.db, WAL, synchronous=FULL, foreign_keys=ON; one relational table per
// concept; every save() is one transaction that replaces the stored Config.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "mgmt/config.h"

struct sqlite3;

namespace stmf::mgmt {

// Not thread-safe: one owner (the daemon's management thread) calls it.
class StateDb {
 public:
  static constexpr int kSchemaVersion = 8;

  // Opens DIR/stmf.db, creating it (and the schema) when absent. Returns nullptr and sets
  // `why` (one line naming the file and the problem) when the file is not a SQLite database,
  // fails PRAGMA integrity_check, has a schema version newer than kSchemaVersion, or cannot
  // be opened/created.
  static std::unique_ptr<StateDb> open(const std::string& dir, std::string& why);
  ~StateDb();
  StateDb(const StateDb&) = delete;
  StateDb& operator=(const StateDb&) = delete;

  // True until the first save(): a new database holds no configuration yet.
  bool empty() const { return !configured_; }
  // Reads the whole configuration. nullopt + why when rows do not form a valid Config
  // (validate() fails, unknown enum text, dangling references...) or nothing was saved yet.
  std::optional<Config> load(std::string& why);
  // Replaces the stored configuration with `c` in ONE transaction (BEGIN IMMEDIATE ... COMMIT).
  // `c` must pass validate(). Returns false + why on any failure, in which case the database is
  // unchanged (rolled back). Returns only after the commit is durable (WAL, synchronous=FULL).
  bool save(const Config& c, std::string& why);
  // Increments with each successful save (stored in the database, survives restarts).
  uint64_t generation() const { return generation_; }

  // Persistent-reservation state (APTPL) per LU GUID, as an opaque JSON document. save_pr
  // returns only when the row is durable; false + why leaves the previous row in place.
  bool save_pr(const std::string& guid, const std::string& state_json, std::string& why);
  bool erase_pr(const std::string& guid, std::string& why);
  std::optional<std::map<std::string, std::string>> load_pr(std::string& why);
  const std::string& path() const { return path_; }

  struct Impl;

 private:
  StateDb(std::string path, std::unique_ptr<Impl> impl);
  bool read_meta(std::string& why);

  std::string path_;
  std::mutex mu_;  // the management thread and the I/O threads (PR OUT with APTPL) share it
  std::unique_ptr<Impl> impl_;
  bool configured_ = false;
  uint64_t generation_ = 0;
};

}  // namespace stmf::mgmt
