// Block LU: the command table, dispatch and the factory.
#include "core/scsi/sbd_lu_impl.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

#include "core/it_nexus.h"
#include "core/log.h"
#include "core/scsi/cdb.h"
#include "core/scsi/opcodes.h"

namespace stmf::sbd {

namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = stmf::logger("sbd");
  return l;
}

using D = DataDirection;
using R = ReservationClass;

// One row of the table as written below: one labelled field each (C++20 designated
// initializers, in the spirit of LIO's target_opcode_descriptor). Fields with a default here
// may be left out; a row that leaves out another one draws -Wmissing-field-initializers.
struct RowSpec {
  uint8_t opcode;
  std::optional<uint8_t> service_action = std::nullopt;  // opcodes with service actions (CDB byte 1)
  const char* name;
  D direction;
  uint8_t cdb_length;
  std::array<uint8_t, 16> usage;  // CDB usage bitmap: usage[0] = opcode; the last byte is CONTROL
  R reservation;
  bool standby = false;  // allowed on a standby path (SPC-4 5.16.2.4.4)
  bool with_ua = false;  // does not report a pending unit attention
  Handler handler = nullptr;  // nullptr: answered by the framework
  uint8_t flags = 0;          // RowFlag
  struct {
    uint32_t nominal, recommended;  // seconds
  } timeouts;
};

CommandRow make_row(const RowSpec& s) {
  CommandRow r{};
  r.info.opcode = s.opcode;
  r.info.has_service_action = s.service_action.has_value();
  r.info.service_action = s.service_action.value_or(0);
  r.info.name = s.name;
  r.info.direction = s.direction;
  r.info.cdb_length = s.cdb_length;
  r.info.usage = s.usage;
  r.info.reservation = s.reservation;
  r.info.allowed_in_standby = s.standby;
  r.info.allowed_with_ua = s.with_ua;
  r.handler = s.handler;
  r.flags = s.flags;
  r.nominal_timeout = s.timeouts.nominal;
  r.recommended_timeout = s.timeouts.recommended;
  return r;
}

