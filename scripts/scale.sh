#!/usr/bin/env bash
# Scale: many sessions and many targets x LUs against one stmfd on loopback (issue 19 item 4).
#
#   scripts/scale.sh [--ci] [--bin DIR] [--client PATH] [--only sessions|iops|churn|wide]
#                    [--initiators N] [--rounds R] [--count C] [--wide-targets T]
#
# sessions  N initiator names (default 250) x 4 targets = 4N concurrent sessions (1,000), each
#           logged in by scale_client (test/bench/scale_client.cpp: one process, one libiscsi
#           context per session, one epoll loop); the daemon's memory (smaps_rollup) before and
#           with every session logged in and idle, per session; then every session writes 4
#           blocks of its own pattern and reads them back: every command GOOD, every block equal.
# iops      4 KiB random reads at the same total queue depth: 8 sessions x QD32 against
#           64 sessions x QD4, alternately, R rounds (default 3) of C reads (default 100,000):
#           median IOPS of each, their ratio, and the daemon's and the client's CPU µs per read.
# churn     R rounds (--rounds, default 3) of the same N x 4 sessions logging in
#           and out against the daemon of the parts above: its anonymous memory after each
#           round (what it keeps of ended sessions must level off: every login is a new nexus).
# wide      T targets (default 64) x 16 LUs (1,024 sparse file-backed LUs in the temporary directory):
#           the daemon's start, a login and REPORT LUNS (median of 5), and `stmfadm list-lu -v`,
#           `list-target -v`, `list-view` and `export`, timed.
# --ci      the CTest subset (test `scale_ci`, label `scale`): 50 x 4 = 200 sessions, all served
#           and verified, memory per idle session printed; a small wide (8 x 16) listing. No
#           timing decides the result: it fails only when a session or a command fails.
#
# Bounded: every client run has a deadline, the daemons are stopped by pid and the temporary
# directory removed on exit (trap). Prints `key value` lines and a summary table.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/tools; client=""; only=""; ci=0; initiators=""; rounds=3; count=100000; wide_targets=""
usage="usage: $0 [--ci] [--bin DIR] [--client PATH] [--only sessions|iops|churn|wide] [--initiators N] [--rounds R] [--count C] [--wide-targets T]"
# Each option with a value, and the variable it sets.
declare -A option_var=([--bin]=bin [--client]=client [--only]=only [--initiators]=initiators [--rounds]=rounds
                       [--count]=count [--wide-targets]=wide_targets)
while [ $# -gt 0 ]; do
  if [ "$1" = --ci ]; then
    ci=1; shift
  elif [ -n "${option_var[$1]:-}" ] && [ $# -ge 2 ]; then
    printf -v "${option_var[$1]}" '%s' "$2"; shift 2
  else
    echo "$usage" >&2; exit 2
  fi
done
# --ci: 50 initiators (200 sessions) and 8 wide targets unless given.
if [ "$ci" = 1 ]; then : "${initiators:=50}" "${wide_targets:=8}"; else : "${initiators:=250}" "${wide_targets:=64}"; fi
case "$only" in ""|sessions|iops|churn|wide) ;; *) echo "scale.sh: --only sessions, iops, churn or wide" >&2; exit 2;; esac
[ -n "$client" ] || client=$bin/../test/bench/scale_client
[ -x "$bin/stmfd" ] || { echo "scale.sh: no $bin/stmfd (build first: scripts/build.sh)" >&2; exit 2; }
[ -x "$client" ] || { echo "scale.sh: no $client (build first: scripts/build.sh)" >&2; exit 2; }
stmfadm=$bin/stmfadm/stmfadm
want() { if [ -n "$only" ]; then [ "$only" = "$1" ]; else [ "$ci" = 0 ] || [ "$1" != iops ]; fi; }

readonly TARGETS=4                 # targets of the sessions and iops parts
readonly LU_SIZE=1G                # each sparse LU of those parts
readonly LOAD_BLOCKS=65536         # the iops part reads the first 32 MiB of each LU (filled)
readonly WIDE_TARGETS=$wide_targets
readonly WIDE_LUNS=16
readonly WIDE_LU_SIZE=64M
DEADLINE_S=300                     # each client run's deadline (seconds)
[ "$ci" = 1 ] && DEADLINE_S=60
readonly DEADLINE_S

