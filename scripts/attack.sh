#!/usr/bin/env bash
# Replays every attack of issue 14 (docs/security.md) against daemons this script starts, each
# bounded in time, and prints one line per attack: withstood or not. Exit status 0 when every
# attack was withstood.
#
#   scripts/attack.sh [--bin BUILD_DIR/tools] [--only NAME]
#
# One stmfd (a ram LU behind an open target, and a CHAP target for the CHAP replays) on
# 127.0.0.1 and a free port, its management socket and log in a scratch directory; an ALUA
# pair from scripts/pair.sh for the peer-link replay. The replays are test/attack/*.py (python3,
# standard library only); each says in its header what it sends and what "withstood" means.
# Every daemon is stopped by its pid on exit, whatever happened.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=build/tools
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    *) echo "usage: scripts/attack.sh [--bin DIR] [--only NAME]" >&2; exit 2 ;;
  esac
done
[ -x "$bin/stmfd" ] || { echo "attack.sh: no $bin/stmfd (build first: scripts/build.sh)" >&2; exit 2; }

dir=$(mktemp -d /tmp/stmf-attack-XXXXXX)
pid=""
pair=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  [ -n "$pair" ] && scripts/pair.sh stop "$pair" >/dev/null 2>&1
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
open_iqn=iqn.2026-11.org.example:attack
chap_iqn=iqn.2026-11.org.example:attack-chap
alice=iqn.2026-11.org.example:alice
alice_secret=alice-secret-01
cat >"$dir/stmfd.json" <<JSON
{
  "portals": ["127.0.0.1:$port"],
  "initiators": [{"name": "$alice", "chap_secret": "$alice_secret"}],
  "targets": [
    {"iqn": "$open_iqn", "luns": [{"lun": 0, "store": "ram", "size": "64MiB"}]},
    {"iqn": "$chap_iqn", "auth": "chap", "chap": {"mutual_secret": "target-secret-1"},
     "luns": [{"lun": 0, "store": "ram", "size": "16MiB"}]}
  ]
}
JSON
start_daemon() {
  "$bin/stmfd" -c "$dir/stmfd.json" --socket "$dir/stmfd.sock" >"$dir/stmfd.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    [ -S "$dir/stmfd.sock" ] && python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "attack.sh: stmfd did not start:" >&2
  cat "$dir/stmfd.log" >&2
  exit 2
}
start_daemon

failed=0
ran=0
run() {  # NAME COMMAND...
  local name=$1
  shift
  [ -n "$only" ] && [ "$only" != "$name" ] && return 0
  ran=$((ran + 1))
  local out="$dir/$name.out" start=$SECONDS
  if timeout 60 "$@" >"$out" 2>&1; then
    printf '%-20s withstood (%ss)\n' "$name" $((SECONDS - start))
  else
    printf '%-20s NOT WITHSTOOD (exit %s, %ss):\n' "$name" "$?" $((SECONDS - start))
    sed 's/^/    /' "$out" | tail -20
    failed=$((failed + 1))
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "    stmfd died; restarting it for the next attack"
    failed=$((failed + 1))
    start_daemon
  fi
}

iscsi=(--host 127.0.0.1 --port "$port" --target "$open_iqn" --pid "$pid")
a=test/attack
run immediate_writes python3 $a/immediate_writes.py "${iscsi[@]}"
run nop_flood python3 $a/nop_flood.py "${iscsi[@]}"
run skip_segment python3 $a/skip_segment.py "${iscsi[@]}"
run fd_exhaust python3 $a/fd_exhaust.py "${iscsi[@]}"
run log_flood python3 $a/log_flood.py "${iscsi[@]}" --log "$dir/stmfd.log"
run chap_reflect python3 $a/chap_reflect.py --host 127.0.0.1 --port "$port" --target "$chap_iqn" \
  --initiator "$alice" --secret "$alice_secret" --pid "$pid"
for f in $a/mgmt_*.py; do
  [ -f "$f" ] || continue
  n=$(basename "$f" .py)
  run "$n" python3 "$f" --socket "$dir/stmfd.sock" --pid "$pid"
done

if [ -z "$only" ] || [ "$only" = peer_impostor ]; then
  pair="$dir/pair"
  mkdir -p "$pair"
  if scripts/pair.sh start "$pair" --bin "$bin" >"$dir/pair.out" 2>&1; then
    run peer_impostor python3 $a/peer_impostor.py --env "$pair/pair.env" --pid "$(cat "$pair/node1.pid")"
  else
    echo "peer_impostor        NOT RUN: the pair did not start"
    sed 's/^/    /' "$dir/pair.out" | tail -10
    failed=$((failed + 1))
  fi
fi

if [ "$ran" -eq 0 ]; then
  echo "attack.sh: no attack ran" >&2
  exit 1
fi
echo "$ran attack(s), $failed not withstood"
[ "$failed" -eq 0 ]
