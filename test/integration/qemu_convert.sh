#!/usr/bin/env bash
# qemu-img convert of a 64 MiB random file onto an LU and back gives identical bytes
# (a real initiator: QEMU's libiscsi block driver, large writes and reads, R2T, digests off).
set -euo pipefail
stmfd=${1:?stmfd binary}
# shellcheck source=stmfd.sh
source "$(dirname "$0")/stmfd.sh"
stmfd_setup stmf-qemu
iqn=iqn.2026-11.org.example:qemu
stmfd_serve_lun "$stmfd" "$iqn" 64MiB
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
