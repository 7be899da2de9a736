// core/stats.h: the latency buckets and what a snapshot adds up.
#include <catch2/catch.hpp>

#include "core/stats.h"

using namespace stmf::stats;

TEST_CASE("stats: latency buckets are powers of two of microseconds, the last one open", "[stats]") {
  CHECK(latency_bucket(0) == 0);
  CHECK(latency_bucket(1) == 1);  // < 2 us
  CHECK(latency_bucket(2) == 2);
  CHECK(latency_bucket(3) == 2);
  CHECK(latency_bucket(4) == 3);
  CHECK(latency_bucket(1023) == 10);
  CHECK(latency_bucket(1024) == 11);
  CHECK(latency_bucket(uint64_t(1) << 40) == kLatencyBuckets - 1);
  for (int i = 0; i < kLatencyBuckets - 1; ++i) {
    CHECK(latency_bucket(latency_bucket_limit_us(i) - 1) <= i);
    CHECK(latency_bucket(latency_bucket_limit_us(i)) == i + 1);
  }
  CHECK(latency_bucket_limit_us(kLatencyBuckets - 1) == 0);
}

TEST_CASE("stats: a snapshot counts commands, data, errors and the commands in flight", "[stats]") {
  IoCounters c;
  c.started();
  c.started();
  c.started();
  c.completed(4096, 0, nullptr, 100);
  const ErrorClass conflict = ErrorClass::reservation_conflict;
  c.completed(0, 0, &conflict, 5);
  const auto s = c.snapshot();
  CHECK(s.commands == 2);
  CHECK(s.reads == 1);
  CHECK(s.writes == 0);
  CHECK(s.bytes_read == 4096);
  CHECK(s.errors[size_t(ErrorClass::reservation_conflict)] == 1);
  CHECK(s.errors_total() == 1);
  CHECK(s.latency_us_sum == 105);
  CHECK(s.latency[size_t(latency_bucket(100))] == 1);
  CHECK(s.latency[size_t(latency_bucket(5))] == 1);
  CHECK(s.in_flight == 1);
}
