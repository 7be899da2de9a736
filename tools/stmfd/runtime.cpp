#include "tools/stmfd/runtime.h"
#include "mgmt/json_limits.h"

#include <spdlog/spdlog.h>
#include <sys/xattr.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/audit.h"
#include "core/log.h"
#include "core/scsi/sbd_lu.h"
#include "core/scsi/sense.h"
#include "core/store/backing_store.h"
#include <stmf_status.h>
#include "proxy/proxy_port.h"
#include "store_iscsi/fence.h"
#include "store_iscsi/iscsi_store.h"
#ifdef STMF_HAVE_RBD
#include "store_rbd/rbd_store.h"
#endif
#include "tools/stmfd/pr_persistence.h"
#include "tools/stmfd/session_acct.h"
#include "tools/stmfd/storage_race.h"
#include "tools/stmfd/stats_report.h"

namespace stmfd {

using namespace stmf::mgmt;

namespace {

constexpr const char* kMetaXattr = "user.stmf.lu";

std::shared_ptr<spdlog::logger> log() {
  static auto l = stmf::logger("mgmt");
  return l;
}

// Properties that need a new LU object when they change (the rest change in place).
bool needs_rebuild(const LuConfig& a, const LuConfig& b) {
  return a.store != b.store || a.backing != b.backing || a.backend != b.backend || a.rbd != b.rbd || a.block_size != b.block_size ||
         a.physical_block_size != b.physical_block_size || a.removable != b.removable || a.direct != b.direct ||
         a.vendor != b.vendor || a.product != b.product || a.serial != b.serial || a.sanitize != b.sanitize ||
         a.sanitize_rate != b.sanitize_rate;
}

const LuConfig* find(const std::vector<LuConfig>& v, const std::string& guid) {
  for (auto& l : v)
    if (l.guid == guid) return &l;
  return nullptr;
}

stmf::transport::TargetSettings target_settings(const TargetConfig& t) {
  stmf::transport::TargetSettings ts;
  ts.iqn = t.iqn;
  ts.alias = t.alias;
  ts.tpgt = t.tpgt;
  ts.initiators = t.initiators;
  ts.auth = t.auth;
  if (t.chap) ts.chap = stmf::transport::ChapSettings{t.chap->user, t.chap->secret, t.chap->mutual_user, t.chap->mutual_secret};
  return ts;
}

// The node-wide CHAP settings: initiators without a secret are left out (nothing to prove).
stmf::transport::AuthSettings auth_settings(const Config& c) {
  stmf::transport::AuthSettings a;
  a.default_auth = c.iscsi.default_auth;
  a.discovery_auth = c.iscsi.discovery_auth;
  for (auto& i : c.initiators)
    if (!i.chap_secret.empty()) a.initiators[i.name] = {i.effective_user(), i.chap_secret};
  return a;
}

}  // namespace

namespace {
// An LU fenced at its storage (docs/failover.md "Fencing at the storage", core/store/fencing.h:
// an iscsi store's SAN LUN or an rbd store's image): the store reports its fencing (on its
// strand, possibly before the LU object exists); the LU then stays Transitioning.
struct FenceWatch {
  std::mutex mu;
  std::weak_ptr<stmf::LogicalUnit> lu;
  bool fenced = false;
};

// `report`: log and audit here (no proxy service: its ownership machine does it otherwise).
// `hold`: what this node held ("key 0x...", "the RBD image's exclusive lock").
void lu_fenced(FenceWatch& w, const std::string& guid, const std::string& hold, const std::string& why, bool report) {
  std::shared_ptr<stmf::LogicalUnit> lu;
  {
    std::lock_guard lk(w.mu);
    w.fenced = true;
    lu = w.lu.lock();
  }
  if (lu) lu->set_fenced();
  if (!report) return;
  log()->error("LU {} fenced at the storage ({}): {}; it stops serving here (Transitioning) until it is taken "
               "over again or the daemon restarts",
               guid, hold, why);
  stmf::audit({"fencing", "fenced", {}, {{"lu", guid}, {"hold", hold}, {"detail", why}}, "stopped"});
}
}  // namespace

namespace {
#ifdef STMF_HAVE_RBD
// The rbd store's options from an LU's backend (the LU's store, or the standby's lock break).
stmf::rbdstore::RbdStoreOptions rbd_options(const stmf::mgmt::RbdBackendConfig& b) {
  stmf::rbdstore::RbdStoreOptions o;
  o.pool = b.pool;
  o.image = b.image;
  o.ns = b.ns;
  o.client = b.client;
  o.conf = b.conf;
  o.keyring = b.keyring;
  o.queue_depth = b.queue_depth;
  o.queue_limit = b.queue_limit;
  o.retry_attempts = b.retry_attempts;
  o.retry_max = std::chrono::milliseconds(b.retry_ms);
  o.op_timeout_s = b.op_timeout_s;
  o.connect_timeout = std::chrono::milliseconds(b.connect_timeout_ms);
  return o;
}
#endif

// An RBD-backed LU whose image grew (the store saw it through its update watch, on the
// io_context): the LU grows to the image's size and its nexuses get CAPACITY DATA HAS CHANGED.
struct GrowWatch {
  std::mutex mu;
  std::weak_ptr<stmf::LogicalUnit> lu;
};
}  // namespace

Status Runtime::build_lu(const LuConfig& l, const stmf::mgmt::AluaConfig& alua, uint64_t& size, stmf::LogicalUnitPtr& out) {
  std::unique_ptr<stmf::store::BackingStore> store;
  std::string why;
  std::shared_ptr<FenceWatch> watch;
  const uint64_t fence_key = stmf::mgmt::lu_fence_key(alua, l);
  // The store reports losing its hold at the storage (either provider).
  auto on_fenced = [&](const std::string& hold) -> stmf::store::FencedCallback {
    watch = std::make_shared<FenceWatch>();
    return [this, watch, guid = l.guid, hold](const std::string& why) {
      lu_fenced(*watch, guid, hold, why, !proxy_);
      if (proxy_) proxy_->lu_fenced(*parse_guid(guid), why);  // the ownership machine: fenced, steps down later
    };
  };
  std::shared_ptr<GrowWatch> grow_watch;
  if (l.store == "rbd") {
#ifdef STMF_HAVE_RBD
    stmf::rbdstore::RbdStoreOptions o = rbd_options(l.rbd);
    o.size = l.size;
    if (stmf::mgmt::lu_storage_fenced(alua, l)) {  // the owner holds the image's exclusive lock
      o.exclusive = true;
      o.on_fenced = on_fenced("the RBD image's exclusive lock");
    }
    grow_watch = std::make_shared<GrowWatch>();
    o.on_grown = [this, grow_watch, guid = l.guid, bs = l.block_size](uint64_t bytes) {
      std::shared_ptr<stmf::LogicalUnit> lu;
      {
        std::lock_guard lk(grow_watch->mu);
        lu = grow_watch->lu.lock();
      }
      if (!lu) return;
      if (auto ec = stmf::sbd::grow_block_lu(*lu, bytes - bytes % bs)) {
        log()->error("LU {}: its RBD image grew to {} bytes, the LU cannot follow: {}", guid, bytes, ec.message());
        return;
      }
      log()->info("LU {} grown to {} bytes (its RBD image grew)", guid, bytes - bytes % bs);
      stmf_.raise_for_lu(lu, stmf::scsi::sense::capacity_data_has_changed);
    };
    std::error_code ec;
    // Connects and opens the image here (the management thread), bounded by its connect timeout.
    store = stmf::rbdstore::make_rbd_store(server_.io(), o, ec, why);
    if (!store)
      return error(ec == std::errc::value_too_large ? STMF_ERROR_SIZE_OUT_OF_RANGE : STMF_ERROR_DATA_FILE_NAME,
                   "LU " + (l.name.empty() ? l.guid : l.name) + ": " + why);
    if (auto h = stmf::rbdstore::fence_hold(*store)) prepared_holds_[l.guid] = std::move(h);
#else
    return error(STMF_ERROR_INVALID_PROP, "LU " + (l.name.empty() ? l.guid : l.name) +
                                              ": this stmfd was built without librbd (no rbd store)");
#endif
  } else if (l.store == "ram") {
    store = stmf::store::make_ram_store(l.size);
  } else if (l.store == "null") {
    store = stmf::store::make_null_store(l.size);
  } else if (l.store == "iscsi") {
    stmf::iscsistore::IscsiStoreOptions o;
    o.url = l.backend.url;
    o.initiator = l.backend.initiator;
    o.chap_user = l.backend.chap_user;
    o.chap_secret = l.backend.chap_secret;
    o.header_digest = l.backend.header_digest;
    o.queue_depth = l.backend.queue_depth;
    o.queue_limit = l.backend.queue_limit;
    o.retry.max_attempts = l.backend.retry_attempts;
    o.retry.max_wait = std::chrono::milliseconds(l.backend.retry_ms);
    o.command_timeout_s = l.backend.command_timeout_s;
    o.connect_timeout = std::chrono::milliseconds(l.backend.connect_timeout_ms);
    o.block_size = l.block_size;
    o.size = l.size;
    if (fence_key) {
      o.fence_key = fence_key;
      o.on_fenced = on_fenced("key " + stmf::iscsistore::key_hex(fence_key));
    }
    std::error_code ec;
    // Connects and probes the backend here (the management thread), bounded by its connect timeout.
    store = stmf::iscsistore::make_iscsi_store(server_.io(), o, ec, why);
    if (!store)
      return error(ec == std::errc::argument_out_of_domain ? STMF_ERROR_INVALID_BLKSIZE
                   : ec == std::errc::value_too_large      ? STMF_ERROR_SIZE_OUT_OF_RANGE
                                                           : STMF_ERROR_DATA_FILE_NAME,
                   "LU " + (l.name.empty() ? l.guid : l.name) + ": " + why);
  } else {
    stmf::store::StoreOptions o;
    o.path = l.backing;
    o.size = l.size;
    o.read_only = false;
    o.direct = l.direct;
    std::error_code ec;
    store = stmf::store::make_file_store(o, ec, why);
    if (!store && ec == std::errc::read_only_file_system) {
      o.read_only = true;  // a read-only file can still back a write-protected LU
      store = stmf::store::make_file_store(o, ec, why);
    }
    if (!store && why.empty()) why = ec.message();
  }
  if (!store) return error(STMF_ERROR_DATA_FILE_NAME, "cannot open backing store " + l.backing + ": " + why);
  if (store->size() < l.block_size)
    return error(STMF_ERROR_FILE_SIZE_INVALID, "backing store " + l.backing + " is smaller than one block");
  size = store->size() - store->size() % l.block_size;
  stmf::sbd::BlockLuConfig bc;
  bc.name = l.name.empty() ? l.guid : l.name;
  bc.guid = *parse_guid(l.guid);
  bc.block_size = l.block_size;
  if (l.physical_block_size)
    for (uint32_t r = l.physical_block_size / l.block_size; r > 1; r >>= 1) ++bc.physical_block_exponent;
  bc.write_protect = l.write_protect;
  bc.write_cache = l.write_cache;
  bc.removable = l.removable;
  bc.sanitize = l.sanitize;
  bc.sanitize_rate = l.sanitize_rate;
  bc.vendor = l.vendor;
  bc.product = l.product;
  bc.serial = l.serial.empty() ? l.guid.substr(16) : l.serial;
  log()->info("LU {} guid {} on {} ({} bytes, {}-byte blocks)", bc.name, l.guid, store->describe(), store->size(), l.block_size);
  out = stmf::sbd::make_block_lu(bc, std::move(store));
  if (!out) return error(STMF_ERROR_INVALID_PROP, "LU " + l.guid + ": unusable block configuration");
  out->set_epoch(l.epoch);
  if (watch) {
    std::lock_guard lk(watch->mu);
    watch->lu = out;
    if (watch->fenced) out->set_fenced();
  }
  if (grow_watch) {
    std::lock_guard lk(grow_watch->mu);
    grow_watch->lu = out;
  }
  return {};
}

namespace {
// The configuration as the running objects see it: LUs kept as standby records (stepped down,
// the peer owns them) are neither opened nor registered here; the peer's registration serves them.
Config active_only(const Config& c) {
  Config a = c;
  std::erase_if(a.lus, [](const LuConfig& l) { return l.standby; });
  return a;
}
}  // namespace

Status Runtime::prepare(const Config& from_all, Config& to_all) {
  const Config from = active_only(from_all);
  Config to = active_only(to_all);
  auto s = prepare_active(from, to);
  for (auto& l : to.lus)
    if (auto* x = to_all.find_lu(l.guid)) x->size = l.size;  // sizes found by opening the stores
  return s;
}

void Runtime::commit(const Config& from, const Config& to) {
  own_standby_.clear();
  for (auto& l : to.lus)
    if (l.standby) own_standby_[l.guid] = l;
  stmf_.set_statistics(to.metrics.statistics);  // live: commands submitted from now on
  commit_active(active_only(from), active_only(to));
  apply_array_sessions(to);
}

stmf::ars::Settings ars_settings(const Config& c) {
  const auto& a = c.array_sessions;
  stmf::ars::Settings s;
  s.saf = a.accounting_format;
  s.machid = a.machine_id;
  s.arrayid = a.array_id;
  // In an ALUA pair the default machine ID is node + 1, so the two nodes never make one handle.
  s.default_machid = c.alua.enabled ? int(c.alua.node) + 1 : a.default_machine_id;
  s.default_arrayid = a.default_array_id;
  s.increment = a.ash_increment;
  s.spilen = a.default_spi_len;
  s.default_spi = stmf::mgmt::parse_hex(a.default_spi).value_or(std::vector<uint8_t>{});
  for (auto& g : c.host_groups)
    if (!g.spi.empty())
      for (auto& m : g.members) s.member_spi[m] = stmf::mgmt::parse_hex(g.spi).value_or(std::vector<uint8_t>{});
  return s;
}

void Runtime::apply_array_sessions(const Config& c) {
  const auto s = ars_settings(c);
  if (int e = stmf_.array_sessions().set_settings(s))  // validated with the configuration: not expected
    log()->error("array session settings refused ({})", std::strerror(e));
  if (acct_) {
    acct_->set_format(s.saf);
    acct_->set_checkpoint_min(c.array_sessions.accounting.checkpoint_min);
    acct_->set_node(c.alua.enabled ? uint16_t(c.alua.node) : stmfd::acct::kNoNode);
  }
}

Status Runtime::prepare_active(const Config& from, Config& to) {
  abort();
  auto fail = [&](Status s) {
    abort();
    return s;
  };
  rekeyed_.clear();
  for (auto& l : to.lus) {
    const LuConfig* old = find(from.lus, l.guid);
    // A SAN-backed LU whose reservation key changes (ALUA enabled or disabled, another node
    // number or cluster_id): its store is opened again with the new key (the key names its
    // I_T nexus on the SAN); the LU keeps its reservations (commit_active carries them over).
    // An rbd-store LU that starts or stops holding its image's exclusive lock is reopened alike.
    const bool rekey = old && lus_.count(l.guid) && !needs_rebuild(*old, l) &&
                       (stmf::mgmt::lu_fence_key(from.alua, *old) != stmf::mgmt::lu_fence_key(to.alua, l) ||
                        stmf::mgmt::lu_storage_fenced(from.alua, *old) != stmf::mgmt::lu_storage_fenced(to.alua, l));
    if (rekey) rekeyed_.insert(l.guid);
    if (!old || needs_rebuild(*old, l) || !lus_.count(l.guid) || rekey) {
      uint64_t size = 0;
      stmf::LogicalUnitPtr lu;
      if (auto s = build_lu(l, to.alua, size, lu); !s.ok()) return fail(s);
      if (l.size == 0) l.size = size;
      prepared_[l.guid] = lu;
    } else if (l.size > old->size) {
      if (auto ec = stmf::sbd::grow_block_lu(*lus_[l.guid], l.size))
        return fail(error(STMF_ERROR_SIZE_OUT_OF_RANGE, "LU " + l.guid + ": cannot grow to " + std::to_string(l.size) +
                                                            " bytes: " + ec.message()));
    }
  }
  for (auto& p : to.portals) {
    if (std::count(from.portals.begin(), from.portals.end(), p)) continue;
    std::string why;
    if (server_.listen(p.host, p.port, why)) return fail(error(STMF_ERROR_BUSY, why));
    new_portals_.push_back(p);
  }
  return {};
}

void Runtime::abort() {
  for (auto& [g, h] : prepared_holds_) h->release();
  prepared_holds_.clear();
  prepared_.clear();
  for (auto& p : new_portals_) server_.close_portal(p.host, p.port);
  new_portals_.clear();
}

void Runtime::commit_active(const Config& from, const Config& to) {
  // LUs: unregister the deleted and the rebuilt, register the new, change the rest in place.
  for (auto it = lus_.begin(); it != lus_.end();) {
    if (!find(to.lus, it->first) || prepared_.count(it->first)) {
      if (rekeyed_.count(it->first)) {
        auto& was = it->second->reservations();
        auto& now = prepared_[it->first]->reservations();
        std::scoped_lock lk(was.mu, now.mu);
        now.engine = was.engine;
        now.seq = was.seq;
        const LuConfig& nl = *find(to.lus, it->first);
        const uint64_t key = stmf::mgmt::lu_fence_key(to.alua, nl);
        log()->info("LU {}: reopened {} (ALUA configuration changed); its reservations carried over", it->first,
                    key ? "with reservation key " + stmf::iscsistore::key_hex(key) + " on its SAN LUN"
                    : stmf::mgmt::lu_storage_fenced(to.alua, nl) ? std::string("holding its RBD image's exclusive lock")
                                                                 : std::string("unfenced"));
      }
      stmf_.remove_lu(it->second);
      // Its hold at the storage goes back now (core/store/fencing.h FenceHold: an rbd store's
      // exclusive lock), whoever still references the LU object.
      if (auto h = holds_.extract(it->first); !h.empty()) h.mapped()->release();
      if (!find(to.lus, it->first)) log()->info("LU {} deleted", it->first);
      it = lus_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& l : to.lus) {
    if (auto p = prepared_.find(l.guid); p != prepared_.end()) {
      if (auto r = restored_pr_.find(l.guid); r != restored_pr_.end()) {
        p->second->reservations().engine = stmf::pr::PrEngine(r->second);
        log()->info("LU {}: persistent reservations restored (APTPL): {} registration(s), generation {}{}", l.guid,
                    r->second.registrations.size(), r->second.generation, r->second.reservation ? ", reserved" : "");
        restored_pr_.erase(r);
      }
      if (standby_.count(l.guid)) take_over(l.guid, p->second);
      stmf_.add_lu(p->second);
      lus_[l.guid] = p->second;
      if (auto h = prepared_holds_.extract(l.guid); !h.empty()) holds_[l.guid] = std::move(h.mapped());
      if (l.store == "file") write_lu_metadata(l);
      continue;
    }
    const LuConfig* old = find(from.lus, l.guid);
    auto& lu = lus_[l.guid];
    if (!old || !lu) continue;
    if (old->write_protect != l.write_protect) stmf::sbd::set_block_lu_write_protect(*lu, l.write_protect);
    if (old->write_cache != l.write_cache) stmf::sbd::set_block_lu_write_cache(*lu, l.write_cache);
    if (old->epoch != l.epoch) lu->set_epoch(l.epoch);
    // online-lu after offline-lu is the administrator's acknowledgement of a failed flush
    // (docs/failover.md "A failed flush is remembered"); the LU logs what it cleared.
    if (!old->online && l.online) stmf::sbd::clear_block_lu_durability_fault(*lu);
    if (old->size != l.size) {
      log()->info("LU {} grown to {} bytes", l.guid, l.size);
      stmf_.raise_for_lu(lu, stmf::scsi::sense::capacity_data_has_changed);
    }
    if (l.store == "file" && !(*old == l)) write_lu_metadata(l);
  }
  for (auto& [g, h] : prepared_holds_) h->release();  // none normally: every prepared LU went live
  prepared_holds_.clear();
  prepared_.clear();
  new_portals_.clear();

  // Portals that went away.
  for (auto& p : from.portals)
    if (!std::count(to.portals.begin(), to.portals.end(), p)) server_.close_portal(p.host, p.port);

  // Targets.
  for (auto& t : from.targets) {
    auto* n = to.find_target(t.iqn);
    if (!n || n->tpgt != t.tpgt) server_.remove_target(t.iqn);
  }
  server_.set_service_online(to.service_online);
  if (to.initiators != from.initiators || to.iscsi.default_auth != from.iscsi.default_auth ||
      to.iscsi.discovery_auth != from.iscsi.discovery_auth || !auth_set_) {
    server_.set_auth(auth_settings(to));
    auth_set_ = true;
  }
  for (auto& t : to.targets) {
    auto* port = server_.find_target(t.iqn);
    if (!port) {
      // docs/alua.md: rtpi = node * 32768 + port_index, target port group = node + 1.
      const uint16_t rtpi = t.port_index ? uint16_t(to.alua.node * 32768 + t.port_index) : next_rtpi_++;
      port = &server_.add_target(target_settings(t), rtpi, stmf::tpg_of_node(to.alua.node));
      port->set_online(t.online);
      log()->info("target {} rtpi {} ({})", t.iqn, port->rtpi(), t.online ? "online" : "offline");
      continue;
    }
    const TargetConfig* old = from.find_target(t.iqn);
    if (old && (old->alias != t.alias || old->auth != t.auth || old->chap != t.chap || old->initiators != t.initiators))
      port->set_settings(target_settings(t));
    if (port->online() != t.online) server_.set_target_online(*port, t.online, 0);
  }
  if (from.service_online && !to.service_online)
    for (auto* p : server_.targets()) server_.close_sessions(*p, "STMF service offline");

  current_ = to;
  // A step-down's active copy is gone: its standby copy joins before the views are published.
  for (auto& [guid, sd] : stepping_down_)
    if (!sd.registered && !to.find_lu(guid)) sd.registered = add_standby(sd.m);
  publish_views(to);
  apply_alua(from, to);
}

nlohmann::json Runtime::fenced(const std::string& guid) const {
  auto it = lus_.find(guid);
  const LuConfig* l = find(current_.lus, guid);
  if (it == lus_.end() || !l || !stmf::mgmt::lu_storage_fenced(current_.alua, *l)) return nullptr;
  return it->second->fenced();
}

nlohmann::json Runtime::durability_fault(const std::string& guid) const {
  auto it = lus_.find(guid);
  if (it == lus_.end()) return nullptr;
  auto f = stmf::sbd::block_lu_durability_fault(*it->second);
  return f ? nlohmann::json(*f) : nlohmann::json(nullptr);
}

std::optional<nlohmann::json> Runtime::reservations_json(const std::string& guid) {
  auto it = lus_.find(guid);
  if (it == lus_.end()) {
    // A standby LU: the copy its active node mirrored here (what a takeover would start from).
    if (!standby_.count(guid)) return std::nullopt;
    auto m = standby_pr_.find(guid);
    auto j = m == standby_pr_.end() ? nlohmann::json() : stmf::mgmt::parse_json_limited(m->second.state);
    if (!j.is_object()) j = pr_state_to_json(stmf::pr::PrState{});
    if (!j.contains("scsi2_reservation")) j["scsi2_reservation"] = nullptr;
    if (j["scsi2_reservation"].is_object()) j["scsi2_reservation"].erase("rtpi");
    j["mirrored"] = true;
    return j;
  }
  auto& rs = it->second->reservations();
  std::shared_lock lk(rs.mu);
  auto j = pr_state_to_json(rs.engine.state());
  if (auto h = rs.engine.scsi2_holder())
    j["scsi2_reservation"] = {{"initiator", h->initiator_name}, {"isid", h->isid}, {"target_port", h->target_port}};
  else
    j["scsi2_reservation"] = nullptr;
  return j;
}

// ---------------------------------------------------------------- ALUA pair

DoorHost* Runtime::door_host() { return proxy_ ? this : nullptr; }

int Runtime::install_door(int fd) {
  switch (proxy_->install_door(fd)) {
    case stmf::proxy::DoorResult::ok: return STMF_STATUS_SUCCESS;
    case stmf::proxy::DoorResult::installed: return STMF_ERROR_DOOR_INSTALLED;
    default: return STMF_STATUS_ERROR;
  }
}

int Runtime::destroy_door() {
  return proxy_->destroy_door() == stmf::proxy::DoorResult::ok ? STMF_STATUS_SUCCESS : STMF_ERROR_NOT_FOUND;
}

int Runtime::post_proxy_msg(std::vector<uint8_t> msg) {
  switch (proxy_->post_proxy_msg(std::move(msg))) {
    case stmf::proxy::DoorResult::ok: return STMF_STATUS_SUCCESS;
    case stmf::proxy::DoorResult::not_installed: return STMF_ERROR_NOT_FOUND;
    default: return STMF_ERROR_INVALID_ARG;
  }
}

void Runtime::reinitialize_alua() {
  if (proxy_ && current_.alua.enabled) proxy_->reinitialize();
}

nlohmann::json Runtime::stats_json() const { return to_json(collect_stats(stmf_, proxy_)); }

nlohmann::json Runtime::session_stats_json(const stmf::LocalPort& port, const std::string& initiator,
                                           const std::string& isid_hex) const {
  for (auto& n : stmf_.nexuses())
    if (&n->port() == &port && n->initiator_name() == initiator && n->isid_hex() == isid_hex) return to_json(n->stats().snapshot());
  return nullptr;
}

nlohmann::json Runtime::alua_status() const {
  nlohmann::json j = proxy_ ? proxy_->status() : nlohmann::json::object();
  if (!current_.alua.enabled) j["link"] = "disabled";
  j["carrier"] = current_.alua.carrier;
  j["target_port_group"] = stmf::tpg_of_node(current_.alua.node);
  j["standby_lus"] = standby_.size();
  auto a = stmf_.alua();
  j["peer_target_port_group"] = a.enabled ? nlohmann::json(stmf::tpg_of_node(1 - a.node)) : nlohmann::json(nullptr);
  return j;
}

nlohmann::json Runtime::standby_lus() const {
  auto out = nlohmann::json::object();
  for (auto& [guid, props] : standby_props_) {
    // add_standby() accepted these properties, so they parse again; to_json() gives them the
    // same keys as a configured LU.
    auto j = stmf::mgmt::parse_json_limited(props);
    ConfigError err;
    std::optional<LuConfig> l;
    if (j.is_object()) l = parse_lu(j, "standby", current_.company_id, err);
    if (!l) continue;
    auto lu = to_json(*l);
    lu["state"] = "online";
    lu["access_state"] = "standby";
    out[guid] = std::move(lu);
  }
  return out;
}

std::vector<stmf::proxy::RegisterLun> Runtime::active_lus() {
  std::lock_guard lk(active_mu_);
  return active_;
}

stmf::proxy::ProxyStatus Runtime::add_standby(const stmf::proxy::RegisterLun& m) {
  using stmf::proxy::ProxyStatus;
  const std::string guid = guid_hex(m.guid);
  if (current_.find_lu(guid)) {
    log()->error("the peer registers LU {} as standby here, but this node has it configured: refused", guid);
    return ProxyStatus::already;
  }
  auto j = stmf::mgmt::parse_json_limited(m.properties);
  ConfigError err;
  std::optional<LuConfig> l;
  if (j.is_object()) {
    j["guid"] = guid;
    j.erase("state");
    l = parse_lu(j, "standby", current_.company_id, err);
  }
  if (!l || l->size == 0) {
    log()->error("the peer registers LU {} with unusable properties: {}", guid, l ? "no size" : err.message());
    return ProxyStatus::invalid_arg;
  }
  const std::string props = j.dump();
  if (auto it = standby_.find(guid); it != standby_.end()) {
    // Registered again (the link came back): the same LU keeps its nexuses' unit attentions
    // and reservations-free state; only changed properties make a new one.
    if (standby_props_[guid] == props) {
      preregister(guid);
      return ProxyStatus::success;
    }
    stmf_.remove_lu(it->second);
    standby_.erase(it);
  }
  // The standby copy answers INQUIRY, REPORT TARGET PORT GROUPS and the Unavailable sense by
  // itself; every I/O goes to the active node. It never opens the backing file.
  stmf::sbd::BlockLuConfig bc;
  bc.name = l->name.empty() ? l->guid : l->name;
  bc.guid = m.guid;
  bc.block_size = l->block_size;
  if (l->physical_block_size)
    for (uint32_t r = l->physical_block_size / l->block_size; r > 1; r >>= 1) ++bc.physical_block_exponent;
  bc.write_protect = l->write_protect;
  bc.write_cache = l->write_cache;
  bc.removable = l->removable;
  bc.sanitize = l->sanitize;
  bc.sanitize_rate = l->sanitize_rate;
  bc.vendor = l->vendor;
  bc.product = l->product;
  bc.serial = l->serial.empty() ? l->guid.substr(16) : l->serial;
  auto lu = stmf::sbd::make_block_lu(bc, stmf::store::make_null_store(l->size));
  if (!lu) return ProxyStatus::invalid_arg;
  lu->set_standby(true);
  lu->set_epoch(l->epoch);  // the owner's: its proxied commands carry it
  stmf_.add_lu(lu);
  standby_[guid] = lu;
  standby_props_[guid] = props;
  log()->info("standby LU {} ({}) registered by the peer: backing {} stays closed here", guid, bc.name, l->backing);
  preregister(guid);
  return ProxyStatus::success;
}

// A SAN-backed standby LU of a fenced pair: this node's key is registered on the SAN LUN ahead
// of any race (every node of the pair is a registrant, as in fence_scsi; the owner holds
// WE-RO, so the key alone lets nothing be written: the standby never writes). Again at every
// registration of the LU by the peer (the link came back), so a node whose key was preempted
// while it owned the LU has it again once it is standby.
void Runtime::preregister(const std::string& guid) {
  std::string why;
  auto fence = storage_fence(guid, why);
  if (!fence || fence->provider() != stmf::store::FenceProvider::san_pr || registering_.count(guid)) return;
  registering_.insert(guid);
  // A finished registration of the same LU is joined by the assignment.
  registration_jobs_[guid] = std::jthread([this, fence = std::shared_ptr<stmf::store::StorageFence>(std::move(fence)), guid] {
    std::string detail;
    const bool ok = fence->prepare(detail);
    post_([this, guid, ok, detail] {
      registering_.erase(guid);
      if (!standby_.count(guid)) return;  // no longer standby here meanwhile
      if (ok && !key_registered_[guid])
        log()->info("LU {}: this node's key is registered on its SAN LUN (standby, ready to race)", guid);
      if (!ok)
        log()->warn("LU {}: this node's key could not be registered on its SAN LUN in advance ({}); a race "
                    "registers it", guid, detail);
      key_registered_[guid] = ok;
    });
  });
}

void Runtime::register_standby(stmf::proxy::RegisterLun m, std::function<void(stmf::proxy::ProxyStatus)> done) {
  post_([this, m = std::move(m), done = std::move(done)] {
    auto st = add_standby(m);
    if (st == stmf::proxy::ProxyStatus::success) publish_views(current_);
    done(st);
  });
}

void Runtime::deregister_standby(stmf::Guid g, std::function<void(stmf::proxy::ProxyStatus)> done) {
  post_([this, g, done = std::move(done)] {
    auto it = standby_.find(guid_hex(g));
    if (it == standby_.end()) return done(stmf::proxy::ProxyStatus::not_found);
    log()->info("standby LU {} deregistered by the peer", it->first);
    drop_standby_lu(it->first);
    publish_views(current_);
    done(stmf::proxy::ProxyStatus::success);
  });
}

void Runtime::drop_standby() {
  post_([this] {
    if (standby_.empty()) return;
    for (auto& [g, lu] : standby_) stmf_.remove_lu(lu);
    standby_.clear();
    standby_props_.clear();
    standby_pr_.clear();
    key_registered_.clear();
    publish_views(current_);
  });
}

void Runtime::drop_standby_lu(std::string guid) {
  auto it = standby_.find(guid);
  if (it == standby_.end()) return;
  stmf_.remove_lu(it->second);
  standby_.erase(it);
  standby_props_.erase(guid);
  standby_pr_.erase(guid);
  key_registered_.erase(guid);
}

std::string Runtime::encode_reservations(const stmf::pr::PrState& st, const std::optional<stmf::pr::Nexus>& scsi2,
                                         const stmf::HandoverState* handover) {
  auto j = pr_state_to_json(st);
  if (handover) j["handover"] = handover_to_json(*handover);
  if (scsi2)
    j["scsi2_reservation"] = {{"initiator", scsi2->initiator_name}, {"isid", scsi2->isid},
                              {"target_port", scsi2->target_port}, {"rtpi", scsi2->rtpi}};
  else
    j["scsi2_reservation"] = nullptr;
  return j.dump();
}

void Runtime::store_standby_reservations(stmf::proxy::PrStateMsg m, std::function<void(stmf::proxy::ProxyStatus)> done) {
  post_([this, m = std::move(m), done = std::move(done)]() mutable {
    // Kept even when the LU is not standby here yet: during a switchover the new owner's state
    // can arrive while this node's copy is still stepping down.
    const std::string guid = guid_hex(m.guid);
    auto& slot = standby_pr_[guid];
    if (m.seq >= slot.seq || slot.state.empty()) slot = MirroredPr{m.seq, std::move(m.state)};
    done(stmf::proxy::ProxyStatus::success);
  });
}

void Runtime::restart_reservation_seqs() {
  post_([this] {
    for (auto& [g, p] : standby_pr_) p.seq = 0;
  });
}

void Runtime::keep_standby_only(std::vector<stmf::Guid> guids, std::function<void(stmf::proxy::ProxyStatus)> done) {
  post_([this, guids = std::move(guids), done = std::move(done)] {
    std::set<std::string> keep;
    for (auto& g : guids) keep.insert(guid_hex(g));
    std::vector<std::string> gone;
    for (auto& [g, lu] : standby_)
      if (!keep.count(g)) gone.push_back(g);
    for (auto& g : gone) {
      log()->info("standby LU {} is no longer active on the peer: dropped", g);
      drop_standby_lu(g);
    }
    if (!gone.empty()) publish_views(current_);
    done(stmf::proxy::ProxyStatus::success);
  });
}

uint64_t Runtime::standby_epoch(const std::string& guid) const {
  auto it = standby_props_.find(guid);
  if (it == standby_props_.end()) return 0;
  auto j = stmf::mgmt::parse_json_limited(it->second);
  auto e = j.is_object() ? j.find("epoch") : j.end();
  return j.is_object() && e != j.end() && e->is_number_unsigned() ? e->get<uint64_t>() : 0;
}

// Fencing (docs/alua.md): this node's copy of the LU lost ownership to the peer (a takeover
// while this node was down). The LU stays in the configuration as a standby record (closed
// here, never registered as active; its views stay) and is served as the standby LU the peer
// registered. No message of the peer deletes configuration.
void Runtime::step_down(stmf::proxy::RegisterLun m, std::function<void(stmf::proxy::ProxyStatus)> done) {
  post_([this, m = std::move(m), done = std::move(done)]() mutable {
    const std::string guid = guid_hex(m.guid);
    if (!demote_) return done(stmf::proxy::ProxyStatus::failure);
    stepping_down_[guid] = StepDown{m, std::nullopt};
    demote_(guid, [this, m = std::move(m), done = std::move(done), guid](bool ok) mutable {
      auto sd = stepping_down_.extract(guid);
      if (!ok) {
        log()->error("LU {}: could not step down (configuration change failed): it stays held in Transitioning", guid);
        return done(stmf::proxy::ProxyStatus::failure);
      }
      // Registered by the commit, in the same views change that removed the active copy.
      auto st = !sd.empty() && sd.mapped().registered ? *sd.mapped().registered : add_standby(m);
      if (st == stmf::proxy::ProxyStatus::success) publish_views(current_);
      log()->warn("LU {} stepped down: standby here, active on the peer", guid);
      done(st);
    });
  });
}

// Planned switchover, receiving side: the peer hands over LU `g` (drained and flushed there).
// It joins the configuration with the peer's properties and a raised epoch; commit() then
// takes over the standby copy with the mirrored reservations.
void Runtime::promote(stmf::Guid g, std::function<void(stmf::proxy::ProxyStatus)> done) {
  post_([this, g, done = std::move(done)]() mutable {
    const std::string guid = guid_hex(g);
    auto it = standby_props_.find(guid);
    if (it == standby_props_.end() || !promote_) return done(stmf::proxy::ProxyStatus::not_found);
    auto j = stmf::mgmt::parse_json_limited(it->second);
    if (!j.is_object()) return done(stmf::proxy::ProxyStatus::invalid_arg);
    j["guid"] = guid;
    j["epoch"] = standby_epoch(guid) + 1;
    j.erase("state");
    promote_(j, [done = std::move(done), guid](bool ok) {
      if (ok) log()->info("LU {}: active here now (planned switchover)", guid);
      done(ok ? stmf::proxy::ProxyStatus::success : stmf::proxy::ProxyStatus::failure);
    });
  });
}

void Runtime::switchover(const std::string& guid, std::function<void(stmf::mgmt::Status)> done) {
  auto g = parse_guid(guid);
  if (!proxy_ || !g) return done(error(STMF_ERROR_NOT_FOUND, "no such LU: " + guid));
  proxy_->switchover(*g, [this, done = std::move(done)](stmf::proxy::ProxyStatus st, std::string why) mutable {
    stmf::mgmt::Status s;
    switch (st) {
      case stmf::proxy::ProxyStatus::success: break;
      case stmf::proxy::ProxyStatus::not_found: s = error(STMF_ERROR_NOT_FOUND, why); break;
      default: s = error(STMF_ERROR_ACCESS_STATE_SET, why); break;
    }
    post_([done = std::move(done), s] { done(s); });
  });
}

// alua.takeover fenced (docs/failover.md "Fencing at the storage"): the race for a standby LU
// fenced at its storage, through its provider (core/store/fencing.h; blocking: on a thread of
// its own). The provider of standby LU `guid` (management thread), or why not: an iscsi store's
// SAN LUN and the two keys (a libmhd control handle), an rbd store's image (a client of its own).
std::unique_ptr<stmf::store::StorageFence> Runtime::storage_fence(const std::string& guid, std::string& why) const {
  auto it = standby_props_.find(guid);
  const auto& a = current_.alua;
  if (it == standby_props_.end() || !a.enabled || !a.cluster_id) {
    why = "not a standby LU fenced at its storage here";
    return nullptr;
  }
  auto j = stmf::mgmt::parse_json_limited(it->second);
  const std::string store = j.is_object() ? j.value("store", std::string()) : std::string();
  const auto* jb = j.is_object() && j.contains("backend") && j["backend"].is_object() ? &j["backend"] : nullptr;
  if (!jb || stmf::store::fence_provider(store) == stmf::store::FenceProvider::none) {
    why = "not a standby LU fenced at its storage here";
    return nullptr;
  }
  if (store == "rbd") return rbd_fence(guid, *jb, why);
  // This node's own login to the SAN LUN (its standby record) when it has one: the address the
  // SAN has from here, its initiator name and CHAP secret. Otherwise the owner's registration.
  const std::string owner_initiator = jb->value("initiator", std::string());
  IscsiBackendConfig b;
  if (auto own = own_standby_.find(guid); own != own_standby_.end() && own->second.store == "iscsi") {
    b = own->second.backend;
  } else {
    if (!jb->contains("url") || !(*jb)["url"].is_string()) {
      why = "the owner registered no SAN URL";
      return nullptr;
    }
    b.url = (*jb)["url"].get<std::string>();
    b.initiator = owner_initiator;
    if (!jb->value("chap_user", std::string()).empty()) {
      why = "the SAN LUN needs CHAP and this node has no standby record of the LU with its own secret";
      return nullptr;
    }
  }
  RaceTarget t;
  if (auto url = stmf::iscsistore::url_with_chap(b.url, b.chap_user, b.chap_secret, why))
    t.url = *url;
  else
    return nullptr;
  // The control handle is a nexus of its own (libmhd derives its ISID from the initiator name,
  // the store from the name and its key). This node's own initiator name when it has one (a
  // SAN's ACL knows it); suffixed when it is the owner's too, so the two nodes never share one.
  t.initiator = b.initiator.empty() ? std::string("iqn.2026-11.org.example:stmfd") : b.initiator;
  if (t.initiator == owner_initiator) t.initiator += ":fence" + std::to_string(a.node);
  t.ours = stmf::mgmt::fence_key(a.cluster_id, a.node);
  t.owner = stmf::mgmt::fence_key(a.cluster_id, 1 - a.node);
  auto k = key_registered_.find(guid);
  t.registered = k != key_registered_.end() && k->second;
  return make_san_fence(std::move(t));
}

// The rbd provider for standby LU `guid`: this node's own standby record of the LU when it has
// one (its cephx id, conf and keyring), otherwise the owner's registration (`jb`, its backend).
std::unique_ptr<stmf::store::StorageFence> Runtime::rbd_fence(const std::string& guid, const nlohmann::json& jb,
                                                              std::string& why) const {
#ifdef STMF_HAVE_RBD
  stmf::mgmt::RbdBackendConfig b;
  if (auto own = own_standby_.find(guid); own != own_standby_.end() && own->second.store == "rbd") {
    b = own->second.rbd;
  } else {
    stmf::mgmt::ConfigError err;
    auto parsed = stmf::mgmt::parse_rbd_backend(jb, "backend", err);
    if (!parsed) {
      why = "the owner registered an unusable rbd backend: " + err.message();
      return nullptr;
    }
    b = *parsed;
  }
  return stmf::rbdstore::make_rbd_fence(rbd_options(b), why);
#else
  (void)guid;
  (void)jb;
  why = "this stmfd was built without librbd (no rbd store)";
  return nullptr;
#endif
}

void Runtime::race(stmf::Guid g, std::function<void(stmf::proxy::Ownership::RaceResult, std::string)> done) {
  post_([this, g, done = std::move(done)]() mutable {
    using R = stmf::proxy::Ownership::RaceResult;
    std::string why;
    auto fence = storage_fence(guid_hex(g), why);
    if (!fence) return done(R::failed, why);
    std::thread([fence = std::move(fence), done = std::move(done)] {
      std::string detail;
      const R r = race_result(fence->break_owner(detail));
      done(r, detail);
    }).detach();
  });
}

Runtime::Takeover Runtime::import_lu(const std::string& guid) const {
  auto g = parse_guid(guid);
  if (!standby_.count(guid) || !proxy_ || !g) return {};  // not a standby LU here: not a takeover
  const auto r = proxy_->import_lu(*g);
  if (r.takeover) {
    // An LU fenced at its storage (docs/failover.md "Fencing at the storage"): the owner's hold
    // is broken as by the automatic takeover's race, before the LU is configured here (SAN: its
    // store would otherwise find the LUN reserved under the owner's key and fence itself; RBD:
    // it would wait for the owner's exclusive lock).
    std::string why;
    if (auto fence = storage_fence(guid, why)) {
      std::string detail;
      if (fence->break_owner(detail) != stmf::store::TakeResult::won)
        return {true, "LU " + guid + " is fenced at its storage (" + stmf::store::provider_name(fence->provider()) +
                      "): taking it over needs breaking the owner's hold, which did not succeed (" + detail + ")", false, 0};
      log()->warn("LU {}: import-lu takeover broke the owner's hold ({}): {}", guid,
                  stmf::store::provider_name(fence->provider()), detail);
    }
  }
  return {r.status == stmf::proxy::ProxyStatus::already, r.message, r.takeover, r.epoch};
}

// Takeover (docs/alua.md): the LU `guid`, standby here, is now configured here (import-lu or
// create-lu on the survivor of a crashed peer). The standby copy goes; the new LU starts with
// the reservation state the peer mirrored here, which is newer than any APTPL copy.
void Runtime::take_over(const std::string& guid, const stmf::LogicalUnitPtr& lu) {
  std::string text = standby_pr_.count(guid) ? standby_pr_[guid].state : std::string();
  drop_standby_lu(guid);
  if (text.empty()) {
    log()->warn("LU {} taken over: active here now; the peer mirrored no reservation state", guid);
    return;
  }
  auto j = stmf::mgmt::parse_json_limited(text);
  std::string why;
  auto st = j.is_object() ? pr_state_from_json(j, why) : std::nullopt;
  if (!st) {
    log()->error("LU {} taken over: the mirrored reservation state is unreadable ({}): starting without", guid, why);
    return;
  }
  // A planned switchover's final state carries the LU's unit attentions and mode parameters:
  // the LU goes on as it was, and every nexus it knew sees ASYMMETRIC ACCESS STATE CHANGED
  // (after a crash, or if it does not fit, the LU starts afresh: POWER ON, RESET).
  const auto handover = j.find("handover");
  const bool planned = handover != j.end();
  if (planned) {
    std::string hwhy;
    auto hs = handover_from_json(*handover, hwhy);
    if (!hs) hwhy = "unreadable: " + hwhy;
    else if (!lu->restore_handover_state(*hs)) hwhy = "its mode pages do not fit this LU";
    if (hwhy.empty()) {
      lu->unit_attentions().raise_all(stmf::scsi::sense::asymmetric_access_state_changed);
      log()->info("LU {}: unit attentions of {} nexus(es) and the mode parameters handed over by the peer", guid,
                  hs->unit_attentions.size());
      for (auto& [k, q] : hs->unit_attentions) log()->debug("LU {}: nexus {}: {} pending unit attention(s)", guid, k, q.size());
    } else {
      log()->error("LU {}: the handover state {}: mode parameters at their defaults, initiators see POWER ON, RESET",
                   guid, hwhy);
    }
  }
  auto& rs = lu->reservations();
  std::unique_lock lk(rs.mu);
  rs.engine = stmf::pr::PrEngine(*st);
  restored_pr_.erase(guid);
  // A SCSI-2 reservation moves with a planned switchover (its holder's nexus lives on, through
  // the proxy if need be). After a crash it survives only when its holder's port is one of
  // ours (the dead node's sessions are gone, and nexus loss releases it).
  std::string scsi2 = "none";
  if (auto h = j.find("scsi2_reservation"); h != j.end() && h->is_object()) {
    stmf::pr::Nexus n{h->value("initiator", std::string()), h->value("isid", std::string()),
                      h->value("target_port", std::string()), uint16_t(h->value("rtpi", 0))};
    bool local = false;
    for (auto* p : stmf_.ports())
      if (!dynamic_cast<stmf::proxy::ProxyPort*>(p) && p->port_name() == n.target_port) local = true;
    if (local || planned) {
      rs.engine.set_scsi2_holder(n);
      scsi2 = n.initiator_name + " via " + n.target_port;
    } else {
      scsi2 = "released (its holder was on the peer)";
    }
  }
  log()->warn("LU {} {}: active here now, reservations as mirrored by the peer: {} registration(s), "
              "generation {}, {}; SCSI-2 reservation {}",
              guid, planned ? "handed over" : "taken over", st->registrations.size(), st->generation,
              st->reservation ? "reserved" : "not reserved", scsi2);
}

// Node numbering, the link settings and what the peer must hear about (called by commit()).
void Runtime::apply_alua(const Config& from, const Config& to) {
  {
    // Every LU active here is registered with the peer, online or offline (as illumos does:
    // the registration follows the access state, not the LU's operational state).
    std::vector<stmf::proxy::RegisterLun> v;
    for (auto& l : to.lus) {
      auto j = to_json(l);
      j.erase("state");
      v.push_back(stmf::proxy::RegisterLun{*parse_guid(l.guid), "sbd", j.dump()});
    }
    std::lock_guard lk(active_mu_);
    active_ = std::move(v);
  }
  if (from.alua.node != to.alua.node)
    for (auto& t : to.targets)
      if (auto* p = server_.find_target(t.iqn))
        p->set_ids(uint16_t(to.alua.node * 32768 + t.port_index), stmf::tpg_of_node(to.alua.node));
  if (!proxy_) return;
  stmf::proxy::LinkSettings s;
  s.enabled = to.alua.enabled;
  s.node = to.alua.node;
  if (auto hp = parse_host_port(to.alua.listen)) {
    s.listen_host = hp->first;
    s.listen_port = hp->second;
  }
  if (auto hp = parse_host_port(to.alua.peer)) {
    s.peer_host = hp->first;
    s.peer_port = hp->second;
  }
  s.door = to.alua.carrier == "door";
  if (to.alua.tls) s.tls = {to.alua.tls->cert, to.alua.tls->key, to.alua.tls->peer_cert, to.alua.tls->ca};
  s.insecure = to.alua.insecure;
  s.handshake_timeout_ms = to.alua.handshake_timeout_ms;
  s.heartbeat_ms = to.alua.heartbeat_ms;
  s.timeout_ms = to.alua.timeout_ms;
  s.cluster_id = to.alua.cluster_id;
  s.takeover_fenced = to.alua.takeover == "fenced";
  proxy_->configure(s);
  if (from.alua.node != to.alua.node && from.alua.enabled && to.alua.enabled) proxy_->reinitialize();
  proxy_->lus_changed();
  proxy_->ports_changed();
}

void Runtime::publish_views(const Config& c) {
  auto t = std::make_shared<stmf::ViewTable>();
  for (auto& g : c.host_groups)
    for (auto& m : g.members) t->host_group_of[m] = g.name;
  for (auto& g : c.target_groups)
    for (auto& m : g.members) t->target_group_of[m] = g.name;
  for (auto& v : c.views) {
    // A view of a standby LU (active on the peer) works like any other.
    if (auto sb = standby_.find(v.guid); sb != standby_.end() && !c.find_lu(v.guid)) {
      t->entries.push_back({v.host_group, v.target_group, v.lun, sb->second});
      continue;
    }
    const LuConfig* l = c.find_lu(v.guid);
    auto it = lus_.find(v.guid);
    if (!l || !l->online || it == lus_.end()) continue;
    t->entries.push_back({v.host_group, v.target_group, v.lun, it->second});
  }
  stmf_.set_views(t);
}

void Runtime::write_lu_metadata(const LuConfig& l) {
  auto j = to_json(l);
  j.erase("state");
  const std::string text = j.dump();
  if (::setxattr(l.backing.c_str(), kMetaXattr, text.data(), text.size(), 0) != 0)
    log()->warn("LU {}: cannot record metadata on {} ({}): import-lu will not find it", l.guid, l.backing,
                std::strerror(errno));
}

Status Runtime::read_lu_metadata(const std::string& backing, nlohmann::json& lu) {
  std::string buf(65536, '\0');
  ssize_t n = ::getxattr(backing.c_str(), kMetaXattr, buf.data(), buf.size());
  if (n < 0) {
    if (errno == ENOENT) return error(STMF_ERROR_DATA_FILE_NAME, backing + ": no such file");
    return error(STMF_ERROR_META_FILE_NAME, backing + " holds no LU metadata (" + std::strerror(errno) + ")");
  }
  buf.resize(size_t(n));
  lu = stmf::mgmt::parse_json_limited(buf);
  if (!lu.is_object()) return error(STMF_ERROR_META_FILE_NAME, backing + ": LU metadata is not readable");
  lu["backing"] = backing;
  lu["store"] = "file";
  return {};
}

}  // namespace stmfd
