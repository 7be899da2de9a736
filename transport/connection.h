// One iSCSI connection (RFC 7143, ERL 0, one connection per session).
//
// Threading: everything runs on the connection's strand: one reader coroutine, one writer
// (a queue drained by chained async_writes, never two writes at once). The framework
// completes tasks from other threads; post_complete()/post_aborted() hop onto the strand.
//
// Ownership: the connection is owned by shared_ptrs held by its own coroutine and pending
// handlers; the Server keeps weak_ptrs. Tasks are owned by the `tasks_` table from the
// command PDU until the response is queued (or the task is aborted).
#pragma once
#include <boost/asio.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/it_nexus.h"
#include "transport/iscsi/cmd_window.h"
#include "transport/iscsi/data_out.h"
#include "transport/iscsi/login.h"
#include "transport/iscsi/params.h"
#include "transport/iscsi/pdu.h"
#include "transport/log.h"
#include "transport/rate_limited_log.h"
#include "transport/target_port.h"

namespace stmf::transport {

namespace asio = boost::asio;
class Server;

class Connection : public std::enable_shared_from_this<Connection>, private iscsi::LoginContext {
 public:
  using Strand = asio::strand<asio::any_io_executor>;
  Connection(Server& server, asio::ip::tcp::socket socket, uint16_t portal_tpgt_hint);
  ~Connection();

  void start();
  // From any thread.
  void post_complete(TaskPtr task);
  void post_aborted(TaskPtr task);
  // Ask the initiator to log out (Async Message event 1) — daemon shutdown.
  void request_logout(uint16_t time2wait_s);
  // Close now (session reinstatement, target cold reset, shutdown deadline).
  void close(const std::string& why);

  const std::string& peer() const { return peer_; }
  const std::string& address() const { return address_; }  // source IP address only
  const std::string& target_name() const { return params_.target_name; }
  bool full_feature() const { return phase_ == Phase::full_feature; }
  // Session identity, valid after login.
  const std::string& initiator_name() const { return params_.initiator_name; }
  uint64_t isid() const { return isid_; }
  uint16_t tsih() const { return tsih_; }
  IscsiTargetPort* port() const { return port_; }
  const std::string& initiator_alias() const { return params_.initiator_alias; }
  std::chrono::system_clock::time_point login_time() const { return login_time_; }

 private:
  enum class Phase { login, full_feature, logout, closed };

  struct InPdu {
    iscsi::Bhs bhs{};
    std::vector<uint8_t> ahs;
    std::vector<uint8_t> data;  // for PDUs whose data is not placed into a task buffer
  };
  struct OutPdu {
    iscsi::Bhs bhs{};
    std::array<uint8_t, 4> header_digest{};
    bool with_header_digest = false;
    const uint8_t* data = nullptr;
    size_t data_len = 0;
    std::array<uint8_t, 8> trailer{};  // padding + data digest
    size_t trailer_len = 0;
    std::shared_ptr<const void> owner;  // keeps `data` alive
    bool close_after = false;
  };
  // Write task state: data collected before the task is submitted.
  struct PendingWrite {
    std::shared_ptr<IscsiTask> task;
    uint64_t lun_field = 0;  // raw LUN field, echoed in R2Ts
    iscsi::DataOutTracker tracker;
    bool failed = false;  // digest error etc.: complete with CHECK CONDITION once data is in
  };

  asio::awaitable<void> reader();
  asio::awaitable<bool> read_exact(void* p, size_t n);
  asio::awaitable<bool> read_segment(uint8_t* dst, size_t len, bool& digest_ok);
  // Fills both buffers from the socket (connection.cpp: non-blocking reads while bytes are
  // there; queued responses go out before it waits).
  asio::awaitable<bool> read_fully(std::array<asio::mutable_buffer, 2> bufs);
  // Starts writing the queued PDUs unless a write is in progress.
  void flush_output();
  asio::awaitable<bool> skip_segment(size_t len);
  // Backpressure: waits while more than send_queue_bytes of responses are queued.
  asio::awaitable<void> wait_for_send_queue();
  // Charges `bytes` of Data-Out buffer against the session and global budgets; nullptr when
  // either is exhausted.
  std::shared_ptr<const void> charge_data_buffer(uint64_t bytes);
  // Logs a per-PDU warning through the connection's rate limit.
  template <typename... Args>
  void warn(spdlog::format_string_t<Args...> fmt, Args&&... args) {
    warn_log_.warn(log(), peer_, fmt, std::forward<Args>(args)...);
  }

  // PDU handlers (on the strand).
  asio::awaitable<bool> on_login(InPdu& pdu);
  asio::awaitable<bool> on_scsi_command(InPdu& pdu);
  asio::awaitable<bool> on_data_out(InPdu& pdu);
  void on_nop_out(InPdu& pdu);
  void on_text(InPdu& pdu);
  void on_logout(InPdu& pdu);
  void on_task_mgmt(InPdu& pdu);
  void reject(const InPdu& pdu, uint8_t reason);

