#!/usr/bin/env python3
"""stmfd under systemd's Type=notify, without systemd (label `package`; docs/install.md).

    notify_test.py STMFD STMFPROXY

Starts STMFD on a free loopback port with its own state directory, NOTIFY_SOCKET naming a
unix datagram socket this test owns, WATCHDOG_USEC set, and JOURNAL_STREAM naming the file its
stderr goes to, then checks that:
  - READY=1 arrives, and when it does the iSCSI portal and the management socket accept;
  - WATCHDOG=1 arrives again and again while it runs;
  - SIGTERM brings STOPPING=1, then the daemon exits 0;
  - every log line starts with its syslog priority ("<6>info [stmfd] ...");
and that STMFPROXY's lines carry the priority too under JOURNAL_STREAM (its stmfd absent: a
warning, then SIGTERM).
The waits are bounds on a failure (a daemon that never says READY), never the verdict.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

WAIT_S = 30           # bound on each wait for the daemon
WATCHDOG_USEC = 400000  # the daemon pings every 200 ms
PINGS = 3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fail(msg, log=None):
    print("FAIL:", msg)
    if log and os.path.exists(log):
        print("--- stmfd log ---")
        print(open(log, errors="replace").read())
    sys.exit(1)


def receive(sock, want, seen):
    """Read notifications until one has the line `want`; return them all."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            msg = sock.recv(4096).decode()
        except socket.timeout:
            break
        seen.append(msg)
        if want in msg.split("\n"):
            return True
    return False


def main():
    stmfd = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="stmfd-notify-") as tmp:
        port = free_port()
        cfg = os.path.join(tmp, "stmfd.json")
        with open(cfg, "w") as f:
            json.dump({"portals": [f"127.0.0.1:{port}"], "targets": []}, f)
        mgmt = os.path.join(tmp, "mgmt.sock")
        log = os.path.join(tmp, "stmfd.log")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(os.path.join(tmp, "notify.sock"))
        logf, env = journal_stderr(log)
        env.update(NOTIFY_SOCKET=os.path.join(tmp, "notify.sock"), WATCHDOG_USEC=str(WATCHDOG_USEC))
        env.pop("WATCHDOG_PID", None)
        proc = subprocess.Popen([stmfd, "--config", cfg, "--state-dir", os.path.join(tmp, "state"),
                                 "--socket", mgmt], env=env, stdout=logf, stderr=logf)
        try:
            seen = []
            if not receive(notify, "READY=1", seen):
                fail(f"no READY=1 (got {seen!r})", log)
            # Listening when it says so: both sockets accept now.
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                pass
            with socket.socket(socket.AF_UNIX) as m:
                m.connect(mgmt)
            print("READY=1 received; portal and management socket accept")
            pings = 0
            for _ in range(PINGS):
                got = []
                if not receive(notify, "WATCHDOG=1", got):
                    fail(f"no WATCHDOG=1 after {pings} (got {got!r})", log)
                pings += 1
            print(f"{pings} WATCHDOG=1 pings")
            proc.send_signal(signal.SIGTERM)
            got = []
            if not receive(notify, "STOPPING=1", got):
                fail(f"no STOPPING=1 after SIGTERM (got {got!r})", log)
            print("STOPPING=1 received after SIGTERM")
            rc = proc.wait(timeout=WAIT_S)
            if rc != 0:
                fail(f"stmfd exited {rc}", log)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            logf.close()
        check_journal_lines(log, "<6>info [stmfd] stmfd ready")
        check_stmfproxy(sys.argv[2], tmp)
    print("PASS")


def journal_stderr(path):
    """A file for a child's stderr and the environment that names it the journal stream."""
    f = open(path, "w")
    st = os.fstat(f.fileno())
    return f, dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")


def check_journal_lines(log, expected):
    lines = [l for l in open(log).read().splitlines() if l]
    bad = [l for l in lines if not (len(l) > 3 and l[0] == "<" and l[1].isdigit() and l[2] == ">")]
    if bad or not lines:
        fail(f"log lines without a <N> priority prefix under JOURNAL_STREAM: {bad[:5]!r}", log)
    if not any(l.startswith(expected) for l in lines):
        fail(f"no line starting {expected!r}", log)
    print(f"{os.path.basename(log)}: {len(lines)} lines, each with its journal priority")


def check_stmfproxy(stmfproxy, tmp):
    log = os.path.join(tmp, "stmfproxy.log")
    f, env = journal_stderr(log)
    proc = subprocess.Popen([stmfproxy, "--listen", f"127.0.0.1:{free_port()}", "--insecure",
                             "--socket", os.path.join(tmp, "no-stmfd.sock"), "--retry-ms", "100"],
                            env=env, stdout=f, stderr=f)
    try:
        deadline = time.monotonic() + WAIT_S
        while "not reachable" not in open(log).read() and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        f.close()
    if rc != 0:
        fail(f"stmfproxy exited {rc}", log)
    check_journal_lines(log, "<4>warning [stmfproxy] stmfd is not reachable")


if __name__ == "__main__":
    main()
