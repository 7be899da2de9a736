#!/usr/bin/env bash
# A real two-node Pacemaker 2.1 + Corosync 3 cluster on this machine running the ALUA pair's
# agent ha/stmf-alua as a promotable clone (docs/pacemaker.md "Tested"), with writers through
# both nodes and scenarios that must not lose an acknowledged write.
#
#   scripts/pacemaker-pair.sh [--scenarios "move kill cut"] [--bin DIR] [--keep]
#
# What it builds (root only; exit 77 when it cannot):
#   - scripts/pair.sh --shared san --netns --takeover fenced --cluster-id 7: an stmfd SAN in this
#     namespace, node 0 and node 1 in network namespaces of their own (pair-netns.sh: a /28 of
#     10.201.0.0/16 no interface uses, veths to here and a veth between the nodes);
#   - in each node's namespace a private mount and UTS namespace (hostname n0 / n1) held by a
#     `sleep` process: tmpfs on /run and /dev/shm (libqb's IPC), temp dirs bind-mounted on
#     /var/lib/pacemaker, /var/lib/corosync, /etc/corosync and /usr/lib/ocf/resource.d (where
#     the agent is installed as ocf:stmf:stmf-alua); corosync -f (knet on the node-to-node
#     addresses, two_node) and pacemakerd -f run there, and every cluster command of this
#     script enters it with nsenter. Nothing of Pacemaker or Corosync runs outside them;
#   - stonith-enabled=false: fencing is at the storage (SCSI-3 persistent reservations on the
#     SAN LUN, alua.takeover fenced), not of the node; the clone with cibadmin;
#   - two stamped writers (test/pacemaker/stamped_writer.py) from this namespace, one through
#     each node's portal, falling back to the other portal as a multipath initiator would.
# Scenarios, each followed by: both writers acknowledged writes again, the longest pause:
#   move   crm_resource --move --promoted to the other node, then --clear
#   kill   SIGKILL of the promoted node's stmfd
#   cut    the link between the nodes down (corosync and the pair's link: a partition), 20 s,
#          then up again
# At the end the writers stop and the SAN LUN is read directly: every acknowledged block must
# hold its last acknowledged stamp. Everything started is stopped by pid and the namespaces
# and temp dirs are removed, also on failure (trap); --keep keeps the temp dir (logs).
set -uo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
bin=$src/build/tools
scenarios="move kill cut"
keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --scenarios) scenarios=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "usage: pacemaker-pair.sh [--scenarios \"move kill cut\"] [--bin DIR] [--keep]" >&2; exit 2 ;;
  esac
done
SKIP=77
CLUSTER_UP_S=120     # corosync membership and a DC
SETTLE_S=90          # a scenario's roles settle
CUT_S=20             # how long the partition lasts
CLONE=stmf-alua-clone
adm=$bin/stmfadm/stmfadm
writer=$src/test/pacemaker/stamped_writer.py

[ "$(id -u)" = 0 ] || { echo "SKIP: pacemaker-pair.sh needs root (network and mount namespaces)"; exit $SKIP; }
for t in corosync pacemakerd crm_mon cibadmin crm_resource nsenter unshare jq ocf-tester; do
  command -v "$t" >/dev/null || { echo "SKIP: $t is not installed (scripts/deps.sh --test)"; exit $SKIP; }
done
why=$("$src/scripts/pair-netns.sh" check 2>&1) || { echo "SKIP: $why"; exit $SKIP; }
[ -x "$bin/stmfd" ] || { echo "pacemaker-pair.sh: $bin/stmfd not found (build first)" >&2; exit 1; }

dir=$(mktemp -d /tmp/stmf-pcmk-XXXXXX)
chmod 755 "$dir"   # pacemaker's daemons (user hacluster) write their logs here
failed=0
holder=(); coro=(); pcmk=(); writers=()
log() { echo "[$(date +%T)] $*"; }
fail() { log "FAIL: $*"; failed=$((failed + 1)); }

