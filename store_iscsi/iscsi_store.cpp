// The iscsi backing store (iscsi_store.h).
//
// Threading: everything that touches the libiscsi context runs on one strand of the daemon's
// io_context. read()/write()/flush()/unmap() may be called on any thread: they post the
// operation to the strand. The context's socket is wrapped in a posix::stream_descriptor and
// waited on with async_wait (read and/or write readiness, as iscsi_which_events() asks), then
// iscsi_service() runs on the strand. No thread per command, no blocking call on the I/O path:
// only make_iscsi_store() (on the management thread, at LU creation) waits, bounded by
// connect_timeout, for the first login and the probe.
//
// Queueing: at most queue_depth commands are on the backend; later ones wait in a FIFO of at
// most queue_limit entries; beyond it a command is refused at once (EBUSY: the block LU
// answers ABORTED COMMAND, INSUFFICIENT RESOURCES, which initiators retry). Commands larger
// than the backend's Block Limits are sent as consecutive pieces.
//
// Connection loss (a transport error, a backend command timing out after command_timeout_s, a
// failed login): the context is destroyed, the commands it carried go back to the head of the
// queue, and a fresh context connects after a back-off (reconnect_min doubling up to
// reconnect_max). A command is sent at most retry.max_attempts times and waits at most
// retry.max_wait from its arrival; then it fails with ENOTCONN (NOT READY, BECOMING READY).
// While the connection is down ready() is false (TEST UNIT READY answers NOT READY); once it
// has been down longer than retry.max_wait, new commands fail at once instead of waiting.
// Resending a write that may already have reached the backend is safe: the front still holds
// its data and nothing acknowledged it yet; the block LU's range lock keeps overlapping writes
// from being reordered.
//
// Fencing (o.fence_key set, docs/failover.md "Fencing at the storage"): after every connect the
// fence sequence runs before any command is dispatched: READ KEYS, READ RESERVATION, then
// (fence.h decide_on_connect) REGISTER AND IGNORE EXISTING KEY (APTPL) and RESERVE (Write
// Exclusive - Registrants Only) when the LUN is not reserved; all through this store's own
// session, the nexus that writes (its ISID is derived from the initiator name, so a reconnect
// is the same I_T nexus). RESERVATION CONFLICT on any command, or a failed check, fences the
// store: the session is closed at once, every command on it or waiting fails (fenced_error),
// no reconnection follows, on_fenced runs. A unit attention saying reservations or
// registrations were preempted or released (2A/03..05) pauses dispatching and runs the check
// again, so an idle owner notices within its idle probe.
#include "store_iscsi/iscsi_store.h"

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <poll.h>

#include <cstdio>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <deque>
#include <mutex>
#include <optional>
#include <unordered_set>
#include <vector>

#include "core/store/store_log.h"
#include "store_iscsi/fence.h"

namespace stmf::iscsistore {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

static_assert(status::good == SCSI_STATUS_GOOD && status::check_condition == SCSI_STATUS_CHECK_CONDITION &&
              status::busy == SCSI_STATUS_BUSY && status::reservation_conflict == SCSI_STATUS_RESERVATION_CONFLICT &&
              status::task_set_full == SCSI_STATUS_TASK_SET_FULL && status::task_aborted == SCSI_STATUS_TASK_ABORTED &&
              status::cancelled == SCSI_STATUS_CANCELLED && status::error == SCSI_STATUS_ERROR &&
              status::timeout == SCSI_STATUS_TIMEOUT);

namespace {

constexpr milliseconds kTick{250};              // libiscsi timeouts, queue expiry, reconnect
constexpr int kServiceRounds = 16;              // iscsi_service() rounds per readiness wake-up
constexpr uint32_t kDefaultMaxTransferBlocks = 2048;  // when the backend reports no limit (1 MiB at 512)
constexpr int kVpdAllocation = 255;
// An idle connection is probed with TEST UNIT READY after this long without an answer from the
// backend, so that a backend that hangs while nothing is sent (its TCP connection still open)
// is noticed within kIdleProbe + command_timeout_s and TEST UNIT READY on the LU says so.
constexpr milliseconds kIdleProbe{5000};
// The fencing store's ISID: its random-format qualifier (libmhd derives its own ISIDs from the
// initiator name alone, so a control handle under the same name is another nexus).
constexpr uint32_t kFenceIsidQualifier = 0x5354;  // "ST"
constexpr uint8_t kAscReservationsChanged = 0x2a;  // 2A/03 RESERVATIONS PREEMPTED .. 2A/05 REGISTRATIONS PREEMPTED
constexpr uint8_t kAscqReservationsPreempted = 0x03, kAscqRegistrationsPreempted = 0x05;
constexpr int kFenceStepAttempts = 5;  // a fence step answered with a unit attention is sent again
// Commands on the SAN and no answer for this long: check the key again. PREEMPT AND ABORT
// aborts the preempted nexus's commands without an answer (TAS=0), and the unit attention that
// says so comes only with a next command, which a writer waiting for its answer never sends.
constexpr milliseconds kFenceStall{1000};

// Of the initiator name and the key: the two nodes of a pair may share the LU's initiator name
// (the standby takes the owner's properties over) but never a nexus.
uint32_t stable_isid(const std::string& initiator, uint64_t key) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : "iscsi-store:" + initiator + "/" + std::to_string(key)) h = (h ^ c) * 1099511628211ull;
  return uint32_t(h & 0xffffff);
}

auto& log() { return store::log(); }

