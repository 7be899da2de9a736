#include "core/stmf.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <span>

#include "core/log.h"
#include "core/scsi/cdb.h"
#include "core/scsi/opcodes.h"
#include "core/task_stats.h"

namespace stmf {

namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = stmf::logger("stmf");
  return l;
}

using scsi::op::kInquiry;
using scsi::op::kReportLuns;
using scsi::op::kRequestSense;

uint32_t alloc_len32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

// SAM-5 4.7: single-level LUN encoding (peripheral for < 256, flat space otherwise).
void encode_lun(uint64_t lun, uint8_t* out) {
  std::memset(out, 0, 8);
  if (lun < 256) {
    out[1] = uint8_t(lun);
  } else {
    out[0] = uint8_t(0x40 | ((lun >> 8) & 0x3f));
    out[1] = uint8_t(lun);
  }
}

void truncate_to(std::vector<uint8_t>& v, size_t alloc) {
  if (v.size() > alloc) v.resize(alloc);
}

}  // namespace

void TmfBarrier::release() {
  std::function<void()> fire;
  {
    std::lock_guard lk(mu);
    if (--pending == 0) fire = std::move(done);
  }
  if (fire) fire();
}

Stmf::Stmf() = default;

void Stmf::add_lu(LogicalUnitPtr lu) {
  std::lock_guard lk(mu_);
  lus_.push_back(std::move(lu));
}

std::vector<LogicalUnitPtr> Stmf::lus() const {
  std::lock_guard lk(mu_);
  return lus_;
}

void Stmf::remove_lu(const LogicalUnitPtr& lu) {
  std::lock_guard lk(mu_);
  std::erase(lus_, lu);
}

LogicalUnitPtr Stmf::find_lu(const Guid& guid) const {
  std::lock_guard lk(mu_);
  for (auto& lu : lus_)
    if (lu->guid() == guid) return lu;
  return nullptr;
}

void Stmf::set_peer(PeerForwarder* forwarder, NexusObserver* observer) {
  std::lock_guard lk(mu_);
  forwarder_ = forwarder;
  observer_ = observer;
}

void Stmf::set_alua(const AluaGroups& g) {
  std::lock_guard lk(mu_);
  alua_ = g;
}

AluaGroups Stmf::alua() const {
  std::lock_guard lk(mu_);
  return alua_;
}

std::shared_ptr<const LunMap> Stmf::map_for(const ItNexus& n) const {
  if (!n.remote()) return views_->map_for(n.initiator_name(), n.port().target_name());
  auto m = std::make_shared<LunMap>();
  auto it = remote_luns_.find(n.id());
  if (it == remote_luns_.end()) return m;
  for (auto& [lun, guid] : it->second)
    for (auto& lu : lus_)
      if (lu->guid() == guid && !lu->standby()) m->luns[lun] = lu;
  return m;
}

ItNexusPtr Stmf::create_remote_nexus(LocalPort& port, std::string initiator_name, std::string isid_hex, uint64_t remote_id,
                                     std::vector<std::pair<uint64_t, Guid>> luns, ars::ash_t ash) {
  ItNexusPtr n;
  SessionListener* listener;
  {
    std::lock_guard lk(mu_);
    n = std::make_shared<ItNexus>(next_nexus_id_++, port, std::move(initiator_name), std::move(isid_hex));
    n->set_remote(remote_id);
    begin_array_session(*n, ash);
    remote_luns_[n->id()] = std::move(luns);
    n->set_lun_map(map_for(*n));
    std::erase_if(nexuses_, [](auto& w) { return w.expired(); });
    nexuses_.push_back(n);
    listener = session_listener_;
  }
  log()->info("I_T nexus {} created for peer session {}: {} -> {} ({} LUN(s)), ASH 0x{:016x}", n->id(), remote_id,
              n->initiator_port_name(), port.port_name(), n->lun_map()->luns.size(), n->ash());
  if (listener) listener->session_started(n);
  return n;
}

