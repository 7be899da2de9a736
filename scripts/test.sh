#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: unit, integration, conformance.
# The `ceph` tests (a one-host Ceph cluster per test, scripts/ceph-dev.sh) only with
# STMF_TEST_CEPH=1, which also installs their packages (scripts/deps.sh --ceph).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test
scripts/build.sh
if [ "${STMF_TEST_CEPH:-0}" = 1 ]; then
  scripts/deps.sh --ceph
  skip=()
else
  skip=(-LE ceph)
fi
cd build
ctest --output-on-failure -j"$(nproc)" "${skip[@]}" "$@"
