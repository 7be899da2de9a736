/* Seed 000 (stmfSetAluaState(3STMF)) the way illumos's stmfproxy uses it, in C99 linked to
 * libstmf: for each node of a pair, install a proxy door (stmfInitProxyDoor), then enable ALUA
 * with the node's number, then relay every door call of one node to the other with
 * stmfPostProxyMsg, answering each call as door_return does. One process plays both nodes'
 * stmfproxy (the sockets are named by $STMFD_SOCKET, set before each call), so that a test can
 * restart "the peer" while an initiator writes through the standby node.
 *
 * Usage: seed000_alua_loop SOCKET0 SOCKET1
 * Commands on stdin, one per line, each answered with one line on stdout ("ok ..." or
 * "failed ..."):
 *   restart N   the peer's stmfproxy restarts: stmfDestroyProxyDoor, then a new door and
 *               stmfSetAluaState(B_TRUE, N) (re-initialization with the link down)
 *   crash N     the peer's stmfproxy dies: its end of the door closes without a destroy; then
 *               a new door and stmfSetAluaState(B_TRUE, N)
 *   enable N    stmfSetAluaState(B_TRUE, N) again with the link up (re-initialization)
 *   disable N   stmfSetAluaState(B_FALSE, 7): the node number is ignored; stmfGetAluaState
 *               then reads B_FALSE and node N
 *   stats       "ok relayed=R refused=F"
 *   quit        destroy the doors and exit
 * Exit status 0 when every check held; failures are described on stderr. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "libstmf/libstmf.h"

#define DOOR_C_PROGRAM "seed000_alua_loop"
#include "test/management/libstmf/door_c_util.h"

static const char *sockets[2];
static int hdl[2] = {-1, -1};     /* stmfInitProxyDoor's handle, -1: no door */
static int relay[2] = {-1, -1};   /* our end of the node's door */
static unsigned long relayed = 0; /* door calls posted to the other node */
static unsigned long refused = 0; /* door calls answered non-zero (no door on the other side) */

static void use(int node) { setenv("STMFD_SOCKET", sockets[node], 1); }

/* Installs a door on `node` and enables ALUA there, as stmfproxy does when it starts. */
static int start_node(int node) {
  int sv[2], rc;
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 0;
  use(node);
  rc = stmfInitProxyDoor(&hdl[node], sv[1]);
  CHECK(rc == STMF_STATUS_SUCCESS);
  close(sv[1]); /* stmfd has its own copy */
  if (rc != STMF_STATUS_SUCCESS) {
    close(sv[0]);
    hdl[node] = -1;
    return 0;
  }
  relay[node] = sv[0];
  /* "This function should be called only after the STMF proxy door service has been
   * initialized"; enabling again while enabled is a re-initialization. */
  rc = stmfSetAluaState(B_TRUE, (uint32_t)node);
  CHECK(rc == STMF_STATUS_SUCCESS);
  {
    boolean_t en = B_FALSE;
    uint32_t n = 9;
    CHECK(stmfGetAluaState(&en, &n) == STMF_STATUS_SUCCESS);
    CHECK(en == B_TRUE);
    CHECK(n == (uint32_t)node);
  }
  return rc == STMF_STATUS_SUCCESS;
}

static void stop_node(int node, int destroy) {
  if (destroy && hdl[node] >= 0) {
    use(node);
    stmfDestroyProxyDoor(hdl[node]);
  }
  if (relay[node] >= 0) close(relay[node]);
  relay[node] = -1;
  hdl[node] = -1;
}

/* One door call from `node`: posted to the other node, then answered: 0 when the other node
 * took it, ENOTCONN when it has no door (its stmfproxy is restarting), EIO when the post
 * failed. A dead door (EOF) is closed. */
static void relay_call(int node) {
  static unsigned char frame[4 << 20];
  unsigned char hdr[4];
  unsigned long size, result;
  const int other = 1 - node;
  if (!read_n(relay[node], hdr, 4)) {
    fprintf(stderr, "seed000_alua_loop: node %d closed its door\n", node);
    stop_node(node, 0);
    return;
  }
  size = get_u32(hdr);
  if (size == 0 || size > sizeof frame || !read_n(relay[node], frame, size)) {
    fprintf(stderr, "seed000_alua_loop: node %d: bad door call (%lu bytes)\n", node, size);
    ++failures;
    stop_node(node, 1);
    return;
  }
  if (hdl[other] < 0) {
    result = ENOTCONN;
  } else {
    /* stmfPostProxyMsg works on its handle's own connection: no STMFD_SOCKET needed. */
    result = stmfPostProxyMsg(hdl[other], frame, (uint32_t)size) == STMF_STATUS_SUCCESS ? 0 : EIO;
  }
  if (result == 0) ++relayed;
  else ++refused;
  if (!door_return_u32(relay[node], result)) stop_node(node, 0);
}

