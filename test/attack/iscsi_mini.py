"""A deliberately small iSCSI initiator for the replay scripts in test/attack/ (stdlib only).

Enough of RFC 7143 to log in (normal or discovery session, no digests, no CHAP), send raw
PDUs and read what comes back; plus the checks every script ends with: the daemon still
serves a fresh session, and (with --pid) its memory and descriptors from /proc.
"""
import argparse
import os
import socket
import struct
import time

NOP_OUT, SCSI_CMD, TEXT_REQ, LOGIN_REQ = 0x00, 0x01, 0x04, 0x03
NOP_IN, SCSI_RSP, TEXT_RSP, LOGIN_RSP, R2T, REJECT = 0x20, 0x21, 0x24, 0x23, 0x31, 0x3F


def pad4(n):
    return (4 - n % 4) % 4


class Pdu:
    def __init__(self, bhs, data=b""):
        self.bhs, self.data = bhs, data

    @property
    def opcode(self):
        return self.bhs[0] & 0x3F

    def u32(self, off):
        return struct.unpack(">I", self.bhs[off:off + 4])[0]


class Conn:
    """One TCP connection to the target. Raises OSError when it cannot connect."""

    _isid = [0]

    def __init__(self, host, port, initiator="iqn.2026-11.org.example:attack", source=None, timeout=5.0, rcvbuf=None):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if source:
            self.s.bind((source, 0))
        self.s.settimeout(timeout)
        self.s.connect((host, port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.initiator = initiator
        self.cmd_sn, self.exp_stat_sn, self.itt = 1, 0, 1
        self.keys = {}
        Conn._isid[0] += 1
        self.isid = bytes([0x80, 0, 0, (os.getpid() >> 8) & 0xFF, os.getpid() & 0xFF, Conn._isid[0] & 0xFF])

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def next_itt(self):
        self.itt += 1
        return self.itt

    def send(self, bhs, data=b""):
        bhs = bytearray(bhs)
        bhs[5:8] = len(data).to_bytes(3, "big")
        self.s.sendall(bytes(bhs) + data + b"\0" * pad4(len(data)))

    def recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed by target")
            buf += chunk
        return bytes(buf)

    def recv(self, timeout=5.0):
        """One PDU, or None on timeout / close."""
        self.s.settimeout(timeout)
        try:
            bhs = self.recv_exact(48)
            ahs = bhs[4] * 4
            dlen = int.from_bytes(bhs[5:8], "big")
            rest = self.recv_exact(ahs + dlen + pad4(dlen))
        except (OSError, ConnectionError):
            return None
        p = Pdu(bhs, rest[ahs:ahs + dlen])
        op = p.opcode
        if op in (SCSI_RSP, 0x22, LOGIN_RSP, TEXT_RSP, 0x26, REJECT) or (op == NOP_IN and p.u32(16) != 0xFFFFFFFF):
            self.exp_stat_sn = p.u32(24) + 1
        return p

    def drain(self, quiet=1.5, limit_s=10.0):
        out, end = [], time.monotonic() + limit_s
        while time.monotonic() < end:
            p = self.recv(quiet)
            if p is None:
                break
            out.append(p)
        return out

    def login(self, target=None, discovery=False, extra=()):
        """Login straight to full feature phase; returns the status (class << 8 | detail), -1 on no answer."""
        keys = ["InitiatorName=" + self.initiator]
        keys += ["SessionType=Discovery"] if discovery else ["TargetName=" + target, "SessionType=Normal"]
        keys += ["HeaderDigest=None", "DataDigest=None", "MaxRecvDataSegmentLength=262144"] + list(extra)
        data = ("\0".join(keys) + "\0").encode()
        for _ in range(4):
            bhs = bytearray(48)
            bhs[0] = 0x40 | LOGIN_REQ
            bhs[1] = 0x80 | (1 << 2) | 3
            bhs[8:14] = self.isid
            struct.pack_into(">III", bhs, 16, self.itt, 0, self.cmd_sn)
            struct.pack_into(">I", bhs, 28, self.exp_stat_sn)
            self.send(bhs, data)
            p = self.recv()
            if p is None or p.opcode != LOGIN_RSP:
                return -1
            status = p.bhs[36] << 8 | p.bhs[37]
            if status:
                return status
            for kv in p.data.split(b"\0"):
                if b"=" in kv:
                    k, v = kv.decode(errors="replace").split("=", 1)
                    self.keys[k] = v
            self.exp_stat_sn = p.u32(24) + 1
            if p.bhs[1] & 0x80 and p.bhs[1] & 3 == 3:
                return 0
            data = b""
        return -1

    def nop_out(self, itt, data=b"", immediate=True):
        bhs = bytearray(48)
        bhs[0] = (0x40 if immediate else 0) | NOP_OUT
        bhs[1] = 0x80
        struct.pack_into(">IIII", bhs, 16, itt, 0xFFFFFFFF, self.cmd_sn, self.exp_stat_sn)
        if not immediate:
            self.cmd_sn += 1
        return bytes(bhs)

    def scsi_cmd(self, cdb, edtl, read=False, write=False, immediate=False, final=True):
        bhs = bytearray(48)
        bhs[0] = (0x40 if immediate else 0) | SCSI_CMD
        bhs[1] = (0x80 if final else 0) | (0x40 if read else 0) | (0x20 if write else 0) | 1
        itt = self.next_itt()
        struct.pack_into(">IIII", bhs, 16, itt, edtl, self.cmd_sn, self.exp_stat_sn)
        bhs[32:32 + len(cdb)] = cdb
        if not immediate:
            self.cmd_sn += 1
        return bytes(bhs)

    def ping(self, itt=0x7777):
        self.send(self.nop_out(itt))
        for _ in range(64):
            p = self.recv()
            if p is None:
                return False
            if p.opcode == NOP_IN and p.u32(16) == itt:
                return True
        return False

    def test_unit_ready(self):
        """True when TEST UNIT READY on LUN 0 completes GOOD (a unit attention is retried)."""
        for _ in range(3):
            self.send(self.scsi_cmd(bytes(6), 0))
            while True:
                p = self.recv()
                if p is None:
                    return False
                if p.opcode == SCSI_RSP:
                    break
            if p.bhs[3] == 0:
                return True
        return False


def discover_target(host, port):
    c = Conn(host, port, "iqn.2026-11.org.example:attack-discovery")
    try:
        if c.login(discovery=True) != 0:
            return None
        bhs = bytearray(48)
        bhs[0] = 0x40 | TEXT_REQ
        bhs[1] = 0x80
        struct.pack_into(">IIII", bhs, 16, 9, 0xFFFFFFFF, c.cmd_sn, c.exp_stat_sn)
        c.send(bhs, b"SendTargets=All\0")
        p = c.recv()
        if p is None:
            return None
        for kv in p.data.split(b"\0"):
            if kv.startswith(b"TargetName="):
                return kv.split(b"=", 1)[1].decode()
        return None
    finally:
        c.close()


class Bystander:
    """A normal session logged in before the attack; check() proves it still gets answers."""

    def __init__(self, host, port, target):
        self.c = Conn(host, port, "iqn.2026-11.org.example:attack-bystander", timeout=10)
        self.ok = self.c.login(target) == 0

    def check(self):
        return self.ok and self.c.test_unit_ready() and self.c.ping()


def serving(host, port, target):
    """A fresh session logs in and gets TEST UNIT READY answered."""
    try:
        c = Conn(host, port, "iqn.2026-11.org.example:attack-after", timeout=10)
    except OSError:
        return False
    try:
        return c.login(target) == 0 and c.test_unit_ready()
    finally:
        c.close()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def arg_parser(doc):
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=3260)
    ap.add_argument("--target", help="target IQN (default: the first one SendTargets lists)")
    ap.add_argument("--pid", type=int, help="stmfd's pid: also check its memory (VmRSS) and descriptors")
    ap.add_argument("--max-rss-growth-mb", type=int, default=128, help="bound on the daemon's RSS growth (with --pid)")
    return ap


def resolve_target(args):
    t = args.target or discover_target(args.host, args.port)
    if not t:
        raise SystemExit("no target: give --target")
    return t


def verdict(name, checks):
    """Prints each check and exits 0 when all hold."""
    ok = True
    for what, good in checks:
        print("%s: %s: %s" % (name, what, "ok" if good else "FAILED"))
        ok = ok and good
    print("%s: %s" % (name, "withstood" if ok else "NOT withstood"))
    raise SystemExit(0 if ok else 1)
