// The framework's side of reservations: APTPL persistence before GOOD (and a failed write
// changing nothing), unit attentions to the nexuses the engine names, and the conflict check
// in the pipeline. A RAM block LU behind a real Stmf; ports that record completions.
#include <catch2/catch.hpp>

#include <mutex>

#include "core/recording_port_test_util.h"
#include "core/reservations.h"
#include "core/scsi/sbd_lu.h"
#include "core/stmf.h"
#include "core/store/backing_store.h"

using namespace stmf;
using stmf::test::RecordingPort;

namespace {

struct FakePersistence final : PrPersistence {
  bool fail = false;
  int writes = 0;
  std::optional<pr::PrState> stored;
  bool store(const std::string&, const std::optional<pr::PrState>& s, std::string& why) override {
    if (fail) {
      why = "disk full";
      return false;
    }
    ++writes;
    stored = s;
    return true;
  }
};

struct Fixture {
  Stmf stmf;
  RecordingPort port{"iqn.2026-11.org.example:t,t,0x0001", 1};
  FakePersistence disk;
  LogicalUnitPtr lu;
  ItNexusPtr a, b;
  Fixture() {
    sbd::BlockLuConfig c;
    c.name = "lu";
    c.guid = {0x60, 0x01, 0x44, 0xf0};
    lu = sbd::make_block_lu(c, store::make_ram_store(1 << 20));
    stmf.add_lu(lu);
    stmf.add_port(port);
    stmf.set_pr_persistence(&disk);
    auto v = std::make_shared<ViewTable>();
    v->entries.push_back({std::nullopt, std::nullopt, 0, lu});
    stmf.set_views(v);
    a = stmf.create_nexus(port, "iqn.2026-11.org.example:a", "000000000001");
    b = stmf.create_nexus(port, "iqn.2026-11.org.example:b", "000000000002");
    for (auto& n : {a, b})  // consume POWER ON
      run(n, {0x00});
  }
  TaskPtr run(const ItNexusPtr& n, std::vector<uint8_t> cdb, std::vector<uint8_t> out = {}) {
    auto t = std::make_shared<ScsiTask>();
    t->nexus = n;
    std::copy(cdb.begin(), cdb.end(), t->cdb.begin());
    t->cdb_length = uint8_t(cdb.size());
    t->data_out = std::move(out);
    t->expected_transfer_length = uint32_t(std::max<size_t>(t->data_out.size(), 8192));
    stmf.submit(t);
    std::lock_guard lk(port.mu);
    REQUIRE(!port.done.empty());
    REQUIRE(port.done.back() == t);
    return t;
  }
  // PR OUT with a basic 24-byte parameter list.
  TaskPtr pr_out(const ItNexusPtr& n, uint8_t sa, uint8_t type, uint64_t key, uint64_t sa_key, bool aptpl) {
    std::vector<uint8_t> p(24, 0);
    for (int i = 0; i < 8; ++i) {
      p[i] = uint8_t(key >> (56 - 8 * i));
      p[8 + i] = uint8_t(sa_key >> (56 - 8 * i));
    }
    p[20] = aptpl ? 0x01 : 0;
    return run(n, {0x5f, sa, type, 0, 0, 0, 0, 0, 24, 0}, p);
  }
  size_t keys() {
    auto t = run(a, {0x5e, 0x00, 0, 0, 0, 0, 0, 0x10, 0x00, 0});
    REQUIRE(t->status == scsi::Status::good);
    return (size_t(t->data_in[4]) << 24 | size_t(t->data_in[5]) << 16 | size_t(t->data_in[6]) << 8 | t->data_in[7]) / 8;
  }
};

bool sense_is(const TaskPtr& t, uint8_t key, uint8_t asc, uint8_t ascq) {
  return t->status == scsi::Status::check_condition && t->sense.size() >= 14 && (t->sense[2] & 0x0f) == key &&
         t->sense[12] == asc && t->sense[13] == ascq;
}

}  // namespace

TEST_CASE("APTPL: state is durable before GOOD, a failed write changes nothing", "[reservations][framework]") {
  Fixture f;
  f.disk.fail = true;
  auto t = f.pr_out(f.a, 0x00, 0, 0, 0xA, true);
  CHECK(sense_is(t, 0x04, 0x44, 0x00));  // HARDWARE ERROR, INTERNAL TARGET FAILURE
  CHECK(f.keys() == 0);                  // memory agrees with the (unchanged) disk
  CHECK(f.disk.writes == 0);
  f.disk.fail = false;
  t = f.pr_out(f.a, 0x00, 0, 0, 0xA, true);
  CHECK(t->status == scsi::Status::good);
  REQUIRE(f.disk.stored);
  CHECK(f.disk.stored->registrations.size() == 1);
  CHECK(f.disk.stored->aptpl);
  CHECK(*f.disk.stored == f.lu->reservations().engine.state());
  // Without APTPL the persisted copy is erased (APTPL 1 -> 0 on the last REGISTER).
  t = f.pr_out(f.b, 0x00, 0, 0, 0xB, false);
  CHECK(t->status == scsi::Status::good);
  CHECK_FALSE(f.disk.stored);
  CHECK(f.keys() == 2);
}

TEST_CASE("reservation conflicts run in the pipeline, PREEMPT reaches the preempted nexus as a UA", "[reservations][framework]") {
  Fixture f;
  REQUIRE(f.pr_out(f.a, 0x00, 0, 0, 0xA, false)->status == scsi::Status::good);
  REQUIRE(f.pr_out(f.b, 0x00, 0, 0, 0xB, false)->status == scsi::Status::good);
  REQUIRE(f.pr_out(f.a, 0x01, 0x03, 0xA, 0, false)->status == scsi::Status::good);  // EXCLUSIVE ACCESS
  // B is a registrant but not the holder: READ conflicts under Exclusive Access.
  CHECK(f.run(f.b, {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0})->status == scsi::Status::reservation_conflict);
  CHECK(f.run(f.a, {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0})->status == scsi::Status::good);
  // B preempts A: A's registration is gone and A is told so, B is not.
  REQUIRE(f.pr_out(f.b, 0x04, 0x03, 0xB, 0xA, false)->status == scsi::Status::good);
  CHECK(sense_is(f.run(f.a, {0x00}), 0x06, 0x2a, 0x05));  // REGISTRATIONS PREEMPTED
  CHECK(f.run(f.b, {0x00})->status == scsi::Status::good);
  CHECK(f.run(f.a, {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0})->status == scsi::Status::reservation_conflict);
  CHECK(f.run(f.b, {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0})->status == scsi::Status::good);
  // Reserved CDB bits in a reservation command are refused before the engine sees it.
  CHECK(sense_is(f.run(f.a, {0x5e, 0x00, 0x01, 0, 0, 0, 0, 0x10, 0, 0}), 0x05, 0x24, 0x00));
  // An unknown PR IN service action is INVALID FIELD IN CDB, not an unknown opcode.
  CHECK(sense_is(f.run(f.a, {0x5e, 0x07, 0, 0, 0, 0, 0, 0x10, 0, 0}), 0x05, 0x24, 0x00));
}
