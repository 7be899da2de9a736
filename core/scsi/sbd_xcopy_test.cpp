// EXTENDED COPY (LID1) and RECEIVE COPY RESULTS on the block LU: the parameter list checks,
// the errors met while processing segments, copies inside one LU and between two, abort
// between chunks, reservations and the held copy status.
#include "core/reservations.h"
#include "core/scsi/sbd_test_util.h"
#include "core/scsi/xcopy.h"
#include "core/views.h"

using namespace stmf;
using namespace stmf::sbd;
using namespace stmf::sbd::test;

namespace {

constexpr uint8_t kXcopy = 0x83, kRcr = 0x84;
constexpr uint8_t kCopyAborted = 0x0a, kIllegal = 0x05;
const Guid kGuidB = {0x60, 0x01, 0x40, 0x50, 9, 9, 9, 9, 5, 6, 7, 8, 9, 10, 11, 12};
constexpr uint32_t kBs = 512;
constexpr uint64_t kBlocks = 8192;  // 4 MiB LUs: copies of several 1 MiB chunks

std::vector<uint8_t> cscd(const Guid& g, uint32_t block_length = kBs, uint8_t type = 0xe4, uint8_t periph = 0) {
  std::vector<uint8_t> d(32, 0);
  d[0] = type;
  d[1] = periph;
  d[4] = 0x01;  // binary
  d[5] = 0x03;  // association LU, NAA
  d[7] = 16;
  std::copy(g.begin(), g.end(), d.begin() + 8);
  d[29] = uint8_t(block_length >> 16);
  d[30] = uint8_t(block_length >> 8);
  d[31] = uint8_t(block_length);
  return d;
}

std::vector<uint8_t> seg(uint16_t src, uint16_t dst, uint16_t blocks, uint64_t src_lba, uint64_t dst_lba,
                         uint8_t type = 0x02) {
  std::vector<uint8_t> d(28, 0);
  d[0] = type;
  scsi::put_be16(&d[2], 0x18);
  scsi::put_be16(&d[4], src);
  scsi::put_be16(&d[6], dst);
  scsi::put_be16(&d[10], blocks);
  scsi::put_be64(&d[12], src_lba);
  scsi::put_be64(&d[20], dst_lba);
  return d;
}

std::vector<uint8_t> plist(uint8_t list_id, uint8_t usage, const std::vector<std::vector<uint8_t>>& cscds,
                           const std::vector<std::vector<uint8_t>>& segs, uint32_t inline_len = 0) {
  std::vector<uint8_t> p(16, 0);
  p[0] = list_id;
  p[1] = uint8_t(usage << 3);
  size_t tl = 0, sl = 0;
  for (auto& c : cscds) p.insert(p.end(), c.begin(), c.end()), tl += c.size();
  for (auto& s : segs) p.insert(p.end(), s.begin(), s.end()), sl += s.size();
  scsi::put_be16(&p[2], uint16_t(tl));
  scsi::put_be32(&p[8], uint32_t(sl));
  scsi::put_be32(&p[12], inline_len);
  p.resize(p.size() + inline_len, 0);
  return p;
}

std::vector<uint8_t> xcopy_cdb(size_t plen) {
  std::vector<uint8_t> c(16, 0);
  c[0] = kXcopy;
  scsi::put_be32(&c[10], uint32_t(plen));
  return c;
}

std::vector<uint8_t> rcr_cdb(uint8_t sa, uint8_t list_id, uint32_t alloc = 4096) {
  std::vector<uint8_t> c(16, 0);
  c[0] = kRcr;
  c[1] = sa;
  c[2] = list_id;
  scsi::put_be32(&c[10], alloc);
  return c;
}

// Two block LUs (A: the one the commands go to, B) that the fixture's nexus sees at LUN 0 and 1.
struct Two : Lu {
  Two() : Lu(kBlocks, kBs, false) {
    auto st = std::make_unique<FakeStore>(kBlocks * kBs, false);
    bstore = st.get();
    BlockLuConfig c;
    c.name = "lu1";
    c.guid = kGuidB;
    c.block_size = kBs;
    b = make_block_lu(c, std::move(st));
    REQUIRE(b);
    auto m = std::make_shared<LunMap>();
    m->luns[0] = lu;
    m->luns[1] = b;
    nexus->set_lun_map(m);
    for (size_t i = 0; i < store->bytes().size(); ++i) store->bytes()[i] = uint8_t(i * 7 + i / 512);
  }
  Guid guid_a() const { return lu->guid(); }
  TaskPtr xcopy(const std::vector<uint8_t>& p) { return run(xcopy_cdb(p.size()), p); }
  // Starts a copy of `blocks` blocks from A's LBA 0 to B's LBA 0 whose writes wait in B's store.
  TaskPtr start_held(uint8_t list_id, uint16_t blocks, bool* done) {
    bstore->hold = true;
    auto p = plist(list_id, 0, {cscd(guid_a()), cscd(kGuidB)}, {seg(0, 1, blocks, 0, 0)});
    return start(xcopy_cdb(p.size()), p, done);
  }
  std::vector<uint8_t> status(uint8_t list_id) {
    auto t = run(rcr_cdb(0x00, list_id));
    REQUIRE(good(t));
    return t->data_in;
  }
  bool same(FakeStore* to, uint64_t to_lba, FakeStore* from, uint64_t from_lba, uint64_t blocks) {
    return std::equal(from->bytes().begin() + from_lba * kBs, from->bytes().begin() + (from_lba + blocks) * kBs,
                      to->bytes().begin() + to_lba * kBs);
  }
  FakeStore* bstore = nullptr;
  std::shared_ptr<LogicalUnit> b;
};

}  // namespace

