// stmfproxy: the proxy relay of an ALUA pair whose stmfd nodes use "carrier": "door"
// (docs/stmfproxy.md). It installs a door in its stmfd (stmfInitProxyDoor), links with the peer
// node's stmfproxy over TCP, and moves proxy frames between the two. Unlike COMSTAR's demo
// stmfproxy it never exits on a lost link or a restarted stmfd: it reconnects and reinstalls.
// SIGTERM/SIGINT destroy the door and exit 0.
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/asio.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "mgmt/protocol.h"
#include "tools/stmfproxy/endpoint.h"
#include "tools/stmfproxy/relay.h"
#include "tools/stmfproxy/stmf_worker.h"
#include "tools/common/journal_log.h"

namespace asio = boost::asio;

int main(int argc, char** argv) {
  CLI::App app{"stmfproxy - proxy relay between the stmfd nodes of an ALUA pair (door carrier)"};
  std::string socket_path, listen, connect, log_level = "info";
  uint32_t node = 0;
  uint32_t retry_ms = 1000;
  app.add_option("--socket", socket_path, "stmfd's management socket (default: $STMFD_SOCKET, else as libstmf)");
  auto* l = app.add_option("--listen", listen, "accept the peer relay on HOST:PORT");
  auto* c = app.add_option("--connect", connect, "connect to the peer relay at HOST:PORT");
  l->excludes(c);
  c->excludes(l);
  auto* n = app.add_option("--node", node, "after each door install, call stmfSetAluaState(B_TRUE, N)")
                ->check(CLI::Range(0, 1));
  app.add_option("--retry-ms", retry_ms, "reconnect and reinstall interval in milliseconds")
      ->check(CLI::Range(10u, 3600000u))
      ->capture_default_str();
  stmf::proxy::TlsSettings tls;
  bool insecure = false;
  uint32_t handshake_timeout_ms = 5000;
  app.add_option("--tls-cert", tls.cert, "this relay's certificate (PEM) for the TLS link to the peer relay");
  app.add_option("--tls-key", tls.key, "its private key (PEM)");
  app.add_option("--tls-peer-cert", tls.peer_cert, "the peer relay's certificate (PEM): only it is accepted (pinning)");
  app.add_option("--tls-ca", tls.ca, "or: accept a peer relay certificate signed by this CA (PEM)");
  app.add_flag("--insecure", insecure, "link to the peer relay over plain TCP (no TLS): anyone who reaches it can forge frames");
  app.add_option("--handshake-timeout-ms", handshake_timeout_ms, "a new connection's TLS handshake must end within this")
      ->check(CLI::Range(100u, 600000u))
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|critical|off")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (listen.empty() == connect.empty()) {
    std::fprintf(stderr, "stmfproxy: exactly one of --listen HOST:PORT or --connect HOST:PORT is needed\n");
    return 2;
  }
  if (tls.enabled() == insecure) {
    std::fprintf(stderr, "stmfproxy: the link to the peer relay needs TLS (--tls-cert, --tls-key and --tls-peer-cert or "
                         "--tls-ca; scripts/pair-keys.sh makes them) or, for plain TCP, --insecure (not both)\n");
    return 2;
  }
  if (tls.enabled() && (tls.key.empty() || tls.peer_cert.empty() == tls.ca.empty())) {
    std::fprintf(stderr, "stmfproxy: --tls-cert needs --tls-key and exactly one of --tls-peer-cert or --tls-ca\n");
    return 2;
  }
  auto ep = stmfproxy::parse_endpoint(listen.empty() ? connect : listen);
  if (!ep) {
    std::fprintf(stderr, "stmfproxy: %s: expected HOST:PORT (IPv6 as [ADDR]:PORT)\n", (listen.empty() ? connect : listen).c_str());
    return 2;
  }

  spdlog::set_default_logger(spdlog::stderr_color_mt("stmfproxy"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
  stmf::tools::log_to_journal_if_connected();
  const auto level = spdlog::level::from_str(log_level);
  if (level == spdlog::level::off && log_level != "off") {
    std::fprintf(stderr, "stmfproxy: --log-level %s: unknown level\n", log_level.c_str());
    return 2;
  }
  spdlog::set_level(level);

  // libstmf finds stmfd through $STMFD_SOCKET; set before any thread exists.
  if (!socket_path.empty()) ::setenv("STMFD_SOCKET", socket_path.c_str(), 1);
  std::signal(SIGPIPE, SIG_IGN);

  stmfproxy::Options o;
  o.socket_path = stmf::mgmt::default_socket_path(false);
  o.listen = !listen.empty();
  o.endpoint = *ep;
  if (*n) o.node = node;
  o.retry = std::chrono::milliseconds(retry_ms);
  o.tls = tls;
  o.insecure = insecure;
  o.handshake_timeout = std::chrono::milliseconds(handshake_timeout_ms);

  asio::io_context io(1);
  stmfproxy::StmfWorker worker;
  stmfproxy::Relay relay(io, worker, o);
  std::string why;
  if (!relay.start(why)) {
    spdlog::error("{}", why);
    worker.finish(std::chrono::seconds(5));
    return 1;
  }
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: shutting down", sig);
    relay.stop();
    io.stop();
  });
  io.run();
  // The door is destroyed by the worker (queued by stop()). A stmfd that does not answer is not
  // waited for: exiting closes the handle, and stmfd removes the door with it.
  if (!worker.finish(std::chrono::seconds(10))) {
    spdlog::warn("stmfd did not answer within 10 s: exiting without waiting (the door goes with the connection)");
    spdlog::shutdown();
    std::_Exit(0);
  }
  spdlog::info("stopped");
  return 0;
}
