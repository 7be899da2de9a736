/* stmfOfflineTarget(3STMF) the way an illumos caller uses it (seed 002; docs/libstmf.md):
 * offline, then poll stmfGetTargetProperties until the port reads offline. Plain C99 linked to
 * libstmf; libstmf_test.cpp starts the daemon, logs in an initiator that never answers the
 * logout request, and calls seed002_offline_target(). Returns 0, or 1 with `why` filled. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <libstmf.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  nanosleep(&ts, NULL);
}

static int status_of(stmfDevid *t, uint16_t *status) {
  stmfTargetProperties p;
  int ret = stmfGetTargetProperties(t, &p);
  if (ret == STMF_STATUS_SUCCESS) *status = p.status;
  return ret;
}

#define FAIL(...)                          \
  do {                                     \
    snprintf(why, why_len, __VA_ARGS__);   \
    return 1;                              \
  } while (0)

int seed002_offline_target(const char *iqn, unsigned timeout_s, char *why, size_t why_len) {
  stmfDevid t, upper, empty;
  uint16_t st = 0;
  int ret;
  double t0, elapsed;
  size_t i;

  memset(&t, 0, sizeof t);
  if (stmfDevidFromIscsiName((char *)iqn, &t) != STMF_STATUS_SUCCESS) FAIL("stmfDevidFromIscsiName(%s)", iqn);
  if ((ret = status_of(&t, &st)) != STMF_STATUS_SUCCESS || st != STMF_TARGET_PORT_ONLINE)
    FAIL("before: ret %#x status %u, want online", ret, st);

  /* Returns at once: the initiator's session is still there (it does not answer). */
  t0 = now_s();
  ret = stmfOfflineTarget(&t);
  elapsed = now_s() - t0;
  if (ret != STMF_STATUS_SUCCESS) FAIL("stmfOfflineTarget: %#x", ret);
  if (elapsed > 1.0) FAIL("stmfOfflineTarget blocked %.1f s (shutdown timeout %u s)", elapsed, timeout_s);
  if ((ret = status_of(&t, &st)) != STMF_STATUS_SUCCESS || st != STMF_TARGET_PORT_OFFLINING)
    FAIL("just after: ret %#x status %u, want offlining (%d)", ret, st, STMF_TARGET_PORT_OFFLINING);

  /* A port in transition takes no change: STMF_STATUS_ERROR, as illumos answers. */
  if ((ret = stmfOnlineTarget(&t)) != STMF_STATUS_ERROR) FAIL("stmfOnlineTarget while offlining: %#x", ret);
  if ((ret = stmfOfflineTarget(&t)) != STMF_STATUS_ERROR) FAIL("stmfOfflineTarget while offlining: %#x", ret);

  /* Poll the state, as illumos callers do. */
  while ((ret = status_of(&t, &st)) == STMF_STATUS_SUCCESS && st == STMF_TARGET_PORT_OFFLINING &&
         now_s() - t0 < (double)timeout_s + 5.0)
    sleep_ms(50);
  if (ret != STMF_STATUS_SUCCESS || st != STMF_TARGET_PORT_OFFLINE) FAIL("after polling: ret %#x status %u", ret, st);
  elapsed = now_s() - t0;
  if (elapsed < (double)timeout_s - 0.5) FAIL("offline after %.1f s, before the %u s timeout", elapsed, timeout_s);

  /* Offline again: already so, SUCCESS, and it stays offline. */
  if ((ret = stmfOfflineTarget(&t)) != STMF_STATUS_SUCCESS) FAIL("second stmfOfflineTarget: %#x", ret);
  if ((ret = status_of(&t, &st)) != STMF_STATUS_SUCCESS || st != STMF_TARGET_PORT_OFFLINE)
    FAIL("after the second offline: ret %#x status %u", ret, st);

  /* identLength 0 names no target: NOT_FOUND, like illumos. */
  memset(&empty, 0, sizeof empty);
  if ((ret = stmfOfflineTarget(&empty)) != STMF_ERROR_NOT_FOUND) FAIL("identLength 0 offline: %#x", ret);
  if ((ret = stmfOnlineTarget(&empty)) != STMF_ERROR_NOT_FOUND) FAIL("identLength 0 online: %#x", ret);
  if ((ret = stmfOfflineTarget(NULL)) != STMF_ERROR_INVALID_ARG) FAIL("NULL offline: %#x", ret);

  /* iSCSI names compare case-insensitively (RFC 3722; docs/libstmf.md). */
  upper = t;
  for (i = 0; i < upper.identLength; ++i) upper.ident[i] = (uchar_t)toupper(upper.ident[i]);
  if ((ret = stmfOnlineTarget(&upper)) != STMF_STATUS_SUCCESS) FAIL("stmfOnlineTarget(upper case): %#x", ret);
  if ((ret = status_of(&t, &st)) != STMF_STATUS_SUCCESS || st != STMF_TARGET_PORT_ONLINE)
    FAIL("online again: ret %#x status %u", ret, st);
  return 0;
}
