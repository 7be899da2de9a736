// iSCSI TransportID codec (SPC-4 7.6.4.6).
#include "core/pr/pr_test_util.h"

using namespace stmf;
using namespace stmf::pr;
using namespace stmf::pr::test;

namespace {
std::vector<uint8_t> raw(uint8_t byte0, uint16_t addl, const std::string& s, size_t total) {
  std::vector<uint8_t> v(std::max(total, 4 + s.size()), 0);
  v[0] = byte0;
  v[2] = uint8_t(addl >> 8);
  v[3] = uint8_t(addl);
  std::copy(s.begin(), s.end(), v.begin() + 4);
  v.resize(total);
  return v;
}
std::optional<std::pair<std::string, std::string>> parse(const std::vector<uint8_t>& v, size_t* used = nullptr) {
  size_t n = 12345;
  auto r = PrEngine::parse_iscsi_transport_id(v, n);
  if (used) *used = n;
  return r;
}
}  // namespace

TEST_CASE("TransportID build: exact bytes", "[pr][tid]") {
  // 01b: "iqn.x,i,0x0123456789ab" = 22 bytes + NUL = 23, padded to 24.
  auto t = PrEngine::iscsi_transport_id("iqn.x", "0123456789ab");
  std::vector<uint8_t> exp{0x45, 0x00, 0x00, 0x18, 'i', 'q', 'n', '.', 'x', ',', 'i', ',', '0', 'x', '0', '1',
                           '2',  '3',  '4',  '5',  '6', '7', '8', '9', 'a', 'b', 0,   0};
  CHECK(t == exp);
  // 00b: "iqn.x" + NUL = 6, but at least 20.
  t = PrEngine::iscsi_transport_id("iqn.x", "");
  exp = {0x05, 0, 0, 20, 'i', 'q', 'n', '.', 'x', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  CHECK(t == exp);
}

TEST_CASE("TransportID build: ADDITIONAL LENGTH is >= 20, a multiple of 4, and holds the NUL", "[pr][tid]") {
  for (size_t len = 1; len <= 80; ++len) {
    std::string name = "iqn." + std::string(len, 'q');
    for (const std::string& isid : {std::string(), kIsid1}) {
      auto t = PrEngine::iscsi_transport_id(name, isid);
      const size_t addl = size_t(t[2]) << 8 | t[3];
      const size_t text = name.size() + (isid.empty() ? 0 : 5 + isid.size());
      CAPTURE(len, isid);
      CHECK(t.size() == 4 + addl);
      CHECK(addl >= 20);
      CHECK(addl % 4 == 0);
      CHECK(addl >= text + 1);
      CHECK(addl < std::max<size_t>(20, text + 1) + 4);
      CHECK(t[4 + text] == 0);
    }
  }
}

TEST_CASE("TransportID round trips", "[pr][tid]") {
  for (const auto& [name, isid] : std::vector<std::pair<std::string, std::string>>{
           {kA, kIsid1}, {kB, ""}, {"iqn.x", "0123456789ab"}, {"eui.0123456789abcdef", ""},
           {"naa.52004567ba64678d", "23d000000001"}, {"iqn." + std::string(219, 'z'), ""}}) {
    auto t = PrEngine::iscsi_transport_id(name, isid);
    size_t used = 0;
    auto p = parse(t, &used);
    REQUIRE(p);
    CHECK(p->first == name);
    CHECK(p->second == isid);
    CHECK(used == t.size());
  }
}

TEST_CASE("TransportID parse: lowercases, ignores padding, reports its length", "[pr][tid]") {
  auto p = parse(raw(0x45, 24, "IQN.X,I,0X0123456789AB", 28));
  REQUIRE(p);
  CHECK(p->first == "iqn.x");
  CHECK(p->second == "0123456789ab");
  // Bytes after the first NUL (and after the TransportID) are not part of it.
  auto v = raw(0x05, 20, std::string("iqn.y\0junk", 10), 24);
  v.push_back(0x99);
  size_t used = 0;
  p = parse(v, &used);
  REQUIRE(p);
  CHECK(p->first == "iqn.y");
  CHECK(p->second.empty());
  CHECK(used == 24);
}

TEST_CASE("TransportID parse: malformed input", "[pr][tid]") {
  const std::string ok01 = "iqn.x,i,0x0123456789ab";
  CHECK_FALSE(parse({}));
  CHECK_FALSE(parse({0x05, 0, 0}));
  CHECK_FALSE(parse(raw(0x41, 24, ok01, 28)));              // protocol 1 (SBP)
  CHECK_FALSE(parse(raw(0x46, 24, ok01, 28)));              // protocol 6 (SAS)
  CHECK_FALSE(parse(raw(0x85, 24, ok01, 28)));              // format 10b
  CHECK_FALSE(parse(raw(0xc5, 24, ok01, 28)));              // format 11b
  CHECK_FALSE(parse(raw(0x05, 16, "iqn.x", 20)));           // ADDITIONAL LENGTH < 20
  CHECK_FALSE(parse(raw(0x05, 22, "iqn.x", 26)));           // not a multiple of 4
  CHECK_FALSE(parse(raw(0x05, 20, std::string(20, 'a'), 24)));  // no NUL terminator
  CHECK_FALSE(parse(raw(0x05, 20, "", 24)));                // empty name
  CHECK_FALSE(parse(raw(0x05, 24, ok01, 28)));              // 00b with an ISID part
  CHECK_FALSE(parse(raw(0x05, 20, "iqn.a b", 24)));         // space
  CHECK_FALSE(parse(raw(0x45, 20, "iqn.x", 24)));           // 01b without ",i,0x"
  CHECK_FALSE(parse(raw(0x45, 24, "iqn.x,i,0x0123456789a", 28)));    // 11-digit ISID
  CHECK_FALSE(parse(raw(0x45, 24, "iqn.x,i,0x0123456789abc", 28)));  // 13-digit ISID
  CHECK_FALSE(parse(raw(0x45, 24, "iqn.x,i,0x0123456789ag", 28)));   // not hex
  CHECK_FALSE(parse(raw(0x45, 24, ",i,0x0123456789ab", 28)));        // no name
  CHECK_FALSE(parse(raw(0x05, 228, "iqn." + std::string(220, 'z'), 232)));  // 224-byte name
}

TEST_CASE("TransportID parse: truncated input reports the length it needed", "[pr][tid]") {
  auto t = PrEngine::iscsi_transport_id(kA, kIsid1);
  size_t used = 0;
  std::vector<uint8_t> cut(t.begin(), t.end() - 4);
  CHECK_FALSE(parse(cut, &used));
  CHECK(used == t.size());
}
