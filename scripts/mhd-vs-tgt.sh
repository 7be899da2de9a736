#!/usr/bin/env bash
# Runs the mhd scenario suite (test/mhd) against tgt (scripts/tgt-peer.sh: tgtd on a loopback
# port serving a file) and prints its per-scenario results; docs/mhd.md records them next to
# stmfd's. Needs root and tgt (scripts/deps.sh --bench), and a build (BUILD, default build/).
#
#   scripts/mhd-vs-tgt.sh [BUILD]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
harness=$build/test/mhd/mhd_harness
[ -x "$harness" ] || { echo "mhd-vs-tgt.sh: $harness not built" >&2; exit 1; }
dir=$(mktemp -d /tmp/mhd-vs-tgt.XXXXXX)
trap '"$here/tgt-peer.sh" stop "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
truncate -s 64M "$dir/lu.img"
url=$("$here/tgt-peer.sh" start "$dir" "$port" "$dir/lu.img" | tail -1)
restart="'$here/tgt-peer.sh' stop '$dir' >/dev/null && '$here/tgt-peer.sh' start '$dir' $port '$dir/lu.img' >/dev/null"
"$harness" --url "$url" --restart-cmd "$restart" "${@:2}" 2>&1 | grep -E '^(PASS|FAIL|SKIP) |passed, '
