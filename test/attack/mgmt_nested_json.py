#!/usr/bin/env python3
"""Replay of issue 14 finding 2: a request nested 150,000 arrays deep on the management socket.

Before the fix stmfd copied the request (`json args = req;`, recursive) before the privilege
check and died of a stack overflow (SIGSEGV). Now the nesting is measured before anything is
built and the request is refused with STMF_ERROR_INVALID_ARG (management.max_json_depth).

Runs against a running stmfd: --socket PATH (default $STMFD_SOCKET), optionally --pid PID
(the daemon's pid, to check it is still alive and report its VmRSS). Sends the deep request
in the request's arguments and, on a second connection, as the op itself (the descriptor-
passing path looks at the op first). Bounded: at most ~20 s.

Exit 0: each deep request got an error line and the daemon still answers a list-target.
Exit 1: no answer, the connection dropped, or the daemon no longer answers (or died).
"""
import argparse
import json
import os
import socket
import sys
import time

DEPTH = 150000


def request(path, line, timeout):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(line)
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        return buf.split(b"\n", 1)[0].decode("utf-8", "replace")
    except OSError as e:
        return "<%s>" % e
    finally:
        s.close()


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--socket", default=os.environ.get("STMFD_SOCKET", ""), help="stmfd's management socket")
    ap.add_argument("--pid", type=int, default=0, help="stmfd's pid (optional: liveness and VmRSS)")
    ap.add_argument("--timeout", type=float, default=8.0, help="per-request bound in seconds")
    a = ap.parse_args()
    if not a.socket:
        ap.error("--socket (or $STMFD_SOCKET) is required")
    ok = True
    deep = b"[" * DEPTH + b"]" * DEPTH
    for name, line in (("argument", b'{"v":1,"op":"list-hg","x":' + deep + b"}\n"),
                       ("op", b'{"v":1,"op":' + deep + b"}\n")):
        t = time.monotonic()
        reply = request(a.socket, line, a.timeout)
        try:
            r = json.loads(reply)
        except ValueError:
            r = None
        refused = isinstance(r, dict) and r.get("error") == "STMF_ERROR_INVALID_ARG"
        print("deep %s: %s (%.2f s): %s" % (name, "refused" if refused else "NOT REFUSED", time.monotonic() - t, reply[:160]))
        ok = ok and refused
    reply = request(a.socket, b'{"v":1,"op":"list-target"}\n', a.timeout)
    try:
        alive = json.loads(reply).get("status") == 0
    except ValueError:
        alive = False
    print("list-target afterwards: %s" % ("answered" if alive else "NO ANSWER: " + reply[:160]))
    ok = ok and alive
    if a.pid:
        rss = rss_kib(a.pid)
        print("daemon pid %d: %s" % (a.pid, "VmRSS %d KiB" % rss if rss is not None else "GONE"))
        ok = ok and rss is not None
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
