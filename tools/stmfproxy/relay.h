// The stmfproxy relay (docs/stmfproxy.md): one node's door to its stmfd on one side, a TCP link
// to the peer node's relay on the other.
//
//   stmfd --door calls--> relay --TCP--> peer relay --stmfPostProxyMsg--> peer stmfd
//
// Door side: a socket pair; one end is installed with stmfInitProxyDoor, the other is read
// here. Each door call (u32 size + one whole proxy frame) is forwarded to the connected peer
// relay and answered 0 once written to the TCP socket, or ENOTCONN when no peer relay is
// connected (or the connection fails before the frame was written). Results leave in call
// order (ResultSequencer).
// TCP side: each message (u32 length + one whole frame) is posted to stmfd with
// stmfPostProxyMsg, in arrival order.
//
// TLS: a connection becomes the link only once its TLS handshake completed (within
// handshake_timeout; at most kMaxHandshaking at once, a newer one closing the oldest): a
// stranger never replaces the link, nor locks the peer relay out by holding connections.
// Link policy: a TCP link exists only while this relay's door is installed (the listener
// refuses connections, the dialer does not dial, and a lost door closes the link), so a peer
// relay answers ENOTCONN at once instead of accepting frames nobody can deliver. A lost door
// (stmfd closed it, stmfd went away, or a post says so) is destroyed and installed again,
// retrying every `retry`; with `node` set, stmfSetAluaState(B_TRUE, node) follows every install.
// After the TCP link failed or was replaced, the next door call is answered ENOTCONN even when
// a new link is up (frames answered 0 may have died with the old link); stmfd logs and counts
// it without further action (stmfInitProxyDoor(3STMF)), and an up stmfd answers a peer that
// repeats its HELLO (proxy/link_state.h), so a handshake whose answer was lost completes.
//
// Threading: everything here runs on the io_context's single thread (the implicit strand);
// every libstmf call runs on the StmfWorker, in submission order, and reports back with
// asio::post. Per connection one reader and one writer; queues are bounded (the door reader
// waits while the TCP send queue is above its high-water mark, the TCP reader while posts
// to stmfd are).
//
// Ownership: the Relay owns the door and the connection; the caller keeps the io_context and
// the worker alive longer than the Relay, and calls worker.finish() before destroying it.
#pragma once
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "proxy/tls.h"
#include "tools/stmfproxy/endpoint.h"
#include "tools/stmfproxy/stmf_worker.h"

namespace stmfproxy {

namespace asio = boost::asio;

struct Options {
  std::string socket_path;  // stmfd's management socket, for logs (libstmf reads $STMFD_SOCKET)
  bool listen = false;      // true: --listen (accept the peer relay); false: --connect
  Endpoint endpoint;
  std::optional<uint32_t> node;  // --node
  std::chrono::milliseconds retry{1000};
  // The relays' link (docs/security.md "Peer link"): TLS 1.3, the peer relay pinned to its
  // certificate or signed by a CA; plain TCP only with `insecure`.
  stmf::proxy::TlsSettings tls;
  bool insecure = false;
  std::chrono::milliseconds handshake_timeout{5000};  // a new connection's TLS handshake
};

class Relay {
 public:
  Relay(asio::io_context& io, StmfWorker& worker, Options o);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // Listens (--listen) and starts installing the door. False with `why` when the listen
  // address cannot be resolved or bound.
  bool start(std::string& why);
  // Shutdown: closes the link and the door and queues stmfDestroyProxyDoor on the worker.
  // Nothing runs on the io thread afterwards; the caller stops the io_context and finishes
  // the worker.
  void stop();

  struct Door;
  struct Conn;

 private:
  asio::awaitable<void> read_door(std::shared_ptr<Door> d);
  asio::awaitable<void> read_conn(std::shared_ptr<Conn> c);
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> dial_once();

  void install();
  void install_after(std::chrono::milliseconds delay);
  void on_installed(int rc, int hdl, int fd, int alua_rc);
  // door_lost and conn_failed take their pointer by value: callers pass door_ / conn_, which
  // these reset.
  void door_lost(std::shared_ptr<Door> d, const std::string& why);
  void release_door(const std::shared_ptr<Door>& d);  // destroy (worker) + close
  void flush_results(const std::shared_ptr<Door>& d);
  void write_results(const std::shared_ptr<Door>& d);

  void dial();
  void dial_after(std::chrono::milliseconds delay);
  using TlsStream = asio::ssl::stream<asio::ip::tcp::socket>;
  // TLS handshake (when configured) of a new connection, then attach().
  asio::awaitable<void> handshake_then_attach(TlsStream s);
  void attach(TlsStream s);
  void conn_failed(std::shared_ptr<Conn> c, const std::string& why, bool quiet = false);
  void write_conn(const std::shared_ptr<Conn>& c);
  void post_frame(std::vector<uint8_t> frame);
  void on_posted(uint64_t gen, int rc, size_t bytes, const std::string& what);

  asio::io_context& io_;
  StmfWorker& worker_;
  Options opts_;
  std::unique_ptr<asio::ip::tcp::acceptor> acceptor_;
  std::shared_ptr<asio::ssl::context> tls_;  // with TLS: this relay's side; else a dummy
  // Accepted connections in their TLS handshake, oldest first (a newer one closes the oldest).
  std::deque<std::pair<uint64_t, TlsStream*>> handshaking_;
  uint64_t next_handshake_ = 0;
  asio::steady_timer install_timer_, dial_timer_;
  std::optional<asio::ip::tcp::resolver> resolver_;

  std::shared_ptr<Door> door_;  // installed door, or null
  std::shared_ptr<Conn> conn_;  // connected peer relay, or null
  uint64_t next_door_gen_ = 1;
  uint64_t next_conn_id_ = 1;
  // Read by worker tasks (which never touch the Relay itself): the generation of the installed
  // door (0: none), so posts meant for a lost door are skipped, and whether we are stopping, so
  // a queued install is skipped.
  struct Shared {
    std::atomic<uint64_t> active_gen{0};
    std::atomic<bool> stopping{false};
  };
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
  bool installing_ = false;
  bool dialing_ = false;
  bool stopping_ = false;
  int last_install_rc_ = 0;     // the previous failed install's status (repeats log at debug)
  bool dial_failed_ = false;    // the previous dial failed (repeats log at debug)
  bool lost_logged_ = false;    // "answering ENOTCONN" was logged since the link went down
  size_t posting_bytes_ = 0;    // frames handed to the worker and not yet posted
};

}  // namespace stmfproxy
