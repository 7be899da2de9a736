// stmfadm end to end: the real CLI binary against a real stmfd (loopback portal, state
// directory, management socket in the test directory). Every subcommand, its output, its exit
// status and its error cases (docs/stmfadm.md, docs/management.md).
#include <arpa/inet.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "test/integration/daemon.h"
#include "test/integration/libiscsi_util.h"
#include "test/integration/second_uid.h"
#include "test/management/stmfadm/stmfadm_runner.h"

using nlohmann::json;
using stmf::test::Daemon;
using stmf::test::run_stmfadm;
using stmf::test::StmfadmOptions;
using stmf::test::StmfadmResult;
using stmf::test::require_second_uid;

namespace {

const std::string kTargetIqn = "iqn.2026-11.org.example:test";
const std::string kInitiator = "iqn.2026-11.org.example:stmfadm-init";
const std::string kUnknownGuid = "600144F0FFFFFFFFFFFFFFFFFFFFFFFF";

// stmfadm against daemon `d` (STMFD_SOCKET = its socket).
struct Adm {
  const Daemon& d;
  StmfadmResult operator()(const std::vector<std::string>& args, StmfadmOptions o = {}) const {
    if (o.socket.empty()) o.socket = d.socket_path();
    return run_stmfadm(args, o);
  }
  json js(std::vector<std::string> args) const {  // --json, must succeed, one object
    args.insert(args.begin(), "--json");
    auto r = (*this)(args);
    INFO("stmfadm " << args[1] << ": status " << r.status << "\nstdout: " << r.out << "\nstderr: " << r.err);
    REQUIRE(r.status == 0);
    json j = json::parse(r.out, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    REQUIRE(j.is_object());
    return j;
  }
};

// Each macro evaluates its argument once (it may run stmfadm).
#define REQUIRE_OK(expr)                                                                   \
  do {                                                                                     \
    const StmfadmResult& r_ = (expr);                                                      \
    INFO("status " << r_.status << "\nstdout: " << r_.out << "\nstderr: " << r_.err);      \
    REQUIRE(r_.status == 0);                                                               \
    REQUIRE(r_.err.empty());                                                               \
  } while (0)

// Exit status 1 and exactly one stderr line "stmfadm: ... (CODE)".
#define REQUIRE_FAIL(expr, code)                                                           \
  do {                                                                                     \
    const StmfadmResult& r_ = (expr);                                                      \
    INFO("status " << r_.status << "\nstdout: " << r_.out << "\nstderr: " << r_.err);      \
    REQUIRE(r_.status == 1);                                                               \
    REQUIRE(r_.err_lines().size() == 1);                                                   \
    CHECK(r_.err.rfind("stmfadm: ", 0) == 0);                                              \
    CHECK_THAT(r_.err, Catch::EndsWith(std::string(" (") + (code) + ")\n"));              \
  } while (0)

// Usage error: exit status 2 and a "stmfadm: ..." line on stderr, nothing on stdout.
#define REQUIRE_USAGE(expr)                                                                \
  do {                                                                                     \
    const StmfadmResult& r_ = (expr);                                                      \
    INFO("status " << r_.status << "\nstdout: " << r_.out << "\nstderr: " << r_.err);      \
    REQUIRE(r_.status == 2);                                                               \
    CHECK(r_.err.rfind("stmfadm: ", 0) == 0);                                              \
    CHECK(r_.out.empty());                                                                 \
  } while (0)

bool has_line(const std::string& text, const std::string& line) {
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l))
    if (l == line) return true;
  return false;
}

std::string first_guid(const Adm& adm) {
  json j = adm.js({"list-lu"});
  REQUIRE(j["lus"].is_array());
  REQUIRE(j["lus"].size() >= 1);
  return j["lus"][0].get<std::string>();
}

// create-lu FILE [extra args] -> the new GUID (from "Logical unit created: GUID").
std::string create_lu(const Adm& adm, const std::string& file, std::vector<std::string> extra = {"-s", "16m"}) {
  std::vector<std::string> args = {"create-lu"};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back(file);
  auto r = adm(args);
  REQUIRE_OK(r);
  std::smatch m;
  static const std::regex re("^Logical unit created: ([0-9A-F]{32})\n$");
  REQUIRE(std::regex_match(r.out, m, re));
  return m[1];
}

json find_by(const json& arr, const std::string& key, const std::string& value) {
  for (auto& e : arr)
    if (e.value(key, std::string()) == value) return e;
  return nullptr;
}

