# The fuzz targets in CI (label `fuzz`, docs/fuzzing.md). The regular build is g++; the targets
# need clang and libFuzzer, so when clang++-14 is installed one test configures and builds them
# in a separate clang build directory (fixture `fuzz_clang`) and one test per target runs it
# for a short bounded time on the committed corpus (never writing into it). Without clang the
# tests are not defined and the configure step says so.
find_program(STMF_FUZZ_CLANGXX clang++-14)
find_program(STMF_FUZZ_CLANG clang-14)
if(NOT STMF_FUZZ_CLANGXX OR NOT STMF_FUZZ_CLANG)
  message(STATUS "clang-14 not found: the fuzz tests (label fuzz) are not defined")
  return()
endif()

set(_fuzz_sh ${PROJECT_SOURCE_DIR}/scripts/fuzz.sh)
set(_fuzz_dir ${CMAKE_BINARY_DIR}/fuzz-clang)
add_test(NAME fuzz_build COMMAND ${_fuzz_sh} --build-dir ${_fuzz_dir} --ci-build)
set_tests_properties(fuzz_build PROPERTIES LABELS fuzz TIMEOUT 900 FIXTURES_SETUP fuzz_clang)
foreach(t fuzz_pdu fuzz_login fuzz_proxy fuzz_mgmt fuzz_scsi)
  add_test(NAME ${t} COMMAND ${_fuzz_sh} --build-dir ${_fuzz_dir} --ci-run ${t})
  set_tests_properties(${t} PROPERTIES LABELS fuzz TIMEOUT 300 FIXTURES_REQUIRED fuzz_clang)
endforeach()
