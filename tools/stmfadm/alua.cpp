// The ALUA pair (docs/alua.md): set-alua-state, list-alua-state, switchover-lu.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "tools/stmfadm/stmfadm.h"

namespace stmfadm {
namespace {

void line(const std::string& name, const std::string& value) {
  std::printf("%-18s: %s\n", name.c_str(), value.c_str());
}

// A number of the status as text ("-" when absent or not a number).
std::string number(const json& st, const char* key) {
  if (!st.contains(key) || !st[key].is_number()) return "-";
  return st[key].dump();
}

}  // namespace

void print_alua_state_lines(const json& st) {
  line("ALUA Status", st.value("enabled", false) ? "enabled" : "disabled");
  line("ALUA Node", std::to_string(st.value("node", 0u)));
}

void add_alua_commands(CLI::App& app, Registry& r, Ctx& ctx) {
  // set-alua-state enable --node N | disable
  {
    struct O {
      std::string state;
      uint32_t node = 0;
      CLI::Option* node_opt = nullptr;
    };
    auto o = std::make_shared<O>();
    auto* c = r.add(app, "set-alua-state",
                    "Enable ALUA on this node of the pair (again: re-initialize the pair), or disable it");
    c->add_option("state", o->state, "enable or disable")->required()->check(CLI::IsMember({"enable", "disable"}));
    o->node_opt = c->add_option("--node", o->node,
                                "This node's number in the pair, 0 or 1 (different on the two nodes); "
                                "required with enable");
    r.on(c, [o, &ctx] {
      json args;
      if (o->state == "enable") {
        if (!o->node_opt->count()) throw UsageError("set-alua-state enable needs --node 0 or --node 1");
        args = {{"enabled", true}, {"node", o->node}};
      } else {
        if (o->node_opt->count()) throw UsageError("--node is only for set-alua-state enable");
        args = {{"enabled", false}};
      }
      json res = ctx.call("set-alua-state", args);
      if (ctx.json_output) ctx.print_json(res);
    });
  }

  // switchover-lu GUID: the LU's ownership moves to the other node (planned switchover)
  {
    struct O {
      std::string guid;
      bool all = false;
    };
    auto o = std::make_shared<O>();
    auto* c = r.add(app, "switchover-lu",
                    "Move an LU's ownership to the other node of the pair (run on either node): the owner "
                    "drains and flushes it and the peer takes it with its reservations");
    c->add_option("lu", o->guid, "the LU's GUID or name");
    c->add_flag("-a,--all", o->all, "every LU active on this node goes to the peer");
    r.on(c, [o, &ctx] {
      if (o->all == !o->guid.empty()) throw UsageError("switchover-lu needs a GUID or --all (not both)");
      std::vector<std::string> guids;
      if (o->all) {
        json l = ctx.call("list-lu");
        for (auto& g : l.value("lus", json::array())) {
          json lu = ctx.call("get-lu", {{"guid", g}});
          if (lu["lu"].value("access_state", std::string()) == "active") guids.push_back(g.get<std::string>());
        }
      } else {
        guids.push_back(lu_arg(ctx, o->guid));
      }
      for (auto& g : guids) {
        json res = ctx.call("switchover-lu", {{"guid", g}});
        if (ctx.json_output) ctx.print_json(res);
        else std::printf("Switched over: %s\n", g.c_str());
      }
    });
  }

  // list-alua-state
  {
    auto* c = r.add(app, "list-alua-state", "Show the ALUA state of this node and its link to the peer");
    r.on(c, [&ctx] {
      json st = ctx.call("get-alua-state");
      if (ctx.json_output) {
        ctx.print_json(st);
        return;
      }
      print_alua_state_lines(st);
      if (st.contains("carrier") && st["carrier"].is_string()) line("Carrier", st["carrier"].get<std::string>());
      if (st.contains("link") && st["link"].is_string()) line("Link", st["link"].get<std::string>());
      if (st.contains("door_installed") && st["door_installed"].is_boolean())
        line("Door Installed", st["door_installed"].get<bool>() ? "yes" : "no");
      if (st.contains("target_port_group")) line("Target Port Group", number(st, "target_port_group"));
      if (st.contains("peer_target_port_group"))
        line("Peer Port Group", st["peer_target_port_group"].is_number() ? number(st, "peer_target_port_group") : "-");
      if (st.contains("standby_lus")) line("Standby LUs", number(st, "standby_lus"));
      if (st.contains("forwarded_tasks")) line("Forwarded Tasks", number(st, "forwarded_tasks"));
      if (st.contains("served_tasks")) line("Served Tasks", number(st, "served_tasks"));
      if (st.contains("fenced_tasks")) line("Fenced Tasks", number(st, "fenced_tasks"));
      if (st.contains("pending_tasks")) line("Pending Tasks", number(st, "pending_tasks"));
      if (st.contains("last_link_error") && st["last_link_error"].is_string())
        line("Last Link Error", st["last_link_error"].get<std::string>());
    });
  }
}

}  // namespace stmfadm
