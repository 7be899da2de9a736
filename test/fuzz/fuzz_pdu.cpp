// Arbitrary bytes through the BHS parsers, text parsing/reassembly and value decoders.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "transport/iscsi/chap.h"
#include "transport/iscsi/crc32c.h"
#include "transport/iscsi/data_out.h"
#include "transport/iscsi/params.h"
#include "transport/iscsi/pdu.h"
#include "transport/iscsi/text.h"

using namespace stmf::iscsi;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size >= kBhsSize) {
    Bhs b;
    std::memcpy(b.data(), data, kBhsSize);
    std::span<const uint8_t> rest(data + kBhsSize, size - kBhsSize);
    const size_t ahs_len = std::min(bhs_total_ahs_length(b), rest.size());
    ScsiCommand c;
    (void)parse_scsi_command(b, rest.first(ahs_len), c);
    DataOut d;
    if (!parse_data_out(b, d)) {
      SessionParams p;
      p.initial_r2t = b[2] & 1;
      p.data_pdu_in_order = b[3] & 1;
      DataOutTracker t(d.buffer_offset ^ d.data_sn, d.data_segment_length, d.final, p);
      if (auto r = t.next_r2t(d.ttt)) (void)t.on_data_out(r->ttt, d.buffer_offset, d.data_segment_length, d.data_sn, d.final);
    }
    NopOut n;
    (void)parse_nop_out(b, n);
    LoginRequest l;
    (void)parse_login_request(b, l);
    TextRequest t;
    (void)parse_text_request(b, t);
    LogoutRequest lo;
    (void)parse_logout_request(b, lo);
    TaskMgmtRequest tm;
    (void)parse_task_mgmt_request(b, tm);
    Snack s;
    (void)parse_snack(b, s);
    (void)opcode_name(bhs_opcode(b));
    (void)bhs_trailing_length(b);
    (void)crc32c(rest.data(), rest.size());
    (void)data_digest(rest.data(), rest.size());
  }

  TextKeys keys;
  (void)parse_text(std::span<const uint8_t>(data, size), keys);
  for (auto& [k, v] : keys) {
    (void)parse_number(v);
    (void)parse_bool(v);
    (void)decode_binary(v);
    (void)choose_digest(v, {Digest::crc32c, Digest::none});
    (void)negotiate_min(v, 262144, 512, kMaxDataLength);
  }
  // The same bytes split in two PDUs with the C bit.
  TextAssembler a(4096);
  const size_t half = size / 2;
  if (!a.add(std::span<const uint8_t>(data, half), true) && !a.add(std::span<const uint8_t>(data + half, size - half), false)) {
    auto whole = a.take();
    TextKeys again;
    (void)parse_text(whole, again);
  }
  return 0;
}
