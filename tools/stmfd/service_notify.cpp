#include "tools/stmfd/service_notify.h"

#include <systemd/sd-daemon.h>

#include <cstdint>
#include <cstring>

#include "core/log.h"

namespace stmfd {
namespace {

std::shared_ptr<spdlog::logger> log() {
  static const auto l = stmf::logger("service");
  return l;
}

// Send one notification; a failure is logged (the unit will time out or restart us), never fatal.
void notify(const std::string& state) {
  const int r = ::sd_notify(0, state.c_str());
  if (r < 0) log()->warn("sd_notify {}: {}", state.substr(0, state.find('\n')), std::strerror(-r));
}

}  // namespace

ServiceNotifier::ServiceNotifier(boost::asio::io_context& io) : timer_(io) {
  uint64_t usec = 0;
  if (::sd_watchdog_enabled(0, &usec) > 0 && usec > 0) interval_ = std::chrono::microseconds(usec / 2);
}

void ServiceNotifier::ready(const std::string& status) {
  notify("READY=1\nSTATUS=" + status);
  if (interval_.count() > 0) {
    log()->info("watchdog: pinging every {} ms", interval_.count() / 1000);
    ping();
  }
}

void ServiceNotifier::stopping(const std::string& status) { notify("STOPPING=1\nSTATUS=" + status); }

void ServiceNotifier::ping() {
  notify("WATCHDOG=1");
  timer_.expires_after(interval_);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) ping();
  });
}

}  // namespace stmfd
