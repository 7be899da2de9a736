// Reservation mirroring (docs/alua.md "Reservations across the pair"): every change of an
// active LU's reservation state goes to the peer as PR_STATE (the whole state, with its seq),
// the peer stores it for its standby copy; the final state of a planned switchover also
// carries the LU's unit attentions and mode pages.
#include "proxy/service.h"

#include "proxy/codec.h"
#include "proxy/log.h"

namespace stmf::proxy {

namespace asio = boost::asio;

bool ProxyService::mirror(const LogicalUnit& lu, uint64_t seq, const pr::PrState& st,
                          const std::optional<pr::Nexus>& scsi2, std::function<void()> done) {
  if (lu.standby()) return false;
  PrStateMsg m{lu.guid(), seq, host_.encode_reservations(st, scsi2)};
  const uint64_t id = next_id_++;
  auto frame = encode(Message{id, std::move(m)});
  std::lock_guard lk(mu_);
  if (!up_ || !carrier_) return false;
  mirrors_[id] = std::move(done);
  carrier_->send(std::move(frame));
  return true;
}

// The whole reservation state of LU `g` (active here) to the peer, with its current seq; the
// final one of a planned switchover also carries the LU's unit attentions and mode pages.
void ProxyService::send_pr_state(const Guid& g, bool handover) {
  auto lu = stmf_.find_lu(g);
  if (!lu || lu->standby()) return;
  auto& rs = lu->reservations();
  PrStateMsg m{g, 0, {}};
  std::optional<HandoverState> hs;
  if (handover) hs = lu->handover_state();
  {
    std::shared_lock lk(rs.mu);
    m.seq = rs.seq;
    m.state = host_.encode_reservations(rs.engine.state(), rs.engine.scsi2_holder(), hs ? &*hs : nullptr);
  }
  send(Message{next_id_++, std::move(m)});
}

void ProxyService::on(uint64_t id, PrStateMsg m) {
  host_.store_standby_reservations(std::move(m), [this, id](ProxyStatus st) {
    asio::post(ex_, [this, id, st] { reply(MsgType::pr_state, id, st); });
  });
}

// STATUS for our PR_STATE: the change waiting for it completes.
void ProxyService::pr_state_answered(const Status& s) {
  std::function<void()> done;
  {
    std::lock_guard lk(mu_);
    auto it = mirrors_.find(s.msg_id);
    if (it != mirrors_.end()) {
      done = std::move(it->second);
      mirrors_.erase(it);
    }
  }
  if (s.status != uint32_t(ProxyStatus::success))
    log()->error("the peer could not store reservation state {} (status {})", s.msg_id, s.status);
  if (done) done();
}

}  // namespace stmf::proxy
