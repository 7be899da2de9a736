#include "tools/stmfproxy/relay.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <vector>

#include <libstmf.h>

#include "core/log.h"
#include "common/write_all.h"
#include "mgmt/protocol.h"
#include "tools/stmfproxy/result_sequencer.h"
#include "tools/stmfproxy/wire.h"

namespace stmfproxy {

using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;
using stream_protocol = asio::local::stream_protocol;

namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = stmf::logger("stmfproxy");
  return l;
}

// Bounded queues: above the high-water mark the producer waits.
constexpr size_t kConnHighWater = 16u << 20;  // bytes queued for the TCP link
constexpr size_t kPostHighWater = 16u << 20;  // bytes waiting for stmfPostProxyMsg
// One TCP write gathers at most this much.
constexpr size_t kMaxFramesPerWrite = 64;
constexpr size_t kMaxBytesPerWrite = 4u << 20;
// Accepted connections in their TLS handshake at once; a newer one closes the oldest.
constexpr size_t kMaxHandshaking = 4;

std::string status_text(int rc) {
  auto name = stmf::mgmt::status_name(rc);
  if (!name.empty()) return std::string(name);
  char buf[32];
  std::snprintf(buf, sizeof buf, "status 0x%x", unsigned(rc));
  return buf;
}

std::string endpoint_text(const tcp::socket& s) {
  boost::system::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "(unknown peer)";
  auto a = ep.address();
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
}

// A one-shot wakeup for a coroutine waiting on a condition of the io thread (single-threaded:
// the condition is checked and the wait registered without anything running in between).
struct Wakeup {
  explicit Wakeup(asio::any_io_executor ex) : timer(std::move(ex)) {}
  awaitable<void> wait() {
    timer.expires_at(asio::steady_timer::time_point::max());
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
  }
  void notify() { timer.cancel(); }
  asio::steady_timer timer;
};

}  // namespace

// The installed door: our end of the socket pair and the handle of the connection to stmfd.
struct Relay::Door {
  Door(asio::io_context& io, uint64_t g, int h) : gen(g), hdl(h), sock(io), space(io.get_executor()) {}
  uint64_t gen;
  int hdl;
  stream_protocol::socket sock;
  std::chrono::steady_clock::time_point since = std::chrono::steady_clock::now();
  ResultSequencer results;
  std::string out;  // encoded results not yet written
  bool writing = false;
  bool closed = false;
  // The link to the peer relay failed or was replaced since the last door call: frames
  // answered 0 may have died with it, and the peer's stmfd may be handshaking again. The next
  // door call is answered ENOTCONN: stmfd logs and counts it (stmfInitProxyDoor(3STMF): "without
  // further action"); a peer that is handshaking again gets its answer from the repeated HELLO.
  bool link_reset = false;
  Wakeup space;  // the door reader waits here while the TCP send queue is full
  uint64_t calls = 0, forwarded = 0, refused = 0, posted = 0;
};

// The link to the peer relay.
struct Relay::Conn {
  Conn(TlsStream s, bool t, uint64_t i)
      : id(i), stream(std::move(s)), tls(t), peer(endpoint_text(stream.next_layer())), space(stream.get_executor()) {}
  struct Out {
    std::vector<uint8_t> msg;  // u32 size + frame, as the door call carried it
    uint64_t door_gen;
    uint64_t seq;
  };
  uint64_t id;
  TlsStream stream;  // with tls false, only its socket (next_layer()) is used
  bool tls;
  std::vector<uint8_t> joined;  // TLS: the inflight messages in one buffer (one record run)
  std::string peer;
  std::deque<Out> queue;
  std::vector<Out> inflight;
  size_t queued_bytes = 0;  // queue + inflight
  bool writing = false;
  bool closed = false;
  Wakeup space;  // the TCP reader waits here while posts to stmfd are backed up
  uint64_t frames_out = 0, frames_in = 0;
};

Relay::Relay(asio::io_context& io, StmfWorker& worker, Options o)
    : io_(io), worker_(worker), opts_(std::move(o)), install_timer_(io), dial_timer_(io) {}

