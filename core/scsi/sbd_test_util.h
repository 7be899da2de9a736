// Test fixtures for the block LU: a RAM store whose completions a test can hold and release,
// a fake local port and I_T nexuses, CDB builders and sense decoding.
#pragma once
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "core/it_nexus.h"
#include "core/local_port.h"
#include "core/scsi/cdb.h"
#include "core/scsi/sbd_lu.h"

namespace stmf::sbd::test {

// RAM store with 512-byte provisioning granularity. With `hold` set, every operation is
// queued and completes (data copied, callback run) only when the test calls run_one/run_all.
class FakeStore : public store::BackingStore {
 public:
  FakeStore(uint64_t size, bool thin) : data_(size, 0), mapped_(size / 512, !thin), thin_(thin) {}

  uint64_t size() const override { return data_.size(); }
  bool thin() const override { return thin_; }
  std::string describe() const override { return "fake"; }
  bool ready() const override { return ready_now; }

  void read(uint64_t off, std::span<uint8_t> buf, store::Completion done) override {
    ++reads;
    submit([this, off, buf, done] {
      if (read_error) return done(read_error);
      std::memcpy(buf.data(), data_.data() + off, buf.size());
      done({});
    });
  }
  void write(uint64_t off, std::span<const uint8_t> buf, bool fua, store::Completion done) override {
    ++writes;
    last_fua = fua;
    submit([this, off, buf, done] {
      if (write_error) return done(write_error);
      std::memcpy(data_.data() + off, buf.data(), buf.size());
      for (uint64_t u = off / 512; u < (off + buf.size() + 511) / 512; ++u) mapped_[u] = true;
      done({});
    });
  }
  void flush(store::Completion done) override {
    ++flushes;
    submit([this, done] {
      if (flush_error_once) return done(std::exchange(flush_error_once, {}));
      done(write_error);
    });
  }
  void unmap(uint64_t off, uint64_t len, store::Completion done) override {
    ++unmaps;
    submit([this, off, len, done] {
      std::memset(data_.data() + off, 0, len);
      for (uint64_t u = off / 512; u < (off + len) / 512; ++u) mapped_[u] = !thin_;
      done({});
    });
  }
  std::error_code extent(uint64_t off, uint64_t max, store::Extent& out) override {
    uint64_t u = off / 512;
    out.mapped = mapped_[u];
    uint64_t len = 0;
    while (u < mapped_.size() && mapped_[u] == out.mapped && len < max) {
      len += 512;
      ++u;
    }
    out.length = std::min(len, max);
    return {};
  }

  bool run_one() {
    if (pending_.empty()) return false;
    auto f = std::move(pending_.front());
    pending_.pop_front();
    f();
    return true;
  }
  void run_all() {
    while (run_one()) {
    }
  }
  size_t pending() const { return pending_.size(); }

  std::vector<uint8_t>& bytes() { return data_; }
  bool mapped_at(uint64_t off) const { return mapped_[off / 512]; }

  bool hold = false;
  std::error_code read_error, write_error;
  // The next flush fails with this error, the ones after it succeed again (a writeback error
  // that the kernel reports once, then forgets).
  std::error_code flush_error_once;
  int reads = 0, writes = 0, flushes = 0, unmaps = 0;
  bool last_fua = false;
  bool ready_now = true;  // BackingStore::ready() (the iscsi store's backend connection)

 private:
  void submit(std::function<void()> f) {
    if (hold)
      pending_.push_back(std::move(f));
    else
      f();
  }
  std::vector<uint8_t> data_;
  std::vector<bool> mapped_;
  bool thin_;
  std::deque<std::function<void()>> pending_;
};

class FakePort : public LocalPort {
 public:
  const std::string& port_name() const override { return port_name_; }
  const std::string& target_name() const override { return target_name_; }
  uint16_t rtpi() const override { return 3; }
  uint16_t tpg() const override { return 0x101; }
  void task_complete(TaskPtr) override {}
  void task_aborted(TaskPtr) override {}

