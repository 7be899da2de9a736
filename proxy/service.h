// The proxy service: this node's end of the ALUA pair (docs/alua.md, docs/proxy-protocol.md).
//
// It runs the link (proxy/link_state.h) over one carrier (direct TCP, or the door relay),
// registers this node's target ports, active LUs and sessions on the peer, and serves both
// roles at once:
//   standby side: Stmf forwards each command for a standby LU (forward_task) and its task
//     management (forward_tmf); the answer comes back as SCSI_DATA + SCSI_STATUS and is
//     completed through the task's own iSCSI port.
//   active side: each peer session becomes an I_T nexus on a ProxyPort (the peer's port,
//     with its rtpi and tpg); SCSI_CMD becomes a task submitted to Stmf like any other, so
//     reservations, unit attentions and mode state have one owner; the ProxyPort sends the
//     result back.
// Link down: forwarded tasks still pending answer NOT READY, TARGET PORT IN UNAVAILABLE STATE
// (02/04/0C); peer sessions end as nexus loss; both nodes raise ASYMMETRIC ACCESS STATE
// CHANGED. Link up again: everything is registered again.
//
// Who owns each LU (the hold, epochs, stepping down, planned switchover) is decided by one
// Ownership machine (proxy/ownership.h) owned by the proxy thread; ownership_driver.cpp feeds
// it and performs its actions.
//
// One class, one file per job: service.cpp (lifecycle, configuration, tick, the dispatch of
// received messages: one on(id, T) per message type, chosen by overload), link.cpp (link,
// carriers, registrations), forwarder.cpp (standby side), peer_sessions.cpp (active side),
// mirroring.cpp (reservations), door.cpp (door API), ownership_driver.cpp.
//
// Threading: one strand on the daemon's I/O io_context (the one the iSCSI connections run on)
// runs the link, the carriers and every received message, in order: "the proxy thread" below
// means that strand. A proxied command thus never wakes another thread: the iSCSI
// connection's strand queues its frame and the link's strand writes it on the same I/O
// thread, and an answer read by the link completes its task on the connection's strand the
// same way (docs/benchmark.md "The proxied path"). forward_*, the observer calls, the ports'
// completions and the door calls may come from any thread; they only queue frames (under mu_)
// or post to the strand. Nothing on the strand blocks: the host's calls post to the
// management thread, races at the storage run on threads of their own.
#pragma once
#include <boost/asio.hpp>

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "core/alua.h"
#include "core/stmf.h"
#include "core/reservations.h"
#include "proxy/carrier.h"
#include "proxy/link_state.h"
#include "proxy/messages.h"
#include "proxy/ownership.h"
#include "proxy/tls.h"

namespace stmf::proxy {

class DoorCarrier;
class ProxyPort;

struct LinkSettings {
  bool enabled = false;
  uint32_t node = 0;
  std::string listen_host;  // node 1 accepts here ("" = nowhere)
  uint16_t listen_port = 0;
  std::string peer_host;    // node 0 connects here; node 1 accepts only from this address
  uint16_t peer_port = 0;
  bool door = false;        // the carrier is the installed door, not TCP
  TlsSettings tls;          // the TCP link's TLS (docs/security.md "Peer link")
  bool insecure = false;    // plain TCP allowed (only when tls is not set)
  uint32_t handshake_timeout_ms = 5000;  // TLS handshake + HELLO of a new connection
  uint32_t heartbeat_ms = 500;
  uint32_t timeout_ms = 3000;
  // Fencing at the storage (docs/failover.md "Fencing at the storage"): alua.cluster_id (0 =
  // none: no LU is SAN-backed) and alua.takeover fenced.
  uint32_t cluster_id = 0;
  bool takeover_fenced = false;
  bool operator==(const LinkSettings&) const = default;
};

// What the service needs from the daemon: standby LUs are daemon objects (views, LU list).
// Calls come from the proxy thread; `done` may be called from any thread.
class StandbyHost {
 public:
  virtual ~StandbyHost() = default;
  virtual void register_standby(RegisterLun m, std::function<void(ProxyStatus)> done) = 0;
  virtual void deregister_standby(Guid g, std::function<void(ProxyStatus)> done) = 0;
  virtual void drop_standby() = 0;                     // ALUA disabled: every standby LU goes
  virtual std::vector<RegisterLun> active_lus() = 0;   // this node's active LUs (thread-safe)
  // Reservation mirroring (docs/alua.md): the JSON text of a state (any thread), with the
  // LU's handover state when it is the final state of a planned switchover; and storing the
  // peer's state of one of our standby LUs (kept when seq >= the stored one).
  virtual std::string encode_reservations(const pr::PrState& st, const std::optional<pr::Nexus>& scsi2,
                                          const HandoverState* handover = nullptr) = 0;
  virtual void store_standby_reservations(PrStateMsg m, std::function<void(ProxyStatus)> done) = 0;
  // The link came up: stored sequence numbers restart (the peer resends every state).
  virtual void restart_reservation_seqs() = 0;
  // The peer's complete list of active LUs: standby LUs not in it go.
  virtual void keep_standby_only(std::vector<Guid> guids, std::function<void(ProxyStatus)> done) = 0;
  // The peer owns an LU that is active here with a newer ownership epoch: this node's copy is
  // stale. Remove it from the configuration and hold it as the standby LU `m` describes.
  virtual void step_down(RegisterLun m, std::function<void(ProxyStatus)> done) = 0;
  // Planned switchover: the peer hands over LU `g`, standby here; make it active here (raised
  // epoch, mirrored reservations), then `done`.
  virtual void promote(Guid g, std::function<void(ProxyStatus)> done) = 0;
  // alua.takeover fenced: race for SAN-backed standby LU `g` at the storage (PREEMPT AND ABORT
  // of the owner's key on its SAN LUN); `done(result, detail)` from any thread.
  virtual void race(Guid g, std::function<void(Ownership::RaceResult, std::string)> done) {
    done(Ownership::RaceResult::failed, "this node cannot race at the storage");
  }
};

enum class DoorResult { ok, installed, not_installed, bad_frame };

class ProxyService final : public PeerForwarder, public NexusObserver, public ReservationMirror {
 public:
  // `io`: the daemon's I/O io_context; the service runs on a strand of it.
  ProxyService(Stmf& stmf, StandbyHost& host, std::string host_name, boost::asio::io_context& io);
  ~ProxyService() override;
  void start();
  // Closes the link, on the calling thread: only once every thread running `io` returned
  // (the daemon's shutdown), or before any ran.
  void stop();

