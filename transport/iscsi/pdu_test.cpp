#include "transport/iscsi/pdu.h"

#include <catch2/catch.hpp>
#include <vector>

using namespace stmf::iscsi;

namespace {
Bhs scsi_read10() {
  Bhs b{};
  b[0] = 0x01;
  b[1] = 0x80 | 0x40 | 0x01;  // F R SIMPLE
  store_be64(&b[8], 0x0001000000000000ull);
  store_be32(&b[16], 0x1234);
  store_be32(&b[20], 4096);
  store_be32(&b[24], 77);
  store_be32(&b[28], 9);
  b[32] = 0x28;
  b[40] = 0x08;
  return b;
}
}  // namespace

TEST_CASE("pad4 and byte order helpers") {
  CHECK(pad4(0) == 0);
  CHECK(pad4(1) == 3);
  CHECK(pad4(2) == 2);
  CHECK(pad4(3) == 1);
  CHECK(pad4(4) == 0);
  CHECK(padded4(5) == 8);
  uint8_t buf[8];
  store_be48(buf, 0x0123456789abull);
  CHECK(buf[0] == 0x01);
  CHECK(buf[5] == 0xab);
  CHECK(load_be48(buf) == 0x0123456789abull);
  store_be24(buf, 0xabcdef);
  CHECK(load_be24(buf) == 0xabcdef);
}

TEST_CASE("common BHS accessors") {
  Bhs b = scsi_read10();
  b[0] |= 0x40;
  b[4] = 2;
  set_data_segment_length(b, 0x010203);
  CHECK(bhs_opcode(b) == opcode::scsi_command);
  CHECK(bhs_immediate(b));
  CHECK(bhs_final(b));
  CHECK(bhs_total_ahs_length(b) == 8);
  CHECK(bhs_data_segment_length(b) == 0x010203);
  CHECK(b[5] == 0x01);
  CHECK(b[7] == 0x03);
  CHECK(bhs_lun(b) == 0x0001000000000000ull);
  CHECK(bhs_itt(b) == 0x1234);
  CHECK(bhs_cmd_sn(b) == 77);
  CHECK(bhs_exp_stat_sn(b) == 9);
  CHECK(bhs_trailing_length(b) == 8 + padded4(0x010203));
}

TEST_CASE("parse SCSI Command") {
  ScsiCommand c;
  Bhs b = scsi_read10();
  REQUIRE_FALSE(parse_scsi_command(b, {}, c));
  CHECK(c.final);
  CHECK(c.read);
  CHECK_FALSE(c.write);
  CHECK(c.attr == TaskAttr::simple);
  CHECK(c.lun == 0x0001000000000000ull);
  CHECK(c.itt == 0x1234);
  CHECK(c.edtl == 4096);
  CHECK(c.cmd_sn == 77);
  CHECK(c.exp_stat_sn == 9);
  CHECK(c.cdb[0] == 0x28);
  CHECK(c.cdb[8] == 0x08);
  CHECK(c.cdb_length == 16);
  CHECK_FALSE(c.bidi_read_edtl);

  SECTION("extended CDB and bidirectional AHS") {
    // 32-byte CDB: AHSLength = 17 (reserved byte + 16 CDB bytes), 20 bytes with padding;
    // bidirectional AHS: AHSLength 5, 8 bytes.
    std::vector<uint8_t> ahs(28, 0);
    store_be16(&ahs[0], 17);
    ahs[2] = 1;
    for (int i = 0; i < 16; ++i) ahs[4 + i] = uint8_t(0xa0 + i);
    store_be16(&ahs[20], 5);
    ahs[22] = 2;
    store_be32(&ahs[24], 8192);
    b[4] = 7;
    REQUIRE_FALSE(parse_scsi_command(b, ahs, c));
    CHECK(c.cdb_length == 32);
    CHECK(c.cdb[16] == 0xa0);
    CHECK(c.cdb[31] == 0xaf);
    REQUIRE(c.bidi_read_edtl);
    CHECK(*c.bidi_read_edtl == 8192);
  }
  SECTION("malformed") {
    Bhs x = b;
    x[0] = 0x02;
    CHECK(parse_scsi_command(x, {}, c)->reason == reject_reason::protocol_error);
    x = b;
    x[1] = 0x40;  // F=0 without W
    CHECK(parse_scsi_command(x, {}, c)->reason == reject_reason::protocol_error);
    x = b;
    set_data_segment_length(x, 512);  // immediate data on a read
    CHECK(parse_scsi_command(x, {}, c)->reason == reject_reason::protocol_error);
    x = b;
    x[1] = 0x80 | 0x05;  // reserved attribute
    CHECK(parse_scsi_command(x, {}, c)->reason == reject_reason::invalid_pdu_field);
    x = b;
    store_be32(&x[16], kReservedTag);
    CHECK(parse_scsi_command(x, {}, c)->reason == reject_reason::invalid_pdu_field);
    x = b;
    x[4] = 1;
    std::vector<uint8_t> bad(4, 0);
    store_be16(&bad[0], 40);  // longer than the AHS
    bad[2] = 1;
    CHECK(parse_scsi_command(x, bad, c)->reason == reject_reason::invalid_pdu_field);
    CHECK(parse_scsi_command(x, {}, c)->reason == reject_reason::protocol_error);  // AHS missing
  }
}

