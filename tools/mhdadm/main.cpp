// mhdadm: one subcommand per mhd(4I) request, against any iSCSI LU, as a named host
// (docs/mhd.md). Exit status: 0, or the errno of the failed request (EACCES 13, EIO 5, ENOTSUP
// 95, ...) with a one-line reason on stderr; 100 when failfast fires under --hold.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <string>
#include <vector>

#include "mhd/mhd.h"

namespace {

using json = nlohmann::json;

constexpr int kExitFailfast = 100;
constexpr int kExitUsage = 2;
constexpr const char* kDefaultInitiator = "iqn.2026-11.org.example:mhdadm";

struct Options {
  std::string url, initiator = kDefaultInitiator;
  bool json = false, probe_open = false, verbose = false;
};
Options g_opt;

void print(const json& j, const std::string& text) {
  if (g_opt.json)
    std::printf("%s\n", j.dump().c_str());
  else if (!text.empty())
    std::printf("%s\n", text.c_str());
}

[[noreturn]] void die(const char* what, int e, mhd_handle_t* h = nullptr) {
  std::string detail = h ? mhd_last_error(h) : "";
  if (g_opt.json)
    std::printf("%s\n", json{{"ok", false},
                             {"request", what},
                             {"errno", e},
                             {"error", strerrorname_np(e) ? strerrorname_np(e) : "?"},
                             {"reason", std::strerror(e)},
                             {"scsi", detail}}
                            .dump()
                            .c_str());
  std::fprintf(stderr, "mhdadm: %s: %s%s%s\n", what, std::strerror(e), detail.empty() ? "" : " — target said: ",
               detail.c_str());
  if (h) mhd_close(h);
  std::exit(e > 0 && e < kExitFailfast ? e : 1);
}

uint64_t parse_key(const std::string& s) {
  try {
    size_t used = 0;
    uint64_t v = std::stoull(s, &used, 0);
    if (used != s.size()) throw std::invalid_argument(s);
    return v;
  } catch (const std::exception&) {
    std::fprintf(stderr, "mhdadm: bad key %s (a number: 0x1234 or 4660)\n", s.c_str());
    std::exit(kExitUsage);
  }
}

mhioc_resv_key_t key(uint64_t v) {
  mhioc_resv_key_t k;
  for (int i = 7; i >= 0; --i, v >>= 8) k.key[i] = uint8_t(v);
  return k;
}
std::string key_text(const mhioc_resv_key_t& k) {
  char b[19];
  uint64_t v = 0;
  for (auto c : k.key) v = v << 8 | c;
  std::snprintf(b, sizeof b, "0x%016llx", (unsigned long long)v);
  return b;
}

uint8_t parse_type(const std::string& s) {
  static const std::vector<std::pair<std::string, uint8_t>> names = {
      {"we", SCSI3_RESV_WRITEEXCLUSIVE},
      {"ea", SCSI3_RESV_EXCLUSIVEACCESS},
      {"we-ro", SCSI3_RESV_WRITEEXCLUSIVEREGISTRANTSONLY},
      {"ea-ro", SCSI3_RESV_EXCLUSIVEACCESSREGISTRANTSONLY}};
  for (auto& [n, t] : names)
    if (s == n) return t;
  if (s.size() == 1 && s[0] >= '0' && s[0] <= '9') return uint8_t(s[0] - '0');
  std::fprintf(stderr, "mhdadm: bad type %s (we, ea, we-ro, ea-ro or a number)\n", s.c_str());
  std::exit(kExitUsage);
}
const char* type_name(uint8_t t) {
  switch (t) {
    case SCSI3_RESV_WRITEEXCLUSIVE: return "we";
    case SCSI3_RESV_EXCLUSIVEACCESS: return "ea";
    case SCSI3_RESV_WRITEEXCLUSIVEREGISTRANTSONLY: return "we-ro";
    case SCSI3_RESV_EXCLUSIVEACCESSREGISTRANTSONLY: return "ea-ro";
    default: return "obsolete";
  }
}

mhd_handle_t* open_disk() {
  mhd_handle_t* h = mhd_open(g_opt.url.c_str(), g_opt.initiator.c_str(), g_opt.probe_open ? 0 : O_NDELAY);
  if (!h) die("open", errno);
  return h;
}

void request(mhd_handle_t* h, int req, void* arg) {
  if (mhd_ioctl(h, req, arg) < 0) die(mhd_request_name(req), errno, h);
}

void on_failfast(mhd_handle_t*, const char* reason, void*) {
  if (g_opt.json)
    std::printf("%s\n", json{{"ok", false}, {"failfast", true}, {"reason", reason}}.dump().c_str());
  std::fprintf(stderr, "mhdadm: failfast: %s\n", reason);
  std::fflush(stdout);
  ::_exit(kExitFailfast);
}

// Keeps the session (and so a SCSI-2 reservation, the failfast probe, the reinstate thread)
// until SIGINT or SIGTERM.
void hold(mhd_handle_t* h) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  mhd_close(h);
  std::exit(0);
}

