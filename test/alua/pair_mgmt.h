// Test helper: a management request to one node of the pair that must succeed.
#pragma once
#include <catch2/catch.hpp>

#include <string>

#include "mgmt/client.h"
#include "test/alua/pair.h"

namespace stmf::test {

// Sends `op` with `args` to node `node`'s management socket; REQUIREs success and returns the
// response.
inline mgmt::json mgmt_ok(const Pair& p, int node, const std::string& op, const mgmt::json& args) {
  mgmt::Client c(p.socket(node));
  mgmt::json r;
  auto s = c.call(op, args, r);
  INFO("node " << node << " " << op << ": " << s.message);
  REQUIRE(s.ok());
  return r;
}

}  // namespace stmf::test
