#!/usr/bin/env bash
# Side-by-side benchmark: stmfd vs tgt (the Linux userspace target) on the same machine, in
# the same run, each serving a file-backed LU, driven by `qemu-img bench` over libiscsi.
#
#   scripts/bench.sh [--quick] [--count N] [--rounds R] [--size 1G] [--only tgt|pair|tls|san|stats|rbd]
#   scripts/bench.sh --rbd [--count N] [--rounds R] [--size 256M]
#
# --quick (for developers, a minute or two): 20,000 requests, one round, a 256 MiB LU, the tgt
# and pair tables only (unless --only names another); options after it override it.
#
# For every workload it runs the two targets alternately R rounds and reports the median IOPS
# of each and the ratio stmfd/tgt. Machines are shared and noisy: read the ratios.
# Where a table measures CPU (tgt, pair), each row also gives the targets' and the client's
# (qemu-img's) CPU time per I/O and "bound": the IOPS ratio the machine's cores allow when
# they are the limit, (the other side's target + client CPU per I/O) / (this side's). The client
# runs on the same cores, so a measured ratio near the bound is as far as this machine goes
# (not meaningful at QD1, which waits on wake-ups, not on CPU).
# Then the ALUA pair: direct (node 0) against proxied (node 1), with both daemons' CPU time per
# I/O (BENCH_PAIR_BIN=DIR runs the pair on DIR/stmfd, BENCH_PAIR_OPTS adds pair.sh options);
# then the cost of the peer link's TLS: two pairs at once, one with TLS (the default) and one
# with "insecure": true, both driven through node 1 (every command proxied), alternately
# (BENCH_TLS=0 leaves it out), with the CPU time both pairs' daemons used for the same requests.
# Then the iscsi backing store (--only san, or BENCH_SAN=0 to leave it out): a "SAN" stmfd
# serves a file LU, a second stmfd exports an iscsi-store LU over that LUN; the SAN LUN is
# driven directly and through the front, alternately (ratio: through the front / direct).
# Then the cost of I/O statistics (--only stats, or BENCH_STATS=0 to leave it out): two stmfds
# at once, one counting ("metrics": {"statistics": true}, the default) and one not, each on
# its own copy of the file, 4 KiB QD32 read and write alternately (ratio: on / off).
# --only runs one of the five tables (tls, pair, san and stats need no tgt).
# The rbd table runs only when asked (--rbd, the same as --only rbd; docs/benchmark.md "rbd
# store against tgt-rbd"): it starts a one-host Ceph cluster (scripts/ceph-dev.sh, its memstore
# sized for two images), creates two images of --size (default 256M) and fills them, serves one
# with stmfd's rbd store and the other with tgt's rbd backend (tgt-rbd, scripts/deps.sh --ceph),
# alternately, and stops everything by pid (BENCH_RBD_BACKEND adds keys to stmfd's "backend"
# object, e.g. '"queue_depth": 16'). The OSD and monitor serve both targets: their CPU
# time is printed for the whole table, not per target.
# Bounded: every qemu-img run does a fixed number of requests.
set -euo pipefail
cd "$(dirname "$0")/.."
count=200000; rounds=3; size=1G; only=""; quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) count=20000; rounds=1; size=256M; quick=1; shift;;
    --count) count=$2; shift 2;;
    --rounds) rounds=$2; shift 2;;
    --size) size=$2; shift 2;;
    --only) only=$2; shift 2;;
    --rbd) only=rbd; size=256M; shift;;
    *) echo "usage: $0 [--quick] [--count N] [--rounds R] [--size SIZE] [--only tgt|pair|tls|san|stats|rbd] [--rbd]" >&2; exit 2;;
  esac
done
case "$only" in ""|tgt|pair|tls|san|stats|rbd) ;; *) echo "bench.sh: --only tgt, pair, tls, san, stats or rbd" >&2; exit 2;; esac
want() {
  [ "$1" = rbd ] && { [ "$only" = rbd ]; return; }
  [ "$only" = rbd ] && return 1
  [ -n "$only" ] && { [ "$only" = "$1" ]; return; }
  [ "$quick" = 0 ] || [ "$1" = tgt ] || [ "$1" = pair ]
}
if want tgt; then scripts/deps.sh --bench; fi
command -v qemu-img >/dev/null || { echo "bench.sh: qemu-img is needed (scripts/deps.sh --bench)" >&2; exit 1; }
[ -x build/tools/stmfd ] || scripts/build.sh