// Creates a context configured from the options (no connection yet).
iscsi_context* new_context(const IscsiStoreOptions& o, const iscsi_url& u, std::string& why) {
  iscsi_context* c = iscsi_create_context(o.initiator.c_str());
  if (!c) {
    why = "cannot create an iSCSI context";
    return nullptr;
  }
  iscsi_set_targetname(c, u.target);
  iscsi_set_session_type(c, ISCSI_SESSION_NORMAL);
  iscsi_set_header_digest(c, o.header_digest ? ISCSI_HEADER_DIGEST_CRC32C : ISCSI_HEADER_DIGEST_NONE);
  iscsi_set_noautoreconnect(c, 1);  // reconnection is ours (fresh context, back-off, bounded retries)
  if (o.fence_key) iscsi_set_isid_random(c, stable_isid(o.initiator, o.fence_key), kFenceIsidQualifier);  // one nexus: its registration
  iscsi_set_timeout(c, int(o.command_timeout_s));
  if (!o.chap_user.empty() && iscsi_set_initiator_username_pwd(c, o.chap_user.c_str(), o.chap_secret.c_str())) {
    why = std::string("CHAP: ") + iscsi_get_error(c);
    iscsi_destroy_context(c);
    return nullptr;
  }
  return c;
}

// make_iscsi_store's synchronous part: runs one asynchronous step to completion with poll(),
// bounded by the deadline.
struct SyncStep {
  bool finished = false;
  int status = 0;
  scsi_task* task = nullptr;
  std::string error;  // libiscsi's message when the step ended (later calls overwrite it)
  static void cb(iscsi_context* c, int status, void* command_data, void* private_data) {
    auto* s = static_cast<SyncStep*>(private_data);
    s->finished = true;
    s->status = status;
    s->task = static_cast<scsi_task*>(command_data);
    if (status != SCSI_STATUS_GOOD) s->error = iscsi_get_error(c);
  }
};

bool run_until(iscsi_context* c, SyncStep& s, Clock::time_point deadline) {
  while (!s.finished) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{iscsi_get_fd(c), short(iscsi_which_events(c)), 0};
    int n = ::poll(&p, 1, int(std::min<long long>(left, kTick.count())));
    if (n < 0 && errno != EINTR) return false;
    if (iscsi_service(c, n > 0 ? p.revents : 0) < 0) return false;
  }
  return true;
}

struct Op {
  enum Kind { read, write, flush, unmap } kind = read;
  uint64_t lba = 0, blocks = 0;  // what is left to do
  uint8_t* buf = nullptr;        // read/write: where the next piece's bytes are
  bool fua = false;
  store::Completion done;
  Clock::time_point arrived;
  unsigned attempts = 0;  // sends that a connection loss interrupted, plus the current one
  uint32_t piece = 0;     // blocks in the piece on the backend now
  scsi_task* task = nullptr;
  scsi_iovec iov{};
  unmap_list range{};
};

class Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& io, IscsiStoreOptions o, iscsi_url url, BackendInfo info, uint64_t size)
      : o_(std::move(o)), url_(url), info_(info), size_(size), strand_(asio::make_strand(io)), tick_(strand_),
        zero_(info.block_size, 0), backoff_(o_.reconnect_min) {}

  ~Impl() { drop_context(); }

  // Adopts the probe's logged-in context and starts serving (on the strand).
  void start(iscsi_context* c) {
    asio::post(strand_, [self = shared_from_this(), c] {
      self->ctx_ = c;
      self->connected_ = true;
      self->last_heard_ = Clock::now();
      self->wrap_fd();
      if (self->key_) self->begin_fence();
      self->after_service();
      self->schedule_tick();
    });
  }

  void stop() {
    asio::post(strand_, [self = shared_from_this()] {
      self->stopped_ = true;
      self->tick_.cancel();
      self->drop_context();
      self->drain_inbox();  // enqueue() refuses them: stopped
      self->fail_all(std::make_error_code(std::errc::not_connected));
    });
  }

  // Any thread: the op joins the inbox; the first op of a burst posts one drain to the strand,
  // which queues the whole burst and sends it with one round of socket writes.
  void submit(Op* op) {
    op->arrived = Clock::now();
    bool first;
    {
      std::lock_guard lk(inbox_mu_);
      first = inbox_.empty();
      inbox_.push_back(op);
    }
    if (first) asio::post(strand_, [self = shared_from_this()] { self->drain_inbox(); });
  }

  bool ready() const { return ready_.load(std::memory_order_relaxed) && !fenced_.load(std::memory_order_relaxed); }
  const BackendInfo& info() const { return info_; }
  uint64_t size() const { return size_; }
  const IscsiStoreOptions& options() const { return o_; }

 private:
  void drain_inbox() {
    std::vector<Op*> burst;
    {
      std::lock_guard lk(inbox_mu_);
      burst.swap(inbox_);
    }
    // Each op goes to the backend as soon as there is room: queue_limit bounds the ops that
    // truly wait, also when a burst arrives at once (a connection's reader serves every
    // command already received before it yields).
    for (Op* op : burst) {
      enqueue(op);
      dispatch();
    }
    flush_out();
    arm();
  }

  void enqueue(Op* op) {
    if (stopped_) return complete(op, std::make_error_code(std::errc::not_connected));
    if (fenced_) return complete(op, store::fenced_error());
    // Down longer than a command may wait: the backend is unreachable, answer at once.
    if (!connected_ && Clock::now() - down_since_ >= o_.retry.max_wait)
      return complete(op, std::make_error_code(std::errc::not_connected));
    if (waiting_.size() >= o_.queue_limit) {
      if (Clock::now() - last_full_log_ > std::chrono::seconds(10)) {
        last_full_log_ = Clock::now();
        log()->warn("{}: {} commands already wait for the backend (queue_limit): refusing more", name(), waiting_.size());
      }
      return complete(op, std::make_error_code(std::errc::device_or_resource_busy));
    }
    waiting_.push_back(op);
  }

  void dispatch() {
    while (connected_ && ctx_ && (!key_ || fence_ready_) && !fenced_ && !waiting_.empty() &&
           in_flight_.size() < o_.queue_depth) {
      Op* op = waiting_.front();
      waiting_.pop_front();
      if (!send(op)) return;
    }
  }

  // Sends the op's next piece. False when the context refused it (then the connection is dropped).
  bool send(Op* op) {
    const uint32_t bs = info_.block_size;
    scsi_task* t = nullptr;
    auto cap = [](uint64_t n, uint64_t limit) { return uint32_t(std::min<uint64_t>({n, limit ? limit : UINT32_MAX, UINT32_MAX})); };
    switch (op->kind) {
      case Op::read:
      case Op::write: {
        op->piece = cap(op->blocks, info_.max_transfer_blocks ? info_.max_transfer_blocks : kDefaultMaxTransferBlocks);
        op->iov = {op->buf, size_t(op->piece) * bs};
        if (op->kind == Op::read)
          t = iscsi_read16_iov_task(ctx_, url_.lun, op->lba, op->piece * bs, int(bs), 0, 0, 0, 0, 0, on_done, this, &op->iov, 1);
        else
          t = iscsi_write16_iov_task(ctx_, url_.lun, op->lba, nullptr, op->piece * bs, int(bs), 0, 0, op->fua, 0, 0, on_done,
                                     this, &op->iov, 1);
        break;
      }
      case Op::flush:
        t = iscsi_synchronizecache16_task(ctx_, url_.lun, 0, 0, 0, 0, on_done, this);
        break;
      case Op::unmap:
        switch (unmap_method(info_)) {
          case UnmapMethod::unmap:
            op->piece = cap(op->blocks, info_.max_unmap_blocks);
            op->range = {op->lba, op->piece};
            t = iscsi_unmap_task(ctx_, url_.lun, 0, 0, &op->range, 1, on_done, this);
            break;
          case UnmapMethod::write_same_unmap:
          case UnmapMethod::write_same_zero:
            op->piece = cap(op->blocks, info_.max_write_same_blocks);
            t = iscsi_writesame16_task(ctx_, url_.lun, op->lba, zero_.data(), bs, op->piece, 0,
                                       unmap_method(info_) == UnmapMethod::write_same_unmap, 0, 0, on_done, this);
            break;
        }
        break;
    }
    ++op->attempts;
    if (!t) {
      waiting_.push_front(op);
      lost(std::string("cannot queue a command: ") + iscsi_get_error(ctx_));
      return false;
    }
    scsi_set_task_private_ptr(t, op);
    op->task = t;
    in_flight_.insert(op);
    return true;
  }

  static void on_done(iscsi_context*, int status, void* command_data, void* private_data) {
    auto* t = static_cast<scsi_task*>(command_data);
    auto* self = static_cast<Impl*>(private_data);
    auto* op = t ? static_cast<Op*>(scsi_get_task_private_ptr(t)) : nullptr;
    if (!op || !self->in_flight_.count(op)) {  // requeued by a connection loss: the context is going
      if (t) scsi_free_scsi_task(t);
      return;
    }
    self->finished(op, status, t);
  }

  void finished(Op* op, int status, scsi_task* t) {
    if (status != SCSI_STATUS_TIMEOUT && status != SCSI_STATUS_ERROR && status != SCSI_STATUS_CANCELLED)
      last_heard_ = Clock::now();
    in_flight_.erase(op);
    op->task = nullptr;
    if (key_ && status == SCSI_STATUS_RESERVATION_CONFLICT) {
      scsi_free_scsi_task(t);
      mark_fenced(std::string(op->kind == Op::write ? "a WRITE" : op->kind == Op::flush ? "a SYNCHRONIZE CACHE"
                              : op->kind == Op::read ? "a READ" : "an UNMAP") +
                  " got RESERVATION CONFLICT from the SAN: this node's key was preempted");
      return complete(op, store::fenced_error());
    }
    if (key_ && preempted_ua(status, t)) recheck();
    const Verdict v = classify(status, uint8_t(t->sense.key), uint8_t(t->sense.ascq >> 8), uint8_t(t->sense.ascq & 0xff));
    const bool underrun = status == SCSI_STATUS_GOOD && op->kind == Op::read && t->residual_status == SCSI_RESIDUAL_UNDERFLOW &&
                          t->residual > 0;
    scsi_free_scsi_task(t);
    switch (v.outcome) {
      case Outcome::done:
        if (v.ec || underrun) return complete(op, v.ec ? v.ec : std::make_error_code(std::errc::io_error));
        op->lba += op->piece;
        op->blocks -= op->piece;
        if (op->buf) op->buf += size_t(op->piece) * info_.block_size;
        if (op->blocks == 0 || op->kind == Op::flush) return complete(op, {});
        --op->attempts;  // a new piece, not a resend
        waiting_.push_front(op);
        return;
      case Outcome::retry:
        --op->attempts;  // answered by a live backend: bounded by max_wait only
        if (Clock::now() - op->arrived >= o_.retry.max_wait) return complete(op, std::make_error_code(std::errc::not_connected));
        waiting_.push_front(op);
        return;
      case Outcome::reconnect:
        waiting_.push_front(op);
        lost_ = "a command ended with " + std::string(status == SCSI_STATUS_TIMEOUT ? "a timeout" : "a transport error");
        return;
    }
  }

  void complete(Op* op, std::error_code ec) {
    auto done = std::move(op->done);
    delete op;
    done(ec);
  }

  void fail_all(std::error_code ec) {
    std::vector<Op*> all(waiting_.begin(), waiting_.end());
    waiting_.clear();
    for (Op* op : in_flight_) all.push_back(op);
    in_flight_.clear();
    for (Op* op : all) complete(op, ec);
  }

  // Readiness: wait for what libiscsi asks for; each wake-up runs iscsi_service on the strand.
  void arm() {
    if (!ctx_ || !sd_) return;
    const int ev = iscsi_which_events(ctx_);
    auto wait = [&](asio::posix::stream_descriptor::wait_type w, bool& armed, int revents) {
      if (armed) return;
      armed = true;
      sd_->async_wait(w, asio::bind_executor(strand_, [self = shared_from_this(), g = gen_, &armed, revents](boost::system::error_code ec) {
        if (g != self->gen_) return;  // a stale descriptor's wait
        armed = false;
        if (!ec) self->service(revents);
      }));
    };
    if (ev & POLLIN) wait(asio::posix::stream_descriptor::wait_read, rd_armed_, POLLIN);
    if (ev & POLLOUT) wait(asio::posix::stream_descriptor::wait_write, wr_armed_, POLLOUT);
  }

  // Runs libiscsi until the socket has nothing more for it (asio's epoll is edge-triggered:
  // a wait is re-armed only once the socket is drained), then sends what became sendable.
  void service(int revents) {
    for (int round = 0; ctx_ && round < kServiceRounds; ++round) {
      if (iscsi_service(ctx_, revents) < 0 && lost_.empty()) lost_ = iscsi_get_error(ctx_);
      if (!lost_.empty() || fenced_) break;
      pollfd p{iscsi_get_fd(ctx_), short(iscsi_which_events(ctx_)), 0};
      if (::poll(&p, 1, 0) <= 0 || !(p.revents & (POLLIN | POLLOUT | POLLERR | POLLHUP))) break;
      revents = p.revents;
      if (round == kServiceRounds - 1)  // still busy: let other handlers run first
        asio::post(strand_, [self = shared_from_this(), g = gen_] {
          if (g == self->gen_) self->service(0);
        });
    }
    after_service();
  }

  void after_service() {
    if (fenced_) return finish_fence();
    if (!lost_.empty()) return lost(std::exchange(lost_, {}));
    if (std::exchange(recheck_, false)) begin_fence();
    if (ctx_ && iscsi_get_fd(ctx_) != fd_) wrap_fd();  // libiscsi opened a new socket (login redirect)
    dispatch();
    flush_out();
    arm();
  }

  // Writes queued PDUs now rather than after the next writable wake-up.
  void flush_out() {
    if (!ctx_ || !lost_.empty() || !(iscsi_which_events(ctx_) & POLLOUT)) return;
    if (iscsi_service(ctx_, POLLOUT) < 0 && lost_.empty()) lost_ = iscsi_get_error(ctx_);
    if (!lost_.empty()) lost(std::exchange(lost_, {}));
  }

  void wrap_fd() {
    if (sd_) sd_->release();
    sd_.reset();
    ++gen_;
    rd_armed_ = wr_armed_ = false;
    fd_ = iscsi_get_fd(ctx_);
    if (fd_ >= 0) sd_.emplace(strand_, fd_);
  }

  void drop_context() {
    ++gen_;
    if (sd_) sd_->release();  // libiscsi closes the socket
    sd_.reset();
    fd_ = -1;
    rd_armed_ = wr_armed_ = false;
    if (!ctx_) return;
    for (Op* op : in_flight_) scsi_set_task_private_ptr(op->task, nullptr);
    probing_ = false;
    iscsi_context* c = std::exchange(ctx_, nullptr);
    iscsi_destroy_context(c);  // callbacks see no op (nor this context): they only free their tasks
  }

  // The connection is unusable: requeue what it carried (within the retry bounds), reconnect later.
  void lost(const std::string& why) {
    if (connected_) {
      log()->warn("{}: backend connection lost ({}); {} command(s) in flight, reconnecting", name(), why, in_flight_.size());
      down_since_ = Clock::now();
    } else if (Clock::now() - last_fail_log_ > std::chrono::seconds(10)) {
      last_fail_log_ = Clock::now();
      log()->warn("{}: backend unreachable ({}); retrying every {} ms at most", name(), why, o_.reconnect_max.count());
    }
    connected_ = false;
    ready_ = false;
    fence_ready_ = false;
    std::vector<Op*> carried(in_flight_.begin(), in_flight_.end());
    drop_context();
    in_flight_.clear();
    std::sort(carried.begin(), carried.end(), [](Op* a, Op* b) { return a->arrived > b->arrived; });
    const auto now = Clock::now();
    for (Op* op : carried) {
      op->task = nullptr;
      if (retry_verdict(o_.retry, op->attempts, std::chrono::duration_cast<milliseconds>(now - op->arrived)) ==
          RetryVerdict::give_up)
        complete(op, std::make_error_code(std::errc::not_connected));
      else
        waiting_.push_front(op);
    }
    reconnect_at_ = now + backoff_;
    backoff_ = std::min(backoff_ * 2, o_.reconnect_max);
  }

  void reconnect() {
    std::string why;
    ctx_ = new_context(o_, url_, why);
    if (!ctx_) return lost(why);
    connect_started_ = Clock::now();
    if (iscsi_full_connect_async(ctx_, url_.portal, url_.lun, on_connected, this) != 0) return lost(iscsi_get_error(ctx_));
    wrap_fd();
    flush_out();
    arm();
  }

  static void on_connected(iscsi_context* c, int status, void*, void* private_data) {
    auto* self = static_cast<Impl*>(private_data);
    if (c != self->ctx_) return;
    if (status != SCSI_STATUS_GOOD) {
      self->lost_ = std::string("login failed: ") + iscsi_get_error(c);
      return;
    }
    log()->info("{}: backend connection re-established after {} ms; {} command(s) waiting", self->name(),
                std::chrono::duration_cast<milliseconds>(Clock::now() - self->down_since_).count(), self->waiting_.size());
    self->connected_ = true;
    self->ready_ = true;
    self->backoff_ = self->o_.reconnect_min;
    self->last_heard_ = Clock::now();
    if (self->key_) self->begin_fence();  // no I/O before the key and the reservation are checked
  }

  static void on_probe(iscsi_context* c, int status, void* command_data, void* private_data) {
    auto* self = static_cast<Impl*>(private_data);
    struct Free {
      void* t;
      ~Free() { if (t) scsi_free_scsi_task(static_cast<scsi_task*>(t)); }
    } free_task{command_data};
    if (c != self->ctx_) return;  // the context is being destroyed
    self->probing_ = false;
    if (self->key_ && status == SCSI_STATUS_RESERVATION_CONFLICT)
      self->mark_fenced("the idle probe got RESERVATION CONFLICT from the SAN");
    else if (self->key_ && command_data && self->preempted_ua(status, static_cast<scsi_task*>(command_data)))
      self->recheck();
    if (status == SCSI_STATUS_TIMEOUT || status == SCSI_STATUS_ERROR || status == SCSI_STATUS_CANCELLED)
      self->lost_ = "the idle probe (TEST UNIT READY) got no answer";
    else
      self->last_heard_ = Clock::now();  // any answer, a UNIT ATTENTION included: the backend is alive
  }

  void schedule_tick() {
    tick_.expires_after(kTick);
    tick_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->stopped_) return;
      self->on_tick();
      self->schedule_tick();
    });
  }

  void on_tick() {
    const auto now = Clock::now();
    if (fenced_) return finish_fence();
    if (ctx_) {
      // libiscsi checks its command timeouts here; a login that hangs is ours to bound.
      if (iscsi_service(ctx_, 0) < 0 && lost_.empty()) lost_ = iscsi_get_error(ctx_);
      if (!connected_ && lost_.empty() && now - connect_started_ > o_.connect_timeout) lost_ = "login timed out";
      if (key_ && connected_ && fence_ready_ && !in_flight_.empty() && now - last_heard_ >= kFenceStall) recheck();
      if (connected_ && lost_.empty() && in_flight_.empty() && !probing_ && now - last_heard_ >= kIdleProbe) {
        if (iscsi_testunitready_task(ctx_, url_.lun, on_probe, this))
          probing_ = true;
        else
          lost_ = std::string("cannot queue a probe: ") + iscsi_get_error(ctx_);
      }
      after_service();
    }
    if (!connected_) {
      // Waiting commands past their bound fail (NOT READY); the rest wait for the reconnection.
      for (auto it = waiting_.begin(); it != waiting_.end();) {
        if (now - (*it)->arrived >= o_.retry.max_wait) {
          Op* op = *it;
          it = waiting_.erase(it);
          complete(op, std::make_error_code(std::errc::not_connected));
        } else {
          ++it;
        }
      }
      if (!ctx_ && now >= reconnect_at_) reconnect();
    }
  }

  std::string name() const { return "iscsi store " + redact_url(o_.url); }

  // ---------------------------------------------------------------- fencing (strand only)

  static bool preempted_ua(int status, const scsi_task* t) {
    return status == SCSI_STATUS_CHECK_CONDITION && t->sense.key == SCSI_SENSE_UNIT_ATTENTION &&
           (t->sense.ascq >> 8) == kAscReservationsChanged && (t->sense.ascq & 0xff) >= kAscqReservationsPreempted &&
           (t->sense.ascq & 0xff) <= kAscqRegistrationsPreempted;
  }

  // Reservations changed on the SAN: no more dispatching until the check has run again.
  void recheck() {
    if (!fence_ready_) return;  // a check is running: it reads the new state
    fence_ready_ = false;
    recheck_ = true;
  }

  enum class FenceStep { read_keys, read_reservation, register_key, reserve };

  // The fence sequence after a connect (above). Dispatching waits for fence_ready_.
  void begin_fence() {
    fence_ready_ = false;
    fence_view_ = PrView{};
    fence_attempts_ = 0;
    fence_send(FenceStep::read_keys);
  }

  void fence_send(FenceStep step) {
    if (!ctx_ || fenced_) return;
    fence_step_ = step;
    mhd::Cdb10 cdb{};
    int dir = SCSI_XFER_READ;
    int len = pr_in_allocation();
    iscsi_data* out = nullptr;
    switch (step) {
      case FenceStep::read_keys: cdb = read_keys_cdb(); break;
      case FenceStep::read_reservation: cdb = read_reservation_cdb(); break;
      case FenceStep::register_key:
      case FenceStep::reserve:
        fence_out_ = step == FenceStep::register_key ? register_ignore_cdb(key_, aptpl_) : reserve_cdb(key_);
        cdb = fence_out_.cdb;
        dir = SCSI_XFER_WRITE;
        len = int(fence_out_.params.size());
        fence_data_.size = size_t(len);
        fence_data_.data = fence_out_.params.data();
        out = &fence_data_;
        break;
    }
    scsi_task* t = scsi_create_task(int(cdb.size()), cdb.data(), dir, len);
    if (!t) {
      lost_ = "cannot create a PERSISTENT RESERVE command";
      return;
    }
    if (iscsi_scsi_command_async(ctx_, url_.lun, t, on_fence, out, this) != 0) {
      scsi_free_scsi_task(t);
      lost_ = std::string("cannot queue a PERSISTENT RESERVE command: ") + iscsi_get_error(ctx_);
    }
  }

  static void on_fence(iscsi_context* c, int status, void* command_data, void* private_data) {
    auto* self = static_cast<Impl*>(private_data);
    auto* t = static_cast<scsi_task*>(command_data);
    struct Free {
      scsi_task* t;
      ~Free() { if (t) scsi_free_scsi_task(t); }
    } free_task{t};
    if (c != self->ctx_ || !t) return;  // the context is being destroyed
    self->fence_answer(status, t);
  }

  void fence_answer(int status, scsi_task* t) {
    const char* what = fence_step_ == FenceStep::read_keys           ? "PERSISTENT RESERVE IN (READ KEYS)"
                       : fence_step_ == FenceStep::read_reservation  ? "PERSISTENT RESERVE IN (READ RESERVATION)"
                       : fence_step_ == FenceStep::register_key      ? "PERSISTENT RESERVE OUT (REGISTER AND IGNORE EXISTING KEY)"
                                                                     : "PERSISTENT RESERVE OUT (RESERVE)";
    if (status == SCSI_STATUS_TIMEOUT || status == SCSI_STATUS_ERROR || status == SCSI_STATUS_CANCELLED) {
      lost_ = std::string(what) + ": no answer";
      return;
    }
    last_heard_ = Clock::now();
    const bool again = status == SCSI_STATUS_BUSY || status == SCSI_STATUS_TASK_SET_FULL ||
                       (status == SCSI_STATUS_CHECK_CONDITION && t->sense.key == SCSI_SENSE_UNIT_ATTENTION);
    if (again && ++fence_attempts_ < kFenceStepAttempts) return fence_send(fence_step_);
    if (status == SCSI_STATUS_RESERVATION_CONFLICT && fence_step_ == FenceStep::reserve)
      return begin_fence();  // another node reserved it meanwhile: read who, decide again
    if (fence_step_ == FenceStep::register_key && aptpl_ && aptpl_refused(status, t->sense.key, uint16_t(t->sense.ascq))) {
      aptpl_ = false;
      log()->warn("{}: the SAN refused APTPL on REGISTER (sense key {:x}h, ASC/ASCQ {:04x}h): it cannot persist "
                  "reservations; key {} is registered without it (a restart of the SAN loses it, and this store then "
                  "finds its key gone: fenced)",
                  name(), unsigned(t->sense.key), unsigned(t->sense.ascq), key_hex(key_));
      return fence_send(FenceStep::register_key);
    }
    if (status != SCSI_STATUS_GOOD) {
      char sense[48];
      std::snprintf(sense, sizeof sense, " (sense key %xh, ASC/ASCQ %04xh)", unsigned(t->sense.key), unsigned(t->sense.ascq));
      return mark_fenced(std::string("the SAN refused ") + what + ": status " + std::to_string(status) +
                         (status == SCSI_STATUS_CHECK_CONDITION ? sense : ""));
    }
    fence_attempts_ = 0;
    switch (fence_step_) {
      case FenceStep::read_keys:
        if (!parse_keys(t->datain.data, size_t(t->datain.size), fence_view_))
          return mark_fenced("malformed READ KEYS data from the SAN");
        return fence_send(FenceStep::read_reservation);
      case FenceStep::read_reservation: {
        if (!parse_reservation(t->datain.data, size_t(t->datain.size), fence_view_))
          return mark_fenced("malformed READ RESERVATION data from the SAN");
        const FenceDecision d = decide_on_connect(fence_view_, key_, registered_);
        if (d.fenced) return mark_fenced(d.why);
        if (registered_ && fence_view_.holder == key_) break;  // a re-check: all still ours, nothing to send
        fence_reserve_ = d.reserve;
        return fence_send(FenceStep::register_key);
      }
      case FenceStep::register_key:
        if (!registered_)
          log()->info("{}: key {} registered on the SAN LUN{}", name(), key_hex(key_), aptpl_ ? " (APTPL)" : " (without APTPL)");
        registered_ = true;
        if (fence_reserve_) return fence_send(FenceStep::reserve);
        break;
      case FenceStep::reserve:
        log()->info("{}: reserved the SAN LUN (Write Exclusive - Registrants Only) under key {}", name(), key_hex(key_));
        break;
    }
    fence_ready_ = true;  // after_service dispatches what waited
  }

  // Fenced: nothing more is sent (service() stops; finish_fence closes the session at the first
  // point outside libiscsi's callbacks). Never undone: a new store object serves again.
  void mark_fenced(const std::string& why) {
    if (fenced_.exchange(true)) return;
    fence_why_ = why;
    ready_ = false;
  }

  void finish_fence() {
    if (fence_finished_) return;
    fence_finished_ = true;
    std::vector<Op*> carried(in_flight_.begin(), in_flight_.end());
    log()->error("{}: fenced: {}; the LU stops at once: {} command(s) on the SAN and {} waiting fail, none is sent any "
                 "more, the session is closed and not re-established",
                 name(), fence_why_, carried.size(), waiting_.size());
    drop_context();
    in_flight_.clear();
    connected_ = false;
    for (Op* op : carried) complete(op, store::fenced_error());
    fail_all(store::fenced_error());
    if (o_.on_fenced) o_.on_fenced(fence_why_);
  }

  IscsiStoreOptions o_;
  iscsi_url url_;
  BackendInfo info_;
  uint64_t size_;
  asio::strand<asio::io_context::executor_type> strand_;
  asio::steady_timer tick_;
  std::vector<uint8_t> zero_;  // one zeroed block for WRITE SAME
  // Strand-only state.
  iscsi_context* ctx_ = nullptr;
  std::optional<asio::posix::stream_descriptor> sd_;
  int fd_ = -1;
  uint64_t gen_ = 0;  // bumped whenever the descriptor changes: older waits are ignored
  bool rd_armed_ = false, wr_armed_ = false;
  bool connected_ = false, stopped_ = false;
  bool probing_ = false;  // an idle probe is on the backend
  Clock::time_point last_heard_{};  // the backend's last answer
  std::string lost_;  // set inside libiscsi callbacks; acted on once iscsi_service returns
  // Fencing (strand only, but fenced_, which read() and ready() see).
  const uint64_t key_ = o_.fence_key;
  bool fence_ready_ = false;    // the check after the current connect is done: dispatch
  bool registered_ = false;     // this store registered its key (its absence now = preempted)
  bool aptpl_ = true;           // false once the SAN refused APTPL on REGISTER (aptpl_refused)
  bool recheck_ = false;        // reservations changed: check again before dispatching
  bool fence_reserve_ = false;  // the check found the LUN unreserved
  bool fence_finished_ = false;
  FenceStep fence_step_ = FenceStep::read_keys;
  int fence_attempts_ = 0;
  PrView fence_view_;
  PrOutCommand fence_out_;
  iscsi_data fence_data_{};
  std::string fence_why_;
  std::atomic<bool> fenced_{false};
  std::deque<Op*> waiting_;
  std::unordered_set<Op*> in_flight_;
  milliseconds backoff_;
  Clock::time_point down_since_{}, reconnect_at_{}, connect_started_{}, last_full_log_{}, last_fail_log_{};
  std::atomic<bool> ready_{true};
  std::mutex inbox_mu_;
  std::vector<Op*> inbox_;  // submitted, not yet seen by the strand
};

