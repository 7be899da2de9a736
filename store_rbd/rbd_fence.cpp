#include "store_rbd/rbd_fence.h"

#include <cerrno>
#include <cstring>

namespace stmf::rbdstore {

Acquire classify_acquire(int r) {
  if (r >= 0) return Acquire::held;
  switch (-r) {
    case ESHUTDOWN: return Acquire::fenced;  // EBLOCKLISTED in Ceph
    case EINVAL: return Acquire::refused;    // librbd: "exclusive-lock feature is not enabled"
    default: return Acquire::wait;
  }
}

store::TakeResult break_outcome(int owners_r, const std::vector<std::string>& owners, const std::vector<int>& break_rs,
                                std::string& detail) {
  if (owners_r == -ENOENT || (owners_r >= 0 && owners.empty())) {
    detail = "the image's exclusive lock had no owner: nothing to break";
    return store::TakeResult::won;
  }
  if (owners_r < 0) {
    detail = std::string("rbd_lock_get_owners: ") + std::strerror(-owners_r);
    return store::TakeResult::failed;
  }
  std::string broken;
  for (size_t i = 0; i < owners.size(); ++i) {
    const int r = i < break_rs.size() ? break_rs[i] : -EIO;
    if (r < 0 && r != -ENOENT) {
      detail = "rbd_lock_break of " + owners[i] + ": " + std::strerror(-r);
      return store::TakeResult::failed;
    }
    broken += (broken.empty() ? "" : ", ") + owners[i];
  }
  detail = "broke the exclusive lock of " + broken + " (blocklisted in the cluster)";
  return store::TakeResult::won;
}

}  // namespace stmf::rbdstore
