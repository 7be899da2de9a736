#include "proxy/codec.h"

#include <catch2/catch.hpp>

#include <random>
#include <set>
#include <tuple>

using namespace stmf::proxy;

namespace {

Guid make_guid(uint8_t seed) {
  Guid g;
  for (size_t i = 0; i < g.size(); ++i) g[i] = uint8_t(seed + i * 7);
  return g;
}

// Field-by-field views of every message, written from messages.h independently of the codec.
auto tie(const RegisterProxyPort& m) { return std::tie(m.rtpi, m.tpg, m.port_name, m.target_name); }
auto tie(const DeregisterProxyPort& m) { return std::tie(m.rtpi); }
auto tie(const RegisterLun& m) { return std::tie(m.guid, m.provider, m.properties); }
auto tie(const DeregisterLun& m) { return std::tie(m.guid); }
auto tie(const LunActive& m) { return std::tie(m.guid, m.epoch); }
auto tie(const SessionCreate& m) { return std::tie(m.session_id, m.rtpi, m.initiator_name, m.isid_hex, m.luns, m.ash); }
auto tie(const SessionLuns& m) { return std::tie(m.session_id, m.luns); }
auto tie(const SessionDestroy& m) { return std::tie(m.session_id); }
auto tie(const PrStateMsg& m) { return std::tie(m.guid, m.seq, m.state); }
auto tie(const LuList& m) { return std::tie(m.guids); }
auto tie(const ScsiCmd& m) {
  return std::tie(m.session_id, m.guid, m.epoch, m.lun, m.tag, m.attribute, m.direction, m.expected_transfer_length, m.cdb,
                  m.data_complete, m.immediate_data);
}
auto tie(const ScsiData& m) { return std::tie(m.task_id, m.session_id, m.offset, m.data); }
auto tie(const ScsiDataXferDone& m) { return std::tie(m.task_id, m.session_id, m.status); }
auto tie(const ScsiStatus& m) {
  return std::tie(m.task_id, m.session_id, m.response, m.scsi_status, m.transfer_length, m.data_in_length, m.sense);
}
auto tie(const TaskMgmt& m) { return std::tie(m.session_id, m.function, m.lun, m.guid, m.epoch, m.referenced_tag); }
auto tie(const Status& m) { return std::tie(m.msg_type, m.msg_id, m.status); }
auto tie(const Echo& m) { return std::tie(m.data); }  // EchoReply too
auto tie(const Hello& m) { return std::tie(m.node, m.incarnation, m.alua_enabled, m.name); }

bool same(const Message& a, const Message& b) {
  if (a.msg_id != b.msg_id || a.body.index() != b.body.index()) return false;
  return std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        return tie(x) == tie(std::get<T>(b.body));
      },
      a.body);
}

