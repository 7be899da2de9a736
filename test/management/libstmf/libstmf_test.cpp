// libstmf against a real stmfd: every function, its results and its error codes.
#include <catch2/catch.hpp>

extern "C" {
#include <iscsi/iscsi.h>
}

#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <libstmf.h>
#include "test/integration/daemon.h"
#include "test/integration/second_uid.h"

// test/management/libstmf/seed002_offline_target.c (C99, linked to libstmf).
extern "C" int seed002_offline_target(const char* iqn, unsigned timeout_s, char* why, size_t why_len);

using stmf::test::Daemon;
using stmf::test::become_second_uid;
using stmf::test::require_second_uid;

namespace {

// Points libstmf at the daemon under test.
void use(const Daemon& d) { ::setenv("STMFD_SOCKET", d.socket_path().c_str(), 1); }
void use_nowhere() { ::setenv("STMFD_SOCKET", "/nonexistent-dir/stmfd.sock", 1); }

// Frees a libstmf list when it goes out of scope.
template <class T>
struct Owned {
  T* p = nullptr;
  Owned() = default;
  Owned(const Owned&) = delete;
  ~Owned() { reset(); }
  void reset() {
    if (p) stmfFreeMemory(p);
    p = nullptr;
  }
  T** out() {
    reset();
    return &p;
  }
  T* operator->() const { return p; }
};

struct Group {
  stmfGroupName v;
  explicit Group(const std::string& s) {
    std::memset(v, 0, sizeof v);
    std::snprintf(v, sizeof v, "%s", s.c_str());
  }
  stmfGroupName* operator&() { return &v; }
};

stmfDevid devid(const std::string& name) {
  stmfDevid d;
  std::string copy = name;
  REQUIRE(stmfDevidFromIscsiName(copy.data(), &d) == STMF_STATUS_SUCCESS);
  return d;
}

std::string str(const stmfDevid& d) { return std::string(reinterpret_cast<const char*>(d.ident), d.identLength); }

std::string hex(const stmfGuid& g) {
  char b[33];
  for (int i = 0; i < 16; ++i) std::snprintf(b + 2 * i, 3, "%02X", g.guid[i]);
  return b;
}

bool same(const stmfGuid& a, const stmfGuid& b) { return std::memcmp(a.guid, b.guid, 16) == 0; }

struct LuRes {
  luResource h = nullptr;
  LuRes() { REQUIRE(stmfCreateLuResource(STMF_DISK, &h) == STMF_STATUS_SUCCESS); }
  ~LuRes() {
    if (h) stmfFreeLuResource(h);
  }
  int set(uint32_t p, const std::string& v) { return stmfSetLuProp(h, p, v.c_str()); }
};

// A property of a resource ("<error 0x...>" when the call fails).
std::string prop(luResource h, uint32_t p) {
  char buf[1024];
  size_t len = sizeof buf;
  int ret = stmfGetLuProp(h, p, buf, &len);
  if (ret != STMF_STATUS_SUCCESS) {
    char e[32];
    std::snprintf(e, sizeof e, "<error 0x%x>", ret);
    return e;
  }
  return buf;
}

std::string lu_prop(stmfGuid g, uint32_t p) {
  luResource h = nullptr;
  int ret = stmfGetLuResource(&g, &h);
  if (ret != STMF_STATUS_SUCCESS) {
    char e[32];
    std::snprintf(e, sizeof e, "<error 0x%x>", ret);
    return e;
  }
  std::string v = prop(h, p);
  stmfFreeLuResource(h);
  return v;
}

// Creates a file LU on `path` (created by the daemon when missing).
int create_lu(const std::string& path, stmfGuid* g, const char* size = "16m", const char* alias = nullptr) {
  LuRes r;
  REQUIRE(r.set(STMF_LU_PROP_FILENAME, path) == STMF_STATUS_SUCCESS);
  if (size) REQUIRE(r.set(STMF_LU_PROP_SIZE, size) == STMF_STATUS_SUCCESS);
  if (alias) REQUIRE(r.set(STMF_LU_PROP_ALIAS, alias) == STMF_STATUS_SUCCESS);
  return stmfCreateLu(r.h, g);
}

void make_file(const std::string& path, off_t size) {
  int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::ftruncate(fd, size) == 0);
  ::close(fd);
}

bool lu_listed(const stmfGuid& g) {
  Owned<stmfGuidList> l;
  REQUIRE(stmfGetLogicalUnitList(l.out()) == STMF_STATUS_SUCCESS);
  for (uint32_t i = 0; i < l->cnt; ++i)
    if (same(l->guid[i], g)) return true;
  return false;
}

bool group_listed(bool host, const std::string& name) {
  Owned<stmfGroupList> l;
  REQUIRE((host ? stmfGetHostGroupList(l.out()) : stmfGetTargetGroupList(l.out())) == STMF_STATUS_SUCCESS);
  for (uint32_t i = 0; i < l->cnt; ++i)
    if (name == l->name[i]) return true;
  return false;
}

std::vector<std::string> members(bool host, const std::string& name) {
  Owned<stmfGroupProperties> p;
  Group g(name);
  int ret = host ? stmfGetHostGroupMembers(&g, p.out()) : stmfGetTargetGroupMembers(&g, p.out());
  REQUIRE(ret == STMF_STATUS_SUCCESS);
  std::vector<std::string> v;
  for (uint32_t i = 0; i < p->cnt; ++i) v.push_back(str(p->name[i]));
  return v;
}

uint32_t decode_lun(const uchar_t n[8]) { return (uint32_t(n[0] & 0x3f) << 8) | n[1]; }

stmfViewEntry view(const char* hg, const char* tg, int lun = -1) {
  stmfViewEntry ve;
  std::memset(&ve, 0, sizeof ve);
  ve.allHosts = hg ? B_FALSE : B_TRUE;
  if (hg) std::snprintf(ve.hostGroup, sizeof ve.hostGroup, "%s", hg);
  ve.allTargets = tg ? B_FALSE : B_TRUE;
  if (tg) std::snprintf(ve.targetGroup, sizeof ve.targetGroup, "%s", tg);
  if (lun >= 0) {
    ve.luNbrValid = B_TRUE;
    if (lun < 256) {
      ve.luNbr[1] = uchar_t(lun);
    } else {
      ve.luNbr[0] = uchar_t(0x40 | (lun >> 8));
      ve.luNbr[1] = uchar_t(lun & 0xff);
    }
  }
  return ve;
}

// An "alua" configuration object (top_json_extra) whose listen and peer addresses are unused
// loopback ports: enabling ALUA then starts a link that nothing answers.
std::string alua_json(const std::string& extra = "") {
  return "\"alua\": {\"listen\": \"127.0.0.1:" + std::to_string(stmf::test::free_port()) + "\", \"peer\": \"127.0.0.1:" +
         std::to_string(stmf::test::free_port()) + "\", \"insecure\": true" + extra + "}, ";
}

stmf::test::DaemonOptions alua_options(const std::string& extra = "") {
  stmf::test::DaemonOptions o;
  o.top_json_extra = alua_json(extra);
  return o;
}

// stmfGetAluaState as "B_TRUE 1" / "B_FALSE 0" (REQUIREs success). Called twice with different
// initial values, so a field the call leaves alone shows up as a mismatch.
std::string alua_state() {
  std::string r[2];
  for (int i = 0; i < 2; ++i) {
    boolean_t enabled = i ? B_TRUE : B_FALSE;
    uint32_t node = i ? 12345 : 54321;
    REQUIRE(stmfGetAluaState(&enabled, &node) == STMF_STATUS_SUCCESS);
    r[i] = std::string(enabled == B_TRUE ? "B_TRUE " : "B_FALSE ") + std::to_string(node);
  }
  return r[0] == r[1] ? r[0] : r[0] + " / " + r[1];
}