Relay::~Relay() = default;

bool Relay::start(std::string& why) {
  if (opts_.tls.enabled()) {
    tls_ = stmf::proxy::make_tls_context(opts_.tls, opts_.listen ? stmf::proxy::TlsRole::server : stmf::proxy::TlsRole::client,
                                         why);
    if (!tls_) {
      why = "TLS: " + why;
      return false;
    }
    log()->info("the link to the peer relay runs TLS 1.3 ({})",
                opts_.tls.peer_cert.empty() ? "peer certificate signed by " + opts_.tls.ca
                                            : "peer pinned to " + opts_.tls.peer_cert);
  } else {
    tls_ = std::make_shared<asio::ssl::context>(asio::ssl::context::tls);  // never handshakes
    log()->warn("the link to the peer relay is PLAIN TCP (--insecure): anyone who reaches it can read and forge the "
                "pair's traffic; use --tls-cert/--tls-key/--tls-peer-cert (docs/stmfproxy.md)");
  }
  if (opts_.listen) {
    boost::system::error_code ec;
    tcp::resolver r(io_);
    auto results = r.resolve(opts_.endpoint.host, std::to_string(opts_.endpoint.port),
                             tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec || results.empty()) {
      why = "--listen " + opts_.endpoint.str() + ": " + (ec ? ec.message() : "no address");
      return false;
    }
    const tcp::endpoint ep = *results.begin();
    auto a = std::make_unique<tcp::acceptor>(io_);
    a->open(ep.protocol(), ec);
    if (!ec) a->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) a->bind(ep, ec);
    if (!ec) a->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      why = "--listen " + opts_.endpoint.str() + ": " + ec.message();
      return false;
    }
    acceptor_ = std::move(a);
    log()->info("listening for the peer relay on {}", opts_.endpoint.str());
    asio::co_spawn(io_, accept_loop(), asio::detached);
  } else {
    resolver_.emplace(io_);
    log()->info("will connect to the peer relay at {} (retry every {} ms)", opts_.endpoint.str(), opts_.retry.count());
  }
  install();
  return true;
}

void Relay::stop() {
  if (stopping_) return;
  stopping_ = true;
  shared_->stopping.store(true);
  log()->info("stopping: closing the link and destroying the door");
  install_timer_.cancel();
  dial_timer_.cancel();
  if (resolver_) resolver_->cancel();
  boost::system::error_code ec;
  if (acceptor_) acceptor_->close(ec);
  if (conn_) conn_failed(conn_, "shutting down", true);
  if (door_) {
    auto d = door_;
    door_.reset();
    release_door(d);
  }
}

// ------------------------------------------------------------------------------------ door

void Relay::install() {
  if (stopping_ || installing_ || door_) return;
  installing_ = true;
  auto node = opts_.node;
  asio::io_context& io = io_;
  // The task does not touch the Relay: it posts its outcome back to the io thread.
  worker_.submit([this, &io, node, shared = shared_] {
    int sv[2];
    int hdl = -1, rc, alua_rc = STMF_STATUS_SUCCESS;
    if (shared->stopping.load()) return;
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      rc = STMF_ERROR_NOMEM;
      sv[0] = -1;
    } else {
      rc = stmfInitProxyDoor(&hdl, sv[1]);
      ::close(sv[1]);  // stmfd has its own copy now (or refused it)
      if (rc != STMF_STATUS_SUCCESS) {
        ::close(sv[0]);
        sv[0] = -1;
      } else if (node) {
        alua_rc = stmfSetAluaState(B_TRUE, *node);
      }
    }
    asio::post(io, [this, rc, hdl, fd = sv[0], alua_rc] { on_installed(rc, hdl, fd, alua_rc); });
  });
}

void Relay::install_after(std::chrono::milliseconds delay) {
  if (stopping_) return;
  if (delay.count() <= 0) return install();
  install_timer_.expires_after(delay);
  install_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) install();
  });
}

