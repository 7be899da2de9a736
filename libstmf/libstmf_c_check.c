/*
 * Keeps libstmf.h valid C (C99, no extensions, -Wpedantic -Werror): includes the header,
 * uses its types and calls a few functions. Run with STMFD_SOCKET pointing nowhere it checks
 * the pure calls and that an absent daemon gives STMF_ERROR_SERVICE_NOT_FOUND.
 */
#include "libstmf/libstmf.h"

#include <stdio.h>
#include <string.h>

int main(void) {
  stmfDevid devid;
  stmfState state;
  stmfGroupList *groups = NULL;
  stmfViewEntry ve;
  uchar_t wwn[8] = {0x21, 0x00, 0x00, 0x24, 0xff, 0x31, 0x42, 0x53};
  char name[] = "iqn.2026-11.org.example:c-check";
  int ret;

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
  if (ret != STMF_STATUS_SUCCESS && ret != STMF_ERROR_SERVICE_NOT_FOUND) {
    fprintf(stderr, "stmfGetState: 0x%x\n", (unsigned)ret);
    return 1;
  }
  ret = stmfGetHostGroupList(&groups);
  if (ret == STMF_STATUS_SUCCESS) stmfFreeMemory(groups);
  printf("libstmf C check: ok (stmfGetState 0x%x)\n", (unsigned)ret);
  return 0;
}