void Stmf::begin_array_session(ItNexus& n, ars::ash_t given) {
  if (given != ars::kAshNone) {
    // The peer's handle: kept as it is (both nodes report one handle) and remembered as in use
    // so this node's counter never hands it out meanwhile.
    for (auto& w : nexuses_)
      if (auto other = w.lock(); other && !other->remote() && other->ash() == given)
        log()->warn("ASH 0x{:016x} of a peer session is also a session's here (machine IDs not distinct?)", given);
    const bool adopted = ars_->adopt(given);
    if (!adopted) log()->warn("ASH 0x{:016x} of a peer session not remembered: {} handles in use", given, ars_->live_count());
    n.set_ash(given, adopted ? ars_ : nullptr);
  } else if (auto a = ars_->new_session()) {
    n.set_ash(*a, ars_);
  } else {
    log()->warn("no array session handle for {}: {} handles in use", n.initiator_port_name(), ars_->live_count());
  }
  const auto s = ars_->settings();
  const auto len = uint32_t(s.spilen);
  // A member of a host group with an SPI starts with it as its own (until ARSOP_SETSPI).
  if (auto g = s.member_spi.find(n.initiator_name()); g != s.member_spi.end())
    n.set_spi({len, ars::fit_spi(g->second, len), true});
  else
    n.set_spi({len, {}, false});
}

void Stmf::set_session_listener(SessionListener* l) {
  std::lock_guard lk(mu_);
  session_listener_ = l;
}

std::vector<uint8_t> Stmf::session_spi(const ItNexus& n) const {
  auto spi = n.spi();
  if (spi.own) return ars::fit_spi(spi.bytes, spi.len);
  return ars::fit_spi(ars_->settings().default_spi, spi.len);
}

ItNexusPtr Stmf::find_nexus(ars::ash_t ash) const {
  std::lock_guard lk(mu_);
  for (auto& w : nexuses_)
    if (auto n = w.lock(); n && n->ash() == ash) return n;
  return nullptr;
}

void Stmf::set_remote_luns(const ItNexusPtr& n, std::vector<std::pair<uint64_t, Guid>> luns) {
  std::shared_ptr<const LunMap> old_map, new_map;
  {
    std::lock_guard lk(mu_);
    remote_luns_[n->id()] = std::move(luns);
    old_map = n->lun_map();
    new_map = map_for(*n);
    n->set_lun_map(new_map);
  }
  if (old_map && old_map->luns == new_map->luns) return;
  if (old_map)
    for (auto& [lun, lu] : old_map->luns) lu->unit_attentions().raise(n->key(), scsi::sense::reported_luns_data_has_changed);
  for (auto& [lun, lu] : new_map->luns) lu->unit_attentions().raise(n->key(), scsi::sense::reported_luns_data_has_changed);
}

LogicalUnitPtr Stmf::ensure_remote_lun(const ItNexusPtr& n, uint64_t lun, const Guid& guid) {
  std::lock_guard lk(mu_);
  auto cur = n->lun_map();
  if (cur) {
    auto lu = cur->find(lun);
    if (lu && lu->guid() == guid) return lu;
  }
  LogicalUnitPtr found;
  for (auto& lu : lus_)
    if (lu->guid() == guid && !lu->standby()) found = lu;
  if (!found) return nullptr;
  auto& list = remote_luns_[n->id()];
  std::erase_if(list, [&](auto& e) { return e.first == lun; });
  list.emplace_back(lun, guid);
  n->set_lun_map(map_for(*n));
  return found;
}

std::vector<LocalPort*> Stmf::ports() const {
  std::lock_guard lk(mu_);
  return ports_;
}

void Stmf::raise_alua_change(bool standby_lus, bool active_lus) {
  for (auto& lu : lus())
    if (lu->standby() ? standby_lus : active_lus) lu->unit_attentions().raise_all(scsi::sense::asymmetric_access_state_changed);
}

