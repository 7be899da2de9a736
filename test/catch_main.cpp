// The Catch2 main of every test binary. A run whose filter matches no test case fails
// (Catch's NoTests warning): CTest runs each discovered test by name, and a name Catch cannot
// match (CMake cuts a discovered name at ';') would otherwise "pass" without running anything.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

int main(int argc, char* argv[]) {
  Catch::Session session;
  if (int rc = session.applyCommandLine(argc, argv); rc != 0) return rc;
  auto& cfg = session.configData();
  cfg.warnings = static_cast<Catch::WarnAbout::What>(cfg.warnings | Catch::WarnAbout::NoTests);
  return session.run();
}
