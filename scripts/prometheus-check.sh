#!/usr/bin/env bash
# A real scraper against stmfd's metrics endpoint (docs/metrics.md): starts stmfd with
# "metrics.listen" on loopback and Debian's prometheus scraping it every second (own temp
# directory and ports, both stopped by their pids), writes a known amount with
# `qemu-img bench`, then asks prometheus (its HTTP API) for the written bytes and a rate():
# the bytes must equal what was written, the rate must be above zero.
#
#   scripts/prometheus-check.sh [--bin DIR]   (DIR holds stmfd; default build/tools)
#
# Exit 0: checked; 1: a check failed; 77: skipped (prometheus or qemu-img not installed:
# scripts/deps.sh --test). Every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/tools
[ "${1:-}" = --bin ] && bin=$2
for t in prometheus qemu-img python3; do
  command -v "$t" >/dev/null || { echo "SKIPPED: $t is not installed (scripts/deps.sh --test)"; exit 77; }
done

work=$(mktemp -d /tmp/stmf-prom-XXXXXX)
spid=""; ppid_=""
cleanup() {
  [ -n "$ppid_" ] && kill "$ppid_" 2>/dev/null && wait "$ppid_" 2>/dev/null || true
  [ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

iport=$(free_port); mport=$(free_port); pport=$(free_port)
iqn=iqn.2026-12.org.example:prom
cat >"$work/stmfd.json" <<JSON
{"portals": ["127.0.0.1:$iport"], "log_level": "warn", "metrics": {"listen": "127.0.0.1:$mport"},
 "targets": [{"iqn": "$iqn", "luns": [{"lun": 0, "store": "ram", "size": "64MiB", "block_size": 512}]}]}
JSON
"$bin/stmfd" --config "$work/stmfd.json" --socket "$work/stmfd.sock" >"$work/stmfd.log" 2>&1 &
spid=$!
wait_port "$iport" && wait_port "$mport" || { echo "stmfd did not start"; cat "$work/stmfd.log"; exit 1; }

cat >"$work/prometheus.yml" <<YML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: stmfd
    static_configs: [{targets: ["127.0.0.1:$mport"]}]
YML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$pport" >"$work/prometheus.log" 2>&1 &
ppid_=$!
wait_port "$pport" || { echo "prometheus did not start"; tail -20 "$work/prometheus.log"; exit 1; }

# query EXPR: the first sample's value ("" when none).
query() {
  python3 - "$pport" "$1" <<'PY'
import json, sys, urllib.parse, urllib.request
url = "http://127.0.0.1:%s/api/v1/query?query=%s" % (sys.argv[1], urllib.parse.quote(sys.argv[2]))
r = json.load(urllib.request.urlopen(url, timeout=5))["data"]["result"]
print(r[0]["value"][1] if r else "")
PY
}
# until EXPR WANT: waits (bounded, 60 s) for the query to answer WANT ("nonzero": above 0).
until_value() {
  local v=""
  for _ in $(seq 120); do
    v=$(query "$1" || true)
    if [ "$2" = nonzero ]; then awk -v v="$v" 'BEGIN { exit !(v + 0 > 0) }' && return 0
    elif [ "$v" = "$2" ]; then return 0; fi
    sleep 0.5
  done
  echo "FAILED: $1 = '$v', expected $2"
  return 1
}

until_value 'up{job="stmfd"}' 1
writes=2000
url="iscsi://127.0.0.1:$iport/$iqn/0"
qemu-img bench -f raw -t none -n -w -c "$writes" -d 8 -s 4096 "$url" >/dev/null
until_value 'sum(stmf_lu_written_bytes_total)' $((writes * 4096))
until_value 'sum(stmf_lu_writes_total)' "$writes"
until_value 'sum(rate(stmf_lu_written_bytes_total[10m]))' nonzero
until_value 'histogram_quantile(0.5, sum by (le) (rate(stmf_lu_latency_seconds_bucket[10m])))' nonzero
echo "prometheus-check: prometheus scraped stmfd: $writes writes, $((writes * 4096)) bytes, rates above zero"
