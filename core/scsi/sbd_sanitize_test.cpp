// Block LU: SANITIZE (SBC-4 5.30) parsing, the sanitize states (SBC-4 4.11) and their errors.
#include <algorithm>

#include "core/scsi/opcodes.h"
#include "core/scsi/sbd_test_util.h"

using namespace stmf;
using namespace stmf::sbd::test;
namespace sa = stmf::scsi::sanitize;

namespace {

constexpr uint8_t kImmed = 0x80, kAuse = 0x20;

std::vector<uint8_t> sanitize(uint8_t action, uint16_t plen, uint8_t flags = 0) {
  std::vector<uint8_t> c(10, 0);
  c[0] = scsi::op::kSanitize;
  c[1] = uint8_t(flags | action);
  scsi::put_be16(&c[7], plen);
  return c;
}

// OVERWRITE parameter list: byte 0 INVERT/TEST/OVERWRITE COUNT, bytes 2..3 pattern length.
std::vector<uint8_t> overwrite_list(std::vector<uint8_t> pattern, uint8_t count = 1, bool invert = false) {
  std::vector<uint8_t> p(4, 0);
  p[0] = uint8_t((invert ? 0x80 : 0) | count);
  scsi::put_be16(&p[2], uint16_t(pattern.size()));
  p.insert(p.end(), pattern.begin(), pattern.end());
  return p;
}

TaskPtr run_overwrite(Lu& l, std::vector<uint8_t> list, uint8_t flags = 0) {
  const auto n = uint16_t(list.size());
  return l.run(sanitize(sa::kOverwrite, n, flags), std::move(list));
}

std::vector<uint8_t> tur() { return std::vector<uint8_t>(6, 0); }
std::vector<uint8_t> read10(uint32_t lba, uint16_t n) { return cdb10(scsi::op::kRead10, lba, n); }
std::vector<uint8_t> inquiry() { return {scsi::op::kInquiry, 0, 0, 0, 96, 0}; }

bool all_bytes(const std::vector<uint8_t>& v, uint8_t b) {
  return std::all_of(v.begin(), v.end(), [b](uint8_t x) { return x == b; });
}

}  // namespace

TEST_CASE("SANITIZE OVERWRITE writes the pattern over every block", "[sbd][sanitize]") {
  Lu l(4096);
  l.store->bytes().assign(l.store->bytes().size(), 0x11);
  // A 4-byte pattern repeats through each block.
  auto t = run_overwrite(l, overwrite_list({1, 2, 3, 4}));
  REQUIRE(good(t));
  const auto& b = l.store->bytes();
  for (size_t i = 0; i < b.size(); ++i) REQUIRE(b[i] == uint8_t(1 + i % 4));
  // A full-block pattern.
  std::vector<uint8_t> block(512);
  for (size_t i = 0; i < block.size(); ++i) block[i] = uint8_t(i * 7);
  REQUIRE(good(run_overwrite(l, overwrite_list(block))));
  for (size_t i = 0; i < b.size(); ++i) REQUIRE(b[i] == uint8_t((i % 512) * 7));
  // The medium reads back the pattern.
  auto r = l.run(read10(4095, 1));
  REQUIRE(good(r));
  CHECK(r->data_in == block);
}

TEST_CASE("SANITIZE OVERWRITE COUNT and INVERT: every pass writes, the last one the pattern", "[sbd][sanitize]") {
  Lu l(2048);  // 1 MiB: one chunk per pass
  const int before = l.store->writes;
  REQUIRE(good(run_overwrite(l, overwrite_list({0x5a}, 3, true))));
  CHECK(l.store->writes - before == 3);
  CHECK(all_bytes(l.store->bytes(), 0x5a));
  REQUIRE(good(run_overwrite(l, overwrite_list({0x0f}, 2, true))));
  CHECK(all_bytes(l.store->bytes(), 0x0f));
}

