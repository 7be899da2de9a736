// The door API (stmfInitProxyDoor(3STMF), tools/stmfd/door_host.h): the relay installs a
// door, posts the peer's frames into it, and removes it; the installed door carries the link
// when alua.door is set.
#include "proxy/service.h"

#include "proxy/codec.h"
#include "proxy/door_carrier.h"
#include "proxy/log.h"

namespace stmf::proxy {

namespace asio = boost::asio;

DoorResult ProxyService::install_door(int fd) {
  // A door whose relay is gone (it closed its end or exited) is no longer "established"
  // (stmfInitProxyDoor(3STMF)) even if the proxy thread has not handled its end yet: a
  // restarting relay's install must not race that. The check waits on the carrier's strand,
  // so it runs without mu_.
  std::shared_ptr<DoorCarrier> old;
  {
    std::lock_guard lk(mu_);
    old = door_;
  }
  if (old && old->hung_up()) {
    bool removed = false;
    {
      std::lock_guard lk(mu_);
      if (door_ == old) door_.reset(), removed = true;
    }
    if (removed) {
      log()->info("proxy door: the previous door's relay is gone: removed before installing the new one");
      asio::post(ex_, [this, old] { retire_door(old, "the relay closed the door"); });
    }
  }
  std::shared_ptr<DoorCarrier> d;
  {
    std::lock_guard lk(mu_);
    if (door_) {
      ::close(fd);
      return DoorResult::installed;
    }
    door_ = d = std::make_shared<DoorCarrier>(ex_, fd);
  }
  log()->info("proxy door installed ({})", d->describe());
  asio::post(ex_, [this, d] {
    if (!link_ || !settings_.door) return;
    {
      std::lock_guard lk(mu_);
      if (carrier_ == d) return;  // start_carrier() attached it already (ALUA enabled just now)
    }
    teardown();
    attach(d, true);
  });
  return DoorResult::ok;
}

DoorResult ProxyService::destroy_door() {
  std::shared_ptr<DoorCarrier> d;
  {
    std::lock_guard lk(mu_);
    if (!door_) return DoorResult::not_installed;
    d = std::move(door_);
    door_.reset();
  }
  log()->info("proxy door removed");
  asio::post(ex_, [this, d] { retire_door(d, "the door was removed"); });
  return DoorResult::ok;
}

// Proxy thread: a door no longer installed stops carrying the link (if it did) and is closed.
void ProxyService::retire_door(const std::shared_ptr<DoorCarrier>& d, const std::string& why) {
  std::shared_ptr<Carrier> cur;
  {
    std::lock_guard lk(mu_);
    cur = carrier_;
  }
  if (cur == d) {
    if (link_ && link_->up()) link_down(why);
    ++carrier_gen_;
    {
      std::lock_guard lk(mu_);
      carrier_.reset();
    }
    if (link_) run(link_->carrier_down(now_ms(), "door removed"));
  }
  d->close();
}

DoorResult ProxyService::post_proxy_msg(std::vector<uint8_t> frame) {
  if (frame.size() < kHeaderSize) return DoorResult::bad_frame;
  const uint32_t len = uint32_t(frame[0]) << 24 | uint32_t(frame[1]) << 16 | uint32_t(frame[2]) << 8 | frame[3];
  if (len != frame.size() - 4 || frame[4] != kProtocolVersion) return DoorResult::bad_frame;
  std::shared_ptr<DoorCarrier> d;
  {
    std::lock_guard lk(mu_);
    d = door_;
  }
  if (!d) return DoorResult::not_installed;
  d->deliver(std::move(frame));
  return DoorResult::ok;
}

}  // namespace stmf::proxy
