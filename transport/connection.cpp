#include "transport/connection.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "transport/iscsi/crc32c.h"
#include "transport/iscsi/data_in.h"
#include "transport/iscsi/pdu.h"
#include "transport/iscsi/text.h"
#include "transport/log.h"
#include "transport/server.h"

namespace stmf::transport {

namespace {

using asio::awaitable;
using asio::use_awaitable;
namespace op = iscsi::opcode;

inline uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
inline uint32_t be24(const uint8_t* p) { return uint32_t(p[0]) << 16 | uint32_t(p[1]) << 8 | p[2]; }
inline uint16_t be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
inline void put32(uint8_t* p, uint32_t v) { p[0] = uint8_t(v >> 24); p[1] = uint8_t(v >> 16); p[2] = uint8_t(v >> 8); p[3] = uint8_t(v); }
inline void put24(uint8_t* p, uint32_t v) { p[0] = uint8_t(v >> 16); p[1] = uint8_t(v >> 8); p[2] = uint8_t(v); }
inline size_t pad4(size_t n) { return (4 - (n & 3)) & 3; }
// RFC 1982 serial number arithmetic on 32 bits.
inline bool sn_lt(uint32_t a, uint32_t b) { return a != b && uint32_t(b - a) < 0x80000000u; }

// SAM-5 4.7 LUN decoding of the 8-byte LUN field: peripheral (00b) and flat (01b) address
// methods; anything else maps to an impossible LUN so it is reported as not supported.
uint64_t decode_lun(const uint8_t* p) {
  switch (p[0] >> 6) {
    case 0: return p[0] == 0 ? p[1] : UINT64_MAX;
    case 1: return uint64_t(p[0] & 0x3f) << 8 | p[1];
    default: return UINT64_MAX;
  }
}

constexpr uint32_t kReservedTag = 0xffffffff;

}  // namespace

Connection::Connection(Server& server, asio::ip::tcp::socket socket, uint16_t)
    : server_(server),
      socket_(std::move(socket)),
      strand_(asio::make_strand(socket_.get_executor())),
      nop_timer_(strand_),
      login_timer_(strand_) {
  boost::system::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  peer_ = ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  queue_depth_ = server_.settings().queue_depth;
}

Connection::~Connection() = default;

void Connection::start() {
  auto self = shared_from_this();
  log()->debug("{}: connection accepted", peer_);
  login_timer_.expires_after(std::chrono::seconds(server_.settings().login_timeout_s));
  login_timer_.async_wait([self](boost::system::error_code ec) {
    if (!ec && self->phase_ == Phase::login) self->close("login timed out");
  });
  asio::co_spawn(strand_, [self]() -> awaitable<void> { co_await self->reader(); }, asio::detached);
}

void Connection::close(const std::string& why) {
  auto self = shared_from_this();
  asio::dispatch(strand_, [self, why] {
    if (self->phase_ == Phase::closed) return;
    log()->info("{}: closing connection ({})", self->peer_, why);
    self->phase_ = Phase::closed;
    boost::system::error_code ec;
    self->socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    self->socket_.close(ec);
    self->nop_timer_.cancel();
    self->login_timer_.cancel();
    self->finish_session();
  });
}

// Ends the I_T nexus: the framework aborts what is still executing (silently) and raises
// I_T NEXUS LOSS for this initiator port. Runs once, on the strand.
void Connection::finish_session() {
  writes_.clear();
  if (nexus_) {
    server_.stmf().nexus_lost(nexus_);
    nexus_.reset();
  }
  server_.remove_connection(this);
}

// ---------------------------------------------------------------- reading

awaitable<bool> Connection::read_exact(void* p, size_t n) {
  boost::system::error_code ec;
  co_await asio::async_read(socket_, asio::buffer(p, n), asio::redirect_error(use_awaitable, ec));
  co_return !ec;
}

// Reads a data segment of `len` bytes into dst, then padding and (if negotiated) the data
// digest; digest_ok tells whether the digest matched.
awaitable<bool> Connection::read_segment(uint8_t* dst, size_t len, bool& digest_ok) {
  digest_ok = true;
  if (len == 0) co_return true;
  uint8_t trailer[8];
  size_t tl = pad4(len) + (data_digest_ ? 4 : 0);
  boost::system::error_code ec;
  std::array<asio::mutable_buffer, 2> bufs{asio::buffer(dst, len), asio::buffer(trailer, tl)};
  co_await asio::async_read(socket_, bufs, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return false;
  if (data_digest_) {
    uint32_t crc = iscsi::crc32c(dst, len);
    crc = iscsi::crc32c_extend(crc, trailer, pad4(len));
    digest_ok = iscsi::digest_matches(crc, trailer + pad4(len));
  }
  co_return true;
}

awaitable<bool> Connection::skip_segment(size_t len) {
  if (len == 0) co_return true;
  std::vector<uint8_t> junk(len + pad4(len) + (data_digest_ ? 4 : 0));
  co_return co_await read_exact(junk.data(), junk.size());
}

awaitable<void> Connection::reader() {
  auto self = shared_from_this();
  const uint32_t max_recv = server_.settings().max_recv_data_segment_length;
  while (phase_ != Phase::closed) {
    InPdu pdu;
    if (!co_await read_exact(pdu.bhs.data(), 48)) break;
    const uint8_t* b = pdu.bhs.data();
    const size_t ahs_len = size_t(b[4]) * 4;
    if (ahs_len) {
      pdu.ahs.resize(ahs_len);
      if (!co_await read_exact(pdu.ahs.data(), ahs_len)) break;
    }
    if (header_digest_) {
      uint8_t d[4];
      if (!co_await read_exact(d, 4)) break;
      uint32_t crc = iscsi::crc32c(b, 48);
      if (ahs_len) crc = iscsi::crc32c_extend(crc, pdu.ahs.data(), ahs_len);
      if (!iscsi::digest_matches(crc, d)) {
        // RFC 7143 7.8: a header digest error cannot be recovered at ERL 0.
        log()->warn("{}: header digest error, opcode 0x{:02x} itt 0x{:08x}", peer_, b[0] & 0x3f, be32(b + 16));
        close("header digest error");
        break;
      }
    }
    const uint8_t opc = b[0] & 0x3f;
    const uint32_t dlen = be24(b + 5);
    const uint32_t limit = phase_ == Phase::login ? 8192 : max_recv;
    if (dlen > limit) {
      log()->warn("{}: data segment {} exceeds MaxRecvDataSegmentLength {} (opcode 0x{:02x} itt 0x{:08x})", peer_, dlen,
                  limit, opc, be32(b + 16));
      reject(pdu, iscsi::reject_reason::protocol_error);
      if (!co_await skip_segment(dlen)) break;
      continue;
    }

    if (phase_ == Phase::login) {
      if (opc != op::login_request) {
        log()->warn("{}: opcode 0x{:02x} before login completed", peer_, opc);
        close("non-login PDU during login");
        break;
      }
      pdu.data.resize(dlen);
      bool ok;
      if (!co_await read_segment(pdu.data.data(), dlen, ok)) break;
      if (!co_await on_login(pdu)) break;
      continue;
    }

    bool keep = true;
    switch (opc) {
      case op::scsi_command:
        keep = co_await on_scsi_command(pdu);
        break;
      case op::data_out:
        keep = co_await on_data_out(pdu);
        break;
      default: {
        pdu.data.resize(dlen);
        bool ok;
        if (!co_await read_segment(pdu.data.data(), dlen, ok)) {
          keep = false;
          break;
        }
        if (!ok) {
          log()->warn("{}: data digest error on opcode 0x{:02x} itt 0x{:08x}", peer_, opc, be32(b + 16));
          reject(pdu, iscsi::reject_reason::data_digest_error);
          break;
        }
        switch (opc) {
          case op::nop_out: on_nop_out(pdu); break;
          case op::text_request: on_text(pdu); break;
          case op::logout_request: on_logout(pdu); break;
          case op::task_mgmt_request: on_task_mgmt(pdu); break;
          case op::snack_request:
            log()->warn("{}: SNACK at ERL 0, itt 0x{:08x}", peer_, be32(b + 16));
            reject(pdu, iscsi::reject_reason::command_not_supported);
            break;
          case op::login_request:
            log()->warn("{}: Login Request in full feature phase", peer_);
            reject(pdu, iscsi::reject_reason::protocol_error);
            break;
          default:
            log()->warn("{}: unknown opcode 0x{:02x} itt 0x{:08x}", peer_, opc, be32(b + 16));
            reject(pdu, iscsi::reject_reason::command_not_supported);
        }
      }
    }
    if (!keep) break;
  }
  close(phase_ == Phase::logout ? "logged out" : "connection ended");
}

// ---------------------------------------------------------------- writing

Connection::OutPdu Connection::make_pdu(const std::array<uint8_t, 48>& bhs, const uint8_t* data, size_t len,
                                        std::shared_ptr<const void> owner) {
  OutPdu o;
  std::memcpy(o.hdr.data(), bhs.data(), 48);
  put24(&o.hdr[5], uint32_t(len));
  o.data = data;
  o.data_len = len;
  o.owner = std::move(owner);
  return o;
}

void Connection::send(OutPdu o) {
  if (phase_ == Phase::closed) return;
  if (header_digest_) {
    iscsi::put_digest(iscsi::crc32c(o.hdr.data(), 48), &o.hdr[48]);
    o.hdr_len = 52;
  }
  if (o.data_len) {
    size_t p = pad4(o.data_len);
    o.trailer_len = p;
    if (data_digest_) {
      uint32_t crc = iscsi::crc32c(o.data, o.data_len);
      crc = iscsi::crc32c_extend(crc, o.trailer.data(), p);
      iscsi::put_digest(crc, &o.trailer[p]);
      o.trailer_len += 4;
    }
  }
  outq_.push_back(std::move(o));
  if (!writing_) write_next();
}

void Connection::write_next() {
  if (outq_.empty() || phase_ == Phase::closed) {
    writing_ = false;
    return;
  }
  writing_ = true;
  // Gather up to 64 queued PDUs into one write.
  wbufs_.clear();
  inflight_pdus_ = std::min<size_t>(outq_.size(), 64);
  bool close_after = false;
  for (size_t i = 0; i < inflight_pdus_; ++i) {
    auto& o = outq_[i];
    wbufs_.emplace_back(o.hdr.data(), o.hdr_len);
    if (o.data_len) wbufs_.emplace_back(o.data, o.data_len);
    if (o.trailer_len) wbufs_.emplace_back(o.trailer.data(), o.trailer_len);
    if (o.close_after) {
      close_after = true;
      inflight_pdus_ = i + 1;
      break;
    }
  }
  auto self = shared_from_this();
  asio::async_write(socket_, wbufs_, asio::bind_executor(strand_, [self, close_after](boost::system::error_code ec, size_t) {
    for (size_t i = 0; i < self->inflight_pdus_ && !self->outq_.empty(); ++i) self->outq_.pop_front();
    if (ec) {
      self->writing_ = false;
      self->close("write failed: " + ec.message());
      return;
    }
    if (close_after) {
      self->writing_ = false;
      self->close(self->phase_ == Phase::logout ? "logged out" : "closing after response");
      return;
    }
    self->write_next();
  }));
}

// StatSN/ExpCmdSN/MaxCmdSN, bytes 24..35 of every target PDU that carries them.
void Connection::fill_sn(std::array<uint8_t, 52>& h, bool advance_stat_sn) {
  put32(&h[24], advance_stat_sn ? stat_sn_++ : stat_sn_);
  put32(&h[28], exp_cmd_sn_);
  put32(&h[32], exp_cmd_sn_ + queue_depth_ - 1);
}

void Connection::reject(const InPdu& pdu, uint8_t reason) {
  std::array<uint8_t, 48> h{};
  h[0] = op::reject;
  h[1] = 0x80;
  h[2] = reason;
  put32(&h[16], kReservedTag);
  auto hdr = std::make_shared<std::array<uint8_t, 48>>(pdu.bhs);
  OutPdu o = make_pdu(h, hdr->data(), 48, hdr);
  fill_sn(o.hdr, true);
  send(std::move(o));
}

// ---------------------------------------------------------------- CmdSN window

bool Connection::accept_cmd_sn(uint32_t cmd_sn, bool immediate) {
  const uint32_t max_cmd_sn = exp_cmd_sn_ + queue_depth_ - 1;
  if (immediate) {
    // Immediate commands carry the next CmdSN but do not advance it (RFC 7143 4.2.2.1).
    return true;
  }
  if (cmd_sn == exp_cmd_sn_) {
    ++exp_cmd_sn_;
    return true;
  }
  // ERL 0 over one TCP connection: anything else is outside the window or a duplicate;
  // RFC 7143 4.2.2.1 says to silently ignore it.
  log()->warn("{}: CmdSN {} outside window [{}, {}], ignored", peer_, cmd_sn, exp_cmd_sn_, max_cmd_sn);
  return false;
}

// ---------------------------------------------------------------- SCSI commands

awaitable<bool> Connection::on_scsi_command(InPdu& pdu) {
  const uint8_t* b = pdu.bhs.data();
  const bool immediate = b[0] & 0x40;
  const uint8_t flags = b[1];
  const bool r = flags & 0x40, w = flags & 0x20;
  const uint32_t dlen = be24(b + 5);
  const uint32_t itt = be32(b + 16);
  const uint32_t edtl = be32(b + 20);
  const uint32_t cmd_sn = be32(b + 24);

  auto t = std::make_shared<IscsiTask>();
  t->conn = weak_from_this();
  t->nexus = nexus_;
  t->lun = decode_lun(b + 8);
  t->tag = itt;
  t->cmd_sn = cmd_sn;
  t->attribute = TaskAttribute(flags & 0x07);
  t->expected_transfer_length = edtl;
  t->read_flag = r;
  t->write_flag = w;
  t->direction = r && w ? DataDirection::bidi : r ? DataDirection::in : w ? DataDirection::out : DataDirection::none;
  std::memcpy(t->cdb.data(), b + 32, 16);
  t->cdb_length = 16;
  // Extended CDB AHS (type 1): CDB bytes 16.. (RFC 7143 11.3.5).
  for (size_t off = 0; off + 4 <= pdu.ahs.size();) {
    size_t alen = be16(&pdu.ahs[off]);
    uint8_t type = pdu.ahs[off + 2];
    if (type == 1 && alen >= 1 && off + 4 + alen - 1 <= pdu.ahs.size()) {
      size_t extra = std::min<size_t>(alen - 1, t->cdb.size() - 16);
      std::memcpy(t->cdb.data() + 16, &pdu.ahs[off + 4], extra);
      t->cdb_length = uint8_t(16 + extra);
    }
    off += 4 + ((alen + 3) & ~size_t(3));
  }

  // Immediate data goes straight into the task's Data-Out buffer.
  bool protocol_error = false;
  if (dlen > 0) {
    if (!w || !params_.immediate_data || dlen > params_.first_burst_length || dlen > edtl) {
      log()->warn("{}: itt 0x{:08x}: immediate data of {} bytes not allowed (W={}, ImmediateData={}, FirstBurst={}, EDTL={})",
                  peer_, itt, dlen, w, params_.immediate_data, params_.first_burst_length, edtl);
      protocol_error = true;
      if (!co_await skip_segment(dlen)) co_return false;
    } else {
      t->data_out.resize(edtl);
      bool ok;
      if (!co_await read_segment(t->data_out.data(), dlen, ok)) co_return false;
      if (!ok) {
        log()->warn("{}: itt 0x{:08x}: data digest error on immediate data", peer_, itt);
        reject(pdu, iscsi::reject_reason::data_digest_error);
        // The data never arrived: the command cannot run (RFC 7143 7.8, ERL 0).
        if (accept_cmd_sn(cmd_sn, immediate)) {
          tasks_[itt] = t;
          fail_task(t, scsi::sense::make(scsi::SenseKey::aborted_command, 0x47, 0x05));
        }
        co_return true;
      }
    }
  }
  if (protocol_error) {
    reject(pdu, iscsi::reject_reason::protocol_error);
    co_return true;
  }
  if (!accept_cmd_sn(cmd_sn, immediate)) co_return true;
  if (tasks_.count(itt)) {
    log()->warn("{}: itt 0x{:08x} already in use", peer_, itt);
    reject(pdu, iscsi::reject_reason::invalid_pdu_field);
    co_return true;
  }
  tasks_[itt] = t;
  if (w && edtl > 0) {
    if (t->data_out.empty()) t->data_out.resize(edtl);
    auto& pw = writes_[itt];
    pw.task = t;
    pw.tracker = iscsi::DataOutTracker(edtl, dlen, params_, server_.settings().max_recv_data_segment_length);
    if (pw.tracker.complete()) {
      writes_.erase(itt);
      submit(t);
    } else {
      send_r2ts(pw);
    }
    co_return true;
  }
  submit(t);
  co_return true;
}

void Connection::send_r2ts(PendingWrite& w) {
  while (auto r2t = w.tracker.next_r2t(next_ttt_)) {
    if (++next_ttt_ == kReservedTag) next_ttt_ = 1;
    std::array<uint8_t, 48> h{};
    h[0] = op::r2t;
    h[1] = 0x80;
    std::memcpy(&h[8], w.task->cdb.data() - w.task->cdb.data() + &h[8], 0);  // LUN copied below
    put32(&h[16], w.task->tag);
    put32(&h[20], r2t->ttt);
    put32(&h[36], r2t->r2t_sn);
    put32(&h[40], r2t->buffer_offset);
    put32(&h[44], r2t->desired_length);
    OutPdu o = make_pdu(h, nullptr, 0, nullptr);
    fill_sn(o.hdr, false);
    send(std::move(o));
  }
}

awaitable<bool> Connection::on_data_out(InPdu& pdu) {
  const uint8_t* b = pdu.bhs.data();
  const uint32_t dlen = be24(b + 5);
  const uint32_t itt = be32(b + 16);
  const uint32_t ttt = be32(b + 20);
  const uint32_t data_sn = be32(b + 36);
  const uint32_t offset = be32(b + 40);
  const bool final = b[1] & 0x80;
  auto it = writes_.find(itt);
  if (it == writes_.end()) {
    // A task that was aborted or never existed: discard its data (RFC 7143 11.7).
    log()->debug("{}: Data-Out for unknown itt 0x{:08x} discarded", peer_, itt);
    co_return co_await skip_segment(dlen);
  }
  auto& w = it->second;
  auto err = w.tracker.on_data_out(ttt, offset, dlen, data_sn, final);
  if (err) {
    log()->warn("{}: itt 0x{:08x}: bad Data-Out (ttt 0x{:08x} offset {} len {} datasn {}): {}", peer_, itt, ttt, offset,
                dlen, data_sn, iscsi::to_string(*err));
    reject(pdu, iscsi::reject_reason::protocol_error);
    co_return co_await skip_segment(dlen);
  }
  bool ok;
  if (!co_await read_segment(w.task->data_out.data() + offset, dlen, ok)) co_return false;
  it = writes_.find(itt);  // the map may have changed while reading
  if (it == writes_.end()) co_return true;
  if (!ok) {
    log()->warn("{}: itt 0x{:08x}: data digest error on Data-Out offset {}", peer_, itt, offset);
    reject(pdu, iscsi::reject_reason::data_digest_error);
    it->second.failed = true;
  }
  if (it->second.tracker.complete()) {
    auto t = it->second.task;
    bool failed = it->second.failed;
    writes_.erase(it);
    if (failed)
      fail_task(t, scsi::sense::make(scsi::SenseKey::aborted_command, 0x47, 0x05));
    else
      submit(t);
  } else {
    send_r2ts(it->second);
  }
  co_return true;
}

void Connection::submit(const std::shared_ptr<IscsiTask>& t) { server_.stmf().submit(t); }

void Connection::fail_task(const std::shared_ptr<IscsiTask>& t, const scsi::SenseCode& s) {
  t->check_condition(s, false);
  complete_on_strand(t);
}

void Connection::post_complete(TaskPtr task) {
  auto self = shared_from_this();
  asio::dispatch(strand_, [self, task = std::move(task)] { self->complete_on_strand(task); });
}

void Connection::post_aborted(TaskPtr task) {
  auto self = shared_from_this();
  asio::dispatch(strand_, [self, task = std::move(task)] {
    auto it = self->tasks_.find(task->tag);
    if (it != self->tasks_.end() && it->second == task) self->tasks_.erase(it);
  });
}

void Connection::complete_on_strand(const TaskPtr& task) {
  auto it = tasks_.find(task->tag);
  if (it == tasks_.end() || it->second != task) return;  // aborted or connection reset
  auto t = it->second;
  tasks_.erase(it);
  if (phase_ == Phase::closed) return;

  const uint32_t edtl = t->expected_transfer_length;
  // Residuals (RFC 7143 11.4.5): compare what the command wanted to move with EDTL.
  uint64_t xfer;
  if (t->read_flag || !t->data_in.empty())
    xfer = t->data_in.size();
  else
    xfer = t->transfer_length >= 0 ? uint64_t(t->transfer_length) : t->data_out.size();
  uint8_t res_flags = 0;
  uint32_t residual = 0;
  if (t->status == scsi::Status::good || !t->data_in.empty()) {
    if (xfer > edtl) {
      res_flags = 0x04;  // overflow
      residual = uint32_t(std::min<uint64_t>(xfer - edtl, UINT32_MAX));
    } else if (xfer < edtl) {
      res_flags = 0x02;  // underflow
      residual = edtl - uint32_t(xfer);
    }
  } else if (edtl > 0 && t->read_flag) {
    res_flags = 0x02;  // CHECK CONDITION on a read: nothing was transferred
    residual = edtl;
  }

  uint32_t data_sn = 0;
  const size_t send_len = t->read_flag ? std::min<size_t>(t->data_in.size(), edtl) : 0;
  if (send_len > 0) {
    const bool collapse = t->status == scsi::Status::good;
    iscsi::DataInSegmenter seg(uint32_t(send_len), params_.max_recv_data_segment_length, params_.max_burst_length);
    while (auto s = seg.next()) {
      std::array<uint8_t, 48> h{};
      h[0] = op::data_in;
      const bool last = s->last;
      h[1] = s->final ? 0x80 : 0;
      if (last && collapse) {
        h[1] |= 0x80 | 0x01 | res_flags;
        h[3] = uint8_t(t->status);
      }
      put32(&h[16], t->tag);
      put32(&h[20], kReservedTag);
      put32(&h[36], data_sn++);
      put32(&h[40], s->buffer_offset);
      if (last && collapse) put32(&h[44], residual);
      OutPdu o = make_pdu(h, t->data_in.data() + s->buffer_offset, s->length, t);
      fill_sn(o.hdr, last && collapse);
      if (!(last && collapse)) std::memset(&o.hdr[24], 0, 4);
      send(std::move(o));
    }
    if (collapse) return;
  }
  std::array<uint8_t, 48> h{};
  h[0] = op::scsi_response;
  h[1] = 0x80 | res_flags;
  h[2] = 0x00;  // command completed at target
  h[3] = uint8_t(t->status);
  put32(&h[16], t->tag);
  put32(&h[36], data_sn);  // ExpDataSN: Data-In PDUs sent
  put32(&h[44], residual);
  std::shared_ptr<std::vector<uint8_t>> sense;
  if (!t->sense.empty()) {
    sense = std::make_shared<std::vector<uint8_t>>(2 + t->sense.size());
    (*sense)[0] = uint8_t(t->sense.size() >> 8);
    (*sense)[1] = uint8_t(t->sense.size());
    std::memcpy(sense->data() + 2, t->sense.data(), t->sense.size());
  }
  OutPdu o = sense ? make_pdu(h, sense->data(), sense->size(), sense) : make_pdu(h, nullptr, 0, nullptr);
  fill_sn(o.hdr, true);
  send(std::move(o));
}

// ---------------------------------------------------------------- NOP, Text, Logout

void Connection::on_nop_out(InPdu& pdu) {
  const uint8_t* b = pdu.bhs.data();
  const bool immediate = b[0] & 0x40;
  const uint32_t itt = be32(b + 16), ttt = be32(b + 20), cmd_sn = be32(b + 24);
  if (itt == kReservedTag) {
    // Answer to our NOP-In ping (TTT echoes it).
    if (ttt != kReservedTag && ttt == nop_ttt_) nop_ttt_ = 0;
    return;
  }
  if (!accept_cmd_sn(cmd_sn, immediate)) return;
  std::array<uint8_t, 48> h{};
  h[0] = op::nop_in;
  h[1] = 0x80;
  std::memcpy(&h[8], b + 8, 8);
  put32(&h[16], itt);
  put32(&h[20], kReservedTag);
  auto data = std::make_shared<std::vector<uint8_t>>(std::move(pdu.data));
  OutPdu o = make_pdu(h, data->data(), data->size(), data);
  fill_sn(o.hdr, true);
  send(std::move(o));
  if (nop_ttt_ == 0) start_nop_timer();
}

void Connection::start_nop_timer() {
  const auto interval = server_.settings().nop_in_interval_s;
  if (interval == 0 || phase_ != Phase::full_feature) return;
  auto self = shared_from_this();
  nop_timer_.expires_after(std::chrono::seconds(nop_ttt_ ? server_.settings().nop_in_timeout_s : interval));
  nop_timer_.async_wait([self](boost::system::error_code ec) {
    if (ec || self->phase_ != Phase::full_feature) return;
    if (self->nop_ttt_ != 0) {
      log()->warn("{}: NOP-In ping unanswered for {} s", self->peer_, self->server_.settings().nop_in_timeout_s);
      self->close("keepalive timeout");
      return;
    }
    // Target ping: NOP-In with a TTT, ITT reserved, StatSN not advanced (RFC 7143 11.19).
    self->nop_ttt_ = self->next_ttt_++;
    if (self->next_ttt_ == kReservedTag) self->next_ttt_ = 1;
    std::array<uint8_t, 48> h{};
    h[0] = op::nop_in;
    h[1] = 0x80;
    put32(&h[16], kReservedTag);
    put32(&h[20], self->nop_ttt_);
    OutPdu o = self->make_pdu(h, nullptr, 0, nullptr);
    self->fill_sn(o.hdr, false);
    self->send(std::move(o));
    self->start_nop_timer();
  });
}

void Connection::on_text(InPdu& pdu) {
  const uint8_t* b = pdu.bhs.data();
  const bool immediate = b[0] & 0x40;
  const bool cont = b[1] & 0x40;
  const uint32_t itt = be32(b + 16), ttt = be32(b + 20), cmd_sn = be32(b + 24);
  if (!accept_cmd_sn(cmd_sn, immediate)) return;
  std::string response;
  if (ttt != kReservedTag && ttt == text_ttt_) {
    response = std::move(text_pending_);  // initiator asks for the rest of a long answer
  } else if (cont) {
    log()->warn("{}: multi-PDU Text Request not supported, itt 0x{:08x}", peer_, itt);
    reject(pdu, iscsi::reject_reason::command_not_supported);
    return;
  } else {
    iscsi::TextKeys keys;
    auto err = iscsi::parse_text(pdu.data, keys);
    if (err) {
      log()->warn("{}: malformed Text Request itt 0x{:08x}: {}", peer_, itt, iscsi::to_string(*err));
      reject(pdu, iscsi::reject_reason::protocol_error);
      return;
    }
    for (auto& [k, v] : keys) {
      if (k == "SendTargets") {
        for (auto* p : server_.targets()) {
          const bool discovery = params_.session_type == iscsi::SessionType::discovery;
          if (!discovery && p != port_) continue;
          if (v != "All" && !v.empty() && v != p->target_name()) continue;
          if (!p->initiator_allowed(params_.initiator_name)) continue;
          response += "TargetName=" + p->target_name() + '\0';
          for (auto& a : server_.portal_addresses(*p)) response += "TargetAddress=" + a + '\0';
        }
      } else {
        response += k + "=NotUnderstood" + '\0';
      }
    }
  }
  const size_t max = params_.max_recv_data_segment_length;
  std::array<uint8_t, 48> h{};
  h[0] = op::text_response;
  put32(&h[16], itt);
  std::shared_ptr<std::string> chunk;
  if (response.size() > max) {
    chunk = std::make_shared<std::string>(response.substr(0, max));
    text_pending_ = response.substr(max);
    text_ttt_ = next_ttt_++;
    h[1] = 0x40;  // C: more to come
    put32(&h[20], text_ttt_);
  } else {
    chunk = std::make_shared<std::string>(std::move(response));
    text_pending_.clear();
    text_ttt_ = kReservedTag;
    h[1] = 0x80;
    put32(&h[20], kReservedTag);
  }
  OutPdu o = make_pdu(h, reinterpret_cast<const uint8_t*>(chunk->data()), chunk->size(), chunk);
  fill_sn(o.hdr, true);
  send(std::move(o));
}

void Connection::on_logout(InPdu& pdu) {
  const uint8_t* b = pdu.bhs.data();
  const bool immediate = b[0] & 0x40;
  const uint8_t reason = b[1] & 0x7f;
  const uint32_t itt = be32(b + 16), cmd_sn = be32(b + 24);
  const uint16_t cid = be16(b + 20);
  accept_cmd_sn(cmd_sn, immediate);
  std::array<uint8_t, 48> h{};
  h[0] = op::logout_response;
  h[1] = 0x80;
  put32(&h[16], itt);
  bool close_now = true;
  if (reason == 2) {
    h[2] = 2;  // connection recovery is not supported (ERL 0)
    close_now = false;
  } else if (reason == 1 && cid != cid_) {
    h[2] = 1;  // CID not found
    close_now = false;
  } else if (reason > 2) {
    reject(pdu, iscsi::reject_reason::invalid_pdu_field);
    return;
  }
  log()->info("{}: logout (reason {}) from {} isid 0x{:012x}", peer_, reason, params_.initiator_name, isid_);
  OutPdu o = make_pdu(h, nullptr, 0, nullptr);
  fill_sn(o.hdr, true);
  if (close_now) {
    phase_ = Phase::logout;
    o.close_after = true;
    nop_timer_.cancel();
  }
  send(std::move(o));
}

void Connection::request_logout(uint16_t time2wait_s) {
  auto self = shared_from_this();
  asio::dispatch(strand_, [self, time2wait_s] {
    if (self->phase_ != Phase::full_feature) {
      if (self->phase_ == Phase::login) self->close("shutting down");
      return;
    }
    std::array<uint8_t, 48> h{};
    h[0] = op::async_message;
    h[1] = 0x80;
    std::memset(&h[8], 0, 8);
    put32(&h[16], kReservedTag);
    h[36] = 1;  // AsyncEvent 1: target requests logout
    h[40] = 0;
    h[41] = 0;  // Parameter1, Parameter2
    h[42] = uint8_t(time2wait_s >> 8);  // Parameter3: Time2Wait
    h[43] = uint8_t(time2wait_s);
    OutPdu o = self->make_pdu(h, nullptr, 0, nullptr);
    self->fill_sn(o.hdr, true);
    self->send(std::move(o));
  });
}

// ---------------------------------------------------------------- task management

void Connection::on_task_mgmt(InPdu& pdu) {
  const uint8_t* b = pdu.bhs.data();
  const bool immediate = b[0] & 0x40;
  const uint8_t function = b[1] & 0x7f;
  const uint32_t itt = be32(b + 16), ref_tag = be32(b + 20), cmd_sn = be32(b + 24), ref_cmd_sn = be32(b + 32);
  const uint64_t lun = decode_lun(b + 8);
  if (!accept_cmd_sn(cmd_sn, immediate)) return;

  auto respond = [self = shared_from_this(), itt, function](TmfResponse r) {
    asio::dispatch(self->strand_, [self, itt, function, r] {
      std::array<uint8_t, 48> h{};
      h[0] = op::task_mgmt_response;
      h[1] = 0x80;
      h[2] = uint8_t(r);
      put32(&h[16], itt);
      OutPdu o = self->make_pdu(h, nullptr, 0, nullptr);
      self->fill_sn(o.hdr, true);
      // TARGET COLD RESET: respond, then drop every connection (RFC 7143 11.5.1).
      o.close_after = function == uint8_t(TmfFunction::target_cold_reset) && r == TmfResponse::function_complete;
      self->send(std::move(o));
    });
  };

  TmfRequest req;
  req.function = TmfFunction(function);
  req.lun = lun;
  req.referenced_tag = ref_tag;
  if (function < 1 || function > 8) {
    respond(TmfResponse::function_rejected);
    return;
  }
  // Tasks still collecting Data-Out never reached the framework: end them here.
  auto drop_local = [&](auto pred) {
    for (auto it = writes_.begin(); it != writes_.end();) {
      if (pred(*it->second.task)) {
        tasks_.erase(it->first);
        it = writes_.erase(it);
      } else {
        ++it;
      }
    }
  };
  switch (req.function) {
    case TmfFunction::abort_task: {
      auto w = writes_.find(ref_tag);
      if (w != writes_.end() && w->second.task->lun == lun) {
        tasks_.erase(ref_tag);
        writes_.erase(w);
        respond(TmfResponse::function_complete);
        return;
      }
      if (!tasks_.count(ref_tag)) {
        // RFC 7143 11.5.1: the task is gone; if its CmdSN was already received, the
        // abort is complete, else the task does not exist.
        const bool received = sn_lt(ref_cmd_sn, exp_cmd_sn_);
        respond(received ? TmfResponse::function_complete : TmfResponse::task_does_not_exist);
        return;
      }
      break;
    }
    case TmfFunction::abort_task_set:
    case TmfFunction::clear_task_set:
    case TmfFunction::logical_unit_reset:
      drop_local([&](const IscsiTask& t) { return t.lun == lun; });
      break;
    case TmfFunction::target_warm_reset:
    case TmfFunction::target_cold_reset:
      drop_local([](const IscsiTask&) { return true; });
      break;
    default:
      break;
  }
  server_.stmf().task_management(nexus_, req, respond);
}
