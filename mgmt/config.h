// The configuration model: everything an admin configures (portals, iSCSI targets, LUs, host
// and target groups, view entries, settings). One value type, used by
//   - the JSON file (bootstrap/import/export format, docs/configuration.md),
//   - the state database (mgmt/state_db.h stores exactly this),
//   - the management operations (mgmt/ops.h transform it),
//   - the daemon's runtime (tools/stmfd/runtime.h reconciles the running objects to it).
// parse_config() validates everything up front; a bad file is refused with a message that
// names the key ("targets[0].luns[1].size: ...") and the reason.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/guid.h"
#include "mgmt/size.h"

namespace stmf::mgmt {

struct Portal {
  std::string host;  // IPv4/IPv6 literal
  uint16_t port = 3260;
  bool operator==(const Portal&) const = default;
};

// A target's CHAP settings. user/secret: a target-wide initiator secret (optional, kept for
// compatibility; an initiator's own entry in Config::initiators takes precedence).
// mutual_user/mutual_secret: the target's own CHAP name and secret, with which it answers an
// initiator's challenge (mutual CHAP; itadm modify-target -u/-s). mutual_user "" = the IQN.
struct ChapConfig {
  std::string user, secret;
  std::string mutual_user, mutual_secret;
  bool operator==(const ChapConfig&) const = default;
};

// CHAP secrets: RFC 7143 12.1.3 (at least 96 bits without IPsec); 16 is what common
// initiators accept (Windows, libiscsi's stack buffers).
inline constexpr size_t kChapSecretMin = 12, kChapSecretMax = 16;
inline constexpr size_t kChapNameMax = 255;

// An initiator's CHAP credentials (itadm create-initiator -u chap-user -s).
struct InitiatorConfig {
  std::string name;         // iSCSI node name, lowercase
  std::string chap_user;    // CHAP_N it sends; "" = its node name
  std::string chap_secret;  // "" = none configured
  const std::string& effective_user() const { return chap_user.empty() ? name : chap_user; }
  bool operator==(const InitiatorConfig&) const = default;
};

// A logical unit (COMSTAR: an sbd LU and its properties).
// Where an "iscsi" store's blocks live: a LUN of another iSCSI target (docs/configuration.md).
struct IscsiBackendConfig {
  std::string url;        // iscsi://host[:port]/target-iqn/lun
  std::string initiator;  // the initiator name stmfd logs in with
  std::string chap_user, chap_secret;  // both empty = no CHAP
  bool header_digest = false;
  // Limits (docs/configuration.md "The iscsi store"): commands in flight on the backend and
  // waiting beyond them; how often and how long a command caught by a connection loss is sent
  // again; how long a backend command or a login may take.
  uint32_t queue_depth = 64;
  uint32_t queue_limit = 1024;
  uint32_t retry_attempts = 2;
  uint32_t retry_ms = 10000;
  uint32_t command_timeout_s = 10;
  uint32_t connect_timeout_ms = 5000;
  bool operator==(const IscsiBackendConfig&) const = default;
};

// Where an "rbd" store's blocks live: a Ceph RBD image (docs/rbd.md, docs/configuration.md
// "The rbd store"), reached as client.<client> with the given ceph.conf and keyring.
struct RbdBackendConfig {
  std::string pool, image;
  std::string ns;                // RBD namespace; empty = the pool's default
  std::string client = "admin";  // cephx id
  std::string conf, keyring;     // absolute paths; empty = librados' defaults
  // Limits (as the iscsi store's): operations in flight and waiting; how often and how long an
  // operation caught by a cluster loss is sent again; librados' OSD/monitor operation timeout;
  // the first connect.
  uint32_t queue_depth = 64;
  uint32_t queue_limit = 1024;
  uint32_t retry_attempts = 2;
  uint32_t retry_ms = 10000;
  uint32_t op_timeout_s = 10;
  uint32_t connect_timeout_ms = 10000;
  bool operator==(const RbdBackendConfig&) const = default;
};

// The stores an LU may name ("store"), and whether `name` is one of them.
inline constexpr std::array<const char*, 5> kStoreNames = {"file", "ram", "null", "iscsi", "rbd"};
bool known_store(const std::string& name);

struct LuConfig {
  std::string guid;            // 32 uppercase hex digits, NAA 6 (always set after parsing)
  std::string name;            // alias
  std::string store = "file";  // file | ram | null | iscsi | rbd
  std::string backing;         // file store path (absolute)
  uint64_t size = 0;           // bytes (0 in a file = size of the existing file)
  uint32_t block_size = 512;
  uint32_t physical_block_size = 0;  // 0 = block_size; else a power-of-two multiple of it
  bool write_protect = false;
  bool write_cache = true;  // false = COMSTAR's wcd
  bool removable = false;   // removable medium (RMB): START STOP UNIT can eject and load
  bool direct = false;      // O_DIRECT
  // SANITIZE (docs/scsi.md "SANITIZE"): whether initiators may sanitize (erase) the LU, and
  // the pace of a sanitize in bytes per second (0 = as fast as the store goes).
  bool sanitize = true;
  uint64_t sanitize_rate = 0;
  std::string serial, vendor = "STMF", product = "COMSTAR", mgmt_url;
  bool online = true;
  // ALUA ownership epoch (docs/alua.md "Fencing"): raised by each takeover; of two nodes that
  // both have the LU configured, the one with the lower epoch is stale and steps down.
  uint64_t epoch = 0;
  // The peer owns this LU (it stepped down here on the peer's newer epoch, docs/alua.md
  // "Fencing"): kept in the configuration, but never opened or registered as active here; the
  // node serves it as the peer's standby LU. A takeover (create-lu/import-lu of the GUID) or a
  // switchover to this node replaces the record.
  bool standby = false;
  IscsiBackendConfig backend;  // store "iscsi" only
  RbdBackendConfig rbd;        // store "rbd" only (its "backend" object)
  bool operator==(const LuConfig&) const = default;
};

// A host group or a target group: a name and device ids ("iqn...", "eui....", "naa....").
struct GroupConfig {
  std::string name;
  std::vector<std::string> members;  // sorted, lowercase iSCSI names
  std::string spi{};  // host groups only: the SPI of members' new sessions (hex, <= 1024 bytes; "" = none)
  bool operator==(const GroupConfig&) const = default;
};

// A view entry: LU `guid` is LUN `lun` for initiators in `host_group` (nullopt = all hosts)
// on targets in `target_group` (nullopt = all targets). `index` is unique per guid.
struct ViewEntryConfig {
  std::string guid;
  uint32_t index = 0;
  std::optional<std::string> host_group, target_group;
  uint64_t lun = 0;
  bool operator==(const ViewEntryConfig&) const = default;
};

// An iSCSI target (one target port per target: IQN + TPGT).
struct TargetConfig {
  std::string iqn, alias;
  uint16_t tpgt = 1;
  std::string auth = "default";  // default (the iscsi.default_auth) | none | chap
  std::optional<ChapConfig> chap;
  std::vector<std::string> initiators;  // login ACL; empty = any initiator may log in
  bool online = true;
  // Index of the target's port on this node (1..32767), assigned once (lowest free) and kept:
  // relative target port id = node * 32768 + port_index (docs/alua.md). 0 = not yet assigned.
  uint16_t port_index = 0;
  bool operator==(const TargetConfig&) const = default;
};

struct IscsiConfig {
  uint32_t max_recv_data_segment_length = 262144;  // what we accept per PDU
  uint32_t max_burst_length = 1048576;
  uint32_t first_burst_length = 65536;
  bool immediate_data = true;
  bool initial_r2t = false;
  uint32_t max_outstanding_r2t = 1;
  std::vector<std::string> header_digest = {"CRC32C", "None"};
  std::vector<std::string> data_digest = {"CRC32C", "None"};
  uint32_t queue_depth = 128;       // MaxCmdSN window per session
  uint32_t nop_in_interval_s = 30;  // target NOP-In keepalive (0 = off)
  uint32_t nop_in_timeout_s = 30;   // drop the connection if the ping is not answered
  uint32_t login_timeout_s = 15;
  // Resource limits (docs/security.md "Resource limits").
  uint32_t max_connections = 1024;
  uint32_t max_connections_per_address = 64;
  uint32_t max_sessions_per_initiator = 16;
  uint32_t max_immediate_commands = 16;
  uint64_t session_data_buffer = 64ull << 20;
  uint64_t total_data_buffer = 1ull << 30;
  uint64_t send_queue_bytes = 4ull << 20;
  uint32_t warn_burst = 10;
  uint32_t warn_interval_s = 60;
  std::string default_auth = "none";    // targets with auth "default": none | chap
  std::string discovery_auth = "none";  // SendTargets (discovery) sessions: none | chap
  bool operator==(const IscsiConfig&) const = default;
};

// The audit trail (docs/security.md "Audit trail"): one JSON line per management change and
// per PR, ALUA and fencing event.
struct AuditConfig {
  std::string file;                     // "" = <state dir>/audit.log (no state dir: the daemon's log)
  uint64_t max_bytes = 10u << 20;       // the file rotates at this size...
  uint32_t max_files = 5;               // ...keeping this many old files (audit.1.log ...)
  bool syslog = false;                  // also to syslog (LOG_AUTHPRIV, ident "stmfd-audit")
  bool operator==(const AuditConfig&) const = default;
};

struct ManagementConfig {
  std::string socket;       // "" = default path (docs/management.md)
  std::string admin_group;  // members may change state; "" = only root and the daemon's user
  // Bounds of the socket (docs/security.md "Management socket"); they take effect at start.
  uint32_t max_connections = 64;          // open connections, all clients together
  uint32_t max_connections_per_uid = 16;  // open connections of one uid
  uint32_t idle_timeout_s = 60;           // a request must arrive complete within this
  uint32_t max_line_bytes = 64u << 10;    // largest request line...
  uint32_t max_import_bytes = 16u << 20;  // ...except `import` from a privileged peer
  uint32_t max_json_depth = 64;           // nesting of arrays/objects in a request
  AuditConfig audit{};
  bool operator==(const ManagementConfig&) const = default;
};

// TLS of the ALUA peer link (docs/security.md "Peer link"): PEM file paths. This node's
// certificate and key, and the peer pinned to its certificate (`peer_cert`) or any peer
// certificate signed by `ca` (exactly one of the two).
struct AluaTlsConfig {
  std::string cert, key, peer_cert, ca;
  bool operator==(const AluaTlsConfig&) const = default;
};

// ALUA pair settings (docs/alua.md). stmfSetAluaState changes `enabled` and `node`.
// An enabled pair on the tcp carrier needs `tls`, or `insecure` to run plain TCP.
struct AluaConfig {
  bool enabled = false;
  uint32_t node = 0;            // 0 or 1; must differ between the two nodes
  std::string listen;           // "host:port": node 1 accepts the proxy link here
  std::string peer;             // "host:port": node 0 connects to the peer's listen address;
                                // node 1 accepts the link only from its host
  std::string carrier = "tcp";  // tcp (direct link) | door (a relay installed by stmfInitProxyDoor)
  uint32_t heartbeat_ms = 500;  // ECHO_REQUEST interval while the link is up
  uint32_t timeout_ms = 3000;   // link declared down after this long without any frame
  std::optional<AluaTlsConfig> tls;     // the tcp carrier's TLS
  bool insecure = false;                // plain TCP on the tcp carrier (a warning at start)
  uint32_t handshake_timeout_ms = 5000; // a new link connection's TLS handshake + HELLO
  // Storage fencing (docs/failover.md "Fencing at the storage"): "manual" (an administrator
  // fences and imports, the default) or "fenced" (the standby preempts the owner's key on the
  // SAN LUN once the link has been down longer than timeout_ms). cluster_id (>= 1; 0 = unset,
  // required by "fenced") makes every iscsi-store LU of the pair SAN-backed and fenced, under
  // this node's reservation key fence_key(cluster_id, node).
  std::string takeover = "manual";
  uint32_t cluster_id = 0;
  bool operator==(const AluaConfig&) const = default;
};

// This node's persistent-reservation key on the SAN: (cluster_id << 32) | (node + 1).
constexpr uint64_t fence_key(uint32_t cluster_id, uint32_t node) { return uint64_t(cluster_id) << 32 | uint64_t(node + 1); }
// The key an iscsi-store LU registers on its SAN LUN, 0 when it is not SAN-backed and fenced
// (not an iscsi store, ALUA disabled, or no cluster_id).
uint64_t lu_fence_key(const AluaConfig& a, const LuConfig& l);
// Whether the LU is fenced at its storage (core/store/fencing.h chooses the provider by its
// store): an iscsi (SCSI-3 PR on the SAN LUN) or rbd (the image's exclusive lock, blocklisting
// on takeover) store, ALUA enabled, a cluster_id.
bool lu_storage_fenced(const AluaConfig& a, const LuConfig& l);

// Statistics and the metrics endpoint (docs/metrics.md, docs/configuration.md "metrics").
struct MetricsConfig {
  bool statistics = true;         // count I/O per LU, target port and session (live)
  std::string listen;             // "host:port" of the HTTP endpoint; "" = off (read at start)
  uint32_t max_connections = 4;   // scrape connections open at once; more are closed at once
  uint32_t timeout_ms = 5000;     // a request must arrive, and its answer leave, within this
  bool operator==(const MetricsConfig&) const = default;
};

// Array sessions (docs/array-sessions.md): what arsctl(2) sets, persisted, and the session
// accounting. The ASH counter is not here: like IRIX after a reboot it starts at its minimum.
struct AccountingConfig {
  bool enabled = true;                // with a state directory (no state dir and no file: off)
  std::string file;                   // "" = <state dir>/session-acct
  uint32_t checkpoint_min = 10;       // checkpoint records of live sessions every N minutes (0: none)
  uint64_t max_bytes = 64u << 20;     // the file rotates at this size (one old file: <file>.1)
  bool operator==(const AccountingConfig&) const = default;
};
struct ArraySessionsConfig {
  int machine_id = -1;           // arsctl MACHID: -1 = default_machine_id (node + 1 in an ALUA pair)
  int default_machine_id = 0;    // asmachid outside a pair (0: local handles)
  int array_id = -1;             // arsctl ARRAYID: -1 = default_array_id
  int default_array_id = 0xffff; // asarrayid
  int64_t ash_increment = 1;     // ASHINCR
  int accounting_format = 1;     // SAF: 1 binary records, 2 JSON lines
  int default_spi_len = 64;      // DFLTSPILEN: SPI size of new sessions
  std::string default_spi;       // DFLTSPI, lowercase hex (at most 1024 bytes; sessions see default_spi_len of it)
  AccountingConfig accounting;
  bool operator==(const ArraySessionsConfig&) const = default;
};

struct Config {
  std::vector<Portal> portals;
  std::vector<TargetConfig> targets;
  std::vector<LuConfig> lus;
  std::vector<GroupConfig> host_groups, target_groups;
  std::vector<ViewEntryConfig> views;
  std::vector<InitiatorConfig> initiators;  // CHAP credentials per initiator node name
  IscsiConfig iscsi;
  ManagementConfig management;
  AluaConfig alua;
  MetricsConfig metrics;
  ArraySessionsConfig array_sessions;
  uint32_t company_id = 0x00144f;  // IEEE OUI for generated NAA 6 GUIDs (COMSTAR's)
  uint32_t threads = 0;            // I/O threads (0 = half the CPUs)
  uint32_t shutdown_timeout_s = 10;
  std::string log_level = "info";
  bool service_online = true;  // stmfOnline/stmfOffline
  bool operator==(const Config&) const = default;