// Reservation classes follow SPC-4 table 65 (SPC commands) and SBC-3 table 13 (SBC
// commands); standby follows SPC-4 5.16.2.4.4; allowed_with_ua follows SAM-5 5.14 / SPC-4
// (INQUIRY, REPORT LUNS, REQUEST SENSE do not report a pending unit attention).
// Group number fields take 6 bits (SBC-4); the control byte's NACA bit is checked by the
// framework. Sorted by opcode, then service action.
const std::vector<CommandRow>& rows() {
  using B = BlockLu;
  using namespace scsi;
  constexpr uint8_t M = kMedium, W = kModifies | kMedium, T = kThinOnly, S = kSanitizeRow, A = kDuringSanitize;
  constexpr uint8_t kControl = 0x04;  // CONTROL byte usage: NACA only
  static const std::vector<CommandRow> t = [] {
    const RowSpec specs[] = {
        {.opcode = op::kTestUnitReady, .name = "TEST UNIT READY", .direction = D::none, .cdb_length = 6,
         .usage = {op::kTestUnitReady, 0, 0, 0, 0, kControl},
         .reservation = R::allowed, .handler = &B::h_test_unit_ready, .flags = M, .timeouts = {0, 5}},
        {.opcode = op::kRequestSense, .name = "REQUEST SENSE", .direction = D::in, .cdb_length = 6,
         .usage = {op::kRequestSense, 0x01, 0, 0, 0xff, kControl},
         .reservation = R::allowed, .standby = true, .with_ua = true, .flags = A, .timeouts = {0, 5}},
        {.opcode = op::kRead6, .name = "READ(6)", .direction = D::in, .cdb_length = 6,
         .usage = {op::kRead6, 0x1f, 0xff, 0xff, 0xff, kControl},
         .reservation = R::read, .handler = &B::h_read, .flags = M, .timeouts = {1, 30}},
        {.opcode = op::kWrite6, .name = "WRITE(6)", .direction = D::out, .cdb_length = 6,
         .usage = {op::kWrite6, 0x1f, 0xff, 0xff, 0xff, kControl},
         .reservation = R::write, .handler = &B::h_write, .flags = W, .timeouts = {1, 30}},
        {.opcode = op::kInquiry, .name = "INQUIRY", .direction = D::in, .cdb_length = 6,
         .usage = {op::kInquiry, 0x01, 0xff, 0xff, 0xff, kControl},
         .reservation = R::allowed, .standby = true, .with_ua = true, .handler = &B::h_inquiry, .flags = A, .timeouts = {0, 5}},
        {.opcode = op::kModeSelect6, .name = "MODE SELECT(6)", .direction = D::out, .cdb_length = 6,
         .usage = {op::kModeSelect6, 0x11, 0, 0, 0xff, kControl},
         .reservation = R::conflict, .standby = true, .handler = &B::h_mode_select, .timeouts = {0, 5}},
        // RESERVE/RELEASE and PERSISTENT RESERVE IN/OUT: answered by the framework
        // (core/reservations.cpp); the rows give their CDB layout and reservation class.
        {.opcode = op::kReserve6, .name = "RESERVE(6)", .direction = D::none, .cdb_length = 6,
         .usage = {op::kReserve6, 0, 0, 0, 0, kControl},
         .reservation = R::reserve, .timeouts = {0, 5}},
        {.opcode = op::kRelease6, .name = "RELEASE(6)", .direction = D::none, .cdb_length = 6,
         .usage = {op::kRelease6, 0, 0, 0, 0, kControl},
         .reservation = R::reserve, .timeouts = {0, 5}},
        {.opcode = op::kModeSense6, .name = "MODE SENSE(6)", .direction = D::in, .cdb_length = 6,
         .usage = {op::kModeSense6, 0x08, 0xff, 0xff, 0xff, kControl},
         .reservation = R::read, .standby = true, .handler = &B::h_mode_sense, .timeouts = {0, 5}},
        {.opcode = op::kStartStopUnit, .name = "START STOP UNIT", .direction = D::none, .cdb_length = 6,
         .usage = {op::kStartStopUnit, 0x01, 0, 0x0f, 0xf7, kControl},
         .reservation = R::conflict, .handler = &B::h_start_stop_unit, .timeouts = {0, 60}},
        {.opcode = op::kPreventAllowMediumRemoval,
         .name = "PREVENT ALLOW MEDIUM REMOVAL", .direction = D::none, .cdb_length = 6,
         .usage = {op::kPreventAllowMediumRemoval, 0, 0, 0, 0x03, kControl},
         .reservation = R::conflict, .handler = &B::h_prevent_allow, .timeouts = {0, 5}},
        {.opcode = op::kReadCapacity10, .name = "READ CAPACITY(10)", .direction = D::in, .cdb_length = 10,
         .usage = {op::kReadCapacity10, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x01, kControl},
         .reservation = R::allowed, .handler = &B::h_read_capacity10, .flags = M, .timeouts = {0, 5}},
        {.opcode = op::kRead10, .name = "READ(10)", .direction = D::in, .cdb_length = 10,
         .usage = {op::kRead10, 0xfe, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, kControl},
         .reservation = R::read, .handler = &B::h_read, .flags = M, .timeouts = {1, 30}},
        {.opcode = op::kWrite10, .name = "WRITE(10)", .direction = D::out, .cdb_length = 10,
         .usage = {op::kWrite10, 0xfa, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, kControl},
         .reservation = R::write, .handler = &B::h_write, .flags = W, .timeouts = {1, 30}},
        {.opcode = op::kWriteAndVerify10, .name = "WRITE AND VERIFY(10)", .direction = D::out, .cdb_length = 10,
         .usage = {op::kWriteAndVerify10, 0xf6, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, kControl},
         .reservation = R::write, .handler = &B::h_write_verify, .flags = W, .timeouts = {1, 30}},
        {.opcode = op::kVerify10, .name = "VERIFY(10)", .direction = D::out, .cdb_length = 10,
         .usage = {op::kVerify10, 0xf6, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, kControl},
         .reservation = R::read, .handler = &B::h_verify, .flags = M, .timeouts = {1, 30}},
        {.opcode = op::kPreFetch10, .name = "PRE-FETCH(10)", .direction = D::none, .cdb_length = 10,
         .usage = {op::kPreFetch10, 0x02, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, kControl},
         .reservation = R::read, .handler = &B::h_prefetch, .flags = M, .timeouts = {0, 30}},
        {.opcode = op::kSynchronizeCache10, .name = "SYNCHRONIZE CACHE(10)", .direction = D::none, .cdb_length = 10,
         .usage = {op::kSynchronizeCache10, 0x06, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, kControl},
         .reservation = R::write, .handler = &B::h_sync_cache, .flags = M, .timeouts = {1, 60}},
        {.opcode = op::kReadDefectData10, .name = "READ DEFECT DATA(10)", .direction = D::in, .cdb_length = 10,
         .usage = {op::kReadDefectData10, 0, 0x1f, 0, 0, 0, 0, 0xff, 0xff, kControl},
         .reservation = R::read, .handler = &B::h_read_defect_data, .flags = M, .timeouts = {0, 5}},
        {.opcode = op::kWriteSame10, .name = "WRITE SAME(10)", .direction = D::out, .cdb_length = 10,
         .usage = {op::kWriteSame10, 0xf8, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, kControl},
         .reservation = R::write, .handler = &B::h_write_same, .flags = W, .timeouts = {1, 60}},
        {.opcode = op::kUnmap, .name = "UNMAP", .direction = D::out, .cdb_length = 10,
         .usage = {op::kUnmap, 0x01, 0, 0, 0, 0, 0x3f, 0xff, 0xff, kControl},
         .reservation = R::write, .handler = &B::h_unmap, .flags = W | T, .timeouts = {1, 60}},
        // SANITIZE (sbd_sanitize.cpp). CRYPTOGRAPHIC ERASE has no row (no encryption:
        // INVALID FIELD IN CDB); BLOCK ERASE is listed only over a thin store (it deallocates).
        // Byte 1: IMMED, AUSE, SERVICE ACTION (ZNR is reserved: not a zoned device).
        {.opcode = op::kSanitize, .service_action = sanitize::kOverwrite,
         .name = "SANITIZE", .direction = D::out, .cdb_length = 10,
         .usage = {op::kSanitize, 0xa0 | sanitize::kOverwrite, 0, 0, 0, 0, 0, 0xff, 0xff, kControl},
         .reservation = R::write, .handler = &B::h_sanitize, .flags = W | S, .timeouts = {60, 36000}},
        {.opcode = op::kSanitize, .service_action = sanitize::kBlockErase,
         .name = "SANITIZE", .direction = D::out, .cdb_length = 10,
         .usage = {op::kSanitize, 0xa0 | sanitize::kBlockErase, 0, 0, 0, 0, 0, 0xff, 0xff, kControl},
         .reservation = R::write, .handler = &B::h_sanitize, .flags = W | T | S, .timeouts = {10, 3600}},
        {.opcode = op::kSanitize, .service_action = sanitize::kExitFailureMode,
         .name = "SANITIZE", .direction = D::out, .cdb_length = 10,
         .usage = {op::kSanitize, 0xa0 | sanitize::kExitFailureMode, 0, 0, 0, 0, 0, 0xff, 0xff, kControl},
         .reservation = R::write, .handler = &B::h_sanitize, .flags = W | S, .timeouts = {0, 5}},
        {.opcode = op::kModeSelect10, .name = "MODE SELECT(10)", .direction = D::out, .cdb_length = 10,
         .usage = {op::kModeSelect10, 0x11, 0, 0, 0, 0, 0, 0xff, 0xff, kControl},
         .reservation = R::conflict, .standby = true, .handler = &B::h_mode_select, .timeouts = {0, 5}},
        {.opcode = op::kReserve10, .name = "RESERVE(10)", .direction = D::none, .cdb_length = 10,
         .usage = {op::kReserve10, 0, 0, 0, 0, 0, 0, 0, 0, kControl},
         .reservation = R::reserve, .timeouts = {0, 5}},
        {.opcode = op::kRelease10, .name = "RELEASE(10)", .direction = D::none, .cdb_length = 10,
         .usage = {op::kRelease10, 0, 0, 0, 0, 0, 0, 0, 0, kControl},
         .reservation = R::reserve, .timeouts = {0, 5}},
        {.opcode = op::kModeSense10, .name = "MODE SENSE(10)", .direction = D::in, .cdb_length = 10,
         .usage = {op::kModeSense10, 0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, kControl},
         .reservation = R::read, .standby = true, .handler = &B::h_mode_sense, .timeouts = {0, 5}},
        {.opcode = op::kPersistentReserveIn, .service_action = pr_in::kReadKeys,
         .name = "PERSISTENT RESERVE IN", .direction = D::in, .cdb_length = 10,
         .usage = {op::kPersistentReserveIn, pr_in::kReadKeys, 0, 0, 0, 0, 0, 0xff, 0xff, kControl},
         .reservation = R::persistent, .timeouts = {0, 5}},
        {.opcode = op::kPersistentReserveIn, .service_action = pr_in::kReadReservation,
         .name = "PERSISTENT RESERVE IN", .direction = D::in, .cdb_length = 10,
         .usage = {op::kPersistentReserveIn, pr_in::kReadReservation, 0, 0, 0, 0, 0, 0xff, 0xff, kControl},
         .reservation = R::persistent, .timeouts = {0, 5}},
        {.opcode = op::kPersistentReserveIn, .service_action = pr_in::kReportCapabilities,
         .name = "PERSISTENT RESERVE IN", .direction = D::in, .cdb_length = 10,
         .usage = {op::kPersistentReserveIn, pr_in::kReportCapabilities, 0, 0, 0, 0, 0, 0xff, 0xff, kControl},
         .reservation = R::persistent, .timeouts = {0, 5}},
        {.opcode = op::kPersistentReserveIn, .service_action = pr_in::kReadFullStatus,
         .name = "PERSISTENT RESERVE IN", .direction = D::in, .cdb_length = 10,
         .usage = {op::kPersistentReserveIn, pr_in::kReadFullStatus, 0, 0, 0, 0, 0, 0xff, 0xff, kControl},
         .reservation = R::persistent, .timeouts = {0, 5}},
        {.opcode = op::kPersistentReserveOut, .service_action = pr_out::kRegister,
         .name = "PERSISTENT RESERVE OUT", .direction = D::out, .cdb_length = 10,
         .usage = {op::kPersistentReserveOut, pr_out::kRegister, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, kControl},
         .reservation = R::persistent, .timeouts = {0, 5}},
        {.opcode = op::kPersistentReserveOut, .service_action = pr_out::kReserve,
         .name = "PERSISTENT RESERVE OUT", .direction = D::out, .cdb_length = 10,
         .usage = {op::kPersistentReserveOut, pr_out::kReserve, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, kControl},
         .reservation = R::persistent, .timeouts = {0, 5}},
        {.opcode = op::kPersistentReserveOut, .service_action = pr_out::kRelease,
         .name = "PERSISTENT RESERVE OUT", .direction = D::out, .cdb_length = 10,
         .usage = {op::kPersistentReserveOut, pr_out::kRelease, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, kControl},
         .reservation = R::persistent, .timeouts = {0, 5}},
        {.opcode = op::kPersistentReserveOut, .service_action = pr_out::kClear,
         .name = "PERSISTENT RESERVE OUT", .direction = D::out, .cdb_length = 10,
         .usage = {op::kPersistentReserveOut, pr_out::kClear, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, kControl},
         .reservation = R::persistent, .timeouts = {0, 5}},
        {.opcode = op::kPersistentReserveOut, .service_action = pr_out::kPreempt,
         .name = "PERSISTENT RESERVE OUT", .direction = D::out, .cdb_length = 10,
         .usage = {op::kPersistentReserveOut, pr_out::kPreempt, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, kControl},
         .reservation = R::persistent, .timeouts = {0, 5}},
        {.opcode = op::kPersistentReserveOut, .service_action = pr_out::kPreemptAndAbort,
         .name = "PERSISTENT RESERVE OUT", .direction = D::out, .cdb_length = 10,
         .usage = {op::kPersistentReserveOut, pr_out::kPreemptAndAbort, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, kControl},
         .reservation = R::persistent, .timeouts = {0, 5}},
        {.opcode = op::kPersistentReserveOut, .service_action = pr_out::kRegisterAndIgnoreExistingKey,
         .name = "PERSISTENT RESERVE OUT", .direction = D::out, .cdb_length = 10,
         .usage = {op::kPersistentReserveOut, pr_out::kRegisterAndIgnoreExistingKey, 0xff, 0, 0, 0xff, 0xff, 0xff,
                   0xff, kControl},
         .reservation = R::persistent, .timeouts = {0, 5}},
        {.opcode = op::kPersistentReserveOut, .service_action = pr_out::kRegisterAndMove,
         .name = "PERSISTENT RESERVE OUT", .direction = D::out, .cdb_length = 10,
         .usage = {op::kPersistentReserveOut, pr_out::kRegisterAndMove, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, kControl},
         .reservation = R::persistent, .timeouts = {0, 5}},
        // EXTENDED COPY (LID1) and RECEIVE COPY RESULTS: the copy manager (sbd_xcopy.cpp). The
        // medium checks apply to every source and destination LU, not to the one addressed.
        {.opcode = op::kExtendedCopy, .service_action = extended_copy::kLid1,
         .name = "EXTENDED COPY", .direction = D::out, .cdb_length = 16,
         .usage = {op::kExtendedCopy, extended_copy::kLid1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0,
                   kControl},
         .reservation = R::write, .handler = &B::h_extended_copy, .timeouts = {10, 600}},
        {.opcode = op::kReceiveCopyResults, .service_action = receive_copy_results::kCopyStatus,
         .name = "RECEIVE COPY RESULTS", .direction = D::in, .cdb_length = 16,
         .usage = {op::kReceiveCopyResults, receive_copy_results::kCopyStatus, 0xff, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
                   0xff, 0xff, 0, kControl},
         .reservation = R::read, .handler = &B::h_receive_copy_results, .timeouts = {0, 5}},
        {.opcode = op::kReceiveCopyResults, .service_action = receive_copy_results::kOperatingParameters,
         .name = "RECEIVE COPY RESULTS", .direction = D::in, .cdb_length = 16,
         .usage = {op::kReceiveCopyResults, receive_copy_results::kOperatingParameters, 0, 0, 0, 0, 0, 0, 0, 0, 0xff,
                   0xff, 0xff, 0xff, 0, kControl},
         .reservation = R::read, .handler = &B::h_receive_copy_results, .timeouts = {0, 5}},
        {.opcode = op::kRead16, .name = "READ(16)", .direction = D::in, .cdb_length = 16,
         .usage = {op::kRead16, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, kControl},
         .reservation = R::read, .handler = &B::h_read, .flags = M, .timeouts = {1, 30}},
        {.opcode = op::kCompareAndWrite, .name = "COMPARE AND WRITE", .direction = D::out, .cdb_length = 16,
         .usage = {op::kCompareAndWrite, 0xfa, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                   0xff, 0xff, 0, 0, 0, 0xff, 0x3f, kControl},
         .reservation = R::write, .handler = &B::h_compare_and_write, .flags = W, .timeouts = {1, 30}},
        {.opcode = op::kWrite16, .name = "WRITE(16)", .direction = D::out, .cdb_length = 16,
         .usage = {op::kWrite16, 0xfa, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, kControl},
         .reservation = R::write, .handler = &B::h_write, .flags = W, .timeouts = {1, 30}},
        {.opcode = op::kOrwrite16, .name = "ORWRITE(16)", .direction = D::out, .cdb_length = 16,
         .usage = {op::kOrwrite16, 0xfa, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, kControl},
         .reservation = R::write, .handler = &B::h_orwrite, .flags = W, .timeouts = {1, 30}},
        {.opcode = op::kWriteAndVerify16, .name = "WRITE AND VERIFY(16)", .direction = D::out, .cdb_length = 16,
         .usage = {op::kWriteAndVerify16, 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, kControl},
         .reservation = R::write, .handler = &B::h_write_verify, .flags = W, .timeouts = {1, 30}},
        {.opcode = op::kVerify16, .name = "VERIFY(16)", .direction = D::out, .cdb_length = 16,
         .usage = {op::kVerify16, 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, kControl},
         .reservation = R::read, .handler = &B::h_verify, .flags = M, .timeouts = {1, 30}},
        {.opcode = op::kPreFetch16, .name = "PRE-FETCH(16)", .direction = D::none, .cdb_length = 16,
         .usage = {op::kPreFetch16, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, kControl},
         .reservation = R::read, .handler = &B::h_prefetch, .flags = M, .timeouts = {0, 30}},
        {.opcode = op::kSynchronizeCache16, .name = "SYNCHRONIZE CACHE(16)", .direction = D::none, .cdb_length = 16,
         .usage = {op::kSynchronizeCache16, 0x06, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, kControl},
         .reservation = R::write, .handler = &B::h_sync_cache, .flags = M, .timeouts = {1, 60}},
        {.opcode = op::kWriteSame16, .name = "WRITE SAME(16)", .direction = D::out, .cdb_length = 16,
         .usage = {op::kWriteSame16, 0xf9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, kControl},
         .reservation = R::write, .handler = &B::h_write_same, .flags = W, .timeouts = {1, 60}},
        {.opcode = op::kWriteAtomic16, .name = "WRITE ATOMIC(16)", .direction = D::out, .cdb_length = 16,
         .usage = {op::kWriteAtomic16, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, kControl},
         .reservation = R::write, .handler = &B::h_write_atomic, .flags = W, .timeouts = {1, 30}},
        {.opcode = op::kServiceActionIn16, .service_action = service_action_in16::kReadCapacity16,
         .name = "READ CAPACITY(16)", .direction = D::in, .cdb_length = 16,
         .usage = {op::kServiceActionIn16, service_action_in16::kReadCapacity16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, kControl},
         .reservation = R::allowed, .handler = &B::h_read_capacity16, .flags = M, .timeouts = {0, 5}},
        {.opcode = op::kServiceActionIn16, .service_action = service_action_in16::kGetLbaStatus,
         .name = "GET LBA STATUS", .direction = D::in, .cdb_length = 16,
         .usage = {op::kServiceActionIn16, service_action_in16::kGetLbaStatus, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, kControl},
         .reservation = R::read, .handler = &B::h_get_lba_status, .flags = M, .timeouts = {0, 5}},
        {.opcode = op::kReportLuns, .name = "REPORT LUNS", .direction = D::in, .cdb_length = 12,
         .usage = {op::kReportLuns, 0, 0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, kControl},
         .reservation = R::allowed, .standby = true, .with_ua = true, .timeouts = {0, 5}},
        // REPORT TARGET PORT GROUPS: answered by the framework (core/alua.h); CDB byte 1 also
        // carries PARAMETER DATA FORMAT (bits 7..5).
        {.opcode = op::kMaintenanceIn, .service_action = maintenance_in::kReportTargetPortGroups,
         .name = "REPORT TARGET PORT GROUPS", .direction = D::in, .cdb_length = 12,
         .usage = {op::kMaintenanceIn, 0xe0 | maintenance_in::kReportTargetPortGroups, 0, 0, 0, 0, 0xff, 0xff,
                   0xff, 0xff, 0, kControl},
         .reservation = R::allowed, .standby = true, .timeouts = {0, 5}},
        {.opcode = op::kMaintenanceIn, .service_action = maintenance_in::kReportSupportedOperationCodes,
         .name = "REPORT SUPPORTED OPERATION CODES", .direction = D::in, .cdb_length = 12,
         .usage = {op::kMaintenanceIn, maintenance_in::kReportSupportedOperationCodes, 0x87, 0xff, 0xff, 0xff, 0xff, 0xff,
                   0xff, 0xff, 0, kControl},
         .reservation = R::read, .standby = true, .handler = &B::h_report_opcodes, .flags = A, .timeouts = {0, 5}},
        {.opcode = op::kMaintenanceIn, .service_action = maintenance_in::kReportSupportedTaskManagementFunctions,
         .name = "REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS", .direction = D::in, .cdb_length = 12,
         .usage = {op::kMaintenanceIn, maintenance_in::kReportSupportedTaskManagementFunctions, 0x80, 0, 0, 0, 0xff, 0xff,
                   0xff, 0xff, 0, kControl},
         .reservation = R::read, .standby = true, .handler = &B::h_report_tmfs, .flags = A, .timeouts = {0, 5}},
        // SET TARGET PORT GROUPS: answered by the framework (explicit ALUA, core/alua.h).
        {.opcode = op::kMaintenanceOut, .service_action = maintenance_out::kSetTargetPortGroups,
         .name = "SET TARGET PORT GROUPS", .direction = D::out, .cdb_length = 12,
         .usage = {op::kMaintenanceOut, maintenance_out::kSetTargetPortGroups, 0, 0, 0, 0, 0xff, 0xff,
                   0xff, 0xff, 0, kControl},
         .reservation = R::conflict, .timeouts = {0, 30}},
        {.opcode = op::kRead12, .name = "READ(12)", .direction = D::in, .cdb_length = 12,
         .usage = {op::kRead12, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, kControl},
         .reservation = R::read, .handler = &B::h_read, .flags = M, .timeouts = {1, 30}},
        {.opcode = op::kWrite12, .name = "WRITE(12)", .direction = D::out, .cdb_length = 12,
         .usage = {op::kWrite12, 0xfa, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, kControl},
         .reservation = R::write, .handler = &B::h_write, .flags = W, .timeouts = {1, 30}},
        {.opcode = op::kWriteAndVerify12, .name = "WRITE AND VERIFY(12)", .direction = D::out, .cdb_length = 12,
         .usage = {op::kWriteAndVerify12, 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, kControl},
         .reservation = R::write, .handler = &B::h_write_verify, .flags = W, .timeouts = {1, 30}},
        {.opcode = op::kVerify12, .name = "VERIFY(12)", .direction = D::out, .cdb_length = 12,
         .usage = {op::kVerify12, 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, kControl},
         .reservation = R::read, .handler = &B::h_verify, .flags = M, .timeouts = {1, 30}},
        {.opcode = op::kReadDefectData12, .name = "READ DEFECT DATA(12)", .direction = D::in, .cdb_length = 12,
         .usage = {op::kReadDefectData12, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, kControl},
         .reservation = R::read, .handler = &B::h_read_defect_data, .flags = M, .timeouts = {0, 5}},
        // First row index per opcode (-1: unsupported); rows of one opcode are adjacent.
        // the WRITE ATOMIC(16) TRANSFER LENGTH field has 16 bits; a multiple of the granularity
        // Refused before reaching the medium: nothing that was written is in doubt.
        // Not executed: the store was out of reach or out of queue slots (the initiator retries).
        // Reserved bits and fields: everything the usage bitmap does not allow (SPC-4 4.3.5.1).
        // Ejected (removable LU): MEDIUM NOT PRESENT; stopped: INITIALIZING COMMAND REQUIRED.
        // SAM-5 hard reset / logical unit reset: mode parameters back to defaults, medium
        // removal prevention ends (SBC-3 5.13).
        // SBC-3 4.5: the LBA must exist even when no block is transferred.
        // A store out of reach (ENOTCONN) or out of queue slots (EBUSY) did not execute the command:
        // retryable answers, not medium errors.
    };
    std::vector<CommandRow> v;
    for (const auto& s : specs) v.push_back(make_row(s));
    return v;
  }();
  return t;
}

