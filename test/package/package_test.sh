#!/usr/bin/env bash
# The Debian package, built and used (label `package`; docs/install.md):
#
#   package_test.sh BUILD_DIR
#
# makes the .deb from BUILD_DIR with cpack (into a scratch directory), checks its control data
# (name, Depends from dpkg-shlibdeps, conffiles, maintainer scripts), extracts it into a scratch
# root (dpkg-deb -x) and checks the installed layout; builds a C program against the installed
# libstmf through its pkg-config file; runs `systemd-analyze verify` and `security` (exposure
# at most 3.0) on the installed units;
# then runs the installed stmfd (a free loopback port, its own state directory and socket) and
# the installed stmfadm against it (list-lu, create-lu, list-lu again), and stops it by pid;
# then, as root, installs, upgrades and purges it with dpkg in a mount namespace whose /usr,
# /etc, /var and /run changes vanish with it (dpkg_install.sh). Not root: exit 77 (skipped).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
build=$(cd "$1" && pwd)
work=$(mktemp -d /tmp/stmfd-package.XXXXXX)
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$work/stmfd.log" ] && { echo "--- stmfd log ---"; cat "$work/stmfd.log"; }; exit 1; }
step() { echo "== $*"; }

step "cpack -G DEB"
cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" 2>&1 || { cat "$work/cpack.log"; fail "cpack"; }
debs=("$work"/out/stmfd_*.deb)
[ -f "${debs[0]}" ] || { cat "$work/cpack.log"; fail "no stmfd_*.deb"; }
deb=${debs[0]}
echo "$(basename "$deb"): $(stat -c %s "$deb") bytes"

step "control data"
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = stmfd ] || fail "Package is '$(field Package)'"
depends=$(field Depends)
echo "Depends: $depends"
for d in libc6 libstdc++6 libsystemd0 libsqlite3-0 liburing2 libiscsi7 libssl3 init-system-helpers; do
  [[ "$depends" == *"$d"* ]] || fail "Depends lacks $d"
done
# librbd is dlopened by the rbd store only when an LU asks for it: suggested, never required.
[[ "$depends" != *librbd* ]] || fail "Depends names librbd: $depends"
[[ "$(field Suggests)" == *librbd1* ]] || fail "Suggests lacks librbd1: '$(field Suggests)'"
dpkg-deb -e "$deb" "$work/control"
for f in conffiles postinst prerm postrm shlibs; do [ -f "$work/control/$f" ] || fail "no control file $f"; done
grep -qx /etc/stmfd/stmfd.json "$work/control/conffiles" || fail "stmfd.json is not a conffile"
for f in postinst prerm postrm; do
  [ -x "$work/control/$f" ] || fail "$f is not executable"
  sh -n "$work/control/$f" || fail "$f: syntax"
done
# Nothing starts without a running systemd: every start/stop is behind /run/systemd/system.
grep -q 'deb-systemd-invoke start' "$work/control/postinst" || fail "postinst does not start through deb-systemd-invoke"
! grep -Eq '^[^#]*systemctl +(--[a-z]+ +)*(start|restart|try-restart)' "$work/control/postinst" ||
  fail "postinst starts the service other than through deb-systemd-invoke"

step "layout (dpkg-deb -x)"
root=$work/root
dpkg-deb -x "$deb" "$root"
for f in usr/sbin/stmfd usr/sbin/stmfadm usr/sbin/stmfproxy usr/sbin/mhdadm; do
  [ -x "$root/$f" ] || fail "missing program /$f"
done
lib=""
for l in usr/lib/libstmf.so.1 usr/lib/*/libstmf.so.1; do
  if [ -e "$root/$l" ]; then lib=$l; break; fi
done
[ -n "$lib" ] || fail "no libstmf.so.1"
libdir=$(dirname "$lib")
soname=$(objdump -p "$root/$lib" | awk '$1 == "SONAME" {print $2}')
[ "$soname" = libstmf.so.1 ] || fail "SONAME is '$soname'"
for f in usr/include/libstmf.h usr/include/stmf_status.h "$libdir/libstmf.so" "$libdir/pkgconfig/libstmf.pc" \
         etc/stmfd/stmfd.json etc/stmfd/stmfproxy.conf lib/systemd/system/stmfd.service \
         lib/systemd/system/stmfproxy.service usr/lib/tmpfiles.d/stmfd.conf usr/share/doc/stmfd/install.md \
         usr/share/doc/stmfd/README.md; do
  [ -e "$root/$f" ] || fail "missing /$f"
done
# The man pages (docs/man/, when the build made them) and the stmfadm completion.
[ -e "$root/usr/share/bash-completion/completions/stmfadm" ] || fail "missing the stmfadm bash completion"
if grep -q '^STMF_MAN:BOOL=ON' "$build/CMakeCache.txt"; then
  for f in man8/stmfd.8 man8/stmfadm.8 man8/stmfproxy.8 man8/mhdadm.8 man5/stmfd.json.5 man3stmf/stmfSetAluaState.3stmf; do
    ls "$root/usr/share/man/${f%%/*}/${f#*/}"* >/dev/null 2>&1 || fail "missing man page /usr/share/man/$f"
  done
