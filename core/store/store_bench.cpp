// store_bench: io_uring vs thread pool for 4 KiB random reads and writes on a page-cached file.
// Not a test. Usage: store_bench [seconds-per-run=2] [depth=32] [submitting-threads=2] [dir=/tmp]
// Each submitting thread keeps depth/threads requests in flight (a semaphore per thread; the
// completion releases a slot). Prints IOPS per engine and operation.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include "core/store/file_store.h"

using namespace stmf::store;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t kFileSize = 256ull << 20;
constexpr size_t kBlock = 4096;

double run(BackingStore& s, bool write, double seconds, unsigned depth, unsigned threads) {
  std::atomic<uint64_t> done{0}, errors{0};
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  auto start = Clock::now();
  std::vector<std::thread> ts;
  for (unsigned t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      const unsigned slots = std::max(1u, depth / threads);
      std::counting_semaphore<1024> free_slots(slots);
      // One buffer per thread: contents do not matter here, only the I/O.
      std::vector<uint8_t> buf(kBlock, uint8_t(t));
      std::mt19937_64 rng(t + 1);
      std::uniform_int_distribution<uint64_t> pick(0, kFileSize / kBlock - 1);
      auto cb = [&](std::error_code ec) {
        if (ec) ++errors;
        ++done;
        free_slots.release();
      };
      while (Clock::now() < deadline) {
        free_slots.acquire();
        uint64_t off = pick(rng) * kBlock;
        if (write)
          s.write(off, buf, false, cb);
        else
          s.read(off, buf, cb);
      }
      for (unsigned i = 0; i < slots; ++i) free_slots.acquire();  // drain
    });
  }
  for (auto& t : ts) t.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  if (errors) std::fprintf(stderr, "  %llu errors\n", (unsigned long long)errors.load());
  return double(done.load()) / elapsed;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
  unsigned depth = argc > 2 ? unsigned(std::atoi(argv[2])) : 32;
  unsigned threads = argc > 3 ? unsigned(std::atoi(argv[3])) : 2;
  std::string dir = argc > 4 ? argv[4] : "/tmp";

  std::string path = dir + "/store-bench-XXXXXX";
  int fd = ::mkstemp(path.data());
  if (fd < 0) {
    std::perror("mkstemp");
    return 1;
  }
  // Fill the file so every block is allocated and in the page cache.
  std::vector<uint8_t> chunk(1 << 20, 0x5a);
  for (uint64_t off = 0; off < kFileSize; off += chunk.size())
    if (::pwrite(fd, chunk.data(), chunk.size(), off_t(off)) != ssize_t(chunk.size())) {
      std::perror("pwrite");
      ::unlink(path.c_str());
      return 1;
    }
  ::fsync(fd);
  ::close(fd);

  std::printf("4 KiB random I/O, %u in flight from %u threads, %.1f s per run, %llu MiB page-cached file\n", depth,
              threads, seconds, (unsigned long long)(kFileSize >> 20));
  std::printf("%-12s %12s %12s\n", "engine", "read IOPS", "write IOPS");
  int rc = 0;
  for (IoEngine e : {IoEngine::io_uring, IoEngine::thread_pool}) {
    StoreOptions o;
    o.path = path;
    o.queue_depth = depth;
    o.engine = e;
    std::error_code ec;
    std::string why;
    auto s = FileStore::open(o, ec, why);
    if (!s) {
      std::printf("%-12s unavailable: %s\n", e == IoEngine::io_uring ? "io_uring" : "thread_pool", why.c_str());
      rc = 1;
      continue;
    }
    double r = run(*s, false, seconds, depth, threads);
    double w = run(*s, true, seconds, depth, threads);
    std::printf("%-12s %12.0f %12.0f\n", s->engine_name(), r, w);
  }
  ::unlink(path.c_str());
  return rc;
}
