// The rbd backing store (rbd_store.h).
//
// Threading: every operation becomes an rbd_aio_* call with a completion; librbd runs the
// completion callback on its own threads, which only posts the result to this store's strand
// of the daemon's io_context (no thread per command, no blocking call on the I/O path). The
// queue, retries and readiness live on the strand. Only make_rbd_store() (connect and open,
// bounded by connect_timeout) and grow() (rbd_resize, modify-lu) block, on the management thread.
//
// Queueing: at most queue_depth operations are in flight on librbd; later ones wait in a FIFO
// of at most queue_limit entries; beyond it an operation is refused at once (EBUSY: ABORTED
// COMMAND, INSUFFICIENT RESOURCES, which initiators retry).
//
// Cluster loss: librados is configured with op_timeout_s for OSD and monitor operations, so an
// operation on a cluster out of reach fails with ETIMEDOUT instead of hanging. Such a failure
// (classify(): lost) marks the store not ready (TEST UNIT READY answers NOT READY) and sends the
// operation again, at most retry_attempts times and retry_max from its arrival; then it fails
// with ENOTCONN (NOT READY, BECOMING READY). While the store has been down longer than
// retry_max, new operations fail at once. A health probe (a 512-byte read every
// probe_interval, one at a time) notices both the loss of an idle store and the recovery;
// librados reconnects by itself. A blocklisted client (EBLOCKLISTED = ESHUTDOWN) is fenced:
// every operation fails with store::fenced_error() from then on.
//
// FUA: the write, then rbd_aio_flush, before the completion. UNMAP: rbd_aio_write_zeroes,
// which deallocates whole objects and zeroes partial ones (a plain discard may skip partial
// objects, rbd_skip_partial_discard, and the interface promises zeroes).
//
// Online grow: rbd_update_watch's callback (a librbd thread) posts a size check to the strand;
// a larger image is reported through on_grown once.
//
// Fencing (o.exclusive, rbd_fence.h): rbd_lock_acquire at open; when another live client holds
// the lock, an acquirer thread of the store tries again every acquire_retry (librbd's lock calls
// block for a round trip: never on the io_context) and dispatching waits for it on the strand.
// EROFS on a write (the lock is not ours) and ESHUTDOWN (blocklisted) fence the store. The
// runtime's FenceHold (fence_hold()) releases the lock when the LU leaves this node.
#include "store_rbd/rbd_store.h"

#include <rados/librados.h>
#include <rbd/librbd.h>

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <deque>
#include <stop_token>
#include <thread>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "core/log.h"
#include "store_rbd/rbd_fence.h"

