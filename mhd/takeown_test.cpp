// MHIOCTKOWN's take-ownership algorithm against a fake clock and scripted RESERVE outcomes.
#include <catch2/catch.hpp>

#include <cerrno>
#include <deque>
#include <functional>

#include "mhd/mhd.h"
#include "mhd/takeown.h"

using namespace mhd;
using namespace std::chrono_literals;

namespace {

struct FakeDisk : TkownOps {
  Clock::time_point t0{}, t{};
  // RESERVE's outcome as a function of the fake time since start (ms) and the call number.
  std::function<Reserve(long ms, int call)> on_reserve = [](long, int) { return Reserve::kGood; };
  std::function<bool(long ms)> reset_between = [](long) { return false; };  // a reset before this RESERVE
  bool lun_reset_ok = true, target_reset_ok = true;
  int reserves = 0, lun_resets = 0, target_resets = 0;
  bool pending_reset = false;

  long elapsed() const { return long(std::chrono::duration_cast<Ms>(t - t0).count()); }
  Reserve reserve() override {
    if (reset_between(elapsed())) pending_reset = true;
    return on_reserve(elapsed(), reserves++);
  }
  bool lun_reset() override {
    ++lun_resets;
    pending_reset = lun_reset_ok;
    return lun_reset_ok;
  }
  bool target_reset() override {
    ++target_resets;
    pending_reset = target_reset_ok;
    return target_reset_ok;
  }
  bool take_reset_seen() override {
    bool r = pending_reset;
    pending_reset = false;
    return r;
  }
  Clock::time_point now() override { return t; }
  void sleep_until(Clock::time_point u) override {
    if (u > t) t = u;
  }
};

TkownParams params(int min_ms, int max_ms, int poll_ms = 500) {
  TkownParams p;
  p.min_delay = Ms(min_ms);
  p.max_delay = Ms(max_ms);
  p.poll = Ms(poll_ms);
  return p;
}

}  // namespace

TEST_CASE("tkown: a free disk is owned after min_ownership_delay of clean reserves", "[mhd][takeown]") {
  FakeDisk d;
  REQUIRE(take_ownership(d, tkown_params(nullptr, 0ms)) == 0);
  CHECK(d.elapsed() >= 6000);
  CHECK(d.elapsed() <= 6500);  // the first poll at or after the window
  CHECK(d.reserves == 1 + 12);  // the priority reserve, then one every 500 ms
  CHECK(d.lun_resets == 0);
  CHECK(d.target_resets == 0);
}

TEST_CASE("tkown: at least four clean reserves even when min_ownership_delay is shorter", "[mhd][takeown]") {
  FakeDisk d;
  REQUIRE(take_ownership(d, params(100, 30000)) == 0);
  CHECK(d.elapsed() == 2000);
  CHECK(d.reserves == 5);
}

TEST_CASE("tkown: a conflicting reservation is broken with a LUN reset", "[mhd][takeown]") {
  FakeDisk d;
  d.on_reserve = [](long, int call) { return call == 0 ? Reserve::kConflict : Reserve::kGood; };
  REQUIRE(take_ownership(d, params(1000, 5000)) == 0);
  CHECK(d.lun_resets == 1);
  CHECK(d.target_resets == 0);
  // Our own reset's unit attention does not restart the window.
  CHECK(d.elapsed() == 2000);
}

TEST_CASE("tkown: LUN reset refused, then a target reset", "[mhd][takeown]") {
  FakeDisk d;
  d.lun_reset_ok = false;
  d.on_reserve = [](long, int call) { return call == 0 ? Reserve::kConflict : Reserve::kGood; };
  REQUIRE(take_ownership(d, params(1000, 5000)) == 0);
  CHECK(d.lun_resets == 1);
  CHECK(d.target_resets == 1);
}

TEST_CASE("tkown: every reset refused is EIO", "[mhd][takeown]") {
  FakeDisk d;
  d.lun_reset_ok = d.target_reset_ok = false;
  d.on_reserve = [](long, int) { return Reserve::kConflict; };
  CHECK(take_ownership(d, params(1000, 5000)) == EIO);
  CHECK(d.reserves == 1);
}

TEST_CASE("tkown: still conflicting after the reset is EACCES", "[mhd][takeown]") {
  FakeDisk d;
  d.on_reserve = [](long, int) { return Reserve::kConflict; };
  CHECK(take_ownership(d, params(1000, 5000)) == EACCES);
  CHECK(d.reserves == 2);
  CHECK(d.lun_resets == 1);
}

