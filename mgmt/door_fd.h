// What can be a proxy door (stmfInitProxyDoor; docs/libstmf.md "Proxy door"): the stand-in for
// a Solaris door is a connected Unix stream socket (the daemon's end of the relay's socket
// pair). Anything else -- a regular file, a pipe, a FIFO, a closed descriptor, a TCP or UDP
// socket, a datagram or listening Unix socket -- is refused, like illumos refuses a descriptor
// its door lookup fails on (STMF_ERROR_INVALID_ARG). Checked by libstmf before it asks stmfd
// and again by stmfd on the descriptor it received, so that an install that succeeds has a
// door that can carry door calls.
#pragma once
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <string>

namespace stmf::mgmt {

// True when `fd` can be a door; otherwise false with the reason in `why`.
inline bool usable_as_door(int fd, std::string& why) {
  struct stat st;
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    why = "not an open file descriptor";
    return false;
  }
  if (!S_ISSOCK(st.st_mode)) {
    why = S_ISREG(st.st_mode)    ? "a regular file, not a door"
          : S_ISFIFO(st.st_mode) ? "a pipe, not a door"
                                 : "not a socket, so not a door";
    return false;
  }
  int v = 0;
  socklen_t len = sizeof v;
  if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) != 0 || v != AF_UNIX) {
    why = "not a Unix-domain socket, so not a door";
    return false;
  }
  len = sizeof v;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) != 0 || v != SOCK_STREAM) {
    why = "not a stream socket, so not a door";
    return false;
  }
  len = sizeof v;
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) != 0 || v != 0) {
    why = "a listening socket, not a door";
    return false;
  }
  sockaddr_un peer{};
  len = sizeof peer;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) {
    why = "an unconnected socket, not a door";
    return false;
  }
  return true;
}

}  // namespace stmf::mgmt
