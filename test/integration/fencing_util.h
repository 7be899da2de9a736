// Helpers of the fencing scenarios (test/storage_fencing, test/ceph/rbd_fencing_test.cpp): every
// write is stamped with its sequence number and goes to a block of its own (kFirstLba + n), so
// the storage read directly afterwards says which writes landed; the LU's state through the
// management socket.
#pragma once
#include <catch2/catch.hpp>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "mgmt/client.h"
#include "test/integration/daemon.h"
#include "test/integration/libiscsi_util.h"

namespace stmf::test::fencing {

using Clock = std::chrono::steady_clock;
using stmf::mgmt::Client;
using stmf::mgmt::json;
using namespace std::chrono_literals;

constexpr uint32_t kBlock = 512;
constexpr uint64_t kFirstLba = 1000;  // write n goes to block kFirstLba + n

// Connect and log in only: a held or fenced LU fails the TEST UNIT READY that
// iscsi_full_connect_sync sends (NOT READY, ASYMMETRIC ACCESS STATE TRANSITION).
inline bool login(Ctx& ctx, const Daemon& d) {
  iscsi_set_targetname(ctx, d.iqn().c_str());
  iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
  iscsi_set_timeout(ctx, 30);
  return iscsi_connect_sync(ctx, d.portal().c_str()) == 0 && iscsi_login_sync(ctx) == 0;
}
inline std::vector<uint8_t> stamped(uint64_t seq) {
  std::vector<uint8_t> b(kBlock, uint8_t(seq * 31 + 7));
  for (int i = 0; i < 8; ++i) b[i] = uint8_t(seq >> (56 - 8 * i));
  return b;
}
inline uint64_t stamp_of(const uint8_t* b) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | b[i];
  return v;
}
// WRITE(16) of the block stamped `seq` at kFirstLba + seq, through `c`.
inline Task write_stamped(Ctx& c, uint64_t seq) {
  auto b = stamped(seq);
  return Task(iscsi_write16_sync(c, 0, kFirstLba + seq, b.data(), kBlock, kBlock, 0, 0, 0, 0, 0));
}
inline std::string the_lu(Client& c) {
  json r;
  REQUIRE(c.call("list-lu", json::object(), r).ok());
  REQUIRE(r["lus"].size() == 1);
  return r["lus"][0].get<std::string>();
}
inline json get_lu(Client& c, const std::string& guid) {
  json r;
  auto s = c.call("get-lu", {{"guid", guid}}, r);
  INFO(s.message);
  REQUIRE(s.ok());
  return r["lu"];
}
inline bool access_state_is(Client& c, const std::string& guid, const std::string& want) {
  json r;
  return c.call("get-lu", {{"guid", guid}}, r).ok() && r["lu"].value("access_state", "") == want;
}
inline bool wait_for(const std::function<bool()>& f, std::chrono::milliseconds limit) {
  const auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return f();
}

}  // namespace stmf::test::fencing
