// The management operations as pure functions: arguments, error codes, and the model after.
#include <catch2/catch.hpp>

#include "mgmt/ops.h"

using namespace stmf::mgmt;

namespace {

struct Fixture {
  Config c;
  OpContext ctx;
  int guids = 0;
  Fixture() {
    ctx.new_guid = [this] { return derive_guid(0x00144f, "g" + std::to_string(guids++)); };
    ctx.new_target_iqn = [] { return std::string("iqn.2026-11.org.stmf:generated"); };
  }
  Status run(const std::string& op, const json& args, json* out = nullptr) {
    const OpInfo* info = find_op(op);
    REQUIRE(info);
    json r = json::object();
    Config before = c;
    Status s = info->fn(c, args, r, ctx);
    if (!s.ok()) CHECK(c == before);  // a refused op leaves the model untouched
    // The daemon runs a read on its current configuration itself, without a copy
    // (tools/stmfd/mgmt_server.cpp model_op): a read never changes it.
    if (!info->changes) CHECK(c == before);
    if (out) *out = r;
    return s;
  }
  int code(const std::string& op, const json& args) { return run(op, args).code; }
  std::string lu() {
    json r;
    REQUIRE(run("create-lu", {{"lu", {{"store", "ram"}, {"size", 1 << 20}}}}, &r).ok());
    return r["guid"];
  }
};

}  // namespace

TEST_CASE("create-lu validates properties with COMSTAR's codes", "[mgmt][ops]") {
  Fixture f;
  CHECK(f.code("create-lu", {{"lu", {{"backing", "/x"}, {"block_size", 1024}}}}) == STMF_ERROR_INVALID_BLKSIZE);
  CHECK(f.code("create-lu", {{"lu", {{"backing", "/x"}, {"physical_block_size", 1536}}}}) == STMF_ERROR_INVALID_PBLKSIZE);
  CHECK(f.code("create-lu", {{"lu", {{"backing", "/x"}, {"size", "12 apples"}}}}) == STMF_ERROR_SIZE_OUT_OF_RANGE);
  CHECK(f.code("create-lu", {{"lu", {{"backing", "relative"}}}}) == STMF_ERROR_INVALID_PROP);
  CHECK(f.code("create-lu", {{"lu", {{"backing", "/x"}, {"colour", "red"}}}}) == STMF_ERROR_INVALID_PROP);
  CHECK(f.code("create-lu", {}) == STMF_ERROR_INVALID_ARG);
  REQUIRE(f.code("create-lu", {{"lu", {{"backing", "/x"}, {"guid", "600144f0000000000000000000000001"}}}}) == 0);
  CHECK(f.c.lus[0].guid == "600144F0000000000000000000000001");
  CHECK(f.code("create-lu", {{"lu", {{"backing", "/y"}, {"guid", "600144F0000000000000000000000001"}}}}) == STMF_ERROR_GUID_IN_USE);
  CHECK(f.code("create-lu", {{"lu", {{"backing", "/x"}}}}) == STMF_ERROR_FILE_IN_USE);
}

