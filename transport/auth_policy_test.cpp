// Which CHAP credentials a login must prove: precedence of per-initiator and target-wide secrets,
// auth methods, discovery (transport/settings.h resolve_chap).
#include <catch2/catch.hpp>

#include "transport/settings.h"

using namespace stmf::transport;

namespace {
const std::string kA = "iqn.1993-08.org.debian:01:a", kB = "iqn.1993-08.org.debian:01:b";

TargetSettings target(std::string auth, std::optional<ChapSettings> chap = std::nullopt) {
  TargetSettings t;
  t.iqn = "iqn.2026-11.org.example:t";
  t.auth = std::move(auth);
  t.chap = std::move(chap);
  return t;
}
}  // namespace

TEST_CASE("resolve_chap: per-initiator secrets, target-wide fallback, auth methods", "[unit][chap]") {
  AuthSettings auth;
  auth.initiators[kA] = {"alice", "alice-secret-1"};

  SECTION("auth none, or default with default none and no target-wide secret: no CHAP") {
    CHECK_FALSE(resolve_chap(auth, nullptr, kA));  // discovery_auth none
    auto t = target("none", ChapSettings{"u", "wide-secret-01", "", ""});
    CHECK_FALSE(resolve_chap(auth, &t, kA));
    auto d = target("default");
    CHECK_FALSE(resolve_chap(auth, &d, kA));
  }
  SECTION("auth chap: the initiator's own secret; the name is case-insensitive") {
    auto t = target("chap");
    auto s = resolve_chap(auth, &t, "IQN.1993-08.org.debian:01:A");
    REQUIRE(s);
    CHECK(s->user == "alice");
    CHECK(s->secret == "alice-secret-1");
    CHECK_FALSE(s->has_mutual());
    // Another initiator has no secret: CHAP is still required and cannot succeed.
    auto b = resolve_chap(auth, &t, kB);
    REQUIRE(b);
    CHECK(b->secret.empty());
  }
  SECTION("the initiator's own secret wins over the target-wide one, which serves the others") {
    auto t = target("default", ChapSettings{"wide", "wide-secret-01", "", ""});  // a wide secret means chap
    auto a = resolve_chap(auth, &t, kA);
    REQUIRE(a);
    CHECK(a->secret == "alice-secret-1");
    auto b = resolve_chap(auth, &t, kB);
    REQUIRE(b);
    CHECK(b->user == "wide");
    CHECK(b->secret == "wide-secret-01");
  }
  SECTION("default_auth chap applies to targets with auth default") {
    auth.default_auth = "chap";
    auto t = target("default");
    auto a = resolve_chap(auth, &t, kA);
    REQUIRE(a);
    CHECK(a->secret == "alice-secret-1");
  }
  SECTION("the target's own CHAP name (default: its IQN) and secret for mutual CHAP") {
    auto t = target("chap", ChapSettings{"", "", "", "tgt-secret-001"});
    auto a = resolve_chap(auth, &t, kA);
    REQUIRE(a);
    CHECK(a->has_mutual());
    CHECK(a->mutual_user == t.iqn);
    CHECK(a->mutual_secret == "tgt-secret-001");
    t.chap->mutual_user = "tname";
    CHECK(resolve_chap(auth, &t, kA)->mutual_user == "tname");
  }
  SECTION("discovery: per-initiator secrets only, never a target identity") {
    auth.discovery_auth = "chap";
    auto a = resolve_chap(auth, nullptr, kA);
    REQUIRE(a);
    CHECK(a->secret == "alice-secret-1");
    CHECK_FALSE(a->has_mutual());
    auto b = resolve_chap(auth, nullptr, kB);
    REQUIRE(b);
    CHECK(b->secret.empty());
  }
}
