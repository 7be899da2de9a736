// The management plane against a real stmfd: views decide what each initiator sees (and
// changes raise the unit attention), targets go offline and online, and the configuration
// survives restarts and SIGKILL.
#include <catch2/catch.hpp>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "libstmf/stmf_status.h"
#include "mgmt/client.h"
#include "test/integration/daemon.h"
#include "test/integration/second_uid.h"
#include "test/integration/libiscsi_util.h"

using stmf::mgmt::Client;
using stmf::mgmt::json;
using stmf::test::Ctx;
using stmf::test::Daemon;
using stmf::test::Task;
using stmf::test::DaemonOptions;
using stmf::test::as_second_uid;
using stmf::test::become_second_uid;
using stmf::test::require_second_uid;

namespace {

constexpr const char* kI1 = "iqn.2026-11.org.example:node1";
constexpr const char* kI2 = "iqn.2026-11.org.example:node2";



bool login(Ctx& ctx, const Daemon& d, const std::string& portal = {}) {
  iscsi_set_targetname(ctx, d.iqn().c_str());
  iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
  iscsi_set_timeout(ctx, 10);
  const std::string p = portal.empty() ? d.portal() : portal;
  return iscsi_connect_sync(ctx, p.c_str()) == 0 && iscsi_login_sync(ctx) == 0;
}

// Sends TEST UNIT READY until GOOD (consuming unit attentions); false if it never is.
bool clear_ua(Ctx& ctx, int lun) {
  for (int i = 0; i < 8; ++i) {
    Task t(iscsi_testunitready_sync(ctx, lun));
    if (t && t->status == SCSI_STATUS_GOOD) return true;
  }
  return false;
}

std::set<int> report_luns(Ctx& ctx) {
  Task t(iscsi_reportluns_sync(ctx, 0, 16384));
  REQUIRE(t);
  REQUIRE(t->status == SCSI_STATUS_GOOD);
  auto* list = static_cast<scsi_reportluns_list*>(scsi_datain_unmarshall(t.t));
  REQUIRE(list);
  std::set<int> out;
  for (uint32_t i = 0; i < list->num; ++i) out.insert(list->luns[i]);
  return out;
}

// asc/ascq of a CHECK CONDITION for TEST UNIT READY to `lun` (0 when GOOD).
int tur_sense(Ctx& ctx, int lun) {
  Task t(iscsi_testunitready_sync(ctx, lun));
  REQUIRE(t);
  if (t->status == SCSI_STATUS_GOOD) return 0;
  REQUIRE(t->status == SCSI_STATUS_CHECK_CONDITION);
  return t->sense.key << 16 | t->sense.ascq;
}

json ok(Client& c, const std::string& op, const json& args = json::object()) {
  json r;
  auto s = c.call(op, args, r);
  INFO(op << " " << args.dump() << " -> " << s.message);
  REQUIRE(s.ok());
  return r;
}

int code(Client& c, const std::string& op, const json& args = json::object()) { return c.call(op, args).code; }

std::string ram_lu(Client& c, const std::string& name) {
  return ok(c, "create-lu", {{"lu", {{"store", "ram"}, {"size", 1 << 20}, {"name", name}}}})["guid"];
}

}  // namespace

