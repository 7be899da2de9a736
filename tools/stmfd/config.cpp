#include "tools/stmfd/config.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

namespace stmfd {

using nlohmann::json;

const char* const kDefaultConfig = R"({
  "portals": ["127.0.0.1:3260"],
  "targets": [{
    "iqn": "iqn.2026-11.org.example:target0",
    "luns": [{"lun": 0, "backing": "/var/tmp/stmfd-lu0.img", "size": "1GiB", "block_size": 512}]
  }]
})";

namespace {

struct Fail {
  ConfigError e;
};
[[noreturn]] void fail(const std::string& key, const std::string& why) { throw Fail{{key, why}}; }

void only_keys(const json& j, const std::string& where, std::initializer_list<const char*> allowed) {
  for (auto& [k, v] : j.items()) {
    if (std::find_if(allowed.begin(), allowed.end(), [&](const char* a) { return k == a; }) == allowed.end())
      fail(where.empty() ? k : where + "." + k, "unknown key");
  }
}

const json* opt(const json& j, const char* k) {
  auto it = j.find(k);
  return it == j.end() ? nullptr : &*it;
}

std::string get_string(const json& j, const std::string& key) {
  if (!j.is_string()) fail(key, "must be a string");
  return j.get<std::string>();
}
bool get_bool(const json& j, const std::string& key) {
  if (!j.is_boolean()) fail(key, "must be true or false");
  return j.get<bool>();
}
uint64_t get_uint(const json& j, const std::string& key, uint64_t lo, uint64_t hi) {
  if (!j.is_number_unsigned() && !(j.is_number_integer() && j.get<int64_t>() >= 0)) fail(key, "must be a non-negative integer");
  uint64_t v = j.get<uint64_t>();
  if (v < lo || v > hi) fail(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return v;
}

bool valid_iqn(const std::string& s) {
  if (s.size() > 223 || s.empty()) return false;
  if (s.rfind("iqn.", 0) == 0) {
    // iqn.yyyy-mm.reversed.domain[:anything]
    if (s.size() < 12 || !std::isdigit((unsigned char)s[4]) || s[8] != '-') return false;
  } else if (s.rfind("eui.", 0) == 0) {
    if (s.size() != 20) return false;
  } else if (s.rfind("naa.", 0) != 0) {
    return false;
  }
  for (char c : s)
    if (std::isupper((unsigned char)c) || std::isspace((unsigned char)c)) return false;
  return true;
}

Portal parse_portal(const std::string& s, const std::string& key) {
  Portal p;
  std::string host = s, port;
  if (!s.empty() && s[0] == '[') {
    auto close = s.find(']');
    if (close == std::string::npos) fail(key, "bad IPv6 portal, expected [addr]:port");
    host = s.substr(1, close - 1);
    if (close + 1 < s.size()) {
      if (s[close + 1] != ':') fail(key, "expected ':' after ']'");
      port = s.substr(close + 2);
    }
  } else if (auto c = s.rfind(':'); c != std::string::npos && s.find(':') == c) {
    host = s.substr(0, c);
    port = s.substr(c + 1);
  }
  if (host.empty()) fail(key, "missing host");
  p.host = host;
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit)) fail(key, "bad port '" + port + "'");
    unsigned v = std::stoul(port);
    if (v == 0 || v > 65535) fail(key, "port out of range");
    p.port = uint16_t(v);
  }
  return p;
}

std::vector<std::string> digest_list(const json& j, const std::string& key) {
  if (!j.is_array() || j.empty()) fail(key, "must be a non-empty list of \"CRC32C\"/\"None\"");
  std::vector<std::string> out;
  for (size_t i = 0; i < j.size(); ++i) {
    auto v = get_string(j[i], key + "[" + std::to_string(i) + "]");
    if (v != "CRC32C" && v != "None") fail(key + "[" + std::to_string(i) + "]", "must be CRC32C or None");
    out.push_back(v);
  }
  return out;
}

