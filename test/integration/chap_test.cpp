// CHAP as itadm models it, against a real stmfd: per-initiator secrets, the target's own secret
// for mutual CHAP, discovery CHAP (libiscsi), and the RFC 7143 12.1.3 rules an initiator that
// libiscsi would never imitate can break (the raw initiator): reflected challenge, replayed
// response, missing CHAP_R, unsupported CHAP_A. docs/security.md "CHAP".
#include <catch2/catch.hpp>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include <map>
#include <string>
#include <vector>

#include "test/integration/daemon.h"
#include "test/integration/libiscsi_util.h"
#include "test/integration/raw_initiator.h"
#include "transport/iscsi/chap.h"

using stmf::test::Ctx;
using stmf::test::Daemon;
using stmf::test::DaemonOptions;
using stmf::test::RawInitiator;
using stmf::test::RawPdu;
using stmf::test::Task;
using namespace std::string_literals;

namespace {

const std::string kAlice = "iqn.2026-11.org.example:alice", kBob = "iqn.2026-11.org.example:bob",
                  kNobody = "iqn.2026-11.org.example:nobody";
const std::string kAliceSecret = "alice-secret-01", kBobSecret = "bob-secret-0001", kTargetSecret = "target-secret-1";

// Alice (CHAP name = her node name) and Bob (CHAP name "bob") have secrets; the target requires
// CHAP and has its own secret for mutual CHAP.
DaemonOptions chap_options(const std::string& iscsi_json = "") {
  DaemonOptions o;
  o.top_json_extra = R"("initiators": [{"name": ")" + kAlice + R"(", "chap_secret": ")" + kAliceSecret + R"("},
      {"name": ")" + kBob + R"(", "chap_user": "bob", "chap_secret": ")" + kBobSecret + R"("}], )";
  o.target_json_extra = R"("auth": "chap", "chap": {"mutual_secret": ")" + kTargetSecret + R"("}, )";
  o.iscsi_json = iscsi_json;
  return o;
}

bool login(Ctx& ctx, const Daemon& d) {
  iscsi_set_targetname(ctx, d.iqn().c_str());
  iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
  iscsi_set_timeout(ctx, 10);
  return iscsi_full_connect_sync(ctx, d.portal().c_str(), 0) == 0;
}

bool serves(const Daemon& d, const std::string& initiator, const std::string& user, const std::string& secret) {
  Ctx ctx(initiator.c_str());
  iscsi_set_initiator_username_pwd(ctx, user.c_str(), secret.c_str());
  if (!login(ctx, d)) return false;
  for (int i = 0; i < 5; ++i) {
    Task t(iscsi_testunitready_sync(ctx, 0));
    if (t && t->status == SCSI_STATUS_GOOD) return true;
  }
  return false;
}

bool discover(const Daemon& d, const std::string& initiator, const char* user, const char* secret) {
  Ctx ctx(initiator.c_str());
  iscsi_set_session_type(ctx, ISCSI_SESSION_DISCOVERY);
  iscsi_set_timeout(ctx, 10);
  if (user) iscsi_set_initiator_username_pwd(ctx, user, secret);
  if (iscsi_connect_sync(ctx, d.portal().c_str()) != 0) return false;
  if (iscsi_login_sync(ctx) != 0) return false;
  auto* addrs = iscsi_discovery_sync(ctx);
  if (!addrs) return false;
  const bool found = std::string(addrs->target_name) == d.iqn();
  iscsi_free_discovery_data(ctx, addrs);
  iscsi_logout_sync(ctx);
  return found;
}

std::map<std::string, std::string> keys_of(const RawPdu& p) {
  std::map<std::string, std::string> m;
  std::string s(p.data.begin(), p.data.end());
  for (size_t pos = 0; pos < s.size();) {
    size_t end = s.find('\0', pos);
    if (end == std::string::npos) end = s.size();
    auto kv = s.substr(pos, end - pos);
    if (auto eq = kv.find('='); eq != std::string::npos) m[kv.substr(0, eq)] = kv.substr(eq + 1);
    pos = end + 1;
  }
  return m;
}

// A security-stage login driven step by step on a raw socket.
struct RawChap {
  RawInitiator ini;
  uint32_t itt = 1;
  int status = -1;  // of the last Login Response (class << 8 | detail); -1: none / connection closed
  std::map<std::string, std::string> last;

  RawChap(uint16_t port, const std::string& initiator) : ini(port, initiator) {}

