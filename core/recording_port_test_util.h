// Framework test helpers (core/*_test.cpp): a LocalPort that records every completed task, and
// a NexusObserver that ignores everything.
#pragma once
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/alua.h"
#include "core/local_port.h"
#include "core/task.h"

namespace stmf::test {

struct RecordingPort final : LocalPort {
  std::string name, target = "iqn.2026-11.org.example:t";
  uint16_t id, group;
  std::mutex mu;
  std::vector<TaskPtr> done;
  RecordingPort(std::string n, uint16_t r, uint16_t tpg = 1) : name(std::move(n)), id(r), group(tpg) {}
  const std::string& port_name() const override { return name; }
  const std::string& target_name() const override { return target; }
  uint16_t rtpi() const override { return id; }
  uint16_t tpg() const override { return group; }
  void task_complete(TaskPtr t) override {
    std::lock_guard lk(mu);
    done.push_back(std::move(t));
  }
  void task_aborted(TaskPtr) override {}
};

struct NoObserver final : NexusObserver {
  void nexus_created(const ItNexusPtr&) override {}
  void nexus_lost(const ItNexusPtr&) override {}
  void lun_map_changed(const ItNexusPtr&) override {}
};

}  // namespace stmf::test