  // From the management thread. Applied asynchronously on the proxy thread.
  void configure(const LinkSettings& s);
  void reinitialize();  // stmfSetAluaState(B_TRUE, node) again: re-register (link up), else restart the link
  void lus_changed();   // this node's active LUs changed: (de)register them on the peer
  void ports_changed(); // this node's target ports changed

  // Door API (tools/stmfd/door_host.h). Thread-safe.
  DoorResult install_door(int fd);
  DoorResult destroy_door();
  DoorResult post_proxy_msg(std::vector<uint8_t> frame);

  nlohmann::json status() const;

  // Planned switchover (docs/alua.md): LU `g` active here is handed to the peer (held
  // Transitioning, in-flight commands drained, store flushed, LUN_ACTIVE); standby here, the
  // peer is asked to hand it over. `done(status, why)` runs once, on the proxy thread, when
  // the peer owns it or the attempt failed (then the LU is back with its owner, or held
  // until the link returns when the peer may have taken it). Thread-safe.
  void switchover(const Guid& g, std::function<void(ProxyStatus, std::string)> done);

  // import-lu / create-lu of LU `g` (management thread; docs/alua.md "Takeover after a
  // crash"): the ownership machine decides. Standby here with the link up: refused (status
  // `already`, `message` says why); standby here with the link down: a takeover with the
  // owner's epoch + 1; otherwise not a takeover. Waits for the proxy thread's answer.
  struct Import {
    ProxyStatus status = ProxyStatus::success;
    std::string message;
    bool takeover = false;
    uint64_t epoch = 0;  // the LU's epoch here (a takeover: the owner's + 1)
  };
  Import import_lu(const Guid& g);

  // The store of LU `g` (active here) was fenced at the storage (docs/failover.md "Fencing at
  // the storage"): the ownership machine's `fenced` (Transitioning for good, audit, log; the
  // peer's newer registration makes it step down). Thread-safe (the store's strand calls it).
  void lu_fenced(const Guid& g, std::string why);

  // PeerForwarder
  bool forward_task(const LogicalUnitPtr& lu, const TaskPtr& task) override;
  bool forward_tmf(const LogicalUnitPtr& lu, const ItNexusPtr& nexus, const TmfRequest& req,
                   std::function<void(TmfResponse)> done) override;
  void hand_over(const LogicalUnitPtr& lu, std::function<void(bool ok)> done) override;
  // NexusObserver
  void nexus_created(const ItNexusPtr& n) override;
  void nexus_lost(const ItNexusPtr& n) override;
  void lun_map_changed(const ItNexusPtr& n) override;

  // ReservationMirror (I/O threads)
  bool mirror(const LogicalUnit& lu, uint64_t seq, const pr::PrState& st, const std::optional<pr::Nexus>& scsi2,
              std::function<void()> done) override;

