#!/usr/bin/env python3
"""chap_reflect.py - replay of issue 14 / CHAP (docs/security.md "CHAP"): bounded attack on the
iSCSI login's CHAP exchange of a running stmfd.

What it does, in rounds for at most --seconds (default 10, hard cap 20) and --rounds:
  1. wrong secret: answers the target's challenge with a wrong secret; the login must end with
     status 0x0201 (authentication failure) and the target must close the connection;
  2. reflected challenge: answers (with --secret, correctly) and sends the target's own
     CHAP_I/CHAP_C back as its mutual challenge (RFC 7143 12.1.3); the target must refuse
     (0x0201) and must never send a CHAP_R for its own challenge;
  3. replay: the response of a previous, successful exchange is sent against a new challenge
     (with --secret); it must be refused (the target never reuses a challenge);
  4. missing CHAP_R and an unsupported CHAP_A (7): refused with 0x0201.
Afterwards the daemon must still serve: a login with --secret reaches full feature phase (or,
without --secret, a fresh login still gets its challenge), and with --pid its VmRSS must stay
under --max-rss-mb and its open fds under --max-fds.

Setup the daemon needs: a target (--target) with auth "chap" and an initiator entry
(--initiator) with CHAP secret --secret (its CHAP name is --user, default the initiator name),
e.g. in the configuration file:
  "initiators": [{"name": "iqn.2026-11.org.example:alice", "chap_secret": "alice-secret-01"}],
  "targets": [{"iqn": "...", "auth": "chap", "chap": {"mutual_secret": "target-secret-1"}, ...}]

Usage: chap_reflect.py --host 127.0.0.1 --port 3260 --target IQN --initiator IQN
                       [--secret S] [--user NAME] [--pid PID] [--seconds N] [--rounds N]
Exit status: 0 the daemon withstood it; 1 a check failed (printed); 2 usage or setup error.
Python 3 standard library only.
"""
import argparse
import hashlib
import os
import socket
import struct
import sys
import time

HARD_CAP_S = 20
LOGIN_REQ, LOGIN_RSP = 0x03, 0x23
AUTH_FAILURE = 0x0201


class Fail(Exception):
    pass


def pad4(b):
    return b + b"\0" * ((4 - len(b) % 4) % 4)


def keys_text(pairs):
    return b"".join(f"{k}={v}".encode() + b"\0" for k, v in pairs)


def parse_keys(data):
    out = {}
    for item in data.split(b"\0"):
        if b"=" in item:
            k, v = item.split(b"=", 1)
            out[k.decode(errors="replace")] = v.decode(errors="replace")
    return out


def md5_response(ident, secret, challenge):
    return hashlib.md5(bytes([ident]) + secret.encode() + challenge).digest()


def decode_binary(v):
    if v[:2] in ("0x", "0X"):
        return bytes.fromhex(v[2:] if len(v) % 2 == 0 else "0" + v[2:])
    if v[:2] in ("0b", "0B"):
        import base64
        return base64.b64decode(v[2:] + "=" * (-len(v[2:]) % 4))
    raise Fail(f"target sent a challenge that is not binary: {v!r}")