TEST_CASE("parse Data-Out, NOP-Out, Text, Logout, TMF, SNACK") {
  Bhs b{};
  b[0] = opcode::data_out;
  b[1] = 0x80;
  set_data_segment_length(b, 8192);
  store_be32(&b[16], 5);
  store_be32(&b[20], 0x77);
  store_be32(&b[36], 3);
  store_be32(&b[40], 65536);
  DataOut d;
  REQUIRE_FALSE(parse_data_out(b, d));
  CHECK(d.final);
  CHECK(d.data_segment_length == 8192);
  CHECK(d.itt == 5);
  CHECK(d.ttt == 0x77);
  CHECK(d.data_sn == 3);
  CHECK(d.buffer_offset == 65536);

  Bhs n{};
  n[0] = 0x40 | opcode::nop_out;
  n[1] = 0x80;
  store_be32(&n[16], kReservedTag);
  store_be32(&n[20], 0x99);
  NopOut no;
  REQUIRE_FALSE(parse_nop_out(n, no));
  CHECK(no.ttt == 0x99);
  n[0] = opcode::nop_out;  // reserved ITT must be immediate
  CHECK(parse_nop_out(n, no));
  store_be32(&n[16], 1);  // both ITT and TTT
  CHECK(parse_nop_out(n, no));
  store_be32(&n[20], kReservedTag);
  CHECK_FALSE(parse_nop_out(n, no));

  Bhs t{};
  t[0] = opcode::text_request;
  t[1] = 0xc0;  // F and C
  store_be32(&t[16], 2);
  TextRequest tr;
  CHECK(parse_text_request(t, tr)->reason == reject_reason::protocol_error);
  t[1] = 0x40;
  REQUIRE_FALSE(parse_text_request(t, tr));
  CHECK(tr.cont);
  CHECK_FALSE(tr.final);

  Bhs l{};
  l[0] = 0x40 | opcode::logout_request;
  l[1] = 0x81;
  store_be16(&l[20], 3);
  LogoutRequest lr;
  REQUIRE_FALSE(parse_logout_request(l, lr));
  CHECK(lr.reason == LogoutReason::close_connection);
  CHECK(lr.cid == 3);
  l[1] = 0x83;
  CHECK(parse_logout_request(l, lr)->reason == reject_reason::invalid_pdu_field);

  Bhs m{};
  m[0] = 0x40 | opcode::task_mgmt_request;
  m[1] = 0x81;
  store_be32(&m[20], 0x44);
  store_be32(&m[32], 12);
  TaskMgmtRequest tm;
  REQUIRE_FALSE(parse_task_mgmt_request(m, tm));
  CHECK(tm.function == 1);
  CHECK(tm.referenced_task_tag == 0x44);
  CHECK(tm.ref_cmd_sn == 12);

  Bhs s{};
  s[0] = opcode::snack_request;
  s[1] = 0x81;
  store_be32(&s[36], 4);
  store_be32(&s[40], 2);
  Snack sn;
  REQUIRE_FALSE(parse_snack(s, sn));
  CHECK(sn.type == 1);
  CHECK(sn.beg_run == 4);
  CHECK(sn.run_length == 2);
  CHECK(parse_snack(m, sn));  // wrong opcode
}

