// libstmf: COMSTAR's management API over stmfd's management socket (docs/management.md).
// Every call opens its own connection (one stmf::mgmt::Client per call), so the library keeps
// no shared state and every function is MT-Safe. Only the stmf* functions are exported
// (hidden visibility plus the version script libstmf.map).
#pragma GCC visibility push(default)
#include <libstmf.h>
#pragma GCC visibility pop

#include <limits.h>
#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "core/guid.h"
#include "mgmt/client.h"
#include "mgmt/protocol.h"
#include "mgmt/size.h"

namespace {

using stmf::mgmt::json;

// ---------------------------------------------------------------------------------------------
// Plumbing

// Runs f, turning exceptions (a malformed response, memory exhaustion) into status codes.
template <class F>
int guarded(F&& f) noexcept {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return STMF_ERROR_NOMEM;
  } catch (...) {
    return STMF_STATUS_ERROR;
  }
}

// One request on a fresh connection. Daemon status codes pass through unchanged; a daemon
// that is not there gives STMF_ERROR_SERVICE_NOT_FOUND (from the client).
int call(const char* op, const json& args, json* out = nullptr) {
  stmf::mgmt::Client client(stmf::mgmt::default_socket_path(false));
  json response;
  stmf::mgmt::Status s = client.call(op, args, response);
  if (!s.ok()) return s.code;
  if (out) *out = std::move(response);
  return STMF_STATUS_SUCCESS;
}

// A one-block list: header with `cnt` plus n entries (COMSTAR's layout; the struct already
// holds one entry, so this over-allocates by one, as COMSTAR does).
template <class List, class Entry>
List* alloc_list(size_t n) {
  auto* l = static_cast<List*>(std::calloc(1, sizeof(List) + n * sizeof(Entry)));
  if (l) l->cnt = uint32_t(n);
  return l;
}

void copy_cstr(char* dst, size_t size, const std::string& s) {
  size_t n = std::min(s.size(), size - 1);
  std::memcpy(dst, s.data(), n);
  dst[n] = '\0';
}

void copy_padded(uchar_t* dst, size_t size, const std::string& s) {
  std::memset(dst, ' ', size);
  std::memcpy(dst, s.data(), std::min(s.size(), size));
}

std::string rtrim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

// A string member of a JSON object ("" when absent or null).
std::string str_of(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  return it->get<std::string>();
}

// ---------------------------------------------------------------------------------------------
// Identifiers

// stmfGuid <-> 32 uppercase hex digits: core/guid.h.
std::string guid_to_string(const stmfGuid& g) {
  stmf::Guid bytes;
  std::copy(std::begin(g.guid), std::end(g.guid), bytes.begin());
  return stmf::guid_hex(bytes);
}

bool guid_from_string(const std::string& s, stmfGuid* g) {
  auto bytes = stmf::parse_guid(s);
  if (!bytes) return false;
  std::copy(bytes->begin(), bytes->end(), g->guid);
  return true;
}

// The device id as a string ("iqn...", "eui...", "naa...", "wwn..."); empty when invalid.
std::string devid_to_string(const stmfDevid* d) {
  if (!d || d->identLength == 0) return {};
  std::string s(reinterpret_cast<const char*>(d->ident), d->identLength);
  if (s.find('\0') != std::string::npos) return {};
  return s;
}

bool devid_from_string(const std::string& s, stmfDevid* d) {
  std::memset(d, 0, sizeof *d);
  if (s.empty() || s.size() > STMF_IDENT_LENGTH) return false;
  d->identLength = uint8_t(s.size());
  std::memcpy(d->ident, s.data(), s.size());
  return true;
}

// A group name: NUL-terminated within stmfGroupName and not empty.
bool group_name(const stmfGroupName* g, std::string& out) {
  if (!g) return false;
  const char* p = *g;
  const void* nul = std::memchr(p, '\0', sizeof(stmfGroupName));
  if (!nul || p[0] == '\0') return false;
  out.assign(p);
  return true;
}

// SAM LUN (8 bytes) <-> integer LUN, peripheral (< 256) and flat (256..16383) addressing.
void lun_encode(uint32_t lun, uchar_t out[8]) {
  std::memset(out, 0, 8);
  if (lun < 256) {
    out[1] = uchar_t(lun);
  } else {
    out[0] = uchar_t(0x40 | ((lun >> 8) & 0x3f));
    out[1] = uchar_t(lun & 0xff);
  }
}

bool lun_decode(const uchar_t in[8], uint32_t* lun) {
  for (int i = 2; i < 8; ++i)
    if (in[i]) return false;
  switch (in[0] >> 6) {
    case 0:  // peripheral device addressing, bus 0
      if (in[0] & 0x3f) return false;
      *lun = in[1];
      return true;
    case 1:  // flat space addressing
      *lun = (uint32_t(in[0] & 0x3f) << 8) | in[1];
      return true;
    default:
      return false;
  }
}

// Paths are resolved against the caller's working directory: the daemon has its own.
std::string absolute_path(const char* p) {
  std::error_code ec;
  auto a = std::filesystem::absolute(p, ec);
  return ec ? std::string(p) : a.lexically_normal().string();
}

// ---------------------------------------------------------------------------------------------
// LU resources (property bags)

constexpr uint32_t kLuMagic = 0x4c555253;  // "LURS"

struct LuResourceImpl {
  uint32_t magic = kLuMagic;
  uint16_t type = STMF_DISK;
  std::map<uint32_t, std::string> props;
};

LuResourceImpl* impl_of(luResource hdl) {
  auto* r = static_cast<LuResourceImpl*>(hdl);
  return (r && r->magic == kLuMagic) ? r : nullptr;
}

bool all_digits(const char* v) {
  if (!*v) return false;
  for (; *v; ++v)
    if (*v < '0' || *v > '9') return false;
  return true;
}