uint16_t target_status(const Daemon& d) {
  stmfDevid t = devid(d.iqn());
  stmfTargetProperties p;
  REQUIRE(stmfGetTargetProperties(&t, &p) == STMF_STATUS_SUCCESS);
  return p.status;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

TEST_CASE("libstmf: device ids without a daemon", "[libstmf]") {
  use_nowhere();
  stmfDevid d;
  char iqn[] = "iqn.2026-11.org.example:host-a";
  REQUIRE(stmfDevidFromIscsiName(iqn, &d) == STMF_STATUS_SUCCESS);
  CHECK(d.identLength == std::strlen(iqn));
  CHECK(str(d) == iqn);
  char eui[] = "eui.0123456789ABCDEF";
  CHECK(stmfDevidFromIscsiName(eui, &d) == STMF_STATUS_SUCCESS);
  char naa[] = "naa.600144F0AABBCCDD";
  CHECK(stmfDevidFromIscsiName(naa, &d) == STMF_STATUS_SUCCESS);
  char bad[] = "host-a";
  CHECK(stmfDevidFromIscsiName(bad, &d) == STMF_ERROR_INVALID_ARG);
  char prefix_only[] = "iqn.";
  CHECK(stmfDevidFromIscsiName(prefix_only, &d) == STMF_ERROR_INVALID_ARG);
  std::string longname = "iqn.2026-11.org.example:" + std::string(200, 'x');  // 224 > 223
  CHECK(stmfDevidFromIscsiName(longname.data(), &d) == STMF_ERROR_INVALID_ARG);
  std::string maxname = "iqn.2026-11.org.example:" + std::string(199, 'x');  // 223
  CHECK(stmfDevidFromIscsiName(maxname.data(), &d) == STMF_STATUS_SUCCESS);
  CHECK(d.identLength == 223);
  CHECK(stmfDevidFromIscsiName(nullptr, &d) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfDevidFromIscsiName(iqn, nullptr) == STMF_ERROR_INVALID_ARG);

  uchar_t wwn[8] = {0x21, 0x00, 0x00, 0x24, 0xff, 0x31, 0x42, 0x5a};
  REQUIRE(stmfDevidFromWwn(wwn, &d) == STMF_STATUS_SUCCESS);
  CHECK(str(d) == "wwn.21000024FF31425A");
  CHECK(stmfDevidFromWwn(nullptr, &d) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfDevidFromWwn(wwn, nullptr) == STMF_ERROR_INVALID_ARG);
  stmfFreeMemory(nullptr);
}

TEST_CASE("libstmf: LU resource properties are validated like COMSTAR", "[libstmf]") {
  use_nowhere();  // nothing here may need the daemon
  luResource h = nullptr;
  CHECK(stmfCreateLuResource(1, &h) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfCreateLuResource(STMF_DISK, nullptr) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfFreeLuResource(nullptr) == STMF_ERROR_INVALID_ARG);
  LuRes r;

  CHECK(prop(r.h, STMF_LU_PROP_ALIAS) == "<error 0x8014>");  // NO_PROP
  CHECK(r.set(STMF_LU_PROP_ALIAS, "db-volume") == STMF_STATUS_SUCCESS);
  CHECK(prop(r.h, STMF_LU_PROP_ALIAS) == "db-volume");
  CHECK(r.set(STMF_LU_PROP_ALIAS, std::string(255, 'a')) == STMF_STATUS_SUCCESS);
  CHECK(r.set(STMF_LU_PROP_ALIAS, std::string(256, 'a')) == STMF_ERROR_INVALID_PROPSIZE);

  CHECK(r.set(STMF_LU_PROP_SIZE, "1g") == STMF_STATUS_SUCCESS);
  CHECK(prop(r.h, STMF_LU_PROP_SIZE) == "1073741824");
  CHECK(r.set(STMF_LU_PROP_SIZE, "512M") == STMF_STATUS_SUCCESS);
  CHECK(prop(r.h, STMF_LU_PROP_SIZE) == "536870912");
  CHECK(r.set(STMF_LU_PROP_SIZE, "1.5k") == STMF_STATUS_SUCCESS);
  CHECK(prop(r.h, STMF_LU_PROP_SIZE) == "1536");
  CHECK(r.set(STMF_LU_PROP_SIZE, "2GiB") == STMF_STATUS_SUCCESS);
  CHECK(prop(r.h, STMF_LU_PROP_SIZE) == "2147483648");
  CHECK(r.set(STMF_LU_PROP_SIZE, "1048576") == STMF_STATUS_SUCCESS);
  CHECK(prop(r.h, STMF_LU_PROP_SIZE) == "1048576");
  CHECK(r.set(STMF_LU_PROP_SIZE, "big") == STMF_ERROR_INVALID_ARG);
  CHECK(r.set(STMF_LU_PROP_SIZE, "10q") == STMF_ERROR_INVALID_ARG);
  CHECK(r.set(STMF_LU_PROP_SIZE, "99999999999999999999") == STMF_ERROR_INVALID_ARG);
  CHECK(r.set(STMF_LU_PROP_SIZE, "16777216T") == STMF_ERROR_INVALID_ARG);  // 2^64: overflow
  CHECK(prop(r.h, STMF_LU_PROP_SIZE) == "1048576");                         // unchanged

  CHECK(r.set(STMF_LU_PROP_BLOCK_SIZE, "4096") == STMF_STATUS_SUCCESS);
  CHECK(prop(r.h, STMF_LU_PROP_BLOCK_SIZE) == "4096");
  CHECK(r.set(STMF_LU_PROP_BLOCK_SIZE, "4k") == STMF_ERROR_INVALID_ARG);
  CHECK(r.set(STMF_LU_PROP_BLOCK_SIZE, "70000") == STMF_ERROR_INVALID_PROPSIZE);

  CHECK(r.set(STMF_LU_PROP_GUID, "600144f0aabbccddeeff001122334455") == STMF_STATUS_SUCCESS);
  CHECK(prop(r.h, STMF_LU_PROP_GUID) == "600144F0AABBCCDDEEFF001122334455");
  CHECK(r.set(STMF_LU_PROP_GUID, "600144F0") == STMF_ERROR_INVALID_PROPSIZE);
  CHECK(r.set(STMF_LU_PROP_GUID, "600144F0AABBCCDDEEFF00112233445Z") == STMF_ERROR_INVALID_ARG);

  CHECK(r.set(STMF_LU_PROP_VID, "ACME") == STMF_STATUS_SUCCESS);
  CHECK(r.set(STMF_LU_PROP_VID, "ACMEACME9") == STMF_ERROR_INVALID_PROPSIZE);
  CHECK(r.set(STMF_LU_PROP_PID, std::string(16, 'p')) == STMF_STATUS_SUCCESS);
  CHECK(r.set(STMF_LU_PROP_PID, std::string(17, 'p')) == STMF_ERROR_INVALID_PROPSIZE);
  CHECK(r.set(STMF_LU_PROP_SERIAL_NUM, std::string(252, 's')) == STMF_STATUS_SUCCESS);
  CHECK(r.set(STMF_LU_PROP_SERIAL_NUM, std::string(253, 's')) == STMF_ERROR_INVALID_PROPSIZE);
  CHECK(r.set(STMF_LU_PROP_MGMT_URL, "http://mgmt.example/") == STMF_STATUS_SUCCESS);
  CHECK(r.set(STMF_LU_PROP_MGMT_URL, std::string(1024, 'u')) == STMF_ERROR_INVALID_PROPSIZE);

  CHECK(r.set(STMF_LU_PROP_WRITE_PROTECT, "TRUE") == STMF_STATUS_SUCCESS);
  CHECK(prop(r.h, STMF_LU_PROP_WRITE_PROTECT) == "true");
  CHECK(r.set(STMF_LU_PROP_WRITE_CACHE_DISABLE, "false") == STMF_STATUS_SUCCESS);
  CHECK(prop(r.h, STMF_LU_PROP_WRITE_CACHE_DISABLE) == "false");
  CHECK(r.set(STMF_LU_PROP_WRITE_PROTECT, "yes") == STMF_ERROR_INVALID_ARG);

  CHECK(r.set(STMF_LU_PROP_ACCESS_STATE, "0") == STMF_ERROR_INVALID_PROP);
  CHECK(r.set(STMF_LU_PROP_COMPANY_ID, "00144F") == STMF_ERROR_INVALID_PROP);
  CHECK(r.set(STMF_LU_PROP_HOST_ID, "0A0B0C0D") == STMF_ERROR_INVALID_PROP);
  CHECK(r.set(STMF_LU_PROP_META_FILENAME, "/tmp/meta") == STMF_ERROR_INVALID_PROP);
  CHECK(r.set(9999, "x") == STMF_ERROR_INVALID_PROP);
  CHECK(stmfSetLuProp(r.h, STMF_LU_PROP_ALIAS, nullptr) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfSetLuProp(nullptr, STMF_LU_PROP_ALIAS, "x") == STMF_ERROR_INVALID_ARG);

  CHECK(prop(r.h, STMF_LU_PROP_META_FILENAME) == "<error 0x8014>");  // NO_PROP
  CHECK(prop(r.h, STMF_LU_PROP_COMPANY_ID) == "<error 0x8020>");     // INVALID_PROP

  // A buffer too small: INVALID_ARG and the length needed.
  char small[4];
  size_t len = sizeof small;
  CHECK(stmfGetLuProp(r.h, STMF_LU_PROP_ALIAS, small, &len) == STMF_ERROR_INVALID_ARG);
  CHECK(len == 256);
  CHECK(stmfGetLuProp(r.h, STMF_LU_PROP_ALIAS, nullptr, &len) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfGetLuProp(r.h, STMF_LU_PROP_ALIAS, small, nullptr) == STMF_ERROR_INVALID_ARG);

  // Relative file names are made absolute (the daemon has another working directory).
  CHECK(r.set(STMF_LU_PROP_FILENAME, "lu.img") == STMF_STATUS_SUCCESS);
  CHECK(prop(r.h, STMF_LU_PROP_FILENAME).front() == '/');

  // No file name: refused before the daemon is asked.
  LuRes nofile;
  stmfGuid g;
  CHECK(stmfCreateLu(nofile.h, &g) == STMF_ERROR_MISSING_PROP_VAL);
  CHECK(stmfCreateLu(nullptr, &g) == STMF_ERROR_INVALID_ARG);
}

TEST_CASE("libstmf: invalid arguments are refused without the daemon, no daemon is SERVICE_NOT_FOUND",
          "[libstmf]") {
  use_nowhere();
  stmfGuid g{};
  stmfDevid t = devid("iqn.2026-11.org.example:t");
  Group hg("hg");
  stmfDevid empty;
  std::memset(&empty, 0, sizeof empty);
  stmfGroupName unterminated;
  std::memset(unterminated, 'x', sizeof unterminated);
  Group blank("");

  CHECK(stmfGetState(nullptr) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfGetLogicalUnitList(nullptr) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfGetLogicalUnitProperties(nullptr, nullptr) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfGetLogicalUnitProperties(&g, nullptr) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfGetLuResource(&g, nullptr) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfOnlineLogicalUnit(nullptr) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfOfflineLogicalUnit(nullptr) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfDeleteLu(nullptr) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfImportLu(STMF_DISK, nullptr, &g) == STMF_ERROR_INVALID_ARG);
  char f[] = "/tmp/x.img";
  CHECK(stmfImportLu(7, f, &g) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfModifyLu(nullptr, STMF_LU_PROP_ALIAS, "a") == STMF_ERROR_INVALID_ARG);
  CHECK(stmfModifyLu(&g, STMF_LU_PROP_ALIAS, nullptr) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfModifyLu(&g, STMF_LU_PROP_BLOCK_SIZE, "512") == STMF_ERROR_INVALID_PROP);
  CHECK(stmfModifyLu(&g, STMF_LU_PROP_GUID, "600144F0AABBCCDDEEFF001122334455") == STMF_ERROR_INVALID_PROP);
  CHECK(stmfModifyLu(&g, STMF_LU_PROP_SIZE, "huge") == STMF_ERROR_INVALID_ARG);
  CHECK(stmfModifyLu(&g, STMF_LU_PROP_ALIAS, std::string(300, 'a').c_str()) == STMF_ERROR_INVALID_PROPSIZE);
  CHECK(stmfModifyLuByFname(STMF_DISK, nullptr, STMF_LU_PROP_ALIAS, "a") == STMF_ERROR_INVALID_ARG);
  CHECK(stmfModifyLuByFname(3, f, STMF_LU_PROP_ALIAS, "a") == STMF_ERROR_INVALID_ARG);
  CHECK(stmfCreateHostGroup(nullptr) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfCreateHostGroup(&unterminated) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfCreateTargetGroup(&blank) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfDeleteHostGroup(nullptr) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfDeleteTargetGroup(nullptr) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfAddToHostGroup(&hg, nullptr) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfAddToHostGroup(&hg, &empty) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfAddToTargetGroup(nullptr, &t) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfRemoveFromHostGroup(&hg, nullptr) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfRemoveFromTargetGroup(nullptr, &t) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfGetHostGroupList(nullptr) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfGetTargetGroupList(nullptr) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfGetHostGroupMembers(&hg, nullptr) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfGetTargetGroupMembers(nullptr, nullptr) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfAddViewEntry(&g, nullptr) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfAddViewEntry(nullptr, nullptr) == STMF_ERROR_INVALID_ARG);
  stmfViewEntry ve = view(nullptr, nullptr);
  ve.luNbrValid = B_TRUE;
  ve.luNbr[0] = 0x80;  // extended addressing: not supported
  CHECK(stmfAddViewEntry(&g, &ve) == STMF_ERROR_INVALID_ARG);
  CHECK(ve.veIndexValid == B_FALSE);
  ve = view("", nullptr, 1);
  CHECK(stmfAddViewEntry(&g, &ve) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfRemoveViewEntry(nullptr, 0) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfGetViewEntryList(&g, nullptr) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfGetTargetList(nullptr) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfGetTargetProperties(&t, nullptr) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfGetTargetProperties(&empty, nullptr) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfOnlineTarget(nullptr) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfOfflineTarget(&empty) == STMF_ERROR_NOT_FOUND);  // illumos: no such target
  CHECK(stmfOfflineTarget(nullptr) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfGetSessionList(&t, nullptr) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfGetSessionList(nullptr, nullptr) == STMF_ERROR_INVALID_ARG);

  // Well-formed calls reach for the daemon, which is not there.
  stmfState st;
  CHECK(stmfGetState(&st) == STMF_ERROR_SERVICE_NOT_FOUND);
  CHECK(stmfOnline() == STMF_ERROR_SERVICE_NOT_FOUND);
  CHECK(stmfOffline() == STMF_ERROR_SERVICE_NOT_FOUND);
  CHECK(stmfCreateHostGroup(&hg) == STMF_ERROR_SERVICE_NOT_FOUND);
  Owned<stmfGroupList> gl;
  CHECK(stmfGetHostGroupList(gl.out()) == STMF_ERROR_SERVICE_NOT_FOUND);
  CHECK(gl.p == nullptr);
  Owned<stmfGuidList> ll;
  CHECK(stmfGetLogicalUnitList(ll.out()) == STMF_ERROR_SERVICE_NOT_FOUND);
  Owned<stmfDevidList> tl;
  CHECK(stmfGetTargetList(tl.out()) == STMF_ERROR_SERVICE_NOT_FOUND);
  CHECK(stmfOfflineTarget(&t) == STMF_ERROR_SERVICE_NOT_FOUND);
  CHECK(stmfDeleteLu(&g) == STMF_ERROR_SERVICE_NOT_FOUND);
  CHECK(create_lu("/tmp/libstmf-nowhere.img", &g) == STMF_ERROR_SERVICE_NOT_FOUND);
}

TEST_CASE("libstmf: a daemon that stopped is SERVICE_NOT_FOUND", "[libstmf]") {
  Daemon d;
  use(d);
  stmfState st;
  REQUIRE(stmfGetState(&st) == STMF_STATUS_SUCCESS);
  REQUIRE(d.terminate(15) == 0);
  CHECK(stmfGetState(&st) == STMF_ERROR_SERVICE_NOT_FOUND);
  Group g("after-stop");
  CHECK(stmfCreateHostGroup(&g) == STMF_ERROR_SERVICE_NOT_FOUND);
  Owned<stmfGroupList> l;
  CHECK(stmfGetHostGroupList(l.out()) == STMF_ERROR_SERVICE_NOT_FOUND);
}

namespace {
// A socket that answers every request line with `reply` (one connection at a time, until
// `calls` requests are answered): a daemon that speaks something else.
struct FakeDaemon {
  std::string path;
  int fd = -1;
  std::thread t;
  FakeDaemon(std::vector<std::string> replies) {
    path = "/tmp/libstmf-fake-" + std::to_string(::getpid()) + ".sock";
    ::unlink(path.c_str());
    fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 4) == 0);
    t = std::thread([this, replies] {
      for (const auto& r : replies) {
        int c = ::accept(fd, nullptr, nullptr);
        if (c < 0) return;
        char buf[4096];
        std::string got;
        while (got.find('\n') == std::string::npos) {
          ssize_t n = ::read(c, buf, sizeof buf);
          if (n <= 0) break;
          got.append(buf, size_t(n));
        }
        (void)!::write(c, r.data(), r.size());
        ::close(c);
      }
    });
  }
  ~FakeDaemon() {
    ::shutdown(fd, SHUT_RDWR);
    t.join();
    ::close(fd);
    ::unlink(path.c_str());
  }
};
}  // namespace

