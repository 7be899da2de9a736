#include "proxy/door_carrier.h"

#include <poll.h>

#include <future>

#include <boost/asio.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <cstring>
#include <deque>
#include <mutex>
#include <system_error>
#include <unistd.h>

#include "common/byte_order.h"
#include "common/write_all.h"
#include "core/log.h"
#include "proxy/codec.h"
#include "proxy/messages.h"

namespace stmf::proxy {

namespace asio = boost::asio;
using stream_protocol = asio::local::stream_protocol;

namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = stmf::logger("proxy");
  return l;
}

// One write gathers at most this much (2 buffers per frame; Asio issues writev in chunks).
constexpr size_t kMaxFramesPerWrite = 256;
constexpr size_t kMaxBytesPerWrite = 8u << 20;

// What a door call carried, for the log line when its result is a failure.
struct CallInfo {
  bool has_header = false;
  uint8_t type = 0;
  uint64_t msg_id = 0;
  size_t size = 0;
};

CallInfo call_info(const std::vector<uint8_t>& frame) {
  CallInfo c;
  c.size = frame.size();
  if (frame.size() >= kHeaderSize) {
    c.has_header = true;
    c.type = frame[5];
    for (size_t i = 0; i < 8; ++i) c.msg_id = c.msg_id << 8 | frame[6 + i];
  }
  return c;
}

std::string describe_call(const CallInfo& c) {
  if (!c.has_header) return fmt::format("a {}-byte frame without a header", c.size);
  return fmt::format("message type {} ({}) msg_id {}", unsigned(c.type), to_string(MsgType(c.type)), c.msg_id);
}

}  // namespace

struct DoorCarrier::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::any_io_executor ex, int fd)
      : strand(asio::make_strand(std::move(ex))), socket(strand), fd_number(fd) {
    if (fd < 0) {
      assign_error = asio::error::bad_descriptor;
      return;
    }
    socket.assign(stream_protocol(), fd, assign_error);
    if (assign_error) ::close(fd);  // ours either way
  }

  // --- strand ---
  void on_start(Handler h);
  void write_next();
  asio::awaitable<void> reader();
  bool on_result(uint32_t result);
  void emit_frame(std::vector<uint8_t> frame);
  void fail(const std::string& why, bool logged = false);
  void stop_io();

  asio::strand<asio::any_io_executor> strand;
  stream_protocol::socket socket;
  const int fd_number;
  boost::system::error_code assign_error;

  // Callbacks. `closed` flips under cb_mu; callbacks run under cb_mu (recursive: a callback
  // may call close()), so once close() returned none runs.
  std::recursive_mutex cb_mu;
  std::atomic<bool> closed{false};
  Handler handler;  // set and cleared on the strand, under cb_mu

  // Strand state.
  bool started = false;
  bool down = false;        // failed: on_down sent (or suppressed by close())
  bool io_stopped = false;  // socket closed (failure or close())
  std::vector<std::vector<uint8_t>> early_frames;  // delivered before start()

  // Outgoing queue, filled by send() from any thread.
  std::mutex q_mu;
  std::deque<std::vector<uint8_t>> queue;  // q_mu
  bool write_active = false;               // q_mu: write_next() is scheduled or a write in flight
  bool q_open = false;                     // q_mu: started and not stopped
  bool q_dead = false;                     // q_mu: stopped; send() drops

  // Writer (strand).
  std::vector<std::vector<uint8_t>> inflight;
  std::vector<std::array<uint8_t, 4>> sizes;
  std::vector<asio::const_buffer> bufs;
  // Calls written (or being written) whose result has not arrived yet, oldest first.
  std::deque<CallInfo> pending;
};