// Validates and stores a property (COMSTAR's setDiskProp error codes).
int set_prop(LuResourceImpl* r, uint32_t prop, const char* v) {
  if (!v) return STMF_ERROR_INVALID_ARG;
  size_t len = std::strlen(v);
  switch (prop) {
    case STMF_LU_PROP_ALIAS:
      if (len > 255) return STMF_ERROR_INVALID_PROPSIZE;
      break;
    case STMF_LU_PROP_BLOCK_SIZE:
    case STMF_LU_PROP_PBLOCK_SIZE: {
      if (!all_digits(v)) return STMF_ERROR_INVALID_ARG;
      errno = 0;
      unsigned long long n = std::strtoull(v, nullptr, 10);
      uint64_t max = prop == STMF_LU_PROP_BLOCK_SIZE ? UINT16_MAX : (1u << 30);
      if (errno == ERANGE || n > max) return STMF_ERROR_INVALID_PROPSIZE;
      r->props[prop] = std::to_string(n);
      return STMF_STATUS_SUCCESS;
    }
    case STMF_LU_PROP_FILENAME:
      if (len >= PATH_MAX) return STMF_ERROR_INVALID_PROPSIZE;
      if (len == 0) return STMF_ERROR_INVALID_ARG;
      r->props[prop] = absolute_path(v);
      return STMF_STATUS_SUCCESS;
    case STMF_LU_PROP_GUID: {
      if (len != 32) return STMF_ERROR_INVALID_PROPSIZE;
      auto g = stmf::parse_guid(v);
      if (!g) return STMF_ERROR_INVALID_ARG;
      r->props[prop] = stmf::guid_hex(*g);
      return STMF_STATUS_SUCCESS;
    }
    case STMF_LU_PROP_MGMT_URL:
      if (len >= 1024) return STMF_ERROR_INVALID_PROPSIZE;
      break;
    case STMF_LU_PROP_VID:
      if (len > 8) return STMF_ERROR_INVALID_PROPSIZE;
      break;
    case STMF_LU_PROP_PID:
      if (len > 16) return STMF_ERROR_INVALID_PROPSIZE;
      break;
    case STMF_LU_PROP_SERIAL_NUM:
      if (len > 252) return STMF_ERROR_INVALID_PROPSIZE;
      break;
    case STMF_LU_PROP_SIZE: {
      // COMSTAR size strings, fractions too ("1.5t"): mgmt/size.h.
      auto n = stmf::mgmt::parse_size(v, stmf::mgmt::kLibstmfSizes);
      if (!n) return STMF_ERROR_INVALID_ARG;
      r->props[prop] = std::to_string(*n);
      return STMF_STATUS_SUCCESS;
    }
    case STMF_LU_PROP_WRITE_PROTECT:
    case STMF_LU_PROP_WRITE_CACHE_DISABLE:
      if (strcasecmp(v, "true") == 0) r->props[prop] = "true";
      else if (strcasecmp(v, "false") == 0) r->props[prop] = "false";
      else return STMF_ERROR_INVALID_ARG;
      return STMF_STATUS_SUCCESS;
    default:
      // ACCESS_STATE is read-only; COMPANY_ID, HOST_ID (GUID generation inputs; stmfd takes the
      // OUI from its configuration), META_FILENAME (the metadata lives in the backing file's
      // extended attribute) and NEW are not supported.
      return STMF_ERROR_INVALID_PROP;
  }
  r->props[prop] = v;
  return STMF_STATUS_SUCCESS;
}

bool known_get_prop(uint32_t prop) {
  switch (prop) {
    case STMF_LU_PROP_ALIAS:
    case STMF_LU_PROP_BLOCK_SIZE:
    case STMF_LU_PROP_FILENAME:
    case STMF_LU_PROP_GUID:
    case STMF_LU_PROP_META_FILENAME:
    case STMF_LU_PROP_MGMT_URL:
    case STMF_LU_PROP_SIZE:
    case STMF_LU_PROP_WRITE_PROTECT:
    case STMF_LU_PROP_WRITE_CACHE_DISABLE:
    case STMF_LU_PROP_VID:
    case STMF_LU_PROP_PID:
    case STMF_LU_PROP_SERIAL_NUM:
    case STMF_LU_PROP_ACCESS_STATE:
    case STMF_LU_PROP_PBLOCK_SIZE:
      return true;
    default:
      return false;
  }
}

// The protocol's `lu` object for create-lu.
json lu_json(const LuResourceImpl& r) {
  json lu = json::object();
  lu["store"] = "file";
  auto get = [&](uint32_t p) -> const std::string* {
    auto it = r.props.find(p);
    return it == r.props.end() ? nullptr : &it->second;
  };
  if (auto* v = get(STMF_LU_PROP_FILENAME)) lu["backing"] = *v;
  if (auto* v = get(STMF_LU_PROP_ALIAS)) lu["name"] = *v;
  if (auto* v = get(STMF_LU_PROP_GUID)) lu["guid"] = *v;
  if (auto* v = get(STMF_LU_PROP_SIZE)) lu["size"] = std::stoull(*v);
  if (auto* v = get(STMF_LU_PROP_BLOCK_SIZE)) lu["block_size"] = std::stoull(*v);
  if (auto* v = get(STMF_LU_PROP_PBLOCK_SIZE)) lu["physical_block_size"] = std::stoull(*v);
  if (auto* v = get(STMF_LU_PROP_VID)) lu["vendor"] = *v;
  if (auto* v = get(STMF_LU_PROP_PID)) lu["product"] = *v;
  if (auto* v = get(STMF_LU_PROP_SERIAL_NUM)) lu["serial"] = *v;
  if (auto* v = get(STMF_LU_PROP_MGMT_URL)) lu["mgmt_url"] = *v;
  if (auto* v = get(STMF_LU_PROP_WRITE_PROTECT)) lu["write_protect"] = (*v == "true");
  if (auto* v = get(STMF_LU_PROP_WRITE_CACHE_DISABLE)) lu["write_cache"] = (*v != "true");
  return lu;
}