// One message of every type, every field away from its default.
std::vector<Message> samples() {
  std::vector<Message> v;
  auto add = [&](uint64_t id, Body b) { v.push_back(Message{id, std::move(b)}); };
  add(1, RegisterProxyPort{0x0102, 0x0304, "iqn.2010-08.org.example:t1,t,0x0001", "iqn.2010-08.org.example:t1"});
  add(2, DeregisterProxyPort{0xfffe});
  add(3, RegisterLun{make_guid(1), "sbd", R"({"name":"lu0","backing":"/tmp/x","size":1048576})"});
  add(4, DeregisterLun{make_guid(2)});
  add(0xfedcba9876543210ull,
      ScsiCmd{0x1111222233334444ull, make_guid(3), 0x0badc0ffee000017ull, 0x0001000000000000ull, 0xdeadbeef, 2, 1, 8192,
              {0x2a, 0, 0, 0, 0, 0x10, 0, 0, 0x10, 0}, false, {9, 8, 7, 6, 5}});
  add(6, ScsiData{0xfedcba9876543210ull, 0x1111222233334444ull, 4096, std::vector<uint8_t>(1000, 0xa5)});
  add(7, ScsiDataXferDone{0x77, 0x1111222233334444ull, 0x80000001u});
  add(8, ScsiStatus{0x77, 0x55, 0, 2, -512, 0x12345678, {0x70, 0, 5, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24, 0}});
  add(9, Status{uint8_t(MsgType::task_mgmt), 0xabcdef, 6});
  add(10, SessionCreate{0x4242, 7, "iqn.1993-08.org.debian:01:abc", "400001370000",
                        {{0, make_guid(4)}, {1, make_guid(5)}, {0x4000000000000000ull, make_guid(6)}},
                        0x0002ffff00000007ll});
  add(11, SessionDestroy{0x4242});
  add(12, EchoRequest{{1, 2, 3}});
  add(13, EchoReply{{{4, 5, 6, 7}}});
  add(14, LunActive{make_guid(7), 0x0000001f00000003ull});
  add(15, Hello{2, 0x0123456789abcdefull, false, "node-b.example"});
  add(16, TaskMgmt{0x4242, 5, 3, make_guid(8), 0x0000000500000009ull, 0x10203040});
  add(17, SessionLuns{0x4242, {{2, make_guid(9)}}});
  add(18, PrStateMsg{make_guid(10), 0x0102030405060708ull, R"({"generation":3,"registrations":[]})"});
  add(19, LuList{{make_guid(11), make_guid(12)}});
  return v;
}

Message decode_ok(const std::vector<uint8_t>& f) {
  Message m;
  std::string why;
  const auto e = decode(f.data(), f.size(), m, why);
  INFO(why);
  REQUIRE(e == DecodeError::none);
  return m;
}

DecodeError decode_err(const std::vector<uint8_t>& f, std::string& why) {
  Message m;
  return decode(f.data(), f.size(), m, why);
}

void put32(std::vector<uint8_t>& f, size_t at, uint32_t v) {
  f[at] = uint8_t(v >> 24);
  f[at + 1] = uint8_t(v >> 16);
  f[at + 2] = uint8_t(v >> 8);
  f[at + 3] = uint8_t(v);
}

// The first `n` bytes of `f`, with the length prefix rewritten to match: a frame that is
// well-framed but whose body ends early.
std::vector<uint8_t> cut(const std::vector<uint8_t>& f, size_t n) {
  std::vector<uint8_t> c(f.begin(), f.begin() + std::ptrdiff_t(n));
  put32(c, 0, uint32_t(n - 4));
  return c;
}

Message sample_of(MsgType t) {
  for (auto& m : samples())
    if (m.type() == t) return m;
  FAIL("no sample");
  return {};
}

}  // namespace

TEST_CASE("every message type round trips field by field", "[proxy][codec]") {
  std::set<MsgType> types;
  for (const auto& m : samples()) {
    INFO(to_string(m.type()));
    types.insert(m.type());
    const auto f = encode(m);
    REQUIRE(f.size() >= kHeaderSize);
    const Message back = decode_ok(f);
    CHECK(back.type() == m.type());
    CHECK(same(back, m));
    CHECK(encode(back) == f);
  }
  CHECK(types.size() == std::variant_size_v<Body>);
}

TEST_CASE("default-valued messages round trip", "[proxy][codec]") {
  // Empty strings, lists and byte fields (the cdb needs at least one byte).
  std::vector<Message> v = {Message{0, RegisterProxyPort{}}, Message{0, SessionCreate{}}, Message{0, Echo{}},
                            Message{0, ScsiStatus{}},        Message{0, Hello{}},         Message{0, SessionLuns{}},
                            Message{0, PrStateMsg{}},        Message{0, LuList{}}};
  ScsiCmd c;
  c.cdb = {0};
  v.push_back(Message{0, c});
  for (const auto& m : v) {
    INFO(to_string(m.type()));
    CHECK(same(decode_ok(encode(m)), m));
  }
}

