// Logical units and view entries: create-lu, modify-lu, delete-lu, import-lu, list-lu,
// online-lu, offline-lu, list-pr, add-view, remove-view, list-view.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "tools/stmfadm/stmfadm.h"

namespace stmfadm {
namespace {

constexpr const char* kCreateProps =
    "alias, blk, pblk, guid, oui, host-id, pid, vid, serial, mgmt-url, wcd, wp";
constexpr const char* kModifyProps = "alias, mgmt-url, wcd, wp";

std::string yes_no(bool enabled) { return enabled ? "Enabled" : "Disabled"; }

void field(const std::string& name, const std::string& value) {
  std::printf("    %-18s: %s\n", name.c_str(), value.c_str());
}

std::string str_or(const json& lu, const char* key, const char* dflt) {
  if (lu.contains(key) && lu[key].is_string() && !lu[key].get<std::string>().empty()) return lu[key].get<std::string>();
  return dflt;
}

std::string capitalized(std::string s) {
  if (!s.empty()) s[0] = char(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

void print_lu(const json& lu) {
  field("Operational Status", capitalized(str_or(lu, "state", "unknown")));
  field("Provider Name", "sbd");
  field("Alias", str_or(lu, "name", "-"));
  field("View Entry Count", std::to_string(lu.value("view_entries", 0)));
  field("Store", str_or(lu, "store", "file"));
  field("Data File", str_or(lu, "backing", "not set"));
  field("Meta File", "not set");
  field("Size", std::to_string(lu.value("size", uint64_t(0))));
  field("Block Size", std::to_string(lu.value("block_size", 0)));
  if (lu.value("physical_block_size", 0) != 0 && lu.value("physical_block_size", 0) != lu.value("block_size", 0))
    field("Physical Block Size", std::to_string(lu.value("physical_block_size", 0)));
  field("Management URL", str_or(lu, "mgmt_url", "not set"));
  field("Vendor ID", str_or(lu, "vendor", "not set"));
  field("Product ID", str_or(lu, "product", "not set"));
  field("Serial Num", str_or(lu, "serial", "not set"));
  field("Write Protect", yes_no(lu.value("write_protect", false)));
  field("Writeback Cache", yes_no(lu.value("write_cache", true)));
  field("Access State", capitalized(str_or(lu, "access_state", "unknown")));
  // Only while latched (docs/failover.md): flushes and FUA writes fail until offline-lu/online-lu.
  if (lu.contains("durability_fault") && lu["durability_fault"].is_string())
    field("Durability Fault", lu["durability_fault"].get<std::string>() + " (cleared by offline-lu, online-lu)");
}

std::string group_or_all(const json& v, const char* key) {
  if (v.contains(key) && v[key].is_string()) return v[key].get<std::string>();
  return "All";
}

}  // namespace

void add_lu_commands(CLI::App& app, Registry& r, Ctx& ctx) {
  // create-lu [-p prop=val]... [-s size] file
  {
    struct O {
      std::vector<std::string> props;
      std::string size, file, name;
    };
    auto o = std::make_shared<O>();
    auto* c = r.add(app, "create-lu", "Create a logical unit backed by FILE");
    auto* name_opt = c->add_option("--name", o->name,
                                   "The LU's name (alias), unique: other subcommands then take it instead of the GUID");
    c->add_option("-p,--lu-prop", o->props, std::string("Property=value; one of ") + kCreateProps)
        ->allow_extra_args(false);
    c->add_option("-s,--size", o->size, "Size (K/M/G/T/P, binary units; default: size of the existing file)");
    c->add_option("file", o->file, "Backing file")->required();
    r.on(c, [o, name_opt, &ctx] {
      json lu = {{"store", "file"}, {"backing", abs_path(o->file)}, {"size", 0}};
      if (!o->size.empty()) lu["size"] = size_arg(o->size);
      std::string oui, host_id;
      bool derive = false;
      for (auto& p : o->props) {
        auto [k, v] = prop_arg(p);
        if (k == "alias") check_new_lu_name(v), lu["name"] = v;
        else if (k == "blk" || k == "pblk") {
          auto n = stmf::mgmt::parse_size(v, stmf::mgmt::kStmfadmSizes);
          if (!n || *n > UINT32_MAX) throw UsageError(k + ": malformed block size '" + v + "'");
          lu[k == "blk" ? "block_size" : "physical_block_size"] = *n;
        } else if (k == "guid") lu["guid"] = guid_arg(v);
        else if (k == "oui") oui = v, derive = true;
        else if (k == "host-id") host_id = v, derive = true;
        else if (k == "pid") lu["product"] = v;
        else if (k == "vid") lu["vendor"] = v;
        else if (k == "serial") lu["serial"] = v;
        else if (k == "mgmt-url") lu["mgmt_url"] = v;
        else if (k == "wcd") lu["write_cache"] = !bool_arg(k, v);
        else if (k == "wp") lu["write_protect"] = bool_arg(k, v);
        else if (k == "meta")
          throw UsageError("meta: separate metadata files are not supported (the metadata lives in the backing file)");
        else
          throw UsageError("unknown property '" + k + "' (valid: " + kCreateProps + ")");
      }
      if (name_opt->count()) {
        if (lu.contains("name")) throw UsageError("--name and -p alias= both name the LU: give one");
        if (o->name.empty()) throw UsageError("--name: empty LU name");
        check_new_lu_name(o->name);
        check_lu_name_free(ctx, o->name);
        lu["name"] = o->name;
      }
      if (derive) {
        if (lu.contains("guid")) throw UsageError("guid cannot be combined with oui or host-id");
        lu["guid"] = make_guid(oui, host_id);
      }
      json res = ctx.call("create-lu", {{"lu", lu}});
      if (ctx.json_output)
        ctx.print_json(res);
      else
        std::cout << "Logical unit created: " << res.value("guid", std::string()) << "\n";
    });
  }

  // modify-lu [-p prop=val]... [-s size] [-f] LU|file
  {
    struct O {
      std::vector<std::string> props;
      std::string size, operand;
      bool file = false;
    };
    auto o = std::make_shared<O>();
    auto* c = r.add(app, "modify-lu", "Change properties of a logical unit");
    c->add_option("-p,--lu-prop", o->props, std::string("Property=value; one of ") + kModifyProps)
        ->allow_extra_args(false);
    c->add_option("-s,--size", o->size, "New size (growing only)");
    c->add_flag("-f,--file", o->file, "The operand is the LU's backing file, not its name");
    c->add_option("LU", o->operand, "LU GUID or name, or backing file with -f")->required();
    r.on(c, [o, &ctx] {
      json props = json::object();
      for (auto& p : o->props) {
        auto [k, v] = prop_arg(p);
        if (k == "alias") check_new_lu_name(v), props["name"] = v;
        else if (k == "mgmt-url") props["mgmt_url"] = v;
        else if (k == "wcd") props["write_cache"] = !bool_arg(k, v);
        else if (k == "wp") props["write_protect"] = bool_arg(k, v);
        else throw UsageError("property '" + k + "' cannot be modified (valid: " + kModifyProps + ", and -s)");
      }
      if (!o->size.empty()) props["size"] = size_arg(o->size);
      if (props.empty()) throw UsageError("modify-lu: nothing to change (give -p or -s)");
      json args = {{"props", props}};
      if (o->file)
        args["backing"] = abs_path(o->operand);
      else
        args["guid"] = lu_arg(ctx, o->operand);
      json res = ctx.call("modify-lu", args);
      if (ctx.json_output) ctx.print_json(res);
    });
  }

  // delete-lu [-k] LU...
  {
    struct O {
      std::vector<std::string> lus;
      bool keep = false;
    };
    auto o = std::make_shared<O>();
    auto* c = r.add(app, "delete-lu", "Delete logical units (the backing files stay)");
    c->add_flag("-k,--keep-views", o->keep, "Keep the LU's view entries");
    c->add_option("LU", o->lus, "LUs (GUIDs or names)")->required();
    r.on(c, [o, &ctx] {
      std::vector<std::string> guids;  // every operand resolved before anything is deleted
      for (auto& l : o->lus) guids.push_back(lu_arg(ctx, l));
      for (auto& g : guids)
        if (auto res = ctx.try_call("delete-lu", {{"guid", g}, {"keep_views", o->keep}}); res && ctx.json_output)
          ctx.print_json(*res);
    });
  }

  // import-lu file
  {
    auto file = std::make_shared<std::string>();
    auto* c = r.add(app, "import-lu", "Bring back a logical unit from its backing file's metadata");
    c->add_option("file", *file, "Backing file")->required();
    r.on(c, [file, &ctx] {
      json res = ctx.call("import-lu", {{"backing", abs_path(*file)}});
      if (ctx.json_output)
        ctx.print_json(res);
      else
        std::cout << "Logical unit imported: " << res.value("guid", std::string()) << "\n";
    });
  }

  // list-lu [-v] [LU...]
  {
    struct O {
      std::vector<std::string> lus;
      bool verbose = false;
    };
    auto o = std::make_shared<O>();
    auto* c = r.add(app, "list-lu", "List logical units");
    c->add_flag("-v,--verbose", o->verbose, "Show the properties of each LU");
    c->add_option("LU", o->lus, "LUs (GUIDs or names); default: all");
    r.on(c, [o, &ctx] {
      std::vector<std::string> guids;
      if (o->lus.empty()) {
        for (auto& g : ctx.call("list-lu").value("lus", json::array())) guids.push_back(g.get<std::string>());
      } else {
        for (auto& l : o->lus) {
          try {
            guids.push_back(lu_arg(ctx, l));
          } catch (const OpError& e) {  // no such name: report it, list the others
            ctx.fail(e.status);
          }
        }
      }
      json out = json::array();
      for (auto& g : guids) {
        json lu;
        if (o->verbose || !o->lus.empty()) {  // named LUs must exist
          auto res = ctx.try_call("get-lu", {{"guid", g}});
          if (!res) continue;
          lu = res->value("lu", json::object());
        }
        if (ctx.json_output) {
          out.push_back(o->verbose ? lu : json(g));
          continue;
        }
        std::cout << "LU Name: " << g << "\n";
        if (o->verbose) print_lu(lu);
      }
      if (ctx.json_output) ctx.print_json({{"lus", out}});
    });
  }

  // list-pr LU: registrations and reservation (SPC-4 persistent, SPC-2 RESERVE).
  {
    auto lu = std::make_shared<std::string>();
    auto* c = r.add(app, "list-pr", "List the persistent reservation state of a logical unit");
    c->add_option("LU", *lu, "LU GUID or name")->required();
    r.on(c, [lu, &ctx] {
      const std::string guid = lu_arg(ctx, *lu);
      json res = ctx.call("list-pr", {{"guid", guid}});
      if (ctx.json_output) return ctx.print_json(res);
      static const char* types[] = {"", "Write Exclusive", "", "Exclusive Access", "", "Write Exclusive, Registrants Only",
                                    "Exclusive Access, Registrants Only", "Write Exclusive, All Registrants",
                                    "Exclusive Access, All Registrants"};
      const json& p = res["reservations"];
      std::cout << "LU Name: " << guid << "\n"
                << "    PR Generation     : 0x" << std::hex << p["generation"].get<uint32_t>() << std::dec << "\n"
                << "    APTPL             : " << (p["aptpl"].get<bool>() ? "yes" : "no") << "\n"
                << "    Registrations     : " << p["registrations"].size() << "\n";
      size_t i = 0;
      for (auto& g : p["registrations"]) {
        std::cout << "        " << g["key"].get<std::string>() << "  " << g["initiator"].get<std::string>();
        if (!g["isid"].get<std::string>().empty()) std::cout << ",i,0x" << g["isid"].get<std::string>();
        std::cout << "  " << (g["all_tg_pt"].get<bool>() ? std::string("(all target ports)") : g["target_port"].get<std::string>())
                  << "\n";
        ++i;
      }
      if (p["reservation"].is_null()) {
        std::cout << "    Reservation       : none\n";
      } else {
        const auto& v = p["reservation"];
        const unsigned t = v["type"].get<unsigned>();
        std::cout << "    Reservation       : " << (t < 9 ? types[t] : "?");
        if (t == 7 || t == 8)
          std::cout << " (held by every registrant)";
        else if (v["holder"].get<size_t>() < p["registrations"].size())
          std::cout << ", holder key " << p["registrations"][v["holder"].get<size_t>()]["key"].get<std::string>();
        std::cout << "\n";
      }
      if (!p["scsi2_reservation"].is_null())
        std::cout << "    SCSI-2 Reservation: " << p["scsi2_reservation"]["initiator"].get<std::string>() << ",i,0x"
                  << p["scsi2_reservation"]["isid"].get<std::string>() << "\n";
    });
  }

  for (const char* op : {"online-lu", "offline-lu"}) {
    auto lu = std::make_shared<std::string>();
    auto* c = r.add(app, op, std::string(op[1] == 'n' ? "Bring a logical unit online" : "Take a logical unit offline"));
    c->add_option("LU", *lu, "LU GUID or name")->required();
    r.on(c, [lu, op, &ctx] {
      json res = ctx.call(op, {{"guid", lu_arg(ctx, *lu)}});
      if (ctx.json_output) ctx.print_json(res);
    });
  }

  // add-view [-n lun] [-t tg] [-h hg] LU
  {
    struct O {
      std::string lu, tg, hg;
      int lun = 0;
    };
    auto o = std::make_shared<O>();
    auto* c = r.add(app, "add-view", "Make a logical unit visible (a view entry)");
    c->set_help_flag("-?,--help", "Print this help message and exit (-h is the host group here)");
    auto* n = c->add_option("-n,--lun", o->lun, "Logical unit number (0-16383); default: lowest free")
                  ->check(CLI::Range(0, 16383));
    auto* t = c->add_option("-t,--target-group", o->tg, "Target group; default: all targets");
    auto* h = c->add_option("-h,--host-group", o->hg, "Host group; default: all hosts");
    c->add_option("LU", o->lu, "LU GUID or name")->required();
    r.on(c, [o, n, t, h, &ctx] {
      json args = {{"guid", lu_arg(ctx, o->lu)}};
      args["host_group"] = h->count() ? json(o->hg) : json(nullptr);
      args["target_group"] = t->count() ? json(o->tg) : json(nullptr);
      if (n->count()) args["lun"] = o->lun;
      json res = ctx.call("add-view", args);
      if (ctx.json_output) ctx.print_json(res);
    });
  }

  // remove-view -l LU (-a | index...)
  {
    struct O {
      std::string lu;
      std::vector<unsigned> indexes;
      bool all = false;
    };
    auto o = std::make_shared<O>();
    auto* c = r.add(app, "remove-view", "Remove view entries of a logical unit");
    c->add_option("-l,--lu-name", o->lu, "LU GUID or name")->required();
    c->add_flag("-a,--all", o->all, "Remove all view entries of the LU");
    c->add_option("index", o->indexes, "View entry numbers");
    r.on(c, [o, &ctx] {
      if (o->all && !o->indexes.empty()) throw UsageError("remove-view: give -a or view entry numbers, not both");
      if (!o->all && o->indexes.empty()) throw UsageError("remove-view: give -a or view entry numbers");
      std::string g = lu_arg(ctx, o->lu);
      if (o->all) {
        json res = ctx.call("remove-view", {{"guid", g}, {"all", true}});
        if (ctx.json_output) ctx.print_json(res);
        return;
      }
      for (unsigned i : o->indexes)
        if (auto res = ctx.try_call("remove-view", {{"guid", g}, {"index", i}}); res && ctx.json_output)
          ctx.print_json(*res);
    });
  }

  // list-view -l LU [index...]
  {
    struct O {
      std::string lu;
      std::vector<unsigned> indexes;
    };
    auto o = std::make_shared<O>();
    auto* c = r.add(app, "list-view", "List the view entries of a logical unit");
    c->add_option("-l,--lu-name", o->lu, "LU GUID or name")->required();
    c->add_option("index", o->indexes, "View entry numbers; default: all");
    r.on(c, [o, &ctx] {
      std::string g = lu_arg(ctx, o->lu);
      json views = ctx.call("list-view", {{"guid", g}}).value("views", json::array());
      json out = json::array();
      auto show = [&](const json& v) {
        if (ctx.json_output) {
          out.push_back(v);
          return;
        }
        std::printf("View Entry: %d\n", v.value("index", 0));
        std::printf("    %-13s: %s\n", "Host group", group_or_all(v, "host_group").c_str());
        std::printf("    %-13s: %s\n", "Target group", group_or_all(v, "target_group").c_str());
        std::printf("    %-13s: %llu\n", "LUN", static_cast<unsigned long long>(v.value("lun", uint64_t(0))));
      };
      if (o->indexes.empty()) {
        for (auto& v : views) show(v);
      } else {
        for (unsigned i : o->indexes) {
          bool found = false;
          for (auto& v : views)
            if (v.value("index", -1) == int(i)) show(v), found = true;
          if (!found)
            ctx.fail(Status{STMF_ERROR_NOT_FOUND, "view entry " + std::to_string(i) + " of LU " + g + " not found"});
        }
      }
      std::fflush(stdout);
      if (ctx.json_output) ctx.print_json({{"views", out}});
    });
  }
}

}  // namespace stmfadm
