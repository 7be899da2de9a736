#include "tools/stmfd/pr_persistence.h"

#include <cstdio>

namespace stmfd {

using nlohmann::json;

namespace {
std::string key_hex(uint64_t k) {
  char b[19];
  std::snprintf(b, sizeof b, "0x%016llx", (unsigned long long)k);
  return b;
}
}  // namespace

json pr_state_to_json(const stmf::pr::PrState& s) {
  json j = {{"generation", s.generation}, {"aptpl", s.aptpl}, {"registrations", json::array()}};
  for (auto& r : s.registrations)
    j["registrations"].push_back({{"initiator", r.initiator_name},
                                  {"isid", r.isid},
                                  {"target_port", r.target_port},
                                  {"rtpi", r.rtpi},
                                  {"all_tg_pt", r.all_tg_pt},
                                  {"key", key_hex(r.key)}});
  if (s.reservation)
    j["reservation"] = {{"holder", s.reservation->holder}, {"type", s.reservation->type}, {"scope", s.reservation->scope}};
  else
    j["reservation"] = nullptr;
  return j;
}

std::optional<stmf::pr::PrState> pr_state_from_json(const json& j, std::string& why) {
  try {
    stmf::pr::PrState s;
    s.generation = j.at("generation").get<uint32_t>();
    s.aptpl = j.at("aptpl").get<bool>();
    for (auto& r : j.at("registrations")) {
      stmf::pr::Registration g;
      g.initiator_name = r.at("initiator").get<std::string>();
      g.isid = r.at("isid").get<std::string>();
      g.target_port = r.at("target_port").get<std::string>();
      g.rtpi = r.at("rtpi").get<uint16_t>();
      g.all_tg_pt = r.at("all_tg_pt").get<bool>();
      g.key = std::stoull(r.at("key").get<std::string>(), nullptr, 16);
      s.registrations.push_back(std::move(g));
    }
    if (!j.at("reservation").is_null()) {
      auto& v = j.at("reservation");
      stmf::pr::Reservation res{v.at("holder").get<size_t>(), v.at("type").get<uint8_t>(), v.at("scope").get<uint8_t>()};
      if (!stmf::pr::is_valid_type(res.type) || res.scope != 0 ||
          (!stmf::pr::is_all_registrants(res.type) && res.holder >= s.registrations.size())) {
        why = "reservation does not name a valid holder and type";
        return std::nullopt;
      }
      s.reservation = res;
    }
    return s;
  } catch (const std::exception& e) {
    why = e.what();
    return std::nullopt;
  }
}

json handover_to_json(const stmf::HandoverState& s) {
  json uas = json::array();
  for (auto& [nexus, q] : s.unit_attentions) {
    json c = json::array();
    for (auto& sc : q) c.push_back({int(sc.key), sc.asc, sc.ascq});
    uas.push_back({{"nexus", nexus}, {"conditions", std::move(c)}});
  }
  std::string hex;
  for (uint8_t b : s.mode_pages) {
    char x[3];
    std::snprintf(x, sizeof x, "%02x", b);
    hex += x;
  }
  return {{"unit_attentions", std::move(uas)}, {"mode_pages", hex}};
}

std::optional<stmf::HandoverState> handover_from_json(const json& j, std::string& why) {
  try {
    stmf::HandoverState s;
    for (auto& u : j.at("unit_attentions")) {
      auto& q = s.unit_attentions[u.at("nexus").get<std::string>()];
      for (auto& c : u.at("conditions")) {
        const int key = c.at(0).get<int>();
        if (key < 0 || key > 0x0f) {
          why = "unit attention with sense key " + std::to_string(key);
          return std::nullopt;
        }
        q.push_back(stmf::scsi::sense::make(stmf::scsi::SenseKey(key), c.at(1).get<uint8_t>(), c.at(2).get<uint8_t>()));
      }
    }
    const auto hex = j.at("mode_pages").get<std::string>();
    if (hex.size() % 2 || hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
      why = "mode_pages: not a string of hex byte pairs";
      return std::nullopt;
    }
    for (size_t i = 0; i < hex.size(); i += 2) s.mode_pages.push_back(uint8_t(std::stoul(hex.substr(i, 2), nullptr, 16)));
    return s;
  } catch (const std::exception& e) {
    why = e.what();
    return std::nullopt;
  }
}

bool DbPrPersistence::store(const std::string& guid, const std::optional<stmf::pr::PrState>& state, std::string& why) {
  return state ? db_.save_pr(guid, pr_state_to_json(*state).dump(), why) : db_.erase_pr(guid, why);
}

}  // namespace stmfd
