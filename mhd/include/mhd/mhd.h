/*
 * libmhd: the illumos multihost disk ioctls (mhd(4I), <sys/mhd.h>) over iSCSI, for any iSCSI
 * logical unit, driven through libiscsi. docs/mhd.md maps each request to the SCSI commands
 * it sends and each errno to its cause.
 *
 * The request codes and structures below are those of <sys/mhd.h>, with the same names,
 * values and layouts. The entry points follow open(2)/ioctl(2)/close(2)/pread(2)/pwrite(2):
 * they return -1 (or NULL) and set errno.
 */
#ifndef MHD_MHD_H
#define MHD_MHD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Solaris base types the header uses (glibc has neither). */
#ifndef MHD_NO_SOLARIS_TYPES
typedef unsigned char uchar_t;
typedef enum { B_FALSE = 0, B_TRUE = 1 } boolean_t;
#endif

/* ---- <sys/mhd.h>: request codes ---------------------------------------------------------- */
#define MHIOC ('M' << 8)
#define MHIOCENFAILFAST (MHIOC | 1)
#define MHIOCTKOWN (MHIOC | 2)
#define MHIOCRELEASE (MHIOC | 3)
#define MHIOCSTATUS (MHIOC | 4)
#define MHIOCGRP_INKEYS (MHIOC | 5)
#define MHIOCGRP_INRESV (MHIOC | 6)
#define MHIOCGRP_REGISTER (MHIOC | 7)
#define MHIOCGRP_RESERVE (MHIOC | 8)
#define MHIOCGRP_PREEMPTANDABORT (MHIOC | 9)
#define MHIOCGRP_PREEMPT (MHIOC | 10)
#define MHIOCGRP_CLEAR (MHIOC | 11)
#define MHIOCQRESERVE (MHIOC | 12)
#define MHIOCREREGISTERDEVID (MHIOC | 13)
#define MHIOCGRP_REGISTERANDIGNOREKEY (MHIOC | 14)

/* ---- <sys/mhd.h>: structures --------------------------------------------------------------- */
/* MHIOCTKOWN; all in milliseconds, 0 (or a NULL argument) selects the default. */
struct mhioctkown {
  int reinstate_resv_delay;
  int min_ownership_delay;
  int max_ownership_delay;
};

#define MHIOC_RESV_KEY_SIZE 8
typedef struct mhioc_resv_key {
  uchar_t key[MHIOC_RESV_KEY_SIZE];
} mhioc_resv_key_t;

typedef struct mhioc_key_list {
  uint32_t listsize; /* capacity of list, set by the caller */
  uint32_t listlen;  /* keys on the device, set by the call */
  mhioc_resv_key_t *list;
} mhioc_key_list_t;

typedef struct mhioc_inkeys {
  uint32_t generation;
  mhioc_key_list_t *li;
} mhioc_inkeys_t;

typedef struct mhioc_resv_desc {
  mhioc_resv_key_t key;
  uint8_t type;
  uint8_t scope;
  uint32_t scope_specific_addr;
} mhioc_resv_desc_t;

typedef struct mhioc_resv_desc_list {
  uint32_t listsize;
  uint32_t listlen;
  mhioc_resv_desc_t *list;
} mhioc_resv_desc_list_t;

typedef struct mhioc_inresvs {
  uint32_t generation;
  mhioc_resv_desc_list_t *li;
} mhioc_inresvs_t;

typedef struct mhioc_register {
  mhioc_resv_key_t oldkey;
  mhioc_resv_key_t newkey;
  boolean_t aptpl; /* B_TRUE: registrations and reservation persist through power loss */
} mhioc_register_t;

typedef struct mhioc_preemptandabort {
  mhioc_resv_desc_t resvdesc;
  mhioc_resv_key_t victim_key;
} mhioc_preemptandabort_t;

typedef struct mhioc_registerandignorekey {
  mhioc_resv_key_t newkey;
  boolean_t aptpl;
} mhioc_registerandignorekey_t;

#ifdef _SYSCALL32
typedef uint32_t caddr32_t;
typedef struct mhioc_key_list32 {
  uint32_t listsize;
  uint32_t listlen;
  caddr32_t list;
} mhioc_key_list32_t;
typedef struct mhioc_inkeys32 {
  uint32_t generation;
  caddr32_t li;
} mhioc_inkeys32_t;
typedef struct mhioc_resv_desc_list32 {
  uint32_t listsize;
  uint32_t listlen;
  caddr32_t list;
} mhioc_resv_desc_list32_t;
typedef struct mhioc_inresvs32 {
  uint32_t generation;
  caddr32_t li;
} mhioc_inresvs32_t;
#endif

