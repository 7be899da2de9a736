#!/usr/bin/env bash
# The OCF agent ha/stmf-alua (label `pacemaker`) against a real ALUA pair on loopback, started
# here with scripts/pair.sh on an stmfd SAN with alua.takeover "fenced" (docs/pacemaker.md):
#   1. resource-agents' ocf-tester on node 1 (its stop kills node 1, its starts start it again
#      through the agent, its promote/demote move the LU with planned switchovers);
#   2. what ocf-tester does not check: monitor answers 8 on the owner and 0 on the standby,
#      before and after each promote/demote, on both nodes, and the daemons agree;
#   3. the fenced takeover: node 0 (the owner) killed with SIGKILL, promote on node 1 waits for
#      its race at the storage and answers 0 with node 1 the owner (epoch raised); node 0
#      started again through the agent comes back unpromoted (standby);
#   4. without fencing at the storage (a file-backed pair, takeover manual): the owner killed,
#      promote on the survivor is refused (1, "no fencing") and it stays standby.
# Usage: ocf_agent_test.sh BUILD_DIR
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: ocf_agent_test.sh BUILD_DIR}" && pwd)
agent=$src/ha/stmf-alua
adm=$build/tools/stmfadm/stmfadm
SKIP=77
for t in ocf-tester jq; do
  command -v "$t" >/dev/null || { echo "SKIP: $t is not installed (scripts/deps.sh --test)"; exit $SKIP; }
done
[ -r /usr/lib/ocf/lib/heartbeat/ocf-shellfuncs ] || { echo "SKIP: resource-agents is not installed"; exit $SKIP; }