TEST_CASE("type() follows the body alternative", "[proxy][codec]") {
  CHECK(Message{1, EchoRequest{}}.type() == MsgType::echo_request);
  CHECK(Message{1, EchoReply{}}.type() == MsgType::echo_reply);
  CHECK(Message{1, Status{}}.type() == MsgType::status);
  CHECK(Message{1, Hello{}}.type() == MsgType::hello);
  CHECK(Message{1, ScsiCmd{}}.type() == MsgType::scsi_cmd);
  CHECK(Message{1, SessionLuns{}}.type() == MsgType::session_luns);
  CHECK(Message{1, RegisterProxyPort{}}.type() == MsgType::register_proxy_port);
}

TEST_CASE("names of message types and decode errors", "[proxy][codec]") {
  CHECK(std::string(to_string(MsgType::scsi_cmd)) == "SCSI_CMD");
  CHECK(std::string(to_string(MsgType::register_lun)) == "REGISTER_LUN");
  CHECK(std::string(to_string(MsgType::hello)) == "HELLO");
  CHECK(std::string(to_string(MsgType::scsi_data_xfer_done)) == "SCSI_DATA_XFER_DONE");
  CHECK(std::string(to_string(MsgType::echo_reply)) == "ECHO_REPLY");
  CHECK(std::string(to_string(MsgType(8))) == "UNKNOWN");
  CHECK(std::string(to_string(DecodeError::none)) == "none");
  CHECK(std::string(to_string(DecodeError::truncated)) == "truncated");
  CHECK(std::string(to_string(DecodeError::too_large)) == "too_large");
  CHECK(std::string(to_string(DecodeError::bad_version)) == "bad_version");
  CHECK(std::string(to_string(DecodeError::bad_type)) == "bad_type");
  CHECK(std::string(to_string(DecodeError::bad_field)) == "bad_field");
  CHECK(std::string(to_string(DecodeError::trailing_bytes)) == "trailing_bytes");
}

TEST_CASE("exact bytes of a STATUS frame", "[proxy][codec]") {
  const Message m{0x0102030405060708ull, Status{4, 0x1122334455667788ull, 5}};
  const std::vector<uint8_t> want = {
      0x00, 0x00, 0x00, 0x17,                          // length: 10 + 13
      0x03,                                            // version
      0x09,                                            // STATUS
      0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,  // msg_id
      0x04,                                            // msg_type
      0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,  // msg_id answered
      0x00, 0x00, 0x00, 0x05,                          // status
  };
  CHECK(encode(m) == want);
  CHECK(same(decode_ok(want), m));
}

TEST_CASE("exact bytes of HELLO and SCSI_STATUS and SESSION_LUNS frames", "[proxy][codec]") {
  SECTION("HELLO: u32, u64, bool, string") {
    const Message m{1, Hello{0x0a0b0c0d, 0x8000000000000001ull, true, "ab"}};
    const std::vector<uint8_t> want = {0, 0, 0, 0x1d, 3, 32, 0, 0, 0, 0, 0, 0, 0, 1,  //
                                       0x0a, 0x0b, 0x0c, 0x0d,                         // node
                                       0x80, 0, 0, 0, 0, 0, 0, 1,                      // incarnation
                                       1,                                              // alua_enabled
                                       0, 0, 0, 2, 'a', 'b'};                          // name
    CHECK(encode(m) == want);
    CHECK(same(decode_ok(want), m));
  }
  SECTION("SCSI_STATUS: int64 as two's complement, bytes") {
    const Message m{2, ScsiStatus{3, 4, 1, 0x02, -1, 0x100, {0x70, 0x00}}};
    const std::vector<uint8_t> want = {0, 0, 0, 0x2e, 3, 7, 0, 0, 0, 0, 0, 0, 0, 2,  //
                                       0, 0, 0, 0, 0, 0, 0, 3,                        // task_id
                                       0, 0, 0, 0, 0, 0, 0, 4,                        // session_id
                                       1,                                             // response
                                       2,                                             // scsi_status
                                       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // transfer_length
                                       0, 0, 1, 0,                                    // data_in_length
                                       0, 0, 0, 2, 0x70, 0x00};                       // sense
    CHECK(encode(m) == want);
    CHECK(same(decode_ok(want), m));
  }
  SECTION("SESSION_LUNS: list of u64 lun + 16-byte guid") {
    Guid g;
    for (size_t i = 0; i < 16; ++i) g[i] = uint8_t(0xf0 + i);
    const Message m{3, SessionLuns{0x99, {{0x0102, g}}}};
    std::vector<uint8_t> want = {0, 0, 0, 0x2e, 3, 34, 0, 0, 0, 0, 0, 0, 0, 3,  //
                                 0, 0, 0, 0, 0, 0, 0, 0x99,                     // session_id
                                 0, 0, 0, 1,                                    // count
                                 0, 0, 0, 0, 0, 0, 1, 2};                       // lun
    for (uint8_t b : g) want.push_back(b);
    CHECK(encode(m) == want);
    CHECK(same(decode_ok(want), m));
  }
}

