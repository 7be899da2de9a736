#!/usr/bin/env python3
"""Replay of issue 14 finding 4 (iSCSI part): running the daemon out of descriptors.

Opens --count TCP connections (default 200, over the default per-address cap of 64) from
--source (default 127.0.0.2, so a bystander on 127.0.0.1 is not counted with them) and holds
them without logging in. Before the fix there was no cap: each took a descriptor until EMFILE,
and then the accept loop spun (100% CPU, ~19 MB/s of log). Now connections over
iscsi.max_connections_per_address / max_connections are closed at accept, and accept errors
are retried with a back-off timer.

Withstood (exit 0): a bystander session logged in before keeps getting answers while the
connections are held, a fresh session from another address logs in, and with --pid the
daemon holds fewer than --max-fds-growth more descriptors than before. A few seconds (the
connections are closed at the end).
"""
import resource
import sys
import time

import iscsi_mini as m


def main():
    ap = m.arg_parser(__doc__)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--source", default="127.0.0.2")
    ap.add_argument("--max-fds-growth", type=int, default=100, help="bound (with --pid); the per-address cap is 64")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, args.count + 64) if hard != resource.RLIM_INFINITY else args.count + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    target = m.resolve_target(args)
    by = m.Bystander(args.host, args.port, target)
    fds0 = m.fd_count(args.pid) if args.pid else 0
    conns, failed = [], 0
    for _ in range(args.count):
        try:
            conns.append(m.Conn(args.host, args.port, "iqn.2026-11.org.example:attack-fd", source=args.source, timeout=2))
        except OSError:
            failed += 1
    time.sleep(1.0)
    held = 0
    for c in conns:
        c.s.setblocking(False)
        try:
            held += c.s.recv(1) != b""
        except BlockingIOError:
            held += 1
        except OSError:
            pass
    print("fd_exhaust: %d connected, %d still open after 1 s, %d failed to connect" % (len(conns), held, failed))
    checks = [("bystander still served", by.check())]
    if args.pid:
        grown = m.fd_count(args.pid) - fds0
        checks.append(("daemon descriptors grew by %d (bound %d)" % (grown, args.max_fds_growth), grown < args.max_fds_growth))
    for c in conns:
        c.close()
    time.sleep(0.5)
    checks.append(("a new session is served", m.serving(args.host, args.port, target)))
    m.verdict("fd_exhaust", checks)


if __name__ == "__main__":
    sys.exit(main())
