#include "mgmt/config.h"
#include "mgmt/json_limits.h"
#include "core/array_session.h"

#include <arpa/inet.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace stmf::mgmt {

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
  for (const auto& item : j.items()) {
    const std::string& k = item.key();  // not a structured binding: clang 14 cannot capture one
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


std::string get_name(const json& j, const std::string& key, size_t max) {
  auto v = get_string(j, key);
  if (v.empty() || v.size() > max) fail(key, "must be 1 to " + std::to_string(max) + " characters");
  return v;
}

bool get_state(const json& j, const std::string& key) {
  auto v = get_string(j, key);
  if (v != "online" && v != "offline") fail(key, "must be online or offline");
  return v == "online";
}

void check_secret(const std::string& v, const std::string& key);
void check_chap_name(const std::string& v, const std::string& key);

void parse_limit(const json& j, const std::string& key, const char* k, uint32_t& out, uint64_t lo, uint64_t hi) {
  if (auto* v = opt(j, k)) out = uint32_t(get_uint(*v, key + "." + k, lo, hi));
}

// The queue and retry limits an iscsi and an rbd store's backend objects share.
template <class Backend>
void parse_backend_limits(const json& j, const std::string& key, Backend& b) {
  parse_limit(j, key, "queue_depth", b.queue_depth, 1, 4096);
  parse_limit(j, key, "queue_limit", b.queue_limit, 0, 1u << 20);
  parse_limit(j, key, "retry_attempts", b.retry_attempts, 1, 100);
  parse_limit(j, key, "retry_ms", b.retry_ms, 0, 3600000);
  parse_limit(j, key, "connect_timeout_ms", b.connect_timeout_ms, 100, 600000);
}

IscsiBackendConfig parse_backend_object(const json& j, const std::string& key) {
  if (!j.is_object()) fail(key, "must be an object");
  only_keys(j, key, {"url", "initiator", "chap", "header_digest", "queue_depth", "queue_limit", "retry_attempts", "retry_ms",
                     "command_timeout_s", "connect_timeout_ms"});
  IscsiBackendConfig b;
  auto* url = opt(j, "url");
  if (!url) fail(key + ".url", "missing");
  b.url = get_string(*url, key + ".url");
  if (b.url.rfind("iscsi://", 0) != 0 || b.url.size() > 1024) fail(key + ".url", "must be iscsi://host[:port]/target-iqn/lun");
  auto* ini = opt(j, "initiator");
  if (!ini) fail(key + ".initiator", "missing");
  b.initiator = get_string(*ini, key + ".initiator");
  if (!valid_iscsi_name(b.initiator)) fail(key + ".initiator", "must be an iSCSI name (iqn..., eui..., naa...)");
  if (auto* c = opt(j, "chap")) {
    if (!c->is_object()) fail(key + ".chap", "must be an object");
    only_keys(*c, key + ".chap", {"user", "secret"});
    if (auto* u = opt(*c, "user")) b.chap_user = get_string(*u, key + ".chap.user");
    if (auto* u = opt(*c, "secret")) b.chap_secret = get_string(*u, key + ".chap.secret");
    if (b.chap_user.empty() || b.chap_secret.empty()) fail(key + ".chap", "user and secret go together");
    check_chap_name(b.chap_user, key + ".chap.user");
    check_secret(b.chap_secret, key + ".chap.secret");
  }
  if (auto* v = opt(j, "header_digest")) b.header_digest = get_bool(*v, key + ".header_digest");
  parse_backend_limits(j, key, b);
  parse_limit(j, key, "command_timeout_s", b.command_timeout_s, 1, 3600);
  return b;
}

RbdBackendConfig parse_rbd_backend_object(const json& j, const std::string& key) {
  if (!j.is_object()) fail(key, "must be an object");
  only_keys(j, key, {"pool", "image", "namespace", "client", "conf", "keyring", "queue_depth", "queue_limit",
                     "retry_attempts", "retry_ms", "op_timeout_s", "connect_timeout_ms"});
  RbdBackendConfig b;
  constexpr size_t kMaxName = 95, kMaxPath = 4096;
  auto name = [&](const char* k, std::string& out, bool required) {
    auto* v = opt(j, k);
    if (!v) {
      if (required) fail(key + "." + k, "missing");
      return;
    }
    out = get_string(*v, key + "." + k);
    if ((required && out.empty()) || out.size() > kMaxName || out.find_first_of("/@ ") != std::string::npos)
      fail(key + "." + k, "must be 1 to 95 characters without '/', '@' or spaces");
  };
  name("pool", b.pool, true);
  name("image", b.image, true);
  name("namespace", b.ns, false);
  name("client", b.client, false);
  if (b.client.empty() || b.client.rfind("client.", 0) == 0)
    fail(key + ".client", "must be a cephx id without \"client.\" (\"admin\" for client.admin)");
  auto path = [&](const char* k, std::string& out) {
    if (auto* v = opt(j, k)) out = get_string(*v, key + "." + k);
    if (!out.empty() && (out[0] != '/' || out.size() > kMaxPath)) fail(key + "." + k, "must be an absolute path");
  };
  path("conf", b.conf);
  path("keyring", b.keyring);
  parse_backend_limits(j, key, b);
  parse_limit(j, key, "op_timeout_s", b.op_timeout_s, 1, 3600);
  return b;
}

// A byte count: a number up to `max`, or a size string ("1GiB"; the caller bounds its value).
uint64_t get_size(const json& v, const std::string& key, uint64_t max) {
  if (!v.is_string()) return get_uint(v, key, 0, max);
  auto sz = parse_size(v.get<std::string>());
  if (!sz) fail(key, "malformed size '" + v.get<std::string>() + "' (examples: 1GiB, 512MiB, 1048576)");
  return *sz;
}

// Accepts both the file's keys and the shorthand's "lun" (returned through *lun).
LuConfig parse_lu_object(const json& j, const std::string& key, uint32_t company_id, uint64_t* lun,
                         const std::string& guid_seed_prefix) {
  if (!j.is_object()) fail(key, "must be an object");
  if (lun)
    only_keys(j, key, {"lun", "store", "backing", "size", "block_size", "physical_block_size", "write_protect", "write_cache",
                       "removable", "direct", "name", "serial", "vendor", "product", "guid", "mgmt_url", "state",
                       "epoch", "standby", "backend", "sanitize", "sanitize_rate"});
  else
    only_keys(j, key, {"store", "backing", "size", "block_size", "physical_block_size", "write_protect", "write_cache",
                       "removable", "direct", "name", "serial", "vendor", "product", "guid", "mgmt_url", "state",
                       "epoch", "standby", "backend", "sanitize", "sanitize_rate"});
  LuConfig l;
  if (lun) {
    auto* v = opt(j, "lun");
    if (!v) fail(key + ".lun", "missing");
    *lun = get_uint(*v, key + ".lun", 0, 16383);
  }
  if (auto* v = opt(j, "store")) {
    l.store = get_string(*v, key + ".store");
    if (!known_store(l.store)) fail(key + ".store", "must be file, ram, null, iscsi or rbd");
  }
  if (auto* v = opt(j, "backend")) {
    if (l.store == "iscsi") l.backend = parse_backend_object(*v, key + ".backend");
    else if (l.store == "rbd") l.rbd = parse_rbd_backend_object(*v, key + ".backend");
    else fail(key + ".backend", "only an iscsi or rbd store has a backend");
  } else if (l.store == "iscsi") {
    fail(key + ".backend", "missing (an iscsi store needs {\"url\", \"initiator\"})");
  } else if (l.store == "rbd") {
    fail(key + ".backend", "missing (an rbd store needs {\"pool\", \"image\"})");
  }
  if (auto* v = opt(j, "backing")) l.backing = get_string(*v, key + ".backing");
  if (l.store == "file" && l.backing.empty()) fail(key + ".backing", "missing (a file store needs a path)");
  if (l.store == "file" && l.backing[0] != '/') fail(key + ".backing", "must be an absolute path");
  if (l.store != "file") l.backing.clear();
  if (auto* v = opt(j, "size")) l.size = get_size(*v, key + ".size", uint64_t(1) << 60);
  // An iscsi or rbd store's size 0 means the backend's capacity (found when the store connects).
  if (l.store != "file" && l.store != "iscsi" && l.store != "rbd" && l.size == 0) fail(key + ".size", "required for a " + l.store + " store");
  if (l.size > (uint64_t(1) << 60)) fail(key + ".size", "too large");
  if (auto* v = opt(j, "block_size")) {
    l.block_size = uint32_t(get_uint(*v, key + ".block_size", 512, 4096));
    if (l.block_size != 512 && l.block_size != 4096) fail(key + ".block_size", "must be 512 or 4096");
  }
  if (auto* v = opt(j, "physical_block_size")) {
    l.physical_block_size = uint32_t(get_uint(*v, key + ".physical_block_size", 0, 1u << 24));
    if (l.physical_block_size) {
      const uint32_t ratio = l.physical_block_size / l.block_size;
      if (l.physical_block_size % l.block_size || ratio == 0 || (ratio & (ratio - 1)) || ratio > (1u << 15))
        fail(key + ".physical_block_size", "must be block_size times a power of two (at most 2^15)");
    }
  }
  if (l.size % l.block_size) fail(key + ".size", "must be a multiple of block_size (" + std::to_string(l.block_size) + ")");
  if (auto* v = opt(j, "write_protect")) l.write_protect = get_bool(*v, key + ".write_protect");
  if (auto* v = opt(j, "write_cache")) l.write_cache = get_bool(*v, key + ".write_cache");
  if (auto* v = opt(j, "removable")) l.removable = get_bool(*v, key + ".removable");
  if (auto* v = opt(j, "direct")) l.direct = get_bool(*v, key + ".direct");
  if (auto* v = opt(j, "sanitize")) l.sanitize = get_bool(*v, key + ".sanitize");
  // Bytes per second: a number or a size ("64MiB").
  if (auto* v = opt(j, "sanitize_rate")) l.sanitize_rate = get_size(*v, key + ".sanitize_rate", uint64_t(1) << 50);
  if (l.sanitize_rate > (uint64_t(1) << 50)) fail(key + ".sanitize_rate", "too large");
  if (auto* v = opt(j, "name")) {
    l.name = get_string(*v, key + ".name");
    if (l.name.size() > 255) fail(key + ".name", "at most 255 characters");
  }
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
  if (auto* v = opt(j, "mgmt_url")) {
    l.mgmt_url = get_string(*v, key + ".mgmt_url");
    if (l.mgmt_url.size() > 1024) fail(key + ".mgmt_url", "at most 1024 characters");
  }
  if (auto* v = opt(j, "state")) l.online = get_state(*v, key + ".state");
  // At most 2^53-1: exact in every JSON reader (JavaScript numbers), far beyond any takeover count.
  if (auto* v = opt(j, "epoch")) l.epoch = get_uint(*v, key + ".epoch", 0, (uint64_t(1) << 53) - 1);
  if (auto* v = opt(j, "standby")) l.standby = get_bool(*v, key + ".standby");
  if (auto* v = opt(j, "guid")) {
    auto g = parse_guid(get_string(*v, key + ".guid"));
    if (!g) fail(key + ".guid", "must be 32 hex digits");
    if (((*g)[0] >> 4) != 6) fail(key + ".guid", "must be an NAA 6 identifier (first digit 6)");
    l.guid = guid_hex(*g);
  } else {
    l.guid = derive_guid(company_id, guid_seed_prefix + lu_source(l));
  }
  return l;
}

void check_secret(const std::string& v, const std::string& key) {
  if (v.size() < kChapSecretMin || v.size() > kChapSecretMax)
    fail(key, "must be " + std::to_string(kChapSecretMin) + " to " + std::to_string(kChapSecretMax) +
                  " characters (RFC 7143 12.1.3: at least 96 bits without IPsec; 16 is the common initiator limit)");
}

void check_chap_name(const std::string& v, const std::string& key) {
  if (v.size() > kChapNameMax) fail(key, "at most " + std::to_string(kChapNameMax) + " characters");
  for (char ch : v)
    if (ch == '\0' || ch == '=') fail(key, "must not contain NUL or '='");
}

ChapConfig parse_chap_object(const json& v, const std::string& key) {
  if (!v.is_object()) fail(key, "must be an object");
  only_keys(v, key, {"user", "secret", "mutual_user", "mutual_secret"});
  ChapConfig c;
  if (auto* u = opt(v, "user")) c.user = get_string(*u, key + ".user");
  if (auto* u = opt(v, "secret")) c.secret = get_string(*u, key + ".secret");
  if (auto* u = opt(v, "mutual_user")) c.mutual_user = get_string(*u, key + ".mutual_user");
  if (auto* u = opt(v, "mutual_secret")) c.mutual_secret = get_string(*u, key + ".mutual_secret");
  check_chap_name(c.user, key + ".user");
  check_chap_name(c.mutual_user, key + ".mutual_user");
  // A target-wide initiator secret (user + secret), the target's own secret (mutual_secret), or both.
  if (c.user.empty() != c.secret.empty()) fail(key + (c.user.empty() ? ".user" : ".secret"), "user and secret go together");
  if (c.secret.empty() && c.mutual_secret.empty()) fail(key + ".secret", "missing (and no mutual_secret either)");
  if (!c.secret.empty()) check_secret(c.secret, key + ".secret");
  if (!c.mutual_user.empty() && c.mutual_secret.empty()) fail(key + ".mutual_secret", "mutual_user needs mutual_secret");
  if (!c.mutual_secret.empty()) check_secret(c.mutual_secret, key + ".mutual_secret");
  if (!c.mutual_secret.empty() && c.mutual_secret == c.secret) fail(key + ".mutual_secret", "must differ from secret");
  return c;
}

std::string get_auth(const json& j, const std::string& key, bool allow_default) {
  auto v = get_string(j, key);
  if (v != "none" && v != "chap" && (!allow_default || v != "default"))
    fail(key, allow_default ? "must be default, none or chap" : "must be none or chap");
  return v;
}

InitiatorConfig parse_initiator_object(const json& j, const std::string& key) {
  if (!j.is_object()) fail(key, "must be an object");
  only_keys(j, key, {"name", "chap_user", "chap_secret"});
  InitiatorConfig i;
  auto* n = opt(j, "name");
  if (!n) fail(key + ".name", "missing");
  i.name = get_string(*n, key + ".name");
  std::transform(i.name.begin(), i.name.end(), i.name.begin(), ::tolower);
  if (!valid_iqn(i.name)) fail(key + ".name", "'" + i.name + "' is not a valid iSCSI name");
  if (auto* v = opt(j, "chap_user")) i.chap_user = get_string(*v, key + ".chap_user");
  check_chap_name(i.chap_user, key + ".chap_user");
  if (auto* v = opt(j, "chap_secret")) i.chap_secret = get_string(*v, key + ".chap_secret");
  if (!i.chap_secret.empty()) check_secret(i.chap_secret, key + ".chap_secret");
  return i;
}

// `luns` (the shorthand) is only accepted when `luns_out` is given.
TargetConfig parse_target_object(const json& j, const std::string& key, std::vector<std::pair<uint64_t, LuConfig>>* luns_out,
                                 uint32_t company_id) {
  if (!j.is_object()) fail(key, "must be an object");
  if (luns_out)
    only_keys(j, key, {"iqn", "alias", "tpgt", "auth", "chap", "initiators", "luns", "state", "port_index"});
  else
    only_keys(j, key, {"iqn", "alias", "tpgt", "auth", "chap", "initiators", "state", "port_index"});
  TargetConfig t;
  auto* iqn = opt(j, "iqn");
  if (!iqn) fail(key + ".iqn", "missing");
  t.iqn = get_string(*iqn, key + ".iqn");
  if (!valid_iqn(t.iqn)) fail(key + ".iqn", "'" + t.iqn + "' is not a valid iSCSI name (iqn.yyyy-mm.domain:name, lowercase)");
  if (auto* v = opt(j, "alias")) {
    t.alias = get_string(*v, key + ".alias");
    if (t.alias.size() > 255) fail(key + ".alias", "at most 255 characters");
  }
  if (auto* v = opt(j, "tpgt")) t.tpgt = uint16_t(get_uint(*v, key + ".tpgt", 1, 65535));
  if (auto* v = opt(j, "auth")) t.auth = get_auth(*v, key + ".auth", true);
  if (auto* v = opt(j, "chap"); v && !v->is_null()) t.chap = parse_chap_object(*v, key + ".chap");
  if (auto* v = opt(j, "initiators")) {
    if (!v->is_array()) fail(key + ".initiators", "must be a list of initiator names");
    for (size_t i = 0; i < v->size(); ++i) {
      auto n = get_string((*v)[i], key + ".initiators[" + std::to_string(i) + "]");
      if (!valid_iqn(n)) fail(key + ".initiators[" + std::to_string(i) + "]", "'" + n + "' is not a valid iSCSI name");
      t.initiators.push_back(n);
    }
  }
  if (auto* v = opt(j, "state")) t.online = get_state(*v, key + ".state");
  if (auto* v = opt(j, "port_index")) t.port_index = uint16_t(get_uint(*v, key + ".port_index", 1, 32767));
  if (luns_out) {
    if (auto* luns = opt(j, "luns")) {
      if (!luns->is_array()) fail(key + ".luns", "must be a list");
      std::set<uint64_t> seen;
      for (size_t i = 0; i < luns->size(); ++i) {
        auto lk = key + ".luns[" + std::to_string(i) + "]";
        uint64_t lun = 0;
        // Shorthand GUIDs derive from target, LUN and backing (as issue 2's daemon did).
        auto l = parse_lu_object((*luns)[i], lk, company_id, &lun, t.iqn + "|" + std::to_string(lun) + "|");
        if (!opt((*luns)[i], "guid")) l.guid = derive_guid(company_id, t.iqn + "|" + std::to_string(lun) + "|" + l.backing);
        if (l.name.empty()) l.name = t.iqn + "/" + std::to_string(lun);
        if (!seen.insert(lun).second) fail(lk + ".lun", "LUN " + std::to_string(lun) + " used twice");
        luns_out->emplace_back(lun, std::move(l));
      }
    }
  }
  return t;
}

GroupConfig parse_group(const json& j, const std::string& key) {
  if (!j.is_object()) fail(key, "must be an object");
  only_keys(j, key, {"name", "members", "spi"});
  GroupConfig g;
  if (auto* s = opt(j, "spi")) {
    auto b = parse_hex(get_string(*s, key + ".spi"));
    if (!b) fail(key + ".spi", "must be hex digits (an even number)");
    if (b->size() > size_t(ars::kMaxSpiLen)) fail(key + ".spi", "longer than " + std::to_string(ars::kMaxSpiLen) + " bytes");
    g.spi = to_hex(*b);
  }
  auto* n = opt(j, "name");
  if (!n) fail(key + ".name", "missing");
  g.name = get_name(*n, key + ".name", 255);
  if (auto* m = opt(j, "members")) {
    if (!m->is_array()) fail(key + ".members", "must be a list of device ids");
    for (size_t i = 0; i < m->size(); ++i) {
      auto mk = key + ".members[" + std::to_string(i) + "]";
      auto d = normalize_devid(get_string((*m)[i], mk));
      if (!d) fail(mk, "not a device id (iqn.…, eui.<16 hex>, naa.<16|32 hex>, wwn.<16 hex>)");
      g.members.push_back(*d);
    }
  }
  std::sort(g.members.begin(), g.members.end());
  return g;
}

ViewEntryConfig parse_view(const json& j, const std::string& key) {
  if (!j.is_object()) fail(key, "must be an object");
  only_keys(j, key, {"guid", "index", "host_group", "target_group", "lun"});
  ViewEntryConfig v;
  auto* g = opt(j, "guid");
  if (!g) fail(key + ".guid", "missing");
  auto bytes = parse_guid(get_string(*g, key + ".guid"));
  if (!bytes) fail(key + ".guid", "must be 32 hex digits");
  v.guid = guid_hex(*bytes);
  if (auto* x = opt(j, "index")) v.index = uint32_t(get_uint(*x, key + ".index", 0, 0xffffffffu));
  else v.index = UINT32_MAX;  // assigned after parsing
  if (auto* x = opt(j, "host_group"); x && !x->is_null()) v.host_group = get_name(*x, key + ".host_group", 255);
  if (auto* x = opt(j, "target_group"); x && !x->is_null()) v.target_group = get_name(*x, key + ".target_group", 255);
  auto* l = opt(j, "lun");
  if (!l) fail(key + ".lun", "missing");
  v.lun = get_uint(*l, key + ".lun", 0, 16383);
  return v;
}

template <class T>
std::vector<T> parse_list(const json& j, const char* name, T (*one)(const json&, const std::string&)) {
  std::vector<T> out;
  auto* v = opt(j, name);
  if (!v) return out;
  if (!v->is_array()) fail(name, "must be a list");
  for (size_t i = 0; i < v->size(); ++i) out.push_back(one((*v)[i], std::string(name) + "[" + std::to_string(i) + "]"));
  return out;
}

void limits_from(const json& v, IscsiConfig& s) {
  constexpr uint64_t kMaxBytes = uint64_t(1) << 50;
  if (auto* x = opt(v, "max_connections")) s.max_connections = uint32_t(get_uint(*x, "iscsi.max_connections", 1, 1000000));
  if (auto* x = opt(v, "max_connections_per_address"))
    s.max_connections_per_address = uint32_t(get_uint(*x, "iscsi.max_connections_per_address", 1, 1000000));
  if (auto* x = opt(v, "max_sessions_per_initiator"))
    s.max_sessions_per_initiator = uint32_t(get_uint(*x, "iscsi.max_sessions_per_initiator", 1, 1000000));
  if (auto* x = opt(v, "max_immediate_commands"))
    s.max_immediate_commands = uint32_t(get_uint(*x, "iscsi.max_immediate_commands", 1, 4096));
  if (auto* x = opt(v, "session_data_buffer"))
    s.session_data_buffer = get_uint(*x, "iscsi.session_data_buffer", 65536, kMaxBytes);
  if (auto* x = opt(v, "total_data_buffer")) s.total_data_buffer = get_uint(*x, "iscsi.total_data_buffer", 65536, kMaxBytes);
  if (auto* x = opt(v, "send_queue_bytes")) s.send_queue_bytes = get_uint(*x, "iscsi.send_queue_bytes", 65536, kMaxBytes);
  if (auto* x = opt(v, "warn_burst")) s.warn_burst = uint32_t(get_uint(*x, "iscsi.warn_burst", 0, 1000000));
  if (auto* x = opt(v, "warn_interval_s")) s.warn_interval_s = uint32_t(get_uint(*x, "iscsi.warn_interval_s", 1, 86400));
}

IscsiConfig parse_iscsi(const json& v) {
  if (!v.is_object()) fail("iscsi", "must be an object");
  only_keys(v, "iscsi", {"max_recv_data_segment_length", "max_burst_length", "first_burst_length", "immediate_data",
                         "initial_r2t", "max_outstanding_r2t", "header_digest", "data_digest", "queue_depth",
                         "nop_in_interval_s", "nop_in_timeout_s", "login_timeout_s", "max_connections",
                         "max_connections_per_address", "max_sessions_per_initiator", "max_immediate_commands",
                         "session_data_buffer", "total_data_buffer", "send_queue_bytes", "warn_burst",
                         "warn_interval_s", "default_auth", "discovery_auth"});
  IscsiConfig s;
  limits_from(v, s);
  constexpr uint64_t kMaxLen = (1u << 24) - 1;
  if (auto* x = opt(v, "max_recv_data_segment_length")) s.max_recv_data_segment_length = uint32_t(get_uint(*x, "iscsi.max_recv_data_segment_length", 512, kMaxLen));
  if (auto* x = opt(v, "max_burst_length")) s.max_burst_length = uint32_t(get_uint(*x, "iscsi.max_burst_length", 512, kMaxLen));
  if (auto* x = opt(v, "first_burst_length")) s.first_burst_length = uint32_t(get_uint(*x, "iscsi.first_burst_length", 512, kMaxLen));
  if (s.first_burst_length > s.max_burst_length) fail("iscsi.first_burst_length", "must not exceed max_burst_length");
  if (auto* x = opt(v, "immediate_data")) s.immediate_data = get_bool(*x, "iscsi.immediate_data");
  if (auto* x = opt(v, "initial_r2t")) s.initial_r2t = get_bool(*x, "iscsi.initial_r2t");
  if (auto* x = opt(v, "max_outstanding_r2t")) s.max_outstanding_r2t = uint32_t(get_uint(*x, "iscsi.max_outstanding_r2t", 1, 65535));
  if (auto* x = opt(v, "header_digest")) s.header_digest = digest_list(*x, "iscsi.header_digest");
  if (auto* x = opt(v, "data_digest")) s.data_digest = digest_list(*x, "iscsi.data_digest");
  if (auto* x = opt(v, "queue_depth")) s.queue_depth = uint32_t(get_uint(*x, "iscsi.queue_depth", 1, 4096));
  if (auto* x = opt(v, "nop_in_interval_s")) s.nop_in_interval_s = uint32_t(get_uint(*x, "iscsi.nop_in_interval_s", 0, 3600));
  if (auto* x = opt(v, "nop_in_timeout_s")) s.nop_in_timeout_s = uint32_t(get_uint(*x, "iscsi.nop_in_timeout_s", 1, 3600));
  if (auto* x = opt(v, "login_timeout_s")) s.login_timeout_s = uint32_t(get_uint(*x, "iscsi.login_timeout_s", 1, 3600));
  if (auto* x = opt(v, "default_auth")) s.default_auth = get_auth(*x, "iscsi.default_auth", false);
  if (auto* x = opt(v, "discovery_auth")) s.discovery_auth = get_auth(*x, "iscsi.discovery_auth", false);
  return s;
}

AluaConfig parse_alua(const json& v) {
  if (!v.is_object()) fail("alua", "must be an object");
  only_keys(v, "alua", {"enabled", "node", "listen", "peer", "carrier", "heartbeat_ms", "timeout_ms", "tls", "insecure",
                        "handshake_timeout_ms", "takeover", "cluster_id"});
  AluaConfig a;
  if (auto* x = opt(v, "enabled")) a.enabled = get_bool(*x, "alua.enabled");
  if (auto* x = opt(v, "node")) a.node = uint32_t(get_uint(*x, "alua.node", 0, 1));
  for (auto [name, field] : {std::pair{"listen", &AluaConfig::listen}, std::pair{"peer", &AluaConfig::peer}}) {
    auto* x = opt(v, name);
    if (!x) continue;
    const std::string k = std::string("alua.") + name;
    std::string& hp = a.*field;
    hp = get_string(*x, k);
    if (!hp.empty() && !parse_host_port(hp))
      fail(k, "'" + hp + "' is not \"host:port\" (an IPv4 address or [IPv6 address], port 1-65535)");
  }
  if (auto* x = opt(v, "carrier")) {
    a.carrier = get_string(*x, "alua.carrier");
    if (a.carrier != "tcp" && a.carrier != "door") fail("alua.carrier", "must be tcp or door");
  }
  if (auto* x = opt(v, "heartbeat_ms")) a.heartbeat_ms = uint32_t(get_uint(*x, "alua.heartbeat_ms", 50, 3600000));
  if (auto* x = opt(v, "timeout_ms")) a.timeout_ms = uint32_t(get_uint(*x, "alua.timeout_ms", 0, 7200000));
  if (uint64_t(a.timeout_ms) < 2 * uint64_t(a.heartbeat_ms))
    fail("alua.timeout_ms", "must be at least twice heartbeat_ms (" + std::to_string(2 * uint64_t(a.heartbeat_ms)) + ")");
  if (auto* x = opt(v, "handshake_timeout_ms"))
    a.handshake_timeout_ms = uint32_t(get_uint(*x, "alua.handshake_timeout_ms", 100, 600000));
  if (auto* x = opt(v, "insecure")) a.insecure = get_bool(*x, "alua.insecure");
  if (auto* x = opt(v, "takeover")) {
    a.takeover = get_string(*x, "alua.takeover");
    if (a.takeover != "manual" && a.takeover != "fenced") fail("alua.takeover", "must be manual or fenced");
  }
  if (auto* x = opt(v, "cluster_id")) a.cluster_id = uint32_t(get_uint(*x, "alua.cluster_id", 1, UINT32_MAX));
  if (a.takeover == "fenced" && a.cluster_id == 0)
    fail("alua.cluster_id", "required with \"takeover\": \"fenced\" (the same number on both nodes, >= 1)");
  if (auto* t = opt(v, "tls"); t && !t->is_null()) {
    if (!t->is_object()) fail("alua.tls", "must be an object {\"cert\", \"key\", \"peer_cert\" or \"ca\"}");
    only_keys(*t, "alua.tls", {"cert", "key", "peer_cert", "ca"});
    AluaTlsConfig c;
    for (auto [name, field] : {std::pair{"cert", &AluaTlsConfig::cert}, std::pair{"key", &AluaTlsConfig::key},
                               std::pair{"peer_cert", &AluaTlsConfig::peer_cert}, std::pair{"ca", &AluaTlsConfig::ca}}) {
      if (auto* f = opt(*t, name)) c.*field = get_string(*f, std::string("alua.tls.") + name);
    }
    if (c.cert.empty()) fail("alua.tls.cert", "missing (this node's certificate, a PEM file)");
    if (c.key.empty()) fail("alua.tls.key", "missing (this node's private key, a PEM file)");
    if (c.peer_cert.empty() == c.ca.empty())
      fail("alua.tls", "needs exactly one of peer_cert (the peer's certificate, pinned) or ca (the CA that signed it)");
    a.tls = c;
  }
  if (a.tls && a.insecure) fail("alua.insecure", "contradicts alua.tls: remove one of them");
  if (a.enabled && a.carrier == "tcp") {
    if (!a.tls && !a.insecure)
      fail("alua.tls", "the tcp carrier needs TLS (\"tls\": {\"cert\", \"key\", \"peer_cert\" or \"ca\"}; "
                       "scripts/pair-keys.sh makes them), or \"insecure\": true for plain TCP");
    if (a.node == 1 && a.peer.empty())
      fail("alua.peer", "node 1 accepts the link only from the peer's address: set alua.peer (its port is not used)");
  }
  return a;
}

bool side_overlaps(const std::optional<std::string>& a, const std::optional<std::string>& b) {
  return !a || !b || *a == *b;
}

// Cross-object rules of a whole configuration (throws Fail).
void check(const Config& c) {
  std::set<std::string> iqns, guids, files, portals;
  for (size_t i = 0; i < c.portals.size(); ++i)
    if (!portals.insert(c.portals[i].host + "|" + std::to_string(c.portals[i].port)).second)
      fail("portals[" + std::to_string(i) + "]", "portal listed twice");
  std::set<uint16_t> port_indexes;
  for (size_t i = 0; i < c.targets.size(); ++i) {
    const auto k = "targets[" + std::to_string(i) + "]";
    auto& t = c.targets[i];
    if (!iqns.insert(t.iqn).second) fail(k + ".iqn", "target " + t.iqn + " defined twice");
    if (t.port_index < 1 || t.port_index > 32767) fail(k + ".port_index", "must be between 1 and 32767");
    if (!port_indexes.insert(t.port_index).second)
      fail(k + ".port_index", "port index " + std::to_string(t.port_index) + " is used by another target");
  }
  // CHAP (RFC 7143 12.1.3): a secret that authenticates initiators must not authenticate a
  // target, or a reflected exchange would pass; one initiator is listed once.
  std::set<std::string> initiator_names;
  std::map<std::string, std::string> target_secrets;  // mutual secret -> its key
  for (size_t i = 0; i < c.targets.size(); ++i)
    if (c.targets[i].chap && !c.targets[i].chap->mutual_secret.empty())
      target_secrets.emplace(c.targets[i].chap->mutual_secret, "targets[" + std::to_string(i) + "].chap.mutual_secret");
  for (size_t i = 0; i < c.initiators.size(); ++i) {
    const auto k = "initiators[" + std::to_string(i) + "]";
    if (!initiator_names.insert(c.initiators[i].name).second) fail(k + ".name", c.initiators[i].name + " listed twice");
    if (auto t = target_secrets.find(c.initiators[i].chap_secret); !c.initiators[i].chap_secret.empty() && t != target_secrets.end())
      fail(k + ".chap_secret", "equals " + t->second + ": initiator and target CHAP secrets must differ (RFC 7143 12.1.3)");
  }
  for (size_t i = 0; i < c.targets.size(); ++i)
    if (auto& ch = c.targets[i].chap; ch && !ch->secret.empty())
      if (auto t = target_secrets.find(ch->secret); t != target_secrets.end())
        fail("targets[" + std::to_string(i) + "].chap.secret",
             "equals " + t->second + ": initiator and target CHAP secrets must differ (RFC 7143 12.1.3)");
  for (size_t i = 0; i < c.lus.size(); ++i) {
    auto k = "lus[" + std::to_string(i) + "]";
    auto& l = c.lus[i];
    if (!parse_guid(l.guid) || l.guid != guid_hex(*parse_guid(l.guid))) fail(k + ".guid", "must be 32 uppercase hex digits");
    if (!guids.insert(l.guid).second) fail(k + ".guid", "GUID " + l.guid + " used by two LUs");
    if (l.store == "file" && !files.insert(l.backing).second) fail(k + ".backing", l.backing + " is used by another LU");
    if (!known_store(l.store)) fail(k + ".store", "must be file, ram, null, iscsi or rbd");
    if (l.store == "iscsi" && (l.backend.url.empty() || l.backend.initiator.empty()))
      fail(k + ".backend", "an iscsi store needs a url and an initiator");
    if (l.store == "rbd" && (l.rbd.pool.empty() || l.rbd.image.empty()))
      fail(k + ".backend", "an rbd store needs a pool and an image");
    if (l.block_size != 512 && l.block_size != 4096) fail(k + ".block_size", "must be 512 or 4096");
    if (l.size % l.block_size) fail(k + ".size", "must be a multiple of block_size");
  }
  auto check_groups = [&](const std::vector<GroupConfig>& gs, const char* what) {
    std::set<std::string> names, members;
    for (size_t i = 0; i < gs.size(); ++i) {
      auto k = std::string(what) + "[" + std::to_string(i) + "]";
      if (gs[i].name.empty() || gs[i].name.size() > 255) fail(k + ".name", "must be 1 to 255 characters");
      if (!names.insert(gs[i].name).second) fail(k + ".name", "group " + gs[i].name + " defined twice");
      for (auto& m : gs[i].members) {
        if (normalize_devid(m) != m) fail(k + ".members", "'" + m + "' is not a normalized device id");
        if (!members.insert(m).second) fail(k + ".members", m + " is a member of two groups");
      }
    }
    return names;
  };
  auto hgs = check_groups(c.host_groups, "host_groups");
  auto tgs = check_groups(c.target_groups, "target_groups");
  std::set<std::pair<std::string, uint32_t>> idx;
  for (size_t i = 0; i < c.views.size(); ++i) {
    auto k = "views[" + std::to_string(i) + "]";
    auto& v = c.views[i];
    if (!parse_guid(v.guid)) fail(k + ".guid", "must be 32 hex digits");
    if (v.host_group && !hgs.count(*v.host_group)) fail(k + ".host_group", "no host group " + *v.host_group);
    if (v.target_group && !tgs.count(*v.target_group)) fail(k + ".target_group", "no target group " + *v.target_group);
    if (v.lun > 16383) fail(k + ".lun", "must be between 0 and 16383");
    if (!idx.insert({v.guid, v.index}).second) fail(k + ".index", "view entry index used twice for LU " + v.guid);
    for (size_t j = 0; j < i; ++j) {
      auto& w = c.views[j];
      if (!views_overlap(v, w)) continue;
      if (v.guid == w.guid) fail(k, "conflicts with views[" + std::to_string(j) + "] of the same LU");
      if (v.lun == w.lun) fail(k + ".lun", "LUN " + std::to_string(v.lun) + " is already used by views[" + std::to_string(j) + "]");
    }
  }
}

ManagementConfig parse_management_object(const json& v, const std::string& key) {
  ManagementConfig m;
  if (!v.is_object()) fail(key, "must be an object");
  only_keys(v, key,
            {"socket", "admin_group", "max_connections", "max_connections_per_uid", "idle_timeout_s", "max_line_bytes",
             "max_import_bytes", "max_json_depth", "audit"});
  auto u32 = [&](const char* k, uint32_t& out, uint64_t lo, uint64_t hi) {
    if (auto* x = opt(v, k)) out = uint32_t(get_uint(*x, key + "." + k, lo, hi));
  };
  if (auto* x = opt(v, "socket")) m.socket = get_string(*x, key + ".socket");
  if (auto* x = opt(v, "admin_group")) m.admin_group = get_string(*x, key + ".admin_group");
  u32("max_connections", m.max_connections, 1, 65536);
  u32("max_connections_per_uid", m.max_connections_per_uid, 1, 65536);
  u32("idle_timeout_s", m.idle_timeout_s, 1, 86400);
  u32("max_line_bytes", m.max_line_bytes, 4096, 256u << 20);
  u32("max_import_bytes", m.max_import_bytes, 4096, 256u << 20);
  u32("max_json_depth", m.max_json_depth, 8, 10000);
  if (m.max_import_bytes < m.max_line_bytes) fail(key + ".max_import_bytes", "must be at least max_line_bytes");
  if (auto* a = opt(v, "audit")) {
    const std::string ak = key + ".audit";
    if (!a->is_object()) fail(ak, "must be an object");
    only_keys(*a, ak, {"file", "max_bytes", "max_files", "syslog"});
    if (auto* x = opt(*a, "file")) m.audit.file = get_string(*x, ak + ".file");
    if (auto* x = opt(*a, "max_bytes")) m.audit.max_bytes = get_uint(*x, ak + ".max_bytes", 4096, uint64_t(1) << 40);
    if (auto* x = opt(*a, "max_files")) m.audit.max_files = uint32_t(get_uint(*x, ak + ".max_files", 1, 1000));
    if (auto* x = opt(*a, "syslog")) m.audit.syslog = get_bool(*x, ak + ".syslog");
  }
  return m;
}

MetricsConfig parse_metrics(const json& v) {
  MetricsConfig m;
  if (!v.is_object()) fail("metrics", "must be an object");
  only_keys(v, "metrics", {"statistics", "listen", "max_connections", "timeout_ms"});
  if (auto* x = opt(v, "statistics")) m.statistics = get_bool(*x, "metrics.statistics");
  if (auto* x = opt(v, "listen")) {
    m.listen = get_string(*x, "metrics.listen");
    const bool has_port = m.listen.rfind(':') != std::string::npos && m.listen.back() != ']';
    if (!m.listen.empty() && !has_port) fail("metrics.listen", "must be host:port (e.g. \"127.0.0.1:9100\")");
    if (!m.listen.empty()) {
      const Portal p = parse_portal(m.listen, "metrics.listen");
      unsigned char addr[sizeof(in6_addr)];
      if (inet_pton(AF_INET, p.host.c_str(), addr) != 1 && inet_pton(AF_INET6, p.host.c_str(), addr) != 1)
        fail("metrics.listen", "'" + p.host + "' is not an IP address");
    }
  }
  if (auto* x = opt(v, "max_connections")) m.max_connections = uint32_t(get_uint(*x, "metrics.max_connections", 1, 64));
  if (auto* x = opt(v, "timeout_ms")) m.timeout_ms = uint32_t(get_uint(*x, "metrics.timeout_ms", 100, 60000));
  return m;
}

ArraySessionsConfig parse_array_sessions_object(const json& v, const std::string& key) {
  ArraySessionsConfig a;
  if (!v.is_object()) fail(key, "must be an object");
  only_keys(v, key,
            {"machine_id", "default_machine_id", "array_id", "default_array_id", "ash_increment", "accounting_format",
             "default_spi_len", "default_spi", "accounting"});
  auto integer = [&](const char* k, auto& out, int64_t lo, int64_t hi) {
    auto* x = opt(v, k);
    if (!x) return;
    if (!x->is_number_integer()) fail(key + "." + k, "must be an integer");
    const int64_t n = x->get<int64_t>();
    if (n < lo || n > hi) fail(key + "." + k, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    out = static_cast<std::remove_reference_t<decltype(out)>>(n);
  };
  integer("machine_id", a.machine_id, -1, ars::kMaxMachId);
  integer("default_machine_id", a.default_machine_id, 0, ars::kMaxMachId);
  integer("array_id", a.array_id, -1, ars::kMaxArrayId);
  integer("default_array_id", a.default_array_id, 0, ars::kMaxArrayId);
  integer("ash_increment", a.ash_increment, -(ars::kMaxCounter - ars::kMinCounter - 1), ars::kMaxCounter - ars::kMinCounter - 1);
  if (a.ash_increment == 0) fail(key + ".ash_increment", "must not be 0");
  integer("accounting_format", a.accounting_format, ars::kSafBinary, ars::kSafJson);
  integer("default_spi_len", a.default_spi_len, 0, ars::kMaxSpiLen);
  if (auto* x = opt(v, "default_spi")) {
    auto b = parse_hex(get_string(*x, key + ".default_spi"));
    if (!b) fail(key + ".default_spi", "must be hex digits (an even number)");
    if (b->size() > size_t(ars::kMaxSpiLen)) fail(key + ".default_spi", "longer than " + std::to_string(ars::kMaxSpiLen) + " bytes");
    a.default_spi = to_hex(*b);
  }
  if (auto* x = opt(v, "accounting")) {
    const std::string ak = key + ".accounting";
    if (!x->is_object()) fail(ak, "must be an object");
    only_keys(*x, ak, {"enabled", "file", "checkpoint_min", "max_bytes"});
    if (auto* y = opt(*x, "enabled")) a.accounting.enabled = get_bool(*y, ak + ".enabled");
    if (auto* y = opt(*x, "file")) a.accounting.file = get_string(*y, ak + ".file");
    if (auto* y = opt(*x, "checkpoint_min")) a.accounting.checkpoint_min = uint32_t(get_uint(*y, ak + ".checkpoint_min", 0, 10080));
    if (auto* y = opt(*x, "max_bytes")) a.accounting.max_bytes = get_uint(*y, ak + ".max_bytes", 4096, uint64_t(1) << 40);
  }
  return a;
}

Config parse(const json& j) {
  if (!j.is_object()) fail("", "the configuration must be a JSON object");
  only_keys(j, "", {"version", "portals", "targets", "lus", "host_groups", "target_groups", "views", "initiators", "iscsi",
                    "management", "alua", "metrics", "array_sessions", "company_id", "threads", "shutdown_timeout_s", "log_level", "service"});
  Config c;
  if (auto* v = opt(j, "version"); v && get_uint(*v, "version", 1, 1000) != 1) fail("version", "unsupported (this stmfd reads version 1)");
  if (auto* v = opt(j, "company_id")) c.company_id = uint32_t(get_uint(*v, "company_id", 0, 0xffffff));
  auto* portals = opt(j, "portals");
  if (!portals || !portals->is_array()) fail("portals", "missing or not a list (e.g. [\"127.0.0.1:3260\"])");
  for (size_t i = 0; i < portals->size(); ++i) {
    auto k = "portals[" + std::to_string(i) + "]";
    c.portals.push_back(parse_portal(get_string((*portals)[i], k), k));
  }
  c.lus = parse_list<LuConfig>(j, "lus", [](const json& x, const std::string& k) {
    return parse_lu_object(x, k, 0, nullptr, "");  // company id applied below when derived
  });
  // GUIDs derived for canonical LUs use the configured company id: re-derive those.
  if (auto* lus = opt(j, "lus"))
    for (size_t i = 0; i < c.lus.size(); ++i)
      if (!opt((*lus)[i], "guid")) c.lus[i].guid = derive_guid(c.company_id, lu_source(c.lus[i]));
  c.host_groups = parse_list<GroupConfig>(j, "host_groups", parse_group);
  c.target_groups = parse_list<GroupConfig>(j, "target_groups", parse_group);
  for (size_t i = 0; i < c.target_groups.size(); ++i)
    if (!c.target_groups[i].spi.empty()) fail("target_groups[" + std::to_string(i) + "].spi", "only host groups carry an SPI");
  c.views = parse_list<ViewEntryConfig>(j, "views", parse_view);
  c.initiators = parse_list<InitiatorConfig>(j, "initiators", parse_initiator_object);
  auto* targets = opt(j, "targets");
  if (targets && !targets->is_array()) fail("targets", "must be a list");
  for (size_t i = 0; targets && i < targets->size(); ++i) {
    auto k = "targets[" + std::to_string(i) + "]";
    std::vector<std::pair<uint64_t, LuConfig>> luns;
    auto t = parse_target_object((*targets)[i], k, &luns, c.company_id);
    // Shorthand: each LUN becomes an LU and a view entry (all hosts, the target's own group).
    if (!luns.empty()) {
      auto tg = std::find_if(c.target_groups.begin(), c.target_groups.end(), [&](auto& g) { return g.name == t.iqn; });
      if (tg == c.target_groups.end()) c.target_groups.push_back(GroupConfig{t.iqn, {t.iqn}});
    }
    for (auto& [lun, l] : luns) {
      c.views.push_back(ViewEntryConfig{l.guid, UINT32_MAX, std::nullopt, t.iqn, lun});
      c.lus.push_back(std::move(l));
    }
    c.targets.push_back(std::move(t));
  }
  // Targets without a port index get the lowest free one, in file order (explicit ones are
  // kept; duplicates are refused by check()).
  for (size_t i = 0; i < c.targets.size(); ++i) {
    if (c.targets[i].port_index) continue;
    c.targets[i].port_index = free_port_index(c.targets);
    if (!c.targets[i].port_index) fail("targets[" + std::to_string(i) + "].port_index", "no free port index (at most 32767 targets)");
  }
  // Assign missing view indexes: the lowest free per LU.
  for (auto& v : c.views) {
    if (v.index != UINT32_MAX) continue;
    uint32_t n = 0;
    while (std::any_of(c.views.begin(), c.views.end(), [&](auto& w) { return w.guid == v.guid && w.index == n; })) ++n;
    v.index = n;
  }
  if (auto* v = opt(j, "iscsi")) c.iscsi = parse_iscsi(*v);
  if (auto* v = opt(j, "management")) c.management = parse_management_object(*v, "management");
  if (auto* v = opt(j, "alua")) c.alua = parse_alua(*v);
  if (auto* v = opt(j, "metrics")) c.metrics = parse_metrics(*v);
  if (auto* v = opt(j, "array_sessions")) c.array_sessions = parse_array_sessions_object(*v, "array_sessions");
  if (auto* v = opt(j, "threads")) c.threads = uint32_t(get_uint(*v, "threads", 0, 256));
  if (auto* v = opt(j, "shutdown_timeout_s")) c.shutdown_timeout_s = uint32_t(get_uint(*v, "shutdown_timeout_s", 1, 3600));
  if (auto* v = opt(j, "log_level")) {
    c.log_level = get_string(*v, "log_level");
    static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error", "critical", "off"};
    if (!levels.count(c.log_level)) fail("log_level", "must be one of trace, debug, info, warn, error, critical, off");
  }
  if (auto* v = opt(j, "service")) c.service_online = get_state(*v, "service");
  check(c);
  return c;
}

std::string portal_string(const Portal& p) {
  bool v6 = p.host.find(':') != std::string::npos;
  return (v6 ? "[" + p.host + "]" : p.host) + ":" + std::to_string(p.port);
}

}  // namespace

std::string derive_guid(uint32_t company_id, const std::string& seed) {
  // Two 64-bit FNV-1a passes with different bases. Stable across releases.
  auto fnv = [&](uint64_t h) {
    for (unsigned char c : seed) { h ^= c; h *= 1099511628211ull; }
    return h;
  };
  uint64_t a = fnv(14695981039346656037ull), b = fnv(0x6c62272e07bb0142ull);
  Guid g{};
  // NAA 6 (IEEE Registered Extended): 4-bit NAA, 24-bit OUI, 36-bit vendor id, 64-bit extension.
  g[0] = uint8_t(0x60 | ((company_id >> 20) & 0x0f));
  g[1] = uint8_t(company_id >> 12);
  g[2] = uint8_t(company_id >> 4);
  g[3] = uint8_t((company_id & 0x0f) << 4 | (a >> 60 & 0x0f));
  for (int i = 0; i < 4; ++i) g[4 + i] = uint8_t(a >> (8 * (3 - i)));
  for (int i = 0; i < 8; ++i) g[8 + i] = uint8_t(b >> (8 * (7 - i)));
  return guid_hex(g);
}

bool valid_iscsi_name(const std::string& s) {
  std::string lower = s;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  return valid_iqn(lower);
}

std::optional<std::string> normalize_devid(const std::string& s) {
  auto hex_tail = [&](size_t prefix, std::initializer_list<size_t> lens) {
    size_t n = s.size() - prefix;
    return std::find(lens.begin(), lens.end(), n) != lens.end() && std::all_of(s.begin() + prefix, s.end(), ::isxdigit);
  };
  std::string lower = s;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  if (lower.rfind("iqn.", 0) == 0) return valid_iqn(lower) ? std::optional(lower) : std::nullopt;
  if (lower.rfind("eui.", 0) == 0) return hex_tail(4, {16}) ? std::optional(lower) : std::nullopt;
  if (lower.rfind("naa.", 0) == 0) return hex_tail(4, {16, 32}) ? std::optional(lower) : std::nullopt;
  if (lower.rfind("wwn.", 0) == 0) return hex_tail(4, {16}) ? std::optional(lower) : std::nullopt;
  return std::nullopt;
}

bool views_overlap(const ViewEntryConfig& a, const ViewEntryConfig& b) {
  return side_overlaps(a.host_group, b.host_group) && side_overlaps(a.target_group, b.target_group);
}

LuConfig* Config::find_lu(const std::string& guid) {
  for (auto& l : lus)
    if (l.guid == guid) return &l;
  return nullptr;
}
const LuConfig* Config::find_lu(const std::string& guid) const { return const_cast<Config*>(this)->find_lu(guid); }
TargetConfig* Config::find_target(const std::string& iqn) {
  for (auto& t : targets)
    if (t.iqn == iqn) return &t;
  return nullptr;
}
const TargetConfig* Config::find_target(const std::string& iqn) const { return const_cast<Config*>(this)->find_target(iqn); }
InitiatorConfig* Config::find_initiator(const std::string& name) {
  for (auto& i : initiators)
    if (i.name == name) return &i;
  return nullptr;
}

namespace {
// The queue and retry limits an iscsi and an rbd store's backend objects share.
template <class Backend>
json backend_limits_json(const Backend& k) {
  return {{"queue_depth", k.queue_depth},
          {"queue_limit", k.queue_limit},
          {"retry_attempts", k.retry_attempts},
          {"retry_ms", k.retry_ms},
          {"connect_timeout_ms", k.connect_timeout_ms}};
}
}  // namespace

json to_json(const LuConfig& l, bool with_secrets) {
  json j = {{"guid", l.guid},   {"name", l.name},     {"store", l.store}, {"size", l.size}, {"block_size", l.block_size},
            {"physical_block_size", l.physical_block_size}, {"write_protect", l.write_protect},
            {"write_cache", l.write_cache}, {"removable", l.removable}, {"direct", l.direct}, {"sanitize", l.sanitize},
            {"sanitize_rate", l.sanitize_rate}, {"serial", l.serial},
            {"vendor", l.vendor}, {"product", l.product}, {"mgmt_url", l.mgmt_url}, {"state", l.online ? "online" : "offline"},
            {"epoch", l.epoch}};
  if (l.store == "file") j["backing"] = l.backing;
  if (l.store == "iscsi") {
    const auto& k = l.backend;
    json b = backend_limits_json(k);
    b.update({{"url", k.url}, {"initiator", k.initiator}, {"header_digest", k.header_digest},
              {"command_timeout_s", k.command_timeout_s}});
    if (!l.backend.chap_user.empty())
      b["chap"] = {{"user", l.backend.chap_user}, {"secret", with_secrets ? l.backend.chap_secret : "set"}};
    j["backend"] = b;
  }
  if (l.store == "rbd") {
    const auto& r = l.rbd;
    json b = backend_limits_json(r);
    b.update({{"pool", r.pool}, {"image", r.image}, {"client", r.client}, {"op_timeout_s", r.op_timeout_s}});
    if (!r.ns.empty()) b["namespace"] = r.ns;
    if (!r.conf.empty()) b["conf"] = r.conf;
    if (!r.keyring.empty()) b["keyring"] = r.keyring;
    j["backend"] = b;
  }
  if (l.standby) j["standby"] = true;
  return j;
}

json to_json(const TargetConfig& t, bool with_secrets) {
  json j = {{"iqn", t.iqn}, {"alias", t.alias}, {"tpgt", t.tpgt}, {"auth", t.auth}, {"initiators", t.initiators},
            {"state", t.online ? "online" : "offline"}, {"port_index", t.port_index}};
  if (t.chap) {
    json c = json::object();
    // Without secrets, "secret"/"mutual_secret" read "set" (never the secret itself).
    if (!t.chap->user.empty()) {
      c["user"] = t.chap->user;
      c["secret"] = with_secrets ? t.chap->secret : "set";
    }
    if (!t.chap->mutual_secret.empty()) {
      if (!t.chap->mutual_user.empty()) c["mutual_user"] = t.chap->mutual_user;
      c["mutual_secret"] = with_secrets ? t.chap->mutual_secret : "set";
    }
    j["chap"] = c;
  } else {
    j["chap"] = nullptr;
  }
  return j;
}

json to_json(const InitiatorConfig& i, bool with_secrets) {
  json j = {{"name", i.name}};
  if (!i.chap_user.empty()) j["chap_user"] = i.chap_user;
  if (with_secrets) {
    if (!i.chap_secret.empty()) j["chap_secret"] = i.chap_secret;
  } else {
    j["chap_secret"] = i.chap_secret.empty() ? "unset" : "set";
  }
  return j;
}

void strip_secrets(json& config) {
  if (config.contains("targets"))
    for (auto& t : config["targets"])
      if (t.contains("chap") && t["chap"].is_object()) {
        t["chap"].erase("secret");
        t["chap"].erase("mutual_secret");
      }
  if (config.contains("initiators"))
    for (auto& i : config["initiators"]) i.erase("chap_secret");
  if (config.contains("lus"))
    for (auto& l : config["lus"])
      if (l.contains("backend") && l["backend"].contains("chap")) l["backend"]["chap"].erase("secret");
}

json to_json(const ViewEntryConfig& v) {
  return {{"guid", v.guid}, {"index", v.index}, {"host_group", v.host_group ? json(*v.host_group) : json(nullptr)},
          {"target_group", v.target_group ? json(*v.target_group) : json(nullptr)}, {"lun", v.lun}};
}

json to_json(const Portal& p) { return {{"host", p.host}, {"port", p.port}}; }

bool lu_storage_fenced(const AluaConfig& a, const LuConfig& l) {
  return (l.store == "iscsi" || l.store == "rbd") && a.enabled && a.cluster_id;
}

uint64_t lu_fence_key(const AluaConfig& a, const LuConfig& l) {
  return l.store == "iscsi" && a.enabled && a.cluster_id ? fence_key(a.cluster_id, a.node) : 0;
}

json to_json(const AluaConfig& a) {
  json j{{"enabled", a.enabled}, {"node", a.node},       {"listen", a.listen},           {"peer", a.peer},
         {"carrier", a.carrier}, {"heartbeat_ms", a.heartbeat_ms}, {"timeout_ms", a.timeout_ms},
         {"handshake_timeout_ms", a.handshake_timeout_ms}};
  if (a.takeover != "manual") j["takeover"] = a.takeover;  // the default is left out, as before
  if (a.cluster_id) j["cluster_id"] = a.cluster_id;
  if (a.insecure) j["insecure"] = true;
  if (a.tls) {
    json t{{"cert", a.tls->cert}, {"key", a.tls->key}};
    if (!a.tls->peer_cert.empty()) t["peer_cert"] = a.tls->peer_cert;
    if (!a.tls->ca.empty()) t["ca"] = a.tls->ca;
    j["tls"] = t;
  }
  return j;
}

std::optional<std::pair<std::string, uint16_t>> parse_host_port(const std::string& s) {
  std::string host, port;
  unsigned char addr[sizeof(in6_addr)];
  if (!s.empty() && s[0] == '[') {
    auto close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') return std::nullopt;
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
    if (::inet_pton(AF_INET6, host.c_str(), addr) != 1) return std::nullopt;
  } else {
    auto colon = s.find(':');
    if (colon == std::string::npos || s.find(':', colon + 1) != std::string::npos) return std::nullopt;
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (::inet_pton(AF_INET, host.c_str(), addr) != 1) return std::nullopt;
  }
  if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), [](unsigned char ch) { return std::isdigit(ch); }))
    return std::nullopt;
  unsigned long v = std::stoul(port);
  if (v == 0 || v > 65535) return std::nullopt;
  return std::pair{host, uint16_t(v)};
}

