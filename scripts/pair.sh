#!/usr/bin/env bash
# Starts a two-node ALUA pair on loopback (docs/alua.md): node 0 on 127.0.0.1 owns one LU
# (active), node 1 on 127.0.0.2 exports it as a standby LU that it proxies to node 0.
# Both nodes see the same backing file; only node 0 opens it. With --shared san the LU's
# blocks live on a LUN of a third target, the SAN (an stmfd, or tgt), which both nodes reach
# (store "iscsi"); with --netns the nodes run in network namespaces of their own
# (scripts/pair-netns.sh), so that their link can be cut while both reach the SAN
# (docs/failover.md "Two machines on a SAN").
#
#   scripts/pair.sh [options]            start, print the URLs, stop on Ctrl-C
#   scripts/pair.sh start DIR [options]  start in the background; DIR/pair.env has the URLs,
#                                        ports and sockets, DIR/*.pid the pids
#   scripts/pair.sh stop DIR             stop what `start DIR` started (by pid)
#   scripts/pair.sh restart DIR N        start node N (0 or 1) again with its configuration,
#                                        after it was stopped or killed (tests do this)
#   scripts/pair.sh restart DIR relayN   start relay N again (--carrier door)
#   scripts/pair.sh restart DIR san      start the SAN stmfd again (--shared san, --san stmfd)
#   scripts/pair.sh cut DIR              --netns: cut the link between the nodes (packets stop;
#                                        both still reach the SAN and their initiators)
#   scripts/pair.sh restore DIR          --netns: bring that link back
#   scripts/pair.sh cut-san DIR N        --netns --shared san: node N's packets to the SAN are
#                                        dropped (its initiators and the link stay up)
#   scripts/pair.sh restore-san DIR N    --netns --shared san: node N reaches the SAN again
#
# Options: --carrier tcp|door  (tcp: the daemons link directly, the default; door: each
#                               daemon talks to a stmfproxy relay, the relays link over TCP)
#          --size SIZE         LU size (default 1GiB), --block-size N (default 512)
#          --bin DIR           the build's tools folder (default build/tools)
#          --log-level LEVEL   stmfd log level (default info)
#          --insecure          plain TCP for the peer link (and the relays' link); by default
#                              scripts/pair-keys.sh makes DIR/keys and the link runs TLS 1.3,
#                              each node pinned to the other's certificate (docs/security.md)
#          --shared file|san   where the LU's blocks live: a file both nodes see (the default),
#                              or a SAN LUN (store "iscsi" on both nodes: node 0 owns the LU,
#                              node 1 keeps a standby record with its own backend login)
#          --san stmfd|tgt     the SAN of --shared san: a third stmfd serving one file-backed
#                              LU (the default), or tgt (scripts/tgt-peer.sh; needs root)
#          --netns             each node in a network namespace of its own (needs root);
#                              the SAN and the initiators stay in this one
#          --owner PID         --netns: the process that will stop the pair (default: the
#                              caller); namespaces of a dead owner are removed at the next start
#          --takeover MODE     write alua.takeover MODE (manual|fenced) into both nodes'
#                              configurations; absent: not written (manual)
#          --cluster-id N      write alua.cluster_id N (the SAN reservation keys' high half)
#          --node-state        each node with a state directory, DIR/state0 and DIR/state1
#                              (--state-dir: ownership and epochs survive a restart, as on a
#                              real node; scripts/pacemaker-pair.sh)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
cmd=run; dir=""
case "${1:-}" in
  start|stop|restart|cut|restore|cut-san|restore-san) cmd=$1; dir=${2:?"usage: pair.sh $1 DIR"}; shift 2 ;;
esac