// Waits until the target's state is `state` (onlining is asynchronous).
bool wait_target_state(const Adm& adm, const std::string& state) {
  for (int i = 0; i < 100; ++i) {
    auto r = adm({"--json", "list-target", kTargetIqn});
    json j = json::parse(r.out, nullptr, false);
    if (!j.is_discarded() && j.contains("targets") && j["targets"].size() == 1 &&
        j["targets"][0].value("state", std::string()) == state)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// A daemon whose "alua" object points listen and peer at unused loopback ports: enabling ALUA
// then starts a link that nothing answers (it stays down).
stmf::test::DaemonOptions alua_options() {
  stmf::test::DaemonOptions o;
  o.top_json_extra = "\"alua\": {\"listen\": \"127.0.0.1:" + std::to_string(stmf::test::free_port()) +
                     "\", \"peer\": \"127.0.0.1:" + std::to_string(stmf::test::free_port()) + "\", \"insecure\": true}, ";
  return o;
}

void write_file(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("stmfadm list-state and online-service/offline-service", "[stmfadm]") {
  Daemon d;
  Adm adm{d};
  auto r = adm({"list-state"});
  REQUIRE_OK(r);
  CHECK(r.out ==
        "Operational Status: online\nConfig Status     : initialized\nALUA Status       : disabled\n"
        "ALUA Node         : 0\n");

  json st = adm.js({"list-state"});
  CHECK(st.value("operational", "") == "online");
  CHECK(st.value("config", "") == "init_done");
  CHECK(st["alua"] == json({{"enabled", false}, {"node", 0}}));
  CHECK_FALSE(st.contains("status"));  // results only, not the envelope

  r = adm({"offline-service"});
  REQUIRE_OK(r);
  CHECK(r.out.empty());
  r = adm({"list-state"});
  REQUIRE_OK(r);
  CHECK(has_line(r.out, "Operational Status: offline"));
  CHECK(wait_target_state(adm, "offline"));
  r = adm({"offline-service"});
  REQUIRE_FAIL(r, "STMF_ERROR_SERVICE_OFFLINE");

  r = adm({"online-service"});
  REQUIRE_OK(r);
  CHECK(has_line(adm({"list-state"}).out, "Operational Status: online"));
  CHECK(wait_target_state(adm, "online"));
  r = adm({"online-service"});
  REQUIRE_FAIL(r, "STMF_ERROR_SERVICE_ONLINE");
}

TEST_CASE("stmfadm host groups", "[stmfadm]") {
  Daemon d;
  Adm adm{d};
  const std::string a = "iqn.1993-08.org.debian:01:aaa", b = "iqn.1993-08.org.debian:01:bbb";

  auto r = adm({"list-hg"});
  REQUIRE_OK(r);
  CHECK(r.out.empty());

  r = adm({"create-hg", "hg1"});
  REQUIRE_OK(r);
  CHECK(r.out.empty());
  r = adm({"create-hg", "hg1"});
  REQUIRE_FAIL(r, "STMF_ERROR_EXISTS");
  CHECK_THAT(r.err, Catch::Contains("hg1"));

  r = adm({"add-hg-member", "-g", "hg1", a, "IQN.1993-08.ORG.DEBIAN:01:BBB"});
  REQUIRE_OK(r);
  r = adm({"list-hg"});
  REQUIRE_OK(r);
  CHECK(r.out == "Host Group: hg1\n");
  r = adm({"list-hg", "-v"});
  REQUIRE_OK(r);
  CHECK(r.out == "Host Group: hg1\n        Member: " + a + "\n        Member: " + b + "\n");

  json j = adm.js({"list-hg"});
  REQUIRE(j["groups"].size() == 1);
  CHECK(j["groups"][0]["name"] == "hg1");
  CHECK(j["groups"][0]["members"] == json::array({a, b}));

  // A device id belongs to one host group at most.
  REQUIRE_OK(adm({"create-hg", "hg2"}));
  r = adm({"add-hg-member", "-g", "hg2", a});
  REQUIRE_FAIL(r, "STMF_ERROR_EXISTS");
  r = adm({"add-hg-member", "-g", "nosuch", "iqn.2026-01.test:x"});
  REQUIRE_FAIL(r, "STMF_ERROR_GROUP_NOT_FOUND");
  r = adm({"add-hg-member", "-g", "hg2", "not-a-device-id"});
  REQUIRE_FAIL(r, "STMF_ERROR_INVALID_ARG");

  // Several operands: the good ones are applied, each failure is one line, exit status 1.
  r = adm({"add-hg-member", "-g", "hg2", "iqn.2026-01.test:new", "iqn.2026-01.test:new"});
  REQUIRE_FAIL(r, "STMF_ERROR_EXISTS");
  r = adm({"list-hg", "-v", "hg2"});
  REQUIRE_OK(r);
  CHECK(r.out == "Host Group: hg2\n        Member: iqn.2026-01.test:new\n");

  r = adm({"remove-hg-member", "-g", "hg1", "iqn.1993-08.org.debian:01:ccc"});
  REQUIRE_FAIL(r, "STMF_ERROR_MEMBER_NOT_FOUND");
  r = adm({"remove-hg-member", "-g", "nosuch", a});
  REQUIRE_FAIL(r, "STMF_ERROR_GROUP_NOT_FOUND");
  REQUIRE_OK(adm({"remove-hg-member", "-g", "hg1", b}));
  r = adm({"list-hg", "-v", "hg1"});
  REQUIRE_OK(r);
  CHECK(r.out == "Host Group: hg1\n        Member: " + a + "\n");

  r = adm({"list-hg", "nosuch"});
  REQUIRE_FAIL(r, "STMF_ERROR_GROUP_NOT_FOUND");

  // In use by a view entry: cannot be deleted.
  std::string g = create_lu(adm, d.dir() + "/hg.img");
  REQUIRE_OK(adm({"add-view", "-h", "hg1", "-n", "3", g}));
  r = adm({"delete-hg", "hg1"});
  REQUIRE_FAIL(r, "STMF_ERROR_GROUP_IN_USE");
  CHECK(adm({"list-hg", "hg1"}).status == 0);
  json views = adm.js({"list-view", "-l", g})["views"];
  json hgview = find_by(views, "host_group", "hg1");
  REQUIRE(hgview.is_object());
  REQUIRE_OK(adm({"remove-view", "-l", g, std::to_string(hgview["index"].get<int>())}));
  r = adm({"delete-hg", "hg1"});
  REQUIRE_OK(r);
  r = adm({"delete-hg", "hg1"});
  REQUIRE_FAIL(r, "STMF_ERROR_GROUP_NOT_FOUND");
  CHECK(adm({"list-hg"}).out == "Host Group: hg2\n");
}

TEST_CASE("stmfadm target groups", "[stmfadm]") {
  Daemon d;
  Adm adm{d};
  // The configuration's shorthand made a target group named after the target, holding it.
  auto r = adm({"list-tg", "-v"});
  REQUIRE_OK(r);
  CHECK(r.out == "Target Group: " + kTargetIqn + "\n        Member: " + kTargetIqn + "\n");

  REQUIRE_OK(adm({"create-tg", "tg1"}));
  r = adm({"create-tg", "tg1"});
  REQUIRE_FAIL(r, "STMF_ERROR_EXISTS");
  r = adm({"add-tg-member", "-g", "tg1", kTargetIqn});  // already in the other group
  REQUIRE_FAIL(r, "STMF_ERROR_EXISTS");
  REQUIRE_OK(adm({"add-tg-member", "-g", "tg1", "iqn.2026-11.org.example:other"}));
  r = adm({"list-tg", "-v", "tg1"});
  REQUIRE_OK(r);
  CHECK(r.out == "Target Group: tg1\n        Member: iqn.2026-11.org.example:other\n");
  json j = adm.js({"list-tg"});
  CHECK(j["groups"].size() == 2);
  CHECK(find_by(j["groups"], "name", "tg1")["members"] == json::array({"iqn.2026-11.org.example:other"}));

  r = adm({"remove-tg-member", "-g", "tg1", "iqn.2026-11.org.example:nobody"});
  REQUIRE_FAIL(r, "STMF_ERROR_MEMBER_NOT_FOUND");
  REQUIRE_OK(adm({"remove-tg-member", "-g", "tg1", "iqn.2026-11.org.example:other"}));
  r = adm({"add-tg-member", "-g", "nosuch", "iqn.2026-11.org.example:other"});
  REQUIRE_FAIL(r, "STMF_ERROR_GROUP_NOT_FOUND");

  // The shorthand group is used by LUN 0's view entry.
  r = adm({"delete-tg", kTargetIqn});
  REQUIRE_FAIL(r, "STMF_ERROR_GROUP_IN_USE");
  REQUIRE_OK(adm({"delete-tg", "tg1"}));
  r = adm({"delete-tg", "tg1"});
  REQUIRE_FAIL(r, "STMF_ERROR_GROUP_NOT_FOUND");
  r = adm({"list-tg", "tg1"});
  REQUIRE_FAIL(r, "STMF_ERROR_GROUP_NOT_FOUND");
}

TEST_CASE("stmfadm logical units", "[stmfadm]") {
  Daemon d;
  Adm adm{d};
  const std::string file = d.dir() + "/new.img";
  std::string g = create_lu(adm, file,
                            {"-p", "alias=db", "-p", "vid=ACME", "-p", "pid=Widget", "-p", "serial=S123", "-p",
                             "wcd=true", "-p", "blk=4096", "-p", "mgmt-url=http://example.com/lu", "-s", "64m"});
  CHECK(std::filesystem::file_size(file) == 64u << 20);

  auto r = adm({"list-lu"});
  REQUIRE_OK(r);
  CHECK(r.out_lines().size() == 2);
  CHECK(has_line(r.out, "LU Name: " + g));

  r = adm({"list-lu", "-v", g});
  REQUIRE_OK(r);
  CHECK(r.out_lines().at(0) == "LU Name: " + g);
  for (std::string line : {"    Operational Status: Online", "    Provider Name     : sbd", "    Alias             : db",
                           "    View Entry Count  : 0", "    Size              : 67108864",
                           "    Block Size        : 4096", "    Management URL    : http://example.com/lu",
                           "    Vendor ID         : ACME", "    Product ID        : Widget",
                           "    Serial Num        : S123", "    Write Protect     : Disabled",
                           "    Writeback Cache   : Disabled", "    Access State      : Active"})
    CHECK(has_line(r.out, line));
  CHECK(has_line(r.out, "    Data File         : " + file));

  // Lower-case GUIDs are accepted.
  std::string lower = g;
  for (auto& c : lower) c = char(std::tolower(c));
  CHECK(adm({"list-lu", lower}).out == "LU Name: " + g + "\n");

  json j = adm.js({"list-lu", "-v", g});
  REQUIRE(j["lus"].size() == 1);
  json lu = j["lus"][0];
  CHECK(lu["guid"] == g);
  CHECK(lu["name"] == "db");
  CHECK(lu["size"] == 64u << 20);
  CHECK(lu["block_size"] == 4096);
  CHECK(lu["write_cache"] == false);
  CHECK(lu["write_protect"] == false);
  CHECK(lu["backing"] == file);
  CHECK(lu["state"] == "online");
  j = adm.js({"list-lu"});
  CHECK(j["lus"].size() == 2);
  CHECK(std::find(j["lus"].begin(), j["lus"].end(), json(g)) != j["lus"].end());

  // Creation errors.
  r = adm({"create-lu", file});
  REQUIRE_FAIL(r, "STMF_ERROR_FILE_IN_USE");
  r = adm({"create-lu", "-p", "guid=" + g, "-s", "1m", d.dir() + "/other.img"});
  REQUIRE_FAIL(r, "STMF_ERROR_GUID_IN_USE");
  r = adm({"create-lu", "-p", "blk=1000", "-s", "1m", d.dir() + "/other.img"});
  REQUIRE_FAIL(r, "STMF_ERROR_INVALID_BLKSIZE");
  r = adm({"create-lu", "-s", "1m", "/nonexistent-dir/x.img"});
  REQUIRE_FAIL(r, "STMF_ERROR_DATA_FILE_NAME");
  REQUIRE_USAGE(adm({"create-lu", "-p", "bogus=1", d.dir() + "/other.img"}));
  REQUIRE_USAGE(adm({"create-lu", "-p", "wcd=maybe", d.dir() + "/other.img"}));
  REQUIRE_USAGE(adm({"create-lu", "-p", "alias", d.dir() + "/other.img"}));
  REQUIRE_USAGE(adm({"create-lu", "-s", "12q", d.dir() + "/other.img"}));
  REQUIRE_USAGE(adm({"create-lu", "-p", "guid=xyz", d.dir() + "/other.img"}));
  REQUIRE_USAGE(adm({"create-lu"}));
  CHECK(adm.js({"list-lu"})["lus"].size() == 2);  // nothing was created by the failures

  // A relative file name is made absolute; oui derives a GUID with that company id.
  {
    StmfadmOptions o;
    o.socket = d.socket_path();
    std::string cwd = std::filesystem::current_path();
    std::filesystem::current_path(d.dir());
    auto rr = run_stmfadm({"create-lu", "-p", "oui=123456", "-s", "1m", "rel.img"}, o);
    std::filesystem::current_path(cwd);
    REQUIRE_OK(rr);
    std::smatch m;
    REQUIRE(std::regex_search(rr.out, m, std::regex("created: (6123456[0-9A-F]{25})")));
    json relu = adm.js({"list-lu", "-v", m[1]})["lus"][0];
    CHECK(relu["backing"] == d.dir() + "/rel.img");
    REQUIRE_OK(adm({"delete-lu", m[1]}));
  }

  // modify-lu
  r = adm({"modify-lu", "-p", "alias=db2", "-p", "wp=true", "-p", "wcd=false", "-s", "128m", g});
  REQUIRE_OK(r);
  CHECK(r.out.empty());
  r = adm({"list-lu", "-v", g});
  CHECK(has_line(r.out, "    Alias             : db2"));
  CHECK(has_line(r.out, "    Write Protect     : Enabled"));
  CHECK(has_line(r.out, "    Writeback Cache   : Enabled"));
  CHECK(has_line(r.out, "    Size              : 134217728"));
  CHECK(std::filesystem::file_size(file) == 128u << 20);
  r = adm({"modify-lu", "-s", "32m", g});
  REQUIRE_FAIL(r, "STMF_ERROR_SIZE_OUT_OF_RANGE");
  REQUIRE_OK(adm({"modify-lu", "-f", "-p", "alias=viafile", file}));
  CHECK(adm.js({"list-lu", "-v", g})["lus"][0]["name"] == "viafile");
  r = adm({"modify-lu", "-p", "alias=x", kUnknownGuid});
  REQUIRE_FAIL(r, "STMF_ERROR_NOT_FOUND");
  REQUIRE_USAGE(adm({"modify-lu", "-p", "blk=512", g}));
  REQUIRE_USAGE(adm({"modify-lu", g}));
  // Not a GUID: an LU name, and no LU has it.
  REQUIRE_FAIL(adm({"modify-lu", "-p", "alias=x", "0123"}), "STMF_ERROR_NOT_FOUND");
  REQUIRE_USAGE(adm({"modify-lu", "-p", "alias=x", "600144F0A1B2C3D4E5F60718293A4B"}));  // 30 hex digits

  // online-lu / offline-lu
  REQUIRE_OK(adm({"offline-lu", g}));
  CHECK(has_line(adm({"list-lu", "-v", g}).out, "    Operational Status: Offline"));
  REQUIRE_OK(adm({"offline-lu", g}));  // already offline: success
  REQUIRE_OK(adm({"online-lu", g}));
  CHECK(has_line(adm({"list-lu", "-v", g}).out, "    Operational Status: Online"));
  r = adm({"online-lu", kUnknownGuid});
  REQUIRE_FAIL(r, "STMF_ERROR_NOT_FOUND");
  r = adm({"offline-lu", kUnknownGuid});
  REQUIRE_FAIL(r, "STMF_ERROR_NOT_FOUND");

  // delete-lu, then import-lu brings it back from the file's metadata.
  REQUIRE_OK(adm({"add-view", "-n", "9", g}));
  r = adm({"delete-lu", "-k", g});
  REQUIRE_OK(r);
  CHECK_FALSE(has_line(adm({"list-lu"}).out, "LU Name: " + g));
  json views = adm.js({"list-view", "-l", g})["views"];  // kept
  REQUIRE(views.size() == 1);
  CHECK(views[0]["lun"] == 9);
  r = adm({"list-lu", g});
  REQUIRE_FAIL(r, "STMF_ERROR_NOT_FOUND");
  r = adm({"delete-lu", g});
  REQUIRE_FAIL(r, "STMF_ERROR_NOT_FOUND");

  r = adm({"import-lu", file});
  REQUIRE_OK(r);
  CHECK(r.out == "Logical unit imported: " + g + "\n");
  lu = adm.js({"list-lu", "-v", g})["lus"][0];
  CHECK(lu["size"] == 128u << 20);
  CHECK(lu["block_size"] == 4096);
  CHECK(lu["vendor"] == "ACME");
  CHECK(lu["name"] == "viafile");  // modify-lu updated the metadata too
  CHECK(lu["view_entries"] == 1);  // the kept view entry applies again
  r = adm({"import-lu", file});
  INFO(r.err);
  CHECK(r.status == 1);
  CHECK(r.err.find("STMF_ERROR_FILE_IN_USE") != std::string::npos);
  r = adm({"import-lu", d.dir() + "/nonexistent.img"});
  REQUIRE_FAIL(r, "STMF_ERROR_DATA_FILE_NAME");
  write_file(d.dir() + "/plain.img", std::string(4096, '\0'));
  r = adm({"import-lu", d.dir() + "/plain.img"});
  REQUIRE_FAIL(r, "STMF_ERROR_META_FILE_NAME");

  // delete-lu without -k drops the views; several operands continue past a failure.
  r = adm({"delete-lu", g, kUnknownGuid});
  REQUIRE_FAIL(r, "STMF_ERROR_NOT_FOUND");
  CHECK_THAT(r.err, Catch::Contains(kUnknownGuid));
  CHECK(adm.js({"list-lu"})["lus"].size() == 1);
  r = adm({"list-view", "-l", g});
  CHECK((r.status == 1 || r.out.empty()));  // no entries left (unknown LU: NOT_FOUND)
  REQUIRE_FAIL(adm({"delete-lu", "nothex"}), "STMF_ERROR_NOT_FOUND");  // an LU name nobody has
  REQUIRE_USAGE(adm({"delete-lu"}));
}

TEST_CASE("stmfadm view entries", "[stmfadm]") {
  Daemon d;
  Adm adm{d};
  std::string g0 = first_guid(adm);
  auto r = adm({"list-view", "-l", g0});
  REQUIRE_OK(r);
  CHECK(r.out == "View Entry: 0\n    Host group   : All\n    Target group : " + kTargetIqn +
                     "\n    LUN          : 0\n");

  std::string g1 = create_lu(adm, d.dir() + "/g1.img");
  std::string g2 = create_lu(adm, d.dir() + "/g2.img");

  // All hosts/all targets overlaps LUN 0's entry: the lowest free LUN is 1.
  json added = adm.js({"add-view", g1});
  CHECK(added["index"] == 0);
  CHECK(added["lun"] == 1);
  r = adm({"add-view", g1});
  REQUIRE_FAIL(r, "STMF_ERROR_VE_CONFLICT");
  r = adm({"add-view", "-n", "0", g2});
  REQUIRE_FAIL(r, "STMF_ERROR_LUN_IN_USE");
  r = adm({"add-view", "-n", "1", g2});
  REQUIRE_FAIL(r, "STMF_ERROR_LUN_IN_USE");
  r = adm({"add-view", "-h", "nosuch", g2});
  REQUIRE_FAIL(r, "STMF_ERROR_INVALID_HG");
  r = adm({"add-view", "-t", "nosuch", g2});
  REQUIRE_FAIL(r, "STMF_ERROR_INVALID_TG");
  REQUIRE_USAGE(adm({"add-view", "-n", "16384", g2}));
  REQUIRE_USAGE(adm({"add-view", "-n", "abc", g2}));
  REQUIRE_USAGE(adm({"add-view"}));
  REQUIRE_FAIL(adm({"add-view", "xyz"}), "STMF_ERROR_NOT_FOUND");

  REQUIRE_OK(adm({"create-hg", "hgA"}));
  r = adm({"add-view", "-h", "hgA", "-n", "5", g2});
  REQUIRE_OK(r);
  CHECK(r.out.empty());
  r = adm({"add-view", "-h", "hgA", "-t", kTargetIqn, "-n", "6", g2});  // overlaps g2's own entry
  REQUIRE_FAIL(r, "STMF_ERROR_VE_CONFLICT");
  r = adm({"list-view", "-l", g2});
  REQUIRE_OK(r);
  CHECK(r.out == "View Entry: 0\n    Host group   : hgA\n    Target group : All\n    LUN          : 5\n");
  json v = adm.js({"list-view", "-l", g2});
  REQUIRE(v["views"].size() == 1);
  CHECK(v["views"][0]["host_group"] == "hgA");
  CHECK(v["views"][0]["target_group"].is_null());
  CHECK(v["views"][0]["lun"] == 5);
  CHECK(v["views"][0]["guid"] == g2);
  CHECK(adm.js({"list-lu", "-v", g2})["lus"][0]["view_entries"] == 1);

  CHECK(adm({"list-view", "-l", g2, "0"}).out_lines().size() == 4);
  r = adm({"list-view", "-l", g2, "9"});
  REQUIRE_FAIL(r, "STMF_ERROR_NOT_FOUND");
  REQUIRE_USAGE(adm({"list-view"}));
  REQUIRE_FAIL(adm({"list-view", "-l", "123"}), "STMF_ERROR_NOT_FOUND");
  r = adm({"list-view", "-l", kUnknownGuid});
  REQUIRE_FAIL(r, "STMF_ERROR_NOT_FOUND");

  REQUIRE_USAGE(adm({"remove-view", "-l", g2}));
  REQUIRE_USAGE(adm({"remove-view", "-l", g2, "-a", "0"}));
  REQUIRE_USAGE(adm({"remove-view", "0"}));
  r = adm({"remove-view", "-l", g1, "3"});
  REQUIRE_FAIL(r, "STMF_ERROR_NOT_FOUND");
  REQUIRE_OK(adm({"remove-view", "-l", g1, "0"}));
  r = adm({"list-view", "-l", g1});
  REQUIRE_OK(r);
  CHECK(r.out.empty());
  REQUIRE_OK(adm({"remove-view", "-l", g2, "-a"}));
  CHECK(adm.js({"list-view", "-l", g2})["views"].empty());
  // LUN 1 is free again.
  CHECK(adm.js({"add-view", "-n", "1", g2})["lun"] == 1);
}

TEST_CASE("stmfadm targets: list, online/offline, create/modify/delete", "[stmfadm]") {
  Daemon d;
  Adm adm{d};
  auto r = adm({"list-target"});
  REQUIRE_OK(r);
  CHECK(r.out == "Target: " + kTargetIqn + "\n");
  r = adm({"list-target", "-v"});
  REQUIRE_OK(r);
  for (std::string line : {"    Operational Status: Online", "    Provider Name     : iscsit",
                           "    Alias             : -", "    Protocol          : iSCSI", "    Sessions          : 0"})
    CHECK(has_line(r.out, line));

  r = adm({"offline-target", kTargetIqn});
  REQUIRE_OK(r);
  CHECK(has_line(adm({"list-target", "-v"}).out, "    Operational Status: Offline"));
  REQUIRE_OK(adm({"online-target", kTargetIqn}));
  CHECK(wait_target_state(adm, "online"));
  r = adm({"offline-target", "iqn.2026-11.org.example:nosuch"});
  REQUIRE_FAIL(r, "STMF_ERROR_NOT_FOUND");
  r = adm({"online-target", "iqn.2026-11.org.example:nosuch"});
  REQUIRE_FAIL(r, "STMF_ERROR_NOT_FOUND");
  r = adm({"list-target", "iqn.2026-11.org.example:nosuch"});
  REQUIRE_FAIL(r, "STMF_ERROR_NOT_FOUND");

  // create-target with CHAP; the secret never comes back.
  const std::string t2 = "iqn.2026-11.org.example:t2", secret = "0123456789abc";
  write_file(d.dir() + "/secret", secret + "\n");
  r = adm({"create-target", "-n", t2, "-a", "second", "-t", "2", "--chap-user", "alice", "--chap-secret-file",
           d.dir() + "/secret", "--initiator", kInitiator});
  REQUIRE_OK(r);
  CHECK(r.out == "Target " + t2 + " successfully created\n");
  r = adm({"list-target", "-v", t2});
  REQUIRE_OK(r);
  CHECK(r.out_lines().at(0) == "Target: " + t2);
  CHECK(has_line(r.out, "    Alias             : second"));
  CHECK(has_line(r.out, "    TPGT              : 2"));
  CHECK(has_line(r.out, "    Authentication    : CHAP (user alice)"));
  CHECK(has_line(r.out, "    Initiators        : " + kInitiator));
  json t = find_by(adm.js({"list-target"})["targets"], "name", t2);
  REQUIRE(t.is_object());
  CHECK(t["alias"] == "second");
  CHECK(t["tpgt"] == 2);
  CHECK(t["chap"]["user"] == "alice");
  CHECK(t["initiators"] == json::array({kInitiator}));
  CHECK(adm({"--json", "list-target", "-v"}).out.find(secret) == std::string::npos);

  r = adm({"create-target", "-n", t2});
  REQUIRE_FAIL(r, "STMF_ERROR_EXISTS");
  REQUIRE_USAGE(adm({"create-target", "--chap-user", "bob"}));  // no secret
  REQUIRE_USAGE(adm({"create-target", "--mutual-user", "bob"}));
  REQUIRE_USAGE(adm({"create-target", "-t", "0"}));
  r = adm({"create-target", "--chap-user", "bob"}, StmfadmOptions{"", false, {{"STMFADM_CHAP_SECRET", "short"}}, ""});
  REQUIRE_FAIL(r, "STMF_ERROR_INVALID_ARG");  // 12-16 characters

  // Generated name, secret from the environment, mutual CHAP.
  write_file(d.dir() + "/msecret", "mutual-secret-1\n");
  r = adm({"create-target", "--chap-user", "carol", "--mutual-user", "tgt", "--mutual-secret-file",
           d.dir() + "/msecret"},
          StmfadmOptions{"", false, {{"STMFADM_CHAP_SECRET", "abcdefghijklmn"}}, ""});
  REQUIRE_OK(r);
  std::smatch m;
  REQUIRE(std::regex_match(r.out, m, std::regex("^Target (iqn\\.[^ ]+) successfully created\n$")));
  std::string t3 = m[1];
  t = find_by(adm.js({"list-target"})["targets"], "name", t3);
  REQUIRE(t.is_object());
  CHECK(t["chap"]["user"] == "carol");
  CHECK(t["chap"]["mutual_user"] == "tgt");

  // modify-target
  REQUIRE_OK(adm({"modify-target", "--no-chap", "-a", "renamed", t2}));
  t = find_by(adm.js({"list-target"})["targets"], "name", t2);
  CHECK(t["alias"] == "renamed");
  CHECK(t["chap"].is_null());
  CHECK(has_line(adm({"list-target", "-v", t2}).out, "    Authentication    : none"));
  REQUIRE_OK(adm({"modify-target", "--any-initiator", t2}));
  CHECK(find_by(adm.js({"list-target"})["targets"], "name", t2)["initiators"].empty());
  REQUIRE_OK(adm({"modify-target", "--initiator", "iqn.2026-11.org.example:a", "--initiator",
                  "iqn.2026-11.org.example:b", t2}));
  CHECK(find_by(adm.js({"list-target"})["targets"], "name", t2)["initiators"] ==
        json::array({"iqn.2026-11.org.example:a", "iqn.2026-11.org.example:b"}));
  REQUIRE_OK(adm({"modify-target", "--chap-user", "dave", "--chap-secret-file", d.dir() + "/secret", t2}));
  CHECK(find_by(adm.js({"list-target"})["targets"], "name", t2)["chap"]["user"] == "dave");
  r = adm({"modify-target", "-a", "x", "iqn.2026-11.org.example:nosuch"});
  REQUIRE_FAIL(r, "STMF_ERROR_NOT_FOUND");
  REQUIRE_USAGE(adm({"modify-target", t2}));
  REQUIRE_USAGE(adm({"modify-target", "--no-chap", "--chap-user", "x", "--chap-secret-file", d.dir() + "/secret", t2}));

  // delete-target
  REQUIRE_OK(adm({"delete-target", t2}));
  REQUIRE_OK(adm({"delete-target", t3}));
  r = adm({"delete-target", t2});
  REQUIRE_FAIL(r, "STMF_ERROR_NOT_FOUND");
  CHECK(adm({"list-target"}).out == "Target: " + kTargetIqn + "\n");
}

TEST_CASE("stmfadm list-target -v shows a logged-in session", "[stmfadm]") {
  Daemon d;
  Adm adm{d};
  std::unique_ptr<iscsi_context, void (*)(iscsi_context*)> ctx(iscsi_create_context(kInitiator.c_str()),
                                                              [](iscsi_context* c) { iscsi_destroy_context(c); });
  iscsi_context* ic = ctx.get();
  REQUIRE(ic);
  iscsi_set_targetname(ic, kTargetIqn.c_str());
  iscsi_set_session_type(ic, ISCSI_SESSION_NORMAL);
  iscsi_set_alias(ic, "stmfadm-test-host");
  iscsi_set_timeout(ic, 10);
  int rc = iscsi_full_connect_sync(ic, d.portal().c_str(), 0);
  INFO("login: " << iscsi_get_error(ic));
  REQUIRE(rc == 0);
  auto r = adm({"list-target", "-v", kTargetIqn});
  REQUIRE_OK(r);
  CHECK(has_line(r.out, "    Sessions          : 1"));
  CHECK(has_line(r.out, "        Initiator: " + kInitiator));
  CHECK(has_line(r.out, "            Alias: stmfadm-test-host"));
  CHECK_THAT(r.out, Catch::Contains("            Logged in since: "));
  json j = adm.js({"list-target", "-v"});
  REQUIRE(j["targets"].size() == 1);
  CHECK(j["targets"][0]["sessions"] == 1);
  REQUIRE(j["targets"][0]["session_list"].size() == 1);
  json s = j["targets"][0]["session_list"][0];
  CHECK(s["initiator"] == kInitiator);
  CHECK(s["creation_time"].is_number());
  CHECK(std::abs(s["creation_time"].get<double>() - double(std::time(nullptr))) < 120);
  iscsi_logout_sync(ic);
  // After logout the session is gone.
  for (int i = 0; i < 100 && !has_line(adm({"list-target", "-v"}).out, "    Sessions          : 0"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(has_line(adm({"list-target", "-v"}).out, "    Sessions          : 0"));
}

TEST_CASE("stmfadm portals", "[stmfadm]") {
  Daemon d;
  Adm adm{d};
  auto r = adm({"list-portal"});
  REQUIRE_OK(r);
  CHECK(r.out == "Portal: " + d.portal() + "\n");
  json j = adm.js({"list-portal"});
  REQUIRE(j["portals"].size() == 1);
  CHECK(j["portals"][0]["host"] == "127.0.0.1");
  CHECK(j["portals"][0]["port"] == d.port());

  uint16_t p = stmf::test::free_port();
  std::string portal = "127.0.0.1:" + std::to_string(p);
  REQUIRE_OK(adm({"create-portal", portal}));
  r = adm({"list-portal"});
  CHECK(has_line(r.out, "Portal: " + portal));
  CHECK(r.out_lines().size() == 2);
  {  // it listens
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(p);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    ::close(s);
  }
  r = adm({"create-portal", portal});
  REQUIRE_FAIL(r, "STMF_ERROR_EXISTS");
  {  // an address someone else holds: BUSY
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(s, 1) == 0);
    socklen_t len = sizeof a;
    ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    r = adm({"create-portal", "127.0.0.1:" + std::to_string(ntohs(a.sin_port))});
    REQUIRE_FAIL(r, "STMF_ERROR_BUSY");
    ::close(s);
  }
  REQUIRE_OK(adm({"delete-portal", portal}));
  r = adm({"delete-portal", portal});
  REQUIRE_FAIL(r, "STMF_ERROR_NOT_FOUND");
  CHECK(adm({"list-portal"}).out == "Portal: " + d.portal() + "\n");
  REQUIRE_USAGE(adm({"create-portal", "127.0.0.1:abc"}));
  REQUIRE_USAGE(adm({"create-portal", "127.0.0.1:70000"}));
  REQUIRE_USAGE(adm({"create-portal", "127.0.0.1:"}));
  REQUIRE_USAGE(adm({"delete-portal"}));
}

TEST_CASE("stmfadm export and import", "[stmfadm]") {
  Daemon d;
  Adm adm{d};
  auto r = adm({"export"});
  REQUIRE_OK(r);
  json cfg = json::parse(r.out, nullptr, false);
  REQUIRE(cfg.is_object());
  REQUIRE(cfg["lus"].is_array());
  CHECK(cfg["lus"].size() == 1);
  REQUIRE(cfg["targets"].is_array());
  CHECK(cfg["targets"][0]["iqn"] == kTargetIqn);
  CHECK(cfg["portals"].is_array());
  CHECK(adm.js({"export"}) == cfg);  // --json: the same object

  const std::string f = d.dir() + "/export.json";
  r = adm({"export", "-o", f});
  REQUIRE_OK(r);
  CHECK(r.out.empty());
  struct stat st {};
  REQUIRE(::stat(f.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(json::parse(read_file(f)) == cfg);
  // An existing, world-readable file is made private before the secrets go in.
  ::chmod(f.c_str(), 0644);
  REQUIRE_OK(adm({"export", "-o", f}));
  REQUIRE(::stat(f.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  // The same configuration: no changes.
  r = adm({"import", "--dry-run", f});
  REQUIRE_OK(r);
  CHECK(r.out.empty());
  json ch = adm.js({"import", "--dry-run", f});
  CHECK(ch["changes"] == json::array());
  r = adm({"import", f});
  REQUIRE_OK(r);
  CHECK(r.out.empty());

  // One more host group: one change; the dry run changes nothing.
  json cfg2 = cfg;
  if (!cfg2.contains("host_groups")) cfg2["host_groups"] = json::array();
  cfg2["host_groups"].push_back({{"name", "imported"}, {"members", {"iqn.2026-11.org.example:imp"}}});
  const std::string f2 = d.dir() + "/modified.json";
  write_file(f2, cfg2.dump(2));
  r = adm({"import", "--dry-run", f2});
  REQUIRE_OK(r);
  REQUIRE(r.out_lines().size() == 1);
  CHECK(r.out_lines()[0].rfind("+ ", 0) == 0);
  CHECK_THAT(r.out, Catch::Contains("imported"));
  CHECK(adm({"list-hg"}).out.empty());
  r = adm({"import", "--dry-run", "-"}, StmfadmOptions{"", false, {}, cfg2.dump()});  // from stdin
  REQUIRE_OK(r);
  CHECK(r.out_lines().size() == 1);
  r = adm({"import", f2});
  REQUIRE_OK(r);
  CHECK(r.out_lines().size() == 1);
  CHECK(adm({"list-hg", "-v"}).out == "Host Group: imported\n        Member: iqn.2026-11.org.example:imp\n");
  CHECK(adm({"import", "--dry-run", f2}).out.empty());
  // Back to the original: the group goes away.
  r = adm({"import", "--dry-run", f});
  REQUIRE_OK(r);
  REQUIRE(r.out_lines().size() == 1);
  CHECK(r.out_lines()[0].rfind("- ", 0) == 0);

  // Bad files.
  write_file(d.dir() + "/bad.json", "{not json");
  r = adm({"import", d.dir() + "/bad.json"});
  INFO(r.err);
  CHECK(r.status == 1);
  CHECK(r.err_lines().size() == 1);
  CHECK(r.err.rfind("stmfadm: ", 0) == 0);
  write_file(d.dir() + "/huge.json", R"({"portals": [], "threads": 1e999})");  // a number JSON cannot hold
  r = adm({"import", d.dir() + "/huge.json"});
  INFO(r.err);
  CHECK(r.status == 1);
  CHECK(r.err_lines().size() == 1);
  CHECK_THAT(r.err, Catch::Contains("not valid JSON"));
  write_file(d.dir() + "/invalid.json", R"({"portals": 5, "targets": []})");
  r = adm({"import", "--dry-run", d.dir() + "/invalid.json"});
  REQUIRE_FAIL(r, "STMF_ERROR_INVALID_ARG");
  CHECK_THAT(r.err, Catch::Contains("portals"));
  r = adm({"import", d.dir() + "/nonexistent.json"});
  CHECK(r.status == 1);
  CHECK(r.err_lines().size() == 1);
  REQUIRE_USAGE(adm({"import"}));
  REQUIRE_USAGE(adm({"export", "extra"}));
}

TEST_CASE("stmfadm --json results", "[stmfadm]") {
  Daemon d;
  Adm adm{d};
  auto r = adm({"--json", "create-hg", "j1"});
  REQUIRE_OK(r);
  CHECK(json::parse(r.out) == json::object());
  r = adm({"create-tg", "j2", "--json"});  // global option after the subcommand
  REQUIRE_OK(r);
  CHECK(json::parse(r.out) == json::object());
  json lu = adm.js({"create-lu", "-s", "1m", d.dir() + "/j.img"});
  REQUIRE(lu["guid"].is_string());
  CHECK(std::regex_match(lu["guid"].get<std::string>(), std::regex("[0-9A-F]{32}")));
  json t = adm.js({"create-target", "-n", "iqn.2026-11.org.example:json"});
  CHECK(t["name"] == "iqn.2026-11.org.example:json");
  json g = adm.js({"list-hg"});
  CHECK(g["groups"][0]["name"] == "j1");
  CHECK(g["groups"][0]["members"] == json::array());
  // Several operands: one JSON line per operation.
  r = adm({"--json", "add-hg-member", "-g", "j1", "iqn.2026-11.org.example:m1", "iqn.2026-11.org.example:m2"});
  REQUIRE_OK(r);
  REQUIRE(r.out_lines().size() == 2);
  for (auto& l : r.out_lines()) CHECK(json::parse(l) == json::object());
}

TEST_CASE("stmfadm usage errors exit 2", "[stmfadm]") {
  Daemon d;
  Adm adm{d};
  auto none = adm({});  // no argument: the usage list, on stderr
  REQUIRE_USAGE(none);
  CHECK_THAT(none.err, Catch::Contains("create-lu"));
  CHECK_THAT(none.err, Catch::Contains("list-alua-state"));
  REQUIRE_USAGE(adm({"no-such-subcommand"}));
  REQUIRE_USAGE(adm({"create-hg"}));
  REQUIRE_USAGE(adm({"create-hg", "a", "b"}));
  REQUIRE_USAGE(adm({"list-hg", "--bogus"}));
  REQUIRE_USAGE(adm({"add-hg-member", "iqn.2026-11.org.example:x"}));  // no -g
  REQUIRE_USAGE(adm({"add-hg-member", "-g", "a"}));                    // no member
  REQUIRE_USAGE(adm({"online-lu"}));
  REQUIRE_USAGE(adm({"list-state", "extra"}));
  CHECK(adm({"list-hg"}).out.empty());  // nothing was created
  auto r = adm({"--help"});
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("create-lu"));
  CHECK_THAT(r.out, Catch::Contains("list-view"));
  r = adm({"create-lu", "--help"});
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("--lu-prop"));
}

TEST_CASE("stmfadm without a daemon, --socket, persistence across restart", "[stmfadm]") {
  Daemon d;
  Adm adm{d};
  StmfadmOptions nowhere;
  nowhere.socket = d.dir() + "/no-such.sock";
  auto r = run_stmfadm({"list-state"}, nowhere);
  REQUIRE_FAIL(r, "STMF_ERROR_SERVICE_NOT_FOUND");
  CHECK_THAT(r.err, Catch::Contains("not running"));
  CHECK_THAT(r.err, Catch::Contains(nowhere.socket));
  r = run_stmfadm({"delete-lu", kUnknownGuid, kUnknownGuid}, nowhere);  // one line, not one per operand
  REQUIRE_FAIL(r, "STMF_ERROR_SERVICE_NOT_FOUND");

  // --socket wins over $STMFD_SOCKET.
  r = run_stmfadm({"--socket", d.socket_path(), "list-state"}, nowhere);
  REQUIRE_OK(r);
  r = run_stmfadm({"list-target", "--socket", d.socket_path()}, nowhere);
  REQUIRE_OK(r);
  CHECK(r.out == "Target: " + kTargetIqn + "\n");

  REQUIRE_OK(adm({"create-hg", "persist"}));
  REQUIRE_OK(adm({"add-hg-member", "-g", "persist", "iqn.2026-11.org.example:p"}));
  d.kill9();
  r = adm({"list-hg"});
  REQUIRE_FAIL(r, "STMF_ERROR_SERVICE_NOT_FOUND");
  d.restart();
  r = adm({"list-hg", "-v"});
  REQUIRE_OK(r);
  CHECK(r.out == "Host Group: persist\n        Member: iqn.2026-11.org.example:p\n");
}

TEST_CASE("stmfadm as an unprivileged user: reads work, changes get STMF_ERROR_PERM", "[stmfadm]") {
  require_second_uid();
  Daemon d;
  Adm adm{d};
  REQUIRE_OK(adm({"create-hg", "existing"}));
  StmfadmOptions nobody;
  nobody.socket = d.socket_path();
  nobody.unprivileged = true;

  auto r = run_stmfadm({"list-hg"}, nobody);
  REQUIRE_OK(r);
  CHECK(r.out == "Host Group: existing\n");
  REQUIRE_OK(run_stmfadm({"list-state"}, nobody));
  REQUIRE_OK(run_stmfadm({"list-lu", "-v"}, nobody));
  REQUIRE_OK(run_stmfadm({"list-target", "-v"}, nobody));

  r = run_stmfadm({"create-hg", "x"}, nobody);
  REQUIRE_FAIL(r, "STMF_ERROR_PERM");
  r = run_stmfadm({"delete-hg", "existing"}, nobody);
  REQUIRE_FAIL(r, "STMF_ERROR_PERM");
  r = run_stmfadm({"offline-target", kTargetIqn}, nobody);
  REQUIRE_FAIL(r, "STMF_ERROR_PERM");
  r = run_stmfadm({"offline-service"}, nobody);
  REQUIRE_FAIL(r, "STMF_ERROR_PERM");
  CHECK(adm({"list-hg"}).out == "Host Group: existing\n");  // nothing changed
  CHECK(has_line(adm({"list-state"}).out, "Operational Status: online"));

  // import: the dry run is a read, applying is a change.
  const std::string f = d.dir() + "/cfg.json";
  REQUIRE_OK(adm({"export", "-o", f}));
  ::chmod(f.c_str(), 0644);
  json cfg = json::parse(read_file(f));
  cfg["host_groups"] = json::array({{{"name", "other"}, {"members", json::array()}}});
  write_file(f, cfg.dump());
  r = run_stmfadm({"import", "--dry-run", f}, nobody);
  REQUIRE_OK(r);
  CHECK(r.out_lines().size() == 2);  // - hg existing, + hg other
  r = run_stmfadm({"import", f}, nobody);
  REQUIRE_FAIL(r, "STMF_ERROR_PERM");
  CHECK(adm({"list-hg"}).out == "Host Group: existing\n");

  // export is a read, but CHAP secrets are only for privileged callers.
  const std::string secret = "probe-secret-42";
  REQUIRE_OK(adm({"create-target", "-n", "iqn.2026-11.org.example:chap", "--chap-user", "u"},
                 StmfadmOptions{"", false, {{"STMFADM_CHAP_SECRET", secret}}, ""}));
  r = run_stmfadm({"export"}, nobody);
  REQUIRE_OK(r);
  CHECK(r.out.find(secret) == std::string::npos);
  CHECK(r.out.find("\"user\"") != std::string::npos);  // the CHAP user name is still there
  CHECK(adm({"export"}).out.find(secret) != std::string::npos);
}

TEST_CASE("stmfadm list-pr shows registrations and the reservation", "[stmfadm]") {
  Daemon d;
  Adm adm{d};
  const std::string guid = adm.js({"list-lu"})["lus"][0];
  auto r = adm({"list-pr", guid});
  REQUIRE_OK(r);
  CHECK(has_line(r.out, "    Registrations     : 0"));
  CHECK(has_line(r.out, "    Reservation       : none"));
  std::unique_ptr<iscsi_context, void (*)(iscsi_context*)> ctx(iscsi_create_context(kInitiator.c_str()),
                                                              [](iscsi_context* c) { iscsi_destroy_context(c); });
  iscsi_context* ic = ctx.get();
  iscsi_set_targetname(ic, kTargetIqn.c_str());
  iscsi_set_session_type(ic, ISCSI_SESSION_NORMAL);
  REQUIRE(iscsi_full_connect_sync(ic, d.portal().c_str(), 0) == 0);
  scsi_persistent_reserve_out_basic p{};
  p.service_action_reservation_key = 0xA1;
  p.aptpl = 1;
  for (int i = 0; i < 3; ++i) {  // the first attempts may meet unit attentions
    scsi_task* t = iscsi_persistent_reserve_out_sync(ic, 0, SCSI_PERSISTENT_RESERVE_REGISTER, 0, 0, &p);
    const bool good = t && t->status == SCSI_STATUS_GOOD;
    if (t) scsi_free_scsi_task(t);
    if (good) break;
  }
  p.reservation_key = 0xA1;
  p.service_action_reservation_key = 0;
  p.aptpl = 0;
  scsi_task* t = iscsi_persistent_reserve_out_sync(ic, 0, SCSI_PERSISTENT_RESERVE_RESERVE, 0,
                                                   SCSI_PERSISTENT_RESERVE_TYPE_EXCLUSIVE_ACCESS, &p);
  REQUIRE(t);
  CHECK(t->status == SCSI_STATUS_GOOD);
  scsi_free_scsi_task(t);
  r = adm({"list-pr", guid});
  REQUIRE_OK(r);
  CHECK(has_line(r.out, "    APTPL             : yes"));
  CHECK(has_line(r.out, "    Registrations     : 1"));
  CHECK(has_line(r.out, "    Reservation       : Exclusive Access, holder key 0x00000000000000a1"));
  CHECK_THAT(r.out, Catch::Contains("0x00000000000000a1  " + kInitiator + ",i,0x"));
  json j = adm.js({"list-pr", guid});
  CHECK(j["reservations"]["registrations"][0]["key"] == "0x00000000000000a1");
  CHECK(j["reservations"]["reservation"]["type"] == 3);
  REQUIRE_FAIL(adm({"list-pr", "600144F0000000000000000000000999"}), "STMF_ERROR_NOT_FOUND");
  iscsi_logout_sync(ic);
}

TEST_CASE("stmfadm set-alua-state and list-alua-state", "[stmfadm][alua]") {
  Daemon d(alua_options());
  Adm adm{d};
  auto r = adm({"list-alua-state"});
  REQUIRE_OK(r);
  auto lines = r.out_lines();
  REQUIRE(lines.size() >= 2);
  CHECK(lines[0] == "ALUA Status       : disabled");
  CHECK(lines[1] == "ALUA Node         : 0");
  CHECK(has_line(r.out, "Carrier           : tcp"));
  CHECK(has_line(r.out, "Link              : disabled"));
  CHECK(has_line(r.out, "Door Installed    : no"));
  CHECK(has_line(r.out, "Target Port Group : 1"));
  CHECK(has_line(r.out, "Peer Port Group   : -"));
  CHECK(has_line(r.out, "Standby LUs       : 0"));
  CHECK(has_line(r.out, "Forwarded Tasks   : 0"));
  CHECK(has_line(r.out, "Served Tasks      : 0"));
  CHECK(has_line(r.out, "Fenced Tasks      : 0"));
  CHECK(has_line(r.out, "Pending Tasks     : 0"));
  CHECK(r.out.find("Last Link Error") == std::string::npos);  // the link never went down

  r = adm({"set-alua-state", "enable", "--node", "1"});
  REQUIRE_OK(r);
  CHECK(r.out.empty());
  r = adm({"list-alua-state"});
  REQUIRE_OK(r);
  lines = r.out_lines();
  REQUIRE(lines.size() >= 2);
  CHECK(lines[0] == "ALUA Status       : enabled");
  CHECK(lines[1] == "ALUA Node         : 1");
  CHECK(has_line(r.out, "Link              : down"));  // nothing answers on the peer side
  CHECK(has_line(r.out, "Target Port Group : 2"));     // node 1's group
  CHECK(has_line(r.out, "Forwarded Tasks   : 0"));
  r = adm({"list-state"});
  REQUIRE_OK(r);
  CHECK(r.out ==
        "Operational Status: online\nConfig Status     : initialized\nALUA Status       : enabled\n"
        "ALUA Node         : 1\n");

  json st = adm.js({"list-alua-state"});
  CHECK(st.value("enabled", false) == true);
  CHECK(st.value("node", 99) == 1);
  CHECK(st.value("link", "") == "down");
  CHECK(st.value("door_installed", true) == false);
  CHECK(st.value("forwarded_tasks", 99) == 0);
  CHECK(st.value("served_tasks", 99) == 0);
  CHECK(st.value("target_port_group", 0) == 2);
  CHECK(adm.js({"list-state"})["alua"] == json({{"enabled", true}, {"node", 1}}));

  // Enabling again re-initializes the pair.
  CHECK(d.log_text().find("re-initializing") == std::string::npos);
  REQUIRE_OK(adm({"set-alua-state", "enable", "--node", "1"}));
  CHECK(d.log_text().find("re-initializing") != std::string::npos);

  // A node other than 0 or 1 is refused by stmfd; nothing changes.
  r = adm({"set-alua-state", "enable", "--node", "2"});
  REQUIRE_FAIL(r, "STMF_ERROR_INVALID_ARG");
  CHECK_THAT(r.err, Catch::Contains("node must be 0 or 1"));
  CHECK(r.out.empty());
  // Usage errors: nothing is sent.
  r = adm({"set-alua-state", "enable"});
  REQUIRE_USAGE(r);
  CHECK_THAT(r.err, Catch::Contains("--node"));
  REQUIRE_USAGE(adm({"set-alua-state", "enable", "--node", "x"}));
  REQUIRE_USAGE(adm({"set-alua-state", "enable", "--node", "-1"}));
  REQUIRE_USAGE(adm({"set-alua-state", "disable", "--node", "0"}));
  REQUIRE_USAGE(adm({"set-alua-state", "on"}));
  REQUIRE_USAGE(adm({"set-alua-state"}));
  REQUIRE_USAGE(adm({"list-alua-state", "extra"}));
  CHECK(adm.js({"list-alua-state"})["node"] == 1);

  // Disabling keeps the node.
  REQUIRE_OK(adm({"set-alua-state", "disable"}));
  r = adm({"list-alua-state"});
  REQUIRE_OK(r);
  lines = r.out_lines();
  REQUIRE(lines.size() >= 2);
  CHECK(lines[0] == "ALUA Status       : disabled");
  CHECK(lines[1] == "ALUA Node         : 1");
  CHECK(has_line(r.out, "Link              : disabled"));
  REQUIRE_OK(adm({"set-alua-state", "disable"}));  // twice is fine

  // --json: the result of set-alua-state is an empty object; the state persists.
  r = adm({"--json", "set-alua-state", "enable", "--node", "0"});
  REQUIRE_OK(r);
  CHECK(json::parse(r.out) == json::object());
  d.kill9();
  d.restart();
  CHECK(has_line(adm({"list-state"}).out, "ALUA Status       : enabled"));
  CHECK(has_line(adm({"list-state"}).out, "ALUA Node         : 0"));

  r = adm({"--help"});
  CHECK_THAT(r.out, Catch::Contains("set-alua-state"));
  CHECK_THAT(r.out, Catch::Contains("list-alua-state"));
}

TEST_CASE("stmfadm ALUA state as an unprivileged user: list works, set gets STMF_ERROR_PERM", "[stmfadm][alua]") {
  require_second_uid();
  Daemon d(alua_options());
  Adm adm{d};
  StmfadmOptions nobody;
  nobody.socket = d.socket_path();
  nobody.unprivileged = true;
  auto r = run_stmfadm({"list-alua-state"}, nobody);
  REQUIRE_OK(r);
  CHECK(has_line(r.out, "ALUA Status       : disabled"));
  r = run_stmfadm({"list-state"}, nobody);
  REQUIRE_OK(r);
  CHECK(has_line(r.out, "ALUA Node         : 0"));
  r = run_stmfadm({"set-alua-state", "enable", "--node", "1"}, nobody);
  REQUIRE_FAIL(r, "STMF_ERROR_PERM");
  CHECK(has_line(adm({"list-alua-state"}).out, "ALUA Status       : disabled"));
}

TEST_CASE("stmfadm CHAP: initiators' secrets, auth methods, defaults, secrets never printed unasked", "[stmfadm][chap]") {
  Daemon d;
  Adm adm{d};
  const std::string a = "iqn.2026-11.org.example:alice", b = "iqn.2026-11.org.example:bob";
  const std::string sa = "alice-secret-01", sb = "bob-secret-0001", st = "target-secret-1";
  write_file(d.dir() + "/sb", sb + "\n");
  write_file(d.dir() + "/st", st + "\n");

  // -s takes the secret from the environment (or standard input), never from the command line.
  auto r = adm({"create-initiator", "-s", a}, StmfadmOptions{"", false, {{"STMFADM_CHAP_SECRET", sa}}, ""});
  REQUIRE_OK(r);
  CHECK(r.out == "Initiator " + a + " successfully created\n");
  REQUIRE_OK(adm({"create-initiator", "-u", "bob", "--chap-secret-file", d.dir() + "/sb", b}));
  REQUIRE_OK(adm({"create-initiator", "iqn.2026-11.org.example:carol"}));
  REQUIRE_FAIL(adm({"create-initiator", a}), "STMF_ERROR_EXISTS");
  // RFC 7143 12.1.3: shorter than 96 bits (12 bytes) is refused at configuration time.
  REQUIRE_FAIL(adm({"create-initiator", "-s", "iqn.2026-11.org.example:dave"}, StmfadmOptions{"", false, {}, "elevenchars\n"}),
               "STMF_ERROR_INVALID_ARG");

  r = adm({"list-initiator", "-v"});
  REQUIRE_OK(r);
  CHECK(has_line(r.out, "Initiator: " + a));
  CHECK(has_line(r.out, "    CHAP User         : bob"));
  CHECK(has_line(r.out, "    CHAP Secret       : set"));
  CHECK(has_line(r.out, "    CHAP Secret       : unset"));
  CHECK(r.out.find(sa) == std::string::npos);
  CHECK(adm({"--json", "list-initiator", "-v"}).out.find(sb) == std::string::npos);
  r = adm({"list-initiator", "--show-secrets", b});
  REQUIRE_OK(r);
  CHECK(has_line(r.out, "    CHAP Secret       : " + sb));

  // The target's own secret (mutual CHAP) and its auth method; identical secrets are refused.
  REQUIRE_OK(adm({"modify-target", "--auth-method", "chap", "--mutual-secret-file", d.dir() + "/st", kTargetIqn}));
  json t = find_by(adm.js({"list-target"})["targets"], "name", kTargetIqn);
  CHECK(t["auth"] == "chap");
  CHECK(t["chap"]["mutual_secret"] == "set");
  r = adm({"list-target", "-v", kTargetIqn});
  CHECK(has_line(r.out, "    Auth Method       : chap"));
  CHECK(has_line(r.out, "    Authentication    : per initiator, mutual (" + kTargetIqn + ")"));
  CHECK(r.out.find(st) == std::string::npos);
  REQUIRE_FAIL(adm({"modify-initiator", "--chap-secret-file", d.dir() + "/st", a}), "STMF_ERROR_INVALID_ARG");
  REQUIRE_FAIL(adm({"modify-target", "--auth-method", "radius", kTargetIqn}), "STMF_ERROR_INVALID_ARG");

  // modify / delete initiators.
  REQUIRE_OK(adm({"modify-initiator", "-u", "alice", a}));
  CHECK(has_line(adm({"list-initiator", "-v", a}).out, "    CHAP User         : alice"));
  REQUIRE_OK(adm({"modify-initiator", "--clear-chap-user", "--clear-chap-secret", a}));
  r = adm({"list-initiator", "-v", a});
  CHECK(has_line(r.out, "    CHAP User         : " + a));
  CHECK(has_line(r.out, "    CHAP Secret       : unset"));
  REQUIRE_USAGE(adm({"modify-initiator", a}));
  REQUIRE_FAIL(adm({"modify-initiator", "-u", "x", "iqn.2026-11.org.example:nosuch"}), "STMF_ERROR_NOT_FOUND");
  REQUIRE_OK(adm({"delete-initiator", "iqn.2026-11.org.example:carol"}));
  REQUIRE_FAIL(adm({"delete-initiator", "iqn.2026-11.org.example:carol"}), "STMF_ERROR_NOT_FOUND");

  // Defaults (itadm modify-defaults).
  r = adm({"list-defaults"});
  REQUIRE_OK(r);
  CHECK(has_line(r.out, "    Discovery Auth    : none"));
  REQUIRE_OK(adm({"modify-defaults", "--discovery-auth", "chap", "--auth-method", "chap"}));
  json dj = adm.js({"list-defaults"});
  CHECK(dj["discovery_auth"] == "chap");
  CHECK(dj["default_auth"] == "chap");
  REQUIRE_USAGE(adm({"modify-defaults", "--discovery-auth", "maybe"}));
  REQUIRE_USAGE(adm({"modify-defaults"}));

  // Persisted: after a restart everything is still there; the state database is private.
  d.terminate(10);
  d.restart();
  r = adm({"list-initiator", "--show-secrets", b});
  REQUIRE_OK(r);
  CHECK(has_line(r.out, "    CHAP Secret       : " + sb));
  CHECK(adm.js({"list-defaults"})["discovery_auth"] == "chap");
  struct stat s {};
  REQUIRE(::stat((d.state_dir() + "/stmf.db").c_str(), &s) == 0);
  CHECK((s.st_mode & 0077) == 0);
  // The daemon's log records the changes, never a secret.
  const std::string log = d.log_text();
  CHECK(log.find("create-initiator") != std::string::npos);
  CHECK(log.find(sa) == std::string::npos);
  CHECK(log.find(sb) == std::string::npos);
  CHECK(log.find(st) == std::string::npos);
}

TEST_CASE("stmfadm CHAP as an unprivileged user: secrets are neither shown nor exported", "[stmfadm][chap]") {
  require_second_uid();
  Daemon d;
  Adm adm{d};
  const std::string a = "iqn.2026-11.org.example:alice", sa = "alice-secret-01";
  REQUIRE_OK(adm({"create-initiator", "-s", a}, StmfadmOptions{"", false, {{"STMFADM_CHAP_SECRET", sa}}, ""}));
  StmfadmOptions nobody;
  nobody.socket = d.socket_path();
  nobody.unprivileged = true;
  auto r = run_stmfadm({"list-initiator", "-v"}, nobody);
  REQUIRE_OK(r);
  CHECK(has_line(r.out, "    CHAP Secret       : set"));
  REQUIRE_FAIL(run_stmfadm({"list-initiator", "--show-secrets"}, nobody), "STMF_ERROR_PERM");
  r = run_stmfadm({"export"}, nobody);
  REQUIRE_OK(r);
  CHECK(r.out.find(a) != std::string::npos);
  CHECK(r.out.find(sa) == std::string::npos);
  CHECK(adm({"export"}).out.find(sa) != std::string::npos);
  REQUIRE_FAIL(run_stmfadm({"create-initiator", "iqn.2026-11.org.example:x"}, nobody), "STMF_ERROR_PERM");
  REQUIRE_FAIL(run_stmfadm({"modify-defaults", "--discovery-auth", "none"}, nobody), "STMF_ERROR_PERM");
}

TEST_CASE("stmfadm list-session -v and list-stats show the I/O of a session", "[stmfadm][stats]") {
  Daemon d;
  Adm adm{d};
  stmf::test::Ctx ctx(kInitiator.c_str());
  iscsi_context* ic = ctx;
  REQUIRE(stmf::test::login_normal(ic, kTargetIqn, d.portal()));
  stmf::test::clear_unit_attentions(ic);
  constexpr int kWrites = 5, kReads = 3;
  constexpr uint32_t kIo = 4096;
  std::vector<uint8_t> data(kIo, 0x33);
  auto write = [&](uint32_t lba) {
    scsi_task* t = iscsi_write10_sync(ic, 0, lba, data.data(), kIo, 512, 0, 0, 0, 0, 0);
    const bool good = t && t->status == SCSI_STATUS_GOOD;
    if (t) scsi_free_scsi_task(t);
    return good;
  };
  for (int i = 0; i < kWrites; ++i) REQUIRE(write(uint32_t(i) * 8));
  for (int i = 0; i < kReads; ++i) {
    scsi_task* t = iscsi_read10_sync(ic, 0, uint32_t(i) * 8, kIo, 512, 0, 0, 0, 0, 0);
    REQUIRE(t);
    CHECK(t->status == SCSI_STATUS_GOOD);
    scsi_free_scsi_task(t);
  }

  auto r = adm({"list-session", "-v"});
  REQUIRE_OK(r);
  CHECK(has_line(r.out, "Initiator: " + kInitiator));
  CHECK(has_line(r.out, "    Target: " + kTargetIqn));
  CHECK(has_line(r.out, "            Writes            : " + std::to_string(kWrites)));
  CHECK(has_line(r.out, "            Reads             : " + std::to_string(kReads)));
  CHECK(has_line(r.out, "            Bytes Written     : " + std::to_string(kWrites * kIo)));
  CHECK(has_line(r.out, "            Bytes Read        : " + std::to_string(kReads * kIo)));
  CHECK(has_line(r.out, "            In Flight         : 0"));
  json j = adm.js({"list-session", "-v", kTargetIqn});
  REQUIRE(j["sessions"].size() == 1);
  // The session's array session handle, as every stmfadm command prints one.
  char ash[19];
  std::snprintf(ash, sizeof ash, "0x%016llx", (unsigned long long)j["sessions"][0]["ash"].get<int64_t>());
  CHECK(has_line(r.out, std::string("    ASH: ") + ash));
  CHECK(j["sessions"][0]["stats"]["bytes_written"] == kWrites * kIo);
  CHECK(j["sessions"][0]["target"] == kTargetIqn);
  CHECK_FALSE(adm.js({"list-session"})["sessions"][0].contains("stats"));  // counters only with -v

  // list-stats over an interval during which the session keeps writing 4 KiB: the LU's and the
  // port's rows show writes, 4 KiB each, and no reads.
  std::atomic<bool> stop{false};
  std::atomic<int> failed{0};
  std::thread writer([&] {
    for (uint32_t lba = 0; !stop; lba = (lba + 8) % 4096)
      if (!write(lba)) ++failed;
  });
  json st = adm.js({"list-stats", "-i", "0.5", "-c", "1"});
  stop = true;
  writer.join();
  CHECK(failed == 0);
  REQUIRE(st["rows"].size() == 2);
  for (auto& row : st["rows"]) {
    INFO(row.dump());
    CHECK(row["w_s"].get<double>() > 0);
    CHECK(row["kw_s"].get<double>() == Approx(row["w_s"].get<double>() * 4));
    CHECK(row["r_s"].get<double>() == 0);
    CHECK(row["errors"].get<double>() == 0);
    CHECK(row["lat_ms"].get<double>() > 0);
  }
  CHECK(st["rows"][0]["kind"] == "lu");
  CHECK(st["rows"][1]["kind"] == "port");
  auto text = adm({"list-stats", "-i", "0.2", "-c", "1"});
  REQUIRE_OK(text);
  CHECK_THAT(text.out, Catch::Contains("r/s") && Catch::Contains("kw/s") && Catch::Contains("lat_ms") &&
                           Catch::Contains("qd") && Catch::Contains("errs"));
  CHECK(adm({"list-stats", "-i", "0"}).status == 2);  // below the 0.1 s minimum
  iscsi_logout_sync(ic);
}

TEST_CASE("stmfadm arsctl, arsop and acct", "[stmfadm][arsctl]") {
  Daemon d;
  Adm adm{d};
  REQUIRE_OK(adm({"arsctl", "set", "machid", "5"}));
  CHECK(adm({"arsctl", "get", "machid"}).out == "5\n");
  CHECK(adm.js({"arsctl", "get", "arrayid"})["value"] == 65535);
  REQUIRE_FAIL(adm({"arsctl", "set", "saf", "3"}), "STMF_ERROR_INVALID_ARG");
  REQUIRE_FAIL(adm({"arsctl", "set", "dfltspi", std::string(130, 'a')}), "STMF_ERROR_INVALID_ARG");  // 65 bytes > 64
  REQUIRE_USAGE(adm({"arsctl", "get", "nosuch"}));
  REQUIRE_USAGE(adm({"arsctl", "set", "allocash", "1"}));
  if (::geteuid() == 0) {
    StmfadmOptions o;
    o.unprivileged = true;
    REQUIRE_FAIL(adm({"arsctl", "set", "machid", "6"}, o), "STMF_ERROR_PERM");
    CHECK(adm({"arsctl", "get", "machid"}, o).out == "5\n");
  }
  CHECK_THAT(adm({"arsctl", "get", "allocash"}).out, Catch::StartsWith("0x0005ffff"));

  std::unique_ptr<iscsi_context, void (*)(iscsi_context*)> ctx(iscsi_create_context(kInitiator.c_str()),
                                                              [](iscsi_context* c) { iscsi_destroy_context(c); });
  iscsi_context* ic = ctx.get();
  REQUIRE(ic);
  iscsi_set_targetname(ic, kTargetIqn.c_str());
  iscsi_set_session_type(ic, ISCSI_SESSION_NORMAL);
  iscsi_set_timeout(ic, 10);
  REQUIRE(iscsi_full_connect_sync(ic, d.portal().c_str(), 0) == 0);
  auto r = adm({"list-target", "-v", kTargetIqn});
  REQUIRE_OK(r);
  CHECK_THAT(r.out, Catch::Contains("            ASH: 0x0005ffff"));
  CHECK(has_line(r.out, "            SPI: " + std::string(128, '0')));
  const int64_t ash = adm.js({"list-target", "-v"})["targets"][0]["session_list"][0]["ash"].get<int64_t>();
  char hex[19];
  std::snprintf(hex, sizeof hex, "0x%016llx", (unsigned long long)ash);
  REQUIRE_OK(adm({"arsop", "setspi", hex, "c0ffee"}));
  r = adm({"arsop", "info", hex});
  REQUIRE_OK(r);
  CHECK(has_line(r.out, std::string("ASH: ") + hex));
  CHECK(has_line(r.out, "    Initiator: " + kInitiator + ",i,0x" +
                            adm.js({"list-target", "-v"})["targets"][0]["session_list"][0]["isid"].get<std::string>()));
  CHECK_THAT(r.out, Catch::Contains("    SPI (set, 64 bytes): c0ffee00"));
  REQUIRE_FAIL(adm({"arsop", "info", "0x7fff000000000001"}), "STMF_ERROR_NOT_FOUND");
  iscsi_logout_sync(ic);
  // The record of the session: the table, and --json with every field.
  json rec;
  for (int i = 0; i < 100; ++i) {
    auto j = adm({"--json", "acct", "--ash", hex});
    if (j.status == 0 && !j.out.empty()) {
      rec = json::parse(j.out);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE(rec.is_object());
  CHECK(rec["ash"] == hex);
  CHECK(rec["spi"].get<std::string>().rfind("c0ffee00", 0) == 0);
  r = adm({"acct", "--initiator", kInitiator});
  REQUIRE_OK(r);
  CHECK(r.out_lines().size() == 2);
  CHECK(r.out.rfind("ASH ", 0) == 0);
  CHECK_THAT(r.out, Catch::Contains(hex));
  CHECK(adm({"acct", "--initiator", "iqn.2026-11.org.example:nobody"}).out_lines().size() == 1);
  CHECK(adm({"acct", "--since", "2100-01-01T00:00:00"}).out_lines().size() == 1);
  CHECK(adm({"acct", "--until", "2000-01-01T00:00:00Z"}).out_lines().size() == 1);
  REQUIRE_USAGE(adm({"acct", "--since", "yesterday"}));
}

TEST_CASE("stmfadm for itadm and targetcli users: LU names wherever a GUID goes", "[stmfadm][names]") {
  Daemon d;
  Adm adm{d};
  const size_t base = adm.js({"list-lu"})["lus"].size();  // the configuration's own LUs
  const std::string g = create_lu(adm, d.dir() + "/web01.img", {"-s", "16m", "--name", "web01"});
  CHECK(adm.js({"list-lu", "-v", g})["lus"][0]["name"] == "web01");

  // list-lu, list-pr, add-view, list-view, remove-view, modify-lu, offline/online-lu by name.
  auto r = adm({"list-lu", "web01"});
  REQUIRE_OK(r);
  CHECK(r.out == "LU Name: " + g + "\n");
  REQUIRE_OK(adm({"list-pr", "web01"}));
  REQUIRE_OK(adm({"add-view", "-n", "3", "web01"}));
  json v = adm.js({"list-view", "-l", "web01"});
  REQUIRE(v["views"].size() == 1);
  CHECK(v["views"][0]["guid"] == g);
  CHECK(v["views"][0]["lun"] == 3);
  REQUIRE_OK(adm({"remove-view", "-l", "web01", "-a"}));
  CHECK(adm.js({"list-view", "-l", g})["views"].empty());
  REQUIRE_OK(adm({"modify-lu", "-p", "mgmt-url=http://web01", "web01"}));
  CHECK(adm.js({"list-lu", "-v", g})["lus"][0]["mgmt_url"] == "http://web01");
  REQUIRE_OK(adm({"offline-lu", "web01"}));
  CHECK(has_line(adm({"list-lu", "-v", "web01"}).out, "    Operational Status: Offline"));
  REQUIRE_OK(adm({"online-lu", "web01"}));

  // --name is unique; it cannot look like a GUID; it cannot be given twice.
  r = adm({"create-lu", "-s", "16m", "--name", "web01", d.dir() + "/dup.img"});
  REQUIRE_FAIL(r, "STMF_ERROR_EXISTS");
  CHECK_THAT(r.err, Catch::Contains(g));
  REQUIRE_USAGE(adm({"create-lu", "-s", "16m", "--name", "600144F0A1B2C3D4E5F60718293A4B5C", d.dir() + "/g.img"}));
  REQUIRE_USAGE(adm({"create-lu", "-s", "16m", "-p", "alias=600144F0A1B2C3D4E5F6071829", d.dir() + "/g.img"}));
  REQUIRE_USAGE(adm({"create-lu", "-s", "16m", "--name", "a", "-p", "alias=b", d.dir() + "/g.img"}));
  REQUIRE_USAGE(adm({"modify-lu", "-p", "alias=600144F0A1B2C3D4E5F60718293A4B5C", "web01"}));
  CHECK(adm.js({"list-lu"})["lus"].size() == base + 1);  // none of these created anything

  // Two LUs with one name (-p alias= allows it, as COMSTAR does): refused as ambiguous, and
  // the GUIDs still work.
  const std::string g2 = create_lu(adm, d.dir() + "/other.img", {"-s", "16m", "-p", "alias=web01"});
  r = adm({"list-lu", "web01"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("ambiguous"));
  CHECK_THAT(r.err, Catch::Contains(g));
  CHECK_THAT(r.err, Catch::Contains(g2));
  REQUIRE_USAGE(adm({"delete-lu", "web01"}));
  CHECK(adm.js({"list-lu"})["lus"].size() == base + 2);
  REQUIRE_OK(adm({"modify-lu", "-p", "alias=web02", g2}));

  // A GUID operand is a GUID even when an LU is named like another's GUID... which the
  // checks above forbid; an unknown name is NOT_FOUND and names the GUID form.
  r = adm({"list-lu", "nosuch"});
  REQUIRE_FAIL(r, "STMF_ERROR_NOT_FOUND");
  CHECK_THAT(r.err, Catch::Contains("no LU is named 'nosuch'"));

  // delete-lu by names: every operand resolved first, nothing deleted when one does not resolve.
  REQUIRE_FAIL(adm({"delete-lu", "web02", "nosuch"}), "STMF_ERROR_NOT_FOUND");
  CHECK(adm.js({"list-lu"})["lus"].size() == base + 2);
  REQUIRE_OK(adm({"delete-lu", "web01", "web02"}));
  CHECK(adm.js({"list-lu"})["lus"].size() == base);
}

TEST_CASE("stmfadm for itadm users: -?, the usage list, global options in every help, itadm's -a", "[stmfadm][names]") {
  Daemon d;
  Adm adm{d};
  auto r = adm({"-?"});
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("create-lu"));
  CHECK_THAT(r.out, Catch::Contains("--socket"));
  // Every subcommand's help (-?, -h and --help) shows the global options; add-view's -h is
  // the host group, so -? and --help there.
  for (const char* sub : {"create-lu", "list-lu", "add-view", "create-target", "list-alua-state", "acct"}) {
    for (const char* flag : {"-?", "--help"}) {
      r = adm({sub, flag});
      INFO(sub << " " << flag << ": " << r.out << r.err);
      CHECK(r.status == 0);
      CHECK_THAT(r.out, Catch::Contains("Global options"));
      CHECK_THAT(r.out, Catch::Contains("--json"));
      CHECK_THAT(r.out, Catch::Contains("--socket PATH"));
    }
  }
  r = adm({"list-hg", "-h"});
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("Global options"));
  // ... and so does every subcommand stmfadm lists.
  std::istringstream list(adm({"--help"}).out.substr(adm({"--help"}).out.find("Subcommands:")));
  std::string line;
  int subcommands = 0;
  std::smatch m;
  static const std::regex sub_re("^  ([a-z][a-z0-9-]+) .*");
  while (std::getline(list, line)) {
    if (!std::regex_match(line, m, sub_re)) continue;
    ++subcommands;
    r = adm({m[1].str(), "--help"});
    INFO(m[1].str() << ": " << r.out);
    CHECK(r.status == 0);
    CHECK_THAT(r.out, Catch::Contains("--socket PATH"));
  }
  CHECK(subcommands >= 40);

  // -a is the alias here; itadm's -a is the auth method: `-a chap` is refused with the hint.
  for (const char* method : {"chap", "none", "radius", "default", "CHAP"}) {
    r = adm({"create-target", "-n", "iqn.2026-11.org.example:a", "-a", method});
    REQUIRE_USAGE(r);
    CHECK_THAT(r.err, Catch::Contains("--auth-method"));
    CHECK_THAT(r.err, Catch::Contains("itadm"));
  }
  r = adm({"modify-target", "-a", "chap", kTargetIqn});
  REQUIRE_USAGE(r);
  CHECK_THAT(r.err, Catch::Contains("--auth-method chap"));
  CHECK(adm.js({"list-target"})["targets"].size() == 1);  // nothing was created
  // An alias that really is "chap": --alias; an ordinary alias with -a works.
  REQUIRE_OK(adm({"create-target", "-n", "iqn.2026-11.org.example:a", "--alias", "chap"}));
  REQUIRE_OK(adm({"modify-target", "-a", "web", "iqn.2026-11.org.example:a"}));
  json t = adm.js({"list-target", "iqn.2026-11.org.example:a"});
  CHECK(t["targets"][0]["alias"] == "web");
  REQUIRE_USAGE(adm({"modify-target", "-a", "x", "--alias", "y", "iqn.2026-11.org.example:a"}));
}
