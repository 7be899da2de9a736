#include <catch2/catch.hpp>

#include "mgmt/config.h"
#include "mgmt/json_limits.h"

using namespace stmf::mgmt;
using nlohmann::json;

namespace {
std::string refused(const std::string& json) {
  ConfigError e;
  auto c = parse_config(json, e);
  REQUIRE_FALSE(c);
  return e.message();
}
const char* kLun = R"({"lun": 0, "backing": "/var/tmp/x.img", "size": "1GiB"})";
std::string with_target(const std::string& target) { return std::string(R"({"portals": ["127.0.0.1:3260"], "targets": [)") + target + "]}"; }
}  // namespace

TEST_CASE("the embedded default configuration is valid") {
  ConfigError e;
  auto c = parse_config(kDefaultConfig, e);
  REQUIRE(c);
  REQUIRE(c->portals.size() == 1);
  CHECK(c->portals[0].host == "127.0.0.1");
  CHECK(c->portals[0].port == 3260);
  REQUIRE(c->targets.size() == 1);
  REQUIRE(c->lus.size() == 1);
  CHECK(c->lus[0].size == (uint64_t(1) << 30));
  CHECK(c->lus[0].block_size == 512);
}

TEST_CASE("sizes parse with binary units") {
  CHECK(parse_size("4096") == 4096u);
  CHECK(parse_size("1GiB") == (uint64_t(1) << 30));
  CHECK(parse_size("512MiB") == (uint64_t(512) << 20));
  CHECK(parse_size("2T") == (uint64_t(2) << 40));
  CHECK_FALSE(parse_size("1.5G"));
  CHECK_FALSE(parse_size("GiB"));
  CHECK_FALSE(parse_size("99999999999999999999"));
  CHECK_FALSE(parse_size("20000000000T"));
}

TEST_CASE("bad configurations are refused naming the key") {
  CHECK(refused("{") .find("not valid JSON") != std::string::npos);
  // A number JSON cannot hold is an out_of_range exception, not a parse_error (found by fuzz_mgmt).
  CHECK(refused(R"({"portals": [], "threads": 1e999})").find("not valid JSON") != std::string::npos);
  CHECK(refused(R"({"targets": []})") == "portals: missing or not a list (e.g. [\"127.0.0.1:3260\"])");
  CHECK(refused(R"({"portals": ["127.0.0.1:99999"], "targets": []})") == "portals[0]: port out of range");
  CHECK(refused(R"({"portals": ["127.0.0.1:3260"], "targets": [], "bogus": 1})") == "bogus: unknown key");
  CHECK(refused(with_target(R"({"iqn": "IQN.bad", "luns": []})")).rfind("targets[0].iqn:", 0) == 0);
  CHECK(refused(with_target(R"({"iqn": "iqn.2026-11.org.example:t", "luns": [{"lun": 0, "backing": "/x", "size": "1Gb"}]})")) ==
        "targets[0].luns[0].size: malformed size '1Gb' (examples: 1GiB, 512MiB, 1048576)");
  CHECK(refused(with_target(std::string(R"({"iqn": "iqn.2026-11.org.example:t", "luns": [)") + kLun + "," + kLun + "]}")) ==
        "targets[0].luns[1].lun: LUN 0 used twice");
  CHECK(refused(with_target(R"({"iqn": "iqn.2026-11.org.example:t", "luns": [{"lun": 0, "backing": "/x", "size": 1000}]})")) ==
        "targets[0].luns[0].size: must be a multiple of block_size (512)");
  CHECK(refused(with_target(R"({"iqn": "iqn.2026-11.org.example:t", "luns": [{"lun": 0, "backing": "/x", "size": 4096, "block_size": 1024}]})")) ==
        "targets[0].luns[0].block_size: must be 512 or 4096");
  CHECK(refused(with_target(R"({"iqn": "iqn.2026-11.org.example:t", "luns": [{"lun": 0, "backing": "/x", "size": 4096, "physical_block_size": 1536}]})")) ==
        "targets[0].luns[0].physical_block_size: must be block_size times a power of two (at most 2^15)");
  CHECK(refused(with_target(R"({"iqn": "iqn.2026-11.org.example:t", "luns": [{"lun": 0, "size": 4096}]})")) ==
        "targets[0].luns[0].backing: missing (a file store needs a path)");
  CHECK(refused(with_target(R"({"iqn": "iqn.2026-11.org.example:t", "chap": {"user": "u", "secret": "short"}, "luns": []})")) ==
        "targets[0].chap.secret: must be 12 to 16 characters (RFC 7143 12.1.3: at least 96 bits without IPsec; 16 is "
        "the common initiator limit)");
}

TEST_CASE("targets, CHAP, RAM LUs and iSCSI limits are read") {
  ConfigError e;
  auto c = parse_config(R"({"portals": ["[::1]:3261", "127.0.0.2"],
    "iscsi": {"max_burst_length": 262144, "first_burst_length": 65536, "header_digest": ["None"]},
    "targets": [{"iqn": "iqn.2026-11.org.example:t", "tpgt": 2,
                 "chap": {"user": "u", "secret": "0123456789ab", "mutual_user": "t", "mutual_secret": "ba9876543210"},
                 "luns": [{"lun": 3, "store": "ram", "size": "64MiB", "block_size": 4096}]}]})", e);
  INFO(e.message());
  REQUIRE(c);
  CHECK(c->portals[0].host == "::1");
  CHECK(c->portals[0].port == 3261);
  CHECK(c->portals[1].port == 3260);
  CHECK(c->iscsi.max_burst_length == 262144);
  CHECK(c->iscsi.header_digest == std::vector<std::string>{"None"});
  CHECK(c->targets[0].tpgt == 2);
  CHECK(c->targets[0].chap->mutual_user == "t");
  REQUIRE(c->lus.size() == 1);
  CHECK(c->lus[0].store == "ram");
  // The shorthand LUN becomes a view entry through the target's own target group.
  REQUIRE(c->views.size() == 1);
  CHECK(c->views[0].lun == 3);
  CHECK(c->views[0].guid == c->lus[0].guid);
  CHECK(!c->views[0].host_group);
  CHECK(c->views[0].target_group == "iqn.2026-11.org.example:t");
  REQUIRE(c->target_groups.size() == 1);
  CHECK(c->target_groups[0].members == std::vector<std::string>{"iqn.2026-11.org.example:t"});
}