TEST_CASE("SANITIZE OVERWRITE parameter list errors", "[sbd][sanitize]") {
  Lu l;
  const auto list = overwrite_list(std::vector<uint8_t>(512, 0xaa));
  // PARAMETER LIST LENGTH below 5 or above block length + 4: INVALID FIELD IN CDB at byte 7.
  for (uint16_t n : {0, 1, 4, 517}) {
    auto d = list;
    d.resize(std::max<size_t>(d.size(), n));
    auto t = l.run(sanitize(sa::kOverwrite, n), d);
    CHECK_SENSE(t, 0x5, 0x24, 0x00);
    CHECK_FIELD(t, true, 7, -1);
  }
  auto bad = [&](std::vector<uint8_t> d, uint16_t byte, int bit) {
    auto t = l.run(sanitize(sa::kOverwrite, uint16_t(d.size())), d);
    CHECK_SENSE(t, 0x5, 0x26, 0x00);
    CHECK_FIELD(t, false, byte, bit);
  };
  auto d = list;
  d[0] = 0;  // OVERWRITE COUNT 0
  bad(d, 0, 4);
  d = list;
  d[0] = 0x21;  // TEST 01b
  bad(d, 0, 6);
  d = list;
  scsi::put_be16(&d[2], 0);  // no pattern
  bad(d, 2, -1);
  d = list;
  scsi::put_be16(&d[2], 513);  // longer than a block
  bad(d, 2, -1);
  d = overwrite_list({1, 2, 3, 4});
  scsi::put_be16(&d[2], 5);  // longer than the list holds
  bad(d, 2, -1);
  // Nothing was written by the refused commands.
  CHECK(l.store->writes == 0);
  // The reserved bit ZNR and reserved bytes 2..6: INVALID FIELD IN CDB.
  auto c = sanitize(sa::kOverwrite, uint16_t(list.size()), 0x40);
  auto t = l.run(c, list);
  CHECK_SENSE(t, 0x5, 0x24, 0x00);
  CHECK_FIELD(t, true, 1, 6);
  c = sanitize(sa::kOverwrite, uint16_t(list.size()));
  c[4] = 1;
  t = l.run(c, list);
  CHECK_SENSE(t, 0x5, 0x24, 0x00);
}

TEST_CASE("SANITIZE BLOCK ERASE deallocates every block of a thin LU", "[sbd][sanitize]") {
  Lu l(2048 * 80);  // 80 MiB: two erase chunks
  REQUIRE(good(l.run(cdb10(scsi::op::kWrite10, 0, 8), pattern(8 * 512, 0xaa))));
  REQUIRE(good(l.run(cdb10(scsi::op::kWrite10, 2048 * 80 - 8, 8), pattern(8 * 512, 0xaa))));
  auto t = l.run(sanitize(sa::kBlockErase, 0));
  REQUIRE(good(t));
  CHECK(l.store->unmaps == 2);
  CHECK(all_bytes(l.store->bytes(), 0));
  CHECK(!l.store->mapped_at(0));
  CHECK(!l.store->mapped_at(uint64_t(2048 * 80 - 1) * 512));
  // A parameter list is not allowed.
  t = l.run(sanitize(sa::kBlockErase, 8), std::vector<uint8_t>(8, 0));
  CHECK_SENSE(t, 0x5, 0x24, 0x00);
  CHECK_FIELD(t, true, 7, -1);
  // WABEREQ 01b: reads after a BLOCK ERASE succeed.
  auto d = l.run({scsi::op::kInquiry, 1, 0xb1, 0, 64, 0})->data_in;
  CHECK(d[7] == 0x40);
}

