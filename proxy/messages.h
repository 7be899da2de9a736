// Proxy channel messages (docs/proxy-protocol.md): the vocabulary two stmfd nodes of an ALUA
// pair exchange. It follows COMSTAR's pppt (types 0-14 keep pppt's numbers and meaning) and
// adds what pppt lacks: a handshake, data-out for writes, task management with a real
// response, LUN-map updates for proxied sessions, and a status reply that carries the real
// 32-bit code.
//
// Wire form of one frame (all integers big-endian):
//   u32 length        bytes that follow this field (header + body), at most kMaxFrame
//   u8  version       kProtocolVersion
//   u8  type          MsgType
//   u64 msg_id        sender's id; a reply (STATUS) names the msg_id it answers
//   body              per type, fields in the order declared below:
//                     u8/u16/u32/u64 as declared, bool as u8 (0/1), std::string and
//                     std::vector<uint8_t> as u32 length + bytes, Guid as 16 bytes,
//                     lists as u32 count + elements.
// The codec (proxy/codec.h) is pure: bytes in, Message out, or a decode error naming why.
//
// Ordering: one carrier is one ordered byte stream (TCP, or the door relay's stream), so every
// message about a task arrives in the order it was sent.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "core/guid.h"

namespace stmf::proxy {

constexpr uint8_t kProtocolVersion = 3;  // 2: SCSI_CMD, TASK_MGMT and LUN_ACTIVE carry the ownership epoch;
                                         // 3: SESSION_CREATE carries the array session handle
constexpr uint32_t kMaxFrame = 64u << 20;  // 64 MiB: the largest frame a decoder accepts
constexpr uint32_t kHeaderSize = 4 + 1 + 1 + 8;

using Guid = stmf::Guid;  // core/guid.h

enum class MsgType : uint8_t {
  register_proxy_port = 0,
  deregister_proxy_port = 1,
  register_lun = 2,
  deregister_lun = 3,
  scsi_cmd = 4,
  scsi_data = 5,
  scsi_data_xfer_done = 6,
  scsi_status = 7,
  // 8 = R2T in pppt: not used (each node's iSCSI layer runs its own R2T; data-out travels as
  // immediate data or SCSI_DATA).
  status = 9,
  session_create = 10,
  session_destroy = 11,
  echo_request = 12,
  echo_reply = 13,
  lun_active = 14,
  // --- beyond pppt ---
  hello = 32,         // first message on a new carrier, both directions
  task_mgmt = 33,     // task management on a proxied session; answered by STATUS
  session_luns = 34,  // the LUN map a proxied session sees changed
  pr_state = 35,      // an active LU's reservation state, mirrored to the standby node
  lu_list = 36,       // every LU active on the sender (after its REGISTER_LUNs)
};

// Result codes carried by STATUS (u32, never truncated).
enum class ProxyStatus : uint32_t {
  success = 0,
  failure = 1,         // generic failure (logged with the reason on the sender)
  not_supported = 2,   // unknown message type or feature
  already = 3,         // duplicate registration or task id
  invalid_arg = 4,     // a field is out of range
  not_found = 5,       // unknown session, LU or port
  not_ready = 6,       // ALUA disabled on the receiver
  stale = 7,           // the ownership epoch named is not the receiver's (docs/alua.md "Fencing")
  protocol_error = 8,  // the message breaks the protocol's rules (e.g. SCSI_DATA beyond its task's
                       // expected transfer length): the receiver ends the task it names
};

// A target port of the sender (pppt REGISTER_PROXY_PORT): the receiver learns the peer's
// ports for REPORT TARGET PORT GROUPS and for the nexuses of proxied sessions.
struct RegisterProxyPort {
  uint16_t rtpi = 0;
  uint16_t tpg = 0;
  std::string port_name;    // SCSI target port name, "iqn...,t,0x0001"
  std::string target_name;  // SCSI target (device) name, the IQN
};
struct DeregisterProxyPort {
  uint16_t rtpi = 0;
};

// An LU active on the sender: the receiver registers a standby LU with the same GUID.
// `properties` is the LU's configuration in the file vocabulary (docs/configuration.md,
// JSON text): name, backing, size, block_size, vendor, product, serial, ... The standby LU
// never opens the backing file.
struct RegisterLun {
  Guid guid{};
  std::string provider = "sbd";
  std::string properties;
};
struct DeregisterLun {
  Guid guid{};
};
// Planned switchover (docs/alua.md): from the owner "take this LU", from the standby node
// "hand it over to me". `epoch` is the LU's ownership epoch as the sender knows it (the
// owner's own; the standby node's copy of the owner's); a receiver that knows another epoch
// refuses (ProxyStatus::stale): one of the two views is out of date.
struct LunActive {
  Guid guid{};
  uint64_t epoch = 0;
};

// The whole reservation state of an LU active on the sender (persistent reservations and the
// SCSI-2 reservation), sent on every change before the command that made it completes, and
// for every LU when the link comes up. `seq` grows with every change of the LU's state (per
// sender incarnation): the receiver keeps the highest. `state` is JSON text
// (docs/proxy-protocol.md).
struct PrStateMsg {
  Guid guid{};
  uint64_t seq = 0;
  std::string state;
};
// The complete list of LUs active on the sender: the receiver drops the standby LUs it holds
// for the sender that are not listed (deleted while the link was down).
struct LuList {
  std::vector<Guid> guids;
};

// A session (I_T nexus) of the sender, through one of its registered ports. The receiver
// creates an I_T nexus for it on its proxy port with that rtpi; `luns` are the LUNs the
// session sees that the receiver may own (lun -> GUID).
struct LunEntry {
  uint64_t lun = 0;
  Guid guid{};
  bool operator==(const LunEntry&) const = default;
};
struct SessionCreate {
  uint64_t session_id = 0;  // unique per sender incarnation (the sender's nexus id)
  uint16_t rtpi = 0;        // the sender's port the session is on
  std::string initiator_name;
  std::string isid_hex;     // 12 lowercase hex digits
  std::vector<LunEntry> luns;
  int64_t ash = 0;          // the session's array session handle (docs/array-sessions.md)
};
struct SessionLuns {
  uint64_t session_id = 0;
  std::vector<LunEntry> luns;
};
// Logout or connection loss on the sender: nexus loss on the receiver.
struct SessionDestroy {
  uint64_t session_id = 0;
};

// A SCSI command from a standby path. msg_id of the frame is the task id (unique per sender
// incarnation). When data_complete is false, SCSI_DATA frames (direction out) follow with the
// rest of the Data-Out buffer and SCSI_DATA_XFER_DONE ends it.
//
// `epoch` is the LU's ownership epoch the standby node registered it with (docs/alua.md
// "Fencing"): the active node runs the command only when it is its own epoch, and answers
// NOT READY, ASYMMETRIC ACCESS STATE TRANSITION otherwise, so a command routed by a stale
// view of the ownership never reaches the medium.
struct ScsiCmd {
  uint64_t session_id = 0;
  Guid guid{};
  uint64_t epoch = 0;
  uint64_t lun = 0;
  uint32_t tag = 0;                // the initiator's task tag (iSCSI ITT), for ABORT TASK
  uint8_t attribute = 1;           // SAM task attribute (TaskAttribute)
  uint8_t direction = 0;           // DataDirection
  uint32_t expected_transfer_length = 0;
  std::vector<uint8_t> cdb;        // 6..32 bytes
  bool data_complete = true;
  std::vector<uint8_t> immediate_data;  // Data-Out bytes (all of them when data_complete)
};
// Data of a proxied task: Data-In from the active node, or more Data-Out from the standby
// node. `offset` is the buffer offset of the first byte.
struct ScsiData {
  uint64_t task_id = 0;
  uint64_t session_id = 0;
  uint32_t offset = 0;
  std::vector<uint8_t> data;
};
// Standby -> active: the Data-Out buffer of task_id is complete (status 0), or cannot be
// completed (non-zero: the task is aborted on the active node).
struct ScsiDataXferDone {
  uint64_t task_id = 0;
  uint64_t session_id = 0;
  uint32_t status = 0;
};
// Active -> standby: the task finished. Data-In (if any) was sent before as SCSI_DATA.
enum class TaskResponse : uint8_t {
  completed = 0,      // status/sense below are the SCSI status to send
  aborted = 1,        // aborted by task management or nexus loss: send nothing
  target_failure = 2, // could not run it (unknown session, LU not active here): the standby
                      // node answers with the ALUA NOT READY sense
};
struct ScsiStatus {
  uint64_t task_id = 0;
  uint64_t session_id = 0;
  uint8_t response = 0;        // TaskResponse
  uint8_t scsi_status = 0;     // SAM status byte
  int64_t transfer_length = -1;  // ScsiTask::transfer_length
  // The command's Data-In length (ScsiTask::data_in.size()); the SCSI_DATA frames before carry
  // min(data_in_length, expected_transfer_length) bytes of it: what lies beyond the EDTL never
  // reaches the initiator, it only counts for the overflow residual.
  uint32_t data_in_length = 0;
  std::vector<uint8_t> sense;
};

// Task management on a proxied session (ABORT TASK, ABORT TASK SET, CLEAR TASK SET,
// LOGICAL UNIT RESET, and target resets per LU). Answered by STATUS whose code is the
// TmfResponse.
struct TaskMgmt {
  uint64_t session_id = 0;
  uint8_t function = 0;     // TmfFunction
  uint64_t lun = 0;
  Guid guid{};
  uint64_t epoch = 0;       // the owner's ownership epoch, as in SCSI_CMD
  uint32_t referenced_tag = 0;
};

// The reply to a request: which message (type and id) it answers and the real result.
struct Status {
  uint8_t msg_type = 0;
  uint64_t msg_id = 0;
  uint32_t status = 0;  // ProxyStatus, or TmfResponse for TASK_MGMT
};

struct Echo {
  std::vector<uint8_t> data;
};
using EchoRequest = Echo;

// First frame on a carrier, both directions. A peer with the same node id, another
// protocol version, or ALUA disabled is refused (the link stays down, logged).
struct Hello {
  uint32_t node = 0;
  uint64_t incarnation = 0;  // random per daemon start and per ALUA (re-)initialization
  bool alua_enabled = true;
  std::string name;          // host name, for logs
};

struct EchoReply : Echo {};

using Body = std::variant<RegisterProxyPort, DeregisterProxyPort, RegisterLun, DeregisterLun, ScsiCmd, ScsiData,
                          ScsiDataXferDone, ScsiStatus, Status, SessionCreate, SessionDestroy, EchoRequest, EchoReply,
                          LunActive, Hello, TaskMgmt, SessionLuns, PrStateMsg, LuList>;

struct Message {
  uint64_t msg_id = 0;
  Body body;
  MsgType type() const;  // from the body's alternative
};

}  // namespace stmf::proxy
