#include "transport/connection.h"

#include <spdlog/spdlog.h>

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "common/buffer_pool.h"
#include "common/write_all.h"
#include "core/scsi/opcodes.h"
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

using iscsi::kReservedTag;

// Largest Data-Out buffer one command may make the target allocate: the LU's maximum transfer
// length (32 MiB) plus room for the largest block size. Also the cap of a read's charge.
constexpr uint32_t kMaxWriteBuffer = (32u << 20) + 4096;
// Discarded data segments are read through a buffer of this size, never the announced length.
constexpr size_t kSkipBuffer = 16384;
// Non-blocking reads the reader does in a row before it lets the strand's other handlers
// (completions from the store's threads, timers) and other connections run.
constexpr unsigned kReadsBeforeYield = 64;
// Read-ahead behind each read: one recvmsg brings the PDU asked for and the headers (and small
// segments) the initiator sent after it, so a batch of commands costs one system call, not one
// per PDU. Held only while the connection is busy (released when the reader waits).
constexpr size_t kReadAhead = 16384;
// Answer PDUs (SCSI Responses and Data-Ins: outq_ counts PDUs, so a read answered in several
// Data-Ins counts several) the reader holds back for one write while it still has commands to
// read: at this many they go at once, and the rest follow in the next write. An initiator that handles a
// whole batch of completions before it sends again (libiscsi under qemu-img) then works on the
// first responses while the target reads and serves the rest of the batch, instead of the two
// taking turns. Measured (docs/benchmark.md "Answering before the batch ends"): 4 KiB writes
// +23 % IOPS at QD16 and +3 % at QD32 (medians, no profiler attached), the same CPU per write;
// reads unchanged (a batch of read commands is read at once and answered before the reader
// waits anyway). 4 also gains at QD8 but loses 5-15 % at QD16-64 against 8 (more, smaller
// writes); 16 gains nothing at QD16.
constexpr size_t kResponsesPerBatch = 8;
using iscsi::pad4;

// Bytes a read command makes the LU allocate, as far as the transport can tell: the CDB's
// block count of READ (6/10/12/16) in 512-byte blocks (the smallest block size, so an LU with
// larger blocks allocates up to 8 times this), or the EDTL if larger; capped at the largest
// transfer an LU accepts (larger ones are refused by the LU before it allocates).
uint64_t read_buffer_estimate(const std::array<uint8_t, 260>& cdb, uint32_t edtl) {
  uint64_t blocks = 0;
  switch (cdb[0]) {
    case scsi::op::kRead6: blocks = cdb[4] ? cdb[4] : 256; break;
    case scsi::op::kRead10: blocks = iscsi::load_be16(&cdb[7]); break;
    case scsi::op::kRead12: blocks = iscsi::load_be32(&cdb[6]); break;
    case scsi::op::kRead16: blocks = iscsi::load_be32(&cdb[10]); break;
    default: break;
  }
  return std::min<uint64_t>(std::max<uint64_t>(edtl, blocks * 512), kMaxWriteBuffer);
}

// SAM-5 4.7: the 8-byte LUN field, peripheral (00b) and flat (01b) address methods; any
// other method maps to an impossible LUN, reported as LOGICAL UNIT NOT SUPPORTED.
uint64_t decode_lun(uint64_t field) {
  const uint8_t b0 = uint8_t(field >> 56), b1 = uint8_t(field >> 48);
  switch (b0 >> 6) {
    case 0: return b0 == 0 ? b1 : UINT64_MAX;
    case 1: return uint64_t(b0 & 0x3f) << 8 | b1;
    default: return UINT64_MAX;
  }
}

}  // namespace

Connection::Connection(Server& server, asio::ip::tcp::socket socket, uint16_t)
    : server_(server),
      socket_(std::move(socket)),
      strand_(asio::make_strand(socket_.get_executor())),
      nop_timer_(strand_),
      login_timer_(strand_),
      warn_log_(server.settings().warn_burst, std::chrono::seconds(server.settings().warn_interval_s)),
      drain_timer_(strand_) {
  boost::system::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  address_ = ec ? "?" : ep.address().to_string();
  peer_ = ec ? "?" : address_ + ":" + std::to_string(ep.port());
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  socket_.non_blocking(true, ec);  // read_fully reads without waiting while bytes are there
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
    self->drain_timer_.cancel();
    self->warn_log_.flush(log(), self->peer_);
    self->finish_session(why);
  });
}

// Ends the I_T nexus: the framework aborts what is still executing (silently), releases the
// nexus's SCSI-2 reservation and raises I_T NEXUS LOSS for this initiator port. On the strand;
// the first call does it (a logout, then the close that follows it).
void Connection::end_nexus(const std::string& why) {
  if (!nexus_) return;
  nexus_->set_end_reason(why);  // the session's accounting record says why
  server_.stmf().nexus_lost(nexus_);
  nexus_.reset();
}

void Connection::finish_session(const std::string& why) {
  writes_.clear();
  end_nexus(why);
  server_.remove_connection(this);
}

// ---------------------------------------------------------------- reading