TEST_CASE("libstmf: a malformed or unexpected response is STMF_STATUS_ERROR", "[libstmf]") {
  // docs/libstmf.md "Errors": not INVALID_ARG, which means the caller's argument was bad.
  FakeDaemon fake({"not json\n", "[1, 2]\n", "{\"status\": \"zero\"}\n", "{\"status\": 0}\n"});
  ::setenv("STMFD_SOCKET", fake.path.c_str(), 1);
  stmfState st;
  CHECK(stmfGetState(&st) == STMF_STATUS_ERROR);  // not JSON
  CHECK(stmfGetState(&st) == STMF_STATUS_ERROR);  // not an object
  CHECK(stmfGetState(&st) == STMF_STATUS_ERROR);  // no integer status
  boolean_t e = B_FALSE;
  uint32_t n = 0;
  CHECK(stmfGetAluaState(&e, &n) == STMF_STATUS_SUCCESS);  // well formed: the fake is reachable
  use_nowhere();
}

TEST_CASE("libstmf: service state, online and offline", "[libstmf]") {
  Daemon d;
  use(d);
  stmfState st{-1, -1};
  REQUIRE(stmfGetState(&st) == STMF_STATUS_SUCCESS);
  CHECK(st.operationalState == STMF_SERVICE_STATE_ONLINE);
  CHECK(st.configState == STMF_CONFIG_STATE_INIT_DONE);
  CHECK(stmfOnline() == STMF_ERROR_SERVICE_ONLINE);

  REQUIRE(stmfOffline() == STMF_STATUS_SUCCESS);
  REQUIRE(stmfGetState(&st) == STMF_STATUS_SUCCESS);
  CHECK(st.operationalState == STMF_SERVICE_STATE_OFFLINE);
  CHECK(stmfOffline() == STMF_ERROR_SERVICE_OFFLINE);

  REQUIRE(stmfOnline() == STMF_STATUS_SUCCESS);
  REQUIRE(stmfGetState(&st) == STMF_STATUS_SUCCESS);
  CHECK(st.operationalState == STMF_SERVICE_STATE_ONLINE);
  CHECK(target_status(d) == STMF_TARGET_PORT_ONLINE);  // its own state was online
}

