// What fuzz_login and the seed generator (make_seeds.cpp) share: the login context the
// fuzzer runs against (deterministic "random" bytes, so a seed can carry a valid CHAP answer)
// and the policy byte's meaning.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "transport/iscsi/login.h"
#include "transport/settings.h"

namespace stmf::iscsi {

// With CHAP, the credentials come from the daemon's own policy (transport::resolve_chap):
// initiator iqn.i has CHAP name "user" and secret "secretsecret1"; iqn.same has the target's
// own secret (refused at login); any other initiator has none (CHAP required, never passes).
// Mutual: the target's name "tuser", secret "tsecretsecret". Discovery requires CHAP too.
struct FuzzLoginContext : LoginContext {
  bool chap = false, mutual = false;
  uint8_t seed = 0;
  bool target_exists(std::string_view t) override { return t == "iqn.t" || t == "iqn.u"; }
  std::optional<ChapSecret> chap_for(std::string_view target, std::string_view initiator) override {
    if (!chap) return std::nullopt;
    transport::AuthSettings auth;
    auth.discovery_auth = "chap";
    auth.initiators["iqn.i"] = {"user", "secretsecret1"};
    auth.initiators["iqn.same"] = {"same", "tsecretsecret"};
    transport::TargetSettings t;
    t.iqn = std::string(target);
    t.auth = "chap";
    if (mutual) t.chap = transport::ChapSettings{"", "", "tuser", "tsecretsecret"};
    return transport::resolve_chap(auth, target.empty() ? nullptr : &t, initiator);
  }
  bool initiator_allowed(std::string_view, std::string_view i) override { return i != "iqn.denied"; }
  uint16_t tpgt(std::string_view) override { return 1; }
  std::string target_alias(std::string_view) override { return "alias"; }
  SessionDecision check_session(uint64_t, uint16_t tsih, std::string_view, std::string_view, SessionType) override {
    return tsih ? SessionDecision::session_does_not_exist : SessionDecision::ok;
  }
  void random_bytes(std::span<uint8_t> out) override {
    for (auto& b : out) b = seed++;
  }
};

// Byte 0 of a fuzz_login input: 1 CHAP, 2 mutual CHAP, 4 header digest required, 8 data
// digest forbidden, 16 ImmediateData=No, 32 MaxBurstLength 4096, 64 a well-formed key prefix
// (128: of a discovery session) before the first record.
inline LoginConfig fuzz_login_config(uint8_t policy) {
  LoginConfig cfg;
  if (policy & 4) cfg.header_digests = {Digest::crc32c};
  if (policy & 8) cfg.data_digests = {Digest::none};
  if (policy & 16) cfg.immediate_data = false;
  if (policy & 32) cfg.max_burst_length = 4096;
  return cfg;
}

// The Login Request header of one record: `flags` is byte 1 (T, C, CSG, NSG); a record whose
// flags have both reserved bits (0x30) set and whose length byte has bit 6 set
// flips the ISID (a session-identity change between steps).
inline Bhs fuzz_login_bhs(uint8_t flags, uint8_t lenb, size_t text_len) {
  Bhs b{};
  b[0] = 0x40 | opcode::login_request;
  b[1] = flags;
  store_be48(&b[8], 0x23d000000001ull ^ ((flags & 0x30) == 0x30 && (lenb & 0x40) ? 1 : 0));
  store_be32(&b[16], 1);
  store_be32(&b[24], 1);
  set_data_segment_length(b, uint32_t(text_len));
  return b;
}

}  // namespace stmf::iscsi
