// The active side's peer sessions: each of the peer's target ports is a ProxyPort here, each
// of its sessions an I_T nexus on that port; a SCSI_CMD becomes a task submitted to Stmf like
// any other (so reservations, unit attentions and mode state have one owner), and the
// ProxyPort sends its data and status back (task_finished).
#include "proxy/service.h"

#include "core/guid.h"
#include "core/scsi/sense.h"
#include "proxy/codec.h"
#include "proxy/log.h"
#include "proxy/proxy_port.h"
#include "proxy/task_data.h"

namespace stmf::proxy {

void ProxyPort::task_complete(TaskPtr task) { svc_.task_finished(task, false); }
void ProxyPort::task_aborted(TaskPtr task) { svc_.task_finished(task, true); }

void ProxyService::track_submit(const TaskPtr& task) {
  std::lock_guard lk(mu_);
  ++running_by_gen_[uint16_t(task->port_cookie >> kGenShift)];
}

void ProxyService::task_finished(const TaskPtr& task, bool aborted) {
  const uint64_t gen = task->port_cookie >> kGenShift;
  const uint64_t id = task->port_cookie & kIdMask;
  ScsiStatus st;
  st.task_id = id;
  st.session_id = task->nexus->remote_id();
  std::vector<Frame> frames;
  if (aborted) {
    st.response = uint8_t(TaskResponse::aborted);
  } else {
    st.response = uint8_t(TaskResponse::completed);
    st.scsi_status = uint8_t(task->status);
    st.transfer_length = task->transfer_length;
    st.sense = std::move(task->sense);
    st.data_in_length = uint32_t(task->data_in.size());
    // Only what the initiator can receive crosses the link: Data-In up to the EDTL (the rest
    // counts for the overflow residual through data_in_length; the standby node refuses
    // Data-In beyond the EDTL as a protocol error).
    const size_t send = std::min<size_t>(task->data_in.size(), task->expected_transfer_length);
    if (send > 0 && send == task->data_in.size() && send <= kDataChunk) {
      // One chunk (every read up to 1 MiB): the task's buffer itself, sent from where it is.
      frames.push_back(encode_parts(Message{0, ScsiData{id, st.session_id, 0, std::move(task->data_in)}}));
    } else {
      for (size_t off = 0; off < send; off += kDataChunk) {
        const size_t n = std::min<size_t>(kDataChunk, send - off);
        ScsiData d{id, st.session_id, uint32_t(off), {}};
        d.data.assign(task->data_in.begin() + off, task->data_in.begin() + off + n);
        frames.push_back(encode_parts(Message{0, std::move(d)}));
      }
    }
  }
  frames.push_back(Frame{encode(Message{0, std::move(st)}), {}});
  served_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lk(mu_);
  if (auto r = running_by_gen_.find(uint16_t(gen)); r != running_by_gen_.end() && --r->second == 0)
    running_by_gen_.erase(r);
  if (gen != (gen_ & 0xffff) || !up_ || !carrier_) return;  // the link this task came on is gone
  for (auto& f : frames) carrier_->send(std::move(f));
}

void ProxyService::on(uint64_t id, const RegisterProxyPort& p) {
  if (p.tpg == tpg_of_node(settings_.node)) {
    log()->error("the peer registers port {} in target port group {}, which is ours: refused", p.port_name, p.tpg);
    return reply(MsgType::register_proxy_port, id, ProxyStatus::invalid_arg);
  }
  auto it = peer_ports_.find(p.rtpi);
  if (it != peer_ports_.end()) {
    if (it->second->same(p)) return reply(MsgType::register_proxy_port, id, ProxyStatus::success);
    stmf_.remove_port(*it->second);
    retired_ports_.push_back(it->second);
    peer_ports_.erase(it);
  }
  auto port = std::make_shared<ProxyPort>(*this, p);
  stmf_.add_port(*port);
  peer_ports_[p.rtpi] = port;
  log()->info("peer port {} registered: rtpi {}, target port group {}", p.port_name, p.rtpi, p.tpg);
  reply(MsgType::register_proxy_port, id, ProxyStatus::success);
}

void ProxyService::drop_peer_ports() {
  for (auto& [rtpi, p] : peer_ports_) {
    stmf_.remove_port(*p);
    retired_ports_.push_back(p);
  }
  peer_ports_.clear();
}

void ProxyService::on(uint64_t id, const DeregisterProxyPort& p) {
  auto it = peer_ports_.find(p.rtpi);
  if (it == peer_ports_.end()) return reply(MsgType::deregister_proxy_port, id, ProxyStatus::not_found);
  stmf_.remove_port(*it->second);
  retired_ports_.push_back(it->second);
  peer_ports_.erase(it);
  reply(MsgType::deregister_proxy_port, id, ProxyStatus::success);
}

void ProxyService::on(uint64_t id, SessionCreate s) {
  auto port = peer_ports_.find(s.rtpi);
  if (port == peer_ports_.end()) {
    log()->warn("peer session {} on unknown port rtpi {}", s.session_id, s.rtpi);
    return reply(MsgType::session_create, id, ProxyStatus::not_found);
  }
  if (auto old = sessions_.find(s.session_id); old != sessions_.end()) {
    stmf_.nexus_lost(old->second);
    sessions_.erase(old);
  }
  std::vector<std::pair<uint64_t, Guid>> luns;
  for (auto& e : s.luns) luns.emplace_back(e.lun, e.guid);
  sessions_[s.session_id] =
      stmf_.create_remote_nexus(*port->second, std::move(s.initiator_name), std::move(s.isid_hex), s.session_id, std::move(luns),
                                s.ash);
  reply(MsgType::session_create, id, ProxyStatus::success);
}

void ProxyService::on(uint64_t id, const SessionLuns& s) {
  auto it = sessions_.find(s.session_id);
  if (it == sessions_.end()) return reply(MsgType::session_luns, id, ProxyStatus::not_found);
  std::vector<std::pair<uint64_t, Guid>> luns;
  for (auto& e : s.luns) luns.emplace_back(e.lun, e.guid);
  stmf_.set_remote_luns(it->second, std::move(luns));
}

void ProxyService::on(uint64_t, const SessionDestroy& s) {
  auto it = sessions_.find(s.session_id);
  if (it == sessions_.end()) return;
  stmf_.nexus_lost(it->second);
  sessions_.erase(it);
}

void ProxyService::on(uint64_t id, ScsiCmd c) {
  auto answer_failure = [&] {
    ScsiStatus st;
    st.task_id = id;
    st.session_id = c.session_id;
    st.response = uint8_t(TaskResponse::target_failure);
    send(Message{0, st});
  };
  auto s = sessions_.find(c.session_id);
  if (s == sessions_.end()) {
    log()->warn("SCSI_CMD {} for unknown peer session {}", id, c.session_id);
    return answer_failure();
  }
  const auto& nexus = s->second;
  auto lu = stmf_.ensure_remote_lun(nexus, c.lun, c.guid);
  if (!lu) {
    log()->warn("SCSI_CMD {} for LU {} which is not active here", id, guid_hex(c.guid));
    return answer_failure();
  }
  // Refused without reaching the medium: NOT READY, ASYMMETRIC ACCESS STATE TRANSITION, which
  // the initiator retries (by then on a settled path).
  auto answer_transition = [&] {
    fenced_.fetch_add(1, std::memory_order_relaxed);
    ScsiStatus st;
    st.task_id = id;
    st.session_id = c.session_id;
    st.response = uint8_t(TaskResponse::completed);
    st.scsi_status = uint8_t(scsi::Status::check_condition);
    st.sense = scsi::build_sense(scsi::sense::not_ready_asymmetric_transition, lu->descriptor_sense());
    send(Message{0, st});
  };
  if (lu->standby() || lu->epoch() != c.epoch) {
    // Fencing (docs/alua.md): the sender routed this command by another view of the
    // ownership than ours (it registered the LU under another epoch, or this copy stepped
    // down).
    log()->warn("SCSI_CMD {} (opcode {:#04x}) for LU {} names ownership epoch {}, ours is {}{}: refused with "
                "ASYMMETRIC ACCESS STATE TRANSITION",
                id, c.cdb.empty() ? 0 : c.cdb[0], guid_hex(c.guid), c.epoch, lu->epoch(), lu->standby() ? " (standby here)" : "");
    return answer_transition();
  }
  auto t = std::make_shared<ScsiTask>();
  t->nexus = nexus;
  t->lun = c.lun;
  t->tag = c.tag;
  t->attribute = TaskAttribute(c.attribute);
  t->cdb_length = uint8_t(std::min<size_t>(c.cdb.size(), t->cdb.size()));
  std::copy(c.cdb.begin(), c.cdb.begin() + t->cdb_length, t->cdb.begin());
  t->expected_transfer_length = c.expected_transfer_length;
  t->direction = DataDirection(c.direction);
  t->data_out = std::move(c.immediate_data);
  bool older_running = false;
  {
    // One lock: the generation check, the task's cookie and (data complete) its count.
    std::lock_guard lk(mu_);
    const uint16_t gen = uint16_t(gen_ & 0xffff);
    for (auto& [g, n] : running_by_gen_) older_running |= (n > 0 && g != gen);
    if (!older_running) {
      t->port_cookie = (uint64_t(gen) << kGenShift) | (id & kIdMask);
      if (c.data_complete) ++running_by_gen_[gen];  // balanced by task_finished
    }
  }
  if (older_running) {
    // Commands that came on a link that went down are still executing here; this one may be
    // the initiator's retry of one of them and must not overtake it on the medium.
    log()->debug("SCSI_CMD {}: tasks of a previous link are still running: ASYMMETRIC ACCESS STATE TRANSITION", id);
    return answer_transition();
  }
  if (!c.data_complete) {
    partial_[id] = t;
    return;
  }
  stmf_.submit(t);
}

// SCSI_DATA (Data-Out) for a peer's task waiting here: false when no task of that id waits.
// Data that breaks the protocol ends the task: STATUS {SCSI_CMD, task id, protocol_error}
// (docs/proxy-protocol.md "Protocol errors").
bool ProxyService::data_out(ScsiData& d) {
  auto it = partial_.find(d.task_id);
  if (it == partial_.end()) return false;
  auto t = it->second;
  if (place(t->data_out, d, data_limit(*t))) return true;
  // The buffer would have a hole where these bytes belong: the command must not run. The
  // standby node answers it as for a task whose answer cannot come (target_failure).
  log()->error("proxy protocol error: SCSI_DATA (Data-Out) for task {} at offset {}, {} bytes, beyond its expected "
               "transfer length {} (at most {}): the task is not run",
               d.task_id, d.offset, d.data.size(), t->expected_transfer_length, kMaxTaskData);
  partial_.erase(it);
  reply(MsgType::scsi_cmd, d.task_id, ProxyStatus::protocol_error);
  ScsiStatus st;
  st.task_id = d.task_id;
  st.session_id = d.session_id;
  st.response = uint8_t(TaskResponse::target_failure);
  send(Message{0, st});
  return true;
}

void ProxyService::on(uint64_t, const ScsiDataXferDone& d) {
  auto it = partial_.find(d.task_id);
  if (it == partial_.end()) return;
  auto t = it->second;
  partial_.erase(it);
  track_submit(t);  // balanced by task_finished
  if (d.status != 0) {
    task_finished(t, true);
    return;
  }
  stmf_.submit(t);
}

void ProxyService::on(uint64_t id, const TaskMgmt& t) {
  auto s = sessions_.find(t.session_id);
  if (s == sessions_.end()) {
    send(Message{next_id_++, Status{uint8_t(MsgType::task_mgmt), id, uint32_t(TmfResponse::function_rejected)}});
    return;
  }
  if (auto lu = stmf_.ensure_remote_lun(s->second, t.lun, t.guid); lu && (lu->standby() || lu->epoch() != t.epoch)) {
    // Fencing, as for SCSI_CMD: routed by another view of the ownership than ours.
    log()->warn("TASK_MGMT {} (function {}) for LU {} names ownership epoch {}, ours is {}: rejected", id, t.function,
                guid_hex(t.guid), t.epoch, lu->epoch());
    fenced_.fetch_add(1, std::memory_order_relaxed);
    send(Message{next_id_++, Status{uint8_t(MsgType::task_mgmt), id, uint32_t(TmfResponse::function_rejected)}});
    return;
  }
  TmfRequest req;
  req.function = TmfFunction(t.function);
  req.lun = t.lun;
  req.referenced_tag = t.referenced_tag;
  stmf_.task_management(s->second, req, [this, id](TmfResponse r) {
    send(Message{next_id_++, Status{uint8_t(MsgType::task_mgmt), id, uint32_t(r)}});
  });
}

}  // namespace stmf::proxy