TEST_CASE("parse Login Request") {
  Bhs b{};
  b[0] = 0x40 | opcode::login_request;
  b[1] = 0x80 | (1 << 2) | 3;
  b[2] = 0;
  b[3] = 0;
  store_be48(&b[8], 0x23d000000001ull);
  store_be16(&b[14], 0x10);
  store_be32(&b[16], 7);
  store_be16(&b[20], 2);
  store_be32(&b[24], 100);
  LoginRequest r;
  REQUIRE_FALSE(parse_login_request(b, r));
  CHECK(r.transit);
  CHECK_FALSE(r.cont);
  CHECK(r.csg == 1);
  CHECK(r.nsg == 3);
  CHECK(r.isid == 0x23d000000001ull);
  CHECK(r.tsih == 0x10);
  CHECK(r.itt == 7);
  CHECK(r.cid == 2);
  CHECK(r.cmd_sn == 100);
}

TEST_CASE("build SCSI Response with residual and sense") {
  ScsiResponse f;
  f.itt = 0xabcd;
  f.status = 0x02;
  f.underflow = true;
  f.residual_count = 512;
  f.exp_data_sn = 3;
  f.sn = {10, 20, 30};
  f.data_segment_length = uint32_t(sense_segment_length(18));
  Bhs b;
  build_scsi_response(f, b);
  CHECK(b[0] == 0x21);
  CHECK(b[1] == 0x82);
  CHECK(b[2] == 0);
  CHECK(b[3] == 0x02);
  CHECK(bhs_data_segment_length(b) == 20);
  CHECK(bhs_itt(b) == 0xabcd);
  CHECK(load_be32(&b[24]) == 10);
  CHECK(load_be32(&b[28]) == 20);
  CHECK(load_be32(&b[32]) == 30);
  CHECK(load_be32(&b[36]) == 3);
  CHECK(load_be32(&b[44]) == 512);
  f.underflow = false;
  f.overflow = true;
  build_scsi_response(f, b);
  CHECK(b[1] == 0x84);

  std::vector<uint8_t> sense(18, 0);
  sense[0] = 0x70;
  sense[2] = 0x05;
  std::vector<uint8_t> seg(sense_segment_length(sense.size()));
  write_sense_segment(sense, seg.data());
  CHECK(seg.size() == 20);
  CHECK(seg[0] == 0);
  CHECK(seg[1] == 18);
  CHECK(seg[2] == 0x70);
  CHECK(seg[4] == 0x05);
  CHECK(sense_segment_length(0) == 0);
}

TEST_CASE("build Data-In with and without status") {
  DataIn d;
  d.itt = 1;
  d.data_sn = 4;
  d.buffer_offset = 32768;
  d.data_segment_length = 8192;
  d.sn = {55, 66, 77};
  d.residual_count = 99;  // ignored without S
  Bhs b;
  build_data_in(d, b);
  CHECK(b[0] == 0x25);
  CHECK(b[1] == 0x00);
  CHECK(load_be32(&b[20]) == kReservedTag);
  CHECK(load_be32(&b[24]) == 0);  // StatSN reserved without S
  CHECK(load_be32(&b[28]) == 66);
  CHECK(load_be32(&b[36]) == 4);
  CHECK(load_be32(&b[40]) == 32768);
  CHECK(load_be32(&b[44]) == 0);
  d.status = true;
  d.underflow = true;
  d.scsi_status = 0;
  build_data_in(d, b);
  CHECK(b[1] == (0x80 | 0x02 | 0x01));
  CHECK(load_be32(&b[24]) == 55);
  CHECK(load_be32(&b[44]) == 99);
}

