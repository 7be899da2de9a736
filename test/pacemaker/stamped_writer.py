#!/usr/bin/env python3
"""Stamped writers and their audit for scripts/pacemaker-pair.sh (stdlib only).

  stamped_writer.py write --paths H:P/IQN,H:P/IQN --node N --first LBA --ledger FILE
      writes 512-byte blocks, one at a time, to LBAs FIRST..FIRST+BLOCKS-1 in turn through the
      first path (the node N's portal), falling back to the others when it fails (as a
      multipath initiator would); every block carries a stamp: a sequence number, its LBA, the
      writer's node and a CRC-32 (the layout of test/failover/writers.h, CRC-32 instead of
      CRC-32C). NOT READY and UNIT ATTENTION are retried; a lost connection logs in again.
      Runs until SIGTERM, then writes the ledger (JSON: per LBA the last acknowledged stamp and
      the later stamps that failed and may have landed; the time of every acknowledgement).
  stamped_writer.py audit --path H:P/IQN --ledger FILE...
      reads the writers' ranges from the SAN LUN itself and checks each acknowledged block holds
      its last acknowledged stamp (or a later one that failed), and that no stamp is torn.
      Prints a summary; exit 1 on a lost or torn block.
  stamped_writer.py gap --ledger FILE... --from T0 --to T1
      the longest time (s) without any acknowledged write between T0 and T1 (epoch seconds),
      and the acknowledgements in that window.
"""
import argparse
import json
import os
import signal
import socket
import struct
import sys
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "attack"))
import iscsi_mini  # noqa: E402

BLOCK = 512
BLOCKS = 256           # LBAs per writer
MAGIC = b"STMP"
RETRY_S = 0.05         # between retries of a NOT READY / UNIT ATTENTION answer
RECONNECT_S = 0.2      # between login attempts
PATH_GIVE_UP_S = 2.0   # a path answering only NOT READY this long is left for the next one
IO_TIMEOUT_S = 10.0    # an answer must come within this, else the connection is dropped
GOOD, CHECK_CONDITION = 0x00, 0x02
NOT_READY, UNIT_ATTENTION = 0x2, 0x6
DATA_IN = 0x25


def stamp(lba, seq, node):
    b = bytearray(BLOCK)
    struct.pack_into("<QI", b, 0, seq, lba)
    b[16:20] = MAGIC
    b[20] = node
    for i in range(21, BLOCK):
        b[i] = (seq * 31 + lba * 7 + node * 13 + i) & 0xFF
    crc = zlib.crc32(bytes(b[16:]), zlib.crc32(bytes(b[:12])))
    struct.pack_into("<I", b, 12, crc)
    return bytes(b)


def read_stamp(b):
    """(seq, lba, node, whole) or None when the block carries no stamp."""
    if len(b) != BLOCK or b[16:20] != MAGIC:
        return None
    seq, lba, crc = struct.unpack_from("<QII", b, 0)
    whole = crc == zlib.crc32(b[16:], zlib.crc32(b[:12]))
    return seq, lba, b[20], whole


def parse_path(p):
    hostport, iqn = p.split("/", 1)
    host, port = hostport.rsplit(":", 1)
    return host, int(port), iqn


class Session:
    def __init__(self, path, initiator):
        self.host, self.port, self.iqn = parse_path(path)
        self.c = iscsi_mini.Conn(self.host, self.port, initiator, timeout=IO_TIMEOUT_S)
        if self.c.login(self.iqn) != 0:
            self.c.close()
            raise OSError("login refused")

    def close(self):
        self.c.close()

    def command(self, cdb, data=b"", read_len=0):
        """(status, sense key, data read); raises OSError when the connection fails."""
        c = self.c
        c.send(c.scsi_cmd(cdb.ljust(16, b"\0"), len(data) or read_len, read=read_len > 0,
                          write=len(data) > 0), data)
        got = bytearray()
        while True:
            p = c.recv(timeout=IO_TIMEOUT_S)
            if p is None:
                raise OSError("no answer")
            if p.opcode == DATA_IN:
                got += p.data
                if p.bhs[1] & 0x01:  # the status comes with the last Data-In
                    c.exp_stat_sn = p.u32(24) + 1
                    return p.bhs[3], 0, bytes(got)
            elif p.opcode == iscsi_mini.SCSI_RSP:
                return p.bhs[3], sense_key(p.bhs[3], p.data), bytes(got)
            elif p.opcode == iscsi_mini.NOP_IN and p.u32(20) != 0xFFFFFFFF:
                c.send(nop_answer(c, p.u32(20)))  # the target's ping wants an answer


def sense_key(status, data):
    """The sense key of a CHECK CONDITION's sense data (fixed or descriptor format), else 0."""
    sense = data[2:]
    if status != CHECK_CONDITION or len(sense) < 3:
        return 0
    return (sense[1] if sense[0] & 0x7F in (0x72, 0x73) else sense[2]) & 0x0F


def nop_answer(c, ttt):
    bhs = bytearray(48)
    bhs[0] = 0x40 | iscsi_mini.NOP_OUT
    bhs[1] = 0x80
    struct.pack_into(">IIII", bhs, 16, 0xFFFFFFFF, ttt, c.cmd_sn, c.exp_stat_sn)
    return bytes(bhs)


