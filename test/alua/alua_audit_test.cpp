// The audit trail of an ALUA pair (docs/security.md "Audit trail"): link up and down, a planned
// switchover seen from both nodes, and the switchover request itself. The pair runs without a
// state directory (scripts/pair.sh), so each node's audit lines are in its log, from the
// logger "audit".
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mgmt/client.h"
#include "test/alua/pair.h"

using stmf::mgmt::Client;
using stmf::mgmt::json;
using stmf::test::Pair;

namespace {

// The audit lines of a node's log: the JSON after "[audit] ".
std::vector<json> audit_of(const std::string& log) {
  std::vector<json> out;
  std::istringstream in(log);
  std::string line;
  const std::string tag = "[audit] ";
  while (std::getline(in, line)) {
    auto at = line.find(tag);
    if (at == std::string::npos) continue;
    auto j = json::parse(line.substr(at + tag.size()), nullptr, false);
    INFO(line);
    REQUIRE(j.is_object());
    out.push_back(j);
  }
  return out;
}

bool has(const std::vector<json>& all, const std::string& category, const std::string& action, const std::string& result,
         const std::function<bool(const json&)>& also = {}) {
  for (auto& j : all)
    if (j.value("category", "") == category && j.value("action", "") == action && j.value("result", "") == result &&
        (!also || also(j)))
      return true;
  return false;
}

// Polls `pred` (up to 20 s: a bound against a hang, not the verdict).
bool eventually(const std::function<bool()>& pred) {
  for (int i = 0; i < 400; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

}  // namespace

TEST_CASE("an ALUA pair audits link up and down and a switchover on both nodes", "[alua][audit]") {
  Pair p("tcp");
  const std::string guid = p.guid();
  // The link came up on both nodes.
  CHECK(eventually([&] { return has(audit_of(p.log(0)), "alua", "link-up", "ok"); }));
  CHECK(eventually([&] {
    return has(audit_of(p.log(1)), "alua", "link-up", "ok", [](const json& j) { return j["who"]["peer_node"] == "0"; });
  }));
  CHECK(has(audit_of(p.log(0)), "alua", "enabled", "ok", [](const json& j) { return j["what"]["node"] == "0"; }));

  // A planned switchover: node 0 hands the LU over, node 1 takes it; the request is audited.
  Client c(p.socket(0));
  json r;
  REQUIRE(c.call("switchover-lu", {{"guid", guid}}, r).ok());
  auto lu_is = [&](const json& j) { return j["what"]["lu"] == guid; };
  CHECK(eventually([&] { return has(audit_of(p.log(0)), "alua", "switchover-out", "ok", lu_is); }));
  CHECK(has(audit_of(p.log(0)), "alua", "switchover-out", "started", lu_is));
  CHECK(has(audit_of(p.log(0)), "management", "switchover-lu", "ok", [&](const json& j) { return j["what"]["guid"] == guid; }));
  CHECK(eventually([&] { return has(audit_of(p.log(1)), "alua", "switchover-in", "ok", lu_is); }));

  // Node 0 dies: node 1 sees the link go down.
  p.signal(0, SIGKILL);
  CHECK(eventually([&] { return has(audit_of(p.log(1)), "alua", "link-down", "ok"); }));
}

TEST_CASE("a takeover and the old owner's step-down are audited as ALUA and fencing events", "[alua][audit]") {
  Pair p("tcp");
  const std::string guid = p.guid();
  p.signal(0, SIGKILL);
  CHECK(eventually([&] { return has(audit_of(p.log(1)), "alua", "link-down", "ok"); }));
  // Taken over on node 1 once it knows its peer is gone.
  int code = -1;
  eventually([&] {
    code = Client(p.socket(1)).call("import-lu", {{"backing", p.backing()}}).code;
    return code == STMF_STATUS_SUCCESS;
  });
  REQUIRE(code == STMF_STATUS_SUCCESS);
  auto lu_is = [&](const json& j) { return j["what"]["lu"] == guid; };
  CHECK(has(audit_of(p.log(1)), "alua", "takeover", "ok", [&](const json& j) { return lu_is(j) && j["what"]["epoch"] == 1; }));
  CHECK(has(audit_of(p.log(1)), "management", "import-lu", "ok"));
  // Node 0 comes back with its stale copy (epoch 0): it steps down, and says so.
  p.restart(0);
  CHECK(eventually([&] { return has(audit_of(p.log(0)), "fencing", "step-down", "ok", lu_is); }));
  CHECK(has(audit_of(p.log(0)), "fencing", "stale-copy", "stepping down", [&](const json& j) {
    return lu_is(j) && j["what"]["peer_epoch"] == "1" && j["what"]["our_epoch"] == "0";
  }));
}
