#include "proxy/codec.h"

#include "common/byte_order.h"

#include <concepts>
#include <cstring>
#include <type_traits>
#include <utility>

namespace stmf::proxy {

namespace {

// ------------------------------------------------------------------ field lists
//
// One list per message, in declaration order; encode and decode both walk it, so the two
// cannot disagree. `M` is the message type, const when encoding. A byte field with bounds
// passes them as two extra arguments (only the decoder checks them).

template <class M, class T>
concept Is = std::same_as<std::remove_const_t<M>, T>;

template <Is<RegisterProxyPort> M, class F>
void fields(M& m, F& f) {
  f("rtpi", m.rtpi);
  f("tpg", m.tpg);
  f("port_name", m.port_name);
  f("target_name", m.target_name);
}
template <Is<DeregisterProxyPort> M, class F>
void fields(M& m, F& f) { f("rtpi", m.rtpi); }
template <Is<RegisterLun> M, class F>
void fields(M& m, F& f) {
  f("guid", m.guid);
  f("provider", m.provider);
  f("properties", m.properties);
}
template <Is<DeregisterLun> M, class F>
void fields(M& m, F& f) { f("guid", m.guid); }
template <Is<LunActive> M, class F>
void fields(M& m, F& f) {
  f("guid", m.guid);
  f("epoch", m.epoch);
}
template <Is<SessionCreate> M, class F>
void fields(M& m, F& f) {
  f("session_id", m.session_id);
  f("rtpi", m.rtpi);
  f("initiator_name", m.initiator_name);
  f("isid_hex", m.isid_hex);
  f("luns", m.luns);
  f("ash", m.ash);
}
template <Is<SessionLuns> M, class F>
void fields(M& m, F& f) {
  f("session_id", m.session_id);
  f("luns", m.luns);
}
template <Is<PrStateMsg> M, class F>
void fields(M& m, F& f) {
  f("guid", m.guid);
  f("seq", m.seq);
  f("state", m.state);
}
template <Is<LuList> M, class F>
void fields(M& m, F& f) { f("guids", m.guids); }
template <Is<SessionDestroy> M, class F>
void fields(M& m, F& f) { f("session_id", m.session_id); }
template <Is<ScsiCmd> M, class F>
void fields(M& m, F& f) {
  f("session_id", m.session_id);
  f("guid", m.guid);
  f("epoch", m.epoch);
  f("lun", m.lun);
  f("tag", m.tag);
  f("attribute", m.attribute);
  f("direction", m.direction);
  f("expected_transfer_length", m.expected_transfer_length);
  f("cdb", m.cdb, 1u, 32u);
  f("data_complete", m.data_complete);
  f("immediate_data", m.immediate_data);
}
template <Is<ScsiData> M, class F>
void fields(M& m, F& f) {
  f("task_id", m.task_id);
  f("session_id", m.session_id);
  f("offset", m.offset);
  f("data", m.data);
}
template <Is<ScsiDataXferDone> M, class F>
void fields(M& m, F& f) {
  f("task_id", m.task_id);
  f("session_id", m.session_id);
  f("status", m.status);
}
template <Is<ScsiStatus> M, class F>
void fields(M& m, F& f) {
  f("task_id", m.task_id);
  f("session_id", m.session_id);
  f("response", m.response);
  f("scsi_status", m.scsi_status);
  f("transfer_length", m.transfer_length);
  f("data_in_length", m.data_in_length);
  f("sense", m.sense);
}
template <Is<TaskMgmt> M, class F>
void fields(M& m, F& f) {
  f("session_id", m.session_id);
  f("function", m.function);
  f("lun", m.lun);
  f("guid", m.guid);
  f("epoch", m.epoch);
  f("referenced_tag", m.referenced_tag);
}
template <Is<Status> M, class F>
void fields(M& m, F& f) {
  f("msg_type", m.msg_type);
  f("msg_id", m.msg_id);
  f("status", m.status);
}
template <Is<Echo> M, class F>
void fields(M& m, F& f) { f("data", m.data); }
template <Is<EchoReply> M, class F>
void fields(M& m, F& f) { f("data", m.data); }
template <Is<Hello> M, class F>
void fields(M& m, F& f) {
  f("node", m.node);
  f("incarnation", m.incarnation);
  f("alua_enabled", m.alua_enabled);
  f("name", m.name);
}

constexpr size_t kLunEntrySize = 8 + 16;  // u64 lun + guid

// The bulk field of a message (proxy/codec.h Frame): the last field, a buffer's payload.
template <class T>
std::vector<uint8_t>* bulk_field(T&) { return nullptr; }
std::vector<uint8_t>* bulk_field(ScsiData& d) { return &d.data; }
std::vector<uint8_t>* bulk_field(ScsiCmd& c) { return &c.immediate_data; }

// ------------------------------------------------------------------ body type <-> MsgType

template <class T>
constexpr MsgType type_of();
template <> constexpr MsgType type_of<RegisterProxyPort>() { return MsgType::register_proxy_port; }
template <> constexpr MsgType type_of<DeregisterProxyPort>() { return MsgType::deregister_proxy_port; }
template <> constexpr MsgType type_of<RegisterLun>() { return MsgType::register_lun; }
template <> constexpr MsgType type_of<DeregisterLun>() { return MsgType::deregister_lun; }
template <> constexpr MsgType type_of<ScsiCmd>() { return MsgType::scsi_cmd; }
template <> constexpr MsgType type_of<ScsiData>() { return MsgType::scsi_data; }
template <> constexpr MsgType type_of<ScsiDataXferDone>() { return MsgType::scsi_data_xfer_done; }
template <> constexpr MsgType type_of<ScsiStatus>() { return MsgType::scsi_status; }
template <> constexpr MsgType type_of<Status>() { return MsgType::status; }
template <> constexpr MsgType type_of<SessionCreate>() { return MsgType::session_create; }
template <> constexpr MsgType type_of<SessionDestroy>() { return MsgType::session_destroy; }
template <> constexpr MsgType type_of<Echo>() { return MsgType::echo_request; }
template <> constexpr MsgType type_of<EchoReply>() { return MsgType::echo_reply; }
template <> constexpr MsgType type_of<LunActive>() { return MsgType::lun_active; }
template <> constexpr MsgType type_of<Hello>() { return MsgType::hello; }
template <> constexpr MsgType type_of<TaskMgmt>() { return MsgType::task_mgmt; }
template <> constexpr MsgType type_of<SessionLuns>() { return MsgType::session_luns; }
template <> constexpr MsgType type_of<PrStateMsg>() { return MsgType::pr_state; }
template <> constexpr MsgType type_of<LuList>() { return MsgType::lu_list; }

// Every alternative of Body has a type, and no two share one.
template <size_t... I>
constexpr bool types_distinct(std::index_sequence<I...>) {
  constexpr MsgType t[] = {type_of<std::variant_alternative_t<I, Body>>()...};
  for (size_t a = 0; a < sizeof...(I); ++a)
    for (size_t b = a + 1; b < sizeof...(I); ++b)
      if (t[a] == t[b]) return false;
  return true;
}
static_assert(types_distinct(std::make_index_sequence<std::variant_size_v<Body>>{}));

// ------------------------------------------------------------------ writer

class Writer {
 public:
  explicit Writer(std::vector<uint8_t>& out) : out_(out) {}

