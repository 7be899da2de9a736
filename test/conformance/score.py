#!/usr/bin/env python3
# Scores an iscsi-conformance result (JSON) against docs/conformance.md: fails on any failure
# that is not a listed deviation, and on any skip that is not listed.
#   score.py RESULT.json docs/conformance.md [--multipath]
# --multipath: the run had two paths (an ALUA pair), so MultipathIO counts like any family.
import json, re, sys
r = json.load(open(sys.argv[1]))
# MultipathIO needs two paths; a single-path run cannot score it (test/alua scores it).
owned_later = re.compile(r"^(MultipathIO)") if len(sys.argv) < 4 or sys.argv[3] != "--multipath" else re.compile(r"^$")
doc = open(sys.argv[2]).read()
listed = set(re.findall(r"`([A-Za-z0-9]+\.[A-Za-z0-9_]+)`", doc))
# Tests whose expectation contradicts the standard (the standard wins): listed in the doc
# on a line marked "(deviation)", reported but not counted as failures.
deviations = set(m for line in doc.splitlines() if "(deviation)" in line
                 for m in re.findall(r"`([A-Za-z0-9]+\.[A-Za-z0-9_]+)`", line))
for t in r["failed"]:
    if t in deviations: print("DEVIATION (standard wins, see docs/conformance.md)", t)
fails = [t for t in r["failed"] if not owned_later.match(t) and t not in deviations]
skips = [t for t in r["skipped"] if not owned_later.match(t) and t not in listed]
print(f"{r['pass']} passed, {r['fail']} failed, {r['skip']} skipped of {r['tests']}"
      f" ({len(r['failed']) - len(fails)} not counted: deviations or single-path MultipathIO)")
for t in fails: print("FAIL", t)
for t in skips: print("UNLISTED SKIP", t)
sys.exit(1 if fails or skips or r["timed_out"] else 0)
