// Rate limit for repeated warnings of one source (a connection, an acceptor): the first
// `burst` lines of an interval are logged, the rest are counted, and the first warning of the
// next interval (or flush(), when the source goes away) logs one summary line with the count.
// A peer that sends a million bad PDUs thus costs a few lines per interval, not a million.
//
// RateLimiter is the pure decision (clock passed in, unit-tested); RateLimitedLog wraps it
// around a spdlog logger.
#pragma once
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

namespace stmf::transport {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  RateLimiter(uint32_t burst, std::chrono::seconds interval) : burst_(burst), interval_(interval) {}

  struct Decision {
    bool log = false;         // log this occurrence
    uint64_t suppressed = 0;  // before it: this many were dropped in the previous interval(s)
  };
  Decision on_event(Clock::time_point now) {
    Decision d;
    if (!started_ || now - start_ >= interval_) {
      d.suppressed = std::exchange(suppressed_, 0);
      start_ = now;
      started_ = true;
      count_ = 0;
    }
    if (count_ < burst_) {
      ++count_;
      d.log = true;
    } else {
      ++suppressed_;
    }
    return d;
  }
  // Occurrences dropped since the last summary (and forgets them).
  uint64_t take_suppressed() { return std::exchange(suppressed_, 0); }
  uint64_t suppressed() const { return suppressed_; }

 private:
  uint32_t burst_;
  std::chrono::seconds interval_;
  bool started_ = false;
  Clock::time_point start_{};
  uint32_t count_ = 0;
  uint64_t suppressed_ = 0;
};

class RateLimitedLog {
 public:
  // `who` prefixes the summary line (e.g. the peer address).
  RateLimitedLog(uint32_t burst, std::chrono::seconds interval) : limiter_(burst, interval) {}

  template <typename... Args>
  void warn(const std::shared_ptr<spdlog::logger>& log, const std::string& who,
            spdlog::format_string_t<Args...> fmt, Args&&... args) {
    auto d = limiter_.on_event(RateLimiter::Clock::now());
    if (d.suppressed) summary(log, who, d.suppressed);
    if (d.log) log->warn(fmt, std::forward<Args>(args)...);
  }
  // Logs the count of warnings still suppressed (call when the source goes away).
  void flush(const std::shared_ptr<spdlog::logger>& log, const std::string& who) {
    if (auto n = limiter_.take_suppressed()) summary(log, who, n);
  }

 private:
  static void summary(const std::shared_ptr<spdlog::logger>& log, const std::string& who, uint64_t n) {
    log->warn("{}: {} more warning(s) suppressed (rate limit)", who, n);
  }
  RateLimiter limiter_;
};

}  // namespace stmf::transport
