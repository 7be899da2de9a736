#!/usr/bin/env python3
"""The project's conformance gate: libiscsi's iscsi-test-cu against a real stmfd, scored
per test as pass / skip / fail, and held to the pass's requirements (passes.json).

  runner.py --pass NAME --stmfd BINARY      start stmfd with the pass's LU, run, score
  runner.py --pass NAME --url URL [--url URL2]
                                            run against a target that is already up (the
                                            ALUA pair: test/alua/conformance.sh)
  runner.py --describe                      the passes and their requirements, as Markdown

Options: --test PATTERNS (run these families instead of the pass's; the pass's requirements
still apply, which is how test/conformance/gate_test.sh proves a hidden test fails the gate),
--lu JSON (extra LU keys, merged over the pass's), --log FILE (keep iscsi-test-cu's output),
--json FILE (the per-test results), --timeout SECONDS, --passes FILE. STMF_CONFORMANCE_LOG=FILE
in the environment is the default of --log.

iscsi-test-cu runs with -d (destructive tests: a scratch LU only), -v (a verdict per test)
and -V (libiscsi's SCSI-verbose level, where some tests log their skips); with -S
(--allow-sanitize: the Sanitize tests erase the whole LU) when the pass says
"allow_sanitize": true. With --stmfd, the pass's "lu" keys build LUN 0 and its "daemon" keys
are merged into the top level of stmfd's configuration (e.g. "iscsi" settings). It reports a
skipped test as passed; here a test that logged [SKIPPED] or [SKIPPING] anywhere counts as
a skip, even when only a check inside it was skipped.

A pass fails when:
- the target never listened, or stmfd died during the run;
- iscsi-test-cu timed out, exited with a status other than 0 or 1, or its exit status
  disagrees with the verdicts (1 without a failed test, 0 with one);
- no test ran (login refused, READ CAPACITY failed, keys left over: iscsi-test-cu then
  exits before any suite), or the run summary's count differs from the verdicts read;
- a test of the families run (iscsi-test-cu --list) has no verdict (never ran, crashed);
- a required test (the pass's `require`) is not run, or does not pass;
- a test fails that is not one of the pass's `deviations` (by exact name), or a listed
  deviation does not fail (it was fixed, or did not run: update passes.json and the docs);
- a test is skipped that no `tolerated_skips` pattern of the pass names, or a tolerated
  skip pattern matches no skipped test (the list went stale).
Exit status: 0 when the pass holds, 1 when it does not, 2 on a usage error.
"""
import argparse
import fnmatch
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET_IQN = "iqn.2026-11.org.example:conformance"



def read(path):
    with open(path) as f:
        return f.read()


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


# ---------------------------------------------------------------------------------------
# Parsing iscsi-test-cu -v -V output


def parse(out):
    """Verdicts of one iscsi-test-cu output: {"tests": {"Suite.Test": {"verdict":
    "pass"|"skip"|"fail", "skips": [lines]}}, "summary_ran": int or None}."""
    tests, suite, cur, body = {}, None, None, []

    def close():
        if cur is None:
            return
        verdict = None
        for line in body:
            if line.startswith("FAILED"):
                verdict = "fail"
            elif line.startswith("passed") and verdict is None:
                verdict = "pass"
        skips = [l.strip() for l in body if "[SKIPPED]" in l or "[SKIPPING]" in l]
        if verdict is None:
            verdict = "fail"  # no verdict: the test crashed, hung or the run stopped
            skips = []
        elif verdict == "pass" and skips:
            verdict = "skip"
        tests[cur] = {"verdict": verdict, "skips": skips}

    summary_ran = None
    for line in out.splitlines():
        m = re.match(r"Suite: (\S+)", line)
        if m:
            close()
            cur, body, suite = None, [], m.group(1)
            continue
        m = re.match(r"\s+Test: (\S+) \.\.\.(.*)", line)
        if m and suite is not None:
            close()
            cur = f"{suite}.{m.group(1)}"
            rest = m.group(2).strip()
            # CUnit prints the verdict right after "..." when the test logged nothing.
            body = [rest] if rest.startswith(("passed", "FAILED")) else [m.group(2)]
            continue
        if line.startswith("Run Summary"):
            close()
            cur, body = None, []
            continue
        m = re.match(r"\s+tests\s+(\d+)\s+(\d+)\s+", line)
        if m and cur is None:
            summary_ran = int(m.group(2))
            continue
        if cur is not None:
            body.append(line)
    close()
    return {"tests": tests, "summary_ran": summary_ran}


