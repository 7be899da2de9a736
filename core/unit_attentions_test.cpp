// core/unit_attentions.cpp: a lost nexus keeps I_T NEXUS LOSS OCCURRED for its return, and the
// LU remembers at most kMaxLostNexuses lost nexuses (every session is a new nexus key: the
// table grew with every login ever made, ~0.6 KiB each, found by scripts/scale.sh).
#include <catch2/catch.hpp>

#include <string>

#include "core/logical_unit.h"
#include "core/scsi/sense.h"

using stmf::UnitAttentions;
namespace sense = stmf::scsi::sense;

namespace {
std::string key(size_t i) { return "iqn.2026-12.org.example:h,i,0x40000137" + std::to_string(i); }
}  // namespace

TEST_CASE("unit attentions: a lost nexus sees I_T NEXUS LOSS when it returns", "[ua]") {
  UnitAttentions ua;
  CHECK(*ua.next(key(0), true) == sense::power_on_reset);
  CHECK_FALSE(ua.next(key(0), true));
  ua.nexus_lost(key(0));
  CHECK(*ua.next(key(0), true) == sense::i_t_nexus_loss);
  CHECK_FALSE(ua.next(key(0), true));
}

TEST_CASE("unit attentions: at most kMaxLostNexuses lost nexuses are remembered, the oldest go first", "[ua]") {
  constexpr size_t kMore = 500;
  UnitAttentions ua;
  // One nexus that comes back after its loss: it is live again and never forgotten.
  ua.next(key(0), true);
  ua.nexus_lost(key(0));
  CHECK(*ua.next(key(0), true) == sense::i_t_nexus_loss);
  for (size_t i = 1; i <= UnitAttentions::kMaxLostNexuses + kMore; ++i) {
    ua.next(key(i), true);  // a session: its first command
    ua.nexus_lost(key(i));  // and its end
  }
  CHECK(ua.size() == UnitAttentions::kMaxLostNexuses + 1);  // the lost ones kept, and key(0)
  CHECK_FALSE(ua.next(key(0), true));                         // still known: nothing pending
  // The newest lost nexus still has its loss; the oldest was forgotten (a new nexus again).
  CHECK(*ua.next(key(UnitAttentions::kMaxLostNexuses + kMore), true) == sense::i_t_nexus_loss);
  CHECK(*ua.next(key(1), true) == sense::power_on_reset);
}

TEST_CASE("unit attentions: a nexus lost twice is remembered from its last loss", "[ua]") {
  UnitAttentions ua;
  ua.next(key(0), true);
  ua.nexus_lost(key(0));
  ua.next(key(0), true);
  for (size_t i = 1; i < UnitAttentions::kMaxLostNexuses; ++i) ua.nexus_lost(key(i));
  ua.nexus_lost(key(0));                   // lost again: the newest loss
  ua.nexus_lost(key(UnitAttentions::kMaxLostNexuses));  // pushes out the first record of key(0)
  CHECK(*ua.next(key(0), true) == sense::i_t_nexus_loss);
}

TEST_CASE("unit attentions: a handover restores lost nexuses as lost, bounded", "[ua]") {
  std::map<std::string, std::vector<stmf::scsi::SenseCode>> queues;
  for (size_t i = 0; i < UnitAttentions::kMaxLostNexuses + 10; ++i) queues[key(i)] = {sense::i_t_nexus_loss};
  queues["live"] = {};
  UnitAttentions ua;
  ua.restore(queues);
  CHECK(ua.size() == UnitAttentions::kMaxLostNexuses + 1);
  CHECK_FALSE(ua.next("live", true));
}
