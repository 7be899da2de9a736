/* Seed 001 (stmfInitProxyDoor(3STMF)) the way an illumos caller uses it, in C99 linked to
 * libstmf: stmfproxy's start (install the door, then stmfSetAluaState(B_TRUE, node)) on a node
 * whose configuration says carrier tcp, the door calls stmfd makes, a non-zero result, posts,
 * and descriptors that cannot be doors. Run by door_test.cpp against a real stmfd
 * (STMFD_SOCKET set); exit status 0 when every check held. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "libstmf/libstmf.h"

#define DOOR_C_PROGRAM "door_c_check"
#include "test/management/libstmf/door_c_util.h"

/* One door call: u32 size (big-endian), then that many bytes; returns the message type byte
 * of the frame (-1 on failure). */
static int door_call(int relay) {
  unsigned char hdr[4], frame[1 << 16];
  unsigned long size;
  if (!read_n(relay, hdr, 4)) return -1;
  size = get_u32(hdr);
  if (size < 6 || size > sizeof frame || !read_n(relay, frame, size)) return -1;
  return frame[5];
}

static int is_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }

int main(void) {
  enum { HELLO = 32 };
  int hdl = -1, other = -1, door[2], door2[2], pfd[2], closed, file;
  char path[] = "/tmp/door_c_check_XXXXXX";
  unsigned char junk[3] = {1, 2, 3};
  int i, type;

  if (!getenv("STMFD_SOCKET")) {
    fprintf(stderr, "door_c_check: set STMFD_SOCKET to a running stmfd's socket\n");
    return 2;
  }
  /* What cannot be a door: STMF_ERROR_INVALID_ARG, and the descriptor stays the caller's. */
  CHECK(pipe(pfd) == 0);
  CHECK(stmfInitProxyDoor(&hdl, pfd[0]) == STMF_ERROR_INVALID_ARG);
  CHECK(is_open(pfd[0]) && is_open(pfd[1]));
  file = mkstemp(path);
  CHECK(file >= 0);
  unlink(path);
  CHECK(stmfInitProxyDoor(&hdl, file) == STMF_ERROR_INVALID_ARG);
  CHECK(is_open(file));
  closed = dup(pfd[0]);
  close(closed);
  CHECK(stmfInitProxyDoor(&hdl, closed) == STMF_ERROR_INVALID_ARG);
  CHECK(hdl == -1);
  close(pfd[0]);
  close(pfd[1]);
  close(file);

  /* illumos stmfproxy: door_create + stmfInitProxyDoor, then stmfSetAluaState(B_TRUE, node). */
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, door) == 0);
  CHECK(stmfInitProxyDoor(&hdl, door[1]) == STMF_STATUS_SUCCESS);
  close(door[1]); /* stmfd has its own copy */
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, door2) == 0);
  CHECK(stmfInitProxyDoor(&other, door2[1]) == STMF_ERROR_DOOR_INSTALLED);
  CHECK(other == -1);
  CHECK(stmfSetAluaState(B_TRUE, 0) == STMF_STATUS_SUCCESS);

  /* The door carries the link (the node was configured for tcp): stmfd's HELLO arrives as a
   * door call. A non-zero result is logged without further action: the door stays in use. */
  type = door_call(door[0]);
  CHECK(type == HELLO);
  CHECK(door_return_u32(door[0], ENOTCONN));
  for (i = 0; i < 2; ++i) {
    type = door_call(door[0]);
    CHECK(type == HELLO); /* no peer yet: stmfd keeps saying HELLO through the door */
    CHECK(door_return_u32(door[0], 0));
  }

  /* stmfPostProxyMsg: what is not a proxy frame is refused; the handle stays usable. */
  CHECK(stmfPostProxyMsg(hdl, junk, sizeof junk) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfPostProxyMsg(hdl, NULL, 4) == STMF_ERROR_INVALID_ARG);

  /* stmfDestroyProxyDoor: then a new door can be installed, and it is the one in use. */
  stmfDestroyProxyDoor(hdl);
  CHECK(stmfInitProxyDoor(&hdl, door2[1]) == STMF_STATUS_SUCCESS);
  close(door2[1]);
  CHECK(door_call(door2[0]) == HELLO);
  CHECK(door_return_u32(door2[0], 0));
  stmfDestroyProxyDoor(hdl);
  close(door[0]);
  close(door2[0]);
  if (failures) fprintf(stderr, "door_c_check: %d check(s) failed\n", failures);
  return failures ? 1 : 0;
}