// Fills a resource from the protocol's `lu` object (get-lu).
void fill_from_lu(LuResourceImpl& r, const json& lu) {
  auto set_str = [&](uint32_t p, const char* key) {
    std::string s = rtrim(str_of(lu, key));
    if (!s.empty()) r.props[p] = s;
  };
  auto set_num = [&](uint32_t p, const char* key) {
    auto it = lu.find(key);
    if (it != lu.end() && it->is_number_integer()) r.props[p] = std::to_string(it->get<uint64_t>());
  };
  auto set_bool = [&](uint32_t p, const char* key, bool invert) {
    auto it = lu.find(key);
    if (it != lu.end() && it->is_boolean()) r.props[p] = (it->get<bool>() != invert) ? "true" : "false";
  };
  set_str(STMF_LU_PROP_ALIAS, "name");
  set_str(STMF_LU_PROP_FILENAME, "backing");
  set_str(STMF_LU_PROP_VID, "vendor");
  set_str(STMF_LU_PROP_PID, "product");
  set_str(STMF_LU_PROP_SERIAL_NUM, "serial");
  set_str(STMF_LU_PROP_MGMT_URL, "mgmt_url");
  std::string guid = str_of(lu, "guid");
  for (auto& c : guid) c = char(std::toupper(static_cast<unsigned char>(c)));
  if (!guid.empty()) r.props[STMF_LU_PROP_GUID] = guid;
  set_num(STMF_LU_PROP_SIZE, "size");
  set_num(STMF_LU_PROP_BLOCK_SIZE, "block_size");
  set_num(STMF_LU_PROP_PBLOCK_SIZE, "physical_block_size");
  if (r.props.count(STMF_LU_PROP_BLOCK_SIZE) &&
      (!r.props.count(STMF_LU_PROP_PBLOCK_SIZE) || r.props[STMF_LU_PROP_PBLOCK_SIZE] == "0"))
    r.props[STMF_LU_PROP_PBLOCK_SIZE] = r.props[STMF_LU_PROP_BLOCK_SIZE];  // 0 = same
  set_bool(STMF_LU_PROP_WRITE_PROTECT, "write_protect", false);
  set_bool(STMF_LU_PROP_WRITE_CACHE_DISABLE, "write_cache", true);
  std::string as = str_of(lu, "access_state");
  if (as.empty() || as == "active") r.props[STMF_LU_PROP_ACCESS_STATE] = STMF_ACCESS_ACTIVE;
  else if (as == "standby") r.props[STMF_LU_PROP_ACCESS_STATE] = STMF_ACCESS_STANDBY;
  else if (as == "active_to_standby" || as == "transition_to_standby")
    r.props[STMF_LU_PROP_ACCESS_STATE] = STMF_ACCESS_ACTIVE_TO_STANDBY;
  else if (as == "standby_to_active" || as == "transition_to_active")
    r.props[STMF_LU_PROP_ACCESS_STATE] = STMF_ACCESS_STANDBY_TO_ACTIVE;
}

// modify-lu: validates prop/value like COMSTAR and builds the `props` object.
int modify_props(uint32_t prop, const char* val, json& props) {
  switch (prop) {
    case STMF_LU_PROP_ALIAS:
    case STMF_LU_PROP_SIZE:
    case STMF_LU_PROP_MGMT_URL:
    case STMF_LU_PROP_WRITE_PROTECT:
    case STMF_LU_PROP_WRITE_CACHE_DISABLE:
      break;
    default:
      return STMF_ERROR_INVALID_PROP;
  }
  LuResourceImpl tmp;
  if (int ret = set_prop(&tmp, prop, val); ret != STMF_STATUS_SUCCESS) return ret;
  const std::string& v = tmp.props[prop];
  props = json::object();
  switch (prop) {
    case STMF_LU_PROP_ALIAS: props["name"] = v; break;
    case STMF_LU_PROP_SIZE: props["size"] = std::stoull(v); break;
    case STMF_LU_PROP_MGMT_URL: props["mgmt_url"] = v; break;
    case STMF_LU_PROP_WRITE_PROTECT: props["write_protect"] = (v == "true"); break;
    case STMF_LU_PROP_WRITE_CACHE_DISABLE: props["write_cache"] = (v != "true"); break;
  }
  return STMF_STATUS_SUCCESS;
}

int guid_result(const json& resp, stmfGuid* out) {
  if (!out) return STMF_STATUS_SUCCESS;
  stmfGuid g{};
  if (!guid_from_string(str_of(resp, "guid"), &g)) return STMF_STATUS_ERROR;
  *out = g;
  return STMF_STATUS_SUCCESS;
}

// ---------------------------------------------------------------------------------------------
// Groups, shared by the host and target variants

struct GroupOps {
  const char *create, *remove, *add, *del_member, *list, *members;
};
constexpr GroupOps kHostGroup{"create-hg", "delete-hg", "add-hg-member", "remove-hg-member", "list-hg",
                              "get-hg-members"};
constexpr GroupOps kTargetGroup{"create-tg", "delete-tg", "add-tg-member", "remove-tg-member", "list-tg",
                                "get-tg-members"};

int group_by_name(const char* op, stmfGroupName* g) {
  return guarded([&] {
    std::string name;
    if (!group_name(g, name)) return STMF_ERROR_INVALID_ARG;
    return call(op, {{"name", name}});
  });
}

int group_member(const char* op, stmfGroupName* g, stmfDevid* d) {
  return guarded([&] {
    std::string name, member = devid_to_string(d);
    if (!group_name(g, name) || member.empty()) return STMF_ERROR_INVALID_ARG;
    return call(op, {{"group", name}, {"member", member}});
  });
}

int group_list(const char* op, stmfGroupList** out) {
  return guarded([&] {
    if (!out) return STMF_ERROR_INVALID_ARG;
    json resp;
    if (int ret = call(op, json::object(), &resp); ret != STMF_STATUS_SUCCESS) return ret;
    const json& groups = resp.at("groups");
    auto* l = alloc_list<stmfGroupList, stmfGroupName>(groups.size());
    if (!l) return STMF_ERROR_NOMEM;
    for (size_t i = 0; i < groups.size(); ++i) {
      const json& g = groups[i];
      copy_cstr(l->name[i], sizeof(stmfGroupName), g.is_string() ? g.get<std::string>() : str_of(g, "name"));
    }
    *out = l;
    return STMF_STATUS_SUCCESS;
  });
}

int group_members(const char* op, stmfGroupName* g, stmfGroupProperties** out) {
  return guarded([&] {
    std::string name;
    if (!group_name(g, name) || !out) return STMF_ERROR_INVALID_ARG;
    json resp;
    if (int ret = call(op, {{"name", name}}, &resp); ret != STMF_STATUS_SUCCESS) return ret;
    const json& members = resp.at("members");
    auto* l = alloc_list<stmfGroupProperties, stmfDevid>(members.size());
    if (!l) return STMF_ERROR_NOMEM;
    for (size_t i = 0; i < members.size(); ++i) devid_from_string(members[i].get<std::string>(), &l->name[i]);
    *out = l;
    return STMF_STATUS_SUCCESS;
  });
}