fails=0
dirs=()
cleanup() {
  local d
  for d in "${dirs[@]}"; do "$src/scripts/pair.sh" stop "$d" >/dev/null 2>&1; done
  for d in "${dirs[@]}"; do [ "$fails" = 0 ] && rm -rf "$d"; done
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
check() {  # expected-rc what command...
  local want=$1 what=$2 rc; shift 2
  "$@"; rc=$?
  if [ "$rc" = "$want" ]; then echo "ok: $what -> $rc"; else fail "$what -> $rc, expected $want"; fi
}
start_pair() {  # DIR pair.sh options...: starts the pair, 0 when up
  local d=$1; shift
  dirs+=("$d")
  "$src/scripts/pair.sh" start "$d" --bin "$build/tools" "$@" >"$d/start.out" 2>&1 ||
    { cat "$d/start.out"; return 1; }
}
# The agent on node N of pair DIR: ra DIR N action [extra environment...]
ra() {
  local d=$1 n=$2 a=$3; shift 3
  env OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE="stmf$n" __OCF_ACTION="$a" \
    OCF_RESKEY_stmfd="$build/tools/stmfd" OCF_RESKEY_stmfadm="$adm" \
    OCF_RESKEY_config="$d/node$n.json" OCF_RESKEY_socket="$d/node$n.sock" \
    OCF_RESKEY_pidfile="$d/node$n.pid" OCF_RESKEY_logfile="$d/node$n.log" \
    OCF_RESKEY_lus="$GUID" OCF_RESKEY_CRM_meta_interval=10000 "$@" "$agent" "$a" 2>>"$d/agent.log"
}
access() {  # DIR N: the LU's access state on node N (active/standby), with ",fenced" if fenced
  "$adm" --socket "$1/node$2.sock" --json list-lu -v 2>/dev/null |
    jq -r --arg g "$GUID" '.lus[] | select(.guid == $g) | .access_state + (if .fenced then ",fenced" else "" end)'
}
gone() {  # pid: waits (5 s at most) until the killed process has gone or is a zombie
  for _ in $(seq 50); do
    [ -e "/proc/$1" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ] || return 0
    sleep 0.1
  done
}
epoch() { "$adm" --socket "$1/node$2.sock" --json list-lu -v 2>/dev/null | jq -r '.lus[0].epoch'; }

# --- 1 and 2: ocf-tester, then the roles as monitor reports them --------------------------
d=$(mktemp -d /tmp/stmf-pcmk-ocf-XXXXXX)
start_pair "$d" --shared san --takeover fenced --cluster-id 7 || { echo "FAIL: the pair did not start"; exit 1; }
# shellcheck disable=SC1091
. "$d/pair.env"
check 0 "ocf-tester on node 1" ocf-tester -n stmf1 -o stmfd="$build/tools/stmfd" -o stmfadm="$adm" \
  -o config="$d/node1.json" -o socket="$d/node1.sock" -o pidfile="$d/node1.pid" \
  -o logfile="$d/node1.log" -o lus="$GUID" -o peer="$HOST_A:$LINK_PORT" "$agent"
# ocf-tester ends with node 1 stopped and node 0 the owner.
check 7 "node 1 monitor after ocf-tester (stopped)" ra "$d" 1 monitor
check 8 "node 0 monitor (owner)" ra "$d" 0 monitor
check 0 "node 1 start" ra "$d" 1 start
check 0 "node 1 monitor (standby)" ra "$d" 1 monitor
check 0 "node 1 probe (standby)" ra "$d" 1 monitor OCF_RESKEY_CRM_meta_interval=0
check 8 "node 0 probe (owner)" ra "$d" 0 monitor OCF_RESKEY_CRM_meta_interval=0
check 0 "node 1 promote (planned switchover)" ra "$d" 1 promote
check 8 "node 1 monitor after promote" ra "$d" 1 monitor
check 0 "node 0 monitor after node 1's promote" ra "$d" 0 monitor
[ "$(access "$d" 1)/$(access "$d" 0)" = active/standby ] || fail "after promote: node 1 $(access "$d" 1), node 0 $(access "$d" 0)"
check 0 "node 1 demote (planned switchover back)" ra "$d" 1 demote
check 0 "node 1 monitor after demote" ra "$d" 1 monitor
check 8 "node 0 monitor after node 1's demote" ra "$d" 0 monitor
check 0 "node 0 promote of the owner (nothing to do)" ra "$d" 0 promote
check 0 "node 1 demote of the standby (nothing to do)" ra "$d" 1 demote
check 6 "validate-all with a bad GUID" ra "$d" 1 validate-all OCF_RESKEY_lus=xyz
check 6 "validate-all with a peer the configuration does not name" ra "$d" 1 validate-all OCF_RESKEY_peer=192.0.2.1:1
ra "$d" 1 meta-data | grep -q '<action name="promote"' || fail "meta-data has no promote action"

# --- 3: the owner dies: the fenced takeover --------------------------------------------------
e0=$(epoch "$d" 0)
kill -KILL "$(cat "$d/node0.pid")"
gone "$(cat "$d/node0.pid")"
check 7 "node 0 monitor after SIGKILL" ra "$d" 0 monitor
check 0 "node 1 promote with the link down (fenced takeover)" ra "$d" 1 promote OCF_RESKEY_CRM_meta_timeout=60000
check 8 "node 1 monitor after the takeover" ra "$d" 1 monitor
e1=$(epoch "$d" 1)
[ "${e1:-0}" -gt "${e0:-0}" ] 2>/dev/null || fail "node 1's epoch $e1 is not above node 0's $e0"
grep -q "won the race at the storage\|racing for it at the storage" "$d/node1.log" || fail "node 1 did not race at the storage"
check 0 "node 0 start (back as standby)" ra "$d" 0 start
check 0 "node 0 monitor after its start" ra "$d" 0 monitor
[ "$(access "$d" 0)" = standby ] || fail "node 0 is $(access "$d" 0), not standby"
check 8 "node 1 monitor still owner" ra "$d" 1 monitor
check 0 "node 0 promote back (planned switchover)" ra "$d" 0 promote
check 8 "node 0 monitor" ra "$d" 0 monitor
check 0 "node 1 stop" ra "$d" 1 stop
check 0 "node 1 stop again" ra "$d" 1 stop

# --- 4: no fencing at the storage: the takeover is refused ------------------------------------
f=$(mktemp -d /tmp/stmf-pcmk-ocf-XXXXXX)
start_pair "$f" || { echo "FAIL: the file-backed pair did not start"; exit 1; }
kill -KILL "$(cat "$f/node0.pid")"
gone "$(cat "$f/node0.pid")"
check 1 "promote without fencing, the owner gone (refused)" ra "$f" 1 promote OCF_RESKEY_CRM_meta_timeout=20000
grep -q "no fencing at the storage" "$f/agent.log" || fail "the refusal does not say why"
check 0 "monitor after the refusal (still standby)" ra "$f" 1 monitor

if [ "$fails" != 0 ]; then
  echo "$fails check(s) failed; logs in ${dirs[*]}"
  for x in "${dirs[@]}"; do tail -n 20 "$x/agent.log" 2>/dev/null; done
  exit 1
fi
echo "all checks passed"
