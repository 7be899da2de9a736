#!/usr/bin/env bash
# Starts a two-node ALUA pair on loopback (docs/alua.md): node 0 on 127.0.0.1 owns one LU
# (active), node 1 on 127.0.0.2 exports it as a standby LU that it proxies to node 0.
# Both nodes see the same backing file; only node 0 opens it.
#
#   scripts/pair.sh [options]            start, print the URLs, stop on Ctrl-C
#   scripts/pair.sh start DIR [options]  start in the background; DIR/pair.env has the URLs,
#                                        ports and sockets, DIR/*.pid the pids
#   scripts/pair.sh stop DIR             stop what `start DIR` started (by pid)
#   scripts/pair.sh restart DIR N        start node N (0 or 1) again with its configuration,
#                                        after it was stopped or killed (tests do this)
#   scripts/pair.sh restart DIR relayN   start relay N again (--carrier door)
#
# Options: --carrier tcp|door  (tcp: the daemons link directly, the default; door: each
#                               daemon talks to a stmfproxy relay, the relays link over TCP)
#          --size SIZE         LU size (default 1GiB), --block-size N (default 512)
#          --bin DIR           the build's tools folder (default build/tools)
#          --log-level LEVEL   stmfd log level (default info)
#          --insecure          plain TCP for the peer link (and the relays' link); by default
#                              scripts/pair-keys.sh makes DIR/keys and the link runs TLS 1.3,
#                              each node pinned to the other's certificate (docs/security.md)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
cmd=run; dir=""
case "${1:-}" in
  start|stop|restart) cmd=$1; dir=${2:?"usage: pair.sh $1 DIR"}; shift 2 ;;
esac