TEST_CASE("xcopy: a copy inside one LU, in chunks, then its COPY STATUS once") {
  Two f;
  const auto before = f.store->bytes();
  auto t = f.xcopy(plist(1, 0, {cscd(f.guid_a())}, {seg(0, 0, 5000, 0, 3000 + 100)}));
  REQUIRE(good(t));
  // 5000 blocks of 512 bytes: three 1 MiB chunks.
  CHECK(std::equal(before.begin(), before.begin() + 5000 * kBs, f.store->bytes().begin() + 3100 * kBs));
  auto st = f.status(1);
  REQUIRE(st.size() == 12);
  CHECK(scsi::get_be32(&st[0]) == 8);
  CHECK(st[4] == 0x01);                      // completed without errors
  CHECK(scsi::get_be16(&st[5]) == 1);        // segments processed
  CHECK(st[7] == 0);                         // bytes
  CHECK(scsi::get_be32(&st[8]) == 5000 * kBs);
  // Read once: discarded.
  auto again = f.run(rcr_cdb(0x00, 1));
  CHECK_SENSE(again, kIllegal, 0x24, 0x00);
  CHECK_FIELD(again, true, 2, -1);
}

TEST_CASE("xcopy: an overlapping copy to higher LBAs inside one LU copies like memmove") {
  Two f;
  const auto before = f.store->bytes();
  REQUIRE(good(f.xcopy(plist(1, 2, {cscd(f.guid_a())}, {seg(0, 0, 4000, 10, 1010)}))));
  CHECK(std::equal(before.begin() + 10 * kBs, before.begin() + 4010 * kBs, f.store->bytes().begin() + 1010 * kBs));
  // And to lower LBAs.
  const auto mid = f.store->bytes();
  REQUIRE(good(f.xcopy(plist(2, 2, {cscd(f.guid_a())}, {seg(0, 0, 4000, 1010, 500)}))));
  CHECK(std::equal(mid.begin() + 1010 * kBs, mid.begin() + 5010 * kBs, f.store->bytes().begin() + 500 * kBs));
  // LIST ID USAGE 10b: nothing is held.
  CHECK_SENSE(f.run(rcr_cdb(0x00, 1)), kIllegal, 0x24, 0x00);
}

