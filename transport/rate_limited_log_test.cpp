#include "transport/rate_limited_log.h"

#include <catch2/catch.hpp>

using stmf::transport::RateLimiter;
using namespace std::chrono_literals;

TEST_CASE("rate limiter logs a burst, then counts, then summarises once per interval", "[unit][ratelimit]") {
  RateLimiter r(3, 10s);
  const auto t0 = RateLimiter::Clock::time_point{} + 100s;
  int logged = 0;
  for (int i = 0; i < 1000; ++i) {
    auto d = r.on_event(t0 + std::chrono::milliseconds(i));
    CHECK(d.suppressed == 0);
    logged += d.log;
  }
  CHECK(logged == 3);
  CHECK(r.suppressed() == 997);
  // The next interval: the summary comes with the first event, which is logged again.
  auto d = r.on_event(t0 + 11s);
  CHECK(d.log);
  CHECK(d.suppressed == 997);
  CHECK(r.suppressed() == 0);
}

TEST_CASE("rate limiter: take_suppressed reports what is left and forgets it", "[unit][ratelimit]") {
  RateLimiter r(1, 60s);
  const auto t0 = RateLimiter::Clock::time_point{} + 5s;
  CHECK(r.on_event(t0).log);
  CHECK_FALSE(r.on_event(t0 + 1s).log);
  CHECK_FALSE(r.on_event(t0 + 2s).log);
  CHECK(r.take_suppressed() == 2);
  CHECK(r.take_suppressed() == 0);
}