std::vector<ItNexusPtr> Stmf::nexuses() const {
  std::lock_guard lk(mu_);
  std::vector<ItNexusPtr> out;
  for (auto& w : nexuses_)
    if (auto n = w.lock()) out.push_back(n);
  return out;
}

void Stmf::set_views(std::shared_ptr<const ViewTable> views) {
  std::vector<ItNexusPtr> all;
  {
    std::lock_guard lk(mu_);
    views_ = views;
    std::erase_if(nexuses_, [](auto& w) { return w.expired(); });
    for (auto& w : nexuses_)
      if (auto n = w.lock()) all.push_back(n);
  }
  // Nexuses created from here on read views_ under mu_; the ones collected above get their
  // new map here. (A nexus created between the two steps already saw the new table.)
  for (auto& n : all) {
    auto old_map = n->lun_map();
    std::shared_ptr<const LunMap> new_map;
    {
      std::lock_guard lk(mu_);
      new_map = map_for(*n);
    }
    const bool changed = !old_map || old_map->luns != new_map->luns;
    n->set_lun_map(new_map);
    if (!changed) continue;
    if (observer_ && !n->remote()) observer_->lun_map_changed(n);
    log()->info("I_T nexus {} ({}): LUN inventory changed, {} LUN(s) now", n->id(), n->initiator_port_name(),
                new_map->luns.size());
    if (old_map)
      for (auto& [lun, lu] : old_map->luns) lu->unit_attentions().raise(n->key(), scsi::sense::reported_luns_data_has_changed);
    for (auto& [lun, lu] : new_map->luns) lu->unit_attentions().raise(n->key(), scsi::sense::reported_luns_data_has_changed);
  }
}

void Stmf::raise_for_lu(const LogicalUnitPtr& lu, const scsi::SenseCode& ua) {
  for (auto& n : nexuses()) {
    auto m = n->lun_map();
    if (!m) continue;
    for (auto& [lun, x] : m->luns)
      if (x == lu) {
        lu->unit_attentions().raise(n->key(), ua);
        break;
      }
  }
}

ItNexusPtr Stmf::create_nexus(LocalPort& port, std::string initiator_name, std::string isid_hex) {
  ItNexusPtr n;
  NexusObserver* observer;
  SessionListener* listener;
  {
    std::lock_guard lk(mu_);
    n = std::make_shared<ItNexus>(next_nexus_id_++, port, std::move(initiator_name), std::move(isid_hex));
    begin_array_session(*n, ars::kAshNone);
    n->set_lun_map(views_->map_for(n->initiator_name(), port.target_name()));
    std::erase_if(nexuses_, [](auto& w) { return w.expired(); });
    nexuses_.push_back(n);
    observer = observer_;
    listener = session_listener_;
  }
  log()->info("I_T nexus {} created: {} -> {}, ASH 0x{:016x}", n->id(), n->initiator_port_name(), port.port_name(), n->ash());
  if (listener) listener->session_started(n);
  if (observer) observer->nexus_created(n);
  return n;
}

void Stmf::nexus_lost(const ItNexusPtr& nexus) {
  auto map = nexus->lun_map();
  const std::string key = nexus->key();
  int aborted = 0;
  if (map) {
    for (auto& [lun, lu] : map->luns) {
      aborted += abort_tasks(*lu, [&](const ScsiTask& t) { return t.nexus == nexus; }, nullptr);
      lu->unit_attentions().nexus_lost(key);
      lu->on_nexus_loss(key);
      {
        std::unique_lock lk(lu->reservations().mu);  // SCSI-2 reservation ends; PR stays
        lu->reservations().engine.on_nexus_loss(pr_nexus(*nexus));
      }
    }
  }
  log()->info("I_T nexus {} lost ({}), {} task(s) aborted", nexus->id(), nexus->initiator_port_name(), aborted);
  NexusObserver* observer;
  SessionListener* listener;
  bool was_live;
  {
    std::lock_guard lk(mu_);
    was_live = std::find_if(nexuses_.begin(), nexuses_.end(), [&](auto& w) { return w.lock() == nexus; }) != nexuses_.end();
    std::erase_if(nexuses_, [&](auto& w) { auto n = w.lock(); return !n || n == nexus; });
    remote_luns_.erase(nexus->id());
    observer = observer_;
    listener = session_listener_;
  }
  if (observer && !nexus->remote()) observer->nexus_lost(nexus);
  if (!was_live) return;  // lost twice: the session ended once
  if (listener) listener->session_ended(nexus);
}