void Relay::on_installed(int rc, int hdl, int fd, int alua_rc) {
  installing_ = false;
  if (rc == STMF_STATUS_SUCCESS && stopping_) {
    worker_.submit([hdl, fd] {
      stmfDestroyProxyDoor(hdl);
      ::close(fd);
    });
    return;
  }
  if (stopping_) return;
  if (rc != STMF_STATUS_SUCCESS) {
    const bool repeat = rc == last_install_rc_;
    last_install_rc_ = rc;
    const auto level = repeat ? spdlog::level::debug : spdlog::level::warn;
    switch (rc) {
      case STMF_ERROR_SERVICE_NOT_FOUND:
        log()->log(level, "stmfd is not reachable at {}: retrying every {} ms", opts_.socket_path, opts_.retry.count());
        break;
      case STMF_ERROR_DOOR_INSTALLED:
        log()->log(repeat ? level : spdlog::level::err,
                   "stmfd at {} already has a proxy door (another stmfproxy?): retrying every {} ms", opts_.socket_path,
                   opts_.retry.count());
        break;
      case STMF_ERROR_PERM:
        log()->log(repeat ? level : spdlog::level::err,
                   "stmfd at {} refused the door: permission denied (run as root, as stmfd's user or in its admin "
                   "group); retrying every {} ms",
                   opts_.socket_path, opts_.retry.count());
        break;
      default:
        log()->log(repeat ? level : spdlog::level::err, "stmfInitProxyDoor: {}; retrying every {} ms", status_text(rc),
                   opts_.retry.count());
    }
    install_after(opts_.retry);
    return;
  }
  last_install_rc_ = 0;
  auto d = std::make_shared<Door>(io_, next_door_gen_++, hdl);
  boost::system::error_code ec;
  d->sock.assign(stream_protocol(), fd, ec);
  if (ec) {  // cannot happen with a fresh socketpair; treat it as a lost door
    ::close(fd);
    log()->error("door socket: {}", ec.message());
    worker_.submit([hdl] { stmfDestroyProxyDoor(hdl); });
    install_after(opts_.retry);
    return;
  }
  door_ = d;
  shared_->active_gen.store(d->gen);
  log()->info("proxy door installed on stmfd at {}", opts_.socket_path);
  if (opts_.node) {
    if (alua_rc == STMF_STATUS_SUCCESS) log()->info("ALUA enabled on stmfd: node {}", *opts_.node);
    else log()->error("stmfSetAluaState(B_TRUE, {}): {} (the door stays installed)", *opts_.node, status_text(alua_rc));
  }
  asio::co_spawn(io_, read_door(d), asio::detached);
  if (!opts_.listen) dial();
}

awaitable<void> Relay::read_door(std::shared_ptr<Door> d) {
  for (;;) {
    uint8_t hdr[4];
    boost::system::error_code ec;
    co_await asio::async_read(d->sock, asio::buffer(hdr), asio::redirect_error(use_awaitable, ec));
    if (d->closed) co_return;
    if (ec) {
      door_lost(d, ec == asio::error::eof ? "stmfd closed the door" : "reading the door: " + ec.message());
      co_return;
    }
    const uint32_t size = get_be32(hdr);
    if (!valid_size(size)) {
      door_lost(d, "stmfd sent a door call of " + std::to_string(size) + " bytes (1.." + std::to_string(kMaxMessage) +
                       " allowed)");
      co_return;
    }
    std::vector<uint8_t> msg(4 + size_t(size));
    std::memcpy(msg.data(), hdr, 4);
    co_await asio::async_read(d->sock, asio::buffer(msg.data() + 4, size), asio::redirect_error(use_awaitable, ec));
    if (d->closed) co_return;
    if (ec) {
      door_lost(d, ec == asio::error::eof ? "stmfd closed the door" : "reading the door: " + ec.message());
      co_return;
    }
    ++d->calls;
    const uint64_t seq = d->results.push();
    auto c = conn_;
    if (c && d->link_reset) {
      d->link_reset = false;
      ++d->refused;
      log()->info("the link to the peer relay was reset: {} answered ENOTCONN (frames may have died with it)",
                  describe_frame(msg.data() + 4, size));
      d->results.resolve(seq, uint32_t(ENOTCONN));
      flush_results(d);
      continue;
    }
    if (!c) {
      d->link_reset = false;  // this answer tells stmfd already
      ++d->refused;
      if (!lost_logged_) {
        lost_logged_ = true;
        log()->warn("no peer relay connected: door calls are answered ENOTCONN until one is (first: {})",
                    describe_frame(msg.data() + 4, size));
      } else {
        log()->debug("no peer relay: {} answered ENOTCONN", describe_frame(msg.data() + 4, size));
      }
      d->results.resolve(seq, uint32_t(ENOTCONN));
      flush_results(d);
      continue;
    }
    ++d->forwarded;
    c->queued_bytes += msg.size();
    c->queue.push_back(Conn::Out{std::move(msg), d->gen, seq});
    write_conn(c);
    // Bounded: wait while the link's send queue is full (the link may go away meanwhile).
    while (!d->closed && conn_ == c && c->queued_bytes > kConnHighWater) co_await d->space.wait();
    if (d->closed) co_return;
  }
}

