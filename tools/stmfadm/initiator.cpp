// Initiators' CHAP credentials and the node's authentication defaults (itadm's model):
// create-initiator, modify-initiator, delete-initiator, list-initiator, list-defaults,
// modify-defaults. docs/stmfadm.md, docs/security.md "CHAP".
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "tools/stmfadm/stmfadm.h"

namespace stmfadm {
namespace {

constexpr const char* kSecretEnv = "STMFADM_CHAP_SECRET";

// The secret of --chap-secret-file FILE, or of -s ($STMFADM_CHAP_SECRET, else the first line of
// standard input); nullopt when neither was asked for. Never a command-line argument (ps).
std::optional<std::string> secret_arg(const std::string& file, bool from_env_or_stdin) {
  if (!file.empty() && from_env_or_stdin) throw UsageError("--chap-secret-file conflicts with -s");
  if (!file.empty()) return read_secret_file(file);
  if (!from_env_or_stdin) return std::nullopt;
  if (const char* e = std::getenv(kSecretEnv); e && *e) return std::string(e);
  std::string line;
  if (!std::getline(std::cin, line) || line.empty()) throw UsageError("-s: no secret in $STMFADM_CHAP_SECRET or on standard input");
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  return line;
}

void check_method(const std::string& v, const char* what) {
  if (!v.empty() && v != "none" && v != "chap") throw UsageError(std::string(what) + " must be none or chap");
}

}  // namespace

void add_initiator_commands(CLI::App& app, Registry& r, Ctx& ctx) {
  // create-initiator [-u chap-user] [-s | --chap-secret-file FILE] initiator
  {
    struct O {
      std::string name, user, file;
      bool secret = false;
    };
    auto o = std::make_shared<O>();
    auto* c = r.add(app, "create-initiator", "Record an initiator's CHAP name and secret");
    c->add_option("-u,--chap-user", o->user, "CHAP name the initiator sends (default: its node name)");
    c->add_flag("-s,--chap-secret", o->secret, "Set the CHAP secret from $STMFADM_CHAP_SECRET or standard input");
    c->add_option("--chap-secret-file", o->file, "File holding the CHAP secret (12-16 characters)");
    c->add_option("initiator", o->name, "Initiator node name (iqn.… or eui.…)")->required();
    r.on(c, [o, &ctx] {
      json i = {{"name", o->name}};
      if (!o->user.empty()) i["chap_user"] = o->user;
      if (auto s = secret_arg(o->file, o->secret)) i["chap_secret"] = *s;
      json res = ctx.call("create-initiator", {{"initiator", i}});
      if (ctx.json_output)
        ctx.print_json(res);
      else
        std::cout << "Initiator " << res.value("name", o->name) << " successfully created\n";
    });
  }

  // modify-initiator [-u chap-user | --clear-chap-user] [-s | --chap-secret-file FILE | --clear-chap-secret] initiator
  {
    struct O {
      std::string name, user, file;
      bool secret = false, clear_user = false, clear_secret = false;
    };
    auto o = std::make_shared<O>();
    auto* c = r.add(app, "modify-initiator", "Change an initiator's CHAP name or secret");
    c->add_option("-u,--chap-user", o->user, "CHAP name the initiator sends");
    c->add_flag("--clear-chap-user", o->clear_user, "The CHAP name is the node name again");
    c->add_flag("-s,--chap-secret", o->secret, "Set the CHAP secret from $STMFADM_CHAP_SECRET or standard input");
    c->add_option("--chap-secret-file", o->file, "File holding the CHAP secret (12-16 characters)");
    c->add_flag("--clear-chap-secret", o->clear_secret, "Remove the CHAP secret");
    c->add_option("initiator", o->name, "Initiator node name")->required();
    r.on(c, [o, &ctx] {
      json args = {{"name", o->name}};
      if (o->clear_user && !o->user.empty()) throw UsageError("--clear-chap-user conflicts with -u");
      if (!o->user.empty()) args["chap_user"] = o->user;
      if (o->clear_user) args["chap_user"] = nullptr;
      auto s = secret_arg(o->file, o->secret);
      if (o->clear_secret && s) throw UsageError("--clear-chap-secret conflicts with -s/--chap-secret-file");
      if (s) args["chap_secret"] = *s;
      if (o->clear_secret) args["chap_secret"] = nullptr;
      if (args.size() == 1) throw UsageError("modify-initiator: nothing to change");
      json res = ctx.call("modify-initiator", args);
      if (ctx.json_output) ctx.print_json(res);
    });
  }

  {
    auto names = std::make_shared<std::vector<std::string>>();
    auto* c = r.add(app, "delete-initiator", "Forget initiators' CHAP credentials");
    c->add_option("initiator", *names, "Initiator node names")->required();
    r.on(c, [names, &ctx] {
      for (auto& n : *names) {
        auto res = ctx.try_call("delete-initiator", {{"name", n}});
        if (res && ctx.json_output) ctx.print_json(*res);
      }
    });
  }

  // list-initiator [-v] [--show-secrets] [initiator...]
  {
    struct O {
      std::vector<std::string> names;
      bool verbose = false, show = false;
    };
    auto o = std::make_shared<O>();
    auto* c = r.add(app, "list-initiator", "List initiators with CHAP credentials (secrets hidden)");
    c->add_flag("-v,--verbose", o->verbose, "Show the CHAP name and whether a secret is set");
    c->add_flag("--show-secrets", o->show, "Show the secrets themselves (root or the admin group only)");
    c->add_option("initiator", o->names, "Initiator names; default: all");
    r.on(c, [o, &ctx] {
      json args = json::object();
      if (o->show) args["show_secrets"] = true;
      json all = ctx.call("list-initiator", args).value("initiators", json::array());
      json selected = json::array();
      if (o->names.empty()) selected = all;
      for (auto& n : o->names) {
        bool found = false;
        for (auto& i : all)
          if (iequals(i.value("name", std::string()), n)) selected.push_back(i), found = true;
        if (!found) ctx.fail(Status{STMF_ERROR_NOT_FOUND, "initiator " + n + " not found"});
      }
      if (ctx.json_output) {
        ctx.print_json({{"initiators", selected}});
        return;
      }
      for (auto& i : selected) {
        std::printf("Initiator: %s\n", i.value("name", std::string()).c_str());
        if (!o->verbose && !o->show) continue;
        std::printf("    %-18s: %s\n", "CHAP User", i.value("chap_user", std::string()).c_str());
        std::printf("    %-18s: %s\n", "CHAP Secret", i.value("chap_secret", std::string("unset")).c_str());
      }
      std::fflush(stdout);
    });
  }

  {
    auto* c = r.add(app, "list-defaults", "Show the default and the discovery authentication methods");
    r.on(c, [&ctx] {
      json res = ctx.call("list-defaults");
      if (ctx.json_output) {
        ctx.print_json(res);
        return;
      }
      std::printf("    %-18s: %s\n", "Auth Method", res.value("default_auth", std::string()).c_str());
      std::printf("    %-18s: %s\n", "Discovery Auth", res.value("discovery_auth", std::string()).c_str());
    });
  }

  {
    struct O {
      std::string auth, discovery;
    };
    auto o = std::make_shared<O>();
    auto* c = r.add(app, "modify-defaults", "Set the default (targets with auth default) and discovery authentication");
    c->add_option("--auth-method", o->auth, "none or chap: for targets whose auth method is default");
    c->add_option("--discovery-auth", o->discovery, "none or chap: for SendTargets (discovery) sessions");
    r.on(c, [o, &ctx] {
      check_method(o->auth, "--auth-method");
      check_method(o->discovery, "--discovery-auth");
      json args = json::object();
      if (!o->auth.empty()) args["default_auth"] = o->auth;
      if (!o->discovery.empty()) args["discovery_auth"] = o->discovery;
      if (args.empty()) throw UsageError("modify-defaults: nothing to change");
      json res = ctx.call("modify-defaults", args);
      if (ctx.json_output) ctx.print_json(res);
    });
  }
}

}  // namespace stmfadm