TEST_CASE("tkown: no RESERVE support is ENOTSUP, a failed RESERVE is EIO", "[mhd][takeown]") {
  FakeDisk d;
  d.on_reserve = [](long, int) { return Reserve::kUnsupported; };
  CHECK(take_ownership(d, params(1000, 5000)) == ENOTSUP);
  FakeDisk e;
  e.on_reserve = [](long, int) { return Reserve::kError; };
  CHECK(take_ownership(e, params(1000, 5000)) == EIO);
}

TEST_CASE("tkown: a reset during the window starts it over", "[mhd][takeown]") {
  FakeDisk d;
  d.reset_between = [](long ms) { return ms == 1500; };
  REQUIRE(take_ownership(d, params(1000, 30000)) == 0);
  // Window restarted at 1500: owned at 1500 + 1000 once four clean reserves followed (3500).
  CHECK(d.elapsed() == 3500);
}

TEST_CASE("tkown: resets that never stop end in EACCES at max_ownership_delay", "[mhd][takeown]") {
  FakeDisk d;
  d.reset_between = [](long ms) { return ms > 0; };
  CHECK(take_ownership(d, params(1000, 4000)) == EACCES);
  CHECK(d.elapsed() == 4000);
}

TEST_CASE("tkown: losing the reservation in the window (both attempts conflict) is EACCES at once",
          "[mhd][takeown]") {
  FakeDisk d;
  d.on_reserve = [](long ms, int) { return ms >= 1000 ? Reserve::kConflict : Reserve::kGood; };
  CHECK(take_ownership(d, params(3000, 30000)) == EACCES);
  CHECK(d.elapsed() == 1000);
  FakeDisk e;
  e.on_reserve = [](long ms, int) { return ms >= 1000 ? Reserve::kError : Reserve::kGood; };
  CHECK(take_ownership(e, params(3000, 30000)) == EIO);
}

TEST_CASE("tkown: a failed attempt whose retry succeeds restarts the window", "[mhd][takeown]") {
  FakeDisk d;
  int failed_at = -1;
  d.on_reserve = [&](long ms, int call) {
    if (ms == 1000 && failed_at < 0) {
      failed_at = call;
      return Reserve::kError;
    }
    return Reserve::kGood;
  };
  REQUIRE(take_ownership(d, params(1000, 30000)) == 0);
  CHECK(d.elapsed() == 3000);  // restarted at 1000, then four clean reserves: 1500..3000
}

TEST_CASE("tkown: OwnershipWindow reports sleeps and never sleeps past the deadline", "[mhd][takeown]") {
  Clock::time_point t0{};
  OwnershipWindow w(params(1000, 1200, 500), t0);
  auto s = w.next(t0);
  REQUIRE(s.kind == OwnershipWindow::Kind::kSleepUntil);
  CHECK(s.until == t0 + 500ms);
  CHECK(w.next(t0 + 500ms).kind == OwnershipWindow::Kind::kReserve);
  w.reserved(t0 + 500ms, Reserve::kGood, Reserve::kGood, false);
  s = w.next(t0 + 500ms);
  CHECK(s.until == t0 + 1000ms);
  w.reserved(t0 + 1000ms, Reserve::kGood, Reserve::kGood, false);
  s = w.next(t0 + 1000ms);
  CHECK(s.until == t0 + 1200ms);  // the deadline comes before the next poll
  s = w.next(t0 + 1200ms);
  CHECK(s.kind == OwnershipWindow::Kind::kDone);
  CHECK(s.error == EACCES);
}

TEST_CASE("tkown: parameters from struct mhioctkown (0 and NULL select the defaults)", "[mhd][takeown]") {
  auto d = tkown_params(nullptr, 0ms);
  CHECK(d.min_delay == 6000ms);
  CHECK(d.max_delay == 30000ms);
  CHECK(d.reinstate_delay == 6000ms);
  CHECK(d.poll == 500ms);
  mhioctkown zero{0, 0, 0};
  auto z = tkown_params(&zero, 0ms);
  CHECK(z.min_delay == 6000ms);
  CHECK(z.max_delay == 30000ms);
  mhioctkown mine{300, 1000, 5000};
  auto m = tkown_params(&mine, 50ms);
  CHECK(m.reinstate_delay == 300ms);
  CHECK(m.min_delay == 1000ms);
  CHECK(m.max_delay == 5000ms);
  CHECK(m.poll == 50ms);
  mhioctkown bad{0, -1, 0};
  CHECK_FALSE(valid_tkown_arg(&bad));
  CHECK(valid_tkown_arg(nullptr));
}
