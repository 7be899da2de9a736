#include "store_iscsi/fence.h"

#include <algorithm>
#include <cstdio>

namespace stmf::iscsistore {

std::string key_hex(uint64_t key) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%016llx", static_cast<unsigned long long>(key));
  return b;
}

FenceDecision decide_on_connect(const PrView& v, uint64_t key, bool registered_before) {
  FenceDecision d;
  const bool registered = std::find(v.keys.begin(), v.keys.end(), key) != v.keys.end();
  if (registered_before && !registered) {
    d.fenced = true;
    d.why = "this node's key " + key_hex(key) + " is no longer registered on the SAN LUN (preempted)";
    return d;
  }
  // Reserved under another key while this node's key is registered: a planned switchover left
  // the reservation with the previous owner, and Write Exclusive - Registrants Only lets every
  // registrant write; a takeover would have preempted this node's key. Serve without RESERVE.
  if (v.holder && *v.holder != key && !registered) {
    d.fenced = true;
    d.why = "the SAN LUN is reserved under key " + key_hex(*v.holder) + " (another node owns it)";
    return d;
  }
  d.reserve = !v.holder;
  return d;
}

bool parse_keys(const uint8_t* data, size_t len, PrView& v) {
  std::vector<mhioc_resv_key_t> list(kFenceMaxKeys);
  mhioc_key_list_t li{kFenceMaxKeys, 0, list.data()};
  mhioc_inkeys_t in{0, &li};
  if (mhd::parse_read_keys(data, len, &in) != 0) return false;
  v.keys.clear();
  for (uint32_t i = 0; i < std::min(li.listlen, li.listsize); ++i) v.keys.push_back(mhd::key_value(list[i]));
  return true;
}

bool parse_reservation(const uint8_t* data, size_t len, PrView& v) {
  std::vector<mhioc_resv_desc_t> list(kFenceMaxKeys);
  mhioc_resv_desc_list_t li{kFenceMaxKeys, 0, list.data()};
  mhioc_inresvs_t in{0, &li};
  if (mhd::parse_read_reservation(data, len, &in) != 0) return false;
  v.holder.reset();
  v.type = 0;
  if (li.listlen > 0 && li.listsize > 0) {
    v.holder = mhd::key_value(list[0].key);
    v.type = list[0].type;
  }
  return true;
}

uint16_t pr_in_allocation() { return mhd::pr_in_allocation(kFenceMaxKeys, mhd::kPrInResvDescLen); }
mhd::Cdb10 read_keys_cdb() { return mhd::pr_in_cdb(mhd::pr_in::kReadKeys, pr_in_allocation()); }
mhd::Cdb10 read_reservation_cdb() { return mhd::pr_in_cdb(mhd::pr_in::kReadReservation, pr_in_allocation()); }

PrOutCommand register_ignore_cdb(uint64_t key, bool aptpl) {
  return {mhd::pr_out_cdb(mhd::pr_out::kRegisterAndIgnoreExistingKey, SCSI3_SCOPE_LOGICALUNIT, 0),
          mhd::pr_out_params(mhd::make_key(0), mhd::make_key(key), aptpl)};
}

bool aptpl_refused(int status, uint8_t sense_key, uint16_t asc_ascq) {
  const uint8_t asc = uint8_t(asc_ascq >> 8);
  return status == mhd::kStatusCheckCondition && sense_key == mhd::kSenseIllegalRequest &&
         (asc == mhd::kAscInvalidFieldInCdb || asc == mhd::kAscInvalidFieldInParameterList);
}

PrOutCommand reserve_cdb(uint64_t key) {
  return {mhd::pr_out_cdb(mhd::pr_out::kReserve, SCSI3_SCOPE_LOGICALUNIT, kFenceType),
          mhd::pr_out_params(mhd::make_key(key), mhd::make_key(0), false)};
}

PrOutCommand preempt_and_abort_cdb(uint64_t key, uint64_t victim) {
  return {mhd::pr_out_cdb(mhd::pr_out::kPreemptAndAbort, SCSI3_SCOPE_LOGICALUNIT, kFenceType),
          mhd::pr_out_params(mhd::make_key(key), mhd::make_key(victim), false)};
}

}  // namespace stmf::iscsistore
