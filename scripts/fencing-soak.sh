#!/usr/bin/env bash
# Runs one scenario of the fencing tests (test/failover/san_fencing_test.cpp, label
# `fencing`) N times in a row, stops at the first failure, and prints one line per run and a
# summary: the issue's "each scenario loops 20 times". Each run is bounded (--run-timeout);
# so is the whole loop (N × that at most).
#
#   scripts/fencing-soak.sh [--runs N] [--test SPEC] [--build DIR] [--run-timeout S]
#
#   --runs N          how many runs (default 20)
#   --test SPEC       a Catch2 test spec: a test name or tags (default "[cut]~[tgt]");
#                     `san_fencing_test --list-tags` lists the tags. One scenario each:
#                       "[cut]~[tgt]"        takeover manual, the link cut and restored (stmfd SAN)
#                       "[cut][tgt]"         the same on tgt
#                       "[partition]~[tgt]"  takeover fenced, the link cut with both nodes alive:
#                                            node 1 races and wins, nothing sent through node 0
#                                            after the preempt lands, restored node 0 is standby
#                       "[partition][tgt]"   the same on tgt
#                       "[hung]"             the owner SIGSTOPped past the timeout, preempted,
#                                            SIGCONT: its queued write is refused, it ends standby
#                       "[restart]"          the old owner restarted while partitioned never
#                                            serves, and joins as standby when the link returns
#                       "[san-loss]"         the SAN killed and restarted under the owner (fenced
#                                            pair): it reconnects, key intact, serves on
#                       "[san-cut]"          only node 0's packets to the SAN dropped (pair.sh
#                                            cut-san) until its store notices, then let through:
#                                            it logs in again, key intact, serves on
#                       "[san-restart]"      the SAN restart without fencing (nodes on loopback)
#                     (all but [san-restart] need root: namespaces; [tgt] needs tgt)
#   --build DIR       the build folder (default build/)
#   --run-timeout S   one run is ended (and counted failed) after S seconds (default 180)
#
# Exit status: 0 when every run passed, 1 at the first failure (its output is kept and its
# path printed), 2 on bad arguments, 77 when the scenario reports itself skipped (not root,
# no tgt): nothing was tested.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
runs=20; spec="[cut]~[tgt]"; build=$here/../build; run_timeout=180
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --test) spec=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --run-timeout) run_timeout=$2; shift 2 ;;
    *) echo "usage: $0 [--runs N] [--test SPEC] [--build DIR] [--run-timeout S]" >&2; exit 2 ;;
  esac
done
case "$runs" in ''|*[!0-9]*|0) echo "fencing-soak.sh: --runs must be a positive number" >&2; exit 2 ;; esac
case "$run_timeout" in ''|*[!0-9]*|0) echo "fencing-soak.sh: --run-timeout must be a positive number" >&2; exit 2 ;; esac
bin=$build/test/failover/san_fencing_test
[ -x "$bin" ] || { echo "fencing-soak.sh: $bin not built (cmake --build $build --target san_fencing_test)" >&2; exit 1; }
out=$(mktemp -d /tmp/stmf-fencing-soak-XXXXXX)

passed=0; total_start=$(date +%s.%N)
for i in $(seq "$runs"); do
  log=$out/run$i.log
  start=$(date +%s.%N)
  rc=0
  before=$(ls -d /tmp/stmf-alua-test-* 2>/dev/null || true)
  timeout --kill-after=15 "$run_timeout" "$bin" "$spec" >"$log" 2>&1 || rc=$?
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    # A run ended by the timeout had no chance to stop its pair: stop the pairs it started
    # (the folders that appeared during the run; runs are one at a time).
    for d in $(ls -d /tmp/stmf-alua-test-* 2>/dev/null || true); do
      grep -qxF "$d" <<<"$before" || "$here/pair.sh" stop "$d" || true
    done
  fi
  secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  if grep -q '^SKIPPED:' "$log"; then
    echo "run $i/$runs: SKIPPED ($(sed -n 's/^SKIPPED: //p' "$log" | head -n 1))"
    rm -rf "$out"; exit 77
  fi
  if [ "$rc" -ne 0 ] || grep -q 'No test cases matched' "$log"; then
    why="exit status $rc"; [ "$rc" -eq 124 ] && why="timed out after $run_timeout s"
    grep -q 'No test cases matched' "$log" && why="no test matches $spec"
    echo "run $i/$runs: FAIL in $secs s ($why); output kept in $log"
    echo "fencing-soak: $spec: $passed of $runs passed, stopped at the first failure (run $i)"
    exit 1
  fi
  assertions=$(sed -n 's/^All tests passed (\([0-9]*\) assertions.*/\1/p' "$log")
  echo "run $i/$runs: PASS in $secs s (${assertions:-?} assertions)"
  passed=$((passed + 1))
done
total=$(awk -v a="$total_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
echo "fencing-soak: $spec: $passed of $runs passed in $total s"
rm -rf "$out"
