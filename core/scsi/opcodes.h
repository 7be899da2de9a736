// SCSI operation codes and service actions by their T10 names (SPC-4, SBC-3/4): the ones the
// target, the initiator library (mhd/) and the tests use. Header-only, std only, so any layer
// may include it. Opcodes are plain uint8_t constants (they compare with cdb[0] and key the
// command table); service actions live in one namespace per opcode that has them (CDB byte 1,
// bits 4..0: service_action()).
#pragma once
#include <cstdint>

namespace stmf::scsi {

namespace op {
inline constexpr uint8_t kTestUnitReady = 0x00;
inline constexpr uint8_t kRequestSense = 0x03;
inline constexpr uint8_t kRead6 = 0x08;
inline constexpr uint8_t kWrite6 = 0x0a;
inline constexpr uint8_t kInquiry = 0x12;
inline constexpr uint8_t kModeSelect6 = 0x15;
inline constexpr uint8_t kReserve6 = 0x16;
inline constexpr uint8_t kRelease6 = 0x17;
inline constexpr uint8_t kModeSense6 = 0x1a;
inline constexpr uint8_t kStartStopUnit = 0x1b;
inline constexpr uint8_t kPreventAllowMediumRemoval = 0x1e;
inline constexpr uint8_t kReadCapacity10 = 0x25;
inline constexpr uint8_t kRead10 = 0x28;
inline constexpr uint8_t kWrite10 = 0x2a;
inline constexpr uint8_t kWriteAndVerify10 = 0x2e;
inline constexpr uint8_t kVerify10 = 0x2f;
inline constexpr uint8_t kPreFetch10 = 0x34;
inline constexpr uint8_t kSynchronizeCache10 = 0x35;
inline constexpr uint8_t kReadDefectData10 = 0x37;
inline constexpr uint8_t kWriteBuffer = 0x3b;
inline constexpr uint8_t kReadBuffer = 0x3c;
inline constexpr uint8_t kWriteSame10 = 0x41;
inline constexpr uint8_t kUnmap = 0x42;
inline constexpr uint8_t kSanitize = 0x48;
inline constexpr uint8_t kModeSelect10 = 0x55;
inline constexpr uint8_t kReserve10 = 0x56;
inline constexpr uint8_t kRelease10 = 0x57;
inline constexpr uint8_t kModeSense10 = 0x5a;
inline constexpr uint8_t kPersistentReserveIn = 0x5e;
inline constexpr uint8_t kPersistentReserveOut = 0x5f;
inline constexpr uint8_t kExtendedCopy = 0x83;
inline constexpr uint8_t kReceiveCopyResults = 0x84;
inline constexpr uint8_t kRead16 = 0x88;
inline constexpr uint8_t kCompareAndWrite = 0x89;
inline constexpr uint8_t kWrite16 = 0x8a;
inline constexpr uint8_t kOrwrite16 = 0x8b;
inline constexpr uint8_t kWriteAndVerify16 = 0x8e;
inline constexpr uint8_t kVerify16 = 0x8f;
inline constexpr uint8_t kPreFetch16 = 0x90;
inline constexpr uint8_t kSynchronizeCache16 = 0x91;
inline constexpr uint8_t kWriteSame16 = 0x93;
inline constexpr uint8_t kWriteAtomic16 = 0x9c;
inline constexpr uint8_t kServiceActionIn16 = 0x9e;
inline constexpr uint8_t kReportLuns = 0xa0;
inline constexpr uint8_t kMaintenanceIn = 0xa3;
inline constexpr uint8_t kMaintenanceOut = 0xa4;
inline constexpr uint8_t kRead12 = 0xa8;
inline constexpr uint8_t kWrite12 = 0xaa;
inline constexpr uint8_t kWriteAndVerify12 = 0xae;
inline constexpr uint8_t kVerify12 = 0xaf;
inline constexpr uint8_t kReadDefectData12 = 0xb7;
}  // namespace op

// EXTENDED COPY (SPC-4 6.4): the LID1 form (one-byte list identifiers).
namespace extended_copy {
inline constexpr uint8_t kLid1 = 0x00;
}  // namespace extended_copy

// SANITIZE (SBC-4 5.30, table 84).
namespace sanitize {
inline constexpr uint8_t kOverwrite = 0x01;
inline constexpr uint8_t kBlockErase = 0x02;
inline constexpr uint8_t kCryptographicErase = 0x03;
inline constexpr uint8_t kExitFailureMode = 0x1f;
}  // namespace sanitize

// RECEIVE COPY RESULTS (SPC-4 6.18): the LID1 service actions.
namespace receive_copy_results {
inline constexpr uint8_t kCopyStatus = 0x00;
inline constexpr uint8_t kOperatingParameters = 0x03;
}  // namespace receive_copy_results

// SERVICE ACTION IN(16) (SBC-3 5.16, 5.8).
namespace service_action_in16 {
inline constexpr uint8_t kReadCapacity16 = 0x10;
inline constexpr uint8_t kGetLbaStatus = 0x12;
}  // namespace service_action_in16

// MAINTENANCE IN (SPC-4 6.27, 6.35, 6.36).
namespace maintenance_in {
inline constexpr uint8_t kReportTargetPortGroups = 0x0a;
inline constexpr uint8_t kReportSupportedOperationCodes = 0x0c;
inline constexpr uint8_t kReportSupportedTaskManagementFunctions = 0x0d;
}  // namespace maintenance_in

// MAINTENANCE OUT (SPC-4 6.40).
namespace maintenance_out {
inline constexpr uint8_t kSetTargetPortGroups = 0x0a;
}  // namespace maintenance_out

// PERSISTENT RESERVE IN (SPC-4 6.15, table 164).
namespace pr_in {
inline constexpr uint8_t kReadKeys = 0x00;
inline constexpr uint8_t kReadReservation = 0x01;
inline constexpr uint8_t kReportCapabilities = 0x02;
inline constexpr uint8_t kReadFullStatus = 0x03;
}  // namespace pr_in

// PERSISTENT RESERVE OUT (SPC-4 6.16, table 172).
namespace pr_out {
inline constexpr uint8_t kRegister = 0x00;
inline constexpr uint8_t kReserve = 0x01;
inline constexpr uint8_t kRelease = 0x02;
inline constexpr uint8_t kClear = 0x03;
inline constexpr uint8_t kPreempt = 0x04;
inline constexpr uint8_t kPreemptAndAbort = 0x05;
inline constexpr uint8_t kRegisterAndIgnoreExistingKey = 0x06;
inline constexpr uint8_t kRegisterAndMove = 0x07;
inline constexpr uint8_t kReplaceLostReservation = 0x08;
}  // namespace pr_out

// The SERVICE ACTION field of the opcodes above: CDB byte 1, bits 4..0.
inline constexpr uint8_t kServiceActionMask = 0x1f;
inline constexpr uint8_t service_action(const uint8_t* cdb) { return cdb[1] & kServiceActionMask; }

}  // namespace stmf::scsi