namespace stmf::rbdstore {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

std::shared_ptr<spdlog::logger>& log() {
  static std::shared_ptr<spdlog::logger> l = stmf::logger("rbd");
  return l;
}

// RBD's limits on names (librbd: RBD_MAX_IMAGE_NAME_SIZE is 96 with the NUL; pool names and
// namespaces are bounded here alike, client ids as cephx's entity names).
constexpr size_t kMaxName = 95;
constexpr size_t kMaxPath = 4096;
constexpr uint64_t kProbeBytes = 512;
constexpr unsigned kMaxQueueDepth = 4096;
constexpr unsigned kMaxQueueLimit = 1u << 20;
constexpr size_t kMaxLockOwners = 8;
constexpr std::chrono::milliseconds kAcquireStep{20};  // the acquirer's sleep between stop checks  // rbd_lock_get_owners' list (an exclusive lock has one)

std::error_code sys(int e) { return {e, std::system_category()}; }

// librbd is loaded at run time, with RTLD_DEEPBIND: librados is built with Debian's Boost 1.74
// Asio and stmfd with 1.81, and linked the ordinary way librados would bind to stmfd's Asio
// template statics (same names, other layouts: it crashed in rados_connect). Loaded into a
// scope of its own, librbd and librados use their own copies. A missing librbd refuses rbd LUs.
#define STMF_RBD_API(X) \
  X(rados_create) \
  X(rados_conf_read_file) \
  X(rados_conf_set) \
  X(rados_connect) \
  X(rados_ioctx_create) \
  X(rados_ioctx_set_namespace) \
  X(rados_ioctx_destroy) \
  X(rados_shutdown) \
  X(rbd_open) \
  X(rbd_close) \
  X(rbd_get_size) \
  X(rbd_resize) \
  X(rbd_aio_create_completion) \
  X(rbd_aio_read) \
  X(rbd_aio_write) \
  X(rbd_aio_flush) \
  X(rbd_aio_write_zeroes) \
  X(rbd_aio_get_return_value) \
  X(rbd_aio_release) \
  X(rbd_update_watch) \
  X(rbd_update_unwatch) \
  X(rbd_get_features) \
  X(rbd_lock_acquire) \
  X(rbd_lock_release) \
  X(rbd_lock_get_owners) \
  X(rbd_lock_get_owners_cleanup) \
  X(rbd_lock_break)
struct Api {
#define X(f) decltype(&::f) f = nullptr;
  STMF_RBD_API(X)
#undef X
  std::string error;  // why librbd is unusable; empty = loaded
};

constexpr const char* kLibrbd = "librbd.so.1";

const Api& api() {
  static const Api a = [] {
    Api r;
    void* h = ::dlopen(kLibrbd, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (!h) {
      r.error = std::string("cannot load ") + kLibrbd + ": " + ::dlerror();
      return r;
    }
#define X(f)                                                  \
  r.f = reinterpret_cast<decltype(&::f)>(::dlsym(h, #f));     \
  if (!r.f && r.error.empty()) r.error = std::string(kLibrbd) + " has no " #f;
    STMF_RBD_API(X)
#undef X
    return r;
  }();
  return a;
}

bool name_ok(const std::string& s, bool may_be_empty) {
  if (s.empty()) return may_be_empty;
  if (s.size() > kMaxName) return false;
  return std::none_of(s.begin(), s.end(), [](char c) { return c == '/' || c == '@' || c == '\0' || c == ' '; });
}

enum class Kind { read, write, flush, zero };

struct Op {
  Kind kind;
  uint64_t offset = 0, length = 0;
  uint8_t* rbuf = nullptr;
  const uint8_t* wbuf = nullptr;
  bool fua = false;
  bool flushing = false;  // FUA write: the write is done, its flush runs
  unsigned attempts = 0;
  Clock::time_point arrived = Clock::now();
  store::Completion done;
};

}  // namespace

std::error_code check_options(const RbdStoreOptions& o, std::string& why) {
  auto bad = [&](std::string w) {
    why = std::move(w);
    return std::make_error_code(std::errc::invalid_argument);
  };
  if (!name_ok(o.pool, false)) return bad("pool: 1 to 95 characters, no '/', '@' or space");
  if (!name_ok(o.image, false)) return bad("image: 1 to 95 characters, no '/', '@' or space");
  if (!name_ok(o.ns, true)) return bad("namespace: at most 95 characters, no '/', '@' or space");
  if (!name_ok(o.client, false)) return bad("client: a cephx id (\"admin\" for client.admin), 1 to 95 characters");
  if (o.client.rfind("client.", 0) == 0) return bad("client: the id without \"client.\" (\"admin\", not \"client.admin\")");
  if (o.conf.size() > kMaxPath || (!o.conf.empty() && o.conf[0] != '/')) return bad("conf: an absolute path");
  if (o.keyring.size() > kMaxPath || (!o.keyring.empty() && o.keyring[0] != '/')) return bad("keyring: an absolute path");
  if (o.queue_depth < 1 || o.queue_depth > kMaxQueueDepth) return bad("queue_depth: 1 to 4096");
  if (o.queue_limit > kMaxQueueLimit) return bad("queue_limit: at most 1048576");
  if (o.retry_attempts < 1) return bad("retry_attempts: at least 1");
  if (o.op_timeout_s < 1) return bad("op_timeout_s: at least 1");
  if (o.probe_interval.count() <= 0) return bad("probe_interval: positive");
  return {};
}

std::error_code read_result(int r, uint64_t length) {
  if (r >= 0 && uint64_t(r) < length) return sys(EIO);
  return {};
}

Failure classify(int r, bool exclusive) {
  if (exclusive && r == -EROFS) return Failure::fenced;  // librbd: the exclusive lock is not ours
  switch (-r) {
    case ESHUTDOWN:  // EBLOCKLISTED in Ceph
      return Failure::fenced;
    case ETIMEDOUT:
    case ENOTCONN:
    case ECONNREFUSED:
    case ECONNRESET:
    case EHOSTUNREACH:
    case ENETUNREACH:
      return Failure::lost;
    default:
      return Failure::definite;
  }
}

namespace {

// The cluster handles; closed in reverse order.
struct Handles {
  rados_t cluster = nullptr;
  rados_ioctx_t ioctx = nullptr;
  rbd_image_t image = nullptr;
  ~Handles() {
    if (image) api().rbd_close(image);
    if (ioctx) api().rados_ioctx_destroy(ioctx);
    if (cluster) api().rados_shutdown(cluster);
  }
};

class Impl;

// The update watch's argument: outlives no one (unwatched before the store goes).
struct WatchArg {
  std::weak_ptr<Impl> impl;
  asio::strand<asio::io_context::executor_type> strand;
};

class Impl : public std::enable_shared_from_this<Impl> {
 public:
  // `locked`: no exclusive lock wanted (else the acquirer thread takes it).
  Impl(asio::io_context& io, RbdStoreOptions o, std::unique_ptr<Handles> h, uint64_t size, uint64_t image_size, bool locked)
      : o_(std::move(o)), h_(std::move(h)), strand_(asio::make_strand(io)), probe_timer_(strand_), size_(size),
        locked_(locked), image_size_(image_size), probe_buf_(kProbeBytes) {}

  void start() {
    watch_ = std::make_unique<WatchArg>(WatchArg{weak_from_this(), strand_});
    if (int r = api().rbd_update_watch(h_->image, &watch_handle_, &Impl::on_update, watch_.get()); r < 0) {
      log()->warn("{}: no update watch ({}): online growth of the image goes unnoticed", describe(), strerror(-r));
      watch_.reset();
    }
    asio::post(strand_, [self = shared_from_this()] { self->arm_probe(); });
    if (!locked_) acquirer_ = std::jthread([this](std::stop_token st) { acquire_loop(st); });
  }

  // Management thread, before the last reference goes: no more callbacks or timers.
  void shutdown() {
    if (acquirer_.joinable()) {
      acquirer_.request_stop();
      acquirer_.join();
    }
    if (watch_) api().rbd_update_unwatch(h_->image, watch_handle_);
    watch_.reset();
    asio::post(strand_, [self = shared_from_this()] {
      self->closing_ = true;
      self->probe_timer_.cancel();
    });
  }

  // Management thread: the LU leaves this node; the lock goes back (FenceHold). Nothing is sent
  // afterwards: operations fail with store::fenced_error() (Transitioning: the other node serves).
  void release_lock() {
    if (!o_.exclusive || released_.exchange(true)) return;
    if (acquirer_.joinable()) {
      acquirer_.request_stop();
      acquirer_.join();
    }
    if (!locked_) return;
    const int r = api().rbd_lock_release(h_->image);
    if (r < 0) log()->warn("{}: releasing the exclusive lock: {} (it goes when the image closes)", describe(), strerror(-r));
    else log()->info("{}: exclusive lock released (the LU left this node)", describe());
  }

  std::string describe() const {
    return "rbd:" + o_.pool + "/" + (o_.ns.empty() ? "" : o_.ns + "/") + o_.image;
  }
  uint64_t size() const { return size_.load(std::memory_order_acquire); }
  bool exclusive() const { return o_.exclusive; }
  bool ready() const {
    return ready_.load(std::memory_order_relaxed) && locked_.load(std::memory_order_relaxed) &&
           !fenced_.load(std::memory_order_relaxed);
  }

  void submit(std::unique_ptr<Op> op) {
    if (fenced_.load(std::memory_order_relaxed) || released_.load(std::memory_order_relaxed))
      return op->done(store::fenced_error());
    asio::post(strand_, [self = shared_from_this(), p = op.release()]() mutable { self->enqueue(std::unique_ptr<Op>(p)); });
  }

  std::error_code grow(uint64_t n) {
    const uint64_t cur = size();
    if (n < cur) return std::make_error_code(std::errc::invalid_argument);
    uint64_t img = 0;
    if (int r = api().rbd_get_size(h_->image, &img); r < 0) return sys(-r);
    if (n > img) {
      if (int r = api().rbd_resize(h_->image, n); r < 0) return sys(-r);
      log()->info("{}: image resized to {} bytes", describe(), n);
    }
    size_.store(n, std::memory_order_release);
    return {};
  }

 private:
  // ------------------------------------------------------------- queue (strand only)
  void enqueue(std::unique_ptr<Op> op) {
    if (fenced_ || released_) return op->done(store::fenced_error());
    if (!ready_ && Clock::now() - down_since_ > o_.retry_max) return op->done(sys(ENOTCONN));
    if (in_flight_ >= o_.queue_depth && queue_.size() >= o_.queue_limit) return op->done(sys(EBUSY));
    queue_.push_back(std::move(op));
    dispatch();
  }

  void dispatch() {
    if (released_.load(std::memory_order_relaxed)) return fail_waiting(store::fenced_error());
    if (!locked_.load(std::memory_order_relaxed)) return;  // the exclusive lock first (acquire_loop)
    while (in_flight_ < o_.queue_depth && !queue_.empty()) {
      auto op = std::move(queue_.front());
      queue_.pop_front();
      send(std::move(op));
    }
  }

  struct Ticket {
    std::shared_ptr<Impl> self;
    std::unique_ptr<Op> op;  // null: the probe
  };

  static void on_complete(rbd_completion_t c, void* arg) {
    auto* t = static_cast<Ticket*>(arg);
    const int r = int(api().rbd_aio_get_return_value(c));
    api().rbd_aio_release(c);
    auto strand = t->self->strand_;
    asio::post(strand, [t, r] {
      std::unique_ptr<Ticket> own(t);
      if (own->op) own->self->finished(std::move(own->op), r);
      else own->self->probed(r);
    });
  }

  // Starts one librbd operation; a refusal at submission completes like a failed operation.
  int start(Kind kind, const Op* op, Ticket* t) {
    rbd_completion_t c;
    if (int r = api().rbd_aio_create_completion(t, &Impl::on_complete, &c); r < 0) return r;
    int r = 0;
    switch (kind) {
      case Kind::read:
        r = api().rbd_aio_read(h_->image, op ? op->offset : 0, op ? op->length : kProbeBytes,
                         reinterpret_cast<char*>(op ? op->rbuf : probe_buf_.data()), c);
        break;
      case Kind::write:
        r = api().rbd_aio_write(h_->image, op->offset, op->length, reinterpret_cast<const char*>(op->wbuf), c);
        break;
      case Kind::flush:
        r = api().rbd_aio_flush(h_->image, c);
        break;
      case Kind::zero:
        r = api().rbd_aio_write_zeroes(h_->image, op->offset, op->length, c, 0, 0);
        break;
    }
    if (r < 0) api().rbd_aio_release(c);
    return r;
  }

  void send(std::unique_ptr<Op> op) {
    ++op->attempts;
    ++in_flight_;
    const Kind k = op->flushing ? Kind::flush : op->kind;
    const Op* raw = op.get();
    auto* t = new Ticket{shared_from_this(), std::move(op)};
    if (int r = start(k, raw, t); r < 0) {
      std::unique_ptr<Ticket> own(t);
      finished(std::move(own->op), r);
    }
  }

  void finished(std::unique_ptr<Op> op, int r) {
    --in_flight_;
    if (r >= 0) {
      healthy();
      if (op->kind == Kind::write && op->fua && !op->flushing) {
        op->flushing = true;  // the write landed; now its flush (not a new attempt)
        --op->attempts;
        send(std::move(op));
        return dispatch();
      }
      if (op->kind == Kind::read) {
        if (auto ec = read_result(r, op->length)) {
          log()->error("{}: read of {} bytes at {} returned {}: the image shrank under the LU (resized by another "
                       "client); the read fails",
                       describe(), op->length, op->offset, r);
          op->done(ec);
          return dispatch();
        }
      }
      op->done({});
      return dispatch();
    }
    switch (classify(r, o_.exclusive)) {
      case Failure::definite:
        op->done(sys(-r));
        break;
      case Failure::fenced:
        fence(fenced_why(r));
        op->done(store::fenced_error());
        break;
      case Failure::lost:
        lost(r);
        if (op->attempts < o_.retry_attempts && Clock::now() - op->arrived < o_.retry_max) {
          queue_.push_front(std::move(op));
        } else {
          op->done(sys(ENOTCONN));
        }
        break;
    }
    if (fenced_) fail_waiting(store::fenced_error());
    dispatch();
  }

  void fail_waiting(std::error_code ec) {
    auto q = std::move(queue_);
    queue_.clear();
    for (auto& op : q) op->done(ec);
  }

  void healthy() {
    if (ready_) return;
    ready_ = true;
    log()->info("{}: the cluster answers again; ready", describe());
  }
  void lost(int r) {
    if (!ready_) return;
    ready_ = false;
    down_since_ = Clock::now();
    log()->warn("{}: the cluster is out of reach ({}); NOT READY until it answers again", describe(), strerror(-r));
  }
  static std::string fenced_why(int r) {
    return r == -EROFS ? "a write was refused: the image's exclusive lock is not this client's any more (another node broke it)"
                       : "this client is blocklisted by the cluster (EBLOCKLISTED): another node took the image over";
  }
  void fence(const std::string& why) {
    if (released_ || fenced_.exchange(true)) return;  // released: not ours by choice, not fenced
    log()->error("{}: fenced: {}; no more I/O", describe(), why);
    if (o_.on_fenced) o_.on_fenced(why);
  }

  // ------------------------------------------------------------- exclusive lock (o_.exclusive)
  // The acquirer thread: rbd_lock_acquire every acquire_retry until the lock is ours or the
  // store closes (rbd_lock_acquire answers EROFS at once while another live client holds it: a
  // previous owner that has not released it yet; never broken here). An owner that died holding
  // it is librbd's to break: once its watch has expired (about 30 s), the next acquire breaks
  // its lock and blocklists the dead client.
  void acquire_loop(std::stop_token st) {
    bool told = false;
    while (!st.stop_requested()) {
      const int r = api().rbd_lock_acquire(h_->image, RBD_LOCK_MODE_EXCLUSIVE);
      const Acquire a = classify_acquire(r);
      if (a == Acquire::held) {
        asio::post(strand_, [self = shared_from_this()] { self->lock_held(); });
        return;
      }
      if (a == Acquire::fenced) {
        asio::post(strand_, [self = shared_from_this(), r] {
          self->fence(fenced_why(r));
          self->fail_waiting(store::fenced_error());
        });
        return;
      }
      if (a == Acquire::refused) {  // the feature went away under us (checked at open)
        log()->error("{}: the image has no exclusive lock any more: {}", describe(), strerror(-r));
        return;
      }
      if (!std::exchange(told, true))
        log()->info("{}: the image's exclusive lock is held by another client ({}): waiting for it, operations "
                    "wait too (at most retry_ms)", describe(), strerror(-r));
      // Sleeps in short steps: shutdown() and release_lock() join this thread.
      for (auto slept = std::chrono::milliseconds(0); slept < o_.acquire_retry && !st.stop_requested(); slept += kAcquireStep)
        std::this_thread::sleep_for(kAcquireStep);
    }
  }
  void lock_held() {
    locked_ = true;
    log()->info("{}: holds the image's exclusive lock now; serving", describe());
    dispatch();
  }
  // Waiting for the lock: operations older than retry_max fail (NOT READY, BECOMING READY).
  void expire_waiting() {
    const auto now = Clock::now();
    while (!queue_.empty() && now - queue_.front()->arrived > o_.retry_max) {
      auto op = std::move(queue_.front());
      queue_.pop_front();
      op->done(sys(ENOTCONN));
    }
  }

  // ------------------------------------------------------------- probe (strand only)
  void arm_probe() {
    if (closing_) return;
    probe_timer_.expires_after(o_.probe_interval);
    probe_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->closing_) return;
      if (!self->locked_) self->expire_waiting();
      if (!self->probing_ && !self->fenced_) {
        self->probing_ = true;
        auto* t = new Ticket{self, nullptr};
        if (int r = self->start(Kind::read, nullptr, t); r < 0) {
          delete t;
          self->probed(r);
        }
      }
      self->arm_probe();
    });
  }

  void probed(int r) {
    probing_ = false;
    if (r >= 0) return healthy();
    switch (classify(r)) {
      case Failure::lost: lost(r); break;
      case Failure::fenced: fence(fenced_why(r)); fail_waiting(store::fenced_error()); break;
      case Failure::definite: log()->warn("{}: health probe failed: {}", describe(), strerror(-r)); break;
    }
  }

  // ------------------------------------------------------------- growth
  static void on_update(void* arg) {  // a librbd thread
    auto* w = static_cast<WatchArg*>(arg);
    asio::post(w->strand, [impl = w->impl] {
      if (auto self = impl.lock()) self->check_size();
    });
  }

  void check_size() {
    if (closing_ || fenced_) return;
    uint64_t img = 0;
    if (int r = api().rbd_get_size(h_->image, &img); r < 0) {
      log()->warn("{}: cannot read the image size after an update: {}", describe(), strerror(-r));
      return;
    }
    const uint64_t was = image_size_;
    image_size_ = img;
    if (img <= was) return;
    log()->info("{}: the image grew from {} to {} bytes", describe(), was, img);
    if (size() == was && o_.on_grown) o_.on_grown(img);
  }

  RbdStoreOptions o_;
  std::unique_ptr<Handles> h_;
  asio::strand<asio::io_context::executor_type> strand_;
  asio::steady_timer probe_timer_;
  std::atomic<uint64_t> size_;
  std::atomic<bool> ready_{true}, fenced_{false};
  std::atomic<bool> locked_;  // the exclusive lock is ours, or not wanted
  std::atomic<bool> released_{false};  // release_lock() ran: nothing is sent any more
  std::jthread acquirer_;
  // strand only
  uint64_t image_size_;
  std::deque<std::unique_ptr<Op>> queue_;
  unsigned in_flight_ = 0;
  Clock::time_point down_since_{};
  bool probing_ = false, closing_ = false;
  std::vector<uint8_t> probe_buf_;
  std::unique_ptr<WatchArg> watch_;
  uint64_t watch_handle_ = 0;
};

class RbdStore final : public store::BackingStore {
 public:
  explicit RbdStore(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  ~RbdStore() override { impl_->shutdown(); }

  uint64_t size() const override { return impl_->size(); }
  std::error_code grow(uint64_t n) override { return impl_->grow(n); }
  bool thin() const override { return true; }
  std::string describe() const override { return impl_->describe(); }
  bool ready() const override { return impl_->ready(); }

  void read(uint64_t offset, std::span<uint8_t> buf, store::Completion done) override {
    if (auto ec = check(offset, buf.size())) return done(ec);
    auto op = std::make_unique<Op>(Op{.kind = Kind::read, .offset = offset, .length = buf.size(), .rbuf = buf.data(), .done = std::move(done)});
    impl_->submit(std::move(op));
  }
  void write(uint64_t offset, std::span<const uint8_t> buf, bool fua, store::Completion done) override {
    if (auto ec = check(offset, buf.size())) return done(ec);
    auto op = std::make_unique<Op>(Op{.kind = Kind::write, .offset = offset, .length = buf.size(), .wbuf = buf.data(), .fua = fua, .done = std::move(done)});
    impl_->submit(std::move(op));
  }
  void flush(store::Completion done) override {
    auto op = std::make_unique<Op>(Op{.kind = Kind::flush, .done = std::move(done)});
    impl_->submit(std::move(op));
  }
  void unmap(uint64_t offset, uint64_t length, store::Completion done) override {
    if (auto ec = check(offset, length)) return done(ec);
    auto op = std::make_unique<Op>(Op{.kind = Kind::zero, .offset = offset, .length = length, .done = std::move(done)});
    impl_->submit(std::move(op));
  }
  std::error_code extent(uint64_t offset, uint64_t max_length, store::Extent& out) override {
    // Metadata only and synchronous: librbd's allocation map (rbd_diff_iterate2) is a network
    // round trip, so every range reports mapped (docs/rbd.md "Limits").
    return store::all_mapped_extent(size(), offset, max_length, out);
  }

 private:
  std::error_code check(uint64_t offset, uint64_t len) const {
    const uint64_t s = size();
    if (offset > s || len > s - offset) return std::make_error_code(std::errc::invalid_argument);
    return {};
  }
  std::shared_ptr<Impl> impl_;

 public:
  const std::shared_ptr<Impl>& impl() const { return impl_; }
};

class LockHold final : public store::FenceHold {
 public:
  explicit LockHold(std::weak_ptr<Impl> impl) : impl_(std::move(impl)) {}
  void release() override {
    if (auto i = impl_.lock()) i->release_lock();
  }