// The reader reads what the peer has already sent with non-blocking reads on the strand instead
// of one asynchronous read per buffer: Asio posts even a read that completes at once through the
// scheduler (a queue, a strand, an epoll_wait round per PDU). Responses queued meanwhile (a
// command served inline answers at once) go out together, in one write, just before the reader
// waits for more bytes or yields: one sendmsg, and one wake-up of the initiator, for a batch of
// commands instead of one each (4 KiB QD32: docs/benchmark.md "Profile of the 4 KiB write").
awaitable<bool> Connection::read_fully(std::array<asio::mutable_buffer, 2> bufs) {
  // What an earlier read brought past the PDU it was for comes first.
  for (auto& b : bufs) {
    const size_t k = std::min(b.size(), rx_end_ - rx_begin_);
    if (k == 0) continue;
    std::memcpy(b.data(), rx_.get() + rx_begin_, k);
    rx_begin_ += k;
    b += k;
  }
  if (rx_begin_ == rx_end_) rx_begin_ = rx_end_ = 0;
  for (;;) {
    if (bufs[0].size() == 0 && bufs[1].size() == 0) co_return true;
    boost::system::error_code ec;
    if (!socket_empty_) {
      // The read-ahead is empty here (what it held went into bufs, which still want more):
      // the socket's bytes go into bufs first, whatever follows them into the read-ahead.
      if (!rx_) rx_ = std::make_unique<uint8_t[]>(kReadAhead);
      const std::array<asio::mutable_buffer, 3> iov{bufs[0], bufs[1], asio::buffer(rx_.get(), kReadAhead)};
      size_t n = socket_.read_some(iov, ec);
      if (!ec) {
        reader_running_ = true;
        // A short read took everything the socket had: the next one would find it empty, so
        // the reader waits instead of asking (one recvmsg per batch, not two).
        socket_empty_ = n < asio::buffer_size(iov);
        for (auto& b : bufs) {
          const size_t k = std::min(n, b.size());
          b += k;
          n -= k;
        }
        rx_end_ = n;  // past what was asked
        if (++reads_since_yield_ < kReadsBeforeYield) continue;
        reads_since_yield_ = 0;
        reader_running_ = false;
        flush_output();
        co_await asio::post(strand_, use_awaitable);
        reader_running_ = true;
        continue;
      }
      if (ec != asio::error::would_block && ec != asio::error::try_again) co_return false;
    }
    socket_empty_ = false;
    reads_since_yield_ = 0;
    reader_running_ = false;
    flush_output();
    rx_.reset();  // an idle connection holds no read-ahead
    co_await socket_.async_wait(asio::ip::tcp::socket::wait_read, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return false;
  }
}

awaitable<bool> Connection::read_exact(void* p, size_t n) {
  co_return co_await read_fully({asio::buffer(p, n), asio::mutable_buffer()});
}

// Reads a data segment of `len` bytes into dst, then padding and (if negotiated) the data
// digest; digest_ok tells whether the digest matched.
awaitable<bool> Connection::read_segment(uint8_t* dst, size_t len, bool& digest_ok) {
  digest_ok = true;
  if (len == 0) co_return true;
  uint8_t trailer[8];
  size_t tl = pad4(len) + (data_digest_ ? 4 : 0);
  if (!co_await read_fully({asio::buffer(dst, len), asio::buffer(trailer, tl)})) co_return false;
  if (data_digest_) {
    uint32_t crc = iscsi::crc32c(dst, len);
    crc = iscsi::crc32c_extend(crc, trailer, pad4(len));
    digest_ok = iscsi::digest_matches(crc, trailer + pad4(len));
  }
  co_return true;
}

awaitable<bool> Connection::skip_segment(size_t len) {
  if (len == 0) co_return true;
  size_t left = len + pad4(len) + (data_digest_ ? 4 : 0);
  std::array<uint8_t, kSkipBuffer> junk;
  while (left) {
    const size_t n = std::min(left, junk.size());
    if (!co_await read_exact(junk.data(), n)) co_return false;
    left -= n;
  }
  co_return true;
}

awaitable<void> Connection::wait_for_send_queue() {
  const uint64_t limit = server_.settings().send_queue_bytes;
  bool logged = false;
  while (queued_bytes_ > limit && phase_ != Phase::closed) {
    if (!logged) {
      log()->debug("{}: {} bytes of responses queued (send_queue_bytes {}): reading paused", peer_, queued_bytes_, limit);
      logged = true;
    }
    boost::system::error_code ec;
    reader_running_ = false;
    flush_output();  // the batch the reader queued: this wait ends when it is written
    if (queued_bytes_ <= limit || phase_ == Phase::closed) break;  // the socket took it at once
    drain_timer_.expires_at(std::chrono::steady_clock::time_point::max());
    co_await drain_timer_.async_wait(asio::redirect_error(use_awaitable, ec));
  }
}

namespace {
// Gives a data buffer's budget back when the last owner lets go.
struct BufferCharge {
  BufferCharge(std::shared_ptr<std::atomic<uint64_t>> s, Server* srv, uint64_t n)
      : session(std::move(s)), server(srv), bytes(n) {}
  BufferCharge(const BufferCharge&) = delete;
  BufferCharge& operator=(const BufferCharge&) = delete;
  std::shared_ptr<std::atomic<uint64_t>> session;
  Server* server;
  uint64_t bytes;
  ~BufferCharge() {
    session->fetch_sub(bytes);
    server->release_data_buffer(bytes);
  }
};
}  // namespace

std::shared_ptr<const void> Connection::charge_data_buffer(uint64_t bytes) {
  const auto& s = server_.settings();
  if (session_buffered_->load() + bytes > s.session_data_buffer) return nullptr;
  if (!server_.reserve_data_buffer(bytes)) return nullptr;
  session_buffered_->fetch_add(bytes);
  // Built in place (not copyable: a temporary would give the budget back at once).
  return std::make_shared<const BufferCharge>(session_buffered_, &server_, bytes);
}

awaitable<void> Connection::reader() {
  auto self = shared_from_this();
  const uint32_t max_recv = server_.settings().max_recv_data_segment_length;
  const uint64_t send_queue_limit = server_.settings().send_queue_bytes;
  while (phase_ != Phase::closed) {
    // Backpressure: a peer that does not read its responses stops being read. (Tested here so
    // that the common case costs no coroutine frame.)
    if (queued_bytes_ > send_queue_limit) co_await wait_for_send_queue();
    if (phase_ == Phase::closed) break;
    InPdu pdu;
    if (!co_await read_exact(pdu.bhs.data(), 48)) break;
    const size_t ahs_len = iscsi::bhs_total_ahs_length(pdu.bhs);
    const uint8_t opc = iscsi::bhs_opcode(pdu.bhs);
    const uint32_t dlen = iscsi::bhs_data_segment_length(pdu.bhs);
    if (phase_ == Phase::login && (opc != op::login_request || ahs_len != 0 || dlen > 8192)) {
      // Nothing to recover before a session exists (RFC 7143 6.11): drop the connection.
      warn("{}: {} during login (opcode 0x{:02x}, AHS {} bytes, data {} bytes)", peer_,
           opc != op::login_request ? "non-login PDU" : "malformed Login Request", opc, ahs_len, dlen);
      close("bad PDU during login");
      break;
    }
    if (ahs_len) {
      pdu.ahs.resize(ahs_len);
      if (!co_await read_exact(pdu.ahs.data(), ahs_len)) break;
    }
    if (header_digest_) {
      uint8_t d[4];
      if (!co_await read_exact(d, 4)) break;
      uint32_t crc = iscsi::crc32c(pdu.bhs.data(), 48);
      if (ahs_len) crc = iscsi::crc32c_extend(crc, pdu.ahs.data(), ahs_len);
      if (!iscsi::digest_matches(crc, d)) {
        // RFC 7143 7.8: a header digest error cannot be recovered at ERL 0.
        warn("{}: header digest error, opcode 0x{:02x} itt 0x{:08x}", peer_, iscsi::bhs_opcode(pdu.bhs),
             iscsi::bhs_itt(pdu.bhs));
        close("header digest error");
        break;
      }
    }
    const uint32_t limit = phase_ == Phase::login ? 8192 : max_recv;
    if (dlen > limit) {
      warn("{}: data segment {} exceeds MaxRecvDataSegmentLength {} (opcode 0x{:02x} itt 0x{:08x})", peer_, dlen,
           limit, opc, iscsi::bhs_itt(pdu.bhs));
      reject(pdu, iscsi::reject_reason::protocol_error);
      if (!co_await skip_segment(dlen)) break;
      continue;
    }

    if (phase_ == Phase::login) {
      pdu.data.resize(dlen);
      bool ok;
      if (!co_await read_segment(pdu.data.data(), dlen, ok)) break;
      if (!co_await on_login(pdu)) break;
      continue;
    }

    if (phase_ == Phase::closed) break;  // closed while this PDU's header was read
    if (!nexus_ && (opc == op::scsi_command || opc == op::data_out || opc == op::task_mgmt_request)) {
      // A discovery session has no I_T nexus: only Text, NOP and Logout (RFC 7143 4.3).
      warn("{}: opcode 0x{:02x} in a discovery session, itt 0x{:08x}", peer_, opc, iscsi::bhs_itt(pdu.bhs));
      reject(pdu, iscsi::reject_reason::protocol_error);
      if (!co_await skip_segment(dlen)) break;
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
          warn("{}: data digest error on opcode 0x{:02x} itt 0x{:08x}", peer_, opc, iscsi::bhs_itt(pdu.bhs));
          reject(pdu, iscsi::reject_reason::data_digest_error);
          break;
        }
        switch (opc) {
          case op::nop_out: on_nop_out(pdu); break;
          case op::text_request: on_text(pdu); break;
          case op::logout_request: on_logout(pdu); break;
          case op::task_mgmt_request: on_task_mgmt(pdu); break;
          case op::snack_request:
            warn("{}: SNACK at ERL 0, itt 0x{:08x}", peer_, iscsi::bhs_itt(pdu.bhs));
            reject(pdu, iscsi::reject_reason::command_not_supported);
            break;
          case op::login_request:
            warn("{}: Login Request in full feature phase", peer_);
            reject(pdu, iscsi::reject_reason::protocol_error);
            break;
          default:
            warn("{}: unknown opcode 0x{:02x} itt 0x{:08x}", peer_, opc, iscsi::bhs_itt(pdu.bhs));
            reject(pdu, iscsi::reject_reason::command_not_supported);
        }
      }
    }
    if (!keep || phase_ == Phase::closed) break;
  }
  close(phase_ == Phase::logout ? "logged out" : "connection ended");
}