void DoorCarrier::Impl::on_start(Handler h) {
  if (closed || down) return;
  if (started) {
    // The link above starts over on the same door (ALUA re-initialized while the link was
    // down): the new handler gets what arrives from now on; calls and results go on as before.
    std::lock_guard lk(cb_mu);
    handler = std::move(h);
    log()->debug("door fd {}: carrier restarted with a new handler", fd_number);
    return;
  }
  started = true;
  {
    std::lock_guard lk(cb_mu);
    handler = std::move(h);
  }
  if (assign_error) {
    fail(fmt::format("door fd {} unusable: {}", fd_number, assign_error.message()));
    return;
  }
  log()->debug("door fd {}: carrier started", fd_number);
  asio::co_spawn(strand, [self = shared_from_this()]() { return self->reader(); }, asio::detached);
  auto frames = std::move(early_frames);
  early_frames.clear();
  for (auto& f : frames) emit_frame(std::move(f));
  bool kick = false;
  {
    std::lock_guard lk(q_mu);
    if (!q_dead) {
      q_open = true;
      if (!queue.empty() && !write_active) kick = write_active = true;
    }
  }
  if (kick) write_next();
}

void DoorCarrier::Impl::write_next() {
  {
    std::lock_guard lk(q_mu);
    if (io_stopped || queue.empty()) {
      write_active = false;
      return;
    }
    size_t bytes = 0;
    while (!queue.empty() && inflight.size() < kMaxFramesPerWrite && (inflight.empty() || bytes < kMaxBytesPerWrite)) {
      bytes += queue.front().size();
      inflight.push_back(std::move(queue.front()));
      queue.pop_front();
    }
  }
  sizes.resize(inflight.size());
  bufs.clear();
  for (size_t i = 0; i < inflight.size(); ++i) {
    const auto& f = inflight[i];
    if (f.size() > UINT32_MAX) {
      const size_t size = f.size();
      inflight.clear();
      fail(fmt::format("door call of {} bytes is too large", size));
      return;
    }
    put_be32(sizes[i].data(), uint32_t(f.size()));
    bufs.push_back(asio::buffer(sizes[i]));
    if (!f.empty()) bufs.push_back(asio::buffer(f));
    pending.push_back(call_info(f));
  }
  asio::async_write(socket, bufs, WriteAllAtOnce{},
                    asio::bind_executor(strand, [self = shared_from_this()](boost::system::error_code ec, size_t) {
                      self->inflight.clear();
                      if (self->io_stopped) return;  // close() or failure: write_next() is over
                      if (ec) {
                        self->fail(fmt::format("door write failed: {}", ec.message()));
                        return;
                      }
                      self->write_next();
                    }));
}

asio::awaitable<void> DoorCarrier::Impl::reader() {
  auto self = shared_from_this();  // keeps the state alive while the coroutine waits
  std::array<uint8_t, 4096> buf;   // results are 4 bytes: keep a partial one at the front
  size_t have = 0;
  for (;;) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(buf.data() + have, buf.size() - have),
                                                   asio::as_tuple(asio::use_awaitable));
    if (io_stopped) co_return;
    if (ec) {
      fail(ec == asio::error::eof ? std::string("the relay closed the door") : "door read failed: " + ec.message());
      co_return;
    }
    have += n;
    size_t off = 0;
    for (; have - off >= 4; off += 4)
      if (!on_result(get_be32(buf.data() + off))) co_return;
    std::memmove(buf.data(), buf.data() + off, have - off);
    have -= off;
  }
}

bool DoorCarrier::Impl::on_result(uint32_t result) {
  if (pending.empty()) {
    log()->error("door fd {}: the relay answered a door call that was not made (result {}), carrier down", fd_number,
                 result);
    fail(fmt::format("door protocol error: result {} without a call", result), true);
    return false;
  }
  CallInfo call = pending.front();
  pending.pop_front();
  if (result == 0) return true;
  const std::string what = describe_call(call);
  const std::string reason = std::system_category().message(int(result));
  log()->error("door fd {}: door call for {} failed: result {} ({}); the proxy message is lost", fd_number, what,
               result, reason);
  std::lock_guard lk(cb_mu);
  if (closed || down || !handler.on_message_lost) return true;
  handler.on_message_lost(fmt::format("door call for {} failed: result {} ({})", what, result, reason));
  return true;
}