TEST_CASE("add-view: conflicts, LUN collisions, automatic LUN and index", "[mgmt][ops]") {
  Fixture f;
  const auto a = f.lu(), b = f.lu();
  REQUIRE(f.code("create-hg", {{"name", "h1"}}) == 0);
  REQUIRE(f.code("create-hg", {{"name", "h2"}}) == 0);
  REQUIRE(f.code("create-tg", {{"name", "t1"}}) == 0);
  json r;
  REQUIRE(f.run("add-view", {{"guid", a}, {"host_group", "h1"}}, &r).ok());
  CHECK(r["lun"] == 0);
  CHECK(r["index"] == 0);
  // Same LU, overlapping sides: every combination with "all" overlaps.
  CHECK(f.code("add-view", {{"guid", a}, {"host_group", "h1"}, {"target_group", "t1"}}) == STMF_ERROR_VE_CONFLICT);
  CHECK(f.code("add-view", {{"guid", a}}) == STMF_ERROR_VE_CONFLICT);
  REQUIRE(f.run("add-view", {{"guid", a}, {"host_group", "h2"}, {"lun", 7}}, &r).ok());
  CHECK(r["index"] == 1);
  // Another LU: the LUN is taken where the entries overlap, free where they do not.
  CHECK(f.code("add-view", {{"guid", b}, {"host_group", "h1"}, {"lun", 0}}) == STMF_ERROR_LUN_IN_USE);
  CHECK(f.code("add-view", {{"guid", b}, {"lun", 7}}) == STMF_ERROR_LUN_IN_USE);
  REQUIRE(f.run("add-view", {{"guid", b}, {"target_group", "t1"}}, &r).ok());
  CHECK(r["lun"] == 1);  // 0 (h1) and 7 (h2) overlap "all hosts"; 1 is the lowest free
  CHECK(f.code("add-view", {{"guid", b}, {"host_group", "zz"}}) == STMF_ERROR_INVALID_HG);
  CHECK(f.code("add-view", {{"guid", b}, {"target_group", "zz"}}) == STMF_ERROR_INVALID_TG);
  CHECK(f.code("add-view", {{"guid", "nothex"}}) == STMF_ERROR_INVALID_ARG);
  CHECK(f.code("add-view", {{"guid", b}, {"lun", 16384}}) == STMF_ERROR_INVALID_ARG);
  // Groups named by views cannot go; remove-view frees them.
  CHECK(f.code("delete-hg", {{"name", "h1"}}) == STMF_ERROR_GROUP_IN_USE);
  CHECK(f.code("delete-tg", {{"name", "t1"}}) == STMF_ERROR_GROUP_IN_USE);
  REQUIRE(f.code("remove-view", {{"guid", a}, {"index", 0}}) == 0);
  CHECK(f.code("remove-view", {{"guid", a}, {"index", 0}}) == STMF_ERROR_NOT_FOUND);
  CHECK(f.code("delete-hg", {{"name", "h1"}}) == 0);
  REQUIRE(f.code("remove-view", {{"guid", b}, {"all", true}}) == 0);
  CHECK(f.code("remove-view", {{"guid", b}, {"all", true}}) == STMF_ERROR_NOT_FOUND);
}

TEST_CASE("delete-lu removes or keeps the view entries", "[mgmt][ops]") {
  Fixture f;
  const auto a = f.lu(), b = f.lu();
  REQUIRE(f.code("add-view", {{"guid", a}, {"lun", 1}}) == 0);
  REQUIRE(f.code("add-view", {{"guid", b}, {"lun", 2}}) == 0);
  REQUIRE(f.code("delete-lu", {{"guid", a}}) == 0);
  CHECK(view_count(f.c, a) == 0);
  CHECK(f.code("list-view", {{"guid", a}}) == STMF_ERROR_NOT_FOUND);
  REQUIRE(f.code("delete-lu", {{"guid", b}, {"keep_views", true}}) == 0);
  CHECK(view_count(f.c, b) == 1);
  CHECK(f.code("list-view", {{"guid", b}}) == 0);  // kept entries are listed without the LU
  CHECK(f.code("delete-lu", {{"guid", b}}) == STMF_ERROR_NOT_FOUND);
}

TEST_CASE("modify-lu changes what may change, grows but never shrinks", "[mgmt][ops]") {
  Fixture f;
  const auto a = f.lu();
  CHECK(f.code("modify-lu", {{"guid", a}, {"props", {{"size", 1 << 19}}}}) == STMF_ERROR_SIZE_OUT_OF_RANGE);
  CHECK(f.code("modify-lu", {{"guid", a}, {"props", {{"size", (1 << 20) + 1}}}}) == STMF_ERROR_SIZE_OUT_OF_RANGE);
  CHECK(f.code("modify-lu", {{"guid", a}, {"props", {{"block_size", 4096}}}}) == STMF_ERROR_INVALID_PROP);
  CHECK(f.code("modify-lu", {{"guid", a}, {"props", json::object()}}) == STMF_ERROR_INVALID_ARG);
  CHECK(f.code("modify-lu", {{"backing", "/nope"}, {"props", {{"name", "x"}}}}) == STMF_ERROR_NOT_FOUND);
  REQUIRE(f.code("modify-lu", {{"guid", a}, {"props", {{"size", "2MiB"}, {"write_cache", false}, {"name", "n"}}}}) == 0);
  CHECK(f.c.lus[0].size == 2u << 20);
  CHECK(!f.c.lus[0].write_cache);
  CHECK(f.c.lus[0].name == "n");
}

