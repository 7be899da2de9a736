// stmfadm: the administration CLI of stmfd (docs/stmfadm.md). A client of the management
// socket (docs/management.md); it keeps no state of its own.
#include <CLI/CLI.hpp>

#include <iostream>

#include "tools/stmfadm/stmfadm.h"

#ifndef STMFADM_VERSION
#define STMFADM_VERSION "0"
#endif

namespace stmfadm {
namespace {

// The help flag, as illumos spells it too (-?); add-view keeps -h for the host group.
constexpr const char* kHelpFlags = "-h,--help,-?";
constexpr const char* kHelpText = "Print this help message and exit (also -?)";

// Shown at the end of every subcommand's help: the options that precede or follow it.
constexpr const char* kGlobalOptionsFooter =
    "Global options (before or after the subcommand):\n"
    "  --json           Print the results as JSON objects (one per line) for scripts\n"
    "  --socket PATH    stmfd's management socket (default: $STMFD_SOCKET, else the standard path)\n"
    "  -h, --help, -?   Print help and exit\n"
    "LU operands are GUIDs (32 hex digits) or LU names (create-lu --name). Environment: STMFD_SOCKET,\n"
    "STMFADM_CHAP_SECRET, STMFADM_MUTUAL_SECRET. Exit status: 0 success, 1 an operation failed,\n"
    "2 usage error. See stmfadm(8).";

}  // namespace

CLI::App* Registry::add(CLI::App& app, const std::string& name, const std::string& description) {
  CLI::App* sub = app.add_subcommand(name, description);
  sub->fallthrough();  // the global options (--json, --socket) may follow the subcommand
  sub->footer(kGlobalOptionsFooter);
  return sub;
}

}  // namespace stmfadm

int main(int argc, char** argv) {
  using namespace stmfadm;
  Ctx ctx;
  Registry reg;
  CLI::App app{"stmfadm - administer the STMF SCSI target service (stmfd)", "stmfadm"};
  app.require_subcommand(0, 1);  // none: the usage list (below), as illumos does
  app.set_help_flag(kHelpFlags, kHelpText);
  app.set_version_flag("--version", std::string("stmfadm ") + STMFADM_VERSION);
  app.add_flag("--json", ctx.json_output, "Print the results as JSON objects (one per line) for scripts");
  app.add_option("--socket", ctx.socket, "stmfd's management socket (default: $STMFD_SOCKET, else the standard path)");
  app.footer(
      "Environment: STMFD_SOCKET (management socket), STMFADM_CHAP_SECRET and STMFADM_MUTUAL_SECRET\n"
      "(CHAP secrets for create-target/modify-target; STMFADM_CHAP_SECRET for create/modify-initiator -s).\n"
      "Exit status: 0 success, 1 an operation failed, 2 usage error. See 'stmfadm SUBCOMMAND --help'.");

  add_lu_commands(app, reg, ctx);
  add_group_commands(app, reg, ctx);
  add_target_commands(app, reg, ctx);
  add_initiator_commands(app, reg, ctx);
  add_service_commands(app, reg, ctx);
  add_alua_commands(app, reg, ctx);
  add_stats_commands(app, reg, ctx);
  add_ars_commands(app, reg, ctx);

  if (argc < 2) {  // no argument at all: the usage list, on stderr (a usage error)
    std::cerr << "stmfadm: a subcommand is required\n" << app.help() << std::flush;
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "stmfadm: " << e.what() << " (see 'stmfadm --help')" << std::endl;
    return 2;
  }

  Action* action = nullptr;
  for (auto* sub : app.get_subcommands())
    for (auto& [s, a] : reg.actions)
      if (s == sub) action = &a;
  if (!action) {
    std::cerr << "stmfadm: no subcommand (see 'stmfadm --help')" << std::endl;
    return 2;
  }
  try {
    (*action)();
  } catch (const UsageError& e) {
    std::cout.flush();
    std::cerr << "stmfadm: " << e.what() << std::endl;
    return 2;
  } catch (const OpError& e) {
    std::cout.flush();
    std::cerr << error_line(e.status) << std::endl;
    return 1;
  } catch (const LocalError& e) {
    std::cout.flush();
    std::cerr << "stmfadm: " << e.what() << std::endl;
    return 1;
  } catch (const nlohmann::json::exception& e) {
    std::cout.flush();
    std::cerr << "stmfadm: unexpected response from stmfd: " << e.what() << std::endl;
    return 1;
  }
  std::cout.flush();
  return ctx.failures ? 1 : 0;
}
