#include "proxy/tcp_carrier.h"

#include "proxy/log.h"

namespace stmf::proxy {

namespace asio = boost::asio;

TcpCarrier::TcpCarrier(asio::ip::tcp::socket socket) : socket_(std::move(socket)) {
  boost::system::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  describe_ = ec ? "tcp (unconnected)" : "tcp " + ep.address().to_string() + ":" + std::to_string(ep.port());
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  rbuf_.resize(256 * 1024);
}

TcpCarrier::~TcpCarrier() {
  boost::system::error_code ec;
  socket_.close(ec);
}

void TcpCarrier::start(Handler h) {
  handler_ = std::move(h);
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->read_more(); });
}

void TcpCarrier::read_more() {
  socket_.async_read_some(asio::buffer(rbuf_), [self = shared_from_this()](boost::system::error_code ec, size_t n) {
    if (ec) {
      self->fail(ec == asio::error::eof ? "the peer closed the connection" : ec.message());
      return;
    }
    self->reader_.feed(self->rbuf_.data(), n);
    for (;;) {
      std::vector<uint8_t> frame;
      std::string why;
      auto r = self->reader_.next(frame, why);
      if (r == FrameReader::Next::need_more) break;
      if (r == FrameReader::Next::error) {
        self->fail("bad frame: " + why);
        return;
      }
      {
        std::lock_guard lk(self->mu_);
        if (self->closed_) return;
      }
      if (self->handler_.on_frame) self->handler_.on_frame(std::move(frame));
    }
    self->read_more();
  });
}

void TcpCarrier::send(std::vector<uint8_t> frame) {
  std::lock_guard lk(mu_);
  if (closed_) return;
  queue_.push_back(std::move(frame));
  if (writing_) return;
  writing_ = true;
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->write_more(); });
}

void TcpCarrier::write_more() {
  {
    std::lock_guard lk(mu_);
    if (closed_ || queue_.empty()) {
      writing_ = false;
      return;
    }
    inflight_.swap(queue_);
  }
  std::vector<asio::const_buffer> bufs;
  bufs.reserve(inflight_.size());
  for (auto& f : inflight_) bufs.push_back(asio::buffer(f));
  asio::async_write(socket_, bufs, [self = shared_from_this()](boost::system::error_code ec, size_t) {
    self->inflight_.clear();
    if (ec) {
      {
        std::lock_guard lk(self->mu_);
        self->writing_ = false;
      }
      self->fail(ec.message());
      return;
    }
    self->write_more();
  });
}

void TcpCarrier::fail(const std::string& why) {
  Handler h;
  {
    std::lock_guard lk(mu_);
    if (closed_) return;
    closed_ = true;
    queue_.clear();
  }
  h = std::move(handler_);  // on the socket's executor
  handler_ = {};
  boost::system::error_code ec;
  socket_.close(ec);
  if (h.on_down) h.on_down(why);
}

void TcpCarrier::close() {
  {
    std::lock_guard lk(mu_);
    closed_ = true;
    queue_.clear();
  }
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->handler_ = {};
    boost::system::error_code ec;
    self->socket_.close(ec);
  });
}

}  // namespace stmf::proxy
