#include "tools/stmfd/mgmt_server.h"

#include <arpa/inet.h>
#include <grp.h>
#include <malloc.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <fstream>
#include <random>
#include <string_view>
#include <utility>

#include "core/log.h"
#include "tools/stmfd/acct_record.h"
#include "tools/stmfd/session_acct.h"
#include "mgmt/door_fd.h"
#include "mgmt/json_limits.h"
#include "mgmt/ops.h"

namespace stmfd {

using namespace stmf::mgmt;
using asio::awaitable;
using asio::use_awaitable;
using local_socket = asio::local::stream_protocol::socket;

namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = stmf::logger("mgmt");
  return l;
}

std::string random_hex(size_t bytes) {
  static std::random_device rd;
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < bytes; ++i) {
    unsigned v = rd() & 0xff;
    s += hex[v >> 4];
    s += hex[v & 15];
  }
  return s;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), ::tolower);
  return s;
}
std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), ::toupper);
  return s;
}

json respond(const Status& s, json result = json::object()) {
  json r = make_response(s);
  if (s.ok() && result.is_object())
    for (auto& [k, v] : result.items()) r[k] = v;
  return r;
}

// Kinds of rate-limited warnings (MgmtServer::warn_limited).
enum WarnKind : int { kWarnConnCap, kWarnUidCap, kWarnLine, kWarnDepth, kWarnIdle };

// Accept back-off: the first retry after this, doubling up to kAcceptBackoffMax.
constexpr std::chrono::milliseconds kAcceptBackoffMin{100};
constexpr std::chrono::milliseconds kAcceptBackoffMax{1000};
// A connection that buffered at least this much gives the memory back to the system when it
// closes (malloc_trim): glibc keeps freed large heaps of the management thread's arena.
constexpr size_t kTrimAfterBytes = 1u << 20;
// Connections of max_connections only privileged clients may take (at most a quarter).
constexpr size_t kPrivilegedReserve = 8;