TEST_CASE("encode appends to what the buffer holds", "[proxy][codec]") {
  std::vector<uint8_t> out = {0xaa, 0xbb};
  const Message a{1, DeregisterProxyPort{3}};
  const Message b{2, SessionDestroy{4}};
  encode(a, out);
  encode(b, out);
  auto fa = encode(a), fb = encode(b);
  std::vector<uint8_t> want = {0xaa, 0xbb};
  for (uint8_t x : fa) want.push_back(x);
  for (uint8_t x : fb) want.push_back(x);
  CHECK(out == want);
}

TEST_CASE("a body cut anywhere is truncated", "[proxy][codec][errors]") {
  for (const auto& m : samples()) {
    const auto f = encode(m);
    for (size_t n = kHeaderSize; n < f.size(); ++n) {
      INFO(to_string(m.type()) << " cut at " << n);
      std::string why;
      CHECK(decode_err(cut(f, n), why) == DecodeError::truncated);
      CHECK(why.rfind(to_string(m.type()), 0) == 0);  // names the message
    }
  }
}

TEST_CASE("truncation in the middle of each field kind names the field", "[proxy][codec][errors]") {
  struct Case {
    MsgType type;
    size_t body_bytes;  // how much of the body is kept
    const char* why;
  };
  // Offsets into the sample bodies (see samples()).
  const Case cases[] = {
      {MsgType::scsi_cmd, 8 + 16 + 8 + 8 + 4, "SCSI_CMD.attribute: truncated"},         // u8
      {MsgType::register_proxy_port, 1, "REGISTER_PROXY_PORT.rtpi: truncated"},         // u16
      {MsgType::scsi_cmd, 8 + 16 + 8 + 8 + 2, "SCSI_CMD.tag: truncated"},                // u32
      {MsgType::scsi_cmd, 8 + 16 + 3, "SCSI_CMD.epoch: truncated"},                       // u64
      {MsgType::lun_active, 16 + 7, "LUN_ACTIVE.epoch: truncated"},                      // u64
      {MsgType::hello, 4 + 5, "HELLO.incarnation: truncated"},                          // u64
      {MsgType::scsi_status, 8 + 8 + 1 + 1 + 7, "SCSI_STATUS.transfer_length: truncated"},  // int64
      {MsgType::hello, 4 + 8, "HELLO.alua_enabled: truncated"},                         // bool
      {MsgType::register_lun, 15, "REGISTER_LUN.guid: truncated"},                      // guid
      {MsgType::register_lun, 16 + 3, "REGISTER_LUN.provider: truncated"},              // string length
      {MsgType::register_lun, 16 + 4 + 2, "REGISTER_LUN.provider: declared length 3"},  // string bytes
      {MsgType::scsi_data, 8 + 8 + 4 + 4 + 999, "SCSI_DATA.data: declared length 1000 but 999"},  // bytes
      {MsgType::scsi_cmd, 8 + 16 + 8 + 8 + 4 + 1 + 1 + 4 + 2, "SCSI_CMD.cdb: truncated"},             // cdb length
      {MsgType::scsi_cmd, 8 + 16 + 8 + 8 + 4 + 1 + 1 + 4 + 4 + 5, "SCSI_CMD.cdb: declared length 10"},  // cdb bytes
      {MsgType::session_luns, 8 + 2, "SESSION_LUNS.luns: truncated"},                             // count
      {MsgType::session_luns, 8 + 4 + 23, "SESSION_LUNS.luns: count 1 needs 24 bytes but 23 remain"},  // entries
  };
  for (const auto& c : cases) {
    const auto f = encode(sample_of(c.type));
    REQUIRE(kHeaderSize + c.body_bytes < f.size());
    std::string why;
    CHECK(decode_err(cut(f, kHeaderSize + c.body_bytes), why) == DecodeError::truncated);
    CHECK_THAT(why, Catch::StartsWith(c.why));
  }
}