TEST_CASE("SANITIZE service actions a block LU does not support", "[sbd][sanitize]") {
  Lu thick(2048, 512, false);
  std::vector<uint8_t> c = sanitize(sa::kBlockErase, 0);
  // BLOCK ERASE needs a store that deallocates; CRYPTOGRAPHIC ERASE needs encryption.
  CHECK(thick.lu->command_info(c.data(), c.size()) == nullptr);
  c = sanitize(sa::kCryptographicErase, 0);
  CHECK(thick.lu->command_info(c.data(), c.size()) == nullptr);
  CHECK(thick.lu->has_service_actions(scsi::op::kSanitize));  // INVALID FIELD IN CDB, not an opcode error
  c = sanitize(sa::kOverwrite, 0);
  CHECK(thick.lu->command_info(c.data(), c.size()) != nullptr);
  auto d = thick.run({scsi::op::kInquiry, 1, 0xb1, 0, 64, 0})->data_in;
  CHECK(d[7] == 0);  // no BLOCK ERASE: WABEREQ 00b
  // An LU configured without SANITIZE: the opcode is not supported at all.
  Lu off(2048, 512, true, false, 0, false, false);
  for (uint8_t a : {sa::kOverwrite, sa::kBlockErase, sa::kExitFailureMode}) {
    c = sanitize(a, 0);
    CHECK(off.lu->command_info(c.data(), c.size()) == nullptr);
  }
  CHECK(!off.lu->has_service_actions(scsi::op::kSanitize));
  d = off.run({scsi::op::kInquiry, 1, 0xb1, 0, 64, 0})->data_in;
  CHECK(d[7] == 0);
}

TEST_CASE("SANITIZE on a write-protected LU: DATA PROTECT", "[sbd][sanitize]") {
  Lu l(2048, 512, true, true);
  auto t = run_overwrite(l, overwrite_list({1}));
  CHECK_SENSE(t, 0x7, 0x27, 0x00);
  t = l.run(sanitize(sa::kBlockErase, 0));
  CHECK_SENSE(t, 0x7, 0x27, 0x00);
}

TEST_CASE("SANITIZE IMMED: GOOD at once, NOT READY SANITIZE IN PROGRESS with progress until done", "[sbd][sanitize]") {
  Lu l(8192);  // 4 MiB: four 1 MiB chunks
  l.store->hold = true;
  bool done = false;
  auto list = overwrite_list({0x77});
  auto t = l.start(sanitize(sa::kOverwrite, uint16_t(list.size()), kImmed), list, &done);
  REQUIRE(done);
  REQUIRE(good(t));
  REQUIRE(l.store->pending() == 1);
  // TEST UNIT READY and medium commands: NOT READY, SANITIZE IN PROGRESS, progress 0.
  auto u = l.start(tur());
  CHECK_SENSE(u, 0x2, 0x04, 0x1b);
  auto s = sense_of(u);
  CHECK(s.has_field);  // SKSV: the progress indication
  CHECK(s.field_byte == 0);
  l.store->run_one();  // one chunk of four
  u = l.start(tur());
  s = sense_of(u);
  CHECK(s.field_byte == 0xffff / 4);
  CHECK_SENSE(l.start(read10(0, 1)), 0x2, 0x04, 0x1b);
  CHECK_SENSE(l.start(cdb10(scsi::op::kWrite10, 0, 1), pattern(512, 1)), 0x2, 0x04, 0x1b);
  // A second SANITIZE is refused the same way.
  CHECK_SENSE(l.start(sanitize(sa::kOverwrite, uint16_t(list.size())), list), 0x2, 0x04, 0x1b);
  // INQUIRY is processed; REQUEST SENSE (answered by the framework) reports the condition.
  CHECK(good(l.start(inquiry())));
  auto cond = l.lu->current_condition();
  REQUIRE(cond);
  CHECK(cond->asc == 0x04);
  CHECK(cond->ascq == 0x1b);
  CHECK(cond->progress == std::optional<uint16_t>(0xffff / 4));
  // A logical unit reset and the loss of the nexus do not stop it.
  l.lu->on_reset(ResetKind::logical_unit);
  l.lu->on_nexus_loss(l.nexus->key());
  CHECK_SENSE(l.start(tur()), 0x2, 0x04, 0x1b);
  l.store->run_all();
  CHECK(!l.lu->current_condition());
  CHECK(good(l.run(tur())));
  CHECK(all_bytes(l.store->bytes(), 0x77));
}

