// A TLS connection driven by OpenSSL directly on the socket (a socket BIO), for the direct peer
// link's carrier (proxy/tcp_carrier.h). Asio's ssl::stream moves every byte through a memory
// BIO pair in 17 KiB pieces and completes every record through the reactor; here OpenSSL reads
// ahead as much as the socket holds and writes straight to it, and Asio only waits for the
// socket to become readable or writable. About the cost of TLS: docs/benchmark.md.
//
// Writes: the whole buffer is encrypted in one call into a memory BIO and its records leave in
// one socket write. Reads: straight from the socket, with read-ahead.
//
// The interface is the part of an Asio stream the carrier and the handshake use. One read and
// one write may be in flight at once; everything runs on the socket's executor (one thread),
// so OpenSSL is never entered concurrently. Completions are always posted, never run inline.
#pragma once
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <functional>
#include <vector>

#include "proxy/tls.h"

namespace stmf::proxy {

class TlsSocket {
 public:
  using executor_type = boost::asio::any_io_executor;
  using Handler = std::function<void(boost::system::error_code, size_t)>;

  TlsSocket(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& ctx);
  TlsSocket(TlsSocket&& o) noexcept;
  TlsSocket& operator=(TlsSocket&&) = delete;
  ~TlsSocket();

  executor_type get_executor() { return socket_.get_executor(); }
  boost::asio::ip::tcp::socket& lowest_layer() { return socket_; }
  SSL* native_handle() { return ssl_; }

  void async_handshake(TlsRole role, std::function<void(boost::system::error_code)> h);
  // Some bytes (at least one) into `b`; eof when the peer closed.
  void async_read_some(boost::asio::mutable_buffer b, Handler h);
  // All of `b`.
  void async_write_all(boost::asio::const_buffer b, Handler h);

 private:
  // One OpenSSL call's outcome: done (ok), or wait for the socket and call again, or failed.
  enum class Step { done, want_read, want_write, failed };
  Step classify(int ret, boost::system::error_code& ec);
  void wait(Step s, std::function<void(boost::system::error_code)> again);
  void handshake_step(std::function<void(boost::system::error_code)> h);
  void read_step(boost::asio::mutable_buffer b, Handler h);
  void write_step(boost::asio::const_buffer b, size_t done, Handler h);
  // Writes what OpenSSL put in the write BIO (records, handshake messages) to the socket, then `h`.
  void flush(std::function<void(boost::system::error_code)> h);

  boost::asio::ip::tcp::socket socket_;
  SSL* ssl_ = nullptr;
  BIO* wbio_ = nullptr;          // memory BIO: OpenSSL encrypts a whole buffer into it at once
  std::vector<uint8_t> out_;     // what flush() is writing
};

}  // namespace stmf::proxy