TEST_CASE("views: an initiator in a host group sees exactly its LUNs, others see none of them", "[management]") {
  Daemon d;
  Client c(d.socket_path());
  const std::string a = ram_lu(c, "a"), b = ram_lu(c, "b");
  ok(c, "create-hg", {{"name", "cluster"}});
  ok(c, "add-hg-member", {{"group", "cluster"}, {"member", kI1}});
  ok(c, "add-view", {{"guid", a}, {"host_group", "cluster"}, {"lun", 5}});
  auto r = ok(c, "add-view", {{"guid", b}, {"host_group", "cluster"}});
  CHECK(r["lun"] == 1);  // lowest LUN free for that host group (0 is the shorthand's LU)

  Ctx n1(kI1), n2(kI2);
  REQUIRE(login(n1, d));
  REQUIRE(login(n2, d));
  CHECK(report_luns(n1) == std::set<int>{0, 1, 5});
  CHECK(report_luns(n2) == std::set<int>{0});
  REQUIRE(clear_ua(n1, 5));
  REQUIRE(clear_ua(n2, 0));
  // LUN 5 does not exist for node2: LOGICAL UNIT NOT SUPPORTED (05/25/00).
  CHECK(tur_sense(n2, 5) == (SCSI_SENSE_ILLEGAL_REQUEST << 16 | 0x2500));

  SECTION("adding a view raises REPORTED LUNS DATA HAS CHANGED for the nexuses it changes") {
    REQUIRE(clear_ua(n1, 0));
    const std::string e = ram_lu(c, "e");
    ok(c, "add-view", {{"guid", e}, {"host_group", "cluster"}, {"lun", 9}});
    CHECK(tur_sense(n1, 0) == (SCSI_SENSE_UNIT_ATTENTION << 16 | 0x3f0e));
    CHECK(tur_sense(n1, 0) == 0);
    CHECK(report_luns(n1) == std::set<int>{0, 1, 5, 9});
    CHECK(tur_sense(n2, 0) == 0);  // node2's inventory did not change: no unit attention
  }
  SECTION("removing a view takes the LUN away") {
    auto views = ok(c, "list-view", {{"guid", a}})["views"];
    REQUIRE(views.size() == 1);
    ok(c, "remove-view", {{"guid", a}, {"index", views[0]["index"]}});
    CHECK(tur_sense(n1, 5) == (SCSI_SENSE_ILLEGAL_REQUEST << 16 | 0x2500));
    CHECK(report_luns(n1) == std::set<int>{0, 1});
  }
  SECTION("taking the LU offline hides it; online brings it back") {
    ok(c, "offline-lu", {{"guid", a}});
    CHECK(report_luns(n1) == std::set<int>{0, 1});
    ok(c, "online-lu", {{"guid", a}});
    CHECK(report_luns(n1) == std::set<int>{0, 1, 5});
  }
  SECTION("moving node2 into the group shows it the group's LUNs") {
    ok(c, "add-hg-member", {{"group", "cluster"}, {"member", kI2}});
    CHECK(tur_sense(n2, 0) == (SCSI_SENSE_UNIT_ATTENTION << 16 | 0x3f0e));
    CHECK(report_luns(n2) == std::set<int>{0, 1, 5});
  }
  SECTION("target groups restrict a view to their targets") {
    ok(c, "create-tg", {{"name", "elsewhere"}});
    ok(c, "add-tg-member", {{"group", "elsewhere"}, {"member", "iqn.2026-11.org.example:other"}});
    const std::string f = ram_lu(c, "f");
    ok(c, "add-view", {{"guid", f}, {"target_group", "elsewhere"}, {"lun", 3}});
    CHECK(report_luns(n1) == std::set<int>{0, 1, 5});
    ok(c, "create-tg", {{"name", "here"}});
    // A target is in at most one target group: the shorthand put ours in its own.
    CHECK(code(c, "add-tg-member", {{"group", "here"}, {"member", d.iqn()}}) == STMF_ERROR_EXISTS);
  }
}

TEST_CASE("view entry conflicts and LUN collisions are refused", "[management]") {
  Daemon d;
  Client c(d.socket_path());
  const std::string a = ram_lu(c, "a"), b = ram_lu(c, "b");
  ok(c, "create-hg", {{"name", "h1"}});
  ok(c, "create-hg", {{"name", "h2"}});
  ok(c, "add-view", {{"guid", a}, {"host_group", "h1"}, {"lun", 3}});
  CHECK(code(c, "add-view", {{"guid", a}, {"host_group", "h1"}, {"lun", 4}}) == STMF_ERROR_VE_CONFLICT);
  CHECK(code(c, "add-view", {{"guid", a}, {"lun", 4}}) == STMF_ERROR_VE_CONFLICT);  // all hosts overlaps h1
  CHECK(code(c, "add-view", {{"guid", b}, {"host_group", "h1"}, {"lun", 3}}) == STMF_ERROR_LUN_IN_USE);
  ok(c, "add-view", {{"guid", b}, {"host_group", "h2"}, {"lun", 3}});  // different hosts: fine
  CHECK(code(c, "add-view", {{"guid", b}, {"host_group", "nope"}}) == STMF_ERROR_INVALID_HG);
  CHECK(code(c, "add-view", {{"guid", b}, {"target_group", "nope"}}) == STMF_ERROR_INVALID_TG);
  CHECK(code(c, "add-view", {{"guid", b}, {"lun", 16384}}) == STMF_ERROR_INVALID_ARG);
  CHECK(code(c, "delete-hg", {{"name", "h1"}}) == STMF_ERROR_GROUP_IN_USE);
  CHECK(code(c, "delete-hg", {{"name", "h9"}}) == STMF_ERROR_GROUP_NOT_FOUND);
  CHECK(code(c, "remove-hg-member", {{"group", "h2"}, {"member", kI1}}) == STMF_ERROR_MEMBER_NOT_FOUND);
  CHECK(code(c, "remove-view", {{"guid", a}, {"index", 7}}) == STMF_ERROR_NOT_FOUND);
  CHECK(code(c, "bogus-op") == STMF_ERROR_INVALID_ARG);
  json r;
  CHECK(c.call("get-state", {{"v", 2}}, r).code == STMF_STATUS_SUCCESS);  // the client sets v=1 itself
}

