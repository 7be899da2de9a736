// What the iSCSI transport needs to know from the daemon's configuration.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "transport/iscsi/login.h"

namespace stmf::transport {

struct ChapSettings {
  // Target-wide initiator secret (optional, kept for compatibility): used by initiators that
  // have no entry of their own in AuthSettings::initiators.
  std::string user, secret;
  std::string mutual_user, mutual_secret;  // the target's own CHAP name and secret (mutual CHAP)
};

// Authentication method names (config "auth" values).
inline constexpr std::string_view kAuthDefault = "default", kAuthNone = "none", kAuthChap = "chap";

struct TargetSettings {
  std::string iqn, alias;
  uint16_t tpgt = 1;
  std::string auth = std::string(kAuthDefault);  // default | none | chap
  std::optional<ChapSettings> chap;
  std::vector<std::string> initiators;  // empty: any initiator
};

struct IscsiSettings {
  uint32_t max_recv_data_segment_length = 262144;
  uint32_t max_burst_length = 1048576;
  uint32_t first_burst_length = 65536;
  bool immediate_data = true;
  bool initial_r2t = false;
  uint32_t max_outstanding_r2t = 1;
  std::vector<std::string> header_digest = {"CRC32C", "None"};
  std::vector<std::string> data_digest = {"CRC32C", "None"};
  uint32_t queue_depth = 128;
  uint32_t nop_in_interval_s = 30;
  uint32_t nop_in_timeout_s = 30;
  uint32_t login_timeout_s = 15;

  // Resource limits (docs/security.md "Resource limits"; defaults in docs/configuration.md).
  uint32_t max_connections = 1024;              // all iSCSI connections, login phase included
  uint32_t max_connections_per_address = 64;    // from one source IP address (checked at accept)
  uint32_t max_sessions_per_initiator = 16;     // per InitiatorName (checked at login)
  uint32_t max_immediate_commands = 16;         // immediate commands in flight per session
  uint64_t session_data_buffer = 64ull << 20;  // write and read buffers one session may hold
  uint64_t total_data_buffer = 1ull << 30;     // the same, all sessions together
  uint64_t send_queue_bytes = 4ull << 20;       // queued responses above which reading stops
  uint32_t warn_burst = 10;                     // per-connection warnings per interval...
  uint32_t warn_interval_s = 60;                // ...then one summary line per interval
};

// The CHAP name and secret of one initiator (itadm create-initiator -u/-s).
struct InitiatorChap {
  std::string user, secret;
};

// Node-wide authentication settings (itadm modify-defaults + the initiators' secrets).
struct AuthSettings {
  std::string default_auth = std::string(kAuthNone);    // targets whose auth is "default": none | chap
  std::string discovery_auth = std::string(kAuthNone);  // SendTargets sessions: none | chap
  std::map<std::string, InitiatorChap, std::less<>> initiators;  // lowercase node name -> CHAP
};

// The CHAP credentials `initiator` must prove on `target` (nullptr: a discovery session);
// nullopt = no authentication. Precedence (docs/security.md "CHAP"): the initiator's own
// secret, else the target-wide secret; with neither the result has an empty secret (refused).
std::optional<iscsi::ChapSecret> resolve_chap(const AuthSettings& auth, const TargetSettings* target,
                                              std::string_view initiator);

}  // namespace stmf::transport