stop_pid() {  # pid [signal]: signal it, wait up to 15 s, then SIGKILL
  local p=$1
  [ -n "$p" ] || return 0
  kill "-${2:-TERM}" "$p" 2>/dev/null || return 0
  for _ in $(seq 150); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
}
children() { ps -o pid= --ppid "$1" 2>/dev/null; }
cleanup() {
  local n p
  for p in "${writers[@]}"; do stop_pid "$p"; done
  # Pacemaker without stopping its resources (the pair is stopped below by pid): its
  # children first, then pacemakerd; then corosync; then the namespace holders.
  for n in 0 1; do
    p=${pcmk[$n]:-}
    [ -n "$p" ] || continue
    kill -STOP "$p" 2>/dev/null
    for c in $(children "$p"); do stop_pid "$c" KILL; done
    stop_pid "$p" KILL
  done
  for n in 0 1; do stop_pid "${coro[$n]:-}"; done
  for n in 0 1; do stop_pid "${holder[$n]:-}" KILL; done
  "$src/scripts/pair.sh" stop "$dir" >/dev/null 2>&1
  if [ "$failed" != 0 ] || [ -n "$keep" ]; then
    for n in 0 1; do
      echo "--- n$n pacemaker.log (last lines)"; tail -n 15 "$dir/n$n/pacemaker.log" 2>/dev/null
      echo "--- node$n.log (last lines)"; tail -n 8 "$dir/node$n.log" 2>/dev/null
    done
  fi
  if [ -n "$keep" ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- the pair -----------------------------------------------------------------------------
log "starting the pair (SAN, two nodes in network namespaces, takeover fenced)"
"$src/scripts/pair.sh" start "$dir" --bin "$bin" --shared san --netns --takeover fenced --cluster-id 7 --node-state --owner $$ \
  >"$dir/pair.out" 2>&1 || { cat "$dir/pair.out"; fail "the pair did not start"; exit 1; }
# shellcheck disable=SC1091
. "$dir/pair.env"
ns=("$NETNS0" "$NETNS1")
ring=("$LINK_ADDR0" "$LINK_ADDR1")

# --- the cluster nodes ----------------------------------------------------------------------
in_node() {  # N command...: in node N's namespaces (network, mount, UTS)
  local n=$1; shift
  nsenter --target "${holder[$n]}" --mount --uts --net -- "$@"
}
ra_dir=$(ls -d /usr/lib/ocf/resource.d)
for n in 0 1; do
  t=$dir/n$n
  mkdir -p "$t/lib-pacemaker"/{cib,pengine,blackbox,cores} "$t/lib-corosync" "$t/etc-corosync" "$t/resource.d/stmf"
  chown -R hacluster:haclient "$t/lib-pacemaker"; chmod 750 "$t/lib-pacemaker"/*
  chmod 755 "$t"
  for d in "$ra_dir"/*; do ln -s "$d" "$t/resource.d/$(basename "$d")"; done
  cp "$src/ha/stmf-alua" "$t/resource.d/stmf/stmf-alua"; chmod 755 "$t/resource.d/stmf/stmf-alua"
  touch "$t/pacemaker.log"; chown hacluster:haclient "$t/pacemaker.log"
  cat >"$t/etc-corosync/corosync.conf" <<CONF
totem {
  version: 2
  cluster_name: stmfpair
  transport: knet
  crypto_cipher: none
  crypto_hash: none
  token: 3000
}
nodelist {
  node {
    ring0_addr: ${ring[0]}
    name: n0
    nodeid: 1
  }
  node {
    ring0_addr: ${ring[1]}
    name: n1
    nodeid: 2
  }
}
quorum {
  provider: corosync_votequorum
  two_node: 1
}
logging {
  to_logfile: yes
  logfile: $t/corosync.log
  to_stderr: no
  to_syslog: no
  timestamp: on
}
CONF
  # The holder: a private mount and UTS namespace inside node N's network namespace.
  ip netns exec "${ns[$n]}" unshare --mount --uts --propagation private bash -c "
    hostname n$n
    mount -t tmpfs -o mode=755 tmpfs /run && mount -t tmpfs -o mode=1777 tmpfs /dev/shm &&
    mount --bind $t/lib-pacemaker /var/lib/pacemaker && mount --bind $t/lib-corosync /var/lib/corosync &&
    mount --bind $t/etc-corosync /etc/corosync && mount --bind $t/resource.d $ra_dir || exit 1
    touch $t/ready
    exec sleep infinity" >"$t/holder.log" 2>&1 &
  holder[$n]=$!
done
for n in 0 1; do
  for _ in $(seq 50); do [ -e "$dir/n$n/ready" ] && break; sleep 0.1; done
  [ -e "$dir/n$n/ready" ] || { cat "$dir/n$n/holder.log"; fail "node n$n's namespaces were not made"; exit 1; }
  # The holder is the `sleep` now (bash exec'ed it); nsenter enters its namespaces.
done
log "starting corosync and pacemaker in n0 and n1"
for n in 0 1; do
  in_node "$n" corosync -f >"$dir/n$n/corosync.out" 2>&1 &
  coro[$n]=$!
done
for n in 0 1; do
  for _ in $(seq 100); do in_node "$n" corosync-cfgtool -s >/dev/null 2>&1 && break; sleep 0.1; done
  in_node "$n" env PCMK_logfile="$dir/n$n/pacemaker.log" PCMK_debug=no pacemakerd -f >"$dir/n$n/pacemakerd.out" 2>&1 &
  pcmk[$n]=$!
done
up=""
for _ in $(seq $((CLUSTER_UP_S * 2))); do
  if in_node 0 crm_mon -1 2>/dev/null | grep -q "Online: \[ n0 n1 \]" &&
     in_node 0 crm_mon -1 2>/dev/null | grep -q "Current DC: n"; then up=1; break; fi
  sleep 0.5
done
[ -n "$up" ] || { in_node 0 crm_mon -1 2>&1 | head -20; fail "the cluster did not form in ${CLUSTER_UP_S} s"; exit 1; }
log "cluster up: $(in_node 0 crm_mon -1 2>/dev/null | grep -m1 'Current DC')"

# --- the configuration: cibadmin / crm_attribute ----------------------------------------------
in_node 0 crm_attribute --type crm_config --name stonith-enabled --update false
in_node 0 crm_attribute --type crm_config --name cluster-recheck-interval --update 30s
params() {  # node: the instance attributes of the agent on that node
  cat <<XML
    <instance_attributes id="stmf-alua-n$1" score="$((10 - $1))">
      <rule id="stmf-alua-n$1-rule" score="0">
        <expression id="stmf-alua-n$1-expr" attribute="#uname" operation="eq" value="n$1"/>
      </rule>
      <nvpair id="stmf-alua-n$1-config" name="config" value="$dir/node$1.json"/>
      <nvpair id="stmf-alua-n$1-socket" name="socket" value="$dir/node$1.sock"/>
      <nvpair id="stmf-alua-n$1-state-dir" name="state_dir" value="$dir/state$1"/>
      <nvpair id="stmf-alua-n$1-pidfile" name="pidfile" value="$dir/node$1.pid"/>
      <nvpair id="stmf-alua-n$1-logfile" name="logfile" value="$dir/node$1.log"/>
    </instance_attributes>
XML
}
cat >"$dir/clone.xml" <<XML
<clone id="$CLONE">
  <meta_attributes id="$CLONE-meta">
    <nvpair id="$CLONE-promotable" name="promotable" value="true"/>
    <nvpair id="$CLONE-promoted-max" name="promoted-max" value="1"/>
    <nvpair id="$CLONE-promoted-node-max" name="promoted-node-max" value="1"/>
    <nvpair id="$CLONE-clone-max" name="clone-max" value="2"/>
    <nvpair id="$CLONE-clone-node-max" name="clone-node-max" value="1"/>
    <nvpair id="$CLONE-notify" name="notify" value="true"/>
  </meta_attributes>
  <primitive id="stmf-alua" class="ocf" provider="stmf" type="stmf-alua">
    <instance_attributes id="stmf-alua-common" score="100">
      <nvpair id="stmf-alua-stmfd" name="stmfd" value="$bin/stmfd"/>
      <nvpair id="stmf-alua-stmfadm" name="stmfadm" value="$adm"/>
      <nvpair id="stmf-alua-lus" name="lus" value="$GUID"/>
    </instance_attributes>
$(params 0)
$(params 1)
    <meta_attributes id="stmf-alua-meta">
      <nvpair id="stmf-alua-failure-timeout" name="failure-timeout" value="60s"/>
    </meta_attributes>
    <operations>
      <op id="stmf-alua-start" name="start" interval="0" timeout="60s"/>
      <op id="stmf-alua-stop" name="stop" interval="0" timeout="60s"/>
      <op id="stmf-alua-promote" name="promote" interval="0" timeout="90s"/>
      <op id="stmf-alua-demote" name="demote" interval="0" timeout="60s"/>
      <op id="stmf-alua-notify" name="notify" interval="0" timeout="20s"/>
      <op id="stmf-alua-mon-p" name="monitor" interval="3s" timeout="30s" role="Promoted"/>
      <op id="stmf-alua-mon-u" name="monitor" interval="4s" timeout="30s" role="Unpromoted"/>
    </operations>
  </primitive>
</clone>
XML
in_node 0 cibadmin --create --scope resources --xml-file "$dir/clone.xml" || { fail "cibadmin refused the clone"; exit 1; }
log "clone $CLONE configured"

owner() {  # the node (0/1) whose stmfd has the LU active and not fenced, or "none"
  local n
  for n in 0 1; do
    [ "$("$adm" --socket "$dir/node$n.sock" --json list-lu -v 2>/dev/null |
         jq -r --arg g "$GUID" '.lus[] | select(.guid == $g) | .access_state + (if .fenced then "-fenced" else "" end)')" = active ] &&
      { echo "$n"; return; }
  done
  echo none
}
one_owner() {  # prints the owner once the cluster is idle and promotes the node that owns the LU
  local from=${1:-0} o
  in_node "$from" crm_resource --wait --timeout "${SETTLE_S}s" >/dev/null 2>&1
  for _ in $(seq $((SETTLE_S * 2))); do
    o=$(owner)
    [ "$o" != none ] && [ "$(promoted_on "$from")" = "n$o" ] && { echo "$o"; return 0; }
    sleep 0.5
  done
  return 1
}
promoted_on() {  # the node Pacemaker reports promoted (as seen from node $1), or "none"
  local s
  s=$(in_node "$1" crm_mon -1 2>/dev/null | sed -n 's/.*Promoted: \[ \(n[01]\) \].*/\1/p' | head -1)
  echo "${s:-none}"
}
settled() {  # settled N: the cluster (as node 0 sees it, or node $2) promotes n$1, whose stmfd owns the LU
  local want=$1 from=${2:-0}
  # No pending actions first (the cluster is idle), then the roles.
  in_node "$from" crm_resource --wait --timeout "${SETTLE_S}s" >/dev/null 2>&1
  for _ in $(seq $((SETTLE_S * 2))); do
    [ "$(promoted_on "$from")" = "n$want" ] && [ "$(owner)" = "$want" ] && return 0
    sleep 0.5
  done
  return 1
}
log "waiting for Pacemaker to promote the owner"
settled 0 || { in_node 0 crm_mon -1; fail "n0 (the owner) was not promoted"; exit 1; }
log "n0 promoted, owns the LU; n1 unpromoted (standby)"

# --- the writers ----------------------------------------------------------------------------
path() { local u=${1#iscsi://}; echo "${u%/*}"; }
pa=$(path "$URL_A"); pb=$(path "$URL_B")
python3 "$writer" write --paths "$pa,$pb" --node 0 --first 4096 --ledger "$dir/w0.json" 2>"$dir/w0.err" &
writers+=($!)
python3 "$writer" write --paths "$pb,$pa" --node 1 --first 8192 --ledger "$dir/w1.json" 2>"$dir/w1.err" &
writers+=($!)
sleep 3

# The writers' acknowledgements are only in their ledgers (written when they stop), so each
# scenario's "writes continue" is checked at the end from the acknowledgement times.
declare -a marks=()
scenario_mark() { marks+=("$1 $(date +%s.%N)"); }

other() { echo $((1 - $1)); }
for s in $scenarios; do
  cur=$(owner)
  [ "$cur" = 0 ] || [ "$cur" = 1 ] || { fail "$s: nobody owns the LU before the scenario"; break; }
  to=$(other "$cur")
  case "$s" in
    move)
      log "move: crm_resource --move --promoted to n$to"
      scenario_mark "move-start"
      in_node 0 crm_resource --move --resource "$CLONE" --promoted --node "n$to" >/dev/null 2>&1 ||
        fail "move: crm_resource --move refused"
      if settled "$to"; then log "move: n$to promoted and owns the LU"; else fail "move: n$to did not take over"; fi
      in_node 0 crm_resource --clear --resource "$CLONE" >/dev/null 2>&1
      scenario_mark "move-end" ;;
    kill)
      pid=$(cat "$dir/node$cur.pid")
      log "kill: SIGKILL of n$cur's stmfd (pid $pid), the promoted node"
      scenario_mark "kill-start"
      kill -KILL "$pid"
      # Pacemaker restarts it (the monitor finds it gone); whichever node then owns the LU
      # (the restarted one, its ownership in its state directory, or the peer, if it raced at
      # the storage first) must be the one promoted, the other unpromoted.
      sleep 8
      if o=$(one_owner); then log "kill: n$o promoted and owns the LU"; else fail "kill: no single promoted owner"; fi
      back=""
      for _ in $(seq $((SETTLE_S * 2))); do
        in_node 0 crm_mon -1 2>/dev/null | grep -q "Unpromoted: \[ n$(other "${o:-0}") \]" && { back=1; break; }
        sleep 0.5
      done
      if [ -n "$back" ]; then log "kill: n$(other "${o:-0}") runs unpromoted (standby)"; else fail "kill: n$(other "${o:-0}") is not unpromoted"; fi
      scenario_mark "kill-end" ;;
    cut)
      log "cut: the link between n0 and n1 down for ${CUT_S} s (a partition; n$cur promoted)"
      scenario_mark "cut-start"
      "$src/scripts/pair.sh" cut "$dir"
      sleep "$CUT_S"
      log "cut: during the partition n$to's side promotes ($(promoted_on "$to")), the owner is n$(owner)"
      "$src/scripts/pair.sh" restore "$dir"
      log "cut: link restored"
      if o=$(one_owner); then
        log "cut: one promoted node again, n$o, which owns the LU"
      else
        fail "cut: the cluster did not settle on one owner (owner $(owner), promoted $(promoted_on 0))"
      fi
      scenario_mark "cut-end" ;;
    *) fail "unknown scenario $s"; continue ;;
  esac
  in_node 0 crm_resource --cleanup --resource "$CLONE" >/dev/null 2>&1
  sleep 5
  scenario_mark "$s-after"