TEST_CASE("export form round-trips and validates") {
  ConfigError e;
  auto c = parse_config(R"({"portals": ["127.0.0.1:3260"],
    "lus": [{"guid": "600144f0aabbccddeeff001122334455", "store": "ram", "size": 1048576, "state": "offline"}],
    "host_groups": [{"name": "a", "members": ["IQN.2026-11.org.example:I1"]}],
    "target_groups": [], "targets": [],
    "views": [{"guid": "600144F0AABBCCDDEEFF001122334455", "host_group": "a", "lun": 7}]})", e);
  INFO(e.message());
  REQUIRE(c);
  CHECK(c->lus[0].guid == "600144F0AABBCCDDEEFF001122334455");
  CHECK(!c->lus[0].online);
  CHECK(c->host_groups[0].members == std::vector<std::string>{"iqn.2026-11.org.example:i1"});
  CHECK(c->views[0].index == 0);
  auto again = parse_config_json(to_json(*c), e);
  REQUIRE(again);
  CHECK(*again == *c);
  CHECK(validate(*c, e));
}

TEST_CASE("whole-configuration rules: groups, members, view conflicts") {
  auto refused_cfg = [](const std::string& extra) {
    ConfigError e;
    auto c = parse_config(R"({"portals": [], "host_groups": [{"name": "a", "members": ["iqn.2026-11.org.example:i1"]},
                                                           {"name": "b"}], )" + extra + "}", e);
    return c ? std::string() : e.message();
  };
  const std::string g1 = R"("600144F0AABBCCDDEEFF001122334455")", g2 = R"("600144F0AABBCCDDEEFF001122334466")";
  CHECK(refused_cfg(R"("views": [{"guid": )" + g1 + R"(, "host_group": "zz", "lun": 1}])") == "views[0].host_group: no host group zz");
  CHECK(refused_cfg(R"("views": [{"guid": )" + g1 + R"(, "lun": 1}, {"guid": )" + g1 + R"(, "host_group": "a", "lun": 2}])") ==
        "views[1]: conflicts with views[0] of the same LU");
  CHECK(refused_cfg(R"("views": [{"guid": )" + g1 + R"(, "lun": 1}, {"guid": )" + g2 + R"(, "host_group": "a", "lun": 1}])") ==
        "views[1].lun: LUN 1 is already used by views[0]");
  // Different host groups do not overlap: same LUN is fine.
  CHECK(refused_cfg(R"("views": [{"guid": )" + g1 + R"(, "host_group": "a", "lun": 1}, {"guid": )" + g2 + R"(, "host_group": "b", "lun": 1}])").empty());
  CHECK(refused_cfg(R"("target_groups": [{"name": "t", "members": ["bogus"]}])").rfind("target_groups[0].members[0]", 0) == 0);
  CHECK(refused_cfg(R"("host_groups": [{"name": "x", "members": ["iqn.2026-11.org.example:i1"]}, {"name": "y", "members": ["iqn.2026-11.org.example:i1"]}])") ==
        "host_groups[1].members: iqn.2026-11.org.example:i1 is a member of two groups");
}

TEST_CASE("device ids normalize") {
  CHECK(normalize_devid("IQN.2026-11.Org.Example:X") == "iqn.2026-11.org.example:x");
  CHECK(normalize_devid("eui.0123456789ABCDEF") == "eui.0123456789abcdef");
  CHECK(!normalize_devid("eui.0123"));
  CHECK(!normalize_devid("wwn.xyz"));
  CHECK(!normalize_devid("foo"));
}

TEST_CASE("derived GUIDs are NAA 6, stable, and distinct per seed") {
  auto a = derive_guid(0x00144f, "t|0|/a");
  auto b = derive_guid(0x00144f, "t|1|/a");
  CHECK(a == derive_guid(0x00144f, "t|0|/a"));
  CHECK(a != b);
  CHECK(a.substr(0, 7) == "600144F");
  CHECK(parse_guid(a).has_value());
}

TEST_CASE("GUID text: parse takes 32 hex digits in either case, format writes uppercase") {
  const std::string upper = "600144F0AB12CD34EF56789A0B1C2D3E";
  auto g = parse_guid("600144f0ab12cd34ef56789a0b1c2d3e");
  REQUIRE(g.has_value());
  CHECK((*g)[0] == 0x60);
  CHECK((*g)[15] == 0x3e);
  CHECK(guid_hex(*g) == upper);
  CHECK(parse_guid(upper) == g);
  CHECK(!parse_guid(""));
  CHECK(!parse_guid(upper.substr(1)));                    // 31 digits
  CHECK(!parse_guid(upper + "0"));                        // 33 digits
  CHECK(!parse_guid("600144F0AB12CD34EF56789A0B1C2D3G"));  // not hex
  CHECK(!parse_guid("600144F0AB12CD34EF56789A0B1C2D-E"));
  CHECK(!parse_guid("600144F0AB12CD34EF56789A0B1C2D 3"));
}

TEST_CASE("host:port literals and relative target port ids", "[alua]") {
  CHECK(parse_host_port("127.0.0.1:3270") == std::pair<std::string, uint16_t>{"127.0.0.1", 3270});
  CHECK(parse_host_port("[::1]:3270") == std::pair<std::string, uint16_t>{"::1", 3270});
  CHECK(parse_host_port("[fe80::1:2]:65535") == std::pair<std::string, uint16_t>{"fe80::1:2", 65535});
  CHECK(parse_host_port("0.0.0.0:1") == std::pair<std::string, uint16_t>{"0.0.0.0", 1});
  for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:99999999",
                          "127.0.0.1:32a", "localhost:3270", "::1:3270", "[::1]", "[::1]3270", "[::1]:", "[127.0.0.1]:3270",
                          "[::1:3270", "1.2.3:3270", ":3270", "127.0.0.1:+32"})
    CHECK_FALSE(parse_host_port(bad));
  CHECK(relative_target_port_id(0, 1) == 1);
  CHECK(relative_target_port_id(0, 32767) == 32767);
  CHECK(relative_target_port_id(1, 1) == 32769);
  CHECK(relative_target_port_id(1, 32767) == 65535);
}