TEST_CASE("the LU epoch: given at create-lu, shown by get-lu, never changed by modify-lu", "[mgmt][ops][alua]") {
  Fixture f;
  json r;
  REQUIRE(f.run("create-lu", {{"lu", {{"store", "ram"}, {"size", 1 << 20}, {"epoch", 5}}}}, &r).ok());
  const std::string a = r["guid"];
  REQUIRE(f.c.find_lu(a));
  CHECK(f.c.find_lu(a)->epoch == 5);
  const auto b = f.lu();
  CHECK(f.c.find_lu(b)->epoch == 0);  // the default
  REQUIRE(f.run("get-lu", {{"guid", a}}, &r).ok());
  CHECK(r["lu"]["epoch"] == 5);
  REQUIRE(f.run("get-lu", {{"guid", b}}, &r).ok());
  CHECK(r["lu"]["epoch"] == 0);
  CHECK(f.code("create-lu", {{"lu", {{"store", "ram"}, {"size", 1 << 20}, {"epoch", -1}}}}) == STMF_ERROR_INVALID_PROP);
  CHECK(f.code("create-lu", {{"lu", {{"store", "ram"}, {"size", 1 << 20}, {"epoch", "1"}}}}) == STMF_ERROR_INVALID_PROP);
  Status s = f.run("modify-lu", {{"guid", a}, {"props", {{"epoch", 6}}}});
  CHECK(s.code == STMF_ERROR_INVALID_PROP);
  CHECK(s.message.find("epoch") != std::string::npos);
  CHECK(f.code("modify-lu", {{"guid", a}, {"props", {{"name", "x"}, {"epoch", 6}}}}) == STMF_ERROR_INVALID_PROP);
  CHECK(f.c.find_lu(a)->epoch == 5);
  // Other changes keep it.
  REQUIRE(f.code("modify-lu", {{"guid", a}, {"props", {{"name", "x"}}}}) == 0);
  CHECK(f.c.find_lu(a)->epoch == 5);
  // An epoch change (the daemon's takeover) shows in diff.
  Config before = f.c;
  f.c.find_lu(a)->epoch = 6;
  CHECK(diff(before, f.c) == std::vector<std::string>{"~ lu " + a + ": epoch"});
}

TEST_CASE("group members: device ids, one group each", "[mgmt][ops]") {
  Fixture f;
  REQUIRE(f.code("create-hg", {{"name", "a"}}) == 0);
  REQUIRE(f.code("create-hg", {{"name", "b"}}) == 0);
  CHECK(f.code("create-hg", {{"name", "a"}}) == STMF_ERROR_EXISTS);
  CHECK(f.code("create-hg", {{"name", ""}}) == STMF_ERROR_INVALID_ARG);
  REQUIRE(f.code("add-hg-member", {{"group", "a"}, {"member", "IQN.2026-11.org.example:N1"}}) == 0);
  CHECK(f.c.host_groups[0].members == std::vector<std::string>{"iqn.2026-11.org.example:n1"});
  CHECK(f.code("add-hg-member", {{"group", "b"}, {"member", "iqn.2026-11.org.example:n1"}}) == STMF_ERROR_EXISTS);
  CHECK(f.code("add-hg-member", {{"group", "c"}, {"member", "iqn.2026-11.org.example:n2"}}) == STMF_ERROR_GROUP_NOT_FOUND);
  CHECK(f.code("add-hg-member", {{"group", "a"}, {"member", "node1"}}) == STMF_ERROR_INVALID_ARG);
  CHECK(f.code("add-hg-member", {{"group", "a"}, {"member", "eui.0123456789abcdef"}}) == 0);
  CHECK(f.code("remove-hg-member", {{"group", "b"}, {"member", "eui.0123456789abcdef"}}) == STMF_ERROR_MEMBER_NOT_FOUND);
  CHECK(f.code("remove-hg-member", {{"group", "a"}, {"member", "EUI.0123456789ABCDEF"}}) == 0);
  // Host and target groups are separate name spaces.
  CHECK(f.code("create-tg", {{"name", "a"}}) == 0);
}