  // One Login Request in the security stage (T=1 NSG=1 when `transit`).
  bool step(const std::string& text, bool transit = false) {
    std::array<uint8_t, 48> h{};
    h[0] = 0x40 | 0x03;
    h[1] = uint8_t(transit ? 0x80 | 0x01 : 0x00);  // CSG=security
    h[8] = 0x80;
    h[13] = uint8_t(::getpid());
    auto put32 = [&](size_t off, uint32_t v) {
      for (int i = 0; i < 4; ++i) h[off + size_t(i)] = uint8_t(v >> (24 - 8 * i));
    };
    put32(16, itt++);
    put32(24, 1);
    put32(28, ini.exp_stat_sn);
    if (!ini.send(h, std::vector<uint8_t>(text.begin(), text.end()))) return false;
    auto r = ini.recv();
    if (!r || r->opcode() != 0x23) {
      status = -1;
      return false;
    }
    ini.exp_stat_sn = r->field32(24) + 1;
    status = r->bhs[36] << 8 | r->bhs[37];
    last = keys_of(*r);
    return status == 0;
  }
  // Up to the target's challenge; returns (CHAP_I, CHAP_C bytes).
  std::pair<uint8_t, std::vector<uint8_t>> challenge(const std::string& target) {
    const std::string names = "InitiatorName=" + initiator_name + '\0' +
                              (target.empty() ? "SessionType=Discovery\0"s : "TargetName=" + target + '\0' + "SessionType=Normal\0"s);
    REQUIRE(step(names + "AuthMethod=CHAP,None\0"s));
    REQUIRE(last["AuthMethod"] == "CHAP");
    REQUIRE(step("CHAP_A=5\0"s));
    auto c = stmf::iscsi::decode_binary(last["CHAP_C"]);
    REQUIRE(c);
    return {uint8_t(std::stoi(last["CHAP_I"])), *c};
  }
  std::string initiator_name;
};

RawChap raw(const Daemon& d, const std::string& initiator) {
  RawChap r(d.port(), initiator);
  r.initiator_name = initiator;
  return r;
}

std::string answer(const std::string& user, uint8_t id, const std::string& secret, const std::vector<uint8_t>& c) {
  return "CHAP_N=" + user + '\0' + "CHAP_R=" + stmf::iscsi::encode_hex(*stmf::iscsi::chap_md5_response(id, secret, c)) + '\0';
}

}  // namespace

TEST_CASE("CHAP per initiator (libiscsi): each initiator with its own name and secret", "[integration][chap]") {
  Daemon d(chap_options());
  CHECK(serves(d, kAlice, kAlice, kAliceSecret));  // CHAP name defaults to the node name
  CHECK(serves(d, kBob, "bob", kBobSecret));
  CHECK_FALSE(serves(d, kAlice, kAlice, kBobSecret));   // another initiator's secret
  CHECK_FALSE(serves(d, kBob, kAlice, kAliceSecret));   // another initiator's name and secret
  CHECK_FALSE(serves(d, kAlice, kAlice, "wrong-secret-1"));
  CHECK_FALSE(serves(d, kNobody, kAlice, kAliceSecret));  // no entry of its own: no way in
  {
    Ctx ctx(kAlice.c_str());  // no credentials at all
    CHECK_FALSE(login(ctx, d));
  }
  // The daemon log names failures but never a secret.
  const std::string log = d.log_text();
  CHECK(log.find(kAliceSecret) == std::string::npos);
  CHECK(log.find(kBobSecret) == std::string::npos);
  CHECK(log.find("authentication failure") != std::string::npos);
}

TEST_CASE("CHAP mutual (libiscsi): the target answers with its own secret", "[integration][chap]") {
  Daemon d(chap_options());
  SECTION("the initiator expects the target's name (its IQN) and secret") {
    Ctx ctx(kAlice.c_str());
    iscsi_set_initiator_username_pwd(ctx, kAlice.c_str(), kAliceSecret.c_str());
    iscsi_set_target_username_pwd(ctx, d.iqn().c_str(), kTargetSecret.c_str());
    CHECK(login(ctx, d));
  }
  SECTION("the initiator expects another target secret: it refuses the target") {
    Ctx ctx(kAlice.c_str());
    iscsi_set_initiator_username_pwd(ctx, kAlice.c_str(), kAliceSecret.c_str());
    iscsi_set_target_username_pwd(ctx, d.iqn().c_str(), "other-secret-1");
    CHECK_FALSE(login(ctx, d));
  }
}

TEST_CASE("CHAP mutual refused with 0x0201 when the target has no secret of its own", "[integration][chap]") {
  DaemonOptions o = chap_options();
  o.target_json_extra = R"("auth": "chap", )";
  Daemon d(o);
  auto r = raw(d, kAlice);
  auto [id, c] = r.challenge(d.iqn());
  CHECK_FALSE(r.step(answer(kAlice, id, kAliceSecret, c) + "CHAP_I=7\0CHAP_C=0x00112233445566778899aabbccddeeff\0"s, true));
  CHECK(r.status == 0x0201);
  Ctx ctx(kAlice.c_str());  // libiscsi too
  iscsi_set_initiator_username_pwd(ctx, kAlice.c_str(), kAliceSecret.c_str());
  iscsi_set_target_username_pwd(ctx, d.iqn().c_str(), kTargetSecret.c_str());
  CHECK_FALSE(login(ctx, d));
  CHECK(serves(d, kAlice, kAlice, kAliceSecret));  // one-way CHAP still works
}