work=$(mktemp -d /tmp/stmf-scale-XXXXXX)
pid=""
# SIGTERM, then SIGKILL when it is still there after 15 s (its shutdown_timeout_s is 10).
stop_daemon() {
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
}
cleanup() { stop_daemon; rm -rf "$work"; }
trap cleanup EXIT INT TERM
fail=0

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# start_daemon CONFIG: stmfd with its own socket and state directory; waits for its portal.
start_daemon() {
  "$bin/stmfd" --config "$1" --socket "$work/stmfd.sock" --state-dir "$work/state" >"$work/stmfd.log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && [ -S "$work/stmfd.sock" ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "scale.sh: stmfd did not start:" >&2; tail -20 "$work/stmfd.log" >&2; exit 1
}
iqn() { echo "iqn.2026-12.org.example:scale-t$1"; }
# seconds since the epoch, fractional
now() { date +%s.%N; }
elapsed_ms() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }
val() { awk -v k="$1" '$1 == k { print $2; exit }' "$2"; }

# The sessions and iops parts: TARGETS targets, one LU each. The connections all come from
# 127.0.0.1, so max_connections_per_address is raised to the daemon-wide max_connections
# (1,024, the default); every other limit is the default.
sessions_config() {
  local t targets="" sep=""
  for t in $(seq 0 $((TARGETS - 1))); do
    truncate -s "$LU_SIZE" "$work/lu$t.img"
    targets+="$sep{\"iqn\": \"$(iqn "$t")\", \"luns\": [{\"lun\": 0, \"backing\": \"$work/lu$t.img\", \"block_size\": 512}]}"
    sep=", "
  done
  cat >"$work/sessions.json" <<JSON
{"portals": ["127.0.0.1:$port"], "log_level": "warn",
 "iscsi": {"max_connections_per_address": 1024},
 "targets": [$targets]}
JSON
}
target_list() { local t out="" sep=""; for t in $(seq 0 $((TARGETS - 1))); do out+="$sep$(iqn "$t")"; sep=,; done; echo "$out"; }

port=$(free_port)
echo "load $(cut -d' ' -f1-3 /proc/loadavg)"
if want sessions || want iops || want churn; then
  sessions_config
  start_daemon "$work/sessions.json"
  echo "daemon_open_file_limit $(awk '/Max open files/ { print $4 }' "/proc/$pid/limits")"
fi

if want sessions; then
  n=$((initiators * TARGETS))
  echo "== sessions: $initiators initiators x $TARGETS targets = $n sessions"
  sleep 1  # the daemon's start-up allocations settle before the first measurement
  t0=$(now)
  if ! "$client" --portal "127.0.0.1:$port" --target "$(target_list)" --initiators "$initiators" --ios 4 \
       --measure-pid "$pid" --deadline-s "$DEADLINE_S" >"$work/sessions.out" 2>&1; then
    fail=1
  fi
  cat "$work/sessions.out"
  echo "sessions_client_ms $(elapsed_ms "$t0")"
  kill -0 "$pid" 2>/dev/null || { echo "scale.sh: stmfd died"; fail=1; }
fi

if want iops; then
  echo "== iops: 4 KiB random reads, 8 sessions x QD32 against 64 sessions x QD4"
  for t in $(seq 0 $((TARGETS - 1))); do
    dd if=/dev/urandom of="$work/lu$t.img" bs=1M count=$((LOAD_BLOCKS / 2048)) conv=notrunc status=none
  done
  # run SESSIONS QD: one client run; prints "IOPS DAEMON_CPU_US_PER_IO CLIENT_CPU_US_PER_IO".
  # It runs in a command substitution (a subshell): a failed run leaves $iops_failed behind,
  # since setting fail there would be lost.
  iops_failed=$work/iops-failed
  run() {
    local out=$work/iops-$1-$2.out
    if ! "$client" --portal "127.0.0.1:$port" --target "$(target_list)" --initiators $(($1 / TARGETS)) \
         --prefix "iqn.2026-12.org.example:load$1-" --load-sessions "$1" --qd "$2" --count "$count" \
         --load-blocks "$LOAD_BLOCKS" --measure-pid "$pid" --deadline-s "$DEADLINE_S" >"$out" 2>&1; then
      echo "scale.sh: iops run $1 x QD$2 failed:" >&2; cat "$out" >&2; : >"$iops_failed"
    fi
    echo "$(val load_iops "$out") $(val load_daemon_cpu_us_per_io "$out") $(val load_client_cpu_us_per_io "$out")"
  }
  median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2)}'; }
  a=(); b=(); ca=(); cb=(); ka=(); kb=()
  for r in $(seq "$rounds"); do
    read -r i c k <<<"$(run 8 32)"; a+=("$i"); ca+=("$c"); ka+=("$k")
    read -r i c k <<<"$(run 64 4)"; b+=("$i"); cb+=("$c"); kb+=("$k")
    echo "round $r: 8xQD32 ${a[-1]} IOPS (daemon ${ca[-1]} us/IO, client ${ka[-1]}), 64xQD4 ${b[-1]} IOPS (daemon ${cb[-1]} us/IO, client ${kb[-1]})"
  done
  [ ! -e "$iops_failed" ] || fail=1
  am=$(printf '%s\n' "${a[@]}" | median); bm=$(printf '%s\n' "${b[@]}" | median)
  cam=$(printf '%s\n' "${ca[@]}" | median); cbm=$(printf '%s\n' "${cb[@]}" | median)
  kam=$(printf '%s\n' "${ka[@]}" | median); kbm=$(printf '%s\n' "${kb[@]}" | median)
  printf '%-22s %10s %10s %8s\n' workload "8xQD32" "64xQD4" ratio
  printf '%-22s %10s %10s %8s\n' "4KiB read (IOPS)" "$am" "$bm" "$(awk -v a="$am" -v b="$bm" 'BEGIN { printf "%.2f", (a > 0 ? b / a : 0) }')"
  printf '%-22s %10s %10s %8s\n' "daemon CPU us/IO" "$cam" "$cbm" "$(awk -v a="$cam" -v b="$cbm" 'BEGIN { printf "%.2f", (a > 0 ? b / a : 0) }')"
  printf '%-22s %10s %10s %8s\n' "client CPU us/IO" "$kam" "$kbm" "$(awk -v a="$kam" -v b="$kbm" 'BEGIN { printf "%.2f", (a > 0 ? b / a : 0) }')"
