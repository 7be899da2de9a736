#include "proxy/tls_socket.h"

#include <openssl/err.h>

#include "common/write_all.h"

namespace stmf::proxy {

namespace asio = boost::asio;

namespace {
// OpenSSL reads ahead up to this much from the socket at once (one system call for many records).
constexpr long kReadAhead = 256 * 1024;
// An output vector keeps at most this much capacity between writes.
constexpr size_t kMaxKeptOutput = 4u << 20;

// A sink BIO appending to the std::vector<uint8_t> set as its data.
int vector_write(BIO* b, const char* data, size_t len, size_t* written) {
  auto* v = static_cast<std::vector<uint8_t>*>(BIO_get_data(b));
  v->insert(v->end(), reinterpret_cast<const uint8_t*>(data), reinterpret_cast<const uint8_t*>(data) + len);
  *written = len;
  return 1;
}
long vector_ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }
int vector_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}
BIO_METHOD* vector_bio() {
  static BIO_METHOD* m = [] {
    BIO_METHOD* x = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "stmf vector sink");
    BIO_meth_set_write_ex(x, vector_write);
    BIO_meth_set_ctrl(x, vector_ctrl);
    BIO_meth_set_create(x, vector_create);
    return x;
  }();
  return m;
}
}  // namespace

TlsSocket::TlsSocket(asio::ip::tcp::socket socket, asio::ssl::context& ctx) : socket_(std::move(socket)) {
  boost::system::error_code ec;
  socket_.non_blocking(true, ec);
  ssl_ = SSL_new(ctx.native_handle());
  if (!ssl_) return;  // every call fails (handshake reports it)
  BIO* rbio = BIO_new_socket(int(socket_.native_handle()), BIO_NOCLOSE);
  wbio_ = BIO_new(vector_bio());
  if (!rbio || !wbio_) {
    BIO_free(rbio);
    BIO_free(wbio_);
    wbio_ = nullptr;
    SSL_free(ssl_);
    ssl_ = nullptr;
    return;
  }
  BIO_set_data(wbio_, &out_[fill_]);
  SSL_set_bio(ssl_, rbio, wbio_);  // the SSL object owns both
  SSL_set_mode(ssl_, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_set_read_ahead(ssl_, 1);
  SSL_set_default_read_buffer_len(ssl_, size_t(kReadAhead));
}

TlsSocket::TlsSocket(TlsSocket&& o) noexcept
    : socket_(std::move(o.socket_)), ssl_(o.ssl_), wbio_(o.wbio_), fill_(o.fill_), sending_(o.sending_) {
  out_[0] = std::move(o.out_[0]);
  out_[1] = std::move(o.out_[1]);
  if (wbio_) BIO_set_data(wbio_, &out_[fill_]);  // moved only between operations
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
  async_write_all(std::vector<asio::const_buffer>{b}, std::move(h));
}

void TlsSocket::async_write_all(std::vector<asio::const_buffer> bufs, Handler h) {
  if (!ssl_) {
    asio::post(socket_.get_executor(), [h] { h(asio::error::no_memory, 0); });
    return;
  }
  // The memory BIO takes everything: each buffer is encrypted in one call, in order.
  size_t total = 0;
  for (auto& b : bufs) {
    ERR_clear_error();
    errno = 0;
    size_t n = 0;
    boost::system::error_code ec;
    if (b.size() && classify(SSL_write_ex(ssl_, b.data(), b.size(), &n), ec) != Step::done) {
      if (!ec) ec = asio::error::fault;  // want_read/want_write cannot happen on a memory BIO
      asio::post(socket_.get_executor(), [h, ec] { h(ec, 0); });
      return;
    }
    total += b.size();
  }
  flush([h, total](boost::system::error_code fe) { h(fe, fe ? 0 : total); });
}

void TlsSocket::flush(std::function<void(boost::system::error_code)> h) {
  if (out_[fill_].empty()) {
    asio::post(socket_.get_executor(), [h] { h({}); });
    return;
  }
  if (sending_) {  // callers serialize writes; never expected
    asio::post(socket_.get_executor(), [h] { h(asio::error::in_progress); });
    return;
  }
  // OpenSSL's next output (an alert a read may cause) goes to the other vector meanwhile.
  const int send = fill_;
  fill_ ^= 1;
  BIO_set_data(wbio_, &out_[fill_]);
  sending_ = true;
  asio::async_write(socket_, asio::buffer(out_[send]), WriteAllAtOnce{}, [this, send, h](boost::system::error_code ec, size_t) {
    out_[send].clear();  // keeps its capacity, up to a bound (one burst must not pin its size)
    if (out_[send].capacity() > kMaxKeptOutput) out_[send].shrink_to_fit();
    sending_ = false;
    h(ec);
  });
}

}  // namespace stmf::proxy