class IscsiStore final : public store::BackingStore {
 public:
  explicit IscsiStore(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  ~IscsiStore() override { impl_->stop(); }

  uint64_t size() const override { return impl_->size(); }
  bool thin() const override { return backend_thin(impl_->info()); }
  std::string describe() const override { return redact_url(impl_->options().url); }
  bool ready() const override { return impl_->ready(); }

  void read(uint64_t offset, std::span<uint8_t> buf, store::Completion done) override {
    if (auto ec = check(offset, buf.size())) return done(ec);
    if (buf.empty()) return done({});
    submit(Op::read, offset, buf.size(), buf.data(), false, std::move(done));
  }
  void write(uint64_t offset, std::span<const uint8_t> buf, bool fua, store::Completion done) override {
    if (auto ec = check(offset, buf.size())) return done(ec);
    if (buf.empty()) return done({});
    submit(Op::write, offset, buf.size(), const_cast<uint8_t*>(buf.data()), fua, std::move(done));
  }
  void flush(store::Completion done) override {
    auto* op = new Op;
    op->kind = Op::flush;
    op->blocks = 1;
    op->done = std::move(done);
    impl_->submit(op);
  }
  void unmap(uint64_t offset, uint64_t length, store::Completion done) override {
    if (auto ec = check(offset, length)) return done(ec);
    if (length == 0) return done({});
    submit(Op::unmap, offset, length, nullptr, false, std::move(done));
  }
  // The backend's provisioning status is not known synchronously: everything reads as mapped
  // (GET LBA STATUS answers "mapped", which SBC-3 allows for a range whose state is unknown).
  std::error_code extent(uint64_t offset, uint64_t max_length, store::Extent& out) override {
    return store::all_mapped_extent(size(), offset, max_length, out);
  }

 private:
  std::error_code check(uint64_t offset, uint64_t len) const {
    const uint32_t bs = impl_->info().block_size;
    if (offset % bs || len % bs || offset > size() || len > size() - offset)
      return std::make_error_code(std::errc::invalid_argument);
    return {};
  }
  void submit(Op::Kind k, uint64_t offset, uint64_t len, uint8_t* buf, bool fua, store::Completion done) {
    const uint32_t bs = impl_->info().block_size;
    auto* op = new Op;
    op->kind = k;
    op->lba = offset / bs;
    op->blocks = len / bs;
    op->buf = buf;
    op->fua = fua;
    op->done = std::move(done);
    impl_->submit(op);
  }
  std::shared_ptr<Impl> impl_;
};

}  // namespace