TEST_CASE("libstmf: create, inspect, modify, offline, delete and import LUs", "[libstmf]") {
  Daemon d;
  use(d);
  const std::string a = d.dir() + "/a.img", b = d.dir() + "/b.img";

  Owned<stmfGuidList> before;
  REQUIRE(stmfGetLogicalUnitList(before.out()) == STMF_STATUS_SUCCESS);
  const uint32_t initial = before->cnt;  // the configuration's LU
  CHECK(initial >= 1);

  // Create with COMSTAR properties.
  stmfGuid g{};
  {
    LuRes r;
    REQUIRE(r.set(STMF_LU_PROP_FILENAME, a) == STMF_STATUS_SUCCESS);
    REQUIRE(r.set(STMF_LU_PROP_SIZE, "32m") == STMF_STATUS_SUCCESS);
    REQUIRE(r.set(STMF_LU_PROP_BLOCK_SIZE, "512") == STMF_STATUS_SUCCESS);
    REQUIRE(r.set(STMF_LU_PROP_ALIAS, "volume-a") == STMF_STATUS_SUCCESS);
    REQUIRE(r.set(STMF_LU_PROP_VID, "ACME") == STMF_STATUS_SUCCESS);
    REQUIRE(r.set(STMF_LU_PROP_PID, "Widget") == STMF_STATUS_SUCCESS);
    REQUIRE(r.set(STMF_LU_PROP_SERIAL_NUM, "SN-0001") == STMF_STATUS_SUCCESS);
    REQUIRE(r.set(STMF_LU_PROP_MGMT_URL, "http://mgmt.example/a") == STMF_STATUS_SUCCESS);
    REQUIRE(r.set(STMF_LU_PROP_WRITE_CACHE_DISABLE, "true") == STMF_STATUS_SUCCESS);
    REQUIRE(r.set(STMF_LU_PROP_WRITE_PROTECT, "false") == STMF_STATUS_SUCCESS);
    REQUIRE(stmfCreateLu(r.h, &g) == STMF_STATUS_SUCCESS);
  }
  const std::string ghex = hex(g);
  INFO("guid " << ghex);
  CHECK(ghex[0] == '6');  // NAA 6
  CHECK(lu_listed(g));
  Owned<stmfGuidList> after;
  REQUIRE(stmfGetLogicalUnitList(after.out()) == STMF_STATUS_SUCCESS);
  CHECK(after->cnt == initial + 1);
  struct stat stbuf;
  REQUIRE(::stat(a.c_str(), &stbuf) == 0);
  CHECK(stbuf.st_size == 32 << 20);

  stmfLogicalUnitProperties lp;
  REQUIRE(stmfGetLogicalUnitProperties(&g, &lp) == STMF_STATUS_SUCCESS);
  CHECK(std::string(lp.alias) == "volume-a");
  CHECK(std::string(reinterpret_cast<char*>(lp.vendor), 8) == "ACME    ");
  CHECK(std::string(reinterpret_cast<char*>(lp.product), 16) == "Widget          ");
  CHECK(lp.status == STMF_LOGICAL_UNIT_ONLINE);
  CHECK(std::string(lp.providerName) == "sbd");
  CHECK(same(lp.luid, g));

  {
    luResource h = nullptr;
    REQUIRE(stmfGetLuResource(&g, &h) == STMF_STATUS_SUCCESS);
    CHECK(prop(h, STMF_LU_PROP_GUID) == ghex);
    CHECK(prop(h, STMF_LU_PROP_FILENAME) == a);
    CHECK(prop(h, STMF_LU_PROP_SIZE) == "33554432");
    CHECK(prop(h, STMF_LU_PROP_BLOCK_SIZE) == "512");
    CHECK(prop(h, STMF_LU_PROP_PBLOCK_SIZE) == "512");
    CHECK(prop(h, STMF_LU_PROP_ALIAS) == "volume-a");
    CHECK(prop(h, STMF_LU_PROP_VID) == "ACME");
    CHECK(prop(h, STMF_LU_PROP_PID) == "Widget");
    CHECK(prop(h, STMF_LU_PROP_SERIAL_NUM) == "SN-0001");
    CHECK(prop(h, STMF_LU_PROP_MGMT_URL) == "http://mgmt.example/a");
    CHECK(prop(h, STMF_LU_PROP_WRITE_CACHE_DISABLE) == "true");
    CHECK(prop(h, STMF_LU_PROP_WRITE_PROTECT) == "false");
    CHECK(prop(h, STMF_LU_PROP_ACCESS_STATE) == STMF_ACCESS_ACTIVE);
    CHECK(prop(h, STMF_LU_PROP_META_FILENAME) == "<error 0x8014>");
    CHECK(stmfFreeLuResource(h) == STMF_STATUS_SUCCESS);
  }

  // Duplicates.
  stmfGuid g2{};
  CHECK(create_lu(a, &g2) == STMF_ERROR_FILE_IN_USE);
  {
    LuRes r;
    REQUIRE(r.set(STMF_LU_PROP_FILENAME, b) == STMF_STATUS_SUCCESS);
    REQUIRE(r.set(STMF_LU_PROP_SIZE, "16m") == STMF_STATUS_SUCCESS);
    REQUIRE(r.set(STMF_LU_PROP_GUID, ghex) == STMF_STATUS_SUCCESS);
    CHECK(stmfCreateLu(r.h, &g2) == STMF_ERROR_GUID_IN_USE);
    REQUIRE(r.set(STMF_LU_PROP_GUID, "600144F0000000000000000000000B0B") == STMF_STATUS_SUCCESS);
    REQUIRE(r.set(STMF_LU_PROP_BLOCK_SIZE, "1000") == STMF_STATUS_SUCCESS);
    CHECK(stmfCreateLu(r.h, &g2) == STMF_ERROR_INVALID_BLKSIZE);
    REQUIRE(r.set(STMF_LU_PROP_BLOCK_SIZE, "4096") == STMF_STATUS_SUCCESS);
    REQUIRE(stmfCreateLu(r.h, &g2) == STMF_STATUS_SUCCESS);
    CHECK(hex(g2) == "600144F0000000000000000000000B0B");
    CHECK(lu_prop(g2, STMF_LU_PROP_BLOCK_SIZE) == "4096");
  }
  CHECK(create_lu("/nonexistent-dir/c.img", &g2) == STMF_ERROR_DATA_FILE_NAME);

  // Modify by GUID and by file name.
  REQUIRE(stmfModifyLu(&g, STMF_LU_PROP_ALIAS, "volume-a2") == STMF_STATUS_SUCCESS);
  CHECK(lu_prop(g, STMF_LU_PROP_ALIAS) == "volume-a2");
  REQUIRE(stmfModifyLu(&g, STMF_LU_PROP_SIZE, "64m") == STMF_STATUS_SUCCESS);
  CHECK(lu_prop(g, STMF_LU_PROP_SIZE) == "67108864");
  CHECK(stmfModifyLu(&g, STMF_LU_PROP_SIZE, "1m") == STMF_ERROR_SIZE_OUT_OF_RANGE);
  CHECK(lu_prop(g, STMF_LU_PROP_SIZE) == "67108864");
  REQUIRE(stmfModifyLu(&g, STMF_LU_PROP_MGMT_URL, "http://mgmt.example/a2") == STMF_STATUS_SUCCESS);
  CHECK(lu_prop(g, STMF_LU_PROP_MGMT_URL) == "http://mgmt.example/a2");
  REQUIRE(stmfModifyLuByFname(STMF_DISK, a.c_str(), STMF_LU_PROP_WRITE_PROTECT, "true") == STMF_STATUS_SUCCESS);
  CHECK(lu_prop(g, STMF_LU_PROP_WRITE_PROTECT) == "true");
  REQUIRE(stmfModifyLuByFname(STMF_DISK, a.c_str(), STMF_LU_PROP_WRITE_CACHE_DISABLE, "false") ==
          STMF_STATUS_SUCCESS);
  CHECK(lu_prop(g, STMF_LU_PROP_WRITE_CACHE_DISABLE) == "false");
  CHECK(stmfModifyLu(&g, STMF_LU_PROP_VID, "OTHER") == STMF_ERROR_INVALID_PROP);
  stmfGuid unknown{};
  unknown.guid[0] = 0x60;
  unknown.guid[15] = 0x99;
  CHECK(stmfModifyLu(&unknown, STMF_LU_PROP_ALIAS, "x") == STMF_ERROR_NOT_FOUND);
  CHECK(stmfModifyLuByFname(STMF_DISK, (d.dir() + "/none.img").c_str(), STMF_LU_PROP_ALIAS, "x") ==
        STMF_ERROR_NOT_FOUND);
  luResource nh = nullptr;
  CHECK(stmfGetLuResource(&unknown, &nh) == STMF_ERROR_NOT_FOUND);
  CHECK(stmfGetLogicalUnitProperties(&unknown, &lp) == STMF_ERROR_NOT_FOUND);

  // Offline and online.
  REQUIRE(stmfOfflineLogicalUnit(&g) == STMF_STATUS_SUCCESS);
  REQUIRE(stmfGetLogicalUnitProperties(&g, &lp) == STMF_STATUS_SUCCESS);
  CHECK(lp.status == STMF_LOGICAL_UNIT_OFFLINE);
  CHECK(stmfOfflineLogicalUnit(&g) == STMF_STATUS_SUCCESS);  // already offline: success
  REQUIRE(stmfOnlineLogicalUnit(&g) == STMF_STATUS_SUCCESS);
  REQUIRE(stmfGetLogicalUnitProperties(&g, &lp) == STMF_STATUS_SUCCESS);
  CHECK(lp.status == STMF_LOGICAL_UNIT_ONLINE);
  CHECK(stmfOnlineLogicalUnit(&unknown) == STMF_ERROR_NOT_FOUND);
  CHECK(stmfOfflineLogicalUnit(&unknown) == STMF_ERROR_NOT_FOUND);

  // Delete, then import the file back: same GUID and properties.
  REQUIRE(stmfDeleteLu(&g) == STMF_STATUS_SUCCESS);
  CHECK_FALSE(lu_listed(g));
  CHECK(stmfGetLogicalUnitProperties(&g, &lp) == STMF_ERROR_NOT_FOUND);
  CHECK(stmfDeleteLu(&g) == STMF_ERROR_NOT_FOUND);
  stmfGuid imported{};
  std::string a_copy = a;
  REQUIRE(stmfImportLu(STMF_DISK, a_copy.data(), &imported) == STMF_STATUS_SUCCESS);
  CHECK(hex(imported) == ghex);
  CHECK(lu_listed(g));
  CHECK(lu_prop(g, STMF_LU_PROP_ALIAS) == "volume-a2");
  CHECK(lu_prop(g, STMF_LU_PROP_SIZE) == "67108864");
  // The same file again: it is in use (and so is its GUID); the file is checked first.
  CHECK(stmfImportLu(STMF_DISK, a_copy.data(), &imported) == STMF_ERROR_FILE_IN_USE);
  // Another file carrying the same LU metadata: only the GUID is in use.
  const std::string twin = d.dir() + "/twin.img";
  make_file(twin, 64 << 20);
  {
    std::vector<char> meta(1 << 20);
    ssize_t n = ::getxattr(a.c_str(), "user.stmf.lu", meta.data(), meta.size());
    INFO("user.stmf.lu on " << a << ": " << (n < 0 ? std::strerror(errno) : "present"));
    REQUIRE(n > 0);
    REQUIRE(::setxattr(twin.c_str(), "user.stmf.lu", meta.data(), size_t(n), 0) == 0);
  }
  std::string twin_copy = twin;
  CHECK(stmfImportLu(STMF_DISK, twin_copy.data(), &imported) == STMF_ERROR_GUID_IN_USE);

  const std::string plain = d.dir() + "/plain.img";
  make_file(plain, 8 << 20);
  std::string plain_copy = plain;
  CHECK(stmfImportLu(STMF_DISK, plain_copy.data(), &imported) == STMF_ERROR_META_FILE_NAME);
  std::string missing = d.dir() + "/missing.img";
  CHECK(stmfImportLu(STMF_DISK, missing.data(), &imported) == STMF_ERROR_DATA_FILE_NAME);

  // A file that exists: size 0 takes the file's size.
  const std::string existing = d.dir() + "/existing.img";
  make_file(existing, 4 << 20);
  stmfGuid g3{};
  REQUIRE(create_lu(existing, &g3, nullptr) == STMF_STATUS_SUCCESS);
  CHECK(lu_prop(g3, STMF_LU_PROP_SIZE) == "4194304");
  REQUIRE(stmfDeleteLu(&g3) == STMF_STATUS_SUCCESS);
  REQUIRE(stmfDeleteLu(&g2) == STMF_STATUS_SUCCESS);
}

