// Test helpers around libiscsi: an owned context and an owned SCSI task (RAII), shared by the
// integration, management and reservation tests.
#pragma once
extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <string>

namespace stmf::test {

// An iSCSI initiator context with the given InitiatorName; destroyed (and logged out) with it.
struct Ctx {
  iscsi_context* c = nullptr;
  explicit Ctx(const char* initiator = "iqn.2026-11.org.example:initiator") : c(iscsi_create_context(initiator)) {}
  ~Ctx() {
    if (c) iscsi_destroy_context(c);
  }
  Ctx(const Ctx&) = delete;
  Ctx& operator=(const Ctx&) = delete;
  operator iscsi_context*() const { return c; }
  std::string error() const { return iscsi_get_error(c); }
};

// A completed SCSI task returned by a libiscsi *_sync call (nullptr on transport failure).
struct Task {
  scsi_task* t;
  explicit Task(scsi_task* p) : t(p) {}
  ~Task() {
    if (t) scsi_free_scsi_task(t);
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  scsi_task* operator->() const { return t; }
  explicit operator bool() const { return t != nullptr; }
};

// Runs a (sync) command until it is not a UNIT ATTENTION (a new nexus, a capacity change...).
template <class F>
scsi_task* past_ua(F f) {
  for (int i = 0;; ++i) {
    scsi_task* t = f();
    if (!t || i == 5 || t->status != SCSI_STATUS_CHECK_CONDITION || t->sense.key != SCSI_SENSE_UNIT_ATTENTION) return t;
    scsi_free_scsi_task(t);
  }
}

// Logs in to `target` at `portal` ("host:port") as a normal session, LUN `lun`; false on failure
// (iscsi_get_error says why).
inline bool login_normal(iscsi_context* c, const std::string& target, const std::string& portal, int lun = 0,
                         int timeout_s = 10) {
  iscsi_set_targetname(c, target.c_str());
  iscsi_set_session_type(c, ISCSI_SESSION_NORMAL);
  iscsi_set_timeout(c, timeout_s);
  return iscsi_full_connect_sync(c, portal.c_str(), lun) == 0;
}

// Clears what a new nexus sees first (POWER ON, RESET...): TEST UNIT READY until GOOD (at
// most a few times).
inline void clear_unit_attentions(iscsi_context* c, int lun = 0) {
  for (int i = 0; i < 5; ++i) {
    Task t(iscsi_testunitready_sync(c, lun));
    if (t && t->status == SCSI_STATUS_GOOD) return;
  }
}

}  // namespace stmf::test
