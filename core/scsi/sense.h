// SCSI status codes and sense data (SPC-4 4.5). Errors inside the core are values of
// SenseCode; they become sense bytes in exactly one place: build_sense().
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

namespace stmf::scsi {

// SAM-5 status codes.
enum class Status : uint8_t {
  good = 0x00,
  check_condition = 0x02,
  condition_met = 0x04,
  busy = 0x08,
  reservation_conflict = 0x18,
  task_set_full = 0x28,
  aca_active = 0x30,
  task_aborted = 0x40,
};

// SPC-4 table 48 sense keys.
enum class SenseKey : uint8_t {
  no_sense = 0x0,
  recovered_error = 0x1,
  not_ready = 0x2,
  medium_error = 0x3,
  hardware_error = 0x4,
  illegal_request = 0x5,
  unit_attention = 0x6,
  data_protect = 0x7,
  blank_check = 0x8,
  copy_aborted = 0xa,
  aborted_command = 0xb,
  volume_overflow = 0xd,
  miscompare = 0xe,
};

// Sense-key specific "field pointer" (SPC-4 4.5.2.4.2): points at the offending byte
// (and optionally bit) of the CDB (c_d = true) or of the parameter list (c_d = false).
struct FieldPointer {
  bool c_d = true;
  uint16_t byte = 0;
  std::optional<uint8_t> bit;
  bool operator==(const FieldPointer&) const = default;
};

struct SenseCode {
  SenseKey key = SenseKey::no_sense;
  uint8_t asc = 0;
  uint8_t ascq = 0;
  std::optional<FieldPointer> field;   // sense-key specific (ILLEGAL REQUEST)
  std::optional<uint64_t> information; // INFORMATION field (e.g. miscompare offset)
  // Sense-key specific progress indication (SPC-4 4.5.2.4.4: NOT READY, e.g. a sanitize in
  // progress): the fraction done, in 65536ths. Exclusive with `field`.
  std::optional<uint16_t> progress;

