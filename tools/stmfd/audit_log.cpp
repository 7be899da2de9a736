#include "tools/stmfd/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/syslog_sink.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <filesystem>

#include "core/log.h"

namespace stmfd {

using nlohmann::json;

namespace {

// The audit file is readable by the daemon's user and group only.
constexpr mode_t kAuditFileMode = 0640;

std::string utc_now() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, int(ms));
  return buf;
}

bool secret_name(std::string k) {
  std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return k.find("secret") != std::string::npos || k.find("password") != std::string::npos;
}

}  // namespace

json redact_secrets(json j) {
  if (j.is_object()) {
    for (auto& [k, v] : j.items()) v = secret_name(k) ? json("***") : redact_secrets(std::move(v));
  } else if (j.is_array()) {
    for (auto& v : j) v = redact_secrets(std::move(v));
  }
  return j;
}

bool AuditLog::open(const stmf::mgmt::AuditConfig& c, const std::string& state_dir, std::string& why) {
  std::vector<spdlog::sink_ptr> sinks;
  path_ = !c.file.empty() ? c.file : !state_dir.empty() ? (std::filesystem::path(state_dir) / "audit.log").string() : "";
  try {
    if (!path_.empty()) {
      // Every file it opens (the first, and the new one after each rotation) gets the audit
      // mode (spdlog would create it with the umask's).
      spdlog::file_event_handlers handlers;
      handlers.after_open = [](const spdlog::filename_t&, std::FILE* f) { ::fchmod(::fileno(f), kAuditFileMode); };
      sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(path_, size_t(c.max_bytes), size_t(c.max_files),
                                                                             false, handlers));
    }
    if (c.syslog) sinks.push_back(std::make_shared<spdlog::sinks::syslog_sink_mt>("stmfd-audit", LOG_PID, LOG_AUTHPRIV, false));
  } catch (const spdlog::spdlog_ex& e) {
    why = "audit log " + path_ + ": " + e.what();
    return false;
  }
  if (sinks.empty()) {
    // Nowhere of its own (no state directory, no file, no syslog): the daemon's log.
    logger_ = stmf::logger("audit");
  } else {
    logger_ = std::make_shared<spdlog::logger>("audit", sinks.begin(), sinks.end());
    logger_->set_pattern("%v");
  }
  logger_->set_level(spdlog::level::info);
  logger_->flush_on(spdlog::level::info);  // each line reaches the file at once
  return true;
}

void AuditLog::write(const std::string& category, const std::string& action, const json& who, const json& what,
                     const std::string& result, const std::string& message) noexcept {
  if (!logger_) return;
  try {
    nlohmann::ordered_json line;
    line["time"] = utc_now();
    line["category"] = category;
    line["action"] = action;
    line["who"] = who.is_object() ? who : json::object();
    line["what"] = what.is_object() ? what : json::object();
    line["result"] = result;
    if (!message.empty()) line["message"] = message;
    logger_->info("{}", line.dump(-1, ' ', false, json::error_handler_t::replace));
  } catch (...) {
    // An audit line that cannot be built is dropped; the operation it describes is not undone.
  }
}

void AuditLog::record(const stmf::AuditEvent& e) noexcept {
  try {
    json who = json::object(), what = json::object();
    for (auto& [k, v] : e.who) who[k] = v;
    for (auto& [k, v] : e.what) what[k] = v;
    write(e.category, e.action, who, what, e.result);
  } catch (...) {
  }
}

}  // namespace stmfd