TEST_CASE("xcopy: copies between two LUs, several segments, either direction") {
  Two f;
  auto p = plist(7, 0, {cscd(f.guid_a()), cscd(kGuidB)},
                 {seg(0, 1, 3000, 0, 100), seg(0, 1, 16, 5000, 8000), seg(1, 0, 10, 100, 7000)});
  REQUIRE(good(f.xcopy(p)));
  CHECK(f.same(f.bstore, 100, f.store, 0, 3000));
  CHECK(f.same(f.bstore, 8000, f.store, 5000, 16));
  CHECK(f.same(f.store, 7000, f.bstore, 100, 10));
  auto st = f.status(7);
  CHECK(scsi::get_be16(&st[5]) == 3);
  CHECK(scsi::get_be32(&st[8]) == (3000 + 16 + 10) * kBs);
}

TEST_CASE("xcopy: parameter list errors are ILLEGAL REQUEST before anything moves") {
  Two f;
  const auto good_list = plist(1, 0, {cscd(f.guid_a())}, {seg(0, 0, 8, 0, 100)});
  SECTION("PARAMETER LIST LENGTH 0: GOOD, nothing copied") {
    auto t = f.run(xcopy_cdb(0));
    CHECK(good(t));
    CHECK(f.store->writes == 0);
  }
  SECTION("shorter than the header") {
    std::vector<uint8_t> p(good_list.begin(), good_list.begin() + 15);
    CHECK_SENSE(f.xcopy(p), kIllegal, 0x1a, 0x00);
  }
  SECTION("descriptor lists beyond the parameter list (a truncated segment descriptor)") {
    std::vector<uint8_t> p(good_list.begin(), good_list.end() - 1);
    CHECK_SENSE(f.xcopy(p), kIllegal, 0x1a, 0x00);
  }
  SECTION("a descriptor list longer than MAXIMUM DESCRIPTOR LIST LENGTH") {
    std::vector<std::vector<uint8_t>> segs(xcopy::Limits::kMaxSegmentDescriptors, seg(0, 0, 1, 0, 100));
    std::vector<std::vector<uint8_t>> cscds(xcopy::Limits::kMaxCscdDescriptors + 1, cscd(f.guid_a()));
    CHECK_SENSE(f.xcopy(plist(1, 0, cscds, segs)), kIllegal, 0x1a, 0x00);
  }
  SECTION("too many CSCD descriptors") {
    std::vector<std::vector<uint8_t>> cscds(xcopy::Limits::kMaxCscdDescriptors + 1, cscd(f.guid_a()));
    auto t = f.xcopy(plist(1, 0, cscds, {seg(0, 0, 8, 0, 100)}));
    CHECK_SENSE(t, kIllegal, 0x26, 0x06);
    CHECK_FIELD(t, false, 2, -1);
  }
  SECTION("too many segment descriptors") {
    std::vector<std::vector<uint8_t>> segs(xcopy::Limits::kMaxSegmentDescriptors + 1, seg(0, 0, 1, 0, 100));
    auto t = f.xcopy(plist(1, 0, {cscd(f.guid_a())}, segs));
    CHECK_SENSE(t, kIllegal, 0x26, 0x08);
    CHECK_FIELD(t, false, 8, -1);
  }
  SECTION("an unsupported CSCD descriptor type (Fibre Channel N_Port_Name)") {
    auto t = f.xcopy(plist(1, 0, {cscd(f.guid_a(), kBs, 0xe0)}, {seg(0, 0, 8, 0, 100)}));
    CHECK_SENSE(t, kIllegal, 0x26, 0x07);
    CHECK_FIELD(t, false, 16, -1);
  }
  SECTION("an unsupported segment descriptor type (stream-to-stream)") {
    auto t = f.xcopy(plist(1, 0, {cscd(f.guid_a())}, {seg(0, 0, 8, 0, 100, 0x03)}));
    CHECK_SENSE(t, kIllegal, 0x26, 0x09);
    CHECK_FIELD(t, false, 48, -1);
  }
  SECTION("a segment descriptor with the wrong DESCRIPTOR LENGTH") {
    auto s = seg(0, 0, 8, 0, 100);
    s[3] = 0x14;
    auto t = f.xcopy(plist(1, 0, {cscd(f.guid_a())}, {s}));
    CHECK_SENSE(t, kIllegal, 0x26, 0x00);
    CHECK_FIELD(t, false, 50, -1);
  }
  SECTION("inline data (MAXIMUM INLINE DATA LENGTH is 0)") {
    auto t = f.xcopy(plist(1, 0, {cscd(f.guid_a())}, {seg(0, 0, 8, 0, 100)}, 4));
    CHECK_SENSE(t, kIllegal, 0x26, 0x00);
    CHECK_FIELD(t, false, 12, -1);
  }
  SECTION("LIST ID USAGE 01b is reserved") {
    auto t = f.xcopy(plist(1, 1, {cscd(f.guid_a())}, {seg(0, 0, 8, 0, 100)}));
    CHECK_SENSE(t, kIllegal, 0x26, 0x00);
    CHECK_FIELD(t, false, 1, 4);
  }
  SECTION("a CSCD descriptor of another peripheral device type") {
    auto t = f.xcopy(plist(1, 0, {cscd(f.guid_a(), kBs, 0xe4, 0x01)}, {seg(0, 0, 8, 0, 100)}));
    CHECK_SENSE(t, kIllegal, 0x26, 0x00);
    CHECK_FIELD(t, false, 17, 4);
  }
  SECTION("Data-Out shorter than PARAMETER LIST LENGTH") {
    auto t = f.run(xcopy_cdb(good_list.size() + 4), good_list);
    CHECK_SENSE(t, kIllegal, 0x0e, 0x03);
  }
  CHECK(f.store->writes == 0);
}

