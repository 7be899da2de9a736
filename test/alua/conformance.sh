#!/usr/bin/env bash
# iscsi-test-cu through an ALUA pair (scripts/pair.sh), scored by ../shared/tools/iscsi-conformance.
#
#   conformance.sh TOOLS_DIR CARRIER multipath    MultipathIO with one URL per node:
#                                                 must run, 0 failures, 0 skips
#   conformance.sh TOOLS_DIR CARRIER multipath-switched
#                                                 the same after a planned switchover
#                                                 (stmfadm switchover-lu): roles reversed
#   conformance.sh TOOLS_DIR CARRIER standby-all  every family through the standby node's URL
#                                                 alone, scored like the single-node gate
#                                                 (test/conformance/score.py)
set -euo pipefail
bin=${1:?tools dir}; carrier=${2:?tcp or door}; mode=${3:?multipath, multipath-switched or standby-all}
here=$(cd "$(dirname "$0")" && pwd); src=$(cd "$here/../.." && pwd)
tool=${STMF_CONFORMANCE:-}
for t in "$src/../shared/tools/iscsi-conformance" /work/shared/tools/iscsi-conformance; do
  [ -z "$tool" ] && [ -x "$t" ] && tool=$t
done
[ -n "$tool" ] || { echo "conformance scorer iscsi-conformance not found (set STMF_CONFORMANCE)"; exit 1; }
work=$(mktemp -d /tmp/stmf-alua-conformance-XXXXXX)
cleanup() { "$src/scripts/pair.sh" stop "$work/pair"; [ -n "${STMF_KEEP_PAIR:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
"$src/scripts/pair.sh" start "$work/pair" --bin "$bin" --carrier "$carrier" --size 128MiB >/dev/null
# shellcheck disable=SC1091
. "$work/pair/pair.env"
alive() {
  for f in "$work"/pair/*.pid; do
    kill -0 "$(cat "$f")" 2>/dev/null || { echo "$(basename "$f" .pid) died during the run:"; tail -n 50 "$work/pair/$(basename "$f" .pid).log"; return 1; }
  done
}
if [ "$mode" = multipath-switched ]; then
  STMFD_SOCKET=$SOCK_A "$bin/stmfadm/stmfadm" switchover-lu "$GUID"
  # The old owner steps down once the new owner's registration reaches it.
  for _ in $(seq 300); do
    STMFD_SOCKET=$SOCK_A "$bin/stmfadm/stmfadm" list-lu -v | grep -q "Access State *: Standby" && break
    sleep 0.1
  done
  STMFD_SOCKET=$SOCK_A "$bin/stmfadm/stmfadm" list-lu -v | grep -q "Access State *: Standby" ||
    { echo "node 0 did not step down after the switchover"; exit 1; }
  mode=multipath
fi
set +e
if [ "$mode" = multipath ]; then
  python3 "$tool" "$URL_A" "$URL_B" --family ALL.MultipathIO --json "$work/result.json" --log "$work/test.log"
else
  python3 "$tool" "$URL_B" --family ALL --json "$work/result.json" --log "$work/test.log"
fi
set -e
alive
if [ "$mode" = multipath ]; then
  python3 - "$work/result.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"MultipathIO through both nodes: {r['pass']} passed, {r['fail']} failed, {r['skip']} skipped of {r['tests']}")
for t in r["failed"]: print("FAIL", t)
for t in r["skipped"]: print("SKIP", t)
sys.exit(0 if r["tests"] > 0 and r["fail"] == 0 and r["skip"] == 0 and not r["timed_out"] else 1)
PY
else
  python3 "$src/test/conformance/score.py" "$work/result.json" "$src/docs/conformance.md"
fi
