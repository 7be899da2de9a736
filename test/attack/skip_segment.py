#!/usr/bin/env python3
"""Replay of issue 14 finding 3c: a discarded data segment sized by the sender.

Several discovery sessions (no authentication needed) each send a NOP-Out announcing a
16 MiB - 1 data segment (over MaxRecvDataSegmentLength), then only 1 KiB of it, and hold the
connection. Before the fix the target allocated (and zero-filled) the announced length just to
discard it: 16 MiB per connection. Now it answers with a Reject and reads the segment away
through a small fixed buffer.

Withstood (exit 0): every connection got its Reject, a bystander session logged in before
keeps getting answers, a fresh session logs in, and with --pid the daemon's RSS grew less
than --max-rss-growth-mb. A few seconds.
"""
import sys
import time

import iscsi_mini as m


def main():
    ap = m.arg_parser(__doc__)
    ap.add_argument("--connections", type=int, default=16)
    args = ap.parse_args()
    target = m.resolve_target(args)
    by = m.Bystander(args.host, args.port, target)
    rss0 = m.rss_kb(args.pid) if args.pid else 0
    conns, rejected = [], 0
    for i in range(args.connections):
        c = m.Conn(args.host, args.port, "iqn.2026-11.org.example:attack-skip")
        if c.login(discovery=True) != 0:
            print("skip_segment: discovery login refused")
            return 1
        bhs = bytearray(c.nop_out(0x4242))
        bhs[5:8] = b"\xff\xff\xff"
        c.s.sendall(bytes(bhs) + b"\0" * 1024)
        p = c.recv()
        rejected += p is not None and p.opcode == m.REJECT
        conns.append(c)
    time.sleep(0.5)
    checks = [("%d of %d rejected" % (rejected, args.connections), rejected == args.connections),
              ("bystander still served", by.check()),
              ("a new session is served", m.serving(args.host, args.port, target))]
    if args.pid:
        grown = (m.rss_kb(args.pid) - rss0) // 1024
        checks.append(("RSS grew %d MiB (bound %d)" % (grown, args.max_rss_growth_mb), grown < args.max_rss_growth_mb))
    for c in conns:
        c.close()
    m.verdict("skip_segment", checks)


if __name__ == "__main__":
    sys.exit(main())