work=$(mktemp -d /var/tmp/stmf-bench-XXXXXX)
sport=$((20000 + RANDOM % 10000)); tport=$((sport + 1))
spid=""
san_pids=()
ceph_dir=""; rbd_pid=
pairs=()
cleanup() {
  local d
  for d in "${pairs[@]}"; do scripts/pair.sh stop "$d" || true; done
  [ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null || true
  for d in "${san_pids[@]}"; do kill "$d" 2>/dev/null && wait "$d" 2>/dev/null || true; done
  want tgt && { scripts/tgt-peer.sh stop "$work/tgt" || true; }
  if want rbd; then
    [ -n "$rbd_pid" ] && kill "$rbd_pid" 2>/dev/null && wait "$rbd_pid" 2>/dev/null || true
    scripts/tgt-peer.sh stop "$work/tgt-rbd" || true
    [ -n "$ceph_dir" ] && { scripts/ceph-dev.sh stop "$ceph_dir" || true; }
  fi
  rm -rf "$work"
}
trap cleanup EXIT

bytes=$(numfmt --from=iec "${size%iB}")
if [ "$only" != rbd ]; then
truncate -s "$bytes" "$work/stmfd.img"
# Fill both so reads hit allocated blocks, then drop nothing: both stay equally page-cached.
dd if=/dev/urandom of="$work/stmfd.img" bs=1M count=$((bytes / 1048576)) conv=notrunc status=none
want tgt && cp "$work/stmfd.img" "$work/tgt.img"
fi

# CPU seconds (user + system) the processes PID... used so far (/proc/PID/stat): on a shared
# machine the CPU per request is steadier than the IOPS.
cpu_seconds() {
  local p t=0
  for p in "$@"; do
    t=$(awk -v t="$t" -v hz="$(getconf CLK_TCK)" '{ printf "%.4f", t + ($14 + $15) / hz }' "/proc/$p/stat")
  done
  echo "$t"
}
# The target processes of the table being printed: when set, every row also reports each
# side's CPU time per I/O (microseconds, all rounds) and their ratio, in the same direction.
a_pids=""; b_pids=""
# One row: the median IOPS of URL a and URL b over $rounds rounds (a, then b, alternately) and
# their ratio, a/b or b/a; with a_pids/b_pids, CPU microseconds per I/O of each and their ratio.
row() {
  local name=$1 a_url=$2 b_url=$3 ratio=$4 bs=$5 depth=$6 rw=$7 n=$8 a=() b=() ca=0 cb=0 qa=0 qb=0 c0
  for _ in $(seq "$rounds"); do
    [ -n "$a_pids" ] && c0=$(cpu_seconds $a_pids)
    a+=("$(iops "$a_url" "$bs" "$depth" "$rw" "$n")")
    [ -n "$a_pids" ] && ca=$(awk -v s="$ca" -v x="$(cpu_seconds $a_pids)" -v y="$c0" 'BEGIN { print s + x - y }')
    qa=$(awk -v s="$qa" -v x="$(cat "$work/client.cpu")" 'BEGIN { print s + x }')
    [ -n "$b_pids" ] && c0=$(cpu_seconds $b_pids)
    b+=("$(iops "$b_url" "$bs" "$depth" "$rw" "$n")")
    [ -n "$b_pids" ] && cb=$(awk -v s="$cb" -v x="$(cpu_seconds $b_pids)" -v y="$c0" 'BEGIN { print s + x - y }')
    qb=$(awk -v s="$qb" -v x="$(cat "$work/client.cpu")" 'BEGIN { print s + x }')
  done
  local am bm num den cpu=""
  am=$(printf '%s\n' "${a[@]}" | median); bm=$(printf '%s\n' "${b[@]}" | median)
  num=$am; den=$bm
  if [ "$ratio" = b/a ]; then num=$bm; den=$am; fi
  if [ -n "$a_pids" ] && [ -n "$b_pids" ]; then
    local ua ub
    ua=$(awk -v c="$ca" -v n="$((n * rounds))" 'BEGIN { printf "%.2f", c * 1e6 / n }')
    ub=$(awk -v c="$cb" -v n="$((n * rounds))" 'BEGIN { printf "%.2f", c * 1e6 / n }')
    cpu=$(printf ' %10s %10s %6s' "$ua" "$ub" "$(awk -v a="$ua" -v b="$ub" -v r="$ratio" \
      'BEGIN { x = (r == "b/a" ? b : a); y = (r == "b/a" ? a : b); printf "%.2f", (y > 0 ? x / y : 0) }')")
    # The client (qemu-img) shares the machine's cores: its CPU per I/O on each side, and the
    # IOPS ratio the CPU alone allows when the cores are the limit (each side's IOPS at most
    # cores / (target + client CPU per I/O)): (b's target + client) / (a's), in the row's
    # direction. A measured ratio near this bound is the machine's, not the target's.
    local qua qub
    qua=$(awk -v c="$qa" -v n="$((n * rounds))" 'BEGIN { printf "%.2f", c * 1e6 / n }')
    qub=$(awk -v c="$qb" -v n="$((n * rounds))" 'BEGIN { printf "%.2f", c * 1e6 / n }')
    cpu+=$(printf ' %10s %10s %6s' "$qua" "$qub" "$(awk -v a="$ua" -v b="$ub" -v qa="$qua" -v qb="$qub" -v r="$ratio" \
      'BEGIN { x = a + qa; y = b + qb; if (r == "b/a") { t = x; x = y; y = t } printf "%.2f", (x > 0 ? y / x : 0) }')")
  fi
  printf '%-28s %12s %12s %8s%s\n' "$name" "$am" "$bm" "$(awk -v a="$num" -v b="$den" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')" "$cpu"
}
# The workloads of every table (4 KiB QD1 too when the fourth argument is qd1).
rows() {
  local a=$1 b=$2 ratio=$3
  row "4KiB read  QD32 (IOPS)"   "$a" "$b" "$ratio" 4096 32 read  "$count"
  row "4KiB write QD32 (IOPS)"   "$a" "$b" "$ratio" 4096 32 write "$count"
  row "128KiB read  QD16 (IOPS)" "$a" "$b" "$ratio" 131072 16 read  $((count / 8))
  row "128KiB write QD16 (IOPS)" "$a" "$b" "$ratio" 131072 16 write $((count / 8))
  if [ "${4:-}" = qd1 ]; then row "4KiB read  QD1 (IOPS)" "$a" "$b" "$ratio" 4096 1 read $((count / 4)); fi
}

if want tgt; then
cat >"$work/stmfd.json" <<JSON
{"portals": ["127.0.0.1:$sport"], "log_level": "warn",
 "targets": [{"iqn": "iqn.2026-11.org.example:bench",
   "luns": [{"lun": 0, "backing": "$work/stmfd.img", "block_size": 512}]}]}
JSON
build/tools/stmfd --config "$work/stmfd.json" --socket "$work/stmfd.sock" >"$work/stmfd.log" 2>&1 &
spid=$!
# tgt, started by the project's own helper (scripts/tgt-peer.sh): its own loopback port and
# management channel, stopped by its pid.
turl=$(scripts/tgt-peer.sh start "$work/tgt" "$tport" "$work/tgt.img" | tail -1)
surl="iscsi://127.0.0.1:$sport/iqn.2026-11.org.example:bench/0"
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$sport) 2>/dev/null && break; sleep 0.1; done

