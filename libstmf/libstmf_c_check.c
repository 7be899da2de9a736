/*
 * Keeps libstmf.h valid C (C99, no extensions, -Wpedantic -Werror): includes the header,
 * uses its types and calls a few functions: the pure calls, and that calls needing the daemon
 * give STMF_ERROR_SERVICE_NOT_FOUND when it is absent. STMFD_SOCKET must name a socket nobody
 * listens on (CTest sets it): without it the library would find whatever daemon runs on this
 * machine, and the check refuses to run rather than accept a success it cannot explain.
 */
#include <libstmf.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  stmfDevid devid;
  stmfState state;
  stmfGroupList *groups = NULL;
  stmfViewEntry ve;
  uchar_t wwn[8] = {0x21, 0x00, 0x00, 0x24, 0xff, 0x31, 0x42, 0x53};
  char name[] = "iqn.2026-11.org.example:c-check";
  int ret;
  const char *sock = getenv("STMFD_SOCKET");

  if (sock == NULL || sock[0] == '\0') {
    fprintf(stderr, "libstmf_c_check: set STMFD_SOCKET to a path where no stmfd listens\n");
    return 2;
  }

  memset(&ve, 0, sizeof ve);
  ve.allHosts = B_TRUE;
  ve.allTargets = B_TRUE;
  ve.luNbrValid = B_FALSE;

  ret = stmfDevidFromIscsiName(name, &devid);
  if (ret != STMF_STATUS_SUCCESS || devid.identLength != strlen(name)) {
    fprintf(stderr, "stmfDevidFromIscsiName: 0x%x\n", (unsigned)ret);
    return 1;
  }
  ret = stmfDevidFromWwn(wwn, &devid);
  if (ret != STMF_STATUS_SUCCESS || devid.identLength != 20 || memcmp(devid.ident, "wwn.21000024FF314253", 20) != 0) {
    fprintf(stderr, "stmfDevidFromWwn: 0x%x\n", (unsigned)ret);
    return 1;
  }
  if (stmfGetState(NULL) != STMF_ERROR_INVALID_ARG) return 1;
  ret = stmfGetState(&state);
  if (ret != STMF_ERROR_SERVICE_NOT_FOUND) {
    fprintf(stderr, "stmfGetState with no stmfd at %s: 0x%x, want STMF_ERROR_SERVICE_NOT_FOUND (0x%x)\n", sock,
            (unsigned)ret, (unsigned)STMF_ERROR_SERVICE_NOT_FOUND);
    return 1;
  }
  ret = stmfGetHostGroupList(&groups);
  if (ret != STMF_ERROR_SERVICE_NOT_FOUND || groups != NULL) {
    fprintf(stderr, "stmfGetHostGroupList with no stmfd at %s: 0x%x, want STMF_ERROR_SERVICE_NOT_FOUND (0x%x)\n", sock,
            (unsigned)ret, (unsigned)STMF_ERROR_SERVICE_NOT_FOUND);
    if (ret == STMF_STATUS_SUCCESS) stmfFreeMemory(groups);
    return 1;
  }
  printf("libstmf C check: ok (no stmfd at %s: STMF_ERROR_SERVICE_NOT_FOUND)\n", sock);
  return 0;
}
