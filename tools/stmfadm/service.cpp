// The service as a whole: list-state (with COMSTAR's ALUA lines), online-service, offline-service,
// export, import.
#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "mgmt/json_limits.h"
#include "tools/stmfadm/stmfadm.h"

namespace stmfadm {

void add_service_commands(CLI::App& app, Registry& r, Ctx& ctx) {
  {
    auto* c = r.add(app, "list-state", "Show the operational and configuration state of the service");
    r.on(c, [&ctx] {
      json st = ctx.call("get-state");
      json alua = ctx.call("get-alua-state");
      if (ctx.json_output) {
        st["alua"] = {{"enabled", alua.value("enabled", false)}, {"node", alua.value("node", 0u)}};
        ctx.print_json(st);
        return;
      }
      std::string op = st.value("operational", std::string("unknown"));
      std::string cfg = st.value("config", std::string("unknown"));
      if (cfg == "init_done") cfg = "initialized";
      else if (cfg == "init") cfg = "initializing";
      else if (cfg == "none") cfg = "uninitialized";
      std::printf("%-18s: %s\n", "Operational Status", op.c_str());
      std::printf("%-18s: %s\n", "Config Status", cfg.c_str());
      print_alua_state_lines(alua);  // COMSTAR's ALUA Status and ALUA Node
    });
  }

  for (const char* op : {"online", "offline"}) {
    std::string name = std::string(op) + "-service";
    auto* c = r.add(app, name,
                    op[1] == 'n' ? "Bring the service online (targets whose own state is online come back)"
                                 : "Take the service offline (every target goes offline)");
    r.on(c, [op, &ctx] {
      json res = ctx.call(op);
      if (ctx.json_output) ctx.print_json(res);
    });
  }

  // export [-o file]
  {
    auto out = std::make_shared<std::string>();
    auto* c = r.add(app, "export", "Print the running configuration (the configuration file format)");
    c->add_option("-o,--output", *out, "Write it to FILE (mode 0600: it holds CHAP secrets) instead of stdout");
    r.on(c, [out, &ctx] {
      json cfg = ctx.call("export").value("config", json::object());
      std::string text = cfg.dump(2) + "\n";
      if (out->empty()) {
        std::cout << text;
        return;
      }
      int fd = ::open(out->c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd < 0) throw LocalError(*out + ": " + std::strerror(errno));
      // An existing file keeps its mode through O_CREAT: take group and other access away
      // before any secret is written (refuse when that is not ours to do).
      struct stat st {};
      if (::fstat(fd, &st) != 0 || ((st.st_mode & 077) && ::fchmod(fd, st.st_mode & 0700) != 0)) {
        int e = errno;
        ::close(fd);
        throw LocalError(*out + ": cannot make it private (mode 0600) for the CHAP secrets: " + std::strerror(e));
      }
      size_t off = 0;
      while (off < text.size()) {
        ssize_t n = ::write(fd, text.data() + off, text.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          int e = errno;
          ::close(fd);
          throw LocalError(*out + ": " + std::strerror(e));
        }
        off += size_t(n);
      }
      if (::close(fd) != 0) throw LocalError(*out + ": " + std::strerror(errno));
    });
  }

  // import [--dry-run] file
  {
    struct O {
      std::string file;
      bool dry_run = false;
    };
    auto o = std::make_shared<O>();
    auto* c = r.add(app, "import", "Make the running configuration equal to a configuration file");
    c->add_flag("--dry-run", o->dry_run, "Only print the changes");
    c->add_option("file", o->file, "Configuration file ('-' = standard input)")->required();
    r.on(c, [o, &ctx] {
      std::stringstream ss;
      if (o->file == "-") {
        ss << std::cin.rdbuf();
      } else {
        std::ifstream in(o->file);
        if (!in) throw LocalError(o->file + ": " + std::strerror(errno));
        ss << in.rdbuf();
      }
      json cfg;
      const std::string text = ss.str();
      if (stmf::mgmt::json_nesting_depth(text, stmf::mgmt::kDefaultMaxJsonDepth) > stmf::mgmt::kDefaultMaxJsonDepth)
        throw LocalError(o->file + ": not a configuration: JSON nested deeper than " +
                         std::to_string(stmf::mgmt::kDefaultMaxJsonDepth) + " levels");
      try {
        cfg = json::parse(text);
      } catch (const json::exception& e) {  // parse_error, and out_of_range for a number too large
        throw LocalError(o->file + ": not valid JSON: " + e.what());
      }
      if (!cfg.is_object()) throw LocalError(o->file + ": not a configuration (expected a JSON object)");
      json res = ctx.call("import", {{"config", cfg}, {"dry_run", o->dry_run}});
      if (ctx.json_output) {
        ctx.print_json(res);
        return;
      }
      for (auto& ch : res.value("changes", json::array()))
        std::cout << (ch.is_string() ? ch.get<std::string>() : ch.dump()) << "\n";
    });
  }
}

}  // namespace stmfadm