  SenseCode with_field(bool c_d, uint16_t byte, std::optional<uint8_t> bit = {}) const {
    SenseCode s = *this;
    s.field = FieldPointer{c_d, byte, bit};
    return s;
  }
  SenseCode with_information(uint64_t info) const {
    SenseCode s = *this;
    s.information = info;
    return s;
  }
  SenseCode with_progress(uint16_t p) const {
    SenseCode s = *this;
    s.progress = p;
    return s;
  }
  bool operator==(const SenseCode&) const = default;
};

// Builds fixed-format (70h) or descriptor-format (72h) sense data (SPC-4 4.5.2/4.5.3).
std::vector<uint8_t> build_sense(const SenseCode& s, bool descriptor_format);

// The additional sense codes this target uses, by their SPC-4 names.
namespace sense {
inline constexpr SenseCode make(SenseKey k, uint8_t asc, uint8_t ascq) { return SenseCode{k, asc, ascq, {}, {}, {}}; }
// ILLEGAL REQUEST
inline const SenseCode operation_in_progress = make(SenseKey::illegal_request, 0x00, 0x16);
inline const SenseCode invalid_command_operation_code = make(SenseKey::illegal_request, 0x20, 0x00);
inline const SenseCode lba_out_of_range = make(SenseKey::illegal_request, 0x21, 0x00);
inline const SenseCode invalid_field_in_cdb = make(SenseKey::illegal_request, 0x24, 0x00);
inline const SenseCode logical_unit_not_supported = make(SenseKey::illegal_request, 0x25, 0x00);
inline const SenseCode invalid_field_in_parameter_list = make(SenseKey::illegal_request, 0x26, 0x00);
inline const SenseCode parameter_list_length_error = make(SenseKey::illegal_request, 0x1a, 0x00);
inline const SenseCode parameter_value_invalid = make(SenseKey::illegal_request, 0x26, 0x02);
inline const SenseCode too_many_target_descriptors = make(SenseKey::illegal_request, 0x26, 0x06);
inline const SenseCode unsupported_target_descriptor_type_code = make(SenseKey::illegal_request, 0x26, 0x07);
inline const SenseCode too_many_segment_descriptors = make(SenseKey::illegal_request, 0x26, 0x08);
inline const SenseCode unsupported_segment_descriptor_type_code = make(SenseKey::illegal_request, 0x26, 0x09);
inline const SenseCode saving_parameters_not_supported = make(SenseKey::illegal_request, 0x39, 0x00);
inline const SenseCode invalid_release_of_persistent_reservation = make(SenseKey::illegal_request, 0x26, 0x04);
inline const SenseCode insufficient_registration_resources = make(SenseKey::illegal_request, 0x55, 0x04);
inline const SenseCode medium_removal_prevented = make(SenseKey::illegal_request, 0x53, 0x02);
inline const SenseCode invalid_field_in_command_iu = make(SenseKey::illegal_request, 0x0e, 0x03);
inline const SenseCode overlapped_commands = make(SenseKey::aborted_command, 0x4e, 0x00);
inline const SenseCode aborted_insufficient_resources = make(SenseKey::aborted_command, 0x55, 0x03);
// UNIT ATTENTION
inline const SenseCode power_on_reset = make(SenseKey::unit_attention, 0x29, 0x00);
inline const SenseCode bus_device_reset = make(SenseKey::unit_attention, 0x29, 0x03);
inline const SenseCode i_t_nexus_loss = make(SenseKey::unit_attention, 0x29, 0x07);
inline const SenseCode mode_parameters_changed = make(SenseKey::unit_attention, 0x2a, 0x01);
inline const SenseCode reservations_preempted = make(SenseKey::unit_attention, 0x2a, 0x03);
inline const SenseCode reservations_released = make(SenseKey::unit_attention, 0x2a, 0x04);
inline const SenseCode registrations_preempted = make(SenseKey::unit_attention, 0x2a, 0x05);
inline const SenseCode asymmetric_access_state_changed = make(SenseKey::unit_attention, 0x2a, 0x06);
inline const SenseCode capacity_data_has_changed = make(SenseKey::unit_attention, 0x2a, 0x09);
inline const SenseCode commands_cleared_by_another_initiator = make(SenseKey::unit_attention, 0x2f, 0x00);
inline const SenseCode reported_luns_data_has_changed = make(SenseKey::unit_attention, 0x3f, 0x0e);
inline const SenseCode inquiry_data_has_changed = make(SenseKey::unit_attention, 0x3f, 0x03);
// NOT READY
inline const SenseCode not_ready_becoming_ready = make(SenseKey::not_ready, 0x04, 0x01);
inline const SenseCode not_ready_initializing_required = make(SenseKey::not_ready, 0x04, 0x02);
inline const SenseCode not_ready_manual_intervention = make(SenseKey::not_ready, 0x04, 0x03);
inline const SenseCode not_ready_asymmetric_transition = make(SenseKey::not_ready, 0x04, 0x0a);
inline const SenseCode not_ready_target_port_standby = make(SenseKey::not_ready, 0x04, 0x0b);
inline const SenseCode not_ready_target_port_unavailable = make(SenseKey::not_ready, 0x04, 0x0c);
inline const SenseCode medium_not_present = make(SenseKey::not_ready, 0x3a, 0x00);
inline const SenseCode not_ready_sanitize_in_progress = make(SenseKey::not_ready, 0x04, 0x1b);
// DATA PROTECT
inline const SenseCode write_protected = make(SenseKey::data_protect, 0x27, 0x00);
inline const SenseCode space_allocation_failed_write_protect = make(SenseKey::data_protect, 0x27, 0x07);
// MEDIUM / HARDWARE
inline const SenseCode unrecovered_read_error = make(SenseKey::medium_error, 0x11, 0x00);
inline const SenseCode write_error = make(SenseKey::medium_error, 0x0c, 0x00);
inline const SenseCode sanitize_command_failed = make(SenseKey::medium_error, 0x31, 0x03);
inline const SenseCode internal_target_failure = make(SenseKey::hardware_error, 0x44, 0x00);
inline const SenseCode set_target_port_groups_failed = make(SenseKey::hardware_error, 0x67, 0x0a);
// MISCOMPARE
inline const SenseCode miscompare_during_verify = make(SenseKey::miscompare, 0x1d, 0x00);
// COPY ABORTED (EXTENDED COPY, SPC-4 6.4.5): the sense-key specific bytes are a segment
// pointer (4.5.2.4.5), whose SD = 0 form has the layout of a field pointer with C/D = 0.
inline const SenseCode copy_aborted = make(SenseKey::copy_aborted, 0x00, 0x00);
inline const SenseCode copy_target_device_not_reachable = make(SenseKey::copy_aborted, 0x0d, 0x02);
// ABORTED COMMAND
inline const SenseCode command_phase_error = make(SenseKey::aborted_command, 0x4a, 0x00);
inline const SenseCode data_phase_error = make(SenseKey::aborted_command, 0x4b, 0x00);
inline const SenseCode initiator_response_timeout = make(SenseKey::aborted_command, 0x4b, 0x06);
inline const SenseCode protocol_service_crc_error = make(SenseKey::aborted_command, 0x47, 0x05);
}  // namespace sense

}  // namespace stmf::scsi