TEST_CASE("a declared length larger than the remainder is refused before allocating", "[proxy][codec][errors]") {
  std::string why;
  SECTION("bytes") {
    auto f = encode(Message{1, ScsiData{1, 2, 3, {1, 2, 3}}});
    put32(f, kHeaderSize + 20, 0xfffffff0u);
    CHECK(decode_err(f, why) == DecodeError::truncated);
    CHECK(why == "SCSI_DATA.data: declared length 4294967280 but 3 bytes remain");
  }
  SECTION("string") {
    auto f = encode(Message{1, Hello{1, 2, true, "x"}});
    put32(f, kHeaderSize + 13, 0x7fffffffu);
    CHECK(decode_err(f, why) == DecodeError::truncated);
    CHECK_THAT(why, Catch::StartsWith("HELLO.name: declared length 2147483647"));
  }
  SECTION("list count") {
    auto f = encode(Message{1, SessionLuns{1, {{1, Guid{}}}}});
    put32(f, kHeaderSize + 8, 0xffffffffu);
    CHECK(decode_err(f, why) == DecodeError::truncated);
    CHECK(why == "SESSION_LUNS.luns: count 4294967295 needs 103079215080 bytes but 24 remain");
  }
}

TEST_CASE("frame-level errors", "[proxy][codec][errors]") {
  const auto good = encode(Message{5, Status{1, 2, 3}});
  std::string why;
  SECTION("shorter than the length prefix") {
    CHECK(decode_err({}, why) == DecodeError::truncated);
    CHECK(decode_err({0, 0, 0}, why) == DecodeError::truncated);
  }
  SECTION("length prefix above kMaxFrame") {
    auto f = good;
    put32(f, 0, kMaxFrame + 1);
    CHECK(decode_err(f, why) == DecodeError::too_large);
    CHECK_THAT(why, Catch::Contains("exceeds"));
    put32(f, 0, 0xffffffffu);
    CHECK(decode_err(f, why) == DecodeError::too_large);
  }
  SECTION("length prefix larger than the frame") {
    auto f = good;
    put32(f, 0, uint32_t(f.size() - 4 + 1));
    CHECK(decode_err(f, why) == DecodeError::truncated);
  }
  SECTION("length prefix smaller than the frame") {
    auto f = good;
    put32(f, 0, uint32_t(f.size() - 4 - 1));
    CHECK(decode_err(f, why) == DecodeError::trailing_bytes);
  }
  SECTION("shorter than the header") {
    CHECK(decode_err(cut(good, kHeaderSize - 1), why) == DecodeError::truncated);
    CHECK(decode_err(cut(good, 4), why) == DecodeError::truncated);
  }
  SECTION("bad version") {
    auto f = good;
    f[4] = 1;  // version 1 had no ownership epoch in SCSI_CMD, TASK_MGMT and LUN_ACTIVE
    CHECK(decode_err(f, why) == DecodeError::bad_version);
    CHECK(why == "frame: version 1, expected 3");
    f[4] = 2;  // version 2 had no array session handle in SESSION_CREATE
    CHECK(decode_err(f, why) == DecodeError::bad_version);
    f[4] = 4;
    CHECK(decode_err(f, why) == DecodeError::bad_version);
    f[4] = 0;
    CHECK(decode_err(f, why) == DecodeError::bad_version);
  }
  SECTION("unknown type") {
    for (int t : {8, 15, 16, 31, 37, 64, 255}) {
      auto f = good;
      f[5] = uint8_t(t);
      CHECK(decode_err(f, why) == DecodeError::bad_type);
      CHECK(why == "frame: unknown type " + std::to_string(t));
    }
  }
  SECTION("trailing bytes after the body") {
    auto f = good;
    f.push_back(0);
    put32(f, 0, uint32_t(f.size() - 4));
    CHECK(decode_err(f, why) == DecodeError::trailing_bytes);
    CHECK(why == "STATUS: 1 trailing bytes after the body");
  }
}

