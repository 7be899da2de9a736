#!/usr/bin/env bash
# Installs the Debian 12 packages the project builds and tests with (only what is missing).
# Works unattended (CI=true, no stdin). Needs root or sudo.
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config git python3
      libboost1.81-dev libspdlog-dev catch2 libiscsi-dev libiscsi-bin libsqlite3-dev
      liburing-dev libisal-dev libcli11-dev nlohmann-json3-dev)
if [ "${1:-}" = "--test" ] || [ "${1:-}" = "--bench" ]; then
  pkgs+=(qemu-utils qemu-block-extra tgt clang-14 libclang-rt-14-dev)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
