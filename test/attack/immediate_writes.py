#!/usr/bin/env python3
"""Replay of issue 14 finding 3a: thirty small PDUs take a gigabyte.

30 immediate WRITE(10) commands, each announcing an Expected Data Transfer Length of ~32 MiB
and carrying 1,392 bytes of immediate data (1,440-byte PDUs), then never the rest. Before the
fix stmfd sized (and zero-filled) every 32 MiB buffer on arrival, and immediate commands
bypassed the CmdSN window: ~983 MB for 45 KB sent. Now immediate commands beyond
iscsi.max_immediate_commands get a Reject (reason 0x06) and write buffers are charged against
iscsi.session_data_buffer / total_data_buffer (over budget: TASK SET FULL / BUSY).

Withstood (exit 0): a bystander session logged in before keeps getting answers, a fresh
session still logs in, and with --pid the daemon's RSS grew less than --max-rss-growth-mb.
Runs in a few seconds.
"""
import struct
import sys

import iscsi_mini as m


def main():
    ap = m.arg_parser(__doc__)
    ap.add_argument("--count", type=int, default=30)
    args = ap.parse_args()
    target = m.resolve_target(args)
    by = m.Bystander(args.host, args.port, target)
    rss0 = m.rss_kb(args.pid) if args.pid else 0
    c = m.Conn(args.host, args.port, "iqn.2026-11.org.example:attack-immediate")
    if c.login(target) != 0:
        print("immediate_writes: login refused")
        return 1
    data = bytes([0xAB]) * 1392
    edtl = 65535 * 512
    for _ in range(args.count):
        cdb = bytes([0x2A, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0])
        c.send(c.scsi_cmd(cdb, edtl, write=True, immediate=True), data)
    answers = c.drain(quiet=1.5)
    rejects = sum(1 for p in answers if p.opcode == m.REJECT and p.bhs[2] == 0x06)
    busy = sum(1 for p in answers if p.opcode == m.SCSI_RSP and p.bhs[3] in (0x08, 0x28))
    r2ts = sum(1 for p in answers if p.opcode == m.R2T)
    print("immediate_writes: %d commands: %d R2T, %d Reject(0x06), %d BUSY/TASK SET FULL" % (args.count, r2ts, rejects, busy))
    checks = [("bystander still served", by.check()), ("a new session is served", m.serving(args.host, args.port, target))]
    if args.pid:
        grown = (m.rss_kb(args.pid) - rss0) // 1024
        checks.append(("RSS grew %d MiB (bound %d)" % (grown, args.max_rss_growth_mb), grown < args.max_rss_growth_mb))
    c.close()
    m.verdict("immediate_writes", checks)


if __name__ == "__main__":
    sys.exit(main())