size_t Stmf::tasks_in_flight() const { return in_flight_.load(); }

void Stmf::submit(TaskPtr task) {
  if (statistics_.load(std::memory_order_relaxed)) count_start(*task);
  auto map = task->nexus->lun_map();
  LogicalUnitPtr lu = map ? map->find(task->lun) : nullptr;
  const uint8_t op = task->opcode();

  // 1. LUN mapped?
  if (!lu) {
    answer_unmapped(task, map.get());
    return;
  }
  const bool desc = lu->descriptor_sense();
  // 2. REPORT LUNS: the framework answers it for every LU.
  if (op == kReportLuns) {
    report_luns(task, map.get());
    lu->unit_attentions().clear(task->nexus->key(), scsi::sense::reported_luns_data_has_changed);
    finish_without_lu(task);
    return;
  }
  // 3. A standby LU: the active node runs the rest of the pipeline (core/alua.h). Unit
  // attentions this node raised on it (its own access state changes, 2A/06) are reported
  // here first; the active node reports its own (power on, resets, reservations...).
  // Set when the forwarder refused the task: it is then answered as for a standby LU (step 8)
  // even if the LU became active meanwhile (a takeover at this instant), since a refused
  // forward may have taken the task's Data-Out (ProxyService::forward_task moves it into the
  // frame): run here, a WRITE would write nothing and answer GOOD. The initiator retries.
  bool forward_refused = false;
  if (lu->standby() && forwarder_) {
    auto& uas = lu->unit_attentions();
    uas.mark_seen(task->nexus->key());
    const CommandInfo* ci = lu->command_info(task->cdb.data(), task->cdb_length);
    if (!(ci && ci->allowed_with_ua) && op != kInquiry && op != kRequestSense) {
      if (auto ua = uas.next(task->nexus->key(), true)) {
        task->check_condition(*ua, desc);
        finish_without_lu(task);
        return;
      }
    }
    if (forwarder_->forward_task(lu, task)) return;
    forward_refused = true;
  }
  count_lu(*task, lu);
  // 4. REQUEST SENSE: the framework answers it.
  if (op == kRequestSense) {
    request_sense(task, lu.get());
    finish_without_lu(task);
    return;
  }
  const CommandInfo* ci = lu->command_info(task->cdb.data(), task->cdb_length);
  // 5. Unit attention.
  if (!(ci && ci->allowed_with_ua) && op != kInquiry) {
    if (auto ua = lu->unit_attentions().next(task->nexus->key(), true)) {
      task->check_condition(*ua, desc);
      finish_without_lu(task);
      return;
    }
  }
  // 6. Opcode support.
  if (!ci) {
    task->check_condition(lu->has_service_actions(op) ? scsi::sense::invalid_field_in_cdb.with_field(true, 1, 4)
                                                      : scsi::sense::invalid_command_operation_code.with_field(true, 0),
                          desc);
    finish_without_lu(task);
    return;
  }
  // 7. Control byte: NACA (bit 2) is not supported (SAM-5 5.3, SPC-4 4.3.4.4).
  if (ci->cdb_length > 0 && ci->cdb_length <= task->cdb.size() && (task->cdb[ci->cdb_length - 1] & 0x04)) {
    task->check_condition(scsi::sense::invalid_field_in_cdb.with_field(true, uint16_t(ci->cdb_length - 1), 2), desc);
    finish_without_lu(task);
    return;
  }
  // 8. ALUA.
  if (alua_step(lu, task, forward_refused)) return;
  // 9. Reservations.
  std::shared_lock<std::shared_mutex> admission;
  if (reservations_step(lu, task, *ci, admission)) return;
  // SET TARGET PORT GROUPS (explicit ALUA): the framework changes ownership.
  if (op == scsi::op::kMaintenanceOut &&
      scsi::service_action(task->cdb.data()) == scsi::maintenance_out::kSetTargetPortGroups) {
    admission.unlock();
    set_target_port_groups(lu, task);
    return;
  }
  // 10. Execute, tracked in the LU's task set.
  {
    auto& ts = lu->task_set();
    std::lock_guard lk(ts.mu);
    ts.tasks.push_front(task);
    task->task_set_pos = ts.tasks.begin();
  }
  in_flight_.fetch_add(1, std::memory_order_relaxed);
  lu->execute(task, [this, lu](const TaskPtr& t) { complete(lu, t); });
}