// First row index per opcode (-1: unsupported); rows of one opcode are adjacent.
const std::array<int16_t, 256>& row_index() {
  static const std::array<int16_t, 256> idx = [] {
    std::array<int16_t, 256> a;
    a.fill(-1);
    const auto& r = rows();
    for (size_t i = r.size(); i-- > 0;) a[r[i].info.opcode] = int16_t(i);
    return a;
  }();
  return idx;
}

}  // namespace

std::span<const CommandRow> BlockLu::table() { return rows(); }

LbaRange decode_lba_range(const uint8_t* cdb) {
  using namespace scsi;
  LbaRange r;
  switch (cdb[0] >> 5) {
    case 0:  // 6-byte: 21-bit LBA; READ(6)/WRITE(6) length 0 means 256 blocks
      r.lba = uint64_t(cdb[1] & 0x1f) << 16 | get_be16(&cdb[2]);
      r.blocks = cdb[4] ? cdb[4] : 256;
      r.length_byte = 4;
      break;
    case 1:
    case 2:  // 10-byte
      r.lba = get_be32(&cdb[2]);
      r.blocks = get_be16(&cdb[7]);
      r.length_byte = 7;
      break;
    case 5:  // 12-byte
      r.lba = get_be32(&cdb[2]);
      r.blocks = get_be32(&cdb[6]);
      r.length_byte = 6;
      break;
    case 4:  // 16-byte
      r.lba = get_be64(&cdb[2]);
      r.blocks = get_be32(&cdb[10]);
      r.length_byte = 10;
      break;
    default:
      break;
  }
  return r;
}