// ---------------------------------------------------------------------------------------------
// States

int lu_status(const std::string& s) {
  if (s == "online") return STMF_LOGICAL_UNIT_ONLINE;
  if (s == "onlining") return STMF_LOGICAL_UNIT_ONLINING;
  if (s == "offlining") return STMF_LOGICAL_UNIT_OFFLINING;
  if (s == "offline") return STMF_LOGICAL_UNIT_OFFLINE;
  return STMF_LOGICAL_UNIT_UNREGISTERED;
}

int port_status(const std::string& s) {
  if (s == "online") return STMF_TARGET_PORT_ONLINE;
  if (s == "onlining") return STMF_TARGET_PORT_ONLINING;
  if (s == "offlining") return STMF_TARGET_PORT_OFFLINING;
  return STMF_TARGET_PORT_OFFLINE;
}

int service_state(const std::string& s) {
  if (s == "online") return STMF_SERVICE_STATE_ONLINE;
  if (s == "offline") return STMF_SERVICE_STATE_OFFLINE;
  if (s == "onlining") return STMF_SERVICE_STATE_ONLINING;
  if (s == "offlining") return STMF_SERVICE_STATE_OFFLINING;
  return STMF_SERVICE_STATE_UNKNOWN;
}

int config_state(const std::string& s) {
  if (s == "init_done") return STMF_CONFIG_STATE_INIT_DONE;
  if (s == "init") return STMF_CONFIG_STATE_INIT;
  if (s == "none") return STMF_CONFIG_STATE_NONE;
  return STMF_CONFIG_STATE_UNKNOWN;
}

stmfProtocol protocol_of(const std::string& p) {
  if (strcasecmp(p.c_str(), "fc") == 0 || strcasecmp(p.c_str(), "fibre channel") == 0)
    return STMF_PROTOCOL_FIBRE_CHANNEL;
  if (strcasecmp(p.c_str(), "srp") == 0) return STMF_PROTOCOL_SRP;
  if (strcasecmp(p.c_str(), "sas") == 0) return STMF_PROTOCOL_SAS;
  return STMF_PROTOCOL_ISCSI;
}

int lu_by_guid(const char* op, stmfGuid* g) {
  return guarded([&] {
    if (!g) return STMF_ERROR_INVALID_ARG;
    return call(op, {{"guid", guid_to_string(*g)}});
  });
}

// stmfOnlineTarget / stmfOfflineTarget. Like illumos, a device id that can name no target
// (identLength 0, or a NUL inside) is NOT_FOUND, not INVALID_ARG. stmfOfflineTarget does not
// wait for the sessions to leave ("wait": false): the caller polls stmfGetTargetProperties.
int target_by_devid(const char* op, stmfDevid* d) {
  return guarded([&] {
    if (!d) return STMF_ERROR_INVALID_ARG;
    std::string name = devid_to_string(d);
    if (name.empty()) return STMF_ERROR_NOT_FOUND;
    json args = {{"name", name}};
    if (std::strcmp(op, "offline-target") == 0) args["wait"] = false;
    return call(op, args);
  });
}

}  // namespace

// =============================================================================================
// Logical units

extern "C" int stmfCreateLuResource(uint16_t dType, luResource* hdl) {
  return guarded([&] {
    if (!hdl || dType != STMF_DISK) return STMF_ERROR_INVALID_ARG;
    *hdl = new LuResourceImpl;
    return STMF_STATUS_SUCCESS;
  });
}

extern "C" int stmfFreeLuResource(luResource hdl) {
  LuResourceImpl* r = impl_of(hdl);
  if (!r) return STMF_ERROR_INVALID_ARG;
  r->magic = 0;
  delete r;
  return STMF_STATUS_SUCCESS;
}

extern "C" int stmfSetLuProp(luResource hdl, uint32_t propType, const char* propVal) {
  return guarded([&] {
    LuResourceImpl* r = impl_of(hdl);
    if (!r || !propVal) return STMF_ERROR_INVALID_ARG;
    return set_prop(r, propType, propVal);
  });
}

extern "C" int stmfGetLuProp(luResource hdl, uint32_t propType, char* prop, size_t* propLen) {
  return guarded([&] {
    LuResourceImpl* r = impl_of(hdl);
    if (!r || !prop || !propLen) return STMF_ERROR_INVALID_ARG;
    if (!known_get_prop(propType)) return STMF_ERROR_INVALID_PROP;
    auto it = r->props.find(propType);
    if (it == r->props.end()) return STMF_ERROR_NO_PROP;
    const std::string& v = it->second;
    if (v.size() + 1 > *propLen) {
      *propLen = v.size() + 1;
      return STMF_ERROR_INVALID_ARG;
    }
    std::memcpy(prop, v.c_str(), v.size() + 1);
    return STMF_STATUS_SUCCESS;
  });
}

extern "C" int stmfCreateLu(luResource hdl, stmfGuid* luGuid) {
  return guarded([&] {
    LuResourceImpl* r = impl_of(hdl);
    if (!r || r->type != STMF_DISK) return STMF_ERROR_INVALID_ARG;
    if (!r->props.count(STMF_LU_PROP_FILENAME)) return STMF_ERROR_MISSING_PROP_VAL;
    json resp;
    if (int ret = call("create-lu", {{"lu", lu_json(*r)}}, &resp); ret != STMF_STATUS_SUCCESS) return ret;
    return guid_result(resp, luGuid);
  });
}

extern "C" int stmfImportLu(uint16_t dType, char* fname, stmfGuid* luGuid) {
  return guarded([&] {
    if (dType != STMF_DISK || !fname || !*fname) return STMF_ERROR_INVALID_ARG;
    json resp;
    if (int ret = call("import-lu", {{"backing", absolute_path(fname)}}, &resp); ret != STMF_STATUS_SUCCESS)
      return ret;
    return guid_result(resp, luGuid);
  });
}

extern "C" int stmfDeleteLu(stmfGuid* luGuid) {
  return guarded([&] {
    if (!luGuid) return STMF_ERROR_INVALID_ARG;
    // As in COMSTAR, deleting an LU leaves its view entries in place (stmfadm removes them
    // itself unless -k); they take effect again when the GUID comes back.
    return call("delete-lu", {{"guid", guid_to_string(*luGuid)}, {"keep_views", true}});
  });
}