// Best-effort reply to a client that is refused or about to be closed: never waits (a client
// that does not read gets nothing).
void send_now(local_socket& sock, const json& reply) {
  const std::string out = reply.dump() + "\n";
  [[maybe_unused]] ssize_t n = ::send(sock.native_handle(), out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

void close_all(std::vector<int>& fds) {
  for (int fd : fds) ::close(fd);
  fds.clear();
}

const Status kPermDenied = error(STMF_ERROR_PERM, "permission denied: changes need root or the admin group");

// The standby LU (ALUA pair: registered here by the peer, active there, not in this node's
// configuration) that a request names by `guid`, or with `by_backing` by `backing` when it has
// no `guid` (modify-lu). nullptr when it names none, or names an LU configured here.
// `standby`: Runtime::standby_lus().
const json* standby_named(const json& standby, const Config& c, const json& req, bool by_backing) {
  if (!standby.is_object()) return nullptr;
  if (auto it = req.find("guid"); it != req.end()) {
    auto g = it->is_string() ? parse_guid(it->get<std::string>()) : std::nullopt;
    if (!g || c.find_lu(guid_hex(*g))) return nullptr;
    auto sb = standby.find(guid_hex(*g));
    return sb == standby.end() ? nullptr : &*sb;
  }
  auto it = req.find("backing");
  if (!by_backing || it == req.end() || !it->is_string()) return nullptr;
  for (auto& l : c.lus)
    if (l.store == "file" && l.backing == it->get<std::string>()) return nullptr;
  for (auto& l : standby)
    if (l.value("backing", std::string()) == it->get<std::string>()) return &l;
  return nullptr;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Reads a Unix stream socket with recvmsg, keeping the descriptors that arrive as SCM_RIGHTS
// (received close-on-exec). The kernel delivers a message's descriptors with the read that
// consumes the message's last byte (it never reads past such a message), so each descriptor is
// recorded at the offset of the last byte that read returned: it belongs to the request (or
// frame) containing that byte. Descriptors still held are closed with the reader.
class MgmtServer::FdReader {
 public:
  explicit FdReader(local_socket& sock) : sock_(sock) {}
  ~FdReader() {
    for (auto& [off, fd] : fds_) ::close(fd);
  }
  FdReader(const FdReader&) = delete;
  FdReader& operator=(const FdReader&) = delete;

  // The bytes received and not yet taken.
  const std::string& data() const { return buf_; }

  // Waits until the socket is readable and appends what it holds. False at end of stream or on
  // an error (the connection is done).
  awaitable<bool> fill() {
    for (;;) {
      std::array<char, 65536> chunk;
      iovec iov{chunk.data(), chunk.size()};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control_.data();
      msg.msg_controllen = control_.size() * sizeof(uint64_t);
      ssize_t n = ::recvmsg(sock_.native_handle(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        boost::system::error_code ec;
        co_await sock_.async_wait(local_socket::wait_read, asio::redirect_error(use_awaitable, ec));
        if (ec) co_return false;
        continue;
      }
      if (n <= 0) co_return false;
      buf_.append(chunk.data(), size_t(n));
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
          int fd;
          std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
          fds_.emplace_back(buf_.size() - 1, fd);
        }
      }
      if (msg.msg_flags & MSG_CTRUNC) log()->warn("a client passed more than {} descriptors at once: the rest were dropped", kMaxFds);
      co_return true;
    }
  }

  // Removes the first n bytes; returns the descriptors that came with them (the caller owns them).
  std::vector<int> take(size_t n) {
    buf_.erase(0, n);
    // A large request (an import) leaves a large buffer: not kept for the connection's life.
    if (buf_.capacity() >= kTrimAfterBytes && buf_.size() < kTrimAfterBytes / 4) buf_.shrink_to_fit();
    std::vector<int> out;
    std::vector<std::pair<size_t, int>> rest;
    for (auto& [off, fd] : fds_) {
      if (off < n) out.push_back(fd);
      else rest.emplace_back(off - n, fd);
    }
    fds_ = std::move(rest);
    return out;
  }

 private:
  static constexpr size_t kMaxFds = 16;
  local_socket& sock_;
  std::string buf_;
  std::vector<std::pair<size_t, int>> fds_;  // (offset of the last byte read with it, descriptor)
  // Ancillary data buffer on the heap: suitably aligned for cmsghdr (coroutine frames, where
  // this reader lives, do not keep over-aligned locals aligned).
  std::vector<uint64_t> control_ = std::vector<uint64_t>((CMSG_SPACE(sizeof(int) * kMaxFds) + 7) / 8);
};

MgmtServer::MgmtServer(asio::io_context& io, Runtime& runtime, StateDb* db, Config current)
    : io_(io), strand_(asio::make_strand(io)), runtime_(runtime), db_(db), current_(std::move(current)),
      limits_(current_.management), accept_timer_(std::make_unique<asio::steady_timer>(strand_)) {
  ctx_.new_guid = [this] { return derive_guid(current_.company_id, "generated|" + random_hex(16)); };
  ctx_.new_target_iqn = [] { return "iqn.2026-11.org.stmf:" + random_hex(8); };
  runtime_.set_demote([this](const std::string& guid, std::function<void(bool)> done) { demote_lu(guid, std::move(done)); });
  runtime_.set_promote([this](const json& lu, std::function<void(bool)> done) { promote_lu(lu, std::move(done)); });
}

void MgmtServer::promote_lu(const json& lu, std::function<void(bool)> done) {
  asio::post(strand_, [this, lu, done = std::move(done)] {
    ConfigError err;
    auto l = parse_lu(lu, "lu", current_.company_id, err);
    if (!l) {
      log()->error("switchover: the peer's LU description is not usable: {}", err.message());
      return done(false);
    }
    Config next = current_;
    if (auto* o = next.find_lu(l->guid)) {
      if (!o->standby) return done(false);
      // A SAN-backed LU keeps this node's own login to the SAN LUN (its address as seen from
      // here, its initiator name, its CHAP secret): the peer's registration carries the peer's
      // (and never a secret).
      if (o->store == "iscsi" && l->store == "iscsi") l->backend = o->backend;
      // An RBD-backed one keeps this node's cephx id, ceph.conf and keyring likewise.
      if (o->store == "rbd" && l->store == "rbd") l->rbd = o->rbd;
      *o = *l;  // this node's standby record of the LU becomes the active LU
    } else {
      next.lus.push_back(*l);
    }
    Status s = apply(next);
    if (!s.ok()) log()->error("switchover: LU {} could not be taken: {}", l->guid, s.message);
    if (audit_)
      audit_->write("alua", "switchover-in", {{"peer", "alua-peer"}}, {{"lu", l->guid}, {"epoch", l->epoch}},
                    s.ok() ? "ok" : "failed", s.message);
    done(s.ok());
  });
}

void MgmtServer::demote_lu(const std::string& guid, std::function<void(bool)> done) {
  asio::post(strand_, [this, guid, done = std::move(done)] {
    Config next = current_;
    auto* l = next.find_lu(guid);
    if (!l || l->standby) return done(false);
    l->standby = true;
    Status s = apply(next);
    if (s.ok())
      log()->warn("LU {} kept in this node's configuration as a standby record: the ALUA peer owns it (newer "
                  "epoch); its view entries stay and now show the standby copy", guid);
    else
      log()->error("LU {}: stepping down failed: {}", guid, s.message);
    if (audit_)
      audit_->write("fencing", "step-down", {{"peer", "alua-peer"}}, {{"lu", guid}}, s.ok() ? "ok" : "failed", s.message);
    done(s.ok());
  });
}

bool MgmtServer::start(const std::string& path, std::string& why) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (auto dir = fs::path(path).parent_path(); !dir.empty()) fs::create_directories(dir, ec);
  asio::local::stream_protocol::endpoint ep(path);
  if (fs::exists(path, ec)) {
    // A socket file left by a dead daemon is removed; a live daemon keeps it.
    local_socket probe(io_);
    boost::system::error_code pec;
    probe.connect(ep, pec);
    if (!pec) {
      why = "another stmfd is serving " + path;
      return false;
    }
    fs::remove(path, ec);
  }
  acceptor_ = std::make_unique<asio::local::stream_protocol::acceptor>(strand_);
  boost::system::error_code bec;
  acceptor_->open(ep.protocol(), bec);
  if (!bec) acceptor_->bind(ep, bec);
  if (!bec) acceptor_->listen(64, bec);
  if (bec) {
    why = "management socket " + path + ": " + bec.message();
    return false;
  }
  ::chmod(path.c_str(), 0666);  // reads are open to local users; changes are checked per request
  path_ = path;
  log()->info("management socket {}", path);
  accept_loop();
  return true;
}

void MgmtServer::stop() {
  asio::post(strand_, [this] {
    if (acceptor_) {
      boost::system::error_code ec;
      acceptor_->close(ec);
    }
    accept_timer_->cancel();
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove(path_, ec);
  });
}

template <class... Args>
void MgmtServer::warn_limited(int kind, spdlog::format_string_t<Args...> f, Args&&... args) {
  auto& w = warned_[size_t(kind)];
  const auto now = std::chrono::steady_clock::now();
  if (now < w.next) {
    ++w.dropped;
    return;
  }
  w.next = now + std::chrono::seconds(1);
  std::string text = fmt::format(f, std::forward<Args>(args)...);
  if (w.dropped) text += fmt::format(" ({} more like this in the last second not logged)", w.dropped);
  w.dropped = 0;
  log()->warn("{}", text);
}

void MgmtServer::accept_loop() {
  acceptor_->async_accept(strand_, [this](boost::system::error_code ec, local_socket s) {
    if (ec == asio::error::operation_aborted || !acceptor_->is_open()) return;  // closed
    if (ec) return accept_failed(ec);
    if (accept_errors_) {
      log()->info("management socket: accepting again after {} failed accept(s)", accept_errors_);
      accept_errors_ = 0;
      accept_backoff_ = {};
    }
    asio::co_spawn(strand_, serve(std::move(s)), asio::detached);
    accept_loop();
  });
}

void MgmtServer::accept_failed(const boost::system::error_code& ec) {
  if (accept_errors_++ == 0)
    log()->error("management socket: accept failed: {}; retrying with a back-off of {} to {} ms ({} open connection(s))",
                 ec.message(), kAcceptBackoffMin.count(), kAcceptBackoffMax.count(), conns_->open);
  accept_backoff_ = accept_backoff_.count() ? std::min(accept_backoff_ * 2, kAcceptBackoffMax) : kAcceptBackoffMin;
  accept_timer_->expires_after(accept_backoff_);
  accept_timer_->async_wait([this](boost::system::error_code tec) {
    if (!tec && acceptor_ && acceptor_->is_open()) accept_loop();
  });
}

awaitable<void> MgmtServer::serve(local_socket sock) {
  PeerCredentials peer;
  ucred uc{};
  socklen_t len = sizeof uc;
  if (::getsockopt(sock.native_handle(), SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0) {
    peer.uid = uc.uid;
    peer.gid = uc.gid;
    peer.pid = uc.pid;
  }
  // Connection caps: the client gets one error line and the connection is closed. The last
  // slots are kept for privileged clients: local users flooding from several uids cannot lock
  // root out.
  const bool may_import = privileged(peer);
  const size_t reserve = std::min<size_t>(kPrivilegedReserve, limits_.max_connections / 4);
  if (conns_->open >= limits_.max_connections - (may_import ? 0 : reserve)) {
    warn_limited(kWarnConnCap, "management socket: {} connections open (management.max_connections): pid {} uid {} refused",
                 conns_->open, peer.pid, peer.uid);
    send_now(sock, respond(error(STMF_ERROR_BUSY, "too many management connections (" +
                                                      std::to_string(limits_.max_connections) + "); retry later")));
    co_return;
  }
  if (auto it = conns_->per_uid.find(peer.uid); it != conns_->per_uid.end() && it->second >= limits_.max_connections_per_uid) {
    warn_limited(kWarnUidCap,
                 "management socket: uid {} has {} connections open (management.max_connections_per_uid): pid {} refused",
                 peer.uid, it->second, peer.pid);
    send_now(sock, respond(error(STMF_ERROR_BUSY, "too many management connections of uid " + std::to_string(peer.uid) +
                                                      " (" + std::to_string(limits_.max_connections_per_uid) +
                                                      "); retry later")));
    co_return;
  }
  // Counted while open (everything here runs on the strand). Memory a large request took is
  // given back when its connection closes.
  size_t peak = 0;
  struct Slot {
    std::shared_ptr<Conns> c;
    uid_t uid;
    size_t& peak;
    ~Slot() {
      --c->open;
      if (--c->per_uid[uid] == 0) c->per_uid.erase(uid);
      if (peak >= kTrimAfterBytes) ::malloc_trim(0);
    }
  } slot{conns_, peer.uid, peak};
  ++conns_->open;
  ++conns_->per_uid[peer.uid];

  // The deadline: a request must arrive whole, and its answer be taken, within idle_timeout_s
  // (not while it runs, nor in door mode). On expiry the socket is cancelled and the reads or
  // writes waiting on it fail. Shared with the timer's handler, which may run after we return.
  struct Deadline {
    local_socket* sock;
    uint64_t armed = 0;  // generation: a handler of an older arming does nothing
    bool live = true, expired = false;
  };
  auto dl = std::make_shared<Deadline>(Deadline{&sock});
  asio::steady_timer timer(strand_);
  auto arm = [&] {
    const uint64_t gen = ++dl->armed;
    timer.expires_after(std::chrono::seconds(limits_.idle_timeout_s));
    timer.async_wait([dl, gen](boost::system::error_code ec) {
      if (ec || !dl->live || dl->armed != gen) return;
      dl->expired = true;
      boost::system::error_code cec;
      dl->sock->cancel(cec);
    });
  };
  auto disarm = [&] {
    ++dl->armed;
    timer.cancel();
  };
  struct Done {
    Deadline& d;
    ~Done() { d.live = false; }
  } done{*dl};

  const size_t max_line = limits_.max_line_bytes;
  const size_t max_read = may_import ? std::max<size_t>(limits_.max_import_bytes, max_line) : max_line;
  const uint64_t conn = next_conn_++;
  FdReader in(sock);
  for (;;) {
    arm();
    size_t nl;
    size_t scanned = 0;
    while ((nl = in.data().find('\n', scanned)) == std::string::npos) {
      scanned = in.data().size();
      peak = std::max(peak, in.data().capacity());
      if (in.data().size() > max_read) {
        warn_limited(kWarnLine, "management socket: pid {} uid {} sent a request line over {} bytes ({}): closed",
                     peer.pid, peer.uid, max_read, may_import ? "management.max_import_bytes" : "management.max_line_bytes");
        send_now(sock, respond(error(STMF_ERROR_INVALID_ARG,
                                     "request larger than " + std::to_string(max_read) + " bytes" +
                                         (may_import ? "" : " (only a privileged import may be larger)") +
                                         "; connection closed")));
        co_return;
      }
      if (!co_await in.fill()) {
        if (dl->expired) {
          if (in.data().empty()) {
            log()->debug("management socket: pid {} idle for {} s: closed", peer.pid, limits_.idle_timeout_s);
          } else {
            warn_limited(kWarnIdle, "management socket: pid {} uid {} did not complete its request in {} s "
                         "(management.idle_timeout_s): closed", peer.pid, peer.uid, limits_.idle_timeout_s);
            send_now(sock, respond(error(STMF_STATUS_ERROR, "request not complete after " +
                                                                std::to_string(limits_.idle_timeout_s) +
                                                                " s; connection closed")));
          }
        }
        co_return;
      }
    }
    peak = std::max(peak, in.data().capacity());
    disarm();
    std::string line = in.data().substr(0, nl);
    std::vector<int> fds = in.take(nl + 1);
    // The nesting bound comes before anything copies, compares or dumps the request.
    AdmittedRequest admitted = admit_request(line, limits_);
    json req = std::move(admitted.request);
    json resp;
    bool door = false;
    if (!admitted.status.ok()) {
      close_all(fds);
      if (admitted.too_deep)
        warn_limited(kWarnDepth, "management socket: pid {} uid {}: {} (management.max_json_depth)", peer.pid,
                     peer.uid, admitted.status.message);
      else if (line.size() > max_line)
        warn_limited(kWarnLine, "management socket: pid {} uid {}: request of {} bytes over management.max_line_bytes "
                     "({}) and not an import: refused", peer.pid, peer.uid, line.size(), max_line);
      resp = respond(admitted.status);
    } else if (req.contains("op") && req["op"] == "init-proxy-door") {
      resp = init_proxy_door(req, peer, fds, conn, door);
    } else {
      if (!fds.empty()) log()->warn("client pid {}: {} descriptor(s) with op {} closed", peer.pid, fds.size(), req.value("op", json()).dump());
      close_all(fds);
      try {
        resp = co_await handle(req, peer);
      } catch (const json::exception& e) {
        // An argument of an unexpected type that an op read without checking (e.g. "dry_run":
        // "x"): an answer, not a silently dropped connection.
        log()->warn("client pid {}: op {}: malformed argument: {}", peer.pid, req.value("op", json()).dump(), e.what());
        resp = respond(error(STMF_ERROR_INVALID_ARG, std::string("malformed argument: ") + e.what()));
      }
    }
    if (req.is_object()) audit_request(req, resp, peer);
    line = std::string();
    req = json();
    std::string out = resp.dump() + "\n";
    resp = json();
    if (!door) arm();  // the answer must be taken in time too
    boost::system::error_code ec;
    co_await asio::async_write(sock, asio::buffer(out), asio::redirect_error(use_awaitable, ec));
    if (door) {
      DoorHost* host = door_host();
      co_await serve_door(sock, in, conn, host, peer);  // the connection ends with post mode
      co_return;
    }
    if (ec) co_return;
  }
}

void MgmtServer::audit_request(const json& req, const json& resp, const PeerCredentials& peer) {
  if (!audit_) return;
  auto o = req.find("op");
  if (o == req.end() || !o->is_string()) return;
  const std::string op = *o;
  json what;
  if (op == "import") {
    auto d = req.find("dry_run");
    if (d != req.end() && d->is_boolean() && d->get<bool>()) return;  // a dry run changes nothing
    // Not the whole configuration (up to max_import_bytes): what it changed.
    what = {{"changes", resp.value("changes", json::array())}};
  } else if (op == "switchover-lu" || op == "import-lu" || op == "init-proxy-door" ||
             ((op == "arsctl" || op == "arsop") && changes_array_sessions(req))) {
    what = redact_secrets(req);
  } else if (const OpInfo* info = find_op(op); info && info->changes) {
    what = redact_secrets(req);
  } else {
    return;  // reads are not audited
  }
  what.erase("v");
  what.erase("op");
  const int status = resp.value("status", int(STMF_STATUS_ERROR));
  audit_->write("management", op, {{"uid", peer.uid}, {"gid", peer.gid}, {"pid", peer.pid}}, what,
                status == STMF_STATUS_SUCCESS ? "ok" : resp.value("error", std::string("STMF_STATUS_ERROR")),
                status == STMF_STATUS_SUCCESS ? std::string() : resp.value("message", std::string()));
}

json MgmtServer::init_proxy_door(const json& req, const PeerCredentials& peer, std::vector<int>& fds, uint64_t conn,
                                 bool& installed) {
  installed = false;
  // The descriptors are ours whatever happens: only the first is the door.
  int door = -1;
  if (!fds.empty()) {
    door = fds.front();
    fds.erase(fds.begin());
  }
  close_all(fds);
  auto refuse = [&](Status s) {
    if (door >= 0) ::close(door);
    return respond(s);
  };
  if (!req.contains("v") || req["v"] != kProtocolVersion)
    return refuse(error(STMF_ERROR_INVALID_ARG, "unsupported protocol version (this stmfd speaks v1)"));
  if (!privileged(peer)) return refuse(kPermDenied);
  if (door < 0) return refuse(error(STMF_ERROR_INVALID_ARG, "init-proxy-door needs the door's file descriptor (SCM_RIGHTS)"));
  // A descriptor that cannot carry door calls is refused now, not accepted and dropped later.
  if (std::string why; !stmf::mgmt::usable_as_door(door, why))
    return refuse(error(STMF_ERROR_INVALID_ARG, "init-proxy-door: the descriptor is " + why));
  DoorHost* host = door_host();
  if (!host) return refuse(error(STMF_ERROR_SERVICE_NOT_FOUND, "this stmfd has no proxy service"));
  const int rc = host->install_door(door);  // owns the descriptor from here, success or not
  if (rc != STMF_STATUS_SUCCESS) {
    log()->info("init-proxy-door by pid {} (uid {}): {}", peer.pid, peer.uid, status_name(rc));
    return respond(error(rc, rc == STMF_ERROR_DOOR_INSTALLED ? "a proxy door is already installed"
                                                               : "the proxy service refused the door"));
  }
  // Installing a door means "carry the proxy traffic through this door" (stmfInitProxyDoor(3STMF);
  // illumos's stmfproxy installs it, then calls stmfSetAluaState(B_TRUE, node)): a node set to
  // the direct TCP link switches to the door carrier, persisted like any setting (it stays
  // "door" after the door is destroyed; `stmfadm import` of a configuration with carrier tcp
  // switches back).
  if (current_.alua.carrier != "door") {
    Config next = current_;
    next.alua.carrier = "door";
    if (Status s = apply(next); !s.ok()) {
      host->destroy_door();
      log()->warn("init-proxy-door by pid {}: switching alua.carrier to door failed: {}", peer.pid, s.message);
      return respond(s);
    }
    log()->info("init-proxy-door by pid {} (uid {}): alua.carrier switched from tcp to door", peer.pid, peer.uid);
  }
  door_owner_ = conn;
  installed = true;
  log()->info("proxy door installed by pid {} (uid {})", peer.pid, peer.uid);
  return respond({});
}

awaitable<void> MgmtServer::serve_door(local_socket& sock, FdReader& in, uint64_t conn, DoorHost* host,
                                       const PeerCredentials& peer) {
  auto answer = [&](uint32_t code) -> awaitable<bool> {
    const uint32_t be = htonl(code);
    boost::system::error_code ec;
    co_await asio::async_write(sock, asio::buffer(&be, sizeof be), asio::redirect_error(use_awaitable, ec));
    co_return !ec;
  };
  // Reads until `n` bytes are buffered; descriptors have no meaning here and are closed.
  auto need = [&](size_t n) -> awaitable<bool> {
    while (in.data().size() < n)
      if (!co_await in.fill()) co_return false;
    co_return true;
  };
  uint64_t frames = 0;
  for (;;) {
    if (!co_await need(4)) break;
    uint32_t size_be;
    std::memcpy(&size_be, in.data().data(), 4);
    const uint32_t size = ntohl(size_be);
    if (size == 0) {  // stmfDestroyProxyDoor
      auto fds = in.take(4);
      close_all(fds);
      int rc = STMF_ERROR_NOT_FOUND;  // our door was replaced meanwhile: nothing of ours to remove
      if (door_owner_ == conn) {
        door_owner_ = 0;
        rc = host->destroy_door();
      }
      log()->info("proxy door destroyed by pid {} after {} message(s): {}", peer.pid, frames, status_name(rc));
      co_await answer(uint32_t(rc));
      co_return;
    }
    if (size > kMaxProxyFrame) {
      log()->warn("proxy door of pid {}: message of {} bytes (at most {}), closing", peer.pid, size, kMaxProxyFrame);
      co_await answer(STMF_ERROR_INVALID_ARG);
      break;
    }
    if (!co_await need(4 + size_t(size))) break;
    std::vector<uint8_t> msg(in.data().begin() + 4, in.data().begin() + 4 + size);
    auto fds = in.take(4 + size_t(size));
    close_all(fds);
    ++frames;
    // Only the connection that installed the current door may post (an older handle whose
    // door was replaced gets NOT_FOUND instead of injecting frames into the new link).
    const int rc = door_owner_ == conn ? host->post_proxy_msg(std::move(msg))  // cheap, thread-safe: in place
                                       : STMF_ERROR_NOT_FOUND;
    if (!co_await answer(uint32_t(rc))) break;
  }
  // Closed without stmfDestroyProxyDoor: the door goes away with its owner.
  if (door_owner_ == conn) {
    door_owner_ = 0;
    const int rc = host->destroy_door();
    log()->info("proxy door of pid {} closed after {} message(s): door removed ({})", peer.pid, frames, status_name(rc));
  }
}

// ------------------------------------------------------------------ array sessions
//
// arsctl(2) and arsop(2) over the socket (docs/array-sessions.md). Errors are the management
// statuses libstmf turns into errno: STMF_ERROR_INVALID_ARG -> EINVAL, STMF_ERROR_PERM ->
// EPERM, STMF_ERROR_NOT_FOUND -> ESRCH.

bool changes_array_sessions(const json& req) {
  auto c = req.find("code");
  if (c == req.end() || !c->is_string()) return false;
  const std::string code = *c;
  return code.rfind("SET", 0) == 0 || code == "FLUSHACCT";
}

namespace {

Status einval(const std::string& why) { return error(STMF_ERROR_INVALID_ARG, why); }

// An integer argument `value` within [lo, hi] (the rule itself is checked by the caller).
std::optional<int64_t> int_value(const json& req) {
  auto v = req.find("value");
  if (v == req.end() || !v->is_number_integer()) return std::nullopt;
  return v->get<int64_t>();
}

}  // namespace

// One row per arsctl code: what it reads or which persisted setting it changes.
struct MgmtServer::ArsctlRow {
  std::string_view code;
  bool set;
  // GET: the value. SET: checks `v` (0 or errno) and writes it into `next` (persisted), or
  // applies it live (`live`, the ASH counter).
  json (*get)(MgmtServer& self);
  int (*check)(int64_t v);
  void (*store)(ArraySessionsConfig& a, int64_t v);
};

awaitable<json> MgmtServer::arsctl(const json& req, const PeerCredentials& peer) {
  using namespace stmf::ars;
  auto& fw = runtime_.stmf();
  static const ArsctlRow kRows[] = {
      {"NOP", false, [](MgmtServer&) { return json(nullptr); }, nullptr, nullptr},
      {"GETSAF", false, [](MgmtServer& s) { return json(s.current_.array_sessions.accounting_format); }, nullptr, nullptr},
      {"SETSAF", true, nullptr, [](int64_t v) { return check_saf(int(v)); },
       [](ArraySessionsConfig& a, int64_t v) { a.accounting_format = int(v); }},
      {"GETMACHID", false, [](MgmtServer& s) { return json(s.runtime_.stmf().array_sessions().settings().effective_machid()); },
       nullptr, nullptr},
      {"SETMACHID", true, nullptr, [](int64_t v) { return v < INT32_MIN || v > INT32_MAX ? EINVAL : check_machid(int(v)); },
       [](ArraySessionsConfig& a, int64_t v) { a.machine_id = int(v); }},
      {"GETARRAYID", false,
       [](MgmtServer& s) { return json(s.runtime_.stmf().array_sessions().settings().effective_arrayid()); }, nullptr, nullptr},
      {"SETARRAYID", true, nullptr, [](int64_t v) { return v < INT32_MIN || v > INT32_MAX ? EINVAL : check_arrayid(int(v)); },
       [](ArraySessionsConfig& a, int64_t v) { a.array_id = int(v); }},
      {"GETASHCTR", false, [](MgmtServer& s) { return json(s.runtime_.stmf().array_sessions().counter()); }, nullptr, nullptr},
      {"SETASHCTR", true, nullptr, [](int64_t v) { return check_counter(v); }, nullptr},  // live only
      {"GETASHINCR", false, [](MgmtServer& s) { return json(s.current_.array_sessions.ash_increment); }, nullptr, nullptr},
      {"SETASHINCR", true, nullptr, [](int64_t v) { return check_increment(v); },
       [](ArraySessionsConfig& a, int64_t v) { a.ash_increment = v; }},
      {"GETDFLTSPI", false,
       [](MgmtServer& s) {
         auto st = s.runtime_.stmf().array_sessions().settings();
         return json(to_hex(fit_spi(st.default_spi, size_t(st.spilen))));
       },
       nullptr, nullptr},
      {"SETDFLTSPI", true, nullptr, nullptr, nullptr},  // bytes: below
      {"GETDFLTSPILEN", false, [](MgmtServer& s) { return json(s.current_.array_sessions.default_spi_len); }, nullptr, nullptr},
      {"SETDFLTSPILEN", true, nullptr, [](int64_t v) { return v < INT32_MIN || v > INT32_MAX ? EINVAL : check_spilen(int(v)); },
       [](ArraySessionsConfig& a, int64_t v) { a.default_spi_len = int(v); }},
      {"ALLOCASH", false,
       [](MgmtServer& s) {
         auto a = s.runtime_.stmf().array_sessions().allocash();
         return a ? json(*a) : json(nullptr);
       },
       nullptr, nullptr},
  };
  auto c = req.find("code");
  if (c == req.end() || !c->is_string()) co_return respond(einval("argument 'code' missing or not a string"));
  const ArsctlRow* row = nullptr;
  for (auto& r : kRows)
    if (r.code == c->get<std::string>()) row = &r;
  if (!row) co_return respond(einval("unknown arsctl code " + c->get<std::string>()));
  if (!row->set) {
    json v = row->get(*this);
    if (row->code == "ALLOCASH" && v.is_null()) co_return respond(error(STMF_ERROR_NOMEM, "every candidate handle is in use"));
    co_return respond({}, {{"value", v}});
  }
  if (!privileged(peer)) co_return respond(kPermDenied);
  Config next = current_;
  if (row->code == "SETDFLTSPI") {
    auto v = req.find("value");
    auto bytes = v != req.end() && v->is_string() ? parse_hex(v->get<std::string>()) : std::nullopt;
    if (!bytes) co_return respond(einval("SETDFLTSPI: 'value' must be hex bytes"));
    const int spilen = fw.array_sessions().settings().spilen;
    if (bytes->size() > size_t(spilen))
      co_return respond(einval("SETDFLTSPI: " + std::to_string(bytes->size()) + " bytes, the SPI length is " + std::to_string(spilen)));
    next.array_sessions.default_spi = to_hex(fit_spi(*bytes, size_t(spilen)));  // short: padded with zeroes
  } else {
    auto v = int_value(req);
    if (!v) co_return respond(einval(std::string(row->code) + ": 'value' must be an integer"));
    if (row->check(*v) != 0) co_return respond(einval(std::string(row->code) + ": " + std::to_string(*v) + " is out of range"));
    if (!row->store) {  // SETASHCTR: the live counter only
      if (fw.array_sessions().set_counter(*v)) co_return respond(einval("SETASHCTR: out of range"));
      co_return respond({});
    }
    row->store(next.array_sessions, *v);
  }
  co_return respond(apply(next));
}

awaitable<json> MgmtServer::arsop(const json& req, const PeerCredentials& peer) {
  auto& fw = runtime_.stmf();
  auto c = req.find("code");
  auto a = req.find("ash");
  if (c == req.end() || !c->is_string()) co_return respond(einval("argument 'code' missing or not a string"));
  if (a == req.end() || !a->is_number_integer()) co_return respond(einval("argument 'ash' missing or not an integer"));
  const std::string code = *c;
  auto n = fw.find_nexus(a->get<int64_t>());
  if (!n) co_return respond(error(STMF_ERROR_NOT_FOUND, "no session with ASH " + std::to_string(a->get<int64_t>())));
  if (code == "GETINFO" || code == "GETSPI") {
    const auto spi = fw.session_spi(*n);
    json info = {{"ash", n->ash()},
                 {"initiator", n->initiator_port_name()},
                 {"target", n->port().port_name()},
                 {"start_time", std::chrono::duration_cast<std::chrono::seconds>(n->start_time().time_since_epoch()).count()},
                 {"spi", to_hex(spi)},
                 {"spilen", spi.size()},
                 {"spi_set", n->spi().own},
                 {"proxied", n->remote()}};
    co_return respond({}, {{"info", info}});
  }
  if (code != "SETSPI" && code != "FLUSHACCT") co_return respond(einval("unknown arsop code " + code));
  if (!privileged(peer)) co_return respond(kPermDenied);
  if (code == "FLUSHACCT") {
    auto* acct = runtime_.accounting();
    if (!acct || !acct->running()) co_return respond(error(STMF_STATUS_ERROR, "session accounting is off"));
    acct->flush(n);
    co_return respond({});
  }
  auto spi = n->spi();
  auto v = req.find("spi");
  if (v == req.end() || v->is_null()) {  // back to the default SPI
    spi.own = false;
    spi.bytes.clear();
  } else {
    auto bytes = v->is_string() ? parse_hex(v->get<std::string>()) : std::nullopt;
    if (!bytes) co_return respond(einval("SETSPI: 'spi' must be hex bytes or null"));
    if (bytes->size() > spi.len)
      co_return respond(einval("SETSPI: " + std::to_string(bytes->size()) + " bytes, the session's SPI length is " + std::to_string(spi.len)));
    spi.own = true;
    spi.bytes = stmf::ars::fit_spi(*bytes, spi.len);
  }
  n->set_spi(std::move(spi));
  co_return respond({});
}

awaitable<json> MgmtServer::read_accounting(const json& req, const PeerCredentials&) {
  auto* acct = runtime_.accounting();
  if (!acct || acct->path().empty()) co_return respond(error(STMF_ERROR_NOT_FOUND, "session accounting is off"));
  auto num = [&](const char* k) -> std::optional<int64_t> {
    auto it = req.find(k);
    return it != req.end() && it->is_number_integer() ? std::optional(it->get<int64_t>()) : std::nullopt;
  };
  const auto ash = num("ash"), since = num("since_ns"), until = num("until_ns");
  const std::string initiator = req.value("initiator", std::string());
  json records = json::array();
  bool truncated = false;
  // The rotated file first (older records), then the current one; the newest kMaxAcctRecords.
  for (const std::string& path : {acct->path() + ".1", acct->path()}) {
    std::ifstream in(path, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t bad = 0;
    for (auto& r : acct::read_records(data, bad)) {
      if (ash && r.ash != *ash) continue;
      if (!initiator.empty() && r.initiator.rfind(initiator, 0) != 0) continue;
      if (since && r.end_ns < *since) continue;
      if (until && r.start_ns > *until) continue;
      records.push_back(acct::to_json(r));
      if (records.size() > kMaxAcctRecords) {
        records.erase(records.begin());
        truncated = true;
      }
    }
  }
  co_return respond({}, {{"file", acct->path()}, {"records", records}, {"truncated", truncated}});
}

bool MgmtServer::privileged(const PeerCredentials& p) const {
  if (p.uid == 0 || p.uid == ::geteuid()) return true;
  const auto& name = current_.management.admin_group;
  if (name.empty()) return false;
  const group* g = ::getgrnam(name.c_str());
  if (!g) return false;
  if (p.gid == g->gr_gid) return true;
  const passwd* pw = ::getpwuid(p.uid);
  if (!pw) return false;
  int n = 256;
  std::vector<gid_t> gids(static_cast<size_t>(n));
  if (::getgrouplist(pw->pw_name, pw->pw_gid, gids.data(), &n) < 0) return false;
  return std::count(gids.begin(), gids.begin() + n, g->gr_gid) > 0;
}

Status MgmtServer::apply(Config& next) {
  if (auto s = runtime_.prepare(current_, next); !s.ok()) return s;
  ConfigError ce;
  if (!validate(next, ce)) {
    runtime_.abort();
    return error(STMF_ERROR_INVALID_ARG, ce.message());
  }
  if (db_) {
    std::string why;
    if (!db_->save(next, why)) {
      runtime_.abort();
      log()->error("state database: {}", why);
      return error(STMF_STATUS_ERROR, "state database: " + why);
    }
  }
  runtime_.commit(current_, next);
  current_ = next;
  return {};
}

json MgmtServer::target_json(const TargetConfig& t) {
  json j = to_json(t, false);
  j["name"] = t.iqn;
  j["protocol"] = "iSCSI";
  j["provider"] = "iscsit";
  auto* port = runtime_.port(t.iqn);
  const bool online = t.online && current_.service_online;
  j["state"] = transitioning_.count(t.iqn) ? (t.online ? "onlining" : "offlining") : (online ? "online" : "offline");
  j["rtpi"] = port ? port->rtpi() : 0;
  j["sessions"] = port ? runtime_.server().session_count(*port) : 0;
  return j;
}

awaitable<void> MgmtServer::wait_target_offline(std::string iqn) {
  transitioning_.insert(iqn);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(current_.shutdown_timeout_s);
  asio::steady_timer timer(strand_);
  // The port is looked up again after every wait: other requests run meanwhile.
  while (runtime_.port(iqn) && runtime_.server().session_count(*runtime_.port(iqn)) > 0 &&
         std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(use_awaitable);
  }
  if (auto* port = runtime_.port(iqn); port && runtime_.server().session_count(*port) > 0) {
    log()->warn("target {}: sessions did not log out in {} s, closing them", iqn, current_.shutdown_timeout_s);
    runtime_.server().close_sessions(*port, "target offline");
    // Closing runs on the I/O threads: the target reads "offline" only once no session is
    // left (bounded, in case one is stuck).
    const auto closed_by = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (runtime_.port(iqn) && runtime_.server().session_count(*runtime_.port(iqn)) > 0 &&
           std::chrono::steady_clock::now() < closed_by) {
      timer.expires_after(std::chrono::milliseconds(10));
      co_await timer.async_wait(use_awaitable);
    }
  }
  transitioning_.erase(iqn);
}

awaitable<json> MgmtServer::handle(const json& req, const PeerCredentials& peer) {
  if (!req.contains("v") || req["v"] != kProtocolVersion)
    co_return respond(error(STMF_ERROR_INVALID_ARG, "unsupported protocol version (this stmfd speaks v1)"));
  if (!req.contains("op") || !req["op"].is_string()) co_return respond(error(STMF_ERROR_INVALID_ARG, "request has no op"));
  const std::string op = req["op"];
  // Operations that read or act on the running objects, not only the model: one row each.
  // Every other op is one of mgmt/ops.cpp's kOps (or unknown): model_op().
  static constexpr std::pair<std::string_view, Handler> kRuntimeOps[] = {
      {"list-target", &MgmtServer::list_target},
      {"get-target", &MgmtServer::get_target},
      {"list-sessions", &MgmtServer::list_sessions},
      {"get-stats", &MgmtServer::get_stats},
      {"list-pr", &MgmtServer::list_pr},
      {"export", &MgmtServer::export_config},
      {"import", &MgmtServer::import_config},
      {"init-proxy-door", &MgmtServer::init_proxy_door_without_fd},
      {"switchover-lu", &MgmtServer::switchover_lu},
      {"arsctl", &MgmtServer::arsctl},
      {"arsop", &MgmtServer::arsop},
      {"acct", &MgmtServer::read_accounting},
  };
  for (const auto& [name, handler] : kRuntimeOps)
    if (op == name) co_return co_await (this->*handler)(req, peer);
  co_return co_await model_op(op, req, peer);
}

awaitable<json> MgmtServer::list_target(const json&, const PeerCredentials&) {
  json result = json::object();
  result["targets"] = json::array();
  for (auto& t : current_.targets) result["targets"].push_back(target_json(t));
  co_return respond({}, result);
}

const TargetConfig* MgmtServer::named_target(const json& req, const char* key, Status& s) const {
  if (!req.contains(key) || !req[key].is_string()) {
    s = error(STMF_ERROR_INVALID_ARG, std::string("argument '") + key + "' missing or not a string");
    return nullptr;
  }
  auto* t = current_.find_target(lower(req[key]));
  if (!t) s = error(STMF_ERROR_NOT_FOUND, "no target " + req[key].get<std::string>());
  return t;
}

awaitable<json> MgmtServer::get_target(const json& req, const PeerCredentials&) {
  Status s;
  auto* t = named_target(req, "name", s);
  if (!t) co_return respond(s);
  json result = json::object();
  result["target"] = target_json(*t);
  co_return respond({}, result);
}

awaitable<json> MgmtServer::list_sessions(const json& req, const PeerCredentials&) {
  Status why;
  auto* t = named_target(req, "target", why);
  if (!t) co_return respond(why);
  json result = json::object();
  result["sessions"] = json::array();
  const auto nexuses = runtime_.stmf().nexuses();
  if (auto* port = runtime_.port(t->iqn))
    for (auto& s : runtime_.server().sessions(*port)) {
      char isid[13];
      std::snprintf(isid, sizeof isid, "%012llx", (unsigned long long)s.isid);
      json j = {{"initiator", s.initiator},
                {"alias", s.alias},
                {"isid", isid},
                {"tsih", s.tsih},
                {"creation_time", std::chrono::duration_cast<std::chrono::seconds>(s.login_time.time_since_epoch()).count()}};
      // The session's array session (docs/array-sessions.md): its handle and SPI.
      const std::string port_name = s.initiator + ",i,0x" + isid;
      for (auto& n : nexuses)
        if (!n->remote() && n->initiator_port_name() == port_name && n->port().target_name() == t->iqn) {
          j["ash"] = n->ash();
          j["spi"] = to_hex(runtime_.stmf().session_spi(*n));
        }
      j["stats"] = runtime_.session_stats_json(*port, s.initiator, isid);
      result["sessions"].push_back(std::move(j));
    }
  co_return respond({}, result);
}

// Every I/O statistic of this node (docs/metrics.md, tools/stmfd/stats_report.h).
awaitable<json> MgmtServer::get_stats(const json&, const PeerCredentials&) {
  co_return respond({}, runtime_.stats_json());
}

awaitable<json> MgmtServer::list_pr(const json& req, const PeerCredentials&) {
  if (!req.contains("guid") || !req["guid"].is_string())
    co_return respond(error(STMF_ERROR_INVALID_ARG, "argument 'guid' missing or not a string"));
  auto g = parse_guid(req["guid"].get<std::string>());
  if (!g) co_return respond(error(STMF_ERROR_INVALID_ARG, "'" + req["guid"].get<std::string>() + "' is not a GUID"));
  auto j = runtime_.reservations_json(guid_hex(*g));
  if (!j) co_return respond(error(STMF_ERROR_NOT_FOUND, "no logical unit " + guid_hex(*g)));
  json result = json::object();
  result["reservations"] = *j;
  co_return respond({}, result);
}

awaitable<json> MgmtServer::export_config(const json&, const PeerCredentials& peer) {
  // The configuration includes CHAP secrets: only privileged callers get them.
  json result = json::object();
  result["config"] = to_json(current_);
  if (!privileged(peer)) strip_secrets(result["config"]);
  co_return respond({}, result);
}

awaitable<json> MgmtServer::import_config(const json& req, const PeerCredentials& peer) {
  json result = json::object();
  if (!req.contains("config")) co_return respond(error(STMF_ERROR_INVALID_ARG, "argument 'config' missing"));
  const bool dry = req.value("dry_run", false);
  if (!dry && !privileged(peer)) co_return respond(error(STMF_ERROR_PERM, "permission denied: changes need root or the admin group"));
  ConfigError ce;
  auto next = parse_config_json(req["config"], ce);
  if (!next) co_return respond(error(STMF_ERROR_INVALID_ARG, "configuration refused: " + ce.message()));
  result["changes"] = diff(current_, *next);
  if (dry || result["changes"].empty()) co_return respond({}, result);
  std::vector<std::string> going_offline;
  for (auto& t : next->targets)
    if (auto* o = current_.find_target(t.iqn); o && o->online && !t.online) going_offline.push_back(t.iqn);
  if (auto s = apply(*next); !s.ok()) co_return respond(s);
  log()->info("import by uid {}: {} change(s)", peer.uid, result["changes"].size());
  for (auto& iqn : going_offline) co_await wait_target_offline(iqn);
  co_return respond({}, result);
}

awaitable<json> MgmtServer::init_proxy_door_without_fd(const json&, const PeerCredentials&) {
  co_return respond(error(STMF_ERROR_INVALID_ARG, "init-proxy-door needs the door's file descriptor (SCM_RIGHTS)"));
}

awaitable<json> MgmtServer::switchover_lu(const json& req, const PeerCredentials& peer) {
  // Planned switchover (docs/alua.md): the LU's ownership moves to the other node.
  if (!privileged(peer)) co_return respond(kPermDenied);
  if (!req.contains("guid") || !req["guid"].is_string())
    co_return respond(error(STMF_ERROR_INVALID_ARG, "argument 'guid' missing or not a string"));
  const std::string guid = upper(req["guid"].get<std::string>());
  auto result_ = std::make_shared<std::optional<Status>>();
  ++switchovers_;
  struct Done {
    int& n;
    ~Done() { --n; }
  } done{switchovers_};
  runtime_.switchover(guid, [result_](Status s) { *result_ = std::move(s); });
  asio::steady_timer timer(strand_);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!*result_ && std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(std::chrono::milliseconds(10));
    co_await timer.async_wait(use_awaitable);
  }
  Status s = *result_ ? **result_ : error(STMF_ERROR_ACCESS_STATE_SET, "the switchover did not finish in 30 s");
  log()->info("switchover-lu {} by uid {}: {}", guid, peer.uid, s.ok() ? "done" : s.message);
  co_return respond(s);
}

awaitable<json> MgmtServer::model_op(const std::string& op, const json& req, const PeerCredentials& peer) {
  json result = json::object();
  const OpInfo* info = find_op(op);
  json args = req;
  std::string takeover_guid;  // create-lu/import-lu of a standby LU whose peer is down
  if (op == "import-lu") {
    if (!privileged(peer)) co_return respond(error(STMF_ERROR_PERM, "permission denied: changes need root or the admin group"));
    if (!req.contains("backing") || !req["backing"].is_string())
      co_return respond(error(STMF_ERROR_INVALID_ARG, "argument 'backing' missing or not a string"));
    json lu;
    if (auto s = Runtime::read_lu_metadata(req["backing"], lu); !s.ok()) co_return respond(s);
    args = {{"lu", lu}};
    info = find_op("create-lu");
  }
  if (!info) co_return respond(error(STMF_ERROR_INVALID_ARG, "unknown op '" + op + "'"));
  if (info->changes && !privileged(peer)) co_return respond(kPermDenied);
  // CHAP secrets are shown only to privileged callers who ask (docs/security.md "CHAP").
  if (op == "list-initiator" && req.contains("show_secrets") && req["show_secrets"] == true && !privileged(peer))
    co_return respond(error(STMF_ERROR_PERM, "permission denied: showing CHAP secrets needs root or the admin group"));
  // Takeover of a standby LU (docs/alua.md): only when its active node is out of reach.
  if ((op == "import-lu" || op == "create-lu") && args.contains("lu") && args["lu"].is_object() &&
      args["lu"].contains("guid") && args["lu"]["guid"].is_string()) {
    const std::string guid = upper(args["lu"]["guid"].get<std::string>());
    // The proxy's ownership machine decides (docs/ownership.md). A takeover raises the
    // ownership epoch past the peer's: a stale copy on the peer steps down when it comes back
    // (docs/alua.md "Fencing").
    const auto t = runtime_.import_lu(guid);
    if (t.refused) co_return respond(error(STMF_ERROR_LU_BUSY, t.message));
    if (t.takeover) {
      args["lu"]["epoch"] = t.epoch;
      takeover_guid = guid;
    }
  }
  // Standby LUs are not in current_, so the ops do not see them: reads add them, and changes
  // to one are refused (it is managed on its active node; docs/management.md "Standby LUs").
  const bool standby_change = op == "delete-lu" || op == "modify-lu" || op == "online-lu" || op == "offline-lu";
  json standby;
  if (standby_change || op == "list-lu" || op == "get-lu" || op == "list-view") standby = runtime_.standby_lus();
  if (standby_change)
    if (const json* sb = standby_named(standby, current_, args, op == "modify-lu"))
      co_return respond(error(STMF_ERROR_NO_PROP_STANDBY,
                              "LU " + sb->value("guid", std::string()) +
                                  " is a standby LU on this node (active on the ALUA peer): " + op +
                                  " it on the node where it is active"));
  // A target going offline (its sessions are logging out) takes no change until it is offline:
  // STMF_STATUS_ERROR, what illumos answers for a port in transition (docs/libstmf.md).
  const bool target_change =
      op == "online-target" || op == "offline-target" || op == "modify-target" || op == "delete-target";
  std::string iqn;
  if (target_change && req.contains("name") && req["name"].is_string()) {
    iqn = lower(req["name"]);
    if (transitioning_.count(iqn))
      co_return respond(error(STMF_STATUS_ERROR, "target " + iqn + " is going offline; retry when it is offline"));
  }
  if (op == "offline-target" && req.contains("wait") && !req["wait"].is_boolean())
    co_return respond(error(STMF_ERROR_INVALID_ARG, "argument 'wait' must be true or false"));
  // A previous change is still in progress (an LU switching over between the nodes):
  // set-alua-state waits for it, as illumos's STMF_ERROR_BUSY asks (docs/libstmf.md).
  if (op == "set-alua-state" && switchovers_ > 0)
    co_return respond(error(STMF_ERROR_BUSY, "an LU switchover is in progress; retry when it is done"));
  const bool alua_was_enabled = current_.alua.enabled;
  const uint32_t alua_node_was = current_.alua.node;
  // Only an op that changes the configuration works on a copy of it: a read runs on the
  // current one (copying every LU, view and target for each get-lu made `stmfadm list-lu -v`,
  // one get-lu per LU, quadratic: 7 s for 4,096 LUs, docs/benchmark.md "Scale").
  std::optional<Config> next;
  if (info->changes) next = current_;
  Status s = info->fn(next ? *next : current_, args, result, ctx_);
  if (s.ok() && next && !(*next == current_)) {
    s = apply(*next);
    if (s.ok()) log()->info("{} by uid {}: {}", op, peer.uid, redact_secrets(req).dump());
  }
  if (!takeover_guid.empty() && audit_)
    audit_->write("alua", "takeover", {{"uid", peer.uid}, {"pid", peer.pid}},
                  {{"lu", takeover_guid}, {"epoch", args["lu"]["epoch"]}}, s.ok() ? "ok" : std::string(status_name(s.code)),
                  s.message);
  if (s.ok() && op == "offline-target") {
    // "wait": false (stmfOfflineTarget) answers once the port is stopped and its sessions were
    // asked to log out; the target reads "offlining" until they are gone, then "offline".
    // The default (stmfadm) answers when the target is offline.
    if (req.value("wait", true)) {
      co_await wait_target_offline(iqn);
    } else {
      transitioning_.insert(iqn);
      asio::co_spawn(strand_, wait_target_offline(iqn), asio::detached);
    }
  }
  if (s.ok() && op == "set-alua-state" && alua_was_enabled && current_.alua.enabled &&
      current_.alua.node == alua_node_was) {
    // stmfSetAluaState(B_TRUE, node) again: re-initialize the pair (recovery of a failed peer).
    // (A new node number already re-initialized it when the change was applied.)
    log()->info("set-alua-state by uid {}: ALUA already enabled, re-initializing (node {})", peer.uid, current_.alua.node);
    runtime_.reinitialize_alua();
  }
  if (s.ok() && op == "get-lu" && result.contains("lu") && result["lu"].is_object()) {
    const std::string guid = result["lu"].value("guid", std::string());
    result["lu"]["durability_fault"] = runtime_.durability_fault(guid);
    if (auto f = runtime_.fenced(guid); !f.is_null()) result["lu"]["fenced"] = f;  // SAN-backed, fenced LUs only
  }
  if (s.ok() && op == "list-lu")
    for (auto& [guid, lu] : standby.items())
      if (!current_.find_lu(guid)) result["lus"].push_back(guid);
  if (s.code == STMF_ERROR_NOT_FOUND && (op == "get-lu" || op == "list-view"))
    if (const json* sb = standby_named(standby, current_, args, false)) {
      s = {};
      if (op == "get-lu") {
        result["lu"] = *sb;
        result["lu"]["view_entries"] = view_count(current_, sb->value("guid", std::string()));
      } else {
        result["views"] = json::array();  // a standby LU without view entries here
      }
    }
  if (s.ok() && op == "get-alua-state")
    if (json st = runtime_.alua_status(); st.is_object())
      for (auto& [k, v] : st.items())
        if (!result.contains(k)) result[k] = v;  // the configuration's enabled/node win
  co_return respond(s, result);
}

}  // namespace stmfd