fi
# iops URL BLOCKSIZE DEPTH RW COUNT
iops() {
  local url=$1 bs=$2 depth=$3 rw=$4 n=$5 out secs
  local wflag=""; [ "$rw" = write ] && wflag="-w"
  out=$(qemu-img bench -f raw -t none -n -c "$n" -d "$depth" -s "$bs" $wflag "$url" 2>&1) || {
    echo "qemu-img failed on $url: $out" >&2; echo 0 >"$work/client.cpu"; echo 0; return; }
  # The client's CPU seconds (user + system) for this run: bash's `times` (children of this
  # subshell, which ran only this qemu-img), for row()'s machine-bound ratio.
  # (`times` in a pipe would run in a fork, which has no children yet.)
  times >"$work/client.times"
  awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); c += t[1] * 60 + t[2] } printf "%.4f\n", c }' \
    "$work/client.times" >"$work/client.cpu"
  secs=$(sed -n 's/.*Run completed in \([0-9.]*\) seconds.*/\1/p' <<<"$out")
  awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR+1)/2] : int((a[NR/2] + a[NR/2+1]) / 2))}'; }

if want tgt; then
# CPU per I/O of each target (microseconds of user + system time of its process, over every
# round of the row), beside the IOPS.
a_pids=$spid; b_pids=$(cat "$work/tgt/tgtd.pid")
printf '%-28s %12s %12s %8s %10s %10s %6s %10s %10s %6s\n' workload stmfd tgt ratio "stmfd us/IO" "tgt us/IO" ratio \
  "client(s)" "client(t)" bound
