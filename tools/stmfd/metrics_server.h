// The metrics endpoint (docs/metrics.md, config metrics.listen): HTTP/1.1 on Boost.Beast,
// GET /metrics answered with the Prometheus text exposition of a fresh StatsReport; any other
// path 404, any other method 405. Bounded: at most metrics.max_connections connections at once
// (more are closed on accept), a request of at most kMaxRequestBytes with no body, and
// metrics.timeout_ms for the whole exchange; one request per connection. Runs on a thread of
// its own, so a slow scraper never holds an I/O or management thread.
#pragma once
#include <boost/asio.hpp>

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "mgmt/config.h"

namespace stmfd {

class MetricsServer {
 public:
  static constexpr size_t kMaxRequestBytes = 8192;

  // `render` builds the response body (called on the server's thread).
  MetricsServer(stmf::mgmt::MetricsConfig cfg, std::function<std::string()> render);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Listens on cfg.listen ("host:port"; port 0: any free port) and starts the thread.
  bool start(std::string& why);
  void stop();
  uint16_t port() const { return port_; }  // the bound port (after start)

 private:
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket s);

  const stmf::mgmt::MetricsConfig cfg_;
  const std::function<std::string()> render_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_{io_};
  std::thread thread_;
  uint32_t open_ = 0;  // connections being served (server thread)
  uint16_t port_ = 0;
};

}  // namespace stmfd
