/*
 * libstmf: the C management API of stmfd (a userspace SCSI target framework).
 *
 * Names, types and values follow illumos COMSTAR's libstmf so that programs written for it
 * port with few changes. Every call talks to stmfd over its management socket
 * ($STMFD_SOCKET, else the default path); see docs/libstmf.md for the reference and
 * docs/management.md for the protocol underneath.
 *
 * Link with -lstmf. Every function is MT-Safe.
 */
#ifndef _LIBSTMF_H
#define _LIBSTMF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/param.h>
#include <time.h>

#include "stmf_status.h" /* STMF_STATUS_SUCCESS and the STMF_ERROR_* codes */

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Solaris basic types used by the COMSTAR API. A program that already has them (from its own
 * Solaris compatibility header) defines STMF_HAVE_SOLARIS_TYPES before including this file.
 */
#ifndef STMF_HAVE_SOLARIS_TYPES
#define STMF_HAVE_SOLARIS_TYPES
typedef enum { B_FALSE = 0, B_TRUE = 1 } boolean_t;
typedef unsigned char uchar_t;
#endif

/* LU and local port states */
#define STMF_LOGICAL_UNIT_OFFLINE 0
#define STMF_LOGICAL_UNIT_OFFLINING 1
#define STMF_LOGICAL_UNIT_ONLINE 2
#define STMF_LOGICAL_UNIT_ONLINING 3
#define STMF_LOGICAL_UNIT_UNREGISTERED 4
#define STMF_TARGET_PORT_OFFLINE 5
#define STMF_TARGET_PORT_OFFLINING 6
#define STMF_TARGET_PORT_ONLINE 7
#define STMF_TARGET_PORT_ONLINING 8
#define STMF_SERVICE_STATE_ONLINE 9
#define STMF_SERVICE_STATE_OFFLINE 10
#define STMF_SERVICE_STATE_ONLINING 11
#define STMF_SERVICE_STATE_OFFLINING 12
#define STMF_SERVICE_STATE_UNKNOWN 13
#define STMF_CONFIG_STATE_NONE 14
#define STMF_CONFIG_STATE_INIT 15
#define STMF_CONFIG_STATE_INIT_DONE 16
#define STMF_CONFIG_STATE_UNKNOWN 17
#define STMF_DEFAULT_LU_STATE 18
#define STMF_DEFAULT_TARGET_PORT_STATE 19

#define STMF_IDENT_LENGTH 255

/* Initiator name types */
#define STMF_FC_PORT_WWN 1
#define STMF_ISCSI_NAME 2

/* Provider types */
#define STMF_LU_PROVIDER_TYPE 1
#define STMF_PORT_PROVIDER_TYPE 2

/* LU resource types */
#define STMF_DISK 0

/* Persistence methods (stmfd always persists in its state database) */
#define STMF_PERSIST_SMF 1
#define STMF_PERSIST_NONE 2

/* Logical unit access states (values of STMF_LU_PROP_ACCESS_STATE) */
#define STMF_ACCESS_ACTIVE "0"
#define STMF_ACCESS_ACTIVE_TO_STANDBY "1"
#define STMF_ACCESS_STANDBY "2"
#define STMF_ACCESS_STANDBY_TO_ACTIVE "3"

/* LU (disk) properties for stmfSetLuProp / stmfGetLuProp / stmfModifyLu */
enum {
  STMF_LU_PROP_ALIAS = 1,
  STMF_LU_PROP_BLOCK_SIZE,
  STMF_LU_PROP_COMPANY_ID,
  STMF_LU_PROP_FILENAME,
  STMF_LU_PROP_GUID,
  STMF_LU_PROP_META_FILENAME,
  STMF_LU_PROP_MGMT_URL,
  STMF_LU_PROP_NEW,
  STMF_LU_PROP_SIZE,
  STMF_LU_PROP_WRITE_PROTECT,
  STMF_LU_PROP_WRITE_CACHE_DISABLE,
  STMF_LU_PROP_VID,
  STMF_LU_PROP_PID,
  STMF_LU_PROP_SERIAL_NUM,
  STMF_LU_PROP_ACCESS_STATE,
  STMF_LU_PROP_HOST_ID,
  STMF_LU_PROP_PBLOCK_SIZE /* extension: physical block size */
};

