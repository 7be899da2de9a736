#!/usr/bin/env python3
"""Replay of issue 14 finding 1: a stranger on an ALUA pair's peer link port.

While this script reads one block range over and over through node 1 (the standby node, which
proxies every read over the peer link to node 0), a second thread attacks node 1's link port
for --seconds: plain TCP connections (held open, then closed), random bytes, and a forged HELLO
claiming node 0 followed by a forged REGISTER_LUN with a huge ownership epoch. Before the fix
each connection dropped the live link and a forged HELLO made the stranger the peer.

Exit status 0 when node 1 withstood it: every read returned GOOD with the data read before the
attack, node 1 still runs, and (with --pid) its descriptors and memory stayed bounded (at most
16 more descriptors, 64 MiB more VmRSS). Non-zero otherwise (1: reads failed or wrong data,
2: usage, 3: node 1 died or grew). Runs at most about --seconds + 10 s.

  peer_impostor.py --env DIR/pair.env              (scripts/pair.sh start DIR: everything from there)
  peer_impostor.py --host 127.0.0.2 --port 3260 --target IQN --link 127.0.0.2:PORT [--guid G] [--pid PID]

Only the standard library is used: a minimal iSCSI initiator (login without authentication,
READ(10)) is built in.
"""
import argparse
import os
import random
import socket
import struct
import sys
import threading
import time

INITIATOR = "iqn.2026-11.org.example:attack-peer-impostor"
LBA, BLOCKS, BLOCK = 0, 8, 512


class Iscsi:
    """One iSCSI session on one connection: login (no authentication), READ(10)."""

    def __init__(self, host, port, target, timeout=5.0):
        self.s = socket.create_connection((host, port), timeout=timeout)
        self.s.settimeout(timeout)
        self.itt = 1
        self.cmdsn = 1
        self.expstatsn = 0
        self.login(target)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def recv_exact(self, n):
        b = bytearray()
        while len(b) < n:
            chunk = self.s.recv(n - len(b))
            if not chunk:
                raise ConnectionError("connection closed by the target")
            b += chunk
        return bytes(b)

    def recv_pdu(self):
        bhs = self.recv_exact(48)
        ahs = bhs[4] * 4
        dlen = int.from_bytes(bhs[5:8], "big")
        rest = self.recv_exact(ahs + dlen + (-dlen % 4))
        return bhs, rest[ahs:ahs + dlen]

    def send_pdu(self, bhs, data=b""):
        self.s.sendall(bhs + data + b"\0" * (-len(data) % 4))

    def login_pdu(self, flags, keys):
        data = b"".join(k.encode() + b"\0" for k in keys)
        bhs = bytearray(48)
        bhs[0] = 0x43  # immediate, Login Request
        bhs[1] = flags
        bhs[5:8] = len(data).to_bytes(3, "big")
        bhs[8:14] = bytes([0x80, 0, 0, 0, 0x14, 0x01])  # ISID
        struct.pack_into(">IHxxII", bhs, 16, self.itt, 1, self.cmdsn, self.expstatsn)
        self.send_pdu(bytes(bhs), data)
        r, _ = self.recv_pdu()
        if r[0] & 0x3F != 0x23:
            raise ConnectionError("not a login response")
        if r[36] != 0:
            raise ConnectionError("login refused: status class %d detail %d" % (r[36], r[37]))
        self.expstatsn = struct.unpack_from(">I", r, 24)[0] + 1
        self.cmdsn = struct.unpack_from(">I", r, 28)[0]
        return r[1]

    def login(self, target):
        # Security stage (no authentication), then operational, then full feature.
        self.login_pdu(0x81, ["InitiatorName=" + INITIATOR, "TargetName=" + target, "SessionType=Normal",
                              "AuthMethod=None"])
        keys = ["HeaderDigest=None", "DataDigest=None", "MaxRecvDataSegmentLength=262144", "InitialR2T=Yes",
                "ImmediateData=No", "MaxBurstLength=262144", "FirstBurstLength=65536", "ErrorRecoveryLevel=0",
                "MaxConnections=1", "DataPDUInOrder=Yes", "DataSequenceInOrder=Yes", "DefaultTime2Wait=0",
                "DefaultTime2Retain=0", "MaxOutstandingR2T=1"]
        for _ in range(5):
            flags = self.login_pdu(0x87, keys)
            if flags & 0x80 and flags & 0x03 == 3:
                return
            keys = []
        raise ConnectionError("login did not reach full feature phase")

    def read10(self, lba, blocks):
        """(SCSI status, data); raises on a broken connection or a timeout."""
        self.itt += 1
        length = blocks * BLOCK
        bhs = bytearray(48)
        bhs[0] = 0x01
        bhs[1] = 0xC1  # final, read, simple
        struct.pack_into(">IIII", bhs, 16, self.itt, length, self.cmdsn, self.expstatsn)
        bhs[32:42] = bytes([0x28, 0]) + lba.to_bytes(4, "big") + bytes([0]) + blocks.to_bytes(2, "big") + bytes([0])
        self.cmdsn += 1
        self.send_pdu(bytes(bhs))
        data = bytearray(length)
        while True:
            r, seg = self.recv_pdu()
            op = r[0] & 0x3F
            if op == 0x20:  # NOP-In: answer a ping
                ttt = struct.unpack_from(">I", r, 20)[0]
                if ttt != 0xFFFFFFFF:
                    out = bytearray(48)
                    out[0], out[1] = 0x40, 0x80
                    out[8:16] = r[8:16]
                    struct.pack_into(">IIII", out, 16, 0xFFFFFFFF, ttt, self.cmdsn, self.expstatsn)
                    self.send_pdu(bytes(out))
                continue
            if op == 0x25:  # Data-In
                off = struct.unpack_from(">I", r, 40)[0]
                data[off:off + len(seg)] = seg
                if r[1] & 0x01:  # status included
                    self.expstatsn = struct.unpack_from(">I", r, 24)[0] + 1
                    return r[3], bytes(data)
                continue
            if op == 0x21:  # SCSI Response
                self.expstatsn = struct.unpack_from(">I", r, 24)[0] + 1
                return (r[3] if r[2] == 0 else 0xFF), bytes(data)
            # anything else (async message, reject): ignore


