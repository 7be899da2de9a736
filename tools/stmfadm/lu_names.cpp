// LU operands by name: wherever stmfadm takes an LU's GUID it also takes the LU's name (its
// alias, `create-lu --name` / `-p alias=`), as itadm/targetcli users expect (docs/stmfadm.md,
// "LU names"). A name is resolved on the client: list-lu, then get-lu of each LU.
#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "core/guid.h"
#include "tools/stmfadm/stmfadm.h"

namespace stmfadm {

// More hex digits than this and nothing else: a mistyped GUID, not a name.
constexpr size_t kMaxHexOnlyName = 16;

static bool looks_like_guid(const std::string& s) { return stmf::parse_guid(s).has_value(); }

static bool near_guid(const std::string& s) {
  return s.size() > kMaxHexOnlyName &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c); });
}

void check_new_lu_name(const std::string& name) {
  if (near_guid(name))
    throw UsageError("LU name '" + name + "' is " + std::to_string(name.size()) +
                     " hexadecimal digits, which reads as a GUID: choose a name with another character in it");
}

// The GUIDs of the LUs named `name` (each LU's "name" compared exactly).
static std::vector<std::string> lus_named(Ctx& ctx, const std::string& name) {
  std::vector<std::string> found;
  for (auto& g : ctx.call("list-lu").value("lus", json::array())) {
    json lu = ctx.call("get-lu", {{"guid", g}}).value("lu", json::object());
    if (lu.value("name", std::string()) == name) found.push_back(g.get<std::string>());
  }
  return found;
}

std::string lu_arg(Ctx& ctx, const std::string& operand) {
  if (looks_like_guid(operand)) return guid_arg(operand);
  if (near_guid(operand))
    throw UsageError(operand + ": malformed GUID (" + std::to_string(operand.size()) +
                     " hexadecimal digits; a GUID has 32)");
  if (operand.empty()) throw UsageError("empty LU name");
  auto found = lus_named(ctx, operand);
  if (found.empty())
    throw OpError(Status{STMF_ERROR_NOT_FOUND,
                         "no LU is named '" + operand + "' (an LU is given by its name or its GUID, 32 hexadecimal digits)"});
  if (found.size() > 1) {
    std::string list;
    for (auto& g : found) list += (list.empty() ? "" : ", ") + g;
    throw UsageError("LU name '" + operand + "' is ambiguous: " + std::to_string(found.size()) +
                     " LUs have it (" + list + "); give the GUID");
  }
  return found.front();
}

void check_lu_name_free(Ctx& ctx, const std::string& name) {
  auto found = lus_named(ctx, name);
  if (!found.empty())
    throw OpError(Status{STMF_ERROR_EXISTS, "an LU is already named '" + name + "' (" + found.front() + ")"});
}

}  // namespace stmfadm
