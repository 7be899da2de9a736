// The pure part of storage fencing (fence.h): the decision after a (re)connect, PR IN parsing,
// and the PR OUT commands' bytes.
#include <catch2/catch.hpp>

#include "store_iscsi/fence.h"

using namespace stmf::iscsistore;

namespace {
constexpr uint64_t kMine = 0x0000000700000001ull, kPeer = 0x0000000700000002ull;

std::vector<uint8_t> keys_data(uint32_t generation, std::vector<uint64_t> keys) {
  std::vector<uint8_t> d(8 + 8 * keys.size());
  for (int i = 0; i < 4; ++i) d[i] = uint8_t(generation >> (24 - 8 * i));
  const uint32_t add = uint32_t(8 * keys.size());
  for (int i = 0; i < 4; ++i) d[4 + i] = uint8_t(add >> (24 - 8 * i));
  for (size_t k = 0; k < keys.size(); ++k)
    for (int i = 0; i < 8; ++i) d[8 + 8 * k + i] = uint8_t(keys[k] >> (56 - 8 * i));
  return d;
}
}  // namespace

TEST_CASE("fence: after a connect, register and reserve an unreserved LUN", "[fencing]") {
  auto d = decide_on_connect(PrView{}, kMine, false);
  CHECK(!d.fenced);
  CHECK(d.reserve);
  // The peer (standby) registered too: still ours to reserve.
  d = decide_on_connect(PrView{{kPeer}, std::nullopt, 0}, kMine, false);
  CHECK(!d.fenced);
  CHECK(d.reserve);
}

TEST_CASE("fence: our reservation still there after a reconnect: register again, no new RESERVE", "[fencing]") {
  auto d = decide_on_connect(PrView{{kMine, kPeer}, kMine, kFenceType}, kMine, true);
  CHECK(!d.fenced);
  CHECK(!d.reserve);
}

TEST_CASE("fence: our key gone after a reconnect: fenced, never registered again", "[fencing]") {
  auto d = decide_on_connect(PrView{{kPeer}, kPeer, kFenceType}, kMine, true);
  CHECK(d.fenced);
  CHECK(d.why.find("0x0000000700000001") != std::string::npos);
  CHECK(d.why.find("preempted") != std::string::npos);
  // Gone even though nobody holds the reservation (the preemptor released it): still fenced.
  CHECK(decide_on_connect(PrView{{kPeer}, std::nullopt, 0}, kMine, true).fenced);
}

TEST_CASE("fence: a node that starts while another key holds the reservation is fenced unless its own key is registered", "[fencing]") {
  // The old owner restarted after the peer took the LU over: its key was preempted while it
  // was down.
  auto d = decide_on_connect(PrView{{kPeer}, kPeer, kFenceType}, kMine, false);
  CHECK(d.fenced);
  CHECK(d.why.find("0x0000000700000002") != std::string::npos);
  // Its key still registered: no takeover happened (a takeover preempts the owner's key), the
  // reservation is the previous owner's from a planned switchover; WE-RO lets registrants
  // write: it serves, without RESERVE (the LUN is reserved).
  auto planned = decide_on_connect(PrView{{kMine, kPeer}, kPeer, kFenceType}, kMine, false);
  CHECK(!planned.fenced);
  CHECK(!planned.reserve);
  CHECK(!decide_on_connect(PrView{{kMine, kPeer}, kPeer, kFenceType}, kMine, true).fenced);
  // Its own reservation from before (APTPL, an intact key): it serves again without RESERVE.
  auto mine = decide_on_connect(PrView{{kMine}, kMine, kFenceType}, kMine, false);
  CHECK(!mine.fenced);
  CHECK(!mine.reserve);
}

TEST_CASE("fence: PR IN data parsed into the view", "[fencing]") {
  PrView v;
  auto k = keys_data(5, {kMine, kPeer});
  REQUIRE(parse_keys(k.data(), k.size(), v));
  CHECK(v.keys == std::vector<uint64_t>{kMine, kPeer});
  CHECK(!parse_keys(k.data(), 4, v));  // shorter than the header

  // READ RESERVATION: header + one 16-byte descriptor, key then scope/type in byte 13.
  std::vector<uint8_t> r(8 + 16, 0);
  r[7] = 16;
  for (int i = 0; i < 8; ++i) r[8 + i] = uint8_t(kPeer >> (56 - 8 * i));
  r[8 + 13] = kFenceType;
  REQUIRE(parse_reservation(r.data(), r.size(), v));
  REQUIRE(v.holder);
  CHECK(*v.holder == kPeer);
  CHECK(v.type == kFenceType);
  std::vector<uint8_t> none(8, 0);
  REQUIRE(parse_reservation(none.data(), none.size(), v));
  CHECK(!v.holder);
}

TEST_CASE("fence: the PR OUT commands carry the key, APTPL on REGISTER, type 5 on RESERVE and PREEMPT", "[fencing]") {
  auto reg = register_ignore_cdb(kMine);
  CHECK(reg.cdb[0] == 0x5f);
  CHECK(reg.cdb[1] == 0x06);
  CHECK(reg.cdb[8] == 24);
  CHECK(reg.params[15] == 0x01);  // service action reservation key = ours, low byte
  CHECK(reg.params[11] == 0x07);
  CHECK(reg.params[20] == 0x01);  // APTPL
  auto res = reserve_cdb(kMine);
  CHECK(res.cdb[1] == 0x01);
  CHECK(res.cdb[2] == kFenceType);
  CHECK(res.params[7] == 0x01);
  CHECK(res.params[20] == 0x00);
  auto pa = preempt_and_abort_cdb(kPeer, kMine);
  CHECK(pa.cdb[1] == 0x05);
  CHECK(pa.cdb[2] == kFenceType);
  CHECK(pa.params[7] == 0x02);   // our key
  CHECK(pa.params[15] == 0x01);  // the victim's
  auto rk = read_keys_cdb();
  CHECK(rk[0] == 0x5e);
  CHECK(rk[1] == 0x00);
  CHECK(read_reservation_cdb()[1] == 0x01);
  CHECK(key_hex(kPeer) == "0x0000000700000002");
}

TEST_CASE("fence: a SAN that refuses APTPL on REGISTER (24/00 from tgt, 26/00 per SPC-4) is registered with again without it",
          "[fencing]") {
  CHECK(register_ignore_cdb(kMine, false).params[20] == 0x00);
  CHECK(register_ignore_cdb(kMine, false).params[15] == 0x01);
  constexpr int kCheckCondition = 0x02, kGood = 0x00, kConflict = 0x18;
  constexpr uint8_t kIllegalRequest = 0x5, kNotReady = 0x2;
  CHECK(aptpl_refused(kCheckCondition, kIllegalRequest, 0x2400));
  CHECK(aptpl_refused(kCheckCondition, kIllegalRequest, 0x2600));
  CHECK_FALSE(aptpl_refused(kCheckCondition, kIllegalRequest, 0x2000));  // no PR at all: no retry helps
  CHECK_FALSE(aptpl_refused(kCheckCondition, kNotReady, 0x2400));
  CHECK_FALSE(aptpl_refused(kConflict, 0, 0));
  CHECK_FALSE(aptpl_refused(kGood, 0, 0));
}
