#include "transport/iscsi/login.h"

#include <catch2/catch.hpp>
#include <set>

#include "transport/iscsi/chap.h"

using namespace stmf::iscsi;
using namespace std::string_literals;

namespace {

constexpr uint64_t kIsid = 0x23d000000001ull;
const std::string kInit = "iqn.1993-08.org.debian:01:init";
const std::string kTarget = "iqn.2024-01.org.stmf:disk1";

struct FakeContext : LoginContext {
  std::set<std::string> targets{kTarget};
  std::optional<ChapSecret> chap;
  bool allowed = true;
  SessionDecision decision = SessionDecision::ok;
  int check_calls = 0;
  uint64_t seen_isid = 0;
  uint16_t seen_tsih = 0;
  uint8_t random_seed = 0;
  std::string chap_target_asked = "-", chap_initiator_asked = "-";

  bool target_exists(std::string_view t) override { return targets.count(std::string(t)) != 0; }
  std::optional<ChapSecret> chap_for(std::string_view t, std::string_view i) override {
    chap_target_asked = std::string(t);
    chap_initiator_asked = std::string(i);
    return chap;
  }
  bool initiator_allowed(std::string_view, std::string_view) override { return allowed; }
  uint16_t tpgt(std::string_view) override { return 3; }
  std::string target_alias(std::string_view) override { return "disk one"; }
  SessionDecision check_session(uint64_t isid, uint16_t tsih, std::string_view, std::string_view,
                                SessionType) override {
    ++check_calls;
    seen_isid = isid;
    seen_tsih = tsih;
    return decision;
  }
  // Deterministic "random": seed, seed+1, ...
  void random_bytes(std::span<uint8_t> out) override {
    for (auto& b : out) b = random_seed++;
  }
};

struct Req {
  uint8_t csg = 1, nsg = 3;
  bool transit = true, cont = false;
  uint64_t isid = kIsid;
  uint16_t tsih = 0;
  uint32_t itt = 1;
  uint16_t cid = 0;
  uint32_t cmd_sn = 5, exp_stat_sn = 0;
  uint8_t vmax = 0, vmin = 0;
};

Bhs login_bhs(const Req& r, size_t dlen) {
  Bhs b{};
  b[0] = 0x40 | opcode::login_request;
  b[1] = uint8_t((r.transit ? 0x80 : 0) | (r.cont ? 0x40 : 0) | r.csg << 2 | (r.transit ? r.nsg : 0));
  b[2] = r.vmax;
  b[3] = r.vmin;
  set_data_segment_length(b, uint32_t(dlen));
  store_be48(&b[8], r.isid);
  store_be16(&b[14], r.tsih);
  store_be32(&b[16], r.itt);
  store_be16(&b[20], r.cid);
  store_be32(&b[24], r.cmd_sn);
  store_be32(&b[28], r.exp_stat_sn);
  return b;
}

LoginResult send(LoginStateMachine& sm, const Req& r, const std::string& text) {
  return sm.on_request(login_bhs(r, text.size()),
                       std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

TextKeys keys_of(const LoginResult& r) {
  TextKeys k;
  REQUIRE_FALSE(parse_text(r.data, k));
  return k;
}

std::string val(const LoginResult& r, const std::string& key) {
  auto k = keys_of(r);
  const std::string* v = find_key(k, key);
  return v ? *v : "<absent>";
}

uint16_t status_of(const LoginResult& r) { return uint16_t(r.bhs[36] << 8 | r.bhs[37]); }

std::string names(bool discovery = false) {
  std::string s = "InitiatorName=" + kInit + '\0';
  if (discovery) return s + "SessionType=Discovery\0"s;
  return s + "TargetName=" + kTarget + '\0' + "SessionType=Normal\0"s;
}

}  // namespace

TEST_CASE("leading login straight to full feature phase") {
  LoginConfig cfg;
  FakeContext ctx;
  LoginStateMachine sm(cfg, ctx);
  Req r;
  r.exp_stat_sn = 1000;
  auto res = send(sm, r,
                  names() + "HeaderDigest=None\0DataDigest=CRC32C,None\0MaxRecvDataSegmentLength=65536\0"
                            "MaxBurstLength=16776192\0FirstBurstLength=262144\0ImmediateData=Yes\0"
                            "InitialR2T=No\0DefaultTime2Wait=0\0DefaultTime2Retain=60\0MaxOutstandingR2T=4\0"
                            "MaxConnections=1\0ErrorRecoveryLevel=2\0DataPDUInOrder=Yes\0DataSequenceInOrder=Yes\0"s);
  REQUIRE(res.outcome == LoginOutcome::complete);
  CHECK(res.bhs[0] == 0x23);
  CHECK(res.bhs[1] == 0x87);  // T, CSG 1, NSG 3
  CHECK(status_of(res) == 0);
  CHECK(load_be48(&res.bhs[8]) == kIsid);
  CHECK(bhs_itt(res.bhs) == 1);
  CHECK(load_be32(&res.bhs[24]) == 1000);  // StatSN starts at the initiator's ExpStatSN
  CHECK(load_be32(&res.bhs[28]) == 5);  // ExpCmdSN = login CmdSN
  CHECK(load_be32(&res.bhs[32]) == 5 + cfg.queue_depth - 1);
  CHECK(bhs_data_segment_length(res.bhs) == res.data.size());
  CHECK(val(res, "HeaderDigest") == "None");
  CHECK(val(res, "DataDigest") == "CRC32C");
  CHECK(val(res, "MaxBurstLength") == "1048576");
  CHECK(val(res, "FirstBurstLength") == "65536");
  CHECK(val(res, "ImmediateData") == "Yes");
  CHECK(val(res, "InitialR2T") == "No");
  CHECK(val(res, "DefaultTime2Wait") == "2");
  CHECK(val(res, "DefaultTime2Retain") == "20");
  CHECK(val(res, "MaxOutstandingR2T") == "1");
  CHECK(val(res, "ErrorRecoveryLevel") == "0");
  CHECK(val(res, "TargetPortalGroupTag") == "3");
  CHECK(val(res, "TargetAlias") == "disk one");
  CHECK(val(res, "MaxRecvDataSegmentLength") == "262144");
  CHECK(val(res, "InitiatorName") == "<absent>");  // declarations are not echoed

  const SessionParams& p = sm.params();
  CHECK_FALSE(p.header_digest);
  CHECK(p.data_digest);
  CHECK(p.max_recv_data_segment_length == 65536);
  CHECK(p.target_max_recv_data_segment_length == 262144);
  CHECK(p.max_burst_length == 1048576);
  CHECK(p.first_burst_length == 65536);
  CHECK_FALSE(p.initial_r2t);
  CHECK(p.immediate_data);
  CHECK(p.default_time2retain == 20);
  CHECK(p.session_type == SessionType::normal);
  CHECK(p.initiator_name == kInit);
  CHECK(p.target_name == kTarget);
  CHECK(p.target_portal_group_tag == 3);
  CHECK(p.isid == kIsid);
  CHECK(sm.complete());
  CHECK(sm.exp_cmd_sn() == 5);
  CHECK(sm.next_stat_sn() == 1001);
  CHECK(ctx.check_calls == 1);
  CHECK(ctx.seen_isid == kIsid);
  CHECK(ctx.chap_target_asked == kTarget);

  // The caller writes the TSIH into the final response.
  set_login_tsih(res.bhs, 0x42);
  CHECK(load_be16(&res.bhs[14]) == 0x42);

  // Nothing more is accepted.
  auto again = send(sm, r, names());
  CHECK(again.outcome == LoginOutcome::failed);
  CHECK(status_of(again) == 0x020b);
}

TEST_CASE("security (AuthMethod=None) then operational then full feature") {
  LoginConfig cfg;
  FakeContext ctx;
  LoginStateMachine sm(cfg, ctx);
  Req r;
  r.csg = 0;
  r.nsg = 1;
  auto a = send(sm, r, names() + "AuthMethod=CHAP,None\0"s);
  REQUIRE(a.outcome == LoginOutcome::in_progress);
  CHECK(a.bhs[1] == 0x81);  // T, CSG 0, NSG 1
  CHECK(val(a, "AuthMethod") == "None");
  CHECK(val(a, "TargetPortalGroupTag") == "3");
  CHECK(val(a, "MaxRecvDataSegmentLength") == "<absent>");
  CHECK(sm.stage() == LoginStage::operational);

  r.csg = 1;
  r.nsg = 3;
  r.transit = false;
  r.itt = 2;  // a new ITT per request is fine
  auto b = send(sm, r, "MaxBurstLength=65536\0"s);
  REQUIRE(b.outcome == LoginOutcome::in_progress);
  CHECK(b.bhs[1] == 0x04);  // CSG 1, no T
  CHECK(bhs_itt(b.bhs) == 2);
  CHECK(val(b, "MaxBurstLength") == "65536");
  CHECK(val(b, "MaxRecvDataSegmentLength") == "262144");
  CHECK(val(b, "TargetPortalGroupTag") == "<absent>");  // only once

  r.transit = true;
  auto c = send(sm, r, ""s);
  REQUIRE(c.outcome == LoginOutcome::complete);
  CHECK(c.data.empty());
  // StatSN advanced once per response.
  CHECK(load_be32(&a.bhs[24]) + 1 == load_be32(&b.bhs[24]));
  CHECK(load_be32(&b.bhs[24]) + 1 == load_be32(&c.bhs[24]));
  // FirstBurstLength default clamped to the negotiated MaxBurstLength.
  CHECK(sm.params().max_burst_length == 65536);
  CHECK(sm.params().first_burst_length == 65536);
  CHECK_FALSE(sm.authenticated_with_chap());
}

TEST_CASE("one-way CHAP") {
  LoginConfig cfg;
  FakeContext ctx;
  ctx.chap = ChapSecret{"alice", "secretsecret12", "", ""};
  ctx.random_seed = 1;  // CHAP_I = 1, challenge = 02..11
  LoginStateMachine sm(cfg, ctx);
  Req r;
  r.csg = 0;
  r.nsg = 1;
  r.transit = false;
  auto a = send(sm, r, names() + "AuthMethod=None,CHAP\0"s);
  REQUIRE(a.outcome == LoginOutcome::in_progress);
  CHECK(val(a, "AuthMethod") == "CHAP");
  auto b = send(sm, r, "CHAP_A=7,5\0"s);
  REQUIRE(b.outcome == LoginOutcome::in_progress);
  CHECK(val(b, "CHAP_A") == "5");
  CHECK(val(b, "CHAP_I") == "1");
  std::vector<uint8_t> challenge(16);
  for (size_t i = 0; i < 16; ++i) challenge[i] = uint8_t(2 + i);
  CHECK(val(b, "CHAP_C") == encode_hex(challenge));

  SECTION("right response") {
    const auto resp = *chap_md5_response(1, "secretsecret12", challenge);
    r.transit = true;
    auto c = send(sm, r, "CHAP_N=alice\0CHAP_R="s + encode_hex(resp) + '\0');
    REQUIRE(c.outcome == LoginOutcome::in_progress);
    CHECK(c.bhs[1] == 0x81);
    CHECK(val(c, "CHAP_N") == "<absent>");  // no mutual CHAP asked
    CHECK(sm.authenticated_with_chap());
    r.csg = 1;
    r.nsg = 3;
    CHECK(send(sm, r, ""s).outcome == LoginOutcome::complete);
  }
  SECTION("base64 response accepted") {
    // 16 bytes in base64.
    const auto resp = *chap_md5_response(1, "secretsecret12", challenge);
    static constexpr char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string b64 = "0b";
    for (size_t i = 0; i < 16; i += 3) {
      uint32_t v = uint32_t(resp[i]) << 16 | (i + 1 < 16 ? uint32_t(resp[i + 1]) << 8 : 0) | (i + 2 < 16 ? resp[i + 2] : 0);
      b64 += tbl[v >> 18 & 63];
      b64 += tbl[v >> 12 & 63];
      b64 += i + 1 < 16 ? tbl[v >> 6 & 63] : '=';
      b64 += i + 2 < 16 ? tbl[v & 63] : '=';
    }
    r.transit = true;
    auto c = send(sm, r, "CHAP_N=alice\0CHAP_R="s + b64 + '\0');
    CHECK(c.outcome == LoginOutcome::in_progress);
    CHECK(sm.authenticated_with_chap());
  }
  SECTION("wrong response") {
    auto resp = *chap_md5_response(1, "wrongsecret!", challenge);
    auto c = send(sm, r, "CHAP_N=alice\0CHAP_R="s + encode_hex(resp) + '\0');
    CHECK(c.outcome == LoginOutcome::failed);
    CHECK(status_of(c) == 0x0201);
    CHECK(c.bhs[36] == 2);
    CHECK(c.data.empty());
  }
  SECTION("wrong name") {
    const auto resp = *chap_md5_response(1, "secretsecret12", challenge);
    auto c = send(sm, r, "CHAP_N=mallory\0CHAP_R="s + encode_hex(resp) + '\0');
    CHECK(status_of(c) == 0x0201);
  }
  SECTION("mutual CHAP asked but not configured") {
    const auto resp = *chap_md5_response(1, "secretsecret12", challenge);
    auto c = send(sm, r, "CHAP_N=alice\0CHAP_R="s + encode_hex(resp) + "\0CHAP_I=7\0CHAP_C=0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\0"s);
    CHECK(status_of(c) == 0x0201);
  }
  SECTION("transit before CHAP finishes is answered with T=0") {
    r.transit = true;
    auto c = send(sm, r, ""s);
    CHECK(c.outcome == LoginOutcome::in_progress);
    CHECK((c.bhs[1] & 0x80) == 0);
  }
}

TEST_CASE("mutual CHAP with known vectors") {
  LoginConfig cfg;
  FakeContext ctx;
  ctx.chap = ChapSecret{"alice", "secretsecret12", "target1", "targetsecret99"};
  ctx.random_seed = 1;
  LoginStateMachine sm(cfg, ctx);
  Req r;
  r.csg = 0;
  r.nsg = 1;
  r.transit = false;
  REQUIRE(send(sm, r, names() + "AuthMethod=CHAP\0"s).outcome == LoginOutcome::in_progress);
  auto b = send(sm, r, "CHAP_A=5\0"s);
  std::vector<uint8_t> challenge(16);
  for (size_t i = 0; i < 16; ++i) challenge[i] = uint8_t(2 + i);
  const auto resp = *chap_md5_response(1, "secretsecret12", challenge);
  r.transit = true;

  SECTION("target answers the initiator's challenge") {
    auto c = send(sm, r,
                  "CHAP_N=alice\0CHAP_R="s + encode_hex(resp) + "\0CHAP_I=7\0CHAP_C=0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\0"s);
    REQUIRE(c.outcome == LoginOutcome::in_progress);
    CHECK(c.bhs[1] == 0x81);
    CHECK(val(c, "CHAP_N") == "target1");
    // MD5(0x07 || "targetsecret99" || 16 x 0xaa), computed independently.
    CHECK(val(c, "CHAP_R") == "0x1a1f7791a7ab00067d6ea34bc0821c3c");
  }
  SECTION("reflected challenge is refused") {
    auto c = send(sm, r, "CHAP_N=alice\0CHAP_R="s + encode_hex(resp) + "\0CHAP_I=9\0CHAP_C="s + val(b, "CHAP_C") + '\0');
    CHECK(c.outcome == LoginOutcome::failed);
    CHECK(status_of(c) == 0x0201);
  }
  SECTION("CHAP_I without CHAP_C") {
    auto c = send(sm, r, "CHAP_N=alice\0CHAP_R="s + encode_hex(resp) + "\0CHAP_I=9\0"s);
    CHECK(status_of(c) == 0x0201);
  }
}

TEST_CASE("authentication requirements") {
  LoginConfig cfg;
  FakeContext ctx;
  ctx.chap = ChapSecret{"alice", "secretsecret12", "", ""};
  Req r;
  SECTION("skipping the security stage") {
    LoginStateMachine sm(cfg, ctx);
    auto a = send(sm, r, names());
    CHECK(status_of(a) == 0x0201);
  }
  SECTION("only None offered") {
    LoginStateMachine sm(cfg, ctx);
    r.csg = 0;
    r.nsg = 1;
    CHECK(status_of(send(sm, r, names() + "AuthMethod=None\0"s)) == 0x0201);
  }
  SECTION("no AuthMethod at all") {
    LoginStateMachine sm(cfg, ctx);
    r.csg = 0;
    r.nsg = 1;
    CHECK(status_of(send(sm, r, names())) == 0x0201);
  }
  SECTION("unsupported CHAP algorithm") {
    LoginStateMachine sm(cfg, ctx);
    r.csg = 0;
    r.transit = false;
    REQUIRE(send(sm, r, names() + "AuthMethod=CHAP\0"s).outcome == LoginOutcome::in_progress);
    CHECK(status_of(send(sm, r, "CHAP_A=6,7\0"s)) == 0x0201);
  }
  SECTION("CHAP keys out of order") {
    LoginStateMachine sm(cfg, ctx);
    r.csg = 0;
    r.transit = false;
    REQUIRE(send(sm, r, names() + "AuthMethod=CHAP\0"s).outcome == LoginOutcome::in_progress);
    CHECK(status_of(send(sm, r, "CHAP_N=alice\0CHAP_R=0x00\0"s)) == 0x0201);
  }
  SECTION("security keys in the operational stage") {
    ctx.chap.reset();
    LoginStateMachine sm(cfg, ctx);
    r.transit = false;
    CHECK(status_of(send(sm, r, names() + "AuthMethod=None\0"s)) == 0x0200);
  }
  SECTION("discovery asks for the discovery credentials") {
    ctx.chap.reset();
    LoginStateMachine sm(cfg, ctx);
    send(sm, r, names(true));
    CHECK(ctx.chap_target_asked.empty());
  }
}

// Drives a login up to the target's CHAP challenge; returns the CHAP_I and challenge bytes.
std::pair<uint8_t, std::vector<uint8_t>> chap_challenge(LoginStateMachine& sm, Req& r, bool discovery = false) {
  r.csg = 0;
  r.nsg = 1;
  r.transit = false;
  REQUIRE(send(sm, r, names(discovery) + "AuthMethod=CHAP\0"s).outcome == LoginOutcome::in_progress);
  auto b = send(sm, r, "CHAP_A=5\0"s);
  REQUIRE(b.outcome == LoginOutcome::in_progress);
  auto c = decode_binary(val(b, "CHAP_C"));
  REQUIRE(c);
  r.transit = true;
  return {uint8_t(std::stoi(val(b, "CHAP_I"))), *c};
}

TEST_CASE("CHAP: per-initiator credentials and RFC 7143 12.1.3 rules") {
  LoginConfig cfg;
  FakeContext ctx;
  ctx.chap = ChapSecret{"alice", "secretsecret12", "", ""};
  ctx.random_seed = 1;
  Req r;
  SECTION("the context is asked for this initiator's credentials") {
    LoginStateMachine sm(cfg, ctx);
    chap_challenge(sm, r);
    CHECK(ctx.chap_target_asked == kTarget);
    CHECK(ctx.chap_initiator_asked == kInit);
  }
  SECTION("CHAP required but no secret for this initiator: every answer fails") {
    ctx.chap = ChapSecret{"", "", "", ""};
    LoginStateMachine sm(cfg, ctx);
    auto [id, c] = chap_challenge(sm, r);
    auto resp = *chap_md5_response(id, "", c);  // the answer an empty secret would give
    auto x = send(sm, r, "CHAP_N=\0CHAP_R="s + encode_hex(resp) + '\0');
    CHECK(x.outcome == LoginOutcome::failed);
    CHECK(status_of(x) == 0x0201);
  }
  SECTION("identical initiator and target secrets are refused") {
    ctx.chap = ChapSecret{"alice", "secretsecret12", "tgt", "secretsecret12"};
    LoginStateMachine sm(cfg, ctx);
    auto [id, c] = chap_challenge(sm, r);
    auto resp = *chap_md5_response(id, "secretsecret12", c);
    auto x = send(sm, r, "CHAP_N=alice\0CHAP_R="s + encode_hex(resp) + "\0CHAP_I=3\0CHAP_C=0x00112233445566778899aabbccddeeff\0"s);
    CHECK(status_of(x) == 0x0201);
  }
  SECTION("a response recorded from an earlier login does not open a new one (challenge reuse)") {
    std::string old_r;
    {
      LoginStateMachine sm(cfg, ctx);
      auto [id, c] = chap_challenge(sm, r);
      old_r = encode_hex(*chap_md5_response(id, "secretsecret12", c));
      auto ok = send(sm, r, "CHAP_N=alice\0CHAP_R="s + old_r + '\0');
      REQUIRE(ok.outcome == LoginOutcome::in_progress);
      REQUIRE(sm.authenticated_with_chap());
    }
    Req r2;
    LoginStateMachine sm2(cfg, ctx);  // the context's bytes moved on: a new identifier and challenge
    auto [id2, c2] = chap_challenge(sm2, r2);
    CHECK(id2 != 1);
    auto x = send(sm2, r2, "CHAP_N=alice\0CHAP_R="s + old_r + '\0');
    CHECK(status_of(x) == 0x0201);
  }
  SECTION("a failure reason (logged) quotes at most 64 characters of what the initiator sent") {
    LoginStateMachine sm(cfg, ctx);
    auto [id, c] = chap_challenge(sm, r);
    auto x = send(sm, r, "CHAP_N="s + std::string(200, 'n') + "\0CHAP_R="s + encode_hex(*chap_md5_response(id, "secretsecret12", c)) + '\0');
    CHECK(status_of(x) == 0x0201);
    CHECK(x.reason.size() < 100);
  }
  SECTION("CHAP_R of the wrong length") {
    LoginStateMachine sm(cfg, ctx);
    chap_challenge(sm, r);
    CHECK(status_of(send(sm, r, "CHAP_N=alice\0CHAP_R=0x0011\0"s)) == 0x0201);
  }
  SECTION("CHAP_I and CHAP_C of a mutual challenge are checked") {
    ctx.chap = ChapSecret{"alice", "secretsecret12", "tgt", "targetsecret99"};
    LoginStateMachine sm(cfg, ctx);
    auto [id, c] = chap_challenge(sm, r);
    const std::string ans = "CHAP_N=alice\0CHAP_R="s + encode_hex(*chap_md5_response(id, "secretsecret12", c)) + '\0';
    std::string mutual;
    SECTION("CHAP_I above 255") { mutual = "CHAP_I=256\0CHAP_C=0x00112233445566778899aabbccddeeff\0"s; }
    SECTION("CHAP_I not a number") { mutual = "CHAP_I=x\0CHAP_C=0x00112233445566778899aabbccddeeff\0"s; }
    SECTION("empty CHAP_C") { mutual = "CHAP_I=1\0CHAP_C=0x\0"s; }
    SECTION("CHAP_C longer than 1024 bytes") { mutual = "CHAP_I=1\0CHAP_C=0x"s + std::string(2 * 1025, 'a') + '\0'; }
    SECTION("CHAP_C not binary") { mutual = "CHAP_I=1\0CHAP_C=hello\0"s; }
    auto x = send(sm, r, ans + mutual);
    CHECK(x.outcome == LoginOutcome::failed);
    CHECK(status_of(x) == 0x0201);
  }
  SECTION("a 1024-byte mutual challenge is answered") {
    ctx.chap = ChapSecret{"alice", "secretsecret12", "tgt", "targetsecret99"};
    LoginStateMachine sm(cfg, ctx);
    auto [id, c] = chap_challenge(sm, r);
    const std::string ans = "CHAP_N=alice\0CHAP_R="s + encode_hex(*chap_md5_response(id, "secretsecret12", c)) + '\0';
    auto x = send(sm, r, ans + "CHAP_I=1\0CHAP_C=0x"s + std::string(2 * 1024, 'b') + '\0');
    CHECK(x.outcome == LoginOutcome::in_progress);
    CHECK(val(x, "CHAP_N") == "tgt");
  }
  SECTION("CHAP_A: only MD5 (5) is chosen") {
    LoginStateMachine sm(cfg, ctx);
    r.csg = 0;
    r.transit = false;
    REQUIRE(send(sm, r, names() + "AuthMethod=CHAP\0"s).outcome == LoginOutcome::in_progress);
    SECTION("SHA-256 (7) alone is refused") { CHECK(status_of(send(sm, r, "CHAP_A=7\0"s)) == 0x0201); }
    SECTION("a list containing 5 gets 5") { CHECK(val(send(sm, r, "CHAP_A=7,6,5\0"s), "CHAP_A") == "5"); }
    SECTION("garbage is refused") { CHECK(status_of(send(sm, r, "CHAP_A=five\0"s)) == 0x0201); }
  }
  SECTION("discovery sessions authenticate too") {
    LoginStateMachine sm(cfg, ctx);
    auto [id, c] = chap_challenge(sm, r, true);
    CHECK(ctx.chap_target_asked.empty());
    auto x = send(sm, r, "CHAP_N=alice\0CHAP_R="s + encode_hex(*chap_md5_response(id, "wrongsecret12", c)) + '\0');
    CHECK(status_of(x) == 0x0201);
  }
}

TEST_CASE("first request checks and status codes") {
  LoginConfig cfg;
  FakeContext ctx;
  Req r;
  auto first = [&](const std::string& text, Req rr) {
    LoginStateMachine sm(cfg, ctx);
    auto res = send(sm, rr, text);
    CHECK(sm.failed() == (res.outcome == LoginOutcome::failed));
    return status_of(res);
  };
  CHECK(first("TargetName=" + kTarget + '\0', r) == 0x0207);
  CHECK(first("InitiatorName=" + kInit + '\0', r) == 0x0207);
  CHECK(first("InitiatorName=" + kInit + "\0TargetName=iqn.nope\0"s, r) == 0x0203);
  CHECK(first(names() + "", r) == 0);
  CHECK(first("InitiatorName=" + kInit + "\0SessionType=Bogus\0"s, r) == 0x0209);
  Req v = r;
  v.vmin = 1;
  v.vmax = 2;
  CHECK(first(names(), v) == 0x0205);
  Req tc = r;
  tc.cont = true;
  CHECK(first(names(), tc) == 0x0200);  // T and C
  Req badnsg = r;
  badnsg.nsg = 1;  // CSG 1 → NSG 1
  CHECK(first(names(), badnsg) == 0x0200);
  Req csg3 = r;
  csg3.csg = 3;
  CHECK(first(names(), csg3) == 0x0200);
  CHECK(first("bad text", r) == 0x0200);
  ctx.allowed = false;
  CHECK(first(names(), r) == 0x0202);
  ctx.allowed = true;
  ctx.decision = SessionDecision::session_does_not_exist;
  Req t = r;
  t.tsih = 9;
  CHECK(first(names(), t) == 0x020a);
  CHECK(ctx.seen_tsih == 9);
  ctx.decision = SessionDecision::too_many_connections;
  CHECK(first(names(), r) == 0x0206);
  ctx.decision = SessionDecision::cant_include_in_session;
  CHECK(first(names(), r) == 0x0208);
  ctx.decision = SessionDecision::reinstate;
  CHECK(first(names(), r) == 0);
}

TEST_CASE("identity must not change during the login") {
  LoginConfig cfg;
  FakeContext ctx;
  Req r;
  r.transit = false;
  auto second = [&](Req changed, const std::string& text = "") {
    LoginStateMachine sm(cfg, ctx);
    REQUIRE(send(sm, r, names()).outcome == LoginOutcome::in_progress);
    return status_of(send(sm, changed, text));
  };
  Req c = r;
  c.isid = kIsid + 1;
  CHECK(second(c) == 0x0200);
  c = r;
  c.cid = 4;
  CHECK(second(c) == 0x0200);
  c = r;
  c.tsih = 1;
  CHECK(second(c) == 0x0200);
  c = r;
  c.vmax = 1;
  CHECK(second(c) == 0x0200);
  c = r;
  c.csg = 0;  // going back
  CHECK(second(c) == 0x0200);
  CHECK(second(r, "TargetName=iqn.other\0"s) == 0x0200);
  CHECK(second(r, "InitiatorName=" + kInit + '\0') == 0);  // same value is fine
}

TEST_CASE("C bit: the initiator's text spans PDUs") {
  LoginConfig cfg;
  FakeContext ctx;
  LoginStateMachine sm(cfg, ctx);
  const std::string text = names() + "MaxBurstLength=131072\0"s;
  Req r;
  r.transit = false;
  r.cont = true;
  auto a = send(sm, r, text.substr(0, 25));
  REQUIRE(a.outcome == LoginOutcome::in_progress);
  CHECK(a.data.empty());
  CHECK(a.bhs[1] == 0x04);
  CHECK(ctx.check_calls == 0);
  r.cont = false;
  r.transit = true;
  auto b = send(sm, r, text.substr(25));
  REQUIRE(b.outcome == LoginOutcome::complete);
  CHECK(val(b, "MaxBurstLength") == "131072");
  CHECK(ctx.check_calls == 1);
}

TEST_CASE("long response is sent with the C bit") {
  LoginConfig cfg;
  FakeContext ctx;
  LoginStateMachine sm(cfg, ctx);
  std::string text = names();
  for (int i = 0; i < 400; ++i) text += "X-vendor-key-" + std::to_string(i) + "=v" + '\0';
  Req r;
  auto a = send(sm, r, text);
  REQUIRE(a.outcome == LoginOutcome::in_progress);
  CHECK(a.bhs[1] == (0x40 | 0x04));  // C, CSG 1, no T
  CHECK(a.data.size() == 8192);
  std::string all = a.data;
  r.transit = false;
  LoginResult last;
  for (int i = 0; i < 10; ++i) {
    last = send(sm, r, "");
    all += last.data;
    if (!(last.bhs[1] & 0x40)) break;
  }
  CHECK(last.outcome == LoginOutcome::complete);
  CHECK(last.bhs[1] == 0x87);
  TextKeys k;
  REQUIRE_FALSE(parse_text(all, k));
  CHECK(*find_key(k, "X-vendor-key-399") == "NotUnderstood");
  CHECK(*find_key(k, "MaxRecvDataSegmentLength") == "262144");
}

TEST_CASE("negotiation rules") {
  LoginConfig cfg;
  FakeContext ctx;
  Req r;
  r.transit = false;
  auto answer = [&](const std::string& keys, bool discovery = false) {
    LoginStateMachine sm(cfg, ctx);
    return send(sm, r, names(discovery) + keys);
  };
  CHECK(val(answer("MaxBurstLength=100\0"s), "MaxBurstLength") == "Reject");
  CHECK(val(answer("MaxBurstLength=16777216\0"s), "MaxBurstLength") == "Reject");
  CHECK(val(answer("MaxBurstLength=0x1000\0"s), "MaxBurstLength") == "4096");
  CHECK(val(answer("FirstBurstLength=131072\0MaxBurstLength=65536\0"s), "FirstBurstLength") == "Reject");
  CHECK(val(answer("FirstBurstLength=4096\0MaxBurstLength=65536\0"s), "FirstBurstLength") == "4096");
  CHECK(val(answer("X-com.example.foo=1\0"s), "X-com.example.foo") == "NotUnderstood");
  CHECK(val(answer("Unknown=1\0"s), "Unknown") == "NotUnderstood");
  CHECK(val(answer("InitialR2T=Maybe\0"s), "InitialR2T") == "Reject");
  CHECK(val(answer("MaxConnections=4\0"s), "MaxConnections") == "1");
  CHECK(val(answer("MaxConnections=0\0"s), "MaxConnections") == "Reject");
  CHECK(val(answer("ErrorRecoveryLevel=3\0"s), "ErrorRecoveryLevel") == "Reject");
  CHECK(val(answer("DefaultTime2Wait=30\0"s), "DefaultTime2Wait") == "30");
  CHECK(val(answer("DefaultTime2Retain=3601\0"s), "DefaultTime2Retain") == "Reject");
  CHECK(val(answer("IFMarker=No\0"s), "IFMarker") == "No");
  CHECK(val(answer("OFMarkInt=2048\0"s), "OFMarkInt") == "Irrelevant");
  CHECK(val(answer("TargetAlias=x\0"s), "TargetAlias") == "Reject");
  CHECK(val(answer("HeaderDigest=Bogus\0"s), "HeaderDigest") == "Reject");
  // Discovery sessions.
  auto d = answer("MaxBurstLength=65536\0ImmediateData=Yes\0HeaderDigest=None\0"s, true);
  CHECK(val(d, "MaxBurstLength") == "Irrelevant");
  CHECK(val(d, "ImmediateData") == "Irrelevant");
  CHECK(val(d, "HeaderDigest") == "None");
  CHECK(val(d, "TargetPortalGroupTag") == "<absent>");
  // Bad declarative value fails the login.
  CHECK(status_of(answer("MaxRecvDataSegmentLength=100\0"s)) == 0x0200);

  SECTION("policy: ImmediateData off, InitialR2T on") {
    cfg.immediate_data = false;
    cfg.initial_r2t = true;
    auto a = answer("ImmediateData=Yes\0InitialR2T=No\0"s);
    CHECK(val(a, "ImmediateData") == "No");
    CHECK(val(a, "InitialR2T") == "Yes");
  }
  SECTION("policy: digests forbidden or required") {
    cfg.header_digests = {Digest::none};
    CHECK(val(answer("HeaderDigest=CRC32C,None\0"s), "HeaderDigest") == "None");
    cfg.data_digests = {Digest::crc32c};
    CHECK(val(answer("DataDigest=None\0"s), "DataDigest") == "Reject");
    // ... and the login cannot complete with the default None.
    LoginStateMachine sm(cfg, ctx);
    Req t;
    auto res = send(sm, t, names() + "DataDigest=None\0"s);
    CHECK(res.outcome == LoginOutcome::failed);
    CHECK(res.data.empty());
    CHECK(status_of(res) == 0x0200);
  }
}

TEST_CASE("target offers keys its policy needs") {
  LoginConfig cfg;
  cfg.immediate_data = false;
  cfg.max_burst_length = 65536;
  cfg.first_burst_length = 16384;
  cfg.header_digests = {Digest::crc32c};
  FakeContext ctx;
  LoginStateMachine sm(cfg, ctx);
  Req r;
  auto a = send(sm, r, names());
  REQUIRE(a.outcome == LoginOutcome::in_progress);
  CHECK((a.bhs[1] & 0x80) == 0);  // T=0 until answered
  CHECK(val(a, "ImmediateData") == "No");
  CHECK(val(a, "MaxBurstLength") == "65536");
  CHECK(val(a, "FirstBurstLength") == "16384");
  CHECK(val(a, "HeaderDigest") == "CRC32C");

  SECTION("answered") {
    auto b = send(sm, r, "ImmediateData=No\0MaxBurstLength=65536\0FirstBurstLength=8192\0HeaderDigest=CRC32C\0"s);
    REQUIRE(b.outcome == LoginOutcome::complete);
    CHECK(b.data.find("ImmediateData") == std::string::npos);  // answers are not answered
    CHECK_FALSE(sm.params().immediate_data);
    CHECK(sm.params().max_burst_length == 65536);
    CHECK(sm.params().first_burst_length == 8192);
    CHECK(sm.params().header_digest);
  }
  SECTION("answer above our offer") {
    auto b = send(sm, r, "ImmediateData=No\0MaxBurstLength=131072\0FirstBurstLength=8192\0HeaderDigest=CRC32C\0"s);
    CHECK(status_of(b) == 0x0200);
  }
  SECTION("digest refused") {
    auto b = send(sm, r, "ImmediateData=No\0MaxBurstLength=65536\0FirstBurstLength=8192\0HeaderDigest=Reject\0"s);
    CHECK(status_of(b) == 0x0200);
  }
  SECTION("not yet answered: still T=0") {
    auto b = send(sm, r, "ImmediateData=No\0"s);
    CHECK(b.outcome == LoginOutcome::in_progress);
    CHECK((b.bhs[1] & 0x80) == 0);
  }
}

TEST_CASE("LoginStatus names") {
  CHECK(std::string(to_string(LoginStatus::session_does_not_exist)) == "session does not exist");
  CHECK(uint16_t(LoginStatus::unsupported_version) == 0x0205);
  CHECK(uint16_t(LoginStatus::session_type_not_supported) == 0x0209);
}
