// Helpers for the store unit tests: synchronous wrappers with a timeout (a lost completion
// fails the test instead of hanging it), temp files, per-block patterns, a completion latch.
#pragma once
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <future>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <system_error>
#include <vector>

#include "core/store/backing_store.h"

namespace stmf::store::test {

constexpr auto kTimeout = std::chrono::seconds(20);

// Waits for one completion. Throws (failing the test) if it never comes.
class Waiter {
 public:
  Completion cb() {
    return [p = promise_](std::error_code ec) { p->set_value(ec); };
  }
  std::error_code wait() {
    auto f = promise_->get_future();
    if (f.wait_for(kTimeout) != std::future_status::ready) throw std::runtime_error("completion never ran");
    return f.get();
  }
  // The completion's error, or nullopt when it has not run within the timeout (for tests that
  // must recover from a lost completion instead of failing on it at once).
  std::optional<std::error_code> try_wait() {
    auto f = promise_->get_future();
    if (f.wait_for(kTimeout) != std::future_status::ready) return std::nullopt;
    return f.get();
  }

 private:
  std::shared_ptr<std::promise<std::error_code>> promise_ = std::make_shared<std::promise<std::error_code>>();
};

inline std::error_code sync_read(BackingStore& s, uint64_t off, std::span<uint8_t> buf) {
  Waiter w;
  s.read(off, buf, w.cb());
  return w.wait();
}
inline std::error_code sync_write(BackingStore& s, uint64_t off, std::span<const uint8_t> buf, bool fua = false) {
  Waiter w;
  s.write(off, buf, fua, w.cb());
  return w.wait();
}
inline std::error_code sync_flush(BackingStore& s) {
  Waiter w;
  s.flush(w.cb());
  return w.wait();
}
inline std::error_code sync_unmap(BackingStore& s, uint64_t off, uint64_t len) {
  Waiter w;
  s.unmap(off, len, w.cb());
  return w.wait();
}

// Counts completions of many asynchronous requests and records the first error.
class Latch {
 public:
  Completion cb() {
    {
      std::lock_guard lk(mu_);
      ++expected_;
    }
    return [this](std::error_code ec) {
      std::lock_guard lk(mu_);
      ++done_;
      if (ec && !first_error_) first_error_ = ec;
      cv_.notify_all();
    };
  }
  // True when every completion ran within the timeout.
  bool wait() {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, kTimeout, [&] { return done_ == expected_; });
  }
  std::error_code first_error() {
    std::lock_guard lk(mu_);
    return first_error_;
  }
  uint64_t done() {
    std::lock_guard lk(mu_);
    return done_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t expected_ = 0, done_ = 0;
  std::error_code first_error_;
};

// A path for a file that does not exist yet; removed by the destructor.
struct TempPath {
  std::string path;
  TempPath() {
    char tmpl[] = "/tmp/stmf-store-test-XXXXXX";
    int fd = ::mkstemp(tmpl);
    if (fd < 0) throw std::runtime_error("mkstemp");
    ::close(fd);
    ::unlink(tmpl);
    path = tmpl;
  }
  ~TempPath() { ::unlink(path.c_str()); }
  TempPath(const TempPath&) = delete;
  TempPath& operator=(const TempPath&) = delete;
};

// Fills buf with a pattern unique to (block, generation).
inline void fill_pattern(std::span<uint8_t> buf, uint64_t block, uint32_t generation) {
  uint64_t x = block * 0x9e3779b97f4a7c15ull + generation * 0xc2b2ae3d27d4eb4full + 1;
  for (size_t i = 0; i < buf.size(); ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    buf[i] = uint8_t(x);
  }
}

inline bool all_zero(std::span<const uint8_t> buf) {
  for (uint8_t b : buf)
    if (b) return false;
  return true;
}


// Several threads each keep many requests in flight on their own blocks: write generation 1 to
// all, then concurrently overwrite the even ones with generation 2 while reading back the odd
// ones, then read everything back. Returns a description of the first problem, or "".
inline std::string concurrent_integrity(BackingStore& s, unsigned threads, uint64_t blocks, size_t block_size) {
  std::vector<std::string> problems(threads);
  auto worker = [&](unsigned t) {
    std::vector<uint64_t> mine;
    for (uint64_t b = t; b < blocks; b += threads) mine.push_back(b);
    std::vector<std::vector<uint8_t>> bufs(mine.size(), std::vector<uint8_t>(block_size));
    std::vector<uint32_t> gen(mine.size(), 1);
    {
      Latch l;
      for (size_t i = 0; i < mine.size(); ++i) {
        fill_pattern(bufs[i], mine[i], 1);
        s.write(mine[i] * block_size, bufs[i], false, l.cb());
      }
      if (!l.wait()) return void(problems[t] = "phase 1 timed out");
      if (l.first_error()) return void(problems[t] = "phase 1: " + l.first_error().message());
    }
    {
      Latch l;
      for (size_t i = 0; i < mine.size(); ++i) {
        if (i % 2 == 0) {
          gen[i] = 2;
          fill_pattern(bufs[i], mine[i], 2);
          s.write(mine[i] * block_size, bufs[i], i % 8 == 0, l.cb());
        } else {
          std::fill(bufs[i].begin(), bufs[i].end(), 0xee);
          s.read(mine[i] * block_size, bufs[i], l.cb());
        }
      }
      if (!l.wait()) return void(problems[t] = "phase 2 timed out");
      if (l.first_error()) return void(problems[t] = "phase 2: " + l.first_error().message());
      std::vector<uint8_t> want(block_size);
      for (size_t i = 1; i < mine.size(); i += 2) {
        fill_pattern(want, mine[i], 1);
        if (bufs[i] != want) return void(problems[t] = "phase 2: block " + std::to_string(mine[i]) + " differs");
      }
    }
    {
      Latch l;
      for (size_t i = 0; i < mine.size(); ++i) {
        std::fill(bufs[i].begin(), bufs[i].end(), 0xee);
        s.read(mine[i] * block_size, bufs[i], l.cb());
      }
      if (!l.wait()) return void(problems[t] = "phase 3 timed out");
      if (l.first_error()) return void(problems[t] = "phase 3: " + l.first_error().message());
      std::vector<uint8_t> want(block_size);
      for (size_t i = 0; i < mine.size(); ++i) {
        fill_pattern(want, mine[i], gen[i]);
        if (bufs[i] != want) return void(problems[t] = "phase 3: block " + std::to_string(mine[i]) + " differs");
      }
    }
  };
  std::vector<std::thread> ts;
  for (unsigned t = 0; t < threads; ++t) ts.emplace_back(worker, t);
  for (auto& t : ts) t.join();
  for (auto& p : problems)
    if (!p.empty()) return p;
  return "";
}

}  // namespace stmf::store::test