// ---------------------------------------------------------------- writing

void Connection::send_pdu(const iscsi::Bhs& bhs, const uint8_t* data, size_t len, std::shared_ptr<const void> owner,
                          bool close_after) {
  if (phase_ == Phase::closed) return;
  OutPdu o;
  o.bhs = bhs;
  iscsi::set_data_segment_length(o.bhs, uint32_t(len));
  o.data = data;
  o.data_len = len;
  o.owner = std::move(owner);
  o.close_after = close_after;
  if (header_digest_) {
    iscsi::put_digest(iscsi::crc32c(o.bhs.data(), o.bhs.size()), o.header_digest.data());
    o.with_header_digest = true;
  }
  if (len) {
    const size_t p = pad4(len);
    o.trailer_len = p;
    if (data_digest_) {
      iscsi::put_digest(iscsi::data_digest(data, len), &o.trailer[p]);
      o.trailer_len += 4;
    }
  }
  queued_bytes_ += o.bhs.size() + o.data_len;
  outq_.push_back(std::move(o));
  if (writing_) return;  // the write in progress takes it next
  // A PDU that closes the connection (Logout Response) goes at once: the session ends as soon
  // as the initiator has its answer.
  if (close_after) return write_next();
  // Sent while the reader waits (a completion posted to the strand: the proxy's answers, the
  // store's asynchronous I/O, a NOP-In): the write is posted behind the handlers already
  // queued on the strand, so the answers of one burst (a carrier's batch of proxied
  // completions) go in one write instead of one each.
  if (!reader_running_) {
    if (!flush_posted_) {
      flush_posted_ = true;
      asio::post(strand_, [self = shared_from_this()] {
        self->flush_posted_ = false;
        self->flush_output();
      });
    }
    return;
  }
  // The reader is on bytes already received: it writes the batch before it next waits (every
  // suspension of the reader, read_fully and wait_for_send_queue, flushes first), or once the
  // batch is kResponsesPerBatch long.
  if (outq_.size() >= kResponsesPerBatch) return write_next();
}

void Connection::flush_output() {
  if (!writing_) write_next();
}

