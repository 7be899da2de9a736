// Whether the running test case has a failed assertion so far (CHECK as well as REQUIRE):
// fixtures keep their daemons' logs for the post-mortem when it does. Kept by a Catch2
// listener in test/catch_main.cpp, which every test binary links.
#pragma once

namespace stmf::test {
bool current_test_failed();
}  // namespace stmf::test
