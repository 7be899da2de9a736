// ProxyService::forward_task (proxy/forwarder.cpp), the standby side: a forward the link
// refuses leaves the task as it was, its Data-Out included (the framework then answers it as for
// a standby LU; a task emptied of its data could otherwise be run locally, e.g. when a takeover
// makes the LU active at that instant, and write nothing with GOOD).
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>

#include "core/recording_port_test_util.h"
#include "core/scsi/opcodes.h"
#include "core/scsi/sbd_lu.h"
#include "core/stmf.h"
#include "core/store/backing_store.h"
#include "proxy/service.h"

using namespace stmf;
using namespace stmf::proxy;

namespace {

// A host that is never called here: the link never comes up.
struct NoHost final : StandbyHost {
  void register_standby(RegisterLun, std::function<void(ProxyStatus)>) override {}
  void deregister_standby(Guid, std::function<void(ProxyStatus)>) override {}
  void drop_standby() override {}
  std::vector<RegisterLun> active_lus() override { return {}; }
  std::string encode_reservations(const pr::PrState&, const std::optional<pr::Nexus>&, const HandoverState*) override {
    return {};
  }
  void store_standby_reservations(PrStateMsg, std::function<void(ProxyStatus)>) override {}
  void restart_reservation_seqs() override {}
  void keep_standby_only(std::vector<Guid>, std::function<void(ProxyStatus)>) override {}
  void step_down(RegisterLun, std::function<void(ProxyStatus)>) override {}
  void promote(Guid, std::function<void(ProxyStatus)>) override {}
};

}  // namespace

TEST_CASE("forward_task: a forward the link refuses leaves the task's Data-Out in the task", "[proxy]") {
  boost::asio::io_context io;
  Stmf stmf;
  NoHost host;
  ProxyService service(stmf, host, "node0", io);  // ALUA not enabled: no link
  sbd::BlockLuConfig c;
  c.name = "standby";
  c.guid = {0x60, 0x01, 0x44, 0xf0, 0x07};
  auto lu = sbd::make_block_lu(c, store::make_null_store(1 << 20));
  lu->set_standby(true);
  test::RecordingPort port{"iqn.2026-11.org.example:t,t,0x0001", 32769, 2};
  stmf.add_port(port);
  auto t = std::make_shared<ScsiTask>();
  t->nexus = stmf.create_nexus(port, "iqn.2026-11.org.example:a", "000000000001");
  const std::vector<uint8_t> cdb = {scsi::op::kWrite10, 0, 0, 0, 0, 8, 0, 0, 1, 0};
  std::copy(cdb.begin(), cdb.end(), t->cdb.begin());
  t->cdb_length = uint8_t(cdb.size());
  t->data_out.assign(512, 0xab);
  t->expected_transfer_length = 512;
  CHECK_FALSE(service.forward_task(lu, t));
  CHECK(t->data_out == std::vector<uint8_t>(512, 0xab));
}