void Connection::write_next() {
  for (;;) {
    if (outq_.empty() || phase_ == Phase::closed) {
      writing_ = false;
      return;
    }
    writing_ = true;
    // Gather up to 64 queued PDUs into one write (one syscall for many responses).
    wbufs_.clear();
    inflight_pdus_ = 0;
    bool close_after = false;
    for (auto& o : outq_) {
      if (inflight_pdus_ == 64) break;
      ++inflight_pdus_;
      wbufs_.emplace_back(o.bhs.data(), o.bhs.size());
      if (o.with_header_digest) wbufs_.emplace_back(o.header_digest.data(), 4);
      if (o.data_len) wbufs_.emplace_back(o.data, o.data_len);
      if (o.trailer_len) wbufs_.emplace_back(o.trailer.data(), o.trailer_len);
      if (o.close_after) {
        close_after = true;
        break;
      }
    }
    // The batch goes to the socket at once, here, and when the socket takes all of it (the
    // usual case) it is done without an Asio operation: nothing is posted, so no completion
    // handler runs later and the event loop's next turn finds nothing queued but the sockets
    // (one non-blocking epoll_wait fewer per batch on an otherwise idle loop). What the socket
    // does not take, an error included, goes through async_write below, whose handler reports
    // it (a PDU that closes the connection always does: its close runs from that handler).
    if (!close_after) {
      const size_t sent = send_now();
      if (sent == asio::buffer_size(wbufs_)) {
        wrote_batch();
        continue;
      }
      drop_front(wbufs_, sent);
    }
    auto self = shared_from_this();
    asio::async_write(socket_, wbufs_, WriteAllAtOnce{}, asio::bind_executor(strand_, [self, close_after](boost::system::error_code ec, size_t) {
      self->wrote_batch();
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
    return;
  }
}

// sendmsg itself rather than socket_.send(): Asio hands the kernel at most 64 buffers per call
// (its iovec bound), and a batch of 64 Data-Ins with their data is 128 or more.
size_t Connection::send_now() {
  std::array<iovec, 256> iov;  // 64 PDUs of at most 4 pieces (header, digest, data, trailer)
  size_t n = 0;
  for (const auto& b : wbufs_) iov[n++] = {const_cast<void*>(b.data()), b.size()};
  msghdr msg{};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = n;
  const ssize_t r = ::sendmsg(socket_.native_handle(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  return r > 0 ? size_t(r) : 0;  // EAGAIN or an error: async_write meets it again
}

void Connection::drop_front(std::vector<asio::const_buffer>& bufs, size_t bytes) {
  size_t i = 0;
  while (i < bufs.size() && bytes >= bufs[i].size()) bytes -= bufs[i++].size();
  bufs.erase(bufs.begin(), bufs.begin() + std::ptrdiff_t(i));
  if (!bufs.empty()) bufs.front() += bytes;
}

void Connection::wrote_batch() {
  for (size_t i = 0; i < inflight_pdus_ && !outq_.empty(); ++i) {
    queued_bytes_ -= outq_.front().bhs.size() + outq_.front().data_len;
    outq_.pop_front();
  }
  inflight_pdus_ = 0;
  if (queued_bytes_ <= server_.settings().send_queue_bytes) drain_timer_.cancel();
}

iscsi::SnFields Connection::next_sn(bool advance_stat_sn) {
  iscsi::SnFields sn;
  sn.stat_sn = advance_stat_sn ? stat_sn_++ : stat_sn_;
  sn.exp_cmd_sn = window_.exp_cmd_sn();
  sn.max_cmd_sn = window_.max_cmd_sn();
  return sn;
}

void Connection::reject(const InPdu& pdu, uint8_t reason) {
  iscsi::RejectFields f;
  f.reason = reason;
  f.sn = next_sn(true);
  iscsi::Bhs h{};
  iscsi::build_reject(f, h);
  auto offending = std::make_shared<iscsi::Bhs>(pdu.bhs);
  send_pdu(h, offending->data(), offending->size(), offending);
}

// ---------------------------------------------------------------- CmdSN window

bool Connection::accept_cmd_sn(uint32_t cmd_sn, bool immediate) {
  switch (window_.accept(cmd_sn, immediate)) {
    case iscsi::CmdSnClass::immediate:
      ++immediate_running_;
      return true;
    case iscsi::CmdSnClass::in_order:
      return true;
    case iscsi::CmdSnClass::future:
      // One connection over TCP delivers in order; a gap here means the initiator skipped
      // a CmdSN, which at ERL 0 can never be filled. Treat it like an out-of-window command.
    case iscsi::CmdSnClass::out_of_window:
      break;
  }
  warn("{}: CmdSN {} outside window [{}, {}], ignored (RFC 7143 4.2.2.1)", peer_, cmd_sn, window_.exp_cmd_sn(),
       window_.max_cmd_sn());
  return false;
}

// ---------------------------------------------------------------- SCSI commands

awaitable<bool> Connection::on_scsi_command(InPdu& pdu) {
  iscsi::ScsiCommand cmd;
  if (auto err = iscsi::parse_scsi_command(pdu.bhs, pdu.ahs, cmd)) {
    warn("{}: malformed SCSI Command itt 0x{:08x}: {}", peer_, iscsi::bhs_itt(pdu.bhs), err->what);
    reject(pdu, err->reason);
    co_return co_await skip_segment(iscsi::bhs_data_segment_length(pdu.bhs));
  }
  const uint32_t dlen = cmd.data_segment_length;
  if (tasks_.count(cmd.itt)) {
    // RFC 7143 11.2.1.8: while a task exists its ITT names it session-wide. A command that
    // reuses the ITT of a task still in flight is rejected with "Invalid PDU field" (11.17.1:
    // the reason for an invalid ITT) before anything about it is recorded: the task in flight
    // is not touched (6.3: a Reject never ends another task) and the CmdSN is not taken as
    // received (6.3), so the initiator can plug the gap.
    warn("{}: itt 0x{:08x} already names a task in flight: command (opcode 0x{:02x}, CmdSN {}) rejected", peer_,
         cmd.itt, cmd.cdb[0], cmd.cmd_sn);
    reject(pdu, iscsi::reject_reason::invalid_pdu_field);
    co_return co_await skip_segment(dlen);
  }
  auto t = std::make_shared<IscsiTask>();
  t->conn = weak_from_this();
  t->nexus = nexus_;
  t->lun = decode_lun(cmd.lun);
  t->tag = cmd.itt;
  t->cmd_sn = cmd.cmd_sn;
  t->immediate = cmd.immediate;
  t->attribute = TaskAttribute(uint8_t(cmd.attr));
  t->expected_transfer_length = cmd.edtl;
  t->read_flag = cmd.read;
  t->write_flag = cmd.write;
  t->direction = cmd.read && cmd.write ? DataDirection::bidi
                 : cmd.read           ? DataDirection::in
                 : cmd.write          ? DataDirection::out
                                      : DataDirection::none;
  t->cdb_length = uint8_t(std::min<size_t>(cmd.cdb_length, t->cdb.size()));
  std::memcpy(t->cdb.data(), cmd.cdb.data(), t->cdb_length);

  // RFC 7143 4.2.2.1 / 11.17.1: immediate commands bypass the CmdSN window, so they have
  // their own limit; beyond it the command is rejected with "too many immediate commands"
  // (the initiator may send it again) and its data is discarded.
  const auto& limits = server_.settings();
  if (cmd.immediate && immediate_running_ >= limits.max_immediate_commands) {
    warn("{}: itt 0x{:08x}: {} immediate commands in flight (max_immediate_commands {}): rejected", peer_, cmd.itt,
         immediate_running_, limits.max_immediate_commands);
    reject(pdu, iscsi::reject_reason::immediate_command_reject);
    co_return co_await skip_segment(dlen);
  }
  // A write's buffer (its EDTL) and a read's (read_buffer_estimate) are charged in full
  // against the session's and the daemon's budgets before anything is allocated; the charge
  // lives as long as the task (for a read: until its Data-In is sent). Over budget the
  // command ends with TASK SET FULL (BUSY when the session has no other task: SAM-5 5.3) and
  // its data is discarded.
  std::optional<scsi::Status> over_budget;
  uint64_t charge = 0;
  if (cmd.write)
    charge = cmd.edtl <= kMaxWriteBuffer ? cmd.edtl : 0;  // larger: refused below without allocating
  else  // R bit or not: a READ CDB makes the LU read its blocks either way
    charge = read_buffer_estimate(cmd.cdb, cmd.edtl);
  if (charge > 0) {
    t->buffer_charge = charge_data_buffer(charge);
    if (!t->buffer_charge) over_budget = tasks_.empty() ? scsi::Status::busy : scsi::Status::task_set_full;
  }

  // Immediate data goes straight into the task's Data-Out buffer.
  if (dlen > 0) {
    auto bad = cmd.write ? iscsi::DataOutTracker::check_command(cmd.edtl, dlen, cmd.final, params_)
                         : std::optional(iscsi::DataOutError::immediate_data_not_allowed);
    if (bad) {
      warn("{}: itt 0x{:08x}: {} bytes of immediate data refused: {} (W={} EDTL={})", peer_, cmd.itt, dlen,
           iscsi::to_string(*bad), cmd.write, cmd.edtl);
      reject(pdu, iscsi::reject_reason::protocol_error);
      co_return co_await skip_segment(dlen);
    }
    if (over_budget) {
      if (!co_await skip_segment(dlen)) co_return false;
    }
    // Capacity for the whole transfer, but only the bytes received are touched (no copy
    // later: Data-Out PDUs extend the vector within this capacity).
    if (!over_budget) {
      // A large buffer comes from the pool (common/buffer_pool.h): reused memory, no fresh
      // pages to fault on.
      const size_t want = std::min(cmd.edtl, kMaxWriteBuffer);
      const bool pooled = want >= BufferPool::kMinCapacity / 2 && want <= BufferPool::kMaxCapacity;
      if (pooled) t->data_out = BufferPool::global().get(want);
      else t->data_out.reserve(want);
      t->data_out.resize(dlen);
    }
    bool ok = true;
    if (!over_budget && !co_await read_segment(t->data_out.data(), dlen, ok)) co_return false;
    if (!ok) {
      warn("{}: itt 0x{:08x}: data digest error on immediate data", peer_, cmd.itt);
      reject(pdu, iscsi::reject_reason::data_digest_error);
      // The data never arrived intact: the command cannot run (RFC 7143 7.8, ERL 0).
      if (accept_cmd_sn(cmd.cmd_sn, cmd.immediate)) {
        tasks_[cmd.itt] = t;
        fail_task(t, scsi::sense::protocol_service_crc_error);
      }
      co_return true;
    }
  }
  if (!accept_cmd_sn(cmd.cmd_sn, cmd.immediate)) co_return true;
  if (cmd.write && cmd.edtl > kMaxWriteBuffer) {
    // No LU accepts a transfer this large (VPD B0 MAXIMUM TRANSFER LENGTH is 32 MiB), and the
    // buffer would be allocated before the CDB is checked: refuse it without allocating.
    // Unsolicited Data-Out for this ITT is discarded as for any unknown task.
    warn("{}: itt 0x{:08x}: EDTL {} above the {}-byte write limit", peer_, cmd.itt, cmd.edtl, kMaxWriteBuffer);
    t->data_out.clear();
    tasks_[cmd.itt] = t;
    fail_task(t, scsi::sense::invalid_field_in_cdb);
    co_return true;
  }
  if (over_budget) {
    warn("{}: itt 0x{:08x}: {} of {} bytes over the data buffer budget (session {} of {}, daemon {} of {}): {}",
         peer_, cmd.itt, cmd.write ? "write" : "read", charge, session_buffered_->load(), limits.session_data_buffer,
         server_.data_buffered(), limits.total_data_buffer,
         *over_budget == scsi::Status::busy ? "BUSY" : "TASK SET FULL");
    t->data_out.clear();
    t->buffer_charge.reset();
    t->status = *over_budget;
    tasks_[cmd.itt] = t;
    complete_on_strand(t);
    co_return true;
  }
  tasks_[cmd.itt] = t;
  if (cmd.write && cmd.edtl > 0) {
    if (t->data_out.capacity() < cmd.edtl) t->data_out.reserve(cmd.edtl);
    PendingWrite pw;
    pw.task = t;
    pw.lun_field = cmd.lun;
    pw.tracker = iscsi::DataOutTracker(cmd.edtl, dlen, cmd.final, params_);
    if (pw.tracker.complete()) {
      submit(t);
    } else {
      auto& w = writes_[cmd.itt] = std::move(pw);
      send_r2ts(w);
    }
    co_return true;
  }
  submit(t);
  co_return true;
}

void Connection::send_r2ts(PendingWrite& w) {
  while (auto r = w.tracker.next_r2t(next_ttt_)) {
    if (++next_ttt_ == kReservedTag) next_ttt_ = 1;
    iscsi::R2t f;
    f.lun = w.lun_field;
    f.itt = w.task->tag;
    f.ttt = r->ttt;
    f.sn = next_sn(false);
    f.r2t_sn = r->r2t_sn;
    f.buffer_offset = r->buffer_offset;
    f.desired_length = r->desired_length;
    iscsi::Bhs h{};
    iscsi::build_r2t(f, h);
    send_pdu(h);
  }
}

awaitable<bool> Connection::on_data_out(InPdu& pdu) {
  iscsi::DataOut d;
  if (auto err = iscsi::parse_data_out(pdu.bhs, d)) {
    warn("{}: malformed Data-Out itt 0x{:08x}: {}", peer_, iscsi::bhs_itt(pdu.bhs), err->what);
    reject(pdu, err->reason);
    co_return co_await skip_segment(iscsi::bhs_data_segment_length(pdu.bhs));
  }
  auto it = writes_.find(d.itt);
  if (it == writes_.end()) {
    // A task that was aborted or never existed: discard its data (RFC 7143 11.7).
    log()->debug("{}: Data-Out for unknown itt 0x{:08x} discarded", peer_, d.itt);
    co_return co_await skip_segment(d.data_segment_length);
  }
  if (auto err = it->second.tracker.on_data_out(d.ttt, d.buffer_offset, d.data_segment_length, d.data_sn, d.final)) {
    warn("{}: itt 0x{:08x}: bad Data-Out (ttt 0x{:08x} offset {} length {} DataSN {}): {}", peer_, d.itt, d.ttt,
         d.buffer_offset, d.data_segment_length, d.data_sn, iscsi::to_string(*err));
    reject(pdu, iscsi::reject_reason::protocol_error);
    co_return co_await skip_segment(d.data_segment_length);
  }
  auto task = it->second.task;  // the map may change while we read
  // The tracker checked offset + length <= EDTL, the capacity reserved at the command: the
  // vector grows in place as data arrives.
  const size_t end = size_t(d.buffer_offset) + d.data_segment_length;
  if (task->data_out.size() < end) task->data_out.resize(end);
  bool ok;
  if (!co_await read_segment(task->data_out.data() + d.buffer_offset, d.data_segment_length, ok)) co_return false;
  it = writes_.find(d.itt);
  if (it == writes_.end() || it->second.task != task) co_return true;  // aborted meanwhile
  if (!ok) {
    warn("{}: itt 0x{:08x}: data digest error on Data-Out at offset {}", peer_, d.itt, d.buffer_offset);
    reject(pdu, iscsi::reject_reason::data_digest_error);
    it->second.failed = true;
  }
  if (it->second.tracker.complete()) {
    const bool failed = it->second.failed;
    writes_.erase(it);
    if (failed)
      fail_task(task, scsi::sense::protocol_service_crc_error);
    else
      submit(task);
  } else {
    send_r2ts(it->second);
  }
  co_return true;
}

void Connection::submit(const std::shared_ptr<IscsiTask>& t) {
  // A command whose data was still arriving when the connection closed (reset, session
  // reinstatement, shutdown) belongs to a nexus that is gone: it is dropped, never run.
  if (phase_ == Phase::closed || !nexus_) {
    tasks_.erase(t->tag);
    return;
  }
  server_.stmf().submit(t);
}

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
    if (it != self->tasks_.end() && it->second == task) {
      self->tasks_.erase(it);
      self->command_done(static_cast<const IscsiTask&>(*task).immediate);
    }
  });
}

void Connection::complete_on_strand(const TaskPtr& task) {
  auto it = tasks_.find(task->tag);
  if (it == tasks_.end() || it->second != task) return;  // aborted, or the connection reset
  auto t = it->second;
  tasks_.erase(it);
  command_done(t->immediate);
  if (phase_ == Phase::closed) return;

  // Residuals (RFC 7143 11.4.5.1): what the command moved (or wanted to) against the EDTL.
  const uint32_t edtl = t->expected_transfer_length;
  const bool good = t->status == scsi::Status::good;
  uint64_t xfer = 0;
  if (t->read_flag || !t->data_in.empty())
    xfer = t->data_in.size();
  else if (t->transfer_length >= 0)
    xfer = uint64_t(t->transfer_length);
  else
    xfer = t->data_out.size();
  // Overflow is a property of the command (it asked for more than the EDTL) and is reported
  // whatever the status, so an initiator whose write was refused for a short EDTL (INVALID
  // FIELD IN INFORMATION UNIT) learns by how much (11.4.5.1: residuals are valid with any
  // status). Otherwise a command that did not complete with GOOD moved no data.
  bool overflow = false, underflow = false;
  uint32_t residual = 0;
  if (xfer > edtl) {
    overflow = true;
    residual = uint32_t(std::min<uint64_t>(xfer - edtl, UINT32_MAX));
  } else if (!good && edtl > 0) {
    underflow = true;
    residual = edtl;
  } else if (xfer < edtl) {
    underflow = true;
    residual = edtl - uint32_t(xfer);
  }

  uint32_t data_sn = 0;
  const size_t send_len = t->read_flag && good ? std::min<size_t>(t->data_in.size(), edtl) : 0;
  if (send_len > 0) {
    iscsi::DataInSegmenter seg(uint32_t(send_len), params_.max_recv_data_segment_length, params_.max_burst_length);
    while (auto s = seg.next()) {
      iscsi::DataIn f;
      f.final = s->final;
      f.itt = t->tag;
      f.data_sn = data_sn++;
      f.buffer_offset = s->buffer_offset;
      if (s->last) {  // phase-collapsed status (RFC 7143 11.7.4)
        f.final = f.status = true;
        f.scsi_status = uint8_t(t->status);
        f.overflow = overflow;
        f.underflow = underflow;
        f.residual_count = residual;
      }
      f.sn = next_sn(f.status);
      f.data_segment_length = s->length;
      iscsi::Bhs h{};
      iscsi::build_data_in(f, h);
      send_pdu(h, t->data_in.data() + s->buffer_offset, s->length, t);
    }
    return;
  }
  iscsi::ScsiResponse r;
  r.itt = t->tag;
  r.status = uint8_t(t->status);
  r.overflow = overflow;
  r.underflow = underflow;
  r.residual_count = residual;
  r.exp_data_sn = data_sn;
  r.sn = next_sn(true);
  std::shared_ptr<std::vector<uint8_t>> seg;
  if (!t->sense.empty()) {
    seg = std::make_shared<std::vector<uint8_t>>(iscsi::sense_segment_length(t->sense.size()));
    iscsi::write_sense_segment(t->sense, seg->data());
    r.data_segment_length = uint32_t(seg->size());
  }
  iscsi::Bhs h{};
  iscsi::build_scsi_response(r, h);
  if (seg)
    send_pdu(h, seg->data(), seg->size(), seg);
  else
    send_pdu(h);
}

// ---------------------------------------------------------------- NOP, Text, Logout

void Connection::on_nop_out(InPdu& pdu) {
  iscsi::NopOut n;
  if (auto err = iscsi::parse_nop_out(pdu.bhs, n)) {
    warn("{}: malformed NOP-Out: {}", peer_, err->what);
    reject(pdu, err->reason);
    return;
  }
  if (n.itt == kReservedTag) {
    // The initiator's answer to our NOP-In ping (its TTT echoes ours).
    if (n.ttt != kReservedTag && n.ttt == nop_ttt_) nop_ttt_ = 0;
    return;
  }
  if (!accept_cmd_sn(n.cmd_sn, n.immediate)) return;
  command_done(n.immediate);
  iscsi::NopIn f;
  f.lun = n.lun;
  f.itt = n.itt;
  f.sn = next_sn(true);
  f.data_segment_length = uint32_t(pdu.data.size());
  iscsi::Bhs h{};
  iscsi::build_nop_in(f, h);
  auto data = std::make_shared<std::vector<uint8_t>>(std::move(pdu.data));
  send_pdu(h, data->data(), data->size(), data);
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
    // Target ping: NOP-In with a TTT and the reserved ITT; StatSN does not advance.
    self->nop_ttt_ = self->next_ttt_++;
    if (self->next_ttt_ == kReservedTag) self->next_ttt_ = 1;
    iscsi::NopIn f;
    f.ttt = self->nop_ttt_;
    f.sn = self->next_sn(false);
    iscsi::Bhs h{};
    iscsi::build_nop_in(f, h);
    self->send_pdu(h);
    self->start_nop_timer();
  });
}

