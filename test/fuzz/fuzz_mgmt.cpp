// The management plane's input parsers: requests as stmfd's management socket takes them (one
// JSON object per line, run through the pure operations of mgmt/ops.h against one model), and
// configuration files (mgmt/config.h).
//
// Each request line first goes through admit_request() (mgmt/ops.h), the socket's admission
// step, with small bounds (nesting 16, line 16 KiB) so that both refusals are reached.
//
// Invariants: no exception leaves an operation or the parsers (stmfd does not catch them: one
// would end the daemon); a refused operation leaves the model untouched; a configuration that
// parses and validates survives to_json -> parse -> to_json unchanged; an admitted request is an
// object nested no deeper than the bound (checked on the parsed value, independently of the
// scan), a request refused as too deep is deeper than the bound, and a line over the line bound
// is admitted only as an import.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mgmt/config.h"
#include "mgmt/json_limits.h"
#include "mgmt/ops.h"

using namespace stmf::mgmt;

namespace {

// The model the requests start from: one LU, one target, one host group.
const Config& base() {
  static const Config c = [] {
    ConfigError err;
    auto parsed = parse_config(R"({"portals": ["127.0.0.1:3260"],
                                   "lus": [{"name": "a", "store": "ram", "size": "1M"}],
                                   "targets": [{"iqn": "iqn.2026-11.org.example:t"}],
                                   "host_groups": [{"name": "hg", "members": ["iqn.2026-11.org.example:i"]}]})",
                               err);
    if (!parsed) {
      std::fprintf(stderr, "fuzz_mgmt: the base configuration does not parse: %s\n", err.message().c_str());
      std::abort();
    }
    return *parsed;
  }();
  return c;
}

// The admission bounds the requests meet here.
const ManagementConfig& limits() {
  static const ManagementConfig m = [] {
    ManagementConfig l;
    l.max_json_depth = 16;
    l.max_line_bytes = 16384;
    return l;
  }();
  return m;
}

// Nesting of a parsed value (1 for an empty array or object), giving up above `limit`: never
// recurses deeper than limit + 1.
size_t depth_of(const json& j, size_t limit) {
  if (!j.is_structured()) return 0;
  if (limit == 0) return 1;
  size_t deepest = 0;
  for (auto& v : j) deepest = std::max(deepest, depth_of(v, limit - 1));
  return deepest + 1;
}

void config_file(std::string_view text) {
  ConfigError err;
  auto c = parse_config(std::string(text), err);
  if (!c) return;
  if (!validate(*c, err)) return;
  const json once = to_json(*c);
  auto again = parse_config_json(once, err);
  if (!again) std::abort();  // what we wrote must read back
  if (to_json(*again) != once) std::abort();
}

void requests(std::string_view text) {
  Config c = base();
  int guids = 0;
  OpContext ctx;
  ctx.new_guid = [&] { return derive_guid(0x00144f, "fuzz" + std::to_string(guids++)); };
  ctx.new_target_iqn = [] { return std::string("iqn.2026-11.org.stmf:fuzz"); };
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    AdmittedRequest admitted = admit_request(line, limits());
    const size_t bound = limits().max_json_depth;
    if (!admitted.status.ok()) {
      if (!admitted.request.is_discarded()) std::abort();  // a refusal carries no request
      if (admitted.too_deep && json_nesting_depth(line, bound) <= bound) std::abort();
      continue;
    }
    const json req = std::move(admitted.request);
    if (!req.is_object()) std::abort();
    if (depth_of(req, bound) > bound) std::abort();  // the scan under-counted
    if (line.size() > limits().max_line_bytes && req.value("op", json()) != "import") std::abort();
    auto op = req.find("op");
    if (op == req.end() || !op->is_string()) continue;
    const OpInfo* info = find_op(op->get<std::string>());
    if (!info) continue;
    const Config before = c;
    json result = json::object();
    const Status s = info->fn(c, req, result, ctx);
    if (!s.ok() && !(c == before)) std::abort();  // a refused op changed the model
    (void)to_json(c);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  config_file(text);
  requests(text);
  return 0;
}
