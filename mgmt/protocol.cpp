#include "mgmt/protocol.h"

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <utility>

namespace stmf::mgmt {

namespace {
#define STMF_NAME(x) std::pair<int, std::string_view>{x, #x}
constexpr std::array kNames = {
    STMF_NAME(STMF_STATUS_SUCCESS),        STMF_NAME(STMF_STATUS_ERROR),
    STMF_NAME(STMF_ERROR_BUSY),
    STMF_NAME(STMF_ERROR_NOT_FOUND),       STMF_NAME(STMF_ERROR_MEMBER_NOT_FOUND),
    STMF_NAME(STMF_ERROR_GROUP_NOT_FOUND), STMF_NAME(STMF_ERROR_PERM),
    STMF_NAME(STMF_ERROR_NOMEM),           STMF_NAME(STMF_ERROR_INVALID_ARG),
    STMF_NAME(STMF_ERROR_EXISTS),          STMF_NAME(STMF_ERROR_SERVICE_NOT_FOUND),
    STMF_NAME(STMF_ERROR_SERVICE_ONLINE),  STMF_NAME(STMF_ERROR_SERVICE_OFFLINE),
    STMF_NAME(STMF_ERROR_GROUP_IN_USE),    STMF_NAME(STMF_ERROR_LUN_IN_USE),
    STMF_NAME(STMF_ERROR_VE_CONFLICT),     STMF_NAME(STMF_ERROR_CONFIG_NONE),
    STMF_NAME(STMF_ERROR_SERVICE_DATA_VERSION), STMF_NAME(STMF_ERROR_INVALID_HG),
    STMF_NAME(STMF_ERROR_INVALID_TG),      STMF_NAME(STMF_ERROR_PROV_DATA_STALE),
    STMF_NAME(STMF_ERROR_NO_PROP),         STMF_NAME(STMF_ERROR_NO_PROP_VAL),
    STMF_NAME(STMF_ERROR_MISSING_PROP_VAL), STMF_NAME(STMF_ERROR_INVALID_BLOCKSIZE),
    STMF_NAME(STMF_ERROR_FILE_ALREADY),    STMF_NAME(STMF_ERROR_INVALID_PROPSIZE),
    STMF_NAME(STMF_ERROR_INVALID_PROP),    STMF_NAME(STMF_ERROR_PERSIST_TYPE),
    STMF_NAME(STMF_ERROR_TG_ONLINE),       STMF_NAME(STMF_ERROR_ACCESS_STATE_SET),
    STMF_NAME(STMF_ERROR_NO_PROP_STANDBY), STMF_NAME(STMF_ERROR_POST_MSG_FAILED),
    STMF_NAME(STMF_ERROR_DOOR_INSTALLED),  STMF_NAME(STMF_ERROR_FILE_IN_USE),
    STMF_NAME(STMF_ERROR_INVALID_BLKSIZE), STMF_NAME(STMF_ERROR_GUID_IN_USE),
    STMF_NAME(STMF_ERROR_META_FILE_NAME),  STMF_NAME(STMF_ERROR_DATA_FILE_NAME),
    STMF_NAME(STMF_ERROR_SIZE_OUT_OF_RANGE), STMF_NAME(STMF_ERROR_LU_BUSY),
    STMF_NAME(STMF_ERROR_META_CREATION),   STMF_NAME(STMF_ERROR_FILE_SIZE_INVALID),
    STMF_NAME(STMF_ERROR_WRITE_CACHE_SET), STMF_NAME(STMF_ERROR_INVALID_PBLKSIZE),
};
#undef STMF_NAME
}  // namespace

std::string_view status_name(int code) {
  for (auto& [c, n] : kNames)
    if (c == code) return n;
  return {};
}

int status_from_name(std::string_view name) {
  for (auto& [c, n] : kNames)
    if (n == name) return c;
  return 0;
}

json make_response(const Status& s) {
  json r = {{"v", kProtocolVersion}, {"status", s.code}};
  if (!s.ok()) {
    r["error"] = std::string(status_name(s.code));
    r["message"] = s.message;
  }
  return r;
}

Status response_status(const json& r) {
  if (!r.is_object() || !r.contains("status") || !r["status"].is_number_integer())
    return error(STMF_STATUS_ERROR, "malformed response from stmfd");
  Status s{r["status"].get<int>(), {}};
  if (!s.ok()) s.message = r.value("message", std::string(status_name(s.code)));
  return s;
}

std::string default_socket_path(bool for_daemon) {
  if (!for_daemon) {
    if (const char* e = std::getenv("STMFD_SOCKET"); e && *e) return e;
  }
  const std::string sys = "/run/stmfd/stmfd.sock";
  struct stat st {};
  if (for_daemon ? geteuid() == 0 : ::stat(sys.c_str(), &st) == 0) return sys;
  return "/tmp/stmfd-" + std::to_string(geteuid()) + ".sock";
}

}  // namespace stmf::mgmt
