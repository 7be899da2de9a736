// Writes the seed corpus of every fuzz target (test/fuzz/corpus/<target>/seed-*) from the
// project's own encoders: iSCSI PDUs as an initiator sends them, login conversations that the
// login state machine accepts (including a CHAP answer computed against the fuzzer's
// deterministic challenge), proxy frames from proxy/codec, management requests and a
// configuration file. Run by `scripts/fuzz.sh --seeds`; the files are committed.
//   make_seeds <corpus-dir>
#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

extern "C" {
#include <iscsi/scsi-lowlevel.h>
}

#include "proxy/codec.h"
#include "test/fuzz/login_input.h"
#include "transport/iscsi/chap.h"
#include "transport/iscsi/pdu.h"
#include "transport/iscsi/text.h"

namespace fs = std::filesystem;
using namespace stmf;
using namespace stmf::iscsi;

namespace {

fs::path g_root;
int g_written = 0;

void put(const std::string& target, const std::string& name, const std::vector<uint8_t>& bytes) {
  const fs::path dir = g_root / target;
  fs::create_directories(dir);
  std::ofstream(dir / ("seed-" + name), std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  ++g_written;
}
void put(const std::string& target, const std::string& name, const std::string& text) {
  put(target, name, std::vector<uint8_t>(text.begin(), text.end()));
}

std::string keys(std::initializer_list<std::pair<const char*, const char*>> kv) {
  std::string out;
  for (auto& [k, v] : kv) append_key(out, k, v);
  return out;
}

// ------------------------------------------------------------------------------ fuzz_pdu

std::vector<uint8_t> pdu(const Bhs& b, const std::vector<uint8_t>& ahs = {}, const std::string& data = {}) {
  std::vector<uint8_t> out(b.begin(), b.end());
  out.insert(out.end(), ahs.begin(), ahs.end());
  out.insert(out.end(), data.begin(), data.end());
  out.resize(out.size() + pad4(data.size()), 0);
  return out;
}

Bhs scsi_command(uint8_t flags, uint32_t edtl, std::initializer_list<uint8_t> cdb, uint32_t dsl = 0) {
  Bhs b{};
  set_opcode(b, opcode::scsi_command);
  b[1] = flags;
  set_data_segment_length(b, dsl);
  set_lun(b, 0);
  set_itt(b, 0x10);
  store_be32(&b[20], edtl);
  store_be32(&b[24], 7);  // CmdSN
  store_be32(&b[28], 3);  // ExpStatSN
  size_t i = 32;
  for (uint8_t c : cdb) b[i++] = c;
  return b;
}

void pdu_seeds() {
  const uint32_t blk = 512;
  put("fuzz_pdu", "read10", pdu(scsi_command(0xc1, 8 * blk, {0x28, 0, 0, 0, 0, 0x40, 0, 0, 8, 0})));
  put("fuzz_pdu", "write10-immediate",
      pdu(scsi_command(0xa1, 2 * blk, {0x2a, 0, 0, 0, 0, 0x40, 0, 0, 2, 0}, blk), {}, std::string(blk, 'w')));
  put("fuzz_pdu", "inquiry", pdu(scsi_command(0xc1, 255, {0x12, 0x01, 0x83, 0, 0xff, 0})));
  put("fuzz_pdu", "test-unit-ready", pdu(scsi_command(0x81, 0, {0, 0, 0, 0, 0, 0})));
  {
    // A 32-byte CDB: 16 bytes in the BHS, 16 in an extended-CDB AHS (type 1).
    Bhs b = scsi_command(0xc1, 4096, {0x7f, 0, 0, 0, 0, 0, 0, 0x18, 0x00, 0x09});
    b[4] = 5;  // TotalAHSLength in words
    std::vector<uint8_t> ahs = {0, 17, 1, 0};
    for (int i = 0; i < 16; ++i) ahs.push_back(uint8_t(i));
    put("fuzz_pdu", "scsi-command-ext-cdb", pdu(b, ahs));
  }
  {
    // Bidirectional (AHS type 2, the expected read length).
    Bhs b = scsi_command(0xe1, blk, {0x53, 0, 0, 0, 0, 0x10, 0, 0, 1, 0});
    b[4] = 2;
    put("fuzz_pdu", "scsi-command-bidi", pdu(b, {0, 5, 2, 0, 0, 0, 2, 0}));
  }
  {
    Bhs b{};
    set_opcode(b, opcode::data_out);
    b[1] = 0x80;
    set_data_segment_length(b, blk);
    set_itt(b, 0x10);
    store_be32(&b[20], 0x1234);  // TTT from the R2T
    store_be32(&b[28], 3);
    store_be32(&b[36], 0);      // DataSN
    store_be32(&b[40], blk);    // BufferOffset
    put("fuzz_pdu", "data-out", pdu(b, {}, std::string(blk, 'd')));
  }
  {
    Bhs b{};
    set_opcode(b, opcode::nop_out, true);
    b[1] = 0x80;
    set_itt(b, 0x20);
    store_be32(&b[20], kReservedTag);
    store_be32(&b[24], 7);
    store_be32(&b[28], 3);
    set_data_segment_length(b, 5);
    put("fuzz_pdu", "nop-out-ping", pdu(b, {}, "ping!"));
  }
  {
    const std::string text = keys({{"InitiatorName", "iqn.2026-11.org.example:i"},
                                   {"TargetName", "iqn.2026-11.org.example:t"},
                                   {"SessionType", "Normal"},
                                   {"HeaderDigest", "CRC32C,None"},
                                   {"DataDigest", "None"},
                                   {"MaxRecvDataSegmentLength", "262144"}});
    Bhs b{};
    set_opcode(b, opcode::login_request, true);
    b[1] = 0x87;  // T, CSG operational, NSG full feature
    store_be48(&b[8], 0x23d000000001ull);
    set_itt(b, 1);
    store_be32(&b[24], 1);
    set_data_segment_length(b, uint32_t(text.size()));
    put("fuzz_pdu", "login-request", pdu(b, {}, text));
  }
  {
    const std::string text = keys({{"SendTargets", "All"}});
    Bhs b{};
    set_opcode(b, opcode::text_request, true);
    b[1] = 0x80;
    set_itt(b, 2);
    store_be32(&b[20], kReservedTag);
    store_be32(&b[24], 7);
    set_data_segment_length(b, uint32_t(text.size()));
    put("fuzz_pdu", "text-sendtargets", pdu(b, {}, text));
  }
  {
    Bhs b{};
    set_opcode(b, opcode::logout_request, true);
    b[1] = 0x80;  // close the session
    set_itt(b, 3);
    store_be32(&b[24], 8);
    put("fuzz_pdu", "logout", pdu(b));
  }
  {
    Bhs b{};
    set_opcode(b, opcode::task_mgmt_request, true);
    b[1] = 0x80 | uint8_t(TmfFunction::abort_task);
    set_itt(b, 4);
    store_be32(&b[20], 0x10);  // referenced task tag
    store_be32(&b[24], 8);
    store_be32(&b[32], 7);     // RefCmdSN
    put("fuzz_pdu", "tmf-abort-task", pdu(b));
  }
  {
    Bhs b{};
    set_opcode(b, opcode::snack_request);
    b[1] = 0x80 | 1;  // status SNACK
    set_itt(b, kReservedTag);
    store_be32(&b[40], 2);  // BegRun
    store_be32(&b[44], 1);  // RunLength
    put("fuzz_pdu", "snack-status", pdu(b));
  }
  // Text alone (the whole input is also parsed as key=value text).
  put("fuzz_pdu", "text-keys", keys({{"MaxBurstLength", "262144"}, {"FirstBurstLength", "65536"},
                                      {"CHAP_C", "0x0123456789abcdef"}, {"CHAP_R", "0bASNFZ4mrze8="},
                                      {"InitialR2T", "No"}, {"ImmediateData", "Yes"}}));
}

// ---------------------------------------------------------------------------- fuzz_login

// A conversation: the policy byte, then one record per Login Request ([flags][len][text]).
// Texts longer than 127 bytes get a length byte with bit 7 (len * 4) and are padded to a
// multiple of 4 with an X- key (which the target answers NotUnderstood).
struct Conversation {
  std::vector<uint8_t> bytes;
  explicit Conversation(uint8_t policy) : bytes{policy} {}
  // Appends a record; returns the length byte used.
  uint8_t add(uint8_t flags, std::string text) {
    uint8_t lenb;
    if (text.size() <= 127) {
      lenb = uint8_t(text.size());
    } else {
      const size_t pad = (4 - (text.size() + 5) % 4) % 4;  // "X-p=" + value + NUL: 5 + pad bytes
      append_key(text, "X-p", std::string(pad, 'p'));
      if (text.size() % 4 || text.size() / 4 > 127) std::abort();
      lenb = uint8_t(0x80 | text.size() / 4);
    }
    bytes.push_back(flags);
    bytes.push_back(lenb);
    bytes.insert(bytes.end(), text.begin(), text.end());
    return lenb;
  }
};

constexpr uint8_t kSecToOp = 0x81, kSecToFfp = 0x83, kOpToFfp = 0x87, kSecStay = 0x00;

const std::string kOperational = keys({{"HeaderDigest", "CRC32C,None"},
                                       {"DataDigest", "CRC32C,None"},
                                       {"MaxRecvDataSegmentLength", "262144"},
                                       {"MaxBurstLength", "1048576"},
                                       {"FirstBurstLength", "65536"},
                                       {"InitialR2T", "No"},
                                       {"ImmediateData", "Yes"},
                                       {"MaxOutstandingR2T", "1"},
                                       {"MaxConnections", "1"},
                                       {"DataPDUInOrder", "Yes"},
                                       {"DataSequenceInOrder", "Yes"},
                                       {"DefaultTime2Wait", "2"},
                                       {"DefaultTime2Retain", "20"},
                                       {"ErrorRecoveryLevel", "0"},
                                       {"IFMarker", "No"},
                                       {"OFMarker", "No"}});

// One step through the real state machine (as fuzz_login runs it); returns the response keys.
TextKeys step(LoginStateMachine& sm, uint8_t flags, uint8_t lenb, const std::string& text) {
  const Bhs b = fuzz_login_bhs(flags, lenb, text.size());
  auto r = sm.on_request(b, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  if (r.outcome == LoginOutcome::failed) {
    std::fprintf(stderr, "make_seeds: the login state machine refused a seed step (flags 0x%02x, %zu bytes of text): %s\n",
                 flags, text.size(), r.reason.c_str());
    std::abort();
  }
  TextKeys k;
  (void)parse_text(std::string_view(r.data), k);
  return k;
}

// A CHAP exchange (optionally mutual, or of a discovery session) through the real state
// machine. `attack` names a way to break it (the last step is then refused, and the seed
// ends there): "wrong-secret", "reflect" (the target's own challenge as the mutual one),
// "missing-r", "chap-a-7", "unknown-initiator", "same-secret" (initiator and target secrets
// equal), "empty-challenge" (a mutual CHAP_C of no bytes; a record holds at most 508 bytes, too
// few for an over-long one); "" = answered correctly, then the
// operational stage.
std::vector<uint8_t> chap_conversation(bool mutual, bool discovery = false, const std::string& attack = "") {
  const uint8_t policy = mutual ? 3 : 1;
  FuzzLoginContext ctx;
  ctx.chap = true;
  ctx.mutual = mutual;
  const LoginConfig cfg = fuzz_login_config(policy);  // the state machine keeps a reference
  LoginStateMachine sm(cfg, ctx);
  Conversation c(policy);
  const bool fails = !attack.empty();
  auto last = [&](uint8_t flags, const std::string& t) {  // a step the target must refuse
    const uint8_t lenb = c.add(flags, t);
    const Bhs b = fuzz_login_bhs(flags, lenb, t.size());
    auto r = sm.on_request(b, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(t.data()), t.size()));
    if (r.outcome != LoginOutcome::failed || r.status != LoginStatus::authentication_failure) {
      std::fprintf(stderr, "make_seeds: CHAP attack '%s' was not refused with 0x0201\n", attack.c_str());
      std::abort();
    }
    return c.bytes;
  };

  const char* initiator = attack == "unknown-initiator" ? "iqn.x" : attack == "same-secret" ? "iqn.same" : "iqn.i";
  std::string t = discovery ? keys({{"InitiatorName", initiator}, {"SessionType", "Discovery"}, {"AuthMethod", "CHAP,None"}})
                            : keys({{"InitiatorName", initiator}, {"TargetName", "iqn.t"}, {"SessionType", "Normal"},
                                    {"AuthMethod", "CHAP,None"}});
  step(sm, kSecStay, c.add(kSecStay, t), t);
  if (attack == "chap-a-7") return last(kSecStay, keys({{"CHAP_A", "7"}}));
  t = keys({{"CHAP_A", "5"}});
  const TextKeys challenge = step(sm, kSecStay, c.add(kSecStay, t), t);
  const std::string* id = find_key(challenge, "CHAP_I");
  const std::string* chal = find_key(challenge, "CHAP_C");
  if (!id || !chal) std::abort();
  const auto chal_bytes = decode_binary(*chal);
  if (!chal_bytes) std::abort();
  const std::string secret = attack == "wrong-secret" ? "wrongsecret12" : attack == "same-secret" ? "tsecretsecret" : "secretsecret1";
  const auto answer = *chap_md5_response(uint8_t(std::stoi(*id)), secret, *chal_bytes);
  t.clear();
  append_key(t, "CHAP_N", attack == "same-secret" ? "same" : "user");
  if (attack != "missing-r") append_key(t, "CHAP_R", encode_hex(answer));
  if (mutual) {
    if (attack == "reflect") {
      append_key(t, "CHAP_I", *id);
      append_key(t, "CHAP_C", *chal);
    } else {
      append_key(t, "CHAP_I", "7");
      append_key(t, "CHAP_C", attack == "empty-challenge" ? "0x" : "0x00112233445566778899aabbccddeeff");
    }
  }
  if (fails) return last(kSecToOp, t);
  const TextKeys done = step(sm, kSecToOp, c.add(kSecToOp, t), t);
  if (mutual && !find_key(done, "CHAP_R")) std::abort();  // the target answered our challenge
  step(sm, kOpToFfp, c.add(kOpToFfp, kOperational), kOperational);
  if (!sm.complete()) std::abort();
  return c.bytes;
}

void login_seeds() {
  {
    Conversation c(0);
    c.add(kSecToOp, keys({{"InitiatorName", "iqn.i"}, {"TargetName", "iqn.t"}, {"SessionType", "Normal"}, {"AuthMethod", "None"}}));
    c.add(kOpToFfp, kOperational);
    put("fuzz_login", "no-auth-two-stages", c.bytes);
  }
  {
    Conversation c(0);
    c.add(kOpToFfp, keys({{"InitiatorName", "iqn.i"}, {"TargetName", "iqn.t"}, {"MaxRecvDataSegmentLength", "8192"}}));
    put("fuzz_login", "operational-only", c.bytes);
  }
  {
    Conversation c(64 | 128);  // the discovery prefix
    c.add(kSecToFfp, keys({{"AuthMethod", "None"}}));
    put("fuzz_login", "discovery", c.bytes);
  }
  {
    Conversation c(64 | 4 | 8 | 16 | 32);  // digests required/forbidden, ImmediateData=No, small bursts
    c.add(kOpToFfp, kOperational);
    put("fuzz_login", "policy-constraints", c.bytes);
  }
  {
    Conversation c(64);
    const std::string long_value(40, 'v');
    c.add(0x40, keys({{"AuthMethod", "None"}, {"X-com.example.long", long_value.c_str()}}));  // C: continued, T clear
    c.add(kSecToOp, keys({{"HeaderDigest", "None"}}));
    put("fuzz_login", "continued-text", c.bytes);
  }
  put("fuzz_login", "chap", chap_conversation(false));
  put("fuzz_login", "chap-mutual", chap_conversation(true));
  put("fuzz_login", "chap-discovery", chap_conversation(false, true));
  for (const char* attack : {"wrong-secret", "missing-r", "chap-a-7", "unknown-initiator"})
    put("fuzz_login", std::string("chap-") + attack, chap_conversation(false, false, attack));
  for (const char* attack : {"reflect", "same-secret", "empty-challenge"})
    put("fuzz_login", std::string("chap-mutual-") + attack, chap_conversation(true, false, attack));
  put("fuzz_login", "chap-discovery-wrong-secret", chap_conversation(false, true, "wrong-secret"));
}

// ---------------------------------------------------------------------------- fuzz_proxy

void proxy_seeds() {
  using namespace stmf::proxy;
  Guid g{};
  for (size_t i = 0; i < g.size(); ++i) g[i] = uint8_t(0x60 + i);
  ScsiCmd cmd;
  cmd.session_id = 9;
  cmd.guid = g;
  cmd.epoch = 2;
  cmd.lun = 0;
  cmd.tag = 0x10;
  cmd.direction = 2;
  cmd.expected_transfer_length = 1024;
  cmd.cdb = {0x2a, 0, 0, 0, 0, 0x40, 0, 0, 2, 0};
  cmd.data_complete = false;
  cmd.immediate_data = std::vector<uint8_t>(512, 0x5a);
  ScsiStatus st;
  st.task_id = 5;
  st.session_id = 9;
  st.scsi_status = 2;
  st.transfer_length = 512;
  st.sense = {0x70, 0, 6, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x2a, 0x06};
  const std::vector<std::pair<const char*, Message>> msgs = {
      {"hello", Message{1, Hello{1, 0x1122334455667788ull, true, "node-b"}}},
      {"register-proxy-port", Message{2, RegisterProxyPort{0x8001, 2, "iqn.2026-11.org.example:t,t,0x0001", "iqn.2026-11.org.example:t"}}},
      {"deregister-proxy-port", Message{3, DeregisterProxyPort{0x8001}}},
      {"register-lun", Message{4, RegisterLun{g, "sbd", R"({"name":"a","size":1048576,"block_size":512})"}}},
      {"deregister-lun", Message{5, DeregisterLun{g}}},
      {"lun-active", Message{6, LunActive{g, 3}}},
      {"pr-state", Message{7, PrStateMsg{g, 4, R"({"generation":2,"registrations":[]})"}}},
      {"lu-list", Message{8, LuList{{g, Guid{}}}}},
      {"session-create", Message{9, SessionCreate{9, 0x8001, "iqn.2026-11.org.example:i", "23d000000001", {LunEntry{0, g}}}}},
      {"session-luns", Message{10, SessionLuns{9, {LunEntry{0, g}, LunEntry{1, Guid{}}}}}},
      {"session-destroy", Message{11, SessionDestroy{9}}},
      {"scsi-cmd", Message{12, cmd}},
      {"scsi-data", Message{13, ScsiData{12, 9, 512, std::vector<uint8_t>(512, 0xa5)}}},
      {"scsi-data-xfer-done", Message{14, ScsiDataXferDone{12, 9, 0}}},
      {"scsi-status", Message{15, st}},
      {"task-mgmt", Message{16, TaskMgmt{9, 1, 0, g, 2, 0x10}}},
      {"status", Message{17, Status{uint8_t(MsgType::scsi_cmd), 12, uint32_t(ProxyStatus::stale)}}},
      {"echo-request", Message{18, EchoRequest{{1, 2, 3, 4}}}},
      {"echo-reply", Message{18, EchoReply{{{1, 2, 3, 4}}}}},
  };
  std::vector<uint8_t> stream;
  for (auto& [name, m] : msgs) {
    const auto f = encode(m);
    put("fuzz_proxy", name, f);
    if (stream.size() < 4096) stream.insert(stream.end(), f.begin(), f.end());
  }
  put("fuzz_proxy", "stream", stream);  // frames back to back, as a carrier reads them
}

// ----------------------------------------------------------------------------- fuzz_mgmt

void mgmt_seeds() {
  put("fuzz_mgmt", "config",
      R"({"version": 1, "company_id": 5199, "threads": 2, "log_level": "info",
  "portals": ["127.0.0.1:3260", "[::1]:3260"],
  "iscsi": {"max_recv_data_segment_length": 262144, "header_digest": ["CRC32C", "None"], "queue_depth": 64},
  "management": {"admin_group": "stmf"},
  "lus": [{"name": "a", "store": "ram", "size": "64M", "block_size": 512, "vendor": "STMF", "product": "fuzz",
           "write_cache": true, "removable": false},
          {"backing": "/var/lib/stmf/b.img", "size": "1G", "physical_block_size": 4096,
           "guid": "600144F0000000000000000000000001"}],
  "targets": [{"iqn": "iqn.2026-11.org.example:t", "alias": "t", "tpgt": 1,
               "chap": {"user": "u", "secret": "secretsecret1"}, "initiators": ["iqn.2026-11.org.example:i"]}],
  "host_groups": [{"name": "hg", "members": ["iqn.2026-11.org.example:i"]}],
  "target_groups": [{"name": "tg", "members": ["iqn.2026-11.org.example:t"]}],
  "views": [{"guid": "600144F0000000000000000000000001", "host_group": "hg", "target_group": "tg", "lun": 0}],
  "alua": {"enabled": false, "node": 0, "peer": "127.0.0.2:3261"}})");
  put("fuzz_mgmt", "config-shorthand",
      R"({"portals": ["127.0.0.1:3260"],
 "targets": [{"iqn": "iqn.2026-11.org.example:target0",
              "luns": [{"lun": 0, "backing": "/var/tmp/lu0.img", "size": "1GiB", "block_size": 512}]}]})");
  put("fuzz_mgmt", "requests-lu",
      "{\"v\":1,\"op\":\"create-lu\",\"lu\":{\"store\":\"ram\",\"size\":\"4M\",\"guid\":\"600144F0000000000000000000000001\"}}\n"
      "{\"v\":1,\"op\":\"create-lu\",\"lu\":{\"backing\":\"/x.img\",\"size\":1048576,\"block_size\":4096}}\n"
      "{\"v\":1,\"op\":\"list-lu\"}\n"
      "{\"v\":1,\"op\":\"modify-lu\",\"guid\":\"600144F0000000000000000000000001\",\"props\":{\"size\":\"8M\"}}\n"
      "{\"v\":1,\"op\":\"offline-lu\",\"guid\":\"600144F0000000000000000000000001\"}\n"
      "{\"v\":1,\"op\":\"delete-lu\",\"guid\":\"600144F0000000000000000000000001\"}\n");
  put("fuzz_mgmt", "requests-groups-views",
      "{\"v\":1,\"op\":\"create-hg\",\"name\":\"h1\"}\n"
      "{\"v\":1,\"op\":\"add-hg-member\",\"group\":\"h1\",\"member\":\"iqn.2026-11.org.example:j\"}\n"
      "{\"v\":1,\"op\":\"create-tg\",\"name\":\"t1\"}\n"
      "{\"v\":1,\"op\":\"add-tg-member\",\"group\":\"t1\",\"member\":\"iqn.2026-11.org.example:t\"}\n"
      "{\"v\":1,\"op\":\"create-lu\",\"lu\":{\"store\":\"ram\",\"size\":\"1M\",\"guid\":\"600144F0000000000000000000000001\"}}\n"
      "{\"v\":1,\"op\":\"list-lu\"}\n"
      "{\"v\":1,\"op\":\"add-view\",\"guid\":\"600144F0000000000000000000000001\",\"host_group\":\"h1\",\"target_group\":\"t1\",\"lun\":3}\n"
      "{\"v\":1,\"op\":\"list-view\",\"guid\":\"600144F0000000000000000000000001\"}\n"
      "{\"v\":1,\"op\":\"remove-view\",\"guid\":\"600144F0000000000000000000000001\",\"index\":0}\n"
      "{\"v\":1,\"op\":\"remove-hg-member\",\"group\":\"h1\",\"member\":\"iqn.2026-11.org.example:j\"}\n"
      "{\"v\":1,\"op\":\"delete-hg\",\"name\":\"h1\"}\n");
  put("fuzz_mgmt", "requests-targets",
      "{\"v\":1,\"op\":\"create-target\",\"target\":{\"name\":\"iqn.2026-11.org.example:u\",\"alias\":\"u\",\"chap\":{\"user\":\"a\",\"secret\":\"secretsecret2\"}}}\n"
      "{\"v\":1,\"op\":\"modify-target\",\"name\":\"iqn.2026-11.org.example:u\",\"alias\":\"v\",\"initiators\":[\"iqn.2026-11.org.example:i\"]}\n"
      "{\"v\":1,\"op\":\"offline-target\",\"name\":\"iqn.2026-11.org.example:u\"}\n"
      "{\"v\":1,\"op\":\"online-target\",\"name\":\"iqn.2026-11.org.example:u\"}\n"
      "{\"v\":1,\"op\":\"create-portal\",\"host\":\"127.0.0.1\",\"port\":3262}\n"
      "{\"v\":1,\"op\":\"list-portal\"}\n"
      "{\"v\":1,\"op\":\"delete-portal\",\"host\":\"127.0.0.1\",\"port\":3262}\n"
      "{\"v\":1,\"op\":\"set-alua-state\",\"enabled\":true,\"node\":1}\n"
      "{\"v\":1,\"op\":\"get-alua-state\"}\n"
      "{\"v\":1,\"op\":\"offline\"}\n"
      "{\"v\":1,\"op\":\"get-state\"}\n"
      "{\"v\":1,\"op\":\"delete-target\",\"name\":\"iqn.2026-11.org.example:u\"}\n");
  // The admission bounds (issue 14): nesting at the fuzz target's bound (16) and one over it,
  // deep arrays and objects (the request that crashed stmfd had 150,000 levels; this one fits
  // libFuzzer's 64 KiB), brackets inside strings, a line over the line bound as an import and
  // as something else.
  auto nest = [](size_t n, const std::string& open, const std::string& close) {
    std::string s;
    for (size_t i = 0; i < n; ++i) s += open;
    s += "1";
    for (size_t i = 0; i < n; ++i) s += close;
    return s;
  };
  put("fuzz_mgmt", "depth-at-bound",
      "{\"v\":1,\"op\":\"create-hg\",\"name\":\"d\",\"x\":" + nest(15, "[", "]") + "}\n"
      "{\"v\":1,\"op\":\"create-hg\",\"name\":\"e\",\"x\":" + nest(16, "[", "]") + "}\n");
  put("fuzz_mgmt", "deep-arrays", "{\"v\":1,\"op\":\"list-hg\",\"x\":" + nest(30000, "[", "]") + "}\n");
  put("fuzz_mgmt", "deep-objects", "{\"v\":1,\"op\":\"list-hg\",\"x\":" + nest(6000, "{\"a\":", "}") + "}\n");
  put("fuzz_mgmt", "deep-config", "{\"portals\": [], \"x\": " + nest(30000, "[", "]") + "}");
  put("fuzz_mgmt", "brackets-in-strings",
      "{\"v\":1,\"op\":\"create-hg\",\"name\":\"[[[[[[[[[[[[[[[[[[[[\\\"[[[\"}\n"
      "{\"v\":1,\"op\":\"list-hg\"}\n");
  const std::string pad(17000, 'p');
  put("fuzz_mgmt", "long-lines",
      "{\"v\":1,\"op\":\"create-hg\",\"name\":\"" + pad + "\"}\n"
      "{\"v\":1,\"op\":\"import\",\"pad\":\"" + pad + "\"}\n"
      "{\"v\":1,\"op\":\"create-hg\",\"name\":\"ok\"}\n");
}