void done(mhd_handle_t* h, const json& j, const std::string& text, bool hold_it) {
  print(j, text);
  std::fflush(stdout);
  if (hold_it) hold(h);
  mhd_close(h);
}

}  // namespace

int main(int argc, char** argv) {
  // A SAN that drops the connection makes libiscsi's writev() fail with EPIPE: an error
  // mhdadm reports, not a silent death by SIGPIPE.
  signal(SIGPIPE, SIG_IGN);
  // Signals for --hold are taken with sigwait: block them before any library thread starts.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  CLI::App app{"mhdadm: the mhd(4I) multihost-disk requests against an iSCSI LU"};
  app.require_subcommand(1);
  app.add_option("--url,-u", g_opt.url, "iSCSI URL of the disk: iscsi://host[:port]/target-iqn/lun")->required();
  app.add_option("--initiator,-i", g_opt.initiator, "act as this host (iSCSI initiator name)");
  app.add_flag("--json", g_opt.json, "one JSON object on stdout");
  app.add_flag("--probe-open", g_opt.probe_open, "open without O_NDELAY (EACCES if another host holds it)");
  app.add_flag("--verbose,-v", g_opt.verbose, "the library's log lines on stderr");

  bool hold_flag = false;
  int reinstate = 0, min_delay = 0, max_delay = 0;
  unsigned failfast = 0;
  uint32_t listsize = 64;
  std::string oldkey = "0", newkey = "0", k = "0", victim = "0", type = "we";
  bool aptpl = false;

  auto* tkown = app.add_subcommand("tkown", "MHIOCTKOWN: take ownership (reset another host's reservation)");
  tkown->add_option("--reinstate-delay", reinstate, "ms (0: 6000)");
  tkown->add_option("--min-delay", min_delay, "min_ownership_delay, ms (0: 6000)");
  tkown->add_option("--max-delay", max_delay, "max_ownership_delay, ms (0: 30000)");
  tkown->add_option("--failfast", failfast, "enable failfast with this probe interval (ms) first");
  tkown->add_flag("--hold", hold_flag, "keep the session (the reservation) until SIGINT/SIGTERM");
  auto* release = app.add_subcommand("release", "MHIOCRELEASE: release (RELEASE(6))");
  auto* status = app.add_subcommand("status", "MHIOCSTATUS: 0 this host has access, 1 another host reserved it");
  auto* qreserve = app.add_subcommand("qreserve", "MHIOCQRESERVE: RESERVE(6), never resets");
  qreserve->add_option("--failfast", failfast, "enable failfast with this probe interval (ms) first");
  qreserve->add_flag("--hold", hold_flag, "keep the session (the reservation) until SIGINT/SIGTERM");
  auto* enff = app.add_subcommand("enfailfast", "MHIOCENFAILFAST: failfast probe every MS ms (0 off)");
  enff->add_option("ms", failfast, "probe interval in ms; 0 disables; 2147483647: no probe")->required();
  enff->add_flag("--hold", hold_flag, "keep the handle: exit 100 the moment failfast fires");
  auto* inkeys = app.add_subcommand("inkeys", "MHIOCGRP_INKEYS: registered keys (READ KEYS)");
  inkeys->add_option("--listsize", listsize, "capacity of the key list (listlen reports the need)");
  auto* inresv = app.add_subcommand("inresv", "MHIOCGRP_INRESV: reservations (READ RESERVATION)");
  inresv->add_option("--listsize", listsize, "capacity of the list");
  auto* reg = app.add_subcommand("register", "MHIOCGRP_REGISTER: register/change/unregister a key");
  reg->add_option("--oldkey", oldkey, "current key (0: not registered)");
  reg->add_option("--newkey", newkey, "new key (0: unregister)");
  reg->add_flag("--aptpl", aptpl, "persist through power loss");
  auto* reserve = app.add_subcommand("reserve", "MHIOCGRP_RESERVE: PR RESERVE");
  reserve->add_option("--key", k, "this host's key")->required();
  reserve->add_option("--type", type, "we, ea, we-ro, ea-ro (or 1, 3, 5, 6)");
  auto* pa = app.add_subcommand("preemptandabort", "MHIOCGRP_PREEMPTANDABORT: PREEMPT AND ABORT another key");
  auto* pre = app.add_subcommand("preempt", "MHIOCGRP_PREEMPT: PREEMPT another key");
  for (auto* c : {pa, pre}) {
    c->add_option("--key", k, "this host's key")->required();
    c->add_option("--victim", victim, "the key to preempt")->required();
    c->add_option("--type", type, "the reservation type afterwards");
  }
  auto* clear = app.add_subcommand("clear", "MHIOCGRP_CLEAR: remove every registration and the reservation");
  clear->add_option("--key", k, "this host's key")->required();
  auto* riek = app.add_subcommand("registerandignorekey", "MHIOCGRP_REGISTERANDIGNOREKEY: register, ignoring any key");
  riek->add_option("--newkey", newkey, "new key (0: unregister)")->required();
  riek->add_flag("--aptpl", aptpl, "persist through power loss");
  CLI11_PARSE(app, argc, argv);

  auto logger = spdlog::stderr_color_mt("mhdadm");
  logger->set_level(g_opt.verbose ? spdlog::level::info : spdlog::level::err);
  spdlog::set_default_logger(logger);

  mhd_handle_t* h = open_disk();
  mhd_set_failfast_handler(h, on_failfast, nullptr);
  auto enable_failfast = [&] {
    if (failfast) request(h, MHIOCENFAILFAST, &failfast);
  };

  if (*tkown) {
    enable_failfast();
    mhioctkown t{reinstate, min_delay, max_delay};
    request(h, MHIOCTKOWN, &t);
    done(h, {{"ok", true}, {"request", "MHIOCTKOWN"}}, "owned", hold_flag);
  } else if (*release) {
    request(h, MHIOCRELEASE, nullptr);
    done(h, {{"ok", true}, {"request", "MHIOCRELEASE"}}, "released", false);
  } else if (*status) {
    int rc = mhd_ioctl(h, MHIOCSTATUS, nullptr);
    if (rc < 0) die("MHIOCSTATUS", errno, h);
    done(h, {{"ok", true}, {"request", "MHIOCSTATUS"}, {"status", rc}},
         rc == 0 ? "0 (this host has access)" : "1 (reserved by another host)", false);
  } else if (*qreserve) {
    enable_failfast();
    request(h, MHIOCQRESERVE, nullptr);
    done(h, {{"ok", true}, {"request", "MHIOCQRESERVE"}}, "reserved", hold_flag);
  } else if (*enff) {
    request(h, MHIOCENFAILFAST, &failfast);
    done(h, {{"ok", true}, {"request", "MHIOCENFAILFAST"}, {"ms", failfast}},
         failfast ? "failfast on" : "failfast off", hold_flag);
  } else if (*inkeys) {
    std::vector<mhioc_resv_key_t> list(listsize);
    mhioc_key_list_t li{listsize, 0, list.data()};
    mhioc_inkeys_t in{0, &li};
    request(h, MHIOCGRP_INKEYS, &in);
    json keys = json::array();
    std::string text = "generation " + std::to_string(in.generation) + ", " + std::to_string(li.listlen) + " key(s)";
    for (uint32_t i = 0; i < std::min(li.listlen, listsize); ++i) {
      keys.push_back(key_text(list[i]));
      text += "\n  " + key_text(list[i]);
    }
    if (li.listlen > listsize) text += "\n  (" + std::to_string(li.listlen - listsize) + " more: use --listsize)";
    done(h, {{"ok", true}, {"request", "MHIOCGRP_INKEYS"}, {"generation", in.generation}, {"listlen", li.listlen},
             {"keys", keys}},
         text, false);
  } else if (*inresv) {
    std::vector<mhioc_resv_desc_t> list(listsize);
    mhioc_resv_desc_list_t li{listsize, 0, list.data()};
    mhioc_inresvs_t in{0, &li};
    request(h, MHIOCGRP_INRESV, &in);
    json rs = json::array();
    std::string text = "generation " + std::to_string(in.generation) + ", " + std::to_string(li.listlen) +
                       " reservation(s)";
    for (uint32_t i = 0; i < std::min(li.listlen, listsize); ++i) {
      rs.push_back({{"key", key_text(list[i].key)},
                    {"type", list[i].type},
                    {"type_name", type_name(list[i].type)},
                    {"scope", list[i].scope}});
      text += "\n  " + key_text(list[i].key) + " type " + std::to_string(list[i].type) + " (" +
              type_name(list[i].type) + ") scope " + std::to_string(list[i].scope);
    }
    done(h, {{"ok", true}, {"request", "MHIOCGRP_INRESV"}, {"generation", in.generation}, {"listlen", li.listlen},
             {"reservations", rs}},
         text, false);
  } else if (*reg) {
    mhioc_register_t r{key(parse_key(oldkey)), key(parse_key(newkey)), aptpl ? B_TRUE : B_FALSE};
    request(h, MHIOCGRP_REGISTER, &r);
    done(h, {{"ok", true}, {"request", "MHIOCGRP_REGISTER"}}, "registered", false);
  } else if (*reserve) {
    mhioc_resv_desc_t d{key(parse_key(k)), parse_type(type), SCSI3_SCOPE_LOGICALUNIT, 0};
    request(h, MHIOCGRP_RESERVE, &d);
    done(h, {{"ok", true}, {"request", "MHIOCGRP_RESERVE"}}, "reserved", false);
  } else if (*pa || *pre) {
    int req = *pa ? MHIOCGRP_PREEMPTANDABORT : MHIOCGRP_PREEMPT;
    mhioc_preemptandabort_t p{{key(parse_key(k)), parse_type(type), SCSI3_SCOPE_LOGICALUNIT, 0},
                              key(parse_key(victim))};
    request(h, req, &p);
    done(h, {{"ok", true}, {"request", mhd_request_name(req)}}, "preempted", false);
  } else if (*clear) {
    mhioc_resv_key_t ck = key(parse_key(k));
    request(h, MHIOCGRP_CLEAR, &ck);
    done(h, {{"ok", true}, {"request", "MHIOCGRP_CLEAR"}}, "cleared", false);
  } else if (*riek) {
    mhioc_registerandignorekey_t r{key(parse_key(newkey)), aptpl ? B_TRUE : B_FALSE};
    request(h, MHIOCGRP_REGISTERANDIGNOREKEY, &r);
    done(h, {{"ok", true}, {"request", "MHIOCGRP_REGISTERANDIGNOREKEY"}}, "registered", false);
  }
  return 0;
}