 private:
  std::weak_ptr<Impl> impl_;
};

}  // namespace

std::shared_ptr<store::FenceHold> fence_hold(store::BackingStore& s) {
  auto* r = dynamic_cast<RbdStore*>(&s);
  if (!r || !r->impl()->exclusive()) return nullptr;
  return std::make_shared<LockHold>(r->impl());
}

namespace {

// Connects as client.<o.client> and opens the image into `h` (the calling thread, bounded by
// connect_timeout). 0, or an errno for the refusal with why.
int open_image(const RbdStoreOptions& o, Handles& h, std::string& why) {
  auto fail = [&](int e, std::string w) {
    why = std::move(w);
    return e;
  };
  if (int r = api().rados_create(&h.cluster, o.client.c_str()); r < 0) return fail(EINVAL, "rados_create: " + std::string(strerror(-r)));
  if (int r = api().rados_conf_read_file(h.cluster, o.conf.empty() ? nullptr : o.conf.c_str()); r < 0)
    return fail(EINVAL, "cannot read ceph.conf " + (o.conf.empty() ? std::string("(default search)") : o.conf) + ": " + strerror(-r));
  const std::string connect_s = std::to_string(std::max<int64_t>(1, (o.connect_timeout.count() + 999) / 1000));
  const std::string op_s = std::to_string(o.op_timeout_s);
  const std::pair<const char*, std::string> settings[] = {
      {"client_mount_timeout", connect_s}, {"rados_osd_op_timeout", op_s}, {"rados_mon_op_timeout", op_s},
      // No librbd client cache: its default write-around mode acknowledges a write before the
      // OSDs have it, and a write that then fails (the cluster gone) was still acknowledged; the
      // flush after it said nothing (seen with a frozen cluster). Every GOOD here is on the OSDs.
      {"rbd_cache", "false"},
      // Fencing (rbd_fence.h): breaking a lock blocklists its owner (librbd's default, made sure).
      {"rbd_blocklist_on_break_lock", "true"}};
  for (auto& [k, v] : settings)
    if (int r = api().rados_conf_set(h.cluster, k, v.c_str()); r < 0) return fail(EINVAL, std::string("setting ") + k + ": " + strerror(-r));
  if (!o.keyring.empty())
    if (int r = api().rados_conf_set(h.cluster, "keyring", o.keyring.c_str()); r < 0) return fail(EINVAL, "keyring: " + std::string(strerror(-r)));
  if (int r = api().rados_connect(h.cluster); r < 0)
    return fail(EHOSTUNREACH, "cannot connect to the cluster as client." + o.client + ": " + strerror(-r));
  if (int r = api().rados_ioctx_create(h.cluster, o.pool.c_str(), &h.ioctx); r < 0)
    return fail(r == -ENOENT ? ENOENT : EHOSTUNREACH, "pool " + o.pool + ": " + strerror(-r));
  api().rados_ioctx_set_namespace(h.ioctx, o.ns.empty() ? nullptr : o.ns.c_str());
  if (int r = api().rbd_open(h.ioctx, o.image.c_str(), &h.image, nullptr); r < 0)
    return fail(r == -ENOENT ? ENOENT : EHOSTUNREACH, "cannot open the image: " + std::string(strerror(-r)));
  return 0;
}

std::string where_of(const RbdStoreOptions& o) { return "rbd:" + o.pool + "/" + (o.ns.empty() ? "" : o.ns + "/") + o.image; }

// The standby's side of the rbd provider (rbd_store.h make_rbd_fence).
class RbdFence final : public store::StorageFence {
 public:
  explicit RbdFence(RbdStoreOptions o) : o_(std::move(o)) {}
  store::FenceProvider provider() const override { return store::FenceProvider::rbd_lock; }
  bool prepare(std::string& detail) override {
    detail = "nothing to prepare (the owner holds the image's exclusive lock)";
    return true;
  }
  store::TakeResult break_owner(std::string& detail) override {
    Handles h;  // a client of its own, closed (and its lock, if any, released) at return
    if (int e = open_image(o_, h, detail); e != 0) {
      detail = where_of(o_) + ": " + detail;
      return store::TakeResult::failed;
    }
    rbd_lock_mode_t mode{};
    char* names[kMaxLockOwners] = {};
    size_t n = kMaxLockOwners;
    const int r = api().rbd_lock_get_owners(h.image, &mode, names, &n);
    std::vector<std::string> owners;
    if (r >= 0) {
      for (size_t i = 0; i < n; ++i) owners.emplace_back(names[i]);
      api().rbd_lock_get_owners_cleanup(names, n);
    }
    std::vector<int> breaks;
    for (auto& owner : owners) breaks.push_back(api().rbd_lock_break(h.image, RBD_LOCK_MODE_EXCLUSIVE, owner.c_str()));
    const auto result = break_outcome(r, owners, breaks, detail);
    detail = where_of(o_) + ": " + detail;
    (result == store::TakeResult::won ? log()->warn("{}", detail) : log()->error("{}", detail));
    return result;
  }

