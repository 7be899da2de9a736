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

#include "test/fuzz/login_input.h"

using namespace stmf::iscsi;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t policy = data[0];
  FuzzLoginContext ctx;
  ctx.chap = policy & 1;
  ctx.mutual = policy & 2;
  const LoginConfig cfg = fuzz_login_config(policy);
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
    const Bhs b = fuzz_login_bhs(flags, lenb, text.size());
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
