#!/usr/bin/env python3
"""Replay of issue 14 finding 5 (iSCSI part): one warning line per out-of-window PDU.

A logged-in session sends 100,000 Text Requests whose CmdSN lies far outside the window; the
target must drop each silently (RFC 7143 4.2.2.1). Before the fix it logged one warning per
PDU (133 MB of log in 8 s from one session). Now per-connection warnings are rate-limited
(iscsi.warn_burst lines per iscsi.warn_interval_s, then one summary line).

Withstood (exit 0): the session still answers a NOP-Out, a bystander session logged in
before keeps getting answers, and with --log (stmfd's log file) the log grew less than
--max-log-growth-kb. A few seconds.
"""
import os
import struct
import sys

import iscsi_mini as m


def main():
    ap = m.arg_parser(__doc__)
    ap.add_argument("--count", type=int, default=100000)
    ap.add_argument("--log", help="stmfd's log file, to bound its growth")
    ap.add_argument("--max-log-growth-kb", type=int, default=256)
    args = ap.parse_args()
    target = m.resolve_target(args)
    by = m.Bystander(args.host, args.port, target)
    log0 = os.path.getsize(args.log) if args.log else 0
    c = m.Conn(args.host, args.port, "iqn.2026-11.org.example:attack-log", timeout=20)
    if c.login(target) != 0:
        print("log_flood: login refused")
        return 1
    out = bytearray()
    for i in range(args.count):
        bhs = bytearray(48)
        bhs[0] = m.TEXT_REQ
        bhs[1] = 0x80
        struct.pack_into(">IIII", bhs, 16, 0x100 + i, 0xFFFFFFFF, (c.cmd_sn + 100000 + i) & 0xFFFFFFFF, c.exp_stat_sn)
        out += bhs
    c.s.sendall(bytes(out))
    checks = [("session still answers", c.ping()), ("bystander still served", by.check())]
    if args.log:
        grown = (os.path.getsize(args.log) - log0) // 1024
        checks.append(("log grew %d KiB (bound %d)" % (grown, args.max_log_growth_kb), grown < args.max_log_growth_kb))
    c.close()
    m.verdict("log_flood", checks)


if __name__ == "__main__":
    sys.exit(main())
