// The framework's ALUA step for a standby LU whose command the peer forwarder refused (the
// link is down, or going down this instant): Transitioning (02/04/0A, retried on the same path)
// while the link may come back, Unavailable (02/04/0C) only once the reconnect window is over.
// A standby RAM block LU behind a real Stmf; a forwarder that refuses everything.
#include <catch2/catch.hpp>

#include <mutex>

#include "core/recording_port_test_util.h"
#include "core/scsi/opcodes.h"
#include "core/scsi/sbd_lu.h"
#include "core/stmf.h"
#include "core/store/backing_store.h"

using namespace stmf;
using stmf::test::NoObserver;
using stmf::test::RecordingPort;

namespace {

// The link is down: every forward is refused, as ProxyService::forward_task does.
struct RefusingForwarder final : PeerForwarder {
  int refused = 0;
  bool forward_task(const LogicalUnitPtr&, const TaskPtr&) override { return ++refused, false; }
  bool forward_tmf(const LogicalUnitPtr&, const ItNexusPtr&, const TmfRequest&,
                   std::function<void(TmfResponse)>) override {
    return false;
  }
  void hand_over(const LogicalUnitPtr&, std::function<void(bool)> done) override { done(false); }
};

struct Fixture {
  Stmf stmf;
  RecordingPort port{"iqn.2026-11.org.example:t,t,0x0001", 32769, 2};
  RefusingForwarder forwarder;
  NoObserver observer;
  LogicalUnitPtr lu;
  ItNexusPtr n;
  Fixture() {
    sbd::BlockLuConfig c;
    c.name = "standby";
    c.guid = {0x60, 0x01, 0x44, 0xf0, 0x05};
    lu = sbd::make_block_lu(c, store::make_null_store(1 << 20));
    lu->set_standby(true);
    stmf.add_lu(lu);
    stmf.add_port(port);
    stmf.set_peer(&forwarder, &observer);
    auto v = std::make_shared<ViewTable>();
    v->entries.push_back({std::nullopt, std::nullopt, 0, lu});
    stmf.set_views(v);
    n = stmf.create_nexus(port, "iqn.2026-11.org.example:a", "000000000001");
  }
  TaskPtr write10() {
    auto t = std::make_shared<ScsiTask>();
    t->nexus = n;
    const std::vector<uint8_t> cdb = {scsi::op::kWrite10, 0, 0, 0, 0, 8, 0, 0, 1, 0};
    std::copy(cdb.begin(), cdb.end(), t->cdb.begin());
    t->cdb_length = uint8_t(cdb.size());
    t->data_out.assign(512, 0xab);
    t->expected_transfer_length = 512;
    stmf.submit(t);
    std::lock_guard lk(port.mu);
    REQUIRE(!port.done.empty());
    REQUIRE(port.done.back() == t);
    return t;
  }
};

bool sense_is(const TaskPtr& t, uint8_t key, uint8_t asc, uint8_t ascq) {
  return t->status == scsi::Status::check_condition && t->sense.size() >= 14 && (t->sense[2] & 0x0f) == key &&
         t->sense[12] == asc && t->sense[13] == ascq;
}

}  // namespace

TEST_CASE("a standby LU's refused forward answers Transitioning while the link may come back", "[alua][framework]") {
  Fixture f;
  SECTION("the published state still says the link is up: it is going down this instant") {
    // ProxyService::link_down stops forwarding first and publishes the reconnect window just
    // after; a command in between must not fail its path.
    f.stmf.set_alua(AluaGroups{true, 1, true, false});
    CHECK(sense_is(f.write10(), 0x02, 0x04, 0x0a));
  }
  SECTION("the link is down, inside the reconnect window") {
    f.stmf.set_alua(AluaGroups{true, 1, false, true});
    CHECK(sense_is(f.write10(), 0x02, 0x04, 0x0a));
  }
  SECTION("the link is down, the window is over: Unavailable") {
    f.stmf.set_alua(AluaGroups{true, 1, false, false});
    CHECK(sense_is(f.write10(), 0x02, 0x04, 0x0c));
  }
  CHECK(f.forwarder.refused == 1);
}

namespace {

// ProxyService::forward_task moves the task's Data-Out into the SCSI_CMD frame before it knows
// whether the link takes it; here the LU also becomes active during the refused forward (a
// takeover completing on another thread at that instant).
struct TakeoverDuringForward final : PeerForwarder {
  LogicalUnitPtr lu;
  bool forward_task(const LogicalUnitPtr&, const TaskPtr& t) override {
    std::vector<uint8_t> frame = std::move(t->data_out);  // into the frame that is then dropped
    frame.clear();
    lu->set_standby(false);
    return false;
  }
  bool forward_tmf(const LogicalUnitPtr&, const ItNexusPtr&, const TmfRequest&,
                   std::function<void(TmfResponse)>) override {
    return false;
  }
  void hand_over(const LogicalUnitPtr&, std::function<void(bool)> done) override { done(false); }
};

}  // namespace

// A command whose forward was refused is answered as for a standby LU even when the LU became
// active since: the forwarder may have taken its Data-Out, so running it here would write
// nothing and answer GOOD (the FCP-4 rule for a short Data-Out), an acknowledged write lost.
// The initiator retries the Transitioning answer, and the retry runs on the now-active LU.
TEST_CASE("a refused forward is answered as standby even if the LU became active meanwhile", "[alua][framework]") {
  Fixture f;
  TakeoverDuringForward fwd;
  fwd.lu = f.lu;
  f.stmf.set_peer(&fwd, &f.observer);
  SECTION("inside the reconnect window") { f.stmf.set_alua(AluaGroups{true, 1, false, true}); }
  SECTION("the window is over: Transitioning all the same, the LU is active here now") {
    f.stmf.set_alua(AluaGroups{true, 1, false, false});
  }
  auto t = f.write10();
  CHECK(t->status != scsi::Status::good);
  CHECK(sense_is(t, 0x02, 0x04, 0x0a));
}