TEST_CASE("libstmf: host groups and target groups", "[libstmf]") {
  Daemon d;
  use(d);
  for (bool host : {true, false}) {
    DYNAMIC_SECTION((host ? "host" : "target") << " groups") {
      auto create = host ? stmfCreateHostGroup : stmfCreateTargetGroup;
      auto remove = host ? stmfDeleteHostGroup : stmfDeleteTargetGroup;
      auto add = host ? stmfAddToHostGroup : stmfAddToTargetGroup;
      auto drop = host ? stmfRemoveFromHostGroup : stmfRemoveFromTargetGroup;
      auto get_members = host ? stmfGetHostGroupMembers : stmfGetTargetGroupMembers;
      Group g1("group-one"), g2("group-two"), nope("no-such-group");
      stmfDevid m1 = devid("iqn.2026-11.org.example:Member-One");
      stmfDevid m2 = devid("iqn.2026-11.org.example:member-two");

      CHECK_FALSE(group_listed(host, "group-one"));
      REQUIRE(create(&g1) == STMF_STATUS_SUCCESS);
      CHECK(create(&g1) == STMF_ERROR_EXISTS);
      REQUIRE(create(&g2) == STMF_STATUS_SUCCESS);
      CHECK(group_listed(host, "group-one"));
      CHECK(group_listed(host, "group-two"));
      CHECK(members(host, "group-one").empty());

      REQUIRE(add(&g1, &m1) == STMF_STATUS_SUCCESS);
      REQUIRE(add(&g1, &m2) == STMF_STATUS_SUCCESS);
      CHECK(add(&g1, &m1) == STMF_ERROR_EXISTS);  // already in this group
      CHECK(add(&g2, &m1) == STMF_ERROR_EXISTS);  // a member of another group
      CHECK(add(&nope, &m1) == STMF_ERROR_GROUP_NOT_FOUND);
      auto m = members(host, "group-one");
      std::sort(m.begin(), m.end());
      // iSCSI names compare case-insensitively and are stored lowercase.
      CHECK(m == std::vector<std::string>{"iqn.2026-11.org.example:member-one", "iqn.2026-11.org.example:member-two"});

      Owned<stmfGroupProperties> p;
      CHECK(get_members(&nope, p.out()) == STMF_ERROR_GROUP_NOT_FOUND);
      CHECK(drop(&g2, &m1) == STMF_ERROR_MEMBER_NOT_FOUND);
      CHECK(drop(&nope, &m1) == STMF_ERROR_GROUP_NOT_FOUND);
      REQUIRE(drop(&g1, &m1) == STMF_STATUS_SUCCESS);
      CHECK(members(host, "group-one") == std::vector<std::string>{"iqn.2026-11.org.example:member-two"});
      REQUIRE(add(&g2, &m1) == STMF_STATUS_SUCCESS);  // free again
      CHECK(members(host, "group-two") == std::vector<std::string>{"iqn.2026-11.org.example:member-one"});

      CHECK(remove(&nope) == STMF_ERROR_GROUP_NOT_FOUND);
      REQUIRE(remove(&g1) == STMF_STATUS_SUCCESS);
      CHECK_FALSE(group_listed(host, "group-one"));
      CHECK(group_listed(host, "group-two"));
      CHECK(remove(&g1) == STMF_ERROR_GROUP_NOT_FOUND);
      REQUIRE(remove(&g2) == STMF_STATUS_SUCCESS);
    }
  }
  // WWN device ids are members too.
  Group g("wwn-hosts");
  REQUIRE(stmfCreateHostGroup(&g) == STMF_STATUS_SUCCESS);
  uchar_t wwn[8] = {0x21, 0x00, 0x00, 0x24, 0xff, 0x31, 0x42, 0x5a};
  stmfDevid w;
  REQUIRE(stmfDevidFromWwn(wwn, &w) == STMF_STATUS_SUCCESS);
  REQUIRE(stmfAddToHostGroup(&g, &w) == STMF_STATUS_SUCCESS);
  auto m = members(true, "wwn-hosts");
  REQUIRE(m.size() == 1);
  CHECK(strcasecmp(m[0].c_str(), "wwn.21000024FF31425A") == 0);
}