def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                env[k] = v
    return env


def host_port(s):
    h, p = s.rsplit(":", 1)
    return h.strip("[]"), int(p)


def frame(msg_type, msg_id, body):
    return struct.pack(">IBBQ", 1 + 1 + 8 + len(body), 3, msg_type, msg_id) + body


def forged_hello():
    name = b"impostor"
    return frame(32, 0, struct.pack(">IQB", 0, 0x1BADD00D, 1) + struct.pack(">I", len(name)) + name)


def forged_register_lun(guid_hex):
    props = b'{"size": 67108864, "block_size": 512, "epoch": 999999999}'
    provider = b"sbd"
    body = bytes.fromhex(guid_hex) + struct.pack(">I", len(provider)) + provider + struct.pack(">I", len(props)) + props
    return frame(2, 1, body)


def attack(link, guid, seconds, stop, counts):
    rng = random.Random(14)
    held = []
    end = time.monotonic() + seconds
    while time.monotonic() < end and not stop.is_set():
        for kind in ("plain", "random", "hello"):
            try:
                s = socket.create_connection(link, timeout=2)
                if kind == "random":
                    s.sendall(bytes(rng.getrandbits(8) for _ in range(4096)))
                elif kind == "hello":
                    s.sendall(forged_hello() + (forged_register_lun(guid) if guid else b""))
                held.append(s)  # kept open a while: a stranger that never finishes its handshake
                counts[kind] = counts.get(kind, 0) + 1
            except OSError:
                counts["refused"] = counts.get("refused", 0) + 1
        while len(held) > 12:
            held.pop(0).close()
        time.sleep(0.2)
    for s in held:
        s.close()