fi
grep -q '^ExecStart=/usr/sbin/stmfd --config /etc/stmfd/stmfd.json --state-dir /var/lib/stmfd' \
  "$root/lib/systemd/system/stmfd.service" || fail "stmfd.service's ExecStart"
"$root/usr/sbin/stmfd" --check-config --config "$root/etc/stmfd/stmfd.json" || fail "the packaged stmfd.json"

step "libstmf through pkg-config"
grep -qx "prefix=/usr" "$root/$libdir/pkgconfig/libstmf.pc" || fail "libstmf.pc's prefix is not /usr"
flags=$(PKG_CONFIG_PATH=$root/$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$root pkg-config --cflags --libs libstmf) ||
  fail "pkg-config libstmf"
echo "pkg-config --cflags --libs libstmf: $flags"
cat >"$work/use.c" <<'C'
#include <libstmf.h>
#include <stdio.h>
int main(void) {
  stmfGuidList *list = NULL;
  int rc = stmfGetLogicalUnitList(&list);
  printf("stmfGetLogicalUnitList: %d, %u LU(s)\n", rc, list ? list->cnt : 0u);
  if (list) stmfFreeMemory(list);
  return rc == STMF_STATUS_SUCCESS ? 0 : 1;
}
C
# shellcheck disable=SC2086  # pkg-config's words
cc -std=c99 -Wall -Werror -o "$work/use" "$work/use.c" $flags || fail "a C program against the installed libstmf"

step "systemd-analyze verify"
# In the scratch root (--root: ExecStart= must name the installed programs), beside the units
# of the machine's own systemd package (sysinit.target and the rest that the units' default
# dependencies name). Any complaint fails, warnings too.
command -v systemd-analyze >/dev/null || fail "systemd-analyze is not installed (scripts/deps.sh --test installs systemd)"
cp -an "$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)/." \
  "$root/lib/systemd/system/"
rc=0
systemd-analyze verify --root="$root" /lib/systemd/system/stmfd.service /lib/systemd/system/stmfproxy.service \
  >"$work/verify.log" 2>&1 || rc=$?
cat "$work/verify.log"
[ "$rc" -eq 0 ] && [ ! -s "$work/verify.log" ] || fail "systemd-analyze verify (exit $rc)"
echo "systemd-analyze verify --root: both units pass, no warning"
# The hardening stays: systemd's exposure score (0 best, 10 worst; 2.8 and 2.2 when written)
# must stay at most 3.0 for each unit.
systemd-analyze security --offline=true --threshold=30 --root="$root" /lib/systemd/system/stmfd.service \
  /lib/systemd/system/stmfproxy.service >"$work/security.log" 2>&1 || { cat "$work/security.log"; fail "exposure above 3.0"; }
grep "Overall exposure" "$work/security.log"

step "the installed stmfd and stmfadm"
port=$(free_port)
printf '{"portals": ["127.0.0.1:%s"], "targets": [{"iqn": "iqn.2026-11.org.example:pkg"}]}\n' "$port" >"$work/stmfd.json"
export STMFD_SOCKET=$work/stmfd.sock
start_stmfd "$STMFD_SOCKET" "$work/stmfd.log" "$root/usr/sbin/stmfd" --config "$work/stmfd.json" \
  --state-dir "$work/state" --socket "$STMFD_SOCKET"
lu_round_trip "$root/usr/sbin/stmfadm" "$work/lu0.img"
LD_LIBRARY_PATH=$root/$libdir "$work/use" || fail "the program built against the installed libstmf"
deps=$(LD_LIBRARY_PATH=$root/$libdir ldd "$root/usr/sbin/stmfproxy")
[[ "$deps" == *"libstmf.so.1 => $root/"* ]] || fail "the installed stmfproxy does not load the installed libstmf: $deps"
stop_stmfd

step "dpkg -i, upgrade and purge on this machine, in a mount namespace (dpkg_install.sh)"
if [ "$(id -u)" -ne 0 ] || ! unshare -m true 2>/dev/null; then
  echo "SKIP: needs root and mount namespaces (unshare -m); the checks above passed"
  exit 77
fi
rc=0
unshare -m --propagation private "$(dirname "$0")/dpkg_install.sh" "$deb" "$work" || rc=$?
[ "$rc" -ne 77 ] || exit 77
[ "$rc" -eq 0 ] || fail "dpkg_install.sh"
echo PASS
