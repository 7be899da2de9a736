// The standby side's forwarder: a command (or task management function) for an LU standby
// here goes to the owner as SCSI_CMD (TASK_MGMT); its SCSI_DATA and SCSI_STATUS complete the
// task through its own iSCSI port. This node's sessions are registered on the peer (they
// become I_T nexuses there, proxy/peer_sessions.cpp).
#include "proxy/service.h"

#include "core/scsi/sense.h"
#include "core/task_stats.h"
#include "proxy/codec.h"
#include "proxy/log.h"
#include "proxy/task_data.h"

namespace stmf::proxy {

void ProxyService::fail_task(const TaskPtr& task, bool reconnecting) {
  task->data_in.clear();
  // The task may or may not have run on the owner; the owner keeps a retry from overtaking it
  // (running_by_gen_), so a retry is safe.
  task->check_condition(reconnecting ? scsi::sense::not_ready_asymmetric_transition
                                     : scsi::sense::not_ready_target_port_unavailable,
                        false);
  deliver(task);
}

std::vector<LunEntry> ProxyService::standby_luns(const ItNexusPtr& n) const {
  std::vector<LunEntry> v;
  if (auto m = n->lun_map())
    for (auto& [lun, lu] : m->luns)
      if (lu->standby()) v.push_back({lun, lu->guid()});
  return v;
}

SessionCreate ProxyService::session_of(const ItNexusPtr& n) const {
  return SessionCreate{n->id(), n->port().rtpi(), n->initiator_name(), n->isid_hex(), standby_luns(n), n->ash()};
}

// ---------------------------------------------------------------- standby side (any thread)

bool ProxyService::forward_task(const LogicalUnitPtr& lu, const TaskPtr& task) {
  ScsiCmd c;
  c.session_id = task->nexus->id();
  c.guid = lu->guid();
  c.epoch = lu->epoch();
  c.lun = task->lun;
  c.tag = task->tag;
  c.attribute = uint8_t(task->attribute);
  c.direction = uint8_t(task->direction);
  c.expected_transfer_length = task->expected_transfer_length;
  c.cdb.assign(task->cdb.begin(), task->cdb.begin() + task->cdb_length);
  c.data_complete = true;
  const uint64_t id = next_id_++;
  Frame frame;
  {
    // The Data-Out buffer goes out as it is (scatter/gather, proxy/tcp_carrier.h).
    Message m{id, std::move(c)};
    std::get<ScsiCmd>(m.body).immediate_data = std::move(task->data_out);
    frame = encode_parts(std::move(m));
  }
  std::lock_guard lk(mu_);
  if (!up_ || !carrier_) {
    refused_forwards_.fetch_add(1, std::memory_order_relaxed);  // answered here (Transitioning/Unavailable)
    task->data_out = std::move(frame.bulk);  // the task stays as it came (the frame took its Data-Out)
    return false;
  }
  task->port_cookie = id;
  pending_[id] = Pending{task};
  carrier_->send(std::move(frame));
  forwarded_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

bool ProxyService::forward_tmf(const LogicalUnitPtr& lu, const ItNexusPtr& nexus, const TmfRequest& req,
                               std::function<void(TmfResponse)> done) {
  const uint64_t id = next_id_++;
  TaskMgmt t{nexus->id(), uint8_t(req.function), req.lun, lu->guid(), lu->epoch(), req.referenced_tag};
  std::lock_guard lk(mu_);
  if (!up_ || !carrier_) return false;
  tmfs_[id] = std::move(done);
  send_locked(Message{id, t});
  return true;
}

void ProxyService::nexus_created(const ItNexusPtr& n) {
  std::lock_guard lk(mu_);
  if (up_) send_locked(Message{next_id_++, session_of(n)});
}

void ProxyService::nexus_lost(const ItNexusPtr& n) {
  std::lock_guard lk(mu_);
  if (up_) send_locked(Message{next_id_++, SessionDestroy{n->id()}});
}

void ProxyService::lun_map_changed(const ItNexusPtr& n) {
  std::lock_guard lk(mu_);
  if (up_) send_locked(Message{next_id_++, SessionLuns{n->id(), standby_luns(n)}});
}

// SCSI_DATA (Data-In) of a task forwarded from here. A SCSI_DATA or SCSI_STATUS that breaks
// the protocol ends its task and is answered with STATUS {SCSI_CMD, task id, protocol_error}:
// the task id is the msg_id of the SCSI_CMD that started the task (docs/proxy-protocol.md
// "Protocol errors").
void ProxyService::data_in(ScsiData& d) {
  TaskPtr failed;
  {
    std::lock_guard lk(mu_);
    auto it = pending_.find(d.task_id);
    if (it == pending_.end()) return;
    auto& t = *it->second.task;
    if (place(t.data_in, d, data_limit(t))) return;
    log()->error("proxy protocol error: SCSI_DATA (Data-In) for task {} at offset {}, {} bytes, beyond its expected "
                 "transfer length {} (at most {}): the task fails",
                 d.task_id, d.offset, d.data.size(), t.expected_transfer_length, kMaxTaskData);
    failed = std::move(it->second.task);
    pending_.erase(it);  // its later SCSI_DATA and SCSI_STATUS find nothing and are dropped
  }
  reply(MsgType::scsi_cmd, d.task_id, ProxyStatus::protocol_error);
  fail_task(failed, false);
}

void ProxyService::on(uint64_t, ScsiStatus s) {
  TaskPtr t;
  {
    std::lock_guard lk(mu_);
    auto it = pending_.find(s.task_id);
    if (it == pending_.end()) return;  // failed already (link reset)
    t = std::move(it->second.task);
    pending_.erase(it);
  }
  switch (TaskResponse(s.response)) {
    case TaskResponse::completed: {
      // The SCSI_DATA frames carried min(data_in_length, EDTL) bytes. Fewer arrived, or a
      // length no LU produces: the peer broke the protocol, the task fails as if the answer
      // never came. Beyond the EDTL the buffer only counts (zeroes, never sent): the port
      // reports the overflow residual from its size.
      const uint64_t carried = std::min<uint64_t>(s.data_in_length, t->expected_transfer_length);
      if (s.data_in_length > kMaxTaskData || t->data_in.size() < carried) {
        log()->error("proxy protocol error: SCSI_STATUS for task {} names {} bytes of Data-In, {} arrived (expected "
                     "transfer length {}, at most {}): the task fails",
                     s.task_id, s.data_in_length, t->data_in.size(), t->expected_transfer_length, kMaxTaskData);
        reply(MsgType::scsi_cmd, s.task_id, ProxyStatus::protocol_error);
        fail_task(t, false);
        break;
      }
      t->status = scsi::Status(s.scsi_status);
      t->sense = std::move(s.sense);
      t->transfer_length = s.transfer_length;
      t->data_in.resize(s.data_in_length);
      deliver(t);
      break;
    }
    case TaskResponse::aborted:
      deliver_aborted(t);
      break;
    default:
      fail_task(t, false);
  }
}

// STATUS for our TASK_MGMT: the owner's TMF response.
void ProxyService::tmf_answered(const Status& s) {
  std::function<void(TmfResponse)> done;
  {
    std::lock_guard lk(mu_);
    auto it = tmfs_.find(s.msg_id);
    if (it == tmfs_.end()) return;
    done = std::move(it->second);
    tmfs_.erase(it);
  }
  done(TmfResponse(uint8_t(s.status)));
}

}  // namespace stmf::proxy
