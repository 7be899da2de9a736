#!/usr/bin/env python3
"""Replay of issue 14 finding 3b: NOP-Outs whose replies are never read.

From an unauthenticated discovery session (works even when every target requires CHAP),
send up to 2,000 NOP-Outs carrying 256 KiB of data each while never reading the NOP-In
echoes (a 4 KiB receive buffer). Before the fix every echo was queued without limit: 508 MB
in a second. Now the connection stops being read once iscsi.send_queue_bytes of responses
are queued (backpressure), so the sender blocks; the script gives up after a 2 s send stall.

Withstood (exit 0): the sender was blocked before sending everything, a bystander session
logged in before keeps getting answers, a fresh session logs in, and with --pid the daemon's
RSS grew less than --max-rss-growth-mb. At most ~20 s.
"""
import socket
import sys
import time

import iscsi_mini as m


def main():
    ap = m.arg_parser(__doc__)
    ap.add_argument("--count", type=int, default=2000)
    args = ap.parse_args()
    target = m.resolve_target(args)
    by = m.Bystander(args.host, args.port, target)
    rss0 = m.rss_kb(args.pid) if args.pid else 0
    c = m.Conn(args.host, args.port, "iqn.2026-11.org.example:attack-nop", rcvbuf=4096)
    if c.login(discovery=True) != 0:
        print("nop_flood: discovery login refused")
        return 1
    seg = min(256 * 1024, int(c.keys.get("MaxRecvDataSegmentLength", "8192")))
    data = b"\x5a" * seg
    c.s.settimeout(2.0)
    sent, deadline = 0, time.monotonic() + 12
    try:
        while sent < args.count and time.monotonic() < deadline:
            c.send(c.nop_out(0x1000 + sent), data)
            sent += 1
    except (socket.timeout, OSError):
        pass
    print("nop_flood: sent %d NOP-Outs of %d bytes (%d MiB) before the target stopped reading" % (sent, seg, sent * seg >> 20))
    checks = [("sender blocked by backpressure", sent < args.count),
              ("bystander still served", by.check()),
              ("a new session is served", m.serving(args.host, args.port, target))]
    if args.pid:
        grown = (m.rss_kb(args.pid) - rss0) // 1024
        checks.append(("RSS grew %d MiB (bound %d)" % (grown, args.max_rss_growth_mb), grown < args.max_rss_growth_mb))
    c.close()
    m.verdict("nop_flood", checks)


if __name__ == "__main__":
    sys.exit(main())