def write10(lba, n):
    return struct.pack(">BBIBHB", 0x2A, 0, lba, 0, n, 0)


def read10(lba, n):
    return struct.pack(">BBIBHB", 0x28, 0, lba, 0, n, 0)


def cmd_write(a):
    paths = a.paths.split(",")
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    acked, maybe, times = {}, {}, []
    events = []
    seq = a.node * 10**12  # writers' stamps never collide
    sess, where, not_ready_since = None, 0, 0
    i = 0
    while not stop[0]:
        if sess is None:
            for k in range(len(paths)):
                w = (where + k) % len(paths)
                try:
                    sess = Session(paths[w], "iqn.2026-12.org.example:pcmk-writer%d" % a.node)
                    if w != where or not events:
                        events.append([time.time(), "login via " + paths[w]])
                    where = w
                    break
                except OSError:
                    continue
            if sess is None:
                time.sleep(RECONNECT_S)
                continue
        lba = a.first + i % BLOCKS
        seq += 1
        b = stamp(lba, seq, a.node)
        try:
            st, key, _ = sess.command(write10(lba, 1), b)
        except OSError as e:
            maybe.setdefault(lba, []).append(seq)
            events.append([time.time(), "connection lost: %s" % e])
            sess.close()
            sess = None
            where = (where + 1) % len(paths)  # the other path first next time
            continue
        if st == GOOD:
            not_ready_since = 0
            acked[lba] = seq
            maybe.pop(lba, None)
            times.append(time.time())
            i += 1
            continue
        maybe.setdefault(lba, []).append(seq)
        if st == CHECK_CONDITION and key in (NOT_READY, UNIT_ATTENTION):
            not_ready_since = not_ready_since or time.time()
            if key == NOT_READY and time.time() - not_ready_since > PATH_GIVE_UP_S and len(paths) > 1:
                events.append([time.time(), "path %s not ready for %.0f s: next path" % (paths[where], PATH_GIVE_UP_S)])
                sess.close()
                sess = None
                where = (where + 1) % len(paths)
                not_ready_since = 0
            time.sleep(RETRY_S)
            continue
        events.append([time.time(), "status %d sense key %d" % (st, key)])
        time.sleep(RETRY_S)
    with open(a.ledger, "w") as f:
        json.dump({"node": a.node, "first": a.first, "acked": acked, "maybe": maybe,
                   "times": times, "events": events}, f)


def cmd_audit(a):
    ledgers = [json.load(open(x)) for x in a.ledger]
    s = Session(a.path, "iqn.2026-12.org.example:pcmk-auditor")
    lost, torn, checked = [], [], 0
    for led in ledgers:
        first = led["first"]
        for _ in range(8):  # the first commands of a session may meet unit attentions
            st, key, data = s.command(read10(first, BLOCKS), read_len=BLOCKS * BLOCK)
            if st != CHECK_CONDITION or key != UNIT_ATTENTION:
                break
        if st != GOOD or len(data) != BLOCKS * BLOCK:
            print("audit: READ of LBA %d failed (status %d)" % (first, st))
            return 1
        for k in range(BLOCKS):
            lba = first + k
            got = read_stamp(data[k * BLOCK:(k + 1) * BLOCK])
            if got and not got[3]:
                torn.append(lba)
            want = led["acked"].get(str(lba))
            if want is None:
                continue
            checked += 1
            ok = got and got[3] and got[1] == lba and (got[0] == want or got[0] in led["maybe"].get(str(lba), []))
            if not ok:
                lost.append("LBA %d: acknowledged stamp %d, the SAN has %s" % (lba, want, got[0] if got else "none"))
    s.close()
    acks = sum(len(x["times"]) for x in ledgers)
    print("audit: %d acknowledged writes, %d acknowledged blocks checked on the SAN, lost %d, torn %d%s"
          % (acks, checked, len(lost), len(torn), (" (first: %s)" % lost[0]) if lost else ""))
    return 1 if lost or torn else 0


def cmd_gap(a):
    times = sorted(t for x in a.ledger for t in json.load(open(x))["times"] if a.t0 <= t <= a.t1)
    edges = [a.t0] + times + [a.t1]
    gap = max(b - c for b, c in zip(edges[1:], edges[:-1]))
    print("%.1f %d" % (gap, len(times)))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--paths", required=True)
    w.add_argument("--node", type=int, required=True)
    w.add_argument("--first", type=int, required=True)
    w.add_argument("--ledger", required=True)
    au = sub.add_parser("audit")
    au.add_argument("--path", required=True)
    au.add_argument("--ledger", nargs="+", required=True)
    g = sub.add_parser("gap")
    g.add_argument("--ledger", nargs="+", required=True)
    g.add_argument("--from", dest="t0", type=float, required=True)
    g.add_argument("--to", dest="t1", type=float, required=True)
    a = p.parse_args()
    return {"write": cmd_write, "audit": cmd_audit, "gap": cmd_gap}[a.cmd](a) or 0


if __name__ == "__main__":
    sys.exit(main())
