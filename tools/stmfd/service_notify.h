// stmfd's side of the service manager's notification protocol (sd_notify(3), libsystemd;
// docs/install.md "The service"): READY=1 once the portals and the management socket listen,
// STOPPING=1 when a shutdown begins, and WATCHDOG=1 from the I/O io_context every half of the
// unit's WatchdogSec, so that an I/O loop that stops turning stops the pings. Without
// $NOTIFY_SOCKET (not run by systemd's Type=notify) every call does nothing.
#pragma once
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <string>

namespace stmfd {

class ServiceNotifier {
 public:
  // `io`: the context whose liveness the watchdog pings vouch for (the I/O threads').
  explicit ServiceNotifier(boost::asio::io_context& io);
  ServiceNotifier(const ServiceNotifier&) = delete;
  ServiceNotifier& operator=(const ServiceNotifier&) = delete;

  // READY=1 with STATUS=status; starts the watchdog pings when the unit asks for them.
  void ready(const std::string& status);
  // STOPPING=1 with STATUS=status; the pings go on until the io_context stops.
  void stopping(const std::string& status);

 private:
  void ping();

  boost::asio::steady_timer timer_;
  std::chrono::microseconds interval_{0};
};

}  // namespace stmfd