TEST_CASE("the alua section is read, validated and exported", "[alua]") {
  ConfigError e;
  auto c = parse_config(R"({"portals": [], "alua": {"enabled": true, "node": 1, "listen": "[::1]:3270",
    "peer": "192.0.2.1:3270", "carrier": "door", "heartbeat_ms": 100, "timeout_ms": 200}})", e);
  INFO(e.message());
  REQUIRE(c);
  CHECK(c->alua.enabled);
  CHECK(c->alua.node == 1);
  CHECK(c->alua.listen == "[::1]:3270");
  CHECK(c->alua.peer == "192.0.2.1:3270");
  CHECK(c->alua.carrier == "door");
  CHECK(c->alua.heartbeat_ms == 100);
  CHECK(c->alua.timeout_ms == 200);
  json j = to_json(*c);
  CHECK(j["alua"] == json{{"enabled", true}, {"node", 1}, {"listen", "[::1]:3270"}, {"peer", "192.0.2.1:3270"},
                          {"carrier", "door"}, {"heartbeat_ms", 100}, {"timeout_ms", 200}, {"handshake_timeout_ms", 5000}});
  auto again = parse_config_json(j, e);
  REQUIRE(again);
  CHECK(*again == *c);

  // Defaults: disabled, node 0, tcp, 500/3000 ms; the default export carries them.
  auto d = parse_config(R"({"portals": []})", e);
  REQUIRE(d);
  CHECK(d->alua == AluaConfig{});
  CHECK(to_json(*d)["alua"]["carrier"] == "tcp");

  auto with = [](const std::string& alua) { return std::string(R"({"portals": [], "alua": )") + alua + "}"; };
  CHECK(refused(with(R"({"enabled": true, "nodes": 1})")) == "alua.nodes: unknown key");
  CHECK(refused(with(R"([])")) == "alua: must be an object");
  CHECK(refused(with(R"({"node": 2})")) == "alua.node: must be between 0 and 1");
  CHECK(refused(with(R"({"enabled": 1})")) == "alua.enabled: must be true or false");
  CHECK(refused(with(R"({"carrier": "udp"})")) == "alua.carrier: must be tcp or door");
  CHECK(refused(with(R"({"listen": "localhost:3270"})")).rfind("alua.listen: 'localhost:3270' is not \"host:port\"", 0) == 0);
  CHECK(refused(with(R"({"peer": "::1:3270"})")).rfind("alua.peer:", 0) == 0);
  CHECK(refused(with(R"({"peer": "10.0.0.1:0"})")).rfind("alua.peer:", 0) == 0);
  CHECK(refused(with(R"({"heartbeat_ms": 49})")) == "alua.heartbeat_ms: must be between 50 and 3600000");
  CHECK(refused(with(R"({"heartbeat_ms": 2000})")) == "alua.timeout_ms: must be at least twice heartbeat_ms (4000)");
  CHECK(refused(with(R"({"heartbeat_ms": 100, "timeout_ms": 199})")) == "alua.timeout_ms: must be at least twice heartbeat_ms (200)");
  auto empty_addr = parse_config(with(R"({"listen": "", "peer": ""})"), e);
  CHECK(empty_addr);
}

TEST_CASE("alua.takeover and alua.cluster_id: fenced needs a cluster id, the node's key, which LUs are fenced", "[alua][fencing]") {
  ConfigError e;
  auto c = parse_config(R"({"portals": [], "alua": {"takeover": "fenced", "cluster_id": 7, "node": 1}})", e);
  INFO(e.message());
  REQUIRE(c);
  CHECK(c->alua.takeover == "fenced");
  CHECK(c->alua.cluster_id == 7);
  json j = to_json(*c);
  CHECK(j["alua"]["takeover"] == "fenced");
  CHECK(j["alua"]["cluster_id"] == 7);
  auto again = parse_config_json(j, e);
  REQUIRE(again);
  CHECK(*again == *c);
  // The default (manual, no cluster id) exports as before: neither key.
  auto d = parse_config(R"({"portals": []})", e);
  REQUIRE(d);
  CHECK(d->alua.takeover == "manual");
  CHECK(!to_json(*d)["alua"].contains("takeover"));
  CHECK(!to_json(*d)["alua"].contains("cluster_id"));

  auto with = [](const std::string& alua) { return std::string(R"({"portals": [], "alua": )") + alua + "}"; };
  CHECK(refused(with(R"({"takeover": "auto"})")) == "alua.takeover: must be manual or fenced");
  CHECK(refused(with(R"({"takeover": "fenced"})")).rfind("alua.cluster_id: required with", 0) == 0);
  CHECK(refused(with(R"({"cluster_id": 0})")) == "alua.cluster_id: must be between 1 and 4294967295");
  CHECK(parse_config(with(R"({"takeover": "manual", "cluster_id": 3})"), e));  // fenced I/O, manual takeover

  // The key: cluster id in the high half, node + 1 in the low half.
  CHECK(fence_key(7, 0) == 0x0000000700000001ull);
  CHECK(fence_key(7, 1) == 0x0000000700000002ull);
  CHECK(fence_key(0xffffffffu, 1) == 0xffffffff00000002ull);
  AluaConfig a;
  a.enabled = true;
  a.cluster_id = 7;
  a.node = 1;
  LuConfig iscsi, file;
  iscsi.store = "iscsi";
  CHECK(lu_fence_key(a, iscsi) == 0x0000000700000002ull);
  CHECK(lu_fence_key(a, file) == 0);
  a.enabled = false;
  CHECK(lu_fence_key(a, iscsi) == 0);
  a.enabled = true;
  a.cluster_id = 0;
  CHECK(lu_fence_key(a, iscsi) == 0);
}

