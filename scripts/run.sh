#!/usr/bin/env bash
# Quick start: install what is missing, build, and run stmfd with the embedded default
# configuration (one 1 GiB sparse-file LU at /var/tmp/stmfd-lu0.img on 127.0.0.1:3260).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
exec build/tools/stmfd "$@"