rows "$surl" "$turl" a/b qd1
a_pids=""; b_pids=""
fi

# The ALUA pair (scripts/pair.sh): the same LU through node 0 (active, direct) and through
# node 1 (standby: every command proxied to node 0 over the link), alternately.
if [ "${BENCH_PAIR:-1}" = 1 ] && want pair; then
  pair_dir=$work/pair
  pairs+=("$pair_dir")
  # BENCH_PAIR_BIN=DIR: the pair runs DIR/stmfd (an older build, for A/B comparisons);
  # BENCH_PAIR_OPTS: more scripts/pair.sh options (e.g. --insecure: a plain TCP link).
  # shellcheck disable=SC2086
  scripts/pair.sh start "$pair_dir" --size "$size" --log-level warn ${BENCH_PAIR_BIN:+--bin "$BENCH_PAIR_BIN"} \
    ${BENCH_PAIR_OPTS:-} >/dev/null
  # shellcheck disable=SC1091
  . "$pair_dir/pair.env"
  dd if="$work/stmfd.img" of="$BACKING" bs=1M conv=notrunc status=none  # allocated, page-cached
  echo
  # CPU per I/O: node 0 alone per direct request; node 0 and node 1 together per proxied
  # request (the standby node forwards, the owner serves); ratio proxied / direct.
  a_pids=$(cat "$pair_dir/node0.pid"); b_pids="$a_pids $(cat "$pair_dir/node1.pid")"
  printf '%-28s %12s %12s %8s %10s %10s %6s %10s %10s %6s\n' "ALUA pair workload" direct proxied ratio "direct us/IO" "proxied us/IO" ratio \
    "client(d)" "client(p)" bound
  rows "$URL_A" "$URL_B" b/a
  a_pids=""; b_pids=""
fi

# The peer link's TLS against plain TCP: two pairs, both read and written through node 1.
if [ "${BENCH_TLS:-1}" = 1 ] && want tls; then
  for kind in tls plain; do
    d=$work/pair-$kind
    pairs+=("$d")
    opt=""; [ "$kind" = plain ] && opt=--insecure
    # shellcheck disable=SC2086
    scripts/pair.sh start "$d" --size "$size" --log-level warn $opt >/dev/null
    # shellcheck disable=SC1091
    . "$d/pair.env"
    dd if="$work/stmfd.img" of="$BACKING" bs=1M conv=notrunc status=none
    printf -v "url_$kind" '%s' "$URL_B"
  done
  echo
  printf '%-28s %12s %12s %8s\n' "peer link (through node 1)" plain tls ratio
  # CPU seconds (user + system) the two daemons of a pair used so far: on a shared machine the
  # CPU per request is steadier than the IOPS.
  cpu_of() { cpu_seconds $(cat "$work/pair-$1"/node*.pid); }
  c0_tls=$(cpu_of tls); c0_plain=$(cpu_of plain)
  rows "$url_plain" "$url_tls" b/a
  c_tls=$(awk -v a="$(cpu_of tls)" -v b="$c0_tls" 'BEGIN { printf "%.1f", a - b }')
  c_plain=$(awk -v a="$(cpu_of plain)" -v b="$c0_plain" 'BEGIN { printf "%.1f", a - b }')
  printf '%-28s %12s %12s %8s\n' "daemons' CPU seconds" "$c_plain" "$c_tls" \
    "$(awk -v a="$c_tls" -v b="$c_plain" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