// ---------------------------------------------------------------------------- fuzz_scsi

// A session of commands: the LU configuration byte, then records
// [flags][cdb length][cdb][EDTL, 3 bytes][data-out] (test/fuzz/fuzz_scsi.cpp).
struct Session {
  std::vector<uint8_t> bytes;
  explicit Session(uint8_t lu_config) : bytes{lu_config} {}
  enum Dir : uint8_t { none = 0, in = 4, out = 8 };
  // Takes a libiscsi task (its CDB and transfer length) and frees it.
  Session& cmd(scsi_task* t, uint8_t flags = 0, std::vector<uint8_t> data = {}) {
    if (!t) std::abort();
    uint32_t edtl = data.empty() ? uint32_t(t->expxferlen) : uint32_t(data.size());
    if (edtl > 0xffffff) std::abort();
    if (!(flags & 0x0c)) flags |= data.empty() ? (edtl ? in : none) : out;
    bytes.push_back(flags);
    bytes.push_back(uint8_t(t->cdb_size));
    bytes.insert(bytes.end(), t->cdb, t->cdb + t->cdb_size);
    bytes.push_back(uint8_t(edtl >> 16));
    bytes.push_back(uint8_t(edtl >> 8));
    bytes.push_back(uint8_t(edtl));
    bytes.insert(bytes.end(), data.begin(), data.end());
    scsi_free_scsi_task(t);
    return *this;
  }
};