void Relay::flush_results(const std::shared_ptr<Door>& d) {
  if (d->closed) return;
  std::vector<uint32_t> ready;
  d->results.take_ready(ready);
  for (uint32_t r : ready) {
    uint8_t be[4];
    put_be32(be, r);
    d->out.append(reinterpret_cast<const char*>(be), 4);
  }
  if (!d->writing && !d->out.empty()) write_results(d);
}

void Relay::write_results(const std::shared_ptr<Door>& d) {
  d->writing = true;
  auto buf = std::make_shared<std::string>(std::move(d->out));
  d->out.clear();
  asio::async_write(d->sock, asio::buffer(*buf), [this, d, buf](boost::system::error_code ec, size_t) {
    d->writing = false;
    if (d->closed) return;
    if (ec) {
      door_lost(d, "answering the door: " + ec.message());
      return;
    }
    if (!d->out.empty()) write_results(d);
  });
}

void Relay::door_lost(std::shared_ptr<Door> d, const std::string& why) {
  if (d != door_ || d->closed) return;
  door_.reset();
  const auto lived = std::chrono::steady_clock::now() - d->since;
  log()->warn("door lost: {} ({} door call(s): {} forwarded, {} answered ENOTCONN; {} frame(s) posted); installing it "
              "again",
              why, d->calls, d->forwarded, d->refused, d->posted);
  release_door(d);
  // The link only lives with the door: the peer relay answers ENOTCONN meanwhile.
  if (conn_) conn_failed(conn_, "this node's door is gone");
  // At once after a door that worked for a while; otherwise (stmfd refusing it again and
  // again) at the retry pace.
  install_after(lived >= opts_.retry ? std::chrono::milliseconds(0) : opts_.retry);
}

void Relay::release_door(const std::shared_ptr<Door>& d) {
  d->closed = true;
  shared_->active_gen.store(0);  // queued posts for this door are skipped
  d->space.notify();
  boost::system::error_code ec;
  d->sock.cancel(ec);
  // stmfd removes the door (size 0 on the handle, answered) before our end closes, so its log
  // says "destroyed" rather than "the relay closed the door".
  const int fd = d->sock.is_open() ? d->sock.release(ec) : -1;
  const int hdl = d->hdl;
  worker_.submit([hdl, fd] {
    stmfDestroyProxyDoor(hdl);
    if (fd >= 0) ::close(fd);
  });
}

// ------------------------------------------------------------------------------------ link