LunConfig parse_lun(const json& j, const std::string& key) {
  if (!j.is_object()) fail(key, "must be an object");
  only_keys(j, key, {"lun", "store", "backing", "size", "block_size", "physical_block_size", "write_protect", "write_cache", "removable", "direct", "name",
                     "serial", "vendor", "product", "guid"});
  LunConfig l;
  auto* lun = opt(j, "lun");
  if (!lun) fail(key + ".lun", "missing");
  l.lun = get_uint(*lun, key + ".lun", 0, 16383);
  if (auto* v = opt(j, "store")) {
    l.store = get_string(*v, key + ".store");
    if (l.store != "file" && l.store != "ram" && l.store != "null") fail(key + ".store", "must be file, ram or null");
  }
  if (auto* v = opt(j, "backing")) l.backing = get_string(*v, key + ".backing");
  if (l.store == "file" && l.backing.empty()) fail(key + ".backing", "missing (a file store needs a path)");
  if (l.store == "file" && l.backing[0] != '/') fail(key + ".backing", "must be an absolute path");
  if (auto* v = opt(j, "size")) {
    if (v->is_string()) {
      auto sz = parse_size(v->get<std::string>());
      if (!sz) fail(key + ".size", "malformed size '" + v->get<std::string>() + "' (examples: 1GiB, 512MiB, 1048576)");
      l.size = *sz;
    } else {
      l.size = get_uint(*v, key + ".size", 0, uint64_t(1) << 60);
    }
  }
  if (l.store != "file" && l.size == 0) fail(key + ".size", "required for a " + l.store + " store");
  if (auto* v = opt(j, "block_size")) {
    l.block_size = uint32_t(get_uint(*v, key + ".block_size", 512, 4096));
    if (l.block_size != 512 && l.block_size != 4096) fail(key + ".block_size", "must be 512 or 4096");
  }
  if (auto* v = opt(j, "physical_block_size")) {
    l.physical_block_size = uint32_t(get_uint(*v, key + ".physical_block_size", 512, 1u << 24));
    const uint32_t ratio = l.physical_block_size / l.block_size;
    if (l.physical_block_size % l.block_size || (ratio & (ratio - 1)) || ratio > (1u << 15))
      fail(key + ".physical_block_size", "must be block_size times a power of two (at most 2^15)");
  }
  if (l.size % l.block_size) fail(key + ".size", "must be a multiple of block_size (" + std::to_string(l.block_size) + ")");
  if (auto* v = opt(j, "write_protect")) l.write_protect = get_bool(*v, key + ".write_protect");
  if (auto* v = opt(j, "write_cache")) l.write_cache = get_bool(*v, key + ".write_cache");
  if (auto* v = opt(j, "removable")) l.removable = get_bool(*v, key + ".removable");
  if (auto* v = opt(j, "direct")) l.direct = get_bool(*v, key + ".direct");
  if (auto* v = opt(j, "name")) l.name = get_string(*v, key + ".name");
  if (auto* v = opt(j, "serial")) {
    l.serial = get_string(*v, key + ".serial");
    if (l.serial.size() > 32) fail(key + ".serial", "at most 32 characters");
  }
  if (auto* v = opt(j, "vendor")) {
    l.vendor = get_string(*v, key + ".vendor");
    if (l.vendor.size() > 8) fail(key + ".vendor", "at most 8 characters");
  }
  if (auto* v = opt(j, "product")) {
    l.product = get_string(*v, key + ".product");
    if (l.product.size() > 16) fail(key + ".product", "at most 16 characters");
  }
  if (auto* v = opt(j, "guid")) {
    auto s = get_string(*v, key + ".guid");
    if (s.size() != 32 || !std::all_of(s.begin(), s.end(), ::isxdigit)) fail(key + ".guid", "must be 32 hex digits");
    std::array<uint8_t, 16> g{};
    for (int i = 0; i < 16; ++i) g[i] = uint8_t(std::stoul(s.substr(2 * i, 2), nullptr, 16));
    if ((g[0] >> 4) != 6) fail(key + ".guid", "must be an NAA 6 identifier (first digit 6)");
    l.guid = g;
  }
  return l;
}