fi

# The iscsi backing store: the SAN LUN directly against the same LUN through an stmfd whose
# LU is "store": "iscsi" over it (both on loopback, alternately).
if [ "${BENCH_SAN:-1}" = 1 ] && want san; then
  san_port=$((sport + 10)); front_port=$((sport + 11))
  cp "$work/stmfd.img" "$work/san.img" 2>/dev/null || dd if="$work/stmfd.img" of="$work/san.img" bs=1M status=none
  cat >"$work/san.json" <<JSON
{"portals": ["127.0.0.1:$san_port"], "log_level": "warn",
 "targets": [{"iqn": "iqn.2026-12.org.example:san", "luns": [{"lun": 0, "backing": "$work/san.img", "block_size": 512}]}]}
JSON
  build/tools/stmfd --config "$work/san.json" --socket "$work/san.sock" >"$work/san.log" 2>&1 &
  san_pids+=($!)
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$san_port) 2>/dev/null && break; sleep 0.1; done
  san_url="iscsi://127.0.0.1:$san_port/iqn.2026-12.org.example:san/0"
  cat >"$work/front.json" <<JSON
{"portals": ["127.0.0.1:$front_port"], "log_level": "warn",
 "targets": [{"iqn": "iqn.2026-12.org.example:front", "luns": [{"lun": 0, "store": "iscsi", "block_size": 512,
   "backend": {"url": "$san_url", "initiator": "iqn.2026-12.org.example:bench-front"}}]}]}
JSON
  build/tools/stmfd --config "$work/front.json" --socket "$work/front.sock" >"$work/front.log" 2>&1 &
  san_pids+=($!)
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$front_port) 2>/dev/null && break; sleep 0.1; done
  front_url="iscsi://127.0.0.1:$front_port/iqn.2026-12.org.example:front/0"
  echo
  printf '%-28s %12s %12s %8s\n' "iscsi store workload" direct "via stmfd" ratio
  rows "$san_url" "$front_url" b/a
fi