  // ProxyPort -> service: a task of a peer session finished here.
  void task_finished(const TaskPtr& task, bool aborted);

 private:
  struct Pending {
    TaskPtr task;
  };
  // --- proxy thread ---
  void apply(const LinkSettings& s, bool force);
  void teardown();
  void start_carrier();
  void dial();
  void accept_loop();
  void attach(std::shared_ptr<Carrier> c, bool door);
  template <class Stream>
  void handshake(Stream s, bool accepted, const std::string& who);
  // A connection refused or a handshake that failed: logged at most once per interval.
  void warn_limited(const std::string& what);
  void on_frame(uint64_t carrier_gen, Frame frame);
  void on_carrier_down(uint64_t carrier_gen, const std::string& why);
  void run(const LinkState::Actions& a);
  void link_up();
  void link_down(const std::string& why);
  void tick();
  void handle(Message m);
  // One handler per message type (service.cpp dispatches by overload; a type without one
  // does not compile). Where each lives: its job's file below.
  void on(uint64_t id, const Hello& h);                  // service.cpp: the link's handshake
  void on(uint64_t id, EchoRequest e);                   // service.cpp
  void on(uint64_t id, const EchoReply& e);              // service.cpp
  void on(uint64_t id, ScsiData d);                      // service.cpp: Data-Out or Data-In
  void on(uint64_t id, const Status& s);                 // service.cpp: to the job that asked
  void on(uint64_t id, ScsiStatus s);                    // forwarder.cpp
  void on(uint64_t id, ScsiCmd c);                       // peer_sessions.cpp
  void on(uint64_t id, const ScsiDataXferDone& d);       // peer_sessions.cpp
  void on(uint64_t id, const TaskMgmt& t);               // peer_sessions.cpp
  void on(uint64_t id, SessionCreate s);                 // peer_sessions.cpp
  void on(uint64_t id, const SessionLuns& s);            // peer_sessions.cpp
  void on(uint64_t id, const SessionDestroy& s);         // peer_sessions.cpp
  void on(uint64_t id, const RegisterProxyPort& p);      // peer_sessions.cpp
  void on(uint64_t id, const DeregisterProxyPort& p);    // peer_sessions.cpp
  void on(uint64_t id, PrStateMsg m);                    // mirroring.cpp
  void on(uint64_t id, RegisterLun m);                   // ownership_driver.cpp
  void on(uint64_t id, const DeregisterLun& m);          // ownership_driver.cpp
  void on(uint64_t id, LuList m);                        // ownership_driver.cpp
  void on(uint64_t id, const LunActive& m);              // ownership_driver.cpp
  bool data_out(ScsiData& d);                 // peer_sessions.cpp: false when no task waits for it
  void data_in(ScsiData& d);                  // forwarder.cpp
  void tmf_answered(const Status& s);         // forwarder.cpp
  void lun_active_answered(const Status& s);  // ownership_driver.cpp
  void pr_state_answered(const Status& s);    // mirroring.cpp
  // --- ownership_driver.cpp: feeds own_ its events and performs its actions ---
  void sync_ownership();  // own_'s LUs follow the node's
  void perform(Ownership::Actions a);
  RegisterLun take_registration(const Guid& g);
  // Ownership hold (docs/alua.md "Fencing"): active LUs answer Transitioning until the peer's
  // LU_LIST settled ownership, or until timeout_ms passed without a link.
  void hold_active_lus();
  void handover_drain(const Guid& g);
  void handover_flush(const Guid& g);
  // --- link.cpp: registrations ---
  void sync_lus();
  void sync_ports();
  void drop_peer_ports();  // peer_sessions.cpp
  void send_pr_state(const Guid& g, bool handover = false);  // mirroring.cpp
  void reply(MsgType type, uint64_t id, ProxyStatus st);
  uint64_t now_ms() const;
  uint64_t now_us() const;
  Echo echo_stamp() const;  // ECHO_REQUEST data: now_us(), for the RTT

  // --- any thread ---
  void send(const Message& m);              // takes mu_
  void send_locked(const Message& m);       // mu_ held
  void register_all_locked();               // mu_ held: every port and active LU, then the LU list
  SessionCreate session_of(const ItNexusPtr& n) const;
  std::vector<LunEntry> standby_luns(const ItNexusPtr& n) const;
  void fail_task(const TaskPtr& task, bool reconnecting);
  void retire_door(const std::shared_ptr<DoorCarrier>& d, const std::string& why);
  // AluaGroups from the link's state and the reconnect window (proxy thread).
  void publish_alua();
  // Owner side: a forwarded task handed to the framework / its end (any thread, takes mu_).
  void track_submit(const TaskPtr& task);

