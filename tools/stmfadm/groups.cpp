// Host groups and target groups: create-hg/-tg, delete-hg/-tg, add-/remove-hg-member,
// add-/remove-tg-member, list-hg, list-tg.
#include <CLI/CLI.hpp>

#include <iostream>

#include "tools/stmfadm/stmfadm.h"

namespace stmfadm {

void add_group_commands(CLI::App& app, Registry& r, Ctx& ctx) {
  struct Kind {
    const char* abbrev;  // "hg" / "tg"
    const char* title;   // "Host Group" / "Target Group"
    const char* noun;    // "host group" / "target group"
    const char* members; // "initiator" / "target"
  };
  static const Kind kinds[] = {{"hg", "Host Group", "host group", "initiator port"},
                               {"tg", "Target Group", "target group", "target port"}};
  for (const Kind& k : kinds) {
    const std::string a = k.abbrev;

    for (const char* verb : {"create", "delete"}) {
      auto name = std::make_shared<std::string>();
      std::string op = std::string(verb) + "-" + a;
      auto* c = r.add(app, op, std::string(verb[0] == 'c' ? "Create a " : "Delete a ") + k.noun);
      c->add_option("group-name", *name, std::string("Name of the ") + k.noun)->required();
      r.on(c, [name, op, &ctx] {
        json res = ctx.call(op, {{"name", *name}});
        if (ctx.json_output) ctx.print_json(res);
      });
    }

    for (const char* verb : {"add", "remove"}) {
      struct O {
        std::string group;
        std::vector<std::string> members;
      };
      auto o = std::make_shared<O>();
      std::string op = std::string(verb) + "-" + a + "-member";
      auto* c = r.add(app, op,
                      std::string(verb[0] == 'a' ? "Add members to a " : "Remove members from a ") + k.noun);
      c->add_option("-g,--group-name", o->group, std::string("The ") + k.noun)->required();
      c->add_option("member", o->members,
                    std::string(k.members) + " names: iqn.…, eui.<16 hex>, naa.<16|32 hex>, wwn.<16 hex>")
          ->required();
      r.on(c, [o, op, &ctx] {
        for (auto& m : o->members)
          if (auto res = ctx.try_call(op, {{"group", o->group}, {"member", m}}); res && ctx.json_output)
            ctx.print_json(*res);
      });
    }

    {
      struct O {
        std::vector<std::string> names;
        bool verbose = false;
      };
      auto o = std::make_shared<O>();
      std::string op = "list-" + a;
      auto* c = r.add(app, op, std::string("List ") + k.noun + "s");
      c->add_flag("-v,--verbose", o->verbose, "Show the members");
      c->add_option("group-name", o->names, "Names; default: all");
      const Kind* kp = &k;
      r.on(c, [o, op, kp, &ctx] {
        json groups = ctx.call(op).value("groups", json::array());
        json selected = json::array();
        if (o->names.empty()) {
          selected = groups;
        } else {
          for (auto& n : o->names) {
            bool found = false;
            for (auto& g : groups)
              if (g.value("name", std::string()) == n) selected.push_back(g), found = true;
            if (!found)
              ctx.fail(Status{STMF_ERROR_GROUP_NOT_FOUND, std::string(kp->noun) + " " + n + " not found"});
          }
        }
        if (ctx.json_output) {
          ctx.print_json({{"groups", selected}});
          return;
        }
        for (auto& g : selected) {
          std::cout << kp->title << ": " << g.value("name", std::string()) << "\n";
          if (o->verbose)
            for (auto& m : g.value("members", json::array())) std::cout << "        Member: " << m.get<std::string>() << "\n";
        }
      });
    }
  }
}

}  // namespace stmfadm