TEST_CASE("service, targets and portals", "[mgmt][ops]") {
  Fixture f;
  CHECK(f.code("online", {}) == STMF_ERROR_SERVICE_ONLINE);
  REQUIRE(f.code("offline", {}) == 0);
  CHECK(f.code("offline", {}) == STMF_ERROR_SERVICE_OFFLINE);
  json r;
  REQUIRE(f.run("create-target", {{"target", json::object()}}, &r).ok());
  CHECK(r["name"] == "iqn.2026-11.org.stmf:generated");
  CHECK(f.code("create-target", {{"target", json::object()}}) == STMF_ERROR_EXISTS);
  CHECK(f.code("create-target", {{"target", {{"name", "bad name"}}}}) == STMF_ERROR_INVALID_ARG);
  CHECK(f.code("create-target", {{"target", {{"name", "iqn.2026-11.org.example:c"}, {"chap", {{"user", "u"}, {"secret", "short"}}}}}}) ==
        STMF_ERROR_INVALID_ARG);
  REQUIRE(f.code("modify-target", {{"name", "iqn.2026-11.org.stmf:generated"}, {"alias", "x"},
                                   {"chap", {{"user", "u"}, {"secret", "0123456789ab"}}}}) == 0);
  CHECK(f.c.targets[0].alias == "x");
  CHECK(f.c.targets[0].chap->user == "u");
  REQUIRE(f.code("modify-target", {{"name", "iqn.2026-11.org.stmf:generated"}, {"chap", nullptr}}) == 0);
  CHECK(!f.c.targets[0].chap);
  REQUIRE(f.code("offline-target", {{"name", "IQN.2026-11.org.stmf:generated"}}) == 0);
  CHECK(!f.c.targets[0].online);
  CHECK(f.code("online-target", {{"name", "iqn.2026-11.org.stmf:none"}}) == STMF_ERROR_NOT_FOUND);
  REQUIRE(f.code("create-portal", {{"host", "::1"}, {"port", 3261}}) == 0);
  CHECK(f.code("create-portal", {{"host", "::1"}, {"port", 3261}}) == STMF_ERROR_EXISTS);
  CHECK(f.code("create-portal", {{"host", "localhost"}}) == STMF_ERROR_INVALID_ARG);
  CHECK(f.code("delete-portal", {{"host", "::1"}}) == STMF_ERROR_NOT_FOUND);  // port defaults to 3260
  CHECK(f.code("delete-portal", {{"host", "::1"}, {"port", 3261}}) == 0);
  CHECK(find_op("no-such-op") == nullptr);
  CHECK(find_op("list-lu")->changes == false);
  CHECK(find_op("add-view")->changes == true);
}

TEST_CASE("diff names what import would change", "[mgmt][ops]") {
  Fixture f;
  const auto a = f.lu();
  Config before = f.c;
  REQUIRE(f.code("create-hg", {{"name", "h"}}) == 0);
  REQUIRE(f.code("modify-lu", {{"guid", a}, {"props", {{"name", "renamed"}}}}) == 0);
  REQUIRE(f.code("add-view", {{"guid", a}, {"host_group", "h"}}) == 0);
  auto d = diff(before, f.c);
  CHECK(d == std::vector<std::string>{"~ lu " + a + ": name", "+ hg h", "+ view " + a + "/0"});
  CHECK(diff(f.c, f.c).empty());
  CHECK(diff(f.c, before) == std::vector<std::string>{"~ lu " + a + ": name", "- hg h", "- view " + a + "/0"});
}