TargetConfig parse_target(const json& j, const std::string& key) {
  if (!j.is_object()) fail(key, "must be an object");
  only_keys(j, key, {"iqn", "alias", "tpgt", "chap", "initiators", "luns"});
  TargetConfig t;
  auto* iqn = opt(j, "iqn");
  if (!iqn) fail(key + ".iqn", "missing");
  t.iqn = get_string(*iqn, key + ".iqn");
  if (!valid_iqn(t.iqn)) fail(key + ".iqn", "'" + t.iqn + "' is not a valid iSCSI name (iqn.yyyy-mm.domain:name, lowercase)");
  if (auto* v = opt(j, "alias")) t.alias = get_string(*v, key + ".alias");
  if (auto* v = opt(j, "tpgt")) t.tpgt = uint16_t(get_uint(*v, key + ".tpgt", 1, 65535));
  if (auto* v = opt(j, "chap")) {
    if (!v->is_object()) fail(key + ".chap", "must be an object");
    only_keys(*v, key + ".chap", {"user", "secret", "mutual_user", "mutual_secret"});
    ChapConfig c;
    if (auto* u = opt(*v, "user")) c.user = get_string(*u, key + ".chap.user");
    if (auto* u = opt(*v, "secret")) c.secret = get_string(*u, key + ".chap.secret");
    if (auto* u = opt(*v, "mutual_user")) c.mutual_user = get_string(*u, key + ".chap.mutual_user");
    if (auto* u = opt(*v, "mutual_secret")) c.mutual_secret = get_string(*u, key + ".chap.mutual_secret");
    if (c.user.empty()) fail(key + ".chap.user", "missing");
    if (c.secret.size() < 12 || c.secret.size() > 16)
      fail(key + ".chap.secret", "must be 12 to 16 characters (RFC 7143 12.1.3 / common initiator limits)");
    if (!c.mutual_user.empty() != !c.mutual_secret.empty())
      fail(key + ".chap.mutual_secret", "mutual_user and mutual_secret go together");
    if (!c.mutual_secret.empty() && c.mutual_secret == c.secret) fail(key + ".chap.mutual_secret", "must differ from secret");
    t.chap = c;
  }
  if (auto* v = opt(j, "initiators")) {
    if (!v->is_array()) fail(key + ".initiators", "must be a list of initiator names");
    for (size_t i = 0; i < v->size(); ++i) {
      auto n = get_string((*v)[i], key + ".initiators[" + std::to_string(i) + "]");
      if (!valid_iqn(n)) fail(key + ".initiators[" + std::to_string(i) + "]", "'" + n + "' is not a valid iSCSI name");
      t.initiators.push_back(n);
    }
  }
  auto* luns = opt(j, "luns");
  if (!luns || !luns->is_array()) fail(key + ".luns", "missing or not a list");
  std::set<uint64_t> seen;
  for (size_t i = 0; i < luns->size(); ++i) {
    auto lk = key + ".luns[" + std::to_string(i) + "]";
    auto l = parse_lun((*luns)[i], lk);
    if (!seen.insert(l.lun).second) fail(lk + ".lun", "LUN " + std::to_string(l.lun) + " used twice");
    t.luns.push_back(std::move(l));
  }
  return t;
}

Config parse(const json& j) {
  if (!j.is_object()) fail("", "the configuration must be a JSON object");
  only_keys(j, "", {"portals", "targets", "iscsi", "company_id", "threads", "shutdown_timeout_s", "log_level"});
  Config c;
  auto* portals = opt(j, "portals");
  if (!portals || !portals->is_array() || portals->empty()) fail("portals", "missing or empty (e.g. [\"127.0.0.1:3260\"])");
  for (size_t i = 0; i < portals->size(); ++i) {
    auto k = "portals[" + std::to_string(i) + "]";
    c.portals.push_back(parse_portal(get_string((*portals)[i], k), k));
  }
  auto* targets = opt(j, "targets");
  if (!targets || !targets->is_array()) fail("targets", "missing or not a list");
  std::set<std::string> iqns;
  std::set<std::string> files;
  for (size_t i = 0; i < targets->size(); ++i) {
    auto k = "targets[" + std::to_string(i) + "]";
    auto t = parse_target((*targets)[i], k);
    if (!iqns.insert(t.iqn).second) fail(k + ".iqn", "target " + t.iqn + " defined twice");
    for (size_t l = 0; l < t.luns.size(); ++l)
      if (t.luns[l].store == "file" && !files.insert(t.luns[l].backing).second)
        fail(k + ".luns[" + std::to_string(l) + "].backing", t.luns[l].backing + " is used by another LU");
    c.targets.push_back(std::move(t));
  }
  if (auto* v = opt(j, "iscsi")) {
    if (!v->is_object()) fail("iscsi", "must be an object");
    only_keys(*v, "iscsi", {"max_recv_data_segment_length", "max_burst_length", "first_burst_length", "immediate_data",
                            "initial_r2t", "max_outstanding_r2t", "header_digest", "data_digest", "queue_depth",
                            "nop_in_interval_s", "nop_in_timeout_s", "login_timeout_s"});
    auto& s = c.iscsi;
    constexpr uint64_t kMaxLen = (1u << 24) - 1;
    if (auto* x = opt(*v, "max_recv_data_segment_length")) s.max_recv_data_segment_length = uint32_t(get_uint(*x, "iscsi.max_recv_data_segment_length", 512, kMaxLen));
    if (auto* x = opt(*v, "max_burst_length")) s.max_burst_length = uint32_t(get_uint(*x, "iscsi.max_burst_length", 512, kMaxLen));
    if (auto* x = opt(*v, "first_burst_length")) s.first_burst_length = uint32_t(get_uint(*x, "iscsi.first_burst_length", 512, kMaxLen));
    if (s.first_burst_length > s.max_burst_length) fail("iscsi.first_burst_length", "must not exceed max_burst_length");
    if (auto* x = opt(*v, "immediate_data")) s.immediate_data = get_bool(*x, "iscsi.immediate_data");
    if (auto* x = opt(*v, "initial_r2t")) s.initial_r2t = get_bool(*x, "iscsi.initial_r2t");
    if (auto* x = opt(*v, "max_outstanding_r2t")) s.max_outstanding_r2t = uint32_t(get_uint(*x, "iscsi.max_outstanding_r2t", 1, 65535));
    if (auto* x = opt(*v, "header_digest")) s.header_digest = digest_list(*x, "iscsi.header_digest");
    if (auto* x = opt(*v, "data_digest")) s.data_digest = digest_list(*x, "iscsi.data_digest");
    if (auto* x = opt(*v, "queue_depth")) s.queue_depth = uint32_t(get_uint(*x, "iscsi.queue_depth", 1, 4096));
    if (auto* x = opt(*v, "nop_in_interval_s")) s.nop_in_interval_s = uint32_t(get_uint(*x, "iscsi.nop_in_interval_s", 0, 3600));
    if (auto* x = opt(*v, "nop_in_timeout_s")) s.nop_in_timeout_s = uint32_t(get_uint(*x, "iscsi.nop_in_timeout_s", 1, 3600));
    if (auto* x = opt(*v, "login_timeout_s")) s.login_timeout_s = uint32_t(get_uint(*x, "iscsi.login_timeout_s", 1, 3600));
  }
  if (auto* v = opt(j, "company_id")) c.company_id = uint32_t(get_uint(*v, "company_id", 0, 0xffffff));
  if (auto* v = opt(j, "threads")) c.threads = uint32_t(get_uint(*v, "threads", 0, 256));
  if (auto* v = opt(j, "shutdown_timeout_s")) c.shutdown_timeout_s = uint32_t(get_uint(*v, "shutdown_timeout_s", 1, 3600));
  if (auto* v = opt(j, "log_level")) {
    c.log_level = get_string(*v, "log_level");
    static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error", "critical", "off"};
    if (!levels.count(c.log_level)) fail("log_level", "must be one of trace, debug, info, warn, error, critical, off");
  }
  return c;
}

}  // namespace