BlockLu::BlockLu(BlockLuConfig cfg, std::unique_ptr<store::BackingStore> store)
    : cfg_(std::move(cfg)),
      store_(std::move(store)),
      bs_(cfg_.block_size),
      bs_shift_(bs_ == 4096 ? 12 : 9),
      blocks_(store_->size() >> bs_shift_),
      thin_(store_->thin()),
      max_transfer_blocks_(BlockLimits::kMaxTransferBytes >> bs_shift_),
      // the WRITE ATOMIC(16) TRANSFER LENGTH field has 16 bits; a multiple of the granularity
      max_atomic_blocks_(std::min<uint32_t>(BlockLimits::kMaxAtomicTransferBytes >> bs_shift_, 0xffff) &
                         ~((1u << cfg_.physical_block_exponent) - 1)),
      modes_(cfg_.write_cache),
      write_protect_(cfg_.write_protect) {}

std::error_code BlockLu::grow(uint64_t bytes) {
  if (bytes % bs_) return std::make_error_code(std::errc::invalid_argument);
  if (auto ec = store_->grow(bytes)) return ec;
  blocks_ = store_->size() >> bs_shift_;
  return {};
}

std::error_code grow_block_lu(LogicalUnit& lu, uint64_t bytes) {
  auto* b = dynamic_cast<BlockLu*>(&lu);
  return b ? b->grow(bytes) : std::make_error_code(std::errc::operation_not_supported);
}