awaitable<void> Relay::accept_loop() {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket s = co_await acceptor_->async_accept(asio::redirect_error(use_awaitable, ec));
    if (stopping_) co_return;
    if (ec) {
      log()->warn("accepting the peer relay: {}", ec.message());
      asio::steady_timer t(io_);
      t.expires_after(opts_.retry);
      co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
      if (stopping_) co_return;
      continue;
    }
    if (!door_) {
      log()->debug("connection from {} refused: the door to stmfd is not installed", endpoint_text(s));
      s.close(ec);
      continue;
    }
    if (handshaking_.size() >= kMaxHandshaking) {
      TlsStream* oldest = handshaking_.front().second;
      handshaking_.pop_front();
      log()->warn("connection from {}: {} connections were in their TLS handshake: closing the oldest ({})",
                  endpoint_text(s), kMaxHandshaking, endpoint_text(oldest->next_layer()));
      oldest->next_layer().close(ec);
    }
    asio::co_spawn(io_, handshake_then_attach(TlsStream(std::move(s), *tls_)), asio::detached);
  }
}

// The link is replaced only by a connection that completed its TLS handshake (the peer relay
// proved its key): a stranger's connection never drops the live link.
awaitable<void> Relay::handshake_then_attach(TlsStream s) {
  const std::string who = endpoint_text(s.next_layer());
  if (opts_.tls.enabled()) {
    const uint64_t id = ++next_handshake_;
    if (opts_.listen) handshaking_.emplace_back(id, &s);
    auto timed_out = std::make_shared<bool>(false);
    asio::steady_timer t(io_);
    t.expires_after(opts_.handshake_timeout);
    t.async_wait([timed_out, &s](boost::system::error_code ec) {
      if (ec) return;
      *timed_out = true;
      boost::system::error_code ignored;
      s.next_layer().close(ignored);
    });
    boost::system::error_code ec;
    co_await s.async_handshake(opts_.listen ? asio::ssl::stream_base::server : asio::ssl::stream_base::client,
                               asio::redirect_error(use_awaitable, ec));
    t.cancel();
    std::erase_if(handshaking_, [id](const auto& e) { return e.first == id; });
    if (stopping_) co_return;
    if (ec || *timed_out) {
      const std::string why = *timed_out ? "no TLS handshake within " + std::to_string(opts_.handshake_timeout.count()) + " ms"
                                         : ec.message();
      log()->log(dial_failed_ && !opts_.listen ? spdlog::level::debug : spdlog::level::warn,
                 "{} {}: TLS handshake failed: {}", opts_.listen ? "connection from" : "peer relay at", who, why);
      boost::system::error_code ignored;
      s.next_layer().close(ignored);
      if (!opts_.listen) {
        dial_failed_ = true;
        dial_after(opts_.retry);
      }
      co_return;
    }
  }
  if (!door_ || (!opts_.listen && conn_)) co_return;  // the door went away meanwhile
  attach(std::move(s));
}

void Relay::dial() {
  if (stopping_ || opts_.listen || !door_ || conn_ || dialing_) return;
  dialing_ = true;
  asio::co_spawn(io_, dial_once(), asio::detached);
}

void Relay::dial_after(std::chrono::milliseconds delay) {
  dial_timer_.expires_after(delay);
  dial_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) dial();
  });
}

awaitable<void> Relay::dial_once() {
  boost::system::error_code ec;
  auto eps = co_await resolver_->async_resolve(opts_.endpoint.host, std::to_string(opts_.endpoint.port),
                                               tcp::resolver::numeric_service, asio::redirect_error(use_awaitable, ec));
  tcp::socket s(io_);
  if (!ec && !stopping_) co_await asio::async_connect(s, eps, asio::redirect_error(use_awaitable, ec));
  dialing_ = false;
  if (stopping_) co_return;
  if (ec) {
    log()->log(dial_failed_ ? spdlog::level::debug : spdlog::level::warn, "connecting to the peer relay at {}: {} (retrying every {} ms)",
               opts_.endpoint.str(), ec.message(), opts_.retry.count());
    dial_failed_ = true;
    dial_after(opts_.retry);
    co_return;
  }
  if (!door_ || conn_) co_return;  // the door went away meanwhile (dial() again once it is back)
  dialing_ = true;  // until the handshake ends
  co_await handshake_then_attach(TlsStream(std::move(s), *tls_));
  dialing_ = false;
}

