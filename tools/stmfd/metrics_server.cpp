#include "tools/stmfd/metrics_server.h"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>

#include "core/log.h"

namespace stmfd {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using asio::ip::tcp;

namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = stmf::logger("metrics");
  return l;
}

constexpr const char* kMetricsPath = "/metrics";
constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace

MetricsServer::MetricsServer(stmf::mgmt::MetricsConfig cfg, std::function<std::string()> render)
    : cfg_(std::move(cfg)), render_(std::move(render)) {}

MetricsServer::~MetricsServer() { stop(); }

bool MetricsServer::start(std::string& why) {
  const auto colon = cfg_.listen.rfind(':');
  if (colon == std::string::npos) {
    why = "metrics.listen " + cfg_.listen + ": expected host:port";
    return false;
  }
  std::string host = cfg_.listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) {
    why = "metrics.listen " + cfg_.listen + ": not an IP address";
    return false;
  }
  const int port = std::atoi(cfg_.listen.c_str() + colon + 1);
  tcp::endpoint ep(addr, uint16_t(port));
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    why = "metrics.listen " + cfg_.listen + ": " + ec.message();
    return false;
  }
  port_ = acceptor_.local_endpoint().port();
  asio::co_spawn(io_, accept_loop(), asio::detached);
  thread_ = std::thread([this] { io_.run(); });
  log()->info("metrics endpoint on http://{}:{}{} (at most {} connection(s))", host, port_, kMetricsPath, cfg_.max_connections);
  return true;
}

void MetricsServer::stop() {
  if (!thread_.joinable()) return;
  io_.stop();
  thread_.join();
}

awaitable<void> MetricsServer::accept_loop() {
  for (;;) {
    auto [ec, s] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      // Out of descriptors and the like: wait a little rather than spin.
      asio::steady_timer t(io_, std::chrono::milliseconds(100));
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    if (open_ >= cfg_.max_connections) {
      boost::system::error_code ignored;
      s.close(ignored);  // over the limit: closed at once, nothing read
      continue;
    }
    ++open_;
    asio::co_spawn(io_, serve(std::move(s)), [this](std::exception_ptr) { --open_; });
  }
}

awaitable<void> MetricsServer::serve(tcp::socket s) {
  beast::tcp_stream stream(std::move(s));
  stream.expires_after(std::chrono::milliseconds(cfg_.timeout_ms));  // the whole exchange
  beast::flat_buffer buf(kMaxRequestBytes);
  http::request_parser<http::empty_body> parser;
  parser.header_limit(kMaxRequestBytes);
  parser.body_limit(0);
  auto [rec, n] = co_await http::async_read(stream, buf, parser, asio::as_tuple(asio::use_awaitable));
  if (rec) co_return;  // timeout, too large, malformed, closed: nothing to answer
  const auto& req = parser.get();
  http::response<http::string_body> res;
  res.version(req.version());
  res.keep_alive(false);
  std::string_view target(req.target().data(), req.target().size());
  target = target.substr(0, target.find('?'));
  if (target != kMetricsPath) {
    res.result(http::status::not_found);
    res.set(http::field::content_type, "text/plain");
    res.body() = "not found: only GET /metrics\n";
  } else if (req.method() != http::verb::get && req.method() != http::verb::head) {
    res.result(http::status::method_not_allowed);
    res.set(http::field::allow, "GET, HEAD");
    res.set(http::field::content_type, "text/plain");
    res.body() = "method not allowed\n";
  } else {
    res.result(http::status::ok);
    res.set(http::field::content_type, kContentType);
    res.body() = render_();
    if (req.method() == http::verb::head) {
      res.content_length(res.body().size());
      res.body().clear();
    }
  }
  if (res.result() != http::status::ok || req.method() != http::verb::head) res.prepare_payload();
  auto [wec, w] = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

}  // namespace stmfd
