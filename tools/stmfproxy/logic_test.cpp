// stmfproxy's I/O-free pieces: result order, framing bounds, frame descriptions, HOST:PORT.
#include <catch2/catch.hpp>

#include <cerrno>

#include "proxy/codec.h"
#include "tools/stmfproxy/endpoint.h"
#include "tools/stmfproxy/result_sequencer.h"
#include "tools/stmfproxy/wire.h"

using namespace stmfproxy;

TEST_CASE("door call results leave in call order", "[stmfproxy]") {
  ResultSequencer r;
  std::vector<uint32_t> out;
  const uint64_t a = r.push(), b = r.push(), c = r.push();
  CHECK(a == 0);
  CHECK(b == 1);
  CHECK(c == 2);
  r.resolve(c, ENOTCONN);  // the third is known first: held back
  r.take_ready(out);
  CHECK(out.empty());
  r.resolve(a, 0);
  r.take_ready(out);
  CHECK(out == std::vector<uint32_t>{0});
  r.resolve(b, 0);
  r.take_ready(out);
  CHECK(out == std::vector<uint32_t>{0, 0, ENOTCONN});
  CHECK(r.pending() == 0);
}

TEST_CASE("the first result of a call wins and unknown calls are ignored", "[stmfproxy]") {
  ResultSequencer r;
  std::vector<uint32_t> out;
  const uint64_t a = r.push(), b = r.push();
  r.resolve(b, ENOTCONN);
  r.resolve(b, 0);   // e.g. a late write completion after the link failed
  r.resolve(99, 0);  // never pushed
  r.resolve(a, 0);
  r.take_ready(out);
  CHECK(out == std::vector<uint32_t>{0, ENOTCONN});
  r.resolve(a, 7);  // already handed out
  const uint64_t c = r.push();
  CHECK(c == 2);
  r.resolve(c, 0);
  r.take_ready(out);
  CHECK(out == std::vector<uint32_t>{0, ENOTCONN, 0});
}

TEST_CASE("message sizes are bounded by the proxy frame limit", "[stmfproxy]") {
  CHECK_FALSE(valid_size(0));
  CHECK(valid_size(1));
  CHECK(valid_size(stmf::proxy::kMaxFrame + 4));
  CHECK_FALSE(valid_size(stmf::proxy::kMaxFrame + 5));
  CHECK_FALSE(valid_size(0xffffffffu));
  uint8_t b[4];
  put_be32(b, 0x01020304);
  CHECK(b[0] == 1);
  CHECK(b[3] == 4);
  CHECK(get_be32(b) == 0x01020304);
}

TEST_CASE("frames are described by type and msg_id", "[stmfproxy]") {
  auto f = stmf::proxy::encode(stmf::proxy::Message{42, stmf::proxy::EchoRequest{}});
  CHECK(describe_frame(f.data(), f.size()) == std::string(stmf::proxy::to_string(stmf::proxy::MsgType::echo_request)) +
                                                   " msg_id 42 (" + std::to_string(f.size()) + " bytes)");
  const uint8_t junk[3] = {1, 2, 3};
  CHECK(describe_frame(junk, 3) == "a 3-byte message without a proxy header");
}

TEST_CASE("endpoints are parsed from HOST:PORT", "[stmfproxy]") {
  CHECK(parse_endpoint("127.0.0.1:6543") == Endpoint{"127.0.0.1", 6543});
  CHECK(parse_endpoint("node-b.example:1") == Endpoint{"node-b.example", 1});
  CHECK(parse_endpoint("[::1]:65535") == Endpoint{"::1", 65535});
  CHECK(parse_endpoint("[::1]:65535")->str() == "[::1]:65535");
  CHECK(parse_endpoint("host:6543")->str() == "host:6543");
  for (const char* bad : {"", "host", ":6543", "host:", "host:0", "host:65536", "host:12x", "::1:80", "[::1]80",
                          "[host]:80", "[]:80", "a b:80", "host:-1"})
    CHECK_FALSE(parse_endpoint(bad));
}