TEST_CASE("xcopy: errors met processing segments are COPY ABORTED with a segment pointer") {
  Two f;
  SECTION("a destination index past the CSCD descriptors") {
    auto t = f.xcopy(plist(1, 0, {cscd(f.guid_a())}, {seg(0, 1, 8, 0, 100)}));
    CHECK_SENSE(t, kCopyAborted, 0x0d, 0x02);
    CHECK_FIELD(t, false, 48 + 6, -1);
    auto s = sense_of(t);
    CHECK(s.has_info);
    CHECK(s.info == 8);  // residue: the segment's blocks
  }
  SECTION("a designator naming no LU the nexus sees") {
    Guid other = kGuidB;
    other[15] ^= 0xff;
    auto t = f.xcopy(plist(1, 0, {cscd(f.guid_a()), cscd(other)}, {seg(0, 1, 8, 0, 100)}));
    CHECK_SENSE(t, kCopyAborted, 0x0d, 0x02);
    CHECK_FIELD(t, false, 80 + 6, -1);
  }
  SECTION("an LU the nexus does not see (not in its LUN map)") {
    auto m = std::make_shared<LunMap>();
    m->luns[0] = f.lu;
    f.nexus->set_lun_map(m);
    CHECK_SENSE(f.xcopy(plist(1, 0, {cscd(f.guid_a()), cscd(kGuidB)}, {seg(0, 1, 8, 0, 100)})), kCopyAborted, 0x0d,
                0x02);
  }
  SECTION("an LU served by the other node of an ALUA pair") {
    f.b->set_standby(true);
    CHECK_SENSE(f.xcopy(plist(1, 0, {cscd(f.guid_a()), cscd(kGuidB)}, {seg(0, 1, 8, 0, 100)})), kCopyAborted, 0x0d,
                0x02);
  }
  SECTION("a destination range beyond the capacity") {
    auto t = f.xcopy(plist(1, 0, {cscd(f.guid_a())}, {seg(0, 0, 2048, 0, kBlocks - 1)}));
    CHECK_SENSE(t, kCopyAborted, 0x00, 0x00);
    CHECK_FIELD(t, false, 48 + 20, -1);
  }
  SECTION("a source range beyond the capacity, in the second segment: the first is not copied either") {
    auto t = f.xcopy(plist(1, 0, {cscd(f.guid_a())}, {seg(0, 0, 8, 0, 100), seg(0, 0, 8, kBlocks - 4, 0)}));
    CHECK_SENSE(t, kCopyAborted, 0x00, 0x00);
    CHECK_FIELD(t, false, 76 + 12, -1);
    auto st = f.status(1);
    CHECK(st[4] == 0x02);  // completed with errors
    CHECK(scsi::get_be16(&st[5]) == 0);
    CHECK(scsi::get_be32(&st[8]) == 0);
  }
  SECTION("a DISK BLOCK LENGTH other than the LU's") {
    auto t = f.xcopy(plist(1, 0, {cscd(f.guid_a(), 4096)}, {seg(0, 0, 8, 0, 100)}));
    CHECK_SENSE(t, kCopyAborted, 0x00, 0x00);
    CHECK_FIELD(t, false, 16 + 29, -1);
  }
  SECTION("a write-protected destination") {
    set_block_lu_write_protect(*f.b, true);
    CHECK_SENSE(f.xcopy(plist(1, 0, {cscd(f.guid_a()), cscd(kGuidB)}, {seg(0, 1, 8, 0, 100)})), kCopyAborted, 0x27,
                0x00);
  }
  SECTION("a read error of the source") {
    f.store->read_error = std::make_error_code(std::errc::io_error);
    auto t = f.xcopy(plist(1, 0, {cscd(f.guid_a()), cscd(kGuidB)}, {seg(0, 1, 3000, 0, 100)}));
    CHECK_SENSE(t, kCopyAborted, 0x11, 0x00);
    CHECK(sense_of(t).info == 3000);
  }
  SECTION("a write error of the destination after the first chunk") {
    auto t0 = f.bstore;
    t0->hold = true;
    bool done = false;
    auto p = plist(1, 0, {cscd(f.guid_a()), cscd(kGuidB)}, {seg(0, 1, 3000, 0, 100)});
    auto t = f.start(xcopy_cdb(p.size()), p, &done);
    REQUIRE(t0->run_one());  // first chunk written
    t0->write_error = std::make_error_code(std::errc::io_error);
    t0->run_all();
    REQUIRE(done);
    CHECK_SENSE(t, kCopyAborted, 0x0c, 0x00);
    CHECK(sense_of(t).info == 3000 - 2048);
    auto st = f.status(1);
    CHECK(st[4] == 0x02);
    CHECK(scsi::get_be32(&st[8]) == 2048 * kBs);
  }
  CHECK(f.bstore->bytes()[100 * kBs] == 0);
}