# ---------------------------------------------------------------------------------------
# Which tests a family filter runs


def matches(pattern, name):
    """iscsi-test-cu's FAMILY[.SUITE[.TEST]] with * wildcards, against FAMILY.SUITE.TEST;
    a shorter pattern matches every test below it."""
    p, n = pattern.split("."), name.split(".")
    return len(p) <= len(n) and all(fnmatch.fnmatchcase(a, b) for a, b in zip(n, p))


def expected_tests(families, listing):
    """Suite.Test names that `--test=families` runs, from `iscsi-test-cu --list` lines."""
    pats = [f.strip() for f in families.split(",") if f.strip()]
    out = []
    for line in listing:
        name = line.strip()
        if name.count(".") == 2 and any(matches(p, name) for p in pats):
            short = name.split(".", 1)[1]
            if short not in out:
                out.append(short)
    return out


def suite_test_match(pattern, name):  # pass-file patterns are Suite.Test, with wildcards
    return fnmatch.fnmatchcase(name, pattern)


# ---------------------------------------------------------------------------------------
# Scoring a run against a pass


def score(spec, parsed, expected, exit_status, timed_out=False):
    """Returns (problems, counts): the reasons the pass fails (empty: it holds)."""
    problems = []
    tests = parsed["tests"]
    if timed_out:
        problems.append("iscsi-test-cu timed out")
    if exit_status not in (0, 1) and not timed_out:
        problems.append(f"iscsi-test-cu exited with status {exit_status}")
    if not tests:
        problems.append("no test ran (login refused, READ CAPACITY failed or keys left over: "
                        "iscsi-test-cu stops before any suite)")
    failed = sorted(t for t, r in tests.items() if r["verdict"] == "fail")
    skipped = sorted(t for t, r in tests.items() if r["verdict"] == "skip")
    if tests and parsed["summary_ran"] is not None and parsed["summary_ran"] != len(tests):
        problems.append(f"the run summary counts {parsed['summary_ran']} tests, the verdicts {len(tests)}")
    if tests and parsed["summary_ran"] is None and not timed_out:
        problems.append("no run summary: iscsi-test-cu stopped during the run")
    if exit_status == 1 and not failed:
        problems.append("iscsi-test-cu exited with status 1 but no test verdict is FAILED")
    if exit_status == 0 and failed:
        problems.append("iscsi-test-cu exited with status 0 although tests failed")
    if tests:
        for t in expected:
            if t not in tests:
                problems.append(f"MISSING {t}: the families run it, but it has no verdict")
    deviations = spec.get("deviations", {})
    tolerated = spec.get("tolerated_skips", {})
    reported = set()  # tests already named by a REQUIRED problem
    for pat in spec.get("require", []):
        hit = [t for t in expected if suite_test_match(pat, t)]
        wild = any(c in pat for c in "*?[")
        if not hit:
            problems.append(f"REQUIRED {pat}: the families run by this pass do not include it")
        for t in hit:
            v = tests.get(t, {}).get("verdict")
            if t in deviations:
                if v != "fail":
                    problems.append(f"REQUIRED {t} (a listed deviation) did not run to its failure: {v or 'no verdict'}")
            elif v == "skip" and wild and any(suite_test_match(p, t) for p in tolerated):
                continue  # "*" and the like: every test, less the skips the pass names
            elif v != "pass" and t in tests and t not in reported:
                reported.add(t)
                problems.append(f"REQUIRED {t}: {v}" + (f" ({tests[t]['skips'][0]})" if tests[t]["skips"] else ""))
    for t in failed:
        if t not in deviations and t not in reported:
            problems.append(f"FAIL {t}")
    for t, why in deviations.items():
        if tests and tests.get(t, {}).get("verdict") != "fail":
            problems.append(f"DEVIATION {t} did not fail ({tests.get(t, {}).get('verdict', 'no verdict')}): "
                            "remove it from passes.json and docs/conformance.md")
    for t in skipped:
        if t not in reported and not any(suite_test_match(p, t) for p in tolerated):
            problems.append(f"UNLISTED SKIP {t} ({tests[t]['skips'][0]})")
    for p in tolerated:
        if tests and not any(suite_test_match(p, t) for t in skipped):
            problems.append(f"TOLERATED SKIP {p} did not occur: remove it from passes.json")
    counts = {"tests": len(tests), "pass": sum(r["verdict"] == "pass" for r in tests.values()),
              "fail": len(failed), "skip": len(skipped), "failed": failed, "skipped": skipped}
    return problems, counts


