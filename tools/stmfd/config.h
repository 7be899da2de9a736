// stmfd configuration: the JSON bootstrap file (docs/configuration.md).
// load_config() validates everything up front; a bad file is refused with a message that
// names the key ("targets[0].luns[1].size: ...") and the reason.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace stmfd {

struct Portal {
  std::string host;  // IPv4/IPv6 literal
  uint16_t port = 3260;
};

struct ChapConfig {
  std::string user, secret;                // initiator authenticates with these
  std::string mutual_user, mutual_secret;  // target answers mutual CHAP with these (optional)
};

struct LunConfig {
  uint64_t lun = 0;
  std::string store = "file";  // file | ram | null
  std::string backing;         // file store path
  uint64_t size = 0;           // bytes (0 = existing file size)
  uint32_t block_size = 512;
  uint32_t physical_block_size = 0;  // 0 = block_size; else a power-of-two multiple of it
  bool write_protect = false;
  bool write_cache = true;
  bool removable = false;  // removable medium (RMB): START STOP UNIT can eject and load
  bool direct = false;  // O_DIRECT
  std::string name, serial, vendor = "STMF", product = "COMSTAR";
  std::optional<std::array<uint8_t, 16>> guid;
};

struct TargetConfig {
  std::string iqn, alias;
  uint16_t tpgt = 1;
  std::optional<ChapConfig> chap;
  std::vector<std::string> initiators;  // empty = any initiator may log in
  std::vector<LunConfig> luns;
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
};

struct Config {
  std::vector<Portal> portals;
  std::vector<TargetConfig> targets;
  IscsiConfig iscsi;
  uint32_t company_id = 0x00144f;  // IEEE OUI for generated NAA 6 GUIDs (COMSTAR's)
  uint32_t threads = 0;            // I/O threads (0 = number of CPUs)
  uint32_t shutdown_timeout_s = 10;
  std::string log_level = "info";
};

struct ConfigError {
  std::string key, reason;
  std::string message() const { return key.empty() ? reason : key + ": " + reason; }
};

// Parses and validates. Returns the config, or sets `err`.
std::optional<Config> parse_config(const std::string& json_text, ConfigError& err);
std::optional<Config> load_config(const std::string& path, ConfigError& err);

// "1GiB", "512MiB", "100G", "4096" -> bytes; nullopt when malformed.
std::optional<uint64_t> parse_size(const std::string& s);
// A GUID derived from stable inputs (NAA 6, IEEE registered extended).
std::array<uint8_t, 16> derive_guid(uint32_t company_id, const std::string& seed);
std::string guid_hex(const std::array<uint8_t, 16>& g);

// The embedded default configuration (the quick start's LU).
extern const char* const kDefaultConfig;

}  // namespace stmfd
