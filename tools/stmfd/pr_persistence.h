// APTPL persistence of persistent reservations in the state database (pr_state table), and
// the JSON form of an LU's reservation state (also what `stmfadm list-pr` shows).
#pragma once
#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "core/logical_unit.h"
#include "core/reservations.h"
#include "mgmt/state_db.h"

namespace stmfd {

nlohmann::json pr_state_to_json(const stmf::pr::PrState& s);
// nullopt when the document is not a valid state (the daemon then refuses to start).
std::optional<stmf::pr::PrState> pr_state_from_json(const nlohmann::json& j, std::string& why);

// A planned switchover's LU state (core/logical_unit.h HandoverState), as the final PR_STATE
// carries it: {"unit_attentions": [{"nexus": KEY, "conditions": [[key, asc, ascq], ...]}],
// "mode_pages": HEX}.
nlohmann::json handover_to_json(const stmf::HandoverState& s);
std::optional<stmf::HandoverState> handover_from_json(const nlohmann::json& j, std::string& why);

class DbPrPersistence final : public stmf::PrPersistence {
 public:
  explicit DbPrPersistence(stmf::mgmt::StateDb& db) : db_(db) {}
  bool store(const std::string& guid, const std::optional<stmf::pr::PrState>& state, std::string& why) override;

 private:
  stmf::mgmt::StateDb& db_;
};

}  // namespace stmfd
