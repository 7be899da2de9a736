// An I_T nexus (SAM-5): one initiator port talking to one target port. In iSCSI it is a
// session; its initiator port name is "<InitiatorName>,i,0x<ISID>".
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/array_session.h"
#include "core/stats.h"

namespace stmf {

class LocalPort;
struct LunMap;

class ItNexus {
 public:
  ItNexus(uint64_t id, LocalPort& port, std::string initiator_name, std::string isid_hex);

  uint64_t id() const { return id_; }
  LocalPort& port() const { return port_; }
  const std::string& initiator_name() const { return initiator_name_; }
  const std::string& isid_hex() const { return isid_hex_; }  // 12 hex digits, lowercase
  // "iqn...,i,0x<isid>": the initiator port name (SPC-4 iSCSI initiator port identifier).
  const std::string& initiator_port_name() const { return initiator_port_name_; }
  // Key naming the nexus across reconnects (initiator port + target port), used for
  // per-nexus state that outlives the session object (unit attentions, reservations).
  // Built once: the framework looks it up for every command.
  const std::string& key() const { return key_; }

  // iSCSI TransportID (SPC-4 7.6.4.6), format 01b (with ISID), padded to a multiple of 4.
  std::vector<uint8_t> transport_id() const;

  // The LUN map this nexus currently sees (swapped atomically by the framework).
  std::shared_ptr<const LunMap> lun_map() const { return std::atomic_load(&lun_map_); }
  void set_lun_map(std::shared_ptr<const LunMap> m) { std::atomic_store(&lun_map_, std::move(m)); }

  // A nexus of the peer node's session (created by the proxy): its LUNs are what the peer
  // says (LUN -> GUID), not this node's views. `remote_id` is the peer's session id.
  bool remote() const { return remote_; }
  uint64_t remote_id() const { return remote_id_; }
  void set_remote(uint64_t id) { remote_ = true; remote_id_ = id; }

  // The session's I/O statistics (core/stats.h): bumped by the framework for every command of
  // this nexus, read by list-session, the metrics endpoint and the session accounting.
  stats::IoCounters& stats() { return stats_; }
  const stats::IoCounters& stats() const { return stats_; }

  // The array session (docs/array-sessions.md): its handle (set once by the framework when the
  // nexus is created: allocated here, or the peer's for a proxied session), when it began, and
  // its Service Provider Information (spilen bytes; the default SPI until set for it).
  ars::ash_t ash() const { return ash_; }
  std::chrono::system_clock::time_point start_time() const { return start_; }
  // `owner`: the handle set that remembers `a` as in use; it is released when this nexus is
  // destroyed (after its last task), so it is never reissued while anything still uses it.
  void set_ash(ars::ash_t a, std::shared_ptr<ars::ArraySessions> owner) {
    ash_ = a;
    ash_owner_ = std::move(owner);
  }
  ~ItNexus() {
    if (ash_owner_) ash_owner_->end_session(ash_);
  }
  ItNexus(const ItNexus&) = delete;
  ItNexus& operator=(const ItNexus&) = delete;
  struct Spi {
    uint32_t len = 0;            // the session's SPI size (the default SPI length at login)
    std::vector<uint8_t> bytes;  // `len` bytes when `own`
    bool own = false;            // set for this session (else it reads as the default SPI)
  };
  Spi spi() const {
    std::lock_guard lk(spi_mu_);
    return spi_;
  }
  void set_spi(Spi s) {
    std::lock_guard lk(spi_mu_);
    spi_ = std::move(s);
  }
  // The portal ("host:port") the session logged in through; "" for a proxied session.
  std::string portal() const {
    std::lock_guard lk(spi_mu_);
    return portal_;
  }
  void set_portal(std::string p) {
    std::lock_guard lk(spi_mu_);
    portal_ = std::move(p);
  }
  // Why the session ended ("logged out", "connection ended", "target offline"...): the first
  // reason given wins; "" while it lives.
  std::string end_reason() const {
    std::lock_guard lk(spi_mu_);
    return end_reason_;
  }
  void set_end_reason(const std::string& why) {
    std::lock_guard lk(spi_mu_);
    if (end_reason_.empty()) end_reason_ = why;
  }

 private:
  const uint64_t id_;
  LocalPort& port_;
  const std::string initiator_name_;
  const std::string isid_hex_;
  const std::string initiator_port_name_;  // initiator_name_ ",i,0x" isid_hex_
  const std::string key_;                  // initiator_port_name_ "|" the target port's name
  std::shared_ptr<const LunMap> lun_map_;
  bool remote_ = false;
  uint64_t remote_id_ = 0;
  stats::IoCounters stats_;
  ars::ash_t ash_ = ars::kAshNone;
  const std::chrono::system_clock::time_point start_ = std::chrono::system_clock::now();
  std::shared_ptr<ars::ArraySessions> ash_owner_;
  mutable std::mutex spi_mu_;  // spi_, portal_ and end_reason_
  Spi spi_;
  std::string portal_;
  std::string end_reason_;
};

using ItNexusPtr = std::shared_ptr<ItNexus>;

}  // namespace stmf
