// Drives LoginStateMachine with fuzzed Login Requests.
//
// Input layout: byte 0 picks the policy (CHAP on/off, mutual, digests, discovery target);
// then records of [flags][len][len bytes of text]. `flags` fills byte 1 of the BHS (T, C,
// CSG, NSG); bit patterns in the high bits of len's record occasionally perturb ISID/TSIH/
// CID/version so the consistency checks run too. A well-formed prefix of keys is prepended to
// the first record now and then so the fuzzer reaches the negotiation code quickly.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "transport/iscsi/login.h"

using namespace stmf::iscsi;

namespace {

struct Ctx : LoginContext {
  bool chap = false, mutual = false;
  uint8_t seed = 0;
  bool target_exists(std::string_view t) override { return t == "iqn.t" || t == "iqn.u"; }
  std::optional<ChapSecret> chap_for_target(std::string_view) override {
    if (!chap) return std::nullopt;
    return ChapSecret{"user", "secretsecret1", mutual ? "tuser" : "", mutual ? "tsecretsecret" : ""};
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t policy = data[0];
  Ctx ctx;
  ctx.chap = policy & 1;
  ctx.mutual = policy & 2;
  LoginConfig cfg;
  if (policy & 4) cfg.header_digests = {Digest::crc32c};
  if (policy & 8) cfg.data_digests = {Digest::none};
  if (policy & 16) cfg.immediate_data = false;
  if (policy & 32) cfg.max_burst_length = 4096;
  LoginStateMachine sm(cfg, ctx);

  size_t i = 1;
  bool first = true;
  while (i + 2 <= size) {
    const uint8_t flags = data[i];
    const uint8_t lenb = data[i + 1];
    i += 2;
    const size_t want = size_t(lenb & 0x7f) * ((lenb & 0x80) ? 4 : 1);
    const size_t len = std::min(want, size - i);
    std::string text;
    if (first && (policy & 64)) {
      text = std::string("InitiatorName=iqn.i\0TargetName=iqn.t\0", 38);
      if (policy & 128) text = std::string("InitiatorName=iqn.i\0SessionType=Discovery\0", 42);
    }
    text.append(reinterpret_cast<const char*>(data + i), len);
    i += len;
    Bhs b{};
    b[0] = 0x40 | opcode::login_request;
    b[1] = flags;
    store_be48(&b[8], 0x23d000000001ull ^ ((flags & 0x30) == 0x30 && (lenb & 0x40) ? 1 : 0));
    store_be32(&b[16], 1);
    store_be32(&b[24], 1);
    set_data_segment_length(b, uint32_t(text.size()));
    auto r = sm.on_request(b, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
    // Invariants: the response is a Login Response whose length field matches its data.
    if (r.bhs[0] != opcode::login_response || bhs_data_segment_length(r.bhs) != r.data.size()) __builtin_trap();
    if (r.data.size() > 8192) __builtin_trap();
    if (r.outcome == LoginOutcome::failed && !r.data.empty()) __builtin_trap();
    if (r.outcome != LoginOutcome::in_progress) break;
    first = false;
  }
  return 0;
}
