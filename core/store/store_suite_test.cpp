// The store suite (store_suite.h) on the file store (both engines) and the RAM store, and the
// suite itself shown to fail: each check run on a store broken in the way it looks for.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "core/store/store_faults.h"
#include "core/store/store_suite.h"

using namespace stmf::store;
using namespace stmf::store::test;
namespace suite = stmf::store::test::suite;

namespace {

// A file store on a fresh sparse file (removed with the subject's last reference).
suite::Subject file_subject(IoEngine engine, std::shared_ptr<StoreFaults> faults = nullptr) {
  auto tmp = std::make_shared<TempPath>();
  StoreOptions o;
  o.path = tmp->path;
  o.size = suite::kSuiteSize;
  o.engine = engine;
  o.faults = std::move(faults);
  std::error_code ec;
  std::string why;
  suite::Subject s;
  s.store = make_file_store(o, ec, why);
  INFO(why);
  REQUIRE(s.store);
  s.caps = {.grow = suite::Grow::resize, .tracks_allocation = true};
  s.medium = [tmp](uint64_t off, size_t n) {
    std::vector<uint8_t> v(n);
    const int fd = ::open(tmp->path.c_str(), O_RDONLY);
    const ssize_t got = fd < 0 ? -1 : ::pread(fd, v.data(), n, off_t(off));
    if (fd >= 0) ::close(fd);
    if (got != ssize_t(n)) v.clear();
    return v;
  };
  return s;
}

suite::Subject ram_subject(uint64_t size = suite::kSuiteSize) {
  suite::Subject s;
  s.store = make_ram_store(size);
  s.caps = {.grow = suite::Grow::none, .tracks_allocation = true};
  return s;
}

}  // namespace

TEST_CASE("store suite: file store (io_uring or its fallback)", "[store][store_suite]") {
  suite::run([] { return file_subject(IoEngine::automatic); });
}

TEST_CASE("store suite: file store (thread pool)", "[store][store_suite]") {
  suite::run([] { return file_subject(IoEngine::thread_pool); });
}

TEST_CASE("store suite: ram store", "[store][store_suite]") {
  suite::run([] { return ram_subject(); });
}

// ------------------------------------------------------------------ broken stores
namespace {

// Forwards everything to a RAM store; each broken store below overrides what it breaks.
class Passthrough : public BackingStore {
 public:
  explicit Passthrough(std::shared_ptr<BackingStore> inner) : inner_(std::move(inner)) {}
  uint64_t size() const override { return inner_->size(); }
  std::error_code grow(uint64_t n) override { return inner_->grow(n); }
  bool thin() const override { return inner_->thin(); }
  std::string describe() const override { return "broken " + inner_->describe(); }
  void read(uint64_t off, std::span<uint8_t> b, Completion d) override { inner_->read(off, b, std::move(d)); }
  void write(uint64_t off, std::span<const uint8_t> b, bool fua, Completion d) override {
    inner_->write(off, b, fua, std::move(d));
  }
  void flush(Completion d) override { inner_->flush(std::move(d)); }
  void unmap(uint64_t off, uint64_t len, Completion d) override { inner_->unmap(off, len, std::move(d)); }
  std::error_code extent(uint64_t off, uint64_t max, Extent& e) override { return inner_->extent(off, max, e); }