class Login:
    """One connection doing a login, step by step (CSG=security)."""

    def __init__(self, args, timeout):
        self.a = args
        self.sock = socket.create_connection((args.host, args.port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.itt = 1
        self.exp_stat_sn = 0
        self.isid = b"\x80" + os.urandom(5)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def step(self, pairs, transit=False, csg=0, nsg=1):
        data = keys_text(pairs)
        bhs = bytearray(48)
        bhs[0] = 0x40 | LOGIN_REQ
        bhs[1] = (0x80 | (csg << 2) | nsg) if transit else (csg << 2)
        bhs[5:8] = len(data).to_bytes(3, "big")
        bhs[8:14] = self.isid
        struct.pack_into(">I", bhs, 16, self.itt)
        struct.pack_into(">I", bhs, 24, 1)
        struct.pack_into(">I", bhs, 28, self.exp_stat_sn)
        self.itt += 1
        self.sock.sendall(bytes(bhs) + pad4(data))
        hdr = self.recv_exact(48)
        if hdr is None:
            return None, {}
        if hdr[0] & 0x3F != LOGIN_RSP:
            raise Fail(f"expected a Login Response, got opcode 0x{hdr[0] & 0x3f:02x}")
        dlen = int.from_bytes(hdr[5:8], "big")
        body = self.recv_exact(dlen + (4 - dlen % 4) % 4) if dlen else b""
        if body is None:
            return None, {}
        self.exp_stat_sn = struct.unpack_from(">I", hdr, 24)[0] + 1
        status = hdr[36] << 8 | hdr[37]
        return status, parse_keys(body[:dlen])

    def names(self):
        return [("InitiatorName", self.a.initiator), ("TargetName", self.a.target), ("SessionType", "Normal")]

    def challenge(self):
        st, k = self.step(self.names() + [("AuthMethod", "CHAP")])
        if st != 0 or k.get("AuthMethod") != "CHAP":
            raise Fail(f"target did not offer CHAP (status {st}, keys {k}): is auth chap configured?")
        st, k = self.step([("CHAP_A", "5")])
        if st != 0 or k.get("CHAP_A") != "5" or "CHAP_I" not in k or "CHAP_C" not in k:
            raise Fail(f"no CHAP challenge (status {st}, keys {k})")
        return int(k["CHAP_I"]), decode_binary(k["CHAP_C"])

    def closed(self):
        try:
            return self.sock.recv(1) == b""
        except socket.timeout:
            return False
        except OSError:
            return True


def expect_refused(name, status, keys, conn):
    if status is not None and status != AUTH_FAILURE:
        raise Fail(f"{name}: status 0x{status:04x}, expected 0x0201 (authentication failure)")
    if "CHAP_R" in keys:
        raise Fail(f"{name}: the target sent CHAP_R {keys['CHAP_R']} (it answered a challenge it must refuse)")
    if not conn.closed():
        raise Fail(f"{name}: the target kept the connection open after refusing the login")


def answer(user, ident, secret, challenge):
    return [("CHAP_N", user), ("CHAP_R", "0x" + md5_response(ident, secret, challenge).hex())]


def one_round(a, timeout, state):
    user = a.user or a.initiator
    # 1. wrong secret
    c = Login(a, timeout)
    try:
        i, ch = c.challenge()
        st, k = c.step(answer(user, i, "wrong-secret-" + os.urandom(2).hex(), ch), transit=True)
        expect_refused("wrong secret", st, k, c)
    finally:
        c.close()
    # 2. reflected challenge (and, without a secret, the target must not answer it either)
    c = Login(a, timeout)
    try:
        i, ch = c.challenge()
        secret = a.secret or "unknown-secret"
        st, k = c.step(answer(user, i, secret, ch) + [("CHAP_I", str(i)), ("CHAP_C", "0x" + ch.hex())], transit=True)
        expect_refused("reflected challenge", st, k, c)
    finally:
        c.close()
    # 3. replay of a response that once succeeded
    if a.secret:
        if state.get("recorded") is None:
            c = Login(a, timeout)
            try:
                i, ch = c.challenge()
                resp = answer(user, i, a.secret, ch)
                st, k = c.step(resp, transit=True)
                if st != 0:
                    raise Fail(f"the right secret was refused (status 0x{st:04x}): check --initiator/--user/--secret")
                state["recorded"], state["challenge"] = resp, ch
            finally:
                c.close()
        c = Login(a, timeout)
        try:
            i, ch = c.challenge()
            if ch == state["challenge"]:
                raise Fail("the target sent the same challenge twice")
            st, k = c.step(state["recorded"], transit=True)
            expect_refused("replayed response", st, k, c)
        finally:
            c.close()
    # 4. missing CHAP_R, unsupported algorithm
    c = Login(a, timeout)
    try:
        c.challenge()
        st, k = c.step([("CHAP_N", user)], transit=True)
        expect_refused("missing CHAP_R", st, k, c)
    finally:
        c.close()
    c = Login(a, timeout)
    try:
        st, k = c.step(c.names() + [("AuthMethod", "CHAP")])
        st, k = c.step([("CHAP_A", "7")])
        expect_refused("CHAP_A=7", st, k, c)
    finally:
        c.close()


def still_serving(a, timeout):
    c = Login(a, timeout)
    try:
        i, ch = c.challenge()
        if not a.secret:
            return
        st, k = c.step(answer(a.user or a.initiator, i, a.secret, ch), transit=True)
        if st != 0:
            raise Fail(f"after the attack the right secret was refused (status 0x{st:04x})")
        st, k = c.step([("HeaderDigest", "None"), ("DataDigest", "None")], transit=True, csg=1, nsg=3)
        if st != 0:
            raise Fail(f"after the attack the login did not reach full feature phase (status 0x{st:04x})")
    finally:
        c.close()


def proc_usage(pid):
    rss_kb = None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
    return rss_kb, len(os.listdir(f"/proc/{pid}/fd"))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3260)
    p.add_argument("--target", required=True)
    p.add_argument("--initiator", required=True)
    p.add_argument("--user", help="CHAP name (default: the initiator name)")
    p.add_argument("--secret", help="the initiator's CHAP secret (enables the reflection-after-success and replay checks)")
    p.add_argument("--pid", type=int, help="stmfd's pid: check its VmRSS and fd count")
    p.add_argument("--max-rss-mb", type=int, default=512)
    p.add_argument("--max-fds", type=int, default=256)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--rounds", type=int, default=1000)
    a = p.parse_args()
    seconds = min(a.seconds, HARD_CAP_S - 3)
    timeout = 3.0
    deadline = time.monotonic() + seconds
    state = {}
    rounds = 0
    try:
        before = proc_usage(a.pid) if a.pid else None
        while rounds < a.rounds and time.monotonic() < deadline:
            one_round(a, timeout, state)
            rounds += 1
        still_serving(a, timeout)
        if a.pid:
            rss_kb, fds = proc_usage(a.pid)
            if rss_kb > a.max_rss_mb * 1024:
                raise Fail(f"stmfd VmRSS {rss_kb} kB above {a.max_rss_mb} MiB")
            if fds > a.max_fds:
                raise Fail(f"stmfd holds {fds} fds (more than {a.max_fds})")
            print(f"stmfd: VmRSS {before[0]} -> {rss_kb} kB, fds {before[1]} -> {fds}")
    except Fail as e:
        print(f"chap_reflect: FAILED after {rounds} round(s): {e}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:
        print(f"chap_reflect: FAILED after {rounds} round(s): {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"chap_reflect: ok, {rounds} round(s): wrong secret, reflected challenge, replay, missing CHAP_R and "
          f"CHAP_A=7 refused with 0x0201; the daemon still serves")
    return 0


if __name__ == "__main__":
    sys.exit(main())