 private:
  RbdStoreOptions o_;
};

}  // namespace

std::unique_ptr<store::StorageFence> make_rbd_fence(const RbdStoreOptions& o, std::string& why) {
  if (check_options(o, why)) return nullptr;
  if (!api().error.empty()) {
    why = api().error;
    return nullptr;
  }
  return std::make_unique<RbdFence>(o);
}

std::unique_ptr<store::BackingStore> make_rbd_store(asio::io_context& io, const RbdStoreOptions& o, std::error_code& ec,
                                                    std::string& why) {
  if ((ec = check_options(o, why))) return nullptr;
  if (!api().error.empty()) {
    ec = std::make_error_code(std::errc::not_supported);
    why = api().error;
    return nullptr;
  }
  auto h = std::make_unique<Handles>();
  const std::string where = where_of(o);
  auto fail = [&](int e, std::string w) -> std::unique_ptr<store::BackingStore> {
    ec = sys(e);
    why = where + ": " + w;
    log()->error("{}", why);
    return nullptr;
  };
  if (int e = open_image(o, *h, why); e != 0) return fail(e, why);
  uint64_t image_size = 0;
  if (int r = api().rbd_get_size(h->image, &image_size); r < 0) return fail(EIO, "rbd_get_size: " + std::string(strerror(-r)));
  if (o.size > image_size)
    return fail(EOVERFLOW, "size " + std::to_string(o.size) + " is beyond the image's " + std::to_string(image_size) + " bytes");
  const uint64_t size = o.size ? o.size : image_size;
  // The exclusive lock is taken by the store's acquirer thread, never here: rbd_lock_acquire
  // blocks while the owner is a client that died with its watch still registered (until the
  // watch expires, about 30 s), and this is the management thread.
  if (o.exclusive) {
    uint64_t features = 0;
    if (int r = api().rbd_get_features(h->image, &features); r < 0) return fail(EIO, "rbd_get_features: " + std::string(strerror(-r)));
    if (!(features & RBD_FEATURE_EXCLUSIVE_LOCK))
      return fail(EINVAL, "the image has no exclusive-lock feature, which fencing needs (rbd feature enable " + o.pool +
                              "/" + o.image + " exclusive-lock)");
  }
  auto impl = std::make_shared<Impl>(io, o, std::move(h), size, image_size, !o.exclusive);
  impl->start();
  log()->info("{}: open as client.{} ({} of {} bytes){}", where, o.client, size, image_size,
              o.exclusive ? ", taking its exclusive lock" : "");
  ec.clear();
  return std::make_unique<RbdStore>(std::move(impl));
}

}  // namespace stmf::rbdstore