void Relay::attach(TlsStream stream) {
  boost::system::error_code ec;
  stream.next_layer().set_option(tcp::no_delay(true), ec);
  stream.next_layer().set_option(asio::socket_base::keep_alive(true), ec);
  auto c = std::make_shared<Conn>(std::move(stream), opts_.tls.enabled(), next_conn_id_++);
  if (conn_) conn_failed(conn_, "replaced by a newer connection from " + c->peer);
  conn_ = c;
  dial_failed_ = false;
  lost_logged_ = false;
  log()->info("linked to the peer relay {} ({}, {})", c->peer, opts_.listen ? "accepted" : "connected",
              c->tls ? stmf::proxy::describe_tls(c->stream.native_handle()) : "plain TCP");
  asio::co_spawn(io_, read_conn(c), asio::detached);
}

void Relay::conn_failed(std::shared_ptr<Conn> c, const std::string& why, bool quiet) {
  if (c->closed) return;
  c->closed = true;
  boost::system::error_code ec;
  c->stream.next_layer().close(ec);
  c->space.notify();
  // Frames not (completely) written are lost: their door calls are answered ENOTCONN.
  auto d = door_;
  size_t lost = 0;
  auto fail = [&](const Conn::Out& o) {
    ++lost;
    if (d && d->gen == o.door_gen) d->results.resolve(o.seq, uint32_t(ENOTCONN));
  };
  for (auto& o : c->inflight) fail(o);
  for (auto& o : c->queue) fail(o);
  if (!c->writing) c->inflight.clear();  // else the write's handler frees them (its buffers)
  c->queue.clear();
  c->queued_bytes = 0;
  if (d) {
    d->link_reset = true;
    flush_results(d);
    d->space.notify();
  }
  const bool current = conn_ == c;
  if (current) conn_.reset();
  const bool idle = c->frames_out == 0 && c->frames_in == 0 && lost == 0;
  if (!quiet && idle) {
    // Nothing crossed it: typically the peer relay refusing us while its own door is not
    // installed yet (it closes connections until then).
    log()->info("link to the peer relay {} closed before any frame crossed it: {}", c->peer, why);
  } else if (!quiet) {
    log()->warn("link to the peer relay {} lost: {} ({} frame(s) sent, {} received, {} unsent answered ENOTCONN)", c->peer,
                why, c->frames_out, c->frames_in, lost);
  }
  if (current && !opts_.listen && !stopping_ && door_) dial_after(opts_.retry);
}

void Relay::write_conn(const std::shared_ptr<Conn>& c) {
  if (c->writing || c->closed || c->queue.empty()) return;
  c->writing = true;
  std::vector<asio::const_buffer> bufs;
  size_t bytes = 0;
  while (!c->queue.empty() && c->inflight.size() < kMaxFramesPerWrite &&
         (c->inflight.empty() || bytes + c->queue.front().msg.size() <= kMaxBytesPerWrite)) {
    c->inflight.push_back(std::move(c->queue.front()));
    c->queue.pop_front();
    bytes += c->inflight.back().msg.size();
  }
  for (auto& o : c->inflight) bufs.emplace_back(asio::buffer(o.msg));
  auto written = [this, c](boost::system::error_code ec, size_t) {
    c->writing = false;
    if (c->closed) {
      c->inflight.clear();
      return;
    }
    if (ec) {
      conn_failed(c, "sending: " + ec.message());
      c->inflight.clear();
      return;
    }
    // Written: the frames are on their way, their door calls are answered 0.
    auto d = door_;
    for (auto& o : c->inflight) {
      c->queued_bytes -= o.msg.size();
      ++c->frames_out;
      if (d && d->gen == o.door_gen) d->results.resolve(o.seq, 0);
    }
    c->inflight.clear();
    if (d) {
      flush_results(d);
      d->space.notify();
    }
    write_conn(c);
  };
  if (!c->tls) {
    asio::async_write(c->stream.next_layer(), bufs, stmf::WriteAllAtOnce{}, std::move(written));
    return;
  }
  // An SSL stream writes one buffer of a sequence at a time (a record and a system call each).
  c->joined.clear();
  c->joined.reserve(bytes);
  for (auto& o : c->inflight) c->joined.insert(c->joined.end(), o.msg.begin(), o.msg.end());
  asio::async_write(c->stream, asio::buffer(c->joined), std::move(written));
}