void set_block_lu_write_protect(LogicalUnit& lu, bool on) {
  if (auto* b = dynamic_cast<BlockLu*>(&lu)) b->set_write_protect(on);
}

void set_block_lu_write_cache(LogicalUnit& lu, bool on) {
  if (auto* b = dynamic_cast<BlockLu*>(&lu)) b->set_write_cache(on);
}

std::optional<std::string> block_lu_durability_fault(const LogicalUnit& lu) {
  auto* b = dynamic_cast<const BlockLu*>(&lu);
  return b ? b->durability_fault() : std::nullopt;
}

std::optional<std::string> clear_block_lu_durability_fault(LogicalUnit& lu) {
  auto* b = dynamic_cast<BlockLu*>(&lu);
  return b ? b->clear_durability_fault() : std::nullopt;
}

std::optional<std::string> BlockLu::clear_durability_fault() {
  auto was = latch_.clear();
  if (was) log()->warn("LU {}: durability latch cleared by the administrator (it was: {})", cfg_.name, *was);
  return was;
}

void BlockLu::store_write(uint64_t offset, std::span<const uint8_t> buf, bool fua, store::Completion done) {
  if (!fua) return store_->write(offset, buf, false, std::move(done));
  if (latch_.tripped()) return done(std::make_error_code(std::errc::io_error));
  store_->write(offset, buf, true, [this, done = std::move(done)](std::error_code ec) {
    if (ec) note_durability_failure("FUA write", ec);
    done(ec);
  });
}

