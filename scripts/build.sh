#!/usr/bin/env bash
# Configures and builds (Release) into ./build: everything, or only the targets named.
#   scripts/build.sh [TARGET...]     e.g. scripts/build.sh stmfd
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" ${1:+--target "$@"}