TEST_CASE("field values out of range", "[proxy][codec][errors]") {
  std::string why;
  SECTION("bool other than 0 or 1") {
    auto f = encode(Message{1, Hello{1, 2, true, "x"}});
    const size_t at = kHeaderSize + 12;
    REQUIRE(f[at] == 1);
    f[at] = 2;
    CHECK(decode_err(f, why) == DecodeError::bad_field);
    CHECK(why == "HELLO.alua_enabled: bool value 2 (must be 0 or 1)");

    ScsiCmd c;
    c.cdb = {0x12, 0, 0, 0, 36, 0};
    auto g = encode(Message{1, c});
    const size_t dc = kHeaderSize + 8 + 16 + 8 + 8 + 4 + 1 + 1 + 4 + 4 + 6;
    REQUIRE(g[dc] == 1);
    g[dc] = 0xff;
    CHECK(decode_err(g, why) == DecodeError::bad_field);
    CHECK_THAT(why, Catch::StartsWith("SCSI_CMD.data_complete: bool value 255"));
  }
  SECTION("cdb longer than 32 bytes") {
    ScsiCmd c;
    c.cdb.assign(40, 0);
    CHECK(decode_err(encode(Message{1, c}), why) == DecodeError::bad_field);
    CHECK(why == "SCSI_CMD.cdb: length 40 exceeds 32");
    // Also when the frame does not hold the 40 bytes.
    auto f = encode(Message{1, c});
    CHECK(decode_err(cut(f, f.size() - 30), why) == DecodeError::bad_field);
  }
  SECTION("cdb of 32 bytes is fine, an empty one is not") {
    ScsiCmd c;
    c.cdb.assign(32, 0x7f);
    CHECK(same(decode_ok(encode(Message{1, c})), Message{1, c}));
    c.cdb.clear();
    CHECK(decode_err(encode(Message{1, c}), why) == DecodeError::bad_field);
    CHECK(why == "SCSI_CMD.cdb: length 0 is below 1");
  }
}

TEST_CASE("a failed decode leaves the message untouched", "[proxy][codec][errors]") {
  Message m{42, Hello{7, 8, true, "keep"}};
  auto f = encode(Message{1, ScsiData{1, 2, 3, {4, 5}}});
  std::string why;
  REQUIRE(decode(f.data(), f.size() - 1, m, why) != DecodeError::none);
  CHECK(same(m, Message{42, Hello{7, 8, true, "keep"}}));
}

