// iSCSI targets and portals: list-target, online-target, offline-target, create-target,
// modify-target, delete-target, create-portal, delete-portal, list-portal.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>

#include "tools/stmfadm/stmfadm.h"

namespace stmfadm {
namespace {

void field(const std::string& name, const std::string& value) {
  std::printf("    %-18s: %s\n", name.c_str(), value.c_str());
}

std::string capitalized(std::string s) {
  if (!s.empty()) s[0] = char(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

// itadm's -a is --auth-method; its values, refused by stmfadm's -a (the alias) with a hint.
constexpr const char* kItadmAuthMethods[] = {"none", "chap", "radius", "default"};

// Options shared by create-target and modify-target.
struct TargetOpts {
  std::string name, alias, short_alias, chap_user, chap_secret_file, mutual_user, mutual_secret_file, auth;
  int tpgt = 1;
  std::vector<std::string> initiators;
  bool no_chap = false, any_initiator = false;
  CLI::Option *alias_opt = nullptr, *short_alias_opt = nullptr, *tpgt_opt = nullptr;

  void add_common(CLI::App* c) {
    alias_opt = c->add_option("--alias", alias, "TargetAlias sent at login");
    short_alias_opt = c->add_option("-a", short_alias,
                                    "Same as --alias (itadm's -a, the auth method, is --auth-method here)");
    c->add_option("--chap-user", chap_user, "Require CHAP: the user name the initiator must present");
    c->add_option("--chap-secret-file", chap_secret_file,
                  "File holding the CHAP secret (12-16 characters); default: $STMFADM_CHAP_SECRET");
    c->add_option("--auth-method", auth, "default (the node's, see modify-defaults), none or chap");
    c->add_option("--mutual-user", mutual_user, "Mutual CHAP: the name the target answers with (default: its IQN)");
    c->add_option("--mutual-secret-file", mutual_secret_file,
                  "File holding the mutual CHAP secret; default: $STMFADM_MUTUAL_SECRET");
    c->add_option("--initiator", initiators, "Initiator allowed to log in (repeatable); default: any")
        ->allow_extra_args(false);
  }

  // The alias given (--alias or -a), or nullopt. `-a chap` is itadm's auth method, not an alias.
  std::optional<std::string> alias_arg() const {
    if (alias_opt->count() && short_alias_opt->count()) throw UsageError("-a and --alias both give the alias: give one");
    if (alias_opt->count()) return alias;
    if (!short_alias_opt->count()) return std::nullopt;
    for (const char* m : kItadmAuthMethods)
      if (iequals(short_alias, m))
        throw UsageError("-a is the target alias in stmfadm, not itadm's auth method: for that use --auth-method " +
                         std::string(m) + " (an alias that is really '" + short_alias + "': --alias " + short_alias + ")");
    return short_alias;
  }

  // The "chap" member for the request, or nullopt when no CHAP option was given.
  std::optional<json> chap() const {
    // The target's own secret alone (mutual CHAP with per-initiator secrets) needs no --chap-user.
    if (chap_user.empty()) {
      if (!chap_secret_file.empty()) throw UsageError("--chap-secret-file needs --chap-user");
      if (mutual_user.empty() && mutual_secret_file.empty()) return std::nullopt;
    }
    json c = json::object();
    if (!chap_user.empty()) {
      c["user"] = chap_user;
      if (!chap_secret_file.empty())
        c["secret"] = read_secret_file(chap_secret_file);
      else if (const char* e = std::getenv("STMFADM_CHAP_SECRET"); e && *e)
        c["secret"] = std::string(e);
      else
        throw UsageError("--chap-user needs a secret: --chap-secret-file FILE or $STMFADM_CHAP_SECRET");
    }
    if (!mutual_user.empty()) {
      c["mutual_user"] = mutual_user;
      if (!mutual_secret_file.empty())
        c["mutual_secret"] = read_secret_file(mutual_secret_file);
      else if (const char* e = std::getenv("STMFADM_MUTUAL_SECRET"); e && *e)
        c["mutual_secret"] = std::string(e);
      else
        throw UsageError("--mutual-user needs a secret: --mutual-secret-file FILE or $STMFADM_MUTUAL_SECRET");
    } else if (!mutual_secret_file.empty()) {
      c["mutual_secret"] = read_secret_file(mutual_secret_file);
    }
    return c;
  }
};

}  // namespace

void add_target_commands(CLI::App& app, Registry& r, Ctx& ctx) {
  // list-target [-v] [target...]
  {
    struct O {
      std::vector<std::string> names;
      bool verbose = false;
    };
    auto o = std::make_shared<O>();
    auto* c = r.add(app, "list-target", "List targets (target ports)");
    c->add_flag("-v,--verbose", o->verbose, "Show properties and sessions");
    c->add_option("target", o->names, "Target names; default: all");
    r.on(c, [o, &ctx] {
      json targets = ctx.call("list-target").value("targets", json::array());
      json selected = json::array();
      if (o->names.empty()) {
        selected = targets;
      } else {
        for (auto& n : o->names) {
          bool found = false;
          for (auto& t : targets)
            if (iequals(t.value("name", std::string()), n)) selected.push_back(t), found = true;
          if (!found) ctx.fail(Status{STMF_ERROR_NOT_FOUND, "target " + n + " not found"});
        }
      }
      json out = json::array();
      for (auto& t : selected) {
        std::string name = t.value("name", std::string());
        json sessions = json::array();
        if (o->verbose) {
          auto res = ctx.try_call("list-sessions", {{"target", name}});
          if (res) sessions = res->value("sessions", json::array());
        }
        if (ctx.json_output) {
          json tj = t;
          if (o->verbose) tj["session_list"] = sessions;
          out.push_back(tj);
          continue;
        }
        std::printf("Target: %s\n", name.c_str());
        if (!o->verbose) continue;
        field("Operational Status", capitalized(t.value("state", std::string("unknown"))));
        field("Provider Name", t.value("provider", std::string("iscsit")));
        std::string alias = t.value("alias", std::string());
        field("Alias", alias.empty() ? "-" : alias);
        field("Protocol", t.value("protocol", std::string("iSCSI")));
        field("TPGT", std::to_string(t.value("tpgt", 1)));
        field("Auth Method", t.value("auth", std::string("default")));
        if (t.contains("chap") && t["chap"].is_object()) {
          std::string user = t["chap"].value("user", std::string());
          std::string auth = user.empty() ? "per initiator" : "CHAP (user " + user + ")";
          if (t["chap"].contains("mutual_secret")) auth += ", mutual (" + t["chap"].value("mutual_user", name) + ")";
          field("Authentication", auth);
        } else {
          field("Authentication", t.value("auth", std::string()) == "chap" ? "per initiator" : "none");
        }
        std::string acl;
        for (auto& i : t.value("initiators", json::array())) acl += (acl.empty() ? "" : ", ") + i.get<std::string>();
        field("Initiators", acl.empty() ? "any" : acl);
        field("Sessions", std::to_string(sessions.size()));
        for (auto& s : sessions) {
          std::printf("        Initiator: %s\n", s.value("initiator", std::string()).c_str());
          std::string sa = s.value("alias", std::string());
          std::printf("            Alias: %s\n", sa.empty() ? "-" : sa.c_str());
          std::printf("            Logged in since: %s\n", logged_in_since(s).c_str());
          if (s.contains("ash")) {  // the array session (docs/array-sessions.md)
            std::printf("            ASH: %s\n", ash_string(s["ash"].get<int64_t>()).c_str());
            std::printf("            SPI: %s\n", s.value("spi", std::string()).c_str());
          }
        }
      }
      std::fflush(stdout);
      if (ctx.json_output) ctx.print_json({{"targets", out}});
    });
  }

  for (const char* op : {"online-target", "offline-target"}) {
    auto name = std::make_shared<std::string>();
    auto* c = r.add(app, op, op[1] == 'n' ? "Bring a target online" : "Take a target offline (its sessions end)");
    c->add_option("target", *name, "Target name")->required();
    r.on(c, [name, op, &ctx] {
      json res = ctx.call(op, {{"name", *name}});
      if (ctx.json_output) ctx.print_json(res);
    });
  }

  // create-target [-n iqn] [-a alias] [-t tpgt] [CHAP options] [--initiator iqn]...
  {
    auto o = std::make_shared<TargetOpts>();
    auto* c = r.add(app, "create-target", "Create an iSCSI target");
    c->add_option("-n,--name", o->name, "Target name (iqn.…); default: generated");
    o->add_common(c);
    o->tpgt_opt = c->add_option("-t,--tpgt", o->tpgt, "Target portal group tag (1-65535)")->check(CLI::Range(1, 65535));
    r.on(c, [o, &ctx] {
      json t = json::object();
      if (!o->name.empty()) t["name"] = o->name;
      if (auto a = o->alias_arg()) t["alias"] = *a;
      if (o->tpgt_opt->count()) t["tpgt"] = o->tpgt;
      if (!o->auth.empty()) t["auth"] = o->auth;
      if (auto chap = o->chap()) t["chap"] = *chap;
      if (!o->initiators.empty()) t["initiators"] = o->initiators;
      json res = ctx.call("create-target", {{"target", t}});
      if (ctx.json_output)
        ctx.print_json(res);
      else
        std::cout << "Target " << res.value("name", o->name) << " successfully created\n";
    });
  }

  // modify-target [-a alias] [CHAP options | --no-chap] [--initiator iqn]... [--any-initiator] target
  {
    auto o = std::make_shared<TargetOpts>();
    auto* c = r.add(app, "modify-target", "Change an iSCSI target's alias, CHAP settings or initiator list");
    o->add_common(c);
    c->add_flag("--no-chap", o->no_chap, "Stop requiring CHAP");
    c->add_flag("--any-initiator", o->any_initiator, "Let any initiator log in (clears the list)");
    c->add_option("target", o->name, "Target name")->required();
    r.on(c, [o, &ctx] {
      json args = {{"name", o->name}};
      if (auto a = o->alias_arg()) args["alias"] = *a;
      if (!o->auth.empty()) args["auth"] = o->auth;
      auto chap = o->chap();
      if (o->no_chap && chap) throw UsageError("--no-chap conflicts with the CHAP options (--chap-user, --mutual-user, --mutual-secret-file)");
      if (o->no_chap) args["chap"] = nullptr;
      if (chap) args["chap"] = *chap;
      if (o->any_initiator && !o->initiators.empty()) throw UsageError("--any-initiator conflicts with --initiator");
      if (o->any_initiator) args["initiators"] = json::array();
      if (!o->initiators.empty()) args["initiators"] = o->initiators;
      if (args.size() == 1) throw UsageError("modify-target: nothing to change");
      json res = ctx.call("modify-target", args);
      if (ctx.json_output) ctx.print_json(res);
    });
  }

  {
    auto name = std::make_shared<std::string>();
    auto* c = r.add(app, "delete-target", "Delete an iSCSI target (its sessions end)");
    c->add_option("target", *name, "Target name")->required();
    r.on(c, [name, &ctx] {
      json res = ctx.call("delete-target", {{"name", *name}});
      if (ctx.json_output) ctx.print_json(res);
    });
  }

  for (const char* op : {"create-portal", "delete-portal"}) {
    auto portal = std::make_shared<std::string>();
    auto* c = r.add(app, op, op[0] == 'c' ? "Listen for iSCSI logins on an address" : "Stop listening on an address");
    c->add_option("portal", *portal, "host[:port] (IPv6: [addr]:port); port defaults to 3260")->required();
    r.on(c, [portal, op, &ctx] {
      auto [host, port] = portal_arg(*portal);
      json res = ctx.call(op, {{"host", host}, {"port", port}});
      if (ctx.json_output) ctx.print_json(res);
    });
  }

  {
    auto* c = r.add(app, "list-portal", "List the addresses stmfd listens on");
    r.on(c, [&ctx] {
      json portals = ctx.call("list-portal").value("portals", json::array());
      if (ctx.json_output) {
        ctx.print_json({{"portals", portals}});
        return;
      }
      for (auto& p : portals)
        std::cout << "Portal: " << portal_string(p.value("host", std::string()), p.value("port", 3260)) << "\n";
    });
  }
}

}  // namespace stmfadm
