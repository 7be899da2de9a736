// SCSI commands through the framework's task pipeline (core/stmf.cpp: LUN map, unit
// attentions, opcode support, ALUA, reservations, REPORT LUNS, REQUEST SENSE) into a block
// LU (core/scsi/sbd_*.cpp) over a RAM store, from two I_T nexuses: the CDB parsers and the
// parameter-list parsers (MODE SELECT, PERSISTENT RESERVE OUT, UNMAP, WRITE SAME, COMPARE AND
// WRITE, ...) as an initiator drives them.
//
// Input: byte 0 configures the LU (bit 0: 4096-byte blocks, 1: write protected, 2: removable,
// 3: 8 logical blocks per physical block, 4: write cache off); then records, each
//   [flags] [cdb length] [cdb] [EDTL, 3 bytes] [data-out bytes, up to EDTL]
// flags: bit 0 nexus b (else a), bit 1 LUN 1 (not mapped), bits 2-3 the transport's
// direction (none, in, out, bidi). A write's Data-Out buffer is EDTL bytes (what the iSCSI
// layer collects), taken from the input and zero-filled when the input ends. EDTL is capped
// at 256 KiB to keep an input fast.
//
// Invariants: every command completes exactly once, synchronously (the RAM store completes
// inline); CHECK CONDITION carries sense data, GOOD carries none.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/scsi/sbd_lu.h"
#include "core/stmf.h"
#include "core/store/backing_store.h"

using namespace stmf;

namespace {

struct Port final : LocalPort {
  std::string name = "iqn.2026-11.org.example:t,t,0x0001", target = "iqn.2026-11.org.example:t";
  size_t completed = 0, aborted = 0;
  TaskPtr last;
  const std::string& port_name() const override { return name; }
  const std::string& target_name() const override { return target; }
  uint16_t rtpi() const override { return 1; }
  uint16_t tpg() const override { return 1; }
  void task_complete(TaskPtr t) override {
    ++completed;
    last = std::move(t);
  }
  void task_aborted(TaskPtr) override { ++aborted; }
};

constexpr uint32_t kMaxEdtl = 256 * 1024;

// STMF_FUZZ_TRACE=1: one line per command (opcode, status, sense key/ASC/ASCQ), for checking
// what a seed does: fuzz_scsi seed-file.
const bool kTrace = [] {
  const char* e = std::getenv("STMF_FUZZ_TRACE");
  return e && *e == '1';
}();

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t cfg = data[0];
  Stmf stmf;
  Port port;
  sbd::BlockLuConfig c;
  c.name = "fuzz";
  c.guid = {0x60, 0x01, 0x44, 0xf0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  c.block_size = (cfg & 1) ? 4096 : 512;
  c.write_protect = cfg & 2;
  c.removable = cfg & 4;
  c.physical_block_exponent = (cfg & 8) ? 3 : 0;
  c.write_cache = !(cfg & 16);
  c.serial = "FUZZ0001";
  LogicalUnitPtr lu = sbd::make_block_lu(c, store::make_ram_store(uint64_t(c.block_size) * 256));
  if (!lu) std::abort();
  stmf.add_lu(lu);
  stmf.add_port(port);
  auto views = std::make_shared<ViewTable>();
  views->entries.push_back({std::nullopt, std::nullopt, 0, lu});
  stmf.set_views(views);
  ItNexusPtr nexus[2] = {stmf.create_nexus(port, "iqn.2026-11.org.example:a", "000000000001"),
                         stmf.create_nexus(port, "iqn.2026-11.org.example:b", "000000000002")};

  size_t i = 1;
  uint32_t tag = 0;
  while (i + 2 <= size) {
    const uint8_t flags = data[i];
    const size_t cdb_len = std::min<size_t>(data[i + 1], 32);
    i += 2;
    if (i + cdb_len + 3 > size) break;
    auto t = std::make_shared<ScsiTask>();
    t->nexus = nexus[flags & 1];
    t->lun = (flags & 2) ? 1 : 0;
    t->tag = ++tag;
    std::copy(data + i, data + i + cdb_len, t->cdb.begin());
    t->cdb_length = uint8_t(cdb_len);
    i += cdb_len;
    t->expected_transfer_length = (uint32_t(data[i]) << 16 | uint32_t(data[i + 1]) << 8 | data[i + 2]) % (kMaxEdtl + 1);
    i += 3;
    t->direction = DataDirection((flags >> 2) & 3);
    if (t->direction == DataDirection::out || t->direction == DataDirection::bidi) {
      const size_t n = std::min<size_t>(t->expected_transfer_length, size - i);
      t->data_out.assign(data + i, data + i + n);
      t->data_out.resize(t->expected_transfer_length, 0);
      i += n;
    }
    const size_t before = port.completed + port.aborted;
    stmf.submit(t);
    if (port.completed + port.aborted != before + 1) std::abort();  // lost or completed twice
    if (kTrace) {
      const auto& sn = t->sense;
      std::fprintf(stderr, "op %02x lun %u nexus %c: status %02x sense %x/%02x/%02x data-in %zu\n", t->cdb[0],
                   unsigned(t->lun), (flags & 1) ? 'b' : 'a', unsigned(t->status), sn.size() > 13 ? sn[2] & 0xf : 0,
                   sn.size() > 13 ? sn[12] : 0, sn.size() > 13 ? sn[13] : 0, t->data_in.size());
    }
    if (port.completed && port.last == t) {
      if (t->status == scsi::Status::check_condition && t->sense.empty()) std::abort();
      if (t->status == scsi::Status::good && !t->sense.empty()) std::abort();
    }
  }
  for (auto& n : nexus) stmf.nexus_lost(n);
  stmf.remove_port(port);
  stmf.remove_lu(lu);
  return 0;
}
