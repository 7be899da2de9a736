#include "proxy/tcp_carrier.h"

#include "common/buffer_pool.h"
#include "common/write_all.h"
#include "proxy/log.h"

namespace stmf::proxy {

namespace asio = boost::asio;

namespace {
template <class S>
constexpr bool kIsTls = std::is_same_v<S, TlsSocket>;
}  // namespace

template <class Stream>
StreamCarrier<Stream>::StreamCarrier(Stream stream, FrameReader reader)
    : stream_(std::move(stream)) {
  reader_.preload(reader.take_buffered());
  boost::system::error_code ec;
  auto& sock = stream_.lowest_layer();
  auto ep = sock.remote_endpoint(ec);
  const char* kind = kIsTls<Stream> ? "tls " : "tcp ";
  describe_ = ec ? std::string(kind) + "(unconnected)" : kind + ep.address().to_string() + ":" + std::to_string(ep.port());
  sock.set_option(asio::ip::tcp::no_delay(true), ec);
}

template <class Stream>
StreamCarrier<Stream>::~StreamCarrier() {
  boost::system::error_code ec;
  stream_.lowest_layer().close(ec);
}

template <class Stream>
void StreamCarrier<Stream>::start(Handler h) {
  handler_ = std::move(h);
  asio::post(stream_.get_executor(), [self = this->shared_from_this()] { self->deliver(); });
}

template <class Stream>
void StreamCarrier<Stream>::deliver() {
  for (;;) {
    Frame frame;
    std::string why;
    auto r = reader_.next(frame, why);
    if (r == FrameAssembler::Next::need_more) break;
    if (r == FrameAssembler::Next::error) {
      fail("bad frame: " + why);
      return;
    }
    {
      std::lock_guard lk(mu_);
      if (closed_) return;
    }
    if (handler_.on_parts) {
      handler_.on_parts(std::move(frame));
    } else if (handler_.on_frame) {
      frame.head.insert(frame.head.end(), frame.bulk.begin(), frame.bulk.end());
      handler_.on_frame(std::move(frame.head));
    }
  }
  read_more();
}

template <class Stream>
void StreamCarrier<Stream>::read_more() {
  const auto space = reader_.space();
  stream_.async_read_some(asio::buffer(space.data(), space.size()),
                          [self = this->shared_from_this()](boost::system::error_code ec, size_t n) {
    if (ec) {
      self->fail(ec == asio::error::eof ? "the peer closed the connection" : ec.message());
      return;
    }
    self->reader_.commit(n);
    self->deliver();
  });
}

template <class Stream>
void StreamCarrier<Stream>::send(std::vector<uint8_t> frame) {
  send(Frame{std::move(frame), {}});
}

template <class Stream>
void StreamCarrier<Stream>::send(Frame frame) {
  std::lock_guard lk(mu_);
  if (closed_) return;
  queue_.push_back(std::move(frame));
  if (writing_) return;
  writing_ = true;
  asio::post(stream_.get_executor(), [self = this->shared_from_this()] { self->write_more(); });
}

template <class Stream>
void StreamCarrier<Stream>::write_more() {
  {
    std::lock_guard lk(mu_);
    if (closed_ || queue_.empty()) {
      writing_ = false;
      return;
    }
    inflight_.swap(queue_);
  }
  auto done = [self = this->shared_from_this()](boost::system::error_code ec, size_t) {
    for (auto& f : self->inflight_) BufferPool::global().put(std::move(f.bulk));
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
  };
  if constexpr (kIsTls<Stream>) {
    // Each buffer is encrypted into its own records: runs of small frames are joined first
    // (they share records), large ones go as they are (no copy). One socket write for all.
    constexpr size_t kJoinBelow = 16 * 1024;
    size_t small = 0;
    for (auto& f : inflight_)
      for (auto* part : {&f.head, &f.bulk})
        if (part->size() < kJoinBelow) small += part->size();
    joined_.clear();
    joined_.reserve(small);  // never reallocated below: the buffers point into it
    std::vector<asio::const_buffer> bufs;
    size_t run_start = 0;
    bool in_run = false;
    for (auto& f : inflight_) {
      for (auto* part : {&f.head, &f.bulk}) {
        if (part->empty()) continue;
        if (part->size() < kJoinBelow) {
          if (!in_run) run_start = joined_.size();
          in_run = true;
          joined_.insert(joined_.end(), part->begin(), part->end());
          continue;
        }
        if (in_run) bufs.emplace_back(joined_.data() + run_start, joined_.size() - run_start);
        in_run = false;
        bufs.push_back(asio::buffer(*part));
      }
    }
    if (in_run) bufs.emplace_back(joined_.data() + run_start, joined_.size() - run_start);
    stream_.async_write_all(std::move(bufs), std::move(done));
  } else {
    std::vector<asio::const_buffer> bufs;
    bufs.reserve(2 * inflight_.size());
    for (auto& f : inflight_) {
      bufs.push_back(asio::buffer(f.head));
      if (!f.bulk.empty()) bufs.push_back(asio::buffer(f.bulk));
    }
    asio::async_write(stream_, bufs, WriteAllAtOnce{}, std::move(done));
  }
}

template <class Stream>
void StreamCarrier<Stream>::fail(const std::string& why) {
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
  stream_.lowest_layer().close(ec);
  if (h.on_down) h.on_down(why);
}

template <class Stream>
void StreamCarrier<Stream>::close() {
  {
    std::lock_guard lk(mu_);
    closed_ = true;
    queue_.clear();
  }
  asio::post(stream_.get_executor(), [self = this->shared_from_this()] {
    self->handler_ = {};
    boost::system::error_code ec;
    self->stream_.lowest_layer().close(ec);
  });
}

template class StreamCarrier<asio::ip::tcp::socket>;
template class StreamCarrier<TlsSocket>;

}  // namespace stmf::proxy
