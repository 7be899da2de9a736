#include "tools/stmfd/storage_race.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "mhd/mhd.h"
#include "mhd/scsi.h"

namespace stmfd {

using R = stmf::proxy::Ownership::RaceResult;

namespace {
constexpr uint32_t kMaxKeys = 64;

R refused(int e, const char* what, std::string& detail) {
  detail = std::string(what) + ": " + std::strerror(e);
  return e == EACCES ? R::lost : R::failed;
}

struct Handle {
  mhd_handle_t* h = nullptr;
  Handle(const RaceTarget& t, std::string& detail) : h(mhd_open(t.url.c_str(), t.initiator.c_str(), O_NDELAY)) {
    if (!h) detail = std::string("cannot open the SAN LUN: ") + std::strerror(errno);
  }
  ~Handle() {
    if (h) mhd_close(h);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
};

// REGISTER AND IGNORE EXISTING KEY with APTPL; a SAN that cannot persist reservations refuses
// the bit (ILLEGAL REQUEST, an invalid field: ENOTSUP or EINVAL from libmhd, as tgt does):
// registered again without it. 0, or -1 with errno set.
int register_ignore(mhd_handle_t* h, uint64_t key) {
  mhioc_registerandignorekey_t reg{mhd::make_key(key), B_TRUE};
  if (mhd_ioctl(h, MHIOCGRP_REGISTERANDIGNOREKEY, &reg) == 0) return 0;
  if (errno != ENOTSUP && errno != EINVAL) return -1;
  reg.aptpl = B_FALSE;
  return mhd_ioctl(h, MHIOCGRP_REGISTERANDIGNOREKEY, &reg);
}
}  // namespace

bool preregister_key(const RaceTarget& t, std::string& detail) {
  Handle handle(t, detail);
  if (!handle.h) return false;
  if (register_ignore(handle.h, t.ours) != 0) {
    refused(errno, "MHIOCGRP_REGISTERANDIGNOREKEY", detail);
    return false;
  }
  detail = "registered";
  return true;
}

R preempt_owner(const RaceTarget& t, std::string& detail) {
  Handle handle(t, detail);
  if (!handle.h) return R::failed;
  mhd_handle_t* h = handle.h;
  std::vector<mhioc_resv_key_t> keys(kMaxKeys);
  mhioc_key_list_t kl{kMaxKeys, 0, keys.data()};
  mhioc_inkeys_t ink{0, &kl};
  if (mhd_ioctl(h, MHIOCGRP_INKEYS, &ink) != 0) return refused(errno, "MHIOCGRP_INKEYS", detail);
  std::vector<mhioc_resv_desc_t> resv(kMaxKeys);
  mhioc_resv_desc_list_t rl{kMaxKeys, 0, resv.data()};
  mhioc_inresvs_t inr{0, &rl};
  if (mhd_ioctl(h, MHIOCGRP_INRESV, &inr) != 0) return refused(errno, "MHIOCGRP_INRESV", detail);
  const bool reserved = rl.listlen > 0;
  const uint64_t holder = reserved ? mhd::key_value(resv[0].key) : 0;
  bool owner_registered = false, ours_registered = false;
  for (uint32_t i = 0; i < std::min(kl.listlen, kl.listsize); ++i) {
    if (mhd::key_value(keys[i]) == t.owner) owner_registered = true;
    if (mhd::key_value(keys[i]) == t.ours) ours_registered = true;
  }
  if (t.registered && !ours_registered) {
    detail = "this node's key, registered in advance, is gone: it was preempted";
    return R::lost;
  }

  if (register_ignore(h, t.ours) != 0) return refused(errno, "MHIOCGRP_REGISTERANDIGNOREKEY", detail);
  mhioc_resv_desc_t mine{mhd::make_key(t.ours), SCSI3_RESV_WRITEEXCLUSIVEREGISTRANTSONLY, SCSI3_SCOPE_LOGICALUNIT, 0};
  // The owner's key registered: preempt it even when the reservation is ours already (a planned
  // switchover leaves it with the previous owner): under Write Exclusive - Registrants Only every
  // registrant writes, so only removing its registrations fences it.
  // A SAN without PREEMPT AND ABORT (tgt 1.0.85 refuses its service action: ENOTSUP) gets
  // PREEMPT: the owner's registrations go all the same (its next command gets RESERVATION
  // CONFLICT), but commands the SAN accepted from it before are not aborted.
  if (owner_registered) {
    mhioc_preemptandabort_t pa{mine, mhd::make_key(t.owner)};
    if (mhd_ioctl(h, MHIOCGRP_PREEMPTANDABORT, &pa) == 0) {
      detail = "the owner's key is preempted";
      return R::won;
    }
    if (errno != ENOTSUP) return refused(errno, "MHIOCGRP_PREEMPTANDABORT", detail);
    if (mhd_ioctl(h, MHIOCGRP_PREEMPT, &pa) != 0) return refused(errno, "MHIOCGRP_PREEMPT", detail);
    detail = "the owner's key is preempted (PREEMPT: the SAN does not support PREEMPT AND ABORT, so commands it "
             "had accepted from the owner before were not aborted)";
    return R::won;
  }
  if (reserved && holder == t.ours) {
    detail = "the reservation is ours already and the owner's key is not registered";
    return R::won;
  }
  if (reserved) {
    detail = "a third key holds the reservation";
    return R::lost;
  }
  if (mhd_ioctl(h, MHIOCGRP_RESERVE, &mine) != 0) return refused(errno, "MHIOCGRP_RESERVE", detail);
  detail = "the owner's key was not registered; reserved";
  return R::won;
}

namespace {
class SanFence final : public stmf::store::StorageFence {
 public:
  explicit SanFence(RaceTarget t) : t_(std::move(t)) {}
  stmf::store::FenceProvider provider() const override { return stmf::store::FenceProvider::san_pr; }
  bool prepare(std::string& detail) override { return preregister_key(t_, detail); }
  stmf::store::TakeResult break_owner(std::string& detail) override {
    switch (preempt_owner(t_, detail)) {
      case R::won: return stmf::store::TakeResult::won;
      case R::lost: return stmf::store::TakeResult::lost;
      case R::failed: break;
    }
    return stmf::store::TakeResult::failed;
  }

 private:
  RaceTarget t_;
};
}  // namespace

std::unique_ptr<stmf::store::StorageFence> make_san_fence(RaceTarget t) { return std::make_unique<SanFence>(std::move(t)); }

R race_result(stmf::store::TakeResult r) {
  switch (r) {
    case stmf::store::TakeResult::won: return R::won;
    case stmf::store::TakeResult::lost: return R::lost;
    case stmf::store::TakeResult::failed: break;
  }
  return R::failed;
}

}  // namespace stmfd