uint16_t relative_target_port_id(uint32_t node, uint16_t port_index) { return uint16_t(node * 32768u + port_index); }

uint16_t free_port_index(const std::vector<TargetConfig>& targets) {
  std::set<uint16_t> used;
  for (auto& t : targets) used.insert(t.port_index);
  for (uint16_t i = 1; i <= 32767; ++i)
    if (!used.count(i)) return i;
  return 0;
}

json to_json(const Config& c) {
  json j;
  j["version"] = 1;
  j["portals"] = json::array();
  for (auto& p : c.portals) j["portals"].push_back(portal_string(p));
  j["targets"] = json::array();
  for (auto& t : c.targets) j["targets"].push_back(to_json(t, true));
  j["lus"] = json::array();
  for (auto& l : c.lus) j["lus"].push_back(to_json(l, true));
  auto groups = [](const std::vector<GroupConfig>& gs) {
    json a = json::array();
    for (auto& g : gs) {
      a.push_back({{"name", g.name}, {"members", g.members}});
      if (!g.spi.empty()) a.back()["spi"] = g.spi;
    }
    return a;
  };
  j["host_groups"] = groups(c.host_groups);
  j["target_groups"] = groups(c.target_groups);
  j["views"] = json::array();
  for (auto& v : c.views) j["views"].push_back(to_json(v));
  j["initiators"] = json::array();
  for (auto& i : c.initiators) j["initiators"].push_back(to_json(i, true));
  auto& s = c.iscsi;
  j["iscsi"] = {{"max_recv_data_segment_length", s.max_recv_data_segment_length},
                {"max_burst_length", s.max_burst_length},
                {"first_burst_length", s.first_burst_length},
                {"immediate_data", s.immediate_data},
                {"initial_r2t", s.initial_r2t},
                {"max_outstanding_r2t", s.max_outstanding_r2t},
                {"header_digest", s.header_digest},
                {"data_digest", s.data_digest},
                {"queue_depth", s.queue_depth},
                {"nop_in_interval_s", s.nop_in_interval_s},
                {"nop_in_timeout_s", s.nop_in_timeout_s},
                {"login_timeout_s", s.login_timeout_s},
                {"default_auth", s.default_auth},
                {"discovery_auth", s.discovery_auth}};
  j["iscsi"].update(iscsi_limits_json(s));
  j["management"] = to_json(c.management);
  j["alua"] = to_json(c.alua);
  j["metrics"] = {{"statistics", c.metrics.statistics},
                  {"listen", c.metrics.listen},
                  {"max_connections", c.metrics.max_connections},
                  {"timeout_ms", c.metrics.timeout_ms}};
  j["array_sessions"] = to_json(c.array_sessions);
  j["company_id"] = c.company_id;
  j["threads"] = c.threads;
  j["shutdown_timeout_s"] = c.shutdown_timeout_s;
  j["log_level"] = c.log_level;
  j["service"] = c.service_online ? "online" : "offline";
  return j;
}