# The cost of I/O statistics: the same build, counting on and off, two daemons at once
# (docs/benchmark.md "Statistics on and off").
if [ "${BENCH_STATS:-1}" = 1 ] && want stats; then
  stats_urls=()
  for kind in off on; do
    p=$((sport + 20 + ${#stats_urls[@]}))
    cp "$work/stmfd.img" "$work/stats-$kind.img"
    on=false; [ "$kind" = on ] && on=true
    cat >"$work/stats-$kind.json" <<JSON
{"portals": ["127.0.0.1:$p"], "log_level": "warn", "metrics": {"statistics": $on},
 "targets": [{"iqn": "iqn.2026-12.org.example:stats-$kind", "luns": [{"lun": 0, "backing": "$work/stats-$kind.img", "block_size": 512}]}]}
JSON
    build/tools/stmfd --config "$work/stats-$kind.json" --socket "$work/stats-$kind.sock" >"$work/stats-$kind.log" 2>&1 &
    san_pids+=($!)
    for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && break; sleep 0.1; done
    stats_urls+=("iscsi://127.0.0.1:$p/iqn.2026-12.org.example:stats-$kind/0")
  done
  # CPU seconds (user + system) a daemon used so far: steadier than IOPS on a shared machine.
  stats_cpu() { cpu_seconds "$1"; }
  off_pid=${san_pids[-2]}; on_pid=${san_pids[-1]}
  c0_off=$(stats_cpu "$off_pid"); c0_on=$(stats_cpu "$on_pid")
  echo
  printf '%-28s %12s %12s %8s\n' "statistics" off on ratio
  row "4KiB read  QD32 (IOPS)" "${stats_urls[0]}" "${stats_urls[1]}" b/a 4096 32 read "$count"
  row "4KiB write QD32 (IOPS)" "${stats_urls[0]}" "${stats_urls[1]}" b/a 4096 32 write "$count"
  # Both daemons served the same number of requests: the CPU ratio is the cost per request.
  c_off=$(awk -v a="$(stats_cpu "$off_pid")" -v b="$c0_off" 'BEGIN { printf "%.2f", a - b }')
  c_on=$(awk -v a="$(stats_cpu "$on_pid")" -v b="$c0_on" 'BEGIN { printf "%.2f", a - b }')
  printf '%-28s %12s %12s %8s\n' "daemon CPU seconds" "$c_off" "$c_on" \
    "$(awk -v a="$c_on" -v b="$c_off" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')"
fi

# stmfd's rbd store against tgt-rbd: two images of the same size in one dev cluster, one each,
# alternately (docs/benchmark.md "rbd store against tgt-rbd").
if want rbd; then
  [ "$(id -u)" -eq 0 ] || { echo "bench.sh --rbd: tgtd needs root" >&2; exit 1; }
  ceph_dir="$work/ceph"
  # memstore holds both images in memory: room for both and the cluster's own objects.
  CEPH_DEV_OSD_MB=$((2 * bytes / 1048576 + 512)) scripts/ceph-dev.sh start "$ceph_dir" >"$work/ceph-start.log" 2>&1 ||
    { echo "bench.sh: the ceph dev cluster did not start:" >&2; cat "$work/ceph-start.log" >&2; exit 1; }
  conf="$ceph_dir/ceph.conf"
  for img in stmfd tgt; do
    rbd -c "$conf" create "rbd/$img" --size "$((bytes / 1048576))M"
    # Written once through, so that reads find objects on the OSD (a missing object reads as
    # zeroes without touching the medium).
    rbd -c "$conf" bench --io-type write --io-pattern seq --io-size 4M --io-threads 4 --io-total "$bytes" "rbd/$img" >/dev/null
  done
  rbd_port=$((sport + 30)); tgt_rbd_port=$((sport + 31))
  cat >"$work/rbd.json" <<JSON
{"portals": ["127.0.0.1:$rbd_port"], "log_level": "warn",
 "targets": [{"iqn": "iqn.2026-12.org.example:rbd", "luns": [{"lun": 0, "store": "rbd", "block_size": 512,
   "backend": {"pool": "rbd", "image": "stmfd", "conf": "$conf", "keyring": "$ceph_dir/keyring"${BENCH_RBD_BACKEND:+, $BENCH_RBD_BACKEND}}}]}]}
JSON
  build/tools/stmfd --config "$work/rbd.json" --socket "$work/rbd.sock" >"$work/rbd.log" 2>&1 &
  rbd_pid=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$rbd_port) 2>/dev/null && break; sleep 0.1; done
  rbd_url="iscsi://127.0.0.1:$rbd_port/iqn.2026-12.org.example:rbd/0"
  # tgt-rbd runs librbd with its defaults, the client cache on (16.2: write-around, a write may
  # be acknowledged before the OSDs have it); stmfd turns it off (docs/rbd.md "Limits").
  # BENCH_TGT_RBD_CACHE=0 turns it off for tgt too (a copy of the conf that says so).
  tgt_conf=$conf
  if [ "${BENCH_TGT_RBD_CACHE:-1}" = 0 ]; then
    tgt_conf="$work/tgt-ceph.conf"
    { cat "$conf"; printf '[client]\nrbd cache = false\n'; } >"$tgt_conf"
  fi
  tgt_rbd_url=$(TGT_PEER_RBD_CONF="$tgt_conf" scripts/tgt-peer.sh start "$work/tgt-rbd" "$tgt_rbd_port" rbd/tgt | tail -1)
  ceph_pids="$(cat "$ceph_dir/run/mon.a.pid") $(cat "$ceph_dir/run/osd.0.pid")"
  c0_ceph=$(cpu_seconds $ceph_pids)
  a_pids=$rbd_pid; b_pids=$(cat "$work/tgt-rbd/tgtd.pid")
  echo
  printf '%-28s %12s %12s %8s %10s %10s %6s
' "rbd workload ($size images)" stmfd tgt-rbd ratio "stmfd us/IO" "tgt us/IO" ratio
  rows "$rbd_url" "$tgt_rbd_url" a/b qd1
  a_pids=""; b_pids=""
  printf '%-28s %12s
' "ceph-mon+osd CPU seconds" "$(awk -v a="$(cpu_seconds $ceph_pids)" -v b="$c0_ceph" 'BEGIN { printf "%.1f", a - b }')"
  echo "(the OSD and monitor serve both targets: their CPU is shared, not part of either column)"
fi