bool Stmf::alua_step(const LogicalUnitPtr& lu, const TaskPtr& task, bool forward_refused) {
  const auto& cdb = task->cdb;
  if (cdb[0] == scsi::op::kMaintenanceIn &&
      scsi::service_action(cdb.data()) == scsi::maintenance_in::kReportTargetPortGroups) {
    report_target_port_groups(lu, task);
    finish_without_lu(task);
    return true;
  }
  if ((lu->standby() || forward_refused) && !allowed_when_unavailable(cdb.data())) {
    // The link is down (forward_task refused the task). While it may come back (the reconnect
    // window), or while the published state still says "up" (the link is going down this
    // instant: the proxy publishes the window right after it stops forwarding), the path is
    // Transitioning, which initiators retry; Unavailable only once the window is over.
    // An LU that became active since its forward was refused is in transition here.
    const AluaGroups g = alua();
    task->check_condition(g.reconnecting || g.link_up || !lu->standby() ? scsi::sense::not_ready_asymmetric_transition
                                                      : scsi::sense::not_ready_target_port_unavailable,
                          lu->descriptor_sense());
    finish_without_lu(task);
    return true;
  }
  if (lu->transitioning() && !allowed_when_unavailable(cdb.data())) {
    task->check_condition(scsi::sense::not_ready_asymmetric_transition, lu->descriptor_sense());
    finish_without_lu(task);
    return true;
  }
  return false;
}

void Stmf::report_target_port_groups(const LogicalUnitPtr& lu, const TaskPtr& task) {
  const auto& cdb = task->cdb;
  const uint32_t alloc = alloc_len32(&cdb[6]);
  const bool extended = ((cdb[1] >> 5) & 0x7) == 0x1;
  const AluaGroups a = alua();
  // The groups: every target port of the pair, grouped by TPG (the peer's ports are the
  // proxy ports its registration created here).
  std::map<uint16_t, std::vector<uint16_t>> by_tpg;
  {
    std::lock_guard lk(mu_);
    for (auto* p : ports_) by_tpg[p->tpg()].push_back(p->rtpi());
  }
  const uint16_t own = tpg_of_node(a.node);
  const uint16_t active_tpg = lu->standby() ? tpg_of_node(1 - a.node) : own;
  std::vector<TpgDescriptor> groups;
  for (auto& [tpg, rtpis] : by_tpg) {
    TpgDescriptor g;
    g.tpg = tpg;
    g.rtpis = rtpis;
    std::sort(g.rtpis.begin(), g.rtpis.end());
    if (tpg == active_tpg) {
      g.state = lu->transitioning() ? AccessState::transitioning : AccessState::active_optimized;
      g.preferred = true;
    } else {
      g.state = a.link_up        ? AccessState::active_non_optimized
                : a.reconnecting ? AccessState::transitioning
                                 : AccessState::unavailable;
    }
    groups.push_back(std::move(g));
  }
  task->data_in = build_rtpg(groups, extended);
  task->transfer_length = int64_t(task->data_in.size());
  truncate_to(task->data_in, alloc);
}