TEST_CASE("set-alua-state and get-alua-state", "[mgmt][ops][alua]") {
  Fixture f;
  json r;
  REQUIRE(f.run("get-alua-state", json::object(), &r).ok());
  CHECK(r == json{{"enabled", false}, {"node", 0}});
  CHECK(find_op("set-alua-state")->changes == true);
  CHECK(find_op("get-alua-state")->changes == false);

  // Enabling needs node 0 or 1.
  Status s = f.run("set-alua-state", {{"enabled", true}, {"node", 2}});
  CHECK(s.code == STMF_ERROR_INVALID_ARG);
  CHECK(s.message.find("node must be 0 or 1") != std::string::npos);
  CHECK(f.code("set-alua-state", {{"enabled", true}}) == STMF_ERROR_INVALID_ARG);
  CHECK(f.code("set-alua-state", {{"enabled", true}, {"node", nullptr}}) == STMF_ERROR_INVALID_ARG);
  CHECK(f.code("set-alua-state", {{"enabled", true}, {"node", -1}}) == STMF_ERROR_INVALID_ARG);
  CHECK(f.code("set-alua-state", {{"enabled", true}, {"node", "1"}}) == STMF_ERROR_INVALID_ARG);
  CHECK(f.code("set-alua-state", {{"node", 1}}) == STMF_ERROR_INVALID_ARG);
  CHECK(f.code("set-alua-state", {{"enabled", "yes"}, {"node", 1}}) == STMF_ERROR_INVALID_ARG);
  CHECK_FALSE(f.c.alua.enabled);

  REQUIRE(f.code("set-alua-state", {{"enabled", true}, {"node", 0}}) == 0);
  CHECK(f.c.alua.enabled);
  CHECK(f.c.alua.node == 0);
  // Again while enabled (re-initialization), on the other node number.
  REQUIRE(f.code("set-alua-state", {{"enabled", true}, {"node", 1}}) == 0);
  REQUIRE(f.run("get-alua-state", json::object(), &r).ok());
  CHECK(r == json{{"enabled", true}, {"node", 1}});

  // Disabling ignores the node (any value, or none) and keeps the stored one.
  REQUIRE(f.code("set-alua-state", {{"enabled", false}, {"node", 77}}) == 0);
  REQUIRE(f.run("get-alua-state", json::object(), &r).ok());
  CHECK(r == json{{"enabled", false}, {"node", 1}});
  REQUIRE(f.code("set-alua-state", {{"enabled", false}}) == 0);
  CHECK(f.c.alua.node == 1);
  // The other settings are untouched and the result validates.
  CHECK(f.c.alua.carrier == "tcp");
  ConfigError e;
  CHECK(validate(f.c, e));
}

TEST_CASE("create-target assigns the lowest free port index", "[mgmt][ops][alua]") {
  Fixture f;
  auto create = [&](const std::string& name) {
    json r;
    REQUIRE(f.run("create-target", {{"target", {{"name", name}}}}, &r).ok());
    return f.c.find_target(name)->port_index;
  };
  CHECK(create("iqn.2026-11.org.example:a") == 1);
  CHECK(create("iqn.2026-11.org.example:b") == 2);
  CHECK(create("iqn.2026-11.org.example:c") == 3);
  REQUIRE(f.code("delete-target", {{"name", "iqn.2026-11.org.example:b"}}) == 0);
  // A caller cannot choose it; the freed index is reused.
  json r;
  REQUIRE(f.run("create-target", {{"target", {{"name", "iqn.2026-11.org.example:d"}, {"port_index", 99}}}}, &r).ok());
  CHECK(f.c.find_target("iqn.2026-11.org.example:d")->port_index == 2);
  CHECK(create("iqn.2026-11.org.example:e") == 4);
  // modify-target keeps it.
  REQUIRE(f.code("modify-target", {{"name", "iqn.2026-11.org.example:c"}, {"alias", "x"}, {"port_index", 9}}) == 0);
  CHECK(f.c.find_target("iqn.2026-11.org.example:c")->port_index == 3);
  ConfigError e;
  INFO(e.message());
  CHECK(validate(f.c, e));
}

TEST_CASE("diff lists ALUA settings", "[mgmt][ops][alua]") {
  Fixture f;
  Config before = f.c;
  REQUIRE(f.code("set-alua-state", {{"enabled", true}, {"node", 1}}) == 0);
  CHECK(diff(before, f.c) == std::vector<std::string>{"~ setting alua"});
}

