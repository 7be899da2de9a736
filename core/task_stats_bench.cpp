// What counting costs one command (docs/benchmark.md "Statistics on and off"): the framework's
// counting calls for one task — count_start, count_lu, and deliver's count at the end —
// timed over many tasks on one thread, against deliver alone with counting off. Not a test:
// it measures (build target task_stats_bench, run by hand).
#include <chrono>
#include <cstdio>
#include <memory>

#include "core/it_nexus.h"
#include "core/local_port.h"
#include "core/logical_unit.h"
#include "core/scsi/opcodes.h"
#include "core/task_stats.h"

using namespace stmf;

namespace {

constexpr int kTasks = 2'000'000;
constexpr uint32_t kIo = 4096;

struct NullPort final : LocalPort {
  std::string name = "iqn.2026-12.org.example:bench,t,0x0001";
  const std::string& port_name() const override { return name; }
  const std::string& target_name() const override { return name; }
  uint16_t rtpi() const override { return 1; }
  uint16_t tpg() const override { return 1; }
  void task_complete(TaskPtr) override {}
  void task_aborted(TaskPtr) override {}
};

struct NullLu final : LogicalUnit {
  Guid g{};
  std::string n = "bench";
  const Guid& guid() const override { return g; }
  const std::string& name() const override { return n; }
  const CommandInfo* command_info(const uint8_t*, size_t) const override { return nullptr; }
  void execute(const TaskPtr&, TaskDone) override {}
};

double ns_per_task(bool counting) {
  NullPort port;
  auto nexus = std::make_shared<ItNexus>(1, port, "iqn.2026-12.org.example:i", "000000000001");
  auto lu = std::make_shared<NullLu>();
  auto t = std::make_shared<ScsiTask>();
  t->nexus = nexus;
  t->cdb[0] = scsi::op::kRead10;
  t->expected_transfer_length = kIo;
  t->data_in.resize(kIo);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kTasks; ++i) {
    if (counting) {
      count_start(*t);
      count_lu(*t, lu);
    }
    deliver(t);
  }
  const auto ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  return ns / kTasks;
}

}  // namespace

int main() {
  ns_per_task(true);  // warm up
  const double off = ns_per_task(false), on = ns_per_task(true);
  std::printf("per command: counting off %.1f ns, on %.1f ns, cost %.1f ns\n", off, on, on - off);
  return 0;
}
