// Block logical unit provider ("sbd", SBC-3 / SPC-4 direct-access device).
//
// make_block_lu() builds an LU over a backing store. The LU parses CDBs itself, from one
// opcode-keyed command table that drives dispatch, the framework's checks (command_info())
// and REPORT SUPPORTED OPERATION CODES; the store only sees byte ranges.
//
// Ownership and threading: the LU owns its store. execute() may be called from any thread,
// concurrently; it completes every task exactly once through `done`, inline or from a store
// thread. The framework's done callback keeps the LU alive until the last completion.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/logical_unit.h"
#include "core/store/backing_store.h"

namespace stmf::sbd {

struct BlockLuConfig {
  std::string name;                 // for logs and management
  Guid guid{};   // NAA 6 IEEE Registered Extended identifier
  uint32_t block_size = 512;        // logical block length: 512 or 4096
  uint32_t physical_block_exponent = 0;  // logical blocks per physical block = 2^exp
  bool write_protect = false;       // every medium-modifying command -> DATA PROTECT
  bool write_cache = true;          // caching mode page WCE default (volatile cache)
  bool removable = false;           // removable medium (INQUIRY RMB = 1): START STOP UNIT LOEJ
                                    // ejects/loads; PREVENT ALLOW MEDIUM REMOVAL locks it
  std::string vendor = "STMF    ";  // T10 vendor identification (8 chars, space padded)
  std::string product = "COMSTAR         ";  // 16 chars
  std::string revision = "0001";    // 4 chars
  std::string serial;               // unit serial number (VPD 80h)
  // SANITIZE (docs/scsi.md "SANITIZE"): whether initiators may sanitize the LU (false: the
  // opcode is not supported), and the rate of its background work in bytes per second
  // (0 = as fast as the store goes).
  bool sanitize = true;
  uint64_t sanitize_rate = 0;
};

// Tunables reported in the Block Limits VPD page (B0h), in logical blocks.
struct BlockLimits {
  // MAXIMUM TRANSFER LENGTH: 32 MiB per command (65536 blocks of 512 bytes, 8192 of 4096).
  // This is also the memory bound of one command: READ sizes data_in and the port sizes
  // data_out to the transfer, so N outstanding commands can pin up to N * 32 MiB.
  static constexpr uint32_t kMaxTransferBytes = 32u << 20;
  static constexpr uint32_t kOptimalTransferBytes = 1u << 20;  // OPTIMAL TRANSFER LENGTH
  static constexpr uint8_t kMaxCompareAndWrite = 255;          // blocks (one-byte CDB field)
  static constexpr uint32_t kMaxUnmapLbaCount = 1u << 20;      // blocks, per UNMAP command
  static constexpr uint32_t kMaxUnmapDescriptors = 256;
  // WRITE SAME is written in 1 MiB chunks from one pattern buffer, so its length costs time,
  // not memory. Also bounds NUMBER OF LOGICAL BLOCKS = 0 (to the end of the medium).
  static constexpr uint32_t kMaxWriteSameBlocks = 1u << 22;
  // WRITE ATOMIC(16): up to MAXIMUM TRANSFER LENGTH, no atomic boundaries (MAXIMUM ATOMIC
  // BOUNDARY SIZE = 0). With more than one logical block per physical block, an atomic write
  // covers whole physical blocks: ATOMIC ALIGNMENT = ATOMIC TRANSFER LENGTH GRANULARITY =
  // logical blocks per physical block (else 0: no rule).
  static constexpr uint32_t kMaxAtomicTransferBytes = kMaxTransferBytes;
};

// Builds the LU. Returns nullptr when the configuration is unusable (block size not 512 or
// 4096, physical block exponent > 15, no store).
std::shared_ptr<LogicalUnit> make_block_lu(BlockLuConfig config, std::unique_ptr<store::BackingStore> store);

// Management-time changes of a block LU (modify-lu), safe while I/O runs. The caller raises
// CAPACITY DATA HAS CHANGED after a successful grow. On an LU of another kind: ENOTSUP/no-op.
std::error_code grow_block_lu(LogicalUnit& lu, uint64_t bytes);
void set_block_lu_write_protect(LogicalUnit& lu, bool on);
// The caching mode page's default and current WCE (COMSTAR wcd = !on).
void set_block_lu_write_cache(LogicalUnit& lu, bool on);
// The durability latch (docs/failover.md "A failed flush is remembered"): after a failed flush
// or FUA write, every later flush and FUA write of the LU fails with MEDIUM ERROR until it is
// cleared. The description of the failure that tripped it (nullopt: not tripped, or not a
// block LU), and clearing it (returns what was cleared; logged).
std::optional<std::string> block_lu_durability_fault(const LogicalUnit& lu);
std::optional<std::string> clear_block_lu_durability_fault(LogicalUnit& lu);

}  // namespace stmf::sbd