def proc_status(pid):
    try:
        fds = len(os.listdir("/proc/%d/fd" % pid))
        with open("/proc/%d/status" % pid) as f:
            rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        return fds, rss * 1024
    except (OSError, StopIteration):
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--env", help="pair.env of scripts/pair.sh start DIR (sets everything below)")
    ap.add_argument("--host", help="node 1's iSCSI portal address")
    ap.add_argument("--port", type=int, help="node 1's iSCSI portal port")
    ap.add_argument("--target", help="node 1's target IQN")
    ap.add_argument("--link", help="node 1's peer link address HOST:PORT")
    ap.add_argument("--guid", help="the LU's GUID (for the forged REGISTER_LUN)")
    ap.add_argument("--pid", type=int, help="node 1's pid: check its descriptors and memory stay bounded")
    ap.add_argument("--seconds", type=float, default=10.0, help="how long to attack (default 10)")
    a = ap.parse_args()
    if a.env:
        env = read_env(a.env)
        url = env["URL_B"]  # iscsi://host:port/iqn/0
        hp, iqn = url[len("iscsi://"):].split("/")[0:2]
        a.host, a.port = host_port(hp)
        a.target = iqn
        a.link = a.link or "%s:%s" % (a.host, env["LINK_PORT"])
        a.guid = a.guid or env.get("GUID")
        pidfile = os.path.join(os.path.dirname(a.env), "node1.pid")
        if a.pid is None and os.path.exists(pidfile):
            a.pid = int(open(pidfile).read())
    if not (a.host and a.port and a.target and a.link):
        ap.error("give --env, or --host, --port, --target and --link")
    link = host_port(a.link)

    try:
        sess = Iscsi(a.host, a.port, a.target)
        for _ in range(8):  # a new nexus first sees its unit attentions (POWER ON, RESET...)
            status, baseline = sess.read10(LBA, BLOCKS)
            if status == 0:
                break
    except (OSError, ConnectionError) as e:
        print("peer_impostor: cannot read through node 1 before the attack: %s" % e, file=sys.stderr)
        return 1
    if status != 0:
        print("peer_impostor: the first read through node 1 returned status 0x%02x" % status, file=sys.stderr)
        return 1
    before = proc_status(a.pid) if a.pid else None

    stop = threading.Event()
    counts = {}
    t = threading.Thread(target=attack, args=(link, a.guid, a.seconds, stop, counts), daemon=True)
    t.start()
    reads = failed = 0
    while t.is_alive():
        reads += 1
        try:
            status, data = sess.read10(LBA, BLOCKS)
            if status != 0 or data != baseline:
                failed += 1
        except (OSError, ConnectionError):
            failed += 1
            sess.close()
            try:
                sess = Iscsi(a.host, a.port, a.target)
                for _ in range(8):
                    if sess.read10(LBA, BLOCKS)[0] == 0:
                        break
            except (OSError, ConnectionError):
                time.sleep(0.1)
    t.join()
    sess.close()

    print("peer_impostor: %d reads through node 1 during the attack, %d failed; connections: %s"
          % (reads, failed, ", ".join("%s %d" % kv for kv in sorted(counts.items()))))
    rc = 0 if failed == 0 and reads > 0 else 1
    if a.pid:
        time.sleep(1.0)  # refused connections are closed by now (held ones at the handshake timeout)
        after = proc_status(a.pid)
        if after is None:
            print("peer_impostor: node 1 (pid %d) is gone" % a.pid, file=sys.stderr)
            return 3
        if before:
            print("peer_impostor: node 1 descriptors %d -> %d, VmRSS %d -> %d MiB"
                  % (before[0], after[0], before[1] >> 20, after[1] >> 20))
            if after[0] > before[0] + 16 + 12 or after[1] > before[1] + (64 << 20):
                print("peer_impostor: node 1 grew beyond the bound", file=sys.stderr)
                return 3
    return rc


if __name__ == "__main__":
    sys.exit(main())