template <class F>
auto guarded(ConfigError& err, F&& f) -> std::optional<decltype(f())> {
  try {
    return f();
  } catch (const Fail& e) {
    err = e.e;
    return std::nullopt;
  }
}

std::optional<LuConfig> parse_lu(const json& j, const std::string& key, uint32_t company_id, ConfigError& err) {
  return guarded(err, [&] { return parse_lu_object(j, key, company_id, nullptr, ""); });
}
std::optional<RbdBackendConfig> parse_rbd_backend(const json& j, const std::string& key, ConfigError& err) {
  return guarded(err, [&] { return parse_rbd_backend_object(j, key); });
}

bool known_store(const std::string& name) {
  return std::any_of(kStoreNames.begin(), kStoreNames.end(), [&](const char* s) { return name == s; });
}

std::string lu_source(const LuConfig& l) {
  if (l.store == "file") return l.backing;
  if (l.store == "iscsi") return "iscsi:" + l.backend.url;
  if (l.store == "rbd") return "rbd:" + l.rbd.pool + "/" + (l.rbd.ns.empty() ? "" : l.rbd.ns + "/") + l.rbd.image;
  return l.store + ":" + l.name;
}

std::optional<TargetConfig> parse_target(const json& j, const std::string& key, ConfigError& err) {
  return guarded(err, [&] { return parse_target_object(j, key, nullptr, 0); });
}
std::optional<ManagementConfig> parse_management(const json& j, const std::string& key, ConfigError& err) {
  return guarded(err, [&] { return parse_management_object(j, key); });
}

