#include "core/views.h"

#include <algorithm>

#include "core/stmf.h"

namespace stmf {

namespace {
std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}
const std::string* group_of(const std::map<std::string, std::string>& m, const std::string& id) {
  auto it = m.find(id);
  return it == m.end() ? nullptr : &it->second;
}
}  // namespace

std::shared_ptr<const LunMap> ViewTable::map_for(const std::string& initiator_name, const std::string& target_name) const {
  auto map = std::make_shared<LunMap>();
  const std::string* hg = group_of(host_group_of, lower(initiator_name));
  const std::string* tg = group_of(target_group_of, lower(target_name));
  for (auto& e : entries) {
    if (e.host_group && (!hg || *hg != *e.host_group)) continue;
    if (e.target_group && (!tg || *tg != *e.target_group)) continue;
    map->luns.emplace(e.lun, e.lu);
  }
  return map;
}

}  // namespace stmf