TEST_CASE("xcopy: reservations of source and destination are checked as for READ and WRITE") {
  Two f;
  const uint8_t reserve6[6] = {0x16, 0, 0, 0, 0, 0};
  auto& rs = f.b->reservations();
  REQUIRE(rs.engine.reserve(pr_nexus(*f.nexus2), reserve6).status == pr::Result::Status::good);
  SECTION("B the destination") {
    auto t = f.xcopy(plist(1, 0, {cscd(f.guid_a()), cscd(kGuidB)}, {seg(0, 1, 8, 0, 100)}));
    CHECK(t->status == scsi::Status::reservation_conflict);
  }
  SECTION("B the source") {
    auto t = f.xcopy(plist(1, 0, {cscd(f.guid_a()), cscd(kGuidB)}, {seg(1, 0, 8, 0, 100)}));
    CHECK(t->status == scsi::Status::reservation_conflict);
  }
  SECTION("B not used") {
    CHECK(good(f.xcopy(plist(1, 0, {cscd(f.guid_a()), cscd(kGuidB)}, {seg(0, 0, 8, 0, 100)}))));
  }
  CHECK(f.store->writes + f.bstore->writes <= 1);
}

// A reservation another I_T nexus takes on the destination while the copy runs (a cluster
// fencing this initiator: RESERVE, PREEMPT) stops the copy before its next chunk is written, as
// it stops this nexus's own WRITEs; a copy of several GiB would otherwise go on writing into an
// LU it no longer has access to. Before the fix the destination was checked only at the start.
TEST_CASE("xcopy: a reservation taken on the destination during the copy stops it before the next chunk") {
  Two f;
  bool done = false;
  auto t = f.start_held(4, 6000, &done);  // three 1 MiB chunks; chunk 1's write waits in B's store
  const uint8_t reserve6[6] = {0x16, 0, 0, 0, 0, 0};
  auto& rs = f.b->reservations();
  {
    std::unique_lock lk(rs.mu);
    REQUIRE(rs.engine.reserve(pr_nexus(*f.nexus2), reserve6).status == pr::Result::Status::good);
  }
  f.bstore->run_all();
  REQUIRE(done);
  CHECK(t->status == scsi::Status::reservation_conflict);
  CHECK(f.bstore->writes == 1);  // chunk 1 (issued before the reservation) only
  CHECK(std::all_of(f.bstore->bytes().begin() + 2048 * kBs, f.bstore->bytes().end(), [](uint8_t v) { return v == 0; }));
  auto st = f.status(4);
  CHECK(st[4] == 0x02);  // completed with errors
  CHECK(scsi::get_be32(&st[8]) == 2048 * kBs);
}

