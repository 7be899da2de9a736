// File store under faults (StoreOptions::faults, store_faults.h): an io_uring_submit the kernel
// keeps refusing, flush and read errors as the kernel reports them; and what an acknowledged
// write survives (a killed process).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>

#include "core/store/file_store.h"
#include "core/store/store_faults.h"
#include "core/store/store_test_util.h"

using namespace stmf::store;
using namespace stmf::store::test;

namespace {

constexpr uint64_t MiB = 1 << 20;

std::unique_ptr<BackingStore> open_faulty(const std::string& path, uint64_t size, IoEngine engine, unsigned depth,
                                          std::shared_ptr<StoreFaults> faults, bool inline_page_cache = false) {
  StoreOptions o;
  o.path = path;
  o.size = size;
  o.engine = engine;
  o.queue_depth = depth;
  o.inline_page_cache = inline_page_cache;
  o.faults = std::move(faults);
  std::error_code ec;
  std::string why;
  auto s = make_file_store(o, ec, why);
  INFO(why);
  REQUIRE(s);
  return s;
}

const char* engine_label(IoEngine e) { return e == IoEngine::io_uring ? "io_uring" : "thread_pool"; }

}  // namespace

TEST_CASE("file store: an io_uring_submit that keeps failing completes each request with its error",
          "[store][file][faults]") {
  TempPath p;
  auto faults = std::make_shared<StoreFaults>();
  // Queue depth 4: the ring has 4 SQ entries, so the requests below also fill the SQ with
  // SQEs the kernel never took (getting an SQE must then fail, not spin).
  auto s = open_faulty(p.path, 4 * MiB, IoEngine::io_uring, 4, faults);
  REQUIRE(std::string(dynamic_cast<FileStore&>(*s).engine_name()) == "io_uring");
  std::vector<uint8_t> data(4096), back(4096);
  fill_pattern(data, 1, 1);
  REQUIRE(!sync_write(*s, 0, data));

  faults->uring_submit = ENOMEM;
  // Each kind of request, and more of them than the SQ holds.
  for (int round = 0; round < 3; ++round) {
    for (int kind = 0; kind < 4; ++kind) {
      Waiter w;
      switch (kind) {
        case 0: s->read(0, back, w.cb()); break;
        case 1: s->write(8192, data, /*fua=*/true, w.cb()); break;
        case 2: s->flush(w.cb()); break;
        case 3: s->unmap(65536, 4096, w.cb()); break;
      }
      auto ec = w.try_wait();
      if (!ec) {
        // The request hangs in the ring: let the kernel take it, so the store can be destroyed.
        faults->uring_submit = 0;
        (void)sync_flush(*s);
        FAIL("round " << round << ", request kind " << kind << ": no completion while io_uring_submit fails");
      }
      CHECK(*ec == std::errc::not_enough_memory);
    }
  }
  // The kernel takes SQEs again: the left-behind ones complete to nothing, new requests work.
  faults->uring_submit = 0;
  REQUIRE(!sync_read(*s, 0, back));
  CHECK(back == data);
  REQUIRE(!sync_flush(*s));
  auto st = dynamic_cast<FileStore&>(*s).stats();
  CHECK(st.completed == st.submitted);
  // Destruction while submits fail: the stop marker cannot be submitted either, the
  // completion thread still stops.
  faults->uring_submit = EBADF;
  s.reset();
}

TEST_CASE("file store: injected flush and read faults", "[store][file][faults]") {
  auto engine = GENERATE(IoEngine::io_uring, IoEngine::thread_pool);
  SECTION(engine_label(engine)) {
    TempPath p;
    auto faults = std::make_shared<StoreFaults>();
    auto s = open_faulty(p.path, 4 * MiB, engine, 8, faults, /*inline_page_cache=*/true);
    std::vector<uint8_t> data(4096, 0x5a), back(4096);
    REQUIRE(!sync_write(*s, 0, data));
    // A failed writeback: reported by one flush, then forgotten, as Linux does.
    faults->flush_once = EIO;
    CHECK(sync_flush(*s) == std::errc::io_error);
    CHECK(!sync_flush(*s));
    // Reads fail while the read fault is set, on the page-cache path too.
    faults->read = EIO;
    CHECK(sync_read(*s, 0, back) == std::errc::io_error);
    faults->read = 0;
    REQUIRE(!sync_read(*s, 0, back));
    CHECK(back == data);
  }
}

