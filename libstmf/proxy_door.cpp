// libstmf: the proxy door API (stmfInitProxyDoor, stmfPostProxyMsg, stmfDestroyProxyDoor;
// docs/stmfproxy.md). COMSTAR opens the pppt driver and uses ioctls; here a handle is a
// dedicated connection to stmfd's management socket:
//   1. the request {"v":1,"op":"init-proxy-door"} travels with the door descriptor attached
//      (SCM_RIGHTS, on the same sendmsg as the request's first byte); stmfd answers one JSON line;
//   2. after a successful install the connection is in post mode: each message is a u32
//      big-endian size + the bytes, answered by a u32 big-endian STMF status; size 0 removes
//      the door (stmfd answers, then closes); closing the connection removes the door too.
//
// Handles: the connection's descriptor, registered in a table so that a bogus, foreign or
// already destroyed handle is refused (STMF_ERROR_INVALID_ARG) instead of writing to whatever
// descriptor happens to carry that number. Posts on one handle are serialized by the handle's
// mutex (a message and its status never interleave with another thread's); different handles
// are independent. After an I/O failure the handle is broken (the stream may be out of step):
// every later post returns STMF_ERROR_POST_MSG_FAILED until the caller destroys it.
#pragma GCC visibility push(default)
#include <libstmf.h>
#pragma GCC visibility pop
#include "mgmt/json_limits.h"

#include "common/byte_order.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>

#include "mgmt/door_fd.h"
#include "mgmt/protocol.h"

