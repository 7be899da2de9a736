#!/usr/bin/env bash
# Installs the Debian 12 packages the project builds and tests with (only what is missing).
# Works unattended (CI=true, no stdin). Installing needs root or sudo.
#
#   scripts/deps.sh           to build and run stmfd
#   scripts/deps.sh --test    and to run every test (scripts/test.sh): libiscsi's tools,
#                             qemu-img, clang for the fuzz targets, prometheus (promtool
#                             checks the metrics endpoint; scripts/prometheus-check.sh), what
#                             --package needs and systemd (systemd-analyze verify on the units,
#                             test/package; nothing is started), groff and man (the man pages
#                             render: test/man/man_test.py), jq and resource-agents (ocf-tester)
#                             for the Pacemaker agent's test, pacemaker and corosync for
#                             scripts/pacemaker-pair.sh
#   scripts/deps.sh --bench   and to run scripts/bench.sh: qemu-img, tgt (the comparison peer)
#   scripts/deps.sh --package and to make the Debian package (scripts/package.sh): cpack's
#                             DEB generator runs dpkg-shlibdeps (dpkg-dev) and file
#   scripts/deps.sh --ceph    and to run the `ceph` tests: a one-host Ceph 16.2 cluster
#                             (scripts/ceph-dev.sh: ceph-mon, ceph-osd, the ceph/rbd tools);
#                             tgt-rbd (tgt with its rbd backend) for scripts/bench.sh --rbd
#
# librbd-dev is always installed: it builds the optional rbd backing store (store_rbd/).
#
# tgt is installed for the benchmark only, and its system service is never left running:
# Debian's tgt service listens on 0.0.0.0:3260, the port scripts/run.sh serves on. The same
# goes for prometheus (its service would listen on 0.0.0.0:9090; the tests start their own),
# and for corosync and pacemaker (scripts/pacemaker-pair.sh runs its own in namespaces).
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config git python3
      libboost1.81-dev libspdlog-dev catch2 libiscsi-dev libiscsi-bin libsqlite3-dev
      liburing-dev libisal-dev libcli11-dev nlohmann-json3-dev libssl-dev openssl libsystemd-dev
      librbd-dev scdoc)  # scdoc: the man pages (docs/man/)
case "${1:-}" in
  "") ;;
  --test) pkgs+=(qemu-utils qemu-block-extra clang-14 libclang-rt-14-dev prometheus dpkg-dev file systemd
                 groff-base man-db  # groff, man: the man_pages test renders every page
                 jq resource-agents pacemaker pacemaker-cli-utils corosync) ;;  # cli-utils (crm_mon, crm_resource) is only a Recommends of pacemaker
  --bench) pkgs+=(qemu-utils qemu-block-extra tgt) ;;
  --package) pkgs+=(dpkg-dev file) ;;
  --ceph) pkgs+=(ceph-mon ceph-osd ceph-common tgt-rbd) ;;  # tgt-rbd: tgt's rbd backend, the peer of bench.sh --rbd
  *) echo "usage: $0 [--test | --bench | --package | --ceph]" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then
    SUDO=(sudo)
  else
    echo "deps.sh: these packages are missing: ${missing[*]}" >&2
    echo "deps.sh: installing them needs root, and sudo is not installed. As root, run:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    echo "then run this command again (or run scripts/deps.sh ${1:-} as root)." >&2
    exit 1
  fi
fi

echo "installing: ${missing[*]}"
# tgt's package starts its service (0.0.0.0:3260) on installation: forbid service starts
# while we install (policy-rc.d, honoured by invoke-rc.d and deb-systemd-invoke), unless the
# machine already has a policy of its own.
policy=/usr/sbin/policy-rc.d
ours=""
services=()
for s in tgt prometheus corosync pacemaker ceph-mon ceph-osd; do
  if [[ " ${missing[*]} " == *" $s "* ]]; then services+=("$s"); fi
done
if [ ${#services[@]} -gt 0 ] && [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# scripts/deps.sh: no service starts while it installs packages\nexit 101\n' |
    "${SUDO[@]}" tee "$policy" >/dev/null
  "${SUDO[@]}" chmod 755 "$policy"
  ours=1
fi
cleanup() { [ -n "$ours" ] && "${SUDO[@]}" rm -f "$policy"; return 0; }
trap cleanup EXIT
"${SUDO[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for s in "${services[@]}"; do
  # With systemd the package also enables the service for the next boot: disable it (and
  # stop it, should it have started anyway). scripts/tgt-peer.sh starts the tgtd it needs;
  # scripts/prometheus-check.sh its own prometheus.
  if [ -d /run/systemd/system ]; then
    "${SUDO[@]}" systemctl disable --now "$s.service" >/dev/null 2>&1 || true
    case "$s" in ceph-*) "${SUDO[@]}" systemctl disable --now ceph.target "$s.target" >/dev/null 2>&1 || true ;; esac
  fi
  echo "$s installed; its system service is not running"
done
