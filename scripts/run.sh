#!/usr/bin/env bash
# Quick start: install what is missing, build, and run stmfd with the embedded default
# configuration (one 1 GiB sparse-file LU at /var/tmp/stmfd-lu0.img on 127.0.0.1:3260).
# The configuration persists in $STMFD_STATE_DIR (default /var/tmp/stmfd-state): later runs
# start from it, with every change made by stmfadm since.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
if [[ " $* " != *" --state-dir "* ]]; then
  set -- --state-dir "${STMFD_STATE_DIR:-/var/tmp/stmfd-state}" "$@"
fi
exec build/tools/stmfd "$@"
