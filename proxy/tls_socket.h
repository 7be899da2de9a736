// A TLS connection driven by OpenSSL directly on the socket (a socket BIO), for the direct peer
// link's carrier (proxy/tcp_carrier.h). Asio's ssl::stream moves every byte through a memory
// BIO pair in 17 KiB pieces and completes every record through the reactor; here OpenSSL reads
// ahead as much as the socket holds and writes straight to it, and Asio only waits for the
// socket to become readable or writable. About the cost of TLS: docs/benchmark.md.
//
// Writes: each buffer is encrypted in one call into a sink BIO (a vector) and the records of
// all of them leave in one socket write. Reads: straight from the socket, with read-ahead.
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
  // All of `b` (in order, each buffer its own records).
  void async_write_all(boost::asio::const_buffer b, Handler h);
  void async_write_all(std::vector<boost::asio::const_buffer> bufs, Handler h);

 private:
  // One OpenSSL call's outcome: done (ok), or wait for the socket and call again, or failed.
  enum class Step { done, want_read, want_write, failed };
  Step classify(int ret, boost::system::error_code& ec);
  void wait(Step s, std::function<void(boost::system::error_code)> again);
  void handshake_step(std::function<void(boost::system::error_code)> h);
  void read_step(boost::asio::mutable_buffer b, Handler h);
  // Writes what OpenSSL put in the write BIO (records, handshake messages) to the socket, then `h`.
  void flush(std::function<void(boost::system::error_code)> h);

  boost::asio::ip::tcp::socket socket_;
  SSL* ssl_ = nullptr;
  // The write BIO (owned by ssl_) appends OpenSSL's output to out_[fill_]; flush() sends that
  // vector and switches the BIO to the other one, so nothing is copied or cleared in between.
  BIO* wbio_ = nullptr;
  std::vector<uint8_t> out_[2];
  int fill_ = 0;
  bool sending_ = false;
};

}  // namespace stmf::proxy