namespace {

std::vector<std::vector<uint8_t>> many_frames(size_t rounds) {
  std::vector<std::vector<uint8_t>> frames;
  const auto s = samples();
  for (size_t r = 0; r < rounds; ++r)
    for (auto m : s) {
      m.msg_id += r << 32;
      frames.push_back(encode(m));
    }
  return frames;
}

std::vector<uint8_t> concat(const std::vector<std::vector<uint8_t>>& frames) {
  std::vector<uint8_t> all;
  for (const auto& f : frames) all.insert(all.end(), f.begin(), f.end());
  return all;
}

// Drains every whole frame the reader has.
void drain(FrameReader& r, std::vector<std::vector<uint8_t>>& got) {
  std::vector<uint8_t> f;
  std::string why;
  for (;;) {
    const auto n = r.next(f, why);
    REQUIRE(n != FrameReader::Next::error);
    if (n == FrameReader::Next::need_more) return;
    got.push_back(f);
  }
}

}  // namespace

TEST_CASE("FrameReader fed one byte at a time", "[proxy][codec][reader]") {
  const auto frames = many_frames(3);
  const auto all = concat(frames);
  FrameReader r;
  std::vector<std::vector<uint8_t>> got;
  for (uint8_t b : all) {
    r.feed(&b, 1);
    drain(r, got);
  }
  CHECK(got == frames);
  CHECK(r.buffered() == 0);
  for (const auto& f : got) (void)decode_ok(f);
}

TEST_CASE("FrameReader fed large chunks holding many frames", "[proxy][codec][reader]") {
  const auto frames = many_frames(200);
  const auto all = concat(frames);
  for (size_t chunk : {size_t(4096), size_t(65536), size_t(1000003), all.size()}) {
    INFO("chunk " << chunk);
    FrameReader r;
    std::vector<std::vector<uint8_t>> got;
    for (size_t at = 0; at < all.size(); at += chunk) {
      r.feed(all.data() + at, std::min(chunk, all.size() - at));
      drain(r, got);
    }
    CHECK(got == frames);
    CHECK(r.buffered() == 0);
  }
}

TEST_CASE("FrameReader with many tiny frames and no full drain keeps its buffer small", "[proxy][codec][reader]") {
  // One frame fed per step, one taken per step, with a partial frame always pending: the
  // buffer must be compacted rather than grow without bound.
  const auto f = encode(Message{1, DeregisterProxyPort{1}});
  FrameReader r;
  r.feed(f.data(), 3);  // a partial frame stays ahead
  std::vector<uint8_t> out;
  std::string why;
  std::vector<uint8_t> rot(f.begin() + 3, f.end());
  for (size_t i = 0; i < 3; ++i) rot.push_back(f[i]);
  size_t taken = 0, wrong = 0, max_buffered = 0;
  for (int i = 0; i < 100000; ++i) {
    r.feed(rot.data(), rot.size());
    while (r.next(out, why) == FrameReader::Next::frame) {
      ++taken;
      wrong += out != f;
    }
    max_buffered = std::max(max_buffered, r.buffered());
  }
  CHECK(taken == 100000);
  CHECK(wrong == 0);
  CHECK(max_buffered == 3);
}

TEST_CASE("FrameReader needs more for a partial frame", "[proxy][codec][reader]") {
  const auto f = encode(Message{1, Echo{{1, 2, 3}}});
  FrameReader r;
  std::vector<uint8_t> out;
  std::string why;
  CHECK(r.next(out, why) == FrameReader::Next::need_more);
  r.feed(f.data(), 2);
  CHECK(r.next(out, why) == FrameReader::Next::need_more);
  r.feed(f.data() + 2, f.size() - 3);
  CHECK(r.next(out, why) == FrameReader::Next::need_more);
  CHECK(r.buffered() == f.size() - 1);
  r.feed(f.data() + f.size() - 1, 1);
  CHECK(r.next(out, why) == FrameReader::Next::frame);
  CHECK(out == f);
  CHECK(r.next(out, why) == FrameReader::Next::need_more);
}

