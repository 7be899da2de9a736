#!/usr/bin/env bash
# Builds the Debian package stmfd_<version>_<arch>.deb (docs/install.md "Package"):
#   scripts/package.sh [OUT_DIR]      default OUT_DIR: build/package
# Installs what is missing (scripts/deps.sh), builds ./build (scripts/build.sh), then runs
# cpack -G DEB (prefix /usr, whatever the build's install prefix). Prints the package's path.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/package}
scripts/deps.sh --package
scripts/build.sh
mkdir -p "$out"
out=$(cd "$out" && pwd)
(cd build && cpack -G DEB -B "$out" >/dev/null)
rm -rf "$out/_CPack_Packages"
ls "$out"/stmfd_*.deb
