// Pipelined commands: a burst of PDUs sent at once, which the reader serves from the bytes
// already received (non-blocking reads into a read-ahead, a yield every 64 reads) and answers
// in batched writes (transport/connection.cpp, read_fully). Every command gets exactly one
// answer, in full.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <thread>
#include <vector>

#include "test/integration/daemon.h"
#include "test/integration/raw_initiator.h"

using stmf::test::Daemon;
using stmf::test::RawInitiator;

namespace {

constexpr uint32_t kBlock = 512;
constexpr uint8_t kOpResponse = 0x21, kOpDataIn = 0x25;
constexpr uint8_t kStatusGood = 0x00;

// One PDU's bytes (no digests): the BHS with its data segment length, then the data.
void append_pdu(std::vector<uint8_t>& out, std::array<uint8_t, 48> bhs, const std::vector<uint8_t>& data) {
  bhs[5] = uint8_t(data.size() >> 16);
  bhs[6] = uint8_t(data.size() >> 8);
  bhs[7] = uint8_t(data.size());
  out.insert(out.end(), bhs.begin(), bhs.end());
  out.insert(out.end(), data.begin(), data.end());  // whole blocks: no padding
}

// Sends `bytes` in pieces of the given sizes (cycling), pausing between them so that the target
// reads each piece apart: PDU headers and data segments split at every kind of boundary.
bool send_in_pieces(RawInitiator& r, const std::vector<uint8_t>& bytes, const std::vector<size_t>& sizes) {
  size_t off = 0;
  for (size_t i = 0; off < bytes.size(); ++i) {
    const size_t n = std::min(sizes[i % sizes.size()], bytes.size() - off);
    if (!r.send_raw(bytes.data() + off, n)) return false;
    off += n;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// Logs in with immediate data; the new nexus' first command answers the POWER ON unit attention.
void login_past_power_on(RawInitiator& r, const Daemon& d) {
  REQUIRE(r.login(d.iqn(), {"ImmediateData=Yes"}) == 0);
  uint8_t tur[6] = {0};
  REQUIRE(r.send(r.scsi_command(tur, 6, 0, false, false, 0)));
  auto ua = r.recv();
  REQUIRE(ua);
  REQUIRE(ua->opcode() == kOpResponse);
}

// A burst of one-block commands on blocks first_lba.., and which block each ITT names.
struct Burst {
  std::vector<uint8_t> bytes;
  std::map<uint32_t, uint32_t> block_of;  // ITT -> index in the burst
};

// WRITE(10)s with immediate data: block first_lba + i filled with fill + i.
Burst write_burst(RawInitiator& r, uint32_t commands, uint8_t first_lba, uint8_t fill) {
  Burst b;
  for (uint32_t i = 0; i < commands; ++i) {
    const uint8_t cdb[10] = {0x2a, 0, 0, 0, 0, uint8_t(first_lba + i), 0, 0, 1, 0};
    b.block_of[r.itt] = i;
    append_pdu(b.bytes, r.scsi_command(cdb, sizeof cdb, kBlock, false, true, kBlock),
               std::vector<uint8_t>(kBlock, uint8_t(fill + i)));
  }
  return b;
}

// READ(10)s of blocks first_lba + i.
Burst read_burst(RawInitiator& r, uint32_t commands, uint8_t first_lba) {
  Burst b;
  for (uint32_t i = 0; i < commands; ++i) {
    const uint8_t cdb[10] = {0x28, 0, 0, 0, 0, uint8_t(first_lba + i), 0, 0, 1, 0};
    b.block_of[r.itt] = i;
    append_pdu(b.bytes, r.scsi_command(cdb, sizeof cdb, kBlock, true, false, 0), {});
  }
  return b;
}

// Every write of the burst answered GOOD, exactly once.
void expect_one_good_answer_each(RawInitiator& r, const Burst& b) {
  std::map<uint32_t, int> answers;
  for (size_t n = 0; n < b.block_of.size(); ++n) {
    auto p = r.recv();
    REQUIRE(p);
    REQUIRE(p->opcode() == kOpResponse);
    CHECK(p->bhs[3] == kStatusGood);
    ++answers[p->field32(16)];
  }
  CHECK(answers.size() == b.block_of.size());
  for (auto& [itt, count] : answers) {
    CHECK(b.block_of.count(itt) == 1);
    CHECK(count == 1);
  }
}

// Every read of the burst answered GOOD exactly once; its Data-In, in order (each Buffer
// Offset the bytes so far), by ITT.
std::map<uint32_t, std::vector<uint8_t>> read_answers(RawInitiator& r, const Burst& b) {
  std::map<uint32_t, std::vector<uint8_t>> data;
  std::map<uint32_t, int> statuses;
  while (statuses.size() < b.block_of.size()) {
    auto p = r.recv();
    REQUIRE(p);
    const uint32_t itt = p->field32(16);
    REQUIRE(b.block_of.count(itt) == 1);
    if (p->opcode() == kOpDataIn) {
      REQUIRE(p->field32(40) == data[itt].size());  // nothing skipped or repeated
      data[itt].insert(data[itt].end(), p->data.begin(), p->data.end());
      if (!(p->bhs[1] & 0x01)) continue;  // no status in this Data-In (S bit clear)
    } else {
      REQUIRE(p->opcode() == kOpResponse);
    }
    CHECK(p->bhs[3] == kStatusGood);
    CHECK(++statuses[itt] == 1);
  }
  return data;
}

// Every read of the burst answered GOOD exactly once, its block holding fill + its index.
void expect_blocks_read_back(RawInitiator& r, const Burst& b, uint8_t fill) {
  auto data = read_answers(r, b);
  for (auto& [itt, i] : b.block_of) CHECK(data[itt] == std::vector<uint8_t>(kBlock, uint8_t(fill + i)));
}

}  // namespace

TEST_CASE("a burst of pipelined writes and reads: one answer each, the data read back", "[integration][pipelining]") {
  constexpr uint32_t kCommands = 100;  // more than 64 reads in a row, within the command window
  Daemon d;
  RawInitiator r(d.port());
  login_past_power_on(r, d);
  // kCommands WRITE(10)s of one block each with immediate data, in one send.
  const Burst writes = write_burst(r, kCommands, 0, 1);
  REQUIRE(r.send_raw(writes.bytes.data(), writes.bytes.size()));
  expect_one_good_answer_each(r, writes);
  // The same blocks read back by kCommands READ(10)s, in one send.
  const Burst reads = read_burst(r, kCommands, 0);
  REQUIRE(r.send_raw(reads.bytes.data(), reads.bytes.size()));
  expect_blocks_read_back(r, reads, 1);
}

// The reader's read-ahead (transport/connection.cpp, read_fully): one read brings the PDU asked
// for and what follows it. Sent in pieces that cut headers, data segments and PDU boundaries
// anywhere (1 byte, a header less one, a header and one byte, more than the read-ahead), every
// command is still read whole and in order: one answer each, the blocks written and read back.
TEST_CASE("pipelined writes and reads sent in pieces cut anywhere: each PDU read whole, the data read back",
          "[integration][pipelining]") {
  constexpr uint32_t kCommands = 40;
  Daemon d;
  RawInitiator r(d.port());
  login_past_power_on(r, d);
  const Burst writes = write_burst(r, kCommands, 200, 0x80);
  REQUIRE(send_in_pieces(r, writes.bytes, {1, 47, 48, 49, 3, 511, 513, 4095, 1, 16385, 20000, 560, 7}));
  expect_one_good_answer_each(r, writes);
  const Burst reads = read_burst(r, kCommands, 200);
  REQUIRE(send_in_pieces(r, reads.bytes, {1, 49, 96, 7, 500}));
  expect_blocks_read_back(r, reads, 0x80);
}

// Large answers into a socket the initiator leaves unread for a while: the writer's first
// sendmsg of a batch (transport/connection.cpp write_next, send_now) takes only part of it and
// the rest follows through Asio when the socket has room again, from where the first stopped.
// Every Data-In arrives once, in order, with the LU's bytes (a pattern in which any lost,
// repeated or shifted byte shows).
TEST_CASE("large reads answered while the initiator does not read: every byte once and in order",
          "[integration][pipelining]") {
  // More than the two sockets' buffers hold (Linux lets a loopback connection buffer a few MiB).
  constexpr uint32_t kCommands = 64, kBlocks = 512;  // 64 READs of 256 KiB: 16 MiB of Data-In
  constexpr size_t kBytes = size_t(kCommands) * kBlocks * kBlock;
  auto pattern = [](size_t i) { return uint8_t((uint32_t(i) * 2654435761u) >> 24); };
  Daemon d;
  {
    std::vector<uint8_t> image(kBytes);
    for (size_t i = 0; i < kBytes; ++i) image[i] = pattern(i);
    std::fstream f(d.dir() + "/lu0.img", std::ios::in | std::ios::out | std::ios::binary);
    REQUIRE(f);
    f.write(reinterpret_cast<const char*>(image.data()), std::streamsize(image.size()));
    REQUIRE(f);
  }
  RawInitiator r(d.port());
  login_past_power_on(r, d);
  Burst reads;
  for (uint32_t i = 0; i < kCommands; ++i) {
    const uint32_t lba = i * kBlocks;
    const uint8_t cdb[10] = {0x28, 0, 0, 0, uint8_t(lba >> 8), uint8_t(lba), 0, uint8_t(kBlocks >> 8), uint8_t(kBlocks), 0};
    reads.block_of[r.itt] = i;
    append_pdu(reads.bytes, r.scsi_command(cdb, sizeof cdb, kBlocks * kBlock, true, false, 0), {});
  }
  REQUIRE(r.send_raw(reads.bytes.data(), reads.bytes.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the target fills the socket and waits
  auto data = read_answers(r, reads);
  for (auto& [itt, i] : reads.block_of) {
    const auto& got = data[itt];
    REQUIRE(got.size() == size_t(kBlocks) * kBlock);
    const size_t base = size_t(i) * kBlocks * kBlock;
    size_t bad = 0;
    for (size_t k = 0; k < got.size(); ++k) bad += got[k] != pattern(base + k);
    CHECK(bad == 0);
  }
}
