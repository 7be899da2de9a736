// Management operations as pure functions on the configuration model: each checks its
// arguments against the current configuration and either returns an error (the config is
// untouched) or applies the change and fills `result`. No I/O: the daemon persists the new
// configuration and reconciles the running objects to it (tools/stmfd/runtime.h).
// One table, keyed by the protocol's op name (docs/management.md).
#pragma once
#include <functional>
#include <string>
#include <string_view>

#include "mgmt/config.h"
#include "mgmt/protocol.h"

namespace stmf::mgmt {

// What an operation may need from outside the model (injected, so tests are deterministic).
struct OpContext {
  std::function<std::string()> new_guid;        // a fresh NAA 6 GUID (32 uppercase hex)
  std::function<std::string()> new_target_iqn;  // a fresh target IQN
};

struct OpInfo {
  std::string_view name;
  bool changes;  // needs privilege, and is persisted when it succeeds
  Status (*fn)(Config& c, const json& args, json& result, const OpContext& ctx);
};

// nullptr when the op is not a pure configuration op (the daemon may still know it).
const OpInfo* find_op(std::string_view name);

// The view entries of `c` an LU GUID has, and the LUN an unspecified add-view would pick.
size_t view_count(const Config& c, const std::string& guid);

// One complete request line as the management socket admits it (docs/management.md "Limits"):
// refused when nested deeper than limits.max_json_depth (measured before anything is parsed),
// when not a JSON object, or when longer than limits.max_line_bytes and not an "import" (how
// much a connection may buffer before the line is complete is the server's business). On
// refusal `status` says why (STMF_ERROR_INVALID_ARG) and `request` is discarded.
struct AdmittedRequest {
  json request;
  Status status;
  bool too_deep = false;  // refused for its nesting
};
AdmittedRequest admit_request(std::string_view line, const ManagementConfig& limits);

// Lines describing what turns `from` into `to` ("+ lu <guid>", "- hg a", "~ target <iqn>: alias").
std::vector<std::string> diff(const Config& from, const Config& to);

}  // namespace stmf::mgmt
