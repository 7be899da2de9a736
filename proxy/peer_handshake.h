// One TCP connection of the direct peer link before it may become the link's carrier
// (docs/security.md "Peer link"): the TLS handshake (TlsSocket; a plain socket has none), then,
// on the accepting node, the first frame, which must be a HELLO from the other node id. All
// within one deadline; the bytes read before the HELLO are bounded. Until it completed, the
// service changes nothing: a live link is never dropped for a newcomer.
//
// Threading: start() and every callback run on the stream's executor (the proxy thread).
// Ownership: the handshake owns the stream until `done`, which receives it on success.
#pragma once
#include <boost/asio.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "proxy/codec.h"
#include "proxy/tcp_carrier.h"
#include "proxy/tls.h"

namespace stmf::proxy {

// At most this many bytes may arrive before the first frame is whole (a HELLO is ~100 bytes).
constexpr size_t kMaxBytesBeforeHello = 64 * 1024;

template <class Stream>
class PeerHandshake final : public std::enable_shared_from_this<PeerHandshake<Stream>> {
 public:
  struct Result {
    Stream stream;
    FrameReader reader;                // what followed the HELLO (delivered by the carrier first)
    std::vector<uint8_t> hello_frame;  // empty unless want_hello
    Hello hello;
  };
  using Done = std::function<void(std::optional<Result> r, const std::string& why)>;

  // want_hello: wait for the peer's HELLO (the accepting node); own_node: ours (the HELLO must
  // name the other one).
  PeerHandshake(Stream stream, TlsRole role, bool want_hello, uint32_t own_node, std::chrono::milliseconds deadline);
  void start(Done done);
  // Ends the handshake now (`done` reports "closed: <why>"); nothing when it already ended.
  void cancel(const std::string& why);

 private:
  void handshaken();
  void read_hello();
  void finish(const std::string& why);  // why empty: success

  Stream stream_;
  TlsRole role_;
  bool want_hello_;
  uint32_t own_node_;
  std::chrono::milliseconds deadline_;
  boost::asio::steady_timer timer_;
  Done done_;
  FrameReader reader_;
  std::vector<uint8_t> rbuf_ = std::vector<uint8_t>(4096);
  std::vector<uint8_t> hello_frame_;
  Hello hello_;
  bool timed_out_ = false, finished_ = false;
  std::string cancelled_;  // why cancel() ended it
};

extern template class PeerHandshake<boost::asio::ip::tcp::socket>;
extern template class PeerHandshake<TlsSocket>;

}  // namespace stmf::proxy