TEST_CASE("CHAP on discovery sessions (libiscsi): SendTargets only after authenticating", "[integration][chap]") {
  SECTION("discovery_auth chap") {
    Daemon d(chap_options(R"("discovery_auth": "chap")"));
    CHECK(discover(d, kAlice, kAlice.c_str(), kAliceSecret.c_str()));
    CHECK(discover(d, kBob, "bob", kBobSecret.c_str()));
    CHECK_FALSE(discover(d, kAlice, nullptr, nullptr));
    CHECK_FALSE(discover(d, kAlice, kAlice.c_str(), "wrong-secret-1"));
    CHECK_FALSE(discover(d, kNobody, kAlice.c_str(), kAliceSecret.c_str()));
    // Raw: AuthMethod=None is refused, and a Text request before authentication gets nothing.
    auto r = raw(d, kNobody);
    CHECK_FALSE(r.step("InitiatorName=" + kNobody + "\0SessionType=Discovery\0AuthMethod=None\0"s, true));
    CHECK(r.status == 0x0201);
    CHECK(r.ini.closed_by_target());
    // A SendTargets Text request in the middle of the CHAP exchange gets no answer: the target
    // closes the connection (only Login Requests are read before the login completes).
    auto t = raw(d, kAlice);
    t.challenge("");
    std::array<uint8_t, 48> text{};
    text[0] = 0x04;  // Text Request
    text[1] = 0x80;  // F
    for (int i = 0; i < 4; ++i) text[20 + size_t(i)] = 0xff;  // TTT 0xffffffff
    text[19] = 9;                                             // ITT
    const std::string st = "SendTargets=All\0"s;
    REQUIRE(t.ini.send(text, std::vector<uint8_t>(st.begin(), st.end())));
    auto answer_pdu = t.ini.recv(3000);
    CHECK_FALSE(answer_pdu);
    CHECK(t.ini.closed_by_target());
  }
  SECTION("discovery_auth none (the default): no credentials needed") {
    Daemon d(chap_options());
    CHECK(discover(d, kNobody, nullptr, nullptr));
  }
}

TEST_CASE("CHAP RFC 7143 12.1.3 rules (raw initiator), the daemon keeps serving", "[integration][chap]") {
  Daemon d(chap_options());
  SECTION("a reflected challenge (the target's own CHAP_C as the mutual challenge) is refused") {
    auto r = raw(d, kAlice);
    auto [id, c] = r.challenge(d.iqn());
    const std::string reflected = "CHAP_I=" + std::to_string(id) + '\0' + "CHAP_C=" + stmf::iscsi::encode_hex(c) + '\0';
    CHECK_FALSE(r.step(answer(kAlice, id, kAliceSecret, c) + reflected, true));
    CHECK(r.status == 0x0201);
    CHECK(r.last.count("CHAP_R") == 0);  // the target never answered its own challenge
  }
  SECTION("a response recorded from an earlier login does not open a new one") {
    std::string recorded;
    std::vector<uint8_t> first;
    {
      auto r = raw(d, kAlice);
      auto [id, c] = r.challenge(d.iqn());
      first = c;
      recorded = answer(kAlice, id, kAliceSecret, c);
      REQUIRE(r.step(recorded, true));  // accepted once
    }
    auto r = raw(d, kAlice);
    auto [id2, c2] = r.challenge(d.iqn());
    CHECK(c2 != first);  // a fresh challenge every login
    CHECK_FALSE(r.step(recorded, true));
    CHECK(r.status == 0x0201);
  }
  SECTION("a missing CHAP_R is refused") {
    auto r = raw(d, kAlice);
    r.challenge(d.iqn());
    CHECK_FALSE(r.step("CHAP_N=" + kAlice + '\0', true));
    CHECK(r.status == 0x0201);
  }
  SECTION("only MD5 (CHAP_A=5) is offered; other algorithms are refused") {
    auto r = raw(d, kAlice);
    REQUIRE(r.step("InitiatorName=" + kAlice + "\0TargetName="s + d.iqn() + "\0SessionType=Normal\0AuthMethod=CHAP\0"s));
    CHECK_FALSE(r.step("CHAP_A=7,6\0"s));
    CHECK(r.status == 0x0201);
  }
  SECTION("the target's challenge is 16 bytes or more, its identifier one byte") {
    auto r = raw(d, kAlice);
    auto [id, c] = r.challenge(d.iqn());
    CHECK(c.size() >= 16);
    CHECK(c.size() <= 1024);
    CHECK(r.last["CHAP_A"] == "5");
  }
  CHECK(serves(d, kAlice, kAlice, kAliceSecret));
}

TEST_CASE("CHAP replay script test/attack/chap_reflect.py: refused every time, the daemon keeps serving", "[integration][chap]") {
  Daemon d(chap_options());
  const std::string cmd = "python3 " STMF_SOURCE_DIR "/test/attack/chap_reflect.py --host 127.0.0.1 --port " +
                          std::to_string(d.port()) + " --target " + d.iqn() + " --initiator " + kAlice + " --secret " +
                          kAliceSecret + " --pid " + std::to_string(d.pid()) + " --seconds 3 --rounds 20";
  const int rc = std::system(cmd.c_str());
  REQUIRE(WIFEXITED(rc));
  CHECK(WEXITSTATUS(rc) == 0);
  CHECK(serves(d, kAlice, kAlice, kAliceSecret));
}
