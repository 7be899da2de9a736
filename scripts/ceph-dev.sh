#!/usr/bin/env bash
# A one-host Ceph 16.2 cluster for development and the `ceph` tests, from Debian's packages
# (scripts/deps.sh --ceph): one monitor on 127.0.0.1, one memstore OSD, the pool `rbd`
# (size 1, initialised for rbd). Everything lives in DIR: ceph.conf, the admin keyring, the
# fsid, the daemons' data, logs, sockets and pid files. No system service is started or
# enabled; the daemons are stopped by the pids they recorded. The caller removes DIR.
#
#   scripts/ceph-dev.sh start DIR    start the cluster (DIR must be empty or absent)
#   scripts/ceph-dev.sh status DIR   0 when both daemons run and the cluster answers
#   scripts/ceph-dev.sh stop DIR     stop the daemons (SIGTERM, then SIGKILL after a while)
#   scripts/ceph-dev.sh freeze DIR   SIGSTOP both daemons: the cluster is gone for its clients
#   scripts/ceph-dev.sh thaw DIR     SIGCONT them: it comes back (the tests' cluster loss)
#
# Clients use DIR/ceph.conf (it names DIR/keyring), e.g.
#   rbd -c DIR/ceph.conf create rbd/disk --size 1G
# Environment: CEPH_DEV_PORT (monitor port, msgr2; default: a free port), CEPH_DEV_TIMEOUT
# (seconds each wait may take, default 60), CEPH_DEV_OSD_MB (memstore size, default 1024).
set -euo pipefail

TIMEOUT=${CEPH_DEV_TIMEOUT:-60}
OSD_MB=${CEPH_DEV_OSD_MB:-1024}
STOP_GRACE_S=10

die() { echo "ceph-dev.sh: $*" >&2; exit 1; }
usage() { echo "usage: $0 start|stop|status|freeze|thaw DIR" >&2; exit 2; }

[ $# -eq 2 ] || usage
cmd=$1
dir=$2
conf="$dir/ceph.conf"
daemons=(mon.a osd.0)

ceph_cli() { timeout "$TIMEOUT" ceph -c "$conf" --connect-timeout 10 "$@"; }

# wait_for SECONDS DESCRIPTION COMMAND...: runs COMMAND every half second until it succeeds.
wait_for() {
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "$what: not within ${limit}s (logs in $dir/log)"
    sleep 0.5
  done
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

pid_of() { cat "$dir/run/$1.pid" 2>/dev/null || true; }
running() { local p; p=$(pid_of "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

osd_up() { ceph_cli osd dump -f json | python3 -c \
  'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["osds"] and d["osds"][0]["up"] == 1 else 1)'; }

start() {
  command -v ceph-mon >/dev/null && command -v ceph-osd >/dev/null ||
    die "ceph-mon / ceph-osd are not installed (scripts/deps.sh --ceph)"
  if [ -e "$dir" ] && [ -n "$(ls -A "$dir")" ]; then die "$dir is not empty"; fi
  # A start that fails half way stops what it started (the caller still removes DIR).
  trap 'stop' EXIT
  mkdir -p "$dir"/{mon,osd,run,log}
  dir=$(cd "$dir" && pwd)
  conf="$dir/ceph.conf"
  local port fsid
  port=${CEPH_DEV_PORT:-$(free_port)}
  fsid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  echo "$fsid" >"$dir/fsid"
  cat >"$conf" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$port
public network = 127.0.0.0/8
ms bind msgr1 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
run dir = $dir/run
pid file = $dir/run/\$name.pid
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
mon data = $dir/mon/\$name
osd data = $dir/osd/\$name
osd objectstore = memstore
memstore device bytes = $((OSD_MB * 1024 * 1024))
osd memory target = 268435456
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
auth allow insecure global id reclaim = false
crash dir = $dir/run
[mon]
mon cluster log file = $dir/log/cluster.log
keyring = \$mon_data/keyring
[osd]
keyring = \$osd_data/keyring
[client]
keyring = $dir/keyring
EOF
  ceph-authtool --create-keyring "$dir/keyring" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
  ceph-authtool --create-keyring "$dir/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$dir/mon.keyring" --import-keyring "$dir/keyring" >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$port]" "$dir/monmap" >/dev/null
  ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/mon.keyring" ||
    die "ceph-mon --mkfs failed"
  ceph-mon -c "$conf" -i a || die "ceph-mon did not start (log: $dir/log/mon.a.log)"
  wait_for "$TIMEOUT" "monitor quorum" ceph_cli mon stat

  local uuid id
  uuid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  id=$(ceph_cli osd new "$uuid")
  [ "$id" = 0 ] || die "unexpected osd id '$id'"
  mkdir -p "$dir/osd/osd.0"
  ceph-osd -c "$conf" -i 0 --no-mon-config --mkfs --mkkey --osd-uuid "$uuid" >/dev/null 2>&1 ||
    die "ceph-osd --mkfs failed (log: $dir/log/osd.0.log)"
  ceph_cli auth add osd.0 osd 'allow *' mon 'allow profile osd' mgr 'allow profile osd' \
    -i "$dir/osd/osd.0/keyring" >/dev/null 2>&1
  ceph-osd -c "$conf" -i 0 >/dev/null 2>&1 || die "ceph-osd did not start (log: $dir/log/osd.0.log)"
  wait_for "$TIMEOUT" "osd.0 up" osd_up

  ceph_cli osd pool create rbd 8 8 >/dev/null 2>&1
  ceph_cli osd pool set rbd size 1 --yes-i-really-mean-it >/dev/null 2>&1
  timeout "$TIMEOUT" rbd -c "$conf" pool init rbd || die "rbd pool init failed"
  trap - EXIT
  echo "ceph-dev: cluster $fsid on 127.0.0.1:$port (conf $conf)"
}

stop() {
  local d p pids=()
  for d in "${daemons[@]}"; do
    p=$(pid_of "$d")
    if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
      kill -TERM "$p"
      kill -CONT "$p" 2>/dev/null || true  # a frozen daemon handles the TERM once it runs
      pids+=("$p")
    fi
  done
  local deadline=$((SECONDS + STOP_GRACE_S))
  for p in "${pids[@]}"; do
    while kill -0 "$p" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
  done
  return 0
}

signal_all() {
  local d p
  for d in "${daemons[@]}"; do
    p=$(pid_of "$d")
    [ -n "$p" ] || die "$d has no pid file in $dir/run"
    kill "-$1" "$p" || die "$d (pid $p) is not running"
  done
}

status() {
  local d ok=0
  for d in "${daemons[@]}"; do
    if running "$d"; then echo "$d: running (pid $(pid_of "$d"))"; else echo "$d: stopped"; ok=1; fi
  done
  [ $ok -eq 0 ] || return 1
  ceph_cli health
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  freeze) signal_all STOP ;;
  thaw) signal_all CONT ;;
  *) usage ;;
esac
