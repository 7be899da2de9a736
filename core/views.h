// Views (COMSTAR lun_map): which LU an I_T nexus sees at which LUN. A view entry maps an LU
// at a LUN for a host side (all initiators, or the members of one host group) and a target
// side (all targets, or the members of one target group). The table is immutable once
// published; the framework swaps it as a whole and recomputes every nexus's LunMap.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/logical_unit.h"

namespace stmf {

// LUN -> LU as one I_T nexus sees it. Immutable once published (swapped as a whole).
struct LunMap {
  std::map<uint64_t, LogicalUnitPtr> luns;
  LogicalUnitPtr find(uint64_t lun) const {
    auto it = luns.find(lun);
    return it == luns.end() ? nullptr : it->second;
  }
};

struct ViewTable {
  struct Entry {
    std::optional<std::string> host_group;    // nullopt = all initiators
    std::optional<std::string> target_group;  // nullopt = all targets
    uint64_t lun = 0;
    LogicalUnitPtr lu;  // only online, registered LUs are in the table
  };
  // Device id (iSCSI name, lowercase) -> the one group it belongs to.
  std::map<std::string, std::string> host_group_of, target_group_of;
  std::vector<Entry> entries;

  // The LUN map of initiator `initiator_name` on target `target_name` (iSCSI names; compared
  // case-insensitively). When two entries claim one LUN (the management plane refuses that),
  // the first wins.
  std::shared_ptr<const LunMap> map_for(const std::string& initiator_name, const std::string& target_name) const;
};

}  // namespace stmf