TEST_CASE("libstmf: view entries, LUN numbers and conflicts", "[libstmf]") {
  Daemon d;
  use(d);
  stmfGuid x{}, y{};
  REQUIRE(create_lu(d.dir() + "/x.img", &x) == STMF_STATUS_SUCCESS);
  REQUIRE(create_lu(d.dir() + "/y.img", &y) == STMF_STATUS_SUCCESS);
  Group hgv("hg-v"), hgw("hg-w"), tgv("tg-v");
  REQUIRE(stmfCreateHostGroup(&hgv) == STMF_STATUS_SUCCESS);
  REQUIRE(stmfCreateHostGroup(&hgw) == STMF_STATUS_SUCCESS);
  REQUIRE(stmfCreateTargetGroup(&tgv) == STMF_STATUS_SUCCESS);

  // Flat-space LUN 300 on host group hg-v, all targets.
  stmfViewEntry a = view("hg-v", nullptr, 300);
  REQUIRE(stmfAddViewEntry(&x, &a) == STMF_STATUS_SUCCESS);
  CHECK(a.veIndexValid == B_TRUE);
  CHECK(a.luNbrValid == B_TRUE);
  const uchar_t lun300[8] = {0x41, 0x2c, 0, 0, 0, 0, 0, 0};
  CHECK(std::memcmp(a.luNbr, lun300, 8) == 0);

  // The same LU again on an overlapping host/target pair.
  stmfViewEntry b = view("hg-v", "tg-v", 301);
  CHECK(stmfAddViewEntry(&x, &b) == STMF_ERROR_VE_CONFLICT);
  CHECK(b.veIndexValid == B_FALSE);
  // A disjoint one is fine; peripheral addressing below 256.
  stmfViewEntry c = view("hg-w", "tg-v", 5);
  REQUIRE(stmfAddViewEntry(&x, &c) == STMF_STATUS_SUCCESS);
  const uchar_t lun5[8] = {0x00, 0x05, 0, 0, 0, 0, 0, 0};
  CHECK(std::memcmp(c.luNbr, lun5, 8) == 0);
  CHECK(c.veIndex != a.veIndex);

  // Another LU on a LUN an overlapping entry already uses.
  stmfViewEntry e = view("hg-v", "tg-v", 300);
  CHECK(stmfAddViewEntry(&y, &e) == STMF_ERROR_LUN_IN_USE);
  // Without a LUN the lowest free one is chosen (not 300, which hg-v sees already).
  stmfViewEntry f = view("hg-v", "tg-v");
  REQUIRE(stmfAddViewEntry(&y, &f) == STMF_STATUS_SUCCESS);
  CHECK(f.luNbrValid == B_TRUE);
  CHECK(f.veIndexValid == B_TRUE);
  uint32_t flun = decode_lun(f.luNbr);
  CHECK(flun != 300);
  CHECK(flun < 300);

  // Unknown groups.
  stmfViewEntry h = view("no-such-hg", nullptr, 7);
  CHECK(stmfAddViewEntry(&y, &h) == STMF_ERROR_INVALID_HG);
  stmfViewEntry t = view(nullptr, "no-such-tg", 7);
  CHECK(stmfAddViewEntry(&y, &t) == STMF_ERROR_INVALID_TG);

  // The list.
  {
    Owned<stmfViewEntryList> l;
    REQUIRE(stmfGetViewEntryList(&x, l.out()) == STMF_STATUS_SUCCESS);
    REQUIRE(l->cnt == 2);
    bool found_a = false, found_c = false;
    for (uint32_t i = 0; i < l->cnt; ++i) {
      const stmfViewEntry& v = l->ve[i];
      CHECK(v.veIndexValid == B_TRUE);
      CHECK(v.luNbrValid == B_TRUE);
      if (v.veIndex == a.veIndex) {
        found_a = true;
        CHECK(v.allHosts == B_FALSE);
        CHECK(std::string(v.hostGroup) == "hg-v");
        CHECK(v.allTargets == B_TRUE);
        CHECK(std::memcmp(v.luNbr, lun300, 8) == 0);
      } else if (v.veIndex == c.veIndex) {
        found_c = true;
        CHECK(std::string(v.hostGroup) == "hg-w");
        CHECK(v.allTargets == B_FALSE);
        CHECK(std::string(v.targetGroup) == "tg-v");
        CHECK(std::memcmp(v.luNbr, lun5, 8) == 0);
      }
    }
    CHECK(found_a);
    CHECK(found_c);
  }

  // Groups named by view entries cannot go.
  CHECK(stmfDeleteHostGroup(&hgv) == STMF_ERROR_GROUP_IN_USE);
  CHECK(stmfDeleteTargetGroup(&tgv) == STMF_ERROR_GROUP_IN_USE);

  // Removing entries.
  REQUIRE(stmfRemoveViewEntry(&x, a.veIndex) == STMF_STATUS_SUCCESS);
  CHECK(stmfRemoveViewEntry(&x, a.veIndex) == STMF_ERROR_NOT_FOUND);
  stmfGuid unknown{};
  unknown.guid[0] = 0x60;
  unknown.guid[15] = 0x42;
  Owned<stmfViewEntryList> none;
  CHECK(stmfGetViewEntryList(&unknown, none.out()) == STMF_ERROR_NOT_FOUND);
  REQUIRE(stmfRemoveViewEntry(&y, f.veIndex) == STMF_STATUS_SUCCESS);
  {
    Owned<stmfViewEntryList> l;
    REQUIRE(stmfGetViewEntryList(&y, l.out()) == STMF_STATUS_SUCCESS);
    CHECK(l->cnt == 0);
  }
  REQUIRE(stmfDeleteHostGroup(&hgv) == STMF_STATUS_SUCCESS);  // no longer named

  // Like COMSTAR's stmfDeleteLu, deleting the LU keeps its view entries; they apply again when
  // the LU is imported.
  REQUIRE(stmfDeleteLu(&x) == STMF_STATUS_SUCCESS);
  {
    Owned<stmfViewEntryList> l;
    REQUIRE(stmfGetViewEntryList(&x, l.out()) == STMF_STATUS_SUCCESS);
    REQUIRE(l->cnt == 1);
    CHECK(l->ve[0].veIndex == c.veIndex);
  }
  std::string xf = d.dir() + "/x.img";
  stmfGuid back{};
  REQUIRE(stmfImportLu(STMF_DISK, xf.data(), &back) == STMF_STATUS_SUCCESS);
  CHECK(same(back, x));
  REQUIRE(stmfRemoveViewEntry(&x, c.veIndex) == STMF_STATUS_SUCCESS);
  REQUIRE(stmfDeleteTargetGroup(&tgv) == STMF_STATUS_SUCCESS);
}

