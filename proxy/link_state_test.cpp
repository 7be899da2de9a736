#include "proxy/link_state.h"

#include <catch2/catch.hpp>

using namespace stmf::proxy;

namespace {
Hello hello_from(uint32_t node, uint64_t inc) { return Hello{node, inc, true, "peer"}; }
}  // namespace

TEST_CASE("link: handshake brings the link up after one HELLO each way", "[proxy][link]") {
  LinkState l(0, 111, 500, 2000);
  CHECK(l.phase() == LinkState::Phase::idle);
  auto a = l.carrier_up(1000);
  CHECK(a.send_hello);
  CHECK(l.phase() == LinkState::Phase::handshaking);
  a = l.hello(hello_from(1, 222), 1010);
  CHECK(a.went_up);
  CHECK(a.send_hello);  // the peer may not have heard us yet
  CHECK_FALSE(a.went_down);
  CHECK(l.up());
  CHECK(l.peer_node() == 1);
  CHECK(l.peer_incarnation() == 222);
  // The peer's answer to our HELLO repeats its incarnation: nothing happens.
  a = l.hello(hello_from(1, 222), 1020);
  CHECK_FALSE(a.went_up);
  CHECK_FALSE(a.send_hello);
}

TEST_CASE("link: a peer with our node id, a bad node id or ALUA off is refused", "[proxy][link]") {
  LinkState l(1, 1, 500, 2000);
  l.carrier_up(0);
  auto a = l.hello(hello_from(1, 5), 10);
  CHECK_FALSE(a.went_up);
  CHECK(a.close_carrier);
  CHECK(a.why.find("same node id") != std::string::npos);
  l.carrier_up(20);
  a = l.hello(hello_from(7, 5), 30);
  CHECK_FALSE(a.went_up);
  l.carrier_up(40);
  Hello off = hello_from(0, 5);
  off.alua_enabled = false;
  a = l.hello(off, 50);
  CHECK_FALSE(a.went_up);
  CHECK(a.why.find("disabled") != std::string::npos);
  CHECK_FALSE(l.up());
}

TEST_CASE("link: silence longer than the timeout takes the link down", "[proxy][link]") {
  LinkState l(0, 1, 500, 2000);
  l.carrier_up(0);
  l.hello(hello_from(1, 2), 0);
  auto a = l.tick(499);
  CHECK_FALSE(a.send_echo);
  a = l.tick(500);
  CHECK(a.send_echo);
  l.frame_received(1900);
  a = l.tick(3900);
  CHECK_FALSE(a.went_down);
  a = l.tick(3901);
  CHECK(a.went_down);
  CHECK(a.close_carrier);
  CHECK_FALSE(l.up());
  // While handshaking, HELLO is repeated every heartbeat.
  a = l.tick(4401);
  CHECK(a.send_hello);
  a = l.tick(4500);
  CHECK_FALSE(a.send_hello);
}

TEST_CASE("link: a new peer incarnation while up is down then up", "[proxy][link]") {
  LinkState l(0, 1, 500, 2000);
  l.carrier_up(0);
  l.hello(hello_from(1, 2), 0);
  auto a = l.hello(hello_from(1, 3), 100);
  CHECK(a.went_down);
  CHECK(a.went_up);
  CHECK(a.send_hello);
  CHECK(l.peer_incarnation() == 3);
}

TEST_CASE("link: carrier loss and lost messages", "[proxy][link]") {
  LinkState l(0, 1, 500, 2000);
  l.carrier_up(0);
  l.hello(hello_from(1, 2), 0);
  auto a = l.message_lost(10, "door call answered 107");
  CHECK(a.went_down);
  CHECK(l.phase() == LinkState::Phase::handshaking);
  a = l.hello(hello_from(1, 2), 20);  // same incarnation: the handshake completes again
  CHECK(a.went_up);
  a = l.carrier_down(30, "eof");
  CHECK(a.went_down);
  CHECK(l.phase() == LinkState::Phase::idle);
  a = l.carrier_down(40, "eof");
  CHECK_FALSE(a.went_down);
  // HELLO without a carrier is ignored.
  a = l.hello(hello_from(1, 2), 50);
  CHECK_FALSE(a.went_up);
}

