#!/usr/bin/env bash
# Conformance gate: libiscsi's iscsi-test-cu against a real stmfd with a file-backed LU,
# scored by ../shared/tools/iscsi-conformance (a printed [SKIPPED] counts as a skip).
#
#   run.sh STMFD_BINARY [FAMILY] [LU_JSON_KEYS]
#
# LU_JSON_KEYS are extra keys for the LU, e.g. '"removable": true' to run the removable-
# medium families, '"write_protect": true' for ReadOnly.
#
# Fails when any test fails, or when a skip appears that is not listed in
# docs/conformance.md (score.py). MultipathIO needs two paths: test/alua/conformance.sh
# scores it through an ALUA pair.
set -euo pipefail
stmfd=${1:?stmfd binary}; family=${2:-ALL}; lu_extra=${3:-}
here=$(cd "$(dirname "$0")" && pwd); src=$(cd "$here/../.." && pwd)
# The shared scorer sits beside the checkout (../shared/tools); a clone elsewhere finds it at
# the workplace's shared folder, or through STMF_CONFORMANCE.
tool=${STMF_CONFORMANCE:-}
for t in "$src/../shared/tools/iscsi-conformance" /work/shared/tools/iscsi-conformance; do
  [ -z "$tool" ] && [ -x "$t" ] && tool=$t
done
[ -n "$tool" ] || { echo "conformance scorer iscsi-conformance not found (set STMF_CONFORMANCE)"; exit 1; }
work=$(mktemp -d /tmp/stmf-conformance-XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
iqn=iqn.2026-11.org.example:conformance
cat >"$work/config.json" <<JSON
{"portals": ["127.0.0.1:$port"], "log_level": "info",
 "targets": [{"iqn": "$iqn", "luns": [{"lun": 0, "backing": "$work/lu0.img", "size": "128MiB"${lu_extra:+, $lu_extra}}]}]}
JSON
# A write-protected LU needs an existing backing file.
truncate -s 128M "$work/lu0.img"
"$stmfd" --config "$work/config.json" --socket "$work/stmfd.sock" >"$work/stmfd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
set +e
python3 "$tool" "iscsi://127.0.0.1:$port/$iqn/0" --family "$family" --json "$work/result.json" --log "$work/test.log"
[ -n "${STMF_CONFORMANCE_LOG:-}" ] && cp "$work/test.log" "$STMF_CONFORMANCE_LOG"
set -e
kill -0 "$pid" 2>/dev/null || { echo "stmfd died during the run:"; tail -50 "$work/stmfd.log"; exit 1; }
python3 "$here/score.py" "$work/result.json" "$src/docs/conformance.md"