std::unique_ptr<store::BackingStore> make_iscsi_store(asio::io_context& io, const IscsiStoreOptions& o, std::error_code& ec,
                                                      std::string& why) {
  ec = std::make_error_code(std::errc::invalid_argument);
  const std::string shown = redact_url(o.url);
  if (o.block_size == 0 || o.queue_depth == 0) {
    why = "block size and queue depth must be positive";
    return nullptr;
  }
  // Parse the URL with a scratch context (libiscsi ties a URL to one).
  iscsi_context* scratch = iscsi_create_context(o.initiator.c_str());
  if (!scratch) {
    why = "cannot create an iSCSI context";
    return nullptr;
  }
  iscsi_url* parsed = iscsi_parse_full_url(scratch, o.url.c_str());
  if (!parsed) {
    why = "bad backend URL " + shown + ": " + iscsi_get_error(scratch);
    iscsi_destroy_context(scratch);
    return nullptr;
  }
  iscsi_url url = *parsed;
  url.iscsi = nullptr;
  iscsi_destroy_url(parsed);
  iscsi_destroy_context(scratch);

  iscsi_context* c = new_context(o, url, why);
  if (!c) return nullptr;
  const auto deadline = Clock::now() + o.connect_timeout;
  ec = std::make_error_code(std::errc::host_unreachable);
  SyncStep login;
  if (iscsi_full_connect_async(c, url.portal, url.lun, SyncStep::cb, &login) != 0 || !run_until(c, login, deadline) ||
      login.status != SCSI_STATUS_GOOD) {
    why = "cannot log in to the backend " + shown + ": " +
          (!login.error.empty() ? login.error : *iscsi_get_error(c) ? std::string(iscsi_get_error(c)) : "timed out");
    iscsi_destroy_context(c);
    return nullptr;
  }
  BackendInfo info;
  auto step = [&](scsi_task* (*issue)(iscsi_context*, int, SyncStep*), const char* what,
                  bool (*parse)(const uint8_t*, size_t, BackendInfo&), bool required) {
    SyncStep s;
    for (int attempt = 0;; ++attempt) {  // a UNIT ATTENTION (a new nexus, a reset) is reported once
      s = SyncStep{};
      if (!issue(c, url.lun, &s) || !run_until(c, s, deadline)) {
        why = std::string(what) + " on the backend " + shown + ": " + (*iscsi_get_error(c) ? iscsi_get_error(c) : "timed out");
        return false;
      }
      if (attempt < 3 && s.status == SCSI_STATUS_CHECK_CONDITION && s.task->sense.key == SCSI_SENSE_UNIT_ATTENTION) {
        scsi_free_scsi_task(s.task);
        continue;
      }
      break;
    }
    const bool ok = s.status == SCSI_STATUS_GOOD && parse(s.task->datain.data, size_t(s.task->datain.size), info);
    if (!ok && required) why = std::string(what) + " on the backend " + shown + " failed: " + iscsi_get_error(c);
    scsi_free_scsi_task(s.task);
    return ok || !required;
  };
  const bool probed =
      step([](iscsi_context* c, int lun, SyncStep* s) { return iscsi_readcapacity16_task(c, lun, SyncStep::cb, s); },
           "READ CAPACITY (16)", parse_read_capacity16, true) &&
      step([](iscsi_context* c, int lun, SyncStep* s) {
             return iscsi_inquiry_task(c, lun, 1, 0xb0, kVpdAllocation, SyncStep::cb, s);
           }, "INQUIRY (Block Limits VPD)", parse_block_limits_vpd, false) &&
      step([](iscsi_context* c, int lun, SyncStep* s) {
             return iscsi_inquiry_task(c, lun, 1, 0xb2, kVpdAllocation, SyncStep::cb, s);
           }, "INQUIRY (Logical Block Provisioning VPD)", parse_lbp_vpd, false);
  if (!probed) {
    ec = std::make_error_code(std::errc::io_error);
    iscsi_destroy_context(c);
    return nullptr;
  }
  if (info.block_size != o.block_size) {
    ec = std::make_error_code(std::errc::argument_out_of_domain);
    why = "the backend " + shown + " has " + std::to_string(info.block_size) + "-byte blocks but the LU's block_size is " +
          std::to_string(o.block_size) + " (set block_size to " + std::to_string(info.block_size) + ")";
    iscsi_destroy_context(c);
    return nullptr;
  }
  const uint64_t capacity = info.blocks * info.block_size;
  if (o.size > capacity) {
    ec = std::make_error_code(std::errc::value_too_large);
    why = "size " + std::to_string(o.size) + " exceeds the backend " + shown + "'s capacity of " + std::to_string(capacity) +
          " bytes";
    iscsi_destroy_context(c);
    return nullptr;
  }
  const uint64_t size = o.size ? o.size : capacity;
  log()->info("iscsi store {}: {} blocks of {} bytes, max transfer {} blocks, unmap: {}{}", shown, info.blocks,
              info.block_size, info.max_transfer_blocks,
              unmap_method(info) == UnmapMethod::unmap              ? "UNMAP"
              : unmap_method(info) == UnmapMethod::write_same_unmap ? "WRITE SAME (16) with UNMAP"
                                                                    : "WRITE SAME (16) of zeroes (backend not thin)",
              o.header_digest ? ", header digest CRC32C" : "");
  auto impl = std::make_shared<Impl>(io, o, url, info, size);
  impl->start(c);
  ec = {};
  return std::make_unique<IscsiStore>(std::move(impl));
}

}  // namespace stmf::iscsistore
