/* What the C99 door programs (door_c_check.c, seed000_alua_loop.c) share: a CHECK that counts
 * failures, and the relay's side of a door call on the stream socket that stands in for a
 * Solaris door (docs/libstmf.md "The door's wire form"). Define DOOR_C_PROGRAM (the program's
 * name, for messages) before including. Header-only: each program is one translation unit. */
#ifndef STMF_TEST_DOOR_C_UTIL_H
#define STMF_TEST_DOOR_C_UTIL_H
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

static int failures = 0;
#define CHECK(c)                                                               \
  do {                                                                         \
    if (!(c)) {                                                                \
      fprintf(stderr, DOOR_C_PROGRAM ":%d: failed: %s\n", __LINE__, #c);       \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

/* Reads exactly n bytes within 20 s; 0 on EOF, error or timeout. */
static int read_n(int fd, unsigned char *p, size_t n) {
  while (n > 0) {
    struct pollfd pf;
    ssize_t r;
    pf.fd = fd;
    pf.events = POLLIN;
    pf.revents = 0;
    if (poll(&pf, 1, 20000) <= 0) return 0;
    r = read(fd, p, n);
    if (r <= 0) return 0;
    p += r;
    n -= (size_t)r;
  }
  return 1;
}

/* A big-endian u32 (a door call's size). */
static unsigned long get_u32(const unsigned char *h) {
  return ((unsigned long)h[0] << 24) | ((unsigned long)h[1] << 16) | ((unsigned long)h[2] << 8) | h[3];
}

/* door_return(&result, sizeof (result), NULL, 0): one big-endian u32 per call. */
static int door_return_u32(int relay, unsigned long result) {
  unsigned char r[4];
  size_t off = 0;
  r[0] = (unsigned char)(result >> 24);
  r[1] = (unsigned char)(result >> 16);
  r[2] = (unsigned char)(result >> 8);
  r[3] = (unsigned char)result;
  while (off < sizeof r) {
    ssize_t w = write(relay, r + off, sizeof r - off);
    if (w <= 0) return 0;
    off += (size_t)w;
  }
  return 1;
}

#endif
