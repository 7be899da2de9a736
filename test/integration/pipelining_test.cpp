// Pipelined commands: a burst of PDUs sent at once, which the reader serves from the bytes
// already received (non-blocking reads, a yield every 64 reads) and answers in batched writes
// (transport/connection.cpp, read_fully). Every command gets exactly one answer, in full.
#include <catch2/catch.hpp>

#include <cstdint>
#include <map>
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

}  // namespace

TEST_CASE("a burst of pipelined writes and reads: one answer each, the data read back", "[integration][pipelining]") {
  constexpr uint32_t kCommands = 100;  // more than 64 reads in a row, within the command window
  Daemon d;
  RawInitiator r(d.port());
  REQUIRE(r.login(d.iqn(), {"ImmediateData=Yes"}) == 0);
  // The new nexus' first command answers the POWER ON unit attention.
  uint8_t tur[6] = {0};
  REQUIRE(r.send(r.scsi_command(tur, 6, 0, false, false, 0)));
  auto ua = r.recv();
  REQUIRE(ua);
  REQUIRE(ua->opcode() == kOpResponse);

  // kCommands WRITE(10)s of one block each with immediate data, in one send.
  std::vector<uint8_t> burst;
  std::map<uint32_t, uint32_t> block_of;  // ITT -> LBA
  for (uint32_t i = 0; i < kCommands; ++i) {
    const uint8_t cdb[10] = {0x2a, 0, 0, 0, 0, uint8_t(i), 0, 0, 1, 0};
    block_of[r.itt] = i;
    append_pdu(burst, r.scsi_command(cdb, sizeof cdb, kBlock, false, true, kBlock),
               std::vector<uint8_t>(kBlock, uint8_t(i + 1)));
  }
  REQUIRE(r.send_raw(burst.data(), burst.size()));
  std::map<uint32_t, int> answers;
  for (uint32_t n = 0; n < kCommands; ++n) {
    auto p = r.recv();
    REQUIRE(p);
    REQUIRE(p->opcode() == kOpResponse);
    CHECK(p->bhs[3] == kStatusGood);
    ++answers[p->field32(16)];
  }
  CHECK(answers.size() == kCommands);
  for (auto& [itt, count] : answers) {
    CHECK(block_of.count(itt) == 1);
    CHECK(count == 1);
  }

  // The same blocks read back by kCommands READ(10)s, in one send.
  burst.clear();
  block_of.clear();
  for (uint32_t i = 0; i < kCommands; ++i) {
    const uint8_t cdb[10] = {0x28, 0, 0, 0, 0, uint8_t(i), 0, 0, 1, 0};
    block_of[r.itt] = i;
    append_pdu(burst, r.scsi_command(cdb, sizeof cdb, kBlock, true, false, 0), {});
  }
  REQUIRE(r.send_raw(burst.data(), burst.size()));
  std::map<uint32_t, std::vector<uint8_t>> data;
  std::map<uint32_t, int> statuses;
  while (statuses.size() < kCommands) {
    auto p = r.recv();
    REQUIRE(p);
    const uint32_t itt = p->field32(16);
    REQUIRE(block_of.count(itt) == 1);
    if (p->opcode() == kOpDataIn) {
      data[itt].insert(data[itt].end(), p->data.begin(), p->data.end());
      if (!(p->bhs[1] & 0x01)) continue;  // no status in this Data-In (S bit clear)
    } else {
      REQUIRE(p->opcode() == kOpResponse);
    }
    CHECK(p->bhs[3] == kStatusGood);
    CHECK(++statuses[itt] == 1);
  }
  for (auto& [itt, lba] : block_of) CHECK(data[itt] == std::vector<uint8_t>(kBlock, uint8_t(lba + 1)));
}