// SPC-4 6.31. Only the two states that name an owner are accepted: Active/Optimized for a
// group makes its node the LU's owner; Active/Non-optimized for the owner's group makes the
// other node the owner (Active/Non-optimized for the other group changes nothing).
void Stmf::set_target_port_groups(const LogicalUnitPtr& lu, const TaskPtr& task) {
  const AluaGroups a = alua();
  const bool desc = lu->descriptor_sense();
  auto fail = [&](const scsi::SenseCode& s) {
    task->check_condition(s, desc);
    finish_without_lu(task);
  };
  if (!a.enabled || !forwarder_) return fail(scsi::sense::invalid_command_operation_code.with_field(true, 0));
  // The parameter list is PARAMETER LIST LENGTH bytes (CDB bytes 6-9), not whatever the
  // Data-Out buffer holds: fewer bytes than that is the transport's fault (INVALID FIELD IN
  // INFORMATION UNIT), more are not part of the list (the port reports the underflow).
  const uint32_t plen = scsi::get_be32(&task->cdb[6]);
  task->transfer_length = plen;
  if (plen == 0) {
    finish_without_lu(task);  // SPC-4 6.31: no parameter data, nothing to set
    return;
  }
  if (plen < 4 || (plen - 4) % 4 != 0) return fail(scsi::sense::parameter_list_length_error);
  if (task->data_out.size() < plen) return fail(scsi::sense::invalid_field_in_command_iu);
  const std::span<const uint8_t> p(task->data_out.data(), plen);
  const uint16_t own = tpg_of_node(a.node), other = tpg_of_node(1 - a.node);
  // This node owns the LU here (a standby node forwards STPG to the owner).
  std::optional<uint16_t> want;
  for (size_t i = 4; i < p.size(); i += 4) {
    const uint8_t state = p[i] & 0x0f;
    const uint16_t tpg = uint16_t(p[i + 2] << 8 | p[i + 3]);
    if (tpg != own && tpg != other) return fail(scsi::sense::invalid_field_in_parameter_list.with_field(false, uint16_t(i + 2)));
    if (state == uint8_t(AccessState::active_optimized)) {
      if (want && *want != tpg) return fail(scsi::sense::invalid_field_in_parameter_list.with_field(false, uint16_t(i)));
      want = tpg;
    } else if (state == uint8_t(AccessState::active_non_optimized)) {
      if (tpg == own) {
        if (want && *want != other) return fail(scsi::sense::invalid_field_in_parameter_list.with_field(false, uint16_t(i)));
        want = other;
      }
    } else {
      return fail(scsi::sense::invalid_field_in_parameter_list.with_field(false, uint16_t(i)));
    }
  }
  if (!want || *want == own) {
    finish_without_lu(task);  // already so
    return;
  }
  if (!a.link_up) return fail(scsi::sense::set_target_port_groups_failed);
  log()->info("LU {}: SET TARGET PORT GROUPS from {}: target port group {} becomes Active/Optimized", lu->name(),
              task->nexus->initiator_port_name(), *want);
  forwarder_->hand_over(lu, [this, task, desc](bool ok) {
    if (!ok) task->check_condition(scsi::sense::set_target_port_groups_failed, desc);
    finish_without_lu(task);
  });
}

void Stmf::complete(const LogicalUnitPtr& lu, const TaskPtr& task) {
  {
    auto& ts = lu->task_set();
    std::lock_guard lk(ts.mu);
    ts.tasks.erase(task->task_set_pos);
  }
  in_flight_.fetch_sub(1, std::memory_order_relaxed);
  if (task->aborted.load()) {
    auto barrier = std::move(task->abort_barrier);
    deliver_aborted(task);
    if (barrier) barrier->release();
    return;
  }
  deliver(task);
}

