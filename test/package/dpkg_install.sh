#!/usr/bin/env bash
# A real `dpkg -i` of the package on this machine, without changing it (package_test.sh runs
# this as root, in a mount namespace of its own: unshare -m):
#
#   dpkg_install.sh DEB WORK_DIR
#
# /usr (and so /lib, /sbin: merged /usr), /etc and /var are overlays whose changes go to a
# tmpfs in WORK_DIR, and /run is an empty tmpfs; everything vanishes with the namespace. In it:
#   1. dpkg -i without a running systemd (no /run/systemd/system): installed, the state
#      directory made, stmfd.service enabled, stmfproxy.service not, and no systemctl call;
#   2. dpkg -i again (an upgrade) as if systemd ran (/run/systemd/system made) under a
#      policy-rc.d that forbids starts: /run/stmfd made by systemd-tmpfiles, a daemon-reload,
#      and still no start, stop or restart;
#   3. the installed stmfd with the packaged paths (state /var/lib/stmfd, the default socket
#      /run/stmfd/stmfd.sock) on a loopback port, and the installed stmfadm finding it without
#      $STMFD_SOCKET; stopped by pid;
#   4. dpkg --purge: the files, the state database, the audit trail and the unit's enablement go;
#   5. dpkg -i with systemd present and no policy: stmfd.service (not stmfproxy) is started;
#      dpkg --purge stops it.
# systemctl is a stub first in PATH that records the calls meant for a running service manager
# (deb-systemd-invoke and the maintainer scripts find it there), so none reaches one.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
deb=$1
work=$2
pid=""
fail() { echo "FAIL: $*"; [ -f "$work/ns-stmfd.log" ] && cat "$work/ns-stmfd.log"; exit 1; }
cleanup() { if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; wait "$pid" 2>/dev/null || true; fi; }
trap cleanup EXIT

# A machine (a container) that cannot mount these: exit 77, reported skipped.
cannot() { echo "SKIP: cannot mount $1 here (a container without that privilege?)"; exit 77; }
mkdir -p "$work/ns"
mount -t tmpfs stmfd-package "$work/ns" || cannot tmpfs
for d in usr etc var; do
  mkdir -p "$work/ns/$d.up" "$work/ns/$d.work"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$work/ns/$d.up,workdir=$work/ns/$d.work" "/$d" || cannot "an overlay on /$d"
done
mount -t tmpfs stmfd-run /run || cannot "a tmpfs on /run"

stub=$work/ns/stub
mkdir -p "$stub"
calls=$work/ns/systemctl.calls
: >"$calls"
real_systemctl=$(command -v systemctl) || fail "no systemctl (Debian's systemd package)"
# Offline calls (--root=DIR: deb-systemd-helper's `systemctl --root=/ preset` that enables a
# unit by making its links) go to the real systemctl; the rest, which would ask a running
# service manager, are recorded and succeed (is-enabled says "enabled").
cat >"$stub/systemctl" <<STUB
#!/bin/sh
case " \$* " in *" --root="*) exec $real_systemctl "\$@" ;; esac
echo "systemctl \$*" >>$calls
case " \$* " in *" is-enabled "*) echo enabled ;; esac
exit 0
STUB
chmod 755 "$stub/systemctl"
export PATH=$stub:/usr/sbin:/usr/bin:/sbin:/bin
rm -f /usr/sbin/policy-rc.d

echo "-- 1. dpkg -i, no systemd running"
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" >"$work/ns/dpkg1.log" 2>&1 || { cat "$work/ns/dpkg1.log"; fail "dpkg -i"; }
[ "$(dpkg-query -W -f='${Status}' stmfd)" = "install ok installed" ] || fail "not installed"
[ "$(stat -c %a /var/lib/stmfd)" = 750 ] || fail "/var/lib/stmfd is not a 0750 directory"
[ -L /etc/systemd/system/multi-user.target.wants/stmfd.service ] || fail "stmfd.service not enabled"
[ ! -e /etc/systemd/system/multi-user.target.wants/stmfproxy.service ] || fail "stmfproxy.service enabled"
[ ! -s "$calls" ] || fail "systemctl called without systemd: $(cat "$calls")"
echo "installed; /var/lib/stmfd 0750; stmfd.service enabled, stmfproxy.service not; no systemctl call"

echo "-- 2. dpkg -i again (upgrade), systemd present, policy-rc.d forbids starts"
mkdir -p /run/systemd/system
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" >"$work/ns/dpkg2.log" 2>&1 || { cat "$work/ns/dpkg2.log"; fail "dpkg -i (upgrade)"; }
[ -d /run/stmfd ] || fail "systemd-tmpfiles did not make /run/stmfd"
grep -q "daemon-reload" "$calls" || fail "no daemon-reload: $(cat "$calls")"
if grep -Eq " (start|restart|try-restart|stop|reload-or-restart)( |$)" "$calls"; then
  fail "a service was started or stopped under a policy-rc.d that forbids it: $(cat "$calls")"
fi
echo "systemctl calls: $(tr '\n' ';' <"$calls")"
echo "/run/stmfd made; daemon-reload; nothing started under policy-rc.d"
rmdir /run/systemd/system
rm -f /usr/sbin/policy-rc.d

echo "-- 3. the installed stmfd with the packaged paths"
port=$(free_port)
printf '{"portals": ["127.0.0.1:%s"], "targets": []}\n' "$port" >"$work/ns/stmfd.json"
unset STMFD_SOCKET
start_stmfd /run/stmfd/stmfd.sock "$work/ns-stmfd.log" /usr/sbin/stmfd --config "$work/ns/stmfd.json" \
  --state-dir /var/lib/stmfd
lu_round_trip stmfadm /var/lib/stmfd/lu0.img >/dev/null
stop_stmfd
[ -f /var/lib/stmfd/stmf.db ] || fail "no state database in /var/lib/stmfd"
echo "stmfd served /run/stmfd/stmfd.sock and /var/lib/stmfd; stmfadm found it by default"

echo "-- 4. dpkg --purge"
rm /var/lib/stmfd/lu0.img
dpkg --purge stmfd >"$work/ns/dpkg3.log" 2>&1 || { cat "$work/ns/dpkg3.log"; fail "dpkg --purge"; }
for f in /usr/sbin/stmfd /etc/stmfd/stmfd.json /var/lib/stmfd /etc/systemd/system/multi-user.target.wants/stmfd.service; do
  [ ! -e "$f" ] || fail "$f is still there after purge"
done
echo "purged: programs, configuration, state directory and enablement gone"

echo "-- 5. dpkg -i with systemd present and no policy-rc.d: stmfd.service (only) is started"
mkdir -p /run/systemd/system
: >"$calls"
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" >"$work/ns/dpkg4.log" 2>&1 || { cat "$work/ns/dpkg4.log"; fail "dpkg -i"; }
grep -Eq "^systemctl (.* )?start stmfd\.service$" "$calls" || fail "stmfd.service was not started: $(cat "$calls")"
! grep -q "start.*stmfproxy" "$calls" || fail "stmfproxy.service was started: $(cat "$calls")"
: >"$calls"
dpkg --purge stmfd >"$work/ns/dpkg5.log" 2>&1 || { cat "$work/ns/dpkg5.log"; fail "dpkg --purge"; }
grep -Eq "^systemctl (.* )?stop (.* )?stmfd\.service" "$calls" || fail "stmfd.service was not stopped on removal: $(cat "$calls")"
echo "started on installation, stopped on removal (systemctl calls recorded by the stub)"