  // Look-ups (nullptr when absent).
  LuConfig* find_lu(const std::string& guid);
  const LuConfig* find_lu(const std::string& guid) const;
  TargetConfig* find_target(const std::string& iqn);
  const TargetConfig* find_target(const std::string& iqn) const;
  InitiatorConfig* find_initiator(const std::string& name);
};

struct ConfigError {
  std::string key, reason;
  std::string message() const { return key.empty() ? reason : key + ": " + reason; }
};

// Parses and validates a configuration file. Accepts the canonical form (top-level "lus",
// "host_groups", "target_groups", "views") and the shorthand of issue 2, where a target lists
// "luns": each becomes an LU plus a view entry (all hosts, target group named after the
// target's IQN with the target as its member). Returns the config, or sets `err`.
std::optional<Config> parse_config(const std::string& json_text, ConfigError& err);
std::optional<Config> parse_config_json(const nlohmann::json& j, ConfigError& err);
std::optional<Config> load_config(const std::string& path, ConfigError& err);
// The canonical file form (what `stmfadm export` prints). Secrets included (it is the
// configuration); the management protocol strips them where the doc says so.
nlohmann::json to_json(const Config& c);
// One LU / target / view entry in the file's vocabulary (used by the protocol too).
// with_secrets: an iscsi store's backend CHAP secret as it is (else "set").
nlohmann::json to_json(const LuConfig& l, bool with_secrets = false);
nlohmann::json to_json(const TargetConfig& t, bool with_secrets);
nlohmann::json to_json(const ViewEntryConfig& v);
nlohmann::json to_json(const Portal& p);
// One object of the file/protocol vocabulary, validated on its own (`key` prefixes errors).
// parse_lu fills a missing guid with derive_guid(company_id, backing or name).
std::optional<LuConfig> parse_lu(const nlohmann::json& j, const std::string& key, uint32_t company_id, ConfigError& err);
// An rbd store's "backend" object ({"pool", "image", ...}).
std::optional<RbdBackendConfig> parse_rbd_backend(const nlohmann::json& j, const std::string& key, ConfigError& err);
// The name an LU's derived GUID and its logs go by: the file path, iscsi:URL, rbd:pool/[ns/]image,
// or store:name.
std::string lu_source(const LuConfig& l);
std::optional<TargetConfig> parse_target(const nlohmann::json& j, const std::string& key, ConfigError& err);
std::optional<ChapConfig> parse_chap(const nlohmann::json& j, const std::string& key, ConfigError& err);
std::optional<InitiatorConfig> parse_initiator(const nlohmann::json& j, const std::string& key, ConfigError& err);
// The file form of an initiator; without secrets "chap_secret" reads "set" or "unset".
nlohmann::json to_json(const InitiatorConfig& i, bool with_secrets);
// Removes every CHAP secret from a to_json(Config) document (for callers without privilege).
void strip_secrets(nlohmann::json& config);
// View entries overlap when both their host sides and their target sides overlap (a side
// overlaps when either is "all" or both name the same group).
bool views_overlap(const ViewEntryConfig& a, const ViewEntryConfig& b);
// Re-validates a whole configuration (cross references: views name existing groups, unique
// GUIDs/files/IQNs/LUNs...). Used after loading the database.
bool validate(const Config& c, ConfigError& err);

// Sizes ("1GiB", "512MiB", "100G", "4096" -> bytes): parse_size() in mgmt/size.h.
// A GUID derived from stable inputs (NAA 6, IEEE registered extended), 32 uppercase hex.
std::string derive_guid(uint32_t company_id, const std::string& seed);
using stmf::guid_hex;  // core/guid.h: 16 bytes -> 32 uppercase hex digits
using stmf::parse_guid;  // core/guid.h: 32 hex digits -> 16 bytes (nullopt when malformed)
// Device ids: iqn. (<=223, lowercase after normalization), eui.+16 hex, naa.+16/32 hex,
// wwn.+16 hex. normalize_devid lowercases iSCSI names and checks the form (nullopt = bad).
std::optional<std::string> normalize_devid(const std::string& s);
bool valid_iscsi_name(const std::string& s);

// "host:port" where host is an IPv4 literal or a bracketed IPv6 literal ("[::1]:3270") and port
// is 1..65535 (required). Returns the host (without brackets) and the port; nullopt when malformed.
// Used for alua.listen and alua.peer (and by the daemon when it binds or connects).
std::optional<std::pair<std::string, uint16_t>> parse_host_port(const std::string& s);
// SCSI relative target port identifier of a target port in an ALUA pair: node * 32768 + port_index
// (node 0: 1..32767, node 1: 32769..65535), so the two nodes never hand out the same id.
uint16_t relative_target_port_id(uint32_t node, uint16_t port_index);
// The lowest port index (1..32767) no target of `targets` uses; 0 when all are taken.
uint16_t free_port_index(const std::vector<TargetConfig>& targets);
nlohmann::json to_json(const AluaConfig& a);
// The iscsi object's resource limits alone, as JSON (the state database keeps them so).
nlohmann::json iscsi_limits_json(const IscsiConfig& c);
// Reads the limit keys present in `j` into `c` (others keep their value); false with `err`.
bool parse_iscsi_limits(const nlohmann::json& j, IscsiConfig& c, ConfigError& err);
// The "management" object (file form) and its parser (`key` prefixes errors); the state
// database stores the same object.
nlohmann::json to_json(const ManagementConfig& m);
std::optional<ManagementConfig> parse_management(const nlohmann::json& j, const std::string& key, ConfigError& err);

// The "array_sessions" object (file form) and its parser; the state database stores the same.
nlohmann::json to_json(const ArraySessionsConfig& a);
std::optional<ArraySessionsConfig> parse_array_sessions(const nlohmann::json& j, const std::string& key, ConfigError& err);
// Hex (either case, even length) -> bytes; nullopt when malformed.
std::optional<std::vector<uint8_t>> parse_hex(const std::string& s);
std::string to_hex(const std::vector<uint8_t>& b);

// The embedded default configuration (the quick start's LU).
extern const char* const kDefaultConfig;

}  // namespace stmf::mgmt
