#!/usr/bin/env python3
"""Replay of issue 14 findings 4-5 (management part): a local user floods the management socket.

Before the fix every local user could open any number of management connections, none timed
out, and each could buffer 16 MiB (40 connections pinned 455 MB; ~400 MB stayed after they
closed). Now connections are capped (management.max_connections, ..._per_uid), a request line
is bounded (management.max_line_bytes, 64 KiB; only a privileged import may be larger) and
memory is given back when a connection that buffered much closes.

Runs against a running stmfd: --socket PATH (default $STMFD_SOCKET) and --pid PID (needed:
the daemon's VmRSS and descriptors are read from /proc). Opens --connections (40) connections,
each sending --line-bytes (8 MiB) without a newline, holds them while a legitimate client is
served (`stmfadm list-target` with --stmfadm PATH, else the same request over the socket),
then closes them. Run as root, the flood runs as --as-uid (default 65534, nobody): the
attacker of the finding is an unprivileged local user (the socket must be reachable by it).
Bounded: at most ~20 s.

Exit 0: the legitimate client was served during the flood, VmRSS grew by less than
--rss-growth-mib (64) during it and is within --rss-after-mib (32) of the start afterwards,
and the daemon's descriptors came back. Exit 1 otherwise.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time


def proc_status(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def legit_call(a):
    if a.stmfadm:
        env = dict(os.environ, STMFD_SOCKET=a.socket)
        try:
            p = subprocess.run([a.stmfadm, "list-target"], env=env, capture_output=True, timeout=8)
            return p.returncode == 0, (p.stdout + p.stderr).decode("utf-8", "replace").strip()[:160]
        except subprocess.TimeoutExpired:
            return False, "stmfadm timed out"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(8)
    try:
        s.connect(a.socket)
        s.sendall(b'{"v":1,"op":"list-target"}\n')
        buf = b""
        while b"\n" not in buf:
            c = s.recv(65536)
            if not c:
                break
            buf += c
        line = buf.split(b"\n", 1)[0].decode("utf-8", "replace")
        return json.loads(line).get("status") == 0, line[:160]
    except (OSError, ValueError) as e:
        return False, str(e)
    finally:
        s.close()


def flood(a, report_w, hold_r):
    """Child: becomes --as-uid, opens the connections, reports, waits, closes."""
    if os.geteuid() == 0 and a.as_uid >= 0:
        os.setgroups([])
        os.setgid(a.as_uid)
        os.setuid(a.as_uid)
    socks, accepted, deadline = [], 0, time.monotonic() + 10
    chunk = b'{"v":1,"op":"list-hg","pad":"' + b"x" * a.line_bytes
    for _ in range(a.connections):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            s.connect(a.socket)
            socks.append(s)
            s.sendall(chunk)
            accepted += 1
        except OSError:
            pass  # refused (the cap) or cut off at the line limit: what the fix does
    os.write(report_w, ("%d %d\n" % (len(socks), accepted)).encode())
    os.read(hold_r, 1)
    for s in socks:
        s.close()
    os._exit(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--socket", default=os.environ.get("STMFD_SOCKET", ""), help="stmfd's management socket")
    ap.add_argument("--pid", type=int, required=True, help="stmfd's pid (VmRSS and descriptors from /proc)")
    ap.add_argument("--connections", type=int, default=40)
    ap.add_argument("--line-bytes", type=int, default=8 << 20)
    ap.add_argument("--as-uid", type=int, default=65534, help="uid of the flood when run as root (-1: stay root)")
    ap.add_argument("--stmfadm", default="", help="stmfadm binary for the legitimate call")
    ap.add_argument("--rss-growth-mib", type=int, default=64)
    ap.add_argument("--rss-after-mib", type=int, default=32)
    a = ap.parse_args()
    if not a.socket:
        ap.error("--socket (or $STMFD_SOCKET) is required")
    rss0, fds0 = proc_status(a.pid, "VmRSS:"), fd_count(a.pid)
    if rss0 is None:
        print("no process %d" % a.pid)
        return 1
    report_r, report_w = os.pipe()
    hold_r, hold_w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(report_r)
        os.close(hold_w)
        flood(a, report_w, hold_r)
    os.close(report_w)
    os.close(hold_r)
    line = os.read(report_r, 100).decode().split()
    print("flood: %s connection(s) opened, %s took the whole line" % (line[0], line[1]) if line else "flood: child failed")
    served, what = legit_call(a)
    rss_peak = max(proc_status(a.pid, "VmRSS:") or 0 for _ in range(5))
    os.write(hold_w, b"x")
    os.close(hold_w)
    os.waitpid(child, 0)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (fd_count(a.pid) or 0) > fds0:
        time.sleep(0.05)
    rss1, fds1 = proc_status(a.pid, "VmRSS:"), fd_count(a.pid)
    served_after, _ = legit_call(a)
    print("legitimate call during the flood: %s (%s)" % ("served" if served else "NOT SERVED", what))
    print("VmRSS: before %d KiB, during %d KiB, after %s KiB" % (rss0, rss_peak, rss1))
    print("descriptors: before %s, after %s" % (fds0, fds1))
    ok = (served and served_after and rss1 is not None and rss_peak - rss0 < a.rss_growth_mib * 1024 and
          rss1 - rss0 < a.rss_after_mib * 1024 and fds1 is not None and fds1 <= fds0)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
