// Which CHAP credentials a login must prove (transport/settings.h resolve_chap).
#include <algorithm>
#include <cctype>

#include "transport/settings.h"

namespace stmf::transport {

std::optional<iscsi::ChapSecret> resolve_chap(const AuthSettings& auth, const TargetSettings* target,
                                              std::string_view initiator) {
  std::string name(initiator);
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  const auto own = auth.initiators.find(name);
  iscsi::ChapSecret s;
  if (!target) {  // discovery: per-initiator secrets only, no target identity (no mutual CHAP)
    if (auth.discovery_auth != kAuthChap) return std::nullopt;
    if (own != auth.initiators.end()) s.user = own->second.user, s.secret = own->second.secret;
    return s;
  }
  std::string_view method = target->auth;
  if (method == kAuthDefault)  // a target-wide secret means CHAP (as before per-initiator secrets)
    method = target->chap && !target->chap->secret.empty() ? kAuthChap : std::string_view(auth.default_auth);
  if (method != kAuthChap) return std::nullopt;
  if (own != auth.initiators.end()) {
    s.user = own->second.user;
    s.secret = own->second.secret;
  } else if (target->chap && !target->chap->secret.empty()) {
    s.user = target->chap->user;
    s.secret = target->chap->secret;
  }
  if (target->chap) {
    s.mutual_user = target->chap->mutual_user.empty() ? target->iqn : target->chap->mutual_user;
    s.mutual_secret = target->chap->mutual_secret;
  }
  return s;
}

}  // namespace stmf::transport