# ---------------------------------------------------------------------------------------
# Passes


def load_passes(path):
    passes = json.loads(read(path))
    for name, spec in passes.items():
        base = spec.get("like")
        if base:  # the same requirements as another pass, with its own keys on top
            merged = dict(passes[base])
            merged.update({k: v for k, v in spec.items() if k != "like"})
            passes[name] = merged
    return passes


def describe(passes):
    rows = ["| pass | families | LU | must pass | tolerated skips (reason) | deviations |", "|---|---|---|---|---|---|"]
    for name, s in passes.items():
        lu = ", ".join(f"`{k}`: {json.dumps(v)}" for k, v in s.get("lu", {}).items()) or "-"
        if s.get("daemon"):
            lu += "; daemon " + ", ".join(f"`{k}`: {json.dumps(v)}" for k, v in s["daemon"].items())
        req = ", ".join(f"`{r}`" for r in s.get("require", [])) or "-"
        tol = "; ".join(f"`{p}` ({w})" for p, w in s.get("tolerated_skips", {}).items()) or "-"
        dev = ", ".join(f"`{d}`" for d in s.get("deviations", {})) or "-"
        fam = s["families"] + (" (with -S)" if s.get("allow_sanitize") else "")
        rows.append(f"| `{name}` | {fam} | {lu} | {req} | {tol} | {dev} |")
    return "\n".join(rows)


# ---------------------------------------------------------------------------------------
# Running


def listening(host, port, timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def url_host_port(url):
    m = re.match(r"iscsi://(?:[^@/]*@)?([^:/]+):(\d+)/", url)
    return (m.group(1), int(m.group(2))) if m else (None, None)


def size_bytes(text):
    m = re.fullmatch(r"(\d+)\s*([KMGT]i?B?)?", str(text))
    if not m:
        raise ValueError(f"size {text!r}")
    unit = (m.group(2) or "")[:1]
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[unit]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Daemon:
    """stmfd on a loopback port with one LU (LUN 0) built from the pass's keys."""

    def __init__(self, binary, lu_keys, work, daemon_keys=None):
        self.binary, self.work, self.proc = binary, work, None
        self.daemon_keys = daemon_keys or {}  # the pass's "daemon": top-level configuration keys
        self.lu = {"lun": 0, "backing": os.path.join(work, "lu0.img"), "size": "128MiB"}
        self.lu.update(lu_keys)
        self.log = os.path.join(work, "stmfd.log")

    def start(self):
        # A write-protected LU opens an existing backing file.
        with open(self.lu["backing"], "ab") as f:
            f.truncate(size_bytes(self.lu["size"]))
        for _ in range(5):  # a port taken between picking and binding: pick again
            self.port = free_port()
            cfg = {"portals": [f"127.0.0.1:{self.port}"], "log_level": "info",
                   "targets": [{"iqn": TARGET_IQN, "luns": [self.lu]}]}
            cfg.update(self.daemon_keys)
            path = os.path.join(self.work, "config.json")
            write(path, json.dumps(cfg))
            with open(self.log, "w") as log:
                self.proc = subprocess.Popen([self.binary, "--config", path, "--socket", os.path.join(self.work, "stmfd.sock")],
                                             stdout=log, stderr=subprocess.STDOUT)
            for _ in range(100):
                if self.proc.poll() is not None or listening("127.0.0.1", self.port):
                    break
                time.sleep(0.1)
            if self.proc.poll() is None and listening("127.0.0.1", self.port):
                return True
            self.stop()
            if "Address already in use" not in read(self.log):
                return False
        return False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def url(self):
        return f"iscsi://127.0.0.1:{self.port}/{TARGET_IQN}/0"

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def tail(self, n=40):
        try:
            return "".join(read(self.log).splitlines(keepends=True)[-n:])
        except OSError:
            return ""


def run_tests(urls, families, timeout, allow_sanitize=False):
    cmd = ["iscsi-test-cu", "-d", "-v", "-V"] + (["-S"] if allow_sanitize else []) + [f"--test={families}"] + urls
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                           text=True, errors="replace", stdin=subprocess.DEVNULL)
        return p.stdout, p.returncode, False
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return out, None, True


