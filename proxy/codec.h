// Proxy channel codec (wire form in proxy/messages.h, docs/proxy-protocol.md), I/O-free.
//
// encode() turns a Message into one whole frame, length prefix included; decode() turns one
// whole frame back into a Message or names why it cannot (errors are values). FrameReader
// (proxy/frame_reader.h) cuts an ordered byte stream (TCP, the door relay's stream) into whole frames.
//
// Decoding is strict so that every accepted frame re-encodes to the same bytes: the length
// prefix must match, bools are 0 or 1, a SCSI_CMD cdb is 1..32 bytes, nothing may follow the
// body. Every read is bounds-checked, and a declared byte length or list count is checked
// against the bytes that remain before anything is allocated, so a hostile peer can make the
// decoder allocate at most about as much as the frame it sent.
//
// encode() does not validate: a message whose frame would exceed kMaxFrame, or a cdb outside
// 1..32 bytes, is encoded as given and refused by the peer's decoder. Senders keep SCSI_DATA
// chunks well below kMaxFrame.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "proxy/frame_reader.h"
#include "proxy/messages.h"

namespace stmf::proxy {

// The pppt-style name of a message type, for logs: "SCSI_CMD", "REGISTER_LUN", "HELLO", ...
// ("UNKNOWN" for a value that is not a MsgType).
const char* to_string(MsgType t);

// Encodes `m` into two parts, moving its bulk field's buffer (SCSI_DATA data, SCSI_CMD
// immediate_data) into `bulk` uncopied; other messages go whole into `head`. `m` is left
// valid with that buffer empty.
Frame encode_parts(Message&& m);

// Where the bulk field's bytes of a frame start, from its first `avail` bytes (length prefix
// included): `offset` and `length` of those bytes when the frame is a SCSI_DATA or SCSI_CMD
// whose bulk field ends the frame as the length prefix says; `need` when more bytes are
// needed to tell (at most kBulkLocateMax); `none` otherwise (no bulk field, or a frame
// decode() will refuse: it is then read whole).
struct BulkAt {
  enum class Kind { none, need, at } kind = Kind::none;
  size_t offset = 0;
  size_t length = 0;
};
constexpr size_t kBulkLocateMax = kHeaderSize + 128;
BulkAt locate_bulk(const uint8_t* frame, size_t avail);

// Appends one whole frame (u32 length prefix, version, type, msg_id, body) to `out`.
void encode(const Message& m, std::vector<uint8_t>& out);
std::vector<uint8_t> encode(const Message& m);

enum class DecodeError {
  none,
  truncated,       // the frame ends inside a field, or a declared length/count exceeds the rest
  too_large,       // the length prefix exceeds kMaxFrame
  bad_version,     // version is not kProtocolVersion
  bad_type,        // type is not a MsgType this codec knows
  bad_field,       // a field value is out of range (bool not 0/1, cdb length not 1..32)
  trailing_bytes,  // bytes after the body, or after the frame the length prefix describes
};
const char* to_string(DecodeError e);

// Decodes exactly one whole frame of `len` bytes, its 4-byte length prefix included (the
// prefix must equal len - 4). On success `out` holds the message and `why` is untouched; on
// error `out` is untouched and `why` gets a one-line reason naming the field, e.g.
// "SCSI_CMD.cdb: length 40 exceeds 32".
DecodeError decode(const uint8_t* frame, size_t len, Message& out, std::string& why);
// The same for a frame in two parts (encode_parts(), or a carrier that read the bulk bytes
// into their own buffer): the bulk buffer becomes the message's bulk field uncopied. A frame
// whose bulk part is not exactly its bulk field's bytes is refused as decode() refuses it.
DecodeError decode(Frame&& frame, Message& out, std::string& why);

}  // namespace stmf::proxy