TEST_CASE("an enabled tcp carrier needs alua.tls or an explicit insecure", "[alua][tls]") {
  ConfigError e;
  auto with = [](const std::string& alua) { return std::string(R"({"portals": [], "alua": )") + alua + "}"; };
  // TLS with pinning: read, exported and read back the same.
  auto c = parse_config(with(R"({"enabled": true, "node": 1, "listen": "127.0.0.2:3270", "peer": "127.0.0.1:3270",
    "handshake_timeout_ms": 2000,
    "tls": {"cert": "/k/node1.crt", "key": "/k/node1.key", "peer_cert": "/k/node0.crt"}})"), e);
  INFO(e.message());
  REQUIRE(c);
  REQUIRE(c->alua.tls);
  CHECK(c->alua.tls->cert == "/k/node1.crt");
  CHECK(c->alua.tls->key == "/k/node1.key");
  CHECK(c->alua.tls->peer_cert == "/k/node0.crt");
  CHECK(c->alua.tls->ca.empty());
  CHECK_FALSE(c->alua.insecure);
  CHECK(c->alua.handshake_timeout_ms == 2000);
  json j = to_json(*c);
  CHECK(j["alua"]["tls"] == json{{"cert", "/k/node1.crt"}, {"key", "/k/node1.key"}, {"peer_cert", "/k/node0.crt"}});
  CHECK_FALSE(j["alua"].contains("insecure"));
  auto again = parse_config_json(j, e);
  REQUIRE(again);
  CHECK(*again == *c);
  // Or a CA.
  auto ca = parse_config(with(R"({"enabled": true, "peer": "127.0.0.2:3270", "tls": {"cert": "a", "key": "b", "ca": "c"}})"), e);
  REQUIRE(ca);
  CHECK(ca->alua.tls->ca == "c");
  // Plain TCP only when asked for, and then exported as such.
  auto plain = parse_config(with(R"({"enabled": true, "peer": "127.0.0.2:3270", "insecure": true})"), e);
  REQUIRE(plain);
  CHECK(plain->alua.insecure);
  CHECK(to_json(*plain)["alua"]["insecure"] == true);

  const std::string no_tls = refused(with(R"({"enabled": true, "node": 0, "peer": "127.0.0.2:3270"})"));
  CHECK(no_tls.rfind("alua.tls: the tcp carrier needs TLS", 0) == 0);
  CHECK(no_tls.find("\"insecure\": true") != std::string::npos);
  // Door carrier, or ALUA disabled: no TLS needed (the relays carry it, docs/stmfproxy.md).
  CHECK(parse_config(with(R"({"enabled": true, "carrier": "door"})"), e));
  CHECK(parse_config(with(R"({"enabled": false, "peer": "127.0.0.2:3270"})"), e));
  CHECK(refused(with(R"({"tls": {"cert": "a", "key": "b"}})")) ==
        "alua.tls: needs exactly one of peer_cert (the peer's certificate, pinned) or ca (the CA that signed it)");
  CHECK(refused(with(R"({"tls": {"cert": "a", "key": "b", "peer_cert": "c", "ca": "d"}})")).rfind("alua.tls: needs exactly one", 0) == 0);
  CHECK(refused(with(R"({"tls": {"key": "b", "peer_cert": "c"}})")).rfind("alua.tls.cert: missing", 0) == 0);
  CHECK(refused(with(R"({"tls": {"cert": "a", "peer_cert": "c"}})")).rfind("alua.tls.key: missing", 0) == 0);
  CHECK(refused(with(R"({"tls": {"cert": "a", "key": "b", "peer_cert": "c", "pin": "d"}})")) == "alua.tls.pin: unknown key");
  CHECK(refused(with(R"({"tls": "yes"})")).rfind("alua.tls: must be an object", 0) == 0);
  CHECK(refused(with(R"({"insecure": "yes"})")) == "alua.insecure: must be true or false");
  CHECK(refused(with(R"({"insecure": true, "tls": {"cert": "a", "key": "b", "ca": "c"}})")) ==
        "alua.insecure: contradicts alua.tls: remove one of them");
  CHECK(refused(with(R"({"handshake_timeout_ms": 99})")) == "alua.handshake_timeout_ms: must be between 100 and 600000");
  // Node 1 accepts the link only from the peer's address.
  CHECK(refused(with(R"({"enabled": true, "node": 1, "listen": "127.0.0.2:3270", "insecure": true})")).rfind("alua.peer: node 1", 0) == 0);
}

TEST_CASE("targets get port indexes: kept when given, else the lowest free", "[alua]") {
  ConfigError e;
  auto c = parse_config(R"({"portals": [], "targets": [
    {"iqn": "iqn.2026-11.org.example:a"},
    {"iqn": "iqn.2026-11.org.example:b", "port_index": 1},
    {"iqn": "iqn.2026-11.org.example:c"},
    {"iqn": "iqn.2026-11.org.example:d", "port_index": 32767}]})", e);
  INFO(e.message());
  REQUIRE(c);
  CHECK(c->targets[0].port_index == 2);
  CHECK(c->targets[1].port_index == 1);
  CHECK(c->targets[2].port_index == 3);
  CHECK(c->targets[3].port_index == 32767);
  CHECK(to_json(*c)["targets"][0]["port_index"] == 2);
  auto again = parse_config_json(to_json(*c), e);
  REQUIRE(again);
  CHECK(*again == *c);
  CHECK(validate(*c, e));

  CHECK(refused(with_target(R"({"iqn": "iqn.2026-11.org.example:a", "port_index": 0})")) ==
        "targets[0].port_index: must be between 1 and 32767");
  CHECK(refused(with_target(R"({"iqn": "iqn.2026-11.org.example:a", "port_index": 32768})")) ==
        "targets[0].port_index: must be between 1 and 32767");
  CHECK(refused(with_target(R"({"iqn": "iqn.2026-11.org.example:a", "port_index": 5},
                               {"iqn": "iqn.2026-11.org.example:b", "port_index": 5})")) ==
        "targets[1].port_index: port index 5 is used by another target");
  // A model whose target has no index yet does not validate.
  Config m = *c;
  m.targets[2].port_index = 0;
  CHECK_FALSE(validate(m, e));
  CHECK(e.message() == "targets[2].port_index: must be between 1 and 32767");
  std::vector<TargetConfig> ts(3);
  ts[0].port_index = 1;
  ts[1].port_index = 3;
  CHECK(free_port_index(ts) == 2);
}

