// Test helpers for the proxy door (docs/stmfproxy.md): the relay's side of a door socket
// pair, and door calls as stmfd makes them (u32 big-endian size + one whole proxy frame,
// answered by a u32 big-endian result). Every wait is bounded by a hang guard.
#pragma once
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "tools/stmfproxy/wire.h"

namespace stmf::test {

// A Unix stream socket pair: [0] stays with the test (the relay's end), [1] is the door given
// to stmfd. Closes what is still open.
struct DoorPair {
  int fd[2] = {-1, -1};
  DoorPair() {
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd) != 0) throw std::runtime_error("socketpair failed");
  }
  ~DoorPair() {
    close(0);
    close(1);
  }
  DoorPair(const DoorPair&) = delete;
  void close(int i) {
    if (fd[i] >= 0) ::close(fd[i]);
    fd[i] = -1;
  }
  int relay() const { return fd[0]; }
  int door() const { return fd[1]; }
};

// Reads exactly n bytes, waiting at most `guard` in all. False on EOF, error or timeout.
inline bool read_exactly(int fd, uint8_t* p, size_t n, std::chrono::milliseconds guard) {
  const auto end = std::chrono::steady_clock::now() + guard;
  while (n > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd pf{fd, POLLIN, 0};
    if (::poll(&pf, 1, int(left.count())) <= 0) continue;
    ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= size_t(r);
  }
  return true;
}

// One door call from stmfd on the relay's end: the whole frame (its own length prefix
// included) into `call`. False on EOF, a bad size, or nothing within `guard`.
inline bool read_door_call(int fd, std::vector<uint8_t>& call, std::chrono::milliseconds guard) {
  uint8_t size[4];
  if (!read_exactly(fd, size, 4, guard)) return false;
  const uint32_t n = stmfproxy::get_be32(size);
  if (!stmfproxy::valid_size(n)) return false;
  call.resize(n);
  return read_exactly(fd, call.data(), n, guard);
}

// The relay's result for the oldest unanswered door call (0: taken).
inline bool answer_door_call(int fd, uint32_t result) {
  uint8_t be[4];
  stmfproxy::put_be32(be, result);
  return ::write(fd, be, 4) == 4;
}

}  // namespace stmf::test