pids_of() {  # every pid the pair started (DIR/*.pid)
  cat "$1"/*.pid 2>/dev/null || true
}
stop_pair() {
  local d=$1 p
  for p in $(pids_of "$d"); do kill "$p" 2>/dev/null || true; done
  for p in $(pids_of "$d"); do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
}
bin=$src/build/tools
[ -f "${dir:-/nonexistent}/bin" ] && bin=$(cat "$dir/bin")
start_node() {  # node-number: stmfd with DIR/nodeN.json, pid in DIR/nodeN.pid, log appended
  local n=$1
  "$bin/stmfd" --config "$dir/node$n.json" --socket "$dir/node$n.sock" >>"$dir/node$n.log" 2>&1 &
  echo $! >"$dir/node$n.pid"
}
start_relay() {  # relay-number: stmfproxy with the arguments in DIR/relayN.args, log appended
  local n=$1
  # shellcheck disable=SC2046
  "$bin/stmfproxy/stmfproxy" $(cat "$dir/relay$n.args") >>"$dir/relay$n.log" 2>&1 &
  echo $! >"$dir/relay$n.pid"
}

if [ "$cmd" = stop ]; then stop_pair "$dir"; exit 0; fi
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
  port=$PORT_A; host=127.0.0.1; [ "$n" = 1 ] && { port=$PORT_B; host=127.0.0.2; }
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && exit 0; sleep 0.1; done
  echo "pair.sh: node $n did not come back; see $dir/node$n.log" >&2; exit 1
fi

carrier=tcp; size=1GiB; bs=512; level=info; insecure=""
while [ $# -gt 0 ]; do
  case "$1" in
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
[ -x "$bin/stmfd" ] || { echo "pair.sh: $bin/stmfd not found (build first: scripts/build.sh)" >&2; exit 1; }
if [ "$carrier" = door ]; then
  [ -x "$bin/stmfproxy/stmfproxy" ] || { echo "pair.sh: $bin/stmfproxy/stmfproxy not found" >&2; exit 1; }
fi

if [ "$cmd" = run ]; then
  dir=$(mktemp -d /tmp/stmf-pair-XXXXXX)
  trap 'stop_pair "$dir"; echo "pair stopped; logs kept in $dir"' EXIT
  trap 'exit 0' INT TERM
fi
mkdir -p "$dir"
echo "$bin" >"$dir/bin"
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

free_ports() {  # two distinct free TCP ports on address $1 (both held while chosen: one at a
  # time, the kernel may hand out the same port twice)
  python3 -c 'import socket,sys
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind((sys.argv[1], 0))
print(*(s.getsockname()[1] for s in ss))' "$1"
}
iqn_a=iqn.2026-11.org.example:pair.node0; iqn_b=iqn.2026-11.org.example:pair.node1
guid=600144F0000000000000000000000A1A
backing=$dir/lu0.img

# One attempt: fresh ports, configurations, both nodes (and relays); 0 when the pair is up,
# 2 when a port was taken meanwhile (try again), 1 on any other failure.
launch() {
  read -r port_a relay < <(free_ports $A)
  read -r port_b link < <(free_ports $B)
  if [ "$carrier" = door ]; then
    alua_a='"alua": {"enabled": true, "node": 0, "carrier": "door"}'
    alua_b='"alua": {"enabled": true, "node": 1, "carrier": "door"}'
  else
    # Node 1 accepts the link only from node 0's address (the port of its "peer" is not used).
    alua_a="\"alua\": {\"enabled\": true, \"node\": 0, \"peer\": \"$B:$link\", $tls_a}"
    alua_b="\"alua\": {\"enabled\": true, \"node\": 1, \"listen\": \"$B:$link\", \"peer\": \"$A:$link\", $tls_b}"
  fi
  # Node 0: the LU (active here) and a view for it on its own target.
  cat >"$dir/node0.json" <<JSON
{"portals": ["$A:$port_a"], "log_level": "$level",
 "targets": [{"iqn": "$iqn_a", "luns": [{"lun": 0, "guid": "$guid", "backing": "$backing",
                                            "size": "$size", "block_size": $bs}]}],
 $alua_a}
JSON
  # Node 1: its own target and a view for the same GUID, which is a standby LU here.
  cat >"$dir/node1.json" <<JSON
{"portals": ["$B:$port_b"], "log_level": "$level",
 "targets": [{"iqn": "$iqn_b"}],
 "target_groups": [{"name": "node1", "members": ["$iqn_b"]}],
 "views": [{"guid": "$guid", "target_group": "node1", "lun": 0}],
 $alua_b}
JSON

  rm -f "$dir"/*.pid
  start_node 0
  start_node 1
  if [ "$carrier" = door ]; then
    echo "--socket $dir/node0.sock --listen $A:$relay $relay_tls_a" >"$dir/relay0.args"
    echo "--socket $dir/node1.sock --connect $A:$relay --retry-ms 200 $relay_tls_b" >"$dir/relay1.args"
    start_relay 0
    start_relay 1
  fi
  cat >"$dir/pair.env" <<ENV
URL_A=iscsi://$A:$port_a/$iqn_a/0
URL_B=iscsi://$B:$port_b/$iqn_b/0
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
ENV

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
      stop_pair "$dir"; return 2
    fi
    for p in $(pids_of "$dir"); do
      kill -0 "$p" 2>/dev/null && continue
      stop_pair "$dir"
      # A port picked above was taken by another process before our daemon bound it: pick again.
      grep -q "Address already in use" "$dir"/*.log 2>/dev/null && return 2
      echo "pair.sh: a process exited; logs in $dir" >&2; tail -n 20 "$dir"/*.log >&2; return 1
    done
    sleep 0.1
  done
  if [ -z "$ready" ]; then
    echo "pair.sh: the pair did not come up in 30 s; logs in $dir" >&2
    tail -n 20 "$dir"/*.log >&2; stop_pair "$dir"; return 1
  fi
}
A=127.0.0.1; B=127.0.0.2
for attempt in 1 2 3 4 5; do
  rc=0; launch || rc=$?
  [ "$rc" = 0 ] && break
  [ "$rc" = 2 ] && [ "$attempt" -lt 5 ] && { rm -f "$dir"/*.log; continue; }
  [ "$rc" = 2 ] && { echo "pair.sh: ports kept being taken; logs in $dir" >&2; tail -n 20 "$dir"/*.log >&2; }
  exit 1
done

if [ "$cmd" = start ]; then cat "$dir/pair.env"; exit 0; fi
# shellcheck disable=SC1091
. "$dir/pair.env"
echo "ALUA pair up ($carrier link), logs in $dir"
echo "  node 0 (active):  $URL_A      stmfadm: STMFD_SOCKET=$SOCK_A"
echo "  node 1 (standby): $URL_B      stmfadm: STMFD_SOCKET=$SOCK_B"
echo "Ctrl-C stops both."
while :; do
  for p in $(pids_of "$dir"); do kill -0 "$p" 2>/dev/null || { echo "a process exited; logs in $dir"; exit 1; }; done
  sleep 1
done