/* devid code sets and name types */
#define EUI_64_TYPE 2
#define NAA_TYPE 3
#define SCSI_NAME_TYPE 8

#define BINARY_CODE_SET 1
#define ASCII_CODE_SET 2
#define UTF_8_CODE_SET 3

/* SCSI protocol identifiers (SPC-4) */
typedef enum _stmfProtocol {
  STMF_PROTOCOL_FIBRE_CHANNEL = 0,
  STMF_PROTOCOL_SCSI = 1,
  STMF_PROTOCOL_SSA = 2,
  STMF_PROTOCOL_IEEE_1394 = 3,
  STMF_PROTOCOL_SRP = 4,
  STMF_PROTOCOL_ISCSI = 5,
  STMF_PROTOCOL_SAS = 6
} stmfProtocol;

typedef struct _stmfGuid {
  uchar_t guid[16];
} stmfGuid;

/* Lists: a count and `cnt` entries allocated in one block; free with stmfFreeMemory. */
typedef struct _stmfGuidList {
  uint32_t cnt;
  stmfGuid guid[1];
} stmfGuidList;

typedef struct _stmfState {
  int operationalState; /* STMF_SERVICE_STATE_* */
  int configState;      /* STMF_CONFIG_STATE_* */
} stmfState;

typedef struct _stmfDevid {
  uint8_t identLength;              /* length of ident */
  uint8_t ident[STMF_IDENT_LENGTH]; /* SCSI name string (not NUL-terminated) */
} stmfDevid;

typedef struct _stmfDevidList {
  uint32_t cnt;
  stmfDevid devid[1];
} stmfDevidList;

typedef char stmfGroupName[256];
typedef char stmfProviderName[256];

typedef struct _stmfGroupList {
  uint32_t cnt;
  stmfGroupName name[1];
} stmfGroupList;

typedef struct _stmfProvider {
  int providerType;
  stmfProviderName name;
} stmfProvider;

typedef struct _stmfProviderList {
  uint32_t cnt;
  stmfProvider provider[1];
} stmfProviderList;

typedef struct _stmfSession {
  stmfDevid initiator;
  char alias[256];
  time_t creationTime;
} stmfSession;

typedef struct _stmfSessionList {
  uint32_t cnt;
  stmfSession session[1];
} stmfSessionList;

typedef struct _stmfViewEntry {
  boolean_t veIndexValid;    /* B_TRUE: veIndex is valid */
  uint32_t veIndex;          /* view entry index */
  boolean_t allHosts;        /* B_TRUE: all initiators (hostGroup ignored) */
  stmfGroupName hostGroup;   /* host group name */
  boolean_t allTargets;      /* B_TRUE: all targets (targetGroup ignored) */
  stmfGroupName targetGroup; /* target group name */
  boolean_t luNbrValid;      /* B_TRUE: luNbr is valid */
  uchar_t luNbr[8];          /* SAM-5 LUN: {0, lun} or {0x40 | lun >> 8, lun & 0xff} */
} stmfViewEntry;

typedef struct _stmfViewEntryList {
  uint32_t cnt;
  stmfViewEntry ve[1];
} stmfViewEntryList;

typedef struct _stmfViewEntryProperties {
  stmfGuid associatedLogicalUnitGuid;
  stmfViewEntry viewEntry;
} stmfViewEntryProperties;

typedef struct _stmfGroupProperties {
  uint32_t cnt;
  stmfDevid name[1];
} stmfGroupProperties;

typedef struct _stmfTargetProperties {
  stmfProviderName providerName; /* "iscsit" */
  char alias[256];
  uint16_t status; /* STMF_TARGET_PORT_* */
  stmfProtocol protocol;
  stmfDevid devid;
} stmfTargetProperties;

