// The Catch2 main of every test binary. A run whose filter matches no test case fails
// (Catch's NoTests warning): CTest runs each discovered test by name, and a name Catch cannot
// match (CMake cuts a discovered name at ';') would otherwise "pass" without running anything.
// SIGPIPE is ignored, as in stmfd.
#define CATCH_CONFIG_RUNNER
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

#include <atomic>
#include <csignal>

#include "test/test_failed.h"

namespace {
std::atomic<bool> g_failed{false};

// Notes a failed assertion of the running test case (test/test_failed.h).
struct FailureListener : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  void testCaseStarting(const Catch::TestCaseInfo&) override { g_failed = false; }
  bool assertionEnded(const Catch::AssertionStats& s) override {
    if (!s.assertionResult.isOk()) g_failed = true;
    return true;
  }
};
}  // namespace

CATCH_REGISTER_LISTENER(FailureListener)

bool stmf::test::current_test_failed() { return g_failed; }

int main(int argc, char* argv[]) {
  // Tests talk to daemons they kill (libiscsi writes with writev()): a write to a dead one is
  // an error the test reports, not a SIGPIPE that ends the whole binary without a word.
  std::signal(SIGPIPE, SIG_IGN);
  Catch::Session session;
  if (int rc = session.applyCommandLine(argc, argv); rc != 0) return rc;
  auto& cfg = session.configData();
  cfg.warnings = static_cast<Catch::WarnAbout::What>(cfg.warnings | Catch::WarnAbout::NoTests);
  return session.run();
}