  Stmf& stmf_;
  StandbyHost& host_;
  const std::string host_name_;
  boost::asio::strand<boost::asio::io_context::executor_type> ex_;  // "the proxy thread"
  bool started_ = false;             // start() .. stop() (the caller's thread)
  std::atomic<bool> stopping_{false};  // stop() began: the tick ends

  // proxy thread only
  LinkSettings settings_;
  std::unique_ptr<LinkState> link_;
  uint64_t carrier_gen_ = 0;
  uint64_t acceptor_gen_ = 0;  // the listening socket's (node 1 on TCP): bumped by teardown()
  bool carrier_is_door_ = false;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::shared_ptr<boost::asio::ssl::context> tls_;  // TCP carrier with TLS: this node's side
  // Accepted connections still in their handshake, oldest first: id and how to close it.
  std::deque<std::pair<uint64_t, std::function<void(const std::string&)>>> handshaking_;
  uint64_t next_handshake_ = 0;
  std::atomic<uint64_t> refused_{0};                 // connections refused on the link port
  uint64_t refused_logged_ = 0;                      // refused_ at the last such line
  std::atomic<bool> tls_on_{false};                  // the TCP link runs TLS (status())
  uint64_t refused_log_ms_ = 0;                      // last "refused" line
  boost::asio::steady_timer tick_timer_{ex_};
  boost::asio::steady_timer dial_timer_{ex_};
  std::map<uint16_t, std::shared_ptr<ProxyPort>> peer_ports_;   // by rtpi, registered with Stmf
  std::vector<std::shared_ptr<ProxyPort>> retired_ports_;        // deregistered, may still be referenced
  std::unordered_map<uint64_t, ItNexusPtr> sessions_;            // peer session id -> nexus here
  std::unordered_map<uint64_t, TaskPtr> partial_;                // SCSI_CMDs waiting for Data-Out
  std::map<Guid, std::string> registered_lus_;                   // sent to the peer: properties
  std::set<uint16_t> registered_ports_;

  // shared
  mutable std::mutex mu_;
  std::shared_ptr<Carrier> carrier_;                 // under mu_
  bool up_ = false;                                  // under mu_: forwarding allowed
  uint64_t gen_ = 1;                                 // under mu_: link generation
  std::unordered_map<uint64_t, Pending> pending_;    // under mu_: forwarded tasks by task id
  std::unordered_map<uint64_t, std::function<void(TmfResponse)>> tmfs_;  // under mu_
  std::unordered_map<uint64_t, std::function<void()>> mirrors_;  // under mu_: PR_STATE waiting for STATUS
  std::atomic<bool> holding_{false};       // written by the proxy thread: own_.holding() (status())
  // Standby side: the link was lost and may come back; until then (timeout_ms after the loss)
  // the standby group is Transitioning rather than Unavailable (0: not reconnecting).
  uint64_t reconnect_until_ms_ = 0;        // proxy thread
  // Owner side: forwarded tasks executing here, by the link generation they came on (under
  // mu_). A command of a new generation waits (02/04/0A) while an older one's tasks run: an
  // initiator's retry must never overtake the lost original still writing the medium.
  std::map<uint16_t, uint32_t> running_by_gen_;
  // Ownership (proxy thread, ownership_driver.cpp): the one machine that decides who owns
  // each LU, and what performing its actions needs: the local requests' completions by the
  // machine's token, the drain timers, and a REGISTER_LUN until the host call takes it.
  Ownership own_{0};
  std::map<uint64_t, std::function<void(ProxyStatus, std::string)>> requests_;
  uint64_t next_request_ = 1;
  std::map<Guid, std::unique_ptr<boost::asio::steady_timer>> drain_timers_;
  std::map<Guid, RegisterLun> registrations_;
  std::map<Guid, uint64_t> registration_ids_;
  std::atomic<uint64_t> next_id_{1};
  std::atomic<uint64_t> forwarded_{0}, served_{0};
  // Door calls the relay answered non-zero (logged and counted, the link is kept).
  std::atomic<uint64_t> door_call_failures_{0};
  std::atomic<uint64_t> fenced_{0};  // SCSI_CMDs refused: they named another ownership epoch
  // Link round trip (docs/metrics.md): the last ECHO_REQUEST -> ECHO_REPLY time, and how many.
  std::atomic<uint64_t> rtt_us_{0}, rtt_samples_{0};
  // Commands for standby LUs not forwarded: the link was down (docs/metrics.md).
  std::atomic<uint64_t> refused_forwards_{0};
  std::shared_ptr<DoorCarrier> door_;                // under mu_
  std::string last_down_why_;                        // under mu_
};

}  // namespace stmf::proxy