  // CmdSN window (RFC 7143 4.2.2.1). Returns false when the command must be dropped.
  bool accept_cmd_sn(uint32_t cmd_sn, bool immediate);
  // A command accepted by accept_cmd_sn() finished: non-immediate ones reopen the window.
  void command_done(bool immediate) {
    if (!immediate)
      window_.on_completed();
    else if (immediate_running_ > 0)
      --immediate_running_;
  }
  // StatSN/ExpCmdSN/MaxCmdSN for a target PDU; advances StatSN when the PDU carries status.
  iscsi::SnFields next_sn(bool advance_stat_sn);

  void start_write_task(const std::shared_ptr<IscsiTask>& t);
  void send_r2ts(PendingWrite& w);
  void submit(const std::shared_ptr<IscsiTask>& t);
  void complete_on_strand(const TaskPtr& task);
  void fail_task(const std::shared_ptr<IscsiTask>& t, const scsi::SenseCode& s);

  void send(OutPdu pdu);
  void write_next();
  // write_next's parts: the batch in wbufs_ sent with one non-blocking sendmsg (bytes taken,
  // 0 on EAGAIN or an error); the first `bytes` of `bufs` removed; the batch's PDUs taken off
  // outq_ once written.
  size_t send_now();
  static void drop_front(std::vector<asio::const_buffer>& bufs, size_t bytes);
  void wrote_batch();
  void send_pdu(const iscsi::Bhs& bhs, const uint8_t* data = nullptr, size_t len = 0,
                std::shared_ptr<const void> owner = nullptr, bool close_after = false);

  // iscsi::LoginContext: what the login state machine asks of the server.
  bool target_exists(std::string_view target) override;
  bool target_online(std::string_view target) override;
  std::optional<iscsi::ChapSecret> chap_for(std::string_view target, std::string_view initiator) override;
  bool initiator_allowed(std::string_view target, std::string_view initiator) override;
  uint16_t tpgt(std::string_view target) override;
  std::string target_alias(std::string_view target) override;
  iscsi::SessionDecision check_session(uint64_t isid, uint16_t tsih, std::string_view initiator, std::string_view target,
                                       iscsi::SessionType type) override;

  void start_nop_timer();
  void end_nexus(const std::string& why);
  void finish_session(const std::string& why);

  Server& server_;
  asio::ip::tcp::socket socket_;
  Strand strand_;
  asio::steady_timer nop_timer_;
  asio::steady_timer login_timer_;
  std::chrono::system_clock::time_point login_time_{};
  std::string peer_;
  std::string address_;
  Phase phase_ = Phase::login;
  RateLimitedLog warn_log_;

  // Login and negotiated parameters.
  iscsi::LoginConfig login_config_;
  std::unique_ptr<iscsi::LoginStateMachine> login_;
  iscsi::SessionParams params_;
  uint64_t isid_ = 0;
  uint16_t tsih_ = 0;
  uint16_t cid_ = 0;
  bool header_digest_ = false, data_digest_ = false;
  IscsiTargetPort* port_ = nullptr;
  ItNexusPtr nexus_;

  // Sequence numbers.
  uint32_t stat_sn_ = 0;
  iscsi::CmdWindow window_;
  uint32_t immediate_running_ = 0;  // immediate commands accepted and not yet done
  // Buffer bytes this session's tasks hold (charged by charge_data_buffer()).
  std::shared_ptr<std::atomic<uint64_t>> session_buffered_ = std::make_shared<std::atomic<uint64_t>>(0);

  // Tasks by ITT (from command PDU to response).
  std::unordered_map<uint32_t, std::shared_ptr<IscsiTask>> tasks_;
  std::unordered_map<uint32_t, PendingWrite> writes_;  // by ITT, while collecting Data-Out
  uint32_t next_ttt_ = 1;

  // Writer.
  std::deque<OutPdu> outq_;
  bool writing_ = false;
  std::vector<asio::const_buffer> wbufs_;
  size_t inflight_pdus_ = 0;
  size_t queued_bytes_ = 0;         // headers + data of the PDUs in outq_
  asio::steady_timer drain_timer_;  // the reader waits on it while outq_ is over the limit
  // Batching: while the reader runs on bytes already received, responses wait in outq_ and go
  // out in one write before it next waits. Every co_await in the reader's path must be preceded
  // by reader_running_ = false and flush_output() (read_fully and wait_for_send_queue do).
  bool reader_running_ = false;
  bool flush_posted_ = false;  // a flush_output() is posted to the strand (send_pdu)
  unsigned reads_since_yield_ = 0;
  // Read-ahead (read_fully): bytes received past the PDU the reader asked for, [rx_begin_, rx_end_).
  std::unique_ptr<uint8_t[]> rx_;
  size_t rx_begin_ = 0;
  size_t rx_end_ = 0;
  bool socket_empty_ = false;  // the last read was short: wait for the socket before reading again

  // Keepalive.
  uint32_t nop_ttt_ = 0;  // outstanding NOP-In ping (0 = none)
  std::chrono::steady_clock::time_point nop_sent_;

  // Text negotiation continuation (SendTargets responses larger than one PDU).
  std::string text_pending_;
  uint32_t text_ttt_ = 0xffffffff;
};

}  // namespace stmf::transport