extern "C" int stmfModifyLu(stmfGuid* luGuid, uint32_t prop, const char* propVal) {
  return guarded([&] {
    if (!luGuid || !propVal) return STMF_ERROR_INVALID_ARG;
    json props;
    if (int ret = modify_props(prop, propVal, props); ret != STMF_STATUS_SUCCESS) return ret;
    return call("modify-lu", {{"guid", guid_to_string(*luGuid)}, {"props", props}});
  });
}

extern "C" int stmfModifyLuByFname(uint16_t dType, const char* fname, uint32_t prop, const char* propVal) {
  return guarded([&] {
    if (dType != STMF_DISK || !fname || !*fname || !propVal) return STMF_ERROR_INVALID_ARG;
    json props;
    if (int ret = modify_props(prop, propVal, props); ret != STMF_STATUS_SUCCESS) return ret;
    return call("modify-lu", {{"backing", absolute_path(fname)}, {"props", props}});
  });
}

extern "C" int stmfGetLuResource(stmfGuid* luGuid, luResource* hdl) {
  return guarded([&] {
    if (!luGuid || !hdl) return STMF_ERROR_INVALID_ARG;
    json resp;
    if (int ret = call("get-lu", {{"guid", guid_to_string(*luGuid)}}, &resp); ret != STMF_STATUS_SUCCESS)
      return ret;
    auto* r = new LuResourceImpl;
    try {
      fill_from_lu(*r, resp.at("lu"));
    } catch (...) {
      delete r;
      throw;
    }
    *hdl = r;
    return STMF_STATUS_SUCCESS;
  });
}

extern "C" int stmfGetLogicalUnitList(stmfGuidList** logicalUnitList) {
  return guarded([&] {
    if (!logicalUnitList) return STMF_ERROR_INVALID_ARG;
    json resp;
    if (int ret = call("list-lu", json::object(), &resp); ret != STMF_STATUS_SUCCESS) return ret;
    const json& lus = resp.at("lus");
    std::vector<stmfGuid> guids;
    for (const json& e : lus) {
      stmfGuid g{};
      std::string s = e.is_string() ? e.get<std::string>() : str_of(e, "guid");
      if (!guid_from_string(s, &g)) return STMF_STATUS_ERROR;
      guids.push_back(g);
    }
    auto* l = alloc_list<stmfGuidList, stmfGuid>(guids.size());
    if (!l) return STMF_ERROR_NOMEM;
    for (size_t i = 0; i < guids.size(); ++i) l->guid[i] = guids[i];
    *logicalUnitList = l;
    return STMF_STATUS_SUCCESS;
  });
}

extern "C" int stmfGetLogicalUnitProperties(stmfGuid* logicalUnit, stmfLogicalUnitProperties* props) {
  return guarded([&] {
    if (!logicalUnit || !props) return STMF_ERROR_INVALID_ARG;
    json resp;
    if (int ret = call("get-lu", {{"guid", guid_to_string(*logicalUnit)}}, &resp); ret != STMF_STATUS_SUCCESS)
      return ret;
    const json& lu = resp.at("lu");
    stmfLogicalUnitProperties p;
    std::memset(&p, 0, sizeof p);
    copy_cstr(p.alias, sizeof p.alias, str_of(lu, "name"));
    copy_padded(p.vendor, sizeof p.vendor, str_of(lu, "vendor"));
    copy_padded(p.product, sizeof p.product, str_of(lu, "product"));
    copy_padded(p.revision, sizeof p.revision, "0001");
    p.status = uint32_t(lu_status(str_of(lu, "state")));
    copy_cstr(p.providerName, sizeof p.providerName, "sbd");
    p.luid = *logicalUnit;
    *props = p;
    return STMF_STATUS_SUCCESS;
  });
}

extern "C" int stmfOnlineLogicalUnit(stmfGuid* logicalUnit) { return lu_by_guid("online-lu", logicalUnit); }
extern "C" int stmfOfflineLogicalUnit(stmfGuid* logicalUnit) { return lu_by_guid("offline-lu", logicalUnit); }

// =============================================================================================
// Host and target groups

extern "C" int stmfCreateHostGroup(stmfGroupName* g) { return group_by_name(kHostGroup.create, g); }
extern "C" int stmfDeleteHostGroup(stmfGroupName* g) { return group_by_name(kHostGroup.remove, g); }
extern "C" int stmfAddToHostGroup(stmfGroupName* g, stmfDevid* name) { return group_member(kHostGroup.add, g, name); }
extern "C" int stmfRemoveFromHostGroup(stmfGroupName* g, stmfDevid* name) {
  return group_member(kHostGroup.del_member, g, name);
}
extern "C" int stmfGetHostGroupList(stmfGroupList** l) { return group_list(kHostGroup.list, l); }
extern "C" int stmfGetHostGroupMembers(stmfGroupName* g, stmfGroupProperties** p) {
  return group_members(kHostGroup.members, g, p);
}

extern "C" int stmfCreateTargetGroup(stmfGroupName* g) { return group_by_name(kTargetGroup.create, g); }
extern "C" int stmfDeleteTargetGroup(stmfGroupName* g) { return group_by_name(kTargetGroup.remove, g); }
extern "C" int stmfAddToTargetGroup(stmfGroupName* g, stmfDevid* name) {
  return group_member(kTargetGroup.add, g, name);
}
extern "C" int stmfRemoveFromTargetGroup(stmfGroupName* g, stmfDevid* name) {
  return group_member(kTargetGroup.del_member, g, name);
}
extern "C" int stmfGetTargetGroupList(stmfGroupList** l) { return group_list(kTargetGroup.list, l); }
extern "C" int stmfGetTargetGroupMembers(stmfGroupName* g, stmfGroupProperties** p) {
  return group_members(kTargetGroup.members, g, p);
}

// =============================================================================================
// View entries