TEST_CASE("build R2T, NOP-In, Text, Logout, TMF, Reject, Async, Login Response") {
  Bhs b;
  build_r2t({0x0002000000000000ull, 9, 0x31, {5, 6, 7}, 2, 131072, 65536}, b);
  CHECK(b[0] == 0x31);
  CHECK(b[1] == 0x80);
  CHECK(bhs_lun(b) == 0x0002000000000000ull);
  CHECK(load_be32(&b[20]) == 0x31);
  CHECK(load_be32(&b[36]) == 2);
  CHECK(load_be32(&b[40]) == 131072);
  CHECK(load_be32(&b[44]) == 65536);

  NopIn n;
  n.itt = 4;
  n.data_segment_length = 10;
  build_nop_in(n, b);
  CHECK(b[0] == 0x20);
  CHECK(bhs_data_segment_length(b) == 10);
  CHECK(load_be32(&b[20]) == kReservedTag);

  TextResponse t;
  t.cont = true;
  t.ttt = 8;
  build_text_response(t, b);
  CHECK(b[1] == 0x40);  // C without F

  LogoutResponse lo;
  lo.response = 1;
  lo.time2wait = 2;
  lo.time2retain = 20;
  build_logout_response(lo, b);
  CHECK(b[0] == 0x26);
  CHECK(b[2] == 1);
  CHECK(load_be16(&b[40]) == 2);
  CHECK(load_be16(&b[42]) == 20);

  build_tmf_response({TmfResponse::function_rejected, 3, {}}, b);
  CHECK(b[0] == 0x22);
  CHECK(b[2] == 255);

  build_reject({reject_reason::data_digest_error, {1, 2, 3}, 0}, b);
  CHECK(b[0] == 0x3f);
  CHECK(b[2] == 0x02);
  CHECK(bhs_data_segment_length(b) == 48);
  CHECK(bhs_itt(b) == kReservedTag);

  build_async_logout_request({1, 2, 3}, 10, b);
  CHECK(b[0] == 0x32);
  CHECK(b[36] == 1);
  CHECK(load_be16(&b[42]) == 10);
  CHECK(bhs_itt(b) == kReservedTag);

  LoginResponse lr;
  lr.transit = true;
  lr.csg = 1;
  lr.nsg = 3;
  lr.isid = 0x23d000000001ull;
  lr.tsih = 7;
  lr.status_class = 2;
  lr.status_detail = 1;
  build_login_response(lr, b);
  CHECK(b[0] == 0x23);
  CHECK(b[1] == 0x87);
  CHECK(load_be48(&b[8]) == 0x23d000000001ull);
  CHECK(load_be16(&b[14]) == 7);
  CHECK(b[36] == 2);
  CHECK(b[37] == 1);
  lr.transit = false;  // NSG is zero without T
  build_login_response(lr, b);
  CHECK(b[1] == 0x04);
}

TEST_CASE("reject reason values match RFC 7143 11.17.1") {
  CHECK(reject_reason::data_digest_error == 0x02);
  CHECK(reject_reason::protocol_error == 0x04);
  CHECK(reject_reason::command_not_supported == 0x05);
  CHECK(reject_reason::invalid_pdu_field == 0x09);
  CHECK(reject_reason::long_op_reject == 0x0a);
  CHECK(reject_reason::waiting_for_logout == 0x0c);
  CHECK(std::string(opcode_name(0x31)) == "R2T");
}
