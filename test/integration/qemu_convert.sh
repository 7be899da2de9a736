#!/usr/bin/env bash
# qemu-img convert of a 64 MiB random file onto an LU and back gives identical bytes
# (a real initiator: QEMU's libiscsi block driver, large writes and reads, R2T, digests off).
set -euo pipefail
stmfd=${1:?stmfd binary}
work=$(mktemp -d /tmp/stmf-qemu-XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
iqn=iqn.2026-11.org.example:qemu
cat >"$work/config.json" <<JSON
{"portals": ["127.0.0.1:$port"],
 "targets": [{"iqn": "$iqn", "luns": [{"lun": 0, "backing": "$work/lu0.img", "size": "64MiB"}]}]}
JSON
"$stmfd" --config "$work/config.json" --socket "$work/stmfd.sock" >"$work/stmfd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
url="iscsi://127.0.0.1:$port/$iqn/0"
head -c $((64 << 20)) /dev/urandom >"$work/src.raw"
qemu-img convert -n -f raw -O raw "$work/src.raw" "$url"
qemu-img convert -f raw -O raw "$url" "$work/back.raw"
cmp "$work/src.raw" "$work/back.raw"
# The backing file holds the same bytes too (nothing acknowledged was lost or misplaced).
cmp "$work/src.raw" "$work/lu0.img"
kill -TERM "$pid"; rc=0; wait "$pid" || rc=$?; pid=""
[ "$rc" -eq 0 ] || { echo "stmfd exited $rc on SIGTERM"; exit 1; }
echo "qemu-img convert round trip: identical"