std::optional<uint64_t> parse_size(const std::string& s) {
  size_t i = 0;
  while (i < s.size() && std::isdigit((unsigned char)s[i])) ++i;
  if (i == 0 || i > 19) return std::nullopt;
  uint64_t n = std::stoull(s.substr(0, i));
  std::string unit = s.substr(i);
  static const std::pair<const char*, int> units[] = {{"", 0},    {"B", 0},   {"K", 10},  {"KiB", 10}, {"M", 20},
                                                      {"MiB", 20}, {"G", 30}, {"GiB", 30}, {"T", 40},  {"TiB", 40}};
  for (auto& [u, shift] : units) {
    if (unit == u) {
      if (shift && n > (UINT64_MAX >> shift)) return std::nullopt;
      return n << shift;
    }
  }
  return std::nullopt;
}

std::array<uint8_t, 16> derive_guid(uint32_t company_id, const std::string& seed) {
  // FNV-1a 128-bit-ish: two 64-bit FNV passes with different bases. Stable across releases.
  auto fnv = [&](uint64_t h) {
    for (unsigned char c : seed) { h ^= c; h *= 1099511628211ull; }
    return h;
  };
  uint64_t a = fnv(14695981039346656037ull), b = fnv(0x6c62272e07bb0142ull);
  std::array<uint8_t, 16> g{};
  // NAA 6 (IEEE Registered Extended): 4-bit NAA, 24-bit OUI, 36-bit vendor id, 64-bit extension.
  g[0] = uint8_t(0x60 | ((company_id >> 20) & 0x0f));
  g[1] = uint8_t(company_id >> 12);
  g[2] = uint8_t(company_id >> 4);
  g[3] = uint8_t((company_id & 0x0f) << 4 | (a >> 60 & 0x0f));
  for (int i = 0; i < 4; ++i) g[4 + i] = uint8_t(a >> (8 * (3 - i)));
  for (int i = 0; i < 8; ++i) g[8 + i] = uint8_t(b >> (8 * (7 - i)));
  return g;
}

std::string guid_hex(const std::array<uint8_t, 16>& g) {
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (auto b : g) { s += hex[b >> 4]; s += hex[b & 15]; }
  return s;
}

std::optional<Config> parse_config(const std::string& text, ConfigError& err) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    err = {"", std::string("not valid JSON: ") + e.what()};
    return std::nullopt;
  }
  try {
    return parse(j);
  } catch (const Fail& f) {
    err = f.e;
    return std::nullopt;
  }
}

std::optional<Config> load_config(const std::string& path, ConfigError& err) {
  std::ifstream in(path);
  if (!in) {
    err = {"", "cannot read " + path};
    return std::nullopt;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), err);
}

}  // namespace stmfd
