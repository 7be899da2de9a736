// Frames in two parts (proxy/codec.h encode_parts / decode(Frame&&)), the FrameAssembler that
// reads SCSI data straight into its own buffer (proxy/frame_reader.h), and the bounded buffer
// pool they draw from (common/buffer_pool.h).
#include <catch2/catch.hpp>

#include <cstring>
#include <random>

#include "common/buffer_pool.h"
#include "common/byte_order.h"
#include "proxy/codec.h"

using namespace stmf::proxy;
using stmf::BufferPool;
using stmf::put_be32;

namespace {

std::vector<uint8_t> bytes(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t(seed + i * 13 + (i >> 8));
  return v;
}

Message scsi_data(uint64_t task, size_t n) { return Message{0, ScsiData{task, 0x4242, 0, bytes(n, uint8_t(task))}}; }
Message scsi_cmd(uint64_t id, size_t n) {
  ScsiCmd c;
  c.session_id = 0x4242;
  c.tag = uint32_t(id);
  c.direction = 2;
  c.expected_transfer_length = uint32_t(n);
  c.cdb = {0x2a, 0, 0, 0, 0, 0, 0, 0, 8, 0};
  c.immediate_data = bytes(n, uint8_t(id));
  return Message{id, std::move(c)};
}
Message status_msg(uint64_t id) { return Message{id, Status{uint8_t(MsgType::scsi_cmd), id, 0}}; }
Message big_register(uint64_t id, size_t n) { return Message{id, RegisterLun{{}, "sbd", std::string(n, 'p')}}; }

std::vector<uint8_t> joined(const Frame& f) {
  std::vector<uint8_t> v = f.head;
  v.insert(v.end(), f.bulk.begin(), f.bulk.end());
  return v;
}

// Feeds `stream` to `a` in reads of at most `chunk` bytes, collecting every frame.
std::vector<Frame> run(FrameAssembler& a, const std::vector<uint8_t>& stream, size_t chunk) {
  std::vector<Frame> got;
  size_t off = 0;
  for (;;) {
    Frame f;
    std::string why;
    auto r = a.next(f, why);
    INFO(why);
    REQUIRE(r != FrameAssembler::Next::error);
    if (r == FrameAssembler::Next::frame) {
      got.push_back(std::move(f));
      continue;
    }
    if (off == stream.size()) break;
    auto sp = a.space();
    REQUIRE(!sp.empty());
    const size_t n = std::min({sp.size(), chunk, stream.size() - off});
    std::memcpy(sp.data(), stream.data() + off, n);
    a.commit(n);
    off += n;
  }
  return got;
}

}  // namespace

TEST_CASE("encode_parts leaves SCSI data in its own buffer and decodes back without a copy", "[proxy][codec][parts]") {
  for (auto m : {scsi_data(7, 128 * 1024), scsi_cmd(9, 4096), status_msg(3), scsi_data(8, 0)}) {
    const auto whole = encode(m);
    const size_t data = m.type() == MsgType::scsi_data ? std::get<ScsiData>(m.body).data.size()
                        : m.type() == MsgType::scsi_cmd ? std::get<ScsiCmd>(m.body).immediate_data.size()
                                                         : 0;
    Message copy = m;
    Frame f = encode_parts(std::move(copy));
    CHECK(joined(f) == whole);
    CHECK(f.bulk.size() == data);
    const uint8_t* where = f.bulk.data();
    Message back;
    std::string why;
    REQUIRE(decode(std::move(f), back, why) == DecodeError::none);
    CHECK(encode(back) == whole);
    if (data > 0 && m.type() == MsgType::scsi_data) CHECK(std::get<ScsiData>(back.body).data.data() == where);
    if (data > 0 && m.type() == MsgType::scsi_cmd) CHECK(std::get<ScsiCmd>(back.body).immediate_data.data() == where);
  }
}

TEST_CASE("a frame in two parts whose bulk is not its bulk field's bytes is refused", "[proxy][codec][parts]") {
  Frame f = encode_parts(scsi_data(1, 1000));
  Message m;
  std::string why;
  SECTION("one byte more") {
    f.bulk.push_back(0);
    CHECK(decode(std::move(f), m, why) != DecodeError::none);
  }
  SECTION("one byte less") {
    f.bulk.pop_back();
    CHECK(decode(std::move(f), m, why) != DecodeError::none);
  }
  SECTION("a bulk part on a message without a bulk field") {
    Frame g = encode_parts(status_msg(2));
    g.bulk = {1, 2, 3};
    CHECK(decode(std::move(g), m, why) != DecodeError::none);
  }
  SECTION("the split one byte early") {
    f.bulk.insert(f.bulk.begin(), f.head.back());
    f.head.pop_back();
    CHECK(decode(std::move(f), m, why) != DecodeError::none);
  }
}