TEST_CASE("LUs carry an ALUA ownership epoch: optional, validated, exported", "[alua]") {
  ConfigError e;
  // Absent: 0, in both the canonical list and the shorthand.
  auto c = parse_config(R"({"portals": [], "lus": [{"store": "ram", "size": 1048576, "name": "a"},
                                                    {"store": "ram", "size": 1048576, "name": "b", "epoch": 7}],
    "targets": [{"iqn": "iqn.2026-11.org.example:t",
                 "luns": [{"lun": 0, "store": "ram", "size": 1048576, "name": "c"},
                          {"lun": 1, "store": "ram", "size": 1048576, "name": "d", "epoch": 9007199254740991}]}]})", e);
  INFO(e.message());
  REQUIRE(c);
  REQUIRE(c->lus.size() == 4);
  CHECK(c->lus[0].epoch == 0);
  CHECK(c->lus[1].epoch == 7);
  CHECK(c->lus[2].epoch == 0);
  CHECK(c->lus[3].epoch == (uint64_t(1) << 53) - 1);
  // The epoch does not enter the derived GUID: a takeover does not rename the LU.
  CHECK(c->lus[1].guid == derive_guid(0x00144f, "ram:b"));

  json j = to_json(*c);
  CHECK(j["lus"][0]["epoch"] == 0);
  CHECK(j["lus"][1]["epoch"] == 7);
  CHECK(to_json(c->lus[3])["epoch"] == 9007199254740991ull);
  auto again = parse_config_json(j, e);
  REQUIRE(again);
  CHECK(*again == *c);
  CHECK(validate(*c, e));

  // parse_lu (the protocol's path) reads it too.
  auto l = parse_lu(json{{"store", "null"}, {"size", 4096}, {"epoch", 3}}, "lu", 0x00144f, e);
  REQUIRE(l);
  CHECK(l->epoch == 3);
  LuConfig other = *l;
  other.epoch = 4;
  CHECK_FALSE(other == *l);

  auto lu = [](const std::string& epoch) {
    return std::string(R"({"portals": [], "lus": [{"store": "ram", "size": 4096, "epoch": )") + epoch + "}]}";
  };
  CHECK(refused(lu("-1")) == "lus[0].epoch: must be a non-negative integer");
  CHECK(refused(lu("\"5\"")) == "lus[0].epoch: must be a non-negative integer");
  CHECK(refused(lu("1.5")) == "lus[0].epoch: must be a non-negative integer");
  CHECK(refused(lu("null")) == "lus[0].epoch: must be a non-negative integer");
  CHECK(refused(lu("9007199254740992")) == "lus[0].epoch: must be between 0 and 9007199254740991");
  CHECK(refused(lu("18446744073709551615")) == "lus[0].epoch: must be between 0 and 9007199254740991");
  CHECK(refused(with_target(R"({"iqn": "iqn.2026-11.org.example:t", "luns": [{"lun": 0, "store": "ram", "size": 4096, "epoch": -3}]})")) ==
        "targets[0].luns[0].epoch: must be a non-negative integer");
  CHECK(refused(R"({"portals": [], "lus": [{"store": "ram", "size": 4096, "epochs": 1}]})") == "lus[0].epochs: unknown key");
}

TEST_CASE("CHAP: initiators' secrets, auth methods, RFC 7143 12.1.3 rules", "[chap]") {
  const std::string base = R"({"portals": ["127.0.0.1:3260"], )";
  SECTION("read, defaults, and written back") {
    ConfigError e;
    auto c = parse_config(base + R"("targets": [{"iqn": "iqn.2026-11.org.example:t", "auth": "chap",
        "chap": {"mutual_secret": "target-secret1"}}],
      "initiators": [{"name": "IQN.1993-08.org.debian:01:A", "chap_secret": "init-secret-01"},
                     {"name": "iqn.1993-08.org.debian:01:b", "chap_user": "bob", "chap_secret": "init-secret-02"},
                     {"name": "iqn.1993-08.org.debian:01:c"}],
      "iscsi": {"default_auth": "chap", "discovery_auth": "chap"}})",
                          e);
    INFO(e.message());
    REQUIRE(c);
    REQUIRE(c->initiators.size() == 3);
    CHECK(c->initiators[0].name == "iqn.1993-08.org.debian:01:a");  // iSCSI names are case-insensitive
    CHECK(c->initiators[0].effective_user() == "iqn.1993-08.org.debian:01:a");
    CHECK(c->initiators[1].effective_user() == "bob");
    CHECK(c->initiators[2].chap_secret.empty());
    CHECK(c->targets[0].auth == "chap");
    CHECK(c->targets[0].chap->mutual_secret == "target-secret1");
    CHECK(c->targets[0].chap->user.empty());
    CHECK(c->iscsi.discovery_auth == "chap");
    CHECK(c->iscsi.default_auth == "chap");
    ConfigError e2;
    auto again = parse_config_json(to_json(*c), e2);
    REQUIRE(again);
    CHECK(*again == *c);
    // Without secrets: "set"/"unset", never the secret; strip_secrets removes them from exports.
    CHECK(to_json(c->initiators[0], false)["chap_secret"] == "set");
    CHECK(to_json(c->initiators[2], false)["chap_secret"] == "unset");
    CHECK(to_json(c->targets[0], false)["chap"]["mutual_secret"] == "set");
    auto j = to_json(*c);
    strip_secrets(j);
    CHECK(j.dump().find("secret-0") == std::string::npos);
    CHECK(j.dump().find("target-secret1") == std::string::npos);
  }
  SECTION("secrets shorter than 96 bits (12 bytes) or longer than 16 are refused") {
    CHECK(refused(base + R"("initiators": [{"name": "iqn.1993-08.org.debian:01:a", "chap_secret": "elevenchars"}]})") ==
          "initiators[0].chap_secret: must be 12 to 16 characters (RFC 7143 12.1.3: at least 96 bits without IPsec; 16 "
          "is the common initiator limit)");
    CHECK(refused(base + R"("initiators": [{"name": "iqn.1993-08.org.debian:01:a", "chap_secret": "seventeen-chars!!"}]})")
              .find("initiators[0].chap_secret: must be 12 to 16") == 0);
    CHECK(refused(with_target(R"({"iqn": "iqn.2026-11.org.example:t", "chap": {"mutual_secret": "short"}})"))
              .find("targets[0].chap.mutual_secret: must be 12 to 16") == 0);
  }
  SECTION("a secret that authenticates initiators must not authenticate a target") {
    CHECK(refused(base + R"("targets": [{"iqn": "iqn.2026-11.org.example:t", "chap": {"mutual_secret": "same-secret-01"}}],
        "initiators": [{"name": "iqn.1993-08.org.debian:01:a", "chap_secret": "same-secret-01"}]})") ==
          "initiators[0].chap_secret: equals targets[0].chap.mutual_secret: initiator and target CHAP secrets must "
          "differ (RFC 7143 12.1.3)");
    CHECK(refused(base + R"("targets": [{"iqn": "iqn.2026-11.org.example:t", "chap": {"mutual_secret": "same-secret-01"}},
        {"iqn": "iqn.2026-11.org.example:u", "chap": {"user": "u", "secret": "same-secret-01"}}]})")
              .find("targets[1].chap.secret: equals targets[0].chap.mutual_secret") == 0);
    CHECK(refused(with_target(
              R"({"iqn": "iqn.2026-11.org.example:t", "chap": {"user": "u", "secret": "same-secret-01", "mutual_secret": "same-secret-01"}})")) ==
          "targets[0].chap.mutual_secret: must differ from secret");
  }
  SECTION("malformed") {
    CHECK(refused(base + R"("initiators": [{"name": "iqn.1993-08.org.debian:01:a"}, {"name": "iqn.1993-08.org.debian:01:A"}]})") ==
          "initiators[1].name: iqn.1993-08.org.debian:01:a listed twice");
    CHECK(refused(base + R"("initiators": [{"name": "not-a-name"}]})") == "initiators[0].name: 'not-a-name' is not a valid iSCSI name");
    CHECK(refused(base + R"("initiators": [{"name": "iqn.1993-08.org.debian:01:a", "secret": "x"}]})") ==
          "initiators[0].secret: unknown key");
    CHECK(refused(base + R"("initiators": [{"name": "iqn.1993-08.org.debian:01:a", "chap_user": "a=b"}]})") ==
          "initiators[0].chap_user: must not contain NUL or '='");
    CHECK(refused(with_target(R"({"iqn": "iqn.2026-11.org.example:t", "auth": "radius"})")) ==
          "targets[0].auth: must be default, none or chap");
    CHECK(refused(base + R"("iscsi": {"discovery_auth": "default"}})") == "iscsi.discovery_auth: must be none or chap");
    CHECK(refused(with_target(R"({"iqn": "iqn.2026-11.org.example:t", "chap": {"user": "u"}})")) ==
          "targets[0].chap.secret: user and secret go together");
    CHECK(refused(with_target(R"({"iqn": "iqn.2026-11.org.example:t", "chap": {}})")) ==
          "targets[0].chap.secret: missing (and no mutual_secret either)");
    CHECK(refused(with_target(R"({"iqn": "iqn.2026-11.org.example:t", "chap": {"user": "u", "secret": "0123456789abc", "mutual_user": "x"}})")) ==
          "targets[0].chap.mutual_secret: mutual_user needs mutual_secret");
  }
}