awaitable<void> Relay::read_conn(std::shared_ptr<Conn> c) {
  for (;;) {
    uint8_t hdr[4];
    boost::system::error_code ec;
    if (c->tls) co_await asio::async_read(c->stream, asio::buffer(hdr), asio::redirect_error(use_awaitable, ec));
    else co_await asio::async_read(c->stream.next_layer(), asio::buffer(hdr), asio::redirect_error(use_awaitable, ec));
    if (c->closed) co_return;
    if (ec) {
      conn_failed(c, ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ? "the peer relay closed the connection" : "receiving: " + ec.message());
      co_return;
    }
    const uint32_t size = get_be32(hdr);
    if (!valid_size(size)) {
      log()->error("the peer relay {} sent a message of {} bytes (1..{} allowed): dropping the connection", c->peer, size,
                   kMaxMessage);
      conn_failed(c, "bad message size");
      co_return;
    }
    std::vector<uint8_t> frame(size);
    if (c->tls) co_await asio::async_read(c->stream, asio::buffer(frame), asio::redirect_error(use_awaitable, ec));
    else co_await asio::async_read(c->stream.next_layer(), asio::buffer(frame), asio::redirect_error(use_awaitable, ec));
    if (c->closed) co_return;
    if (ec) {
      conn_failed(c, ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ? "the peer relay closed the connection" : "receiving: " + ec.message());
      co_return;
    }
    ++c->frames_in;
    post_frame(std::move(frame));
    // Bounded: wait while stmfd has not taken what was posted.
    while (!c->closed && posting_bytes_ > kPostHighWater) co_await c->space.wait();
    if (c->closed) co_return;
  }
}

void Relay::post_frame(std::vector<uint8_t> frame) {
  auto d = door_;
  if (!d) return;  // unreachable: the link closes with the door
  const uint64_t gen = d->gen;
  const int hdl = d->hdl;
  posting_bytes_ += frame.size();
  asio::io_context& io = io_;
  worker_.submit([this, &io, shared = shared_, gen, hdl, frame = std::move(frame)]() mutable {
    int rc = -1;  // skipped: the door it was meant for is gone
    std::string what;
    if (shared->active_gen.load() == gen) {
      rc = stmfPostProxyMsg(hdl, frame.data(), uint32_t(frame.size()));
      if (rc != STMF_STATUS_SUCCESS) what = describe_frame(frame.data(), frame.size());
    }
    asio::post(io, [this, gen, rc, n = frame.size(), what = std::move(what)] { on_posted(gen, rc, n, what); });
  });
}

void Relay::on_posted(uint64_t gen, int rc, size_t bytes, const std::string& what) {
  posting_bytes_ -= bytes;
  if (conn_) conn_->space.notify();
  auto d = door_;
  if (rc == -1 || !d || d->gen != gen) return;
  switch (rc) {
    case STMF_STATUS_SUCCESS:
      ++d->posted;
      return;
    case STMF_ERROR_POST_MSG_FAILED:
    case STMF_ERROR_SERVICE_NOT_FOUND:
      door_lost(d, "stmfPostProxyMsg: " + status_text(rc) + " (stmfd went away?)");
      return;
    case STMF_ERROR_NOT_FOUND:
      door_lost(d, "stmfPostProxyMsg: stmfd has no door installed any more");
      return;
    case STMF_ERROR_INVALID_ARG:
      log()->error("stmfd refused {} from the peer relay: not a valid proxy frame (STMF_ERROR_INVALID_ARG)", what);
      return;
    default:
      log()->error("stmfPostProxyMsg of {} from the peer relay: {}", what, status_text(rc));
  }
}

}  // namespace stmfproxy