void Connection::on_text(InPdu& pdu) {
  iscsi::TextRequest req;
  if (auto err = iscsi::parse_text_request(pdu.bhs, req)) {
    warn("{}: malformed Text Request: {}", peer_, err->what);
    reject(pdu, err->reason);
    return;
  }
  if (!accept_cmd_sn(req.cmd_sn, req.immediate)) return;
  command_done(req.immediate);
  std::string response;
  if (req.ttt != kReservedTag && req.ttt == text_ttt_) {
    response = std::move(text_pending_);  // the initiator asks for the rest of a long answer
  } else if (req.cont) {
    warn("{}: multi-PDU Text Request not supported, itt 0x{:08x}", peer_, req.itt);
    reject(pdu, iscsi::reject_reason::command_not_supported);
    return;
  } else {
    iscsi::TextKeys keys;
    if (auto err = iscsi::parse_text(pdu.data, keys)) {
      warn("{}: malformed Text Request itt 0x{:08x}: {}", peer_, req.itt, iscsi::to_string(*err));
      reject(pdu, iscsi::reject_reason::protocol_error);
      return;
    }
    for (auto& [k, v] : keys) {
      if (k == "SendTargets") {
        // RFC 7143 Appendix C: "All", empty (the session's own target), or an iSCSI name,
        // whose target is listed if it exists and this initiator may see it (an unknown name
        // gets an empty list). Any other value is not a SendTargets request at all: Reject, so
        // the initiator is not left waiting, and the session goes on.
        if (v != "All" && !v.empty() && !iscsi::well_formed_iscsi_name(v)) {
          warn("{}: SendTargets={} is neither All nor an iSCSI name, itt 0x{:08x}: rejected", peer_, v, req.itt);
          reject(pdu, iscsi::reject_reason::protocol_error);
          return;
        }
        const bool discovery = params_.session_type == iscsi::SessionType::discovery;
        for (auto* p : server_.targets()) {
          if (!discovery && p != port_) continue;
          if (!p->online() || !server_.service_online()) continue;
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
  iscsi::TextResponse f;
  f.itt = req.itt;
  f.lun = req.lun;
  std::shared_ptr<std::string> chunk;
  if (response.size() > max) {
    chunk = std::make_shared<std::string>(response.substr(0, max));
    text_pending_ = response.substr(max);
    text_ttt_ = next_ttt_++;
    if (next_ttt_ == kReservedTag) next_ttt_ = 1;
    f.final = false;
    f.cont = true;
    f.ttt = text_ttt_;
  } else {
    chunk = std::make_shared<std::string>(std::move(response));
    text_pending_.clear();
    text_ttt_ = kReservedTag;
  }
  f.sn = next_sn(true);
  f.data_segment_length = uint32_t(chunk->size());
  iscsi::Bhs h{};
  iscsi::build_text_response(f, h);
  send_pdu(h, reinterpret_cast<const uint8_t*>(chunk->data()), chunk->size(), chunk);
}

void Connection::on_logout(InPdu& pdu) {
  iscsi::LogoutRequest req;
  if (auto err = iscsi::parse_logout_request(pdu.bhs, req)) {
    warn("{}: malformed Logout Request: {}", peer_, err->what);
    reject(pdu, err->reason);
    return;
  }
  if (accept_cmd_sn(req.cmd_sn, req.immediate)) command_done(req.immediate);
  iscsi::LogoutResponse f;
  f.itt = req.itt;
  bool close_now = true;
  if (req.reason == iscsi::LogoutReason::remove_connection_for_recovery) {
    f.response = 2;  // connection recovery is not supported (ERL 0)
    close_now = false;
  } else if (req.reason == iscsi::LogoutReason::close_connection && req.cid != cid_) {
    f.response = 1;  // CID not found
    close_now = false;
  }
  log()->info("{}: logout (reason {}) by {} isid 0x{:012x}", peer_, int(req.reason), params_.initiator_name, isid_);
  f.sn = next_sn(true);
  iscsi::Bhs h{};
  iscsi::build_logout_response(f, h);
  if (close_now) {
    phase_ = Phase::logout;
    nop_timer_.cancel();
    // The Logout Response tells the initiator that the cleanup is complete (RFC 7143 11.15):
    // the session's tasks are ended and its SCSI-2 reservation released before it goes out, so
    // a command another initiator sends once this one has its response sees the nexus gone.
    end_nexus("logged out");
  }
  send_pdu(h, nullptr, 0, nullptr, close_now);
}

void Connection::request_logout(uint16_t time2wait_s) {
  auto self = shared_from_this();
  asio::dispatch(strand_, [self, time2wait_s] {
    if (self->phase_ != Phase::full_feature) {
      if (self->phase_ == Phase::login) self->close("shutting down");
      return;
    }
    iscsi::Bhs h{};
    iscsi::build_async_logout_request(self->next_sn(true), time2wait_s, h);
    self->send_pdu(h);
  });
}

// ---------------------------------------------------------------- task management

void Connection::on_task_mgmt(InPdu& pdu) {
  iscsi::TaskMgmtRequest req;
  if (auto err = iscsi::parse_task_mgmt_request(pdu.bhs, req)) {
    warn("{}: malformed Task Management Request: {}", peer_, err->what);
    reject(pdu, err->reason);
    return;
  }
  if (!accept_cmd_sn(req.cmd_sn, req.immediate)) return;
  const uint64_t lun = decode_lun(req.lun);
  const uint8_t function = req.function;

  auto respond = [self = shared_from_this(), itt = req.itt, function, immediate = req.immediate](TmfResponse r) {
    asio::dispatch(self->strand_, [self, itt, function, r, immediate] {
      self->command_done(immediate);
      iscsi::TmfResponseFields f;
      f.response = iscsi::TmfResponse(uint8_t(r));
      f.itt = itt;
      f.sn = self->next_sn(true);
      iscsi::Bhs h{};
      iscsi::build_tmf_response(f, h);
      // TARGET COLD RESET: respond, then drop the connection (RFC 7143 11.5.1).
      const bool cold = function == uint8_t(TmfFunction::target_cold_reset) && r == TmfResponse::function_complete;
      self->send_pdu(h, nullptr, 0, nullptr, cold);
    });
  };
  if (function < 1 || function > 8) {
    warn("{}: TMF function {} unknown", peer_, function);
    respond(TmfResponse::function_rejected);
    return;
  }
  TmfRequest core_req;
  core_req.function = TmfFunction(function);
  core_req.lun = lun;
  core_req.referenced_tag = req.referenced_task_tag;
  // Tasks still collecting Data-Out never reached the framework: end them here.
  auto drop_local = [&](auto pred) {
    for (auto it = writes_.begin(); it != writes_.end();) {
      if (pred(*it->second.task)) {
        tasks_.erase(it->first);
        command_done(it->second.task->immediate);
        it = writes_.erase(it);
      } else {
        ++it;
      }
    }
  };
  switch (core_req.function) {
    case TmfFunction::abort_task: {
      auto w = writes_.find(req.referenced_task_tag);
      if (w != writes_.end() && w->second.task->lun == lun) {
        tasks_.erase(w->first);
        command_done(w->second.task->immediate);
        writes_.erase(w);
        respond(TmfResponse::function_complete);
        return;
      }
      if (!tasks_.count(req.referenced_task_tag)) {
        // RFC 7143 11.5.1: the task is not here. If RefCmdSN is still inside the CmdSN window
        // and precedes the TMF (the command was never received), the abort is complete and
        // the CmdSN counts as received; otherwise (e.g. the task already completed) the task
        // does not exist.
        const bool in_window = iscsi::sn_ge(req.ref_cmd_sn, window_.exp_cmd_sn()) &&
                               iscsi::sn_le(req.ref_cmd_sn, window_.max_cmd_sn()) &&
                               iscsi::sn_lt(req.ref_cmd_sn, req.cmd_sn);
        respond(in_window ? TmfResponse::function_complete : TmfResponse::task_does_not_exist);
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
  server_.stmf().task_management(nexus_, core_req, respond);
}

// ---------------------------------------------------------------- login

namespace {
std::vector<iscsi::Digest> digests(const std::vector<std::string>& names) {
  std::vector<iscsi::Digest> v;
  for (auto& n : names)
    if (auto d = iscsi::parse_digest(n)) v.push_back(*d);
  return v;
}
}  // namespace

awaitable<bool> Connection::on_login(InPdu& pdu) {
  if (!login_) {
    const auto& s = server_.settings();
    login_config_.max_recv_data_segment_length = s.max_recv_data_segment_length;
    login_config_.max_burst_length = s.max_burst_length;
    login_config_.first_burst_length = s.first_burst_length;
    login_config_.max_outstanding_r2t = uint16_t(s.max_outstanding_r2t);
    login_config_.initial_r2t = s.initial_r2t;
    login_config_.immediate_data = s.immediate_data;
    login_config_.header_digests = digests(s.header_digest);
    login_config_.data_digests = digests(s.data_digest);
    login_config_.queue_depth = s.queue_depth;
    login_ = std::make_unique<iscsi::LoginStateMachine>(login_config_, static_cast<iscsi::LoginContext&>(*this));
  }
  auto r = login_->on_request(pdu.bhs, pdu.data);
  if (r.outcome == iscsi::LoginOutcome::failed) {
    warn("{}: login failed (status 0x{:04x} {}): {}", peer_, uint16_t(r.status), iscsi::to_string(r.status), r.reason);
    auto data = std::make_shared<std::string>(std::move(r.data));
    send_pdu(r.bhs, reinterpret_cast<const uint8_t*>(data->data()), data->size(), data, /*close_after=*/true);
    co_return true;
  }
  if (r.outcome == iscsi::LoginOutcome::complete) {
    params_ = login_->params();
    isid_ = params_.isid;
    cid_ = params_.cid;
    stat_sn_ = login_->next_stat_sn();
    window_ = iscsi::CmdWindow(login_->exp_cmd_sn(), server_.settings().queue_depth);
    if (params_.session_type == iscsi::SessionType::normal) port_ = server_.find_target(params_.target_name);
    tsih_ = server_.add_session(shared_from_this());
    login_time_ = std::chrono::system_clock::now();
    iscsi::set_login_tsih(r.bhs, tsih_);
    if (port_) {
      char isid_hex[13];
      std::snprintf(isid_hex, sizeof isid_hex, "%012llx", (unsigned long long)isid_);
      nexus_ = server_.stmf().create_nexus(*port_, params_.initiator_name, isid_hex);
      boost::system::error_code ec;
      const auto local = socket_.local_endpoint(ec);
      if (!ec)  // the portal the session came in through (its accounting records name it)
        nexus_->set_portal(local.address().is_v6() ? "[" + local.address().to_string() + "]:" + std::to_string(local.port())
                                                   : local.address().to_string() + ":" + std::to_string(local.port()));
    }
    phase_ = Phase::full_feature;
    login_timer_.cancel();
    log()->info("{}: {} session: {} isid 0x{:012x} tsih {} -> {} (HeaderDigest={} DataDigest={} MaxRecvDSL={} "
                "MaxBurst={} FirstBurst={} ImmediateData={} InitialR2T={}{})",
                peer_, params_.session_type == iscsi::SessionType::discovery ? "discovery" : "normal",
                params_.initiator_name, isid_, tsih_, params_.target_name, params_.header_digest, params_.data_digest,
                params_.max_recv_data_segment_length, params_.max_burst_length, params_.first_burst_length,
                params_.immediate_data, params_.initial_r2t, login_->authenticated_with_chap() ? ", CHAP" : "");
  }
  auto data = std::make_shared<std::string>(std::move(r.data));
  send_pdu(r.bhs, reinterpret_cast<const uint8_t*>(data->data()), data->size(), data);
  if (phase_ == Phase::full_feature) {
    // Digests start with the first PDU after the final Login Response (RFC 7143 13.1).
    header_digest_ = params_.header_digest;
    data_digest_ = params_.data_digest;
    start_nop_timer();
  }
  co_return true;
}

bool Connection::target_exists(std::string_view target) { return server_.find_target(std::string(target)) != nullptr; }

bool Connection::target_online(std::string_view target) {
  auto* p = server_.find_target(std::string(target));
  return p && p->online() && server_.service_online();
}

std::optional<iscsi::ChapSecret> Connection::chap_for(std::string_view target, std::string_view initiator) {
  const auto auth = server_.auth();
  if (target.empty()) return resolve_chap(*auth, nullptr, initiator);
  auto* p = server_.find_target(std::string(target));
  auto st = p ? p->settings() : nullptr;
  if (!st) return std::nullopt;
  return resolve_chap(*auth, st.get(), initiator);
}

bool Connection::initiator_allowed(std::string_view target, std::string_view initiator) {
  auto* p = server_.find_target(std::string(target));
  return p && p->initiator_allowed(std::string(initiator));
}

uint16_t Connection::tpgt(std::string_view target) {
  auto* p = server_.find_target(std::string(target));
  return p ? p->settings()->tpgt : 1;
}

std::string Connection::target_alias(std::string_view target) {
  auto* p = server_.find_target(std::string(target));
  return p ? p->settings()->alias : std::string();
}

iscsi::SessionDecision Connection::check_session(uint64_t isid, uint16_t tsih, std::string_view initiator,
                                                 std::string_view target, iscsi::SessionType) {
  // One connection per session (MaxConnections=1): a login naming a live TSIH would add a
  // second connection; one naming an unknown TSIH has nothing to join. TSIH 0 is a new
  // session; Server::add_session() reinstates an older one of the same initiator port.
  if (tsih == 0) {
    // max_sessions_per_initiator: one InitiatorName may not take every connection slot.
    // Refused with 02/06 "too many connections" (RFC 7143 11.13.5), before authentication.
    const auto cap = server_.settings().max_sessions_per_initiator;
    const auto n = server_.claim_initiator(this, std::string(initiator), isid, std::string(target));
    if (n > 0) {
      server_.warn_refused("{}: login refused: {} already has {} session(s) (max_sessions_per_initiator {})", peer_,
                           initiator, n, cap);
      return iscsi::SessionDecision::too_many_connections;
    }
    return iscsi::SessionDecision::ok;
  }
  return server_.session_exists(tsih) ? iscsi::SessionDecision::too_many_connections
                                      : iscsi::SessionDecision::session_does_not_exist;
}

}  // namespace stmf::transport