TEST_CASE("libstmf: targets, their status, online and offline", "[libstmf]") {
  Daemon d;
  use(d);
  Owned<stmfDevidList> l;
  REQUIRE(stmfGetTargetList(l.out()) == STMF_STATUS_SUCCESS);
  REQUIRE(l->cnt >= 1);
  bool found = false;
  for (uint32_t i = 0; i < l->cnt; ++i) found |= str(l->devid[i]) == d.iqn();
  CHECK(found);

  stmfDevid t = devid(d.iqn());
  stmfTargetProperties p;
  REQUIRE(stmfGetTargetProperties(&t, &p) == STMF_STATUS_SUCCESS);
  CHECK(std::string(p.providerName) == "iscsit");
  CHECK(p.protocol == STMF_PROTOCOL_ISCSI);
  CHECK(p.status == STMF_TARGET_PORT_ONLINE);
  CHECK(str(p.devid) == d.iqn());

  REQUIRE(stmfOfflineTarget(&t) == STMF_STATUS_SUCCESS);
  CHECK(target_status(d) == STMF_TARGET_PORT_OFFLINE);
  REQUIRE(stmfOnlineTarget(&t) == STMF_STATUS_SUCCESS);
  CHECK(target_status(d) == STMF_TARGET_PORT_ONLINE);

  stmfDevid unknown = devid("iqn.2026-11.org.example:no-such-target");
  CHECK(stmfGetTargetProperties(&unknown, &p) == STMF_ERROR_NOT_FOUND);
  CHECK(stmfOnlineTarget(&unknown) == STMF_ERROR_NOT_FOUND);
  CHECK(stmfOfflineTarget(&unknown) == STMF_ERROR_NOT_FOUND);
  Owned<stmfSessionList> s;
  CHECK(stmfGetSessionList(&unknown, s.out()) == STMF_ERROR_NOT_FOUND);
}

TEST_CASE("libstmf: stmfOfflineTarget returns at once and the caller polls the state (seed 002)", "[libstmf]") {
  stmf::test::DaemonOptions o;
  o.top_json_extra = "\"shutdown_timeout_s\": 3, ";
  Daemon d(o);
  use(d);
  // An initiator whose libiscsi context is never serviced: it cannot answer the logout
  // request, so the target stays offlining until the shutdown timeout closes the session.
  iscsi_context* ctx = iscsi_create_context("iqn.2026-11.org.example:seed002-initiator");
  REQUIRE(ctx);
  iscsi_set_targetname(ctx, d.iqn().c_str());
  iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
  iscsi_set_timeout(ctx, 10);
  int rc = iscsi_full_connect_sync(ctx, d.portal().c_str(), 0);
  INFO(iscsi_get_error(ctx));
  REQUIRE(rc == 0);
  char why[256] = "";
  rc = seed002_offline_target(d.iqn().c_str(), 3, why, sizeof why);
  INFO(why);
  INFO(d.log_text());
  CHECK(rc == 0);
  iscsi_destroy_context(ctx);
}