TEST_CASE("diff lists the array session settings", "[mgmt][ops][ars]") {
  Fixture f;
  Config before = f.c;
  f.c.array_sessions.machine_id = 4;
  CHECK(diff(before, f.c) == std::vector<std::string>{"~ setting array_sessions"});
}

TEST_CASE("initiators' CHAP credentials and the default auth methods", "[mgmt][ops][chap]") {
  Fixture f;
  const std::string a = "iqn.1993-08.org.debian:01:a";
  json r;
  REQUIRE(f.run("create-initiator", {{"initiator", {{"name", "IQN.1993-08.org.debian:01:A"}, {"chap_secret", "init-secret-01"}}}}, &r).ok());
  CHECK(r["name"] == a);
  CHECK(f.code("create-initiator", {{"initiator", {{"name", a}}}}) == STMF_ERROR_EXISTS);
  CHECK(f.code("create-initiator", {{"initiator", {{"name", "iqn.1993-08.org.debian:01:b"}, {"chap_secret", "short"}}}}) ==
        STMF_ERROR_INVALID_ARG);
  CHECK(f.code("create-initiator", {{"name", a}}) == STMF_ERROR_INVALID_ARG);
  // Listed without the secret unless asked.
  REQUIRE(f.run("list-initiator", json::object(), &r).ok());
  REQUIRE(r["initiators"].size() == 1);
  CHECK(r["initiators"][0]["chap_user"] == a);
  CHECK(r["initiators"][0]["chap_secret"] == "set");
  CHECK(r.dump().find("init-secret-01") == std::string::npos);
  REQUIRE(f.run("list-initiator", {{"show_secrets", true}}, &r).ok());
  CHECK(r["initiators"][0]["chap_secret"] == "init-secret-01");
  // modify: user, secret; null clears.
  REQUIRE(f.run("modify-initiator", {{"name", a}, {"chap_user", "alice"}}, nullptr).ok());
  CHECK(f.c.initiators[0].chap_user == "alice");
  CHECK(f.c.initiators[0].chap_secret == "init-secret-01");
  REQUIRE(f.run("modify-initiator", {{"name", a}, {"chap_user", nullptr}, {"chap_secret", nullptr}}, nullptr).ok());
  CHECK(f.c.initiators[0].chap_user.empty());
  CHECK(f.c.initiators[0].chap_secret.empty());
  CHECK(f.code("modify-initiator", {{"name", a}, {"chap_secret", "elevenchars"}}) == STMF_ERROR_INVALID_ARG);
  CHECK(f.code("modify-initiator", {{"name", "iqn.1993-08.org.debian:01:zz"}}) == STMF_ERROR_NOT_FOUND);
  // A target's own secret may not equal an initiator's (either order of creation).
  REQUIRE(f.run("modify-initiator", {{"name", a}, {"chap_secret", "init-secret-01"}}, nullptr).ok());
  CHECK(f.code("create-target", {{"target", {{"name", "iqn.2026-11.org.example:t"}, {"chap", {{"mutual_secret", "init-secret-01"}}}}}}) ==
        STMF_STATUS_SUCCESS);  // ops check the object; the daemon's apply() validates the whole configuration
  ConfigError ce;
  CHECK_FALSE(validate(f.c, ce));
  f.c.targets.clear();
  REQUIRE(f.run("create-target", {{"target", {{"name", "iqn.2026-11.org.example:t"}, {"auth", "chap"}, {"chap", {{"mutual_secret", "tgt-secret-001"}}}}}}, nullptr).ok());
  CHECK(f.c.targets[0].auth == "chap");
  CHECK(f.code("create-initiator", {{"initiator", {{"name", "iqn.1993-08.org.debian:01:b"}, {"chap_secret", "tgt-secret-001"}}}}) ==
        STMF_ERROR_INVALID_ARG);
  CHECK(f.code("modify-initiator", {{"name", a}, {"chap_secret", "tgt-secret-001"}}) == STMF_ERROR_INVALID_ARG);
  REQUIRE(f.run("modify-target", {{"name", "iqn.2026-11.org.example:t"}, {"auth", "none"}}, nullptr).ok());
  CHECK(f.c.targets[0].auth == "none");
  CHECK(f.code("modify-target", {{"name", "iqn.2026-11.org.example:t"}, {"auth", "radius"}}) == STMF_ERROR_INVALID_ARG);
  // Defaults.
  REQUIRE(f.run("list-defaults", json::object(), &r).ok());
  CHECK(r["default_auth"] == "none");
  CHECK(r["discovery_auth"] == "none");
  REQUIRE(f.run("modify-defaults", {{"discovery_auth", "chap"}, {"default_auth", "chap"}}, nullptr).ok());
  CHECK(f.c.iscsi.discovery_auth == "chap");
  CHECK(f.c.iscsi.default_auth == "chap");
  CHECK(f.code("modify-defaults", {{"discovery_auth", "default"}}) == STMF_ERROR_INVALID_ARG);
  // delete
  REQUIRE(f.run("delete-initiator", {{"name", a}}, nullptr).ok());
  CHECK(f.c.initiators.empty());
  CHECK(f.code("delete-initiator", {{"name", a}}) == STMF_ERROR_NOT_FOUND);
  CHECK(find_op("list-initiator")->changes == false);
  CHECK(find_op("create-initiator")->changes);
}