// A planned switchover of a source or destination LU (it turns Transitioning, drains its task
// set, flushes and goes to the peer) while a copy sent to another LU runs: the LU's task set
// counts the copy's chunk I/O in flight on it (the drain waits for it), and the copy stops
// before its next chunk there. Before, the drain saw an empty task set and the copy went on
// writing into an LU the other node now owned.
TEST_CASE("xcopy: a destination LU that turns Transitioning during the copy is drained of it, and the copy stops") {
  Two f;
  bool done = false;
  auto t = f.start_held(6, 6000, &done);  // chunk 1's write waits in B's store
  auto idle = [](LogicalUnit& lu) {
    auto& ts = lu.task_set();
    std::lock_guard lk(ts.mu);
    return ts.idle();
  };
  CHECK_FALSE(idle(*f.b));  // the chunk write in flight on B
  f.b->set_transitioning(true);
  f.bstore->run_all();
  REQUIRE(done);
  CHECK(idle(*f.b));
  CHECK(f.bstore->writes == 1);
  CHECK_SENSE(t, kCopyAborted, 0x0d, 0x02);
  CHECK(std::all_of(f.bstore->bytes().begin() + 2048 * kBs, f.bstore->bytes().end(), [](uint8_t v) { return v == 0; }));
  auto st = f.status(6);
  CHECK(st[4] == 0x02);
  CHECK(scsi::get_be32(&st[8]) == 2048 * kBs);
}

TEST_CASE("xcopy: an ABORT TASK stops the copy between chunks, and COPY STATUS says what was copied") {
  Two f;
  bool done = false;
  auto t = f.start_held(3, 6000, &done);
  // The source store completes at once: chunk 1's write waits in the destination store.
  REQUIRE(f.bstore->run_one());  // chunk 1 written; chunk 2 read and its write issued
  t->aborted.store(true);        // chunk 2's write completes, chunk 3 is never read
  f.bstore->run_all();
  REQUIRE(done);
  CHECK(f.bstore->writes == 2);
  CHECK(f.same(f.bstore, 0, f.store, 0, 4096));
  CHECK(std::all_of(f.bstore->bytes().begin() + 4096 * kBs, f.bstore->bytes().end(), [](uint8_t v) { return v == 0; }));
  auto st = f.status(3);
  CHECK(st[4] == 0x02);
  CHECK(scsi::get_be16(&st[5]) == 0);
  CHECK(scsi::get_be32(&st[8]) == 4096 * kBs);
}