TEST_CASE("config: the management object's bounds and audit settings", "[config]") {
  ConfigError err;
  auto c = parse_config(R"({"portals": [], "management": {"max_connections": 8, "max_connections_per_uid": 2,
      "idle_timeout_s": 5, "max_line_bytes": 4096, "max_import_bytes": 8192, "max_json_depth": 16,
      "audit": {"file": "/var/log/a.log", "max_bytes": 65536, "max_files": 3, "syslog": true}}})", err);
  INFO(err.message());
  REQUIRE(c);
  CHECK(c->management.max_connections == 8);
  CHECK(c->management.max_connections_per_uid == 2);
  CHECK(c->management.idle_timeout_s == 5);
  CHECK(c->management.max_line_bytes == 4096);
  CHECK(c->management.max_import_bytes == 8192);
  CHECK(c->management.max_json_depth == 16);
  CHECK(c->management.audit == AuditConfig{"/var/log/a.log", 65536, 3, true});
  // Round trip through the file form.
  auto back = parse_config_json(to_json(*c), err);
  REQUIRE(back);
  CHECK(back->management == c->management);
  // Defaults.
  auto d = parse_config(R"({"portals": []})", err);
  REQUIRE(d);
  CHECK(d->management.max_connections == 64);
  CHECK(d->management.max_line_bytes == 65536);
  CHECK(d->management.max_json_depth == 64);
  CHECK(d->management.audit.file.empty());
  // Refusals name the key.
  CHECK_FALSE(parse_config(R"({"portals": [], "management": {"max_json_depth": 2}})", err));
  CHECK(err.key == "management.max_json_depth");
  CHECK_FALSE(parse_config(R"({"portals": [], "management": {"max_line_bytes": 65536, "max_import_bytes": 8192}})", err));
  CHECK(err.key == "management.max_import_bytes");
  CHECK_FALSE(parse_config(R"({"portals": [], "management": {"audit": {"rotate": 1}}})", err));
  CHECK(err.key == "management.audit.rotate");
}