  void u8(uint8_t v) { out_.push_back(v); }
  void u16(uint16_t v) {
    const uint8_t b[2] = {uint8_t(v >> 8), uint8_t(v)};
    out_.insert(out_.end(), b, b + 2);
  }
  void u32(uint32_t v) {
    const uint8_t b[4] = {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
    out_.insert(out_.end(), b, b + 4);
  }
  void u64(uint64_t v) {
    u32(uint32_t(v >> 32));
    u32(uint32_t(v));
  }
  void raw(const uint8_t* p, size_t n) { out_.insert(out_.end(), p, p + n); }

  void operator()(const char*, uint8_t v) { u8(v); }
  void operator()(const char*, uint16_t v) { u16(v); }
  void operator()(const char*, uint32_t v) { u32(v); }
  void operator()(const char*, uint64_t v) { u64(v); }
  void operator()(const char*, int64_t v) { u64(uint64_t(v)); }  // two's complement
  void operator()(const char*, bool v) { u8(v ? 1 : 0); }
  void operator()(const char*, const Guid& g) { raw(g.data(), g.size()); }
  void operator()(const char*, const std::string& s) {
    u32(uint32_t(s.size()));
    raw(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  void operator()(const char*, const std::vector<uint8_t>& v) {
    u32(uint32_t(v.size()));
    if (&v == defer_) {  // the bulk field: its bytes go in their own buffer (encode_parts)
      deferred_ = v.size();
      deferred_at_ = out_.size();
      return;
    }
    raw(v.data(), v.size());
  }
  // Leaves the bytes of `v` (a field of the message being encoded) out of the output.
  void defer(const std::vector<uint8_t>* v) { defer_ = v; }
  size_t deferred() const { return deferred_; }
  size_t deferred_at() const { return deferred_at_; }
  void operator()(const char* name, const std::vector<uint8_t>& v, uint32_t, uint32_t) { (*this)(name, v); }
  void operator()(const char*, const std::vector<Guid>& l) {
    u32(uint32_t(l.size()));
    for (const auto& g : l) raw(g.data(), g.size());
  }
  void operator()(const char*, const std::vector<LunEntry>& l) {
    u32(uint32_t(l.size()));
    for (const auto& e : l) {
      u64(e.lun);
      raw(e.guid.data(), e.guid.size());
    }
  }

 private:
  std::vector<uint8_t>& out_;
  const std::vector<uint8_t>* defer_ = nullptr;
  size_t deferred_ = 0;
  size_t deferred_at_ = 0;
};

// ------------------------------------------------------------------ reader

// Reads fields from [p, end). The first failure sticks: later reads do nothing, so a field
// list can be walked to its end without checking after every field.
class Reader {
 public:
  Reader(const uint8_t* p, const uint8_t* end, const char* msg) : p_(p), end_(end), msg_(msg) {}

  DecodeError error() const { return err_; }
  const std::string& why() const { return why_; }
  size_t remaining() const { return size_t(end_ - p_); }

  void operator()(const char* name, uint8_t& v) {
    if (need(name, 1)) v = *p_++;
  }
  void operator()(const char* name, uint16_t& v) {
    if (need(name, 2)) {
      v = uint16_t(uint16_t(p_[0]) << 8 | p_[1]);
      p_ += 2;
    }
  }
  void operator()(const char* name, uint32_t& v) {
    if (need(name, 4)) {
      v = load32(p_);
      p_ += 4;
    }
  }
  void operator()(const char* name, uint64_t& v) {
    if (need(name, 8)) {
      v = load64(p_);
      p_ += 8;
    }
  }
  void operator()(const char* name, int64_t& v) {
    uint64_t u = 0;
    (*this)(name, u);
    if (ok()) v = int64_t(u);  // two's complement (well-defined since C++20)
  }
  void operator()(const char* name, bool& v) {
    if (!need(name, 1)) return;
    const uint8_t b = *p_++;
    if (b > 1) return fail(DecodeError::bad_field, name, "bool value " + std::to_string(b) + " (must be 0 or 1)");
    v = b == 1;
  }
  void operator()(const char* name, Guid& g) {
    if (!need(name, g.size())) return;
    std::memcpy(g.data(), p_, g.size());
    p_ += g.size();
  }
  void operator()(const char* name, std::string& s) {
    uint32_t n = 0;
    if (!length(name, n, 1)) return;
    s.assign(reinterpret_cast<const char*>(p_), n);
    p_ += n;
  }
  void operator()(const char* name, std::vector<uint8_t>& v) {
    if (&v == bulk_target_ && bulk_src_) return adopt(name, v);
    uint32_t n = 0;
    if (!length(name, n, 1)) return;
    v.assign(p_, p_ + n);
    p_ += n;
  }
  void operator()(const char* name, std::vector<uint8_t>& v, uint32_t min, uint32_t max) {
    if (!ok()) return;
    if (remaining() >= 4) {
      // Range first: a too-long cdb is a bad field even when the frame is also short.
      const uint32_t n = load32(p_);
      if (n > max)
        return fail(DecodeError::bad_field, name, "length " + std::to_string(n) + " exceeds " + std::to_string(max));
      if (n < min)
        return fail(DecodeError::bad_field, name, "length " + std::to_string(n) + " is below " + std::to_string(min));
    }
    (*this)(name, v);
  }
  void operator()(const char* name, std::vector<Guid>& l) {
    uint32_t n = 0;
    if (!length(name, n, 16)) return;
    l.clear();
    l.reserve(n);  // n * 16 <= remaining(): bounded by the frame
    for (uint32_t i = 0; i < n && ok(); ++i) {
      Guid g{};
      (*this)(name, g);
      l.push_back(g);
    }
    if (!ok()) l.clear();
  }
  void operator()(const char* name, std::vector<LunEntry>& l) {
    uint32_t n = 0;
    if (!length(name, n, kLunEntrySize)) return;
    l.clear();
    l.reserve(n);  // n * kLunEntrySize <= remaining(): bounded by the frame
    for (uint32_t i = 0; i < n && ok(); ++i) {  // cannot run short: checked above
      LunEntry e;
      (*this)(name, e.lun);
      (*this)(name, e.guid);
      l.push_back(e);
    }
    if (!ok()) l.clear();
  }

  bool ok() const { return err_ == DecodeError::none; }

  // A frame in two parts: `src` holds the bytes of the field `target` (proxy/codec.h Frame).
  void set_bulk(std::vector<uint8_t>* target, std::vector<uint8_t>* src) {
    bulk_target_ = target;
    bulk_src_ = src;
  }
  bool bulk_adopted() const { return bulk_src_ == nullptr; }

 private:
  // The bulk field of a frame in two parts: its length ends the head, its bytes are the bulk.
  void adopt(const char* name, std::vector<uint8_t>& v) {
    if (!need(name, 4)) return;
    const uint32_t n = load32(p_);
    p_ += 4;
    if (remaining() != 0)
      return fail(DecodeError::trailing_bytes, name,
                  std::to_string(remaining()) + " bytes between the length and the separately read bytes");
    if (n > bulk_src_->size())
      return fail(DecodeError::truncated, name,
                  "declared length " + std::to_string(n) + " but " + std::to_string(bulk_src_->size()) + " bytes remain");
    if (n < bulk_src_->size())
      return fail(DecodeError::trailing_bytes, name,
                  std::to_string(bulk_src_->size() - n) + " trailing bytes after the body");
    v = std::move(*bulk_src_);
    bulk_src_ = nullptr;
  }

  static uint32_t load32(const uint8_t* p) {
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
  }
  static uint64_t load64(const uint8_t* p) { return uint64_t(load32(p)) << 32 | load32(p + 4); }

  void fail(DecodeError e, const char* field, const std::string& what) {
    err_ = e;
    why_ = std::string(msg_) + "." + field + ": " + what;
  }
  // True when `n` more bytes are there; otherwise records a truncation.
  bool need(const char* field, size_t n) {
    if (!ok()) return false;
    if (remaining() >= n) return true;
    fail(DecodeError::truncated, field,
         "truncated (" + std::to_string(n) + " bytes needed, " + std::to_string(remaining()) + " remain)");
    return false;
  }
  // Reads a u32 length/count whose elements take `unit` bytes each, and checks that they all
  // fit in what remains, before the caller allocates anything.
  bool length(const char* field, uint32_t& n, size_t unit) {
    if (!need(field, 4)) return false;
    n = load32(p_);
    p_ += 4;
    const uint64_t bytes = uint64_t(n) * unit;
    if (bytes <= remaining()) return true;
    if (unit == 1)
      fail(DecodeError::truncated, field,
           "declared length " + std::to_string(n) + " but " + std::to_string(remaining()) + " bytes remain");
    else
      fail(DecodeError::truncated, field,
           "count " + std::to_string(n) + " needs " + std::to_string(bytes) + " bytes but " +
               std::to_string(remaining()) + " remain");
    return false;
  }

  const uint8_t* p_;
  const uint8_t* end_;
  const char* msg_;
  DecodeError err_ = DecodeError::none;
  std::string why_;
  std::vector<uint8_t>* bulk_target_ = nullptr;
  std::vector<uint8_t>* bulk_src_ = nullptr;
};

template <class T>
DecodeError decode_body(Reader& r, Message& m, std::vector<uint8_t>* bulk) {
  T& body = m.body.emplace<T>();
  if (bulk) r.set_bulk(bulk_field(body), bulk);
  fields(body, r);
  return r.error();
}

// Walks the fields of a SCSI_DATA or SCSI_CMD over the first bytes of a frame to the bulk
// field (locate_bulk()). Field lengths are read, not checked beyond what the walk needs.
class Locator {
 public:
  Locator(const uint8_t* p, size_t avail, size_t total) : p_(p), avail_(avail), total_(total) {}
  BulkAt result() const { return at_; }

  template <class T>
    requires std::is_integral_v<T>
  void operator()(const char*, T&) { skip(sizeof(T)); }
  void operator()(const char*, Guid& g) { skip(g.size()); }
  void operator()(const char* name, std::vector<uint8_t>& v, uint32_t, uint32_t max) {
    uint32_t n = 0;
    if (!length(n)) return;
    if (n > max) return stop(BulkAt::Kind::none);
    (void)name;
    (void)v;
    skip(n);
  }
  void operator()(const char*, std::vector<uint8_t>& v) {
    uint32_t n = 0;
    if (!length(n)) return;
    if (&v != target_) return skip(n);
    if (pos_ + n != total_) return stop(BulkAt::Kind::none);  // decode() refuses it: read whole
    at_ = BulkAt{BulkAt::Kind::at, pos_, n};
    done_ = true;
  }
  void target(std::vector<uint8_t>* t) { target_ = t; }

 private:
  bool length(uint32_t& n) {
    if (done_) return false;
    if (pos_ + 4 > total_) {
      stop(BulkAt::Kind::none);
      return false;
    }
    if (pos_ + 4 > avail_) {
      stop(BulkAt::Kind::need);
      return false;
    }
    n = get_be32(p_ + pos_);
    pos_ += 4;
    return true;
  }
  void skip(size_t n) {
    if (done_) return;
    if (pos_ + n > total_) return stop(BulkAt::Kind::none);
    pos_ += n;
  }
  void stop(BulkAt::Kind k) {
    at_ = BulkAt{k, 0, 0};
    done_ = true;
  }

  const uint8_t* p_;
  size_t avail_;
  size_t total_;
  size_t pos_ = kHeaderSize;
  bool done_ = false;
  BulkAt at_;
  std::vector<uint8_t>* target_ = nullptr;
};

template <class T>
BulkAt locate(const uint8_t* p, size_t avail, size_t total) {
  T body;
  Locator l(p, avail, total);
  l.target(bulk_field(body));
  fields(body, l);
  return l.result();
}

// encode() and encode_parts(): the frame into `out`, the bytes of `defer` (a field of `m`)
// left out of it.
void encode_into(const Message& m, std::vector<uint8_t>& out, const std::vector<uint8_t>* defer) {
  const size_t start = out.size();
  Writer w(out);
  w.defer(defer);
  w.u32(0);  // length, patched below
  w.u8(kProtocolVersion);
  w.u8(uint8_t(m.type()));
  w.u64(m.msg_id);
  std::visit([&](const auto& b) { fields(b, w); }, m.body);
  const uint32_t len = uint32_t(out.size() - start - 4 + w.deferred());
  put_be32(out.data() + start, len);
}

DecodeError decode_impl(const uint8_t* frame, size_t head_len, std::vector<uint8_t>* bulk, Message& out,
                        std::string& why);

}  // namespace

// ------------------------------------------------------------------ public

MsgType Message::type() const {
  return std::visit([](const auto& b) { return type_of<std::decay_t<decltype(b)>>(); }, body);
}

const char* to_string(MsgType t) {
  switch (t) {
    case MsgType::register_proxy_port: return "REGISTER_PROXY_PORT";
    case MsgType::deregister_proxy_port: return "DEREGISTER_PROXY_PORT";
    case MsgType::register_lun: return "REGISTER_LUN";
    case MsgType::deregister_lun: return "DEREGISTER_LUN";
    case MsgType::scsi_cmd: return "SCSI_CMD";
    case MsgType::scsi_data: return "SCSI_DATA";
    case MsgType::scsi_data_xfer_done: return "SCSI_DATA_XFER_DONE";
    case MsgType::scsi_status: return "SCSI_STATUS";
    case MsgType::status: return "STATUS";
    case MsgType::session_create: return "SESSION_CREATE";
    case MsgType::session_destroy: return "SESSION_DESTROY";
    case MsgType::echo_request: return "ECHO_REQUEST";
    case MsgType::echo_reply: return "ECHO_REPLY";
    case MsgType::lun_active: return "LUN_ACTIVE";
    case MsgType::hello: return "HELLO";
    case MsgType::task_mgmt: return "TASK_MGMT";
    case MsgType::session_luns: return "SESSION_LUNS";
    case MsgType::pr_state: return "PR_STATE";
    case MsgType::lu_list: return "LU_LIST";
  }
  return "UNKNOWN";
}

const char* to_string(DecodeError e) {
  switch (e) {
    case DecodeError::none: return "none";
    case DecodeError::truncated: return "truncated";
    case DecodeError::too_large: return "too_large";
    case DecodeError::bad_version: return "bad_version";
    case DecodeError::bad_type: return "bad_type";
    case DecodeError::bad_field: return "bad_field";
    case DecodeError::trailing_bytes: return "trailing_bytes";
  }
  return "unknown";
}

void encode(const Message& m, std::vector<uint8_t>& out) { encode_into(m, out, nullptr); }

std::vector<uint8_t> encode(const Message& m) {
  std::vector<uint8_t> out;
  encode(m, out);
  return out;
}

Frame encode_parts(Message&& m) {
  Frame f;
  std::vector<uint8_t>* bulk = std::visit([](auto& b) { return bulk_field(b); }, m.body);
  if (bulk && bulk->empty()) bulk = nullptr;
  encode_into(m, f.head, bulk);
  if (bulk) {
    f.bulk = std::move(*bulk);
    bulk->clear();
  }
  return f;
}

BulkAt locate_bulk(const uint8_t* frame, size_t avail) {
  if (avail < kHeaderSize) return BulkAt{BulkAt::Kind::need, 0, 0};
  const uint32_t prefix = get_be32(frame);
  if (prefix > kMaxFrame || prefix < kHeaderSize - 4 || frame[4] != kProtocolVersion) return {};
  const size_t total = 4 + size_t(prefix);
  avail = std::min(avail, total);
  switch (MsgType(frame[5])) {
    case MsgType::scsi_data: return locate<ScsiData>(frame, avail, total);
    case MsgType::scsi_cmd: return locate<ScsiCmd>(frame, avail, total);
    default: return {};
  }
}

DecodeError decode(Frame&& f, Message& out, std::string& why) {
  if (f.bulk.empty()) return decode_impl(f.head.data(), f.head.size(), nullptr, out, why);
  return decode_impl(f.head.data(), f.head.size(), &f.bulk, out, why);
}

DecodeError decode(const uint8_t* frame, size_t len, Message& out, std::string& why) {
  return decode_impl(frame, len, nullptr, out, why);
}

namespace {
// `frame` holds the first `head_len` bytes of the frame; `bulk` (when not null) the rest.
DecodeError decode_impl(const uint8_t* frame, size_t head_len, std::vector<uint8_t>* bulk, Message& out,
                        std::string& why) {
  const size_t len = head_len + (bulk ? bulk->size() : 0);

  if (head_len < 4) {
    why = "frame: " + std::to_string(len) + " bytes, too short for the length prefix";
    return DecodeError::truncated;
  }
  const uint32_t prefix = get_be32(frame);
  if (prefix > kMaxFrame) {
    why = "frame: length prefix " + std::to_string(prefix) + " exceeds the maximum " + std::to_string(kMaxFrame);
    return DecodeError::too_large;
  }
  if (prefix > len - 4) {
    why = "frame: length prefix " + std::to_string(prefix) + " but " + std::to_string(len - 4) + " bytes follow";
    return DecodeError::truncated;
  }
  if (prefix < len - 4) {
    why = "frame: length prefix " + std::to_string(prefix) + " but " + std::to_string(len - 4) +
          " bytes follow (trailing bytes)";
    return DecodeError::trailing_bytes;
  }
  if (head_len < kHeaderSize) {
    why = "frame: " + std::to_string(head_len) + " bytes, too short for the " + std::to_string(kHeaderSize) + "-byte header";
    return DecodeError::truncated;
  }
  if (frame[4] != kProtocolVersion) {
    why = "frame: version " + std::to_string(frame[4]) + ", expected " + std::to_string(kProtocolVersion);
    return DecodeError::bad_version;
  }
  const MsgType type = MsgType(frame[5]);
  const char* name = to_string(type);
  Message m;
  m.msg_id = uint64_t(get_be32(frame + 6)) << 32 | get_be32(frame + 10);
  Reader r(frame + kHeaderSize, frame + head_len, name);
  DecodeError e = DecodeError::none;
  switch (type) {
    case MsgType::register_proxy_port: e = decode_body<RegisterProxyPort>(r, m, bulk); break;
    case MsgType::deregister_proxy_port: e = decode_body<DeregisterProxyPort>(r, m, bulk); break;
    case MsgType::register_lun: e = decode_body<RegisterLun>(r, m, bulk); break;
    case MsgType::deregister_lun: e = decode_body<DeregisterLun>(r, m, bulk); break;
    case MsgType::scsi_cmd: e = decode_body<ScsiCmd>(r, m, bulk); break;
    case MsgType::scsi_data: e = decode_body<ScsiData>(r, m, bulk); break;
    case MsgType::scsi_data_xfer_done: e = decode_body<ScsiDataXferDone>(r, m, bulk); break;
    case MsgType::scsi_status: e = decode_body<ScsiStatus>(r, m, bulk); break;
    case MsgType::status: e = decode_body<Status>(r, m, bulk); break;
    case MsgType::session_create: e = decode_body<SessionCreate>(r, m, bulk); break;
    case MsgType::session_destroy: e = decode_body<SessionDestroy>(r, m, bulk); break;
    case MsgType::echo_request: e = decode_body<Echo>(r, m, bulk); break;
    case MsgType::echo_reply: e = decode_body<EchoReply>(r, m, bulk); break;
    case MsgType::lun_active: e = decode_body<LunActive>(r, m, bulk); break;
    case MsgType::hello: e = decode_body<Hello>(r, m, bulk); break;
    case MsgType::task_mgmt: e = decode_body<TaskMgmt>(r, m, bulk); break;
    case MsgType::session_luns: e = decode_body<SessionLuns>(r, m, bulk); break;
    case MsgType::pr_state: e = decode_body<PrStateMsg>(r, m, bulk); break;
    case MsgType::lu_list: e = decode_body<LuList>(r, m, bulk); break;
    default:
      why = "frame: unknown type " + std::to_string(frame[5]);
      return DecodeError::bad_type;
  }
  if (e != DecodeError::none) {
    why = r.why();
    return e;
  }
  if (r.remaining() != 0) {
    why = std::string(name) + ": " + std::to_string(r.remaining()) + " trailing bytes after the body";
    return DecodeError::trailing_bytes;
  }
  if (bulk && !r.bulk_adopted()) {
    why = std::string(name) + ": " + std::to_string(bulk->size()) + " trailing bytes after the body";
    return DecodeError::trailing_bytes;
  }
  out = std::move(m);
  return DecodeError::none;
}
}  // namespace

}  // namespace stmf::proxy
