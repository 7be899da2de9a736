// The direct carrier: one TCP connection between the two stmfd nodes (docs/proxy-protocol.md),
// plain (TcpCarrier, only with "insecure": true) or inside TLS (TlsCarrier, proxy/tls_socket.h).
// Frames are written back to back; several queued frames go out in one gathered write, a frame
// in two parts as two buffers (over TLS: small parts are copied into one buffer, so that they
// share records and system calls; SCSI data goes as it is). Reading goes through a
// FrameAssembler (proxy/frame_reader.h): SCSI data is read straight into its own buffer.
#pragma once
#include <boost/asio.hpp>

#include <deque>
#include <memory>
#include <mutex>

#include "proxy/carrier.h"
#include "proxy/codec.h"
#include "proxy/tls_socket.h"

namespace stmf::proxy {

template <class Stream>
class StreamCarrier final : public Carrier, public std::enable_shared_from_this<StreamCarrier<Stream>> {
 public:
  // `reader` may hold bytes already read from the stream (after the first frame of an accepted
  // connection, proxy/newcomer.h): they are delivered before anything read later.
  explicit StreamCarrier(Stream stream, FrameReader reader = {});
  ~StreamCarrier() override;
  void start(Handler h) override;
  void send(std::vector<uint8_t> frame) override;
  void send(Frame frame) override;
  void close() override;
  std::string describe() const override { return describe_; }

 private:
  void deliver();  // the frames the reader holds, then read_more()
  void read_more();
  void write_more();  // on the socket's executor
  void fail(const std::string& why);

  Stream stream_;
  std::string describe_;
  Handler handler_;
  FrameAssembler reader_;
  std::mutex mu_;
  std::vector<Frame> queue_;  // under mu_
  bool writing_ = false;      // under mu_
  bool closed_ = false;       // under mu_
  std::vector<Frame> inflight_;
  std::vector<uint8_t> joined_;  // TLS: the inflight frames in one buffer
};

using TcpCarrier = StreamCarrier<boost::asio::ip::tcp::socket>;
using TlsCarrier = StreamCarrier<TlsSocket>;

extern template class StreamCarrier<boost::asio::ip::tcp::socket>;
extern template class StreamCarrier<TlsSocket>;

}  // namespace stmf::proxy