pids_of() {  # every pid the pair started (DIR/*.pid)
  cat "$1"/*.pid 2>/dev/null || true
}
stop_pids() {  # pid... : SIGTERM, then SIGKILL after 10 s
  local p
  for p in "$@"; do kill "$p" 2>/dev/null || true; done
  for p in "$@"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
}
# The nodes and relays first, then the SAN they use, then the namespaces they ran in.
stop_pair() {
  local d=$1
  # shellcheck disable=SC2046
  stop_pids $(cat "$d"/node*.pid "$d"/relay*.pid 2>/dev/null || true)
  # shellcheck disable=SC2046
  stop_pids $(pids_of "$d")
  [ -d "$d/tgt" ] && { "$src/scripts/tgt-peer.sh" stop "$d/tgt" || true; }
  "$src/scripts/pair-netns.sh" destroy "$d" || true
}
bin=$src/build/tools
[ -f "${dir:-/nonexistent}/bin" ] && bin=$(cat "$dir/bin")
in_ns() {  # node-number command...: the command in node N's namespace (--netns), else here
  local n=$1; shift
  local ns=""
  [ -f "$dir/netns.env" ] && ns=$(sed -n "s/^NETNS$n=//p" "$dir/netns.env")
  if [ -n "$ns" ]; then exec ip netns exec "$ns" "$@"; else exec "$@"; fi
}
start_node() {  # node-number: stmfd with DIR/nodeN.json, pid in DIR/nodeN.pid, log appended
  # (with --node-state, its state directory DIR/stateN too)
  local n=$1 state=()
  [ -f "$dir/node-state" ] && state=(--state-dir "$dir/state$n")
  (in_ns "$n" "$bin/stmfd" --config "$dir/node$n.json" --socket "$dir/node$n.sock" "${state[@]}") >>"$dir/node$n.log" 2>&1 &
  echo $! >"$dir/node$n.pid"
}
start_relay() {  # relay-number: stmfproxy with the arguments in DIR/relayN.args, log appended
  local n=$1
  # shellcheck disable=SC2046
  (in_ns "$n" "$bin/stmfproxy/stmfproxy" $(cat "$dir/relay$n.args")) >>"$dir/relay$n.log" 2>&1 &
  echo $! >"$dir/relay$n.pid"
}
start_san() {  # the SAN stmfd of --shared san: DIR/san.json, pid in DIR/san.pid, log appended
  # With a state directory of its own, as a real SAN: its LU and its persistent reservations
  # (APTPL) survive a restart.
  mkdir -p "$dir/san-state"
  "$bin/stmfd" --config "$dir/san.json" --state-dir "$dir/san-state" --socket "$dir/san.sock" >>"$dir/san.log" 2>&1 &
  echo $! >"$dir/san.pid"
}
wait_port() {  # host port: 0 once something accepts there (10 s at most)
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

if [ "$cmd" = stop ]; then stop_pair "$dir"; exit 0; fi
if [ "$cmd" = cut ] || [ "$cmd" = restore ]; then
  [ -f "$dir/netns.env" ] || { echo "pair.sh: $cmd needs a pair started with --netns" >&2; exit 2; }
  exec "$src/scripts/pair-netns.sh" "$cmd" "$dir"
fi
if [ "$cmd" = cut-san ] || [ "$cmd" = restore-san ]; then
  n=${1:?"usage: pair.sh $cmd DIR N"}
  [ -f "$dir/netns.env" ] && grep -q '^SAN_PORT=' "$dir/pair.env" ||
    { echo "pair.sh: $cmd needs a pair started with --netns --shared san" >&2; exit 2; }
  exec "$src/scripts/pair-netns.sh" "$cmd" "$dir" "$n" "$(sed -n 's/^SAN_PORT=//p' "$dir/pair.env")"
fi
if [ "$cmd" = restart ] && [ "${1:-}" = san ]; then
  p=$(cat "$dir/san.pid" 2>/dev/null || true)
  for _ in $(seq 50); do { [ -n "$p" ] && kill -0 "$p" 2>/dev/null; } || break; sleep 0.1; done
  [ -n "$p" ] && kill -0 "$p" 2>/dev/null && { echo "pair.sh: the SAN (pid $p) is still running" >&2; exit 1; }
  start_san
  . "$dir/pair.env"
  wait_port "$SAN_HOST" "$SAN_PORT" || { echo "pair.sh: the SAN did not come back; see $dir/san.log" >&2; exit 1; }
  exit 0
fi
if [ "$cmd" = restart ] && [[ "${1:-}" == relay[01] ]]; then
  n=${1#relay}
  p=$(cat "$dir/relay$n.pid" 2>/dev/null || true)
  for _ in $(seq 50); do { [ -n "$p" ] && kill -0 "$p" 2>/dev/null; } || break; sleep 0.1; done
  [ -n "$p" ] && kill -0 "$p" 2>/dev/null && { echo "pair.sh: relay $n (pid $p) is still running" >&2; exit 1; }
  start_relay "$n"
  exit 0
fi
if [ "$cmd" = restart ]; then
  n=${1:?"usage: pair.sh restart DIR N"}
  p=$(cat "$dir/node$n.pid" 2>/dev/null || true)
  for _ in $(seq 50); do { [ -n "$p" ] && kill -0 "$p" 2>/dev/null; } || break; sleep 0.1; done
  [ -n "$p" ] && kill -0 "$p" 2>/dev/null && { echo "pair.sh: node $n (pid $p) is still running" >&2; exit 1; }
  start_node "$n"
  . "$dir/pair.env"
  port=$PORT_A; host=$HOST_A; [ "$n" = 1 ] && { port=$PORT_B; host=$HOST_B; }
  wait_port "$host" "$port" && exit 0
  echo "pair.sh: node $n did not come back; see $dir/node$n.log" >&2; exit 1
fi

carrier=tcp; size=1GiB; bs=512; level=info; insecure=""
shared=file; san=stmfd; netns=""; owner=$PPID; takeover=""; cluster_id=""; node_state=""
while [ $# -gt 0 ]; do
  case "$1" in
    --shared) shared=$2; shift 2 ;;
    --san) san=$2; shift 2 ;;
    --netns) netns=1; shift ;;
    --owner) owner=$2; shift 2 ;;
    --takeover) takeover=$2; shift 2 ;;
    --cluster-id) cluster_id=$2; shift 2 ;;
    --node-state) node_state=1; shift ;;
    --carrier) carrier=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --block-size) bs=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --log-level) level=$2; shift 2 ;;
    --insecure) insecure=1; shift ;;
    *) echo "pair.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
case "$carrier" in tcp|door) ;; *) echo "pair.sh: --carrier must be tcp or door" >&2; exit 2 ;; esac
case "$shared" in file|san) ;; *) echo "pair.sh: --shared must be file or san" >&2; exit 2 ;; esac
case "$san" in stmfd|tgt) ;; *) echo "pair.sh: --san must be stmfd or tgt" >&2; exit 2 ;; esac
case "$takeover" in ""|manual|fenced) ;; *) echo "pair.sh: --takeover must be manual or fenced" >&2; exit 2 ;; esac
case "$cluster_id" in ""|[1-9]|[1-9]*[0-9]) ;; *) echo "pair.sh: --cluster-id must be a number >= 1" >&2; exit 2 ;; esac
[ -x "$bin/stmfd" ] || { echo "pair.sh: $bin/stmfd not found (build first: scripts/build.sh)" >&2; exit 1; }
if [ "$carrier" = door ]; then
  [ -x "$bin/stmfproxy/stmfproxy" ] || { echo "pair.sh: $bin/stmfproxy/stmfproxy not found" >&2; exit 1; }
fi

if [ "$cmd" = run ]; then
  owner=$$
  dir=$(mktemp -d /tmp/stmf-pair-XXXXXX)
  trap 'stop_pair "$dir"; echo "pair stopped; logs kept in $dir"' EXIT
  trap 'exit 0' INT TERM
fi
mkdir -p "$dir"
echo "$bin" >"$dir/bin"
if [ -n "$node_state" ]; then touch "$dir/node-state"; else rm -f "$dir/node-state"; fi
keys=$dir/keys
if [ -z "$insecure" ]; then
  "$src/scripts/pair-keys.sh" "$keys" >/dev/null
  tls_a="\"tls\": {\"cert\": \"$keys/node0.crt\", \"key\": \"$keys/node0.key\", \"peer_cert\": \"$keys/node1.crt\"}"
  tls_b="\"tls\": {\"cert\": \"$keys/node1.crt\", \"key\": \"$keys/node1.key\", \"peer_cert\": \"$keys/node0.crt\"}"
  relay_tls_a="--tls-cert $keys/node0.crt --tls-key $keys/node0.key --tls-peer-cert $keys/node1.crt"
  relay_tls_b="--tls-cert $keys/node1.crt --tls-key $keys/node1.key --tls-peer-cert $keys/node0.crt"
  keys_env=$keys
else
  keys_env=""
  tls_a='"insecure": true'; tls_b=$tls_a
  relay_tls_a=--insecure; relay_tls_b=--insecure
fi

free_ports() {  # N free TCP ports on address $1 (N = $2, default 2; all held while chosen:
  # one at a time, the kernel may hand out the same port twice)
  python3 -c 'import socket,sys
ss = [socket.socket() for _ in range(int(sys.argv[2]))]
for s in ss: s.bind((sys.argv[1], 0))
print(*(s.getsockname()[1] for s in ss))' "$1" "${2:-2}"
}
stop_nodes() {  # the nodes and relays of one launch attempt (the SAN and namespaces stay)
  # shellcheck disable=SC2046
  stop_pids $(cat "$1"/node*.pid "$1"/relay*.pid 2>/dev/null || true)
}
iqn_a=iqn.2026-11.org.example:pair.node0; iqn_b=iqn.2026-11.org.example:pair.node1
guid=600144F0000000000000000000000A1A
backing=$dir/lu0.img

# Where the nodes listen: loopback addresses, or each node's address in its namespace (there
# the ports are fixed: nothing else listens in a fresh namespace). LA/LB: the nodes' ends of
# the peer link (the same addresses on loopback).
A=127.0.0.1; B=127.0.0.2; LA=$A; LB=$B
san_hosts=(127.0.0.3 127.0.0.3)  # the SAN's address as node 0 and node 1 reach it
if [ -n "$netns" ]; then
  "$src/scripts/pair-netns.sh" create "$dir" "$owner" >/dev/null ||
    { echo "pair.sh: the network namespaces could not be made" >&2; exit 1; }
  # shellcheck disable=SC1091
  . "$dir/netns.env"
  A=$NODE_ADDR0; B=$NODE_ADDR1; LA=$LINK_ADDR0; LB=$LINK_ADDR1
  san_hosts=("$SAN_ADDR0" "$SAN_ADDR1")
fi
alua_extra=""
[ -n "$takeover" ] && alua_extra+=", \"takeover\": \"$takeover\""
[ -n "$cluster_id" ] && alua_extra+=", \"cluster_id\": $cluster_id"

# --shared san: the SAN target, started once (launch attempts only restart the nodes). Its
# LU's file is DIR/san.img (BACKING in pair.env); the nodes log in to it as initiators.
san_port=""; san_iqn=""; san_lun=""
if [ "$shared" = san ]; then
  backing=$dir/san.img
  truncate -s "$(numfmt --from=iec "${size%iB}")" "$backing"
  read -r san_port < <(free_ports "${san_hosts[0]}" 1)
  if [ "$san" = tgt ]; then
    # shellcheck disable=SC2046
    url=$("$src/scripts/tgt-peer.sh" start "$dir/tgt" "$san_port" "$backing" $(printf '%s\n' "${san_hosts[@]}" | sort -u) | tail -1) ||
      { echo "pair.sh: tgt did not start; see $dir/tgt/tgtd.log" >&2; stop_pair "$dir"; exit 1; }
    san_iqn=${url#iscsi://*/}; san_lun=${san_iqn##*/}; san_iqn=${san_iqn%/*}
  else
    san_iqn=iqn.2026-12.org.example:pair.san; san_lun=0
    for attempt in 1 2 3 4 5; do
      portals=$(printf '"%s:'"$san_port"'", ' $(printf '%s\n' "${san_hosts[@]}" | sort -u)); portals=${portals%, }
      cat >"$dir/san.json" <<JSON
{"portals": [$portals], "log_level": "$level",
 "targets": [{"iqn": "$san_iqn", "luns": [{"lun": 0, "backing": "$backing", "size": "$size", "block_size": $bs}]}]}
JSON
      rm -rf "$dir/san-state" "$dir/san.log"
      start_san
      wait_port "${san_hosts[0]}" "$san_port" && kill -0 "$(cat "$dir/san.pid")" 2>/dev/null && break
      stop_pids "$(cat "$dir/san.pid")"
      # The port picked above was taken before the SAN bound it: pick again.
      if [ "$attempt" -lt 5 ] && grep -q "Address already in use" "$dir/san.log" 2>/dev/null; then
        read -r san_port < <(free_ports "${san_hosts[0]}" 1); continue
      fi
      echo "pair.sh: the SAN did not start; see $dir/san.log" >&2; tail -n 20 "$dir/san.log" >&2; stop_pair "$dir"; exit 1
    done
  fi
fi
# The LU as node N configures it: the shared file, or the SAN LUN through node N's own login.
lu_json() {  # node-number
  if [ "$shared" = san ]; then
    printf '"guid": "%s", "store": "iscsi", "block_size": %s, "backend": {"url": "iscsi://%s:%s/%s/%s", "initiator": "iqn.2026-11.org.example:pair.node%s-store"}' \
      "$guid" "$bs" "${san_hosts[$1]}" "$san_port" "$san_iqn" "$san_lun" "$1"
  else
    printf '"guid": "%s", "backing": "%s", "size": "%s", "block_size": %s' "$guid" "$backing" "$size" "$bs"
  fi
}

# One attempt: fresh ports, configurations, both nodes (and relays); 0 when the pair is up,
# 2 when a port was taken meanwhile (try again), 1 on any other failure.
launch() {
  if [ -n "$netns" ]; then
    port_a=3260; port_b=3260; link=3270; relay=3271
  else
    read -r port_a relay < <(free_ports $A)
    read -r port_b link < <(free_ports $B)
  fi
  if [ "$carrier" = door ]; then
    alua_a="\"alua\": {\"enabled\": true, \"node\": 0, \"carrier\": \"door\"$alua_extra}"
    alua_b="\"alua\": {\"enabled\": true, \"node\": 1, \"carrier\": \"door\"$alua_extra}"
  else
    # Node 1 accepts the link only from node 0's address (the port of its "peer" is not used).
    alua_a="\"alua\": {\"enabled\": true, \"node\": 0, \"peer\": \"$LB:$link\", $tls_a$alua_extra}"
    alua_b="\"alua\": {\"enabled\": true, \"node\": 1, \"listen\": \"$LB:$link\", \"peer\": \"$LA:$link\", $tls_b$alua_extra}"
  fi
  # Node 0: the LU (active here) and a view for it on its own target.
  cat >"$dir/node0.json" <<JSON
{"portals": ["$A:$port_a"], "log_level": "$level",
 "targets": [{"iqn": "$iqn_a", "luns": [{"lun": 0, $(lu_json 0)}]}],
 $alua_a}
JSON
  # Node 1: its own target and a view for the same GUID, which is a standby LU here. On a SAN
  # node 1 keeps a standby record of the LU with its own login to the SAN LUN: the LU is
  # configured on both machines, owned by node 0 (docs/configuration.md "Ownership epochs").
  standby_record=""
  [ "$shared" = san ] && standby_record="\"lus\": [{$(lu_json 1), \"standby\": true}],"
  cat >"$dir/node1.json" <<JSON
{"portals": ["$B:$port_b"], "log_level": "$level",
 "targets": [{"iqn": "$iqn_b"}], $standby_record
 "target_groups": [{"name": "node1", "members": ["$iqn_b"]}],
 "views": [{"guid": "$guid", "target_group": "node1", "lun": 0}],
 $alua_b}
JSON

  rm -f "$dir"/node*.pid "$dir"/relay*.pid
  start_node 0
  start_node 1
  if [ "$carrier" = door ]; then
    echo "--socket $dir/node0.sock --listen $LA:$relay $relay_tls_a" >"$dir/relay0.args"
    echo "--socket $dir/node1.sock --connect $LA:$relay --retry-ms 200 $relay_tls_b" >"$dir/relay1.args"
    start_relay 0
    start_relay 1
  fi
  cat >"$dir/pair.env" <<ENV
URL_A=iscsi://$A:$port_a/$iqn_a/0
URL_B=iscsi://$B:$port_b/$iqn_b/0
HOST_A=$A
HOST_B=$B
PORT_A=$port_a
PORT_B=$port_b
LINK_PORT=$link
RELAY_PORT=$relay
SOCK_A=$dir/node0.sock
SOCK_B=$dir/node1.sock
GUID=$guid
BACKING=$backing
CARRIER=$carrier
KEYS=$keys_env
SHARED=$shared
ENV
  if [ "$shared" = san ]; then
    cat >>"$dir/pair.env" <<ENV
SAN=$san
SAN_HOST=${san_hosts[0]}
SAN_PORT=$san_port
SAN_URL=iscsi://${san_hosts[0]}:$san_port/$san_iqn/$san_lun
ENV
  fi
  [ -n "$netns" ] && cat "$dir/netns.env" >>"$dir/pair.env"

  # Ready when both portals answer, node 1 has the standby LU (the link is up) and node 0 has
  # settled ownership with it (its LU no longer held Transitioning).
  ready=""
  for _ in $(seq 300); do
    if (exec 3<>"/dev/tcp/$A/$port_a") 2>/dev/null && (exec 3<>"/dev/tcp/$B/$port_b") 2>/dev/null &&
       STMFD_SOCKET=$dir/node1.sock "$bin/stmfadm/stmfadm" list-alua-state --json 2>/dev/null |
         grep -q '"link":"up".*"standby_lus":[1-9]' &&
       STMFD_SOCKET=$dir/node0.sock "$bin/stmfadm/stmfadm" list-alua-state --json 2>/dev/null |
         grep -q '"ownership_hold":false'; then
      ready=1; break
    fi
    # The link's listening port was taken meanwhile (stmfd keeps retrying it): pick again.
    if grep -q "cannot listen on .*Address already in use" "$dir/node1.log" 2>/dev/null; then
      stop_nodes "$dir"; return 2
    fi
    for p in $(pids_of "$dir"); do
      kill -0 "$p" 2>/dev/null && continue
      stop_nodes "$dir"
      # A port picked above was taken by another process before our daemon bound it: pick again.
      grep -q "Address already in use" "$dir"/node*.log "$dir"/relay*.log 2>/dev/null && return 2
      echo "pair.sh: a process exited; logs in $dir" >&2; tail -n 20 "$dir"/*.log >&2; return 1
    done
    sleep 0.1
  done
  if [ -z "$ready" ]; then
    echo "pair.sh: the pair did not come up in 30 s; logs in $dir" >&2
    tail -n 20 "$dir"/*.log >&2; stop_nodes "$dir"; return 1
  fi
}
for attempt in 1 2 3 4 5; do
  rc=0; launch || rc=$?
  [ "$rc" = 0 ] && break
  [ "$rc" = 2 ] && [ "$attempt" -lt 5 ] && { rm -f "$dir"/node*.log "$dir"/relay*.log; continue; }
  [ "$rc" = 2 ] && { echo "pair.sh: ports kept being taken; logs in $dir" >&2; tail -n 20 "$dir"/*.log >&2; }
  stop_pair "$dir"
  exit 1
done

if [ "$cmd" = start ]; then cat "$dir/pair.env"; exit 0; fi
# shellcheck disable=SC1091
. "$dir/pair.env"
echo "ALUA pair up ($carrier link, shared $shared${netns:+, namespaces $NETNS0 $NETNS1}), logs in $dir"
[ "$shared" = san ] && echo "  SAN ($san):       $SAN_URL"
echo "  node 0 (active):  $URL_A      stmfadm: STMFD_SOCKET=$SOCK_A"
echo "  node 1 (standby): $URL_B      stmfadm: STMFD_SOCKET=$SOCK_B"
echo "Ctrl-C stops them."
while :; do
  for p in $(pids_of "$dir"); do kill -0 "$p" 2>/dev/null || { echo "a process exited; logs in $dir"; exit 1; }; done
  sleep 1
done
