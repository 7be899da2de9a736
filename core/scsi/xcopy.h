// Third-party copy (SPC-4 5.17, 6.4, 6.18, 7.8.17), the LID1 forms: the EXTENDED COPY parameter
// list parser, the limits it enforces, the RECEIVE COPY RESULTS and Third-party Copy VPD page
// data it reports, and the bounded table of copy results held for RECEIVE COPY RESULTS.
//
// Pure: no store, no LU, no task. The block LU (sbd_xcopy.cpp) resolves the CSCD descriptors
// to LUs and moves the data.
#pragma once
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/scsi/sense.h"

namespace stmf::sbd::xcopy {

// What the copy manager accepts, advertised in OPERATING PARAMETERS and the Third-party Copy
// VPD page and enforced by parse_lid1().
struct Limits {
  static constexpr uint16_t kMaxCscdDescriptors = 8;
  static constexpr uint16_t kMaxSegmentDescriptors = 64;
  // CSCD descriptors (32 bytes) and block-to-block segment descriptors (28 bytes) at their maxima.
  static constexpr uint32_t kMaxDescriptorListLength = kMaxCscdDescriptors * 32 + kMaxSegmentDescriptors * 28;
  // A block-to-block segment's NUMBER OF BLOCKS has 16 bits: at most 65535 blocks of 4096 bytes.
  static constexpr uint32_t kMaxSegmentBytes = 256u << 20;
  static constexpr uint32_t kMaxInlineData = 0;
  // Copies one LU runs at once (each holds one chunk buffer).
  static constexpr uint16_t kMaxConcurrentCopies = 16;
  // Data moves in chunks of this size (one buffer per copy): a copy costs time, not memory.
  static constexpr uint32_t kChunkBytes = 1u << 20;
  // Copy results held for RECEIVE COPY RESULTS: per I_T nexus, and I_T nexuses per LU.
  static constexpr size_t kHeldPerNexus = 16;
  static constexpr size_t kHeldNexuses = 1024;
};

// Descriptor type codes (SPC-4 table 118 and 124).
inline constexpr uint8_t kSegmentBlockToBlock = 0x02;
inline constexpr uint8_t kCscdIdentification = 0xe4;
inline constexpr size_t kHeaderBytes = 16;
inline constexpr size_t kCscdBytes = 32;
inline constexpr size_t kBlockToBlockBytes = 28;

// LIST ID USAGE (parameter list byte 1, bits 4..3).
enum class ListIdUsage : uint8_t { hold = 0, reserved = 1, discard = 2, none = 3 };

// An identification CSCD descriptor (E4h): names a logical unit by a designator of its Device
// Identification VPD page.
struct Cscd {
  uint16_t offset = 0;         // in the parameter list
  uint8_t code_set = 0;
  uint8_t association = 0;
  uint8_t designator_type = 0;
  std::vector<uint8_t> designator;
  uint32_t block_length = 0;   // DISK BLOCK LENGTH (0: not given)
};

// A block-to-block segment descriptor (02h).
struct Segment {
  uint16_t offset = 0;  // in the parameter list
  uint16_t source = 0, destination = 0;  // CSCD descriptor indexes
  bool dc = false;      // NUMBER OF BLOCKS counts destination blocks
  uint16_t blocks = 0;
  uint64_t source_lba = 0, destination_lba = 0;
};

struct ParameterList {
  uint8_t list_id = 0;
  ListIdUsage usage = ListIdUsage::hold;
  std::vector<Cscd> cscds;
  std::vector<Segment> segments;
};

// Field offsets inside the descriptors (segment pointers name them in COPY ABORTED sense).
inline constexpr uint16_t kSegSourceIndex = 4;
inline constexpr uint16_t kSegDestinationIndex = 6;
inline constexpr uint16_t kSegBlocks = 10;
inline constexpr uint16_t kSegSourceLba = 12;
inline constexpr uint16_t kSegDestinationLba = 20;
inline constexpr uint16_t kCscdBlockLength = 29;

// Parses and checks an EXTENDED COPY (LID1) parameter list of PARAMETER LIST LENGTH bytes
// (SPC-4 6.4.5 "errors detected before processing segment descriptors": ILLEGAL REQUEST with
// a field pointer into the list). Nothing is resolved to an LU here.
std::optional<scsi::SenseCode> parse_lid1(std::span<const uint8_t> p, ParameterList& out);

// COPY MANAGER STATUS of COPY STATUS (SPC-4 table 179).
enum class CopyState : uint8_t { in_progress = 0x00, good = 0x01, failed = 0x02 };

// One copy held for RECEIVE COPY RESULTS; the copy updates it as it goes.
struct CopyRecord {
  uint8_t list_id = 0;
  std::atomic<uint8_t> state{uint8_t(CopyState::in_progress)};
  std::atomic<uint16_t> segments{0};  // SEGMENTS PROCESSED
  std::atomic<uint64_t> bytes{0};     // bytes written to destinations
};

// COPY STATUS parameter data (SPC-4 6.18.3) for a record, and OPERATING PARAMETERS (6.18.4).
std::vector<uint8_t> copy_status_data(const CopyRecord& r);
std::vector<uint8_t> operating_parameters_data();
// Third-party Copy VPD page descriptors (SPC-4 7.8.17), after the 4-byte page header.
std::vector<uint8_t> third_party_copy_vpd_descriptors();

// Copy results per I_T nexus key: the copies that run (any LIST ID USAGE but 11b) and the
// completed ones whose usage was 00b, until RECEIVE COPY RESULTS reads them, the nexus ends, a
// reset, or eviction (oldest first: Limits::kHeldPerNexus per nexus, kHeldNexuses nexuses).
class CopyResults {
 public:
  // Registers a copy. nullptr: a copy with that list identifier runs for the nexus.
  std::shared_ptr<CopyRecord> begin(const std::string& nexus, uint8_t list_id);
  // The copy ended (its record's state is set): not held (usage 10b), it is forgotten.
  void end(const std::string& nexus, const std::shared_ptr<CopyRecord>& r, bool hold);
  // COPY STATUS: the record of the list identifier (a completed one is discarded once read).
  std::optional<std::vector<uint8_t>> take_status(const std::string& nexus, uint8_t list_id);
  void forget_nexus(const std::string& nexus);
  void forget_completed();  // resets
  size_t size() const;      // held records, every nexus (tests)

 private:
  struct Entry {
    std::shared_ptr<CopyRecord> record;
    bool running = true;
  };
  mutable std::mutex mu_;
  std::map<std::string, std::deque<Entry>> by_nexus_;
};

}  // namespace stmf::sbd::xcopy