std::vector<uint8_t> pr_out_list(uint64_t key, uint64_t sa_key) {
  std::vector<uint8_t> p(24, 0);
  for (int i = 0; i < 8; ++i) {
    p[size_t(i)] = uint8_t(key >> (56 - 8 * i));
    p[size_t(8 + i)] = uint8_t(sa_key >> (56 - 8 * i));
  }
  return p;
}

void scsi_seeds() {
  const uint8_t b = 1;  // flags: nexus b
  Session inquiry(0);
  inquiry.cmd(scsi_cdb_testunitready())  // POWER ON, RESET
      .cmd(scsi_cdb_inquiry(0, 0, 255))
      .cmd(scsi_cdb_inquiry(1, 0x00, 255))
      .cmd(scsi_cdb_inquiry(1, 0x80, 255))
      .cmd(scsi_cdb_inquiry(1, 0x83, 255))
      .cmd(scsi_cdb_inquiry(1, SCSI_INQUIRY_PAGECODE_BLOCK_LIMITS, 255))
      .cmd(scsi_cdb_inquiry(1, 0xb1, 255))
      .cmd(scsi_cdb_inquiry(1, 0xb2, 255))
      .cmd(scsi_cdb_readcapacity10(0, 0))
      .cmd(scsi_cdb_serviceactionin16(SCSI_READCAPACITY16, 32))
      .cmd(scsi_cdb_report_supported_opcodes(1, 0, SCSI_OPCODE_READ10, 0, 4096))
      .cmd(scsi_cdb_get_lba_status(0, 64));
  put("fuzz_scsi", "inquiry-vpd-capacity", inquiry.bytes);

  Session io(0);
  io.cmd(scsi_cdb_testunitready())
      .cmd(scsi_cdb_write10(8, 1024, 512, 0, 0, 0, 0, 0), 0, std::vector<uint8_t>(1024, 0x5a))
      .cmd(scsi_cdb_read10(8, 1024, 512, 0, 0, 0, 0, 0))
      .cmd(scsi_cdb_write16(16, 512, 512, 0, 0, 1, 0, 0), 0, std::vector<uint8_t>(512, 0xa5))  // FUA
      .cmd(scsi_cdb_read16(16, 512, 512, 0, 0, 0, 0, 0))
      .cmd(scsi_cdb_compareandwrite(16, 1024, 512, 0, 0, 0, 0, 0), 0, [] {
        std::vector<uint8_t> d(512, 0xa5);
        d.resize(1024, 0x11);
        return d;
      }())
      .cmd(scsi_cdb_writesame16(0, 0, 1, 32, 0, 8, 512), 0, std::vector<uint8_t>(512, 0))  // UNMAP bit
      .cmd(scsi_cdb_writesame10(0, 0, 0, 40, 0, 4, 512), 0, std::vector<uint8_t>(512, 0x33))
      .cmd(scsi_cdb_unmap(0, 0, 24), 0, {0, 22, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 4, 0, 0, 0, 0})
      .cmd(scsi_cdb_verify10(8, 1024, 0, 0, 1, 512), 0, std::vector<uint8_t>(1024, 0x5a))
      .cmd(scsi_cdb_writeverify10(48, 512, 512, 0, 0, 0, 0), 0, std::vector<uint8_t>(512, 0x77))
      .cmd(scsi_cdb_synchronizecache10(0, 0, 0, 0))
      .cmd(scsi_cdb_prefetch10(0, 8, 0, 0))
      .cmd(scsi_cdb_read6(0, 512, 512));
  put("fuzz_scsi", "read-write-unmap", io.bytes);

  Session modes(16);  // write cache off
  modes.cmd(scsi_cdb_testunitready())
      .cmd(scsi_cdb_modesense6(0, SCSI_MODESENSE_PC_CURRENT, SCSI_MODEPAGE_RETURN_ALL_PAGES, 0, 255))
      .cmd(scsi_cdb_modesense10(0, 1, SCSI_MODESENSE_PC_CHANGEABLE, SCSI_MODEPAGE_CACHING, 0, 255))
      // MODE SELECT(6): header, then the caching page with WCE set.
      .cmd(scsi_cdb_modeselect6(1, 0, 24), 0,
           {0, 0, 0, 0, 0x08, 0x12, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
      .cmd(scsi_cdb_modesense6(0, SCSI_MODESENSE_PC_CURRENT, SCSI_MODEPAGE_CACHING, 0, 255));
  put("fuzz_scsi", "mode-sense-select", modes.bytes);

  scsi_persistent_reserve_out_basic basic{};  // libiscsi marshals it; the records carry pr_out_list
  Session pr(0);
  pr.cmd(scsi_cdb_testunitready())
      .cmd(scsi_cdb_testunitready(), b)
      .cmd(scsi_cdb_persistent_reserve_out(SCSI_PERSISTENT_RESERVE_REGISTER, SCSI_PERSISTENT_RESERVE_SCOPE_LU,
                                           SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE, &basic),
           0, pr_out_list(0, 0xa))
      .cmd(scsi_cdb_persistent_reserve_out(SCSI_PERSISTENT_RESERVE_REGISTER, SCSI_PERSISTENT_RESERVE_SCOPE_LU,
                                           SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE, &basic),
           b, pr_out_list(0, 0xb))
      .cmd(scsi_cdb_persistent_reserve_out(SCSI_PERSISTENT_RESERVE_RESERVE, SCSI_PERSISTENT_RESERVE_SCOPE_LU,
                                           SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE, &basic),
           0, pr_out_list(0xa, 0))
      .cmd(scsi_cdb_write10(0, 512, 512, 0, 0, 0, 0, 0), b, std::vector<uint8_t>(512, 1))  // conflict
      .cmd(scsi_cdb_persistent_reserve_in(SCSI_PERSISTENT_RESERVE_READ_KEYS, 1024))
      .cmd(scsi_cdb_persistent_reserve_in(SCSI_PERSISTENT_RESERVE_READ_RESERVATION, 1024), b)
      .cmd(scsi_cdb_persistent_reserve_in(SCSI_PERSISTENT_RESERVE_READ_FULL_STATUS, 1024))
      .cmd(scsi_cdb_persistent_reserve_in(SCSI_PERSISTENT_RESERVE_REPORT_CAPABILITIES, 1024))
      .cmd(scsi_cdb_persistent_reserve_out(SCSI_PERSISTENT_RESERVE_PREEMPT, SCSI_PERSISTENT_RESERVE_SCOPE_LU,
                                           SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE, &basic),
           b, pr_out_list(0xb, 0xa));
  put("fuzz_scsi", "persistent-reservations", pr.bytes);

  Session misc(4);  // removable
  misc.cmd(scsi_cdb_testunitready())
      .cmd(scsi_cdb_reserve6())
      .cmd(scsi_cdb_testunitready(), b)
      .cmd(scsi_cdb_release6())
      .cmd(scsi_cdb_preventallow(1))
      .cmd(scsi_cdb_startstopunit(0, 0, 0, 0, 1, 0))
      .cmd(scsi_cdb_preventallow(0))
      .cmd(scsi_cdb_startstopunit(0, 0, 0, 0, 1, 1))
      .cmd(scsi_cdb_read10(0, 512, 512, 0, 0, 0, 0, 0), 2);  // LUN 1: not mapped
  {
    // REPORT LUNS, REQUEST SENSE and REPORT TARGET PORT GROUPS: no libiscsi builder here.
    scsi_task* t = scsi_create_task(12, std::array<uint8_t, 12>{0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}.data(),
                                    SCSI_XFER_READ, 256);
    misc.cmd(t);
    t = scsi_create_task(6, std::array<uint8_t, 6>{0x03, 0, 0, 0, 252, 0}.data(), SCSI_XFER_READ, 252);
    misc.cmd(t, 2);
    t = scsi_create_task(12, std::array<uint8_t, 12>{0xa3, 0x0a, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0}.data(), SCSI_XFER_READ,
                         1024);
    misc.cmd(t);
  }
  put("fuzz_scsi", "reserve-removable-luns", misc.bytes);
  put("fuzz_scsi", "4k-blocks", Session(1 | 8).cmd(scsi_cdb_testunitready())
                                    .cmd(scsi_cdb_serviceactionin16(SCSI_READCAPACITY16, 32))
                                    .cmd(scsi_cdb_write10(1, 4096, 4096, 0, 0, 0, 0, 0), 0, std::vector<uint8_t>(4096, 9))
                                    .cmd(scsi_cdb_read10(1, 4096, 4096, 0, 0, 0, 0, 0))
                                    .bytes);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds <corpus-dir>\n");
    return 2;
  }
  g_root = argv[1];
  pdu_seeds();
  login_seeds();
  proxy_seeds();
  mgmt_seeds();
  scsi_seeds();
  std::printf("%d seed files under %s\n", g_written, argv[1]);
  return 0;
}