TEST_CASE("locate_bulk finds SCSI data and nothing else", "[proxy][codec][parts]") {
  const auto d = encode(scsi_data(1, 5000));
  const auto at_d = locate_bulk(d.data(), d.size());
  auto at = at_d;
  CHECK(at.kind == BulkAt::Kind::at);
  CHECK(at.length == 5000);
  CHECK(at.offset + at.length == d.size());
  CHECK(locate_bulk(d.data(), 20).kind == BulkAt::Kind::need);
  const auto c = encode(scsi_cmd(2, 300));
  at = locate_bulk(c.data(), 120);
  CHECK(at.kind == BulkAt::Kind::at);
  CHECK(at.offset + at.length == c.size());
  const auto s = encode(status_msg(3));
  CHECK(locate_bulk(s.data(), s.size()).kind == BulkAt::Kind::none);
  // A declared data length that does not end the frame: read whole, refused by decode().
  auto bad = d;
  bad[at_d.offset - 1] ^= 1;
  CHECK(locate_bulk(bad.data(), bad.size()).kind == BulkAt::Kind::none);
}

TEST_CASE("FrameAssembler delivers every frame whatever the read sizes, SCSI data split off", "[proxy][codec][assembler]") {
  std::vector<Message> sent = {status_msg(1),       scsi_data(2, 128 * 1024), scsi_cmd(3, 4096), status_msg(4),
                               scsi_data(5, 1u << 20), big_register(6, 200 * 1024), scsi_cmd(7, 64 * 1024),
                               scsi_data(8, 17),    status_msg(9)};
  std::vector<uint8_t> stream;
  for (auto& m : sent) encode(m, stream);
  for (size_t chunk : {size_t(1) << 30, size_t(256 * 1024), size_t(65536), size_t(4093), size_t(7)}) {
    INFO("reads of at most " << chunk);
    FrameAssembler a;
    auto got = run(a, stream, chunk);
    REQUIRE(got.size() == sent.size());
    for (size_t i = 0; i < sent.size(); ++i) {
      CHECK(joined(got[i]) == encode(sent[i]));
      const bool has_bulk = sent[i].type() == MsgType::scsi_data || sent[i].type() == MsgType::scsi_cmd;
      CHECK(got[i].bulk.empty() == !has_bulk);
      Message m;
      std::string why;
      CHECK(decode(std::move(got[i]), m, why) == DecodeError::none);
    }
    CHECK(a.held() <= FrameAssembler::kStaging);
  }
}

TEST_CASE("FrameAssembler refuses an impossible length before allocating anything for it", "[proxy][codec][assembler]") {
  FrameAssembler a;
  std::vector<uint8_t> head = {0, 0, 0, 0};
  put_be32(head.data(), kMaxFrame + 1);
  auto sp = a.space();
  std::memcpy(sp.data(), head.data(), 4);
  a.commit(4);
  Frame f;
  std::string why;
  CHECK(a.next(f, why) == FrameAssembler::Next::error);
  CHECK(why.find("length prefix") != std::string::npos);
  CHECK(a.held() == 0);
  CHECK(a.space().empty());
  CHECK(a.next(f, why) == FrameAssembler::Next::error);  // for good
}

TEST_CASE("FrameAssembler grows a huge declared frame only with the bytes that came", "[proxy][codec][assembler]") {
  for (auto m : {scsi_data(1, 4096), big_register(2, 4096)}) {
    auto frame = encode(m);
    // Declare 60 MiB (below kMaxFrame) but send only the first bytes.
    const uint32_t body = 60u << 20;
    put_be32(frame.data(), body);
    if (m.type() == MsgType::scsi_data) put_be32(frame.data() + frame.size() - 4096 - 4, body + 4 - uint32_t(frame.size() - 4096));
    FrameAssembler a;
    auto sp = a.space();
    std::memcpy(sp.data(), frame.data(), frame.size());
    a.commit(frame.size());
    Frame f;
    std::string why;
    CHECK(a.next(f, why) == FrameAssembler::Next::need_more);
    CHECK(a.held() <= FrameAssembler::kStaging + FrameAssembler::kGrowStep + 8192);
    CHECK(a.space().size() <= FrameAssembler::kGrowStep);
  }
}

TEST_CASE("the buffer pool is bounded, reuses buffers and serves a burst larger than itself", "[proxy][pool]") {
  BufferPool pool;
  std::vector<std::vector<uint8_t>> out;
  const size_t burst = BufferPool::kMaxBuffers * 2;
  for (size_t i = 0; i < burst; ++i) {
    out.push_back(pool.get(128 * 1024));
    REQUIRE(out.back().size() == 128 * 1024);
  }
  for (auto& b : out) pool.put(std::move(b));
  CHECK(pool.pooled() <= BufferPool::kMaxBuffers);
  CHECK(pool.pooled_bytes() <= BufferPool::kMaxBytes);
  CHECK(pool.pooled() > 0);
  // Taken again: reused (same memory), as many as the pool holds.
  const size_t held = pool.pooled();
  out.clear();
  for (size_t i = 0; i < burst; ++i) out.push_back(pool.get(100 * 1024));
  CHECK(pool.reused() == held);
  CHECK(pool.pooled() == 0);
  // Outside the pooled sizes: never kept.
  pool.put(std::vector<uint8_t>(4096));
  pool.put(std::vector<uint8_t>(BufferPool::kMaxCapacity + 1));
  CHECK(pool.pooled() == 0);
  // A byte bound below the count bound: 1 MiB buffers stop at kMaxBytes.
  for (size_t i = 0; i < BufferPool::kMaxBuffers; ++i) pool.put(std::vector<uint8_t>(1u << 20));
  CHECK(pool.pooled_bytes() <= BufferPool::kMaxBytes);
}