  std::string port_name_ = "iqn.2026-01.org.example:t0,t,0x0001";
  std::string target_name_ = "iqn.2026-01.org.example:t0";
};

struct Sense {
  uint8_t key = 0xff, asc = 0xff, ascq = 0xff;
  bool descriptor = false;
  bool has_field = false;
  bool c_d = false;
  uint16_t field_byte = 0;
  int field_bit = -1;
  bool has_info = false;
  uint64_t info = 0;
};

inline Sense parse_sense(const std::vector<uint8_t>& s) {
  Sense r;
  if (s.empty()) return r;
  const uint8_t* ks = nullptr;
  if ((s[0] & 0x7f) == 0x72) {
    r.descriptor = true;
    r.key = s[1] & 0x0f;
    r.asc = s[2];
    r.ascq = s[3];
    for (size_t i = 8; i + 2 <= s.size(); i += 2 + s[i + 1]) {
      if (s[i] == 0x02) ks = &s[i + 4];
      if (s[i] == 0x00) {
        r.has_info = true;
        r.info = scsi::get_be64(&s[i + 4]);
      }
    }
  } else {
    r.key = s[2] & 0x0f;
    r.asc = s[12];
    r.ascq = s[13];
    if (s[0] & 0x80) {
      r.has_info = true;
      r.info = scsi::get_be32(&s[3]);
    }
    ks = &s[15];
  }
  if (ks && (ks[0] & 0x80)) {
    r.has_field = true;
    r.c_d = ks[0] & 0x40;
    if (ks[0] & 0x08) r.field_bit = ks[0] & 7;
    r.field_byte = uint16_t(ks[1] << 8 | ks[2]);
  }
  return r;
}

struct Lu {
  explicit Lu(uint64_t blocks = 2048, uint32_t bs = 512, bool thin = true, bool wp = false, uint32_t pbe = 0,
              bool removable = false, bool sanitize = true) {
    auto st = std::make_unique<FakeStore>(blocks * bs, thin);
    store = st.get();
    BlockLuConfig c;
    c.name = "lu0";
    c.guid = {0x60, 0x01, 0x40, 0x50, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    c.block_size = bs;
    c.physical_block_exponent = pbe;
    c.write_protect = wp;
    c.removable = removable;
    c.sanitize = sanitize;
    c.serial = "SN0001";
    lu = make_block_lu(c, std::move(st));
    REQUIRE(lu);
    nexus = std::make_shared<ItNexus>(1, port, "iqn.init:a", "400001370000");
    nexus2 = std::make_shared<ItNexus>(2, port, "iqn.init:b", "400001370001");
  }

  // Starts a command; `done` is set when the LU completes it.
  TaskPtr start(std::vector<uint8_t> cdb, std::vector<uint8_t> out = {}, bool* done = nullptr,
                std::shared_ptr<ItNexus> nx = nullptr) {
    auto t = std::make_shared<ScsiTask>();
    t->nexus = nx ? nx : nexus;
    std::copy(cdb.begin(), cdb.end(), t->cdb.begin());
    t->cdb_length = uint8_t(cdb.size());
    t->data_out = std::move(out);
    t->expected_transfer_length = uint32_t(t->data_out.size());
    REQUIRE(lu->command_info(t->cdb.data(), t->cdb_length) != nullptr);
    lu->execute(t, [done](const TaskPtr&) {
      if (done) *done = true;
    });
    return t;
  }
  // Runs a command to completion (the store completes inline unless held).
  TaskPtr run(std::vector<uint8_t> cdb, std::vector<uint8_t> out = {}, std::shared_ptr<ItNexus> nx = nullptr) {
    bool done = false;
    auto t = start(std::move(cdb), std::move(out), &done, nx);
    store->run_all();
    REQUIRE(done);
    return t;
  }

  FakeStore* store = nullptr;
  FakePort port;
  std::shared_ptr<LogicalUnit> lu;
  std::shared_ptr<ItNexus> nexus, nexus2;
};

inline bool good(const TaskPtr& t) { return t->status == scsi::Status::good; }
inline Sense sense_of(const TaskPtr& t) {
  REQUIRE(t->status == scsi::Status::check_condition);
  return parse_sense(t->sense);
}

#define CHECK_SENSE(task, k, a, q)        \
  do {                                    \
    auto s_ = sense_of(task);             \
    CHECK(int(s_.key) == (k));            \
    CHECK(int(s_.asc) == (a));            \
    CHECK(int(s_.ascq) == (q));           \
  } while (0)

#define CHECK_FIELD(task, cd, byte, bit)  \
  do {                                    \
    auto s_ = sense_of(task);             \
    CHECK(s_.has_field);                  \
    CHECK(s_.c_d == (cd));                \
    CHECK(int(s_.field_byte) == (byte));  \
    CHECK(s_.field_bit == (bit));         \
  } while (0)

// CDB builders.
inline std::vector<uint8_t> cdb10(uint8_t op, uint32_t lba, uint16_t n, uint8_t b1 = 0) {
  std::vector<uint8_t> c(10, 0);
  c[0] = op;
  c[1] = b1;
  scsi::put_be32(&c[2], lba);
  scsi::put_be16(&c[7], n);
  return c;
}
inline std::vector<uint8_t> cdb12(uint8_t op, uint32_t lba, uint32_t n, uint8_t b1 = 0) {
  std::vector<uint8_t> c(12, 0);
  c[0] = op;
  c[1] = b1;
  scsi::put_be32(&c[2], lba);
  scsi::put_be32(&c[6], n);
  return c;
}
inline std::vector<uint8_t> cdb16(uint8_t op, uint64_t lba, uint32_t n, uint8_t b1 = 0) {
  std::vector<uint8_t> c(16, 0);
  c[0] = op;
  c[1] = b1;
  scsi::put_be64(&c[2], lba);
  scsi::put_be32(&c[10], n);
  return c;
}
inline std::vector<uint8_t> caw(uint64_t lba, uint8_t n, uint8_t b1 = 0) {
  std::vector<uint8_t> c(16, 0);
  c[0] = 0x89;
  c[1] = b1;
  scsi::put_be64(&c[2], lba);
  c[13] = n;
  return c;
}
inline std::vector<uint8_t> pattern(size_t bytes, uint8_t v) { return std::vector<uint8_t>(bytes, v); }

}  // namespace stmf::sbd::test
