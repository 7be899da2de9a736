#include "transport/iscsi/cmd_window.h"

#include <catch2/catch.hpp>
#include <string>

using namespace stmf::iscsi;

TEST_CASE("serial number arithmetic (RFC 1982)") {
  CHECK(sn_lt(1, 2));
  CHECK(sn_lt(0xffffffff, 0));
  CHECK(sn_gt(0, 0xffffffff));
  CHECK(sn_lt(0xfffffff0, 0x10));
  CHECK_FALSE(sn_lt(5, 5));
  CHECK(sn_le(5, 5));
  CHECK(sn_ge(0x10, 0xfffffff0));
  CHECK_FALSE(sn_lt(0, 0x80000000));  // undefined distance: neither
  CHECK_FALSE(sn_gt(0, 0x80000000));
}

TEST_CASE("in-order, future, out-of-window and immediate commands") {
  CmdWindow w(10, 4);
  CHECK(w.exp_cmd_sn() == 10);
  CHECK(w.max_cmd_sn() == 13);
  CHECK(w.classify(10, false) == CmdSnClass::in_order);
  CHECK(w.classify(13, false) == CmdSnClass::future);
  CHECK(w.classify(14, false) == CmdSnClass::out_of_window);
  CHECK(w.classify(9, false) == CmdSnClass::out_of_window);  // duplicate
  CHECK(w.classify(12345, true) == CmdSnClass::immediate);
  CHECK(w.accept(10, true) == CmdSnClass::immediate);
  CHECK(w.exp_cmd_sn() == 10);  // immediate does not advance
  CHECK(w.running() == 0);
  CHECK(w.accept(10, false) == CmdSnClass::in_order);
  CHECK(w.exp_cmd_sn() == 11);
  CHECK(w.running() == 1);
  CHECK(w.max_cmd_sn() == 13);  // one slot in use
  CHECK(w.accept(10, false) == CmdSnClass::out_of_window);
}

TEST_CASE("window flow control never moves MaxCmdSN back") {
  CmdWindow w(0, 2);
  CHECK(w.max_cmd_sn() == 1);
  w.accept(0, false);
  w.accept(1, false);
  CHECK(w.exp_cmd_sn() == 2);
  CHECK(w.max_cmd_sn() == 1);  // closed: MaxCmdSN = ExpCmdSN - 1
  CHECK(w.classify(2, false) == CmdSnClass::out_of_window);
  w.on_completed();
  CHECK(w.max_cmd_sn() == 2);
  CHECK(w.classify(2, false) == CmdSnClass::in_order);
  w.on_completed();
  CHECK(w.max_cmd_sn() == 3);
  w.on_completed();  // extra completion is harmless
  CHECK(w.max_cmd_sn() == 3);
}

TEST_CASE("window across the 2^32 wrap") {
  CmdWindow w(0xfffffffe, 4);
  CHECK(w.max_cmd_sn() == 1);
  CHECK(w.classify(0xfffffffe, false) == CmdSnClass::in_order);
  CHECK(w.classify(0xffffffff, false) == CmdSnClass::future);
  CHECK(w.classify(0, false) == CmdSnClass::future);
  CHECK(w.classify(1, false) == CmdSnClass::future);
  CHECK(w.classify(2, false) == CmdSnClass::out_of_window);
  CHECK(w.classify(0xfffffffd, false) == CmdSnClass::out_of_window);
  w.accept(0xfffffffe, false);
  w.on_completed();
  w.accept(0xffffffff, false);
  w.on_completed();
  CHECK(w.exp_cmd_sn() == 0);
  CHECK(w.max_cmd_sn() == 3);
  CHECK(w.classify(0, false) == CmdSnClass::in_order);
}

TEST_CASE("reorder buffer releases held commands in order") {
  CmdWindow w(100, 8);
  CmdReorderBuffer<std::string> held;
  REQUIRE(w.accept(102, false) == CmdSnClass::future);
  held.hold(102, "c");
  REQUIRE(w.accept(101, false) == CmdSnClass::future);
  held.hold(101, "b");
  CHECK_FALSE(held.take_next(w));
  REQUIRE(w.accept(100, false) == CmdSnClass::in_order);
  auto b = held.take_next(w);
  REQUIRE(b);
  CHECK(*b == "b");
  auto c = held.take_next(w);
  REQUIRE(c);
  CHECK(*c == "c");
  CHECK_FALSE(held.take_next(w));
  CHECK(w.exp_cmd_sn() == 103);
  CHECK(held.size() == 0);
}