namespace {

using stmf::mgmt::json;

// The largest message stmfd accepts (tools/stmfd/mgmt_server.h kMaxProxyFrame; a proxy frame of
// proxy/messages.h kMaxFrame bytes after its own length field, plus that field, is refused too:
// frames of that size do not occur).
constexpr uint32_t kMaxPostBytes = 64u << 20;
// How long stmfDestroyProxyDoor waits for stmfd to confirm the removal.
constexpr int kDestroyWaitMs = 5000;

struct Handle {
  std::mutex mu;        // one post (message + status) at a time
  bool open = true;     // false once destroyed (a post that waited for `mu` then refuses)
  bool broken = false;  // an I/O failure left the stream out of step
};

std::mutex table_mu;
std::map<int, std::shared_ptr<Handle>>& table() {
  static auto* t = new std::map<int, std::shared_ptr<Handle>>;  // never destroyed: usable at exit
  return *t;
}

std::shared_ptr<Handle> find_handle(int hdl) {
  std::lock_guard lk(table_mu);
  auto it = table().find(hdl);
  return it == table().end() ? nullptr : it->second;
}

using stmf::get_be32;
using stmf::put_be32;

// Sends all of iov[0..n) (never raising SIGPIPE). `fd_to_pass` >= 0 rides on the first sendmsg.
bool send_all(int sock, iovec* iov, size_t n, int fd_to_pass = -1) {
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  while (n > 0) {
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = n;
    if (fd_to_pass >= 0) {
      std::memset(control, 0, sizeof control);
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &fd_to_pass, sizeof(int));
    }
    ssize_t w = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    fd_to_pass = -1;  // delivered with the bytes just sent
    size_t left = size_t(w);
    while (n > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      ++iov;
      --n;
    }
    if (n > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
  return true;
}

// Reads exactly `len` bytes. False at EOF or on an error.
bool recv_all(int sock, void* buf, size_t len) {
  auto* p = static_cast<char*>(buf);
  while (len > 0) {
    ssize_t r = ::recv(sock, p, len, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    len -= size_t(r);
  }
  return true;
}

// Connects to stmfd's management socket ($STMFD_SOCKET or the default path). -1 when stmfd is
// not there.
int connect_stmfd() {
  const std::string path = stmf::mgmt::default_socket_path(false);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return -1;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  for (;;) {
    if (::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return s;
    if (errno != EINTR) break;
  }
  ::close(s);
  return -1;
}

// The reply line to the install request (stmfd sends nothing else before the first post, so
// reading byte-wise chunks up to the newline never consumes post-mode bytes).
int read_reply(int sock) {
  std::string line;
  char buf[512];
  for (;;) {
    ssize_t r = ::recv(sock, buf, sizeof buf, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return STMF_ERROR_SERVICE_NOT_FOUND;  // stmfd went away mid-request
    line.append(buf, size_t(r));
    if (auto nl = line.find('\n'); nl != std::string::npos) {
      if (nl + 1 != line.size()) return STMF_STATUS_ERROR;  // bytes stmfd should not have sent
      line.resize(nl);
      break;
    }
    if (line.size() > stmf::mgmt::kMaxMessageBytes) return STMF_STATUS_ERROR;
  }
  json response = stmf::mgmt::parse_json_limited(line);
  if (response.is_discarded()) return STMF_STATUS_ERROR;
  return stmf::mgmt::response_status(response).code;
}

template <class F>
auto guarded(F&& f, decltype(f()) on_exception) noexcept {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return decltype(f())(STMF_ERROR_NOMEM);
  } catch (...) {
    return on_exception;
  }
}

}  // namespace

extern "C" {

int stmfInitProxyDoor(int* hdl, int fd) {
  return guarded(
      [&]() -> int {
        // What cannot be a door is refused here, before stmfd is asked (illumos: the failed
        // door lookup gives STMF_ERROR_INVALID_ARG). `fd` is never closed by libstmf.
        std::string why;
        if (!hdl || !stmf::mgmt::usable_as_door(fd, why)) return STMF_ERROR_INVALID_ARG;
        const int sock = connect_stmfd();
        if (sock < 0) return STMF_ERROR_SERVICE_NOT_FOUND;
        json req = json::object();
        req["v"] = stmf::mgmt::kProtocolVersion;
        req["op"] = "init-proxy-door";
        std::string line = req.dump() + "\n";
        iovec iov{line.data(), line.size()};
        // stmfd receives its own copy of `fd`; the caller keeps (and later closes) this one.
        int rc = send_all(sock, &iov, 1, fd) ? read_reply(sock) : STMF_ERROR_SERVICE_NOT_FOUND;
        if (rc != STMF_STATUS_SUCCESS) {
          ::close(sock);
          return rc;
        }
        try {
          std::lock_guard lk(table_mu);
          table()[sock] = std::make_shared<Handle>();
        } catch (...) {
          ::close(sock);  // stmfd removes the door with the connection
          throw;
        }
        *hdl = sock;
        return STMF_STATUS_SUCCESS;
      },
      STMF_STATUS_ERROR);
}

int stmfPostProxyMsg(int hdl, void* buf, uint32_t buflen) {
  return guarded(
      [&]() -> int {
        if (!buf || buflen == 0 || buflen > kMaxPostBytes) return STMF_ERROR_INVALID_ARG;
        auto h = find_handle(hdl);
        if (!h) return STMF_ERROR_INVALID_ARG;
        std::lock_guard lk(h->mu);
        if (!h->open) return STMF_ERROR_INVALID_ARG;  // destroyed while we waited
        if (h->broken) return STMF_ERROR_POST_MSG_FAILED;
        uint8_t size[4];
        put_be32(size, buflen);
        iovec iov[2] = {{size, sizeof size}, {buf, buflen}};
        uint8_t status[4];
        if (!send_all(hdl, iov, 2) || !recv_all(hdl, status, sizeof status)) {
          h->broken = true;
          return STMF_ERROR_POST_MSG_FAILED;
        }
        return int(get_be32(status));
      },
      STMF_ERROR_POST_MSG_FAILED);
}

void stmfDestroyProxyDoor(int hdl) {
  std::shared_ptr<Handle> h;
  {
    std::lock_guard lk(table_mu);
    auto it = table().find(hdl);
    if (it == table().end()) return;  // not a door handle (or destroyed already): nothing to close
    h = std::move(it->second);
    table().erase(it);
  }
  std::lock_guard lk(h->mu);
  h->open = false;
  if (!h->broken) {
    // Size 0 asks stmfd to remove the door; waiting for its answer makes the removal visible
    // to an stmfInitProxyDoor that follows (best effort: a stuck stmfd is not waited for long).
    uint8_t zero[4] = {0, 0, 0, 0};
    iovec iov{zero, sizeof zero};
    if (send_all(hdl, &iov, 1)) {
      pollfd p{hdl, POLLIN, 0};
      int r;
      do r = ::poll(&p, 1, kDestroyWaitMs);
      while (r < 0 && errno == EINTR);
      uint8_t status[4];
      if (r > 0) (void)recv_all(hdl, status, sizeof status);
    }
  }
  ::close(hdl);
}

}  // extern "C"