TEST_CASE("offline-target logs sessions out and refuses logins until online-target", "[management]") {
  DaemonOptions o;
  o.top_json_extra = "\"shutdown_timeout_s\": 3, ";
  Daemon d(o);
  Client c(d.socket_path());
  Ctx n1(kI1);
  REQUIRE(login(n1, d));
  REQUIRE(ok(c, "list-sessions", {{"target", d.iqn()}})["sessions"].size() == 1);
  CHECK(ok(c, "list-sessions", {{"target", d.iqn()}})["sessions"][0]["initiator"] == kI1);

  CHECK(code(c, "offline-target", {{"name", d.iqn()}, {"wait", "no"}}) == STMF_ERROR_INVALID_ARG);
  CHECK(ok(c, "get-target", {{"name", d.iqn()}})["target"]["state"] == "online");  // refused: no change

  // node1's libiscsi context is not polled, so it cannot answer the logout request: the
  // target stays "offlining" until the deadline closes the session. Meanwhile: BUSY.
  std::thread off([&] {
    Client c2(d.socket_path());
    CHECK(c2.call("offline-target", {{"name", d.iqn()}}).ok());
  });
  bool saw_offlining = false;
  for (int i = 0; i < 200 && !saw_offlining; ++i) {
    saw_offlining = ok(c, "get-target", {{"name", d.iqn()}})["target"]["state"] == "offlining";
    if (!saw_offlining) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(saw_offlining);
  if (saw_offlining) {
    // A port in transition takes no change: STMF_STATUS_ERROR, as illumos answers.
    CHECK(code(c, "online-target", {{"name", d.iqn()}}) == STMF_STATUS_ERROR);
    CHECK(code(c, "offline-target", {{"name", d.iqn()}, {"wait", false}}) == STMF_STATUS_ERROR);
    CHECK(code(c, "modify-target", {{"name", d.iqn()}, {"alias", "x"}}) == STMF_STATUS_ERROR);
    CHECK(code(c, "delete-target", {{"name", d.iqn()}}) == STMF_STATUS_ERROR);
    CHECK(code(c, "get-target", {{"name", d.iqn()}}) == STMF_STATUS_SUCCESS);  // reads are served
  }
  off.join();
  CHECK(ok(c, "get-target", {{"name", d.iqn()}})["target"]["state"] == "offline");
  CHECK(ok(c, "list-sessions", {{"target", d.iqn()}})["sessions"].empty());  // node1's session is gone
  Ctx n2(kI2);
  CHECK(!login(n2, d));  // Service Unavailable while offline

  ok(c, "online-target", {{"name", d.iqn()}});
  Ctx n3(kI2);
  CHECK(login(n3, d));
  CHECK(ok(c, "get-target", {{"name", d.iqn()}})["target"]["sessions"] == 1);
}

TEST_CASE("a session that honours the logout request leaves before the deadline", "[management]") {
  Daemon d;
  Client c(d.socket_path());
  Ctx n1(kI1);
  REQUIRE(login(n1, d));
  std::atomic<bool> done{false};
  std::thread service([&] {
    // Let libiscsi process the Async Message (it logs out by itself).
    while (!done) {
      pollfd pfd{iscsi_get_fd(n1), short(iscsi_which_events(n1)), 0};
      if (::poll(&pfd, 1, 20) > 0) iscsi_service(n1, pfd.revents);
    }
  });
  CHECK(c.call("offline-target", {{"name", d.iqn()}}).ok());
  done = true;
  service.join();
  CHECK(ok(c, "list-sessions", {{"target", d.iqn()}})["sessions"].empty());
  // It logged out by itself: the daemon did not have to close it at the deadline.
  CHECK(d.log_text().find("did not log out") == std::string::npos);
  CHECK(d.log_text().find("logout (reason 0)") != std::string::npos);
}

TEST_CASE("the configuration survives a restart, a bad database stops the daemon", "[management]") {
  Daemon d;
  std::string a;
  json before;
  {
    Client c(d.socket_path());
    a = ok(c, "create-lu", {{"lu", {{"backing", d.dir() + "/extra.img"}, {"size", 4 << 20}, {"name", "extra"}}}})["guid"];
    ok(c, "create-hg", {{"name", "h"}});
    ok(c, "add-hg-member", {{"group", "h"}, {"member", kI1}});
    ok(c, "add-view", {{"guid", a}, {"host_group", "h"}, {"lun", 12}});
    ok(c, "create-target", {{"target", {{"name", "iqn.2026-11.org.example:second"}, {"alias", "two"}}}});
    ok(c, "offline-target", {{"name", "iqn.2026-11.org.example:second"}});
    ok(c, "modify-lu", {{"guid", a}, {"props", {{"size", 8 << 20}, {"name", "renamed"}}}});
    before = ok(c, "export")["config"];
  }
  REQUIRE(d.terminate(15) == 0);
  d.restart();
  {
    Client c(d.socket_path());
    CHECK(ok(c, "export")["config"] == before);
    CHECK(ok(c, "get-lu", {{"guid", a}})["lu"]["size"] == 8 << 20);
    Ctx n1(kI1);
    REQUIRE(login(n1, d));
    CHECK(report_luns(n1) == std::set<int>{0, 12});
  }
  SECTION("import-lu after delete-lu brings the LU back with its GUID") {
    Client c(d.socket_path());
    ok(c, "delete-lu", {{"guid", a}, {"keep_views", true}});
    CHECK(code(c, "get-lu", {{"guid", a}}) == STMF_ERROR_NOT_FOUND);
    CHECK(ok(c, "import-lu", {{"backing", d.dir() + "/extra.img"}})["guid"] == a);
    CHECK(ok(c, "get-lu", {{"guid", a}})["lu"]["name"] == "renamed");
    CHECK(ok(c, "list-view", {{"guid", a}})["views"].size() == 1);
    CHECK(code(c, "import-lu", {{"backing", d.dir() + "/extra.img"}}) == STMF_ERROR_FILE_IN_USE);
    CHECK(code(c, "import-lu", {{"backing", d.dir() + "/config.json"}}) == STMF_ERROR_META_FILE_NAME);
  }
  SECTION("a corrupt database is refused") {
    REQUIRE(d.terminate(15) == 0);
    {
      std::fstream f(d.state_dir() + "/stmf.db", std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(0);
      f << "this is not a database, not at all";
    }
    CHECK(d.start_expect_exit() == 2);
    CHECK(d.log_text().find("refusing to start") != std::string::npos);
  }
  SECTION("a database from a newer stmfd is refused") {
    REQUIRE(d.terminate(15) == 0);
    REQUIRE(std::system(("sqlite3 " + d.state_dir() + "/stmf.db 'PRAGMA user_version = 9' 2>/dev/null || "
                         "python3 -c \"import sqlite3; c=sqlite3.connect('" + d.state_dir() + "/stmf.db'); "
                         "c.execute('PRAGMA user_version = 9'); c.commit()\"").c_str()) == 0);
    CHECK(d.start_expect_exit() == 2);
    CHECK(d.log_text().find("newer") != std::string::npos);
  }
}

TEST_CASE("SIGKILL in the middle of a stream of changes loses no acknowledged change", "[management]") {
  Daemon d;
  std::vector<std::string> acked;  // host groups whose create (and member add) was acknowledged
  std::string in_flight;
  {
    Client c(d.socket_path());
    std::atomic<int> count{0};
    std::thread killer([&] {
      while (count < 60) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      d.kill9();
    });
    for (int i = 0; i < 100000; ++i) {
      in_flight = "g" + std::to_string(i);
      if (!c.call("create-hg", {{"name", in_flight}}).ok()) break;
      std::string member = "iqn.2026-11.org.example:m" + std::to_string(i);
      if (!c.call("add-hg-member", {{"group", in_flight}, {"member", member}}).ok()) {
        acked.push_back(in_flight + "/");  // the group was acknowledged, the member not
        break;
      }
      acked.push_back(in_flight + "/" + member);
      ++count;
    }
    killer.join();
  }
  REQUIRE(acked.size() >= 60);
  d.restart();  // refuses to start on a corrupt database, so this also checks integrity
  Client c(d.socket_path());
  auto groups = ok(c, "list-hg")["groups"];
  std::map<std::string, std::vector<std::string>> have;
  for (auto& g : groups) have[g["name"]] = g["members"];
  for (auto& a : acked) {
    auto slash = a.find('/');
    auto name = a.substr(0, slash), member = a.substr(slash + 1);
    INFO(a);
    REQUIRE(have.count(name));
    if (!member.empty()) CHECK(have[name] == std::vector<std::string>{member});
  }
  // At most the one change that was in flight when the daemon died may also be there.
  CHECK(groups.size() <= acked.size() + 1);
}

TEST_CASE("modify-lu grows an LU and raises CAPACITY DATA HAS CHANGED", "[management]") {
  Daemon d;
  Client c(d.socket_path());
  const std::string guid = ok(c, "list-lu")["lus"][0];
  Ctx n1(kI1);
  REQUIRE(login(n1, d));
  REQUIRE(clear_ua(n1, 0));
  CHECK(code(c, "modify-lu", {{"guid", guid}, {"props", {{"size", "32MiB"}}}}) == STMF_ERROR_SIZE_OUT_OF_RANGE);
  ok(c, "modify-lu", {{"guid", guid}, {"props", {{"size", "128MiB"}}}});
  CHECK(tur_sense(n1, 0) == (SCSI_SENSE_UNIT_ATTENTION << 16 | 0x2a09));
  Task t(iscsi_readcapacity16_sync(n1, 0));
  REQUIRE(t);
  REQUIRE(t->status == SCSI_STATUS_GOOD);
  auto* rc = static_cast<scsi_readcapacity16*>(scsi_datain_unmarshall(t.t));
  REQUIRE(rc);
  CHECK(rc->returned_lba + 1 == (128u << 20) / 512);
  ok(c, "modify-lu", {{"guid", guid}, {"props", {{"write_protect", true}}}});
  std::vector<uint8_t> buf(512, 1);
  Task w(iscsi_write10_sync(n1, 0, 0, buf.data(), 512, 512, 0, 0, 0, 0, 0));
  REQUIRE(w);
  CHECK(w->status == SCSI_STATUS_CHECK_CONDITION);
  CHECK(w->sense.key == SCSI_SENSE_DATA_PROTECTION);
}

TEST_CASE("portals and targets are created and deleted live", "[management]") {
  Daemon d;
  Client c(d.socket_path());
  const uint16_t port = stmf::test::free_port();
  ok(c, "create-portal", {{"host", "127.0.0.1"}, {"port", port}});
  CHECK(code(c, "create-portal", {{"host", "127.0.0.1"}, {"port", port}}) == STMF_ERROR_EXISTS);
  CHECK(code(c, "create-portal", {{"host", "127.0.0.1"}, {"port", d.port()}}) == STMF_ERROR_EXISTS);
  CHECK(code(c, "create-portal", {{"host", "not-an-ip"}}) == STMF_ERROR_INVALID_ARG);
  {
    Ctx n1(kI1);
    CHECK(login(n1, d, "127.0.0.1:" + std::to_string(port)));
  }
  ok(c, "delete-portal", {{"host", "127.0.0.1"}, {"port", port}});
  CHECK(code(c, "delete-portal", {{"host", "127.0.0.1"}, {"port", port}}) == STMF_ERROR_NOT_FOUND);
  {
    Ctx n1(kI1);
    CHECK(!login(n1, d, "127.0.0.1:" + std::to_string(port)));
  }
  Ctx n2(kI2);
  REQUIRE(login(n2, d));
  REQUIRE(ok(c, "list-sessions", {{"target", d.iqn()}})["sessions"].size() == 1);
  ok(c, "delete-target", {{"name", d.iqn()}});
  CHECK(code(c, "delete-target", {{"name", d.iqn()}}) == STMF_ERROR_NOT_FOUND);
  CHECK(code(c, "list-sessions", {{"target", d.iqn()}}) == STMF_ERROR_NOT_FOUND);
  ok(c, "create-target", {{"target", {{"name", d.iqn()}}}});
  CHECK(code(c, "create-target", {{"target", {{"name", d.iqn()}}}}) == STMF_ERROR_EXISTS);
  Ctx n3(kI2);
  CHECK(login(n3, d));
}

namespace {
// Runs `op` as uid/gid 65534 (nobody/nogroup, test/integration/second_uid.h) in a child;
// returns its status code (-1 when the child could not become that user).
int call_as_nobody(const std::string& socket, const std::string& op, const json& args) {
  return as_second_uid([&] { return Client(socket).call(op, args).code; });
}
}  // namespace

TEST_CASE("unprivileged users read, changes need root or the admin group", "[management]") {
  require_second_uid();
  {
    Daemon d;
    CHECK(call_as_nobody(d.socket_path(), "list-hg", json::object()) == STMF_STATUS_SUCCESS);
    CHECK(call_as_nobody(d.socket_path(), "get-state", json::object()) == STMF_STATUS_SUCCESS);
    CHECK(call_as_nobody(d.socket_path(), "create-hg", {{"name", "x"}}) == STMF_ERROR_PERM);
    CHECK(call_as_nobody(d.socket_path(), "offline-target", {{"name", d.iqn()}}) == STMF_ERROR_PERM);
    Client c(d.socket_path());
    CHECK(ok(c, "list-hg")["groups"].empty());  // nothing changed
    CHECK(ok(c, "get-target", {{"name", d.iqn()}})["target"]["state"] == "online");
  }
  {
    DaemonOptions o;
    o.top_json_extra = "\"management\": {\"admin_group\": \"nogroup\"}, ";
    Daemon d(o);
    CHECK(call_as_nobody(d.socket_path(), "create-hg", {{"name", "x"}}) == STMF_STATUS_SUCCESS);
    Client c(d.socket_path());
    CHECK(ok(c, "list-hg")["groups"].size() == 1);
  }
}

namespace {
// An "alua" object whose listen and peer addresses are unused loopback ports (nothing answers).
DaemonOptions alua_options() {
  DaemonOptions o;
  o.top_json_extra = "\"alua\": {\"listen\": \"127.0.0.1:" + std::to_string(stmf::test::free_port()) +
                     "\", \"peer\": \"127.0.0.1:" + std::to_string(stmf::test::free_port()) + "\", \"insecure\": true}, ";
  return o;
}
}  // namespace

TEST_CASE("set-alua-state validates its arguments, get-alua-state reports the runtime", "[management][alua]") {
  Daemon d(alua_options());
  Client c(d.socket_path());
  constexpr int kInvalid = STMF_ERROR_INVALID_ARG;
  CHECK(code(c, "set-alua-state") == kInvalid);                                      // enabled missing
  CHECK(code(c, "set-alua-state", {{"node", 0}}) == kInvalid);                       // enabled missing
  CHECK(code(c, "set-alua-state", {{"enabled", "true"}, {"node", 0}}) == kInvalid);  // not a bool
  CHECK(code(c, "set-alua-state", {{"enabled", 1}, {"node", 0}}) == kInvalid);
  CHECK(code(c, "set-alua-state", {{"enabled", nullptr}}) == kInvalid);
  CHECK(code(c, "set-alua-state", {{"enabled", true}}) == kInvalid);  // node missing
  CHECK(code(c, "set-alua-state", {{"enabled", true}, {"node", nullptr}}) == kInvalid);
  CHECK(code(c, "set-alua-state", {{"enabled", true}, {"node", "x"}}) == kInvalid);
  CHECK(code(c, "set-alua-state", {{"enabled", true}, {"node", "1"}}) == kInvalid);
  CHECK(code(c, "set-alua-state", {{"enabled", true}, {"node", 2}}) == kInvalid);
  CHECK(code(c, "set-alua-state", {{"enabled", true}, {"node", -1}}) == kInvalid);
  CHECK(code(c, "set-alua-state", {{"enabled", true}, {"node", 0.5}}) == kInvalid);
  CHECK(code(c, "set-alua-state", {{"enabled", true}, {"node", 4294967296ULL}}) == kInvalid);
  {
    json r;
    auto s = c.call("set-alua-state", {{"enabled", true}, {"node", 2}}, r);
    CHECK(s.code == kInvalid);
    CHECK_THAT(s.message, Catch::Contains("node must be 0 or 1"));
  }

  // Nothing changed; the runtime fields come with the configuration's enabled and node.
  json st = ok(c, "get-alua-state");
  CHECK(st["enabled"] == false);
  CHECK(st["node"] == 0);
  CHECK(st["link"] == "disabled");
  CHECK(st["carrier"] == "tcp");
  CHECK(st["door_installed"] == false);
  CHECK(st["forwarded_tasks"] == 0);
  CHECK(st["served_tasks"] == 0);
  CHECK(st["pending_tasks"] == 0);
  CHECK(st["standby_lus"] == 0);
  CHECK(st["target_port_group"] == 1);
  CHECK(st["peer_target_port_group"].is_null());
  CHECK_FALSE(st.contains("last_link_error"));  // the link never went down

  // Disabling ignores any node (even a malformed one) and keeps the stored node.
  ok(c, "set-alua-state", {{"enabled", true}, {"node", 1}});
  st = ok(c, "get-alua-state");
  CHECK(st["enabled"] == true);
  CHECK(st["node"] == 1);
  CHECK(st["link"] == "down");  // node 1 listens; nothing connects
  CHECK(st["target_port_group"] == 2);
  CHECK(st.contains("peer_target_port_group"));
  CHECK(ok(c, "export")["config"]["alua"]["enabled"] == true);
  CHECK(ok(c, "export")["config"]["alua"]["node"] == 1);
  ok(c, "set-alua-state", {{"enabled", false}, {"node", "x"}});
  st = ok(c, "get-alua-state");
  CHECK(st["enabled"] == false);
  CHECK(st["node"] == 1);
  CHECK(st["link"] == "disabled");
  ok(c, "set-alua-state", {{"enabled", false}, {"node", 7}});
  CHECK(ok(c, "get-alua-state")["node"] == 1);

  // This node's LUs stay active whatever the ALUA state.
  const std::string guid = ok(c, "list-lu")["lus"][0];
  CHECK(ok(c, "get-lu", {{"guid", guid}})["lu"]["access_state"] == "active");
  ok(c, "set-alua-state", {{"enabled", true}, {"node", 0}});
  CHECK(ok(c, "get-lu", {{"guid", guid}})["lu"]["access_state"] == "active");
}

TEST_CASE("set-alua-state needs privilege, get-alua-state does not", "[management][alua]") {
  require_second_uid();
  Daemon d(alua_options());
  CHECK(call_as_nobody(d.socket_path(), "get-alua-state", json::object()) == STMF_STATUS_SUCCESS);
  CHECK(call_as_nobody(d.socket_path(), "set-alua-state", {{"enabled", true}, {"node", 1}}) == STMF_ERROR_PERM);
  CHECK(call_as_nobody(d.socket_path(), "set-alua-state", {{"enabled", false}}) == STMF_ERROR_PERM);
  Client c(d.socket_path());
  CHECK(ok(c, "get-alua-state")["enabled"] == false);
}

TEST_CASE("CHAP changes apply to the next login at once: initiators' secrets, auth method, discovery auth",
          "[management][chap]") {
  DaemonOptions o;
  o.target_json_extra = R"("auth": "chap", )";
  Daemon d(o);
  Client c(d.socket_path());
  const std::string s1 = "node1-secret-01", s2 = "node1-secret-02";
  auto chap_login = [&](const char* initiator, const std::string& user, const std::string& secret) {
    Ctx ctx(initiator);
    if (!user.empty()) iscsi_set_initiator_username_pwd(ctx, user.c_str(), secret.c_str());
    return login(ctx, d);
  };
  auto discover = [&](const char* initiator, const std::string& secret) {
    Ctx ctx(initiator);
    iscsi_set_session_type(ctx, ISCSI_SESSION_DISCOVERY);
    iscsi_set_timeout(ctx, 10);
    if (!secret.empty()) iscsi_set_initiator_username_pwd(ctx, initiator, secret.c_str());
    if (iscsi_connect_sync(ctx, d.portal().c_str()) != 0 || iscsi_login_sync(ctx) != 0) return false;
    auto* a = iscsi_discovery_sync(ctx);
    if (!a) return false;
    iscsi_free_discovery_data(ctx, a);
    return true;
  };
  // CHAP required, nobody has a secret yet.
  CHECK_FALSE(chap_login(kI1, kI1, s1));
  CHECK_FALSE(chap_login(kI1, "", ""));
  REQUIRE(c.call("create-initiator", {{"initiator", {{"name", kI1}, {"chap_secret", s1}}}}).ok());
  CHECK(chap_login(kI1, kI1, s1));
  CHECK_FALSE(chap_login(kI2, kI1, s1));  // node2 has no secret of its own
  REQUIRE(c.call("modify-initiator", {{"name", kI1}, {"chap_secret", s2}, {"chap_user", "n1"}}).ok());
  CHECK_FALSE(chap_login(kI1, kI1, s1));
  CHECK_FALSE(chap_login(kI1, kI1, s2));  // the CHAP name changed too
  CHECK(chap_login(kI1, "n1", s2));
  // The target stops requiring CHAP; then it follows the default again.
  REQUIRE(c.call("modify-target", {{"name", d.iqn()}, {"auth", "none"}}).ok());
  CHECK(chap_login(kI2, "", ""));
  REQUIRE(c.call("modify-target", {{"name", d.iqn()}, {"auth", "default"}}).ok());
  CHECK(chap_login(kI2, "", ""));  // default_auth is none
  REQUIRE(c.call("modify-defaults", {{"default_auth", "chap"}}).ok());
  CHECK_FALSE(chap_login(kI2, "", ""));
  CHECK(chap_login(kI1, "n1", s2));
  // Discovery authentication.
  CHECK(discover(kI2, ""));
  REQUIRE(c.call("modify-defaults", {{"discovery_auth", "chap"}}).ok());
  CHECK_FALSE(discover(kI2, ""));
  REQUIRE(c.call("modify-initiator", {{"name", kI1}, {"chap_user", nullptr}}).ok());
  CHECK(discover(kI1, s2));
  REQUIRE(c.call("delete-initiator", {{"name", kI1}}).ok());
  CHECK_FALSE(discover(kI1, s2));
  CHECK_FALSE(chap_login(kI1, kI1, s2));
}

namespace {
size_t open_fds(pid_t pid) {
  size_t n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) ++n;
  return n;
}
}  // namespace

TEST_CASE("create-lu/delete-lu of an iscsi store LU at runtime: served, listed without its secret, refused on a block "
          "size mismatch, and deleting it leaves no descriptor behind", "[management][iscsi_store]") {
  Daemon san;
  Daemon d;
  Client c(d.socket_path());
  // CHAP offered; the SAN (auth none) answers AuthMethod=None.
  const json backend = {{"url", san.url()},
                        {"initiator", "iqn.2026-12.org.example:mgmt-front"},
                        {"chap", {{"user", "front"}, {"secret", "0123456789abcdef"}}}};
  // 4096-byte LU over a 512-byte backend: refused with the block-size code and the reason.
  {
    json r;
    auto s = c.call("create-lu", {{"lu", {{"store", "iscsi"}, {"block_size", 4096}, {"backend", backend}}}}, r);
    CHECK(s.code == STMF_ERROR_INVALID_BLKSIZE);
    CHECK(s.message.find("512-byte blocks") != std::string::npos);
  }
  const size_t fds_before = open_fds(d.pid());
  for (int round = 0; round < 6; ++round) {  // a descriptor leaked per LU would show as 6
    const std::string guid = ok(c, "create-lu", {{"lu", {{"store", "iscsi"}, {"name", "san"}, {"backend", backend}}}})["guid"];
    auto lu = ok(c, "get-lu", {{"guid", guid}});
    INFO(lu.dump());
    CHECK(lu["lu"]["store"] == "iscsi");
    CHECK(lu["lu"]["size"] == 64u << 20);  // the backend's capacity
    CHECK(lu["lu"]["backend"]["url"] == san.url());
    CHECK(lu["lu"]["backend"]["chap"]["secret"] == "set");
    ok(c, "add-view", {{"guid", guid}, {"lun", 7}});
    {
      Ctx ctx(kI1);
      REQUIRE(login(ctx, d));
      Task cap(nullptr);
      for (int i = 0; i < 3; ++i) {
        Task t(iscsi_readcapacity16_sync(ctx, 7));
        REQUIRE(t);
        if (t->status == SCSI_STATUS_GOOD) {
          auto* rc = static_cast<scsi_readcapacity16*>(scsi_datain_unmarshall(t.t));
          REQUIRE(rc);
          CHECK(rc->returned_lba + 1 == (64u << 20) / 512);
          break;
        }
      }
    }
    ok(c, "delete-lu", {{"guid", guid}});
  }
  // The stores' backend connections are gone with them (a bound, with margin for the sockets above).
  // Closing is posted to the I/O thread: wait for it (up to 10 s), the count decides.
  for (int i = 0; i < 100 && open_fds(d.pid()) > fds_before + 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(open_fds(d.pid()) <= fds_before + 2);
}