 protected:
  std::shared_ptr<BackingStore> inner_;
};

// Refuses the last block (an off-by-one range check).
struct NoLastBlock : Passthrough {
  using Passthrough::Passthrough;
  void write(uint64_t off, std::span<const uint8_t> b, bool fua, Completion d) override {
    if (off + b.size() >= size()) return d(std::make_error_code(std::errc::invalid_argument));
    Passthrough::write(off, b, fua, std::move(d));
  }
};

// Accepts what lies beyond the end and does nothing with it.
struct NoRangeCheck : Passthrough {
  using Passthrough::Passthrough;
  void write(uint64_t off, std::span<const uint8_t> b, bool fua, Completion d) override {
    if (off >= size()) return d({});
    Passthrough::write(off, b, fua, std::move(d));
  }
};

// unmap() says done and deallocates nothing.
struct UnmapNothing : Passthrough {
  using Passthrough::Passthrough;
  void unmap(uint64_t, uint64_t, Completion d) override { d({}); }
};

// A write-back cache that ignores FUA: writes reach the medium (the inner store) only on flush.
struct IgnoresFua : Passthrough {
  using Passthrough::Passthrough;
  void write(uint64_t off, std::span<const uint8_t> b, bool, Completion d) override {
    std::lock_guard lk(mu_);
    dirty_[off] = std::vector<uint8_t>(b.begin(), b.end());
    d({});
  }
  void read(uint64_t off, std::span<uint8_t> b, Completion d) override {
    Passthrough::read(off, b, [this, off, b, d = std::move(d)](std::error_code ec) {
      std::lock_guard lk(mu_);
      for (auto& [o, v] : dirty_)
        for (size_t i = 0; i < v.size(); ++i)
          if (o + i >= off && o + i < off + b.size()) b[o + i - off] = v[i];
      d(ec);
    });
  }
  void flush(Completion d) override {
    std::map<uint64_t, std::vector<uint8_t>> out;
    {
      std::lock_guard lk(mu_);
      out.swap(dirty_);
    }
    for (auto& [o, v] : out) sync_write(*inner_, o, v);
    d({});
  }
  std::mutex mu_;
  std::map<uint64_t, std::vector<uint8_t>> dirty_;
};

// Runs a flush's completion twice.
struct FlushTwice : Passthrough {
  using Passthrough::Passthrough;
  void flush(Completion d) override {
    d({});
    d({});
  }
};

// Completes on a thread of its own; closing drops what is still queued.
struct DropsOnClose : Passthrough {
  explicit DropsOnClose(std::shared_ptr<BackingStore> inner) : Passthrough(std::move(inner)), worker_([this] { loop(); }) {}
  ~DropsOnClose() override {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
      queue_.clear();  // the bug: queued completions never run
    }
    cv_.notify_all();
    worker_.join();
  }
  void read(uint64_t off, std::span<uint8_t> b, Completion d) override {
    push([this, off, b, d = std::move(d)]() mutable { Passthrough::read(off, b, std::move(d)); });
  }
  void write(uint64_t off, std::span<const uint8_t> b, bool fua, Completion d) override {
    push([this, off, b, fua, d = std::move(d)]() mutable { Passthrough::write(off, b, fua, std::move(d)); });
  }
  void push(std::function<void()> f) {
    std::lock_guard lk(mu_);
    queue_.push_back(std::move(f));
    cv_.notify_all();
  }
  void loop() {
    std::unique_lock lk(mu_);
    for (;;) {
      cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      auto f = std::move(queue_.front());
      queue_.pop_front();
      lk.unlock();
      std::this_thread::sleep_for(std::chrono::microseconds(200));  // a slow medium
      f();
      lk.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  std::thread worker_;
};

// Says it grew and serves the old size.
struct GrowsNothing : Passthrough {
  using Passthrough::Passthrough;
  std::error_code grow(uint64_t) override { return {}; }
};

template <class Broken>
suite::Subject broken(suite::Subject base) {
  suite::Subject s = std::move(base);
  s.store = std::make_unique<Broken>(std::shared_ptr<BackingStore>(std::move(s.store)));
  s.timeout = std::chrono::seconds(2);
  return s;
}

// The check named `name` on subject s: its problem (empty = it passed).
std::string run_check(const std::string& name, suite::Subject s) {
  for (const auto& c : suite::checks())
    if (name == c.name) return c.run(s);
  FAIL("no check named " << name);
  return "";
}

}  // namespace

TEST_CASE("store suite: every check fails on a store broken in the way it looks for", "[store][store_suite]") {
  struct Case {
    const char* check;
    const char* broken;
    std::function<suite::Subject()> make;
  };
  const Case cases[] = {
      {"capacity", "a store one block short", [] { return ram_subject(suite::kSuiteSize - suite::kBlock); }},
      {"round trip at the boundaries", "the last block refused", [] { return broken<NoLastBlock>(ram_subject()); }},
      {"round trip at the boundaries", "file store, every read fails (StoreFaults::read = EIO)",
       [] {
         auto f = std::make_shared<StoreFaults>();
         f->read = EIO;
         return file_subject(IoEngine::automatic, f);
       }},
      {"out of range refused", "beyond the end accepted", [] { return broken<NoRangeCheck>(ram_subject()); }},
      {"FUA and flush", "FUA ignored (write-back)",
       [] {
         auto inner = std::shared_ptr<BackingStore>(make_ram_store(suite::kSuiteSize));
         suite::Subject s;
         s.store = std::make_unique<IgnoresFua>(inner);
         s.medium = [inner](uint64_t off, size_t n) {
           std::vector<uint8_t> v(n);
           sync_read(*inner, off, v);
           return v;
         };
         return s;
       }},
      {"FUA and flush", "a completion run twice", [] { return broken<FlushTwice>(ram_subject()); }},
      {"unmap reads back zeroes", "unmap does nothing", [] { return broken<UnmapNothing>(ram_subject()); }},
      {"unmap reads back zeroes", "claims allocation tracking it lacks",
       [] {
         auto s = ram_subject();
         s.caps.tracks_allocation = false;
         return s;
       }},
      {"grow", "grow() that does not grow", [] { return broken<GrowsNothing>(file_subject(IoEngine::automatic)); }},
      {"grow", "claims it cannot grow and does", [] {
         auto s = file_subject(IoEngine::automatic);
         s.caps.grow = suite::Grow::none;
         return s;
       }},
      {"operations in flight bounded", "claims a bound it does not keep",
       [] {
         auto s = ram_subject();
         s.caps.refuse_beyond = 4;
         s.hold = s.release = [] {};
         return s;
       }},
      {"close with I/O in flight", "completions dropped when closed", [] { return broken<DropsOnClose>(ram_subject()); }},
  };
  for (const auto& c : cases) {
    const std::string problem = run_check(c.check, c.make());
    INFO(c.check << " on " << c.broken);
    CHECK(problem != "");
    if (!problem.empty()) WARN(c.check << " on " << c.broken << ": " << problem);
  }
}