TEST_CASE("link: a side that lost a message handshakes again and the peer that stayed up follows", "[proxy][link]") {
  // Two ends of one door link, both up.
  LinkState x(0, 100, 500, 2000), y(1, 200, 500, 2000);
  x.carrier_up(0);
  y.carrier_up(0);
  y.hello(x.own_hello("x"), 1);
  x.hello(y.own_hello("y"), 1);
  REQUIRE(x.up());
  REQUIRE(y.up());
  // x lost a frame it sent: it starts over under a new incarnation and says HELLO at once.
  auto a = x.message_lost(10, "door call failed");
  CHECK(a.went_down);
  CHECK(a.send_hello);
  CHECK(x.incarnation() != 100);
  CHECK(x.phase() == LinkState::Phase::handshaking);
  // y, still up, takes the HELLO as news: down (x dropped its sessions), up, and answers.
  a = y.hello(x.own_hello("x"), 11);
  CHECK(a.went_down);
  CHECK(a.went_up);
  CHECK(a.send_hello);
  // y's answer brings x up again; y's incarnation did not change, x had not seen it up.
  a = x.hello(y.own_hello("y"), 12);
  CHECK(a.went_up);
  CHECK(x.up());
  CHECK(y.up());
  // The same happens after a heartbeat timeout on one side only.
  a = x.tick(10000);
  CHECK(a.went_down);
  const uint64_t inc = x.incarnation();
  CHECK(inc != 101);
  a = x.tick(10600);
  CHECK(a.send_hello);
  a = y.hello(x.own_hello("x"), 10601);
  CHECK(a.went_down);
  CHECK(a.went_up);
}

TEST_CASE("link: a side whose carrier went away comes back as news to a peer that stayed up", "[proxy][link]") {
  // Two nodes linked through door relays: y's relay dies (y's door is gone), x's relay only
  // answers x's calls non-zero, which x counts without further action: x stays up.
  LinkState x(0, 100, 500, 60000), y(1, 200, 500, 60000);
  x.carrier_up(0);
  y.carrier_up(0);
  y.hello(x.own_hello("x"), 1);
  x.hello(y.own_hello("y"), 1);
  REQUIRE(x.up());
  REQUIRE(y.up());
  auto a = y.carrier_down(10, "the relay closed the door");
  CHECK(a.went_down);
  CHECK(y.incarnation() != 200);
  // A new relay's door: y's HELLO carries the new incarnation, and x (still up) starts over.
  a = y.carrier_up(20);
  CHECK(a.send_hello);
  a = x.hello(y.own_hello("y"), 21);
  CHECK(a.went_down);
  CHECK(a.went_up);
  CHECK(a.send_hello);
  a = y.hello(x.own_hello("x"), 22);
  CHECK(a.went_up);
  CHECK(x.up());
  CHECK(y.up());
  // An idle link's carrier going again changes nothing.
  LinkState z(0, 300, 500, 2000);
  z.carrier_down(0, "eof");
  CHECK(z.incarnation() == 300);
}

TEST_CASE("link: an up side answers a peer still handshaking because its answer was lost", "[proxy][link]") {
  LinkState x(0, 100, 500, 60000), y(1, 200, 500, 60000);
  x.carrier_up(0);
  y.carrier_up(0);
  auto a = y.hello(x.own_hello("x"), 10);  // y up; its answering HELLO is lost (door call answered non-zero)
  REQUIRE(a.went_up);
  REQUIRE(a.send_hello);
  // x repeats its HELLO within the heartbeat: y does not answer twice in one heartbeat.
  a = y.hello(x.own_hello("x"), 100);
  CHECK_FALSE(a.send_hello);
  CHECK_FALSE(a.went_down);
  // x, still handshaking, repeats it a heartbeat later: y answers, without going down.
  a = y.hello(x.own_hello("x"), 600);
  CHECK(a.send_hello);
  CHECK_FALSE(a.went_down);
  CHECK(y.up());
  a = x.hello(y.own_hello("y"), 601);
  CHECK(a.went_up);
  // x's answer is a repeat to y, which answered less than a heartbeat ago: no ping-pong.
  a = y.hello(x.own_hello("x"), 602);
  CHECK_FALSE(a.send_hello);
}
