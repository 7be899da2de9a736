// libmhd's pure SCSI side: the <sys/mhd.h> codes and layouts, PR OUT marshalling, PR IN
// parsing with the listsize/listlen protocol, and the errno mapping.
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstddef>
#include <vector>

#include "mhd/mhd.h"
#include "mhd/scsi.h"

using namespace mhd;

TEST_CASE("mhd.h: request codes are <sys/mhd.h>'s", "[mhd][abi]") {
  CHECK(MHIOC == 0x4d00);
  CHECK(MHIOCENFAILFAST == 0x4d01);
  CHECK(MHIOCTKOWN == 0x4d02);
  CHECK(MHIOCRELEASE == 0x4d03);
  CHECK(MHIOCSTATUS == 0x4d04);
  CHECK(MHIOCGRP_INKEYS == 0x4d05);
  CHECK(MHIOCGRP_INRESV == 0x4d06);
  CHECK(MHIOCGRP_REGISTER == 0x4d07);
  CHECK(MHIOCGRP_RESERVE == 0x4d08);
  CHECK(MHIOCGRP_PREEMPTANDABORT == 0x4d09);
  CHECK(MHIOCGRP_PREEMPT == 0x4d0a);
  CHECK(MHIOCGRP_CLEAR == 0x4d0b);
  CHECK(MHIOCQRESERVE == 0x4d0c);
  CHECK(MHIOCREREGISTERDEVID == 0x4d0d);
  CHECK(MHIOCGRP_REGISTERANDIGNOREKEY == 0x4d0e);
  CHECK(SCSI3_RESV_WRITEEXCLUSIVEREGISTRANTSONLY == 5);
  CHECK(SCSI3_RESV_EXCLUSIVEACCESSREGISTRANTSONLY == 6);
  CHECK(SCSI3_SCOPE_LOGICALUNIT == 0);
  CHECK(std::string(mhd_request_name(MHIOCTKOWN)) == "MHIOCTKOWN");
  CHECK(mhd_request_name(0x4d0f) == nullptr);
}

TEST_CASE("mhd.h: structures are laid out as the header lays them out (LP64)", "[mhd][abi]") {
  CHECK(sizeof(struct mhioctkown) == 12);
  CHECK(sizeof(mhioc_resv_key_t) == 8);
  CHECK(sizeof(mhioc_key_list_t) == 16);
  CHECK(offsetof(mhioc_key_list_t, list) == 8);
  CHECK(sizeof(mhioc_inkeys_t) == 16);
  CHECK(offsetof(mhioc_inkeys_t, li) == 8);
  CHECK(sizeof(mhioc_resv_desc_t) == 16);
  CHECK(offsetof(mhioc_resv_desc_t, type) == 8);
  CHECK(offsetof(mhioc_resv_desc_t, scope) == 9);
  CHECK(offsetof(mhioc_resv_desc_t, scope_specific_addr) == 12);
  CHECK(sizeof(mhioc_register_t) == 20);
  CHECK(offsetof(mhioc_register_t, aptpl) == 16);
  CHECK(sizeof(mhioc_preemptandabort_t) == 24);
  CHECK(offsetof(mhioc_preemptandabort_t, victim_key) == 16);
  CHECK(sizeof(mhioc_registerandignorekey_t) == 12);
  CHECK(sizeof(boolean_t) == 4);
}

TEST_CASE("keys: the 8 bytes are the wire bytes, most significant first", "[mhd][marshal]") {
  auto k = make_key(0x0102030405060708ull);
  CHECK(k.key[0] == 0x01);
  CHECK(k.key[7] == 0x08);
  CHECK(key_value(k) == 0x0102030405060708ull);
}

TEST_CASE("PR OUT: CDB and the 24-byte basic parameter list", "[mhd][marshal]") {
  auto cdb = pr_out_cdb(pr_out::kPreemptAndAbort, SCSI3_SCOPE_LOGICALUNIT, SCSI3_RESV_WRITEEXCLUSIVEREGISTRANTSONLY);
  CHECK(cdb[0] == 0x5f);
  CHECK(cdb[1] == 0x05);
  CHECK(cdb[2] == 0x05);
  CHECK(cdb[5] == 0);
  CHECK(cdb[8] == 24);
  auto p = pr_out_params(make_key(0xA1), make_key(0xB2), true);
  CHECK(p.size() == 24);
  CHECK(p[7] == 0xA1);
  CHECK(p[15] == 0xB2);
  CHECK(p[20] == 0x01);  // APTPL
  for (int i : {0, 8, 16, 17, 18, 19, 21, 22, 23}) CHECK(p[size_t(i)] == 0);
  CHECK(pr_out_params(make_key(1), make_key(2), false)[20] == 0);
}

TEST_CASE("PR IN: CDB and the allocation length for a caller's list", "[mhd][marshal]") {
  auto cdb = pr_in_cdb(pr_in::kReadReservation, 0x1234);
  CHECK(cdb[0] == 0x5e);
  CHECK(cdb[1] == 0x01);
  CHECK(cdb[7] == 0x12);
  CHECK(cdb[8] == 0x34);
  CHECK(pr_in_allocation(0, 8) == 8);
  CHECK(pr_in_allocation(3, 8) == 32);
  CHECK(pr_in_allocation(2, 16) == 40);
  CHECK(pr_in_allocation(100000, 16) == 0xffff);
}

