// stmfadm: shared pieces of the admin CLI (docs/stmfadm.md).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "mgmt/client.h"
#include "mgmt/protocol.h"
#include "mgmt/size.h"

namespace stmfadm {

using stmf::mgmt::json;
using stmf::mgmt::Status;

// A bad command line found after CLI11 parsed it (bad property, malformed GUID...): exit 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A failed operation that ends the command: exit 1, one line "stmfadm: <message> (<CODE>)".
struct OpError : std::runtime_error {
  Status status;
  explicit OpError(Status s) : std::runtime_error(s.message), status(std::move(s)) {}
};

// A local failure (cannot read or write a file...): exit 1, one line "stmfadm: <message>".
struct LocalError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Per-invocation state: global options, the daemon connection, failures so far.
class Ctx {
 public:
  bool json_output = false;
  std::string socket;  // "" = $STMFD_SOCKET or the default

  // Sends one request; throws OpError on failure. Returns the result members of the response.
  json call(const std::string& op, const json& args = json::object());
  // Like call(), but reports a failure on stderr and counts it instead of throwing (for
  // commands taking several operands). Daemon-unreachable errors still throw.
  std::optional<json> try_call(const std::string& op, const json& args);
  // Reports one failure line on stderr and counts it.
  void fail(const Status& s);
  void fail(const std::string& message);
  // With --json: prints one result object (a JSON line).
  void print_json(const json& result) const;

  int failures = 0;

 private:
  stmf::mgmt::Client& client();
  std::unique_ptr<stmf::mgmt::Client> client_;
};

// "stmfadm: <message> (<CODE>)".
std::string error_line(const Status& s);

// Parsing helpers (throw UsageError).
// "1g", "512m", "1GiB", "100G", "4096" -> bytes (mgmt/size.h, kStmfadmSizes).
uint64_t size_arg(const std::string& s);
// 32 hexadecimal digits -> uppercase.
std::string guid_arg(const std::string& s);
bool bool_arg(const std::string& key, const std::string& v);
// "key=value" -> pair (key lowercased).
std::pair<std::string, std::string> prop_arg(const std::string& s);
// "host[:port]", "[v6]:port" -> host, port.
std::pair<std::string, uint16_t> portal_arg(const std::string& s);
std::string portal_string(const std::string& host, int port);
// An absolute, normalized path.
std::string abs_path(const std::string& p);
// Reads a secret file (first line, without the line end).
std::string read_secret_file(const std::string& path);
// A new NAA 6 GUID from an OUI (6 hex) and host id (8 hex).
std::string make_guid(const std::string& oui, const std::string& host_id);
bool iequals(const std::string& a, const std::string& b);
// LU operands (lu_names.cpp): a GUID, or the name of exactly one LU (throws UsageError when
// ambiguous, OpError STMF_ERROR_NOT_FOUND when no LU has it).
std::string lu_arg(Ctx& ctx, const std::string& operand);
// A new LU name must not read as a GUID (UsageError).
void check_new_lu_name(const std::string& name);
// create-lu --name: no other LU may have the name (OpError STMF_ERROR_EXISTS).
void check_lu_name_free(Ctx& ctx, const std::string& name);
// A session's login time (its "creation_time"), local time, as list-target -v prints it.
std::string logged_in_since(const json& session);

}  // namespace stmfadm

#include <functional>
namespace CLI {
class App;
}
namespace stmfadm {
// Each subcommand's action, run after parsing when that subcommand was chosen.
using Action = std::function<void()>;
struct Registry {
  std::vector<std::pair<CLI::App*, Action>> actions;
  CLI::App* add(CLI::App& app, const std::string& name, const std::string& description);
  void on(CLI::App* sub, Action a) { actions.emplace_back(sub, std::move(a)); }
};
void add_lu_commands(CLI::App& app, Registry& r, Ctx& ctx);
void add_group_commands(CLI::App& app, Registry& r, Ctx& ctx);
void add_target_commands(CLI::App& app, Registry& r, Ctx& ctx);
void add_initiator_commands(CLI::App& app, Registry& r, Ctx& ctx);
void add_service_commands(CLI::App& app, Registry& r, Ctx& ctx);
void add_alua_commands(CLI::App& app, Registry& r, Ctx& ctx);
void add_stats_commands(CLI::App& app, Registry& r, Ctx& ctx);
void add_ars_commands(CLI::App& app, Registry& r, Ctx& ctx);  // arsctl, arsop, acct
// An array session handle as stmfadm prints it everywhere: "0x" and 16 hex digits.
std::string ash_string(int64_t ash);
// "ALUA Status" and "ALUA Node" lines of a get-alua-state result (list-state, list-alua-state).
void print_alua_state_lines(const json& st);
}  // namespace stmfadm