void BlockLu::store_flush(const char* what, store::Completion done) {
  if (latch_.tripped()) return done(std::make_error_code(std::errc::io_error));
  store_->flush([this, what, done = std::move(done)](std::error_code ec) {
    if (ec) note_durability_failure(what, ec);
    done(ec);
  });
}

void BlockLu::note_durability_failure(const char* what, std::error_code ec) {
  // Refused before reaching the medium: nothing that was written is in doubt.
  if (ec == std::errc::invalid_argument || ec == std::errc::read_only_file_system) return;
  // Not executed: the store was out of reach or out of queue slots (the initiator retries).
  if (transient_error(ec)) return;
  const std::string reason = std::string(what) + " failed: " + ec.message();
  if (latch_.trip(reason))
    log()->error("LU {} ({}): {}: writes acknowledged before it may be lost; every later flush and FUA write "
                 "fails with MEDIUM ERROR until an administrator takes the LU offline and online again",
                 cfg_.name, store_->describe(), reason);
}

const CommandRow* BlockLu::find_row(const uint8_t* cdb) const {
  const int16_t i = row_index()[cdb[0]];
  if (i < 0) return nullptr;
  const auto& r = rows();
  if (!r[size_t(i)].info.has_service_action) return listed(r[size_t(i)]) ? &r[size_t(i)] : nullptr;
  const uint8_t sa = scsi::service_action(cdb);
  for (size_t k = size_t(i); k < r.size() && r[k].info.opcode == cdb[0]; ++k)
    if (r[k].info.service_action == sa) return listed(r[k]) ? &r[k] : nullptr;
  return nullptr;
}

