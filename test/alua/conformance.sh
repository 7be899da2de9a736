#!/usr/bin/env bash
# iscsi-test-cu through an ALUA pair (scripts/pair.sh), run and scored by the project's
# conformance runner (test/conformance/runner.py) against the passes in
# test/conformance/passes.json.
#
#   conformance.sh TOOLS_DIR CARRIER multipath    MultipathIO with one URL per node
#                                                 (pass alua_conformance_multipath: every
#                                                 MultipathIO test must run and pass)
#   conformance.sh TOOLS_DIR CARRIER multipath-switched
#                                                 the same after a planned switchover
#                                                 (stmfadm switchover-lu): roles reversed
#   conformance.sh TOOLS_DIR CARRIER standby-all  every family through the standby node's URL
#                                                 alone, held to the single-node gate's list
#                                                 (pass alua_conformance_standby_all)
set -euo pipefail
bin=${1:?tools dir}; carrier=${2:?tcp or door}; mode=${3:?multipath, multipath-switched or standby-all}
here=$(cd "$(dirname "$0")" && pwd); src=$(cd "$here/../.." && pwd)
runner=(python3 "$src/test/conformance/runner.py")
# standby-all runs WriteSame10/16.ZeroBlocks whole: the LU must be larger than MAXIMUM WRITE
# SAME LENGTH (2 GiB of 512-byte blocks), as in conformance_all.
size=128MiB; [ "$mode" = standby-all ] && size=2049MiB
work=$(mktemp -d /tmp/stmf-alua-conformance-XXXXXX)
cleanup() { "$src/scripts/pair.sh" stop "$work/pair"; [ -n "${STMF_KEEP_PAIR:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
"$src/scripts/pair.sh" start "$work/pair" --bin "$bin" --carrier "$carrier" --size "$size" >/dev/null
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
rc=0
if [ "$mode" = multipath ]; then
  "${runner[@]}" --pass alua_conformance_multipath --url "$URL_A" --url "$URL_B" || rc=$?
else
  "${runner[@]}" --pass alua_conformance_standby_all --url "$URL_B" || rc=$?
fi
alive
exit "$rc"