def listing():
    p = subprocess.run(["iscsi-test-cu", "--list"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return p.stdout.splitlines()


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pass", dest="pass_name")
    ap.add_argument("--stmfd")
    ap.add_argument("--url", action="append", default=[])
    ap.add_argument("--test")
    ap.add_argument("--lu", default="{}")
    ap.add_argument("--log", default=os.environ.get("STMF_CONFORMANCE_LOG"))
    ap.add_argument("--json")
    ap.add_argument("--timeout", type=int, default=900)
    ap.add_argument("--passes", default=os.path.join(HERE, "passes.json"))
    ap.add_argument("--describe", action="store_true")
    a = ap.parse_args(argv)
    passes = load_passes(a.passes)
    if a.describe:
        print(describe(passes))
        return 0
    if a.pass_name not in passes or bool(a.stmfd) == bool(a.url):
        ap.error("--pass NAME (one of passes.json) and exactly one of --stmfd or --url are needed")
    spec = passes[a.pass_name]
    families = a.test or spec["families"]
    if len(a.url) > 2:
        ap.error("at most two --url (a second path enables MultipathIO)")

    daemon, problems = None, []
    with tempfile.TemporaryDirectory(prefix="stmf-conformance-") as work:
        try:
            if a.stmfd:
                lu = dict(spec.get("lu", {}))
                lu.update(json.loads(a.lu))
                daemon = Daemon(a.stmfd, lu, work, spec.get("daemon"))
                if not daemon.start():
                    print(f"FAILURE {a.pass_name}: stmfd never listened\n{daemon.tail()}")
                    return 1
                urls = [daemon.url()]
            else:
                urls = a.url
                for u in urls:
                    host, port = url_host_port(u)
                    if host is None or not listening(host, port, timeout=2):
                        print(f"FAILURE {a.pass_name}: nothing listens at {u}")
                        return 1
            out, status, timed_out = run_tests(urls, families, a.timeout, spec.get("allow_sanitize", False))
            if daemon and not daemon.alive():
                problems.append(f"stmfd died during the run:\n{daemon.tail()}")
        finally:
            if daemon:
                daemon.stop()
    if a.log:
        write(a.log, out)
    parsed = parse(out)
    expected = expected_tests(families, listing())
    found, counts = score(spec, parsed, expected, status, timed_out)
    problems += found
    if a.json:
        write(a.json, json.dumps({"pass": a.pass_name, "families": families, **counts,
                                  "results": {t: r["verdict"] for t, r in parsed["tests"].items()}}, indent=1))
    for t in counts["skipped"]:
        print(f"SKIP {t}: {parsed['tests'][t]['skips'][0]}")
    for t in counts["failed"]:
        print(f"{'DEVIATION' if t in spec.get('deviations', {}) else 'FAIL'} {t}")
    print(f"{a.pass_name}: {counts['tests']} tests, {counts['pass']} passed, {counts['fail']} failed, "
          f"{counts['skip']} skipped (families {families})")
    if problems:
        if not parsed["tests"]:
            print("iscsi-test-cu said:\n" + "\n".join(out.splitlines()[:20]))
        print(f"FAILURE {a.pass_name}:")
        for p in problems:
            print("  " + p)
        return 1
    devs = spec.get("deviations", {})
    print(f"OK {a.pass_name}: required {', '.join(spec.get('require', []))} passed"
          + (f" (the listed deviations {', '.join(devs)} failed as documented)" if devs else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
