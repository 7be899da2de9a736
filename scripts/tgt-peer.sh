#!/usr/bin/env bash
# tgt (the Linux SCSI target framework's userspace daemon, Debian package `tgt`) as the
# benchmark's comparison peer: one tgtd on a loopback port, with a management channel of its
# own (never the system service's), serving one file as LUN 1.
#
#   scripts/tgt-peer.sh start DIR PORT FILE [ADDR...]
#                                             start it; prints the LU's URL on the first
#                                             ADDR (DIR/url too); DIR/tgtd.pid, DIR/tgtd.log.
#                                             ADDR: the portal addresses (default 127.0.0.1),
#                                             all on PORT (scripts/pair.sh --san tgt uses two)
#   scripts/tgt-peer.sh stop DIR              take the target down and end that tgtd (by pid)
#
# Needs root (tgtd keeps its management socket under /run/tgtd) and tgt installed
# (scripts/deps.sh --bench). FILE must exist.
# With TGT_PEER_RBD_CONF=CEPH.CONF, FILE is an RBD image POOL/IMAGE served by tgt's rbd backend
# (Debian package tgt-rbd, scripts/deps.sh --ceph) as client.admin of that cluster.
set -euo pipefail
cmd=${1:?"usage: tgt-peer.sh start DIR PORT FILE | stop DIR"}; dir=${2:?DIR}
iqn=iqn.2026-11.org.example:tgt-peer

if [ "$cmd" = stop ]; then
  [ -f "$dir/tgtd.pid" ] || exit 0
  pid=$(cat "$dir/tgtd.pid"); cport=$(cat "$dir/control-port")
  if kill -0 "$pid" 2>/dev/null; then
    # tgtd does not end on SIGTERM while it has targets: take it offline, remove the
    # target, then ask the daemon itself to exit (it takes a few seconds); SIGKILL (it
    # holds nothing of ours) only if it does not.
    tgtadm -C "$cport" --mode sys --op update --name State -v offline >/dev/null 2>&1 || true
    tgtadm -C "$cport" --lld iscsi --mode target --op delete --force --tid 1 >/dev/null 2>&1 || true
    tgtadm -C "$cport" --mode sys --op delete >/dev/null 2>&1 || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  fi
  # Its management socket and lock stay behind after SIGKILL; they are ours (this port).
  kill -0 "$pid" 2>/dev/null || rm -f "/run/tgtd/socket.$cport" "/run/tgtd/socket.$cport.lock"
  rm -f "$dir/tgtd.pid"
  exit 0
fi
[ "$cmd" = start ] || { echo "tgt-peer.sh: unknown command $cmd" >&2; exit 2; }
port=${3:?PORT}; file=${4:?FILE}
addrs=("${@:5}"); [ ${#addrs[@]} -gt 0 ] || addrs=(127.0.0.1)
[ "$(id -u)" -eq 0 ] || { echo "tgt-peer.sh: tgtd needs root" >&2; exit 1; }
command -v tgtd >/dev/null || { echo "tgt-peer.sh: tgtd not found: install tgt (scripts/deps.sh --bench)" >&2; exit 1; }
rbd_conf=${TGT_PEER_RBD_CONF:-}
if [ -n "$rbd_conf" ]; then
  [ -e /usr/lib/tgt/backing-store/bs_rbd.so ] || { echo "tgt-peer.sh: tgt's rbd backend is missing: install tgt-rbd (scripts/deps.sh --ceph)" >&2; exit 1; }
  lu_opts=(--bstype rbd --bsopts "conf=$rbd_conf;id=admin")
else
  [ -f "$file" ] || { echo "tgt-peer.sh: $file does not exist" >&2; exit 1; }
  lu_opts=()
fi
mkdir -p "$dir"
# A management channel nobody else uses: tgtd N listens on /run/tgtd/socket.N (0 is the
# system service's).
cport=""
for _ in $(seq 50); do
  n=$((1000 + RANDOM % 30000))
  [ -e "/run/tgtd/socket.$n" ] || [ -e "/var/run/tgtd/socket.$n" ] || { cport=$n; break; }
done
[ -n "$cport" ] || { echo "tgt-peer.sh: no free tgtd control port" >&2; exit 1; }
echo "$cport" >"$dir/control-port"
tgtd -f -C "$cport" --iscsi portal="${addrs[0]}:$port" >"$dir/tgtd.log" 2>&1 &
echo $! >"$dir/tgtd.pid"
up=""
for _ in $(seq 100); do
  kill -0 "$(cat "$dir/tgtd.pid")" 2>/dev/null || break
  tgtadm -C "$cport" --mode sys --op show >/dev/null 2>&1 && { up=1; break; }
  sleep 0.1
done
if [ -z "$up" ]; then
  echo "tgt-peer.sh: tgtd did not start; its log:" >&2; cat "$dir/tgtd.log" >&2
  "$0" stop "$dir"; exit 1
fi
tgtadm -C "$cport" --lld iscsi --mode target --op new --tid 1 -T "$iqn"
tgtadm -C "$cport" --lld iscsi --mode logicalunit --op new --tid 1 --lun 1 -b "$file" "${lu_opts[@]}"
tgtadm -C "$cport" --lld iscsi --mode target --op bind --tid 1 -I ALL
for a in "${addrs[@]:1}"; do
  tgtadm -C "$cport" --lld iscsi --mode portal --op new --param portal="$a:$port"
done
for _ in $(seq 50); do (exec 3<>"/dev/tcp/${addrs[0]}/$port") 2>/dev/null && break; sleep 0.1; done
echo "iscsi://${addrs[0]}:$port/$iqn/1" | tee "$dir/url"