bool BlockLu::has_service_actions(uint8_t opcode) const {
  if (opcode == scsi::op::kSanitize && !cfg_.sanitize) return false;  // not supported at all
  const int16_t i = row_index()[opcode];
  return i >= 0 && rows()[size_t(i)].info.has_service_action;
}

const CommandInfo* BlockLu::command_info(const uint8_t* cdb, size_t len) const {
  if (len == 0) return nullptr;
  const CommandRow* r = find_row(cdb);
  return r ? &r->info : nullptr;
}

void BlockLu::execute(const TaskPtr& task, TaskDone done) {
  const uint8_t* cdb = task->cdb.data();
  const CommandRow* row = find_row(cdb);
  if (!row || !row->handler) {
    fail(task, done, scsi::sense::invalid_command_operation_code.with_field(true, 0));
    return;
  }
  // Reserved bits and fields: everything the usage bitmap does not allow (SPC-4 4.3.5.1).
  if (auto bad = check_cdb_usage(row->info, cdb)) {
    fail(task, done, *bad);
    return;
  }
  // SBC-4 4.11.2: while a sanitize runs only the commands marked kDuringSanitize are
  // processed; after a failed one, medium commands other than SANITIZE are refused.
  if (sanitize_state_.load(std::memory_order_relaxed) != SanitizeState::idle) {
    const auto state = sanitize_state_.load();
    if ((state == SanitizeState::running && !(row->flags & kDuringSanitize)) ||
        (state == SanitizeState::failed && (row->flags & kMedium) && row->info.opcode != scsi::op::kSanitize))
      if (auto s = sanitize_condition()) return fail(task, done, *s);
  }
  if ((row->flags & kMedium) && !started_.load(std::memory_order_relaxed)) {
    // Ejected (removable LU): MEDIUM NOT PRESENT; stopped: INITIALIZING COMMAND REQUIRED.
    fail(task, done, loaded_.load(std::memory_order_relaxed) ? scsi::sense::not_ready_initializing_required
                                                               : scsi::sense::medium_not_present);
    return;
  }
  if ((row->flags & kModifies) && write_protected()) {
    fail(task, done, scsi::sense::write_protected);
    return;
  }
  (this->*row->handler)(task, done);
}