/* Reservation types (PR TYPE) and scopes. */
#define SCSI3_RESV_READSHARED_OBSOLETE 0
#define SCSI3_RESV_WRITEEXCLUSIVE 1
#define SCSI3_RESV_READEXCLUSIVE_OBSOLETE 2
#define SCSI3_RESV_EXCLUSIVEACCESS 3
#define SCSI3_RESV_SHAREDACCESS_OBSOLETE 4
#define SCSI3_RESV_WRITEEXCLUSIVEREGISTRANTSONLY 5
#define SCSI3_RESV_EXCLUSIVEACCESSREGISTRANTSONLY 6

#define SCSI3_SCOPE_LOGICALUNIT 0
#define SCSI3_SCOPE_EXTENT_OBSOLETE 1
#define SCSI3_SCOPE_ELEMENT 2

/* ---- the library's entry points ------------------------------------------------------------ */
typedef struct mhd_handle mhd_handle_t;

/* mhd_open() flags: O_NDELAY (from <fcntl.h>) opens even when another host holds a conflicting
 * reservation; without it the open probes the disk (TEST UNIT READY, READ(10) of block 0) and
 * fails with EACCES on RESERVATION CONFLICT. */

/* Opens the iSCSI LU `url` (iscsi://host[:port]/target-iqn/lun) as host `initiator` (its iSCSI
 * initiator name; NULL: "iqn.2026-11.org.example:mhd"). The session's ISID is derived from the
 * initiator name, so the same host name is the same I_T nexus on every open (its persistent
 * reservation registrations follow it). Returns NULL and errno: EINVAL (bad URL), EIO (no
 * login), EACCES (conflicting reservation, without O_NDELAY). */
mhd_handle_t *mhd_open(const char *url, const char *initiator, int flags);

/* ioctl(2) for the MHIOC* requests. Returns -1 with errno, else 0 (MHIOCSTATUS: 0 or 1). */
int mhd_ioctl(mhd_handle_t *h, int request, void *arg);

/* Stops the handle's threads (failfast probe, reservation reinstatement), logs out, frees. */
int mhd_close(mhd_handle_t *h);

/* The host's own I/O: whole blocks at a block-aligned byte offset (EINVAL otherwise).
 * RESERVATION CONFLICT with failfast enabled runs the failfast action; either way -1/EACCES. */
ssize_t mhd_pread(mhd_handle_t *h, void *buf, size_t nbytes, off_t offset);
ssize_t mhd_pwrite(mhd_handle_t *h, const void *buf, size_t nbytes, off_t offset);

/* Logical block size and capacity in bytes (READ CAPACITY at open). */
uint32_t mhd_block_size(const mhd_handle_t *h);
uint64_t mhd_capacity(const mhd_handle_t *h);

/* The failfast action. The default (NULL) is the userspace form of the kernel's panic: a line on
 * stderr and abort(). An embedder (a daemon, a test) installs its own; it runs once per
 * MHIOCENFAILFAST enablement, on the probe thread or on the thread whose I/O conflicted, and
 * must not call mhd_close() on this handle. */
typedef void (*mhd_failfast_fn)(mhd_handle_t *h, const char *reason, void *arg);
void mhd_set_failfast_handler(mhd_handle_t *h, mhd_failfast_fn fn, void *arg);

/* Tunables not in <sys/mhd.h> (tests shorten them). Values in milliseconds. */
#define MHD_PARAM_TKOWN_POLL_MS 1      /* re-reserve interval during MHIOCTKOWN, default 500 */
#define MHD_PARAM_FAILFAST_MIN_MS 2    /* floor of the failfast probe interval, default 1 */
#define MHD_PARAM_COMMAND_TIMEOUT_S 3  /* per-command timeout in seconds, default 10 */
int mhd_set_param(mhd_handle_t *h, int param, int value);

/* Last SCSI outcome of the handle, for diagnostics: "RESERVATION CONFLICT", "CHECK CONDITION
 * ILLEGAL_REQUEST 0x2400", ... (valid until the next call on the handle). */
const char *mhd_last_error(const mhd_handle_t *h);

/* Name of a request code ("MHIOCTKOWN"), NULL when unknown. */
const char *mhd_request_name(int request);

#ifdef __cplusplus
}
#endif
#endif /* MHD_MHD_H */