typedef struct _stmfLogicalUnitProperties {
  char alias[256];
  uchar_t vendor[8];   /* space padded, not NUL-terminated */
  uchar_t product[16]; /* space padded, not NUL-terminated */
  uchar_t revision[4]; /* space padded, not NUL-terminated */
  uint32_t status;     /* STMF_LOGICAL_UNIT_* */
  char providerName[256];
  stmfGuid luid;
} stmfLogicalUnitProperties;

typedef void *luResource;

/* API prototypes */
int stmfAddToHostGroup(stmfGroupName *hostGroupName, stmfDevid *name);
int stmfAddToTargetGroup(stmfGroupName *targetGroupName, stmfDevid *targetName);
int stmfAddViewEntry(stmfGuid *lu, stmfViewEntry *viewEntry);
int stmfCreateHostGroup(stmfGroupName *hostGroupName);
int stmfCreateLu(luResource hdl, stmfGuid *luGuid);
int stmfCreateLuResource(uint16_t dType, luResource *hdl);
int stmfCreateTargetGroup(stmfGroupName *targetGroupName);
int stmfDeleteHostGroup(stmfGroupName *hostGroupName);
int stmfDeleteLu(stmfGuid *luGuid);
int stmfDeleteTargetGroup(stmfGroupName *targetGroupName);
int stmfDevidFromIscsiName(char *iscsiName, stmfDevid *devid);
int stmfDevidFromWwn(uchar_t wwn[8], stmfDevid *devid);
int stmfFreeLuResource(luResource hdl);
void stmfFreeMemory(void *);
int stmfGetHostGroupList(stmfGroupList **initiatorGroupList);
int stmfGetHostGroupMembers(stmfGroupName *hostGroupName, stmfGroupProperties **groupProperties);
int stmfGetLogicalUnitList(stmfGuidList **logicalUnitList);
int stmfGetLogicalUnitProperties(stmfGuid *logicalUnit, stmfLogicalUnitProperties *logicalUnitProps);
int stmfGetLuProp(luResource hdl, uint32_t propType, char *prop, size_t *propLen);
int stmfGetLuResource(stmfGuid *luGuid, luResource *hdl);
int stmfGetSessionList(stmfDevid *target, stmfSessionList **sessionList);
int stmfGetState(stmfState *);
int stmfGetTargetGroupList(stmfGroupList **targetGroupList);
int stmfGetTargetGroupMembers(stmfGroupName *targetGroupName, stmfGroupProperties **groupProperties);
int stmfGetTargetList(stmfDevidList **targetList);
int stmfGetTargetProperties(stmfDevid *target, stmfTargetProperties *targetProps);
int stmfGetViewEntryList(stmfGuid *lu, stmfViewEntryList **viewEntryList);
int stmfImportLu(uint16_t dType, char *fname, stmfGuid *luGuid);
int stmfModifyLu(stmfGuid *luGuid, uint32_t prop, const char *propVal);
int stmfModifyLuByFname(uint16_t dType, const char *fname, uint32_t prop, const char *propVal);
int stmfOffline(void);
int stmfOfflineTarget(stmfDevid *devid);
int stmfOfflineLogicalUnit(stmfGuid *logicalUnit);
int stmfOnline(void);
int stmfOnlineTarget(stmfDevid *devid);
int stmfOnlineLogicalUnit(stmfGuid *logicalUnit);
int stmfRemoveFromHostGroup(stmfGroupName *hostGroupName, stmfDevid *initiatorName);
int stmfRemoveFromTargetGroup(stmfGroupName *targetGroupName, stmfDevid *targetName);
int stmfRemoveViewEntry(stmfGuid *lu, uint32_t viewEntryIndex);
int stmfSetLuProp(luResource hdl, uint32_t propType, const char *propVal);

