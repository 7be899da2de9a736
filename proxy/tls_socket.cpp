#include "proxy/tls_socket.h"

#include <openssl/err.h>

namespace stmf::proxy {

namespace asio = boost::asio;

namespace {
// OpenSSL reads ahead up to this much from the socket at once (one system call for many records).
constexpr long kReadAhead = 256 * 1024;
}  // namespace

TlsSocket::TlsSocket(asio::ip::tcp::socket socket, asio::ssl::context& ctx) : socket_(std::move(socket)) {
  boost::system::error_code ec;
  socket_.non_blocking(true, ec);
  ssl_ = SSL_new(ctx.native_handle());
  if (!ssl_) return;  // every call fails (handshake reports it)
  BIO* rbio = BIO_new_socket(int(socket_.native_handle()), BIO_NOCLOSE);
  wbio_ = BIO_new(BIO_s_mem());
  if (!rbio || !wbio_) {
    BIO_free(rbio);
    BIO_free(wbio_);
    wbio_ = nullptr;
    SSL_free(ssl_);
    ssl_ = nullptr;
    return;
  }
  SSL_set_bio(ssl_, rbio, wbio_);  // the SSL object owns both
  SSL_set_mode(ssl_, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_set_read_ahead(ssl_, 1);
  SSL_set_default_read_buffer_len(ssl_, size_t(kReadAhead));
}

TlsSocket::TlsSocket(TlsSocket&& o) noexcept
    : socket_(std::move(o.socket_)), ssl_(o.ssl_), wbio_(o.wbio_), out_(std::move(o.out_)) {
  o.ssl_ = nullptr;
  o.wbio_ = nullptr;
}

TlsSocket::~TlsSocket() {
  if (ssl_) SSL_free(ssl_);  // closes nothing: the socket closes itself
}

TlsSocket::Step TlsSocket::classify(int ret, boost::system::error_code& ec) {
  if (ret == 1) return Step::done;
  switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_WANT_READ: return Step::want_read;
    case SSL_ERROR_WANT_WRITE: return Step::want_write;
    case SSL_ERROR_ZERO_RETURN:
      ec = asio::error::eof;
      return Step::failed;
    case SSL_ERROR_SYSCALL: {
      const unsigned long e = ERR_get_error();
      if (e) ec = boost::system::error_code(int(e), asio::error::get_ssl_category());
      else if (errno) ec = boost::system::error_code(errno, boost::system::system_category());
      else ec = asio::error::eof;  // closed without close_notify
      ERR_clear_error();
      return Step::failed;
    }
    default: {
      const unsigned long e = ERR_get_error();
      ec = boost::system::error_code(e ? int(e) : SSL_R_UNEXPECTED_MESSAGE, asio::error::get_ssl_category());
      ERR_clear_error();
      return Step::failed;
    }
  }
}

void TlsSocket::wait(Step s, std::function<void(boost::system::error_code)> again) {
  socket_.async_wait(s == Step::want_read ? asio::socket_base::wait_read : asio::socket_base::wait_write, std::move(again));
}

void TlsSocket::async_handshake(TlsRole role, std::function<void(boost::system::error_code)> h) {
  if (!ssl_) {
    asio::post(socket_.get_executor(), [h] { h(asio::error::no_memory); });
    return;
  }
  if (role == TlsRole::client) SSL_set_connect_state(ssl_);
  else SSL_set_accept_state(ssl_);
  handshake_step(std::move(h));
}

void TlsSocket::handshake_step(std::function<void(boost::system::error_code)> h) {
  ERR_clear_error();
  errno = 0;
  boost::system::error_code ec;
  const Step s = classify(SSL_do_handshake(ssl_), ec);
  // What this step produced (our flight, or an alert) goes out first.
  flush([this, h, s, ec](boost::system::error_code fe) {
    if (s == Step::failed) return h(ec);
    if (fe) return h(fe);
    if (s == Step::done) return h({});
    if (s == Step::want_write) return handshake_step(h);  // the memory BIO never blocks
    wait(s, [this, h](boost::system::error_code e) {
      if (e) return h(e);
      handshake_step(h);
    });
  });
}

void TlsSocket::async_read_some(asio::mutable_buffer b, Handler h) {
  if (!ssl_) {
    asio::post(socket_.get_executor(), [h] { h(asio::error::no_memory, 0); });
    return;
  }
  read_step(b, std::move(h));
}

void TlsSocket::read_step(asio::mutable_buffer b, Handler h) {
  ERR_clear_error();
  errno = 0;
  size_t n = 0;
  boost::system::error_code ec;
  const Step s = classify(SSL_read_ex(ssl_, b.data(), b.size(), &n), ec);
  if (s == Step::done) {
    // More records already read ahead: take them too (one completion for many records).
    auto* p = static_cast<uint8_t*>(b.data());
    size_t m = 0;
    while (n < b.size() && SSL_has_pending(ssl_) && SSL_read_ex(ssl_, p + n, b.size() - n, &m) == 1) n += m;
    ERR_clear_error();
  }
  if (s == Step::done || s == Step::failed) {
    asio::post(socket_.get_executor(), [h, ec, n] { h(ec, n); });
    return;
  }
  wait(s, [this, b, h](boost::system::error_code e) {
    if (e) return h(e, 0);
    read_step(b, h);
  });
}

void TlsSocket::async_write_all(asio::const_buffer b, Handler h) {
  if (!ssl_) {
    asio::post(socket_.get_executor(), [h] { h(asio::error::no_memory, 0); });
    return;
  }
  write_step(b, 0, std::move(h));
}

void TlsSocket::write_step(asio::const_buffer b, size_t, Handler h) {
  // The memory BIO takes everything: one call encrypts the whole buffer.
  ERR_clear_error();
  errno = 0;
  size_t n = 0;
  boost::system::error_code ec;
  const Step s = classify(SSL_write_ex(ssl_, b.data(), b.size(), &n), ec);
  if (s != Step::done) {
    if (!ec) ec = asio::error::fault;  // want_read/want_write cannot happen on a memory BIO
    asio::post(socket_.get_executor(), [h, ec] { h(ec, 0); });
    return;
  }
  flush([h, n](boost::system::error_code fe) { h(fe, fe ? 0 : n); });
}

void TlsSocket::flush(std::function<void(boost::system::error_code)> h) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(wbio_, &data);
  if (len <= 0) {
    asio::post(socket_.get_executor(), [h] { h({}); });
    return;
  }
  // Copied out: a read may make OpenSSL write into the BIO (an alert) while this is in flight.
  out_.assign(data, data + len);
  (void)BIO_reset(wbio_);
  asio::async_write(socket_, asio::buffer(out_), [h](boost::system::error_code ec, size_t) { h(ec); });
}

}  // namespace stmf::proxy