json to_json(const ManagementConfig& m) {
  return {{"socket", m.socket},
          {"admin_group", m.admin_group},
          {"max_connections", m.max_connections},
          {"max_connections_per_uid", m.max_connections_per_uid},
          {"idle_timeout_s", m.idle_timeout_s},
          {"max_line_bytes", m.max_line_bytes},
          {"max_import_bytes", m.max_import_bytes},
          {"max_json_depth", m.max_json_depth},
          {"audit",
           {{"file", m.audit.file}, {"max_bytes", m.audit.max_bytes}, {"max_files", m.audit.max_files}, {"syslog", m.audit.syslog}}}};
}

json to_json(const ArraySessionsConfig& a) {
  return {{"machine_id", a.machine_id},
          {"default_machine_id", a.default_machine_id},
          {"array_id", a.array_id},
          {"default_array_id", a.default_array_id},
          {"ash_increment", a.ash_increment},
          {"accounting_format", a.accounting_format},
          {"default_spi_len", a.default_spi_len},
          {"default_spi", a.default_spi},
          {"accounting",
           {{"enabled", a.accounting.enabled},
            {"file", a.accounting.file},
            {"checkpoint_min", a.accounting.checkpoint_min},
            {"max_bytes", a.accounting.max_bytes}}}};
}