TEST_CASE("FrameReader refuses impossible length prefixes for good", "[proxy][codec][reader]") {
  std::vector<uint8_t> out;
  std::string why;
  for (uint32_t len : {0u, 1u, kHeaderSize - 5, kMaxFrame + 1, 0xffffffffu}) {
    INFO(len);
    FrameReader r;
    const auto good = encode(Message{1, SessionDestroy{1}});
    r.feed(good.data(), good.size());
    const uint8_t bad[4] = {uint8_t(len >> 24), uint8_t(len >> 16), uint8_t(len >> 8), uint8_t(len)};
    r.feed(bad, 4);
    r.feed(good.data(), good.size());
    CHECK(r.next(out, why) == FrameReader::Next::frame);
    CHECK(r.next(out, why) == FrameReader::Next::error);
    CHECK_THAT(why, Catch::Contains("length prefix " + std::to_string(len)));
    CHECK(r.failed());
    why.clear();
    r.feed(good.data(), good.size());
    CHECK(r.next(out, why) == FrameReader::Next::error);
    CHECK(!why.empty());
    CHECK(r.buffered() == 0);
  }
  SECTION("the smallest and largest legal prefixes pass") {
    FrameReader r;
    const uint8_t hdr[kHeaderSize] = {0, 0, 0, uint8_t(kHeaderSize - 4), 1, 12};
    r.feed(hdr, sizeof hdr);
    CHECK(r.next(out, why) == FrameReader::Next::frame);
    CHECK(out.size() == kHeaderSize);
    const uint8_t big[4] = {uint8_t(kMaxFrame >> 24), uint8_t(kMaxFrame >> 16), 0, 0};
    r.feed(big, 4);
    CHECK(r.next(out, why) == FrameReader::Next::need_more);
  }
}

TEST_CASE("decoding prefixes and random mutations never crashes", "[proxy][codec][robustness]") {
  const auto s = samples();
  std::vector<std::vector<uint8_t>> frames;
  for (const auto& m : s) frames.push_back(encode(m));

  // Every prefix of every frame, as is (the length prefix then disagrees) and relabelled.
  for (const auto& f : frames) {
    for (size_t n = 0; n <= f.size(); ++n) {
      Message m;
      std::string why;
      const auto e = decode(f.data(), n, m, why);
      CHECK((n == f.size()) == (e == DecodeError::none));
      if (n >= 4) {
        const auto e2 = decode_err(cut(f, n), why);
        CHECK((n == f.size()) == (e2 == DecodeError::none));
      }
    }
  }

  std::mt19937 rng(20240611);
  size_t accepted = 0;
  for (int i = 0; i < 5000; ++i) {
    auto f = frames[rng() % frames.size()];
    const int edits = 1 + int(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      switch (rng() % 5) {
        case 0: f[rng() % f.size()] ^= uint8_t(1u << (rng() % 8)); break;
        case 1: f[rng() % f.size()] = uint8_t(rng()); break;
        case 2: f.insert(f.begin() + std::ptrdiff_t(rng() % (f.size() + 1)), uint8_t(rng())); break;
        case 3:
          if (f.size() > 1) f.erase(f.begin() + std::ptrdiff_t(rng() % f.size()));
          break;
        case 4:  // keep the length prefix consistent so the body parser is reached
          if (f.size() >= 4) put32(f, 0, uint32_t(f.size() - 4));
          break;
      }
    }
    Message m;
    std::string why;
    const auto e = decode(f.data(), f.size(), m, why);
    if (e == DecodeError::none) {
      ++accepted;
      CHECK(encode(m) == f);  // the decoder accepts only canonical frames
    } else {
      CHECK(!why.empty());
    }
    FrameReader r;
    r.feed(f.data(), f.size());
    std::vector<uint8_t> out;
    while (r.next(out, why) == FrameReader::Next::frame) (void)decode(out.data(), out.size(), m, why);
  }
  CHECK(accepted > 0);
}