TEST_CASE("libstmf: session list shows a logged-in initiator", "[libstmf]") {
  Daemon d;
  use(d);
  stmfDevid t = devid(d.iqn());
  {
    Owned<stmfSessionList> s;
    REQUIRE(stmfGetSessionList(&t, s.out()) == STMF_STATUS_SUCCESS);
    CHECK(s->cnt == 0);
  }
  const char* initiator = "iqn.2026-11.org.example:libstmf-initiator";
  iscsi_context* ctx = iscsi_create_context(initiator);
  REQUIRE(ctx);
  iscsi_set_alias(ctx, "libstmf-alias");
  iscsi_set_targetname(ctx, d.iqn().c_str());
  iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
  iscsi_set_timeout(ctx, 10);
  time_t before = ::time(nullptr);
  int rc = iscsi_full_connect_sync(ctx, d.portal().c_str(), 0);
  INFO(iscsi_get_error(ctx));
  REQUIRE(rc == 0);
  {
    Owned<stmfSessionList> s;
    REQUIRE(stmfGetSessionList(&t, s.out()) == STMF_STATUS_SUCCESS);
    REQUIRE(s->cnt == 1);
    CHECK(str(s->session[0].initiator) == initiator);
    CHECK(std::string(s->session[0].alias) == "libstmf-alias");
    CHECK(s->session[0].creationTime >= before - 2);
    CHECK(s->session[0].creationTime <= ::time(nullptr) + 2);
  }
  iscsi_logout_sync(ctx);
  iscsi_destroy_context(ctx);
  uint32_t cnt = 1;
  for (int i = 0; i < 100 && cnt; ++i) {
    Owned<stmfSessionList> s;
    REQUIRE(stmfGetSessionList(&t, s.out()) == STMF_STATUS_SUCCESS);
    cnt = s->cnt;
    if (cnt) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(cnt == 0);
}

TEST_CASE("libstmf: unprivileged callers may read but not change", "[libstmf]") {
  require_second_uid();
  Daemon d;
  use(d);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (!become_second_uid()) ::_exit(10);
    stmfGroupList* l = nullptr;
    if (stmfGetHostGroupList(&l) != STMF_STATUS_SUCCESS) ::_exit(11);
    stmfFreeMemory(l);
    stmfState st;
    if (stmfGetState(&st) != STMF_STATUS_SUCCESS) ::_exit(12);
    stmfGroupName g = "nobody-group";
    if (stmfCreateHostGroup(&g) != STMF_ERROR_PERM) ::_exit(13);
    if (stmfOffline() != STMF_ERROR_PERM) ::_exit(14);
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  INFO("child exit code (10 drop privileges, 11 list, 12 state, 13 create-hg, 14 offline): " << WEXITSTATUS(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK_FALSE(group_listed(true, "nobody-group"));
  stmfState st;
  REQUIRE(stmfGetState(&st) == STMF_STATUS_SUCCESS);
  CHECK(st.operationalState == STMF_SERVICE_STATE_ONLINE);
}

TEST_CASE("libstmf: concurrent callers (MT-Safe)", "[libstmf]") {
  Daemon d;
  use(d);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([i, &failures] {
      Group g("mt-" + std::to_string(i));
      if (stmfCreateHostGroup(&g) != STMF_STATUS_SUCCESS) ++failures;
      for (int k = 0; k < 20; ++k) {
        stmfGroupList* l = nullptr;
        if (stmfGetHostGroupList(&l) != STMF_STATUS_SUCCESS) ++failures;
        else stmfFreeMemory(l);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  Owned<stmfGroupList> l;
  REQUIRE(stmfGetHostGroupList(l.out()) == STMF_STATUS_SUCCESS);
  int mt = 0;
  for (uint32_t i = 0; i < l->cnt; ++i) mt += std::strncmp(l->name[i], "mt-", 3) == 0;
  CHECK(mt == 8);
}

// ---------------------------------------------------------------------------------------------
// ALUA state (stmfSetAluaState(3STMF), stmfGetAluaState)

TEST_CASE("libstmf: stmfSetAluaState validates node and enabled, disabling ignores node", "[libstmf][alua]") {
  Daemon d(alua_options());
  use(d);
  CHECK(alua_state() == "B_FALSE 0");  // the default: disabled, node 0

  CHECK(stmfSetAluaState(B_TRUE, 2) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfSetAluaState(B_TRUE, UINT32_MAX) == STMF_ERROR_INVALID_ARG);
  CHECK(alua_state() == "B_FALSE 0");  // nothing changed

  REQUIRE(stmfSetAluaState(B_TRUE, 1) == STMF_STATUS_SUCCESS);
  CHECK(alua_state() == "B_TRUE 1");
  CHECK(stmfSetAluaState(B_TRUE, 2) == STMF_ERROR_INVALID_ARG);  // refused while enabled too
  CHECK(alua_state() == "B_TRUE 1");

  // Disabling ignores the node (any value) and keeps the stored one.
  REQUIRE(stmfSetAluaState(B_FALSE, 7) == STMF_STATUS_SUCCESS);
  CHECK(alua_state() == "B_FALSE 1");
  CHECK(stmfSetAluaState(B_FALSE, UINT32_MAX) == STMF_STATUS_SUCCESS);  // disabling twice is fine
  CHECK(alua_state() == "B_FALSE 1");

  REQUIRE(stmfSetAluaState(B_TRUE, 0) == STMF_STATUS_SUCCESS);
  CHECK(alua_state() == "B_TRUE 0");

  boolean_t e = B_FALSE;
  uint32_t n = 0;
  CHECK(stmfGetAluaState(nullptr, &n) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfGetAluaState(&e, nullptr) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfGetAluaState(nullptr, nullptr) == STMF_ERROR_INVALID_ARG);
}

TEST_CASE("libstmf: enabling ALUA again re-initializes the pair", "[libstmf][alua]") {
  Daemon d(alua_options());
  use(d);
  REQUIRE(stmfSetAluaState(B_TRUE, 1) == STMF_STATUS_SUCCESS);
  CHECK(d.log_text().find("re-initializing") == std::string::npos);  // the first enable is not one
  REQUIRE(stmfSetAluaState(B_TRUE, 1) == STMF_STATUS_SUCCESS);
  CHECK(d.log_text().find("re-initializing") != std::string::npos);
  CHECK(alua_state() == "B_TRUE 1");
}

TEST_CASE("libstmf: the ALUA state persists across restarts", "[libstmf][alua]") {
  Daemon d(alua_options());
  use(d);
  REQUIRE(stmfSetAluaState(B_TRUE, 1) == STMF_STATUS_SUCCESS);
  d.kill9();
  CHECK(stmfGetAluaState(nullptr, nullptr) == STMF_ERROR_INVALID_ARG);  // checked before the daemon
  boolean_t e = B_FALSE;
  uint32_t n = 0;
  CHECK(stmfGetAluaState(&e, &n) == STMF_ERROR_SERVICE_NOT_FOUND);
  CHECK(stmfSetAluaState(B_FALSE, 0) == STMF_ERROR_SERVICE_NOT_FOUND);
  d.restart();
  CHECK(alua_state() == "B_TRUE 1");

  REQUIRE(stmfSetAluaState(B_FALSE, 0) == STMF_STATUS_SUCCESS);
  REQUIRE(d.terminate(15) == 0);
  d.restart();
  CHECK(alua_state() == "B_FALSE 1");
}

TEST_CASE("libstmf: the configuration file's alua object sets the initial state", "[libstmf][alua]") {
  Daemon d(alua_options(", \"enabled\": true, \"node\": 1"));
  use(d);
  CHECK(alua_state() == "B_TRUE 1");
}

TEST_CASE("libstmf: unprivileged callers may read the ALUA state but not change it", "[libstmf][alua]") {
  require_second_uid();
  Daemon d(alua_options());
  use(d);
  REQUIRE(stmfSetAluaState(B_TRUE, 1) == STMF_STATUS_SUCCESS);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (!become_second_uid()) ::_exit(10);
    boolean_t e = B_FALSE;
    uint32_t n = 0;
    if (stmfGetAluaState(&e, &n) != STMF_STATUS_SUCCESS) ::_exit(11);
    if (e != B_TRUE || n != 1) ::_exit(12);
    if (stmfSetAluaState(B_FALSE, 0) != STMF_ERROR_PERM) ::_exit(13);
    if (stmfSetAluaState(B_TRUE, 0) != STMF_ERROR_PERM) ::_exit(14);
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  INFO("child exit code (10 drop privileges, 11 get, 12 wrong state, 13 disable, 14 enable): " << WEXITSTATUS(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(alua_state() == "B_TRUE 1");  // nothing changed
  CHECK(d.log_text().find("re-initializing") == std::string::npos);
}
