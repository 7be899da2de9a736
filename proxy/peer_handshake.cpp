#include "proxy/peer_handshake.h"

#include "proxy/log.h"

namespace stmf::proxy {

namespace asio = boost::asio;

template <class Stream>
PeerHandshake<Stream>::PeerHandshake(Stream stream, TlsRole role, bool want_hello, uint32_t own_node,
                                     std::chrono::milliseconds deadline)
    : stream_(std::move(stream)),
      role_(role),
      want_hello_(want_hello),
      own_node_(own_node),
      deadline_(deadline),
      timer_(stream_.get_executor()) {}

template <class Stream>
void PeerHandshake<Stream>::start(Done done) {
  done_ = std::move(done);
  auto self = this->shared_from_this();
  timer_.expires_after(deadline_);
  timer_.async_wait([self](boost::system::error_code ec) {
    if (ec || self->finished_) return;
    self->timed_out_ = true;
    boost::system::error_code ignored;
    self->stream_.lowest_layer().close(ignored);  // the pending operation fails: finish() reports
  });
  if constexpr (std::is_same_v<Stream, TlsSocket>) {
    stream_.async_handshake(role_, [self](boost::system::error_code ec) {
      if (ec) return self->finish("TLS handshake: " + ec.message());
      self->handshaken();
    });
  } else {
    handshaken();
  }
}

template <class Stream>
void PeerHandshake<Stream>::cancel(const std::string& why) {
  if (finished_) return;
  cancelled_ = why;
  boost::system::error_code ignored;
  stream_.lowest_layer().close(ignored);  // the pending operation fails: finish() reports
}

template <class Stream>
void PeerHandshake<Stream>::handshaken() {
  if (!want_hello_) return finish("");
  read_hello();
}

template <class Stream>
void PeerHandshake<Stream>::read_hello() {
  auto self = this->shared_from_this();
  stream_.async_read_some(asio::buffer(rbuf_), [self](boost::system::error_code ec, size_t n) {
    if (ec) return self->finish(ec == asio::error::eof ? "closed before its HELLO" : "before its HELLO: " + ec.message());
    self->reader_.feed(self->rbuf_.data(), n);
    std::vector<uint8_t> frame;
    std::string why;
    switch (self->reader_.next(frame, why)) {
      case FrameReader::Next::error: return self->finish("bad frame instead of a HELLO: " + why);
      case FrameReader::Next::need_more:
        if (self->reader_.buffered() > kMaxBytesBeforeHello)
          return self->finish("more than " + std::to_string(kMaxBytesBeforeHello) + " bytes without a HELLO");
        return self->read_hello();
      case FrameReader::Next::frame: break;
    }
    Message m;
    if (auto e = decode(frame.data(), frame.size(), m, why); e != DecodeError::none)
      return self->finish("undecodable first frame (" + std::string(to_string(e)) + "): " + why);
    auto* h = std::get_if<Hello>(&m.body);
    if (!h) return self->finish(std::string("first frame is ") + to_string(m.type()) + ", not HELLO");
    if (h->node == self->own_node_ || h->node > 1)
      return self->finish("its HELLO names node " + std::to_string(h->node) + " (the peer of node " +
                          std::to_string(self->own_node_) + " is node " + std::to_string(1 - self->own_node_) + ")");
    self->hello_ = *h;
    self->hello_frame_ = std::move(frame);
    self->finish("");
  });
}

template <class Stream>
void PeerHandshake<Stream>::finish(const std::string& why) {
  if (finished_) return;
  finished_ = true;
  timer_.cancel();
  auto done = std::move(done_);
  if (!why.empty()) {
    boost::system::error_code ignored;
    stream_.lowest_layer().close(ignored);
    constexpr bool tls = std::is_same_v<Stream, TlsSocket>;
    const std::string wanted = tls ? (want_hello_ ? "TLS handshake and HELLO" : "TLS handshake") : "HELLO";
    done(std::nullopt, !cancelled_.empty() ? "closed: " + cancelled_
                       : timed_out_      ? "no " + wanted + " within " + std::to_string(deadline_.count()) + " ms"
                                         : why);
    return;
  }
  done(Result{std::move(stream_), std::move(reader_), std::move(hello_frame_), hello_}, "");
}

template class PeerHandshake<asio::ip::tcp::socket>;
template class PeerHandshake<TlsSocket>;

}  // namespace stmf::proxy