TEST_CASE("config: JSON nested deeper than 64 levels is refused before it is parsed", "[config]") {
  ConfigError err;
  const std::string deep = "{\"portals\": [], \"x\": " + std::string(150000, '[') + std::string(150000, ']') + "}";
  CHECK_FALSE(parse_config(deep, err));
  CHECK(err.message().find("nested deeper than 64 levels") != std::string::npos);
  // The scan skips strings (escaped quotes included) and stops counting above its limit.
  CHECK(json_nesting_depth(R"({"a": "[[[[\"[[[", "b": [[1]]})", 64) == 3);
  CHECK(json_nesting_depth(std::string(1000, '['), 10) == 11);
  std::string why;
  CHECK(parse_json_limited(std::string(65, '[') + std::string(65, ']'), 64, &why).is_discarded());
  CHECK(why == "nested deeper than 64 levels");
  CHECK(parse_json_limited(std::string(64, '[') + std::string(64, ']'), 64, &why).is_array());
  CHECK(parse_json_limited("{", 64, &why).is_discarded());
  CHECK(why == "not valid JSON");
}

TEST_CASE("iscsi store LUs: backend object, size from the backend, secrets kept out of listings", "[iscsi_store]") {
  ConfigError e;
  auto c = parse_config(R"({"portals": [], "lus": [{"name": "s", "store": "iscsi", "block_size": 512,
    "backend": {"url": "iscsi://127.0.0.1:3260/iqn.2026-12.org.example:san/1", "initiator": "iqn.2026-12.org.example:front",
                "chap": {"user": "front", "secret": "0123456789abcdef"}, "header_digest": true}}]})", e);
  INFO(e.message());
  REQUIRE(c);
  REQUIRE(c->lus.size() == 1);
  const auto& l = c->lus[0];
  CHECK(l.store == "iscsi");
  CHECK(l.size == 0);  // the backend's capacity, found when the store connects
  CHECK(l.backend.url == "iscsi://127.0.0.1:3260/iqn.2026-12.org.example:san/1");
  CHECK(l.backend.initiator == "iqn.2026-12.org.example:front");
  CHECK(l.backend.chap_user == "front");
  CHECK(l.backend.chap_secret == "0123456789abcdef");
  CHECK(l.backend.header_digest);
  CHECK(l.backend.queue_depth == 64);  // the defaults
  CHECK(l.backend.retry_attempts == 2);
  CHECK(l.backend.retry_ms == 10000);
  // Listings show "set"; the whole-configuration export keeps the secret (it round-trips).
  CHECK(to_json(l)["backend"]["chap"]["secret"] == "set");
  auto whole = to_json(*c);
  CHECK(whole["lus"][0]["backend"]["chap"]["secret"] == "0123456789abcdef");
  auto again = parse_config(whole.dump(), e);
  INFO(e.message());
  REQUIRE(again);
  CHECK(again->lus[0] == l);
  strip_secrets(whole);
  CHECK_FALSE(whole["lus"][0]["backend"]["chap"].contains("secret"));

  auto lu = [](const std::string& body) { return std::string(R"({"portals": [], "lus": [)") + body + "]}"; };
  CHECK(refused(lu(R"({"store": "iscsi"})")) ==
        "lus[0].backend: missing (an iscsi store needs {\"url\", \"initiator\"})");
  CHECK(refused(lu(R"({"store": "ram", "size": 4096, "backend": {}})")) == "lus[0].backend: only an iscsi or rbd store has a backend");
  CHECK(refused(lu(R"({"store": "iscsi", "backend": {"url": "http://x/y/0", "initiator": "iqn.2026-12.org.example:f"}})")) ==
        "lus[0].backend.url: must be iscsi://host[:port]/target-iqn/lun");
  CHECK(refused(lu(R"({"store": "iscsi", "backend": {"url": "iscsi://h/iqn.x:y/0"}})")) == "lus[0].backend.initiator: missing");
  CHECK(refused(lu(R"({"store": "iscsi", "backend": {"url": "iscsi://h/iqn.x:y/0", "initiator": "bob"}})")) ==
        "lus[0].backend.initiator: must be an iSCSI name (iqn..., eui..., naa...)");
  CHECK(refused(lu(R"({"store": "iscsi", "backend": {"url": "iscsi://h/iqn.x:y/0", "initiator": "iqn.2026-12.org.example:f",
                                                     "chap": {"user": "u", "secret": "short"}}})"))
            .find("lus[0].backend.chap.secret: must be 12 to 16 characters") == 0);
  CHECK(refused(lu(R"({"store": "iscsi", "backend": {"url": "iscsi://h/iqn.x:y/0", "initiator": "iqn.2026-12.org.example:f",
                                                     "digest": true}})")) == "lus[0].backend.digest: unknown key");
  CHECK(refused(lu(R"({"store": "iscsi", "backend": {"url": "iscsi://h/iqn.x:y/0", "initiator": "iqn.2026-12.org.example:f",
                                                     "queue_depth": 0}})")) ==
        "lus[0].backend.queue_depth: must be between 1 and 4096");
  auto tuned = parse_config(lu(R"({"store": "iscsi", "backend": {"url": "iscsi://h/iqn.x:y/0", "initiator":
    "iqn.2026-12.org.example:f", "queue_depth": 8, "queue_limit": 16, "retry_attempts": 3, "retry_ms": 2000,
    "command_timeout_s": 4, "connect_timeout_ms": 1500}})"), e);
  INFO(e.message());
  REQUIRE(tuned);
  CHECK(tuned->lus[0].backend.queue_depth == 8);
  CHECK(tuned->lus[0].backend.queue_limit == 16);
  CHECK(tuned->lus[0].backend.retry_attempts == 3);
  CHECK(tuned->lus[0].backend.retry_ms == 2000);
  CHECK(tuned->lus[0].backend.command_timeout_s == 4);
  CHECK(tuned->lus[0].backend.connect_timeout_ms == 1500);
  auto round = parse_config(to_json(*tuned).dump(), e);
  REQUIRE(round);
  CHECK(round->lus[0] == tuned->lus[0]);
}

TEST_CASE("metrics settings: statistics on and no endpoint by default and listen and bounds checked") {
  ConfigError e;
  auto c = parse_config(R"({"portals": []})", e);
  REQUIRE(c);
  CHECK(c->metrics.statistics);
  CHECK(c->metrics.listen.empty());
  CHECK(c->metrics.max_connections == 4);
  CHECK(c->metrics.timeout_ms == 5000);
  c = parse_config(R"({"portals": [], "metrics": {"statistics": false, "listen": "[::1]:9100", "max_connections": 2, "timeout_ms": 250}})", e);
  REQUIRE(c);
  CHECK_FALSE(c->metrics.statistics);
  CHECK(c->metrics.listen == "[::1]:9100");
  CHECK(c->metrics.max_connections == 2);
  CHECK(c->metrics.timeout_ms == 250);
  auto again = parse_config_json(to_json(*c), e);  // export form round-trips
  REQUIRE(again);
  CHECK(again->metrics == c->metrics);
  CHECK(refused(R"({"portals": [], "metrics": {"listen": "127.0.0.1"}})") == "metrics.listen: must be host:port (e.g. \"127.0.0.1:9100\")");
  CHECK(refused(R"({"portals": [], "metrics": {"listen": "localhost:9100"}})").rfind("metrics.listen", 0) == 0);
  CHECK(refused(R"({"portals": [], "metrics": {"max_connections": 0}})") == "metrics.max_connections: must be between 1 and 64");
  CHECK(refused(R"({"portals": [], "metrics": {"timeout_ms": 10}})") == "metrics.timeout_ms: must be between 100 and 60000");
  CHECK(refused(R"({"portals": [], "metrics": {"bogus": 1}})") == "metrics.bogus: unknown key");
  CHECK(refused(R"({"portals": [], "metrics": {"statistics": 1}})") == "metrics.statistics: must be true or false");
}

TEST_CASE("array_sessions and host groups' SPI parse, round-trip and refuse bad values", "[ars]") {
  ConfigError e;
  auto c = parse_config(R"({"portals": [], "array_sessions": {"machine_id": 3, "ash_increment": -2, "accounting_format": 2,
      "default_spi": "ABCD", "accounting": {"checkpoint_min": 0}},
      "host_groups": [{"name": "hg", "members": ["iqn.2026-11.org.example:h"], "spi": "C0FFEE"}]})",
                        e);
  INFO(e.message());
  REQUIRE(c);
  CHECK(c->array_sessions.machine_id == 3);
  CHECK(c->array_sessions.ash_increment == -2);
  CHECK(c->array_sessions.default_spi == "abcd");
  CHECK(c->array_sessions.accounting.checkpoint_min == 0);
  CHECK(c->host_groups[0].spi == "c0ffee");
  auto back = parse_config_json(to_json(*c), e);
  REQUIRE(back);
  CHECK(*back == *c);
  CHECK(refused(R"({"portals": [], "array_sessions": {"machine_id": 32768}})") ==
        "array_sessions.machine_id: must be between -1 and 32767");
  CHECK(refused(R"({"portals": [], "array_sessions": {"ash_increment": 0}})") == "array_sessions.ash_increment: must not be 0");
  CHECK(refused(R"({"portals": [], "array_sessions": {"accounting_format": 3}})") ==
        "array_sessions.accounting_format: must be between 1 and 2");
  CHECK(refused(R"({"portals": [], "array_sessions": {"default_spi": "abc"}})") ==
        "array_sessions.default_spi: must be hex digits (an even number)");
  CHECK(refused(R"({"portals": [], "host_groups": [{"name": "hg", "spi": "zz"}]})") ==
        "host_groups[0].spi: must be hex digits (an even number)");
  CHECK(refused(R"({"portals": [], "target_groups": [{"name": "tg", "spi": "00"}]})") ==
        "target_groups[0].spi: only host groups carry an SPI");
}

TEST_CASE("rbd store LUs: backend object, defaults, size from the image, refusals", "[rbd_store]") {
  ConfigError e;
  auto c = parse_config(R"({"portals": [], "lus": [{"name": "r", "store": "rbd",
    "backend": {"pool": "rbd", "image": "disk0", "namespace": "tenant1", "client": "iscsi-gw",
                "conf": "/etc/ceph/ceph.conf", "keyring": "/etc/ceph/gw.keyring", "op_timeout_s": 3}}]})", e);
  INFO(e.message());
  REQUIRE(c);
  REQUIRE(c->lus.size() == 1);
  const auto& l = c->lus[0];
  CHECK(l.store == "rbd");
  CHECK(l.size == 0);  // the image's size, found when the store opens it
  CHECK(l.backing.empty());
  CHECK(l.rbd.pool == "rbd");
  CHECK(l.rbd.image == "disk0");
  CHECK(l.rbd.ns == "tenant1");
  CHECK(l.rbd.client == "iscsi-gw");
  CHECK(l.rbd.conf == "/etc/ceph/ceph.conf");
  CHECK(l.rbd.keyring == "/etc/ceph/gw.keyring");
  CHECK(l.rbd.op_timeout_s == 3);
  CHECK(l.rbd.queue_depth == 64);  // the defaults
  CHECK(l.rbd.retry_attempts == 2);
  CHECK(l.rbd.connect_timeout_ms == 10000);
  // The GUID is derived from the image, the export round-trips.
  CHECK(lu_source(l) == "rbd:rbd/tenant1/disk0");
  auto again = parse_config(to_json(*c).dump(), e);
  INFO(e.message());
  REQUIRE(again);
  CHECK(again->lus[0] == l);
  auto minimal = parse_config(R"({"portals": [], "lus": [{"store": "rbd", "backend": {"pool": "p", "image": "i"}}]})", e);
  REQUIRE(minimal);
  CHECK(minimal->lus[0].rbd.client == "admin");
  CHECK(minimal->lus[0].rbd.conf.empty());
  CHECK(minimal->lus[0].guid != l.guid);

  auto lu = [](const std::string& body) { return std::string(R"({"portals": [], "lus": [)") + body + "]}"; };
  CHECK(refused(lu(R"({"store": "rbd"})")) == "lus[0].backend: missing (an rbd store needs {\"pool\", \"image\"})");
  CHECK(refused(lu(R"({"store": "rbd", "backend": {"image": "i"}})")) == "lus[0].backend.pool: missing");
  CHECK(refused(lu(R"({"store": "rbd", "backend": {"pool": "p"}})")) == "lus[0].backend.image: missing");
  CHECK(refused(lu(R"({"store": "rbd", "backend": {"pool": "p", "image": "i@snap"}})")) ==
        "lus[0].backend.image: must be 1 to 95 characters without '/', '@' or spaces");
  CHECK(refused(lu(R"({"store": "rbd", "backend": {"pool": "p", "image": "i", "client": "client.admin"}})")) ==
        "lus[0].backend.client: must be a cephx id without \"client.\" (\"admin\" for client.admin)");
  CHECK(refused(lu(R"({"store": "rbd", "backend": {"pool": "p", "image": "i", "conf": "ceph.conf"}})")) ==
        "lus[0].backend.conf: must be an absolute path");
  CHECK(refused(lu(R"({"store": "rbd", "backend": {"pool": "p", "image": "i", "url": "x"}})")) ==
        "lus[0].backend.url: unknown key");
  CHECK(refused(lu(R"({"store": "rbd", "backend": {"pool": "p", "image": "i", "queue_depth": 0}})")) ==
        "lus[0].backend.queue_depth: must be between 1 and 4096");
  CHECK(refused(lu(R"({"store": "ceph", "size": 4096})")) == "lus[0].store: must be file, ram, null, iscsi or rbd");
}