TEST_CASE("xcopy: a running list identifier cannot be reused, and COPY STATUS while it runs") {
  Two f;
  bool done = false;
  auto t = f.start_held(9, 4000, &done);
  auto p = plist(9, 0, {cscd(f.guid_a()), cscd(kGuidB)}, {seg(0, 1, 4000, 0, 0)});
  auto busy = f.start(xcopy_cdb(p.size()), p);
  CHECK_SENSE(busy, kIllegal, 0x00, 0x16);
  // Another I_T nexus may use the same list identifier.
  auto m = f.nexus->lun_map();
  f.nexus2->set_lun_map(m);
  bool done2 = false;
  f.start(xcopy_cdb(p.size()), p, &done2, f.nexus2);
  auto st = f.run(rcr_cdb(0x00, 9));
  REQUIRE(good(st));
  CHECK(st->data_in[4] == 0x00);  // in progress
  f.bstore->run_all();
  CHECK(done);
  CHECK(done2);
  CHECK(f.status(9)[4] == 0x01);
}

TEST_CASE("xcopy: held results are bounded per nexus and end with the nexus") {
  Two f;
  for (int id = 0; id < 40; ++id)
    REQUIRE(good(f.xcopy(plist(uint8_t(id), 0, {cscd(f.guid_a())}, {seg(0, 0, 1, 0, 100)}))));
  CHECK_SENSE(f.run(rcr_cdb(0x00, 0)), kIllegal, 0x24, 0x00);  // evicted
  CHECK(f.status(39)[4] == 0x01);
  f.lu->on_nexus_loss(f.nexus->key());
  CHECK_SENSE(f.run(rcr_cdb(0x00, 38)), kIllegal, 0x24, 0x00);
}

TEST_CASE("xcopy: CopyResults keeps at most kHeldPerNexus completed results") {
  xcopy::CopyResults r;
  for (int id = 0; id < 100; ++id) {
    auto rec = r.begin("n", uint8_t(id));
    REQUIRE(rec);
    r.end("n", rec, true);
  }
  CHECK(r.size() == xcopy::Limits::kHeldPerNexus);
  for (int n = 0; n < 2000; ++n) r.end(std::to_string(n), r.begin(std::to_string(n), 1), true);
  CHECK(r.size() <= (xcopy::Limits::kHeldNexuses + 1) * xcopy::Limits::kHeldPerNexus);
}