std::optional<ArraySessionsConfig> parse_array_sessions(const json& j, const std::string& key, ConfigError& err) {
  return guarded(err, [&] { return parse_array_sessions_object(j, key); });
}

std::optional<std::vector<uint8_t>> parse_hex(const std::string& s) {
  if (s.size() % 2) return std::nullopt;
  std::vector<uint8_t> out;
  out.reserve(s.size() / 2);
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < s.size(); i += 2) {
    const int hi = nib(s[i]), lo = nib(s[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(uint8_t(hi << 4 | lo));
  }
  return out;
}

std::string to_hex(const std::vector<uint8_t>& b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(b.size() * 2);
  for (uint8_t x : b) {
    s += kDigits[x >> 4];
    s += kDigits[x & 15];
  }
  return s;
}

std::optional<ChapConfig> parse_chap(const json& j, const std::string& key, ConfigError& err) {
  return guarded(err, [&] { return parse_chap_object(j, key); });
}
std::optional<InitiatorConfig> parse_initiator(const json& j, const std::string& key, ConfigError& err) {
  return guarded(err, [&] { return parse_initiator_object(j, key); });
}

bool validate(const Config& c, ConfigError& err) {
  // Round-trip through the file form: every per-object rule and every cross rule.
  auto parsed = parse_config_json(to_json(c), err);
  return parsed.has_value();
}

std::optional<Config> parse_config_json(const json& j, ConfigError& err) {
  return guarded(err, [&] { return parse(j); });
}

std::optional<Config> parse_config(const std::string& text, ConfigError& err) {
  json j;
  // A configuration nests a few levels: refuse deep nesting before building anything (the
  // copies and comparisons of a parsed value recurse per level).
  if (json_nesting_depth(text, kDefaultMaxJsonDepth) > kDefaultMaxJsonDepth) {
    err = {"", "not a configuration: JSON nested deeper than " + std::to_string(kDefaultMaxJsonDepth) + " levels"};
    return std::nullopt;
  }
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number too large
    err = {"", std::string("not valid JSON: ") + e.what()};
    return std::nullopt;
  }
  return parse_config_json(j, err);
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

}  // namespace stmf::mgmt

namespace stmf::mgmt {

nlohmann::json iscsi_limits_json(const IscsiConfig& s) {
  return {{"max_connections", s.max_connections},
          {"max_connections_per_address", s.max_connections_per_address},
          {"max_sessions_per_initiator", s.max_sessions_per_initiator},
          {"max_immediate_commands", s.max_immediate_commands},
          {"session_data_buffer", s.session_data_buffer},
          {"total_data_buffer", s.total_data_buffer},
          {"send_queue_bytes", s.send_queue_bytes},
          {"warn_burst", s.warn_burst},
          {"warn_interval_s", s.warn_interval_s}};
}

bool parse_iscsi_limits(const nlohmann::json& j, IscsiConfig& c, ConfigError& err) {
  try {
    if (!j.is_object()) fail("iscsi", "limits must be an object");
    limits_from(j, c);
    return true;
  } catch (const Fail& f) {
    err = f.e;
    return false;
  }
}

}  // namespace stmf::mgmt