TEST_CASE("admit_request: the nesting bound first, then the object, then the line bound except for import", "[ops]") {
  ManagementConfig lim;
  lim.max_json_depth = 8;
  lim.max_line_bytes = 4096;
  auto ok = admit_request(R"({"v":1,"op":"list-hg","x":[[[[[[1]]]]]]})", lim);  // 7 levels
  CHECK(ok.status.ok());
  CHECK(ok.request.is_object());
  auto deep = admit_request(R"({"v":1,"op":"list-hg","x":[[[[[[[[1]]]]]]]]})", lim);  // 9 levels
  CHECK(deep.status.code == STMF_ERROR_INVALID_ARG);
  CHECK(deep.too_deep);
  CHECK(deep.status.message == "request refused: JSON nested deeper than 8 levels");
  CHECK(deep.request.is_discarded());
  // Deep and malformed: the nesting is what is reported (nothing was parsed).
  CHECK(admit_request(std::string(100000, '['), lim).too_deep);
  auto arr = admit_request("[1]", lim);
  CHECK(arr.status.message == "request is not a JSON object");
  CHECK_FALSE(arr.too_deep);
  CHECK(admit_request("{", lim).status.message == "request is not a JSON object");
  const std::string pad(5000, 'p');
  auto big = admit_request(R"({"v":1,"op":"list-hg","pad":")" + pad + "\"}", lim);
  CHECK(big.status.message == "request larger than 4096 bytes (only import may be larger)");
  CHECK(admit_request(R"({"v":1,"op":"import","pad":")" + pad + "\"}", lim).status.ok());
}

TEST_CASE("every read-only op leaves the model as it was (the daemon runs reads without a copy)", "[mgmt][ops]") {
  Fixture f;
  const auto a = f.lu();
  REQUIRE(f.code("create-hg", {{"name", "h1"}}) == 0);
  REQUIRE(f.code("add-hg-member", {{"group", "h1"}, {"member", "iqn.2026-11.org.example:h"}}) == 0);
  REQUIRE(f.code("add-view", {{"guid", a}, {"host_group", "h1"}}) == 0);
  const json args[] = {json::object(), {{"guid", a}}, {{"group", "h1"}}, {{"name", "h1"}},
                       {{"guid", "600144F0000000000000000000000099"}}};
  for (auto name : {"get-state", "list-lu", "get-lu", "list-hg", "list-tg", "get-hg-members", "get-tg-members",
                    "list-view", "list-initiator", "list-defaults", "list-portal", "get-alua-state"}) {
    const OpInfo* info = find_op(name);
    REQUIRE(info);
    CHECK_FALSE(info->changes);
    for (auto& x : args) {
      INFO(name << " " << x.dump());
      Config before = f.c;
      json r = json::object();
      info->fn(f.c, x, r, f.ctx);
      CHECK(f.c == before);
    }
  }
}