void BlockLu::on_reset(ResetKind kind) {
  // SAM-5 hard reset / logical unit reset: mode parameters back to defaults, medium
  // removal prevention ends (SBC-3 5.13).
  modes_.reset();
  copy_results_.forget_completed();
  std::lock_guard lk(prevent_mu_);
  prevent_.clear();
}

void BlockLu::on_nexus_loss(const std::string& nexus_key) {
  copy_results_.forget_nexus(nexus_key);
  std::lock_guard lk(prevent_mu_);
  prevent_.erase(nexus_key);
}

std::optional<scsi::SenseCode> BlockLu::check_range(const LbaRange& r, uint32_t max_blocks) const {
  if (max_blocks && r.blocks > max_blocks)
    return scsi::sense::invalid_field_in_cdb.with_field(true, r.length_byte);
  // SBC-3 4.5: the LBA must exist even when no block is transferred.
  if (r.lba >= blocks_ || r.blocks > blocks_ - r.lba) return scsi::sense::lba_out_of_range;
  return std::nullopt;
}

// A store out of reach (ENOTCONN), out of queue slots (EBUSY) or fenced (fenced_error: the
// other node serves the LU now) did not execute the command: retryable answers, not medium errors.
std::optional<scsi::SenseCode> BlockLu::transient_error(std::error_code ec) {
  if (ec == std::errc::not_connected) return scsi::sense::not_ready_becoming_ready;
  if (ec == std::errc::device_or_resource_busy) return scsi::sense::aborted_insufficient_resources;
  if (ec == store::fenced_error()) return scsi::sense::not_ready_asymmetric_transition;
  return std::nullopt;
}

scsi::SenseCode BlockLu::read_error(std::error_code ec) {
  if (auto t = transient_error(ec)) return *t;
  return scsi::sense::unrecovered_read_error;
}

scsi::SenseCode BlockLu::write_error(std::error_code ec) {
  if (auto t = transient_error(ec)) return *t;
  if (ec == std::errc::no_space_on_device) return scsi::sense::space_allocation_failed_write_protect;
  return scsi::sense::write_error;
}

std::shared_ptr<LogicalUnit> make_block_lu(BlockLuConfig config, std::unique_ptr<store::BackingStore> store) {
  if (!store || (config.block_size != 512 && config.block_size != 4096) || config.physical_block_exponent > 15)
    return nullptr;
  auto pad = [](std::string& s, size_t n) {
    s.resize(n, ' ');
  };
  pad(config.vendor, 8);
  pad(config.product, 16);
  pad(config.revision, 4);
  return std::make_shared<BlockLu>(std::move(config), std::move(store));
}

}  // namespace stmf::sbd