namespace {
std::vector<uint8_t> keys_data(uint32_t gen, std::vector<uint64_t> keys, size_t clip = SIZE_MAX) {
  std::vector<uint8_t> d{uint8_t(gen >> 24), uint8_t(gen >> 16), uint8_t(gen >> 8), uint8_t(gen)};
  uint32_t add = uint32_t(keys.size() * 8);
  for (int s = 24; s >= 0; s -= 8) d.push_back(uint8_t(add >> s));
  for (auto k : keys)
    for (int s = 56; s >= 0; s -= 8) d.push_back(uint8_t(k >> s));
  if (d.size() > clip) d.resize(clip);
  return d;
}
}  // namespace

TEST_CASE("READ KEYS: listlen is the device's count, at most listsize copied", "[mhd][marshal]") {
  mhioc_resv_key_t list[2] = {};
  mhioc_key_list_t li{2, 0, list};
  mhioc_inkeys_t in{0, &li};
  auto d = keys_data(7, {0xA1, 0xB2});
  REQUIRE(parse_read_keys(d.data(), d.size(), &in) == 0);
  CHECK(in.generation == 7);
  CHECK(li.listlen == 2);
  CHECK(key_value(list[0]) == 0xA1);
  CHECK(key_value(list[1]) == 0xB2);

  // A short list (and data clipped by the allocation length) still reports the needed length.
  mhioc_resv_key_t one[1] = {};
  mhioc_key_list_t small{1, 0, one};
  mhioc_inkeys_t in2{0, &small};
  auto clipped = keys_data(9, {0x1, 0x2, 0x3}, pr_in_allocation(1, 8));
  REQUIRE(parse_read_keys(clipped.data(), clipped.size(), &in2) == 0);
  CHECK(small.listlen == 3);
  CHECK(key_value(one[0]) == 0x1);
  CHECK(in2.generation == 9);

  // listsize 0 and no list: only the count.
  mhioc_key_list_t none{0, 0, nullptr};
  mhioc_inkeys_t in3{0, &none};
  REQUIRE(parse_read_keys(clipped.data(), 8, &in3) == 0);
  CHECK(none.listlen == 3);

  // Malformed: short header, ADDITIONAL LENGTH not a multiple of 8.
  CHECK(parse_read_keys(d.data(), 7, &in) == EIO);
  auto bad = keys_data(1, {});
  bad[7] = 5;
  CHECK(parse_read_keys(bad.data(), bad.size(), &in) == EIO);
}

TEST_CASE("READ RESERVATION: 16-byte descriptors into mhioc_resv_desc_t", "[mhd][marshal]") {
  std::vector<uint8_t> d{0, 0, 0, 4, 0, 0, 0, 16};
  for (int i = 0; i < 7; ++i) d.push_back(0);
  d.push_back(0xA1);                    // key
  d.insert(d.end(), {0, 0, 0, 0x2a});   // scope-specific address (obsolete)
  d.push_back(0);                       // reserved
  d.push_back(0x05);                    // scope 0, type 5
  d.insert(d.end(), {0, 0});
  mhioc_resv_desc_t list[1] = {};
  mhioc_resv_desc_list_t li{1, 0, list};
  mhioc_inresvs_t in{0, &li};
  REQUIRE(parse_read_reservation(d.data(), d.size(), &in) == 0);
  CHECK(in.generation == 4);
  CHECK(li.listlen == 1);
  CHECK(key_value(list[0].key) == 0xA1);
  CHECK(list[0].type == SCSI3_RESV_WRITEEXCLUSIVEREGISTRANTSONLY);
  CHECK(list[0].scope == SCSI3_SCOPE_LOGICALUNIT);
  CHECK(list[0].scope_specific_addr == 0x2a);
  std::vector<uint8_t> none{0, 0, 0, 4, 0, 0, 0, 0};
  REQUIRE(parse_read_reservation(none.data(), none.size(), &in) == 0);
  CHECK(li.listlen == 0);
  mhioc_resv_desc_list_t empty{0, 0, nullptr};
  mhioc_inresvs_t in2{0, &empty};
  REQUIRE(parse_read_reservation(d.data(), 8, &in2) == 0);
  CHECK(empty.listlen == 1);
}

TEST_CASE("errno mapping of SCSI outcomes", "[mhd][errno]") {
  auto cc = [](uint8_t key, uint16_t asc_ascq) {
    Outcome o;
    o.status = kStatusCheckCondition;
    o.sense_key = key;
    o.asc_ascq = asc_ascq;
    return o;
  };
  Outcome good;
  CHECK(errno_for(good) == 0);
  Outcome conflict;
  conflict.status = kStatusReservationConflict;
  CHECK(errno_for(conflict) == EACCES);
  CHECK(errno_for(cc(kSenseIllegalRequest, 0x2000)) == ENOTSUP);  // invalid opcode
  CHECK(errno_for(cc(kSenseIllegalRequest, 0x2400)) == ENOTSUP);  // invalid field in CDB
  CHECK(errno_for(cc(kSenseIllegalRequest, 0x2600)) == EINVAL);   // invalid field in parameter list
  CHECK(errno_for(cc(kSenseIllegalRequest, 0x2604)) == EINVAL);   // invalid release of PR
  CHECK(errno_for(cc(kSenseDataProtect, 0x2700)) == EACCES);
  CHECK(errno_for(cc(kSenseNotReady, 0x0400)) == EIO);
  CHECK(errno_for(cc(0x4, 0x4400)) == EIO);  // hardware error
  Outcome lost;
  lost.transport_error = true;
  CHECK(errno_for(lost) == EIO);
  CHECK(cc(kSenseUnitAttention, 0x2900).retryable());
  CHECK_FALSE(cc(kSenseIllegalRequest, 0x2000).retryable());
  Outcome busy;
  busy.status = kStatusBusy;
  CHECK(busy.retryable());
  CHECK(describe(conflict) == "RESERVATION CONFLICT");
}