extern "C" int stmfAddViewEntry(stmfGuid* lu, stmfViewEntry* ve) {
  return guarded([&] {
    if (!lu || !ve) return STMF_ERROR_INVALID_ARG;
    ve->veIndexValid = B_FALSE;
    json args = {{"guid", guid_to_string(*lu)}};
    std::string hg, tg;
    if (ve->allHosts) {
      args["host_group"] = nullptr;
    } else {
      if (!group_name(&ve->hostGroup, hg)) return STMF_ERROR_INVALID_ARG;
      args["host_group"] = hg;
    }
    if (ve->allTargets) {
      args["target_group"] = nullptr;
    } else {
      if (!group_name(&ve->targetGroup, tg)) return STMF_ERROR_INVALID_ARG;
      args["target_group"] = tg;
    }
    if (ve->luNbrValid) {
      uint32_t lun;
      if (!lun_decode(ve->luNbr, &lun) || lun > 16383) return STMF_ERROR_INVALID_ARG;
      args["lun"] = lun;
    }
    json resp;
    if (int ret = call("add-view", args, &resp); ret != STMF_STATUS_SUCCESS) return ret;
    uint32_t index = resp.at("index").get<uint32_t>();
    uint32_t lun = resp.at("lun").get<uint32_t>();
    ve->veIndex = index;
    ve->veIndexValid = B_TRUE;
    lun_encode(lun, ve->luNbr);
    ve->luNbrValid = B_TRUE;
    return STMF_STATUS_SUCCESS;
  });
}

extern "C" int stmfRemoveViewEntry(stmfGuid* lu, uint32_t viewEntryIndex) {
  return guarded([&] {
    if (!lu) return STMF_ERROR_INVALID_ARG;
    return call("remove-view", {{"guid", guid_to_string(*lu)}, {"index", viewEntryIndex}});
  });
}

extern "C" int stmfGetViewEntryList(stmfGuid* lu, stmfViewEntryList** viewEntryList) {
  return guarded([&] {
    if (!lu || !viewEntryList) return STMF_ERROR_INVALID_ARG;
    json resp;
    if (int ret = call("list-view", {{"guid", guid_to_string(*lu)}}, &resp); ret != STMF_STATUS_SUCCESS)
      return ret;
    const json& views = resp.at("views");
    auto* l = alloc_list<stmfViewEntryList, stmfViewEntry>(views.size());
    if (!l) return STMF_ERROR_NOMEM;
    try {
      for (size_t i = 0; i < views.size(); ++i) {
        const json& v = views[i];
        stmfViewEntry& e = l->ve[i];
        e.veIndexValid = B_TRUE;
        e.veIndex = v.at("index").get<uint32_t>();
        std::string hg = str_of(v, "host_group"), tg = str_of(v, "target_group");
        e.allHosts = hg.empty() ? B_TRUE : B_FALSE;
        copy_cstr(e.hostGroup, sizeof e.hostGroup, hg);
        e.allTargets = tg.empty() ? B_TRUE : B_FALSE;
        copy_cstr(e.targetGroup, sizeof e.targetGroup, tg);
        e.luNbrValid = B_TRUE;
        lun_encode(v.at("lun").get<uint32_t>(), e.luNbr);
      }
    } catch (...) {
      std::free(l);
      throw;
    }
    *viewEntryList = l;
    return STMF_STATUS_SUCCESS;
  });
}

// =============================================================================================
// Targets and sessions

extern "C" int stmfGetTargetList(stmfDevidList** targetList) {
  return guarded([&] {
    if (!targetList) return STMF_ERROR_INVALID_ARG;
    json resp;
    if (int ret = call("list-target", json::object(), &resp); ret != STMF_STATUS_SUCCESS) return ret;
    const json& targets = resp.at("targets");
    std::vector<std::string> names;
    for (const json& t : targets) names.push_back(t.is_string() ? t.get<std::string>() : str_of(t, "name"));
    auto* l = alloc_list<stmfDevidList, stmfDevid>(names.size());
    if (!l) return STMF_ERROR_NOMEM;
    for (size_t i = 0; i < names.size(); ++i) devid_from_string(names[i], &l->devid[i]);
    *targetList = l;
    return STMF_STATUS_SUCCESS;
  });
}

extern "C" int stmfGetTargetProperties(stmfDevid* target, stmfTargetProperties* targetProps) {
  return guarded([&] {
    std::string name = devid_to_string(target);
    if (name.empty() || !targetProps) return STMF_ERROR_INVALID_ARG;
    json resp;
    if (int ret = call("get-target", {{"name", name}}, &resp); ret != STMF_STATUS_SUCCESS) return ret;
    const json& t = resp.at("target");
    stmfTargetProperties p;
    std::memset(&p, 0, sizeof p);
    std::string provider = str_of(t, "provider");
    copy_cstr(p.providerName, sizeof p.providerName, provider.empty() ? "iscsit" : provider);
    copy_cstr(p.alias, sizeof p.alias, str_of(t, "alias"));
    p.status = uint16_t(port_status(str_of(t, "state")));
    p.protocol = protocol_of(str_of(t, "protocol"));
    std::string tn = str_of(t, "name");
    devid_from_string(tn.empty() ? name : tn, &p.devid);
    *targetProps = p;
    return STMF_STATUS_SUCCESS;
  });
}

extern "C" int stmfOnlineTarget(stmfDevid* devid) { return target_by_devid("online-target", devid); }
extern "C" int stmfOfflineTarget(stmfDevid* devid) { return target_by_devid("offline-target", devid); }

extern "C" int stmfGetSessionList(stmfDevid* target, stmfSessionList** sessionList) {
  return guarded([&] {
    std::string name = devid_to_string(target);
    if (name.empty() || !sessionList) return STMF_ERROR_INVALID_ARG;
    json resp;
    if (int ret = call("list-sessions", {{"target", name}}, &resp); ret != STMF_STATUS_SUCCESS) return ret;
    const json& sessions = resp.at("sessions");
    auto* l = alloc_list<stmfSessionList, stmfSession>(sessions.size());
    if (!l) return STMF_ERROR_NOMEM;
    try {
      for (size_t i = 0; i < sessions.size(); ++i) {
        const json& s = sessions[i];
        stmfSession& e = l->session[i];
        devid_from_string(str_of(s, "initiator"), &e.initiator);
        copy_cstr(e.alias, sizeof e.alias, str_of(s, "alias"));
        auto it = s.find("creation_time");
        e.creationTime = (it != s.end() && it->is_number()) ? time_t(it->get<int64_t>()) : 0;
      }
    } catch (...) {
      std::free(l);
      throw;
    }
    *sessionList = l;
    return STMF_STATUS_SUCCESS;
  });
}