TEST_CASE("SANITIZE without IMMED completes when done, ABORT TASK completes it and the sanitize goes on",
          "[sbd][sanitize]") {
  Lu l(8192);
  l.store->hold = true;
  auto list = overwrite_list({0x42});
  bool done = false;
  auto t = l.start(sanitize(sa::kOverwrite, uint16_t(list.size())), list, &done);
  CHECK(!done);
  l.store->run_one();
  CHECK(!done);
  t->aborted.store(true);  // what ABORT TASK does to it
  l.store->run_one();      // the next chunk boundary
  CHECK(done);
  CHECK_SENSE(l.start(tur()), 0x2, 0x04, 0x1b);
  l.store->run_all();
  CHECK(good(l.run(tur())));
  CHECK(all_bytes(l.store->bytes(), 0x42));
  // Not aborted: GOOD when the last chunk and the flush are done.
  done = false;
  t = l.start(sanitize(sa::kBlockErase, 0), {}, &done);
  CHECK(!done);
  l.store->run_all();
  CHECK(done);
  CHECK(good(t));
}

TEST_CASE("A failed SANITIZE: MEDIUM ERROR, SANITIZE COMMAND FAILED until a good one or EXIT FAILURE MODE",
          "[sbd][sanitize]") {
  Lu l;
  auto list = overwrite_list({0x33});
  // EXIT FAILURE MODE outside the failed state: nothing to leave, GOOD; with a list: an error.
  CHECK(good(l.run(sanitize(sa::kExitFailureMode, 0))));
  auto t = l.run(sanitize(sa::kExitFailureMode, 8), std::vector<uint8_t>(8, 0));
  CHECK_SENSE(t, 0x5, 0x24, 0x00);
  CHECK_FIELD(t, true, 7, -1);

  SECTION("AUSE = 0: only a successful SANITIZE leaves the failed state") {
    l.store->write_error = std::make_error_code(std::errc::io_error);
    t = run_overwrite(l, list);
    CHECK_SENSE(t, 0x3, 0x31, 0x03);
    l.store->write_error = {};
    CHECK_SENSE(l.run(read10(0, 1)), 0x3, 0x31, 0x03);
    CHECK_SENSE(l.run(tur()), 0x3, 0x31, 0x03);
    CHECK(good(l.run(inquiry())));
    auto cond = l.lu->current_condition();
    REQUIRE(cond);
    CHECK(cond->asc == 0x31);
    t = l.run(sanitize(sa::kExitFailureMode, 0));
    CHECK_SENSE(t, 0x5, 0x24, 0x00);
    CHECK_SENSE(l.run(read10(0, 1)), 0x3, 0x31, 0x03);
    REQUIRE(good(run_overwrite(l, list)));
    CHECK(good(l.run(read10(0, 1))));
  }
  SECTION("AUSE = 1: EXIT FAILURE MODE leaves it") {
    l.store->write_error = std::make_error_code(std::errc::io_error);
    t = run_overwrite(l, list, kAuse);
    CHECK_SENSE(t, 0x3, 0x31, 0x03);
    l.store->write_error = {};
    CHECK_SENSE(l.run(read10(0, 1)), 0x3, 0x31, 0x03);
    CHECK(good(l.run(sanitize(sa::kExitFailureMode, 0))));
    CHECK(good(l.run(read10(0, 1))));
    CHECK(!l.lu->current_condition());
  }
  SECTION("IMMED: the failure shows in the state, not in the command's status") {
    l.store->write_error = std::make_error_code(std::errc::io_error);
    t = run_overwrite(l, list, kImmed);
    CHECK(good(t));
    CHECK_SENSE(l.run(read10(0, 1)), 0x3, 0x31, 0x03);
  }
}