done
sleep 3

# --- stop the writers; writes continued? nothing lost? ---------------------------------------
for p in "${writers[@]}"; do kill -TERM "$p" 2>/dev/null; done
for p in "${writers[@]}"; do wait "$p"; done
writers=()
[ -s "$dir/w0.json" ] && [ -s "$dir/w1.json" ] || { cat "$dir"/w*.err; fail "a writer left no ledger"; exit 1; }
end=$(date +%s.%N)
for m in "${marks[@]}"; do
  name=${m% *}; t=${m#* }
  case "$name" in
    *-start) start_t=$t ;;
    *-after)
      read -r gap n < <(python3 "$writer" gap --ledger "$dir/w0.json" "$dir/w1.json" --from "$start_t" --to "$t")
      for w in 0 1; do
        k=$(python3 "$writer" gap --ledger "$dir/w$w.json" --from "$t" --to "$end" | cut -d' ' -f2)
        [ "${k:-0}" -gt 0 ] || fail "${name%-after}: writer $w acknowledged nothing after the scenario"
      done
      log "${name%-after}: longest pause without an acknowledged write: ${gap} s ($n acknowledged from its start until 5 s after it settled)" ;;
  esac
done
for w in 0 1; do
  log "writer $w: $(jq -r '.events | map(.[1]) | unique | join("; ")' "$dir/w$w.json" | cut -c1-300)"
done
san=$(path "$SAN_URL")
if out=$(python3 "$writer" audit --path "$san" --ledger "$dir/w0.json" "$dir/w1.json"); then
  log "$out"
else
  log "$out"; fail "the SAN audit found lost or torn writes"
fi
if [ "$failed" = 0 ]; then log "PASS: scenarios $scenarios"; exit 0; fi
log "FAILED: $failed check(s)"; exit 1