void DoorCarrier::Impl::emit_frame(std::vector<uint8_t> frame) {
  if (closed || down) return;
  if (!started) {
    early_frames.push_back(std::move(frame));
    return;
  }
  std::lock_guard lk(cb_mu);
  if (closed || !handler.on_frame) return;
  auto& cb = handler.on_frame;  // cleared only by a handler posted after close(): stays valid here
  cb(std::move(frame));
}

void DoorCarrier::Impl::fail(const std::string& why, bool logged) {
  if (down || io_stopped) return;
  down = true;
  stop_io();
  std::lock_guard lk(cb_mu);
  if (closed) return;
  if (!logged) log()->warn("door fd {}: carrier down: {}", fd_number, why);
  auto cb = std::move(handler.on_down);  // at most once
  handler.on_down = nullptr;
  if (cb) cb(why);
}

void DoorCarrier::Impl::stop_io() {
  if (io_stopped) return;
  io_stopped = true;
  boost::system::error_code ec;
  socket.close(ec);  // pending reads and writes complete with operation_aborted
  pending.clear();
  early_frames.clear();
  std::lock_guard lk(q_mu);
  q_dead = true;
  q_open = false;
  queue.clear();
}

// ---------------------------------------------------------------------------------------------

DoorCarrier::DoorCarrier(asio::any_io_executor ex, int fd) : impl_(std::make_shared<Impl>(std::move(ex), fd)) {}

DoorCarrier::~DoorCarrier() { close(); }

void DoorCarrier::start(Handler h) {
  asio::post(impl_->strand, [self = impl_, h = std::move(h)]() mutable { self->on_start(std::move(h)); });
}

void DoorCarrier::send(std::vector<uint8_t> frame) {
  bool kick = false;
  {
    std::lock_guard lk(impl_->q_mu);
    if (impl_->q_dead || impl_->closed) return;
    impl_->queue.push_back(std::move(frame));
    if (impl_->q_open && !impl_->write_active) kick = impl_->write_active = true;
  }
  if (kick) asio::post(impl_->strand, [self = impl_] { self->write_next(); });
}

void DoorCarrier::deliver(std::vector<uint8_t> frame) {
  if (impl_->closed) return;
  asio::post(impl_->strand, [self = impl_, f = std::move(frame)]() mutable { self->emit_frame(std::move(f)); });
}

bool DoorCarrier::hung_up() {
  if (impl_->closed) return true;
  auto answer = std::make_shared<std::promise<bool>>();
  auto result = answer->get_future();
  asio::post(impl_->strand, [self = impl_, answer] {
    if (self->down || self->io_stopped || self->closed) return answer->set_value(true);
    pollfd p{self->socket.native_handle(), POLLRDHUP, 0};
    answer->set_value(::poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL)) != 0);
  });
  if (result.wait_for(std::chrono::milliseconds(200)) != std::future_status::ready) return false;
  return result.get();
}

void DoorCarrier::close() {
  {
    std::lock_guard lk(impl_->cb_mu);  // waits for a callback running on another thread
    if (impl_->closed.exchange(true)) return;
  }
  {
    std::lock_guard lk(impl_->q_mu);
    impl_->q_dead = true;
    impl_->queue.clear();
  }
  log()->debug("door fd {}: carrier closed", impl_->fd_number);
  // Close the descriptor on the strand (inline when already there), and release the handler
  // (which may own whoever owns this carrier) after any callback running now has returned.
  asio::dispatch(impl_->strand, [self = impl_] { self->stop_io(); });
  asio::post(impl_->strand, [self = impl_] {
    std::lock_guard lk(self->cb_mu);
    self->handler = {};
  });
}

std::string DoorCarrier::describe() const { return fmt::format("door fd {}", impl_->fd_number); }

}  // namespace stmf::proxy