// What "acknowledged" means for a write without FUA (WCE=1): the data is in the kernel (page
// cache or file) when the completion runs, so it survives the daemon being killed; only a host
// crash before writeback can lose it (docs/failover.md "What survives what").
TEST_CASE("file store: writes acknowledged without FUA survive the process being killed", "[store][file][durability]") {
  auto engine = GENERATE(IoEngine::io_uring, IoEngine::thread_pool);
  auto inline_cache = GENERATE(true, false);
  SECTION(std::string(engine_label(engine)) + (inline_cache ? ", page-cache fast path" : ", engine path")) {
    TempPath p;
    constexpr uint64_t kBlocks = 64;
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // Child: write every block without FUA, then die without any cleanup once all are done.
      StoreOptions o;
      o.path = p.path;
      o.size = 4 * MiB;
      o.engine = engine;
      o.inline_page_cache = inline_cache;
      std::error_code ec;
      std::string why;
      auto s = make_file_store(o, ec, why);
      if (!s) ::_exit(2);
      std::vector<std::vector<uint8_t>> bufs(kBlocks, std::vector<uint8_t>(4096));
      Latch l;
      for (uint64_t b = 0; b < kBlocks; ++b) {
        fill_pattern(bufs[b], b, 42);
        s->write(b * 4096, bufs[b], false, l.cb());
      }
      if (!l.wait() || l.first_error()) ::_exit(3);
      ::kill(::getpid(), SIGKILL);
      ::_exit(4);  // not reached
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    INFO("child status " << status);
    REQUIRE(WIFSIGNALED(status));
    REQUIRE(WTERMSIG(status) == SIGKILL);
    int fd = ::open(p.path.c_str(), O_RDONLY);
    REQUIRE(fd >= 0);
    std::vector<uint8_t> got(4096), want(4096);
    int bad = 0;
    for (uint64_t b = 0; b < kBlocks; ++b) {
      fill_pattern(want, b, 42);
      if (::pread(fd, got.data(), got.size(), off_t(b * 4096)) != ssize_t(got.size()) || got != want) ++bad;
    }
    ::close(fd);
    CHECK(bad == 0);
  }
}

namespace {

// A file store with the page-cache fast path and injectable stalls (the guard's tests): writes
// and reads 4 KiB blocks of a pattern; submitted() counts what went through io_uring.
struct GuardedStore {
  TempPath p;
  std::shared_ptr<StoreFaults> faults = std::make_shared<StoreFaults>();
  std::unique_ptr<BackingStore> s =
      open_faulty(p.path, 4 * MiB, IoEngine::io_uring, 8, faults, /*inline_page_cache=*/true);
  std::vector<uint8_t> data = std::vector<uint8_t>(4096);

  uint64_t submitted() const { return dynamic_cast<FileStore&>(*s).stats().submitted; }
  void write_blocks(int first, int n, uint64_t seed) {
    for (int i = first; i < first + n; ++i) {
      fill_pattern(data, uint64_t(i), seed);
      REQUIRE(!sync_write(*s, uint64_t(i) * 4096, data));
    }
  }
  void check_blocks(int n, uint64_t seed) {
    std::vector<uint8_t> back(4096);
    for (int i = 0; i < n; ++i) {
      fill_pattern(data, uint64_t(i), seed);
      REQUIRE(!sync_read(*s, uint64_t(i) * 4096, back));
      CHECK(back == data);
    }
  }
};

}  // namespace

// The page-cache fast path's guard: an inline write that blocks (sleeps in the kernel, as in
// dirty-page throttling) for more than 2 ms sends writes through the engine for a second; one
// that took as long without sleeping (its thread preempted on a busy machine) changes nothing;
// one held beyond 50 ms pauses it whatever the cause. Before the guard told blocking from
// preemption, every slow write paused the fast path.
TEST_CASE("file store: a slow inline write pauses the fast path only when it blocked", "[store][file][faults]") {
  constexpr int kStallUs = 3000;  // beyond the guard's 2 ms
  constexpr int kWrites = 24;
  GuardedStore g;
  g.faults->inline_write_stall_us = kStallUs;
  g.faults->inline_write_stall_spins = true;
  g.write_blocks(0, kWrites, 7);
  CHECK(g.submitted() == 0);  // all inline: held on the CPU is not blocked

  g.faults->inline_write_stall_spins = false;
  g.write_blocks(0, kWrites, 8);
  CHECK(g.submitted() > 0);  // blocked: the rest went through io_uring
  g.faults->inline_write_stall_us = 0;
  g.check_blocks(kWrites, 8);
}

TEST_CASE("file store: an inline write held beyond 50 ms pauses the fast path at once", "[store][file][faults]") {
  constexpr int kHeldUs = 60'000;
  GuardedStore g;
  g.faults->inline_write_stall_us = kHeldUs;
  g.faults->inline_write_stall_spins = true;  // held on the CPU: no voluntary context switch
  g.write_blocks(0, 1, 9);
  g.faults->inline_write_stall_us = 0;
  CHECK(g.submitted() == 0);
  g.write_blocks(1, 1, 9);
  CHECK(g.submitted() == 1);  // the next write went through io_uring
  g.check_blocks(2, 9);
}