void Stmf::finish_without_lu(const TaskPtr& task) { deliver(task); }

void Stmf::answer_unmapped(const TaskPtr& task, const LunMap* map) {
  const uint8_t op = task->opcode();
  const auto& cdb = task->cdb;
  if (op == kReportLuns) {
    report_luns(task, map);
  } else if (op == kInquiry && !(cdb[1] & 0x01)) {
    // SPC-4 6.6.2: peripheral qualifier 011b, device type 1Fh for an unsupported LUN.
    std::vector<uint8_t> d(36, 0);
    d[0] = 0x7f;
    d[2] = 0x06;
    d[3] = 0x02;
    d[4] = 31;
    std::memcpy(&d[8], "STMF    ", 8);
    std::memcpy(&d[16], "NO LUN          ", 16);
    std::memcpy(&d[32], "0001", 4);
    task->data_in = std::move(d);
    truncate_to(task->data_in, size_t(cdb[3]) << 8 | cdb[4]);
  } else if (op == kRequestSense) {
    // SPC-4 6.39: REQUEST SENSE to an unsupported LUN returns GOOD with this sense data.
    task->data_in = scsi::build_sense(scsi::sense::logical_unit_not_supported, cdb[1] & 0x01);
    truncate_to(task->data_in, cdb[4]);
  } else {
    task->check_condition(scsi::sense::logical_unit_not_supported, false);
  }
  finish_without_lu(task);
}

void Stmf::report_luns(const TaskPtr& task, const LunMap* map) {
  const auto& cdb = task->cdb;
  const uint8_t select = cdb[2];
  const uint32_t alloc = alloc_len32(&cdb[6]);
  if (select != 0x00 && select != 0x01 && select != 0x02) {
    task->check_condition(scsi::sense::invalid_field_in_cdb.with_field(true, 2), false);
    return;
  }
  std::vector<uint8_t> d(8, 0);
  if (select != 0x01 && map) {  // no well-known LUNs are implemented
    for (auto& [lun, lu] : map->luns) {
      uint8_t e[8];
      encode_lun(lun, e);
      d.insert(d.end(), e, e + 8);
    }
  }
  const uint32_t list_len = uint32_t(d.size() - 8);
  d[0] = uint8_t(list_len >> 24); d[1] = uint8_t(list_len >> 16); d[2] = uint8_t(list_len >> 8); d[3] = uint8_t(list_len);
  task->data_in = std::move(d);
  truncate_to(task->data_in, alloc);
}

void Stmf::request_sense(const TaskPtr& task, LogicalUnit* lu) {
  const auto& cdb = task->cdb;
  const bool desc = cdb[1] & 0x01;
  if (cdb[1] & 0xfe) {
    task->check_condition(scsi::sense::invalid_field_in_cdb.with_field(true, 1), lu->descriptor_sense());
    return;
  }
  // SPC-4 6.39: a pending unit attention is returned (and cleared) as parameter data; else
  // the LU's current condition (a sanitize in progress or failed), else NO SENSE.
  auto ua = lu->unit_attentions().next(task->nexus->key(), true);
  if (!ua) ua = lu->current_condition();
  task->data_in = scsi::build_sense(ua ? *ua : scsi::SenseCode{}, desc);
  truncate_to(task->data_in, cdb[4]);
}

int Stmf::abort_tasks(LogicalUnit& lu, const std::function<bool(const ScsiTask&)>& match,
                      const std::shared_ptr<TmfBarrier>& barrier) {
  int n = 0;
  auto& ts = lu.task_set();
  std::lock_guard lk(ts.mu);
  for (auto& t : ts.tasks) {
    if (t->aborted.load() || !match(*t)) continue;
    if (barrier) {
      std::lock_guard bl(barrier->mu);
      ++barrier->pending;
      t->abort_barrier = barrier;
    }
    t->aborted.store(true);
    ++n;
  }
  return n;
}