static void command(char *line) {
  int node = -1;
  char verb[16];
  if (sscanf(line, "%15s %d", verb, &node) < 1) return;
  if (strcmp(verb, "stats") == 0) {
    printf("ok relayed=%lu refused=%lu\n", relayed, refused);
  } else if (strcmp(verb, "quit") == 0) {
    printf("ok quit\n");
  } else if (node != 0 && node != 1) {
    printf("failed %s: node must be 0 or 1\n", verb);
    ++failures;
  } else if (strcmp(verb, "restart") == 0 || strcmp(verb, "crash") == 0) {
    stop_node(node, strcmp(verb, "restart") == 0);
    printf("%s %s %d\n", start_node(node) ? "ok" : "failed", verb, node);
  } else if (strcmp(verb, "enable") == 0) {
    int rc;
    use(node);
    rc = stmfSetAluaState(B_TRUE, (uint32_t)node);
    CHECK(rc == STMF_STATUS_SUCCESS);
    printf("%s enable %d\n", rc == STMF_STATUS_SUCCESS ? "ok" : "failed", node);
  } else if (strcmp(verb, "disable") == 0) {
    boolean_t en = B_TRUE;
    uint32_t n = 9;
    int rc;
    use(node);
    /* "When alua_enabled is set to B_FALSE, node is ignored" */
    rc = stmfSetAluaState(B_FALSE, 7);
    CHECK(rc == STMF_STATUS_SUCCESS);
    CHECK(stmfGetAluaState(&en, &n) == STMF_STATUS_SUCCESS);
    CHECK(en == B_FALSE);
    CHECK(n == (uint32_t)node);
    printf("%s disable %d\n", rc == STMF_STATUS_SUCCESS ? "ok" : "failed", node);
  } else {
    printf("failed %s: unknown command\n", verb);
    ++failures;
  }
  fflush(stdout);
}

int main(int argc, char **argv) {
  char line[128];
  size_t have = 0;
  int quit = 0;
  if (argc != 3) {
    fprintf(stderr, "usage: seed000_alua_loop SOCKET0 SOCKET1\n");
    return 2;
  }
  sockets[0] = argv[1];
  sockets[1] = argv[2];

  /* The arguments the page refuses, before any door: "Either alua_enabled or node was
   * incorrectly set." */
  use(0);
  CHECK(stmfSetAluaState(B_TRUE, 2) == STMF_ERROR_INVALID_ARG);
  CHECK(stmfSetAluaState((boolean_t)2, 0) == STMF_ERROR_INVALID_ARG);

  if (!start_node(0) || !start_node(1)) {
    fprintf(stderr, "seed000_alua_loop: could not start both nodes\n");
    return 1;
  }
  printf("ok started\n");
  fflush(stdout);

  while (!quit) {
    struct pollfd pf[3];
    int i;
    pf[0].fd = 0;
    pf[1].fd = relay[0];
    pf[2].fd = relay[1];
    for (i = 0; i < 3; ++i) {
      pf[i].events = POLLIN;
      pf[i].revents = 0;
    }
    if (poll(pf, 3, 1000) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (pf[1].revents && relay[0] >= 0) relay_call(0);
    if (pf[2].revents && relay[1] >= 0) relay_call(1);
    if (pf[0].revents) {
      ssize_t r = read(0, line + have, sizeof line - 1 - have);
      char *nl;
      if (r <= 0) break; /* the test went away */
      have += (size_t)r;
      line[have] = '\0';
      while ((nl = strchr(line, '\n')) != NULL) {
        *nl = '\0';
        if (strncmp(line, "quit", 4) == 0) quit = 1;
        command(line);
        memmove(line, nl + 1, have - (size_t)(nl + 1 - line) + 1);
        have -= (size_t)(nl + 1 - line);
      }
      if (have == sizeof line - 1) have = 0; /* an overlong line is dropped */
    }
  }
  stop_node(0, 1);
  stop_node(1, 1);
  return failures == 0 ? 0 : 1;
}
