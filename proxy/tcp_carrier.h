// The direct carrier: one TCP connection between the two stmfd nodes (docs/proxy-protocol.md).
// Frames are written back to back; several queued frames go out in one gathered write.
#pragma once
#include <boost/asio.hpp>

#include <deque>
#include <memory>
#include <mutex>

#include "proxy/carrier.h"
#include "proxy/codec.h"

namespace stmf::proxy {

class TcpCarrier final : public Carrier, public std::enable_shared_from_this<TcpCarrier> {
 public:
  explicit TcpCarrier(boost::asio::ip::tcp::socket socket);
  ~TcpCarrier() override;
  void start(Handler h) override;
  void send(std::vector<uint8_t> frame) override;
  void close() override;
  std::string describe() const override { return describe_; }

 private:
  void read_more();
  void write_more();  // on the socket's executor
  void fail(const std::string& why);

  boost::asio::ip::tcp::socket socket_;
  std::string describe_;
  Handler handler_;
  FrameReader reader_;
  std::vector<uint8_t> rbuf_;
  std::mutex mu_;
  std::vector<std::vector<uint8_t>> queue_;  // under mu_
  bool writing_ = false;                     // under mu_
  bool closed_ = false;                      // under mu_
  std::vector<std::vector<uint8_t>> inflight_;
};

}  // namespace stmf::proxy