/* ALUA pair and proxy door (docs/libstmf.md, docs/alua.md, docs/stmfproxy.md). */
int stmfSetAluaState(boolean_t alua_enabled, uint32_t node);
int stmfGetAluaState(boolean_t *alua_enabled, uint32_t *node);
int stmfLuStandby(stmfGuid *lu);      /* hand the LU to the peer (planned switchover) */
int stmfSwitchoverLu(stmfGuid *lu);   /* extension: move ownership to the other node */
int stmfInitProxyDoor(int *hdl, int fd);
int stmfPostProxyMsg(int hdl, void *buf, uint32_t buflen);
void stmfDestroyProxyDoor(int hdl);

/*
 * Array sessions (docs/array-sessions.md; IRIX arsctl(2), arsop(2)). Every I_T nexus has an
 * array session handle (ash_t) unique across the ALUA pair. These two calls follow the IRIX
 * convention, not STMF_STATUS: 0 on success, else -1 with errno set (EINVAL: bad code, buflen
 * or value; EPERM: a SET* code or SETSPI/FLUSHACCT without management privilege; EFAULT: NULL
 * buffer; ESRCH: no session with that handle; ENOMEM; ECONNREFUSED: no stmfd). On failure
 * nothing changes.
 */
typedef int64_t ash_t;
#define ASH_NONE 0
#define MAX_SPI_LEN 1024

#define ARSCTL_NOP 0
#define ARSCTL_GETSAF 1        /* int: session accounting format (1 binary, 2 JSON lines) */
#define ARSCTL_SETSAF 2        /* int: 1 or 2 */
#define ARSCTL_GETMACHID 3     /* int */
#define ARSCTL_SETMACHID 4     /* int: -1 (default), 0 (local handles), 1..32767 */
#define ARSCTL_GETARRAYID 5    /* int */
#define ARSCTL_SETARRAYID 6    /* int: -1 (default), 0..65535 */
#define ARSCTL_GETASHCTR 7     /* ash_t: the counter of the next handle */
#define ARSCTL_SETASHCTR 8     /* ash_t: 1..0xffffffff */
#define ARSCTL_GETASHINCR 9    /* ash_t */
#define ARSCTL_SETASHINCR 10   /* ash_t: non-zero, |v| < 0xffffffff - 1 */
#define ARSCTL_GETDFLTSPI 11   /* bytes (buflen >= 1): truncated / zero-padded */
#define ARSCTL_SETDFLTSPI 12   /* bytes (0..spilen): short is zero-padded, longer is EINVAL */
#define ARSCTL_GETDFLTSPILEN 13 /* int */
#define ARSCTL_SETDFLTSPILEN 14 /* int: 0..1024, for new sessions only */
#define ARSCTL_ALLOCASH 15     /* ash_t (buflen == sizeof(ash_t)): a handle unused now */

#define ARSOP_GETSPI 1    /* bytes (len >= 1): the session's SPI, truncated / zero-padded */
#define ARSOP_SETSPI 2    /* bytes (0..the session's spilen; NULL: back to the default SPI) */
#define ARSOP_FLUSHACCT 5 /* none: write an accounting record of the session now */
#define ARSOP_GETINFO 6   /* stmfArsInfo (len == sizeof(stmfArsInfo)) */

typedef struct _stmfArsInfo {
  ash_t ash;
  char initiator[256]; /* initiator port name "iqn...,i,0x<isid>" */
  char target[256];    /* target port name */
  time_t startTime;
  int spiLen;
  boolean_t spiSet;    /* B_TRUE: set for this session (else the default SPI) */
  boolean_t proxied;   /* B_TRUE: a session of the ALUA peer, proxied to this node */
  uchar_t spi[MAX_SPI_LEN];
} stmfArsInfo;

int stmfArsctl(int func, void *bufptr, int buflen);
int stmfArsop(int func, ash_t ash, void *buf, int len);

#ifdef __cplusplus
}
#endif

#endif /* _LIBSTMF_H */