fi
if want churn; then
  echo "== churn: $rounds rounds of $((initiators * TARGETS)) sessions logging in and out"
  mem=""
  for r in $(seq "$rounds"); do
    if ! "$client" --portal "127.0.0.1:$port" --target "$(target_list)" --initiators "$initiators" \
         --prefix "iqn.2026-12.org.example:churn-" --deadline-s "$DEADLINE_S" >"$work/churn.out" 2>&1; then
      echo "scale.sh: churn round $r failed:" >&2; cat "$work/churn.out" >&2; fail=1
    fi
    mem+=" $(awk '/^Anonymous:/ { print $2 }' "/proc/$pid/smaps_rollup")"
  done
  echo "churn_anon_kib$mem"
fi
stop_daemon

if want wide; then
  echo "== wide: $WIDE_TARGETS targets x $WIDE_LUNS LUs"
  rm -rf "$work/state"
  targets=""; sep=""
  for t in $(seq 0 $((WIDE_TARGETS - 1))); do
    luns=""; lsep=""
    for l in $(seq 0 $((WIDE_LUNS - 1))); do
      truncate -s "$WIDE_LU_SIZE" "$work/w$t-$l.img"
      luns+="$lsep{\"lun\": $l, \"backing\": \"$work/w$t-$l.img\", \"block_size\": 512}"; lsep=", "
    done
    targets+="$sep{\"iqn\": \"$(iqn "$t")\", \"luns\": [$luns]}"; sep=", "
  done
  printf '{"portals": ["127.0.0.1:%s"], "log_level": "warn", "targets": [%s]}\n' "$port" "$targets" >"$work/wide.json"
  t0=$(now)
  start_daemon "$work/wide.json"
  echo "wide_start_ms $(elapsed_ms "$t0")"
  last=$((WIDE_TARGETS - 1))
  if "$client" --portal "127.0.0.1:$port" --target "$(iqn "$last")" --latency 5 >"$work/wide.out" 2>&1; then
    cat "$work/wide.out"
    [ "$(val report_luns_count "$work/wide.out")" = "$WIDE_LUNS" ] || { echo "scale.sh: REPORT LUNS did not list $WIDE_LUNS LUNs"; fail=1; }
  else
    cat "$work/wide.out"; fail=1
  fi
  # timed CMD...: runs a management command, prints its milliseconds and output lines
  timed() {
    local name=$1 t0 lines; shift
    t0=$(now)
    if ! lines=$("$stmfadm" --socket "$work/stmfd.sock" "$@" | wc -l); then echo "scale.sh: stmfadm $* failed"; fail=1; fi
    echo "$name $(elapsed_ms "$t0") ms, $lines lines"
  }
  guid=$("$stmfadm" --socket "$work/stmfd.sock" list-lu | awk '/LU Name:/ { g = $NF } END { print g }')
  timed list_lu_v list-lu -v
  timed list_target_v list-target -v
  timed list_view list-view -l "$guid"
  timed export export
  stop_daemon
fi

echo "result $([ "$fail" = 0 ] && echo PASS || echo FAIL)"
exit "$fail"