// =============================================================================================
// Service

extern "C" int stmfOnline(void) {
  return guarded([] { return call("online", json::object()); });
}

extern "C" int stmfOffline(void) {
  return guarded([] { return call("offline", json::object()); });
}

extern "C" int stmfGetState(stmfState* state) {
  return guarded([&] {
    if (!state) return STMF_ERROR_INVALID_ARG;
    json resp;
    if (int ret = call("get-state", json::object(), &resp); ret != STMF_STATUS_SUCCESS) return ret;
    state->operationalState = service_state(str_of(resp, "operational"));
    state->configState = config_state(str_of(resp, "config"));
    return STMF_STATUS_SUCCESS;
  });
}

// =============================================================================================
// ALUA pair (docs/alua.md). The door calls live in libstmf/proxy_door.cpp.

extern "C" int stmfSetAluaState(boolean_t alua_enabled, uint32_t node) {
  return guarded([&] {
    if (alua_enabled != B_TRUE && alua_enabled != B_FALSE) return STMF_ERROR_INVALID_ARG;
    if (!alua_enabled) return call("set-alua-state", json{{"enabled", false}});
    if (node > 1) return STMF_ERROR_INVALID_ARG;  // the daemon checks too; no round trip needed
    return call("set-alua-state", json{{"enabled", true}, {"node", node}});
  });
}

extern "C" int stmfGetAluaState(boolean_t* alua_enabled, uint32_t* node) {
  return guarded([&] {
    if (!alua_enabled || !node) return STMF_ERROR_INVALID_ARG;
    json resp;
    if (int ret = call("get-alua-state", json::object(), &resp); ret != STMF_STATUS_SUCCESS) return ret;
    *alua_enabled = resp.value("enabled", false) ? B_TRUE : B_FALSE;
    *node = resp.value("node", 0u);
    return STMF_STATUS_SUCCESS;
  });
}

// COMSTAR's aluaadm `standby GUID`: this node's copy of the LU goes standby, i.e. the LU is
// handed to the ALUA peer (a planned switchover, docs/alua.md). Already standby: success.
extern "C" int stmfLuStandby(stmfGuid* lu) {
  return guarded([&] {
    if (!lu) return STMF_ERROR_INVALID_ARG;
    const std::string g = guid_to_string(*lu);
    json resp;
    if (int ret = call("get-lu", {{"guid", g}}, &resp); ret != STMF_STATUS_SUCCESS) return ret;
    if (resp.contains("lu") && resp["lu"].value("access_state", std::string()) == "standby") return STMF_STATUS_SUCCESS;
    return call("switchover-lu", {{"guid", g}});
  });
}

// Extension: move the LU's ownership to the other node, run on either node.
extern "C" int stmfSwitchoverLu(stmfGuid* lu) {
  return guarded([&] {
    if (!lu) return STMF_ERROR_INVALID_ARG;
    return call("switchover-lu", {{"guid", guid_to_string(*lu)}});
  });
}

// =============================================================================================
// Device ids and memory (no daemon involved)

extern "C" int stmfDevidFromIscsiName(char* iscsiName, stmfDevid* devid) {
  if (!iscsiName || !devid) return STMF_ERROR_INVALID_ARG;
  std::memset(devid, 0, sizeof *devid);
  size_t len = std::strlen(iscsiName);
  // An iSCSI name is at most 223 bytes (RFC 3720) and starts with iqn., eui. or naa.
  if (len > 223 || len <= 4) return STMF_ERROR_INVALID_ARG;
  if (strncasecmp(iscsiName, "iqn.", 4) != 0 && strncasecmp(iscsiName, "eui.", 4) != 0 &&
      strncasecmp(iscsiName, "naa.", 4) != 0)
    return STMF_ERROR_INVALID_ARG;
  devid->identLength = uint8_t(len);
  std::memcpy(devid->ident, iscsiName, len);
  return STMF_STATUS_SUCCESS;
}

extern "C" int stmfDevidFromWwn(uchar_t wwn[8], stmfDevid* devid) {
  if (!wwn || !devid) return STMF_ERROR_INVALID_ARG;
  static const char hex[] = "0123456789ABCDEF";
  std::memset(devid, 0, sizeof *devid);
  std::string s = "wwn.";
  for (int i = 0; i < 8; ++i) {
    s += hex[wwn[i] >> 4];
    s += hex[wwn[i] & 0xf];
  }
  devid_from_string(s, devid);
  return STMF_STATUS_SUCCESS;
}

extern "C" void stmfFreeMemory(void* memory) { std::free(memory); }

// ---------------------------------------------------------------------------------------------
// Array sessions (docs/array-sessions.md): IRIX's convention, 0 or -1 with errno.

namespace {

// What a management status means as arsctl's errno.
int errno_of(int status) {
  static constexpr std::pair<int, int> kErrno[] = {
      {STMF_ERROR_INVALID_ARG, EINVAL}, {STMF_ERROR_PERM, EPERM},        {STMF_ERROR_NOT_FOUND, ESRCH},
      {STMF_ERROR_NOMEM, ENOMEM},       {STMF_ERROR_SERVICE_NOT_FOUND, ECONNREFUSED}, {STMF_ERROR_BUSY, EBUSY},
  };
  for (auto [s, e] : kErrno)
    if (s == status) return e;
  return EIO;
}

int fail_errno(int e) {
  errno = e;
  return -1;
}

// The argument each arsctl code takes.
enum class ArsArg { none, int_value, ash_value, bytes };
struct ArsctlCode {
  int func;
  const char* name;
  ArsArg arg;
  bool set;
};
constexpr ArsctlCode kArsctl[] = {
    {ARSCTL_NOP, "NOP", ArsArg::none, false},
    {ARSCTL_GETSAF, "GETSAF", ArsArg::int_value, false},
    {ARSCTL_SETSAF, "SETSAF", ArsArg::int_value, true},
    {ARSCTL_GETMACHID, "GETMACHID", ArsArg::int_value, false},
    {ARSCTL_SETMACHID, "SETMACHID", ArsArg::int_value, true},
    {ARSCTL_GETARRAYID, "GETARRAYID", ArsArg::int_value, false},
    {ARSCTL_SETARRAYID, "SETARRAYID", ArsArg::int_value, true},
    {ARSCTL_GETASHCTR, "GETASHCTR", ArsArg::ash_value, false},
    {ARSCTL_SETASHCTR, "SETASHCTR", ArsArg::ash_value, true},
    {ARSCTL_GETASHINCR, "GETASHINCR", ArsArg::ash_value, false},
    {ARSCTL_SETASHINCR, "SETASHINCR", ArsArg::ash_value, true},
    {ARSCTL_GETDFLTSPI, "GETDFLTSPI", ArsArg::bytes, false},
    {ARSCTL_SETDFLTSPI, "SETDFLTSPI", ArsArg::bytes, true},
    {ARSCTL_GETDFLTSPILEN, "GETDFLTSPILEN", ArsArg::int_value, false},
    {ARSCTL_SETDFLTSPILEN, "SETDFLTSPILEN", ArsArg::int_value, true},
    {ARSCTL_ALLOCASH, "ALLOCASH", ArsArg::ash_value, false},
};

std::string hex_of(const void* p, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t b = static_cast<const uint8_t*>(p)[i];
    s += kDigits[b >> 4];
    s += kDigits[b & 15];
  }
  return s;
}

