#include "mgmt/ops.h"
#include "mgmt/json_limits.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <set>

namespace stmf::mgmt {

namespace {

Status invalid(std::string why) { return error(STMF_ERROR_INVALID_ARG, std::move(why)); }

// A non-negative integer (JSON built in C++ carries signed ints; parsed JSON, unsigned).
bool as_uint(const json& j, uint64_t& out) {
  if (j.is_number_unsigned()) {
    out = j.get<uint64_t>();
    return true;
  }
  if (j.is_number_integer() && j.get<int64_t>() >= 0) {
    out = uint64_t(j.get<int64_t>());
    return true;
  }
  return false;
}

// Argument readers: Status on a missing or ill-typed argument.
Status need_string(const json& a, const char* k, std::string& out) {
  auto it = a.find(k);
  if (it == a.end() || !it->is_string()) return invalid(std::string("argument '") + k + "' missing or not a string");
  out = it->get<std::string>();
  return {};
}
Status need_guid(const json& a, std::string& out) {
  if (auto s = need_string(a, "guid", out); !s.ok()) return s;
  auto g = parse_guid(out);
  if (!g) return invalid("'" + out + "' is not a GUID (32 hex digits)");
  out = guid_hex(*g);
  return {};
}
Status opt_bool(const json& a, const char* k, bool& out) {
  auto it = a.find(k);
  if (it == a.end() || it->is_null()) return {};
  if (!it->is_boolean()) return invalid(std::string("argument '") + k + "' must be true or false");
  out = it->get<bool>();
  return {};
}
Status opt_group(const json& a, const char* k, std::optional<std::string>& out) {
  auto it = a.find(k);
  if (it == a.end() || it->is_null()) return {};
  if (!it->is_string() || it->get<std::string>().empty()) return invalid(std::string("argument '") + k + "' must be a group name");
  out = it->get<std::string>();
  return {};
}

// The error code a rejected LU property maps to (COMSTAR's create-LU codes).
int lu_prop_error(const ConfigError& e) {
  auto ends = [&](const char* s) { return e.key.size() >= std::strlen(s) && e.key.compare(e.key.size() - std::strlen(s), std::string::npos, s) == 0; };
  if (ends(".physical_block_size")) return STMF_ERROR_INVALID_PBLKSIZE;
  if (ends(".block_size")) return STMF_ERROR_INVALID_BLKSIZE;
  if (ends(".size")) return STMF_ERROR_SIZE_OUT_OF_RANGE;
  return STMF_ERROR_INVALID_PROP;
}

// ---- service ----
Status op_get_state(Config& c, const json&, json& r, const OpContext&) {
  r["operational"] = c.service_online ? "online" : "offline";
  r["config"] = "init_done";
  return {};
}
Status op_online(Config& c, const json&, json&, const OpContext&) {
  if (c.service_online) return error(STMF_ERROR_SERVICE_ONLINE, "the STMF service is already online");
  c.service_online = true;
  return {};
}
Status op_offline(Config& c, const json&, json&, const OpContext&) {
  if (!c.service_online) return error(STMF_ERROR_SERVICE_OFFLINE, "the STMF service is already offline");
  c.service_online = false;
  return {};
}

// ---- logical units ----
Status op_list_lu(Config& c, const json&, json& r, const OpContext&) {
  r["lus"] = json::array();
  for (auto& l : c.lus) r["lus"].push_back(l.guid);
  return {};
}
Status op_get_lu(Config& c, const json& a, json& r, const OpContext&) {
  std::string guid;
  if (auto s = need_guid(a, guid); !s.ok()) return s;
  auto* l = c.find_lu(guid);
  if (!l) return error(STMF_ERROR_NOT_FOUND, "no logical unit " + guid);
  r["lu"] = to_json(*l);
  r["lu"]["access_state"] = l->standby ? "standby" : "active";
  r["lu"]["view_entries"] = view_count(c, guid);
  return {};
}
Status op_create_lu(Config& c, const json& a, json& r, const OpContext& ctx) {
  auto it = a.find("lu");
  if (it == a.end() || !it->is_object()) return invalid("argument 'lu' missing or not an object");
  json lj = *it;
  lj.erase("state");
  if (!lj.contains("guid") && ctx.new_guid) lj["guid"] = ctx.new_guid();
  ConfigError e;
  auto l = parse_lu(lj, "lu", c.company_id, e);
  if (!l) return error(lu_prop_error(e), e.message());
  // A standby record of the same GUID (the LU stepped down here, docs/alua.md "Fencing") is
  // replaced: creating or importing it here is the takeover.
  auto* record = c.find_lu(l->guid);
  if (record && !record->standby) record = nullptr;
  if (l->store == "file")
    for (auto& o : c.lus)
      if (&o != record && o.store == "file" && o.backing == l->backing)
        return error(STMF_ERROR_FILE_IN_USE, l->backing + " already backs LU " + o.guid);
  if (!record && c.find_lu(l->guid)) return error(STMF_ERROR_GUID_IN_USE, "GUID " + l->guid + " is already in use");
  r["guid"] = l->guid;
  if (record) {
    if (l->epoch <= record->epoch) l->epoch = record->epoch;
    *record = std::move(*l);
    return {};
  }
  c.lus.push_back(std::move(*l));
  return {};
}
Status op_delete_lu(Config& c, const json& a, json&, const OpContext&) {
  std::string guid;
  if (auto s = need_guid(a, guid); !s.ok()) return s;
  bool keep = false;
  if (auto s = opt_bool(a, "keep_views", keep); !s.ok()) return s;
  if (!c.find_lu(guid)) return error(STMF_ERROR_NOT_FOUND, "no logical unit " + guid);
  std::erase_if(c.lus, [&](auto& l) { return l.guid == guid; });
  if (!keep) std::erase_if(c.views, [&](auto& v) { return v.guid == guid; });
  return {};
}
Status op_modify_lu(Config& c, const json& a, json&, const OpContext&) {
  LuConfig* l = nullptr;
  if (a.contains("guid")) {
    std::string guid;
    if (auto s = need_guid(a, guid); !s.ok()) return s;
    if (!(l = c.find_lu(guid))) return error(STMF_ERROR_NOT_FOUND, "no logical unit " + guid);
  } else {
    std::string file;
    if (auto s = need_string(a, "backing", file); !s.ok()) return invalid("argument 'guid' or 'backing' missing");
    for (auto& x : c.lus)
      if (x.store == "file" && x.backing == file) l = &x;
    if (!l) return error(STMF_ERROR_NOT_FOUND, "no logical unit on " + file);
  }
  auto it = a.find("props");
  if (it == a.end() || !it->is_object() || it->empty()) return invalid("argument 'props' missing or empty");
  LuConfig n = *l;
  for (auto& [k, v] : it->items()) {
    if (k == "name" && v.is_string() && v.get<std::string>().size() <= 255) n.name = v;
    else if (k == "mgmt_url" && v.is_string() && v.get<std::string>().size() <= 1024) n.mgmt_url = v;
    else if (k == "write_cache" && v.is_boolean()) n.write_cache = v;
    else if (k == "write_protect" && v.is_boolean()) n.write_protect = v;
    else if (k == "size") {
      uint64_t sz = 0;
      if (v.is_string()) {
        auto p = parse_size(v.get<std::string>());
        if (!p) return error(STMF_ERROR_SIZE_OUT_OF_RANGE, "malformed size '" + v.get<std::string>() + "'");
        sz = *p;
      } else if (as_uint(v, sz)) {
      } else {
        return error(STMF_ERROR_INVALID_PROP, "size must be a number of bytes or a size string");
      }
      if (sz % n.block_size) return error(STMF_ERROR_SIZE_OUT_OF_RANGE, "size must be a multiple of the block size");
      if (sz < n.size) return error(STMF_ERROR_SIZE_OUT_OF_RANGE, "shrinking a logical unit is refused (it would destroy data)");
      if (sz > (uint64_t(1) << 60)) return error(STMF_ERROR_SIZE_OUT_OF_RANGE, "size too large");
      n.size = sz;
    } else if (k == "epoch") {
      // Raised only by the daemon when this node takes the LU over (docs/alua.md "Fencing").
      return error(STMF_ERROR_INVALID_PROP, "property 'epoch' is set by ALUA takeover, not by modify-lu");
    } else {
      return error(STMF_ERROR_INVALID_PROP, "property '" + k + "' cannot be modified (or has a bad value)");
    }
  }
  *l = n;
  return {};
}
Status set_lu_online(Config& c, const json& a, bool online) {
  std::string guid;
  if (auto s = need_guid(a, guid); !s.ok()) return s;
  auto* l = c.find_lu(guid);
  if (!l) return error(STMF_ERROR_NOT_FOUND, "no logical unit " + guid);
  l->online = online;
  return {};
}
Status op_online_lu(Config& c, const json& a, json&, const OpContext&) { return set_lu_online(c, a, true); }
Status op_offline_lu(Config& c, const json& a, json&, const OpContext&) { return set_lu_online(c, a, false); }

// ---- host and target groups ----
using Groups = std::vector<GroupConfig> Config::*;
const char* group_word(Groups g) { return g == &Config::host_groups ? "host group" : "target group"; }
GroupConfig* find_group(Config& c, Groups g, const std::string& name) {
  for (auto& x : c.*g)
    if (x.name == name) return &x;
  return nullptr;
}
bool group_in_use(const Config& c, Groups g, const std::string& name) {
  for (auto& v : c.views)
    if ((g == &Config::host_groups ? v.host_group : v.target_group) == name) return true;
  return false;
}
Status need_group_name(const json& a, const char* k, std::string& out) {
  if (auto s = need_string(a, k, out); !s.ok()) return s;
  if (out.empty() || out.size() > 255) return invalid("group names are 1 to 255 characters");
  return {};
}
template <Groups G>
Status op_list_groups(Config& c, const json&, json& r, const OpContext&) {
  r["groups"] = json::array();
  for (auto& g : c.*G) r["groups"].push_back({{"name", g.name}, {"members", g.members}});
  return {};
}
template <Groups G>
Status op_create_group(Config& c, const json& a, json&, const OpContext&) {
  std::string name;
  if (auto s = need_group_name(a, "name", name); !s.ok()) return s;
  if (find_group(c, G, name)) return error(STMF_ERROR_EXISTS, std::string(group_word(G)) + " " + name + " already exists");
  (c.*G).push_back(GroupConfig{name, {}});
  return {};
}
template <Groups G>
Status op_delete_group(Config& c, const json& a, json&, const OpContext&) {
  std::string name;
  if (auto s = need_group_name(a, "name", name); !s.ok()) return s;
  if (!find_group(c, G, name)) return error(STMF_ERROR_GROUP_NOT_FOUND, std::string("no ") + group_word(G) + " " + name);
  if (group_in_use(c, G, name))
    return error(STMF_ERROR_GROUP_IN_USE, std::string(group_word(G)) + " " + name + " is used by a view entry");
  std::erase_if(c.*G, [&](auto& g) { return g.name == name; });
  return {};
}
Status group_member_args(Config& c, Groups g, const json& a, GroupConfig*& grp, std::string& member) {
  std::string name, raw;
  if (auto s = need_group_name(a, "group", name); !s.ok()) return s;
  if (auto s = need_string(a, "member", raw); !s.ok()) return s;
  auto d = normalize_devid(raw);
  if (!d) return invalid("'" + raw + "' is not a device id (iqn.…, eui.<16 hex>, naa.<16|32 hex>, wwn.<16 hex>)");
  member = *d;
  if (!(grp = find_group(c, g, name))) return error(STMF_ERROR_GROUP_NOT_FOUND, std::string("no ") + group_word(g) + " " + name);
  return {};
}
template <Groups G>
Status op_add_member(Config& c, const json& a, json&, const OpContext&) {
  GroupConfig* grp;
  std::string m;
  if (auto s = group_member_args(c, G, a, grp, m); !s.ok()) return s;
  for (auto& g : c.*G)
    if (std::count(g.members.begin(), g.members.end(), m))
      return error(STMF_ERROR_EXISTS, m + " is already a member of " + group_word(G) + " " + g.name);
  grp->members.insert(std::lower_bound(grp->members.begin(), grp->members.end(), m), m);
  return {};
}
template <Groups G>
Status op_remove_member(Config& c, const json& a, json&, const OpContext&) {
  GroupConfig* grp;
  std::string m;
  if (auto s = group_member_args(c, G, a, grp, m); !s.ok()) return s;
  auto it = std::find(grp->members.begin(), grp->members.end(), m);
  if (it == grp->members.end()) return error(STMF_ERROR_MEMBER_NOT_FOUND, m + " is not a member of " + group_word(G) + " " + grp->name);
  grp->members.erase(it);
  return {};
}
template <Groups G>
Status op_group_members(Config& c, const json& a, json& r, const OpContext&) {
  std::string name;
  if (auto s = need_group_name(a, "name", name); !s.ok()) return s;
  auto* g = find_group(c, G, name);
  if (!g) return error(STMF_ERROR_GROUP_NOT_FOUND, std::string("no ") + group_word(G) + " " + name);
  r["members"] = g->members;
  return {};
}

// ---- view entries ----
Status op_add_view(Config& c, const json& a, json& r, const OpContext&) {
  ViewEntryConfig v;
  if (auto s = need_guid(a, v.guid); !s.ok()) return s;
  if (auto s = opt_group(a, "host_group", v.host_group); !s.ok()) return s;
  if (auto s = opt_group(a, "target_group", v.target_group); !s.ok()) return s;
  if (v.host_group && !find_group(c, &Config::host_groups, *v.host_group))
    return error(STMF_ERROR_INVALID_HG, "no host group " + *v.host_group);
  if (v.target_group && !find_group(c, &Config::target_groups, *v.target_group))
    return error(STMF_ERROR_INVALID_TG, "no target group " + *v.target_group);
  std::optional<uint64_t> lun;
  if (auto it = a.find("lun"); it != a.end() && !it->is_null()) {
    uint64_t n = 0;
    if (!as_uint(*it, n) || n > 16383) return invalid("LUN must be between 0 and 16383");
    lun = n;
  }
  std::set<uint64_t> used;
  for (auto& w : c.views) {
    if (!views_overlap(v, w)) continue;
    if (w.guid == v.guid)
      return error(STMF_ERROR_VE_CONFLICT, "view entry " + std::to_string(w.index) + " of this LU already covers these hosts and targets");
    used.insert(w.lun);
  }
  if (lun && used.count(*lun))
    return error(STMF_ERROR_LUN_IN_USE, "LUN " + std::to_string(*lun) + " is already in use for these hosts and targets");
  if (!lun) {
    uint64_t n = 0;
    while (used.count(n)) ++n;
    if (n > 16383) return error(STMF_ERROR_LUN_IN_USE, "no free LUN for these hosts and targets");
    lun = n;
  }
  v.lun = *lun;
  v.index = 0;
  while (std::any_of(c.views.begin(), c.views.end(), [&](auto& w) { return w.guid == v.guid && w.index == v.index; })) ++v.index;
  r["index"] = v.index;
  r["lun"] = v.lun;
  c.views.push_back(std::move(v));
  return {};
}
Status op_remove_view(Config& c, const json& a, json&, const OpContext&) {
  std::string guid;
  if (auto s = need_guid(a, guid); !s.ok()) return s;
  bool all = false;
  if (auto s = opt_bool(a, "all", all); !s.ok()) return s;
  if (all) {
    if (!std::erase_if(c.views, [&](auto& v) { return v.guid == guid; }))
      return error(STMF_ERROR_NOT_FOUND, "LU " + guid + " has no view entries");
    return {};
  }
  auto it = a.find("index");
  uint64_t idx = 0;
  if (it == a.end() || !as_uint(*it, idx)) return invalid("argument 'index' (or 'all') missing");
  if (!std::erase_if(c.views, [&](auto& v) { return v.guid == guid && v.index == idx; }))
    return error(STMF_ERROR_NOT_FOUND, "LU " + guid + " has no view entry " + std::to_string(idx));
  return {};
}
Status op_list_view(Config& c, const json& a, json& r, const OpContext&) {
  std::string guid;
  if (auto s = need_guid(a, guid); !s.ok()) return s;
  r["views"] = json::array();
  for (auto& v : c.views)
    if (v.guid == guid) r["views"].push_back(to_json(v));
  if (r["views"].empty() && !c.find_lu(guid)) return error(STMF_ERROR_NOT_FOUND, "no logical unit " + guid);
  return {};
}

// ---- iSCSI targets ----
Status need_target(Config& c, const json& a, TargetConfig*& t) {
  std::string name;
  if (auto s = need_string(a, "name", name); !s.ok()) return s;
  std::transform(name.begin(), name.end(), name.begin(), ::tolower);
  if (!(t = c.find_target(name))) return error(STMF_ERROR_NOT_FOUND, "no target " + name);
  return {};
}
Status op_create_target(Config& c, const json& a, json& r, const OpContext& ctx) {
  json tj = a.contains("target") && a["target"].is_object() ? a["target"] : json::object();
  tj.erase("state");
  tj.erase("port_index");  // assigned here, never chosen by the caller
  if (tj.contains("name")) {
    tj["iqn"] = tj["name"];
    tj.erase("name");
  }
  if (!tj.contains("iqn") && ctx.new_target_iqn) tj["iqn"] = ctx.new_target_iqn();
  if (tj.contains("iqn") && tj["iqn"].is_string()) {
    auto n = tj["iqn"].get<std::string>();
    std::transform(n.begin(), n.end(), n.begin(), ::tolower);
    tj["iqn"] = n;
  }
  ConfigError e;
  auto t = parse_target(tj, "target", e);
  if (!t) return invalid(e.message());
  if (c.find_target(t->iqn)) return error(STMF_ERROR_EXISTS, "target " + t->iqn + " already exists");
  t->port_index = free_port_index(c.targets);
  if (!t->port_index) return error(STMF_ERROR_NOMEM, "no free target port index (at most 32767 targets)");
  r["name"] = t->iqn;
  c.targets.push_back(std::move(*t));
  return {};
}
Status op_modify_target(Config& c, const json& a, json&, const OpContext&) {
  TargetConfig* t;
  if (auto s = need_target(c, a, t); !s.ok()) return s;
  json tj = to_json(*t, true);
  for (auto k : {"alias", "auth", "chap", "initiators", "tpgt"})
    if (a.contains(k)) tj[k] = a[k];
  ConfigError e;
  auto n = parse_target(tj, "target", e);
  if (!n) return invalid(e.message());
  n->online = t->online;
  *t = std::move(*n);
  return {};
}
Status op_delete_target(Config& c, const json& a, json&, const OpContext&) {
  TargetConfig* t;
  if (auto s = need_target(c, a, t); !s.ok()) return s;
  auto iqn = t->iqn;
  std::erase_if(c.targets, [&](auto& x) { return x.iqn == iqn; });
  return {};
}
Status set_target_online(Config& c, const json& a, bool online) {
  TargetConfig* t;
  if (auto s = need_target(c, a, t); !s.ok()) return s;
  t->online = online;
  return {};
}
Status op_online_target(Config& c, const json& a, json&, const OpContext&) { return set_target_online(c, a, true); }
Status op_offline_target(Config& c, const json& a, json&, const OpContext&) { return set_target_online(c, a, false); }

// ---- initiators' CHAP credentials and the default auth methods (itadm's model) ----
// The whole configuration's CHAP rules (a secret authenticates one direction only).
Status check_whole(const Config& c) {
  ConfigError e;
  if (!validate(c, e)) return invalid(e.message());
  return {};
}
Status need_initiator(Config& c, const json& a, InitiatorConfig*& i) {
  std::string name;
  if (auto s = need_string(a, "name", name); !s.ok()) return s;
  std::transform(name.begin(), name.end(), name.begin(), ::tolower);
  if (!(i = c.find_initiator(name))) return error(STMF_ERROR_NOT_FOUND, "no initiator " + name);
  return {};
}
Status op_create_initiator(Config& c, const json& a, json& r, const OpContext&) {
  if (!a.contains("initiator") || !a["initiator"].is_object()) return invalid("argument 'initiator' missing or not an object");
  ConfigError e;
  auto i = parse_initiator(a["initiator"], "initiator", e);
  if (!i) return invalid(e.message());
  if (c.find_initiator(i->name)) return error(STMF_ERROR_EXISTS, "initiator " + i->name + " already exists");
  Config next = c;
  next.initiators.push_back(std::move(*i));
  if (auto s = check_whole(next); !s.ok()) return s;
  r["name"] = next.initiators.back().name;
  c = std::move(next);
  return {};
}
Status op_modify_initiator(Config& c, const json& a, json&, const OpContext&) {
  InitiatorConfig* i;
  if (auto s = need_initiator(c, a, i); !s.ok()) return s;
  json ij = to_json(*i, true);
  for (auto k : {"chap_user", "chap_secret"})
    if (a.contains(k)) {
      if (a[k].is_null()) ij.erase(k);  // null clears (the user name falls back to the node name)
      else ij[k] = a[k];
    }
  ConfigError e;
  auto n = parse_initiator(ij, "initiator", e);
  if (!n) return invalid(e.message());
  Config next = c;
  *next.find_initiator(i->name) = std::move(*n);
  if (auto s = check_whole(next); !s.ok()) return s;
  c = std::move(next);
  return {};
}
Status op_delete_initiator(Config& c, const json& a, json&, const OpContext&) {
  InitiatorConfig* i;
  if (auto s = need_initiator(c, a, i); !s.ok()) return s;
  auto name = i->name;
  std::erase_if(c.initiators, [&](auto& x) { return x.name == name; });
  return {};
}
// Secrets only with "show_secrets": true (the daemon allows that to privileged callers only).
Status op_list_initiator(Config& c, const json& a, json& r, const OpContext&) {
  bool show = false;
  if (auto s = opt_bool(a, "show_secrets", show); !s.ok()) return s;
  r["initiators"] = json::array();
  for (auto& i : c.initiators) {
    json j = to_json(i, show);
    j["chap_user"] = i.effective_user();
    if (show) j["chap_secret"] = i.chap_secret;
    r["initiators"].push_back(j);
  }
  return {};
}
Status op_list_defaults(Config& c, const json&, json& r, const OpContext&) {
  r["default_auth"] = c.iscsi.default_auth;
  r["discovery_auth"] = c.iscsi.discovery_auth;
  return {};
}
Status op_modify_defaults(Config& c, const json& a, json&, const OpContext&) {
  for (auto [k, field] : {std::pair{"default_auth", &IscsiConfig::default_auth}, std::pair{"discovery_auth", &IscsiConfig::discovery_auth}}) {
    if (!a.contains(k) || a[k].is_null()) continue;
    if (!a[k].is_string() || (a[k] != "none" && a[k] != "chap")) return invalid(std::string(k) + " must be none or chap");
    c.iscsi.*field = a[k].get<std::string>();
  }
  return {};
}

// ---- portals ----
Status need_portal(const json& a, Portal& p) {
  if (auto s = need_string(a, "host", p.host); !s.ok()) return s;
  std::array<unsigned char, 16> buf;
  if (inet_pton(AF_INET, p.host.c_str(), buf.data()) != 1 && inet_pton(AF_INET6, p.host.c_str(), buf.data()) != 1)
    return invalid("'" + p.host + "' is not an IPv4 or IPv6 address");
  if (auto it = a.find("port"); it != a.end() && !it->is_null()) {
    uint64_t n = 0;
    if (!as_uint(*it, n) || n == 0 || n > 65535) return invalid("port must be 1 to 65535");
    p.port = uint16_t(n);
  }
  return {};
}
std::string portal_text(const Portal& p) { return p.host + ":" + std::to_string(p.port); }
Status op_list_portal(Config& c, const json&, json& r, const OpContext&) {
  r["portals"] = json::array();
  for (auto& p : c.portals) r["portals"].push_back(to_json(p));
  return {};
}
Status op_create_portal(Config& c, const json& a, json&, const OpContext&) {
  Portal p;
  if (auto s = need_portal(a, p); !s.ok()) return s;
  if (std::count(c.portals.begin(), c.portals.end(), p)) return error(STMF_ERROR_EXISTS, "portal " + portal_text(p) + " already exists");
  c.portals.push_back(p);
  return {};
}
Status op_delete_portal(Config& c, const json& a, json&, const OpContext&) {
  Portal p;
  if (auto s = need_portal(a, p); !s.ok()) return s;
  if (!std::erase(c.portals, p)) return error(STMF_ERROR_NOT_FOUND, "no portal " + portal_text(p));
  return {};
}

// ---- ALUA pair (stmfSetAluaState, stmfGetAluaState) ----
// Enabling needs node 0 or 1; disabling ignores `node` and keeps the stored one. Enabling
// while already enabled is valid (the daemon re-initializes the pair; tools/stmfd/mgmt_server).
Status op_set_alua_state(Config& c, const json& a, json&, const OpContext&) {
  auto it = a.find("enabled");
  if (it == a.end() || !it->is_boolean()) return invalid("argument 'enabled' missing or not true/false");
  if (!it->get<bool>()) {
    c.alua.enabled = false;
    return {};
  }
  auto n = a.find("node");
  uint64_t node = 0;
  if (n == a.end() || n->is_null()) return invalid("argument 'node' missing: enabling ALUA needs node 0 or 1");
  if (!as_uint(*n, node) || node > 1)
    return invalid("node must be 0 or 1 (got " + n->dump() + "); the two nodes of a pair use different values");
  c.alua.enabled = true;
  c.alua.node = uint32_t(node);
  return {};
}
Status op_get_alua_state(Config& c, const json&, json& r, const OpContext&) {
  r["enabled"] = c.alua.enabled;
  r["node"] = c.alua.node;
  return {};
}

constexpr OpInfo kOps[] = {
    {"get-state", false, op_get_state},
    {"online", true, op_online},
    {"offline", true, op_offline},
    {"list-lu", false, op_list_lu},
    {"get-lu", false, op_get_lu},
    {"create-lu", true, op_create_lu},
    {"delete-lu", true, op_delete_lu},
    {"modify-lu", true, op_modify_lu},
    {"online-lu", true, op_online_lu},
    {"offline-lu", true, op_offline_lu},
    {"list-hg", false, op_list_groups<&Config::host_groups>},
    {"list-tg", false, op_list_groups<&Config::target_groups>},
    {"create-hg", true, op_create_group<&Config::host_groups>},
    {"create-tg", true, op_create_group<&Config::target_groups>},
    {"delete-hg", true, op_delete_group<&Config::host_groups>},
    {"delete-tg", true, op_delete_group<&Config::target_groups>},
    {"add-hg-member", true, op_add_member<&Config::host_groups>},
    {"add-tg-member", true, op_add_member<&Config::target_groups>},
    {"remove-hg-member", true, op_remove_member<&Config::host_groups>},
    {"remove-tg-member", true, op_remove_member<&Config::target_groups>},
    {"get-hg-members", false, op_group_members<&Config::host_groups>},
    {"get-tg-members", false, op_group_members<&Config::target_groups>},
    {"add-view", true, op_add_view},
    {"remove-view", true, op_remove_view},
    {"list-view", false, op_list_view},
    {"create-target", true, op_create_target},
    {"modify-target", true, op_modify_target},
    {"delete-target", true, op_delete_target},
    {"online-target", true, op_online_target},
    {"offline-target", true, op_offline_target},
    {"create-initiator", true, op_create_initiator},
    {"modify-initiator", true, op_modify_initiator},
    {"delete-initiator", true, op_delete_initiator},
    {"list-initiator", false, op_list_initiator},
    {"list-defaults", false, op_list_defaults},
    {"modify-defaults", true, op_modify_defaults},
    {"list-portal", false, op_list_portal},
    {"create-portal", true, op_create_portal},
    {"delete-portal", true, op_delete_portal},
    {"set-alua-state", true, op_set_alua_state},
    {"get-alua-state", false, op_get_alua_state},
};

}  // namespace

const OpInfo* find_op(std::string_view name) {
  for (auto& o : kOps)
    if (o.name == name) return &o;
  return nullptr;
}

size_t view_count(const Config& c, const std::string& guid) {
  return size_t(std::count_if(c.views.begin(), c.views.end(), [&](auto& v) { return v.guid == guid; }));
}

AdmittedRequest admit_request(std::string_view line, const ManagementConfig& limits) {
  AdmittedRequest a;
  std::string why;
  a.request = parse_json_limited(line, limits.max_json_depth, &why);
  if (a.request.is_discarded()) {
    a.too_deep = why != "not valid JSON";
    a.status = error(STMF_ERROR_INVALID_ARG, a.too_deep ? "request refused: JSON " + why : "request is not a JSON object");
    return a;
  }
  if (!a.request.is_object()) {
    a.request = json(json::value_t::discarded);
    a.status = error(STMF_ERROR_INVALID_ARG, "request is not a JSON object");
    return a;
  }
  if (line.size() > limits.max_line_bytes) {
    auto op = a.request.find("op");
    if (op == a.request.end() || *op != "import") {
      a.request = json(json::value_t::discarded);
      a.status = error(STMF_ERROR_INVALID_ARG, "request larger than " + std::to_string(limits.max_line_bytes) +
                                                   " bytes (only import may be larger)");
    }
  }
  return a;
}

std::vector<std::string> diff(const Config& from, const Config& to) {
  std::vector<std::string> out;
  // Keyed collections: removed, added, changed (with the changed keys of the JSON form).
  auto keyed = [&](const char* what, const json& a, const json& b, const char* key) {
    auto index = [&](const json& arr) {
      std::map<std::string, json> m;
      for (auto& x : arr) m[x.is_object() ? x[key].dump() : x.dump()] = x;
      return m;
    };
    auto ma = index(a), mb = index(b);
    auto name = [](const std::string& k) { return k.size() > 1 && k[0] == '"' ? k.substr(1, k.size() - 2) : k; };
    for (auto& [k, v] : ma)
      if (!mb.count(k)) out.push_back(std::string("- ") + what + " " + name(k));
    for (auto& [k, v] : mb) {
      auto it = ma.find(k);
      if (it == ma.end()) {
        out.push_back(std::string("+ ") + what + " " + name(k));
      } else if (it->second != v) {
        std::string keys;
        for (auto& [f, fv] : v.items())
          if (!it->second.contains(f) || it->second[f] != fv) keys += (keys.empty() ? "" : ", ") + f;
        out.push_back(std::string("~ ") + what + " " + name(k) + ": " + keys);
      }
    }
  };
  json a = to_json(from), b = to_json(to);
  keyed("portal", a["portals"], b["portals"], "");
  keyed("target", a["targets"], b["targets"], "iqn");
  keyed("lu", a["lus"], b["lus"], "guid");
  keyed("hg", a["host_groups"], b["host_groups"], "name");
  keyed("tg", a["target_groups"], b["target_groups"], "name");
  // View entries are keyed by LU and index.
  auto views = [](const json& arr) {
    json o = json::array();
    for (auto v : arr) {
      v["key"] = v["guid"].get<std::string>() + "/" + std::to_string(v["index"].get<uint32_t>());
      o.push_back(v);
    }
    return o;
  };
  keyed("view", views(a["views"]), views(b["views"]), "key");
  keyed("initiator", a["initiators"], b["initiators"], "name");
  for (auto k : {"iscsi", "management", "alua", "metrics", "array_sessions", "company_id", "threads", "shutdown_timeout_s",
                 "log_level", "service"})
    if (a[k] != b[k]) out.push_back(std::string("~ setting ") + k);
  return out;
}

}  // namespace stmf::mgmt