TEST_CASE("xcopy: OPERATING PARAMETERS, the Third-party Copy VPD page, 3PC and RSOC") {
  Two f;
  auto t = f.run(rcr_cdb(0x03, 0));
  REQUIRE(good(t));
  const auto& d = t->data_in;
  REQUIRE(d.size() == 46);
  CHECK(scsi::get_be32(&d[0]) == 42);
  CHECK(scsi::get_be16(&d[8]) == xcopy::Limits::kMaxCscdDescriptors);
  CHECK(scsi::get_be16(&d[10]) == xcopy::Limits::kMaxSegmentDescriptors);
  CHECK(scsi::get_be32(&d[12]) == xcopy::Limits::kMaxDescriptorListLength);
  CHECK(scsi::get_be32(&d[16]) == xcopy::Limits::kMaxSegmentBytes);
  CHECK(scsi::get_be32(&d[20]) == 0);
  CHECK(d[43] == 2);
  CHECK(d[44] == 0x02);
  CHECK(d[45] == 0xe4);
  // Allocation length.
  CHECK(f.run(rcr_cdb(0x03, 0, 8))->data_in.size() == 8);

  std::vector<uint8_t> inq = {0x12, 0, 0, 0, 255, 0};
  auto std_inq = f.run(inq);
  CHECK((std_inq->data_in[5] & 0x08) != 0);  // 3PC
  inq[1] = 1;
  auto pages = f.run(inq)->data_in;
  CHECK(std::find(pages.begin() + 4, pages.end(), 0x8f) != pages.end());
  inq[2] = 0x8f;
  auto vpd = f.run(inq)->data_in;
  REQUIRE(vpd.size() > 8);
  CHECK(vpd[1] == 0x8f);
  CHECK(scsi::get_be16(&vpd[2]) == vpd.size() - 4);
  // Descriptors: Supported Commands first, each a multiple of 4 bytes.
  CHECK(scsi::get_be16(&vpd[4]) == 0x0001);
  for (size_t at = 4; at < vpd.size(); at += 4 + scsi::get_be16(&vpd[at + 2])) CHECK(scsi::get_be16(&vpd[at + 2]) % 4 == 0);
  const uint8_t cmds[] = {0x83, 1, 0x00, 0x84, 2, 0x00, 0x03};
  CHECK(vpd[8] == sizeof(cmds));
  CHECK(std::equal(std::begin(cmds), std::end(cmds), vpd.begin() + 9));
  // Each descriptor by its type code and at the offsets SPC-4 gives (as sg_vpd -p tpc and the
  // Linux initiator read them): the offset of the descriptor of a type, or 0.
  auto find_desc = [&vpd](uint16_t type) -> size_t {
    for (size_t at = 4; at + 4 <= vpd.size(); at += 4 + scsi::get_be16(&vpd[at + 2]))
      if (scsi::get_be16(&vpd[at]) == type) return at;
    return 0;
  };
  const size_t param = find_desc(0x0004);  // Parameter Data
  REQUIRE(param != 0);
  CHECK(scsi::get_be16(&vpd[param + 2]) == 0x1c);
  CHECK(scsi::get_be16(&vpd[param + 8]) == xcopy::Limits::kMaxCscdDescriptors);
  CHECK(scsi::get_be16(&vpd[param + 10]) == xcopy::Limits::kMaxSegmentDescriptors);
  CHECK(scsi::get_be32(&vpd[param + 12]) == xcopy::Limits::kMaxDescriptorListLength);
  CHECK(scsi::get_be32(&vpd[param + 16]) == 0);  // MAXIMUM INLINE DATA LENGTH
  const size_t descs = find_desc(0x0008);  // Supported Descriptors
  REQUIRE(descs != 0);
  CHECK(vpd[descs + 4] == 2);
  CHECK(vpd[descs + 5] == 0x02);
  CHECK(vpd[descs + 6] == 0xe4);
  const size_t ids = find_desc(0x000c);  // Supported CSCD Descriptor IDs: none
  REQUIRE(ids != 0);
  CHECK(scsi::get_be16(&vpd[ids + 4]) == 0);
  const size_t general = find_desc(0x8001);  // General Copy Operations
  REQUIRE(general != 0);
  CHECK(scsi::get_be16(&vpd[general + 2]) == 0x20);
  CHECK(scsi::get_be32(&vpd[general + 4]) == xcopy::Limits::kMaxConcurrentCopies);
  CHECK(scsi::get_be32(&vpd[general + 8]) == xcopy::Limits::kMaxConcurrentCopies);
  CHECK(scsi::get_be32(&vpd[general + 12]) == xcopy::Limits::kMaxSegmentBytes);

  // REPORT SUPPORTED OPERATION CODES, one command: 83h/00h, 84h/00h, 84h/03h supported.
  for (auto [op, sa] : {std::pair<uint8_t, uint8_t>{0x83, 0x00}, {0x84, 0x00}, {0x84, 0x03}}) {
    std::vector<uint8_t> rsoc = {0xa3, 0x0c, 0x02, op, 0, sa, 0, 0, 1, 0, 0, 0};
    auto r = f.run(rsoc);
    REQUIRE(good(r));
    CHECK((r->data_in[1] & 0x07) == 0x03);  // supported as in the standard
  }
  std::vector<uint8_t> rsoc = {0xa3, 0x0c, 0x02, 0x84, 0, 0x01, 0, 0, 1, 0, 0, 0};
  CHECK((f.run(rsoc)->data_in[1] & 0x07) == 0x01);  // FAILED SEGMENT DETAILS: not supported
}