void Stmf::reset_lu(LogicalUnit& lu, ResetKind kind, const std::shared_ptr<TmfBarrier>& barrier) {
  abort_tasks(lu, [](const ScsiTask&) { return true; }, barrier);
  lu.on_reset(kind);
  {
    std::unique_lock lk(lu.reservations().mu);  // SCSI-2 reservation ends; PR stays
    lu.reservations().engine.on_reset();
  }
  lu.unit_attentions().raise_all(kind == ResetKind::logical_unit ? scsi::sense::bus_device_reset
                                                                  : scsi::sense::power_on_reset);
}

void Stmf::task_management(const ItNexusPtr& nexus, const TmfRequest& req, std::function<void(TmfResponse)> done) {
  auto map = nexus->lun_map();
  LogicalUnitPtr lu = map ? map->find(req.lun) : nullptr;
  // A standby LU: the active node acts (core/alua.h).
  if (lu && lu->standby() && forwarder_ && req.function != TmfFunction::target_warm_reset &&
      req.function != TmfFunction::target_cold_reset && req.function != TmfFunction::task_reassign) {
    if (forwarder_->forward_tmf(lu, nexus, req, done)) return;
  }
  auto barrier = std::make_shared<TmfBarrier>();
  auto result = std::make_shared<TmfResponse>(TmfResponse::function_complete);
  barrier->done = [done, result] { done(*result); };
  switch (req.function) {
    case TmfFunction::abort_task:
      if (!lu) { *result = TmfResponse::lun_does_not_exist; break; }
      if (abort_tasks(*lu, [&](const ScsiTask& t) { return t.nexus == nexus && t.tag == req.referenced_tag; }, barrier) == 0)
        *result = TmfResponse::task_does_not_exist;
      break;
    case TmfFunction::abort_task_set:
      if (!lu) { *result = TmfResponse::lun_does_not_exist; break; }
      abort_tasks(*lu, [&](const ScsiTask& t) { return t.nexus == nexus; }, barrier);
      break;
    case TmfFunction::clear_task_set: {
      if (!lu) { *result = TmfResponse::lun_does_not_exist; break; }
      std::vector<std::string> others;
      abort_tasks(*lu, [&](const ScsiTask& t) {
        if (t.nexus != nexus) others.push_back(t.nexus->key());
        return true;
      }, barrier);
      // SPC-4 7.5.8 (TAS = 0): other nexuses whose tasks were cleared are told so.
      for (auto& k : others) lu->unit_attentions().raise(k, scsi::sense::commands_cleared_by_another_initiator);
      break;
    }
    case TmfFunction::logical_unit_reset:
      if (!lu) { *result = TmfResponse::lun_does_not_exist; break; }
      reset_lu(*lu, ResetKind::logical_unit, barrier);
      break;
    case TmfFunction::target_warm_reset:
    case TmfFunction::target_cold_reset:
      if (map)
        for (auto& [n, l] : map->luns) {
          if (l->standby() && forwarder_) {
            {
              std::lock_guard bl(barrier->mu);
              ++barrier->pending;
            }
            TmfRequest one = req;
            one.lun = n;
            if (forwarder_->forward_tmf(l, nexus, one, [barrier](TmfResponse) { barrier->release(); })) continue;
            barrier->release();
          }
          reset_lu(*l, req.function == TmfFunction::target_warm_reset ? ResetKind::target_warm : ResetKind::target_cold, barrier);
        }
      break;
    case TmfFunction::clear_aca:
      *result = lu ? TmfResponse::function_not_supported : TmfResponse::lun_does_not_exist;
      break;
    case TmfFunction::task_reassign:
      *result = TmfResponse::reassignment_not_supported;
      break;
    default:
      *result = TmfResponse::function_not_supported;
  }
  log()->info("TMF {} lun {} ref 0x{:08x} from {}: response {}", int(req.function), req.lun, req.referenced_tag,
              nexus->initiator_port_name(), int(*result));
  barrier->release();
}

}  // namespace stmf