// Hex from the daemon into `buf` (`len` bytes): truncated, or padded on the right with zeroes.
void copy_hex(const std::string& hex, void* buf, size_t len) {
  auto* out = static_cast<uint8_t*>(buf);
  std::memset(out, 0, len);
  for (size_t i = 0; i < len && 2 * i + 1 < hex.size(); ++i) out[i] = uint8_t(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
}

}  // namespace

extern "C" int stmfArsctl(int func, void* bufptr, int buflen) {
  const ArsctlCode* code = nullptr;
  for (auto& c : kArsctl)
    if (c.func == func) code = &c;
  if (!code) return fail_errno(EINVAL);
  if (code->arg != ArsArg::none && !bufptr && !(code->arg == ArsArg::bytes && code->set && buflen == 0))
    return fail_errno(EFAULT);
  // buflen: an int or an ash_t exactly; GET bytes at least one; SET bytes 0..MAX_SPI_LEN.
  switch (code->arg) {
    case ArsArg::none: break;
    case ArsArg::int_value:
      if (buflen != int(sizeof(int))) return fail_errno(EINVAL);
      break;
    case ArsArg::ash_value:
      if (buflen != int(sizeof(ash_t))) return fail_errno(EINVAL);
      break;
    case ArsArg::bytes:
      if (code->set ? (buflen < 0 || buflen > MAX_SPI_LEN) : buflen < 1) return fail_errno(EINVAL);
      break;
  }
  int rc = 0;
  const int status = guarded([&] {
    json args = {{"code", code->name}};
    if (code->set) {
      if (code->arg == ArsArg::int_value) args["value"] = *static_cast<const int*>(bufptr);
      if (code->arg == ArsArg::ash_value) args["value"] = *static_cast<const ash_t*>(bufptr);
      if (code->arg == ArsArg::bytes) args["value"] = hex_of(bufptr, size_t(buflen));
    }
    json out;
    if (int s = call("arsctl", args, &out)) return s;
    if (code->set || code->arg == ArsArg::none) return STMF_STATUS_SUCCESS;
    const json& v = out.at("value");
    if (code->arg == ArsArg::int_value) *static_cast<int*>(bufptr) = v.get<int>();
    if (code->arg == ArsArg::ash_value) *static_cast<ash_t*>(bufptr) = v.get<ash_t>();
    if (code->arg == ArsArg::bytes) copy_hex(v.get<std::string>(), bufptr, size_t(buflen));
    return int(STMF_STATUS_SUCCESS);
  });
  if (status != STMF_STATUS_SUCCESS) rc = fail_errno(errno_of(status));
  return rc;
}

extern "C" int stmfArsop(int func, ash_t ash, void* buf, int len) {
  static constexpr std::pair<int, const char*> kCodes[] = {
      {ARSOP_GETSPI, "GETSPI"}, {ARSOP_SETSPI, "SETSPI"}, {ARSOP_FLUSHACCT, "FLUSHACCT"}, {ARSOP_GETINFO, "GETINFO"}};
  const char* name = nullptr;
  for (auto [f, n] : kCodes)
    if (f == func) name = n;
  if (!name) return fail_errno(EINVAL);
  if (func == ARSOP_GETSPI && (!buf || len < 1)) return buf ? fail_errno(EINVAL) : fail_errno(EFAULT);
  if (func == ARSOP_GETINFO && (!buf || len != int(sizeof(stmfArsInfo)))) return buf ? fail_errno(EINVAL) : fail_errno(EFAULT);
  if (func == ARSOP_SETSPI && buf && (len < 0 || len > MAX_SPI_LEN)) return fail_errno(EINVAL);
  const int status = guarded([&] {
    json args = {{"code", name}, {"ash", ash}};
    if (func == ARSOP_SETSPI) args["spi"] = buf ? json(hex_of(buf, size_t(len))) : json(nullptr);
    json out;
    if (int s = call("arsop", args, &out)) return s;
    if (func == ARSOP_GETSPI) copy_hex(out.at("info").at("spi").get<std::string>(), buf, size_t(len));
    if (func == ARSOP_GETINFO) {
      const json& i = out.at("info");
      auto* info = static_cast<stmfArsInfo*>(buf);
      std::memset(info, 0, sizeof *info);
      info->ash = i.at("ash").get<ash_t>();
      copy_cstr(info->initiator, sizeof info->initiator, i.at("initiator").get<std::string>());
      copy_cstr(info->target, sizeof info->target, i.at("target").get<std::string>());
      info->startTime = time_t(i.at("start_time").get<int64_t>());
      info->spiLen = i.at("spilen").get<int>();
      info->spiSet = i.at("spi_set").get<bool>() ? B_TRUE : B_FALSE;
      info->proxied = i.at("proxied").get<bool>() ? B_TRUE : B_FALSE;
      copy_hex(i.at("spi").get<std::string>(), info->spi, sizeof info->spi);
    }
    return int(STMF_STATUS_SUCCESS);
  });
  return status == STMF_STATUS_SUCCESS ? 0 : fail_errno(errno_of(status));
}
