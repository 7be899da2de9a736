#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>

#include "core/guid.h"
#include "tools/stmfadm/stmfadm.h"

namespace stmfadm {

std::string error_line(const Status& s) {
  std::string line = "stmfadm: " + (s.message.empty() ? std::string("operation failed") : s.message);
  // One line, whatever the daemon sent.
  std::replace(line.begin(), line.end(), '\n', ' ');
  auto name = stmf::mgmt::status_name(s.code);
  if (!name.empty())
    line += " (" + std::string(name) + ")";
  else
    line += " (status " + std::to_string(s.code) + ")";
  return line;
}

stmf::mgmt::Client& Ctx::client() {
  if (!client_)
    client_ = socket.empty() ? std::make_unique<stmf::mgmt::Client>()
                             : std::make_unique<stmf::mgmt::Client>(socket);
  return *client_;
}

static json strip(const json& response) {
  json r = json::object();
  for (auto it = response.begin(); it != response.end(); ++it)
    if (it.key() != "v" && it.key() != "status" && it.key() != "error" && it.key() != "message")
      r[it.key()] = it.value();
  return r;
}

json Ctx::call(const std::string& op, const json& args) {
  json response;
  Status s = client().call(op, args, response);
  if (!s.ok()) throw OpError(s);
  return strip(response);
}

std::optional<json> Ctx::try_call(const std::string& op, const json& args) {
  json response;
  Status s = client().call(op, args, response);
  if (s.code == STMF_ERROR_SERVICE_NOT_FOUND) throw OpError(s);  // nothing else will work
  if (!s.ok()) {
    fail(s);
    return std::nullopt;
  }
  return strip(response);
}

void Ctx::fail(const Status& s) {
  std::cerr << error_line(s) << std::endl;
  ++failures;
}

void Ctx::fail(const std::string& message) {
  std::cerr << "stmfadm: " << message << std::endl;
  ++failures;
}

void Ctx::print_json(const json& result) const { std::cout << result.dump() << "\n"; }

uint64_t size_arg(const std::string& s) {
  auto v = stmf::mgmt::parse_size(s, stmf::mgmt::kStmfadmSizes);
  if (!v) throw UsageError("malformed size '" + s + "' (examples: 1g, 512m, 10GiB, 1048576)");
  return *v;
}

static bool all_hex(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c); });
}

std::string guid_arg(const std::string& s) {
  auto g = stmf::parse_guid(s);
  if (!g) throw UsageError(s + ": LU name must be 32 hexadecimal digits");
  return stmf::guid_hex(*g);
}

bool iequals(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

bool bool_arg(const std::string& key, const std::string& v) {
  for (const char* t : {"true", "yes", "on", "1"})
    if (iequals(v, t)) return true;
  for (const char* f : {"false", "no", "off", "0"})
    if (iequals(v, f)) return false;
  throw UsageError(key + ": expected true or false, got '" + v + "'");
}

std::pair<std::string, std::string> prop_arg(const std::string& s) {
  auto eq = s.find('=');
  if (eq == std::string::npos || eq == 0) throw UsageError("property '" + s + "' is not of the form name=value");
  std::string key = s.substr(0, eq);
  for (auto& c : key) c = char(std::tolower(static_cast<unsigned char>(c)));
  return {key, s.substr(eq + 1)};
}

std::pair<std::string, uint16_t> portal_arg(const std::string& s) {
  std::string host, port;
  if (!s.empty() && s[0] == '[') {
    auto close = s.find(']');
    if (close == std::string::npos) throw UsageError("malformed portal '" + s + "'");
    host = s.substr(1, close - 1);
    std::string rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') throw UsageError("malformed portal '" + s + "'");
      port = rest.substr(1);
    }
  } else if (std::count(s.begin(), s.end(), ':') == 1) {
    auto colon = s.find(':');
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (port.empty()) throw UsageError("malformed portal '" + s + "': no port after ':'");
  } else {
    host = s;  // an IPv6 literal without a port, or a host without one
  }
  if (host.empty()) throw UsageError("malformed portal '" + s + "': no address");
  uint16_t p = 3260;
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); }))
      throw UsageError("malformed port '" + port + "' in portal '" + s + "'");
    unsigned long v = std::stoul(port);
    if (v == 0 || v > 65535) throw UsageError("port " + port + " out of range (1-65535)");
    p = uint16_t(v);
  }
  return {host, p};
}

std::string portal_string(const std::string& host, int port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::string abs_path(const std::string& p) {
  if (p.empty()) throw UsageError("empty file name");
  std::error_code ec;
  auto a = std::filesystem::absolute(p, ec);
  if (ec) throw UsageError(p + ": " + ec.message());
  return a.lexically_normal().string();
}

std::string read_secret_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError(path + ": cannot read the secret file");
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  if (line.empty()) throw UsageError(path + ": the secret file is empty");
  return line;
}

std::string make_guid(const std::string& oui_in, const std::string& host_id_in) {
  std::string oui = oui_in.empty() ? "00144F" : oui_in;
  if (oui.size() != 6 || !all_hex(oui)) throw UsageError("oui: must be 6 hexadecimal digits");
  std::string host = host_id_in;
  if (host.empty()) {
    char buf[9];
    std::snprintf(buf, sizeof buf, "%08lX", static_cast<unsigned long>(gethostid()) & 0xffffffffUL);
    host = buf;
  }
  if (host.size() != 8 || !all_hex(host)) throw UsageError("host-id: must be 8 hexadecimal digits");
  // NAA 6: "6" + company id (6 hex) + vendor specific (25 hex): host id, time, random.
  auto now = std::chrono::system_clock::now().time_since_epoch();
  unsigned long secs = static_cast<unsigned long>(std::chrono::duration_cast<std::chrono::seconds>(now).count());
  std::random_device rd;
  uint64_t rnd = (uint64_t(rd()) << 32) | rd();
  char buf[64];
  std::snprintf(buf, sizeof buf, "6%s%s%08lX%09llX", oui.c_str(), host.c_str(), secs & 0xffffffffUL,
                static_cast<unsigned long long>(rnd & 0xfffffffffULL));
  std::string g = buf;
  for (auto& c : g) c = char(std::toupper(static_cast<unsigned char>(c)));
  return g;
}

std::string logged_in_since(const json& s) {
  if (!s.contains("creation_time") || !s["creation_time"].is_number()) return "unknown";
  std::time_t t = s["creation_time"].get<std::time_t>();
  char buf[64];
  std::tm tm{};
  if (!localtime_r(&t, &tm) || !std::strftime(buf, sizeof buf, "%a %b %e %H:%M:%S %Y", &tm)) return "unknown";
  return buf;
}

}  // namespace stmfadm
